/* SPDX-License-Identifier: MIT */
/* loom-sort-validate: checks a sort's output. Every rank reads its byte range of the
 * sorted text and checks that consecutive lines are in bytewise order; the first
 * and last line of every rank go to rank 0, which checks the order across ranks.
 * A multiset checksum (the sum of xxh64 over all lines, and the line count) of the
 * output is compared with that of the input when --input is given, so a lost,
 * duplicated or altered record fails too.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/hash.h>
#include <loom/mapreduce.h>

#include "../appkit/appkit.h"

struct scan {
    uint64_t lines, sum, disorder, first_bad;
    char *prev, *first;
    size_t prev_len, prev_cap, first_len;
    bool have_prev;
    bool check_order;
};

static int keep (char **buf, size_t *cap, const char *p, size_t len)
{
    if (len + 1 > *cap) {
        size_t n = len + 1 > 2 * *cap ? len + 1 : 2 * *cap;
        char *b = realloc (*buf, n);
        if (!b)
            return -1;
        *buf = b;
        *cap = n;
    }
    memcpy (*buf, p, len);
    return 0;
}

static int cmp_lines (const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp (a, b, n) : 0;
    return c ? c : (alen > blen) - (alen < blen);
}

static int map_scan (loom_mr_ctx_t *ctx, const struct loom_record *rec, void *arg)
{
    struct scan *s = arg;
    const char *p = rec->value;
    size_t len = rec->value_len;
    s->sum += loom_hash64 (p, len, 0);
    if (s->check_order) {
        if (!s->have_prev) {
            size_t cap = 0;
            if (keep (&s->first, &cap, p, len) < 0)
                return loom_mr_fail (ctx, ENOMEM, "out of memory");
            s->first_len = len;
        } else if (cmp_lines (s->prev, s->prev_len, p, len) > 0) {
            if (!s->disorder)
                s->first_bad = s->lines;
            s->disorder++;
        }
        if (keep (&s->prev, &s->prev_cap, p, len) < 0)
            return loom_mr_fail (ctx, ENOMEM, "out of memory");
        s->prev_len = len;
        s->have_prev = true;
    }
    s->lines++;
    return 0;
}

static int scan_file (
    struct app *app, loom_mr_t *mr, const char *path, struct scan *s, loom_error_t *err)
{
    const char *paths[] = {path};
    struct loom_mr_step st = LOOM_MR_STEP_INIT;
    st.name = "sort-validate";
    st.paths = paths;
    st.npaths = 1;
    st.map = map_scan;
    st.map_arg = s;
    (void)app;
    return loom_mr_run (mr, &st, NULL, NULL, err);
}

static int to_rank0 (const struct loom_record *rec, int nranks, void *arg)
{
    (void)rec;
    (void)nranks;
    (void)arg;
    return 0;
}

/* Rank 0 gets every rank's first and last line and checks them in rank order.
 * Returns the number of boundaries out of order (on rank 0), or -1.
 */
static int64_t check_boundaries (struct app *app, struct scan *s, loom_error_t *err)
{
    struct loom_shuffle_params sp = LOOM_SHUFFLE_PARAMS_INIT;
    sp.key_width = 8;
    sp.partition = LOOM_PARTITION_CALLBACK;
    sp.partition_fn = to_rank0;
    sp.flags = LOOM_SHUFFLE_DETERMINISTIC;
    loom_shuffle_t *sh = loom_shuffle_create (app->comm, &sp, err);
    if (!sh)
        return -1;
    /* key: rank, 0 = first / 1 = last; empty ranks send nothing. */
    int rc = 0;
    if (s->have_prev) {
        uint64_t k0 = (uint64_t)app->rank * 2, k1 = k0 + 1;
        rc = loom_shuffle_put (sh, &k0, 8, s->first, s->first_len, err);
        if (rc == 0)
            rc = loom_shuffle_put (sh, &k1, 8, s->prev, s->prev_len, err);
    }
    if (loom_shuffle_finish (sh, err) < 0)
        rc = -1;
    int64_t bad = 0;
    if (rc == 0 && app->rank == 0) {
        /* Deterministic order: by source rank, first before last. */
        char *last = NULL;
        size_t last_len = 0, cap = 0;
        bool have = false;
        struct loom_record r;
        while (loom_shuffle_next (sh, &r, err) == 1) {
            uint64_t k;
            memcpy (&k, r.key, 8);
            if (k % 2 == 0 && have
                && cmp_lines (last, last_len, r.value, r.value_len) > 0)
                bad++;
            if (k % 2 == 1) {
                if (keep (&last, &cap, r.value, r.value_len) < 0) {
                    rc = -1;
                    break;
                }
                last_len = r.value_len;
                have = true;
            }
        }
        free (last);
    }
    loom_shuffle_destroy (sh);
    return rc < 0 ? -1 : bad;
}

