/* SPDX-License-Identifier: MIT */
/* loom-bench-shuffle: libcomm's shuffle against its baselines, side by side in one
 * run, as JSON lines (one per repetition, then a summary with medians).
 *
 *   --mode uniform  100-byte records (10-byte uniform keys), --bytes in total. libcomm
 *                   (partition + exchange + reading what arrived) against
 *                   MPI_Alltoall (counts) + MPI_Alltoallv over the same data already
 *                   partitioned + the same reading; and the single-process memcpy
 *                   bandwidth of the same volume.
 *                   Both sides then consume what they received the same way, inside
 *                   the timing: a checksum of every received key (sum_keys()),
 *                   libcomm's over the batches of loom_shuffle_next_batch(), the
 *                   baseline's over its receive buffer. Until 2026-12-08 libcomm's
 *                   side iterated every record (loom_shuffle_next) while the baseline
 *                   never read what it received; now both read the same bytes, and
 *                   the two checksums must agree on every rank (the run aborts if
 *                   not), which also checks that libcomm delivered exactly the records
 *                   MPI did.
 *   --mode combine  word-count records (Zipf(1.0) over --words words, u64 count):
 *                   bytes sent and time with the sum combiner and without.
 *   --mode spill    records generated on the fly: a budget of 1/8 of each rank's data
 *                   against an in-memory budget; throughput and peak RSS.
 *
 * Data is DRAM-resident (far above the L3) and freshly allocated per repetition for
 * both sides, so neither side measures a cache-resident buffer. libcomm maps its
 * large buffers with transparent huge pages advised (LOOM_COMM_HUGEPAGES=0 or
 * LOOM_HUGEPAGES=0 turns that off); --base-hugepages gives the baseline's receive
 * buffer the same, so the ratio can be read with equal page-fault costs on both sides
 * too.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <loom/clock.h>
#include <loom/comm.h>
#include <loom/hash.h>
#include <loom/hugemem.h>

#define RS 100 /* record size: 10-byte key + 90-byte payload */
#define KW 10

static int rank, size;
/* --base-hugepages: the baseline's receive buffer gets the huge-page treatment
 * libcomm gives its own large buffers (2 MiB-aligned mapping, MADV_HUGEPAGE), to
 * compare the two with equal page-fault costs.
 */
static int base_huge;

/* Whether libcomm advises huge pages: its switch read the way libcomm reads it
 * (LOOM_COMM_HUGEPAGES, else LOOM_HUGEPAGES; docs/hugepages.md).
 */
static bool comm_hugepages (void)
{
    static struct loom_hugemem m = LOOM_HUGEMEM_INIT ("LOOM_COMM_HUGEPAGES", 4u << 20);
    return loom_hugemem_advised (&m);
}
static long faults_loom, faults_base; /* minor page faults of the last run */
/* CPU seconds (user + sys, summed over the ranks) of the last run of each side: on a
 * loaded machine less noisy than wall time, which counts the time a rank waits for a
 * core.
 */
static double cpu_loom, cpu_base;
/* Each side's time to the end of the exchange, before reading what arrived (libcomm:
 * put + finish; baseline: Alltoall + Alltoallv): the literal comparison,
 * reported next to the timed-with-consumption one.
 */
static double xchg_loom, xchg_base;
/* Bytes libcomm's last run wrote straight into local peers (node-local direct path). */
static uint64_t direct_loom;

/* The consumption both sides get, timed: a sum over the received records of a mix of
 * their 10-byte keys. Order-independent, so libcomm's batches and MPI's receive buffer
 * give the same value when they hold the same records.
 */
static uint64_t sum_keys (const char *p, uint64_t n)
{
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++, p += RS) {
        uint64_t a;
        uint16_t b;
        memcpy (&a, p, 8);
        memcpy (&b, p + 8, 2);
        s += (a ^ ((uint64_t)b << 48)) * 0x9E3779B97F4A7C15ULL + b;
    }
    return s;
}

