/* SPDX-License-Identifier: MIT */
/* The shuffle delivers every record exactly once, to the rank its partitioner names.
 *
 * Records are generated from (rank, index) by a deterministic PRNG, so every rank can
 * regenerate what every other rank puts and compute, on its own, the multiset of
 * records it must receive: a count and an order-free checksum (sum and xor of xxh64
 * over each record). Received records are checked against it, and each one for its
 * owner. Cases cover empty ranks, all-to-one, zero-length keys and values, records
 * larger than a batch, forced spill on both sides (spill files gone afterwards),
 * chunked messages, the fixed-width fast path, the callback receive, no self
 * shortcut, reset and reuse, and deterministic order.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <loom/comm.h>
#include <loom/hash.h>

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

/* How a case generates records. */
struct gen {
    uint64_t nrec;     /* per rank (rank r puts nrec * (r + 1) / size + skew) */
    bool odd_empty;    /* odd ranks put nothing */
    size_t kmax, vmax; /* lengths drawn in [0, max] unless fixed */
    size_t big_every;  /* every Nth record gets a value of 'big' bytes */
    size_t big;
};

static uint64_t gen_count (const struct gen *g, int r)
{
    if (g->odd_empty && (r & 1))
        return 0;
    return g->nrec + (uint64_t)r * 37;
}

/* Record i of rank r. Key bytes embed (r, i) when long enough, so records differ. */
static void gen_record (const struct gen *g,
                        const struct loom_shuffle_params *p,
                        int r,
                        uint64_t i,
                        char *key,
                        size_t *klen,
                        char *val,
                        size_t *vlen)
{
    uint64_t s = mix (((uint64_t)r << 40) ^ i ^ 0x5eed);
    *klen = p->key_width != LOOM_VARLEN ? p->key_width : (size_t)(s % (g->kmax + 1));
    *vlen = p->value_width != LOOM_VARLEN ? p->value_width
                                          : (size_t)((s >> 16) % (g->vmax + 1));
    if (g->big_every && i % g->big_every == 0 && p->value_width == LOOM_VARLEN)
        *vlen = g->big;
    for (size_t k = 0; k < *klen; k++)
        key[k] = (char)(mix (s + k) & 0xff);
    if (*klen >= 12) {
        uint32_t rr = (uint32_t)r;
        memcpy (key, &rr, 4);
        memcpy (key + 4, &i, 8);
    }
    for (size_t k = 0; k < *vlen; k++)
        val[k] = (char)((s >> (k % 48)) + k);
    if (*vlen >= 12) {
        uint32_t rr = (uint32_t)r;
        memcpy (val, &rr, 4);
        memcpy (val + 4, &i, 8);
    }
}

static uint64_t rec_hash (const void *k, size_t kl, const void *v, size_t vl)
{
    uint64_t h = loom_hash64 (k, kl, 1);
    return mix (h ^ loom_hash64 (v, vl, kl + 7));
}

struct sum {
    uint64_t n, add, xor;
};

static void sum_add (struct sum *s, uint64_t h)
{
    s->n++;
    s->add += h;
    s->xor ^= h;
}

static int owner (const struct loom_shuffle_params *p, const void *k, size_t kl)
{
    if (p->partition == LOOM_PARTITION_HASH)
        return (int)loom_hash_partition (k, kl, p->hash_seed, (uint32_t)size);
    if (p->partition == LOOM_PARTITION_RANGE)
        return loom_splitters_find (p->splitters, k, kl);
    struct loom_record rec = {k, kl, NULL, 0};
    return p->partition_fn (&rec, size, p->partition_arg);
}

static struct sum expected (const struct gen *g, const struct loom_shuffle_params *p)
{
    struct sum s = {0};
    size_t bufsz = g->kmax + g->vmax + g->big + 64;
    char *k = malloc (bufsz), *v = malloc (bufsz);
    for (int r = 0; r < size; r++) {
        for (uint64_t i = 0; i < gen_count (g, r); i++) {
            size_t kl, vl;
            gen_record (g, p, r, i, k, &kl, v, &vl);
            if (owner (p, k, kl) == rank)
                sum_add (&s, rec_hash (k, kl, v, vl));
        }
    }
    free (k);
    free (v);
    return s;
}

enum put_mode { PUT_ONE, PUT_BATCH, PUT_FIXED, PUT_TO };

