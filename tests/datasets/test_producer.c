/* SPDX-License-Identifier: MIT */
/* A small deterministic Loom producer that follows the recompute contract of
 * docs/datasets.md, for the recompute tests:
 *
 *   ds-test-producer --input IN --output OUT --seed S [--wide] [--overwrite]
 *                    [--repair-partitions LIST]
 *
 * IN has a u64 column "x". Narrow (default): output partition p holds, for each x of
 * input partition p, (x, h = xxh64(x, S), w = "w<h % 1000>"). Wide: the same records,
 * hash-partitioned on h (so every output partition needs every input partition).
 * Runs on any number of MPI ranks.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include <loom/dataset.h>
#include <loom/hash.h>

static int rank, size;

static void die (const char *what, const char *why)
{
    fprintf (stderr, "ds-test-producer: %s: %s\n", what, why);
    MPI_Abort (MPI_COMM_WORLD, 1);
}

/* Output records derived from x[0..n). */
struct out {
    size_t n;
    uint64_t *x, *h, *off;
    char *w;
};

static void derive (struct out *o, const uint64_t *x, size_t n, uint64_t seed)
{
    o->x = malloc ((n + 1) * 8);
    o->h = malloc ((n + 1) * 8);
    o->off = malloc ((n + 1) * 8);
    o->w = malloc (n * 8 + 1);
    o->off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        o->x[i] = x[i];
        o->h[i] = loom_hash64 (&x[i], 8, seed);
        int len = snprintf (o->w + o->off[i], 8, "w%u", (unsigned)(o->h[i] % 1000));
        o->off[i + 1] = o->off[i] + (uint64_t)len;
    }
    o->n = n;
}

static void out_free (struct out *o)
{
    free (o->x);
    free (o->h);
    free (o->off);
    free (o->w);
}

int main (int argc, char **argv)
{
    MPI_Init (&argc, &argv);
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    const char *in = NULL, *outp = NULL, *repair = NULL;
    uint64_t seed = 0;
    int wide = 0, overwrite = 0;
    /* The command recorded for recompute: ours, without --repair-partitions. */
    const char **rec = calloc ((size_t)argc + 2, sizeof (char *));
    int nrec = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp (argv[i], "--repair-partitions") == 0 && i + 1 < argc) {
            i++;
            continue;
        }
        rec[nrec++] = argv[i];
    }
    static const struct option opts[] = {
        {"input", 1, NULL, 'i'},     {"output", 1, NULL, 'o'},
        {"seed", 1, NULL, 's'},      {"wide", 0, NULL, 'w'},
        {"overwrite", 0, NULL, 'f'}, {"repair-partitions", 1, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            in = optarg;
            break;
        case 'o':
            outp = optarg;
            break;
        case 's':
            seed = strtoull (optarg, NULL, 0);
            break;
        case 'w':
            wide = 1;
            break;
        case 'f':
            overwrite = 1;
            break;
        case 'r':
            repair = optarg;
            break;
        default:
            die ("options", "unknown option");
        }
    }
    if (!in || !outp)
        die ("options", "--input and --output are required");
    if (!overwrite)
        rec[nrec++] = "--overwrite"; /* rerunning must replace the dataset */
    rec[nrec] = NULL;

    loom_error_t err;
    loom_ds_t *ids = loom_ds_open (MPI_COMM_WORLD, in, NULL, &err);
    if (!ids)
        die ("input", err.text);
    int xcol = loom_ds_schema_find (loom_ds_schema (ids), "x");
    if (xcol < 0
        || loom_ds_schema_type (loom_ds_schema (ids), (size_t)xcol) != LOOM_DS_UINT64)
        die (in, "no u64 column 'x'");
    uint32_t nparts = loom_ds_nparts (ids);

    char params[64];
    snprintf (params, sizeof (params), "{\"seed\": %llu}", (unsigned long long)seed);
    const char *inputs[] = {in};
    struct loom_ds_lineage lin = LOOM_DS_LINEAGE_INIT;
    lin.producer = "ds-test-producer";
    lin.framework = "test";
    lin.argv = rec;
    lin.params_json = params;
    lin.inputs = inputs;
    lin.ninputs = 1;
    lin.dep = wide ? LOOM_DS_DEP_WIDE : LOOM_DS_DEP_NARROW;
    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    p.nparts = nparts;
    p.lineage = &lin;
    p.flags = overwrite || repair ? LOOM_DS_OVERWRITE : 0;
    p.repair_partitions = repair;
    if (wide) {
        p.partitioner = LOOM_DS_PART_HASH;
        p.key = "h";
        p.seed = seed;
    }
    loom_ds_schema_t *s = loom_ds_schema_parse ("x:u64,h:u64,w:bytes", &err);
    loom_ds_writer_t *w = loom_ds_create (MPI_COMM_WORLD, outp, s, &p, &err);
    if (!w)
        die ("output", err.text);

    if (!wide) {
        /* Narrow: partition p from input partition p; skip what is committed. */
        for (uint32_t part = (uint32_t)rank; part < nparts; part += (uint32_t)size) {
            if (loom_ds_writer_committed (w, part))
                continue;
            loom_ds_part_t *pr = loom_ds_part_read (ids, part, &err);
            if (!pr)
                die ("input", err.text);
            struct out o;
            derive (&o, loom_ds_part_column (pr, (size_t)xcol),
                    loom_ds_part_nrecords (pr), seed);
            struct loom_ds_colbuf cols[3] = {{o.x, NULL}, {o.h, NULL}, {o.w, o.off}};
            if (loom_ds_write_partition (w, part, o.n, cols, &err) < 0)
                die ("output", err.text);
            out_free (&o);
            loom_ds_part_destroy (pr);
        }
    } else {
        /* Wide: every output partition takes from every input partition, in input
         * order (deterministic whatever the number of ranks).
         */
        for (uint32_t part = (uint32_t)rank; part < nparts; part += (uint32_t)size) {
            loom_ds_part_writer_t *pw = loom_ds_part_begin (w, part, &err);
            if (!pw)
                die ("output", err.text);
            for (uint32_t ip = 0; ip < nparts; ip++) {
                loom_ds_part_t *pr = loom_ds_part_read (ids, ip, &err);
                if (!pr)
                    die ("input", err.text);
                const uint64_t *x = loom_ds_part_column (pr, (size_t)xcol);
                size_t n = loom_ds_part_nrecords (pr), k = 0;
                uint64_t *sel = malloc ((n + 1) * 8);
                for (size_t i = 0; i < n; i++) {
                    uint64_t h = loom_hash64 (&x[i], 8, seed);
                    if (loom_ds_writer_partition_of (w, &h, 8) == part)
                        sel[k++] = x[i];
                }
                struct out o;
                derive (&o, sel, k, seed);
                struct loom_ds_colbuf cols[3] = {
                    {o.x, NULL}, {o.h, NULL}, {o.w, o.off}};
                if (loom_ds_part_append (pw, o.n, cols, &err) < 0)
                    die ("output", err.text);
                out_free (&o);
                free (sel);
                loom_ds_part_destroy (pr);
            }
            if (loom_ds_part_end (pw, &err) < 0)
                die ("output", err.text);
        }
    }
    if (loom_ds_commit (w, &err) < 0)
        die ("commit", err.text);
    loom_ds_writer_destroy (w);
    loom_ds_schema_destroy (s);
    loom_ds_close (ids);
    free (rec);
    MPI_Finalize ();
    return 0;
}
