/* SPDX-License-Identifier: MIT */
/* The shuffle's node-local direct path: records for another rank of the same node are
 * written straight into that rank's receive memory, so partitioning is the transfer.
 *
 * Why. Within a node MPI moves each byte once (vader's single copy, CMA), while the
 * round path reads a record, copies it into a send frame and then moves it again: on
 * DRAM-resident data that is about twice the memory traffic. Here put() appends the
 * records for each local peer to a small staging buffer that stays in the cache
 * (software write-combining; shuffle_impl.h sizes them), and a full one is written into
 * the peer's region with one process_vm_writev(2): the kernel copies it from our cache
 * into the receiver's memory, once. The receiver iterates the region in place.
 *
 * Why not an MPI_Win_allocate_shared window. Shared memory is shmem (tmpfs), and the
 * kernels we run on do not give it transparent huge pages (shmem_enabled=never): every
 * 4 KiB of a 512 MiB receive would be a page fault, which costs more than the copy we
 * save. A region here is the receiver's private anonymous memory (common/hugemem.c: 2
 * MiB aligned, huge pages advised), which the kernel faults in 2 MiB at a time while it
 * copies, and which counts in the receiver's RSS only, like the memory MPI would
 * receive into.
 *
 * Protocol. At create and at every reset each rank reserves (address space only) one
 * region per local source and tells every rank, with one non-blocking MPI_Ialltoall
 * (the "hello"), its pid and the address of the region meant for it. A sender waits for
 * the hello at its first flush, then checks with process_vm_readv(2) that the pid is
 * the peer's (a token it read in the hello), so a pid from another namespace can never
 * be written to. Each round's count exchange carries the cumulative bytes and records a
 * sender wrote into each region (flushed before the counts go out), so the last round
 * tells the receiver how much its regions hold; they then join the store.
 *
 * Limits. A region is a fixed share of the memory budget: half of the receive pool,
 * divided among the local sources (so memory stays within params.mem_bytes). When a
 * sender's region is full, or a write fails (EPERM under a restrictive ptrace policy,
 * ENOSYS), the rest of its records for that peer take the round path, which spills
 * beyond the budget as before; a region is always a prefix of what a sender sent to
 * that peer, which keeps LOOM_SHUFFLE_DETERMINISTIC's order. Combining shuffles do not
 * use it (records must meet in the combine tables). LOOM_COMM_LOCAL_DIRECT=0 in the
 * environment of any rank turns it off for the communicator (read once, at
 * loom_comm_create()), and then no hello is exchanged at all;
 * LOOM_COMM_LOCAL_REGION_MAX (bytes) caps the regions, for tests of the overflow.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/trace.h>

#include "shuffle_impl.h"

LOOM_TRACE_TYPE (t_local, "comm", "shuffle.local_path", "bytes", "name:s", "reason:s");

/* Hello, per peer: pid, address and value of the token, address and capacity of the
 * region the receiver reserved for that peer (0 when none).
 */
#define HELLO 5
/* Regions smaller than this are not worth a path of their own. */
#define REGION_MIN (8u << 20)

enum { PEER_WAIT = 0, PEER_OK = 1, PEER_OFF = -1 };

static bool is_local (const loom_shuffle_t *sh, int r)
{
    const int *node_of = sh->comm->node_of;
    return r != sh->rank && node_of[r] == node_of[sh->rank];
}

