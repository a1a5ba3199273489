/* SPDX-License-Identifier: MIT */
/* Reading trace files into memory: validation (every offset and id is checked, since
 * the input may be truncated, foreign or garbage), time alignment of processes, and
 * matching span begins with their ends.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <loom/trace.h>

#include "trace_internal.h"

#define MAX_PROCS (1u << 20)

static void proc_free (struct trace_proc *p)
{
    if (!p)
        return;
    if (p->strings)
        for (uint32_t i = 0; i < p->nstrings; i++)
            free (p->strings[i]);
    free (p->strings);
    free (p->types);
    free (p->ev);
    free (p->spans);
    free (p->source);
    memset (p, 0, sizeof (*p));
}

void loom_trace_close (loom_trace_t *t)
{
    if (!t)
        return;
    int saved = errno;
    for (size_t i = 0; i < t->nprocs; i++)
        proc_free (&t->procs[i]);
    free (t->procs);
    free (t);
    errno = saved;
}

int loom__trace_arg_index (const struct trace_type *t, const char *name)
{
    for (unsigned i = 0; t && i < t->nargs; i++)
        if (t->args[i] && strcmp (t->argname[i], name) == 0)
            return (int)i;
    return -1;
}

static int proto (loom_error_t *error, const char *name, const char *what, ...)
    LOOM_PRINTF (3, 4);

static int proto (loom_error_t *error, const char *name, const char *what, ...)
{
    char text[200];
    va_list ap;
    va_start (ap, what);
    vsnprintf (text, sizeof (text), what, ap);
    va_end (ap);
    return loom_errset (error, EPROTO, "%s: %s", name, text);
}

/* ---- one process ---- */

static int parse_strings (const uint8_t *buf, struct trace_proc *p, loom_error_t *error)
{
    const struct loom_trace_header *h = &p->hdr;
    p->strings = calloc (h->strings_max ? h->strings_max : 1, sizeof (char *));
    if (!p->strings)
        return loom_errset (error, ENOMEM, "out of memory");
    for (uint32_t i = 0; i < h->strings_max; i++) {
        struct loom_trace_string s;
        memcpy (&s, buf + h->strings_off + (uint64_t)i * LOOM_TRACE_STRING_SIZE,
                sizeof (s));
        if (s.valid == 0)
            break; /* strings are written in order: the rest were never used */
        if (s.valid != LOOM_TRACE_VALID_STRING || s.len > LOOM_TRACE_STRING_MAX
            || s.text[s.len] != '\0' || memchr (s.text, '\0', s.len))
            return proto (error, p->source, "corrupt: bad string table entry %u",
                          i + 1);
        p->strings[i] = strdup (s.text);
        if (!p->strings[i])
            return loom_errset (error, ENOMEM, "out of memory");
        p->nstrings = i + 1;
    }
    return 0;
}

static int parse_types (const uint8_t *buf, struct trace_proc *p, loom_error_t *error)
{
    const struct loom_trace_header *h = &p->hdr;
    p->types = calloc (h->types_max ? h->types_max : 1, sizeof (struct trace_type));
    if (!p->types)
        return loom_errset (error, ENOMEM, "out of memory");
    for (uint32_t i = 0; i < h->types_max; i++) {
        struct loom_trace_typedef d;
        memcpy (&d, buf + h->types_off + (uint64_t)i * LOOM_TRACE_TYPE_SIZE,
                sizeof (d));
        if (d.valid == 0)
            break;
        int ok = d.valid == LOOM_TRACE_VALID_TYPE && d.nargs <= 3 && d.category >= 1
                 && d.category <= p->nstrings && d.name >= 1 && d.name <= p->nstrings;
        for (unsigned a = 0; ok && a < 3; a++)
            ok = a < d.nargs ? d.args[a] >= 1 && d.args[a] <= p->nstrings
                             : d.args[a] == 0;
        if (!ok)
            return proto (error, p->source, "corrupt: bad type table entry %u", i + 1);
        struct trace_type *t = &p->types[i];
        t->def = d;
        t->category = p->strings[d.category - 1];
        t->name = p->strings[d.name - 1];
        t->nargs = d.nargs;
        for (unsigned a = 0; a < d.nargs; a++) {
            const char *s = p->strings[d.args[a] - 1];
            t->args[a] = s;
            size_t n = strlen (s);
            t->argkind[a] = ARG_U64;
            if (n >= 2 && s[n - 2] == ':') {
                char k = s[n - 1];
                t->argkind[a] = k == 'i'   ? ARG_I64
                                : k == 'f' ? ARG_F64
                                : k == 's' ? ARG_STR
                                           : ARG_U64;
                if (k == 'i' || k == 'f' || k == 's')
                    n -= 2;
            }
            memcpy (t->argname[a], s, n);
            t->argname[a][n] = '\0';
        }
        p->ntypes = i + 1;
    }
    return 0;
}

