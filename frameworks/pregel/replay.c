/* SPDX-License-Identifier: MIT */
/* Replaying one rank's captured superstep in this process (docs/replay.md).
 *
 * `loom replay` runs the app's binary as one MPI process with $LOOM_REPLAY set. The
 * app loads its graph as always: loom_pregel_graph_load() returns the captured
 * partition instead (no dataset needed). loom_pregel_run() then loads the
 * superstep's inputs, calls the app's compute() for the same vertices in the same
 * order, reports, and ends the process. Messages stay in this rank's buffers; only
 * their digest is compared with the capture's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include <loom/capture.h>
#include <loom/error.h>

#include "internal.h"

static json_t *load_manifest (loom_error_t *error)
{
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/manifest.json", loom_replay_dir ());
    json_error_t je;
    json_t *m = json_load_file (path, 0, &je);
    if (!m)
        loom_errset (error, EPROTO, "cannot read '%s': %s", path, je.text);
    else if (strcmp (json_string_value (json_object_get (m, "framework")) ?: "",
                     "pregel")
             != 0) {
        loom_errset (error, EPROTO, "'%s' is not the capture of a Pregel task", path);
        json_decref (m);
        m = NULL;
    }
    return m;
}

static uint64_t num (json_t *m, const char *k)
{
    return (uint64_t)json_integer_value (json_object_get (m, k));
}

/* File 'name' of the capture, exactly 'want' bytes, into 'dst' (or a new buffer). */
static void *load (const char *name, void *dst, size_t want, loom_error_t *error)
{
    char path[PATH_MAX];
    snprintf (path, sizeof (path), "%s/%s", loom_replay_dir (), name);
    FILE *f = fopen (path, "rb");
    if (!f) {
        loom_errset (error, ENOENT, "capture file '%s' is missing", path);
        return NULL;
    }
    struct stat sb;
    void *buf = dst ? dst : malloc (want + 1);
    int ok = buf && fstat (fileno (f), &sb) == 0 && (size_t)sb.st_size == want
             && fread (buf, 1, want, f) == want;
    fclose (f);
    if (!ok) {
        if (!dst)
            free (buf);
        loom_errset (error, EPROTO,
                     "capture file '%s' is corrupt (%lld bytes, the manifest says %zu)",
                     path, (long long)sb.st_size, want);
        return NULL;
    }
    return buf;
}

