/* SPDX-License-Identifier: MIT */
/* Dataset input: every rank reads its contiguous block of partitions and turns each
 * row back into a record (first column = key, the other columns = value), the
 * inverse of the dataset output mapping in output.c. A join reads with another
 * column as the key.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int
read_range (loom_comm_t *comm,
            const char *path,
            size_t key_col,
            uint32_t first,
            uint32_t count,
            int (*fn) (const struct loom_record *rec, uint64_t part, void *arg),
            void *arg,
            uint64_t *bytes,
            loom_error_t *error);

int mr__ds_read (loom_comm_t *comm,
                 const char *path,
                 int (*fn) (const struct loom_record *rec, uint64_t part, void *arg),
                 void *arg,
                 uint64_t *bytes,
                 loom_error_t *error)
{
    return read_range (comm, path, 0, 0, UINT32_MAX, fn, arg, bytes, error);
}

int mr__ds_read_keyed (loom_comm_t *comm,
                       const char *path,
                       size_t key_col,
                       int (*fn) (const struct loom_record *rec,
                                  uint64_t part,
                                  void *arg),
                       void *arg,
                       uint64_t *bytes,
                       loom_error_t *error)
{
    return read_range (comm, path, key_col, 0, UINT32_MAX, fn, arg, bytes, error);
}

int mr__ds_read_parts (loom_comm_t *comm,
                       const char *path,
                       uint32_t first,
                       uint32_t count,
                       int (*fn) (const struct loom_record *rec,
                                  uint64_t part,
                                  void *arg),
                       void *arg,
                       uint64_t *bytes,
                       loom_error_t *error)
{
    return read_range (comm, path, 0, first, count, fn, arg, bytes, error);
}

/* Partitions [first, first + count) (count UINT32_MAX: this rank's own) with column
 * 'key_col' as the key.
 */
static int
read_range (loom_comm_t *comm,
            const char *path,
            size_t key_col,
            uint32_t first,
            uint32_t count,
            int (*fn) (const struct loom_record *rec, uint64_t part, void *arg),
            void *arg,
            uint64_t *bytes,
            loom_error_t *error)
{
    loom_ds_t *ds = loom_ds_open (loom_comm_mpi (comm), path, NULL, error);
    if (!ds)
        return -1;
    const loom_ds_schema_t *s = loom_ds_schema (ds);
    size_t ncols = loom_ds_schema_ncols (s);
    struct mr_buf val = {0};
    if (count == UINT32_MAX)
        loom_ds_assign (ds, &first, &count);
    int rc = 0;
    for (uint32_t part = first; part < first + count && rc == 0; part++) {
        loom_ds_part_t *pr = loom_ds_part_read (ds, part, error);
        if (!pr) {
            rc = -1;
            break;
        }
        size_t n = loom_ds_part_nrecords (pr);
        const char *data[64];
        const uint64_t *offs[64];
        size_t width[64];
        for (size_t c = 0; c < ncols && c < 64; c++) {
            data[c] = loom_ds_part_column (pr, c);
            width[c] = loom_ds_schema_width (s, c);
            offs[c] = loom_ds_schema_type (s, c) == LOOM_DS_BYTES
                          ? loom_ds_part_offsets (pr, c)
                          : NULL;
        }
        for (size_t i = 0; i < n && rc == 0; i++) {
            struct loom_record r;
            val.len = 0;
            for (size_t c = 0; c < ncols && c < 64; c++) {
                const char *p;
                size_t len;
                if (offs[c]) {
                    p = data[c] + offs[c][i];
                    len = (size_t)(offs[c][i + 1] - offs[c][i]);
                } else {
                    p = data[c] + i * width[c];
                    len = width[c];
                }
                if (c == key_col) {
                    r.key = p;
                    r.key_len = len;
                } else if (mr__buf_append (&val, p, len) < 0) {
                    rc = loom_errset (error, ENOMEM, "out of memory");
                }
            }
            r.value = val.data;
            r.value_len = val.len;
            *bytes += r.key_len + r.value_len;
            if (rc == 0 && fn (&r, part, arg) < 0)
                rc = -1;
        }
        loom_ds_part_destroy (pr);
    }
    mr__buf_free (&val);
    loom_ds_close (ds);
    return rc;
}
