/* SPDX-License-Identifier: MIT */
/* The shuffle's lifecycle and send side: parameter checks, put (partition, combine,
 * append to the filling frame), finish, statistics, reset. The exchange itself is
 * round.c, the receive side store.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/hash.h>
#include <loom/trace.h>

#include "hash_inline.h"
#include "shuffle_impl.h"

LOOM_TRACE_TYPE (t_exchange, "comm", "shuffle.exchange", "bytes", "records", "spill");

#define MIN_MEM     (64u << 10)
#define MAX_CHUNK   ((uint64_t)INT32_MAX)
#define POLL_EVERY  (256u << 10) /* bytes put between two progress polls */
#define KEY_LEN_MAX UINT32_MAX

static int check_params (loom_comm_t *comm,
                         const struct loom_shuffle_params *p,
                         loom_error_t *error)
{
    if (p->key_width == 0 && p->value_width == 0)
        return loom_errset (error, EINVAL,
                            "shuffle: params.key_width and params.value_width are both "
                            "0 (records of zero bytes)");
    if ((p->key_width != LOOM_VARLEN && p->key_width > KEY_LEN_MAX)
        || (p->value_width != LOOM_VARLEN && p->value_width > KEY_LEN_MAX))
        return loom_errset (error, EINVAL,
                            "shuffle: params.key_width or value_width "
                            "is larger than 4 GiB");
    switch (p->partition) {
    case LOOM_PARTITION_HASH:
        break;
    case LOOM_PARTITION_RANGE:
        if (!p->splitters)
            return loom_errset (error, EINVAL,
                                "shuffle: params.partition is RANGE but "
                                "params.splitters is NULL");
        if (loom_splitters_count (p->splitters) != (size_t)loom_comm_size (comm) - 1)
            return loom_errset (error, EINVAL,
                                "shuffle: params.splitters has %zu keys, need %d (one "
                                "fewer than the ranks)",
                                loom_splitters_count (p->splitters),
                                loom_comm_size (comm) - 1);
        break;
    case LOOM_PARTITION_CALLBACK:
        if (!p->partition_fn)
            return loom_errset (error, EINVAL,
                                "shuffle: params.partition is CALLBACK but "
                                "params.partition_fn is NULL");
        break;
    default:
        return loom_errset (error, EINVAL, "shuffle: params.partition %d is unknown",
                            (int)p->partition);
    }
    if (loom__combine_check (p, error) < 0)
        return -1;
    if (p->mem_bytes < MIN_MEM)
        return loom_errset (error, EINVAL,
                            "shuffle: params.mem_bytes %llu is below the minimum of "
                            "64 KiB",
                            (unsigned long long)p->mem_bytes);
    if (p->batch_bytes > p->mem_bytes / 4)
        return loom_errset (error, EINVAL,
                            "shuffle: params.batch_bytes %llu exceeds a quarter of "
                            "params.mem_bytes",
                            (unsigned long long)p->batch_bytes);
    if (p->chunk_bytes > MAX_CHUNK)
        return loom_errset (error, EINVAL,
                            "shuffle: params.chunk_bytes %llu exceeds 2 GiB - 1 (MPI "
                            "counts are int)",
                            (unsigned long long)p->chunk_bytes);
    if (!(p->timeout_sec >= 0))
        return loom_errset (error, EINVAL, "shuffle: params.timeout_sec must be >= 0");
    unsigned known =
        LOOM_SHUFFLE_DETERMINISTIC | LOOM_SHUFFLE_NO_SELF_SHORTCUT | LOOM_SHUFFLE_FLAT;
    if (p->flags & ~known)
        return loom_errset (error, EINVAL,
                            "shuffle: params.flags has unknown bits 0x%x",
                            p->flags & ~known);
    return 0;
}

static void frame_free (struct loom__frame *f, int n)
{
    for (int d = 0; d < n; d++) {
        if (f->dest)
            loom__buf_free (&f->dest[d]);
        if (f->tab)
            loom__ctab_free (&f->tab[d]);
    }
    free (f->dest);
    free (f->tab);
    f->dest = NULL;
    f->tab = NULL;
}

