/* SPDX-License-Identifier: MIT */
/* loom-bench-pregel: Pregel PageRank (or CC) against the single-threaded baseline,
 * side by side in one run, on an R-MAT graph.
 *
 *   mpirun -np 2 loom-bench-pregel --scale 20 --iterations 10 --repeat 5
 *   mpirun -np 2 loom-bench-pregel --algo cc --scale 20
 *   mpirun -np 2 loom-bench-pregel --input rmat20 ...   (also times the dataset load)
 *
 * Each repeat runs the baseline on rank 0 alone (the other ranks sleep, they do not
 * spin) and then Pregel on all ranks, and prints one JSON line; the last line has the
 * medians of the per-repeat ratios. The machine may be shared: ratios of runs taken
 * back to back are steadier than absolute times, hence medians of ratios.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <loom/clock.h>
#include <loom/error.h>
#include <loom/pregel.h>

#include "algos.h"
#include "baseline.h"

static int rank, size;

/* A barrier that sleeps: ranks waiting for the baseline must not take a core. */
static void sleepy_barrier (void)
{
    MPI_Request req;
    int done = 0;
    MPI_Ibarrier (MPI_COMM_WORLD, &req);
    while (!done) {
        MPI_Test (&req, &done, MPI_STATUS_IGNORE);
        if (!done)
            nanosleep (&(struct timespec){0, 200000}, NULL);
    }
}

/* CPU time of this process: on a machine shared with other jobs it counts only the
 * time we actually ran, where wall time also counts waiting for a core.
 */