static int put_all (loom_shuffle_t *sh,
                    const struct gen *g,
                    const struct loom_shuffle_params *p,
                    enum put_mode mode)
{
    loom_error_t err = {{0}};
    size_t bufsz = g->kmax + g->vmax + g->big + 64;
    uint64_t n = gen_count (g, rank);
    int rc = 0;
    if (mode == PUT_FIXED) {
        size_t rs = p->key_width + p->value_width;
        char *data = malloc (rs * (n ? n : 1));
        for (uint64_t i = 0; i < n; i++) {
            size_t kl, vl;
            gen_record (g, p, rank, i, data + i * rs, &kl, data + i * rs + p->key_width,
                        &vl);
        }
        /* In uneven slices, to cross batch boundaries mid-call. */
        for (uint64_t i = 0; i < n && rc == 0;) {
            uint64_t m = 1 + (i % 97);
            if (m > n - i)
                m = n - i;
            rc = loom_shuffle_put_fixed (sh, data + i * rs, m, &err);
            i += m;
        }
        free (data);
    } else if (mode == PUT_BATCH) {
        enum { B = 16 };
        struct loom_record recs[B];
        char *mem = malloc (2 * bufsz * B);
        for (uint64_t i = 0; i < n && rc == 0;) {
            size_t m = 0;
            for (; m < B && i < n; m++, i++) {
                char *k = mem + 2 * bufsz * m, *v = k + bufsz;
                gen_record (g, p, rank, i, k, &recs[m].key_len, v, &recs[m].value_len);
                recs[m].key = k;
                recs[m].value = v;
            }
            rc = loom_shuffle_put_batch (sh, recs, m, &err);
        }
        free (mem);
    } else {
        char *k = malloc (bufsz), *v = malloc (bufsz);
        for (uint64_t i = 0; i < n && rc == 0; i++) {
            size_t kl, vl;
            gen_record (g, p, rank, i, k, &kl, v, &vl);
            if (mode == PUT_TO)
                rc = loom_shuffle_put_to (sh, owner (p, k, kl), k, kl, v, vl, &err);
            else
                rc = loom_shuffle_put (sh, k, kl, v, vl, &err);
        }
        free (k);
        free (v);
    }
    if (rc != 0)
        fprintf (stderr, "[rank %d] put: %s\n", rank, err.text);
    return rc;
}

struct recv_state {
    const struct loom_shuffle_params *p;
    struct sum got;
    int wrong_owner;
    uint64_t order_hash; /* order-sensitive */
    int last_src;
    int order_violations;
};

static void recv_one (struct recv_state *st, const struct loom_record *rec, int src)
{
    sum_add (&st->got, rec_hash (rec->key, rec->key_len, rec->value, rec->value_len));
    if (owner (st->p, rec->key, rec->key_len) != rank)
        st->wrong_owner++;
    st->order_hash = mix (
        st->order_hash ^ rec_hash (rec->key, rec->key_len, rec->value, rec->value_len));
    if (src >= 0) {
        if (src < st->last_src)
            st->order_violations++;
        st->last_src = src;
    }
}

/* Receive everything after finish() and check it is what put_all() of 'g' sent from
 * every rank (count and sums). Returns the state for further checks.
 */
static struct recv_state recv_all_check (loom_shuffle_t *sh,
                                         const struct gen *g,
                                         const struct loom_shuffle_params *p)
{
    loom_error_t err = {{0}};
    struct recv_state rs = {.p = p, .last_src = -1};
    struct loom_record rec;
    while (loom_shuffle_next (sh, &rec, &err) == 1)
        recv_one (&rs, &rec, -1);
    struct sum want = expected (g, p);
    MT_EQ (rs.got.n, want.n);
    MT_CHECK (rs.got.add == want.add && rs.got.xor == want.xor);
    return rs;
}

static int recv_cb (const struct loom_batch *b, void *arg)
{
    struct recv_state *st = arg;
    struct loom_record rec;
    uint64_t pos = 0, n = 0;
    int rc;
    while ((rc = loom_batch_next (b, &pos, &rec)) == 1) {
        recv_one (st, &rec, -1);
        n++;
    }
    if (rc < 0 || n != b->nrecords)
        return -1;
    return 0;
}

