/* SPDX-License-Identifier: MIT */
/* Starting tasks: the small launcher interface the policy core calls (start, kill)
 * and the reaping of their processes.
 *
 * A task of N slots runs N processes (an MPI task runs one mpirun over its N slots),
 * each in its own process group so a signal reaches its children, bound to exactly
 * the PUs of the cores it was granted, with stdout and stderr appended to files under
 * <state>/logs/<job>/ and stdin from /dev/null. Commands are argv arrays: no shell.
 *
 * Each process is started by the launcher's task API (loom_launch_task_start(),
 * launcher/task.c), which binds it to exactly the slot's PUs and, when loomd is root
 * and the user is not, switches to the user (setgid, initgroups, setuid) before exec.
 * This file keeps loomd's bookkeeping: argv and environment of each slot, output
 * capture, the pid table, and reaping by pid (never wait(-1): loom::launch reaps the
 * processes of its jobs itself).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <loom/launch.h>
#include <loom/log.h>

#include "loomd.h"

uint64_t loomd_boot_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_BOOTTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Start time of 'pid' in ms since boot, or 0 if it does not exist. */
static uint64_t proc_start_ms (pid_t pid)
{
    char path[64], buf[1024];
    snprintf (path, sizeof (path), "/proc/%d/stat", (int)pid);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read (fd, buf, sizeof (buf) - 1);
    close (fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr (buf, ')'); /* comm may hold spaces */
    if (!p)
        return 0;
    unsigned long long start = 0;
    /* fields after comm: state(3) ... starttime(22) */
    if (sscanf (p + 2,
                "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
                "%*d %*d %*d %llu",
                &start)
        != 1)
        return 0;
    return start * 1000 / (unsigned long long)sysconf (_SC_CLK_TCK);
}

int loomd_kill_stale (pid_t pid, uint64_t pstart)
{
    if (pid <= 0 || pstart == 0)
        return 0;
    uint64_t s = proc_start_ms (pid);
    /* Same process only if it started when we recorded (clock ticks are coarse). */
    if (s == 0 || (s > pstart ? s - pstart : pstart - s) > 1000)
        return 0;
    return loom_launch_task_kill (pid, SIGKILL) == 0;
}

static void pid_add (struct loomd *d, pid_t pid, struct loom__task *t)
{
    struct loomd_pid *p = malloc (sizeof (*p));
    if (!p)
        return;
    p->pid = pid;
    p->t = t;
    p->next = d->pids[pid % LOOMD_PID_BUCKETS];
    d->pids[pid % LOOMD_PID_BUCKETS] = p;
}

static struct loom__task *pid_take (struct loomd *d, pid_t pid)
{
    struct loomd_pid **pp = &d->pids[pid % LOOMD_PID_BUCKETS];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->pid == pid) {
            struct loomd_pid *p = *pp;
            struct loom__task *t = p->t;
            *pp = p->next;
            free (p);
            return t;
        }
    }
    return NULL;
}

char *
loomd_task_log (const struct loomd *d, const struct loom__task *t, const char *ext)
{
    char *path;
    if (asprintf (&path, "%s/%llu/%lld.%s", d->logdir, (unsigned long long)t->job->id,
                  (long long)t->index, ext)
        < 0)
        return NULL;
    return path;
}

/* The task's cores on this node as an hwloc bitmap of PUs (pus) or core indexes. */
static hwloc_bitmap_t
task_set (const struct loomd *d, const struct loom__task *t, int pus)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc ();
    if (!set || !t->alloc)
        return set;
    const struct loom__alloc_part *p = &t->alloc->parts[0];
    for (unsigned i = 0; i < d->ncores; i++) {
        if (!(p->mask[i / 64] >> (i % 64) & 1))
            continue;
        if (pus)
            hwloc_bitmap_or (set, set, d->core_pus[i]);
        else
            hwloc_bitmap_set (set, i);
    }
    return set;
}

