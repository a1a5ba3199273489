/* SPDX-License-Identifier: MIT */
/* xxh64 of several byte streams at once, optionally copying the bytes as they are
 * hashed. Each stream's digest is exactly XXH64 (bytes, seed), the function of
 * libxxhash (tests/datasets/test_xxh64_streams.c compares the two on many lengths,
 * alignments and splits); the algorithm is xxHash's published XXH64.
 *
 * Why not libxxhash alone: a partition read into a caller's buffers must be copied
 * and hashed, and a loop that does both runs at about the speed of the hash alone
 * (the copy's loads and stores go to other execution units than the multiplies),
 * where the kernel's copy followed by a hash pass costs the sum of the two (on this
 * project's machine, about twice a copy). libxxhash has no copying entry point.
 * Streams go two per loop (each lane of XXH64 waits on its own previous value);
 * in scalar code that gains little, but it is where vector code would go.
 */
#include <string.h>

#include "../common/xxh64_core.h"
#include "internal.h"

void loom__xxh64_reset (struct ds_xxh64 *h, uint64_t seed)
{
    memset (h, 0, sizeof (*h));
    h->v[0] = seed + LOOM__XXH_P1 + LOOM__XXH_P2;
    h->v[1] = seed + LOOM__XXH_P2;
    h->v[2] = seed;
    h->v[3] = seed - LOOM__XXH_P1;
}

/* The inner loops: 'm' stripes of 32 bytes of one or two streams, copied to 'd' when
 * 'copy' (a constant after inlining, so each use compiles to its own loop).
 */
static inline __attribute__ ((always_inline)) void
stripes1 (uint64_t *v, const uint8_t *s, uint8_t *d, size_t m, const int copy)
{
    uint64_t a = v[0], b = v[1], c = v[2], e = v[3];
    for (size_t i = 0; i < m; i++, s += 32) {
        uint64_t w0 = loom__xxh_le64 (s), w1 = loom__xxh_le64 (s + 8),
                 w2 = loom__xxh_le64 (s + 16), w3 = loom__xxh_le64 (s + 24);
        if (copy) {
            memcpy (d, s, 32);
            d += 32;
        }
        a = loom__xxh_round (a, w0);
        b = loom__xxh_round (b, w1);
        c = loom__xxh_round (c, w2);
        e = loom__xxh_round (e, w3);
    }
    v[0] = a;
    v[1] = b;
    v[2] = c;
    v[3] = e;
}

static inline __attribute__ ((always_inline)) void stripes2 (uint64_t *v,
                                                             uint64_t *u,
                                                             const uint8_t *s,
                                                             const uint8_t *t,
                                                             uint8_t *d,
                                                             uint8_t *e,
                                                             size_t m,
                                                             const int copy)
{
    uint64_t a0 = v[0], a1 = v[1], a2 = v[2], a3 = v[3];
    uint64_t b0 = u[0], b1 = u[1], b2 = u[2], b3 = u[3];
    for (size_t i = 0; i < m; i++, s += 32, t += 32) {
        if (copy) {
            memcpy (d, s, 32);
            memcpy (e, t, 32);
            d += 32;
            e += 32;
        }
        a0 = loom__xxh_round (a0, loom__xxh_le64 (s));
        a1 = loom__xxh_round (a1, loom__xxh_le64 (s + 8));
        a2 = loom__xxh_round (a2, loom__xxh_le64 (s + 16));
        a3 = loom__xxh_round (a3, loom__xxh_le64 (s + 24));
        b0 = loom__xxh_round (b0, loom__xxh_le64 (t));
        b1 = loom__xxh_round (b1, loom__xxh_le64 (t + 8));
        b2 = loom__xxh_round (b2, loom__xxh_le64 (t + 16));
        b3 = loom__xxh_round (b3, loom__xxh_le64 (t + 24));
    }
    v[0] = a0;
    v[1] = a1;
    v[2] = a2;
    v[3] = a3;
    u[0] = b0;
    u[1] = b1;
    u[2] = b2;
    u[3] = b3;
}

