/* SPDX-License-Identifier: MIT */
/* Combined shuffles equal the reference: word-count-like keys with skew, summed (and
 * min/max/f64/callback) by the combiner, compared key by key with counts every rank
 * computes itself from the same deterministic input. Also with a budget so small
 * that the receive-side table spills as runs, with deterministic order, and with the
 * receive callback.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <loom/comm.h>
#include <loom/hash.h>

#include "mpitest.h"

#define NKEYS 50000 /* at most */

static unsigned nkeys = 3000; /* key space of the current run */

static int rank, size;
static loom_comm_t *comm;

/* Skewed key index: small indexes are far more frequent (roughly Zipf). */
static unsigned key_index (uint64_t i, int r)
{
    uint64_t x = (i * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)r << 32);
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 32;
    double u = (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
    return (unsigned)(nkeys * u * u * u);
}

static size_t key_text (unsigned k, char *buf)
{
    return (size_t)snprintf (buf, 32, "word%u", k);
}

static uint64_t nput (int r)
{
    return 20000 + (uint64_t)r * 1000;
}

static uint64_t value_of (uint64_t i, int r)
{
    return (i % 13) + (uint64_t)r;
}

static void max_fn (void *acc, const void *val, size_t w, void *arg)
{
    uint64_t a, b;
    memcpy (&a, acc, 8);
    memcpy (&b, val, 8);
    if (b > a)
        memcpy (acc, &b, 8);
    (*(int *)arg)++;
}

struct want {
    bool present[NKEYS];
    uint64_t u[NKEYS];
    double f[NKEYS];
};

static void reference (loom_combine_kind_t kind, struct want *w)
{
    memset (w, 0, sizeof (*w));
    char key[32];
    for (int r = 0; r < size; r++) {
        for (uint64_t i = 0; i < nput (r); i++) {
            unsigned k = key_index (i, r);
            size_t kl = key_text (k, key);
            if ((int)loom_hash_partition (key, kl, 5, (uint32_t)size) != rank)
                continue;
            uint64_t v = value_of (i, r);
            if (!w->present[k]) {
                w->present[k] = true;
                w->u[k] = v;
                w->f[k] = (double)v * 0.5;
                continue;
            }
            switch (kind) {
            case LOOM_COMBINE_SUM_U64:
                w->u[k] += v;
                break;
            case LOOM_COMBINE_MIN_U64:
                w->u[k] = v < w->u[k] ? v : w->u[k];
                break;
            case LOOM_COMBINE_SUM_F64:
                w->f[k] += (double)v * 0.5;
                break;
            default: /* MAX and the max callback */
                w->u[k] = v > w->u[k] ? v : w->u[k];
                break;
            }
        }
    }
}

struct got {
    struct want *w;
    loom_combine_kind_t kind;
    bool seen[NKEYS];
    int dup, wrong, unknown;
    uint64_t n;
};

static void check_rec (struct got *g, const struct loom_record *rec)
{
    char key[32];
    unsigned k;
    if (rec->key_len >= sizeof (key) || rec->value_len != 8) {
        g->unknown++;
        return;
    }
    memcpy (key, rec->key, rec->key_len);
    key[rec->key_len] = '\0';
    if (sscanf (key, "word%u", &k) != 1 || k >= NKEYS || !g->w->present[k]) {
        g->unknown++;
        return;
    }
    if (g->seen[k])
        g->dup++;
    g->seen[k] = true;
    g->n++;
    if (g->kind == LOOM_COMBINE_SUM_F64) {
        double d;
        memcpy (&d, rec->value, 8);
        /* Values are multiples of 0.5 well below 2^52: sums are exact. */
        if (d != g->w->f[k])
            g->wrong++;
    } else {
        uint64_t u;
        memcpy (&u, rec->value, 8);
        if (u != g->w->u[k])
            g->wrong++;
    }
}

static int cb (const struct loom_batch *b, void *arg)
{
    struct loom_record rec;
    uint64_t pos = 0;
    if (b->source != -1)
        return -1;
    while (loom_batch_next (b, &pos, &rec) == 1)
        check_rec (arg, &rec);
    return 0;
}

