/* SPDX-License-Identifier: MIT */
/* The exchange, in rounds. A round is: a count exchange (MPI_Ialltoall of bytes,
 * records and a "last" flag per peer), then non-blocking sends and receives of the
 * frame, chunked below params.chunk_bytes. Rounds are collective: round k of every
 * rank matches round k of every other, and the exchange ends after the first round in
 * which every rank said "last". All steps are non-blocking, so put() advances the
 * round in flight while it fills the next frame (overlap), and blocks only when the
 * next frame is full while data is still moving. A frame that fills while peers have
 * not even joined the round in flight is queued (in memory within the budget, else
 * spilled) and sent later, in order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/clock.h>
#include <loom/trace.h>

#include "shuffle_impl.h"

/* Trace events (docs/tracing.md). Rounds start and end inside different put() calls,
 * so they are instants; the blocking waits, which nest properly, are spans.
 */
LOOM_TRACE_TYPE (t_wait_counts, "comm", "shuffle.count", "round");
LOOM_TRACE_TYPE (t_wait_data, "comm", "shuffle.transfer", "round", "bytes");
LOOM_TRACE_TYPE (t_round, "comm", "shuffle.round", "round", "bytes", "records");
LOOM_TRACE_TYPE (t_algo, "comm", "shuffle.algorithm", "round", "name:s", "reason:s");
LOOM_TRACE_TYPE (t_send, "comm", "shuffle.send", "flow", "peer", "bytes");
LOOM_TRACE_TYPE (t_recv, "comm", "shuffle.recv", "flow", "peer", "bytes");
LOOM_TRACE_TYPE (t_spill_send, "comm", "shuffle.spill_send", "spill", "round");

/* Flows are drawn for transfers of at least this many bytes. */
#define FLOW_MIN (64u << 10)

static uint32_t flow_seq (const loom_shuffle_t *sh)
{
    return (sh->id << 14) ^ sh->round;
}

static inline struct loom__buf *fbuf (struct loom__frame *f, int d)
{
    return f->tab ? &f->tab[d].arena : &f->dest[d];
}

static bool self_shortcut (const loom_shuffle_t *sh)
{
    return !(sh->p.flags & LOOM_SHUFFLE_NO_SELF_SHORTCUT);
}

/* Queue the filling frame: in memory while the budget allows (its buffers move to
 * the queue), else written to the send spill file.
 */
static int queue_frame (loom_shuffle_t *sh, loom_error_t *error)
{
    struct loom__queued *q = calloc (1, sizeof (*q));
    if (!q)
        return loom_errset (error, ENOMEM, "shuffle: out of memory");
    q->len = calloc ((size_t)sh->size, sizeof (uint64_t));
    q->nrec = calloc ((size_t)sh->size, sizeof (uint64_t));
    if (!q->len || !q->nrec) {
        free (q->len);
        free (q->nrec);
        free (q);
        return loom_errset (error, ENOMEM, "shuffle: out of memory");
    }
    if (sh->queue_mem + sh->store_mem + sh->fill.bytes <= sh->pool_cap) {
        q->bufs = calloc ((size_t)sh->size, sizeof (*q->bufs));
        if (!q->bufs) {
            free (q->len);
            free (q->nrec);
            free (q);
            return loom_errset (error, ENOMEM, "shuffle: out of memory");
        }
        for (int d = 0; d < sh->size; d++) {
            struct loom__buf *b = fbuf (&sh->fill, d);
            q->bufs[d] = *b;
            q->len[d] = b->len;
            q->nrec[d] = b->nrec;
            q->bytes += b->len;
            memset (b, 0, sizeof (*b));
            if (sh->fill.tab)
                loom__ctab_clear (&sh->fill.tab[d]);
        }
        sh->queue_mem += q->bytes;
        goto queued;
    }
    /* Destinations follow each other in the file: reading the frame back is one
     * sequential pass.
     */
    q->off = sh->send_spill.size;
    for (int d = 0; d < sh->size; d++) {
        struct loom__buf *b = fbuf (&sh->fill, d);
        uint64_t off;
        if (b->len
            && loom__spill_append (&sh->send_spill, b->data, b->len, &off, error) < 0)
            goto error;
        q->len[d] = b->len;
        q->nrec[d] = b->nrec;
        q->bytes += b->len;
        sh->st.spill_send_bytes += b->len;
        b->len = 0;
        b->nrec = 0;
        if (sh->fill.tab)
            loom__ctab_clear (&sh->fill.tab[d]);
    }
    loom_trace_instant (&t_spill_send, q->bytes, sh->round);
queued:
    sh->fill.bytes = 0;
    if (sh->qtail)
        sh->qtail->next = q;
    else
        sh->qhead = q;
    sh->qtail = q;
    return 0;
error:
    free (q->len);
    free (q->nrec);
    free (q);
    return -1;
}

