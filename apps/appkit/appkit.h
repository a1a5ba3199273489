/* SPDX-License-Identifier: MIT */
/* What every Loom MPI app shares: start-up, one-line errors printed once, sizes,
 * the terminal progress line, and lineage of the command line.
 */
#ifndef LOOM_APPKIT_H
#define LOOM_APPKIT_H

#include <stdbool.h>
#include <stdint.h>

#include <loom/comm.h>
#include <loom/mapreduce.h>

struct app {
    const char *name; /* "wordcount": errors read "loom: wordcount: ..." */
    int rank, size;
    loom_comm_t *comm;
    bool quiet;
    bool progress_shown;
    int argc;
    char **argv; /* the original command line, for lineage */
};

/* MPI_Init and the communicator. Returns 0, or exits 1 after printing why. */
int app_init (struct app *app, const char *name, int *argc, char ***argv);

/* Free the communicator and MPI_Finalize. Returns 'status'. */
int app_finish (struct app *app, int status);

/* Print "loom: <name>: <message>" on stderr from rank 0 only. Returns 1. */
int app_error (struct app *app, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Parse "123", "64M", "1G", "1.5G"... (powers of 1024). Returns 0 or -1. */
int app_parse_size (const char *s, uint64_t *out);
/* Parse a non-negative integer. Returns 0 or -1. */
int app_parse_u64 (const char *s, uint64_t *out);

/* A loom_mr_progress_f that draws one status line on stderr when stderr is a
 * terminal (or LOOM_TTY=1, which `loom run` sets when its own stderr is one: the
 * ranks' stderr is a pipe) and the app is not quiet; pass the app as the argument.
 */
void app_progress (const struct loom_mr_progress *p, void *arg);
/* Erase the status line if one was drawn. */
void app_progress_clear (struct app *app);

/* Print rank 0's step statistics as one JSON line on stdout (rank 0 only). */
void app_print_stats (const struct app *app, const struct loom_mr_stats *s);

/* The shared job parameters from the common options. */
struct app_common {
    uint64_t mem_bytes;
    bool deterministic, force;
    const char *tmpdir;
    const char *repair; /* --repair-partitions, from `loom ds recompute` */
};

/* The command line as a NULL-terminated argv for lineage: argv[0] replaced by
 * "loom-<name>" and without the options that do not change the output (--force,
 * --quiet, --stats) or that recompute adds itself (--repair-partitions), so a rerun
 * with or without them resumes the same dataset.
 * Caller frees the array (not the strings).
 */
const char **app_lineage_argv (const struct app *app);

#endif
