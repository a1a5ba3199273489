/* SPDX-License-Identifier: MIT */
/* Loom datasets: typed, partitioned, self-describing HDF5 data with atomic commit,
 * per-partition checksums and lineage. The only way data crosses a job boundary.
 *
 * A dataset is a directory holding one HDF5 file per partition and a manifest
 * (manifest.json) written last; docs/datasets.md gives the exact layout and why.
 *
 * Writing (N ranks, each writing whole partitions):
 *
 *     loom_ds_schema_t *s = loom_ds_schema_parse ("src:u64,dst:u64,w:f64", &err);
 *     struct loom_ds_create_params p = LOOM_DS_CREATE_PARAMS_INIT;
 *     p.nparts = 8;
 *     p.partitioner = LOOM_DS_PART_HASH;
 *     p.key = "src";
 *     p.seed = 42;
 *     loom_ds_writer_t *w = loom_ds_create (MPI_COMM_WORLD, "graph.h5", s, &p, &err);
 *     for (uint32_t part = rank; part < 8; part += size) {
 *         if (loom_ds_writer_committed (w, part))   // done by an earlier attempt
 *             continue;
 *         struct loom_ds_colbuf cols[3] = {{src}, {dst}, {weight}};
 *         loom_ds_write_partition (w, part, n, cols, &err);
 *     }
 *     loom_ds_commit (w, &err);                     // collective; manifest last
 *     loom_ds_writer_destroy (w);
 *
 * Reading (any number M of ranks):
 *
 *     loom_ds_t *ds = loom_ds_open (MPI_COMM_WORLD, "graph.h5", NULL, &err);
 *     uint32_t first, count;
 *     loom_ds_assign (ds, &first, &count);          // contiguous block of partitions
 *     for (uint32_t part = first; part < first + count; part++) {
 *         loom_ds_part_t *pr = loom_ds_part_read (ds, part, &err);  // verified
 *         const uint64_t *src = loom_ds_part_column (pr, 0, &n);
 *         ...
 *         loom_ds_part_destroy (pr);
 *     }
 *     loom_ds_close (ds);
 *
 * Every function follows the error rule of loom/loom.h. Errors about data name the
 * dataset and the partition ("graph.h5: partition 3: checksum mismatch ...").
 * Handles are not thread-safe; use one per thread.
 *
 * The 'comm' arguments: functions marked "collective" must be called by every rank of
 * the communicator, including ranks with nothing to write. MPI_COMM_NULL means "this
 * process alone" and makes no MPI call (so tools can use datasets without MPI_Init).
 */
#ifndef LOOM_DATASET_H
#define LOOM_DATASET_H

#include <mpi.h>

#include <loom/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the on-disk format written by this library. A dataset with another
 * version is refused (EPROTO) rather than misread.
 */
#define LOOM_DS_FORMAT_VERSION 1

/* ------------------------------------------------------------------------------ */
/* Schema: an ordered list of named, typed columns. */

typedef enum {
    LOOM_DS_INT32 = 1, /* int32_t, HDF5 native little-endian 32-bit signed */
    LOOM_DS_INT64,     /* int64_t */
    LOOM_DS_UINT64,    /* uint64_t */
    LOOM_DS_FLOAT64,   /* double */
    LOOM_DS_FIXSTR,    /* fixed-length byte string of 'width' bytes (NUL-padded) */
    LOOM_DS_BYTES,     /* variable-length byte string */
} loom_ds_type_t;

typedef struct loom_ds_schema loom_ds_schema_t;

/* Create an empty schema. Returns it, or NULL with errno ENOMEM.
 * Free with loom_ds_schema_destroy().
 */
LOOM_API loom_ds_schema_t *loom_ds_schema_create (void);

