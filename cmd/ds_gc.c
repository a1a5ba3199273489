/* SPDX-License-Identifier: MIT */
/* `loom ds gc`: remove temporary and uncommitted files left by interrupted writers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ds.h"

static const struct cmd_option options[] = {
    {"min-age", 1, 'a', "SECONDS",
     "Keep files younger than this, which a running writer may own (default 600)"},
    {"quiet", 0, 'q', NULL, "Do not list the removed files"},
    {NULL, 0, 0, NULL, NULL},
};

static int gc_main (const struct cmd *cmd, int argc, char **argv)
{
    double min_age = 600;
    int quiet = 0, c, rc = 0;
    const char *arg;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        switch (c) {
        case 'a': {
            char *end;
            errno = 0;
            min_age = strtod (arg, &end);
            if (errno || end == arg || *end || min_age < 0)
                return cmd_error (
                    cmd, "--min-age must be a number of seconds, not '%s'", arg);
            break;
        }
        case 'q':
            quiet = 1;
            break;
        default:
            return 1;
        }
    }
    if (optind == argc)
        return cmd_error (cmd, "give a dataset or a directory of datasets");
    for (int i = optind; i < argc; i++) {
        loom_error_t err;
        char **removed = NULL;
        int n = loom_ds_gc (argv[i], min_age, &removed, &err);
        if (n < 0) {
            rc = cmd_error (cmd, "%s", err.text);
            continue;
        }
        for (int k = 0; removed && removed[k]; k++) {
            if (!quiet)
                printf ("removed %s\n", removed[k]);
            free (removed[k]);
        }
        free (removed);
        if (!quiet)
            printf ("%s: %d file%s removed\n", argv[i], n, n == 1 ? "" : "s");
    }
    return rc;
}

const struct cmd cmd_ds_gc = {
    .name = "ds gc",
    .usage = "[--min-age SECONDS] [--quiet] DATASET|DIR...",
    .summary = "Remove orphaned temporary and uncommitted files of datasets",
    .fn = gc_main,
    .options = options,
    .description =
        "Removes .tmp.* files, partition files of generations no manifest refers to,\n"
        "and the partitions of a write that never committed. A dataset whose manifest\n"
        "is damaged is left alone: recompute needs what is there.",
};
