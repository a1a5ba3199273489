/* SPDX-License-Identifier: MIT */
/* The edge-line parser of graph-build, on its own so a fuzz target can drive it. */
#ifndef LOOM_EDGE_PARSE_H
#define LOOM_EDGE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parse one line (len bytes at p, no newline; nothing is read outside it) of the form
 * "src dst [weight]": decimal u64 ids separated by spaces or tabs, '#' starting a
 * comment. With 'weighted', a third column is the weight (default 1.0); without it,
 * anything after dst is ignored. Returns 1 with *u, *v, *w set, 0 for a blank or
 * comment line, or -1 for a malformed line (*bad_at then points to where the edge
 * text starts and *bad_len is its length).
 */
int edge_parse (const char *p,
                size_t len,
                bool weighted,
                uint64_t *u,
                uint64_t *v,
                double *w,
                const char **bad_at,
                size_t *bad_len);

#endif