/* Append a column 'name' of 'type'. 'width' is the byte width of a LOOM_DS_FIXSTR
 * column (1..65535) and must be 0 for other types. Names are 1..63 characters of
 * [A-Za-z0-9_], unique within the schema; at most 64 columns.
 * Returns 0, or -1 with errno EINVAL (bad name, duplicate, bad width or type) or
 * ENOMEM; 'error' says which.
 */
LOOM_API int loom_ds_schema_add (loom_ds_schema_t *s,
                                 const char *name,
                                 loom_ds_type_t type,
                                 size_t width,
                                 loom_error_t *error);

/* Parse a schema written as "name:type,..." where type is one of i32, i64, u64, f64,
 * bytes, or strN (fixed string of N bytes), e.g. "key:str10,payload:str90" or
 * "word:bytes,count:u64". Returns a new schema (caller destroys), or NULL with errno
 * EINVAL (the error names the bad column) or ENOMEM.
 */
LOOM_API loom_ds_schema_t *loom_ds_schema_parse (const char *spec, loom_error_t *error);

/* Format 's' in the syntax of loom_ds_schema_parse(). Returns a string the caller
 * frees with free(3), or NULL with errno ENOMEM.
 */
LOOM_API char *loom_ds_schema_format (const loom_ds_schema_t *s);

/* Number of columns. This function can't fail. */
LOOM_API size_t loom_ds_schema_ncols (const loom_ds_schema_t *s);

/* Column 'i' (0-based): its name (owned by 's'), type, and width (the element size
 * in bytes: 4 or 8 for numbers, the string width for FIXSTR, 0 for BYTES). Returns
 * NULL / 0 if i is out of range.
 */
LOOM_API const char *loom_ds_schema_name (const loom_ds_schema_t *s, size_t i);
LOOM_API loom_ds_type_t loom_ds_schema_type (const loom_ds_schema_t *s, size_t i);
LOOM_API size_t loom_ds_schema_width (const loom_ds_schema_t *s, size_t i);

/* Index of the column called 'name', or -1 with errno ENOENT. */
LOOM_API int loom_ds_schema_find (const loom_ds_schema_t *s, const char *name);

/* Are 'a' and 'b' the same schema (names, types, widths, order)? Returns 1 or 0. */
LOOM_API int loom_ds_schema_equal (const loom_ds_schema_t *a,
                                   const loom_ds_schema_t *b);

/* Deep copy. Returns a new schema, or NULL with errno ENOMEM. */
LOOM_API loom_ds_schema_t *loom_ds_schema_copy (const loom_ds_schema_t *s);

/* Accepts NULL; preserves errno. */
LOOM_API void loom_ds_schema_destroy (loom_ds_schema_t *s);

/* ------------------------------------------------------------------------------ */
/* Column buffers: whole arrays of one column, the unit of reading and writing. */

/* One column's values for 'n' records:
 *   - numbers: 'data' points to n values of the column's C type;
 *   - FIXSTR:  'data' points to n * width bytes, record i at data + i * width;
 *   - BYTES:   'data' points to the concatenated bytes and 'offsets' to n + 1
 *              offsets into it: record i is data[offsets[i] .. offsets[i+1]).
 *              offsets[0] may be non-zero (a slice of a larger buffer).
 * 'offsets' is ignored for other types.
 */
struct loom_ds_colbuf {
    const void *data;
    const uint64_t *offsets;
};

/* ------------------------------------------------------------------------------ */
/* Partitioners: how records were assigned to partitions. Recorded in the dataset so
 * a consumer can find a key's partition without reshuffling.
 */
typedef enum {
    /* No relation between keys and partitions (e.g. an imported CSV). */
    LOOM_DS_PART_NONE = 0,
    /* Partition of a key = loom_hash_partition (key bytes, len, seed, nparts) (see
     * loom/hash.h), the same function libcomm's shuffle uses. The key bytes are the
     * column's in-memory representation: 4 or 8 bytes little-endian for numbers,
     * all 'width' bytes for FIXSTR, the record's bytes for BYTES.
     */
    LOOM_DS_PART_HASH = 1,
    /* Partition i holds keys k with splitter[i-1] <= k < splitter[i] (nparts - 1
     * ascending splitters). Numbers compare numerically, strings with memcmp (a
     * shorter BYTES string that is a prefix sorts first).
     */
    LOOM_DS_PART_RANGE = 2,
} loom_ds_partitioner_t;