/* How run_case() reads what arrived without a callback: record by record, by batch
 * (loom_shuffle_next_batch), or mixed (a few records of each batch through
 * loom_shuffle_next, then the rest of it as a batch).
 */
enum iter_mode { ITER_NEXT, ITER_BATCH, ITER_MIXED };
static enum iter_mode iter_mode = ITER_NEXT;

/* Read every record by batch (or mixed); checks each batch's record count and
 * layout. Returns 0 at the end, -1 on an error.
 */
static int recv_batches (loom_shuffle_t *sh, struct recv_state *st, loom_error_t *err)
{
    int rc;
    for (uint64_t nb = 0;; nb++) {
        if (iter_mode == ITER_MIXED) {
            /* 0, 1 or 2 records one by one before taking the rest as a batch. */
            struct loom_record rec;
            for (uint64_t i = 0; i < nb % 3; i++) {
                rc = loom_shuffle_next (sh, &rec, err);
                if (rc <= 0)
                    return rc;
                recv_one (st, &rec, -1);
            }
        }
        struct loom_batch b;
        rc = loom_shuffle_next_batch (sh, &b, err);
        if (rc <= 0)
            return rc;
        MT_CHECK (b.nrecords > 0);
        MT_CHECK (b.source >= -1 && b.source < size);
        MT_EQ (b.key_width, st->p->key_width);
        MT_EQ (b.value_width, st->p->value_width);
        size_t fs = b.key_width != LOOM_VARLEN && b.value_width != LOOM_VARLEN
                        ? b.key_width + b.value_width
                        : 0;
        if (fs)
            MT_EQ (b.bytes, b.nrecords * fs);
        if (recv_cb (&b, st) < 0)
            return -1;
    }
}

/* Run one case; returns the order hash of what was received. */
static uint64_t run_case (const char *name,
                          const struct gen *g,
                          const struct loom_shuffle_params *p,
                          enum put_mode mode,
                          bool callback,
                          struct loom_shuffle_stats *stats_out)
{
    loom_error_t err = {{0}};
    loom_shuffle_t *sh = loom_shuffle_create (comm, p, &err);
    if (!sh)
        fprintf (stderr, "[rank %d] %s: create: %s\n", rank, name, err.text);
    MT_REQUIRE (sh != NULL);
    struct recv_state st = {.p = p, .last_src = -1};
    if (callback)
        MT_EQ (loom_shuffle_set_recv (sh, recv_cb, &st), 0);
    MT_REQUIRE (put_all (sh, g, p, mode) == 0);
    if (loom_shuffle_finish (sh, &err) != 0) {
        fprintf (stderr, "[rank %d] %s: finish: %s\n", rank, name, err.text);
        MT_REQUIRE (0);
    }
    if (!callback) {
        struct loom_record rec;
        int rc;
        if (iter_mode == ITER_NEXT) {
            while ((rc = loom_shuffle_next (sh, &rec, &err)) == 1)
                recv_one (&st, &rec, -1);
        } else {
            rc = recv_batches (sh, &st, &err);
        }
        if (rc != 0)
            fprintf (stderr, "[rank %d] %s: iterate: %s\n", rank, name, err.text);
        MT_EQ (rc, 0);
        /* At the end both say so. */
        struct loom_batch b;
        MT_EQ (loom_shuffle_next_batch (sh, &b, &err), 0);
        MT_EQ (loom_shuffle_next (sh, &rec, &err), 0);
    }
    struct sum want = expected (g, p);
    if (st.got.n != want.n || st.got.add != want.add || st.got.xor != want.xor)
        fprintf (stderr, "[rank %d] %s: received %llu records, expected %llu%s\n", rank,
                 name, (unsigned long long)st.got.n, (unsigned long long)want.n,
                 st.got.n == want.n ? " (same count, different records)" : "");
    MT_EQ (st.got.n, want.n);
    MT_CHECK (st.got.add == want.add && st.got.xor == want.xor);
    MT_EQ (st.wrong_owner, 0);

