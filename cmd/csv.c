/* SPDX-License-Identifier: MIT */
/* RFC 4180 CSV: fields separated by commas, records by CRLF or LF; a field in double
 * quotes may hold commas, newlines and doubled quotes. Anything else is an error,
 * not a guess: a bad line must be reported, not imported as something else.
 */
#include <stdlib.h>
#include <string.h>

#include "csv.h"

void csv_init (struct csv_reader *r, const char *buf, size_t len)
{
    memset (r, 0, sizeof (*r));
    r->p = buf;
    r->end = buf + len;
}

void csv_free (struct csv_reader *r)
{
    free (r->scratch);
    free (r->fields);
    r->scratch = NULL;
    r->fields = NULL;
}

static int put (struct csv_reader *r, size_t *used, char c)
{
    if (*used == r->scratch_cap) {
        size_t cap = r->scratch_cap ? 2 * r->scratch_cap : 256;
        char *p = realloc (r->scratch, cap);
        if (!p)
            return -1;
        r->scratch = p;
        r->scratch_cap = cap;
    }
    r->scratch[(*used)++] = c;
    return 0;
}

int csv_next (struct csv_reader *r, struct csv_field **fields, const char **why)
{
    /* Skip blank lines. */
    while (r->p < r->end && (*r->p == '\n' || *r->p == '\r')) {
        if (*r->p == '\n')
            r->physical++;
        r->p++;
    }
    if (r->p >= r->end)
        return 0;
    r->line = ++r->physical;
    size_t used = 0, nf = 0;
    /* Field starts in scratch, recorded as offsets first (scratch may move). */
    size_t starts[1024];
    size_t maxf = sizeof (starts) / sizeof (starts[0]) - 1;
    for (;;) {
        if (nf == maxf) {
            *why = "more than 1023 fields";
            return -1;
        }
        starts[nf++] = used;
        if (r->p < r->end && *r->p == '"') {
            r->p++;
            for (;;) {
                if (r->p >= r->end) {
                    *why = "unterminated quoted field";
                    return -1;
                }
                char c = *r->p++;
                if (c == '"') {
                    if (r->p < r->end && *r->p == '"') {
                        r->p++;
                    } else {
                        break;
                    }
                }
                if (c == '\n')
                    r->physical++;
                if (put (r, &used, c) < 0) {
                    *why = "out of memory";
                    return -1;
                }
            }
            if (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r') {
                *why = "text after a closing quote";
                return -1;
            }
        } else {
            while (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r') {
                if (*r->p == '"') {
                    *why = "quote inside an unquoted field";
                    return -1;
                }
                if (put (r, &used, *r->p++) < 0) {
                    *why = "out of memory";
                    return -1;
                }
            }
        }
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == '\r') {
            r->p++;
            if (r->p < r->end && *r->p != '\n') {
                *why = "carriage return inside a record";
                return -1;
            }
        }
        if (r->p < r->end && *r->p == '\n')
            r->p++;
        break;
    }
    starts[nf] = used;
    if (nf > r->fields_cap) {
        struct csv_field *f = realloc (r->fields, nf * sizeof (*f));
        if (!f) {
            *why = "out of memory";
            return -1;
        }
        r->fields = f;
        r->fields_cap = nf;
    }
    for (size_t i = 0; i < nf; i++) {
        r->fields[i].p = r->scratch ? r->scratch + starts[i] : "";
        r->fields[i].len = starts[i + 1] - starts[i];
    }
    *fields = r->fields;
    return (int)nf;
}
