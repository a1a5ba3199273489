/* SPDX-License-Identifier: MIT */
/* The huge-page allocator (common/hugemem.c): rounding, alignment, zeroed memory,
 * growing with contents kept, freeing NULL, and the switch, checked against the
 * kernel's own record of the advice (the "hg" flag in /proc/self/smaps).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <loom/hugemem.h>

#define MIB ((size_t)1 << 20)

/* Is the mapping that holds 'p' advised MADV_HUGEPAGE? 1 yes, 0 no, -1 not found.
 * A kernel built without THP refuses the advice: then 'want' is what we say we saw.
 */
static int advised_hg_or (const void *p, int want)
{
    FILE *t = fopen ("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!t)
        return want;
    fclose (t);
    FILE *f = fopen ("/proc/self/smaps", "r");
    assert_non_null (f);
    char line[512];
    int inside = 0, found = -1;
    uintptr_t a = (uintptr_t)p;
    while (fgets (line, sizeof (line), f)) {
        unsigned long lo, hi;
        if (sscanf (line, "%lx-%lx ", &lo, &hi) == 2
            && strchr (line, '-') < strchr (line, ' '))
            inside = a >= lo && a < hi;
        else if (inside && strncmp (line, "VmFlags:", 8) == 0) {
            found = strstr (line, " hg") != NULL;
            break;
        }
    }
    fclose (f);
    return found;
}

static int all_zero (const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static void fill (unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31 + seed);
}

static int same (const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 31 + seed))
            return 0;
    return 1;
}

static void round_sizes (void **state)
{
    struct loom_hugemem m = LOOM_HUGEMEM_INIT (NULL, 4 * MIB);
    assert_int_equal (LOOM_HUGEMEM_PAGE, 2 * MIB);
    assert_int_equal (loom_hugemem_round (&m, 0), 0);
    assert_int_equal (loom_hugemem_round (&m, 1), 1);
    assert_int_equal (loom_hugemem_round (&m, 4 * MIB - 1), 4 * MIB - 1);
    assert_int_equal (loom_hugemem_round (&m, 4 * MIB), 4 * MIB);
    assert_int_equal (loom_hugemem_round (&m, 4 * MIB + 1), 6 * MIB);
    assert_int_equal (loom_hugemem_round (&m, 7 * MIB), 8 * MIB);
    assert_int_equal (loom_hugemem_round (&m, SIZE_MAX), SIZE_MAX);
    struct loom_hugemem m2 = LOOM_HUGEMEM_INIT (NULL, 2 * MIB);
    assert_int_equal (loom_hugemem_round (&m2, 2 * MIB - 1), 2 * MIB - 1);
    assert_int_equal (loom_hugemem_round (&m2, 2 * MIB + 1), 4 * MIB);
}

static void alloc_big_aligned_zeroed (void **state)
{
    struct loom_hugemem m = LOOM_HUGEMEM_INIT ("LOOM_TEST_HUGEMEM_UNSET", 4 * MIB);
    size_t cap = loom_hugemem_round (&m, 5 * MIB);
    assert_int_equal (cap, 6 * MIB);
    unsigned char *p = loom_hugemem_alloc (&m, 5 * MIB);
    assert_non_null (p);
    assert_int_equal ((uintptr_t)p % LOOM_HUGEMEM_PAGE, 0);
    assert_true (all_zero (p, cap));
    fill (p, cap, 7); /* the whole rounded capacity is usable */
    assert_true (same (p, cap, 7));
    loom_hugemem_free (&m, p, cap);

    /* calloc: big ones aligned and zero, small ones zero. */
    uint64_t *q = loom_hugemem_calloc (&m, MIB, sizeof (uint64_t)); /* 8 MiB */
    assert_non_null (q);
    assert_int_equal ((uintptr_t)q % LOOM_HUGEMEM_PAGE, 0);
    assert_true (all_zero ((unsigned char *)q, 8 * MIB));
    loom_hugemem_free (&m, q, loom_hugemem_round (&m, 8 * MIB));
    for (int i = 0; i < 4; i++) { /* reuse heap memory that was dirty */
        unsigned char *d = malloc (1000);
        assert_non_null (d);
        memset (d, 0xab, 1000);
        free (d);
        unsigned char *z = loom_hugemem_calloc (&m, 10, 100);
        assert_non_null (z);
        assert_true (all_zero (z, 1000));
        loom_hugemem_free (&m, z, loom_hugemem_round (&m, 1000));
    }
}

static void alloc_small_and_zero (void **state)
{
    struct loom_hugemem m = LOOM_HUGEMEM_INIT (NULL, 4 * MIB);
    unsigned char *p = loom_hugemem_alloc (&m, 0);
    assert_non_null (p); /* like malloc(1): a pointer to free */
    loom_hugemem_free (&m, p, 0);
    p = loom_hugemem_alloc (&m, 100);
    assert_non_null (p);
    fill (p, 100, 1);
    assert_true (same (p, 100, 1));
    loom_hugemem_free (&m, p, 100);
    void *z = loom_hugemem_calloc (&m, 0, 8);
    assert_non_null (z);
    loom_hugemem_free (&m, z, 0);
}

static void calloc_overflow (void **state)
{
    struct loom_hugemem m = LOOM_HUGEMEM_INIT (NULL, 4 * MIB);
    errno = 0;
    assert_null (loom_hugemem_calloc (&m, SIZE_MAX / 2, 4));
    assert_int_equal (errno, ENOMEM);
    errno = 0;
    assert_null (loom_hugemem_alloc (&m, SIZE_MAX - 10)); /* rounds to SIZE_MAX */
    assert_int_equal (errno, ENOMEM);
}

