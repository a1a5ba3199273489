/* SPDX-License-Identifier: MIT */
/* Launcher: topology-aware placement of ranks, and starting them.
 *
 * Two parts that are used together or apart:
 *
 * 1. Placement (loom_placement_*): given one hwloc topology and one allowed cpuset per
 *    node, and mpirun's vocabulary (--map-by, --rank-by, --bind-to, --cpus-per-rank,
 *    --oversubscribe), decide for each rank its node and the PUs it is bound to, and
 *    say why. Pure computation: no process is started, nothing is printed. An
 *    impossible request is an error that says what would fit, never a guess.
 *
 * 2. Launching (loom_launch_*): one launcher per process. On this node it is the PMIx
 *    server of the jobs it starts (no mpirun): it registers each job's namespace,
 *    forks, binds each rank with hwloc before exec, forwards output, and reports every
 *    process exit. A placement spanning other nodes is handed to an existing engine
 *    (mpirun with a rankfile, or srun with --cpu-bind maps) started as one child.
 *
 * 3. Tasks (loom_launch_task_*): start one process on this node bound to exactly the
 *    PUs given, optionally as another user, with no launcher object, placement or PMIx
 *    (loomd's plain tasks: thousands a second). The caller reaps it by pid.
 *
 * Event model (for daemons with their own loop, e.g. loomd on libevent):
 *   - loom_launch_fd() is one file descriptor (an epoll fd) that becomes readable when
 *     the launcher has work: a process ended, output arrived, a PMIx event (abort, log)
 *     came from PMIx's progress thread, or a timeout/kill deadline passed. Watch it for
 *     EV_READ and call loom_launch_progress(l, 0) when it fires.
 *   - Every callback runs inside loom_launch_progress(), on the caller's thread, never
 *     on PMIx's progress thread. Callbacks may call loom_launch_job_kill(); the 'done'
 *     callback may also destroy its job.
 *   - A simple program loops on loom_launch_progress(l, -1) until its jobs are done.
 *   - The launcher reaps only its own children, by pid (pidfds). The host program must
 *     not reap them itself: no waitpid(-1)/wait(), no SIGCHLD set to SIG_IGN.
 *   - Children get PR_SET_PDEATHSIG(SIGKILL): they die with the thread that forked
 *     them, so start jobs from a thread that lives as long as the jobs (the main one).
 *
 * Exit status of a job follows mpirun: the MPI_Abort status if a rank aborted; 128+sig
 * if a rank was killed by a signal (139 for a segfault); else the first non-zero exit
 * code; else 0. A failing rank makes the launcher kill the rest of its job (unless
 * LOOM_LAUNCH_KEEP_GOING).
 */
#ifndef LOOM_LAUNCH_H
#define LOOM_LAUNCH_H

#include <hwloc.h>
#include <sys/types.h>

#include <loom/topo.h>
#include <loom/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Placement ------------------------------------------------------------------- */

typedef struct loom_placement loom_placement_t;

/* One node offered to a placement. */
struct loom_node {
    const char *name;   /* host name; NULL or "localhost" means this node */
    loom_topo_t *topo;  /* its topology (not owned; may be shared by several nodes) */
    const char *cpuset; /* PUs granted on it, hwloc list "0-3,8"; NULL: the topology's
                         * allowed set. Intersected with the topology's allowed set. */
    unsigned slots;     /* max ranks on this node (e.g. --host a:2); 0: as many as
                         * its allowed cores (or PUs with hwthreads) hold */
};

/* Placement options, named as mpirun names them. Strings are parsed by
 * loom_placement_compute(); see docs/launcher.md for the grammar.
 */
struct loom_placement_params {
    int nprocs;          /* ranks; 0: as many as fit (one per CPU, or what ppr gives) */
    const char *map_by;  /* slot|core|hwthread|l3cache|numa|package|node|ppr:N:OBJ,
                          * each optionally ":pe=K"; NULL = "core" */
    const char *rank_by; /* slot|core|l3cache|numa|package|node; NULL = as mapped */
    const char *bind_to; /* none|hwthread|core|l3cache|numa|package; NULL = "core"
                          * ("hwthread" when hwthreads is set) */
    int cpus_per_rank;   /* CPUs (cores, or PUs with hwthreads) per rank; 0 = 1, or
                          * the pe= of map_by */
    int oversubscribe;   /* allow more ranks than CPUs: ranks then share CPUs */
    int hwthreads;       /* count PUs (hardware threads) as CPUs instead of cores */
};
#define LOOM_PLACEMENT_PARAMS_INIT                                                     \
    {                                                                                  \
        .nprocs = 0, .map_by = NULL, .rank_by = NULL, .bind_to = NULL,                 \
        .cpus_per_rank = 0, .oversubscribe = 0, .hwthreads = 0                         \
    }

