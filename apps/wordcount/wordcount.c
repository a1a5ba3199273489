/* SPDX-License-Identifier: MIT */
/* loom-wordcount: count words in text files. A word is a run of bytes other than
 * the six C-locale spaces (" \t\n\v\f\r"); any other byte, UTF-8 or not, is part of
 * a word. Output: a dataset "word:bytes,count:u64" hash-partitioned by word, or a
 * text file of "word<TAB>count" lines; --top K prints the K most frequent words.
 *
 * Map splits lines with 16-byte SSE2 whitespace masks (lines have readable padding
 * after them, LOOM_MR_TEXT_PAD) and emits (word, 1); the framework's combining table
 * sums counts on each rank before the shuffle.
 */
#include <emmintrin.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/hash.h>
#include <loom/mapreduce.h>

#include "../appkit/appkit.h"

static const char usage[] =
    "Usage: loom run wordcount -n N --input PATH... [--output OUT] [options]\n"
    "       mpirun -np N loom-wordcount --input PATH... [options]\n\n"
    "Counts words (runs of non-space bytes) in text files and directories.\n\n"
    "Options:\n"
    "  -i, --input=PATH      File or directory (repeat, or list after the "
    "options)\n"
    "  -o, --output=OUT      Write the counts: a dataset (word:bytes,count:u64)\n"
    "      --text            Write OUT as text lines 'word<TAB>count' instead\n"
    "      --top=K           Print the K most frequent words\n"
    "      --partitions=P    Output partitions (default 8)\n"
    "      --seed=S          Hash seed of the partitioner (default 0)\n"
    "      --mem=SIZE        Memory budget per rank (default 1G); spills beyond\n"
    "      --tmpdir=DIR      Spill directory (default $LOOM_TMPDIR, $TMPDIR, "
    "/tmp)\n"
    "      --deterministic   Reproducible shuffle order\n"
    "      --force           Replace an existing output\n"
    "      --repair-partitions=LIST  Rewrite only these partitions (recompute)\n"
    "      --stats           Print the job's statistics as one JSON line\n"
    "  -q, --quiet           No progress line\n";

static inline unsigned space_mask16 (const char *p)
{
    __m128i v = _mm_loadu_si128 ((const __m128i *)p);
    __m128i sp = _mm_cmpeq_epi8 (v, _mm_set1_epi8 (' '));
    __m128i t = _mm_sub_epi8 (v, _mm_set1_epi8 (9)); /* \t..\r -> 0..4 */
    __m128i ctl =
        _mm_cmpeq_epi8 (_mm_subs_epu8 (t, _mm_set1_epi8 (4)), _mm_setzero_si128 ());
    return (unsigned)_mm_movemask_epi8 (_mm_or_si128 (sp, ctl));
}

static inline int is_space (unsigned char c)
{
    return c == ' ' || (unsigned char)(c - 9) <= 4;
}

static int map_words (loom_mr_ctx_t *ctx, const struct loom_record *rec, void *arg)
{
    static const uint64_t one = 1;
    const char *p = rec->value, *end = p + rec->value_len;
    (void)arg;
    while (p < end) {
        /* 16 bytes past any position < end are readable (LOOM_MR_TEXT_PAD). */
        unsigned m = space_mask16 (p);
        size_t lim = (size_t)(end - p);
        if (lim < 16)
            m |= ~0u << lim;
        if (m & 1) {
            unsigned word = ~m & 0xffff;
            p += word ? (unsigned)__builtin_ctz (word) : 16;
            continue;
        }
        size_t len;
        if (m & 0xffff) {
            len = (size_t)__builtin_ctz (m);
        } else {
            const char *q = p + 16;
            while (q < end && !is_space ((unsigned char)*q))
                q++;
            len = (size_t)(q - p);
        }
        if (loom_mr_emit (ctx, p, len, &one, sizeof (one)) < 0)
            return -1;
        p += len;
    }
    return 0;
}

static int format_count (FILE *out, const struct loom_record *rec, void *arg)
{
    uint64_t n;
    (void)arg;
    memcpy (&n, rec->value, 8);
    fwrite (rec->key, 1, rec->key_len, out);
    return fprintf (out, "\t%llu\n", (unsigned long long)n) < 0 ? -1 : 0;
}

/* --top: order by count (descending), then word. */
struct wc {
    const char *w;
    size_t len;
    uint64_t count;
};

