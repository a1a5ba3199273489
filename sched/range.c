/* SPDX-License-Identifier: MIT */
/* Array specs: "1-10000", "0-99:3", "1,5,7-9". */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <loom/error.h>

#include "core.h"

static int parse_int (const char *s, const char **end, int64_t *v)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *e;
    long long x = strtoll (s, &e, 10);
    if (errno || x > INT32_MAX)
        return -1;
    *v = x;
    *end = e;
    return 0;
}

int loom__range_parse (const char *s,
                       struct loom__range **ranges,
                       size_t *nranges,
                       uint64_t *count,
                       loom_error_t *error)
{
    struct loom__range *r = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    const char *p = s;

    if (!s || !*s) {
        loom_errset (error, EINVAL, "malformed array '': empty");
        return -1;
    }
    for (;;) {
        struct loom__range x;
        const char *e;
        if (parse_int (p, &e, &x.first) < 0)
            goto bad;
        x.last = x.first;
        x.step = 1;
        if (*e == '-') {
            if (parse_int (e + 1, &e, &x.last) < 0)
                goto bad;
            if (*e == ':' && (parse_int (e + 1, &e, &x.step) < 0 || x.step < 1))
                goto bad;
        }
        if (x.last < x.first) {
            loom_errset (error, EINVAL, "malformed array '%s': %" PRId64 " > %" PRId64,
                         s, x.first, x.last);
            free (r);
            return -1;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 4;
            struct loom__range *nr = realloc (r, cap * sizeof (*r));
            if (!nr) {
                free (r);
                return loom_errset (error, ENOMEM, "out of memory");
            }
            r = nr;
        }
        r[n++] = x;
        total += (uint64_t)((x.last - x.first) / x.step) + 1;
        if (total > LOOM__MAX_ARRAY) {
            loom_errset (error, EINVAL, "malformed array '%s': more than %d indices", s,
                         LOOM__MAX_ARRAY);
            free (r);
            return -1;
        }
        if (*e == '\0')
            break;
        if (*e != ',')
            goto bad;
        p = e + 1;
    }
    *ranges = r;
    *nranges = n;
    *count = total;
    return 0;
bad:
    free (r);
    loom_errset (error, EINVAL,
                 "malformed array '%s': expected N, N-M or N-M:STEP, comma-separated",
                 s);
    return -1;
}