    struct loom_shuffle_stats stats;
    loom_shuffle_stats (sh, &stats);
    MT_EQ (stats.records_put, gen_count (g, rank));
    MT_EQ (stats.records_delivered, want.n);
    MT_EQ (stats.records_received, want.n);
    /* Counts per peer agree with the totals and with the peers' view. */
    uint64_t *sent = calloc ((size_t)size, 8), *recv = calloc ((size_t)size, 8);
    uint64_t *sent_all = calloc ((size_t)size * (size_t)size, 8);
    MT_EQ (loom_shuffle_counts (sh, sent, recv), 0);
    uint64_t ts = 0, tr = 0;
    for (int r = 0; r < size; r++) {
        ts += sent[r];
        tr += recv[r];
    }
    MT_EQ (ts, gen_count (g, rank));
    MT_EQ (tr, want.n);
    MPI_Allgather (sent, size, MPI_UINT64_T, sent_all, size, MPI_UINT64_T,
                   MPI_COMM_WORLD);
    for (int r = 0; r < size; r++)
        MT_EQ (recv[r], sent_all[(size_t)r * (size_t)size + (size_t)rank]);
    free (sent);
    free (recv);
    free (sent_all);
    if (stats_out)
        *stats_out = stats;
    loom_shuffle_destroy (sh);
    return st.order_hash;
}

static int to_zero (const struct loom_record *rec, int nranks, void *arg)
{
    return 0;
}

static int to_last (const struct loom_record *rec, int nranks, void *arg)
{
    return nranks - 1;
}

static bool dir_empty (const char *path)
{
    DIR *d = opendir (path);
    if (!d)
        return false;
    struct dirent *e;
    int n = 0;
    while ((e = readdir (d)))
        if (strcmp (e->d_name, ".") && strcmp (e->d_name, ".."))
            n++;
    closedir (d);
    return n == 0;
}

static void cases_basic (void)
{
    struct gen g = {.nrec = 3000, .kmax = 24, .vmax = 40};
    struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
    p.hash_seed = 99;
    run_case ("varlen", &g, &p, PUT_ONE, false, NULL);
    run_case ("varlen batch", &g, &p, PUT_BATCH, false, NULL);
    run_case ("varlen put_to", &g, &p, PUT_TO, false, NULL);
    run_case ("varlen callback", &g, &p, PUT_ONE, true, NULL);

    p.flags = LOOM_SHUFFLE_NO_SELF_SHORTCUT;
    run_case ("no self shortcut", &g, &p, PUT_ONE, false, NULL);
    p.flags = 0;

    struct gen empty = g;
    empty.odd_empty = true;
    run_case ("empty ranks", &empty, &p, PUT_ONE, false, NULL);
    struct gen none = g;
    none.nrec = 0;
    none.odd_empty = true;
    if (size == 1)
        run_case ("nothing at all", &none, &p, PUT_ONE, false, NULL);

    /* Zero-length keys and values are common: lengths drawn in [0, 3]. */
    struct gen tiny = {.nrec = 2000, .kmax = 3, .vmax = 3};
    run_case ("zero-length", &tiny, &p, PUT_BATCH, false, NULL);
    struct loom_shuffle_params pz = p;
    pz.key_width = 0; /* no key at all: everything hashes to one rank */
    pz.value_width = LOOM_VARLEN;
    run_case ("zero-width key", &tiny, &pz, PUT_ONE, false, NULL);

    struct loom_shuffle_params pa = p;
    pa.partition = LOOM_PARTITION_CALLBACK;
    pa.partition_fn = to_zero;
    run_case ("all to rank 0", &g, &pa, PUT_ONE, false, NULL);
    pa.partition_fn = to_last;
    run_case ("all to last rank", &g, &pa, PUT_ONE, true, NULL);

    /* Fixed width: u64 key + 8-byte value, through the fast path and the others. */
    struct gen fx = {.nrec = 20000};
    struct loom_shuffle_params pf = p;
    pf.key_width = 8;
    pf.value_width = 8;
    pf.batch_bytes = 16384; /* many rounds */
    struct loom_shuffle_stats st;
    run_case ("fixed fast path", &fx, &pf, PUT_FIXED, false, &st);
    MT_CHECK (st.rounds > 3);
    MT_EQ (st.bytes_sent, gen_count (&fx, rank) * 16);
    run_case ("fixed put", &fx, &pf, PUT_ONE, true, NULL);
    pf.partition = LOOM_PARTITION_CALLBACK;
    pf.partition_fn = to_last;
    run_case ("fixed callback partitioner", &fx, &pf, PUT_FIXED, false, NULL);
    pf.partition = LOOM_PARTITION_HASH;

    /* The batch iterator, alone and mixed with loom_shuffle_next, on variable and
     * fixed widths (several segments per source: many rounds).
     */
    for (int m = ITER_BATCH; m <= ITER_MIXED; m++) {
        iter_mode = (enum iter_mode)m;
        struct loom_shuffle_params pv = p;
        pv.batch_bytes = 16384;
        run_case (m == ITER_BATCH ? "varlen next_batch" : "varlen mixed", &g, &pv,
                  PUT_ONE, false, NULL);
        run_case (m == ITER_BATCH ? "fixed next_batch" : "fixed mixed", &fx, &pf,
                  PUT_FIXED, false, &st);
        MT_EQ (st.records_delivered, st.records_received);
    }
    iter_mode = ITER_NEXT;
}

