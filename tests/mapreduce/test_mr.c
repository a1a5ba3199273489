/* SPDX-License-Identifier: MIT */
/* MPI tests of the MapReduce API (run at np 1-4): chained steps through in-memory
 * data, exactly-once and placement of shuffled records under a budget that forces
 * spilling, sorted partitions, dataset output read back as input, and errors that
 * every rank reports the same way (bad step, wrong widths, a map failing on one rank),
 * and the join step on in-memory data.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/hash.h>
#include <loom/mapreduce.h>

static int rank, size, failures;
static char dir[256];

#define CHECK(cond, ...)                                                               \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf (stderr, "rank %d: %s:%d: %s: ", rank, __FILE__, __LINE__, #cond); \
            fprintf (stderr, __VA_ARGS__);                                             \
            fputc ('\n', stderr);                                                      \
            failures++;                                                                \
        }                                                                              \
    } while (0)

/* Rank 0 writes 'nlines' lines of words "k<i % nkeys>" (8 per line). */
static void write_input (const char *path, int nlines, int nkeys)
{
    if (rank == 0) {
        FILE *f = fopen (path, "w");
        for (int l = 0; l < nlines; l++)
            for (int w = 0; w < 8; w++)
                fprintf (f, "k%d%c", (l * 8 + w) % nkeys, w == 7 ? '\n' : ' ');
        fclose (f);
    }
    MPI_Barrier (MPI_COMM_WORLD);
}

static int map_words (loom_mr_ctx_t *ctx, const struct loom_record *rec, void *arg)
{
    static const uint64_t one = 1;
    const char *p = rec->value, *end = p + rec->value_len;
    (void)arg;
    while (p < end) {
        const char *s = p;
        while (p < end && *p != ' ')
            p++;
        if (p > s && loom_mr_emit (ctx, s, (size_t)(p - s), &one, 8) < 0)
            return -1;
        p++;
    }
    return 0;
}

/* Step 2 of the chain: (word, count) -> (count, 1), summed: words per count. */
static int map_invert (loom_mr_ctx_t *ctx, const struct loom_record *rec, void *arg)
{
    static const uint64_t one = 1;
    (void)arg;
    return loom_mr_emit (ctx, rec->value, 8, &one, 8);
}

static void test_chain (loom_comm_t *comm)
{
    char path[300];
    snprintf (path, sizeof (path), "%s/chain.txt", dir);
    write_input (path, 1000, 50); /* 8000 words, 50 distinct, 160 each */
    loom_error_t err;
    loom_mr_t *mr = loom_mr_create (comm, NULL, &err);
    const char *paths[] = {path};
    struct loom_mr_step s1 = LOOM_MR_STEP_INIT;
    s1.paths = paths;
    s1.npaths = 1;
    s1.map = map_words;
    s1.combine = LOOM_COMBINE_SUM_U64;
    s1.value_width = 8;
    loom_mr_data_t *counts = NULL;
    struct loom_mr_stats st;
    CHECK (loom_mr_run (mr, &s1, &counts, &st, &err) == 0, "step 1: %s", err.text);
    CHECK (loom_mr_data_total_records (counts) == 50, "distinct words %llu",
           (unsigned long long)loom_mr_data_total_records (counts));
    CHECK (st.total_input_records == 1000, "input lines %llu",
           (unsigned long long)st.total_input_records);
    uint64_t pos = 0, sum = 0;
    struct loom_record r;
    while (loom_mr_data_next (counts, &pos, &r)) {
        uint64_t c;
        memcpy (&c, r.value, 8);
        CHECK (c == 160, "count of %.*s is %llu", (int)r.key_len, (const char *)r.key,
               (unsigned long long)c);
        sum += c;
    }
    loom_comm_allreduce_u64 (comm, &sum, 1, LOOM_OP_SUM, NULL);
    CHECK (sum == 8000, "total words %llu", (unsigned long long)sum);

    struct loom_mr_step s2 = LOOM_MR_STEP_INIT;
    s2.input = LOOM_MR_INPUT_DATA;
    s2.data = counts;
    s2.map = map_invert;
    s2.combine = LOOM_COMBINE_SUM_U64;
    s2.value_width = 8;
    s2.key_width = 8;
    loom_mr_data_t *hist = NULL;
    CHECK (loom_mr_run (mr, &s2, &hist, NULL, &err) == 0, "step 2: %s", err.text);
    CHECK (loom_mr_data_total_records (hist) == 1, "one distinct count, got %llu",
           (unsigned long long)loom_mr_data_total_records (hist));
    pos = 0;
    while (loom_mr_data_next (hist, &pos, &r)) {
        uint64_t k, v;
        memcpy (&k, r.key, 8);
        memcpy (&v, r.value, 8);
        CHECK (k == 160 && v == 50, "histogram %llu -> %llu", (unsigned long long)k,
               (unsigned long long)v);
    }
    loom_mr_data_destroy (hist);
    loom_mr_data_destroy (counts);
    loom_mr_destroy (mr);
}

