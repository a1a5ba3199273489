/* SPDX-License-Identifier: MIT */
/* loom-test-crashwc: a word count whose map or reduce crashes (a real SIGSEGV) on
 * one word, for the replay tests (tests/replay/replay.sh). No combiner, so reduce
 * sees every 1 a word was counted with.
 *
 *   loom-test-crashwc --input PATH --output OUT [--crash-on-key WORD]
 *                     [--crash-in map|reduce] [--capture[=TASKS]]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/mapreduce.h>

#include "../../apps/appkit/appkit.h"

struct opts {
    const char *crash_key;
    int crash_in_map;
};

static void crash (void)
{
    volatile int *volatile p = NULL;
    *p = 42; /* SIGSEGV, not abort(): the kind of crash a bug gives */
}

static int map_words (loom_mr_ctx_t *ctx, const struct loom_record *rec, void *arg)
{
    const struct opts *o = arg;
    static const uint64_t one = 1;
    const char *p = rec->value, *end = p + rec->value_len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *w = p;
        while (p < end && *p != ' ' && *p != '\t')
            p++;
        if (p == w)
            continue;
        size_t len = (size_t)(p - w);
        if (o->crash_in_map && o->crash_key && strlen (o->crash_key) == len
            && memcmp (w, o->crash_key, len) == 0)
            crash ();
        if (loom_mr_emit (ctx, w, len, &one, sizeof (one)) < 0)
            return -1;
    }
    return 0;
}

static int reduce_sum (loom_mr_ctx_t *ctx,
                       const void *key,
                       size_t klen,
                       loom_mr_values_t *values,
                       void *arg)
{
    const struct opts *o = arg;
    if (!o->crash_in_map && o->crash_key && strlen (o->crash_key) == klen
        && memcmp (key, o->crash_key, klen) == 0)
        crash ();
    uint64_t sum = 0, v;
    const void *p;
    size_t len;
    int k;
    while ((k = loom_mr_values_next (values, &p, &len)) == 1) {
        memcpy (&v, p, 8);
        sum += v;
    }
    if (k < 0)
        return -1;
    return loom_mr_emit (ctx, key, klen, &sum, sizeof (sum));
}

int main (int argc, char **argv)
{
    struct app app;
    app_init (&app, "test-crashwc", &argc, &argv);
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"crash-on-key", required_argument, NULL, 'k'},
        {"crash-in", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    struct opts o = {0};
    const char *input = NULL, *output = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            input = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'k':
            o.crash_key = optarg;
            break;
        case 'c':
            if (strcmp (optarg, "map") != 0 && strcmp (optarg, "reduce") != 0)
                return app_finish (&app, app_error (&app, "--crash-in map|reduce"));
            o.crash_in_map = strcmp (optarg, "map") == 0;
            break;
        default:
            return app_finish (
                &app, app_error (&app, "unknown option '%s'", argv[optind - 1]));
        }
    }
    if (!input || !output)
        return app_finish (&app, app_error (&app, "give --input and --output"));
    loom_error_t err;
    struct loom_mr_params mp = LOOM_MR_PARAMS_INIT;
    mp.flags = LOOM_MR_FORCE | LOOM_MR_DETERMINISTIC;
    loom_mr_t *mr = loom_mr_create (app.comm, &mp, &err);
    if (!mr)
        return app_finish (&app, app_error (&app, "%s", err.text));
    const char *paths[] = {input};
    struct loom_mr_step st = LOOM_MR_STEP_INIT;
    st.name = "crashwc";
    st.paths = paths;
    st.npaths = 1;
    st.map = map_words;
    st.map_arg = &o;
    st.reduce = reduce_sum;
    st.reduce_arg = &o;
    st.value_width = 8;
    st.partitions = 8;
    st.output = LOOM_MR_OUTPUT_TEXT;
    st.output_path = output;
    int status = 0;
    if (loom_mr_run (mr, &st, NULL, NULL, &err) < 0)
        status = app_error (&app, "%s", err.text);
    loom_mr_destroy (mr);
    return app_finish (&app, status);
}
