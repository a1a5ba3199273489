/* SPDX-License-Identifier: MIT */
/* MapReduce on libcomm's shuffle and Loom datasets.
 *
 * A job (loom_mr_t) runs steps, one loom_mr_run() call each, collectively on every
 * rank of a libcomm communicator. A step reads one input, calls 'map' on every
 * record, optionally combines and shuffles what map emitted to the owner of each
 * key, groups it by key and calls 'reduce' on every group, and writes the output:
 *
 *     input (text files | dataset | in-memory data of an earlier step)
 *       -> map -> [combine -> shuffle -> group by key -> reduce] -> output
 *
 * A step without 'reduce' and without a partitioner is map-only: no shuffle, and
 * every rank writes what its own map emitted.
 *
 * Records are a key and a value, each a byte string (loom_record from loom/comm.h).
 * Text input: the key is empty and the value is one line without its newline; the
 * LOOM_MR_TEXT_PAD bytes after the end of the value are always readable (they
 * may be the newline, the next line, or zeros), so a map function may load 16 bytes
 * at a time near the end of a line.
 *
 * Partitions: a step's output has 'partitions' partitions (default
 * LOOM_MR_DEFAULT_PARTITIONS, independent of the number of ranks), spread over the
 * ranks in contiguous blocks. Records are sorted by key within each partition (and by
 * value with LOOM_MR_SORT_VALUES), so with a deterministic reduce the output is the
 * same, byte for byte, at any number of ranks. Hash partitioning puts key k in
 * partition loom_hash_partition (k, len, seed, partitions): the same function
 * datasets record, so a hash-partitioned output dataset is readable by key.
 *
 * Datasets: a record maps to a dataset row as "first column = key, remaining
 * columns = value": the key bytes are the first column's representation (8 bytes
 * little-endian for u64/i64/f64, the string for strN or bytes), and the value bytes
 * are the other columns' representations concatenated (fixed-width columns, or a
 * single bytes column). Example: "word:bytes,count:u64" for wordcount,
 * "src:u64,dst:u64,weight:f64" for a weighted edge list keyed by source.
 *
 * Errors follow the rule at the top of loom/loom.h. Every collective call returns
 * the same result on every rank, and on failure the same one-line 'error' (the first
 * failing rank's reason), so an app prints it once from rank 0.
 */
#ifndef LOOM_MAPREDUCE_H
#define LOOM_MAPREDUCE_H

#include <stdbool.h>
#include <stdio.h>

#include <loom/types.h>
#include <loom/comm.h>
#include <loom/dataset.h>
#include <loom/join.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LOOM_MR_TEXT_PAD           64
#define LOOM_MR_DEFAULT_PARTITIONS 8

typedef struct loom_mr loom_mr_t;
/* Where map and reduce emit records; valid during the call that received it. */
typedef struct loom_mr_ctx loom_mr_ctx_t;
/* The values of one key, for reduce. */
typedef struct loom_mr_values loom_mr_values_t;
/* A step's output held in memory, partitioned over the ranks, for the next step. */
typedef struct loom_mr_data loom_mr_data_t;

/* Map: called once per input record. Emit with loom_mr_emit(). Return 0, or -1
 * (with loom_mr_fail() or errno set) to fail the step.
 */
typedef int (*loom_mr_map_f) (loom_mr_ctx_t *ctx,
                              const struct loom_record *rec,
                              void *arg);

/* Reduce: called once per distinct key, in key order within each partition, with an
 * iterator over that key's values (after combining, if a combiner is set). Return 0,
 * or -1 to fail the step.
 */
typedef int (*loom_mr_reduce_f) (loom_mr_ctx_t *ctx,
                                 const void *key,
                                 size_t key_len,
                                 loom_mr_values_t *values,
                                 void *arg);

/* Text output: append the text of one record to 'out' (a FILE opened on a memory
 * buffer). NULL selects the default: key, then a tab and the value if the value is
 * not empty, then a newline. Return 0 or -1.
 */
typedef int (*loom_mr_format_f) (FILE *out, const struct loom_record *rec, void *arg);

/* Progress, for a terminal display (called on rank 0 only, at most ~5 times a
 * second, and once at the end of each phase). The numbers are rank 0's own, except
 * 'ranks' (multiply to estimate the job's rate).
 */
struct loom_mr_progress {
    const char *step;   /* the step's name */
    const char *phase;  /* "map", "shuffle", "reduce", "write" */
    double fraction;    /* of the input read by rank 0, 0..1 (map phase) */
    uint64_t records;   /* input records mapped by rank 0 */
    uint64_t bytes_in;  /* input bytes read by rank 0 */
    uint64_t shuffled;  /* bytes rank 0 sent in the shuffle */
    double elapsed_sec; /* since the step started */
    int ranks;
    bool done; /* last call of this phase */
};
typedef void (*loom_mr_progress_f) (const struct loom_mr_progress *p, void *arg);

