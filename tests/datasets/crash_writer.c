/* SPDX-License-Identifier: MIT */
/* Writer for the crash test: writes version V (1 or 2) of a 4-partition dataset,
 * partition 1 in two batches. $LOOM_DS_CRASH_AT names a point where the process
 * SIGKILLs itself: the library's points (docs/datasets.md) or this program's
 * "begin" (partition 1 begun, nothing appended) and "before-commit".
 *
 *     ds-crash-writer PATH V [--overwrite] [--resume]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/dataset.h>

static void point (const char *name)
{
    const char *at = getenv ("LOOM_DS_CRASH_AT");
    if (at && strcmp (at, name) == 0)
        raise (SIGKILL);
}

int main (int argc, char **argv)
{
    if (argc < 3) {
        fprintf (stderr, "usage: ds-crash-writer PATH V [--overwrite] [--resume]\n");
        return 2;
    }
    const char *path = argv[1];
    uint64_t v = strtoull (argv[2], NULL, 10);
    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    p.nparts = 4;
    for (int i = 3; i < argc; i++) {
        if (strcmp (argv[i], "--overwrite") == 0)
            p.flags |= LOOM_DS_OVERWRITE;
        if (strcmp (argv[i], "--resume") == 0)
            p.flags |= LOOM_DS_RESUME;
    }
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse ("k:u64,v:f64", &err);
    loom_ds_writer_t *w = loom_ds_create (MPI_COMM_NULL, path, s, &p, &err);
    if (!w) {
        fprintf (stderr, "ds-crash-writer: %s\n", err.text);
        return 1;
    }
    for (uint32_t part = 0; part < 4; part++) {
        if (loom_ds_writer_committed (w, part))
            continue;
        size_t n = 20000 + 1000 * part + 7 * v; /* versions differ in size and values */
        uint64_t *k = malloc (n * sizeof (*k));
        double *d = malloc (n * sizeof (*d));
        for (size_t i = 0; i < n; i++) {
            k[i] = v * 1000000 + part * 100000 + i;
            d[i] = (double)v / (i + 1);
        }
        loom_ds_part_writer_t *pw = loom_ds_part_begin (w, part, &err);
        if (!pw) {
            fprintf (stderr, "ds-crash-writer: %s\n", err.text);
            return 1;
        }
        if (part == 1)
            point ("begin");
        size_t half = part == 1 ? n / 2 : n;
        struct loom_ds_colbuf a[2] = {{k, NULL}, {d, NULL}};
        struct loom_ds_colbuf b[2] = {{k + half, NULL}, {d + half, NULL}};
        if (loom_ds_part_append (pw, half, a, &err) < 0
            || (half < n && loom_ds_part_append (pw, n - half, b, &err) < 0)
            || loom_ds_part_end (pw, &err) < 0) {
            fprintf (stderr, "ds-crash-writer: %s\n", err.text);
            return 1;
        }
        free (k);
        free (d);
    }
    point ("before-commit");
    if (loom_ds_commit (w, &err) < 0) {
        fprintf (stderr, "ds-crash-writer: %s\n", err.text);
        return 1;
    }
    loom_ds_writer_destroy (w);
    loom_ds_schema_destroy (s);
    return 0;
}