struct loomd_node *loomd_node_of (const struct loomd *d, uint32_t idx)
{
    return d->core && idx < d->core->nnodes ? d->core->nodes[idx]->ext : NULL;
}

char *loomd_mask_list (const struct loomd_node *n, const uint64_t *mask, int pus)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc ();
    char *s = NULL;
    for (unsigned i = 0; set && n && i < n->ncores; i++) {
        if (!(mask[i / 64] >> (i % 64) & 1))
            continue;
        if (pus)
            hwloc_bitmap_or (set, set, n->core_pus[i]);
        else
            hwloc_bitmap_set (set, i);
    }
    if (set)
        hwloc_bitmap_list_asprintf (&s, set);
    hwloc_bitmap_free (set);
    return s;
}

/* The task's cores, on whatever node it runs (the PUs that node's agent reported). */
char *loomd_cores_list (const struct loomd *d, const struct loom__task *t, int pus)
{
    if (!t->alloc)
        return NULL;
    if (t->alloc->nparts > 1)
        return loomd_span_where ((struct loomd *)d, t, pus);
    const struct loom__alloc_part *p = &t->alloc->parts[0];
    return loomd_mask_list (loomd_node_of (d, p->node), p->mask, pus);
}

/* Runs with processes on this node, for reaping by pid. */
static void run_link (struct loomd *d, struct loomd_run *run)
{
    if (!d->runs.rnext)
        d->runs.rnext = d->runs.rprev = &d->runs;
    run->rnext = &d->runs;
    run->rprev = d->runs.rprev;
    d->runs.rprev->rnext = run;
    d->runs.rprev = run;
}

void loomd_run_free (struct loomd_run *run)
{
    if (!run)
        return;
    if (run->rnext) {
        run->rprev->rnext = run->rnext;
        run->rnext->rprev = run->rprev;
    }
    free (run);
}

/* argv with every "{}" replaced by the array index. */
static char **expand_argv (const struct loomd_job *x, const struct loom__task *t)
{
    size_t n = 0;
    while (x->argv[n])
        n++;
    char **v = calloc (n + 1, sizeof (*v));
    if (!v)
        return NULL;
    char idx[32];
    snprintf (idx, sizeof (idx), "%lld", (long long)t->index);
    for (size_t i = 0; i < n; i++) {
        const char *a = x->argv[i];
        size_t len = strlen (a), k = 0, cnt = 0;
        for (const char *p = a; (p = strstr (p, "{}")); p += 2)
            cnt++;
        char *out = malloc (len + cnt * strlen (idx) + 1);
        if (!out)
            goto error;
        for (const char *p = a; *p;) {
            if (p[0] == '{' && p[1] == '}') {
                memcpy (out + k, idx, strlen (idx));
                k += strlen (idx);
                p += 2;
            } else {
                out[k++] = *p++;
            }
        }
        out[k] = '\0';
        v[i] = out;
    }
    return v;
error:
    for (size_t i = 0; i < n; i++)
        free (v[i]);
    free (v);
    return NULL;
}

static void free_strv (char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free (v[i]);
    free (v);
}

/* The job's environment plus LOOM_JOB_ID, LOOM_ARRAY_INDEX, LOOM_CPUS, and LOOM_SLOT
 * and LOOM_NODE unless slot < 0 (a task on several nodes).
 */
