/* SPDX-License-Identifier: MIT */
/* The distributed join returns exactly the multiset of tuples that SQLite returns for
 * the same relations and join kind.
 *
 * Every rank generates its share of both relations from (side, rank, index) with a
 * deterministic PRNG; rank 0 regenerates all shares into an in-memory SQLite
 * database, runs the equivalent SQL (JOIN, LEFT JOIN, EXISTS, NOT EXISTS), gathers
 * the tuples the join emitted on all ranks and compares the sorted lists. Cases:
 * uniform keys, Zipf(1.0) keys, duplicate-heavy keys on both sides, either side
 * empty, keys absent from the other side, a tiny side (auto must broadcast), and a
 * broadcast limit of 1 byte (auto must repartition); every kind under auto,
 * repartition and broadcast; fixed and variable widths. Bad parameters too.
 */
#include <dirent.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/join.h>

#include "mpitest.h"

static int rank, size;
static loom_comm_t *comm;

static uint64_t mix (uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb3fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* HOT: half the tuples have the key 'offset', the rest are uniform. */
enum dist { UNIFORM, ZIPF, DUPS, HOT };

struct side_gen {
    uint64_t total; /* tuples over all ranks */
    enum dist dist;
    uint64_t keys;   /* key space [offset, offset + keys) */
    uint64_t offset; /* shifts the keys: absent keys on the other side */
};

struct jcase {
    const char *name;
    struct side_gen side[2];
};

static double *zipf_cdf;
static uint64_t zipf_n;

/* CDF of Zipf(1.0) over n keys (rank k has weight 1/k). */
static void zipf_init (uint64_t n)
{
    if (zipf_n == n)
        return;
    free (zipf_cdf);
    zipf_cdf = malloc (n * sizeof (*zipf_cdf));
    MT_REQUIRE (zipf_cdf);
    double s = 0;
    for (uint64_t k = 0; k < n; k++)
        zipf_cdf[k] = (s += 1.0 / (double)(k + 1));
    for (uint64_t k = 0; k < n; k++)
        zipf_cdf[k] /= s;
    zipf_n = n;
}

static uint64_t share (const struct side_gen *g, int r)
{
    return g->total / (uint64_t)size + (r == size - 1 ? g->total % (uint64_t)size : 0);
}

/* Tuple i of side s on rank r: a key, and a value unique over the whole relation. */
static void
gen (const struct side_gen *g, int s, int r, uint64_t i, uint64_t *k, uint64_t *v)
{
    uint64_t x = mix (((uint64_t)s << 60) ^ ((uint64_t)r << 40) ^ i ^ 0xa11ce);
    switch (g->dist) {
    case ZIPF: {
        zipf_init (g->keys);
        double u = (double)(x >> 11) * 0x1.0p-53;
        uint64_t lo = 0, hi = g->keys - 1;
        while (lo < hi) {
            uint64_t mid = (lo + hi) / 2;
            if (zipf_cdf[mid] < u)
                lo = mid + 1;
            else
                hi = mid;
        }
        /* Scatter the ranks over the key space so hot keys hash anywhere. */
        *k = g->offset + mix (lo + 77) % (g->keys * 16);
        break;
    }
    case HOT:
        *k = g->offset + ((x >> 7) % 2 ? 0 : x % g->keys);
        break;
    case UNIFORM:
    case DUPS:
        *k = g->offset + x % g->keys;
        break;
    }
    *v = ((uint64_t)s << 62) | ((uint64_t)r << 40) | i;
}

struct row {
    uint64_t k, l, r, has_r;
};

struct rows {
    struct row *v;
    size_t n, cap;
};

static void rows_add (struct rows *rs, uint64_t k, uint64_t l, uint64_t r, uint64_t has)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 1024;
        rs->v = realloc (rs->v, rs->cap * sizeof (*rs->v));
        MT_REQUIRE (rs->v);
    }
    rs->v[rs->n++] = (struct row){k, l, r, has};
}

