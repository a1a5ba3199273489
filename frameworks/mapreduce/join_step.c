/* SPDX-License-Identifier: MIT */
/* The join step (loom_mr_join): reads two inputs (datasets keyed by a named column,
 * or in-memory data of earlier steps), joins them with libcomm's distributed join,
 * and writes the results through the same output sinks as a MapReduce step. The
 * checks a user can get wrong (missing dataset, missing column, key columns of
 * different types, an output schema that cannot hold the result) are made before
 * any data moves, and agreed on by every rank, so each fails with one line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/clock.h>

#include "internal.h"

struct input {
    const char *path; /* DATASET */
    loom_ds_t *ds;
    int key_col;
    size_t kw, vw; /* shapes of the records */
};

static void type_name (const loom_ds_schema_t *s, size_t c, char *buf, size_t len)
{
    static const char *names[] = {[LOOM_DS_INT32] = "i32",
                                  [LOOM_DS_INT64] = "i64",
                                  [LOOM_DS_UINT64] = "u64",
                                  [LOOM_DS_FLOAT64] = "f64",
                                  [LOOM_DS_BYTES] = "bytes"};
    loom_ds_type_t t = loom_ds_schema_type (s, c);
    if (t == LOOM_DS_FIXSTR)
        snprintf (buf, len, "str%zu", loom_ds_schema_width (s, c));
    else
        snprintf (buf, len, "%s", t <= LOOM_DS_BYTES && names[t] ? names[t] : "?");
}

/* Open a dataset input and find its key column and record shape. */
static int open_input (loom_comm_t *comm,
                       const char *side,
                       struct input *in,
                       const char *on,
                       loom_error_t *error)
{
    loom_error_t e;
    if (!in->path)
        return loom_errset (error, EINVAL, "join: no %s input path", side);
    if (!(in->ds = loom_ds_open (loom_comm_mpi (comm), in->path, NULL, &e)))
        return loom_errset (error, errno ? errno : ENOENT, "join: %s input: %s", side,
                            e.text);
    const loom_ds_schema_t *s = loom_ds_schema (in->ds);
    in->key_col = on ? loom_ds_schema_find (s, on) : 0;
    if (in->key_col < 0)
        return loom_errset (error, EINVAL, "join: %s input '%s' has no column '%s'",
                            side, in->path, on);
    size_t ncols = loom_ds_schema_ncols (s), vw = 0;
    bool var = false;
    for (size_t c = 0; c < ncols; c++) {
        size_t w = loom_ds_schema_type (s, c) == LOOM_DS_BYTES
                       ? LOOM_VARLEN
                       : loom_ds_schema_width (s, c);
        if ((int)c == in->key_col)
            in->kw = w;
        else if (w == LOOM_VARLEN)
            var = true;
        else
            vw += w;
    }
    in->vw = var ? LOOM_VARLEN : vw;
    return 0;
}