/* Bring the oldest queued frame back into the (empty) flight frame. */
static int unqueue_frame (loom_shuffle_t *sh, loom_error_t *error)
{
    struct loom__queued *q = sh->qhead;
    uint64_t off = q->off;
    for (int d = 0; d < sh->size; d++) {
        struct loom__buf *b = fbuf (&sh->flight, d);
        if (q->bufs) {
            /* In memory: the queued buffer becomes the flight buffer. */
            loom__buf_free (b);
            *b = q->bufs[d];
            continue;
        }
        b->len = 0;
        if (q->len[d]) {
            if (loom__buf_reserve (b, q->len[d]) < 0)
                return loom_errset (error, ENOMEM, "shuffle: out of memory");
            if (loom__spill_read (&sh->send_spill, b->data, q->len[d], off, error) < 0)
                return -1;
        }
        b->len = q->len[d];
        b->nrec = q->nrec[d];
        off += q->len[d];
    }
    sh->flight.bytes = q->bytes;
    if (q->bufs)
        sh->queue_mem -= q->bytes;
    free (q->bufs);
    sh->qhead = q->next;
    if (!sh->qhead) {
        sh->qtail = NULL;
        /* Everything queued was read back: reuse the file from the start. */
        if (loom__spill_reset (&sh->send_spill, error) < 0)
            return -1;
    }
    free (q->len);
    free (q->nrec);
    free (q);
    return 0;
}

static int start_round (loom_shuffle_t *sh, loom_error_t *error)
{
    /* Staged records for local peers are written before the counts that report
     * them; those the direct path refuses join the filling frame first.
     */
    if (loom__local_flush_all (sh, error) < 0)
        return -1;
    if (sh->qhead) {
        if (unqueue_frame (sh, error) < 0)
            return -1;
    } else {
        struct loom__frame t = sh->fill;
        sh->fill = sh->flight;
        sh->flight = t;
        loom__put_targets (sh);
    }
    bool last = sh->finishing && !sh->qhead && sh->fill.bytes == 0;
    uint64_t off_node_max = 0;
    const int *node_of = sh->comm->node_of;
    for (int d = 0; d < sh->size; d++) {
        uint64_t len = fbuf (&sh->flight, d)->len;
        if (node_of[d] != node_of[sh->rank] && len > off_node_max)
            off_node_max = len;
    }
    for (int d = 0; d < sh->size; d++) {
        struct loom__buf *b = fbuf (&sh->flight, d);
        sh->cnt_send[LOOM__CNT * d] = b->len;
        sh->cnt_send[LOOM__CNT * d + 1] = b->nrec;
        sh->cnt_send[LOOM__CNT * d + 2] = last ? LOOM__LAST : 0;
        sh->cnt_send[LOOM__CNT * d + 3] = off_node_max;
        loom__local_counts (sh, &sh->cnt_send[LOOM__CNT * d + 4], d);
        sh->sent_to[d] += b->nrec;
        sh->st.records_sent += b->nrec;
        sh->st.bytes_sent += b->len;
    }
    sh->sent_last = last;
    int rc = MPI_Ialltoall (sh->cnt_send, LOOM__CNT, MPI_UINT64_T, sh->cnt_recv,
                            LOOM__CNT, MPI_UINT64_T, sh->mpi, &sh->reqs[0]);
    if (rc != MPI_SUCCESS)
        return loom__mpi_error (rc, "shuffle: count exchange", error);
    sh->nreqs = 1;
    sh->state = ROUND_COUNTS;
    return 0;
}