static int emit (const void *key,
                 size_t klen,
                 const void *left,
                 size_t llen,
                 const void *right,
                 size_t rlen,
                 void *arg)
{
    uint64_t k, l, r = 0;
    if (klen != 8 || llen != 8 || (right && rlen != 8)) {
        errno = EPROTO;
        return -1;
    }
    memcpy (&k, key, 8);
    memcpy (&l, left, 8);
    if (right)
        memcpy (&r, right, 8);
    rows_add (arg, k, l, r, right != NULL);
    return 0;
}

static int row_cmp (const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->k != y->k)
        return x->k < y->k ? -1 : 1;
    if (x->l != y->l)
        return x->l < y->l ? -1 : 1;
    if (x->has_r != y->has_r)
        return x->has_r < y->has_r ? -1 : 1;
    if (x->r != y->r)
        return x->r < y->r ? -1 : 1;
    return 0;
}

/* Rank 0: the oracle's rows for 'kind' over the relations of 'c'. */
static void oracle (const struct jcase *c, loom_join_kind_t kind, struct rows *out)
{
    sqlite3 *db;
    MT_REQUIRE (sqlite3_open (":memory:", &db) == SQLITE_OK);
    MT_REQUIRE (sqlite3_exec (db,
                              "CREATE TABLE l (k INTEGER, v INTEGER);"
                              "CREATE TABLE r (k INTEGER, v INTEGER);"
                              "BEGIN",
                              NULL, NULL, NULL)
                == SQLITE_OK);
    for (int s = 0; s < 2; s++) {
        sqlite3_stmt *st;
        MT_REQUIRE (sqlite3_prepare_v2 (db,
                                        s ? "INSERT INTO r VALUES (?, ?)"
                                          : "INSERT INTO l VALUES (?, ?)",
                                        -1, &st, NULL)
                    == SQLITE_OK);
        for (int r = 0; r < size; r++)
            for (uint64_t i = 0; i < share (&c->side[s], r); i++) {
                uint64_t k, v;
                gen (&c->side[s], s, r, i, &k, &v);
                sqlite3_bind_int64 (st, 1, (sqlite3_int64)k);
                sqlite3_bind_int64 (st, 2, (sqlite3_int64)v);
                MT_REQUIRE (sqlite3_step (st) == SQLITE_DONE);
                sqlite3_reset (st);
            }
        sqlite3_finalize (st);
    }
    MT_REQUIRE (sqlite3_exec (db, "COMMIT; CREATE INDEX rk ON r (k)", NULL, NULL, NULL)
                == SQLITE_OK);
    static const char *sql[] = {
        [LOOM_JOIN_INNER] = "SELECT l.k, l.v, r.v FROM l JOIN r ON l.k = r.k",
        [LOOM_JOIN_LEFT_OUTER] = "SELECT l.k, l.v, r.v FROM l LEFT JOIN r ON l.k = r.k",
        [LOOM_JOIN_SEMI] = "SELECT k, v, NULL FROM l WHERE EXISTS "
                           "(SELECT 1 FROM r WHERE r.k = l.k)",
        [LOOM_JOIN_ANTI] = "SELECT k, v, NULL FROM l WHERE NOT EXISTS "
                           "(SELECT 1 FROM r WHERE r.k = l.k)",
    };
    sqlite3_stmt *q;
    MT_REQUIRE (sqlite3_prepare_v2 (db, sql[kind], -1, &q, NULL) == SQLITE_OK);
    int rc;
    while ((rc = sqlite3_step (q)) == SQLITE_ROW) {
        int has = sqlite3_column_type (q, 2) != SQLITE_NULL;
        rows_add (out, (uint64_t)sqlite3_column_int64 (q, 0),
                  (uint64_t)sqlite3_column_int64 (q, 1),
                  has ? (uint64_t)sqlite3_column_int64 (q, 2) : 0, (uint64_t)has);
    }
    MT_REQUIRE (rc == SQLITE_DONE);
    sqlite3_finalize (q);
    sqlite3_close (db);
}

