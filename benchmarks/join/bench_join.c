/* SPDX-License-Identifier: MIT */
/* loom-bench-join: the distributed join against a single-threaded hash join, side by
 * side in one run, as JSON lines (one per repetition, then medians).
 *
 * Tuples are 16 bytes (8-byte key, 8-byte payload). R has 2^n tuples with distinct
 * keys; each S tuple references one R tuple, picked uniformly or from Zipf(1.0) over
 * R (by inverting the continuous CDF: index = (|R|+1)^u - 1), so the inner join has
 * |S| results. Data is generated before the clock starts; the Loom time covers the
 * puts and loom_join_run() (max over ranks). The baseline runs on rank 0 alone, with
 * all the data, while the other ranks wait: build a linear-probing table over R, then
 * probe it with S (slots of key and payload together, on huge pages, allocated in
 * the timed region as Loom's buffers are; before 2026-12-07 22:50 UTC the table was
 * two calloc'd arrays on 4 KiB pages, which this VM makes far slower). Both count the
 * results and checksum the payloads, and the counts must match.
 *
 * Modes: throughput (uniform, repartition), skew (uniform vs Zipf keys: repartition,
 * hybrid, auto), ratio (|S|/|R| = 1/1000 .. 1: repartition, broadcast, auto).
 * Loom's tuples go in through loom_join_put_fixed_left/right (packed, the fast path).
 */
#include <getopt.h>
#include <linux/perf_event.h>
#include <math.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/clock.h>
#include <loom/join.h>

static int rank, size;
static loom_comm_t *comm;
static uint64_t mem_bytes = 1ull << 30;

/* User-space instructions retired by this process, a load-independent measure of
 * work beside the wall time (-1 when perf events are not allowed here).
 */
static int perf_fd = -2;

static double instructions (void)
{
    if (perf_fd == -2) {
        struct perf_event_attr a;
        memset (&a, 0, sizeof (a));
        a.size = sizeof (a);
        a.type = PERF_TYPE_HARDWARE;
        a.config = PERF_COUNT_HW_INSTRUCTIONS;
        a.exclude_kernel = 1;
        a.exclude_hv = 1;
        perf_fd = (int)syscall (SYS_perf_event_open, &a, 0, -1, -1, 0);
    }
    uint64_t v;
    if (perf_fd < 0 || read (perf_fd, &v, sizeof (v)) != (ssize_t)sizeof (v))
        return -1;
    return (double)v;
}

/* CPU seconds of this process (user + system): on a machine loaded by others the
 * wall time measures the load, the CPU time mostly the work.
 */