static int frame_init (loom_shuffle_t *sh, struct loom__frame *f)
{
    f->dest = calloc ((size_t)sh->size, sizeof (*f->dest));
    if (!f->dest)
        return -1;
    if (sh->comb.kind != LOOM_COMBINE_NONE) {
        f->tab = calloc ((size_t)sh->size, sizeof (*f->tab));
        if (!f->tab)
            return -1;
        for (int d = 0; d < sh->size; d++)
            f->tab[d].seed = sh->p.hash_seed;
    }
    f->bytes = 0;
    return 0;
}

static void queue_free (loom_shuffle_t *sh)
{
    while (sh->qhead) {
        struct loom__queued *q = sh->qhead;
        sh->qhead = q->next;
        if (q->bufs) {
            for (int d = 0; d < sh->size; d++)
                loom__buf_free (&q->bufs[d]);
            free (q->bufs);
        }
        free (q->len);
        free (q->nrec);
        free (q);
    }
    sh->qtail = NULL;
}

void loom_shuffle_destroy (loom_shuffle_t *sh)
{
    if (!sh)
        return;
    int saved = errno;
    frame_free (&sh->fill, sh->size);
    frame_free (&sh->flight, sh->size);
    queue_free (sh);
    loom__store_reset (sh);
    loom__spill_close (&sh->send_spill);
    loom__spill_close (&sh->recv_spill);
    if (sh->rbuf) {
        for (int r = 0; r < sh->size; r++)
            loom__buf_free (&sh->rbuf[r]);
    }
    loom__ctab_free (&sh->rtab);
    free (sh->rbuf);
    free (sh->cnt_send);
    free (sh->cnt_recv);
    free (sh->reqs);
    free (sh->sent_to);
    free (sh->recv_from);
    free (sh->segs);
    free (sh->run_off);
    free (sh->run_len);
    free (sh->it_buf);
    loom__buf_free (&sh->self);
    if (sh->acc) {
        for (int r = 0; r < sh->size; r++)
            loom__buf_free (&sh->acc[r]);
    }
    free (sh->acc);
    free (sh->pending);
    free (sh->put_to);
    free (sh->put_lim);
    loom__local_free (sh);
    /* After a timeout requests may still reference the communicator; freeing it is
     * still allowed (MPI frees it once they complete), so always free.
     */
    if (sh->mpi != MPI_COMM_NULL)
        MPI_Comm_free (&sh->mpi);
    free (sh);
    errno = saved;
}

static const char *default_tmpdir (void)
{
    const char *d = getenv ("LOOM_TMPDIR");
    if (!d || !*d)
        d = getenv ("TMPDIR");
    if (!d || !*d)
        d = "/tmp";
    return d;
}

