/* SPDX-License-Identifier: MIT */
/* Requests about jobs (submit, ps, cancel, logs, accept), what loomd reports about
 * them (shares, nodes), their JSON, and their replay from SQLite after a restart.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/error.h>
#include <loom/log.h>

#include "../internal.h"
#include "loomd.h"
#include "wire.h"

json_t *loomd_error (int err, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof (text), fmt, ap);
    va_end (ap);
    return json_pack ("{s:b, s:i, s:s}", "ok", 0, "errno", err, "error", text);
}

int loomd_may_touch (const struct loomd_conn *c, const struct loom__job *j)
{
    return c->uid == 0 || c->uid == j->uid;
}

void loomd_job_free (struct loomd_job *x)
{
    if (!x)
        return;
    for (size_t i = 0; x->argv && x->argv[i]; i++)
        free (x->argv[i]);
    for (size_t i = 0; x->env && x->env[i]; i++)
        free (x->env[i]);
    free (x->argv);
    free (x->env);
    free (x->cwd);
    free (x->user);
    free (x->name);
    free (x->array);
    free (x);
}

static char *user_name (uid_t uid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwuid_r (uid, &pw, buf, sizeof (buf), &res) == 0 && res)
        return strdup (pw.pw_name);
    char *s;
    return asprintf (&s, "%u", (unsigned)uid) < 0 ? NULL : s;
}

static const char *dep_keys[] = {"after", "afterok", "afterany"};

/* Build the core's spec and loomd's job data from a submit request (also replayed
 * from the database). On error returns NULL and fills *err.
 */
static struct loomd_job *parse_spec (struct loomd *d,
                                     json_t *req,
                                     struct loom__job_spec *s,
                                     struct loom__range **ranges,
                                     struct loom__dep **deps,
                                     json_t **err)
{
    struct loomd_job *x = calloc (1, sizeof (*x));
    loom_error_t e;
    *ranges = NULL;
    *deps = NULL;
    if (!x) {
        *err = loomd_error (ENOMEM, "out of memory");
        return NULL;
    }
    if (!(x->argv = loomd_strv_from_json (json_object_get (req, "argv"), 1))) {
        *err = loomd_error (EINVAL, "a command is required (argv: array of strings)");
        goto error;
    }
    json_t *env = json_object_get (req, "env");
    x->env = env ? loomd_strv_from_json (env, 0) : calloc (1, sizeof (char *));
    const char *cwd = json_string_value (json_object_get (req, "cwd"));
    const char *name = json_string_value (json_object_get (req, "name"));
    x->cwd = cwd ? strdup (cwd) : NULL;
    x->name = strdup (name ? name : x->argv[0]);
    x->mpi = json_is_true (json_object_get (req, "mpi"));
    json_int_t ranks = json_integer_value (json_object_get (req, "ranks"));
    if (ranks < 0 || ranks > 1000000 || (ranks > 0 && !x->mpi)) {
        *err = loomd_error (EINVAL, "--ranks needs --mpi and 1 to 1000000 ranks");
        goto error;
    }
    x->ranks = (int)ranks;
    if (!x->env) {
        *err = loomd_error (EINVAL, "env must be an array of strings");
        goto error;
    }
    json_int_t nslots = 1, cps = 1, mem = 0, prio = 0, retries = 0;
    double tlim = 0;
    json_t *v;
    if ((v = json_object_get (req, "nslots")))
        nslots = json_integer_value (v);
    if ((v = json_object_get (req, "cores_per_task")))
        cps = json_integer_value (v);
    if ((v = json_object_get (req, "mem")))
        mem = json_integer_value (v);
    if ((v = json_object_get (req, "priority")))
        prio = json_integer_value (v);
    if ((v = json_object_get (req, "retries")))
        retries = json_integer_value (v);
    if ((v = json_object_get (req, "time")))
        tlim = json_number_value (v);
    if (nslots < 1 || nslots > 1000000) {
        *err =
            loomd_error (EINVAL, "bad number of tasks (-n): %lld", (long long)nslots);
        goto error;
    }
    if (cps < 1 || cps > 1000000) {
        *err = loomd_error (EINVAL, "bad cores per task: %lld", (long long)cps);
        goto error;
    }
    if (mem < 0 || prio < -10000 || prio > 10000 || retries < 0 || retries > 1000
        || tlim < 0 || tlim > 1e9) {
        *err = loomd_error (EINVAL, "bad memory, priority, retries or time limit");
        goto error;
    }
    const char *array = json_string_value (json_object_get (req, "array"));
    size_t nranges = 0;
    if (array) {
        uint64_t count;
        if (loom__range_parse (array, ranges, &nranges, &count, &e) < 0) {
            *err = loomd_error (EINVAL, "%s", e.text);
            goto error;
        }
        x->array = strdup (array);
    }
    size_t ndeps = 0;
    for (int k = 0; k < 3; k++)
        ndeps += json_array_size (json_object_get (req, dep_keys[k]));
    if (ndeps) {
        *deps = calloc (ndeps, sizeof (**deps));
        if (!*deps) {
            *err = loomd_error (ENOMEM, "out of memory");
            goto error;
        }
        size_t n = 0;
        for (int k = 0; k < 3; k++) {
            json_t *a = json_object_get (req, dep_keys[k]), *id;
            size_t i;
            json_array_foreach (a, i, id)
            {
                if (!json_is_integer (id) || json_integer_value (id) < 1) {
                    *err = loomd_error (EINVAL, "--%s needs job ids", dep_keys[k]);
                    goto error;
                }
                (*deps)[n].job = (uint64_t)json_integer_value (id);
                (*deps)[n++].type = (loom__dep_type_t)k;
            }
        }
    }
    *s = (struct loom__job_spec){
        .fw = d->batch,
        .nslots = (uint32_t)nslots,
        .cores_per_slot = (uint32_t)cps,
        .mem_per_slot = (uint64_t)mem,
        .time_limit_ns = (uint64_t)(tlim * 1e9),
        .priority = (int)prio,
        .retries = (uint32_t)retries,
        .ranges = *ranges,
        .nranges = nranges,
        .deps = *deps,
        .ndeps = ndeps,
        .ext = x,
    };
    return x;
error:
    free (*ranges);
    free (*deps);
    *ranges = NULL;
    *deps = NULL;
    loomd_job_free (x);
    return NULL;
}

