/* SPDX-License-Identifier: MIT */
/* What `loom top` shows: the nodes and their busy cores, the running tasks with the CPU
 * time and resident memory of their processes, the queue depth, and the DRF shares.
 *
 * CPU and memory come from /proc on this node: loomd knows each task's processes (the
 * pids it started, or the launcher's ranks) and adds up every process below them, so
 * what a shell or an MPI rank forks counts too. CPU is reported as cumulative seconds
 * with the sample time: the client turns two samples into CPU%, so loomd keeps no
 * history and a query costs one pass over /proc. Each task carries its node; a task on
 * another node (agents, when they come) is listed without a sample ("sampled": false)
 * until that node's agent reports one.
 */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/launch.h>

#include "loomd.h"

struct pstat {
    pid_t pid, ppid;
    uint64_t ticks; /* utime + stime + cutime + cstime */
    uint64_t rss_kib;
    int owner; /* index of the running task it belongs to, or -1 */
};

static int read_pstat (pid_t pid, struct pstat *ps, long pagekib)
{
    char path[64], buf[1024];
    snprintf (path, sizeof (path), "/proc/%d/stat", (int)pid);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read (fd, buf, sizeof (buf) - 1);
    close (fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr (buf, ')'); /* comm may hold spaces and parentheses */
    if (!p || p[1] != ' ')
        return -1;
    char state;
    int ppid;
    unsigned long long ut, st;
    long long cut, cst, rss;
    /* fields after comm: state(3) ppid(4) ... utime(14) stime(15) cutime(16)
     * cstime(17) ... rss(24, pages)
     */
    if (sscanf (p + 2,
                "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld %*d %*d "
                "%*d %*d %*u %*u %lld",
                &state, &ppid, &ut, &st, &cut, &cst, &rss)
        != 7)
        return -1;
    ps->pid = pid;
    ps->ppid = ppid;
    ps->ticks = ut + st + (uint64_t)(cut > 0 ? cut : 0) + (uint64_t)(cst > 0 ? cst : 0);
    ps->rss_kib = rss > 0 ? (uint64_t)rss * (uint64_t)pagekib : 0;
    ps->owner = -1;
    return 0;
}

static int by_pid (const void *a, const void *b)
{
    pid_t x = ((const struct pstat *)a)->pid, y = ((const struct pstat *)b)->pid;
    return (x > y) - (x < y);
}

/* Every process of this node, sorted by pid. Returns the count; *out is malloc'ed. */
static size_t scan_proc (struct pstat **out)
{
    long pagekib = sysconf (_SC_PAGESIZE) / 1024;
    size_t n = 0, cap = 512;
    struct pstat *v = malloc (cap * sizeof (*v));
    DIR *dir = opendir ("/proc");
    struct dirent *e;
    while (v && dir && (e = readdir (dir))) {
        if (!isdigit ((unsigned char)e->d_name[0]))
            continue;
        if (n == cap) {
            struct pstat *nv = realloc (v, 2 * cap * sizeof (*v));
            if (!nv)
                break;
            v = nv;
            cap *= 2;
        }
        if (read_pstat ((pid_t)atoi (e->d_name), &v[n], pagekib) == 0)
            n++;
    }
    if (dir)
        closedir (dir);
    if (v)
        qsort (v, n, sizeof (*v), by_pid);
    *out = v;
    return v ? n : 0;
}

static struct pstat *find (struct pstat *v, size_t n, pid_t pid)
{
    struct pstat key = {.pid = pid};
    return bsearch (&key, v, n, sizeof (*v), by_pid);
}

/* Mark the processes a task started (its roots) as owned by task 'k'. */
static void
own_roots (struct pstat *v, size_t n, struct loomd_run *run, int nranks, int k)
{
    struct pstat *p;
    if (run->ljob) {
        for (int r = 0; r < nranks; r++) {
            pid_t pid = loom_launch_job_pid (run->ljob, r);
            if (pid > 0 && (p = find (v, n, pid)))
                p->owner = k;
        }
        return;
    }
    for (int i = 0; i < run->nprocs; i++)
        if (run->pids[i] > 0 && (p = find (v, n, run->pids[i])))
            p->owner = k;
}

/* Children inherit their parent's owner, generation by generation. */
static void own_descendants (struct pstat *v, size_t n)
{
    for (int pass = 0, changed = 1; changed && pass < 64; pass++) {
        changed = 0;
        for (size_t i = 0; i < n; i++) {
            if (v[i].owner >= 0)
                continue;
            struct pstat *parent = find (v, n, v[i].ppid);
            if (parent && parent->owner >= 0) {
                v[i].owner = parent->owner;
                changed = 1;
            }
        }
    }
}

static json_t *tasks_json (struct loomd *d)
{
    loom__core_t *c = d->core;
    size_t ntasks = c->nrunning, k = 0;
    struct loom__task **tv = calloc (ntasks ? ntasks : 1, sizeof (*tv));
    struct pstat *v = NULL;
    size_t n = scan_proc (&v);
    json_t *out = json_array ();
    if (!tv)
        goto done;
    for (struct loom__task *t = c->running.next; t != &c->running && k < ntasks;
         t = t->next) {
        struct loomd_run *run = t->ext;
        struct loomd_job *x = t->job->ext;
        int nranks = x && x->ranks > 0 ? x->ranks : (int)t->job->nslots;
        if (run && v)
            own_roots (v, n, run, nranks, (int)k);
        tv[k++] = t;
    }
    if (v)
        own_descendants (v, n);
    long tck = sysconf (_SC_CLK_TCK);
    uint64_t now = loom_clock_ns ();
    for (size_t i = 0; i < k; i++) {
        struct loom__task *t = tv[i];
        struct loom__job *j = t->job;
        struct loomd_job *x = j->ext;
        struct loomd_run *run = t->ext;
        uint64_t ticks = 0, rss = 0;
        int nprocs = 0;
        for (size_t p = 0; v && p < n; p++) {
            if (v[p].owner != (int)i)
                continue;
            ticks += v[p].ticks;
            rss += v[p].rss_kib;
            nprocs++;
        }
        const char *node = t->alloc && t->alloc->parts[0].node < c->nnodes
                               ? c->nodes[t->alloc->parts[0].node]->name
                               : d->node;
        char *cpus = t->alloc ? loomd_cores_list (d, t, 1) : NULL;
        int local = strcmp (node, d->node) == 0;
        json_t *o = json_pack (
            "{s:I, s:I, s:i, s:s, s:i, s:s, s:s, s:i, s:s, s:b, s:i, s:f, s:f, s:b}",
            "job", (json_int_t)j->id, "index", (json_int_t)t->index, "attempt",
            (int)t->attempt, "user", x && x->user ? x->user : "?", "uid", (int)j->uid,
            "name", x && x->name ? x->name : "?", "framework", j->fw->name, "cores",
            (int)(j->nslots * j->cores_per_slot), "cpus", cpus ? cpus : "", "mpi",
            x && x->mpi, "ranks",
            x && x->mpi ? (x->ranks > 0 ? x->ranks : (int)j->nslots) : 0, "run_sec",
            t->start_ns && now > t->start_ns ? (double)(now - t->start_ns) / 1e9 : 0.0,
            "time_limit_sec", (double)j->time_limit_ns / 1e9, "sampled", local);
        json_object_set_new (o, "node", json_string (node));
        if (local) {
            json_object_set_new (o, "nprocs", json_integer (nprocs));
            json_object_set_new (o, "cpu_sec", json_real ((double)ticks / (double)tck));
            json_object_set_new (o, "rss_kib", json_integer ((json_int_t)rss));
            json_object_set_new (o, "merging_trace",
                                 json_boolean (run && run->merging));
        }
        free (cpus);
        json_array_append_new (out, o);
    }
done:
    free (tv);
    free (v);
    return out;
}

static json_t *queue_json (struct loomd *d)
{
    loom__core_t *c = d->core;
    uint64_t pending = 0, waiting = 0, wjobs = 0, pjobs = 0, rjobs = 0;
    for (uint64_t id = 1; id < c->next_id; id++) {
        struct loom__job *j = loom__core_job (c, id);
        if (!j || j->ended)
            continue;
        pending += j->count[LOOM__T_PENDING];
        waiting += j->count[LOOM__T_WAITING];
        wjobs += j->count[LOOM__T_WAITING] > 0;
        pjobs += j->count[LOOM__T_PENDING] > 0;
        rjobs += j->count[LOOM__T_RUNNING] > 0;
    }
    return json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I}", "pending_tasks",
                      (json_int_t)pending, "pending_jobs", (json_int_t)pjobs,
                      "waiting_tasks", (json_int_t)waiting, "waiting_jobs",
                      (json_int_t)wjobs, "running_tasks", (json_int_t)c->nrunning,
                      "running_jobs", (json_int_t)rjobs);
}

