/* SPDX-License-Identifier: MIT */
/* The single-source apps (sssp, bfs) share one main: options, the source check, the
 * run and the report; only the vertex program and the value type differ.
 */
#ifndef LOOM_APPS_PREGEL_SOURCE_H
#define LOOM_APPS_PREGEL_SOURCE_H

#include "algos.h"

struct source_app {
    const char *name;    /* "sssp" */
    const char *summary; /* for --help */
    int weighted;        /* check weights are >= 0 */
    loom_pregel_type_t type;
    void (*program) (struct loom_pregel_program *prog, struct algo_source *src);
};

int source_main (const struct source_app *sa, int argc, char **argv);

#endif
