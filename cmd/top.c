/* SPDX-License-Identifier: MIT */
/* `loom top`: a live view of loomd: nodes and busy cores, the queue, DRF shares, and
 * the running tasks with CPU% and resident memory, refreshed every --interval seconds.
 *
 * loomd reports each task's cumulative CPU seconds and the time of the sample
 * (sched/loomd/top.c); CPU% is the difference between two samples over the time
 * between them, 100% being one busy core. So even the first frame (and --once) takes
 * two samples, min(--interval, 1 s) apart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "schedc.h"

enum { OPT_INTERVAL = 'i', OPT_ONCE = 'o' };

static const struct cmd_option options[] = {
    {"interval", 1, OPT_INTERVAL, "SEC", "Seconds between frames (default 2)"},
    {"once", 0, OPT_ONCE, NULL, "Print one frame and exit"},
    SCHEDC_OPTIONS,
    {NULL, 0, 0, NULL, NULL},
};

static void nap (double sec)
{
    struct timespec ts = {(time_t)sec, (long)((sec - (double)(time_t)sec) * 1e9)};
    while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
        ;
}

static double num (json_t *o, const char *key)
{
    return json_number_value (json_object_get (o, key));
}

static long long inum (json_t *o, const char *key)
{
    return (long long)json_integer_value (json_object_get (o, key));
}

static const char *str (json_t *o, const char *key)
{
    const char *s = json_string_value (json_object_get (o, key));
    return s ? s : "";
}

/* CPU% of each sampled task in 'cur': its CPU seconds since 'prev' over the time
 * between the samples, or since it started when it was not in 'prev'.
 */
static void add_cpu_pct (json_t *cur, json_t *prev)
{
    double dt = num (cur, "sample_sec") - num (prev, "sample_sec");
    size_t i, k;
    json_t *t, *p;
    json_array_foreach (json_object_get (cur, "tasks"), i, t)
    {
        if (!json_is_true (json_object_get (t, "sampled")))
            continue;
        double pct = -1;
        json_array_foreach (json_object_get (prev, "tasks"), k, p)
        {
            if (inum (p, "job") == inum (t, "job")
                && inum (p, "index") == inum (t, "index")
                && inum (p, "attempt") == inum (t, "attempt") && dt > 0) {
                pct = (num (t, "cpu_sec") - num (p, "cpu_sec")) / dt * 100.0;
                break;
            }
        }
        if (pct < 0 && num (t, "run_sec") > 0)
            pct = num (t, "cpu_sec") / num (t, "run_sec") * 100.0;
        json_object_set_new (t, "cpu_pct", json_real (pct < 0 ? 0.0 : pct));
    }
}

static const char *plural (long long n)
{
    return n == 1 ? "" : "s";
}

