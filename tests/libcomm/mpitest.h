/* SPDX-License-Identifier: MIT */
/* Tiny harness for libcomm's MPI tests: checks that print both values with the rank,
 * and a verdict combined over all ranks (any failing rank fails the test).
 */
#ifndef LOOM_TEST_MPITEST_H
#define LOOM_TEST_MPITEST_H

#include <inttypes.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int mt_failures;
static int mt_rank;

#define MT_CHECK(cond)                                                                 \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf (stderr, "[rank %d] %s:%d: check failed: %s\n", mt_rank, __FILE__, \
                     __LINE__, #cond);                                                 \
            mt_failures++;                                                             \
        }                                                                              \
    } while (0)

#define MT_EQ(a, b)                                                                    \
    do {                                                                               \
        long long mt_a = (long long)(a), mt_b = (long long)(b);                        \
        if (mt_a != mt_b) {                                                            \
            fprintf (stderr, "[rank %d] %s:%d: %s == %s failed: %lld != %lld\n",       \
                     mt_rank, __FILE__, __LINE__, #a, #b, mt_a, mt_b);                 \
            mt_failures++;                                                             \
        }                                                                              \
    } while (0)

/* Abort the whole job on a failure that makes going on pointless (a hang risk). */
#define MT_REQUIRE(cond)                                                               \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf (stderr, "[rank %d] %s:%d: required: %s\n", mt_rank, __FILE__,     \
                     __LINE__, #cond);                                                 \
            MPI_Abort (MPI_COMM_WORLD, 1);                                             \
        }                                                                              \
    } while (0)

static inline void mt_init (int *argc, char ***argv)
{
    MPI_Init (argc, argv);
    MPI_Comm_rank (MPI_COMM_WORLD, &mt_rank);
}

/* Combine the verdict of all ranks; rank 0 reports. Returns the exit code. */
static inline int mt_finish (const char *name)
{
    int total = 0;
    MPI_Allreduce (&mt_failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int size;
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    if (mt_rank == 0)
        printf ("%s: np=%d: %s (%d failed checks)\n", name, size, total ? "FAIL" : "ok",
                total);
    MPI_Finalize ();
    return total ? 1 : 0;
}

#endif
