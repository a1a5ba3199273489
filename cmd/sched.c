/* SPDX-License-Identifier: MIT */
/* `loom sched start|stop`: run or stop loomd for a state directory. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <loom/sched.h>

#include "sched_agents.h"
#include "schedc.h"

enum {
    OPT_CORES = 400,
    OPT_MEM,
    OPT_GROUP,
    OPT_GRACE,
    OPT_BWEIGHT,
    OPT_LISTEN,
    OPT_HBTIMEOUT,
    OPT_NOLOCAL,
    OPT_CPUSET,
    OPT_NODENAME,
    OPT_SECRET,
    OPT_RECONNECT,
    OPT_RSH,
    OPT_AGENTS,
    OPT_HOSTFILE,
    OPT_AGENTS_TIMEOUT,
};

static const struct cmd_option options[] = {
    SCHEDC_OPTIONS,
    {"cores", 1, OPT_CORES, "N", "start: use only the first N allowed cores"},
    {"mem", 1, OPT_MEM, "MIB", "start: memory to share, MiB (default: the node's)"},
    {"group", 1, OPT_GROUP, "NAME",
     "start: members of group NAME may use loomd too (socket 0660)"},
    {"kill-grace", 1, OPT_GRACE, "SEC", "start: SIGTERM to SIGKILL delay (default 5)"},
    {"batch-weight", 1, OPT_BWEIGHT, "W", "start: DRF weight of the batch framework"},
    {"listen", 1, OPT_LISTEN, "ADDR:PORT",
     "start: take agents of other nodes on this TCP address (port 0: any)"},
    {"heartbeat-timeout", 1, OPT_HBTIMEOUT, "SEC",
     "start: a silent agent's node is down after SEC (default 5)"},
    {"no-local", 0, OPT_NOLOCAL, NULL, "start: run no task on the head's node"},
    {"cpuset", 1, OPT_CPUSET, "PUS", "start, agent: use only these PUs (e.g. 0-3)"},
    {"node-name", 1, OPT_NODENAME, "NAME", "start, agent: this node's name"},
    {"secret-file", 1, OPT_SECRET, "FILE",
     "agent: the head's secret (default DIR/agent.secret, mode 0600)"},
    {"reconnect", 1, OPT_RECONNECT, "SEC",
     "agent: keep trying to reach a lost head this long (default 60)"},
    {"rsh-agent", 1, OPT_RSH, "CMD",
     "start: remote shell to reach other hosts (agents of --hostfile, mpirun of tasks "
     "on several nodes; default ssh)"},
    {"agents", 1, OPT_AGENTS, "slurm",
     "start: start an agent on every node of this Slurm allocation (srun --overlap)"},
    {"hostfile", 1, OPT_HOSTFILE, "FILE",
     "start: start an agent on every host of FILE through --rsh-agent"},
    {"agents-timeout", 1, OPT_AGENTS_TIMEOUT, "SEC",
     "start: wait this long for every agent to join (default 60)"},
    {NULL, 0, 0, NULL, NULL},
};

/* loomd beside this loom binary, else on PATH. */
static char *find_loomd (void)
{
    char self[PATH_MAX];
    ssize_t len = readlink ("/proc/self/exe", self, sizeof (self) - 1);
    if (len > 0) {
        self[len] = '\0';
        char *slash = strrchr (self, '/');
        if (slash) {
            strcpy (slash + 1, "loomd");
            if (access (self, X_OK) == 0)
                return strdup (self);
        }
    }
    return strdup ("loomd");
}

/* Stop the head that was just started (its agents did not all join). */
static void stop_quietly (const struct cmd *cmd, const char *dir, int pid)
{
    json_t *r;
    if (schedc_call (cmd, dir, json_pack ("{s:s}", "op", "shutdown"), &r, NULL) == 0)
        json_decref (r);
    for (int i = 0; i < 600 && kill (pid, 0) == 0; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep (&ts, NULL);
    }
}

