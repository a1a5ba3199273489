/* SPDX-License-Identifier: MIT */
/* libcomm: all data movement between the ranks of a Loom job.
 *
 * Three parts:
 *   - the communicator (loom_comm_t): an MPI communicator with its node structure
 *     (node-local communicator, leaders, lanes) and a few small collectives
 *     (barrier, allreduce, count exchange) that honour a timeout;
 *   - the record shuffle (loom_shuffle_t): records (key + value) are put on the send
 *     side, routed to the rank a partitioner names, optionally combined, and read on
 *     the receive side through an iterator or a per-batch callback, within a memory
 *     budget beyond which data spills to local disk;
 *   - large broadcasts: loom_bcast() (chunked and pipelined) and loom_bcast_shared()
 *     (one read-only copy per node in node-shared memory).
 *
 * Every call that communicates is collective over the communicator unless it says
 * otherwise, and every rank must make the collective calls in the same order.
 * Errors follow the rule at the top of loom/loom.h; ETIMEDOUT means a collective
 * exceeded its timeout (a peer never arrived). After ETIMEDOUT the MPI requests of
 * that call are abandoned: destroy the object, and do not use the communicator for
 * more collectives (abort the job instead; MPI cannot cancel a collective).
 *
 * Thread safety: a loom_comm_t and the objects made from it are used by one thread at
 * a time. libcomm requires MPI_THREAD_FUNNELED or higher only if several threads call
 * MPI; it never starts threads itself.
 */
#ifndef LOOM_COMM_H
#define LOOM_COMM_H

#include <mpi.h>
#include <stdbool.h>
#include <loom/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------ */
/* Communicator                                                                     */
/* ------------------------------------------------------------------------------ */

typedef struct loom_comm loom_comm_t;

struct loom_comm_params {
    /* 0: discover nodes with MPI_Comm_split_type(MPI_COMM_TYPE_SHARED). N > 0: pretend
     * each run of N consecutive ranks is one node, to test the node-aware algorithms
     * on a single machine. Such a "node" must not span real nodes: the node-local
     * communicator backs loom_bcast_shared()'s shared memory.
     */
    int node_size;
    /* Default timeout in seconds for the collectives of this communicator and of the
     * objects made from it when their own params say 0. 0: wait forever. The
     * environment variable LOOM_COMM_TIMEOUT (seconds) sets it when this is 0.
     */
    double timeout_sec;
};

#define LOOM_COMM_PARAMS_INIT                                                          \
    {                                                                                  \
        .node_size = 0, .timeout_sec = 0.0                                             \
    }

/* Create a communicator over a duplicate of 'mpi_comm' (the caller keeps and frees
 * its own). Discovers the node-local communicator, the leaders communicator (node
 * rank 0 of every node) and the lane communicators (the ranks with the same node rank
 * on every node). 'params' may be NULL for the defaults. Collective over 'mpi_comm'.
 * Returns a handle, or NULL with errno set (EINVAL: MPI not initialised, bad params;
 * EIO: an MPI call failed; ENOMEM).
 */
LOOM_API loom_comm_t *loom_comm_create (MPI_Comm mpi_comm,
                                        const struct loom_comm_params *params,
                                        loom_error_t *error);

/* Free the communicator, its MPI communicators and the node-shared windows it keeps
 * for loom_bcast_shared(). Collective (MPI_Comm_free, MPI_Win_free).
 * Objects made from it (shuffles, shared buffers) must be destroyed first.
 * Accepts NULL, preserves errno.
 */
LOOM_API void loom_comm_destroy (loom_comm_t *comm);

/* Where this rank sits. Filled once by loom_comm_create(); these functions can't
 * fail.
 */
