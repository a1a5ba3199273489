/* SPDX-License-Identifier: MIT */
/* Capturing one rank's superstep for replay (docs/replay.md).
 *
 * Task "compute-ss<S>-r<R>": the compute() calls of rank R in superstep S. Its
 * inputs are all in this rank's memory, and compute() changes only its own vertex's
 * value and halt flag and the outgoing message buffers, so they are written as raw
 * arrays (files below), before compute when the task is selected (--capture), or
 * by the crash handler with write(2). A crash capture is exact from the crashing
 * vertex on ("from_vertex"): the vertices before it already hold this superstep's
 * values, and the crashing vertex's value is the copy taken before its compute().
 *
 *   ids.bin u64[n]     off.bin u64[n+1]    tgt.bin u32[m]     weight.bin f64[m]
 *   ghost.bin u64[ng]  peer_off.bin u64[size+1]
 *   values.bin [n*value_size]  halted.bin u8[n]
 *   in.bin [n*message_size] + in_has.bin u8[n]   (with a combiner)
 *   in_off.bin u64[n+1] + in_list.bin [in_off[n]*message_size]   (without)
 *   agg<i>.bin: aggregator i's value as compute() reads it
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <loom/capture.h>
#include <loom/hash.h>
#include <loom/log.h>

#include "internal.h"

static struct {
    bool armed, selected;
    char task[64];
    char dir[PATH_MAX];
    json_t *manifest;
    struct loom_pregel *job;
} pc;

static int put (const char *dir, const char *name, const void *p, size_t n)
{
    struct loom_capture_out o;
    if (loom_capture_open (&o, dir, name) < 0)
        return -1;
    loom_capture_put_raw (&o, p, n);
    return loom_capture_close (&o);
}

int pregel_cap_write_inputs (const struct loom_pregel *job,
                             const char *dir,
                             size_t saved_lid)
{
    const struct loom_pregel_graph *g = job->g;
    const size_t n = g->n, vs = job->vs, ms = job->ms;
    int rc = 0;
    rc |= put (dir, "ids.bin", g->ids, n * 8);
    rc |= put (dir, "off.bin", g->off, (n + 1) * 8);
    rc |= put (dir, "tgt.bin", g->tgt, g->m * 4);
    if (g->weight)
        rc |= put (dir, "weight.bin", g->weight, g->m * 8);
    rc |= put (dir, "ghost.bin", g->ghost_id, g->ng * 8);
    rc |=
        put (dir, "peer_off.bin", g->peer_off, ((size_t)g->size + 1) * sizeof (size_t));
    struct loom_capture_out o;
    if (loom_capture_open (&o, dir, "values.bin") < 0)
        return -1;
    if (saved_lid < n) {
        loom_capture_put_raw (&o, job->values, saved_lid * vs);
        loom_capture_put_raw (&o, job->cap_value, vs);
        loom_capture_put_raw (&o, job->values + (saved_lid + 1) * vs,
                              (n - saved_lid - 1) * vs);
    } else {
        loom_capture_put_raw (&o, job->values, n * vs);
    }
    rc |= loom_capture_close (&o);
    rc |= put (dir, "halted.bin", job->halted, n);
    if (job->fast != FAST_NONE) {
        rc |= put (dir, "in.bin", job->in, n * ms);
        rc |= put (dir, "in_has.bin", job->in_has, n);
    } else {
        rc |= put (dir, "in_off.bin", job->in_off, (n + 1) * 8);
        rc |= put (dir, "in_list.bin", job->in_list, (size_t)job->in_off[n] * ms);
    }
    for (size_t i = 0; i < job->naggs; i++) {
        char name[32] = "agg";
        size_t k = 3, v = i, d = 1;
        while (v / d >= 10)
            d *= 10;
        for (; d; d /= 10)
            name[k++] = (char)('0' + (v / d) % 10);
        memcpy (name + k, ".bin", 5);
        rc |= put (dir, name, job->aggs[i].value, job->aggs[i].size);
    }
    return rc ? -1 : 0;
}

uint64_t pregel_cap_digest (const struct loom_pregel *job, size_t from)
{
    const struct loom_pregel_graph *g = job->g;
    const size_t n = g->n, vs = job->vs, ms = job->ms;
    loom_hash_state_t *h = loom_hash_state_create (0);
    if (!h)
        return 0;
    loom_hash_state_update (h, job->values + from * vs, (n - from) * vs);
    loom_hash_state_update (h, job->halted + from, n - from);
    if (job->fast != FAST_NONE) {
        size_t slots = n + g->ng;
        loom_hash_state_update (h, job->out_has, slots);
        for (size_t s = 0; s < slots; s++)
            if (job->out_has[s])
                loom_hash_state_update (h, job->out + s * ms, ms);
        loom_hash_state_update (h, job->bflag, n);
        for (size_t v = 0; v < n; v++)
            if (job->bflag[v])
                loom_hash_state_update (h, job->bcast + v * ms, ms);
    } else {
        loom_hash_state_update (h, job->list_slot, job->list_n * 4);
        loom_hash_state_update (h, job->list_msg, job->list_n * ms);
    }
    loom_hash_state_update (h, job->far_id, job->far_n * 8);
    loom_hash_state_update (h, job->far_msg, job->far_n * ms);
    uint64_t d = loom_hash_state_digest (h);
    loom_hash_state_destroy (h);
    return d;
}

/* Crash hook: name the vertex, write the inputs, say where they are exact from. */
static void on_crash (const char *dir, struct loom_capture_out *m, void *arg)
{
    struct loom_pregel *job = arg;
    size_t lid = job->vtx.lid;
    if (lid < job->g->n)
        loom_capture_vertex (job->g->ids[lid]);
    if (pregel_cap_write_inputs (job, dir, lid) < 0)
        loom_capture_put (m, ",\"inputs_incomplete\":true");
    loom_capture_put (m, ",\"from_vertex\":");
    loom_capture_put_u64 (m, lid);
}

