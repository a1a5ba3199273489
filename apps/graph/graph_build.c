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

static const char usage[] =
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
    "  -q, --quiet           No progress line\n";

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
        APP_OPT_INPUT,
        APP_OPT_OUTPUT,
        {"weighted", no_argument, NULL, 'w'},
        {"symmetrize", no_argument, NULL, 'y'},
        {"drop-self-loops", no_argument, NULL, 'l'},
        APP_OPT_PARTITIONS,
        APP_OPT_SEED ("hash-seed"),
        APP_OPT_MEM,
        APP_OPT_TMPDIR,
        APP_OPT_FORCE,
        APP_OPT_REPAIR,
        APP_OPT_STATS,
        APP_OPT_QUIET,
        APP_OPT_HELP,
        APP_OPT_END,
    };
    app.usage = usage;
    app.longopts = longopts;
    const struct app_opts *ao = &app.opt;
    struct opts o = {0};
    int c, rc;
    opterr = 0;
    while ((c = getopt_long (argc, argv, ":i:o:qh", longopts, NULL)) != -1) {
        if (c == 'w')
            o.weighted = true;
        else if (c == 'y')
            o.symmetrize = true;
        else if (c == 'l')
            o.drop_loops = true;
        else if ((rc = app_option (&app, c, argv)) >= 0)
            return app_finish (&app, rc);
    }
    if ((rc = app_operands (&app, argc, argv)) >= 0)
        return app_finish (&app, rc);
    if (!ao->output)
        return app_finish (&app, app_error (&app, "no output (--output DATASET)"));

    loom_mr_t *mr = app_mr_create (&app);
    if (!mr)
        return app_finish (&app, 1);
    char params[256];
    snprintf (params, sizeof (params),
              "{\"partitions\":%llu,\"hash_seed\":%llu,\"weighted\":%s,"
              "\"symmetrize\":%s,\"drop_self_loops\":%s}",
              (unsigned long long)ao->partitions, (unsigned long long)ao->seed,
              o.weighted ? "true" : "false", o.symmetrize ? "true" : "false",
              o.drop_loops ? "true" : "false");
    struct loom_ds_lineage lin = app_lineage (&app, params);

    struct loom_mr_step st = app_step (&app, "graph-build");
    st.map = map_edge;
    st.map_arg = &o;
    st.key_width = 8;
    st.value_width = o.weighted ? 16 : 8;
    st.partition = LOOM_PARTITION_HASH;
    st.hash_seed = ao->seed;
    st.partitions = (uint32_t)ao->partitions;
    st.reduce = reduce_edges;
    st.reduce_arg = &o;
    st.flags = LOOM_MR_SORT_VALUES | LOOM_MR_RESUME;
    st.output = LOOM_MR_OUTPUT_DATASET;
    st.schema = o.weighted ? "src:u64,dst:u64,weight:f64" : "src:u64,dst:u64";
    st.lineage = &lin;

    struct loom_mr_stats stats;
    int status = app_run (&app, mr, &st, NULL, &stats);
    if (!status && !ao->stats && app.rank == 0 && !app.quiet)
        printf ("graph-build: %llu edges from %llu lines into %s (%llu partitions)\n",
                (unsigned long long)stats.total_output_records,
                (unsigned long long)stats.total_input_records, ao->output,
                (unsigned long long)ao->partitions);
    loom_mr_destroy (mr);
    return app_finish (&app, status);
}