/* Gather every rank's rows on rank 0 (others get an empty list). */
static void gather (struct rows *mine, struct rows *all)
{
    int n = (int)(mine->n * 4), *cnt = NULL, *disp = NULL, total = 0;
    if (rank == 0) {
        cnt = calloc ((size_t)size, sizeof (int));
        disp = calloc ((size_t)size, sizeof (int));
        MT_REQUIRE (cnt && disp);
    }
    MPI_Gather (&n, 1, MPI_INT, cnt, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        for (int r = 0; r < size; r++) {
            disp[r] = total;
            total += cnt[r];
        }
        all->v = malloc ((size_t)(total ? total : 4) * sizeof (uint64_t));
        MT_REQUIRE (all->v);
        all->n = all->cap = (size_t)total / 4;
    }
    MPI_Gatherv (mine->v, n, MPI_UINT64_T, all ? all->v : NULL, cnt, disp, MPI_UINT64_T,
                 0, MPI_COMM_WORLD);
    free (cnt);
    free (disp);
}

static const char *kind_name[] = {"inner", "left outer", "semi", "anti"};

/* Options of the next run_case(): a small budget and its spill directory, output
 * through a shuffle (loom_join_run_shuffle) instead of the callback.
 */
static uint64_t opt_mem;
static const char *opt_tmpdir;
static bool opt_via_shuffle;
static struct loom_join_stats last_stats;

/* Rank 0: the oracle's rows of the last case and kind run (sorted). */
static const struct jcase *ocase;
static int okind = -1;
static struct rows owant;

/* Run the join with its results put into a shuffle, and read them back as rows. */
static int run_via_shuffle (loom_join_t *j,
                            const struct loom_join_params *p,
                            struct rows *mine,
                            loom_error_t *err)
{
    struct loom_shuffle_params sp = LOOM_SHUFFLE_PARAMS_INIT;
    sp.key_width = 8;
    sp.value_width = loom_join_result_width (p);
    sp.timeout_sec = 60;
    loom_shuffle_t *out = loom_shuffle_create (comm, &sp, err);
    MT_REQUIRE (out);
    int rc = loom_join_run_shuffle (j, out, err);
    MT_REQUIRE (rc == 0 && loom_shuffle_finish (out, err) == 0);
    struct loom_record rec;
    while ((rc = loom_shuffle_next (out, &rec, err)) == 1) {
        uint64_t k, l, r = 0;
        int32_t m = p->kind == LOOM_JOIN_INNER;
        MT_EQ (rec.value_len, sp.value_width);
        memcpy (&k, rec.key, 8);
        memcpy (&l, rec.value, 8);
        if (p->kind == LOOM_JOIN_INNER || p->kind == LOOM_JOIN_LEFT_OUTER)
            memcpy (&r, (const char *)rec.value + 8, 8);
        if (p->kind == LOOM_JOIN_LEFT_OUTER)
            memcpy (&m, (const char *)rec.value + 16, 4);
        if (!m)
            MT_EQ (r, 0); /* zero-filled when unmatched */
        rows_add (mine, k, l, m ? r : 0, (uint64_t)m);
    }
    MT_EQ (rc, 0);
    loom_shuffle_destroy (out);
    return 0;
}