LOOM_API int loom_comm_rank (const loom_comm_t *comm);
LOOM_API int loom_comm_size (const loom_comm_t *comm);
LOOM_API int loom_comm_node_rank (const loom_comm_t *comm); /* rank within the node */
LOOM_API int loom_comm_node_size (const loom_comm_t *comm); /* ranks on this node */
LOOM_API int loom_comm_node_id (const loom_comm_t *comm);   /* 0 .. nnodes-1 */
LOOM_API int loom_comm_nnodes (const loom_comm_t *comm);
/* Node id of any rank of the communicator (0 .. nnodes-1), or -1 if 'rank' is out of
 * range. Node ids are numbered by the lowest rank of each node.
 */
LOOM_API int loom_comm_node_of (const loom_comm_t *comm, int rank);
/* True when every node holds the same number of ranks. */
LOOM_API bool loom_comm_is_uniform (const loom_comm_t *comm);

/* The MPI communicators, owned by 'comm' and valid until loom_comm_destroy(). Use
 * them for MPI calls libcomm does not wrap, never MPI_Comm_free() them.
 *   mpi:     duplicate of the communicator given to loom_comm_create();
 *   node:    the ranks of this node, ordered as in 'mpi';
 *   leaders: node rank 0 of every node, ordered by node id; MPI_COMM_NULL on the
 *            other ranks;
 *   lane:    the ranks with this rank's node rank, one per node, ordered by node id
 *            (several leaders per node: the basis of multi-leader algorithms).
 */
LOOM_API MPI_Comm loom_comm_mpi (const loom_comm_t *comm);
LOOM_API MPI_Comm loom_comm_node (const loom_comm_t *comm);
LOOM_API MPI_Comm loom_comm_leaders (const loom_comm_t *comm);
LOOM_API MPI_Comm loom_comm_lane (const loom_comm_t *comm);

/* The timeout (seconds, 0 = none) in effect for this communicator. */
LOOM_API double loom_comm_timeout (const loom_comm_t *comm);

/* Block until every rank arrived. Returns 0, or -1 with errno ETIMEDOUT or EIO. */
LOOM_API int loom_comm_barrier (loom_comm_t *comm, loom_error_t *error);

typedef enum {
    LOOM_OP_SUM = 0,
    LOOM_OP_MIN = 1,
    LOOM_OP_MAX = 2,
} loom_op_t;

/* Element-wise allreduce of 'n' values in place ('buf' holds this rank's values on
 * entry and the result on return). Returns 0, or -1 with errno EINVAL (bad op, n too
 * large for MPI), ETIMEDOUT or EIO.
 */
LOOM_API int loom_comm_allreduce_u64 (
    loom_comm_t *comm, uint64_t *buf, size_t n, loom_op_t op, loom_error_t *error);
LOOM_API int loom_comm_allreduce_f64 (
    loom_comm_t *comm, double *buf, size_t n, loom_op_t op, loom_error_t *error);

/* Count exchange: send_counts[r] goes to rank r, recv_counts[r] is what rank r sent
 * to this rank. Both arrays hold loom_comm_size() values (the same array may not be
 * used for both). Returns 0, or -1 with errno ETIMEDOUT or EIO.
 */
LOOM_API int loom_comm_alltoall_u64 (loom_comm_t *comm,
                                     const uint64_t *send_counts,
                                     uint64_t *recv_counts,
                                     loom_error_t *error);

/* Gather one value from every rank on every rank: out[r] = rank r's 'value'. 'out'
 * holds loom_comm_size() values. Returns 0, or -1 with errno ETIMEDOUT or EIO.
 */
LOOM_API int loom_comm_allgather_u64 (loom_comm_t *comm,
                                      uint64_t value,
                                      uint64_t *out,
                                      loom_error_t *error);

/* ------------------------------------------------------------------------------ */
/* Records                                                                          */
/* ------------------------------------------------------------------------------ */

/* One record: a key and a value, each a byte string (either may have length 0; a
 * pointer may be NULL when its length is 0).
 */
struct loom_record {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
};

/* Width meaning "variable length" in key_width / value_width. */
#define LOOM_VARLEN ((size_t)-1)

/* ------------------------------------------------------------------------------ */
/* Partitioners                                                                     */
/* ------------------------------------------------------------------------------ */