/* Growing keeps the bytes in use across each kind of step: heap to heap, heap to
 * mapping (copied once), mapping to mapping (mremap).
 */
static void grow_keeps_contents (void **state)
{
    struct loom_hugemem m = LOOM_HUGEMEM_INIT (NULL, 4 * MIB);
    size_t cap = 0, len = 0;
    unsigned char *p = NULL;
    const size_t steps[] = {4096, 1 * MIB, 4 * MIB, 12 * MIB, 40 * MIB};
    for (size_t i = 0; i < sizeof (steps) / sizeof (steps[0]); i++) {
        size_t ncap = loom_hugemem_round (&m, steps[i]);
        unsigned char *n = loom_hugemem_grow (&m, p, len, cap, ncap);
        assert_non_null (n);
        assert_true (same (n, len, 3));
        if (ncap >= m.min_bytes) {
            assert_int_equal ((uintptr_t)n % 4096, 0);
            assert_true (all_zero (n + len, ncap - len)); /* fresh pages past len */
        }
        p = n;
        cap = ncap;
        len = cap / 2 + 1; /* use more than half before the next step */
        fill (p, len, 3);
    }
    assert_int_equal (cap, 40 * MIB);
    assert_true (same (p, len, 3));
    loom_hugemem_free (&m, p, cap);
}

static void free_null_and_errno (void **state)
{
    struct loom_hugemem m = LOOM_HUGEMEM_INIT (NULL, 4 * MIB);
    errno = EINTR;
    loom_hugemem_free (&m, NULL, 0);
    loom_hugemem_free (&m, NULL, 8 * MIB);
    assert_int_equal (errno, EINTR);
    void *p = loom_hugemem_alloc (&m, 8 * MIB);
    assert_non_null (p);
    errno = EINTR;
    loom_hugemem_free (&m, p, 8 * MIB);
    assert_int_equal (errno, EINTR);
}

/* The switch: the user's variable decides when set, else LOOM_HUGEPAGES, else on;
 * read once. Checked through the kernel's VmFlags, not just the return value.
 */
static void the_switch (void **state)
{
    unsetenv ("LOOM_HUGEPAGES");
    unsetenv ("LOOM_TEST_HUGEPAGES");
    struct loom_hugemem on = LOOM_HUGEMEM_INIT ("LOOM_TEST_HUGEPAGES", 4 * MIB);
    assert_true (loom_hugemem_advised (&on));
    void *p = loom_hugemem_alloc (&on, 4 * MIB);
    assert_non_null (p);
    assert_int_equal (advised_hg_or (p, 1), 1);
    /* mremap keeps the advice. */
    void *g = loom_hugemem_grow (&on, p, 0, 4 * MIB, 16 * MIB);
    assert_non_null (g);
    assert_int_equal (advised_hg_or (g, 1), 1);
    loom_hugemem_free (&on, g, 16 * MIB);

    setenv ("LOOM_TEST_HUGEPAGES", "0", 1);
    assert_true (loom_hugemem_advised (&on)); /* cached at the first read */
    struct loom_hugemem off = LOOM_HUGEMEM_INIT ("LOOM_TEST_HUGEPAGES", 4 * MIB);
    assert_false (loom_hugemem_advised (&off));
    p = loom_hugemem_alloc (&off, 4 * MIB);
    assert_non_null (p);
    assert_int_equal ((uintptr_t)p % LOOM_HUGEMEM_PAGE, 0); /* still aligned */
    assert_int_equal (advised_hg_or (p, 0), 0);
    loom_hugemem_free (&off, p, 4 * MIB);

    /* The global switch, and a user's own variable overriding it. */
    unsetenv ("LOOM_TEST_HUGEPAGES");
    setenv ("LOOM_HUGEPAGES", "0", 1);
    struct loom_hugemem global_off = LOOM_HUGEMEM_INIT ("LOOM_TEST_HUGEPAGES", 4 * MIB);
    assert_false (loom_hugemem_advised (&global_off));
    struct loom_hugemem no_env = LOOM_HUGEMEM_INIT (NULL, 4 * MIB);
    assert_false (loom_hugemem_advised (&no_env));
    setenv ("LOOM_TEST_HUGEPAGES", "1", 1);
    struct loom_hugemem own_on = LOOM_HUGEMEM_INIT ("LOOM_TEST_HUGEPAGES", 4 * MIB);
    assert_true (loom_hugemem_advised (&own_on));
    setenv ("LOOM_HUGEPAGES", "yes", 1);
    setenv ("LOOM_TEST_HUGEPAGES", "", 1); /* anything but "0" is on */
    struct loom_hugemem other = LOOM_HUGEMEM_INIT ("LOOM_TEST_HUGEPAGES", 4 * MIB);
    assert_true (loom_hugemem_advised (&other));
    unsetenv ("LOOM_HUGEPAGES");
    unsetenv ("LOOM_TEST_HUGEPAGES");
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (round_sizes),
        cmocka_unit_test (alloc_big_aligned_zeroed),
        cmocka_unit_test (alloc_small_and_zero),
        cmocka_unit_test (calloc_overflow),
        cmocka_unit_test (grow_keeps_contents),
        cmocka_unit_test (free_null_and_errno),
        cmocka_unit_test (the_switch),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
