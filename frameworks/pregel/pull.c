/* SPDX-License-Identifier: MIT */
/* The pull path for broadcasts: loom_pregel_send_to_neighbours() with a combiner.
 *
 * Pushing a broadcast folds the message into every target's slot: a random
 * read-modify-write per edge, serialised whenever consecutive edges hit the same
 * target. Pulling walks each vertex's in-edges and folds the sources' messages: a
 * random read per edge into a register, as the fastest single-threaded PageRank does.
 * So the engine records each vertex's broadcast message, and after compute() either
 * pushes them (few senders: BFS frontiers) or pulls them (many senders: PageRank),
 * the direction-optimising idea of Beamer et al. applied to any combiner.
 *
 * Remote sources are mirrors: a vertex u with out-edges to rank p sends its
 * broadcast message to p once per superstep (not once per edge), and p's in-edges
 * name u's mirror slot. This is Pregel+'s mirroring; it sends no more than combining
 * at the sender does, and here it is what lets the receiver pull.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/error.h>

#include "internal.h"

/* Owner rank of ghost gi: the peer whose range holds it. */
static int ghost_owner (const struct loom_pregel_graph *g, size_t gi)
{
    size_t lo = 0, hi = (size_t)g->size;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (g->peer_off[mid] <= gi)
            lo = mid;
        else
            hi = mid;
    }
    return (int)lo;
}

struct growbuf {
    uint8_t *p;
    size_t len, cap;
};

static int recv_append (const struct loom_batch *b, void *arg)
{
    struct growbuf *r = arg;
    if (r->len + b->bytes > r->cap) {
        size_t cap = r->cap ? r->cap : 1 << 16;
        while (cap < r->len + b->bytes)
            cap *= 2;
        uint8_t *p = realloc (r->p, cap);
        if (!p) {
            errno = ENOMEM;
            return -1;
        }
        r->p = p;
        r->cap = cap;
    }
    memcpy (r->p + r->len, b->data, b->bytes);
    r->len += b->bytes;
    return 0;
}

static int key_owner (const struct loom_record *rec, int nranks, void *arg)
{
    uint64_t key;
    memcpy (&key, rec->key, 8);
    return (int)(key >> 32);
}

/* Local part: everything before the collective steps. Returns 0 or -1. */
static int local_mirrors (struct loom_pregel_graph *g,
                          struct pregel_pair **pairs_out,
                          size_t *npairs_out)
{
    /* (owner << 32 | u) for every edge u -> ghost, sorted and unique. */
    size_t k = 0;
    for (size_t u = 0; u < g->n; u++)
        for (uint64_t e = g->off[u]; e < g->off[u + 1]; e++)
            k += g->tgt[e] >= g->n;
    struct pregel_pair *P = malloc ((k + 1) * sizeof (*P));
    struct pregel_pair *T = malloc ((k + 1) * sizeof (*T));
    if (!P || !T) {
        free (P);
        free (T);
        return -1;
    }
    k = 0;
    for (size_t u = 0; u < g->n; u++)
        for (uint64_t e = g->off[u]; e < g->off[u + 1]; e++)
            if (g->tgt[e] >= g->n) {
                uint64_t p = (uint64_t)ghost_owner (g, g->tgt[e] - g->n);
                P[k].key = (p << 32) | u;
                P[k].val = e;
                k++;
            }
    pregel_radix_sort (P, T, k);
    free (T);
    *pairs_out = P;
    *npairs_out = k;
    return 0;
}

/* Order the mirrors of my vertices on each rank p by how many of p's in-edges read
 * them, most first (ties by local index), so that on p the mirror slots that the
 * gather reads most often are next to each other: on a power-law graph a few
 * thousand hot slots take most of the reads and stay in cache. 'P' holds the edges
 * u -> p sorted by (p, u); lid[k] receives the k-th mirror's local index, and
 * pos[j] the new place of the j-th distinct (p, u). Returns 0 or -1 (ENOMEM).
 */
