/* SPDX-License-Identifier: MIT */
/* The shuffle's internal state, shared by shuffle.c (send side), round.c (the
 * exchange), store.c (receive side), combine.c, spill.c and encode.c.
 *
 * Data path. put() partitions each record into the per-destination buffers of the
 * filling frame. A frame is full when it holds batch_bytes, or when one destination
 * holds batch_bytes / nranks (so that no receiver gets more than about batch_bytes
 * per round). A full frame is handed to a round: a count exchange (bytes, records,
 * "last" flag per peer) then non-blocking sends and receives, which progress while
 * put() fills the next frame. If the previous round is still in flight when the next
 * frame fills (peers have not joined yet), the frame is queued rather than blocking
 * (in memory within the budget, else on disk), and sent later in order. Received
 * segments (one per source and round) go to the store, which spills beyond its budget,
 * or straight to the receive callback.
 *
 * Direct store (no streaming callback, no combiner, the default): records for the own
 * rank never enter a frame but are appended to one buffer ('self'), and each round's
 * data from a source is received straight into that source's accumulation buffer
 * (acc[src]); full buffers become segments of the store without a copy. So records
 * for the own rank are copied once, the frames only carry data for other ranks (and
 * can be small enough to stay in the cache), and the store is a few large buffers
 * (huge pages, common/hugemem.c) whatever the round size.
 *
 * Node-local direct path (local.c): records for other ranks of the same node skip the
 * frames too, staged per peer and written straight into the peer's memory; the count
 * exchange reports how much, and after the last round those regions join the store.
 */
#ifndef LOOM_LIBCOMM_SHUFFLE_IMPL_H
#define LOOM_LIBCOMM_SHUFFLE_IMPL_H

#include <stdio.h>

#include <loom/hugemem.h>

#include "internal.h"

/* ---- encoding (encode.c) ---- */

struct loom__shape {
    size_t kw, vw;     /* widths or LOOM_VARLEN */
    bool kvar, vvar;   /* variable? */
    size_t hdr;        /* bytes of length header per record: 4 per variable part */
    size_t fixed_size; /* kw + vw when both fixed, else 0 */
};

void loom__shape_init (struct loom__shape *s, size_t kw, size_t vw);
/* Encoded size of a record with these lengths. */
static inline uint64_t
loom__enc_size (const struct loom__shape *s, size_t klen, size_t vlen)
{
    return (uint64_t)s->hdr + klen + vlen;
}
/* Encode at 'dst' (which has room for loom__enc_size()). Returns the bytes written. */
size_t loom__encode (const struct loom__shape *s,
                     char *dst,
                     const void *key,
                     size_t klen,
                     const void *val,
                     size_t vlen);
/* Decode the record at 'p' with 'avail' bytes left. Returns its encoded size, or 0
 * if it does not fit (corrupt data).
 */
size_t loom__decode (const struct loom__shape *s,
                     const char *p,
                     uint64_t avail,
                     struct loom_record *rec);

/* ---- growable byte buffer ---- */

struct loom__buf {
    char *data;
    uint64_t len, cap;
    uint64_t nrec;
};

/* Room for 'need' more bytes (capacity doubles, through loom__mem_grow()). Returns
 * 0, or -1 with errno ENOMEM.
 */
int loom__buf_reserve (struct loom__buf *b, uint64_t need);
void loom__buf_free (struct loom__buf *b);

/* ---- large-buffer memory (common/hugemem.c) ---- */

/* Buffers of at least this capacity are mapped on their own (2 MiB aligned, huge
 * pages advised unless LOOM_COMM_HUGEPAGES=0 or LOOM_HUGEPAGES=0); smaller ones come
 * from malloc. The kind follows from the capacity, so memory from these functions is
 * freed with the capacity it was allocated with. See include/loom/hugemem.h.
 */
#define LOOM__MEM_BIG (4u << 20)
extern struct loom_hugemem loom__comm_mem; /* comm.c */

