/* SPDX-License-Identifier: MIT */
/* loom-bench-sched-sim: the real policy core (DRF, queues, EASY backfill) on a
 * simulated cluster with simulated task durations and a simulated clock.
 *
 * Throughput: 10,000 nodes x 64 cores, 8 users, tasks of 1, 2, 4 or 8 cores with time
 * limits, kept backlogged at P pending tasks; one simulated task end at a time, then
 * the scheduler's pass. Reports decisions (task starts) per second of wall time spent
 * in the core (ends, submissions and passes) for each P, and the drop from the first
 * to the last P.
 *
 * Fairness (--fairness): two frameworks with demand vectors <1 core, 4 GiB> and
 * <3 cores, 1 GiB>, both backlogged; over a 60 s simulated window, the time-averaged
 * dominant share of each against the DRF ideal.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../sched/core.h"

#define SEC 1000000000ull

struct ev {
    uint64_t end;
    struct loom__task *t;
};

struct sim {
    uint64_t now;
    struct ev *h; /* min-heap of task ends */
    size_t n, cap;
    uint64_t started, submitted;
    uint64_t rng;
    uint64_t trail; /* hash of the decisions in order: same policy, same trail */
    loom__core_t *core;
    double mean_sec;
};

static uint64_t rnd (struct sim *s)
{
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

static double urand (struct sim *s)
{
    return (double)(rnd (s) >> 11) / 9007199254740992.0;
}

static void push (struct sim *s, uint64_t end, struct loom__task *t)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->h = realloc (s->h, s->cap * sizeof (*s->h));
    }
    size_t i = s->n++;
    while (i > 0 && s->h[(i - 1) / 2].end > end) {
        s->h[i] = s->h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->h[i] = (struct ev){end, t};
}

static struct ev pop (struct sim *s)
{
    struct ev top = s->h[0], last = s->h[--s->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, m = l;
        if (l >= s->n)
            break;
        if (l + 1 < s->n && s->h[l + 1].end < s->h[l].end)
            m = l + 1;
        if (s->h[m].end >= last.end)
            break;
        s->h[i] = s->h[m];
        i = m;
    }
    if (s->n)
        s->h[i] = last;
    return top;
}

static uint64_t op_now (void *arg)
{
    return ((struct sim *)arg)->now;
}

/* A task runs for an exponential time (mean mean_sec), under its time limit. */
static int op_start (void *arg, struct loom__task *t)
{
    struct sim *s = arg;
    double d = -log (1.0 - urand (s)) * s->mean_sec;
    uint64_t dur = (uint64_t)(d * 1e9) + SEC / 10;
    if (t->job->time_limit_ns && dur >= t->job->time_limit_ns)
        dur = t->job->time_limit_ns - 1;
    push (s, s->now + dur, t);
    s->started++;
    uint64_t h = t->job->id * 0x9E3779B97F4A7C15ull ^ ((uint64_t)t->pos << 32)
                 ^ t->alloc->parts[0].node ^ ((uint64_t)t->alloc->nparts << 24);
    s->trail = (s->trail ^ h) * 0x100000001B3ull;
    return 0;
}

static void op_kill (void *arg, struct loom__task *t, int sig)
{
    (void)arg;
    (void)t;
    (void)sig; /* durations stay under the limits: never called */
}

static const struct loom__core_ops ops = {
    .now = op_now, .start = op_start, .kill = op_kill};

