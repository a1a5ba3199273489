/* SPDX-License-Identifier: MIT */
/* Writing a dataset: partitions go to temporary names, are fsync'ed and renamed into
 * place as they end; the manifest, written last by rank 0 in loom_ds_commit(), makes
 * the whole version visible at once. Rank 0 alone decides everything that touches
 * the directory (generation, reuse) and broadcasts it, so all ranks agree.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <loom/hash.h>
#include <loom/trace.h>

#include "internal.h"

struct loom_ds_writer {
    MPI_Comm comm; /* MPI_COMM_NULL: this process alone */
    int rank, size;
    char *path;
    struct ds_manifest m; /* the version being written */
    char *schema_text, *partjson;
    uint64_t config;
    uint32_t old_generation; /* 0: no previous version */
    bool repair;
    bool sync;
    bool *reused;             /* committed before this writer started */
    bool *mine;               /* ended by this rank */
    struct ds_partinfo *info; /* reused and mine */
    struct ds_coldata **mem;  /* PERSIST_MEMORY/BOTH: this rank's partitions */
    bool committed;
};

/* Trace events (docs/tracing.md): one span per partition written and per commit. */
LOOM_TRACE_TYPE (
    t_part_write, "datasets", "partition.write", "partition", "records", "bytes");
LOOM_TRACE_TYPE (t_commit, "datasets", "commit", "partitions", "records", "generation");

struct loom_ds_part_writer {
    loom_ds_writer_t *w;
    loom_trace_span_t span;
    uint32_t part;
    char *tmp, *final;
    ds_pfw_t *file;
    struct ds_coldata *mem; /* memory copy being built */
    size_t *cap;            /* capacities of mem[c].data, and offsets at [ncols + c] */
    size_t n;
    bool whole; /* loom_ds_write_partition: one append holds all (contiguous layout) */
};

/* The state rank 0 broadcasts after deciding how the write starts. */
struct plan {
    int err;
    uint32_t generation, old_generation;
    char text[sizeof (((loom_error_t *)0)->text)];
};

static int bcast (loom_ds_writer_t *w, void *buf, size_t len)
{
    if (w->comm == MPI_COMM_NULL)
        return 0;
    return MPI_Bcast (buf, (int)len, MPI_BYTE, 0, w->comm) == MPI_SUCCESS ? 0 : -1;
}

static bool is_disk (const loom_ds_writer_t *w)
{
    return w->m.persist != LOOM_DS_PERSIST_MEMORY;
}

