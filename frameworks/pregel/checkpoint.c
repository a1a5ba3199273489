/* SPDX-License-Identifier: MIT */
/* Checkpoints: the job's state at a superstep boundary, as a dataset.
 *
 * One partition per rank with a record per local vertex:
 *   id:u64, value:str<value_size>, halted:i32, msgs:bytes (its pending messages)
 * and the job-wide state (superstep, counters, aggregated values) in the lineage
 * parameters, as JSON. Datasets commit atomically, so a crash while checkpointing
 * leaves the previous checkpoint whole; a resumed run replays from it and, being
 * deterministic, ends with the same values as an uninterrupted one.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include <loom/dataset.h>
#include <loom/error.h>

#include "internal.h"

static char *hex_encode (const uint8_t *p, size_t n)
{
    char *s = malloc (2 * n + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++)
        snprintf (s + 2 * i, 3, "%02x", p[i]);
    s[2 * n] = '\0';
    return s;
}

static int hex_decode (const char *s, uint8_t *p, size_t n)
{
    if (strlen (s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned x;
        if (sscanf (s + 2 * i, "%2x", &x) != 1)
            return -1;
        p[i] = (uint8_t)x;
    }
    return 0;
}

static char *state_json (const struct loom_pregel *job)
{
    size_t total = 0;
    for (size_t i = 0; i < job->naggs; i++)
        total += job->aggs[i].size;
    uint8_t *agg = malloc (total + 1);
    if (!agg)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < job->naggs; i++) {
        memcpy (agg + at, job->aggs[i].value, job->aggs[i].size);
        at += job->aggs[i].size;
    }
    char *hex = hex_encode (agg, total);
    free (agg);
    if (!hex)
        return NULL;
    json_t *o = json_pack (
        "{s:s, s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I}", "kind",
        "pregel-checkpoint", "superstep", (json_int_t)job->superstep, "nranks",
        job->g->size, "vertices", (json_int_t)job->g->nv_global, "active",
        (json_int_t)job->active_prev, "pending", (json_int_t)job->pending_prev,
        "messages", (json_int_t)job->stats.messages, "remote_records",
        (json_int_t)job->stats.remote_records, "remote_bytes",
        (json_int_t)job->stats.remote_bytes, "aggregators", hex, "value_size",
        (json_int_t)job->vs, "message_size", (json_int_t)job->ms);
    free (hex);
    char *s = o ? json_dumps (o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref (o);
    return s;
}

int pregel_checkpoint_write (struct loom_pregel *job, loom_error_t *error)
{
    const struct loom_pregel_graph *g = job->g;
    const size_t n = g->n, ms = job->ms;
    loom_ds_schema_t *s = loom_ds_schema_create ();
    loom_ds_writer_t *w = NULL;
    uint64_t *splitters = NULL, *moff = NULL;
    int32_t *halted = NULL;
    uint8_t *msgs = NULL;
    char *json = NULL;
    int rc = -1, failed = 0;
    struct loom_ds_create_params cp = LOOM_DS_CREATE_PARAMS_INIT;
    struct loom_ds_lineage lin = LOOM_DS_LINEAGE_INIT;

    halted = malloc ((n + 1) * sizeof (int32_t));
    moff = malloc ((n + 1) * sizeof (uint64_t));
    json = state_json (job);
    if (!s || !halted || !moff || !json || pregel_ds_params (g, &cp, &splitters) < 0
        || loom_ds_schema_add (s, "id", LOOM_DS_UINT64, 0, NULL) < 0
        || loom_ds_schema_add (s, "value", LOOM_DS_FIXSTR, job->vs, NULL) < 0
        || loom_ds_schema_add (s, "halted", LOOM_DS_INT32, 0, NULL) < 0
        || loom_ds_schema_add (s, "msgs", LOOM_DS_BYTES, 0, NULL) < 0)
        failed = 1;
    if (!failed) {
        for (size_t v = 0; v < n; v++)
            halted[v] = job->halted[v];
        /* Pending messages per vertex, contiguous. */
        if (job->fast != FAST_NONE) {
            size_t k = 0;
            moff[0] = 0;
            for (size_t v = 0; v < n; v++) {
                k += job->in_has[v];
                moff[v + 1] = k * ms;
            }
            if (!(msgs = malloc (k * ms + 1)))
                failed = 1;
            for (size_t v = 0, at = 0; !failed && v < n; v++)
                if (job->in_has[v])
                    memcpy (msgs + at++ * ms, job->in + v * ms, ms);
        } else {
            for (size_t v = 0; v <= n; v++)
                moff[v] = job->in_off[v] * ms;
        }
    }
    if (failed)
        loom_errset (error, ENOMEM, "out of memory writing checkpoint %s",
                     job->checkpoint);
    /* Allocation failures are local: agree before the collective create. */
    if (pregel_agree (g->comm, failed, error) < 0)
        goto done;
    lin.producer = "pregel-checkpoint";
    lin.framework = "pregel";
    lin.params_json = json;
    cp.lineage = &lin;
    cp.flags = LOOM_DS_OVERWRITE;
    if (!(w = loom_ds_create (loom_comm_mpi (g->comm), job->checkpoint, s, &cp, error)))
        goto done;
    struct loom_ds_colbuf cols[4] = {
        {g->ids, NULL},
        {job->values, NULL},
        {halted, NULL},
        {msgs ? msgs : job->in_list, moff},
    };
    failed = loom_ds_write_partition (w, (uint32_t)g->rank, n, cols, error) < 0;
    loom_error_t mine;
    if (failed && error)
        mine = *error;
    if (loom_ds_commit (w, error) < 0) {
        if (failed && error)
            *error = mine;
        goto done;
    }
    rc = 0;