static double clock_of (clockid_t id)
{
    struct timespec ts;
    clock_gettime (id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void submit (struct sim *s,
                    struct loom__fw *fw,
                    uint32_t uid,
                    uint32_t cores,
                    uint64_t mem,
                    uint64_t ntasks,
                    uint64_t limit)
{
    struct loom__range r = {1, (int64_t)ntasks, 1};
    struct loom__job_spec spec = {.fw = fw,
                                  .uid = uid,
                                  .nslots = 1,
                                  .cores_per_slot = cores,
                                  .mem_per_slot = mem,
                                  .time_limit_ns = limit,
                                  .ranges = &r,
                                  .nranges = 1};
    loom_error_t err;
    if (!loom__core_submit (s->core, &spec, &err)) {
        fprintf (stderr, "loom-bench-sched-sim: submit: %s\n", err.text);
        exit (1);
    }
    s->submitted += ntasks;
}

static void topup (struct sim *s, struct loom__fw *fw, uint64_t pending, int users)
{
    static const uint32_t sizes[] = {1, 2, 4, 8};
    const uint64_t batch = 64; /* the same job mix whatever the queue length */
    while (s->submitted - s->started < pending) {
        uint32_t cores = sizes[rnd (s) % 4];
        uint64_t limit = (uint64_t)((60 + rnd (s) % 540) * SEC);
        submit (s, fw, (uint32_t)(1000 + rnd (s) % (uint64_t)users), cores, 0, batch,
                limit);
    }
}

static int run_throughput (uint32_t nodes,
                           uint32_t cores,
                           uint64_t pending,
                           uint64_t decisions,
                           int users,
                           uint64_t seed,
                           double *rate)
{
    struct sim s;
    memset (&s, 0, sizeof (s));
    s.rng = seed * 2654435761u + 1;
    s.mean_sec = 60;
    s.core = loom__core_create (&ops, &s);
    for (uint32_t i = 0; i < nodes; i++) {
        char name[32];
        snprintf (name, sizeof (name), "n%u", i);
        loom__core_add_node (s.core, name, cores, 256 * 1024);
    }
    struct loom__fw *fw = loom__core_fw_add (s.core, "batch", LOOM__FW_BATCH, 1.0, 0);
    /* Warm up: fill the cluster and the queue. */
    do {
        topup (&s, fw, pending, users);
        loom__core_schedule (s.core);
    } while (s.core->free_cores > (uint64_t)nodes * cores / 100);
    topup (&s, fw, pending, users);
    uint64_t d0 = s.core->decisions, b0 = s.core->backfilled;
    /* CPU time is the measure (the machine is shared and noisy); wall time is shown. */
    double t0 = clock_of (CLOCK_PROCESS_CPUTIME_ID), w0 = clock_of (CLOCK_MONOTONIC);
    while (s.core->decisions - d0 < decisions && s.n > 0) {
        struct ev e = pop (&s);
        s.now = e.end;
        loom__core_task_exited (s.core, e.t, 0, 0);
        topup (&s, fw, pending, users);
        loom__core_schedule (s.core);
    }
    double sec = clock_of (CLOCK_PROCESS_CPUTIME_ID) - t0;
    double wsec = clock_of (CLOCK_MONOTONIC) - w0;
    uint64_t made = s.core->decisions - d0;
    *rate = (double)made / sec;
    printf (
        "{\"bench\":\"sched-sim\",\"nodes\":%u,\"cores_per_node\":%u,\"pending\":%llu,"
        "\"running\":%llu,\"decisions\":%llu,\"backfilled\":%llu,\"cpu_sec\":%.3f,"
        "\"wall_sec\":%.3f,\"decisions_per_sec\":%.0f,\"sim_sec\":%.1f,"
        "\"trail\":\"%016llx\"}\n",
        nodes, cores, (unsigned long long)pending, (unsigned long long)s.core->nrunning,
        (unsigned long long)made, (unsigned long long)(s.core->backfilled - b0), sec,
        wsec, *rate, (double)s.now / 1e9, (unsigned long long)s.trail);
    fflush (stdout);
    loom__core_destroy (s.core);
    free (s.h);
    return 0;
}

/* Fairness: frameworks a <1 core, 4 GiB> and b <3 cores, 1 GiB>, weights wa and wb. */
static int run_fairness (uint32_t nodes, double wa, double wb, uint64_t seed)
{
    struct sim s;
    memset (&s, 0, sizeof (s));
    s.rng = seed * 2654435761u + 7;
    s.mean_sec = 2;
    s.core = loom__core_create (&ops, &s);
    const uint32_t cores = 64;
    const uint64_t mem = 128 * 1024; /* MiB per node */
    for (uint32_t i = 0; i < nodes; i++) {
        char name[32];
        snprintf (name, sizeof (name), "n%u", i);
        loom__core_add_node (s.core, name, cores, mem);
    }
    struct loom__fw *a = loom__core_fw_add (s.core, "a", LOOM__FW_BATCH, wa, 0);
    struct loom__fw *b = loom__core_fw_add (s.core, "b", LOOM__FW_BATCH, wb, 0);
    double C = (double)nodes * cores, M = (double)nodes * mem;
    double req[2][2] = {{1, 4096}, {3, 1024}}, w[2] = {wa, wb};
    /* DRF ideal (progressive filling): both weighted shares rise to s*, where the
     * first resource runs out.
     */
    double use_c = 0, use_m = 0;
    for (int f = 0; f < 2; f++) {
        double dom = fmax (req[f][0] / C, req[f][1] / M);
        use_c += w[f] / dom * req[f][0];
        use_m += w[f] / dom * req[f][1];
    }
    double sstar = fmin (C / use_c, M / use_m);
    double ideal[2] = {sstar * wa, sstar * wb}; /* unweighted dominant shares */
    double acc[2] = {0, 0}, span = 0;
    uint64_t warm = 10 * SEC, end = warm + 60 * SEC, last = 0;
    for (;;) {
        for (int f = 0; f < 2; f++) {
            struct loom__fw *fw = f ? b : a;
            struct loom__user *u = loom__core_user (s.core, fw, 1);
            if (u->pending < 20000)
                submit (&s, fw, 1, (uint32_t)req[f][0], (uint64_t)req[f][1], 20000, 0);
        }
        loom__core_schedule (s.core);
        if (s.n == 0)
            break;
        struct ev e = pop (&s);
        if (e.end > warm) {
            uint64_t from = last > warm ? last : warm, to = e.end < end ? e.end : end;
            if (to > from) {
                double dt = (double)(to - from) / 1e9;
                acc[0] += loom__core_fw_share (s.core, a) * wa * dt;
                acc[1] += loom__core_fw_share (s.core, b) * wb * dt;
                span += dt;
            }
        }
        last = e.end;
        if (e.end >= end)
            break;
        s.now = e.end;
        loom__core_task_exited (s.core, e.t, 0, 0);
    }
    int ok = 1;
    for (int f = 0; f < 2; f++) {
        double avg = acc[f] / span, dev = fabs (avg - ideal[f]) / ideal[f];
        ok &= dev <= 0.05;
        printf ("{\"bench\":\"sched-fairness\",\"framework\":\"%s\",\"demand\":\"<%g "
                "cores, %g "
                "MiB>\",\"weight\":%g,\"dominant_share\":%.4f,\"drf_ideal\":%.4f,"
                "\"deviation\":%.4f,\"window_sim_sec\":%.0f,\"target_met\":%s}\n",
                f ? "b" : "a", req[f][0], req[f][1], w[f], avg, ideal[f], dev, span,
                dev <= 0.05 ? "true" : "false");
    }
    loom__core_destroy (s.core);
    free (s.h);
    return ok ? 0 : 2;
}

static int cmp_double (const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

int main (int argc, char **argv)
{
    static const struct option longopts[] = {
        {"nodes", 1, NULL, 'n'},    {"cores", 1, NULL, 'c'},
        {"pending", 1, NULL, 'p'},  {"decisions", 1, NULL, 'd'},
        {"repeat", 1, NULL, 'r'},   {"users", 1, NULL, 'u'},
        {"fairness", 0, NULL, 'f'}, {"weights", 1, NULL, 'w'},
        {"help", 0, NULL, 'h'},     {NULL, 0, NULL, 0},
    };
    uint32_t nodes = 10000, cores = 64;
    uint64_t decisions = 200000;
    int repeat = 3, users = 8, fair = 0, c;
    double wa = 1, wb = 1;
    char *plist = strdup ("1000,4000,16000,64000");
    while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            nodes = (uint32_t)atoi (optarg);
            break;
        case 'c':
            cores = (uint32_t)atoi (optarg);
            break;
        case 'p':
            free (plist);
            plist = strdup (optarg);
            break;
        case 'd':
            decisions = strtoull (optarg, NULL, 10);
            break;
        case 'r':
            repeat = atoi (optarg);
            break;
        case 'u':
            users = atoi (optarg);
            break;
        case 'f':
            fair = 1;
            break;
        case 'w':
            if (sscanf (optarg, "%lf,%lf", &wa, &wb) != 2 || wa <= 0 || wb <= 0) {
                fprintf (stderr, "loom-bench-sched-sim: --weights A,B (positive)\n");
                return 1;
            }
            break;
        default:
            printf (
                "Usage: loom-bench-sched-sim [--nodes N] [--cores C] [--pending "
                "P1,P2,...] [--decisions D] [--repeat R] [--users U]\n"
                "       loom-bench-sched-sim --fairness [--nodes N] [--weights A,B]\n");
            return c == 'h' ? 0 : 1;
        }
    }
    if (nodes == 0 || cores == 0 || cores > 4096 || repeat < 1 || users < 1) {
        fprintf (stderr, "loom-bench-sched-sim: bad parameters\n");
        return 1;
    }
    if (fair) {
        free (plist);
        return run_fairness (nodes == 10000 ? 100 : nodes, wa, wb, 1);
    }
    double first = 0, lastr = 0;
    int k = 0;
    for (char *save = NULL, *tok = strtok_r (plist, ",", &save); tok;
         tok = strtok_r (NULL, ",", &save), k++) {
        uint64_t p = strtoull (tok, NULL, 10);
        double *r = calloc ((size_t)repeat, sizeof (double));
        for (int i = 0; i < repeat; i++)
            run_throughput (nodes, cores, p, decisions, users, (uint64_t)i + 1, &r[i]);
        qsort (r, (size_t)repeat, sizeof (double), cmp_double);
        double med = r[repeat / 2];
        printf ("{\"bench\":\"sched-sim-median\",\"pending\":%llu,\"repeats\":%d,"
                "\"decisions_per_sec\":%.0f}\n",
                (unsigned long long)p, repeat, med);
        if (k == 0)
            first = med;
        lastr = med;
        free (r);
    }
    printf ("{\"bench\":\"sched-sim-summary\",\"first_to_last_drop\":%.3f,"
            "\"target_rate_met\":%s,\"target_flat_met\":%s}\n",
            first > 0 ? 1.0 - lastr / first : 0.0, lastr >= 100000 ? "true" : "false",
            first > 0 && 1.0 - lastr / first <= 0.10 ? "true" : "false");
    free (plist);
    return 0;
}
