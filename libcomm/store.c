/* SPDX-License-Identifier: MIT */
/* The receive side: received segments go to the receive callback as they arrive, to
 * the combine table, or to the store (memory up to its budget, then the receive spill
 * file). After the exchange the same batch iterator feeds both loom_shuffle_next()
 * and the end-of-exchange callback delivery.
 *
 * Receive-side combining that outgrows the budget spills the table as a "run" cut
 * into LOOM__NBUCKETS hash buckets, and starts afresh. At the end every bucket is
 * read back from all runs and combined alone, so memory holds one bucket's keys at a
 * time (a bucket larger than the budget still goes through, above the budget).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/hash.h>
#include <loom/trace.h>

#include "shuffle_impl.h"

LOOM_TRACE_TYPE (t_spill_recv, "comm", "shuffle.spill_recv", "spill", "round");

static int segs_reserve (loom_shuffle_t *sh)
{
    if (sh->nsegs < sh->segs_cap)
        return 0;
    size_t cap = sh->segs_cap ? sh->segs_cap * 2 : 64;
    struct loom__segment *s = realloc (sh->segs, cap * sizeof (*s));
    if (!s)
        return -1;
    sh->segs = s;
    sh->segs_cap = cap;
    return 0;
}

static inline unsigned bucket_of (uint64_t hash)
{
    /* Bits the partitioner (high bits) and the table index (low bits) barely use. */
    return (unsigned)(hash >> 24) & (LOOM__NBUCKETS - 1);
}

/* Write the receive table as one run of buckets, then empty it. */
static int spill_run (loom_shuffle_t *sh, loom_error_t *error)
{
    size_t need = (sh->nruns + 1) * LOOM__NBUCKETS;
    if (need > sh->runs_cap) {
        size_t cap = need * 2;
        uint64_t *o = realloc (sh->run_off, cap * sizeof (uint64_t));
        if (o)
            sh->run_off = o;
        uint64_t *l = realloc (sh->run_len, cap * sizeof (uint64_t));
        if (l)
            sh->run_len = l;
        if (!o || !l)
            return loom_errset (error, ENOMEM, "shuffle: out of memory");
        sh->runs_cap = cap;
    }
    struct loom__ctab *t = &sh->rtab;
    uint8_t *bk = malloc (t->count ? t->count : 1);
    struct loom__buf stage = {0};
    int rc = -1;
    if (!bk) {
        loom_errset (error, ENOMEM, "shuffle: out of memory");
        goto out;
    }
    uint64_t i = 0;
    for (uint64_t pos = 0; pos < t->arena.len; i++) {
        struct loom_record rec;
        pos += loom__decode (&sh->shape, t->arena.data + pos, t->arena.len - pos, &rec);
        bk[i] = (uint8_t)bucket_of (loom_hash64 (rec.key, rec.key_len, t->seed));
    }
    for (unsigned b = 0; b < LOOM__NBUCKETS; b++) {
        stage.len = 0;
        i = 0;
        for (uint64_t pos = 0; pos < t->arena.len; i++) {
            struct loom_record rec;
            size_t n = loom__decode (&sh->shape, t->arena.data + pos,
                                     t->arena.len - pos, &rec);
            if (bk[i] == b) {
                if (loom__buf_reserve (&stage, n) < 0) {
                    loom_errset (error, ENOMEM, "shuffle: out of memory");
                    goto out;
                }
                memcpy (stage.data + stage.len, t->arena.data + pos, n);
                stage.len += n;
            }
            pos += n;
        }
        size_t k = sh->nruns * LOOM__NBUCKETS + b;
        sh->run_len[k] = stage.len;
        sh->run_off[k] = 0;
        if (stage.len
            && loom__spill_append (&sh->recv_spill, stage.data, stage.len,
                                   &sh->run_off[k], error)
                   < 0)
            goto out;
        sh->st.spill_recv_bytes += stage.len;
    }
    sh->nruns++;
    loom_trace_instant (&t_spill_recv, t->arena.len, sh->round);
    loom__ctab_clear (t);
    rc = 0;
out:
    free (bk);
    loom__buf_free (&stage);
    return rc;
}