/* Validate params into w->m (same result on every rank). */
static int setup (loom_ds_writer_t *w,
                  const loom_ds_schema_t *schema,
                  const struct loom_ds_create_params *p,
                  loom_error_t *error)
{
    struct ds_manifest *m = &w->m;
    if (!schema || schema->ncols == 0)
        return loom_errset (error, EINVAL, "%s: empty schema", w->path);
    if (p->nparts == 0 || p->nparts > DS_MAX_NPARTS)
        return loom_errset (error, EINVAL, "%s: nparts %u out of range 1..%u", w->path,
                            p->nparts, DS_MAX_NPARTS);
    if (p->flags & ~(LOOM_DS_OVERWRITE | LOOM_DS_RESUME | LOOM_DS_NOSYNC))
        return loom_errset (error, EINVAL, "%s: unknown flags 0x%x", w->path, p->flags);
    if (p->persist < LOOM_DS_PERSIST_DISK || p->persist > LOOM_DS_PERSIST_BOTH)
        return loom_errset (error, EINVAL, "%s: unknown persistence %d", w->path,
                            (int)p->persist);
    if (p->persist == LOOM_DS_PERSIST_MEMORY
        && (p->repair_partitions || (p->flags & LOOM_DS_RESUME)))
        return loom_errset (error, EINVAL,
                            "%s: repair and resume need a dataset persisted on disk",
                            w->path);
    m->schema = *schema;
    m->nparts = p->nparts;
    m->persist = p->persist;
    m->partitioner = p->partitioner;
    m->key = -1;
    if (p->partitioner != LOOM_DS_PART_NONE) {
        if (p->partitioner != LOOM_DS_PART_HASH && p->partitioner != LOOM_DS_PART_RANGE)
            return loom_errset (error, EINVAL, "%s: unknown partitioner %d", w->path,
                                (int)p->partitioner);
        if (!p->key || (m->key = loom_ds_schema_find (schema, p->key)) < 0)
            return loom_errset (error, EINVAL,
                                "%s: partitioner key '%s' is not a column", w->path,
                                p->key ? p->key : "(none)");
        m->seed = p->seed;
    }
    if (p->partitioner == LOOM_DS_PART_RANGE && p->nparts > 1) {
        const struct ds_column *c = &schema->cols[m->key];
        if (!p->splitters.data || (c->type == LOOM_DS_BYTES && !p->splitters.offsets))
            return loom_errset (error, EINVAL,
                                "%s: range partitioner without splitters", w->path);
        m->split = calloc (p->nparts, sizeof (*m->split));
        m->split_len = calloc (p->nparts, sizeof (*m->split_len));
        if (!m->split || !m->split_len)
            return loom_errset (error, ENOMEM, "%s: out of memory", w->path);
        for (uint32_t i = 0; i + 1 < p->nparts; i++) {
            const uint8_t *src;
            size_t len;
            if (c->type == LOOM_DS_BYTES) {
                const uint64_t *off = p->splitters.offsets;
                src = (const uint8_t *)p->splitters.data + off[i];
                len = off[i + 1] - off[i];
            } else {
                src = (const uint8_t *)p->splitters.data + (size_t)i * c->width;
                len = c->width;
            }
            if (!(m->split[i] = malloc (len ? len : 1)))
                return loom_errset (error, ENOMEM, "%s: out of memory", w->path);
            memcpy (m->split[i], src, len);
            m->split_len[i] = len;
            if (i > 0
                && loom__key_cmp (c->type, m->split[i - 1], m->split_len[i - 1],
                                  m->split[i], len)
                       > 0)
                return loom_errset (
                    error, EINVAL, "%s: splitters are not ascending at %u", w->path, i);
        }
    } else if (p->partitioner == LOOM_DS_PART_RANGE) {
        m->split = calloc (1, sizeof (*m->split));
        m->split_len = calloc (1, sizeof (*m->split_len));
    }
    /* The job's trace id, so the data leads to its trace (and back). */
    char tid[17];
    uint64_t id = loom_trace_id ();
    const char *trace_id = p->trace_id ? p->trace_id
                           : id        ? loom_trace_id_format (id, tid)
                                       : NULL;
    if (trace_id && !(m->trace_id = strdup (trace_id)))
        return loom_errset (error, ENOMEM, "%s: out of memory", w->path);
    return 0;
}

/* Resume: find complete partition files of 'gen' written with the same config. */
static void find_resumable (loom_ds_writer_t *w, uint32_t gen)
{
    for (uint32_t part = 0; part < w->m.nparts; part++) {
        char *name = loom__part_name (part, gen);
        char *path = name ? loom__path_join (w->path, name) : NULL;
        struct stat st;
        uint32_t fpart, fgen;
        uint64_t config, records, checksum;
        if (path && stat (path, &st) == 0
            && loom__pf_read_meta (path, &fpart, &fgen, &config, &records, &checksum)
                   == 0
            && fpart == part && fgen == gen && config == w->config) {
            w->reused[part] = true;
            w->info[part].records = records;
            w->info[part].checksum = checksum;
            w->info[part].bytes = (uint64_t)st.st_size;
            w->info[part].owner = -1;
        }
        free (name);
        free (path);
    }
}

static void compute_config (loom_ds_writer_t *w)
{
    loom_hash_state_t *h = loom_hash_state_create (0);
    if (!h)
        return;
    loom_hash_state_update (h, w->schema_text, strlen (w->schema_text) + 1);
    loom_hash_state_update (h, w->partjson, strlen (w->partjson) + 1);
    loom_hash_state_update (h, w->m.lineage, strlen (w->m.lineage) + 1);
    loom_hash_state_update (h, &w->m.nparts, sizeof (w->m.nparts));
    w->config = loom_hash_state_digest (h);
    loom_hash_state_destroy (h);
}