static char **task_env (const struct loomd *d,
                        const struct loomd_job *x,
                        const struct loom__task *t,
                        const char *cpus,
                        int slot)
{
    size_t n = 0;
    while (x->env && x->env[n])
        n++;
    char **e = calloc (n + 7, sizeof (*e));
    if (!e)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp (x->env[i], "LOOM_JOB_ID=", 12)
            && strncmp (x->env[i], "LOOM_CPUS=", 10)
            && strncmp (x->env[i], "LOOM_ARRAY_INDEX=", 17)
            && strncmp (x->env[i], "LOOM_SLOT=", 10)
            && strncmp (x->env[i], "LOOM_NODE=", 10))
            e[k++] = strdup (x->env[i]);
    if (asprintf (&e[k++], "LOOM_JOB_ID=%llu", (unsigned long long)t->job->id) < 0
        || asprintf (&e[k++], "LOOM_ARRAY_INDEX=%lld", (long long)t->index) < 0
        || asprintf (&e[k++], "LOOM_CPUS=%s", cpus ? cpus : "") < 0
        || (slot >= 0 && asprintf (&e[k++], "LOOM_SLOT=%d", slot) < 0)
        || (slot >= 0 && asprintf (&e[k++], "LOOM_NODE=%s", d->node) < 0)) {
        free_strv (e);
        return NULL;
    }
    return e;
}

static int start_mpi (struct loomd *d,
                      struct loom__task *t,
                      struct loomd_run *run,
                      char **argv,
                      const char *cpus,
                      int outfd,
                      int errfd,
                      int *err);