typedef enum {
    /* loom_hash_partition (key, key_len, hash_seed, comm size) from loom/hash.h: the
     * same placement datasets use for the same seed.
     */
    LOOM_PARTITION_HASH = 0,
    /* Key ranges between splitters (a loom_splitters_t), compared bytewise as
     * memcmp() with a shorter key before its extensions. Rank r receives the keys k
     * with splitter[r-1] <= k < splitter[r], so reading ranks in order reads the keys
     * in order. Encode integers big-endian to sort them numerically.
     */
    LOOM_PARTITION_RANGE = 1,
    /* params.partition_fn decides. */
    LOOM_PARTITION_CALLBACK = 2,
} loom_partition_kind_t;

/* A user partitioner: returns the destination rank in [0, nranks) of the record.
 * Any other value makes the put fail with EINVAL. Must be a pure function of the
 * record (it may run more than once per record).
 */
typedef int (*loom_partition_f) (const struct loom_record *rec, int nranks, void *arg);

/* Range splitters: nranks - 1 ordered keys. */
typedef struct loom_splitters loom_splitters_t;

/* Splitters from explicit keys: keys[i] (of lengths lens[i]) for i < n, which must
 * be in non-decreasing order. The keys are copied. Not collective. Returns a handle,
 * or NULL with errno set (EINVAL: not ordered; ENOMEM).
 */
LOOM_API loom_splitters_t *loom_splitters_create (const void *const *keys,
                                                  const size_t *lens,
                                                  size_t n,
                                                  loom_error_t *error);

/* Splitters chosen by sampling: every rank contributes 'n' sample keys (any order,
 * n may differ between ranks and be 0), all samples are gathered and sorted, and
 * loom_comm_size() - 1 evenly spaced ones become the splitters, identical on every
 * rank. Sample about 100 keys per rank for balanced ranges. Collective. Returns a
 * handle, or NULL with errno set (ETIMEDOUT, EIO, ENOMEM).
 */
LOOM_API loom_splitters_t *loom_splitters_sample (loom_comm_t *comm,
                                                  const void *const *keys,
                                                  const size_t *lens,
                                                  size_t n,
                                                  loom_error_t *error);

/* Number of splitter keys, and splitter i (owned by 's'). Can't fail. */
LOOM_API size_t loom_splitters_count (const loom_splitters_t *s);
LOOM_API const void *
loom_splitters_key (const loom_splitters_t *s, size_t i, size_t *len);

/* The rank in [0, count] that owns 'key' under 's'. Can't fail. */
LOOM_API int
loom_splitters_find (const loom_splitters_t *s, const void *key, size_t key_len);

/* Free. Accepts NULL, preserves errno. */
LOOM_API void loom_splitters_destroy (loom_splitters_t *s);

/* ------------------------------------------------------------------------------ */
/* Combiners                                                                        */
/* ------------------------------------------------------------------------------ */

/* Built-in combiners on fixed-width values (the value width must match the type:
 * 8 bytes for all of these). Native byte order.
 */
typedef enum {
    LOOM_COMBINE_NONE = 0,
    LOOM_COMBINE_CALLBACK = 1, /* params.combine_fn */
    LOOM_COMBINE_SUM_U64 = 2,
    LOOM_COMBINE_SUM_I64 = 3,
    LOOM_COMBINE_SUM_F64 = 4,
    LOOM_COMBINE_MIN_U64 = 5,
    LOOM_COMBINE_MAX_U64 = 6,
    LOOM_COMBINE_MIN_I64 = 7,
    LOOM_COMBINE_MAX_I64 = 8,
    LOOM_COMBINE_MIN_F64 = 9,
    LOOM_COMBINE_MAX_F64 = 10,
} loom_combine_kind_t;

/* A user combiner: merge 'value' into 'acc' in place; both are 'width' bytes (the
 * fixed value width) and belong to records with equal keys. Must be associative and
 * commutative: records are combined in no particular grouping (before sending, then
 * again on receive). 'acc' is not necessarily aligned.
 */
