/* SPDX-License-Identifier: MIT */
/* Tracing: spans, instants, counters and flows between ranks, one job trace id.
 *
 * Every layer annotates its own phases. When tracing is off an annotation costs one
 * predictable branch on a global flag; when on, about 50 ns and 48 bytes per event,
 * written straight into a memory-mapped per-process file (<path>.rank<R>), so the
 * trace survives a crash and even SIGKILL (the data is in the page cache). See
 * docs/tracing.md for how to annotate a layer and for the file format.
 *
 * Switching it on:
 *   - LOOM_TRACE=<path> in the environment: the first event of a process starts
 *     tracing to <path>.rank<R> (R from LOOM_RANK, OMPI_COMM_WORLD_RANK, PMIX_RANK,
 *     PMI_RANK, or SLURM_PROCID inside a job step), or <path>.proc<pid> when the
 *     process is not a rank. LOOM_TRACE_ID=<16 hex digits> gives the job trace id;
 *     without it the id is derived from the launcher's job identity (PMIX_NAMESPACE,
 *     SLURM_JOB_ID.SLURM_STEP_ID), so all ranks of a job agree without talking.
 *   - loom_trace_start() with a path, for programs with a --trace option.
 *
 * Annotating (the type is registered once, on first use, then costs nothing):
 *
 *     LOOM_TRACE_TYPE (t_round, "comm", "shuffle.round", "bytes", "records", "peer");
 *     loom_trace_span_t s = loom_trace_begin (&t_round, 0, 0, peer);
 *     ...
 *     loom_trace_end (s, bytes, records);   // args given at end override the begin's
 *
 * Argument values are 64-bit. An argument name may end in ":i" (signed), ":f" (a
 * double passed through loom_trace_f64()), or ":s" (a string id from
 * loom_trace_str()); otherwise it is unsigned. Use the conventional names so
 * `loom trace summary` can explain stragglers: bytes, records, peer, partition,
 * superstep, spill (bytes spilled), round, messages, vertices.
 *
 * Thread-safety: events may be emitted from any thread. loom_trace_start/stop must
 * not race with events from other threads.
 */
#ifndef LOOM_TRACE_H
#define LOOM_TRACE_H

#include <string.h>

#include <loom/types.h>
#include <loom/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An event type: category, name and up to three argument names. Declare it static
 * (LOOM_TRACE_TYPE does) and pass its address; 'id' is filled on first use.
 * Limits: category, name and argument names are cut at 55 bytes.
 */
struct loom_trace_type {
    const char *category;
    const char *name;
    const char *args[3];
    uint32_t id; /* 0 until registered; owned by the library */
};

/* Define a static event type 'var' with a category, a name and 0-3 argument names. */
#define LOOM_TRACE_TYPE(var, category, name, ...)                                      \
    static struct loom_trace_type var = {(category), (name), {__VA_ARGS__}, 0}

/* A span handle. 0 means "no span" (tracing was off at begin); ending it is a no-op. */
typedef uint64_t loom_trace_span_t;

/* Internal: 0 off, 1 on, 2 not yet decided (the first event reads LOOM_TRACE). */
extern LOOM_API int loom__trace_state;

/* Is tracing on (or possibly about to start from LOOM_TRACE)? One load, one branch. */
#define loom_trace_active() __builtin_expect (loom__trace_state != 0, 0)

/* Begin a span of type 't' with up to three argument values; returns its handle.
 *     loom_trace_span_t s = loom_trace_begin (&t, a0, a1, a2);
 * Spans nest per thread: the innermost open span of the thread is the parent.
 */
#define loom_trace_begin(...) LOOM__TRACE_BEGIN (__VA_ARGS__, 0, 0, 0, 0)
/* End span 's'. Argument values given here (0-3, in order) replace the begin's. */
#define loom_trace_end(...)                                                            \
    LOOM__TRACE_END (LOOM__TRACE_NARG (__VA_ARGS__), __VA_ARGS__, 0, 0, 0, 0)