/* Run one join and compare with the oracle. Returns the strategy used. */
static loom_join_strategy_t run_case (const struct jcase *c,
                                      loom_join_kind_t kind,
                                      loom_join_strategy_t strat,
                                      bool varlen,
                                      uint64_t bcast_max)
{
    struct loom_join_params p = LOOM_JOIN_PARAMS_INIT;
    p.kind = kind;
    p.strategy = strat;
    p.broadcast_max_bytes = bcast_max;
    p.hash_seed = 42;
    p.timeout_sec = 60;
    if (opt_mem)
        p.mem_bytes = opt_mem;
    p.tmpdir = opt_tmpdir;
    if (!varlen)
        p.key_width = p.left_value_width = p.right_value_width = 8;
    loom_error_t err = {0};
    loom_join_t *j = loom_join_create (comm, &p, &err);
    MT_REQUIRE (j);
    for (int s = 0; s < 2; s++) {
        /* Fixed widths: the right side goes in packed, through the fast path. */
        bool packed = !varlen && s == 1;
        uint64_t n = share (&c->side[s], rank), *buf = NULL;
        if (packed) {
            buf = malloc ((n + 1) * 16);
            MT_REQUIRE (buf);
        }
        for (uint64_t i = 0; i < n; i++) {
            uint64_t k, v;
            gen (&c->side[s], s, rank, i, &k, &v);
            if (packed) {
                buf[2 * i] = k;
                buf[2 * i + 1] = v;
                continue;
            }
            int rc = s ? loom_join_put_right (j, &k, 8, &v, 8, &err)
                       : loom_join_put_left (j, &k, 8, &v, 8, &err);
            MT_EQ (rc, 0);
        }
        if (packed) {
            MT_EQ (loom_join_put_fixed_right (j, buf, n, &err), 0);
            free (buf);
        }
    }
    struct rows mine = {0}, got = {0}, want = {0};
    int rc = 0;
    if (opt_via_shuffle)
        run_via_shuffle (j, &p, &mine, &err);
    else
        rc = loom_join_run (j, emit, &mine, &err);
    if (rc != 0)
        fprintf (stderr, "[rank %d] %s: %s\n", rank, c->name, err.text);
    MT_EQ (rc, 0);
    struct loom_join_stats st;
    loom_join_stats (j, &st);
    last_stats = st;
    if (!opt_via_shuffle)
        MT_EQ (st.results, mine.n);
    MT_EQ (st.left_total, c->side[0].total);
    MT_EQ (st.right_total, c->side[1].total);
    if (strat != LOOM_JOIN_AUTO)
        MT_EQ (st.strategy, strat);
    loom_join_destroy (j);
    gather (&mine, &got);
    if (rank == 0) {
        /* The oracle's rows depend on the relations and the kind only: consecutive
         * runs of the same case and kind (other strategies) reuse them.
         */
        if (ocase != c || okind != (int)kind) {
            free (owant.v);
            owant = (struct rows){0};
            oracle (c, kind, &owant);
            if (owant.n)
                qsort (owant.v, owant.n, sizeof (*owant.v), row_cmp);
            ocase = c;
            okind = (int)kind;
        }
        want.n = want.cap = owant.n;
        want.v = malloc ((owant.n ? owant.n : 1) * sizeof (*want.v));
        MT_REQUIRE (want.v);
        if (owant.n)
            memcpy (want.v, owant.v, owant.n * sizeof (*want.v));
        /* qsort's array may not be NULL, even with no rows (UBSan says so). */
        if (got.n)
            qsort (got.v, got.n, sizeof (*got.v), row_cmp);
        size_t bad = got.n == want.n ? 0 : 1;
        for (size_t i = 0; !bad && i < got.n; i++)
            bad += row_cmp (&got.v[i], &want.v[i]) != 0;
        if (bad)
            fprintf (stderr, "%s, %s, %s%s: %zu rows, SQLite %zu rows, rows differ\n",
                     c->name, kind_name[kind], loom_join_strategy_name (strat),
                     varlen ? ", varlen" : "", got.n, want.n);
        MT_EQ (bad, 0);
    }
    free (mine.v);
    free (got.v);
    free (want.v);
    return st.strategy;
}

