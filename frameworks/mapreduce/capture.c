/* SPDX-License-Identifier: MIT */
/* Capturing MapReduce tasks for replay (docs/replay.md).
 *
 * Tasks: "s<step>-map-r<rank>" (map over rank's input slice) and
 * "s<step>-reduce-p<partition>" (reduce of one output partition). What is captured:
 *
 *   map, text input     by reference: the files the range touches (path, offset in
 *                       the concatenation, size), the range [lo, hi), and the xxh64
 *                       of the bytes map reads (computed before map when the task is
 *                       selected, else in the crash handler with read(2));
 *   map, dataset input  by reference: the dataset, the partitions, their checksums;
 *   map, in-memory data copied: input.rec is this rank's records (the buffer is
 *                       immutable while map runs, so the handler writes it too);
 *   reduce              copied: input.rec is every record the partition received,
 *                       written before reduce when selected, or by the crash handler
 *                       from the grouping's memory and spill files (pread/write).
 *
 * A selected task also records the digest of what it emitted, which its replay must
 * reproduce.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY
#include <jansson.h>
#include <xxhash.h>

#include <loom/capture.h>
#include <loom/log.h>

#include "internal.h"

/* The task being captured on this rank (one at a time). */
static struct {
    bool armed, selected;
    char task[64];
    char dir[PATH_MAX];
    json_t *manifest;
    /* for the crash hooks */
    const struct mr_files *files;
    uint64_t lo, hi;
    const loom_mr_data_t *data;
    const struct mr_group *group;
    uint32_t gpart;
} mc;

/* ---- digests ---- */

int mr__digest_start (struct mr_digest *d)
{
    d->records = 0;
    d->h = loom_hash_state_create (0);
    return d->h ? 0 : -1;
}

void mr__digest_add (
    struct mr_digest *d, const void *key, size_t klen, const void *value, size_t vlen)
{
    uint32_t hdr[2] = {(uint32_t)klen, (uint32_t)vlen};
    loom_hash_state_update (d->h, hdr, sizeof (hdr));
    loom_hash_state_update (d->h, key, klen);
    loom_hash_state_update (d->h, value, vlen);
    d->records++;
}

void mr__digest_end (struct mr_digest *d, uint64_t *records, uint64_t *xxh64)
{
    *records = d->records;
    *xxh64 = d->h ? loom_hash_state_digest (d->h) : 0;
    loom_hash_state_destroy (d->h);
    d->h = NULL;
}

/* ---- the bytes a text range reads ---- */

