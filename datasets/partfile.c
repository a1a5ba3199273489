/* SPDX-License-Identifier: MIT */
/* One partition = one HDF5 file: a 1-D dataset per column (a BYTES column stores
 * '<name>.offsets' and '<name>.bytes'), and root attributes that describe the dataset
 * so h5py/h5dump users need nothing else. Files use the 1.10 format (checksummed
 * metadata) and no timestamps, so a deterministic producer writes identical bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "internal.h"

#define CHUNK_BYTES (1u << 20)

/* Bytes per H5Dwrite/H5Dread call. Each piece is hashed right after it is written or
 * read, while it is still in the CPU cache, instead of in a second pass that brings
 * every byte from memory again (a small gain where xxh64 is compute-bound).
 */
#define PIECE_BYTES (1u << 20)

void loom__h5_quiet (void)
{
    H5Eset_auto2 (H5E_DEFAULT, NULL, NULL);
}

static hid_t file_type (const struct ds_column *c)
{
    switch (c->type) {
    case LOOM_DS_INT32:
        return H5Tcopy (H5T_STD_I32LE);
    case LOOM_DS_INT64:
        return H5Tcopy (H5T_STD_I64LE);
    case LOOM_DS_UINT64:
        return H5Tcopy (H5T_STD_U64LE);
    case LOOM_DS_FLOAT64:
        return H5Tcopy (H5T_IEEE_F64LE);
    case LOOM_DS_FIXSTR: {
        hid_t t = H5Tcopy (H5T_C_S1);
        if (t >= 0
            && (H5Tset_size (t, c->width) < 0
                || H5Tset_strpad (t, H5T_STR_NULLPAD) < 0)) {
            H5Tclose (t);
            return -1;
        }
        return t;
    }
    case LOOM_DS_BYTES:
        break;
    }
    return -1;
}

/* Stored dataset k of a schema: its name, HDF5 type and element size. */
struct stored {
    char name[DS_MAX_NAME + 16];
    hid_t type;
    size_t esize;
    int col;
    int is_offsets;
};

static int stored_list (const loom_ds_schema_t *s, struct stored *st)
{
    size_t k = 0;
    for (size_t c = 0; c < s->ncols; c++) {
        const struct ds_column *col = &s->cols[c];
        if (col->type == LOOM_DS_BYTES) {
            snprintf (st[k].name, sizeof (st[k].name), "%s.offsets", col->name);
            st[k].type = H5Tcopy (H5T_STD_U64LE);
            st[k].esize = 8;
            st[k].col = (int)c;
            st[k].is_offsets = 1;
            k++;
            snprintf (st[k].name, sizeof (st[k].name), "%s.bytes", col->name);
            st[k].type = H5Tcopy (H5T_STD_U8LE);
            st[k].esize = 1;
        } else {
            snprintf (st[k].name, sizeof (st[k].name), "%s", col->name);
            st[k].type = file_type (col);
            st[k].esize = col->width;
        }
        st[k].col = (int)c;
        st[k].is_offsets = 0;
        k++;
    }
    for (size_t i = 0; i < k; i++)
        if (st[i].type < 0)
            return -1;
    return (int)k;
}

static void stored_free (struct stored *st, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (st[i].type >= 0)
            H5Tclose (st[i].type);
}

struct ds_pfw {
    char *path;
    const loom_ds_schema_t *schema;
    hid_t file;
    size_t nst;
    struct stored st[2 * DS_MAX_COLS];
    hid_t dset[2 * DS_MAX_COLS];
    hsize_t len[2 * DS_MAX_COLS];
    hsize_t piece[2 * DS_MAX_COLS]; /* elements per write call: whole chunks */
    bool contig[2 * DS_MAX_COLS];   /* fixed length, contiguous layout */
    uint64_t records;
    struct ds_sum *sum;
    uint64_t *scratch; /* rebased offsets of one append */
    size_t scratch_cap;
    bool created; /* column datasets exist */
};

static hid_t file_fapl (void)
{
    hid_t fapl = H5Pcreate (H5P_FILE_ACCESS);
    if (fapl >= 0
        && H5Pset_libver_bounds (fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) < 0) {
        H5Pclose (fapl);
        return -1;
    }
    return fapl;
}

void loom__pfw_abort (ds_pfw_t *f)
{
    if (!f)
        return;
    int saved = errno;
    for (size_t i = 0; i < f->nst; i++)
        if (f->dset[i] >= 0)
            H5Dclose (f->dset[i]);
    stored_free (f->st, f->nst);
    if (f->file >= 0)
        H5Fclose (f->file);
    if (f->path)
        unlink (f->path);
    free (f->path);
    free (f->scratch);
    loom__sum_destroy (f->sum);
    free (f);
    errno = saved;
}

