/* SPDX-License-Identifier: MIT */
/* Loom Pregel: vertex programs over a partitioned graph in BSP supersteps, on libcomm
 * and datasets.
 *
 *     loom_pregel_graph_t *g = loom_pregel_graph_load (MPI_COMM_WORLD, "graph.h5",
 *                                                      NULL, &err);
 *     struct loom_pregel_program prog = LOOM_PREGEL_PROGRAM_INIT;
 *     prog.value_size = 8;          prog.value_type = LOOM_PREGEL_F64;
 *     prog.message_size = 8;        prog.message_type = LOOM_PREGEL_F64;
 *     prog.combiner = LOOM_PREGEL_SUM;
 *     prog.compute = my_compute;    // see loom_pregel_compute_f
 *     loom_pregel_t *job = loom_pregel_create (g, &prog, NULL, &err);
 *     loom_pregel_run (job, &err);
 *     loom_pregel_write (job, "ranks.h5", NULL, &err);
 *     loom_pregel_destroy (job);
 *     loom_pregel_graph_destroy (g);
 *
 * Model. Every vertex has a 64-bit id, a fixed-size value, and out-edges (with an
 * optional f64 weight). In superstep 0 every vertex is active; afterwards compute()
 * runs for a vertex that has not voted to halt or that received messages (a message
 * wakes a halted vertex). Messages sent in superstep s are delivered in s+1. The job
 * ends when every vertex has halted and no message is pending, when the master hook
 * halts it, or after params.max_supersteps.
 *
 * Fast path. Values and messages are fixed-size, and every rank keeps them in dense
 * arrays indexed by local vertex. With a combiner, a message along an edge is folded
 * straight into a dense accumulator slot (one per local vertex and one per distinct
 * remote neighbour, the "ghosts"): no per-message allocation, and each ghost crosses
 * the network at most once per superstep (combined at the sender). Messages to a
 * vertex of the same rank never leave the rank. Without a combiner messages are
 * appended to flat buffers and grouped by destination between supersteps.
 *
 * Determinism. Given the same graph and program, results are identical at any number
 * of ranks when the combiner and aggregators are exact (integer sums, min, max): the
 * apps' PageRank sums ranks in 2^-62 fixed point for that reason. Floating-point sums
 * are combined in an order that depends on the partitioning.
 *
 * Threads: a graph and its jobs belong to one thread. Every function follows the
 * error rule of loom/loom.h; "collective" means every rank of the graph's
 * communicator calls it.
 */
#ifndef LOOM_PREGEL_H
#define LOOM_PREGEL_H

#include <mpi.h>

#include <loom/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------ */
/* Graphs */

typedef struct loom_pregel_graph loom_pregel_graph_t;

typedef enum {
    /* Vertex v lives on rank loom_hash_partition (&v, 8, seed, nranks) (v as 8 bytes
     * little-endian): the partitioner of datasets and libcomm, so an edge dataset
     * hash-partitioned by src with the same seed loads without a reshuffle.
     */
    LOOM_PREGEL_PART_HASH = 0,
    /* Rank r holds the ids in [r*N/nranks, (r+1)*N/nranks) where N is the largest
     * id + 1: contiguous blocks, good when ids are already scrambled.
     */
    LOOM_PREGEL_PART_RANGE = 1,
} loom_pregel_part_t;

enum {
    /* Add the reverse of every edge (v->u for u->v), e.g. for connected components
     * of the undirected graph.
     */
    LOOM_PREGEL_SYMMETRIC = 1 << 0,
    /* Ignore the edge weights even if the dataset has them (saves 8 bytes/edge). */
    LOOM_PREGEL_NO_WEIGHTS = 1 << 1,
};

struct loom_pregel_graph_params {
    loom_pregel_part_t partition;
    uint64_t seed; /* hash seed (LOOM_PREGEL_PART_HASH) */
    int flags;     /* LOOM_PREGEL_SYMMETRIC | LOOM_PREGEL_NO_WEIGHTS */
};

#define LOOM_PREGEL_GRAPH_PARAMS_INIT                                                  \
    {                                                                                  \
        LOOM_PREGEL_PART_HASH, 0, 0                                                    \
    }

