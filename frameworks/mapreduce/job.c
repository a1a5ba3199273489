/* SPDX-License-Identifier: MIT */
/* A MapReduce job and the run of one step: input -> map -> [combine -> shuffle ->
 * group -> reduce] -> output. Every collective call is made by every rank in the
 * same order, also after a local failure: a failing rank stops reading its input
 * but still finishes the shuffle, then all ranks agree on the first failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <loom/capture.h>
#include <loom/clock.h>
#include <loom/hash.h>
#include <loom/trace.h>

#include "internal.h"

#define DEFAULT_MEM      (1ULL << 30)
#define MIN_MEM          (4ULL << 20)
#define SAMPLES_PER_RANK 1000

LOOM_TRACE_TYPE (t_map, "mapreduce", "map", "records", "bytes");
LOOM_TRACE_TYPE (t_shuffle, "mapreduce", "shuffle", "bytes", "records");
LOOM_TRACE_TYPE (t_combine, "mapreduce", "combine", "records");
LOOM_TRACE_TYPE (t_reduce, "mapreduce", "reduce", "records", "partition");
LOOM_TRACE_TYPE (t_write, "mapreduce", "write", "records");

loom_mr_t *loom_mr_create (loom_comm_t *comm,
                           const struct loom_mr_params *params,
                           loom_error_t *error)
{
    struct loom_mr_params p = LOOM_MR_PARAMS_INIT;
    if (params)
        p = *params;
    if (!comm) {
        loom_errset (error, EINVAL, "mapreduce: comm is NULL");
        return NULL;
    }
    if (p.mem_bytes == 0)
        p.mem_bytes = DEFAULT_MEM;
    if (p.mem_bytes < MIN_MEM) {
        loom_errset (error, EINVAL, "mapreduce: params.mem_bytes %llu is below 4 MiB",
                     (unsigned long long)p.mem_bytes);
        return NULL;
    }
    if (p.flags & ~(unsigned)(LOOM_MR_DETERMINISTIC | LOOM_MR_FORCE)) {
        loom_errset (error, EINVAL, "mapreduce: params.flags has unknown bits");
        return NULL;
    }
    if (!(p.timeout_sec >= 0)) {
        loom_errset (error, EINVAL, "mapreduce: params.timeout_sec must be >= 0");
        return NULL;
    }
    loom_mr_t *mr = calloc (1, sizeof (*mr));
    const char *tmp = p.tmpdir;
    if (!tmp)
        tmp = getenv ("LOOM_TMPDIR");
    if (!tmp)
        tmp = getenv ("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    if (!mr || !(mr->tmpdir = strdup (tmp))) {
        free (mr);
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    mr->comm = comm;
    mr->p = p;
    mr->p.tmpdir = mr->tmpdir;
    return mr;
}

void loom_mr_destroy (loom_mr_t *mr)
{
    if (!mr)
        return;
    int saved = errno;
    free (mr->tmpdir);
    free (mr);
    errno = saved;
}

int loom_mr_ctx_rank (const loom_mr_ctx_t *ctx)
{
    return loom_comm_rank (ctx->mr->comm);
}

int loom_mr_ctx_size (const loom_mr_ctx_t *ctx)
{
    return loom_comm_size (ctx->mr->comm);
}

int loom_mr_fail (loom_mr_ctx_t *ctx, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (ctx->err.text, sizeof (ctx->err.text), fmt, ap);
    va_end (ap);
    ctx->errnum = errnum ? errnum : EINVAL;
    errno = ctx->errnum;
    return -1;
}

/* Record a failure in ctx unless one is already recorded. Returns -1. */
static int ctx_fail (loom_mr_ctx_t *ctx, int errnum, const loom_error_t *e)
{
    if (!ctx->errnum) {
        ctx->errnum = errnum ? errnum : EIO;
        memcpy (ctx->err.text, e->text, sizeof (e->text));
    }
    return -1;
}

