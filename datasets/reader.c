/* SPDX-License-Identifier: MIT */
/* Reading a dataset: the manifest alone describes it (open is cheap for any number
 * of partitions); a partition is read whole and checked against the manifest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <loom/trace.h>

#include "internal.h"

/* Trace events (docs/tracing.md): reading a partition, and its checksum check (an
 * instant: the checksum is computed while reading, inside partition.read).
 */
LOOM_TRACE_TYPE (
    t_part_read, "datasets", "partition.read", "partition", "records", "bytes");
LOOM_TRACE_TYPE (t_checksum, "datasets", "checksum", "partition", "bytes", "ok");

#define POOL_MAX (2 * DS_MAX_COLS)

struct loom_ds {
    int refs; /* the handle, plus each partition read from disk */
    struct {
        void *p;
        size_t cap;
    } pool[POOL_MAX]; /* buffers of destroyed partitions, for the next read */
    size_t npool;
    char *path;
    int rank, size;
    int flags;
    struct ds_manifest own;
    const struct ds_manifest *m;
    struct ds_mem *mem;
    uint64_t checksum;
};

struct loom_ds_part {
    loom_ds_schema_t schema_copy; /* a part outlives its loom_ds_t */
    const loom_ds_schema_t *schema;
    size_t n;
    struct ds_coldata *cols; /* owned unless 'mem' */
    struct ds_mem *mem;      /* borrowed arrays of an in-memory dataset */
    loom_ds_t *ds;           /* gets the buffers back (disk partitions) */
    struct ds_map map;       /* columns read in place from the file (zero copy) */
};

/* ds_alloc of a reader: the smallest pooled buffer that fits, else malloc. */
static void *pool_alloc (void *ctx, size_t col, bool offsets, size_t size, size_t *cap)
{
    loom_ds_t *ds = ctx;
    (void)col;
    (void)offsets;
    if (size == 0) { /* an empty column: don't tie up a pooled buffer */
        *cap = 1;
        return malloc (1);
    }
    size_t best = ds->npool;
    for (size_t i = 0; i < ds->npool; i++)
        if (ds->pool[i].cap >= size
            && (best == ds->npool || ds->pool[i].cap < ds->pool[best].cap))
            best = i;
    if (best == ds->npool) {
        *cap = size;
        return malloc (size);
    }
    void *p = ds->pool[best].p;
    *cap = ds->pool[best].cap;
    ds->pool[best] = ds->pool[--ds->npool];
    return p;
}

/* Give a buffer back: keep it if the pool has room (else keep the bigger of it and
 * the smallest pooled one), free the rest.
 */
static void pool_put (loom_ds_t *ds, void *p, size_t cap)
{
    if (!p)
        return;
    if (cap == 0) {
        free (p);
        return;
    }
    if (ds->npool < POOL_MAX) {
        ds->pool[ds->npool].p = p;
        ds->pool[ds->npool++].cap = cap;
        return;
    }
    size_t small = 0;
    for (size_t i = 1; i < ds->npool; i++)
        if (ds->pool[i].cap < ds->pool[small].cap)
            small = i;
    if (ds->pool[small].cap < cap) {
        free (ds->pool[small].p);
        ds->pool[small].p = p;
        ds->pool[small].cap = cap;
    } else {
        free (p);
    }
}

static void pool_release (void *ctx, void *p, size_t cap)
{
    pool_put (ctx, p, cap);
}

static void ds_unref (loom_ds_t *ds)
{
    if (--ds->refs > 0)
        return;
    for (size_t i = 0; i < ds->npool; i++)
        free (ds->pool[i].p);
    loom__manifest_free (&ds->own);
    loom__mem_unref (ds->mem);
    free (ds->path);
    free (ds);
}