int loomd_exec_start (struct loomd *d, struct loom__task *t)
{
    struct loom__job *j = t->job;
    struct loomd_job *x = j->ext;
    int spans = t->alloc && t->alloc->nparts > 1;
    int nprocs = x->mpi || spans ? 1 : (int)j->nslots;
    int outfd = -1, errfd = -1, rc = -1, e = 0;
    char **argv = NULL, *cpus = NULL;
    /* A task on several nodes has no cores of this node's (span.c). */
    hwloc_bitmap_t set = spans ? hwloc_bitmap_alloc () : task_set (d, t, 1);
    struct loomd_run *run = calloc (1, sizeof (*run) + (size_t)nprocs * sizeof (pid_t));
    if (run)
        run->logfd = -1;
    if (!set || !run || !(argv = expand_argv (x, t)))
        goto out;
    hwloc_bitmap_list_asprintf (&cpus, set);
    uid_t uid = j->uid;
    int as_user = d->uid == 0 && uid != 0;
    if (!loomd_out_open (d, t, 1, &run->out[0], &outfd)
        || !loomd_out_open (d, t, 2, &run->out[1], &errfd)) {
        e = errno;
        loom_warn ("loomd: task %llu.%lld: cannot capture its output: %s",
                   (unsigned long long)j->id, (long long)t->index, strerror (e));
        goto out;
    }
    run->d = d;
    if (spans && as_user) {
        /* mpirun carries it to the other hosts, and cannot become the user there. */
        dprintf (errfd,
                 "loomd: this task was placed on several nodes, which runs it through "
                 "mpirun; loomd runs as root and mpirun cannot switch to user %s: "
                 "submit it with -n at most one node's cores, or run loomd as %s\n",
                 x->user ? x->user : "?", x->user ? x->user : "that user");
        e = EPERM;
        goto out;
    }
    if (spans || (x->mpi && !as_user)) {
        /* Its ranks' lines go to the job log, stamped with rank and time. Without
         * one (a full disk), their output goes to the raw files as plain tasks'.
         * A plain task on several nodes runs one process per slot through mpirun,
         * its output in the raw files.
         */
        run->logfd = x->mpi ? loomd_joblog_open (d, t) : -1;
        if (start_mpi (d, t, run, argv, cpus, outfd, errfd, &e) < 0)
            goto out;
        run->pstart = loomd_boot_ms ();
        run->t = t;
        t->ext = run;
        run = NULL;
        rc = 0;
        goto out;
    }
    char **mpiargv = NULL;
    if (x->mpi) {
        /* Another user's MPI task: loom::launch cannot switch users, so one mpirun
         * over the granted PUs, one rank per slot, started as that user.
         */
        size_t n = 0;
        while (argv[n])
            n++;
        mpiargv = calloc (n + 12, sizeof (*mpiargv));
        if (!mpiargv)
            goto out;
        char np[16];
        snprintf (np, sizeof (np), "%u", j->nslots);
        const char *pre[] = {"mpirun", "-np",       np,     "--cpu-set",
                             cpus,     "--bind-to", "core", "--oversubscribe"};
        size_t k = 0;
        for (size_t i = 0; i < sizeof (pre) / sizeof (pre[0]); i++)
            mpiargv[k++] = strdup (pre[i]);
        for (size_t i = 0; i < n; i++)
            mpiargv[k++] = argv[i];
        free (argv);
        argv = mpiargv;
    }
    run->nprocs = nprocs;
    run->pstart = loomd_boot_ms ();
    /* Each slot's processes are bound to that slot's cores. */
    unsigned cps = j->cores_per_slot, seen = 0, slot = 0;
    hwloc_bitmap_t slotset = hwloc_bitmap_alloc ();
    const struct loom__alloc_part *p = &t->alloc->parts[0];
    for (int s = 0; s < nprocs; s++) {
        hwloc_bitmap_zero (slotset);
        if (x->mpi) {
            hwloc_bitmap_copy (slotset, set);
        } else {
            unsigned got = 0;
            for (unsigned i = 0; i < d->ncores && got < cps; i++) {
                if (!(p->mask[i / 64] >> (i % 64) & 1))
                    continue;
                if (seen++ < slot * cps)
                    continue;
                hwloc_bitmap_or (slotset, slotset, d->core_pus[i]);
                got++;
            }
            seen = 0;
            slot++;
        }
        char *slotcpus = NULL;
        hwloc_bitmap_list_asprintf (&slotcpus, slotset);
        char **env = task_env (d, x, t, slotcpus, s);
        free (slotcpus);
        struct loom_launch_task_spec ts = LOOM_LAUNCH_TASK_SPEC_INIT;
        ts.argv = argv;
        ts.envp = env;
        ts.cwd = x->cwd;
        ts.cpuset = slotset;
        ts.stdout_fd = outfd;
        ts.stderr_fd = errfd;
        if (as_user) {
            ts.user = x->user ? x->user : "?";
            ts.uid = j->uid;
            ts.gid = j->gid;
        }
        pid_t pid = -1;
        loom_error_t why;
        if (!env) {
            e = ENOMEM;
            snprintf (why.text, sizeof (why.text), "cannot start '%s': out of memory",
                      argv[0]);
        } else if (loom_launch_task_start (&ts, &pid, &why) < 0) {
            e = errno;
        }
        free_strv (env);
        if (pid < 0) {
            /* Say why in the task's stderr, as a shell would. */
            dprintf (errfd, "loomd: %s\n", why.text);
            break;
        }
        run->pids[run->nleft++] = pid;
        pid_add (d, pid, t);
    }
    hwloc_bitmap_free (slotset);
    if (run->nleft == 0)
        goto out;
    if (run->nleft < nprocs) { /* a partial start: the rest is killed, the task fails */
        run->wstatus = 127 << 8;
        for (int i = 0; i < run->nleft; i++)
            loom_launch_task_kill (run->pids[i], SIGKILL);
    }
    run->t = t;
    run_link (d, run);
    t->ext = run;
    run = NULL;
    rc = 0;
out:
    if (outfd >= 0)
        close (outfd);
    if (errfd >= 0)
        close (errfd);
    free_strv (argv);
    free (cpus);
    hwloc_bitmap_free (set);
    if (run) { /* not started: what it said (why it could not start) is kept */
        loomd_out_finish (run->out[0]);
        loomd_out_finish (run->out[1]);
        if (run->logfd >= 0)
            close (run->logfd);
        free (run);
    }
    if (rc < 0)
        errno = e ? e : EIO;
    return rc;
}

void loomd_exec_kill (struct loomd *d, struct loom__task *t, int sig)
{
    struct loomd_run *run = t->ext;
    if (!run)
        return;
    if (run->agent) {
        loomd_agents_kill (d, t, sig);
        return;
    }
    if (run->ljob) {
        loom_launch_job_kill (run->ljob, sig);
        return;
    }
    for (int i = 0; i < run->nprocs; i++)
        if (run->pids[i] > 0)
            loom_launch_task_kill (run->pids[i], sig);
}

