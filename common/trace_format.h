/* SPDX-License-Identifier: MIT */
/* The on-disk form of a Loom trace (version 1). Private to common/: the writer
 * (trace.c) and the reader (trace_read.c) share it; docs/tracing.md describes it for
 * people. All integers are little-endian; a big-endian writer is refused by the reader
 * through 'byte_order'.
 *
 * A rank file is:
 *   [header: 4096 bytes][strings: strings_max x 64][types: types_max x 32][events...]
 * Events start at 'events_off' (page aligned) and are 48 bytes each. The file grows
 * in chunks of 'chunk_events' events, zero-filled, so a slot whose 'kind' is 0 was
 * never written (the tail of the last chunk, or a slot a killed thread had reserved).
 * String, type and event entries are written in full and then made valid by a
 * release store of their 'valid'/'kind' field, so a reader of a killed process's file
 * sees only complete entries.
 *
 * A merged job trace is a job header followed by the compacted files of every
 * process, each starting at a 4096-byte boundary.
 */
#ifndef LOOM_TRACE_FORMAT_H
#define LOOM_TRACE_FORMAT_H

#include <stdint.h>

#define LOOM_TRACE_MAGIC        "LOOMTRC\x1a" /* rank file */
#define LOOM_TRACE_JOB_MAGIC    "LOOMJOB\x1a" /* merged job trace */
#define LOOM_TRACE_VERSION      1
#define LOOM_TRACE_BYTE_ORDER   0x01020304u
#define LOOM_TRACE_HEADER_SIZE  4096u
#define LOOM_TRACE_STRING_SIZE  64u
#define LOOM_TRACE_STRING_MAX   55u /* bytes of text in an entry, without NUL */
#define LOOM_TRACE_TYPE_SIZE    32u
#define LOOM_TRACE_EVENT_SIZE   48u
#define LOOM_TRACE_STRINGS_MAX  8192u
#define LOOM_TRACE_TYPES_MAX    4096u
#define LOOM_TRACE_VALID_STRING 0x52545331u /* "1STR" */
#define LOOM_TRACE_VALID_TYPE   0x50595431u /* "1TYP" */

/* header.flags */
enum {
    LOOM_TRACE_FLAG_RING = 1, /* flight recorder: the event area wraps around; the
                                 reader orders slots by time; 'dropped' counts the
                                 events overwritten */
};

/* header.state */
enum {
    LOOM_TRACE_STATE_RUNNING = 0, /* still running, or killed without a chance to say */
    LOOM_TRACE_STATE_CLOSED = 1,  /* loom_trace_stop() or exit */
    LOOM_TRACE_STATE_SIGNALED = 2 /* a fatal signal arrived; header.signal says which */
};

struct loom_trace_header {
    char magic[8];
    uint32_t version;
    uint32_t byte_order;
    uint32_t header_size;
    uint32_t event_size;
    int32_t rank; /* -1 when not a rank */
    int32_t size; /* ranks in the job, -1 unknown */
    uint32_t pid;
    uint32_t flags; /* LOOM_TRACE_FLAG_* */
    uint64_t trace_id;
    uint64_t mono0; /* CLOCK_MONOTONIC ns at start: event times are on this clock */
    uint64_t real0; /* CLOCK_REALTIME ns at the same moment, to align nodes */
    uint64_t strings_off;
    uint32_t strings_max;
    uint32_t string_size;
    uint64_t types_off;
    uint32_t types_max;
    uint32_t type_size;
    uint64_t events_off;
    uint64_t chunk_events;
    /* Updated while running. */
    uint32_t state;
    uint32_t signal;
    uint64_t events;   /* slots used, set when closed (else scan to the end) */
    uint64_t dropped;  /* events lost to the size cap, set when closed */
    uint64_t mono_end; /* time of close or signal */
    char host[64];
    char name[64];
};

struct loom_trace_string {
    uint32_t valid; /* LOOM_TRACE_VALID_STRING once written */
    uint32_t len;
    char text[56]; /* NUL-terminated */
};

struct loom_trace_typedef {
    uint32_t valid; /* LOOM_TRACE_VALID_TYPE once written */
    uint32_t nargs;
    uint32_t category; /* string ids (1-based; 0 none) */
    uint32_t name;
    uint32_t args[3];
    uint32_t reserved;
};

struct loom_trace_event {
    uint64_t ts;     /* CLOCK_MONOTONIC ns */
    uint32_t span;   /* BEGIN/END: this span's id; others: the enclosing span */
    uint32_t parent; /* BEGIN: the parent span (0 none) */
    uint16_t type;   /* type id (1-based index into the type table); 0 for SIGNAL */
    uint8_t kind;    /* LOOM__TRACE_K_*; 0 = slot never written */
    uint8_t given;   /* bit i set: arg[i] was given (END overrides only those) */
    uint32_t tid;    /* OS thread id */
    uint64_t arg[3];
};

struct loom_trace_job_header {
    char magic[8];
    uint32_t version;
    uint32_t byte_order;
    uint32_t nprocs;
    uint32_t reserved;
    uint64_t trace_id;
    /* followed by nprocs x { uint64_t offset, uint64_t length } of each process file */
};

_Static_assert(sizeof (struct loom_trace_header) <= LOOM_TRACE_HEADER_SIZE, "header");
_Static_assert(sizeof (struct loom_trace_string) == LOOM_TRACE_STRING_SIZE, "string");
_Static_assert(sizeof (struct loom_trace_typedef) == LOOM_TRACE_TYPE_SIZE, "type");
_Static_assert(sizeof (struct loom_trace_event) == LOOM_TRACE_EVENT_SIZE, "event");

#endif
