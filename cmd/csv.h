/* SPDX-License-Identifier: MIT */
/* A small RFC 4180 CSV reader over a buffer in memory (for `loom ds import`). */
#ifndef LOOM_CMD_CSV_H
#define LOOM_CMD_CSV_H

#include <stddef.h>

struct csv_field {
    const char *p; /* unquoted bytes (not NUL-terminated), valid until the next call */
    size_t len;
};

struct csv_reader {
    const char *p, *end;
    size_t line;     /* line where the record last returned starts (1-based) */
    size_t physical; /* lines consumed so far */
    char *scratch;
    size_t scratch_cap;
    struct csv_field *fields;
    size_t fields_cap;
};

/* Start reading 'len' bytes at 'buf' (not copied; must outlive the reader). */
void csv_init (struct csv_reader *r, const char *buf, size_t len);

/* Next record: returns its number of fields (>= 1) and sets *fields, 0 at the end of
 * input, or -1 with 'why' set to a static reason (bad quoting, out of memory). Blank
 * lines are skipped. Both "\n" and "\r\n" end a record.
 */
int csv_next (struct csv_reader *r, struct csv_field **fields, const char **why);

void csv_free (struct csv_reader *r);

#endif