loom_shuffle_t *loom_shuffle_create (loom_comm_t *comm,
                                     const struct loom_shuffle_params *params,
                                     loom_error_t *error)
{
    if (!comm || !params) {
        loom_errset (error, EINVAL, "shuffle: comm or params is NULL");
        return NULL;
    }
    if (check_params (comm, params, error) < 0)
        return NULL;
    loom_shuffle_t *sh = calloc (1, sizeof (*sh));
    if (!sh) {
        loom_errset (error, ENOMEM, "shuffle: out of memory");
        return NULL;
    }
    sh->mpi = MPI_COMM_NULL;
    sh->comm = comm;
    sh->id = comm->shuffles++;
    sh->p = *params;
    sh->rank = comm->rank;
    sh->size = comm->size;
    loom__shape_init (&sh->shape, params->key_width, params->value_width);
    sh->comb.kind = params->combine;
    sh->comb.fn = params->combine_fn;
    sh->comb.arg = params->combine_arg;
    sh->comb.vw = params->value_width;
    snprintf (sh->tmpdir, sizeof (sh->tmpdir), "%s",
              params->tmpdir ? params->tmpdir : default_tmpdir ());
    sh->timeout = loom__timeout (comm, params->timeout_sec);
    if (!sh->p.chunk_bytes)
        sh->p.chunk_bytes = 1u << 30;
    /* Budget: two send frames, one round of receives (about a frame, since each
     * sender sends a receiver at most frame/nranks per round), and the store.
     */
    sh->frame_cap = params->batch_bytes ? params->batch_bytes : params->mem_bytes / 8;
    sh->dest_cap = sh->frame_cap / (uint64_t)sh->size;
    if (sh->dest_cap < 4096)
        sh->dest_cap = sh->frame_cap < 4096 ? sh->frame_cap : 4096;
    sh->store_cap = sh->pool_cap = params->mem_bytes - 3 * sh->frame_cap;
    sh->max_record = params->mem_bytes / 4;
    sh->stream = false;
    if (frame_init (sh, &sh->fill) < 0 || frame_init (sh, &sh->flight) < 0)
        goto nomem;
    size_t n = (size_t)sh->size;
    sh->sent_to = calloc (n, sizeof (uint64_t));
    sh->recv_from = calloc (n, sizeof (uint64_t));
    sh->cnt_send = calloc (LOOM__CNT * n, sizeof (uint64_t));
    sh->cnt_recv = calloc (LOOM__CNT * n, sizeof (uint64_t));
    sh->rbuf = calloc (n, sizeof (*sh->rbuf));
    sh->acc = calloc (n, sizeof (*sh->acc));
    sh->pending = calloc (n, sizeof (uint64_t));
    sh->put_to = calloc (n, sizeof (*sh->put_to));
    sh->put_lim = calloc (n, sizeof (uint64_t));
    sh->reqs_cap = 4;
    sh->reqs = malloc (sizeof (MPI_Request) * (size_t)sh->reqs_cap);
    if (!sh->reqs || !sh->sent_to || !sh->recv_from || !sh->cnt_send || !sh->cnt_recv
        || !sh->rbuf || !sh->acc || !sh->pending || !sh->put_to || !sh->put_lim)
        goto nomem;
    /* Direct store unless records are combined or go through MPI to this rank too
     * (a receive callback turns it off again: set_recv). Accumulation buffers: a
     * power of two, together at most half of the store's budget, at most 64 MiB.
     */
    sh->direct = sh->comb.kind == LOOM_COMBINE_NONE
                 && !(params->flags & LOOM_SHUFFLE_NO_SELF_SHORTCUT);
    sh->local_off = loom__local_setup (sh);
    sh->acc_cap = 16u << 10;
    while (sh->acc_cap < (64u << 20)
           && sh->acc_cap * 2 * 2 * (uint64_t)sh->size <= sh->pool_cap)
        sh->acc_cap *= 2;
    loom__put_targets (sh);
    sh->rtab.seed = params->hash_seed;
    loom__spill_init (&sh->send_spill, sh->tmpdir, &sh->st.spill_bytes_written,
                      &sh->st.spill_bytes_read);
    loom__spill_init (&sh->recv_spill, sh->tmpdir, &sh->st.spill_bytes_written,
                      &sh->st.spill_bytes_read);
    int rc = MPI_Comm_dup (comm->mpi, &sh->mpi);
    if (rc != MPI_SUCCESS) {
        loom__mpi_error (rc, "shuffle: MPI_Comm_dup", error);
        goto error;
    }
    if (loom__local_open (sh, error) < 0)
        goto error;
    return sh;
nomem:
    loom_errset (error, ENOMEM, "shuffle: out of memory");
error:
    loom_shuffle_destroy (sh);
    return NULL;
}

int loom_shuffle_set_recv (loom_shuffle_t *sh, loom_recv_f fn, void *arg)
{
    if (sh->st.records_put > 0 || sh->finishing) {
        errno = EINVAL;
        return -1;
    }
    sh->recv_fn = fn;
    sh->recv_arg = arg;
    sh->stream = fn && sh->comb.kind == LOOM_COMBINE_NONE
                 && !(sh->p.flags & LOOM_SHUFFLE_DETERMINISTIC);
    sh->direct = !sh->stream && sh->comb.kind == LOOM_COMBINE_NONE
                 && !(sh->p.flags & LOOM_SHUFFLE_NO_SELF_SHORTCUT);
    loom__put_targets (sh);
    return 0;
}

