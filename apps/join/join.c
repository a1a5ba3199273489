/* SPDX-License-Identifier: MIT */
/* loom-join: join two datasets on a key column with libcomm's distributed join
 * (repartition, broadcast or the skew-aware hybrid, chosen automatically), through
 * the MapReduce join step. The output dataset has the key column, the left value
 * columns, the right value columns (renamed "right_<name>" on a clash) and, for a
 * left outer join, "matched:i32"; each rank writes one partition.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/join.h>
#include <loom/mapreduce.h>

#include "../appkit/appkit.h"

static void usage (void)
{
    printf (
        "Usage: loom run join -n N --left A --right B --on KEY --out C [options]\n\n"
        "Joins datasets A and B on column KEY (same type in both) into dataset C.\n\n"
        "Options:\n"
        "  -l, --left=A          Left input dataset\n"
        "  -r, --right=B         Right input dataset\n"
        "      --on=KEY          Key column of both (default: the first column)\n"
        "  -o, --out=C           Output dataset\n"
        "  -k, --kind=KIND       inner (default), left, semi, anti\n"
        "  -s, --strategy=S      auto (default), repartition, broadcast, hybrid\n"
        "      --mem=SIZE        Memory budget per rank (default 1G); spills beyond\n"
        "      --tmpdir=DIR      Spill directory\n"
        "      --force           Replace an existing output\n"
        "      --stats           Print the step's statistics as one JSON line\n"
        "  -q, --quiet           No progress line\n");
}

int main (int argc, char **argv)
{
    struct app app;
    app_init (&app, "join", &argc, &argv);
    static const struct option longopts[] = {
        {"left", required_argument, NULL, 'l'},
        {"right", required_argument, NULL, 'r'},
        {"on", required_argument, NULL, 'K'},
        {"out", required_argument, NULL, 'o'},
        {"output", required_argument, NULL, 'o'},
        {"kind", required_argument, NULL, 'k'},
        {"strategy", required_argument, NULL, 's'},
        {"mem", required_argument, NULL, 'm'},
        {"tmpdir", required_argument, NULL, 'T'},
        {"force", no_argument, NULL, 'f'},
        {"stats", no_argument, NULL, 'S'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct loom_mr_join_step js = LOOM_MR_JOIN_STEP_INIT;
    const char *tmpdir = NULL;
    uint64_t mem = 0;
    bool force = false, show_stats = false;
    int c;
    opterr = 0;
    while ((c = getopt_long (argc, argv, ":l:r:o:k:s:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            js.left_path = optarg;
            break;
        case 'r':
            js.right_path = optarg;
            break;
        case 'K':
            js.on = optarg;
            break;
        case 'o':
            js.output_path = optarg;
            break;
        case 'k':
            if (loom_join_kind_parse (optarg, &js.kind) < 0)
                return app_finish (&app, app_error (&app,
                                                    "unknown --kind '%s' (inner, left, "
                                                    "semi, anti)",
                                                    optarg));
            break;
        case 's':
            if (loom_join_strategy_parse (optarg, &js.strategy) < 0)
                return app_finish (&app, app_error (&app,
                                                    "unknown --strategy '%s' (auto, "
                                                    "repartition, broadcast, hybrid)",
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
                                                "unknown option '%s' (see 'loom-join "
                                                "--help')",
                                                argv[optind - 1]));
        }
    }
    if (optind < argc)
        return app_finish (&app,
                           app_error (&app, "unexpected argument '%s'", argv[optind]));
    if (!js.left_path)
        return app_finish (&app, app_error (&app, "no left input (--left A)"));
    if (!js.right_path)
        return app_finish (&app, app_error (&app, "no right input (--right B)"));
    if (!js.output_path)
        return app_finish (&app, app_error (&app, "no output (--out C)"));

    struct loom_mr_params mp = LOOM_MR_PARAMS_INIT;
    mp.mem_bytes = mem;
    mp.tmpdir = tmpdir;
    mp.flags = force ? LOOM_MR_FORCE : 0;
    loom_error_t err;
    loom_mr_t *mr = loom_mr_create (app.comm, &mp, &err);
    if (!mr)
        return app_finish (&app, app_error (&app, "%s", err.text));

    const char **largv = app_lineage_argv (&app);
    struct loom_ds_lineage lin = LOOM_DS_LINEAGE_INIT;
    const char *inputs[] = {js.left_path, js.right_path, NULL};
    lin.producer = "loom-join";
    lin.framework = "mapreduce";
    lin.argv = largv;
    lin.inputs = inputs;
    lin.ninputs = 2;
    lin.dep = LOOM_DS_DEP_WIDE;
    js.output = LOOM_MR_OUTPUT_DATASET;
    js.lineage = &lin;

    struct loom_mr_stats stats;
    int status = 0;
    if (loom_mr_join (mr, &js, NULL, &stats, &err) < 0) {
        /* The step's messages start with "join: "; the app's prefix says it. */
        const char *msg =
            strncmp (err.text, "join: ", 6) == 0 ? err.text + 6 : err.text;
        status = app_error (&app, "%s", msg);
    }
    app_progress_clear (&app);
    if (!status && show_stats)
        app_print_stats (&app, &stats);
    loom_mr_destroy (mr);
    free (largv);
    return app_finish (&app, status);
}
