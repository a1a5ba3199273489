/* SPDX-License-Identifier: MIT */
/* xxh64 compiled into the caller, for the per-record loops of the fixed-width path.
 * It is the function loom_hash64() (loom/hash.h) calls in the shared libxxhash: xxh64
 * is specified bit for bit, so both give the same hash and the same partition, and
 * records still land where datasets expect them. Inlined, a 10-byte key hashes in a
 * few instructions instead of a call through the PLT.
 *
 * loom__xxh64_short() is xxh64 for keys under 32 bytes written out (the spec's
 * "short input" path: seed + PRIME64_5 + len, then the tail of common/xxh64_core.h).
 * Libxxhash's XXH64() is too large to inline and branches on the length; called with a
 * constant length this one compiles to straight-line code the out-of-order core
 * overlaps across the records of a block, which halved the hashing time of the uniform
 * shuffle (10-byte keys). tests/unit/test_comm_hash.c checks it against XXH64() for
 * every length 0..31 and many seeds.
 */
#ifndef LOOM_LIBCOMM_HASH_INLINE_H
#define LOOM_LIBCOMM_HASH_INLINE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "../common/xxh64_core.h"

static inline uint64_t loom__hash64_inline (const void *data, size_t len, uint64_t seed)
{
    static const char empty[1];
    return XXH64 (len ? data : empty, len, seed);
}

/* xxh64 of 'len' (< 32) bytes at 'p': the spec's short-input path. */
static inline __attribute__ ((always_inline)) uint64_t
loom__xxh64_short (const unsigned char *p, size_t len, uint64_t seed)
{
    return loom__xxh_tail (seed + LOOM__XXH_P5 + (uint64_t)len, p, len);
}

#endif
