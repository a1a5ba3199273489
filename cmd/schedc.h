/* SPDX-License-Identifier: MIT */
/* Helpers shared by the subcommands that talk to loomd (sched, submit, ps, cancel,
 * wait, logs, shares, nodes).
 */
#ifndef LOOM_CMD_SCHEDC_H
#define LOOM_CMD_SCHEDC_H

#include <jansson.h>
#include <stdint.h>

#include "cmd.h"

enum {
    SCHEDC_OPT_DIR = 300,
    SCHEDC_OPT_JSON,
};

#define SCHEDC_OPTIONS                                                                 \
    {"state-dir", 1, SCHEDC_OPT_DIR, "DIR",                                            \
     "loomd's state directory (default $LOOM_STATE_DIR or ~/.loom/sched)"},            \
    {                                                                                  \
        "json", 0, SCHEDC_OPT_JSON, NULL, "Print JSON for scripts"                     \
    }

/* Send 'req' (consumed) to loomd; on success *reply is its answer (caller decrefs) and
 * returns 0; else prints one line and returns 1. 'fd' receives a passed descriptor.
 */
int schedc_call (
    const struct cmd *cmd, const char *dir, json_t *req, json_t **reply, int *fd);

/* For commands that take only SCHEDC_OPTIONS: parse them and send {"op": op} to loomd.
 * With --json the reply is printed here and *reply is NULL; otherwise *reply is the
 * answer for the caller to print (caller decrefs). Returns 0, or 1 after printing one
 * line (bad option, unexpected argument, loomd not answering).
 */
int schedc_query (
    const struct cmd *cmd, int argc, char **argv, const char *op, json_t **reply);

/* Print 'o' as JSON on stdout with a newline. Returns 0. */
int schedc_print_json (json_t *o);

/* Parse "42" or "42.7" (job and array index). Returns 0, or prints and returns 1. */
int schedc_job_id (const struct cmd *cmd,
                   const char *s,
                   uint64_t *job,
                   int64_t *index,
                   int *has_index);

#endif
