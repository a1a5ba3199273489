/* SPDX-License-Identifier: MIT */
/* Grace-hash spill of the local join. When the tuples a rank must join do not fit
 * its budget, both sides are scattered by the top bits of the join hash into
 * partition pairs (equal keys land in the same pair), staged in small per-partition
 * buffers and appended to one spill file per side in chunks; then every pair is read
 * back alone and joined in memory. The spill files are unlinked as soon as they are
 * created (loom__spill), so they disappear on every path out, errors and crashes
 * included. A pair bigger than the budget (one very hot key) is still joined, above
 * the budget: the hybrid strategy is what keeps hot keys from piling up on one rank.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "join_impl.h"

struct chunk {
    uint64_t off, len, n;
};

struct gpart {
    struct chunk *c;
    size_t nc, cap;
    struct join_buf stage;
};

struct join_grace {
    const struct loom__shape *shape[2];
    unsigned nparts;
    uint64_t seed;
    size_t stage_bytes; /* per partition and side, before it is written */
    struct loom__spill file[2];
    struct gpart *part[2];
    uint64_t written, read;
};

struct join_grace *join_grace_create (const struct loom__shape *shape[2],
                                      unsigned nparts,
                                      uint64_t seed,
                                      uint64_t budget,
                                      const char *tmpdir,
                                      loom_error_t *error)
{
    struct join_grace *g = calloc (1, sizeof (*g));
    if (!g)
        goto nomem;
    g->nparts = nparts;
    g->seed = seed;
    /* The staging buffers of both sides take at most a quarter of the budget. */
    uint64_t st = budget / 8 / nparts;
    g->stage_bytes = st < 4096 ? 4096 : st > (32u << 10) ? (32u << 10) : (size_t)st;
    for (int s = 0; s < 2; s++) {
        g->shape[s] = shape[s];
        loom__spill_init (&g->file[s], tmpdir, &g->written, &g->read);
        if (!(g->part[s] = calloc (nparts, sizeof (struct gpart))))
            goto nomem;
    }
    return g;
nomem:
    join_grace_destroy (g);
    loom_errset (error, ENOMEM, "join: out of memory");
    return NULL;
}

void join_grace_destroy (struct join_grace *g)
{
    if (!g)
        return;
    int saved = errno;
    for (int s = 0; s < 2; s++) {
        for (unsigned i = 0; g->part[s] && i < g->nparts; i++) {
            free (g->part[s][i].c);
            join_buf_free (&g->part[s][i].stage);
        }
        free (g->part[s]);
        loom__spill_close (&g->file[s]);
    }
    free (g);
    errno = saved;
}

uint64_t join_grace_spilled (const struct join_grace *g)
{
    return g ? g->written : 0;
}

static int flush (struct join_grace *g, int s, struct gpart *gp, loom_error_t *error)
{
    if (!gp->stage.len)
        return 0;
    if (gp->nc == gp->cap) {
        size_t cap = gp->cap ? gp->cap * 2 : 8;
        struct chunk *c = realloc (gp->c, cap * sizeof (*c));
        if (!c)
            return loom_errset (error, ENOMEM, "join: out of memory");
        gp->c = c;
        gp->cap = cap;
    }
    struct chunk *c = &gp->c[gp->nc];
    if (loom__spill_append (&g->file[s], gp->stage.data, gp->stage.len, &c->off, error)
        < 0)
        return -1;
    c->len = gp->stage.len;
    c->n = gp->stage.n;
    gp->nc++;
    gp->stage.len = 0;
    gp->stage.n = 0;
    return 0;
}

int join_grace_add (
    struct join_grace *g, int s, const char *data, size_t len, loom_error_t *error)
{
    const struct loom__shape *sh = g->shape[s];
    const char *p = data, *end = data + len;
    while (p < end) {
        struct loom_record r;
        size_t sz = loom__decode (sh, p, (uint64_t)(end - p), &r);
        if (!sz)
            return loom_errset (error, EPROTO, "join: corrupt tuples");
        uint64_t h = join_hash (r.key, r.key_len, g->seed);
        struct gpart *gp = &g->part[s][loom_hash_to_partition (h, g->nparts)];
        if (join_buf_append (&gp->stage, p, sz, 1) < 0)
            return loom_errset (error, ENOMEM, "join: out of memory");
        if (gp->stage.len >= g->stage_bytes && flush (g, s, gp, error) < 0)
            return -1;
        p += sz;
    }
    return 0;
}

/* Read partition 'i' of side 's' back into 'b'. */
static int
load (struct join_grace *g, int s, unsigned i, struct join_buf *b, loom_error_t *error)
{
    struct gpart *gp = &g->part[s][i];
    uint64_t total = 0;
    for (size_t c = 0; c < gp->nc; c++)
        total += gp->c[c].len;
    if (join_buf_reserve (b, total) < 0)
        return loom_errset (error, ENOMEM, "join: out of memory reading back %llu B",
                            (unsigned long long)total);
    for (size_t c = 0; c < gp->nc; c++) {
        if (loom__spill_read (&g->file[s], b->data + b->len, gp->c[c].len, gp->c[c].off,
                              error)
            < 0)
            return -1;
        b->len += gp->c[c].len;
        b->n += gp->c[c].n;
    }
    return 0;
}

int join_grace_run (struct join_grace *g,
                    const struct join_local_params *p,
                    uint64_t *results,
                    loom_error_t *error)
{
    for (int s = 0; s < 2; s++)
        for (unsigned i = 0; i < g->nparts; i++)
            if (flush (g, s, &g->part[s][i], error) < 0)
                return -1;
    struct join_buf b[2] = {{0}};
    int rc = 0;
    for (unsigned i = 0; i < g->nparts && rc == 0; i++) {
        b[0].len = b[1].len = 0;
        b[0].n = b[1].n = 0;
        if (load (g, 0, i, &b[0], error) < 0 || load (g, 1, i, &b[1], error) < 0) {
            rc = -1;
            break;
        }
        struct join_side probe = {&b[0], 1, g->shape[0]};
        struct join_side build = {&b[1], 1, g->shape[1]};
        if (join_local (p, &probe, &build, results) < 0) {
            rc = loom_errset (error, errno, "join: local join: %s", strerror (errno));
            break;
        }
    }
    int saved = errno;
    join_buf_free (&b[0]);
    join_buf_free (&b[1]);
    errno = saved;
    return rc;
}