static int check_schema (const char *path,
                         const loom_ds_schema_t *have,
                         const loom_ds_schema_t *want,
                         loom_error_t *error)
{
    if (loom_ds_schema_equal (have, want))
        return 0;
    char *h = loom_ds_schema_format (have), *w = loom_ds_schema_format (want);
    size_t n = have->ncols < want->ncols ? have->ncols : want->ncols, i;
    for (i = 0; i < n; i++)
        if (strcmp (have->cols[i].name, want->cols[i].name) != 0
            || have->cols[i].type != want->cols[i].type
            || have->cols[i].width != want->cols[i].width)
            break;
    loom_errset (error, EPROTO,
                 "%s: schema mismatch at column %zu: dataset has '%s', "
                 "expected '%s'",
                 path, i, h ? h : "?", w ? w : "?");
    free (h);
    free (w);
    errno = EPROTO;
    return -1;
}

loom_ds_t *loom_ds_open (MPI_Comm comm,
                         const char *path,
                         const struct loom_ds_open_params *params,
                         loom_error_t *error)
{
    loom__h5_quiet ();
    if (!path || !*path) {
        loom_errset (error, EINVAL, "dataset: no path given");
        return NULL;
    }
    loom_ds_t *ds = calloc (1, sizeof (*ds));
    if (!ds || !(ds->path = strdup (path))) {
        free (ds);
        loom_errset (error, ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    ds->size = 1;
    ds->refs = 1;
    if (comm != MPI_COMM_NULL) {
        MPI_Comm_rank (comm, &ds->rank);
        MPI_Comm_size (comm, &ds->size);
    }
    if (params)
        ds->flags = params->flags;
    if (ds->flags & ~LOOM_DS_NO_VERIFY) {
        loom_errset (error, EINVAL, "%s: unknown open flags 0x%x", path, ds->flags);
        goto error;
    }
    if ((ds->mem = loom__mem_get (path))) {
        ds->m = loom__mem_manifest (ds->mem);
    } else {
        if (loom__manifest_load (path, &ds->own, error) < 0)
            goto error;
        ds->m = &ds->own;
    }
    if (params && params->expect_schema
        && check_schema (path, &ds->m->schema, params->expect_schema, error) < 0)
        goto error;
    ds->checksum = loom__manifest_checksum (ds->m);
    return ds;
error:
    loom_ds_close (ds);
    return NULL;
}

void loom_ds_close (loom_ds_t *ds)
{
    if (!ds)
        return;
    int saved = errno;
    ds_unref (ds); /* partitions still alive keep it until they go */
    errno = saved;
}

const loom_ds_schema_t *loom_ds_schema (const loom_ds_t *ds)
{
    return &ds->m->schema;
}

uint32_t loom_ds_nparts (const loom_ds_t *ds)
{
    return ds->m->nparts;
}

loom_ds_partitioner_t loom_ds_partitioner (const loom_ds_t *ds)
{
    return ds->m->partitioner;
}

int loom_ds_key_column (const loom_ds_t *ds)
{
    return ds->m->key;
}

uint64_t loom_ds_seed (const loom_ds_t *ds)
{
    return ds->m->seed;
}

uint64_t loom_ds_part_records (const loom_ds_t *ds, uint32_t part)
{
    return part < ds->m->nparts ? ds->m->parts[part].records : 0;
}

uint64_t loom_ds_part_checksum (const loom_ds_t *ds, uint32_t part)
{
    return part < ds->m->nparts ? ds->m->parts[part].checksum : 0;
}

uint64_t loom_ds_part_size (const loom_ds_t *ds, uint32_t part)
{
    return part < ds->m->nparts ? ds->m->parts[part].bytes : 0;
}

uint64_t loom_ds_records (const loom_ds_t *ds)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < ds->m->nparts; i++)
        n += ds->m->parts[i].records;
    return n;
}

uint64_t loom_ds_checksum (const loom_ds_t *ds)
{
    return ds->checksum;
}

const char *loom_ds_lineage_json (const loom_ds_t *ds)
{
    return ds->m->lineage;
}

const char *loom_ds_trace_id (const loom_ds_t *ds)
{
    return ds->m->trace_id;
}