/* Load the edge dataset at 'path' (columns "src:u64,dst:u64" and optionally a third
 * "weight:f64", as written by graph-build and `loom gen`) into per-rank CSR
 * partitions. Collective over 'comm' (duplicated; the caller keeps its own). The
 * vertices are the ids that appear as a source or a destination; a vertex with no
 * out-edges lives on its owner like any other. Edges reach their owner through
 * libcomm's shuffle, unless the dataset is already hash-partitioned by src with the
 * same seed and a multiple of nranks partitions (then each rank reads its own).
 * 'params' may be NULL for defaults.
 * Returns the graph, or NULL with errno: EPROTO (wrong schema: the error names the
 * column), ENODATA (the graph has no vertices), EOVERFLOW (more than 2^31 vertices
 * plus remote neighbours on one rank), ENOENT, EIO, EINVAL, ENOMEM. All ranks get the
 * same outcome.
 */
LOOM_API loom_pregel_graph_t *
loom_pregel_graph_load (MPI_Comm comm,
                        const char *path,
                        const struct loom_pregel_graph_params *params,
                        loom_error_t *error);

/* Build a graph from edges in memory: each rank passes any slice of the edge list
 * ('m' edges; 'weight' may be NULL on every rank, or non-NULL on every rank).
 * Collective; otherwise as loom_pregel_graph_load(). The arrays are not kept.
 */
LOOM_API loom_pregel_graph_t *
loom_pregel_graph_from_edges (MPI_Comm comm,
                              size_t m,
                              const uint64_t *src,
                              const uint64_t *dst,
                              const double *weight,
                              const struct loom_pregel_graph_params *params,
                              loom_error_t *error);

/* Accepts NULL; preserves errno. Jobs on the graph must be destroyed first. */
LOOM_API void loom_pregel_graph_destroy (loom_pregel_graph_t *g);

struct loom_pregel_graph_info {
    uint64_t vertices;       /* global */
    uint64_t edges;          /* global, after LOOM_PREGEL_SYMMETRIC */
    uint64_t local_vertices; /* this rank */
    uint64_t local_edges;    /* this rank */
    uint64_t ghosts;         /* this rank's distinct remote neighbours */
    uint64_t mirrors;        /* remote vertices with edges to this rank */
    uint64_t bytes;          /* this rank's memory for the graph structure */
    int weighted;            /* edges carry weights */
    double min_weight;       /* smallest weight in the graph (-inf if any is NaN;
                                +inf when unweighted) */
    double load_sec;         /* wall time of load/from_edges (this rank) */
};

/* Fill 'info'. This function can't fail. */
LOOM_API void loom_pregel_graph_info (const loom_pregel_graph_t *g,
                                      struct loom_pregel_graph_info *info);

/* This rank's vertex ids, sorted ascending (local index i has id ids[i]); owned by
 * 'g'. *n receives their number. This function can't fail.
 */
LOOM_API const uint64_t *loom_pregel_graph_ids (const loom_pregel_graph_t *g,
                                                size_t *n);

/* Is 'id' a vertex of the graph? Collective (every rank asks about its own 'id').
 * Returns 1 or 0 on this rank for its 'id', or -1 with errno EIO.
 */
LOOM_API int loom_pregel_graph_has_vertex (loom_pregel_graph_t *g, uint64_t id);

/* ------------------------------------------------------------------------------ */
/* Vertex programs */

typedef struct loom_pregel loom_pregel_t;
typedef struct loom_pregel_ctx loom_pregel_ctx_t;
typedef struct loom_pregel_vertex loom_pregel_vertex_t;

/* Element types of values, messages and aggregators. The numeric types are 8 bytes;
 * BYTES is any fixed size (combined only by a user function).
 */
typedef enum {
    LOOM_PREGEL_BYTES = 0,
    LOOM_PREGEL_F64 = 1,
    LOOM_PREGEL_I64 = 2,
    LOOM_PREGEL_U64 = 3,
} loom_pregel_type_t;

