/* SPDX-License-Identifier: MIT */
/* `loom trace merge|export|summary|info`: the tools over trace files. The work is in
 * common/trace_*.c (loom/trace_tools.h); this file parses options and prints.
 */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/trace.h>
#include <loom/trace_tools.h>

#include "cmd.h"

#define DEFAULT_MAX_SIZE 100000000ull /* ~100 MB: what ui.perfetto.dev opens well */

enum {
    OPT_PERFETTO = 256,
    OPT_MAX_SIZE,
    OPT_SPLIT,
    OPT_MIN_SPAN,
    OPT_FLOW_MIN,
    OPT_STRAGGLER,
    OPT_TOP,
    OPT_MIN_PHASE,
};

/* A non-negative integer with an optional k/M/G (powers of 1000) suffix. */
static int
parse_size (const struct cmd *cmd, const char *opt, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull (s, &end, 10);
    uint64_t mul = 1;
    if (*end && end[1] == '\0') {
        mul = *end == 'k' || *end == 'K' ? 1000
              : *end == 'M'              ? 1000000
              : *end == 'G'              ? 1000000000
                                         : 0;
        end++;
    }
    if (errno || end == s || *end || mul == 0 || s[0] == '-') {
        cmd_error (cmd, "%s must be a number (optionally with k, M or G), not '%s'",
                   opt, s);
        return -1;
    }
    *out = (uint64_t)v * mul;
    return 0;
}

static loom_trace_t *open_trace (const struct cmd *cmd, int argc, char **argv)
{
    if (optind >= argc) {
        cmd_error (cmd, "which trace? (a LOOM_TRACE prefix, a rank file or a merged "
                        "trace)");
        return NULL;
    }
    loom_error_t error;
    loom_trace_t *t = loom_trace_open_many ((const char *const *)argv + optind,
                                            (size_t)(argc - optind), &error);
    if (!t)
        cmd_error (cmd, "%s", error.text);
    return t;
}

/* ---- merge ---- */

static const struct cmd_option merge_options[] = {
    {"output", 1, 'o', "FILE", "Write the job trace to FILE (default: PREFIX.trace)"},
    {NULL, 0, 0, NULL, NULL},
};

static int merge_main (const struct cmd *cmd, int argc, char **argv)
{
    const char *out = NULL, *arg;
    int c;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        if (c == 'o')
            out = arg;
        else
            return 1;
    }
    char *def = NULL;
    if (!out) {
        if (argc - optind != 1)
            return cmd_error (cmd, "give -o FILE when merging several inputs");
        if (asprintf (&def, "%s.trace", argv[optind]) < 0)
            return cmd_error (cmd, "out of memory");
        out = def;
    }
    loom_trace_t *t = open_trace (cmd, argc, argv);
    if (!t) {
        free (def);
        return 1;
    }
    loom_error_t error;
    int rc = loom_trace_write (t, out, &error);
    if (rc < 0)
        cmd_error (cmd, "%s", error.text);
    else
        printf ("%s: %zu processes\n", out, loom_trace_nprocs (t));
    loom_trace_close (t);
    free (def);
    return rc < 0 ? 1 : 0;
}

static const struct cmd cmd_trace_merge = {
    .name = "trace merge",
    .usage = "[-o FILE] PREFIX | FILE...",
    .summary = "Merge all ranks' trace files into one job trace",
    .fn = merge_main,
    .options = merge_options,
    .description = "PREFIX is the path given to LOOM_TRACE: every PREFIX.rank<R> and\n"
                   "PREFIX.proc<pid> file is read. All files must be of one job.",
};

/* ---- export ---- */

static const struct cmd_option export_options[] = {
    {"perfetto", 0, OPT_PERFETTO, NULL,
     "Chrome trace-event JSON for ui.perfetto.dev (the default, and only, format)"},
    {"output", 1, 'o', "FILE", "Write to FILE instead of standard output"},
    {"max-size", 1, OPT_MAX_SIZE, "BYTES",
     "Keep each file under BYTES (default 100M): drop the shortest spans"},
    {"split", 0, OPT_SPLIT, NULL,
     "Split into time windows FILE.partN.json instead of dropping spans"},
    {"min-span", 1, OPT_MIN_SPAN, "NS", "Leave out spans shorter than NS nanoseconds"},
    {"flow-min", 1, OPT_FLOW_MIN, "BYTES",
     "Draw arrows only for transfers of at least BYTES"},
    {NULL, 0, 0, NULL, NULL},
};