static int wc_cmp (const void *pa, const void *pb)
{
    const struct wc *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp (a->w, b->w, n);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int to_rank0 (const struct loom_record *rec, int nranks, void *arg)
{
    (void)rec;
    (void)nranks;
    (void)arg;
    return 0;
}

/* Every rank sends its local top K to rank 0 through the shuffle; rank 0 prints. */
static int print_top (struct app *app, const loom_mr_data_t *data, uint64_t k)
{
    loom_error_t err;
    size_t n = (size_t)loom_mr_data_records (data), m = 0;
    struct wc *v = calloc (n + 1, sizeof (*v));
    uint64_t pos = 0;
    struct loom_record r;
    int status = 0;
    while (v && loom_mr_data_next (data, &pos, &r)) {
        v[m].w = r.key;
        v[m].len = r.key_len;
        memcpy (&v[m].count, r.value, 8);
        m++;
    }
    if (v)
        qsort (v, m, sizeof (*v), wc_cmp);
    struct loom_shuffle_params sp = LOOM_SHUFFLE_PARAMS_INIT;
    sp.value_width = 8;
    sp.partition = LOOM_PARTITION_CALLBACK;
    sp.partition_fn = to_rank0;
    loom_shuffle_t *sh = loom_shuffle_create (app->comm, &sp, &err);
    if (!sh) {
        free (v);
        return app_error (app, "%s", err.text);
    }
    for (size_t i = 0; v && i < m && i < k; i++)
        if (loom_shuffle_put (sh, v[i].w, v[i].len, &v[i].count, 8, &err) < 0)
            status = 1;
    if (loom_shuffle_finish (sh, &err) < 0)
        status = 1;
    free (v);
    if (status) {
        loom_shuffle_destroy (sh);
        return app_error (app, "--top: %s", err.text);
    }
    if (app->rank == 0) {
        struct mr_all {
            struct wc *v;
            size_t n, cap;
        } all = {0};
        struct mr_buf {
            char *p;
        };
        char **copies = NULL;
        while (loom_shuffle_next (sh, &r, &err) == 1) {
            if (all.n == all.cap) {
                all.cap = all.cap ? 2 * all.cap : 64;
                all.v = realloc (all.v, all.cap * sizeof (*all.v));
                copies = realloc (copies, all.cap * sizeof (*copies));
                if (!all.v || !copies)
                    return app_error (app, "out of memory");
            }
            copies[all.n] = malloc (r.key_len + 1);
            memcpy (copies[all.n], r.key, r.key_len);
            all.v[all.n] = (struct wc){copies[all.n], r.key_len, 0};
            memcpy (&all.v[all.n].count, r.value, 8);
            all.n++;
        }
        qsort (all.v, all.n, sizeof (*all.v), wc_cmp);
        app_progress_clear (app);
        for (size_t i = 0; i < all.n && i < k; i++) {
            fwrite (all.v[i].w, 1, all.v[i].len, stdout);
            printf ("\t%llu\n", (unsigned long long)all.v[i].count);
        }
        for (size_t i = 0; i < all.n; i++)
            free (copies[i]);
        free (copies);
        free (all.v);
    }
    loom_shuffle_destroy (sh);
    return 0;
}

int main (int argc, char **argv)
{
    struct app app;
    app_init (&app, "wordcount", &argc, &argv);
    static const struct option longopts[] = {
        APP_OPT_INPUT,         APP_OPT_OUTPUT,
        APP_OPT_TEXT,          {"top", required_argument, NULL, 'k'},
        APP_OPT_PARTITIONS,    APP_OPT_SEED ("seed"),
        APP_OPT_MEM,           APP_OPT_TMPDIR,
        APP_OPT_DETERMINISTIC, APP_OPT_FORCE,
        APP_OPT_REPAIR,        APP_OPT_STATS,
        APP_OPT_QUIET,         APP_OPT_HELP,
        APP_OPT_END,
    };
    app.usage = usage;
    app.longopts = longopts;
    const struct app_opts *o = &app.opt;
    uint64_t top = 0;
    int c, rc;
    opterr = 0;
    while ((c = getopt_long (argc, argv, ":i:o:qh", longopts, NULL)) != -1) {
        if (c == 'k') {
            if (app_parse_u64 (optarg, &top) < 0 || top == 0)
                return app_finish (&app, app_error (&app,
                                                    "--top must be a positive "
                                                    "integer, not '%s'",
                                                    optarg));
        } else if ((rc = app_option (&app, c, argv)) >= 0) {
            return app_finish (&app, rc);
        }
    }
    if ((rc = app_operands (&app, argc, argv)) >= 0)
        return app_finish (&app, rc);
    if (!o->output && !top)
        return app_finish (&app, app_error (&app, "nothing to do: give --output OUT "
                                                  "and/or --top K"));
    if (o->text && !o->output)
        return app_finish (&app, app_error (&app, "--text needs --output OUT"));

    loom_mr_t *mr = app_mr_create (&app);
    if (!mr)
        return app_finish (&app, 1);
    char params[256];
    snprintf (params, sizeof (params), "{\"partitions\":%llu,\"seed\":%llu}",
              (unsigned long long)o->partitions, (unsigned long long)o->seed);
    struct loom_ds_lineage lin = app_lineage (&app, params);

    struct loom_mr_step st = app_step (&app, "wordcount");
    st.input = LOOM_MR_INPUT_TEXT;
    st.map = map_words;
    st.combine = LOOM_COMBINE_SUM_U64;
    st.value_width = 8;
    st.partition = LOOM_PARTITION_HASH;
    st.hash_seed = o->seed;
    st.partitions = (uint32_t)o->partitions;
    st.flags = LOOM_MR_RESUME;
    st.output = !o->output ? LOOM_MR_OUTPUT_NONE
                : o->text  ? LOOM_MR_OUTPUT_TEXT
                           : LOOM_MR_OUTPUT_DATASET;
    st.schema = "word:bytes,count:u64";
    st.format = format_count;
    st.lineage = &lin;

    loom_mr_data_t *data = NULL;
    struct loom_mr_stats stats;
    int status = app_run (&app, mr, &st, top ? &data : NULL, &stats);
    if (!status && top)
        status = print_top (&app, data, top);
    loom_mr_data_destroy (data);
    loom_mr_destroy (mr);
    return app_finish (&app, status);
}