static int cmp_event (const void *a, const void *b)
{
    const struct loom_trace_event *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    /* Same nanosecond: begins before instants before ends keeps spans well formed. */
    static const int order[8] = {1, 0, 2, 1, 1, 1, 1, 1};
    return order[x->kind & 7] - order[y->kind & 7];
}

static int parse_events (const uint8_t *buf,
                         uint64_t nslots,
                         struct trace_proc *p,
                         loom_error_t *error)
{
    const struct loom_trace_header *h = &p->hdr;
    p->ev = malloc ((nslots ? nslots : 1) * sizeof (*p->ev));
    if (!p->ev)
        return loom_errset (error, ENOMEM, "out of memory");
    size_t n = 0;
    for (uint64_t i = 0; i < nslots; i++) {
        struct loom_trace_event e;
        memcpy (&e, buf + h->events_off + i * LOOM_TRACE_EVENT_SIZE, sizeof (e));
        if (e.kind == 0)
            continue; /* never written (chunk tail, or a writer killed mid-event) */
        if (e.kind > LOOM__TRACE_K_SIGNAL)
            return proto (error, p->source, "corrupt: event %" PRIu64 " has kind %u", i,
                          e.kind);
        if (e.kind != LOOM__TRACE_K_SIGNAL && (e.type < 1 || e.type > p->ntypes))
            return proto (error, p->source,
                          "corrupt: event %" PRIu64 " has type %u of %u", i, e.type,
                          p->ntypes);
        if (e.given > 7)
            return proto (error, p->source, "corrupt: event %" PRIu64 " has flags %u",
                          i, e.given);
        p->ev[n++] = e;
    }
    p->nev = n;
    /* One thread's events are already in time order: sort only when needed. */
    size_t i = 1;
    while (i < n && cmp_event (&p->ev[i - 1], &p->ev[i]) <= 0)
        i++;
    if (i < n)
        qsort (p->ev, n, sizeof (*p->ev), cmp_event);
    return 0;
}