/* Identity shuffle of unique records under a 4 MiB budget: every record arrives
 * once, at the owner of its hash partition, sorted within its partition.
 */
static int map_unique (loom_mr_ctx_t *ctx, const struct loom_record *rec, void *arg)
{
    (void)arg;
    char val[40];
    memset (val, 'v', sizeof (val));
    return loom_mr_emit (ctx, rec->value, rec->value_len, val, sizeof (val));
}

static void test_spill (loom_comm_t *comm)
{
    char path[300];
    snprintf (path, sizeof (path), "%s/uniq.txt", dir);
    const int n = 60000;
    if (rank == 0) {
        FILE *f = fopen (path, "w");
        for (int i = 0; i < n; i++)
            fprintf (f, "key-%07d-%016llx\n", i,
                     (unsigned long long)loom_hash64 (&i, sizeof (i), 1));
        fclose (f);
    }
    MPI_Barrier (MPI_COMM_WORLD);
    struct loom_mr_params mp = LOOM_MR_PARAMS_INIT;
    mp.mem_bytes = 4u << 20;
    loom_error_t err;
    loom_mr_t *mr = loom_mr_create (comm, &mp, &err);
    const char *paths[] = {path};
    struct loom_mr_step s = LOOM_MR_STEP_INIT;
    s.paths = paths;
    s.npaths = 1;
    s.map = map_unique;
    s.shuffle = true;
    s.partitions = 5;
    s.hash_seed = 77;
    loom_mr_data_t *out = NULL;
    struct loom_mr_stats st;
    CHECK (loom_mr_run (mr, &s, &out, &st, &err) == 0, "spill step: %s", err.text);
    CHECK (st.spill_bytes > 0 || size > 2, "no spill with a 4 MiB budget (%llu)",
           (unsigned long long)st.spill_bytes);
    uint64_t pos = 0, count = 0, sum = 0;
    struct loom_record r;
    int prev_part = -1;
    char prev[64] = "";
    size_t prev_len = 0;
    uint32_t first = (uint32_t)(5ULL * (uint64_t)rank / (uint64_t)size);
    uint32_t last = (uint32_t)(5ULL * (uint64_t)(rank + 1) / (uint64_t)size);
    while (loom_mr_data_next (out, &pos, &r)) {
        int part = (int)loom_hash_partition (r.key, r.key_len, 77, 5);
        CHECK ((uint32_t)part >= first && (uint32_t)part < last,
               "record in partition %d on rank %d", part, rank);
        CHECK (part >= prev_part, "partitions out of order");
        if (part == prev_part) {
            size_t m = prev_len < r.key_len ? prev_len : r.key_len;
            int c = memcmp (prev, r.key, m);
            CHECK (c < 0 || (c == 0 && prev_len < r.key_len), "keys out of order");
        }
        prev_part = part;
        memcpy (prev, r.key, r.key_len < sizeof (prev) ? r.key_len : sizeof (prev));
        prev_len = r.key_len;
        sum += loom_hash64 (r.key, r.key_len, 0);
        count++;
    }
    /* Exactly once: the multiset checksum of the keys equals the input's. */
    uint64_t want = 0;
    for (int i = 0; i < n; i++) {
        char k[64];
        int len = snprintf (k, sizeof (k), "key-%07d-%016llx", i,
                            (unsigned long long)loom_hash64 (&i, sizeof (i), 1));
        want += loom_hash64 (k, (size_t)len, 0);
    }
    uint64_t v[2] = {count, sum};
    loom_comm_allreduce_u64 (comm, v, 2, LOOM_OP_SUM, NULL);
    CHECK (v[0] == (uint64_t)n, "%llu records arrived, sent %d",
           (unsigned long long)v[0], n);
    CHECK (v[1] == want, "multiset checksum differs");
    loom_mr_data_destroy (out);
    loom_mr_destroy (mr);
}

