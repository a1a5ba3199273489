/* SPDX-License-Identifier: MIT */
/* Output sinks of a step: a text file, a dataset, and/or records kept in memory.
 *
 * Text: every rank formats its partitions (in order) into a buffer that overflows
 * into an unlinked spill file; at the end the ranks learn each other's sizes, write
 * their parts at their offsets of one temporary file, and rank 0 renames it into
 * place once every rank has synced: the file appears whole or not at all.
 *
 * Dataset: a record becomes a row as "first column = key, the other columns = the
 * value's bytes" (see loom/mapreduce.h); rows are buffered per column and appended
 * in batches; partitions committed by an earlier run are skipped (resume).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define DS_BATCH   65536
#define DIRECT_BUF (1u << 20) /* direct text is written in pieces of this size */

struct col {
    loom_ds_type_t type;
    size_t width; /* bytes per value, 0 for BYTES */
    struct mr_buf data;
    struct mr_buf offs; /* BYTES: uint64 offsets, n + 1 */
};

struct mr_sink {
    struct mr_sink_params p;
    loom_comm_t *comm;
    /* text */
    char *path, *tmp;
    struct mr_buf text;
    int spill_fd;
    uint64_t spilled;
    FILE *fmt;
    char *fmt_buf;
    size_t fmt_len;
    uint64_t text_limit;
    int direct_fd; /* mr__sink_text_direct(): the output, written as we go */
    uint64_t direct_at, direct_end;
    /* dataset */
    loom_ds_schema_t *schema;
    loom_ds_writer_t *writer;
    loom_ds_part_writer_t *pw;
    struct col *cols;
    size_t ncols;
    size_t batch;
    bool skipping;
    /* memory */
    loom_mr_data_t *data;
    uint64_t records;
    uint32_t written, reused;
};

uint64_t mr__sink_records (const struct mr_sink *s)
{
    return s->records;
}
uint32_t mr__sink_parts_written (const struct mr_sink *s)
{
    return s->written;
}
uint32_t mr__sink_parts_reused (const struct mr_sink *s)
{
    return s->reused;
}

static int schema_setup (struct mr_sink *s, loom_error_t *error)
{
    if (!s->p.schema)
        return loom_errset (error, EINVAL, "step.schema is needed for dataset output");
    if (!(s->schema = loom_ds_schema_parse (s->p.schema, error)))
        return -1;
    s->ncols = loom_ds_schema_ncols (s->schema);
    if (!(s->cols = calloc (s->ncols, sizeof (*s->cols))))
        return loom_errset (error, ENOMEM, "out of memory");
    size_t nbytes = 0;
    for (size_t i = 0; i < s->ncols; i++) {
        s->cols[i].type = loom_ds_schema_type (s->schema, i);
        s->cols[i].width = loom_ds_schema_width (s->schema, i);
        if (i > 0 && s->cols[i].type == LOOM_DS_BYTES)
            nbytes++;
    }
    if (nbytes && (nbytes > 1 || s->ncols != 2))
        return loom_errset (error, EINVAL,
                            "schema '%s': a bytes column in the value must be the only "
                            "value column",
                            s->p.schema);
    return 0;
}

