/* SPDX-License-Identifier: MIT */
/* Large broadcasts. Three algorithms over any communicator:
 *   - MPI: MPI_Bcast in pieces below 2 GiB (small sizes: its binomial tree has the
 *     lowest latency);
 *   - chain: ranks in a line from the root, the buffer in chunks; each rank forwards
 *     chunk i while chunk i+1 arrives, so the time is about len/bandwidth plus
 *     (ranks - 2) chunks, and every byte is copied once per rank. With two ranks it
 *     is one large point-to-point transfer (a single copy with shared memory);
 *   - scatter + ring allgather: the root scatters 1/p of the buffer to each rank,
 *     then p - 1 ring steps pass the pieces round. Each rank sends and receives
 *     about 2 len (p - 1) / p: the best when links, not copies, are the limit;
 *   - node copy (all ranks on one node): MPI's shared-memory path copies each byte
 *     once per receiver, but the receiver alone does the copying. Here the copies are
 *     split: with cross-memory attach the root writes share 1/p of every receiver's
 *     buffer while each receiver reads the other shares from the root, so all p
 *     cores copy at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include <loom/trace.h>

#include "bcast_impl.h"

LOOM_TRACE_TYPE (t_bcast, "comm", "bcast", "bytes", "name:s", "reason:s");

#define SMALL       (64u << 10)
#define MAX_CHUNK   ((uint64_t)INT32_MAX)
#define MAX_PENDING 64 /* chunk requests in flight per direction */

static uint64_t default_chunk (uint64_t len, int n)
{
    if (n <= 2)
        return len < (1u << 30) ? (len ? len : 1) : (1u << 30);
    uint64_t c = len / 16;
    if (c < (1u << 20))
        c = 1u << 20;
    if (c > (64u << 20))
        c = 64u << 20;
    return c;
}

loom_bcast_algo_t loom__bcast_choose (uint64_t len, int n, bool one_node)
{
    if (len < SMALL || n == 1)
        return LOOM_BCAST_MPI;
    if (one_node)
        return LOOM_BCAST_NODE_COPY;
    if (n <= 3)
        return LOOM_BCAST_CHAIN;
    return LOOM_BCAST_SCATTER_ALLGATHER;
}

static int bcast_mpi (MPI_Comm comm,
                      char *buf,
                      uint64_t len,
                      int root,
                      uint64_t chunk,
                      double timeout,
                      loom_error_t *error)
{
    for (uint64_t off = 0; off < len; off += chunk) {
        uint64_t n = len - off < chunk ? len - off : chunk;
        MPI_Request req;
        int rc = MPI_Ibcast (buf + off, (int)n, MPI_BYTE, root, comm, &req);
        if (rc != MPI_SUCCESS)
            return loom__mpi_error (rc, "bcast", error);
        if (loom__waitall (1, &req, timeout, "bcast", error) < 0)
            return -1;
    }
    return 0;
}

/* Chain: position i (0 = root) receives from i - 1 and sends to i + 1. Receives for
 * up to MAX_PENDING chunks are posted ahead; a chunk is forwarded as soon as it has
 * arrived, so the pipeline never waits for a whole window.
 */
