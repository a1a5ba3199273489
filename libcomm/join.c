/* SPDX-License-Identifier: MIT */
/* Distributed join: buffering of the puts, the count exchange, the choice of the
 * strategy and the two exchanges (repartition by shuffle, broadcast by
 * loom_bcast_shared). The local join is in join_local.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/error.h>
#include <loom/log.h>

#include "internal.h"
#include "join_impl.h"

struct loom_join {
    loom_comm_t *comm;
    struct loom_join_params p;
    struct join_buf side[2]; /* 0: left, 1: right (this rank's puts) */
    int ran;
    struct loom_join_stats st;
};

const char *loom_join_strategy_name (loom_join_strategy_t s)
{
    switch (s) {
    case LOOM_JOIN_AUTO:
        return "auto";
    case LOOM_JOIN_REPARTITION:
        return "repartition";
    case LOOM_JOIN_BROADCAST:
        return "broadcast";
    }
    return "unknown";
}

loom_join_t *loom_join_create (loom_comm_t *comm,
                               const struct loom_join_params *params,
                               loom_error_t *error)
{
    struct loom_join_params def = LOOM_JOIN_PARAMS_INIT;
    if (!params)
        params = &def;
    if (!comm) {
        loom_errprintf (error, "join: comm is NULL");
        errno = EINVAL;
        return NULL;
    }
    if ((unsigned)params->kind > LOOM_JOIN_ANTI) {
        loom_errprintf (error, "join: bad kind %d", (int)params->kind);
        errno = EINVAL;
        return NULL;
    }
    if ((unsigned)params->strategy > LOOM_JOIN_BROADCAST) {
        loom_errprintf (error, "join: bad strategy %d", (int)params->strategy);
        errno = EINVAL;
        return NULL;
    }
    if (params->mem_bytes < (64u << 10)) {
        loom_errprintf (error, "join: mem_bytes below 64 KiB");
        errno = EINVAL;
        return NULL;
    }
    loom_join_t *j = calloc (1, sizeof (*j));
    if (!j) {
        loom_errprintf (error, "join: out of memory");
        return NULL;
    }
    j->comm = comm;
    j->p = *params;
    return j;
}

void loom_join_destroy (loom_join_t *j)
{
    if (!j)
        return;
    int saved = errno;
    join_buf_free (&j->side[0]);
    join_buf_free (&j->side[1]);
    free (j);
    errno = saved;
}

static int put (loom_join_t *j,
                int s,
                const void *key,
                size_t klen,
                const void *val,
                size_t vlen,
                loom_error_t *error)
{
    size_t vw = s ? j->p.right_value_width : j->p.left_value_width;
    if (j->ran) {
        errno = EINVAL;
        return loom_errprintf (error, "join: put after loom_join_run()");
    }
    if ((j->p.key_width != LOOM_VARLEN && klen != j->p.key_width)
        || (vw != LOOM_VARLEN && vlen != vw)) {
        errno = EINVAL;
        return loom_errprintf (error,
                               "join: %s tuple of %zu+%zu bytes, widths are fixed",
                               s ? "right" : "left", klen, vlen);
    }
    if (join_buf_add (&j->side[s], key, klen, val, vlen) < 0)
        return loom_errprintf (error, "join: %s", strerror (errno));
    return 0;
}

int loom_join_put_left (loom_join_t *j,
                        const void *key,
                        size_t key_len,
                        const void *value,
                        size_t value_len,
                        loom_error_t *error)
{
    return put (j, 0, key, key_len, value, value_len, error);
}

int loom_join_put_right (loom_join_t *j,
                         const void *key,
                         size_t key_len,
                         const void *value,
                         size_t value_len,
                         loom_error_t *error)
{
    return put (j, 1, key, key_len, value, value_len, error);
}

void loom_join_stats (const loom_join_t *j, struct loom_join_stats *st)
{
    *st = j->st;
}

/* Strategy from the global sizes. Per node, a broadcast moves the small side once
 * (|small| bytes in, held once) while a repartition moves (|L| + |R|) * (P-1) / P
 * bytes over all ranks, i.e. about (|L| + |R|) / nnodes per node. Broadcast when
 * that is cheaper and the small side fits the limit.
 */