static int parse_proc (const uint8_t *buf,
                       size_t len,
                       const char *name,
                       struct trace_proc *p,
                       loom_error_t *error)
{
    memset (p, 0, sizeof (*p));
    p->source = strdup (name);
    if (!p->source)
        return loom_errset (error, ENOMEM, "out of memory");
    if (len < 8 || memcmp (buf, LOOM_TRACE_MAGIC, 8) != 0)
        return proto (error, name, "not a Loom trace (bad magic)");
    if (len < 16)
        return proto (error, name, "truncated: %zu bytes, less than a trace header",
                      len);
    uint32_t version, order;
    memcpy (&version, buf + 8, 4);
    memcpy (&order, buf + 12, 4);
    if (order != LOOM_TRACE_BYTE_ORDER)
        return proto (error, name, "written with another byte order");
    if (version != LOOM_TRACE_VERSION)
        return loom_errset (error, ENOTSUP,
                            "%s: trace format version %u; this loom reads version %u",
                            name, version, LOOM_TRACE_VERSION);
    if (len < LOOM_TRACE_HEADER_SIZE)
        return proto (error, name, "truncated: %zu bytes, less than a trace header",
                      len);
    struct loom_trace_header *h = &p->hdr;
    memcpy (h, buf, sizeof (*h));
    h->host[sizeof (h->host) - 1] = '\0';
    h->name[sizeof (h->name) - 1] = '\0';
    if (h->header_size != LOOM_TRACE_HEADER_SIZE
        || h->event_size != LOOM_TRACE_EVENT_SIZE
        || h->string_size != LOOM_TRACE_STRING_SIZE
        || h->type_size != LOOM_TRACE_TYPE_SIZE
        || h->strings_max > LOOM_TRACE_STRINGS_MAX
        || h->types_max > LOOM_TRACE_TYPES_MAX
        || h->strings_off != LOOM_TRACE_HEADER_SIZE
        || h->types_off
               != h->strings_off + (uint64_t)h->strings_max * LOOM_TRACE_STRING_SIZE
        || h->events_off < h->types_off + (uint64_t)h->types_max * LOOM_TRACE_TYPE_SIZE
        || h->events_off > (1ull << 40) || h->state > LOOM_TRACE_STATE_SIGNALED
        || h->rank < -1 || h->size < -1)
        return proto (error, name, "corrupt header");
    if (h->events_off > len)
        return proto (error, name,
                      "truncated: %zu bytes, the event area starts at %" PRIu64, len,
                      h->events_off);
    uint64_t body = len - h->events_off;
    if (body % LOOM_TRACE_EVENT_SIZE)
        return proto (error, name,
                      "truncated: file ends inside event %" PRIu64 " (%" PRIu64
                      " stray bytes)",
                      body / LOOM_TRACE_EVENT_SIZE, body % LOOM_TRACE_EVENT_SIZE);
    uint64_t nslots = body / LOOM_TRACE_EVENT_SIZE;
    if (h->state == LOOM_TRACE_STATE_CLOSED) {
        if (h->events > nslots)
            return proto (error, name,
                          "truncated: the header counts %" PRIu64
                          " events, the file holds %" PRIu64,
                          h->events, nslots);
        nslots = h->events;
    }
    if (parse_strings (buf, p, error) < 0 || parse_types (buf, p, error) < 0
        || parse_events (buf, nslots, p, error) < 0)
        return -1;
    return 0;
}

/* ---- the job: several processes on one time line ---- */

static uint64_t span_hash (uint32_t id)
{
    return (uint64_t)id * 0x9e3779b97f4a7c15ull;
}

/* Match begins with ends. Ends whose begin is missing are ignored. */
static int build_spans (struct trace_proc *p, loom_error_t *error)
{
    size_t nbegin = 0;
    for (size_t i = 0; i < p->nev; i++)
        nbegin += p->ev[i].kind == LOOM__TRACE_K_BEGIN;
    p->spans = calloc (nbegin ? nbegin : 1, sizeof (*p->spans));
    size_t cap = 16;
    while (cap < 2 * nbegin)
        cap *= 2;
    size_t *slot = malloc (cap * sizeof (*slot)); /* span index + 1; 0 empty */
    if (!p->spans || !slot) {
        free (slot);
        return loom_errset (error, ENOMEM, "out of memory");
    }
    memset (slot, 0, cap * sizeof (*slot));
    size_t n = 0;
    for (size_t i = 0; i < p->nev; i++) {
        const struct loom_trace_event *e = &p->ev[i];
        if (e->kind == LOOM__TRACE_K_BEGIN) {
            struct trace_span *s = &p->spans[n];
            s->start = trace_ev_ns (p, e);
            s->end = UINT64_MAX;
            s->type = e->type;
            s->id = e->span;
            s->parent = e->parent;
            s->tid = e->tid;
            for (int a = 0; a < 3; a++)
                s->arg[a] = e->arg[a];
            size_t h = (size_t)(span_hash (e->span) & (cap - 1));
            while (slot[h] && p->spans[slot[h] - 1].id != e->span)
                h = (h + 1) & (cap - 1);
            slot[h] = ++n; /* a reused id (after 2^32 spans) takes the newest */
        } else if (e->kind == LOOM__TRACE_K_END) {
            size_t h = (size_t)(span_hash (e->span) & (cap - 1));
            while (slot[h] && p->spans[slot[h] - 1].id != e->span)
                h = (h + 1) & (cap - 1);
            if (!slot[h])
                continue;
            struct trace_span *s = &p->spans[slot[h] - 1];
            if (s->end != UINT64_MAX)
                continue;
            s->end = trace_ev_ns (p, e);
            if (s->end < s->start) /* clock re-anchoring may step back a few ns */
                s->end = s->start;
            for (int a = 0; a < 3; a++)
                if (e->given & (1u << a))
                    s->arg[a] = e->arg[a];
        }
    }
    free (slot);
    p->nspans = n;
    for (size_t i = 0; i < n; i++) {
        if (p->spans[i].end == UINT64_MAX) {
            p->spans[i].end = p->end > p->spans[i].start ? p->end : p->spans[i].start;
            p->spans[i].unfinished = 1;
        }
    }
    return 0;
}