/* An MPI task that traced (LOOM_TRACE) ends when its ranks' trace files are merged
 * into one job trace, so that `loom wait` returns when the file is there. The merge
 * runs in a child (a large trace takes seconds), reaped as the task's last process.
 * Returns 1 if the task now waits for that child.
 */
static int merge_first (struct loomd *d, struct loom__task *t, struct loomd_run *run)
{
    struct loomd_job *x = t->job->ext;
    if (run->merging || !x || !x->mpi)
        return 0;
    pid_t pid = loomd_trace_merge_start (d, t, run->logfd);
    if (pid <= 0)
        return 0;
    run->merging = 1;
    run->nprocs = 1;
    run->nleft = 1;
    run->pids[0] = pid;
    pid_add (d, pid, t);
    if (!run->rnext)
        run_link (d, run); /* reaped with the processes of plain tasks */
    return 1;
}

/* Worse of two wait statuses: a signal beats an exit code, a code beats success. */
static int worse (int a, int b)
{
    if (WIFSIGNALED (a))
        return a;
    if (WIFSIGNALED (b))
        return b;
    return WEXITSTATUS (a) ? a : b;
}

static void
reaped (struct loomd *d, struct loom__task *t, pid_t pid, int st, long maxrss)
{
    struct loomd_run *run = t->ext;
    for (int i = 0; i < run->nprocs; i++)
        if (run->pids[i] == pid)
            run->pids[i] = 0;
    if (!run->merging) { /* the merge's status and memory are not the task's */
        run->wstatus = worse (run->wstatus, st);
        if ((uint64_t)maxrss > run->maxrss)
            run->maxrss = (uint64_t)maxrss;
    }
    if (--run->nleft > 0) {
        if (st != 0) /* one process failed: the task has failed, stop the rest */
            for (int i = 0; i < run->nprocs; i++)
                if (run->pids[i] > 0)
                    loom_launch_task_kill (run->pids[i], SIGTERM);
        return;
    }
    /* Its output is in the pipes already: move it before the end is reported. */
    loomd_out_finish (run->out[0]);
    loomd_out_finish (run->out[1]);
    run->out[0] = run->out[1] = NULL; /* they free themselves at their end of file */
    if (merge_first (d, t, run))
        return;
    t->ext = NULL;
    int ws = run->wstatus;
    uint64_t rss = run->maxrss;
    if (run->logfd >= 0)
        close (run->logfd);
    loomd_run_free (run);
    d->exited (d, t, ws, rss);
}

/* Reap our own processes by pid, never wait(-1): loom::launch reaps its own. */
void loomd_exec_reap (struct loomd *d)
{
    if (!d->runs.rnext)
        return;
    struct loomd_run *run = d->runs.rnext;
    while (run != &d->runs) {
        struct loomd_run *next = run->rnext;
        struct loom__task *t = run->t;
        for (int i = 0; !run->ljob && i < run->nprocs; i++) {
            int st;
            struct rusage ru;
            pid_t pid = run->pids[i];
            if (pid <= 0 || wait4 (pid, &st, WNOHANG, &ru) != pid)
                continue;
            pid_take (d, pid);
            int last = run->nleft == 1;
            reaped (d, t, pid, st, ru.ru_maxrss);
            if (last)
                break; /* run is freed */
        }
        run = next;
    }
}

/* --mpi tasks through loom::launch: loomd's own PMIx server starts the ranks bound to
 * the granted cores, no mpirun. Created at the first such task (PMIx costs a moment).
 */
static void on_launch_fd (evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    loom_launch_progress (((struct loomd *)arg)->launch, 0);
}

