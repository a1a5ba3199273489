/* SPDX-License-Identifier: MIT */
/* Range partitioning with sampled splitters yields globally ordered output: every
 * key on rank r sorts at or after every key on ranks below it, once each rank sorts
 * what it received (TeraSort). Also explicit splitters and their bad input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/comm.h>

#include "mpitest.h"

#define KW 10 /* TeraSort keys */
#define VW 90

static int rank, size;

static int cmp10 (const void *a, const void *b)
{
    return memcmp (a, b, KW);
}

static void make_key (uint64_t i, int r, unsigned char *k)
{
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ULL + (uint64_t)r * 0xD1B54A32D192ED03ULL;
    for (int j = 0; j < KW; j++) {
        x ^= x >> 31;
        x *= 0xBF58476D1CE4E5B9ULL;
        k[j] = (unsigned char)(x >> 56);
    }
}

static void sorted_output (loom_comm_t *comm)
{
    uint64_t n = 20000 + (uint64_t)rank * 3000;
    unsigned char *recs = malloc (n * (KW + VW));
    for (uint64_t i = 0; i < n; i++) {
        make_key (i, rank, recs + i * (KW + VW));
        memset (recs + i * (KW + VW) + KW, (int)(i & 0xff), VW);
    }
    /* Sample 100 keys per rank. */
    const void *sk[100];
    size_t sl[100];
    for (int i = 0; i < 100; i++) {
        sk[i] = recs + (uint64_t)i * (n / 100) * (KW + VW);
        sl[i] = KW;
    }
    loom_error_t err = {{0}};
    loom_splitters_t *sp = loom_splitters_sample (comm, sk, sl, 100, &err);
    MT_REQUIRE (sp != NULL);
    MT_EQ (loom_splitters_count (sp), size - 1);

    struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
    p.key_width = KW;
    p.value_width = VW;
    p.partition = LOOM_PARTITION_RANGE;
    p.splitters = sp;
    p.batch_bytes = 256 << 10;
    loom_shuffle_t *sh = loom_shuffle_create (comm, &p, &err);
    MT_REQUIRE (sh != NULL);
    MT_EQ (loom_shuffle_put_fixed (sh, recs, n, &err), 0);
    MT_EQ (loom_shuffle_finish (sh, &err), 0);

    uint64_t total = 0, got = 0;
    MPI_Allreduce (&n, &total, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    unsigned char *keys = malloc (total * KW);
    struct loom_record rec;
    int bad_val = 0;
    while (loom_shuffle_next (sh, &rec, &err) == 1) {
        memcpy (keys + got * KW, rec.key, KW);
        if (rec.value_len != VW)
            bad_val++;
        got++;
    }
    MT_EQ (bad_val, 0);
    uint64_t all = 0;
    MPI_Allreduce (&got, &all, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    MT_EQ (all, total);
    qsort (keys, got, KW, cmp10);
    /* Neighbours: my largest key <= the next rank's smallest. Empty ranks pass on
     * the bound of the last non-empty one.
     */
    unsigned char lo[KW], hi[KW];
    int has = got > 0;
    if (has) {
        memcpy (lo, keys, KW);
        memcpy (hi, keys + (got - 1) * KW, KW);
    }
    unsigned char *all_lo = malloc ((size_t)size * KW),
                  *all_hi = malloc ((size_t)size * KW);
    int *all_has = malloc (sizeof (int) * (size_t)size);
    MPI_Allgather (lo, KW, MPI_BYTE, all_lo, KW, MPI_BYTE, MPI_COMM_WORLD);
    MPI_Allgather (hi, KW, MPI_BYTE, all_hi, KW, MPI_BYTE, MPI_COMM_WORLD);
    MPI_Allgather (&has, 1, MPI_INT, all_has, 1, MPI_INT, MPI_COMM_WORLD);
    int prev = -1, nonempty = 0;
    for (int r = 0; r < size; r++) {
        if (!all_has[r])
            continue;
        nonempty++;
        if (prev >= 0)
            MT_CHECK (memcmp (all_hi + prev * KW, all_lo + r * KW, KW) <= 0);
        prev = r;
    }
    /* Sampling balances: every rank got something (uniform random keys). */
    MT_EQ (nonempty, size);
    /* Each key lies in its rank's splitter range. */
    int outside = 0;
    for (uint64_t i = 0; i < got; i++)
        if (loom_splitters_find (sp, keys + i * KW, KW) != rank)
            outside++;
    MT_EQ (outside, 0);
    free (all_lo);
    free (all_hi);
    free (all_has);
    free (keys);
    free (recs);
    loom_shuffle_destroy (sh);
    loom_splitters_destroy (sp);
}

static void explicit_splitters (void)
{
    loom_error_t err = {{0}};
    const void *k[3] = {"b", "bb", "d"};
    size_t l[3] = {1, 2, 1};
    loom_splitters_t *s = loom_splitters_create (k, l, 3, &err);
    MT_REQUIRE (s != NULL);
    MT_EQ (loom_splitters_find (s, "", 0), 0);
    MT_EQ (loom_splitters_find (s, "a", 1), 0);
    MT_EQ (loom_splitters_find (s, "b", 1), 1);
    MT_EQ (loom_splitters_find (s, "ba", 2), 1);
    MT_EQ (loom_splitters_find (s, "bb", 2), 2);
    MT_EQ (loom_splitters_find (s, "c", 1), 2);
    MT_EQ (loom_splitters_find (s, "d", 1), 3);
    MT_EQ (loom_splitters_find (s, "zzz", 3), 3);
    size_t len;
    MT_CHECK (memcmp (loom_splitters_key (s, 1, &len), "bb", 2) == 0 && len == 2);
    loom_splitters_destroy (s);

    const void *bad[2] = {"x", "a"};
    size_t bl[2] = {1, 1};
    errno = 0;
    MT_CHECK (loom_splitters_create (bad, bl, 2, &err) == NULL);
    MT_EQ (errno, EINVAL);
    MT_CHECK (strstr (err.text, "ordered") != NULL);
    errno = 77;
    loom_splitters_destroy (NULL);
    MT_EQ (errno, 77);
}

static void wrong_count (loom_comm_t *comm)
{
    /* Splitters for the wrong number of ranks are refused. */
    loom_error_t err = {{0}};
    const void *k[8] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    size_t l[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    loom_splitters_t *s = loom_splitters_create (k, l, (size_t)size, &err);
    MT_REQUIRE (s != NULL);
    struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
    p.partition = LOOM_PARTITION_RANGE;
    p.splitters = s;
    errno = 0;
    MT_CHECK (loom_shuffle_create (comm, &p, &err) == NULL);
    MT_EQ (errno, EINVAL);
    MT_CHECK (strstr (err.text, "splitters") != NULL);
    p.splitters = NULL;
    MT_CHECK (loom_shuffle_create (comm, &p, &err) == NULL);
    MT_CHECK (strstr (err.text, "splitters is NULL") != NULL);
    loom_splitters_destroy (s);
}

int main (int argc, char **argv)
{
    mt_init (&argc, &argv);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    rank = mt_rank;
    loom_comm_t *comm = loom_comm_create (MPI_COMM_WORLD, NULL, NULL);
    MT_REQUIRE (comm != NULL);
    sorted_output (comm);
    explicit_splitters ();
    wrong_count (comm);
    loom_comm_destroy (comm);
    return mt_finish ("test_range");
}