static int put_record (const void *key, size_t klen, const void *value, void *arg)
{
    loom_mr_ctx_t *ctx = arg;
    loom_error_t e;
    ctx->shuffled++;
    ctx->shuffled_bytes += klen + ctx->step->value_width;
    if (loom_shuffle_put (ctx->sh, key, klen, value, ctx->step->value_width, &e) < 0)
        return ctx_fail (ctx, errno, &e);
    return 0;
}

int loom_mr_emit (loom_mr_ctx_t *ctx,
                  const void *key,
                  size_t key_len,
                  const void *value,
                  size_t value_len)
{
    const struct loom_mr_step *st = ctx->step;
    loom_error_t e;
    if ((st->key_width != LOOM_VARLEN && key_len != st->key_width)
        || (st->value_width != LOOM_VARLEN && value_len != st->value_width))
        return loom_mr_fail (ctx, EINVAL,
                             "%s: emitted a record of %zu+%zu bytes, the step says "
                             "key_width %zu, value_width %zu",
                             st->name, key_len, value_len, st->key_width,
                             st->value_width);
    ctx->emitted++;
    if (ctx->digest.h)
        mr__digest_add (&ctx->digest, key, key_len, value, value_len);
    switch (ctx->mode) {
    case EMIT_COMBINE:
        int added = mr__ctable_add (ctx->ct, key, key_len, value);
        if (added < 0)
            return loom_mr_fail (ctx, ENOMEM, "%s: out of memory combining", st->name);
        if (added && mr__ctable_full (ctx->ct)) {
            loom_trace_span_t s =
                loom_trace_begin (&t_combine, mr__ctable_count (ctx->ct));
            int rc = mr__ctable_drain (ctx->ct, put_record, ctx);
            loom_trace_end (s);
            return rc;
        }
        return 0;
    case EMIT_SHUFFLE:
        ctx->shuffled++;
        ctx->shuffled_bytes += key_len + value_len;
        if (loom_shuffle_put (ctx->sh, key, key_len, value, value_len, &e) < 0)
            return ctx_fail (ctx, errno, &e);
        return 0;
    case EMIT_SINK:
        if (mr__sink_add (ctx->sink, key, key_len, value, value_len, &e) < 0)
            return ctx_fail (ctx, errno, &e);
        return 0;
    case EMIT_REPLAY:
        if (ctx->replay_out)
            mr__replay_print (ctx->replay_out, key, key_len, value, value_len);
        return 0;
    case EMIT_SAMPLE: {
        uint32_t len = (uint32_t)key_len;
        if (mr__buf_append (&ctx->samples, &len, 4) < 0
            || mr__buf_append (&ctx->samples, key, key_len) < 0)
            return loom_mr_fail (ctx, ENOMEM, "out of memory sampling keys");
        ctx->nsamples++;
        return 0;
    }
    }
    return 0;
}

static void report (loom_mr_ctx_t *ctx, bool done)
{
    loom_mr_t *mr = ctx->mr;
    if (!mr->p.progress || loom_comm_rank (mr->comm) != 0)
        return;
    double now = loom_clock_sec ();
    if (!done && now - ctx->last_report < 0.2)
        return;
    ctx->last_report = now;
    struct loom_mr_progress p = {
        .step = ctx->step->name,
        .phase = ctx->phase,
        .fraction = ctx->range ? (double)ctx->bytes / (double)ctx->range : 1.0,
        .records = ctx->records,
        .bytes_in = ctx->bytes,
        .shuffled = ctx->shuffled_bytes,
        .elapsed_sec = now - ctx->start,
        .ranks = loom_comm_size (mr->comm),
        .done = done,
    };
    if (p.fraction > 1.0)
        p.fraction = 1.0;
    mr->p.progress (&p, mr->p.progress_arg);
}