/* Rank 0: look at the directory and decide generation and reuse. */
static int plan_root (loom_ds_writer_t *w,
                      const struct loom_ds_create_params *p,
                      struct plan *pl,
                      loom_error_t *error)
{
    struct ds_manifest old;
    loom_error_t e;
    struct stat st;
    if (!is_disk (w)) {
        pl->generation = 1;
        return 0;
    }
    if (stat (w->path, &st) == 0 && !S_ISDIR (st.st_mode))
        return loom_errset (error, EEXIST, "%s: exists and is not a dataset directory",
                            w->path);
    if (mkdir (w->path, 0755) < 0 && errno != EEXIST)
        return loom_errset (error, errno, "%s: cannot create directory: %s", w->path,
                            strerror (errno));
    int have_old = loom__manifest_load (w->path, &old, &e) == 0;
    if (!have_old && errno != ENOENT && !(p->flags & LOOM_DS_OVERWRITE))
        return loom_errset (error, EEXIST, "%s (use overwrite to replace it)", e.text);
    if (p->repair_partitions) {
        if (!have_old)
            return loom_errset (error, errno == ENOENT ? ENOENT : EPROTO, "repair: %s",
                                e.text);
        int ok = loom_ds_schema_equal (&old.schema, &w->m.schema)
                 && old.nparts == w->m.nparts && old.persist != LOOM_DS_PERSIST_MEMORY;
        if (!ok) {
            loom__manifest_free (&old);
            return loom_errset (
                error, EPROTO,
                "%s: repair: schema or partition count differs from the "
                "dataset's",
                w->path);
        }
        /* Keep the recorded version and description so repaired partition files
         * come out bit-identical; only the listed partitions are rewritten.
         */
        bool *sel = calloc (w->m.nparts, sizeof (bool));
        if (!sel
            || loom__parse_partlist (p->repair_partitions, w->m.nparts, sel, &e) < 0) {
            free (sel);
            loom__manifest_free (&old);
            return loom_errset (error, EINVAL, "%s: repair: %s", w->path,
                                sel ? e.text : "out of memory");
        }
        for (uint32_t i = 0; i < w->m.nparts; i++) {
            w->reused[i] = !sel[i];
            w->info[i] = old.parts[i];
        }
        free (sel);
        pl->generation = old.generation;
        pl->old_generation = old.generation;
        loom__manifest_free (&old);
        return 0;
    }
    if (have_old && !(p->flags & LOOM_DS_OVERWRITE)) {
        loom__manifest_free (&old);
        return loom_errset (
            error, EEXIST, "%s: dataset exists (use overwrite to replace it)", w->path);
    }
    pl->old_generation = have_old ? old.generation : 0;
    pl->generation = pl->old_generation + 1;
    if (!have_old) {
        /* No (valid) manifest: step past every generation left in the directory. */
        DIR *d = opendir (w->path);
        struct dirent *de;
        while (d && (de = readdir (d))) {
            unsigned part, gen;
            if (sscanf (de->d_name, "part-%u.g%u.h5", &part, &gen) == 2
                && !(p->flags & LOOM_DS_RESUME) && gen >= pl->generation)
                pl->generation = gen + 1;
        }
        if (d)
            closedir (d);
    }
    if (have_old)
        loom__manifest_free (&old);
    return 0;
}

/* Repair keeps the recorded manifest's description; rank 0 sends it to the others. */
static int adopt_old_description (loom_ds_writer_t *w, loom_error_t *error)
{
    int len = 0;
    char *text = NULL;
    struct ds_manifest old;
    if (w->rank == 0) {
        size_t n = 0;
        char *path = loom__path_join (w->path, DS_MANIFEST);
        text = path ? loom__read_file (path, &n, 256u << 20) : NULL;
        free (path);
        len = text ? (int)n : -1;
    }
    if (w->comm != MPI_COMM_NULL)
        MPI_Bcast (&len, 1, MPI_INT, 0, w->comm);
    if (len < 0)
        return loom_errset (error, EIO, "%s: manifest vanished during repair", w->path);
    if (w->rank != 0 && !(text = malloc ((size_t)len + 1)))
        return loom_errset (error, ENOMEM, "%s: out of memory", w->path);
    bcast (w, text, (size_t)len);
    int rc = loom__manifest_parse (text, (size_t)len, &old, error);
    free (text);
    if (rc < 0)
        return -1;
    free (w->m.created);
    free (w->m.trace_id);
    free (w->m.lineage);
    w->m.created = old.created;
    w->m.trace_id = old.trace_id;
    w->m.lineage = old.lineage;
    old.created = old.trace_id = old.lineage = NULL;
    loom__manifest_free (&old);
    return 0;
}

