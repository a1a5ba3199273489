/* SPDX-License-Identifier: MIT */
/* Small collectives of the communicator, as non-blocking MPI calls waited on under
 * the communicator's timeout.
 */
#include <errno.h>
#include <limits.h>

#include "internal.h"

int loom_comm_barrier (loom_comm_t *c, loom_error_t *error)
{
    MPI_Request req;
    int rc = MPI_Ibarrier (c->mpi, &req);
    if (rc != MPI_SUCCESS)
        return loom__mpi_error (rc, "barrier", error);
    return loom__waitall (1, &req, c->timeout_sec, "barrier", error);
}

static int to_mpi_op (loom_op_t op, MPI_Op *out)
{
    switch (op) {
    case LOOM_OP_SUM:
        *out = MPI_SUM;
        return 0;
    case LOOM_OP_MIN:
        *out = MPI_MIN;
        return 0;
    case LOOM_OP_MAX:
        *out = MPI_MAX;
        return 0;
    }
    return -1;
}

static int allreduce (loom_comm_t *c,
                      void *buf,
                      size_t n,
                      MPI_Datatype type,
                      loom_op_t op,
                      loom_error_t *error)
{
    MPI_Op mop;
    MPI_Request req;
    if (to_mpi_op (op, &mop) < 0)
        return loom_errset (error, EINVAL, "allreduce: unknown op %d", (int)op);
    if (n > INT_MAX)
        return loom_errset (error, EINVAL, "allreduce: %zu values is too many", n);
    if (n == 0)
        return 0;
    int rc = MPI_Iallreduce (MPI_IN_PLACE, buf, (int)n, type, mop, c->mpi, &req);
    if (rc != MPI_SUCCESS)
        return loom__mpi_error (rc, "allreduce", error);
    return loom__waitall (1, &req, c->timeout_sec, "allreduce", error);
}

int loom_comm_allreduce_u64 (
    loom_comm_t *c, uint64_t *buf, size_t n, loom_op_t op, loom_error_t *error)
{
    return allreduce (c, buf, n, MPI_UINT64_T, op, error);
}

int loom_comm_allreduce_f64 (
    loom_comm_t *c, double *buf, size_t n, loom_op_t op, loom_error_t *error)
{
    return allreduce (c, buf, n, MPI_DOUBLE, op, error);
}

int loom_comm_alltoall_u64 (loom_comm_t *c,
                            const uint64_t *send_counts,
                            uint64_t *recv_counts,
                            loom_error_t *error)
{
    MPI_Request req;
    int rc = MPI_Ialltoall (send_counts, 1, MPI_UINT64_T, recv_counts, 1, MPI_UINT64_T,
                            c->mpi, &req);
    if (rc != MPI_SUCCESS)
        return loom__mpi_error (rc, "count exchange", error);
    return loom__waitall (1, &req, c->timeout_sec, "count exchange", error);
}

int loom_comm_allgather_u64 (loom_comm_t *c,
                             uint64_t value,
                             uint64_t *out,
                             loom_error_t *error)
{
    MPI_Request req;
    int rc =
        MPI_Iallgather (&value, 1, MPI_UINT64_T, out, 1, MPI_UINT64_T, c->mpi, &req);
    if (rc != MPI_SUCCESS)
        return loom__mpi_error (rc, "allgather", error);
    return loom__waitall (1, &req, c->timeout_sec, "allgather", error);
}