/* The capacity actually allocated for 'cap' (big ones round up to 2 MiB). */
static inline uint64_t loom__mem_round (uint64_t cap)
{
    return loom_hugemem_round (&loom__comm_mem, (size_t)cap);
}
/* NULL on failure (errno ENOMEM). 'cap' is rounded with loom__mem_round(). */
static inline void *loom__mem_alloc (uint64_t cap)
{
    return loom_hugemem_alloc (&loom__comm_mem, (size_t)cap);
}
/* Grow 'p' (capacity old_cap, 'len' bytes in use) to new_cap, a loom__mem_round()
 * value; keeps the bytes. NULL on failure, 'p' then unchanged.
 */
static inline void *
loom__mem_grow (void *p, uint64_t len, uint64_t old_cap, uint64_t new_cap)
{
    return loom_hugemem_grow (&loom__comm_mem, p, (size_t)len, (size_t)old_cap,
                              (size_t)new_cap);
}
/* Accepts NULL. */
static inline void loom__mem_free (void *p, uint64_t cap)
{
    loom_hugemem_free (&loom__comm_mem, p, (size_t)cap);
}

/* ---- spill files (spill.c) ---- */

struct loom__spill {
    int fd; /* -1 until the first write */
    uint64_t size;
    char dir[512];
    uint64_t *written, *read; /* statistics to add to */
};

void loom__spill_init (struct loom__spill *sp,
                       const char *dir,
                       uint64_t *written,
                       uint64_t *read);
/* Append 'len' bytes; *off receives their offset. Returns 0 or -1 (EIO/ENOSPC...). */
int loom__spill_append (struct loom__spill *sp,
                        const void *data,
                        uint64_t len,
                        uint64_t *off,
                        loom_error_t *error);
int loom__spill_read (struct loom__spill *sp,
                      void *data,
                      uint64_t len,
                      uint64_t off,
                      loom_error_t *error);
/* Forget the contents (truncate), keep the file for reuse. */
int loom__spill_reset (struct loom__spill *sp, loom_error_t *error);
void loom__spill_close (struct loom__spill *sp);

/* ---- combine tables (combine.c) ---- */

/* Records with equal keys merged in place; the records live encoded in 'arena' in
 * first-insertion order, so iterating the arena is deterministic.
 */
struct loom__ctab {
    struct loom__buf arena;
    uint64_t *slots; /* offset + 1 into arena, 0 = empty */
    uint32_t *tags;  /* high hash bits, to skip most key compares */
    uint64_t nslots, count;
    uint64_t seed; /* of the hashes given to loom__ctab_add() */
};

struct loom__combiner {
    loom_combine_kind_t kind;
    loom_combine_f fn;
    void *arg;
    size_t vw;
};

/* Merge the record (key, val) into 't'. Returns 1 if it was merged into an existing
 * record, 0 if it was appended, -1 on ENOMEM.
 */
int loom__ctab_add (struct loom__ctab *t,
                    const struct loom__shape *s,
                    const struct loom__combiner *cb,
                    uint64_t hash,
                    const void *key,
                    size_t klen,
                    const void *val);
void loom__ctab_clear (struct loom__ctab *t);
void loom__ctab_free (struct loom__ctab *t);
/* Bytes the table occupies (arena + index). */
uint64_t loom__ctab_bytes (const struct loom__ctab *t);

/* ---- the shuffle ---- */

/* One destination's share of a frame. */
struct loom__frame {
    struct loom__buf *dest; /* [nranks] */
    struct loom__ctab *tab; /* [nranks] with a combiner, else NULL */
    uint64_t bytes;         /* sum of dest[].len */
};

/* A frame waiting for its round: in memory, or on disk. */
struct loom__queued {
    struct loom__buf *bufs; /* [nranks] when in memory, else NULL */
    uint64_t off;           /* offset in the send spill file */
    uint64_t *len;          /* [nranks] */
    uint64_t *nrec;         /* [nranks] */
    uint64_t bytes;         /* total */
    struct loom__queued *next;
};

/* A received segment: the records one source sent in one round. */
struct loom__segment {
    int src;
    uint32_t round;
    uint64_t bytes, nrec;
    char *data;   /* in memory, or NULL when spilled */
    uint64_t cap; /* allocated capacity of 'data' (loom__mem_free) */
    uint64_t off; /* offset in the receive spill file when spilled */
    uint64_t seq; /* order of storing: a source's segments are stored in order */
};

enum round_state { ROUND_IDLE, ROUND_COUNTS, ROUND_DATA };

