/* SPDX-License-Identifier: MIT */
/* The scheduler's policy core: nodes, frameworks, users, jobs and tasks, and the
 * decisions (DRF between frameworks and between users of a framework, priorities
 * then FIFO within a user, EASY backfill with time limits, dependencies, arrays,
 * retries, time limits). It is pure code: time comes from ops->now and tasks start
 * through ops->start, so tests drive it with a fake clock and a fake launcher and
 * loomd drives it with the real ones.
 *
 * Cost per decision: O(log F + log U) to pick a framework and a user (indexed heaps
 * keyed by weighted dominant share), O(1) to take the head of the user's queue, and
 * a placement that looks at free-core buckets (O(max cores per node)), never at the
 * queue. A blocked head costs one reservation estimate and at most LOOM__BF_WINDOW
 * backfill candidates of that user. A pass that ends with every head blocked has
 * looked at each user with demand once: the users whose turns started nothing are
 * marked in their heaps (no heap work), and once the LOOM__BF_BUDGET tries are spent
 * the rest are a test of each user's cached head request (see pass.c).
 */
#ifndef LOOM_SCHED_CORE_H
#define LOOM_SCHED_CORE_H

#include <stdint.h>

#include <loom/types.h>

#include "heap.h"

#define LOOM__BF_WINDOW 16 /* tasks behind a blocked head tried for backfill */
#define LOOM__BF_BUDGET 32 /* backfill tries per pass, over all users */

typedef enum {
    LOOM__T_WAITING = 0, /* job dependencies not met yet */
    LOOM__T_PENDING = 1, /* queued */
    LOOM__T_RUNNING = 2,
    LOOM__T_COMPLETED = 3, /* exited 0 */
    LOOM__T_FAILED = 4,    /* non-zero exit, signal, or could not start */
    LOOM__T_CANCELLED = 5,
    LOOM__T_TIMEOUT = 6,
    LOOM__T_LOST = 7, /* its node or loomd died while it ran, no retries left */
    LOOM__T_NSTATES = 8,
} loom__tstate_t;

#define LOOM__T_FINAL(s) ((s) >= LOOM__T_COMPLETED)

const char *loom__tstate_name (loom__tstate_t s);
int loom__tstate_parse (const char *name);

typedef enum {
    LOOM__DEP_AFTER = 0,    /* after the job started */
    LOOM__DEP_AFTEROK = 1,  /* after it ended with every task completed */
    LOOM__DEP_AFTERANY = 2, /* after it ended, however */
} loom__dep_type_t;

struct loom__dep {
    uint64_t job;
    loom__dep_type_t type;
};

/* Array index range first..last by step (step >= 1). */
struct loom__range {
    int64_t first, last, step;
};

typedef enum {
    LOOM__FW_BATCH = 0, /* tasks queue inside the core (loom submit) */
    LOOM__FW_OFFER = 1, /* receives offers and launches on them (framework API) */
} loom__fw_kind_t;

struct loom__user;
struct loom__job;

struct loom__fw {
    uint32_t id;
    char *name;
    loom__fw_kind_t kind;
    double weight;
    uint32_t uid; /* registering user, owner of an offer framework's tasks */
    uint64_t used_cores, used_mem;
    double key; /* weighted dominant share, as of the last refresh: the heap key */
    size_t heap_pos;
    struct loom__heap users; /* users with queued tasks, by weighted share */
    struct loom__user **all;
    size_t nall, capall;
    struct loom__user *stalled; /* users out of the heap for the rest of this pass */
    size_t nmarked;             /* users in the heap passed over in this pass ... */
    uint64_t mark_gen;          /* ... if this is the core's pass_gen (pass.c) */
    uint64_t filter_until;      /* offer fw: no offers before this time */
    uint32_t offers_out;        /* offer fw: outstanding offers */
    int removed;
    int stalled_pass; /* out of the framework heap for the rest of this pass */
    void *ext;
};

struct loom__level {
    int prio;
    struct loom__task *head, *tail;
};

