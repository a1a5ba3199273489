/* SPDX-License-Identifier: MIT */
/* Client side of loomd's socket: requests and the framework API (loom/sched.h). */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <loom/error.h>
#include <loom/sched.h>

extern char **environ;

#include "proto.h"

struct loom_sched {
    int fd;
    char dir[PATH_MAX];
    char **queued; /* events read while waiting for a reply */
    size_t nqueued, capqueued;
};

struct loom_sched_framework {
    loom_sched_t *h;
    struct loom_sched_framework_params p;
    char *name;
};

char *loom_sched_default_dir (char *buf, size_t len)
{
    const char *d = getenv ("LOOM_STATE_DIR");
    int n;
    if (d && *d) {
        n = snprintf (buf, len, "%s", d);
    } else {
        const char *home = getenv ("HOME");
        if (!home || !*home) {
            errno = ENOENT;
            return NULL;
        }
        n = snprintf (buf, len, "%s/.loom/sched", home);
    }
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    return buf;
}

loom_sched_t *loom_sched_connect (const char *state_dir, loom_error_t *error)
{
    loom_sched_t *h = calloc (1, sizeof (*h));
    if (!h) {
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    h->fd = -1;
    if (state_dir)
        snprintf (h->dir, sizeof (h->dir), "%s", state_dir);
    else if (!loom_sched_default_dir (h->dir, sizeof (h->dir))) {
        loom_errset (error, errno, "no state directory: set LOOM_STATE_DIR or HOME");
        goto error;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (snprintf (sa.sun_path, sizeof (sa.sun_path), "%s/%s", h->dir, LOOM__SOCK_NAME)
        >= (int)sizeof (sa.sun_path)) {
        loom_errset (error, ENAMETOOLONG, "state directory path too long: %s", h->dir);
        goto error;
    }
    h->fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (h->fd < 0) {
        loom_errset (error, errno, "socket: %s", strerror (errno));
        goto error;
    }
    if (connect (h->fd, (struct sockaddr *)&sa, sizeof (sa)) < 0) {
        int e = errno;
        if (e == ENOENT || e == ECONNREFUSED)
            loom_errset (error, e,
                         "loomd is not running (no daemon at %s; start it with 'loom "
                         "sched start')",
                         sa.sun_path);
        else
            loom_errset (error, e, "cannot connect to loomd at %s: %s", sa.sun_path,
                         strerror (e));
        goto error;
    }
    return h;
error:
    loom_sched_close (h);
    return NULL;
}

void loom_sched_close (loom_sched_t *h)
{
    if (!h)
        return;
    int saved = errno;
    if (h->fd >= 0)
        close (h->fd);
    for (size_t i = 0; i < h->nqueued; i++)
        free (h->queued[i]);
    free (h->queued);
    free (h);
    errno = saved;
}

static int queue_event (loom_sched_t *h, char *msg)
{
    if (h->nqueued == h->capqueued) {
        size_t cap = h->capqueued ? 2 * h->capqueued : 8;
        char **q = realloc (h->queued, cap * sizeof (*q));
        if (!q)
            return -1;
        h->queued = q;
        h->capqueued = cap;
    }
    h->queued[h->nqueued++] = msg;
    return 0;
}

/* Is this frame an event (pushed) rather than a reply? */
static int is_event (const char *msg)
{
    return strncmp (msg, "{\"event\"", 8) == 0;
}

char *
loom_sched_rpc (loom_sched_t *h, const char *request, int *fd, loom_error_t *error)
{
    if (fd)
        *fd = -1;
    if (!h || !request) {
        loom_errset (error, EINVAL, "no connection or request");
        return NULL;
    }
    if (loom__frame_write (h->fd, request, strlen (request), -1) < 0) {
        loom_errset (error, errno, "lost connection to loomd: %s", strerror (errno));
        return NULL;
    }
    for (;;) {
        int got = -1;
        char *msg = loom__frame_read (h->fd, -1, &got);
        if (!msg) {
            int e = errno;
            loom_errset (error, e == EPIPE ? EPIPE : e, "lost connection to loomd%s%s",
                         e == EPIPE ? "" : ": ", e == EPIPE ? "" : strerror (e));
            return NULL;
        }
        if (is_event (msg)) {
            if (got >= 0)
                close (got);
            if (queue_event (h, msg) < 0)
                free (msg);
            continue;
        }
        json_error_t jerr;
        json_t *o = json_loads (msg, 0, &jerr);
        if (!o || !json_is_object (o)) {
            json_decref (o);
            free (msg);
            if (got >= 0)
                close (got);
            loom_errset (error, EPROTO, "loomd sent a malformed reply");
            return NULL;
        }
        if (!json_is_true (json_object_get (o, "ok"))) {
            const char *text = json_string_value (json_object_get (o, "error"));
            int e = (int)json_integer_value (json_object_get (o, "errno"));
            loom_errset (error, e > 0 ? e : EINVAL, "%s",
                         text ? text : "request refused");
            json_decref (o);
            free (msg);
            if (got >= 0)
                close (got);
            return NULL;
        }
        json_decref (o);
        if (fd)
            *fd = got;
        else if (got >= 0)
            close (got);
        return msg;
    }
}

/* Frameworks ------------------------------------------------------------------ */

static json_t *rpc_json (loom_sched_t *h, json_t *req, loom_error_t *error)
{
    char *s = json_dumps (req, JSON_COMPACT);
    json_decref (req);
    if (!s) {
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    char *r = loom_sched_rpc (h, s, NULL, error);
    free (s);
    if (!r)
        return NULL;
    json_t *o = json_loads (r, 0, NULL);
    free (r);
    if (!o)
        loom_errset (error, EPROTO, "loomd sent a malformed reply");
    return o;
}

loom_sched_framework_t *
loom_sched_framework_register (loom_sched_t *h,
                               const struct loom_sched_framework_params *params,
                               loom_error_t *error)
{
    if (!h || !params || !params->name || !*params->name || !params->offer
        || params->weight < 0) {
        loom_errset (error, EINVAL,
                     "framework needs a connection, a name and an offer "
                     "callback");
        return NULL;
    }
    double w = params->weight > 0 ? params->weight : 1.0;
    json_t *req =
        json_pack ("{s:s, s:s, s:s, s:f}", "op", "register", "name", params->name,
                   "role", params->role ? params->role : params->name, "weight", w);
    /* The framework's tasks run with its environment, as `loom submit` does. */
    json_t *env = json_array ();
    for (char **e = environ; e && *e; e++)
        json_array_append_new (env, json_string (*e));
    json_object_set_new (req, "env", env);
    json_t *r = rpc_json (h, req, error);
    if (!r)
        return NULL;
    json_decref (r);
    loom_sched_framework_t *fw = calloc (1, sizeof (*fw));
    if (!fw) {
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    fw->h = h;
    fw->p = *params;
    return fw;
}

void loom_sched_framework_destroy (loom_sched_framework_t *fw)
{
    if (!fw)
        return;
    int saved = errno;
    loom_sched_close (fw->h); /* loomd unregisters a framework whose socket closes */
    free (fw);
    errno = saved;
}

int loom_sched_framework_fd (loom_sched_framework_t *fw)
{
    return fw ? fw->h->fd : -1;
}

static void dispatch (loom_sched_framework_t *fw, const char *msg)
{
    json_t *o = json_loads (msg, 0, NULL);
    if (!o)
        return;
    const char *ev = json_string_value (json_object_get (o, "event"));
    if (ev && strcmp (ev, "offer") == 0) {
        hwloc_bitmap_t set = hwloc_bitmap_alloc ();
        const char *cpus = json_string_value (json_object_get (o, "cpuset"));
        json_t *cl = json_object_get (o, "cores");
        size_t nc = json_array_size (cl);
        hwloc_bitmap_t *cores = calloc (nc ? nc : 1, sizeof (*cores));
        int ok = set && cores && cpus && hwloc_bitmap_list_sscanf (set, cpus) == 0;
        for (size_t i = 0; ok && i < nc; i++) {
            const char *one = json_string_value (json_array_get (cl, i));
            ok = (cores[i] = hwloc_bitmap_alloc ()) && one
                 && hwloc_bitmap_list_sscanf (cores[i], one) == 0;
        }
        if (ok) {
            struct loom_sched_offer off = {
                .id = (uint64_t)json_integer_value (json_object_get (o, "id")),
                .node = json_string_value (json_object_get (o, "node")),
                .cpuset = set,
                .ncores = (unsigned)nc,
                .cores = (hwloc_const_cpuset_t *)cores,
                .mem_mib = (uint64_t)json_integer_value (json_object_get (o, "mem")),
            };
            fw->p.offer (fw, &off, fw->p.arg);
        }
        for (size_t i = 0; cores && i < nc; i++)
            hwloc_bitmap_free (cores[i]);
        free (cores);
        hwloc_bitmap_free (set);
    } else if (ev && strcmp (ev, "status") == 0 && fw->p.status) {
        struct loom_sched_task_status st = {
            .task = (uint64_t)json_integer_value (json_object_get (o, "task")),
            .state = json_string_value (json_object_get (o, "state")),
            .exit_code = (int)json_integer_value (json_object_get (o, "exit_code")),
            .signal = (int)json_integer_value (json_object_get (o, "signal")),
            .run_sec = json_real_value (json_object_get (o, "run_sec")),
        };
        if (st.state)
            fw->p.status (fw, &st, fw->p.arg);
    } else if (ev && strcmp (ev, "rescind") == 0 && fw->p.rescind) {
        fw->p.rescind (fw, (uint64_t)json_integer_value (json_object_get (o, "id")),
                       fw->p.arg);
    }
    json_decref (o);
}

int loom_sched_framework_progress (loom_sched_framework_t *fw,
                                   int timeout_ms,
                                   loom_error_t *error)
{
    if (!fw) {
        errno = EINVAL;
        return -1;
    }
    loom_sched_t *h = fw->h;
    int n = 0;
    if (h->nqueued == 0) {
        int got = -1;
        char *msg = loom__frame_read (h->fd, timeout_ms, &got);
        if (got >= 0)
            close (got);
        if (!msg) {
            if (errno == ETIMEDOUT)
                return 0;
            return loom_errset (error, errno, "lost connection to loomd");
        }
        if (queue_event (h, msg) < 0) {
            free (msg);
            return loom_errset (error, ENOMEM, "out of memory");
        }
    }
    /* Callbacks may make requests, which may queue more events: take them in order. */
    while (h->nqueued > 0) {
        char *msg = h->queued[0];
        memmove (h->queued, h->queued + 1, (h->nqueued - 1) * sizeof (*h->queued));
        h->nqueued--;
        dispatch (fw, msg);
        free (msg);
        n++;
    }
    return n;
}

int loom_sched_offer_accept (loom_sched_framework_t *fw,
                             uint64_t offer_id,
                             const struct loom_sched_task *tasks,
                             size_t n,
                             uint64_t *ids,
                             loom_error_t *error)
{
    if (!fw || (n && !tasks))
        return loom_errset (error, EINVAL, "no framework or tasks");
    json_t *arr = json_array ();
    for (size_t i = 0; i < n; i++) {
        char *cpus = NULL;
        if (!tasks[i].cpuset || !tasks[i].argv || !tasks[i].argv[0]
            || hwloc_bitmap_list_asprintf (&cpus, tasks[i].cpuset) < 0) {
            json_decref (arr);
            return loom_errset (error, EINVAL, "task %zu: needs a cpuset and argv", i);
        }
        json_t *argv = json_array ();
        for (char *const *a = tasks[i].argv; *a; a++)
            json_array_append_new (argv, json_string (*a));
        json_array_append_new (arr,
                               json_pack ("{s:s, s:I, s:o, s:f}", "cpuset", cpus, "mem",
                                          (json_int_t)tasks[i].mem_mib, "argv", argv,
                                          "time", tasks[i].time_limit_sec));
        free (cpus);
    }
    json_t *r = rpc_json (fw->h,
                          json_pack ("{s:s, s:I, s:o}", "op", "accept", "offer",
                                     (json_int_t)offer_id, "tasks", arr),
                          error);
    if (!r)
        return -1;
    json_t *got = json_object_get (r, "tasks");
    for (size_t i = 0; ids && i < n; i++)
        ids[i] = (uint64_t)json_integer_value (json_array_get (got, i));
    json_decref (r);
    return 0;
}

int loom_sched_offer_decline (loom_sched_framework_t *fw,
                              uint64_t offer_id,
                              double filter_sec,
                              loom_error_t *error)
{
    if (!fw || filter_sec < 0)
        return loom_errset (error, EINVAL, "bad framework or filter");
    json_t *r = rpc_json (fw->h,
                          json_pack ("{s:s, s:I, s:f}", "op", "decline", "offer",
                                     (json_int_t)offer_id, "filter", filter_sec),
                          error);
    if (!r)
        return -1;
    json_decref (r);
    return 0;
}

int loom_sched_task_kill (loom_sched_framework_t *fw,
                          uint64_t task,
                          loom_error_t *error)
{
    if (!fw)
        return loom_errset (error, EINVAL, "no framework");
    json_t *req = json_pack ("{s:s, s:[I]}", "op", "cancel", "jobs", (json_int_t)task);
    json_t *r = rpc_json (fw->h, req, error);
    if (!r)
        return -1;
    json_decref (r);
    return 0;
}
