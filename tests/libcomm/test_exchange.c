/* SPDX-License-Identifier: MIT */
/* The fixed-pattern exchange (loom/exchange.h): every item arrives at its place with
 * its value over several runs of one plan, with given and learned receive counts,
 * items of 8 and of 12 bytes, empty plans, interleaved with a shuffle on the same
 * communicator; bad parameters and mismatched counts fail on every rank.
 */
#include <errno.h>
#include <string.h>

#include <loom/comm.h>
#include <loom/error.h>
#include <loom/exchange.h>

#include "mpitest.h"

static int rank, size;

/* Items rank 'from' sends to rank 'to': an uneven pattern with some zeros. */
static uint64_t count (int from, int to)
{
    return (uint64_t)((from * 7 + to * 3) % 5) * 1000 + (uint64_t)((from + to) % 3);
}

/* The value of item i from 'from' to 'to' in run 'run' (every word distinct). */
static uint64_t value (int from, int to, uint64_t i, int run)
{
    return ((uint64_t)from << 56) | ((uint64_t)to << 48) | ((uint64_t)run << 40) | i;
}

/* Pack, run and check 'runs' times; items are 'item' bytes (8 or 12: a value and,
 * for 12, its low 32 bits again).
 */
static void run_plan (loom_exchange_t *x, size_t item, int runs)
{
    uint64_t total = loom_exchange_recv_total (x);
    uint64_t expect_total = 0;
    for (int q = 0; q < size; q++) {
        MT_EQ (loom_exchange_recv_offset (x, q), expect_total);
        expect_total += count (q, rank);
    }
    MT_EQ (total, expect_total);
    uint8_t *recv = malloc (total * item + 1);
    MT_REQUIRE (recv != NULL);
    for (int run = 0; run < runs; run++) {
        for (int r = 0; r < size; r++) {
            uint8_t *b = loom_exchange_send_buffer (x, r);
            MT_REQUIRE (b != NULL);
            MT_EQ ((uintptr_t)b % 16, 0);
            for (uint64_t i = 0; i < count (rank, r); i++) {
                uint64_t v = value (rank, r, i, run);
                memcpy (b + i * item, &v, 8);
                if (item == 12) {
                    uint32_t lo = (uint32_t)v ^ 0xA5A5A5A5u;
                    memcpy (b + i * item + 8, &lo, 4);
                }
            }
        }
        memset (recv, 0xEE, total * item + 1);
        loom_error_t err = {{0}};
        MT_EQ (loom_exchange_run (x, recv, &err), 0);
        int bad = 0;
        for (int q = 0; q < size; q++) {
            const uint8_t *p = recv + loom_exchange_recv_offset (x, q) * item;
            for (uint64_t i = 0; i < count (q, rank); i++) {
                uint64_t v;
                memcpy (&v, p + i * item, 8);
                if (v != value (q, rank, i, run) && bad++ < 3)
                    MT_EQ (v, value (q, rank, i, run));
                if (item == 12) {
                    uint32_t lo;
                    memcpy (&lo, p + i * item + 8, 4);
                    if (lo != ((uint32_t)v ^ 0xA5A5A5A5u) && bad++ < 3)
                        MT_EQ (lo, (uint32_t)v ^ 0xA5A5A5A5u);
                }
            }
        }
        MT_EQ (bad, 0);
        MT_EQ (recv[total * item], 0xEE); /* nothing written past the end */
    }
    free (recv);
}

static void test_values (loom_comm_t *c)
{
    uint64_t *sc = calloc ((size_t)size, 8), *rc = calloc ((size_t)size, 8);
    for (int r = 0; r < size; r++) {
        sc[r] = count (rank, r);
        rc[r] = count (r, rank);
    }
    loom_error_t err = {{0}};
    /* Receive counts given. */
    loom_exchange_t *x = loom_exchange_create (c, 8, sc, rc, NULL, &err);
    MT_REQUIRE (x != NULL);
    run_plan (x, 8, 3);
    /* A shuffle on the same communicator between runs does not disturb the plan. */
    struct loom_shuffle_params sp = LOOM_SHUFFLE_PARAMS_INIT;
    sp.key_width = 8;
    sp.value_width = 8;
    loom_shuffle_t *sh = loom_shuffle_create (c, &sp, &err);
    MT_REQUIRE (sh != NULL);
    uint64_t k = (uint64_t)rank, v = 42;
    MT_EQ (loom_shuffle_put (sh, &k, 8, &v, 8, &err), 0);
    MT_EQ (loom_shuffle_finish (sh, &err), 0);
    struct loom_shuffle_stats st;
    loom_shuffle_stats (sh, &st);
    uint64_t got = st.records_received;
    MT_EQ (loom_comm_allreduce_u64 (c, &got, 1, LOOM_OP_SUM, &err), 0);
    MT_EQ (got, size);
    loom_shuffle_destroy (sh);
    run_plan (x, 8, 2);
    loom_exchange_destroy (x);

    /* Receive counts learned; 12-byte items (send regions are padded to 16). */
    x = loom_exchange_create (c, 12, sc, NULL, NULL, &err);
    MT_REQUIRE (x != NULL);
    run_plan (x, 12, 2);
    loom_exchange_destroy (x);

    /* Nothing to send at all: runs with no receive buffer. */
    memset (sc, 0, (size_t)size * 8);
    x = loom_exchange_create (c, 8, sc, sc, NULL, &err);
    MT_REQUIRE (x != NULL);
    MT_EQ (loom_exchange_recv_total (x), 0);
    MT_EQ (loom_exchange_run (x, NULL, &err), 0);
    loom_exchange_destroy (x);
    free (sc);
    free (rc);
}

