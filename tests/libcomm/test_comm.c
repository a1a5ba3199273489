/* SPDX-License-Identifier: MIT */
/* The communicator: node discovery (real and pretend nodes), leaders and lanes, the
 * small collectives, bad parameters, and the timeout of a collective a peer never
 * joins.
 */
#include <errno.h>
#include <string.h>

#include <loom/comm.h>

#include "mpitest.h"

static void check_structure (loom_comm_t *c, int pretend)
{
    int rank, size;
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    MT_EQ (loom_comm_rank (c), rank);
    MT_EQ (loom_comm_size (c), size);

    if (pretend > 0) {
        /* Nodes of 'pretend' consecutive ranks. */
        MT_EQ (loom_comm_node_id (c), rank / pretend);
        MT_EQ (loom_comm_nnodes (c), (size + pretend - 1) / pretend);
        MT_EQ (loom_comm_node_rank (c), rank % pretend);
        int expect = size - (rank / pretend) * pretend;
        MT_EQ (loom_comm_node_size (c), expect < pretend ? expect : pretend);
        MT_EQ (loom_comm_is_uniform (c), size % pretend == 0 || size < pretend);
    } else {
        /* All ranks of a test run on this machine: one node. */
        MT_EQ (loom_comm_nnodes (c), 1);
        MT_EQ (loom_comm_node_id (c), 0);
        MT_EQ (loom_comm_node_size (c), size);
        MT_EQ (loom_comm_node_rank (c), rank);
        MT_CHECK (loom_comm_is_uniform (c));
    }
    /* node_of agrees with what every rank says about itself. */
    int mine = loom_comm_node_id (c);
    int *all = malloc (sizeof (int) * (size_t)size);
    MPI_Allgather (&mine, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD);
    for (int r = 0; r < size; r++)
        MT_EQ (loom_comm_node_of (c, r), all[r]);
    free (all);
    MT_EQ (loom_comm_node_of (c, -1), -1);
    MT_EQ (loom_comm_node_of (c, size), -1);

    /* Leaders: node rank 0 only, one per node, ordered by node id. */
    MPI_Comm lead = loom_comm_leaders (c);
    if (loom_comm_node_rank (c) == 0) {
        MT_REQUIRE (lead != MPI_COMM_NULL);
        int lr, ls;
        MPI_Comm_rank (lead, &lr);
        MPI_Comm_size (lead, &ls);
        MT_EQ (ls, loom_comm_nnodes (c));
        MT_EQ (lr, loom_comm_node_id (c));
    } else {
        MT_CHECK (lead == MPI_COMM_NULL);
    }
    /* Lane: one rank per node that has this node rank. */
    int lr, ls;
    MPI_Comm_rank (loom_comm_lane (c), &lr);
    MPI_Comm_size (loom_comm_lane (c), &ls);
    MT_EQ (lr, loom_comm_node_id (c));
    MT_CHECK (ls >= 1 && ls <= loom_comm_nnodes (c));
    /* The node communicator holds this node's ranks. */
    int ns;
    MPI_Comm_size (loom_comm_node (c), &ns);
    MT_EQ (ns, loom_comm_node_size (c));
}

static void check_collectives (loom_comm_t *c)
{
    int rank = loom_comm_rank (c), size = loom_comm_size (c);
    loom_error_t err = {{0}};
    MT_EQ (loom_comm_barrier (c, &err), 0);

    uint64_t v[3] = {(uint64_t)rank + 1, (uint64_t)rank + 1, (uint64_t)rank + 1};
    MT_EQ (loom_comm_allreduce_u64 (c, v, 1, LOOM_OP_SUM, &err), 0);
    MT_EQ (v[0], (uint64_t)size * (size + 1) / 2);
    MT_EQ (loom_comm_allreduce_u64 (c, v + 1, 1, LOOM_OP_MIN, &err), 0);
    MT_EQ (v[1], 1);
    MT_EQ (loom_comm_allreduce_u64 (c, v + 2, 1, LOOM_OP_MAX, &err), 0);
    MT_EQ (v[2], size);
    double d = 0.5 * rank;
    MT_EQ (loom_comm_allreduce_f64 (c, &d, 1, LOOM_OP_MAX, &err), 0);
    MT_CHECK (d == 0.5 * (size - 1));

    errno = 0;
    MT_EQ (loom_comm_allreduce_u64 (c, v, 1, (loom_op_t)42, &err), -1);
    MT_EQ (errno, EINVAL);
    MT_CHECK (strstr (err.text, "op") != NULL);

    uint64_t *send = malloc (sizeof (uint64_t) * (size_t)size);
    uint64_t *recv = malloc (sizeof (uint64_t) * (size_t)size);
    for (int r = 0; r < size; r++)
        send[r] = (uint64_t)rank * 1000 + (uint64_t)r;
    MT_EQ (loom_comm_alltoall_u64 (c, send, recv, &err), 0);
    for (int r = 0; r < size; r++)
        MT_EQ (recv[r], (uint64_t)r * 1000 + (uint64_t)rank);
    MT_EQ (loom_comm_allgather_u64 (c, (uint64_t)rank * 7, recv, &err), 0);
    for (int r = 0; r < size; r++)
        MT_EQ (recv[r], (uint64_t)r * 7);
    free (send);
    free (recv);
}