/* Persistence of a dataset written inside a job. */
typedef enum {
    LOOM_DS_PERSIST_DISK = 0, /* write partition files; the default */
    /* Keep the partitions in this process's memory only, for the next step of the
     * same job (in-job hand-off): nothing is written, and loom_ds_open() of the same
     * path in the same process reads the memory. A partition lives in the memory of
     * the rank that wrote it; reading it on another rank fails with EXDEV.
     */
    LOOM_DS_PERSIST_MEMORY = 1,
    /* Both: readers in this process use the memory copy, others the files. */
    LOOM_DS_PERSIST_BOTH = 2,
} loom_ds_persist_t;

/* Dependency of an output on its inputs, recorded in the lineage. */
typedef enum {
    /* No recorded dependency: recompute is not possible. */
    LOOM_DS_DEP_NONE = 0,
    /* Partition i of the output depends only on partition i of each input: a lost
     * partition is recomputed alone.
     */
    LOOM_DS_DEP_NARROW = 1,
    /* Partitions depend on all input partitions (a shuffle): recompute reruns the
     * whole producer.
     */
    LOOM_DS_DEP_WIDE = 2,
} loom_ds_dep_t;

/* Lineage: how the dataset was made, recorded as JSON in the manifest (see
 * docs/datasets.md for the JSON and the recompute contract). All strings are copied.
 */
struct loom_ds_lineage {
    const char *producer;  /* app or program, e.g. "loom-wordcount" */
    const char *framework; /* e.g. "mapreduce", "pregel", or NULL */
    /* The command that reproduces the dataset, NULL-terminated; argv[0] is the
     * program (name looked up like `loom <app>`, or a path). `loom ds recompute`
     * runs exactly this, adding "--repair-partitions LIST" for a narrow repair.
     * NULL: no recompute.
     */
    const char *const *argv;
    /* Parameters, including every seed, as a JSON object text; NULL for "{}". */
    const char *params_json;
    /* Input datasets (paths), 'ninputs' of them. Their manifest checksums are
     * recorded at create time, so recompute can tell if an input changed.
     */
    const char *const *inputs;
    size_t ninputs;
    loom_ds_dep_t dep;
};

#define LOOM_DS_LINEAGE_INIT                                                           \
    {                                                                                  \
        NULL, NULL, NULL, NULL, NULL, 0, LOOM_DS_DEP_NONE                              \
    }

/* ------------------------------------------------------------------------------ */
/* Writing */

typedef struct loom_ds_writer loom_ds_writer_t;

enum {
    /* Replace an existing dataset at 'path' (readers keep seeing the previous
     * version until loom_ds_commit() succeeds). Without it, an existing committed
     * dataset is an error (EEXIST).
     */
    LOOM_DS_OVERWRITE = 1 << 0,
    /* Reuse partitions that an earlier, interrupted attempt with the same schema,
     * partitioner and lineage already committed (see loom_ds_writer_committed()).
     */
    LOOM_DS_RESUME = 1 << 1,
    /* Skip every fsync (partitions, directory, manifest): for scratch data and
     * page-cache benchmarks only. Renames still order the commit, but a power cut
     * may then lose or tear data that looked committed.
     */
    LOOM_DS_NOSYNC = 1 << 2,
};

