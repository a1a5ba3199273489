/* SPDX-License-Identifier: MIT */
/* Client API of loomd, the allocation's scheduler (see docs/sched.md).
 *
 * Two uses:
 *   - Requests, as `loom submit/ps/cancel/wait/logs/shares/nodes` make them: connect,
 *     send one JSON request, get one JSON reply (loom_sched_rpc). The requests and
 *     their replies are documented in docs/sched.md.
 *   - Frameworks (the Mesos model): register with a name, a role and a weight; receive
 *     resource offers (cores as hwloc cpusets on a node, plus memory) in a callback;
 *     accept an offer fully or partly by launching tasks on it, or decline it with a
 *     filter time; receive task status updates; kill tasks. loomd shares the
 *     allocation between frameworks by Dominant Resource Fairness with their weights.
 *
 * The connection is a Unix socket in the state directory; loomd identifies the caller
 * by its kernel credentials (SO_PEERCRED), so there is nothing to configure.
 */
#ifndef LOOM_SCHED_H
#define LOOM_SCHED_H

#include <hwloc.h>
#include <stddef.h>
#include <stdint.h>

#include <loom/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct loom_sched loom_sched_t;
typedef struct loom_sched_framework loom_sched_framework_t;

/* The state directory loomd uses when none is given: $LOOM_STATE_DIR, else
 * $HOME/.loom/sched. Writes it into 'buf' (NUL-terminated) and returns buf, or NULL
 * with errno ENAMETOOLONG (too long for buf) or ENOENT (neither variable set).
 */
LOOM_API char *loom_sched_default_dir (char *buf, size_t len);

/* Connect to the loomd serving 'state_dir' (NULL: the default directory).
 * Returns a handle, or NULL with errno: ENOENT or ECONNREFUSED when no loomd runs
 * there, EACCES when the caller may not use it, ENOMEM. 'error' says which.
 */
LOOM_API loom_sched_t *loom_sched_connect (const char *state_dir, loom_error_t *error);

/* Close the connection. Accepts NULL, preserves errno. */
LOOM_API void loom_sched_close (loom_sched_t *h);

/* Send the JSON request 'request' and wait for its reply. Returns the reply (a JSON
 * object, caller frees with free(3)), or NULL with errno set and 'error' holding
 * loomd's one-line reason when it refused the request (errno from loomd: ENOENT
 * unknown job, EPERM not the owner, EINVAL bad request, ENOSPC impossible request),
 * or EPIPE/EPROTO when the connection broke.
 * If the reply carries a file descriptor (the "logs" request), it is stored in *fd
 * when fd is non-NULL (the caller closes it), else closed.
 */
LOOM_API char *
loom_sched_rpc (loom_sched_t *h, const char *request, int *fd, loom_error_t *error);

/* ---- Frameworks -------------------------------------------------------------- */

/* An offer: free cores of one node and memory, valid until answered, rescinded, or
 * loomd's offer timeout (30 s). Pointers are valid during the callback only.
 */
struct loom_sched_offer {
    uint64_t id;
    const char *node;            /* host name */
    hwloc_const_cpuset_t cpuset; /* the PUs of the offered cores */
    unsigned ncores;
    hwloc_const_cpuset_t *cores; /* ncores sets: the PUs of each offered core */
    uint64_t mem_mib;
};

/* A task status update. */
struct loom_sched_task_status {
    uint64_t task;     /* id returned by loom_sched_offer_accept() (a loomd job id) */
    const char *state; /* "running", "completed", "failed", "cancelled", "timeout",
                        * "lost" */
    int exit_code;     /* when it exited, else -1 */
    int signal;        /* signal that ended it, else 0 */
    double run_sec;
};

typedef void (*loom_sched_offer_f) (loom_sched_framework_t *fw,
                                    const struct loom_sched_offer *offer,
                                    void *arg);
typedef void (*loom_sched_status_f) (loom_sched_framework_t *fw,
                                     const struct loom_sched_task_status *status,
                                     void *arg);
typedef void (*loom_sched_rescind_f) (loom_sched_framework_t *fw,
                                      uint64_t offer_id,
                                      void *arg);

struct loom_sched_framework_params {
    const char *name; /* unique among registered frameworks */
    const char *role; /* a label shown by `loom shares` (e.g. "sweep"); NULL: name */
    double weight;    /* DRF weight, > 0; 0 means 1 */
    loom_sched_offer_f offer;     /* required */
    loom_sched_status_f status;   /* optional */
    loom_sched_rescind_f rescind; /* optional */
    void *arg;
};
#define LOOM_SCHED_FRAMEWORK_PARAMS_INIT                                               \
    {                                                                                  \
        .name = NULL, .role = NULL, .weight = 1.0, .offer = NULL, .status = NULL,      \
        .rescind = NULL, .arg = NULL                                                   \
    }

/* Register a framework on connection 'h' (which it then owns: do not use h for other
 * requests, and do not close it before unregistering). Offers and status updates
 * arrive through loom_sched_framework_progress().
 * Returns a handle, or NULL with errno (EINVAL bad params, EEXIST name in use, EPIPE)
 * and 'error'.
 */
LOOM_API loom_sched_framework_t *
loom_sched_framework_register (loom_sched_t *h,
                               const struct loom_sched_framework_params *params,
                               loom_error_t *error);

/* Unregister: loomd withdraws its offers and kills its running tasks. Closes the
 * connection. Accepts NULL, preserves errno.
 */
LOOM_API void loom_sched_framework_destroy (loom_sched_framework_t *fw);

/* The connection's fd, to poll for readability in the framework's own loop. */
LOOM_API int loom_sched_framework_fd (loom_sched_framework_t *fw);

/* Wait up to timeout_ms (-1: forever, 0: not at all) for events and run the callbacks
 * for each. Callbacks may accept, decline and kill. Returns the number of events
 * handled, or -1 with errno (EPIPE: loomd went away) and 'error'.
 */
LOOM_API int loom_sched_framework_progress (loom_sched_framework_t *fw,
                                            int timeout_ms,
                                            loom_error_t *error);

/* One task to launch on an offer. */
struct loom_sched_task {
    hwloc_const_cpuset_t cpuset; /* PUs, whole cores of the offer; distinct per task */
    uint64_t mem_mib;
    char *const *argv;     /* NULL-terminated; run without a shell */
    double time_limit_sec; /* 0: none */
};

/* Launch 'n' tasks on offer 'offer_id'; what they do not use returns to the pool.
 * n == 0 accepts nothing (like a decline without filter). Task ids are written to
 * 'ids' (n entries) when non-NULL. Returns 0, or -1 with errno (ENOENT offer unknown
 * or gone, EINVAL cpusets outside the offer or overlapping) and 'error'.
 */
LOOM_API int loom_sched_offer_accept (loom_sched_framework_t *fw,
                                      uint64_t offer_id,
                                      const struct loom_sched_task *tasks,
                                      size_t n,
                                      uint64_t *ids,
                                      loom_error_t *error);

/* Decline an offer; no offer comes for 'filter_sec' seconds. 0 or -1 (ENOENT). */
LOOM_API int loom_sched_offer_decline (loom_sched_framework_t *fw,
                                       uint64_t offer_id,
                                       double filter_sec,
                                       loom_error_t *error);

/* Kill one of the framework's tasks (SIGTERM, then SIGKILL). 0 or -1 (ENOENT). */
LOOM_API int
loom_sched_task_kill (loom_sched_framework_t *fw, uint64_t task, loom_error_t *error);

#ifdef __cplusplus
}
#endif
#endif
