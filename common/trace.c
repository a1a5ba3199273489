/* SPDX-License-Identifier: MIT */
/* The trace writer: events go straight into a memory-mapped file.
 *
 * Why mmap: a rank killed with SIGKILL gets no chance to flush a buffer, but every
 * store it made into a shared file mapping is already in the page cache and reaches
 * the file. So the buffer *is* the file, and a crash loses at most the event being
 * written. Events are fixed 48-byte slots reserved with one atomic add; the file grows
 * in chunks (posix_fallocate, so a full disk fails here and not with SIGBUS later).
 * A slot's 'kind' byte is stored last with release order, so readers see only
 * complete events.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* program_invocation_short_name */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/hash.h>
#include <loom/log.h>
#include <loom/trace.h>

#include "trace_format.h"

#define CHUNK_SHIFT      16  /* 65536 events = 3 MiB per chunk */
#define BLOCK            256 /* slots a thread reserves at once; divides a chunk */
#define DEFAULT_MAX      (1ull << 30)
#define SPAN_STACK_DEPTH 64
#define INTERN_SLOTS     (2 * LOOM_TRACE_STRINGS_MAX) /* open addressing, <= 50% full */

LOOM_API int loom__trace_state = 2;

static struct writer {
    pthread_mutex_t lock;
    int fd;
    char *path;
    int rank, size;
    int set_rank, set_size; /* from loom_trace_set_rank(), kept across traces */
    uint64_t trace_id;
    struct loom_trace_header *hdr; /* maps header, strings and types */
    size_t meta_len;
    struct loom_trace_string *strings;
    struct loom_trace_typedef *types;
    char **chunks; /* max_chunks mapped chunk pointers (NULL: not yet) */
    size_t max_chunks;
    int ring; /* flight recorder: slots wrap around max_chunks (a power of 2) chunks */
    _Atomic uint64_t next; /* next event slot */
    _Atomic uint64_t dropped;
    uint32_t nstrings, ntypes;
    uint32_t generation; /* bumped by each start: type ids of older traces are stale */
    uint32_t intern[INTERN_SLOTS]; /* string ids by hash; 0 empty */
    int atexit_done, signals_done;
} w = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .fd = -1,
    .rank = -1,
    .size = -1,
    .set_rank = -1,
    .set_size = -1,
};

/* ---- the event clock ----
 *
 * Event times are CLOCK_MONOTONIC nanoseconds, but clock_gettime() can cost 100 ns or
 * more (a virtual machine whose vDSO falls back to a system call: this project's CI
 * class of machine), which alone would break the budget of 100 ns per event. On x86
 * with an invariant TSC, events read the TSC and convert it with a linear map anchored
 * on CLOCK_MONOTONIC; the map is re-anchored after a window that grows from 10 ms to
 * 1 s, with its slope measured from the start of the trace (so it becomes exact), and
 * never steps backwards. Anchors alternate between two slots, published atomically.
 */
struct anchor {
    uint64_t tsc, ns;
    uint64_t mult;   /* ns per tick, 32.32 fixed point */
    uint64_t window; /* ticks after 'tsc' before re-anchoring */
};
static struct {
    int use_tsc;
    uint64_t tsc0, ns0; /* start of the trace */
    struct anchor slot[2];
    _Atomic int cur;
    pthread_mutex_t lock;
} clk = {.lock = PTHREAD_MUTEX_INITIALIZER};

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
static int tsc_usable (void)
{
    /* CPUID 0x80000007 EDX bit 8: the TSC runs at a constant rate in all states. */
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000000u));
    if (a < 0x80000007u)
        return 0;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000007u));
    const char *env = getenv ("LOOM_TRACE_CLOCK");
    return (d >> 8 & 1) && !(env && strcmp (env, "monotonic") == 0);
}
static inline uint64_t ticks (void)
{
    return __rdtsc ();
}
#else
static int tsc_usable (void)
{
    return 0;
}
static inline uint64_t ticks (void)
{
    return 0;
}
#endif

static inline uint64_t anchor_ns (const struct anchor *a, uint64_t t)
{
    return a->ns + (uint64_t)(((unsigned __int128)(t - a->tsc) * a->mult) >> 32);
}

