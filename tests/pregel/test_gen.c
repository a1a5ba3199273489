/* SPDX-License-Identifier: MIT */
/* Unit tests of the graph generators behind `loom gen rmat|urand`. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <loom/error.h>
#include <loom/pregel.h>

static struct loom_pregel_gen_params params (loom_pregel_gen_kind_t kind,
                                             unsigned scale)
{
    struct loom_pregel_gen_params p = LOOM_PREGEL_GEN_PARAMS_INIT;
    p.kind = kind;
    p.scale = scale;
    p.edgefactor = 8;
    p.seed = 11;
    return p;
}

/* Edge e depends only on (params, e): any slicing gives the same edges. */
static void slices_equal_whole (void **state)
{
    for (int k = LOOM_PREGEL_GEN_RMAT; k <= LOOM_PREGEL_GEN_URAND; k++) {
        struct loom_pregel_gen_params p = params (k, 10);
        uint64_t m = loom_pregel_gen_num_edges (&p);
        assert_int_equal (m, 8 << 10);
        uint64_t *s1 = malloc (m * 8), *d1 = malloc (m * 8), *s2 = malloc (m * 8),
                 *d2 = malloc (m * 8);
        double *w1 = malloc (m * 8), *w2 = malloc (m * 8);
        assert_int_equal (loom_pregel_gen_edges (&p, 0, m, s1, d1, w1, NULL), 0);
        for (uint64_t at = 0, step = 1; at < m; at += step, step = step * 3 + 1) {
            uint64_t n = at + step > m ? m - at : step;
            assert_int_equal (
                loom_pregel_gen_edges (&p, at, n, s2 + at, d2 + at, w2 + at, NULL), 0);
        }
        assert_memory_equal (s1, s2, m * 8);
        assert_memory_equal (d1, d2, m * 8);
        assert_memory_equal (w1, w2, m * 8);
        for (uint64_t e = 0; e < m; e++) {
            assert_true (s1[e] < 1024 && d1[e] < 1024);
            assert_true (w1[e] >= 0 && w1[e] < 1);
        }
        /* Another seed, another graph. */
        p.seed = 12;
        assert_int_equal (loom_pregel_gen_edges (&p, 0, m, s2, d2, NULL, NULL), 0);
        assert_true (memcmp (s1, s2, m * 8) != 0);
        free (s1);
        free (d1);
        free (s2);
        free (d2);
        free (w1);
        free (w2);
    }
}

/* R-MAT is skewed (a few hubs), uniform is not; scrambling moves the hubs away from
 * the small ids, where an unscrambled Kronecker graph puts them.
 */
static void rmat_is_skewed_and_scrambled (void **state)
{
    unsigned deg_r[4096] = {0}, deg_u[4096] = {0};
    for (int k = LOOM_PREGEL_GEN_RMAT; k <= LOOM_PREGEL_GEN_URAND; k++) {
        struct loom_pregel_gen_params p = params (k, 12);
        uint64_t m = loom_pregel_gen_num_edges (&p);
        uint64_t *s = malloc (m * 8), *d = malloc (m * 8);
        assert_int_equal (loom_pregel_gen_edges (&p, 0, m, s, d, NULL, NULL), 0);
        unsigned *deg = k == LOOM_PREGEL_GEN_RMAT ? deg_r : deg_u;
        for (uint64_t e = 0; e < m; e++)
            deg[s[e]]++;
        free (s);
        free (d);
    }
    unsigned max_r = 0, max_u = 0, hub = 0;
    for (unsigned v = 0; v < 4096; v++) {
        if (deg_r[v] > max_r)
            max_r = deg_r[v], hub = v;
        if (deg_u[v] > max_u)
            max_u = deg_u[v];
    }
    /* average out-degree 8 */
    assert_true (max_r > 100);
    assert_true (max_u < 40);
    assert_true (hub != 0);
    assert_true (deg_r[0] < max_r / 4);
}

static void bad_params (void **state)
{
    loom_error_t err;
    uint64_t s[4], d[4];
    struct loom_pregel_gen_params p = params (LOOM_PREGEL_GEN_RMAT, 0);
    assert_int_equal (loom_pregel_gen_check (&p, &err), -1);
    assert_int_equal (errno, EINVAL);
    assert_non_null (strstr (err.text, "scale 0"));
    p = params (LOOM_PREGEL_GEN_RMAT, 41);
    assert_int_equal (loom_pregel_gen_check (&p, &err), -1);
    p = params (LOOM_PREGEL_GEN_RMAT, 5);
    p.edgefactor = 0;
    assert_int_equal (loom_pregel_gen_check (&p, &err), -1);
    assert_non_null (strstr (err.text, "edge factor"));
    p = params (LOOM_PREGEL_GEN_RMAT, 5);
    p.a = 0.7;
    p.b = 0.3;
    p.c = 0.2;
    assert_int_equal (loom_pregel_gen_check (&p, &err), -1);
    assert_non_null (strstr (err.text, "R-MAT"));
    p = params (LOOM_PREGEL_GEN_RMAT, 5);
    p.kind = 9;
    assert_int_equal (loom_pregel_gen_check (&p, &err), -1);
    assert_int_equal (loom_pregel_gen_check (NULL, &err), -1);
    p = params (LOOM_PREGEL_GEN_URAND, 2); /* 32 edges */
    assert_int_equal (loom_pregel_gen_edges (&p, 30, 4, s, d, NULL, &err), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (loom_pregel_gen_edges (&p, 28, 4, s, d, NULL, &err), 0);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (slices_equal_whole),
        cmocka_unit_test (rmat_is_skewed_and_scrambled),
        cmocka_unit_test (bad_params),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
