/* SPDX-License-Identifier: MIT */
/* MapReduce internals shared by the files of frameworks/mapreduce. */
#ifndef LOOM_MR_INTERNAL_H
#define LOOM_MR_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <loom/comm.h>
#include <loom/dataset.h>
#include <loom/error.h>
#include <loom/hash.h>
#include <loom/mapreduce.h>

/* ---- growable byte buffer ------------------------------------------------------ */

struct mr_buf {
    char *data;
    size_t len, cap;
};

/* Make room for 'n' more bytes. Returns 0 or -1 (ENOMEM). */
int mr__buf_reserve (struct mr_buf *b, size_t n);
int mr__buf_append (struct mr_buf *b, const void *p, size_t n);
void mr__buf_free (struct mr_buf *b);

/* Records stored back to back as [u32 key_len][u32 value_len][key][value]. */
#define MR_REC_HDR 8
static inline size_t mr__rec_size (size_t klen, size_t vlen)
{
    return MR_REC_HDR + klen + vlen;
}
int mr__buf_append_rec (
    struct mr_buf *b, const void *key, size_t klen, const void *value, size_t vlen);
/* Decode the record at 'p' into 'rec'; returns its encoded size. */
size_t mr__rec_decode (const char *p, struct loom_record *rec);

/* Compare keys bytewise (memcmp, a prefix first). */
int mr__key_cmp (const void *a, size_t alen, const void *b, size_t blen);

/* ---- text input ------------------------------------------------------------------ */

struct mr_file {
    char *path;
    uint64_t size;
    uint64_t start; /* offset of the file in the concatenated input */
};

struct mr_files {
    struct mr_file *v;
    size_t n;
    uint64_t total;
};

/* Collective: rank 0 expands 'paths' (directories recursively, names sorted) into
 * regular files and checks each can be opened; the list goes to every rank.
 */
int mr__text_list (loom_comm_t *comm,
                   const char *const *paths,
                   size_t npaths,
                   struct mr_files *files,
                   loom_error_t *error);
void mr__files_free (struct mr_files *files);

/* Callback per line: 'line' (len bytes, no newline) with LOOM_MR_TEXT_PAD readable
 * bytes after it; 'done' is the bytes of this rank's range consumed so far.
 */
typedef int (*mr_line_f) (const char *line, size_t len, uint64_t done, void *arg);

/* Read this rank's byte range [lo, hi) of the concatenated input, calling 'fn' for
 * every line that starts in it. With 'stride' > 0, only the first line starting at
 * or after every stride-th byte (sampling). Returns 0, or -1 (fn's failure, or an
 * I/O error described in 'error').
 */
int mr__text_read (const struct mr_files *files,
                   uint64_t lo,
                   uint64_t hi,
                   uint64_t stride,
                   mr_line_f fn,
                   void *arg,
                   loom_error_t *error);

/* Dataset input: call fn for every row of this rank's partitions of 'path'. */
int mr__ds_read (loom_comm_t *comm,
                 const char *path,
                 int (*fn) (const struct loom_record *rec, uint64_t part, void *arg),
                 void *arg,
                 uint64_t *bytes,
                 loom_error_t *error);
/* The same with column 'key_col' as the key (the others, in order, the value). */
int mr__ds_read_keyed (loom_comm_t *comm,
                       const char *path,
                       size_t key_col,
                       int (*fn) (const struct loom_record *rec,
                                  uint64_t part,
                                  void *arg),
                       void *arg,
                       uint64_t *bytes,
                       loom_error_t *error);

/* ---- combining table ---------------------------------------------------------------
 */

struct mr_ctable;
/* The table's entries never take more than 'max_bytes'; when it is full
 * (mr__ctable_full()) the caller drains it.
 */
struct mr_ctable *mr__ctable_create (size_t value_width,
                                     loom_combine_kind_t kind,
                                     loom_combine_f fn,
                                     void *arg,
                                     size_t max_bytes);