/* Merge encoded records into the receive table; spill it when 'may_spill' and it has
 * outgrown the store's budget.
 */
static int combine_data (loom_shuffle_t *sh,
                         const char *data,
                         uint64_t bytes,
                         bool may_spill,
                         loom_error_t *error)
{
    for (uint64_t pos = 0; pos < bytes;) {
        struct loom_record rec;
        size_t n = loom__decode (&sh->shape, data + pos, bytes - pos, &rec);
        if (n == 0)
            return loom_errset (error, EPROTO, "shuffle: corrupt received data");
        uint64_t h = loom_hash64 (rec.key, rec.key_len, sh->rtab.seed);
        if (loom__ctab_add (&sh->rtab, &sh->shape, &sh->comb, h, rec.key, rec.key_len,
                            rec.value)
            < 0)
            return loom_errset (error, ENOMEM, "shuffle: out of memory");
        pos += n;
    }
    if (may_spill && loom__ctab_bytes (&sh->rtab) > sh->store_cap)
        return spill_run (sh, error);
    return 0;
}

/* Add the records in 'b' (from 'src') to the store as one segment: taken without a
 * copy (the buffer gets a fresh one of the same capacity), or written to the receive
 * spill file when the budget is exhausted (the buffer is kept). 'counted': its bytes
 * are already in store_mem (received into memory reserved under the budget).
 * 'reused': the buffer served earlier rounds, so all of its capacity may be
 * resident (the accumulation buffers are fresh: only what was written is).
 */
static int store_buf (loom_shuffle_t *sh,
                      int src,
                      struct loom__buf *b,
                      bool counted,
                      bool reused,
                      loom_error_t *error)
{
    if (segs_reserve (sh) < 0)
        return loom_errset (error, ENOMEM, "shuffle: out of memory");
    struct loom__segment *s = &sh->segs[sh->nsegs];
    s->src = src;
    s->round = sh->round;
    s->seq = ++sh->seg_seq; /* 0 is a region's (loom__store_region) */
    s->bytes = b->len;
    s->nrec = b->nrec;
    s->off = 0;
    s->cap = 0;
    if (!counted && sh->store_mem + sh->queue_mem + b->len > sh->pool_cap) {
        /* Over budget: this segment goes to disk; the buffer stays for reuse. */
        if (loom__spill_append (&sh->recv_spill, b->data, b->len, &s->off, error) < 0)
            return -1;
        sh->st.spill_recv_bytes += b->len;
        loom_trace_instant (&t_spill_recv, b->len, sh->round);
        s->data = NULL;
    } else if (reused && b->len < b->cap / 4) {
        /* Mostly empty (a last round): copy the few bytes rather than hold the whole
         * resident buffer for them.
         */
        s->cap = loom__mem_round (b->len);
        s->data = loom__mem_alloc (s->cap);
        if (!s->data)
            return loom_errset (error, ENOMEM, "shuffle: out of memory");
        memcpy (s->data, b->data, b->len);
    } else {
        /* Take the buffer: no copy. Its replacement gets the same capacity at once,
         * so the next round does not regrow it by doubling (each step a copy); mapped
         * memory is not touched, so this costs nothing until it is used.
         */
        s->data = b->data;
        s->cap = b->cap;
        b->data = loom__mem_alloc (b->cap);
        if (!b->data)
            b->cap = 0;
    }
    if (s->data && !counted)
        sh->store_mem += b->len;
    b->len = 0;
    b->nrec = 0;
    sh->nsegs++;
    return 0;
}