const char *loom__local_setup (loom_shuffle_t *sh)
{
    loom_comm_t *c = sh->comm;
    int max_node = 0;
    for (int n = 0; n < c->nnodes; n++)
        if (c->node_cnt[n] > max_node)
            max_node = c->node_cnt[n];
    /* The hello is collective over the shuffle's communicator: every rank posts it
     * when any node holds several ranks, whatever it decides for itself, unless the
     * path is off everywhere (c->local_direct, agreed at loom_comm_create()).
     */
    sh->hello_all = max_node > 1 && c->local_direct;
    if (!c->local_direct)
        return "LOOM_COMM_LOCAL_DIRECT=0";
    int nlocal = c->node_cnt[c->node_id] - 1;
    if (nlocal == 0)
        return "no other rank on this node";
    if (sh->comb.kind != LOOM_COMBINE_NONE)
        return "combiner (records meet in the combine tables)";
    uint64_t cap = sh->pool_cap / 2 / (uint64_t)nlocal;
    cap &= ~(uint64_t)((2u << 20) - 1);
    if (cap < REGION_MIN)
        return "memory budget too small for regions";
    /* Test hook: smaller regions, to make them overflow with little data. */
    const char *e = getenv ("LOOM_COMM_LOCAL_REGION_MAX");
    if (e && *e) {
        uint64_t max = strtoull (e, NULL, 0);
        if (max >= 4 * LOOM__STAGE_MIN && max < cap)
            cap = max;
    }
    sh->lp = calloc ((size_t)sh->size, sizeof (*sh->lp));
    if (!sh->lp)
        return "out of memory";
    sh->local_cap = cap;
    sh->stage_cap = LOOM__STAGE_ALL / (uint64_t)nlocal;
    if (sh->stage_cap < LOOM__STAGE_MIN)
        sh->stage_cap = LOOM__STAGE_MIN;
    if (sh->stage_cap > LOOM__STAGE_MAX)
        sh->stage_cap = LOOM__STAGE_MAX;
    if (sh->stage_cap > cap / 4)
        sh->stage_cap = cap / 4;
    sh->pool_cap -= cap * (uint64_t)nlocal;
    return NULL;
}

int loom__local_open (loom_shuffle_t *sh, loom_error_t *error)
{
    if (!sh->hello_all)
        return 0;
    /* The hello of an exchange that never finished: every rank posted it. */
    if (loom__local_wait (sh, error) < 0)
        return -1;
    size_t n = (size_t)sh->size * HELLO;
    if (!sh->hello_send) {
        sh->hello_send = calloc (n, sizeof (uint64_t));
        sh->hello_recv = calloc (n, sizeof (uint64_t));
        if (!sh->hello_send || !sh->hello_recv)
            return loom_errset (error, ENOMEM, "shuffle: out of memory");
        sh->token = ((uint64_t)getpid () << 32) ^ (uint64_t)(uintptr_t)sh
                    ^ (uint64_t)(loom_clock_sec () * 1e9) ^ sh->id;
    }
    memset (sh->hello_send, 0, n * sizeof (uint64_t));
    for (int r = 0; sh->lp && r < sh->size; r++) {
        struct loom__local_peer *p = &sh->lp[r];
        p->state = PEER_WAIT;
        p->written = p->nrec = 0;
        p->stage.len = p->stage.nrec = 0;
        p->staged = false;
        if (!is_local (sh, r))
            continue;
        if (!p->stage.data && loom__buf_reserve (&p->stage, sh->stage_cap) < 0)
            return loom_errset (error, ENOMEM, "shuffle: out of memory");
        p->staged = true;
        if (!p->region)
            p->region = loom__mem_alloc (sh->local_cap);
        uint64_t *h = &sh->hello_send[HELLO * r];
        h[0] = (uint64_t)getpid ();
        h[1] = (uint64_t)(uintptr_t)&sh->token;
        h[2] = sh->token;
        h[3] = (uint64_t)(uintptr_t)p->region;
        h[4] = p->region ? sh->local_cap : 0;
    }
    int rc = MPI_Ialltoall (sh->hello_send, HELLO, MPI_UINT64_T, sh->hello_recv, HELLO,
                            MPI_UINT64_T, sh->mpi, &sh->hello_req);
    if (rc != MPI_SUCCESS)
        return loom__mpi_error (rc, "shuffle: local hello", error);
    sh->hello_pending = true;
    if (sh->lp)
        loom__put_targets (sh);
    return 0;
}