/* Staging buffers of the node-local direct path: together about half a (512 KiB) L2
 * cache, so they stay in it, and each within [32 KiB, 256 KiB]: larger ones mean fewer
 * system calls (one per flush).
 */
#define LOOM__STAGE_ALL (256u << 10)
#define LOOM__STAGE_MIN (32u << 10)
#define LOOM__STAGE_MAX (256u << 10)

/* The node-local direct path's view of one rank (local.c). */
struct loom__local_peer {
    /* as sender to this rank */
    struct loom__buf stage; /* records staged for it */
    bool staged;            /* put() appends to 'stage' */
    int state;              /* waiting for the hello, ok, off for this exchange */
    int pid;
    uint64_t raddr, rcap;   /* its region for us */
    uint64_t written, nrec; /* bytes and records written there in this exchange */
    /* as receiver from this rank */
    char *region; /* reserved (capacity local_cap), NULL once the store took it */
};

struct loom_shuffle {
    loom_comm_t *comm;
    MPI_Comm mpi; /* the shuffle's own duplicate */
    uint32_t id;  /* creation count on the communicator: the same on every rank */
    int rank, size;
    struct loom_shuffle_params p;
    struct loom__shape shape;
    struct loom__combiner comb;
    char tmpdir[512];
    double timeout;
    uint64_t frame_cap, dest_cap, max_record;
    /* Queued frames and received data share the pool; beyond it they spill. The
     * receive-side combine table alone may use it all (store_cap).
     */
    uint64_t pool_cap, store_cap, queue_mem;

    /* send side */
    struct loom__frame fill, flight; /* filling, and in flight (or spare) */
    /* Where put() appends for each destination, and up to how many bytes before
     * the slow path: fill.dest[d] up to dest_cap, or 'self' (direct store).
     */
    struct loom__buf **put_to;
    uint64_t *put_lim;
    struct loom__queued *qhead, *qtail;
    struct loom__spill send_spill;
    uint64_t since_poll;
    bool finishing, finished, failed;
    uint64_t *sent_to; /* [size] records sent to each rank */

    /* the round in flight */
    enum round_state state;
    uint64_t *cnt_send, *cnt_recv; /* [LOOM__CNT * size] */
    MPI_Request *reqs;             /* Ialltoall or the data requests */
    int nreqs, reqs_cap;
    struct loom__buf *rbuf; /* [size] receive buffers of the round */
    bool sent_last;         /* our "last" flag was in the round in flight */
    bool all_last;          /* the round in flight ends the exchange */
    bool node_aware;        /* the round in flight aggregates per node */
    uint32_t round;
    double deadline;

    /* Direct store (records are stored, not streamed to a callback, and not
     * combined): records for this rank skip the frames and go to 'self', received
     * data lands in acc[source]; each becomes a segment of the store when full
     * (acc_cap) or at the end, so the store is made of few large buffers whatever the
     * round size, and records for this rank are copied once.
     */
    bool direct;
    struct loom__buf self;
    struct loom__buf *acc; /* [size] */
    uint64_t *pending;     /* [size] bytes posted into acc[src] in the round */
    uint64_t acc_cap;

    /* receive side */
    loom_recv_f recv_fn;
    void *recv_arg;
    bool stream; /* deliver to recv_fn as rounds complete */
    struct loom__segment *segs;
    size_t nsegs, segs_cap;
    uint64_t seg_seq;
    uint64_t store_mem; /* bytes of segments held in memory */
    struct loom__spill recv_spill;
    uint64_t *recv_from;    /* [size] records received from each rank */
    struct loom__ctab rtab; /* receive-side combine table */
    /* receive-side combine overflow: runs spilled in hash buckets */
    uint64_t *run_off, *run_len; /* [nruns * NBUCKETS] */
    size_t nruns, runs_cap;

    /* iteration */
    size_t it_seg;   /* next segment; or bucket when combining with runs */
    uint64_t it_pos; /* position in the current data */
    const char *it_data;
    uint64_t it_bytes;
    uint64_t it_left; /* records of it_data not yet delivered */
    int it_src;       /* their source */
    char *it_buf;     /* read buffer for spilled segments */
    uint64_t it_buf_cap;
    int it_phase; /* 0 segments/table, 1 done */