int mr__map_one (loom_mr_ctx_t *ctx, const struct loom_record *rec)
{
    ctx->records++;
    if ((ctx->records & 0xffff) == 0)
        report (ctx, false);
    if (ctx->step->map) {
        /* What a crash report names: the key, or the line of text input. */
        if (rec->key_len || !rec->value)
            loom_capture_key (rec->key, rec->key_len);
        else
            loom_capture_key (rec->value, rec->value_len);
        loom_capture_user (1);
        int rc = ctx->step->map (ctx, rec, ctx->step->map_arg);
        loom_capture_user (0);
        return rc < 0 ? -1 : 0;
    }
    return loom_mr_emit (ctx, rec->key, rec->key_len, rec->value, rec->value_len);
}

int mr__on_line (const char *line, size_t len, uint64_t done, void *arg)
{
    loom_mr_ctx_t *ctx = arg;
    struct loom_record r = {line, 0, line, len};
    ctx->bytes = done + len + 1;
    r.key = NULL;
    return mr__map_one (ctx, &r);
}

int mr__on_row (const struct loom_record *rec, uint64_t part, void *arg)
{
    loom_mr_ctx_t *ctx = arg;
    (void)part;
    ctx->bytes += rec->key_len + rec->value_len;
    return mr__map_one (ctx, rec);
}

/* Call map on this rank's input ('stride' > 0: only a sample of it). Local. */
static int map_input (loom_mr_ctx_t *ctx,
                      const struct mr_files *files,
                      uint64_t stride,
                      loom_error_t *error)
{
    const struct loom_mr_step *st = ctx->step;
    loom_comm_t *comm = ctx->mr->comm;
    int rank = loom_comm_rank (comm), size = loom_comm_size (comm);
    struct mr_map_input in = {.files = files, .count = UINT32_MAX};
    int rc = 0;
    if (st->input == LOOM_MR_INPUT_TEXT) {
        in.lo = files->total * (uint64_t)rank / (uint64_t)size;
        in.hi = files->total * (uint64_t)(rank + 1) / (uint64_t)size;
        ctx->range = in.hi - in.lo;
    }
    if (!stride) /* the map task itself, not the sampling pass */
        mr__cap_map_begin (ctx, &in);
    if (st->input == LOOM_MR_INPUT_TEXT) {
        rc = mr__text_read (files, in.lo, in.hi, stride, mr__on_line, ctx, error);
    } else if (st->input == LOOM_MR_INPUT_DATA) {
        uint64_t pos = 0, i = 0;
        struct loom_record r;
        ctx->range = st->data->buf.len;
        while (rc == 0 && loom_mr_data_next (st->data, &pos, &r)) {
            if (stride && (i++ % stride) != 0)
                continue;
            ctx->bytes = pos;
            rc = mr__map_one (ctx, &r);
        }
    } else {
        uint64_t bytes = 0;
        rc = mr__ds_read (comm, st->paths[0], mr__on_row, ctx, &bytes, error);
    }
    if (!stride)
        mr__cap_end (ctx, rc < 0);
    if (rc < 0 && ctx->errnum) {
        memcpy (error->text, ctx->err.text, sizeof (error->text));
        errno = ctx->errnum;
    } else if (rc < 0 && !errno) {
        errno = EIO;
    }
    return rc;
}