/* Rank 0 waits in a barrier the others join only after its timeout: it must get
 * ETIMEDOUT, not hang. The others then join a world barrier first, so the abandoned
 * Ibarrier of rank 0 completes when they call their own barrier later.
 */
static void check_timeout (void)
{
    int size;
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    if (size < 2)
        return;
    /* Only rank 0 has a short timeout: the others must not time out themselves when
     * an oversubscribed machine deschedules rank 0 for a while.
     */
    struct loom_comm_params p = LOOM_COMM_PARAMS_INIT;
    int me;
    MPI_Comm_rank (MPI_COMM_WORLD, &me);
    p.timeout_sec = me == 0 ? 0.2 : 60;
    loom_error_t err = {{0}};
    loom_comm_t *c = loom_comm_create (MPI_COMM_WORLD, &p, &err);
    MT_REQUIRE (c != NULL);
    MT_CHECK (loom_comm_timeout (c) == p.timeout_sec);
    if (loom_comm_rank (c) == 0) {
        errno = 0;
        MT_EQ (loom_comm_barrier (c, &err), -1);
        MT_EQ (errno, ETIMEDOUT);
        MT_CHECK (strstr (err.text, "timed out") != NULL);
        MPI_Barrier (MPI_COMM_WORLD);
    } else {
        MPI_Barrier (MPI_COMM_WORLD);
        /* Completes rank 0's abandoned barrier. */
        MT_EQ (loom_comm_barrier (c, &err), 0);
    }
    /* Rank 0's request is gone; it cannot join that barrier any more. Free the
     * communicator only after the others are done with it.
     */
    MPI_Barrier (MPI_COMM_WORLD);
    loom_comm_destroy (c);
}

static void check_bad_params (void)
{
    loom_error_t err = {{0}};
    struct loom_comm_params p = LOOM_COMM_PARAMS_INIT;
    p.node_size = -1;
    errno = 0;
    MT_CHECK (loom_comm_create (MPI_COMM_WORLD, &p, &err) == NULL);
    MT_EQ (errno, EINVAL);
    MT_CHECK (strstr (err.text, "node_size") != NULL);
    p.node_size = 0;
    p.timeout_sec = -1;
    MT_CHECK (loom_comm_create (MPI_COMM_WORLD, &p, &err) == NULL);
    MT_EQ (errno, EINVAL);
    MT_CHECK (strstr (err.text, "timeout_sec") != NULL);
    MT_CHECK (loom_comm_create (MPI_COMM_NULL, NULL, &err) == NULL);
    MT_EQ (errno, EINVAL);
    errno = 1234;
    loom_comm_destroy (NULL);
    MT_EQ (errno, 1234);
}

int main (int argc, char **argv)
{
    mt_init (&argc, &argv);
    loom_error_t err = {{0}};
    loom_comm_t *c = loom_comm_create (MPI_COMM_WORLD, NULL, &err);
    MT_REQUIRE (c != NULL);
    check_structure (c, 0);
    check_collectives (c);
    loom_comm_destroy (c);

    struct loom_comm_params p = LOOM_COMM_PARAMS_INIT;
    for (int pretend = 1; pretend <= 3; pretend++) {
        p.node_size = pretend;
        c = loom_comm_create (MPI_COMM_WORLD, &p, &err);
        MT_REQUIRE (c != NULL);
        check_structure (c, pretend);
        check_collectives (c);
        loom_comm_destroy (c);
    }
    check_bad_params ();
    check_timeout ();
    return mt_finish ("test_comm");
}
