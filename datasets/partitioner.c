/* SPDX-License-Identifier: MIT */
/* Partitioners: where a key lives. Hash uses loom_hash_partition() (shared with
 * libcomm's shuffle); range uses the recorded splitters.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/hash.h>

#include "internal.h"

int loom__key_cmp (loom_ds_type_t t, const void *a, size_t la, const void *b, size_t lb)
{
    switch (t) {
    case LOOM_DS_INT32: {
        int32_t x, y;
        memcpy (&x, a, 4);
        memcpy (&y, b, 4);
        return (x > y) - (x < y);
    }
    case LOOM_DS_INT64: {
        int64_t x, y;
        memcpy (&x, a, 8);
        memcpy (&y, b, 8);
        return (x > y) - (x < y);
    }
    case LOOM_DS_UINT64: {
        uint64_t x, y;
        memcpy (&x, a, 8);
        memcpy (&y, b, 8);
        return (x > y) - (x < y);
    }
    case LOOM_DS_FLOAT64: {
        double x, y;
        memcpy (&x, a, 8);
        memcpy (&y, b, 8);
        return (x > y) - (x < y);
    }
    case LOOM_DS_FIXSTR:
    case LOOM_DS_BYTES: {
        size_t n = la < lb ? la : lb;
        int c = n ? memcmp (a, b, n) : 0;
        if (c)
            return c < 0 ? -1 : 1;
        return (la > lb) - (la < lb);
    }
    }
    return 0;
}

int64_t loom__partition_of (const struct ds_manifest *m, const void *key, size_t len)
{
    if (m->partitioner == LOOM_DS_PART_NONE || !key) {
        errno = EINVAL;
        return -1;
    }
    const struct ds_column *c = &m->schema.cols[m->key];
    if (c->type != LOOM_DS_BYTES)
        len = c->width;
    if (m->partitioner == LOOM_DS_PART_HASH)
        return loom_hash_partition (key, len, m->seed, m->nparts);
    /* Range: the first splitter greater than the key bounds its partition. */
    uint32_t lo = 0, hi = m->nparts - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (loom__key_cmp (c->type, key, len, m->split[mid], m->split_len[mid]) < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int loom__parse_partlist (const char *s,
                          uint32_t nparts,
                          bool *sel,
                          loom_error_t *error)
{
    const char *p = s;
    if (!*p)
        return loom_errset (error, EINVAL, "empty partition list");
    while (*p) {
        char *end;
        errno = 0;
        unsigned long a = strtoul (p, &end, 10), b;
        if (end == p || errno)
            goto bad;
        b = a;
        if (*end == '-') {
            p = end + 1;
            b = strtoul (p, &end, 10);
            if (end == p || errno || b < a)
                goto bad;
        }
        if (b >= nparts)
            return loom_errset (error, EINVAL,
                                "partition %lu out of range (the dataset has %u)", b,
                                nparts);
        for (unsigned long i = a; i <= b; i++)
            sel[i] = true;
        if (*end == ',')
            end++;
        else if (*end)
            goto bad;
        p = end;
    }
    return 0;
bad:
    return loom_errset (error, EINVAL, "bad partition list '%.60s' (write e.g. 3,5-7)",
                        s);
}