/* Where one rank goes. Pointers are owned by the placement. */
struct loom_rank_place {
    int rank;
    int node;              /* index into the nodes given to loom_placement_compute */
    const char *node_name; /* that node's name ("localhost" for this node) */
    int local_rank;        /* rank among the ranks of its node, 0-based */
    hwloc_const_cpuset_t cpus;    /* the CPUs (cores/PUs) assigned, as PUs */
    hwloc_const_cpuset_t binding; /* PUs the rank is bound to (--bind-to) */
    const char *why;              /* one line explaining the decision */
};

/* Place params->nprocs ranks on 'nodes' (nnodes >= 1). Topologies are read, not kept:
 * the placement does not reference 'nodes' after returning, except that each rank's
 * cpusets refer to PU indexes of its node's topology.
 * Returns a placement to free with loom_placement_destroy(), or NULL with errno set:
 * EINVAL for a bad or impossible request (unknown policy, bad ppr syntax, nprocs < 0,
 * pe larger than the object it maps to, more ranks than CPUs without oversubscribe,
 * an empty cpuset); ENOMEM. 'error' says what is wrong and, when too little fits,
 * what would fit.
 */
LOOM_API loom_placement_t *
loom_placement_compute (const struct loom_node *nodes,
                        size_t nnodes,
                        const struct loom_placement_params *params,
                        loom_error_t *error);

/* Free 'p'. Accepts NULL, preserves errno. */
LOOM_API void loom_placement_destroy (loom_placement_t *p);

/* Number of ranks placed. This function can't fail. */
LOOM_API int loom_placement_size (const loom_placement_t *p);

/* Number of nodes the placement was computed on (some may hold no rank). */
LOOM_API int loom_placement_nnodes (const loom_placement_t *p);

/* Is the placement oversubscribed (some CPU given to more than one rank)? */
LOOM_API int loom_placement_oversubscribed (const loom_placement_t *p);

/* Fill 'out' for 'rank'. Returns 0, or -1 with errno EINVAL if rank is out of range.
 * The pointers in 'out' stay valid until loom_placement_destroy(p).
 */
LOOM_API int
loom_placement_rank (const loom_placement_t *p, int rank, struct loom_rank_place *out);

/* What --report-bindings prints: one line per rank, "rank R on NODE: PUs LIST
 * [map]", where map shows each package as cores separated by '/', 'B' for a PU
 * bound and '.' for one not. Caller frees with free(3); NULL with errno ENOMEM.
 */
LOOM_API char *loom_placement_format_bindings (const loom_placement_t *p);

/* What --explain prints: the request as understood (policy, CPUs per node, capacity),
 * then one line per rank saying why it landed where it did. Caller frees with free(3);
 * NULL with errno ENOMEM.
 */
LOOM_API char *loom_placement_format_explain (const loom_placement_t *p);

/* ---- Hosts ----------------------------------------------------------------------- */

/* A host offered to a job, from --host, --hostfile or a Slurm allocation. */
struct loom_host {
    char *name;
    unsigned slots; /* 0: not given (as many as its CPUs hold) */
};

/* Parse a host list "a:2,b,c:4" (mpirun's --host). Returns the number of hosts (>= 1)
 * and sets *hosts (free with loom_hosts_free()), or -1 with errno EINVAL (empty name,
 * bad slot count) or ENOMEM.
 */
LOOM_API int
loom_hosts_parse (const char *list, struct loom_host **hosts, loom_error_t *error);

/* Read a hostfile: one host per line, "name [slots=N]", '#' starts a comment. Returns
 * the number of hosts and sets *hosts, or -1 with errno set (ENOENT/EACCES for the
 * file; EINVAL naming the bad line; ENOMEM).
 */
LOOM_API int
loom_hosts_read_file (const char *path, struct loom_host **hosts, loom_error_t *error);

/* The hosts of the Slurm allocation this process runs in: SLURM_JOB_NODELIST (or
 * SLURM_NODELIST) expanded ("n[1-3,07],m2"), slots from SLURM_TASKS_PER_NODE (or
 * SLURM_JOB_CPUS_PER_NODE) ("2(x3),1"). Returns the number of hosts and sets *hosts;
 * 0 when not inside an allocation; -1 with errno EINVAL (bad syntax) or ENOMEM.
 */
