/* SPDX-License-Identifier: MIT */
/* loomd --agent HOST:PORT: runs the head's tasks on this node.
 *
 * Started on each node through an engine that is already there (srun, mpirun, an
 * rsh/ssh agent), it reports the node's cores (hwloc, the allowed cpuset) and memory
 * to the head, authenticated by the shared secret file, then starts each task it is
 * sent on exactly the cores named, with the code the head uses for its own node
 * (exec.c, output.c, loom::launch for --mpi). Its stdout, stderr and job log go to
 * the head while it runs (every SHIP_MS, see below), the rest and then its status when
 * it ends: the head keeps every log, so `loom logs` (and `loom logs --follow`) works
 * there whatever node runs the task.
 *
 * When the head goes silent (no frame for the heartbeat timeout) or its connection
 * closes, the head will consider this node down and requeue its tasks, so the agent
 * kills them and forgets their output: each result is reported once. It then tries
 * to reconnect every second for --reconnect seconds (default 60; a restarted head
 * takes it back). A "bye" from the head (loom sched stop) ends the agent.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/error.h>
#include <loom/launch.h>
#include <loom/log.h>

#include "loomd.h"
#include "wire.h"

/* A task the head sent: the structures exec.c knows, built from the message. */
struct atask {
    struct loom__job job;
    struct loom__task task;
    struct loomd_job x;
    struct loom__alloc *alloc;
    uint64_t gen;  /* connection it came on */
    int logfd[3];  /* its .out, .err and .log files here, once they exist, or -1 */
    off_t sent[3]; /* bytes of each already sent to the head */
    struct atask *next;
};

/* Output goes to the head while its task runs: every SHIP_MS the new bytes of each
 * log file, unless SHIP_HIGH bytes still wait to be written to the head's socket.
 * The task's files here are the buffer: a slow head or a chatty task costs disk,
 * never agent memory, and never stalls the task.
 */
#define SHIP_MS   200
#define SHIP_HIGH (4u << 20)

static struct {
    struct loomd d; /* what exec.c and output.c use: this node, base, logs */
    const struct loomd_agent_params *p;
    char *secret;
    struct sockaddr_storage head;
    socklen_t headlen;
    struct bufferevent *bev;
    int welcomed, ever, connecting;
    uint64_t last_rx, lost_at, tried_at;
    double hb_iv, hb_timeout;
    struct event *tick, *ship, *sigchld, *sigterm, *sigint;
    struct atask *tasks;
    uint64_t gen;
    int rc;
} A;

static void fatal_exit (const char *fmt, const char *arg)
{
    if (A.rc)
        return; /* one line: the first reason */
    fprintf (stderr, "loomd: agent: ");
    fprintf (stderr, fmt, arg);
    fputc ('\n', stderr);
    A.rc = 1;
    event_base_loopexit (A.d.base, NULL);
}

static void send_msg (json_t *o)
{
    char *s = json_dumps (o, JSON_COMPACT);
    json_decref (o);
    if (!s || !A.bev) {
        free (s);
        return;
    }
    unsigned char hdr[4];
    size_t len = strlen (s);
    loomd_wire_header (hdr, len);
    bufferevent_write (A.bev, hdr, 4);
    bufferevent_write (A.bev, s, len);
    free (s);
}

static json_t *task_msg (const char *op, const struct atask *at)
{
    return json_pack ("{s:s, s:I, s:I, s:I}", "op", op, "job", (json_int_t)at->job.id,
                      "pos", (json_int_t)at->task.pos, "attempt",
                      (json_int_t)at->task.attempt);
}

static const char *const stream_ext[3] = {"out", "err", "log"};

/* Send what was added to a task's log (1 stdout, 2 stderr, 3 job log) since the last
 * call, in chunks of at most LOOMD_WIRE_CHUNK, up to 'budget' bytes (0: all). The
 * chunks go out from the file itself (evbuffer_add_file), not through memory.
 */
