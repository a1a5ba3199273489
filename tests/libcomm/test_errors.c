/* SPDX-License-Identifier: MIT */
/* Bad input to the shuffle: every bad parameter gives EINVAL and a message naming
 * it; wrong record lengths, a record larger than the budget (E2BIG), calls out of
 * order, a failing receive callback, and a peer that never arrives (ETIMEDOUT) give
 * errors instead of corrupt data or a hang.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <loom/comm.h>
#include <loom/hash.h>

#include "mpitest.h"

static int rank, size;
static loom_comm_t *comm;

static int bad_part (const struct loom_record *rec, int nranks, void *arg)
{
    return nranks; /* out of range */
}

static void noop_combine (void *acc, const void *val, size_t w, void *arg)
{
}

#define EXPECT_BAD(field_text)                                                         \
    do {                                                                               \
        loom_error_t e = {{0}};                                                        \
        errno = 0;                                                                     \
        loom_shuffle_t *s = loom_shuffle_create (comm, &p, &e);                        \
        MT_CHECK (s == NULL);                                                          \
        MT_EQ (errno, EINVAL);                                                         \
        if (!strstr (e.text, field_text))                                              \
            fprintf (stderr, "[rank %d] message '%s' does not name '%s'\n", rank,      \
                     e.text, field_text);                                              \
        MT_CHECK (strstr (e.text, field_text) != NULL);                                \
        loom_shuffle_destroy (s);                                                      \
        p = base;                                                                      \
    } while (0)

static void bad_params (void)
{
    const struct loom_shuffle_params base = LOOM_SHUFFLE_PARAMS_INIT;
    struct loom_shuffle_params p = base;
    p.key_width = 0;
    p.value_width = 0;
    EXPECT_BAD ("key_width");
    p.mem_bytes = 1000;
    EXPECT_BAD ("mem_bytes");
    p.batch_bytes = p.mem_bytes;
    EXPECT_BAD ("batch_bytes");
    p.chunk_bytes = 1ull << 31;
    EXPECT_BAD ("chunk_bytes");
    p.timeout_sec = -1;
    EXPECT_BAD ("timeout_sec");
    p.flags = 1u << 20;
    EXPECT_BAD ("flags");
    p.partition = (loom_partition_kind_t)7;
    EXPECT_BAD ("partition");
    p.partition = LOOM_PARTITION_CALLBACK;
    EXPECT_BAD ("partition_fn");
    p.combine_fn = noop_combine;
    EXPECT_BAD ("combine_fn");
    loom_error_t e = {{0}};
    errno = 0;
    MT_CHECK (loom_shuffle_create (comm, NULL, &e) == NULL);
    MT_EQ (errno, EINVAL);
    errno = 55;
    loom_shuffle_destroy (NULL);
    MT_EQ (errno, 55);
}

