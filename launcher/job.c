/* SPDX-License-Identifier: MIT */
/* A job: start its processes, follow them, kill them, and sum up how it ended. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/error.h>
#include <loom/trace.h>

#include "launch_int.h"
#include "placement_int.h"

#define NS_PER_SEC 1000000000.0

LOOM_TRACE_TYPE (t_start, "launch", "spawn", "ranks", "engine");
LOOM_TRACE_TYPE (t_proc_start, "launch", "proc.start", "rank:i", "pid");
LOOM_TRACE_TYPE (t_proc_exit, "launch", "proc.exit", "rank:i", "exit:i", "signal");
LOOM_TRACE_TYPE (t_abort, "launch", "pmix.abort", "rank:i", "status:i");
LOOM_TRACE_TYPE (t_log, "launch", "pmix.log", "rank:i");
LOOM_TRACE_TYPE (t_kill, "launch", "job.kill", "signal");
LOOM_TRACE_TYPE (t_end, "launch", "job.end", "exit:i", "wall:f", "ranks");

static loom_launch_job_t *find_job (loom_launch_t *l, const char *nspace)
{
    for (loom_launch_job_t *j = l->jobs; j; j = j->next)
        if (strcmp (j->id, nspace) == 0)
            return j;
    return NULL;
}

void loom__proc_signal (struct proc *pr, int sig)
{
    if (!pr->running)
        return;
    /* The group reaches what the rank started; pidfd is safe against pid reuse. */
    if (pr->own_pgrp)
        kill (-pr->pid, sig);
    if (pr->pidfd >= 0)
        pidfd_send_signal (pr->pidfd, sig, NULL, 0);
}

static void start_kill (loom_launch_job_t *job, int sig)
{
    loom_trace_instant (&t_kill, sig);
    for (int i = 0; i < job->nprocs; i++)
        loom__proc_signal (&job->procs[i], sig);
    if (!job->killing && sig != SIGKILL) {
        double grace = job->p.kill_grace_sec > 0 ? job->p.kill_grace_sec : 2.0;
        job->kill_deadline_ns = loom_clock_ns () + (uint64_t)(grace * NS_PER_SEC);
    }
    job->killing = 1;
    loom__launch_rearm_timer (job->l);
}

static void
set_failure (loom_launch_job_t *job, int rank, int code, const char *fmt, ...)
    LOOM_PRINTF (4, 5);
static void
set_failure (loom_launch_job_t *job, int rank, int code, const char *fmt, ...)
{
    if (job->st.failed_rank >= 0 || job->st.aborted)
        return; /* the first failure explains the job */
    job->st.failed_rank = rank;
    job->st.exit_code = code;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (job->st.reason, sizeof (job->st.reason), fmt, ap);
    va_end (ap);
}

void loom__job_abort (
    loom_launch_t *l, const char *nspace, int rank, int status, const char *msg)
{
    loom_launch_job_t *job = find_job (l, nspace);
    if (!job || job->done)
        return;
    loom_trace_instant (&t_abort, (int64_t)rank, (int64_t)status);
    if (!job->st.aborted) {
        job->st.failed_rank = -1; /* the abort explains the job, whatever came first */
        /* Open MPI passes "N/A" when the program gave no message. */
        int has_msg = msg && *msg && strcmp (msg, "N/A") != 0;
        set_failure (job, rank, status, "rank %d called MPI_Abort (status %d)%s%s",
                     rank, status, has_msg ? ": " : "", has_msg ? msg : "");
        job->st.aborted = 1;
        if (rank >= 0 && rank < job->nprocs)
            job->procs[rank].aborted = 1;
    }
    if (job->killing || job->abort_deadline_ns)
        return;
    /* Kill the others once the aborting rank has ended (it does right away), not
     * while it is ending: see loom__pmix_sync(). Bounded by the kill grace.
     */
    if (rank >= 0 && rank < job->nprocs && job->procs[rank].running) {
        double grace = job->p.kill_grace_sec > 0 ? job->p.kill_grace_sec : 2.0;
        job->abort_rank = rank;
        job->abort_deadline_ns = loom_clock_ns () + (uint64_t)(grace * NS_PER_SEC);
        loom__launch_rearm_timer (l);
    } else {
        start_kill (job, SIGTERM);
    }
}

