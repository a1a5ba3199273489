/* SPDX-License-Identifier: MIT */
/* The head's side of the agents that run tasks on other nodes (loomd --listen).
 *
 * An agent connects over TCP and says hello with the shared secret and its node's
 * cores; its node joins the policy core (or comes back up, if it was known). The head
 * sends it tasks to run on exactly the granted cores and signals to deliver; the
 * agent sends back each task's output and its end. Both sides send a heartbeat every
 * third of the timeout; a node whose agent is silent for the timeout, or whose
 * connection closes, is marked down: its running tasks are lost and requeued if they
 * have retries left (the lost attempt counts, as after a kill -9 of loomd), else they
 * end LOST. What an agent reports about an attempt the head no longer runs there is
 * ignored, so a task's result is recorded once.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/error.h>
#include <loom/launch.h>
#include <loom/log.h>

#include "../internal.h"
#include "loomd.h"
#include "wire.h"

struct loomd_agent {
    struct loomd *d;
    struct bufferevent *bev;
    char peer[80];
    int authed;
    int node; /* index in the core, -1 before hello */
    uint64_t last_rx, since;
    int want_raw; /* an "out" header came: its bytes are the next frame */
    struct loomd_msg_task out;
    struct loomd_agent *next;
};

static void agent_free (struct loomd_agent *a, const char *why);

static void send_msg (struct loomd_agent *a, json_t *o)
{
    char *s = json_dumps (o, JSON_COMPACT);
    json_decref (o);
    if (!s)
        return;
    unsigned char hdr[4];
    size_t len = strlen (s);
    loomd_wire_header (hdr, len);
    bufferevent_write (a->bev, hdr, 4);
    bufferevent_write (a->bev, s, len);
    free (s);
}

static struct loomd_node *node_ext (struct loomd *d, int idx)
{
    return idx >= 0 ? loomd_node_of (d, (uint32_t)idx) : NULL;
}

/* PU lists of a node's cores, ';'-separated (the nodes table). */
static char *cores_text (const struct loomd_node *n)
{
    size_t cap = 64, len = 0;
    char *s = malloc (cap);
    for (unsigned i = 0; s && i < n->ncores; i++) {
        char *one = NULL;
        hwloc_bitmap_list_asprintf (&one, n->core_pus[i]);
        size_t l = one ? strlen (one) : 0;
        if (len + l + 2 > cap) {
            char *t = realloc (s, cap = 2 * (len + l + 2));
            if (!t) {
                free (s);
                s = NULL;
                free (one);
                break;
            }
            s = t;
        }
        if (i)
            s[len++] = ';';
        memcpy (s + len, one ? one : "", l);
        len += l;
        free (one);
    }
    if (s)
        s[len] = '\0';
    return s;
}

static void store_node (struct loomd *d, int idx)
{
    struct loom__node *n = d->core->nodes[idx];
    char *cores = cores_text (n->ext);
    loomd_store_node (d->store, n->name, n->ncores, n->mem, cores ? cores : "",
                      n->up ? "up" : "down");
    free (cores);
}

static struct loomd_node *node_new (size_t ncores)
{
    struct loomd_node *x = calloc (1, sizeof (*x));
    if (!x || !(x->core_pus = calloc (ncores, sizeof (*x->core_pus)))) {
        free (x);
        return NULL;
    }
    x->ncores = (unsigned)ncores;
    for (size_t i = 0; i < ncores; i++) {
        if (!(x->core_pus[i] = hwloc_bitmap_alloc ())) {
            while (i-- > 0)
                hwloc_bitmap_free (x->core_pus[i]);
            free (x->core_pus);
            free (x);
            return NULL;
        }
    }
    return x;
}

static void node_ext_free (struct loomd_node *x)
{
    if (!x || x->local)
        return;
    for (unsigned i = 0; i < x->ncores; i++)
        hwloc_bitmap_free (x->core_pus[i]);
    free (x->core_pus);
    free (x);
}

