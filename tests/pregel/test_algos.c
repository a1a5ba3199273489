/* SPDX-License-Identifier: MIT */
/* MPI test: the graph apps' vertex programs against the serial oracles (ref.c), at
 * any number of ranks, on R-MAT and uniform graphs, with hash and range partitioning.
 *
 *   PageRank: bit-identical to a serial run of the same fixed-point arithmetic (so
 *             identical at every np), and L1 < 1e-9 * n from the float reference;
 *   CC      = union-find;  SSSP = Dijkstra;  BFS = serial BFS  (exactly).
 *
 * Every rank builds the graph from its own slice of the generated edges; results
 * are gathered on rank 0, which checks them. Any failure makes every rank exit 1.
 */
#include <inttypes.h>
#include <math.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/error.h>
#include <loom/pregel.h>

#include "algos.h"
#include "ref.h"

static int rank, size, failures;

static void fail (const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    fprintf (stderr, "rank %d: FAIL: ", rank);
    vfprintf (stderr, fmt, ap);
    fputc ('\n', stderr);
    va_end (ap);
    failures++;
}

struct edges {
    size_t m; /* this rank's slice */
    uint64_t *src, *dst;
    double *w;
    size_t M; /* all edges (rank 0 keeps them for the oracle) */
    uint64_t *asrc, *adst;
    double *aw;
};

static void make_edges (struct edges *e,
                        loom_pregel_gen_kind_t kind,
                        unsigned scale,
                        unsigned ef,
                        uint64_t seed)
{
    struct loom_pregel_gen_params p = LOOM_PREGEL_GEN_PARAMS_INIT;
    p.kind = kind;
    p.scale = scale;
    p.edgefactor = ef;
    p.seed = seed;
    e->M = loom_pregel_gen_num_edges (&p);
    size_t first = e->M * (size_t)rank / (size_t)size;
    size_t last = e->M * ((size_t)rank + 1) / (size_t)size;
    e->m = last - first;
    e->src = malloc ((e->m + 1) * 8);
    e->dst = malloc ((e->m + 1) * 8);
    e->w = malloc ((e->m + 1) * 8);
    e->asrc = malloc ((e->M + 1) * 8);
    e->adst = malloc ((e->M + 1) * 8);
    e->aw = malloc ((e->M + 1) * 8);
    loom_error_t err;
    if (loom_pregel_gen_edges (&p, first, e->m, e->src, e->dst, e->w, &err) < 0
        || loom_pregel_gen_edges (&p, 0, e->M, e->asrc, e->adst, e->aw, &err) < 0)
        fail ("generator: %s", err.text);
}

static void free_edges (struct edges *e)
{
    free (e->src);
    free (e->dst);
    free (e->w);
    free (e->asrc);
    free (e->adst);
    free (e->aw);
}

/* Gather (id, 8-byte value) of every rank on rank 0, sorted by id into vals[]
 * indexed like the oracle graph. Returns the count gathered (on rank 0).
 */
static size_t gather (loom_pregel_graph_t *g,
                      loom_pregel_t *job,
                      const struct ref_graph *r,
                      uint64_t *vals)
{
    size_t n;
    const uint64_t *ids = loom_pregel_graph_ids (g, &n);
    uint64_t *pairs = malloc ((2 * n + 1) * 8);
    memcpy (pairs, ids, n * 8);
    memcpy (pairs + n, loom_pregel_values (job), n * 8);
    int cnt = (int)(2 * n), *counts = NULL, *displs = NULL, total = 0;
    uint64_t *all = NULL;
    if (rank == 0) {
        counts = malloc (size * sizeof (int));
        displs = malloc (size * sizeof (int));
    }
    MPI_Gather (&cnt, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        for (int i = 0; i < size; i++) {
            displs[i] = total;
            total += counts[i];
        }
        all = malloc (((size_t)total + 1) * 8);
    }
    MPI_Gatherv (pairs, cnt, MPI_UINT64_T, all, counts, displs, MPI_UINT64_T, 0,
                 MPI_COMM_WORLD);
    size_t got = 0;
    if (rank == 0) {
        for (int i = 0; i < size; i++) {
            size_t k = (size_t)counts[i] / 2;
            const uint64_t *ids_r = all + displs[i], *vals_r = all + displs[i] + k;
            for (size_t j = 0; j < k; j++) {
                size_t at = ref_graph_find (r, ids_r[j]);
                if (at == (size_t)-1) {
                    fail ("vertex %" PRIu64 " is not in the graph", ids_r[j]);
                    continue;
                }
                vals[at] = vals_r[j];
                got++;
            }
        }
        if (got != r->n)
            fail ("gathered %zu vertices, the graph has %zu", got, r->n);
    }
    free (pairs);
    free (all);
    free (counts);
    free (displs);
    return got;
}