json_t *loomd_req_submit (struct loomd *d, struct loomd_conn *c, json_t *req)
{
    struct loom__job_spec s;
    struct loom__range *ranges;
    struct loom__dep *deps;
    json_t *err = NULL;
    loom_error_t e;

    /* Only what the request says is stored: the owner comes from SO_PEERCRED. */
    json_object_del (req, "op");
    json_object_set_new (req, "uid", json_integer (c->uid));
    json_object_set_new (req, "gid", json_integer (c->gid));
    struct loomd_job *x = parse_spec (d, req, &s, &ranges, &deps, &err);
    if (!x)
        return err;
    if (!(x->user = user_name (c->uid))) {
        loomd_job_free (x);
        free (ranges);
        free (deps);
        return loomd_error (ENOMEM, "out of memory");
    }
    s.uid = c->uid;
    s.gid = c->gid;
    s.submit_ns = loom_clock_ns ();
    for (size_t i = 0; i < s.ndeps; i++) {
        struct loom__job *dj = loom__core_job (d->core, s.deps[i].job);
        if (dj && dj->fw != d->batch) {
            loomd_job_free (x);
            free (ranges);
            free (deps);
            return loomd_error (EINVAL, "job %llu is a framework task, not a batch job",
                                (unsigned long long)s.deps[i].job);
        }
    }
    struct loom__job *j = loom__core_submit (d->core, &s, &e);
    free (ranges);
    free (deps);
    if (!j) {
        int en = errno;
        loomd_job_free (x);
        return loomd_error (en, "%s", e.text);
    }
    char *spec = json_dumps (req, JSON_COMPACT);
    if (!spec
        || loomd_store_job_insert (d->store, j->id, d->batch->name, c->uid, c->gid,
                                   loom_clock_realtime_ns (), spec)
               < 0) {
        /* Not durable: take it back rather than acknowledge it. */
        free (spec);
        loom__core_cancel (d->core, j);
        return loomd_error (EIO, "cannot record the job in the state database");
    }
    free (spec);
    loomd_kick (d);
    return json_pack ("{s:b, s:I, s:i}", "ok", 1, "job", (json_int_t)j->id, "tasks",
                      (int)j->ntasks);
}