/* Dataset output, then the dataset as input of the next step. */
static int map_num (loom_mr_ctx_t *ctx, const struct loom_record *rec, void *arg)
{
    (void)arg;
    uint64_t k = strtoull ((const char *)rec->value + 1, NULL, 10) % 97;
    double v = 0.5;
    return loom_mr_emit (ctx, &k, 8, &v, 8);
}

static int map_ds (loom_mr_ctx_t *ctx, const struct loom_record *rec, void *arg)
{
    uint64_t *seen = arg;
    double v;
    CHECK (rec->key_len == 8 && rec->value_len == 8, "row of %zu+%zu bytes",
           rec->key_len, rec->value_len);
    memcpy (&v, rec->value, 8);
    seen[0]++;
    seen[1] += (uint64_t)(v * 2);
    (void)ctx;
    return 0;
}

static void test_dataset (loom_comm_t *comm)
{
    char path[300], out[300];
    snprintf (path, sizeof (path), "%s/chain.txt", dir);
    snprintf (out, sizeof (out), "%s/sums", dir);
    loom_error_t err;
    struct loom_mr_params mp = LOOM_MR_PARAMS_INIT;
    mp.flags = LOOM_MR_FORCE;
    loom_mr_t *mr = loom_mr_create (comm, &mp, &err);
    const char *paths[] = {path};
    struct loom_mr_step s = LOOM_MR_STEP_INIT;
    s.paths = paths;
    s.npaths = 1;
    s.map = map_num;
    s.key_width = 8;
    s.value_width = 8;
    s.combine = LOOM_COMBINE_SUM_F64;
    s.partitions = 3;
    s.output = LOOM_MR_OUTPUT_DATASET;
    s.output_path = out;
    s.schema = "k:u64,sum:f64";
    CHECK (loom_mr_run (mr, &s, NULL, NULL, &err) == 0, "dataset out: %s", err.text);
    uint64_t seen[2] = {0, 0};
    const char *in[] = {out};
    struct loom_mr_step s2 = LOOM_MR_STEP_INIT;
    s2.input = LOOM_MR_INPUT_DATASET;
    s2.paths = in;
    s2.npaths = 1;
    s2.map = map_ds;
    s2.map_arg = seen;
    CHECK (loom_mr_run (mr, &s2, NULL, NULL, &err) == 0, "dataset in: %s", err.text);
    loom_comm_allreduce_u64 (comm, seen, 2, LOOM_OP_SUM, NULL);
    /* 1000 lines; first words k(8l mod 50): 25 distinct keys; 0.5 per line. */
    CHECK (seen[0] == 25, "%llu rows", (unsigned long long)seen[0]);
    CHECK (seen[1] == 1000, "sum of values x2 = %llu", (unsigned long long)seen[1]);
    loom_mr_destroy (mr);
}

/* Word counts of one text file, kept in memory. */
static loom_mr_data_t *count_words (loom_mr_t *mr, const char *path)
{
    const char *paths[] = {path};
    struct loom_mr_step s = LOOM_MR_STEP_INIT;
    s.paths = paths;
    s.npaths = 1;
    s.map = map_words;
    s.combine = LOOM_COMBINE_SUM_U64;
    s.value_width = 8;
    loom_mr_data_t *d = NULL;
    loom_error_t err;
    CHECK (loom_mr_run (mr, &s, &d, NULL, &err) == 0, "count: %s", err.text);
    return d;
}

/* The join step on in-memory data of earlier steps: 50 words counted 160 times
 * joined with 30 of them counted 80 times, every kind; then a dataset output.
 */
