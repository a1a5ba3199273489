/* SPDX-License-Identifier: MIT */
/* loom-grep: a map-only job. Every rank reads its byte range of the input and keeps
 * the lines that contain a fixed string (or match a POSIX extended regex with -E);
 * the output file holds them in input order, whatever the number of ranks. There is
 * no shuffle: a map-only step costs the map and the write, nothing else.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/mapreduce.h>

#include "../appkit/appkit.h"

struct pat {
    const char *fixed;
    size_t len;
    regex_t re;
    bool is_re, invert;
    uint64_t matched;
};

static int map_grep (loom_mr_ctx_t *ctx, const struct loom_record *rec, void *arg)
{
    struct pat *p = arg;
    bool hit;
    if (p->is_re) {
        regmatch_t m = {.rm_so = 0, .rm_eo = (regoff_t)rec->value_len};
        hit = regexec (&p->re, rec->value, 1, &m, REG_STARTEND) == 0;
    } else {
        hit = memmem (rec->value, rec->value_len, p->fixed, p->len) != NULL;
    }
    if (hit == p->invert)
        return 0;
    p->matched++;
    return loom_mr_emit (ctx, rec->value, rec->value_len, NULL, 0);
}

static const char usage[] =
    "Usage: loom run grep -n N [-E] [-v] PATTERN --input PATH... "
    "(--output OUT | --count)\n\n"
    "Keeps the lines containing PATTERN (a fixed string, or a POSIX\n"
    "extended regex with -E; -v: the lines that do not), in input\n"
    "order. A map-only job: no shuffle.\n";

int main (int argc, char **argv)
{
    struct app app;
    app_init (&app, "grep", &argc, &argv);
    static const struct option longopts[] = {
        APP_OPT_INPUT,
        APP_OPT_OUTPUT,
        {"regex", no_argument, NULL, 'E'},
        {"invert", no_argument, NULL, 'v'},
        {"count", no_argument, NULL, 'c'},
        APP_OPT_FORCE,
        APP_OPT_STATS,
        APP_OPT_QUIET,
        APP_OPT_HELP,
        APP_OPT_END,
    };
    app.usage = usage;
    app.longopts = longopts;
    bool count = false;
    struct pat pat = {0};
    int c, rc;
    opterr = 0;
    while ((c = getopt_long (argc, argv, ":i:o:Evcqh", longopts, NULL)) != -1) {
        if (c == 'E')
            pat.is_re = true;
        else if (c == 'v')
            pat.invert = true;
        else if (c == 'c')
            count = true;
        else if ((rc = app_option (&app, c, argv)) >= 0)
            return app_finish (&app, rc);
    }
    if (optind >= argc)
        return app_finish (&app, app_error (&app, "no pattern"));
    pat.fixed = argv[optind++];
    pat.len = strlen (pat.fixed);
    if ((rc = app_operands (&app, argc, argv)) >= 0)
        return app_finish (&app, rc);
    if (!app.opt.output && !count)
        return app_finish (&app, app_error (&app, "give --output OUT or --count"));
    if (pat.is_re) {
        rc = regcomp (&pat.re, pat.fixed, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[128];
            regerror (rc, &pat.re, msg, sizeof (msg));
            return app_finish (&app,
                               app_error (&app, "bad regex '%s': %s", pat.fixed, msg));
        }
    }

    loom_mr_t *mr = app_mr_create (&app);
    if (!mr)
        return app_finish (&app, 1);
    struct loom_mr_step st = app_step (&app, "grep");
    st.map = map_grep;
    st.map_arg = &pat;
    st.output = app.opt.output ? LOOM_MR_OUTPUT_TEXT : LOOM_MR_OUTPUT_NONE;
    loom_error_t err;
    struct loom_mr_stats stats;
    int status = 0;
    if (loom_mr_run (mr, &st, NULL, &stats, &err) < 0)
        status = app_error (&app, "%s", err.text);
    app_progress_clear (&app);
    /* The total is summed before --stats prints: a failed sum prints only its error. */
    uint64_t total = pat.matched;
    if (!status && loom_comm_allreduce_u64 (app.comm, &total, 1, LOOM_OP_SUM, &err) < 0)
        status = app_error (&app, "%s", err.text);
    if (!status && app.opt.stats)
        app_print_stats (&app, &stats);
    if (!status && count && app.rank == 0)
        printf ("%llu\n", (unsigned long long)total);
    if (pat.is_re)
        regfree (&pat.re);
    loom_mr_destroy (mr);
    return app_finish (&app, status);
}