LOOM_API int loom_hosts_from_slurm (struct loom_host **hosts, loom_error_t *error);

/* Free 'n' hosts from the calls above. Accepts NULL, preserves errno. */
LOOM_API void loom_hosts_free (struct loom_host *hosts, int n);

/* ---- Launching ------------------------------------------------------------------- */

typedef struct loom_launch loom_launch_t;
typedef struct loom_launch_job loom_launch_job_t;

struct loom_launch_params {
    loom_topo_t *topo;  /* this node's topology (not owned, must outlive the
                         * launcher); NULL: load it */
    const char *tmpdir; /* base of the launcher's private directory; NULL: $TMPDIR
                         * or /tmp */
    const char *mpirun; /* engine for multi-node jobs outside Slurm; NULL: "mpirun" */
    const char *srun;   /* engine inside Slurm; NULL: "srun" */
    const char *rsh_agent; /* passed to mpirun as plm_rsh_agent; NULL: mpirun's own */
    int no_pmix;           /* do not start a PMIx server: only non-MPI programs and
                            * engine jobs can run */
};
#define LOOM_LAUNCH_PARAMS_INIT                                                        \
    {                                                                                  \
        .topo = NULL, .tmpdir = NULL, .mpirun = NULL, .srun = NULL, .rsh_agent = NULL, \
        .no_pmix = 0                                                                   \
    }

/* Create the launcher of this process and start its PMIx server. Only one launcher
 * may exist per process (PMIx allows one server).
 * Returns a handle, or NULL with errno set: EBUSY if one exists; EIO if the PMIx server
 * did not start; ENOMEM; others from creating the private directory.
 */
LOOM_API loom_launch_t *loom_launch_create (const struct loom_launch_params *params,
                                            loom_error_t *error);

/* Kill (SIGKILL) every process of every job still running, reap them, remove the
 * private directory, stop the PMIx server and free 'l'. Jobs not yet destroyed are
 * freed too (their callbacks are not called). Accepts NULL, preserves errno.
 */
LOOM_API void loom_launch_destroy (loom_launch_t *l);

/* The fd to watch for readability; see "Event model" above. Owned by 'l'. */
LOOM_API int loom_launch_fd (loom_launch_t *l);

/* Handle what is ready, waiting up to timeout_ms for something (0: do not wait; -1:
 * wait until something happens). Runs the callbacks. A signal interrupting the wait
 * returns 0 early. Returns the number of events handled (>= 0), or -1 with errno set
 * (EINVAL, or errno of epoll_wait for failures other than EINTR).
 */
LOOM_API int loom_launch_progress (loom_launch_t *l, int timeout_ms);

/* Status of one process that ended. */
struct loom_launch_proc_status {
    int rank; /* -1: the engine process (mpirun/srun) of a multi-node job */
    int node; /* node index in the placement */
    pid_t pid;
    int exit_code;   /* exit status when it exited, else -1 */
    int signal;      /* signal that killed it, else 0 */
    int aborted;     /* it called MPI_Abort / PMIx_Abort */
    double wall_sec; /* from fork to exit */
    double user_sec; /* CPU time */
    double sys_sec;
    long max_rss_kib; /* peak resident set size */
};

/* Status of a whole job, once every process ended. */
struct loom_launch_job_status {
    int exit_code;    /* as mpirun would exit: see the top of this file */
    int failed_rank;  /* first rank that failed (abort, signal, non-zero), or -1 */
    int aborted;      /* a rank called MPI_Abort */
    int timed_out;    /* the timeout killed it */
    int killed;       /* loom_launch_job_kill() killed it */
    double wall_sec;  /* from start to the last exit */
    char reason[256]; /* one line, e.g. "rank 1 called MPI_Abort (status 7)"; empty
                       * when every rank exited 0 */
};

/* Output of a rank: one line (without its '\n'; a last unterminated line is delivered
 * too), 'stream' 1 for stdout and 2 for stderr. Messages a rank logs through PMIx
 * (Open MPI's error text when there is no mpirun) arrive as stderr lines. Through
 * mpirun, ranks' lines carry their rank (mpirun --tag-output, the tag removed); what
 * the engine itself writes comes with rank -1.
 */
