/* SPDX-License-Identifier: MIT */
/* Vertex programs of the graph apps (see algos.h). */
#include <math.h>
#include <string.h>

#include <loom/error.h>

#include "algos.h"

/* ---- PageRank ---------------------------------------------------------------- */

static void pr_init (loom_pregel_ctx_t *ctx, loom_pregel_vertex_t *v, void *arg)
{
    double r = 1.0 / (double)loom_pregel_num_vertices (ctx);
    memcpy (loom_pregel_vertex_value (v), &r, sizeof (r));
}

/* Share the rank along the out-edges; a vertex without any gives it to everybody
 * through the dangling aggregator.
 */
static void pr_scatter (struct algo_pagerank *pr,
                        loom_pregel_ctx_t *ctx,
                        loom_pregel_vertex_t *v,
                        double rank)
{
    size_t deg = loom_pregel_vertex_degree (v);
    if (deg == 0) {
        uint64_t f = algo_pr_fixed (rank);
        loom_pregel_aggregate (ctx, pr->agg_dangling, &f);
        return;
    }
    uint64_t share = algo_pr_fixed (rank / (double)deg);
    loom_pregel_send_to_neighbours (ctx, v, &share);
}

static void pr_compute (loom_pregel_ctx_t *ctx,
                        loom_pregel_vertex_t *v,
                        const void *msgs,
                        size_t nmsgs,
                        void *arg)
{
    struct algo_pagerank *pr = arg;
    double *value = loom_pregel_vertex_value (v);
    uint64_t step = loom_pregel_superstep (ctx);
    if (step > 0) {
        if (pr->base_step != step + 1) {
            uint64_t dangling;
            loom_pregel_aggregated (ctx, pr->agg_dangling, &dangling);
            pr->base = algo_pr_base (pr->damping,
                                     (double)loom_pregel_num_vertices (ctx), dangling);
            pr->base_step = step + 1;
        }
        uint64_t sum = 0;
        if (nmsgs)
            memcpy (&sum, msgs, sizeof (sum));
        double next = algo_pr_update (pr->base, pr->damping, sum);
        if (pr->tolerance > 0) {
            uint64_t delta = algo_pr_fixed (fabs (next - *value));
            loom_pregel_aggregate (ctx, pr->agg_delta, &delta);
        }
        *value = next;
        if (pr->iterations && step >= pr->iterations) {
            loom_pregel_vote_to_halt (v);
            return;
        }
    }
    pr_scatter (pr, ctx, v, *value);
}

static void pr_master (loom_pregel_ctx_t *ctx, void *arg)
{
    struct algo_pagerank *pr = arg;
    uint64_t step = loom_pregel_superstep (ctx);
    if (step < 2) /* superstep 1 is the first iteration: no delta before it */
        return;
    uint64_t delta;
    loom_pregel_aggregated (ctx, pr->agg_delta, &delta);
    pr->iterations_run = step - 1;
    pr->last_delta = (double)delta / ALGO_PR_ONE;
    if (pr->tolerance > 0 && pr->last_delta < pr->tolerance)
        loom_pregel_halt (ctx);
}

void algo_pagerank_program (struct loom_pregel_program *prog, struct algo_pagerank *pr)
{
    struct loom_pregel_program p = LOOM_PREGEL_PROGRAM_INIT;
    p.value_size = 8;
    p.value_type = LOOM_PREGEL_F64;
    p.message_size = 8;
    p.message_type = LOOM_PREGEL_U64;
    p.combiner = LOOM_PREGEL_SUM;
    p.init = pr_init;
    p.compute = pr_compute;
    p.master = pr_master;
    p.arg = pr;
    *prog = p;
}

int algo_pagerank_setup (loom_pregel_t *job,
                         struct algo_pagerank *pr,
                         loom_error_t *error)
{
    pr->agg_dangling = loom_pregel_add_aggregator (job, LOOM_PREGEL_SUM,
                                                   LOOM_PREGEL_U64, 8, NULL, error);
    pr->agg_delta = loom_pregel_add_aggregator (job, LOOM_PREGEL_SUM, LOOM_PREGEL_U64,
                                                8, NULL, error);
    pr->iterations_run = 0;
    pr->last_delta = 0;
    pr->base_step = 0;
    return pr->agg_dangling < 0 || pr->agg_delta < 0 ? -1 : 0;
}

/* ---- Connected components (HashMin) -------------------------------------------- */

static void cc_init (loom_pregel_ctx_t *ctx, loom_pregel_vertex_t *v, void *arg)
{
    uint64_t id = loom_pregel_vertex_id (v);
    memcpy (loom_pregel_vertex_value (v), &id, sizeof (id));
}