typedef void (*loom_combine_f) (void *acc, const void *value, size_t width, void *arg);

/* ------------------------------------------------------------------------------ */
/* Shuffle                                                                          */
/* ------------------------------------------------------------------------------ */

typedef struct loom_shuffle loom_shuffle_t;

/* Flags for params.flags. */
enum {
    /* Deliver records ordered by source rank, then by the order in which the source
     * put them (with a combiner: by the first occurrence of each key in that order),
     * so that runs are reproducible. Without it, records of one source still arrive
     * in put order, but sources interleave in arrival order.
     */
    LOOM_SHUFFLE_DETERMINISTIC = 1 << 0,
    /* Always route through MPI, also for records to the own rank (tests, benchmarks).
     * By default records to the own rank never leave the rank.
     */
    LOOM_SHUFFLE_NO_SELF_SHORTCUT = 1 << 1,
    /* Never use the node-aware aggregation path (benchmarks of the flat path). */
    LOOM_SHUFFLE_FLAT = 1 << 2,
};

struct loom_shuffle_params {
    /* Record shape: a width in bytes, or LOOM_VARLEN. With both fixed, records move
     * as packed key||value with no per-record header (the fixed-width fast path).
     * Variable-length keys and values are limited to 4 GiB - 1 bytes each.
     */
    size_t key_width;
    size_t value_width;

    loom_partition_kind_t partition;
    uint64_t hash_seed;                /* LOOM_PARTITION_HASH */
    const loom_splitters_t *splitters; /* LOOM_PARTITION_RANGE; borrowed, must live
                                          until loom_shuffle_destroy() */
    loom_partition_f partition_fn;     /* LOOM_PARTITION_CALLBACK */
    void *partition_arg;

    /* Combiner: needs a fixed value_width. Runs over the records buffered for each
     * destination before sending, and over everything received before delivery.
     */
    loom_combine_kind_t combine;
    loom_combine_f combine_fn; /* LOOM_COMBINE_CALLBACK */
    void *combine_arg;

    /* Memory budget of this rank for the shuffle's buffers, in bytes (at least
     * 64 KiB). Frames waiting to be sent and received data beyond it spill to files
     * in 'tmpdir', written and read in large sequential blocks; the files are unlinked
     * when created, so they vanish with the shuffle (also on errors or a crash). A
     * single record must fit in a quarter of the budget (E2BIG otherwise).
     */
    uint64_t mem_bytes;
    /* Bytes of records buffered per round before they are sent (0: mem_bytes / 8).
     * Records larger than this are sent alone in a round.
     */
    uint64_t batch_bytes;
    /* Largest single MPI message (0: 1 GiB; at most 2 GiB - 1 since MPI counts are
     * int). Larger per-peer payloads are sent in chunks; tests lower it.
     */
    uint64_t chunk_bytes;
    /* Directory for spill files. NULL: $LOOM_TMPDIR, else $TMPDIR, else /tmp. */
    const char *tmpdir;
    /* Seconds to wait for peers in any collective step (0: the communicator's). */
    double timeout_sec;
    unsigned flags; /* LOOM_SHUFFLE_* */
};

#define LOOM_SHUFFLE_PARAMS_INIT                                                       \
    {                                                                                  \
        .key_width = LOOM_VARLEN, .value_width = LOOM_VARLEN,                          \
        .partition = LOOM_PARTITION_HASH, .hash_seed = 0, .splitters = NULL,           \
        .partition_fn = NULL, .partition_arg = NULL, .combine = LOOM_COMBINE_NONE,     \
        .combine_fn = NULL, .combine_arg = NULL, .mem_bytes = 256u << 20,              \
        .batch_bytes = 0, .chunk_bytes = 0, .tmpdir = NULL, .timeout_sec = 0.0,        \
        .flags = 0,                                                                    \
    }

