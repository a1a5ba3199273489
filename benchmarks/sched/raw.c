/* SPDX-License-Identifier: MIT */
/* loom-bench-sched-raw N INFLIGHT CMD [ARGS]: the physical limit for running N tasks,
 * a minimal C loop of posix_spawn + waitpid keeping INFLIGHT tasks running. Prints
 * one JSON line with the rate.
 */
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
    if (argc < 4) {
        fprintf (stderr, "Usage: loom-bench-sched-raw N INFLIGHT CMD [ARGS]\n");
        return 1;
    }
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
            if (posix_spawnp (&pid, argv[3], NULL, NULL, argv + 3, environ) != 0) {
                perror ("posix_spawn");
                return 1;
            }
            started++;
        }
        int st;
        if (wait (&st) > 0) {
            done++;
            failed += st != 0;
        }
    }
    double sec = wall () - t0;
    printf ("{\"bench\":\"sched-raw\",\"tasks\":%ld,\"inflight\":%ld,\"sec\":%.3f,"
            "\"tasks_per_sec\":%.0f,\"failed\":%ld}\n",
            n, inflight, sec, (double)n / sec, failed);
    return failed ? 2 : 0;
}