struct loom_pregel_graph *pregel_replay_graph (loom_error_t *error)
{
    json_t *m = load_manifest (error);
    if (!m)
        return NULL;
    struct loom_pregel_graph *g = calloc (1, sizeof (*g));
    if (!g) {
        json_decref (m);
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    g->replay = true;
    g->rank = (int)num (m, "rank");
    g->size = (int)num (m, "ranks");
    const char *part = json_string_value (json_object_get (m, "partitioner"));
    g->part = part && strcmp (part, "range") == 0 ? LOOM_PREGEL_PART_RANGE
                                                  : LOOM_PREGEL_PART_HASH;
    g->seed = num (m, "seed");
    g->id_limit = num (m, "id_limit");
    g->flags = (int)num (m, "graph_flags");
    g->n = num (m, "vertices");
    g->m = num (m, "edges");
    g->ng = num (m, "ghosts");
    g->nv_global = num (m, "num_vertices");
    g->ne_global = g->m;
    g->min_weight = INFINITY;
    int weighted = json_is_true (json_object_get (m, "weighted"));
    json_decref (m);
    if (g->size < 1 || g->rank < 0 || g->rank >= g->size) {
        loom_errset (error, EPROTO, "the capture's rank and size are corrupt");
        goto fail;
    }
    if (!(g->comm = loom_comm_create (MPI_COMM_SELF, NULL, error))
        || !(g->ids = load ("ids.bin", NULL, g->n * 8, error))
        || !(g->off = load ("off.bin", NULL, (g->n + 1) * 8, error))
        || !(g->tgt = load ("tgt.bin", NULL, g->m * 4, error))
        || !(g->ghost_id = load ("ghost.bin", NULL, g->ng * 8, error))
        || !(g->peer_off = load ("peer_off.bin", NULL,
                                 ((size_t)g->size + 1) * sizeof (size_t), error))
        || (weighted && !(g->weight = load ("weight.bin", NULL, g->m * 8, error))))
        goto fail;
    for (size_t e = 0; g->weight && e < g->m; e++)
        if (g->weight[e] < g->min_weight)
            g->min_weight = g->weight[e];
    /* Edges must stay inside the partition's slots. */
    if (g->off[g->n] != g->m) {
        loom_errset (error, EPROTO, "the captured partition is corrupt (off.bin)");
        goto fail;
    }
    for (size_t e = 0; e < g->m; e++)
        if (g->tgt[e] >= g->n + g->ng) {
            loom_errset (error, EPROTO, "the captured partition is corrupt (tgt.bin)");
            goto fail;
        }
    return g;
fail:
    loom_pregel_graph_destroy (g);
    return NULL;
}

/* The captured superstep's inputs into 'job'. */
static int load_inputs (struct loom_pregel *job, json_t *m, loom_error_t *error)
{
    struct loom_pregel_graph *g = job->g;
    const size_t n = g->n;
    if (num (m, "value_size") != job->vs || num (m, "message_size") != job->ms
        || (int)num (m, "fast") != (int)job->fast
        || json_array_size (json_object_get (m, "aggregators")) != job->naggs)
        return loom_errset (error, EPROTO,
                            "the app's vertex program differs from the captured one "
                            "(value, message sizes, combiner or aggregators)");
    job->superstep = num (m, "superstep");
    job->active_prev = num (m, "active_prev");
    job->pending_prev = num (m, "pending_prev");
    if (!load ("values.bin", job->values, n * job->vs, error)
        || !load ("halted.bin", job->halted, n, error))
        return -1;
    if (job->fast != FAST_NONE) {
        if (!load ("in.bin", job->in, n * job->ms, error)
            || !load ("in_has.bin", job->in_has, n, error))
            return -1;
        job->bcast = pregel_big_alloc (n + 1, job->ms, &job->bcast_cap);
        job->bflag = calloc (n + 1, 1);
        if (!job->bcast || !job->bflag)
            return loom_errset (error, ENOMEM, "out of memory");
        pregel_clear_out (job);
    } else {
        if (!load ("in_off.bin", job->in_off, (n + 1) * 8, error))
            return -1;
        if (job->in_off[n] != num (m, "in_list"))
            return loom_errset (error, EPROTO, "capture file in_off.bin is corrupt");
        free (job->in_list);
        job->in_list_cap = (size_t)job->in_off[n];
        if (!(job->in_list =
                  load ("in_list.bin", NULL, job->in_list_cap * job->ms, error)))
            return -1;
    }
    for (size_t i = 0; i < job->naggs; i++) {
        char name[32];
        snprintf (name, sizeof (name), "agg%zu.bin", i);
        if (!load (name, job->aggs[i].value, job->aggs[i].size, error))
            return -1;
    }
    return 0;
}

/* The captured compute() calls, naming each vertex for a crash report. */
static uint64_t replay_compute (struct loom_pregel *job, size_t from)
{
    const size_t n = job->g->n, ms = job->ms;
    uint64_t computed = 0;
    loom_capture_user (1);
    for (size_t v = from; v < n; v++) {
        const void *msgs = NULL;
        size_t k;
        if (job->fast != FAST_NONE) {
            k = job->in_has[v];
            msgs = k ? job->in + v * ms : NULL;
        } else {
            k = (size_t)(job->in_off[v + 1] - job->in_off[v]);
            msgs = k ? job->in_list + job->in_off[v] * ms : NULL;
        }
        if (job->halted[v] && k == 0)
            continue;
        job->halted[v] = 0;
        job->vtx.lid = v;
        loom_capture_vertex (job->g->ids[v]);
        job->prog.compute (&job->ctx, &job->vtx, msgs, k, job->prog.arg);
        computed++;
    }
    loom_capture_user (0);
    return computed;
}

int pregel_replay_run (struct loom_pregel *job, loom_error_t *error)
{
    loom_error_t e = {{0}};
    json_t *m = load_manifest (&e);
    int status = 1;
    uint64_t computed = 0, digest = 0;
    size_t from = 0;
    const char *task = m ? json_string_value (json_object_get (m, "task")) : NULL;
    if (m && load_inputs (job, m, &e) == 0
        && loom_capture_arm_replay (task ? task : "task", &e) == 0) {
        from = (size_t)num (m, "from_vertex");
        if (from > job->g->n) {
            loom_errset (&e, EPROTO, "the capture's from_vertex is corrupt");
        } else {
            computed = replay_compute (job, from);
            loom_capture_disarm ();
            digest = pregel_cap_digest (job, from);
            status = 0;
        }
    }
    char h[17], summary[160];
    snprintf (h, sizeof (h), "%016llx", (unsigned long long)digest);
    snprintf (summary, sizeof (summary),
              "superstep %llu, %llu vertices computed from local index %zu",
              (unsigned long long)job->superstep, (unsigned long long)computed, from);
    json_t *r =
        json_pack ("{s:s, s:s, s:s, s:{s:I, s:s}}", "status", status ? "failed" : "ok",
                   "error", e.text, "summary", summary, "output", "records",
                   (json_int_t)job->sent_local, "xxh64", h);
    char *text = r ? json_dumps (r, JSON_COMPACT) : NULL;
    if (!text || loom_replay_result (text) < 0)
        loom_errset (error, EIO, "cannot write the replay's result");
    free (text);
    json_decref (r);
    json_decref (m);
    int inited = 0, done = 0;
    MPI_Initialized (&inited);
    MPI_Finalized (&done);
    fflush (stdout);
    if (inited && !done)
        MPI_Finalize ();
    exit (status);
}
