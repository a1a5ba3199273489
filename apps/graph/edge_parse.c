/* SPDX-License-Identifier: MIT */
/* The edge-line parser of graph-build; see edge_parse.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "edge_parse.h"

static const char *skip_blank (const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
        p++;
    return p;
}

/* One unsigned decimal id at *p; returns 0 or -1 (no digit, or above 2^64 - 1). */
static int parse_id (const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s >= end || *s < '0' || *s > '9')
        return -1;
    while (s < end && *s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return 0;
}

int edge_parse (const char *p,
                size_t len,
                bool weighted,
                uint64_t *u,
                uint64_t *v,
                double *w,
                const char **bad_at,
                size_t *bad_len)
{
    const char *end = p + len;
    const char *hash = memchr (p, '#', len);
    if (hash)
        end = hash;
    p = skip_blank (p, end);
    if (p == end)
        return 0; /* blank or comment */
    const char *start = p;
    *w = 1.0;
    if (parse_id (&p, end, u) < 0 || (p = skip_blank (p, end)) == end
        || parse_id (&p, end, v) < 0)
        goto bad;
    if (p < end && *p != ' ' && *p != '\t' && *p != '\r')
        goto bad; /* "12x" */
    p = skip_blank (p, end);
    if (p < end && weighted) {
        /* strtod needs a terminated string: copy the field (weights are short). */
        char buf[64];
        size_t n = 0;
        while (p + n < end && p[n] != ' ' && p[n] != '\t' && p[n] != '\r')
            n++;
        if (n >= sizeof (buf))
            goto bad;
        memcpy (buf, p, n);
        buf[n] = '\0';
        char *e;
        errno = 0;
        *w = strtod (buf, &e);
        if (n == 0 || *e || errno)
            goto bad;
        p = skip_blank (p + n, end);
        if (p < end)
            goto bad;
    }
    return 1;
bad:
    *bad_at = start;
    *bad_len = (size_t)(end - start);
    return -1;
}