typedef void (*loom_launch_output_f) (loom_launch_job_t *job,
                                      int rank,
                                      int stream,
                                      const char *line,
                                      size_t len,
                                      void *arg);
typedef void (*loom_launch_proc_exit_f) (loom_launch_job_t *job,
                                         const struct loom_launch_proc_status *st,
                                         void *arg);
typedef void (*loom_launch_job_done_f) (loom_launch_job_t *job,
                                        const struct loom_launch_job_status *st,
                                        void *arg);

typedef enum {
    LOOM_LAUNCH_KEEP_GOING = 1 << 0, /* a failing process does not kill the others */
    LOOM_LAUNCH_NO_PMIX = 1 << 1,    /* plain processes: no PMIx namespace (faster for
                                      * commands that are not MPI programs) */
} loom_launch_flags_t;

typedef enum {
    LOOM_ENGINE_AUTO = 0, /* direct if every rank is on this node, else srun inside
                           * Slurm (SLURM_JOB_ID set), else mpirun */
    LOOM_ENGINE_DIRECT = 1,
    LOOM_ENGINE_MPIRUN = 2,
    LOOM_ENGINE_SRUN = 3,
} loom_launch_engine_t;

struct loom_launch_job_params {
    const loom_placement_t *placement; /* required; read at start, not kept */
    char *const *argv;     /* required: program (searched in PATH) and arguments */
    char *const *env;      /* extra "NAME=value" for every rank; NULL-terminated or
                            * NULL */
    const char *cwd;       /* NULL: the launcher's */
    double timeout_sec;    /* > 0: kill the job after this long (status timed_out) */
    double kill_grace_sec; /* SIGTERM to SIGKILL delay when killing; 0 = 2 s */
    int stdin_fd;          /* rank 0's stdin (dup'ed; the caller keeps it); -1: none */
    int stdout_fd;         /* without 'output': where ranks write (dup'ed); -1: the */
    int stderr_fd;         /* launcher's own stdout/stderr */
    loom_launch_output_f output;       /* capture output line by line, or NULL */
    loom_launch_proc_exit_f proc_exit; /* each process that ends, or NULL */
    loom_launch_job_done_f done;       /* the job ended, or NULL */
    void *arg;                         /* passed to the callbacks */
    unsigned flags;                    /* loom_launch_flags_t */
    loom_launch_engine_t engine;
};
#define LOOM_LAUNCH_JOB_PARAMS_INIT                                                    \
    {                                                                                  \
        .placement = NULL, .argv = NULL, .env = NULL, .cwd = NULL, .timeout_sec = 0,   \
        .kill_grace_sec = 0, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1,         \
        .output = NULL, .proc_exit = NULL, .done = NULL, .arg = NULL, .flags = 0,      \
        .engine = LOOM_ENGINE_AUTO                                                     \
    }

/* Start a job: every rank of params->placement runs params->argv, bound to its
 * binding. Ranks get LOOM_RANK, LOOM_SIZE, LOOM_LOCAL_RANK and LOOM_JOB in their
 * environment, and (direct launch) a PMIx namespace so MPI programs start without
 * mpirun. Returns when every process is forked (a few ms); ends are reported through
 * loom_launch_progress().
 * Returns the job, owned by the caller (free with loom_launch_job_destroy()), or NULL
 * with errno set: EINVAL (bad params, unknown flags); ENOENT/EACCES (argv[0] not found
 * or not executable); EIO (PMIx registration failed); ENOMEM; fork's errno.
 */
LOOM_API loom_launch_job_t *loom_launch_job_start (
    loom_launch_t *l, const struct loom_launch_job_params *params, loom_error_t *error);

/* Send 'sig' to every running process of 'job'. SIGTERM and SIGINT escalate to
 * SIGKILL after the job's kill_grace_sec. The job is marked killed. Returns 0, or -1
 * with errno EINVAL (bad signal). Killing a finished job does nothing and returns 0.
 */
LOOM_API int loom_launch_job_kill (loom_launch_job_t *job, int sig);

/* Has every process of 'job' ended (and the done callback run)? */
LOOM_API int loom_launch_job_done (const loom_launch_job_t *job);

/* Fill 'st' with the job's status. Returns 0, or -1 with errno EAGAIN if the job is
 * still running.
 */
LOOM_API int loom_launch_job_status (const loom_launch_job_t *job,
                                     struct loom_launch_job_status *st);

/* The job's id (its PMIx namespace, e.g. "loom.1234.1"). Owned by 'job'. */
LOOM_API const char *loom_launch_job_id (const loom_launch_job_t *job);