static int find_node (struct loomd *d, const char *name)
{
    for (uint32_t i = 0; i < d->core->nnodes; i++)
        if (strcmp (d->core->nodes[i]->name, name) == 0)
            return (int)i;
    return -1;
}

/* Write out what is queued for 'a' now, before closing it. A bufferevent keeps its
 * output frozen for its own writes only; a few hundred bytes to a socket that is
 * being closed do not block.
 */
static void flush_now (struct loomd_agent *a)
{
    struct evbuffer *out = bufferevent_get_output (a->bev);
    evbuffer_unfreeze (out, 1);
    while (evbuffer_get_length (out) > 0)
        if (evbuffer_write (out, bufferevent_getfd (a->bev)) <= 0)
            break;
    evbuffer_freeze (out, 1);
}

static void refuse (struct loomd_agent *a, const char *fmt, const char *arg)
{
    char why[512];
    snprintf (why, sizeof (why), fmt, arg);
    loom_warn ("loomd: agent at %s refused: %s", a->peer, why);
    send_msg (a, json_pack ("{s:s, s:s}", "op", "refused", "error", why));
    flush_now (a); /* say why before closing */
    agent_free (a, NULL);
}

/* Compare in constant time: how much of a guess is right must not show in timing. */
static int secret_ok (const char *have, const char *got)
{
    size_t lh = strlen (have), lg = strlen (got);
    unsigned char diff = (unsigned char)(lh != lg);
    for (size_t i = 0; i < lh; i++)
        diff |= (unsigned char)(have[i] ^ got[i < lg ? i : 0]);
    return diff == 0;
}

static void on_hello (struct loomd_agent *a, json_t *o)
{
    struct loomd *d = a->d;
    struct loomd_msg_hello h;
    char why[256];
    if (loomd_msg_hello (o, &h, why, sizeof (why)) < 0) {
        refuse (a, "%s", why);
        return;
    }
    if (!secret_ok (d->secret, h.secret)) {
        refuse (a, "%s",
                "wrong secret (the agent's secret file differs from "
                "the head's)");
        return;
    }
    int idx = find_node (d, h.node);
    struct loomd_node *x = node_ext (d, idx);
    if (idx >= 0 && (!x || x->local)) {
        refuse (a, "node name '%s' is the head's own node", h.node);
        return;
    }
    if (x && x->agent) {
        refuse (a, "node '%s' already has a connected agent", h.node);
        return;
    }
    if (idx >= 0 && d->core->nodes[idx]->ncores != h.ncores) {
        char m[128];
        snprintf (m, sizeof (m), "%zu cores, it had %u", h.ncores,
                  d->core->nodes[idx]->ncores);
        refuse (a, "node came back with %s", m);
        return;
    }
    struct loomd_node *nx = node_new (h.ncores);
    if (!nx) {
        refuse (a, "%s", "out of memory");
        return;
    }
    for (size_t i = 0; i < h.ncores; i++) {
        const char *pus = json_string_value (json_array_get (h.cores, i));
        if (hwloc_bitmap_list_sscanf (nx->core_pus[i], pus) < 0
            || hwloc_bitmap_iszero (nx->core_pus[i])) {
            node_ext_free (nx);
            refuse (a, "bad PU list '%s' in hello", pus);
            return;
        }
    }
    if (idx < 0) {
        idx = loom__core_add_node (d->core, h.node, (uint32_t)h.ncores, h.mem);
        if (idx < 0) {
            node_ext_free (nx);
            refuse (a, "cannot add node '%s'", h.node);
            return;
        }
    } else {
        node_ext_free (x);
    }
    d->core->nodes[idx]->ext = nx;
    nx->agent = a;
    a->node = idx;
    a->authed = 1;
    loom__core_node_set_up (d->core, (uint32_t)idx, 1);
    store_node (d, idx);
    loom_info ("loomd: node %s up: agent at %s, %zu cores, %llu MiB", h.node, a->peer,
               h.ncores, (unsigned long long)d->core->nodes[idx]->mem);
    send_msg (a, json_pack ("{s:s, s:f, s:f}", "op", "welcome", "heartbeat",
                            d->hb_timeout / 3, "timeout", d->hb_timeout));
    loomd_kick (d);
}

