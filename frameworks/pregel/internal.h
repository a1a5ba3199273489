/* SPDX-License-Identifier: MIT */
/* Pregel internals shared by the files of frameworks/pregel. Not installed. */
#ifndef LOOM_PREGEL_INTERNAL_H
#define LOOM_PREGEL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <loom/comm.h>
#include <loom/exchange.h>
#include <loom/hash.h>
#include <loom/hugemem.h>
#include <loom/pregel.h>

/* Slots: an edge's target is a 32-bit slot, < n for a local vertex (its local index)
 * and n + g for ghost g (a distinct remote neighbour). Ghosts are sorted by owner
 * rank, then id, so each peer's ghosts are one contiguous range.
 */
struct loom_pregel_graph {
    loom_comm_t *comm;
    int rank, size;
    loom_pregel_part_t part;
    uint64_t seed;
    uint64_t id_limit; /* RANGE: largest id + 1 over the whole graph */
    int flags;

    size_t n;       /* local vertices */
    uint64_t *ids;  /* n, sorted */
    uint64_t *off;  /* n + 1 CSR offsets */
    uint32_t *tgt;  /* m slots */
    double *weight; /* m, or NULL */
    size_t m;       /* local edges */

    size_t ng;            /* ghosts */
    uint64_t *ghost_id;   /* ng */
    uint32_t *ghost_rlid; /* ng: local index on the owner */
    size_t *peer_off; /* size + 1: peer p's ghosts are [peer_off[p], peer_off[p+1]) */

    /* Pull structures (built on first use by a program with a combiner, see pull.c):
     * in-edges of every local vertex as source slots: n + i for mirror i (a remote
     * vertex with edges to this rank, whose broadcast message its rank sends here
     * once per superstep) and n + nm + k for self mirror k (below).
     */
    bool pull_ready;
    size_t nm;                     /* mirrors on this rank */
    uint64_t *in_off;              /* n + 1 */
    uint32_t *in_src;              /* in-edges */
    size_t in_off_cap, in_src_cap; /* their capacities (pregel_big_free) */
    size_t n_with_out;             /* local vertices with out-edges */
    size_t *mo_off;                /* size + 1: my vertices mirrored on rank p */
    uint32_t *mo_lid;              /* ... their local indexes, by (p, lid) */
    uint32_t *mo_slot;             /* ... and their mirror index on p */
    /* size + 1: the mirrors of rank q's vertices are [mi_off[q], mi_off[q+1]), in
     * the order of q's mo_lid: a fixed pattern (see pregel_exchange()).
     */
    size_t *mi_off;
    /* Local sources are read by the gather through a copy too, "self mirrors"
     * n + nm + k for k < ns: so_lid[k] is the local vertex copied there, most-read
     * first, so that the hot sources of both kinds sit together (pregel_gather()).
     */
    size_t ns;
    uint32_t *so_lid;

    uint64_t nv_global, ne_global;
    bool replay;       /* rebuilt from a capture: one rank's partition, no peers */
    double min_weight; /* global; +inf when unweighted */
    double load_sec;
};

/* Rank owning vertex 'id'. */
static inline int pregel_owner (const struct loom_pregel_graph *g, uint64_t id)
{
    if (g->part == LOOM_PREGEL_PART_RANGE) {
        /* id_limit saturates at UINT64_MAX, so id == UINT64_MAX must be clamped. */
        uint64_t r =
            (uint64_t)(((unsigned __int128)id * (unsigned)g->size) / g->id_limit);
        return r < (uint64_t)g->size ? (int)r : g->size - 1;
    }
    return (int)loom_hash_partition (&id, sizeof (id), g->seed, (uint32_t)g->size);
}

/* Local index of 'id' on this rank, or -1. */
int64_t pregel_local_index (const struct loom_pregel_graph *g, uint64_t id);

/* Build the graph from this rank's edges (any slice, or with 'prerouted' exactly
 * the edges whose source this rank owns). The arrays and 'comm' are consumed: the
 * function frees them, also on error. Collective.
 */
struct loom_pregel_graph *
pregel_graph_build_ex (loom_comm_t *comm,
                       size_t m,
                       uint64_t *src,
                       uint64_t *dst,
                       double *weight,
                       int weighted,
                       int prerouted,
                       const struct loom_pregel_graph_params *p,
                       loom_error_t *error);

/* Sort n (key, value) pairs by key (stable LSD radix sort); 'tmp' holds n pairs. */
struct pregel_pair {
    uint64_t key, val;
};
void pregel_radix_sort (struct pregel_pair *a, struct pregel_pair *tmp, size_t n);

/* Do all ranks agree that nothing failed? 'failed' is this rank's verdict; on any
 * failure the lowest failing rank's error text is copied to every rank's 'error' and
 * errno is set to its errno. Returns 0 if nobody failed, else -1.
 */