static void test_join_step (loom_comm_t *comm)
{
    char a[300], b[300], out[300];
    snprintf (a, sizeof (a), "%s/chain.txt", dir);
    snprintf (b, sizeof (b), "%s/join30.txt", dir);
    snprintf (out, sizeof (out), "%s/joined", dir);
    write_input (b, 300, 30); /* 2400 words, k0..k29, 80 each */
    loom_error_t err;
    struct loom_mr_params mp = LOOM_MR_PARAMS_INIT;
    mp.flags = LOOM_MR_FORCE;
    loom_mr_t *mr = loom_mr_create (comm, &mp, &err);
    loom_mr_data_t *l = count_words (mr, a), *r = count_words (mr, b);
    static const uint64_t want_rows[] = {30, 50, 30, 20};
    for (int kind = 0; kind <= LOOM_JOIN_ANTI; kind++) {
        struct loom_mr_join_step js = LOOM_MR_JOIN_STEP_INIT;
        js.left_input = js.right_input = LOOM_MR_INPUT_DATA;
        js.left_data = l;
        js.right_data = r;
        js.left_value_width = js.right_value_width = 8;
        js.kind = kind;
        js.strategy = kind == 1 ? LOOM_JOIN_HYBRID : LOOM_JOIN_AUTO;
        loom_mr_data_t *res = NULL;
        struct loom_mr_stats st;
        CHECK (loom_mr_join (mr, &js, &res, &st, &err) == 0, "join kind %d: %s", kind,
               err.text);
        CHECK (loom_mr_data_total_records (res) == want_rows[kind],
               "kind %d: %llu rows", kind,
               (unsigned long long)loom_mr_data_total_records (res));
        CHECK (st.total_input_records == 80, "kind %d: %llu tuples in", kind,
               (unsigned long long)st.total_input_records);
        uint64_t pos = 0;
        struct loom_record rec;
        while (loom_mr_data_next (res, &pos, &rec)) {
            uint64_t lv, rv = 0;
            int32_t m = 1;
            int n = 0; /* the key is "k<n>", not NUL-terminated */
            for (size_t i = 1; i < rec.key_len; i++)
                n = n * 10 + (((const char *)rec.key)[i] - '0');
            memcpy (&lv, rec.value, 8);
            if (kind <= 1)
                memcpy (&rv, (const char *)rec.value + 8, 8);
            if (kind == 1)
                memcpy (&m, (const char *)rec.value + 16, 4);
            CHECK (lv == 160, "left value %llu", (unsigned long long)lv);
            if (kind == 0 || (kind == 1 && m))
                CHECK (rv == 80 && n < 30, "k%d: right value %llu", n,
                       (unsigned long long)rv);
            if (kind == 1 && !m)
                CHECK (rv == 0 && n >= 30, "k%d: unmatched right %llu", n,
                       (unsigned long long)rv);
            if (kind == 2)
                CHECK (n < 30 && rec.value_len == 8, "semi k%d", n);
            if (kind == 3)
                CHECK (n >= 30 && rec.value_len == 8, "anti k%d", n);
        }
        loom_mr_data_destroy (res);
    }
    /* Dataset output needs a schema for in-memory inputs; then it commits. */
    struct loom_mr_join_step js = LOOM_MR_JOIN_STEP_INIT;
    js.left_input = js.right_input = LOOM_MR_INPUT_DATA;
    js.left_data = l;
    js.right_data = r;
    js.left_value_width = js.right_value_width = 8;
    js.output = LOOM_MR_OUTPUT_DATASET;
    js.output_path = out;
    CHECK (loom_mr_join (mr, &js, NULL, NULL, &err) < 0 && errno == EINVAL,
           "dataset output without schema: errno %d", errno);
    js.schema = "word:bytes,n:u64,n2:u64";
    CHECK (loom_mr_join (mr, &js, NULL, NULL, &err) == 0, "dataset out: %s", err.text);
    loom_ds_t *ds = loom_ds_open (MPI_COMM_WORLD, out, NULL, &err);
    CHECK (ds && loom_ds_records (ds) == 30, "joined dataset: %s",
           ds ? "wrong count" : err.text);
    loom_ds_close (ds);
    loom_mr_data_destroy (l);
    loom_mr_data_destroy (r);
    loom_mr_destroy (mr);
}

