/* SPDX-License-Identifier: MIT */
/* loom-cc: connected components (edge direction ignored) by HashMin label
 * propagation; each vertex's value is the smallest vertex id of its component.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/error.h>

#include "algos.h"
#include "app.h"

static void usage (void)
{
    printf (
        "Usage: loom run cc -n N --input EDGES [options]\n"
        "       mpirun -np N loom-cc --input EDGES [options]\n\n"
        "Connected components of the undirected graph (HashMin): every vertex gets\n"
        "the smallest id of its component.\n\n" APP_COMMON_HELP);
}

/* Components = vertices whose label is their own id. */
static uint64_t count_components (struct app *a, loom_pregel_t *job)
{
    size_t n;
    const uint64_t *ids = loom_pregel_graph_ids (a->g, &n);
    const uint64_t *labels = loom_pregel_values (job);
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += labels[i] == ids[i];
    uint64_t total = 0;
    MPI_Allreduce (&k, &total, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    return total;
}

int main (int argc, char **argv)
{
    static const struct option longopts[] = {
        APP_COMMON_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    struct app a;
    app_init (&a, "cc", &argc, &argv);
    int c;
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
        }
        app_error (&a, "unknown option '%s' (see --help)", argv[optind - 1]);
        return app_finish (&a, 2);
    }
    if (optind < argc) {
        app_error (&a, "unexpected argument '%s'", argv[optind]);
        return app_finish (&a, 2);
    }
    if (app_load (&a, LOOM_PREGEL_SYMMETRIC | LOOM_PREGEL_NO_WEIGHTS) < 0)
        return app_finish (&a, 1);
    struct loom_pregel_program prog;
    algo_cc_program (&prog);
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
    char params[128];
    snprintf (params, sizeof (params), "{\"partition\":\"%s\",\"seed\":%" PRIu64 "}",
              a.gp.partition == LOOM_PREGEL_PART_RANGE ? "range" : "hash", a.gp.seed);
    int status = app_run (&a, job, params) < 0;
    if (!status) {
        struct loom_pregel_stats st;
        loom_pregel_stats (job, &st);
        uint64_t k = count_components (&a, job);
        if (!a.quiet && a.rank == 0) {
            printf ("cc: %" PRIu64 " components in %" PRIu64
                    " supersteps, %.3f s compute + %.3f s exchange (rank 0)\n",
                    k, st.supersteps, st.compute_sec, st.exchange_sec);
            fflush (stdout);
        }
        if (a.top)
            app_print_top (&a, job, LOOM_PREGEL_U64, a.top);
    }
    loom_pregel_destroy (job);
    return app_finish (&a, status);
}
