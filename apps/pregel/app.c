/* SPDX-License-Identifier: MIT */
/* Shared plumbing of the Pregel apps (see app.h). */
#include <errno.h>
#include <inttypes.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/capture.h>
#include <loom/dataset.h>
#include <loom/error.h>

#include "app.h"

void app_init (struct app *a, const char *name, int *argc, char ***argv)
{
    memset (a, 0, sizeof (*a));
    a->name = name;
    /* --capture[=TASKS] is the frameworks' (docs/replay.md): every app takes it. */
    loom_capture_take_option (argc, *argv);
    a->argc = *argc;
    a->argv = *argv;
    struct loom_pregel_graph_params gp = LOOM_PREGEL_GRAPH_PARAMS_INIT;
    a->gp = gp;
    MPI_Init (argc, argv);
    MPI_Comm_rank (MPI_COMM_WORLD, &a->rank);
    MPI_Comm_size (MPI_COMM_WORLD, &a->size);
    opterr = 0;
}

int app_error (struct app *a, const char *fmt, ...)
{
    if (a->rank != 0)
        return 1;
    char buf[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (buf, sizeof (buf), fmt, ap);
    va_end (ap);
    fprintf (stderr, "loom: %s: %s\n", a->name, buf);
    fflush (stderr);
    return 1;
}

int app_parse_u64 (struct app *a, const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull (s, &end, 0);
    if (errno || end == s || *end || s[0] == '-') {
        app_error (a, "option '--%s' needs a non-negative integer, not '%s'", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

int app_parse_double (struct app *a, const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod (s, &end);
    if (errno || end == s || *end) {
        app_error (a, "option '--%s' needs a number, not '%s'", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

int app_option (struct app *a, int c, const char *arg)
{
    uint64_t v;
    switch (c) {
    case 'i':
        a->input = arg;
        return 1;
    case 'o':
        a->output = arg;
        return 1;
    case 'P':
        if (strcmp (arg, "hash") == 0)
            a->gp.partition = LOOM_PREGEL_PART_HASH;
        else if (strcmp (arg, "range") == 0)
            a->gp.partition = LOOM_PREGEL_PART_RANGE;
        else
            return app_error (a, "--partition is 'hash' or 'range', not '%s'", arg), -1;
        return 1;
    case 'S':
        if (app_parse_u64 (a, "seed", arg, &v) < 0)
            return -1;
        a->gp.seed = v;
        return 1;
    case 'C':
        a->checkpoint = arg;
        return 1;
    case 'K':
        if (app_parse_u64 (a, "checkpoint-every", arg, &a->checkpoint_every) < 0)
            return -1;
        return 1;
    case 'R':
        a->resume = 1;
        return 1;
    case 'M':
        if (app_parse_u64 (a, "max-supersteps", arg, &a->max_supersteps) < 0)
            return -1;
        return 1;
    case 'T':
        if (app_parse_u64 (a, "top", arg, &v) < 0)
            return -1;
        if (v > 1000000)
            return app_error (a, "--top is at most 1000000"), -1;
        a->top = (int)v;
        return 1;
    case 'q':
        a->quiet = 1;
        return 1;
    }
    return 0;
}

int app_load (struct app *a, int flags)
{
    if (!a->input)
        return app_error (a, "no input: give --input EDGE_DATASET"), -1;
    if ((a->checkpoint_every || a->resume) && !a->checkpoint)
        return app_error (a, "--checkpoint-every and --resume need --checkpoint PATH"),
               -1;
    loom_error_t err;
    a->gp.flags |= flags;
    a->g = loom_pregel_graph_load (MPI_COMM_WORLD, a->input, &a->gp, &err);
    if (!a->g)
        return app_error (a, "%s", err.text), -1;
    if (!a->quiet && a->rank == 0) {
        struct loom_pregel_graph_info info;
        loom_pregel_graph_info (a->g, &info);
        printf ("%s: graph %s: %" PRIu64 " vertices, %" PRIu64
                " edges, loaded in %.3f s on %d ranks\n",
                a->name, a->input, info.vertices, info.edges, info.load_sec, a->size);
        fflush (stdout);
    }
    return 0;
}

/* The lineage of the output: this app, its argv and the input dataset. */
static int write_output (struct app *a, loom_pregel_t *job, const char *params_json)
{
    loom_error_t err;
    char prog[256];
    snprintf (prog, sizeof (prog), "loom-%s", a->name);
    const char **argv = calloc ((size_t)a->argc + 1, sizeof (char *));
    if (!argv)
        return app_error (a, "out of memory"), -1;
    argv[0] = a->name;
    for (int i = 1; i < a->argc; i++)
        argv[i] = a->argv[i];
    const char *inputs[] = {a->input};
    struct loom_ds_lineage lin = LOOM_DS_LINEAGE_INIT;
    lin.producer = prog;
    lin.framework = "pregel";
    lin.argv = argv;
    lin.params_json = params_json;
    lin.inputs = inputs;
    lin.ninputs = 1;
    lin.dep = LOOM_DS_DEP_WIDE;
    int rc = loom_pregel_write (job, a->output, &lin, &err);
    free (argv);
    if (rc < 0)
        return app_error (a, "%s", err.text), -1;
    return 0;
}

int app_run (struct app *a, loom_pregel_t *job, const char *params_json)
{
    loom_error_t err;
    if (loom_pregel_run (job, &err) < 0)
        return app_error (a, "%s", err.text), -1;
    if (a->output && write_output (a, job, params_json) < 0)
        return -1;
    return 0;
}

struct top_item {
    double key; /* the value as a double, for ordering */
    uint64_t id;
    uint64_t raw;
};

static int top_cmp (const void *x, const void *y)
{
    const struct top_item *a = x, *b = y;
    if (a->key != b->key)
        return a->key > b->key ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

int app_print_top (struct app *a, loom_pregel_t *job, loom_pregel_type_t type, int k)
{
    if (k <= 0)
        return 0;
    size_t n;
    const uint64_t *ids = loom_pregel_graph_ids (a->g, &n);
    const uint8_t *vals = loom_pregel_values (job);
    struct top_item *items = malloc ((n + 1) * sizeof (*items));
    int bad = !items;
    for (size_t i = 0; !bad && i < n; i++) {
        uint64_t raw;
        memcpy (&raw, vals + 8 * i, 8);
        double key;
        if (type == LOOM_PREGEL_F64)
            memcpy (&key, &raw, 8);
        else if (type == LOOM_PREGEL_I64)
            key = (double)(int64_t)raw;
        else
            key = (double)raw;
        items[i] = (struct top_item){key, ids[i], raw};
    }
    if (!bad)
        qsort (items, n, sizeof (*items), top_cmp);
    size_t mine = n < (size_t)k ? n : (size_t)k;
    /* Gather every rank's best k on rank 0 (small: k items per rank). */
    int cnt = bad ? 0 : (int)mine, *counts = NULL, *displs = NULL;
    struct top_item *all = NULL;
    if (a->rank == 0) {
        counts = calloc ((size_t)a->size, sizeof (int));
        displs = calloc ((size_t)a->size, sizeof (int));
    }
    int bytes = cnt * (int)sizeof (struct top_item);
    MPI_Gather (&bytes, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
    int total = 0;
    if (a->rank == 0) {
        for (int r = 0; r < a->size; r++) {
            displs[r] = total;
            total += counts[r];
        }
        all = malloc ((size_t)total + 1);
    }
    MPI_Gatherv (items, bytes, MPI_BYTE, all, counts, displs, MPI_BYTE, 0,
                 MPI_COMM_WORLD);
    if (a->rank == 0) {
        size_t nall = (size_t)total / sizeof (struct top_item);
        qsort (all, nall, sizeof (*all), top_cmp);
        printf ("top %d vertices by %s:\n", k, a->value_name ? a->value_name : a->name);
        for (size_t i = 0; i < nall && i < (size_t)k; i++) {
            if (type == LOOM_PREGEL_F64)
                printf ("%4zu  %20" PRIu64 "  %.9g\n", i + 1, all[i].id, all[i].key);
            else if (type == LOOM_PREGEL_I64)
                printf ("%4zu  %20" PRIu64 "  %" PRId64 "\n", i + 1, all[i].id,
                        (int64_t)all[i].raw);
            else
                printf ("%4zu  %20" PRIu64 "  %" PRIu64 "\n", i + 1, all[i].id,
                        all[i].raw);
        }
        fflush (stdout);
    }
    free (items);
    free (all);
    free (counts);
    free (displs);
    return 0;
}

int app_finish (struct app *a, int status)
{
    loom_pregel_graph_destroy (a->g);
    a->g = NULL;
    /* Every rank reports the same status (errors are agreed inside the library). */
    MPI_Finalize ();
    return status;
}