static inline struct loom__buf *
frame_buf (loom_shuffle_t *sh, struct loom__frame *f, int d)
{
    return f->tab ? &f->tab[d].arena : &f->dest[d];
}

void loom__put_targets (loom_shuffle_t *sh)
{
    for (int d = 0; d < sh->size; d++) {
        sh->put_to[d] = frame_buf (sh, &sh->fill, d);
        sh->put_lim[d] = sh->dest_cap;
    }
    if (sh->direct) {
        sh->put_to[sh->rank] = &sh->self;
        sh->put_lim[sh->rank] = UINT64_MAX;
    }
    for (int d = 0; sh->lp && d < sh->size; d++) {
        if (sh->lp[d].staged) {
            sh->put_to[d] = &sh->lp[d].stage;
            sh->put_lim[d] = sh->stage_cap;
        }
    }
}

/* Append one record for 'dest' to the filling frame; 'hash' is the record's key hash
 * with params.hash_seed when a combiner needs it.
 */
static int put_record (loom_shuffle_t *sh,
                       int dest,
                       uint64_t hash,
                       const void *key,
                       size_t klen,
                       const void *val,
                       size_t vlen,
                       loom_error_t *error)
{
    uint64_t need = loom__enc_size (&sh->shape, klen, vlen);
    if (need > sh->max_record)
        return loom_errset (error, E2BIG,
                            "shuffle: a record of %llu bytes exceeds a quarter of "
                            "params.mem_bytes (%llu)",
                            (unsigned long long)need,
                            (unsigned long long)sh->p.mem_bytes);
    struct loom__frame *f = &sh->fill;
    bool self = sh->direct && dest == sh->rank;
    /* Records for a rank of this node may be staged for the direct path (local.c). */
    bool staged = sh->lp && sh->lp[dest].staged;
    struct loom__buf *b = sh->put_to[dest];
    if (f->bytes > 0
        && (f->bytes + need > sh->frame_cap
            || (!self && !staged && b->len + need > sh->dest_cap))) {
        if (loom__frame_ready (sh, error) < 0)
            return -1;
        staged = sh->lp && sh->lp[dest].staged;
        b = sh->put_to[dest];
    }
    if (staged && b->len && b->len + need > sh->stage_cap) {
        if (loom__local_flush (sh, dest, error) < 0)
            return -1;
        b = sh->put_to[dest];
    }
    if (self && b->len + need > b->cap) {
        /* This rank's records skip the rounds: a full buffer goes to the store. */
        if (b->len && loom__store_self (sh, error) < 0)
            return -1;
        if (loom__buf_reserve (b, need > sh->acc_cap ? need : sh->acc_cap) < 0)
            return loom_errset (error, ENOMEM, "shuffle: out of memory");
    }
    uint64_t before = b->len;
    if (f->tab) {
        if (loom__ctab_add (&f->tab[dest], &sh->shape, &sh->comb, hash, key, klen, val)
            < 0)
            return loom_errset (error, ENOMEM, "shuffle: out of memory");
    } else {
        if (loom__buf_reserve (b, need) < 0)
            return loom_errset (error, ENOMEM, "shuffle: out of memory");
        b->len += loom__encode (&sh->shape, b->data + b->len, key, klen, val, vlen);
        b->nrec++;
    }
    f->bytes += b->len - before;
    sh->st.records_put++;
    sh->since_poll += need;
    if (sh->since_poll >= POLL_EVERY) {
        sh->since_poll = 0;
        if (sh->state != ROUND_IDLE && loom__round_progress (sh, false, error) < 0)
            return -1;
    }
    return 0;
}

