/* SPDX-License-Identifier: MIT */
/* Distributed join: the API, buffering of the puts, the count exchange and the
 * choice of the strategy. The exchanges are join_exchange.c, the local join
 * join_local.c, its spill join_grace.c, the heavy hitters join_skew.c, the output
 * helpers join_output.c.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/error.h>
#include <loom/log.h>

#include "join_impl.h"

#define MIN_MEM (256u << 10)

const char *loom_join_strategy_name (loom_join_strategy_t s)
{
    switch (s) {
    case LOOM_JOIN_AUTO:
        return "auto";
    case LOOM_JOIN_REPARTITION:
        return "repartition";
    case LOOM_JOIN_BROADCAST:
        return "broadcast";
    case LOOM_JOIN_HYBRID:
        return "hybrid";
    }
    return "unknown";
}

int loom_join_strategy_parse (const char *name, loom_join_strategy_t *s)
{
    for (int i = LOOM_JOIN_AUTO; name && i <= LOOM_JOIN_HYBRID; i++)
        if (strcmp (name, loom_join_strategy_name (i)) == 0) {
            *s = i;
            return 0;
        }
    errno = EINVAL;
    return -1;
}

int loom_join_kind_parse (const char *name, loom_join_kind_t *kind)
{
    static const struct {
        const char *name;
        loom_join_kind_t kind;
    } t[] = {{"inner", LOOM_JOIN_INNER},
             {"left", LOOM_JOIN_LEFT_OUTER},
             {"left-outer", LOOM_JOIN_LEFT_OUTER},
             {"semi", LOOM_JOIN_SEMI},
             {"anti", LOOM_JOIN_ANTI}};
    for (size_t i = 0; name && i < sizeof (t) / sizeof (t[0]); i++)
        if (strcmp (name, t[i].name) == 0) {
            *kind = t[i].kind;
            return 0;
        }
    errno = EINVAL;
    return -1;
}

loom_join_t *loom_join_create (loom_comm_t *comm,
                               const struct loom_join_params *params,
                               loom_error_t *error)
{
    struct loom_join_params def = LOOM_JOIN_PARAMS_INIT;
    if (!params)
        params = &def;
    if (!comm) {
        loom_errset (error, EINVAL, "join: comm is NULL");
        return NULL;
    }
    if ((unsigned)params->kind > LOOM_JOIN_ANTI) {
        loom_errset (error, EINVAL, "join: bad kind %d", (int)params->kind);
        return NULL;
    }
    if ((unsigned)params->strategy > LOOM_JOIN_HYBRID) {
        loom_errset (error, EINVAL, "join: bad strategy %d", (int)params->strategy);
        return NULL;
    }
    if (params->mem_bytes < MIN_MEM) {
        loom_errset (error, EINVAL, "join: mem_bytes below 256 KiB");
        return NULL;
    }
    size_t vw[2] = {params->left_value_width, params->right_value_width};
    for (int s = 0; s < 2; s++)
        if (params->key_width == 0 && vw[s] == 0) {
            loom_errset (error, EINVAL,
                         "join: key_width and %s_value_width are both 0 (tuples of "
                         "zero bytes)",
                         s ? "right" : "left");
            return NULL;
        }
    loom_join_t *j = calloc (1, sizeof (*j));
    if (!j) {
        loom_errset (error, ENOMEM, "join: out of memory");
        return NULL;
    }
    j->comm = comm;
    j->p = *params;
    for (int s = 0; s < 2; s++)
        loom__shape_init (&j->shape[s], params->key_width, vw[s]);
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
    const struct loom__shape *sh = &j->shape[s];
    if (j->ran)
        return loom_errset (error, EINVAL, "join: put after loom_join_run()");
    if ((!sh->kvar && klen != sh->kw) || (!sh->vvar && vlen != sh->vw))
        return loom_errset (error, EINVAL,
                            "join: %s tuple of %zu+%zu bytes, widths are fixed",
                            s ? "right" : "left", klen, vlen);
    if ((!key && klen) || (!val && vlen))
        return loom_errset (error, EINVAL, "join: NULL key or value with a length");
    if (join_buf_add (&j->side[s], sh, key, klen, val, vlen) < 0)
        return loom_errset (error, errno, "join: %s", strerror (errno));
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

static int
put_fixed (loom_join_t *j, int s, const void *data, size_t n, loom_error_t *error)
{
    size_t fs = j->shape[s].fixed_size;
    if (j->ran)
        return loom_errset (error, EINVAL, "join: put after loom_join_run()");
    if (!fs)
        return loom_errset (error, EINVAL,
                            "join: loom_join_put_fixed_%s needs fixed key and value "
                            "widths",
                            s ? "right" : "left");
    if (n && !data)
        return loom_errset (error, EINVAL, "join: data is NULL");
    if (n > SIZE_MAX / fs || join_buf_append (&j->side[s], data, n * fs, n) < 0)
        return loom_errset (error, ENOMEM, "join: out of memory");
    return 0;
}

int loom_join_put_fixed_left (loom_join_t *j,
                              const void *data,
                              size_t n,
                              loom_error_t *error)
{
    return put_fixed (j, 0, data, n, error);
}

int loom_join_put_fixed_right (loom_join_t *j,
                               const void *data,
                               size_t n,
                               loom_error_t *error)
{
    return put_fixed (j, 1, data, n, error);
}

void loom_join_stats (const loom_join_t *j, struct loom_join_stats *st)
{
    *st = j->st;
}

/* ---- choosing ------------------------------------------------------------------ */

