/* SPDX-License-Identifier: MIT */
/* test-pregel-mkedges TEXT DATASET: write the edge list TEXT ("src dst [weight]" per
 * line) as an edge dataset with one partition, for the CLI tests' hand-made graphs
 * (negative weights, an empty graph). Uses datasets without MPI.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <loom/dataset.h>
#include <loom/error.h>

int main (int argc, char **argv)
{
    if (argc != 3) {
        fprintf (stderr, "usage: test-pregel-mkedges TEXT DATASET\n");
        return 2;
    }
    FILE *f = fopen (argv[1], "r");
    if (!f) {
        perror (argv[1]);
        return 1;
    }
    size_t n = 0, cap = 1024;
    uint64_t *src = malloc (cap * 8), *dst = malloc (cap * 8);
    double *w = malloc (cap * 8);
    int weighted = -1;
    char line[256];
    while (fgets (line, sizeof (line), f)) {
        uint64_t s, d;
        double x;
        int k = sscanf (line, "%" SCNu64 " %" SCNu64 " %lf", &s, &d, &x);
        if (k < 2)
            continue;
        if (weighted < 0)
            weighted = k == 3;
        if (n == cap) {
            cap *= 2;
            src = realloc (src, cap * 8);
            dst = realloc (dst, cap * 8);
            w = realloc (w, cap * 8);
        }
        src[n] = s;
        dst[n] = d;
        w[n] = k == 3 ? x : 1.0;
        n++;
    }
    fclose (f);
    loom_error_t err;
    loom_ds_schema_t *schema = loom_ds_schema_parse (
        weighted == 1 ? "src:u64,dst:u64,weight:f64" : "src:u64,dst:u64", &err);
    struct loom_ds_create_params cp = LOOM_DS_CREATE_PARAMS_INIT;
    loom_ds_writer_t *wr =
        schema ? loom_ds_create (MPI_COMM_NULL, argv[2], schema, &cp, &err) : NULL;
    struct loom_ds_colbuf cols[3] = {{src, NULL}, {dst, NULL}, {w, NULL}};
    int rc = !wr || loom_ds_write_partition (wr, 0, n, cols, &err) < 0
             || loom_ds_commit (wr, &err) < 0;
    if (rc)
        fprintf (stderr, "test-pregel-mkedges: %s\n", err.text);
    loom_ds_writer_destroy (wr);
    loom_ds_schema_destroy (schema);
    free (src);
    free (dst);
    free (w);
    return rc;
}