static int write_part (const struct cmd *cmd,
                       const loom_trace_t *t,
                       const struct loom_trace_export_params *prm,
                       const char *path)
{
    FILE *f = path ? fopen (path, "w") : stdout;
    if (!f)
        return cmd_error (cmd, "%s: %s", path, strerror (errno));
    loom_error_t error;
    int64_t n = loom_trace_export_json (t, prm, f, &error);
    int bad = n < 0 || (path && fclose (f) != 0);
    if (n < 0)
        return cmd_error (cmd, "%s", error.text);
    if (bad)
        return cmd_error (cmd, "%s: %s", path, strerror (errno));
    return 0;
}

static int export_main (const struct cmd *cmd, int argc, char **argv)
{
    struct loom_trace_export_params prm = LOOM_TRACE_EXPORT_PARAMS_INIT;
    const char *out = NULL, *arg;
    uint64_t max = DEFAULT_MAX_SIZE;
    int split = 0, c;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        switch (c) {
        case OPT_PERFETTO:
            break;
        case 'o':
            out = arg;
            break;
        case OPT_MAX_SIZE:
            if (parse_size (cmd, "--max-size", arg, &max) < 0)
                return 1;
            break;
        case OPT_SPLIT:
            split = 1;
            break;
        case OPT_MIN_SPAN:
            if (parse_size (cmd, "--min-span", arg, &prm.min_span_ns) < 0)
                return 1;
            break;
        case OPT_FLOW_MIN:
            if (parse_size (cmd, "--flow-min", arg, &prm.min_flow_bytes) < 0)
                return 1;
            break;
        default:
            return 1;
        }
    }
    if (split && !out)
        return cmd_error (cmd, "--split needs -o FILE (parts are FILE.partN.json)");
    if (max < 1024)
        return cmd_error (cmd, "--max-size must be at least 1024 bytes");
    loom_trace_t *t = open_trace (cmd, argc, argv);
    if (!t)
        return 1;
    loom_error_t error;
    struct loom_trace_export_plan plan;
    int rc = 0;
    if (loom_trace_export_plan (t, &prm, max, split, &plan, &error) < 0) {
        rc = cmd_error (cmd, "%s", error.text);
        goto done;
    }
    prm.min_span_ns = plan.min_span_ns;
    prm.drop_instants = plan.drop_instants;
    if (plan.nparts == 1) {
        if (plan.min_span_ns || plan.drop_instants)
            fprintf (stderr,
                     "loom: trace export: downsampled to stay under %" PRIu64
                     " bytes: left out spans shorter than %" PRIu64 " us%s\n",
                     max, plan.min_span_ns / 1000,
                     plan.drop_instants ? ", instants and counters" : "");
        rc = write_part (cmd, t, &prm, out);
    } else {
        size_t base = strlen (out);
        if (base > 5 && strcmp (out + base - 5, ".json") == 0)
            base -= 5;
        for (size_t i = 0; i < plan.nparts && rc == 0; i++) {
            char *path = NULL;
            if (asprintf (&path, "%.*s.part%zu.json", (int)base, out, i) < 0) {
                rc = cmd_error (cmd, "out of memory");
                break;
            }
            prm.from_ns = plan.bounds[i];
            prm.to_ns = plan.bounds[i + 1];
            rc = write_part (cmd, t, &prm, path);
            if (rc == 0)
                printf ("%s\n", path);
            free (path);
        }
    }
    free (plan.bounds);
done:
    loom_trace_close (t);
    return rc;
}

static const struct cmd cmd_trace_export = {
    .name = "trace export",
    .usage = "[--perfetto] [-o FILE] [--max-size BYTES [--split]] TRACE...",
    .summary = "Export a trace as JSON for ui.perfetto.dev",
    .fn = export_main,
    .options = export_options,
    .description =
        "Ranks are processes, phases are slices, big transfers are arrows\n"
        "between ranks. A trace that would exceed --max-size is downsampled\n"
        "(shortest spans first), or with --split cut into time windows.",
};

/* ---- summary ---- */

static const struct cmd_option summary_options[] = {
    {"straggler", 1, OPT_STRAGGLER, "FRACTION",
     "A rank straggles when over the median by more than this (default 0.25)"},
    {"min-phase", 1, OPT_MIN_PHASE, "NS",
     "Ignore phases whose median time is under NS (default 1M = 1 ms)"},
    {"top", 1, OPT_TOP, "N", "List the N slowest partitions (default 5)"},
    {NULL, 0, 0, NULL, NULL},
};