/* Strategy from the global sizes and the hot keys. Per node, a broadcast moves the
 * small side once (|small| bytes in, held once) while a repartition moves
 * (|L| + |R|) * (P-1) / P bytes over all ranks, i.e. about (|L| + |R|) / nnodes per
 * node. Broadcast when that is cheaper and the small side fits the limit; otherwise
 * repartition, or the hybrid when hot keys would load one rank well above the mean.
 */
static loom_join_strategy_t
choose (loom_join_t *j, const struct join_hot *hot, int *bleft)
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
    switch (j->p.strategy) {
    case LOOM_JOIN_BROADCAST:
    case LOOM_JOIN_REPARTITION:
    case LOOM_JOIN_HYBRID:
        snprintf (st->reason, sizeof (st->reason), "%s requested",
                  loom_join_strategy_name (j->p.strategy));
        return j->p.strategy;
    case LOOM_JOIN_AUTO:
        break;
    }
    if (size == 1) {
        snprintf (st->reason, sizeof (st->reason), "one rank: no exchange needed");
        return LOOM_JOIN_BROADCAST;
    }
    double repart = (double)(lb + rb) * (size - 1) / size / nnodes;
    if (small <= limit && (double)small < repart) {
        snprintf (st->reason, sizeof (st->reason),
                  "broadcast %llu B per node < repartition ~%.0f B per node",
                  (unsigned long long)small, repart);
        return LOOM_JOIN_BROADCAST;
    }
    char why[100];
    if (small > limit)
        snprintf (why, sizeof (why), "%s side %llu B above the broadcast limit %llu B",
                  *bleft ? "left" : "right", (unsigned long long)small,
                  (unsigned long long)limit);
    else
        snprintf (why, sizeof (why), "repartition ~%.0f B per node <= broadcast %llu B",
                  repart, (unsigned long long)small);
    /* A plain repartition sends every tuple of a key to one rank: with hot keys the
     * busiest rank joins st->imbalance times the mean.
     */
    if (join_hot_count (hot) && join_hot_imbalance (hot) > 1.25) {
        snprintf (st->reason, sizeof (st->reason),
                  "%s; %u hot keys hold %.0f%% of the tuples, repartition would give "
                  "a rank %.2fx the mean",
                  why, join_hot_count (hot), 100 * join_hot_share (hot),
                  join_hot_imbalance (hot));
        return LOOM_JOIN_HYBRID;
    }
    snprintf (st->reason, sizeof (st->reason), "%s; predicted imbalance %.2fx", why,
              join_hot_imbalance (hot));
    return LOOM_JOIN_REPARTITION;
}

int loom_join_run (loom_join_t *j,
                   loom_join_emit_f emit,
                   void *arg,
                   loom_error_t *error)
{
    if (!j || !emit || j->ran)
        return loom_errset (error, EINVAL, "join: %s",
                            j && j->ran ? "ran already" : "join or emit is NULL");
    j->ran = 1;
    struct loom_join_stats *st = &j->st;
    uint64_t counts[4] = {j->side[0].n, j->side[1].n, j->side[0].len, j->side[1].len};
    if (loom_comm_allreduce_u64 (j->comm, counts, 4, LOOM_OP_SUM, error) < 0)
        return -1;
    st->left_total = counts[0];
    st->right_total = counts[1];
    st->left_bytes_total = counts[2];
    st->right_bytes_total = counts[3];
    st->imbalance = 1.0;
    int size = loom_comm_size (j->comm);
    struct join_hot *hot = NULL;
    if (size > 1
        && (j->p.strategy == LOOM_JOIN_AUTO || j->p.strategy == LOOM_JOIN_HYBRID)) {
        struct join_hot_params hp = {
            .side = {&j->side[0], &j->side[1]},
            .shape = {&j->shape[0], &j->shape[1]},
            .total = {counts[0], counts[1]},
            /* A key is hot when it alone is an eighth of a rank's fair share. */
            .min_share = 1.0 / (8.0 * size),
            .max_keys = 1024,
            .samples = 1024,
            .hash_seed = j->p.hash_seed,
            .timeout_sec = j->p.timeout_sec,
        };
        if (!(hot = join_hot_find (j->comm, &hp, error)))
            return -1;
        st->hot_keys = join_hot_count (hot);
        st->hot_share = join_hot_share (hot);
        st->imbalance = join_hot_imbalance (hot);
    }
    int bleft = 0;
    st->strategy = choose (j, hot, &bleft);
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
    struct join_local_params lp = {.kind = j->p.kind,
                                   .swap = 0,
                                   .seed = j->p.hash_seed ^ 1,
                                   .emit = emit,
                                   .arg = arg};
    int rc;
    if (st->strategy == LOOM_JOIN_BROADCAST)
        rc = join_run_broadcast (j, &lp, error);
    else
        rc = join_run_repartition (
            j, &lp,
            st->strategy == LOOM_JOIN_HYBRID && join_hot_count (hot) ? hot : NULL,
            error);
    join_hot_destroy (hot);
    return rc;
}

const struct loom_join_params *join__params (const loom_join_t *j)
{
    return &j->p;
}