int loom__store_segment (loom_shuffle_t *sh,
                         int src,
                         struct loom__buf *b,
                         loom_error_t *error)
{
    bool det = sh->p.flags & LOOM_SHUFFLE_DETERMINISTIC;
    if (sh->stream) {
        struct loom_batch batch = {src,    b->nrec,      b->data,
                                   b->len, sh->shape.kw, sh->shape.vw};
        errno = 0;
        int rc = sh->recv_fn (&batch, sh->recv_arg);
        b->len = 0;
        sh->st.records_delivered += batch.nrecords;
        if (rc < 0)
            return loom_errset (error, errno ? errno : EIO,
                                "shuffle: the receive callback failed");
        return 0;
    }
    if (sh->comb.kind != LOOM_COMBINE_NONE && !det) {
        int rc = combine_data (sh, b->data, b->len, true, error);
        b->len = 0;
        return rc;
    }
    /* A source's earlier data still accumulating goes first: segments of a source
     * are stored in order.
     */
    if (sh->direct && src != sh->rank && sh->acc[src].len
        && loom__store_acc (sh, src, error) < 0)
        return -1;
    return store_buf (sh, src, b, false, true, error);
}

int loom__store_region (loom_shuffle_t *sh,
                        int src,
                        char *data,
                        uint64_t cap,
                        uint64_t bytes,
                        uint64_t nrec,
                        loom_error_t *error)
{
    if (sh->stream) {
        struct loom_batch batch = {src, nrec, data, bytes, sh->shape.kw, sh->shape.vw};
        errno = 0;
        int rc = sh->recv_fn (&batch, sh->recv_arg);
        loom__mem_free (data, cap);
        sh->st.records_delivered += batch.nrecords;
        if (rc < 0)
            return loom_errset (error, errno ? errno : EIO,
                                "shuffle: the receive callback failed");
        return 0;
    }
    if (segs_reserve (sh) < 0) {
        loom__mem_free (data, cap);
        return loom_errset (error, ENOMEM, "shuffle: out of memory");
    }
    /* A region holds the first records its source sent this rank (the round path
     * only took over after it): sequence 0 puts it first in deterministic order.
     */
    struct loom__segment *s = &sh->segs[sh->nsegs++];
    s->src = src;
    s->round = sh->round;
    s->seq = 0;
    s->bytes = bytes;
    s->nrec = nrec;
    s->data = data;
    s->cap = cap;
    s->off = 0;
    sh->store_mem += bytes;
    return 0;
}

int loom__store_self (loom_shuffle_t *sh, loom_error_t *error)
{
    struct loom__buf *b = &sh->self;
    /* Records for this rank never went through a round: count them here as sent
     * and received.
     */
    sh->sent_to[sh->rank] += b->nrec;
    sh->recv_from[sh->rank] += b->nrec;
    sh->st.records_sent += b->nrec;
    sh->st.records_received += b->nrec;
    sh->st.bytes_sent += b->len;
    sh->st.bytes_received += b->len;
    return store_buf (sh, sh->rank, b, false, false, error);
}

int loom__store_acc (loom_shuffle_t *sh, int src, loom_error_t *error)
{
    return store_buf (sh, src, &sh->acc[src], true, false, error);
}