/* The task an agent reports on, if the head still runs that attempt there. */
static struct loom__task *current (struct loomd_agent *a,
                                   const struct loomd_msg_task *m)
{
    struct loom__job *j = loom__core_job (a->d->core, m->job);
    if (!j || m->pos >= j->ntasks)
        return NULL;
    struct loom__task *t = &j->tasks[m->pos];
    struct loomd_run *run = t->ext;
    if (t->state != LOOM__T_RUNNING || !run || run->agent != a
        || run->attempt != m->attempt)
        return NULL;
    return t;
}

static void on_exit_msg (struct loomd_agent *a, const struct loomd_msg_task *m)
{
    struct loom__task *t = current (a, m);
    if (!t)
        return; /* a stale attempt: it was lost and requeued already */
    loomd_run_free (t->ext);
    t->ext = NULL;
    loom__core_task_exited (a->d->core, t, m->value, m->n);
    loomd_kick (a->d);
}

static void on_frame (struct loomd_agent *a, const unsigned char *p, size_t len)
{
    char why[256];
    if (a->want_raw) {
        a->want_raw = 0;
        struct loom__task *t = current (a, &a->out);
        if (len != a->out.n) {
            agent_free (a, "output frame of the wrong size");
            return;
        }
        if (t && loomd_out_append (a->d, t->job, t->index, a->out.value, p, len) < 0)
            loom_warn ("loomd: task %llu.%lld: cannot write its log: %s",
                       (unsigned long long)t->job->id, (long long)t->index,
                       strerror (errno));
        return;
    }
    const char *op;
    json_t *o = loomd_wire_parse (p, len, &op, why, sizeof (why));
    if (!o) {
        agent_free (a, why);
        return;
    }
    struct loomd_msg_task m;
    if (!a->authed) {
        if (strcmp (op, "hello") == 0)
            on_hello (a, o);
        else
            agent_free (a, "no hello");
    } else if (strcmp (op, "hb") == 0) {
        ;
    } else if (strcmp (op, "out") == 0 || strcmp (op, "exit") == 0) {
        if (loomd_msg_task (o, op, &m, why, sizeof (why)) < 0) {
            agent_free (a, why);
        } else if (op[0] == 'o') {
            a->out = m;
            a->want_raw = 1;
        } else {
            on_exit_msg (a, &m);
        }
    } else {
        snprintf (why, sizeof (why), "unknown message '%.32s'", op);
        agent_free (a, why);
    }
    json_decref (o);
}

static void on_read (struct bufferevent *bev, void *arg)
{
    struct loomd_agent *a = arg;
    struct evbuffer *in = bufferevent_get_input (bev);
    struct loomd *d = a->d;
    /* Frames until the input runs dry or the agent is dropped (a is freed then). */
    for (;;) {
        size_t have = evbuffer_get_length (in), used, plen;
        const unsigned char *p;
        unsigned char hdr[4];
        if (evbuffer_copyout (in, hdr, 4) < 4)
            return;
        /* Before the hello, small frames only: a stranger cannot make us buffer
         * 16 MiB.
         */
        size_t max = a->authed ? LOOMD_WIRE_MAX : (1u << 20);
        size_t need = 4
                      + ((size_t)hdr[0] << 24 | (size_t)hdr[1] << 16
                         | (size_t)hdr[2] << 8 | hdr[3]);
        /* Not before the whole frame is here: pulling up a partial one is wasted. */
        if (need <= 4 + max && have < need)
            return;
        unsigned char *buf =
            evbuffer_pullup (in, (ssize_t)(need <= 4 + max ? need : 4));
        int r =
            loomd_wire_frame (buf, need <= 4 + max ? need : 4, max, &p, &plen, &used);
        if (r < 0) {
            agent_free (a, "oversized frame");
            return;
        }
        if (r == 0)
            return;
        a->last_rx = loom_clock_ns ();
        struct loomd_agent *still = NULL;
        on_frame (a, p, plen);
        for (struct loomd_agent *x = d->agents; x; x = x->next)
            if (x == a)
                still = a;
        if (!still)
            return;
        evbuffer_drain (in, used);
    }
}

