/* SPDX-License-Identifier: MIT */
/* Grouping by key: received records are kept per output partition, sorted by key
 * (and value, for a secondary sort), and handed to reduce one key at a time.
 *
 * Memory is bounded: when the records held pass the budget, every partition is
 * sorted and written as a sorted run to one spill file (unlinked as soon as it is
 * created, so it vanishes however the process ends), and the iteration k-way merges
 * the runs with what is left in memory. Sorting is an LSD radix sort on an 8-byte
 * big-endian key prefix (stable, so equal keys keep arrival order) followed by a
 * comparison sort of the rare runs of equal prefixes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define IO_BUF    (1u << 20)
#define ITEM_COST 32 /* index bytes per record, counted against the budget */

struct item {
    uint64_t pre; /* first 8 key bytes, big-endian, zero-padded */
    const char *rec;
};

struct run {
    int fd;
    uint64_t *off, *len; /* per partition segment */
};

struct mr_group {
    uint32_t nparts;
    bool sort_values;
    uint64_t limit;
    char *tmpdir;
    struct mr_buf *bufs;
    uint64_t *nrecs; /* held in memory */
    uint64_t *added; /* in memory and in runs, until the partition is consumed */
    uint64_t held;
    struct run *runs;
    size_t nruns;
    uint64_t spilled;
};

static uint64_t key_prefix (const char *rec)
{
    struct loom_record r;
    mr__rec_decode (rec, &r);
    unsigned char b[8] = {0};
    memcpy (b, r.key, r.key_len < 8 ? r.key_len : 8);
    uint64_t p = 0;
    for (int i = 0; i < 8; i++)
        p = (p << 8) | b[i];
    return p;
}

static int rec_cmp (const char *a, const char *b, bool sort_values)
{
    struct loom_record x, y;
    mr__rec_decode (a, &x);
    mr__rec_decode (b, &y);
    int c = mr__key_cmp (x.key, x.key_len, y.key, y.key_len);
    if (c || !sort_values)
        return c;
    return mr__key_cmp (x.value, x.value_len, y.value, y.value_len);
}

static bool g_sort_values; /* qsort has no argument pointer; set under single use */

static int item_cmp (const void *pa, const void *pb)
{
    const struct item *a = pa, *b = pb;
    int c = rec_cmp (a->rec, b->rec, g_sort_values);
    if (c)
        return c;
    return a->rec < b->rec ? -1 : a->rec > b->rec; /* arrival order: stable */
}

/* LSD radix sort of src[0..n) on prefix bytes 0-6 (the top byte is equal);
 * the result ends in dst. */
