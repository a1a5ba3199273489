/* SPDX-License-Identifier: MIT */
/* Agreeing on failure: collective steps must fail on every rank or on none, and the
 * message every rank reports should be the real cause (from the rank that saw it),
 * not "a peer failed".
 */
#include <errno.h>
#include <string.h>

#include <loom/error.h>

#include "internal.h"

int pregel_agree (loom_comm_t *comm, int failed, loom_error_t *error)
{
    int rank = loom_comm_rank (comm), size = loom_comm_size (comm);
    uint64_t first = failed ? (uint64_t)rank : (uint64_t)size;
    loom_error_t tmp;
    if (loom_comm_allreduce_u64 (comm, &first, 1, LOOM_OP_MIN, &tmp) < 0) {
        if (error)
            *error = tmp;
        return -1;
    }
    if (first == (uint64_t)size)
        return 0;
    /* Broadcast errno and text from that rank: an allreduce(MAX) where only it
     * contributes non-zero words (libcomm's timed collectives reduce u64 arrays).
     */
    union {
        uint64_t words[1 + sizeof (loom_error_t) / 8];
        struct {
            uint64_t err;
            char text[sizeof (loom_error_t)];
        } m;
    } msg;
    memset (&msg, 0, sizeof (msg));
    if ((uint64_t)rank == first) {
        msg.m.err = (uint64_t)(errno ? errno : EIO);
        if (error)
            memcpy (msg.m.text, error->text, sizeof (msg.m.text));
        msg.m.text[sizeof (msg.m.text) - 1] = '\0';
    }
    if (loom_comm_allreduce_u64 (comm, msg.words, sizeof (msg.words) / 8, LOOM_OP_MAX,
                                 &tmp)
        < 0) {
        if (error)
            *error = tmp;
        return -1;
    }
    if (error)
        memcpy (error->text, msg.m.text, sizeof (error->text));
    errno = (int)msg.m.err;
    return -1;
}