/* Serial PageRank with exactly the app's fixed-point arithmetic. */
static void pagerank_fixed (const struct ref_graph *g, double d, int iters, double *pr)
{
    uint64_t *sum = malloc ((g->n + 1) * 8);
    for (size_t v = 0; v < g->n; v++)
        pr[v] = 1.0 / (double)g->n;
    for (int it = 0; it < iters; it++) {
        uint64_t dangling = 0;
        memset (sum, 0, g->n * 8);
        for (size_t u = 0; u < g->n; u++) {
            size_t deg = g->off[u + 1] - g->off[u];
            if (deg == 0) {
                dangling += algo_pr_fixed (pr[u]);
                continue;
            }
            uint64_t share = algo_pr_fixed (pr[u] / (double)deg);
            for (size_t e = g->off[u]; e < g->off[u + 1]; e++)
                sum[g->dst[e]] += share;
        }
        double base = algo_pr_base (d, (double)g->n, dangling);
        for (size_t v = 0; v < g->n; v++)
            pr[v] = algo_pr_update (base, d, sum[v]);
    }
    free (sum);
}

static loom_pregel_t *
run (loom_pregel_graph_t *g, struct loom_pregel_program *prog, struct algo_pagerank *pr)
{
    loom_error_t err;
    loom_pregel_t *job = loom_pregel_create (g, prog, NULL, &err);
    if (!job || (pr && algo_pagerank_setup (job, pr, &err) < 0)
        || loom_pregel_run (job, &err) < 0) {
        fail ("run: %s", err.text);
        loom_pregel_destroy (job);
        return NULL;
    }
    return job;
}

