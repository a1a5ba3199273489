/* SPDX-License-Identifier: MIT */
/* The exchanges of the join and what each rank then joins locally:
 *   - repartition: each side through a hash shuffle whose receive callback appends
 *     the batches to the "sink" (one memcpy per batch); the sink holds them in memory
 *     up to the local budget and switches to grace partitions past it;
 *   - broadcast: the small side gathered and shared per node, probed in place;
 *   - hybrid: tuples of hot keys routed around the shuffle (kept, or broadcast),
 *     the rest repartitioned.
 * Every collective happens before the first emit, so an emit may take part in
 * another collective (loom_join_run_shuffle's output shuffle).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/error.h>
#include <loom/log.h>

#include "join_impl.h"

/* ---- what this rank joins: in memory, or grace partitions past the budget ------ */

struct sink {
    loom_join_t *j;
    struct join_buf mem[2];
    struct join_grace *grace;
    uint64_t budget, expect; /* bytes of local join footprint: limit, expected */
};

static uint64_t sink_footprint (const struct sink *k)
{
    /* Capacity, not length: the buffers grow by doubling. */
    return join_local_footprint (&k->j->shape[0], k->mem[0].n, k->mem[0].cap)
           + join_local_footprint (&k->j->shape[1], k->mem[1].n, k->mem[1].cap);
}

/* As the shuffle's spill files: params.tmpdir, $LOOM_TMPDIR, $TMPDIR, /tmp. */
static const char *spill_dir (const loom_join_t *j)
{
    const char *d = j->p.tmpdir;
    if (!d || !*d)
        d = getenv ("LOOM_TMPDIR");
    if (!d || !*d)
        d = getenv ("TMPDIR");
    if (!d || !*d)
        d = "/tmp";
    return d;
}

/* Switch to grace partitions: enough that one pair is about half the budget. */
static int sink_spill (struct sink *k, loom_error_t *error)
{
    uint64_t est = sink_footprint (k) * 2;
    if (est < k->expect)
        est = k->expect;
    unsigned nparts = 2;
    while (nparts < 1024 && (uint64_t)nparts * (k->budget / 2) < est)
        nparts *= 2;
    const struct loom__shape *sh[2] = {&k->j->shape[0], &k->j->shape[1]};
    k->grace = join_grace_create (sh, nparts, k->j->p.hash_seed ^ 2, k->budget,
                                  spill_dir (k->j), error);
    if (!k->grace)
        return -1;
    loom_debug ("join: %llu B to join above the budget %llu B: %u grace partitions",
                (unsigned long long)est, (unsigned long long)k->budget, nparts);
    for (int s = 0; s < 2; s++) {
        if (join_grace_add (k->grace, s, k->mem[s].data, k->mem[s].len, error) < 0)
            return -1;
        join_buf_free (&k->mem[s]);
    }
    return 0;
}

static int sink_add (struct sink *k,
                     int s,
                     const void *data,
                     size_t len,
                     uint64_t n,
                     loom_error_t *error)
{
    if (k->grace)
        return join_grace_add (k->grace, s, data, len, error);
    if (join_buf_append (&k->mem[s], data, len, n) < 0)
        return loom_errset (error, ENOMEM, "join: out of memory receiving tuples");
    if (sink_footprint (k) > k->budget)
        return sink_spill (k, error);
    return 0;
}

/* Join what the sink holds: left probes, right builds. */
static int
sink_join (struct sink *k, const struct join_local_params *lp, loom_error_t *error)
{
    struct loom_join_stats *st = &k->j->st;
    if (k->grace) {
        int rc = join_grace_run (k->grace, lp, &st->results, error);
        st->spill_bytes += join_grace_spilled (k->grace);
        return rc;
    }
    struct join_side probe = {&k->mem[0], 1, &k->j->shape[0]};
    struct join_side build = {&k->mem[1], 1, &k->j->shape[1]};
    if (join_local (lp, &probe, &build, &st->results) < 0)
        return loom_errset (error, errno, "join: local join: %s", strerror (errno));
    return 0;
}

static void sink_free (struct sink *k)
{
    join_buf_free (&k->mem[0]);
    join_buf_free (&k->mem[1]);
    join_grace_destroy (k->grace);
    k->grace = NULL;
}

/* ---- exchanges ----------------------------------------------------------------- */

struct recv_arg {
    struct sink *k;
    int side;
    int failed;
    loom_error_t err; /* the shuffle replaces the callback's message by its own */
};

static int on_batch (const struct loom_batch *b, void *arg)
{
    struct recv_arg *ra = arg;
    if (sink_add (ra->k, ra->side, b->data, (size_t)b->bytes, b->nrecords, &ra->err)
        < 0) {
        ra->failed = 1;
        return -1;
    }
    return 0;
}