static void on_event (struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & BEV_EVENT_EOF)
        agent_free (arg, "connection closed");
    else if (what & BEV_EVENT_ERROR)
        agent_free (arg, strerror (EVUTIL_SOCKET_ERROR ()));
}

/* Drop an agent; its node, if it had one, is down and its running tasks are lost. */
static void agent_free (struct loomd_agent *a, const char *why)
{
    struct loomd *d = a->d;
    for (struct loomd_agent **pp = &d->agents; *pp; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    }
    if (a->authed && a->node >= 0) {
        loom__core_t *c = d->core;
        struct loom__node *n = c->nodes[a->node];
        /* Forget the remote runs first: the core ends or requeues their tasks. */
        for (struct loom__task *t = c->running.next; t != &c->running; t = t->next) {
            struct loomd_run *run = t->ext;
            if (run && run->agent == a) {
                loomd_run_free (run);
                t->ext = NULL;
            } else if (run && run->ljob && !d->stopping
                       && loomd_span_uses_node (t, (uint32_t)a->node)) {
                /* A task spread over nodes (span.c) lost one of them: its mpirun
                 * would hang or fail on its own; end it now, as failed.
                 */
                loomd_joblog_printf (run->logfd, "node %s is down: killing the task",
                                     n->name);
                loom_launch_job_kill (run->ljob, SIGKILL);
            }
        }
        ((struct loomd_node *)n->ext)->agent = NULL;
        if (d->stopping) {
            loom_info ("loomd: node %s: agent disconnected", n->name);
        } else {
            loom_warn ("loomd: node %s down: %s", n->name, why ? why : "dropped");
            loom__core_node_set_up (c, (uint32_t)a->node, 0);
            store_node (d, a->node);
        }
        loomd_kick (d);
    } else if (why) {
        loom_warn ("loomd: agent at %s dropped: %s", a->peer, why);
    }
    bufferevent_free (a->bev);
    free (a);
}