static void on_output (loom_launch_job_t *job,
                       int rank,
                       int stream,
                       const char *line,
                       size_t len,
                       void *arg)
{
    struct loom__task *t = arg;
    struct loomd_run *run = t->ext;
    (void)job;
    if (run)
        loomd_joblog_write (run->logfd, rank, stream == 1 ? "out" : "err", line, len);
}

static void on_proc_exit (loom_launch_job_t *job,
                          const struct loom_launch_proc_status *st,
                          void *arg)
{
    struct loom__task *t = arg;
    struct loomd_run *run = t->ext;
    (void)job;
    if (!run)
        return;
    if (st->max_rss_kib > 0 && (uint64_t)st->max_rss_kib > run->maxrss)
        run->maxrss = (uint64_t)st->max_rss_kib;
    /* The launcher's view of each rank's end, in that rank's lines of the job log. */
    char how[128], text[256];
    if (st->aborted)
        snprintf (how, sizeof (how), "called MPI_Abort (status %d)", st->exit_code);
    else if (st->signal)
        snprintf (how, sizeof (how), "killed by signal %d (%s)", st->signal,
                  strsignal (st->signal));
    else
        snprintf (how, sizeof (how), "exited with status %d", st->exit_code);
    int n = snprintf (text, sizeof (text), "%s after %.2f s, peak RSS %.1f MiB", how,
                      st->wall_sec, (double)st->max_rss_kib / 1024.0);
    if (st->rank >= 0)
        loomd_joblog_write (run->logfd, st->rank, "loom", text, (size_t)n);
    else
        loomd_joblog_printf (run->logfd, "the engine (pid %d) %s", (int)st->pid, text);
}

static void
on_job_done (loom_launch_job_t *job, const struct loom_launch_job_status *st, void *arg)
{
    struct loom__task *t = arg;
    struct loomd_run *run = t->ext;
    struct loomd *d = run->d;
    /* mpirun's convention: 128+sig for a rank killed by a signal. */
    int ws = st->exit_code > 128 && st->exit_code < 128 + 65
                 ? st->exit_code - 128
                 : (st->exit_code & 0xff) << 8;
    loomd_joblog_printf (
        run->logfd, "task %llu.%lld ended after %.2f s: %s%sexit status %d",
        (unsigned long long)t->job->id, (long long)t->index, st->wall_sec, st->reason,
        st->reason[0] ? ", " : "", st->exit_code);
    loomd_out_finish (run->out[0]);
    loomd_out_finish (run->out[1]);
    run->out[0] = run->out[1] = NULL;
    loom_placement_destroy (run->pl);
    run->pl = NULL;
    loom_launch_job_destroy (job);
    run->ljob = NULL;
    run->wstatus = ws;
    if (merge_first (d, t, run))
        return; /* reaped() ends the task when the merge is done */
    t->ext = NULL;
    uint64_t rss = run->maxrss;
    if (run->logfd >= 0)
        close (run->logfd);
    loomd_run_free (run);
    d->exited (d, t, ws, rss);
}

/* Why an --mpi task could not start: in its job log, where `loom logs` looks for an
 * --mpi task's output, else in its stderr log.
 */
static void say (struct loomd_run *run, int errfd, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
static void say (struct loomd_run *run, int errfd, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof (text), fmt, ap);
    va_end (ap);
    if (run->logfd >= 0)
        loomd_joblog_printf (run->logfd, "%s", text);
    else
        dprintf (errfd, "loomd: %s\n", text);
}