static loom_shuffle_t *
side_shuffle (loom_join_t *j, int s, struct recv_arg *ra, loom_error_t *error)
{
    struct loom_shuffle_params sp = LOOM_SHUFFLE_PARAMS_INIT;
    sp.key_width = j->p.key_width;
    sp.value_width = s ? j->p.right_value_width : j->p.left_value_width;
    sp.hash_seed = j->p.hash_seed;
    sp.mem_bytes = j->p.mem_bytes / 4 < (64u << 10) ? (64u << 10) : j->p.mem_bytes / 4;
    sp.tmpdir = j->p.tmpdir;
    sp.timeout_sec = j->p.timeout_sec;
    loom_shuffle_t *sh = loom_shuffle_create (j->comm, &sp, error);
    if (sh && loom_shuffle_set_recv (sh, on_batch, ra) < 0) {
        loom_errset (error, EINVAL, "join: cannot set the receive callback");
        loom_shuffle_destroy (sh);
        return NULL;
    }
    return sh;
}

/* Put every tuple of 'b' into 'sh'. */
static int put_all (loom_join_t *j,
                    int s,
                    loom_shuffle_t *sh,
                    const char *data,
                    size_t len,
                    uint64_t n,
                    loom_error_t *error)
{
    const struct loom__shape *shp = &j->shape[s];
    if (shp->fixed_size)
        return loom_shuffle_put_fixed (sh, data, n, error);
    for (const char *p = data, *end = data + len; p < end;) {
        struct loom_record r;
        size_t sz = loom__decode (shp, p, (uint64_t)(end - p), &r);
        if (!sz)
            return loom_errset (error, EPROTO, "join: corrupt tuples");
        if (loom_shuffle_put (sh, r.key, r.key_len, r.value, r.value_len, error) < 0)
            return -1;
        p += sz;
    }
    return 0;
}

/* Shuffle side 's' of this rank by key hash into the sink. With 'hot', tuples of
 * hot keys are not sent: those that stay go to keep[s], the others to bc[s].
 */
struct hot_route {
    const struct join_hot *hot;
    struct join_buf keep[2], bc[2];
    struct join_buf direct; /* semi: left tuples of keys kept on the right side */
};

static int route_hot (loom_join_t *j,
                      int s,
                      loom_shuffle_t *sh,
                      struct hot_route *hr,
                      loom_error_t *error)
{
    const struct loom__shape *shp = &j->shape[s];
    const struct join_buf *in = &j->side[s];
    const char *run = in->data; /* start of the current run of cold tuples */
    uint64_t nrun = 0;
    const char *p = in->data, *end = in->data + in->len;
    while (p < end) {
        struct loom_record r;
        size_t sz = loom__decode (shp, p, (uint64_t)(end - p), &r);
        if (!sz)
            return loom_errset (error, EPROTO, "join: corrupt tuples");
        int stay = join_hot_lookup (hr->hot, r.key, r.key_len);
        if (stay < 0) {
            if (!nrun)
                run = p;
            nrun++;
            p += sz;
            continue;
        }
        if (nrun && put_all (j, s, sh, run, (size_t)(p - run), nrun, error) < 0)
            return -1;
        nrun = 0;
        struct join_buf *to;
        if (stay == s)
            to = &hr->keep[s];
        else if (s == 0 && j->p.kind == LOOM_JOIN_SEMI)
            to = &hr->direct; /* matched somewhere: emitted once, here */
        else if (s == 0 && j->p.kind == LOOM_JOIN_ANTI)
            to = NULL; /* matched somewhere: never emitted */
        else
            to = &hr->bc[s];
        if (to && join_buf_append (to, p, sz, 1) < 0)
            return loom_errset (error, ENOMEM, "join: out of memory");
        p += sz;
    }
    if (nrun && put_all (j, s, sh, run, (size_t)(end - run), nrun, error) < 0)
        return -1;
    return 0;
}

static int repartition (
    loom_join_t *j, int s, struct sink *k, struct hot_route *hr, loom_error_t *error)
{
    struct recv_arg ra = {.k = k, .side = s};
    loom_shuffle_t *sh = side_shuffle (j, s, &ra, error);
    if (!sh)
        return -1;
    int rc =
        hr ? route_hot (j, s, sh, hr, error)
           : put_all (j, s, sh, j->side[s].data, j->side[s].len, j->side[s].n, error);
    /* Our own copy is no longer needed: free it before the receive grows. */
    join_buf_free (&j->side[s]);
    if (rc == 0)
        rc = loom_shuffle_finish (sh, error);
    if (rc < 0 && ra.failed)
        loom_errset (error, errno, "%s", ra.err.text);
    loom_shuffle_destroy (sh);
    return rc;
}

