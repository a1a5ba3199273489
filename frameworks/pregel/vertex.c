/* SPDX-License-Identifier: MIT */
/* What compute() can do: read the vertex, walk its edges, send messages, aggregate.
 * These run once per vertex or per edge, so they do no checks beyond assertions;
 * the edge loops of broadcasts are in pull.c.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

uint64_t loom_pregel_vertex_id (const loom_pregel_vertex_t *v)
{
    return v->job->g->ids[v->lid];
}

void *loom_pregel_vertex_value (loom_pregel_vertex_t *v)
{
    return v->job->values + v->lid * v->job->vs;
}

size_t loom_pregel_vertex_degree (const loom_pregel_vertex_t *v)
{
    const struct loom_pregel_graph *g = v->job->g;
    return (size_t)(g->off[v->lid + 1] - g->off[v->lid]);
}

uint64_t loom_pregel_vertex_edge_target (const loom_pregel_vertex_t *v, size_t i)
{
    const struct loom_pregel_graph *g = v->job->g;
    assert (i < loom_pregel_vertex_degree (v));
    uint32_t slot = g->tgt[g->off[v->lid] + i];
    return slot < g->n ? g->ids[slot] : g->ghost_id[slot - g->n];
}

double loom_pregel_vertex_edge_weight (const loom_pregel_vertex_t *v, size_t i)
{
    const struct loom_pregel_graph *g = v->job->g;
    assert (i < loom_pregel_vertex_degree (v));
    return g->weight ? g->weight[g->off[v->lid] + i] : 1.0;
}

void loom_pregel_vote_to_halt (loom_pregel_vertex_t *v)
{
    v->job->halted[v->lid] = 1;
}

int pregel_list_reserve (struct loom_pregel *job, size_t more)
{
    if (job->list_n + more <= job->list_cap)
        return 0;
    size_t cap = job->list_cap ? job->list_cap : 1024;
    while (cap < job->list_n + more)
        cap *= 2;
    uint32_t *s = realloc (job->list_slot, cap * sizeof (uint32_t));
    if (s)
        job->list_slot = s;
    uint8_t *m = realloc (job->list_msg, cap * job->ms);
    if (m)
        job->list_msg = m;
    if (!s || !m) {
        job->failed = ENOMEM;
        return -1;
    }
    job->list_cap = cap;
    return 0;
}

void pregel_combine (struct loom_pregel *job, void *acc, const void *in)
{
    switch (job->fast) {
#define CASE(kind, T, expr)                                                            \
    case kind: {                                                                       \
        T a, b;                                                                        \
        memcpy (&a, acc, 8);                                                           \
        memcpy (&b, in, 8);                                                            \
        a = (expr);                                                                    \
        memcpy (acc, &a, 8);                                                           \
        break;                                                                         \
    }
        CASE (FAST_SUM_F64, double, a + b)
        CASE (FAST_SUM_I64, int64_t, (int64_t)((uint64_t)a + (uint64_t)b))
        CASE (FAST_SUM_U64, uint64_t, a + b)
        CASE (FAST_MIN_F64, double, b < a ? b : a)
        CASE (FAST_MIN_I64, int64_t, b < a ? b : a)
        CASE (FAST_MIN_U64, uint64_t, b < a ? b : a)
        CASE (FAST_MAX_F64, double, b > a ? b : a)
        CASE (FAST_MAX_I64, int64_t, b > a ? b : a)
        CASE (FAST_MAX_U64, uint64_t, b > a ? b : a)
#undef CASE
    case FAST_USER:
        job->prog.combine (acc, in, job->prog.arg);
        break;
    case FAST_NONE:
        break;
    }
}

/* Put a message into slot 'slot' of this superstep's outbox. */
static inline void put_slot (struct loom_pregel *job, uint32_t slot, const void *msg)
{
    if (job->fast == FAST_NONE) {
        if (pregel_list_reserve (job, 1) < 0)
            return;
        job->list_slot[job->list_n] = slot;
        memcpy (job->list_msg + job->list_n * job->ms, msg, job->ms);
        job->list_n++;
        return;
    }
    uint8_t *acc = job->out + (size_t)slot * job->ms;
    if (job->fast == FAST_USER && !job->out_has[slot])
        memcpy (acc, msg, job->ms);
    else
        pregel_combine (job, acc, msg);
    job->out_has[slot] = 1;
}

void pregel_deliver_local (struct loom_pregel *job, size_t lid, const void *msg)
{
    put_slot (job, (uint32_t)lid, msg);
}

