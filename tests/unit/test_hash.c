/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <loom/clock.h>
#include <loom/hash.h>

/* Known xxh64 values (from the xxHash reference implementation's test vectors). */
static void hash64_known_values (void **state)
{
    assert_int_equal (loom_hash64 (NULL, 0, 0), 0xEF46DB3751D8E999ULL);
    assert_int_equal (loom_hash64 ("", 0, 0), 0xEF46DB3751D8E999ULL);
    assert_int_equal (loom_hash64 ("a", 1, 0), 0xD24EC4F1A98C6E5BULL);
    assert_int_equal (loom_hash64 ("abc", 3, 0), 0x44BC2CF5AD770999ULL);
    assert_true (loom_hash64 ("abc", 3, 1) != loom_hash64 ("abc", 3, 0));
}

static void streaming_equals_one_shot (void **state)
{
    const char *text = "the quick brown fox jumps over the lazy dog";
    size_t len = strlen (text);
    loom_hash_state_t *h = loom_hash_state_create (42);
    assert_non_null (h);
    for (size_t i = 0; i < len; i += 7)
        loom_hash_state_update (h, text + i, len - i < 7 ? len - i : 7);
    assert_int_equal (loom_hash_state_digest (h), loom_hash64 (text, len, 42));
    loom_hash_state_destroy (h);
    loom_hash_state_destroy (NULL);
}

static void partition_in_range_and_balanced (void **state)
{
    const uint32_t parts[] = {1, 2, 3, 7, 64, 1000};
    for (size_t p = 0; p < sizeof (parts) / sizeof (parts[0]); p++) {
        uint32_t n = parts[p];
        static unsigned counts[1000];
        memset (counts, 0, sizeof (counts));
        /* 2000 keys per partition: 15% is more than 6 standard deviations. */
        const unsigned keys = 2000 * n;
        for (uint64_t k = 0; k < keys; k++) {
            uint32_t part = loom_hash_partition (&k, sizeof (k), 7, n);
            assert_true (part < n);
            counts[part]++;
        }
        double mean = (double)keys / n;
        for (uint32_t i = 0; i < n; i++) {
            assert_true (counts[i] > 0.85 * mean);
            assert_true (counts[i] < 1.15 * mean);
        }
    }
    assert_int_equal (loom_hash_to_partition (UINT64_MAX, 10), 9);
    assert_int_equal (loom_hash_to_partition (0, 10), 0);
}

static void clock_is_monotonic (void **state)
{
    uint64_t a = loom_clock_ns ();
    uint64_t b = loom_clock_ns ();
    assert_true (b >= a);
    assert_true (loom_clock_realtime_ns () > 1600000000ULL * 1000000000ULL);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (hash64_known_values),
        cmocka_unit_test (streaming_equals_one_shot),
        cmocka_unit_test (partition_in_range_and_balanced),
        cmocka_unit_test (clock_is_monotonic),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
