/* SPDX-License-Identifier: MIT */
/* The graph algorithms of the Pregel apps as vertex programs, shared by the apps
 * (loom-pagerank, loom-cc, loom-sssp, loom-bfs), the tests and the benchmarks so that
 * what is tested and measured is what users run.
 */
#ifndef LOOM_APPS_PREGEL_ALGOS_H
#define LOOM_APPS_PREGEL_ALGOS_H

#include <stdint.h>

#include <loom/pregel.h>

/* PageRank sums contributions in fixed point with 62 fraction bits: integer sums are
 * exact in any order, so the ranks are bit-identical at any number of ranks (a
 * float sum would depend on how the graph is partitioned). Ranks sum to 1, so sums
 * stay below 2^62; the rounding error is 2^-63 per contribution.
 */
#define ALGO_PR_ONE 0x1p62

static inline uint64_t algo_pr_fixed (double x)
{
    return (uint64_t)(x * ALGO_PR_ONE + 0.5);
}

/* The PageRank update, shared with the tests' serial fixed-point oracle, in two
 * steps so the per-vertex part is one multiply-add:
 *   base = (1-d)/n + d * dangling/n     (once per superstep)
 *   pr'  = base + d * sum               (per vertex)
 * with the sums in fixed point.
 */
static inline double algo_pr_base (double d, double n, uint64_t dangling_fixed)
{
    return (1.0 - d) / n + d * ((double)dangling_fixed / ALGO_PR_ONE / n);
}

static inline double algo_pr_update (double base, double d, uint64_t sum_fixed)
{
    return base + d * ((double)sum_fixed / ALGO_PR_ONE);
}

struct algo_pagerank {
    double damping;      /* 0.85 */
    uint64_t iterations; /* stop after this many (0: until tolerance) */
    double tolerance;    /* stop when the L1 change of an iteration is below (0: off) */
    /* filled by algo_pagerank_setup() and while running */
    int agg_dangling, agg_delta;
    uint64_t base_step; /* superstep 'base' was computed for (+1; 0: none) */
    double base;
    uint64_t iterations_run;
    double last_delta;
};

/* Program for pagerank (value f64 rank, message u64 fixed point, sum combiner); 'pr'
 * is its argument. Call algo_pagerank_setup() after loom_pregel_create().
 */
void algo_pagerank_program (struct loom_pregel_program *prog, struct algo_pagerank *pr);
int algo_pagerank_setup (loom_pregel_t *job,
                         struct algo_pagerank *pr,
                         loom_error_t *error);

/* Connected components by HashMin label propagation on a symmetric graph (load with
 * LOOM_PREGEL_SYMMETRIC): value u64 label = smallest id in the component.
 */
void algo_cc_program (struct loom_pregel_program *prog);

/* Single-source shortest paths (weights >= 0; 1 when unweighted): value f64
 * distance, INFINITY when unreachable.
 */
struct algo_source {
    uint64_t source;
};
void algo_sssp_program (struct loom_pregel_program *prog, struct algo_source *src);

/* Breadth-first search along out-edges: value i64 depth, -1 when unreachable. */
void algo_bfs_program (struct loom_pregel_program *prog, struct algo_source *src);

#endif