static int check_put (loom_shuffle_t *sh,
                      const void *key,
                      size_t klen,
                      const void *val,
                      size_t vlen,
                      loom_error_t *error)
{
    if (sh->finishing || sh->failed)
        return loom_errset (error, EINVAL,
                            sh->failed ? "shuffle: put after a failed call"
                                       : "shuffle: put after loom_shuffle_finish()");
    if (!sh->shape.kvar && klen != sh->shape.kw)
        return loom_errset (error, EINVAL,
                            "shuffle: key of %zu bytes, params.key_width is %zu", klen,
                            sh->shape.kw);
    if (!sh->shape.vvar && vlen != sh->shape.vw)
        return loom_errset (error, EINVAL,
                            "shuffle: value of %zu bytes, params.value_width is %zu",
                            vlen, sh->shape.vw);
    if ((sh->shape.kvar && klen > KEY_LEN_MAX)
        || (sh->shape.vvar && vlen > KEY_LEN_MAX))
        return loom_errset (error, E2BIG,
                            "shuffle: key or value longer than 4 GiB - 1 bytes");
    if ((!key && klen) || (!val && vlen))
        return loom_errset (error, EINVAL, "shuffle: NULL key or value with a length");
    return 0;
}

static int put_routed (loom_shuffle_t *sh,
                       const void *key,
                       size_t klen,
                       const void *val,
                       size_t vlen,
                       loom_error_t *error)
{
    uint64_t hash = 0;
    int dest;
    if (sh->p.partition == LOOM_PARTITION_HASH) {
        hash = loom__hash64_inline (key, klen, sh->p.hash_seed);
        dest = (int)loom_hash_to_partition (hash, (uint32_t)sh->size);
    } else {
        dest = loom__partition (sh, key, klen, val, vlen, error);
        if (dest < 0)
            return -1;
        if (sh->fill.tab)
            hash = loom_hash64 (key, klen, sh->p.hash_seed);
    }
    return put_record (sh, dest, hash, key, klen, val, vlen, error);
}

static int fail (loom_shuffle_t *sh)
{
    /* A failed put leaves the rounds in an unknown state for the peers: later puts
     * and finish refuse rather than hang. A refused record (EINVAL, E2BIG) leaves
     * nothing half done and does not count.
     */
    if (errno != EINVAL && errno != E2BIG)
        sh->failed = true;
    return -1;
}

int loom_shuffle_put (loom_shuffle_t *sh,
                      const void *key,
                      size_t key_len,
                      const void *value,
                      size_t value_len,
                      loom_error_t *error)
{
    if (check_put (sh, key, key_len, value, value_len, error) < 0)
        return -1;
    if (put_routed (sh, key, key_len, value, value_len, error) < 0)
        return fail (sh);
    return 0;
}

int loom_shuffle_put_to (loom_shuffle_t *sh,
                         int dest,
                         const void *key,
                         size_t key_len,
                         const void *value,
                         size_t value_len,
                         loom_error_t *error)
{
    if (check_put (sh, key, key_len, value, value_len, error) < 0)
        return -1;
    if (dest < 0 || dest >= sh->size)
        return loom_errset (error, EINVAL,
                            "shuffle: destination rank %d not in [0, %d)", dest,
                            sh->size);
    uint64_t hash = sh->fill.tab ? loom_hash64 (key, key_len, sh->p.hash_seed) : 0;
    if (put_record (sh, dest, hash, key, key_len, value, value_len, error) < 0)
        return fail (sh);
    return 0;
}

int loom_shuffle_put_batch (loom_shuffle_t *sh,
                            const struct loom_record *recs,
                            size_t n,
                            loom_error_t *error)
{
    if (n > 0 && !recs)
        return loom_errset (error, EINVAL, "shuffle: records is NULL");
    for (size_t i = 0; i < n; i++) {
        const struct loom_record *r = &recs[i];
        if (check_put (sh, r->key, r->key_len, r->value, r->value_len, error) < 0)
            return -1;
        if (put_routed (sh, r->key, r->key_len, r->value, r->value_len, error) < 0)
            return fail (sh);
    }
    return 0;
}

/* Records per block of the fixed-width hash path: hashed in one pass, copied in a
 * second, so the hashes of independent records overlap in the pipeline.
 */
