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

int main (int argc, char **argv)
{
    struct app app;
    app_init (&app, "grep", &argc, &argv);
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"regex", no_argument, NULL, 'E'},
        {"invert", no_argument, NULL, 'v'},
        {"count", no_argument, NULL, 'c'},
        {"force", no_argument, NULL, 'f'},
        {"stats", no_argument, NULL, 'S'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **inputs = calloc ((size_t)argc + 1, sizeof (char *));
    size_t ninputs = 0;
    const char *output = NULL;
    bool count = false, force = false, show_stats = false;
    struct pat pat = {0};
    int c;
    opterr = 0;
    while ((c = getopt_long (argc, argv, ":i:o:Evcqh", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            inputs[ninputs++] = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'E':
            pat.is_re = true;
            break;
        case 'v':
            pat.invert = true;
            break;
        case 'c':
            count = true;
            break;
        case 'f':
            force = true;
            break;
        case 'S':
            show_stats = true;
            break;
        case 'q':
            app.quiet = true;
            break;
        case 'h':
            if (app.rank == 0)
                printf (
                    "Usage: loom run grep -n N [-E] [-v] PATTERN --input PATH... "
                    "(--output OUT | --count)\n\n"
                    "Keeps the lines containing PATTERN (a fixed string, or a POSIX\n"
                    "extended regex with -E; -v: the lines that do not), in input\n"
                    "order. A map-only job: no shuffle.\n");
            return app_finish (&app, 0);
        case ':':
            return app_finish (
                &app, app_error (&app, "option '%s' needs a value", argv[optind - 1]));
        default:
            return app_finish (&app, app_error (&app,
                                                "unknown option '%s' (see 'loom-grep "
                                                "--help')",
                                                argv[optind - 1]));
        }
    }
    if (optind >= argc)
        return app_finish (&app, app_error (&app, "no pattern"));
    pat.fixed = argv[optind++];
    pat.len = strlen (pat.fixed);
    for (int i = optind; i < argc; i++)
        inputs[ninputs++] = argv[i];
    if (!ninputs)
        return app_finish (&app, app_error (&app, "no input (--input PATH)"));
    if (!output && !count)
        return app_finish (&app, app_error (&app, "give --output OUT or --count"));
    if (pat.is_re) {
        int rc = regcomp (&pat.re, pat.fixed, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[128];
            regerror (rc, &pat.re, msg, sizeof (msg));
            return app_finish (&app,
                               app_error (&app, "bad regex '%s': %s", pat.fixed, msg));
        }
    }

    struct loom_mr_params mp = LOOM_MR_PARAMS_INIT;
    mp.flags = force ? LOOM_MR_FORCE : 0;
    mp.progress = app_progress;
    mp.progress_arg = &app;
    loom_error_t err;
    loom_mr_t *mr = loom_mr_create (app.comm, &mp, &err);
    if (!mr)
        return app_finish (&app, app_error (&app, "%s", err.text));
    struct loom_mr_step st = LOOM_MR_STEP_INIT;
    st.name = "grep";
    st.paths = inputs;
    st.npaths = ninputs;
    st.map = map_grep;
    st.map_arg = &pat;
    st.output = output ? LOOM_MR_OUTPUT_TEXT : LOOM_MR_OUTPUT_NONE;
    st.output_path = output;
    struct loom_mr_stats stats;
    int status = 0;
    if (loom_mr_run (mr, &st, NULL, &stats, &err) < 0)
        status = app_error (&app, "%s", err.text);
    app_progress_clear (&app);
    uint64_t total = pat.matched;
    if (!status && loom_comm_allreduce_u64 (app.comm, &total, 1, LOOM_OP_SUM, &err) < 0)
        status = app_error (&app, "%s", err.text);
    if (!status && show_stats)
        app_print_stats (&app, &stats);
    if (!status && count && app.rank == 0)
        printf ("%llu\n", (unsigned long long)total);
    if (pat.is_re)
        regfree (&pat.re);
    loom_mr_destroy (mr);
    free (inputs);
    return app_finish (&app, status);
}