static void cases_sizes (void)
{
    struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
    p.mem_bytes = 1 << 20;
    p.batch_bytes = 4096;
    /* Records of 10 KiB, larger than a batch, between small ones. */
    struct gen g = {.nrec = 400, .kmax = 16, .vmax = 30, .big_every = 7, .big = 10000};
    struct loom_shuffle_stats st;
    run_case ("larger than a batch", &g, &p, PUT_ONE, false, &st);
    MT_CHECK (st.rounds >= 10);
    /* Messages in chunks of 1000 bytes: per-peer payloads split into many. */
    p.chunk_bytes = 1000;
    run_case ("chunked", &g, &p, PUT_BATCH, false, NULL);
    p.flags = LOOM_SHUFFLE_NO_SELF_SHORTCUT;
    run_case ("chunked, through MPI", &g, &p, PUT_ONE, true, NULL);
}

static void cases_spill (void)
{
    char dir[] = "/tmp/loom-test-spill-XXXXXX";
    MT_REQUIRE (mkdtemp (dir) != NULL);
    struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
    p.mem_bytes = 64 << 10; /* far below the ~1 MiB each rank receives */
    p.tmpdir = dir;
    struct gen g = {.nrec = 12000, .kmax = 30, .vmax = 100};
    struct loom_shuffle_stats st;
    run_case ("spill, receive side", &g, &p, PUT_ONE, false, &st);
    MT_CHECK (st.spill_recv_bytes > 0);
    MT_CHECK (st.spill_bytes_read >= st.spill_recv_bytes);
    MT_CHECK (dir_empty (dir));

    /* Send side: rank 0 puts everything before any peer has started, so its frames
     * cannot go out: they queue in memory while the budget allows (first pass, a
     * large budget), and spill beyond it (second pass) instead of blocking.
     */
    for (int pass = 0; pass < 2 && size > 1; pass++) {
        struct loom_shuffle_params pq = p;
        if (pass == 0) {
            pq.mem_bytes = 64 << 20;
            pq.batch_bytes = 16 << 10;
        }
        loom_error_t err = {{0}};
        loom_shuffle_t *sh = loom_shuffle_create (comm, &pq, &err);
        MT_REQUIRE (sh != NULL);
        if (rank == 0)
            MT_REQUIRE (put_all (sh, &g, &pq, PUT_ONE) == 0);
        MPI_Barrier (MPI_COMM_WORLD);
        if (rank != 0)
            MT_REQUIRE (put_all (sh, &g, &pq, PUT_ONE) == 0);
        MT_EQ (loom_shuffle_finish (sh, &err), 0);
        recv_all_check (sh, &g, &p);
        loom_shuffle_stats (sh, &st);
        if (rank == 0 && pass == 1)
            MT_CHECK (st.spill_send_bytes > 0);
        if (pass == 0) {
            MT_EQ (st.spill_bytes_written, 0);
            MT_CHECK (st.rounds > 10);
        }
        loom_shuffle_destroy (sh);
        MT_CHECK (dir_empty (dir));
    }
    /* With the deterministic order, and with a callback. */
    p.flags = LOOM_SHUFFLE_DETERMINISTIC;
    run_case ("spill, deterministic", &g, &p, PUT_BATCH, false, &st);
    MT_CHECK (st.spill_recv_bytes > 0);
    run_case ("spill, callback", &g, &p, PUT_ONE, true, NULL);
    MT_CHECK (dir_empty (dir));
    rmdir (dir);
}

