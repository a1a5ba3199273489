/* SPDX-License-Identifier: MIT */
/* The repartition join of fixed-width tuples, without the shuffle.
 *
 * One pass per side hashes each tuple once (xxh64 of the key with the placement seed,
 * the shuffle's hash partitioner: the high bits pick the rank through
 * loom_hash_to_partition(), the low bits the radix partition) and a second pass
 * scatters it into one buffer ordered by destination rank, then partition. The
 * (rank, partition) counts go to every destination in one all-to-all, so before any
 * data moves a receiver knows how much it gets (when one rank would go past its
 * budget, every rank falls back to the shuffle with its spill, with the tuples still
 * in hand) and where every partition starts in what each source sends. The received
 * bytes are then joined in place, partition by partition, with no second scatter
 * pass; the tuples for this rank are not copied at all after the scatter. Each
 * partition's build tuples (about PART_TUPLES, an L2 cache with their table) are
 * copied into a small chained table, and the probe tuples stream past it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <loom/error.h>
#include <loom/hash.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "hash_inline.h"
#include "join_impl.h"

#define RADIX_TAG   0x6a6f     /* tag of the data messages on the join's communicator */
#define CHUNK       (1u << 30) /* bytes per message: MPI counts are int */
#define PART_TUPLES 8192 /* build tuples per partition (~300 KiB with the table) */
#define MAX_BITS    14
#define NONE        UINT32_MAX

struct rside {
    char *buf; /* this rank's tuples by destination, then partition (hugemem) */
    uint64_t cap, n;
    char *rbuf; /* from the other ranks, by source, then partition (hugemem) */
    uint64_t rcap;
    const char **seg; /* [size]: where source r's tuples start */
    uint64_t *start;  /* [size * (nparts + 1)]: partition offsets (tuples) in seg[r] */
};

struct radix {
    loom_join_t *j;
    /* Role 0 probes, role 1 builds: the left and right sides in a repartition. */
    const struct loom__shape *shape[2];
    struct join_buf *in[2];
    int own[2]; /* free in[] once scattered (this rank's puts) */
    int rank, size;
    unsigned bits;
    size_t nparts;
    uint64_t
        *hist; /* [size][2][nparts]: tuples this rank sends to (rank, side, part) */
    uint64_t *rhist; /* [size][2][nparts]: tuples each source sends here */
    struct rside side[2];
};

static inline uint64_t *cell (uint64_t *h, const struct radix *x, int r, int s)
{
    return h + ((size_t)r * 2 + (size_t)s) * x->nparts;
}

static inline void copy_tuple (char *dst, const char *src, size_t fs)
{
    /* Constant sizes for the common widths: a few moves instead of a call. */
    switch (fs) {
    case 16:
        memcpy (dst, src, 16);
        return;
    case 8:
        memcpy (dst, src, 8);
        return;
    case 24:
        memcpy (dst, src, 24);
        return;
    default:
        memcpy (dst, src, fs);
    }
}

/* Rank and partition of 'n' tuples as one index each, counted in x->hist. */
static inline __attribute__ ((always_inline)) void hash_pass (struct radix *x,
                                                              int s,
                                                              const char *p,
                                                              uint64_t n,
                                                              size_t fs,
                                                              size_t kw,
                                                              uint32_t *idx)
{
    const size_t np = x->nparts;
    const uint64_t mask = np - 1, seed = x->j->p.hash_seed;
    const uint32_t size = (uint32_t)x->size;
    for (uint64_t i = 0; i < n; i++, p += fs) {
        uint64_t h = loom__hash64_inline (p, kw, seed);
        uint32_t d = loom_hash_to_partition (h, size);
        idx[i] = (uint32_t)(d * np + (h & mask));
        cell (x->hist, x, (int)d, s)[h & mask]++;
    }
}

