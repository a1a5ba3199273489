/* SPDX-License-Identifier: MIT */
/* The pieces of xxHash's published XXH64 that Loom's own xxh64 loops share: the
 * primes, one lane round, the merge of a lane into the accumulator, and the tail (the
 * last 0-31 bytes in 8-, 4- and 1-byte steps, then the avalanche). Header-only and
 * inlined: libcomm's constant-length key hash (libcomm/hash_inline.h) and datasets'
 * copy-while-hash streams (datasets/xxh64_streams.c) both compile it into their loops.
 * Both are tested bit for bit against libxxhash's XXH64().
 */
#ifndef LOOM_COMMON_XXH64_CORE_H
#define LOOM_COMMON_XXH64_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define LOOM__XXH_P1 0x9E3779B185EBCA87ULL
#define LOOM__XXH_P2 0xC2B2AE3D27D4EB4FULL
#define LOOM__XXH_P3 0x165667B19E3779F9ULL
#define LOOM__XXH_P4 0x85EBCA77C2B2AE63ULL
#define LOOM__XXH_P5 0x27D4EB2F165667C5ULL

static inline uint64_t loom__xxh_rotl (uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t loom__xxh_le64 (const void *p)
{
    uint64_t v;
    memcpy (&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64 (v);
#endif
    return v;
}

static inline uint32_t loom__xxh_le32 (const void *p)
{
    uint32_t v;
    memcpy (&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32 (v);
#endif
    return v;
}

/* One lane step: acc takes 8 input bytes. */
static inline uint64_t loom__xxh_round (uint64_t acc, uint64_t in)
{
    acc += in * LOOM__XXH_P2;
    acc = loom__xxh_rotl (acc, 31);
    return acc * LOOM__XXH_P1;
}

/* Folding a lane into the accumulator (inputs of 32 bytes or more). */
static inline uint64_t loom__xxh_merge (uint64_t acc, uint64_t lane)
{
    acc ^= loom__xxh_round (0, lane);
    return acc * LOOM__XXH_P1 + LOOM__XXH_P4;
}

/* The last 'n' (< 32) bytes at 'p' into 'acc' (which already holds the total length),
 * then the avalanche: the digest. With a constant 'n' it compiles to straight-line
 * code.
 */
static inline __attribute__ ((always_inline)) uint64_t
loom__xxh_tail (uint64_t acc, const unsigned char *p, size_t n)
{
    for (; n >= 8; n -= 8, p += 8) {
        acc ^= loom__xxh_round (0, loom__xxh_le64 (p));
        acc = loom__xxh_rotl (acc, 27) * LOOM__XXH_P1 + LOOM__XXH_P4;
    }
    if (n >= 4) {
        acc ^= (uint64_t)loom__xxh_le32 (p) * LOOM__XXH_P1;
        acc = loom__xxh_rotl (acc, 23) * LOOM__XXH_P2 + LOOM__XXH_P3;
        n -= 4;
        p += 4;
    }
    for (; n > 0; n--, p++) {
        acc ^= *p * LOOM__XXH_P5;
        acc = loom__xxh_rotl (acc, 11) * LOOM__XXH_P1;
    }
    acc ^= acc >> 33;
    acc *= LOOM__XXH_P2;
    acc ^= acc >> 29;
    acc *= LOOM__XXH_P3;
    acc ^= acc >> 32;
    return acc;
}

#endif
