/* SPDX-License-Identifier: MIT */
/* loom-bench-bcast: loom_bcast and loom_bcast_shared against MPI_Bcast, side by side
 * in one run, as JSON lines (one per size and repetition, then a summary per size
 * with medians of the ratios).
 *
 * Each repetition broadcasts from a freshly written root buffer into receive buffers
 * that were written (faulted in) beforehand: bandwidth, not page faults. Sizes start
 * at 64 MiB, twice the L3, so the data streams from DRAM.
 *
 * loom_bcast_shared keeps its node-shared window in the communicator and reuses it,
 * so the timed repetitions are the steady state (the repetition's window was
 * allocated by the untimed warm-up); the warm-up's time, which includes allocating
 * and faulting the window, is reported as shared_first_call_s. Node memory is summed
 * over the node's ranks from their proportional set sizes (Pss, /proc/self/smaps;
 * shared pages count once per node): all of the mappings holding the data while it
 * is held, plus whatever grew elsewhere during the call.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/clock.h>
#include <loom/comm.h>

static int rank, size;

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

/* The proportional set size (Pss) of this process, per mapping, from
 * /proc/self/smaps: shared pages count 1/n in each of the n processes mapping them,
 * so summing over a node's ranks counts every page once.
 */
struct vma {
    uintptr_t lo, hi;
    long pss_kb;
};

struct smaps {
    struct vma *v;
    size_t n;
    long total_kb;
};

static void smaps_read (struct smaps *m)
{
    m->n = 0;
    m->total_kb = 0;
    FILE *f = fopen ("/proc/self/smaps", "r");
    if (!f)
        return;
    char line[512];
    size_t cap = 0;
    while (fgets (line, sizeof (line), f)) {
        unsigned long lo, hi;
        long kb;
        if (sscanf (line, "%lx-%lx ", &lo, &hi) == 2 && strchr (line, '-')
            && line[0] != ' ') {
            if (m->n == cap) {
                cap = cap ? cap * 2 : 256;
                m->v = realloc (m->v, cap * sizeof (*m->v));
            }
            m->v[m->n++] = (struct vma){lo, hi, 0};
        } else if (m->n && sscanf (line, "Pss: %ld kB", &kb) == 1) {
            m->v[m->n - 1].pss_kb = kb;
            m->total_kb += kb;
        }
    }
    fclose (f);
}

/* Pss of the mappings that overlap [p, p + len). */
static long smaps_range (const struct smaps *m, const void *p, uint64_t len)
{
    uintptr_t lo = (uintptr_t)p, hi = lo + len;
    long kb = 0;
    for (size_t i = 0; i < m->n; i++)
        if (len && m->v[i].lo < hi && m->v[i].hi > lo)
            kb += m->v[i].pss_kb;
    return kb;
}

static long node_sum (loom_comm_t *c, long v)
{
    long s = 0;
    MPI_Allreduce (&v, &s, 1, MPI_LONG, MPI_SUM, loom_comm_node (c));
    return s;
}

static void die (const char *what, const loom_error_t *e)
{
    fprintf (stderr, "loom-bench-bcast: %s: %s\n", what, e->text);
    MPI_Abort (MPI_COMM_WORLD, 1);
}

static void check (const char *b, uint64_t len, int rep)
{
    for (uint64_t i = 0; i < len; i += 4093) {
        if (b[i] != (char)(i + (uint64_t)rep)) {
            fprintf (stderr, "loom-bench-bcast: rank %d: wrong byte at %llu\n", rank,
                     (unsigned long long)i);
            MPI_Abort (MPI_COMM_WORLD, 1);
        }
    }
}

static void fill (char *b, uint64_t len, int rep)
{
    for (uint64_t i = 0; i < len; i += 4093)
        b[i] = (char)(i + (uint64_t)rep);
}

