/* SPDX-License-Identifier: MIT */
/* Chrome trace-event JSON (what ui.perfetto.dev and chrome://tracing open).
 *
 * Streamed with stdio rather than built as a jansson tree: a job trace can hold tens
 * of millions of events, and the tree would need many times the trace's memory.
 * Every string from a trace file is escaped, bytes >= 0x80 as \u00XX, so the output
 * is valid JSON whatever the input held.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fopencookie */
#endif
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/trace.h>

#include "trace_internal.h"

#define NONRANK_PID_BASE 1000000

static void put_str (FILE *f, const char *s)
{
    fputc ('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf (f, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf (f, "\\u%04x", *p);
        else
            fputc (*p, f);
    }
    fputc ('"', f);
}

/* Nanoseconds as the microseconds the format wants, exactly. */
static void put_us (FILE *f, uint64_t ns)
{
    fprintf (f, "%" PRIu64 ".%03u", ns / 1000, (unsigned)(ns % 1000));
}

static void put_arg_value (FILE *f, const struct trace_proc *p, int kind, uint64_t v)
{
    switch (kind) {
    case ARG_I64:
        fprintf (f, "%" PRId64, (int64_t)v);
        break;
    case ARG_F64: {
        double d;
        memcpy (&d, &v, sizeof (d));
        if (d != d || d - d != 0) /* NaN or infinite: not JSON numbers */
            put_str (f, d != d ? "nan" : d > 0 ? "inf" : "-inf");
        else
            fprintf (f, "%.17g", d);
        break;
    }
    case ARG_STR:
        put_str (f, trace_str (p, v));
        break;
    default:
        fprintf (f, "%" PRIu64, v);
    }
}

static void put_args (FILE *f,
                      const struct trace_proc *p,
                      const struct trace_type *ty,
                      const uint64_t *arg,
                      unsigned given,
                      int unfinished)
{
    fputs (",\"args\":{", f);
    int first = 1;
    for (unsigned a = 0; ty && a < ty->nargs; a++) {
        if (!(given & (1u << a)))
            continue;
        if (!first)
            fputc (',', f);
        first = 0;
        put_str (f, ty->argname[a]);
        fputc (':', f);
        put_arg_value (f, p, ty->argkind[a], arg[a]);
    }
    if (unfinished)
        fprintf (f, "%s\"unfinished\":true", first ? "" : ",");
    fputc ('}', f);
}

static int proc_pid (const struct trace_proc *p, size_t i)
{
    return p->hdr.rank >= 0 ? p->hdr.rank : NONRANK_PID_BASE + (int)i;
}

struct out {
    FILE *f;
    int first;
    int64_t count;
};

/* Start one trace event object: the separator, then '{'. */
static FILE *ev_open (struct out *o)
{
    fputs (o->first ? "\n{" : ",\n{", o->f);
    o->first = 0;
    o->count++;
    return o->f;
}

static void put_meta (struct out *o, const struct trace_proc *p, int pid)
{
    char label[256];
    if (p->hdr.rank >= 0)
        snprintf (label, sizeof (label), "rank %d (%s@%s)", p->hdr.rank, p->hdr.name,
                  p->hdr.host);
    else
        snprintf (label, sizeof (label), "%s %u (%s)", p->hdr.name, p->hdr.pid,
                  p->hdr.host);
    FILE *f = ev_open (o);
    fprintf (f,
             "\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"process_name\",\"args\":{"
             "\"name\":",
             pid);
    put_str (f, label);
    fputs ("}}", f);
    f = ev_open (o);
    fprintf (f,
             "\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"name\":\"process_sort_index\","
             "\"args\":{\"sort_index\":%d}}",
             pid, pid);
    /* Name the threads: the main thread's tid is the pid. */
    uint32_t seen[64];
    size_t nseen = 0;
    for (size_t i = 0; i < p->nev && nseen < 64; i++) {
        uint32_t tid = p->ev[i].tid;
        size_t k = 0;
        while (k < nseen && seen[k] != tid)
            k++;
        if (k < nseen)
            continue;
        seen[nseen++] = tid;
        f = ev_open (o);
        fprintf (f,
                 "\"ph\":\"M\",\"pid\":%d,\"tid\":%u,\"name\":\"thread_name\","
                 "\"args\":{\"name\":",
                 pid, tid);
        char tname[32];
        snprintf (tname, sizeof (tname), tid == p->hdr.pid ? "main" : "thread %u", tid);
        put_str (f, tname);
        fputs ("}}", f);
    }
}