ds_pfw_t *loom__pfw_create (const char *tmp_path,
                            const loom_ds_schema_t *s,
                            bool whole,
                            loom_error_t *error)
{
    ds_pfw_t *f = calloc (1, sizeof (*f));
    hid_t fapl = -1, fcpl = -1;
    if (!f || !(f->path = strdup (tmp_path)) || !(f->sum = loom__sum_create (s))) {
        loom__pfw_abort (f);
        loom_errset (error, ENOMEM, "%s: out of memory", tmp_path);
        return NULL;
    }
    f->file = -1;
    f->schema = s;
    for (size_t i = 0; i < 2 * DS_MAX_COLS; i++)
        f->dset[i] = -1;
    int nst = stored_list (s, f->st);
    if (nst < 0)
        goto h5error;
    f->nst = (size_t)nst;
    /* Column data of 64 KiB or more starts on a page boundary, so each page of the
     * page cache holds one column's values and copying it to the reader's buffer is
     * one aligned copy per page (unaligned, reads cost up to 1.5x the CPU). In a
     * partition written whole, big columns start on 2 MiB boundaries instead, so the
     * page cache can hold them in huge folios that a reader maps (rawio.c); the gap
     * before each is a hole in the file, not disk space.
     */
    hsize_t threshold = whole ? LOOM__RAW_BIG : 65536;
    hsize_t align = whole ? LOOM__RAW_ALIGN : 4096;
    if ((fapl = file_fapl ()) < 0 || H5Pset_alignment (fapl, threshold, align) < 0
        || (fcpl = H5Pcreate (H5P_FILE_CREATE)) < 0
        || H5Pset_obj_track_times (fcpl, 0) < 0)
        goto h5error;
    f->file = H5Fcreate (tmp_path, H5F_ACC_TRUNC, fcpl, fapl);
    if (f->file < 0)
        goto h5error;
    H5Pclose (fapl);
    H5Pclose (fcpl);
    return f;
h5error : {
    int saved = errno;
    if (fapl >= 0)
        H5Pclose (fapl);
    if (fcpl >= 0)
        H5Pclose (fcpl);
    loom__pfw_abort (f);
    loom_errset (error, EIO, "%s: cannot create HDF5 file%s%s", tmp_path,
                 saved ? ": " : "", saved ? strerror (saved) : "");
    return NULL;
}
}

/* Create the column datasets. When the final lengths are known ('exact', from a
 * partition written in one call) a dataset is contiguous, exactly that long: HDF5
 * then reads and writes it with no chunk index at all (chunked reads cost more CPU,
 * docs/datasets.md). Otherwise it is chunked and extensible,
 * sized for a first batch of 'hint' records: chunks of about 1 MiB for big
 * partitions, smaller for small ones (a chunk is allocated whole, so a 3-record
 * partition must not cost megabytes).
 */
static int create_datasets (ds_pfw_t *f, size_t hint, const hsize_t *exact)
{
    hid_t dcpl = -1, dapl = -1, space = -1;
    /* Whole-chunk writes bypass HDF5's chunk cache; a cache would only copy. */
    if ((dapl = H5Pcreate (H5P_DATASET_ACCESS)) < 0
        || H5Pset_chunk_cache (dapl, H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0,
                               H5D_CHUNK_CACHE_W0_DEFAULT)
               < 0)
        goto error;
    for (size_t i = 0; i < f->nst; i++) {
        hsize_t zero = 0, unlimited = H5S_UNLIMITED;
        hsize_t chunk = CHUNK_BYTES / f->st[i].esize, want = hint < 64 ? 64 : hint;
        if (f->st[i].esize == 1 && hint) /* bytes: guess 16 per record */
            want = 16 * hint;
        if (want < chunk)
            chunk = want;
        if (chunk == 0)
            chunk = 1;
        f->piece[i] = PIECE_BYTES / f->st[i].esize / chunk * chunk;
        if (f->piece[i] == 0)
            f->piece[i] = chunk;
        f->contig[i] = exact && exact[i] > 0;
        if (f->contig[i]) {
            f->piece[i] =
                PIECE_BYTES / f->st[i].esize ? PIECE_BYTES / f->st[i].esize : 1;
            space = H5Screate_simple (1, &exact[i], NULL);
        } else {
            space = H5Screate_simple (1, &zero, &unlimited);
        }
        /* Contiguous storage is allocated at creation, so its offset is known
         * before any write (rawio.c writes there), and never filled (every byte
         * gets written).
         */
        if (space < 0 || (dcpl = H5Pcreate (H5P_DATASET_CREATE)) < 0
            || (f->contig[i] ? H5Pset_layout (dcpl, H5D_CONTIGUOUS)
                             : H5Pset_chunk (dcpl, 1, &chunk))
                   < 0
            || (f->contig[i] && H5Pset_alloc_time (dcpl, H5D_ALLOC_TIME_EARLY) < 0)
            || H5Pset_obj_track_times (dcpl, 0) < 0
            || H5Pset_fill_time (dcpl, H5D_FILL_TIME_NEVER) < 0)
            goto error;
        f->dset[i] = H5Dcreate2 (f->file, f->st[i].name, f->st[i].type, space,
                                 H5P_DEFAULT, dcpl, dapl);
        H5Pclose (dcpl);
        H5Sclose (space);
        dcpl = space = -1;
        if (f->dset[i] < 0)
            goto error;
    }
    H5Pclose (dapl);
    dapl = -1;
    /* A BYTES column's offsets start with 0; appends add one offset per record. (A
     * contiguous one is written whole by write_whole(), its 0 included.)
     */
    for (size_t i = 0; i < f->nst; i++) {
        if (!f->st[i].is_offsets || f->contig[i])
            continue;
        uint64_t zero = 0;
        hsize_t one = 1, start = 0;
        hid_t fs, ms;
        if (H5Dset_extent (f->dset[i], &one) < 0
            || (fs = H5Dget_space (f->dset[i])) < 0)
            goto error;
        ms = H5Screate_simple (1, &one, NULL);
        herr_t rc = H5Sselect_hyperslab (fs, H5S_SELECT_SET, &start, NULL, &one, NULL);
        if (rc >= 0)
            rc = H5Dwrite (f->dset[i], H5T_NATIVE_UINT64, ms, fs, H5P_DEFAULT, &zero);
        H5Sclose (fs);
        H5Sclose (ms);
        if (rc < 0)
            goto error;
        f->len[i] = 1;
        loom__sum_update (f->sum, i, &zero, 8);
    }
    f->created = true;
    return 0;
error:
    if (dcpl >= 0)
        H5Pclose (dcpl);
    if (dapl >= 0)
        H5Pclose (dapl);
    if (space >= 0)
        H5Sclose (space);
    return -1;
}

