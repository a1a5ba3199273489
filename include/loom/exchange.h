/* SPDX-License-Identifier: MIT */
/* Fixed-pattern exchange: the same counts of fixed-size items between the same
 * ranks, many times (an iterative algorithm's halo or mirror values).
 *
 * The shuffle routes records by key: every record carries its key, is partitioned,
 * batched and decoded, and the counts are exchanged anew each time. When the pattern
 * is fixed (who sends how many items to whom, and where the receiver wants them), all
 * of that is overhead: a plan fixes the counts once, the sender packs bare values
 * into the plan's send buffer in an order both sides agreed on beforehand, and the
 * values land straight in the receiver's array, one message per peer.
 *
 *   loom_exchange_t *x = loom_exchange_create (comm, 8, send_counts, recv_counts,
 *                                              NULL, &error);
 *   for (;;) {
 *       for (int r = 0; r < size; r++)
 *           pack (loom_exchange_send_buffer (x, r), r);
 *       loom_exchange_run (x, recv, &error);  // rank r's items at
 *                                             // recv + loom_exchange_recv_offset (x,
 * r) }                                         //        * item_size
 *   loom_exchange_destroy (x);
 *
 * Not for data whose destinations change from one exchange to the next: use the
 * shuffle (loom/comm.h).
 */
#ifndef LOOM_EXCHANGE_H
#define LOOM_EXCHANGE_H

#include <loom/comm.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct loom_exchange loom_exchange_t;

struct loom_exchange_params {
    double timeout_sec; /* per loom_exchange_run(); 0: the communicator's */
};

#define LOOM_EXCHANGE_PARAMS_INIT                                                      \
    {                                                                                  \
        .timeout_sec = 0.0                                                             \
    }

/* Create a plan over 'comm': each run sends send_counts[r] items of 'item_size'
 * bytes to rank r and receives recv_counts[r] items from rank r (both arrays hold
 * loom_comm_size() values; counts to and from the own rank must be equal and are
 * copied locally). 'recv_counts' may be NULL: it is then learned from the senders.
 * Otherwise the counts are checked against what the senders say, and a mismatch
 * fails on every rank. 'params' may be NULL. The plan has its own MPI communicator,
 * so its messages never meet other traffic of 'comm'. Collective.
 * Returns a handle, or NULL with errno set (EINVAL: item_size 0, counts that do not
 * match, on every rank; ENOMEM; ETIMEDOUT; EIO). On failure 'error' says why.
 */
LOOM_API loom_exchange_t *
loom_exchange_create (loom_comm_t *comm,
                      size_t item_size,
                      const uint64_t *send_counts,
                      const uint64_t *recv_counts,
                      const struct loom_exchange_params *params,
                      loom_error_t *error);

/* Free the plan and its communicator. Collective (MPI_Comm_free). Accepts NULL,
 * preserves errno.
 */
LOOM_API void loom_exchange_destroy (loom_exchange_t *x);

/* Where to pack the send_counts[rank] items for 'rank' before a run: owned by 'x',
 * valid until loom_exchange_destroy(), aligned to 16 bytes. Its contents are kept
 * between runs. NULL if 'rank' is out of range. Can't fail otherwise.
 */
LOOM_API void *loom_exchange_send_buffer (loom_exchange_t *x, int rank);

/* Item offset in the receive buffer of the items from 'rank' (the sum of the
 * recv_counts of the ranks before it), and the total number of items received.
 * Can't fail (0 for a rank out of range).
 */
LOOM_API uint64_t loom_exchange_recv_offset (const loom_exchange_t *x, int rank);
LOOM_API uint64_t loom_exchange_recv_total (const loom_exchange_t *x);

/* Send every rank its items from the send buffers and receive into 'recv', which
 * holds loom_exchange_recv_total() items (may be NULL when that is 0): the items of
 * rank r go to recv + loom_exchange_recv_offset (x, r) * item_size, in the order
 * rank r packed them. Collective. Returns 0, or -1 with errno set (ETIMEDOUT: a peer
 * never arrived, then destroy the plan and abort the job; EIO; EINVAL: no plan, or
 * no buffer where items are due, found before communicating, so peers will wait).
 */
LOOM_API int loom_exchange_run (loom_exchange_t *x, void *recv, loom_error_t *error);

#ifdef __cplusplus
}
#endif
#endif
