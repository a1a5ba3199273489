/* SPDX-License-Identifier: MIT */
/* Fuzz target: the CSV reader of `loom ds import` (cmd/csv.c). Every field it returns
 * must lie inside its scratch buffer, and it must stop.
 */
#include <stdint.h>
#include <stdlib.h>

#include "csv.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    struct csv_reader r;
    csv_init (&r, (const char *)data, size);
    struct csv_field *fields;
    const char *why;
    int n;
    size_t records = 0, bytes = 0;
    while ((n = csv_next (&r, &fields, &why)) > 0) {
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < fields[i].len; k++)
                bytes += (unsigned char)fields[i].p[k]; /* touch every byte */
        if (++records > size + 1)
            abort (); /* each record consumes input */
    }
    csv_free (&r);
    (void)bytes;
    return 0;
}