int pregel_agree (loom_comm_t *comm, int failed, loom_error_t *error);

/* ------------------------------------------------------------------------------ */
/* Jobs */

struct pregel_aggregator {
    loom_pregel_op_t op;
    loom_pregel_type_t type;
    size_t size;
    loom_pregel_combine_f combine;
    uint8_t *partial; /* this superstep, this rank */
    uint8_t *value;   /* reduced over the previous superstep */
};

/* The "fast" kinds: a specialised edge loop for a built-in combiner on 8 bytes. */
enum pregel_fast {
    FAST_NONE = 0, /* no combiner: messages are listed */
    FAST_USER,     /* user combiner on message_size bytes */
    FAST_SUM_F64,
    FAST_SUM_I64,
    FAST_SUM_U64,
    FAST_MIN_F64,
    FAST_MIN_I64,
    FAST_MIN_U64,
    FAST_MAX_F64,
    FAST_MAX_I64,
    FAST_MAX_U64,
};

struct loom_pregel_vertex {
    struct loom_pregel *job;
    size_t lid;
};

struct loom_pregel_ctx {
    struct loom_pregel *job;
    bool master;
};

struct loom_pregel {
    struct loom_pregel_graph *g;
    struct loom_pregel_program prog;
    struct loom_pregel_params params;
    char *checkpoint;
    enum pregel_fast fast;
    size_t vs, ms; /* value and message sizes */

    uint8_t *values; /* n * vs */
    size_t values_cap;
    uint8_t *halted; /* n */

    /* Combined path: 'out' accumulates this superstep's messages for every slot
     * (n + ng); after the exchange its first n slots are the next inbox, 'in'.
     */
    uint8_t *out, *out_has;
    uint8_t *in, *in_has;
    size_t msgs_cap;   /* of 'out' and of 'in' (the same size, they swap) */
    uint8_t *identity; /* ms bytes: the combiner's identity (built-ins) */

    /* Listed path (no combiner): messages of this superstep as (slot, message), and
     * the inbox grouped by vertex: vertex v's messages are in_list[in_off[v] ..
     * in_off[v+1]) (in units of ms bytes).
     */
    uint32_t *list_slot;
    uint8_t *list_msg;
    size_t list_n, list_cap;
    uint64_t *in_off;
    uint8_t *in_list;
    size_t in_list_cap;

    /* Broadcasts (send_to_neighbours with a combiner): the message of each local
     * vertex and of each mirror, n + nm slots, and whether it was sent this
     * superstep. After compute they are either pushed along out-edges or pulled
     * along in-edges (see pull.c), whichever touches fewer edges.
     */
    uint8_t *bcast, *bflag;
    size_t bcast_cap;
    size_t nbcast;        /* local vertices with out-edges that broadcast */
    uint64_t bcast_edges; /* their out-edges */
    bool pull;            /* this superstep gathers */

    /* Messages to ids that are not neighbours: (id, message), routed by owner. */
    uint64_t *far_id;
    uint8_t *far_msg;
    size_t far_n, far_cap;

    struct pregel_aggregator *aggs;
    size_t naggs;

    loom_shuffle_t *sh_edge; /* key: u32 local index on the owner; value: message */
    /* Dense broadcasts: every mirror's message, bare, in the graph's fixed mirror
     * order, straight into the mirror slots of 'bcast' (built with 'bcast').
     */
    loom_exchange_t *bx;
    loom_shuffle_t *sh_far; /* key: u64 id; value: message */

    uint64_t superstep;
    bool halt_requested;
    uint64_t active_prev, pending_prev; /* global, from the previous superstep */
    int failed;                         /* an allocation failed inside compute() */

    struct loom_pregel_ctx ctx;
    struct loom_pregel_vertex vtx;

    /* Capture (capture.c): the value of the vertex being computed, as it was before
     * compute() (a crash capture must not record what compute half-wrote).
     */
    uint8_t *cap_value;
    bool cap_on;

    /* Counters of this superstep (local), and totals (global). */
    uint64_t sent_local;
    uint64_t dropped;
    struct loom_pregel_stats stats;
};

/* Copy one message: 8-byte messages (the common case) without a call to memcpy. */
static inline void pregel_copy_msg (void *dst, const void *src, size_t ms)
{
    if (ms == 8) {
        uint64_t t;
        __builtin_memcpy (&t, src, 8);
        __builtin_memcpy (dst, &t, 8);
    } else {
        __builtin_memcpy (dst, src, ms);
    }
}

/* The arrays a superstep sweeps (values, inbox and outbox, broadcasts, in-edges).
 * PageRank's gather reads one broadcast per in-edge at a random slot of an array of
 * several MiB: with 4 KiB pages nearly every read also misses the TLB, and on a
 * virtual machine each miss is a two-level page walk. So arrays from 2 MiB up are
 * huge-page mappings (common/hugemem.c; LOOM_PREGEL_HUGEPAGES=0 turns the advice
 * off). Defined in engine.c.
 */
