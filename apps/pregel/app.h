/* SPDX-License-Identifier: MIT */
/* What the Pregel apps share: options, loading the graph, running with checkpoints,
 * writing the values, printing the top vertices, and reporting errors once.
 */
#ifndef LOOM_APPS_PREGEL_APP_H
#define LOOM_APPS_PREGEL_APP_H

#include <getopt.h>
#include <stdint.h>

#include <loom/pregel.h>

struct app {
    const char *name;       /* "pagerank": errors print "loom: pagerank: ..." */
    const char *value_name; /* what the values are, for --top (default: name) */
    int rank, size;
    int argc;
    char **argv;
    /* common options */
    const char *input, *output, *checkpoint;
    uint64_t checkpoint_every, max_supersteps;
    int resume, quiet, top;
    struct loom_pregel_graph_params gp;
    loom_pregel_graph_t *g;
};

/* Options every app takes; apps append their own (option values >= 1000 are the
 * app's own). Terminated by a zero entry.
 */
#define APP_COMMON_OPTIONS                                                             \
    {"input", required_argument, NULL, 'i'}, {"output", required_argument, NULL, 'o'}, \
        {"partition", required_argument, NULL, 'P'},                                   \
        {"seed", required_argument, NULL, 'S'},                                        \
        {"checkpoint", required_argument, NULL, 'C'},                                  \
        {"checkpoint-every", required_argument, NULL, 'K'},                            \
        {"resume", no_argument, NULL, 'R'},                                            \
        {"max-supersteps", required_argument, NULL, 'M'},                              \
        {"top", required_argument, NULL, 'T'}, {"quiet", no_argument, NULL, 'q'},      \
    {                                                                                  \
        "help", no_argument, NULL, 'h'                                                 \
    }

#define APP_COMMON_HELP                                                                \
    "  --input PATH           edge dataset (src:u64,dst:u64[,weight:f64])\n"           \
    "  --output PATH          write the vertex values as a dataset\n"                  \
    "  --partition hash|range how vertices are spread over ranks (default hash)\n"     \
    "  --seed N               hash partitioning seed (default 0)\n"                    \
    "  --checkpoint PATH      checkpoint dataset\n"                                    \
    "  --checkpoint-every K   checkpoint after every K supersteps\n"                   \
    "  --resume               resume from --checkpoint if it exists\n"                 \
    "  --max-supersteps N     stop after N supersteps\n"                               \
    "  --top K                print the K vertices with the largest values\n"          \
    "  --quiet                print nothing but errors\n"

/* MPI_Init and rank/size. */
void app_init (struct app *a, const char *name, int *argc, char ***argv);

/* Handle a common option; returns 1 if it was one, 0 if not, -1 on a bad value
 * (error printed).
 */
int app_option (struct app *a, int c, const char *arg);

/* Print "loom: <name>: <message>" on rank 0 only. Returns 1. Not collective. */
int app_error (struct app *a, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Parse a non-negative integer / a double option value; -1 and an error if bad. */
int app_parse_u64 (struct app *a, const char *opt, const char *s, uint64_t *out);
int app_parse_double (struct app *a, const char *opt, const char *s, double *out);

/* Check options (input present, ...) and load the graph with 'flags' added.
 * Collective. Returns 0, or prints the error and returns -1 on every rank.
 */
int app_load (struct app *a, int flags);

/* Run 'job' with the checkpoint options, write --output with lineage, print
 * --top. 'kind' is the value kind for printing ("f64", "u64", "i64"). Collective.
 * Returns 0, or prints the error and returns -1.
 */
int app_run (struct app *a, loom_pregel_t *job, const char *params_json);

/* Print, on rank 0, the K vertices with the largest values (ties: smaller id
 * first). Collective. Values are the job's 8-byte numbers of type 'type'.
 */
int app_print_top (struct app *a, loom_pregel_t *job, loom_pregel_type_t type, int k);

/* Destroy the graph and finalize MPI; returns 'status'. */
int app_finish (struct app *a, int status);

#endif