struct loom__user {
    uint32_t uid;
    double weight;
    struct loom__fw *fw;
    uint64_t used_cores, used_mem;
    uint64_t pending, pending_cores, pending_mem; /* demand */
    double key; /* weighted dominant share, as of the last refresh: the heap key */
    size_t heap_pos;
    struct loom__level *levels; /* highest priority first */
    size_t nlevels, caplevels;
    /* The queue head, and its request: cores per slot (0: several slots), MiB per
     * slot, time limit. Kept by enqueue and dequeue.
     */
    struct loom__task *head;
    uint32_t head_cores;
    uint64_t head_mem, head_limit;
    struct loom__user *stall_next;
    int stalled;
    uint64_t sf_gen;   /* == core's sf_gen: the queue head surely fails (pass.c) */
    uint64_t skip_gen; /* == core's pass_gen: passed over in this pass, in the heap */
};

struct loom__alloc_part {
    uint32_t node;
    uint32_t ncores;
    uint64_t mem;
    uint64_t *mask; /* cores of the node, bit i = core index i */
};

struct loom__alloc {
    uint32_t nparts;
    struct loom__alloc_part parts[];
};

struct loom__task {
    struct loom__job *job;
    uint32_t pos;  /* position in job->tasks */
    int64_t index; /* array index, 0 for a job without array */
    loom__tstate_t state;
    uint32_t attempt;               /* starts so far */
    struct loom__task *prev, *next; /* user queue level, or the running list */
    int level;                      /* queue level, when pending */
    size_t dl_pos;
    uint64_t deadline; /* next timer: time limit, then SIGKILL after SIGTERM */
    int term_sent;
    int cancel_requested;
    int timed_out;
    int lost;
    uint64_t start_ns, end_ns;
    struct loom__alloc *alloc;
    int wstatus;     /* wait(2) status of the last attempt */
    uint64_t maxrss; /* KiB */
    void *ext;       /* launcher's handle while running */
};

struct loom__job {
    uint64_t id;
    struct loom__fw *fw;
    struct loom__user *user;
    uint32_t uid, gid;
    uint32_t nslots, cores_per_slot;
    uint64_t mem_per_slot;
    uint64_t time_limit_ns;
    int priority;
    uint32_t retries;
    uint64_t submit_ns;
    uint32_t ntasks;
    struct loom__task *tasks;
    uint32_t count[LOOM__T_NSTATES];
    int started, ended;
    struct loom__dep *deps;
    size_t ndeps;
    uint32_t deps_unmet;
    int dep_never;
    struct loom__job **dependents;
    size_t ndependents, capdependents;
    void *ext; /* daemon's spec (argv, env ...), not owned by the core */
};

struct loom__node {
    uint32_t idx;
    char *name;
    uint32_t ncores;
    uint64_t mem;
    uint32_t free_cores;
    uint64_t free_mem;
    uint32_t nwords;
    uint64_t *free_mask;
    int up;
    struct loom__node *bprev, *bnext; /* bucket of nodes with this many free cores */
    uint64_t bf_gen;                  /* backfill estimate scratch */
    uint32_t bf_free;
    uint64_t bf_mem;
    void *ext;
};

struct loom__offer {
    uint64_t id;
    struct loom__fw *fw;
    uint32_t node;
    uint32_t ncores;
    uint64_t mem;
    uint64_t *mask;
    uint64_t expires;
    struct loom__offer *prev, *next;
};

typedef struct loom__core loom__core_t;

struct loom__core_ops {
    uint64_t (*now) (void *arg); /* nanoseconds, monotonic */
    /* Start t on t->alloc. Return 0, or -1 with errno: the attempt fails at once. */
    int (*start) (void *arg, struct loom__task *t);
    /* Send 'sig' to the running task. */
    void (*kill) (void *arg, struct loom__task *t, int sig);
    /* A task changed state (queued, started, ended). Optional. */
    void (*task_changed) (void *arg, struct loom__task *t);
    /* A job started for the first time or ended. Optional. */
    void (*job_changed) (void *arg, struct loom__job *j);
    /* Offer 'o' to o->fw (an offer framework). Optional. */
    void (*offer) (void *arg, struct loom__offer *o);
    /* Offer 'o' was withdrawn (timeout, node down). Optional. */
    void (*rescind) (void *arg, struct loom__offer *o);
};

