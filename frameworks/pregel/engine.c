/* SPDX-License-Identifier: MIT */
/* Jobs: creating them and running the BSP superstep loop.
 *
 * One superstep:
 *   1. master hook (every rank, same inputs);
 *   2. compute() for every active vertex; messages fold into the outbox slots;
 *   3. exchange: ghost slots go to their owners, who fold them into local slots;
 *      the local slots become the next inbox (buffers are swapped, not copied);
 *   4. reduce counters and aggregators; stop when nothing is active or pending;
 *   5. checkpoint every K supersteps.
 */
#include <errno.h>
#include <float.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <loom/capture.h>
#include <loom/clock.h>
#include <loom/error.h>
#include <loom/trace.h>

#include "internal.h"

/* Pregel's user of the huge-page allocator (internal.h): arrays from 2 MiB up. */
struct loom_hugemem pregel_mem =
    LOOM_HUGEMEM_INIT ("LOOM_PREGEL_HUGEPAGES", LOOM_HUGEMEM_PAGE);

static enum pregel_fast fast_kind (const struct loom_pregel_program *p)
{
    if (p->combiner == LOOM_PREGEL_NONE)
        return FAST_NONE;
    if (p->combiner == LOOM_PREGEL_USER)
        return FAST_USER;
    static const enum pregel_fast table[3][3] = {
        {FAST_SUM_F64, FAST_SUM_I64, FAST_SUM_U64},
        {FAST_MIN_F64, FAST_MIN_I64, FAST_MIN_U64},
        {FAST_MAX_F64, FAST_MAX_I64, FAST_MAX_U64},
    };
    return table[p->combiner - LOOM_PREGEL_SUM][p->message_type - LOOM_PREGEL_F64];
}

static int check_program (const struct loom_pregel_program *p, loom_error_t *error)
{
    if (!p)
        return loom_errset (error, EINVAL, "no program");
    if (!p->compute)
        return loom_errset (error, EINVAL, "program has no compute function");
    if (p->value_size < 1 || p->value_size > 4096)
        return loom_errset (error, EINVAL, "value_size %zu is not in 1..4096",
                            p->value_size);
    if (p->message_size < 1 || p->message_size > 4096)
        return loom_errset (error, EINVAL, "message_size %zu is not in 1..4096",
                            p->message_size);
    if (p->value_type < LOOM_PREGEL_BYTES || p->value_type > LOOM_PREGEL_U64
        || p->message_type < LOOM_PREGEL_BYTES || p->message_type > LOOM_PREGEL_U64)
        return loom_errset (error, EINVAL, "unknown value or message type");
    if (p->value_type != LOOM_PREGEL_BYTES && p->value_size != 8)
        return loom_errset (error, EINVAL, "numeric value types have value_size 8");
    if (p->message_type != LOOM_PREGEL_BYTES && p->message_size != 8)
        return loom_errset (error, EINVAL, "numeric message types have message_size 8");
    switch (p->combiner) {
    case LOOM_PREGEL_NONE:
        break;
    case LOOM_PREGEL_SUM:
    case LOOM_PREGEL_MIN:
    case LOOM_PREGEL_MAX:
        if (p->message_type == LOOM_PREGEL_BYTES)
            return loom_errset (error, EINVAL,
                                "built-in combiners need a numeric message_type");
        break;
    case LOOM_PREGEL_USER:
        if (!p->combine)
            return loom_errset (error, EINVAL,
                                "user combiner without a combine function");
        break;
    default:
        return loom_errset (error, EINVAL, "unknown combiner %d", (int)p->combiner);
    }
    return 0;
}