static hid_t mem_type (const struct stored *st, const loom_ds_schema_t *s)
{
    if (st->is_offsets)
        return H5T_NATIVE_UINT64;
    const struct ds_column *c = &s->cols[st->col];
    switch (c->type) {
    case LOOM_DS_INT32:
        return H5T_NATIVE_INT32;
    case LOOM_DS_INT64:
        return H5T_NATIVE_INT64;
    case LOOM_DS_UINT64:
        return H5T_NATIVE_UINT64;
    case LOOM_DS_FLOAT64:
        return H5T_NATIVE_DOUBLE;
    case LOOM_DS_BYTES:
        return H5T_NATIVE_UINT8;
    case LOOM_DS_FIXSTR:
        return st->type; /* same fixed string type in memory */
    }
    return -1;
}

/* Elements [at, at + n) of dataset 'd' from or to 'buf', as one hyperslab call. */
static herr_t
slab_io (hid_t d, hid_t mtype, hsize_t at, hsize_t n, void *buf, bool write)
{
    hid_t fs = H5Dget_space (d), ms = H5Screate_simple (1, &n, NULL);
    herr_t rc = -1;
    if (fs >= 0 && ms >= 0
        && H5Sselect_hyperslab (fs, H5S_SELECT_SET, &at, NULL, &n, NULL) >= 0)
        rc = write ? H5Dwrite (d, mtype, ms, fs, H5P_DEFAULT, buf)
                   : H5Dread (d, mtype, ms, fs, H5P_DEFAULT, buf);
    if (fs >= 0)
        H5Sclose (fs);
    if (ms >= 0)
        H5Sclose (ms);
    return rc;
}

/* Move elements [start, start + n) of stored dataset 'k' between the file and 'buf'
 * (which holds element 'start' first) in pieces that end on multiples of 'piece',
 * hashing each piece into 'sum' (if not NULL) while it is in the cache.
 */
static int pieces_io (hid_t d,
                      hid_t mtype,
                      size_t esize,
                      hsize_t start,
                      hsize_t n,
                      hsize_t piece,
                      void *buf,
                      bool write,
                      struct ds_sum *sum,
                      size_t k)
{
    for (hsize_t done = 0; done < n;) {
        hsize_t at = start + done, cnt = piece - at % piece;
        if (cnt > n - done)
            cnt = n - done;
        char *p = (char *)buf + done * esize;
        if (slab_io (d, mtype, at, cnt, p, write) < 0)
            return -1;
        if (sum)
            loom__sum_update (sum, k, p, cnt * esize);
        done += cnt;
    }
    return 0;
}

/* Append 'n' elements at 'buf' to stored dataset i. */
static int append_stored (ds_pfw_t *f, size_t i, const void *buf, hsize_t n)
{
    if (n == 0)
        return 0;
    hsize_t newlen = f->len[i] + n;
    if ((!f->contig[i] && H5Dset_extent (f->dset[i], &newlen) < 0)
        || pieces_io (f->dset[i], mem_type (&f->st[i], f->schema), f->st[i].esize,
                      f->len[i], n, f->piece[i], (void *)buf, true, f->sum, i)
               < 0)
        return -1;
    f->len[i] = newlen;
    return 0;
}

/* A partition written in one call: every non-empty dataset is contiguous and
 * allocated at creation, and its bytes go straight to their offset with pwrite(2),
 * in 2 MiB pieces hashed in one loop over all columns (rawio.c). HDF5 writes only
 * the metadata. Should HDF5 not tell an offset (it always does for such datasets),
 * the bytes go through H5Dwrite instead. Returns 0 or -1 (errno 0: HDF5 failed).
 */
