/* SPDX-License-Identifier: MIT */
/* Replaying one captured MapReduce task in this process (docs/replay.md).
 *
 * `loom replay` runs the app's own binary with its own argv and $LOOM_REPLAY set to
 * the task's capture directory, as a single MPI process. The app builds its steps as
 * always; loom_mr_run() lets the steps before the captured one pass without work
 * (empty data), runs the captured task on the captured input with the app's map or
 * reduce, writes the result for `loom replay`, and ends the process. Nothing is
 * shuffled and no output is written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include <loom/capture.h>

#include "internal.h"

void mr__replay_print (
    FILE *f, const void *key, size_t klen, const void *value, size_t vlen)
{
    const unsigned char *p = key;
    for (size_t k = 0; k < 2; k++) {
        size_t n = k ? vlen : klen;
        for (size_t i = 0; i < n; i++) {
            if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
                fputc (p[i], f);
            else
                fprintf (f, "\\x%02x", p[i]);
        }
        fputc (k ? '\n' : '\t', f);
        p = value;
    }
}

/* The whole of 'path' in memory ('*len' bytes). NULL with 'error' on failure. */
static char *slurp (const char *path, size_t *len, loom_error_t *error)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        loom_errset (error, errno, "capture file '%s' is missing", path);
        return NULL;
    }
    struct stat sb;
    char *buf = NULL;
    if (fstat (fileno (f), &sb) == 0 && (buf = malloc ((size_t)sb.st_size + 1))) {
        *len = fread (buf, 1, (size_t)sb.st_size, f);
        if (*len != (size_t)sb.st_size) {
            free (buf);
            buf = NULL;
        }
    }
    fclose (f);
    if (!buf)
        loom_errset (error, EIO, "cannot read '%s'", path);
    return buf;
}

/* input.rec as recorded: present, of the recorded size, and whole records. */
static char *
load_records (const char *dir, json_t *input, size_t *len, loom_error_t *error)
{
    char path[PATH_MAX];
    const char *file = json_string_value (json_object_get (input, "file"));
    snprintf (path, sizeof (path), "%s/%s", dir, file ? file : "input.rec");
    char *buf = slurp (path, len, error);
    if (!buf)
        return NULL;
    json_int_t want = json_integer_value (json_object_get (input, "bytes"));
    size_t pos = 0;
    while (pos + MR_REC_HDR <= *len) {
        uint32_t hdr[2];
        memcpy (hdr, buf + pos, sizeof (hdr));
        pos += mr__rec_size (hdr[0], hdr[1]);
    }
    if ((json_int_t)*len != want || pos != *len) {
        loom_errset (error, EPROTO,
                     "capture file '%s' is corrupt (%zu bytes, the manifest "
                     "says %lld)",
                     path, *len, (long long)want);
        free (buf);
        return NULL;
    }
    return buf;
}

static int parse_hex (const char *s, uint64_t *v)
{
    char *end;
    if (!s)
        return -1;
    errno = 0;
    *v = strtoull (s, &end, 16);
    return errno || *end || end == s ? -1 : 0;
}

/* The text input's files on this machine, checked against the capture. */
static int text_files (json_t *input,
                       json_t *manifest,
                       struct mr_files *files,
                       loom_error_t *error)
{
    json_t *arr = json_object_get (input, "files");
    const char *root = json_string_value (json_object_get (input, "root"));
    size_t n = json_array_size (arr);
    files->v = calloc (n + 1, sizeof (*files->v));
    if (!files->v)
        return loom_errset (error, ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get (arr, i);
        const char *p = json_string_value (json_object_get (f, "path"));
        char buf[PATH_MAX];
        const char *here = loom_replay_path (root, p ? p : "", buf, sizeof (buf));
        struct mr_file *mf = &files->v[files->n++];
        mf->path = strdup (here);
        mf->start = (uint64_t)json_integer_value (json_object_get (f, "start"));
        mf->size = (uint64_t)json_integer_value (json_object_get (f, "size"));
        struct stat sb;
        if (!mf->path)
            return loom_errset (error, ENOMEM, "out of memory");
        if (stat (here, &sb) < 0)
            return loom_errset (error, ENOENT,
                                "input file '%s' is missing (copy the input "
                                "and give --data DIR for '%s')",
                                here, root ? root : "");
        if ((uint64_t)sb.st_size != mf->size)
            return loom_errset (error, EPROTO,
                                "input file '%s' has %llu bytes, the capture "
                                "read %llu",
                                here, (unsigned long long)sb.st_size,
                                (unsigned long long)mf->size);
        files->total = mf->start + mf->size;
    }
    uint64_t lo = (uint64_t)json_integer_value (json_object_get (input, "lo"));
    uint64_t hi = (uint64_t)json_integer_value (json_object_get (input, "hi"));
    const char *h = json_string_value (json_object_get (input, "xxh64"));
    if (!h)
        h = json_string_value (json_object_get (manifest, "input_xxh64"));
    uint64_t want, got;
    if (parse_hex (h, &want) < 0)
        return 0; /* the crash handler could not read the input: nothing to check */
    if (mr__text_range_digest (files, lo, hi, &got) < 0)
        return loom_errset (error, EIO, "cannot read the input files");
    if (got != want)
        return loom_errset (error, EPROTO,
                            "the input differs from the captured one (xxh64 "
                            "%016llx, captured %016llx)",
                            (unsigned long long)got, (unsigned long long)want);
    return 0;
}

