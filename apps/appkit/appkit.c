/* SPDX-License-Identifier: MIT */
/* Shared app plumbing; see appkit.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/capture.h>
#include <loom/log.h>

#include "appkit.h"

int app_init (struct app *app, const char *name, int *argc, char ***argv)
{
    memset (app, 0, sizeof (*app));
    app->name = name;
    /* --capture[=TASKS] is the frameworks' (docs/replay.md): every app takes it. */
    loom_capture_take_option (argc, *argv);
    app->argc = *argc;
    app->argv = *argv;
    MPI_Init (argc, argv);
    MPI_Comm_rank (MPI_COMM_WORLD, &app->rank);
    MPI_Comm_size (MPI_COMM_WORLD, &app->size);
    loom_log_set_rank (app->rank);
    loom_error_t err;
    app->comm = loom_comm_create (MPI_COMM_WORLD, NULL, &err);
    if (!app->comm) {
        if (app->rank == 0)
            fprintf (stderr, "loom: %s: %s\n", name, err.text);
        MPI_Finalize ();
        exit (1);
    }
    return 0;
}

int app_finish (struct app *app, int status)
{
    app_progress_clear (app);
    fflush (stdout);
    free (app->opt.inputs);
    free (app->lineage_argv);
    loom_comm_destroy (app->comm);
    MPI_Finalize ();
    return status;
}

int app_error (struct app *app, const char *fmt, ...)
{
    app_progress_clear (app);
    if (app->rank != 0)
        return 1;
    va_list ap;
    fprintf (stderr, "loom: %s: ", app->name);
    va_start (ap, fmt);
    vfprintf (stderr, fmt, ap);
    va_end (ap);
    fputc ('\n', stderr);
    return 1;
}

