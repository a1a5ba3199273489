/* SPDX-License-Identifier: MIT */
/* In-memory form of a read trace, shared by trace_read.c (parsing), trace_merge.c,
 * trace_export.c and trace_summary.c.
 */
#ifndef LOOM_TRACE_INTERNAL_H
#define LOOM_TRACE_INTERNAL_H

#include <loom/trace_tools.h>

#include "trace_format.h"

enum { ARG_U64 = 0, ARG_I64 = 1, ARG_F64 = 2, ARG_STR = 3 };

struct trace_type {
    const char *category, *name;
    const char *args[3]; /* declared names (with suffix), NULL when unused */
    char argname[3][56]; /* without the suffix */
    int argkind[3];      /* ARG_* */
    unsigned nargs;
    struct loom_trace_typedef def; /* as read, to write the type back when merging */
};

struct trace_span {
    uint64_t start, end; /* ns from job start */
    uint32_t type, id, parent, tid;
    uint64_t arg[3];
    int unfinished;
};

struct trace_proc {
    struct loom_trace_header hdr;
    char *source;
    char **strings; /* strings[id - 1] */
    uint32_t nstrings;
    struct trace_type *types; /* types[id - 1] */
    uint32_t ntypes;
    struct loom_trace_event *ev; /* time order; ts as written (monotonic) */
    size_t nev;
    int64_t to_job; /* job ns = ts + to_job */
    struct trace_span *spans;
    size_t nspans;
    uint64_t start, end; /* job ns */
};

struct loom_trace {
    struct trace_proc *procs;
    size_t nprocs;
    uint64_t trace_id;
    int spans_built; /* spans are matched on first use: merging needs none */
};

static inline uint64_t trace_ev_ns (const struct trace_proc *p,
                                    const struct loom_trace_event *e)
{
    int64_t v = (int64_t)e->ts + p->to_job;
    return v < 0 ? 0 : (uint64_t)v;
}

/* The string 'id' of 'p', or "?" when it is not in the table. */
static inline const char *trace_str (const struct trace_proc *p, uint64_t id)
{
    return id >= 1 && id <= p->nstrings ? p->strings[id - 1] : "?";
}

/* The type of an event or span, or NULL (signal events have none). */
static inline const struct trace_type *trace_type_of (const struct trace_proc *p,
                                                      uint32_t type)
{
    return type >= 1 && type <= p->ntypes ? &p->types[type - 1] : NULL;
}

/* Match every process's span begins and ends, once. 't' is logically const: this
 * only fills a cache. Returns 0, or -1 with errno ENOMEM.
 */
int loom__trace_spans (const loom_trace_t *t, loom_error_t *error);

/* Index of the argument called 'name' (suffix ignored) in 't', or -1. */
int loom__trace_arg_index (const struct trace_type *t, const char *name);

#endif
