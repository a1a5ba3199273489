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

/* A running task's processes (loom__task.ext). */
struct loomd_run {
    struct loomd *d;
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
    struct event *launch_ev;
    struct loom__fw *batch;
    struct loomd_pid *pids[LOOMD_PID_BUCKETS];
    struct loomd_conn conns; /* sentinel */
    int stopping;
    uint64_t kill_grace_ns;
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
int loomd_kill_stale (pid_t pid, uint64_t pstart);

/* output.c: stdout/stderr pipes into log files. */
struct loomd_out *loomd_out_open (struct loomd *d,
                                  const struct loom__task *t,
                                  int stream,
                                  struct loomd_out **owner,
                                  int *wfd);
void loomd_out_finish (struct loomd_out *o);
void loomd_outs_close (void);

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

/* main.c */
void loomd_kick (struct loomd *d); /* after any change: schedule and commit soon */

#endif