static int map_fail_last (loom_mr_ctx_t *ctx, const struct loom_record *rec, void *arg)
{
    (void)rec;
    (void)arg;
    if (loom_mr_ctx_rank (ctx) == loom_mr_ctx_size (ctx) - 1)
        return loom_mr_fail (ctx, EPROTO, "rank %d says no", loom_mr_ctx_rank (ctx));
    static const uint64_t one = 1;
    return loom_mr_emit (ctx, "x", 1, &one, 8);
}

static void test_errors (loom_comm_t *comm)
{
    char path[300];
    snprintf (path, sizeof (path), "%s/chain.txt", dir);
    const char *paths[] = {path};
    loom_error_t err;
    struct loom_mr_params bad = LOOM_MR_PARAMS_INIT;
    bad.mem_bytes = 1000;
    errno = 0;
    CHECK (loom_mr_create (comm, &bad, &err) == NULL && errno == EINVAL, "tiny budget");
    CHECK (loom_mr_create (NULL, NULL, &err) == NULL && errno == EINVAL, "NULL comm");
    loom_mr_destroy (NULL);
    loom_mr_data_destroy (NULL);

    loom_mr_t *mr = loom_mr_create (comm, NULL, &err);
    struct loom_mr_step s = LOOM_MR_STEP_INIT;
    s.paths = paths;
    s.npaths = 1;
    s.combine = LOOM_COMBINE_SUM_U64; /* without a value width */
    errno = 0;
    CHECK (loom_mr_run (mr, &s, NULL, NULL, &err) < 0 && errno == EINVAL, "combine");
    CHECK (strstr (err.text, "fixed value_width") != NULL, "message '%s'", err.text);

    s = (struct loom_mr_step)LOOM_MR_STEP_INIT;
    s.paths = paths;
    s.npaths = 1;
    s.map = map_words;
    s.shuffle = true;
    s.key_width = 3; /* words are longer */
    errno = 0;
    CHECK (loom_mr_run (mr, &s, NULL, NULL, &err) < 0 && errno == EINVAL, "width");
    CHECK (strstr (err.text, "key_width 3") != NULL, "message '%s'", err.text);

    s = (struct loom_mr_step)LOOM_MR_STEP_INIT;
    s.paths = paths;
    s.npaths = 1;
    s.map = map_fail_last;
    s.combine = LOOM_COMBINE_SUM_U64;
    s.value_width = 8;
    errno = 0;
    int rc = loom_mr_run (mr, &s, NULL, NULL, &err);
    char want[64];
    snprintf (want, sizeof (want), "rank %d says no", size - 1);
    CHECK (rc < 0 && errno == EPROTO, "failing map: rc %d errno %d", rc, errno);
    CHECK (strcmp (err.text, want) == 0, "every rank reports '%s', got '%s'", want,
           err.text);

    const char *missing[] = {"/nonexistent/input"};
    s = (struct loom_mr_step)LOOM_MR_STEP_INIT;
    s.paths = missing;
    s.npaths = 1;
    errno = 0;
    CHECK (loom_mr_run (mr, &s, NULL, NULL, &err) < 0 && errno == ENOENT,
           "missing input");
    loom_mr_destroy (mr);
}

int main (int argc, char **argv)
{
    MPI_Init (&argc, &argv);
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    if (rank == 0) {
        snprintf (dir, sizeof (dir), "%s/loom-test-mr-XXXXXX",
                  getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp");
        if (!mkdtemp (dir))
            MPI_Abort (MPI_COMM_WORLD, 2);
    }
    MPI_Bcast (dir, sizeof (dir), MPI_CHAR, 0, MPI_COMM_WORLD);
    loom_error_t err;
    loom_comm_t *comm = loom_comm_create (MPI_COMM_WORLD, NULL, &err);
    test_chain (comm);
    test_spill (comm);
    test_dataset (comm);
    test_join_step (comm);
    test_errors (comm);
    loom_comm_destroy (comm);
    int all = 0;
    MPI_Allreduce (&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) {
        char cmd[400];
        snprintf (cmd, sizeof (cmd), "rm -rf '%s'", dir);
        if (system (cmd) != 0)
            fprintf (stderr, "cannot remove %s\n", dir);
        printf ("test_mr: %s (%d failures)\n", all ? "FAILED" : "ok", all);
    }
    MPI_Finalize ();
    return all ? 1 : 0;
}