const char *loom_ds_created (const loom_ds_t *ds)
{
    return ds->m->created;
}

int64_t loom_ds_partition_of (const loom_ds_t *ds, const void *key, size_t len)
{
    return loom__partition_of (ds->m, key, len);
}

void loom_ds_assign (const loom_ds_t *ds, uint32_t *first, uint32_t *count)
{
    uint32_t P = ds->m->nparts, M = (uint32_t)ds->size, r = (uint32_t)ds->rank;
    uint32_t base = P / M, extra = P % M;
    *first = r * base + (r < extra ? r : extra);
    *count = base + (r < extra ? 1 : 0);
}

int loom_ds_aligned (const loom_ds_t *ds, uint32_t nranks, uint64_t seed)
{
    return ds->m->partitioner == LOOM_DS_PART_HASH && ds->m->seed == seed && nranks > 0
           && ds->m->nparts % nranks == 0;
}

static loom_ds_part_t *part_from_memory (loom_ds_t *ds, uint32_t part)
{
    const struct ds_coldata *cols = loom__mem_part (ds->mem, part);
    if (!cols)
        return NULL;
    loom_ds_part_t *pr = calloc (1, sizeof (*pr));
    if (!pr)
        return NULL;
    pr->schema_copy = ds->m->schema;
    pr->schema = &pr->schema_copy;
    pr->n = ds->m->parts[part].records;
    pr->cols = (struct ds_coldata *)cols;
    pr->mem = ds->mem;
    loom__mem_ref (ds->mem);
    return pr;
}

/* Read partition 'part' of a dataset on disk into 'cols' (buffers from 'alloc', or
 * in place in a mapping of the file if 'map' is not NULL) and check it against the
 * manifest: size, record count and (unless LOOM_DS_NO_VERIFY) the checksum, computed
 * while the data is read. On failure nothing is left in 'cols' or 'map'.
 */
static int read_file_part (loom_ds_t *ds,
                           uint32_t part,
                           const struct ds_alloc *alloc,
                           struct ds_map *map,
                           struct ds_coldata *cols,
                           loom_error_t *error)
{
    const struct ds_manifest *m = ds->m;
    loom_trace_span_t span = loom_trace_begin (&t_part_read, part, 0, 0);
    char *name = loom__part_name (part, m->generation);
    char *file = name ? loom__path_join (ds->path, name) : NULL;
    char label[512];
    snprintf (label, sizeof (label), "%s: partition %u (%s)", ds->path, part,
              name ? name : "?");
    struct stat st;
    size_t n = 0;
    uint64_t sum = 0;
    bool verify = !(ds->flags & LOOM_DS_NO_VERIFY), loaded = false;
    if (!file) {
        loom_errset (error, ENOMEM, "%s: out of memory", label);
        goto error;
    }
    if (stat (file, &st) < 0) {
        loom_errset (error, errno == ENOENT ? ENOENT : EIO, "%s: %s", label,
                     errno == ENOENT ? "missing" : strerror (errno));
        goto error;
    }
    if ((uint64_t)st.st_size != m->parts[part].bytes) {
        loom_errset (
            error, EPROTO, "%s: %s (%lld bytes, the manifest says %llu)", label,
            (uint64_t)st.st_size < m->parts[part].bytes ? "truncated" : "wrong size",
            (long long)st.st_size, (unsigned long long)m->parts[part].bytes);
        goto error;
    }
    if (loom__pf_read (file, label, &m->schema, part, m->generation, alloc, map, &n,
                       cols, verify ? &sum : NULL, error)
        < 0)
        goto error;
    loaded = true;
    if (n != m->parts[part].records) {
        loom_errset (error, EPROTO, "%s: %zu records, the manifest says %llu", label, n,
                     (unsigned long long)m->parts[part].records);
        goto error;
    }
    if (verify)
        loom_trace_instant (&t_checksum, part, m->parts[part].bytes,
                            sum == m->parts[part].checksum);
    if (verify && sum != m->parts[part].checksum) {
        loom_errset (error, EPROTO,
                     "%s: checksum mismatch (data %016llx, manifest %016llx): "
                     "corrupt data",
                     label, (unsigned long long)sum,
                     (unsigned long long)m->parts[part].checksum);
        goto error;
    }
    free (name);
    free (file);
    loom_trace_end (span, part, n, m->parts[part].bytes);
    return 0;
error : {
    int saved = errno;
    loom_trace_end (span, part);
    if (loaded)
        loom__pf_release (&m->schema, alloc, map, cols);
    free (name);
    free (file);
    errno = saved;
    return -1;
}
}