static int cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Flows drawn: those of at least 'min_bytes' that start in the window [from, to) and
 * end anywhere (an arrow needs both ends: a part of a split export carries the ends
 * of the arrows that start in it, even past its window). Their ids,
 * sorted; an arrow's JSON id is the index in this list (JSON readers lose integers
 * above 2^53, and flow ids use all 64 bits).
 */
static uint64_t *collect_flows (const loom_trace_t *t,
                                const struct loom_trace_export_params *prm,
                                uint64_t to,
                                size_t *n)
{
    size_t cap = 0;
    for (size_t i = 0; i < t->nprocs; i++)
        for (size_t j = 0; j < t->procs[i].nev; j++)
            cap += t->procs[i].ev[j].kind == LOOM__TRACE_K_FLOW_OUT
                   || t->procs[i].ev[j].kind == LOOM__TRACE_K_FLOW_IN;
    uint64_t *out = malloc ((cap ? cap : 1) * sizeof (*out));
    uint64_t *in = malloc ((cap ? cap : 1) * sizeof (*in));
    if (!out || !in) {
        free (out);
        free (in);
        return NULL;
    }
    size_t no = 0, ni = 0;
    for (size_t i = 0; i < t->nprocs; i++)
        for (size_t j = 0; j < t->procs[i].nev; j++) {
            const struct loom_trace_event *e = &t->procs[i].ev[j];
            uint64_t ts = trace_ev_ns (&t->procs[i], e);
            if (e->arg[2] < prm->min_flow_bytes)
                continue;
            if (e->kind == LOOM__TRACE_K_FLOW_OUT && ts >= prm->from_ns && ts < to)
                out[no++] = e->arg[0];
            else if (e->kind == LOOM__TRACE_K_FLOW_IN)
                in[ni++] = e->arg[0];
        }
    qsort (out, no, sizeof (*out), cmp_u64);
    qsort (in, ni, sizeof (*in), cmp_u64);
    size_t a = 0, b = 0, u = 0;
    while (a < no && b < ni) {
        if (out[a] < in[b]) {
            a++;
        } else if (out[a] > in[b]) {
            b++;
        } else {
            if (u == 0 || out[u - 1] != out[a])
                out[u++] = out[a];
            a++;
            b++;
        }
    }
    free (in);
    *n = u;
    return out;
}

/* 1 + the index of 'id' among the drawn flows, or 0 when it is not drawn. */
static size_t flow_index (const uint64_t *ids, size_t n, uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo] == id ? lo + 1 : 0;
}

static void put_event (struct out *o,
                       const struct trace_proc *p,
                       int pid,
                       const struct loom_trace_event *e,
                       const uint64_t *flows,
                       size_t nflows,
                       const struct loom_trace_export_params *prm)
{
    const struct trace_type *ty = trace_type_of (p, e->type);
    uint64_t ts = trace_ev_ns (p, e);
    FILE *f;
    switch (e->kind) {
    case LOOM__TRACE_K_INSTANT:
        if (prm->drop_instants)
            return;
        f = ev_open (o);
        fprintf (f, "\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,\"tid\":%u,\"ts\":", pid,
                 e->tid);
        put_us (f, ts);
        fputs (",\"name\":", f);
        put_str (f, ty->name);
        fputs (",\"cat\":", f);
        put_str (f, ty->category);
        put_args (f, p, ty, e->arg, e->given, 0);
        fputc ('}', f);
        return;
    case LOOM__TRACE_K_COUNTER:
        if (prm->drop_instants)
            return;
        f = ev_open (o);
        fprintf (f, "\"ph\":\"C\",\"pid\":%d,\"tid\":%u,\"ts\":", pid, e->tid);
        put_us (f, ts);
        fputs (",\"name\":", f);
        put_str (f, ty->name);
        fputs (",\"cat\":", f);
        put_str (f, ty->category);
        put_args (f, p, ty, e->arg, 1, 0);
        fputc ('}', f);
        return;
    case LOOM__TRACE_K_FLOW_OUT:
    case LOOM__TRACE_K_FLOW_IN: {
        size_t fid = flow_index (flows, nflows, e->arg[0]);
        if (!fid)
            return;
        f = ev_open (o);
        fprintf (f, "\"ph\":\"%s\",\"pid\":%d,\"tid\":%u,\"ts\":",
                 e->kind == LOOM__TRACE_K_FLOW_OUT ? "s" : "f\",\"bp\":\"e", pid,
                 e->tid);
        put_us (f, ts);
        fprintf (f, ",\"id\":%zu,\"name\":", fid);
        put_str (f, ty->name);
        fputs (",\"cat\":", f);
        put_str (f, ty->category);
        put_args (f, p, ty, e->arg, e->given, 0);
        fputc ('}', f);
        return;
    }
    case LOOM__TRACE_K_SIGNAL: {
        f = ev_open (o);
        fprintf (f, "\"ph\":\"i\",\"s\":\"p\",\"pid\":%d,\"tid\":%u,\"ts\":", pid,
                 e->tid);
        put_us (f, ts);
        char name[64];
        const char *abbrev = e->arg[0] < 65 ? sigabbrev_np ((int)e->arg[0]) : NULL;
        snprintf (name, sizeof (name), "signal %" PRIu64 " (SIG%s)", e->arg[0],
                  abbrev ? abbrev : "?");
        fputs (",\"name\":", f);
        put_str (f, name);
        fputs (",\"cat\":\"loom\",\"args\":{}}", f);
        return;
    }
    default:
        return; /* begins and ends are exported as spans */
    }
}