bool mr__ctable_full (const struct mr_ctable *t);
void mr__ctable_destroy (struct mr_ctable *t);
/* Add (key, value): combined into the entry of an equal key (returns 0), or a new
 * entry (returns 1). Returns -1 with errno ENOMEM.
 */
int mr__ctable_add (struct mr_ctable *t,
                    const void *key,
                    size_t klen,
                    const void *value);
/* Insert the deferred keys. Returns 1 if any made a new entry, 0, or -1. */
int mr__ctable_flush (struct mr_ctable *t);
/* Bytes the table holds (entries, keys, values). */
size_t mr__ctable_bytes (const struct mr_ctable *t);
size_t mr__ctable_count (const struct mr_ctable *t);
/* Call fn for every entry (any order), then empty the table. Stops at fn's -1. */
int mr__ctable_drain (
    struct mr_ctable *t,
    int (*fn) (const void *key, size_t klen, const void *value, void *arg),
    void *arg);
/* Combine 'value' into 'acc' with the table's combiner. */
void mr__combine (loom_combine_kind_t kind,
                  loom_combine_f fn,
                  void *arg,
                  void *acc,
                  const void *value,
                  size_t width);

/* ---- grouping: per-partition sort with spill ------------------------------------ */

struct mr_group;
struct mr_group *mr__group_create (uint32_t nparts,
                                   uint64_t mem_bytes,
                                   const char *tmpdir,
                                   bool sort_values,
                                   loom_error_t *error);
void mr__group_destroy (struct mr_group *g);
/* Add a record to local partition 'part' (0-based among this rank's partitions). */
int mr__group_add (struct mr_group *g,
                   uint32_t part,
                   const void *key,
                   size_t klen,
                   const void *value,
                   size_t vlen,
                   loom_error_t *error);
uint64_t mr__group_spilled (const struct mr_group *g);
uint64_t mr__group_bytes (const struct mr_group *g, uint32_t part);
/* Records added to partition 'part' (held and spilled). */
uint64_t mr__group_records (const struct mr_group *g, uint32_t part);

/* Iterate over partition 'part' in order: call 'fn' per distinct key with a value
 * iterator. Returns 0 or -1.
 */
typedef int (*mr_group_f) (const void *key,
                           size_t klen,
                           loom_mr_values_t *values,
                           void *arg);
int mr__group_each (
    struct mr_group *g, uint32_t part, mr_group_f fn, void *arg, loom_error_t *error);

/* ---- output sinks ------------------------------------------------------------------
 */

struct mr_sink;
struct mr_sink_params {
    loom_mr_output_kind_t kind;
    const char *path;
    bool force;
    bool keep; /* also keep records in memory (loom_mr_data_t) */
    uint32_t nparts;
    uint32_t first_part, nlocal; /* this rank's partitions */
    loom_mr_format_f format;
    void *format_arg;
    bool text_raw;
    const char *schema;
    const struct loom_ds_lineage *lineage;
    const char *repair;
    bool resume;
    loom_ds_partitioner_t partitioner;
    uint64_t seed;
    const loom_splitters_t *splitters; /* RANGE */
    const char *tmpdir;
    uint64_t mem_bytes;
};

/* Collective: check the output can be written (not existing unless force) and
 * prepare it.
 */
struct mr_sink *mr__sink_create (loom_comm_t *comm,
                                 const struct mr_sink_params *p,
                                 loom_error_t *error);
/* Has partition 'part' (global) been committed by an earlier run (resume)? */
bool mr__sink_committed (const struct mr_sink *s, uint32_t part);
/* Start partition 'part' (global); records are then added to it. */
int mr__sink_begin (struct mr_sink *s, uint32_t part, loom_error_t *error);
int mr__sink_add (struct mr_sink *s,
                  const void *key,
                  size_t klen,
                  const void *value,
                  size_t vlen,
                  loom_error_t *error);
int mr__sink_end (struct mr_sink *s, loom_error_t *error);
/* Collective, text output only: this rank will add exactly 'bytes' of text.
 * Every rank then writes its text straight to its place in the output file as it
 * goes, through a small buffer, instead of holding it until the end.
 */