static void bad_records (void)
{
    loom_error_t e = {{0}};
    struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
    p.mem_bytes = 64 << 10;
    p.key_width = 8;
    loom_shuffle_t *sh = loom_shuffle_create (comm, &p, &e);
    MT_REQUIRE (sh != NULL);
    struct loom_record rec;
    errno = 0;
    MT_EQ (loom_shuffle_next (sh, &rec, &e), -1);
    MT_EQ (errno, EINVAL);
    struct loom_batch batch;
    errno = 0;
    MT_EQ (loom_shuffle_next_batch (sh, &batch, &e), -1);
    MT_EQ (errno, EINVAL);
    MT_CHECK (strstr (e.text, "loom_shuffle_next_batch before") != NULL);
    uint64_t key = 1;
    errno = 0;
    MT_EQ (loom_shuffle_put (sh, &key, 4, "v", 1, &e), -1);
    MT_EQ (errno, EINVAL);
    MT_CHECK (strstr (e.text, "key_width") != NULL);
    /* A record over a quarter of the budget. */
    static char big[20000];
    errno = 0;
    MT_EQ (loom_shuffle_put (sh, &key, 8, big, sizeof (big), &e), -1);
    MT_EQ (errno, E2BIG);
    MT_CHECK (strstr (e.text, "mem_bytes") != NULL);
    /* Out-of-range destination and wrong API for the shape. */
    errno = 0;
    MT_EQ (loom_shuffle_put_to (sh, size, &key, 8, "v", 1, &e), -1);
    MT_EQ (errno, EINVAL);
    MT_EQ (loom_shuffle_put_fixed (sh, big, 1, &e), -1);
    MT_EQ (errno, EINVAL);
    MT_CHECK (strstr (e.text, "fixed") != NULL);
    /* After refused records the shuffle still works. */
    MT_EQ (loom_shuffle_put (sh, &key, 8, "v", 1, &e), 0);
    MT_EQ (loom_shuffle_finish (sh, &e), 0);
    errno = 0;
    MT_EQ (loom_shuffle_put (sh, &key, 8, "v", 1, &e), -1);
    MT_EQ (errno, EINVAL);
    MT_CHECK (strstr (e.text, "after") != NULL);
    MT_EQ (loom_shuffle_finish (sh, &e), -1);
    errno = 0;
    MT_EQ (loom_shuffle_next_batch (sh, NULL, &e), -1);
    MT_EQ (errno, EINVAL);
    uint64_t n = 0;
    while (loom_shuffle_next (sh, &rec, &e) == 1)
        n++;
    MT_EQ (n, rank == (int)loom_hash_partition (&key, 8, 0, (uint32_t)size) ? size : 0);
    loom_shuffle_destroy (sh);

    /* A partitioner naming a rank that does not exist. */
    p.partition = LOOM_PARTITION_CALLBACK;
    p.partition_fn = bad_part;
    sh = loom_shuffle_create (comm, &p, &e);
    MT_REQUIRE (sh != NULL);
    errno = 0;
    MT_EQ (loom_shuffle_put (sh, &key, 8, "v", 1, &e), -1);
    MT_EQ (errno, EINVAL);
    MT_CHECK (strstr (e.text, "partitioner returned rank") != NULL);
    MT_EQ (loom_shuffle_finish (sh, &e), 0);
    loom_shuffle_destroy (sh);
}

static int failing_cb (const struct loom_batch *b, void *arg)
{
    errno = ENOSPC;
    return -1;
}

static void failing_callback (void)
{
    loom_error_t e = {{0}};
    struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
    loom_shuffle_t *sh = loom_shuffle_create (comm, &p, &e);
    MT_REQUIRE (sh != NULL);
    MT_EQ (loom_shuffle_set_recv (sh, failing_cb, NULL), 0);
    /* Every rank receives something: keys for every rank. */
    for (int i = 0; i < 1000; i++)
        MT_EQ (loom_shuffle_put (sh, &i, sizeof (i), "x", 1, &e), 0);
    errno = 0;
    MT_EQ (loom_shuffle_finish (sh, &e), -1);
    MT_EQ (errno, ENOSPC);
    MT_CHECK (strstr (e.text, "callback") != NULL);
    /* The peers may still be in their rounds: let them finish before destroying. */
    MPI_Barrier (MPI_COMM_WORLD);
    loom_shuffle_destroy (sh);
}

static void timeout (void)
{
    if (size < 2)
        return;
    loom_error_t e = {{0}};
    struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
    p.timeout_sec = rank == 0 ? 0.3 : 60; /* the others wait for a slow rank 0 */
    loom_shuffle_t *sh = loom_shuffle_create (comm, &p, &e);
    MT_REQUIRE (sh != NULL);
    if (rank == 0) {
        errno = 0;
        MT_EQ (loom_shuffle_finish (sh, &e), -1);
        MT_EQ (errno, ETIMEDOUT);
        MT_CHECK (strstr (e.text, "timed out") != NULL);
    }
    MPI_Barrier (MPI_COMM_WORLD);
    if (rank != 0) /* completes rank 0's abandoned round */
        MT_EQ (loom_shuffle_finish (sh, &e), 0);
    MPI_Barrier (MPI_COMM_WORLD);
    loom_shuffle_destroy (sh);
}

int main (int argc, char **argv)
{
    mt_init (&argc, &argv);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    rank = mt_rank;
    comm = loom_comm_create (MPI_COMM_WORLD, NULL, NULL);
    MT_REQUIRE (comm != NULL);
    bad_params ();
    bad_records ();
    failing_callback ();
    timeout ();
    loom_comm_destroy (comm);
    return mt_finish ("test_errors");
}
