/* SPDX-License-Identifier: MIT */
/* Broadcasts of 0 bytes, 1 byte, odd sizes and sizes above the chunk size (chunks
 * lowered to a few hundred bytes, which exercises the same code paths as payloads
 * above 2 GiB), for every algorithm and two roots; loom_bcast_shared() on real nodes
 * and on pretend nodes (which adds the leaders' broadcast); and bad input.
 */
#include <errno.h>
#include <string.h>

#include <loom/comm.h>

#include "mpitest.h"

static int rank, size;

static unsigned char pattern (uint64_t i, uint64_t len, int root)
{
    return (unsigned char)((i * 131 + len * 7 + (uint64_t)root) & 0xff);
}

static uint64_t mismatches (const unsigned char *b, uint64_t len, int root)
{
    uint64_t bad = 0;
    for (uint64_t i = 0; i < len; i++)
        bad += b[i] != pattern (i, len, root);
    return bad;
}

static void check_bcast (loom_comm_t *c)
{
    static const uint64_t lens[] = {0, 1, 2, 7, 1001, 65537, 1000003};
    static const loom_bcast_algo_t algos[] = {
        LOOM_BCAST_AUTO, LOOM_BCAST_MPI, LOOM_BCAST_CHAIN, LOOM_BCAST_SCATTER_ALLGATHER,
        LOOM_BCAST_NODE_COPY};
    static const uint64_t chunks[] = {0, 333};
    loom_error_t err = {{0}};
    for (size_t a = 0; a < 5; a++) {
        for (size_t l = 0; l < sizeof (lens) / sizeof (lens[0]); l++) {
            for (size_t k = 0; k < 2; k++) {
                for (int root = 0; root<size; root += size> 1 ? size - 1 : 1) {
                    uint64_t len = lens[l];
                    struct loom_bcast_params p = LOOM_BCAST_PARAMS_INIT;
                    p.algorithm = algos[a];
                    p.chunk_bytes = chunks[k];
                    if (chunks[k] && len > 100000)
                        p.chunk_bytes = 33333; /* keep the chunk count sane */
                    unsigned char *buf = malloc (len ? len : 1);
                    for (uint64_t i = 0; i < len; i++)
                        buf[i] = rank == root ? pattern (i, len, root) : 0xEE;
                    int rc = loom_bcast (c, buf, len, root, &p, &err);
                    if (rc != 0)
                        fprintf (stderr, "[rank %d] bcast: %s\n", rank, err.text);
                    MT_EQ (rc, 0);
                    uint64_t bad = mismatches (buf, len, root);
                    if (bad)
                        fprintf (stderr,
                                 "[rank %d] algo %d len %llu chunk %llu root %d: %llu "
                                 "bad bytes\n",
                                 rank, (int)algos[a], (unsigned long long)len,
                                 (unsigned long long)p.chunk_bytes, root,
                                 (unsigned long long)bad);
                    MT_EQ (bad, 0);
                    free (buf);
                }
            }
        }
    }
}

static void check_shared (loom_comm_t *c)
{
    static const uint64_t lens[] = {0, 1, 4095, 4097, 3 << 20};
    loom_error_t err = {{0}};
    for (size_t l = 0; l < sizeof (lens) / sizeof (lens[0]); l++) {
        for (int root = 0; root<size; root += size> 1 ? size - 1 : 1) {
            uint64_t len = lens[l];
            unsigned char *src = NULL;
            if (rank == root) {
                src = malloc (len ? len : 1);
                for (uint64_t i = 0; i < len; i++)
                    src[i] = pattern (i, len, root);
            }
            struct loom_bcast_params p = LOOM_BCAST_PARAMS_INIT;
            p.chunk_bytes = 4096;
            /* Non-roots pass any length: the root's is used. */
            loom_shared_t *s =
                loom_bcast_shared (c, src, rank == root ? len : 12345, root, &p, &err);
            if (!s)
                fprintf (stderr, "[rank %d] bcast_shared: %s\n", rank, err.text);
            MT_REQUIRE (s != NULL);
            MT_EQ (loom_shared_size (s), len);
            const unsigned char *d = loom_shared_data (s);
            MT_CHECK (len == 0 || d != NULL);
            if (len)
                MT_EQ (mismatches (d, len, root), 0);
            loom_shared_destroy (s);
            free (src);
        }
    }
}