static loom_join_strategy_t choose (loom_join_t *j, int *bleft)
{
    struct loom_join_stats *st = &j->st;
    uint64_t lb = st->left_bytes_total, rb = st->right_bytes_total;
    uint64_t limit =
        j->p.broadcast_max_bytes ? j->p.broadcast_max_bytes : j->p.mem_bytes / 4;
    if (limit > INT_MAX)
        limit = INT_MAX; /* the gather counts in int */
    int nnodes = loom_comm_nnodes (j->comm), size = loom_comm_size (j->comm);
    /* Only inner joins may broadcast the left side. */
    *bleft = j->p.kind == LOOM_JOIN_INNER && lb < rb;
    uint64_t small = *bleft ? lb : rb;
    if (j->p.strategy == LOOM_JOIN_BROADCAST) {
        snprintf (st->reason, sizeof (st->reason), "broadcast requested");
        return LOOM_JOIN_BROADCAST;
    }
    if (j->p.strategy == LOOM_JOIN_REPARTITION) {
        snprintf (st->reason, sizeof (st->reason), "repartition requested");
        return LOOM_JOIN_REPARTITION;
    }
    if (size == 1) {
        snprintf (st->reason, sizeof (st->reason), "one rank: no exchange needed");
        return LOOM_JOIN_BROADCAST;
    }
    double repart = (double)(lb + rb) * (size - 1) / size / nnodes;
    if (small > limit) {
        snprintf (st->reason, sizeof (st->reason),
                  "%s side %llu B above the broadcast limit %llu B",
                  *bleft ? "left" : "right", (unsigned long long)small,
                  (unsigned long long)limit);
        return LOOM_JOIN_REPARTITION;
    }
    if ((double)small < repart) {
        snprintf (st->reason, sizeof (st->reason),
                  "broadcast %llu B per node < repartition ~%.0f B per node",
                  (unsigned long long)small, repart);
        return LOOM_JOIN_BROADCAST;
    }
    snprintf (st->reason, sizeof (st->reason),
              "repartition ~%.0f B per node <= broadcast %llu B per node", repart,
              (unsigned long long)small);
    return LOOM_JOIN_REPARTITION;
}

/* Shuffle one side by key hash; the received tuples go to 'out'. */
static int
repartition (loom_join_t *j, int s, struct join_buf *out, loom_error_t *error)
{
    struct loom_shuffle_params sp = LOOM_SHUFFLE_PARAMS_INIT;
    sp.key_width = j->p.key_width;
    sp.value_width = s ? j->p.right_value_width : j->p.left_value_width;
    sp.hash_seed = j->p.hash_seed;
    sp.mem_bytes = j->p.mem_bytes;
    sp.tmpdir = j->p.tmpdir;
    sp.timeout_sec = j->p.timeout_sec;
    loom_shuffle_t *sh = loom_shuffle_create (j->comm, &sp, error);
    if (!sh)
        return -1;
    const struct join_buf *in = &j->side[s];
    const uint8_t *p = in->data, *end = p + in->len;
    while (p < end) {
        uint32_t kl, vl;
        memcpy (&kl, p, 4);
        memcpy (&vl, p + 4, 4);
        if (loom_shuffle_put (sh, p + 8, kl, p + 8 + kl, vl, error) < 0)
            goto error;
        p += 8 + (size_t)kl + vl;
    }
    /* Our own copy is no longer needed: free it before the receive grows. */
    join_buf_free (&j->side[s]);
    if (loom_shuffle_finish (sh, error) < 0)
        goto error;
    struct loom_record rec;
    int rc;
    while ((rc = loom_shuffle_next (sh, &rec, error)) == 1)
        if (join_buf_add (out, rec.key, rec.key_len, rec.value, rec.value_len) < 0) {
            loom_errprintf (error, "join: out of memory receiving the %s side",
                            s ? "right" : "left");
            goto error;
        }
    if (rc < 0)
        goto error;
    loom_shuffle_destroy (sh);
    return 0;
error:
    loom_shuffle_destroy (sh);
    return -1;
}

