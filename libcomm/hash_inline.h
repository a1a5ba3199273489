/* SPDX-License-Identifier: MIT */
/* xxh64 compiled into the caller, for the per-record loops of the fixed-width path.
 * It is the function loom_hash64() (loom/hash.h) calls in the shared libxxhash: xxh64
 * is specified bit for bit, so both give the same hash and the same partition, and
 * records still land where datasets expect them. Inlined, a 10-byte key hashes in a
 * few instructions instead of a call through the PLT.
 *
 * loom__xxh64_short() is xxh64 for keys under 32 bytes written out (the spec's
 * "short input" path: seed + PRIME64_5 + len, then 8-, 4- and 1-byte steps, then the
 * avalanche). Libxxhash's XXH64() is too large to inline and branches on the length;
 * called with a constant length this one compiles to straight-line code the
 * out-of-order core overlaps across the records of a block, which halved the hashing
 * time of the uniform shuffle (10-byte keys). tests/unit/test_hash_inline.c checks it
 * against XXH64() for every length 0..31 and many seeds.
 */
#ifndef LOOM_LIBCOMM_HASH_INLINE_H
#define LOOM_LIBCOMM_HASH_INLINE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

static inline uint64_t loom__hash64_inline (const void *data, size_t len, uint64_t seed)
{
    static const char empty[1];
    return XXH64 (len ? data : empty, len, seed);
}

#define LOOM__P64_1 0x9E3779B185EBCA87ULL
#define LOOM__P64_2 0xC2B2AE3D27D4EB4FULL
#define LOOM__P64_3 0x165667B19E3779F9ULL
#define LOOM__P64_4 0x85EBCA77C2B2AE63ULL
#define LOOM__P64_5 0x27D4EB2F165667C5ULL

static inline uint64_t loom__rotl64 (uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* xxh64 of 'len' (< 32) bytes at 'p', little-endian hosts (as the rest of Loom). */
static inline __attribute__ ((always_inline)) uint64_t
loom__xxh64_short (const unsigned char *p, size_t len, uint64_t seed)
{
    uint64_t h = seed + LOOM__P64_5 + (uint64_t)len;
    size_t n = len;
    while (n >= 8) {
        uint64_t k;
        memcpy (&k, p, 8);
        k *= LOOM__P64_2;
        k = loom__rotl64 (k, 31) * LOOM__P64_1;
        h ^= k;
        h = loom__rotl64 (h, 27) * LOOM__P64_1 + LOOM__P64_4;
        p += 8;
        n -= 8;
    }
    if (n >= 4) {
        uint32_t k;
        memcpy (&k, p, 4);
        h ^= (uint64_t)k * LOOM__P64_1;
        h = loom__rotl64 (h, 23) * LOOM__P64_2 + LOOM__P64_3;
        p += 4;
        n -= 4;
    }
    while (n > 0) {
        h ^= (uint64_t)*p * LOOM__P64_5;
        h = loom__rotl64 (h, 11) * LOOM__P64_1;
        p++;
        n--;
    }
    h ^= h >> 33;
    h *= LOOM__P64_2;
    h ^= h >> 29;
    h *= LOOM__P64_3;
    h ^= h >> 32;
    return h;
}

#endif