static int cmp_proc (const void *a, const void *b)
{
    const struct trace_proc *x = a, *y = b;
    int xr = x->hdr.rank, yr = y->hdr.rank;
    if ((xr < 0) != (yr < 0))
        return xr < 0 ? 1 : -1;
    if (xr != yr)
        return xr < yr ? -1 : 1;
    return x->hdr.pid < y->hdr.pid ? -1 : x->hdr.pid > y->hdr.pid;
}

static int finish_job (loom_trace_t *t, loom_error_t *error)
{
    if (t->nprocs == 0)
        return loom_errset (error, ENOENT, "no processes in the trace");
    qsort (t->procs, t->nprocs, sizeof (*t->procs), cmp_proc);
    t->trace_id = t->procs[0].hdr.trace_id;
    for (size_t i = 0; i < t->nprocs; i++) {
        const struct trace_proc *p = &t->procs[i];
        if (p->hdr.trace_id != t->trace_id) {
            char a[17], b[17];
            return proto (error, p->source,
                          "belongs to trace %s, %s to trace %s (files of two jobs)",
                          loom_trace_id_format (p->hdr.trace_id, a), t->procs[0].source,
                          loom_trace_id_format (t->trace_id, b));
        }
        if (i > 0 && p->hdr.rank >= 0 && p->hdr.rank == t->procs[i - 1].hdr.rank)
            return proto (error, p->source, "rank %d also comes from %s", p->hdr.rank,
                          t->procs[i - 1].source);
    }
    /* One time line: realtime at start anchors each process's monotonic clock. */
    int64_t t0 = INT64_MAX;
    for (size_t i = 0; i < t->nprocs; i++) {
        struct trace_proc *p = &t->procs[i];
        int64_t to_real = (int64_t)(p->hdr.real0 - p->hdr.mono0);
        int64_t first = p->nev ? (int64_t)p->ev[0].ts : (int64_t)p->hdr.mono0;
        if (first + to_real < t0)
            t0 = first + to_real;
        p->to_job = to_real;
    }
    for (size_t i = 0; i < t->nprocs; i++) {
        struct trace_proc *p = &t->procs[i];
        p->to_job -= t0;
        p->start = p->nev ? trace_ev_ns (p, &p->ev[0]) : 0;
        p->end = p->nev ? trace_ev_ns (p, &p->ev[p->nev - 1]) : 0;
        if (p->hdr.mono_end) {
            struct loom_trace_event e = {.ts = p->hdr.mono_end};
            uint64_t end = trace_ev_ns (p, &e);
            if (end > p->end)
                p->end = end;
        }
    }
    return 0;
}

int loom__trace_spans (const loom_trace_t *ct, loom_error_t *error)
{
    loom_trace_t *t = (loom_trace_t *)ct;
    if (t->spans_built)
        return 0;
    for (size_t i = 0; i < t->nprocs; i++) {
        struct trace_proc *p = &t->procs[i];
        free (p->spans);
        p->spans = NULL;
        p->nspans = 0;
        if (build_spans (p, error) < 0)
            return -1;
    }
    t->spans_built = 1;
    return 0;
}

static loom_trace_t *job_new (size_t n)
{
    loom_trace_t *t = calloc (1, sizeof (*t));
    if (!t)
        return NULL;
    t->procs = calloc (n ? n : 1, sizeof (*t->procs));
    if (!t->procs) {
        free (t);
        return NULL;
    }
    return t;
}

