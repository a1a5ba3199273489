/* SPDX-License-Identifier: MIT */
/* `loom trace summary`: the view a scientist reads first. Phases are span types
 * (category + name); a rank's time in a phase is the sum of its spans of that type.
 * Stragglers are explained with the conventional arguments (records, bytes, spill,
 * messages, vertices) compared with the median of the other ranks.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* open_memstream, sigabbrev_np */
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/trace.h>

#include "trace_internal.h"

/* Arguments summed per rank and used to explain stragglers. */
static const char *const metrics[] = {"records", "bytes", "spill", "messages",
                                      "vertices"};
#define NMETRICS (sizeof (metrics) / sizeof (metrics[0]))
enum { M_RECORDS, M_BYTES, M_SPILL };

struct cell { /* one phase on one process */
    uint64_t time, count;
    uint64_t sum[NMETRICS];
};

struct phase {
    const char *category, *name;
    uint64_t first;     /* earliest start, to list phases in job order */
    struct cell *cells; /* per process */
    int has_partition;
};

struct part { /* one span with a partition argument */
    size_t phase;
    uint64_t partition, time, records, bytes;
    int rank;
};

static void fmt_time (char *buf, size_t n, double ns)
{
    if (ns >= 1e9)
        snprintf (buf, n, "%.3f s", ns / 1e9);
    else if (ns >= 1e6)
        snprintf (buf, n, "%.1f ms", ns / 1e6);
    else
        snprintf (buf, n, "%.0f us", ns / 1e3);
}

