/* SPDX-License-Identifier: MIT */
/* loomd's Unix socket: accepting clients (identified by SO_PEERCRED), reading framed
 * JSON requests, replying, holding 'wait' requests until their jobs end, and pushing
 * offers and task status to registered frameworks.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <loom/error.h>
#include <loom/log.h>

#include "../proto.h"
#include "loomd.h"

static void conn_free (struct loomd_conn *c);

static void send_json (struct loomd_conn *c, json_t *o)
{
    char *s = json_dumps (o, JSON_COMPACT);
    json_decref (o);
    if (!s)
        return;
    size_t len = strlen (s);
    unsigned char hdr[4] = {(unsigned char)(len >> 24), (unsigned char)(len >> 16),
                            (unsigned char)(len >> 8), (unsigned char)len};
    bufferevent_write (c->bev, hdr, 4);
    bufferevent_write (c->bev, s, len);
    free (s);
}

/* A reply that carries a descriptor goes out with sendmsg, after what is queued. */
static void send_json_fd (struct loomd_conn *c, json_t *o, int fd)
{
    struct evbuffer *out = bufferevent_get_output (c->bev);
    int sock = bufferevent_getfd (c->bev);
    while (evbuffer_get_length (out) > 0)
        if (evbuffer_write (out, sock) < 0 && errno != EAGAIN && errno != EINTR)
            break;
    char *s = json_dumps (o, JSON_COMPACT);
    json_decref (o);
    if (s) {
        int fl = fcntl (sock, F_GETFL);
        fcntl (sock, F_SETFL, fl & ~O_NONBLOCK);
        loom__frame_write (sock, s, strlen (s), fd);
        fcntl (sock, F_SETFL, fl);
    }
    free (s);
}

/* Is every job of c's wait request over? Fills the reply when it is. */
static json_t *wait_check (struct loomd *d, struct loomd_conn *c)
{
    json_t *jobs = json_array ();
    for (size_t i = 0; i < c->nwait; i++) {
        struct loom__job *j = loom__core_job (d->core, c->waitjobs[i]);
        if (j && !j->ended) {
            json_decref (jobs);
            return NULL;
        }
        if (j)
            json_array_append_new (jobs, loomd_job_json (d, j, 0));
    }
    return json_pack ("{s:b, s:o}", "ok", 1, "jobs", jobs);
}

static json_t *req_wait (struct loomd *d, struct loomd_conn *c, json_t *req)
{
    json_t *ids = json_object_get (req, "jobs"), *id;
    size_t i, n = json_array_size (ids);
    free (c->waitjobs);
    c->waitjobs = NULL;
    c->nwait = 0;
    if (n == 0) { /* all of the caller's unfinished jobs */
        for (uint64_t k = 1; k < d->core->next_id; k++) {
            struct loom__job *j = loom__core_job (d->core, k);
            if (j && !j->ended && j->uid == c->uid && j->fw == d->batch)
                n++;
        }
        c->waitjobs = calloc (n ? n : 1, sizeof (uint64_t));
        for (uint64_t k = 1; c->waitjobs && k < d->core->next_id; k++) {
            struct loom__job *j = loom__core_job (d->core, k);
            if (j && !j->ended && j->uid == c->uid && j->fw == d->batch)
                c->waitjobs[c->nwait++] = k;
        }
    } else {
        c->waitjobs = calloc (n, sizeof (uint64_t));
        json_array_foreach (ids, i, id)
        {
            uint64_t jid = (uint64_t)json_integer_value (id);
            if (!loom__core_job (d->core, jid)) {
                free (c->waitjobs);
                c->waitjobs = NULL;
                return loomd_error (ENOENT, "unknown job %lld", (long long)jid);
            }
            if (c->waitjobs)
                c->waitjobs[c->nwait++] = jid;
        }
    }
    if (!c->waitjobs)
        return loomd_error (ENOMEM, "out of memory");
    json_t *r = wait_check (d, c);
    if (!r)
        c->waiting = 1; /* answered by loomd_job_ended() */
    return r;
}

