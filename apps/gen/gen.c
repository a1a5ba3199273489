/* SPDX-License-Identifier: MIT */
/* loom-gen <kind> [options]: deterministic data generators, parallel over the ranks.
 *
 * `loom gen <kind> -n N ...` starts this program on N ranks; `mpirun -np N loom-gen
 * <kind> ...` does the same. To add a kind, write gen_<kind>.c with a struct gen_kind
 * and add it to the table below.
 */
#include <stdio.h>
#include <string.h>

#include "gen.h"

/* One entry per line (kept so by clang-format off), so kinds merge cleanly. */
/* clang-format off */
static const struct gen_kind *const kinds[] = {
    &gen_kind_sort,
    &gen_kind_rmat,
    &gen_kind_urand,
    NULL,
};
/* clang-format on */

static void usage (FILE *f)
{
    fprintf (f, "Usage: loom gen <kind> [-n N] [options]\n"
                "       mpirun -np N loom-gen <kind> [options]\n\n"
                "Deterministic data generators: the same seed gives the same data at\n"
                "any number of ranks. Kinds:\n");
    for (int i = 0; kinds[i]; i++)
        fprintf (f, "  %-10s %s\n", kinds[i]->name, kinds[i]->summary);
    fprintf (f, "\nRun 'loom gen <kind> --help' for a kind's options.\n");
}

int main (int argc, char **argv)
{
    /* Decide everything that needs no MPI first, so --help and typos are instant
     * and print once even under mpirun -np N (only rank 0 prints after MPI_Init).
     */
    const struct gen_kind *kind = NULL;
    if (argc >= 2) {
        for (int i = 0; kinds[i]; i++)
            if (strcmp (kinds[i]->name, argv[1]) == 0)
                kind = kinds[i];
    }
    MPI_Init (&argc, &argv);
    int rank;
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    int status;
    if (argc < 2) {
        if (rank == 0) {
            fprintf (stderr, "loom: gen: which kind? (see 'loom gen --help')\n");
        }
        status = 1;
    } else if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
        if (rank == 0)
            usage (stdout);
        status = 0;
    } else if (!kind) {
        if (rank == 0)
            fprintf (stderr, "loom: gen: no kind '%s' (see 'loom gen --help')\n",
                     argv[1]);
        status = 1;
    } else {
        status = kind->main (kind, MPI_COMM_WORLD, argc - 1, argv + 1);
    }
    MPI_Finalize ();
    return status;
}