static int write_whole (ds_pfw_t *f, size_t n, const struct loom_ds_colbuf *cols)
{
    const loom_ds_schema_t *s = f->schema;
    struct ds_span sp[2 * DS_MAX_COLS];
    hsize_t count[2 * DS_MAX_COLS];
    size_t k = 0;
    memset (sp, 0, sizeof (sp));
    for (size_t c = 0; c < s->ncols; c++) {
        if (s->cols[c].type == LOOM_DS_BYTES) {
            const uint64_t *off = cols[c].offsets;
            f->scratch[0] = 0;
            for (size_t r = 0; r < n; r++)
                f->scratch[r + 1] = off[r + 1] - off[0];
            sp[k].src = f->scratch;
            count[k++] = n + 1;
            sp[k].src = (const uint8_t *)cols[c].data + off[0];
            count[k++] = off[n] - off[0];
        } else {
            sp[k].src = cols[c].data;
            count[k++] = n;
        }
    }
    bool direct = true;
    for (size_t i = 0; i < k; i++) {
        sp[i].idx = i;
        if (count[i] == 0) /* an empty dataset is chunked, with nothing to write */
            continue;
        sp[i].len = count[i] * f->st[i].esize;
        haddr_t at = H5Dget_offset (f->dset[i]);
        if (at == HADDR_UNDEF)
            direct = false;
        sp[i].at = at;
    }
    errno = 0;
    if (direct) {
        int fd = open (f->path, O_WRONLY | O_CLOEXEC);
        int rc = fd < 0 ? -1 : loom__raw_write (fd, sp, k, f->sum);
        if (fd >= 0 && close (fd) < 0)
            rc = -1;
        if (rc < 0)
            return -1;
    } else {
        for (size_t i = 0; i < k; i++)
            if (append_stored (f, i, sp[i].src, count[i]) < 0)
                return -1;
    }
    for (size_t i = 0; i < k; i++)
        f->len[i] = count[i];
    return 0;
}

int loom__pfw_append (ds_pfw_t *f,
                      size_t n,
                      const struct loom_ds_colbuf *cols,
                      bool whole,
                      loom_error_t *error)
{
    const loom_ds_schema_t *s = f->schema;
    /* Validate everything before writing anything, so a bad call leaves no half
     * batch behind.
     */
    for (size_t c = 0; c < s->ncols; c++) {
        if (n > 0 && !cols[c].data && s->cols[c].type != LOOM_DS_BYTES)
            return loom_errset (error, EINVAL, "column '%s': no data", s->cols[c].name);
        if (s->cols[c].type == LOOM_DS_BYTES) {
            const uint64_t *off = cols[c].offsets;
            if (!off)
                return loom_errset (error, EINVAL, "column '%s': no offsets",
                                    s->cols[c].name);
            for (size_t r = 0; r < n; r++)
                if (off[r + 1] < off[r])
                    return loom_errset (error, EINVAL,
                                        "column '%s': offsets decrease at record %zu",
                                        s->cols[c].name, r);
            if (off[n] > off[0] && !cols[c].data)
                return loom_errset (error, EINVAL, "column '%s': no data",
                                    s->cols[c].name);
        }
    }
    hsize_t exact[2 * DS_MAX_COLS];
    for (size_t c = 0, k = 0; whole && c < s->ncols; c++) {
        if (s->cols[c].type == LOOM_DS_BYTES) {
            exact[k++] = n + 1;
            exact[k++] = cols[c].offsets[n] - cols[c].offsets[0];
        } else {
            exact[k++] = n;
        }
    }
    if (!f->created && create_datasets (f, n, whole ? exact : NULL) < 0)
        return loom_errset (error, EIO, "%s: cannot create HDF5 datasets", f->path);
    if (n + 1 > f->scratch_cap) {
        uint64_t *p = realloc (f->scratch, (n + 1) * sizeof (*p));
        if (!p)
            return loom_errset (error, ENOMEM, "%s: out of memory", f->path);
        f->scratch = p;
        f->scratch_cap = n + 1;
    }
    if (whole) {
        if (write_whole (f, n, cols) < 0)
            return loom_errset (error, EIO, "%s: write failed: %s", f->path,
                                errno ? strerror (errno) : "HDF5 error");
        f->records += n;
        return 0;
    }
    size_t k = 0;
    for (size_t c = 0; c < s->ncols; c++) {
        int rc;
        if (s->cols[c].type == LOOM_DS_BYTES) {
            const uint64_t *off = cols[c].offsets;
            uint64_t base = f->len[k + 1]; /* bytes stored so far */
            for (size_t r = 0; r < n; r++)
                f->scratch[r] = base + (off[r + 1] - off[0]);
            rc = append_stored (f, k, f->scratch, n);
            if (rc == 0)
                rc = append_stored (f, k + 1, (const uint8_t *)cols[c].data + off[0],
                                    off[n] - off[0]);
            k += 2;
        } else {
            rc = append_stored (f, k, cols[c].data, n);
            k += 1;
        }
        if (rc < 0)
            return loom_errset (error, EIO, "%s: column '%s': HDF5 write failed",
                                f->path, s->cols[c].name);
    }
    f->records += n;
    return 0;
}