static json_t *req_register (struct loomd *d, struct loomd_conn *c, json_t *req)
{
    const char *name = json_string_value (json_object_get (req, "name"));
    const char *role = json_string_value (json_object_get (req, "role"));
    double w = json_number_value (json_object_get (req, "weight"));
    if (c->fw)
        return loomd_error (EINVAL, "already registered as '%s'", c->fw->name);
    if (!name || !*name || strcmp (name, d->batch->name) == 0)
        return loomd_error (EINVAL, "bad framework name '%s'", name ? name : "");
    struct loom__fw *fw =
        loom__core_fw_add (d->core, name, LOOM__FW_OFFER, w > 0 ? w : 1.0, c->uid);
    if (!fw)
        return loomd_error (errno,
                            errno == EEXIST ? "framework '%s' is already registered"
                                            : "cannot register framework '%s'",
                            name);
    json_decref (fw->ext);
    json_t *env = json_object_get (req, "env");
    fw->ext = json_is_array (env) ? json_incref (env) : NULL;
    c->fw = fw;
    loomd_store_framework (d->store, name, role ? role : name, fw->weight);
    loom_info ("loomd: framework '%s' registered (uid %u, weight %g)", name,
               (unsigned)c->uid, fw->weight);
    loomd_kick (d);
    return json_pack ("{s:b, s:i}", "ok", 1, "framework", (int)fw->id);
}

static json_t *req_decline (struct loomd *d, struct loomd_conn *c, json_t *req)
{
    uint64_t oid = (uint64_t)json_integer_value (json_object_get (req, "offer"));
    double filter = json_number_value (json_object_get (req, "filter"));
    struct loom__offer *o = loom__core_offer (d->core, oid);
    if (!c->fw || !o || o->fw != c->fw)
        return loomd_error (ENOENT, "no offer %llu for this framework",
                            (unsigned long long)oid);
    loom__core_offer_decline (d->core, oid, filter > 0 ? (uint64_t)(filter * 1e9) : 0);
    loomd_kick (d);
    return json_pack ("{s:b}", "ok", 1);
}

static json_t *req_shutdown (struct loomd *d, struct loomd_conn *c)
{
    if (c->uid != 0 && c->uid != d->uid)
        return loomd_error (EPERM, "only root or the user running loomd may stop it");
    d->stopping = 1;
    /* Leave the loop shortly, once this reply has gone out. */
    struct timeval tv = {0, 20000};
    event_base_loopexit (d->base, &tv);
    return json_pack ("{s:b, s:i}", "ok", 1, "pid", (int)getpid ());
}

static void handle (struct loomd_conn *c, const char *text)
{
    struct loomd *d = c->d;
    json_t *req = json_loads (text, 0, NULL), *reply = NULL;
    int fd = -1;
    const char *op = json_string_value (json_object_get (req, "op"));
    if (!req || !json_is_object (req) || !op)
        reply = loomd_error (EINVAL, "malformed request");
    else if (strcmp (op, "submit") == 0)
        reply = loomd_req_submit (d, c, req);
    else if (strcmp (op, "ps") == 0)
        reply = loomd_req_ps (d, c, req);
    else if (strcmp (op, "cancel") == 0)
        reply = loomd_req_cancel (d, c, req);
    else if (strcmp (op, "wait") == 0)
        reply = req_wait (d, c, req);
    else if (strcmp (op, "logs") == 0)
        reply = loomd_req_logs (d, c, req, &fd);
    else if (strcmp (op, "shares") == 0)
        reply = loomd_req_shares (d, c, req);
    else if (strcmp (op, "nodes") == 0)
        reply = loomd_req_nodes (d, c, req);
    else if (strcmp (op, "top") == 0)
        reply = loomd_req_top (d, c, req);
    else if (strcmp (op, "register") == 0)
        reply = req_register (d, c, req);
    else if (strcmp (op, "accept") == 0)
        reply = loomd_req_accept (d, c, req);
    else if (strcmp (op, "decline") == 0)
        reply = req_decline (d, c, req);
    else if (strcmp (op, "shutdown") == 0)
        reply = req_shutdown (d, c);
    else if (strcmp (op, "ping") == 0)
        reply = json_pack ("{s:b, s:i}", "ok", 1, "pid", (int)getpid ());
    else
        reply = loomd_error (EINVAL, "unknown request '%s'", op);
    json_decref (req);
    /* The scheduling pass first, then the commit: a reply is never ahead of the disk.
     */
    loom__core_schedule (d->core);
    if (loomd_store_commit (d->store) < 0)
        loom_warn ("loomd: commit failed");
    if (!reply)
        return; /* a wait that is not over yet */
    if (fd >= 0) {
        send_json_fd (c, reply, fd);
        close (fd);
    } else {
        send_json (c, reply);
    }
}

