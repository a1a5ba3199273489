/* SPDX-License-Identifier: MIT */
/* Reading traces: open rank files or a merged job trace, walk spans and events, merge
 * them into one file, export them for Perfetto, and summarise a job. This is what
 * `loom trace merge|export|summary` call; the file format is in docs/tracing.md.
 */
#ifndef LOOM_TRACE_TOOLS_H
#define LOOM_TRACE_TOOLS_H

#include <stdio.h>

#include <loom/types.h>
#include <loom/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct loom_trace loom_trace_t;

/* Open a trace: a rank file, a merged job trace, or a prefix given to LOOM_TRACE
 * (then every '<path>.rank<R>' and '<path>.proc<pid>' file is read). Processes are
 * ordered by rank, then the non-rank processes by pid.
 * Returns the trace, or NULL with errno: ENOENT (nothing there), EPROTO (not a trace,
 * truncated, corrupt, files of different jobs or two files for one rank), ENOTSUP
 * (another format version), ENOMEM, or the read(2) error; 'error' names the file and
 * what is wrong in one line. Close with loom_trace_close().
 */
LOOM_API loom_trace_t *loom_trace_open (const char *path, loom_error_t *error);

/* Open the 'n' files or prefixes in 'paths' as one job trace (what `loom trace
 * merge` reads). Returns the trace, or NULL with errno as loom_trace_open().
 */
LOOM_API loom_trace_t *
loom_trace_open_many (const char *const *paths, size_t n, loom_error_t *error);

/* Like loom_trace_open() on the bytes 'buf' of length 'len' (one rank file or a job
 * trace), named 'name' in error messages. 'buf' is not kept.
 */
LOOM_API loom_trace_t *
loom_trace_parse (const void *buf, size_t len, const char *name, loom_error_t *error);

/* Free 't'. Accepts NULL, preserves errno. */
LOOM_API void loom_trace_close (loom_trace_t *t);

/* The job trace id of 't'. This function can't fail. */
LOOM_API uint64_t loom_trace_job_id (const loom_trace_t *t);

/* Number of processes (rank files) in 't'. This function can't fail. */
LOOM_API size_t loom_trace_nprocs (const loom_trace_t *t);

enum {
    LOOM_TRACE_PROC_RUNNING = 0,  /* never closed: killed (SIGKILL) or still running */
    LOOM_TRACE_PROC_CLOSED = 1,   /* ended normally */
    LOOM_TRACE_PROC_SIGNALED = 2, /* died of 'signal' */
};

/* One process of a trace. Strings are owned by the trace. Times are nanoseconds from
 * the start of the job (the earliest event of any process).
 */
struct loom_trace_proc_info {
    int rank; /* -1: not a rank (see name) */
    int size; /* ranks in the job as this process knew it, -1 unknown */
    uint32_t pid;
    const char *host;
    const char *name;   /* program name, or the label given to loom_trace_start() */
    const char *source; /* the file it came from */
    int state;          /* LOOM_TRACE_PROC_* */
    int signal;
    uint64_t events;  /* events read */
    uint64_t dropped; /* events lost to the size cap, or overwritten in a ring */
    int ring;         /* written as a flight recorder (only the last events kept) */
    uint64_t spans;
    uint64_t start_ns, end_ns;
};

/* Fill 'info' for process 'proc'. Returns 0, or -1 with errno EINVAL (out of range). */
LOOM_API int
loom_trace_proc (const loom_trace_t *t, size_t proc, struct loom_trace_proc_info *info);

/* A span: a begin matched with its end (args: the end's given values over the
 * begin's). 'unfinished' spans had no end (the process died); they end at the
 * process's last event.
 */
struct loom_trace_span_info {
    const char *category, *name;
    const char *argnames[3]; /* as declared, with any ":i/:f/:s" suffix; NULL unused */
    uint64_t args[3];
    unsigned nargs;
    uint64_t start_ns, end_ns;
    uint32_t id, parent, tid;
    int unfinished;
};

/* Number of spans of process 'proc' (0 if out of range). This function can't fail. */
LOOM_API size_t loom_trace_nspans (const loom_trace_t *t, size_t proc);

/* Fill 'info' with span 'i' of process 'proc' (spans are ordered by start time).
 * Returns 0, or -1 with errno EINVAL (out of range).
 */
LOOM_API int loom_trace_span (const loom_trace_t *t,
                              size_t proc,
                              size_t i,
                              struct loom_trace_span_info *info);

/* A raw event. kind: 1 begin, 2 end, 3 instant, 4 counter, 5 flow out, 6 flow in,
 * 7 signal (args[0] is the signal number; no category or name).
 */
struct loom_trace_event_info {
    int kind;
    const char *category, *name;
    const char *argnames[3];
    uint64_t args[3];
    unsigned given; /* bit i: args[i] was given */
    uint64_t ts_ns;
    uint32_t span, parent, tid;
};

/* Number of events of process 'proc' (0 if out of range). This function can't fail.
 */
LOOM_API size_t loom_trace_nevents (const loom_trace_t *t, size_t proc);

/* Fill 'info' with event 'i' of process 'proc' (events are in time order).
 * Returns 0, or -1 with errno EINVAL (out of range).
 */
