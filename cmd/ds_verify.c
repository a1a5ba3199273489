/* SPDX-License-Identifier: MIT */
/* `loom ds verify`: recompute every partition's checksum. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ds.h"

static const struct cmd_option options[] = {
    {"partition", 1, 'p', "P", "Verify only partition P"},
    {"quiet", 0, 'q', NULL, "Print nothing when the dataset is good"},
    {NULL, 0, 0, NULL, NULL},
};

static int verify_main (const struct cmd *cmd, int argc, char **argv)
{
    long long part = -1;
    int quiet = 0, c;
    const char *arg;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        switch (c) {
        case 'p': {
            char *end;
            errno = 0;
            part = strtoll (arg, &end, 10);
            if (errno || end == arg || *end || part < 0)
                return cmd_error (
                    cmd, "--partition must be a partition number, not '%s'", arg);
            break;
        }
        case 'q':
            quiet = 1;
            break;
        default:
            return 1;
        }
    }
    if (optind != argc - 1)
        return cmd_error (cmd, "give one dataset (see 'loom ds verify --help')");
    const char *path = argv[optind];
    loom_error_t err;
    uint32_t *bad = NULL;
    size_t nbad = 0;
    int n = loom_ds_verify (path, part, &bad, &nbad, &err);
    if (n < 0)
        return cmd_error (cmd, "%s", err.text);
    if (n > 0) {
        /* One line: the first bad partition in full, and how many others. */
        if (nbad > 1) {
            char more[64];
            snprintf (more, sizeof (more), " (and %zu more bad partitions)", nbad - 1);
            cmd_error (cmd, "%s%s", err.text, more);
        } else {
            cmd_error (cmd, "%s", err.text);
        }
        free (bad);
        return 1;
    }
    free (bad);
    if (!quiet) {
        loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
        if (ds) {
            printf ("%s: ok: %s%u partitions, %" PRIu64 " records, checksums match\n",
                    path, part >= 0 ? "1 of " : "", loom_ds_nparts (ds),
                    loom_ds_records (ds));
            loom_ds_close (ds);
        }
    }
    return 0;
}

const struct cmd cmd_ds_verify = {
    .name = "ds verify",
    .usage = "[--partition P] [--quiet] DATASET",
    .summary = "Read every partition and check its checksum and record count",
    .fn = verify_main,
    .options = options,
    .description = "Exits 1 with one line naming the first bad partition and its file\n"
                   "when any partition is missing, truncated or corrupt.",
};