static void ship_new (struct atask *at, int stream, off_t budget)
{
    int k = stream - 1;
    if (at->logfd[k] < 0) {
        char *path = loomd_task_log (&A.d, &at->task, stream_ext[k]);
        if (path)
            at->logfd[k] = open (path, O_RDONLY | O_CLOEXEC);
        free (path);
        if (at->logfd[k] < 0)
            return; /* nothing written yet */
    }
    struct stat st;
    if (fstat (at->logfd[k], &st) < 0)
        return;
    while (at->sent[k] < st.st_size) {
        off_t off = at->sent[k], n = st.st_size - off;
        if (n > LOOMD_WIRE_CHUNK)
            n = LOOMD_WIRE_CHUNK;
        if (budget > 0 && n > budget)
            n = budget;
        json_t *o = task_msg ("out", at);
        json_object_set_new (o, "value", json_integer (stream));
        json_object_set_new (o, "n", json_integer ((json_int_t)n));
        send_msg (o);
        unsigned char hdr[4];
        loomd_wire_header (hdr, (size_t)n);
        bufferevent_write (A.bev, hdr, 4);
        int dfd = dup (at->logfd[k]);
        if (dfd < 0
            || evbuffer_add_file (bufferevent_get_output (A.bev), dfd, off, n) < 0) {
            /* The frame was announced: fill it, so the stream stays in step. */
            char *zero = calloc (1, (size_t)n);
            if (zero)
                bufferevent_write (A.bev, zero, (size_t)n);
            free (zero);
        }
        at->sent[k] += n;
        if (budget > 0 && (budget -= n) == 0)
            break;
    }
}

/* At a task's end: send the rest of its log (if 'send') and remove it here. */
static void ship_log (struct atask *at, int stream, int send)
{
    int k = stream - 1;
    if (send)
        ship_new (at, stream, 0);
    char *path = loomd_task_log (&A.d, &at->task, stream_ext[k]);
    if (path)
        unlink (path);
    free (path);
    if (at->logfd[k] >= 0)
        close (at->logfd[k]);
    at->logfd[k] = -1;
}

/* Every SHIP_MS: running tasks' new output to the head, while its socket keeps up. */
static void on_ship (evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    (void)arg;
    if (!A.welcomed || !A.bev)
        return;
    struct evbuffer *out = bufferevent_get_output (A.bev);
    for (struct atask *at = A.tasks; at; at = at->next) {
        if (at->gen != A.gen || !at->task.ext)
            continue;
        for (int stream = 1; stream <= 3; stream++) {
            if (evbuffer_get_length (out) >= SHIP_HIGH)
                return; /* the rest waits on disk for the next round */
            ship_new (at, stream, LOOMD_WIRE_CHUNK);
        }
    }
}

static void task_free (struct atask *at)
{
    for (struct atask **pp = &A.tasks; *pp; pp = &(*pp)->next) {
        if (*pp == at) {
            *pp = at->next;
            break;
        }
    }
    for (int k = 0; k < 3; k++)
        if (at->logfd[k] >= 0)
            close (at->logfd[k]);
    free (at->alloc);
    loomd_strv_free (at->x.argv);
    loomd_strv_free (at->x.env);
    free (at->x.cwd);
    free (at->x.user);
    free (at);
}

/* exec.c: all processes of a task ended. */
static void exited_agent (struct loomd *d, struct loom__task *t, int ws, uint64_t rss)
{
    struct atask *at = (struct atask *)((char *)t - offsetof (struct atask, task));
    int live = A.welcomed && at->gen == A.gen;
    (void)d;
    ship_log (at, 1, live);
    ship_log (at, 2, live);
    ship_log (at, 3, live); /* an --mpi task's job log (joblog.c) */
    char dir[PATH_MAX];
    snprintf (dir, sizeof (dir), "%s/%llu", A.d.logdir, (unsigned long long)at->job.id);
    rmdir (dir); /* if no other task of the job still runs here */
    if (live) {
        json_t *o = task_msg ("exit", at);
        json_object_set_new (o, "value", json_integer (ws));
        json_object_set_new (o, "n", json_integer ((json_int_t)rss));
        send_msg (o);
    }
    task_free (at);
}