static const char usage[] =
    "Usage: loom run sort-validate -n N SORTED [--input ORIGINAL]\n\n"
    "Checks that the lines of SORTED are in bytewise order and, with\n"
    "--input, that they are the same multiset as ORIGINAL's\n"
    "(sum of xxh64 of the lines, and their count).\n";

int main (int argc, char **argv)
{
    struct app app;
    app_init (&app, "sort-validate", &argc, &argv);
    static const struct option longopts[] = {
        APP_OPT_INPUT,
        APP_OPT_QUIET,
        APP_OPT_HELP,
        APP_OPT_END,
    };
    app.usage = usage;
    app.longopts = longopts;
    int c, rc;
    opterr = 0;
    while ((c = getopt_long (argc, argv, ":i:qh", longopts, NULL)) != -1)
        if ((rc = app_option (&app, c, argv)) >= 0)
            return app_finish (&app, rc);
    /* The last --input counts. */
    const char *input = app.opt.ninputs ? app.opt.inputs[app.opt.ninputs - 1] : NULL;
    if (optind + 1 != argc)
        return app_finish (&app, app_error (&app, "give one sorted file to check"));
    const char *sorted = argv[optind];

    loom_error_t err;
    loom_mr_t *mr = loom_mr_create (app.comm, NULL, &err);
    if (!mr)
        return app_finish (&app, app_error (&app, "%s", err.text));
    struct scan out = {.check_order = true}, in = {0};
    int status = 0;
    if (scan_file (&app, mr, sorted, &out, &err) < 0
        || (input && scan_file (&app, mr, input, &in, &err) < 0)) {
        status = app_error (&app, "%s", err.text);
        goto done;
    }
    int64_t bad_edges = check_boundaries (&app, &out, &err);
    uint64_t v[6] = {out.lines, out.sum, out.disorder,
                     in.lines,  in.sum,  bad_edges < 0 ? 1 : 0};
    if (loom_comm_allreduce_u64 (app.comm, v, 6, LOOM_OP_SUM, &err) < 0) {
        status = app_error (&app, "%s", err.text);
        goto done;
    }
    if (v[5]) {
        status = app_error (&app, "cannot compare rank boundaries");
        goto done;
    }
    /* v[2] is already the sum over ranks; the boundaries are known on rank 0. */
    uint64_t dis_all = app.rank == 0 ? v[2] + (uint64_t)bad_edges : 0;
    loom_comm_allreduce_u64 (app.comm, &dis_all, 1, LOOM_OP_MAX, NULL);
    if (dis_all) {
        status = app_error (&app, "'%s' is not sorted: %llu lines out of order", sorted,
                            (unsigned long long)dis_all);
    } else if (input && (v[0] != v[3] || v[1] != v[4])) {
        status = app_error (
            &app,
            "'%s' is ordered but not a permutation of '%s' (%llu lines, "
            "checksum %016llx; input %llu lines, checksum %016llx)",
            sorted, input, (unsigned long long)v[0], (unsigned long long)v[1],
            (unsigned long long)v[3], (unsigned long long)v[4]);
    } else if (app.rank == 0) {
        printf ("sort-validate: %s: %llu lines in order, checksum %016llx%s\n", sorted,
                (unsigned long long)v[0], (unsigned long long)v[1],
                input ? ", same multiset as the input" : "");
    }
done:
    free (out.prev);
    free (out.first);
    loom_mr_destroy (mr);
    return app_finish (&app, status);
}