#define FIXED_BLOCK 256

/* Copy one fixed-width record: the common small widths with a constant size, which
 * the compiler turns into a few moves instead of a call; records of 33 to 128 bytes
 * as two overlapping copies of a constant size (the 100-byte records of the uniform
 * shuffle: eight 16-byte moves instead of a call of memcpy per record).
 */
static inline void copy_record (char *dst, const char *src, size_t rs)
{
    switch (rs) {
    case 8:
        memcpy (dst, src, 8);
        return;
    case 12:
        memcpy (dst, src, 12);
        return;
    case 16:
        memcpy (dst, src, 16);
        return;
    case 24:
        memcpy (dst, src, 24);
        return;
    case 32:
        memcpy (dst, src, 32);
        return;
    }
    if (rs > 32 && rs <= 64) {
        memcpy (dst, src, 32);
        memcpy (dst + rs - 32, src + rs - 32, 32);
    } else if (rs > 64 && rs <= 128) {
        memcpy (dst, src, 64);
        memcpy (dst + rs - 64, src + rs - 64, 64);
    } else {
        memcpy (dst, src, rs);
    }
}

/* Partitions of the 'm' records at 'p' (record size 'rs', keys of 'kw' bytes). Short
 * keys use the inlined xxh64 with a constant length for the common widths, so each
 * case is straight-line code whose hashes overlap across records.
 */
#define HASH_BLOCK(KW)                                                                 \
    for (size_t j = 0; j < m; j++)                                                     \
    dest[j] = loom_hash_to_partition (                                                 \
        loom__xxh64_short ((const unsigned char *)p + j * rs, (KW), seed), nr)

static void hash_block (const char *p,
                        size_t m,
                        size_t rs,
                        size_t kw,
                        uint64_t seed,
                        uint32_t nr,
                        uint32_t *dest)
{
    switch (kw) {
    case 4:
        HASH_BLOCK (4);
        return;
    case 8:
        HASH_BLOCK (8);
        return;
    case 10:
        HASH_BLOCK (10);
        return;
    case 12:
        HASH_BLOCK (12);
        return;
    case 16:
        HASH_BLOCK (16);
        return;
    }
    if (kw < 32) {
        HASH_BLOCK (kw);
        return;
    }
    for (size_t j = 0; j < m; j++)
        dest[j] =
            loom_hash_to_partition (loom__hash64_inline (p + j * rs, kw, seed), nr);
}

/* The hot loop of Pregel, the join and the uniform shuffle: hash partitioning of
 * packed fixed-width records straight into the destinations' buffers of the filling
 * frame (each record is copied once here; records for this rank then reach the
 * receive side without another copy). Everything but the copy is on the rare path
 * through put_record().
 */
static int
put_fixed_hashed (loom_shuffle_t *sh, const char *p, size_t n, loom_error_t *error)
{
    const size_t kw = sh->shape.kw, rs = sh->shape.fixed_size;
    const uint64_t seed = sh->p.hash_seed;
    const uint32_t nr = (uint32_t)sh->size;
    uint32_t dest[FIXED_BLOCK];
    while (n > 0) {
        size_t m = n < FIXED_BLOCK ? n : FIXED_BLOCK;
        hash_block (p, m, rs, kw, seed, nr, dest);
        for (size_t j = 0; j < m; j++, p += rs) {
            struct loom__buf *b = sh->put_to[dest[j]];
            uint64_t end = b->len + rs;
            if (end <= b->cap && end <= sh->put_lim[dest[j]]
                && sh->fill.bytes + rs <= sh->frame_cap
                && sh->since_poll + rs < POLL_EVERY) {
                copy_record (b->data + b->len, p, rs);
                b->len = end;
                b->nrec++;
                sh->fill.bytes += rs;
                sh->since_poll += rs;
                sh->st.records_put++;
                continue;
            }
            if (put_record (sh, (int)dest[j], 0, p, kw, p + kw, rs - kw, error) < 0)
                return -1;
        }
        n -= m;
    }
    return 0;
}