static double cpu_sec (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Instructions and CPU seconds of the last run_loom (largest rank) and run_base
 * (rank 0).
 */
static double last_loom_insn, last_base_insn, last_loom_cpu, last_base_cpu;

static uint64_t mix (uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb3fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

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

static double tmax (double t)
{
    double m;
    MPI_Allreduce (&t, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return m;
}

/* R tuple i: key mix(i + 1) (distinct with overwhelming probability), payload i. */
static uint64_t rkey (uint64_t i)
{
    return mix (i + 1);
}

/* S tuple i over an R of nr tuples: the index of the R tuple it references. */
static uint64_t sref (uint64_t i, uint64_t nr, int zipf)
{
    uint64_t x = mix (i ^ 0x5eed5eedULL);
    if (!zipf)
        return x % nr;
    double u = (double)(x >> 11) * 0x1.0p-53;
    uint64_t k = (uint64_t)(pow ((double)nr + 1.0, u)) - 1;
    return k < nr ? k : nr - 1;
}

/* Tuples [lo, hi) of one side, as packed key, payload pairs. */
__attribute__ ((noinline)) static uint64_t *
gen (int s, uint64_t lo, uint64_t hi, uint64_t nr, int zipf)
{
    uint64_t *t = malloc ((hi - lo + 1) * 16);
    if (!t) {
        fprintf (stderr, "loom-bench-join: out of memory\n");
        MPI_Abort (MPI_COMM_WORLD, 1);
    }
    for (uint64_t i = lo; i < hi; i++) {
        t[2 * (i - lo)] = s ? rkey (sref (i, nr, zipf)) : rkey (i);
        t[2 * (i - lo) + 1] = i;
    }
    return t;
}

struct acc {
    uint64_t n, sum;
};

static int emit (const void *key,
                 size_t klen,
                 const void *left,
                 size_t llen,
                 const void *right,
                 size_t rlen,
                 void *arg)
{
    (void)key;
    (void)klen;
    (void)llen;
    (void)rlen;
    struct acc *a = arg;
    uint64_t l, r;
    memcpy (&l, left, 8);
    memcpy (&r, right, 8);
    a->n++;
    a->sum += l * 31 + r;
    return 0;
}

/* Loom: S (left, the probe side) joined with R (right). Returns seconds (max over
 * ranks); '*res' gets the global result count and checksum.
 */
static double run_loom (loom_join_strategy_t strat,
                        uint64_t nr,
                        uint64_t ns,
                        int zipf,
                        struct acc *res,
                        loom_join_strategy_t *used)
{
    uint64_t rlo = nr * rank / size, rhi = nr * (rank + 1) / size;
    uint64_t slo = ns * rank / size, shi = ns * (rank + 1) / size;
    uint64_t *R = gen (0, rlo, rhi, nr, zipf), *S = gen (1, slo, shi, nr, zipf);
    struct loom_join_params p = LOOM_JOIN_PARAMS_INIT;
    p.strategy = strat;
    p.key_width = p.left_value_width = p.right_value_width = 8;
    p.mem_bytes = mem_bytes;
    p.broadcast_max_bytes = 1ull << 30;
    loom_error_t err = {0};
    MPI_Barrier (MPI_COMM_WORLD);
    double i0 = instructions (), c0 = cpu_sec ();
    double t0 = loom_clock_sec ();
    loom_join_t *j = loom_join_create (comm, &p, &err);
    struct acc a = {0, 0};
    int rc = j ? 0 : -1;
    if (rc == 0)
        rc = loom_join_put_fixed_left (j, S, shi - slo, &err);
    if (rc == 0)
        rc = loom_join_put_fixed_right (j, R, rhi - rlo, &err);
    if (rc == 0)
        rc = loom_join_run (j, emit, &a, &err);
    double t = loom_clock_sec () - t0;
    double di = instructions () - i0, dc = cpu_sec () - c0;
    MPI_Allreduce (&di, &last_loom_insn, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce (&dc, &last_loom_cpu, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (rc != 0) {
        fprintf (stderr, "loom-bench-join: %s\n", err.text);
        MPI_Abort (MPI_COMM_WORLD, 1);
    }
    struct loom_join_stats st;
    loom_join_stats (j, &st);
    *used = st.strategy;
    loom_join_destroy (j);
    free (R);
    free (S);
    MPI_Allreduce (&a, res, 2, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    return tmax (t);
}

/* The baseline's table: zeroed memory on transparent huge pages (as a competent
 * implementation on Linux asks for: with 4 KiB pages nearly every probe of a table
 * this size misses the TLB, and in a VM a miss walks two page tables).
 */
static uint64_t *table_alloc (size_t bytes)
{
    size_t len = (bytes + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    void *p = NULL;
    if (posix_memalign (&p, 2u << 20, len) != 0)
        return NULL;
    madvise (p, len, MADV_HUGEPAGE); /* advice only */
    memset (p, 0, len);
    return p;
}

/* Rank 0: a single-threaded linear-probing hash join over all the data: slots of
 * (key, payload) side by side, so a probe touches one cache line.
 */
/* noinline: a symbol for callgrind --toggle-collect (instruction counts). */
__attribute__ ((noinline)) static double
run_base (uint64_t nr, uint64_t ns, int zipf, struct acc *res)
{
    double t = 0;
    if (rank == 0) {
        uint64_t *R = gen (0, 0, nr, nr, zipf), *S = gen (1, 0, ns, nr, zipf);
        uint64_t cap = 1;
        while (cap < nr * 2)
            cap <<= 1;
        struct acc a = {0, 0};
        double i0 = instructions (), c0 = cpu_sec ();
        double t0 = loom_clock_sec ();
        /* Key 0 marks an empty slot; a real key 0 is kept aside. The table is the
         * join's own memory, timed as Loom's buffers are.
         */
        uint64_t *tab = table_alloc (cap * 16);
        if (!tab) {
            fprintf (stderr, "loom-bench-join: out of memory\n");
            MPI_Abort (MPI_COMM_WORLD, 1);
        }
        int zero = 0;
        uint64_t zero_v = 0;
        for (uint64_t i = 0; i < nr; i++) {
            uint64_t k = R[2 * i];
            if (k == 0) {
                zero = 1;
                zero_v = R[2 * i + 1];
                continue;
            }
            uint64_t h = mix (k) & (cap - 1);
            while (tab[2 * h])
                h = (h + 1) & (cap - 1);
            tab[2 * h] = k;
            tab[2 * h + 1] = R[2 * i + 1];
        }
        for (uint64_t i = 0; i < ns; i++) {
            uint64_t k = S[2 * i];
            if (k == 0) {
                if (zero) {
                    a.n++;
                    a.sum += S[2 * i + 1] * 31 + zero_v;
                }
                continue;
            }
            /* Keys of R are distinct here, but a general join scans the whole run. */
            for (uint64_t h = mix (k) & (cap - 1); tab[2 * h]; h = (h + 1) & (cap - 1))
                if (tab[2 * h] == k) {
                    a.n++;
                    a.sum += S[2 * i + 1] * 31 + tab[2 * h + 1];
                }
        }
        t = loom_clock_sec () - t0;
        last_base_insn = instructions () - i0;
        last_base_cpu = cpu_sec () - c0;
        *res = a;
        free (tab);
        free (R);
        free (S);
    }
    MPI_Bcast (&t, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    MPI_Bcast (&last_base_insn, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    MPI_Bcast (&last_base_cpu, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    MPI_Bcast (res, 2, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    return t;
}

static void check (const struct acc *a, const struct acc *b, const char *what)
{
    if (a->n != b->n || a->sum != b->sum) {
        if (rank == 0)
            fprintf (stderr, "loom-bench-join: %s: %llu results, baseline %llu\n", what,
                     (unsigned long long)a->n, (unsigned long long)b->n);
        MPI_Abort (MPI_COMM_WORLD, 1);
    }
}

#define MAXREPS 32

static void mode_throughput (uint64_t n, int reps)
{
    double tl[MAXREPS], tb[MAXREPS], ratio[MAXREPS], il[MAXREPS], ib[MAXREPS];
    double cl[MAXREPS], cb[MAXREPS], cratio[MAXREPS];
    for (int r = 0; r < reps; r++) {
        struct acc a, b;
        loom_join_strategy_t used;
        tl[r] = run_loom (LOOM_JOIN_REPARTITION, n, n, 0, &a, &used);
        il[r] = last_loom_insn;
        cl[r] = last_loom_cpu;
        tb[r] = run_base (n, n, 0, &b);
        ib[r] = last_base_insn;
        cb[r] = last_base_cpu;
        ratio[r] = tb[r] / tl[r];
        cratio[r] = cb[r] / cl[r];
        check (&a, &b, "throughput");
        if (rank == 0)
            printf (
                "{\"mode\":\"throughput\",\"np\":%d,\"R\":%llu,\"S\":%llu,\"rep\":%d,"
                "\"loom_s\":%.3f,\"single_s\":%.3f,\"speedup\":%.2f,"
                "\"loom_cpu_s_max_rank\":%.3f,\"single_cpu_s\":%.3f,\"cpu_ratio\":%.2f,"
                "\"loom_Ginsn_max_rank\":%.3f,\"single_Ginsn\":%.3f}\n",
                size, (unsigned long long)n, (unsigned long long)n, r, tl[r], tb[r],
                ratio[r], cl[r], cb[r], cratio[r], il[r] / 1e9, ib[r] / 1e9);
        fflush (stdout);
    }
    double ml = median (tl, reps), mb = median (tb, reps), mr = median (ratio, reps);
    double mil = median (il, reps), mib = median (ib, reps), mc = median (cratio, reps);
    if (rank == 0)
        printf ("{\"mode\":\"throughput\",\"summary\":1,\"np\":%d,\"R\":%llu,"
                "\"loom_s\":%.3f,\"single_s\":%.3f,\"loom_Mtps\":%.2f,"
                "\"loom_Mtps_per_core\":%.2f,\"single_Mtps\":%.2f,"
                "\"speedup_median_of_reps\":%.2f,\"speedup_of_medians\":%.2f,"
                "\"cpu_ratio_median_of_reps\":%.2f,"
                "\"insn_ratio_single_over_max_rank\":%.2f}\n",
                size, (unsigned long long)n, ml, mb, 2.0 * n / ml / 1e6,
                2.0 * n / ml / 1e6 / size, 2.0 * n / mb / 1e6, mr, mb / ml, mc,
                mil > 0 && mib > 0 ? mib / mil : -1.0);
    fflush (stdout);
}

static void mode_skew (uint64_t n, int reps)
{
    static const loom_join_strategy_t strats[] = {LOOM_JOIN_REPARTITION,
                                                  LOOM_JOIN_HYBRID, LOOM_JOIN_AUTO};
    double t[2][3][MAXREPS];
    loom_join_strategy_t auto_used[2] = {LOOM_JOIN_AUTO, LOOM_JOIN_AUTO};
    for (int r = 0; r < reps; r++)
        for (int z = 0; z < 2; z++)
            for (int s = 0; s < 3; s++) {
                struct acc a;
                loom_join_strategy_t used;
                t[z][s][r] = run_loom (strats[s], n, n, z, &a, &used);
                if (s == 2)
                    auto_used[z] = used;
                if (a.n != n && rank == 0)
                    fprintf (stderr, "loom-bench-join: skew: %llu results, want %llu\n",
                             (unsigned long long)a.n, (unsigned long long)n);
                if (rank == 0)
                    printf ("{\"mode\":\"skew\",\"np\":%d,\"R\":%llu,\"keys\":\"%s\","
                            "\"strategy\":\"%s\",\"rep\":%d,\"s\":%.3f}\n",
                            size, (unsigned long long)n, z ? "zipf1.0" : "uniform",
                            loom_join_strategy_name (strats[s]), r, t[z][s][r]);
            }
    double m[2][3];
    for (int z = 0; z < 2; z++)
        for (int s = 0; s < 3; s++)
            m[z][s] = median (t[z][s], reps);
    if (rank == 0)
        printf ("{\"mode\":\"skew\",\"summary\":1,\"np\":%d,\"R\":%llu,"
                "\"uniform_repartition_s\":%.3f,\"uniform_hybrid_s\":%.3f,"
                "\"uniform_auto_s\":%.3f,\"zipf_repartition_s\":%.3f,"
                "\"zipf_hybrid_s\":%.3f,\"zipf_auto_s\":%.3f,\"auto_chose\":[\"%s\","
                "\"%s\"],\"zipf_over_uniform_auto\":%.2f,"
                "\"zipf_over_uniform_repartition\":%.2f}\n",
                size, (unsigned long long)n, m[0][0], m[0][1], m[0][2], m[1][0],
                m[1][1], m[1][2], loom_join_strategy_name (auto_used[0]),
                loom_join_strategy_name (auto_used[1]), m[1][2] / m[0][2],
                m[1][0] / m[0][0]);
    fflush (stdout);
}

static void mode_ratio (uint64_t n, int reps)
{
    static const loom_join_strategy_t strats[] = {LOOM_JOIN_REPARTITION,
                                                  LOOM_JOIN_BROADCAST, LOOM_JOIN_AUTO};
    static const uint64_t div[] = {1000, 100, 10, 1};
    for (int d = 0; d < 4; d++) {
        /* The small side is R (the build side), |S| stays n: |R|/|S| = 1/div. */
        uint64_t nr = n / div[d];
        double t[3][MAXREPS];
        loom_join_strategy_t auto_used = LOOM_JOIN_AUTO;
        for (int r = 0; r < reps; r++)
            for (int s = 0; s < 3; s++) {
                struct acc a;
                loom_join_strategy_t used;
                t[s][r] = run_loom (strats[s], nr, n, 0, &a, &used);
                if (s == 2)
                    auto_used = used;
                if (a.n != n && rank == 0)
                    fprintf (stderr, "loom-bench-join: ratio: %llu results\n",
                             (unsigned long long)a.n);
            }
        double m[3];
        for (int s = 0; s < 3; s++)
            m[s] = median (t[s], reps);
        double best = m[0] < m[1] ? m[0] : m[1];
        if (rank == 0)
            printf ("{\"mode\":\"ratio\",\"summary\":1,\"np\":%d,\"small\":%llu,"
                    "\"big\":%llu,\"ratio\":\"1/%llu\",\"repartition_s\":%.3f,"
                    "\"broadcast_s\":%.3f,\"auto_s\":%.3f,\"auto_chose\":\"%s\","
                    "\"auto_over_best\":%.2f}\n",
                    size, (unsigned long long)nr, (unsigned long long)n,
                    (unsigned long long)div[d], m[0], m[1], m[2],
                    loom_join_strategy_name (auto_used), m[2] / best);
        fflush (stdout);
    }
}

int main (int argc, char **argv)
{
    MPI_Init (&argc, &argv);
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    int log2n = 24, reps = 3;
    const char *mode = "all";
    static const struct option opts[] = {{"log2n", required_argument, NULL, 'n'},
                                         {"reps", required_argument, NULL, 'r'},
                                         {"mode", required_argument, NULL, 'm'},
                                         {"mem-mib", required_argument, NULL, 'M'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long (argc, argv, "n:r:m:M:", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            log2n = atoi (optarg);
            break;
        case 'r':
            reps = atoi (optarg);
            break;
        case 'm':
            mode = optarg;
            break;
        case 'M':
            mem_bytes = strtoull (optarg, NULL, 10) << 20;
            break;
        default:
            if (rank == 0)
                fprintf (stderr, "usage: loom-bench-join [--log2n N] [--reps R] "
                                 "[--mode throughput|skew|ratio|all] [--mem-mib M]\n");
            MPI_Finalize ();
            return 2;
        }
    }
    if (log2n < 10 || log2n > 30 || reps < 1 || reps > MAXREPS
        || mem_bytes < (1u << 20)) {
        if (rank == 0)
            fprintf (stderr,
                     "loom-bench-join: --log2n 10..30, --reps 1..%d, --mem-mib >= 1\n",
                     MAXREPS);
        MPI_Finalize ();
        return 2;
    }
    comm = loom_comm_create (MPI_COMM_WORLD, NULL, NULL);
    if (!comm)
        MPI_Abort (MPI_COMM_WORLD, 1);
    uint64_t n = 1ull << log2n;
    if (!strcmp (mode, "throughput") || !strcmp (mode, "all"))
        mode_throughput (n, reps);
    if (!strcmp (mode, "skew") || !strcmp (mode, "all"))
        mode_skew (n, reps);
    if (!strcmp (mode, "ratio") || !strcmp (mode, "all"))
        mode_ratio (n, reps);
    loom_comm_destroy (comm);
    MPI_Finalize ();
    return 0;
}
