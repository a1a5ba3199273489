/* SPDX-License-Identifier: MIT */
/* `loom sched start --agents slurm` and `--hostfile FILE`: the head starts its own
 * agents, one per node, through an engine that already reaches every node:
 *
 *   slurm     one `srun --overlap --ntasks-per-node=1` step over the allocation's
 *             nodes (SLURM_JOB_NODELIST); --overlap so that the agents' step shares
 *             the nodes with the steps the tasks start themselves (srun, mpirun);
 *             each agent named $SLURMD_NODENAME, as the nodelist names its node;
 *   hostfile  `RSH HOST loom sched agent ...` for each host of the file (RSH is
 *             --rsh-agent, default ssh), the agent named as the file names its host,
 *             so that mpirun reaches it by that name for tasks on several nodes.
 *
 * The engines run detached from the caller (their own session), their output in
 * DIR/agents.log; they end when their agents do, at `loom sched stop`. Start waits
 * until every node has joined, and says which did not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <loom/launch.h>

#include "sched_agents.h"
#include "schedc.h"

/* Run argv detached (new session, not our child) with output appended to 'log'. */
static int spawn_detached (char *const *argv, const char *log)
{
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setsid ();
        if (fork () != 0)
            _exit (0);
        int null = open ("/dev/null", O_RDONLY);
        int out = open (log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (null < 0 || out < 0 || dup2 (null, 0) < 0 || dup2 (out, 1) < 0
            || dup2 (out, 2) < 0)
            _exit (126);
        execvp (argv[0], argv);
        dprintf (2, "loom sched start: cannot run %s: %s\n", argv[0], strerror (errno));
        _exit (127);
    }
    int st;
    waitpid (pid, &st, 0);
    return 0;
}

static char *self_path (void)
{
    char self[PATH_MAX];
    ssize_t len = readlink ("/proc/self/exe", self, sizeof (self) - 1);
    if (len <= 0)
        return strdup ("loom");
    self[len] = '\0';
    return strdup (self);
}

/* How many of 'hosts' are up in loomd's node list; -1 if loomd does not answer. */
static int hosts_up (const struct cmd *cmd,
                     const char *dir,
                     const struct loom_host *hosts,
                     int n,
                     char *missing,
                     size_t mlen)
{
    json_t *r;
    if (schedc_call (cmd, dir, json_pack ("{s:s}", "op", "nodes"), &r, NULL))
        return -1;
    json_t *nodes = json_object_get (r, "nodes");
    int up = 0;
    size_t used = 0;
    missing[0] = '\0';
    for (int i = 0; i < n; i++) {
        int found = 0;
        size_t k;
        json_t *node;
        json_array_foreach (nodes, k, node)
        {
            const char *name = json_string_value (json_object_get (node, "name"));
            const char *state = json_string_value (json_object_get (node, "state"));
            if (name && state && strcmp (name, hosts[i].name) == 0
                && strcmp (state, "up") == 0)
                found = 1;
        }
        if (found)
            up++;
        else if (used + strlen (hosts[i].name) + 2 < mlen)
            used += (size_t)snprintf (missing + used, mlen - used, "%s%s",
                                      used ? " " : "", hosts[i].name);
    }
    json_decref (r);
    return up;
}

int sched_agents_hosts (const struct cmd *cmd, struct sched_agents *a)
{
    loom_error_t error;
    int n = a->hostfile ? loom_hosts_read_file (a->hostfile, &a->hosts, &error)
                        : loom_hosts_from_slurm (&a->hosts, &error);
    if (n < 0)
        return cmd_error (cmd, "%s", error.text);
    if (n == 0)
        return cmd_error (cmd, "--agents slurm: not inside a Slurm allocation "
                               "(SLURM_JOB_NODELIST is not set)");
    a->nhosts = n;
    return 0;
}

int sched_agents_start (const struct cmd *cmd, struct sched_agents *a)
{
    struct loom_host *hosts = a->hosts;
    int n = a->nhosts;
    char log[PATH_MAX];
    snprintf (log, sizeof (log), "%s/agents.log", a->state_dir);
    char *loom = self_path ();
    int rc = 0;
    if (!a->hostfile) {
        char nodes[32];
        snprintf (nodes, sizeof (nodes), "--nodes=%d", n);
        /* Each agent named as Slurm names its node (what the nodelist says). */
        char *argv[] = {"srun",
                        "--overlap",
                        nodes,
                        "--ntasks-per-node=1",
                        "--kill-on-bad-exit=0",
                        "/bin/sh",
                        "-c",
                        "exec \"$0\" sched agent \"$1\" --state-dir \"$2\" "
                        "--node-name \"$SLURMD_NODENAME\"",
                        loom,
                        (char *)a->head,
                        (char *)a->state_dir,
                        NULL};
        rc = spawn_detached (argv, log);
    }
    for (int i = 0; a->hostfile && i < n && rc == 0; i++) {
        /* An rsh agent takes a command line, as ssh does: the words of --rsh-agent,
         * the host, then the agent's command.
         */
        char *line = NULL, *rsh = strdup (a->rsh ? a->rsh : "ssh");
        if (!rsh
            || asprintf (&line, "%s sched agent %s --state-dir %s --node-name %s", loom,
                         a->head, a->state_dir, hosts[i].name)
                   < 0) {
            free (rsh);
            rc = -1;
            break;
        }
        char *argv[32];
        int k = 0;
        for (char *w = strtok (rsh, " \t"); w && k < 28; w = strtok (NULL, " \t"))
            argv[k++] = w;
        argv[k++] = hosts[i].name;
        argv[k++] = line;
        argv[k] = NULL;
        rc = spawn_detached (argv, log);
        free (line);
        free (rsh);
    }
    free (loom);
    if (rc < 0)
        return cmd_error (cmd, "cannot start the agents: %s", strerror (errno));
    /* Until every node joined, or the timeout. */
    char missing[512];
    int up = 0;
    struct timespec t0, now, pause = {0, 50 * 1000 * 1000};
    clock_gettime (CLOCK_MONOTONIC, &t0);
    for (;;) {
        up = hosts_up (cmd, a->dir, hosts, n, missing, sizeof (missing));
        if (up < 0 || up == n)
            break;
        clock_gettime (CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9
            > a->timeout)
            break;
        nanosleep (&pause, NULL);
    }
    if (up < 0)
        return 1;
    if (up < n)
        return cmd_error (cmd, "%d of %d agents joined within %g s (not: %s); see %s",
                          up, n, a->timeout, missing, log);
    return 0;
}