static int reqs_reserve (loom_shuffle_t *sh, int n)
{
    if (n <= sh->reqs_cap)
        return 0;
    MPI_Request *r = realloc (sh->reqs, sizeof (*r) * (size_t)n);
    if (!r)
        return -1;
    sh->reqs = r;
    sh->reqs_cap = n;
    return 0;
}

static int nchunks (uint64_t bytes, uint64_t chunk)
{
    return (int)((bytes + chunk - 1) / chunk);
}

/* Post the receives and sends of the round, as the count exchange told. */
static int post_data (loom_shuffle_t *sh, loom_error_t *error)
{
    uint64_t chunk = sh->p.chunk_bytes;
    bool shortcut = self_shortcut (sh);
    int need = 0;
    uint64_t off_node_max = 0;
    sh->all_last = true;
    for (int r = 0; r < sh->size; r++) {
        if (!(sh->cnt_recv[LOOM__CNT * r + 2] & LOOM__LAST))
            sh->all_last = false;
        if (sh->cnt_recv[LOOM__CNT * r + 3] > off_node_max)
            off_node_max = sh->cnt_recv[LOOM__CNT * r + 3];
    }
    /* Every rank sees every sender's largest off-node payload: the same choice
     * everywhere. Aggregation pays when those payloads are small (latency-bound)
     * and nodes hold several ranks.
     */
    loom_comm_t *c = sh->comm;
    int max_node = 0;
    for (int n = 0; n < c->nnodes; n++)
        if (c->node_cnt[n] > max_node)
            max_node = c->node_cnt[n];
    sh->node_aware = !(sh->p.flags & LOOM_SHUFFLE_FLAT) && c->nnodes > 1 && max_node > 1
                     && off_node_max > 0 && off_node_max <= LOOM__NODE_AWARE_MAX;
    if (loom_trace_active ()) {
        const char *why =
            sh->node_aware ? "off-node payloads <= 16 KiB, nodes share"
            : (c->nnodes == 1 || max_node == 1) ? "one rank per node or one node"
            : (sh->p.flags & LOOM_SHUFFLE_FLAT) ? "LOOM_SHUFFLE_FLAT"
                                                : "off-node payloads > 16 KiB";
        loom_trace_instant (&t_algo, sh->round,
                            loom_trace_str (sh->node_aware ? "node-aware" : "flat"),
                            loom_trace_str (why));
        for (int r = 0; r < sh->size; r++) {
            uint64_t out = fbuf (&sh->flight, r)->len;
            uint64_t in = sh->cnt_recv[LOOM__CNT * r];
            if (r == sh->rank)
                continue;
            if (out >= FLOW_MIN)
                loom_trace_flow_out (
                    &t_send,
                    loom_trace_flow_id ((uint32_t)sh->rank, (uint32_t)r, flow_seq (sh)),
                    r, out);
            if (in >= FLOW_MIN)
                loom_trace_flow_in (
                    &t_recv,
                    loom_trace_flow_id ((uint32_t)r, (uint32_t)sh->rank, flow_seq (sh)),
                    r, in);
        }
    }
    if (sh->node_aware) {
        sh->st.rounds_node_aware++;
        if (loom__node_round (sh, error) < 0)
            return -1;
        sh->nreqs = 0;
        sh->state = ROUND_DATA;
        return 0;
    }
    for (int r = 0; r < sh->size; r++) {
        if (r == sh->rank && shortcut)
            continue;
        need += nchunks (sh->cnt_recv[LOOM__CNT * r], chunk);
        need += nchunks (fbuf (&sh->flight, r)->len, chunk);
    }
    if (reqs_reserve (sh, need > 1 ? need : 1) < 0)
        return loom_errset (error, ENOMEM, "shuffle: out of memory");
    int n = 0;
    /* Start with the next rank and go round, so that not every rank sends to rank 0
     * first.
     */
    for (int i = 0; i < sh->size; i++) {
        int src = (sh->rank - i + sh->size) % sh->size;
        uint64_t bytes = sh->cnt_recv[LOOM__CNT * src];
        if ((src == sh->rank && shortcut) || bytes == 0)
            continue;
        char *to;
        if (sh->direct && sh->store_mem + sh->queue_mem + bytes <= sh->pool_cap) {
            /* Straight into the source's accumulation buffer, under the budget. */
            struct loom__buf *a = &sh->acc[src];
            if (a->len + bytes > a->cap && a->len
                && loom__store_acc (sh, src, error) < 0)
                return -1;
            uint64_t want = a->cap ? bytes : bytes > sh->acc_cap ? bytes : sh->acc_cap;
            if (loom__buf_reserve (a, want) < 0)
                return loom_errset (error, ENOMEM, "shuffle: out of memory");
            to = a->data + a->len;
            sh->pending[src] = bytes;
            sh->store_mem += bytes;
        } else {
            struct loom__buf *b = &sh->rbuf[src];
            b->len = 0;
            if (loom__buf_reserve (b, bytes) < 0)
                return loom_errset (error, ENOMEM, "shuffle: out of memory");
            b->len = bytes;
            b->nrec = sh->cnt_recv[LOOM__CNT * src + 1];
            to = b->data;
        }
        for (uint64_t off = 0, k = 0; off < bytes; off += chunk, k++) {
            uint64_t len = bytes - off < chunk ? bytes - off : chunk;
            int rc =
                MPI_Irecv (to + off, (int)len, MPI_BYTE, src,
                           (int)(k & LOOM__TAG_CHUNK_MASK), sh->mpi, &sh->reqs[n++]);
            if (rc != MPI_SUCCESS) {
                sh->nreqs = n - 1;
                return loom__mpi_error (rc, "shuffle: receive", error);
            }
        }
    }
    for (int i = 0; i < sh->size; i++) {
        int dst = (sh->rank + i) % sh->size;
        struct loom__buf *b = fbuf (&sh->flight, dst);
        if ((dst == sh->rank && shortcut) || b->len == 0)
            continue;
        for (uint64_t off = 0, k = 0; off < b->len; off += chunk, k++) {
            uint64_t len = b->len - off < chunk ? b->len - off : chunk;
            int rc =
                MPI_Isend (b->data + off, (int)len, MPI_BYTE, dst,
                           (int)(k & LOOM__TAG_CHUNK_MASK), sh->mpi, &sh->reqs[n++]);
            if (rc != MPI_SUCCESS) {
                sh->nreqs = n - 1;
                return loom__mpi_error (rc, "shuffle: send", error);
            }
        }
    }
    sh->nreqs = n;
    sh->state = ROUND_DATA;
    return 0;
}