static int order_mirrors (
    const struct pregel_pair *P, size_t np, size_t nmo, uint32_t *lid, size_t *pos)
{
    struct pregel_pair *D = malloc ((nmo + 1) * sizeof (*D));
    struct pregel_pair *T = malloc ((nmo + 1) * sizeof (*T));
    if (!D || !T) {
        free (D);
        free (T);
        return -1;
    }
    size_t j = 0;
    for (size_t i = 0, end; i < np; i = end) {
        for (end = i + 1; end < np && P[end].key == P[i].key;)
            end++;
        uint64_t fewer = UINT32_MAX - (end - i < UINT32_MAX ? end - i : UINT32_MAX);
        D[j].key = (P[i].key >> 32 << 32) | fewer;
        D[j].val = j;
        lid[j] = (uint32_t)P[i].key; /* u, in (p, u) order for now */
        j++;
    }
    pregel_radix_sort (D, T, nmo); /* stable: equal counts stay in (p, u) order */
    uint32_t *u = (uint32_t *)T;   /* T is free again: the lids in (p, u) order */
    memcpy (u, lid, nmo * sizeof (uint32_t));
    for (size_t k = 0; k < nmo; k++) {
        pos[D[k].val] = k;
        lid[k] = u[D[k].val];
    }
    free (T);
    free (D);
    return 0;
}

/* The self mirrors: local vertices with out-edges to local vertices, ordered by how
 * many such edges they have, most first (ties by local index). Fills g->ns, g->so_lid
 * and pos[u] (the self mirror of u, for those). Returns 0 or -1 (ENOMEM).
 */
static int order_self (struct loom_pregel_graph *g, uint32_t *pos)
{
    struct pregel_pair *D = malloc ((g->n + 1) * sizeof (*D));
    struct pregel_pair *T = malloc ((g->n + 1) * sizeof (*T));
    g->so_lid = malloc ((g->n + 1) * sizeof (uint32_t));
    if (!D || !T || !g->so_lid) {
        free (D);
        free (T);
        return -1;
    }
    size_t ns = 0;
    for (size_t u = 0; u < g->n; u++) {
        uint64_t k = 0;
        for (uint64_t e = g->off[u]; e < g->off[u + 1]; e++)
            k += g->tgt[e] < g->n;
        if (k == 0)
            continue;
        D[ns].key = UINT32_MAX - (k < UINT32_MAX ? k : UINT32_MAX);
        D[ns].val = u;
        ns++;
    }
    pregel_radix_sort (D, T, ns); /* stable: equal counts stay in index order */
    for (size_t k = 0; k < ns; k++) {
        g->so_lid[k] = (uint32_t)D[k].val;
        pos[D[k].val] = (uint32_t)k;
    }
    g->ns = ns;
    free (D);
    free (T);
    return 0;
}

