/* SPDX-License-Identifier: MIT */
/* MPI test of the engine's paths the apps don't all take: no combiner (listed
 * messages), a user combiner, messages to non-neighbours (and to ids that are not
 * vertices), aggregators of every kind with the master hook, checkpoint + resume in
 * process, bad parameters, and an empty graph.
 */
#include <errno.h>
#include <inttypes.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/error.h>
#include <loom/pregel.h>

#include "algos.h"

static int rank, size, failures;

static void fail (const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    fprintf (stderr, "rank %d: FAIL: ", rank);
    vfprintf (stderr, fmt, ap);
    fputc ('\n', stderr);
    va_end (ap);
    failures++;
}

/* ---- CC without a combiner / with a user combiner ------------------------------ */

static uint64_t max_msgs_seen;

static void cc_list_compute (loom_pregel_ctx_t *ctx,
                             loom_pregel_vertex_t *v,
                             const void *msgs,
                             size_t nmsgs,
                             void *arg)
{
    uint64_t *label = loom_pregel_vertex_value (v);
    if (loom_pregel_superstep (ctx) == 0) {
        *label = loom_pregel_vertex_id (v);
        loom_pregel_send_to_neighbours (ctx, v, label);
    } else {
        if (nmsgs > max_msgs_seen)
            max_msgs_seen = nmsgs;
        uint64_t best = *label;
        for (size_t i = 0; i < nmsgs; i++) {
            uint64_t m;
            memcpy (&m, (const uint8_t *)msgs + 8 * i, 8);
            if (m < best)
                best = m;
        }
        if (best < *label) {
            *label = best;
            /* Send along each edge separately: exercises send_edge too. */
            for (size_t i = 0; i < loom_pregel_vertex_degree (v); i++)
                loom_pregel_send_edge (ctx, v, i, label);
        }
    }
    loom_pregel_vote_to_halt (v);
}

static void min_u64 (void *acc, const void *in, void *arg)
{
    uint64_t a, b;
    memcpy (&a, acc, 8);
    memcpy (&b, in, 8);
    if (b < a)
        memcpy (acc, &b, 8);
}