struct loom_ds_create_params {
    uint32_t nparts;                   /* number of partitions, >= 1 */
    loom_ds_partitioner_t partitioner; /* LOOM_DS_PART_NONE by default */
    const char *key;                   /* partitioning column (HASH, RANGE) */
    uint64_t seed;                     /* hash seed (HASH) */
    /* RANGE: nparts - 1 splitters, in the key column's representation (see
     * loom_ds_colbuf; 'splitters.offsets' for BYTES keys). Copied.
     */
    struct loom_ds_colbuf splitters;
    const struct loom_ds_lineage *lineage; /* NULL: none recorded */
    const char *trace_id;                  /* job's trace id, or NULL */
    loom_ds_persist_t persist;
    int flags; /* LOOM_DS_OVERWRITE | LOOM_DS_RESUME | LOOM_DS_NOSYNC */
    /* Narrow repair (the recompute contract): a list like "3,5-7" of the only
     * partitions to rewrite into the existing dataset at 'path'; every other
     * partition counts as committed. Producers pass their --repair-partitions
     * option here verbatim. NULL: a normal write.
     */
    const char *repair_partitions;
};

#define LOOM_DS_CREATE_PARAMS_INIT                                                     \
    {                                                                                  \
        1, LOOM_DS_PART_NONE, NULL, 0, {NULL, NULL}, NULL, NULL, LOOM_DS_PERSIST_DISK, \
            0, NULL                                                                    \
    }

/* Start writing a dataset at 'path' with 'schema' (copied) and 'params'. Collective
 * over 'comm'. Nothing is visible at 'path' until loom_ds_commit().
 * Returns a writer, or NULL with errno: EINVAL (bad params: the error names it),
 * EEXIST (a dataset exists and LOOM_DS_OVERWRITE is not set), ENOENT (a repair of a
 * dataset that does not exist, or a missing input), EPROTO (a repair whose schema or
 * partitioner differs), EIO, ENOMEM. All ranks get the same outcome.
 */
LOOM_API loom_ds_writer_t *loom_ds_create (MPI_Comm comm,
                                           const char *path,
                                           const loom_ds_schema_t *schema,
                                           const struct loom_ds_create_params *params,
                                           loom_error_t *error);

/* Is partition 'part' already committed, by an earlier attempt (LOOM_DS_RESUME) or
 * because a repair does not include it? A producer skips those. Returns 1 or 0.
 * Not collective.
 */
LOOM_API int loom_ds_writer_committed (const loom_ds_writer_t *w, uint32_t part);

/* The writer's schema (owned by 'w'). */
LOOM_API const loom_ds_schema_t *loom_ds_writer_schema (const loom_ds_writer_t *w);

/* The partition that 'key' belongs to under the writer's partitioner. 'key' points
 * to one value of the key column in its loom_ds_colbuf representation; 'len' is its
 * byte length for BYTES and ignored otherwise. Returns the partition, or -1 with
 * errno EINVAL if the partitioner is LOOM_DS_PART_NONE.
 */
LOOM_API int64_t loom_ds_writer_partition_of (const loom_ds_writer_t *w,
                                              const void *key,
                                              size_t len);

/* Writing one partition, possibly in several batches. Not collective: any rank
 * may write any partition, but each partition exactly once.
 */
typedef struct loom_ds_part_writer loom_ds_part_writer_t;

/* Begin partition 'part'. Returns a handle, or NULL with errno EINVAL (part out of
 * range), EEXIST (already written by this writer, or committed and not part of a
 * repair), EIO, ENOMEM.
 */
LOOM_API loom_ds_part_writer_t *
loom_ds_part_begin (loom_ds_writer_t *w, uint32_t part, loom_error_t *error);

/* Append 'n' records given as one buffer per column, in schema order ('cols' has
 * loom_ds_schema_ncols() entries). Data is copied/written before return.
 * Returns 0, or -1 with errno EINVAL (bad offsets) or EIO/ENOMEM.
 */
LOOM_API int loom_ds_part_append (loom_ds_part_writer_t *pw,
                                  size_t n,
                                  const struct loom_ds_colbuf *cols,
                                  loom_error_t *error);