static void lsd_bucket (struct item *src, struct item *dst, uint64_t n)
{
    struct item *a = src, *b = dst;
    for (int shift = 0; shift < 56 && n > 1; shift += 8) {
        uint64_t count[256] = {0};
        for (uint64_t i = 0; i < n; i++)
            count[(a[i].pre >> shift) & 0xff]++;
        if (count[(a[0].pre >> shift) & 0xff] == n)
            continue;
        uint64_t sum = 0;
        for (int d = 0; d < 256; d++) {
            uint64_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (uint64_t i = 0; i < n; i++)
            b[count[(a[i].pre >> shift) & 0xff]++] = a[i];
        struct item *swap = a;
        a = b;
        b = swap;
    }
    if (a != dst && n)
        memcpy (dst, a, n * sizeof (*a));
}

/* Sort the records of 'b' (n of them) into a new index, kept in 'index' (an
 * mr_buf, so a large one gets huge pages). Returns it or NULL.
 */
static struct item *
sort_buf (const struct mr_buf *b, uint64_t n, bool sort_values, struct mr_buf *index)
{
    struct mr_buf scratch = {0};
    const size_t bytes = (n ? n : 1) * sizeof (struct item);
    if (mr__buf_reserve (index, bytes) < 0 || mr__buf_reserve (&scratch, bytes) < 0) {
        mr__buf_free (index);
        errno = ENOMEM;
        return NULL;
    }
    struct item *v = (struct item *)index->data, *tmp = (struct item *)scratch.data;
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct loom_record r;
        v[i].rec = b->data + off;
        v[i].pre = key_prefix (b->data + off);
        off += mr__rec_decode (b->data + off, &r);
    }
    /* Radix sort on the prefix: one most-significant-byte pass splits the index
     * into up to 256 buckets small enough for the cache, then LSD passes sort each
     * bucket inside the cache, skipping bytes that are the same everywhere.
     * Both are stable, so equal prefixes keep arrival order.
     */
    uint64_t bucket[257] = {0};
    for (uint64_t i = 0; i < n; i++)
        bucket[(v[i].pre >> 56) + 1]++;
    for (int d = 0; d < 256; d++)
        bucket[d + 1] += bucket[d];
    uint64_t fill[256];
    memcpy (fill, bucket, sizeof (fill));
    for (uint64_t i = 0; i < n; i++)
        tmp[fill[v[i].pre >> 56]++] = v[i];
    for (int d = 0; d < 256; d++)
        lsd_bucket (tmp + bucket[d], v + bucket[d], bucket[d + 1] - bucket[d]);
    mr__buf_free (&scratch);
    /* Equal prefixes: order by the whole key (and value). */
    g_sort_values = sort_values;
    for (uint64_t i = 0; i < n;) {
        uint64_t j = i + 1;
        while (j < n && v[j].pre == v[i].pre)
            j++;
        if (j - i > 1)
            qsort (v + i, j - i, sizeof (*v), item_cmp);
        i = j;
    }
    return v;
}

struct mr_group *mr__group_create (uint32_t nparts,
                                   uint64_t mem_bytes,
                                   const char *tmpdir,
                                   bool sort_values,
                                   loom_error_t *error)
{
    struct mr_group *g = calloc (1, sizeof (*g));
    if (!g)
        goto nomem;
    g->nparts = nparts;
    g->sort_values = sort_values;
    g->limit = mem_bytes;
    g->bufs = calloc (nparts ? nparts : 1, sizeof (*g->bufs));
    g->nrecs = calloc (nparts ? nparts : 1, sizeof (*g->nrecs));
    g->added = calloc (nparts ? nparts : 1, sizeof (*g->added));
    g->tmpdir = strdup (tmpdir);
    if (!g->bufs || !g->nrecs || !g->added || !g->tmpdir)
        goto nomem;
    return g;
nomem:
    mr__group_destroy (g);
    loom_errset (error, ENOMEM, "out of memory");
    return NULL;
}

static void free_runs (struct mr_group *g)
{
    for (size_t i = 0; i < g->nruns; i++) {
        close (g->runs[i].fd);
        free (g->runs[i].off);
        free (g->runs[i].len);
    }
    free (g->runs);
    g->runs = NULL;
    g->nruns = 0;
}

void mr__group_destroy (struct mr_group *g)
{
    if (!g)
        return;
    int saved = errno;
    for (uint32_t p = 0; g->bufs && p < g->nparts; p++)
        mr__buf_free (&g->bufs[p]);
    free (g->bufs);
    free (g->nrecs);
    free (g->added);
    free_runs (g);
    free (g->tmpdir);
    free (g);
    errno = saved;
}

uint64_t mr__group_spilled (const struct mr_group *g)
{
    return g->spilled;
}

uint64_t mr__group_records (const struct mr_group *g, uint32_t part)
{
    return g->added[part];
}

uint64_t mr__group_bytes (const struct mr_group *g, uint32_t part)
{
    uint64_t n = g->bufs[part].len;
    for (size_t i = 0; i < g->nruns; i++)
        n += g->runs[i].len[part];
    return n;
}

