/* SPDX-License-Identifier: MIT */
/* loom-bench-trace: what tracing costs, as JSON lines.
 *
 *   loom-bench trace [--dir D] [--reps N] [--iters N] [--rate EV/S] [--seconds S]
 *                    [--ranks R] [--skip-merge]
 *
 * 1. Event cost. One loop, three ways, side by side in each repetition: the bare loop
 *    (baseline), the loop annotated with a span (2 events) and an instant per
 *    iteration while tracing is off, and the same while tracing to a file. Cost per
 *    event = (CPU time - baseline CPU time) / events, CPU time of the looping threads
 *    (user + kernel: page faults count), so that waiting for a core on a loaded
 *    machine does not; medians over repetitions. Also with two threads tracing at
 *    once. LOOM_TRACE_RING in the environment measures the flight-recorder mode.
 * 2. Bytes per event: the record size, and the file size per event of a finished
 *    rank file and of a merged job trace (tables and headers included).
 * 3. Merge time: R ranks (processes) each write 'rate' events/s for 'seconds' worth of
 *    events (generated as fast as possible: the count matters, not the pace); then
 *    loom_trace_open + loom_trace_write of the whole job, against a baseline that
 *    reads every file and writes one copy of it (the I/O floor).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/trace.h>
#include <loom/trace_tools.h>

LOOM_TRACE_TYPE (t_work, "bench", "work", "records", "bytes", "partition");
LOOM_TRACE_TYPE (t_mark, "bench", "mark", "i");
LOOM_TRACE_TYPE (t_send, "bench", "send", "flow", "peer", "bytes");

static const char *dir = "/tmp";
static char prefix[512];

static int cmp_double (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median (double *v, int n)
{
    qsort (v, (size_t)n, sizeof (double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static volatile uint64_t sink;

/* The work of one iteration: a little arithmetic the compiler must keep. */
static inline uint64_t work (uint64_t acc, uint64_t i)
{
    acc = acc * 6364136223846793005ull + i;
    __asm__ volatile("" : "+r"(acc));
    return acc;
}

/* CPU time of the calling thread, in ns: under load (this machine is shared) wall
 * time also counts the time spent waiting for a core.
 */
static uint64_t cpu_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double loop_bare (uint64_t n)
{
    uint64_t t0 = cpu_ns (), acc = 0;
    for (uint64_t i = 0; i < n; i++)
        acc = work (acc, i);
    sink = acc;
    return (double)(cpu_ns () - t0);
}

/* 3 events per iteration: begin, instant, end. */
static double loop_traced (uint64_t n)
{
    uint64_t t0 = cpu_ns (), acc = 0;
    for (uint64_t i = 0; i < n; i++) {
        loom_trace_span_t s = loom_trace_begin (&t_work, 0, 0, i & 63);
        acc = work (acc, i);
        loom_trace_instant (&t_mark, acc);
        loom_trace_end (s, i, acc & 0xffff);
    }
    sink = acc;
    return (double)(cpu_ns () - t0);
}

struct thread_arg {
    uint64_t n;
    int traced;
    double ns;
};

static void *thread_main (void *p)
{
    struct thread_arg *a = p;
    a->ns = a->traced ? loop_traced (a->n) : loop_bare (a->n);
    return NULL;
}

/* CPU time of 'threads' threads each running the loop, summed. */
static double run_threads (int threads, uint64_t n, int traced)
{
    pthread_t th[8];
    struct thread_arg args[8];
    for (int i = 0; i < threads; i++) {
        args[i] = (struct thread_arg){n, traced, 0};
        pthread_create (&th[i], NULL, thread_main, &args[i]);
    }
    double sum = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join (th[i], NULL);
        sum += args[i].ns;
    }
    return sum;
}

static int start_trace (int rank)
{
    struct loom_trace_params p = LOOM_TRACE_PARAMS_INIT;
    p.path = prefix;
    p.rank = rank;
    p.size = 1;
    p.flags = LOOM_TRACE_NO_SIGNALS;
    p.max_bytes = 1ull << 34;
    p.trace_id = 0x62656e6368ull; /* one job for all the ranks of the merge benchmark */
    loom_error_t error;
    if (loom_trace_start (&p, &error) < 0) {
        fprintf (stderr, "loom-bench-trace: %s\n", error.text);
        return -1;
    }
    return 0;
}

static void remove_files (int ranks)
{
    char path[600];
    for (int r = 0; r < ranks; r++) {
        snprintf (path, sizeof (path), "%s.rank%d", prefix, r);
        unlink (path);
    }
}

/* What reading a clock costs here (CPU time per read): the floor under every
 * event's timestamp. The writer uses the TSC where it is invariant.
 */
static void bench_clocks (void)
{
    const int n = 2000000;
    uint64_t t0 = cpu_ns (), acc = 0;
    for (int i = 0; i < n; i++)
        acc += loom_clock_ns ();
    double mono = (double)(cpu_ns () - t0) / n;
    double tsc = 0;
#if defined(__x86_64__)
    t0 = cpu_ns ();
    for (int i = 0; i < n; i++)
        acc += __builtin_ia32_rdtsc ();
    tsc = (double)(cpu_ns () - t0) / n;
#endif
    sink = acc;
    printf (
        "{\"bench\":\"trace.clock_cost\",\"clock_gettime_ns\":%.1f,\"rdtsc_ns\":%.1f}"
        "\n",
        mono, tsc);
}