/* Make the partition durable: flush, fsync, rename into place, fsync the directory.
 * It becomes visible to readers only with loom_ds_commit(). Frees 'pw' whatever the
 * outcome. Returns 0, or -1 with errno EIO/ENOSPC/ENOMEM.
 */
LOOM_API int loom_ds_part_end (loom_ds_part_writer_t *pw, loom_error_t *error);

/* Abandon a partition begun but not ended: its temporary file is removed. Accepts
 * NULL; preserves errno.
 */
LOOM_API void loom_ds_part_abort (loom_ds_part_writer_t *pw);

/* Shorthand for begin, one append, end. */
LOOM_API int loom_ds_write_partition (loom_ds_writer_t *w,
                                      uint32_t part,
                                      size_t n,
                                      const struct loom_ds_colbuf *cols,
                                      loom_error_t *error);

/* Commit the dataset: collective. Gathers every rank's partitions, checks that each
 * of the nparts partitions was written exactly once (or is reused), then writes and
 * renames the manifest last and fsyncs the directory; only then is the dataset
 * visible (replacing any previous version, whose files are then removed).
 * Returns 0, or -1 with errno ENOENT (a partition was not written: the error names
 * it), EEXIST (written twice), EIO. All ranks get the same outcome. A failed commit
 * leaves the previous version (or nothing) visible; partitions already ended can be
 * reused by a LOOM_DS_RESUME attempt.
 */
LOOM_API int loom_ds_commit (loom_ds_writer_t *w, loom_error_t *error);

/* Destroy a writer. Uncommitted partition files stay for a later LOOM_DS_RESUME
 * attempt (`loom ds gc` removes them). Accepts NULL; preserves errno.
 */
LOOM_API void loom_ds_writer_destroy (loom_ds_writer_t *w);

/* ------------------------------------------------------------------------------ */
/* Reading */

typedef struct loom_ds loom_ds_t;

enum {
    /* Don't check partition checksums while reading (verify is on by default;
     * xxh64 costs little next to I/O).
     */
    LOOM_DS_NO_VERIFY = 1 << 0,
};

struct loom_ds_open_params {
    /* If non-NULL, the dataset must have exactly this schema, or open fails with
     * EPROTO naming the first differing column.
     */
    const loom_ds_schema_t *expect_schema;
    int flags; /* LOOM_DS_NO_VERIFY */
};

#define LOOM_DS_OPEN_PARAMS_INIT                                                       \
    {                                                                                  \
        NULL, 0                                                                        \
    }

/* Open the committed dataset at 'path'. Not collective ('comm' only decides
 * loom_ds_assign()); reads only the manifest, so it is cheap for any number of
 * partitions. 'params' may be NULL for defaults.
 * Returns a handle, or NULL with errno ENOENT (no dataset), EPROTO (corrupt or
 * foreign manifest, wrong format version, schema mismatch), EIO, ENOMEM.
 */
LOOM_API loom_ds_t *loom_ds_open (MPI_Comm comm,
                                  const char *path,
                                  const struct loom_ds_open_params *params,
                                  loom_error_t *error);

/* Close 'ds'. Partitions read from it stay valid until destroyed. Accepts NULL;
 * preserves errno.
 */
LOOM_API void loom_ds_close (loom_ds_t *ds);

/* The schema (owned by 'ds'), the number of partitions, and the partitioner (key
 * column index, or -1 for NONE; seed for HASH). These functions can't fail.
 */
LOOM_API const loom_ds_schema_t *loom_ds_schema (const loom_ds_t *ds);
LOOM_API uint32_t loom_ds_nparts (const loom_ds_t *ds);
LOOM_API loom_ds_partitioner_t loom_ds_partitioner (const loom_ds_t *ds);
LOOM_API int loom_ds_key_column (const loom_ds_t *ds);
LOOM_API uint64_t loom_ds_seed (const loom_ds_t *ds);

