/* SPDX-License-Identifier: MIT */
/* loom-bench-launch: wall time from exec of `loom launch -n N loom-hello` until it
 * exits (MPI_Init..MPI_Finalize on every rank), against `mpirun -np N` running the
 * same program, run alternately in the same process, medians of --runs runs each.
 * Also with OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader for both launchers. A third
 * column runs mpirun with the fabric exclusions loom launch applies on nodes without
 * fabric hardware, to show what the launcher itself saves.
 *
 * Prints one JSON line per (N, transport) and a table on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The component exclusions loom launch applies on a node without fabric hardware
 * (launcher/fabric.c), for the "mpirun with the same settings" column.
 */
static const char *const fabric_env[][2] = {
    {"OMPI_MCA_pml", "^ucx"},
    {"OMPI_MCA_btl", "^openib,ofi"},
    {"OMPI_MCA_mtl", "^ofi,psm,psm2"},
    {"OMPI_MCA_osc", "^ucx"},
};

/* Run argv with output to /dev/null (with the fabric exclusions when 'fabric');
 * returns its wall time in ms, or -1 if it failed.
 */
static double run_once (char **argv, int fabric)
{
    double t0 = now_ms ();
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open ("/dev/null", O_RDWR);
        dup2 (fd, 0);
        dup2 (fd, 1);
        for (size_t i = 0; fabric && i < sizeof (fabric_env) / sizeof (fabric_env[0]);
             i++)
            setenv (fabric_env[i][0], fabric_env[i][1], 0);
        execvp (argv[0], argv);
        _exit (127);
    }
    int status;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    double t = now_ms () - t0;
    return WIFEXITED (status) && WEXITSTATUS (status) == 0 ? t : -1;
}

static int cmp (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median (double *v, int n)
{
    qsort (v, (size_t)n, sizeof (double), cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Path of 'prog' beside this benchmark (the build's bin/ or the install's bindir). */
static char *beside (const char *prog)
{
    char self[PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", self, sizeof (self) - 1);
    if (n <= 0)
        return strdup (prog);
    self[n] = '\0';
    char *slash = strrchr (self, '/');
    char *p;
    if (!slash || asprintf (&p, "%.*s/%s", (int)(slash - self), self, prog) < 0)
        return strdup (prog);
    if (access (p, X_OK) != 0) {
        free (p);
        return strdup (prog);
    }
    return p;
}

int main (int argc, char **argv)
{
    static const struct option longopts[] = {
        {"runs", required_argument, NULL, 'r'},
        {"np", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int runs = 10, nps[8] = {1, 2, 4}, nnp = 3, c;
    while ((c = getopt_long (argc, argv, "r:n:h", longopts, NULL)) != -1) {
        if (c == 'r') {
            runs = atoi (optarg);
        } else if (c == 'n') {
            nnp = 0;
            for (char *s = optarg, *save = NULL, *tok; (tok = strtok_r (s, ",", &save));
                 s = NULL)
                if (nnp < 8)
                    nps[nnp++] = atoi (tok);
        } else {
            printf (
                "Usage: loom-bench launch [--runs R] [--np 1,2,4]\n"
                "Median wall time of `loom launch -n N loom-hello` vs `mpirun -np N "
                "loom-hello`,\nalternating, R runs each (default 10), default "
                "transports and ob1/vader.\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (runs < 1 || nnp < 1)
        return 2;
    char *loom = beside ("loom"), *hello = beside ("loom-hello");
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    setenv ("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    fprintf (stderr, "%-4s %-10s %12s %12s %7s %14s %7s\n", "N", "transport",
             "loom (ms)", "mpirun (ms)", "ratio", "mpirun+excl", "ratio");
    for (int t = 0; t < 2; t++) {
        if (t == 1) {
            setenv ("OMPI_MCA_pml", "ob1", 1);
            setenv ("OMPI_MCA_btl", "self,vader", 1);
        }
        const char *tname = t ? "ob1-vader" : "default";
        for (int i = 0; i < nnp; i++) {
            int np = nps[i];
            char nbuf[16];
            snprintf (nbuf, sizeof (nbuf), "%d", np);
            int over = np > cores;
            /* Both launchers get the same oversubscription settings. */
            if (over)
                setenv ("OMPI_MCA_mpi_yield_when_idle", "1", 1);
            else
                unsetenv ("OMPI_MCA_mpi_yield_when_idle");
            char *largv[8], *margv[8];
            int kl = 0, km = 0;
            largv[kl++] = loom;
            largv[kl++] = "launch";
            largv[kl++] = "-n";
            largv[kl++] = nbuf;
            margv[km++] = "mpirun";
            margv[km++] = "-np";
            margv[km++] = nbuf;
            if (over) {
                largv[kl++] = "--oversubscribe";
                margv[km++] = "--oversubscribe";
            }
            largv[kl++] = margv[km++] = hello;
            largv[kl++] = margv[km++] = "--quiet";
            largv[kl] = margv[km] = NULL;
            double *tl = calloc ((size_t)runs, sizeof (double));
            double *tm = calloc ((size_t)runs, sizeof (double));
            double *tf = calloc ((size_t)runs, sizeof (double));
            if (!tl || !tm || !tf)
                return 1;
            for (int r = 0; r < runs; r++) {
                /* Alternate which goes first so drift hurts all alike. */
                if (r % 2 == 0) {
                    tl[r] = run_once (largv, 0);
                    tm[r] = run_once (margv, 0);
                    tf[r] = run_once (margv, 1);
                } else {
                    tf[r] = run_once (margv, 1);
                    tm[r] = run_once (margv, 0);
                    tl[r] = run_once (largv, 0);
                }
                if (tl[r] < 0 || tm[r] < 0 || tf[r] < 0) {
                    fprintf (stderr, "loom-bench-launch: a run failed (%s, N=%d)\n",
                             tl[r] < 0 ? "loom launch" : "mpirun", np);
                    return 1;
                }
            }
            double ml = median (tl, runs), mm = median (tm, runs),
                   mf = median (tf, runs);
            printf ("{\"bench\":\"launch\",\"np\":%d,\"transport\":\"%s\",\"runs\":%d,"
                    "\"loom_ms\":%.1f,\"mpirun_ms\":%.1f,\"ratio\":%.3f,"
                    "\"mpirun_fabric_excl_ms\":%.1f,\"ratio_vs_fabric_excl\":%.3f,"
                    "\"loom_min_ms\":%.1f,\"mpirun_min_ms\":%.1f}\n",
                    np, tname, runs, ml, mm, ml / mm, mf, ml / mf, tl[0], tm[0]);
            fflush (stdout);
            fprintf (stderr, "%-4d %-10s %12.1f %12.1f %7.3f %14.1f %7.3f\n", np, tname,
                     ml, mm, ml / mm, mf, ml / mf);
            free (tl);
            free (tm);
            free (tf);
        }
    }
    free (loom);
    free (hello);
    return 0;
}