static loom_trace_t *
parse_job (const uint8_t *buf, size_t len, const char *name, loom_error_t *error)
{
    struct loom_trace_job_header jh;
    if (len < sizeof (jh)) {
        proto (error, name, "truncated: %zu bytes, less than a job trace header", len);
        return NULL;
    }
    memcpy (&jh, buf, sizeof (jh));
    if (jh.byte_order != LOOM_TRACE_BYTE_ORDER) {
        proto (error, name, "written with another byte order");
        return NULL;
    }
    if (jh.version != LOOM_TRACE_VERSION) {
        loom_errset (error, ENOTSUP,
                     "%s: trace format version %u; this loom reads version %u", name,
                     jh.version, LOOM_TRACE_VERSION);
        return NULL;
    }
    if (jh.nprocs == 0 || jh.nprocs > MAX_PROCS) {
        proto (error, name, "corrupt: %u processes", jh.nprocs);
        return NULL;
    }
    uint64_t table = sizeof (jh) + (uint64_t)jh.nprocs * 16;
    if (table > len) {
        proto (error, name, "truncated: the process table ends past the file");
        return NULL;
    }
    loom_trace_t *t = job_new (jh.nprocs);
    if (!t) {
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    for (uint32_t i = 0; i < jh.nprocs; i++) {
        uint64_t off, plen;
        memcpy (&off, buf + sizeof (jh) + i * 16, 8);
        memcpy (&plen, buf + sizeof (jh) + i * 16 + 8, 8);
        if (off < table || off > len || plen > len - off) {
            proto (error, name, "truncated: process %u lies past the end of the file",
                   i);
            goto error;
        }
        char pname[PATH_MAX + 32];
        snprintf (pname, sizeof (pname), "%s (process %u)", name, i);
        t->nprocs = i + 1;
        if (parse_proc (buf + off, (size_t)plen, pname, &t->procs[i], error) < 0)
            goto error;
    }
    return t;
error:
    loom_trace_close (t);
    return NULL;
}

/* The processes of a rank file or a job trace, not yet on one time line. */
static loom_trace_t *
parse_unfinished (const void *buf, size_t len, const char *name, loom_error_t *error)
{
    if (len >= 8 && memcmp (buf, LOOM_TRACE_JOB_MAGIC, 8) == 0)
        return parse_job (buf, len, name, error);
    loom_trace_t *t = job_new (1);
    if (!t) {
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    t->nprocs = 1;
    if (parse_proc (buf, len, name, &t->procs[0], error) < 0) {
        loom_trace_close (t);
        return NULL;
    }
    return t;
}

loom_trace_t *
loom_trace_parse (const void *buf, size_t len, const char *name, loom_error_t *error)
{
    if (!buf && len) {
        loom_errset (error, EINVAL, "no buffer");
        return NULL;
    }
    loom_trace_t *t = parse_unfinished (buf, len, name ? name : "trace", error);
    if (t && finish_job (t, error) < 0) {
        loom_trace_close (t);
        return NULL;
    }
    return t;
}

/* Read 'path' into *buf (grown as needed, reused across files: fresh memory is
 * what costs most on some virtual machines). Sets *lenp.
 */
static int read_file (
    const char *path, uint8_t **buf, size_t *cap, size_t *lenp, loom_error_t *error)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return loom_errset (error, errno, "%s: %s", path, strerror (errno));
    struct stat st;
    if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)) {
        int e = S_ISDIR (st.st_mode) ? EISDIR : errno ? errno : EINVAL;
        close (fd);
        return loom_errset (error, e, "%s: %s", path,
                            e == EISDIR ? "is a directory" : "not a regular file");
    }
    size_t len = (size_t)st.st_size, got = 0;
    if (len > *cap || !*buf) {
        uint8_t *nb = realloc (*buf, len ? len : 1);
        if (!nb) {
            close (fd);
            return loom_errset (error, ENOMEM, "%s: out of memory (%zu bytes)", path,
                                len);
        }
        *buf = nb;
        *cap = len;
    }
    while (got < len) {
        ssize_t r = read (fd, *buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close (fd);
            return loom_errset (error, e, "%s: read: %s", path, strerror (e));
        }
        if (r == 0)
            break; /* the file shrank meanwhile: parse what is there */
        got += (size_t)r;
    }
    close (fd);
    *lenp = got;
    return 0;
}

