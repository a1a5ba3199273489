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

static void usage (void)
{
    printf (
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
        "  -q, --quiet           No progress line\n");
}

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
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"text", no_argument, NULL, 't'},
        {"mem", required_argument, NULL, 'm'},
        {"tmpdir", required_argument, NULL, 'T'},
        {"deterministic", no_argument, NULL, 'd'},
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
    uint64_t mem = 0;
    bool text = false, det = false, force = false, show_stats = false;
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
        case 't':
            text = true;
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
        case 'd':
            det = true;
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
                                                "unknown option '%s' (see 'loom-sort "
                                                "--help')",
                                                argv[optind - 1]));
        }
    }
    for (int i = optind; i < argc; i++)
        inputs[ninputs++] = argv[i];
    if (!ninputs)
        return app_finish (&app, app_error (&app, "no input (--input PATH)"));
    if (!output)
        return app_finish (&app, app_error (&app, "no output (--output OUT)"));

    struct loom_mr_params mp = LOOM_MR_PARAMS_INIT;
    mp.mem_bytes = mem;
    mp.tmpdir = tmpdir;
    mp.flags = (det ? LOOM_MR_DETERMINISTIC : 0) | (force ? LOOM_MR_FORCE : 0);
    mp.progress = app_progress;
    mp.progress_arg = &app;
    loom_error_t err;
    loom_mr_t *mr = loom_mr_create (app.comm, &mp, &err);
    if (!mr)
        return app_finish (&app, app_error (&app, "%s", err.text));

    const char **largv = app_lineage_argv (&app);
    struct loom_ds_lineage lin = LOOM_DS_LINEAGE_INIT;
    lin.producer = "loom-sort";
    lin.framework = "mapreduce";
    lin.argv = largv;
    lin.params_json = "{\"key_bytes\":10}";
    lin.dep = LOOM_DS_DEP_WIDE;

    struct loom_mr_step st = LOOM_MR_STEP_INIT;
    st.name = "sort";
    st.input = LOOM_MR_INPUT_TEXT;
    st.paths = inputs;
    st.npaths = ninputs;
    st.map = map_line;
    st.partition = LOOM_PARTITION_RANGE;
    st.shuffle = true;
    st.flags = LOOM_MR_SORT_VALUES | LOOM_MR_TEXT_RAW | LOOM_MR_RESUME;
    st.output = text ? LOOM_MR_OUTPUT_TEXT : LOOM_MR_OUTPUT_DATASET;
    st.output_path = output;
    st.schema = "key:bytes,rest:bytes";
    st.lineage = &lin;
    st.repair_partitions = repair;

    struct loom_mr_stats stats;
    int status = 0;
    if (loom_mr_run (mr, &st, NULL, &stats, &err) < 0)
        status = app_error (&app, "%s", err.text);
    app_progress_clear (&app);
    if (!status && show_stats)
        app_print_stats (&app, &stats);
    loom_mr_destroy (mr);
    free (largv);
    free (inputs);
    return app_finish (&app, status);
}