static int dataset_check (const char *path, json_t *input, loom_error_t *error)
{
    loom_ds_t *ds = loom_ds_open (MPI_COMM_SELF, path, NULL, error);
    if (!ds)
        return -1;
    uint32_t first = (uint32_t)json_integer_value (json_object_get (input, "first"));
    json_t *sums = json_object_get (input, "checksums");
    int rc = 0;
    for (size_t i = 0; i < json_array_size (sums) && rc == 0; i++) {
        uint64_t want;
        if (parse_hex (json_string_value (json_array_get (sums, i)), &want) < 0
            || loom_ds_part_checksum (ds, first + (uint32_t)i) != want)
            rc = loom_errset (error, EPROTO,
                              "partition %u of dataset '%s' differs from the "
                              "captured one",
                              first + (uint32_t)i, path);
    }
    loom_ds_close (ds);
    return rc;
}

/* Run the task; fills *groups. Returns 0, or -1 with 'error'. */
static int run_task (loom_mr_ctx_t *ctx,
                     json_t *m,
                     const char *dir,
                     uint64_t *groups,
                     loom_error_t *error)
{
    const char *kind = json_string_value (json_object_get (m, "kind"));
    json_t *input = json_object_get (m, "input");
    const char *ik = json_string_value (json_object_get (input, "kind"));
    const struct loom_mr_step *st = ctx->step;
    int rc = 0;
    if (!kind || !ik)
        return loom_errset (error, EPROTO, "the manifest has no task kind");
    if (strcmp (kind, "reduce") == 0) {
        size_t len;
        char *buf = load_records (dir, input, &len, error);
        if (!buf)
            return -1;
        struct mr_group *g =
            mr__group_create (1, ctx->mr->p.mem_bytes / 2, ctx->mr->tmpdir,
                              (st->flags & LOOM_MR_SORT_VALUES) != 0, error);
        struct mr_reduce_arg red = {.ctx = ctx};
        if (st->combine != LOOM_COMBINE_NONE && !(red.acc = malloc (st->value_width)))
            rc = loom_errset (error, ENOMEM, "out of memory");
        for (size_t pos = 0; g && rc == 0 && pos < len;) {
            struct loom_record r;
            pos += mr__rec_decode (buf + pos, &r);
            rc = mr__group_add (g, 0, r.key, r.key_len, r.value, r.value_len, error);
        }
        free (buf);
        if (g && rc == 0)
            rc = mr__group_each (g, 0, mr__on_group, &red, error);
        *groups = red.groups;
        mr__group_destroy (g);
        free (red.acc);
        return g ? rc : -1;
    }
    if (strcmp (ik, "text") == 0) {
        struct mr_files files = {0};
        if (text_files (input, m, &files, error) == 0)
            rc = mr__text_read (
                &files, (uint64_t)json_integer_value (json_object_get (input, "lo")),
                (uint64_t)json_integer_value (json_object_get (input, "hi")), 0,
                mr__on_line, ctx, error);
        else
            rc = -1;
        mr__files_free (&files);
    } else if (strcmp (ik, "dataset") == 0) {
        const char *p = json_string_value (json_object_get (input, "path"));
        const char *root = json_string_value (json_object_get (input, "root"));
        char buf[PATH_MAX];
        const char *here = loom_replay_path (root, p ? p : "", buf, sizeof (buf));
        uint64_t bytes = 0;
        rc = dataset_check (here, input, error);
        if (rc == 0)
            rc = mr__ds_read_parts (
                ctx->mr->comm, here,
                (uint32_t)json_integer_value (json_object_get (input, "first")),
                (uint32_t)json_integer_value (json_object_get (input, "count")),
                mr__on_row, ctx, &bytes, error);
    } else if (strcmp (ik, "records") == 0) {
        size_t len;
        char *buf = load_records (dir, input, &len, error);
        if (!buf)
            return -1;
        for (size_t pos = 0; rc == 0 && pos < len;) {
            struct loom_record r;
            pos += mr__rec_decode (buf + pos, &r);
            rc = mr__map_one (ctx, &r);
        }
        free (buf);
    } else {
        return loom_errset (error, EPROTO, "unknown input kind '%s'", ik);
    }
    return rc;
}