/* '<prefix>.rank<digits>' or '<prefix>.proc<digits>'? */
static int is_member (const char *prefix, const char *path)
{
    size_t n = strlen (prefix);
    const char *s = path + n;
    if (strncmp (path, prefix, n) != 0
        || (strncmp (s, ".rank", 5) != 0 && strncmp (s, ".proc", 5) != 0))
        return 0;
    s += 5;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* Files to read: a list that grows. */
struct paths {
    char **v;
    size_t n, cap;
};

static int paths_add (struct paths *ps, const char *path)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 16;
        char **v = realloc (ps->v, cap * sizeof (*v));
        if (!v)
            return -1;
        ps->v = v;
        ps->cap = cap;
    }
    if (!(ps->v[ps->n] = strdup (path)))
        return -1;
    ps->n++;
    return 0;
}

static void paths_free (struct paths *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        free (ps->v[i]);
    free (ps->v);
}

/* Add 'path' if it exists, else the rank files of prefix 'path'. */
static int expand (struct paths *ps, const char *path, loom_error_t *error)
{
    struct stat st;
    if (stat (path, &st) == 0)
        return paths_add (ps, path) < 0 ? loom_errset (error, ENOMEM, "out of memory")
                                        : 0;
    if (errno != ENOENT)
        return loom_errset (error, errno, "%s: %s", path, strerror (errno));
    glob_t g;
    char *pat = NULL;
    if (asprintf (&pat, "%s.*", path) < 0)
        return loom_errset (error, ENOMEM, "out of memory");
    int rc = glob (pat, 0, NULL, &g);
    free (pat);
    size_t found = 0;
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++) {
        if (!is_member (path, g.gl_pathv[i]))
            continue;
        if (paths_add (ps, g.gl_pathv[i]) < 0) {
            globfree (&g);
            return loom_errset (error, ENOMEM, "out of memory");
        }
        found++;
    }
    if (rc == 0)
        globfree (&g);
    if (!found)
        return loom_errset (error, ENOENT,
                            "%s: no such trace (no file, and no %s.rank* files)", path,
                            path);
    return 0;
}

