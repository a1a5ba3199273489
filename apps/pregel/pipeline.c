/* SPDX-License-Identifier: MIT */
/* loom-pipeline: the seed paper's data-sharing example in one job. A MapReduce step
 * builds the graph from a text edge list (parse, shuffle by source), its output stays
 * in memory and is handed to Pregel PageRank, and the top vertices are printed:
 *
 *     loom run pipeline -n 2 --edges edges.txt --top 10 [--graph g] [--output ranks]
 *
 * With --graph the built edge dataset is also written (src:u64,dst:u64, hash-
 * partitioned by src), so later jobs (loom run pagerank/cc/...) can share it.
 * Edge lines are "src dst [weight]" (whitespace-separated non-negative integer ids;
 * '#' starts a comment, as do lines starting with '%'); weights are accepted and
 * ignored by PageRank, and duplicate edges count once, as with loom-graph-build.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/comm.h>
#include <loom/error.h>
#include <loom/mapreduce.h>

#include "algos.h"
#include "app.h"

static void usage (void)
{
    printf ("Usage: loom run pipeline -n N --edges FILE.txt [--top K] [options]\n"
            "       mpirun -np N loom-pipeline --edges FILE.txt [--top K]\n\n"
            "MapReduce graph-build (text edges -> edges by source), then Pregel\n"
            "PageRank on the in-memory result, then the top K vertices.\n\n"
            "  --edges FILE           text edge list: 'src dst [weight]' per line\n"
            "  --top K                vertices to print (default 10)\n"
            "  --iterations N         PageRank iterations (default 20)\n"
            "  --graph PATH           also write the edge dataset built by step 1\n"
            "  --output PATH          write the ranks as a dataset\n"
            "  --quiet                print only the top vertices\n");
}

/* Parse one unsigned id; returns the position after it, or NULL. */
static const char *parse_id (const char *p, const char *end, uint64_t *out)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
        p++;
    if (p == end || !isdigit ((unsigned char)*p))
        return NULL;
    uint64_t v = 0;
    while (p < end && isdigit ((unsigned char)*p)) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return NULL;
        v = v * 10 + d;
        p++;
    }
    *out = v;
    return p;
}

/* Map: one text line -> (src, dst), skipping blank lines and comments. The value is
 * dst big-endian, so the grouping sort orders each vertex's edges by dst and reduce
 * sees duplicates side by side (as loom-graph-build does).
 */
static int edge_map (loom_mr_ctx_t *ctx, const struct loom_record *rec, void *arg)
{
    const char *p = rec->value, *end = p + rec->value_len;
    const char *hash = memchr (p, '#', rec->value_len);
    if (hash)
        end = hash;
    while (p < end && isspace ((unsigned char)*p))
        p++;
    if (p == end || *p == '%')
        return 0;
    uint64_t src, dst;
    const char *q = parse_id (p, end, &src);
    if (q)
        q = parse_id (q, end, &dst);
    if (!q) {
        int len = end - p > 60 ? 60 : (int)(end - p);
        return loom_mr_fail (ctx, EINVAL,
                             "%s: bad edge line '%.*s' (want 'src dst "
                             "[weight]' with integer ids)",
                             (const char *)arg, len, p);
    }
    uint64_t be = __builtin_bswap64 (dst);
    return loom_mr_emit (ctx, &src, 8, &be, 8);
}

/* Reduce: one vertex's targets in order; duplicate edges count once, as in
 * loom-graph-build (so the pipeline ranks the graph graph-build writes).
 */
static int edge_reduce (loom_mr_ctx_t *ctx,
                        const void *key,
                        size_t klen,
                        loom_mr_values_t *values,
                        void *arg)
{
    const void *val;
    size_t vlen;
    uint64_t prev = 0;
    int k, have = 0;
    while ((k = loom_mr_values_next (values, &val, &vlen)) == 1) {
        uint64_t be;
        memcpy (&be, val, 8);
        if (have && be == prev)
            continue;
        uint64_t dst = __builtin_bswap64 (be);
        if (loom_mr_emit (ctx, key, klen, &dst, 8) < 0)
            return -1;
        prev = be;
        have = 1;
    }
    return k < 0 ? loom_mr_fail (ctx, EIO, "cannot read spilled edges") : 0;
}