/* Hand the received segments of the round over, in source order, and empty the
 * flight frame for reuse.
 */
static int complete_round (loom_shuffle_t *sh, loom_error_t *error)
{
    bool shortcut = self_shortcut (sh);
    if (loom_trace_active ()) {
        uint64_t b = 0, n = 0;
        for (int d = 0; d < sh->size; d++) {
            b += sh->cnt_send[LOOM__CNT * d];
            n += sh->cnt_send[LOOM__CNT * d + 1];
        }
        loom_trace_instant (&t_round, sh->round, b, n);
    }
    for (int src = 0; src < sh->size; src++) {
        uint64_t bytes = sh->cnt_recv[LOOM__CNT * src],
                 nrec = sh->cnt_recv[LOOM__CNT * src + 1];
        sh->recv_from[src] += nrec;
        sh->st.records_received += nrec;
        sh->st.bytes_received += bytes;
        if (bytes == 0)
            continue;
        if (sh->pending[src]) {
            /* Landed in the accumulation buffer (memory already counted). */
            sh->acc[src].len += sh->pending[src];
            sh->acc[src].nrec += nrec;
            sh->pending[src] = 0;
            continue;
        }
        struct loom__buf *b =
            (src == sh->rank && shortcut) ? fbuf (&sh->flight, src) : &sh->rbuf[src];
        if (loom__store_segment (sh, src, b, error) < 0)
            return -1;
    }
    for (int d = 0; d < sh->size; d++) {
        struct loom__buf *b = fbuf (&sh->flight, d);
        b->len = 0;
        b->nrec = 0;
        if (sh->flight.tab) {
            /* The store may have taken the arena's memory (self shortcut). */
            loom__ctab_clear (&sh->flight.tab[d]);
        }
    }
    sh->flight.bytes = 0;
    sh->round++;
    sh->st.rounds++;
    sh->state = ROUND_IDLE;
    if (sh->all_last) {
        /* Every sender's last counts are in: the regions are complete. */
        if (loom__local_collect (sh, error) < 0)
            return -1;
        sh->finished = true;
    }
    return 0;
}