done:
    loom_ds_writer_destroy (w);
    loom_ds_schema_destroy (s);
    free (splitters);
    free (moff);
    free (halted);
    free (msgs);
    free (json);
    return rc;
}

/* Restore from partition 'rank' of the open checkpoint 'ds'. Local. */
static int restore (struct loom_pregel *job, loom_ds_t *ds, loom_error_t *error)
{
    const struct loom_pregel_graph *g = job->g;
    const size_t n = g->n, ms = job->ms;
    const char *path = job->checkpoint;
    const loom_ds_schema_t *s = loom_ds_schema (ds);
    if (loom_ds_schema_ncols (s) != 4 || loom_ds_schema_width (s, 1) != job->vs
        || loom_ds_schema_type (s, 3) != LOOM_DS_BYTES)
        return loom_errset (error, EPROTO,
                            "%s: not a checkpoint of this program (schema differs)",
                            path);
    if (loom_ds_nparts (ds) != (uint32_t)g->size)
        return loom_errset (error, EPROTO,
                            "%s: checkpoint has %u partitions but the job has %d ranks",
                            path, loom_ds_nparts (ds), g->size);
    json_error_t jerr;
    json_t *lin = json_loads (loom_ds_lineage_json (ds), 0, &jerr);
    json_t *params = lin ? json_object_get (lin, "params") : NULL;
    json_int_t superstep = -1, active = 0, pending = 0, messages = 0, rrec = 0,
               rbytes = 0, vsz = 0, msz = 0, vertices = 0;
    const char *aggs = NULL, *kind = NULL;
    int ok = params
             && json_unpack (
                    params, "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:I, s:I}",
                    "kind", &kind, "superstep", &superstep, "vertices", &vertices,
                    "active", &active, "pending", &pending, "messages", &messages,
                    "remote_records", &rrec, "remote_bytes", &rbytes, "aggregators",
                    &aggs, "value_size", &vsz, "message_size", &msz)
                    == 0
             && strcmp (kind, "pregel-checkpoint") == 0 && superstep >= 0
             && (size_t)vsz == job->vs && (size_t)msz == ms
             && (uint64_t)vertices == g->nv_global;
    size_t total = 0;
    for (size_t i = 0; i < job->naggs; i++)
        total += job->aggs[i].size;
    uint8_t *agg = ok ? malloc (total + 1) : NULL;
    if (ok && (!agg || hex_decode (aggs, agg, total) < 0))
        ok = 0;
    if (!ok) {
        free (agg);
        json_decref (lin);
        return loom_errset (error, EPROTO,
                            "%s: checkpoint state does not match this job (program, "
                            "aggregators or graph differ)",
                            path);
    }
    loom_ds_part_t *pr = loom_ds_part_read (ds, (uint32_t)g->rank, error);
    if (!pr) {
        free (agg);
        json_decref (lin);
        return -1;
    }
    const uint64_t *ids = loom_ds_part_column (pr, 0);
    const uint8_t *values = loom_ds_part_column (pr, 1);
    const int32_t *halted = loom_ds_part_column (pr, 2);
    const uint8_t *msgs = loom_ds_part_column (pr, 3);
    const uint64_t *moff = loom_ds_part_offsets (pr, 3);
    int match = loom_ds_part_nrecords (pr) == n
                && (n == 0 || memcmp (ids, g->ids, n * sizeof (uint64_t)) == 0);
    for (size_t v = 0; match && v < n; v++) {
        size_t len = (size_t)(moff[v + 1] - moff[v]);
        if (len % ms != 0 || (job->fast != FAST_NONE && len > ms))
            match = 0;
    }
    if (!match) {
        loom_ds_part_destroy (pr);
        free (agg);
        json_decref (lin);
        return loom_errset (error, EPROTO,
                            "%s: partition %d does not match the graph's vertices",
                            path, g->rank);
    }
    memcpy (job->values, values, n * job->vs);
    for (size_t v = 0; v < n; v++)
        job->halted[v] = halted[v] != 0;
    if (job->fast != FAST_NONE) {
        for (size_t v = 0; v < n; v++) {
            job->in_has[v] = moff[v + 1] > moff[v];
            if (job->in_has[v])
                memcpy (job->in + v * ms, msgs + moff[v], ms);
        }
    } else {
        size_t bytes = (size_t)(moff[n] - moff[0]);
        uint8_t *p = bytes ? realloc (job->in_list, bytes) : job->in_list;
        if (bytes && !p) {
            loom_ds_part_destroy (pr);
            free (agg);
            json_decref (lin);
            return loom_errset (error, ENOMEM, "out of memory restoring messages");
        }
        job->in_list = p;
        if (bytes > job->in_list_cap * ms)
            job->in_list_cap = bytes / ms;
        memcpy (job->in_list, msgs + moff[0], bytes);
        for (size_t v = 0; v <= n; v++)
            job->in_off[v] = (moff[v] - moff[0]) / ms;
    }
    size_t at = 0;
    for (size_t i = 0; i < job->naggs; i++) {
        memcpy (job->aggs[i].value, agg + at, job->aggs[i].size);
        at += job->aggs[i].size;
    }
    job->superstep = (uint64_t)superstep;
    job->active_prev = (uint64_t)active;
    job->pending_prev = (uint64_t)pending;
    job->stats.messages = (uint64_t)messages;
    job->stats.remote_records = (uint64_t)rrec;
    job->stats.remote_bytes = (uint64_t)rbytes;
    job->stats.supersteps = job->superstep;
    loom_ds_part_destroy (pr);
    free (agg);
    json_decref (lin);
    return 0;
}

int pregel_checkpoint_read (struct loom_pregel *job, loom_error_t *error)
{
    loom_comm_t *comm = job->g->comm;
    loom_error_t err;
    loom_ds_t *ds = loom_ds_open (loom_comm_mpi (comm), job->checkpoint, NULL, &err);
    /* No checkpoint (on rank 0's view) means start from scratch, everywhere. */
    uint64_t exists = ds != NULL || errno != ENOENT;
    if (loom_comm_allreduce_u64 (comm, &exists, 1, LOOM_OP_MIN, error) < 0) {
        loom_ds_close (ds);
        return -1;
    }
    if (!exists) {
        loom_ds_close (ds);
        return 0;
    }
    int failed = 0;
    if (!ds) {
        if (error)
            *error = err;
        failed = 1;
    } else {
        failed = restore (job, ds, error) < 0;
    }
    loom_ds_close (ds);
    if (pregel_agree (comm, failed, error) < 0)
        return -1;
    return 1;
}