/* An instant event of type 't' with up to three argument values. */
#define loom_trace_instant(...)                                                        \
    LOOM__TRACE_EVENT (LOOM__TRACE_K_INSTANT, LOOM__TRACE_NARG (__VA_ARGS__),          \
                       __VA_ARGS__, 0, 0, 0, 0)
/* A counter sample: value of type 't' (its first argument name) at this time. */
#define loom_trace_counter(t, value)                                                   \
    LOOM__TRACE_EVENT (LOOM__TRACE_K_COUNTER, 1, (t), (value), 0, 0, 0)
/* The sending side of a transfer to rank 'peer' (an arrow in Perfetto). Both sides
 * pass the same 'flow' id, e.g. loom_trace_flow_id (src, dst, seq).
 */
#define loom_trace_flow_out(t, flow, peer, bytes)                                      \
    LOOM__TRACE_EVENT (LOOM__TRACE_K_FLOW_OUT, 3, (t), (flow), (peer), (bytes), 0)
/* The receiving side of transfer 'flow' from rank 'peer'. */
#define loom_trace_flow_in(t, flow, peer, bytes)                                       \
    LOOM__TRACE_EVENT (LOOM__TRACE_K_FLOW_IN, 3, (t), (flow), (peer), (bytes), 0)

/* A flow id both ranks of a transfer can compute without talking: sender rank,
 * receiver rank (each < 2^20) and a sequence number both know (e.g. the collective
 * call count, < 2^24). This function can't fail.
 */
static inline uint64_t loom_trace_flow_id (uint32_t src, uint32_t dst, uint32_t seq)
{
    return ((uint64_t)(seq & 0xffffffu) << 40) | ((uint64_t)(src & 0xfffffu) << 20)
           | (uint64_t)(dst & 0xfffffu);
}

/* A double as an argument value (for argument names ending in ":f"). Can't fail. */
static inline uint64_t loom_trace_f64 (double v)
{
    uint64_t u;
    memcpy (&u, &v, sizeof (u));
    return u;
}

/* Intern string 's' (cut at 55 bytes) and return its id, for argument names ending
 * in ":s" (e.g. the algorithm a collective chose). Returns 0 when tracing is off or
 * the string table is full. Takes a lock: cache the id when calling it often.
 */
LOOM_API uint64_t loom_trace_str (const char *s);

/* Options of loom_trace_start(). */
struct loom_trace_params {
    const char *path;    /* file prefix; NULL: $LOOM_TRACE. Required one way or other */
    int rank;            /* this process's rank; -1: from the environment (see top) */
    int size;            /* number of ranks of the job; -1: from the environment */
    uint64_t trace_id;   /* job trace id; 0: $LOOM_TRACE_ID or derived (see top) */
    const char *name;    /* process label ("launcher"); NULL: the program's name */
    uint64_t max_bytes;  /* file size cap; 0: $LOOM_TRACE_MAX or 1 GiB. Beyond it
                            events are counted as dropped */
    unsigned flags;      /* LOOM_TRACE_* flags below */
    uint64_t ring_bytes; /* flight recorder: keep only the last ~ring_bytes of events
                            (3 MiB x a power of 2, at least 3 MiB), overwriting the
                            oldest; 0: $LOOM_TRACE_RING, or keep every event */
};
#define LOOM_TRACE_PARAMS_INIT                                                         \
    {                                                                                  \
        NULL, -1, -1, 0, NULL, 0, 0, 0                                                 \
    }

enum {
    /* Do not install the crash handlers (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
     * SIGTERM, SIGINT) that record the signal and mark the trace as crashed. */
    LOOM_TRACE_NO_SIGNALS = 1,
};

/* Start tracing this process to '<path>.rank<R>' (or '<path>.proc<pid>' when the rank
 * is unknown, or when another live process holds the rank file). Replaces an
 * existing file of that name. Registers an atexit handler that closes the trace.
 * Returns 0, or -1 with errno: EINVAL (no path, bad flags or LOOM_TRACE_ID), EBUSY
 * (already started), or the error of creating the file; 'error' names the file.
 */