int pregel_graph_build_pull (struct loom_pregel_graph *g, loom_error_t *error)
{
    if (g->pull_ready)
        return 0;
    const int size = g->size;
    struct pregel_pair *P = NULL;
    size_t np = 0, nmo = 0;
    uint64_t *send = calloc ((size_t)size, 8), *recv = calloc ((size_t)size, 8);
    uint64_t *base = calloc ((size_t)size, 8), *mybase = calloc ((size_t)size, 8);
    struct growbuf edges = {0};
    loom_shuffle_t *sh = NULL;
    uint64_t *cnt = NULL;
    uint32_t *self = NULL;
    size_t *mo_pos = NULL;
    int failed = !send || !recv || !base || !mybase || local_mirrors (g, &P, &np) < 0;
    g->mo_off = calloc ((size_t)size + 1, sizeof (size_t));
    g->mi_off = calloc ((size_t)size + 1, sizeof (size_t));
    g->in_off = pregel_big_alloc (g->n + 1, sizeof (uint64_t), &g->in_off_cap);
    if (!g->mo_off || !g->mi_off || !g->in_off)
        failed = 1;
    if (!failed) {
        /* Distinct (p, u) pairs are the mirrors of my vertices. */
        for (size_t i = 0; i < np; i++)
            nmo += i == 0 || P[i].key != P[i - 1].key;
        g->mo_lid = malloc ((nmo + 1) * sizeof (uint32_t));
        g->mo_slot = malloc ((nmo + 1) * sizeof (uint32_t));
        mo_pos = malloc ((nmo + 1) * sizeof (size_t));
        failed = !g->mo_lid || !g->mo_slot || !mo_pos
                 || order_mirrors (P, np, nmo, g->mo_lid, mo_pos) < 0;
    }
    if (!failed) {
        for (size_t k = 0, i = 0; k < nmo; k++) {
            int p = (int)(P[i].key >> 32);
            g->mo_off[p + 1]++;
            send[p]++;
            while (++i < np && P[i].key == P[i - 1].key)
                ;
        }
        for (int p = 0; p < size; p++)
            g->mo_off[p + 1] += g->mo_off[p];
    }
    if (failed)
        loom_errset (error, ENOMEM, "out of memory building in-edges");
    if (pregel_agree (g->comm, failed, error) < 0)
        goto error;
    /* How many mirrors each rank keeps for me, and where they start there. */
    if (loom_comm_alltoall_u64 (g->comm, send, recv, error) < 0)
        goto error;
    g->nm = 0;
    for (int q = 0; q < size; q++) {
        base[q] = g->nm;
        g->mi_off[q] = g->nm;
        g->nm += recv[q];
    }
    g->mi_off[size] = g->nm;
    if (loom_comm_alltoall_u64 (g->comm, base, mybase, error) < 0)
        goto error;
    failed = (uint64_t)g->n * 2 + g->nm >= (1ULL << 31);
    if (failed)
        loom_errset (error, EOVERFLOW,
                     "rank %d has %zu vertices and %zu mirrors: more than 2^31 slots; "
                     "use more ranks",
                     g->rank, g->n, g->nm);
    if (pregel_agree (g->comm, failed, error) < 0)
        goto error;
    for (int p = 0; p < size; p++)
        for (size_t k = g->mo_off[p]; k < g->mo_off[p + 1]; k++)
            g->mo_slot[k] = (uint32_t)(mybase[p] + (k - g->mo_off[p]));

    /* Ship the remote in-edges: (p << 32 | mirror slot on p) -> target's index. */
    struct loom_shuffle_params sp = LOOM_SHUFFLE_PARAMS_INIT;
    sp.key_width = 8;
    sp.value_width = 8;
    sp.partition = LOOM_PARTITION_CALLBACK;
    sp.partition_fn = key_owner;
    sp.mem_bytes = 1ULL << 30;
    sp.batch_bytes = 64ULL << 20;
    if (!(sh = loom_shuffle_create (g->comm, &sp, error))
        || loom_shuffle_set_recv (sh, recv_append, &edges) < 0) {
        failed = 1;
    }
    /* The collective steps below must run on every rank: a local failure is only
     * reported after them.
     */
    enum { CHUNK = 4096 };
    uint8_t buf[CHUNK * 16];
    size_t nb = 0, mo = 0;
    for (size_t i = 0; !failed && i < np; i++) {
        if (i > 0 && P[i].key != P[i - 1].key)
            mo++;
        uint64_t p = P[i].key >> 32;
        uint64_t key = (p << 32) | g->mo_slot[mo_pos[mo]];
        uint64_t rlid = g->ghost_rlid[g->tgt[P[i].val] - g->n];
        memcpy (buf + nb * 16, &key, 8);
        memcpy (buf + nb * 16 + 8, &rlid, 8);
        if (++nb == CHUNK) {
            failed = loom_shuffle_put_fixed (sh, buf, nb, error) < 0;
            nb = 0;
        }
    }
    if (!failed && nb > 0)
        failed = loom_shuffle_put_fixed (sh, buf, nb, error) < 0;
    if (sh && loom_shuffle_finish (sh, failed ? NULL : error) < 0)
        failed = 1;
    loom_shuffle_destroy (sh);
    sh = NULL;
    free (P);
    P = NULL;
    free (mo_pos);
    mo_pos = NULL;

    /* In-CSR: local in-edges (source = local index) and the received ones. */
    size_t nrecv = edges.len / 16, m_in = nrecv;
    for (uint64_t e = 0; !failed && e < g->m; e++)
        m_in += g->tgt[e] < g->n;
    if (!failed) {
        g->in_src = pregel_big_alloc (m_in + 1, sizeof (uint32_t), &g->in_src_cap);
        cnt = calloc (g->n + 1, sizeof (uint64_t));
        self = malloc ((g->n + 1) * sizeof (uint32_t));
        failed = !g->in_src || !cnt || !self || order_self (g, self) < 0;
        if (failed)
            loom_errset (error, ENOMEM, "out of memory for %zu in-edges", m_in);
    }
    for (size_t i = 0; !failed && i < nrecv; i++) {
        uint64_t lid;
        memcpy (&lid, edges.p + 16 * i + 8, 8);
        if (lid >= g->n) {
            failed = 1;
            loom_errset (error, EPROTO, "in-edge to vertex %llu of %zu",
                         (unsigned long long)lid, g->n);
        } else {
            g->in_off[lid + 1]++;
        }
    }
    if (!failed) {
        for (size_t u = 0; u < g->n; u++)
            for (uint64_t e = g->off[u]; e < g->off[u + 1]; e++)
                if (g->tgt[e] < g->n)
                    g->in_off[g->tgt[e] + 1]++;
        for (size_t v = 0; v < g->n; v++)
            g->in_off[v + 1] += g->in_off[v];
        memcpy (cnt, g->in_off, (g->n + 1) * sizeof (uint64_t));
        /* Local sources (their self mirrors) first, in source order, then mirrors
         * in arrival order:
         * the order is fixed by the graph and the number of ranks.
         */
        for (size_t u = 0; u < g->n; u++)
            for (uint64_t e = g->off[u]; e < g->off[u + 1]; e++)
                if (g->tgt[e] < g->n)
                    g->in_src[cnt[g->tgt[e]]++] = (uint32_t)(g->n + g->nm + self[u]);
        for (size_t i = 0; i < nrecv; i++) {
            uint64_t key, lid;
            memcpy (&key, edges.p + 16 * i, 8);
            memcpy (&lid, edges.p + 16 * i + 8, 8);
            g->in_src[cnt[lid]++] = (uint32_t)(g->n + (uint32_t)key);
        }
        g->n_with_out = 0;
        for (size_t u = 0; u < g->n; u++)
            g->n_with_out += g->off[u + 1] > g->off[u];
    }
    if (pregel_agree (g->comm, failed, error) < 0)
        goto error;
    free (cnt);
    free (self);
    free (edges.p);
    free (send);
    free (recv);
    free (base);
    free (mybase);
    g->pull_ready = true;
    return 0;
error:
    loom_shuffle_destroy (sh);
    free (P);
    free (mo_pos);
    free (cnt);
    free (self);
    free (edges.p);
    free (send);
    free (recv);
    free (base);
    free (mybase);
    pregel_big_free (g->in_src, g->in_src_cap);
    free (g->mo_lid);
    free (g->mo_slot);
    free (g->so_lid);
    g->so_lid = NULL;
    g->ns = 0;
    free (g->mo_off);
    free (g->mi_off);
    g->mi_off = NULL;
    g->in_src = NULL;
    g->mo_lid = g->mo_slot = NULL;
    g->mo_off = NULL;
    pregel_big_free (g->in_off, g->in_off_cap);
    g->in_off = NULL;
    return -1;
}