json_t *loomd_req_top (struct loomd *d, struct loomd_conn *c, json_t *req)
{
    json_t *shares = loomd_req_shares (d, c, req);
    json_t *nodes = loomd_req_nodes (d, c, req);
    json_t *nl = json_object_get (nodes, "nodes"), *n;
    size_t i;
    json_array_foreach (nl, i, n)
    {
        json_int_t cores = json_integer_value (json_object_get (n, "cores"));
        json_int_t free_cores = json_integer_value (json_object_get (n, "free_cores"));
        json_object_set_new (n, "busy_cores", json_integer (cores - free_cores));
    }
    struct timespec mono;
    clock_gettime (CLOCK_MONOTONIC, &mono);
    json_t *r = json_pack (
        "{s:b, s:f, s:f, s:{s:i, s:s, s:s}, s:O, s:O, s:O, s:o, s:O, s:o}", "ok", 1,
        "time", (double)loom_clock_realtime_ns () / 1e9, "sample_sec",
        (double)mono.tv_sec + (double)mono.tv_nsec / 1e9, "loomd", "pid",
        (int)getpid (), "node", d->node, "state_dir", d->dir, "total",
        json_object_get (shares, "total"), "free", json_object_get (shares, "free"),
        "nodes", nl, "queue", queue_json (d), "frameworks",
        json_object_get (shares, "frameworks"), "tasks", tasks_json (d));
    json_decref (shares);
    json_decref (nodes);
    return r;
}
