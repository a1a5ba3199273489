/* SPDX-License-Identifier: MIT */
/* `loom ds ls`: the datasets in a directory, one line each. */
#define _GNU_SOURCE /* asprintf */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ds.h"

static const struct cmd_option options[] = {
    {NULL, 0, 0, NULL, NULL},
};

static int is_dataset_dir (const char *path)
{
    char *m;
    struct stat st;
    if (asprintf (&m, "%s/manifest.json", path) < 0)
        return 0;
    int rc = stat (m, &st) == 0;
    free (m);
    return rc;
}

static void line (const char *name, const char *path, int *header)
{
    loom_error_t err;
    loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, path, NULL, &err);
    if (*header) {
        printf ("%-32s %6s %14s %10s  %-20s %s\n", "NAME", "PARTS", "RECORDS", "SIZE",
                "CREATED", "SCHEMA");
        *header = 0;
    }
    if (!ds) {
        /* A damaged dataset is listed, not skipped: it is what a user looks for. */
        printf ("%-32s %s\n", name, err.text);
        return;
    }
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < loom_ds_nparts (ds); i++)
        bytes += loom_ds_part_size (ds, i);
    char *schema = loom_ds_schema_format (loom_ds_schema (ds)), buf[32];
    printf ("%-32s %6u %14" PRIu64 " %10s  %-20s %s\n", name, loom_ds_nparts (ds),
            loom_ds_records (ds), ds_human_bytes (bytes, buf), loom_ds_created (ds),
            schema ? schema : "?");
    free (schema);
    loom_ds_close (ds);
}

static int compare (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

static int ls_dir (const struct cmd *cmd, const char *dir, int *header)
{
    if (is_dataset_dir (dir)) {
        line (dir, dir, header);
        return 0;
    }
    DIR *d = opendir (dir);
    if (!d)
        return cmd_error (cmd, "%s: %s", dir, strerror (errno));
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir (d))) {
        char path[4096];
        snprintf (path, sizeof (path), "%s/%s", dir, de->d_name);
        if (de->d_name[0] != '.' && is_dataset_dir (path)) {
            char **p = realloc (names, (n + 1) * sizeof (*names));
            if (!p)
                break;
            names = p;
            names[n++] = strdup (de->d_name);
        }
    }
    closedir (d);
    qsort (names, n, sizeof (*names), compare);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf (path, sizeof (path), "%s/%s", dir, names[i]);
        line (names[i], path, header);
        free (names[i]);
    }
    free (names);
    return 0;
}

static int ls_main (const struct cmd *cmd, int argc, char **argv)
{
    int c, header = 1, rc = 0;
    const char *arg;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1)
        return 1;
    if (optind == argc)
        return ls_dir (cmd, ".", &header);
    for (int i = optind; i < argc; i++)
        rc |= ls_dir (cmd, argv[i], &header);
    return rc;
}

const struct cmd cmd_ds_ls = {
    .name = "ds ls",
    .usage = "[DIR|DATASET]...",
    .summary = "List the datasets in directories (default: the current one)",
    .fn = ls_main,
    .options = options,
};
