/* SPDX-License-Identifier: MIT */
/* Aggregators and the per-superstep reduction.
 *
 * Each rank folds its vertices' contributions into a partial; at the end of the
 * superstep every rank gathers all partials (and the superstep's counters) in one
 * allgather and folds them in rank order. Every rank computes the same bytes, so the
 * master hook, which runs everywhere, sees identical inputs everywhere.
 */
#include <errno.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include <loom/error.h>

#include "internal.h"

void pregel_agg_identity (const struct pregel_aggregator *a, void *out)
{
    memset (out, 0, a->size);
    if (a->op == LOOM_PREGEL_MIN || a->op == LOOM_PREGEL_MAX) {
        int max = a->op == LOOM_PREGEL_MIN; /* MIN starts at the largest value */
        if (a->type == LOOM_PREGEL_F64) {
            double d = max ? DBL_MAX : -DBL_MAX;
            memcpy (out, &d, 8);
        } else if (a->type == LOOM_PREGEL_I64) {
            int64_t i = max ? INT64_MAX : INT64_MIN;
            memcpy (out, &i, 8);
        } else if (a->type == LOOM_PREGEL_U64) {
            uint64_t u = max ? UINT64_MAX : 0;
            memcpy (out, &u, 8);
        }
    }
}

void pregel_agg_fold (const struct pregel_aggregator *a,
                      void *acc,
                      const void *in,
                      void *arg)
{
    if (a->op == LOOM_PREGEL_USER) {
        a->combine (acc, in, arg);
        return;
    }
#define FOLD(T)                                                                        \
    do {                                                                               \
        T x, y;                                                                        \
        memcpy (&x, acc, 8);                                                           \
        memcpy (&y, in, 8);                                                            \
        if (a->op == LOOM_PREGEL_SUM)                                                  \
            x = (T)(x + y);                                                            \
        else if (a->op == LOOM_PREGEL_MIN)                                             \
            x = y < x ? y : x;                                                         \
        else                                                                           \
            x = y > x ? y : x;                                                         \
        memcpy (acc, &x, 8);                                                           \
    } while (0)
    switch (a->type) {
    case LOOM_PREGEL_F64:
        FOLD (double);
        break;
    case LOOM_PREGEL_I64: {
        /* Signed overflow of a sum would be undefined: add as unsigned. */
        if (a->op == LOOM_PREGEL_SUM) {
            uint64_t x, y;
            memcpy (&x, acc, 8);
            memcpy (&y, in, 8);
            x += y;
            memcpy (acc, &x, 8);
        } else {
            FOLD (int64_t);
        }
        break;
    }
    case LOOM_PREGEL_U64:
        FOLD (uint64_t);
        break;
    case LOOM_PREGEL_BYTES:
        break;
    }
#undef FOLD
}

int loom_pregel_add_aggregator (loom_pregel_t *job,
                                loom_pregel_op_t op,
                                loom_pregel_type_t type,
                                size_t size,
                                loom_pregel_combine_f combine,
                                loom_error_t *error)
{
    if (!job)
        return loom_errset (error, EINVAL, "no job");
    if (op == LOOM_PREGEL_USER) {
        if (!combine || size == 0 || size > 4096)
            return loom_errset (error, EINVAL,
                                "a user aggregator needs a combine function and a size "
                                "of 1..4096 bytes");
    } else if (op == LOOM_PREGEL_SUM || op == LOOM_PREGEL_MIN
               || op == LOOM_PREGEL_MAX) {
        if (type != LOOM_PREGEL_F64 && type != LOOM_PREGEL_I64
            && type != LOOM_PREGEL_U64)
            return loom_errset (error, EINVAL,
                                "sum/min/max aggregators need a numeric type");
        if (size != 8)
            return loom_errset (error, EINVAL, "numeric aggregators have size 8");
    } else {
        return loom_errset (error, EINVAL, "unknown aggregator operation %d", (int)op);
    }
    struct pregel_aggregator *aggs =
        realloc (job->aggs, (job->naggs + 1) * sizeof (*aggs));
    if (!aggs)
        return loom_errset (error, ENOMEM, "out of memory");
    job->aggs = aggs;
    struct pregel_aggregator *a = &aggs[job->naggs];
    memset (a, 0, sizeof (*a));
    a->op = op;
    a->type = type;
    a->size = size;
    a->combine = combine;
    a->partial = malloc (size);
    a->value = malloc (size);
    if (!a->partial || !a->value) {
        free (a->partial);
        free (a->value);
        return loom_errset (error, ENOMEM, "out of memory");
    }
    pregel_agg_identity (a, a->partial);
    pregel_agg_identity (a, a->value);
    return (int)job->naggs++;
}

int pregel_reduce (struct loom_pregel *job,
                   uint64_t *counts,
                   size_t ncounts,
                   loom_error_t *error)
{
    size_t blob = ncounts * 8;
    for (size_t i = 0; i < job->naggs; i++)
        blob += job->aggs[i].size;
    int size = job->g->size;
    uint8_t *mine = malloc (blob), *all = malloc (blob * (size_t)size);
    if (!mine || !all) {
        free (mine);
        free (all);
        return loom_errset (error, ENOMEM, "out of memory reducing aggregators");
    }
    memcpy (mine, counts, ncounts * 8);
    size_t at = ncounts * 8;
    for (size_t i = 0; i < job->naggs; i++) {
        memcpy (mine + at, job->aggs[i].partial, job->aggs[i].size);
        at += job->aggs[i].size;
    }
    /* A small allgather of control data that libcomm does not wrap (its collectives
     * reduce only u64/f64 arrays with built-in ops, and user aggregators need their
     * own fold in a fixed order).
     */
    int rc = MPI_Allgather (mine, (int)blob, MPI_BYTE, all, (int)blob, MPI_BYTE,
                            loom_comm_mpi (job->g->comm));
    free (mine);
    if (rc != MPI_SUCCESS) {
        free (all);
        return loom_errset (error, EIO, "superstep reduction failed (MPI error %d)",
                            rc);
    }
    memset (counts, 0, ncounts * 8);
    for (int r = 0; r < size; r++) {
        const uint8_t *p = all + (size_t)r * blob;
        for (size_t c = 0; c < ncounts; c++) {
            uint64_t x;
            memcpy (&x, p + c * 8, 8);
            counts[c] += x;
        }
    }
    at = ncounts * 8;
    for (size_t i = 0; i < job->naggs; i++) {
        struct pregel_aggregator *a = &job->aggs[i];
        pregel_agg_identity (a, a->value);
        for (int r = 0; r < size; r++)
            pregel_agg_fold (a, a->value, all + (size_t)r * blob + at, job->prog.arg);
        pregel_agg_identity (a, a->partial);
        at += a->size;
    }
    free (all);
    return 0;
}