/* Gather side 's' of all ranks on rank 0 and share it with every node. */
static loom_shared_t *broadcast (loom_join_t *j, int s, loom_error_t *error)
{
    int size = loom_comm_size (j->comm), rank = loom_comm_rank (j->comm);
    MPI_Comm mc = loom_comm_mpi (j->comm);
    uint64_t *lens = malloc ((size_t)size * sizeof (*lens));
    int *cnt = malloc ((size_t)size * sizeof (*cnt));
    int *disp = malloc ((size_t)size * sizeof (*disp));
    uint8_t *all = NULL;
    loom_shared_t *sh = NULL;
    if (!lens || !cnt || !disp) {
        loom_errprintf (error, "join: out of memory");
        goto done;
    }
    if (loom_comm_allgather_u64 (j->comm, j->side[s].len, lens, error) < 0)
        goto done;
    uint64_t total = 0;
    for (int r = 0; r < size; r++) {
        disp[r] = (int)total;
        cnt[r] = (int)lens[r];
        total += lens[r];
    }
    if (total > INT_MAX) { /* every rank sees the same total: all fail alike */
        errno = E2BIG;
        loom_errprintf (error, "join: broadcast side of %llu B above 2 GiB",
                        (unsigned long long)total);
        goto done;
    }
    if (rank == 0 && !(all = malloc (total ? total : 1))) {
        loom_errprintf (error, "join: out of memory gathering %llu B",
                        (unsigned long long)total);
        MPI_Abort (mc, 1); /* the others would wait for the gather forever */
    }
    int erc = MPI_Gatherv (j->side[s].data, (int)j->side[s].len, MPI_BYTE, all, cnt,
                           disp, MPI_BYTE, 0, mc);
    if (erc != MPI_SUCCESS) {
        errno = EIO;
        loom_errprintf (error, "join: gathering the broadcast side failed");
        goto done;
    }
    struct loom_bcast_params bp = LOOM_BCAST_PARAMS_INIT;
    bp.timeout_sec = j->p.timeout_sec;
    sh = loom_bcast_shared (j->comm, all, total, 0, &bp, error);
done:
    free (lens);
    free (cnt);
    free (disp);
    free (all);
    return sh;
}

int loom_join_run (loom_join_t *j,
                   loom_join_emit_f emit,
                   void *arg,
                   loom_error_t *error)
{
    if (!j || !emit || j->ran) {
        errno = EINVAL;
        return loom_errprintf (error, "join: %s",
                               j && j->ran ? "ran already" : "join or emit is NULL");
    }
    j->ran = 1;
    struct loom_join_stats *st = &j->st;
    uint64_t counts[4] = {j->side[0].n, j->side[1].n, j->side[0].len, j->side[1].len};
    if (loom_comm_allreduce_u64 (j->comm, counts, 4, LOOM_OP_SUM, error) < 0)
        return -1;
    st->left_total = counts[0];
    st->right_total = counts[1];
    st->left_bytes_total = counts[2];
    st->right_bytes_total = counts[3];
    int bleft = 0;
    st->strategy = choose (j, &bleft);
    st->broadcast_left = st->strategy == LOOM_JOIN_BROADCAST && bleft;
    if (loom_comm_rank (j->comm) == 0)
        loom_info (
            "join: %s%s (%s; left %llu tuples %llu B, right %llu tuples %llu B)",
            loom_join_strategy_name (st->strategy),
            st->strategy == LOOM_JOIN_BROADCAST
                ? (st->broadcast_left ? " of the left side" : " of the right side")
                : "",
            st->reason, (unsigned long long)counts[0], (unsigned long long)counts[2],
            (unsigned long long)counts[1], (unsigned long long)counts[3]);
    int rc = -1;
    if (st->strategy == LOOM_JOIN_REPARTITION) {
        struct join_buf got[2] = {{0}};
        if (repartition (j, 0, &got[0], error) == 0
            && repartition (j, 1, &got[1], error) == 0) {
            rc = join_local (j->p.kind, &got[0], 1, &got[1], 1, 0, j->p.hash_seed ^ 1,
                             emit, arg, &st->results);
            if (rc < 0)
                loom_errprintf (error, "join: local join: %s", strerror (errno));
        }
        join_buf_free (&got[0]);
        join_buf_free (&got[1]);
        return rc;
    }
    int bs = st->broadcast_left ? 0 : 1; /* the side that is broadcast */
    loom_shared_t *sh = broadcast (j, bs, error);
    if (!sh)
        return -1;
    struct join_buf shared = {.data = (uint8_t *)loom_shared_data (sh),
                              .len = loom_shared_size (sh),
                              .n = bs ? st->right_total : st->left_total};
    /* The local side probes; the shared copy is the build side. With the left
     * side broadcast (inner only) the roles swap.
     */
    rc = join_local (j->p.kind, &j->side[1 - bs], 1, &shared, 1, bs == 0,
                     j->p.hash_seed ^ 1, emit, arg, &st->results);
    if (rc < 0)
        loom_errprintf (error, "join: local join: %s", strerror (errno));
    int saved = errno;
    loom_shared_destroy (sh);
    errno = saved;
    return rc;
}
