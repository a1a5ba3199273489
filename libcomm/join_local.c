/* SPDX-License-Identifier: MIT */
/* Local join: a radix-partitioned hash join.
 *
 * Both sides get a descriptor per tuple (hash, pointers). One scatter pass splits
 * the descriptors by the low bits of the hash into partitions whose build side fits
 * in the cache (about 128 KiB of descriptors and bucket heads each); then each
 * partition builds a chained table over the build side and probes it with the other
 * side. One pass with up to 2^12 partitions: more passes pay off only past the TLB
 * reach of far bigger inputs than a rank holds here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/hash.h>

#include "join_impl.h"

struct tup {
    uint64_t hash;
    const uint8_t *key;
    const uint8_t *val;
    uint32_t klen, vlen;
};

int join_buf_add (
    struct join_buf *b, const void *key, size_t klen, const void *val, size_t vlen)
{
    if (klen > UINT32_MAX || vlen > UINT32_MAX) {
        errno = EINVAL;
        return -1;
    }
    size_t need = 8 + klen + vlen;
    if (b->len + need > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + need)
            cap *= 2;
        uint8_t *d = realloc (b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    uint32_t kl = (uint32_t)klen, vl = (uint32_t)vlen;
    uint8_t *p = b->data + b->len;
    memcpy (p, &kl, 4);
    memcpy (p + 4, &vl, 4);
    if (klen)
        memcpy (p + 8, key, klen);
    if (vlen)
        memcpy (p + 8 + klen, val, vlen);
    b->len += need;
    b->n++;
    return 0;
}

void join_buf_free (struct join_buf *b)
{
    free (b->data);
    memset (b, 0, sizeof (*b));
}

/* Descriptors of all tuples of 'bufs', scattered by partition into 'out' (n
 * entries); 'start' gets nparts + 1 offsets.
 */
static struct tup *partition (const struct join_buf *bufs,
                              size_t nbufs,
                              uint64_t seed,
                              unsigned bits,
                              size_t **startp,
                              size_t *np)
{
    size_t n = 0, nparts = (size_t)1 << bits;
    for (size_t i = 0; i < nbufs; i++)
        n += bufs[i].n;
    struct tup *raw = malloc ((n ? n : 1) * sizeof (*raw));
    struct tup *out = malloc ((n ? n : 1) * sizeof (*out));
    size_t *start = calloc (nparts + 1, sizeof (*start));
    if (!raw || !out || !start)
        goto error;
    size_t k = 0;
    uint64_t mask = nparts - 1;
    for (size_t i = 0; i < nbufs; i++) {
        const uint8_t *p = bufs[i].data, *end = p + bufs[i].len;
        while (p < end) {
            struct tup *t = &raw[k++];
            memcpy (&t->klen, p, 4);
            memcpy (&t->vlen, p + 4, 4);
            t->key = p + 8;
            t->val = p + 8 + t->klen;
            t->hash = loom_hash64 (t->key, t->klen, seed);
            start[(t->hash & mask) + 1]++;
            p += 8 + (size_t)t->klen + t->vlen;
        }
    }
    for (size_t i = 0; i < nparts; i++)
        start[i + 1] += start[i];
    size_t *fill = malloc (nparts * sizeof (*fill));
    if (!fill)
        goto error;
    memcpy (fill, start, nparts * sizeof (*fill));
    for (size_t i = 0; i < n; i++)
        out[fill[raw[i].hash & mask]++] = raw[i];
    free (fill);
    free (raw);
    *startp = start;
    *np = n;
    return out;
error:
    free (raw);
    free (out);
    free (start);
    errno = ENOMEM;
    return NULL;
}

static int call_emit (loom_join_emit_f emit,
                      void *arg,
                      int swap,
                      const struct tup *l,
                      const struct tup *r)
{
    errno = 0;
    int rc = swap ? emit (l->key, l->klen, r->val, r->vlen, l->val, l->vlen, arg)
                  : emit (l->key, l->klen, l->val, l->vlen, r ? r->val : NULL,
                          r ? r->vlen : 0, arg);
    if (rc != 0) {
        if (errno == 0)
            errno = ECANCELED;
        return -1;
    }
    return 0;
}

static inline int same_key (const struct tup *a, const struct tup *b)
{
    return a->hash == b->hash && a->klen == b->klen
           && memcmp (a->key, b->key, a->klen) == 0;
}

int join_local (loom_join_kind_t kind,
                const struct join_buf *left,
                size_t nleft,
                const struct join_buf *right,
                size_t nright,
                int swap,
                uint64_t seed,
                loom_join_emit_f emit,
                void *arg,
                uint64_t *results)
{
    /* 'right' is the build side. Partitions of ~4096 build tuples: 128 KiB of
     * descriptors plus the bucket heads, about an L2 cache.
     */
    uint64_t nr = 0;
    for (size_t i = 0; i < nright; i++)
        nr += right[i].n;
    unsigned bits = 0;
    while (bits < 12 && (nr >> bits) > 4096)
        bits++;
    size_t nparts = (size_t)1 << bits;
    size_t *ls = NULL, *rs = NULL, nl_all, nr_all;
    struct tup *L = NULL, *R = NULL;
    uint32_t *head = NULL, *next = NULL;
    int rc = -1;
    *results = 0;
    L = partition (left, nleft, seed, bits, &ls, &nl_all);
    R = partition (right, nright, seed, bits, &rs, &nr_all);
    if (!L || !R)
        goto done;
    size_t maxp = 0;
    for (size_t p = 0; p < nparts; p++)
        if (rs[p + 1] - rs[p] > maxp)
            maxp = rs[p + 1] - rs[p];
    size_t nb = 1;
    while (nb < maxp * 2)
        nb <<= 1;
    head = malloc (nb * sizeof (*head));
    next = malloc ((maxp ? maxp : 1) * sizeof (*next));
    if (!head || !next) {
        errno = ENOMEM;
        goto done;
    }
    for (size_t p = 0; p < nparts; p++) {
        const struct tup *rb = R + rs[p];
        size_t rn = rs[p + 1] - rs[p];
        /* Buckets use the hash bits above the partition bits. */
        size_t pb = 1;
        while (pb < rn * 2)
            pb <<= 1;
        memset (head, 0xff, pb * sizeof (*head));
        for (size_t i = 0; i < rn; i++) {
            size_t b = (size_t)(rb[i].hash >> bits) & (pb - 1);
            next[i] = head[b];
            head[b] = (uint32_t)i;
        }
        for (size_t i = ls[p]; i < ls[p + 1]; i++) {
            const struct tup *l = &L[i];
            size_t b = (size_t)(l->hash >> bits) & (pb - 1);
            int matched = 0;
            for (uint32_t e = rn ? head[b] : UINT32_MAX; e != UINT32_MAX; e = next[e]) {
                if (!same_key (l, &rb[e]))
                    continue;
                matched = 1;
                if (kind == LOOM_JOIN_SEMI || kind == LOOM_JOIN_ANTI)
                    break;
                if (call_emit (emit, arg, swap, l, &rb[e]) < 0)
                    goto done;
                (*results)++;
            }
            if ((kind == LOOM_JOIN_SEMI && matched)
                || ((kind == LOOM_JOIN_ANTI || kind == LOOM_JOIN_LEFT_OUTER)
                    && !matched)) {
                if (call_emit (emit, arg, 0, l, NULL) < 0)
                    goto done;
                (*results)++;
            }
        }
    }
    rc = 0;
done:
    free (L);
    free (R);
    free (ls);
    free (rs);
    free (head);
    free (next);
    return rc;
}