loom_ds_writer_t *loom_ds_create (MPI_Comm comm,
                                  const char *path,
                                  const loom_ds_schema_t *schema,
                                  const struct loom_ds_create_params *params,
                                  loom_error_t *error)
{
    struct loom_ds_create_params defaults = LOOM_DS_CREATE_PARAMS_INIT;
    const struct loom_ds_create_params *p = params ? params : &defaults;
    loom__h5_quiet ();
    if (!path || !*path) {
        loom_errset (error, EINVAL, "dataset: no path given");
        return NULL;
    }
    loom_ds_writer_t *w = calloc (1, sizeof (*w));
    if (!w || !(w->path = strdup (path))) {
        free (w);
        loom_errset (error, ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    size_t plen = strlen (w->path);
    while (plen > 1 && w->path[plen - 1] == '/')
        w->path[--plen] = '\0';
    w->comm = comm;
    w->size = 1;
    if (comm != MPI_COMM_NULL) {
        MPI_Comm_rank (comm, &w->rank);
        MPI_Comm_size (comm, &w->size);
    }
    struct plan pl = {0};
    loom_error_t e = {{0}};
    int local = setup (w, schema, p, &e);
    if (local == 0) {
        w->reused = calloc (w->m.nparts, sizeof (bool));
        w->mine = calloc (w->m.nparts, sizeof (bool));
        w->info = calloc (w->m.nparts, sizeof (*w->info));
        w->schema_text = loom_ds_schema_format (&w->m.schema);
        w->partjson = loom__partitioner_json (&w->m);
        w->m.created = loom__now_rfc3339 ();
        if (!w->reused || !w->mine || !w->info || !w->schema_text || !w->partjson
            || !w->m.created)
            local = loom_errset (&e, ENOMEM, "%s: out of memory", path);
    }
    /* Lineage reads the inputs' manifests: rank 0 builds it, everyone gets the text. */
    if (local == 0 && w->rank == 0 && !p->repair_partitions
        && !(w->m.lineage = loom__lineage_build (p->lineage, &e)))
        local = -1;
    if (local == 0 && w->rank == 0)
        local = plan_root (w, p, &pl, &e);
    if (local < 0) {
        pl.err = errno ? errno : EIO;
        memcpy (pl.text, e.text, sizeof (pl.text));
    }
    /* Rank 0's plan wins; a local validation failure elsewhere is the same failure
     * (params are the same on every rank), so only rank 0's outcome is broadcast.
     */
    if (bcast (w, &pl, sizeof (pl)) < 0)
        pl.err = EIO;
    if (pl.err) {
        loom_errset (error, pl.err, "%s", pl.text);
        loom_ds_writer_destroy (w);
        errno = pl.err;
        return NULL;
    }
    if (local < 0) { /* only possible when this rank's params differ from rank 0's */
        loom_errset (error, errno, "%s", e.text);
        loom_ds_writer_destroy (w);
        return NULL;
    }
    w->m.generation = pl.generation;
    w->old_generation = pl.old_generation;
    w->repair = p->repair_partitions != NULL;
    w->sync = !(p->flags & LOOM_DS_NOSYNC);
    if (w->repair) {
        if (adopt_old_description (w, error) < 0) {
            loom_ds_writer_destroy (w);
            return NULL;
        }
    } else {
        int len = w->rank == 0 ? (int)strlen (w->m.lineage) : 0;
        if (w->comm != MPI_COMM_NULL)
            MPI_Bcast (&len, 1, MPI_INT, 0, w->comm);
        if (w->rank != 0 && !(w->m.lineage = calloc (1, (size_t)len + 1))) {
            loom_errset (error, ENOMEM, "%s: out of memory", path);
            loom_ds_writer_destroy (w);
            return NULL;
        }
        bcast (w, w->m.lineage, (size_t)len);
    }
    compute_config (w);
    if (w->rank == 0 && (p->flags & LOOM_DS_RESUME) && !w->repair)
        find_resumable (w, w->m.generation);
    /* Everyone learns which partitions are already committed. */
    if (bcast (w, w->reused, w->m.nparts * sizeof (bool)) < 0
        || bcast (w, w->info, w->m.nparts * sizeof (*w->info)) < 0) {
        loom_errset (error, EIO, "%s: MPI broadcast failed", path);
        loom_ds_writer_destroy (w);
        return NULL;
    }
    if (w->m.persist != LOOM_DS_PERSIST_DISK
        && !(w->mem = calloc (w->m.nparts, sizeof (*w->mem)))) {
        loom_errset (error, ENOMEM, "%s: out of memory", path);
        loom_ds_writer_destroy (w);
        return NULL;
    }
    return w;
}

int loom_ds_writer_committed (const loom_ds_writer_t *w, uint32_t part)
{
    return w && part < w->m.nparts && w->reused[part];
}

const loom_ds_schema_t *loom_ds_writer_schema (const loom_ds_writer_t *w)
{
    return &w->m.schema;
}

int64_t
loom_ds_writer_partition_of (const loom_ds_writer_t *w, const void *key, size_t len)
{
    return loom__partition_of (&w->m, key, len);
}

void loom_ds_part_abort (loom_ds_part_writer_t *pw)
{
    if (!pw)
        return;
    int saved = errno;
    loom_trace_end (pw->span); /* an abandoned partition still shows its time */
    loom__pfw_abort (pw->file);
    if (pw->mem)
        loom__coldata_free (&pw->w->m.schema, pw->mem);
    free (pw->cap);
    free (pw->tmp);
    free (pw->final);
    free (pw);
    errno = saved;
}

/* Begin partition 'part'; 'whole': loom_ds_write_partition, one append of all. */
static loom_ds_part_writer_t *
part_begin (loom_ds_writer_t *w, uint32_t part, bool whole, loom_error_t *error)
{
    loom__h5_quiet ();
    if (!w) {
        loom_errset (error, EINVAL, "dataset: no writer");
        return NULL;
    }
    if (part >= w->m.nparts) {
        loom_errset (error, EINVAL, "%s: partition %u out of range (nparts %u)",
                     w->path, part, w->m.nparts);
        return NULL;
    }
    if (w->mine[part] || w->reused[part] || w->committed) {
        loom_errset (error, EEXIST, "%s: partition %u is already %s", w->path, part,
                     w->mine[part] ? "written" : "committed");
        return NULL;
    }
    loom_ds_part_writer_t *pw = calloc (1, sizeof (*pw));
    if (!pw)
        goto nomem;
    pw->w = w;
    pw->part = part;
    pw->whole = whole;
    pw->span = loom_trace_begin (&t_part_write, part, 0, 0);
    if (is_disk (w)) {
        char *name = loom__part_name (part, w->m.generation);
        if (!name)
            goto nomem;
        pw->final = loom__path_join (w->path, name);
        if (asprintf (&pw->tmp, "%s/.tmp.%s.%d", w->path, name, (int)getpid ()) < 0)
            pw->tmp = NULL;
        free (name);
        if (!pw->final || !pw->tmp)
            goto nomem;
        if (!(pw->file = loom__pfw_create (pw->tmp, &w->m.schema, whole, error))) {
            loom_ds_part_abort (pw);
            return NULL;
        }
    }
    if (w->mem) {
        size_t nc = w->m.schema.ncols;
        pw->mem = calloc (nc, sizeof (*pw->mem));
        pw->cap = calloc (2 * nc, sizeof (*pw->cap));
        if (!pw->mem || !pw->cap)
            goto nomem;
        for (size_t c = 0; c < nc; c++)
            if (w->m.schema.cols[c].type == LOOM_DS_BYTES) {
                if (!(pw->mem[c].offsets = calloc (1, sizeof (uint64_t))))
                    goto nomem;
                pw->cap[nc + c] = 1;
            }
    }
    return pw;
nomem:
    loom_ds_part_abort (pw);
    loom_errset (error, ENOMEM, "%s: out of memory", w->path);
    return NULL;
}

loom_ds_part_writer_t *
loom_ds_part_begin (loom_ds_writer_t *w, uint32_t part, loom_error_t *error)
{
    return part_begin (w, part, false, error);
}

static int grow (void **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    void *q = realloc (*p, c);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int
mem_append (loom_ds_part_writer_t *pw, size_t n, const struct loom_ds_colbuf *cols)
{
    const loom_ds_schema_t *s = &pw->w->m.schema;
    size_t nc = s->ncols;
    for (size_t c = 0; c < nc; c++) {
        struct ds_coldata *cd = &pw->mem[c];
        if (s->cols[c].type == LOOM_DS_BYTES) {
            const uint64_t *off = cols[c].offsets;
            size_t len = off[n] - off[0];
            size_t ocap = pw->cap[nc + c] * sizeof (uint64_t);
            if (grow ((void **)&cd->offsets, &ocap, (pw->n + n + 1) * sizeof (uint64_t))
                    < 0
                || grow (&cd->data, &pw->cap[c], cd->nbytes + len) < 0)
                return -1;
            pw->cap[nc + c] = ocap / sizeof (uint64_t);
            for (size_t r = 0; r < n; r++)
                cd->offsets[pw->n + r + 1] = cd->nbytes + (off[r + 1] - off[0]);
            if (len)
                memcpy ((char *)cd->data + cd->nbytes,
                        (const char *)cols[c].data + off[0], len);
            cd->nbytes += len;
        } else {
            size_t len = n * s->cols[c].width;
            if (grow (&cd->data, &pw->cap[c], cd->nbytes + len) < 0)
                return -1;
            if (len)
                memcpy ((char *)cd->data + cd->nbytes, cols[c].data, len);
            cd->nbytes += len;
        }
    }
    return 0;
}

int loom_ds_part_append (loom_ds_part_writer_t *pw,
                         size_t n,
                         const struct loom_ds_colbuf *cols,
                         loom_error_t *error)
{
    loom__h5_quiet ();
    if (!pw || (n > 0 && !cols))
        return loom_errset (error, EINVAL, "dataset: append without writer or columns");
    if (n == 0)
        return 0;
    if (pw->file) {
        loom_error_t e;
        if (loom__pfw_append (pw->file, n, cols, pw->whole && pw->n == 0, &e) < 0)
            return loom_errset (error, errno, "%s: partition %u: %s", pw->w->path,
                                pw->part, e.text);
        loom__crash_point ("part-appended");
    } else {
        /* Memory only: validate like the file writer does. */
        const loom_ds_schema_t *s = &pw->w->m.schema;
        for (size_t c = 0; c < s->ncols; c++) {
            const uint64_t *off = cols[c].offsets;
            if (s->cols[c].type != LOOM_DS_BYTES
                    ? !cols[c].data
                    : !off || (off[n] > off[0] && !cols[c].data))
                return loom_errset (error, EINVAL,
                                    "%s: partition %u: column '%s': no data",
                                    pw->w->path, pw->part, s->cols[c].name);
            for (size_t r = 0; off && s->cols[c].type == LOOM_DS_BYTES && r < n; r++)
                if (off[r + 1] < off[r])
                    return loom_errset (
                        error, EINVAL,
                        "%s: partition %u: column '%s': offsets decrease", pw->w->path,
                        pw->part, s->cols[c].name);
        }
    }
    if (pw->mem && mem_append (pw, n, cols) < 0)
        return loom_errset (error, ENOMEM, "%s: partition %u: out of memory",
                            pw->w->path, pw->part);
    pw->n += n;
    return 0;
}

int loom_ds_part_end (loom_ds_part_writer_t *pw, loom_error_t *error)
{
    if (!pw)
        return loom_errset (error, EINVAL, "dataset: no partition writer");
    loom_ds_writer_t *w = pw->w;
    struct ds_partinfo info = {.records = pw->n, .owner = -1, .present = true};
    if (pw->file) {
        struct ds_partfile_meta meta = {
            .partition = pw->part,
            .nparts = w->m.nparts,
            .generation = w->m.generation,
            .config = w->config,
            .schema_text = w->schema_text,
            .partitioner_json = w->partjson,
            .lineage = w->m.lineage,
            .trace_id = w->m.trace_id,
            .created = w->m.created,
            .sync = w->sync,
        };
        loom_error_t e;
        ds_pfw_t *f = pw->file;
        pw->file = NULL; /* finish frees it */
        struct stat st;
        if (loom__pfw_finish (f, &meta, &info.records, &info.checksum, &e) < 0) {
            int saved = errno;
            unlink (pw->tmp);
            loom_ds_part_abort (pw);
            return loom_errset (error, saved, "%s: partition %u: %s", w->path, pw->part,
                                e.text);
        }
        /* rename() after fsync: the final name only ever holds a whole file. */
        loom__crash_point ("part-synced");
        int rc = stat (pw->tmp, &st);
        if (rc == 0)
            rc = rename (pw->tmp, pw->final);
        if (rc == 0) {
            loom__crash_point ("part-renamed");
            rc = w->sync ? loom__fsync_dir (w->path) : 0;
        }
        if (rc < 0) {
            int saved = errno;
            unlink (pw->tmp);
            loom_ds_part_abort (pw);
            return loom_errset (error, saved, "%s: partition %u: %s", w->path, pw->part,
                                strerror (saved));
        }
        info.bytes = (uint64_t)st.st_size;
    }
    if (pw->mem) {
        uint64_t sum = loom__checksum_cols (&w->m.schema, pw->n, pw->mem);
        if (!pw->file && w->m.persist == LOOM_DS_PERSIST_MEMORY)
            info.checksum = sum;
        info.owner = w->rank;
        w->mem[pw->part] = pw->mem;
        pw->mem = NULL;
    }
    w->mine[pw->part] = true;
    w->info[pw->part] = info;
    loom_trace_end (pw->span, pw->part, info.records, info.bytes);
    pw->span = 0;
    loom_ds_part_abort (pw); /* frees what is left; the file is in place */
    return 0;
}

int loom_ds_write_partition (loom_ds_writer_t *w,
                             uint32_t part,
                             size_t n,
                             const struct loom_ds_colbuf *cols,
                             loom_error_t *error)
{
    loom_ds_part_writer_t *pw = part_begin (w, part, true, error);
    if (!pw)
        return -1;
    if (loom_ds_part_append (pw, n, cols, error) < 0) {
        loom_ds_part_abort (pw);
        return -1;
    }
    return loom_ds_part_end (pw, error);
}

/* Rank 0: merge every rank's partitions, check completeness, write the manifest. */
static int commit_root (loom_ds_writer_t *w,
                        const uint64_t *all,
                        const int *counts,
                        char **text,
                        loom_error_t *error)
{
    struct ds_manifest *m = &w->m;
    if (!(m->parts = calloc (m->nparts, sizeof (*m->parts))))
        return loom_errset (error, ENOMEM, "%s: out of memory", w->path);
    int32_t *by = malloc (m->nparts * sizeof (*by));
    if (!by)
        return loom_errset (error, ENOMEM, "%s: out of memory", w->path);
    for (uint32_t i = 0; i < m->nparts; i++) {
        by[i] = -1;
        if (w->reused[i]) {
            m->parts[i] = w->info[i];
            m->parts[i].present = true;
        }
    }
    size_t k = 0;
    for (int r = 0; r < w->size; r++) {
        for (int j = 0; j < counts[r]; j++, k += 5) {
            uint32_t part = (uint32_t)all[k];
            if (part >= m->nparts || m->parts[part].present) {
                int other = part < m->nparts ? by[part] : -1;
                free (by);
                return loom_errset (
                    error, EEXIST, "%s: partition %llu written twice (ranks %d and %d)",
                    w->path, (unsigned long long)part, other, r);
            }
            struct ds_partinfo *pi = &m->parts[part];
            pi->records = all[k + 1];
            pi->checksum = all[k + 2];
            pi->bytes = all[k + 3];
            pi->owner = (int32_t)(int64_t)all[k + 4];
            pi->present = true;
            by[part] = r;
        }
    }
    free (by);
    for (uint32_t i = 0; i < m->nparts; i++)
        if (!m->parts[i].present)
            return loom_errset (error, ENOENT, "%s: partition %u was not written",
                                w->path, i);
    if (!(*text = loom__manifest_format (m)))
        return loom_errset (error, ENOMEM, "%s: out of memory", w->path);
    if (!is_disk (w))
        return 0;
    char *mpath = loom__path_join (w->path, DS_MANIFEST);
    if (!mpath
        || loom__write_atomic (mpath, *text, strlen (*text), w->sync, error) < 0) {
        free (mpath);
        return -1;
    }
    free (mpath);
    /* The new version is visible: the previous one's partitions are garbage now. */
    if (w->old_generation && w->old_generation != m->generation) {
        DIR *d = opendir (w->path);
        struct dirent *de;
        while (d && (de = readdir (d))) {
            unsigned part, gen;
            char tail;
            if (sscanf (de->d_name, "part-%u.g%u.h%c", &part, &gen, &tail) == 3
                && gen == w->old_generation) {
                char *path = loom__path_join (w->path, de->d_name);
                if (path && unlink (path) == 0)
                    loom__crash_point ("old-removing");
                free (path);
            }
        }
        if (d)
            closedir (d);
        if (w->sync)
            loom__fsync_dir (w->path);
    }
    return 0;
}

int loom_ds_commit (loom_ds_writer_t *w, loom_error_t *error)
{
    if (!w)
        return loom_errset (error, EINVAL, "dataset: no writer");
    if (w->committed)
        return loom_errset (error, EINVAL, "%s: already committed", w->path);
    loom_trace_span_t span =
        loom_trace_begin (&t_commit, w->m.nparts, 0, w->m.generation);
    /* Five words per partition: number, records, checksum, bytes, owner. */
    int n = 0;
    for (uint32_t i = 0; i < w->m.nparts; i++)
        n += w->mine[i];
    uint64_t *mine = malloc ((size_t)(n ? n : 1) * 5 * sizeof (uint64_t));
    int *counts = NULL, *displs = NULL;
    uint64_t *all = NULL;
    char *text = NULL;
    struct {
        int err;
        int len;
        char text[sizeof (((loom_error_t *)0)->text)];
    } res = {0, 0, {0}};
    if (!mine) {
        res.err = ENOMEM;
        snprintf (res.text, sizeof (res.text), "%s: out of memory", w->path);
    }
    for (uint32_t i = 0, k = 0; mine && i < w->m.nparts; i++)
        if (w->mine[i]) {
            mine[k++] = i;
            mine[k++] = w->info[i].records;
            mine[k++] = w->info[i].checksum;
            mine[k++] = w->info[i].bytes;
            mine[k++] = (uint64_t)(int64_t)w->info[i].owner;
        }
    if (w->rank == 0) {
        counts = calloc ((size_t)w->size, sizeof (int));
        displs = calloc ((size_t)w->size, sizeof (int));
    }
    if (w->comm != MPI_COMM_NULL) {
        MPI_Gather (&n, 1, MPI_INT, counts, 1, MPI_INT, 0, w->comm);
    } else {
        counts[0] = n;
    }
    if (w->rank == 0) {
        int total = 0;
        for (int r = 0; r < w->size; r++) {
            displs[r] = total * 5;
            total += counts[r];
        }
        all = malloc ((size_t)(total ? total : 1) * 5 * sizeof (uint64_t));
        for (int r = 0; r < w->size; r++)
            counts[r] *= 5;
    }
    if (w->comm != MPI_COMM_NULL) {
        MPI_Gatherv (mine, n * 5, MPI_UINT64_T, all, counts, displs, MPI_UINT64_T, 0,
                     w->comm);
    } else if (all) {
        memcpy (all, mine, (size_t)n * 5 * sizeof (uint64_t));
    }
    if (w->rank == 0 && !res.err) {
        for (int r = 0; r < w->size; r++)
            counts[r] /= 5;
        loom_error_t e;
        if (!all)
            res.err = ENOMEM;
        else if (commit_root (w, all, counts, &text, &e) < 0) {
            res.err = errno ? errno : EIO;
            memcpy (res.text, e.text, sizeof (res.text));
        }
        res.len = text ? (int)strlen (text) : 0;
    }
    free (mine);
    free (counts);
    free (displs);
    free (all);
    bcast (w, &res, sizeof (res));
    loom_trace_end (span, w->m.nparts, 0, w->m.generation);
    if (res.err) {
        free (text);
        return loom_errset (error, res.err, "%s", res.text);
    }
    w->committed = true;
    if (w->mem) {
        /* Everyone needs the manifest to serve in-job readers from memory. */
        if (w->rank != 0 && !(text = calloc (1, (size_t)res.len + 1)))
            res.err = ENOMEM;
        bcast (w, text ? text : (char[1]){0}, text ? (size_t)res.len : 0);
        struct ds_manifest m;
        loom_error_t e;
        if (!res.err && loom__manifest_parse (text, (size_t)res.len, &m, &e) == 0) {
            int rc = loom__mem_put (w->path, &m, w->mem);
            loom__manifest_free (&m);
            if (rc == 0)
                w->mem = NULL; /* the store owns the partitions now */
            else
                res.err = ENOMEM;
        } else if (!res.err) {
            res.err = EPROTO;
        }
    }
    free (text);
    if (res.err)
        return loom_errset (error, res.err, "%s: cannot keep the dataset in memory",
                            w->path);
    return 0;
}

void loom_ds_writer_destroy (loom_ds_writer_t *w)
{
    if (!w)
        return;
    int saved = errno;
    if (w->mem) {
        for (uint32_t i = 0; i < w->m.nparts; i++)
            loom__coldata_free (&w->m.schema, w->mem[i]);
        free (w->mem);
    }
    loom__manifest_free (&w->m);
    free (w->schema_text);
    free (w->partjson);
    free (w->reused);
    free (w->mine);
    free (w->info);
    free (w->path);
    free (w);
    errno = saved;
}
