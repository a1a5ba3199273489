/* SPDX-License-Identifier: MIT */
/* loomd: start-up (state directory, lock, database, topology, replay), the event loop,
 * and the glue between the policy core and the rest of the daemon.
 *
 * Recovery after kill -9: tasks that were running are lost (their processes are
 * killed if still alive, identified by pid and start time) and requeued when they
 * have retries left, else they end LOST. Queued and finished jobs, and logs, survive.
 * A clean stop (loom sched stop, SIGTERM) kills running tasks and puts them back in
 * the queue without counting the attempt.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/error.h>
#include <loom/launch.h>
#include <loom/log.h>
#include <loom/sched.h>
#include <loom/trace.h>

#include "loomd.h"

static struct loomd D;

static uint64_t op_now (void *arg)
{
    (void)arg;
    return loom_clock_ns ();
}

/* A task runs on loomd's own node, or through the agent of another node. */
static int op_start (void *arg, struct loom__task *t)
{
    struct loomd *d = arg;
    const struct loom__alloc *a = t->alloc;
    int local = 0;
    for (uint32_t p = 0; p < a->nparts; p++)
        local += (int)a->parts[p].node == d->local_node;
    /* A task on several nodes runs from here through mpirun (span.c). */
    if ((local == (int)a->nparts && a->nparts == 1) || a->nparts > 1)
        return loomd_exec_start (d, t);
    return loomd_agents_start (d, t);
}

static void exited_here (struct loomd *d, struct loom__task *t, int ws, uint64_t rss)
{
    loom__core_task_exited (d->core, t, ws, rss);
    loomd_kick (d);
}

static void op_kill (void *arg, struct loom__task *t, int sig)
{
    loomd_exec_kill (arg, t, sig);
}

static void op_task_changed (void *arg, struct loom__task *t)
{
    struct loomd *d = arg;
    struct loomd_run *run = t->ext;
    char *cores = t->alloc ? loomd_cores_list (d, t, 0) : NULL;
    uint64_t mono = loom_clock_ns (), real = loom_clock_realtime_ns ();
    struct loomd_task_row r = {
        .job = t->job->id,
        .pos = t->pos,
        .state = t->state,
        .attempt = (int)t->attempt,
        .wstatus = t->wstatus,
        .pid = run && run->nprocs ? run->pids[0] : 0,
        .start_ns = t->start_ns ? real - (mono - t->start_ns) : 0,
        .end_ns = t->end_ns ? real - (mono - t->end_ns) : 0,
        .maxrss = t->maxrss,
        .node = t->alloc ? d->core->nodes[t->alloc->parts[0].node]->name : NULL,
        .cores = cores,
        .pstart = run ? run->pstart : 0,
    };
    if (loomd_store_task (d->store, &r) < 0)
        loom_warn ("loomd: cannot record task %llu.%lld",
                   (unsigned long long)t->job->id, (long long)t->index);
    free (cores);
    /* An attempt that ran: account its core-seconds to the framework and user. */
    if (t->state != LOOM__T_RUNNING && t->end_ns > t->start_ns && t->start_ns) {
        double sec = (double)(t->end_ns - t->start_ns) / 1e9;
        struct loom__job *j = t->job;
        loomd_store_usage (d->store, j->fw->name, j->uid,
                           sec * j->nslots * j->cores_per_slot,
                           sec * (double)(j->nslots * j->mem_per_slot));
    }
    loomd_task_event (d, t);
    if (loom_trace_active ()) {
        /* Queue wait and launch as the task starts, run time and status as it ends. */
        LOOM_TRACE_TYPE (t_launch, "sched", "task.launch", "job", "index",
                         "queue_wait_ns");
        LOOM_TRACE_TYPE (t_end, "sched", "task.end", "job", "run_ns", "wstatus:i");
        LOOM_TRACE_TYPE (t_pending, "sched", "pending", "tasks");
        struct loom__job *j = t->job;
        if (t->state == LOOM__T_RUNNING)
            loom_trace_instant (&t_launch, j->id, (uint64_t)t->index,
                                t->start_ns > j->submit_ns ? t->start_ns - j->submit_ns
                                                           : 0);
        else if (t->end_ns && t->state != LOOM__T_PENDING)
            loom_trace_instant (&t_end, j->id, t->end_ns - t->start_ns,
                                (uint64_t)t->wstatus);
        uint64_t pending = 0;
        for (uint32_t i = 0; i < d->core->nfws; i++)
            for (size_t k = 0; k < d->core->fws[i]->nall; k++)
                pending += d->core->fws[i]->all[k]->pending;
        loom_trace_counter (&t_pending, pending);
    }
}

