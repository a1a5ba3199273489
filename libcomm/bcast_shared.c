/* SPDX-License-Identifier: MIT */
/* Broadcast into one copy per node, in a node-shared window (MPI_Win_allocate_shared)
 * that every rank of the node reads in place, so a node holds the data once instead
 * of once per rank.
 *
 * Windows are kept by the communicator and reused: allocating one costs a shared
 * file, MPI's setup (collective over the node) and a page fault per 4 KiB on first
 * touch, which on one node is more than the copy itself. A call takes the smallest
 * free window that is large enough; if none is, the free windows are freed and
 * replaced by one of the new size (grow when needed); a window still held by a live
 * loom_shared_t is never touched, so several results can be alive at once. Pages of
 * a reused window beyond the new length are returned to the system (MADV_REMOVE), so
 * the node holds the current data once, not the largest broadcast so far. Windows are
 * freed with the communicator. Every rank of a node makes the same calls in the same
 * order, so every rank's list of windows is the same and they pick the same one.
 *
 * Filling, on the root's node: every rank of the node copies a share of the root's
 * buffer straight into the window with cross-memory attach (process_vm_readv), so
 * all cores copy at once and each byte is copied once; where the kernel refuses, the
 * root copies it all. Other nodes' leaders then receive the window from the root
 * node's leader over the leaders communicator (loom_bcast's algorithms).
 *
 * Memory consistency: writers and readers of the window are separated by MPI_Win_sync
 * + a node barrier + MPI_Win_sync (the unified memory model's recipe). A call starts
 * with an allreduce over all ranks, so nobody writes a window before every rank has
 * entered the call (and so destroyed whatever it no longer reads). The pages are
 * mapped read-only in every process while a result is alive, where whole pages allow
 * it, so a stray write faults instead of corrupting every rank's copy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <loom/trace.h>

#include "bcast_impl.h"

LOOM_TRACE_TYPE (t_shared, "comm", "bcast_shared", "bytes", "nodes", "reused");

struct loom__shwin {
    MPI_Win win;
    char *base;       /* the data area, as mapped in this process */
    uint64_t cap;     /* its size */
    uint64_t touched; /* bytes from 'base' that may hold pages */
    bool busy;        /* held by a live loom_shared_t */
    struct loom__shwin *next;
};

struct loom_shared {
    struct loom__shwin *w; /* NULL for 0 bytes */
    char *data;
    uint64_t len;
    char *prot_lo, *prot_hi; /* page range made read-only */
};

static uintptr_t page_size (void)
{
    return (uintptr_t)sysconf (_SC_PAGESIZE);
}

/* Whole pages inside [p, p + len). */
static void page_range (char *p, uint64_t len, char **lo, char **hi)
{
    uintptr_t page = page_size ();
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t b = ((uintptr_t)p + len) & ~(page - 1);
    *lo = *hi = NULL;
    if (p && b > a) {
        *lo = (char *)a;
        *hi = (char *)b;
    }
}

static void win_free (struct loom__shwin *w)
{
    MPI_Win_unlock_all (w->win);
    /* Collective over the node. */
    MPI_Win_free (&w->win);
    free (w);
}

void loom__shwin_free_all (loom_comm_t *c)
{
    while (c->shwins) {
        struct loom__shwin *w = c->shwins;
        c->shwins = w->next;
        win_free (w);
    }
}

/* A new window of 'len' bytes, all on the node leader (one contiguous segment that
 * every rank maps).
 */
