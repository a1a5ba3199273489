/* SPDX-License-Identifier: MIT */
/* Internals of the launcher: the launcher, its jobs and their processes. */
#ifndef LOOM_LAUNCHER_LAUNCH_INT_H
#define LOOM_LAUNCHER_LAUNCH_INT_H

#include <hwloc.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <loom/launch.h>

/* What an epoll registration stands for. */
enum watch_kind {
    WATCH_EVENTFD = 1, /* PMIx events queued by the progress thread */
    WATCH_TIMER,       /* timerfd: a timeout or kill deadline */
    WATCH_PIDFD,       /* a process ended */
    WATCH_OUT,         /* a process's stdout pipe */
    WATCH_ERR,         /* its stderr pipe */
};

struct watch {
    enum watch_kind kind;
    struct proc *proc;
};

/* Output of one stream of one process, cut into lines. */
struct linebuf {
    char *buf;
    size_t len, cap;
};

struct proc {
    struct loom_launch_job *job;
    int rank; /* -1: engine process */
    int node;
    pid_t pid;
    int pidfd;
    int out_fd, err_fd; /* read ends of the output pipes, or -1 */
    struct watch w_pid, w_out, w_err;
    struct linebuf out, err;
    uint64_t start_ns;
    int own_pgrp; /* leads its own process group (signals go to the group) */
    int running;
    int aborted;
};

/* A PMIx upcall passed from PMIx's progress thread to loom_launch_progress(). */
struct pmix_event {
    enum { PEV_ABORT, PEV_LOG } type;
    char nspace[256];
    int rank;
    int status;
    char *text;
    void (*cbfunc) (int status, void *cbdata); /* pmix_op_cbfunc_t, completed later */
    void *cbdata;
    struct pmix_event *next;
};

struct loom_launch {
    int epfd, evfd, tfd;
    struct watch w_ev, w_timer;
    loom_topo_t *own_topo; /* loaded by us, or NULL */
    hwloc_topology_t topo;
    char *dir; /* private directory, removed at destroy */
    char *xml; /* topology as XML for PMIX_LOCAL_TOPO */
    char host[256];
    char *mpirun, *srun, *rsh_agent;
    int pmix_up;
    int pmix_stuck;      /* a PMIx call did not complete in time: call it no more */
    unsigned long pidns; /* our PID namespace (names of our files carry it) */
    int no_fabric; /* no RDMA/HPC NIC or GPU here: MPI's fabric components are moot */
    unsigned seq;
    pthread_mutex_t lock; /* guards 'events' only */
    struct pmix_event *events, **events_tail;
    struct loom_launch_job *jobs;
};

struct loom_launch_job {
    loom_launch_t *l;
    struct loom_launch_job *next;
    char id[256];   /* PMIx namespace (pmix_nspace_t size) */
    unsigned seq;   /* job number in this launcher */
    char *dir;      /* per-job directory (PMIx tmpdir/nsdir, rankfile) */
    char *shmdir;   /* /dev/shm directory for Open MPI's shared-memory segments */
    int registered; /* PMIx namespace registered */
    int nprocs;
    struct proc *procs;
    int nrunning;
    struct loom_launch_job_params
        p; /* callbacks, arg, flags, timeouts (no pointers kept) */
    uint64_t start_ns;
    uint64_t deadline_ns;       /* timeout, or 0 */
    uint64_t kill_deadline_ns;  /* SIGKILL escalation, or 0 */
    int killing;                /* we are taking the job down */
    int abort_rank;             /* a rank called MPI_Abort: killing once it ended, */
    uint64_t abort_deadline_ns; /* or at this time, or 0 */
    int done;
    struct loom_launch_job_status st;
};

/* fabric.c */
int loom__node_has_fabric (void);
int loom__env_skip_fabric (char ***env);

/* launch.c */
unsigned long loom__pidns (void);
void loom__launch_rearm_timer (loom_launch_t *l);
int loom__watch_add (loom_launch_t *l, int fd, struct watch *w);
void loom__watch_del (loom_launch_t *l, int fd);
int loom__rmtree (const char *path);

/* job.c: a process ended (called with its wait status and rusage). */
void loom__job_proc_ended (struct proc *pr, int status, const void *rusage);
void loom__job_abort (
    loom_launch_t *l, const char *nspace, int rank, int status, const char *msg);
void loom__job_log (loom_launch_t *l, const char *nspace, int rank, const char *text);
void loom__job_deadlines (loom_launch_t *l, uint64_t now);
void loom__job_finish_ready (loom_launch_t *l);
void loom__proc_signal (struct proc *pr, int sig);

/* pmix_server.c */
int loom__pmix_init (loom_launch_t *l, loom_error_t *error);
void loom__pmix_fini (loom_launch_t *l);
int loom__pmix_register_job (loom_launch_job_t *job,
                             const loom_placement_t *pl,
                             loom_error_t *error);
int loom__pmix_setup_fork (loom_launch_job_t *job, int rank, char ***env);
void loom__pmix_sync (loom_launch_job_t *job);
void loom__pmix_deregister_job (loom_launch_job_t *job);
void loom__pmix_drain (loom_launch_t *l);

/* spawn.c */
char *loom__find_program (const char *name);
int loom__spawn (loom_launch_job_t *job,
                 struct proc *pr,
                 const char *path,
                 char *const *argv,
                 char **env,
                 hwloc_const_cpuset_t binding,
                 loom_error_t *error);
int loom__env_set (char ***env, const char *name, const char *value);
char **loom__env_base (char *const *extra);
void loom__env_free (char **env);

/* task.c: loom_launch_task_start() without its checks, exec'ing 'path' (NULL: argv[0]
 * searched in PATH); errors begin with 'who' ("rank 3").
 */
int loom__task_start (const struct loom_launch_task_spec *spec,
                      const char *path,
                      const char *who,
                      pid_t *pid,
                      loom_error_t *error);

/* io_forward.c */
void loom__io_read (struct proc *pr, int stream, int final);
void loom__io_close (struct proc *pr);

/* engine.c: argv of mpirun/srun running a multi-node placement. */
char **loom__engine_argv (loom_launch_job_t *job,
                          const loom_placement_t *pl,
                          loom_launch_engine_t engine,
                          const char *path,
                          char *const *argv,
                          char ***env,
                          loom_error_t *error);
void loom__argv_free (char **argv);

#endif
