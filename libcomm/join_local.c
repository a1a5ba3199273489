/* SPDX-License-Identifier: MIT */
/* Local join: a radix-partitioned hash join.
 *
 * One pass hashes every tuple of a side and counts the tuples per partition (the
 * low bits of the hash); a second pass scatters them into their partitions as
 * entries [hash][tuple]. Fixed-width tuples are copied into the entry, so that
 * building and probing a partition touch only that partition's memory (about an L2
 * cache of build entries); variable-length tuples are referenced by pointer. Each
 * partition then builds a chained table over its build entries (bucket = hash bits
 * above the partition bits) and probes it with the other side's entries of the same
 * partition. One pass with up to 2^14 partitions: more passes pay off only past the
 * TLB reach of far bigger inputs than a rank holds here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "join_impl.h"

int join_buf_reserve (struct join_buf *b, size_t need)
{
    if (b->len + need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + need)
        cap *= 2;
    /* Large buffers on huge pages (common/hugemem.c): the puts and the received tuples
     * are written into fresh memory, where 4 KiB faults cost more than the copy.
     */
    cap = (size_t)loom__mem_round (cap);
    char *d = loom__mem_grow (b->data, b->len, b->cap, cap);
    if (!d) {
        errno = ENOMEM;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

int join_buf_add (struct join_buf *b,
                  const struct loom__shape *s,
                  const void *key,
                  size_t klen,
                  const void *val,
                  size_t vlen)
{
    if (klen > UINT32_MAX || vlen > UINT32_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (join_buf_reserve (b, loom__enc_size (s, klen, vlen)) < 0)
        return -1;
    b->len += loom__encode (s, b->data + b->len, key, klen, val, vlen);
    b->n++;
    return 0;
}

int join_buf_append (struct join_buf *b, const void *data, size_t len, uint64_t n)
{
    if (join_buf_reserve (b, len) < 0)
        return -1;
    if (len)
        memcpy (b->data + b->len, data, len);
    b->len += len;
    b->n += n;
    return 0;
}

void join_buf_free (struct join_buf *b)
{
    loom__mem_free (b->data, b->cap);
    memset (b, 0, sizeof (*b));
}

/* Entries of one side: [u64 hash][the tuple, padded to 8 bytes] at fixed widths,
 * [u64 hash][pointer to the encoded tuple] otherwise.
 */
struct layout {
    const struct loom__shape *s;
    size_t esz;
    int inl;
};

static void layout_init (struct layout *l, const struct loom__shape *s)
{
    l->s = s;
    l->inl = s->fixed_size > 0;
    l->esz = 8 + (l->inl ? (s->fixed_size + 7) & ~(size_t)7 : sizeof (char *));
}

uint64_t join_local_footprint (const struct loom__shape *s, uint64_t n, uint64_t bytes)
{
    struct layout l;
    layout_init (&l, s);
    /* The tuples, their entries, and about half an 8-byte hash each (the hashes of
     * the first pass live only while one side is scattered).
     */
    return bytes + n * (l.esz + 4);
}

static inline void
entry_rec (const struct layout *l, const char *e, struct loom_record *r)
{
    if (l->inl) {
        r->key = e + 8;
        r->key_len = l->s->kw;
        r->value = e + 8 + l->s->kw;
        r->value_len = l->s->vw;
        return;
    }
    const char *p;
    memcpy (&p, e + 8, sizeof (p));
    loom__decode (l->s, p, UINT64_MAX, r);
}

static inline uint64_t entry_hash (const char *e)
{
    uint64_t h;
    memcpy (&h, e, 8);
    return h;
}

/* Entries of all tuples of 'sd', scattered by partition; '*startp' gets nparts + 1
 * offsets (in entries). Returns the entries, or NULL with errno set.
 */
static char *scatter (const struct join_side *sd,
                      const struct layout *l,
                      uint64_t seed,
                      unsigned bits,
                      size_t **startp)
{
    size_t n = 0, nparts = (size_t)1 << bits, fs = l->s->fixed_size;
    for (size_t i = 0; i < sd->nbufs; i++)
        n += sd->bufs[i].n;
    /* Huge pages (common/hugemem.c): the scatter writes to up to 2^14 places at once,
     * which on 4 KiB pages misses the TLB on nearly every tuple, and faults them in
     * first.
     */
    uint64_t hcap = loom__mem_round ((n ? n : 1) * sizeof (uint64_t));
    uint64_t *h = loom__mem_alloc (hcap);
    char *out = loom__mem_alloc (loom__mem_round ((n ? n : 1) * l->esz));
    size_t *start = calloc (nparts + 1, sizeof (*start));
    size_t *fill = malloc (nparts * sizeof (*fill));
    if (!h || !out || !start || !fill) {
        errno = ENOMEM;
        goto error;
    }
    uint64_t mask = nparts - 1;
    size_t k = 0;
    for (size_t i = 0; i < sd->nbufs; i++) {
        const char *p = sd->bufs[i].data, *end = p + sd->bufs[i].len;
        if (fs) {
            size_t kw = l->s->kw;
            for (; p < end; p += fs, k++) {
                h[k] = join_hash (p, kw, seed);
                start[(h[k] & mask) + 1]++;
            }
            continue;
        }
        while (p < end) {
            struct loom_record r;
            size_t sz = loom__decode (l->s, p, (uint64_t)(end - p), &r);
            if (!sz || k >= n) {
                errno = EPROTO;
                goto error;
            }
            h[k] = join_hash (r.key, r.key_len, seed);
            start[(h[k] & mask) + 1]++;
            p += sz;
            k++;
        }
    }
    if (k != n) {
        errno = EPROTO;
        goto error;
    }
    for (size_t i = 0; i < nparts; i++)
        start[i + 1] += start[i];
    memcpy (fill, start, nparts * sizeof (*fill));
    k = 0;
    for (size_t i = 0; i < sd->nbufs; i++) {
        const char *p = sd->bufs[i].data, *end = p + sd->bufs[i].len;
        while (p < end) {
            char *e = out + fill[h[k] & mask]++ * l->esz;
            memcpy (e, &h[k], 8);
            size_t sz = fs;
            if (fs) {
                memcpy (e + 8, p, fs);
            } else {
                struct loom_record r;
                sz = loom__decode (l->s, p, (uint64_t)(end - p), &r);
                memcpy (e + 8, &p, sizeof (p));
            }
            p += sz;
            k++;
        }
    }
    loom__mem_free (h, hcap);
    free (fill);
    *startp = start;
    return out;
error:
    loom__mem_free (h, hcap);
    loom__mem_free (out, loom__mem_round ((n ? n : 1) * l->esz));
    free (start);
    free (fill);
    return NULL;
}

int join_local (const struct join_local_params *p,
                const struct join_side *probe,
                const struct join_side *build,
                uint64_t *results)
{
    struct layout pl, bl;
    layout_init (&pl, probe->shape);
    layout_init (&bl, build->shape);
    uint64_t nb_all = 0, np_all = 0;
    for (size_t i = 0; i < build->nbufs; i++)
        nb_all += build->bufs[i].n;
    for (size_t i = 0; i < probe->nbufs; i++)
        np_all += probe->bufs[i].n;
    /* Nothing can match: only outer and anti joins emit, and need no table. */
    int need_unmatched = p->kind == LOOM_JOIN_LEFT_OUTER || p->kind == LOOM_JOIN_ANTI;
    if (np_all == 0 || (nb_all == 0 && !need_unmatched))
        return 0;
    /* Partitions of ~4096 build entries: with their chains and buckets about
     * 128-200 KiB, an L2 cache.
     */
    unsigned bits = 0;
    while (bits < 14 && (nb_all >> bits) > 4096)
        bits++;
    size_t nparts = (size_t)1 << bits;
    size_t *ps = NULL, *bs = NULL;
    char *P = NULL, *B = NULL;
    uint32_t *head = NULL, *next = NULL;
    int rc = -1;
    if (!(P = scatter (probe, &pl, p->seed, bits, &ps))
        || !(B = scatter (build, &bl, p->seed, bits, &bs)))
        goto done;
    size_t maxp = 0;
    for (size_t i = 0; i < nparts; i++)
        if (bs[i + 1] - bs[i] > maxp)
            maxp = bs[i + 1] - bs[i];
    size_t nb = 1;
    while (nb < maxp * 2)
        nb <<= 1;
    head = malloc (nb * sizeof (*head));
    next = malloc ((maxp ? maxp : 1) * sizeof (*next));
    if (!head || !next) {
        errno = ENOMEM;
        goto done;
    }
    /* errno is cleared once, not per emit (a hot path): a failing emit that sets
     * none still reads as ECANCELED unless an earlier emit left one.
     */
    errno = 0;
    int semi = p->kind == LOOM_JOIN_SEMI, anti = p->kind == LOOM_JOIN_ANTI;
    int outer = p->kind == LOOM_JOIN_LEFT_OUTER;
    for (size_t part = 0; part < nparts; part++) {
        const char *be = B + bs[part] * bl.esz;
        size_t rn = bs[part + 1] - bs[part];
        size_t pb = 1;
        while (pb < rn * 2)
            pb <<= 1;
        memset (head, 0xff, pb * sizeof (*head));
        for (size_t i = 0; i < rn; i++) {
            size_t b = (size_t)(entry_hash (be + i * bl.esz) >> bits) & (pb - 1);
            next[i] = head[b];
            head[b] = (uint32_t)i;
        }
        const char *pe = P + ps[part] * pl.esz;
        size_t ln = ps[part + 1] - ps[part];
        for (size_t i = 0; i < ln; i++) {
            const char *e = pe + i * pl.esz;
            uint64_t hv = entry_hash (e);
            size_t b = (size_t)(hv >> bits) & (pb - 1);
            struct loom_record lr, rr;
            int matched = 0, decoded = 0;
            for (uint32_t x = rn ? head[b] : UINT32_MAX; x != UINT32_MAX; x = next[x]) {
                const char *f = be + (size_t)x * bl.esz;
                if (entry_hash (f) != hv)
                    continue;
                if (!decoded) {
                    entry_rec (&pl, e, &lr);
                    decoded = 1;
                }
                entry_rec (&bl, f, &rr);
                if (rr.key_len != lr.key_len
                    || !join_key_eq (rr.key, lr.key, lr.key_len))
                    continue;
                matched = 1;
                if (semi || anti)
                    break;
                if (join_call_emit (p, &lr, &rr) < 0)
                    goto done;
                (*results)++;
            }
            if ((semi && matched) || ((anti || outer) && !matched)) {
                if (!decoded)
                    entry_rec (&pl, e, &lr);
                if (join_call_emit (p, &lr, NULL) < 0)
                    goto done;
                (*results)++;
            }
        }
    }
    rc = 0;
done:
    loom__mem_free (P, loom__mem_round ((np_all ? np_all : 1) * pl.esz));
    loom__mem_free (B, loom__mem_round ((nb_all ? nb_all : 1) * bl.esz));
    free (ps);
    free (bs);
    free (head);
    free (next);
    return rc;
}