/* Combining operations, for message combiners and aggregators. */
typedef enum {
    LOOM_PREGEL_NONE = 0, /* no combiner: every message is delivered */
    LOOM_PREGEL_SUM = 1,
    LOOM_PREGEL_MIN = 2,
    LOOM_PREGEL_MAX = 3,
    LOOM_PREGEL_USER = 4, /* the program's/aggregator's 'combine' function */
} loom_pregel_op_t;

/* acc = acc (+) in, for a user combiner or aggregator. Must be associative and
 * commutative: Loom folds in any order, at the sender and at the receiver.
 */
typedef void (*loom_pregel_combine_f) (void *acc, const void *in, void *arg);

/* Called once per active vertex and superstep. 'msgs' points to 'nmsgs' messages of
 * message_size bytes each, contiguous (with a combiner, nmsgs is 0 or 1). Valid only
 * during the call.
 */
typedef void (*loom_pregel_compute_f) (loom_pregel_ctx_t *ctx,
                                       loom_pregel_vertex_t *v,
                                       const void *msgs,
                                       size_t nmsgs,
                                       void *arg);

/* Called before every superstep on every rank with the same inputs (superstep,
 * aggregated values, counts), so it must be deterministic; it may halt the job
 * (loom_pregel_halt()) or overwrite aggregated values (loom_pregel_set_aggregated())
 * to steer the coming superstep: convergence tests, phase changes.
 */
typedef void (*loom_pregel_master_f) (loom_pregel_ctx_t *ctx, void *arg);

/* Sets vertex v's initial value before superstep 0 (values start zeroed). */
typedef void (*loom_pregel_init_f) (loom_pregel_ctx_t *ctx,
                                    loom_pregel_vertex_t *v,
                                    void *arg);

struct loom_pregel_program {
    size_t value_size;               /* bytes per vertex value, 1..4096 */
    loom_pregel_type_t value_type;   /* numeric types need value_size 8 */
    size_t message_size;             /* bytes per message, 1..4096 */
    loom_pregel_type_t message_type; /* numeric types need message_size 8 */
    loom_pregel_op_t combiner;       /* NONE, SUM/MIN/MAX (numeric types), USER */
    loom_pregel_combine_f combine;   /* for USER */
    loom_pregel_init_f init;         /* optional */
    loom_pregel_compute_f compute;   /* required */
    loom_pregel_master_f master;     /* optional */
    void *arg;                       /* passed to every callback */
};

#define LOOM_PREGEL_PROGRAM_INIT                                                       \
    {                                                                                  \
        0, LOOM_PREGEL_BYTES, 0, LOOM_PREGEL_BYTES, LOOM_PREGEL_NONE, NULL, NULL,      \
            NULL, NULL, NULL                                                           \
    }

struct loom_pregel_params {
    uint64_t max_supersteps; /* stop after this many (0: no limit) */
    /* Checkpoint the job's state to the dataset 'checkpoint' after every K-th
     * superstep (0: never). With 'resume', start from the checkpoint at 'checkpoint'
     * if there is one (same graph and number of ranks), otherwise from scratch.
     */
    uint64_t checkpoint_every;
    const char *checkpoint;
    int resume;
};

#define LOOM_PREGEL_PARAMS_INIT                                                        \
    {                                                                                  \
        0, 0, NULL, 0                                                                  \
    }

/* Create a job running 'prog' (copied) on 'g'. Not collective. 'params' may be NULL.
 * Returns the job, or NULL with errno EINVAL (bad program or params: the error names
 * the field) or ENOMEM. Destroy with loom_pregel_destroy() before the graph.
 */
LOOM_API loom_pregel_t *loom_pregel_create (loom_pregel_graph_t *g,
                                            const struct loom_pregel_program *prog,
                                            const struct loom_pregel_params *params,
                                            loom_error_t *error);

/* Add an aggregator before loom_pregel_run(): values contributed in superstep s with
 * loom_pregel_aggregate() are reduced over all vertices and ranks with 'op' (SUM,
 * MIN, MAX on numeric 'type', or USER with 'combine' on any 'size') and readable with
 * loom_pregel_aggregated() in superstep s+1 and by the master hook before it.
 * Numeric types have size 8. The value starts at the identity of 'op' (0, +max,
 * -max; zero bytes for USER). Returns the aggregator's id (0, 1, ...), or -1 with
 * errno EINVAL or ENOMEM.
 */