/* Put 'nput' records (8-byte key; value: this rank, then the put index) with 'p'
 * (key_width 8, value_width 12, deterministic order) and check that they arrive by
 * source, then in put order. Returns the number of records this rank received.
 */
static uint64_t check_source_order (const struct loom_shuffle_params *p, uint64_t nput)
{
    loom_error_t err = {{0}};
    loom_shuffle_t *sh = loom_shuffle_create (comm, p, &err);
    MT_REQUIRE (sh != NULL);
    for (uint64_t i = 0; i < nput; i++) {
        char rec[20];
        uint64_t key = mix (i * 31 + (uint64_t)rank);
        uint32_t r = (uint32_t)rank;
        memcpy (rec, &key, 8);
        memcpy (rec + 8, &r, 4);
        memcpy (rec + 12, &i, 8);
        MT_REQUIRE (loom_shuffle_put_fixed (sh, rec, 1, &err) == 0);
    }
    MT_EQ (loom_shuffle_finish (sh, &err), 0);
    struct loom_record rec;
    uint32_t last_src = 0;
    uint64_t last_i = 0, n = 0;
    int bad = 0;
    while (loom_shuffle_next (sh, &rec, &err) == 1) {
        uint32_t src;
        uint64_t i;
        memcpy (&src, rec.value, 4);
        memcpy (&i, (const char *)rec.value + 4, 8);
        if (n > 0 && (src < last_src || (src == last_src && i <= last_i)))
            bad++;
        last_src = src;
        last_i = i;
        n++;
    }
    MT_EQ (bad, 0);
    loom_shuffle_destroy (sh);
    return n;
}

static void cases_deterministic (void)
{
    struct gen g = {.nrec = 5000, .kmax = 20, .vmax = 20};
    struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
    p.flags = LOOM_SHUFFLE_DETERMINISTIC;
    p.batch_bytes = 8192;
    uint64_t a = run_case ("deterministic 1", &g, &p, PUT_ONE, false, NULL);
    uint64_t b = run_case ("deterministic 2", &g, &p, PUT_BATCH, false, NULL);
    MT_CHECK (a == b);

    /* Order is by source, then put order. */
    struct loom_shuffle_params pf = p;
    pf.key_width = 8;
    pf.value_width = 12;
    check_source_order (&pf, 3000);
}

static void cases_reset (void)
{
    /* One shuffle, three exchanges (Pregel supersteps). */
    struct gen g = {.nrec = 2000};
    struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
    p.key_width = 8;
    p.value_width = 8;
    loom_error_t err = {{0}};
    loom_shuffle_t *sh = loom_shuffle_create (comm, &p, &err);
    MT_REQUIRE (sh != NULL);
    struct sum want = expected (&g, &p);
    for (int step = 0; step < 3; step++) {
        MT_REQUIRE (put_all (sh, &g, &p, PUT_FIXED) == 0);
        MT_EQ (loom_shuffle_finish (sh, &err), 0);
        struct recv_state rs = {.p = &p, .last_src = -1};
        struct loom_record rec;
        while (loom_shuffle_next (sh, &rec, &err) == 1)
            recv_one (&rs, &rec, -1);
        MT_EQ (rs.got.n, want.n);
        MT_CHECK (rs.got.add == want.add);
        MT_EQ (loom_shuffle_reset (sh, &err), 0);
    }
    loom_shuffle_destroy (sh);
}

/* Pretend nodes of 2 and 3 ranks, small batches: rounds go through node-aware
 * aggregation (leaders) whenever there are several nodes with several ranks.
 */
