/* SPDX-License-Identifier: MIT */
/* datasets/xxh64_streams.c must give exactly libxxhash's XXH64 for every stream,
 * whatever the lengths, alignments, split into updates, number of streams hashed
 * together, and whether the bytes are copied on the way (and the copies must be
 * exact).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "internal.h"

static uint64_t rng = 0x243F6A8885A308D3ull;

static uint64_t next (void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void fill (uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)next ();
}

/* One stream, every length up to 300 and a few big ones, at every alignment, in
 * one update, against XXH64 with several seeds.
 */
static void one_stream_all_lengths (void **state)
{
    (void)state;
    size_t big[] = {1u << 20, (1u << 20) + 31, 3000003};
    uint8_t *buf = malloc (3000003 + 64);
    assert_non_null (buf);
    fill (buf, 3000003 + 64);
    uint64_t seeds[] = {0, 1, 0x9E3779B97F4A7C15ull};
    for (size_t si = 0; si < 3; si++)
        for (size_t len = 0; len < 300 + 3; len++) {
            size_t n = len < 300 ? len : big[len - 300];
            for (size_t off = 0; off < (n < 300 ? 8u : 2u); off++) {
                struct ds_xxh64 h;
                loom__xxh64_reset (&h, seeds[si]);
                loom__xxh64_update1 (&h, buf + off, NULL, n);
                assert_int_equal (loom__xxh64_digest (&h),
                                  XXH64 (buf + off, n, seeds[si]));
            }
        }
    free (buf);
}

/* 1..5 streams of different lengths, fed in random pieces (some empty, some
 * ending mid-stripe), some copied and some not, hashed together.
 */
static void many_streams_random_pieces (void **state)
{
    (void)state;
    enum { K = 5, MAXLEN = 70000 };
    for (int round = 0; round < 200; round++) {
        size_t k = 1 + next () % K;
        uint8_t *src[K], *dst[K];
        size_t len[K], done[K];
        bool copy[K];
        struct ds_xxh64 h[K];
        for (size_t i = 0; i < k; i++) {
            len[i] = next () % 4 == 0 ? next () % 40 : next () % MAXLEN;
            src[i] = malloc (len[i] + 1);
            dst[i] = malloc (len[i] + 1);
            assert_true (src[i] && dst[i]);
            fill (src[i], len[i]);
            memset (dst[i], 0xAA, len[i]);
            done[i] = 0;
            copy[i] = round % 3 == 0 ? true : round % 3 == 1 ? false : next () % 2;
            loom__xxh64_reset (&h[i], 0);
        }
        for (;;) {
            struct ds_xxh64 *hp[K];
            const void *p[K];
            void *d[K];
            size_t n[K];
            bool any = false, anycopy = false;
            for (size_t i = 0; i < k; i++) {
                size_t left = len[i] - done[i];
                size_t take = next () % 3 == 0 ? next () % 70 : next () % 20000;
                n[i] = take < left ? take : left;
                hp[i] = &h[i];
                p[i] = src[i] + done[i];
                d[i] = copy[i] ? dst[i] + done[i] : NULL;
                any |= left > 0;
                anycopy |= copy[i];
                done[i] += n[i];
            }
            if (!any)
                break;
            loom__xxh64_update (hp, k, p, anycopy ? d : NULL, n);
        }
        for (size_t i = 0; i < k; i++) {
            assert_int_equal (loom__xxh64_digest (&h[i]), XXH64 (src[i], len[i], 0));
            if (copy[i])
                assert_memory_equal (dst[i], src[i], len[i]);
            else
                for (size_t j = 0; j < len[i]; j++)
                    assert_int_equal (dst[i][j], 0xAA);
            free (src[i]);
            free (dst[i]);
        }
    }
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (one_stream_all_lengths),
        cmocka_unit_test (many_streams_random_pieces),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