struct loom__core {
    const struct loom__core_ops *ops;
    void *arg;
    struct loom__node **nodes;
    uint32_t nnodes, capnodes;
    uint32_t max_cores;
    uint64_t max_mem;
    struct loom__node **buckets; /* [max_cores + 1] */
    uint64_t total_cores, total_mem, free_cores, free_mem;
    struct loom__fw **fws;
    uint32_t nfws, capfws;
    struct loom__heap fw_heap; /* frameworks with demand, by weighted share */
    struct loom__job **jobs;   /* by id; NULL for ids not in memory */
    uint64_t capjobs, next_id;
    struct loom__task running; /* sentinel of the running list */
    uint64_t nrunning;
    struct loom__heap deadlines;
    struct loom__offer offers; /* sentinel */
    uint64_t next_offer_id;
    uint64_t kill_grace_ns;
    uint64_t offer_timeout_ns;
    uint64_t bf_gen;
    uint64_t pass_gen; /* bumped per pass: users' skip_gen marks */
    uint64_t sf_gen;   /* bumped per pass and when a start fails: users' sf_gen */
    /* The reservation of the last blocked head, kept across passes while that task
     * stays the first blocked one: estimating it walks running tasks, so it is
     * recomputed only when the head changes or its shadow time has passed.
     */
    struct loom__task *res_task;
    struct loom__node *res_node;
    uint64_t res_shadow;
    uint64_t reservations; /* estimates made */
    uint64_t decisions;    /* tasks started by the policy */
    uint64_t backfilled;   /* of which started by backfill */
    struct loom__task **scratch;
    size_t capscratch;
};

loom__core_t *loom__core_create (const struct loom__core_ops *ops, void *arg);
void loom__core_destroy (loom__core_t *c);

/* Add a node with 'ncores' cores and 'mem' MiB. Returns its index, or -1 (ENOMEM,
 * EINVAL for 0 cores).
 */
int loom__core_add_node (loom__core_t *c,
                         const char *name,
                         uint32_t ncores,
                         uint64_t mem);
/* Mark a node down (its running tasks are lost: requeued when they have retries left,
 * else LOST; its offers are rescinded) or up again.
 */
void loom__core_node_set_up (loom__core_t *c, uint32_t node, int up);

/* Register a framework. Returns it (owned by c), or NULL with errno (ENOMEM, EEXIST
 * for a name in use, EINVAL for weight <= 0).
 */
struct loom__fw *loom__core_fw_add (loom__core_t *c,
                                    const char *name,
                                    loom__fw_kind_t kind,
                                    double weight,
                                    uint32_t uid);
struct loom__fw *loom__core_fw_find (loom__core_t *c, const char *name);
/* Unregister an offer framework: its offers are withdrawn and its running tasks are
 * killed (they end CANCELLED). The framework stays listed, marked removed.
 */
void loom__core_fw_remove (loom__core_t *c, struct loom__fw *fw);
/* Set the weight of user 'uid' inside 'fw' (default 1). -1 EINVAL / ENOMEM. */
int loom__core_user_weight (loom__core_t *c,
                            struct loom__fw *fw,
                            uint32_t uid,
                            double w);
struct loom__user *loom__core_user (loom__core_t *c, struct loom__fw *fw, uint32_t uid);

struct loom__job_spec {
    uint64_t id; /* 0: the next id; else restore this id (must be unused) */
    struct loom__fw *fw;
    uint32_t uid, gid;
    uint32_t nslots, cores_per_slot;
    uint64_t mem_per_slot;  /* MiB */
    uint64_t time_limit_ns; /* 0: none */
    int priority;
    uint32_t retries;
    const struct loom__range *ranges; /* NULL: one task of index 0 */
    size_t nranges;
    const struct loom__dep *deps;
    size_t ndeps;
    uint64_t submit_ns;
    void *ext;
};

#define LOOM__MAX_ARRAY 10000000

/* Submit a job to a batch framework. Its tasks are queued (or wait for the
 * dependencies). Returns the job (owned by c), or NULL with errno and 'error':
 * EINVAL (bad spec, empty or too large array), ENOENT (unknown dependency), ENOSPC
 * (a task can never fit the nodes), ENOMEM.
 */
struct loom__job *loom__core_submit (loom__core_t *c,
                                     const struct loom__job_spec *spec,
                                     loom_error_t *error);
