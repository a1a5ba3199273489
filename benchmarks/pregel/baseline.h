/* SPDX-License-Identifier: MIT */
/* The single-threaded baseline the Pregel benchmark is judged against: a competent
 * pull-based PageRank over an in-edge CSR, in the spirit of the laptop thread of
 * "Scalability! But at what COST?" (McSherry et al., HotOS 2015). Building the CSR is
 * timed separately from the iterations.
 */
#ifndef LOOM_BENCH_PREGEL_BASELINE_H
#define LOOM_BENCH_PREGEL_BASELINE_H

#include <stddef.h>
#include <stdint.h>

struct baseline_graph {
    size_t n, m;
    uint32_t *in_off; /* n+1 offsets into in_src */
    uint32_t *in_src; /* m sources, dense indices */
    uint32_t *outdeg; /* n */
    double *rank, *contrib;
};

/* Build from m edges whose ids are < 2^scale. Vertices are the ids that appear,
 * renumbered densely in id order (as Pregel does). Returns 0 or -1 (ENOMEM, or more
 * than 2^32 - 1 edges).
 */
int baseline_build (struct baseline_graph *g,
                    unsigned scale,
                    size_t m,
                    const uint64_t *src,
                    const uint64_t *dst);

/* Reset ranks to 1/n. */
void baseline_reset (struct baseline_graph *g);

/* One PageRank iteration with damping d, dangling mass spread evenly. */
void baseline_iterate (struct baseline_graph *g, double d);

void baseline_free (struct baseline_graph *g);

/* Connected components of the undirected graph by union-find (path halving, union
 * by smaller index) over ids < 2^scale; returns the number of components among the
 * ids that appear in an edge. The single-threaded baseline for label propagation.
 */
uint64_t
baseline_cc (unsigned scale, size_t m, const uint64_t *src, const uint64_t *dst);

#endif
