/* SPDX-License-Identifier: MIT */
/* loom-bench-sched-raw [--bind] N INFLIGHT CMD [ARGS]: the physical limit for running
 * N tasks, a minimal C loop of posix_spawn + waitpid keeping INFLIGHT tasks running.
 * With --bind, each task is pinned to one CPU (slot i to CPU i), as loomd pins its
 * tasks to the cores it grants, to tell pinning's effect from the scheduler's. Prints
 * one JSON line with the rate.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double wall (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main (int argc, char **argv)
{
    int bind = argc > 1 && strcmp (argv[1], "--bind") == 0;
    if (bind) {
        argv++;
        argc--;
    }
    if (argc < 4) {
        fprintf (stderr,
                 "Usage: loom-bench-sched-raw [--bind] N INFLIGHT CMD [ARGS]\n");
        return 1;
    }
    cpu_set_t all;
    sched_getaffinity (0, sizeof (all), &all);
    pid_t *slot = calloc ((size_t)atol (argv[2]) + 1, sizeof (pid_t));
    long n = atol (argv[1]), inflight = atol (argv[2]);
    if (n < 1 || inflight < 1) {
        fprintf (stderr, "loom-bench-sched-raw: N and INFLIGHT must be positive\n");
        return 1;
    }
    long started = 0, done = 0, failed = 0;
    double t0 = wall ();
    while (done < n) {
        while (started < n && started - done < inflight) {
            pid_t pid;
            long k = 0;
            while (slot[k])
                k++;
            if (bind) { /* the child inherits this thread's mask */
                cpu_set_t one;
                CPU_ZERO (&one);
                CPU_SET ((int)k, &one);
                sched_setaffinity (0, sizeof (one), &one);
            }
            if (posix_spawnp (&pid, argv[3], NULL, NULL, argv + 3, environ) != 0) {
                perror ("posix_spawn");
                return 1;
            }
            if (bind)
                sched_setaffinity (0, sizeof (all), &all);
            slot[k] = pid;
            started++;
        }
        int st;
        pid_t pid = wait (&st);
        if (pid > 0) {
            for (long k = 0; k < inflight; k++)
                if (slot[k] == pid)
                    slot[k] = 0;
            done++;
            failed += st != 0;
        }
    }
    double sec = wall () - t0;
    printf ("{\"bench\":\"sched-raw%s\",\"tasks\":%ld,\"inflight\":%ld,\"sec\":%.3f,"
            "\"tasks_per_sec\":%.0f,\"failed\":%ld}\n",
            bind ? "-bound" : "", n, inflight, sec, (double)n / sec, failed);
    free (slot);
    return failed ? 2 : 0;
}
