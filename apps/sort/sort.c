/* SPDX-License-Identifier: MIT */
/* loom-sort: TeraSort. Sorts the lines of text files bytewise (the order of
 * `LC_ALL=C sort`), in parallel: each line is split into a key (its first 10 bytes)
 * and a value (the rest); splitters sampled from the keys range-partition the lines
 * over the ranks, and each rank sorts its range by (key, value). Rank r's output
 * precedes rank r+1's, so the output is globally ordered: one text file, or a
 * range-partitioned dataset "key:bytes,rest:bytes".
 * `loom gen sort` writes the 100-byte records of the benchmark.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/mapreduce.h>

#include "../appkit/appkit.h"

#define KEY_BYTES 10

static const char usage[] =
    "Usage: loom run sort -n N --input PATH... --output OUT [options]\n\n"
    "Sorts lines bytewise (like LC_ALL=C sort), range-partitioned by sampled\n"
    "splitters over the first 10 bytes of each line.\n\n"
    "Options:\n"
    "  -i, --input=PATH      File or directory (repeat, or list after the "
    "options)\n"
    "  -o, --output=OUT      Sorted output: a dataset (key:bytes,rest:bytes)\n"
    "      --text            Write OUT as sorted text lines instead\n"
    "      --mem=SIZE        Memory budget per rank (default 1G); spills beyond\n"
    "      --tmpdir=DIR      Spill directory\n"
    "      --deterministic   Reproducible shuffle order\n"
    "      --force           Replace an existing output\n"
    "      --repair-partitions=LIST  Rewrite only these partitions (recompute)\n"
    "      --stats           Print the job's statistics as one JSON line\n"
    "  -q, --quiet           No progress line\n";

static int map_line (loom_mr_ctx_t *ctx, const struct loom_record *rec, void *arg)
{
    (void)arg;
    size_t k = rec->value_len < KEY_BYTES ? rec->value_len : KEY_BYTES;
    const char *p = rec->value;
    return loom_mr_emit (ctx, p, k, p + k, rec->value_len - k);
}

int main (int argc, char **argv)
{
    struct app app;
    app_init (&app, "sort", &argc, &argv);
    static const struct option longopts[] = {
        APP_OPT_INPUT,  APP_OPT_OUTPUT,        APP_OPT_TEXT,  APP_OPT_MEM,
        APP_OPT_TMPDIR, APP_OPT_DETERMINISTIC, APP_OPT_FORCE, APP_OPT_REPAIR,
        APP_OPT_STATS,  APP_OPT_QUIET,         APP_OPT_HELP,  APP_OPT_END,
    };
    app.usage = usage;
    app.longopts = longopts;
    int c, rc;
    opterr = 0;
    while ((c = getopt_long (argc, argv, ":i:o:qh", longopts, NULL)) != -1)
        if ((rc = app_option (&app, c, argv)) >= 0)
            return app_finish (&app, rc);
    if ((rc = app_operands (&app, argc, argv)) >= 0)
        return app_finish (&app, rc);
    if (!app.opt.output)
        return app_finish (&app, app_error (&app, "no output (--output OUT)"));

    loom_mr_t *mr = app_mr_create (&app);
    if (!mr)
        return app_finish (&app, 1);
    struct loom_ds_lineage lin = app_lineage (&app, "{\"key_bytes\":10}");

    struct loom_mr_step st = app_step (&app, "sort");
    st.input = LOOM_MR_INPUT_TEXT;
    st.map = map_line;
    st.partition = LOOM_PARTITION_RANGE;
    st.shuffle = true;
    st.flags = LOOM_MR_SORT_VALUES | LOOM_MR_TEXT_RAW | LOOM_MR_RESUME;
    st.output = app.opt.text ? LOOM_MR_OUTPUT_TEXT : LOOM_MR_OUTPUT_DATASET;
    st.schema = "key:bytes,rest:bytes";
    st.lineage = &lin;

    struct loom_mr_stats stats;
    int status = app_run (&app, mr, &st, NULL, &stats);
    loom_mr_destroy (mr);
    return app_finish (&app, status);
}
