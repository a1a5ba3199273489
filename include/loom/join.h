/* SPDX-License-Identifier: MIT */
/* Distributed equi-join of two record sets ("left" and "right") on a key, over a
 * loom_comm_t.
 *
 * Each rank puts its share of both sides, then loom_join_run() (collective) exchanges
 * the sizes, picks a strategy and delivers every result tuple exactly once, on some
 * rank, through a callback:
 *   - repartition: both sides are shuffled by the hash of the key (loom_shuffle), so
 *     equal keys meet on one rank;
 *   - broadcast: the small side is gathered and sent with loom_bcast_shared() (one
 *     copy per node) and the big side stays where it is;
 *   - auto: chooses from the global sizes known after the count exchange and logs
 *     the choice and the reason (loom_info).
 * The local join is a radix-partitioned hash join (partitions sized to the cache).
 * Keys compare bytewise (memcmp of equal lengths).
 */
#ifndef LOOM_JOIN_H
#define LOOM_JOIN_H

#include <loom/comm.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct loom_join loom_join_t;

typedef enum {
    LOOM_JOIN_INNER = 0,      /* every matching (left, right) pair */
    LOOM_JOIN_LEFT_OUTER = 1, /* inner, plus each unmatched left tuple with no right */
    LOOM_JOIN_SEMI = 2,       /* each left tuple that has a match, once */
    LOOM_JOIN_ANTI = 3,       /* each left tuple that has no match */
} loom_join_kind_t;

typedef enum {
    LOOM_JOIN_AUTO = 0,
    LOOM_JOIN_REPARTITION = 1,
    /* Broadcast the right side (any kind) or, for inner joins only, the left side,
     * whichever is smaller. Outer, semi and anti joins always broadcast the right
     * side, since each left tuple must be judged on exactly one rank.
     */
    LOOM_JOIN_BROADCAST = 2,
} loom_join_strategy_t;

struct loom_join_params {
    loom_join_kind_t kind;
    loom_join_strategy_t strategy;
    /* Record shapes: widths in bytes or LOOM_VARLEN (as in the shuffle). Fixed widths
     * take the shuffle's packed fast path. Lengths are limited to 4 GiB - 1.
     */
    size_t key_width;
    size_t left_value_width;
    size_t right_value_width;
    uint64_t hash_seed; /* placement of the repartition shuffle */
    /* Auto: never broadcast a side larger than this many bytes in total (it is held
     * once per node). 0: mem_bytes / 4.
     */
    uint64_t broadcast_max_bytes;
    /* Budget of the shuffles' buffers per rank (they spill beyond it). */
    uint64_t mem_bytes;
    const char *tmpdir; /* spill directory of the shuffles (NULL: default) */
    double timeout_sec; /* collectives (0: the communicator's) */
};

#define LOOM_JOIN_PARAMS_INIT                                                          \
    {                                                                                  \
        .kind = LOOM_JOIN_INNER, .strategy = LOOM_JOIN_AUTO, .key_width = LOOM_VARLEN, \
        .left_value_width = LOOM_VARLEN, .right_value_width = LOOM_VARLEN,             \
        .hash_seed = 0, .broadcast_max_bytes = 0, .mem_bytes = 256u << 20,             \
        .tmpdir = NULL, .timeout_sec = 0.0,                                            \
    }

/* One result tuple. 'key' is the join key; 'left' is the left tuple's value; 'right'
 * is the matching right value, or NULL (right_len 0) for an unmatched left tuple of a
 * left outer join and for semi and anti joins. Pointers are valid during the call
 * only. Return 0 to go on; non-zero stops the join, which then fails with errno set
 * by the callback (ECANCELED if it left errno 0).
 */
typedef int (*loom_join_emit_f) (const void *key,
                                 size_t key_len,
                                 const void *left,
                                 size_t left_len,
                                 const void *right,
                                 size_t right_len,
                                 void *arg);

/* Create a join over 'comm' (borrowed, must outlive the join) with 'params'
 * (copied). Not collective. Returns a handle, or NULL with errno set (EINVAL: bad
 * params, 'error' names the field; ENOMEM).
 */
LOOM_API loom_join_t *loom_join_create (loom_comm_t *comm,
                                        const struct loom_join_params *params,
                                        loom_error_t *error);

/* Free the join and everything it holds. Accepts NULL, preserves errno. */
LOOM_API void loom_join_destroy (loom_join_t *j);

/* Add one tuple of this rank's share of the left (right) side. Key and value are
 * copied. Returns 0, or -1 with errno set (EINVAL: a length differs from a fixed
 * width, or the join already ran; ENOMEM).
 */
LOOM_API int loom_join_put_left (loom_join_t *j,
                                 const void *key,
                                 size_t key_len,
                                 const void *value,
                                 size_t value_len,
                                 loom_error_t *error);
LOOM_API int loom_join_put_right (loom_join_t *j,
                                  const void *key,
                                  size_t key_len,
                                  const void *value,
                                  size_t value_len,
                                  loom_error_t *error);

/* Run the join. Collective over the communicator (every rank calls it once, after
 * its puts). Calls 'emit' for every result tuple that lands on this rank. Returns 0,
 * or -1 with errno set (EINVAL: ran already or emit NULL; ENOMEM; ETIMEDOUT; EIO; the
 * errno of a failed emit). After a failure on one rank the others may fail with
 * ETIMEDOUT.
 */
LOOM_API int
loom_join_run (loom_join_t *j, loom_join_emit_f emit, void *arg, loom_error_t *error);

/* What the last run did (after loom_join_run()). Can't fail. */
struct loom_join_stats {
    loom_join_strategy_t strategy;    /* the strategy used (never AUTO) */
    int broadcast_left;               /* broadcast: 1 if the left side was broadcast */
    uint64_t left_total, right_total; /* tuples over all ranks */
    uint64_t left_bytes_total, right_bytes_total; /* encoded bytes over all ranks */
    uint64_t results;                             /* tuples emitted on this rank */
    char reason[160];                             /* why auto chose it */
};
LOOM_API void loom_join_stats (const loom_join_t *j, struct loom_join_stats *st);

/* Name of a strategy ("auto", "repartition", "broadcast"). Can't fail. */
LOOM_API const char *loom_join_strategy_name (loom_join_strategy_t s);

#ifdef __cplusplus
}
#endif

#endif