/* The scatter through software write-combining buffers (tuples whose size divides a
 * cache line): each of the 'nout' outputs gathers a cache line in a small buffer
 * that stays in the cache, and full lines go out with non-temporal stores, so the
 * scatter writes each line once instead of reading it first and writing it back
 * later. 'out' is 64-byte aligned (hugemem); fill[] are the outputs' first tuples.
 * Returns 0, or -1 (no memory for the buffers: the caller scatters directly).
 */
static int scatter_wc (char *out,
                       const char *p,
                       uint64_t n,
                       size_t fs,
                       const uint32_t *idx,
                       uint64_t *fill,
                       size_t nout)
{
    char *wc = aligned_alloc (64, (nout ? nout : 1) * 64);
    uint64_t *first = malloc ((nout ? nout : 1) * sizeof (*first));
    if (!wc || !first || (uintptr_t)out % 64) {
        free (wc);
        free (first);
        return -1;
    }
    for (size_t o = 0; o < nout; o++)
        first[o] = fill[o] * fs; /* bytes before it belong to the previous output */
    for (uint64_t i = 0; i < n; i++, p += fs) {
        uint32_t o = idx[i];
        uint64_t at = fill[o]++ * fs, end = at + fs;
        char *line = wc + (size_t)o * 64;
        copy_tuple (line + at % 64, p, fs);
        if (end % 64)
            continue;
        uint64_t ls = end - 64; /* the line is full */
        if (ls >= first[o]) {
#ifdef __SSE2__
            for (int k = 0; k < 4; k++)
                _mm_stream_si128 ((__m128i *)(out + ls) + k, ((__m128i *)line)[k]);
#else
            memcpy (out + ls, line, 64);
#endif
        } else {
            memcpy (out + first[o], line + first[o] % 64, end - first[o]);
        }
    }
    /* The partial last lines. */
    for (size_t o = 0; o < nout; o++) {
        uint64_t end = fill[o] * fs, ls = end & ~(uint64_t)63;
        if (end % 64 == 0 || end <= first[o])
            continue;
        if (ls < first[o])
            ls = first[o];
        memcpy (out + ls, wc + o * 64 + ls % 64, end - ls);
    }
#ifdef __SSE2__
    _mm_sfence ();
#endif
    free (wc);
    free (first);
    return 0;
}

/* Scatter the tuples of role 's' into x->side[s].buf; frees the input on success
 * when this rank owns it. Returns 0, or -1 (ENOMEM; the input is untouched).
 */
static int scatter (struct radix *x, int s)
{
    struct join_buf *in = x->in[s];
    struct rside *rs = &x->side[s];
    const size_t fs = x->shape[s]->fixed_size, kw = x->shape[s]->kw;
    const size_t np = x->nparts;
    const uint32_t size = (uint32_t)x->size;
    const uint64_t n = in->n, icap = loom__mem_round ((n ? n : 1) * sizeof (uint32_t));
    if (x->size == 1 && np == 1 && !x->own[s]) {
        /* One partition: the tuples are joined where they are (layout). */
        cell (x->hist, x, 0, s)[0] = n;
        rs->n = n;
        return 0;
    }
    uint32_t *idx = loom__mem_alloc (icap);
    uint64_t *fill = malloc ((size_t)size * np * sizeof (*fill));
    /* Cache-line aligned, for the write-combining scatter: huge pages when large,
     * else aligned_alloc (freed by free(3), as loom__mem_free does below the limit).
     */
    rs->cap = loom__mem_round (((n ? n * fs : 1) + 63) & ~(uint64_t)63);
    rs->buf = rs->cap >= LOOM__MEM_BIG ? loom__mem_alloc (rs->cap)
                                       : aligned_alloc (64, (size_t)rs->cap);
    if (!idx || !fill || !rs->buf) {
        loom__mem_free (idx, icap);
        free (fill);
        loom__mem_free (rs->buf, rs->cap);
        rs->buf = NULL;
        return -1;
    }
    /* The one hash of the tuple: its rank and partition, kept as one index. */
    if (kw == 8)
        hash_pass (x, s, in->data, n, fs, 8, idx); /* xxh64 of a constant length */
    else
        hash_pass (x, s, in->data, n, fs, kw, idx);
    uint64_t off = 0;
    for (uint32_t d = 0; d < size; d++) {
        const uint64_t *c = cell (x->hist, x, (int)d, s);
        for (size_t q = 0; q < np; q++) {
            fill[d * np + q] = off;
            off += c[q];
        }
    }
    if (64 % fs == 0
        && scatter_wc (rs->buf, in->data, n, fs, idx, fill, size * np) == 0)
        ;
    else {
        const char *p = in->data;
        for (uint64_t i = 0; i < n; i++, p += fs)
            copy_tuple (rs->buf + fill[idx[i]]++ * fs, p, fs);
    }
    loom__mem_free (idx, icap);
    free (fill);
    rs->n = n;
    if (x->own[s])
        join_buf_free (in);
    return 0;
}