void loom_pregel_send_edge (loom_pregel_ctx_t *ctx,
                            loom_pregel_vertex_t *v,
                            size_t i,
                            const void *msg)
{
    struct loom_pregel *job = v->job;
    assert (i < loom_pregel_vertex_degree (v));
    put_slot (job, job->g->tgt[job->g->off[v->lid] + i], msg);
    job->sent_local++;
}

void loom_pregel_send_to_neighbours (loom_pregel_ctx_t *ctx,
                                     loom_pregel_vertex_t *v,
                                     const void *msg)
{
    struct loom_pregel *job = v->job;
    const struct loom_pregel_graph *g = job->g;
    const size_t lid = v->lid;
    const size_t deg = (size_t)(g->off[lid + 1] - g->off[lid]);
    job->sent_local += deg;
    if (deg == 0)
        return;
    if (job->fast == FAST_NONE) {
        const uint32_t *t = g->tgt + g->off[lid];
        for (size_t e = 0; e < deg; e++)
            put_slot (job, t[e], msg);
        return;
    }
    /* With a combiner: record it; after compute() it is pushed or pulled (pull.c).
     * Two broadcasts from one vertex combine: the same as sending both.
     */
    uint8_t *b = job->bcast + lid * job->ms;
    if (!job->bflag[lid]) {
        pregel_copy_msg (b, msg, job->ms);
        job->bflag[lid] = 1;
        job->nbcast++;
        job->bcast_edges += deg;
    } else {
        pregel_combine (job, b, msg);
    }
}

void loom_pregel_send (loom_pregel_ctx_t *ctx, uint64_t dst, const void *msg)
{
    struct loom_pregel *job = ctx->job;
    const struct loom_pregel_graph *g = job->g;
    job->sent_local++;
    int owner = pregel_owner (g, dst);
    if (owner == g->rank) {
        int64_t lid = pregel_local_index (g, dst);
        if (lid < 0)
            job->dropped++;
        else
            put_slot (job, (uint32_t)lid, msg);
        return;
    }
    /* A ghost of this rank? Its owner's ghosts are sorted by id. */
    size_t lo = g->peer_off[owner], hi = g->peer_off[owner + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->ghost_id[mid] < dst)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < g->peer_off[owner + 1] && g->ghost_id[lo] == dst) {
        put_slot (job, (uint32_t)(g->n + lo), msg);
        return;
    }
    /* Not a neighbour of anything here: routed by id after the edge exchange. */
    if (job->far_n == job->far_cap) {
        size_t cap = job->far_cap ? 2 * job->far_cap : 256;
        uint64_t *ids = realloc (job->far_id, cap * sizeof (uint64_t));
        if (ids)
            job->far_id = ids;
        uint8_t *m = realloc (job->far_msg, cap * job->ms);
        if (m)
            job->far_msg = m;
        if (!ids || !m) {
            job->failed = ENOMEM;
            return;
        }
        job->far_cap = cap;
    }
    job->far_id[job->far_n] = dst;
    memcpy (job->far_msg + job->far_n * job->ms, msg, job->ms);
    job->far_n++;
}

void loom_pregel_aggregate (loom_pregel_ctx_t *ctx, int id, const void *value)
{
    struct loom_pregel *job = ctx->job;
    assert (id >= 0 && (size_t)id < job->naggs);
    struct pregel_aggregator *a = &job->aggs[id];
    pregel_agg_fold (a, a->partial, value, job->prog.arg);
}

uint64_t loom_pregel_superstep (const loom_pregel_ctx_t *ctx)
{
    return ctx->job->superstep;
}

uint64_t loom_pregel_num_vertices (const loom_pregel_ctx_t *ctx)
{
    return ctx->job->g->nv_global;
}

void loom_pregel_aggregated (const loom_pregel_ctx_t *ctx, int id, void *out)
{
    const struct loom_pregel *job = ctx->job;
    assert (id >= 0 && (size_t)id < job->naggs);
    memcpy (out, job->aggs[id].value, job->aggs[id].size);
}

void loom_pregel_set_aggregated (loom_pregel_ctx_t *ctx, int id, const void *value)
{
    struct loom_pregel *job = ctx->job;
    assert (ctx->master && id >= 0 && (size_t)id < job->naggs);
    memcpy (job->aggs[id].value, value, job->aggs[id].size);
}

void loom_pregel_halt (loom_pregel_ctx_t *ctx)
{
    assert (ctx->master);
    ctx->job->halt_requested = true;
}

uint64_t loom_pregel_active_vertices (const loom_pregel_ctx_t *ctx)
{
    return ctx->job->active_prev;
}

uint64_t loom_pregel_pending_messages (const loom_pregel_ctx_t *ctx)
{
    return ctx->job->pending_prev;
}
