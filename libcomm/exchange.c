/* SPDX-License-Identifier: MIT */
/* Fixed-pattern exchange (loom/exchange.h): counts fixed at creation, one message
 * per peer and run (split below 1 GiB, MPI counts are int), received in place.
 *
 * Why point-to-point rather than MPI_Alltoallv: with few peers holding data (a
 * partitioned graph's mirrors go to a handful of ranks) the plan posts only the
 * messages that carry something, and its waits honour the timeout like every other
 * libcomm collective. Receives are posted before sends so that large messages find
 * their receive ready (no unexpected-message buffering).
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/exchange.h>

#include "internal.h"

/* Largest single MPI message, in bytes. */
#define MAX_MSG (1ULL << 30)

struct loom_exchange {
    MPI_Comm mpi; /* own duplicate: no tag can meet other traffic */
    int rank, size;
    size_t item;
    double timeout_sec;
    uint64_t *send_n, *recv_n; /* [size] items */
    uint64_t *send_off;        /* [size] byte offsets into sendbuf (16-aligned) */
    uint64_t *recv_off;        /* [size + 1] item offsets into the receive buffer */
    uint8_t *sendbuf;
    MPI_Request *reqs;
};

static uint64_t nmsgs (uint64_t bytes)
{
    return (bytes + MAX_MSG - 1) / MAX_MSG;
}

void loom_exchange_destroy (loom_exchange_t *x)
{
    if (!x)
        return;
    int saved = errno;
    if (x->mpi != MPI_COMM_NULL)
        MPI_Comm_free (&x->mpi);
    free (x->send_n);
    free (x->recv_n);
    free (x->send_off);
    free (x->recv_off);
    free (x->sendbuf);
    free (x->reqs);
    free (x);
    errno = saved;
}

/* Record this rank's failure: fills 'error' and returns 'errnum' for 'why'. */
static int fail (loom_error_t *error, int errnum, const char *fmt, ...)
    LOOM_PRINTF (3, 4);
static int fail (loom_error_t *error, int errnum, const char *fmt, ...)
{
    if (error) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (error->text, sizeof (error->text), fmt, ap);
        va_end (ap);
    }
    return errnum;
}

/* Do all ranks agree that nothing failed? 'why' is this rank's failure (0: none, or
 * an errno value whose message is already in 'error'). A rank that did not fail
 * itself learns that a peer did. Collective. Returns 0, or -1 with errno set.
 */
static int agree (loom_comm_t *c, int why, loom_error_t *error)
{
    uint64_t v = (uint64_t)why;
    loom_error_t mine;
    if (why && error)
        mine = *error;
    if (loom_comm_allreduce_u64 (c, &v, 1, LOOM_OP_MAX, why ? NULL : error) < 0)
        return -1;
    if (why) {
        if (error)
            *error = mine;
        errno = why;
        return -1;
    }
    if (v)
        return loom_errset (error, (int)v,
                            "exchange: a peer failed to create its plan");
    return 0;
}

loom_exchange_t *loom_exchange_create (loom_comm_t *c,
                                       size_t item_size,
                                       const uint64_t *send_counts,
                                       const uint64_t *recv_counts,
                                       const struct loom_exchange_params *params,
                                       loom_error_t *error)
{
    if (!c) {
        loom_errset (error, EINVAL, "exchange: no communicator");
        return NULL;
    }
    struct loom_exchange_params pp = LOOM_EXCHANGE_PARAMS_INIT;
    if (params)
        pp = *params;
    const size_t p = (size_t)c->size;
    struct loom_exchange *x = calloc (1, sizeof (*x));
    if (x) {
        x->mpi = MPI_COMM_NULL;
        x->rank = c->rank;
        x->size = c->size;
        x->item = item_size;
        x->timeout_sec = loom__timeout (c, pp.timeout_sec);
        x->send_n = calloc (p, sizeof (uint64_t));
        x->recv_n = calloc (p, sizeof (uint64_t));
        x->send_off = calloc (p, sizeof (uint64_t));
        x->recv_off = calloc (p + 1, sizeof (uint64_t));
    }
    /* Every rank takes part in the collective steps even when its own arguments are
     * bad, so that a mistake fails everywhere instead of hanging the peers.
     */
    int why = 0;
    if (!x || !x->send_n || !x->recv_n || !x->send_off || !x->recv_off)
        why = fail (error, ENOMEM, "exchange: out of memory");
    else if (!send_counts)
        why = fail (error, EINVAL, "exchange: no send counts");
    else if (item_size == 0 || item_size > MAX_MSG)
        why = fail (error, EINVAL, "exchange: item size %zu is not in 1..2^30",
                    item_size);
    else if (!(pp.timeout_sec >= 0))
        why = fail (error, EINVAL, "exchange: timeout %g is negative", pp.timeout_sec);
    else
        memcpy (x->send_n, send_counts, p * sizeof (uint64_t));
    if (agree (c, why, error) < 0)
        goto error;

    /* What each rank will really send here. */
    if (loom_comm_alltoall_u64 (c, x->send_n, x->recv_n, error) < 0)
        goto error;
    for (size_t r = 0; !why && recv_counts && r < p; r++)
        if (recv_counts[r] != x->recv_n[r])
            why = fail (error, EINVAL,
                        "exchange: rank %zu sends %llu items to rank %d, which "
                        "expects %llu",
                        r, (unsigned long long)x->recv_n[r], x->rank,
                        (unsigned long long)recv_counts[r]);
    /* Offsets (send regions 16-aligned) and buffers. */
    uint64_t sbytes = 0, nreqs = 0;
    for (size_t r = 0; !why && r < p; r++) {
        uint64_t b = x->send_n[r] * item_size, rb = x->recv_n[r] * item_size;
        if (b / item_size != x->send_n[r] || rb / item_size != x->recv_n[r]
            || sbytes + b + 15 < sbytes) {
            why = fail (error, EOVERFLOW, "exchange: counts overflow");
            break;
        }
        x->send_off[r] = sbytes;
        sbytes += (b + 15) & ~(uint64_t)15;
        x->recv_off[r + 1] = x->recv_off[r] + x->recv_n[r];
        if ((int)r != x->rank)
            nreqs += nmsgs (b) + nmsgs (rb);
    }
    if (!why) {
        if (x->send_n[x->rank] != x->recv_n[x->rank])
            why = fail (error, EINVAL,
                        "exchange: rank %d sends itself %llu items "
                        "and expects %llu",
                        x->rank, (unsigned long long)x->send_n[x->rank],
                        (unsigned long long)x->recv_n[x->rank]);
    }
    if (!why) {
        if (nreqs > (uint64_t)INT_MAX
            || posix_memalign ((void **)&x->sendbuf, 16, sbytes ? sbytes : 16) != 0)
            x->sendbuf = NULL;
        x->reqs = malloc ((nreqs + 1) * sizeof (MPI_Request));
        if (!x->sendbuf || !x->reqs)
            why = fail (error, ENOMEM, "exchange: out of memory for %llu bytes",
                        (unsigned long long)sbytes);
    }
    if (agree (c, why, error) < 0)
        goto error;
    int rc = MPI_Comm_dup (c->mpi, &x->mpi);
    if (rc != MPI_SUCCESS) {
        loom__mpi_error (rc, "exchange: duplicating the communicator", error);
        x->mpi = MPI_COMM_NULL;
        goto error;
    }
    return x;
error:
    loom_exchange_destroy (x);
    return NULL;
}