static void kill_all (void)
{
    for (struct atask *at = A.tasks; at; at = at->next)
        if (at->task.ext)
            loomd_exec_kill (&A.d, &at->task, SIGKILL);
}

static void on_run (json_t *o)
{
    struct loomd_msg_run m;
    char why[256];
    if (loomd_msg_run (o, A.d.ncores, &m, why, sizeof (why)) < 0) {
        loom_warn ("loomd: agent: %s", why);
        return;
    }
    struct atask *at = calloc (1, sizeof (*at));
    uint32_t words = (A.d.ncores + 63) / 64;
    if (at)
        at->alloc = calloc (1, sizeof (*at->alloc) + sizeof (struct loom__alloc_part)
                                   + words * sizeof (uint64_t));
    if (!at || !at->alloc) {
        free (at);
        loomd_msg_run_free (&m);
        return;
    }
    struct loom__alloc_part *part = &at->alloc->parts[0];
    at->alloc->nparts = 1;
    part->mask = (uint64_t *)(at->alloc->parts + 1);
    part->ncores = (uint32_t)m.ncores;
    for (size_t i = 0; i < m.ncores; i++)
        part->mask[m.cores[i] / 64] |= 1ull << (m.cores[i] % 64);
    at->job.id = m.task.job;
    at->job.uid = m.uid;
    at->job.gid = m.gid;
    at->job.nslots = m.nslots;
    at->job.cores_per_slot = m.cps;
    at->job.ext = &at->x;
    at->x.argv = m.argv;
    at->x.env = m.env;
    at->x.cwd = m.cwd ? strdup (m.cwd) : NULL;
    at->x.user = strdup (m.user);
    at->x.mpi = m.mpi;
    m.argv = m.env = NULL;
    at->task.job = &at->job;
    at->task.pos = m.task.pos;
    at->task.index = m.task.index;
    at->task.attempt = m.task.attempt;
    at->task.state = LOOM__T_RUNNING;
    at->task.alloc = at->alloc;
    at->gen = A.gen;
    at->logfd[0] = at->logfd[1] = at->logfd[2] = -1;
    at->next = A.tasks;
    A.tasks = at;
    A.d.kill_grace_ns = (uint64_t)(m.grace * 1e9);
    loomd_msg_run_free (&m);
    if (loomd_exec_start (&A.d, &at->task) < 0)
        exited_agent (&A.d, &at->task, 127 << 8, 0); /* why is in its stderr log */
}

static void on_kill (json_t *o)
{
    struct loomd_msg_task m;
    char why[256];
    if (loomd_msg_task (o, "kill", &m, why, sizeof (why)) < 0) {
        loom_warn ("loomd: agent: %s", why);
        return;
    }
    for (struct atask *at = A.tasks; at; at = at->next)
        if (at->job.id == m.job && at->task.pos == m.pos
            && at->task.attempt == m.attempt && at->task.ext)
            loomd_exec_kill (&A.d, &at->task, m.value);
}

static void disconnect (const char *why)
{
    if (!A.bev)
        return;
    bufferevent_free (A.bev);
    A.bev = NULL;
    A.connecting = 0;
    if (!A.ever) {
        fatal_exit ("%s", why);
        return;
    }
    if (A.welcomed) {
        loom_warn ("loomd: agent: lost the head (%s); killing this node's tasks, "
                   "reconnecting",
                   why);
        A.lost_at = loom_clock_ns ();
    }
    A.welcomed = 0;
    A.gen++;
    kill_all ();
}