/* Gather 'b' of all ranks on rank 0 and share it with every node. '*out' is NULL
 * when every rank's buffer is empty (nothing is sent then).
 */
static int broadcast (loom_join_t *j,
                      const struct join_buf *b,
                      loom_shared_t **out,
                      uint64_t *ntuples,
                      loom_error_t *error)
{
    int size = loom_comm_size (j->comm), rank = loom_comm_rank (j->comm);
    MPI_Comm mc = loom_comm_mpi (j->comm);
    uint64_t *lens = malloc (2 * (size_t)size * sizeof (*lens));
    int *cnt = malloc ((size_t)size * sizeof (*cnt));
    int *disp = malloc ((size_t)size * sizeof (*disp));
    char *all = NULL;
    int rc = -1;
    *out = NULL;
    if (!lens || !cnt || !disp) {
        loom_errset (error, ENOMEM, "join: out of memory");
        goto done;
    }
    if (loom_comm_allgather_u64 (j->comm, b->len, lens, error) < 0
        || loom_comm_allgather_u64 (j->comm, b->n, lens + size, error) < 0)
        goto done;
    uint64_t total = 0;
    *ntuples = 0;
    for (int r = 0; r < size; r++) {
        disp[r] = (int)(total < INT_MAX ? total : 0);
        cnt[r] = (int)lens[r];
        total += lens[r];
        *ntuples += lens[size + r];
    }
    if (total > INT_MAX) { /* every rank sees the same total: all fail alike */
        loom_errset (error, E2BIG, "join: broadcast side of %llu B above 2 GiB",
                     (unsigned long long)total);
        goto done;
    }
    if (total == 0) {
        rc = 0;
        goto done;
    }
    if (rank == 0 && !(all = malloc (total))) {
        loom_errset (error, ENOMEM, "join: out of memory gathering %llu B",
                     (unsigned long long)total);
        MPI_Abort (mc, 1); /* the others would wait for the gather forever */
    }
    int erc =
        MPI_Gatherv (b->data, (int)b->len, MPI_BYTE, all, cnt, disp, MPI_BYTE, 0, mc);
    if (erc != MPI_SUCCESS) {
        loom__mpi_error (erc, "join: gathering the broadcast side", error);
        goto done;
    }
    struct loom_bcast_params bp = LOOM_BCAST_PARAMS_INIT;
    bp.timeout_sec = j->p.timeout_sec;
    if ((*out = loom_bcast_shared (j->comm, all, total, 0, &bp, error)))
        rc = 0;
done:
    free (lens);
    free (cnt);
    free (disp);
    free (all);
    return rc;
}

/* A shared copy as a join buffer (read in place). */
static struct join_buf shared_buf (loom_shared_t *sh, uint64_t n)
{
    struct join_buf b = {0};
    if (sh) {
        b.data = (char *)loom_shared_data (sh);
        b.len = loom_shared_size (sh);
        b.n = n;
    }
    return b;
}

static int local (const struct join_local_params *lp,
                  const struct join_buf *probe,
                  const struct loom__shape *ps,
                  const struct join_buf *build,
                  const struct loom__shape *bs,
                  uint64_t *results,
                  loom_error_t *error)
{
    struct join_side a = {probe, 1, ps}, b = {build, 1, bs};
    if (join_local (lp, &a, &b, results) < 0)
        return loom_errset (error, errno, "join: local join: %s", strerror (errno));
    return 0;
}

static uint64_t local_budget (const loom_join_t *j)
{
    return j->p.mem_bytes - j->p.mem_bytes / 4;
}