static int
check_step (loom_mr_t *mr, const struct loom_mr_step *st, loom_error_t *error)
{
    const char *n = st->name ? st->name : "step";
    if (st->input == LOOM_MR_INPUT_TEXT && (!st->paths || !st->npaths))
        return loom_errset (error, EINVAL, "%s: no input paths", n);
    if (st->input == LOOM_MR_INPUT_DATASET && (!st->paths || st->npaths != 1))
        return loom_errset (error, EINVAL, "%s: dataset input needs exactly one path",
                            n);
    if (st->input == LOOM_MR_INPUT_DATA && !st->data)
        return loom_errset (error, EINVAL, "%s: step.data is NULL", n);
    if (st->input > LOOM_MR_INPUT_DATA)
        return loom_errset (error, EINVAL, "%s: step.input %d is unknown", n,
                            (int)st->input);
    if (st->combine != LOOM_COMBINE_NONE && st->value_width == LOOM_VARLEN)
        return loom_errset (error, EINVAL, "%s: a combiner needs a fixed value_width",
                            n);
    if (st->combine == LOOM_COMBINE_CALLBACK && !st->combine_fn)
        return loom_errset (error, EINVAL, "%s: step.combine_fn is NULL", n);
    if (st->combine > LOOM_COMBINE_MAX_F64)
        return loom_errset (error, EINVAL, "%s: step.combine %d is unknown", n,
                            (int)st->combine);
    if (st->combine >= LOOM_COMBINE_SUM_U64 && st->value_width != 8)
        return loom_errset (error, EINVAL,
                            "%s: the built-in combiners need value_width 8", n);
    if (st->partition != LOOM_PARTITION_HASH && st->partition != LOOM_PARTITION_RANGE)
        return loom_errset (error, EINVAL, "%s: step.partition must be HASH or RANGE",
                            n);
    if (st->output > LOOM_MR_OUTPUT_DATASET)
        return loom_errset (error, EINVAL, "%s: step.output %d is unknown", n,
                            (int)st->output);
    if (st->output != LOOM_MR_OUTPUT_NONE && !st->output_path)
        return loom_errset (error, EINVAL, "%s: step.output_path is NULL", n);
    if (st->flags
        & ~(unsigned)(LOOM_MR_SORT_VALUES | LOOM_MR_RESUME | LOOM_MR_TEXT_RAW))
        return loom_errset (error, EINVAL, "%s: step.flags has unknown bits", n);
    (void)mr;
    return 0;
}

struct route {
    uint64_t seed;
    uint32_t nparts;
};

/* Shuffle partitioner: the owner of the key's hash partition. */
static int route_hash (const struct loom_record *rec, int nranks, void *arg)
{
    const struct route *r = arg;
    uint32_t part = loom_hash_partition (rec->key, rec->key_len, r->seed, r->nparts);
    return mr__part_owner (part, r->nparts, nranks);
}

struct recv_arg {
    struct mr_group *g;
    struct route route;
    bool range;
    uint32_t first_part;
    loom_error_t err;
    int errnum;
};

static int on_batch (const struct loom_batch *b, void *arg)
{
    struct recv_arg *ra = arg;
    uint64_t pos = 0;
    struct loom_record r;
    int k;
    while ((k = loom_batch_next (b, &pos, &r)) == 1) {
        uint32_t part = 0;
        if (!ra->range)
            part =
                loom_hash_partition (r.key, r.key_len, ra->route.seed, ra->route.nparts)
                - ra->first_part;
        if (mr__group_add (ra->g, part, r.key, r.key_len, r.value, r.value_len,
                           &ra->err)
            < 0) {
            ra->errnum = errno;
            return -1;
        }
    }
    if (k < 0) {
        ra->errnum = EPROTO;
        loom_errprintf (&ra->err, "corrupt shuffle batch");
        errno = EPROTO;
        return -1;
    }
    return 0;
}

int mr__on_group (const void *key, size_t klen, loom_mr_values_t *values, void *arg)
{
    struct mr_reduce_arg *ra = arg;
    loom_mr_ctx_t *ctx = ra->ctx;
    const struct loom_mr_step *st = ctx->step;
    ra->groups++;
    if (st->reduce) {
        loom_capture_key (key, klen);
        loom_capture_user (1);
        int rc = st->reduce (ctx, key, klen, values, st->reduce_arg);
        loom_capture_user (0);
        return rc < 0 ? -1 : 0;
    }
    const void *v;
    size_t vl;
    int k;
    if (st->combine != LOOM_COMBINE_NONE) {
        /* Identity with a combiner: one record per key, its values combined. */
        bool first = true;
        while ((k = loom_mr_values_next (values, &v, &vl)) == 1) {
            if (first)
                memcpy (ra->acc, v, st->value_width);
            else
                mr__combine (st->combine, st->combine_fn, st->combine_arg, ra->acc, v,
                             st->value_width);
            first = false;
        }
        if (k < 0)
            return loom_mr_fail (ctx, EIO, "%s: cannot read spilled values", st->name);
        return first ? 0 : loom_mr_emit (ctx, key, klen, ra->acc, st->value_width);
    }
    while ((k = loom_mr_values_next (values, &v, &vl)) == 1)
        if (loom_mr_emit (ctx, key, klen, v, vl) < 0)
            return -1;
    if (k < 0)
        return loom_mr_fail (ctx, EIO, "%s: cannot read spilled values", st->name);
    return 0;
}