static int attr_u64 (hid_t obj, const char *name, hid_t type, const void *v)
{
    hid_t sp = H5Screate (H5S_SCALAR);
    hid_t a = H5Acreate2 (obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc =
        (a >= 0
         && H5Awrite (a, type == H5T_STD_U32LE ? H5T_NATIVE_UINT32 : H5T_NATIVE_UINT64,
                      v)
                >= 0)
            ? 0
            : -1;
    if (a >= 0)
        H5Aclose (a);
    H5Sclose (sp);
    return rc;
}

static int attr_str (hid_t obj, const char *name, const char *v)
{
    if (!v)
        return 0;
    size_t len = strlen (v);
    hid_t t = H5Tcopy (H5T_C_S1);
    H5Tset_size (t, len ? len : 1);
    H5Tset_strpad (t, H5T_STR_NULLPAD);
    hid_t sp = H5Screate (H5S_SCALAR);
    hid_t a = H5Acreate2 (obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (a >= 0 && H5Awrite (a, t, len ? v : "") >= 0) ? 0 : -1;
    if (a >= 0)
        H5Aclose (a);
    H5Sclose (sp);
    H5Tclose (t);
    return rc;
}

int loom__pfw_finish (ds_pfw_t *f,
                      const struct ds_partfile_meta *meta,
                      uint64_t *records,
                      uint64_t *checksum,
                      loom_error_t *error)
{
    uint32_t version = LOOM_DS_FORMAT_VERSION;
    if (!f->created && create_datasets (f, 0, NULL) < 0) {
        loom_errset (error, EIO, "%s: cannot create HDF5 datasets", f->path);
        loom__pfw_abort (f);
        return -1;
    }
    uint64_t sum = loom__sum_digest (f->sum);
    hid_t root = f->file;
    if (attr_u64 (root, "loom_format_version", H5T_STD_U32LE, &version) < 0
        || attr_u64 (root, "loom_partition", H5T_STD_U32LE, &meta->partition) < 0
        || attr_u64 (root, "loom_nparts", H5T_STD_U32LE, &meta->nparts) < 0
        || attr_u64 (root, "loom_generation", H5T_STD_U32LE, &meta->generation) < 0
        || attr_u64 (root, "loom_records", H5T_STD_U64LE, &f->records) < 0
        || attr_u64 (root, "loom_checksum", H5T_STD_U64LE, &sum) < 0
        || attr_u64 (root, "loom_config", H5T_STD_U64LE, &meta->config) < 0
        || attr_str (root, "loom_schema", meta->schema_text) < 0
        || attr_str (root, "loom_partitioner", meta->partitioner_json) < 0
        || attr_str (root, "loom_lineage", meta->lineage) < 0
        || attr_str (root, "loom_trace_id", meta->trace_id) < 0
        || attr_str (root, "loom_created", meta->created) < 0) {
        loom_errset (error, EIO, "%s: cannot write HDF5 attributes", f->path);
        loom__pfw_abort (f);
        return -1;
    }
    for (size_t i = 0; i < f->nst; i++) {
        H5Dclose (f->dset[i]);
        f->dset[i] = -1;
    }
    herr_t rc = H5Fclose (f->file);
    f->file = -1;
    if (rc < 0) {
        loom_errset (error, EIO, "%s: HDF5 close failed (disk full?)", f->path);
        loom__pfw_abort (f);
        return -1;
    }
    if (meta->sync && loom__fsync_path (f->path) < 0) {
        loom_errset (error, errno, "%s: fsync: %s", f->path, strerror (errno));
        loom__pfw_abort (f);
        return -1;
    }
    *records = f->records;
    *checksum = sum;
    free (f->path);
    f->path = NULL; /* keep the file: the caller renames it */
    loom__pfw_abort (f);
    return 0;
}

/* ---- reading ---- */

static int read_attr (hid_t obj, const char *name, hid_t mtype, void *v)
{
    hid_t a = H5Aopen (obj, name, H5P_DEFAULT);
    if (a < 0)
        return -1;
    hid_t sp = H5Aget_space (a);
    int ok = sp >= 0 && H5Sget_simple_extent_type (sp) == H5S_SCALAR;
    hid_t ft = H5Aget_type (a);
    ok = ok && ft >= 0 && H5Tget_class (ft) == H5T_INTEGER;
    if (sp >= 0)
        H5Sclose (sp);
    if (ft >= 0)
        H5Tclose (ft);
    int rc = ok && H5Aread (a, mtype, v) >= 0 ? 0 : -1;
    H5Aclose (a);
    return rc;
}

int loom__pf_read_meta (const char *path,
                        uint32_t *partition,
                        uint32_t *generation,
                        uint64_t *config,
                        uint64_t *records,
                        uint64_t *checksum)
{
    loom__h5_quiet ();
    hid_t fapl = file_fapl ();
    hid_t file = H5Fopen (path, H5F_ACC_RDONLY, fapl);
    H5Pclose (fapl);
    if (file < 0) {
        errno = EPROTO;
        return -1;
    }
    uint32_t version = 0;
    int rc = 0;
    if (read_attr (file, "loom_format_version", H5T_NATIVE_UINT32, &version) < 0
        || version != LOOM_DS_FORMAT_VERSION
        || read_attr (file, "loom_partition", H5T_NATIVE_UINT32, partition) < 0
        || read_attr (file, "loom_generation", H5T_NATIVE_UINT32, generation) < 0
        || read_attr (file, "loom_config", H5T_NATIVE_UINT64, config) < 0
        || read_attr (file, "loom_records", H5T_NATIVE_UINT64, records) < 0
        || read_attr (file, "loom_checksum", H5T_NATIVE_UINT64, checksum) < 0)
        rc = -1;
    H5Fclose (file);
    if (rc < 0)
        errno = EPROTO;
    return rc;
}

/* Elements per read call of dataset 'd': a whole number of its chunks. */
static hsize_t read_piece (hid_t d, size_t esize)
{
    hsize_t n = PIECE_BYTES / esize, chunk = 0;
    hid_t dcpl = H5Dget_create_plist (d);
    if (dcpl >= 0 && H5Pget_layout (dcpl) == H5D_CHUNKED
        && H5Pget_chunk (dcpl, 1, &chunk) == 1 && chunk > 0)
        n = n < chunk ? chunk : n / chunk * chunk;
    if (dcpl >= 0)
        H5Pclose (dcpl);
    return n ? n : 1;
}

/* What reading stored dataset k takes: its element count, and whether its bytes are
 * one contiguous, unfiltered extent at a known offset of the file, in the type they
 * have in memory, so rawio.c can move them without HDF5 ('span').
 */
struct plan {
    hsize_t n;
    size_t bytes;
    bool direct;
    struct ds_span span;
};

/* Open and check stored dataset 'st'. Returns the open dataset (the caller closes
 * it) with 'pl' filled, or -1 with 'why' saying what is wrong.
 */
static hid_t open_stored (hid_t file,
                          const struct stored *st,
                          hsize_t fsize,
                          struct plan *pl,
                          char *why,
                          size_t whylen)
{
    /* No chunk cache: whole chunks are then read straight into our buffer instead
     * of through the cache and a copy.
     */
    hid_t dapl = H5Pcreate (H5P_DATASET_ACCESS);
    if (dapl >= 0)
        H5Pset_chunk_cache (dapl, H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0,
                            H5D_CHUNK_CACHE_W0_DEFAULT);
    hid_t d = H5Dopen2 (file, st->name, dapl >= 0 ? dapl : H5P_DEFAULT);
    if (dapl >= 0)
        H5Pclose (dapl);
    if (d < 0) {
        snprintf (why, whylen, "missing");
        return -1;
    }
    hid_t sp = H5Dget_space (d), ft = H5Dget_type (d), dcpl = H5Dget_create_plist (d);
    hsize_t dims[2] = {0, 0};
    bool ok = false;
    if (sp < 0 || ft < 0 || H5Sget_simple_extent_ndims (sp) != 1
        || H5Sget_simple_extent_dims (sp, dims, NULL) != 1) {
        snprintf (why, whylen, "not a 1-D dataset");
        goto out;
    }
    if (H5Tget_class (ft) != H5Tget_class (st->type) || H5Tget_size (ft) != st->esize) {
        snprintf (why, whylen, "has the wrong type");
        goto out;
    }
    /* Stored unfiltered, the values cannot outgrow their file (a corrupt extent
     * would otherwise ask for an absurd buffer, or overflow its size).
     */
    if (dims[0] > fsize / st->esize) {
        snprintf (why, whylen, "claims %llu values, more than its file holds",
                  (unsigned long long)dims[0]);
        goto out;
    }
    ok = true;
    pl->n = dims[0];
    pl->bytes = (size_t)dims[0] * st->esize;
    pl->direct = false;
    haddr_t at;
    if (pl->bytes > 0 && dcpl >= 0 && H5Pget_layout (dcpl) == H5D_CONTIGUOUS
        && H5Pget_nfilters (dcpl) == 0 && H5Pget_external_count (dcpl) == 0
        && H5Tequal (ft, st->type) > 0 && (at = H5Dget_offset (d)) != HADDR_UNDEF
        && at <= fsize && pl->bytes <= fsize - at) {
        pl->direct = true;
        pl->span.at = at;
        pl->span.len = pl->bytes;
    }
out:
    if (sp >= 0)
        H5Sclose (sp);
    if (ft >= 0)
        H5Tclose (ft);
    if (dcpl >= 0)
        H5Pclose (dcpl);
    if (!ok) {
        H5Dclose (d);
        return -1;
    }
    return d;
}

/* A buffer for stored dataset 'st' of 'bytes' from 'alloc' (malloc if NULL), or NULL
 * with 'why' saying why.
 */
static void *get_buffer (const struct ds_alloc *alloc,
                         const struct stored *st,
                         size_t bytes,
                         size_t *cap,
                         char *why,
                         size_t whylen)
{
    *cap = bytes ? bytes : 1;
    void *buf =
        alloc ? alloc->alloc (alloc->ctx, (size_t)st->col, st->is_offsets, bytes, cap)
              : malloc (*cap);
    if (!buf) {
        if (errno == ENOSPC)
            snprintf (why, whylen, "needs %zu bytes, more than the buffer given",
                      bytes);
        else if (errno == EPROTO)
            snprintf (why, whylen, "has more values than the manifest records");
        else
            snprintf (why, whylen, "out of memory");
    }
    return buf;
}

static void
put_buffer (const struct ds_alloc *alloc, const struct ds_map *map, void *p, size_t cap)
{
    if (!p || loom__raw_owns (map, p))
        return;
    if (alloc)
        alloc->release (alloc->ctx, p, cap);
    else
        free (p);
}

void loom__pf_release (const loom_ds_schema_t *s,
                       const struct ds_alloc *alloc,
                       struct ds_map *map,
                       struct ds_coldata *cols)
{
    int saved = errno;
    for (size_t c = 0; c < s->ncols; c++) {
        put_buffer (alloc, map, cols[c].data, cols[c].cap[0]);
        put_buffer (alloc, map, cols[c].offsets, cols[c].cap[1]);
        cols[c].data = NULL;
        cols[c].offsets = NULL;
    }
    loom__raw_unmap (map);
    errno = saved;
}

/* Where the bytes of a dataset of 'st' may stay in the mapping (zero copy): at an
 * address aligned for its element type.
 */
static bool
in_place_ok (const struct stored *st, const loom_ds_schema_t *s, uint64_t at)
{
    bool chars = !st->is_offsets
                 && (s->cols[st->col].type == LOOM_DS_FIXSTR
                     || s->cols[st->col].type == LOOM_DS_BYTES);
    return chars || at % st->esize == 0;
}

/* Move the direct datasets' bytes (rawio.c), into 'keep' (zero copy) where allowed,
 * else into buffers from 'alloc'. Returns 0, or -1 with errno and 'why'.
 */
static int read_direct (const char *path,
                        hsize_t fsize,
                        const loom_ds_schema_t *s,
                        const struct stored *st,
                        struct plan *pl,
                        size_t nst,
                        const struct ds_alloc *alloc,
                        struct ds_map *keep,
                        void **buf,
                        size_t *cap,
                        struct ds_sum *sum,
                        size_t *bad,
                        char *why,
                        size_t whylen)
{
    struct ds_span sp[2 * DS_MAX_COLS];
    size_t ix[2 * DS_MAX_COLS], n = 0;
    for (size_t k = 0; k < nst; k++)
        if (pl[k].direct) {
            sp[n] = pl[k].span;
            sp[n].idx = k;
            ix[n++] = k;
        }
    if (n == 0)
        return 0;
    *bad = ix[0];
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf (why, whylen, "cannot be opened: %s", strerror (errno));
        return -1;
    }
    struct ds_map map = {NULL, 0, false};
    int mapped = loom__raw_map (fd, fsize, sp, n, &map);
    if (mapped < 0) {
        close (fd);
        snprintf (why, whylen, "ends early (truncated file)");
        return -1;
    }
    bool in_place = false;
    for (size_t j = 0; j < n; j++) {
        size_t k = ix[j];
        if (mapped && keep && in_place_ok (&st[k], s, sp[j].at)) {
            buf[k] = (char *)map.base + sp[j].at;
            cap[k] = 0;
            in_place = true;
        } else if (!(buf[k] = get_buffer (alloc, &st[k], pl[k].bytes, &cap[k], why,
                                          whylen))) {
            int saved = errno;
            *bad = k;
            for (size_t i = 0; i < j; i++)
                put_buffer (alloc, &map, buf[ix[i]], cap[ix[i]]), buf[ix[i]] = NULL;
            loom__raw_unmap (&map);
            close (fd);
            errno = saved;
            return -1;
        }
        sp[j].dst = buf[k];
    }
    int rc = 0;
    if (mapped ? loom__raw_hash_mapped (&map, sp, n, sum) < 0
               : loom__raw_read (fd, sp, n, sum) < 0) {
        rc = -1;
        snprintf (why, whylen, "cannot be read (%s)",
                  errno == EPROTO ? "truncated file" : strerror (errno));
    }
    close (fd);
    if (rc < 0) {
        int saved = errno;
        for (size_t j = 0; j < n; j++)
            put_buffer (alloc, &map, buf[ix[j]], cap[ix[j]]), buf[ix[j]] = NULL;
        loom__raw_unmap (&map);
        errno = saved == EPROTO ? EPROTO : EIO;
        return -1;
    }
    if (in_place)
        *keep = map;
    else
        loom__raw_unmap (&map);
    return 0;
}

int loom__pf_read (const char *path,
                   const char *label,
                   const loom_ds_schema_t *s,
                   uint32_t part,
                   uint32_t generation,
                   const struct ds_alloc *alloc,
                   struct ds_map *map,
                   size_t *nrec,
                   struct ds_coldata *cols,
                   uint64_t *checksum,
                   loom_error_t *error)
{
    loom__h5_quiet ();
    if (map)
        map->base = NULL;
    struct stored st[2 * DS_MAX_COLS];
    struct plan pl[2 * DS_MAX_COLS];
    void *buf[2 * DS_MAX_COLS];
    size_t cap[2 * DS_MAX_COLS];
    int nst = stored_list (s, st);
    struct ds_sum *sum = checksum ? loom__sum_create (s) : NULL;
    hid_t file = -1, fapl = file_fapl ();
    hsize_t fsize = 0;
    if (nst < 0 || fapl < 0 || (checksum && !sum)) {
        stored_free (st, nst < 0 ? 0 : (size_t)nst);
        loom__sum_destroy (sum);
        if (fapl >= 0)
            H5Pclose (fapl);
        return loom_errset (error, ENOMEM, "%s: out of memory", label);
    }
    memset (buf, 0, sizeof (buf));
    memset (pl, 0, sizeof (pl));
    file = H5Fopen (path, H5F_ACC_RDONLY, fapl);
    H5Pclose (fapl);
    if (file < 0 || H5Fget_filesize (file, &fsize) < 0) {
        if (file >= 0)
            H5Fclose (file);
        stored_free (st, (size_t)nst);
        loom__sum_destroy (sum);
        return loom_errset (error, EPROTO,
                            "%s: not a readable HDF5 file (truncated or corrupt)",
                            label);
    }
    uint32_t version = 0, fpart = 0, fgen = 0;
    if (read_attr (file, "loom_format_version", H5T_NATIVE_UINT32, &version) < 0) {
        loom_errset (error, EPROTO, "%s: no loom_format_version attribute", label);
        goto error;
    }
    if (version != LOOM_DS_FORMAT_VERSION) {
        loom_errset (error, EPROTO, "%s: format version %u, this Loom reads %d", label,
                     version, LOOM_DS_FORMAT_VERSION);
        goto error;
    }
    if (read_attr (file, "loom_partition", H5T_NATIVE_UINT32, &fpart) < 0
        || read_attr (file, "loom_generation", H5T_NATIVE_UINT32, &fgen) < 0
        || fpart != part || fgen != generation) {
        loom_errset (error, EPROTO,
                     "%s: file holds partition %u generation %u, expected %u "
                     "generation %u",
                     label, fpart, fgen, part, generation);
        goto error;
    }
    /* Datasets that HDF5 must read (chunked ones) are read now; the others after
     * every dataset has been checked, all at once (read_direct).
     */
    char why[160];
    for (int k = 0; k < nst; k++) {
        errno = 0;
        hid_t d = open_stored (file, &st[k], fsize, &pl[k], why, sizeof (why));
        if (d >= 0 && !pl[k].direct) {
            buf[k] =
                get_buffer (alloc, &st[k], pl[k].bytes, &cap[k], why, sizeof (why));
            if (buf[k]
                && pieces_io (d, mem_type (&st[k], s), st[k].esize, 0, pl[k].n,
                              read_piece (d, st[k].esize), buf[k], false, sum,
                              (size_t)k)
                       < 0) {
                put_buffer (alloc, NULL, buf[k], cap[k]);
                buf[k] = NULL;
                errno = EPROTO;
                snprintf (why, sizeof (why),
                          "cannot be read (corrupt or truncated file)");
            }
        }
        if (d >= 0)
            H5Dclose (d);
        if (d < 0 || (!pl[k].direct && !buf[k])) {
            loom_errset (error, errno == ENOMEM || errno == ENOSPC ? errno : EPROTO,
                         "%s: column '%s' %s", label, st[k].name, why);
            goto error;
        }
    }
    H5Fclose (file);
    file = -1;
    size_t bad = 0;
    if (read_direct (path, fsize, s, st, pl, (size_t)nst, alloc, map, buf, cap, sum,
                     &bad, why, sizeof (why))
        < 0) {
        int e = errno == ENOMEM || errno == ENOSPC || errno == EIO ? errno : EPROTO;
        loom_errset (error, e, "%s: column '%s' %s", label, st[bad].name, why);
        goto error;
    }
    /* Hand the buffers to their columns and check that the columns agree. */
    size_t n = 0;
    int have_n = 0;
    for (int k = 0; k < nst; k++) {
        struct ds_coldata *cd = &cols[st[k].col];
        hsize_t len = pl[k].n;
        size_t records = st[k].is_offsets ? (size_t)len - 1 : (size_t)len;
        cd->cap[st[k].is_offsets] = cap[k];
        if (st[k].is_offsets) {
            cd->offsets = buf[k];
        } else {
            cd->data = buf[k];
            cd->nbytes = pl[k].bytes;
        }
        buf[k] = NULL;
        if (st[k].is_offsets && len == 0) {
            loom_errset (error, EPROTO, "%s: column '%s' is empty", label, st[k].name);
            goto error;
        }
        if (!st[k].is_offsets && s->cols[st[k].col].type == LOOM_DS_BYTES)
            continue; /* its records were counted by the offsets */
        if (have_n && records != n) {
            loom_errset (error, EPROTO, "%s: column '%s' has %zu records, others %zu",
                         label, st[k].name, records, n);
            goto error;
        }
        n = records;
        have_n = 1;
    }
    /* Offsets must index inside the bytes, or a reader would run off the buffer. */
    for (size_t c = 0; c < s->ncols; c++) {
        if (s->cols[c].type != LOOM_DS_BYTES)
            continue;
        const uint64_t *off = cols[c].offsets;
        if (off[0] != 0 || off[n] != cols[c].nbytes) {
            loom_errset (error, EPROTO,
                         "%s: column '%s': offsets do not match its bytes", label,
                         s->cols[c].name);
            goto error;
        }
        for (size_t r = 0; r < n; r++)
            if (off[r + 1] < off[r]) {
                loom_errset (error, EPROTO, "%s: column '%s': offsets decrease at %zu",
                             label, s->cols[c].name, r);
                goto error;
            }
    }
    stored_free (st, (size_t)nst);
    if (checksum)
        *checksum = loom__sum_digest (sum);
    loom__sum_destroy (sum);
    *nrec = n;
    return 0;
error : {
    int saved = errno;
    if (file >= 0)
        H5Fclose (file);
    for (int k = 0; k < nst; k++)
        put_buffer (alloc, map, buf[k], cap[k]);
    stored_free (st, (size_t)nst);
    loom__sum_destroy (sum);
    loom__pf_release (s, alloc, map, cols);
    errno = saved;
    return -1;
}
}