loom_pregel_t *loom_pregel_create (loom_pregel_graph_t *g,
                                   const struct loom_pregel_program *prog,
                                   const struct loom_pregel_params *params,
                                   loom_error_t *error)
{
    if (!g) {
        loom_errset (error, EINVAL, "no graph");
        return NULL;
    }
    if (check_program (prog, error) < 0)
        return NULL;
    struct loom_pregel_params pp = LOOM_PREGEL_PARAMS_INIT;
    if (params)
        pp = *params;
    if ((pp.checkpoint_every > 0 || pp.resume) && (!pp.checkpoint || !*pp.checkpoint)) {
        loom_errset (error, EINVAL,
                     "checkpoint_every or resume need a checkpoint path");
        return NULL;
    }
    struct loom_pregel *job = calloc (1, sizeof (*job));
    if (!job)
        goto nomem;
    job->g = g;
    job->prog = *prog;
    job->params = pp;
    job->vs = prog->value_size;
    job->ms = prog->message_size;
    job->fast = fast_kind (prog);
    if (pp.checkpoint && !(job->checkpoint = strdup (pp.checkpoint)))
        goto nomem;
    job->params.checkpoint = job->checkpoint;
    size_t n = g->n, slots = g->n + g->ng;
    job->values = pregel_big_alloc (n + 1, job->vs, &job->values_cap);
    job->halted = calloc (n + 1, 1);
    job->cap_value = calloc (1, job->vs);
    if (!job->values || !job->halted || !job->cap_value)
        goto nomem;
    if (job->fast != FAST_NONE) {
        job->out = pregel_big_alloc (slots + 1, job->ms, &job->msgs_cap);
        job->in = pregel_big_alloc (slots + 1, job->ms, &job->msgs_cap);
        job->out_has = calloc (slots + 1, 1);
        job->in_has = calloc (slots + 1, 1);
        job->identity = calloc (1, job->ms);
        if (!job->out || !job->in || !job->out_has || !job->in_has || !job->identity)
            goto nomem;
        if (job->fast != FAST_USER) {
            struct pregel_aggregator a = {
                .op = prog->combiner, .type = prog->message_type, .size = 8};
            pregel_agg_identity (&a, job->identity);
        }
    } else {
        job->in_off = calloc (n + 1, sizeof (uint64_t));
        if (!job->in_off)
            goto nomem;
    }
    job->ctx.job = job;
    job->vtx.job = job;
    return job;
nomem:
    loom_pregel_destroy (job);
    loom_errset (error, ENOMEM, "out of memory creating the job");
    return NULL;
}

void loom_pregel_destroy (loom_pregel_t *job)
{
    if (!job)
        return;
    int saved = errno;
    loom_shuffle_destroy (job->sh_edge);
    loom_shuffle_destroy (job->sh_far);
    loom_exchange_destroy (job->bx);
    free (job->checkpoint);
    pregel_big_free (job->values, job->values_cap);
    free (job->halted);
    free (job->cap_value);
    pregel_big_free (job->out, job->msgs_cap);
    pregel_big_free (job->in, job->msgs_cap);
    free (job->out_has);
    free (job->in_has);
    free (job->identity);
    pregel_big_free (job->bcast, job->bcast_cap);
    free (job->bflag);
    free (job->list_slot);
    free (job->list_msg);
    free (job->in_off);
    free (job->in_list);
    free (job->far_id);
    free (job->far_msg);
    for (size_t i = 0; i < job->naggs; i++) {
        free (job->aggs[i].partial);
        free (job->aggs[i].value);
    }
    free (job->aggs);
    free (job);
    errno = saved;
}

void *loom_pregel_values (loom_pregel_t *job)
{
    return job->values;
}

void loom_pregel_stats (const loom_pregel_t *job, struct loom_pregel_stats *stats)
{
    *stats = job->stats;
}

void pregel_clear_out (struct loom_pregel *job)
{
    size_t slots = job->g->n + job->g->ng;
    memset (job->out_has, 0, slots);
    if (job->fast == FAST_USER)
        return; /* a slot is copied on its first message */
    uint64_t id;
    memcpy (&id, job->identity, 8);
    uint64_t *p = (uint64_t *)job->out;
    for (size_t i = 0; i < slots; i++)
        p[i] = id;
}

/* Start from scratch: values from init(), everybody active, no messages. */
static void start_fresh (struct loom_pregel *job)
{
    job->superstep = 0;
    job->active_prev = job->g->nv_global;
    job->pending_prev = 0;
    memset (job->halted, 0, job->g->n);
    if (job->fast != FAST_NONE)
        memset (job->in_has, 0, job->g->n);
    else
        memset (job->in_off, 0, (job->g->n + 1) * sizeof (uint64_t));
    if (job->prog.init) {
        for (size_t v = 0; v < job->g->n; v++) {
            job->vtx.lid = v;
            job->prog.init (&job->ctx, &job->vtx, job->prog.arg);
        }
    }
}

