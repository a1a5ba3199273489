/* SPDX-License-Identifier: MIT */
/* Internals of the join (libcomm/join*.c). Not installed.
 *
 *   join.c        puts, the count exchange, the choice of the strategy, the run
 *   join_skew.c   heavy-hitter keys from samples, for the hybrid strategy
 *   join_local.c  the radix-partitioned local hash join
 *   join_grace.c  grace-hash spill of the local join past the memory budget
 *   join_radix.c  the repartition of fixed-width tuples without the shuffle
 */
#ifndef LOOM_LIBCOMM_JOIN_IMPL_H
#define LOOM_LIBCOMM_JOIN_IMPL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <loom/hash.h>
#include <loom/join.h>

#include "shuffle_impl.h"

/* Tuples of one side on this rank, encoded as the shuffle encodes records
 * (loom__encode: packed key||value at fixed widths, a 4-byte length before each
 * variable part), so that received batches append with one memcpy and fixed-width
 * tuples go to the shuffle through loom_shuffle_put_fixed().
 */
struct join_buf {
    char *data;
    size_t len, cap;
    uint64_t n;
};

int join_buf_reserve (struct join_buf *b, size_t need);
int join_buf_add (struct join_buf *b,
                  const struct loom__shape *s,
                  const void *key,
                  size_t klen,
                  const void *val,
                  size_t vlen);
/* Append 'n' records already encoded ('len' bytes). */
int join_buf_append (struct join_buf *b, const void *data, size_t len, uint64_t n);
void join_buf_free (struct join_buf *b);

/* The join (join.c). */
struct loom_join {
    loom_comm_t *comm;
    struct loom_join_params p;
    struct loom__shape shape[2];
    struct join_buf side[2]; /* 0: left, 1: right (this rank's puts) */
    int ran;
    struct loom_join_stats st;
};

/* The exchanges and local joins of each strategy (join_exchange.c). Collective.
 * Return 0, or -1 with errno set and 'error' filled.
 */
struct join_local_params;
struct join_hot;
int join_run_broadcast (loom_join_t *j,
                        const struct join_local_params *lp,
                        loom_error_t *error);
int join_run_repartition (loom_join_t *j,
                          const struct join_local_params *lp,
                          const struct join_hot *hot,
                          loom_error_t *error);

/* The repartition of fixed-width tuples without the shuffle (join_radix.c):
 * scattered by rank and radix partition with one hash, exchanged, joined in place.
 * Collective. Returns 1 when joined; 0 when some rank would go past 'budget' (bytes
 * of local join footprint) or lacked memory: then j->side[] hold the tuples
 * (reordered) for the general path; -1 with errno set and 'error' filled.
 */
int join_radix_run (loom_join_t *j,
                    const struct join_local_params *lp,
                    uint64_t budget,
                    loom_error_t *error);

/* The same local join of fixed-width tuples on one rank: 'probe' against 'build'
 * (neither is changed), scattered by the placement hash's low bits and joined
 * partition by partition; results are added to j's stats. Returns 0, or -1 with
 * errno set (ENOMEM, or the emit's errno).
 */
int join_radix_local (loom_join_t *j,
                      const struct join_local_params *lp,
                      const struct join_buf *probe,
                      const struct loom__shape *ps,
                      const struct join_buf *build,
                      const struct loom__shape *bs);

/* The parameters 'j' was created with (join.c). Can't fail. */
const struct loom_join_params *join__params (const loom_join_t *j);

/* One side of a local join: buffers of records encoded with 'shape'. */
struct join_side {
    const struct join_buf *bufs;
    size_t nbufs;
    const struct loom__shape *shape;
};

struct join_local_params {
    loom_join_kind_t kind;
    /* The build side holds the left tuples and the probe side the right ones (an
     * inner join that builds on the left side): emit with the roles swapped back.
     */
    int swap;
    uint64_t seed;
    loom_join_emit_f emit;
    void *arg;
};

/* Emit one result: 'l' the probe tuple, 'r' the matching build tuple or NULL
 * (unmatched). Returns 0, or -1 with errno set (ECANCELED when the emit left none).
 */
static inline int join_call_emit (const struct join_local_params *p,
                                  const struct loom_record *l,
                                  const struct loom_record *r)
{
    int rc = p->swap ? p->emit (l->key, l->key_len, r->value, r->value_len, l->value,
                                l->value_len, p->arg)
                     : p->emit (l->key, l->key_len, l->value, l->value_len,
                                r ? r->value : NULL, r ? r->value_len : 0, p->arg);
    if (rc != 0) {
        if (errno == 0)
            errno = ECANCELED;
        return -1;
    }
    return 0;
}