    /* node-local direct path (local.c) */
    struct loom__local_peer *lp; /* [size], NULL when off on this rank */
    uint64_t local_cap;          /* capacity of each region */
    uint64_t stage_cap;          /* of each staging buffer */
    const char *local_off;       /* why it is off, for the trace */
    int local_err;               /* errno of a failed write */
    bool hello_all;              /* every rank posts the hello */
    bool hello_pending;
    MPI_Request hello_req;
    uint64_t *hello_send, *hello_recv; /* [5 * size] */
    uint64_t token;

    struct loom_shuffle_stats st;
};

#define LOOM__NBUCKETS 16

/* Count exchange: per peer, bytes, records, flags (bit 0: last round of the sender),
 * the sender's largest payload to a rank of another node (same in every entry), from
 * which every rank reaches the same algorithm choice, and the bytes and records the
 * sender wrote into the peer's region so far (node-local direct path).
 */
#define LOOM__CNT  6
#define LOOM__LAST 1u
/* Tags: flat data chunks use [0, LOOM__TAG_NODE); node-aware rounds the rest. */
#define LOOM__TAG_CHUNK_MASK  0x3fff
#define LOOM__TAG_NODE        0x4001
#define LOOM__TAG_NODE_DIRECT 0x4000
/* Off-node payloads up to this size per peer go through node-aware aggregation. */
#define LOOM__NODE_AWARE_MAX (16u << 10)

/* node_aware.c: run the data part of a node-aware round to completion. */
int loom__node_round (loom_shuffle_t *sh, loom_error_t *error);

/* round.c */
int loom__round_progress (loom_shuffle_t *sh, bool block, loom_error_t *error);
int loom__frame_ready (loom_shuffle_t *sh, loom_error_t *error);

/* store.c */
int loom__store_segment (loom_shuffle_t *sh,
                         int src,
                         struct loom__buf *b,
                         loom_error_t *error);
/* Direct store: hand the records in 'self' (this rank's) or acc[src] to the store,
 * leaving the buffer empty with the same capacity.
 */
int loom__store_self (loom_shuffle_t *sh, loom_error_t *error);
int loom__store_acc (loom_shuffle_t *sh, int src, loom_error_t *error);
int loom__store_finish (loom_shuffle_t *sh, loom_error_t *error);
void loom__store_reset (loom_shuffle_t *sh);
/* Point put_to[] at the filling frame (after it changed). */
void loom__put_targets (loom_shuffle_t *sh);

/* Hand a region of the node-local direct path ('bytes' of 'nrec' records from 'src',
 * capacity 'cap') to the store, which takes ownership.
 */
int loom__store_region (loom_shuffle_t *sh,
                        int src,
                        char *data,
                        uint64_t cap,
                        uint64_t bytes,
                        uint64_t nrec,
                        loom_error_t *error);

/* local.c: the node-local direct path. setup: decide at create (returns why it is off,
 * or NULL), shrinking the pool by the regions. open: at create and reset, reserve the
 * regions and post the hello. flush: write the records staged for 'd' (or move them to
 * the round path). counts: cumulative bytes and records written to 'd', for the count
 * exchange. collect: after the last round, the regions join the store. close: at
 * reset; free: at destroy.
 */
const char *loom__local_setup (loom_shuffle_t *sh);
int loom__local_open (loom_shuffle_t *sh, loom_error_t *error);
int loom__local_wait (loom_shuffle_t *sh, loom_error_t *error);
int loom__local_flush (loom_shuffle_t *sh, int d, loom_error_t *error);
int loom__local_flush_all (loom_shuffle_t *sh, loom_error_t *error);
void loom__local_counts (loom_shuffle_t *sh, uint64_t *cnt, int d);
int loom__local_collect (loom_shuffle_t *sh, loom_error_t *error);
void loom__local_close (loom_shuffle_t *sh);
void loom__local_free (loom_shuffle_t *sh);

/* partition.c */
int loom__partition (loom_shuffle_t *sh,
                     const void *key,
                     size_t klen,
                     const void *val,
                     size_t vlen,
                     loom_error_t *error);

/* combine.c */
int loom__combine_check (const struct loom_shuffle_params *p, loom_error_t *error);
void loom__combine_values (const struct loom__combiner *cb, void *acc, const void *val);

#endif