static void check_graph (const char *what,
                         struct edges *e,
                         const struct loom_pregel_graph_params *gp)
{
    loom_error_t err;
    struct ref_graph r = {0};
    if (rank == 0 && ref_graph_build (&r, e->M, e->asrc, e->adst, e->aw) < 0)
        fail ("%s: oracle graph", what);
    size_t n = r.n;
    uint64_t *vals = malloc ((n + 1) * 8);

    loom_pregel_graph_t *g = loom_pregel_graph_from_edges (MPI_COMM_WORLD, e->m, e->src,
                                                           e->dst, e->w, gp, &err);
    if (!g) {
        fail ("%s: graph: %s", what, err.text);
        goto done;
    }
    struct loom_pregel_graph_info info;
    loom_pregel_graph_info (g, &info);
    if (rank == 0 && (info.vertices != n || info.edges != e->M || !info.weighted))
        fail ("%s: graph has %" PRIu64 " vertices / %" PRIu64
              " edges, expected %zu / %zu",
              what, info.vertices, info.edges, n, e->M);

    /* PageRank, 10 iterations. */
    struct algo_pagerank pr = {.damping = 0.85, .iterations = 10};
    struct loom_pregel_program prog;
    algo_pagerank_program (&prog, &pr);
    loom_pregel_t *job = run (g, &prog, &pr);
    if (job) {
        gather (g, job, &r, vals);
        if (rank == 0) {
            double *want = malloc ((n + 1) * 8), *fx = malloc ((n + 1) * 8), l1 = 0;
            ref_pagerank (&r, 0.85, 10, want);
            pagerank_fixed (&r, 0.85, 10, fx);
            size_t diff = 0;
            for (size_t v = 0; v < n; v++) {
                double got;
                memcpy (&got, &vals[v], 8);
                l1 += fabs (got - want[v]);
                diff += memcmp (&got, &fx[v], 8) != 0;
            }
            if (!(l1 < 1e-9 * (double)n))
                fail ("%s: pagerank L1 %g >= 1e-9 n", what, l1);
            if (diff)
                fail (
                    "%s: pagerank differs from the fixed-point oracle at %zu vertices",
                    what, diff);
            free (want);
            free (fx);
        }
        loom_pregel_destroy (job);
    }

    /* PageRank until converged: stops by the master hook, close to the reference. */
    struct algo_pagerank prt = {.damping = 0.85, .iterations = 0, .tolerance = 1e-10};
    algo_pagerank_program (&prog, &prt);
    job = run (g, &prog, &prt);
    if (job) {
        struct loom_pregel_stats st;
        loom_pregel_stats (job, &st);
        if (st.supersteps < 5 || st.supersteps > 200 || !(prt.last_delta < 1e-10))
            fail ("%s: pagerank --tolerance ran %" PRIu64 " supersteps, last delta %g",
                  what, st.supersteps, prt.last_delta);
        loom_pregel_destroy (job);
    }

    /* SSSP and BFS from the source of edge 0 (a vertex with out-edges). */
    struct algo_source src = {.source = e->asrc[0]};
    algo_sssp_program (&prog, &src);
    job = run (g, &prog, NULL);
    if (job) {
        gather (g, job, &r, vals);
        if (rank == 0) {
            double *want = malloc ((n + 1) * 8);
            ref_sssp (&r, ref_graph_find (&r, src.source), want);
            size_t diff = 0, reached = 0;
            for (size_t v = 0; v < n; v++) {
                double got;
                memcpy (&got, &vals[v], 8);
                diff += !(got == want[v]);
                reached += !isinf (want[v]);
            }
            if (diff)
                fail ("%s: sssp differs from Dijkstra at %zu vertices", what, diff);
            if (reached < 2)
                fail ("%s: sssp test graph reaches only %zu vertices", what, reached);
            free (want);
        }
        loom_pregel_destroy (job);
    }
    algo_bfs_program (&prog, &src);
    job = run (g, &prog, NULL);
    if (job) {
        gather (g, job, &r, vals);
        if (rank == 0) {
            int64_t *want = malloc ((n + 1) * 8);
            ref_bfs (&r, ref_graph_find (&r, src.source), want);
            size_t diff = 0;
            for (size_t v = 0; v < n; v++)
                diff += (int64_t)vals[v] != want[v];
            if (diff)
                fail ("%s: bfs differs from serial BFS at %zu vertices", what, diff);
            free (want);
        }
        loom_pregel_destroy (job);
    }
    loom_pregel_graph_destroy (g);

    /* CC on the symmetric graph. */
    struct loom_pregel_graph_params sp = *gp;
    sp.flags |= LOOM_PREGEL_SYMMETRIC;
    g = loom_pregel_graph_from_edges (MPI_COMM_WORLD, e->m, e->src, e->dst, NULL, &sp,
                                      &err);
    if (!g) {
        fail ("%s: symmetric graph: %s", what, err.text);
        goto done;
    }
    algo_cc_program (&prog);
    job = run (g, &prog, NULL);
    if (job) {
        gather (g, job, &r, vals);
        if (rank == 0) {
            uint64_t *want = malloc ((n + 1) * 8);
            ref_cc (&r, want);
            size_t diff = 0;
            for (size_t v = 0; v < n; v++)
                diff += vals[v] != want[v];
            if (diff)
                fail ("%s: cc differs from union-find at %zu vertices", what, diff);
            free (want);
        }
        loom_pregel_destroy (job);
    }
    loom_pregel_graph_destroy (g);
done:
    free (vals);
    if (rank == 0)
        ref_graph_free (&r);
}

int main (int argc, char **argv)
{
    MPI_Init (&argc, &argv);
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);

    struct edges e;
    struct loom_pregel_graph_params hash = LOOM_PREGEL_GRAPH_PARAMS_INIT;
    struct loom_pregel_graph_params range = LOOM_PREGEL_GRAPH_PARAMS_INIT;
    hash.seed = 7;
    range.partition = LOOM_PREGEL_PART_RANGE;

    make_edges (&e, LOOM_PREGEL_GEN_RMAT, 10, 8, 42);
    check_graph ("rmat-10/hash", &e, &hash);
    check_graph ("rmat-10/range", &e, &range);
    free_edges (&e);
    make_edges (&e, LOOM_PREGEL_GEN_URAND, 9, 2, 5);
    check_graph ("urand-9/hash", &e, &hash);
    free_edges (&e);

    int all = 0;
    MPI_Allreduce (&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf ("test_algos: %d ranks: %s\n", size,
                all ? "FAILED" : "all checks passed");
    MPI_Finalize ();
    return all ? 1 : 0;
}