loom_ds_part_t *loom_ds_part_read (loom_ds_t *ds, uint32_t part, loom_error_t *error)
{
    loom__h5_quiet ();
    if (!ds) {
        loom_errset (error, EINVAL, "dataset: no dataset");
        return NULL;
    }
    const struct ds_manifest *m = ds->m;
    if (part >= m->nparts) {
        loom_errset (error, EINVAL, "%s: partition %u out of range (nparts %u)",
                     ds->path, part, m->nparts);
        return NULL;
    }
    if (ds->mem) {
        loom_ds_part_t *pr = part_from_memory (ds, part);
        if (pr)
            return pr;
        if (m->persist == LOOM_DS_PERSIST_MEMORY) {
            loom_errset (error, EXDEV,
                         "%s: partition %u is held in memory by rank %d (persist it to "
                         "disk to read it elsewhere)",
                         ds->path, part, m->parts[part].owner);
            return NULL;
        }
    }
    loom_ds_part_t *pr = calloc (1, sizeof (*pr));
    if (pr) {
        pr->schema_copy = m->schema;
        pr->schema = &pr->schema_copy;
    }
    if (!pr || !(pr->cols = calloc (m->schema.ncols, sizeof (*pr->cols)))) {
        free (pr);
        loom_errset (error, ENOMEM, "%s: partition %u: out of memory", ds->path, part);
        return NULL;
    }
    struct ds_alloc alloc = {pool_alloc, pool_release, ds};
    if (read_file_part (ds, part, &alloc, &pr->map, pr->cols, error) < 0) {
        int saved = errno;
        free (pr->cols);
        free (pr);
        errno = saved;
        return NULL;
    }
    pr->n = m->parts[part].records;
    pr->ds = ds;
    ds->refs++;
    return pr;
}

/* ds_alloc of loom_ds_part_read_into(): the caller's buffers, checked for room. A
 * BYTES column's offsets get the records + 1 entries the caller was told to provide.
 */
struct into {
    const struct loom_ds_readbuf *bufs;
    const loom_ds_schema_t *schema;
    uint64_t records;
};

static void *into_alloc (void *ctx, size_t col, bool offsets, size_t size, size_t *cap)
{
    const struct into *in = ctx;
    const struct loom_ds_readbuf *b = &in->bufs[col];
    size_t width = in->schema->cols[col].width;
    void *p = offsets ? (void *)b->offsets : b->data;
    /* More values than the manifest records: a corrupt file, not a small buffer. */
    if ((offsets && size > (in->records + 1) * sizeof (uint64_t))
        || (width && size > in->records * width)) {
        errno = EPROTO;
        return NULL;
    }
    if (!offsets && (size > b->cap || (!p && size > 0))) {
        errno = ENOSPC;
        return NULL;
    }
    *cap = 0;              /* not ours to pool or free */
    static uint64_t spare; /* stands for an empty column's missing buffer */
    return p ? p : &spare;
}

static void into_release (void *ctx, void *p, size_t cap)
{
    (void)ctx;
    (void)p;
    (void)cap;
}