struct mr_sink *
mr__sink_create (loom_comm_t *comm, const struct mr_sink_params *p, loom_error_t *error)
{
    struct mr_sink *s = calloc (1, sizeof (*s));
    int err = 0;
    if (!s) {
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    s->p = *p;
    s->comm = comm;
    s->spill_fd = -1;
    s->direct_fd = -1;
    s->text_limit = p->mem_bytes / 2;
    if (p->keep) {
        if (!(s->data = calloc (1, sizeof (*s->data))))
            err = ENOMEM;
        else {
            s->data->nparts = p->nparts;
            s->data->first_part = p->first_part;
            s->data->nlocal = p->nlocal;
        }
    }
    if (p->kind == LOOM_MR_OUTPUT_TEXT) {
        unsigned nonce = (unsigned)getpid ();
        if (mr__bcast (comm, &nonce, sizeof (nonce), 0, error) < 0)
            goto fail;
        if (!(s->path = strdup (p->path))
            || asprintf (&s->tmp, "%s.tmp-%u", p->path, nonce) < 0) {
            s->tmp = NULL;
            err = ENOMEM;
            loom_errset (error, ENOMEM, "out of memory");
        }
        if (!err && loom_comm_rank (comm) == 0) {
            struct stat st;
            if (stat (p->path, &st) == 0 && S_ISDIR (st.st_mode)) {
                err = EISDIR;
                loom_errset (error, err, "output '%s' is a directory", p->path);
            } else if (!p->force && stat (p->path, &st) == 0) {
                err = EEXIST;
                loom_errset (error, err,
                             "output '%s' exists (use --force to replace it)", p->path);
            } else {
                int fd = open (s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (fd < 0) {
                    err = errno;
                    loom_errset (error, err, "cannot create output '%s': %s", p->path,
                                 strerror (err));
                } else {
                    close (fd);
                }
            }
        }
        if (!err && p->format) {
            if (!(s->fmt = open_memstream (&s->fmt_buf, &s->fmt_len))) {
                err = ENOMEM;
                loom_errset (error, err, "out of memory");
            }
        }
    }
    if (mr__agree (comm, err, error) != 0)
        goto fail;
    if (p->kind == LOOM_MR_OUTPUT_DATASET) {
        err = 0;
        if (schema_setup (s, error) < 0)
            err = errno;
        if (mr__agree (comm, err, error) != 0)
            goto fail;
        struct loom_ds_create_params cp = LOOM_DS_CREATE_PARAMS_INIT;
        cp.nparts = p->nparts;
        cp.partitioner = p->partitioner;
        cp.key = loom_ds_schema_name (s->schema, 0);
        cp.seed = p->seed;
        cp.lineage = p->lineage;
        cp.flags =
            (p->force ? LOOM_DS_OVERWRITE : 0) | (p->resume ? LOOM_DS_RESUME : 0);
        cp.repair_partitions = p->repair;
        struct mr_buf spl = {0}, offs = {0};
        if (p->partitioner == LOOM_DS_PART_RANGE && p->splitters) {
            /* Splitters in the key column's representation. */
            uint64_t o = 0;
            size_t n = loom_splitters_count (p->splitters);
            err = mr__buf_append (&offs, &o, 8);
            for (size_t i = 0; i < n && !err; i++) {
                size_t len;
                const void *k = loom_splitters_key (p->splitters, i, &len);
                if (s->cols[0].width && len < s->cols[0].width) {
                    char pad[s->cols[0].width];
                    memset (pad, 0, sizeof (pad));
                    memcpy (pad, k, len);
                    err = mr__buf_append (&spl, pad, sizeof (pad));
                } else {
                    err = mr__buf_append (&spl, k, len);
                }
                o = spl.len;
                err = err || mr__buf_append (&offs, &o, 8);
            }
            cp.splitters.data = spl.data;
            cp.splitters.offsets = (const uint64_t *)offs.data;
        }
        s->writer =
            loom_ds_create (loom_comm_mpi (comm), p->path, s->schema, &cp, error);
        mr__buf_free (&spl);
        mr__buf_free (&offs);
        if (!s->writer)
            goto fail_quiet; /* every rank got the same outcome */
    }
    return s;
fail:
fail_quiet:
    if (s->tmp && loom_comm_rank (comm) == 0 && err != EEXIST && err != EISDIR)
        unlink (s->tmp);
    mr__sink_destroy (s);
    return NULL;
}

bool mr__sink_committed (const struct mr_sink *s, uint32_t part)
{
    return s->writer && loom_ds_writer_committed (s->writer, part);
}

static void cols_reset (struct mr_sink *s)
{
    for (size_t i = 0; i < s->ncols; i++) {
        s->cols[i].data.len = 0;
        s->cols[i].offs.len = 0;
    }
    s->batch = 0;
}

int mr__sink_begin (struct mr_sink *s, uint32_t part, loom_error_t *error)
{
    s->skipping = false;
    if (s->writer) {
        if (loom_ds_writer_committed (s->writer, part)) {
            s->skipping = true;
            s->reused++;
            return 0;
        }
        if (!(s->pw = loom_ds_part_begin (s->writer, part, error)))
            return -1;
        cols_reset (s);
    }
    return 0;
}

static int ds_flush (struct mr_sink *s, loom_error_t *error)
{
    if (!s->batch)
        return 0;
    struct loom_ds_colbuf cb[64];
    for (size_t i = 0; i < s->ncols && i < 64; i++) {
        cb[i].data = s->cols[i].data.data;
        cb[i].offsets = (const uint64_t *)s->cols[i].offs.data;
    }
    int rc = loom_ds_part_append (s->pw, s->batch, cb, error);
    cols_reset (s);
    return rc;
}

static int col_put (struct col *c, const char *p, size_t len)
{
    if (c->type == LOOM_DS_BYTES) {
        uint64_t o = c->data.len;
        if (c->offs.len == 0 && mr__buf_append (&c->offs, &o, 8) < 0)
            return -1;
        if (mr__buf_append (&c->data, p, len) < 0)
            return -1;
        o = c->data.len;
        return mr__buf_append (&c->offs, &o, 8);
    }
    if (len == c->width)
        return mr__buf_append (&c->data, p, len);
    /* A shorter fixed string is NUL-padded. */
    if (mr__buf_reserve (&c->data, c->width) < 0)
        return -1;
    memcpy (c->data.data + c->data.len, p, len);
    memset (c->data.data + c->data.len + len, 0, c->width - len);
    c->data.len += c->width;
    return 0;
}

static int ds_add (struct mr_sink *s,
                   const char *key,
                   size_t klen,
                   const char *value,
                   size_t vlen,
                   loom_error_t *error)
{
    struct col *c0 = &s->cols[0];
    if (c0->type != LOOM_DS_BYTES
        && (c0->type == LOOM_DS_FIXSTR ? klen > c0->width : klen != c0->width))
        return loom_errset (error, EINVAL,
                            "output '%s': a key of %zu bytes does not fit column '%s' "
                            "(%zu bytes)",
                            s->p.path, klen, loom_ds_schema_name (s->schema, 0),
                            c0->width);
    size_t need = 0;
    bool bytes = s->ncols == 2 && s->cols[1].type == LOOM_DS_BYTES;
    for (size_t i = 1; i < s->ncols; i++)
        need += s->cols[i].width;
    if (!bytes && vlen != need)
        return loom_errset (
            error, EINVAL,
            "output '%s': a value of %zu bytes does not match the schema "
            "'%s' (%zu bytes after the key)",
            s->p.path, vlen, s->p.schema, need);
    if (col_put (c0, key, klen) < 0)
        return loom_errset (error, ENOMEM, "out of memory");
    size_t off = 0;
    for (size_t i = 1; i < s->ncols; i++) {
        size_t w = bytes ? vlen : s->cols[i].width;
        if (col_put (&s->cols[i], value + off, w) < 0)
            return loom_errset (error, ENOMEM, "out of memory");
        off += w;
    }
    if (++s->batch >= DS_BATCH)
        return ds_flush (s, error);
    return 0;
}

/* Move the text buffer to the spill file. */
static int text_spill (struct mr_sink *s, loom_error_t *error)
{
    if (s->spill_fd < 0) {
        char *path;
        if (asprintf (&path, "%s/loom-mr-text-XXXXXX", s->p.tmpdir) < 0)
            return loom_errset (error, ENOMEM, "out of memory");
        s->spill_fd = mkostemp (path, O_CLOEXEC);
        int e = errno;
        if (s->spill_fd >= 0)
            unlink (path);
        free (path);
        if (s->spill_fd < 0)
            return loom_errset (error, e, "cannot create a spill file in '%s': %s",
                                s->p.tmpdir, strerror (e));
    }
    const char *p = s->text.data;
    size_t n = s->text.len;
    while (n) {
        ssize_t w = pwrite (s->spill_fd, p, n, (off_t)s->spilled);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            return loom_errset (error, e, "cannot write a spill file in '%s': %s",
                                s->p.tmpdir, strerror (e));
        }
        p += w;
        n -= (size_t)w;
        s->spilled += (uint64_t)w;
    }
    s->text.len = 0;
    return 0;
}

static int text_flush_direct (struct mr_sink *s, loom_error_t *error);

static int
text_add (struct mr_sink *s, const struct loom_record *r, loom_error_t *error)
{
    if (s->fmt) {
        if (s->p.format (s->fmt, r, s->p.format_arg) < 0)
            return loom_errset (error, errno ? errno : EIO,
                                "output '%s': cannot format a record", s->p.path);
        if (fflush (s->fmt) != 0
            || mr__buf_append (&s->text, s->fmt_buf, s->fmt_len) < 0)
            return loom_errset (error, ENOMEM, "out of memory");
        rewind (s->fmt);
    } else {
        bool tab = r->value_len && !s->p.text_raw;
        size_t need = r->key_len + r->value_len + 1 + tab;
        if (mr__buf_reserve (&s->text, need) < 0)
            return loom_errset (error, ENOMEM, "out of memory");
        char *p = s->text.data + s->text.len;
        if (r->key_len) { /* an empty key may be NULL, which memcpy must not get */
            memcpy (p, r->key, r->key_len);
            p += r->key_len;
        }
        if (tab)
            *p++ = '\t';
        if (r->value_len) {
            memcpy (p, r->value, r->value_len);
            p += r->value_len;
        }
        *p = '\n';
        s->text.len += need;
    }
    if (s->direct_fd >= 0)
        return s->text.len >= DIRECT_BUF ? text_flush_direct (s, error) : 0;
    if (s->text.len > s->text_limit)
        return text_spill (s, error);
    return 0;
}

int mr__sink_add (struct mr_sink *s,
                  const void *key,
                  size_t klen,
                  const void *value,
                  size_t vlen,
                  loom_error_t *error)
{
    if (s->skipping)
        return 0;
    s->records++;
    if (s->data) {
        if (mr__buf_append_rec (&s->data->buf, key, klen, value, vlen) < 0)
            return loom_errset (error, ENOMEM, "out of memory keeping records");
        s->data->records++;
    }
    if (s->p.kind == LOOM_MR_OUTPUT_TEXT) {
        struct loom_record r = {key, klen, value, vlen};
        return text_add (s, &r, error);
    }
    if (s->p.kind == LOOM_MR_OUTPUT_DATASET)
        return ds_add (s, key, klen, value, vlen, error);
    return 0;
}

int mr__sink_end (struct mr_sink *s, loom_error_t *error)
{
    if (s->skipping) {
        s->skipping = false;
        return 0;
    }
    if (s->pw) {
        loom_ds_part_writer_t *pw = s->pw;
        if (ds_flush (s, error) < 0)
            return -1;
        s->pw = NULL;
        if (loom_ds_part_end (pw, error) < 0)
            return -1;
        s->written++;
        /* Fault injection for the restart test: rank 0 dies after its k-th commit.
         * Only rank 0, so no other rank's death can kill it before it gets there.
         */
        if (getenv ("LOOM_MR_CRASH_AFTER_PARTS") && loom_comm_rank (s->comm) == 0
            && s->written >= (uint32_t)atoi (getenv ("LOOM_MR_CRASH_AFTER_PARTS")))
            _exit (137);
        /* Test hook: slow commits, so failure tests can hit a job mid-write. */
        if (getenv ("LOOM_MR_PART_DELAY_MS"))
            usleep ((useconds_t)atoi (getenv ("LOOM_MR_PART_DELAY_MS")) * 1000u);
    } else if (s->p.kind != LOOM_MR_OUTPUT_DATASET) {
        s->written++;
    }
    return 0;
}

static int sync_parent (const char *path)
{
    char *copy = strdup (path);
    if (!copy)
        return -1;
    int fd = open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free (copy);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

static int write_at (int fd, const char *p, size_t n, uint64_t off)
{
    while (n) {
        ssize_t w = pwrite (fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Collective: the offset of this rank's 'mine' bytes in the temporary file, which
 * rank 0 sizes to everyone's total; every rank opens it for writing at *off.
 * Returns the descriptor, or -1 on every rank if any failed.
 */
static int
open_at_offset (struct mr_sink *s, uint64_t mine, uint64_t *off, loom_error_t *error)
{
    int size = loom_comm_size (s->comm), rank = loom_comm_rank (s->comm);
    uint64_t *all = calloc ((size_t)size, sizeof (uint64_t));
    if (!all)
        return loom_errset (error, ENOMEM, "out of memory");
    if (loom_comm_allgather_u64 (s->comm, mine, all, error) < 0) {
        free (all);
        return -1;
    }
    uint64_t total = 0;
    *off = 0;
    for (int r = 0; r < size; r++) {
        if (r < rank)
            *off += all[r];
        total += all[r];
    }
    free (all);
    int fd = -1, err = 0;
    if (rank == 0) {
        fd = open (s->tmp, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ftruncate (fd, (off_t)total) < 0)
            err = errno;
    }
    if (!mr__agree (s->comm, err, NULL) && rank != 0
        && (fd = open (s->tmp, O_WRONLY | O_CLOEXEC)) < 0)
        err = errno;
    if (err)
        loom_errset (error, err, "cannot write output '%s': %s", s->path,
                     strerror (err));
    if (mr__agree (s->comm, err, error) != 0) {
        if (fd >= 0)
            close (fd);
        return -1;
    }
    return fd;
}

int mr__sink_text_direct (struct mr_sink *s, uint64_t bytes, loom_error_t *error)
{
    uint64_t off;
    int fd = open_at_offset (s, bytes, &off, error);
    if (fd < 0)
        return -1;
    s->direct_fd = fd;
    s->direct_at = off;
    s->direct_end = off + bytes;
    return 0;
}

/* Direct text: write the buffer at this rank's running offset. */
static int text_flush_direct (struct mr_sink *s, loom_error_t *error)
{
    int err = 0;
    if (s->text.len > s->direct_end - s->direct_at)
        err = EIO; /* more text than this rank announced: a bug, not bad input */
    else if (write_at (s->direct_fd, s->text.data, s->text.len, s->direct_at) < 0)
        err = errno;
    if (err)
        return loom_errset (error, err, "cannot write output '%s': %s", s->path,
                            strerror (err));
    s->direct_at += s->text.len;
    s->text.len = 0;
    return 0;
}

/* Collective: the direct text's tail, then check every rank wrote what it said. */
static int text_finish_direct (struct mr_sink *s, loom_error_t *error)
{
    int err = 0;
    if (text_flush_direct (s, error) < 0) {
        err = EIO;
    } else if (s->direct_at != s->direct_end) {
        err = EIO;
        loom_errset (error, err, "output '%s': %llu bytes fewer than announced",
                     s->path, (unsigned long long)(s->direct_end - s->direct_at));
    } else if (fsync (s->direct_fd) < 0 || close (s->direct_fd) < 0) {
        err = errno;
        loom_errset (error, err, "cannot write output '%s': %s", s->path,
                     strerror (err));
    }
    if (err)
        close (s->direct_fd); /* may fail again after a failed close: harmless */
    s->direct_fd = -1;
    return mr__agree (s->comm, err, error) != 0 ? -1 : 0;
}

/* Collective: write this rank's text at its offset of the temporary file. */
static int text_write (struct mr_sink *s, loom_error_t *error)
{
    if (s->direct_fd >= 0)
        return text_finish_direct (s, error);
    uint64_t off;
    int fd = open_at_offset (s, s->spilled + s->text.len, &off, error), err = 0;
    if (fd < 0)
        return -1;
    /* The spilled part first, then the buffered tail. */
    uint64_t done = 0;
    while (!err && done < s->spilled) {
        loff_t in = (loff_t)done, out = (loff_t)(off + done);
        ssize_t n = copy_file_range (s->spill_fd, &in, fd, &out,
                                     (size_t)(s->spilled - done), 0);
        if (n <= 0) {
            err = n < 0 ? errno : EIO;
            break;
        }
        done += (uint64_t)n;
    }
    if (!err && write_at (fd, s->text.data, s->text.len, off + s->spilled) < 0)
        err = errno;
    if (!err && fsync (fd) < 0)
        err = errno;
    if (close (fd) < 0 && !err)
        err = errno;
    if (err)
        loom_errset (error, err, "cannot write output '%s': %s", s->path,
                     strerror (err));
    return mr__agree (s->comm, err, error) != 0 ? -1 : 0;
}

int mr__sink_finish (struct mr_sink *s,
                     int err,
                     loom_mr_data_t **data,
                     loom_error_t *error)
{
    int rank = loom_comm_rank (s->comm);
    if (mr__agree (s->comm, err, error) != 0)
        goto fail;
    if (s->p.kind == LOOM_MR_OUTPUT_TEXT) {
        if (text_write (s, error) < 0)
            goto fail;
        err = 0;
        if (rank == 0) {
            if (rename (s->tmp, s->path) < 0) {
                err = errno;
                loom_errset (error, err, "cannot rename into '%s': %s", s->path,
                             strerror (err));
            } else {
                sync_parent (s->path);
            }
        }
        if (mr__agree (s->comm, err, error) != 0)
            goto fail;
        free (s->tmp);
        s->tmp = NULL;
    } else if (s->p.kind == LOOM_MR_OUTPUT_DATASET) {
        if (loom_ds_commit (s->writer, error) < 0)
            goto fail_kept;
    }
    if (s->data) {
        uint64_t total = s->data->records;
        if (loom_comm_allreduce_u64 (s->comm, &total, 1, LOOM_OP_SUM, error) < 0)
            goto fail_kept;
        s->data->total_records = total;
        if (data) {
            *data = s->data;
            s->data = NULL;
        }
    }
    return 0;
fail:
    if (s->tmp && rank == 0)
        unlink (s->tmp);
fail_kept:
    return -1;
}

void mr__sink_destroy (struct mr_sink *s)
{
    if (!s)
        return;
    int saved = errno;
    mr__buf_free (&s->text);
    if (s->spill_fd >= 0)
        close (s->spill_fd);
    if (s->direct_fd >= 0)
        close (s->direct_fd);
    if (s->fmt)
        fclose (s->fmt);
    free (s->fmt_buf);
    loom_ds_part_abort (s->pw);
    loom_ds_writer_destroy (s->writer);
    loom_ds_schema_destroy (s->schema);
    for (size_t i = 0; s->cols && i < s->ncols; i++) {
        mr__buf_free (&s->cols[i].data);
        mr__buf_free (&s->cols[i].offs);
    }
    free (s->cols);
    loom_mr_data_destroy (s->data);
    free (s->path);
    free (s->tmp);
    free (s);
    errno = saved;
}
