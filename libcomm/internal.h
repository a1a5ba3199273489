/* SPDX-License-Identifier: MIT */
/* Internals shared by the files of libcomm. Not installed. */
#ifndef LOOM_LIBCOMM_INTERNAL_H
#define LOOM_LIBCOMM_INTERNAL_H

#include <loom/comm.h>
#include <loom/error.h>

struct loom_comm {
    MPI_Comm mpi;     /* duplicate of the user's communicator */
    MPI_Comm node;    /* ranks of this node */
    MPI_Comm leaders; /* node rank 0 of each node, or MPI_COMM_NULL */
    MPI_Comm lane;    /* same node rank on every node */
    int rank, size;
    int node_rank, node_size;
    int node_id, nnodes;
    int *node_of;   /* [size]: node id of every rank */
    int *node_base; /* [nnodes]: lowest rank of every node */
    int *node_cnt;  /* [nnodes]: ranks on every node */
    bool uniform;
    bool local_direct; /* LOOM_COMM_LOCAL_DIRECT is not 0 on any rank (comm.c) */
    double timeout_sec;
    uint32_t shuffles; /* shuffles created so far (trace flow ids) */
    /* Node-shared windows kept for loom_bcast_shared() (bcast_shared.c). */
    struct loom__shwin *shwins;
};

/* Free the windows of loom_bcast_shared(). Collective over the node. */
void loom__shwin_free_all (loom_comm_t *c);

/* The timeout to apply: 'own' when > 0, else the communicator's. */
static inline double loom__timeout (const loom_comm_t *c, double own)
{
    return own > 0 ? own : c->timeout_sec;
}

/* Wait for 'n' requests with a timeout in seconds (0: none). Returns 0, or -1 with
 * errno ETIMEDOUT ('what' names the step in the message) or EIO.
 */
int loom__waitall (int n,
                   MPI_Request *reqs,
                   double timeout_sec,
                   const char *what,
                   loom_error_t *error);

/* Turn an MPI error code into errno EIO + message. Returns -1. */
int loom__mpi_error (int rc, const char *what, loom_error_t *error);

/* Deadline helpers for loops that poll several steps under one timeout. */
double loom__deadline (double timeout_sec); /* 0 when timeout_sec is 0 */
int loom__waitall_until (
    int n, MPI_Request *reqs, double deadline, const char *what, loom_error_t *error);

#endif
