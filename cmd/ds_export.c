/* SPDX-License-Identifier: MIT */
/* `loom ds head` and `loom ds export --csv`: records as CSV, read and verified
 * partition by partition.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ds.h"

enum { OPT_CSV = 256, OPT_EXPECT, OPT_NOHEADER };

static const struct cmd_option head_options[] = {
    {"lines", 1, 'n', "N", "Show the first N records (default 10)"},
    {"partition", 1, 'p', "P", "Start at partition P (default 0)"},
    {"expect-schema", 1, OPT_EXPECT, "SCHEMA",
     "Fail unless the dataset has this schema"},
    {NULL, 0, 0, NULL, NULL},
};

static const struct cmd_option export_options[] = {
    {"csv", 0, OPT_CSV, NULL, "Write CSV (RFC 4180) with a header line (required)"},
    {"output", 1, 'o', "FILE", "Write to FILE instead of standard output"},
    {"partition", 1, 'p', "P", "Export only partition P"},
    {"no-header", 0, OPT_NOHEADER, NULL, "Leave out the header line"},
    {"expect-schema", 1, OPT_EXPECT, "SCHEMA",
     "Fail unless the dataset has this schema"},
    {NULL, 0, 0, NULL, NULL},
};

static long parse_part (const struct cmd *cmd, const char *v)
{
    char *end;
    errno = 0;
    long p = strtol (v, &end, 10);
    if (errno || end == v || *end || p < 0) {
        cmd_error (cmd, "--partition must be a partition number, not '%s'", v);
        return -1;
    }
    return p;
}

/* Write up to 'limit' records (-1: all) of partitions [first, last) as CSV. */
static int dump (const struct cmd *cmd,
                 loom_ds_t *ds,
                 uint32_t first,
                 uint32_t last,
                 long long limit,
                 int header,
                 FILE *f)
{
    const loom_ds_schema_t *s = loom_ds_schema (ds);
    if (header)
        ds_csv_header (f, s);
    for (uint32_t p = first; p < last && limit != 0; p++) {
        loom_error_t err;
        loom_ds_part_t *pr = loom_ds_part_read (ds, p, &err);
        if (!pr) {
            fflush (f);
            return cmd_error (cmd, "%s", err.text);
        }
        size_t n = loom_ds_part_nrecords (pr);
        for (size_t r = 0; r < n && limit != 0; r++, limit--)
            ds_csv_record (f, s, pr, r);
        loom_ds_part_destroy (pr);
    }
    return 0;
}

static int head_main (const struct cmd *cmd, int argc, char **argv)
{
    long lines = 10, part = 0;
    const char *arg, *expect = NULL;
    int c;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        switch (c) {
        case 'n':
            if ((lines = cmd_parse_count (cmd, "--lines", arg)) < 0)
                return 1;
            break;
        case 'p':
            if ((part = parse_part (cmd, arg)) < 0)
                return 1;
            break;
        case OPT_EXPECT:
            expect = arg;
            break;
        default:
            return 1;
        }
    }
    if (optind != argc - 1)
        return cmd_error (cmd, "give one dataset (see 'loom ds head --help')");
    loom_ds_t *ds = ds_open_or_complain (cmd, argv[optind], expect);
    if (!ds)
        return 1;
    if ((uint64_t)part >= loom_ds_nparts (ds)) {
        loom_ds_close (ds);
        return cmd_error (cmd, "%s: partition %ld out of range (nparts %u)",
                          argv[optind], part, loom_ds_nparts (ds));
    }
    int rc = dump (cmd, ds, (uint32_t)part, loom_ds_nparts (ds), lines, 1, stdout);
    loom_ds_close (ds);
    return rc;
}

static int export_main (const struct cmd *cmd, int argc, char **argv)
{
    long part = -1;
    int csv = 0, header = 1, c;
    const char *arg, *out = NULL, *expect = NULL;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        switch (c) {
        case OPT_CSV:
            csv = 1;
            break;
        case 'o':
            out = arg;
            break;
        case 'p':
            if ((part = parse_part (cmd, arg)) < 0)
                return 1;
            break;
        case OPT_NOHEADER:
            header = 0;
            break;
        case OPT_EXPECT:
            expect = arg;
            break;
        default:
            return 1;
        }
    }
    if (!csv)
        return cmd_error (cmd, "give a format: --csv (the only one for now)");
    if (optind != argc - 1)
        return cmd_error (cmd, "give one dataset (see 'loom ds export --help')");
    loom_ds_t *ds = ds_open_or_complain (cmd, argv[optind], expect);
    if (!ds)
        return 1;
    uint32_t first = 0, last = loom_ds_nparts (ds);
    if (part >= 0) {
        if ((uint64_t)part >= last) {
            loom_ds_close (ds);
            return cmd_error (cmd, "%s: partition %ld out of range (nparts %u)",
                              argv[optind], part, last);
        }
        first = (uint32_t)part;
        last = first + 1;
    }
    FILE *f = stdout;
    if (out && !(f = fopen (out, "w"))) {
        loom_ds_close (ds);
        return cmd_error (cmd, "%s: %s", out, strerror (errno));
    }
    int rc = dump (cmd, ds, first, last, -1, header, f);
    if (fflush (f) != 0 && rc == 0)
        rc = cmd_error (cmd, "%s: %s", out ? out : "standard output", strerror (errno));
    if (out && fclose (f) != 0 && rc == 0)
        rc = cmd_error (cmd, "%s: %s", out, strerror (errno));
    loom_ds_close (ds);
    return rc;
}

const struct cmd cmd_ds_head = {
    .name = "ds head",
    .usage = "[-n N] [--partition P] DATASET",
    .summary = "Show the first records of a dataset as CSV",
    .fn = head_main,
    .options = head_options,
};

const struct cmd cmd_ds_export = {
    .name = "ds export",
    .usage = "--csv [-o FILE] [--partition P] DATASET",
    .summary = "Export a dataset (or one partition) as CSV",
    .fn = export_main,
    .options = export_options,
    .description =
        "Numbers are written exactly (f64 in the shortest form that reads back the\n"
        "same double); fixed strings "
        "lose their NUL padding; fields with commas, quotes or newlines are quoted.\n"
        "Every partition's checksum is verified as it is read.",
};