/* Local join: 'probe' against 'build' with a radix-partitioned hash join; for
 * outer, semi and anti joins 'probe' is the left side. Returns 0, or -1 with errno
 * set (ENOMEM, or the emit's errno); adds the emitted tuples to '*results'.
 */
int join_local (const struct join_local_params *p,
                const struct join_side *probe,
                const struct join_side *build,
                uint64_t *results);

/* Bytes the local join needs for 'n' tuples of 'bytes' encoded bytes (the tuples
 * plus the partitioned copies or descriptors and the tables). Can't fail.
 */
uint64_t join_local_footprint (const struct loom__shape *s, uint64_t n, uint64_t bytes);

/* The hash the local join and the grace partitions use (the seed differs from the
 * placement's, so the bits are independent of the rank a tuple went to).
 */
static inline uint64_t join_hash (const void *key, size_t klen, uint64_t seed)
{
    seed ^= 0x6a6f696e6c6f63ULL;
    if (klen == 8) {
        /* 8-byte keys (the common case) take murmur3's finalizer, a bijection with
         * full avalanche, inline: XXH64 through the library costs ~6x more.
         */
        uint64_t x;
        memcpy (&x, key, 8);
        x ^= seed;
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdULL;
        x ^= x >> 33;
        x *= 0xc4ceb3fe1a85ec53ULL;
        x ^= x >> 33;
        return x;
    }
    return loom_hash64 (key, klen, seed);
}

/* Equal keys of length 'n'? */
static inline int join_key_eq (const void *a, const void *b, size_t n)
{
    if (n == 8) {
        uint64_t x, y;
        memcpy (&x, a, 8);
        memcpy (&y, b, 8);
        return x == y;
    }
    return memcmp (a, b, n) == 0;
}

/* Grace-hash spill: tuples of both sides scattered by hash into 'nparts' partition
 * pairs kept in spill files (unlinked at creation, so they vanish with the process
 * whatever happens), then joined one pair at a time.
 */
struct join_grace;
struct join_grace *join_grace_create (const struct loom__shape *shape[2],
                                      unsigned nparts,
                                      uint64_t seed,
                                      uint64_t budget,
                                      const char *tmpdir,
                                      loom_error_t *error);
/* Add 'n' encoded records of side 's' (0 left, 1 right). Returns 0 or -1. */
int join_grace_add (
    struct join_grace *g, int s, const char *data, size_t len, loom_error_t *error);
/* Join every pair (left probes, right builds). Returns 0 or -1 with errno set. */
int join_grace_run (struct join_grace *g,
                    const struct join_local_params *p,
                    uint64_t *results,
                    loom_error_t *error);
uint64_t join_grace_spilled (const struct join_grace *g); /* bytes written */
void join_grace_destroy (struct join_grace *g);

/* Heavy hitters (join_skew.c): keys that hold a large share of one side, found
 * from a sample of every rank's tuples gathered on every rank, so that every rank
 * reaches the same set.
 */
struct join_hot;
struct join_hot_params {
    const struct join_buf *side[2];
    const struct loom__shape *shape[2];
    uint64_t total[2];  /* tuples over all ranks */
    double min_share;   /* a key is hot above this share of its side */
    unsigned max_keys;  /* at most this many hot keys */
    unsigned samples;   /* per side and rank */
    uint64_t hash_seed; /* placement, to predict the load per rank */
    double timeout_sec;
};
/* Collective. Returns the set (possibly empty), or NULL with errno set. */
struct join_hot *
join_hot_find (loom_comm_t *comm, const struct join_hot_params *p, loom_error_t *error);
unsigned join_hot_count (const struct join_hot *h);
/* Side whose tuples of 'key' stay in place (0 left, 1 right), or -1 if the key
 * is not hot. Can't fail.
 */
int join_hot_lookup (const struct join_hot *h, const void *key, size_t klen);
/* Predicted load under a plain repartition: largest rank's tuples over the mean
 * (1.0: balanced). Can't fail.
 */
double join_hot_imbalance (const struct join_hot *h);
/* Estimated share of all tuples (both sides) that belong to hot keys. */
double join_hot_share (const struct join_hot *h);
void join_hot_destroy (struct join_hot *h);

#endif
