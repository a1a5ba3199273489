/* SPDX-License-Identifier: MIT */
/* loomd: the daemon around the policy core. One thread, one libevent loop: the Unix
 * socket (clients and frameworks), SIGCHLD (task ends), one timer for the core's
 * deadlines, and a low-priority event that commits SQLite once per loop iteration.
 */
#ifndef LOOMD_H
#define LOOMD_H

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <hwloc.h>
#include <jansson.h>
#include <sys/types.h>

#include <loom/topo.h>

#include "../core.h"
#include "store.h"

/* What loomd keeps about a job beyond the policy's view (loom__job.ext). */
struct loomd_job {
    char **argv; /* NULL-terminated */
    char **env;  /* NULL-terminated */
    char *cwd;
    char *user; /* login name of uid, for initgroups */
    char *name;
    char *array; /* the spec, as given */
    int mpi;
    int ranks;                 /* --mpi: ranks to start (0: one per slot) */
    struct loomd_conn *fwconn; /* offer framework's connection, for status events */
};

struct loomd_out;
struct loomd_agent;

/* What loomd keeps about a node beyond the policy's view (loom__node.ext): the PUs of
 * each of its cores, and the agent that runs its tasks (NULL for loomd's own node).
 */
struct loomd_node {
    unsigned ncores;
    hwloc_bitmap_t *core_pus; /* [ncores]; loomd's own node shares d->core_pus */
    struct loomd_agent *agent;
    int local;
};

/* A running task's processes (loom__task.ext). A task on another node has no
 * processes here: 'agent' runs it there.
 */
struct loomd_run {
    struct loomd *d;
    struct loom__task *t;
    struct loomd_run *rprev, *rnext; /* d->runs, while it has processes here */
    struct loomd_agent *agent;
    uint32_t attempt;
    struct loomd_out *out[2];     /* its stdout and stderr pipes, while open */
    struct loom_launch_job *ljob; /* an --mpi task started by loom::launch */
    struct loom_placement *pl;
    int nprocs, nleft;
    int wstatus; /* the worst status so far */
    uint64_t maxrss;
    uint64_t pstart;
    int logfd;   /* the job log (joblog.c) of an --mpi task, or -1 */
    int merging; /* the ranks are done; pids[0] merges their trace files */
    pid_t pids[];
};

struct loomd_conn {
    struct loomd *d;
    struct bufferevent *bev;
    uid_t uid;
    gid_t gid;
    pid_t pid;
    struct loom__fw *fw; /* registered framework, or NULL */
    uint64_t *waitjobs;  /* pending 'wait' request */
    size_t nwait;
    int waiting;
    struct loomd_conn *prev, *next;
};

struct loomd_pid {
    pid_t pid;
    struct loom__task *t;
    struct loomd_pid *next;
};

#define LOOMD_PID_BUCKETS 4096

struct loomd {
    struct event_base *base;
    loom__core_t *core;
    loomd_store_t *store;
    char *dir;
    char *logdir;
    char *node;
    int lockfd, listenfd;
    uid_t uid;
    gid_t sock_gid; /* (gid_t)-1: socket for the owner only */
    struct event *listen_ev, *sigchld, *sigterm, *sigint, *timer, *flush, *commit_timer;
    uint64_t last_commit_ns;
    loom_topo_t *topo;
    hwloc_topology_t hw;
    hwloc_bitmap_t *core_pus; /* PUs of each core index of this node */
    unsigned ncores;
    uint64_t mem_mib;
    hwloc_bitmap_t saved_affinity;
    struct loom_launch *launch; /* loom::launch, created at the first --mpi task */
    const char *rsh_agent;      /* mpirun's plm_rsh_agent for tasks on several nodes */
    struct event *launch_ev;
    struct loom__fw *batch;
    struct loomd_pid *pids[LOOMD_PID_BUCKETS];
    struct loomd_conn conns; /* sentinel */
    int stopping;
    uint64_t kill_grace_ns;
    struct loomd_run runs; /* sentinel: tasks with processes on this node */
    int local_node;        /* index of this node in the core, -1 with --no-local */
    /* A task's processes all ended: the head tells the core, an agent the head. */
    void (*exited) (struct loomd *d, struct loom__task *t, int wstatus, uint64_t rss);
    /* Agents (agents.c), when loomd listens on TCP. */
    int tcpfd;
    struct event *tcp_ev, *hb_timer;
    double hb_timeout; /* seconds without a frame before a node is down */
    char *secret;
    char listen_where[300]; /* host:port agents connect to, "" when not listening */
    struct loomd_agent *agents;
};

/* exec.c: running tasks (the launcher interface the policy core calls). */
int loomd_exec_start (struct loomd *d, struct loom__task *t);
void loomd_exec_kill (struct loomd *d, struct loom__task *t, int sig);
void loomd_exec_reap (struct loomd *d);
void loomd_exec_shutdown (struct loomd *d);
char *
loomd_task_log (const struct loomd *d, const struct loom__task *t, const char *ext);
char *loomd_cores_list (const struct loomd *d, const struct loom__task *t, int pus);
uint64_t loomd_boot_ms (void);
void loomd_run_free (struct loomd_run *run);
/* Core indexes of a core mask as PU list (pus) or core list; NULL node: this one. */
char *loomd_mask_list (const struct loomd_node *n, const uint64_t *mask, int pus);
struct loomd_node *loomd_node_of (const struct loomd *d, uint32_t idx);
int loomd_kill_stale (pid_t pid, uint64_t pstart);

