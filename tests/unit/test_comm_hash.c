/* SPDX-License-Identifier: MIT */
/* libcomm's inlined short-key xxh64 (libcomm/hash_inline.h) against the reference:
 * the partition of every record depends on it agreeing bit for bit with loom_hash64()
 * (libxxhash), which datasets use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <loom/hash.h>

#include "../../libcomm/hash_inline.h"

static uint64_t xs (uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Every length of the short path, at every alignment, with seeds 0, 1, ~0 and random
 * ones, and random bytes (all byte values, so sign extension would show).
 */
static void short_equals_xxh64 (void **state)
{
    unsigned char buf[64 + 8];
    uint64_t s = 88172645463325252ULL;
    const uint64_t fixed[] = {0, 1, UINT64_MAX, 42};
    for (int trial = 0; trial < 2000; trial++) {
        for (size_t i = 0; i < sizeof (buf); i++)
            buf[i] = (unsigned char)xs (&s);
        uint64_t seed = trial < 4 ? fixed[trial] : xs (&s);
        for (size_t len = 0; len < 32; len++) {
            const unsigned char *p = buf + trial % 8;
            uint64_t want = loom_hash64 (p, len, seed);
            assert_int_equal (loom__xxh64_short (p, len, seed), want);
            assert_int_equal (loom__hash64_inline (p, len, seed), want);
        }
    }
}

/* With a constant length (how the shuffle calls it) the same values. */
static void constant_lengths (void **state)
{
    unsigned char key[16];
    uint64_t s = 7;
    for (int i = 0; i < 10000; i++) {
        for (size_t j = 0; j < sizeof (key); j++)
            key[j] = (unsigned char)xs (&s);
        assert_int_equal (loom__xxh64_short (key, 10, 0), loom_hash64 (key, 10, 0));
        assert_int_equal (loom__xxh64_short (key, 8, 3), loom_hash64 (key, 8, 3));
        assert_int_equal (loom__xxh64_short (key, 4, 5), loom_hash64 (key, 4, 5));
        assert_int_equal (loom__xxh64_short (key, 16, 9), loom_hash64 (key, 16, 9));
    }
    /* The reference's known value for "abc", seed 0. */
    assert_int_equal (loom__xxh64_short ((const unsigned char *)"abc", 3, 0),
                      0x44BC2CF5AD770999ULL);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (short_equals_xxh64),
        cmocka_unit_test (constant_lengths),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