int main (int argc, char **argv)
{
    static const struct option opts[] = {
        {"min", required_argument, NULL, 'a'},
        {"max", required_argument, NULL, 'b'},
        {"reps", required_argument, NULL, 'r'},
        {"shared", no_argument, NULL, 's'},
        {"chunk", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t lo = 64ull << 20, hi = 1ull << 30;
    int reps = 5, c, shared = 0;
    struct loom_bcast_params bp = LOOM_BCAST_PARAMS_INIT;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'a')
            lo = strtoull (optarg, NULL, 0);
        else if (c == 'b')
            hi = strtoull (optarg, NULL, 0);
        else if (c == 'r')
            reps = atoi (optarg);
        else if (c == 's')
            shared = 1;
        else if (c == 'c')
            bp.chunk_bytes = strtoull (optarg, NULL, 0);
        else {
            printf ("Usage: loom-bench-bcast [--min BYTES] [--max BYTES] [--reps N] "
                    "[--shared] [--chunk BYTES]\nRun under mpirun; sizes double from "
                    "min to max.\n--shared also measures loom_bcast_shared; --chunk "
                    "sets loom_bcast's chunk.\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (reps < 1 || lo < 1 || hi < lo) {
        fprintf (stderr, "loom-bench-bcast: bad --reps, --min or --max\n");
        return 2;
    }
    MPI_Init (&argc, &argv);
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    loom_error_t e = {{0}};
    loom_comm_t *comm = loom_comm_create (MPI_COMM_WORLD, NULL, &e);
    if (!comm)
        die ("comm", &e);
    for (uint64_t len = lo; len <= hi; len *= 2) {
        double *rl = calloc ((size_t)reps, sizeof (double));
        double *rs = calloc ((size_t)reps, sizeof (double));
        double *tl = calloc ((size_t)reps, sizeof (double));
        double *tm = calloc ((size_t)reps, sizeof (double));
        double *tsh = calloc ((size_t)reps, sizeof (double));
        long mem_mpi = 0, mem_shared = 0, mem_window = 0, mem_other = 0;
        double t_first = 0;
        struct smaps before = {0}, after = {0};
        char *buf = malloc (len);
        memset (buf, 0, len);
        /* One warm-up round (r = -1), not counted: first use sets up MPI's
         * shared-memory paths.
         */
        for (int r = -1; r < reps; r++) {
            double t[3] = {0, 0, 0};
            /* Alternate which goes first: neither always gets the warmer machine. */
            for (int k = 0; k < 2; k++) {
                int which = (k + r) % 2;
                if (rank == 0)
                    fill (buf, len, (r + 1) * 2 + which);
                MPI_Barrier (MPI_COMM_WORLD);
                double t0 = loom_clock_sec ();
                if (which == 0) {
                    for (uint64_t off = 0; off < len; off += 1u << 30) {
                        uint64_t n = len - off < (1u << 30) ? len - off : (1u << 30);
                        MPI_Bcast (buf + off, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
                    }
                } else if (loom_bcast (comm, buf, len, 0, &bp, &e) < 0) {
                    die ("loom_bcast", &e);
                }
                t[which] = tmax (loom_clock_sec () - t0);
                check (buf, len, (r + 1) * 2 + which);
            }
            if (shared) {
                if (rank == 0)
                    fill (buf, len, 7 + r);
                smaps_read (&before);
                MPI_Barrier (MPI_COMM_WORLD);
                double t0 = loom_clock_sec ();
                loom_shared_t *s = loom_bcast_shared (comm, buf, len, 0, NULL, &e);
                if (!s)
                    die ("loom_bcast_shared", &e);
                t[2] = tmax (loom_clock_sec () - t0);
                check (loom_shared_data (s), len, 7 + r);
                smaps_read (&after);
                /* Node memory held for the data: every page of the mappings that
                 * hold it (whether allocated now or by an earlier call that this one
                 * reused), plus whatever grew elsewhere during the call (staging).
                 */
                const void *d = loom_shared_data (s);
                long win_after = smaps_range (&after, d, len),
                     win_before = smaps_range (&before, d, len);
                long other =
                    (after.total_kb - win_after) - (before.total_kb - win_before);
                mem_window = node_sum (comm, win_after);
                mem_other = node_sum (comm, other);
                mem_shared = mem_window + mem_other;
                loom_shared_destroy (s);
                /* MPI_Bcast holds one private copy per rank: 'buf'. */
                mem_mpi = (long)(len / 1024) * loom_comm_node_size (comm);
                if (r < 0)
                    t_first = t[2];
            }
            if (r < 0)
                continue;
            tm[r] = t[0];
            tl[r] = t[1];
            tsh[r] = t[2];
            rl[r] = t[0] / t[1]; /* throughput ratio loom / MPI */
            rs[r] = shared ? t[0] / t[2] : 0;
            if (rank == 0)
                printf ("{\"bench\":\"bcast\",\"np\":%d,\"bytes\":%llu,\"rep\":%d,"
                        "\"mpi_bcast_s\":%.4f,\"loom_bcast_s\":%.4f,\"ratio\":%.3f%s",
                        size, (unsigned long long)len, r, t[0], t[1], rl[r],
                        shared ? "" : "}\n");
            if (rank == 0 && shared)
                printf (",\"loom_bcast_shared_s\":%.4f,\"shared_ratio\":%.3f,"
                        "\"node_mem_shared_MiB\":%.1f,\"node_mem_window_MiB\":%.1f,"
                        "\"node_mem_other_MiB\":%.1f,\"node_mem_shared_x_data\":%.3f,"
                        "\"node_mem_mpi_MiB\":%.1f}\n",
                        t[2], rs[r], mem_shared / 1024.0, mem_window / 1024.0,
                        mem_other / 1024.0, (double)mem_shared * 1024.0 / (double)len,
                        mem_mpi / 1024.0);
        }
        if (rank == 0) {
            double ml = median (tl, reps), mm = median (tm, reps);
            double mr = median (rl, reps);
            printf ("{\"bench\":\"bcast\",\"np\":%d,\"bytes\":%llu,\"summary\":true,"
                    "\"reps\":%d,\"median_ratio\":%.3f,\"loom_GBps\":%.3f,"
                    "\"mpi_GBps\":%.3f,\"target_ratio\":1.0,\"met\":%s",
                    size, (unsigned long long)len, reps, mr, (double)len / ml / 1e9,
                    (double)len / mm / 1e9, mr >= 1.0 ? "true" : "false");
            if (shared)
                printf (",\"median_shared_ratio\":%.3f,\"shared_GBps\":%.3f,"
                        "\"shared_first_call_s\":%.4f,\"node_mem_shared_x_data\":%.3f,"
                        "\"target_shared_ratio\":2.0,\"shared_met\":%s,"
                        "\"node_mem_met\":%s",
                        median (rs, reps), (double)len / median (tsh, reps) / 1e9,
                        t_first, (double)mem_shared * 1024.0 / (double)len,
                        median (rs, reps) >= 2.0 ? "true" : "false",
                        (double)mem_shared * 1024.0 <= 1.05 * (double)len ? "true"
                                                                          : "false");
            printf ("}\n");
        }
        fflush (stdout);
        free (buf);
        free (rl);
        free (rs);
        free (tl);
        free (tm);
        free (tsh);
        free (before.v);
        free (after.v);
    }
    loom_comm_destroy (comm);
    MPI_Finalize ();
    return 0;
}