/* Give the scattered tuples back to j->side[] (reordered) for the general path. */
static void unscatter (struct radix *x)
{
    for (int s = 0; s < 2; s++) {
        struct rside *rs = &x->side[s];
        if (!rs->buf)
            continue;
        struct join_buf *b = x->in[s];
        join_buf_free (b);
        b->data = rs->buf;
        b->cap = rs->cap;
        b->len = rs->n * x->shape[s]->fixed_size;
        b->n = rs->n;
        rs->buf = NULL;
    }
}

/* Bytes side 's' receives from the other ranks, and sends to rank 'r'. */
static uint64_t side_tuples (struct radix *x, uint64_t *h, int r, int s)
{
    const uint64_t *c = cell (h, x, r, s);
    uint64_t t = 0;
    for (size_t q = 0; q < x->nparts; q++)
        t += c[q];
    return t;
}

/* Receive buffers and partition offsets of every source. Returns 0 or -1 (ENOMEM). */
static int layout (struct radix *x)
{
    for (int s = 0; s < 2; s++) {
        struct rside *rs = &x->side[s];
        size_t fs = x->shape[s]->fixed_size, np = x->nparts;
        uint64_t in = 0;
        for (int r = 0; r < x->size; r++)
            if (r != x->rank)
                in += side_tuples (x, x->rhist, r, s) * fs;
        rs->rcap = loom__mem_round (in ? in : 1);
        rs->rbuf = loom__mem_alloc (rs->rcap);
        rs->seg = malloc ((size_t)x->size * sizeof (*rs->seg));
        rs->start = malloc ((size_t)x->size * (np + 1) * sizeof (*rs->start));
        if (!rs->rbuf || !rs->seg || !rs->start)
            return -1;
        uint64_t roff = 0, soff = 0;
        for (int r = 0; r < x->size; r++) {
            uint64_t *st = rs->start + (size_t)r * (np + 1);
            const uint64_t *c = cell (x->rhist, x, r, s);
            st[0] = 0;
            for (size_t q = 0; q < np; q++)
                st[q + 1] = st[q] + c[q];
            if (r == x->rank) {
                /* Ours stay in the scatter buffer, after those for lower ranks. */
                for (int d = 0; d < x->rank; d++)
                    soff += side_tuples (x, x->hist, d, s) * fs;
                rs->seg[r] = rs->buf ? rs->buf + soff : x->in[s]->data;
            } else {
                rs->seg[r] = rs->rbuf + roff;
                roff += st[np] * fs;
            }
        }
    }
    return 0;
}