static int bcast_chain (MPI_Comm comm,
                        char *buf,
                        uint64_t len,
                        int root,
                        uint64_t chunk,
                        double timeout,
                        loom_error_t *error)
{
    int rank, n, rc;
    MPI_Comm_rank (comm, &rank);
    MPI_Comm_size (comm, &n);
    int pos = (rank - root + n) % n;
    int prev = (rank - 1 + n) % n, next = (rank + 1) % n;
    bool has_prev = pos > 0, has_next = pos < n - 1;
    uint64_t nchunks = (len + chunk - 1) / chunk;
    MPI_Request rreq[MAX_PENDING], sreq[MAX_PENDING];
    for (int i = 0; i < MAX_PENDING; i++)
        rreq[i] = sreq[i] = MPI_REQUEST_NULL;
    uint64_t posted = 0;
    double deadline = loom__deadline (timeout);
    for (uint64_t k = 0; k < nchunks; k++) {
        if (has_prev) {
            /* Keep MAX_PENDING receives ahead. */
            for (; posted < nchunks && posted < k + MAX_PENDING; posted++) {
                uint64_t off = posted * chunk;
                uint64_t sz = len - off < chunk ? len - off : chunk;
                rc = MPI_Irecv (buf + off, (int)sz, MPI_BYTE, prev, 0, comm,
                                &rreq[posted % MAX_PENDING]);
                if (rc != MPI_SUCCESS)
                    return loom__mpi_error (rc, "bcast: chain receive", error);
            }
            if (loom__waitall_until (1, &rreq[k % MAX_PENDING], deadline, "bcast",
                                     error)
                < 0)
                return -1;
            deadline = loom__deadline (timeout);
        }
        if (has_next) {
            /* The slot is reused every MAX_PENDING chunks: wait for its last send. */
            if (loom__waitall_until (1, &sreq[k % MAX_PENDING], deadline, "bcast",
                                     error)
                < 0)
                return -1;
            uint64_t off = k * chunk;
            uint64_t sz = len - off < chunk ? len - off : chunk;
            rc = MPI_Isend (buf + off, (int)sz, MPI_BYTE, next, 0, comm,
                            &sreq[k % MAX_PENDING]);
            if (rc != MPI_SUCCESS)
                return loom__mpi_error (rc, "bcast: chain send", error);
        }
    }
    return loom__waitall (MAX_PENDING, sreq, timeout, "bcast", error);
}

/* Transfer 'sn' bytes to 'to' and 'rn' bytes from 'from' at once, in chunks. */
static int sendrecv (MPI_Comm comm,
                     const char *sbuf,
                     uint64_t sn,
                     int to,
                     char *rbuf,
                     uint64_t rn,
                     int from,
                     uint64_t chunk,
                     double timeout,
                     loom_error_t *error)
{
    uint64_t so = 0, ro = 0;
    while (so < sn || ro < rn) {
        MPI_Request req[2 * MAX_PENDING];
        int nr = 0, rc;
        for (int i = 0; i < MAX_PENDING && ro < rn; i++, ro += chunk) {
            uint64_t sz = rn - ro < chunk ? rn - ro : chunk;
            rc = MPI_Irecv (rbuf + ro, (int)sz, MPI_BYTE, from, 1, comm, &req[nr++]);
            if (rc != MPI_SUCCESS)
                return loom__mpi_error (rc, "bcast: allgather receive", error);
        }
        for (int i = 0; i < MAX_PENDING && so < sn; i++, so += chunk) {
            uint64_t sz = sn - so < chunk ? sn - so : chunk;
            rc = MPI_Isend (sbuf + so, (int)sz, MPI_BYTE, to, 1, comm, &req[nr++]);
            if (rc != MPI_SUCCESS)
                return loom__mpi_error (rc, "bcast: allgather send", error);
        }
        if (loom__waitall (nr, req, timeout, "bcast", error) < 0)
            return -1;
    }
    return 0;
}

static int bcast_scatter_allgather (MPI_Comm comm,
                                    char *buf,
                                    uint64_t len,
                                    int root,
                                    uint64_t chunk,
                                    double timeout,
                                    loom_error_t *error)
{
    int rank, n;
    MPI_Comm_rank (comm, &rank);
    MPI_Comm_size (comm, &n);
    /* Piece j (by position relative to the root) is [j*len/n, (j+1)*len/n). */
    int pos = (rank - root + n) % n;
#define PIECE_OFF(j) ((uint64_t)(j)*len / (uint64_t)n)
#define PIECE_LEN(j) (PIECE_OFF ((j) + 1) - PIECE_OFF (j))
    /* Scatter: linear from the root; each piece goes once over the root's link. */
    if (pos == 0) {
        for (int j = 1; j < n; j++) {
            int dst = (root + j) % n;
            if (sendrecv (comm, buf + PIECE_OFF (j), PIECE_LEN (j), dst, NULL, 0, dst,
                          chunk, timeout, error)
                < 0)
                return -1;
        }
    } else {
        if (sendrecv (comm, NULL, 0, root, buf + PIECE_OFF (pos), PIECE_LEN (pos), root,
                      chunk, timeout, error)
            < 0)
            return -1;
    }
    /* Ring allgather: in step s, send the piece received in step s - 1 (first our
     * own) to the next position and receive the one before it from the previous.
     */
    int next = (rank + 1) % n, prev = (rank - 1 + n) % n;
    for (int s = 0; s < n - 1; s++) {
        int sp = (pos - s + n) % n, rp = (pos - s - 1 + 2 * n) % n;
        if (sendrecv (comm, buf + PIECE_OFF (sp), PIECE_LEN (sp), next,
                      buf + PIECE_OFF (rp), PIECE_LEN (rp), prev, chunk, timeout, error)
            < 0)
            return -1;
    }
#undef PIECE_OFF
#undef PIECE_LEN
    return 0;
}