static int write_all (int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write (fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write every partition, sorted, as one run; free the memory. */
static int spill (struct mr_group *g, loom_error_t *error)
{
    char *path;
    if (asprintf (&path, "%s/loom-mr-group-XXXXXX", g->tmpdir) < 0)
        return loom_errset (error, ENOMEM, "out of memory");
    int fd = mkostemp (path, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        loom_errset (error, e, "cannot create a spill file in '%s': %s", g->tmpdir,
                     strerror (e));
        free (path);
        return -1;
    }
    unlink (path); /* gone when closed, whatever happens */
    free (path);
    struct run r = {.fd = fd};
    r.off = calloc (g->nparts, sizeof (uint64_t));
    r.len = calloc (g->nparts, sizeof (uint64_t));
    struct run *runs = realloc (g->runs, (g->nruns + 1) * sizeof (*runs));
    if (!r.off || !r.len || !runs) {
        free (r.off);
        free (r.len);
        close (fd);
        if (runs)
            g->runs = runs;
        return loom_errset (error, ENOMEM, "out of memory");
    }
    g->runs = runs;
    g->runs[g->nruns++] = r;
    struct mr_buf out = {0};
    uint64_t pos = 0;
    for (uint32_t p = 0; p < g->nparts; p++) {
        struct mr_buf idx = {0};
        struct item *v = sort_buf (&g->bufs[p], g->nrecs[p], g->sort_values, &idx);
        if (!v) {
            mr__buf_free (&out);
            return loom_errset (error, ENOMEM, "out of memory");
        }
        r.off[p] = pos;
        for (uint64_t i = 0; i < g->nrecs[p]; i++) {
            struct loom_record rec;
            size_t sz = mr__rec_decode (v[i].rec, &rec);
            if (out.len + sz > IO_BUF && out.len) {
                if (write_all (fd, out.data, out.len) < 0)
                    goto ioerr;
                out.len = 0;
            }
            if (mr__buf_append (&out, v[i].rec, sz) < 0) {
                mr__buf_free (&idx);
                mr__buf_free (&out);
                return loom_errset (error, ENOMEM, "out of memory");
            }
            pos += sz;
        }
        r.len[p] = pos - r.off[p];
        mr__buf_free (&idx);
        mr__buf_free (&g->bufs[p]);
        g->nrecs[p] = 0;
        continue;
    ioerr:
        mr__buf_free (&idx);
        mr__buf_free (&out);
        int e = errno;
        return loom_errset (error, e, "cannot write a spill file in '%s': %s",
                            g->tmpdir, strerror (e));
    }
    if (out.len && write_all (fd, out.data, out.len) < 0) {
        int e = errno;
        mr__buf_free (&out);
        return loom_errset (error, e, "cannot write a spill file in '%s': %s",
                            g->tmpdir, strerror (e));
    }
    mr__buf_free (&out);
    g->spilled += pos;
    g->held = 0;
    return 0;
}

int mr__group_add (struct mr_group *g,
                   uint32_t part,
                   const void *key,
                   size_t klen,
                   const void *value,
                   size_t vlen,
                   loom_error_t *error)
{
    if (mr__buf_append_rec (&g->bufs[part], key, klen, value, vlen) < 0)
        return loom_errset (error, errno, "out of memory grouping records");
    g->nrecs[part]++;
    g->added[part]++;
    g->held += mr__rec_size (klen, vlen) + ITEM_COST;
    if (g->held > g->limit)
        return spill (g, error);
    return 0;
}

/* ---- iteration --------------------------------------------------------------------
 */

/* A sorted source: a run segment read through a buffer, or the sorted memory index. */
struct cursor {
    int fd;
    size_t bufsize;    /* read size for a file source */
    uint64_t pos, end; /* file segment still to read */
    struct mr_buf buf;
    size_t at;      /* current record in buf */
    struct item *v; /* memory source */
    uint64_t i, n;
    const char *rec; /* current record, NULL at the end */
    size_t order;    /* tie-break: runs in creation order, memory last */
};

static int cursor_next (struct cursor *c)
{
    if (c->v) {
        /* Sorted order visits the records at random: fetch a few ahead so several
         * cache misses overlap (the records are typically 100 bytes: two lines).
         */
        if (c->i + 16 < c->n) {
            __builtin_prefetch (c->v[c->i + 16].rec);
            __builtin_prefetch (c->v[c->i + 16].rec + 64);
        }
        c->rec = c->i < c->n ? c->v[c->i++].rec : NULL;
        return 0;
    }
    /* Drop the current record, then make sure the next is whole in the buffer. */
    if (c->rec) {
        struct loom_record r;
        c->at += mr__rec_decode (c->rec, &r);
    }
    c->rec = NULL;
    for (;;) {
        size_t have = c->buf.len - c->at, need = MR_REC_HDR;
        if (have >= MR_REC_HDR) {
            uint32_t hdr[2];
            memcpy (hdr, c->buf.data + c->at, sizeof (hdr));
            need = mr__rec_size (hdr[0], hdr[1]);
            if (have >= need) {
                c->rec = c->buf.data + c->at;
                return 0;
            }
        }
        if (c->pos >= c->end)
            return have ? (errno = EIO, -1) : 0;
        /* Compact, then refill: room for a whole read, or the whole record. */
        if (have)
            memmove (c->buf.data, c->buf.data + c->at, have);
        c->buf.len = have;
        c->at = 0;
        if (mr__buf_reserve (&c->buf,
                             c->bufsize > need - have ? c->bufsize : need - have)
            < 0)
            return -1;
        size_t want = c->buf.cap - c->buf.len;
        if (want > c->end - c->pos)
            want = (size_t)(c->end - c->pos);
        ssize_t n = pread (c->fd, c->buf.data + c->buf.len, want, (off_t)c->pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        c->buf.len += (size_t)n;
        c->pos += (uint64_t)n;
    }
}

struct merger {
    struct cursor *cs;
    size_t nc;
    size_t *heap; /* indexes of cursors with a record, min-heap */
    size_t nh;
    bool sort_values;
};

static int cur_less (const struct merger *m, size_t a, size_t b)
{
    int c = rec_cmp (m->cs[a].rec, m->cs[b].rec, m->sort_values);
    if (c)
        return c < 0;
    return m->cs[a].order < m->cs[b].order;
}

static void sift_down (struct merger *m, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        if (l < m->nh && cur_less (m, m->heap[l], m->heap[s]))
            s = l;
        if (r < m->nh && cur_less (m, m->heap[r], m->heap[s]))
            s = r;
        if (s == i)
            return;
        size_t t = m->heap[i];
        m->heap[i] = m->heap[s];
        m->heap[s] = t;
        i = s;
    }
}

static const char *merger_head (const struct merger *m)
{
    return m->nh ? m->cs[m->heap[0]].rec : NULL;
}

/* Advance past the head record. */
static int merger_pop (struct merger *m)
{
    struct cursor *c = &m->cs[m->heap[0]];
    if (cursor_next (c) < 0)
        return -1;
    if (!c->rec)
        m->heap[0] = m->heap[--m->nh];
    if (m->nh)
        sift_down (m, 0);
    return 0;
}

struct loom_mr_values {
    struct merger *m;
    const char *key;
    size_t klen;
    bool started, done;
};

int loom_mr_values_next (loom_mr_values_t *it, const void **value, size_t *len)
{
    if (it->done)
        return 0;
    if (it->started && merger_pop (it->m) < 0)
        return -1;
    it->started = true;
    const char *h = merger_head (it->m);
    struct loom_record r;
    if (!h
        || (mr__rec_decode (h, &r),
            mr__key_cmp (r.key, r.key_len, it->key, it->klen) != 0)) {
        it->done = true;
        return 0;
    }
    *value = r.value;
    *len = r.value_len;
    return 1;
}

int mr__group_each (
    struct mr_group *g, uint32_t part, mr_group_f fn, void *arg, loom_error_t *error)
{
    if (!fn) { /* drop the partition */
        mr__buf_free (&g->bufs[part]);
        g->nrecs[part] = g->added[part] = 0;
        return 0;
    }
    struct merger m = {.sort_values = g->sort_values};
    struct item *v = NULL;
    struct mr_buf key = {0}, idx = {0};
    int rc = -1;
    m.cs = calloc (g->nruns + 1, sizeof (*m.cs));
    m.heap = calloc (g->nruns + 1, sizeof (*m.heap));
    if (!m.cs || !m.heap)
        goto nomem;
    if (!(v = sort_buf (&g->bufs[part], g->nrecs[part], g->sort_values, &idx)))
        goto nomem;
    /* Read buffers of all runs together take at most a quarter of the budget. */
    size_t bufsize = g->nruns ? (size_t)(g->limit / 4 / g->nruns) : IO_BUF;
    if (bufsize > IO_BUF)
        bufsize = IO_BUF;
    if (bufsize < (64u << 10))
        bufsize = 64u << 10;
    for (size_t i = 0; i < g->nruns; i++) {
        struct cursor *c = &m.cs[m.nc];
        c->bufsize = bufsize;
        c->fd = g->runs[i].fd;
        c->pos = g->runs[i].off[part];
        c->end = c->pos + g->runs[i].len[part];
        c->order = m.nc++;
    }
    struct cursor *mc = &m.cs[m.nc];
    mc->v = v;
    mc->n = g->nrecs[part];
    mc->order = m.nc++;
    for (size_t i = 0; i < m.nc; i++) {
        if (cursor_next (&m.cs[i]) < 0)
            goto ioerr;
        if (m.cs[i].rec)
            m.heap[m.nh++] = i;
    }
    for (size_t i = m.nh; i-- > 0;)
        sift_down (&m, i);

    const char *h;
    while ((h = merger_head (&m))) {
        struct loom_record r;
        mr__rec_decode (h, &r);
        /* The key must outlive the cursor's buffer while values are read. */
        key.len = 0;
        if (mr__buf_append (&key, r.key, r.key_len) < 0)
            goto nomem;
        loom_mr_values_t it = {.m = &m, .key = key.data, .klen = r.key_len};
        if (fn (key.data, r.key_len, &it, arg) < 0)
            goto out; /* fn filled 'error' through its own channel */
        /* Skip what reduce left unread. */
        const void *val;
        size_t vl;
        int k;
        while ((k = loom_mr_values_next (&it, &val, &vl)) == 1)
            ;
        if (k < 0)
            goto ioerr;
    }
    rc = 0;
    goto out;
nomem:
    loom_errset (error, ENOMEM, "out of memory grouping records");
    goto out;
ioerr:
    loom_errset (error, EIO, "cannot read a spill file in '%s'", g->tmpdir);
out:
    for (size_t i = 0; i < m.nc && m.cs; i++)
        mr__buf_free (&m.cs[i].buf);
    free (m.cs);
    free (m.heap);
    mr__buf_free (&idx);
    mr__buf_free (&key);
    /* The partition is consumed: release its memory now. */
    mr__buf_free (&g->bufs[part]);
    g->nrecs[part] = g->added[part] = 0;
    return rc;
}

int mr__group_dump (const struct mr_group *g, uint32_t part, int fd)
{
    /* Static: no allocation in a signal handler, and one dump at a time. */
    static char buf[1u << 16];
    for (size_t i = 0; i < g->nruns; i++) {
        uint64_t pos = g->runs[i].off[part], end = pos + g->runs[i].len[part];
        while (pos < end) {
            size_t want = end - pos < sizeof (buf) ? (size_t)(end - pos) : sizeof (buf);
            ssize_t n = pread (g->runs[i].fd, buf, want, (off_t)pos);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 || write_all (fd, buf, (size_t)n) < 0)
                return -1;
            pos += (uint64_t)n;
        }
    }
    const struct mr_buf *b = &g->bufs[part];
    return b->len ? write_all (fd, b->data, b->len) : 0;
}