/* Job flags. */
enum {
    /* Deliver shuffled records in source-rank order (libcomm's deterministic mode),
     * for reproducible runs of order-sensitive reduce functions. Output of the
     * built-in steps is already identical without it (records are sorted within
     * each partition).
     */
    LOOM_MR_DETERMINISTIC = 1 << 0,
    /* Replace existing outputs (text files, datasets). Without it an existing
     * output is an error (EEXIST) detected before any work starts.
     */
    LOOM_MR_FORCE = 1 << 1,
};

struct loom_mr_params {
    /* Memory budget per rank, in bytes (0: 1 GiB). Shared by the combiner table, the
     * shuffle and the grouping sort; beyond it data spills to 'tmpdir'. At least
     * 4 MiB.
     */
    uint64_t mem_bytes;
    const char *tmpdir; /* NULL: $LOOM_TMPDIR, $TMPDIR, /tmp */
    double timeout_sec; /* collectives' timeout (0: the communicator's) */
    unsigned flags;     /* LOOM_MR_* */
    loom_mr_progress_f progress;
    void *progress_arg;
};

#define LOOM_MR_PARAMS_INIT                                                            \
    {                                                                                  \
        .mem_bytes = 0, .tmpdir = NULL, .timeout_sec = 0.0, .flags = 0,                \
        .progress = NULL, .progress_arg = NULL,                                        \
    }

/* Create a job on 'comm' (borrowed; must outlive the job). 'params' may be NULL.
 * Not collective. Returns a handle, or NULL with errno EINVAL (bad params) or ENOMEM.
 */
LOOM_API loom_mr_t *loom_mr_create (loom_comm_t *comm,
                                    const struct loom_mr_params *params,
                                    loom_error_t *error);

/* Free the job (not the data it returned). Accepts NULL, preserves errno. */
LOOM_API void loom_mr_destroy (loom_mr_t *mr);

/* Input kinds of a step. */
typedef enum {
    LOOM_MR_INPUT_TEXT = 0, /* text files or directories (recursively, in name order) */
    LOOM_MR_INPUT_DATASET = 1, /* a committed dataset */
    LOOM_MR_INPUT_DATA = 2,    /* the in-memory output of an earlier step */
} loom_mr_input_kind_t;

/* Output kinds of a step. */
typedef enum {
    LOOM_MR_OUTPUT_NONE = 0,    /* keep in memory only (see loom_mr_run's 'out') */
    LOOM_MR_OUTPUT_TEXT = 1,    /* one text file, partitions in order */
    LOOM_MR_OUTPUT_DATASET = 2, /* a dataset with one partition per output partition */
} loom_mr_output_kind_t;

/* Step flags. */
enum {
    /* Within a partition, order records with equal keys by value (secondary sort):
     * reduce then sees each key's values in byte order.
     */
    LOOM_MR_SORT_VALUES = 1 << 0,
    /* Write the dataset as resumable: partitions committed by an interrupted
     * earlier run with the same parameters are reused, not rewritten.
     */
    LOOM_MR_RESUME = 1 << 1,
    /* Text output without a format function: write key and value back to back,
     * then a newline (no tab), e.g. to rebuild lines split into key and value.
     */
    LOOM_MR_TEXT_RAW = 1 << 2,
};

struct loom_mr_step {
    const char *name; /* for progress, errors and lineage ("wordcount") */

    /* Input. */
    loom_mr_input_kind_t input;
    const char *const *paths; /* TEXT: files/directories; DATASET: paths[0] */
    size_t npaths;
    const loom_mr_data_t *data; /* DATA */

    /* Map; NULL passes input records through unchanged. */
    loom_mr_map_f map;
    void *map_arg;

    /* Combiner (before and after the shuffle). Needs a fixed value_width. */
    loom_combine_kind_t combine;
    loom_combine_f combine_fn;
    void *combine_arg;

    /* Shuffle shape and placement. 'key_width' / 'value_width': LOOM_VARLEN or a
     * fixed width every emitted record must have (the fast path).
     */
    size_t key_width;
    size_t value_width;
    loom_partition_kind_t partition; /* HASH or RANGE (CALLBACK is not supported) */
    uint64_t hash_seed;
    /* RANGE: partitions = ranks, splitters sampled from the keys map emits (every
     * rank maps a first slice of its input twice: to sample, then for real).
     */
    uint32_t partitions; /* HASH: 0 = LOOM_MR_DEFAULT_PARTITIONS */

