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

static void usage (void)
{
    printf (
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
        "  -q, --quiet           No progress line\n");
}

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
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"text", no_argument, NULL, 't'},
        {"top", required_argument, NULL, 'k'},
        {"partitions", required_argument, NULL, 'P'},
        {"seed", required_argument, NULL, 's'},
        {"mem", required_argument, NULL, 'm'},
        {"tmpdir", required_argument, NULL, 'T'},
        {"deterministic", no_argument, NULL, 'd'},
        {"force", no_argument, NULL, 'f'},
        {"repair-partitions", required_argument, NULL, 'R'},
        {"stats", no_argument, NULL, 'S'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char **inputs = calloc ((size_t)argc + 1, sizeof (char *));
    size_t ninputs = 0;
    const char *output = NULL, *tmpdir = NULL, *repair = NULL;
    uint64_t top = 0, parts = 8, seed = 0, mem = 0;
    bool text = false, det = false, force = false, show_stats = false;
    int c;
    opterr = 0;
    while ((c = getopt_long (argc, argv, ":i:o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            inputs[ninputs++] = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 't':
            text = true;
            break;
        case 'k':
            if (app_parse_u64 (optarg, &top) < 0 || top == 0)
                return app_finish (&app, app_error (&app,
                                                    "--top must be a positive "
                                                    "integer, not '%s'",
                                                    optarg));
            break;
        case 'P':
            if (app_parse_u64 (optarg, &parts) < 0 || parts == 0 || parts > 1000000)
                return app_finish (&app, app_error (&app,
                                                    "--partitions must be 1 to "
                                                    "1000000, not '%s'",
                                                    optarg));
            break;
        case 's':
            if (app_parse_u64 (optarg, &seed) < 0)
                return app_finish (&app, app_error (&app,
                                                    "--seed must be an integer, "
                                                    "not '%s'",
                                                    optarg));
            break;
        case 'm':
            if (app_parse_size (optarg, &mem) < 0 || mem < (4u << 20))
                return app_finish (&app, app_error (&app,
                                                    "--mem must be a size of at "
                                                    "least 4M, not '%s'",
                                                    optarg));
            break;
        case 'T':
            tmpdir = optarg;
            break;
        case 'd':
            det = true;
            break;
        case 'f':
            force = true;
            break;
        case 'R':
            repair = optarg;
            break;
        case 'S':
            show_stats = true;
            break;
        case 'q':
            app.quiet = true;
            break;
        case 'h':
            if (app.rank == 0)
                usage ();
            return app_finish (&app, 0);
        case ':':
            return app_finish (
                &app, app_error (&app, "option '%s' needs a value", argv[optind - 1]));
        default:
            return app_finish (&app,
                               app_error (&app,
                                          "unknown option '%s' (see 'loom-wordcount "
                                          "--help')",
                                          argv[optind - 1]));
        }
    }
    for (int i = optind; i < argc; i++)
        inputs[ninputs++] = argv[i];
    if (!ninputs)
        return app_finish (&app, app_error (&app, "no input (--input PATH)"));
    if (!output && !top)
        return app_finish (&app, app_error (&app, "nothing to do: give --output OUT "
                                                  "and/or --top K"));
    if (text && !output)
        return app_finish (&app, app_error (&app, "--text needs --output OUT"));

    struct loom_mr_params mp = LOOM_MR_PARAMS_INIT;
    mp.mem_bytes = mem;
    mp.tmpdir = tmpdir;
    mp.flags = (det ? LOOM_MR_DETERMINISTIC : 0) | (force ? LOOM_MR_FORCE : 0);
    mp.progress = app_progress;
    mp.progress_arg = &app;
    loom_error_t err;
    loom_mr_t *mr = loom_mr_create (app.comm, &mp, &err);
    if (!mr)
        return app_finish (&app, app_error (&app, "%s", err.text));

    char params[256];
    snprintf (params, sizeof (params), "{\"partitions\":%llu,\"seed\":%llu}",
              (unsigned long long)parts, (unsigned long long)seed);
    const char **largv = app_lineage_argv (&app);
    struct loom_ds_lineage lin = LOOM_DS_LINEAGE_INIT;
    lin.producer = "loom-wordcount";
    lin.framework = "mapreduce";
    lin.argv = largv;
    lin.params_json = params;
    lin.dep = LOOM_DS_DEP_WIDE;

    struct loom_mr_step st = LOOM_MR_STEP_INIT;
    st.name = "wordcount";
    st.input = LOOM_MR_INPUT_TEXT;
    st.paths = inputs;
    st.npaths = ninputs;
    st.map = map_words;
    st.combine = LOOM_COMBINE_SUM_U64;
    st.value_width = 8;
    st.partition = LOOM_PARTITION_HASH;
    st.hash_seed = seed;
    st.partitions = (uint32_t)parts;
    st.flags = LOOM_MR_RESUME;
    st.output = !output ? LOOM_MR_OUTPUT_NONE
                : text  ? LOOM_MR_OUTPUT_TEXT
                        : LOOM_MR_OUTPUT_DATASET;
    st.output_path = output;
    st.schema = "word:bytes,count:u64";
    st.format = format_count;
    st.lineage = &lin;
    st.repair_partitions = repair;

    loom_mr_data_t *data = NULL;
    struct loom_mr_stats stats;
    int status = 0;
    if (loom_mr_run (mr, &st, top ? &data : NULL, &stats, &err) < 0)
        status = app_error (&app, "%s", err.text);
    app_progress_clear (&app);
    if (!status && show_stats)
        app_print_stats (&app, &stats);
    if (!status && top)
        status = print_top (&app, data, top);
    loom_mr_data_destroy (data);
    loom_mr_destroy (mr);
    free (largv);
    free (inputs);
    return app_finish (&app, status);
}