static int seg_cmp (const void *a, const void *b)
{
    const struct loom__segment *x = a, *y = b;
    if (x->src != y->src)
        return x->src < y->src ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Make segment 'i' readable: its data in memory (maybe in it_buf). */
static int
seg_load (loom_shuffle_t *sh, size_t i, const char **data, loom_error_t *error)
{
    struct loom__segment *s = &sh->segs[i];
    if (s->data) {
        *data = s->data;
        return 0;
    }
    if (s->bytes > sh->it_buf_cap) {
        char *nb = realloc (sh->it_buf, s->bytes);
        if (!nb)
            return loom_errset (error, ENOMEM, "shuffle: out of memory");
        sh->it_buf = nb;
        sh->it_buf_cap = s->bytes;
    }
    if (loom__spill_read (&sh->recv_spill, sh->it_buf, s->bytes, s->off, error) < 0)
        return -1;
    *data = sh->it_buf;
    return 0;
}

static void seg_drop (loom_shuffle_t *sh, size_t i)
{
    struct loom__segment *s = &sh->segs[i];
    if (s->data) {
        sh->store_mem -= s->bytes;
        loom__mem_free (s->data, s->cap);
        s->data = NULL;
    }
}

/* The next batch to deliver after the exchange. Returns 1, 0 at the end, -1. */
static int
next_batch (loom_shuffle_t *sh, struct loom_batch *batch, loom_error_t *error)
{
    batch->key_width = sh->shape.kw;
    batch->value_width = sh->shape.vw;
    if (sh->comb.kind != LOOM_COMBINE_NONE) {
        batch->source = -1;
        if (sh->nruns == 0) {
            if (sh->it_seg > 0 || sh->rtab.count == 0)
                return 0;
            sh->it_seg = 1;
            batch->data = sh->rtab.arena.data;
            batch->bytes = sh->rtab.arena.len;
            batch->nrecords = sh->rtab.count;
            return 1;
        }
        while (sh->it_seg < LOOM__NBUCKETS) {
            size_t b = sh->it_seg++;
            loom__ctab_clear (&sh->rtab);
            for (size_t r = 0; r < sh->nruns; r++) {
                size_t k = r * LOOM__NBUCKETS + b;
                uint64_t len = sh->run_len[k];
                if (!len)
                    continue;
                if (len > sh->it_buf_cap) {
                    char *nb = realloc (sh->it_buf, len);
                    if (!nb)
                        return loom_errset (error, ENOMEM, "shuffle: out of memory");
                    sh->it_buf = nb;
                    sh->it_buf_cap = len;
                }
                if (loom__spill_read (&sh->recv_spill, sh->it_buf, len, sh->run_off[k],
                                      error)
                    < 0)
                    return -1;
                if (combine_data (sh, sh->it_buf, len, false, error) < 0)
                    return -1;
            }
            if (sh->rtab.count) {
                batch->data = sh->rtab.arena.data;
                batch->bytes = sh->rtab.arena.len;
                batch->nrecords = sh->rtab.count;
                return 1;
            }
        }
        return 0;
    }
    /* Delivered segments stay until reset or destroy: freeing (munmap) costs about
     * as much as the page faults that brought them in, and their memory is within the
     * budget anyway.
     */
    if (sh->it_seg >= sh->nsegs)
        return 0;
    const char *data;
    if (seg_load (sh, sh->it_seg, &data, error) < 0)
        return -1;
    struct loom__segment *s = &sh->segs[sh->it_seg++];
    batch->source = s->src;
    batch->data = data;
    batch->bytes = s->bytes;
    batch->nrecords = s->nrec;
    return 1;
}

int loom__store_finish (loom_shuffle_t *sh, loom_error_t *error)
{
    if (sh->stream)
        return 0;
    if (sh->direct) {
        if (sh->self.len && loom__store_self (sh, error) < 0)
            return -1;
        for (int src = 0; src < sh->size; src++) {
            if (sh->acc[src].len && loom__store_acc (sh, src, error) < 0)
                return -1;
        }
    }
    bool det = sh->p.flags & LOOM_SHUFFLE_DETERMINISTIC;
    if (det && sh->nsegs > 1)
        qsort (sh->segs, sh->nsegs, sizeof (*sh->segs), seg_cmp);
    if (sh->comb.kind != LOOM_COMBINE_NONE) {
        if (det) {
            /* Combine in (source, round) order: first occurrences fix the order. */
            for (size_t i = 0; i < sh->nsegs; i++) {
                const char *data;
                if (seg_load (sh, i, &data, error) < 0)
                    return -1;
                if (combine_data (sh, data, sh->segs[i].bytes, true, error) < 0)
                    return -1;
                seg_drop (sh, i);
            }
            sh->nsegs = 0;
        }
        if (sh->nruns > 0 && sh->rtab.count > 0 && spill_run (sh, error) < 0)
            return -1;
    }
    sh->it_seg = 0;
    sh->it_data = NULL;
    sh->it_pos = sh->it_bytes = 0;
    if (!sh->recv_fn)
        return 0;
    /* A callback without streaming (combiner or deterministic order): deliver now. */
    for (;;) {
        struct loom_batch batch;
        int rc = next_batch (sh, &batch, error);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return 0;
        errno = 0;
        if (sh->recv_fn (&batch, sh->recv_arg) < 0)
            return loom_errset (error, errno ? errno : EIO,
                                "shuffle: the receive callback failed");
        sh->st.records_delivered += batch.nrecords;
    }
}

/* Why the iterator may not run: the error, off the per-record path. */
static int __attribute__ ((noinline))
iter_refuse (loom_shuffle_t *sh, const char *fn, loom_error_t *error)
{
    if (sh->recv_fn && sh->finished && !sh->failed)
        return loom_errset (error, EINVAL, "shuffle: %s with a receive callback set",
                            fn);
    return loom_errset (error, EINVAL,
                        "shuffle: %s before a successful loom_shuffle_finish", fn);
}

static inline bool iter_ok (const loom_shuffle_t *sh)
{
    return sh->finished && !sh->failed && !sh->recv_fn;
}

int loom_shuffle_next (loom_shuffle_t *sh, struct loom_record *rec, loom_error_t *error)
{
    if (!iter_ok (sh))
        return iter_refuse (sh, "loom_shuffle_next", error);
    for (;;) {
        if (sh->it_data && sh->it_pos < sh->it_bytes) {
            size_t fs = sh->shape.fixed_size;
            if (fs && sh->it_bytes - sh->it_pos >= fs) {
                /* Fixed widths: no header to decode. */
                const char *q = sh->it_data + sh->it_pos;
                rec->key = q;
                rec->key_len = sh->shape.kw;
                rec->value = q + sh->shape.kw;
                rec->value_len = sh->shape.vw;
                sh->it_pos += fs;
                sh->it_left--;
                sh->st.records_delivered++;
                return 1;
            }
            size_t n = loom__decode (&sh->shape, sh->it_data + sh->it_pos,
                                     sh->it_bytes - sh->it_pos, rec);
            if (n == 0)
                return loom_errset (error, EPROTO, "shuffle: corrupt received data");
            sh->it_pos += n;
            sh->it_left--;
            sh->st.records_delivered++;
            return 1;
        }
        struct loom_batch batch;
        int rc = next_batch (sh, &batch, error);
        if (rc <= 0) {
            sh->it_data = NULL;
            return rc;
        }
        sh->it_data = batch.data;
        sh->it_bytes = batch.bytes;
        sh->it_pos = 0;
        sh->it_left = batch.nrecords;
        sh->it_src = batch.source;
    }
}

int loom_shuffle_next_batch (loom_shuffle_t *sh,
                             struct loom_batch *batch,
                             loom_error_t *error)
{
    if (!iter_ok (sh))
        return iter_refuse (sh, "loom_shuffle_next_batch", error);
    if (!batch)
        return loom_errset (error, EINVAL, "shuffle: batch is NULL");
    if (sh->it_data && sh->it_pos < sh->it_bytes) {
        /* The rest of a batch loom_shuffle_next() started. */
        batch->source = sh->it_src;
        batch->data = sh->it_data + sh->it_pos;
        batch->bytes = sh->it_bytes - sh->it_pos;
        batch->nrecords = sh->it_left;
        batch->key_width = sh->shape.kw;
        batch->value_width = sh->shape.vw;
        sh->it_data = NULL;
        sh->st.records_delivered += batch->nrecords;
        return 1;
    }
    sh->it_data = NULL;
    for (;;) {
        int rc = next_batch (sh, batch, error);
        if (rc <= 0)
            return rc;
        if (batch->nrecords == 0)
            continue; /* "never empty" */
        sh->st.records_delivered += batch->nrecords;
        return 1;
    }
}

void loom__store_reset (loom_shuffle_t *sh)
{
    for (size_t i = 0; i < sh->nsegs; i++)
        loom__mem_free (sh->segs[i].data, sh->segs[i].cap);
    sh->nsegs = 0;
    sh->seg_seq = 0;
    sh->store_mem = 0;
    sh->nruns = 0;
    sh->self.len = sh->self.nrec = 0;
    for (int src = 0; sh->acc && sh->pending && src < sh->size; src++) {
        sh->acc[src].len = sh->acc[src].nrec = 0;
        sh->pending[src] = 0;
    }
    loom__ctab_clear (&sh->rtab);
    sh->it_seg = 0;
    sh->it_data = NULL;
    sh->it_pos = sh->it_bytes = 0;
}
