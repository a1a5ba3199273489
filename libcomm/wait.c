/* SPDX-License-Identifier: MIT */
/* Waiting on MPI requests under a timeout. MPI has no timed wait, so we poll with
 * MPI_Testall and yield the CPU between polls: on an oversubscribed node the peer
 * we wait for may need our core to make progress.
 */
#include <errno.h>
#include <sched.h>

#include <loom/clock.h>

#include "internal.h"

int loom__mpi_error (int rc, const char *what, loom_error_t *error)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string (rc, msg, &len) != MPI_SUCCESS)
        msg[0] = '\0';
    return loom_errset (error, EIO, "%s: MPI error: %s", what, msg);
}

double loom__deadline (double timeout_sec)
{
    return timeout_sec > 0 ? loom_clock_sec () + timeout_sec : 0;
}

int loom__waitall_until (
    int n, MPI_Request *reqs, double deadline, const char *what, loom_error_t *error)
{
    int rc;
    if (n == 0)
        return 0;
    if (deadline <= 0) {
        rc = MPI_Waitall (n, reqs, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS)
            return loom__mpi_error (rc, what, error);
        return 0;
    }
    for (unsigned spins = 0;; spins++) {
        int done = 0;
        rc = MPI_Testall (n, reqs, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS)
            return loom__mpi_error (rc, what, error);
        if (done)
            return 0;
        /* Reading the clock every poll costs more than the poll. */
        if ((spins & 63) == 63) {
            if (loom_clock_sec () > deadline)
                return loom_errset (error, ETIMEDOUT, "%s: timed out waiting for peers",
                                    what);
            sched_yield ();
        }
    }
}

int loom__waitall (
    int n, MPI_Request *reqs, double timeout_sec, const char *what, loom_error_t *error)
{
    return loom__waitall_until (n, reqs, loom__deadline (timeout_sec), what, error);
}
