/* SPDX-License-Identifier: MIT */
/* loom-graph-build: edge text -> the partitioned edge dataset Pregel reads.
 *
 * Input lines are "src dst [weight]" (decimal vertex ids, separated by spaces or
 * tabs); '#' starts a comment, blank lines are skipped. Output: a dataset
 * "src:u64,dst:u64" (with --weighted, "src:u64,dst:u64,weight:f64") hash-partitioned
 * by src with --hash-seed, so a Pregel job with a divisor of --partitions ranks
 * reads it without reshuffling. Duplicate edges are merged (the smallest weight
 * wins); --symmetrize adds every reverse edge; --drop-self-loops drops u -> u.
 *
 * The shuffle key is src in the dataset's representation (8 bytes little-endian),
 * so the framework's partitioner is the dataset's. The value is dst big-endian (and
 * the weight), so the grouping sort orders each vertex's edges by dst and puts
 * duplicates side by side.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/mapreduce.h>

#include "../appkit/appkit.h"
#include "edge_parse.h"

struct opts {
    bool weighted, symmetrize, drop_loops;
};

static void usage (void)
{
    printf (
        "Usage: loom run graph-build -n N --input PATH... --output DATASET "
        "[options]\n\n"
        "Builds the edge dataset src:u64,dst:u64[,weight:f64] from text lines\n"
        "'src dst [weight]' ('#' comments), hash-partitioned by src.\n\n"
        "Options:\n"
        "  -i, --input=PATH      Edge file or directory (repeat, or list them)\n"
        "  -o, --output=DATASET  The edge dataset to write\n"
        "      --weighted        Keep the third column as weight (default 1.0)\n"
        "      --symmetrize      Add the reverse of every edge\n"
        "      --drop-self-loops Drop edges u -> u\n"
        "      --partitions=P    Output partitions (default 8)\n"
        "      --hash-seed=S     Seed of the src hash partitioner (default 0)\n"
        "      --mem=SIZE        Memory budget per rank (default 1G)\n"
        "      --tmpdir=DIR      Spill directory\n"
        "      --force           Replace an existing output\n"
        "      --repair-partitions=LIST  Rewrite only these partitions (recompute)\n"
        "      --stats           Print the job's statistics as one JSON line\n"
        "  -q, --quiet           No progress line\n");
}

static uint64_t be64 (uint64_t v)
{
    return __builtin_bswap64 (v);
}

/* Parse one unsigned decimal id at *p; returns 0 or -1. */
static int
emit_edge (loom_mr_ctx_t *ctx, uint64_t u, uint64_t v, double w, bool weighted)
{
    unsigned char val[16];
    uint64_t dst = be64 (v);
    memcpy (val, &dst, 8);
    memcpy (val + 8, &w, 8);
    return loom_mr_emit (ctx, &u, 8, val, weighted ? 16 : 8);
}

static int map_edge (loom_mr_ctx_t *ctx, const struct loom_record *rec, void *arg)
{
    const struct opts *o = arg;
    uint64_t u, v;
    double w;
    const char *bad;
    size_t bad_len;
    int k = edge_parse (rec->value, rec->value_len, o->weighted, &u, &v, &w, &bad,
                        &bad_len);
    if (k == 0)
        return 0;
    if (k < 0)
        return loom_mr_fail (ctx, EINVAL, "bad edge line '%.*s' (want 'src dst%s')",
                             (int)(bad_len > 60 ? 60 : bad_len), bad,
                             o->weighted ? " [weight]" : "");
    if (o->drop_loops && u == v)
        return 0;
    if (emit_edge (ctx, u, v, w, o->weighted) < 0)
        return -1;
    if (o->symmetrize && u != v && emit_edge (ctx, v, u, w, o->weighted) < 0)
        return -1;
    return 0;
}

/* One vertex's edges, sorted by dst: merge duplicates (smallest weight), emit
 * little-endian rows.
 */
static int reduce_edges (loom_mr_ctx_t *ctx,
                         const void *key,
                         size_t klen,
                         loom_mr_values_t *values,
                         void *arg)
{
    const struct opts *o = arg;
    const void *val;
    size_t vlen;
    int k;
    bool have = false;
    uint64_t cur = 0;
    double best = 0;
    unsigned char row[16];
    while ((k = loom_mr_values_next (values, &val, &vlen)) == 1) {
        uint64_t dst;
        double w = 1.0;
        memcpy (&dst, val, 8);
        dst = be64 (dst);
        if (o->weighted)
            memcpy (&w, (const char *)val + 8, 8);
        if (have && dst == cur) {
            if (w < best)
                best = w;
            continue;
        }
        if (have) {
            memcpy (row, &cur, 8);
            memcpy (row + 8, &best, 8);
            if (loom_mr_emit (ctx, key, klen, row, o->weighted ? 16 : 8) < 0)
                return -1;
        }
        have = true;
        cur = dst;
        best = w;
    }
    if (k < 0)
        return loom_mr_fail (ctx, EIO, "cannot read spilled edges");
    if (have) {
        memcpy (row, &cur, 8);
        memcpy (row + 8, &best, 8);
        if (loom_mr_emit (ctx, key, klen, row, o->weighted ? 16 : 8) < 0)
            return -1;
    }
    return 0;
}