/* Copy 'len' bytes between this process's 'local' and process 'pid' at 'remote'
 * (written there when 'to_remote'). Returns 0, or -1 with errno.
 */
static int
cma_copy (pid_t pid, char *local, uint64_t remote, uint64_t len, bool to_remote)
{
    uint64_t done = 0;
    while (done < len) {
        struct iovec l = {local + done, (size_t)(len - done)};
        struct iovec r = {(void *)(uintptr_t)(remote + done), (size_t)(len - done)};
        ssize_t n = to_remote ? process_vm_writev (pid, &l, 1, &r, 1, 0)
                              : process_vm_readv (pid, &l, 1, &r, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        done += (uint64_t)n;
    }
    return 0;
}

/* Returns 0 when done, 1 when the kernel refused somewhere (every rank then falls
 * back, the root's buffer being intact), -1 on an MPI error or timeout.
 */
static int bcast_node_copy (MPI_Comm comm,
                            char *buf,
                            uint64_t len,
                            int root,
                            double timeout,
                            loom_error_t *error)
{
    int rank, n;
    MPI_Comm_rank (comm, &rank);
    MPI_Comm_size (comm, &n);
    uint64_t me[2] = {(uint64_t)getpid (), (uint64_t)(uintptr_t)buf};
    uint64_t *all = malloc (sizeof (uint64_t) * 2 * (size_t)n);
    if (!all)
        return loom_errset (error, ENOMEM, "bcast: out of memory");
    MPI_Request req;
    int rc = MPI_Iallgather (me, 2, MPI_UINT64_T, all, 2, MPI_UINT64_T, comm, &req);
    if (rc != MPI_SUCCESS) {
        free (all);
        return loom__mpi_error (rc, "bcast: node copy", error);
    }
    if (loom__waitall (1, &req, timeout, "bcast: node copy", error) < 0) {
        free (all);
        return -1;
    }
    /* Share j of the buffer is [j len / n, (j + 1) len / n). The root writes share
     * pos(i) of receiver i; receiver i reads every other share from the root.
     */
    int failed = 0, pos = (rank - root + n) % n;
#define SHARE_OFF(j) ((uint64_t)(j)*len / (uint64_t)n)
    if (pos == 0) {
        for (int j = 1; j < n && !failed; j++) {
            int r = (root + j) % n;
            uint64_t off = SHARE_OFF (j), sz = SHARE_OFF (j + 1) - off;
            if (cma_copy ((pid_t)all[2 * r], buf + off, all[2 * r + 1] + off, sz, true)
                < 0)
                failed = errno ? errno : EIO;
        }
    } else {
        for (int j = 0; j < n && !failed; j++) {
            if (j == pos)
                continue;
            uint64_t off = SHARE_OFF (j), sz = SHARE_OFF (j + 1) - off;
            if (cma_copy ((pid_t)all[2 * root], buf + off, all[2 * root + 1] + off, sz,
                          false)
                < 0)
                failed = errno ? errno : EIO;
        }
    }
#undef SHARE_OFF
    free (all);
    /* Also the barrier: nobody returns (and reuses its buffer) before all copies
     * into and out of it are done.
     */
    rc = MPI_Iallreduce (MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, comm, &req);
    if (rc != MPI_SUCCESS)
        return loom__mpi_error (rc, "bcast: node copy", error);
    if (loom__waitall (1, &req, timeout, "bcast: node copy", error) < 0)
        return -1;
    return failed ? 1 : 0;
}

int loom__bcast_comm (MPI_Comm comm,
                      void *buf,
                      uint64_t len,
                      int root,
                      loom_bcast_algo_t algo,
                      uint64_t chunk,
                      double timeout,
                      bool one_node,
                      loom_error_t *error)
{
    int n;
    MPI_Comm_size (comm, &n);
    if (n == 1 || len == 0)
        return 0;
    const char *why = "requested";
    if (algo == LOOM_BCAST_AUTO) {
        algo = loom__bcast_choose (len, n, one_node);
        why = algo == LOOM_BCAST_MPI         ? "below 64 KiB: latency-bound"
              : algo == LOOM_BCAST_NODE_COPY ? "one node: all cores copy at once"
              : algo == LOOM_BCAST_CHAIN     ? "3 ranks or fewer: a chain copies least"
                                             : "4 ranks or more: bandwidth-bound";
    }
    if (algo == LOOM_BCAST_NODE_COPY && !one_node) {
        algo = LOOM_BCAST_CHAIN;
        why = "node copy asked, but the ranks span nodes";
    }
    if (chunk == 0)
        chunk = algo == LOOM_BCAST_MPI ? MAX_CHUNK : default_chunk (len, n);
    static const char *names[] = {"auto", "mpi", "chain", "scatter-allgather",
                                  "node-copy"};
    loom_trace_span_t span = loom_trace_begin (
        &t_bcast, len, loom_trace_str (names[algo]), loom_trace_str (why));
    int rc;
    if (algo == LOOM_BCAST_NODE_COPY) {
        rc = bcast_node_copy (comm, buf, len, root, timeout, error);
        if (rc <= 0) {
            loom_trace_end (span);
            return rc;
        }
        /* The kernel refused cross-memory attach somewhere: a chain instead. */
        algo = LOOM_BCAST_CHAIN;
        chunk = default_chunk (len, n);
    }
    switch (algo) {
    case LOOM_BCAST_CHAIN:
        rc = bcast_chain (comm, buf, len, root, chunk, timeout, error);
        break;
    case LOOM_BCAST_SCATTER_ALLGATHER:
        rc = bcast_scatter_allgather (comm, buf, len, root, chunk, timeout, error);
        break;
    default:
        rc = bcast_mpi (comm, buf, len, root, chunk, timeout, error);
        break;
    }
    loom_trace_end (span);
    return rc;
}

int loom__bcast_check (loom_comm_t *c,
                       const struct loom_bcast_params *p,
                       int root,
                       loom_error_t *error)
{
    if (root < 0 || root >= c->size)
        return loom_errset (error, EINVAL, "bcast: root %d not in [0, %d)", root,
                            c->size);
    if ((unsigned)p->algorithm > LOOM_BCAST_NODE_COPY)
        return loom_errset (error, EINVAL, "bcast: params.algorithm %d is unknown",
                            (int)p->algorithm);
    if (p->chunk_bytes > MAX_CHUNK)
        return loom_errset (error, EINVAL,
                            "bcast: params.chunk_bytes exceeds 2 GiB - 1 (MPI counts "
                            "are int)");
    if (!(p->timeout_sec >= 0))
        return loom_errset (error, EINVAL, "bcast: params.timeout_sec must be >= 0");
    return 0;
}

int loom_bcast (loom_comm_t *c,
                void *buf,
                uint64_t len,
                int root,
                const struct loom_bcast_params *params,
                loom_error_t *error)
{
    struct loom_bcast_params defaults = LOOM_BCAST_PARAMS_INIT;
    if (!params)
        params = &defaults;
    /* Bad arguments are the same on every rank in a correct program, so each rank
     * can refuse on its own without leaving the others waiting.
     */
    if (loom__bcast_check (c, params, root, error) < 0)
        return -1;
    if (len > 0 && !buf)
        return loom_errset (error, EINVAL, "bcast: buf is NULL");
    double timeout = loom__timeout (c, params->timeout_sec);
    /* Agree on the length first: a mismatch would otherwise corrupt memory or hang.
     * Max of len and of ~len gives the largest and the smallest length in one step.
     */
    uint64_t v[2] = {len, ~len};
    MPI_Request req;
    int rc = MPI_Iallreduce (MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_MAX, c->mpi, &req);
    if (rc != MPI_SUCCESS)
        return loom__mpi_error (rc, "bcast", error);
    if (loom__waitall (1, &req, timeout, "bcast: length check", error) < 0)
        return -1;
    if (v[0] != ~v[1])
        return loom_errset (error, EINVAL,
                            "bcast: ranks passed different lengths (from %llu to %llu "
                            "bytes)",
                            (unsigned long long)~v[1], (unsigned long long)v[0]);
    return loom__bcast_comm (c->mpi, buf, len, root, params->algorithm,
                             params->chunk_bytes, timeout, c->nnodes == 1, error);
}
