/* SPDX-License-Identifier: MIT */
/* Heavy hitters for the hybrid join (in the spirit of Flow-Join, ICDE 2016): every
 * rank samples up to 'samples' tuples of each side at an even stride, counts the
 * sampled keys, and offers the keys whose estimated local share passes half the
 * threshold. The offers of all ranks are gathered on every rank (a few KiB) and
 * summed in the same order everywhere, so every rank computes the same hot set: keys
 * whose estimated global count is at least min_share of their side. A key hot on both
 * sides stays where the larger side has it.
 *
 * A key that is hot on a side was sampled from that side, so it exists there: the
 * hybrid relies on this to judge the left tuples of a key kept on the right side.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "join_impl.h"

#define OFFER_HDR 16 /* [u32 side][u32 klen][u64 estimate] before the key */

struct hkey {
    const char *key; /* into 'arena' */
    uint32_t klen;
    int stay;
    double est[2];
};

struct join_hot {
    struct hkey *k;
    unsigned n;
    char *arena;
    uint32_t *slot; /* open addressing: index + 1, 0 empty */
    size_t nslots;
    double imbalance, share;
};

unsigned join_hot_count (const struct join_hot *h)
{
    return h ? h->n : 0;
}

double join_hot_imbalance (const struct join_hot *h)
{
    return h ? h->imbalance : 1.0;
}

double join_hot_share (const struct join_hot *h)
{
    return h ? h->share : 0.0;
}

void join_hot_destroy (struct join_hot *h)
{
    if (!h)
        return;
    int saved = errno;
    free (h->k);
    free (h->arena);
    free (h->slot);
    free (h);
    errno = saved;
}

static inline uint64_t hot_hash (const void *key, size_t klen)
{
    return loom_hash64 (key, klen, 0x686f746b657973ULL);
}

int join_hot_lookup (const struct join_hot *h, const void *key, size_t klen)
{
    if (!h || !h->n)
        return -1;
    size_t m = h->nslots - 1;
    for (size_t i = hot_hash (key, klen) & m;; i = (i + 1) & m) {
        uint32_t s = h->slot[i];
        if (!s)
            return -1;
        const struct hkey *k = &h->k[s - 1];
        if (k->klen == klen && memcmp (k->key, key, klen) == 0)
            return k->stay;
    }
}

struct skey {
    const char *key;
    uint32_t klen;
};

static int skey_cmp (const void *a, const void *b)
{
    const struct skey *x = a, *y = b;
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    return memcmp (x->key, y->key, x->klen);
}

/* Sample side 's' and append this rank's offers to 'out'. */
static int offer_side (const struct join_hot_params *p, int s, struct join_buf *out)
{
    const struct join_buf *b = p->side[s];
    const struct loom__shape *sh = p->shape[s];
    if (!b->n || !p->total[s])
        return 0;
    uint64_t stride = b->n > p->samples ? b->n / p->samples : 1;
    size_t cap = (size_t)(b->n / stride + 1), ns = 0;
    struct skey *v = malloc (cap * sizeof (*v));
    if (!v)
        return -1;
    const char *q = b->data, *end = b->data + b->len;
    for (uint64_t i = 0; q < end && ns < cap; i++) {
        struct loom_record r;
        size_t sz = loom__decode (sh, q, (uint64_t)(end - q), &r);
        if (!sz)
            break;
        if (i % stride == 0)
            v[ns++] = (struct skey){r.key, (uint32_t)r.key_len};
        /* Fixed widths: jump straight to the next sample. */
        if (sh->fixed_size && stride > 1) {
            uint64_t skip = (stride - 1) * sh->fixed_size;
            if ((uint64_t)(end - q) <= skip + sz)
                break;
            q += sz + skip;
            i += stride - 1;
            continue;
        }
        q += sz;
    }
    qsort (v, ns, sizeof (*v), skey_cmp);
    /* A key is offered when its estimated share of this rank's tuples passes half
     * the threshold: a key hot over all ranks is hot on most of them.
     */
    double per = (double)b->n / (double)(ns ? ns : 1);
    for (size_t i = 0; i < ns;) {
        size_t j = i;
        while (j < ns && skey_cmp (&v[i], &v[j]) == 0)
            j++;
        double est = (double)(j - i) * per;
        if (j - i >= 2 && est >= p->min_share * 0.5 * (double)b->n) {
            uint32_t hdr[2] = {(uint32_t)s, v[i].klen};
            uint64_t e = (uint64_t)est;
            if (join_buf_reserve (out, OFFER_HDR + v[i].klen) < 0) {
                free (v);
                return -1;
            }
            memcpy (out->data + out->len, hdr, 8);
            memcpy (out->data + out->len + 8, &e, 8);
            memcpy (out->data + out->len + OFFER_HDR, v[i].key, v[i].klen);
            out->len += OFFER_HDR + v[i].klen;
            out->n++;
        }
        i = j;
    }
    free (v);
    return 0;
}

struct offer {
    struct skey k;
    int side;
    uint64_t est;
};

static int offer_cmp (const void *a, const void *b)
{
    return skey_cmp (&((const struct offer *)a)->k, &((const struct offer *)b)->k);
}

static int est_desc (const void *a, const void *b)
{
    const struct hkey *x = a, *y = b;
    double ex = x->est[0] + x->est[1], ey = y->est[0] + y->est[1];
    if (ex != ey)
        return ex > ey ? -1 : 1;
    struct skey kx = {x->key, x->klen}, ky = {y->key, y->klen};
    return skey_cmp (&kx, &ky);
}