void loom__job_log (loom_launch_t *l, const char *nspace, int rank, const char *text)
{
    loom_launch_job_t *job = find_job (l, nspace);
    if (!job || !text)
        return;
    loom_trace_instant (&t_log, (int64_t)rank);
    const char *s = text;
    while (*s) {
        const char *nl = strchr (s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen (s);
        if (len > 0 && job->p.output)
            job->p.output (job, rank, 2, s, len, job->p.arg);
        else if (len > 0 && !job->p.output) {
            int fd = job->p.stderr_fd >= 0 ? job->p.stderr_fd : 2;
            if (write (fd, s, len) < 0 || write (fd, "\n", 1) < 0) {
                /* nowhere else to put it */
            }
        }
        s += len + (nl ? 1 : 0);
    }
}

void loom__job_proc_ended (struct proc *pr, int status, const void *rusage)
{
    loom_launch_job_t *job = pr->job;
    const struct rusage *ru = rusage;
    struct loom_launch_proc_status st = {
        .rank = pr->rank,
        .node = pr->node,
        .pid = pr->pid,
        .exit_code = WIFEXITED (status) ? WEXITSTATUS (status) : -1,
        .signal = WIFSIGNALED (status) ? WTERMSIG (status) : 0,
        .aborted = pr->aborted,
        .wall_sec = (double)(loom_clock_ns () - pr->start_ns) / NS_PER_SEC,
        .user_sec = (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6,
        .sys_sec = (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6,
        .max_rss_kib = ru->ru_maxrss,
    };
    pr->running = 0;
    job->nrunning--;
    loom_trace_instant (&t_proc_exit, (int64_t)pr->rank, (int64_t)st.exit_code,
                        st.signal);
    /* Its writes are all in the pipes now: drain them before saying it ended. */
    loom__io_read (pr, 1, 1);
    loom__io_read (pr, 2, 1);
    loom__watch_del (job->l, pr->pidfd);
    close (pr->pidfd);
    pr->pidfd = -1;
    if (pr->own_pgrp)
        kill (-pr->pid, SIGKILL); /* what the rank left running in its group */

    const char *who = pr->rank < 0 ? "the engine" : "rank";
    char rank_txt[16] = "";
    if (pr->rank >= 0)
        snprintf (rank_txt, sizeof (rank_txt), " %d", pr->rank);
    /* While the job is being taken down, deaths are consequences, not causes. */
    int failed = 0;
    if (st.signal && !job->killing) {
        set_failure (job, pr->rank, 128 + st.signal,
                     "%s%s (pid %d) killed by signal %d (%s)", who, rank_txt,
                     (int)pr->pid, st.signal, strsignal (st.signal));
        failed = 1;
    } else if (st.exit_code > 0 && !job->killing) {
        set_failure (job, pr->rank, st.exit_code, "%s%s (pid %d) exited with status %d",
                     who, rank_txt, (int)pr->pid, st.exit_code);
        failed = 1;
    }
    if (job->p.proc_exit)
        job->p.proc_exit (job, &st, job->p.arg);
    int take_down = failed && !(job->p.flags & LOOM_LAUNCH_KEEP_GOING);
    if (job->abort_deadline_ns && pr->rank == job->abort_rank)
        take_down = 1;
    if (take_down && job->nrunning > 0 && !job->killing) {
        loom__pmix_sync (job); /* PMIx takes this death before those we cause */
        start_kill (job, SIGTERM);
    }
}

void loom__job_deadlines (loom_launch_t *l, uint64_t now)
{
    int changed = 0;
    for (loom_launch_job_t *j = l->jobs; j; j = j->next) {
        if (j->done || j->nrunning == 0)
            continue;
        if (j->deadline_ns && now >= j->deadline_ns && !j->killing) {
            j->st.timed_out = 1;
            if (j->st.failed_rank < 0 && !j->st.aborted) {
                j->st.exit_code = 124; /* as timeout(1) */
                snprintf (j->st.reason, sizeof (j->st.reason), "timed out after %.3g s",
                          j->p.timeout_sec);
            }
            start_kill (j, SIGTERM);
            changed = 1;
        }
        if (j->abort_deadline_ns && now >= j->abort_deadline_ns && !j->killing) {
            start_kill (j, SIGTERM); /* the aborting rank did not end */
            changed = 1;
        }
        if (j->kill_deadline_ns && now >= j->kill_deadline_ns) {
            for (int i = 0; i < j->nprocs; i++)
                loom__proc_signal (&j->procs[i], SIGKILL);
            j->kill_deadline_ns = 0;
            changed = 1;
        }
    }
    if (changed)
        loom__launch_rearm_timer (l);
}

/* Release what the job holds besides its processes: PMIx namespace, directories. */
static void job_release (loom_launch_job_t *job)
{
    if (job->l->pmix_up)
        loom__pmix_deregister_job (job);
    loom__rmtree (job->dir);
    loom__rmtree (job->shmdir);
}

void loom__job_finish_ready (loom_launch_t *l)
{
    loom_launch_job_t *j = l->jobs, *next;
    for (; j; j = next) {
        next = j->next;
        if (j->done || j->nrunning > 0)
            continue;
        j->done = 1;
        j->st.wall_sec = (double)(loom_clock_ns () - j->start_ns) / NS_PER_SEC;
        for (int i = 0; i < j->nprocs; i++)
            loom__io_close (&j->procs[i]);
        job_release (j);
        j->kill_deadline_ns = 0;
        loom__launch_rearm_timer (l);
        loom_trace_instant (&t_end, (int64_t)j->st.exit_code,
                            loom_trace_f64 (j->st.wall_sec), j->nprocs);
        if (j->p.done)
            j->p.done (j, &j->st, j->p.arg); /* may destroy j */
    }
}

/* Is every rank on this node? */
static int all_local (const loom_placement_t *pl)
{
    for (int n = 0; n < pl->nnodes; n++)
        if (pl->nodes[n].nranks > 0 && !pl->nodes[n].local)
            return 0;
    return 1;
}

static int make_dirs (loom_launch_job_t *job, loom_error_t *error)
{
    if (asprintf (&job->dir, "%s/%s", job->l->dir, job->id) < 0) {
        job->dir = NULL;
        return loom_errset (error, ENOMEM, "out of memory");
    }
    if (mkdir (job->dir, 0700) < 0)
        return loom_errprintf (error, "cannot create %s: %s", job->dir,
                               strerror (errno));
    /* Open MPI's shared-memory segments go here, not loose in /dev/shm, so a crashed
     * job leaves nothing behind once the directory is removed.
     */
    if (asprintf (&job->shmdir, "/dev/shm/loom.%d.%lu.%u", (int)getpid (),
                  job->l->pidns, job->seq)
        < 0) {
        job->shmdir = NULL;
        return loom_errset (error, ENOMEM, "out of memory");
    }
    if (mkdir (job->shmdir, 0700) < 0) {
        free (job->shmdir);
        job->shmdir = NULL; /* no /dev/shm: Open MPI keeps its default */
    }
    return 0;
}

/* Environment of one rank. */
static char **rank_env (loom_launch_job_t *job,
                        const loom_placement_t *pl,
                        int rank,
                        int direct,
                        loom_error_t *error)
{
    char **env = loom__env_base (job->p.env);
    char num[32];
    if (!env) {
        if (errno == EINVAL)
            loom_errset (error, EINVAL, "environment entries must be NAME=value");
        else
            loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    int bad = 0;
    snprintf (num, sizeof (num), "%d", rank);
    bad |= loom__env_set (&env, "LOOM_RANK", num);
    snprintf (num, sizeof (num), "%d", pl->size);
    bad |= loom__env_set (&env, "LOOM_SIZE", num);
    snprintf (num, sizeof (num), "%d", pl->ranks[rank].local_rank);
    bad |= loom__env_set (&env, "LOOM_LOCAL_RANK", num);
    bad |= loom__env_set (&env, "LOOM_JOB", job->id);
    if (direct && !(job->p.flags & LOOM_LAUNCH_NO_PMIX)) {
        if (loom__pmix_setup_fork (job, rank, &env) < 0) {
            loom__env_free (env);
            loom_errset (error, EIO, "PMIx could not prepare rank %d", rank);
            return NULL;
        }
        /* Open MPI 4.1 knows no "direct-launched by a PMIx server": without this its
         * schizo/orte component declares a singleton and forks its own orted.
         */
        if (!getenv ("OMPI_MCA_schizo"))
            bad |= loom__env_set (&env, "OMPI_MCA_schizo", "^orte");
        if (job->shmdir && !getenv ("OMPI_MCA_btl_vader_backing_directory"))
            bad |= loom__env_set (&env, "OMPI_MCA_btl_vader_backing_directory",
                                  job->shmdir);
        if (job->l->no_fabric)
            bad |= loom__env_skip_fabric (&env);
        if (pl->oversubscribed && !getenv ("OMPI_MCA_mpi_yield_when_idle"))
            bad |= loom__env_set (&env, "OMPI_MCA_mpi_yield_when_idle", "1");
    }
    if (bad) {
        loom__env_free (env);
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    return env;
}

static int start_direct (loom_launch_job_t *job,
                         const loom_placement_t *pl,
                         const char *path,
                         loom_error_t *error)
{
    hwloc_const_cpuset_t all = hwloc_topology_get_complete_cpuset (job->l->topo);
    for (int r = 0; r < pl->size; r++)
        if (!hwloc_bitmap_isincluded (pl->ranks[r].binding, all))
            return loom_errset (error, EINVAL,
                                "rank %d is bound to PUs this node does not have (was "
                                "the placement computed for another topology?)",
                                r);
    if (!(job->p.flags & LOOM_LAUNCH_NO_PMIX)) {
        if (!job->l->pmix_up)
            return loom_errset (error, EINVAL,
                                "this launcher has no PMIx server (no_pmix); use "
                                "LOOM_LAUNCH_NO_PMIX");
        if (loom__pmix_register_job (job, pl, error) < 0)
            return -1;
    }
    for (int r = 0; r < pl->size; r++) {
        struct proc *pr = &job->procs[r];
        char **env = rank_env (job, pl, r, 1, error);
        if (!env)
            return -1;
        int rc =
            loom__spawn (job, pr, path, job->p.argv, env, pl->ranks[r].binding, error);
        loom__env_free (env);
        if (pr->running) {
            job->nrunning++;
            loom_trace_instant (&t_proc_start, (int64_t)r, pr->pid);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int start_engine (loom_launch_job_t *job,
                         const loom_placement_t *pl,
                         loom_launch_engine_t engine,
                         const char *path,
                         loom_error_t *error)
{
    char **env = loom__env_base (job->p.env);
    if (!env)
        return loom_errset (error, errno, "bad environment");
    char **argv = loom__engine_argv (job, pl, engine, path, job->p.argv, &env, error);
    if (!argv) {
        loom__env_free (env);
        return -1;
    }
    int rc = -1;
    char *engine_path = loom__find_program (argv[0]);
    if (!engine_path) {
        loom_errset (error, ENOENT, "cannot find the engine '%s' in PATH", argv[0]);
    } else {
        struct proc *pr = &job->procs[0];
        rc = loom__spawn (job, pr, engine_path, argv, env, NULL, error);
        if (pr->running)
            job->nrunning++;
    }
    free (engine_path);
    loom__argv_free (argv);
    loom__env_free (env);
    return rc;
}

loom_launch_job_t *loom_launch_job_start (loom_launch_t *l,
                                          const struct loom_launch_job_params *params,
                                          loom_error_t *error)
{
    if (!l || !params || !params->placement || !params->argv || !params->argv[0]
        || (params->flags & ~(unsigned)(LOOM_LAUNCH_KEEP_GOING | LOOM_LAUNCH_NO_PMIX))
        || params->engine < LOOM_ENGINE_AUTO || params->engine > LOOM_ENGINE_SRUN
        || params->timeout_sec < 0) {
        loom_errset (error, EINVAL, "bad job parameters");
        return NULL;
    }
    const loom_placement_t *pl = params->placement;
    char *path = loom__find_program (params->argv[0]);
    if (!path) {
        int e = errno;
        loom_errset (error, e, "%s: %s", params->argv[0],
                     e == ENOENT ? "command not found" : strerror (e));
        return NULL;
    }
    loom_launch_engine_t engine = params->engine;
    if (engine == LOOM_ENGINE_AUTO)
        engine = all_local (pl)            ? LOOM_ENGINE_DIRECT
                 : getenv ("SLURM_JOB_ID") ? LOOM_ENGINE_SRUN
                                           : LOOM_ENGINE_MPIRUN;

    loom_launch_job_t *job = calloc (1, sizeof (*job));
    if (!job) {
        free (path);
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    job->l = l;
    job->p = *params;
    job->p.placement = NULL; /* not kept */
    job->st.failed_rank = -1;
    job->start_ns = loom_clock_ns ();
    if (params->timeout_sec > 0)
        job->deadline_ns = job->start_ns + (uint64_t)(params->timeout_sec * NS_PER_SEC);
    job->seq = ++l->seq;
    snprintf (job->id, sizeof (job->id), "loom.%d.%u", (int)getpid (), job->seq);
    job->nprocs = engine == LOOM_ENGINE_DIRECT ? pl->size : 1;
    job->procs = calloc ((size_t)job->nprocs, sizeof (*job->procs));
    if (!job->procs) {
        loom_errset (error, ENOMEM, "out of memory");
        goto error;
    }
    for (int i = 0; i < job->nprocs; i++) {
        struct proc *pr = &job->procs[i];
        pr->job = job;
        pr->rank = engine == LOOM_ENGINE_DIRECT ? i : -1;
        pr->node = engine == LOOM_ENGINE_DIRECT ? pl->ranks[i].node : 0;
        pr->pidfd = pr->out_fd = pr->err_fd = -1;
    }
    job->next = l->jobs;
    l->jobs = job;
    if (make_dirs (job, error) < 0)
        goto error;
    loom_trace_span_t span = loom_trace_begin (&t_start, pl->size, engine);
    int rc = engine == LOOM_ENGINE_DIRECT ? start_direct (job, pl, path, error)
                                          : start_engine (job, pl, engine, path, error);
    loom_trace_end (span);
    if (rc < 0)
        goto error;
    free (path);
    job->p.argv = job->p.env = NULL; /* the caller's, not kept */
    job->p.cwd = NULL;
    loom__launch_rearm_timer (l);
    return job;
error:
    free (path);
    loom_launch_job_destroy (job);
    return NULL;
}

int loom_launch_job_kill (loom_launch_job_t *job, int sig)
{
    if (!job || sig <= 0 || sig >= NSIG) {
        errno = EINVAL;
        return -1;
    }
    if (job->done || job->nrunning == 0)
        return 0;
    job->st.killed = 1;
    if (job->st.failed_rank < 0 && !job->st.aborted && !job->st.timed_out) {
        job->st.exit_code = 128 + sig;
        snprintf (job->st.reason, sizeof (job->st.reason), "killed by signal %d (%s)",
                  sig, strsignal (sig));
    }
    start_kill (job, sig);
    return 0;
}

int loom_launch_job_done (const loom_launch_job_t *job)
{
    return job && job->done;
}

int loom_launch_job_status (const loom_launch_job_t *job,
                            struct loom_launch_job_status *st)
{
    if (!job || !st) {
        errno = EINVAL;
        return -1;
    }
    if (!job->done) {
        errno = EAGAIN;
        return -1;
    }
    *st = job->st;
    return 0;
}

const char *loom_launch_job_id (const loom_launch_job_t *job)
{
    return job->id;
}

pid_t loom_launch_job_pid (const loom_launch_job_t *job, int rank)
{
    for (int i = 0; job && i < job->nprocs; i++)
        if (job->procs[i].rank == rank && job->procs[i].running)
            return job->procs[i].pid;
    errno = EINVAL;
    return -1;
}

void loom_launch_job_destroy (loom_launch_job_t *job)
{
    if (!job)
        return;
    int saved = errno;
    loom_launch_t *l = job->l;
    for (int i = 0; i < job->nprocs; i++) {
        struct proc *pr = &job->procs[i];
        if (pr->running) {
            loom__proc_signal (pr, SIGKILL);
            int status;
            while (waitpid (pr->pid, &status, 0) < 0 && errno == EINTR)
                ;
            pr->running = 0;
        }
        if (pr->pidfd >= 0) {
            loom__watch_del (l, pr->pidfd);
            close (pr->pidfd);
        }
        loom__io_close (pr);
    }
    if (!job->done)
        job_release (job);
    for (loom_launch_job_t **pp = &l->jobs; *pp; pp = &(*pp)->next) {
        if (*pp == job) {
            *pp = job->next;
            break;
        }
    }
    loom__launch_rearm_timer (l);
    free (job->procs);
    free (job->dir);
    free (job->shmdir);
    free (job);
    errno = saved;
}