static void on_frame (const unsigned char *p, size_t len)
{
    const char *op;
    char why[256];
    json_t *o = loomd_wire_parse (p, len, &op, why, sizeof (why));
    if (!o) {
        disconnect (why);
        return;
    }
    if (strcmp (op, "welcome") == 0) {
        double iv = json_number_value (json_object_get (o, "heartbeat"));
        double to = json_number_value (json_object_get (o, "timeout"));
        A.hb_iv = iv > 0.01 ? iv : 1.0;
        A.hb_timeout = to > 0 ? to : 5.0;
        A.welcomed = A.ever = 1;
        struct timeval tv = {(time_t)A.hb_iv,
                             (suseconds_t)((A.hb_iv - (double)(time_t)A.hb_iv) * 1e6)};
        event_add (A.tick, &tv);
        loom_info ("loomd: agent: node %s joined the head (%u cores)", A.d.node,
                   A.d.ncores);
    } else if (strcmp (op, "refused") == 0) {
        const char *e = json_string_value (json_object_get (o, "error"));
        snprintf (why, sizeof (why), "the head refused this agent: %s", e ? e : "?");
        if (!A.ever) {
            fatal_exit ("%s", why);
        } else {
            loom_warn ("loomd: agent: %s (trying again)", why);
            disconnect (why);
        }
    } else if (!A.welcomed) {
        disconnect ("the head did not answer hello");
    } else if (strcmp (op, "run") == 0) {
        on_run (o);
    } else if (strcmp (op, "kill") == 0) {
        on_kill (o);
    } else if (strcmp (op, "bye") == 0) {
        loom_info ("loomd: agent: the head stopped; stopping");
        kill_all ();
        event_base_loopexit (A.d.base, NULL);
    } else if (strcmp (op, "hb") != 0) {
        loom_warn ("loomd: agent: unknown message '%s' from the head", op);
    }
    json_decref (o);
}

static void on_read (struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input (bev);
    (void)arg;
    while (A.bev == bev) {
        size_t have = evbuffer_get_length (in), used, plen;
        const unsigned char *p;
        unsigned char hdr[4];
        if (evbuffer_copyout (in, hdr, 4) < 4)
            return;
        size_t need = 4
                      + ((size_t)hdr[0] << 24 | (size_t)hdr[1] << 16
                         | (size_t)hdr[2] << 8 | hdr[3]);
        /* Not before the whole frame is here: pulling up a partial one is wasted. */
        if (need <= 4 + LOOMD_WIRE_MAX && have < need)
            return;
        unsigned char *buf =
            evbuffer_pullup (in, (ssize_t)(need <= 4 + LOOMD_WIRE_MAX ? need : 4));
        int r = loomd_wire_frame (buf, need <= 4 + LOOMD_WIRE_MAX ? need : 4,
                                  LOOMD_WIRE_MAX, &p, &plen, &used);
        if (r < 0) {
            disconnect ("oversized frame from the head");
            return;
        }
        if (r == 0)
            return;
        A.last_rx = loom_clock_ns ();
        on_frame (p, plen);
        if (A.bev == bev)
            evbuffer_drain (in, used);
    }
}

static void send_hello (void)
{
    json_t *cores = json_array ();
    for (unsigned i = 0; i < A.d.ncores; i++) {
        char *s = NULL;
        hwloc_bitmap_list_asprintf (&s, A.d.core_pus[i]);
        json_array_append_new (cores, json_string (s ? s : ""));
        free (s);
    }
    send_msg (json_pack ("{s:s, s:s, s:s, s:I, s:o, s:i}", "op", "hello", "secret",
                         A.secret, "node", A.d.node, "mem", (json_int_t)A.d.mem_mib,
                         "cores", cores, "version", LOOMD_WIRE_VERSION));
}