/* Hash [from, to) of 'fd', then, with 'to_eol', on to the next newline. */
static int
hash_span (XXH64_state_t *st, int fd, uint64_t from, uint64_t to, bool to_eol)
{
    static char buf[1u << 16]; /* static: callable from a signal handler */
    uint64_t pos = from;
    for (;;) {
        size_t want = sizeof (buf);
        if (pos < to && to - pos < want)
            want = (size_t)(to - pos);
        ssize_t n = pread (fd, buf, want, (off_t)pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        size_t use = (size_t)n;
        if (pos >= to) { /* past the range: up to and including a newline */
            if (!to_eol)
                return 0;
            char *nl = memchr (buf, '\n', use);
            if (nl)
                use = (size_t)(nl - buf) + 1;
            XXH64_update (st, buf, use);
            if (nl)
                return 0;
        } else {
            XXH64_update (st, buf, use);
        }
        pos += (uint64_t)use;
    }
}

int mr__text_range_digest (const struct mr_files *files,
                           uint64_t lo,
                           uint64_t hi,
                           uint64_t *digest)
{
    XXH64_state_t st;
    XXH64_reset (&st, 0);
    for (size_t i = 0; i < files->n; i++) {
        const struct mr_file *f = &files->v[i];
        uint64_t fs = f->start, fe = f->start + f->size;
        if (f->size == 0 || fe <= lo || fs >= hi)
            continue;
        uint64_t begin = (lo > fs ? lo : fs) - fs;
        uint64_t limit = (hi < fe ? hi : fe) - fs;
        int fd = open (f->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        /* The byte before 'begin' decides where the first line starts. */
        int rc = hash_span (&st, fd, begin ? begin - 1 : 0, limit, true);
        close (fd);
        if (rc < 0)
            return -1;
    }
    *digest = XXH64_digest (&st);
    return 0;
}

/* ---- crash hooks (async-signal-safe) ---- */

static void hex16 (uint64_t v, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = hex[v & 15];
    out[16] = '\0';
}

static void crash_text (const char *dir, struct loom_capture_out *m, void *arg)
{
    uint64_t d;
    char h[17];
    (void)dir;
    (void)arg;
    if (mr__text_range_digest (mc.files, mc.lo, mc.hi, &d) < 0)
        return;
    hex16 (d, h);
    loom_capture_put (m, ",\"input_xxh64\":\"");
    loom_capture_put (m, h);
    loom_capture_put (m, "\"");
}

static void crash_data (const char *dir, struct loom_capture_out *m, void *arg)
{
    struct loom_capture_out o;
    (void)arg;
    (void)m;
    if (loom_capture_open (&o, dir, "input.rec") < 0)
        return;
    loom_capture_put_raw (&o, mc.data->buf.data, mc.data->buf.len);
    loom_capture_close (&o);
}

static void crash_group (const char *dir, struct loom_capture_out *m, void *arg)
{
    struct loom_capture_out o;
    (void)arg;
    (void)m;
    if (loom_capture_open (&o, dir, "input.rec") < 0)
        return;
    if (mr__group_dump (mc.group, mc.gpart, o.fd) < 0)
        o.failed = 1;
    loom_capture_close (&o);
}

/* ---- manifests ---- */

static json_t *step_params (const loom_mr_ctx_t *ctx)
{
    const struct loom_mr_step *st = ctx->step;
    const loom_mr_t *mr = ctx->mr;
    return json_pack (
        "{s:i, s:s, s:i, s:i, s:s, s:I, s:i, s:b, s:b}", "step", (int)ctx->step_index,
        "step_name", st->name, "rank", loom_comm_rank (mr->comm), "ranks",
        loom_comm_size (mr->comm), "partitioner",
        st->partition == LOOM_PARTITION_RANGE ? "range" : "hash", "hash_seed",
        (json_int_t)st->hash_seed, "combine", (int)st->combine, "sort_values",
        (st->flags & LOOM_MR_SORT_VALUES) != 0, "deterministic",
        (mr->p.flags & LOOM_MR_DETERMINISTIC) != 0);
}

/* The common members plus the step's. NULL on failure (logged). */
static json_t *new_manifest (const loom_mr_ctx_t *ctx, const char *kind)
{
    char *head = loom_capture_manifest_head (mc.task, "mapreduce", kind);
    json_t *o = head ? json_loads (head, 0, NULL) : NULL;
    free (head);
    json_t *p = step_params (ctx);
    if (!o || !p || json_object_update (o, p) < 0) {
        json_decref (o);
        json_decref (p);
        return NULL;
    }
    json_decref (p);
    return o;
}

static void hexstr (uint64_t v, char out[17])
{
    hex16 (v, out);
}

/* The directory containing every path in 'paths' (absolute). */
static void common_root (json_t *files, char *root, size_t len)
{
    root[0] = '\0';
    size_t i;
    json_t *f;
    json_array_foreach (files, i, f)
    {
        const char *p = json_string_value (json_object_get (f, "path"));
        if (!p)
            continue;
        if (!root[0]) {
            snprintf (root, len, "%s", p);
            char *slash = strrchr (root, '/');
            if (slash)
                *slash = '\0';
            continue;
        }
        size_t n = 0;
        while (root[n] && root[n] == p[n])
            n++;
        if (root[n] || (p[n] != '/' && p[n] != '\0')) {
            while (n > 0 && root[n] != '/')
                n--;
            root[n] = '\0';
        }
    }
}

static json_t *text_input (const struct mr_files *files, uint64_t lo, uint64_t hi)
{
    char cwd[PATH_MAX];
    if (!getcwd (cwd, sizeof (cwd)))
        cwd[0] = '\0';
    json_t *arr = json_array ();
    for (size_t i = 0; arr && i < files->n; i++) {
        const struct mr_file *f = &files->v[i];
        if (f->size == 0 || f->start + f->size <= lo || f->start >= hi)
            continue;
        /* Absolute without realpath(3): one syscall per file adds up over many. */
        char abs[PATH_MAX];
        const char *p = f->path;
        if (p[0] != '/' && cwd[0]) {
            int n = snprintf (abs, sizeof (abs), "%s/%s", cwd, f->path);
            if (n > 0 && (size_t)n < sizeof (abs))
                p = abs; /* else keep the relative path: replay resolves it */
        }
        json_array_append_new (arr, json_pack ("{s:s, s:I, s:I}", "path", p, "start",
                                               (json_int_t)f->start, "size",
                                               (json_int_t)f->size));
    }
    char root[PATH_MAX];
    common_root (arr, root, sizeof (root));
    return json_pack ("{s:s, s:s, s:o, s:I, s:I}", "kind", "text", "root", root,
                      "files", arr, "lo", (json_int_t)lo, "hi", (json_int_t)hi);
}

static json_t *dataset_input (loom_comm_t *comm, const char *path)
{
    loom_error_t e;
    loom_ds_t *ds = loom_ds_open (loom_comm_mpi (comm), path, NULL, &e);
    if (!ds)
        return NULL;
    uint32_t first, count;
    loom_ds_assign (ds, &first, &count);
    char abs[PATH_MAX], root[PATH_MAX], h[17];
    const char *p = realpath (path, abs) ? abs : path;
    snprintf (root, sizeof (root), "%s", p);
    char *slash = strrchr (root, '/');
    if (slash)
        *slash = '\0';
    json_t *sums = json_array ();
    for (uint32_t i = first; sums && i < first + count; i++) {
        hexstr (loom_ds_part_checksum (ds, i), h);
        json_array_append_new (sums, json_string (h));
    }
    loom_ds_close (ds);
    return json_pack ("{s:s, s:s, s:s, s:i, s:i, s:o}", "kind", "dataset", "path", p,
                      "root", root, "first", (int)first, "count", (int)count,
                      "checksums", sums);
}

/* Arm the crash capture with the manifest, and write it now when selected. */
static void arm (loom_mr_ctx_t *ctx, loom_capture_crash_f hook)
{
    loom_error_t e = {"out of memory"};
    char *text = json_dumps (mc.manifest, JSON_PRESERVE_ORDER | JSON_COMPACT);
    if (!text) {
        loom_log (LOOM_LOG_WARN, "capture: out of memory for the manifest of %s",
                  mc.task);
        return;
    }
    if (mc.selected) {
        if (loom_capture_task_dir (mc.task, mc.dir, sizeof (mc.dir), &e) < 0
            || mr__digest_start (&ctx->digest) < 0) {
            loom_log (LOOM_LOG_WARN, "%s", e.text);
            mc.selected = false;
        }
    }
    if (loom_capture_arm (mc.task, text, hook, NULL, &e) < 0)
        loom_log (LOOM_LOG_WARN, "%s", e.text);
    else
        mc.armed = true;
    free (text);
}

static void begin_task (const char *kind, const loom_mr_ctx_t *ctx)
{
    mc.armed = false;
    mc.selected = loom_capture_selected (mc.task);
    json_decref (mc.manifest);
    mc.manifest = new_manifest (ctx, kind);
}

void mr__cap_map_begin (loom_mr_ctx_t *ctx, const struct mr_map_input *in)
{
    const struct loom_mr_step *st = ctx->step;
    if (loom_capture_mode () == LOOM_CAPTURE_OFF)
        return;
    snprintf (mc.task, sizeof (mc.task), "s%u-map-r%d", ctx->step_index,
              loom_comm_rank (ctx->mr->comm));
    begin_task ("map", ctx);
    if (!mc.manifest)
        return;
    json_t *input = NULL;
    loom_capture_crash_f hook = NULL;
    if (st->input == LOOM_MR_INPUT_TEXT) {
        input = text_input (in->files, in->lo, in->hi);
        mc.files = in->files;
        mc.lo = in->lo;
        mc.hi = in->hi;
        hook = crash_text;
        uint64_t d;
        char h[17];
        if (input && mc.selected
            && mr__text_range_digest (in->files, in->lo, in->hi, &d) == 0) {
            hexstr (d, h);
            json_object_set_new (input, "xxh64", json_string (h));
            hook = NULL;
        }
    } else if (st->input == LOOM_MR_INPUT_DATASET) {
        input = dataset_input (ctx->mr->comm, st->paths[0]);
    } else {
        mc.data = st->data;
        input = json_pack ("{s:s, s:s, s:I}", "kind", "records", "file", "input.rec",
                           "bytes", (json_int_t)st->data->buf.len);
        hook = crash_data;
    }
    if (!input) {
        loom_log (LOOM_LOG_WARN, "capture: cannot describe the input of %s", mc.task);
        return;
    }
    json_object_set_new (mc.manifest, "input", input);
    arm (ctx, hook);
    if (!mc.selected)
        return;
    loom_error_t e;
    int rc = 0;
    if (st->input == LOOM_MR_INPUT_DATA) {
        struct loom_capture_out o;
        rc = loom_capture_open (&o, mc.dir, "input.rec");
        loom_capture_put_raw (&o, st->data->buf.data, st->data->buf.len);
        rc |= loom_capture_close (&o);
    }
    json_object_set_new (mc.manifest, "status", json_string ("captured"));
    char *text = json_dumps (mc.manifest, JSON_PRESERVE_ORDER | JSON_INDENT (1));
    if (rc < 0 || !text || loom_capture_write_manifest (mc.dir, text, &e) < 0)
        loom_log (LOOM_LOG_WARN, "capture: cannot write the capture of %s", mc.task);
    free (text);
}

void mr__cap_reduce_begin (
    loom_mr_ctx_t *ctx, struct mr_group *g, uint32_t i, uint32_t part, uint32_t nparts)
{
    if (loom_capture_mode () == LOOM_CAPTURE_OFF)
        return;
    snprintf (mc.task, sizeof (mc.task), "s%u-reduce-p%u", ctx->step_index, part);
    begin_task ("reduce", ctx);
    if (!mc.manifest)
        return;
    json_object_set_new (mc.manifest, "partition", json_integer (part));
    json_object_set_new (mc.manifest, "partitions", json_integer (nparts));
    json_object_set_new (mc.manifest, "input",
                         json_pack ("{s:s, s:s, s:I}", "kind", "records", "file",
                                    "input.rec", "bytes",
                                    (json_int_t)mr__group_bytes (g, i)));
    mc.group = g;
    mc.gpart = i;
    arm (ctx, crash_group);
    if (!mc.selected)
        return;
    loom_error_t e;
    struct loom_capture_out o;
    int rc = loom_capture_open (&o, mc.dir, "input.rec");
    if (rc == 0 && mr__group_dump (g, i, o.fd) < 0)
        rc = -1;
    rc |= loom_capture_close (&o);
    json_object_set_new (mc.manifest, "status", json_string ("captured"));
    char *text = json_dumps (mc.manifest, JSON_PRESERVE_ORDER | JSON_INDENT (1));
    if (rc < 0 || !text || loom_capture_write_manifest (mc.dir, text, &e) < 0)
        loom_log (LOOM_LOG_WARN, "capture: cannot write the capture of %s", mc.task);
    free (text);
}

void mr__cap_end (loom_mr_ctx_t *ctx, int failed)
{
    if (!mc.armed)
        return;
    loom_capture_disarm ();
    mc.armed = false;
    if (!mc.selected || !ctx->digest.h)
        return;
    uint64_t records, x;
    char h[17];
    mr__digest_end (&ctx->digest, &records, &x);
    hexstr (x, h);
    json_object_set_new (mc.manifest, "status",
                         json_string (failed ? "failed" : "completed"));
    if (failed && ctx->errnum)
        json_object_set_new (mc.manifest, "error", json_string (ctx->err.text));
    json_object_set_new (
        mc.manifest, "output",
        json_pack ("{s:I, s:s}", "records", (json_int_t)records, "xxh64", h));
    loom_error_t e;
    char *text = json_dumps (mc.manifest, JSON_PRESERVE_ORDER | JSON_INDENT (1));
    if (!text || loom_capture_write_manifest (mc.dir, text, &e) < 0)
        loom_log (LOOM_LOG_WARN, "capture: cannot complete the capture of %s", mc.task);
    free (text);
    json_decref (mc.manifest);
    mc.manifest = NULL;
}