static int64_t export_to (const loom_trace_t *t,
                          const struct loom_trace_export_params *prm,
                          FILE *f,
                          loom_error_t *error)
{
    struct loom_trace_export_params def = LOOM_TRACE_EXPORT_PARAMS_INIT;
    if (!prm)
        prm = &def;
    if (!t || !f || (prm->to_ns && prm->to_ns <= prm->from_ns)) {
        loom_errset (error, EINVAL, "no trace, no output or an empty time window");
        return -1;
    }
    if (loom__trace_spans (t, error) < 0)
        return -1;
    uint64_t to = prm->to_ns ? prm->to_ns : UINT64_MAX;
    size_t nflows = 0;
    uint64_t *flows = collect_flows (t, prm, to, &nflows);
    if (!flows) {
        loom_errset (error, ENOMEM, "out of memory");
        return -1;
    }
    struct out o = {f, 1, 0};
    char id[17];
    fprintf (f,
             "{\"displayTimeUnit\":\"ns\",\"otherData\":{\"loom_trace_id\":\"%s\"},"
             "\"traceEvents\":[",
             loom_trace_id_format (t->trace_id, id));
    for (size_t i = 0; i < t->nprocs; i++) {
        const struct trace_proc *p = &t->procs[i];
        int pid = proc_pid (p, i);
        put_meta (&o, p, pid);
        for (size_t s = 0; s < p->nspans; s++) {
            const struct trace_span *sp = &p->spans[s];
            if (sp->end < prm->from_ns || sp->start >= to)
                continue;
            if (sp->end - sp->start < prm->min_span_ns)
                continue;
            const struct trace_type *ty = trace_type_of (p, sp->type);
            FILE *g = ev_open (&o);
            fprintf (g, "\"ph\":\"X\",\"pid\":%d,\"tid\":%u,\"ts\":", pid, sp->tid);
            put_us (g, sp->start);
            fputs (",\"dur\":", g);
            put_us (g, sp->end - sp->start);
            fputs (",\"name\":", g);
            put_str (g, ty->name);
            fputs (",\"cat\":", g);
            put_str (g, ty->category);
            put_args (g, p, ty, sp->arg, 7, sp->unfinished);
            fputc ('}', g);
        }
        for (size_t j = 0; j < p->nev; j++) {
            uint64_t ts = trace_ev_ns (p, &p->ev[j]);
            if ((ts >= prm->from_ns && ts < to)
                || p->ev[j].kind == LOOM__TRACE_K_FLOW_IN)
                put_event (&o, p, pid, &p->ev[j], flows, nflows, prm);
        }
    }
    fputs ("\n]}\n", f);
    free (flows);
    if (fflush (f) != 0 || ferror (f)) {
        loom_errset (error, EIO, "writing the JSON failed: %s", strerror (errno));
        errno = EIO;
        return -1;
    }
    return o.count;
}

int64_t loom_trace_export_json (const loom_trace_t *t,
                                const struct loom_trace_export_params *params,
                                FILE *out,
                                loom_error_t *error)
{
    return export_to (t, params, out, error);
}

static ssize_t count_write (void *cookie, const char *buf, size_t size)
{
    *(uint64_t *)cookie += size;
    return (ssize_t)size;
}

int64_t loom_trace_export_size (const loom_trace_t *t,
                                const struct loom_trace_export_params *params,
                                loom_error_t *error)
{
    uint64_t bytes = 0;
    cookie_io_functions_t io = {.write = count_write};
    FILE *f = fopencookie (&bytes, "w", io);
    if (!f) {
        loom_errset (error, ENOMEM, "out of memory");
        return -1;
    }
    int64_t n = export_to (t, params, f, error);
    fclose (f);
    return n < 0 ? -1 : (int64_t)bytes;
}

