/* SPDX-License-Identifier: MIT */
/* `loom gen <kind> -n N [options]`: run the generator program loom-gen on N ranks,
 * the way `loom run` runs an app, so a data set of any size is written in parallel.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

static const struct cmd_option options[] = {
    {"np", 1, 'n', "N", "Number of ranks (default 1)"},
    {NULL, 0, 0, NULL, NULL},
};

static int gen_main (const struct cmd *cmd, int argc, char **argv)
{
    if (argc < 2)
        return cmd_error (cmd, "which kind? (usage: loom gen <kind> -n N [options])");
    const char *kind = argv[1];
    if (strcmp (kind, "--help") == 0 || strcmp (kind, "-h") == 0) {
        /* The kinds live in loom-gen: let it list them (it runs as an MPI singleton).
         */
        cmd_help (cmd, stdout);
        fputc ('\n', stdout);
        fflush (stdout);
        char *path = cmd_find_program ("gen");
        if (!path)
            return cmd_error (cmd, "no loom-gen beside loom or on PATH");
        char *args[] = {path, "--help", NULL};
        execv (path, args);
        cmd_error (cmd, "cannot run %s: %s", path, strerror (errno));
        free (path);
        return 1;
    }
    if (kind[0] == '-')
        return cmd_error (cmd, "the kind comes first: loom gen <kind> -n N [options]");
    return cmd_exec_app (cmd, "gen", argc - 1, argv + 1);
}

const struct cmd cmd_gen = {
    .name = "gen",
    .usage = "<kind> -n N [kind options]",
    .summary = "Generate a data set in parallel (sort records, graphs, ...)",
    .fn = gen_main,
    .options = options,
    .description =
        "Runs the generator loom-gen <kind> on N ranks (like 'loom run'). Every\n"
        "kind is deterministic: the same seed gives the same data at any N.\n"
        "'loom gen <kind> --help' lists a kind's options.",
};
