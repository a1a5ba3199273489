/* SPDX-License-Identifier: MIT */
/* loomd's state in SQLite (WAL). Writes go into one open transaction that loomd
 * commits once per event-loop iteration and before every reply, so a reply is never
 * ahead of the disk and thousands of task updates cost one commit.
 */
#ifndef LOOMD_STORE_H
#define LOOMD_STORE_H

#include <stdint.h>

#include <loom/types.h>

typedef struct loomd_store loomd_store_t;

struct loomd_task_row {
    uint64_t job;
    uint32_t pos;
    int state, attempt, wstatus;
    int64_t pid;
    uint64_t start_ns, end_ns, maxrss;
    uint64_t pstart; /* process start, ms since boot: guards kills against pid reuse */
    const char *node, *cores;
};

loomd_store_t *loomd_store_open (const char *path, loom_error_t *error);
void loomd_store_close (loomd_store_t *st);
int loomd_store_commit (loomd_store_t *st);
int loomd_store_dirty (const loomd_store_t *st);

int loomd_store_job_insert (loomd_store_t *st,
                            uint64_t id,
                            const char *fw,
                            uint32_t uid,
                            uint32_t gid,
                            uint64_t submit_ns,
                            const char *spec);
int loomd_store_job_state (loomd_store_t *st, uint64_t id, const char *state);
int loomd_store_task (loomd_store_t *st, const struct loomd_task_row *row);
int loomd_store_usage (loomd_store_t *st,
                       const char *fw,
                       uint32_t uid,
                       double core_sec,
                       double mem_mib_sec);
int loomd_store_framework (loomd_store_t *st,
                           const char *name,
                           const char *role,
                           double weight);

/* Nodes run by agents: their cores (PU list of each core, ';'-separated) and state
 * ("up" or "down"), so a restarted loomd knows them before their agents reconnect.
 */
int loomd_store_node (loomd_store_t *st,
                      const char *name,
                      uint32_t ncores,
                      uint64_t mem,
                      const char *cores,
                      const char *state);
typedef int (*loomd_node_cb) (void *arg,
                              const char *name,
                              uint32_t ncores,
                              uint64_t mem,
                              const char *cores,
                              const char *state);
int loomd_store_nodes_each (loomd_store_t *st, loomd_node_cb cb, void *arg);

/* Replay: each job in id order, then its task rows in position order. */
typedef int (*loomd_job_cb) (void *arg,
                             uint64_t id,
                             const char *fw,
                             uint32_t uid,
                             uint32_t gid,
                             uint64_t submit_ns,
                             const char *spec);
typedef int (*loomd_task_cb) (void *arg, const struct loomd_task_row *row);
int loomd_store_replay (loomd_store_t *st,
                        loomd_job_cb jcb,
                        loomd_task_cb tcb,
                        void *arg);

/* Cumulative usage rows: fw, uid, core seconds. */
typedef void (*loomd_usage_cb) (void *arg,
                                const char *fw,
                                uint32_t uid,
                                double core_sec);
int loomd_store_usage_each (loomd_store_t *st, loomd_usage_cb cb, void *arg);

#endif