static void fmt_bytes (char *buf, size_t n, double b)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf (buf, n, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

static int cmp_double (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median (double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort (v, n, sizeof (*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int cmp_phase_first (const void *a, const void *b)
{
    const struct phase *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

static int cmp_part (const void *a, const void *b)
{
    const struct part *x = a, *y = b;
    if (x->phase != y->phase)
        return x->phase < y->phase ? -1 : 1;
    return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static int cmp_part_time_desc (const void *a, const void *b)
{
    const struct part *x = a, *y = b;
    return x->time > y->time ? -1 : x->time < y->time;
}

static const char *proc_label (const struct trace_proc *p, char *buf, size_t n)
{
    if (p->hdr.rank >= 0)
        snprintf (buf, n, "rank %d", p->hdr.rank);
    else
        snprintf (buf, n, "%s %u", p->hdr.name, p->hdr.pid);
    return buf;
}

/* Phases: one per (category, name) across processes. Returns the count, or -1. */
static ssize_t collect_phases (const loom_trace_t *t, struct phase **out)
{
    size_t n = 0, cap = 16;
    struct phase *ph = calloc (cap, sizeof (*ph));
    if (!ph)
        return -1;
    for (size_t i = 0; i < t->nprocs; i++) {
        const struct trace_proc *p = &t->procs[i];
        /* Map this process's type ids to phases, and its metric argument slots. */
        ssize_t *map = malloc ((p->ntypes + 1) * sizeof (*map));
        int (*mslot)[NMETRICS] = malloc ((p->ntypes + 1) * sizeof (*mslot));
        if (!map || !mslot) {
            free (map);
            free (mslot);
            goto nomem;
        }
        for (uint32_t ty = 1; ty <= p->ntypes; ty++) {
            const struct trace_type *tt = &p->types[ty - 1];
            map[ty] = -1;
            for (size_t m = 0; m < NMETRICS; m++)
                mslot[ty][m] = loom__trace_arg_index (tt, metrics[m]);
        }
        for (size_t s = 0; s < p->nspans; s++) {
            const struct trace_span *sp = &p->spans[s];
            if (map[sp->type] < 0) {
                const struct trace_type *tt = &p->types[sp->type - 1];
                size_t k = 0;
                while (k < n
                       && (strcmp (ph[k].category, tt->category) != 0
                           || strcmp (ph[k].name, tt->name) != 0))
                    k++;
                if (k == n) {
                    if (n == cap) {
                        struct phase *np = realloc (ph, 2 * cap * sizeof (*ph));
                        if (!np) {
                            free (map);
                            free (mslot);
                            goto nomem;
                        }
                        ph = np;
                        memset (ph + cap, 0, cap * sizeof (*ph));
                        cap *= 2;
                    }
                    ph[n].category = tt->category;
                    ph[n].name = tt->name;
                    ph[n].first = UINT64_MAX;
                    ph[n].cells = calloc (t->nprocs, sizeof (struct cell));
                    if (!ph[n].cells) {
                        free (map);
                        free (mslot);
                        goto nomem;
                    }
                    n++;
                }
                map[sp->type] = (ssize_t)k;
                if (loom__trace_arg_index (tt, "partition") >= 0)
                    ph[k].has_partition = 1;
            }
            struct phase *f = &ph[map[sp->type]];
            struct cell *c = &f->cells[i];
            c->time += sp->end - sp->start;
            c->count++;
            for (size_t m = 0; m < NMETRICS; m++)
                if (mslot[sp->type][m] >= 0)
                    c->sum[m] += sp->arg[mslot[sp->type][m]];
            if (sp->start < f->first)
                f->first = sp->start;
        }
        free (map);
        free (mslot);
    }
    qsort (ph, n, sizeof (*ph), cmp_phase_first);
    *out = ph;
    return (ssize_t)n;
nomem:
    for (size_t k = 0; k < n; k++)
        free (ph[k].cells);
    free (ph);
    return -1;
}

/* Median over the ranks that ran phase 'ph', leaving out process 'who' (a straggler
 * is compared with the others: with two ranks, a median including itself would
 * halve every ratio). 'metric' is an index into metrics[], or -1 for the time.
 */
static double others_median (const struct phase *ph,
                             const int *ranks,
                             size_t nr,
                             size_t who,
                             int metric,
                             double *scratch)
{
    size_t n = 0;
    for (size_t r = 0; r < nr; r++) {
        const struct cell *c = &ph->cells[ranks[r]];
        if (c->count && (size_t)ranks[r] != who)
            scratch[n++] = metric < 0 ? (double)c->time : (double)c->sum[metric];
    }
    return median (scratch, n);
}

static void explain (FILE *f,
                     const struct phase *phases,
                     size_t nph,
                     const struct phase *ph,
                     const int *ranks,
                     size_t nr,
                     size_t who,
                     double *scratch)
{
    int said = 0;
    for (size_t m = 0; m < NMETRICS; m++) {
        double med = others_median (ph, ranks, nr, who, (int)m, scratch);
        double mine = (double)ph->cells[who].sum[m];
        char a[32], b[32];
        if (m == M_BYTES || m == M_SPILL) {
            fmt_bytes (a, sizeof (a), mine);
            fmt_bytes (b, sizeof (b), med);
        } else {
            snprintf (a, sizeof (a), "%.0f", mine);
            snprintf (b, sizeof (b), "%.0f", med);
        }
        if (m == M_SPILL && mine > 0 && med == 0) {
            fprintf (f, "%s spilled %s to disk (the others: none)", said ? ";" : "", a);
            said = 1;
        } else if (med > 0 && mine >= 1.2 * med) {
            fprintf (f, "%s %.1fx %s (%s vs %s)", said ? ";" : "", mine / med,
                     m == M_SPILL ? "spill" : metrics[m], a, b);
            said = 1;
        }
    }
    if (said)
        return;
    /* A phase without data arguments (a whole job, a superstep) is explained by the
     * phase inside it where this rank lost the most time against the others.
     */
    int has_data = 0;
    for (size_t r = 0; r < nr && !has_data; r++)
        for (size_t m = 0; m < NMETRICS; m++)
            has_data |= ph->cells[ranks[r]].sum[m] != 0;
    const struct phase *best = NULL;
    double best_excess = 0;
    for (size_t k = 0; !has_data && k < nph; k++) {
        const struct phase *q = &phases[k];
        /* Only phases that can lie inside this one on this rank: they start no
         * earlier and take no longer. */
        if (q == ph || !q->cells[who].count || q->first < ph->first
            || q->cells[who].time > ph->cells[who].time)
            continue;
        double excess =
            (double)q->cells[who].time - others_median (q, ranks, nr, who, -1, scratch);
        if (excess > best_excess) {
            best_excess = excess;
            best = q;
        }
    }
    char a[32];
    double mine = (double)ph->cells[who].time;
    if (best
        && best_excess
               > 0.5 * (mine - others_median (ph, ranks, nr, who, -1, scratch))) {
        fmt_time (a, sizeof (a), best_excess);
        fprintf (f, " most of it in %s.%s (%s more than the others' median)",
                 best->category, best->name, a);
    } else {
        fputs (" no more records, bytes or spill than the others: look at its node"
               " (placement, contention)",
               f);
    }
}

char *loom_trace_summary (const loom_trace_t *t,
                          const struct loom_trace_summary_params *params,
                          loom_error_t *error)
{
    struct loom_trace_summary_params prm = LOOM_TRACE_SUMMARY_PARAMS_INIT;
    if (params)
        prm = *params;
    if (!t || !(prm.straggler > 0)) {
        loom_errset (error, EINVAL, "no trace, or a straggler threshold <= 0");
        return NULL;
    }
    if (loom__trace_spans (t, error) < 0)
        return NULL;
    char *text = NULL, a[64], b[64], c[64], lbl[96];
    size_t len = 0;
    FILE *f = open_memstream (&text, &len);
    struct phase *ph = NULL;
    struct part *parts = NULL;
    int *ranks = malloc ((t->nprocs + 1) * sizeof (*ranks));
    double *v = malloc ((t->nprocs + 1) * sizeof (*v));
    ssize_t nph = f && ranks && v ? collect_phases (t, &ph) : -1;
    if (nph < 0)
        goto nomem;

    /* Who is in the job, how long it ran, who died. */
    uint64_t end = 0;
    size_t nranks = 0;
    int size = -1;
    for (size_t i = 0; i < t->nprocs; i++) {
        if (t->procs[i].end > end)
            end = t->procs[i].end;
        nranks += t->procs[i].hdr.rank >= 0;
        if (t->procs[i].hdr.size > size)
            size = t->procs[i].hdr.size;
    }
    char id[17];
    fmt_time (a, sizeof (a), (double)end);
    fprintf (f, "Job trace %s: %zu rank%s", loom_trace_id_format (t->trace_id, id),
             nranks, nranks == 1 ? "" : "s");
    if (t->nprocs > nranks)
        fprintf (f, " + %zu other process%s", t->nprocs - nranks,
                 t->nprocs - nranks == 1 ? "" : "es");
    fprintf (f, ", %s\n", a);
    if (size > 0 && (size_t)size > nranks) {
        fprintf (f, "Missing: %d of %d ranks left no trace:", size - (int)nranks, size);
        for (int r = 0, k = 0; r < size; r++) {
            while (k < (int)t->nprocs && t->procs[k].hdr.rank >= 0
                   && t->procs[k].hdr.rank < r)
                k++;
            if (k >= (int)t->nprocs || t->procs[k].hdr.rank != r)
                fprintf (f, " %d", r);
        }
        fputc ('\n', f);
    }
    for (size_t i = 0; i < t->nprocs; i++) {
        const struct trace_proc *p = &t->procs[i];
        proc_label (p, lbl, sizeof (lbl));
        if (p->hdr.state == LOOM_TRACE_STATE_SIGNALED) {
            const char *ab =
                p->hdr.signal < 65 ? sigabbrev_np ((int)p->hdr.signal) : NULL;
            fprintf (f, "Died: %s (pid %u on %s) died of signal %u (SIG%s)\n", lbl,
                     p->hdr.pid, p->hdr.host, p->hdr.signal, ab ? ab : "?");
        } else if (p->hdr.state == LOOM_TRACE_STATE_RUNNING) {
            fprintf (f,
                     "Died: %s (pid %u on %s) never closed its trace: killed "
                     "(SIGKILL, out of memory) or still running\n",
                     lbl, p->hdr.pid, p->hdr.host);
        }
        if (p->hdr.dropped && (p->hdr.flags & LOOM_TRACE_FLAG_RING))
            fprintf (f,
                     "Ring: %s kept its last events only (flight recorder): %" PRIu64
                     " older events overwritten\n",
                     lbl, p->hdr.dropped);
        else if (p->hdr.dropped)
            fprintf (f, "Dropped: %s lost %" PRIu64 " events to the trace size cap\n",
                     lbl, p->hdr.dropped);
    }

    /* The processes compared: the ranks, or every process when there are none. */
    size_t nr = 0;
    for (size_t i = 0; i < t->nprocs; i++)
        if (t->procs[i].hdr.rank >= 0 || nranks == 0)
            ranks[nr++] = (int)i;

    fprintf (f, "\nPhases (time per rank: min / median / max; max on which rank):\n");
    fprintf (f, "  %-32s %5s %8s %10s %10s %10s  %-9s %10s %12s\n", "phase", "ranks",
             "spans", "min", "median", "max", "slowest", "records", "bytes");
    for (ssize_t k = 0; k < nph; k++) {
        size_t n = 0, worst = SIZE_MAX;
        uint64_t spans = 0, recs = 0, bytes = 0;
        for (size_t r = 0; r < nr; r++) {
            const struct cell *cl = &ph[k].cells[ranks[r]];
            if (!cl->count)
                continue;
            v[n++] = (double)cl->time;
            spans += cl->count;
            recs += cl->sum[M_RECORDS];
            bytes += cl->sum[M_BYTES];
            if (worst == SIZE_MAX || cl->time > ph[k].cells[worst].time)
                worst = (size_t)ranks[r];
        }
        if (n == 0)
            continue;
        double med = median (v, n);
        char full[128];
        snprintf (full, sizeof (full), "%s.%s", ph[k].category, ph[k].name);
        fmt_time (a, sizeof (a), v[0]);
        fmt_time (b, sizeof (b), med);
        fmt_time (c, sizeof (c), v[n - 1]);
        char bb[32];
        fmt_bytes (bb, sizeof (bb), (double)bytes);
        fprintf (f,
                 "  %-32s %5zu %8" PRIu64 " %10s %10s %10s  %-9s %10" PRIu64 " %12s\n",
                 full, n, spans, a, b, c,
                 proc_label (&t->procs[worst], lbl, sizeof (lbl)), recs, bb);
    }

    fprintf (f,
             "\nStragglers (more than %.0f%% over the other ranks' median time in a "
             "phase):\n",
             prm.straggler * 100);
    int any = 0;
    for (ssize_t k = 0; k < nph; k++) {
        for (size_t r = 0; r < nr; r++) {
            const struct cell *cl = &ph[k].cells[ranks[r]];
            if (!cl->count)
                continue;
            double med = others_median (&ph[k], ranks, nr, (size_t)ranks[r], -1, v);
            if (!(med > 0) || med < (double)prm.min_phase_ns
                || (double)cl->time <= med * (1 + prm.straggler))
                continue;
            fmt_time (a, sizeof (a), (double)cl->time);
            fmt_time (b, sizeof (b), med);
            fprintf (
                f, "  %s.%s: %s took %s, %.1fx the others' median %s:", ph[k].category,
                ph[k].name, proc_label (&t->procs[ranks[r]], lbl, sizeof (lbl)), a,
                (double)cl->time / med, b);
            explain (f, ph, (size_t)nph, &ph[k], ranks, nr, (size_t)ranks[r], v);
            fputc ('\n', f);
            any = 1;
        }
    }
    if (!any)
        fprintf (f, "  none\n");

    /* Partitions: every span with a 'partition' argument. */
    size_t npart = 0, cap = 0;
    for (size_t i = 0; i < t->nprocs; i++)
        cap += t->procs[i].nspans;
    parts = malloc ((cap ? cap : 1) * sizeof (*parts));
    if (!parts)
        goto nomem;
    for (ssize_t k = 0; k < nph; k++) {
        if (!ph[k].has_partition)
            continue;
        for (size_t i = 0; i < t->nprocs; i++) {
            const struct trace_proc *p = &t->procs[i];
            for (size_t s = 0; s < p->nspans; s++) {
                const struct trace_span *sp = &p->spans[s];
                const struct trace_type *tt = &p->types[sp->type - 1];
                if (strcmp (tt->name, ph[k].name) != 0
                    || strcmp (tt->category, ph[k].category) != 0)
                    continue;
                int pi = loom__trace_arg_index (tt, "partition");
                if (pi < 0)
                    continue;
                int ri = loom__trace_arg_index (tt, "records");
                int bi = loom__trace_arg_index (tt, "bytes");
                parts[npart++] = (struct part){(size_t)k,
                                               sp->arg[pi],
                                               sp->end - sp->start,
                                               ri >= 0 ? sp->arg[ri] : 0,
                                               bi >= 0 ? sp->arg[bi] : 0,
                                               p->hdr.rank};
            }
        }
    }
    /* One entry per (phase, partition): a partition read in pieces adds up. */
    qsort (parts, npart, sizeof (*parts), cmp_part);
    size_t nu = 0;
    for (size_t i = 0; i < npart; i++) {
        if (nu && parts[nu - 1].phase == parts[i].phase
            && parts[nu - 1].partition == parts[i].partition) {
            parts[nu - 1].time += parts[i].time;
            parts[nu - 1].records += parts[i].records;
            parts[nu - 1].bytes += parts[i].bytes;
        } else {
            parts[nu++] = parts[i];
        }
    }
    if (nu) {
        fprintf (f, "\nPartition skew (max / median over partitions):\n");
        double *pv = malloc (nu * sizeof (*pv));
        if (!pv)
            goto nomem;
        for (size_t i = 0; i < nu;) {
            size_t j = i;
            while (j < nu && parts[j].phase == parts[i].phase)
                j++;
            size_t n = j - i, tmax = i, rmax = i;
            for (size_t q = i; q < j; q++) {
                if (parts[q].time > parts[tmax].time)
                    tmax = q;
                if (parts[q].records > parts[rmax].records)
                    rmax = q;
            }
            for (size_t q = 0; q < n; q++)
                pv[q] = (double)parts[i + q].time;
            double tmed = median (pv, n);
            for (size_t q = 0; q < n; q++)
                pv[q] = (double)parts[i + q].records;
            double rmed = median (pv, n);
            const struct phase *p = &ph[parts[i].phase];
            fprintf (f, "  %s.%s: %zu partitions; time %.2fx (partition %" PRIu64 ")",
                     p->category, p->name, n,
                     tmed > 0 ? (double)parts[tmax].time / tmed : 1.0,
                     parts[tmax].partition);
            if (parts[rmax].records)
                fprintf (f, "; records %.2fx (partition %" PRIu64 ")",
                         rmed > 0 ? (double)parts[rmax].records / rmed : 1.0,
                         parts[rmax].partition);
            fputc ('\n', f);
            i = j;
        }
        free (pv);
        qsort (parts, nu, sizeof (*parts), cmp_part_time_desc);
        fprintf (f, "\nSlowest partitions:\n");
        for (size_t i = 0; i < nu && i < prm.top_partitions; i++) {
            const struct phase *p = &ph[parts[i].phase];
            fmt_time (a, sizeof (a), (double)parts[i].time);
            fmt_bytes (b, sizeof (b), (double)parts[i].bytes);
            fprintf (f, "  %s.%s partition %" PRIu64 ": %s, %" PRIu64 " records, %s",
                     p->category, p->name, parts[i].partition, a, parts[i].records, b);
            if (parts[i].rank >= 0)
                fprintf (f, " (rank %d)", parts[i].rank);
            fputc ('\n', f);
        }
    }

    /* Bytes moved: transfers between ranks (flows) and bytes per phase. */
    uint64_t flow_bytes = 0, nflows = 0;
    for (size_t i = 0; i < t->nprocs; i++)
        for (size_t j = 0; j < t->procs[i].nev; j++)
            if (t->procs[i].ev[j].kind == LOOM__TRACE_K_FLOW_OUT) {
                flow_bytes += t->procs[i].ev[j].arg[2];
                nflows++;
            }
    fprintf (f, "\nBytes moved:\n");
    fmt_bytes (a, sizeof (a), (double)flow_bytes);
    fprintf (f, "  between ranks (traced transfers): %s in %" PRIu64 " transfers\n", a,
             nflows);
    for (ssize_t k = 0; k < nph; k++) {
        uint64_t bytes = 0, spill = 0;
        for (size_t i = 0; i < t->nprocs; i++) {
            bytes += ph[k].cells[i].sum[M_BYTES];
            spill += ph[k].cells[i].sum[M_SPILL];
        }
        if (!bytes && !spill)
            continue;
        fmt_bytes (a, sizeof (a), (double)bytes);
        fprintf (f, "  %s.%s: %s", ph[k].category, ph[k].name, a);
        if (spill) {
            fmt_bytes (b, sizeof (b), (double)spill);
            fprintf (f, ", %s spilled", b);
        }
        fputc ('\n', f);
    }

    for (ssize_t k = 0; k < nph; k++)
        free (ph[k].cells);
    free (ph);
    free (parts);
    free (ranks);
    free (v);
    if (fclose (f) != 0) {
        free (text);
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    return text;
nomem:
    if (nph > 0)
        for (ssize_t k = 0; k < nph; k++)
            free (ph[k].cells);
    free (ph);
    free (parts);
    free (ranks);
    free (v);
    if (f)
        fclose (f);
    free (text);
    loom_errset (error, ENOMEM, "out of memory");
    return NULL;
}