    /* Reduce; NULL with a shuffle re-emits every record (identity). */
    loom_mr_reduce_f reduce;
    void *reduce_arg;
    /* Shuffle even without reduce (identity reduce: sort, dedup by grouping...). */
    bool shuffle;
    unsigned flags; /* LOOM_MR_SORT_VALUES | LOOM_MR_RESUME | LOOM_MR_TEXT_RAW */

    /* Output. */
    loom_mr_output_kind_t output;
    const char *output_path;
    loom_mr_format_f format; /* TEXT */
    void *format_arg;
    /* DATASET: schema text (see loom_ds_schema_parse) and lineage (copied). For
     * recompute: 'repair_partitions' as given by `loom ds recompute`.
     */
    const char *schema;
    const struct loom_ds_lineage *lineage;
    const char *repair_partitions;
};

#define LOOM_MR_STEP_INIT                                                              \
    {                                                                                  \
        .name = "step", .input = LOOM_MR_INPUT_TEXT, .paths = NULL, .npaths = 0,       \
        .data = NULL, .map = NULL, .map_arg = NULL, .combine = LOOM_COMBINE_NONE,      \
        .combine_fn = NULL, .combine_arg = NULL, .key_width = LOOM_VARLEN,             \
        .value_width = LOOM_VARLEN, .partition = LOOM_PARTITION_HASH, .hash_seed = 0,  \
        .partitions = 0, .reduce = NULL, .reduce_arg = NULL, .shuffle = false,         \
        .flags = 0, .output = LOOM_MR_OUTPUT_NONE, .output_path = NULL,                \
        .format = NULL, .format_arg = NULL, .schema = NULL, .lineage = NULL,           \
        .repair_partitions = NULL,                                                     \
    }

/* What a step did (this rank's numbers unless noted). */
struct loom_mr_stats {
    uint64_t input_records;
    uint64_t input_bytes;
    uint64_t map_emitted;     /* records map emitted */
    uint64_t shuffle_records; /* records put into the shuffle (after the map-side
                                 combiner) */
    uint64_t shuffle_bytes;   /* bytes this rank sent */
    uint64_t reduce_groups;   /* distinct keys reduced */
    uint64_t output_records;
    uint64_t spill_bytes;        /* written to disk by the shuffle and grouping */
    uint32_t partitions_written; /* output partitions written by this rank */
    uint32_t partitions_reused;  /* ... and reused from an earlier run */
    double map_sec, shuffle_sec, reduce_sec, write_sec, total_sec;
    /* Whole job (summed over ranks). */
    uint64_t total_input_records;
    uint64_t total_output_records;
};

/* Run one step. Collective over the job's communicator: every rank passes the same
 * step. When 'out' is non-NULL, the step's output is also kept in memory and
 * returned there (free with loom_mr_data_destroy()), to be the input of a later
 * step. 'stats' (may be NULL) receives the step's statistics.
 * Returns 0, or -1 with errno on every rank: EINVAL (bad step: the error names the
 * field), ENOENT (missing input), EACCES, EISDIR, EEXIST (output exists without
 * LOOM_MR_FORCE), EIO, ENOMEM, ETIMEDOUT, EPROTO (corrupt dataset input), or what
 * map/reduce set. A failed step leaves no output behind (text is renamed into place
 * only when whole; datasets commit atomically).
 */
LOOM_API int loom_mr_run (loom_mr_t *mr,
                          const struct loom_mr_step *step,
                          loom_mr_data_t **out,
                          struct loom_mr_stats *stats,
                          loom_error_t *error);

/* A join step: two inputs joined on a key by libcomm's distributed join
 * (loom/join.h: repartition, broadcast or the skew-aware hybrid, chosen
 * automatically), written like a step's output.
 *
 * Inputs are datasets (the key is column 'on', the value the other columns in
 * schema order, so key and value widths come from the schemas) or the in-memory
 * data of earlier steps (records as they are; widths from the step). Output records
 * have the join key as key and, as value, loom_join_result_encode()'s layout: the
 * left value, then for inner and left outer joins the right value (zeros when
 * unmatched), then for left outer joins an int32 "matched" flag. With dataset
 * output and no 'schema', the schema is derived from the inputs': the key column,
 * the left value columns, the right value columns (named "right_<name>" when the
 * left has the name), and "matched:i32" for left outer joins; value columns must
 * then be fixed-width, except a single bytes column with nothing after it.
 * Every rank writes one partition (no partitioner): rank r's results.
 */
