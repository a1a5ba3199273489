/* SPDX-License-Identifier: MIT */
/* Fuzz target: graph-build's edge-line parser (apps/graph/edge_parse.c). Every line
 * of the input is parsed both with and without weights; the parser must stay inside
 * the line, and a bad line must point inside it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edge_parse.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    while (p <= end) {
        const char *nl = memchr (p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        /* A copy of exactly the line, so ASan catches any read past it. */
        char *line = malloc (len ? len : 1);
        if (!line)
            return 0;
        memcpy (line, p, len);
        for (int weighted = 0; weighted < 2; weighted++) {
            uint64_t u, v;
            double w;
            const char *bad;
            size_t bad_len;
            int k = edge_parse (line, len, weighted, &u, &v, &w, &bad, &bad_len);
            if (k < -1 || k > 1)
                abort ();
            if (k < 0 && (bad < line || bad + bad_len > line + len))
                abort ();
        }
        free (line);
        if (!nl)
            break;
        p = nl + 1;
    }
    return 0;
}