/* Start the clock: anchor it, and measure a first slope over ~200 us. */
static void clock_start (void)
{
    clk.use_tsc = tsc_usable ();
    if (!clk.use_tsc)
        return;
    clk.ns0 = loom_clock_ns ();
    clk.tsc0 = ticks ();
    uint64_t ns, t;
    do {
        ns = loom_clock_ns ();
        t = ticks ();
    } while (ns - clk.ns0 < 200000 && t > clk.tsc0);
    if (t <= clk.tsc0 || ns <= clk.ns0) {
        clk.use_tsc = 0;
        return;
    }
    struct anchor *a = &clk.slot[0];
    a->tsc = t;
    a->ns = ns;
    a->mult = (uint64_t)(((unsigned __int128)(ns - clk.ns0) << 32) / (t - clk.tsc0));
    a->window = (t - clk.tsc0) * 50; /* ~10 ms */
    atomic_store_explicit (&clk.cur, 0, memory_order_release);
}

static uint64_t clock_reanchor (uint64_t t)
{
    if (pthread_mutex_trylock (&clk.lock) != 0)
        return loom_clock_ns (); /* another thread is at it: read the clock once */
    int cur = atomic_load_explicit (&clk.cur, memory_order_acquire);
    const struct anchor *old = &clk.slot[cur];
    uint64_t ns = loom_clock_ns ();
    t = ticks ();
    if (t - old->tsc < old->window) { /* someone re-anchored meanwhile */
        pthread_mutex_unlock (&clk.lock);
        return anchor_ns (old, t);
    }
    struct anchor *a = &clk.slot[!cur];
    uint64_t predicted = t > old->tsc ? anchor_ns (old, t) : old->ns;
    a->tsc = t;
    a->ns = ns > predicted ? ns : predicted; /* never backwards */
    a->mult =
        t > clk.tsc0 && ns > clk.ns0
            ? (uint64_t)(((unsigned __int128)(ns - clk.ns0) << 32) / (t - clk.tsc0))
            : old->mult;
    /* Let the map drift back onto the clock if it ran ahead. */
    if (a->ns > ns && a->mult > 1)
        a->mult -= a->mult >> 12;
    uint64_t second = (uint64_t)(((unsigned __int128)1000000000u << 32) / a->mult);
    a->window = old->window * 2 < second ? old->window * 2 : second;
    atomic_store_explicit (&clk.cur, !cur, memory_order_release);
    pthread_mutex_unlock (&clk.lock);
    return a->ns;
}

/* Now, in CLOCK_MONOTONIC nanoseconds. */
static inline uint64_t now_ns (void)
{
    if (!clk.use_tsc)
        return loom_clock_ns ();
    const struct anchor *a =
        &clk.slot[atomic_load_explicit (&clk.cur, memory_order_acquire)];
    uint64_t t = ticks ();
    if (t - a->tsc < a->window) /* unsigned: a TSC behind the anchor also re-anchors */
        return anchor_ns (a, t);
    return clock_reanchor (t);
}

/* Initial-exec TLS: a direct %fs access instead of a __tls_get_addr call per event
 * (the library is linked, not dlopen'ed late, and needs only ~270 bytes of it).
 */
#define TLS _Thread_local __attribute__ ((tls_model ("initial-exec")))
static TLS uint32_t tls_tid;
static TLS uint32_t tls_stack[SPAN_STACK_DEPTH];
static TLS unsigned tls_depth;
static TLS uint64_t tls_next, tls_end; /* this thread's block of slots */
static TLS uint32_t tls_gen;           /* ... in the trace of this generation */

static const int crash_signals[] = {SIGSEGV, SIGBUS,  SIGFPE, SIGILL,
                                    SIGABRT, SIGTERM, SIGINT};
#define NSIGNALS (sizeof (crash_signals) / sizeof (crash_signals[0]))
static struct sigaction old_actions[NSIGNALS];

/* ---- environment ---- */