LOOM_API int loom_trace_start (const struct loom_trace_params *params,
                               loom_error_t *error);

/* Close the trace: mark it complete, cut the file to its used size and unmap it.
 * Events after this are not recorded. Returns 0 (also when tracing was off), or -1
 * with errno from ftruncate(2)/close(2). Must not race with events of other threads.
 */
LOOM_API int loom_trace_stop (void);

/* Is this process writing a trace now? (Unlike loom_trace_active(), this decides a
 * pending LOOM_TRACE start first.) This function can't fail.
 */
LOOM_API int loom_trace_enabled (void);

/* Set this process's rank once it is known (e.g. after MPI_Init in a singleton run):
 * renames '<path>.proc<pid>' to '<path>.rank<R>'. Returns 0, or -1 with errno EINVAL
 * (rank < 0), or the rename(2) error. Without an open trace it only records the rank.
 */
LOOM_API int loom_trace_set_rank (int rank, int size);

/* The job trace id: the one being written, else $LOOM_TRACE_ID or the id derived from
 * the launcher's environment, else 0. Datasets record it so data leads to its trace.
 * This function can't fail.
 */
LOOM_API uint64_t loom_trace_id (void);

/* Format 'id' as 16 lower-case hex digits into 'buf' (at least 17 bytes).
 * Returns buf. This function can't fail.
 */
LOOM_API char *loom_trace_id_format (uint64_t id, char *buf);

/* Parse 16 hex digits (the LOOM_TRACE_ID form) into *id. Returns 0, or -1 with errno
 * EINVAL for anything else (including the all-zero id).
 */
LOOM_API int loom_trace_id_parse (const char *s, uint64_t *id);

/* The path of the trace file being written, or NULL when tracing is off. Owned by the
 * library, valid until loom_trace_stop().
 */
LOOM_API const char *loom_trace_file (void);

/* ---- internals used by the macros above; do not call directly ---- */
enum {
    LOOM__TRACE_K_BEGIN = 1,
    LOOM__TRACE_K_END = 2,
    LOOM__TRACE_K_INSTANT = 3,
    LOOM__TRACE_K_COUNTER = 4,
    LOOM__TRACE_K_FLOW_OUT = 5,
    LOOM__TRACE_K_FLOW_IN = 6,
    LOOM__TRACE_K_SIGNAL = 7,
};
LOOM_API loom_trace_span_t loom__trace_begin (
    struct loom_trace_type *t, unsigned nargs, uint64_t a0, uint64_t a1, uint64_t a2);
LOOM_API void loom__trace_end (
    loom_trace_span_t s, unsigned nargs, uint64_t a0, uint64_t a1, uint64_t a2);
LOOM_API void loom__trace_event (int kind,
                                 struct loom_trace_type *t,
                                 unsigned nargs,
                                 uint64_t a0,
                                 uint64_t a1,
                                 uint64_t a2);

#define LOOM__TRACE_NARG(...)                 LOOM__TRACE_NARG_ (__VA_ARGS__, 3, 2, 1, 0, 0)
#define LOOM__TRACE_NARG_(x, a, b, c, n, ...) n
#define LOOM__TRACE_BEGIN(t, a, b, c, ...)                                             \
    (loom_trace_active ()                                                              \
         ? loom__trace_begin ((t), 3, (uint64_t)(a), (uint64_t)(b), (uint64_t)(c))     \
         : (loom_trace_span_t)0)
#define LOOM__TRACE_END(n, s, a, b, c, ...)                                            \
    ((s) ? loom__trace_end ((s), (n), (uint64_t)(a), (uint64_t)(b), (uint64_t)(c))     \
         : (void)0)
#define LOOM__TRACE_EVENT(k, n, t, a, b, c, ...)                                       \
    (loom_trace_active () ? loom__trace_event ((k), (t), (n), (uint64_t)(a),           \
                                               (uint64_t)(b), (uint64_t)(c))           \
                          : (void)0)

#ifdef __cplusplus
}
#endif
#endif
