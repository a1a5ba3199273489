/* SPDX-License-Identifier: MIT */
/* main() of the single-source apps (see source.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/error.h>

#include "app.h"
#include "source.h"

/* Vertices reached: value not INFINITY (f64) / not -1 (i64). */
static uint64_t count_reached (struct app *a, loom_pregel_t *job, loom_pregel_type_t t)
{
    size_t n;
    loom_pregel_graph_ids (a->g, &n);
    const uint8_t *vals = loom_pregel_values (job);
    uint64_t k = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        if (t == LOOM_PREGEL_F64) {
            double d;
            memcpy (&d, vals + 8 * i, 8);
            k += !isinf (d);
        } else {
            int64_t d;
            memcpy (&d, vals + 8 * i, 8);
            k += d >= 0;
        }
    }
    MPI_Allreduce (&k, &total, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    return total;
}

int source_main (const struct source_app *sa, int argc, char **argv)
{
    static const struct option longopts[] = {
        APP_COMMON_OPTIONS,
        {"source", required_argument, NULL, 1000},
        {NULL, 0, NULL, 0},
    };
    struct app a;
    app_init (&a, sa->name, &argc, &argv);
    struct algo_source src = {0};
    int c, have_source = 0;
    while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1) {
        int r = app_option (&a, c, optarg);
        if (r < 0)
            return app_finish (&a, 2);
        if (r > 0)
            continue;
        if (c == 'h') {
            if (a.rank == 0)
                printf ("Usage: loom run %s -n N --input EDGES --source ID [options]\n"
                        "       mpirun -np N loom-%s --input EDGES --source ID\n\n"
                        "%s\n\n"
                        "  --source ID            the source vertex (required)\n"
                        "%s",
                        sa->name, sa->name, sa->summary, APP_COMMON_HELP);
            return app_finish (&a, 0);
        } else if (c == 1000) {
            if (app_parse_u64 (&a, "source", optarg, &src.source) < 0)
                return app_finish (&a, 2);
            have_source = 1;
        } else {
            app_error (&a, "unknown option '%s' (see --help)", argv[optind - 1]);
            return app_finish (&a, 2);
        }
    }
    if (optind < argc) {
        app_error (&a, "unexpected argument '%s'", argv[optind]);
        return app_finish (&a, 2);
    }
    if (!have_source) {
        app_error (&a, "no source vertex: give --source ID");
        return app_finish (&a, 2);
    }
    if (app_load (&a, sa->weighted ? 0 : LOOM_PREGEL_NO_WEIGHTS) < 0)
        return app_finish (&a, 1);
    struct loom_pregel_graph_info info;
    loom_pregel_graph_info (a.g, &info);
    if (sa->weighted && info.weighted && !(info.min_weight >= 0)) {
        app_error (&a,
                   "%s has a negative or NaN edge weight (smallest %g): %s needs "
                   "weights >= 0",
                   a.input, info.min_weight, sa->name);
        return app_finish (&a, 1);
    }
    int has = loom_pregel_graph_has_vertex (a.g, src.source);
    uint64_t all = has == 1, any = all;
    MPI_Allreduce (&all, &any, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (!any) {
        app_error (&a, "source vertex %" PRIu64 " is not in the graph %s", src.source,
                   a.input);
        return app_finish (&a, 1);
    }
    struct loom_pregel_program prog;
    sa->program (&prog, &src);
    struct loom_pregel_params pp = LOOM_PREGEL_PARAMS_INIT;
    pp.max_supersteps = a.max_supersteps;
    pp.checkpoint = a.checkpoint;
    pp.checkpoint_every = a.checkpoint_every;
    pp.resume = a.resume;
    loom_error_t err;
    loom_pregel_t *job = loom_pregel_create (a.g, &prog, &pp, &err);
    if (!job) {
        app_error (&a, "%s", err.text);
        return app_finish (&a, 1);
    }
    char params[160];
    snprintf (params, sizeof (params),
              "{\"source\":%" PRIu64 ",\"partition\":\"%s\",\"seed\":%" PRIu64 "}",
              src.source, a.gp.partition == LOOM_PREGEL_PART_RANGE ? "range" : "hash",
              a.gp.seed);
    int status = app_run (&a, job, params) < 0;
    if (!status) {
        struct loom_pregel_stats st;
        loom_pregel_stats (job, &st);
        uint64_t k = count_reached (&a, job, sa->type);
        if (!a.quiet && a.rank == 0) {
            printf ("%s: %" PRIu64 " of %" PRIu64 " vertices reached from %" PRIu64
                    " in %" PRIu64 " supersteps, %.3f s compute + %.3f s exchange "
                    "(rank 0)\n",
                    sa->name, k, info.vertices, src.source, st.supersteps,
                    st.compute_sec, st.exchange_sec);
            fflush (stdout);
        }
        if (a.top)
            app_print_top (&a, job, sa->type, a.top);
    }
    loom_pregel_destroy (job);
    return app_finish (&a, status);
}