static int start (const struct cmd *cmd,
                  const char *dir,
                  int json,
                  char **extra,
                  int nextra,
                  struct sched_agents *agents)
{
    loom_error_t error;
    loom_sched_t *h = loom_sched_connect (dir, &error);
    if (h) {
        loom_sched_close (h);
        return cmd_error (cmd, "loomd is already running for %s",
                          dir ? dir : "the default state directory");
    }
    int p[2];
    if (pipe2 (p, O_CLOEXEC) < 0)
        return cmd_error (cmd, "pipe: %s", strerror (errno));
    char *loomd = find_loomd ();
    char fdarg[16];
    snprintf (fdarg, sizeof (fdarg), "%d", p[1]);
    char *argv[48];
    int k = 0;
    argv[k++] = loomd;
    argv[k++] = "--ready-fd";
    argv[k++] = fdarg;
    if (dir) {
        argv[k++] = "--state-dir";
        argv[k++] = (char *)dir;
    }
    for (int i = 0; i < nextra && k < 46; i++)
        argv[k++] = extra[i];
    argv[k] = NULL;
    pid_t pid = fork ();
    if (pid < 0)
        return cmd_error (cmd, "fork: %s", strerror (errno));
    if (pid == 0) {
        /* Detach twice so loomd is no child of ours and outlives the terminal. */
        setsid ();
        if (fork () != 0)
            _exit (0);
        fcntl (p[1], F_SETFD, 0);
        int null = open ("/dev/null", O_RDWR);
        dup2 (null, 0);
        dup2 (null, 1);
        execvp (argv[0], argv);
        dprintf (p[1], "error cannot run %s: %s\n", argv[0], strerror (errno));
        _exit (127);
    }
    close (p[1]);
    waitpid (pid, NULL, 0);
    char buf[1024];
    size_t n = 0;
    for (;;) {
        ssize_t r = read (p[0], buf + n, sizeof (buf) - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close (p[0]);
    free (loomd);
    buf[n] = '\0';
    buf[strcspn (buf, "\n")] = '\0';
    int lpid = 0;
    unsigned cores = 0;
    unsigned long long mem = 0;
    char sdir[PATH_MAX], where[300] = "-";
    if (sscanf (buf, "ok %d %4095s %u %llu %299s", &lpid, sdir, &cores, &mem, where)
        < 4) {
        if (strncmp (buf, "error ", 6) == 0)
            return cmd_error (cmd, "%s", buf + 6);
        return cmd_error (cmd, "loomd did not start%s%s", n ? ": " : "", buf);
    }
    if (agents) {
        agents->dir = dir;
        agents->state_dir = sdir;
        agents->head = where;
        if (sched_agents_start (cmd, agents)) {
            stop_quietly (cmd, dir, lpid);
            return 1;
        }
    }
    if (json) {
        json_t *o = json_pack ("{s:i, s:s, s:i, s:I}", "pid", lpid, "state_dir", sdir,
                               "cores", (int)cores, "mem", (json_int_t)mem);
        if (strcmp (where, "-") != 0)
            json_object_set_new (o, "listen", json_string (where));
        if (agents)
            json_object_set_new (o, "agents", json_true ());
        return schedc_print_json (o) + (json_decref (o), 0);
    }
    printf ("loomd started: pid %d, %u cores, %llu MiB, state in %s\n", lpid, cores,
            mem, sdir);
    if (agents)
        printf ("agents joined from every node of %s\n",
                agents->hostfile ? agents->hostfile : "the Slurm allocation");
    else if (strcmp (where, "-") != 0)
        printf ("agents join with: loom sched agent %s --state-dir %s\n", where, sdir);
    return 0;
}

/* The agent stays in the foreground: srun, mpirun or an rsh agent runs it on each
 * node and sees it end.
 */
static int
agent (const struct cmd *cmd, const char *dir, const char *head, char **extra, int n)
{
    char *argv[48];
    int k = 0;
    char *loomd = find_loomd ();
    argv[k++] = loomd;
    argv[k++] = "--agent";
    argv[k++] = (char *)head;
    if (dir) {
        argv[k++] = "--state-dir";
        argv[k++] = (char *)dir;
    }
    for (int i = 0; i < n && k < 46; i++)
        argv[k++] = extra[i];
    argv[k] = NULL;
    execvp (argv[0], argv);
    int e = errno;
    free (loomd);
    return cmd_error (cmd, "cannot run loomd: %s", strerror (e));
}

static int stop (const struct cmd *cmd, const char *dir, int json)
{
    json_t *r;
    if (schedc_call (cmd, dir, json_pack ("{s:s}", "op", "shutdown"), &r, NULL))
        return 1;
    int pid = (int)json_integer_value (json_object_get (r, "pid"));
    json_decref (r);
    /* Wait until it is gone (it requeues running tasks first). */
    for (int i = 0; i < 600; i++) {
        if (kill (pid, 0) < 0 && errno == ESRCH)
            break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep (&ts, NULL);
    }
    if (kill (pid, 0) == 0)
        return cmd_error (cmd, "loomd (pid %d) did not stop within 30 s", pid);
    if (json) {
        json_t *o = json_pack ("{s:i, s:b}", "pid", pid, "stopped", 1);
        schedc_print_json (o);
        json_decref (o);
    } else {
        printf ("loomd stopped (pid %d)\n", pid);
    }
    return 0;
}

static int sched_main (const struct cmd *cmd, int argc, char **argv)
{
    const char *dir = NULL, *arg;
    char *extra[40];
    int nextra = 0, json = 0, c, agent_only = 0, start_only = 0;
    static const char *flags[] = {
        [OPT_CORES - OPT_CORES] = "--cores",
        [OPT_MEM - OPT_CORES] = "--mem",
        [OPT_GROUP - OPT_CORES] = "--group",
        [OPT_GRACE - OPT_CORES] = "--kill-grace",
        [OPT_BWEIGHT - OPT_CORES] = "--batch-weight",
        [OPT_LISTEN - OPT_CORES] = "--listen",
        [OPT_HBTIMEOUT - OPT_CORES] = "--heartbeat-timeout",
        [OPT_NOLOCAL - OPT_CORES] = "--no-local",
        [OPT_CPUSET - OPT_CORES] = "--cpuset",
        [OPT_NODENAME - OPT_CORES] = "--node-name",
        [OPT_SECRET - OPT_CORES] = "--secret-file",
        [OPT_RECONNECT - OPT_CORES] = "--reconnect",
    };
    const char *what = NULL, *head = NULL;
    struct sched_agents agents = {.timeout = 60};
    int want_agents = 0, listening = 0, no_local = 0;
    /* Options may come before or after the action (loom sched start --cores 2);
     * getopt_long with optind = 0 starts afresh on what follows the action.
     */
    for (int round = 0; round < 2; round++) {
        while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
            if (c == -2)
                return 1;
            if (c == SCHEDC_OPT_DIR)
                dir = arg;
            else if (c == SCHEDC_OPT_JSON)
                json = 1;
            else if (c == OPT_AGENTS) {
                if (strcmp (arg, "slurm") != 0)
                    return cmd_error (cmd,
                                      "bad --agents '%s' (say slurm, or give "
                                      "--hostfile FILE)",
                                      arg);
                if (agents.hostfile)
                    return cmd_error (cmd,
                                      "give --agents slurm or --hostfile, not both");
                want_agents = start_only = c;
            } else if (c == OPT_HOSTFILE) {
                if (want_agents == OPT_AGENTS)
                    return cmd_error (cmd,
                                      "give --agents slurm or --hostfile, not both");
                agents.hostfile = arg;
                want_agents = start_only = c;
            } else if (c == OPT_AGENTS_TIMEOUT) {
                char *end;
                agents.timeout = strtod (arg, &end);
                if (*end || !(agents.timeout > 0))
                    return cmd_error (cmd, "bad --agents-timeout '%s' (seconds, > 0)",
                                      arg);
                start_only = c;
            } else if (c == OPT_RSH && nextra < 36) {
                agents.rsh = arg; /* loomd's too: mpirun of tasks on several nodes */
                extra[nextra++] = "--rsh-agent";
                extra[nextra++] = (char *)arg;
                start_only = c;
            } else if (c >= OPT_CORES && c <= OPT_RECONNECT && nextra < 36) {
                listening |= c == OPT_LISTEN;
                no_local |= c == OPT_NOLOCAL;
                extra[nextra++] = (char *)flags[c - OPT_CORES];
                if (c != OPT_NOLOCAL)
                    extra[nextra++] = (char *)arg;
                if (c == OPT_SECRET || c == OPT_RECONNECT)
                    agent_only = c;
                if (c == OPT_LISTEN || c == OPT_HBTIMEOUT || c == OPT_NOLOCAL
                    || c == OPT_GROUP || c == OPT_GRACE || c == OPT_BWEIGHT)
                    start_only = c;
            }
        }
        if (round == 1)
            break;
        if (optind >= argc)
            return cmd_error (cmd, "say 'start', 'stop' or 'agent HOST:PORT'");
        what = argv[optind];
        argv += optind;
        argc -= optind;
        optind = 0;
        if (strcmp (what, "agent") == 0 && argc > 1 && argv[1][0] != '-') {
            head = argv[1]; /* agent HOST:PORT [options] */
            argv[1] = argv[0];
            argv++;
            argc--;
        }
    }
    if (strcmp (what, "agent") == 0 && !head && optind < argc)
        head = argv[optind++];
    if (optind < argc)
        return cmd_error (cmd, "unexpected argument '%s'", argv[optind]);
    if (strcmp (what, "start") == 0) {
        if (agent_only)
            return cmd_error (cmd, "%s applies to 'agent' only",
                              flags[agent_only - OPT_CORES]);
        if (want_agents) {
            /* Every node, the head's too, runs tasks through its agent; agents dial
             * this host's first address unless --listen says otherwise.
             */
            if (!listening) {
                extra[nextra++] = "--listen";
                extra[nextra++] = "0.0.0.0:0";
            }
            if (!no_local)
                extra[nextra++] = "--no-local";
        }
        if (want_agents && sched_agents_hosts (cmd, &agents))
            return 1;
        int rc = start (cmd, dir, json, extra, nextra, want_agents ? &agents : NULL);
        loom_hosts_free (agents.hosts, agents.nhosts);
        return rc;
    }
    if (strcmp (what, "agent") == 0) {
        if (!head)
            return cmd_error (cmd, "agent: say where the head listens (HOST:PORT, see "
                                   "DIR/loomd.addr)");
        if (start_only)
            return cmd_error (cmd, "%s applies to 'start' only",
                              start_only == OPT_RSH        ? "--rsh-agent"
                              : start_only == OPT_AGENTS   ? "--agents"
                              : start_only == OPT_HOSTFILE ? "--hostfile"
                              : start_only == OPT_AGENTS_TIMEOUT
                                  ? "--agents-timeout"
                                  : flags[start_only - OPT_CORES]);
        return agent (cmd, dir, head, extra, nextra);
    }
    if (strcmp (what, "stop") == 0) {
        if (nextra || start_only)
            return cmd_error (cmd, "%s applies to 'start' only",
                              nextra ? extra[0]
                                     : "--agents, --hostfile, --agents-timeout");
        return stop (cmd, dir, json);
    }
    return cmd_error (cmd, "unknown action '%s' (say 'start', 'stop' or 'agent')",
                      what);
}

const struct cmd cmd_sched = {
    .name = "sched",
    .usage = "start|stop [options] | agent HOST:PORT [options]",
    .summary = "Start or stop loomd, the scheduler sharing this allocation",
    .fn = sched_main,
    .options = options,
    .description =
        "loomd keeps its socket, database and task logs in the state directory\n"
        "($LOOM_STATE_DIR, else ~/.loom/sched). Stopping it kills running tasks and\n"
        "queues them again for the next start; queued and finished jobs are kept.\n"
        "With --listen, agents on other nodes ('loom sched agent HOST:PORT', started\n"
        "by srun, mpirun or an rsh agent) join with the secret in DIR/agent.secret.\n"
        "--agents slurm (inside an allocation) or --hostfile FILE (through "
        "--rsh-agent,\n"
        "default ssh) starts them: one per node, the head scheduling only, start\n"
        "returning once all joined. A task whose slots span nodes runs through mpirun\n"
        "with a rankfile of the granted cores (see docs/sched.md).",
};
