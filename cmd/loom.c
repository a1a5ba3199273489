/* SPDX-License-Identifier: MIT */
/* The `loom` front end: main() only wires the subcommand table together. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

/* One entry per line, so subcommands added in parallel merge cleanly. */
/* clang-format off */
static const struct cmd *const commands[] = {
    &cmd_topo,
    &cmd_run,
    &cmd_launch,
    &cmd_gen,
    &cmd_trace,
    &cmd_sched,
    &cmd_submit,
    &cmd_ps,
    &cmd_cancel,
    &cmd_wait,
    &cmd_logs,
    &cmd_shares,
    &cmd_nodes,
    &cmd_top,
    &cmd_ds,
    &cmd_replay,
    &cmd_version,
    NULL,
};
/* clang-format on */

static void usage (FILE *f)
{
    fprintf (f, "Usage: loom <command> [options] [args]\n\n"
                "Loom: a datacenter operating system for HPC clusters.\n\n"
                "Commands:\n");
    for (int i = 0; commands[i]; i++)
        fprintf (f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf (f, "  %-10s %s\n", "help", "Show help for a command");
    fprintf (
        f, "\nAny program 'loom-<name>' beside loom or on PATH runs as 'loom <name>'.\n"
           "Run 'loom <command> --help' for a command's options.\n"
           "Environment: LOOM_LOG=debug|info|warn|error sets the log level.\n");
}

static const struct cmd *lookup (const char *name)
{
    for (int i = 0; commands[i]; i++)
        if (strcmp (commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

/* Run 'loom-<name>' with the remaining arguments; returns only on failure. */
static int run_external (const char *name, int argc, char **argv)
{
    char *path = cmd_find_program (name);
    if (!path) {
        fprintf (stderr, "loom: '%s' is not a loom command (see 'loom --help')\n",
                 name);
        return 1;
    }
    argv[0] = path;
    (void)argc;
    execv (path, argv);
    fprintf (stderr, "loom: cannot run %s: %s\n", path, strerror (errno));
    free (path);
    return 126;
}

int main (int argc, char **argv)
{
    if (argc < 2) {
        usage (stderr);
        return 1;
    }
    const char *name = argv[1];
    if (strcmp (name, "--help") == 0 || strcmp (name, "-h") == 0) {
        usage (stdout);
        return 0;
    }
    if (strcmp (name, "--version") == 0)
        name = "version";
    if (strcmp (name, "help") == 0) {
        if (argc < 3) {
            usage (stdout);
            return 0;
        }
        const struct cmd *c = lookup (argv[2]);
        if (!c) {
            fprintf (stderr, "loom: help: no command '%s'\n", argv[2]);
            return 1;
        }
        cmd_help (c, stdout);
        return 0;
    }
    if (name[0] == '-') {
        fprintf (stderr, "loom: unknown option '%s' (see 'loom --help')\n", name);
        return 1;
    }
    const struct cmd *c = lookup (name);
    if (!c)
        return run_external (name, argc - 1, argv + 1);
    optind = 1; /* subcommands parse argv + 1 from its start */
    return c->fn (c, argc - 1, argv + 1);
}