/* Push: fold every broadcast into its out-edges' slots (few senders). */
void pregel_push_broadcasts (struct loom_pregel *job)
{
    const struct loom_pregel_graph *g = job->g;
    const size_t ms = job->ms;
    uint8_t *restrict has = job->out_has;
    for (size_t u = 0; u < g->n; u++) {
        if (!job->bflag[u])
            continue;
        const uint32_t *restrict t = g->tgt + g->off[u];
        const size_t deg = (size_t)(g->off[u + 1] - g->off[u]);
        const uint8_t *msg = job->bcast + u * ms;
        switch (job->fast) {
#define LOOP(kind, T, expr)                                                            \
    case kind: {                                                                       \
        T b;                                                                           \
        memcpy (&b, msg, 8);                                                           \
        T *restrict acc = (T *)job->out;                                               \
        for (size_t e = 0; e < deg; e++) {                                             \
            T a = acc[t[e]];                                                           \
            acc[t[e]] = (expr);                                                        \
            has[t[e]] = 1;                                                             \
        }                                                                              \
        break;                                                                         \
    }
            LOOP (FAST_SUM_F64, double, a + b)
            LOOP (FAST_SUM_I64, int64_t, (int64_t)((uint64_t)a + (uint64_t)b))
            LOOP (FAST_SUM_U64, uint64_t, a + b)
            LOOP (FAST_MIN_F64, double, b < a ? b : a)
            LOOP (FAST_MIN_I64, int64_t, b < a ? b : a)
            LOOP (FAST_MIN_U64, uint64_t, b < a ? b : a)
            LOOP (FAST_MAX_F64, double, b > a ? b : a)
            LOOP (FAST_MAX_I64, int64_t, b > a ? b : a)
            LOOP (FAST_MAX_U64, uint64_t, b > a ? b : a)
#undef LOOP
        case FAST_USER:
            for (size_t e = 0; e < deg; e++) {
                uint8_t *acc = job->out + (size_t)t[e] * ms;
                if (!has[t[e]])
                    memcpy (acc, msg, ms);
                else
                    pregel_combine (job, acc, msg);
                has[t[e]] = 1;
            }
            break;
        case FAST_NONE:
            break;
        }
    }
}