static int bench_event_cost (int reps, uint64_t iters, int threads)
{
    double *bare = calloc ((size_t)reps, sizeof (double));
    double *off = calloc ((size_t)reps, sizeof (double));
    double *on = calloc ((size_t)reps, sizeof (double));
    double *c_off = calloc ((size_t)reps, sizeof (double));
    double *c_on = calloc ((size_t)reps, sizeof (double));
    uint64_t per_thread = iters / (uint64_t)threads;
    double events = 3.0 * (double)per_thread * threads;
    for (int r = 0; r < reps; r++) {
        bare[r] = run_threads (threads, per_thread, 0);
        loom_trace_stop (); /* decided: off */
        off[r] = run_threads (threads, per_thread, 1);
        if (start_trace (0) < 0)
            return -1;
        on[r] = run_threads (threads, per_thread, 1);
        loom_trace_stop ();
        remove_files (1);
        /* CPU time (user + kernel) spent per event, over all threads. */
        c_off[r] = (off[r] - bare[r]) / events;
        c_on[r] = (on[r] - bare[r]) / events;
        printf ("{\"bench\":\"trace.event_cost\",\"threads\":%d,\"rep\":%d,"
                "\"events\":%.0f,\"bare_ms\":%.3f,\"off_ms\":%.3f,\"on_ms\":%.3f,"
                "\"ns_per_event_off\":%.2f,\"ns_per_event_on\":%.2f}\n",
                threads, r, events, bare[r] / 1e6, off[r] / 1e6, on[r] / 1e6, c_off[r],
                c_on[r]);
    }
    printf (
        "{\"bench\":\"trace.event_cost.summary\",\"threads\":%d,\"reps\":%d,"
        "\"events_per_rep\":%.0f,\"median_bare_ms\":%.3f,\"median_ns_per_event_off\":"
        "%.2f,\"median_ns_per_event_on\":%.2f,\"target_ns\":100}\n",
        threads, reps, events, median (bare, reps) / 1e6, median (c_off, reps),
        median (c_on, reps));
    fflush (stdout);
    free (bare);
    free (off);
    free (on);
    free (c_off);
    free (c_on);
    return 0;
}

static long file_size (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 ? (long)st.st_size : -1;
}

/* Rank 'rank' writes 'n' events: spans with args, instants and flows. */
static void write_rank (int rank, int ranks, uint64_t n)
{
    if (start_trace (rank) < 0)
        _exit (1);
    loom_trace_set_rank (rank, ranks);
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i += 4) {
        loom_trace_span_t s = loom_trace_begin (&t_work, 0, 0, i & 1023);
        acc = work (acc, i);
        loom_trace_instant (&t_mark, acc);
        int peer = (int)((uint64_t)rank + 1 + i % (uint64_t)(ranks - 1 ? ranks - 1 : 1))
                   % ranks;
        loom_trace_flow_out (&t_send, loom_trace_flow_id (rank, peer, (uint32_t)i),
                             peer, 1 << 20);
        loom_trace_end (s, 1000, acc & 0xffffff);
    }
    loom_trace_stop ();
    _exit (0);
}