/* Test hook for the checkpoint tests: LOOM_PREGEL_CRASH_AFTER=S kills rank 0 with
 * SIGKILL right after superstep S completes (and its checkpoint, if any, is written).
 * A real crash, not an error path.
 */
static void maybe_crash (struct loom_pregel *job)
{
    static long crash_after = -2;
    if (crash_after == -2) {
        const char *s = getenv ("LOOM_PREGEL_CRASH_AFTER");
        crash_after = s && *s ? strtol (s, NULL, 10) : -1;
    }
    if (crash_after >= 0 && job->g->rank == 0
        && job->superstep == (uint64_t)crash_after)
        raise (SIGKILL);
}

/* compute() for every active vertex from local index 'from'. With 'save', the
 * vertex's value is copied first (for a crash capture); always inlined so the loop
 * without it carries no test.
 */
static inline __attribute__ ((always_inline)) void
compute_loop (struct loom_pregel *job, size_t from, bool save)
{
    const size_t n = job->g->n, ms = job->ms, vs = job->vs;
    const loom_pregel_compute_f compute = job->prog.compute;
    void *arg = job->prog.arg;
    uint8_t *halted = job->halted;
    if (job->fast != FAST_NONE) {
        const uint8_t *in_has = job->in_has, *in = job->in;
        for (size_t v = from; v < n; v++) {
            if (halted[v] && !in_has[v])
                continue;
            halted[v] = 0;
            job->vtx.lid = v;
            if (save)
                memcpy (job->cap_value, job->values + v * vs, vs);
            compute (&job->ctx, &job->vtx, in_has[v] ? in + v * ms : NULL, in_has[v],
                     arg);
        }
    } else {
        const uint64_t *off = job->in_off;
        for (size_t v = from; v < n; v++) {
            size_t k = (size_t)(off[v + 1] - off[v]);
            if (halted[v] && k == 0)
                continue;
            halted[v] = 0;
            job->vtx.lid = v;
            if (save)
                memcpy (job->cap_value, job->values + v * vs, vs);
            compute (&job->ctx, &job->vtx, k ? job->in_list + off[v] * ms : NULL, k,
                     arg);
        }
    }
}

void pregel_compute_from (struct loom_pregel *job, size_t from)
{
    if (job->cap_on)
        compute_loop (job, from, true);
    else
        compute_loop (job, from, false);
}

static void compute_all (struct loom_pregel *job)
{
    pregel_cap_begin (job);
    pregel_compute_from (job, 0);
    pregel_cap_end (job);
}

/* Counters reduced each superstep. */
enum { C_ACTIVE, C_PENDING, C_SENT, C_FAR, C_DROPPED, C_FAILED, NCOUNTS };

/* Messages waiting for local vertices after the exchange (before finish_inbox). */
static uint64_t count_pending_out (const struct loom_pregel *job)
{
    uint64_t pending = 0;
    if (job->fast != FAST_NONE) {
        for (size_t v = 0; v < job->g->n; v++)
            pending += job->out_has[v];
    } else {
        for (size_t i = 0; i < job->list_n; i++)
            pending += job->list_slot[i] < job->g->n;
    }
    return pending;
}

/* After the exchange: the local slots of 'out' become the inbox. */
static int finish_inbox (struct loom_pregel *job, loom_error_t *error)
{
    if (job->fast != FAST_NONE) {
        uint8_t *t = job->in;
        job->in = job->out;
        job->out = t;
        t = job->in_has;
        job->in_has = job->out_has;
        job->out_has = t;
        return 0;
    }
    return pregel_group_inbox (job, error);
}

/* Trace events (issue 10): a span per superstep with its active vertices and
 * messages, and its compute, exchange and checkpoint phases inside it.
 */
