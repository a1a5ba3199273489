/* SPDX-License-Identifier: MIT */
/* `loom ds`: dispatch to the dataset subcommands; helpers they share. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ds.h"

static const struct cmd *const subcommands[] = {
    &cmd_ds_ls, &cmd_ds_info,   &cmd_ds_head,   &cmd_ds_verify, &cmd_ds_recompute,
    &cmd_ds_gc, &cmd_ds_export, &cmd_ds_import, NULL,
};

static void ds_usage (FILE *f)
{
    fprintf (f, "Usage: loom ds <command> [options] [args]\n\n"
                "Inspect, check and repair Loom datasets.\n\nCommands:\n");
    for (int i = 0; subcommands[i]; i++)
        fprintf (f, "  %-10s %s\n", subcommands[i]->name + 3, subcommands[i]->summary);
    fprintf (f, "\nRun 'loom ds <command> --help' for a command's options.\n");
}

static int ds_main (const struct cmd *cmd, int argc, char **argv)
{
    if (argc < 2) {
        ds_usage (stderr);
        return 1;
    }
    if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
        ds_usage (stdout);
        return 0;
    }
    for (int i = 0; subcommands[i]; i++)
        if (strcmp (subcommands[i]->name + 3, argv[1]) == 0) {
            optind = 1;
            return subcommands[i]->fn (subcommands[i], argc - 1, argv + 1);
        }
    return cmd_error (cmd, "unknown command '%s' (see 'loom ds --help')", argv[1]);
}

const struct cmd cmd_ds = {
    .name = "ds",
    .usage = "<ls|info|head|verify|recompute|gc|export|import> [options] [args]",
    .summary = "Datasets: list, inspect, verify, recompute, export and import",
    .fn = ds_main,
    .options = NULL,
};

loom_ds_t *
ds_open_or_complain (const struct cmd *cmd, const char *path, const char *expect)
{
    loom_error_t err;
    struct loom_ds_open_params op = LOOM_DS_OPEN_PARAMS_INIT;
    loom_ds_schema_t *s = NULL;
    if (expect && !(s = loom_ds_schema_parse (expect, &err))) {
        cmd_error (cmd, "--expect-schema: %s", err.text);
        return NULL;
    }
    op.expect_schema = s;
    loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, path, &op, &err);
    loom_ds_schema_destroy (s);
    if (!ds)
        cmd_error (cmd, "%s", err.text);
    return ds;
}

static void csv_bytes (FILE *f, const unsigned char *p, size_t n)
{
    int quote = n == 0 ? 0 : (p[0] == ' ' || p[n - 1] == ' ');
    for (size_t i = 0; i < n && !quote; i++)
        quote = p[i] == ',' || p[i] == '"' || p[i] == '\n' || p[i] == '\r';
    if (!quote) {
        fwrite (p, 1, n, f);
        return;
    }
    fputc ('"', f);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"')
            fputc ('"', f);
        fputc (p[i], f);
    }
    fputc ('"', f);
}

void ds_csv_header (FILE *f, const loom_ds_schema_t *s)
{
    for (size_t c = 0; c < loom_ds_schema_ncols (s); c++) {
        if (c)
            fputc (',', f);
        fputs (loom_ds_schema_name (s, c), f);
    }
    fputc ('\n', f);
}

void ds_csv_record (FILE *f,
                    const loom_ds_schema_t *s,
                    const loom_ds_part_t *pr,
                    size_t r)
{
    for (size_t c = 0; c < loom_ds_schema_ncols (s); c++) {
        const void *col = loom_ds_part_column (pr, c);
        size_t w = loom_ds_schema_width (s, c);
        if (c)
            fputc (',', f);
        switch (loom_ds_schema_type (s, c)) {
        case LOOM_DS_INT32:
            fprintf (f, "%" PRId32, ((const int32_t *)col)[r]);
            break;
        case LOOM_DS_INT64:
            fprintf (f, "%" PRId64, ((const int64_t *)col)[r]);
            break;
        case LOOM_DS_UINT64:
            fprintf (f, "%" PRIu64, ((const uint64_t *)col)[r]);
            break;
        case LOOM_DS_FLOAT64: {
            /* The shortest form that reads back as the same double. */
            double v = ((const double *)col)[r];
            char buf[40];
            for (int prec = 15; prec <= 17; prec++) {
                snprintf (buf, sizeof (buf), "%.*g", prec, v);
                if (strtod (buf, NULL) == v)
                    break;
            }
            fputs (buf, f);
            break;
        }
        case LOOM_DS_FIXSTR: {
            /* NUL padding is not part of the value. */
            const unsigned char *p = (const unsigned char *)col + r * w;
            size_t n = w;
            while (n > 0 && p[n - 1] == '\0')
                n--;
            csv_bytes (f, p, n);
            break;
        }
        case LOOM_DS_BYTES: {
            const uint64_t *off = loom_ds_part_offsets (pr, c);
            csv_bytes (f, (const unsigned char *)col + off[r], off[r + 1] - off[r]);
            break;
        }
        }
    }
    fputc ('\n', f);
}

const char *ds_human_bytes (unsigned long long bytes, char buf[32])
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf (buf, 32, "%llu B", bytes);
    else
        snprintf (buf, 32, "%.1f %s", v, units[u]);
    return buf;
}