const char *loomd_job_state (const struct loom__job *j)
{
    if (!j->ended) {
        if (j->count[LOOM__T_RUNNING])
            return "running";
        if (j->count[LOOM__T_PENDING])
            return "pending";
        return "waiting";
    }
    if (j->count[LOOM__T_COMPLETED] == j->ntasks)
        return "completed";
    if (j->count[LOOM__T_CANCELLED])
        return "cancelled";
    if (j->count[LOOM__T_TIMEOUT])
        return "timeout";
    if (j->count[LOOM__T_LOST] && !j->count[LOOM__T_FAILED])
        return "lost";
    return "failed";
}

static json_t *task_json (struct loomd *d, struct loom__task *t)
{
    int ws = t->wstatus;
    int done = LOOM__T_FINAL (t->state);
    uint64_t now = loom_clock_ns ();
    double run = 0;
    if (t->start_ns && t->state == LOOM__T_RUNNING)
        run = (double)(now - t->start_ns) / 1e9;
    else if (t->start_ns && t->end_ns >= t->start_ns)
        run = (double)(t->end_ns - t->start_ns) / 1e9;
    json_t *o = json_pack ("{s:I, s:s, s:i, s:f}", "index", (json_int_t)t->index,
                           "state", loom__tstate_name (t->state), "attempt",
                           (int)t->attempt, "run_sec", run);
    if (t->state == LOOM__T_RUNNING && t->alloc) {
        char *cores = loomd_cores_list (d, t, 1);
        json_object_set_new (
            o, "node", json_string (d->core->nodes[t->alloc->parts[0].node]->name));
        json_object_set_new (o, "cpus", json_string (cores ? cores : ""));
        free (cores);
    }
    if (done && t->attempt > 0) {
        json_object_set_new (o, "exit_code",
                             json_integer (WIFEXITED (ws) ? WEXITSTATUS (ws) : -1));
        json_object_set_new (o, "signal",
                             json_integer (WIFSIGNALED (ws) ? WTERMSIG (ws) : 0));
        json_object_set_new (o, "max_rss_kib", json_integer ((json_int_t)t->maxrss));
    }
    return o;
}

json_t *loomd_job_json (struct loomd *d, struct loom__job *j, int tasks)
{
    struct loomd_job *x = j->ext;
    json_t *counts = json_object ();
    for (int s = 0; s < LOOM__T_NSTATES; s++)
        if (j->count[s])
            json_object_set_new (counts, loom__tstate_name (s),
                                 json_integer (j->count[s]));
    json_t *argv = json_array ();
    for (size_t i = 0; x && x->argv[i]; i++)
        json_array_append_new (argv, json_string (x->argv[i]));
    json_t *o = json_pack (
        "{s:I, s:s, s:i, s:s, s:s, s:s, s:o, s:i, s:o, s:i, s:i, s:I, s:f, s:i, s:i, "
        "s:b}",
        "id", (json_int_t)j->id, "user", x && x->user ? x->user : "?", "uid",
        (int)j->uid, "framework", j->fw->name, "state", loomd_job_state (j), "name",
        x && x->name ? x->name : "?", "argv", argv, "ntasks", (int)j->ntasks, "counts",
        counts, "nslots", (int)j->nslots, "cores_per_task", (int)j->cores_per_slot,
        "mem", (json_int_t)j->mem_per_slot, "time", (double)j->time_limit_ns / 1e9,
        "priority", j->priority, "retries", (int)j->retries, "mpi", x && x->mpi);
    if (x && x->array)
        json_object_set_new (o, "array", json_string (x->array));
    if (j->ndeps) {
        json_t *deps = json_array ();
        for (size_t i = 0; i < j->ndeps; i++)
            json_array_append_new (deps, json_pack ("{s:s, s:I}", "type",
                                                    dep_keys[j->deps[i].type], "job",
                                                    (json_int_t)j->deps[i].job));
        json_object_set_new (o, "dependencies", deps);
    }
    if (tasks) {
        json_t *ta = json_array ();
        for (uint32_t i = 0; i < j->ntasks; i++)
            json_array_append_new (ta, task_json (d, &j->tasks[i]));
        json_object_set_new (o, "tasks", ta);
    }
    return o;
}