static void test_badparams (void)
{
    struct loom_join_params p = LOOM_JOIN_PARAMS_INIT;
    loom_error_t err = {0};
    p.kind = 9;
    errno = 0;
    MT_CHECK (loom_join_create (comm, &p, &err) == NULL && errno == EINVAL);
    p = (struct loom_join_params)LOOM_JOIN_PARAMS_INIT;
    p.strategy = 7;
    MT_CHECK (loom_join_create (comm, &p, &err) == NULL && errno == EINVAL);
    MT_CHECK (loom_join_create (NULL, NULL, &err) == NULL && errno == EINVAL);
    p = (struct loom_join_params)LOOM_JOIN_PARAMS_INIT;
    p.key_width = 8;
    loom_join_t *j = loom_join_create (comm, &p, &err);
    MT_REQUIRE (j);
    uint64_t k = 1;
    errno = 0;
    MT_EQ (loom_join_put_left (j, &k, 4, &k, 8, &err), -1);
    MT_EQ (errno, EINVAL);
    MT_CHECK (strstr (err.text, "left") != NULL);
    MT_EQ (loom_join_run (j, NULL, NULL, &err), -1);
    MT_EQ (errno, EINVAL);
    struct rows r = {0};
    MT_EQ (loom_join_run (j, emit, &r, &err), 0); /* both sides empty */
    MT_EQ (r.n, 0);
    MT_EQ (loom_join_run (j, emit, &r, &err), -1);
    MT_EQ (errno, EINVAL);
    MT_EQ (loom_join_put_right (j, &k, 8, &k, 8, &err), -1);
    errno = 1234;
    loom_join_destroy (j);
    MT_EQ (errno, 1234);
    loom_join_destroy (NULL);
    MT_EQ (errno, 1234);
}

/* Files left in 'dir' (which should hold none). */
static int count_files (const char *dir)
{
    DIR *d = opendir (dir);
    MT_REQUIRE (d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir (d)))
        n += strcmp (e->d_name, ".") != 0 && strcmp (e->d_name, "..") != 0;
    closedir (d);
    return n;
}

/* A budget far below the data: the local join spills grace-hash partitions into
 * a private directory, gives SQLite's results, and leaves no file behind.
 */
static void test_spill (void)
{
    char dir[] = "/tmp/loom-test-join-XXXXXX";
    MT_REQUIRE (mkdtemp (dir));
    static const struct jcase big[] = {
        {"spill uniform", {{20000, UNIFORM, 15000, 0}, {15000, UNIFORM, 15000, 0}}},
        {"spill zipf", {{30000, ZIPF, 20000, 0}, {400, ZIPF, 20000, 0}}},
    };
    opt_mem = 256u << 10;
    opt_tmpdir = dir;
    static const loom_join_strategy_t strats[] = {
        LOOM_JOIN_REPARTITION, LOOM_JOIN_BROADCAST, LOOM_JOIN_HYBRID};
    for (size_t c = 0; c < 2; c++)
        for (int kind = 0; kind <= LOOM_JOIN_ANTI; kind++)
            for (size_t s = 0; s < 3; s++) {
                /* Every kind repartitioned; the other strategies on inner and anti. */
                if (s > 0 && kind != LOOM_JOIN_INNER && kind != LOOM_JOIN_ANTI)
                    continue;
                run_case (&big[c], kind, strats[s], kind == 1 && s == 0, 1);
                uint64_t spilled = last_stats.spill_bytes;
                MPI_Allreduce (MPI_IN_PLACE, &spilled, 1, MPI_UINT64_T, MPI_SUM,
                               MPI_COMM_WORLD);
                MT_CHECK (spilled > 0);
                MT_EQ (count_files (dir), 0);
            }
    opt_mem = 0;
    opt_tmpdir = NULL;
    MT_EQ (rmdir (dir), 0);
}