static void on_event (struct bufferevent *bev, short what, void *arg)
{
    char why[300];
    (void)bev;
    (void)arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt (bufferevent_getfd (bev), IPPROTO_TCP, TCP_NODELAY, &one,
                    sizeof (one));
        A.connecting = 0;
        A.last_rx = loom_clock_ns ();
        bufferevent_set_timeouts (bev, NULL, NULL);
        send_hello ();
        return;
    }
    int e = EVUTIL_SOCKET_ERROR ();
    snprintf (why, sizeof (why), "%s the head at %s: %s",
              A.connecting ? "cannot reach" : "lost", A.p->head,
              what & BEV_EVENT_TIMEOUT ? "timed out"
              : what & BEV_EVENT_EOF   ? "connection closed"
                                       : strerror (e ? e : ECONNRESET));
    disconnect (why);
}

static void try_connect (void)
{
    A.tried_at = loom_clock_ns ();
    /* Our own socket, close-on-exec: a task must not hold the head's connection
     * open (the head would not see this agent die).
     */
    int fd = socket (A.head.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0
        || !(A.bev = bufferevent_socket_new (A.d.base, fd, BEV_OPT_CLOSE_ON_FREE))) {
        if (fd >= 0)
            close (fd);
        return;
    }
    A.connecting = 1;
    bufferevent_setcb (A.bev, on_read, NULL, on_event, NULL);
    bufferevent_enable (A.bev, EV_READ | EV_WRITE);
    struct timeval tv = {5, 0};
    bufferevent_set_timeouts (A.bev, NULL, &tv);
    if (bufferevent_socket_connect (A.bev, (struct sockaddr *)&A.head, (int)A.headlen)
        < 0) {
        char why[300];
        snprintf (why, sizeof (why), "cannot reach the head at %s: %s", A.p->head,
                  strerror (errno));
        disconnect (why);
    }
}

/* Every heartbeat interval (every second while not connected). */
static void on_tick (evutil_socket_t fd, short ev, void *arg)
{
    uint64_t now = loom_clock_ns ();
    (void)fd;
    (void)ev;
    (void)arg;
    if (A.welcomed) {
        if (now - A.last_rx > (uint64_t)(A.hb_timeout * 1e9)) {
            char why[96];
            snprintf (why, sizeof (why), "no heartbeat for %.1f s",
                      (double)(now - A.last_rx) / 1e9);
            disconnect (why);
        } else {
            send_msg (json_pack ("{s:s}", "op", "hb"));
        }
        return;
    }
    if (A.bev && now - A.last_rx > 10000000000ull && !A.connecting) {
        disconnect ("no answer to hello within 10 s");
        return;
    }
    if (A.ever && !A.bev) {
        if (now - A.lost_at > (uint64_t)(A.p->reconnect_sec * 1e9)) {
            char why[128];
            snprintf (why, sizeof (why), "no head at %s for %.0f s; giving up",
                      A.p->head, A.p->reconnect_sec);
            A.ever = 0; /* now an error like the first connection */
            fatal_exit ("%s", why);
            return;
        }
        if (now - A.tried_at >= 1000000000ull)
            try_connect ();
    }
}

static void on_sigchld (evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    (void)arg;
    loomd_exec_reap (&A.d);
}

static void on_sigterm (evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    (void)arg;
    kill_all ();
    event_base_loopexit (A.d.base, NULL);
}

static int resolve (const char *hostport, loom_error_t *error)
{
    char host[256];
    const char *colon = strrchr (hostport, ':');
    if (!colon || colon == hostport || colon - hostport >= (long)sizeof (host)
        || !colon[1])
        return loom_errset (error, EINVAL, "bad head address '%s' (say HOST:PORT)",
                            hostport);
    memcpy (host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM},
                    *res = NULL;
    int rc = getaddrinfo (host, colon + 1, &hints, &res);
    if (rc != 0)
        return loom_errset (error, EHOSTUNREACH, "cannot reach the head at %s: %s",
                            hostport, gai_strerror (rc));
    memcpy (&A.head, res->ai_addr, res->ai_addrlen);
    A.headlen = res->ai_addrlen;
    freeaddrinfo (res);
    return 0;
}