static void on_read (struct bufferevent *bev, void *arg)
{
    struct loomd_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input (bev);
    for (;;) {
        unsigned char hdr[4];
        if (evbuffer_copyout (in, hdr, 4) < 4)
            return;
        uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16
                       | (uint32_t)hdr[2] << 8 | hdr[3];
        if (len > LOOM__FRAME_MAX) {
            conn_free (c);
            return;
        }
        if (evbuffer_get_length (in) < 4 + (size_t)len)
            return;
        evbuffer_drain (in, 4);
        char *text = malloc (len + 1);
        if (!text) {
            conn_free (c);
            return;
        }
        evbuffer_remove (in, text, len);
        text[len] = '\0';
        handle (c, text);
        free (text);
    }
}

static void on_event (struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        conn_free (arg);
}

static void conn_free (struct loomd_conn *c)
{
    struct loomd *d = c->d;
    if (c->fw) {
        /* The framework is gone: no more status for it; its tasks are killed. */
        for (uint64_t k = 1; k < d->core->next_id; k++) {
            struct loom__job *j = loom__core_job (d->core, k);
            if (j && j->fw == c->fw && j->ext)
                ((struct loomd_job *)j->ext)->fwconn = NULL;
        }
        loom_info ("loomd: framework '%s' went away", c->fw->name);
        loom__core_fw_remove (d->core, c->fw);
        loomd_kick (d);
    }
    c->prev->next = c->next;
    c->next->prev = c->prev;
    bufferevent_free (c->bev);
    free (c->waitjobs);
    free (c);
}

void loomd_conns_close (struct loomd *d)
{
    while (d->conns.next != &d->conns)
        conn_free (d->conns.next);
}

static void on_accept (evutil_socket_t lfd, short ev, void *arg)
{
    struct loomd *d = arg;
    (void)ev;
    int fd = accept4 (lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct ucred cred;
    socklen_t len = sizeof (cred);
    if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        close (fd);
        return;
    }
    struct loomd_conn *c = calloc (1, sizeof (*c));
    if (!c) {
        close (fd);
        return;
    }
    c->d = d;
    c->uid = cred.uid;
    c->gid = cred.gid;
    c->pid = cred.pid;
    c->bev = bufferevent_socket_new (d->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        close (fd);
        free (c);
        return;
    }
    bufferevent_setcb (c->bev, on_read, NULL, on_event, c);
    bufferevent_enable (c->bev, EV_READ | EV_WRITE);
    c->next = &d->conns;
    c->prev = d->conns.prev;
    d->conns.prev->next = c;
    d->conns.prev = c;
}