/* Create a shuffle over 'comm' with 'params' (copied; params->splitters is
 * borrowed). Collective: every rank creates its shuffles in the same order, and each
 * gets its own duplicate of the MPI communicator so that shuffles alive at the same
 * time never mix their messages. Create once and loom_shuffle_reset() between
 * exchanges on hot paths. Returns a handle, or NULL with errno set (EINVAL: bad
 * params, 'error' names the field; ENOMEM; EIO).
 */
LOOM_API loom_shuffle_t *loom_shuffle_create (loom_comm_t *comm,
                                              const struct loom_shuffle_params *params,
                                              loom_error_t *error);

/* Free the shuffle, its buffers, and remove its spill files. Collective
 * (MPI_Comm_free) unless an earlier call failed with ETIMEDOUT; a shuffle destroyed
 * before loom_shuffle_finish() returned leaves its peers waiting. Spill files are
 * unlinked as soon as they are created, so they disappear even if the process dies.
 * Accepts NULL, preserves errno.
 */
LOOM_API void loom_shuffle_destroy (loom_shuffle_t *sh);

/* Send side ----------------------------------------------------------------------- */

/* Put one record. Key and value are copied; with fixed widths key_len and value_len
 * must equal them. The record goes to the rank the partitioner names. May take part
 * in a collective round when a batch is full (so every rank must eventually call
 * loom_shuffle_finish()). Returns 0, or -1 with errno set (EINVAL: wrong length, bad
 * partitioner result, called after finish; E2BIG: record larger than a quarter of
 * mem_bytes; EIO: spill or MPI failure; ETIMEDOUT).
 */
LOOM_API int loom_shuffle_put (loom_shuffle_t *sh,
                               const void *key,
                               size_t key_len,
                               const void *value,
                               size_t value_len,
                               loom_error_t *error);

/* Put 'n' records. Same as n calls of loom_shuffle_put(), with less overhead.
 * Returns 0, or -1 with errno set as loom_shuffle_put(); on failure an unknown
 * prefix of the batch was put.
 */
LOOM_API int loom_shuffle_put_batch (loom_shuffle_t *sh,
                                     const struct loom_record *recs,
                                     size_t n,
                                     loom_error_t *error);

/* Fixed-width fast path: 'n' records packed as key||value, each key_width +
 * value_width bytes, in 'data'. Needs both widths fixed (EINVAL otherwise). Does no
 * per-record allocation. Returns 0, or -1 with errno set as loom_shuffle_put().
 */
LOOM_API int loom_shuffle_put_fixed (loom_shuffle_t *sh,
                                     const void *data,
                                     size_t n,
                                     loom_error_t *error);

/* Put one record to an explicit rank 'dest', bypassing the partitioner (a framework
 * that already knows the owner). Returns 0, or -1 with errno set as
 * loom_shuffle_put() (EINVAL also for dest out of range).
 */
LOOM_API int loom_shuffle_put_to (loom_shuffle_t *sh,
                                  int dest,
                                  const void *key,
                                  size_t key_len,
                                  const void *value,
                                  size_t value_len,
                                  loom_error_t *error);

/* End of the send side. Collective: sends what is buffered and receives
 * everything sent to this rank, in rounds (count exchange, then non-blocking
 * transfers). With a receive callback set, delivers through it before returning;
 * otherwise the records wait for loom_shuffle_next(). Returns 0, or -1 with errno
 * set (ETIMEDOUT, EIO, ENOMEM, E2BIG, or the errno the receive callback set).
 */
LOOM_API int loom_shuffle_finish (loom_shuffle_t *sh, loom_error_t *error);

/* Receive side -------------------------------------------------------------------- */

/* Iterator, after loom_shuffle_finish(): fills 'rec' with the next record received.
 * The pointers in 'rec' are owned by 'sh' and valid until the next call of
 * loom_shuffle_next(), loom_shuffle_reset() or loom_shuffle_destroy(); fixed-width
 * keys and values are not necessarily aligned. Returns 1 (a record), 0 (no more), or
 * -1 with errno set (EINVAL: before finish or with a callback set; EIO: reading a
 * spill file).
 */