static int start_mpi (struct loomd *d,
                      struct loom__task *t,
                      struct loomd_run *run,
                      char **argv,
                      const char *cpus,
                      int outfd,
                      int errfd,
                      int *err)
{
    loom_error_t e;
    if (!d->launch) {
        struct loom_launch_params lp = LOOM_LAUNCH_PARAMS_INIT;
        lp.topo = d->topo;
        lp.rsh_agent = d->rsh_agent;
        if (!(d->launch = loom_launch_create (&lp, &e))) {
            *err = errno;
            say (run, errfd, "cannot start the launcher: %s", e.text);
            return -1;
        }
        d->launch_ev = event_new (d->base, loom_launch_fd (d->launch),
                                  EV_READ | EV_PERSIST, on_launch_fd, d);
        event_add (d->launch_ev, NULL);
    }
    struct loom__job *j = t->job;
    struct loom_node node = {NULL, d->topo, cpus, 0}, *nodes = &node;
    struct loom_placement_params pp = LOOM_PLACEMENT_PARAMS_INIT;
    struct loomd_job *x = j->ext;
    uint32_t nnodes = t->alloc->nparts;
    char *where = NULL;
    if (nnodes > 1) { /* span.c: one node per part of the grant, on its cores */
        nodes = loomd_span_nodes (d, t);
        where = loomd_span_where (d, t, 1);
        if (!nodes || !where) {
            loomd_span_nodes_free (nodes, nnodes);
            free (where);
            *err = ENOMEM;
            say (run, errfd, "cannot place the ranks: out of memory");
            return -1;
        }
        cpus = where;
    }
    pp.nprocs = x->mpi && x->ranks > 0 ? x->ranks : (int)j->nslots;
    pp.cpus_per_rank = (int)j->cores_per_slot;
    pp.oversubscribe = pp.nprocs > (int)j->nslots; /* --ranks: share the cores */
    run->pl = loom_placement_compute (nodes, nnodes, &pp, &e);
    if (nodes != &node)
        loomd_span_nodes_free (nodes, nnodes);
    if (!run->pl) {
        *err = errno;
        say (run, errfd, "cannot place the ranks: %s", e.text);
        free (where);
        return -1;
    }
    /* On several nodes mpirun tells each process its rank; no LOOM_SLOT, LOOM_NODE. */
    char **env = task_env (d, j->ext, t, cpus, nnodes > 1 ? -1 : 0);
    struct loom_launch_job_params jp = LOOM_LAUNCH_JOB_PARAMS_INIT;
    jp.placement = run->pl;
    jp.argv = argv;
    jp.env = env;
    jp.cwd = ((struct loomd_job *)j->ext)->cwd;
    if (run->logfd >= 0) {
        jp.output = on_output;
    } else {
        jp.stdout_fd = outfd;
        jp.stderr_fd = errfd;
    }
    jp.proc_exit = on_proc_exit;
    jp.done = on_job_done;
    jp.arg = t;
    /* Several nodes: mpirun with a rankfile binds each rank to its granted PUs. */
    jp.engine = nnodes > 1 ? LOOM_ENGINE_MPIRUN : LOOM_ENGINE_DIRECT;
    if (!x->mpi)
        jp.flags |= LOOM_LAUNCH_NO_PMIX;
    jp.kill_grace_sec = (double)d->kill_grace_ns / 1e9;
    run->ljob = loom_launch_job_start (d->launch, &jp, &e);
    free_strv (env);
    if (!run->ljob) {
        *err = errno;
        say (run, errfd, "cannot start '%s': %s", argv[0], e.text);
        loom_placement_destroy (run->pl);
        run->pl = NULL;
        free (where);
        return -1;
    }
    if (where)
        loomd_joblog_printf (
            run->logfd, "task %llu.%lld started (attempt %u): %d ranks by mpirun on %s",
            (unsigned long long)j->id, (long long)t->index, t->attempt, pp.nprocs,
            where);
    else
        loomd_joblog_printf (
            run->logfd, "task %llu.%lld started (attempt %u): %d ranks on %s, PUs %s",
            (unsigned long long)j->id, (long long)t->index, t->attempt, pp.nprocs,
            d->node, cpus);
    free (where);
    return 0;
}

void loomd_exec_shutdown (struct loomd *d)
{
    if (d->launch_ev)
        event_free (d->launch_ev);
    loom_launch_destroy (d->launch);
    d->launch = NULL;
    d->launch_ev = NULL;
}