struct loom__job *loom__core_job (loom__core_t *c, uint64_t id);

/* Restore a task's state read back after a restart, before any scheduling pass.
 * A final state is recorded as is; RUNNING means the task was running when loomd
 * died: it is lost, and requeued if it has retries left. 'attempt' is the number of
 * starts so far.
 */
void loom__core_restore_task (loom__core_t *c,
                              struct loom__task *t,
                              loom__tstate_t state,
                              uint32_t attempt,
                              int wstatus);

/* Cancel a job: queued and waiting tasks end CANCELLED at once, running ones get
 * SIGTERM, then SIGKILL after the grace time. Returns how many tasks it touched.
 */
uint32_t loom__core_cancel (loom__core_t *c, struct loom__job *j);

/* A running task's process ended with wait(2) status 'wstatus'. */
void loom__core_task_exited (loom__core_t *c,
                             struct loom__task *t,
                             int wstatus,
                             uint64_t maxrss_kib);

/* One scheduling pass: start every task (and make every offer) the policy allows now.
 * Returns the number of tasks started.
 */
uint64_t loom__core_schedule (loom__core_t *c);

/* Fire timers due at ops->now: time limits (SIGTERM), kill grace (SIGKILL), offer
 * timeouts, decline filters. Returns the time of the next timer, or UINT64_MAX.
 */
uint64_t loom__core_tick (loom__core_t *c);

/* An offer framework launches tasks on part of offer 'id'. Each of 'n' tasks takes
 * 'ncores[i]' cores given by the core masks 'masks[i]' (bits of the offer's node,
 * which must be inside the offer and disjoint) and 'mem[i]' MiB. Whatever is left of
 * the offer returns to the pool. The tasks belong to new one-task jobs whose ext
 * pointers are 'ext[i]'; they are returned in 'jobs'. Returns 0, or -1 with errno
 * (ENOENT: no such offer; EINVAL: cores outside the offer or overlapping, memory
 * beyond it) and nothing is launched.
 */
int loom__core_offer_accept (loom__core_t *c,
                             uint64_t id,
                             size_t n,
                             uint64_t *const *masks,
                             const uint64_t *mem,
                             const uint64_t *time_limit_ns,
                             void *const *ext,
                             struct loom__job **jobs,
                             loom_error_t *error);
/* Decline offer 'id': its resources return and fw gets no offer for 'filter_ns'. */
int loom__core_offer_decline (loom__core_t *c, uint64_t id, uint64_t filter_ns);
struct loom__offer *loom__core_offer (loom__core_t *c, uint64_t id);

/* Weighted dominant share of a framework or a user (usage over the total of the up
 * nodes, the larger of cores and memory, divided by the weight).
 */
double loom__core_fw_share (const loom__core_t *c, const struct loom__fw *fw);
double loom__core_user_share (const loom__core_t *c, const struct loom__user *u);

/* Parse an array spec "1-10000", "0-99:2", "1,5,7-9" into ranges (caller frees with
 * free(3)); *count gets the number of indices. Returns 0, or -1 with errno EINVAL
 * and 'error' naming the bad part.
 */
int loom__range_parse (const char *s,
                       struct loom__range **ranges,
                       size_t *nranges,
                       uint64_t *count,
                       loom_error_t *error);

/* Node placement (nodes.c). */
int loom__nodes_init_buckets (loom__core_t *c);
void loom__nodes_take (loom__core_t *c,
                       struct loom__node *n,
                       const uint64_t *mask,
                       uint32_t ncores,
                       uint64_t mem);
void loom__nodes_give (loom__core_t *c,
                       struct loom__node *n,
                       const uint64_t *mask,
                       uint32_t ncores,
                       uint64_t mem);
/* Find room for 'nslots' slots of 'cps' cores and 'mps' MiB, on one node when they
 * fit one node, else spread over several. 'avoid' (or NULL) is skipped. Returns a new
 * allocation (not yet taken), or NULL if nothing fits now.
 */
struct loom__alloc *loom__nodes_find (loom__core_t *c,
                                      uint32_t nslots,
                                      uint32_t cps,
                                      uint64_t mps,
                                      const struct loom__node *avoid);

#endif
