/* SPDX-License-Identifier: MIT */
/* Deterministic test records for datasets tests: record i of partition p of the
 * schema "a:i32,b:i64,c:u64,d:f64,e:str6,f:bytes", so any reader can check values.
 */
#ifndef LOOM_TEST_DSGEN_H
#define LOOM_TEST_DSGEN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/dataset.h>

#define DSGEN_SCHEMA "a:i32,b:i64,c:u64,d:f64,e:str6,f:bytes"

struct dsgen {
    size_t n;
    int32_t *a;
    int64_t *b;
    uint64_t *c;
    double *d;
    char *e;
    char *f;
    uint64_t *off;
    struct loom_ds_colbuf cols[6];
};

static inline size_t dsgen_count (uint32_t part)
{
    return part % 3 == 2 ? 0 : 100 + 37 * part; /* some partitions are empty */
}

static inline void dsgen_fill (struct dsgen *g, uint32_t part)
{
    size_t n = dsgen_count (part);
    g->n = n;
    g->a = malloc ((n + 1) * 4);
    g->b = malloc ((n + 1) * 8);
    g->c = malloc ((n + 1) * 8);
    g->d = malloc ((n + 1) * 8);
    g->e = malloc (n * 6 + 1);
    g->f = malloc (n * 12 + 1);
    g->off = malloc ((n + 1) * 8);
    g->off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        g->a[i] = (int32_t)(i * 7) - 300;
        g->b[i] = -(int64_t)(part * 1000000007ULL + i);
        g->c[i] = ((uint64_t)part << 40) | i;
        g->d[i] = part + i / 8.0;
        char s[16];
        snprintf (s, sizeof (s), "p%ur%zu", part % 10, i % 1000);
        memset (g->e + 6 * i, 0, 6);
        memcpy (g->e + 6 * i, s, strlen (s) < 6 ? strlen (s) : 6);
        size_t len = i % 11; /* includes empty strings */
        for (size_t k = 0; k < len; k++)
            g->f[g->off[i] + k] = (char)('a' + (part + i + k) % 26);
        g->off[i + 1] = g->off[i] + len;
    }
    g->cols[0] = (struct loom_ds_colbuf){g->a, NULL};
    g->cols[1] = (struct loom_ds_colbuf){g->b, NULL};
    g->cols[2] = (struct loom_ds_colbuf){g->c, NULL};
    g->cols[3] = (struct loom_ds_colbuf){g->d, NULL};
    g->cols[4] = (struct loom_ds_colbuf){g->e, NULL};
    g->cols[5] = (struct loom_ds_colbuf){g->f, g->off};
}

static inline void dsgen_free (struct dsgen *g)
{
    free (g->a);
    free (g->b);
    free (g->c);
    free (g->d);
    free (g->e);
    free (g->f);
    free (g->off);
}

/* Compare a partition read back with what dsgen_fill() wrote. Returns the index of
 * the first differing column, or -1 if equal.
 */
static inline int dsgen_check (const loom_ds_part_t *pr, uint32_t part)
{
    struct dsgen g;
    dsgen_fill (&g, part);
    int bad = -1;
    if (loom_ds_part_nrecords (pr) != g.n)
        bad = 6;
    else if (memcmp (loom_ds_part_column (pr, 0), g.a, g.n * 4))
        bad = 0;
    else if (memcmp (loom_ds_part_column (pr, 1), g.b, g.n * 8))
        bad = 1;
    else if (memcmp (loom_ds_part_column (pr, 2), g.c, g.n * 8))
        bad = 2;
    else if (memcmp (loom_ds_part_column (pr, 3), g.d, g.n * 8))
        bad = 3;
    else if (memcmp (loom_ds_part_column (pr, 4), g.e, g.n * 6))
        bad = 4;
    else if (memcmp (loom_ds_part_offsets (pr, 5), g.off, (g.n + 1) * 8)
             || memcmp (loom_ds_part_column (pr, 5), g.f, g.off[g.n]))
        bad = 5;
    dsgen_free (&g);
    return bad;
}

#endif