LOOM_API int loom_trace_event (const loom_trace_t *t,
                               size_t proc,
                               size_t i,
                               struct loom_trace_event_info *info);

/* Write 't' as one merged job trace file at 'path' (written to a temporary name, then
 * renamed, so 'path' is never half-written). Returns 0, or -1 with errno from the
 * I/O; 'error' names the file.
 */
LOOM_API int
loom_trace_write (const loom_trace_t *t, const char *path, loom_error_t *error);

/* Merge one job's files at its end (what the launcher and loomd do automatically):
 * '<prefix>.rank0' .. '<prefix>.rank<nranks-1>' that exist, plus the 'nextra' files in
 * 'extra' that exist (e.g. the launcher's own '<prefix>.proc<pid>'), into 'out'
 * (NULL: '<prefix>.trace'). Ranks that never traced (or whose node does not share the
 * file system) are skipped; files of ranks that were killed are merged as they are.
 * Returns the number of processes merged, 0 when there was no file (nothing is
 * written), or -1 with errno as loom_trace_open() and loom_trace_write(); 'error' says
 * what is wrong in one line.
 */
LOOM_API int loom_trace_merge_ranks (const char *prefix,
                                     int nranks,
                                     const char *const *extra,
                                     size_t nextra,
                                     const char *out,
                                     loom_error_t *error);

/* What to export to Chrome trace-event JSON (ui.perfetto.dev, chrome://tracing). */
struct loom_trace_export_params {
    uint64_t from_ns, to_ns; /* time window; to_ns 0: to the end */
    uint64_t min_span_ns;    /* drop spans shorter than this (downsampling) */
    uint64_t min_flow_bytes; /* draw flow arrows only for transfers this big */
    int drop_instants;       /* 1: leave out instants and counters */
};
#define LOOM_TRACE_EXPORT_PARAMS_INIT                                                  \
    {                                                                                  \
        0, 0, 0, 0, 0                                                                  \
    }

/* Write 't' as one Chrome trace-event JSON document to 'out': ranks are processes,
 * spans are slices ("X"), instants "i", counters "C", flows "s"/"f" arrows bound to
 * the enclosing slices. Spans overlapping the window are kept whole; other events
 * are kept when inside it. Returns the number of trace events written, or -1 with
 * errno EINVAL (bad params) or EIO (writing 'out' failed).
 */
LOOM_API int64_t loom_trace_export_json (const loom_trace_t *t,
                                         const struct loom_trace_export_params *params,
                                         FILE *out,
                                         loom_error_t *error);

/* Size in bytes loom_trace_export_json() would write with 'params' (it runs the export
 * into a counter). Returns the size, or -1 with errno as loom_trace_export_json().
 */
LOOM_API int64_t loom_trace_export_size (const loom_trace_t *t,
                                         const struct loom_trace_export_params *params,
                                         loom_error_t *error);

/* How to fit an export into files of at most 'max_bytes' (a plan, no output). */
struct loom_trace_export_plan {
    uint64_t min_span_ns; /* downsampling: spans shorter than this are dropped */
    int drop_instants;    /* downsampling: instants and counters left out too */
    size_t nparts;        /* splitting: number of time windows (1: no split) */
    uint64_t *bounds;     /* nparts + 1 window bounds in ns; caller frees */
    int64_t largest;      /* bytes of the largest part */
};

/* Plan an export of 't' with 'params' that keeps every file under 'max_bytes': with
 * 'split' 0, by raising params->min_span_ns (doubling from 1 us) until one file fits,
 * and if even that is not enough, by also leaving out instants and counters;
 * with 'split' 1, by cutting the job into time windows of about equal event counts.
 * Returns 0, or -1 with errno E2BIG (cannot fit: one window alone is too big even
 * without instants), ENOMEM or EIO.
 */
LOOM_API int loom_trace_export_plan (const loom_trace_t *t,
                                     const struct loom_trace_export_params *params,
                                     uint64_t max_bytes,
                                     int split,
                                     struct loom_trace_export_plan *plan,
                                     loom_error_t *error);

/* What `loom trace summary` reports. */
struct loom_trace_summary_params {
    double straggler;        /* a rank is a straggler in a phase when its time exceeds
                                the median over ranks by more than this fraction */
    uint64_t min_phase_ns;   /* ignore phases whose median is shorter than this */
    unsigned top_partitions; /* how many slowest partitions to list */
};
#define LOOM_TRACE_SUMMARY_PARAMS_INIT                                                 \
    {                                                                                  \
        0.25, 1000000, 5                                                               \
    }

/* Summarise 't' as text for people: time per phase with min/median/max over ranks,
 * stragglers and why (more records, more bytes, spill), skew per partition, bytes
 * moved, the slowest partitions, and processes that died. Returns a malloc'ed string
 * (caller frees), or NULL with errno EINVAL or ENOMEM.
 */
LOOM_API char *loom_trace_summary (const loom_trace_t *t,
                                   const struct loom_trace_summary_params *params,
                                   loom_error_t *error);

#ifdef __cplusplus
}
#endif
#endif