/* One step of the round in flight. Returns 1 if it advanced, 0 if it is waiting for
 * peers (only when !block), -1 on error.
 */
static int step (loom_shuffle_t *sh, bool block, loom_error_t *error)
{
    if (sh->state == ROUND_IDLE)
        return 0;
    if (block) {
        double deadline = loom__deadline (sh->timeout);
        loom_trace_span_t span =
            sh->state == ROUND_COUNTS
                ? loom_trace_begin (&t_wait_counts, sh->round)
                : loom_trace_begin (&t_wait_data, sh->round, sh->flight.bytes);
        int rc = loom__waitall_until (
            sh->nreqs, sh->reqs, deadline,
            sh->state == ROUND_COUNTS ? "shuffle: count exchange" : "shuffle: transfer",
            error);
        loom_trace_end (span);
        if (rc < 0)
            return -1;
    } else {
        int done = 0;
        int rc = MPI_Testall (sh->nreqs, sh->reqs, &done, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS)
            return loom__mpi_error (rc, "shuffle: round", error);
        if (!done)
            return 0;
    }
    sh->nreqs = 0;
    if (sh->state == ROUND_COUNTS)
        return post_data (sh, error) < 0 ? -1 : 1;
    return complete_round (sh, error) < 0 ? -1 : 1;
}

int loom__round_progress (loom_shuffle_t *sh, bool block, loom_error_t *error)
{
    for (;;) {
        if (sh->finished)
            return 0;
        if (sh->state == ROUND_IDLE) {
            /* Queued frames go out as soon as possible; at the end, rounds go on
             * (possibly empty) until every rank said "last".
             */
            if (!sh->qhead && !sh->finishing)
                return 0;
            if (start_round (sh, error) < 0)
                return -1;
        }
        int rc = step (sh, block, error);
        if (rc <= 0)
            return rc;
    }
}

int loom__frame_ready (loom_shuffle_t *sh, loom_error_t *error)
{
    /* Let the round in flight advance as far as it can without waiting. */
    for (int rc = 1; rc > 0 && sh->state != ROUND_IDLE;) {
        if ((rc = step (sh, false, error)) < 0)
            return -1;
    }
    /* Data is moving: waiting for it is cheaper than writing a frame to disk. */
    if (sh->state == ROUND_DATA && step (sh, true, error) < 0)
        return -1;
    if (sh->state == ROUND_IDLE && !sh->qhead)
        return start_round (sh, error);
    /* Peers have not joined the round in flight, or older frames wait. */
    if (queue_frame (sh, error) < 0)
        return -1;
    if (sh->state == ROUND_IDLE)
        return start_round (sh, error);
    return 0;
}
