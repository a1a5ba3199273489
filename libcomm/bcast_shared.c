/* SPDX-License-Identifier: MIT */
/* Broadcast into one copy per node. The node leader allocates the whole buffer in a
 * node-shared window (MPI_Win_allocate_shared); the other ranks of the node allocate
 * nothing and map the leader's part. The root copies its data into its node's window
 * (it is on that node, so it can write it directly), then the leaders broadcast
 * window to window over the leaders communicator. Ranks read the window in place, so
 * a node holds the data once instead of once per rank, and on a single node the
 * broadcast costs one memcpy.
 *
 * Memory consistency: writers and readers of the window are separated by MPI_Win_sync
 * + a node barrier + MPI_Win_sync (the unified memory model's recipe). The pages
 * are then mapped read-only in every process where whole pages allow it, so a stray
 * write faults instead of corrupting every rank's copy.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <loom/trace.h>

#include "bcast_impl.h"

LOOM_TRACE_TYPE (t_shared, "comm", "bcast_shared", "bytes", "nodes");

struct loom_shared {
    MPI_Win win;
    MPI_Comm node;
    char *data;
    uint64_t len;
    bool locked;
    char *prot_lo, *prot_hi; /* page range made read-only */
};

/* Whole pages inside [p, p + len). */
static void page_range (char *p, uint64_t len, char **lo, char **hi)
{
    uintptr_t page = (uintptr_t)sysconf (_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t b = ((uintptr_t)p + len) & ~(page - 1);
    *lo = *hi = NULL;
    if (p && b > a) {
        *lo = (char *)a;
        *hi = (char *)b;
    }
}

void loom_shared_destroy (loom_shared_t *s)
{
    if (!s)
        return;
    int saved = errno;
    if (s->prot_lo)
        mprotect (s->prot_lo, (size_t)(s->prot_hi - s->prot_lo),
                  PROT_READ | PROT_WRITE);
    if (s->locked)
        MPI_Win_unlock_all (s->win);
    if (s->win != MPI_WIN_NULL) {
        /* Collective over the node: nobody frees while another still reads. */
        MPI_Win_free (&s->win);
    }
    free (s);
    errno = saved;
}

const void *loom_shared_data (const loom_shared_t *s)
{
    return s->data;
}

uint64_t loom_shared_size (const loom_shared_t *s)
{
    return s->len;
}

static int node_barrier (loom_shared_t *s, double timeout, loom_error_t *error)
{
    MPI_Win_sync (s->win);
    MPI_Request req;
    int rc = MPI_Ibarrier (s->node, &req);
    if (rc != MPI_SUCCESS)
        return loom__mpi_error (rc, "bcast_shared: node barrier", error);
    if (loom__waitall (1, &req, timeout, "bcast_shared", error) < 0)
        return -1;
    MPI_Win_sync (s->win);
    return 0;
}

loom_shared_t *loom_bcast_shared (loom_comm_t *c,
                                  const void *buf,
                                  uint64_t len,
                                  int root,
                                  const struct loom_bcast_params *params,
                                  loom_error_t *error)
{
    struct loom_bcast_params defaults = LOOM_BCAST_PARAMS_INIT;
    if (!params)
        params = &defaults;
    if (loom__bcast_check (c, params, root, error) < 0)
        return NULL;
    if (c->rank == root && len > 0 && !buf) {
        loom_errset (error, EINVAL, "bcast_shared: buf is NULL on the root");
        return NULL;
    }
    double timeout = loom__timeout (c, params->timeout_sec);
    loom_trace_span_t span = 0;
    MPI_Request req;
    int rc = MPI_Ibcast (&len, 1, MPI_UINT64_T, root, c->mpi, &req);
    if (rc != MPI_SUCCESS) {
        loom__mpi_error (rc, "bcast_shared: length", error);
        return NULL;
    }
    if (loom__waitall (1, &req, timeout, "bcast_shared: length", error) < 0)
        return NULL;
    if (len > (uint64_t)PTRDIFF_MAX) {
        loom_errset (error, EINVAL, "bcast_shared: %llu bytes is too large",
                     (unsigned long long)len);
        return NULL;
    }
    loom_shared_t *s = calloc (1, sizeof (*s));
    if (!s) {
        loom_errset (error, ENOMEM, "bcast_shared: out of memory");
        return NULL;
    }
    s->win = MPI_WIN_NULL;
    s->node = c->node;
    s->len = len;
    MPI_Info info;
    MPI_Info_create (&info);
    /* One contiguous segment; our part is the only non-empty one anyway. */
    MPI_Info_set (info, "alloc_shared_noncontig", "false");
    void *base = NULL;
    MPI_Aint mine = c->node_rank == 0 ? (MPI_Aint)len : 0;
    rc = MPI_Win_allocate_shared (mine, 1, info, c->node, &base, &s->win);
    MPI_Info_free (&info);
    if (rc != MPI_SUCCESS) {
        /* The usual cause is a /dev/shm too small for the data. */
        loom__mpi_error (rc, "bcast_shared: allocating the node-shared window", error);
        errno = ENOMEM;
        goto error;
    }
    MPI_Aint qsize;
    int qdisp;
    rc = MPI_Win_shared_query (s->win, 0, &qsize, &qdisp, &base);
    if (rc != MPI_SUCCESS) {
        loom__mpi_error (rc, "bcast_shared: MPI_Win_shared_query", error);
        goto error;
    }
    s->data = len ? base : NULL;
    span = loom_trace_begin (&t_shared, len, (uint64_t)c->nnodes);
    MPI_Win_lock_all (MPI_MODE_NOCHECK, s->win);
    s->locked = true;

    /* The root fills its node's copy. */
    if (c->rank == root && len)
        memcpy (s->data, buf, len);
    int root_node = c->node_of[root];
    if (c->nnodes > 1) {
        /* The root node's leader must see the root's writes before sending. */
        if (c->node_id == root_node && node_barrier (s, timeout, error) < 0)
            goto error;
        if (c->node_rank == 0
            && loom__bcast_comm (c->leaders, s->data, len, root_node, params->algorithm,
                                 params->chunk_bytes, timeout, false, error)
                   < 0)
            goto error;
    }
    if (node_barrier (s, timeout, error) < 0)
        goto error;
    page_range (s->data, len, &s->prot_lo, &s->prot_hi);
    if (s->prot_lo
        && mprotect (s->prot_lo, (size_t)(s->prot_hi - s->prot_lo), PROT_READ) < 0)
        s->prot_lo = s->prot_hi = NULL; /* protection is a safety net only */
    loom_trace_end (span);
    return s;
error:
    loom_trace_end (span);
    loom_shared_destroy (s);
    return NULL;
}