static void run1 (uint64_t *v, const uint8_t *s, uint8_t *d, size_t m)
{
    if (d)
        stripes1 (v, s, d, m, 1);
    else
        stripes1 (v, s, NULL, m, 0);
}

static void run2 (uint64_t *v,
                  uint64_t *u,
                  const uint8_t *s,
                  const uint8_t *t,
                  uint8_t *d,
                  uint8_t *e,
                  size_t m)
{
    if (d)
        stripes2 (v, u, s, t, d, e, m, 1);
    else
        stripes2 (v, u, s, t, NULL, NULL, m, 0);
}

struct cursor {
    struct ds_xxh64 *h;
    const uint8_t *s;
    uint8_t *d;
    size_t n;
};

/* Take up to 'want' bytes of a cursor into its stream's partial stripe. */
static void buffer_bytes (struct cursor *c, size_t want)
{
    size_t take = want < c->n ? want : c->n;
    memcpy (c->h->mem + c->h->memsize, c->s, take);
    if (c->d) {
        memcpy (c->d, c->s, take);
        c->d += take;
    }
    c->h->memsize += (uint32_t)take;
    c->s += take;
    c->n -= take;
}

static void advance (struct cursor *c, size_t m)
{
    c->s += 32 * m;
    if (c->d)
        c->d += 32 * m;
    c->n -= 32 * m;
}

void loom__xxh64_update (struct ds_xxh64 *const *h,
                         size_t k,
                         const void *const *src,
                         void *const *dst,
                         const size_t *len)
{
    struct cursor cur[2 * DS_MAX_COLS];
    size_t live = 0;
    for (size_t i = 0; i < k; i++) {
        struct cursor c = {h[i], src[i], dst ? dst[i] : NULL, len[i]};
        if (c.n == 0)
            continue;
        c.h->total += c.n;
        /* Finish a stripe left partial by the previous update. */
        if (c.h->memsize) {
            buffer_bytes (&c, 32 - c.h->memsize);
            if (c.h->memsize < 32)
                continue;
            stripes1 (c.h->v, c.h->mem, NULL, 1, 0);
            c.h->memsize = 0;
        }
        cur[live++] = c;
    }
    /* Whole stripes, two streams per loop while two (both copied, or neither) have
     * some left. Every pass empties at least one stream's whole stripes, so this
     * ends.
     */
    for (;;) {
        size_t x = live, y = live;
        for (size_t i = 0; i < live; i++) {
            if (cur[i].n < 32)
                continue;
            if (x == live)
                x = i;
            else if (y == live && !cur[i].d == !cur[x].d)
                y = i;
        }
        if (x == live)
            break;
        if (y == live) {
            size_t m = cur[x].n / 32;
            run1 (cur[x].h->v, cur[x].s, cur[x].d, m);
            advance (&cur[x], m);
            continue;
        }
        size_t m = (cur[x].n < cur[y].n ? cur[x].n : cur[y].n) / 32;
        run2 (cur[x].h->v, cur[y].h->v, cur[x].s, cur[y].s, cur[x].d, cur[y].d, m);
        advance (&cur[x], m);
        advance (&cur[y], m);
    }
    for (size_t i = 0; i < live; i++)
        if (cur[i].n)
            buffer_bytes (&cur[i], cur[i].n);
}

void loom__xxh64_update1 (struct ds_xxh64 *h, const void *src, void *dst, size_t len)
{
    void *d[1] = {dst};
    loom__xxh64_update (&h, 1, &src, dst ? d : NULL, &len);
}

uint64_t loom__xxh64_digest (const struct ds_xxh64 *h)
{
    uint64_t acc;
    if (h->total >= 32) {
        acc = loom__xxh_rotl (h->v[0], 1) + loom__xxh_rotl (h->v[1], 7)
              + loom__xxh_rotl (h->v[2], 12) + loom__xxh_rotl (h->v[3], 18);
        for (int i = 0; i < 4; i++)
            acc = loom__xxh_merge (acc, h->v[i]);
    } else {
        acc = h->v[2] + LOOM__XXH_P5; /* v[2] is still the seed */
    }
    return loom__xxh_tail (acc + h->total, h->mem, h->memsize);
}
