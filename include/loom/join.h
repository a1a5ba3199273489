/* SPDX-License-Identifier: MIT */
/* Distributed equi-join of two record sets ("left" and "right") on a key, over a
 * loom_comm_t.
 *
 * Each rank puts its share of both sides, then loom_join_run() (collective) exchanges
 * the sizes, picks a strategy and delivers every result tuple exactly once, on some
 * rank, through a callback (or into a shuffle: loom_join_run_shuffle()):
 *   - repartition: both sides are shuffled by the hash of the key (loom_shuffle), so
 *     equal keys meet on one rank;
 *   - broadcast: the small side is gathered and sent with loom_bcast_shared() (one
 *     copy per node) and the big side stays where it is;
 *   - hybrid (skew-aware): heavy-hitter keys are found from samples gathered with the
 *     count exchange; the tuples of a hot key on the side where it is heavy stay
 *     where they are, the other side's tuples of that key are broadcast to them, and
 *     everything else is repartitioned;
 *   - auto: chooses from the global sizes and the hot keys known after the count
 *     exchange and logs the choice and the reason (loom_info).
 * The local join is a radix-partitioned hash join (partitions sized to the cache);
 * past the memory budget it spills grace-hash partitions to local disk. Keys compare
 * bytewise (memcmp of equal lengths).
 *
 * Like comm.h (which it includes), this header needs mpi.h, so it is not part of the
 * loom/loom.h umbrella: include it directly and link loom::comm.
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
    /* Skew-aware: hot keys' tuples stay on the side where the key is heavy and meet
     * the other side's tuples of that key by broadcast; the rest is repartitioned.
     * With no hot key it is a repartition.
     */
    LOOM_JOIN_HYBRID = 3,
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
    /* Memory budget per rank: a quarter for the shuffles' buffers, the rest for the
     * tuples this rank joins and the local join's tables; beyond it the shuffles
     * spill and the local join spills grace-hash partitions to 'tmpdir'. The tuples
     * put on this rank are held in memory besides (they are the input). At least
     * 256 KiB.
     */
    uint64_t mem_bytes;
    /* Spill directory (NULL: $LOOM_TMPDIR, else $TMPDIR, else /tmp). Spill files are
     * unlinked as soon as they are created: nothing is left behind, whatever happens.
     */
    const char *tmpdir;
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

/* Add 'n' tuples packed as key||value (key_width + value_width bytes each) to the
 * left (right) side: the fast path, needing fixed widths. 'data' is copied. Returns
 * 0, or -1 with errno set (EINVAL: widths not fixed, or the join already ran;
 * ENOMEM).
 */
LOOM_API int loom_join_put_fixed_left (loom_join_t *j,
                                       const void *data,
                                       size_t n,
                                       loom_error_t *error);
LOOM_API int loom_join_put_fixed_right (loom_join_t *j,
                                        const void *data,
                                        size_t n,
                                        loom_error_t *error);

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

/* Run the join (as loom_join_run()) and put every result tuple into the shuffle
 * 'out' (created by the caller on every rank, not finished) as one record: the join
 * key, and the value loom_join_result_width() describes. The caller then finishes
 * 'out' and reads the records where its partitioner sent them: a record stream to
 * the next stage. Collective. Returns 0, or -1 with errno set as loom_join_run() or
 * loom_shuffle_put().
 */
LOOM_API int
loom_join_run_shuffle (loom_join_t *j, loom_shuffle_t *out, loom_error_t *error);

/* Width of the value of a result record of loom_join_run_shuffle(), or LOOM_VARLEN
 * when a value width is variable: the left value, then for inner and left outer
 * joins the right value (zeros when unmatched), then for left outer joins a 4-byte
 * int32 1 (matched) or 0 (unmatched). Semi and anti joins: the left value. Can't
 * fail.
 */
LOOM_API size_t loom_join_result_width (const struct loom_join_params *p);

/* The bytes loom_join_result_encode() writes for this tuple (right NULL: unmatched). */
LOOM_API size_t loom_join_result_size (const struct loom_join_params *p,
                                       size_t left_len,
                                       const void *right,
                                       size_t right_len);

/* Encode a result tuple as loom_join_result_width() describes into 'buf' (room for
 * loom_join_result_size() bytes; right NULL for unmatched). Returns the bytes
 * written. Fixed right widths are zero-filled when unmatched. Can't fail.
 */
LOOM_API size_t loom_join_result_encode (const struct loom_join_params *p,
                                         void *buf,
                                         const void *left,
                                         size_t left_len,
                                         const void *right,
                                         size_t right_len);

/* What the last run did (after loom_join_run()). Can't fail. */
struct loom_join_stats {
    loom_join_strategy_t strategy;    /* the strategy used (never AUTO) */
    int broadcast_left;               /* broadcast: 1 if the left side was broadcast */
    uint64_t left_total, right_total; /* tuples over all ranks */
    uint64_t left_bytes_total, right_bytes_total; /* encoded bytes over all ranks */
    uint64_t results;                             /* tuples emitted on this rank */
    uint32_t hot_keys;    /* heavy hitters found (auto and hybrid) */
    double hot_share;     /* estimated share of all tuples they hold */
    double imbalance;     /* predicted busiest rank / mean under repartition */
    uint64_t spill_bytes; /* written by this rank's local join (grace hash) */
    char reason[200];     /* why auto chose it */
};
LOOM_API void loom_join_stats (const loom_join_t *j, struct loom_join_stats *st);

/* Name of a strategy ("auto", "repartition", "broadcast", "hybrid"). Can't fail. */
LOOM_API const char *loom_join_strategy_name (loom_join_strategy_t s);

/* Parse names: kind "inner", "left" (or "left-outer"), "semi", "anti"; strategy as
 * loom_join_strategy_name(). Return 0, or -1 with errno EINVAL. Can't fail otherwise.
 */
LOOM_API int loom_join_kind_parse (const char *name, loom_join_kind_t *kind);
LOOM_API int loom_join_strategy_parse (const char *name, loom_join_strategy_t *s);

#ifdef __cplusplus
}
#endif

#endif