static int try_bounds (const loom_trace_t *t,
                       struct loom_trace_export_params prm,
                       const uint64_t *bounds,
                       size_t nparts,
                       uint64_t max_bytes,
                       int64_t *largest,
                       loom_error_t *error)
{
    *largest = 0;
    for (size_t i = 0; i < nparts; i++) {
        prm.from_ns = bounds[i];
        prm.to_ns = bounds[i + 1];
        int64_t sz = loom_trace_export_size (t, &prm, error);
        if (sz < 0)
            return -1;
        if (sz > *largest)
            *largest = sz;
    }
    return *largest <= (int64_t)max_bytes;
}

int loom_trace_export_plan (const loom_trace_t *t,
                            const struct loom_trace_export_params *params,
                            uint64_t max_bytes,
                            int split,
                            struct loom_trace_export_plan *plan,
                            loom_error_t *error)
{
    struct loom_trace_export_params prm = LOOM_TRACE_EXPORT_PARAMS_INIT;
    if (params)
        prm = *params;
    if (!t || !plan || max_bytes < 1024)
        return loom_errset (error, EINVAL, "no trace, or a size limit under 1 KiB");
    memset (plan, 0, sizeof (*plan));
    uint64_t end = 0;
    size_t nts = 0;
    for (size_t i = 0; i < t->nprocs; i++) {
        if (t->procs[i].end > end)
            end = t->procs[i].end;
        nts += t->procs[i].nev;
    }
    end += 1;
    int64_t size = loom_trace_export_size (t, &prm, error);
    if (size < 0)
        return -1;
    if (!split) {
        /* Downsample: drop ever longer spans until the file fits. */
        while (size > (int64_t)max_bytes) {
            if (prm.min_span_ns > end) {
                if (prm.drop_instants)
                    return loom_errset (error, E2BIG,
                                        "cannot fit under %" PRIu64
                                        " bytes even without spans and instants; use "
                                        "--split",
                                        max_bytes);
                prm.drop_instants = 1;
                prm.min_span_ns = params ? params->min_span_ns : 0;
            } else {
                prm.min_span_ns = prm.min_span_ns ? prm.min_span_ns * 2 : 1000;
            }
            size = loom_trace_export_size (t, &prm, error);
            if (size < 0)
                return -1;
        }
        plan->min_span_ns = prm.min_span_ns;
        plan->drop_instants = prm.drop_instants;
        plan->nparts = 1;
        plan->bounds = malloc (2 * sizeof (uint64_t));
        if (!plan->bounds)
            return loom_errset (error, ENOMEM, "out of memory");
        plan->bounds[0] = 0;
        plan->bounds[1] = end;
        plan->largest = size;
        return 0;
    }
    /* Split: windows holding about equal numbers of events. */
    uint64_t *ts = malloc ((nts ? nts : 1) * sizeof (*ts));
    if (!ts)
        return loom_errset (error, ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < t->nprocs; i++)
        for (size_t j = 0; j < t->procs[i].nev; j++)
            ts[k++] = trace_ev_ns (&t->procs[i], &t->procs[i].ev[j]);
    qsort (ts, k, sizeof (*ts), cmp_u64);
    size_t nparts = (size_t)((uint64_t)size / max_bytes) + 1;
    for (;;) {
        if (nparts > k + 1 || nparts > 100000) {
            free (ts);
            return loom_errset (error, E2BIG,
                                "cannot split into parts under %" PRIu64
                                " bytes (the spans of one moment are bigger)",
                                max_bytes);
        }
        uint64_t *b = calloc (nparts + 1, sizeof (*b));
        if (!b) {
            free (ts);
            return loom_errset (error, ENOMEM, "out of memory");
        }
        b[0] = 0;
        b[nparts] = end;
        for (size_t i = 1; i < nparts; i++) {
            b[i] = k ? ts[k * i / nparts] : end * i / nparts;
            if (b[i] <= b[i - 1])
                b[i] = b[i - 1] + 1;
        }
        int64_t largest;
        int fits = b[nparts - 1] < end
                       ? try_bounds (t, prm, b, nparts, max_bytes, &largest, error)
                       : 0;
        if (fits < 0) {
            free (b);
            free (ts);
            return -1;
        }
        if (fits) {
            free (ts);
            plan->min_span_ns = prm.min_span_ns;
            plan->nparts = nparts;
            plan->bounds = b;
            plan->largest = largest;
            return 0;
        }
        free (b);
        nparts = nparts * 2;
    }
}
