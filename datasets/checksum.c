/* SPDX-License-Identifier: MIT */
/* Partition checksums: one xxh64 stream per stored HDF5 dataset (columns in schema
 * order; a BYTES column stores its offsets, then its bytes), combined as xxh64 of the
 * digests written as 8-byte little-endian words. Streams let writers checksum data
 * that arrives in batches, and the value depends only on the stored values, never on
 * HDF5's file layout.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/hash.h>

#include "internal.h"

struct ds_sum {
    size_t n;
    struct ds_xxh64 st[2 * DS_MAX_COLS];
};

struct ds_sum *loom__sum_create (const loom_ds_schema_t *s)
{
    struct ds_sum *sum = malloc (sizeof (*sum));
    if (!sum) {
        errno = ENOMEM;
        return NULL;
    }
    sum->n = loom__nstored (s);
    for (size_t i = 0; i < sum->n; i++)
        loom__xxh64_reset (&sum->st[i], 0);
    return sum;
}

void loom__sum_update (struct ds_sum *sum, size_t idx, const void *p, size_t len)
{
    loom__xxh64_update1 (&sum->st[idx], p, NULL, len);
}

void loom__sum_update_n (struct ds_sum *sum,
                         size_t k,
                         const size_t *idx,
                         const void *const *p,
                         void *const *dst,
                         const size_t *len)
{
    struct ds_xxh64 *h[2 * DS_MAX_COLS];
    for (size_t i = 0; i < k; i++)
        h[i] = &sum->st[idx[i]];
    loom__xxh64_update (h, k, p, dst, len);
}

/* The partition checksum from the digests of its stored datasets. */
static uint64_t combine (const uint64_t *d, size_t n)
{
    uint8_t words[8 * 2 * DS_MAX_COLS];
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 8; b++)
            words[8 * i + b] = (uint8_t)(d[i] >> (8 * b));
    return loom_hash64 (words, 8 * n, 0);
}

uint64_t loom__sum_digest (struct ds_sum *sum)
{
    uint64_t d[2 * DS_MAX_COLS];
    for (size_t i = 0; i < sum->n; i++)
        d[i] = loom__xxh64_digest (&sum->st[i]);
    return combine (d, sum->n);
}

void loom__sum_destroy (struct ds_sum *sum)
{
    int saved = errno;
    free (sum);
    errno = saved;
}

uint64_t
loom__checksum_cols (const loom_ds_schema_t *s, size_t n, const struct ds_coldata *cols)
{
    struct ds_sum sum = {.n = 0};
    const void *p[2 * DS_MAX_COLS];
    size_t len[2 * DS_MAX_COLS], idx[2 * DS_MAX_COLS];
    for (size_t c = 0; c < s->ncols; c++) {
        if (s->cols[c].type == LOOM_DS_BYTES) {
            p[sum.n] = cols[c].offsets;
            len[sum.n++] = (n + 1) * 8;
            p[sum.n] = cols[c].data;
            len[sum.n++] = cols[c].nbytes;
        } else {
            p[sum.n] = cols[c].data;
            len[sum.n++] = n * s->cols[c].width;
        }
    }
    for (size_t i = 0; i < sum.n; i++) {
        loom__xxh64_reset (&sum.st[i], 0);
        idx[i] = i;
    }
    loom__sum_update_n (&sum, sum.n, idx, p, NULL, len);
    return loom__sum_digest (&sum);
}

void loom__coldata_free (const loom_ds_schema_t *s, struct ds_coldata *cols)
{
    if (!cols)
        return;
    int saved = errno;
    for (size_t c = 0; c < s->ncols; c++) {
        free (cols[c].data);
        free (cols[c].offsets);
    }
    free (cols);
    errno = saved;
}