int main (int argc, char **argv)
{
    mt_init (&argc, &argv);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    rank = mt_rank;
    loom_error_t err = {0};
    struct loom_comm_params cp = LOOM_COMM_PARAMS_INIT;
    cp.timeout_sec = 60;
    comm = loom_comm_create (MPI_COMM_WORLD, &cp, &err);
    MT_REQUIRE (comm);

    test_badparams ();

    static const struct jcase cases[] = {
        {"uniform", {{6000, UNIFORM, 8000, 0}, {4000, UNIFORM, 8000, 0}}},
        {"zipf", {{2400, ZIPF, 2000, 0}, {1600, ZIPF, 2000, 0}}},
        {"duplicates", {{1500, DUPS, 20, 0}, {1000, DUPS, 20, 0}}},
        {"left empty", {{0, UNIFORM, 100, 0}, {1000, UNIFORM, 100, 0}}},
        {"right empty", {{1000, UNIFORM, 100, 0}, {0, UNIFORM, 100, 0}}},
        {"absent keys", {{3000, UNIFORM, 4000, 0}, {3000, UNIFORM, 4000, 2000}}},
        {"big right", {{500, UNIFORM, 1000, 0}, {5000, UNIFORM, 1000, 0}}},
        /* Hot keys on the right side (kept there by the hybrid) and on the left. */
        {"zipf right", {{800, ZIPF, 2000, 0}, {4000, ZIPF, 2000, 0}}},
        {"hot left", {{3000, HOT, 1000, 0}, {1000, UNIFORM, 1000, 0}}},
        {"hot right", {{1000, UNIFORM, 1000, 0}, {3000, HOT, 1000, 0}}},
    };
    static const loom_join_strategy_t strats[] = {
        LOOM_JOIN_AUTO, LOOM_JOIN_REPARTITION, LOOM_JOIN_BROADCAST, LOOM_JOIN_HYBRID};
    size_t ncases = sizeof (cases) / sizeof (cases[0]);
    for (size_t c = 0; c < ncases; c++)
        for (int kind = 0; kind <= LOOM_JOIN_ANTI; kind++)
            for (size_t s = 0; s < 4; s++) {
                run_case (&cases[c], kind, strats[s], c % 2 == 1 && s == 1, 0);
                /* The hybrid finds the hot keys wherever they are. */
                if (size > 1 && strats[s] == LOOM_JOIN_HYBRID && c >= ncases - 3)
                    MT_CHECK (last_stats.hot_keys > 0);
            }

    /* Enough tuples for several radix partitions per rank (8192 build tuples each)
     * in the fixed-width paths, with duplicate keys on both sides.
     */
    const struct jcase many = {
        "many partitions", {{20000, UNIFORM, 30000, 0}, {36000, UNIFORM, 30000, 0}}};
    for (int kind = 0; kind <= LOOM_JOIN_ANTI; kind++) {
        run_case (&many, kind, LOOM_JOIN_REPARTITION, false, 0);
        if (kind == LOOM_JOIN_INNER || kind == LOOM_JOIN_LEFT_OUTER)
            run_case (&many, kind, LOOM_JOIN_BROADCAST, false, 0);
    }

    /* Auto: a tiny right side is broadcast; a 1-byte limit forces repartition, or
     * the hybrid when one key holds half the left side.
     */
    const struct jcase tiny = {"tiny right",
                               {{20000, UNIFORM, 5000, 0}, {8, UNIFORM, 5000, 0}}};
    loom_join_strategy_t s =
        run_case (&tiny, LOOM_JOIN_INNER, LOOM_JOIN_AUTO, false, 0);
    if (size > 1)
        MT_EQ (s, LOOM_JOIN_BROADCAST);
    s = run_case (&tiny, LOOM_JOIN_LEFT_OUTER, LOOM_JOIN_AUTO, false, 1);
    if (size > 1)
        MT_EQ (s, LOOM_JOIN_REPARTITION);
    for (int kind = 0; kind <= LOOM_JOIN_ANTI; kind++) {
        s = run_case (&cases[ncases - 2], kind, LOOM_JOIN_AUTO, false, 1);
        if (size > 1)
            MT_EQ (s, LOOM_JOIN_HYBRID);
    }

    /* Results into a shuffle (a record stream), every kind, fixed widths. */
    opt_via_shuffle = true;
    for (int kind = 0; kind <= LOOM_JOIN_ANTI; kind++)
        run_case (&cases[1], kind, LOOM_JOIN_HYBRID, false, 0);
    opt_via_shuffle = false;

    test_spill ();

    free (zipf_cdf);
    free (owant.v);
    loom_comm_destroy (comm);
    return mt_finish ("test_join");
}