static void on_accept (evutil_socket_t lfd, short ev, void *arg)
{
    struct loomd *d = arg;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof (ss);
    (void)ev;
    int fd = accept4 (lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof (one));
    struct loomd_agent *a = calloc (1, sizeof (*a));
    if (!a || !(a->bev = bufferevent_socket_new (d->base, fd, BEV_OPT_CLOSE_ON_FREE))) {
        close (fd);
        free (a);
        return;
    }
    char host[64] = "?", port[16] = "?";
    getnameinfo ((struct sockaddr *)&ss, sl, host, sizeof (host), port, sizeof (port),
                 NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf (a->peer, sizeof (a->peer), "%s:%s", host, port);
    a->d = d;
    a->node = -1;
    a->last_rx = a->since = loom_clock_ns ();
    a->next = d->agents;
    d->agents = a;
    bufferevent_setcb (a->bev, on_read, NULL, on_event, a);
    bufferevent_enable (a->bev, EV_READ | EV_WRITE);
}

/* Heartbeats out, and silent agents dropped. */
static void on_hb_timer (evutil_socket_t fd, short ev, void *arg)
{
    struct loomd *d = arg;
    (void)fd;
    (void)ev;
    uint64_t now = loom_clock_ns (), limit = (uint64_t)(d->hb_timeout * 1e9);
    struct loomd_agent *a = d->agents;
    while (a) {
        struct loomd_agent *next = a->next;
        if (now - a->last_rx > limit) {
            char why[96];
            snprintf (why, sizeof (why), "no heartbeat for %.1f s",
                      (double)(now - a->last_rx) / 1e9);
            agent_free (a, why);
        } else if (a->authed) {
            send_msg (a, json_pack ("{s:s}", "op", "hb"));
        }
        a = next;
    }
}

/* For a wildcard listen address, what agents should dial: this host's first
 * non-loopback IPv4 address (a name may not resolve on other nodes), else its name.
 */
static void own_address (char *host, size_t len)
{
    struct ifaddrs *ifs = NULL;
    snprintf (host, len, "localhost");
    gethostname (host, len - 1);
    if (getifaddrs (&ifs) < 0)
        return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET
            || (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
            continue;
        getnameinfo (i->ifa_addr, sizeof (struct sockaddr_in), host, (socklen_t)len,
                     NULL, 0, NI_NUMERICHOST);
        break;
    }
    freeifaddrs (ifs);
}

int loomd_agents_listen (struct loomd *d, const char *addr, loom_error_t *error)
{
    char host[256];
    const char *colon = strrchr (addr, ':');
    if (!colon || colon - addr >= (long)sizeof (host) || !colon[1])
        return loom_errset (error, EINVAL, "bad --listen '%s' (say ADDR:PORT)", addr);
    memcpy (host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *res = NULL;
    int rc = getaddrinfo (*host && strcmp (host, "*") ? host : NULL, colon + 1, &hints,
                          &res);
    if (rc != 0)
        return loom_errset (error, EINVAL, "bad --listen '%s': %s", addr,
                            gai_strerror (rc));
    d->tcpfd = socket (res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (d->tcpfd >= 0)
        setsockopt (d->tcpfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one));
    if (d->tcpfd < 0 || bind (d->tcpfd, res->ai_addr, res->ai_addrlen) < 0
        || listen (d->tcpfd, 128) < 0) {
        int e = errno;
        freeaddrinfo (res);
        return loom_errset (error, e, "cannot listen on %s: %s", addr, strerror (e));
    }
    freeaddrinfo (res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof (ss);
    char port[16] = "0", where[300];
    getsockname (d->tcpfd, (struct sockaddr *)&ss, &sl);
    getnameinfo ((struct sockaddr *)&ss, sl, NULL, 0, port, sizeof (port),
                 NI_NUMERICSERV);
    if (!*host || strcmp (host, "*") == 0 || strcmp (host, "0.0.0.0") == 0)
        own_address (host, sizeof (host));
    snprintf (where, sizeof (where), "%s:%s", host, port);
    snprintf (d->listen_where, sizeof (d->listen_where), "%s", where);
    /* Where agents find the head, and the secret they must show. */
    char path[4096];
    snprintf (path, sizeof (path), "%s/agent.secret", d->dir);
    if (!(d->secret = loomd_secret_load (path, 1, error)))
        return -1;
    snprintf (path, sizeof (path), "%s/loomd.addr", d->dir);
    FILE *f = fopen (path, "we");
    if (!f || fprintf (f, "%s\n", where) < 0 || fclose (f) != 0)
        return loom_errset (error, errno, "cannot write %s: %s", path,
                            strerror (errno));
    d->tcp_ev = event_new (d->base, d->tcpfd, EV_READ | EV_PERSIST, on_accept, d);
    d->hb_timer = event_new (d->base, -1, EV_PERSIST, on_hb_timer, d);
    double iv = d->hb_timeout / 3;
    struct timeval tv = {(time_t)iv, (suseconds_t)((iv - (double)(time_t)iv) * 1e6)};
    if (!d->tcp_ev || !d->hb_timer || event_add (d->tcp_ev, NULL) < 0
        || event_add (d->hb_timer, &tv) < 0)
        return loom_errset (error, ENOMEM, "cannot watch %s", where);
    loom_info ("loomd: agents connect to %s (heartbeat timeout %g s)", where,
               d->hb_timeout);
    return 0;
}

int loomd_agents_start (struct loomd *d, struct loom__task *t)
{
    const struct loom__alloc_part *p = &t->alloc->parts[0];
    struct loomd_node *x = loomd_node_of (d, p->node);
    struct loom__job *j = t->job;
    struct loomd_job *jx = j->ext;
    struct loomd_run *run = calloc (1, sizeof (*run));
    json_t *cores = json_array ();
    if (!x || !x->agent || !run || !cores) {
        free (run);
        json_decref (cores);
        errno = x && !x->agent ? EHOSTDOWN : ENOMEM;
        return -1;
    }
    for (unsigned i = 0; i < x->ncores; i++)
        if (p->mask[i / 64] >> (i % 64) & 1)
            json_array_append_new (cores, json_integer (i));
    json_t *argv = json_array (), *env = json_array ();
    for (size_t i = 0; jx->argv[i]; i++)
        json_array_append_new (argv, json_string (jx->argv[i]));
    for (size_t i = 0; jx->env && jx->env[i]; i++)
        json_array_append_new (env, json_string (jx->env[i]));
    json_t *o = json_pack (
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:o, s:o, s:b, s:I, s:I, s:o, s:f}",
        "op", "run", "job", (json_int_t)j->id, "pos", (json_int_t)t->pos, "index",
        (json_int_t)t->index, "attempt", (json_int_t)t->attempt, "uid",
        (json_int_t)j->uid, "gid", (json_int_t)j->gid, "user", jx->user ? jx->user : "",
        "argv", argv, "env", env, "mpi", jx->mpi, "nslots", (json_int_t)j->nslots,
        "cps", (json_int_t)j->cores_per_slot, "cores", cores, "grace",
        (double)d->kill_grace_ns / 1e9);
    if (o && jx->cwd)
        json_object_set_new (o, "cwd", json_string (jx->cwd));
    if (!o) {
        free (run);
        errno = ENOMEM;
        return -1;
    }
    run->d = d;
    run->t = t;
    run->agent = x->agent;
    run->attempt = t->attempt;
    t->ext = run;
    send_msg (x->agent, o);
    return 0;
}

void loomd_agents_kill (struct loomd *d, struct loom__task *t, int sig)
{
    struct loomd_run *run = t->ext;
    (void)d;
    send_msg (run->agent,
              json_pack ("{s:s, s:I, s:I, s:I, s:i}", "op", "kill", "job",
                         (json_int_t)t->job->id, "pos", (json_int_t)t->pos, "attempt",
                         (json_int_t)run->attempt, "value", sig));
}

/* The known nodes of agents come back down (restart), until their agents return. */
static int restore_one (void *arg,
                        const char *name,
                        uint32_t ncores,
                        uint64_t mem,
                        const char *cores,
                        const char *state)
{
    struct loomd *d = arg;
    (void)state;
    if (find_node (d, name) >= 0 || ncores == 0)
        return 0;
    struct loomd_node *x = node_new (ncores);
    if (!x)
        return -1;
    const char *p = cores;
    for (uint32_t i = 0; i < ncores && p; i++) {
        char one[256];
        size_t l = strcspn (p, ";");
        snprintf (one, sizeof (one), "%.*s", (int)(l < 255 ? l : 255), p);
        hwloc_bitmap_list_sscanf (x->core_pus[i], one);
        p = p[l] ? p + l + 1 : NULL;
    }
    int idx = loom__core_add_node (d->core, name, ncores, mem);
    if (idx < 0) {
        node_ext_free (x);
        return -1;
    }
    d->core->nodes[idx]->ext = x;
    loom__core_node_set_up (d->core, (uint32_t)idx, 0);
    store_node (d, idx);
    return 0;
}

int loomd_agents_restore (struct loomd *d)
{
    return loomd_store_nodes_each (d->store, restore_one, d);
}

void loomd_agents_close (struct loomd *d)
{
    /* Tell agents the head is going away on purpose: they stop instead of
     * waiting to reconnect.
     */
    while (d->agents) {
        struct loomd_agent *a = d->agents;
        if (a->authed) {
            send_msg (a, json_pack ("{s:s}", "op", "bye"));
            flush_now (a);
        }
        agent_free (a, NULL);
    }
    if (d->core)
        for (uint32_t i = 0; i < d->core->nnodes; i++)
            node_ext_free (d->core->nodes[i]->ext);
    if (d->tcp_ev)
        event_free (d->tcp_ev);
    if (d->hb_timer)
        event_free (d->hb_timer);
    if (d->tcp_ev)
        close (d->tcpfd);
    free (d->secret);
}