/* The derived output schema: key, left values, right values, matched. */
static char *
derive_schema (const struct input *in, loom_join_kind_t kind, loom_error_t *error)
{
    const loom_ds_schema_t *ls = loom_ds_schema (in[0].ds),
                           *rs = loom_ds_schema (in[1].ds);
    loom_ds_schema_t *out = loom_ds_schema_create ();
    char *text = NULL;
    if (!out) {
        loom_errset (error, ENOMEM, "join: out of memory");
        return NULL;
    }
    int sides = kind == LOOM_JOIN_INNER || kind == LOOM_JOIN_LEFT_OUTER ? 2 : 1;
    size_t nvals = 0, nbytes = 0;
    const char *bytes_col = NULL, *bytes_in = NULL;
    for (int s = 0; s < sides; s++) {
        const loom_ds_schema_t *sc = s ? rs : ls;
        for (size_t c = 0; c < loom_ds_schema_ncols (sc); c++) {
            if ((int)c == in[s].key_col)
                continue;
            nvals++;
            if (loom_ds_schema_type (sc, c) == LOOM_DS_BYTES) {
                nbytes++;
                bytes_col = loom_ds_schema_name (sc, c);
                bytes_in = in[s].path;
            }
        }
    }
    if (kind == LOOM_JOIN_LEFT_OUTER)
        nvals++;
    if (nbytes && nvals > 1) {
        loom_errset (error, EINVAL,
                     "join: column '%s' of '%s' is bytes: the output needs fixed-width "
                     "value columns (or a single bytes column); give --schema",
                     bytes_col, bytes_in);
        goto done;
    }
    const char *kname = loom_ds_schema_name (ls, (size_t)in[0].key_col);
    if (loom_ds_schema_add (out, kname, loom_ds_schema_type (ls, (size_t)in[0].key_col),
                            loom_ds_schema_type (ls, (size_t)in[0].key_col)
                                    == LOOM_DS_FIXSTR
                                ? loom_ds_schema_width (ls, (size_t)in[0].key_col)
                                : 0,
                            error)
        < 0)
        goto done;
    for (int s = 0; s < sides; s++) {
        const loom_ds_schema_t *sc = s ? rs : ls;
        for (size_t c = 0; c < loom_ds_schema_ncols (sc); c++) {
            if ((int)c == in[s].key_col)
                continue;
            const char *name = loom_ds_schema_name (sc, c);
            char renamed[80];
            if (s == 1 && loom_ds_schema_find (out, name) >= 0) {
                snprintf (renamed, sizeof (renamed), "right_%s", name);
                name = renamed;
            }
            loom_ds_type_t t = loom_ds_schema_type (sc, c);
            if (loom_ds_schema_add (
                    out, name, t,
                    t == LOOM_DS_FIXSTR ? loom_ds_schema_width (sc, c) : 0, error)
                < 0)
                goto done;
        }
    }
    if (kind == LOOM_JOIN_LEFT_OUTER
        && loom_ds_schema_add (
               out,
               loom_ds_schema_find (out, "matched") < 0 ? "matched" : "right_matched",
               LOOM_DS_INT32, 0, error)
               < 0)
        goto done;
    if (!(text = loom_ds_schema_format (out)))
        loom_errset (error, ENOMEM, "join: out of memory");
done:
    loom_ds_schema_destroy (out);
    return text;
}

/* Check both dataset inputs and agree on the shapes. */
static int check_datasets (loom_comm_t *comm,
                           const struct loom_mr_join_step *js,
                           struct input *in,
                           loom_error_t *error)
{
    static const char *side[2] = {"left", "right"};
    for (int s = 0; s < 2; s++)
        if (open_input (comm, side[s], &in[s], js->on, error) < 0)
            return -1;
    const loom_ds_schema_t *ls = loom_ds_schema (in[0].ds),
                           *rs = loom_ds_schema (in[1].ds);
    size_t lc = (size_t)in[0].key_col, rc = (size_t)in[1].key_col;
    if (loom_ds_schema_type (ls, lc) != loom_ds_schema_type (rs, rc)
        || loom_ds_schema_width (ls, lc) != loom_ds_schema_width (rs, rc)) {
        char lt[32], rt[32];
        type_name (ls, lc, lt, sizeof (lt));
        type_name (rs, rc, rt, sizeof (rt));
        return loom_errset (
            error, EINVAL, "join: key column '%s' is %s in '%s' but '%s' is %s in '%s'",
            loom_ds_schema_name (ls, lc), lt, in[0].path, loom_ds_schema_name (rs, rc),
            rt, in[1].path);
    }
    return 0;
}

struct feed {
    loom_join_t *j;
    int side;
    uint64_t records;
    loom_error_t *error;
};

static int on_row (const struct loom_record *rec, uint64_t part, void *arg)
{
    struct feed *f = arg;
    f->records++;
    return f->side ? loom_join_put_right (f->j, rec->key, rec->key_len, rec->value,
                                          rec->value_len, f->error)
                   : loom_join_put_left (f->j, rec->key, rec->key_len, rec->value,
                                         rec->value_len, f->error);
}

static int feed_side (loom_mr_t *mr,
                      const struct loom_mr_join_step *js,
                      const struct input *in,
                      struct feed *f,
                      uint64_t *bytes,
                      loom_error_t *error)
{
    loom_mr_input_kind_t kind = f->side ? js->right_input : js->left_input;
    if (kind == LOOM_MR_INPUT_DATASET)
        return mr__ds_read_keyed (mr->comm, in->path, (size_t)in->key_col, on_row, f,
                                  bytes, error);
    const loom_mr_data_t *d = f->side ? js->right_data : js->left_data;
    struct loom_record rec;
    for (uint64_t pos = 0; loom_mr_data_next (d, &pos, &rec) == 1;) {
        *bytes += rec.key_len + rec.value_len;
        if (on_row (&rec, 0, f) < 0)
            return -1;
    }
    return 0;
}