int mr__sink_text_direct (struct mr_sink *s, uint64_t bytes, loom_error_t *error);
/* Collective: 'failed' is this rank's state. Commits (or removes) the output.
 * Returns 0 or -1 (on every rank). Hands over the kept data in *data.
 */
int mr__sink_finish (struct mr_sink *s,
                     int failed,
                     loom_mr_data_t **data,
                     loom_error_t *error);
void mr__sink_destroy (struct mr_sink *s);
uint64_t mr__sink_records (const struct mr_sink *s);
uint32_t mr__sink_parts_written (const struct mr_sink *s);
uint32_t mr__sink_parts_reused (const struct mr_sink *s);

/* ---- in-memory data ----------------------------------------------------------------
 */

struct loom_mr_data {
    struct mr_buf buf; /* records, partitions in order */
    uint64_t records;
    uint64_t total_records;
    uint32_t nparts;
    uint32_t first_part, nlocal;
};

/* ---- collective error agreement ----------------------------------------------------
 */

/* 'err' is this rank's verdict: 0 for success or the errno of its failure, with
 * 'error' its reason. Returns 1 on every rank when any rank failed (then 'error'
 * holds the lowest failing rank's reason and errno its errno), 0 otherwise, or -1
 * when the agreement itself failed.
 */
int mr__agree (loom_comm_t *comm, int err, loom_error_t *error);

/* Broadcast a small control message (file lists, error text) from 'root'. Bulk data
 * never goes through here: it moves through libcomm's shuffle.
 */
int mr__bcast (
    loom_comm_t *comm, void *buf, uint64_t len, int root, loom_error_t *error);

/* Fill the job-wide totals of 'stats' (input and output records summed over the
 * ranks); collective. Left unchanged when the reduction fails: totals are a report.
 */
void mr__stats_totals (loom_comm_t *comm, struct loom_mr_stats *stats);

/* The contiguous block of partitions rank 'r' owns out of 'nparts'. */
static inline uint32_t mr__part_first (uint32_t nparts, int nranks, int r)
{
    return (uint32_t)((uint64_t)nparts * (uint64_t)r / (uint64_t)nranks);
}
static inline int mr__part_owner (uint32_t part, uint32_t nparts, int nranks)
{
    /* Inverse of mr__part_first: the r with first(r) <= part < first(r+1). */
    int r = (int)(((uint64_t)part * (uint64_t)nranks + nranks - 1) / nparts);
    while (r > 0 && mr__part_first (nparts, nranks, r) > part)
        r--;
    while (r + 1 < nranks && mr__part_first (nparts, nranks, r + 1) <= part)
        r++;
    return r;
}

/* ---- the job and the emit context ------------------------------------------------ */

/* A job (job.c creates it; join_step.c reads it too). */
struct loom_mr {
    loom_comm_t *comm;
    struct loom_mr_params p;
    char *tmpdir;
    uint32_t steps; /* loom_mr_run() calls so far: the next step's index */
};

/* EMIT_REPLAY: a replayed task's output only goes into the digest (and the replay's
 * text output); nothing is shuffled or written.
 */
enum ctx_mode { EMIT_COMBINE, EMIT_SHUFFLE, EMIT_SINK, EMIT_SAMPLE, EMIT_REPLAY };

/* The digest of what a task emitted, compared between a capture and its replay:
 * xxh64 over [u32 key_len][u32 value_len][key][value] of every record, in order.
 */
struct mr_digest {
    loom_hash_state_t *h; /* NULL: not digesting */
    uint64_t records;
};
int mr__digest_start (struct mr_digest *d);
void mr__digest_add (
    struct mr_digest *d, const void *key, size_t klen, const void *value, size_t vlen);
void mr__digest_end (struct mr_digest *d, uint64_t *records, uint64_t *xxh64);

