/* SPDX-License-Identifier: MIT */
/* What every Loom MPI app shares: start-up, one-line errors printed once, sizes,
 * the terminal progress line, and lineage of the command line.
 */
#ifndef LOOM_APPKIT_H
#define LOOM_APPKIT_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include <loom/comm.h>
#include <loom/mapreduce.h>

/* The values of the options the MapReduce apps share (see app_option()). */
struct app_opts {
    const char **inputs; /* --input, then the operands after the options */
    size_t ninputs;
    const char *output, *tmpdir, *repair;
    uint64_t mem, partitions, seed; /* mem 0: the framework's default */
    bool text, deterministic, force, stats;
};

struct app {
    const char *name; /* "wordcount": errors read "loom: wordcount: ..." */
    int rank, size;
    loom_comm_t *comm;
    bool quiet;
    bool progress_shown;
    int argc;
    char **argv;                   /* the original command line, for lineage */
    const char *usage;             /* printed by --help */
    const struct option *longopts; /* names the option in value errors */
    struct app_opts opt;           /* filled by app_option() */
    const char **lineage_argv;     /* from app_lineage(), freed by app_finish() */
};

/* MPI_Init and the communicator. Returns 0, or exits 1 after printing why. */
int app_init (struct app *app, const char *name, int *argc, char ***argv);

/* Free the communicator and what the app_* calls allocated, and MPI_Finalize.
 * Returns 'status'.
 */
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

/* The command line as a NULL-terminated argv for lineage: argv[0] replaced by
 * "loom-<name>" and without the options that do not change the output (--force,
 * --quiet, --stats) or that recompute adds itself (--repair-partitions), so a rerun
 * with or without them resumes the same dataset.
 * Caller frees the array (not the strings).
 */
const char **app_lineage_argv (const struct app *app);

/* Shared options -------------------------------------------------------------
 * getopt_long entries of the options the MapReduce apps share. An app lists the ones
 * it takes in its table (the seed option's name differs between apps), sets
 * app->usage and app->longopts, and hands every getopt_long result it does not
 * handle itself to app_option().
 */
/* clang-format off */
#define APP_OPT_INPUT {"input", required_argument, NULL, 'i'}
#define APP_OPT_OUTPUT {"output", required_argument, NULL, 'o'}
#define APP_OPT_TEXT {"text", no_argument, NULL, 't'}
#define APP_OPT_PARTITIONS {"partitions", required_argument, NULL, 'P'}
#define APP_OPT_SEED(name) {name, required_argument, NULL, 's'}
#define APP_OPT_MEM {"mem", required_argument, NULL, 'm'}
#define APP_OPT_TMPDIR {"tmpdir", required_argument, NULL, 'T'}
#define APP_OPT_DETERMINISTIC {"deterministic", no_argument, NULL, 'd'}
#define APP_OPT_FORCE {"force", no_argument, NULL, 'f'}
#define APP_OPT_REPAIR {"repair-partitions", required_argument, NULL, 'R'}
#define APP_OPT_STATS {"stats", no_argument, NULL, 'S'}
#define APP_OPT_QUIET {"quiet", no_argument, NULL, 'q'}
#define APP_OPT_HELP {"help", no_argument, NULL, 'h'}
#define APP_OPT_END {NULL, 0, NULL, 0}
/* clang-format on */

/* Handle getopt_long's result 'c' for a shared option (storing its value in
 * app->opt, 8 partitions by default), --help (app->usage on rank 0), a missing
 * value (':', getopt string starting with ':') or an unknown option (anything
 * else). Returns -1 when parsing goes on, or the status to exit with: 0 after
 * --help, 1 after printing the error.
 */
int app_option (struct app *app, int c, char **argv);

/* After the options: the remaining operands argv[optind..] are inputs too. Returns
 * -1 when there is at least one input, else 1 after printing "no input".
 */
int app_operands (struct app *app, int argc, char **argv);

/* A MapReduce job from the shared options (--mem, --tmpdir, --deterministic,
 * --force) drawing app_progress(). Returns it, or NULL after printing why.
 */
loom_mr_t *app_mr_create (struct app *app);

/* Lineage of the app's dataset output: producer "loom-<name>", framework
 * "mapreduce", app_lineage_argv(), 'params_json' (not copied), a wide dependency.
 * The argv is owned by app (freed by app_finish()).
 */
struct loom_ds_lineage app_lineage (struct app *app, const char *params_json);

/* A step named 'name' reading the inputs and writing --output (with
 * --repair-partitions) from the shared options; the rest is LOOM_MR_STEP_INIT.
 */
struct loom_mr_step app_step (const struct app *app, const char *name);

/* Run the step; print the error if it fails, clear the progress line, and with
 * --stats print the statistics. Returns 0, or 1 after printing the error.
 */
int app_run (struct app *app,
             loom_mr_t *mr,
             const struct loom_mr_step *st,
             loom_mr_data_t **data,
             struct loom_mr_stats *stats);

#endif