LOOM_API int
loom_shuffle_next (loom_shuffle_t *sh, struct loom_record *rec, loom_error_t *error);

/* A batch of received records, all from one source rank, for the receive callback.
 * Decode with loom_batch_next().
 */
struct loom_batch {
    int source;         /* rank that put these records (-1 when combined) */
    uint64_t nrecords;  /* records in the batch */
    const void *data;   /* encoded records; packed key||value with fixed widths */
    uint64_t bytes;     /* bytes at 'data' */
    size_t key_width;   /* as in the params */
    size_t value_width; /* as in the params */
};

/* Decode the record of 'b' at byte offset *pos into 'rec' and advance *pos.
 * Start with *pos = 0. Returns 1 (a record), 0 (end of batch), or -1 with errno
 * EPROTO (corrupt batch).
 */
LOOM_API int
loom_batch_next (const struct loom_batch *b, uint64_t *pos, struct loom_record *rec);

/* Iterator by batch, after loom_shuffle_finish(): fills 'batch' with the next batch of
 * received records (a run of encoded records, all from batch->source; with fixed
 * widths packed key||value, so record i is at data + i * (key_width + value_width)),
 * for loops that would rather walk an array than call loom_shuffle_next() per record.
 * Mixes with loom_shuffle_next(): after some records of a batch went through it, the
 * next call here returns the rest of that batch. 'batch' is valid as long as a record
 * of loom_shuffle_next() would be. Returns 1 (a batch, never empty), 0 (no more), or
 * -1 with errno set as loom_shuffle_next().
 */
LOOM_API int loom_shuffle_next_batch (loom_shuffle_t *sh,
                                      struct loom_batch *batch,
                                      loom_error_t *error);

/* A receive callback: consume 'batch' (owned by libcomm, valid during the call).
 * Return 0 to go on, or -1 with errno set to make loom_shuffle_finish() fail.
 */
typedef int (*loom_recv_f) (const struct loom_batch *batch, void *arg);

/* Deliver received records by calling 'fn' per batch instead of through
 * loom_shuffle_next(). Set before the first put. Batches are delivered while the
 * rounds run (so received data needs no buffering), except with a combiner or
 * LOOM_SHUFFLE_DETERMINISTIC, where they are delivered at the end of
 * loom_shuffle_finish(). Returns 0, or -1 with errno EINVAL (after the first put).
 */
LOOM_API int loom_shuffle_set_recv (loom_shuffle_t *sh, loom_recv_f fn, void *arg);

/* Statistics, valid after loom_shuffle_finish(). Arrays are indexed by rank. */
struct loom_shuffle_stats {
    uint64_t records_put;      /* records put on this rank */
    uint64_t records_sent;     /* after the send-side combiner */
    uint64_t bytes_sent;       /* encoded bytes sent, including to the own rank */
    uint64_t records_received; /* before the receive-side combiner */
    uint64_t bytes_received;
    uint64_t records_delivered;   /* after the receive-side combiner */
    uint64_t spill_bytes_written; /* both sides */
    uint64_t spill_bytes_read;
    uint64_t spill_send_bytes; /* queued frames beyond the budget (peers late) */
    uint64_t spill_recv_bytes; /* received data beyond the budget */
    uint32_t rounds;
    uint32_t rounds_node_aware; /* rounds that used node-aware aggregation */
    /* Bytes written straight into the memory of ranks of this node (included in
     * bytes_sent): the node-local direct path.
     */
    uint64_t bytes_local_direct;
};

/* Fill 'st'. Can't fail. */
LOOM_API void loom_shuffle_stats (const loom_shuffle_t *sh,
                                  struct loom_shuffle_stats *st);

/* Per-peer record counts after loom_shuffle_finish(): sent_to[r] records this rank
 * sent to rank r and recv_from[r] records it received from rank r (before the
 * receive-side combiner). Each array, when non-NULL, holds loom_comm_size() values.
 * Returns 0, or -1 with errno EINVAL (before finish).
 */
LOOM_API int
loom_shuffle_counts (const loom_shuffle_t *sh, uint64_t *sent_to, uint64_t *recv_from);