/* Record count, checksum (xxh64, see docs/datasets.md), and file size in bytes of
 * partition 'part' as recorded in the manifest. Return 0 for a 'part' out of range.
 */
LOOM_API uint64_t loom_ds_part_records (const loom_ds_t *ds, uint32_t part);
LOOM_API uint64_t loom_ds_part_checksum (const loom_ds_t *ds, uint32_t part);
LOOM_API uint64_t loom_ds_part_size (const loom_ds_t *ds, uint32_t part);

/* Total records over all partitions. This function can't fail. */
LOOM_API uint64_t loom_ds_records (const loom_ds_t *ds);

/* A checksum of the whole dataset (xxh64 over the partition checksums): what a
 * consumer records as its input's checksum in lineage. This function can't fail.
 */
LOOM_API uint64_t loom_ds_checksum (const loom_ds_t *ds);

/* The lineage JSON text, the trace id, and the creation time (RFC 3339, UTC) as
 * recorded; owned by 'ds'. Lineage is "null" and trace id NULL when none.
 */
LOOM_API const char *loom_ds_lineage_json (const loom_ds_t *ds);
LOOM_API const char *loom_ds_trace_id (const loom_ds_t *ds);
LOOM_API const char *loom_ds_created (const loom_ds_t *ds);

/* The partition the key belongs to under the dataset's partitioner (see
 * loom_ds_writer_partition_of()). Returns it, or -1 with errno EINVAL for NONE.
 */
LOOM_API int64_t loom_ds_partition_of (const loom_ds_t *ds,
                                       const void *key,
                                       size_t len);

/* This rank's share of the partitions: the contiguous block [*first, *first +
 * *count) when spread evenly over the ranks of the open's 'comm' (the first
 * nparts % size ranks get one more). With nparts == size, rank r reads partition r.
 *
 * Because loom_hash_partition() maps by multiply-shift, when size divides nparts the
 * block of rank r holds exactly the keys k with loom_hash_partition (k, seed, size)
 * == r: a hash-partitioned dataset is then already partitioned for the job and
 * needs no reshuffle (see loom_ds_aligned()). This function can't fail.
 */
LOOM_API void loom_ds_assign (const loom_ds_t *ds, uint32_t *first, uint32_t *count);

/* Is the dataset aligned with a job of 'nranks' ranks that places key k on rank
 * loom_hash_partition (k, len, seed, nranks), i.e. hash-partitioned with 'seed' and
 * nparts a multiple of nranks, so loom_ds_assign() hands each rank exactly its keys?
 * Returns 1 or 0.
 */
LOOM_API int loom_ds_aligned (const loom_ds_t *ds, uint32_t nranks, uint64_t seed);

/* A partition loaded in memory. */
typedef struct loom_ds_part loom_ds_part_t;

/* Read partition 'part' whole and check it against the manifest (record count,
 * checksum unless LOOM_DS_NO_VERIFY). Not collective.
 * Where it pays (a big partition written by loom_ds_write_partition() whose page
 * cache is in huge pages, docs/datasets.md), the columns are the file itself,
 * mapped read-only and checked in place: no copy. Loom never changes a committed
 * partition file in place (new versions are new files), so the arrays stay valid
 * until loom_ds_part_destroy() even if the dataset is overwritten or removed; a file
 * truncated by some other program meanwhile would make reading them fault (SIGBUS).
 * Returns the partition (destroy with loom_ds_part_destroy()), or NULL with errno
 * EINVAL (part out of range), ENOENT (partition file missing), EPROTO (truncated,
 * corrupt, or checksum mismatch: the error names file and partition), EXDEV (held in
 * another rank's memory), EIO, ENOMEM.
 */
LOOM_API loom_ds_part_t *
loom_ds_part_read (loom_ds_t *ds, uint32_t part, loom_error_t *error);