int loom__local_wait (loom_shuffle_t *sh, loom_error_t *error)
{
    if (!sh->hello_pending)
        return 0;
    if (loom__waitall_until (1, &sh->hello_req, loom__deadline (sh->timeout),
                             "shuffle: local hello", error)
        < 0)
        return -1;
    sh->hello_pending = false;
    return 0;
}

/* Is peer 'd' the process the hello names? Reads its token with process_vm_readv. */
static bool peer_verified (loom_shuffle_t *sh, int d)
{
    const uint64_t *h = &sh->hello_recv[HELLO * d];
    if (!h[3] || !h[4])
        return false;
    uint64_t tok = 0;
    struct iovec l = {&tok, sizeof (tok)}, r = {(void *)(uintptr_t)h[1], sizeof (tok)};
    ssize_t n = process_vm_readv ((pid_t)h[0], &l, 1, &r, 1, 0);
    return n == (ssize_t)sizeof (tok) && tok == h[2];
}

/* Move the staged records for 'd' into the filling frame: the round path takes them
 * and every later record for 'd' in this exchange.
 */
static int to_frame (loom_shuffle_t *sh, int d, loom_error_t *error)
{
    struct loom__local_peer *p = &sh->lp[d];
    struct loom__buf *f = &sh->fill.dest[d];
    p->state = PEER_OFF;
    p->staged = false;
    loom__put_targets (sh);
    if (p->stage.len) {
        if (loom__buf_reserve (f, p->stage.len) < 0)
            return loom_errset (error, ENOMEM, "shuffle: out of memory");
        memcpy (f->data + f->len, p->stage.data, p->stage.len);
        f->len += p->stage.len;
        f->nrec += p->stage.nrec;
        /* Counted once more: a frame that is only queued may have taken the count of
         * these records, and the frame must not look empty ("last") while it holds
         * them.
         */
        sh->fill.bytes += p->stage.len;
    }
    p->stage.len = p->stage.nrec = 0;
    return 0;
}

int loom__local_flush (loom_shuffle_t *sh, int d, loom_error_t *error)
{
    struct loom__local_peer *p = &sh->lp[d];
    struct loom__buf *b = &p->stage;
    if (!p->staged || b->len == 0)
        return 0;
    if (p->state == PEER_WAIT) {
        if (loom__local_wait (sh, error) < 0)
            return -1;
        p->state = peer_verified (sh, d) ? PEER_OK : PEER_OFF;
        if (p->state == PEER_OK) {
            p->raddr = sh->hello_recv[HELLO * d + 3];
            p->rcap = sh->hello_recv[HELLO * d + 4];
            p->pid = (pid_t)sh->hello_recv[HELLO * d];
        }
    }
    if (p->state != PEER_OK || p->written + b->len > p->rcap)
        return to_frame (sh, d, error);
    struct iovec l = {b->data, b->len},
                 r = {(void *)(uintptr_t)(p->raddr + p->written), b->len};
    ssize_t n = process_vm_writev (p->pid, &l, 1, &r, 1, 0);
    if (n != (ssize_t)b->len) {
        /* Refused (EPERM, ENOSYS) or cut short: bytes past 'written' are not counted,
         * so the receiver never reads them; the round path sends these records.
         */
        sh->local_err = n < 0 ? errno : EIO;
        return to_frame (sh, d, error);
    }
    p->written += b->len;
    p->nrec += b->nrec;
    sh->sent_to[d] += b->nrec;
    sh->st.records_sent += b->nrec;
    sh->st.bytes_sent += b->len;
    sh->st.bytes_local_direct += b->len;
    b->len = b->nrec = 0;
    return 0;
}

int loom__local_flush_all (loom_shuffle_t *sh, loom_error_t *error)
{
    for (int d = 0; sh->lp && d < sh->size; d++)
        if (loom__local_flush (sh, d, error) < 0)
            return -1;
    return 0;
}