/* span.c: a task placed on several nodes runs through mpirun (loom::launch). */
struct loom_node;
struct loom_node *loomd_span_nodes (struct loomd *d, const struct loom__task *t);
void loomd_span_nodes_free (struct loom_node *nodes, uint32_t n);
/* "node:list node:list" of its PUs (pus) or core indexes; free(3). */
char *loomd_span_where (struct loomd *d, const struct loom__task *t, int pus);
int loomd_span_uses_node (const struct loom__task *t, uint32_t node);

/* output.c: stdout/stderr pipes into log files. */
struct loomd_out *loomd_out_open (struct loomd *d,
                                  const struct loom__task *t,
                                  int stream,
                                  struct loomd_out **owner,
                                  int *wfd);
void loomd_out_finish (struct loomd_out *o);
void loomd_outs_close (void);
/* Append 'len' bytes to a task's log, 'stream' 1 (.out), 2 (.err) or 3 (.log, the job
 * log of an --mpi task): output shipped by an agent. -1 with errno.
 */
int loomd_out_append (struct loomd *d,
                      const struct loom__job *j,
                      int64_t index,
                      int stream,
                      const void *buf,
                      size_t len);

/* joblog.c: <state>/logs/<job>/<index>.log, lines stamped with time and rank. */
int loomd_joblog_open (struct loomd *d, const struct loom__task *t);
void loomd_joblog_write (
    int fd, int rank, const char *stream, const char *text, size_t len);
void loomd_joblog_printf (int fd, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* trace_merge.c: merge an --mpi task's trace files (LOOM_TRACE in its environment)
 * in a child process as the task's user. Returns the child's pid, or 0 when the task
 * does not trace (or the child could not start: said in the job log).
 */
pid_t loomd_trace_merge_start (struct loomd *d, const struct loom__task *t, int logfd);

/* top.c: what `loom top` shows (nodes, busy cores, tasks with CPU and RSS from /proc,
 * queue depth, DRF shares).
 */
json_t *loomd_req_top (struct loomd *d, struct loomd_conn *c, json_t *req);

/* server.c: the socket. */
int loomd_listen (struct loomd *d, loom_error_t *error);
void loomd_job_ended (struct loomd *d, struct loom__job *j);
void loomd_task_event (struct loomd *d, struct loom__task *t);
void loomd_offer_event (struct loomd *d, struct loom__offer *o, int rescind);
void loomd_conns_close (struct loomd *d);

/* jobs.c: requests about jobs, and their JSON. */
json_t *loomd_req_submit (struct loomd *d, struct loomd_conn *c, json_t *req);
json_t *loomd_req_ps (struct loomd *d, struct loomd_conn *c, json_t *req);
json_t *loomd_req_cancel (struct loomd *d, struct loomd_conn *c, json_t *req);
json_t *loomd_req_shares (struct loomd *d, struct loomd_conn *c, json_t *req);
json_t *loomd_req_nodes (struct loomd *d, struct loomd_conn *c, json_t *req);
json_t *loomd_req_logs (struct loomd *d, struct loomd_conn *c, json_t *req, int *fd);
json_t *loomd_req_accept (struct loomd *d, struct loomd_conn *c, json_t *req);
json_t *loomd_job_json (struct loomd *d, struct loom__job *j, int tasks);
const char *loomd_job_state (const struct loom__job *j);
void loomd_job_free (struct loomd_job *x);
int loomd_restore (struct loomd *d, loom_error_t *error);
json_t *loomd_error (int err, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
int loomd_may_touch (const struct loomd_conn *c, const struct loom__job *j);

/* agents.c: the head's side of agents on other nodes (TCP, shared secret). */
int loomd_agents_listen (struct loomd *d, const char *addr, loom_error_t *error);
int loomd_agents_start (struct loomd *d, struct loom__task *t);
void loomd_agents_kill (struct loomd *d, struct loom__task *t, int sig);
void loomd_agents_close (struct loomd *d);
int loomd_agents_restore (struct loomd *d);

/* agent.c: loomd --agent HOST:PORT, a node's agent. */
struct loomd_agent_params {
    const char *head; /* HOST:PORT */
    const char *dir;  /* state directory (secret file, spool) */
    const char *secret_file;
    const char *node_name;
    const char *cpuset;
    unsigned cores;
    uint64_t mem_mib;
    double reconnect_sec; /* give up after this long without the head */
};
int loomd_agent_main (const struct loomd_agent_params *p);

/* secret.c: the shared secret between the head and its agents. */
char *loomd_secret_load (const char *path, int create, loom_error_t *error);

/* Load this node's cores: the allowed cpuset (restricted to 'cpuset' if given),
 * the first 'limit' cores if non-zero (main.c).
 */
int loomd_load_node (struct loomd *d,
                     unsigned limit,
                     const char *cpuset,
                     loom_error_t *error);

/* main.c */
void loomd_kick (struct loomd *d); /* after any change: schedule and commit soon */

#endif