json_t *loomd_req_ps (struct loomd *d, struct loomd_conn *c, json_t *req)
{
    int all = json_is_true (json_object_get (req, "all"));
    int tasks = json_is_true (json_object_get (req, "tasks"));
    json_t *uidv = json_object_get (req, "uid");
    const char *state = json_string_value (json_object_get (req, "state"));
    json_t *ids = json_object_get (req, "jobs");
    json_t *out = json_array ();
    (void)c;
    if (state && strcmp (state, "waiting") && strcmp (state, "pending")
        && strcmp (state, "running") && loom__tstate_parse (state) < 0) {
        json_decref (out);
        return loomd_error (EINVAL, "unknown state '%s'", state);
    }
    if (json_array_size (ids) > 0) {
        size_t i;
        json_t *id;
        json_array_foreach (ids, i, id)
        {
            struct loom__job *j =
                loom__core_job (d->core, (uint64_t)json_integer_value (id));
            if (!j) {
                json_decref (out);
                return loomd_error (ENOENT, "unknown job %lld",
                                    (long long)json_integer_value (id));
            }
            json_array_append_new (out, loomd_job_json (d, j, tasks));
        }
        return json_pack ("{s:b, s:o}", "ok", 1, "jobs", out);
    }
    for (uint64_t id = 1; id < d->core->next_id; id++) {
        struct loom__job *j = loom__core_job (d->core, id);
        if (!j)
            continue;
        if (!all && !state && j->ended)
            continue;
        if (uidv && json_integer_value (uidv) != (json_int_t)j->uid)
            continue;
        if (state && strcmp (state, loomd_job_state (j)) != 0)
            continue;
        json_array_append_new (out, loomd_job_json (d, j, tasks));
    }
    return json_pack ("{s:b, s:o}", "ok", 1, "jobs", out);
}

json_t *loomd_req_cancel (struct loomd *d, struct loomd_conn *c, json_t *req)
{
    json_t *ids = json_object_get (req, "jobs"), *id;
    size_t i;
    if (json_array_size (ids) == 0)
        return loomd_error (EINVAL, "no job to cancel");
    /* All or nothing: check every job before touching any. */
    json_array_foreach (ids, i, id)
    {
        struct loom__job *j =
            loom__core_job (d->core, (uint64_t)json_integer_value (id));
        if (!j)
            return loomd_error (ENOENT, "unknown job %lld",
                                (long long)json_integer_value (id));
        if (!loomd_may_touch (c, j)) {
            struct loomd_job *x = j->ext;
            return loomd_error (EPERM,
                                "job %llu belongs to %s: only its owner or root may "
                                "cancel it",
                                (unsigned long long)j->id,
                                x && x->user ? x->user : "another user");
        }
        if (c->fw && j->fw != c->fw && c->uid != 0)
            return loomd_error (EPERM, "task %llu is not this framework's",
                                (unsigned long long)j->id);
    }
    json_t *out = json_array ();
    json_array_foreach (ids, i, id)
    {
        struct loom__job *j =
            loom__core_job (d->core, (uint64_t)json_integer_value (id));
        uint32_t n = loom__core_cancel (d->core, j);
        json_array_append_new (
            out, json_pack ("{s:I, s:i}", "id", (json_int_t)j->id, "tasks", (int)n));
    }
    loomd_kick (d);
    return json_pack ("{s:b, s:o}", "ok", 1, "cancelled", out);
}

