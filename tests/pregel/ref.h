/* SPDX-License-Identifier: MIT */
/* Serial reference graph algorithms: the oracles Pregel's results are checked against.
 * Deliberately simple and obviously right; speed is not their job (the benchmark
 * baseline in benchmarks/pregel/ is the fast one).
 *
 * A graph is given as an edge list; its vertices are the distinct ids that appear as a
 * source or a destination, numbered 0..n-1 in increasing id order (ref_graph.ids).
 */
#ifndef LOOM_TESTS_PREGEL_REF_H
#define LOOM_TESTS_PREGEL_REF_H

#include <stddef.h>
#include <stdint.h>

struct ref_graph {
    size_t n, m;
    uint64_t *ids;  /* n sorted vertex ids */
    size_t *off;    /* n+1 out-edge offsets */
    size_t *dst;    /* m destinations, as indices into ids */
    double *weight; /* m weights, or NULL */
};

/* Build from m edges; weight may be NULL. Returns 0, or -1 on ENOMEM. */
int ref_graph_build (struct ref_graph *g,
                     size_t m,
                     const uint64_t *src,
                     const uint64_t *dst,
                     const double *weight);
void ref_graph_free (struct ref_graph *g);

/* Index of vertex id in g->ids, or (size_t)-1. */
size_t ref_graph_find (const struct ref_graph *g, uint64_t id);

/* PageRank with damping d, 'iters' iterations from 1/n, dangling mass spread evenly:
 * pr'(v) = (1-d)/n + d * (sum_{u->v} pr(u)/outdeg(u) + dangling/n).
 * Multi-edges count with their multiplicity. out[n].
 */
void ref_pagerank (const struct ref_graph *g, double d, int iters, double *out);

/* Connected components of the undirected graph (edge direction ignored): out[v] is the
 * smallest vertex id in v's component (what HashMin converges to). Union-find.
 */
void ref_cc (const struct ref_graph *g, uint64_t *out);

/* Dijkstra from index 'source' (weights must be >= 0; NULL weights count 1).
 * out[v] = distance, or INFINITY when unreachable.
 */
void ref_sssp (const struct ref_graph *g, size_t source, double *out);

/* BFS from index 'source' along out-edges: out[v] = depth, or -1 when unreachable. */
void ref_bfs (const struct ref_graph *g, size_t source, int64_t *out);

#endif