/* Move every side's tuples to their ranks. Returns 0, or -1 with 'error' set. */
static int exchange (struct radix *x, loom_error_t *error)
{
    MPI_Comm mc = loom_comm_mpi (x->j->comm);
    size_t nreq = 0, cap = 0;
    /* All requests allocated before the first is posted: no failure in between. */
    for (int s = 0; s < 2; s++)
        for (int r = 0; r < x->size; r++)
            if (r != x->rank)
                cap += (side_tuples (x, x->hist, r, s) * x->shape[s]->fixed_size + CHUNK
                        - 1)
                           / CHUNK
                       + (side_tuples (x, x->rhist, r, s) * x->shape[s]->fixed_size
                          + CHUNK - 1)
                             / CHUNK;
    MPI_Request *req = malloc ((cap ? cap : 1) * sizeof (*req));
    if (!req)
        return loom_errset (error, ENOMEM, "join: out of memory");
    int rc = -1;
    /* Receives first, then sends, each side's peers in rank order. */
    for (int pass = 0; pass < 2; pass++)
        for (int s = 0; s < 2; s++) {
            struct rside *rs = &x->side[s];
            size_t fs = x->shape[s]->fixed_size;
            uint64_t off = 0;
            for (int r = 0; r < x->size; r++) {
                uint64_t bytes = side_tuples (x, pass ? x->hist : x->rhist, r, s) * fs;
                if (r == x->rank) {
                    if (pass)
                        off += bytes;
                    continue;
                }
                char *base = pass ? rs->buf : rs->rbuf;
                for (uint64_t o = 0; o < bytes; o += CHUNK) {
                    int cnt = (int)(bytes - o < CHUNK ? bytes - o : CHUNK);
                    int erc = pass ? MPI_Isend (base + off + o, cnt, MPI_BYTE, r,
                                                RADIX_TAG, mc, &req[nreq])
                                   : MPI_Irecv (base + off + o, cnt, MPI_BYTE, r,
                                                RADIX_TAG, mc, &req[nreq]);
                    if (erc != MPI_SUCCESS) {
                        loom__mpi_error (erc, "join: exchanging tuples", error);
                        goto done;
                    }
                    nreq++;
                }
                off += bytes;
            }
        }
    rc = loom__waitall ((int)nreq, req, loom__timeout (x->j->comm, x->j->p.timeout_sec),
                        "join: exchanging tuples", error);
done:
    free (req);
    return rc;
}

