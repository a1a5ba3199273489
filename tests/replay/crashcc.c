/* SPDX-License-Identifier: MIT */
/* loom-test-crashcc: connected components (the app's HashMin program) whose compute
 * crashes (a real SIGSEGV) at one vertex in one superstep, for the replay tests.
 *
 *   loom-test-crashcc --input EDGES [--crash-vertex V --crash-superstep S]
 *                     [--capture[=TASKS]] [common Pregel app options]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "algos.h"
#include "app.h"

struct crash_at {
    int armed;
    uint64_t vertex, superstep;
    loom_pregel_compute_f compute; /* the real one */
};

static void crashing_compute (loom_pregel_ctx_t *ctx,
                              loom_pregel_vertex_t *v,
                              const void *msgs,
                              size_t nmsgs,
                              void *arg)
{
    const struct crash_at *c = arg;
    if (c->armed && loom_pregel_superstep (ctx) == c->superstep
        && loom_pregel_vertex_id (v) == c->vertex) {
        volatile int *volatile p = NULL;
        *p = 42;
    }
    c->compute (ctx, v, msgs, nmsgs, NULL);
}

int main (int argc, char **argv)
{
    enum { OPT_VERTEX = 1000, OPT_STEP };
    static const struct option longopts[] = {
        APP_COMMON_OPTIONS,
        {"crash-vertex", required_argument, NULL, OPT_VERTEX},
        {"crash-superstep", required_argument, NULL, OPT_STEP},
        {NULL, 0, NULL, 0},
    };
    struct app a;
    struct crash_at crash = {0};
    app_init (&a, "test-crashcc", &argc, &argv);
    int c;
    while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1) {
        int r = app_option (&a, c, optarg);
        if (r < 0)
            return app_finish (&a, 2);
        if (r > 0)
            continue;
        if (c == OPT_VERTEX || c == OPT_STEP) {
            if (app_parse_u64 (&a, c == OPT_VERTEX ? "crash-vertex" : "crash-superstep",
                               optarg,
                               c == OPT_VERTEX ? &crash.vertex : &crash.superstep)
                < 0)
                return app_finish (&a, 2);
            crash.armed = 1;
            continue;
        }
        app_error (&a, "unknown option '%s'", argv[optind - 1]);
        return app_finish (&a, 2);
    }
    if (app_load (&a, LOOM_PREGEL_SYMMETRIC | LOOM_PREGEL_NO_WEIGHTS) < 0)
        return app_finish (&a, 1);
    struct loom_pregel_program prog;
    algo_cc_program (&prog);
    crash.compute = prog.compute;
    prog.compute = crashing_compute;
    prog.arg = &crash;
    loom_error_t err;
    loom_pregel_t *job = loom_pregel_create (a.g, &prog, NULL, &err);
    if (!job) {
        app_error (&a, "%s", err.text);
        return app_finish (&a, 1);
    }
    int status = app_run (&a, job, "{}") < 0;
    loom_pregel_destroy (job);
    return app_finish (&a, status);
}