static int env_int (const char *name, int *out)
{
    const char *s = getenv (name);
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol (s, &end, 10);
    if (errno || *end || v < 0 || v > INT32_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

/* Inside a Slurm job step SLURM_PROCID is the rank; in the batch script it is not. */
static int in_slurm_step (void)
{
    const char *s = getenv ("SLURM_STEP_ID");
    return s && *s && strcmp (s, "4294967294") != 0 && strcmp (s, "batch") != 0;
}

static int env_rank (void)
{
    int r;
    if (env_int ("LOOM_RANK", &r) == 0 || env_int ("OMPI_COMM_WORLD_RANK", &r) == 0
        || env_int ("PMIX_RANK", &r) == 0 || env_int ("PMI_RANK", &r) == 0
        || (in_slurm_step () && env_int ("SLURM_PROCID", &r) == 0))
        return r;
    return -1;
}

static int env_size (void)
{
    int n;
    if (env_int ("LOOM_SIZE", &n) == 0 || env_int ("OMPI_COMM_WORLD_SIZE", &n) == 0
        || env_int ("PMI_SIZE", &n) == 0
        || (in_slurm_step () && env_int ("SLURM_NTASKS", &n) == 0))
        return n;
    return -1;
}

char *loom_trace_id_format (uint64_t id, char *buf)
{
    snprintf (buf, 17, "%016" PRIx64, id);
    return buf;
}

int loom_trace_id_parse (const char *s, uint64_t *id)
{
    uint64_t v = 0;
    if (!s || strlen (s) != 16)
        goto inval;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            goto inval;
        v = v << 4 | (uint64_t)d;
    }
    if (v == 0)
        goto inval;
    if (id)
        *id = v;
    return 0;
inval:
    errno = EINVAL;
    return -1;
}

/* The job's trace id as every rank can compute it alone; 0 if nothing identifies
 * the job.
 */
static uint64_t env_trace_id (void)
{
    uint64_t id;
    const char *s = getenv ("LOOM_TRACE_ID");
    if (s && loom_trace_id_parse (s, &id) == 0)
        return id;
    char buf[256];
    const char *ns = getenv ("PMIX_NAMESPACE");
    const char *job = getenv ("SLURM_JOB_ID");
    if (ns && *ns)
        snprintf (buf, sizeof (buf), "pmix:%s", ns);
    else if (job && *job && in_slurm_step ())
        snprintf (buf, sizeof (buf), "slurm:%s.%s", job, getenv ("SLURM_STEP_ID"));
    else
        return 0;
    id = loom_hash64 (buf, strlen (buf), 0x4c4f4f4d54524345ull);
    return id ? id : 1;
}

uint64_t loom_trace_id (void)
{
    if (w.trace_id)
        return w.trace_id;
    return env_trace_id ();
}

/* ---- strings and types ---- */

static uint32_t intern_locked (const char *s)
{
    if (!s)
        return 0;
    size_t len = strnlen (s, LOOM_TRACE_STRING_MAX);
    uint64_t h = loom_hash64 (s, len, 0);
    for (uint32_t probe = 0; probe < INTERN_SLOTS; probe++) {
        uint32_t slot = (uint32_t)((h + probe) % INTERN_SLOTS);
        uint32_t id = w.intern[slot];
        if (id == 0) {
            if (w.nstrings >= LOOM_TRACE_STRINGS_MAX)
                return 0;
            id = ++w.nstrings;
            struct loom_trace_string *e = &w.strings[id - 1];
            e->len = (uint32_t)len;
            memcpy (e->text, s, len);
            e->text[len] = '\0';
            atomic_store_explicit ((_Atomic uint32_t *)&e->valid,
                                   LOOM_TRACE_VALID_STRING, memory_order_release);
            w.intern[slot] = id;
            return id;
        }
        struct loom_trace_string *e = &w.strings[id - 1];
        if (e->len == len && memcmp (e->text, s, len) == 0)
            return id;
    }
    return 0;
}

uint64_t loom_trace_str (const char *s)
{
    if (!loom_trace_enabled ())
        return 0;
    pthread_mutex_lock (&w.lock);
    uint32_t id = w.hdr ? intern_locked (s) : 0;
    pthread_mutex_unlock (&w.lock);
    return id;
}

/* Returns the type's index in this trace's table, registering it on first use; 0 if
 * the table is full. t->id holds the generation (high 16 bits) and the index, so a
 * type registered in an earlier trace of this process registers again.
 */
static uint32_t type_id (struct loom_trace_type *t)
{
    uint32_t id =
        atomic_load_explicit ((_Atomic uint32_t *)&t->id, memory_order_acquire);
    if (id >> 16 == w.generation)
        return id & 0xffff;
    pthread_mutex_lock (&w.lock);
    id = t->id >> 16 == w.generation ? t->id & 0xffff : 0;
    if (!id && w.hdr && w.ntypes < LOOM_TRACE_TYPES_MAX) {
        struct loom_trace_typedef *d = &w.types[w.ntypes];
        d->category = intern_locked (t->category ? t->category : "");
        d->name = intern_locked (t->name ? t->name : "");
        d->nargs = 0;
        for (int i = 0; i < 3; i++) {
            d->args[i] = t->args[i] ? intern_locked (t->args[i]) : 0;
            if (t->args[i])
                d->nargs = (uint32_t)i + 1;
        }
        atomic_store_explicit ((_Atomic uint32_t *)&d->valid, LOOM_TRACE_VALID_TYPE,
                               memory_order_release);
        id = ++w.ntypes;
        atomic_store_explicit ((_Atomic uint32_t *)&t->id, w.generation << 16 | id,
                               memory_order_release);
    }
    pthread_mutex_unlock (&w.lock);
    return id;
}

/* ---- event slots ---- */

static size_t chunk_bytes (void)
{
    return ((size_t)1 << CHUNK_SHIFT) * LOOM_TRACE_EVENT_SIZE;
}

/* Map chunk k, growing the file. Called with w.lock held. Returns NULL when k is past
 * the size cap or the file cannot grow (then events are dropped, never SIGBUS).
 */
static char *map_chunk_locked (size_t k)
{
    if (k >= w.max_chunks || !w.hdr)
        return NULL;
    if (w.chunks[k])
        return w.chunks[k];
    off_t off = (off_t)(w.hdr->events_off + k * chunk_bytes ());
    int rc = posix_fallocate (w.fd, off, (off_t)chunk_bytes ());
    if (rc == EOPNOTSUPP || rc == EINVAL)
        rc = ftruncate (w.fd, off + (off_t)chunk_bytes ()) < 0 ? errno : 0;
    if (rc != 0) {
        if (!w.ring)
            w.max_chunks = k; /* stop trying (a ring keeps its size: it drops) */
        return NULL;
    }
    void *p = mmap (NULL, chunk_bytes (), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_POPULATE, w.fd, off);
    if (p == MAP_FAILED) {
        if (!w.ring)
            w.max_chunks = k;
        return NULL;
    }
    atomic_store_explicit ((_Atomic (char *) *)&w.chunks[k], (char *)p,
                           memory_order_release);
    return p;
}

/* Reserve one event slot; NULL (counted as dropped) when full. 'may_lock' is 0 in
 * the signal handler, which must not take the lock.
 */
static struct loom_trace_event *reserve (int may_lock, uint64_t *slot)
{
    /* Each thread takes slots in blocks of BLOCK: one shared atomic per block, not
     * per event (with several threads the counter's cache line would bounce at every
     * event). Blocks tile chunks exactly. A block's unused tail stays zero (kind 0),
     * which readers skip. In a ring, a block the ring has lapped is not reused. The
     * signal handler ('may_lock' 0) takes a block of its own and leaves the thread's
     * alone, since it may have interrupted this very function.
     */
    uint64_t i = tls_next;
    if (may_lock && i < tls_end && tls_gen == w.generation
        && (!w.ring
            || atomic_load_explicit (&w.next, memory_order_relaxed) - i
                   < ((uint64_t)w.max_chunks << CHUNK_SHIFT) / 2)) {
        tls_next = i + 1;
    } else {
        i = atomic_fetch_add_explicit (&w.next, BLOCK, memory_order_relaxed);
        if (may_lock) {
            tls_next = i + 1;
            tls_end = i + BLOCK;
            tls_gen = w.generation;
        }
    }
    *slot = i;
    size_t k = (size_t)(i >> CHUNK_SHIFT);
    if (w.ring)
        k &= w.max_chunks - 1;
    char *base = NULL;
    if (k < w.max_chunks)
        base = atomic_load_explicit ((_Atomic (char *) *)&w.chunks[k],
                                     memory_order_acquire);
    if (!base && may_lock) {
        pthread_mutex_lock (&w.lock);
        base = map_chunk_locked (k);
        if (base && k + 1 < w.max_chunks && !w.chunks[k + 1])
            map_chunk_locked (k + 1); /* the next writer will not wait */
        pthread_mutex_unlock (&w.lock);
    }
    if (!base) {
        atomic_fetch_add_explicit (&w.dropped, 1, memory_order_relaxed);
        return NULL;
    }
    size_t idx = (size_t)(i & (((uint64_t)1 << CHUNK_SHIFT) - 1));
    struct loom_trace_event *e =
        (struct loom_trace_event *)(base + idx * LOOM_TRACE_EVENT_SIZE);
    if (w.ring) {
        /* Overwriting an old event: invalidate it before changing its fields, so a
         * reader of a killed process never sees half of each. */
        atomic_store_explicit ((_Atomic uint8_t *)&e->kind, 0, memory_order_relaxed);
        atomic_thread_fence (memory_order_release);
    }
    return e;
}

static uint32_t thread_id (void)
{
    if (!tls_tid)
        tls_tid = (uint32_t)syscall (SYS_gettid);
    return tls_tid;
}

static void commit (struct loom_trace_event *e, int kind)
{
    atomic_store_explicit ((_Atomic uint8_t *)&e->kind, (uint8_t)kind,
                           memory_order_release);
}

static int ready (void)
{
    int s = loom__trace_state;
    if (s == 2)
        s = loom_trace_enabled ();
    return s == 1;
}

loom_trace_span_t loom__trace_begin (
    struct loom_trace_type *t, unsigned nargs, uint64_t a0, uint64_t a1, uint64_t a2)
{
    if (!ready ())
        return 0;
    uint32_t type = type_id (t);
    if (!type)
        return 0;
    /* The span id is the begin's slot number + 1: unique in the trace (up to 2^32
     * events) without a second atomic. */
    uint64_t slot;
    struct loom_trace_event *e = reserve (1, &slot);
    if (!e)
        return 0;
    uint32_t span = (uint32_t)slot + 1 ? (uint32_t)slot + 1 : 1;
    e->ts = now_ns ();
    e->span = span;
    e->parent = tls_depth ? tls_stack[(tls_depth - 1) % SPAN_STACK_DEPTH] : 0;
    e->type = (uint16_t)type;
    e->given = (uint8_t)((1u << nargs) - 1);
    e->tid = thread_id ();
    e->arg[0] = a0;
    e->arg[1] = a1;
    e->arg[2] = a2;
    commit (e, LOOM__TRACE_K_BEGIN);
    if (tls_depth < SPAN_STACK_DEPTH)
        tls_stack[tls_depth] = span;
    tls_depth++;
    return (loom_trace_span_t)type << 32 | span;
}

void loom__trace_end (
    loom_trace_span_t s, unsigned nargs, uint64_t a0, uint64_t a1, uint64_t a2)
{
    uint32_t span = (uint32_t)s;
    /* Pop this span, and any inner one a caller forgot to end. */
    for (unsigned d = tls_depth < SPAN_STACK_DEPTH ? tls_depth : SPAN_STACK_DEPTH;
         d > 0; d--) {
        if (tls_stack[d - 1] == span) {
            tls_depth = d - 1;
            break;
        }
    }
    if (loom__trace_state != 1)
        return;
    uint64_t slot;
    struct loom_trace_event *e = reserve (1, &slot);
    if (!e)
        return;
    e->ts = now_ns ();
    e->span = span;
    e->parent = 0;
    e->type = (uint16_t)(s >> 32);
    e->given = (uint8_t)((1u << nargs) - 1);
    e->tid = thread_id ();
    e->arg[0] = a0;
    e->arg[1] = a1;
    e->arg[2] = a2;
    commit (e, LOOM__TRACE_K_END);
}

void loom__trace_event (int kind,
                        struct loom_trace_type *t,
                        unsigned nargs,
                        uint64_t a0,
                        uint64_t a1,
                        uint64_t a2)
{
    if (!ready ())
        return;
    uint32_t type = type_id (t);
    if (!type)
        return;
    uint64_t slot;
    struct loom_trace_event *e = reserve (1, &slot);
    if (!e)
        return;
    e->ts = now_ns ();
    e->span = tls_depth ? tls_stack[(tls_depth - 1) % SPAN_STACK_DEPTH] : 0;
    e->parent = 0;
    e->type = (uint16_t)type;
    e->given = (uint8_t)((1u << nargs) - 1);
    e->tid = thread_id ();
    e->arg[0] = a0;
    e->arg[1] = a1;
    e->arg[2] = a2;
    commit (e, kind);
}

/* ---- crash and exit ---- */

/* Async-signal-safe: only atomics, stores into the mapping, sigaction and raise. */
static void on_signal (int sig)
{
    int saved = errno;
    if (loom__trace_state == 1 && w.hdr) {
        uint64_t slot;
        struct loom_trace_event *e = reserve (0, &slot);
        if (e) {
            e->ts = loom_clock_ns (); /* clock_gettime is async-signal-safe */
            e->span = 0;
            e->parent = 0;
            e->type = 0;
            e->given = 1;
            e->tid = tls_tid;
            e->arg[0] = (uint64_t)sig;
            e->arg[1] = 0;
            e->arg[2] = 0;
            commit (e, LOOM__TRACE_K_SIGNAL);
        }
        w.hdr->signal = (uint32_t)sig;
        w.hdr->mono_end = loom_clock_ns ();
        w.hdr->dropped = atomic_load (&w.dropped);
        atomic_store_explicit ((_Atomic uint32_t *)&w.hdr->state,
                               LOOM_TRACE_STATE_SIGNALED, memory_order_release);
    }
    /* Give the signal to whoever had it before us (the default: die, with a core). */
    for (size_t i = 0; i < NSIGNALS; i++) {
        if (crash_signals[i] == sig) {
            sigaction (sig, &old_actions[i], NULL);
            break;
        }
    }
    errno = saved;
    raise (sig);
}

static void install_signals (void)
{
    if (w.signals_done)
        return;
    w.signals_done = 1;
    for (size_t i = 0; i < NSIGNALS; i++) {
        struct sigaction sa;
        memset (&sa, 0, sizeof (sa));
        sa.sa_handler = on_signal;
        sigemptyset (&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND | SA_NODEFER;
        if (sigaction (crash_signals[i], NULL, &old_actions[i]) < 0)
            continue;
        /* Respect a program that ignores SIGTERM/SIGINT or handles them itself. */
        if (old_actions[i].sa_handler != SIG_DFL)
            continue;
        sigaction (crash_signals[i], &sa, NULL);
    }
}

static void at_exit (void)
{
    loom_trace_stop ();
}

/* A forked child shares the mappings: it must not write into the parent's file. */
static void at_fork_child (void)
{
    if (loom__trace_state == 1) {
        for (size_t k = 0; k < w.max_chunks; k++)
            if (w.chunks[k])
                munmap (w.chunks[k], chunk_bytes ());
        munmap (w.hdr, w.meta_len);
        close (w.fd);
        free (w.chunks);
        free (w.path);
        w.chunks = NULL;
        w.path = NULL;
        w.hdr = NULL;
        w.fd = -1;
        loom__trace_state = 0;
    }
    pthread_mutex_init (&w.lock, NULL);
}

/* ---- start and stop ---- */

static char *file_name (const char *prefix, int rank)
{
    char *p = NULL;
    int rc = rank >= 0 ? asprintf (&p, "%s.rank%d", prefix, rank)
                       : asprintf (&p, "%s.proc%d", prefix, (int)getpid ());
    return rc < 0 ? NULL : p;
}

/* Open 'path' for writing unless a live process holds it (flock). */
static int open_locked (const char *path)
{
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (flock (fd, LOCK_EX | LOCK_NB) < 0) {
        close (fd);
        errno = EBUSY;
        return -1;
    }
    if (ftruncate (fd, 0) < 0) {
        int e = errno;
        close (fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int start_locked (const struct loom_trace_params *p, loom_error_t *error)
{
    struct loom_trace_params def = LOOM_TRACE_PARAMS_INIT;
    if (!p)
        p = &def;
    if (w.hdr)
        return loom_errset (error, EBUSY, "trace: already writing %s", w.path);
    if (p->flags & ~(unsigned)LOOM_TRACE_NO_SIGNALS)
        return loom_errset (error, EINVAL, "trace: unknown flags 0x%x", p->flags);
    const char *prefix = p->path ? p->path : getenv ("LOOM_TRACE");
    if (!prefix || !*prefix)
        return loom_errset (error, EINVAL, "trace: no path (set LOOM_TRACE)");
    const char *idenv = getenv ("LOOM_TRACE_ID");
    if (!p->trace_id && idenv && *idenv && loom_trace_id_parse (idenv, NULL) < 0)
        return loom_errset (error, EINVAL,
                            "trace: LOOM_TRACE_ID '%.32s' is not 16 hex digits", idenv);
    uint64_t max = p->max_bytes;
    const char *maxenv = getenv ("LOOM_TRACE_MAX");
    if (!max && maxenv && *maxenv)
        max = strtoull (maxenv, NULL, 10);
    if (!max)
        max = DEFAULT_MAX;
    uint64_t ring = p->ring_bytes;
    const char *ringenv = getenv ("LOOM_TRACE_RING");
    if (!ring && ringenv && *ringenv)
        ring = strtoull (ringenv, NULL, 10);

    int rank = p->rank >= 0 ? p->rank : w.set_rank >= 0 ? w.set_rank : env_rank ();
    int size = p->size >= 0 ? p->size : w.set_size >= 0 ? w.set_size : env_size ();
    uint64_t id = p->trace_id ? p->trace_id : env_trace_id ();
    if (!id) {
        /* Nothing names the job: this process is its own job. */
        id = loom_hash64 (
            &(uint64_t[2]){loom_clock_realtime_ns (), (uint64_t)getpid ()}, 16, 7);
        id = id ? id : 1;
    }

    char *path = file_name (prefix, rank);
    if (!path)
        return loom_errset (error, ENOMEM, "trace: out of memory");
    int fd = open_locked (path);
    if (fd < 0 && errno == EBUSY && rank >= 0) {
        /* Another live process writes this rank's file (two jobs, one prefix). */
        free (path);
        rank = -1;
        path = file_name (prefix, -1);
        fd = path ? open_locked (path) : -1;
    }
    if (fd < 0) {
        int e = errno;
        loom_errset (error, e, "trace: cannot create %s: %s", path ? path : prefix,
                     strerror (e));
        free (path);
        errno = e;
        return -1;
    }

    size_t page = (size_t)sysconf (_SC_PAGESIZE);
    size_t meta = LOOM_TRACE_HEADER_SIZE
                  + LOOM_TRACE_STRINGS_MAX * LOOM_TRACE_STRING_SIZE
                  + LOOM_TRACE_TYPES_MAX * LOOM_TRACE_TYPE_SIZE;
    meta = (meta + page - 1) / page * page;
    size_t max_chunks = max > meta ? (size_t)((max - meta) / chunk_bytes ()) : 0;
    if (ring) {
        /* A power of two of chunks, so a slot's chunk is a mask away. */
        max_chunks = 1;
        while ((max_chunks * 2) * chunk_bytes () <= ring && max_chunks < (1u << 20))
            max_chunks *= 2;
    }
    if (max_chunks == 0)
        max_chunks = 1;
    char **chunks = calloc (max_chunks, sizeof (*chunks));
    void *m = MAP_FAILED;
    /* The tables stay sparse (most of them is never used), except their first pages,
     * which are allocated so that a full disk fails here and not with SIGBUS later.
     */
    int rc = !chunks ? ENOMEM : ftruncate (fd, (off_t)meta) < 0 ? errno : 0;
    const off_t first[] = {0, LOOM_TRACE_HEADER_SIZE,
                           (off_t)(LOOM_TRACE_HEADER_SIZE
                                   + LOOM_TRACE_STRINGS_MAX * LOOM_TRACE_STRING_SIZE)};
    for (int i = 0; rc == 0 && i < 3; i++) {
        rc = posix_fallocate (fd, first[i], (off_t)page);
        if (rc == EOPNOTSUPP || rc == EINVAL)
            rc = 0;
    }
    if (rc == 0) {
        m = mmap (NULL, meta, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        rc = m == MAP_FAILED ? errno : 0;
    }
    if (rc != 0) {
        loom_errset (error, rc, "trace: cannot size %s: %s", path, strerror (rc));
        free (chunks);
        close (fd);
        unlink (path);
        free (path);
        errno = rc;
        return -1;
    }

    struct loom_trace_header *h = m;
    memcpy (h->magic, LOOM_TRACE_MAGIC, 8);
    h->version = LOOM_TRACE_VERSION;
    h->byte_order = LOOM_TRACE_BYTE_ORDER;
    h->header_size = LOOM_TRACE_HEADER_SIZE;
    h->event_size = LOOM_TRACE_EVENT_SIZE;
    h->rank = rank;
    h->size = size;
    h->pid = (uint32_t)getpid ();
    h->trace_id = id;
    clock_start ();
    h->mono0 = loom_clock_ns ();
    h->real0 = loom_clock_realtime_ns ();
    h->strings_off = LOOM_TRACE_HEADER_SIZE;
    h->strings_max = LOOM_TRACE_STRINGS_MAX;
    h->string_size = LOOM_TRACE_STRING_SIZE;
    h->types_off =
        h->strings_off + (uint64_t)LOOM_TRACE_STRINGS_MAX * LOOM_TRACE_STRING_SIZE;
    h->types_max = LOOM_TRACE_TYPES_MAX;
    h->type_size = LOOM_TRACE_TYPE_SIZE;
    h->events_off = meta;
    h->chunk_events = (uint64_t)1 << CHUNK_SHIFT;
    h->flags = ring ? LOOM_TRACE_FLAG_RING : 0;
    h->state = LOOM_TRACE_STATE_RUNNING;
    gethostname (h->host, sizeof (h->host) - 1);
    const char *name = p->name ? p->name : program_invocation_short_name;
    snprintf (h->name, sizeof (h->name), "%s", name ? name : "");

    w.fd = fd;
    w.path = path;
    w.rank = rank;
    w.size = size;
    w.trace_id = id;
    w.hdr = h;
    w.meta_len = meta;
    w.strings = (struct loom_trace_string *)((char *)m + h->strings_off);
    w.types = (struct loom_trace_typedef *)((char *)m + h->types_off);
    w.chunks = chunks;
    w.max_chunks = max_chunks;
    w.ring = ring != 0;
    atomic_store (&w.next, 0);
    atomic_store (&w.dropped, 0);
    w.nstrings = w.ntypes = 0;
    w.generation = (w.generation + 1) & 0xffff ? (w.generation + 1) & 0xffff : 1;
    memset (w.intern, 0, sizeof (w.intern));
    map_chunk_locked (0);

    if (!w.atexit_done) {
        w.atexit_done = 1;
        atexit (at_exit);
        pthread_atfork (NULL, NULL, at_fork_child);
    }
    if (!(p->flags & LOOM_TRACE_NO_SIGNALS))
        install_signals ();
    atomic_thread_fence (memory_order_release); /* all set up before the flag */
    loom__trace_state = 1;
    return 0;
}

int loom_trace_start (const struct loom_trace_params *params, loom_error_t *error)
{
    if (!params)
        return loom_errset (error, EINVAL, "trace: no parameters");
    pthread_mutex_lock (&w.lock);
    int rc = start_locked (params, error);
    pthread_mutex_unlock (&w.lock);
    return rc;
}

int loom_trace_enabled (void)
{
    if (loom__trace_state != 2)
        return loom__trace_state;
    pthread_mutex_lock (&w.lock);
    if (loom__trace_state == 2) {
        const char *env = getenv ("LOOM_TRACE");
        if (env && *env) {
            loom_error_t error;
            if (start_locked (NULL, &error) < 0) {
                loom_warn ("%s", error.text);
                loom__trace_state = 0;
            }
        } else {
            loom__trace_state = 0;
        }
    }
    pthread_mutex_unlock (&w.lock);
    return loom__trace_state;
}

const char *loom_trace_file (void)
{
    return loom__trace_state == 1 ? w.path : NULL;
}

int loom_trace_set_rank (int rank, int size)
{
    if (rank < 0) {
        errno = EINVAL;
        return -1;
    }
    int rc = 0;
    pthread_mutex_lock (&w.lock);
    if (w.hdr && w.hdr->rank != rank) {
        const char *prefix_end = strrchr (w.path, '.');
        char *prefix = strndup (w.path, (size_t)(prefix_end - w.path));
        char *path = prefix ? file_name (prefix, rank) : NULL;
        free (prefix);
        if (!path) {
            errno = ENOMEM;
            rc = -1;
        } else if (rename (w.path, path) < 0) {
            free (path);
            rc = -1;
        } else {
            free (w.path);
            w.path = path;
            w.hdr->rank = rank;
        }
    }
    if (rc == 0) {
        w.rank = w.set_rank = rank;
        if (size > 0) {
            w.size = w.set_size = size;
            if (w.hdr)
                w.hdr->size = size;
        }
    }
    pthread_mutex_unlock (&w.lock);
    return rc;
}

int loom_trace_stop (void)
{
    int saved = errno, rc = 0;
    pthread_mutex_lock (&w.lock);
    if (!w.hdr) {
        if (loom__trace_state == 2)
            loom__trace_state = 0;
        pthread_mutex_unlock (&w.lock);
        return 0;
    }
    loom__trace_state = 0;
    struct loom_trace_header *h = w.hdr;
    uint64_t used = atomic_load (&w.next);
    uint64_t cap = (uint64_t)w.max_chunks << CHUNK_SHIFT;
    if (used > cap)
        used = cap;
    /* Slots of chunks that never got mapped were dropped already. */
    size_t k = 0;
    while (k < w.max_chunks && w.chunks[k])
        k++;
    if (used > (uint64_t)k << CHUNK_SHIFT)
        used = (uint64_t)k << CHUNK_SHIFT;
    h->events = used;
    h->dropped = atomic_load (&w.dropped);
    uint64_t next = atomic_load (&w.next);
    if (tls_gen == w.generation && tls_end <= next && tls_next < tls_end)
        next -= tls_end - tls_next; /* this thread's unused slots were never events */
    if (w.ring && next > cap) /* overwritten; other threads' unused slots count too */
        h->dropped += next - cap;
    h->mono_end = now_ns ();
    if (h->state == LOOM_TRACE_STATE_RUNNING)
        atomic_store_explicit ((_Atomic uint32_t *)&h->state, LOOM_TRACE_STATE_CLOSED,
                               memory_order_release);
    uint64_t len = h->events_off + used * LOOM_TRACE_EVENT_SIZE;
    for (k = 0; k < w.max_chunks; k++)
        if (w.chunks[k])
            munmap (w.chunks[k], chunk_bytes ());
    munmap (w.hdr, w.meta_len);
    if (ftruncate (w.fd, (off_t)len) < 0)
        rc = -1, saved = errno;
    if (close (w.fd) < 0 && rc == 0)
        rc = -1, saved = errno;
    free (w.chunks);
    free (w.path);
    w.chunks = NULL;
    w.path = NULL;
    w.hdr = NULL;
    w.fd = -1;
    w.trace_id = 0;
    pthread_mutex_unlock (&w.lock);
    errno = saved;
    return rc;
}