int app_parse_u64 (const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    unsigned long long v = strtoull (s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int app_parse_size (const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    double v = strtod (s, &end);
    if (errno || end == s || !(v >= 0))
        return -1;
    double mul = 1;
    switch (*end) {
    case 'k':
    case 'K':
        mul = 1024.0;
        end++;
        break;
    case 'm':
    case 'M':
        mul = 1048576.0;
        end++;
        break;
    case 'g':
    case 'G':
        mul = 1073741824.0;
        end++;
        break;
    case 't':
    case 'T':
        mul = 1099511627776.0;
        end++;
        break;
    }
    if (*end == 'i' && end[1] == 'B')
        end += 2;
    else if (*end == 'B')
        end++;
    if (*end || v * mul > 1.8e19)
        return -1;
    *out = (uint64_t)llround (v * mul);
    return 0;
}

static void human (char *buf, size_t len, double v, const char *unit)
{
    const char *pre[] = {"", "K", "M", "G", "T"};
    int i = 0;
    while (v >= 1000 && i < 4) {
        v /= 1000;
        i++;
    }
    snprintf (buf, len, "%.1f %s%s", v, pre[i], unit);
}

void app_progress (const struct loom_mr_progress *p, void *arg)
{
    struct app *app = arg;
    const char *tty = getenv ("LOOM_TTY"); /* set by `loom run` on a terminal */
    if (app->quiet || !(isatty (STDERR_FILENO) || (tty && strcmp (tty, "1") == 0)))
        return;
    char rate[32], shuf[32];
    double sec = p->elapsed_sec > 0 ? p->elapsed_sec : 1e-9;
    human (rate, sizeof (rate), (double)p->records * p->ranks / sec, "rec/s");
    human (shuf, sizeof (shuf), (double)p->shuffled, "B shuffled");
    fprintf (stderr, "\r\033[K%s: %s %3.0f%%  %s  %s  %.1f s", p->step, p->phase,
             100.0 * p->fraction, rate, shuf, p->elapsed_sec);
    fflush (stderr);
    app->progress_shown = true;
}

void app_progress_clear (struct app *app)
{
    if (app->progress_shown) {
        fprintf (stderr, "\r\033[K");
        fflush (stderr);
        app->progress_shown = false;
    }
}

/* "loom-<name>", the program's name in lineage (valid until the next call). */
static const char *program (const struct app *app)
{
    static char prog[64];
    snprintf (prog, sizeof (prog), "loom-%s", app->name);
    return prog;
}

const char **app_lineage_argv (const struct app *app)
{
    const char **v = calloc ((size_t)app->argc + 1, sizeof (char *));
    if (!v)
        return NULL;
    int n = 0;
    v[n++] = program (app);
    for (int i = 1; i < app->argc; i++) {
        const char *a = app->argv[i];
        if (strcmp (a, "--force") == 0 || strcmp (a, "--quiet") == 0
            || strcmp (a, "--stats") == 0 || strcmp (a, "-q") == 0)
            continue;
        if (strcmp (a, "--repair-partitions") == 0) {
            i++;
            continue;
        }
        if (strncmp (a, "--repair-partitions=", 20) == 0)
            continue;
        v[n++] = a;
    }
    v[n] = NULL;
    return v;
}

void app_print_stats (const struct app *app, const struct loom_mr_stats *s)
{
    if (app->rank != 0)
        return;
    printf ("{\"app\":\"%s\",\"ranks\":%d,\"input_records\":%llu,"
            "\"output_records\":%llu,\"map_emitted\":%llu,\"shuffle_records\":%llu,"
            "\"shuffle_bytes\":%llu,\"spill_bytes\":%llu,\"partitions_written\":%u,"
            "\"partitions_reused\":%u,\"map_sec\":%.3f,\"shuffle_sec\":%.3f,"
            "\"reduce_sec\":%.3f,\"write_sec\":%.3f,\"total_sec\":%.3f}\n",
            app->name, app->size, (unsigned long long)s->total_input_records,
            (unsigned long long)s->total_output_records,
            (unsigned long long)s->map_emitted, (unsigned long long)s->shuffle_records,
            (unsigned long long)s->shuffle_bytes, (unsigned long long)s->spill_bytes,
            s->partitions_written, s->partitions_reused, s->map_sec, s->shuffle_sec,
            s->reduce_sec, s->write_sec, s->total_sec);
    fflush (stdout);
}

/* The long name of option 'c' in the app's table, for "--NAME must be ..." errors. */
static const char *opt_name (const struct app *app, int c)
{
    for (const struct option *o = app->longopts; o && o->name; o++)
        if (o->val == c)
            return o->name;
    return "?";
}

static int bad_value (struct app *app, int c, const char *want, const char *value)
{
    return app_error (app, "--%s must be %s, not '%s'", opt_name (app, c), want, value);
}

/* The defaults, and room for every word of the command line as an input. */
static int opts_ready (struct app *app)
{
    struct app_opts *o = &app->opt;
    if (o->inputs)
        return 0;
    o->inputs = calloc ((size_t)app->argc + 1, sizeof (char *));
    if (!o->inputs)
        return -1;
    o->partitions = 8;
    return 0;
}

int app_option (struct app *app, int c, char **argv)
{
    struct app_opts *o = &app->opt;
    if (opts_ready (app) < 0)
        return app_error (app, "out of memory");
    switch (c) {
    case 'i':
        o->inputs[o->ninputs++] = optarg;
        return -1;
    case 'o':
        o->output = optarg;
        return -1;
    case 't':
        o->text = true;
        return -1;
    case 'P':
        if (app_parse_u64 (optarg, &o->partitions) < 0 || o->partitions == 0
            || o->partitions > 1000000)
            return bad_value (app, c, "1 to 1000000", optarg);
        return -1;
    case 's':
        if (app_parse_u64 (optarg, &o->seed) < 0)
            return bad_value (app, c, "an integer", optarg);
        return -1;
    case 'm':
        if (app_parse_size (optarg, &o->mem) < 0 || o->mem < (4u << 20))
            return bad_value (app, c, "a size of at least 4M", optarg);
        return -1;
    case 'T':
        o->tmpdir = optarg;
        return -1;
    case 'd':
        o->deterministic = true;
        return -1;
    case 'f':
        o->force = true;
        return -1;
    case 'R':
        o->repair = optarg;
        return -1;
    case 'S':
        o->stats = true;
        return -1;
    case 'q':
        app->quiet = true;
        return -1;
    case 'h':
        if (app->rank == 0 && app->usage)
            fputs (app->usage, stdout);
        return 0;
    case ':':
        return app_error (app, "option '%s' needs a value", argv[optind - 1]);
    default:
        return app_error (app, "unknown option '%s' (see 'loom-%s --help')",
                          argv[optind - 1], app->name);
    }
}

int app_operands (struct app *app, int argc, char **argv)
{
    struct app_opts *o = &app->opt;
    if (opts_ready (app) < 0)
        return app_error (app, "out of memory");
    for (int i = optind; i < argc; i++)
        o->inputs[o->ninputs++] = argv[i];
    if (!o->ninputs)
        return app_error (app, "no input (--input PATH)");
    return -1;
}

loom_mr_t *app_mr_create (struct app *app)
{
    const struct app_opts *o = &app->opt;
    struct loom_mr_params mp = LOOM_MR_PARAMS_INIT;
    mp.mem_bytes = o->mem;
    mp.tmpdir = o->tmpdir;
    mp.flags =
        (o->deterministic ? LOOM_MR_DETERMINISTIC : 0) | (o->force ? LOOM_MR_FORCE : 0);
    mp.progress = app_progress;
    mp.progress_arg = app;
    loom_error_t err;
    loom_mr_t *mr = loom_mr_create (app->comm, &mp, &err);
    if (!mr)
        app_error (app, "%s", err.text);
    return mr;
}

struct loom_ds_lineage app_lineage (struct app *app, const char *params_json)
{
    struct loom_ds_lineage lin = LOOM_DS_LINEAGE_INIT;
    free (app->lineage_argv);
    app->lineage_argv = app_lineage_argv (app);
    lin.producer = program (app);
    lin.framework = "mapreduce";
    lin.argv = app->lineage_argv;
    lin.params_json = params_json;
    lin.dep = LOOM_DS_DEP_WIDE;
    return lin;
}

struct loom_mr_step app_step (const struct app *app, const char *name)
{
    struct loom_mr_step st = LOOM_MR_STEP_INIT;
    st.name = name;
    st.paths = app->opt.inputs;
    st.npaths = app->opt.ninputs;
    st.output_path = app->opt.output;
    st.repair_partitions = app->opt.repair;
    return st;
}

int app_run (struct app *app,
             loom_mr_t *mr,
             const struct loom_mr_step *st,
             loom_mr_data_t **data,
             struct loom_mr_stats *stats)
{
    loom_error_t err;
    int status = 0;
    if (loom_mr_run (mr, st, data, stats, &err) < 0)
        status = app_error (app, "%s", err.text);
    app_progress_clear (app);
    if (!status && app->opt.stats)
        app_print_stats (app, stats);
    return status;
}
