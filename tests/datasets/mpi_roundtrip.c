/* SPDX-License-Identifier: MIT */
/* N ranks write every column type, M != N ranks read it back (M = N - 1, or 1 at
 * np 1), each rank checking the values of its share. Also: the in-memory hand-off
 * between two steps of one job. Any failing rank makes mpiexec exit non-zero.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mpi.h>

#include <loom/dataset.h>

#include "dsgen.h"

#define NPARTS 7

static int failures;

#define CHECK(cond, ...)                                                               \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf (stderr, "rank %d: %s:%d: ", rank, __FILE__, __LINE__);            \
            fprintf (stderr, __VA_ARGS__);                                             \
            fputc ('\n', stderr);                                                      \
            failures++;                                                                \
        }                                                                              \
    } while (0)

static int rank, size;

static void write_all (const char *path, loom_ds_persist_t persist)
{
    loom_error_t err;
    loom_ds_schema_t *s = loom_ds_schema_parse (DSGEN_SCHEMA, &err);
    struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
    p.nparts = NPARTS;
    p.persist = persist;
    p.partitioner = LOOM_DS_PART_HASH;
    p.key = "c";
    p.seed = 99;
    p.trace_id = "mpi-trace";
    loom_ds_writer_t *w = loom_ds_create (MPI_COMM_WORLD, path, s, &p, &err);
    CHECK (w, "create: %s", err.text);
    if (!w)
        MPI_Abort (MPI_COMM_WORLD, 1);
    /* Round-robin, so with N > 1 every rank writes and some write several. */
    for (uint32_t part = (uint32_t)rank; part < NPARTS; part += (uint32_t)size) {
        struct dsgen g;
        dsgen_fill (&g, part);
        CHECK (loom_ds_write_partition (w, part, g.n, g.cols, &err) == 0,
               "write %u: %s", part, err.text);
        dsgen_free (&g);
    }
    CHECK (loom_ds_commit (w, &err) == 0, "commit: %s", err.text);
    loom_ds_writer_destroy (w);
    loom_ds_schema_destroy (s);
}

static void read_share (MPI_Comm comm, const char *path, int expect_all)
{
    loom_error_t err;
    loom_ds_t *ds = loom_ds_open (comm, path, NULL, &err);
    CHECK (ds, "open: %s", err.text);
    if (!ds)
        return;
    CHECK (loom_ds_nparts (ds) == NPARTS, "nparts %u", loom_ds_nparts (ds));
    CHECK (strcmp (loom_ds_trace_id (ds), "mpi-trace") == 0, "trace id");
    uint32_t first, count, total = 0;
    loom_ds_assign (ds, &first, &count);
    for (uint32_t part = first; part < first + count; part++) {
        loom_ds_part_t *pr = loom_ds_part_read (ds, part, &err);
        CHECK (pr, "read %u: %s", part, err.text);
        if (pr)
            CHECK (dsgen_check (pr, part) == -1, "partition %u column %d differs", part,
                   dsgen_check (pr, part));
        loom_ds_part_destroy (pr);
    }
    /* The shares cover every partition exactly once. */
    MPI_Allreduce (&count, &total, 1, MPI_UINT32_T, MPI_SUM, comm);
    CHECK (total == NPARTS, "shares cover %u partitions", total);
    (void)expect_all;
    loom_ds_close (ds);
}

int main (int argc, char **argv)
{
    MPI_Init (&argc, &argv);
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    char dir[256] = "/tmp/loom-ds-mpi.XXXXXX";
    if (rank == 0 && !mkdtemp (dir))
        MPI_Abort (MPI_COMM_WORLD, 1);
    MPI_Bcast (dir, sizeof (dir), MPI_CHAR, 0, MPI_COMM_WORLD);
    char path[300], mpath[300];
    snprintf (path, sizeof (path), "%s/data.h5", dir);
    snprintf (mpath, sizeof (mpath), "%s/mem.h5", dir);

    /* N writers, M readers. */
    write_all (path, LOOM_DS_PERSIST_DISK);
    int readers = size > 1 ? size - 1 : 1;
    MPI_Comm rcomm;
    MPI_Comm_split (MPI_COMM_WORLD, rank < readers ? 0 : MPI_UNDEFINED, rank, &rcomm);
    if (rcomm != MPI_COMM_NULL) {
        read_share (rcomm, path, 1);
        MPI_Comm_free (&rcomm);
    }
    /* N readers too, and a reader that verifies everything alone. */
    read_share (MPI_COMM_WORLD, path, 1);
    if (rank == 0) {
        uint32_t *bad;
        size_t nbad;
        loom_error_t err;
        CHECK (loom_ds_verify (path, -1, &bad, &nbad, &err) == 0, "verify: %s",
               err.text);
        free (bad);
    }

    /* In-job hand-off: rank r reads back from memory what it wrote. */
    write_all (mpath, LOOM_DS_PERSIST_MEMORY);
    loom_error_t err;
    loom_ds_t *ds = loom_ds_open (MPI_COMM_WORLD, mpath, NULL, &err);
    CHECK (ds, "open memory dataset: %s", err.text);
    for (uint32_t part = 0; ds && part < NPARTS; part++) {
        loom_ds_part_t *pr = loom_ds_part_read (ds, part, &err);
        int mine = (int)(part % (uint32_t)size) == rank;
        CHECK (!pr == !mine, "memory partition %u: %s", part,
               pr ? "readable" : err.text);
        if (pr)
            CHECK (dsgen_check (pr, part) == -1, "memory partition %u differs", part);
        loom_ds_part_destroy (pr);
    }
    loom_ds_close (ds);
    CHECK (access (mpath, F_OK) != 0, "memory dataset touched the disk");
    loom_ds_release (mpath);

    MPI_Barrier (MPI_COMM_WORLD);
    if (rank == 0) {
        char cmd[300];
        snprintf (cmd, sizeof (cmd), "rm -rf '%s'", dir);
        if (system (cmd) != 0)
            failures++;
    }
    int all = 0;
    MPI_Allreduce (&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf ("mpi_roundtrip np=%d: %s (%d failures)\n", size, all ? "FAIL" : "ok",
                all);
    MPI_Finalize ();
    return all ? 1 : 0;
}