LOOM_TRACE_TYPE (
    t_superstep, "pregel", "superstep", "superstep", "vertices", "messages");
LOOM_TRACE_TYPE (t_compute, "pregel", "compute", "superstep", "vertices", "messages");
LOOM_TRACE_TYPE (t_exchange, "pregel", "exchange", "superstep", "records", "bytes");
LOOM_TRACE_TYPE (t_checkpoint, "pregel", "checkpoint", "superstep");
LOOM_TRACE_TYPE (t_run, "pregel", "run", "vertices", "supersteps", "resumed");

int loom_pregel_run (loom_pregel_t *job, loom_error_t *error)
{
    if (!job)
        return loom_errset (error, EINVAL, "no job");
    struct loom_pregel_graph *g = job->g;
    const struct loom_pregel_params *pp = &job->params;
    int resumed = 0;
    if (g->replay)
        return pregel_replay_run (job, error);
    if (loom_capture_mode () != LOOM_CAPTURE_OFF && !*loom_capture_job ()) {
        /* No launcher identity to name the job by: every rank takes rank 0's. */
        uint64_t id = 0;
        if (g->rank == 0) {
            struct timespec ts;
            clock_gettime (CLOCK_REALTIME, &ts);
            id = loom_hash64 (&ts, sizeof (ts), (uint64_t)getpid ()) | 1;
        }
        if (loom_comm_allreduce_u64 (g->comm, &id, 1, LOOM_OP_MAX, error) < 0)
            return -1;
        loom_capture_set_job (id);
    }
    if (pp->resume) {
        if ((resumed = pregel_checkpoint_read (job, error)) < 0)
            return -1;
    }
    if (job->fast != FAST_NONE && !job->bx) {
        /* Broadcasts need the in-edges (collective, once per graph) and the plan
         * of the mirror exchange (once per job).
         */
        if (pregel_graph_build_pull (g, error) < 0)
            return -1;
        size_t slots = g->n + g->nm + g->ns;
        if (!job->bcast)
            job->bcast = pregel_big_alloc (slots + 1, job->ms, &job->bcast_cap);
        if (!job->bflag)
            job->bflag = calloc (slots + 1, 1);
        int failed = !job->bcast || !job->bflag;
        if (failed)
            loom_errset (error, ENOMEM, "out of memory for broadcasts");
        if (pregel_agree (g->comm, failed, error) < 0
            || pregel_exchange_plan (job, error) < 0)
            return -1;
    }
    if (!resumed)
        start_fresh (job);
    else
        job->stats.resumed_from = job->superstep;
    loom_trace_span_t run_span = loom_trace_begin (&t_run, g->n, 0, job->superstep);
    loom_trace_span_t step_span = 0, phase = 0;

    for (;;) {
        if (job->prog.master) {
            job->ctx.master = true;
            job->halt_requested = false;
            job->prog.master (&job->ctx, job->prog.arg);
            job->ctx.master = false;
            if (job->halt_requested)
                break;
        }
        if (pp->max_supersteps && job->superstep >= pp->max_supersteps)
            break;

        const uint64_t step = job->superstep;
        step_span = loom_trace_begin (&t_superstep, step);
        phase = loom_trace_begin (&t_compute, step);
        double t0 = loom_clock_sec ();
        if (job->fast != FAST_NONE) {
            pregel_clear_out (job);
            memset (job->bflag, 0, g->n + g->nm);
            job->nbcast = 0;
            job->bcast_edges = 0;
        }
        job->list_n = 0;
        job->far_n = 0;
        job->sent_local = 0;
        job->dropped = 0;
        job->failed = 0;
        compute_all (job);
        if (job->fast != FAST_NONE) {
            /* Pull when the broadcasts cover a good part of this rank's edges; then
             * the exchange carries them to the mirrors. Otherwise push them now, and
             * clear the flags so pregel_gather() sees only mirrors that pulled.
             */
            job->pull = job->bcast_edges * 8 > g->m;
            if (!job->pull && job->nbcast) {
                pregel_push_broadcasts (job);
                memset (job->bflag, 0, g->n);
                job->nbcast = 0;
            }
        }
        double t1 = loom_clock_sec ();
        loom_trace_end (phase, step, g->n, job->sent_local);
        uint64_t rec0 = job->stats.remote_records, bytes0 = job->stats.remote_bytes;
        phase = loom_trace_begin (&t_exchange, step);

        int failed = 0;
        if (job->failed) {
            errno = job->failed;
            loom_errprintf (error, "superstep %llu: out of memory for messages",
                            (unsigned long long)job->superstep);
            failed = 1;
        }
        /* The exchange is collective: a rank that failed still takes part. Failures
         * are counted in the reduction below (one collective less per superstep),
         * and only then agreed on with their message.
         */
        if (pregel_exchange (job, failed ? NULL : error) < 0)
            failed = 1;
        double tg = loom_clock_sec ();
        if (!failed && job->fast != FAST_NONE)
            pregel_gather (job);
        double gather_sec = loom_clock_sec () - tg;

        /* Halt flags are final after compute() and, unless messages to
         * non-neighbours follow, so is the inbox: one reduction serves both.
         */
        uint64_t counts[NCOUNTS] = {0};
        counts[C_SENT] = job->sent_local;
        counts[C_FAR] = job->far_n;
        counts[C_PENDING] = failed ? 0 : count_pending_out (job);
        counts[C_DROPPED] = job->dropped;
        counts[C_FAILED] = failed;
        for (size_t v = 0; v < g->n; v++)
            counts[C_ACTIVE] += !job->halted[v];
        loom_error_t mine;
        if (failed && error)
            mine = *error;
        if (pregel_reduce (job, counts, NCOUNTS, error) < 0)
            goto fail;
        if (counts[C_FAILED]) {
            if (failed && error)
                *error = mine;
            pregel_agree (g->comm, failed, error);
            goto fail;
        }
        if (counts[C_FAR] > 0) {
            /* Messages to non-neighbours: only when some rank has any. */
            job->dropped = 0;
            failed = pregel_exchange_far (job, error) < 0;
            if (pregel_agree (g->comm, failed, error) < 0)
                goto fail;
            uint64_t again[2] = {count_pending_out (job), job->dropped};
            if (loom_comm_allreduce_u64 (g->comm, again, 2, LOOM_OP_SUM, error) < 0)
                goto fail;
            counts[C_PENDING] = again[0];
            counts[C_DROPPED] += again[1];
        }
        /* Only grouping listed messages can fail here (memory). */
        failed = finish_inbox (job, error) < 0;
        if (job->fast == FAST_NONE && pregel_agree (g->comm, failed, error) < 0)
            goto fail;
        uint64_t act[2] = {counts[C_ACTIVE], counts[C_PENDING]};
        job->active_prev = act[0];
        job->pending_prev = act[1];
        job->stats.dropped += counts[C_DROPPED];
        job->stats.messages += counts[C_SENT];
        job->superstep++;
        job->stats.supersteps = job->superstep;
        double t2 = loom_clock_sec ();
        loom_trace_end (phase, step, job->stats.remote_records - rec0,
                        job->stats.remote_bytes - bytes0);
        loom_trace_end (step_span, step, act[0], counts[C_SENT]);
        phase = step_span = 0;
        job->stats.compute_sec += t1 - t0 + gather_sec;
        job->stats.exchange_sec += t2 - t1 - gather_sec;

        int done = act[0] == 0 && act[1] == 0;
        if (!done && pp->checkpoint_every
            && job->superstep % pp->checkpoint_every == 0) {
            double c0 = loom_clock_sec ();
            loom_trace_span_t ck = loom_trace_begin (&t_checkpoint, job->superstep);
            int rc = pregel_checkpoint_write (job, error);
            loom_trace_end (ck);
            if (rc < 0)
                goto fail;
            job->stats.checkpoint_sec += loom_clock_sec () - c0;
        }
        maybe_crash (job);
        if (done)
            break;
    }
    loom_trace_end (run_span, g->n, job->superstep, job->stats.resumed_from);
    return 0;
fail:
    loom_trace_end (phase);
    loom_trace_end (step_span);
    loom_trace_end (run_span);
    return -1;
}