int join_run_broadcast (loom_join_t *j,
                        const struct join_local_params *lp0,
                        loom_error_t *error)
{
    struct loom_join_stats *st = &j->st;
    int bs = st->broadcast_left ? 0 : 1; /* the side that is broadcast */
    loom_shared_t *sh = NULL;
    uint64_t nb = 0;
    if (broadcast (j, &j->side[bs], &sh, &nb, error) < 0)
        return -1;
    join_buf_free (&j->side[bs]);
    struct join_buf shared = shared_buf (sh, nb);
    struct join_local_params lp = *lp0;
    const struct join_buf *mine = &j->side[1 - bs];
    int rc;
    uint64_t need = join_local_footprint (&j->shape[0], j->side[0].n + shared.n,
                                          mine->len + shared.len);
    if (need > local_budget (j)) {
        /* Past the budget: both through grace partitions (left probes). */
        struct sink k = {.j = j, .budget = local_budget (j), .expect = need};
        rc = sink_spill (&k, error);
        if (rc == 0)
            rc = join_grace_add (k.grace, bs, shared.data, shared.len, error);
        if (rc == 0)
            rc = join_grace_add (k.grace, 1 - bs, mine->data, mine->len, error);
        if (rc == 0)
            rc = sink_join (&k, &lp, error);
        sink_free (&k);
    } else {
        /* The local side probes the shared copy in place; with the left side
         * broadcast (inner only) the roles swap.
         */
        lp.swap = bs == 0;
        if (j->shape[0].fixed_size && j->shape[1].fixed_size) {
            rc = join_radix_local (j, &lp, mine, &j->shape[1 - bs], &shared,
                                   &j->shape[bs]);
            if (rc < 0)
                loom_errset (error, errno, "join: local join: %s", strerror (errno));
        } else {
            rc = local (&lp, mine, &j->shape[1 - bs], &shared, &j->shape[bs],
                        &st->results, error);
        }
    }
    int saved = errno;
    loom_shared_destroy (sh);
    errno = saved;
    return rc;
}

int join_run_repartition (loom_join_t *j,
                          const struct join_local_params *lp,
                          const struct join_hot *hot,
                          loom_error_t *error)
{
    struct loom_join_stats *st = &j->st;
    int size = loom_comm_size (j->comm);
    struct sink k = {.j = j, .budget = local_budget (j)};
    k.expect =
        join_local_footprint (&j->shape[0], (st->left_total + st->right_total) / size,
                              (st->left_bytes_total + st->right_bytes_total) / size);
    struct hot_route hr = {.hot = hot};
    struct hot_route *hrp = hot ? &hr : NULL;
    loom_shared_t *sh[2] = {NULL, NULL};
    uint64_t nsh[2] = {0, 0};
    int rc = -1;
    /* Fixed widths take the path without the shuffle while they fit the budget. */
    if (!hot && j->shape[0].fixed_size && j->shape[1].fixed_size) {
        int done = join_radix_run (j, lp, k.budget, error);
        if (done != 0)
            return done < 0 ? -1 : 0;
    }
    if (repartition (j, 0, &k, hrp, error) < 0
        || repartition (j, 1, &k, hrp, error) < 0)
        goto done;
    /* Hybrid: the other side's tuples of hot keys go to every rank. */
    if (hrp
        && (broadcast (j, &hr.bc[0], &sh[0], &nsh[0], error) < 0
            || broadcast (j, &hr.bc[1], &sh[1], &nsh[1], error) < 0))
        goto done;
    /* Every collective is behind us: the rest is local (so an emit may take part in
     * another collective, e.g. loom_join_run_shuffle()'s output shuffle).
     */
    if (sink_join (&k, lp, error) < 0)
        goto done;
    if (hrp) {
        /* Keys kept on the left: each left tuple is judged here, against all the
         * right tuples of its key (broadcast), so every kind works as usual.
         */
        struct join_buf b1 = shared_buf (sh[1], nsh[1]);
        if (local (lp, &hr.keep[0], &j->shape[0], &b1, &j->shape[1], &st->results,
                   error)
            < 0)
            goto done;
        /* Keys kept on the right: such a key exists on the right side, so every left
         * tuple of it matches somewhere. Inner and outer: each rank pairs the
         * broadcast left tuples with its own right ones. Semi: emitted once, by the
         * rank that had the tuple. Anti: never emitted.
         */
        if (j->p.kind == LOOM_JOIN_INNER || j->p.kind == LOOM_JOIN_LEFT_OUTER) {
            struct join_local_params ip = *lp;
            ip.kind = LOOM_JOIN_INNER;
            struct join_buf b0 = shared_buf (sh[0], nsh[0]);
            if (local (&ip, &b0, &j->shape[0], &hr.keep[1], &j->shape[1], &st->results,
                       error)
                < 0)
                goto done;
        } else if (j->p.kind == LOOM_JOIN_SEMI) {
            struct join_local_params ap = *lp;
            ap.kind = LOOM_JOIN_ANTI; /* against nothing: emits every tuple once */
            struct join_buf none = {0};
            if (local (&ap, &hr.direct, &j->shape[0], &none, &j->shape[1], &st->results,
                       error)
                < 0)
                goto done;
        }
    }
    rc = 0;
done:;
    int saved = errno;
    sink_free (&k);
    for (int s = 0; s < 2; s++) {
        join_buf_free (&hr.keep[s]);
        join_buf_free (&hr.bc[s]);
        loom_shared_destroy (sh[s]);
    }
    join_buf_free (&hr.direct);
    errno = saved;
    return rc;
}