LOOM_API int loom_pregel_add_aggregator (loom_pregel_t *job,
                                         loom_pregel_op_t op,
                                         loom_pregel_type_t type,
                                         size_t size,
                                         loom_pregel_combine_f combine,
                                         loom_error_t *error);

/* Run supersteps until the job ends (see the model above). Collective. Writes
 * checkpoints as params say. Returns 0, or -1 with errno EIO (communication or
 * checkpoint failure), ETIMEDOUT, ENOMEM, EPROTO (an unusable checkpoint on resume);
 * all ranks get the same outcome.
 */
LOOM_API int loom_pregel_run (loom_pregel_t *job, loom_error_t *error);

/* This rank's vertex values, value_size bytes each, in local index order (see
 * loom_pregel_graph_ids()); owned by the job. This function can't fail.
 */
LOOM_API void *loom_pregel_values (loom_pregel_t *job);

/* Write the vertex values as a dataset "id:u64,value:<type>" (type from
 * prog.value_type: f64, i64, u64, or strN for BYTES) with one partition per rank,
 * hash- or range-partitioned by id like the graph. Collective. 'lineage' may be NULL.
 * Returns 0, or -1 with errno (EEXIST, EIO, ...) as loom_ds_create() / commit.
 */
struct loom_ds_lineage;
LOOM_API int loom_pregel_write (loom_pregel_t *job,
                                const char *path,
                                const struct loom_ds_lineage *lineage,
                                loom_error_t *error);

struct loom_pregel_stats {
    uint64_t supersteps;     /* supersteps run (including before a resume) */
    uint64_t messages;       /* messages sent by compute(), global */
    uint64_t remote_records; /* combined records that crossed ranks, global */
    uint64_t remote_bytes;   /* their bytes (keys + messages), global */
    uint64_t resumed_from;   /* superstep the run resumed at (0: fresh) */
    uint64_t dropped;        /* messages to ids that are not vertices, global */
    double compute_sec;      /* this rank: time in compute() and local delivery */
    double exchange_sec;     /* this rank: shuffle and reductions */
    double checkpoint_sec;   /* this rank: writing checkpoints */
};

/* Fill 'stats'. This function can't fail. */
LOOM_API void loom_pregel_stats (const loom_pregel_t *job,
                                 struct loom_pregel_stats *stats);

/* Accepts NULL; preserves errno. */
LOOM_API void loom_pregel_destroy (loom_pregel_t *job);

/* ------------------------------------------------------------------------------ */
/* Inside compute(): the vertex. These functions can't fail; indexes are not checked
 * beyond assertions.
 */

/* The vertex's id. */
LOOM_API uint64_t loom_pregel_vertex_id (const loom_pregel_vertex_t *v);

/* The vertex's value (value_size bytes), to read and write in place. */
LOOM_API void *loom_pregel_vertex_value (loom_pregel_vertex_t *v);

/* Number of out-edges. */
LOOM_API size_t loom_pregel_vertex_degree (const loom_pregel_vertex_t *v);

/* Id of the target of out-edge i (0 <= i < degree). */
LOOM_API uint64_t loom_pregel_vertex_edge_target (const loom_pregel_vertex_t *v,
                                                  size_t i);

/* Weight of out-edge i: the dataset's weight, or 1.0 on an unweighted graph. */
LOOM_API double loom_pregel_vertex_edge_weight (const loom_pregel_vertex_t *v,
                                                size_t i);

/* Vote to halt: compute() is not called again until a message arrives. */
LOOM_API void loom_pregel_vote_to_halt (loom_pregel_vertex_t *v);

/* Send 'msg' (message_size bytes, copied) along out-edge i of v: the fast way. */
LOOM_API void loom_pregel_send_edge (loom_pregel_ctx_t *ctx,
                                     loom_pregel_vertex_t *v,
                                     size_t i,
                                     const void *msg);

/* Send 'msg' along every out-edge of v. */
LOOM_API void loom_pregel_send_to_neighbours (loom_pregel_ctx_t *ctx,
                                              loom_pregel_vertex_t *v,
                                              const void *msg);