struct out_arg {
    struct mr_sink *sink;
    const struct loom_join_params *jp;
    char *buf;
    size_t cap;
    loom_error_t err;
};

static int emit_row (const void *key,
                     size_t klen,
                     const void *left,
                     size_t llen,
                     const void *right,
                     size_t rlen,
                     void *arg)
{
    struct out_arg *o = arg;
    size_t need = loom_join_result_size (o->jp, llen, right, rlen);
    if (need > o->cap) {
        char *b = realloc (o->buf, need * 2);
        if (!b) {
            errno = ENOMEM;
            return -1;
        }
        o->buf = b;
        o->cap = need * 2;
    }
    size_t n = loom_join_result_encode (o->jp, o->buf, left, llen, right, rlen);
    return mr__sink_add (o->sink, key, klen, o->buf, n, &o->err);
}

static int check_step (const struct loom_mr_join_step *js, loom_error_t *error)
{
    loom_mr_input_kind_t k[2] = {js->left_input, js->right_input};
    const loom_mr_data_t *d[2] = {js->left_data, js->right_data};
    for (int s = 0; s < 2; s++) {
        if (k[s] != LOOM_MR_INPUT_DATASET && k[s] != LOOM_MR_INPUT_DATA)
            return loom_errset (error, EINVAL,
                                "join: %s input must be a dataset or in-memory data",
                                s ? "right" : "left");
        if (k[s] == LOOM_MR_INPUT_DATA && !d[s])
            return loom_errset (error, EINVAL, "join: %s_data is NULL",
                                s ? "right" : "left");
    }
    if ((unsigned)js->kind > LOOM_JOIN_ANTI)
        return loom_errset (error, EINVAL, "join: bad kind %d", (int)js->kind);
    if ((unsigned)js->strategy > LOOM_JOIN_HYBRID)
        return loom_errset (error, EINVAL, "join: bad strategy %d", (int)js->strategy);
    if (js->output == LOOM_MR_OUTPUT_DATASET && !js->schema
        && (k[0] != LOOM_MR_INPUT_DATASET || k[1] != LOOM_MR_INPUT_DATASET))
        return loom_errset (
            error, EINVAL, "join: dataset output from in-memory inputs needs a schema");
    if (js->output != LOOM_MR_OUTPUT_NONE && !js->output_path)
        return loom_errset (error, EINVAL, "join: no output path");
    return 0;
}