struct loom_mr_join_step {
    const char *name;                             /* for errors and lineage ("join") */
    loom_mr_input_kind_t left_input, right_input; /* DATASET or DATA */
    const char *left_path, *right_path;           /* DATASET */
    const loom_mr_data_t *left_data, *right_data; /* DATA */
    /* DATASET: the key column of both inputs (NULL: the first column). Its type and
     * width must be the same in both (EINVAL otherwise).
     */
    const char *on;
    /* DATA: the records' shapes (LOOM_VARLEN or fixed widths). */
    size_t key_width, left_value_width, right_value_width;
    loom_join_kind_t kind;
    loom_join_strategy_t strategy;
    uint64_t hash_seed;
    /* Output, as for a step (NONE keeps it in memory only; TEXT; DATASET). */
    loom_mr_output_kind_t output;
    const char *output_path;
    loom_mr_format_f format; /* TEXT */
    void *format_arg;
    const char *schema; /* DATASET: NULL derives it (dataset inputs only) */
    const struct loom_ds_lineage *lineage;
};

#define LOOM_MR_JOIN_STEP_INIT                                                         \
    {                                                                                  \
        .name = "join", .left_input = LOOM_MR_INPUT_DATASET,                           \
        .right_input = LOOM_MR_INPUT_DATASET, .left_path = NULL, .right_path = NULL,   \
        .left_data = NULL, .right_data = NULL, .on = NULL, .key_width = LOOM_VARLEN,   \
        .left_value_width = LOOM_VARLEN, .right_value_width = LOOM_VARLEN,             \
        .kind = LOOM_JOIN_INNER, .strategy = LOOM_JOIN_AUTO, .hash_seed = 0,           \
        .output = LOOM_MR_OUTPUT_NONE, .output_path = NULL, .format = NULL,            \
        .format_arg = NULL, .schema = NULL, .lineage = NULL,                           \
    }

/* Run a join step. Collective, like loom_mr_run(): 'out' (may be NULL) receives the
 * output in memory, 'stats' what it did (input_records: tuples of both sides read
 * by this rank; output_records: results on this rank; shuffle_bytes: spill of the
 * local join; map_sec: reading, reduce_sec: joining). Returns 0, or -1 with errno
 * on every rank and one line in 'error': ENOENT (an input dataset is missing),
 * EINVAL (bad step; no column 'on'; key columns of different types; a derived
 * schema impossible), EEXIST (output exists without LOOM_MR_FORCE), EIO, ENOMEM,
 * ETIMEDOUT. A failed step leaves no output behind.
 */
LOOM_API int loom_mr_join (loom_mr_t *mr,
                           const struct loom_mr_join_step *step,
                           loom_mr_data_t **out,
                           struct loom_mr_stats *stats,
                           loom_error_t *error);

/* Emit a record from map or reduce. The bytes are copied. Returns 0, or -1 with
 * errno EINVAL (length differs from the step's fixed width), ENOMEM, EIO.
 */
LOOM_API int loom_mr_emit (loom_mr_ctx_t *ctx,
                           const void *key,
                           size_t key_len,
                           const void *value,
                           size_t value_len);

/* Make the step fail with this reason (errno 'errnum'); the map or reduce function
 * then returns -1. Returns -1.
 */
LOOM_API int loom_mr_fail (loom_mr_ctx_t *ctx, int errnum, const char *fmt, ...)
    LOOM_PRINTF (3, 4);

/* Next value of the current key. Returns 1 and sets *value / *len (owned by the
 * framework, valid until the next call), or 0 when there are no more, or -1 with
 * errno EIO (reading spilled data).
 */
LOOM_API int
loom_mr_values_next (loom_mr_values_t *values, const void **value, size_t *len);

/* The rank and number of ranks of the job (for map functions that sample or
 * partition work themselves). These functions can't fail.
 */
LOOM_API int loom_mr_ctx_rank (const loom_mr_ctx_t *ctx);
LOOM_API int loom_mr_ctx_size (const loom_mr_ctx_t *ctx);

/* Records held by this rank in 'data', and in the whole job (collective-free: the
 * total was computed when the step ended). These functions can't fail.
 */
LOOM_API uint64_t loom_mr_data_records (const loom_mr_data_t *data);
LOOM_API uint64_t loom_mr_data_total_records (const loom_mr_data_t *data);

/* Iterate over this rank's records of 'data', partition by partition, in order.
 * Start with *pos = 0. Returns 1 and fills 'rec' (pointers owned by 'data'), or 0 at
 * the end. This function can't fail.
 */
LOOM_API int
loom_mr_data_next (const loom_mr_data_t *data, uint64_t *pos, struct loom_record *rec);

/* Free. Accepts NULL, preserves errno. */
LOOM_API void loom_mr_data_destroy (loom_mr_data_t *data);

#ifdef __cplusplus
}
#endif
#endif
