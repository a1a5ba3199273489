/* SPDX-License-Identifier: MIT */
/* Internals of loom::datasets shared between its files. Not installed. */
#ifndef LOOM_DATASETS_INTERNAL_H
#define LOOM_DATASETS_INTERNAL_H

#include <stdbool.h>

#include <loom/dataset.h>
#include <loom/error.h>

struct ds_map; /* rawio.c */

#define DS_MAX_COLS   64
#define DS_MAX_NAME   63
#define DS_MANIFEST   "manifest.json"
#define DS_MAX_NPARTS (1u << 24)

struct ds_column {
    char name[DS_MAX_NAME + 1];
    loom_ds_type_t type;
    size_t width; /* element size; 0 for BYTES */
};

struct loom_ds_schema {
    size_t ncols;
    struct ds_column cols[DS_MAX_COLS];
};

/* One partition as recorded in the manifest. */
struct ds_partinfo {
    uint64_t records;
    uint64_t checksum;
    uint64_t bytes; /* file size; 0 for a memory-only dataset */
    int32_t owner;  /* memory datasets: rank holding it; -1 otherwise */
    bool present;   /* used while committing */
};

/* The parsed manifest: everything a reader knows before touching partition files. */
struct ds_manifest {
    uint32_t generation;
    loom_ds_schema_t schema;
    uint32_t nparts;
    loom_ds_partitioner_t partitioner;
    int key;       /* column index, -1 for NONE */
    uint64_t seed; /* HASH */
    /* RANGE: nparts - 1 splitters, each a malloc'ed byte string */
    uint8_t **split;
    size_t *split_len;
    char *created;
    char *trace_id; /* may be NULL */
    char *lineage;  /* JSON text, "null" when none */
    loom_ds_persist_t persist;
    struct ds_partinfo *parts;
};

/* manifest.c */
void loom__manifest_free (struct ds_manifest *m);
/* Parse manifest text; every field is validated (the fuzz target's entry point).
 * Returns 0 or -1 with errno EPROTO/ENOMEM and 'error' saying what is wrong.
 */
int loom__manifest_parse (const char *text,
                          size_t len,
                          struct ds_manifest *m,
                          loom_error_t *error);
/* Serialize; returns malloc'ed text or NULL (ENOMEM). */
char *loom__manifest_format (const struct ds_manifest *m);
/* Read and parse '<dir>/manifest.json'. Errors name 'dir'. */
int loom__manifest_load (const char *dir, struct ds_manifest *m, loom_error_t *error);
/* Partitioner as JSON text (for attributes and the config hash); malloc'ed. */
char *loom__partitioner_json (const struct ds_manifest *m);
/* The dataset checksum: xxh64 over the partition checksums. */
uint64_t loom__manifest_checksum (const struct ds_manifest *m);

/* schema.c */
const char *loom__type_name (loom_ds_type_t t);
size_t loom__type_size (loom_ds_type_t t, size_t width);

/* partitioner.c */
int64_t loom__partition_of (const struct ds_manifest *m, const void *key, size_t len);
/* Compare two keys of column type 't' (width 'w'); BYTES use la/lb. */
int loom__key_cmp (
    loom_ds_type_t t, const void *a, size_t la, const void *b, size_t lb);
/* Parse "3,5-7" into a bool array of nparts. Returns 0 or -1 (EINVAL). */
int loom__parse_partlist (const char *s,
                          uint32_t nparts,
                          bool *sel,
                          loom_error_t *error);

/* fsutil.c */
/* Write 'len' bytes to 'path' atomically: temp file in the same directory, fsync,
 * rename, fsync of the directory.
 */
int loom__write_atomic (
    const char *path, const void *buf, size_t len, bool sync, loom_error_t *error);
int loom__fsync_path (const char *path);
int loom__fsync_dir (const char *dir);
char *loom__read_file (const char *path, size_t *len, size_t max);
char *loom__path_join (const char *dir, const char *name);
char *loom__part_name (uint32_t part, uint32_t generation);
char *loom__now_rfc3339 (void);
void loom__hex64 (uint64_t v, char out[17]);
int loom__unhex64 (const char *s, uint64_t *v);

/* partfile.c: one HDF5 file holding one partition. */
struct ds_partfile_meta {
    uint32_t partition;
    uint32_t nparts;
    uint32_t generation;
    uint64_t config; /* hash of schema + partitioner + lineage: resume key */
    const char *schema_text;
    const char *partitioner_json;
    const char *lineage;
    const char *trace_id;
    const char *created;
    bool sync; /* fsync the file (not with LOOM_DS_NOSYNC) */
};

typedef struct ds_pfw ds_pfw_t;
/* 'whole': the partition will be written by one append of all its records (its
 * big columns are then laid out for rawio.c's huge-page reads).
 */
