/* SPDX-License-Identifier: MIT */
/* loom-pagerank: PageRank on an edge dataset, for a fixed number of iterations or
 * until the L1 change of an iteration falls below a tolerance.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <loom/error.h>

#include "algos.h"
#include "app.h"

static void usage (void)
{
    printf (
        "Usage: loom run pagerank -n N --input EDGES [options]\n"
        "       mpirun -np N loom-pagerank --input EDGES [options]\n\n"
        "PageRank (dangling mass spread evenly) as a Pregel vertex program.\n\n"
        "  --iterations N         iterations (default 20; 0 with --tolerance)\n"
        "  --tolerance T          stop when an iteration changes ranks by < T (L1)\n"
        "  --damping D            damping factor (default 0.85)\n" APP_COMMON_HELP);
}

int main (int argc, char **argv)
{
    static const struct option longopts[] = {
        APP_COMMON_OPTIONS,
        {"iterations", required_argument, NULL, 1000},
        {"tolerance", required_argument, NULL, 1001},
        {"damping", required_argument, NULL, 1002},
        {NULL, 0, NULL, 0},
    };
    struct app a;
    app_init (&a, "pagerank", &argc, &argv);
    struct algo_pagerank pr = {.damping = 0.85, .iterations = 20, .tolerance = 0};
    int c, tol_given = 0, iters_given = 0;
    while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1) {
        int r = app_option (&a, c, optarg);
        if (r < 0)
            return app_finish (&a, 2);
        if (r > 0)
            continue;
        if (c == 'h') {
            if (a.rank == 0)
                usage ();
            return app_finish (&a, 0);
        } else if (c == 1000) {
            iters_given = 1;
            if (app_parse_u64 (&a, "iterations", optarg, &pr.iterations) < 0)
                return app_finish (&a, 2);
        } else if (c == 1001) {
            tol_given = 1;
            if (app_parse_double (&a, "tolerance", optarg, &pr.tolerance) < 0)
                return app_finish (&a, 2);
            if (!(pr.tolerance > 0))
                return app_finish (&a, app_error (&a, "--tolerance must be > 0") + 1);
        } else if (c == 1002) {
            if (app_parse_double (&a, "damping", optarg, &pr.damping) < 0)
                return app_finish (&a, 2);
            if (!(pr.damping >= 0 && pr.damping < 1))
                return app_finish (&a,
                                   app_error (&a, "--damping must be in [0, 1)") + 1);
        } else {
            app_error (&a, "unknown option '%s' (see --help)", argv[optind - 1]);
            return app_finish (&a, 2);
        }
    }
    if (optind < argc) {
        app_error (&a, "unexpected argument '%s'", argv[optind]);
        return app_finish (&a, 2);
    }
    if (tol_given && !iters_given)
        pr.iterations = 0; /* until converged */
    if (pr.iterations == 0 && !tol_given) {
        app_error (&a, "--iterations 0 needs --tolerance");
        return app_finish (&a, 2);
    }
    if (app_load (&a, 0) < 0)
        return app_finish (&a, 1);

    struct loom_pregel_program prog;
    algo_pagerank_program (&prog, &pr);
    struct loom_pregel_params pp = LOOM_PREGEL_PARAMS_INIT;
    pp.max_supersteps = a.max_supersteps;
    pp.checkpoint = a.checkpoint;
    pp.checkpoint_every = a.checkpoint_every;
    pp.resume = a.resume;
    loom_error_t err;
    loom_pregel_t *job = loom_pregel_create (a.g, &prog, &pp, &err);
    if (!job || algo_pagerank_setup (job, &pr, &err) < 0) {
        app_error (&a, "%s", err.text);
        loom_pregel_destroy (job);
        return app_finish (&a, 1);
    }
    char params[256];
    snprintf (params, sizeof (params),
              "{\"iterations\":%" PRIu64 ",\"tolerance\":%.17g,\"damping\":%.17g,"
              "\"partition\":\"%s\",\"seed\":%" PRIu64 "}",
              pr.iterations, pr.tolerance, pr.damping,
              a.gp.partition == LOOM_PREGEL_PART_RANGE ? "range" : "hash", a.gp.seed);
    int status = app_run (&a, job, params) < 0;
    if (!status) {
        struct loom_pregel_stats st;
        loom_pregel_stats (job, &st);
        uint64_t iters = st.supersteps > 0 ? st.supersteps - 1 : 0;
        if (!a.quiet && a.rank == 0) {
            printf ("pagerank: %" PRIu64 " iterations in %" PRIu64
                    " supersteps, %.3f s compute + %.3f s exchange (rank 0)%s\n",
                    iters, st.supersteps, st.compute_sec, st.exchange_sec,
                    st.resumed_from ? " (resumed)" : "");
            fflush (stdout);
        }
        if (a.top)
            app_print_top (&a, job, LOOM_PREGEL_F64, a.top);
    }
    loom_pregel_destroy (job);
    return app_finish (&a, status);
}