static void cases_node_aware (void)
{
    loom_comm_t *flat = comm;
    for (int ns = 2; ns <= 3; ns++) {
        struct loom_comm_params cp = LOOM_COMM_PARAMS_INIT;
        cp.node_size = ns;
        comm = loom_comm_create (MPI_COMM_WORLD, &cp, NULL);
        MT_REQUIRE (comm != NULL);
        bool expect = loom_comm_nnodes (comm) > 1;
        struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
        p.batch_bytes = 8192;
        struct gen g = {.nrec = 3000, .kmax = 24, .vmax = 40};
        struct loom_shuffle_stats st;
        run_case ("node-aware varlen", &g, &p, PUT_ONE, false, &st);
        if (expect)
            MT_CHECK (st.rounds_node_aware > 0);
        else
            MT_EQ (st.rounds_node_aware, 0);
        struct gen empty = g;
        empty.odd_empty = true;
        run_case ("node-aware, empty ranks", &empty, &p, PUT_BATCH, true, NULL);
        p.flags = LOOM_SHUFFLE_NO_SELF_SHORTCUT | LOOM_SHUFFLE_DETERMINISTIC;
        run_case ("node-aware, through MPI", &g, &p, PUT_ONE, false, NULL);
        p.flags = 0;
        struct loom_shuffle_params pa = p;
        pa.partition = LOOM_PARTITION_CALLBACK;
        pa.partition_fn = to_last;
        run_case ("node-aware, all to last", &g, &pa, PUT_ONE, false, NULL);
        struct gen fx = {.nrec = 5000};
        struct loom_shuffle_params pf = p;
        pf.key_width = 8;
        pf.value_width = 8;
        pf.chunk_bytes = 1000; /* chunked node-aware messages */
        run_case ("node-aware fixed", &fx, &pf, PUT_FIXED, false, &st);
        if (expect)
            MT_CHECK (st.rounds_node_aware > 0);
        /* Flag off: flat even here. */
        pf.flags = LOOM_SHUFFLE_FLAT;
        run_case ("forced flat", &fx, &pf, PUT_FIXED, false, &st);
        MT_EQ (st.rounds_node_aware, 0);
        /* Large payloads: flat. */
        struct loom_shuffle_params pl = LOOM_SHUFFLE_PARAMS_INIT;
        pl.key_width = 8;
        pl.value_width = 8;
        struct gen big = {.nrec = 30000};
        run_case ("large payloads stay flat", &big, &pl, PUT_FIXED, false, &st);
        MT_EQ (st.rounds_node_aware, 0);
        loom_comm_destroy (comm);
    }
    comm = flat;
}

/* The node-local direct path (libcomm/local.c): records for ranks of the same node
 * are written into their memory, not sent. On one machine every rank is local; with
 * pretend nodes of 2 ranks, some peers are local and the others go through the
 * rounds. Checked: delivery (run_case), that exactly the bytes for local peers took
 * the direct path when the regions are large, and, with regions capped so that they
 * overflow mid-exchange, that the rest takes the rounds in deterministic order.
 */
