/* SPDX-License-Identifier: MIT */
/* Hashing shared by every component that must agree on where a key lives.
 *
 * The hash partitioner of libcomm and of datasets is loom_hash_partition(): xxh64 of
 * the key bytes with the dataset's seed, reduced to a partition by the multiply-shift
 * method (unbiased, no division). Never change it without a dataset format version
 * bump.
 */
#ifndef LOOM_HASH_H
#define LOOM_HASH_H

#include <loom/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* xxh64 of 'len' bytes at 'data' with 'seed'. 'data' may be NULL when len is 0.
 * This function can't fail.
 */
LOOM_API uint64_t loom_hash64 (const void *data, size_t len, uint64_t seed);

/* Map a 64-bit hash to a partition in [0, nparts). nparts must be > 0. */
static inline uint32_t loom_hash_to_partition (uint64_t hash, uint32_t nparts)
{
    return (uint32_t)(((unsigned __int128)hash * nparts) >> 64);
}

/* The partition of a key under the hash partitioner with 'seed'. */
static inline uint32_t
loom_hash_partition (const void *key, size_t len, uint64_t seed, uint32_t nparts)
{
    return loom_hash_to_partition (loom_hash64 (key, len, seed), nparts);
}

/* Streaming xxh64, for checksums over data that arrives in pieces. */
typedef struct loom_hash_state loom_hash_state_t;

/* Returns a new state, or NULL with errno ENOMEM. Free with loom_hash_state_destroy().
 */
LOOM_API loom_hash_state_t *loom_hash_state_create (uint64_t seed);
LOOM_API void
loom_hash_state_update (loom_hash_state_t *st, const void *data, size_t len);
LOOM_API uint64_t loom_hash_state_digest (const loom_hash_state_t *st);
LOOM_API void loom_hash_state_destroy (loom_hash_state_t *st);

#ifdef __cplusplus
}
#endif
#endif