int loom_ds_part_read_into (loom_ds_t *ds,
                            uint32_t part,
                            const struct loom_ds_readbuf *bufs,
                            loom_error_t *error)
{
    loom__h5_quiet ();
    if (!ds || !bufs)
        return loom_errset (error, EINVAL, "dataset: no dataset or buffers");
    const struct ds_manifest *m = ds->m;
    if (part >= m->nparts)
        return loom_errset (error, EINVAL, "%s: partition %u out of range (nparts %u)",
                            ds->path, part, m->nparts);
    const loom_ds_schema_t *s = &m->schema;
    uint64_t records = m->parts[part].records;
    for (size_t c = 0; c < s->ncols; c++) {
        bool bytes = s->cols[c].type == LOOM_DS_BYTES;
        if (bytes && !bufs[c].offsets)
            return loom_errset (error, EINVAL,
                                "%s: partition %u: column '%s': no offsets buffer",
                                ds->path, part, s->cols[c].name);
        if (!bytes && records > bufs[c].cap / s->cols[c].width)
            return loom_errset (error, ENOSPC,
                                "%s: partition %u: column '%s' needs %llu bytes, the "
                                "buffer holds %zu",
                                ds->path, part, s->cols[c].name,
                                (unsigned long long)(records * s->cols[c].width),
                                bufs[c].cap);
    }
    struct ds_coldata cols[DS_MAX_COLS];
    memset (cols, 0, sizeof (cols));
    if (ds->mem) {
        loom_ds_part_t *pr = loom_ds_part_read (ds, part, error);
        if (!pr)
            return -1;
        for (size_t c = 0; c < s->ncols; c++) {
            const struct ds_coldata *cd = &pr->cols[c];
            if (s->cols[c].type == LOOM_DS_BYTES) {
                if (cd->nbytes > bufs[c].cap) {
                    loom_ds_part_destroy (pr);
                    return loom_errset (
                        error, ENOSPC,
                        "%s: partition %u: column '%s' needs %zu bytes, "
                        "the buffer holds %zu",
                        ds->path, part, s->cols[c].name, cd->nbytes, bufs[c].cap);
                }
                memcpy (bufs[c].offsets, cd->offsets, (pr->n + 1) * sizeof (uint64_t));
            }
            if (cd->nbytes)
                memcpy (bufs[c].data, cd->data, cd->nbytes);
        }
        loom_ds_part_destroy (pr);
        return 0;
    }
    struct into in = {bufs, s, records};
    struct ds_alloc alloc = {into_alloc, into_release, &in};
    return read_file_part (ds, part, &alloc, NULL, cols, error);
}

size_t loom_ds_part_nrecords (const loom_ds_part_t *pr)
{
    return pr->n;
}

const void *loom_ds_part_column (const loom_ds_part_t *pr, size_t col)
{
    if (!pr || col >= pr->schema->ncols) {
        errno = EINVAL;
        return NULL;
    }
    /* An empty column has no buffer: hand out a valid pointer anyway. */
    static const uint64_t empty;
    return pr->cols[col].data ? pr->cols[col].data : &empty;
}

const uint64_t *loom_ds_part_offsets (const loom_ds_part_t *pr, size_t col)
{
    if (!pr || col >= pr->schema->ncols
        || pr->schema->cols[col].type != LOOM_DS_BYTES) {
        errno = EINVAL;
        return NULL;
    }
    return pr->cols[col].offsets;
}

void loom_ds_part_destroy (loom_ds_part_t *pr)
{
    if (!pr)
        return;
    int saved = errno;
    if (pr->ds && pr->cols) {
        for (size_t c = 0; c < pr->schema->ncols; c++) {
            if (!loom__raw_owns (&pr->map, pr->cols[c].data))
                pool_put (pr->ds, pr->cols[c].data, pr->cols[c].cap[0]);
            if (!loom__raw_owns (&pr->map, pr->cols[c].offsets))
                pool_put (pr->ds, pr->cols[c].offsets, pr->cols[c].cap[1]);
        }
        loom__raw_unmap (&pr->map);
        free (pr->cols);
        ds_unref (pr->ds);
    } else if (!pr->mem && pr->cols) {
        loom__coldata_free (pr->schema, pr->cols);
    }
    loom__mem_unref (pr->mem);
    free (pr);
    errno = saved;
}