/* Everyone's offers -> the hot set, the same on every rank. */
static int decide (struct join_hot *h,
                   const struct join_hot_params *p,
                   const char *all,
                   size_t len,
                   int nranks)
{
    size_t n = 0;
    for (size_t o = 0; o + OFFER_HDR <= len; n++) {
        uint32_t hdr[2];
        memcpy (hdr, all + o, 8);
        o += OFFER_HDR + hdr[1];
    }
    struct offer *v = malloc ((n ? n : 1) * sizeof (*v));
    h->k = malloc ((n ? n : 1) * sizeof (*h->k));
    h->arena = malloc (len ? len : 1);
    if (!v || !h->k || !h->arena) {
        free (v);
        return -1;
    }
    memcpy (h->arena, all, len);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t hdr[2];
        memcpy (hdr, h->arena + o, 8);
        memcpy (&v[i].est, h->arena + o + 8, 8);
        v[i].side = (int)hdr[0];
        v[i].k = (struct skey){h->arena + o + OFFER_HDR, hdr[1]};
        o += OFFER_HDR + hdr[1];
    }
    qsort (v, n, sizeof (*v), offer_cmp);
    unsigned nk = 0;
    for (size_t i = 0; i < n;) {
        struct hkey k = {v[i].k.key, v[i].k.klen, 0, {0, 0}};
        size_t j = i;
        for (; j < n && offer_cmp (&v[i], &v[j]) == 0; j++)
            k.est[v[j].side] += (double)v[j].est;
        int hot = 0;
        for (int s = 0; s < 2; s++)
            hot |= p->total[s] && k.est[s] >= p->min_share * (double)p->total[s];
        if (hot) {
            k.stay = k.est[1] > k.est[0];
            h->k[nk++] = k;
        }
        i = j;
    }
    free (v);
    qsort (h->k, nk, sizeof (*h->k), est_desc);
    h->n = nk < p->max_keys ? nk : p->max_keys;
    /* Predicted load per rank under a plain repartition. */
    double tot = (double)(p->total[0] + p->total[1]), hotm = 0;
    double *load = calloc ((size_t)nranks, sizeof (*load));
    if (!load)
        return -1;
    for (unsigned i = 0; i < h->n; i++) {
        double m = h->k[i].est[0] + h->k[i].est[1];
        hotm += m;
        load[loom_hash_partition (h->k[i].key, h->k[i].klen, p->hash_seed,
                                  (uint32_t)nranks)] += m;
    }
    if (hotm > tot)
        hotm = tot;
    double mx = 0;
    for (int r = 0; r < nranks; r++)
        if (load[r] > mx)
            mx = load[r];
    free (load);
    h->share = tot > 0 ? hotm / tot : 0;
    h->imbalance = tot > 0 ? (mx + (tot - hotm) / nranks) / (tot / nranks) : 1.0;
    h->nslots = 16;
    while (h->nslots < 4 * (size_t)h->n)
        h->nslots <<= 1;
    if (!(h->slot = calloc (h->nslots, sizeof (*h->slot))))
        return -1;
    for (unsigned i = 0; i < h->n; i++) {
        size_t m = h->nslots - 1, s = hot_hash (h->k[i].key, h->k[i].klen) & m;
        while (h->slot[s])
            s = (s + 1) & m;
        h->slot[s] = i + 1;
    }
    return 0;
}

struct join_hot *
join_hot_find (loom_comm_t *comm, const struct join_hot_params *p, loom_error_t *error)
{
    int size = loom_comm_size (comm);
    struct join_buf mine = {0};
    struct join_hot *h = calloc (1, sizeof (*h));
    uint64_t *lens = malloc ((size_t)size * sizeof (*lens));
    int *cnt = malloc ((size_t)size * sizeof (*cnt));
    int *disp = malloc ((size_t)size * sizeof (*disp));
    char *all = NULL;
    if (!h || !lens || !cnt || !disp || offer_side (p, 0, &mine) < 0
        || offer_side (p, 1, &mine) < 0) {
        loom_errset (error, ENOMEM, "join: out of memory sampling keys");
        goto error;
    }
    if (loom_comm_allgather_u64 (comm, mine.len, lens, error) < 0)
        goto error;
    uint64_t total = 0;
    for (int r = 0; r < size; r++) {
        disp[r] = (int)total;
        cnt[r] = (int)lens[r];
        total += lens[r];
    }
    /* Offers are at most 2 * samples keys per rank: far below 2 GiB. */
    if (!(all = malloc (total ? total : 1))) {
        loom_errset (error, ENOMEM, "join: out of memory gathering samples");
        MPI_Abort (loom_comm_mpi (comm), 1); /* the others would wait forever */
    }
    int rc = MPI_Allgatherv (mine.data, (int)mine.len, MPI_BYTE, all, cnt, disp,
                             MPI_BYTE, loom_comm_mpi (comm));
    if (rc != MPI_SUCCESS) {
        loom__mpi_error (rc, "join: gathering key samples", error);
        goto error;
    }
    if (decide (h, p, all, total, size) < 0) {
        loom_errset (error, ENOMEM, "join: out of memory choosing hot keys");
        goto error;
    }
    free (all);
    free (lens);
    free (cnt);
    free (disp);
    join_buf_free (&mine);
    return h;
error:
    free (all);
    free (lens);
    free (cnt);
    free (disp);
    join_buf_free (&mine);
    join_hot_destroy (h);
    return NULL;
}