/* Choose range splitters from a sample of the keys map emits. Collective. */
static loom_splitters_t *
sample_splitters (loom_mr_ctx_t *ctx, const struct mr_files *files, loom_error_t *error)
{
    loom_comm_t *comm = ctx->mr->comm;
    const struct loom_mr_step *st = ctx->step;
    int rank = loom_comm_rank (comm), size = loom_comm_size (comm);
    uint64_t stride = 1;
    if (st->input == LOOM_MR_INPUT_TEXT) {
        uint64_t lo = files->total * (uint64_t)rank / (uint64_t)size;
        uint64_t hi = files->total * (uint64_t)(rank + 1) / (uint64_t)size;
        stride = (hi - lo) / SAMPLES_PER_RANK;
        if (stride == 0)
            stride = 1;
    } else if (st->input == LOOM_MR_INPUT_DATA) {
        stride = st->data->records / SAMPLES_PER_RANK + 1;
    }
    ctx->mode = EMIT_SAMPLE;
    int err = 0;
    if (map_input (ctx, files, stride, error) < 0)
        err = errno ? errno : EIO;
    ctx->records = ctx->bytes = 0;
    ctx->emitted = 0;
    if (mr__agree (comm, err, error) != 0)
        return NULL;
    const void **keys = calloc (ctx->nsamples + 1, sizeof (*keys));
    size_t *lens = calloc (ctx->nsamples + 1, sizeof (*lens));
    loom_splitters_t *spl = NULL;
    if (keys && lens) {
        size_t off = 0;
        for (size_t i = 0; i < ctx->nsamples; i++) {
            uint32_t len;
            memcpy (&len, ctx->samples.data + off, 4);
            keys[i] = ctx->samples.data + off + 4;
            lens[i] = len;
            off += 4 + len;
        }
    }
    /* Every rank takes part, even after a local allocation failure. */
    size_t n = keys && lens ? ctx->nsamples : 0;
    spl = loom_splitters_sample (comm, (const void *const *)keys, lens, n, error);
    free (keys);
    free (lens);
    mr__buf_free (&ctx->samples);
    ctx->nsamples = 0;
    return spl;
}

