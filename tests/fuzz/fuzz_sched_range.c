/* SPDX-License-Identifier: MIT */
/* Fuzz target: array specs of `loom submit --array` (sched/range.c). A spec that
 * parses must give valid ranges whose index count matches; one that does not must
 * say why, with errno EINVAL.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *s = malloc (size + 1);
    if (!s)
        return 0;
    memcpy (s, data, size);
    s[size] = '\0';
    struct loom__range *r = NULL;
    size_t n = 0;
    uint64_t count = 0;
    loom_error_t err;
    if (loom__range_parse (s, &r, &n, &count, &err) == 0) {
        uint64_t sum = 0;
        for (size_t i = 0; i < n; i++) {
            if (r[i].first < 0 || r[i].last < r[i].first || r[i].step < 1)
                abort ();
            sum += (uint64_t)((r[i].last - r[i].first) / r[i].step) + 1;
        }
        if (n == 0 || sum != count || count > LOOM__MAX_ARRAY)
            abort ();
    } else if (errno != EINVAL || strncmp (err.text, "malformed array", 15) != 0) {
        abort ();
    }
    free (r);
    free (s);
    return 0;
}