static int bench_merge (int ranks, uint64_t rate, int seconds, int reps)
{
    uint64_t n = rate * (uint64_t)seconds;
    uint64_t t0 = loom_clock_ns ();
    for (int r = 0; r < ranks; r++) {
        pid_t pid = fork ();
        if (pid == 0)
            write_rank (r, ranks, n);
    }
    int st, bad = 0;
    while (wait (&st) > 0)
        bad |= !WIFEXITED (st) || WEXITSTATUS (st) != 0;
    double write_s = (double)(loom_clock_ns () - t0) / 1e9;
    if (bad) {
        fprintf (stderr, "loom-bench-trace: a writer failed\n");
        return -1;
    }
    long in_bytes = 0;
    char path[600], out[600];
    for (int r = 0; r < ranks; r++) {
        snprintf (path, sizeof (path), "%s.rank%d", prefix, r);
        in_bytes += file_size (path);
    }
    snprintf (out, sizeof (out), "%s.trace", prefix);
    double *merge = calloc ((size_t)reps, sizeof (double));
    double *copy = calloc ((size_t)reps, sizeof (double));
    long out_bytes = 0;
    uint64_t events = 0;
    for (int k = 0; k < reps; k++) {
        /* Baseline: read every rank file, write one file of them all. */
        uint64_t c0 = loom_clock_ns ();
        int fo = open (out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        char *buf = malloc (1 << 20);
        for (int r = 0; r < ranks; r++) {
            snprintf (path, sizeof (path), "%s.rank%d", prefix, r);
            int fi = open (path, O_RDONLY);
            ssize_t got;
            while ((got = read (fi, buf, 1 << 20)) > 0)
                if (write (fo, buf, (size_t)got) != got)
                    return -1;
            close (fi);
        }
        fsync (fo);
        close (fo);
        free (buf);
        unlink (out);
        copy[k] = (double)(loom_clock_ns () - c0) / 1e9;

        uint64_t m0 = loom_clock_ns ();
        loom_error_t error;
        loom_trace_t *t = loom_trace_open (prefix, &error);
        if (!t || loom_trace_write (t, out, &error) < 0) {
            fprintf (stderr, "loom-bench-trace: merge: %s\n", error.text);
            return -1;
        }
        merge[k] = (double)(loom_clock_ns () - m0) / 1e9;
        events = 0;
        for (size_t p = 0; p < loom_trace_nprocs (t); p++)
            events += loom_trace_nevents (t, p);
        loom_trace_close (t);
        out_bytes = file_size (out);
        unlink (out);
        printf ("{\"bench\":\"trace.merge\",\"rep\":%d,\"ranks\":%d,\"events\":%llu,"
                "\"merge_s\":%.3f,\"copy_s\":%.3f,\"ratio\":%.2f}\n",
                k, ranks, (unsigned long long)events, merge[k], copy[k],
                merge[k] / copy[k]);
        fflush (stdout);
    }
    printf ("{\"bench\":\"trace.merge.summary\",\"ranks\":%d,\"events_per_rank_per_s\":"
            "%llu,\"seconds\":%d,\"events\":%llu,\"rank_files_bytes\":%ld,"
            "\"merged_bytes\":%ld,\"merged_bytes_per_event\":%.2f,\"write_s\":%.3f,"
            "\"median_merge_s\":%.3f,\"median_copy_s\":%.3f,\"median_ratio\":%.2f}\n",
            ranks, (unsigned long long)rate, seconds, (unsigned long long)events,
            in_bytes, out_bytes, (double)out_bytes / (double)events, write_s,
            median (merge, reps), median (copy, reps),
            median (merge, reps) / median (copy, reps));
    remove_files (ranks);
    free (merge);
    free (copy);
    return 0;
}

static int bench_bytes (void)
{
    const uint64_t n = 100000;
    if (start_trace (0) < 0)
        return -1;
    loop_traced (n);
    char path[600];
    snprintf (path, sizeof (path), "%s", loom_trace_file ());
    loom_trace_stop ();
    long rank_bytes = file_size (path);
    loom_error_t error;
    loom_trace_t *t = loom_trace_open (path, &error);
    char out[600];
    snprintf (out, sizeof (out), "%s.trace", prefix);
    if (!t || loom_trace_write (t, out, &error) < 0) {
        fprintf (stderr, "loom-bench-trace: %s\n", error.text);
        return -1;
    }
    loom_trace_close (t);
    long merged = file_size (out);
    unlink (out);
    unlink (path);
    double ev = 3.0 * (double)n;
    printf ("{\"bench\":\"trace.bytes_per_event\",\"record_bytes\":48,\"events\":%.0f,"
            "\"rank_file_bytes\":%ld,\"rank_file_bytes_per_event\":%.2f,"
            "\"merged_bytes\":%ld,\"merged_bytes_per_event\":%.2f,\"target\":48}\n",
            ev, rank_bytes, (double)rank_bytes / ev, merged, (double)merged / ev);
    fflush (stdout);
    return 0;
}

int main (int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", 1, NULL, 'd'},        {"reps", 1, NULL, 'r'},
        {"iters", 1, NULL, 'i'},      {"rate", 1, NULL, 'R'},
        {"seconds", 1, NULL, 's'},    {"ranks", 1, NULL, 'n'},
        {"skip-merge", 0, NULL, 'S'}, {"help", 0, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int reps = 7, seconds = 60, ranks = 4, skip_merge = 0, c;
    uint64_t iters = 1000000, rate = 50000;
    while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'r':
            reps = atoi (optarg);
            break;
        case 'i':
            iters = strtoull (optarg, NULL, 10);
            break;
        case 'R':
            rate = strtoull (optarg, NULL, 10);
            break;
        case 's':
            seconds = atoi (optarg);
            break;
        case 'n':
            ranks = atoi (optarg);
            break;
        case 'S':
            skip_merge = 1;
            break;
        case 'h':
            printf ("Usage: loom-bench trace [--dir D] [--reps N] [--iters N] "
                    "[--rate EVENTS/S] [--seconds S] [--ranks R] [--skip-merge]\n");
            return 0;
        default:
            return 2;
        }
    }
    if (reps < 1 || iters < 2 || ranks < 1 || ranks > 64 || seconds < 1 || !rate) {
        fprintf (stderr, "loom-bench-trace: bad option value\n");
        return 2;
    }
    snprintf (prefix, sizeof (prefix), "%s/loom-bench-trace.%d", dir, (int)getpid ());
    unsetenv ("LOOM_TRACE");
    bench_clocks ();
    if (bench_event_cost (reps, iters, 1) < 0 || bench_event_cost (reps, iters, 2) < 0
        || bench_bytes () < 0)
        return 1;
    if (!skip_merge && bench_merge (ranks, rate, seconds, reps < 3 ? reps : 3) < 0)
        return 1;
    return 0;
}