/* Make the shuffle ready for another exchange with the same params (a Pregel
 * superstep), keeping its buffers. Drops undelivered records. Not collective.
 * Returns 0, or -1 with errno EIO (removing spill files).
 */
LOOM_API int loom_shuffle_reset (loom_shuffle_t *sh, loom_error_t *error);

/* ------------------------------------------------------------------------------ */
/* Broadcast                                                                        */
/* ------------------------------------------------------------------------------ */

typedef enum {
    LOOM_BCAST_AUTO = 0,              /* choose from the size and the number of ranks */
    LOOM_BCAST_MPI = 1,               /* MPI_Bcast in chunks (the baseline) */
    LOOM_BCAST_CHAIN = 2,             /* pipelined chain of chunks */
    LOOM_BCAST_SCATTER_ALLGATHER = 3, /* scatter, then ring allgather */
    /* All ranks on one node: every rank copies a share of the data straight between
     * processes (Linux cross-memory attach, process_vm_readv/writev), so all cores
     * copy at once and each byte is copied once per receiver. Falls back to CHAIN
     * where the ranks span nodes or the kernel refuses (ptrace restrictions).
     */
    LOOM_BCAST_NODE_COPY = 4,
} loom_bcast_algo_t;

struct loom_bcast_params {
    loom_bcast_algo_t algorithm;
    /* Pipeline chunk in bytes (0: chosen by size; at most 2 GiB - 1). */
    uint64_t chunk_bytes;
    double timeout_sec; /* 0: the communicator's */
};

#define LOOM_BCAST_PARAMS_INIT                                                         \
    {                                                                                  \
        .algorithm = LOOM_BCAST_AUTO, .chunk_bytes = 0, .timeout_sec = 0.0             \
    }

/* Broadcast 'len' bytes at 'buf' from 'root' to every rank. Every rank passes the
 * same 'len' and a buffer of that size (filled on the root). 'params' may be NULL.
 * Collective. Returns 0, or -1 with errno set (EINVAL: bad root or params, or 'len'
 * differs between ranks, on every rank; ETIMEDOUT; EIO).
 */
LOOM_API int loom_bcast (loom_comm_t *comm,
                         void *buf,
                         uint64_t len,
                         int root,
                         const struct loom_bcast_params *params,
                         loom_error_t *error);

/* Read-only data shared by the ranks of a node. */
typedef struct loom_shared loom_shared_t;

/* Broadcast 'len' bytes at 'buf' (significant on 'root' only; other ranks pass NULL
 * and any len) into one copy per node, in a node-shared window
 * (MPI_Win_allocate_shared) that every rank of the node reads in place. The window
 * is kept by 'comm' and reused by later calls once this result is destroyed (a
 * larger broadcast replaces it with a larger one; pages beyond a smaller one's
 * length are given back), so repeated broadcasts allocate nothing; windows are
 * freed by loom_comm_destroy(). Collective. Returns a handle, or NULL with errno set
 * (EINVAL: bad root; ETIMEDOUT; EIO; ENOMEM).
 */
LOOM_API loom_shared_t *loom_bcast_shared (loom_comm_t *comm,
                                           const void *buf,
                                           uint64_t len,
                                           int root,
                                           const struct loom_bcast_params *params,
                                           loom_error_t *error);

/* The shared bytes (owned by 's', valid until loom_shared_destroy(); do not write)
 * and their size. Can't fail.
 */
LOOM_API const void *loom_shared_data (const loom_shared_t *s);
LOOM_API uint64_t loom_shared_size (const loom_shared_t *s);

/* Release the shared copy: its window goes back to the communicator for a later
 * loom_bcast_shared(). Every rank of the node must call it (no communication; the
 * next loom_bcast_shared() waits for every rank before reusing the window). Accepts
 * NULL, preserves errno.
 */
LOOM_API void loom_shared_destroy (loom_shared_t *s);

#ifdef __cplusplus
}
#endif
#endif
