/* SPDX-License-Identifier: MIT */
/* `loom sched start --agents slurm|--hostfile FILE`: start the head's agents. */
#ifndef LOOM_CMD_SCHED_AGENTS_H
#define LOOM_CMD_SCHED_AGENTS_H

#include <loom/launch.h>

#include "cmd.h"

struct sched_agents {
    const char *dir;       /* --state-dir as given (NULL: the default), for requests */
    const char *state_dir; /* the head's state directory, absolute */
    const char *head;      /* HOST:PORT agents dial */
    const char *hostfile;  /* NULL: the Slurm allocation */
    const char *rsh;       /* with hostfile: remote shell (NULL: ssh) */
    double timeout;        /* seconds to wait for every node */
    struct loom_host *hosts; /* sched_agents_hosts(): the nodes */
    int nhosts;
};

/* Read the nodes (hostfile or Slurm allocation) before the head starts. Returns 0,
 * or 1 after one line saying what is wrong.
 */
int sched_agents_hosts (const struct cmd *cmd, struct sched_agents *a);

/* Start one agent per node and wait until all joined. Returns 0, or 1 after one
 * line saying what is wrong (which nodes did not join, where their output is).
 */
int sched_agents_start (const struct cmd *cmd, struct sched_agents *a);

#endif