static int summary_main (const struct cmd *cmd, int argc, char **argv)
{
    struct loom_trace_summary_params prm = LOOM_TRACE_SUMMARY_PARAMS_INIT;
    const char *arg;
    int c;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        switch (c) {
        case OPT_STRAGGLER: {
            char *end;
            prm.straggler = strtod (arg, &end);
            if (end == arg || *end || !(prm.straggler > 0) || prm.straggler > 100)
                return cmd_error (cmd, "--straggler must be a fraction > 0, not '%s'",
                                  arg);
            break;
        }
        case OPT_MIN_PHASE:
            if (parse_size (cmd, "--min-phase", arg, &prm.min_phase_ns) < 0)
                return 1;
            break;
        case OPT_TOP: {
            long n = cmd_parse_count (cmd, "--top", arg);
            if (n < 0)
                return 1;
            prm.top_partitions = (unsigned)n;
            break;
        }
        default:
            return 1;
        }
    }
    loom_trace_t *t = open_trace (cmd, argc, argv);
    if (!t)
        return 1;
    loom_error_t error;
    char *text = loom_trace_summary (t, &prm, &error);
    loom_trace_close (t);
    if (!text)
        return cmd_error (cmd, "%s", error.text);
    fputs (text, stdout);
    free (text);
    return 0;
}

static const struct cmd cmd_trace_summary = {
    .name = "trace summary",
    .usage = "[--straggler FRACTION] [--top N] TRACE...",
    .summary = "Where the time went: phases, stragglers and why, skew, bytes moved",
    .fn = summary_main,
    .options = summary_options,
};

/* ---- info ---- */

static const struct cmd_option info_options[] = {
    {NULL, 0, 0, NULL, NULL},
};

static int info_main (const struct cmd *cmd, int argc, char **argv)
{
    const char *arg;
    if (cmd_getopt (cmd, argc, argv, &arg) != -1)
        return 1;
    loom_trace_t *t = open_trace (cmd, argc, argv);
    if (!t)
        return 1;
    char id[17];
    printf ("trace id %s, %zu processes\n",
            loom_trace_id_format (loom_trace_job_id (t), id), loom_trace_nprocs (t));
    static const char *states[] = {"killed or running", "closed", "signaled"};
    for (size_t i = 0; i < loom_trace_nprocs (t); i++) {
        struct loom_trace_proc_info p;
        loom_trace_proc (t, i, &p);
        printf ("%-8s pid %-7u %-12s %-16s %9" PRIu64 " events %8" PRIu64
                " spans  %.3f-%.3f s  %s",
                p.rank >= 0 ? "rank" : "process", p.pid, p.host, p.name, p.events,
                p.spans, (double)p.start_ns / 1e9, (double)p.end_ns / 1e9,
                states[p.state]);
        if (p.rank >= 0)
            printf (" (rank %d)", p.rank);
        if (p.state == LOOM_TRACE_PROC_SIGNALED)
            printf (" (signal %d)", p.signal);
        if (p.dropped)
            printf (", %" PRIu64 " %s", p.dropped, p.ring ? "overwritten" : "dropped");
        printf ("  %s\n", p.source);
    }
    loom_trace_close (t);
    return 0;
}

static const struct cmd cmd_trace_info = {
    .name = "trace info",
    .usage = "TRACE...",
    .summary = "List the processes of a trace and the state each ended in",
    .fn = info_main,
    .options = info_options,
};

/* ---- loom trace ---- */

static const struct cmd *const subcommands[] = {
    &cmd_trace_merge, &cmd_trace_export, &cmd_trace_summary, &cmd_trace_info, NULL,
};

static int trace_main (const struct cmd *cmd, int argc, char **argv)
{
    if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf (f,
                 "Usage: loom trace <merge|export|summary|info> [options] TRACE\n\n");
        for (int i = 0; subcommands[i]; i++)
            fprintf (f, "  %-14s %s\n", subcommands[i]->name + 6,
                     subcommands[i]->summary);
        fprintf (f, "\nTraces are written by running with LOOM_TRACE=PREFIX "
                    "(see docs/tracing.md).\n");
        return argc < 2 ? 1 : 0;
    }
    for (int i = 0; subcommands[i]; i++) {
        if (strcmp (argv[1], subcommands[i]->name + 6) == 0) {
            optind = 1;
            return subcommands[i]->fn (subcommands[i], argc - 1, argv + 1);
        }
    }
    return cmd_error (cmd, "no subcommand '%s' (merge, export, summary, info)",
                      argv[1]);
}

const struct cmd cmd_trace = {
    .name = "trace",
    .usage = "<merge|export|summary|info> [options] TRACE",
    .summary = "Merge, export (Perfetto) and summarise job traces",
    .fn = trace_main,
    .options = info_options,
};