int main (int argc, char **argv)
{
    static const struct option longopts[] = {
        {"edges", required_argument, NULL, 1000},
        {"graph", required_argument, NULL, 1001},
        {"iterations", required_argument, NULL, 1002},
        {"output", required_argument, NULL, 'o'},
        {"top", required_argument, NULL, 'T'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct app a;
    app_init (&a, "pipeline", &argc, &argv);
    const char *edges = NULL, *graph = NULL;
    uint64_t iterations = 20;
    a.top = 10;
    int c;
    while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1) {
        int r = c == 'o' || c == 'T' || c == 'q' ? app_option (&a, c, optarg) : 0;
        if (r < 0)
            return app_finish (&a, 2);
        if (r > 0)
            continue;
        if (c == 'h') {
            if (a.rank == 0)
                usage ();
            return app_finish (&a, 0);
        } else if (c == 1000) {
            edges = optarg;
        } else if (c == 1001) {
            graph = optarg;
        } else if (c == 1002) {
            if (app_parse_u64 (&a, "iterations", optarg, &iterations) < 0)
                return app_finish (&a, 2);
            if (iterations == 0)
                return app_finish (&a, app_error (&a, "--iterations must be > 0") + 1);
        } else {
            app_error (&a, "unknown option '%s' (see --help)", argv[optind - 1]);
            return app_finish (&a, 2);
        }
    }
    if (optind < argc) {
        app_error (&a, "unexpected argument '%s'", argv[optind]);
        return app_finish (&a, 2);
    }
    if (!edges) {
        app_error (&a, "no edge list: give --edges FILE.txt");
        return app_finish (&a, 2);
    }

    loom_error_t err;
    loom_comm_t *comm = loom_comm_create (MPI_COMM_WORLD, NULL, &err);
    if (!comm) {
        app_error (&a, "%s", err.text);
        return app_finish (&a, 1);
    }
    loom_mr_t *mr = loom_mr_create (comm, NULL, &err);
    loom_mr_data_t *built = NULL;
    loom_pregel_t *job = NULL;
    uint64_t *src = NULL, *dst = NULL;
    int status = 1;
    if (!mr) {
        app_error (&a, "%s", err.text);
        goto done;
    }

    /* Step 1, MapReduce graph-build: parse, shuffle by source, keep in memory. */
    const char *paths[] = {edges};
    const char *largv[] = {"pipeline", "--edges", edges, NULL};
    struct loom_ds_lineage lin = LOOM_DS_LINEAGE_INIT;
    lin.producer = "loom-pipeline";
    lin.framework = "mapreduce";
    lin.argv = largv;
    lin.dep = LOOM_DS_DEP_WIDE;
    struct loom_mr_step step = {0};
    step.name = "graph-build";
    step.input = LOOM_MR_INPUT_TEXT;
    step.paths = paths;
    step.npaths = 1;
    step.map = edge_map;
    step.map_arg = (void *)edges;
    step.key_width = 8;
    step.value_width = 8;
    step.partition = LOOM_PARTITION_HASH;
    step.hash_seed = 0; /* Pregel's default: the graph loads without a reshuffle */
    step.partitions = (uint32_t)a.size;
    step.shuffle = true;
    step.reduce = edge_reduce;
    step.flags = LOOM_MR_SORT_VALUES;
    step.output = graph ? LOOM_MR_OUTPUT_DATASET : LOOM_MR_OUTPUT_NONE;
    step.output_path = graph;
    step.schema = "src:u64,dst:u64";
    step.lineage = &lin;
    struct loom_mr_stats mst;
    double t0 = MPI_Wtime ();
    if (loom_mr_run (mr, &step, &built, &mst, &err) < 0) {
        app_error (&a, "%s", err.text);
        goto done;
    }
    double t1 = MPI_Wtime ();

    /* Step 2, Pregel PageRank on the in-memory edges (in-job hand-off). */
    uint64_t m = loom_mr_data_records (built), pos = 0;
    src = malloc ((m + 1) * 8);
    dst = malloc ((m + 1) * 8);
    if (!src || !dst) {
        app_error (&a, "out of memory for %" PRIu64 " edges", m);
        goto done;
    }
    struct loom_record rec;
    for (uint64_t i = 0; loom_mr_data_next (built, &pos, &rec) == 1 && i < m; i++) {
        memcpy (&src[i], rec.key, 8);
        memcpy (&dst[i], rec.value, 8);
    }
    loom_mr_data_destroy (built);
    built = NULL;
    a.g = loom_pregel_graph_from_edges (MPI_COMM_WORLD, m, src, dst, NULL, NULL, &err);
    free (src);
    free (dst);
    src = dst = NULL;
    if (!a.g) {
        app_error (&a, "%s", err.text);
        goto done;
    }
    struct algo_pagerank pr = {.damping = 0.85, .iterations = iterations};
    struct loom_pregel_program prog;
    algo_pagerank_program (&prog, &pr);
    if (!(job = loom_pregel_create (a.g, &prog, NULL, &err))
        || algo_pagerank_setup (job, &pr, &err) < 0) {
        app_error (&a, "%s", err.text);
        goto done;
    }
    a.input = graph ? graph : edges;
    char params[96];
    snprintf (params, sizeof (params), "{\"iterations\":%" PRIu64 ",\"damping\":0.85}",
              iterations);
    if (app_run (&a, job, params) < 0)
        goto done;
    double t2 = MPI_Wtime ();
    if (!a.quiet && a.rank == 0) {
        struct loom_pregel_graph_info info;
        loom_pregel_graph_info (a.g, &info);
        printf ("pipeline: graph-build (MapReduce): %" PRIu64 " edges from %s in %.3f s"
                "%s%s\n",
                mst.total_output_records, edges, t1 - t0, graph ? ", dataset " : "",
                graph ? graph : "");
        printf ("pipeline: pagerank (Pregel): %" PRIu64 " vertices, %" PRIu64
                " iterations in %.3f s on %d ranks\n",
                info.vertices, iterations, t2 - t1, a.size);
        fflush (stdout);
    }
    a.value_name = "pagerank";
    app_print_top (&a, job, LOOM_PREGEL_F64, a.top);
    status = 0;
done:
    loom_pregel_destroy (job);
    loom_mr_data_destroy (built);
    loom_mr_destroy (mr);
    free (src);
    free (dst);
    loom_comm_destroy (comm);
    return app_finish (&a, status);
}