ds_pfw_t *loom__pfw_create (const char *tmp_path,
                            const loom_ds_schema_t *s,
                            bool whole,
                            loom_error_t *error);
/* Append 'n' records. 'whole': this is the partition's only append (its sizes are
 * final), so its column datasets can be contiguous.
 */
int loom__pfw_append (ds_pfw_t *f,
                      size_t n,
                      const struct loom_ds_colbuf *cols,
                      bool whole,
                      loom_error_t *error);
/* Write attributes, close, fsync. Frees 'f'. Fills records/checksum. */
int loom__pfw_finish (ds_pfw_t *f,
                      const struct ds_partfile_meta *meta,
                      uint64_t *records,
                      uint64_t *checksum,
                      loom_error_t *error);
void loom__pfw_abort (ds_pfw_t *f);

/* Column arrays of a partition in memory, plus its checksum. */
struct ds_coldata {
    void *data;
    uint64_t *offsets; /* BYTES only, n + 1 entries */
    size_t nbytes;     /* bytes in data */
    size_t cap[2];     /* allocated bytes of data and offsets, when known */
};

/* Where partition reads get their buffers. A reader reuses the buffers of the
 * partitions it destroyed, which saves faulting in fresh memory (a quarter of the read
 * time for big partitions); loom_ds_part_read_into() hands out the caller's own.
 * alloc() returns a buffer of at least 'size' bytes for column 'col' (its offsets
 * when 'offsets'), its real size in *cap, or NULL with errno (ENOMEM, or ENOSPC when
 * a caller's buffer is too small). release() takes back a buffer of a failed read.
 */
struct ds_alloc {
    void *(*alloc) (void *ctx, size_t col, bool offsets, size_t size, size_t *cap);
    void (*release) (void *ctx, void *p, size_t cap);
    void *ctx;
};

/* Read a partition file completely. 'label' prefixes errors ("ds: partition 3").
 * Checks the file's partition number and generation against 'expect'. If 'checksum'
 * is not NULL, the partition checksum (see loom__checksum_cols) is computed while
 * reading, piece by piece as the data lands in the CPU cache, and stored there.
 * If 'map' is not NULL, columns may be left in a mapping of the file (zero copy,
 * rawio.c) instead of buffers from 'alloc': free with loom__pf_release().
 */
int loom__pf_read (const char *path,
                   const char *label,
                   const loom_ds_schema_t *s,
                   uint32_t part,
                   uint32_t generation,
                   const struct ds_alloc *alloc,
                   struct ds_map *map,
                   size_t *n,
                   struct ds_coldata *cols,
                   uint64_t *checksum,
                   loom_error_t *error);
/* Give back the buffers of columns read by loom__pf_read (to 'alloc', or free(3) if
 * NULL) and unmap 'map' (may be NULL). Preserves errno.
 */
void loom__pf_release (const loom_ds_schema_t *s,
                       const struct ds_alloc *alloc,
                       struct ds_map *map,
                       struct ds_coldata *cols);
/* Read only the attributes of a partition file (for resume). */
int loom__pf_read_meta (const char *path,
                        uint32_t *partition,
                        uint32_t *generation,
                        uint64_t *config,
                        uint64_t *records,
                        uint64_t *checksum);

/* xxh64_streams.c: xxh64 (the same value as libxxhash's XXH64) of several streams
 * hashed in one loop, optionally copying the bytes as they are hashed.
 */
struct ds_xxh64 {
    uint64_t v[4];
    uint64_t total;
    uint8_t mem[32]; /* a partial stripe */
    uint32_t memsize;
};
void loom__xxh64_reset (struct ds_xxh64 *h, uint64_t seed);
/* Feed len[i] bytes at src[i] to stream h[i], for i < k (k <= 2 * DS_MAX_COLS). If
 * 'dst' is not NULL, also copy them to dst[i] (which must not overlap src[i]).
 */
void loom__xxh64_update (struct ds_xxh64 *const *h,
                         size_t k,
                         const void *const *src,
                         void *const *dst,
                         const size_t *len);
void loom__xxh64_update1 (struct ds_xxh64 *h, const void *src, void *dst, size_t len);
uint64_t loom__xxh64_digest (const struct ds_xxh64 *h);

/* Checksum of column arrays in the stored form (see docs/datasets.md). */
uint64_t loom__checksum_cols (const loom_ds_schema_t *s,
                              size_t n,
                              const struct ds_coldata *cols);
/* Incremental form used by writers: one xxh64 state per stored HDF5 dataset. */
struct ds_sum;
struct ds_sum *loom__sum_create (const loom_ds_schema_t *s);
void loom__sum_update (struct ds_sum *sum,
                       size_t stored_idx,
                       const void *p,
                       size_t len);