int loom_mr_join (loom_mr_t *mr,
                  const struct loom_mr_join_step *js,
                  loom_mr_data_t **out,
                  struct loom_mr_stats *stats,
                  loom_error_t *error)
{
    loom_error_t dummy;
    if (!error)
        error = &dummy;
    if (out)
        *out = NULL;
    if (!mr || !js)
        return loom_errset (error, EINVAL, "join: mr or step is NULL");
    if (check_step (js, error) < 0)
        return -1;
    loom_comm_t *comm = mr->comm;
    int rank = loom_comm_rank (comm), size = loom_comm_size (comm);
    struct input in[2] = {{.path = js->left_path, .key_col = 0},
                          {.path = js->right_path, .key_col = 0}};
    struct loom_mr_stats s = {0};
    struct mr_sink *sink = NULL;
    loom_join_t *j = NULL;
    char *schema = NULL;
    struct out_arg oa = {0};
    int err = 0, rc = -1;
    double t0 = loom_clock_sec (), t;

    /* 1. Inputs and shapes (every rank checks; the lowest failing rank speaks). */
    struct loom_join_params jp = LOOM_JOIN_PARAMS_INIT;
    jp.kind = js->kind;
    jp.strategy = js->strategy;
    jp.hash_seed = js->hash_seed;
    jp.mem_bytes = mr->p.mem_bytes / 2;
    jp.tmpdir = mr->tmpdir;
    jp.timeout_sec = mr->p.timeout_sec;
    if (js->left_input == LOOM_MR_INPUT_DATASET
        && js->right_input == LOOM_MR_INPUT_DATASET) {
        if (check_datasets (comm, js, in, error) < 0)
            err = errno ? errno : EINVAL;
        jp.key_width = in[0].kw;
        jp.left_value_width = in[0].vw;
        jp.right_value_width = in[1].vw;
        if (!err && js->output == LOOM_MR_OUTPUT_DATASET && !js->schema
            && !(schema = derive_schema (in, js->kind, error)))
            err = errno ? errno : EINVAL;
    } else if (js->left_input == LOOM_MR_INPUT_DATA
               && js->right_input == LOOM_MR_INPUT_DATA) {
        jp.key_width = js->key_width;
        jp.left_value_width = js->left_value_width;
        jp.right_value_width = js->right_value_width;
    } else {
        loom_errset (error, EINVAL,
                     "join: both inputs must be datasets or both in-memory data");
        err = EINVAL;
    }
    if (!err && !(j = loom_join_create (comm, &jp, error)))
        err = errno ? errno : EINVAL;
    if (mr__agree (comm, err, error) != 0)
        goto out;

    /* 2. The output (collective: checks it may be written). */
    struct mr_sink_params sp = {
        .kind = js->output,
        .path = js->output_path,
        .force = (mr->p.flags & LOOM_MR_FORCE) != 0,
        .keep = out != NULL,
        .nparts = (uint32_t)size,
        .first_part = (uint32_t)rank,
        .nlocal = 1,
        .format = js->format,
        .format_arg = js->format_arg,
        .schema = js->schema ? js->schema : schema,
        .lineage = js->lineage,
        .partitioner = LOOM_DS_PART_NONE,
        .tmpdir = mr->tmpdir,
        .mem_bytes = mr->p.mem_bytes / 4,
    };
    if (!(sink = mr__sink_create (comm, &sp, error)))
        goto out;

    /* 3. Read both sides into the join. */
    for (int side = 0; side < 2 && !err; side++) {
        struct feed f = {j, side, 0, error};
        if (feed_side (mr, js, &in[side], &f, &s.input_bytes, error) < 0)
            err = errno ? errno : EIO;
        s.input_records += f.records;
    }
    s.map_sec = loom_clock_sec () - t0;
    if (mr__agree (comm, err, error) != 0)
        goto out_sink;

    /* 4. Join into the output partition of this rank. */
    t = loom_clock_sec ();
    oa.sink = sink;
    oa.jp = &jp;
    if (mr__sink_begin (sink, (uint32_t)rank, error) < 0)
        err = errno ? errno : EIO;
    /* The join is collective: every rank runs it, even after a local failure. */
    loom_error_t jerr;
    if (loom_join_run (j, emit_row, &oa, &jerr) < 0 && !err) {
        err = errno ? errno : EIO;
        memcpy (error->text, oa.err.text[0] ? oa.err.text : jerr.text,
                sizeof (error->text));
    }
    if (!err && mr__sink_end (sink, error) < 0)
        err = errno ? errno : EIO;
    struct loom_join_stats jst;
    loom_join_stats (j, &jst);
    s.shuffle_bytes = jst.spill_bytes;
    s.spill_bytes = jst.spill_bytes;
    s.reduce_sec = loom_clock_sec () - t;

    /* 5. Commit (collective; removes the output on any rank's failure). */
    t = loom_clock_sec ();
    if (mr__sink_finish (sink, err, out, error) < 0)
        goto out_sink;
    s.write_sec = loom_clock_sec () - t;
    rc = 0;
out_sink:
    s.output_records = mr__sink_records (sink);
    s.partitions_written = mr__sink_parts_written (sink);
out:
    s.total_sec = loom_clock_sec () - t0;
    if (rc == 0)
        mr__stats_totals (comm, &s);
    if (stats)
        *stats = s;
    int saved = errno;
    mr__sink_destroy (sink);
    loom_join_destroy (j);
    loom_ds_close (in[0].ds);
    loom_ds_close (in[1].ds);
    free (schema);
    free (oa.buf);
    errno = saved;
    return rc;
}
