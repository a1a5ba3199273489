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
    loom_hash_state_t *st[2 * DS_MAX_COLS];
};

struct ds_sum *loom__sum_create (const loom_ds_schema_t *s)
{
    struct ds_sum *sum = calloc (1, sizeof (*sum));
    if (!sum)
        goto nomem;
    sum->n = loom__nstored (s);
    for (size_t i = 0; i < sum->n; i++)
        if (!(sum->st[i] = loom_hash_state_create (0)))
            goto nomem;
    return sum;
nomem:
    loom__sum_destroy (sum);
    errno = ENOMEM;
    return NULL;
}

void loom__sum_update (struct ds_sum *sum, size_t idx, const void *p, size_t len)
{
    loom_hash_state_update (sum->st[idx], p, len);
}

uint64_t loom__sum_digest (struct ds_sum *sum)
{
    uint8_t words[8 * 2 * DS_MAX_COLS];
    for (size_t i = 0; i < sum->n; i++) {
        uint64_t d = loom_hash_state_digest (sum->st[i]);
        for (int b = 0; b < 8; b++)
            words[8 * i + b] = (uint8_t)(d >> (8 * b));
    }
    return loom_hash64 (words, 8 * sum->n, 0);
}

void loom__sum_destroy (struct ds_sum *sum)
{
    if (!sum)
        return;
    int saved = errno;
    for (size_t i = 0; i < sum->n; i++)
        loom_hash_state_destroy (sum->st[i]);
    free (sum);
    errno = saved;
}

uint64_t
loom__checksum_cols (const loom_ds_schema_t *s, size_t n, const struct ds_coldata *cols)
{
    uint8_t words[8 * 2 * DS_MAX_COLS];
    size_t k = 0;
    for (size_t c = 0; c < s->ncols; c++) {
        uint64_t d[2];
        size_t nd = 0;
        if (s->cols[c].type == LOOM_DS_BYTES) {
            d[nd++] = loom_hash64 (cols[c].offsets, (n + 1) * 8, 0);
            d[nd++] = loom_hash64 (cols[c].data, cols[c].nbytes, 0);
        } else {
            d[nd++] = loom_hash64 (cols[c].data, n * s->cols[c].width, 0);
        }
        for (size_t j = 0; j < nd; j++, k++)
            for (int b = 0; b < 8; b++)
                words[8 * k + b] = (uint8_t)(d[j] >> (8 * b));
    }
    return loom_hash64 (words, 8 * k, 0);
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