int loomd_listen (struct loomd *d, loom_error_t *error)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (snprintf (sa.sun_path, sizeof (sa.sun_path), "%s/%s", d->dir, LOOM__SOCK_NAME)
        >= (int)sizeof (sa.sun_path))
        return loom_errset (error, ENAMETOOLONG, "state directory path too long: %s",
                            d->dir);
    unlink (sa.sun_path); /* a stale socket: the lock says no loomd owns it */
    d->listenfd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->listenfd < 0)
        return loom_errset (error, errno, "socket: %s", strerror (errno));
    mode_t old = umask (0177);
    int rc = bind (d->listenfd, (struct sockaddr *)&sa, sizeof (sa));
    umask (old);
    if (rc < 0 || listen (d->listenfd, 128) < 0)
        return loom_errset (error, errno, "%s: %s", sa.sun_path, strerror (errno));
    /* Owner only (0600), or the owner and one group (0660): never world-writable. */
    if (d->sock_gid != (gid_t)-1
        && (chown (sa.sun_path, (uid_t)-1, d->sock_gid) < 0
            || chmod (sa.sun_path, 0660) < 0))
        return loom_errset (error, errno, "%s: %s", sa.sun_path, strerror (errno));
    d->listen_ev = event_new (d->base, d->listenfd, EV_READ | EV_PERSIST, on_accept, d);
    if (!d->listen_ev || event_add (d->listen_ev, NULL) < 0)
        return loom_errset (error, ENOMEM, "cannot watch the socket");
    return 0;
}

void loomd_job_ended (struct loomd *d, struct loom__job *j)
{
    for (struct loomd_conn *c = d->conns.next; c != &d->conns; c = c->next) {
        if (!c->waiting)
            continue;
        int mine = 0;
        for (size_t i = 0; i < c->nwait && !mine; i++)
            mine = c->waitjobs[i] == j->id;
        if (!mine)
            continue;
        json_t *r = wait_check (d, c);
        if (r) {
            c->waiting = 0;
            loomd_store_commit (d->store);
            send_json (c, r);
        }
    }
}

void loomd_task_event (struct loomd *d, struct loom__task *t)
{
    struct loomd_job *x = t->job->ext;
    if (!x || !x->fwconn)
        return;
    int ws = t->wstatus, fin = LOOM__T_FINAL (t->state);
    double run =
        t->end_ns > t->start_ns ? (double)(t->end_ns - t->start_ns) / 1e9 : 0.0;
    (void)d;
    send_json (x->fwconn,
               json_pack ("{s:s, s:I, s:s, s:i, s:i, s:f}", "event", "status", "task",
                          (json_int_t)t->job->id, "state", loom__tstate_name (t->state),
                          "exit_code", fin && WIFEXITED (ws) ? WEXITSTATUS (ws) : -1,
                          "signal", fin && WIFSIGNALED (ws) ? WTERMSIG (ws) : 0,
                          "run_sec", fin ? run : 0.0));
}

void loomd_offer_event (struct loomd *d, struct loom__offer *o, int rescind)
{
    for (struct loomd_conn *c = d->conns.next; c != &d->conns; c = c->next) {
        if (c->fw != o->fw)
            continue;
        if (rescind) {
            send_json (c, json_pack ("{s:s, s:I}", "event", "rescind", "id",
                                     (json_int_t)o->id));
            return;
        }
        hwloc_bitmap_t set = hwloc_bitmap_alloc ();
        json_t *cores = json_array ();
        struct loomd_node *x = loomd_node_of (d, o->node);
        for (unsigned k = 0; x && k < x->ncores && set; k++) {
            if (!(o->mask[k / 64] >> (k % 64) & 1))
                continue;
            hwloc_bitmap_or (set, set, x->core_pus[k]);
            char *one = NULL;
            hwloc_bitmap_list_asprintf (&one, x->core_pus[k]);
            json_array_append_new (cores, json_string (one ? one : ""));
            free (one);
        }
        char *pus = NULL;
        hwloc_bitmap_list_asprintf (&pus, set);
        hwloc_bitmap_free (set);
        send_json (c, json_pack ("{s:s, s:I, s:s, s:s, s:o, s:i, s:I}", "event",
                                 "offer", "id", (json_int_t)o->id, "node",
                                 d->core->nodes[o->node]->name, "cpuset",
                                 pus ? pus : "", "cores", cores, "ncores",
                                 (int)o->ncores, "mem", (json_int_t)o->mem));
        free (pus);
        return;
    }
}
