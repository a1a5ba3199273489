/* SPDX-License-Identifier: MIT */
/* Build trace files with chosen times, for deterministic reader, summary and export
 * tests (the writer's times come from the clock). White-box: uses trace_format.h.
 */
#ifndef LOOM_TEST_SYNTH_H
#define LOOM_TEST_SYNTH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/trace.h>

#include "../../common/trace_format.h"

#define SYNTH_MAX_EVENTS 8192

struct synth {
    struct loom_trace_header h;
    char strings[256][56];
    uint32_t nstr;
    struct loom_trace_typedef types[64];
    uint32_t ntypes;
    struct loom_trace_event ev[SYNTH_MAX_EVENTS];
    uint32_t nev;
    uint32_t next_span;
};

static inline void synth_init (struct synth *s, int rank, int size, uint64_t trace_id)
{
    memset (s, 0, sizeof (*s));
    memcpy (s->h.magic, LOOM_TRACE_MAGIC, 8);
    s->h.version = LOOM_TRACE_VERSION;
    s->h.byte_order = LOOM_TRACE_BYTE_ORDER;
    s->h.header_size = LOOM_TRACE_HEADER_SIZE;
    s->h.event_size = LOOM_TRACE_EVENT_SIZE;
    s->h.string_size = LOOM_TRACE_STRING_SIZE;
    s->h.type_size = LOOM_TRACE_TYPE_SIZE;
    s->h.rank = rank;
    s->h.size = size;
    s->h.pid = 1000 + (uint32_t)(rank < 0 ? 99 : rank);
    s->h.trace_id = trace_id;
    s->h.mono0 = 5000000000ull;               /* the clock of this "process" */
    s->h.real0 = 1700000000000000000ull;      /* all on one node: same offset */
    s->h.real0 += s->h.mono0 - 5000000000ull; /* (kept explicit for clarity) */
    s->h.state = LOOM_TRACE_STATE_CLOSED;
    snprintf (s->h.host, sizeof (s->h.host), "node%d", rank < 0 ? 0 : rank / 2);
    snprintf (s->h.name, sizeof (s->h.name), "synth");
    s->next_span = 1;
}

static inline uint32_t synth_str (struct synth *s, const char *text)
{
    for (uint32_t i = 0; i < s->nstr; i++)
        if (strcmp (s->strings[i], text) == 0)
            return i + 1;
    snprintf (s->strings[s->nstr], 56, "%s", text);
    return ++s->nstr;
}

static inline uint16_t synth_type (struct synth *s,
                                   const char *cat,
                                   const char *name,
                                   const char *a0,
                                   const char *a1,
                                   const char *a2)
{
    struct loom_trace_typedef *d = &s->types[s->ntypes];
    memset (d, 0, sizeof (*d));
    d->valid = LOOM_TRACE_VALID_TYPE;
    d->category = synth_str (s, cat);
    d->name = synth_str (s, name);
    const char *a[3] = {a0, a1, a2};
    for (int i = 0; i < 3 && a[i]; i++) {
        d->args[i] = synth_str (s, a[i]);
        d->nargs = (uint32_t)i + 1;
    }
    return (uint16_t)++s->ntypes;
}

/* Time 'ns' after the process's start. */
static inline struct loom_trace_event *
synth_event (struct synth *s, int kind, uint16_t type, uint64_t ns)
{
    struct loom_trace_event *e = &s->ev[s->nev++];
    memset (e, 0, sizeof (*e));
    e->ts = s->h.mono0 + ns;
    e->kind = (uint8_t)kind;
    e->type = type;
    e->tid = s->h.pid;
    return e;
}

static inline uint32_t synth_span (struct synth *s,
                                   uint16_t type,
                                   uint32_t parent,
                                   uint64_t start,
                                   uint64_t end,
                                   uint64_t a0,
                                   uint64_t a1,
                                   uint64_t a2)
{
    uint32_t id = s->next_span++;
    struct loom_trace_event *b = synth_event (s, LOOM__TRACE_K_BEGIN, type, start);
    b->span = id;
    b->parent = parent;
    b->given = 7;
    b->arg[0] = a0;
    b->arg[1] = a1;
    b->arg[2] = a2;
    struct loom_trace_event *e = synth_event (s, LOOM__TRACE_K_END, type, end);
    e->span = id;
    return id;
}

/* The file image; caller frees. */
static inline uint8_t *synth_image (struct synth *s, size_t *len)
{
    struct loom_trace_header h = s->h;
    h.strings_off = LOOM_TRACE_HEADER_SIZE;
    h.strings_max = s->nstr;
    h.types_off = h.strings_off + (uint64_t)s->nstr * LOOM_TRACE_STRING_SIZE;
    h.types_max = s->ntypes;
    h.events_off = h.types_off + (uint64_t)s->ntypes * LOOM_TRACE_TYPE_SIZE;
    h.events = s->nev;
    *len = h.events_off + (size_t)s->nev * LOOM_TRACE_EVENT_SIZE;
    uint8_t *buf = calloc (1, *len);
    memcpy (buf, &h, sizeof (h));
    for (uint32_t i = 0; i < s->nstr; i++) {
        struct loom_trace_string e;
        memset (&e, 0, sizeof (e));
        e.valid = LOOM_TRACE_VALID_STRING;
        e.len = (uint32_t)strlen (s->strings[i]);
        memcpy (e.text, s->strings[i], e.len);
        memcpy (buf + h.strings_off + i * LOOM_TRACE_STRING_SIZE, &e, sizeof (e));
    }
    memcpy (buf + h.types_off, s->types, s->ntypes * sizeof (s->types[0]));
    memcpy (buf + h.events_off, s->ev, s->nev * sizeof (s->ev[0]));
    return buf;
}

static inline int synth_write (struct synth *s, const char *path)
{
    size_t len;
    uint8_t *buf = synth_image (s, &len);
    FILE *f = fopen (path, "wb");
    int ok = f && fwrite (buf, 1, len, f) == len;
    if (f)
        ok = fclose (f) == 0 && ok;
    free (buf);
    return ok ? 0 : -1;
}

#endif