static void check_cc_variants (loom_pregel_graph_t *g)
{
    loom_error_t err;
    struct loom_pregel_program prog;
    algo_cc_program (&prog);
    loom_pregel_t *ref = loom_pregel_create (g, &prog, NULL, &err);
    if (!ref || loom_pregel_run (ref, &err) < 0) {
        fail ("cc: %s", err.text);
        loom_pregel_destroy (ref);
        return;
    }
    size_t n;
    loom_pregel_graph_ids (g, &n);
    for (int variant = 0; variant < 2; variant++) {
        struct loom_pregel_program p = LOOM_PREGEL_PROGRAM_INIT;
        p.value_size = p.message_size = 8;
        p.value_type = LOOM_PREGEL_U64;
        p.message_type = variant ? LOOM_PREGEL_BYTES : LOOM_PREGEL_U64;
        p.combiner = variant ? LOOM_PREGEL_USER : LOOM_PREGEL_NONE;
        p.combine = variant ? min_u64 : NULL;
        p.compute = cc_list_compute;
        max_msgs_seen = 0;
        loom_pregel_t *job = loom_pregel_create (g, &p, NULL, &err);
        if (!job || loom_pregel_run (job, &err) < 0) {
            fail ("cc variant %d: %s", variant, err.text);
        } else if (memcmp (loom_pregel_values (job), loom_pregel_values (ref), n * 8)) {
            fail ("cc variant %d differs from the min-combiner cc", variant);
        }
        uint64_t seen = max_msgs_seen, all = 0;
        MPI_Allreduce (&seen, &all, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
        if (variant == 0 && all < 2)
            fail ("listed path never delivered more than one message to a vertex");
        if (variant == 1 && all != 1)
            fail ("user combiner delivered %" PRIu64 " messages to a vertex", all);
        loom_pregel_destroy (job);
    }
    loom_pregel_destroy (ref);
}

/* ---- Messages to any id, aggregators, master hook ----------------------------- */

struct far_arg {
    uint64_t target, missing;
    int agg_count, agg_min, agg_max, agg_user;
    uint64_t nv, min_id, max_id;
    int master_ok, compute_saw_override;
};

struct pair {
    uint64_t count, sum;
};

static void pair_add (void *acc, const void *in, void *arg)
{
    struct pair a, b;
    memcpy (&a, acc, sizeof (a));
    memcpy (&b, in, sizeof (b));
    a.count += b.count;
    a.sum += b.sum;
    memcpy (acc, &a, sizeof (a));
}

static void far_compute (loom_pregel_ctx_t *ctx,
                         loom_pregel_vertex_t *v,
                         const void *msgs,
                         size_t nmsgs,
                         void *arg)
{
    struct far_arg *fa = arg;
    uint64_t id = loom_pregel_vertex_id (v), one = 1;
    uint64_t *val = loom_pregel_vertex_value (v);
    if (loom_pregel_superstep (ctx) == 0) {
        loom_pregel_send (ctx, fa->target, &one);
        loom_pregel_send (ctx, fa->missing, &one);
        loom_pregel_aggregate (ctx, fa->agg_count, &one);
        loom_pregel_aggregate (ctx, fa->agg_min, &id);
        double d = (double)id;
        loom_pregel_aggregate (ctx, fa->agg_max, &d);
        struct pair p = {1, id};
        loom_pregel_aggregate (ctx, fa->agg_user, &p);
    } else {
        uint64_t count;
        loom_pregel_aggregated (ctx, fa->agg_count, &count);
        if (count == 12345)
            fa->compute_saw_override = 1;
        if (nmsgs)
            memcpy (val, msgs, 8);
    }
    loom_pregel_vote_to_halt (v);
}

static void far_master (loom_pregel_ctx_t *ctx, void *arg)
{
    struct far_arg *fa = arg;
    if (loom_pregel_superstep (ctx) != 1)
        return;
    uint64_t count, mn;
    double mx;
    struct pair p;
    loom_pregel_aggregated (ctx, fa->agg_count, &count);
    loom_pregel_aggregated (ctx, fa->agg_min, &mn);
    loom_pregel_aggregated (ctx, fa->agg_max, &mx);
    loom_pregel_aggregated (ctx, fa->agg_user, &p);
    fa->master_ok = count == fa->nv && mn == fa->min_id && mx == (double)fa->max_id
                    && p.count == fa->nv && loom_pregel_active_vertices (ctx) == 0
                    && loom_pregel_pending_messages (ctx) == 1;
    uint64_t override = 12345;
    loom_pregel_set_aggregated (ctx, fa->agg_count, &override);
}

static void check_far (loom_pregel_graph_t *g)
{
    loom_error_t err;
    size_t n;
    const uint64_t *ids = loom_pregel_graph_ids (g, &n);
    struct loom_pregel_graph_info info;
    loom_pregel_graph_info (g, &info);
    uint64_t mn = n ? ids[0] : UINT64_MAX, mx = n ? ids[n - 1] : 0;
    struct far_arg fa = {.nv = info.vertices};
    MPI_Allreduce (&mn, &fa.min_id, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce (&mx, &fa.max_id, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    fa.target = fa.min_id;
    fa.missing = fa.max_id + 1000; /* not a vertex */
    struct loom_pregel_program p = LOOM_PREGEL_PROGRAM_INIT;
    p.value_size = p.message_size = 8;
    p.value_type = p.message_type = LOOM_PREGEL_U64;
    p.combiner = LOOM_PREGEL_SUM;
    p.compute = far_compute;
    p.master = far_master;
    p.arg = &fa;
    loom_pregel_t *job = loom_pregel_create (g, &p, NULL, &err);
    if (!job)
        goto error;
    fa.agg_count = loom_pregel_add_aggregator (job, LOOM_PREGEL_SUM, LOOM_PREGEL_U64, 8,
                                               NULL, &err);
    fa.agg_min = loom_pregel_add_aggregator (job, LOOM_PREGEL_MIN, LOOM_PREGEL_U64, 8,
                                             NULL, &err);
    fa.agg_max = loom_pregel_add_aggregator (job, LOOM_PREGEL_MAX, LOOM_PREGEL_F64, 8,
                                             NULL, &err);
    fa.agg_user = loom_pregel_add_aggregator (job, LOOM_PREGEL_USER, LOOM_PREGEL_BYTES,
                                              sizeof (struct pair), pair_add, &err);
    if (fa.agg_count != 0 || fa.agg_min != 1 || fa.agg_max != 2 || fa.agg_user != 3)
        goto error;
    if (loom_pregel_add_aggregator (job, LOOM_PREGEL_SUM, LOOM_PREGEL_BYTES, 8, NULL,
                                    &err)
            != -1
        || errno != EINVAL)
        fail ("a sum aggregator on bytes was accepted");
    if (loom_pregel_run (job, &err) < 0)
        goto error;
    struct loom_pregel_stats st;
    loom_pregel_stats (job, &st);
    if (!fa.master_ok)
        fail ("master hook saw wrong aggregated values or counts");
    /* Only the target's owner computes in superstep 1 (the others halted). */
    int saw = 0;
    MPI_Allreduce (&fa.compute_saw_override, &saw, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (!saw)
        fail ("compute did not see the master's set_aggregated value");
    if (st.dropped != fa.nv)
        fail ("dropped %" PRIu64 " messages, expected %" PRIu64, st.dropped, fa.nv);
    int64_t at = -1;
    for (size_t i = 0; i < n; i++)
        if (ids[i] == fa.target)
            at = (int64_t)i;
    if (at >= 0) {
        uint64_t got = ((uint64_t *)loom_pregel_values (job))[at];
        if (got != fa.nv)
            fail ("target got %" PRIu64 " messages, expected %" PRIu64, got, fa.nv);
    }
    loom_pregel_destroy (job);
    return;
error:
    fail ("far: %s", err.text);
    loom_pregel_destroy (job);
}

/* ---- Checkpoint and resume in process --------------------------------------- */

static void check_checkpoint (loom_pregel_graph_t *g, const char *dir)
{
    loom_error_t err;
    size_t n;
    loom_pregel_graph_ids (g, &n);
    char path[512];
    snprintf (path, sizeof (path), "%s/ck", dir);
    double *full = malloc ((n + 1) * 8);
    for (int phase = 0; phase < 3; phase++) {
        struct algo_pagerank pr = {.damping = 0.85, .iterations = 12};
        struct loom_pregel_program prog;
        algo_pagerank_program (&prog, &pr);
        struct loom_pregel_params pp = LOOM_PREGEL_PARAMS_INIT;
        if (phase == 1) { /* stop early after checkpoints at 4 and 8 */
            pp.checkpoint = path;
            pp.checkpoint_every = 4;
            pp.max_supersteps = 10;
        } else if (phase == 2) {
            pp.checkpoint = path;
            pp.resume = 1;
        }
        loom_pregel_t *job = loom_pregel_create (g, &prog, &pp, &err);
        if (!job || algo_pagerank_setup (job, &pr, &err) < 0
            || loom_pregel_run (job, &err) < 0) {
            fail ("checkpoint phase %d: %s", phase, err.text);
            loom_pregel_destroy (job);
            break;
        }
        struct loom_pregel_stats st;
        loom_pregel_stats (job, &st);
        if (phase == 0)
            memcpy (full, loom_pregel_values (job), n * 8);
        if (phase == 2) {
            if (st.resumed_from != 8)
                fail ("resumed from superstep %" PRIu64 ", expected 8",
                      st.resumed_from);
            if (memcmp (full, loom_pregel_values (job), n * 8) != 0)
                fail ("resumed pagerank differs from the uninterrupted run");
        }
        loom_pregel_destroy (job);
    }
    free (full);
}

/* The listed path (no combiner) checkpoints its grouped inbox too: stop CC after
 * superstep 2 with a checkpoint there, resume, and compare with an uninterrupted run.
 */
static void check_checkpoint_listed (loom_pregel_graph_t *g, const char *dir)
{
    loom_error_t err;
    size_t n;
    loom_pregel_graph_ids (g, &n);
    char path[512];
    snprintf (path, sizeof (path), "%s/ck-listed", dir);
    uint64_t *full = malloc ((n + 1) * 8);
    for (int phase = 0; phase < 3; phase++) {
        struct loom_pregel_program p = LOOM_PREGEL_PROGRAM_INIT;
        p.value_size = p.message_size = 8;
        p.value_type = p.message_type = LOOM_PREGEL_U64;
        p.compute = cc_list_compute;
        struct loom_pregel_params pp = LOOM_PREGEL_PARAMS_INIT;
        if (phase == 1) {
            pp.checkpoint = path;
            pp.checkpoint_every = 2;
            pp.max_supersteps = 3;
        } else if (phase == 2) {
            pp.checkpoint = path;
            pp.resume = 1;
        }
        loom_pregel_t *job = loom_pregel_create (g, &p, &pp, &err);
        if (!job || loom_pregel_run (job, &err) < 0) {
            fail ("listed checkpoint phase %d: %s", phase, err.text);
            loom_pregel_destroy (job);
            break;
        }
        struct loom_pregel_stats st;
        loom_pregel_stats (job, &st);
        if (phase == 0)
            memcpy (full, loom_pregel_values (job), n * 8);
        if (phase == 2) {
            if (st.resumed_from != 2)
                fail ("listed: resumed from %" PRIu64 ", expected 2", st.resumed_from);
            if (memcmp (full, loom_pregel_values (job), n * 8) != 0)
                fail ("listed: resumed cc differs from the uninterrupted run");
        }
        loom_pregel_destroy (job);
    }
    free (full);
}

/* ---- Bad parameters and an empty graph ---------------------------------------- */

static void dummy (
    loom_pregel_ctx_t *ctx, loom_pregel_vertex_t *v, const void *m, size_t k, void *arg)
{
}

static void check_bad (loom_pregel_graph_t *g)
{
    loom_error_t err;
    struct loom_pregel_program p = LOOM_PREGEL_PROGRAM_INIT;
    p.value_size = p.message_size = 8;
    if (loom_pregel_create (g, &p, NULL, &err) || errno != EINVAL
        || !strstr (err.text, "compute"))
        fail ("no compute: accepted or wrong error '%s'", err.text);
    p.compute = dummy;
    p.value_type = LOOM_PREGEL_F64;
    p.value_size = 4;
    if (loom_pregel_create (g, &p, NULL, &err) || errno != EINVAL)
        fail ("f64 value of 4 bytes accepted");
    p.value_size = 8;
    p.combiner = LOOM_PREGEL_SUM; /* on BYTES messages */
    if (loom_pregel_create (g, &p, NULL, &err) || errno != EINVAL)
        fail ("sum combiner on bytes accepted");
    p.combiner = LOOM_PREGEL_NONE;
    struct loom_pregel_params pp = LOOM_PREGEL_PARAMS_INIT;
    pp.checkpoint_every = 3;
    if (loom_pregel_create (g, &p, &pp, &err) || errno != EINVAL)
        fail ("checkpoint_every without a path accepted");
    loom_pregel_destroy (NULL);
    loom_pregel_graph_destroy (NULL);

    loom_pregel_graph_t *empty =
        loom_pregel_graph_from_edges (MPI_COMM_WORLD, 0, NULL, NULL, NULL, NULL, &err);
    if (empty || errno != ENODATA || !strstr (err.text, "no vertices"))
        fail ("empty graph: got %p, errno %d, '%s'", (void *)empty, errno, err.text);
    loom_pregel_graph_destroy (empty);
}

int main (int argc, char **argv)
{
    MPI_Init (&argc, &argv);
    MPI_Comm_rank (MPI_COMM_WORLD, &rank);
    MPI_Comm_size (MPI_COMM_WORLD, &size);
    loom_error_t err;
    struct loom_pregel_gen_params gp = LOOM_PREGEL_GEN_PARAMS_INIT;
    gp.scale = 9;
    gp.edgefactor = 4;
    gp.seed = 3;
    uint64_t m = loom_pregel_gen_num_edges (&gp);
    uint64_t first = m * (uint64_t)rank / (uint64_t)size;
    uint64_t last = m * (uint64_t)(rank + 1) / (uint64_t)size;
    uint64_t *src = malloc ((last - first + 1) * 8),
             *dst = malloc ((last - first + 1) * 8);
    loom_pregel_gen_edges (&gp, first, last - first, src, dst, NULL, NULL);

    struct loom_pregel_graph_params p = LOOM_PREGEL_GRAPH_PARAMS_INIT;
    p.flags = LOOM_PREGEL_SYMMETRIC;
    loom_pregel_graph_t *g = loom_pregel_graph_from_edges (MPI_COMM_WORLD, last - first,
                                                           src, dst, NULL, &p, &err);
    if (!g) {
        fail ("graph: %s", err.text);
    } else {
        check_cc_variants (g);
        check_far (g);
        check_bad (g);
        loom_pregel_graph_destroy (g);
    }
    /* Checkpoints on the directed graph, in a directory rank 0 makes. */
    char dir[256] = "";
    if (rank == 0) {
        snprintf (dir, sizeof (dir), "%s/loom-pregel-ck.XXXXXX",
                  getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp");
        if (!mkdtemp (dir))
            dir[0] = '\0';
    }
    MPI_Bcast (dir, sizeof (dir), MPI_CHAR, 0, MPI_COMM_WORLD);
    g = loom_pregel_graph_from_edges (MPI_COMM_WORLD, last - first, src, dst, NULL,
                                      NULL, &err);
    if (!g || !dir[0]) {
        fail ("checkpoint graph: %s", g ? "no temp dir" : err.text);
    } else {
        check_checkpoint (g, dir);
        check_checkpoint_listed (g, dir);
    }
    loom_pregel_graph_destroy (g);
    MPI_Barrier (MPI_COMM_WORLD);
    if (rank == 0 && dir[0]) {
        char cmd[600];
        snprintf (cmd, sizeof (cmd), "rm -rf '%s'", dir);
        if (system (cmd) != 0)
            fail ("cannot remove %s", dir);
    }
    free (src);
    free (dst);
    int all = 0;
    MPI_Allreduce (&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf ("test_engine: %d ranks: %s\n", size,
                all ? "FAILED" : "all checks passed");
    MPI_Finalize ();
    return all ? 1 : 0;
}