void *loom_exchange_send_buffer (loom_exchange_t *x, int rank)
{
    if (!x || rank < 0 || rank >= x->size)
        return NULL;
    return x->sendbuf + x->send_off[rank];
}

uint64_t loom_exchange_recv_offset (const loom_exchange_t *x, int rank)
{
    if (!x || rank < 0 || rank >= x->size)
        return 0;
    return x->recv_off[rank];
}

uint64_t loom_exchange_recv_total (const loom_exchange_t *x)
{
    return x ? x->recv_off[x->size] : 0;
}

/* Post the messages of 'bytes' at 'buf' to or from 'peer', in pieces of MAX_MSG. */
static int post (loom_exchange_t *x,
                 int send,
                 uint8_t *buf,
                 uint64_t bytes,
                 int peer,
                 int *n,
                 loom_error_t *error)
{
    for (uint64_t off = 0, tag = 0; off < bytes; off += MAX_MSG, tag++) {
        int len = (int)(bytes - off < MAX_MSG ? bytes - off : MAX_MSG);
        int rc = send ? MPI_Isend (buf + off, len, MPI_BYTE, peer, (int)tag, x->mpi,
                                   &x->reqs[*n])
                      : MPI_Irecv (buf + off, len, MPI_BYTE, peer, (int)tag, x->mpi,
                                   &x->reqs[*n]);
        if (rc != MPI_SUCCESS)
            return loom__mpi_error (rc, send ? "exchange: send" : "exchange: receive",
                                    error);
        ++*n;
    }
    return 0;
}

int loom_exchange_run (loom_exchange_t *x, void *recv, loom_error_t *error)
{
    if (!x)
        return loom_errset (error, EINVAL, "exchange: no plan");
    if (!recv && x->recv_off[x->size] > 0)
        return loom_errset (error, EINVAL, "exchange: no receive buffer");
    uint8_t *rbuf = recv;
    int n = 0, rc = 0;
    /* Receives first, starting after this rank so that peers spread their sends. */
    for (int i = 1; i < x->size && rc == 0; i++) {
        int q = (x->rank + x->size - i) % x->size;
        rc = post (x, 0, rbuf + x->recv_off[q] * x->item, x->recv_n[q] * x->item, q, &n,
                   error);
    }
    for (int i = 1; i < x->size && rc == 0; i++) {
        int q = (x->rank + i) % x->size;
        rc = post (x, 1, x->sendbuf + x->send_off[q], x->send_n[q] * x->item, q, &n,
                   error);
    }
    if (rc == 0 && x->send_n[x->rank] > 0)
        memcpy (rbuf + x->recv_off[x->rank] * x->item,
                x->sendbuf + x->send_off[x->rank], x->send_n[x->rank] * x->item);
    /* Even after a failed post, wait for what was posted: the buffers stay valid. */
    int wrc = loom__waitall (n, x->reqs, x->timeout_sec, "exchange", rc ? NULL : error);
    return rc < 0 || wrc < 0 ? -1 : 0;
}