static void test_bad (loom_comm_t *c)
{
    uint64_t *sc = calloc ((size_t)size, 8), *rc = calloc ((size_t)size, 8);
    for (int r = 0; r < size; r++) {
        sc[r] = count (rank, r);
        rc[r] = count (r, rank);
    }
    loom_error_t err = {{0}};
    /* Rank 0 expects one item too many from the last rank: fails everywhere. */
    if (rank == 0)
        rc[size - 1]++;
    errno = 0;
    loom_exchange_t *x = loom_exchange_create (c, 8, sc, rc, NULL, &err);
    MT_CHECK (x == NULL);
    MT_EQ (errno, EINVAL);
    MT_CHECK (strstr (err.text, rank == 0 ? "expects" : "peer") != NULL);
    if (rank == 0)
        rc[size - 1]--;

    /* Item size 0 on the last rank only: every rank fails, none hangs. */
    errno = 0;
    x = loom_exchange_create (c, rank == size - 1 ? 0 : 8, sc, rc, NULL, &err);
    MT_CHECK (x == NULL);
    MT_EQ (errno, EINVAL);
    if (rank == size - 1)
        MT_CHECK (strstr (err.text, "item size 0") != NULL);

    /* A negative timeout, and no send counts. */
    struct loom_exchange_params pp = LOOM_EXCHANGE_PARAMS_INIT;
    pp.timeout_sec = -1;
    errno = 0;
    MT_CHECK (loom_exchange_create (c, 8, sc, rc, &pp, &err) == NULL);
    MT_EQ (errno, EINVAL);
    errno = 0;
    MT_CHECK (loom_exchange_create (c, 8, NULL, rc, NULL, &err) == NULL);
    MT_EQ (errno, EINVAL);
    errno = 0;
    MT_CHECK (loom_exchange_create (NULL, 8, sc, rc, NULL, &err) == NULL);
    MT_EQ (errno, EINVAL);

    /* Accessors out of range, run without a plan or a needed buffer. */
    x = loom_exchange_create (c, 8, sc, rc, NULL, &err);
    MT_REQUIRE (x != NULL);
    MT_CHECK (loom_exchange_send_buffer (x, -1) == NULL);
    MT_CHECK (loom_exchange_send_buffer (x, size) == NULL);
    MT_EQ (loom_exchange_recv_offset (x, size), 0);
    errno = 0;
    MT_EQ (loom_exchange_run (NULL, NULL, &err), -1);
    MT_EQ (errno, EINVAL);
    if (loom_exchange_recv_total (x) > 0) {
        errno = 0;
        MT_EQ (loom_exchange_run (x, NULL, &err), -1);
        MT_EQ (errno, EINVAL);
    }
    /* The plan still works after those refusals (they sent nothing). */
    run_plan (x, 8, 1);
    loom_exchange_destroy (x);
    errno = 1234;
    loom_exchange_destroy (NULL);
    MT_EQ (errno, 1234);
    free (sc);
    free (rc);
}

int main (int argc, char **argv)
{
    mt_init (&argc, &argv);
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    struct loom_comm_params cp = LOOM_COMM_PARAMS_INIT;
    cp.timeout_sec = 30;
    loom_error_t err;
    loom_comm_t *c = loom_comm_create (MPI_COMM_WORLD, &cp, &err);
    MT_REQUIRE (c != NULL);
    test_values (c);
    test_bad (c);
    loom_comm_destroy (c);
    return mt_finish ("test_exchange");
}