/* A caller's buffer for one column, for loom_ds_part_read_into(). */
struct loom_ds_readbuf {
    /* Numbers and FIXSTR: room for loom_ds_part_records() values ('cap' >= records
     * * width). BYTES: room for the concatenated bytes. May be NULL if 'cap' is 0.
     */
    void *data;
    size_t cap; /* bytes at 'data' */
    /* BYTES only: room for loom_ds_part_records() + 1 offsets; ignored otherwise. */
    uint64_t *offsets;
};

/* Read partition 'part' into the caller's buffers ('bufs' has one entry per column,
 * in schema order), checked exactly like loom_ds_part_read(). For a consumer with
 * arrays of its own this saves a copy, and memory it reuses costs no page faults. The
 * record count is loom_ds_part_records(); a BYTES column holds offsets[records] bytes
 * (offsets[0] == 0). Not collective.
 * Returns 0, or -1 with the errno of loom_ds_part_read(), or ENOSPC if a buffer is
 * too small (the error names the column and the bytes it needs). After a failure
 * the buffers hold unspecified bytes.
 */
LOOM_API int loom_ds_part_read_into (loom_ds_t *ds,
                                     uint32_t part,
                                     const struct loom_ds_readbuf *bufs,
                                     loom_error_t *error);

/* Number of records in 'pr'. This function can't fail. */
LOOM_API size_t loom_ds_part_nrecords (const loom_ds_part_t *pr);

/* The array of column 'col' (schema order): n values of its type (n * width bytes for
 * FIXSTR; the concatenated bytes for BYTES, with loom_ds_part_offsets()). Owned by
 * 'pr'. Returns NULL with errno EINVAL for a bad 'col'.
 */
LOOM_API const void *loom_ds_part_column (const loom_ds_part_t *pr, size_t col);

/* The n + 1 offsets of BYTES column 'col' (offsets[0] == 0). Owned by 'pr'. Returns
 * NULL with errno EINVAL if 'col' is not a BYTES column.
 */
LOOM_API const uint64_t *loom_ds_part_offsets (const loom_ds_part_t *pr, size_t col);

/* Destroy 'pr'. Its buffers go back to its dataset handle, which reuses them for
 * the next partition read (reading partitions one at a time then costs no fresh
 * memory); a mapping of its file is unmapped. Accepts NULL; preserves errno.
 */
LOOM_API void loom_ds_part_destroy (loom_ds_part_t *pr);

/* Drop the in-memory copy of the dataset at 'path' held by this process
 * (LOOM_DS_PERSIST_MEMORY or BOTH); handles already open keep working until closed.
 * Returns 0, or -1 with errno ENOENT if there is none.
 */
LOOM_API int loom_ds_release (const char *path);

/* ------------------------------------------------------------------------------ */
/* Maintenance (used by `loom ds ...`; not collective; MPI is not needed). */

/* Recompute the checksum of every partition (or only 'part' if it is not -1) and
 * compare with the manifest. Returns the number of bad partitions (0: all good), or
 * -1 with errno (ENOENT, EPROTO: the manifest itself is bad, ENOMEM). 'bad' (if
 * non-NULL) receives a malloc'ed array of the bad partition numbers and 'nbad' its
 * length; 'error' describes the first bad partition.
 */
LOOM_API int loom_ds_verify (
    const char *path, int64_t part, uint32_t **bad, size_t *nbad, loom_error_t *error);

/* Remove orphaned temporary and uncommitted partition files and manifests of
 * earlier versions under dataset 'path' (or, if 'path' is not a dataset, the
 * dataset directories directly inside it). Files that may belong to a writer still
 * running are kept unless older than 'min_age_s' seconds. Returns the number of
 * files removed, or -1 with errno. If 'removed' is non-NULL it receives a malloc'ed,
 * NULL-terminated list of removed paths (free each and the list).
 */
LOOM_API int
loom_ds_gc (const char *path, double min_age_s, char ***removed, loom_error_t *error);

#ifdef __cplusplus
}
#endif
#endif