static void render (json_t *r)
{
    time_t now = (time_t)num (r, "time");
    struct tm tm;
    char when[64];
    gmtime_r (&now, &tm);
    strftime (when, sizeof (when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    json_t *ld = json_object_get (r, "loomd"), *tot = json_object_get (r, "total");
    json_t *fr = json_object_get (r, "free"), *q = json_object_get (r, "queue");
    printf ("loomd %lld on %s (%s)  %s\n", inum (ld, "pid"), str (ld, "node"),
            str (ld, "state_dir"), when);
    printf ("Cores: %lld total, %lld busy; memory: %lld MiB total, %lld MiB used\n",
            inum (tot, "cores"), inum (tot, "cores") - inum (fr, "cores"),
            inum (tot, "mem"), inum (tot, "mem") - inum (fr, "mem"));
    printf ("Queue: %lld pending task%s (%lld job%s), %lld waiting job%s, %lld running "
            "task%s\n\n",
            inum (q, "pending_tasks"), plural (inum (q, "pending_tasks")),
            inum (q, "pending_jobs"), plural (inum (q, "pending_jobs")),
            inum (q, "waiting_jobs"), plural (inum (q, "waiting_jobs")),
            inum (q, "running_tasks"), plural (inum (q, "running_tasks")));

    size_t i, k;
    json_t *n, *f, *u, *t;
    printf ("%-20s %-5s %6s %6s %10s %10s\n", "NODE", "STATE", "CORES", "BUSY",
            "MEM(MiB)", "FREE(MiB)");
    json_array_foreach (json_object_get (r, "nodes"), i, n)
        printf ("%-20s %-5s %6lld %6lld %10lld %10lld\n", str (n, "name"),
                str (n, "state"), inum (n, "cores"), inum (n, "busy_cores"),
                inum (n, "mem"), inum (n, "free_mem"));

    printf ("\n%-20s %6s %7s %6s %10s %8s\n", "FRAMEWORK/USER", "WEIGHT", "SHARE",
            "CORES", "MEM(MiB)", "PENDING");
    json_array_foreach (json_object_get (r, "frameworks"), i, f)
    {
        printf ("%-20s %6.2f %7.4f %6lld %10lld %8lld%s\n", str (f, "name"),
                num (f, "weight"), num (f, "share"),
                inum (json_object_get (f, "used"), "cores"),
                inum (json_object_get (f, "used"), "mem"),
                inum (json_object_get (f, "demand"), "tasks"),
                json_is_true (json_object_get (f, "active")) ? "" : " (gone)");
        json_array_foreach (json_object_get (f, "users"), k, u)
            printf ("  %-18s %6.2f %7.4f %6lld %10lld %8lld\n", str (u, "user"),
                    num (u, "weight"), num (u, "share"),
                    inum (json_object_get (u, "used"), "cores"),
                    inum (json_object_get (u, "used"), "mem"),
                    inum (json_object_get (u, "demand"), "tasks"));
    }

    printf ("\n%-12s %-10s %-16s %-16s %5s %-10s %5s %6s %9s %9s\n", "TASK", "USER",
            "NAME", "NODE", "CORES", "CPUS", "PROCS", "CPU%", "RSS(MiB)", "TIME");
    json_array_foreach (json_object_get (r, "tasks"), i, t)
    {
        char id[48], tm_s[32], cpu[16] = "-", rss[16] = "-", procs[16] = "-";
        snprintf (id, sizeof (id), "%lld.%lld", inum (t, "job"), inum (t, "index"));
        long long s = (long long)num (t, "run_sec");
        if (s >= 3600)
            snprintf (tm_s, sizeof (tm_s), "%lld:%02lld:%02lld", s / 3600, s / 60 % 60,
                      s % 60);
        else
            snprintf (tm_s, sizeof (tm_s), "%lld:%02lld", s / 60, s % 60);
        if (json_is_true (json_object_get (t, "sampled"))) {
            snprintf (cpu, sizeof (cpu), "%.1f", num (t, "cpu_pct"));
            snprintf (rss, sizeof (rss), "%.1f", (double)inum (t, "rss_kib") / 1024.0);
            snprintf (procs, sizeof (procs), "%lld", inum (t, "nprocs"));
        }
        printf ("%-12s %-10s %-16.16s %-16.16s %5lld %-10s %5s %6s %9s %9s\n", id,
                str (t, "user"), str (t, "name"), str (t, "node"), inum (t, "cores"),
                str (t, "cpus"), procs, cpu, rss, tm_s);
    }
}

static int top_main (const struct cmd *cmd, int argc, char **argv)
{
    const char *dir = NULL, *arg;
    int json = 0, once = 0, c;
    double interval = 2.0;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        if (c == SCHEDC_OPT_DIR) {
            dir = arg;
        } else if (c == SCHEDC_OPT_JSON) {
            json = 1;
        } else if (c == OPT_ONCE) {
            once = 1;
        } else if (c == OPT_INTERVAL) {
            char *end;
            errno = 0;
            interval = strtod (arg, &end);
            if (errno || end == arg || *end || !(interval >= 0.05 && interval <= 86400))
                return cmd_error (cmd,
                                  "--interval must be a number of seconds from 0.05 to "
                                  "86400, not '%s'",
                                  arg);
        } else {
            return 1;
        }
    }
    if (optind < argc)
        return cmd_error (cmd, "unexpected argument '%s'", argv[optind]);
    int tty = isatty (STDOUT_FILENO);
    json_t *prev = NULL, *cur = NULL;
    if (schedc_call (cmd, dir, json_pack ("{s:s}", "op", "top"), &prev, NULL))
        return 1;
    nap (interval < 1.0 ? interval : 1.0);
    for (;;) {
        if (schedc_call (cmd, dir, json_pack ("{s:s}", "op", "top"), &cur, NULL)) {
            json_decref (prev);
            return 1;
        }
        add_cpu_pct (cur, prev);
        if (json) {
            json_object_del (cur, "ok");
            json_dumpf (cur, stdout, once ? JSON_INDENT (2) : JSON_COMPACT);
            fputc ('\n', stdout);
        } else {
            if (tty && !once)
                fputs ("\033[H\033[2J", stdout); /* home, clear: redraw in place */
            else if (prev && !once && json_object_get (prev, "tasks_shown"))
                fputc ('\n', stdout);
            render (cur);
        }
        fflush (stdout);
        json_decref (prev);
        prev = cur;
        json_object_set_new (prev, "tasks_shown", json_true ());
        if (once)
            break;
        nap (interval);
    }
    json_decref (prev);
    return 0;
}

const struct cmd cmd_top = {
    .name = "top",
    .usage = "[--interval SEC] [--once] [--json]",
    .summary =
        "Live view of loomd: nodes, busy cores, tasks' CPU% and RSS, queue, shares",
    .fn = top_main,
    .options = options,
    .description =
        "Refreshes every --interval seconds (default 2) until interrupted; --once\n"
        "prints one frame and exits, --json prints loomd's report (one JSON document\n"
        "per frame) with each task's cpu_pct. CPU% is per task, 100 = one core busy;\n"
        "RSS adds up the task's processes and everything they started.",
};
