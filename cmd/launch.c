/* SPDX-License-Identifier: MIT */
/* `loom launch -n N [placement options] program [args]`: place ranks on this node's
 * topology (or the given hosts) and start them, as their PMIx server on one node or
 * through mpirun/srun across nodes. Exits as mpirun does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/launch.h>
#include <loom/trace.h>
#include <loom/trace_tools.h>

#include "cmd.h"
#include "launch_cmd.h"

enum {
    OPT_MAP_BY = 256,
    OPT_RANK_BY,
    OPT_BIND_TO,
    OPT_CPUS_PER_RANK,
    OPT_OVERSUB,
    OPT_HWTHREADS,
    OPT_REPORT,
    OPT_EXPLAIN,
    OPT_DRY_RUN,
    OPT_TAG,
    OPT_TIMEOUT,
    OPT_CPUSET,
    OPT_HOST,
    OPT_HOSTFILE,
    OPT_ENGINE,
    OPT_RSH,
    OPT_SYNTHETIC,
    OPT_XML,
    OPT_TRACE,
};

static const struct cmd_option options[] = {
    {"np", 1, 'n', "N", "Number of ranks (default: one per CPU, or what ppr gives)"},
    {"map-by", 1, OPT_MAP_BY, "POLICY",
     "slot|core|hwthread|l3cache|numa|package|node|ppr:N:OBJ, each [:pe=K]"},
    {"rank-by", 1, OPT_RANK_BY, "POLICY", "slot|core|l3cache|numa|package|node"},
    {"bind-to", 1, OPT_BIND_TO, "OBJ", "none|hwthread|core|l3cache|numa|package"},
    {"cpus-per-rank", 1, OPT_CPUS_PER_RANK, "K", "CPUs per rank (same as pe=K)"},
    {"oversubscribe", 0, OPT_OVERSUB, NULL, "Allow more ranks than CPUs"},
    {"use-hwthread-cpus", 0, OPT_HWTHREADS, NULL, "Count hardware threads as CPUs"},
    {"report-bindings", 0, OPT_REPORT, NULL, "Print each rank's binding (stderr)"},
    {"explain", 0, OPT_EXPLAIN, NULL, "Say why each rank landed where it did (stderr)"},
    {"dry-run", 0, OPT_DRY_RUN, NULL, "Place only: print the placement, start nothing"},
    {"tag-output", 0, OPT_TAG, NULL, "Prefix output lines with [job,rank]<stream>:"},
    {"timeout", 1, OPT_TIMEOUT, "SEC", "Kill the job after SEC seconds (exit 124)"},
    {"cpuset", 1, OPT_CPUSET, "LIST", "Use only these PUs (hwloc list, e.g. 0-3)"},
    {"host", 1, OPT_HOST, "LIST", "Hosts and slots: a:2,b:2"},
    {"hostfile", 1, OPT_HOSTFILE, "FILE", "Hosts, one per line: name [slots=N]"},
    {"engine", 1, OPT_ENGINE, "E", "auto|direct|mpirun|srun (default auto)"},
    {"rsh-agent", 1, OPT_RSH, "CMD", "Remote shell for mpirun (plm_rsh_agent)"},
    {"synthetic", 1, OPT_SYNTHETIC, "DESC", "Place on an hwloc synthetic topology"},
    {"xml", 1, OPT_XML, "FILE", "Place on a topology from an hwloc XML file"},
    {"trace", 1, OPT_TRACE, "PREFIX",
     "Trace the job (LOOM_TRACE=PREFIX); merged into PREFIX.trace at its end"},
    {NULL, 0, 0, NULL, NULL},
};

static volatile sig_atomic_t got_signal;

static void on_signal (int sig)
{
    got_signal = sig;
}

struct out_state {
    int tag;
    int job;
};

/* Whole lines with one write each, so ranks' lines never interleave. */
static void on_output (loom_launch_job_t *job,
                       int rank,
                       int stream,
                       const char *line,
                       size_t len,
                       void *arg)
{
    const struct out_state *o = arg;
    char prefix[64];
    int pl = 0;
    if (o->tag)
        pl = snprintf (prefix, sizeof (prefix), "[%d,%d]<%s>:", o->job, rank,
                       stream == 1 ? "stdout" : "stderr");
    char *buf = malloc ((size_t)pl + len + 1);
    if (!buf)
        return;
    memcpy (buf, prefix, (size_t)pl);
    memcpy (buf + pl, line, len);
    buf[(size_t)pl + len] = '\n';
    const char *p = buf;
    size_t left = (size_t)pl + len + 1;
    while (left > 0) {
        ssize_t n = write (stream == 1 ? 1 : 2, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
    free (buf);
}

/* Can 'host' be reached? With an rsh agent, run "agent host true" (10 s at most);
 * without, the name must resolve.
 */
static int host_reachable (const char *agent, const char *host)
{
    if (!agent) {
        struct addrinfo *ai = NULL;
        int rc = getaddrinfo (host, NULL, NULL, &ai);
        if (ai)
            freeaddrinfo (ai);
        return rc == 0;
    }
    pid_t pid = fork ();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        int fd = open ("/dev/null", O_RDWR);
        dup2 (fd, 0);
        dup2 (fd, 1);
        dup2 (fd, 2);
        execl ("/bin/sh", "sh", "-c", "exec $0 \"$1\" true", agent, host, (char *)NULL);
        _exit (127);
    }
    int status = 0;
    for (int i = 0; i < 1000; i++) {
        pid_t got = waitpid (pid, &status, WNOHANG);
        if (got == pid)
            return WIFEXITED (status) && WEXITSTATUS (status) == 0;
        nanosleep (&(struct timespec){0, 10000000}, NULL);
    }
    kill (pid, SIGKILL);
    waitpid (pid, &status, 0);
    return 0;
}

int launch_main (const struct cmd *cmd, int argc, char **argv)
{
    struct launch_opts o = LAUNCH_OPTS_INIT;
    const char *arg;
    int c;
    while ((c = cmd_getopt (cmd, argc, argv, &arg)) != -1) {
        if (c == -2)
            return 1;
        if (launch_opts_set (cmd, &o, c, arg) < 0)
            return 1;
    }
    if (optind >= argc && !o.dry_run)
        return cmd_error (cmd, "which program? (usage: loom launch -n N [options] "
                               "program [args])");
    return launch_run (cmd, &o, argv + optind);
}

int launch_opts_set (const struct cmd *cmd,
                     struct launch_opts *o,
                     int key,
                     const char *arg)
{
    char *end;
    switch (key) {
    case 'n': {
        long n = cmd_parse_count (cmd, "-n", arg);
        if (n < 0)
            return -1;
        o->pp.nprocs = (int)n;
        return 0;
    }
    case OPT_MAP_BY:
        o->pp.map_by = arg;
        return 0;
    case OPT_RANK_BY:
        o->pp.rank_by = arg;
        return 0;
    case OPT_BIND_TO:
        o->pp.bind_to = arg;
        return 0;
    case OPT_CPUS_PER_RANK: {
        long n = cmd_parse_count (cmd, "--cpus-per-rank", arg);
        if (n < 0)
            return -1;
        o->pp.cpus_per_rank = (int)n;
        return 0;
    }
    case OPT_OVERSUB:
        o->pp.oversubscribe = 1;
        return 0;
    case OPT_HWTHREADS:
        o->pp.hwthreads = 1;
        return 0;
    case OPT_REPORT:
        o->report = 1;
        return 0;
    case OPT_EXPLAIN:
        o->explain = 1;
        return 0;
    case OPT_DRY_RUN:
        o->dry_run = 1;
        return 0;
    case OPT_TAG:
        o->tag = 1;
        return 0;
    case OPT_TIMEOUT:
        errno = 0;
        o->timeout = strtod (arg, &end);
        if (errno || end == arg || *end || !(o->timeout > 0)) {
            cmd_error (cmd, "--timeout must be a positive number of seconds, not '%s'",
                       arg);
            return -1;
        }
        return 0;
    case OPT_CPUSET:
        o->cpuset = arg;
        return 0;
    case OPT_HOST:
        o->host = arg;
        return 0;
    case OPT_HOSTFILE:
        o->hostfile = arg;
        return 0;
    case OPT_ENGINE:
        if (strcmp (arg, "auto") == 0)
            o->engine = LOOM_ENGINE_AUTO;
        else if (strcmp (arg, "direct") == 0)
            o->engine = LOOM_ENGINE_DIRECT;
        else if (strcmp (arg, "mpirun") == 0)
            o->engine = LOOM_ENGINE_MPIRUN;
        else if (strcmp (arg, "srun") == 0)
            o->engine = LOOM_ENGINE_SRUN;
        else {
            cmd_error (cmd,
                       "unknown --engine '%s' (expected auto, direct, mpirun or "
                       "srun)",
                       arg);
            return -1;
        }
        return 0;
    case OPT_RSH:
        o->rsh_agent = arg;
        return 0;
    case OPT_SYNTHETIC:
        o->synthetic = arg;
        return 0;
    case OPT_XML:
        o->xml = arg;
        return 0;
    case OPT_TRACE:
        if (!*arg) {
            cmd_error (cmd, "--trace needs a path prefix");
            return -1;
        }
        o->trace = arg;
        return 0;
    }
    cmd_error (cmd, "internal: unhandled option %d", key);
    return -1;
}

/* Nodes for the placement: hosts from --host/--hostfile/Slurm, or this node. */
static int make_nodes (const struct cmd *cmd,
                       struct launch_opts *o,
                       loom_topo_t *topo,
                       struct loom_node **nodes,
                       struct loom_host **hosts,
                       int *nhosts)
{
    loom_error_t e = {""};
    *nhosts = 0;
    *hosts = NULL;
    if (o->host && o->hostfile)
        return cmd_error (cmd, "give only one of --host and --hostfile"), -1;
    if (o->host)
        *nhosts = loom_hosts_parse (o->host, hosts, &e);
    else if (o->hostfile)
        *nhosts = loom_hosts_read_file (o->hostfile, hosts, &e);
    else if (o->engine != LOOM_ENGINE_DIRECT && getenv ("SLURM_JOB_ID"))
        *nhosts = loom_hosts_from_slurm (hosts, &e);
    if (*nhosts < 0)
        return cmd_error (cmd, "%s", e.text), -1;
    int n = *nhosts > 0 ? *nhosts : 1;
    *nodes = calloc ((size_t)n, sizeof (**nodes));
    if (!*nodes)
        return cmd_error (cmd, "out of memory"), -1;
    for (int i = 0; i < n; i++) {
        /* Other hosts are assumed to look like this one (a homogeneous cluster). */
        (*nodes)[i].topo = topo;
        (*nodes)[i].cpuset = o->cpuset;
        if (*nhosts > 0) {
            (*nodes)[i].name = (*hosts)[i].name;
            (*nodes)[i].slots = (*hosts)[i].slots;
        }
    }
    return n;
}

/* Tracing on: when the job is over, however it ended, merge every rank's file and
 * the launcher's own into PREFIX.trace, so the user has one file (docs/tracing.md).
 * A rank that was killed left what it wrote before; one that never traced is skipped.
 */
static void merge_trace (const struct cmd *cmd, int nranks)
{
    const char *prefix = getenv ("LOOM_TRACE");
    if (!prefix || !*prefix)
        return;
    const char *mine = loom_trace_file ();
    char *own = mine ? strdup (mine) : NULL;
    loom_trace_stop (); /* our own file, closed before it is read */
    loom_error_t e;
    const char *extra[1] = {own};
    int n = loom_trace_merge_ranks (prefix, nranks, extra, own ? 1 : 0, NULL, &e);
    if (n < 0)
        cmd_error (cmd, "cannot merge the trace: %s", e.text);
    else if (n > 0 && isatty (STDERR_FILENO))
        fprintf (stderr, "loom: %s: the trace of %d processes is in %s.trace\n",
                 cmd->name, n, prefix);
    free (own);
}

int launch_run (const struct cmd *cmd, struct launch_opts *o, char **prog)
{
    loom_error_t e = {""};
    loom_topo_t *topo = NULL;
    loom_placement_t *pl = NULL;
    loom_launch_t *l = NULL;
    loom_launch_job_t *job = NULL;
    struct loom_node *nodes = NULL;
    struct loom_host *hosts = NULL;
    int nhosts = 0, rc = 1;

    /* Our handlers first, so tracing's crash handlers leave these signals to us. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset (&sa.sa_mask);
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGHUP, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);
    if (o->trace)
        setenv ("LOOM_TRACE", o->trace, 1);
    /* One trace id for the launcher and every rank (they inherit the environment). */
    if (getenv ("LOOM_TRACE") && !getenv ("LOOM_TRACE_ID")) {
        char id[17];
        uint64_t v = loom_clock_realtime_ns () ^ ((uint64_t)getpid () << 40);
        setenv ("LOOM_TRACE_ID", loom_trace_id_format (v ? v : 1, id), 1);
    }
    if (o->synthetic && o->xml) {
        cmd_error (cmd, "give only one of --synthetic and --xml");
        goto out;
    }
    if ((o->synthetic || o->xml) && !o->dry_run) {
        cmd_error (cmd, "--synthetic and --xml describe another machine: use them with "
                        "--dry-run");
        goto out;
    }
    if (o->synthetic)
        topo = loom_topo_load (LOOM_TOPO_SYNTHETIC, o->synthetic, &e);
    else if (o->xml)
        topo = loom_topo_load (LOOM_TOPO_XML, o->xml, &e);
    else
        topo = loom_topo_load (LOOM_TOPO_LOCAL, NULL, &e);
    if (!topo) {
        cmd_error (cmd, "%s", e.text);
        goto out;
    }
    int nnodes = make_nodes (cmd, o, topo, &nodes, &hosts, &nhosts);
    if (nnodes < 0)
        goto out;
    if (!(pl = loom_placement_compute (nodes, (size_t)nnodes, &o->pp, &e))) {
        cmd_error (cmd, "%s", e.text);
        goto out;
    }
    FILE *info = o->dry_run ? stdout : stderr;
    if (o->explain) {
        char *s = loom_placement_format_explain (pl);
        fputs (s ? s : "", info);
        free (s);
    }
    if (o->report || (o->dry_run && !o->explain)) {
        char *s = loom_placement_format_bindings (pl);
        fputs (s ? s : "", info);
        free (s);
    }
    fflush (info);
    if (o->dry_run) {
        rc = 0;
        goto out;
    }
    /* Remote hosts must answer before an engine spends its own long timeouts. */
    for (int i = 0; i < nhosts; i++) {
        struct loom_rank_place rp;
        int used = 0;
        for (int r = 0; r < loom_placement_size (pl) && !used; r++)
            used = loom_placement_rank (pl, r, &rp) == 0 && rp.node == i;
        char self[256] = "";
        gethostname (self, sizeof (self) - 1);
        if (!used || strcmp (hosts[i].name, "localhost") == 0
            || strcmp (hosts[i].name, self) == 0)
            continue;
        if (!host_reachable (o->rsh_agent, hosts[i].name)) {
            cmd_error (cmd, "cannot reach host '%s'%s%s", hosts[i].name,
                       o->rsh_agent ? " with " : " (name does not resolve)",
                       o->rsh_agent ? o->rsh_agent : "");
            goto out;
        }
    }

    struct loom_launch_params lp = LOOM_LAUNCH_PARAMS_INIT;
    lp.topo = topo;
    lp.rsh_agent = o->rsh_agent;
    if (!(l = loom_launch_create (&lp, &e))) {
        cmd_error (cmd, "%s", e.text);
        goto out;
    }
    struct out_state os = {.tag = o->tag, .job = 1};
    struct loom_launch_job_params jp = LOOM_LAUNCH_JOB_PARAMS_INIT;
    jp.placement = pl;
    jp.argv = prog;
    jp.timeout_sec = o->timeout;
    jp.stdin_fd = 0;
    jp.output = on_output;
    jp.arg = &os;
    jp.engine = o->engine;
    if (!(job = loom_launch_job_start (l, &jp, &e))) {
        cmd_error (cmd, "%s", e.text);
        goto out;
    }
    int forwarded = 0;
    while (!loom_launch_job_done (job)) {
        if (got_signal && !forwarded) {
            loom_launch_job_kill (job, got_signal);
            forwarded = 1;
        }
        if (loom_launch_progress (l, -1) < 0) {
            cmd_error (cmd, "waiting for the job: %s", strerror (errno));
            goto out;
        }
    }
    struct loom_launch_job_status st;
    loom_launch_job_status (job, &st);
    merge_trace (cmd, loom_placement_size (pl));
    /* A rank that exited non-zero has said why itself; crashes, aborts and timeouts
     * get one line from us.
     */
    if (st.reason[0] && !st.killed
        && (st.aborted || st.timed_out || st.exit_code > 128))
        cmd_error (cmd, "%s", st.reason);
    rc = st.exit_code;
out:
    loom_launch_job_destroy (job);
    loom_launch_destroy (l);
    loom_placement_destroy (pl);
    loom_hosts_free (hosts, nhosts);
    free (nodes);
    loom_topo_destroy (topo);
    return rc;
}

const struct cmd cmd_launch = {
    .name = "launch",
    .usage = "[-n N] [placement options] program [args]",
    .summary = "Place and start N ranks of a program (no mpirun on one node)",
    .fn = launch_main,
    .options = options,
    .description =
        "Places ranks on this node's hwloc topology within the allowed cpuset, binds\n"
        "each, and starts them as their PMIx server, so MPI programs run without\n"
        "mpirun. With --host/--hostfile or inside Slurm, the same placement goes to\n"
        "mpirun (rankfile) or srun (cpu-bind masks). Exit status as mpirun: the\n"
        "MPI_Abort status, 128+signal for a crashed rank, else the first non-zero\n"
        "exit; 124 on --timeout. See docs/launcher.md.",
};