loom_trace_t *
loom_trace_open_many (const char *const *paths, size_t n, loom_error_t *error)
{
    if (!paths || n == 0) {
        loom_errset (error, EINVAL, "no trace path");
        return NULL;
    }
    struct paths ps = {0};
    for (size_t i = 0; i < n; i++) {
        if (!paths[i] || !*paths[i]) {
            loom_errset (error, EINVAL, "empty trace path");
            goto error;
        }
        if (expand (&ps, paths[i], error) < 0)
            goto error;
    }
    /* Several processes come from rank files, or from merged job traces. */
    size_t cap = 0, bufcap = 0, len = 0;
    uint8_t *buf = NULL;
    loom_trace_t **parts = calloc (ps.n, sizeof (*parts));
    loom_trace_t *t = NULL;
    if (!parts) {
        loom_errset (error, ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < ps.n; i++) {
        if (read_file (ps.v[i], &buf, &bufcap, &len, error) < 0)
            goto done;
        parts[i] = parse_unfinished (buf, len, ps.v[i], error);
        if (!parts[i])
            goto done;
        cap += parts[i]->nprocs;
    }
    free (buf);
    buf = NULL;
    if (ps.n == 1) {
        t = parts[0];
        parts[0] = NULL;
    } else {
        /* Move every process into one job. */
        t = job_new (cap);
        if (!t) {
            loom_errset (error, ENOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < ps.n; i++) {
            for (size_t k = 0; k < parts[i]->nprocs; k++) {
                t->procs[t->nprocs++] = parts[i]->procs[k];
                memset (&parts[i]->procs[k], 0, sizeof (parts[i]->procs[k]));
            }
        }
    }
    if (finish_job (t, error) < 0) {
        loom_trace_close (t);
        t = NULL;
    }
done:
    for (size_t i = 0; parts && i < ps.n; i++)
        loom_trace_close (parts[i]);
    free (parts);
    free (buf);
    paths_free (&ps);
    return t;
error:
    paths_free (&ps);
    return NULL;
}

loom_trace_t *loom_trace_open (const char *path, loom_error_t *error)
{
    return loom_trace_open_many (&path, 1, error);
}

/* ---- accessors ---- */

uint64_t loom_trace_job_id (const loom_trace_t *t)
{
    return t ? t->trace_id : 0;
}

size_t loom_trace_nprocs (const loom_trace_t *t)
{
    return t ? t->nprocs : 0;
}

int loom_trace_proc (const loom_trace_t *t,
                     size_t proc,
                     struct loom_trace_proc_info *info)
{
    if (!t || proc >= t->nprocs || !info) {
        errno = EINVAL;
        return -1;
    }
    const struct trace_proc *p = &t->procs[proc];
    memset (info, 0, sizeof (*info));
    info->rank = p->hdr.rank;
    info->size = p->hdr.size;
    info->pid = p->hdr.pid;
    info->host = p->hdr.host;
    info->name = p->hdr.name;
    info->source = p->source;
    info->state = (int)p->hdr.state;
    info->signal = (int)p->hdr.signal;
    info->events = p->nev;
    info->dropped = p->hdr.dropped;
    info->ring = (p->hdr.flags & LOOM_TRACE_FLAG_RING) != 0;
    info->spans = loom__trace_spans (t, NULL) == 0 ? p->nspans : 0;
    info->start_ns = p->start;
    info->end_ns = p->end;
    return 0;
}

size_t loom_trace_nspans (const loom_trace_t *t, size_t proc)
{
    if (!t || proc >= t->nprocs || loom__trace_spans (t, NULL) < 0)
        return 0;
    return t->procs[proc].nspans;
}

static void fill_names (const struct trace_type *ty,
                        const char **category,
                        const char **name,
                        const char **argnames)
{
    *category = ty ? ty->category : "";
    *name = ty ? ty->name : "signal";
    for (int a = 0; a < 3; a++)
        argnames[a] = ty ? ty->args[a] : NULL;
}

int loom_trace_span (const loom_trace_t *t,
                     size_t proc,
                     size_t i,
                     struct loom_trace_span_info *info)
{
    if (t && loom__trace_spans (t, NULL) < 0)
        return -1;
    if (!t || proc >= t->nprocs || i >= t->procs[proc].nspans || !info) {
        errno = EINVAL;
        return -1;
    }
    const struct trace_proc *p = &t->procs[proc];
    const struct trace_span *s = &p->spans[i];
    const struct trace_type *ty = trace_type_of (p, s->type);
    memset (info, 0, sizeof (*info));
    fill_names (ty, &info->category, &info->name, info->argnames);
    info->nargs = ty ? ty->nargs : 0;
    for (int a = 0; a < 3; a++)
        info->args[a] = s->arg[a];
    info->start_ns = s->start;
    info->end_ns = s->end;
    info->id = s->id;
    info->parent = s->parent;
    info->tid = s->tid;
    info->unfinished = s->unfinished;
    return 0;
}

size_t loom_trace_nevents (const loom_trace_t *t, size_t proc)
{
    return t && proc < t->nprocs ? t->procs[proc].nev : 0;
}

int loom_trace_event (const loom_trace_t *t,
                      size_t proc,
                      size_t i,
                      struct loom_trace_event_info *info)
{
    if (!t || proc >= t->nprocs || i >= t->procs[proc].nev || !info) {
        errno = EINVAL;
        return -1;
    }
    const struct trace_proc *p = &t->procs[proc];
    const struct loom_trace_event *e = &p->ev[i];
    memset (info, 0, sizeof (*info));
    fill_names (trace_type_of (p, e->type), &info->category, &info->name,
                info->argnames);
    info->kind = e->kind;
    for (int a = 0; a < 3; a++)
        info->args[a] = e->arg[a];
    info->given = e->given;
    info->ts_ns = trace_ev_ns (p, e);
    info->span = e->span;
    info->parent = e->parent;
    info->tid = e->tid;
    return 0;
}