static void op_job_changed (void *arg, struct loom__job *j)
{
    struct loomd *d = arg;
    if (!j->ended)
        return;
    loomd_store_job_state (d->store, j->id, loomd_job_state (j));
    loomd_job_ended (d, j);
}

static void op_offer (void *arg, struct loom__offer *o)
{
    LOOM_TRACE_TYPE (t_offer, "sched", "offer", "framework:s", "cores", "mem");
    if (loom_trace_active ())
        loom_trace_instant (&t_offer, loom_trace_str (o->fw->name), o->ncores, o->mem);
    loomd_offer_event (arg, o, 0);
}

static void op_rescind (void *arg, struct loom__offer *o)
{
    loomd_offer_event (arg, o, 1);
}

static const struct loom__core_ops ops = {
    .now = op_now,
    .start = op_start,
    .kill = op_kill,
    .task_changed = op_task_changed,
    .job_changed = op_job_changed,
    .offer = op_offer,
    .rescind = op_rescind,
};

/* After any change: one scheduling pass, re-arm the timer, commit. Runs at the low
 * priority, so all exits reaped in one loop iteration share one pass and one commit.
 */
static void on_flush (evutil_socket_t fd, short ev, void *arg)
{
    struct loomd *d = arg;
    (void)fd;
    (void)ev;
    loom__core_schedule (d->core);
    uint64_t next = loom__core_tick (d->core);
    loom__core_schedule (d->core);
    if (next != UINT64_MAX) {
        uint64_t now = loom_clock_ns ();
        uint64_t wait = next > now ? next - now : 0;
        struct timeval tv = {(time_t)(wait / 1000000000ull),
                             (suseconds_t)(wait % 1000000000ull / 1000)};
        evtimer_add (d->timer, &tv);
    }
    /* Commit at most every 5 ms: under a stream of short tasks that is one commit
     * per many task updates. Replies commit first anyway (server.c), so what a
     * client was told is on disk; a kill -9 can lose at most the last 5 ms of task
     * ends, and those tasks come back as lost (docs/sched.md).
     */
    uint64_t now = loom_clock_ns ();
    if (now - d->last_commit_ns >= 5000000ull) {
        if (loomd_store_commit (d->store) < 0)
            loom_warn ("loomd: commit failed");
        d->last_commit_ns = now;
    } else if (loomd_store_dirty (d->store)
               && !evtimer_pending (d->commit_timer, NULL)) {
        struct timeval tv = {0, 5000};
        evtimer_add (d->commit_timer, &tv);
    }
}

static void on_commit_timer (evutil_socket_t fd, short ev, void *arg)
{
    struct loomd *d = arg;
    (void)fd;
    (void)ev;
    if (loomd_store_commit (d->store) < 0)
        loom_warn ("loomd: commit failed");
    d->last_commit_ns = loom_clock_ns ();
}

void loomd_kick (struct loomd *d)
{
    event_active (d->flush, 0, 0);
}

static void on_timer (evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    loomd_kick (arg);
}

static void on_sigchld (evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    loomd_exec_reap (arg);
    loomd_kick (arg);
}

static void on_sigterm (evutil_socket_t fd, short ev, void *arg)
{
    struct loomd *d = arg;
    (void)fd;
    (void)ev;
    d->stopping = 1;
    event_base_loopexit (d->base, NULL);
}

/* A clean stop: running tasks are killed and go back to the queue, attempt not
 * counted, so the next loomd runs them again.
 */