static struct loom__shwin *win_new (loom_comm_t *c, uint64_t len, loom_error_t *error)
{
    struct loom__shwin *w = calloc (1, sizeof (*w));
    if (!w) {
        loom_errset (error, ENOMEM, "bcast_shared: out of memory");
        return NULL;
    }
    MPI_Info info;
    MPI_Info_create (&info);
    MPI_Info_set (info, "alloc_shared_noncontig", "false");
    void *base = NULL;
    MPI_Aint mine = c->node_rank == 0 ? (MPI_Aint)len : 0;
    int rc = MPI_Win_allocate_shared (mine, 1, info, c->node, &base, &w->win);
    MPI_Info_free (&info);
    if (rc != MPI_SUCCESS) {
        /* The usual cause is a /dev/shm too small for the data. */
        loom__mpi_error (rc, "bcast_shared: allocating the node-shared window", error);
        errno = ENOMEM;
        free (w);
        return NULL;
    }
    MPI_Aint qsize;
    int qdisp;
    rc = MPI_Win_shared_query (w->win, 0, &qsize, &qdisp, &base);
    if (rc != MPI_SUCCESS) {
        loom__mpi_error (rc, "bcast_shared: MPI_Win_shared_query", error);
        MPI_Win_free (&w->win);
        free (w);
        return NULL;
    }
    MPI_Win_lock_all (MPI_MODE_NOCHECK, w->win);
    w->base = base;
    w->cap = len;
    w->touched = len;
    return w;
}

/* The window for 'len' bytes: the smallest free one that is large enough, else a
 * new one (replacing a free one that is too small). Collective over the node.
 */
static struct loom__shwin *
win_get (loom_comm_t *c, uint64_t len, bool *reused, loom_error_t *error)
{
    struct loom__shwin *best = NULL;
    for (struct loom__shwin *w = c->shwins; w; w = w->next) {
        if (!w->busy && w->cap >= len && (!best || w->cap < best->cap))
            best = w;
    }
    *reused = best != NULL;
    if (best)
        return best;
    /* The free windows are all too small: replace them by one of the new size. */
    for (struct loom__shwin **pw = &c->shwins; *pw;) {
        struct loom__shwin *w = *pw;
        if (w->busy) {
            pw = &w->next;
            continue;
        }
        *pw = w->next;
        win_free (w);
    }
    /* Whole pages: a slightly larger broadcast later still fits. */
    uintptr_t page = page_size ();
    uint64_t cap = (len + page - 1) & ~(uint64_t)(page - 1);
    struct loom__shwin *w = win_new (c, cap, error);
    if (w) {
        w->next = c->shwins;
        c->shwins = w;
    }
    return w;
}

/* Give back the pages of a reused window beyond 'len' (the leader's job: the pages
 * are the node's, not a rank's). Advice only: on failure they stay.
 */
static void win_trim (loom_comm_t *c, struct loom__shwin *w, uint64_t len)
{
    if (w->touched <= len)
        return;
    uintptr_t page = page_size ();
    char *from = (char *)(((uintptr_t)w->base + len + page - 1) & ~(page - 1));
    char *end = w->base + w->touched, *lo, *hi;
    if (c->node_rank == 0 && from < end) {
        page_range (from, (uint64_t)(end - from), &lo, &hi);
        if (lo)
            madvise (lo, (size_t)(hi - lo), MADV_REMOVE);
    }
    w->touched = len;
}