static void cc_compute (loom_pregel_ctx_t *ctx,
                        loom_pregel_vertex_t *v,
                        const void *msgs,
                        size_t nmsgs,
                        void *arg)
{
    uint64_t *label = loom_pregel_vertex_value (v);
    if (loom_pregel_superstep (ctx) == 0) {
        loom_pregel_send_to_neighbours (ctx, v, label);
    } else if (nmsgs) {
        uint64_t m;
        memcpy (&m, msgs, sizeof (m));
        if (m < *label) {
            *label = m;
            loom_pregel_send_to_neighbours (ctx, v, label);
        }
    }
    loom_pregel_vote_to_halt (v);
}

void algo_cc_program (struct loom_pregel_program *prog)
{
    struct loom_pregel_program p = LOOM_PREGEL_PROGRAM_INIT;
    p.value_size = 8;
    p.value_type = LOOM_PREGEL_U64;
    p.message_size = 8;
    p.message_type = LOOM_PREGEL_U64;
    p.combiner = LOOM_PREGEL_MIN;
    p.init = cc_init;
    p.compute = cc_compute;
    *prog = p;
}

/* ---- SSSP ------------------------------------------------------------------------ */

static void sssp_init (loom_pregel_ctx_t *ctx, loom_pregel_vertex_t *v, void *arg)
{
    const struct algo_source *s = arg;
    double d = loom_pregel_vertex_id (v) == s->source ? 0.0 : INFINITY;
    memcpy (loom_pregel_vertex_value (v), &d, sizeof (d));
}

static void sssp_relax (loom_pregel_ctx_t *ctx, loom_pregel_vertex_t *v, double dist)
{
    size_t deg = loom_pregel_vertex_degree (v);
    for (size_t i = 0; i < deg; i++) {
        double nd = dist + loom_pregel_vertex_edge_weight (v, i);
        loom_pregel_send_edge (ctx, v, i, &nd);
    }
}

static void sssp_compute (loom_pregel_ctx_t *ctx,
                          loom_pregel_vertex_t *v,
                          const void *msgs,
                          size_t nmsgs,
                          void *arg)
{
    double *dist = loom_pregel_vertex_value (v);
    if (loom_pregel_superstep (ctx) == 0) {
        if (*dist == 0.0)
            sssp_relax (ctx, v, 0.0);
    } else if (nmsgs) {
        double m;
        memcpy (&m, msgs, sizeof (m));
        if (m < *dist) {
            *dist = m;
            sssp_relax (ctx, v, m);
        }
    }
    loom_pregel_vote_to_halt (v);
}

void algo_sssp_program (struct loom_pregel_program *prog, struct algo_source *src)
{
    struct loom_pregel_program p = LOOM_PREGEL_PROGRAM_INIT;
    p.value_size = 8;
    p.value_type = LOOM_PREGEL_F64;
    p.message_size = 8;
    p.message_type = LOOM_PREGEL_F64;
    p.combiner = LOOM_PREGEL_MIN;
    p.init = sssp_init;
    p.compute = sssp_compute;
    p.arg = src;
    *prog = p;
}

/* ---- BFS ------------------------------------------------------------------------- */

static void bfs_init (loom_pregel_ctx_t *ctx, loom_pregel_vertex_t *v, void *arg)
{
    const struct algo_source *s = arg;
    int64_t d = loom_pregel_vertex_id (v) == s->source ? 0 : -1;
    memcpy (loom_pregel_vertex_value (v), &d, sizeof (d));
}

static void bfs_compute (loom_pregel_ctx_t *ctx,
                         loom_pregel_vertex_t *v,
                         const void *msgs,
                         size_t nmsgs,
                         void *arg)
{
    int64_t *depth = loom_pregel_vertex_value (v);
    if (loom_pregel_superstep (ctx) == 0) {
        if (*depth == 0) {
            int64_t next = 1;
            loom_pregel_send_to_neighbours (ctx, v, &next);
        }
    } else if (nmsgs && *depth < 0) {
        /* The first wave to arrive is the shortest: all messages of one superstep
         * carry the same depth.
         */
        memcpy (depth, msgs, sizeof (*depth));
        int64_t next = *depth + 1;
        loom_pregel_send_to_neighbours (ctx, v, &next);
    }
    loom_pregel_vote_to_halt (v);
}

void algo_bfs_program (struct loom_pregel_program *prog, struct algo_source *src)
{
    struct loom_pregel_program p = LOOM_PREGEL_PROGRAM_INIT;
    p.value_size = 8;
    p.value_type = LOOM_PREGEL_I64;
    p.message_size = 8;
    p.message_type = LOOM_PREGEL_I64;
    p.combiner = LOOM_PREGEL_MIN;
    p.init = bfs_init;
    p.compute = bfs_compute;
    p.arg = src;
    *prog = p;
}