json_t *loomd_req_logs (struct loomd *d, struct loomd_conn *c, json_t *req, int *fd)
{
    json_int_t id = json_integer_value (json_object_get (req, "job"));
    struct loom__job *j = loom__core_job (d->core, (uint64_t)id);
    if (!j)
        return loomd_error (ENOENT, "unknown job %lld", (long long)id);
    if (!loomd_may_touch (c, j))
        return loomd_error (EPERM,
                            "job %llu belongs to another user: only its owner or "
                            "root may read its logs",
                            (unsigned long long)j->id);
    struct loom__task *t = &j->tasks[0];
    json_t *iv = json_object_get (req, "index");
    if (iv) {
        t = NULL;
        for (uint32_t i = 0; i < j->ntasks; i++)
            if (j->tasks[i].index == json_integer_value (iv))
                t = &j->tasks[i];
        if (!t)
            return loomd_error (ENOENT, "job %llu has no task of index %lld",
                                (unsigned long long)j->id,
                                (long long)json_integer_value (iv));
    }
    const char *stream = json_string_value (json_object_get (req, "stream"));
    int err = stream && strcmp (stream, "err") == 0;
    /* loom logs --follow waits for a task that has not started: nothing yet. */
    struct loomd_job *x = j->ext;
    int mpi = x && x->mpi;
    int ranks = mpi ? (x->ranks > 0 ? x->ranks : (int)j->nslots) : 0;
    if (t->attempt == 0 && json_is_true (json_object_get (req, "follow"))
        && !LOOM__T_FINAL (t->state)) {
        *fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
        return json_pack ("{s:b, s:I, s:I, s:s, s:b, s:i, s:b}", "ok", 1, "job",
                          (json_int_t)j->id, "index", (json_int_t)t->index, "format",
                          "raw", "mpi", mpi, "ranks", ranks, "running", 1);
    }
    if (t->attempt == 0)
        return loomd_error (ENOENT, "job %llu task %lld has not started yet (%s)",
                            (unsigned long long)j->id, (long long)t->index,
                            loom__tstate_name (t->state));
    /* An --mpi task started through the launcher has a job log (joblog.c): all its
     * ranks' streams and loomd's lines, tagged; the client picks what it was asked.
     * Other tasks have their raw stdout and stderr files.
     */
    const char *format = "tagged";
    char *path = loomd_task_log (d, t, "log");
    *fd = path ? open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    if (*fd < 0 && errno == ENOENT) {
        format = "raw";
        free (path);
        path = loomd_task_log (d, t, err ? "err" : "out");
        *fd = path ? open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
        if (*fd < 0 && errno == ENOENT) /* it wrote nothing: no file was made */
            *fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    int e = errno;
    free (path);
    if (*fd < 0)
        return loomd_error (e, "job %llu task %lld: no log: %s",
                            (unsigned long long)j->id, (long long)t->index,
                            strerror (e));
    /* "running": more may come, the task has not ended (loom logs --follow reads on
     * until it is false).
     */
    return json_pack ("{s:b, s:I, s:I, s:s, s:b, s:i, s:b}", "ok", 1, "job",
                      (json_int_t)j->id, "index", (json_int_t)t->index, "format",
                      format, "mpi", mpi, "ranks", ranks, "running",
                      !LOOM__T_FINAL (t->state));
}

struct usage_acc {
    json_t *fws;
};

static void usage_cb (void *arg, const char *fw, uint32_t uid, double core_sec)
{
    json_t *fws = arg;
    json_t *f = json_object_get (fws, fw);
    if (!f)
        return;
    json_object_set_new (
        f, "usage_core_sec",
        json_real (json_number_value (json_object_get (f, "usage_core_sec"))
                   + core_sec));
    char key[16];
    snprintf (key, sizeof (key), "%u", uid);
    json_t *u = json_object_get (json_object_get (f, "users_by_uid"), key);
    if (u)
        json_object_set_new (u, "usage_core_sec", json_real (core_sec));
}

json_t *loomd_req_shares (struct loomd *d, struct loomd_conn *c, json_t *req)
{
    loom__core_t *core = d->core;
    json_t *byname = json_object ();
    json_t *list = json_array ();
    (void)c;
    (void)req;
    for (uint32_t i = 0; i < core->nfws; i++) {
        struct loom__fw *fw = core->fws[i];
        uint64_t dt = 0, dc = 0, dm = 0;
        json_t *users = json_array (), *byuid = json_object ();
        for (size_t k = 0; k < fw->nall; k++) {
            struct loom__user *u = fw->all[k];
            char *name = user_name (u->uid);
            json_t *uo = json_pack (
                "{s:s, s:i, s:f, s:f, s:{s:I, s:I}, s:{s:I, s:I, s:I}, s:f}", "user",
                name ? name : "?", "uid", (int)u->uid, "weight", u->weight, "share",
                loom__core_user_share (core, u), "used", "cores",
                (json_int_t)u->used_cores, "mem", (json_int_t)u->used_mem, "demand",
                "tasks", (json_int_t)u->pending, "cores", (json_int_t)u->pending_cores,
                "mem", (json_int_t)u->pending_mem, "usage_core_sec", 0.0);
            free (name);
            char key[16];
            snprintf (key, sizeof (key), "%u", u->uid);
            json_object_set (byuid, key, uo);
            json_array_append_new (users, uo);
            dt += u->pending;
            dc += u->pending_cores;
            dm += u->pending_mem;
        }
        json_t *fo = json_pack (
            "{s:s, s:s, s:f, s:f, s:b, s:{s:I, s:I}, s:{s:I, s:I, s:I}, s:f, s:o, s:o}",
            "name", fw->name, "kind", fw->kind == LOOM__FW_BATCH ? "batch" : "offers",
            "weight", fw->weight, "share", loom__core_fw_share (core, fw), "active",
            !fw->removed, "used", "cores", (json_int_t)fw->used_cores, "mem",
            (json_int_t)fw->used_mem, "demand", "tasks", (json_int_t)dt, "cores",
            (json_int_t)dc, "mem", (json_int_t)dm, "usage_core_sec", 0.0, "users",
            users, "users_by_uid", byuid);
        json_object_set (byname, fw->name, fo);
        json_array_append_new (list, fo);
    }
    loomd_store_commit (d->store);
    loomd_store_usage_each (d->store, usage_cb, byname);
    size_t i;
    json_t *fo;
    json_array_foreach (list, i, fo) json_object_del (fo, "users_by_uid");
    json_decref (byname);
    return json_pack ("{s:b, s:{s:I, s:I}, s:{s:I, s:I}, s:o}", "ok", 1, "total",
                      "cores", (json_int_t)core->total_cores, "mem",
                      (json_int_t)core->total_mem, "free", "cores",
                      (json_int_t)core->free_cores, "mem", (json_int_t)core->free_mem,
                      "frameworks", list);
}

json_t *loomd_req_nodes (struct loomd *d, struct loomd_conn *c, json_t *req)
{
    json_t *list = json_array ();
    (void)c;
    (void)req;
    for (uint32_t i = 0; i < d->core->nnodes; i++) {
        struct loom__node *n = d->core->nodes[i];
        struct loomd_node *x = n->ext;
        uint64_t all[1024] = {0};
        for (unsigned k = 0; x && k < x->ncores && k < 65536; k++)
            all[k / 64] |= 1ull << (k % 64);
        char *pus = loomd_mask_list (x, all, 1);
        json_array_append_new (
            list,
            json_pack ("{s:s, s:s, s:i, s:i, s:I, s:I, s:s, s:s}", "name", n->name,
                       "state", n->up ? "up" : "down", "cores", (int)n->ncores,
                       "free_cores", (int)n->free_cores, "mem", (json_int_t)n->mem,
                       "free_mem", (json_int_t)n->free_mem, "cpuset", pus ? pus : "",
                       "role", x && x->local ? "head" : "agent"));
        free (pus);
    }
    return json_pack ("{s:b, s:o}", "ok", 1, "nodes", list);
}

/* Offers ----------------------------------------------------------------------- */

json_t *loomd_req_accept (struct loomd *d, struct loomd_conn *c, json_t *req)
{
    if (!c->fw)
        return loomd_error (EINVAL, "register as a framework first");
    uint64_t oid = (uint64_t)json_integer_value (json_object_get (req, "offer"));
    struct loom__offer *o = loom__core_offer (d->core, oid);
    if (!o || o->fw != c->fw)
        return loomd_error (ENOENT,
                            "no offer %llu for this framework (expired or answered)",
                            (unsigned long long)oid);
    json_t *tasks = json_object_get (req, "tasks");
    size_t n = json_array_size (tasks);
    uint32_t words = d->core->nodes[o->node]->nwords;
    uint64_t **masks = calloc (n ? n : 1, sizeof (*masks));
    uint64_t *mem = calloc (n ? n : 1, sizeof (*mem));
    uint64_t *lim = calloc (n ? n : 1, sizeof (*lim));
    void **ext = calloc (n ? n : 1, sizeof (*ext));
    struct loom__job **jobs = calloc (n ? n : 1, sizeof (*jobs));
    hwloc_bitmap_t want = hwloc_bitmap_alloc (), cover = hwloc_bitmap_alloc ();
    json_t *reply = NULL;
    if (!masks || !mem || !lim || !ext || !jobs || !want || !cover) {
        reply = loomd_error (ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *tj = json_array_get (tasks, i);
        const char *cpus = json_string_value (json_object_get (tj, "cpuset"));
        masks[i] = calloc (words, sizeof (uint64_t));
        struct loomd_job *x = calloc (1, sizeof (*x));
        ext[i] = x;
        if (!masks[i] || !x) {
            reply = loomd_error (ENOMEM, "out of memory");
            goto out;
        }
        if (!cpus || hwloc_bitmap_list_sscanf (want, cpus) < 0) {
            reply = loomd_error (EINVAL, "task %zu: bad cpuset", i);
            goto out;
        }
        /* Whole cores only: the cores whose PUs the task's cpuset covers. */
        hwloc_bitmap_zero (cover);
        struct loomd_node *nx = loomd_node_of (d, o->node);
        for (unsigned k = 0; nx && k < nx->ncores; k++) {
            if (hwloc_bitmap_isincluded (nx->core_pus[k], want)) {
                masks[i][k / 64] |= 1ull << (k % 64);
                hwloc_bitmap_or (cover, cover, nx->core_pus[k]);
            }
        }
        if (!hwloc_bitmap_isequal (cover, want) || hwloc_bitmap_iszero (want)) {
            reply = loomd_error (
                EINVAL, "task %zu: cpuset %s is not whole cores of the offer", i, cpus);
            goto out;
        }
        if (!(x->argv = loomd_strv_from_json (json_object_get (tj, "argv"), 1))) {
            reply = loomd_error (
                EINVAL, "task %zu: argv must be a non-empty array of strings", i);
            goto out;
        }
        json_int_t m = json_integer_value (json_object_get (tj, "mem"));
        double tl = json_number_value (json_object_get (tj, "time"));
        if (m < 0 || tl < 0) {
            reply = loomd_error (EINVAL, "task %zu: bad memory or time limit", i);
            goto out;
        }
        mem[i] = (uint64_t)m;
        lim[i] = (uint64_t)(tl * 1e9);
        x->env = c->fw->ext ? loomd_strv_from_json (c->fw->ext, 0)
                            : calloc (1, sizeof (char *));
        x->user = user_name (c->uid);
        x->name = strdup (x->argv[0]);
        x->fwconn = c;
    }
    loom_error_t e;
    if (loom__core_offer_accept (d->core, oid, n, masks, mem, lim, ext, jobs, &e) < 0) {
        reply = loomd_error (errno, "%s", e.text);
        goto out;
    }
    json_t *ids = json_array ();
    for (size_t i = 0; i < n; i++) {
        jobs[i]->gid = c->gid;
        json_t *spec = json_pack ("{s:O, s:i, s:I, s:f, s:b, s:i, s:i}", "argv",
                                  json_object_get (json_array_get (tasks, i), "argv"),
                                  "ncores", (int)jobs[i]->cores_per_slot, "mem",
                                  (json_int_t)mem[i], "time", (double)lim[i] / 1e9,
                                  "offer", 1, "uid", (int)c->uid, "gid", (int)c->gid);
        char *s = json_dumps (spec, JSON_COMPACT);
        json_decref (spec);
        loomd_store_job_insert (d->store, jobs[i]->id, c->fw->name, c->uid, c->gid,
                                loom_clock_realtime_ns (), s ? s : "{}");
        free (s);
        json_array_append_new (ids, json_integer ((json_int_t)jobs[i]->id));
        ext[i] = NULL; /* owned by the job now */
    }
    reply = json_pack ("{s:b, s:o}", "ok", 1, "tasks", ids);
    loomd_kick (d);
out:
    for (size_t i = 0; i < n; i++) {
        if (masks)
            free (masks[i]);
        if (ext)
            loomd_job_free (ext[i]);
    }
    free (masks);
    free (mem);
    free (lim);
    free (ext);
    free (jobs);
    hwloc_bitmap_free (want);
    hwloc_bitmap_free (cover);
    return reply;
}

/* Replay after a restart -------------------------------------------------------- */

static int replay_job (void *arg,
                       uint64_t id,
                       const char *fwname,
                       uint32_t uid,
                       uint32_t gid,
                       uint64_t submit_ns,
                       const char *spec)
{
    struct loomd *d = arg;
    json_t *req = json_loads (spec, 0, NULL);
    if (!req) {
        loom_warn ("loomd: job %llu: unreadable record, skipped",
                   (unsigned long long)id);
        return 0;
    }
    struct loom__job *j = NULL;
    if (strcmp (fwname, d->batch->name) == 0) {
        struct loom__job_spec s;
        struct loom__range *ranges;
        struct loom__dep *deps;
        json_t *err = NULL;
        loom_error_t e;
        struct loomd_job *x = parse_spec (d, req, &s, &ranges, &deps, &err);
        if (x) {
            x->user = user_name (uid);
            s.id = id;
            s.uid = uid;
            s.gid = gid;
            s.submit_ns = loom_clock_ns ();
            j = loom__core_submit (d->core, &s, &e);
            if (!j) {
                loom_warn ("loomd: job %llu cannot be restored: %s",
                           (unsigned long long)id, e.text);
                loomd_job_free (x);
            }
        }
        json_decref (err);
        free (ranges);
        free (deps);
    } else {
        /* A framework's task: the framework went away with the old loomd. */
        struct loom__fw *fw = loom__core_fw_find (d->core, fwname);
        if (!fw && (fw = loom__core_fw_add (d->core, fwname, LOOM__FW_OFFER, 1.0, uid)))
            loom__core_fw_remove (d->core, fw);
        struct loomd_job *x = calloc (1, sizeof (*x));
        if (fw && x && (j = loom__job_new (d->core, id, fw, uid, 1))) {
            x->argv = loomd_strv_from_json (json_object_get (req, "argv"), 1);
            x->env = calloc (1, sizeof (char *));
            x->user = user_name (uid);
            x->name = strdup (x->argv && x->argv[0] ? x->argv[0] : "?");
            j->ext = x;
            j->gid = gid;
            j->nslots = 1;
            j->cores_per_slot =
                (uint32_t)json_integer_value (json_object_get (req, "ncores"));
            j->mem_per_slot =
                (uint64_t)json_integer_value (json_object_get (req, "mem"));
            j->submit_ns = loom_clock_ns (); /* its task is restored from its row */
        } else {
            loomd_job_free (x);
        }
    }
    (void)submit_ns;
    json_decref (req);
    return 0;
}

static int replay_task (void *arg, const struct loomd_task_row *r)
{
    struct loomd *d = arg;
    struct loom__job *j = loom__core_job (d->core, r->job);
    if (!j || r->pos >= j->ntasks)
        return 0;
    struct loom__task *t = &j->tasks[r->pos];
    if (r->state == LOOM__T_RUNNING && loomd_kill_stale ((pid_t)r->pid, r->pstart))
        loom_info ("loomd: killed leftover process group %lld of job %llu",
                   (long long)r->pid, (unsigned long long)r->job);
    if (r->state == LOOM__T_RUNNING) { /* its job log (an --mpi task's) says so */
        char *path = loomd_task_log (d, t, "log");
        int fd = path ? open (path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW) : -1;
        loomd_joblog_printf (fd,
                             "task %llu.%lld was running when loomd died (attempt %d): "
                             "lost",
                             (unsigned long long)j->id, (long long)t->index,
                             r->attempt);
        if (fd >= 0)
            close (fd);
        free (path);
    }
    t->maxrss = r->maxrss;
    loom__core_restore_task (d->core, t, (loom__tstate_t)r->state, (uint32_t)r->attempt,
                             r->wstatus);
    return 0;
}

int loomd_restore (struct loomd *d, loom_error_t *error)
{
    if (loomd_store_replay (d->store, replay_job, replay_task, d) < 0)
        return loom_errset (error, EIO, "cannot read the state database");
    /* Framework tasks without a task row never started: they are lost. */
    for (uint64_t id = 1; id < d->core->next_id; id++) {
        struct loom__job *j = loom__core_job (d->core, id);
        if (j && j->fw != d->batch && !j->ended)
            loom__core_restore_task (d->core, &j->tasks[0], LOOM__T_LOST, 1, 0);
    }
    return 0;
}