/* pid of 'rank' (of the engine for rank -1), or -1 with errno EINVAL if there is no
 * such process. The pid is valid only while the process has not been reported ended.
 */
LOOM_API pid_t loom_launch_job_pid (const loom_launch_job_t *job, int rank);

/* Destroy 'job': if it still runs, kill it with SIGKILL and reap it (blocking, a few
 * ms) without calling its callbacks. Removes its private directories and /dev/shm
 * segments. Accepts NULL, preserves errno.
 */
LOOM_API void loom_launch_job_destroy (loom_launch_job_t *job);

/* ---- Tasks ----------------------------------------------------------------------- */

typedef enum {
    LOOM_LAUNCH_TASK_KEEP_PGRP = 1 << 0, /* stay in the caller's process group (default:
                                          * lead a new one, so a kill reaches whatever
                                          * the task starts) */
    LOOM_LAUNCH_TASK_PDEATHSIG = 1 << 1, /* SIGKILL the task when the thread that
                                          * started it ends (PR_SET_PDEATHSIG); costs a
                                          * fork instead of a vfork */
} loom_launch_task_flags_t;

/* One process to start. Pointers are read during loom_launch_task_start() only. */
struct loom_launch_task_spec {
    char *const *argv; /* required: program and arguments; argv[0] is searched in the
                        * caller's PATH when it has no '/'. Never through a shell. */
    char *const *envp; /* the whole environment, NULL-terminated; NULL: the caller's */
    const char *cwd;   /* working directory (entered as the task's user); NULL: the
                        * caller's */
    hwloc_const_cpuset_t cpuset; /* PUs (OS indexes) the task is bound to, exactly; an
                                  * error if one is outside the PUs this process may
                                  * use. NULL: the calling thread's binding. */
    const char *user; /* non-NULL: run as this user: setgid(gid), the user's groups
                       * (initgroups(user, gid)), setuid(uid), in that order, before
                       * exec. Needs root (CAP_SETUID, CAP_SETGID). */
    uid_t uid;
    gid_t gid;
    int stdin_fd;  /* the task's stdin (dup'ed; the caller keeps it); -1: /dev/null */
    int stdout_fd; /* its stdout and stderr (dup'ed); -1: the caller's own */
    int stderr_fd;
    unsigned flags; /* loom_launch_task_flags_t */
};
#define LOOM_LAUNCH_TASK_SPEC_INIT                                                     \
    {                                                                                  \
        .argv = NULL, .envp = NULL, .cwd = NULL, .cpuset = NULL, .user = NULL,         \
        .uid = 0, .gid = 0, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1,          \
        .flags = 0                                                                     \
    }

/* Start one process as 'spec' says and store its pid in *pid. It leads its own process
 * group (unless LOOM_LAUNCH_TASK_KEEP_PGRP), has an empty signal mask and the default
 * disposition of the signals daemons ignore (SIGPIPE, SIGCHLD, SIGTERM, SIGINT,
 * SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2), and inherits no descriptor of the caller but 0, 1
 * and 2. Returns once the program is executing (or failed to), so a program that cannot
 * be run is an error here, not an exit status 127 later. The caller reaps the process
 * by pid (waitpid(2)/wait4(2) on *pid, or a pidfd); nothing else is kept about it. Uses
 * the calling thread's CPU mask for the duration of the call (restored before
 * returning): not for a thread that others bind concurrently. Returns 0, or -1 with
 * errno set: EINVAL (no argv[0], unknown flags, an empty or infinite cpuset, a PU this
 * process may not use); ENOENT/EACCES/ENOEXEC (the program, or cwd); EPERM (switching
 * user without privilege); ENOMEM; fork's errno. 'error' says what failed in one line,
 * naming the program ("cannot start 'x': ...").
 */
LOOM_API int loom_launch_task_start (const struct loom_launch_task_spec *spec,
                                     pid_t *pid,
                                     loom_error_t *error);

/* Send 'sig' to the process group that task 'pid' leads, or to the process alone if it
 * leads none (LOOM_LAUNCH_TASK_KEEP_PGRP). sig 0 checks that it exists. Returns 0, or
 * -1 with errno: EINVAL (pid <= 1, which would reach processes that are not the task; a
 * bad signal); ESRCH (gone); EPERM.
 */
LOOM_API int loom_launch_task_kill (pid_t pid, int sig);

#ifdef __cplusplus
}
#endif
#endif