/* The self mirrors' messages and flags: one pass over the local sources in hot
 * order. It costs a read per source, and buys the gather (a read per in-edge) a
 * compact hot set: on R-MAT most in-edges come from a few sources.
 */
static void copy_self (struct loom_pregel *job)
{
    const struct loom_pregel_graph *g = job->g;
    const size_t ms = job->ms, ns = g->ns, at = g->n + g->nm;
    const uint32_t *restrict lid = g->so_lid;
    uint8_t *restrict flag = job->bflag;
    if (ms == 8) {
        uint64_t *restrict bc = (uint64_t *)job->bcast;
        for (size_t k = 0; k < ns; k++) {
            bc[at + k] = bc[lid[k]];
            flag[at + k] = flag[lid[k]];
        }
    } else {
        for (size_t k = 0; k < ns; k++) {
            memcpy (job->bcast + (at + k) * ms, job->bcast + (size_t)lid[k] * ms, ms);
            flag[at + k] = flag[lid[k]];
        }
    }
}

/* Pull: every local vertex folds the broadcasts of its in-neighbours (self mirrors
 * and mirrors) into its slot, after the exchange delivered the mirrors' messages.
 */
void pregel_gather (struct loom_pregel *job)
{
    const struct loom_pregel_graph *g = job->g;
    const size_t n = g->n, ms = job->ms;
    const uint64_t *restrict off = g->in_off;
    const uint32_t *restrict src = g->in_src;
    const uint8_t *restrict flag = job->bflag;
    uint8_t *restrict has = job->out_has;
    /* Every source sent (PageRank): no flag to test per edge. */
    size_t mirrors_sent = 0;
    for (size_t i = n; i < n + g->nm; i++)
        mirrors_sent += flag[i];
    if (!job->pull && mirrors_sent == 0)
        return; /* everything was pushed */
    copy_self (job);
    const bool all = job->nbcast == g->n_with_out && mirrors_sent == g->nm;
    switch (job->fast) {
#define GATHER(kind, T, expr)                                                          \
    case kind: {                                                                       \
        const T *restrict bc = (const T *)job->bcast;                                  \
        T *restrict acc = (T *)job->out;                                               \
        for (size_t v = 0; v < n; v++) {                                               \
            uint64_t e = off[v], end = off[v + 1];                                     \
            if (e == end)                                                              \
                continue;                                                              \
            T a = acc[v];                                                              \
            bool got = false;                                                          \
            if (all) {                                                                 \
                for (; e < end; e++) {                                                 \
                    T b = bc[src[e]];                                                  \
                    a = (expr);                                                        \
                }                                                                      \
                got = true;                                                            \
            } else {                                                                   \
                for (; e < end; e++) {                                                 \
                    if (!flag[src[e]])                                                 \
                        continue;                                                      \
                    T b = bc[src[e]];                                                  \
                    a = (expr);                                                        \
                    got = true;                                                        \
                }                                                                      \
            }                                                                          \
            if (got) {                                                                 \
                acc[v] = a;                                                            \
                has[v] = 1;                                                            \
            }                                                                          \
        }                                                                              \
        break;                                                                         \
    }
        GATHER (FAST_SUM_F64, double, a + b)
        GATHER (FAST_SUM_I64, int64_t, (int64_t)((uint64_t)a + (uint64_t)b))
        GATHER (FAST_SUM_U64, uint64_t, a + b)
        GATHER (FAST_MIN_F64, double, b < a ? b : a)
        GATHER (FAST_MIN_I64, int64_t, b < a ? b : a)
        GATHER (FAST_MIN_U64, uint64_t, b < a ? b : a)
        GATHER (FAST_MAX_F64, double, b > a ? b : a)
        GATHER (FAST_MAX_I64, int64_t, b > a ? b : a)
        GATHER (FAST_MAX_U64, uint64_t, b > a ? b : a)
#undef GATHER
    case FAST_USER:
        for (size_t v = 0; v < n; v++) {
            uint8_t *acc = job->out + v * ms;
            for (uint64_t e = off[v]; e < off[v + 1]; e++) {
                uint32_t s = src[e];
                if (!flag[s])
                    continue;
                if (!has[v])
                    memcpy (acc, job->bcast + (size_t)s * ms, ms);
                else
                    pregel_combine (job, acc, job->bcast + (size_t)s * ms);
                has[v] = 1;
            }
        }
        break;
    case FAST_NONE:
        break;
    }
}