/* End the process: replay owns it once the task ran. */
static void finish (int status)
{
    int inited = 0, done = 0;
    MPI_Initialized (&inited);
    MPI_Finalized (&done);
    fflush (stdout);
    if (inited && !done)
        MPI_Finalize ();
    exit (status);
}

int mr__replay_step (loom_mr_t *mr,
                     const struct loom_mr_step *st,
                     uint32_t step_index,
                     loom_mr_data_t **out,
                     loom_error_t *error)
{
    const char *dir = loom_replay_dir ();
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/manifest.json", dir);
    json_error_t je;
    json_t *m = json_load_file (path, 0, &je);
    if (!m)
        return loom_errset (error, EPROTO, "cannot read '%s': %s", path, je.text);
    if (strcmp (json_string_value (json_object_get (m, "framework")) ?: "", "mapreduce")
        != 0) {
        json_decref (m);
        return loom_errset (error, EPROTO,
                            "'%s' is not the capture of a MapReduce task", path);
    }
    json_int_t target = json_integer_value (json_object_get (m, "step"));
    const char *task = json_string_value (json_object_get (m, "task"));
    if ((json_int_t)step_index < target) {
        /* An earlier step: its output is not the captured task's input. */
        json_decref (m);
        if (out && !(*out = calloc (1, sizeof (**out))))
            return loom_errset (error, ENOMEM, "out of memory");
        return 0;
    }
    const char *name = json_string_value (json_object_get (m, "step_name"));
    loom_error_t e = {{0}};
    int status = 1;
    uint64_t groups = 0;
    loom_mr_ctx_t ctx = {.mr = mr, .step = st, .step_index = step_index};
    ctx.mode = EMIT_REPLAY;
    const char *outpath = getenv ("LOOM_REPLAY_OUTPUT");
    if ((json_int_t)step_index > target || !name || strcmp (name, st->name) != 0) {
        loom_errset (&e, EPROTO,
                     "step %u of the app is '%s', the capture is of step %lld "
                     "'%s' (not the same app or options?)",
                     step_index, st->name, (long long)target, name ? name : "?");
    } else if (outpath && *outpath && !(ctx.replay_out = fopen (outpath, "w"))) {
        loom_errset (&e, errno, "cannot create '%s'", outpath);
    } else if (mr__digest_start (&ctx.digest) < 0
               || loom_capture_arm_replay (task ? task : "task", &e) < 0) {
        loom_errset (&e, ENOMEM, "out of memory");
    } else if (run_task (&ctx, m, dir, &groups, &e) < 0) {
        if (ctx.errnum)
            memcpy (e.text, ctx.err.text, sizeof (e.text));
    } else {
        status = 0;
    }
    loom_capture_disarm ();
    uint64_t records = 0, x = 0;
    mr__digest_end (&ctx.digest, &records, &x);
    if (ctx.replay_out && fclose (ctx.replay_out) != 0 && status == 0) {
        loom_errset (&e, EIO, "cannot write '%s'", outpath);
        status = 1;
    }
    char h[17];
    snprintf (h, sizeof (h), "%016llx", (unsigned long long)x);
    char summary[128];
    if (groups)
        snprintf (summary, sizeof (summary), "%llu key groups",
                  (unsigned long long)groups);
    else
        snprintf (summary, sizeof (summary), "%llu input records",
                  (unsigned long long)ctx.records);
    json_t *r =
        json_pack ("{s:s, s:s, s:s, s:{s:I, s:s}}", "status", status ? "failed" : "ok",
                   "error", e.text, "summary", summary, "output", "records",
                   (json_int_t)records, "xxh64", h);
    char *text = r ? json_dumps (r, JSON_COMPACT) : NULL;
    if (!text || loom_replay_result (text) < 0)
        fprintf (stderr, "loom: replay: cannot write the result\n");
    free (text);
    json_decref (r);
    json_decref (m);
    finish (status);
    return -1;
}