static void cases_local_direct (void)
{
    loom_comm_t *flat = comm;
    for (int ns = 0; ns <= 2; ns += 2) {
        struct loom_comm_params cp = LOOM_COMM_PARAMS_INIT;
        cp.node_size = ns;
        comm = loom_comm_create (MPI_COMM_WORLD, &cp, NULL);
        MT_REQUIRE (comm != NULL);
        struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
        p.key_width = 8;
        p.value_width = 8;
        p.batch_bytes = 64u << 10;
        /* 12000 records per peer: more than a capped region holds (below). */
        struct gen g = {.nrec = 12000 * (uint64_t)size};
        for (int capped = 0; capped < 2; capped++) {
            if (capped)
                setenv ("LOOM_COMM_LOCAL_REGION_MAX", "131072", 1);
            loom_error_t err = {{0}};
            loom_shuffle_t *sh = loom_shuffle_create (comm, &p, &err);
            MT_REQUIRE (sh != NULL);
            MT_REQUIRE (put_all (sh, &g, &p, PUT_FIXED) == 0);
            MT_EQ (loom_shuffle_finish (sh, &err), 0);
            struct recv_state rs = recv_all_check (sh, &g, &p);
            MT_EQ (rs.wrong_owner, 0);
            uint64_t *sent = calloc ((size_t)size, 8);
            MT_EQ (loom_shuffle_counts (sh, sent, NULL), 0);
            uint64_t local = 0;
            for (int r = 0; r < size; r++)
                if (r != rank
                    && loom_comm_node_of (comm, r) == loom_comm_node_of (comm, rank))
                    local += sent[r] * 16;
            struct loom_shuffle_stats st;
            loom_shuffle_stats (sh, &st);
            if (!capped) {
                MT_EQ (st.bytes_local_direct, local);
            } else {
                /* Regions of 128 KiB hold 8192 records of a peer, fewer than sent
                 * to any peer at any np (about 12000 each; np=6 on 3 hosts in
                 * tests/cluster failed with a fixed 40000 over 6 ranks).
                 */
                MT_CHECK (local == 0 || st.bytes_local_direct > 0);
                MT_CHECK (st.bytes_local_direct < local || local == 0);
                MT_CHECK (st.bytes_local_direct <= 131072u * (uint64_t)size);
            }
            free (sent);
            loom_shuffle_destroy (sh);
        }
        /* Overflowing regions keep the deterministic order: source, then put order
         * (the value carries both).
         */
        struct loom_shuffle_params pd = p;
        pd.value_width = 12;
        pd.flags = LOOM_SHUFFLE_DETERMINISTIC;
        uint64_t n = check_source_order (&pd, 30000), total = 0;
        MPI_Allreduce (&n, &total, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
        MT_EQ (total, 30000u * (uint64_t)size);
        unsetenv ("LOOM_COMM_LOCAL_REGION_MAX");
        loom_comm_destroy (comm);
    }
    comm = flat;
}

/* Hello exchanges of the node-local direct path, counted by interposing on
 * MPI_Ialltoall (libcomm's calls resolve to this definition first): the hello is the
 * only all-to-all of 5 uint64 per peer in a shuffle (HELLO in libcomm/local.c).
 */
static int hellos;

int MPI_Ialltoall (const void *sbuf,
                   int scount,
                   MPI_Datatype stype,
                   void *rbuf,
                   int rcount,
                   MPI_Datatype rtype,
                   MPI_Comm c,
                   MPI_Request *req)
{
    if (scount == 5 && stype == MPI_UINT64_T)
        hellos++;
    return PMPI_Ialltoall (sbuf, scount, stype, rbuf, rcount, rtype, c, req);
}

/* LOOM_COMM_LOCAL_DIRECT=0 costs no hello: not at create, not at reset. The switch is
 * read at loom_comm_create() and agreed by all ranks, so set on rank 0 alone it turns
 * the path off everywhere (a rank that posted the hello alone would hang its
 * peers). On (every rank's default) with ranks sharing a node, one hello per create
 * and per reset.
 */
static void cases_local_direct_off (void)
{
    loom_comm_t *flat = comm;
    for (int mode = 0; mode < 3; mode++) { /* on, off everywhere, off on rank 0 */
        if (mode == 1 || (mode == 2 && rank == 0))
            setenv ("LOOM_COMM_LOCAL_DIRECT", "0", 1);
        comm = loom_comm_create (MPI_COMM_WORLD, NULL, NULL);
        unsetenv ("LOOM_COMM_LOCAL_DIRECT");
        MT_REQUIRE (comm != NULL);
        bool shared = loom_comm_node_size (comm) > 1;
        struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
        p.key_width = 8;
        p.value_width = 8;
        struct gen g = {.nrec = 2000 * (uint64_t)size};
        hellos = 0;
        loom_error_t err = {{0}};
        loom_shuffle_t *sh = loom_shuffle_create (comm, &p, &err);
        MT_REQUIRE (sh != NULL);
        uint64_t direct = 0;
        for (int ex = 0; ex < 2; ex++) {
            if (ex)
                MT_EQ (loom_shuffle_reset (sh, &err), 0);
            MT_REQUIRE (put_all (sh, &g, &p, PUT_FIXED) == 0);
            MT_EQ (loom_shuffle_finish (sh, &err), 0);
            recv_all_check (sh, &g, &p);
            struct loom_shuffle_stats st;
            loom_shuffle_stats (sh, &st);
            direct += st.bytes_local_direct;
        }
        loom_shuffle_destroy (sh);
        int want_hellos = mode == 0 && shared ? 2 : 0; /* create + reset */
        MT_EQ (hellos, want_hellos);
        if (mode != 0)
            MT_EQ (direct, 0);
        else if (shared)
            MT_CHECK (direct > 0);
        loom_comm_destroy (comm);
    }
    comm = flat;
}

int main (int argc, char **argv)
{
    mt_init (&argc, &argv);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    rank = mt_rank;
    loom_error_t err = {{0}};
    comm = loom_comm_create (MPI_COMM_WORLD, NULL, &err);
    MT_REQUIRE (comm != NULL);
    cases_basic ();
    cases_sizes ();
    cases_spill ();
    cases_deterministic ();
    cases_reset ();
    cases_node_aware ();
    cases_local_direct ();
    cases_local_direct_off ();
    loom_comm_destroy (comm);
    return mt_finish ("test_shuffle");
}