int loom_shuffle_put_fixed (loom_shuffle_t *sh,
                            const void *data,
                            size_t n,
                            loom_error_t *error)
{
    if (!sh->shape.fixed_size)
        return loom_errset (error, EINVAL,
                            "shuffle: loom_shuffle_put_fixed needs fixed "
                            "params.key_width and params.value_width");
    if (sh->finishing || sh->failed)
        return loom_errset (error, EINVAL,
                            "shuffle: put after finish or a failed call");
    if (n > 0 && !data)
        return loom_errset (error, EINVAL, "shuffle: data is NULL");
    const char *p = data;
    size_t kw = sh->shape.kw, rs = sh->shape.fixed_size;
    if (sh->p.partition == LOOM_PARTITION_HASH && !sh->fill.tab) {
        if (put_fixed_hashed (sh, p, n, error) < 0)
            return fail (sh);
        return 0;
    }
    for (size_t i = 0; i < n; i++, p += rs) {
        if (put_routed (sh, p, kw, p + kw, rs - kw, error) < 0)
            return fail (sh);
    }
    return 0;
}

int loom_shuffle_finish (loom_shuffle_t *sh, loom_error_t *error)
{
    if (sh->failed)
        return loom_errset (error, EINVAL, "shuffle: finish after a failed call");
    if (sh->finishing)
        return loom_errset (error, EINVAL, "shuffle: loom_shuffle_finish called twice");
    sh->finishing = true;
    loom_trace_span_t span = loom_trace_begin (&t_exchange);
    int rc = loom__local_wait (sh, error);
    while (!sh->finished && rc == 0)
        rc = loom__round_progress (sh, true, error);
    if (rc == 0)
        rc = loom__store_finish (sh, error);
    if (rc < 0)
        sh->failed = true;
    loom_trace_end (span, sh->st.bytes_sent, sh->st.records_sent,
                    sh->st.spill_bytes_written);
    return rc;
}

void loom_shuffle_stats (const loom_shuffle_t *sh, struct loom_shuffle_stats *st)
{
    *st = sh->st;
}

int loom_shuffle_counts (const loom_shuffle_t *sh,
                         uint64_t *sent_to,
                         uint64_t *recv_from)
{
    if (!sh->finished) {
        errno = EINVAL;
        return -1;
    }
    size_t n = (size_t)sh->size * sizeof (uint64_t);
    if (sent_to)
        memcpy (sent_to, sh->sent_to, n);
    if (recv_from)
        memcpy (recv_from, sh->recv_from, n);
    return 0;
}

int loom_shuffle_reset (loom_shuffle_t *sh, loom_error_t *error)
{
    if (sh->state != ROUND_IDLE || sh->qhead) {
        /* Mid-exchange: the peers expect our part of the rounds. */
        return loom_errset (error, EINVAL,
                            "shuffle: reset while an exchange is in progress");
    }
    for (int d = 0; d < sh->size; d++) {
        frame_buf (sh, &sh->fill, d)->len = 0;
        frame_buf (sh, &sh->fill, d)->nrec = 0;
        if (sh->fill.tab)
            loom__ctab_clear (&sh->fill.tab[d]);
    }
    sh->fill.bytes = 0;
    loom__local_close (sh);
    loom__store_reset (sh);
    int rc = 0;
    if (loom__spill_reset (&sh->send_spill, error) < 0
        || loom__spill_reset (&sh->recv_spill, error) < 0)
        rc = -1;
    memset (sh->sent_to, 0, sizeof (uint64_t) * (size_t)sh->size);
    memset (sh->recv_from, 0, sizeof (uint64_t) * (size_t)sh->size);
    memset (&sh->st, 0, sizeof (sh->st));
    sh->finishing = sh->finished = sh->failed = false;
    sh->sent_last = sh->all_last = false;
    sh->round = 0;
    sh->since_poll = 0;
    sh->local_err = 0;
    if (loom__local_open (sh, error) < 0)
        rc = -1;
    return rc;
}