static void requeue_running (struct loomd *d)
{
    loom__core_t *c = d->core;
    for (struct loom__task *t = c->running.next; t != &c->running; t = t->next)
        loomd_exec_kill (d, t, SIGKILL);
    while (c->nrunning > 0) {
        struct loom__task *t = c->running.next;
        struct loomd_run *run = t->ext;
        for (int i = 0; run && i < run->nprocs; i++)
            if (run->pids[i] > 0)
                waitpid (run->pids[i], NULL, 0);
        struct loomd_task_row r = {.job = t->job->id,
                                   .pos = t->pos,
                                   .state = LOOM__T_PENDING,
                                   .attempt = (int)t->attempt - 1};
        loomd_store_task (d->store, &r);
        if (run) {
            loomd_out_finish (run->out[0]);
            loomd_out_finish (run->out[1]);
            /* Killed and reaped by the launcher, without its callbacks. */
            loom_launch_job_destroy (run->ljob);
            loom_placement_destroy (run->pl);
        }
        /* Take it out of the core without callbacks writing over that row. */
        c->ops =
            &(struct loom__core_ops){.now = op_now, .start = op_start, .kill = op_kill};
        loomd_run_free (run);
        t->ext = NULL;
        t->cancel_requested = 1;
        loom__core_task_exited (c, t, 0, 0);
        c->ops = &ops;
    }
    loomd_store_commit (d->store);
}

/* Cores of this node: the allowed cores of the hwloc topology (those inside 'cpuset'
 * if given; the first 'limit').
 */
int loomd_load_node (struct loomd *d,
                     unsigned limit,
                     const char *cpuset,
                     loom_error_t *error)
{
    d->topo = loom_topo_load (LOOM_TOPO_LOCAL, NULL, error);
    if (!d->topo)
        return -1;
    d->hw = loom_topo_hwloc (d->topo);
    hwloc_bitmap_t allowed =
        hwloc_bitmap_dup (hwloc_topology_get_allowed_cpuset (d->hw));
    if (!allowed)
        return loom_errset (error, ENOMEM, "out of memory");
    if (cpuset) {
        hwloc_bitmap_t want = hwloc_bitmap_alloc ();
        if (!want || hwloc_bitmap_list_sscanf (want, cpuset) < 0) {
            hwloc_bitmap_free (want);
            hwloc_bitmap_free (allowed);
            return loom_errset (error, EINVAL, "bad --cpuset '%s' (say e.g. 0-3,6)",
                                cpuset);
        }
        hwloc_bitmap_and (allowed, allowed, want);
        hwloc_bitmap_free (want);
    }
    int n = hwloc_get_nbobjs_by_type (d->hw, HWLOC_OBJ_CORE);
    d->core_pus = calloc (n > 0 ? (size_t)n : 1, sizeof (*d->core_pus));
    if (!d->core_pus)
        return loom_errset (error, ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        hwloc_obj_t core = hwloc_get_obj_by_type (d->hw, HWLOC_OBJ_CORE, (unsigned)i);
        if (!hwloc_bitmap_intersects (core->cpuset, allowed))
            continue;
        if (limit && d->ncores >= limit)
            break;
        hwloc_bitmap_t s = hwloc_bitmap_alloc ();
        hwloc_bitmap_and (s, core->cpuset, allowed);
        d->core_pus[d->ncores++] = s;
    }
    hwloc_bitmap_free (allowed);
    if (d->ncores == 0)
        return loom_errset (error, EINVAL, "no allowed core on this node%s%s",
                            cpuset ? " in --cpuset " : "", cpuset ? cpuset : "");
    if (d->mem_mib == 0) {
        hwloc_obj_t root = hwloc_get_root_obj (d->hw);
        d->mem_mib = root->total_memory / (1024 * 1024);
    }
    if (!d->node) {
        char host[256] = "localhost";
        gethostname (host, sizeof (host) - 1);
        d->node = strdup (host);
    }
    return 0;
}

/* The state directory: created 0700 (0710 when a group may use the socket), and
 * refused if anyone else could write into it.
 */
static int make_dir (const char *dir, mode_t mode, loom_error_t *error)
{
    char tmp[PATH_MAX];
    snprintf (tmp, sizeof (tmp), "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir (tmp, 0755);
        *p = '/';
    }
    if (mkdir (dir, mode) < 0 && errno != EEXIST)
        return loom_errset (error, errno, "cannot create %s: %s", dir,
                            strerror (errno));
    struct stat st;
    if (stat (dir, &st) < 0)
        return loom_errset (error, errno, "%s: %s", dir, strerror (errno));
    if (st.st_uid != geteuid ())
        return loom_errset (error, EPERM, "%s belongs to another user", dir);
    if (chmod (dir, mode) < 0)
        return loom_errset (error, errno, "%s: %s", dir, strerror (errno));
    return 0;
}

