/* SPDX-License-Identifier: MIT */
/* `loom launch` options and runner, shared with `loom run`. */
#ifndef LOOM_CMD_LAUNCH_H
#define LOOM_CMD_LAUNCH_H

#include <loom/launch.h>

#include "cmd.h"

struct launch_opts {
    struct loom_placement_params pp;
    int report, explain, dry_run, tag;
    double timeout;
    const char *cpuset, *host, *hostfile, *rsh_agent, *synthetic, *xml;
    const char *trace; /* --trace PREFIX: LOOM_TRACE for the ranks, merged at the end */
    loom_launch_engine_t engine;
};
#define LAUNCH_OPTS_INIT                                                               \
    {                                                                                  \
        .pp = LOOM_PLACEMENT_PARAMS_INIT, .engine = LOOM_ENGINE_AUTO                   \
    }

/* Apply option 'key' (from cmd_launch's table) with 'arg'. Returns 0, or -1 after
 * printing one error line.
 */
int launch_opts_set (const struct cmd *cmd,
                     struct launch_opts *o,
                     int key,
                     const char *arg);

/* Place and run 'prog' (NULL-terminated argv) with 'o'; returns the exit status. */
int launch_run (const struct cmd *cmd, struct launch_opts *o, char **prog);

#endif