/* Join partition by partition: left probes, right builds. */
static int join_parts (struct radix *x, const struct join_local_params *lp)
{
    const struct loom__shape *ps = x->shape[0], *bsh = x->shape[1];
    const size_t pfs = ps->fixed_size, bfs = bsh->fixed_size, kw = ps->kw;
    const size_t esz = 8 + ((bfs + 7) & ~(size_t)7), np = x->nparts;
    const struct rside *P = &x->side[0], *B = &x->side[1];
    uint64_t *results = &x->j->st.results;
    int semi = lp->kind == LOOM_JOIN_SEMI, anti = lp->kind == LOOM_JOIN_ANTI;
    int outer = lp->kind == LOOM_JOIN_LEFT_OUTER;
    size_t maxb = 0;
    for (size_t q = 0; q < np; q++) {
        size_t nb = 0;
        for (int r = 0; r < x->size; r++) {
            const uint64_t *st = B->start + (size_t)r * (np + 1);
            nb += st[q + 1] - st[q];
        }
        maxb = nb > maxb ? nb : maxb;
    }
    size_t maxpb = 1;
    while (maxpb < maxb * 2)
        maxpb <<= 1;
    char *ent = malloc ((maxb ? maxb : 1) * esz);
    uint32_t *next = malloc ((maxb ? maxb : 1) * sizeof (*next));
    uint32_t *head = malloc (maxpb * sizeof (*head));
    int rc = -1;
    if (!ent || !next || !head || maxb >= NONE) {
        errno = ENOMEM;
        goto done;
    }
    /* Cleared once, not per emit (see join_local). */
    errno = 0;
    for (size_t q = 0; q < np; q++) {
        size_t nb = 0;
        for (int r = 0; r < x->size; r++) {
            const uint64_t *st = B->start + (size_t)r * (np + 1);
            nb += st[q + 1] - st[q];
        }
        if (nb == 0 && !outer && !anti)
            continue; /* nothing can match, and unmatched tuples are not emitted */
        size_t pb = 1;
        while (pb < nb * 2)
            pb <<= 1;
        memset (head, 0xff, pb * sizeof (*head));
        size_t i = 0;
        for (int r = 0; r < x->size; r++) {
            const uint64_t *st = B->start + (size_t)r * (np + 1);
            const char *t = B->seg[r] + st[q] * bfs;
            for (uint64_t k = st[q]; k < st[q + 1]; k++, t += bfs, i++) {
                uint64_t h = join_hash (t, kw, lp->seed);
                char *e = ent + i * esz;
                memcpy (e, &h, 8);
                copy_tuple (e + 8, t, bfs);
                size_t b = (size_t)h & (pb - 1);
                next[i] = head[b];
                head[b] = (uint32_t)i;
            }
        }
        for (int r = 0; r < x->size; r++) {
            const uint64_t *st = P->start + (size_t)r * (np + 1);
            const char *t = P->seg[r] + st[q] * pfs;
            for (uint64_t k = st[q]; k < st[q + 1]; k++, t += pfs) {
                uint64_t h = join_hash (t, kw, lp->seed);
                struct loom_record lr = {t, kw, t + kw, pfs - kw};
                int matched = 0;
                for (uint32_t y = nb ? head[h & (pb - 1)] : NONE; y != NONE;
                     y = next[y]) {
                    const char *f = ent + (size_t)y * esz;
                    uint64_t fh;
                    memcpy (&fh, f, 8);
                    if (fh != h || !join_key_eq (f + 8, t, kw))
                        continue;
                    matched = 1;
                    if (semi || anti)
                        break;
                    struct loom_record rr = {f + 8, kw, f + 8 + kw, bfs - kw};
                    if (join_call_emit (lp, &lr, &rr) < 0)
                        goto done;
                    (*results)++;
                }
                if ((semi && matched) || ((anti || outer) && !matched)) {
                    if (join_call_emit (lp, &lr, NULL) < 0)
                        goto done;
                    (*results)++;
                }
            }
        }
    }
    rc = 0;
done:
    free (ent);
    free (next);
    free (head);
    return rc;
}

static void radix_free (struct radix *x)
{
    int saved = errno;
    free (x->hist);
    free (x->rhist);
    for (int s = 0; s < 2; s++) {
        struct rside *rs = &x->side[s];
        loom__mem_free (rs->buf, rs->cap);
        loom__mem_free (rs->rbuf, rs->rcap);
        free (rs->seg);
        free (rs->start);
    }
    errno = saved;
}

/* Partitions of about PART_TUPLES of 'n' build tuples. */
static void radix_init (struct radix *x, uint64_t n)
{
    while (x->bits < MAX_BITS && (n >> x->bits) > PART_TUPLES)
        x->bits++;
    x->nparts = (size_t)1 << x->bits;
}

int join_radix_local (loom_join_t *j,
                      const struct join_local_params *lp,
                      const struct join_buf *probe,
                      const struct loom__shape *ps,
                      const struct join_buf *build,
                      const struct loom__shape *bs)
{
    /* One "rank": scattered by partition only, joined where they are. */
    struct radix x = {.j = j, .shape = {ps, bs}, .size = 1};
    x.in[0] = (struct join_buf *)probe; /* not owned: never written */
    x.in[1] = (struct join_buf *)build;
    int need_unmatched = lp->kind == LOOM_JOIN_LEFT_OUTER || lp->kind == LOOM_JOIN_ANTI;
    if (probe->n == 0 || (build->n == 0 && !need_unmatched))
        return 0; /* nothing to emit */
    radix_init (&x, build->n);
    int rc = -1;
    x.hist = calloc (2 * x.nparts, sizeof (*x.hist));
    x.rhist = calloc (2 * x.nparts, sizeof (*x.rhist));
    if (!x.hist || !x.rhist || scatter (&x, 0) < 0 || scatter (&x, 1) < 0) {
        errno = ENOMEM;
        goto done;
    }
    memcpy (x.rhist, x.hist, 2 * x.nparts * sizeof (*x.hist));
    if (layout (&x) < 0) {
        errno = ENOMEM;
        goto done;
    }
    rc = join_parts (&x, lp);
done:
    radix_free (&x);
    return rc;
}