int loom_mr_run (loom_mr_t *mr,
                 const struct loom_mr_step *step,
                 loom_mr_data_t **out,
                 struct loom_mr_stats *stats,
                 loom_error_t *error)
{
    loom_error_t dummy;
    if (!error)
        error = &dummy;
    if (out)
        *out = NULL;
    if (!mr || !step)
        return loom_errset (error, EINVAL, "mapreduce: mr or step is NULL");
    if (check_step (mr, step, error) < 0)
        return -1;
    struct loom_mr_step st = *step;
    if (!st.name)
        st.name = "step";
    uint32_t step_index = mr->steps++;
    if (loom_replay_dir ())
        return mr__replay_step (mr, &st, step_index, out, error) < 0 ? -1 : 0;
    loom_comm_t *comm = mr->comm;
    if (loom_capture_mode () != LOOM_CAPTURE_OFF && !*loom_capture_job ()) {
        /* No launcher identity to name the job by: every rank takes rank 0's. */
        uint64_t id = 0;
        if (loom_comm_rank (comm) == 0) {
            struct timespec ts;
            clock_gettime (CLOCK_REALTIME, &ts);
            id = loom_hash64 (&ts, sizeof (ts), (uint64_t)getpid ()) | 1;
        }
        if (mr__bcast (comm, &id, sizeof (id), 0, error) < 0)
            return -1;
        loom_capture_set_job (id);
    }
    int rank = loom_comm_rank (comm), size = loom_comm_size (comm);
    bool shuffle = st.reduce || st.shuffle || st.combine != LOOM_COMBINE_NONE
                   || st.partition == LOOM_PARTITION_RANGE;
    uint32_t nparts;
    if (!shuffle || st.partition == LOOM_PARTITION_RANGE)
        nparts = (uint32_t)size;
    else
        nparts = st.partitions ? st.partitions : LOOM_MR_DEFAULT_PARTITIONS;
    uint32_t first = shuffle && st.partition == LOOM_PARTITION_HASH
                         ? mr__part_first (nparts, size, rank)
                         : (uint32_t)rank;
    uint32_t nlocal = shuffle && st.partition == LOOM_PARTITION_HASH
                          ? mr__part_first (nparts, size, rank + 1) - first
                          : 1;

    struct loom_mr_stats s = {0};
    struct mr_files files = {0};
    struct mr_sink *sink = NULL;
    struct mr_group *group = NULL;
    loom_splitters_t *spl = NULL;
    loom_mr_ctx_t ctx = {.mr = mr, .step = &st, .step_index = step_index};
    struct recv_arg ra = {.route = {st.hash_seed, nparts},
                          .range = st.partition == LOOM_PARTITION_RANGE,
                          .first_part = first};
    struct mr_reduce_arg red = {.ctx = &ctx};
    int err = 0, rc = -1;
    double t0 = loom_clock_sec (), t;
    ctx.start = t0;
    ctx.phase = "map";

    /* 1. Input listing (collective, rank 0 checks every file). */
    if (st.input == LOOM_MR_INPUT_TEXT
        && mr__text_list (comm, st.paths, st.npaths, &files, error) < 0)
        return -1;
    if (st.input == LOOM_MR_INPUT_DATASET) {
        loom_ds_t *ds = loom_ds_open (loom_comm_mpi (comm), st.paths[0], NULL, error);
        if (!ds)
            err = errno ? errno : ENOENT;
        loom_ds_close (ds);
        if (mr__agree (comm, err, error) != 0)
            goto out;
    }

    /* 2. Range splitters, sampled from what map emits. */
    if (shuffle && st.partition == LOOM_PARTITION_RANGE) {
        if (!(spl = sample_splitters (&ctx, &files, error)))
            goto out;
    }

    /* 3. The output (collective: checks it may be written). */
    struct mr_sink_params sp = {
        .kind = st.output,
        .path = st.output_path,
        .force = (mr->p.flags & LOOM_MR_FORCE) != 0,
        .keep = out != NULL,
        .nparts = nparts,
        .first_part = first,
        .nlocal = nlocal,
        .format = st.format,
        .format_arg = st.format_arg,
        .text_raw = (st.flags & LOOM_MR_TEXT_RAW) != 0,
        .schema = st.schema,
        .lineage = st.lineage,
        .repair = st.repair_partitions,
        .resume = (st.flags & LOOM_MR_RESUME) != 0,
        .partitioner = !shuffle                               ? LOOM_DS_PART_NONE
                       : st.partition == LOOM_PARTITION_RANGE ? LOOM_DS_PART_RANGE
                                                              : LOOM_DS_PART_HASH,
        .seed = st.hash_seed,
        .splitters = spl,
        .tmpdir = mr->tmpdir,
        .mem_bytes = mr->p.mem_bytes / 4, /* text buffer: mem / 8 */
    };
    if (!(sink = mr__sink_create (comm, &sp, error)))
        goto out;

    /* 4. Map. */
    loom_trace_span_t span = loom_trace_begin (&t_map);
    if (!shuffle) {
        ctx.mode = EMIT_SINK;
        ctx.sink = sink;
        if (mr__sink_begin (sink, (uint32_t)rank, error) < 0
            || map_input (&ctx, &files, 0, error) < 0 || mr__sink_end (sink, error) < 0)
            err = errno ? errno : EIO;
        if (ctx.errnum) {
            err = ctx.errnum;
            memcpy (error->text, ctx.err.text, sizeof (error->text));
        }
        s.map_sec = loom_clock_sec () - t0;
        s.map_emitted = ctx.emitted;
        loom_trace_end (span, ctx.records, ctx.bytes);
        ctx.phase = "write";
        report (&ctx, true);
        t = loom_clock_sec ();
        goto finish;
    }
    struct loom_shuffle_params shp = LOOM_SHUFFLE_PARAMS_INIT;
    shp.key_width = st.key_width;
    shp.value_width = st.value_width;
    if (st.partition == LOOM_PARTITION_RANGE) {
        shp.partition = LOOM_PARTITION_RANGE;
        shp.splitters = spl;
    } else {
        shp.partition = LOOM_PARTITION_CALLBACK;
        shp.partition_fn = route_hash;
        shp.partition_arg = &ra.route;
    }
    shp.combine = st.combine;
    shp.combine_fn = st.combine_fn;
    shp.combine_arg = st.combine_arg;
    shp.mem_bytes = mr->p.mem_bytes / 4;
    shp.tmpdir = mr->tmpdir;
    shp.timeout_sec = mr->p.timeout_sec;
    if (mr->p.flags & LOOM_MR_DETERMINISTIC)
        shp.flags |= LOOM_SHUFFLE_DETERMINISTIC;
    ctx.sh = loom_shuffle_create (comm, &shp, error);
    if (ctx.sh)
        group = mr__group_create (nlocal, mr->p.mem_bytes / 2, mr->tmpdir,
                                  (st.flags & LOOM_MR_SORT_VALUES) != 0, error);
    ra.g = group;
    if (group && loom_shuffle_set_recv (ctx.sh, on_batch, &ra) < 0)
        loom_errset (error, errno, "mapreduce: cannot set the receive callback");
    if (st.combine != LOOM_COMBINE_NONE && group) {
        ctx.ct = mr__ctable_create (st.value_width, st.combine, st.combine_fn,
                                    st.combine_arg, mr->p.mem_bytes / 8);
        red.acc = malloc (st.value_width);
        if (!ctx.ct || !red.acc)
            loom_errset (error, ENOMEM, "out of memory");
    }
    if (!ctx.sh || !group || (st.combine != LOOM_COMBINE_NONE && (!ctx.ct || !red.acc)))
        err = errno ? errno : ENOMEM;
    if (mr__agree (comm, err, error) != 0)
        goto out;

    ctx.mode = ctx.ct ? EMIT_COMBINE : EMIT_SHUFFLE;
    if (map_input (&ctx, &files, 0, error) < 0)
        err = errno ? errno : EIO;
    if (!err && ctx.ct) {
        loom_trace_span_t cs = loom_trace_begin (&t_combine, mr__ctable_count (ctx.ct));
        if (mr__ctable_drain (ctx.ct, put_record, &ctx) < 0) {
            err = ctx.errnum ? ctx.errnum : EIO;
            memcpy (error->text, ctx.err.text, sizeof (error->text));
        }
        loom_trace_end (cs);
    }
    s.map_sec = loom_clock_sec () - t0;
    s.map_emitted = ctx.emitted;
    loom_trace_end (span, ctx.records, ctx.bytes);
    report (&ctx, true);

    /* 5. Shuffle: every rank finishes it, failed or not, so no peer waits forever. */
    t = loom_clock_sec ();
    ctx.phase = "shuffle";
    span = loom_trace_begin (&t_shuffle);
    loom_error_t sherr;
    if (loom_shuffle_finish (ctx.sh, &sherr) < 0 && !err) {
        err = ra.errnum ? ra.errnum : (errno ? errno : EIO);
        memcpy (error->text, ra.errnum ? ra.err.text : sherr.text,
                sizeof (error->text));
    }
    struct loom_shuffle_stats shs;
    loom_shuffle_stats (ctx.sh, &shs);
    s.shuffle_bytes = shs.bytes_sent;
    s.spill_bytes = shs.spill_bytes_written;
    loom_trace_end (span, shs.bytes_sent, shs.records_sent);
    s.shuffle_sec = loom_clock_sec () - t;
    report (&ctx, true);
    if (mr__agree (comm, err, error) != 0)
        goto out_sink;

    /* 6. Group and reduce, partition by partition, into the output. */
    t = loom_clock_sec ();
    if (st.output == LOOM_MR_OUTPUT_TEXT && !st.format && (st.flags & LOOM_MR_TEXT_RAW)
        && !st.reduce && st.combine == LOOM_COMBINE_NONE) {
        /* Identity reduce to raw text: every record becomes key, value, newline,
         * so each rank knows its output's size and writes it in place as it goes.
         */
        uint64_t bytes = 0;
        for (uint32_t i = 0; i < nlocal; i++) {
            uint64_t n = mr__group_records (group, i);
            bytes += mr__group_bytes (group, i) - n * MR_REC_HDR + n;
        }
        if (mr__sink_text_direct (sink, bytes, error) < 0) {
            err = errno ? errno : EIO;
            goto finish;
        }
    }
    ctx.phase = "reduce";
    ctx.mode = EMIT_SINK;
    ctx.sink = sink;
    for (uint32_t i = 0; i < nlocal && !err; i++) {
        uint32_t part = first + i;
        loom_trace_span_t rs = loom_trace_begin (&t_reduce, 0, part);
        uint64_t before = mr__sink_records (sink);
        if (mr__sink_committed (sink, part)) {
            /* Reused from an earlier run: nothing to compute. */
            if (mr__sink_begin (sink, part, error) < 0
                || mr__sink_end (sink, error) < 0)
                err = errno ? errno : EIO;
            mr__group_each (group, i, NULL, NULL, error); /* frees the memory */
            loom_trace_end (rs, 0, part);
            continue;
        }
        mr__cap_reduce_begin (&ctx, group, i, part, nparts);
        if (mr__sink_begin (sink, part, error) < 0
            || mr__group_each (group, i, mr__on_group, &red, error) < 0
            || mr__sink_end (sink, error) < 0)
            err = errno ? errno : EIO;
        mr__cap_end (&ctx, err != 0 || ctx.errnum != 0);
        if (ctx.errnum) {
            err = ctx.errnum;
            memcpy (error->text, ctx.err.text, sizeof (error->text));
        }
        loom_trace_end (rs, mr__sink_records (sink) - before, part);
    }
    s.reduce_groups = red.groups;
    s.spill_bytes += mr__group_spilled (group);
    s.reduce_sec = loom_clock_sec () - t;
    report (&ctx, true);
    t = loom_clock_sec ();

finish:
    /* 7. Commit the output (collective; removes it on any rank's failure). */
    ctx.phase = "write";
    loom_trace_span_t ws = loom_trace_begin (&t_write);
    if (mr__sink_finish (sink, err, out, error) < 0)
        goto out_sink;
    loom_trace_end (ws, mr__sink_records (sink));
    s.write_sec = loom_clock_sec () - t;
    rc = 0;
out_sink:
    s.output_records = mr__sink_records (sink);
    s.partitions_written = mr__sink_parts_written (sink);
    s.partitions_reused = mr__sink_parts_reused (sink);
out:
    s.input_records = ctx.records;
    s.input_bytes = ctx.bytes;
    s.shuffle_records = ctx.shuffled;
    s.total_sec = loom_clock_sec () - t0;
    if (rc == 0)
        mr__stats_totals (comm, &s);
    if (stats)
        *stats = s;
    int saved = errno;
    mr__sink_destroy (sink);
    mr__group_destroy (group);
    mr__ctable_destroy (ctx.ct);
    loom_shuffle_destroy (ctx.sh);
    loom_splitters_destroy (spl);
    mr__files_free (&files);
    mr__buf_free (&ctx.samples);
    free (red.acc);
    errno = saved;
    return rc;
}