/* Several stored datasets at once (and copied to dst[i] if 'dst' is not NULL): see
 * loom__xxh64_update.
 */
void loom__sum_update_n (struct ds_sum *sum,
                         size_t k,
                         const size_t *stored_idx,
                         const void *const *p,
                         void *const *dst,
                         const size_t *len);
uint64_t loom__sum_digest (struct ds_sum *sum);
void loom__sum_destroy (struct ds_sum *sum);
/* Number of stored HDF5 datasets of a schema (BYTES columns count twice). */
size_t loom__nstored (const loom_ds_schema_t *s);

void loom__coldata_free (const loom_ds_schema_t *s, struct ds_coldata *cols);

/* rawio.c: the bytes of contiguous column datasets, moved with pwrite/pread or a
 * mapping at their offsets in the file, bypassing HDF5's data path.
 */
#define LOOM__RAW_PIECE   (2u << 20) /* bytes per pwrite/pread call and hash step */
#define LOOM__RAW_ALIGN   (2u << 20) /* file alignment of big columns (huge folios) */
#define LOOM__RAW_BIG     (4u << 20) /* columns this big get that alignment */
#define LOOM__RAW_MAP_MIN (4u << 20) /* map partitions with at least this much data */

/* One stored dataset's bytes at offset 'at' of the file; stream 'idx' of a ds_sum. */
struct ds_span {
    uint64_t at, len;
    size_t idx;
    const void *src; /* writing: the bytes */
    void *dst;       /* reading: where they go (in the mapping: zero copy) */
};
struct ds_map {
    void *base; /* the file mapped from offset 0, or NULL */
    size_t len;
    bool lazy; /* cold file: pages are populated as they are hashed */
};
/* Write the spans, hashing each piece into 'sum' first. Returns 0 or -1 (errno). */
int loom__raw_write (int fd, const struct ds_span *sp, size_t n, struct ds_sum *sum);
/* Read the spans into their 'dst', hashing into 'sum' if not NULL. Returns 0 or -1
 * with errno (EPROTO: the file ends early).
 */
int loom__raw_read (int fd, const struct ds_span *sp, size_t n, struct ds_sum *sum);
/* Map the file (size 'fsize') if the spans' pages come out as huge page-table
 * entries (see rawio.c). Returns 1 (mapped: 'map' is filled), 0 (not worth it,
 * nothing mapped: use loom__raw_read), or -1 with errno EPROTO (the file ends early).
 */
int loom__raw_map (
    int fd, uint64_t fsize, const struct ds_span *sp, size_t n, struct ds_map *map);
/* Hash the spans in the mapping into 'sum' (if not NULL), copying each to its 'dst'
 * unless 'dst' is its place in the mapping. Returns 0, or -1 with errno EPROTO (a
 * lazy mapping found the file shorter than its metadata says).
 */
int loom__raw_hash_mapped (const struct ds_map *map,
                           const struct ds_span *sp,
                           size_t n,
                           struct ds_sum *sum);
/* Is 'p' inside the mapping? */
bool loom__raw_owns (const struct ds_map *map, const void *p);
/* Accepts NULL or an empty map; preserves errno. */
void loom__raw_unmap (struct ds_map *map);

/* memstore.c: in-process copies of PERSIST_MEMORY/BOTH datasets. */
struct ds_mem; /* refcounted */
/* Register the committed manifest and the partitions this rank holds (ownership of
 * 'cols' arrays passes to the store). Replaces any previous entry for 'path'.
 */
int loom__mem_put (const char *path,
                   const struct ds_manifest *m,
                   struct ds_coldata **local_parts);
struct ds_mem *loom__mem_get (const char *path);
const struct ds_manifest *loom__mem_manifest (const struct ds_mem *mem);
const struct ds_coldata *loom__mem_part (const struct ds_mem *mem, uint32_t part);
void loom__mem_ref (struct ds_mem *mem);
void loom__mem_unref (struct ds_mem *mem);
/* Canonical key of a dataset path (absolute, no trailing slash); malloc'ed. */
char *loom__mem_key (const char *path);

/* lineage.c: compact lineage JSON ('null' for NULL), inputs' checksums included. */
char *loom__lineage_build (const struct loom_ds_lineage *l, loom_error_t *error);

/* Fault injection for the crash tests: if $LOOM_DS_CRASH_AT equals 'point', the
 * process kills itself with SIGKILL here, as a power cut or OOM kill would. Points
 * are listed in docs/datasets.md. Costs one getenv() per partition or commit.
 */
void loom__crash_point (const char *point);

/* HDF5 must never print: call before any HDF5 call in a public entry point. */
void loom__h5_quiet (void);

#endif