static int mkdirs (const char *path)
{
    char tmp[PATH_MAX];
    snprintf (tmp, sizeof (tmp), "%s", path);
    for (char *q = tmp + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        mkdir (tmp, 0700);
        *q = '/';
    }
    return mkdir (tmp, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

int loomd_agent_main (const struct loomd_agent_params *p)
{
    struct loomd *d = &A.d;
    loom_error_t error;
    char path[PATH_MAX];
    A.p = p;
    d->local_node = 0;
    d->exited = exited_agent;
    d->uid = geteuid ();
    d->kill_grace_ns = 5000000000ull;
    d->mem_mib = p->mem_mib;
    d->node = p->node_name ? strdup (p->node_name) : NULL;
    if (p->node_name && (!*p->node_name || strpbrk (p->node_name, " \t\n/"))) {
        fprintf (stderr, "loomd: agent: bad --node-name '%s'\n", p->node_name);
        return 1;
    }
    if (p->secret_file)
        snprintf (path, sizeof (path), "%s", p->secret_file);
    else
        snprintf (path, sizeof (path), "%s/agent.secret", p->dir);
    if (resolve (p->head, &error) < 0
        || !(A.secret = loomd_secret_load (path, 0, &error))
        || loomd_load_node (d, p->cores, p->cpuset, &error) < 0) {
        fprintf (stderr, "loomd: agent: %s\n", error.text);
        return 1;
    }
    /* Task output lands here first and goes to the head as it comes (on_ship). */
    if (asprintf (&d->logdir, "%s/agent-%s/logs", p->dir, d->node) < 0
        || mkdirs (d->logdir) < 0) {
        fprintf (stderr, "loomd: agent: cannot create %s/agent-%s/logs: %s\n", p->dir,
                 d->node, strerror (errno));
        return 1;
    }
    signal (SIGPIPE, SIG_IGN);
    d->base = event_base_new ();
    if (!d->base) {
        fprintf (stderr, "loomd: agent: cannot create the event loop\n");
        return 1;
    }
    A.tick = event_new (d->base, -1, EV_PERSIST, on_tick, NULL);
    A.ship = event_new (d->base, -1, EV_PERSIST, on_ship, NULL);
    A.sigchld = evsignal_new (d->base, SIGCHLD, on_sigchld, NULL);
    A.sigterm = evsignal_new (d->base, SIGTERM, on_sigterm, NULL);
    A.sigint = evsignal_new (d->base, SIGINT, on_sigterm, NULL);
    struct timeval one = {1, 0};
    struct timeval ship = {0, SHIP_MS * 1000};
    event_add (A.tick, &one);
    event_add (A.ship, &ship);
    event_add (A.sigchld, NULL);
    event_add (A.sigterm, NULL);
    event_add (A.sigint, NULL);
    try_connect ();
    if (A.rc == 0)
        event_base_dispatch (d->base);

    kill_all ();
    /* Reap what was killed, so nothing outlives the agent. */
    for (int i = 0; i < 50 && d->runs.rnext && d->runs.rnext != &d->runs; i++) {
        loomd_exec_reap (d);
        if (d->runs.rnext != &d->runs)
            usleep (20000);
    }
    while (A.tasks)
        task_free (A.tasks);
    loomd_outs_close ();
    loomd_exec_shutdown (d);
    if (A.bev)
        bufferevent_free (A.bev);
    event_free (A.tick);
    event_free (A.ship);
    event_free (A.sigchld);
    event_free (A.sigterm);
    event_free (A.sigint);
    event_base_free (d->base);
    for (unsigned i = 0; i < d->ncores; i++)
        hwloc_bitmap_free (d->core_pus[i]);
    free (d->core_pus);
    loom_topo_destroy (d->topo);
    free (d->node);
    free (d->logdir);
    free (A.secret);
    return A.rc;
}