/* Broadcast 'len' bytes of pattern (len, root) from 'root' (src: its buffer). */
static loom_shared_t *
shared_pattern (loom_comm_t *c, unsigned char *src, uint64_t len, int root)
{
    loom_error_t err = {{0}};
    if (rank == root) {
        for (uint64_t i = 0; i < len; i++)
            src[i] = pattern (i, len, root);
    }
    loom_shared_t *s = loom_bcast_shared (c, src, len, root, NULL, &err);
    if (!s)
        fprintf (stderr, "[rank %d] bcast_shared: %s\n", rank, err.text);
    MT_REQUIRE (s != NULL);
    MT_EQ (loom_shared_size (s), len);
    return s;
}

/* The communicator keeps windows for reuse: results alive at once keep their own
 * data; a released window is reused (same address) by the next broadcast that fits,
 * without disturbing a result still alive; a larger broadcast after that gets a
 * larger window.
 */
static void check_shared_reuse (loom_comm_t *c)
{
    int root = size - 1;
    uint64_t la = 3u << 20, lb = 5000, lc = 1u << 20, ld = 6u << 20;
    unsigned char *src = rank == root ? malloc (ld) : NULL;
    loom_shared_t *a = shared_pattern (c, src, la, root);
    loom_shared_t *b = shared_pattern (c, src, lb, root);
    MT_CHECK (loom_shared_data (a) != loom_shared_data (b));
    MT_EQ (mismatches (loom_shared_data (a), la, root), 0);
    MT_EQ (mismatches (loom_shared_data (b), lb, root), 0);
    const void *where = loom_shared_data (a);
    loom_shared_destroy (a);
    loom_shared_t *d = shared_pattern (c, src, lc, root);
    MT_CHECK (loom_shared_data (d) == where);
    MT_EQ (mismatches (loom_shared_data (d), lc, root), 0);
    MT_EQ (mismatches (loom_shared_data (b), lb, root), 0);
    loom_shared_destroy (d);
    loom_shared_destroy (b);
    for (int k = 0; k < 2; k++) {
        loom_shared_t *e = shared_pattern (c, src, ld, root);
        MT_EQ (mismatches (loom_shared_data (e), ld, root), 0);
        loom_shared_destroy (e);
    }
    free (src);
}

static void bad_input (loom_comm_t *c)
{
    loom_error_t err = {{0}};
    char buf[16] = {0};
    errno = 0;
    MT_EQ (loom_bcast (c, buf, 16, size, NULL, &err), -1);
    MT_EQ (errno, EINVAL);
    MT_CHECK (strstr (err.text, "root") != NULL);
    struct loom_bcast_params p = LOOM_BCAST_PARAMS_INIT;
    p.algorithm = (loom_bcast_algo_t)9;
    MT_EQ (loom_bcast (c, buf, 16, 0, &p, &err), -1);
    MT_CHECK (strstr (err.text, "algorithm") != NULL);
    p = (struct loom_bcast_params)LOOM_BCAST_PARAMS_INIT;
    p.chunk_bytes = 1ull << 32;
    MT_EQ (loom_bcast (c, buf, 16, 0, &p, &err), -1);
    MT_CHECK (strstr (err.text, "chunk_bytes") != NULL);
    MT_CHECK (loom_bcast_shared (c, buf, 16, -1, NULL, &err) == NULL);
    MT_EQ (errno, EINVAL);
    /* Different lengths: every rank refuses, none hangs or overflows. */
    if (size > 1) {
        errno = 0;
        MT_EQ (loom_bcast (c, buf, rank == 0 ? 16 : 8, 0, NULL, &err), -1);
        MT_EQ (errno, EINVAL);
        MT_CHECK (strstr (err.text, "different lengths") != NULL);
    }
    errno = 3;
    loom_shared_destroy (NULL);
    MT_EQ (errno, 3);
}

int main (int argc, char **argv)
{
    mt_init (&argc, &argv);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    rank = mt_rank;
    loom_comm_t *c = loom_comm_create (MPI_COMM_WORLD, NULL, NULL);
    MT_REQUIRE (c != NULL);
    check_bcast (c);
    check_shared (c);
    check_shared_reuse (c);
    bad_input (c);
    loom_comm_destroy (c);
    /* Pretend nodes of one and of two ranks: the leaders broadcast between them. */
    for (int ns = 1; ns <= 2; ns++) {
        struct loom_comm_params cp = LOOM_COMM_PARAMS_INIT;
        cp.node_size = ns;
        c = loom_comm_create (MPI_COMM_WORLD, &cp, NULL);
        MT_REQUIRE (c != NULL);
        check_shared (c);
        check_shared_reuse (c);
        loom_comm_destroy (c);
    }
    return mt_finish ("test_bcast");
}