static void usage (FILE *f)
{
    fprintf (
        f, "Usage: loomd [--state-dir DIR] [--cores N] [--cpuset PUS] [--mem MIB]\n"
           "             [--group NAME] [--kill-grace SEC] [--batch-weight W]\n"
           "             [--listen ADDR:PORT] [--heartbeat-timeout SEC] [--no-local]\n"
           "             [--node-name NAME] [--rsh-agent CMD] [--ready-fd FD]\n"
           "       loomd --agent HOST:PORT [--state-dir DIR] [--secret-file FILE]\n"
           "             [--node-name NAME] [--cores N] [--cpuset PUS] [--mem MIB]\n"
           "             [--reconnect SEC]\n"
           "Usually started by 'loom sched start' (head) or 'loom sched agent'.\n"
           "State: $LOOM_STATE_DIR or ~/.loom/sched.\n");
}

static void ready (int fd, const char *msg)
{
    if (fd < 0)
        return;
    (void)!write (fd, msg, strlen (msg));
    close (fd);
}

int main (int argc, char **argv)
{
    struct loomd *d = &D;
    static const struct option longopts[] = {
        {"state-dir", 1, NULL, 'd'},   {"cores", 1, NULL, 'c'},
        {"mem", 1, NULL, 'm'},         {"group", 1, NULL, 'g'},
        {"kill-grace", 1, NULL, 'k'},  {"batch-weight", 1, NULL, 'w'},
        {"ready-fd", 1, NULL, 'r'},    {"help", 0, NULL, 'h'},
        {"listen", 1, NULL, 'L'},      {"heartbeat-timeout", 1, NULL, 'H'},
        {"no-local", 0, NULL, 'N'},    {"cpuset", 1, NULL, 'C'},
        {"agent", 1, NULL, 'A'},       {"node-name", 1, NULL, 'n'},
        {"secret-file", 1, NULL, 'S'}, {"reconnect", 1, NULL, 'R'},
        {"rsh-agent", 1, NULL, 'E'},   {NULL, 0, NULL, 0},
    };
    const char *listen_addr = NULL, *cpuset = NULL, *agent_head = NULL;
    const char *node_name = NULL, *secret_file = NULL;
    int no_local = 0;
    double hb_timeout = 5.0, reconnect = 60.0;
    char *end;
    char dirbuf[PATH_MAX];
    const char *dir = NULL, *group = NULL;
    unsigned limit = 0;
    int readyfd = -1, c;
    double grace = 5.0, bweight = 1.0;
    loom_error_t error;
    char msg[600];

    d->sock_gid = (gid_t)-1;
    d->conns.next = d->conns.prev = &d->conns;
    while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'c':
            limit = (unsigned)strtoul (optarg, &end, 10);
            if (*end || !*optarg) {
                snprintf (msg, sizeof (msg), "bad --cores '%s'\n", optarg);
                goto fail;
            }
            break;
        case 'm':
            d->mem_mib = strtoull (optarg, NULL, 10);
            break;
        case 'L':
            listen_addr = optarg;
            break;
        case 'H':
            hb_timeout = strtod (optarg, &end);
            if (*end || !(hb_timeout > 0)) {
                snprintf (msg, sizeof (msg),
                          "bad --heartbeat-timeout '%s' (seconds, > 0)\n", optarg);
                goto fail;
            }
            break;
        case 'N':
            no_local = 1;
            break;
        case 'E':
            d->rsh_agent = optarg;
            break;
        case 'C':
            cpuset = optarg;
            break;
        case 'A':
            agent_head = optarg;
            break;
        case 'n':
            node_name = optarg;
            break;
        case 'S':
            secret_file = optarg;
            break;
        case 'R':
            reconnect = strtod (optarg, &end);
            if (*end || !(reconnect >= 0)) {
                snprintf (msg, sizeof (msg), "bad --reconnect '%s' (seconds)\n",
                          optarg);
                goto fail;
            }
            break;
        case 'g':
            group = optarg;
            break;
        case 'k':
            grace = strtod (optarg, NULL);
            break;
        case 'w':
            bweight = strtod (optarg, NULL);
            break;
        case 'r':
            readyfd = atoi (optarg);
            break;
        case 'h':
            usage (stdout);
            return 0;
        default:
            usage (stderr);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "loomd: unexpected argument '%s'\n", argv[optind]);
        return 1;
    }
    if (!dir && !(dir = loom_sched_default_dir (dirbuf, sizeof (dirbuf)))) {
        snprintf (msg, sizeof (msg),
                  "no state directory: set LOOM_STATE_DIR or HOME\n");
        goto fail;
    }
    if (agent_head) {
        struct loomd_agent_params ap = {.head = agent_head,
                                        .dir = dir,
                                        .secret_file = secret_file,
                                        .node_name = node_name,
                                        .cpuset = cpuset,
                                        .cores = limit,
                                        .mem_mib = d->mem_mib,
                                        .reconnect_sec = reconnect};
        return loomd_agent_main (&ap);
    }
    if (no_local && !listen_addr) {
        snprintf (msg, sizeof (msg), "--no-local needs --listen (no node at all)\n");
        goto fail;
    }
    d->hb_timeout = hb_timeout;
    d->exited = exited_here;
    d->local_node = no_local ? -1 : 0;
    if (node_name && !(d->node = strdup (node_name))) {
        snprintf (msg, sizeof (msg), "out of memory\n");
        goto fail;
    }
    if (!(grace >= 0) || !(bweight > 0)) {
        snprintf (msg, sizeof (msg), "bad --kill-grace or --batch-weight\n");
        goto fail;
    }
    d->uid = geteuid ();
    if (group) {
        struct group *g = getgrnam (group);
        if (!g) {
            snprintf (msg, sizeof (msg), "unknown group '%s'\n", group);
            goto fail;
        }
        d->sock_gid = g->gr_gid;
    }
    d->dir = realpath (dir, NULL);
    if (!d->dir) {
        if (make_dir (dir, d->sock_gid != (gid_t)-1 ? 0710 : 0700, &error) < 0)
            goto fail_err;
        d->dir = realpath (dir, NULL);
    }
    if (!d->dir
        || make_dir (d->dir, d->sock_gid != (gid_t)-1 ? 0710 : 0700, &error) < 0)
        goto fail_err;
    if (d->sock_gid != (gid_t)-1 && chown (d->dir, (uid_t)-1, d->sock_gid) < 0) {
        snprintf (msg, sizeof (msg), "%s: %s\n", d->dir, strerror (errno));
        goto fail;
    }
    char path[PATH_MAX + 32];
    if (readyfd >= 0) {
        /* Started as a daemon: log to the state directory, not to a terminal. */
        snprintf (path, sizeof (path), "%s/loomd.log", d->dir);
        int lfd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (lfd >= 0) {
            dup2 (lfd, 2);
            close (lfd);
        }
    }
    snprintf (path, sizeof (path), "%s/loomd.lock", d->dir);
    d->lockfd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d->lockfd < 0 || flock (d->lockfd, LOCK_EX | LOCK_NB) < 0) {
        snprintf (msg, sizeof (msg), "loomd is already running for %s\n", d->dir);
        goto fail;
    }
    if (ftruncate (d->lockfd, 0) == 0)
        dprintf (d->lockfd, "%d\n", (int)getpid ());
    if (asprintf (&d->logdir, "%s/logs", d->dir) < 0
        || (mkdir (d->logdir, 0700) < 0 && errno != EEXIST)) {
        snprintf (msg, sizeof (msg), "cannot create %s/logs\n", d->dir);
        goto fail;
    }
    snprintf (path, sizeof (path), "%s/loomd.db", d->dir);
    if (!(d->store = loomd_store_open (path, &error)))
        goto fail_err;
    if (loomd_load_node (d, limit, cpuset, &error) < 0)
        goto fail_err;
    static struct loomd_node here;
    here.ncores = d->ncores;
    here.core_pus = d->core_pus;
    here.local = 1;
    d->core = loom__core_create (&ops, d);
    if (!d->core
        || (!no_local
            && loom__core_add_node (d->core, d->node, d->ncores, d->mem_mib) < 0)
        || !(d->batch =
                 loom__core_fw_add (d->core, "batch", LOOM__FW_BATCH, bweight, 0))) {
        snprintf (msg, sizeof (msg), "cannot set up the scheduler\n");
        goto fail;
    }
    if (!no_local)
        d->core->nodes[0]->ext = &here;
    /* Nodes of agents seen before come back down, until their agents reconnect. */
    if (loomd_agents_restore (d) < 0) {
        snprintf (msg, sizeof (msg), "cannot read the nodes from the database\n");
        goto fail;
    }
    d->core->kill_grace_ns = (uint64_t)(grace * 1e9);
    if (loomd_restore (d, &error) < 0)
        goto fail_err;
    loomd_store_commit (d->store);

    d->base = event_base_new ();
    if (!d->base || event_base_priority_init (d->base, 2) < 0) {
        snprintf (msg, sizeof (msg), "cannot create the event loop\n");
        goto fail;
    }
    signal (SIGPIPE, SIG_IGN);
    d->sigchld = evsignal_new (d->base, SIGCHLD, on_sigchld, d);
    d->sigterm = evsignal_new (d->base, SIGTERM, on_sigterm, d);
    d->sigint = evsignal_new (d->base, SIGINT, on_sigterm, d);
    d->timer = evtimer_new (d->base, on_timer, d);
    d->flush = event_new (d->base, -1, 0, on_flush, d);
    d->commit_timer = evtimer_new (d->base, on_commit_timer, d);
    event_priority_set (d->flush, 1);
    event_add (d->sigchld, NULL);
    event_add (d->sigterm, NULL);
    event_add (d->sigint, NULL);
    if (loomd_listen (d, &error) < 0)
        goto fail_err;
    if (listen_addr && loomd_agents_listen (d, listen_addr, &error) < 0)
        goto fail_err;
    loom_info ("loomd: serving %s: %u cores, %llu MiB on %s", d->dir, d->ncores,
               (unsigned long long)d->mem_mib, d->node);
    snprintf (msg, sizeof (msg), "ok %d %s %u %llu %s\n", (int)getpid (), d->dir,
              no_local ? 0 : d->ncores, (unsigned long long)d->mem_mib,
              d->listen_where[0] ? d->listen_where : "-");
    ready (readyfd, msg);
    loomd_kick (d);
    loomd_exec_reap (d); /* children that ended before the handler was set */
    event_base_dispatch (d->base);

    requeue_running (d);
    loomd_agents_close (d);
    loomd_exec_shutdown (d);
    loomd_outs_close ();
    loomd_conns_close (d);
    snprintf (path, sizeof (path), "%s/%s", d->dir, "loomd.sock");
    unlink (path);
    for (uint64_t k = 1; k < d->core->next_id; k++) {
        struct loom__job *j = loom__core_job (d->core, k);
        if (j)
            loomd_job_free (j->ext);
    }
    for (uint32_t i = 0; i < d->core->nfws; i++)
        json_decref (d->core->fws[i]->ext);
    loom__core_destroy (d->core);
    loomd_store_close (d->store);
    event_free (d->sigchld);
    event_free (d->sigterm);
    event_free (d->sigint);
    event_free (d->timer);
    event_free (d->flush);
    event_free (d->commit_timer);
    event_free (d->listen_ev);
    event_base_free (d->base);
    close (d->listenfd);
    for (unsigned i = 0; i < d->ncores; i++)
        hwloc_bitmap_free (d->core_pus[i]);
    free (d->core_pus);
    loom_topo_destroy (d->topo);
    free (d->node);
    free (d->logdir);
    free (d->dir);
    return 0;

fail_err:
    snprintf (msg, sizeof (msg), "%s\n", error.text);
fail:
    /* Started by loom sched start: it prints the reason, once. */
    if (readyfd < 0)
        fprintf (stderr, "loomd: %s", msg);
    if (readyfd >= 0) {
        char m2[640];
        snprintf (m2, sizeof (m2), "error %s", msg);
        ready (readyfd, m2);
    }
    return 1;
}