static double cpu_sec (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6
           + (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static double tsum (double t)
{
    double s;
    MPI_Allreduce (&t, &s, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return s;
}

static long minflt (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static uint64_t xs (uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void fill_records (char *p, uint64_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (uint64_t i = 0; i < n; i++, p += RS) {
        uint64_t a = xs (&s), b = xs (&s);
        memcpy (p, &a, 8);
        memcpy (p + 8, &b, 2);
        memset (p + KW, (int)(a & 0xff), RS - KW);
    }
}

/* The 1-minute load average: the machine is shared, so every summary says how busy
 * it was.
 */
static double loadavg (void)
{
    double l = -1;
    FILE *f = fopen ("/proc/loadavg", "r");
    if (f) {
        if (fscanf (f, "%lf", &l) != 1)
            l = -1;
        fclose (f);
    }
    return l;
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

/* Slowest rank's time: a collective is as fast as its last rank. */
static double tmax (double t)
{
    double m;
    MPI_Allreduce (&t, &m, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return m;
}

static void die (const char *what, const loom_error_t *e)
{
    fprintf (stderr, "loom-bench-shuffle: %s: %s\n", what, e->text);
    MPI_Abort (MPI_COMM_WORLD, 1);
}

/* Baseline: partition outside the timing, then time Alltoall + Alltoallv. */
static double
run_baseline (const char *in, uint64_t n, uint64_t *received, uint64_t *checksum)
{
    int *scnt = calloc ((size_t)size, sizeof (int)),
        *rcnt = calloc ((size_t)size, sizeof (int));
    int *sdis = calloc ((size_t)size, sizeof (int)),
        *rdis = calloc ((size_t)size, sizeof (int));
    int *dest = malloc (n * sizeof (int));
    for (uint64_t i = 0; i < n; i++) {
        dest[i] = (int)loom_hash_partition (in + i * RS, KW, 0, (uint32_t)size);
        scnt[dest[i]] += RS;
    }
    for (int r = 1; r < size; r++)
        sdis[r] = sdis[r - 1] + scnt[r - 1];
    char *sbuf = malloc (n * RS);
    int *pos = malloc (sizeof (int) * (size_t)size);
    memcpy (pos, sdis, sizeof (int) * (size_t)size);
    for (uint64_t i = 0; i < n; i++) {
        memcpy (sbuf + pos[dest[i]], in + i * RS, RS);
        pos[dest[i]] += RS;
    }
    free (dest);
    free (pos);
    MPI_Barrier (MPI_COMM_WORLD);
    long f0 = minflt ();
    double c0 = cpu_sec ();
    double t0 = loom_clock_sec ();
    MPI_Alltoall (scnt, 1, MPI_INT, rcnt, 1, MPI_INT, MPI_COMM_WORLD);
    uint64_t total = 0;
    for (int r = 0; r < size; r++) {
        rdis[r] = (int)total;
        total += (uint64_t)rcnt[r];
    }
    size_t rlen = total ? total : 1, maplen = 0;
    char *rbuf, *map = NULL;
    if (base_huge) {
        maplen = (rlen + (4u << 20) - 1) & ~(size_t)((2u << 20) - 1);
        map = mmap (NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                    -1, 0);
        if (map == MAP_FAILED) {
            perror ("loom-bench-shuffle: mmap");
            MPI_Abort (MPI_COMM_WORLD, 1);
        }
        rbuf =
            (char *)(((uintptr_t)map + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1));
        madvise (rbuf, maplen - (size_t)(rbuf - map), MADV_HUGEPAGE);
    } else {
        rbuf = malloc (rlen);
    }
    MPI_Alltoallv (sbuf, scnt, sdis, MPI_BYTE, rbuf, rcnt, rdis, MPI_BYTE,
                   MPI_COMM_WORLD);
    xchg_base = loom_clock_sec () - t0;
    *checksum = sum_keys (rbuf, total / RS);
    double t = loom_clock_sec () - t0;
    faults_base = minflt () - f0;
    cpu_base = cpu_sec () - c0;
    *received = total / RS;
    if (map)
        munmap (map, maplen);
    else
        free (rbuf);
    free (sbuf);
    free (scnt);
    free (rcnt);
    free (sdis);
    free (rdis);
    return t;
}

static double run_loom (loom_comm_t *comm,
                        const char *in,
                        uint64_t n,
                        uint64_t mem,
                        uint64_t batch,
                        uint64_t *received,
                        uint64_t *checksum)
{
    loom_error_t e = {{0}};
    struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
    p.key_width = KW;
    p.value_width = RS - KW;
    p.mem_bytes = mem;
    p.batch_bytes = batch;
    loom_shuffle_t *sh = loom_shuffle_create (comm, &p, &e);
    if (!sh)
        die ("create", &e);
    MPI_Barrier (MPI_COMM_WORLD);
    long f0 = minflt ();
    double c0 = cpu_sec ();
    double t0 = loom_clock_sec ();
    if (loom_shuffle_put_fixed (sh, in, n, &e) < 0)
        die ("put", &e);
    double t1 = loom_clock_sec ();
    if (loom_shuffle_finish (sh, &e) < 0)
        die ("finish", &e);
    double t2 = loom_clock_sec ();
    xchg_loom = t2 - t0;
    struct loom_batch b;
    uint64_t got = 0, sum = 0;
    int rc;
    while ((rc = loom_shuffle_next_batch (sh, &b, &e)) == 1) {
        sum += sum_keys (b.data, b.nrecords);
        got += b.nrecords;
    }
    if (rc < 0)
        die ("next_batch", &e);
    double t = loom_clock_sec () - t0;
    *checksum = sum;
    if (getenv ("LOOM_BENCH_PHASES"))
        fprintf (stderr, "rank %d: put %.3f s, finish %.3f s, iterate %.3f s\n", rank,
                 t1 - t0, t2 - t1, t0 + t - t2);
    faults_loom = minflt () - f0;
    cpu_loom = cpu_sec () - c0;
    struct loom_shuffle_stats st;
    loom_shuffle_stats (sh, &st);
    direct_loom = st.bytes_local_direct;
    *received = got;
    loom_shuffle_destroy (sh);
    return t;
}

static double run_memcpy (uint64_t bytes)
{
    char *a = malloc (bytes), *b = malloc (bytes);
    memset (a, 1, bytes);
    memset (b, 2, bytes); /* fault both in: this is bandwidth, not page faults */
    double t0 = loom_clock_sec ();
    memcpy (b, a, bytes);
    double t = loom_clock_sec () - t0;
    volatile char sink = b[bytes / 2];
    (void)sink;
    free (a);
    free (b);
    return t;
}

static void mode_uniform (loom_comm_t *comm, uint64_t total, int reps, uint64_t batch)
{
    uint64_t n = total / RS / (uint64_t)size;
    double *ratio = calloc ((size_t)reps, sizeof (double));
    double *tl = calloc ((size_t)reps, sizeof (double));
    double *tb = calloc ((size_t)reps, sizeof (double));
    double *tm = calloc ((size_t)reps, sizeof (double));
    double *cratio = calloc ((size_t)reps, sizeof (double));
    double *xratio = calloc ((size_t)reps, sizeof (double));
    double load0 = loadavg ();
    for (int r = 0; r < reps; r++) {
        /* Fresh input each repetition, then the two sides in alternating order. */
        char *in = malloc (n * RS);
        fill_records (in, n, (uint64_t)rank * 1000 + (uint64_t)r);
        uint64_t got_l = 0, got_b = 0, sum_l = 0, sum_b = 0;
        double l, b;
        if (r % 2 == 0) {
            l = tmax (run_loom (comm, in, n, 4ull << 30, batch, &got_l, &sum_l));
            b = tmax (run_baseline (in, n, &got_b, &sum_b));
        } else {
            b = tmax (run_baseline (in, n, &got_b, &sum_b));
            l = tmax (run_loom (comm, in, n, 4ull << 30, batch, &got_l, &sum_l));
        }
        double xl = tmax (xchg_loom), xb = tmax (xchg_base);
        xratio[r] = xl / xb;
        free (in);
        if (got_l != got_b || sum_l != sum_b) {
            fprintf (stderr,
                     "loom-bench-shuffle: rank %d received %llu records (key checksum "
                     "%016llx), baseline %llu (%016llx)\n",
                     rank, (unsigned long long)got_l, (unsigned long long)sum_l,
                     (unsigned long long)got_b, (unsigned long long)sum_b);
            MPI_Abort (MPI_COMM_WORLD, 1);
        }
        double m = 0;
        if (rank == 0)
            m = run_memcpy (n * RS);
        tl[r] = l;
        tb[r] = b;
        tm[r] = m;
        ratio[r] = l / b;
        double cl = tsum (cpu_loom), cb = tsum (cpu_base);
        uint64_t direct = 0;
        MPI_Allreduce (&direct_loom, &direct, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
        cratio[r] = cl / cb;
        if (rank == 0)
            printf (
                "{\"bench\":\"shuffle\",\"mode\":\"uniform\",\"np\":%d,\"rep\":%d,"
                "\"bytes\":%llu,\"loom_s\":%.4f,\"alltoallv_s\":%.4f,\"ratio\":%.3f,"
                "\"loom_cpu_s\":%.4f,\"alltoallv_cpu_s\":%.4f,\"cpu_ratio\":%.3f,"
                "\"loom_GBps\":%.3f,\"memcpy_GBps\":%.3f,\"loom_faults\":%ld,"
                "\"alltoallv_faults\":%ld,\"local_direct_bytes\":%llu,"
                "\"loom_exchange_s\":%.4f,\"alltoallv_exchange_s\":%.4f,"
                "\"exchange_ratio\":%.3f}\n",
                size, r, (unsigned long long)(n * RS * (uint64_t)size), l, b, l / b, cl,
                cb, cl / cb, (double)(n * RS * (uint64_t)size) / l / 1e9,
                (double)(n * RS) / m / 1e9, faults_loom, faults_base,
                (unsigned long long)direct, xl, xb, xratio[r]);
    }
    double mr = median (ratio, reps), ml = median (tl, reps), mb = median (tb, reps);
    double mm = median (tm, reps), mc = median (cratio, reps);
    double mx = median (xratio, reps);
    double bytes = (double)(n * RS * (uint64_t)size);
    if (rank == 0)
        printf (
            "{\"bench\":\"shuffle\",\"mode\":\"uniform\",\"np\":%d,\"summary\":true,"
            "\"reps\":%d,\"median_ratio\":%.3f,\"median_cpu_ratio\":%.3f,"
            "\"median_exchange_ratio\":%.3f,"
            "\"median_loom_s\":%.4f,"
            "\"median_alltoallv_s\":%.4f,\"loom_GBps\":%.3f,\"alltoallv_GBps\":%.3f,"
            "\"memcpy_GBps\":%.3f,\"loom_vs_memcpy\":%.3f,\"batch\":%llu,"
            "\"hugepages\":%s,\"base_hugepages\":%s,\"load_start\":%.2f,\"load_end\":%."
            "2f,"
            "\"consume\":\"key_checksum\",\"target_ratio\":1.25,\"met\":%s}\n",
            size, reps, mr, mc, mx, ml, mb, bytes / ml / 1e9, bytes / mb / 1e9,
            (double)(n * RS) / mm / 1e9, (bytes / ml) / ((double)(n * RS) / mm),
            (unsigned long long)batch, comm_hugepages () ? "true" : "false",
            base_huge ? "true" : "false", load0, loadavg (),
            mr <= 1.25 ? "true" : "false");
    free (ratio);
    free (tl);
    free (tb);
    free (tm);
    free (cratio);
    free (xratio);
}

/* Zipf(1.0) over 'nw' words by inverse CDF. */
struct zipf {
    double *cdf;
    unsigned n;
};

static void zipf_init (struct zipf *z, unsigned n)
{
    z->n = n;
    z->cdf = malloc (sizeof (double) * n);
    double s = 0;
    for (unsigned i = 0; i < n; i++)
        s += 1.0 / (i + 1);
    double c = 0;
    for (unsigned i = 0; i < n; i++) {
        c += 1.0 / (i + 1) / s;
        z->cdf[i] = c;
    }
}

static unsigned zipf_draw (const struct zipf *z, uint64_t *s)
{
    double u = (double)(xs (s) >> 11) / 9007199254740992.0;
    unsigned lo = 0, hi = z->n - 1;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (z->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void
mode_combine (loom_comm_t *comm, uint64_t nwords_total, unsigned nw, int reps)
{
    struct zipf z;
    zipf_init (&z, nw);
    uint64_t n = nwords_total / (uint64_t)size;
    double *ratio = calloc ((size_t)reps, sizeof (double));
    double *tc = calloc ((size_t)reps, sizeof (double));
    double *tn = calloc ((size_t)reps, sizeof (double));
    for (int r = 0; r < reps; r++) {
        uint64_t bytes[2] = {0, 0}, delivered[2] = {0, 0};
        double t[2];
        for (int with = 0; with < 2; with++) {
            loom_error_t e = {{0}};
            struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
            p.value_width = 8;
            p.mem_bytes = 1ull << 30;
            p.combine = with ? LOOM_COMBINE_SUM_U64 : LOOM_COMBINE_NONE;
            loom_shuffle_t *sh = loom_shuffle_create (comm, &p, &e);
            if (!sh)
                die ("create", &e);
            uint64_t s = (uint64_t)rank * 7919 + (uint64_t)r + 1;
            MPI_Barrier (MPI_COMM_WORLD);
            double t0 = loom_clock_sec ();
            char key[16];
            uint64_t one = 1, sum = 0;
            for (uint64_t i = 0; i < n; i++) {
                int kl = snprintf (key, sizeof (key), "w%u", zipf_draw (&z, &s));
                if (loom_shuffle_put (sh, key, (size_t)kl, &one, 8, &e) < 0)
                    die ("put", &e);
            }
            if (loom_shuffle_finish (sh, &e) < 0)
                die ("finish", &e);
            struct loom_record rec;
            while (loom_shuffle_next (sh, &rec, &e) == 1) {
                uint64_t v;
                memcpy (&v, rec.value, 8);
                sum += v;
                delivered[with]++;
            }
            t[with] = tmax (loom_clock_sec () - t0);
            struct loom_shuffle_stats st;
            loom_shuffle_stats (sh, &st);
            MPI_Allreduce (&st.bytes_sent, &bytes[with], 1, MPI_UINT64_T, MPI_SUM,
                           MPI_COMM_WORLD);
            uint64_t all = 0;
            MPI_Allreduce (&sum, &all, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
            if (all != n * (uint64_t)size) {
                fprintf (stderr, "loom-bench-shuffle: counts sum to %llu, not %llu\n",
                         (unsigned long long)all, (unsigned long long)(n * size));
                MPI_Abort (MPI_COMM_WORLD, 1);
            }
            loom_shuffle_destroy (sh);
        }
        ratio[r] = (double)bytes[0] / (double)bytes[1];
        tn[r] = t[0];
        tc[r] = t[1];
        if (rank == 0)
            printf ("{\"bench\":\"shuffle\",\"mode\":\"combine\",\"np\":%d,\"rep\":%d,"
                    "\"words\":%llu,\"distinct\":%u,\"bytes_without\":%llu,"
                    "\"bytes_with\":%llu,\"bytes_ratio\":%.1f,\"time_without_s\":%.4f,"
                    "\"time_with_s\":%.4f}\n",
                    size, r, (unsigned long long)(n * (uint64_t)size), nw,
                    (unsigned long long)bytes[0], (unsigned long long)bytes[1],
                    ratio[r], t[0], t[1]);
    }
    double mr = median (ratio, reps);
    if (rank == 0)
        printf (
            "{\"bench\":\"shuffle\",\"mode\":\"combine\",\"np\":%d,\"summary\":true,"
            "\"reps\":%d,\"median_bytes_ratio\":%.1f,\"median_time_without_s\":%.4f,"
            "\"median_time_with_s\":%.4f,\"target_bytes_ratio\":10,\"met\":%s}\n",
            size, reps, mr, median (tn, reps), median (tc, reps),
            mr >= 10 ? "true" : "false");
    free (z.cdf);
    free (ratio);
    free (tc);
    free (tn);
}

/* Records generated in slices on the fly, so the input itself takes no memory. */
static double run_streamed (
    loom_comm_t *comm, uint64_t n, uint64_t mem, int rep, struct loom_shuffle_stats *st)
{
    enum { SLICE = 10000 };
    char *slice = malloc (SLICE * RS);
    loom_error_t e = {{0}};
    struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
    p.key_width = KW;
    p.value_width = RS - KW;
    p.mem_bytes = mem;
    loom_shuffle_t *sh = loom_shuffle_create (comm, &p, &e);
    if (!sh)
        die ("create", &e);
    MPI_Barrier (MPI_COMM_WORLD);
    double t0 = loom_clock_sec ();
    for (uint64_t i = 0; i < n; i += SLICE) {
        uint64_t m = n - i < SLICE ? n - i : SLICE;
        fill_records (slice, m, ((uint64_t)rank << 32) + i + (uint64_t)rep);
        if (loom_shuffle_put_fixed (sh, slice, m, &e) < 0)
            die ("put", &e);
    }
    double t1 = loom_clock_sec ();
    if (loom_shuffle_finish (sh, &e) < 0)
        die ("finish", &e);
    double t2 = loom_clock_sec ();
    struct loom_record rec;
    uint64_t got = 0, all = 0;
    while (loom_shuffle_next (sh, &rec, &e) == 1)
        got++;
    double t3 = loom_clock_sec ();
    if (getenv ("LOOM_BENCH_PHASES"))
        fprintf (stderr,
                 "rank %d budget %llu MiB: put %.3f s, finish %.3f s, iterate %.3f s\n",
                 rank, (unsigned long long)(mem >> 20), t1 - t0, t2 - t1, t3 - t2);
    double t = tmax (t3 - t0);
    loom_shuffle_stats (sh, st);
    loom_shuffle_destroy (sh);
    free (slice);
    MPI_Allreduce (&got, &all, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (all != n * (uint64_t)size) {
        fprintf (stderr, "loom-bench-shuffle: %llu records arrived, not %llu\n",
                 (unsigned long long)all, (unsigned long long)(n * (uint64_t)size));
        MPI_Abort (MPI_COMM_WORLD, 1);
    }
    return t;
}

static void mode_spill (loom_comm_t *comm, uint64_t total, int reps)
{
    uint64_t n = total / RS / (uint64_t)size;
    uint64_t per_rank = n * RS, budget = per_rank / 8;
    double *ratio = calloc ((size_t)reps, sizeof (double));
    double *ts = calloc ((size_t)reps, sizeof (double));
    double *tm = calloc ((size_t)reps, sizeof (double));
    struct loom_shuffle_stats st;
    long rss_kb = 0;
    /* Spilling runs first: ru_maxrss is the process's peak so far, so measured
     * before any in-memory run it is the spilling run's peak.
     */
    for (int r = 0; r < reps; r++)
        ts[r] = run_streamed (comm, n, budget, r, &st);
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    long my_rss = ru.ru_maxrss;
    MPI_Allreduce (&my_rss, &rss_kb, 1, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
    uint64_t spilled = 0;
    MPI_Allreduce (&st.spill_bytes_written, &spilled, 1, MPI_UINT64_T, MPI_SUM,
                   MPI_COMM_WORLD);
    for (int r = 0; r < reps; r++) {
        struct loom_shuffle_stats st2;
        tm[r] = run_streamed (comm, n, 4ull << 30, r, &st2);
        ratio[r] = tm[r] / ts[r]; /* throughput of spill / throughput in memory */
        if (rank == 0)
            printf ("{\"bench\":\"shuffle\",\"mode\":\"spill\",\"np\":%d,\"rep\":%d,"
                    "\"bytes\":%llu,\"budget\":%llu,\"spill_s\":%.4f,\"memory_s\":%.4f,"
                    "\"throughput_ratio\":%.3f}\n",
                    size, r, (unsigned long long)(per_rank * (uint64_t)size),
                    (unsigned long long)budget, ts[r], tm[r], ratio[r]);
    }
    double mr = median (ratio, reps);
    double rss_mib = (double)rss_kb / 1024.0, lim = (double)budget / 1048576.0 + 64;
    if (rank == 0)
        printf ("{\"bench\":\"shuffle\",\"mode\":\"spill\",\"np\":%d,\"summary\":true,"
                "\"reps\":%d,\"budget_MiB\":%.1f,\"spilled_bytes_per_run\":%llu,"
                "\"median_throughput_ratio\":%.3f,\"peak_rss_MiB\":%.1f,"
                "\"rss_limit_MiB\":%.1f,\"met\":%s}\n",
                size, reps, (double)budget / 1048576.0, (unsigned long long)spilled, mr,
                rss_mib, lim, (mr >= 0.5 && rss_mib <= lim) ? "true" : "false");
    free (ratio);
    free (ts);
    free (tm);
}

static void usage (FILE *f)
{
    fprintf (f, "Usage: loom-bench-shuffle [--mode uniform|combine|spill] [--bytes N]\n"
                "       [--words N] [--distinct N] [--reps N] [--batch N]\n"
                "       [--base-hugepages]\n"
                "Run under mpirun; prints JSON lines (rank 0).\n");
}

int main (int argc, char **argv)
{
    static const struct option opts[] = {
        {"mode", required_argument, NULL, 'm'},
        {"bytes", required_argument, NULL, 'b'},
        {"words", required_argument, NULL, 'w'},
        {"distinct", required_argument, NULL, 'd'},
        {"reps", required_argument, NULL, 'r'},
        {"batch", required_argument, NULL, 'B'},
        {"base-hugepages", no_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *mode = "uniform";
    uint64_t bytes = 1ull << 30, words = 20000000, batch = 32u << 20;
    unsigned distinct = 100000;
    int reps = 5, c;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            mode = optarg;
            break;
        case 'b':
            bytes = strtoull (optarg, NULL, 0);
            break;
        case 'w':
            words = strtoull (optarg, NULL, 0);
            break;
        case 'd':
            distinct = (unsigned)strtoul (optarg, NULL, 0);
            break;
        case 'r':
            reps = atoi (optarg);
            break;
        case 'B':
            batch = strtoull (optarg, NULL, 0);
            break;
        case 'H':
            base_huge = 1;
            break;
        case 'h':
            usage (stdout);
            return 0;
        default:
            usage (stderr);
            return 2;
        }
    }
    if (reps < 1 || distinct < 1 || bytes < RS * 64) {
        fprintf (stderr, "loom-bench-shuffle: bad --reps, --distinct or --bytes\n");
        return 2;
    }
    MPI_Init (&argc, &argv);
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    loom_error_t e = {{0}};
    loom_comm_t *comm = loom_comm_create (MPI_COMM_WORLD, NULL, &e);
    if (!comm)
        die ("comm", &e);
    int rc = 0;
    if (strcmp (mode, "uniform") == 0)
        mode_uniform (comm, bytes, reps, batch);
    else if (strcmp (mode, "combine") == 0)
        mode_combine (comm, words, distinct, reps);
    else if (strcmp (mode, "spill") == 0)
        mode_spill (comm, bytes, reps);
    else {
        if (rank == 0)
            fprintf (stderr, "loom-bench-shuffle: unknown --mode '%s'\n", mode);
        rc = 2;
    }
    loom_comm_destroy (comm);
    MPI_Finalize ();
    return rc;
}
