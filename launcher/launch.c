/* SPDX-License-Identifier: MIT */
/* The launcher: its private directory, PMIx server, and the event loop that turns
 * process exits, output, PMIx events and deadlines into callbacks.
 *
 * Everything the launcher waits for is one epoll set: pidfds of its processes, their
 * output pipes, an eventfd written by PMIx's thread, and one timerfd for the nearest
 * deadline. The epoll fd itself is what a host loop watches (loom_launch_fd()).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/error.h>

#include "launch_int.h"

int loom__watch_add (loom_launch_t *l, int fd, struct watch *w)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
    return epoll_ctl (l->epfd, EPOLL_CTL_ADD, fd, &ev);
}

void loom__watch_del (loom_launch_t *l, int fd)
{
    epoll_ctl (l->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static int rm_entry (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    if (remove (path) < 0 && errno != ENOENT)
        return 0; /* keep going: remove what can be removed */
    return 0;
}

int loom__rmtree (const char *path)
{
    if (!path)
        return 0;
    return nftw (path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void loom__launch_rearm_timer (loom_launch_t *l)
{
    uint64_t next = 0;
    for (loom_launch_job_t *j = l->jobs; j; j = j->next) {
        if (j->done)
            continue;
        if (j->deadline_ns && !j->killing && (!next || j->deadline_ns < next))
            next = j->deadline_ns;
        if (j->kill_deadline_ns && (!next || j->kill_deadline_ns < next))
            next = j->kill_deadline_ns;
        if (j->abort_deadline_ns && !j->killing
            && (!next || j->abort_deadline_ns < next))
            next = j->abort_deadline_ns;
    }
    struct itimerspec its = {0};
    if (next) {
        its.it_value.tv_sec = (time_t)(next / 1000000000u);
        its.it_value.tv_nsec = (long)(next % 1000000000u);
        if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
            its.it_value.tv_nsec = 1;
    }
    timerfd_settime (l->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

void loom_launch_destroy (loom_launch_t *l)
{
    if (!l)
        return;
    int saved = errno;
    while (l->jobs)
        loom_launch_job_destroy (l->jobs);
    loom__pmix_fini (l);
    if (l->events) { /* events that never got drained */
        l->events_tail = &l->events;
        for (struct pmix_event *e = l->events, *n; e; e = n) {
            n = e->next;
            free (e->text);
            free (e);
        }
    }
    loom__rmtree (l->dir);
    if (l->epfd >= 0)
        close (l->epfd);
    if (l->evfd >= 0)
        close (l->evfd);
    if (l->tfd >= 0)
        close (l->tfd);
    loom_topo_destroy (l->own_topo);
    pthread_mutex_destroy (&l->lock);
    free (l->xml);
    free (l->dir);
    free (l->mpirun);
    free (l->srun);
    free (l->rsh_agent);
    free (l);
    errno = saved;
}

/* Our PID namespace, as an inode number: a pid means something only inside it. */
unsigned long loom__pidns (void)
{
    struct stat st;
    return stat ("/proc/self/ns/pid", &st) == 0 ? (unsigned long)st.st_ino : 0;
}

/* Remove what launchers that died without cleaning up (SIGKILL, a test timeout) left
 * in 'dir': entries '<prefix><pid>.<pidns>.*' of our PID namespace whose pid no longer
 * exists. Entries of other PID namespaces (a container, an emulated node sharing /tmp)
 * are never touched: their pids cannot be checked from here.
 */
static void reap_stale (const char *dir, const char *prefix, unsigned long pidns)
{
    DIR *d = opendir (dir);
    if (!d || !pidns) {
        if (d)
            closedir (d);
        return;
    }
    size_t pl = strlen (prefix);
    struct dirent *e;
    while ((e = readdir (d))) {
        if (strncmp (e->d_name, prefix, pl) != 0)
            continue;
        char *end, *end2;
        long pid = strtol (e->d_name + pl, &end, 10);
        if (end == e->d_name + pl || *end != '.' || pid <= 0)
            continue;
        unsigned long ns = strtoul (end + 1, &end2, 10);
        if (end2 == end + 1 || *end2 != '.' || ns != pidns)
            continue;
        if (kill ((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive (or not ours to judge) */
        char *path;
        if (asprintf (&path, "%s/%s", dir, e->d_name) < 0)
            continue;
        loom__rmtree (path);
        free (path);
    }
    closedir (d);
}

static char *dup_or (const char *s, const char *dflt)
{
    return strdup (s ? s : dflt);
}

loom_launch_t *loom_launch_create (const struct loom_launch_params *params,
                                   loom_error_t *error)
{
    struct loom_launch_params dflt = LOOM_LAUNCH_PARAMS_INIT;
    if (!params)
        params = &dflt;
    loom_launch_t *l = calloc (1, sizeof (*l));
    if (!l) {
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    l->epfd = l->evfd = l->tfd = -1;
    pthread_mutex_init (&l->lock, NULL);
    l->events_tail = &l->events;
    gethostname (l->host, sizeof (l->host) - 1);
    l->mpirun = dup_or (params->mpirun, "mpirun");
    l->srun = dup_or (params->srun, "srun");
    if (params->rsh_agent)
        l->rsh_agent = strdup (params->rsh_agent);
    if (!l->mpirun || !l->srun || (params->rsh_agent && !l->rsh_agent)) {
        loom_errset (error, ENOMEM, "out of memory");
        goto error;
    }
    if (params->topo) {
        l->topo = loom_topo_hwloc (params->topo);
    } else {
        if (!(l->own_topo = loom_topo_load (LOOM_TOPO_LOCAL, NULL, error)))
            goto error;
        l->topo = loom_topo_hwloc (l->own_topo);
    }

    const char *base = params->tmpdir ? params->tmpdir : getenv ("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    l->pidns = loom__pidns ();
    reap_stale ("/dev/shm", "loom.", l->pidns);
    reap_stale (base, "loom-launcher.", l->pidns);
    if (asprintf (&l->dir, "%s/loom-launcher.%d.%lu.XXXXXX", base, (int)getpid (),
                  l->pidns)
        < 0) {
        l->dir = NULL;
        loom_errset (error, ENOMEM, "out of memory");
        goto error;
    }
    if (!mkdtemp (l->dir)) {
        loom_errprintf (error, "cannot create a directory in %s: %s", base,
                        strerror (errno));
        free (l->dir);
        l->dir = NULL;
        goto error;
    }
    l->epfd = epoll_create1 (EPOLL_CLOEXEC);
    l->evfd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
    l->tfd = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (l->epfd < 0 || l->evfd < 0 || l->tfd < 0) {
        loom_errprintf (error, "cannot create launcher descriptors: %s",
                        strerror (errno));
        goto error;
    }
    l->no_fabric = !loom__node_has_fabric ();
    l->w_ev = (struct watch){WATCH_EVENTFD, NULL};
    l->w_timer = (struct watch){WATCH_TIMER, NULL};
    if (loom__watch_add (l, l->evfd, &l->w_ev) < 0
        || loom__watch_add (l, l->tfd, &l->w_timer) < 0) {
        loom_errprintf (error, "epoll: %s", strerror (errno));
        goto error;
    }
    if (!params->no_pmix) {
        int len = 0;
        /* Ranks read this instead of discovering the topology themselves. */
        if (hwloc_topology_export_xmlbuffer (l->topo, &l->xml, &len, 0) == 0) {
            char *copy = strdup (l->xml);
            hwloc_free_xmlbuffer (l->topo, l->xml);
            l->xml = copy;
        } else {
            l->xml = NULL;
        }
        if (loom__pmix_init (l, error) < 0)
            goto error;
    }
    return l;
error:
    loom_launch_destroy (l);
    return NULL;
}

int loom_launch_fd (loom_launch_t *l)
{
    return l->epfd;
}

static void reap (struct proc *pr)
{
    int status = 0;
    struct rusage ru;
    memset (&ru, 0, sizeof (ru));
    pid_t got = wait4 (pr->pid, &status, WNOHANG, &ru);
    if (got == 0)
        return; /* spurious: still running */
    if (got < 0) {
        /* ECHILD: someone else reaped it (the host broke the rule in launch.h). Count
         * it as killed rather than wait forever.
         */
        status = SIGKILL;
    }
    loom__job_proc_ended (pr, status, &ru);
}

int loom_launch_progress (loom_launch_t *l, int timeout_ms)
{
    if (!l) {
        errno = EINVAL;
        return -1;
    }
    struct epoll_event evs[64];
    int n = epoll_wait (l->epfd, evs, 64, timeout_ms);
    if (n < 0) {
        if (errno != EINTR)
            return -1;
        n = 0;
    }
    /* PMIx events first: an abort is queued before the aborting rank can exit, and
     * its status must win over the exit status seen in the same batch.
     */
    loom__pmix_drain (l);
    for (int i = 0; i < n; i++) {
        struct watch *w = evs[i].data.ptr;
        if (w->kind == WATCH_OUT || w->kind == WATCH_ERR)
            loom__io_read (w->proc, w->kind == WATCH_OUT ? 1 : 2, 0);
    }
    for (int i = 0; i < n; i++) {
        struct watch *w = evs[i].data.ptr;
        if (w->kind == WATCH_PIDFD && w->proc->running)
            reap (w->proc);
        else if (w->kind == WATCH_TIMER) {
            uint64_t ticks;
            if (read (l->tfd, &ticks, sizeof (ticks)) < 0) {
                /* EAGAIN: already handled */
            }
        }
    }
    loom__job_deadlines (l, loom_clock_ns ());
    loom__job_finish_ready (l);
    return n;
}