static void run (const char *name,
                 loom_combine_kind_t kind,
                 uint64_t mem,
                 unsigned flags,
                 bool callback,
                 const char *tmpdir)
{
    static struct want w;
    reference (kind, &w);
    int calls = 0;
    struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
    p.value_width = 8;
    p.hash_seed = 5;
    p.combine = kind;
    if (kind == LOOM_COMBINE_CALLBACK) {
        p.combine_fn = max_fn;
        p.combine_arg = &calls;
    }
    p.mem_bytes = mem;
    p.flags = flags;
    p.tmpdir = tmpdir;
    loom_error_t err = {{0}};
    loom_shuffle_t *sh = loom_shuffle_create (comm, &p, &err);
    if (!sh)
        fprintf (stderr, "[rank %d] %s: %s\n", rank, name, err.text);
    MT_REQUIRE (sh != NULL);
    struct got g = {.w = &w, .kind = kind};
    if (callback)
        MT_EQ (loom_shuffle_set_recv (sh, cb, &g), 0);
    char key[32];
    for (uint64_t i = 0; i < nput (rank); i++) {
        size_t kl = key_text (key_index (i, rank), key);
        uint64_t v = value_of (i, rank);
        if (kind == LOOM_COMBINE_SUM_F64) {
            double d = (double)v * 0.5;
            memcpy (&v, &d, 8);
        }
        MT_REQUIRE (loom_shuffle_put (sh, key, kl, &v, 8, &err) == 0);
    }
    if (loom_shuffle_finish (sh, &err) != 0)
        fprintf (stderr, "[rank %d] %s: finish: %s\n", rank, name, err.text);
    if (!callback) {
        struct loom_record rec;
        while (loom_shuffle_next (sh, &rec, &err) == 1)
            check_rec (&g, &rec);
    }
    uint64_t nk = 0;
    for (int k = 0; k < NKEYS; k++)
        nk += w.present[k];
    if (g.n != nk || g.dup || g.wrong || g.unknown)
        fprintf (stderr, "[rank %d] %s: %llu keys (want %llu), %d dup, %d wrong\n",
                 rank, name, (unsigned long long)g.n, (unsigned long long)nk, g.dup,
                 g.wrong);
    MT_EQ (g.n, nk);
    MT_EQ (g.dup, 0);
    MT_EQ (g.wrong, 0);
    MT_EQ (g.unknown, 0);
    struct loom_shuffle_stats st;
    loom_shuffle_stats (sh, &st);
    MT_EQ (st.records_delivered, nk);
    /* The send-side combiner shrank what crossed: at most one record per key and
     * round and destination, far fewer than were put.
     */
    if (mem >= (1 << 20))
        MT_CHECK (st.records_sent * 4 < st.records_put);
    if (kind == LOOM_COMBINE_CALLBACK)
        MT_CHECK (calls > 0);
    if (mem < (1 << 20))
        MT_CHECK (st.spill_recv_bytes > 0);
    loom_shuffle_destroy (sh);
}

static void bad_params (void)
{
    loom_error_t err = {{0}};
    struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
    p.combine = LOOM_COMBINE_SUM_U64; /* variable value width */
    errno = 0;
    MT_CHECK (loom_shuffle_create (comm, &p, &err) == NULL);
    MT_EQ (errno, EINVAL);
    MT_CHECK (strstr (err.text, "value_width") != NULL);
    p.value_width = 4;
    MT_CHECK (loom_shuffle_create (comm, &p, &err) == NULL);
    MT_CHECK (strstr (err.text, "value_width 8") != NULL);
    p.value_width = 8;
    p.combine = LOOM_COMBINE_CALLBACK;
    MT_CHECK (loom_shuffle_create (comm, &p, &err) == NULL);
    MT_CHECK (strstr (err.text, "combine_fn") != NULL);
    p.combine = (loom_combine_kind_t)99;
    MT_CHECK (loom_shuffle_create (comm, &p, &err) == NULL);
    MT_CHECK (strstr (err.text, "unknown") != NULL);
}

int main (int argc, char **argv)
{
    mt_init (&argc, &argv);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    rank = mt_rank;
    comm = loom_comm_create (MPI_COMM_WORLD, NULL, NULL);
    MT_REQUIRE (comm != NULL);
    char dir[] = "/tmp/loom-test-combine-XXXXXX";
    MT_REQUIRE (mkdtemp (dir) != NULL);
    run ("sum", LOOM_COMBINE_SUM_U64, 64 << 20, 0, false, dir);
    run ("sum, callback", LOOM_COMBINE_SUM_U64, 64 << 20, 0, true, dir);
    run ("min", LOOM_COMBINE_MIN_U64, 64 << 20, 0, false, dir);
    run ("max", LOOM_COMBINE_MAX_U64, 64 << 20, LOOM_SHUFFLE_DETERMINISTIC, false, dir);
    run ("sum f64", LOOM_COMBINE_SUM_F64, 64 << 20, LOOM_SHUFFLE_NO_SELF_SHORTCUT,
         false, dir);
    run ("user max", LOOM_COMBINE_CALLBACK, 64 << 20, 0, false, dir);
    /* 64 KiB: the receive table (thousands of keys) outgrows it and spills runs. */
    nkeys = 50000;
    run ("sum, spilled runs", LOOM_COMBINE_SUM_U64, 64 << 10, 0, false, dir);
    run ("sum, spilled, deterministic", LOOM_COMBINE_SUM_U64, 64 << 10,
         LOOM_SHUFFLE_DETERMINISTIC, false, dir);
    run ("sum, spilled, callback", LOOM_COMBINE_SUM_U64, 64 << 10, 0, true, dir);
    MT_EQ (rmdir (dir), 0); /* fails unless the spill files are gone */
    bad_params ();
    loom_comm_destroy (comm);
    return mt_finish ("test_combine");
}