void loom_shared_destroy (loom_shared_t *s)
{
    if (!s)
        return;
    int saved = errno;
    if (s->prot_lo)
        mprotect (s->prot_lo, (size_t)(s->prot_hi - s->prot_lo),
                  PROT_READ | PROT_WRITE);
    /* The window goes back to the communicator for the next call, whose opening
     * allreduce makes sure every rank has let go of it before anyone writes it.
     */
    if (s->w)
        s->w->busy = false;
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

static int
node_barrier (loom_comm_t *c, MPI_Win win, double timeout, loom_error_t *error)
{
    MPI_Win_sync (win);
    MPI_Request req;
    int rc = MPI_Ibarrier (c->node, &req);
    if (rc != MPI_SUCCESS)
        return loom__mpi_error (rc, "bcast_shared: node barrier", error);
    if (loom__waitall (1, &req, timeout, "bcast_shared", error) < 0)
        return -1;
    MPI_Win_sync (win);
    return 0;
}

/* Copy 'len' bytes from process 'pid' at 'remote' to 'local'. Returns 0 or -1. */
static int cma_read (pid_t pid, char *local, uint64_t remote, uint64_t len)
{
    uint64_t done = 0;
    while (done < len) {
        struct iovec l = {local + done, (size_t)(len - done)};
        struct iovec r = {(void *)(uintptr_t)(remote + done), (size_t)(len - done)};
        ssize_t n = process_vm_readv (pid, &l, 1, &r, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (uint64_t)n;
    }
    return 0;
}

/* The root's node fills the window: rank i of the node copies share i of the root's
 * buffer (the root with memcpy, the others with process_vm_readv); where any rank
 * could not, the root copies everything. Ends with the node barrier that publishes
 * the data.
 */
static int fill_root_node (loom_comm_t *c,
                           struct loom__shwin *w,
                           const void *buf,
                           uint64_t len,
                           int root,
                           const uint64_t *where, /* the root's pid and buffer */
                           double timeout,
                           loom_error_t *error)
{
    uint64_t n = (uint64_t)c->node_size, i = (uint64_t)c->node_rank;
    uint64_t off = i * len / n, sz = (i + 1) * len / n - off;
    int failed = 0;
    if (c->rank == root)
        memcpy (w->base + off, (const char *)buf + off, sz);
    else if (sz && cma_read ((pid_t)where[0], w->base + off, where[1] + off, sz) < 0)
        failed = 1;
    /* Also the barrier (with MPI_Win_sync around it) after the copies. */
    MPI_Win_sync (w->win);
    MPI_Request req;
    int rc = MPI_Iallreduce (MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, c->node, &req);
    if (rc != MPI_SUCCESS)
        return loom__mpi_error (rc, "bcast_shared: node copy", error);
    if (loom__waitall (1, &req, timeout, "bcast_shared", error) < 0)
        return -1;
    MPI_Win_sync (w->win);
    if (!failed)
        return 0;
    /* The kernel refused cross-memory attach (ptrace restrictions). */
    if (c->rank == root)
        memcpy (w->base, buf, len);
    return node_barrier (c, w->win, timeout, error);
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
    /* The root's length, pid and buffer address reach everyone in one allreduce
     * (the others contribute zeros), which also keeps anyone from writing a reused
     * window before every rank has entered this call.
     */
    uint64_t v[3] = {0, 0, 0};
    if (c->rank == root)
        v[0] = len, v[1] = (uint64_t)getpid (), v[2] = (uint64_t)(uintptr_t)buf;
    MPI_Request req;
    int rc = MPI_Iallreduce (MPI_IN_PLACE, v, 3, MPI_UINT64_T, MPI_MAX, c->mpi, &req);
    if (rc != MPI_SUCCESS) {
        loom__mpi_error (rc, "bcast_shared: length", error);
        return NULL;
    }
    if (loom__waitall (1, &req, timeout, "bcast_shared: length", error) < 0)
        return NULL;
    len = v[0];
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
    s->len = len;
    if (len == 0)
        return s;
    bool reused;
    struct loom__shwin *w = win_get (c, len, &reused, error);
    if (!w)
        goto error;
    w->busy = true;
    s->w = w;
    s->data = w->base;
    win_trim (c, w, len);
    if (len > w->touched)
        w->touched = len;
    loom_trace_span_t span =
        loom_trace_begin (&t_shared, len, (uint64_t)c->nnodes, (uint64_t)reused);
    int root_node = c->node_of[root];
    if (c->node_id == root_node
        && fill_root_node (c, w, buf, len, root, v + 1, timeout, error) < 0)
        goto error_span;
    if (c->nnodes > 1) {
        if (c->node_rank == 0
            && loom__bcast_comm (c->leaders, s->data, len, root_node, params->algorithm,
                                 params->chunk_bytes, timeout, false, error)
                   < 0)
            goto error_span;
        if (node_barrier (c, w->win, timeout, error) < 0)
            goto error_span;
    }
    page_range (s->data, len, &s->prot_lo, &s->prot_hi);
    if (s->prot_lo
        && mprotect (s->prot_lo, (size_t)(s->prot_hi - s->prot_lo), PROT_READ) < 0)
        s->prot_lo = s->prot_hi = NULL; /* protection is a safety net only */
    loom_trace_end (span);
    return s;
error_span:
    loom_trace_end (span);
error:
    loom_shared_destroy (s);
    return NULL;
}