void loom__local_counts (loom_shuffle_t *sh, uint64_t *cnt, int d)
{
    const struct loom__local_peer *p = sh->lp ? &sh->lp[d] : NULL;
    cnt[0] = p ? p->written : 0;
    cnt[1] = p ? p->nrec : 0;
}

/* Why the path ran or not, for the trace. */
static const char *describe (loom_shuffle_t *sh, uint64_t got, char *buf, size_t len)
{
    if (!sh->lp)
        return sh->local_off ? sh->local_off : "off";
    if (sh->local_err) {
        snprintf (buf, len, "a write failed (%s): the round path took the rest",
                  strerror (sh->local_err));
        return buf;
    }
    snprintf (buf, len, "%d local peers, regions of %llu MiB, %llu MiB received",
              sh->comm->node_cnt[sh->comm->node_id] - 1,
              (unsigned long long)(sh->local_cap >> 20),
              (unsigned long long)(got >> 20));
    return buf;
}

int loom__local_collect (loom_shuffle_t *sh, loom_error_t *error)
{
    uint64_t got = 0;
    for (int src = 0; sh->lp && src < sh->size; src++) {
        struct loom__local_peer *p = &sh->lp[src];
        uint64_t bytes = sh->cnt_recv[LOOM__CNT * src + 4],
                 nrec = sh->cnt_recv[LOOM__CNT * src + 5];
        if (bytes == 0)
            continue;
        if (!p->region || bytes > sh->local_cap)
            return loom_errset (error, EPROTO,
                                "shuffle: rank %d reports %llu bytes in a region of "
                                "%llu",
                                src, (unsigned long long)bytes,
                                (unsigned long long)(p->region ? sh->local_cap : 0));
        sh->recv_from[src] += nrec;
        sh->st.records_received += nrec;
        sh->st.bytes_received += bytes;
        got += bytes;
        /* The store owns the region now (or frees it, after the callback or on
         * failure); the next exchange reserves a new one.
         */
        char *region = p->region;
        p->region = NULL;
        if (loom__store_region (sh, src, region, sh->local_cap, bytes, nrec, error) < 0)
            return -1;
    }
    if (loom_trace_active ()) {
        char why[128];
        loom_trace_instant (&t_local, got,
                            loom_trace_str (sh->lp ? "node-local direct" : "rounds"),
                            loom_trace_str (describe (sh, got, why, sizeof (why))));
    }
    return 0;
}

void loom__local_close (loom_shuffle_t *sh)
{
    for (int r = 0; sh->lp && r < sh->size; r++) {
        struct loom__local_peer *p = &sh->lp[r];
        if (!p->region || sh->finished)
            continue; /* nobody writes there any more: reused by the next exchange */
        /* An exchange that did not end: a peer may still write here. Keep the address
         * range (inaccessible, its memory returned) so that such a write fails instead
         * of landing in memory reused for something else; the next exchange gets a
         * fresh region.
         */
        if (sh->local_cap >= LOOM__MEM_BIG)
            mmap (p->region, sh->local_cap, PROT_NONE,
                  MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        /* else a small malloc'd region (test hook): left allocated */
        p->region = NULL;
    }
}

void loom__local_free (loom_shuffle_t *sh)
{
    /* Every rank posted the hello (create and reset are collective in effect), so it
     * completes; a request left pending would never be freed. Not after a failure: a
     * peer may be gone.
     */
    if (sh->hello_pending && !sh->failed) {
        loom_error_t e = {{0}};
        (void)loom__local_wait (sh, &e);
    }
    loom__local_close (sh);
    for (int r = 0; sh->lp && r < sh->size; r++) {
        loom__mem_free (sh->lp[r].region, sh->local_cap);
        loom__buf_free (&sh->lp[r].stage);
    }
    free (sh->lp);
    free (sh->hello_send);
    free (sh->hello_recv);
    sh->lp = NULL;
}