static double cpu_sec (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median (double *v, int n)
{
    qsort (v, (size_t)n, sizeof (double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die (const char *what, const loom_error_t *err)
{
    fprintf (stderr, "loom-bench-pregel: %s: %s\n", what, err ? err->text : "failed");
    MPI_Abort (MPI_COMM_WORLD, 1);
}

int main (int argc, char **argv)
{
    static const struct option longopts[] = {
        {"scale", required_argument, NULL, 's'},
        {"edgefactor", required_argument, NULL, 'e'},
        {"seed", required_argument, NULL, 'S'},
        {"iterations", required_argument, NULL, 'i'},
        {"repeat", required_argument, NULL, 'r'},
        {"algo", required_argument, NULL, 'a'},
        {"input", required_argument, NULL, 'I'},
        {"partition", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    unsigned scale = 16, ef = 16;
    uint64_t seed = 1;
    int iters = 10, repeat = 3, cc = 0, c;
    const char *input = NULL;
    struct loom_pregel_graph_params gp = LOOM_PREGEL_GRAPH_PARAMS_INIT;
    MPI_Init (&argc, &argv);
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            scale = (unsigned)atoi (optarg);
            break;
        case 'e':
            ef = (unsigned)atoi (optarg);
            break;
        case 'S':
            seed = strtoull (optarg, NULL, 0);
            break;
        case 'i':
            iters = atoi (optarg);
            break;
        case 'r':
            repeat = atoi (optarg);
            break;
        case 'a':
            cc = strcmp (optarg, "cc") == 0;
            break;
        case 'I':
            input = optarg;
            break;
        case 'p':
            gp.partition = strcmp (optarg, "range") == 0 ? LOOM_PREGEL_PART_RANGE
                                                         : LOOM_PREGEL_PART_HASH;
            break;
        default:
            if (rank == 0)
                printf (
                    "Usage: mpirun -np N loom-bench-pregel [--algo pagerank|cc] "
                    "[--scale S] [--edgefactor F] [--seed X] [--iterations K] "
                    "[--repeat R] [--input EDGE_DATASET] [--partition hash|range]\n");
            MPI_Finalize ();
            return c == 'h' ? 0 : 2;
        }
    }
    if (repeat < 1 || iters < 1 || scale < 1 || scale > 30)
        die ("options", NULL);
    struct loom_pregel_gen_params p = LOOM_PREGEL_GEN_PARAMS_INIT;
    p.scale = scale;
    p.edgefactor = ef;
    p.seed = seed;
    loom_error_t err;
    uint64_t M = loom_pregel_gen_num_edges (&p);
    /* Rank 0 holds every edge for the baseline; each rank its slice for Pregel. */
    uint64_t *asrc = NULL, *adst = NULL;
    if (rank == 0) {
        asrc = malloc (M * 8);
        adst = malloc (M * 8);
        if (!asrc || !adst
            || loom_pregel_gen_edges (&p, 0, M, asrc, adst, NULL, &err) < 0)
            die ("generate", &err);
    }
    uint64_t first = M * (uint64_t)rank / (uint64_t)size;
    uint64_t last = M * (uint64_t)(rank + 1) / (uint64_t)size;
    uint64_t *src = malloc ((last - first + 1) * 8),
             *dst = malloc ((last - first + 1) * 8);
    if (!src || !dst
        || loom_pregel_gen_edges (&p, first, last - first, src, dst, NULL, &err) < 0)
        die ("generate", &err);
    if (cc)
        gp.flags |= LOOM_PREGEL_SYMMETRIC;

    double *ratios = calloc ((size_t)repeat, sizeof (double));
    double *cpu_ratios = calloc ((size_t)repeat, sizeof (double));
    double *b_iter = calloc ((size_t)repeat, sizeof (double));
    double *p_iter = calloc ((size_t)repeat, sizeof (double));
    for (int r = 0; r < repeat; r++) {
        /* 1. Baseline, rank 0 alone. */
        double base_build = 0, base_time = 0, base_cpu = 0;
        uint64_t base_cc = 0;
        if (rank == 0) {
            if (cc) {
                double t0 = loom_clock_sec (), c0 = cpu_sec ();
                base_cc = baseline_cc (scale, M, asrc, adst);
                base_time = loom_clock_sec () - t0;
                base_cpu = cpu_sec () - c0;
            } else {
                struct baseline_graph bg;
                double t0 = loom_clock_sec ();
                if (baseline_build (&bg, scale, M, asrc, adst) < 0)
                    die ("baseline build", NULL);
                double t1 = loom_clock_sec (), c1 = cpu_sec ();
                for (int i = 0; i < iters; i++)
                    baseline_iterate (&bg, 0.85);
                base_time = (loom_clock_sec () - t1) / iters;
                base_cpu = (cpu_sec () - c1) / iters;
                base_build = t1 - t0;
                baseline_free (&bg);
            }
        }
        sleepy_barrier ();

        /* 2. Pregel on every rank. */
        double t0 = loom_clock_sec ();
        loom_pregel_graph_t *g =
            input ? loom_pregel_graph_load (MPI_COMM_WORLD, input, &gp, &err)
                  : loom_pregel_graph_from_edges (MPI_COMM_WORLD, last - first, src,
                                                  dst, NULL, &gp, &err);
        if (!g)
            die ("graph", &err);
        double load = loom_clock_sec () - t0;
        struct loom_pregel_program prog;
        struct algo_pagerank pr = {.damping = 0.85, .iterations = (uint64_t)iters};
        if (cc)
            algo_cc_program (&prog);
        else
            algo_pagerank_program (&prog, &pr);
        loom_pregel_t *job = loom_pregel_create (g, &prog, NULL, &err);
        if (!job || (!cc && algo_pagerank_setup (job, &pr, &err) < 0))
            die ("job", &err);
        MPI_Barrier (MPI_COMM_WORLD);
        double t1 = loom_clock_sec (), c1 = cpu_sec ();
        if (loom_pregel_run (job, &err) < 0)
            die ("run", &err);
        double run = loom_clock_sec () - t1, run_max = 0;
        double cpu = cpu_sec () - c1, cpu_max = 0;
        MPI_Allreduce (&run, &run_max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        MPI_Allreduce (&cpu, &cpu_max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        struct loom_pregel_stats st;
        loom_pregel_stats (job, &st);
        struct loom_pregel_graph_info info;
        loom_pregel_graph_info (g, &info);
        /* Per-rank phases: the slowest rank's compute, and the spread between ranks
         * (imbalance shows as waiting in the others' exchange).
         */
        double phase[2] = {st.compute_sec, -st.compute_sec}, phase_max[2];
        MPI_Allreduce (phase, phase_max, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        /* Memory: graph structure plus the job's per-vertex and per-slot arrays. */
        /* value + halt flag per vertex; outbox and inbox (message + flag) per slot;
         * broadcast message + flag per vertex and mirror.
         */
        uint64_t slots = info.local_vertices + info.ghosts;
        uint64_t bytes[2] = {info.bytes,
                             info.local_vertices * (8 + 1) + 2 * slots * (8 + 1)
                                 + (info.local_vertices + info.mirrors) * 9};
        uint64_t bytes_all[2];
        MPI_Allreduce (bytes, bytes_all, 2, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
        uint64_t ncc = 0, mine = 0;
        if (cc) {
            size_t n;
            const uint64_t *ids = loom_pregel_graph_ids (g, &n);
            const uint64_t *lab = loom_pregel_values (job);
            for (size_t i = 0; i < n; i++)
                mine += lab[i] == ids[i];
            MPI_Allreduce (&mine, &ncc, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
        }
        struct rusage ru;
        getrusage (RUSAGE_SELF, &ru);
        long rss = ru.ru_maxrss, rss_max = 0;
        MPI_Reduce (&rss, &rss_max, 1, MPI_LONG, MPI_MAX, 0, MPI_COMM_WORLD);
        if (rank == 0) {
            double per = cc ? run_max : run_max / iters;
            double per_cpu = cc ? cpu_max : cpu_max / iters;
            ratios[r] = per / base_time;
            cpu_ratios[r] = per_cpu / base_cpu;
            b_iter[r] = base_time;
            p_iter[r] = per;
            double edges = (double)info.edges;
            if (cc)
                printf (
                    "{\"bench\":\"pregel-cc\",\"np\":%d,\"scale\":%u,\"edges\":%.0f,"
                    "\"vertices\":%" PRIu64 ",\"repeat\":%d,\"unionfind_s\":%.4f,"
                    "\"pregel_s\":%.4f,\"ratio\":%.2f,\"supersteps\":%" PRIu64
                    ",\"components\":%" PRIu64 ",\"components_unionfind\":%" PRIu64
                    ",\"load_s\":%.3f,\"cpu_ratio\":%.2f}\n",
                    size, scale, edges, info.vertices, r, base_time, per, ratios[r],
                    st.supersteps, ncc, base_cc, load, cpu_ratios[r]);
            else
                printf ("{\"bench\":\"pregel-pagerank\",\"np\":%d,\"scale\":%u,"
                        "\"edges\":%.0f,\"vertices\":%" PRIu64 ",\"repeat\":%d,"
                        "\"baseline_iter_s\":%.5f,\"baseline_csr_build_s\":%.3f,"
                        "\"pregel_iter_s\":%.5f,\"ratio\":%.3f,"
                        "\"pregel_edges_per_s_per_core\":%.3g,"
                        "\"baseline_edges_per_s\":%.3g,\"load_s\":%.3f,\"load_from\":"
                        "\"%s\",\"graph_bytes_per_edge\":%.2f,"
                        "\"job_bytes_per_edge\":%.2f,\"max_rss_mib\":%.0f,"
                        "\"remote_bytes_per_iter\":%.0f,\"rank0_compute_s\":%.4f,"
                        "\"rank0_exchange_s\":%.4f,\"baseline_cpu_iter_s\":%.5f,"
                        "\"pregel_cpu_iter_s\":%.5f,\"cpu_ratio\":%.3f,"
                        "\"max_compute_s\":%.4f,\"min_compute_s\":%.4f}\n",
                        size, scale, edges, info.vertices, r, base_time, base_build,
                        per, ratios[r], edges / per / size, edges / base_time, load,
                        input ? "dataset" : "memory", (double)bytes_all[0] / edges,
                        (double)bytes_all[1] / edges, rss_max / 1024.0,
                        (double)st.remote_bytes / iters, st.compute_sec,
                        st.exchange_sec, base_cpu, per_cpu, cpu_ratios[r], phase_max[0],
                        -phase_max[1]);
            fflush (stdout);
        }
        loom_pregel_destroy (job);
        loom_pregel_graph_destroy (g);
    }
    if (rank == 0) {
        printf ("{\"bench\":\"pregel-%s\",\"np\":%d,\"scale\":%u,\"summary\":true,"
                "\"repeats\":%d,\"median_ratio\":%.3f,\"median_baseline_s\":%.5f,"
                "\"median_pregel_s\":%.5f,\"median_cpu_ratio\":%.3f}\n",
                cc ? "cc" : "pagerank", size, scale, repeat, median (ratios, repeat),
                median (b_iter, repeat), median (p_iter, repeat),
                median (cpu_ratios, repeat));
    }
    free (ratios);
    free (cpu_ratios);
    free (b_iter);
    free (p_iter);
    free (src);
    free (dst);
    free (asrc);
    free (adst);
    MPI_Finalize ();
    return 0;
}
