/* SPDX-License-Identifier: MIT */
/* xxh64 compiled into the caller, for the per-record loops of the fixed-width path.
 * It is the function loom_hash64() (loom/hash.h) calls in the shared libxxhash: xxh64
 * is specified bit for bit, so both give the same hash and the same partition, and
 * records still land where datasets expect them. Inlined, a 10-byte key hashes in a
 * few instructions instead of a call through the PLT.
 */
#ifndef LOOM_LIBCOMM_HASH_INLINE_H
#define LOOM_LIBCOMM_HASH_INLINE_H

#include <stddef.h>
#include <stdint.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

static inline uint64_t loom__hash64_inline (const void *data, size_t len, uint64_t seed)
{
    static const char empty[1];
    return XXH64 (len ? data : empty, len, seed);
}

#endif