struct loom_mr_ctx {
    loom_mr_t *mr;
    const struct loom_mr_step *step;
    enum ctx_mode mode;
    struct mr_ctable *ct;
    uint64_t ct_limit;
    loom_shuffle_t *sh;
    struct mr_sink *sink;
    struct mr_buf samples; /* EMIT_SAMPLE: u32 len + key, back to back */
    size_t nsamples;
    loom_error_t err;
    int errnum;
    uint64_t emitted, shuffled, shuffled_bytes;
    /* progress */
    uint64_t records, bytes, range;
    double start, last_report;
    const char *phase;
    /* capture and replay (capture.c, replay.c) */
    uint32_t step_index;
    struct mr_digest digest;
    FILE *replay_out; /* EMIT_REPLAY: the records as text, or NULL */
};

/* Call map on one input record (text line, dataset row or record). */
int mr__map_one (loom_mr_ctx_t *ctx, const struct loom_record *rec);
/* mr_line_f and dataset row callbacks that call mr__map_one (arg: the ctx). */
int mr__on_line (const char *line, size_t len, uint64_t done, void *arg);
int mr__on_row (const struct loom_record *rec, uint64_t part, void *arg);

/* Reduce one group (mr_group_f; arg: a struct mr_reduce_arg). */
struct mr_reduce_arg {
    loom_mr_ctx_t *ctx;
    uint64_t groups;
    char *acc;
};
int mr__on_group (const void *key, size_t klen, loom_mr_values_t *values, void *arg);

/* ---- capture (capture.c) and replay (replay.c) ------------------------------------
 */

/* This rank's input slice, as the map task of a step reads it. */
struct mr_map_input {
    const struct mr_files *files; /* TEXT */
    uint64_t lo, hi;              /* TEXT: byte range of the concatenated files */
    uint32_t first, count;        /* DATASET: partitions */
};

/* Before this rank's map task runs: arm the crash capture (unless capture is off)
 * and, when the user selected the task, write its manifest now. Never fails the
 * step: a capture that cannot be prepared is logged and skipped.
 */
void mr__cap_map_begin (loom_mr_ctx_t *ctx, const struct mr_map_input *in);
/* Before reduce of local partition 'i' (global 'part') of 'g'. */
void mr__cap_reduce_begin (
    loom_mr_ctx_t *ctx, struct mr_group *g, uint32_t i, uint32_t part, uint32_t nparts);
/* After the task: disarm, and for a selected task record its output digest. */
void mr__cap_end (loom_mr_ctx_t *ctx, int failed);

/* Async-signal-safe: write partition 'part' of 'g' as records
 * ([u32 klen][u32 vlen][key][value]...) in the order a stable sort by key turns
 * into the order reduce sees (spill runs first, then memory). Returns 0 or -1.
 */
int mr__group_dump (const struct mr_group *g, uint32_t part, int fd);

/* Async-signal-safe xxh64 of the bytes map reads for the text range [lo, hi):
 * from the byte before lo (line starts are decided by it) to the end of the last
 * line starting before hi. Returns 0, or -1 when a file cannot be read.
 */
int mr__text_range_digest (const struct mr_files *files,
                           uint64_t lo,
                           uint64_t hi,
                           uint64_t *digest);

/* Replay mode ($LOOM_REPLAY): run step 'st' if it is the captured task's step, then
 * end the process (MPI_Finalize and exit: replay owns it). Steps before it return
 * 1 at once with empty data in *out; steps after it are never reached.
 */
int mr__replay_step (loom_mr_t *mr,
                     const struct loom_mr_step *st,
                     uint32_t step_index,
                     loom_mr_data_t **out,
                     loom_error_t *error);

/* Print one emitted record of a replay as text: key, a tab, the value, a newline;
 * bytes outside printable ASCII as \xNN.
 */
void mr__replay_print (
    FILE *f, const void *key, size_t klen, const void *value, size_t vlen);

/* Dataset input of partitions [first, first + count) (count UINT32_MAX: this rank's
 * own, as loom_ds_assign() gives them).
 */
int mr__ds_read_parts (loom_comm_t *comm,
                       const char *path,
                       uint32_t first,
                       uint32_t count,
                       int (*fn) (const struct loom_record *rec,
                                  uint64_t part,
                                  void *arg),
                       void *arg,
                       uint64_t *bytes,
                       loom_error_t *error);

#endif
