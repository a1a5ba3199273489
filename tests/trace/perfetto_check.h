/* SPDX-License-Identifier: MIT */
/* A validator for Chrome trace-event JSON as Loom writes it (and Perfetto reads it). */
#ifndef LOOM_TEST_PERFETTO_CHECK_H
#define LOOM_TEST_PERFETTO_CHECK_H

#include <stddef.h>

struct perfetto_stats {
    size_t events, slices, instants, counters, flows_out, flows_in, meta;
    size_t processes;     /* distinct pids named by a process_name record */
    size_t flows_matched; /* ids with both an "s" and an "f" */
    double max_end_us;    /* latest ts + dur */
};

/* Check the JSON document 'text' (NUL-terminated). Returns 0 when valid, or -1 with a
 * one-line reason in 'why'.
 */
int perfetto_check (const char *text,
                    struct perfetto_stats *st,
                    char *why,
                    size_t whylen);

#endif