static const char *type_name (loom_pregel_type_t t)
{
    static const char *names[] = {"bytes", "f64", "i64", "u64"};
    return (unsigned)t <= LOOM_PREGEL_U64 ? names[t] : "?";
}

static json_t *build_manifest (struct loom_pregel *job)
{
    const struct loom_pregel_graph *g = job->g;
    char *head = loom_capture_manifest_head (pc.task, "pregel", "compute");
    json_t *o = head ? json_loads (head, 0, NULL) : NULL;
    free (head);
    json_t *aggs = json_array ();
    for (size_t i = 0; aggs && i < job->naggs; i++)
        json_array_append_new (aggs,
                               json_pack ("{s:i, s:s, s:I}", "op", (int)job->aggs[i].op,
                                          "type", type_name (job->aggs[i].type), "size",
                                          (json_int_t)job->aggs[i].size));
    json_t *p = json_pack (
        "{s:I, s:i, s:i, s:s, s:I, s:I, s:i, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:s, s:I, s:s, s:i, s:i, s:o}",
        "superstep", (json_int_t)job->superstep, "rank", g->rank, "ranks", g->size,
        "partitioner", g->part == LOOM_PREGEL_PART_RANGE ? "range" : "hash", "seed",
        (json_int_t)g->seed, "id_limit", (json_int_t)g->id_limit, "graph_flags",
        g->flags, "weighted", g->weight != NULL, "vertices", (json_int_t)g->n, "edges",
        (json_int_t)g->m, "ghosts", (json_int_t)g->ng, "num_vertices",
        (json_int_t)g->nv_global, "active_prev", (json_int_t)job->active_prev,
        "pending_prev", (json_int_t)job->pending_prev, "value_size",
        (json_int_t)job->vs, "message_size", (json_int_t)job->ms, "value_type",
        type_name (job->prog.value_type), "in_list",
        (json_int_t)(job->fast == FAST_NONE ? job->in_off[g->n] : 0), "message_type",
        type_name (job->prog.message_type), "combiner", (int)job->prog.combiner, "fast",
        (int)job->fast, "aggregators", aggs);
    if (!o || !p || json_object_update (o, p) < 0) {
        json_decref (o);
        json_decref (p);
        return NULL;
    }
    json_decref (p);
    return o;
}

void pregel_cap_begin (struct loom_pregel *job)
{
    pc.armed = false;
    job->cap_on = false;
    if (loom_capture_mode () == LOOM_CAPTURE_OFF)
        return;
    snprintf (pc.task, sizeof (pc.task), "compute-ss%llu-r%d",
              (unsigned long long)job->superstep, job->g->rank);
    pc.selected = loom_capture_selected (pc.task);
    json_decref (pc.manifest);
    if (!(pc.manifest = build_manifest (job))) {
        loom_log (LOOM_LOG_WARN, "capture: out of memory for the manifest of %s",
                  pc.task);
        return;
    }
    loom_error_t e;
    if (pc.selected) {
        json_object_set_new (pc.manifest, "from_vertex", json_integer (0));
        json_object_set_new (pc.manifest, "status", json_string ("captured"));
        char *text = json_dumps (pc.manifest, JSON_PRESERVE_ORDER | JSON_INDENT (1));
        if (!text || loom_capture_task_dir (pc.task, pc.dir, sizeof (pc.dir), &e) < 0
            || pregel_cap_write_inputs (job, pc.dir, SIZE_MAX) < 0
            || loom_capture_write_manifest (pc.dir, text, &e) < 0) {
            loom_log (LOOM_LOG_WARN, "capture: cannot write the capture of %s",
                      pc.task);
            pc.selected = false;
        }
        free (text);
        json_object_del (pc.manifest, "from_vertex");
        json_object_del (pc.manifest, "status");
    }
    char *text = json_dumps (pc.manifest, JSON_PRESERVE_ORDER | JSON_COMPACT);
    if (!text || loom_capture_arm (pc.task, text, on_crash, job, &e) < 0) {
        loom_log (LOOM_LOG_WARN, "capture: cannot arm the capture of %s", pc.task);
    } else {
        pc.armed = true;
        job->cap_on = true;
        loom_capture_user (1);
    }
    free (text);
}

void pregel_cap_end (struct loom_pregel *job)
{
    job->cap_on = false;
    if (!pc.armed)
        return;
    loom_capture_disarm ();
    pc.armed = false;
    if (!pc.selected)
        return;
    char h[17];
    snprintf (h, sizeof (h), "%016llx", (unsigned long long)pregel_cap_digest (job, 0));
    json_object_set_new (pc.manifest, "from_vertex", json_integer (0));
    json_object_set_new (pc.manifest, "status", json_string ("completed"));
    json_object_set_new (
        pc.manifest, "output",
        json_pack ("{s:I, s:s}", "records", (json_int_t)job->sent_local, "xxh64", h));
    loom_error_t e;
    char *text = json_dumps (pc.manifest, JSON_PRESERVE_ORDER | JSON_INDENT (1));
    if (!text || loom_capture_write_manifest (pc.dir, text, &e) < 0)
        loom_log (LOOM_LOG_WARN, "capture: cannot complete the capture of %s", pc.task);
    free (text);
}