extern struct loom_hugemem pregel_mem;

/* n * size bytes, zeroed; '*cap' gets the capacity to free with (and is left alone
 * on failure, so a capacity shared by two arrays stays right when the second fails).
 * NULL (errno ENOMEM) on overflow or when out of memory.
 */
static inline void *pregel_big_alloc (size_t n, size_t size, size_t *cap)
{
    void *p = loom_hugemem_calloc (&pregel_mem, n, size);
    if (p)
        *cap = loom_hugemem_round (&pregel_mem, n * size);
    return p;
}
/* Accepts NULL. */
static inline void pregel_big_free (void *p, size_t cap)
{
    loom_hugemem_free (&pregel_mem, p, cap);
}

/* Grow the listed-messages buffer; sets job->failed on ENOMEM. */
int pregel_list_reserve (struct loom_pregel *job, size_t more);

/* Deliver a message to local vertex 'lid' in the inbox being built (out/out_has for
 * combined paths, the list for the listed path).
 */
void pregel_deliver_local (struct loom_pregel *job, size_t lid, const void *msg);

/* Fold 'in' into 'acc' with the job's combiner. */
void pregel_combine (struct loom_pregel *job, void *acc, const void *in);

/* Reset 'out' to the identity and clear out_has for every slot. */
void pregel_clear_out (struct loom_pregel *job);

/* Create job->bx from the graph's mirror pattern; collective. */
int pregel_exchange_plan (struct loom_pregel *job, loom_error_t *error);

/* Exchange this superstep's remote messages; collective. */
int pregel_exchange (struct loom_pregel *job, loom_error_t *error);

/* Route the messages to non-neighbours by id; collective. */
int pregel_exchange_far (struct loom_pregel *job, loom_error_t *error);

/* Turn the listed messages to local vertices into the grouped inbox. */
int pregel_group_inbox (struct loom_pregel *job, loom_error_t *error);

/* Reduce aggregators and counters over all ranks; collective. counts[] are summed. */
int pregel_reduce (struct loom_pregel *job,
                   uint64_t *counts,
                   size_t ncounts,
                   loom_error_t *error);

/* Aggregator helpers. */
void pregel_agg_identity (const struct pregel_aggregator *a, void *out);
void pregel_agg_fold (const struct pregel_aggregator *a,
                      void *acc,
                      const void *in,
                      void *arg);

/* Dataset create params partitioned like the graph by column "id"; *splitters
 * (caller frees) holds RANGE splitters. Returns 0 or -1 (ENOMEM).
 */
struct loom_ds_create_params;
int pregel_ds_params (const struct loom_pregel_graph *g,
                      struct loom_ds_create_params *cp,
                      uint64_t **splitters);

/* Pull path (pull.c). */
int pregel_graph_build_pull (struct loom_pregel_graph *g, loom_error_t *error);
void pregel_push_broadcasts (struct loom_pregel *job);
void pregel_gather (struct loom_pregel *job);
/* Record tag of a mirror record's key (bit 31 of the low word). */
#define PREGEL_MIRROR_TAG (1ULL << 31)

/* Capture and replay of one rank's compute() calls in one superstep, task
 * "compute-ss<S>-r<R>" (capture.c, replay.c; docs/replay.md).
 */
/* compute() for every active vertex from local index 'from' on (engine.c). */
void pregel_compute_from (struct loom_pregel *job, size_t from);
/* Before compute_all(): arm the crash capture; write the inputs now if selected. */
void pregel_cap_begin (struct loom_pregel *job);
/* After compute_all(): disarm; for a selected task record its output digest. */
void pregel_cap_end (struct loom_pregel *job);
/* xxh64 over what compute() of vertices [from, n) left: values, halt flags, messages
 * (slots or list, broadcasts, far messages). 'sent' receives the messages sent.
 */
uint64_t pregel_cap_digest (const struct loom_pregel *job, size_t from);
/* Write the superstep's inputs as files into 'dir' (async-signal-safe). The value
 * of vertex 'saved_lid' (if < n) is taken from job->cap_value.
 */
int pregel_cap_write_inputs (const struct loom_pregel *job,
                             const char *dir,
                             size_t saved_lid);
/* Replay mode: the captured partition as a graph (loom_pregel_graph_load). */
struct loom_pregel_graph *pregel_replay_graph (loom_error_t *error);
/* Replay mode: run the captured superstep's compute() calls and end the process. */
int pregel_replay_run (struct loom_pregel *job, loom_error_t *error);

/* Checkpoints. */
int pregel_checkpoint_write (struct loom_pregel *job, loom_error_t *error);
/* Returns 1 if resumed, 0 if there was no checkpoint, -1 on error. */
int pregel_checkpoint_read (struct loom_pregel *job, loom_error_t *error);

#endif