int join_radix_run (loom_join_t *j,
                    const struct join_local_params *lp,
                    uint64_t budget,
                    loom_error_t *error)
{
    struct radix x = {.j = j, .shape = {&j->shape[0], &j->shape[1]}};
    x.in[0] = &j->side[0];
    x.in[1] = &j->side[1];
    x.own[0] = x.own[1] = 1;
    x.rank = loom_comm_rank (j->comm);
    x.size = loom_comm_size (j->comm);
    /* Partitions of about PART_TUPLES build tuples on every rank (the same number
     * everywhere: it follows from the global count).
     */
    radix_init (&x, j->st.right_total / (uint64_t)x.size);
    size_t ncell = (size_t)x.size * 2 * x.nparts;
    int rc = -1;
    /* Trouble before the data moves (no memory here, a rank over its budget) sends
     * every rank down the general path with its tuples intact: 'over' says why.
     */
    uint64_t over = 0;
    x.hist = calloc (ncell, sizeof (*x.hist));
    x.rhist = calloc (ncell, sizeof (*x.rhist));
    if (!x.hist || !x.rhist || scatter (&x, 0) < 0 || scatter (&x, 1) < 0)
        over = 2;
    int erc = MPI_SUCCESS;
    if (x.hist && x.rhist) {
        MPI_Request req;
        erc = MPI_Ialltoall (x.hist, (int)(2 * x.nparts), MPI_UINT64_T, x.rhist,
                             (int)(2 * x.nparts), MPI_UINT64_T, loom_comm_mpi (j->comm),
                             &req);
        if (erc == MPI_SUCCESS
            && loom__waitall (1, &req, loom__timeout (j->comm, j->p.timeout_sec),
                              "join: count exchange", error)
                   < 0)
            goto done;
    } else {
        /* Without the counts this rank cannot take part: the others time out. */
        loom_errset (error, ENOMEM, "join: out of memory");
        goto done;
    }
    if (erc != MPI_SUCCESS) {
        loom__mpi_error (erc, "join: count exchange", error);
        goto done;
    }
    if (!over) {
        /* The budget as the general path counts it (join_local_footprint of all the
         * tuples joined here), so both spill at the same sizes; this path needs less
         * (no partitioned copies), but the two must agree on when to spill.
         */
        uint64_t need = 0;
        for (int s = 0; s < 2; s++) {
            uint64_t n = 0;
            for (int r = 0; r < x.size; r++)
                n += side_tuples (&x, x.rhist, r, s);
            need += join_local_footprint (&j->shape[s], n, n * j->shape[s].fixed_size);
        }
        if (need > budget)
            over = 1;
        else if (layout (&x) < 0)
            over = 2;
    }
    if (loom_comm_allreduce_u64 (j->comm, &over, 1, LOOM_OP_MAX, error) < 0)
        goto done;
    if (over) {
        unscatter (&x);
        rc = 0;
        goto done;
    }
    if (exchange (&x, error) < 0)
        goto done;
    /* Every collective is behind us: an emit may take part in another one. */
    if (join_parts (&x, lp) < 0) {
        loom_errset (error, errno, "join: local join: %s", strerror (errno));
        goto done;
    }
    rc = 1;
done:
    radix_free (&x);
    return rc;
}