int main (int argc, char **argv)
{
    struct app app;
    app_init (&app, "graph-build", &argc, &argv);
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"weighted", no_argument, NULL, 'w'},
        {"symmetrize", no_argument, NULL, 'y'},
        {"drop-self-loops", no_argument, NULL, 'l'},
        {"partitions", required_argument, NULL, 'P'},
        {"hash-seed", required_argument, NULL, 's'},
        {"mem", required_argument, NULL, 'm'},
        {"tmpdir", required_argument, NULL, 'T'},
        {"force", no_argument, NULL, 'f'},
        {"repair-partitions", required_argument, NULL, 'R'},
        {"stats", no_argument, NULL, 'S'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **inputs = calloc ((size_t)argc + 1, sizeof (char *));
    size_t ninputs = 0;
    const char *output = NULL, *tmpdir = NULL, *repair = NULL;
    uint64_t parts = 8, seed = 0, mem = 0;
    bool force = false, show_stats = false;
    struct opts o = {0};
    int c;
    opterr = 0;
    while ((c = getopt_long (argc, argv, ":i:o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            inputs[ninputs++] = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'w':
            o.weighted = true;
            break;
        case 'y':
            o.symmetrize = true;
            break;
        case 'l':
            o.drop_loops = true;
            break;
        case 'P':
            if (app_parse_u64 (optarg, &parts) < 0 || parts == 0 || parts > 1000000)
                return app_finish (&app, app_error (&app,
                                                    "--partitions must be 1 to "
                                                    "1000000, not '%s'",
                                                    optarg));
            break;
        case 's':
            if (app_parse_u64 (optarg, &seed) < 0)
                return app_finish (&app, app_error (&app,
                                                    "--hash-seed must be an "
                                                    "integer, not '%s'",
                                                    optarg));
            break;
        case 'm':
            if (app_parse_size (optarg, &mem) < 0 || mem < (4u << 20))
                return app_finish (&app, app_error (&app,
                                                    "--mem must be a size of at "
                                                    "least 4M, not '%s'",
                                                    optarg));
            break;
        case 'T':
            tmpdir = optarg;
            break;
        case 'f':
            force = true;
            break;
        case 'R':
            repair = optarg;
            break;
        case 'S':
            show_stats = true;
            break;
        case 'q':
            app.quiet = true;
            break;
        case 'h':
            if (app.rank == 0)
                usage ();
            return app_finish (&app, 0);
        case ':':
            return app_finish (
                &app, app_error (&app, "option '%s' needs a value", argv[optind - 1]));
        default:
            return app_finish (&app, app_error (&app,
                                                "unknown option '%s' (see "
                                                "'loom-graph-build --help')",
                                                argv[optind - 1]));
        }
    }
    for (int i = optind; i < argc; i++)
        inputs[ninputs++] = argv[i];
    if (!ninputs)
        return app_finish (&app, app_error (&app, "no input (--input PATH)"));
    if (!output)
        return app_finish (&app, app_error (&app, "no output (--output DATASET)"));

    struct loom_mr_params mp = LOOM_MR_PARAMS_INIT;
    mp.mem_bytes = mem;
    mp.tmpdir = tmpdir;
    mp.flags = force ? LOOM_MR_FORCE : 0;
    mp.progress = app_progress;
    mp.progress_arg = &app;
    loom_error_t err;
    loom_mr_t *mr = loom_mr_create (app.comm, &mp, &err);
    if (!mr)
        return app_finish (&app, app_error (&app, "%s", err.text));

    char params[256];
    snprintf (params, sizeof (params),
              "{\"partitions\":%llu,\"hash_seed\":%llu,\"weighted\":%s,"
              "\"symmetrize\":%s,\"drop_self_loops\":%s}",
              (unsigned long long)parts, (unsigned long long)seed,
              o.weighted ? "true" : "false", o.symmetrize ? "true" : "false",
              o.drop_loops ? "true" : "false");
    const char **largv = app_lineage_argv (&app);
    struct loom_ds_lineage lin = LOOM_DS_LINEAGE_INIT;
    lin.producer = "loom-graph-build";
    lin.framework = "mapreduce";
    lin.argv = largv;
    lin.params_json = params;
    lin.dep = LOOM_DS_DEP_WIDE;

    struct loom_mr_step st = LOOM_MR_STEP_INIT;
    st.name = "graph-build";
    st.paths = inputs;
    st.npaths = ninputs;
    st.map = map_edge;
    st.map_arg = &o;
    st.key_width = 8;
    st.value_width = o.weighted ? 16 : 8;
    st.partition = LOOM_PARTITION_HASH;
    st.hash_seed = seed;
    st.partitions = (uint32_t)parts;
    st.reduce = reduce_edges;
    st.reduce_arg = &o;
    st.flags = LOOM_MR_SORT_VALUES | LOOM_MR_RESUME;
    st.output = LOOM_MR_OUTPUT_DATASET;
    st.output_path = output;
    st.schema = o.weighted ? "src:u64,dst:u64,weight:f64" : "src:u64,dst:u64";
    st.lineage = &lin;
    st.repair_partitions = repair;

    struct loom_mr_stats stats;
    int status = 0;
    if (loom_mr_run (mr, &st, NULL, &stats, &err) < 0)
        status = app_error (&app, "%s", err.text);
    app_progress_clear (&app);
    if (!status && show_stats)
        app_print_stats (&app, &stats);
    else if (!status && app.rank == 0 && !app.quiet)
        printf ("graph-build: %llu edges from %llu lines into %s (%llu partitions)\n",
                (unsigned long long)stats.total_output_records,
                (unsigned long long)stats.total_input_records, output,
                (unsigned long long)parts);
    loom_mr_destroy (mr);
    free (largv);
    free (inputs);
    return app_finish (&app, status);
}
