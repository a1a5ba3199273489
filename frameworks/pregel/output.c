/* SPDX-License-Identifier: MIT */
/* Writing vertex values as a dataset, one partition per rank, partitioned like the
 * graph so a later job with as many ranks reads its own vertices without a shuffle.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <loom/dataset.h>
#include <loom/error.h>

#include "internal.h"

/* Create params partitioned like the graph, by column 'key'. 'splitters' receives the
 * range splitters (caller frees) for RANGE.
 */
int pregel_ds_params (const struct loom_pregel_graph *g,
                      struct loom_ds_create_params *cp,
                      uint64_t **splitters)
{
    cp->nparts = (uint32_t)g->size;
    cp->key = "id";
    *splitters = NULL;
    if (g->part == LOOM_PREGEL_PART_HASH) {
        cp->partitioner = LOOM_DS_PART_HASH;
        cp->seed = g->seed;
        return 0;
    }
    cp->partitioner = LOOM_DS_PART_RANGE;
    uint64_t *s = malloc ((size_t)g->size * sizeof (uint64_t));
    if (!s)
        return -1;
    /* Rank r holds ids v with floor(v * size / N) == r: splitter r = ceil(r*N/size). */
    for (int r = 1; r < g->size; r++) {
        unsigned __int128 x = (unsigned __int128)g->id_limit * (unsigned)r;
        s[r - 1] = (uint64_t)((x + (unsigned)g->size - 1) / (unsigned)g->size);
    }
    cp->splitters.data = s;
    *splitters = s;
    return 0;
}

int loom_pregel_write (loom_pregel_t *job,
                       const char *path,
                       const struct loom_ds_lineage *lineage,
                       loom_error_t *error)
{
    if (!job || !path)
        return loom_errset (error, EINVAL, "no job or path");
    const struct loom_pregel_graph *g = job->g;
    loom_ds_schema_t *s = loom_ds_schema_create ();
    loom_ds_writer_t *w = NULL;
    uint64_t *splitters = NULL;
    int rc = -1;
    if (!s) {
        loom_errset (error, ENOMEM, "out of memory");
        goto done;
    }
    loom_ds_type_t vt = LOOM_DS_FIXSTR;
    size_t width = job->vs;
    switch (job->prog.value_type) {
    case LOOM_PREGEL_F64:
        vt = LOOM_DS_FLOAT64, width = 0;
        break;
    case LOOM_PREGEL_I64:
        vt = LOOM_DS_INT64, width = 0;
        break;
    case LOOM_PREGEL_U64:
        vt = LOOM_DS_UINT64, width = 0;
        break;
    case LOOM_PREGEL_BYTES:
        break;
    }
    if (loom_ds_schema_add (s, "id", LOOM_DS_UINT64, 0, error) < 0
        || loom_ds_schema_add (s, "value", vt, width, error) < 0)
        goto done;
    struct loom_ds_create_params cp = LOOM_DS_CREATE_PARAMS_INIT;
    if (pregel_ds_params (g, &cp, &splitters) < 0) {
        loom_errset (error, ENOMEM, "out of memory");
        goto done;
    }
    cp.lineage = lineage;
    cp.flags = LOOM_DS_OVERWRITE;
    /* create and commit are collective and agree on their outcome by themselves. */
    if (!(w = loom_ds_create (loom_comm_mpi (g->comm), path, s, &cp, error)))
        goto done;
    struct loom_ds_colbuf cols[2] = {{g->ids, NULL}, {job->values, NULL}};
    int failed = loom_ds_write_partition (w, (uint32_t)g->rank, g->n, cols, error) < 0;
    loom_error_t mine;
    if (failed && error)
        mine = *error;
    if (loom_ds_commit (w, error) < 0) {
        if (failed && error)
            *error = mine; /* the root cause, not "partition missing" */
        goto done;
    }
    rc = 0;
done:
    loom_ds_writer_destroy (w);
    loom_ds_schema_destroy (s);
    free (splitters);
    return rc;
}
