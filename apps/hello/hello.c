/* SPDX-License-Identifier: MIT */
/* loom-hello: the smallest real MPI job. Every rank reports where it runs and what it
 * is bound to, then the job checks an Allreduce and a ring exchange and fails loudly if
 * either is wrong. Used by the demo, by `loom run` tests and by launcher tests.
 */
#include <getopt.h>
#include <hwloc.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage (FILE *f)
{
    fprintf (f,
             "Usage: loom-hello [--quiet] [--abort=RANK] [--segv=RANK] [--sleep=SEC]\n"
             "Each rank prints its host and CPU binding; the job checks an Allreduce\n"
             "and a ring exchange and exits 1 if either is wrong.\n"
             "Failure drills for launcher tests, after the checks: --abort makes RANK\n"
             "call MPI_Abort(7), --segv makes RANK crash with SIGSEGV, --sleep makes\n"
             "every rank sleep SEC seconds before MPI_Finalize.\n");
}

/* The PUs this rank is bound to, as an hwloc list ("0-1"). */
static void binding (char *buf, size_t len)
{
    hwloc_topology_t topo;
    hwloc_bitmap_t set = hwloc_bitmap_alloc ();
    snprintf (buf, len, "?");
    if (hwloc_topology_init (&topo) == 0) {
        if (hwloc_topology_load (topo) == 0 && hwloc_get_cpubind (topo, set, 0) == 0)
            hwloc_bitmap_list_snprintf (buf, len, set);
        hwloc_topology_destroy (topo);
    }
    hwloc_bitmap_free (set);
}

int main (int argc, char **argv)
{
    static const struct option longopts[] = {
        {"quiet", no_argument, NULL, 'q'},      {"abort", required_argument, NULL, 'a'},
        {"segv", required_argument, NULL, 's'}, {"sleep", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    int quiet = 0, c, abort_rank = -1, segv_rank = -1;
    double nap = 0;
    opterr = 0;
    while ((c = getopt_long (argc, argv, "qh", longopts, NULL)) != -1) {
        if (c == 'q') {
            quiet = 1;
        } else if (c == 'a') {
            abort_rank = atoi (optarg);
        } else if (c == 's') {
            segv_rank = atoi (optarg);
        } else if (c == 'S') {
            nap = atof (optarg);
        } else if (c == 'h') {
            usage (stdout);
            return 0;
        } else {
            fprintf (stderr, "loom-hello: unknown option '%s'\n", argv[optind - 1]);
            return 2;
        }
    }

    MPI_Init (&argc, &argv);
    int rank, size;
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);

    long sum = 0, mine = rank;
    MPI_Allreduce (&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    int right = (rank + 1) % size, left = (rank + size - 1) % size, got = -1;
    MPI_Sendrecv (&rank, 1, MPI_INT, right, 0, &got, 1, MPI_INT, left, 0,
                  MPI_COMM_WORLD, MPI_STATUS_IGNORE);

    int ok = sum == (long)size * (size - 1) / 2 && got == left;
    if (!quiet) {
        char host[256] = "", bind[256];
        gethostname (host, sizeof (host) - 1);
        binding (bind, sizeof (bind));
        /* Print in rank order so output is readable and testable. */
        for (int r = 0; r < size; r++) {
            if (r == rank) {
                printf ("rank %d of %d on %s, bound to PUs %s\n", rank, size, host,
                        bind);
                fflush (stdout);
            }
            MPI_Barrier (MPI_COMM_WORLD);
        }
    }
    int all_ok = 0;
    MPI_Allreduce (&ok, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    if (rank == 0) {
        if (all_ok)
            printf ("hello: %d ranks, allreduce and ring exchange correct\n", size);
        else
            fprintf (stderr, "loom-hello: wrong result (sum %ld, ring got %d)\n", sum,
                     got);
    }
    if (rank == abort_rank)
        MPI_Abort (MPI_COMM_WORLD, 7);
    if (rank == segv_rank)
        raise (SIGSEGV);
    if (nap > 0)
        usleep ((useconds_t)(nap * 1e6));
    MPI_Finalize ();
    return all_ok ? 0 : 1;
}