/* Send 'msg' to vertex 'dst', neighbour or not. A message to an id that is not a
 * vertex of the graph is dropped and counted in loom_pregel_stats().dropped (it does
 * not fail the job).
 */
LOOM_API void loom_pregel_send (loom_pregel_ctx_t *ctx, uint64_t dst, const void *msg);

/* Contribute 'value' to aggregator 'id' for this superstep. */
LOOM_API void loom_pregel_aggregate (loom_pregel_ctx_t *ctx, int id, const void *value);

/* ------------------------------------------------------------------------------ */
/* In compute(), init() and the master hook. */

/* The current superstep (0, 1, ...). */
LOOM_API uint64_t loom_pregel_superstep (const loom_pregel_ctx_t *ctx);

/* Number of vertices of the whole graph. */
LOOM_API uint64_t loom_pregel_num_vertices (const loom_pregel_ctx_t *ctx);

/* The value of aggregator 'id' reduced over the previous superstep (its identity in
 * superstep 0), copied to 'out'.
 */
LOOM_API void loom_pregel_aggregated (const loom_pregel_ctx_t *ctx, int id, void *out);

/* Master hook only. */

/* Replace the aggregated value of 'id' that compute() reads in this superstep. */
LOOM_API void
loom_pregel_set_aggregated (loom_pregel_ctx_t *ctx, int id, const void *value);

/* End the job before this superstep runs. */
LOOM_API void loom_pregel_halt (loom_pregel_ctx_t *ctx);

/* Global counts from the previous superstep: vertices that have not voted to halt,
 * and messages pending delivery (after combining).
 */
LOOM_API uint64_t loom_pregel_active_vertices (const loom_pregel_ctx_t *ctx);
LOOM_API uint64_t loom_pregel_pending_messages (const loom_pregel_ctx_t *ctx);

/* ------------------------------------------------------------------------------ */
/* Graph generators (used by `loom gen rmat|urand`, tests and benchmarks). */

typedef enum {
    /* Graph500 Kronecker (R-MAT): 2^scale vertex ids, edgefactor * 2^scale edges,
     * quadrant probabilities a, b, c (d = 1 - a - b - c), ids scrambled by a seeded
     * bijection as Graph500 does. Self-loops and duplicate edges are kept.
     */
    LOOM_PREGEL_GEN_RMAT = 1,
    /* Uniform random: both endpoints uniform in [0, 2^scale). */
    LOOM_PREGEL_GEN_URAND = 2,
} loom_pregel_gen_kind_t;

struct loom_pregel_gen_params {
    loom_pregel_gen_kind_t kind;
    unsigned scale;      /* 1..40 */
    unsigned edgefactor; /* 1..1024 */
    uint64_t seed;
    double a, b, c; /* R-MAT */
};

#define LOOM_PREGEL_GEN_PARAMS_INIT                                                    \
    {                                                                                  \
        LOOM_PREGEL_GEN_RMAT, 16, 16, 1, 0.57, 0.19, 0.19                              \
    }

/* Check generator parameters. Returns 0, or -1 with errno EINVAL naming the bad one.
 */
LOOM_API int loom_pregel_gen_check (const struct loom_pregel_gen_params *p,
                                    loom_error_t *error);

/* Number of edges of the graph: edgefactor * 2^scale. */
LOOM_API uint64_t loom_pregel_gen_num_edges (const struct loom_pregel_gen_params *p);

/* Generate edges [first, first + count) of the graph into src[count], dst[count] and,
 * if non-NULL, weight[count] (uniform in [0, 1)). Edge e depends only on (params, e),
 * so ranks generate disjoint slices in parallel and the graph is the same at any
 * number of ranks. Returns 0, or -1 with errno EINVAL.
 */
LOOM_API int loom_pregel_gen_edges (const struct loom_pregel_gen_params *p,
                                    uint64_t first,
                                    uint64_t count,
                                    uint64_t *src,
                                    uint64_t *dst,
                                    double *weight,
                                    loom_error_t *error);

#ifdef __cplusplus
}
#endif
#endif
