/* SPDX-License-Identifier: MIT */
/* Building the per-rank CSR partitions from an edge list.
 *
 * 1. Route every edge to the owner of its source through libcomm's shuffle.
 * 2. Sort the local edges by source (radix sort): that is the CSR order.
 * 3. Sort the edge targets: distinct local targets become vertices (a vertex with no
 *    out-edges exists only as a target), distinct remote targets become ghosts.
 * 4. Ask each ghost's owner for its local index (one shuffle each way). The owner
 *    adds every asked-for id to its vertex set first, so it knows its vertices
 *    without out-edges that only other ranks point to.
 * 5. Rewrite edge targets as 32-bit slots: a local index, or n + ghost index.
 * Afterwards sending along an edge needs no lookup at all.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <loom/clock.h>
#include <loom/error.h>
#include <loom/trace.h>

#include "internal.h"

int64_t pregel_local_index (const struct loom_pregel_graph *g, uint64_t id)
{
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < g->n && g->ids[lo] == id ? (int64_t)lo : -1;
}

/* A growable array of fixed-size items, filled by shuffle receive callbacks. */
struct growbuf {
    uint8_t *p;
    size_t len, cap; /* bytes */
};

static int growbuf_append (struct growbuf *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *p = realloc (b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy (b->p + b->len, data, len);
    b->len += len;
    return 0;
}

static int recv_append (const struct loom_batch *batch, void *arg)
{
    /* Fixed-width records are packed key||value: append the whole batch. */
    return growbuf_append (arg, batch->data, batch->bytes);
}

static int range_partition (const struct loom_record *rec, int nranks, void *arg)
{
    const struct loom_pregel_graph *g = arg;
    uint64_t id;
    memcpy (&id, rec->key, sizeof (id));
    return pregel_owner (g, id);
}

/* A shuffle of fixed-width records (8-byte key), delivering into 'into'. With
 * 'by_id' the key is a vertex id routed by the graph's partitioner; otherwise the
 * caller routes with loom_shuffle_put_to().
 */
static loom_shuffle_t *open_shuffle (struct loom_pregel_graph *g,
                                     size_t value_width,
                                     int by_id,
                                     struct growbuf *into,
                                     loom_error_t *error)
{
    struct loom_shuffle_params sp = LOOM_SHUFFLE_PARAMS_INIT;
    sp.key_width = 8;
    sp.value_width = value_width;
    sp.mem_bytes = 1ULL << 30;
    sp.batch_bytes = 64ULL << 20;
    if (by_id && g->part == LOOM_PREGEL_PART_RANGE) {
        sp.partition = LOOM_PARTITION_CALLBACK;
        sp.partition_fn = range_partition;
        sp.partition_arg = g;
    } else {
        sp.partition = LOOM_PARTITION_HASH;
        sp.hash_seed = g->seed;
    }
    loom_shuffle_t *sh = loom_shuffle_create (g->comm, &sp, error);
    if (sh && loom_shuffle_set_recv (sh, recv_append, into) < 0) {
        loom_shuffle_destroy (sh);
        return NULL;
    }
    return sh;
}

/* Route edges to the owners of their sources (and reversed edges to the owners of
 * their targets with LOOM_PREGEL_SYMMETRIC). Received records are src||dst[||w].
 */
static int route_edges (struct loom_pregel_graph *g,
                        size_t m,
                        const uint64_t *src,
                        const uint64_t *dst,
                        const double *w,
                        int weighted,
                        struct growbuf *out,
                        loom_error_t *error)
{
    size_t rec = weighted ? 24 : 16;
    loom_shuffle_t *sh = open_shuffle (g, rec - 8, 1, out, error);
    if (!sh)
        return -1;
    enum { CHUNK = 1 << 14 };
    uint8_t *buf = malloc (CHUNK * rec * 2);
    if (!buf) {
        loom_errset (error, ENOMEM, "out of memory routing edges");
        goto error;
    }
    int sym = (g->flags & LOOM_PREGEL_SYMMETRIC) != 0;
    for (size_t i = 0; i < m; i += CHUNK) {
        size_t k = m - i < CHUNK ? m - i : CHUNK, nrec = 0;
        for (size_t j = i; j < i + k; j++) {
            for (int r = 0; r <= sym; r++) {
                uint8_t *p = buf + nrec++ * rec;
                memcpy (p, r ? &dst[j] : &src[j], 8);
                memcpy (p + 8, r ? &src[j] : &dst[j], 8);
                if (weighted)
                    memcpy (p + 16, &w[j], 8);
            }
        }
        if (loom_shuffle_put_fixed (sh, buf, nrec, error) < 0)
            goto error;
    }
    if (loom_shuffle_finish (sh, error) < 0)
        goto error;
    free (buf);
    loom_shuffle_destroy (sh);
    return 0;
error:
    free (buf);
    loom_shuffle_destroy (sh);
    return -1;
}

void loom_pregel_graph_destroy (loom_pregel_graph_t *g)
{
    if (!g)
        return;
    int saved = errno;
    free (g->ids);
    free (g->off);
    free (g->tgt);
    free (g->weight);
    free (g->ghost_id);
    free (g->ghost_rlid);
    free (g->peer_off);
    pregel_big_free (g->in_off, g->in_off_cap);
    pregel_big_free (g->in_src, g->in_src_cap);
    free (g->mo_off);
    free (g->mi_off);
    free (g->mo_lid);
    free (g->mo_slot);
    free (g->so_lid);
    loom_comm_destroy (g->comm);
    free (g);
    errno = saved;
}

/* Steps 2-5 on this rank's routed edges ('e': records src||dst[||w]). Local only,
 * apart from the two ghost shuffles. Returns 0 or -1 (error filled, errno set).
 */
static int build_local (struct loom_pregel_graph *g,
                        struct growbuf *e,
                        int weighted,
                        loom_error_t *error)
{
    const size_t rec = weighted ? 24 : 16;
    const size_t m = e->len / rec;
    struct pregel_pair *P = NULL, *Q = NULL, *T = NULL;
    uint64_t *S = NULL, *L = NULL, *G = NULL, *cand = NULL;
    uint32_t *G_owner = NULL, *G_rlid = NULL, *G_pos = NULL;
    struct growbuf req = {0}, rep = {0};
    loom_shuffle_t *sh = NULL;
    size_t nS = 0, nL = 0, nG = 0;

    P = malloc ((m + 1) * sizeof (*P));
    T = malloc ((m + 1) * sizeof (*T));
    g->tgt = malloc ((m + 1) * sizeof (uint32_t));
    if (weighted)
        g->weight = malloc ((m + 1) * sizeof (double));
    if (!P || !T || !g->tgt || (weighted && !g->weight))
        goto nomem;
    g->m = m;

    /* 2. CSR order = edges sorted by source (stable: input order within a vertex). */
    for (size_t i = 0; i < m; i++) {
        memcpy (&P[i].key, e->p + i * rec, 8);
        P[i].val = i;
    }
    pregel_radix_sort (P, T, m);
    if (!(S = malloc ((m + 1) * sizeof (uint64_t))))
        goto nomem;
    /* Targets in CSR order go to Q (id, csr position); weights to their place. */
    Q = malloc ((m + 1) * sizeof (*Q));
    if (!Q)
        goto nomem;
    for (size_t k = 0; k < m; k++) {
        const uint8_t *r = e->p + P[k].val * rec;
        if (nS == 0 || S[nS - 1] != P[k].key)
            S[nS++] = P[k].key;
        memcpy (&Q[k].key, r + 8, 8);
        Q[k].val = k;
        if (weighted)
            memcpy (&g->weight[k], r + 16, 8);
    }
    free (e->p);
    e->p = NULL;
    pregel_radix_sort (Q, T, m);
    free (T);
    T = NULL;

    /* 3. Distinct targets: local ones (L) and ghosts (G, sorted by id). */
    L = malloc ((m + 1) * sizeof (uint64_t));
    G = malloc ((m + 1) * sizeof (uint64_t));
    G_owner = malloc ((m + 1) * sizeof (uint32_t));
    if (!L || !G || !G_owner)
        goto nomem;
    for (size_t k = 0; k < m; k++) {
        uint64_t id = Q[k].key;
        if (k > 0 && Q[k - 1].key == id)
            continue;
        int owner = pregel_owner (g, id);
        if (owner == g->rank) {
            L[nL++] = id;
        } else {
            G[nG] = id;
            G_owner[nG++] = (uint32_t)owner;
        }
    }

    /* 4a. Ask owners about the ghosts: key id, value (my rank << 32 | ghost index). */
    if (!(sh = open_shuffle (g, 8, 1, &req, error)))
        goto error;
    for (size_t i = 0; i < nG; i++) {
        uint64_t v = ((uint64_t)g->rank << 32) | i;
        if (loom_shuffle_put_to (sh, (int)G_owner[i], &G[i], 8, &v, 8, error) < 0)
            goto error;
    }
    if (loom_shuffle_finish (sh, error) < 0)
        goto error;
    loom_shuffle_destroy (sh);
    sh = NULL;
    size_t nR = req.len / 16;
    struct pregel_pair *R = (struct pregel_pair *)req.p; /* (id, asker) */
    if (nR > 0) {
        if (!(T = malloc (nR * sizeof (*T))))
            goto nomem;
        pregel_radix_sort (R, T, nR);
        free (T);
        T = NULL;
    }

    /* 4b. The vertex set: sources, local targets, asked-for ids; merged, unique. */
    if (!(cand = malloc ((nS + nL + nR + 1) * sizeof (uint64_t))))
        goto nomem;
    size_t nc = 0;
    {
        size_t a = 0, b = 0, c = 0;
        while (a < nS || b < nL || c < nR) {
            uint64_t x = UINT64_MAX;
            int have = 0;
            if (a < nS)
                x = S[a], have = 1;
            if (b < nL && (!have || L[b] < x))
                x = L[b], have = 1;
            if (c < nR && (!have || R[c].key < x))
                x = R[c].key, have = 1;
            if (a < nS && S[a] == x)
                a++;
            if (b < nL && L[b] == x)
                b++;
            while (c < nR && R[c].key == x)
                c++;
            cand[nc++] = x;
        }
    }
    free (S);
    S = NULL;
    g->ids = cand;
    cand = NULL;
    g->n = nc;
    if ((uint64_t)g->n + nG >= (1ULL << 31)) {
        loom_errset (error, EOVERFLOW,
                     "rank %d holds %zu vertices and %zu remote neighbours: more than "
                     "2^31; use more ranks",
                     g->rank, g->n, nG);
        goto error;
    }

    /* 4c. Answer: key (asker's ghost index), value local index, to the asker. */
    if (!(sh = open_shuffle (g, 8, 0, &rep, error)))
        goto error;
    {
        size_t j = 0;
        for (size_t i = 0; i < nR; i++) {
            while (g->ids[j] < R[i].key)
                j++;
            uint64_t gi = R[i].val & 0xFFFFFFFFu, lid = j;
            int asker = (int)(R[i].val >> 32);
            if (loom_shuffle_put_to (sh, asker, &gi, 8, &lid, 8, error) < 0)
                goto error;
        }
    }
    if (loom_shuffle_finish (sh, error) < 0)
        goto error;
    loom_shuffle_destroy (sh);
    sh = NULL;
    free (req.p);
    req.p = NULL;
    if (rep.len != nG * 16) {
        loom_errset (error, EPROTO, "ghost exchange: got %zu answers for %zu ghosts",
                     rep.len / 16, nG);
        goto error;
    }
    if (!(G_rlid = malloc ((nG + 1) * sizeof (uint32_t))))
        goto nomem;
    for (size_t i = 0; i < nG; i++) {
        uint64_t gi, lid;
        memcpy (&gi, rep.p + 16 * i, 8);
        memcpy (&lid, rep.p + 16 * i + 8, 8);
        G_rlid[gi] = (uint32_t)lid;
    }
    free (rep.p);
    rep.p = NULL;

    /* Ghost order: by owner, then id (G is by id; a stable sort by owner keeps it). */
    {
        struct pregel_pair *O = malloc ((nG + 1) * sizeof (*O));
        struct pregel_pair *OT = malloc ((nG + 1) * sizeof (*OT));
        G_pos = malloc ((nG + 1) * sizeof (uint32_t));
        g->ghost_id = malloc ((nG + 1) * sizeof (uint64_t));
        g->ghost_rlid = malloc ((nG + 1) * sizeof (uint32_t));
        g->peer_off = calloc ((size_t)g->size + 1, sizeof (size_t));
        if (!O || !OT || !G_pos || !g->ghost_id || !g->ghost_rlid || !g->peer_off) {
            free (O);
            free (OT);
            goto nomem;
        }
        for (size_t i = 0; i < nG; i++) {
            O[i].key = G_owner[i];
            O[i].val = i;
        }
        pregel_radix_sort (O, OT, nG);
        for (size_t i = 0; i < nG; i++) {
            size_t from = O[i].val;
            G_pos[from] = (uint32_t)i;
            g->ghost_id[i] = G[from];
            g->ghost_rlid[i] = G_rlid[from];
            g->peer_off[G_owner[from] + 1]++;
        }
        for (int p = 0; p < g->size; p++)
            g->peer_off[p + 1] += g->peer_off[p];
        g->ng = nG;
        free (O);
        free (OT);
    }

    /* 5a. CSR offsets: P is sorted by source, ids are sorted. */
    if (!(g->off = calloc (g->n + 1, sizeof (uint64_t))))
        goto nomem;
    {
        size_t j = 0;
        for (size_t k = 0; k < m; k++) {
            while (g->ids[j] < P[k].key)
                j++;
            g->off[j + 1]++;
        }
        for (size_t v = 0; v < g->n; v++)
            g->off[v + 1] += g->off[v];
    }
    free (P);
    P = NULL;

    /* 5b. Targets as slots: Q is sorted by target id. */
    {
        size_t j = 0, gi = 0;
        for (size_t k = 0; k < m; k++) {
            uint64_t id = Q[k].key;
            uint32_t slot;
            if (pregel_owner (g, id) == g->rank) {
                while (g->ids[j] < id)
                    j++;
                slot = (uint32_t)j;
            } else {
                while (G[gi] < id)
                    gi++;
                slot = (uint32_t)(g->n + G_pos[gi]);
            }
            g->tgt[Q[k].val] = slot;
        }
    }
    free (Q);
    free (L);
    free (G);
    free (G_owner);
    free (G_rlid);
    free (G_pos);
    return 0;

nomem:
    loom_errset (error, ENOMEM, "out of memory building the graph (%zu local edges)",
                 m);
error:
    loom_shuffle_destroy (sh);
    free (P);
    free (Q);
    free (T);
    free (S);
    free (L);
    free (G);
    free (G_owner);
    free (G_rlid);
    free (G_pos);
    free (cand);
    free (req.p);
    free (rep.p);
    free (e->p);
    e->p = NULL;
    return -1;
}

LOOM_TRACE_TYPE (t_load, "pregel", "graph.build", "vertices", "edges", "ghosts");

struct loom_pregel_graph *
pregel_graph_build_ex (loom_comm_t *comm,
                       size_t m,
                       uint64_t *src,
                       uint64_t *dst,
                       double *weight,
                       int weighted,
                       int prerouted,
                       const struct loom_pregel_graph_params *p,
                       loom_error_t *error)
{
    double t0 = loom_clock_sec ();
    loom_trace_span_t span = loom_trace_begin (&t_load, 0, m, 0);
    struct loom_pregel_graph *g = calloc (1, sizeof (*g));
    struct growbuf edges = {0};
    int failed = 0;
    if (!g) {
        loom_comm_destroy (comm);
        free (src);
        free (dst);
        free (weight);
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    g->comm = comm;
    g->rank = loom_comm_rank (comm);
    g->size = loom_comm_size (comm);
    g->part = p->partition;
    g->seed = p->seed;
    g->flags = p->flags;
    if (p->flags & LOOM_PREGEL_NO_WEIGHTS)
        weighted = 0;

    /* The id range (RANGE partitioning) and whether there is any edge at all. */
    uint64_t stats[2] = {0, m};
    for (size_t i = 0; i < m; i++) {
        uint64_t x = src[i] > dst[i] ? src[i] : dst[i];
        if (x > stats[0])
            stats[0] = x;
    }
    if (loom_comm_allreduce_u64 (comm, &stats[1], 1, LOOM_OP_SUM, error) < 0
        || loom_comm_allreduce_u64 (comm, &stats[0], 1, LOOM_OP_MAX, error) < 0)
        goto error;
    if (stats[1] == 0) {
        loom_errset (error, ENODATA, "the graph has no vertices (no edges)");
        goto error;
    }
    g->id_limit = stats[0] == UINT64_MAX ? UINT64_MAX : stats[0] + 1;

    if (prerouted) {
        /* Already on their owners (an aligned dataset): just pack them. */
        size_t rec = weighted ? 24 : 16;
        failed = !(edges.p = malloc (m * rec + 1));
        for (size_t i = 0; !failed && i < m; i++) {
            uint8_t *r = edges.p + i * rec;
            memcpy (r, &src[i], 8);
            memcpy (r + 8, &dst[i], 8);
            if (weighted)
                memcpy (r + 16, &weight[i], 8);
        }
        edges.len = edges.cap = failed ? 0 : m * rec;
        if (failed)
            loom_errset (error, ENOMEM, "out of memory for %zu edges", m);
        if (pregel_agree (comm, failed, error) < 0)
            failed = 1;
    } else {
        failed = route_edges (g, m, src, dst, weight, weighted, &edges, error) < 0;
    }
    free (src);
    free (dst);
    free (weight);
    src = dst = NULL;
    weight = NULL;
    if (failed) /* the shuffle fails on every rank together */
        goto error;
    failed = build_local (g, &edges, weighted, error) < 0;
    if (pregel_agree (comm, failed, error) < 0)
        goto error;

    uint64_t tot[2] = {g->n, g->m};
    if (loom_comm_allreduce_u64 (comm, tot, 2, LOOM_OP_SUM, error) < 0)
        goto error;
    /* The smallest weight (NaN counts as smallest), for programs that need >= 0. */
    double minw = INFINITY;
    for (size_t k = 0; g->weight && k < g->m; k++)
        if (!(g->weight[k] >= minw))
            minw = isnan (g->weight[k]) ? -INFINITY : g->weight[k];
    if (loom_comm_allreduce_f64 (comm, &minw, 1, LOOM_OP_MIN, error) < 0)
        goto error;
    g->min_weight = minw;
    g->nv_global = tot[0];
    g->ne_global = tot[1];
    /* In-edges and mirrors for broadcasts (pull.c): built here so that load time
     * includes them and a job's first superstep does not.
     */
    if (pregel_graph_build_pull (g, error) < 0)
        goto error;
    g->load_sec = loom_clock_sec () - t0;
    loom_trace_end (span, g->n, g->m, g->ng);
    return g;
error:
    free (src);
    free (dst);
    free (weight);
    free (edges.p);
    loom_pregel_graph_destroy (g);
    loom_trace_end (span);
    return NULL;
}

loom_pregel_graph_t *
loom_pregel_graph_from_edges (MPI_Comm comm,
                              size_t m,
                              const uint64_t *src,
                              const uint64_t *dst,
                              const double *weight,
                              const struct loom_pregel_graph_params *params,
                              loom_error_t *error)
{
    struct loom_pregel_graph_params p = LOOM_PREGEL_GRAPH_PARAMS_INIT;
    if (params)
        p = *params;
    if (p.partition != LOOM_PREGEL_PART_HASH && p.partition != LOOM_PREGEL_PART_RANGE) {
        loom_errset (error, EINVAL, "unknown partitioning %d", (int)p.partition);
        return NULL;
    }
    if (m > 0 && (!src || !dst)) {
        loom_errset (error, EINVAL, "no edge arrays");
        return NULL;
    }
    loom_comm_t *lc = loom_comm_create (comm, NULL, error);
    if (!lc)
        return NULL;
    /* Whether edges are weighted must agree: a rank with no edges may pass NULL. */
    uint64_t w[2] = {weight != NULL, m > 0 && weight == NULL};
    if (loom_comm_allreduce_u64 (lc, w, 2, LOOM_OP_MAX, error) < 0) {
        loom_comm_destroy (lc);
        return NULL;
    }
    int weighted = w[0] && !w[1];
    uint64_t *s = malloc ((m + 1) * sizeof (uint64_t));
    uint64_t *d = malloc ((m + 1) * sizeof (uint64_t));
    double *wt = weighted ? malloc ((m + 1) * sizeof (double)) : NULL;
    if (m > 0) {
        if (s)
            memcpy (s, src, m * sizeof (uint64_t));
        if (d)
            memcpy (d, dst, m * sizeof (uint64_t));
        if (wt && weight)
            memcpy (wt, weight, m * sizeof (double));
    }
    int bad = !s || !d || (weighted && !wt);
    loom_error_t tmp;
    if (bad)
        loom_errset (&tmp, ENOMEM, "out of memory copying %zu edges", m);
    if (pregel_agree (lc, bad, &tmp) < 0) {
        if (error)
            *error = tmp;
        free (s);
        free (d);
        free (wt);
        loom_comm_destroy (lc);
        return NULL;
    }
    return pregel_graph_build_ex (lc, m, s, d, wt, weighted, 0, &p, error);
}

void loom_pregel_graph_info (const loom_pregel_graph_t *g,
                             struct loom_pregel_graph_info *info)
{
    info->vertices = g->nv_global;
    info->edges = g->ne_global;
    info->local_vertices = g->n;
    info->local_edges = g->m;
    info->ghosts = g->ng;
    info->weighted = g->weight != NULL;
    info->load_sec = g->load_sec;
    info->min_weight = g->min_weight;
    info->mirrors = g->nm;
    /* Out-CSR (ids, offsets, targets, weights), ghosts, and the in-edges with their
     * mirror lists (pull.c).
     */
    uint64_t in_edges = g->in_off ? g->in_off[g->n] : 0;
    uint64_t mo = g->mo_off ? g->mo_off[g->size] : 0;
    info->bytes = g->n * (sizeof (uint64_t) * 2) + sizeof (uint64_t)
                  + g->m * (sizeof (uint32_t) + (g->weight ? sizeof (double) : 0))
                  + g->ng * (sizeof (uint64_t) + sizeof (uint32_t))
                  + ((size_t)g->size + 1) * sizeof (size_t) * 3
                  + (g->in_off ? (g->n + 1) * sizeof (uint64_t) : 0)
                  + in_edges * sizeof (uint32_t) + mo * 2 * sizeof (uint32_t)
                  + g->ns * sizeof (uint32_t);
}

const uint64_t *loom_pregel_graph_ids (const loom_pregel_graph_t *g, size_t *n)
{
    *n = g->n;
    return g->ids;
}

int loom_pregel_graph_has_vertex (loom_pregel_graph_t *g, uint64_t id)
{
    /* A replayed partition has no peers to ask; the captured run already checked. */
    if (g->replay)
        return 1;
    /* Ask the owner: one shuffle each way, like the ghost exchange. */
    struct growbuf q = {0}, a = {0};
    loom_error_t err;
    int result = -1;
    loom_shuffle_t *sh = open_shuffle (g, 8, 1, &q, &err);
    uint64_t me = (uint64_t)g->rank;
    int failed = !sh || loom_shuffle_put (sh, &id, 8, &me, 8, &err) < 0;
    if (sh && loom_shuffle_finish (sh, &err) < 0)
        failed = 1;
    loom_shuffle_destroy (sh);
    if (pregel_agree (g->comm, failed, &err) < 0)
        goto done;
    sh = open_shuffle (g, 8, 0, &a, &err);
    failed = !sh;
    for (size_t i = 0; !failed && i < q.len / 16; i++) {
        uint64_t qid, asker;
        memcpy (&qid, q.p + 16 * i, 8);
        memcpy (&asker, q.p + 16 * i + 8, 8);
        uint64_t yes = pregel_local_index (g, qid) >= 0;
        failed = loom_shuffle_put_to (sh, (int)asker, &qid, 8, &yes, 8, &err) < 0;
    }
    if (sh && loom_shuffle_finish (sh, &err) < 0)
        failed = 1;
    loom_shuffle_destroy (sh);
    if (pregel_agree (g->comm, failed, &err) < 0)
        goto done;
    if (a.len == 16) {
        uint64_t yes;
        memcpy (&yes, a.p + 8, 8);
        result = yes != 0;
    } else {
        errno = EIO;
    }
done:
    free (q.p);
    free (a.p);
    return result;
}
