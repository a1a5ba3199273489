/* SPDX-License-Identifier: MIT */
/* Loading a graph from an edge dataset ("src:u64,dst:u64[,weight:f64]").
 *
 * When the dataset is hash-partitioned by src with the graph's seed and its partition
 * count is a multiple of the ranks, loom_ds_assign() gives each rank exactly the
 * edges it owns and they are not shuffled again (graph-build and `loom gen` write
 * such datasets). Otherwise partitions are spread over the ranks and the edges are
 * routed to their owners by the shuffle.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/dataset.h>
#include <loom/error.h>

#include <loom/capture.h>

#include "internal.h"

/* Check the schema; returns 1 (weighted), 0 (unweighted), or -1 with 'error' set. */
static int
check_schema (const char *path, const loom_ds_schema_t *s, loom_error_t *error)
{
    size_t nc = loom_ds_schema_ncols (s);
    static const char *const want[] = {"src", "dst", "weight"};
    static const loom_ds_type_t types[] = {LOOM_DS_UINT64, LOOM_DS_UINT64,
                                           LOOM_DS_FLOAT64};
    static const char *const spell[] = {"src:u64", "dst:u64", "weight:f64"};
    if (nc < 2 || nc > 3) {
        char *f = loom_ds_schema_format (s);
        loom_errset (error, EPROTO,
                     "%s: not an edge dataset: schema is '%s', expected "
                     "'src:u64,dst:u64' with an optional 'weight:f64'",
                     path, f ? f : "?");
        free (f);
        return -1;
    }
    for (size_t i = 0; i < nc; i++) {
        if (strcmp (loom_ds_schema_name (s, i), want[i]) != 0
            || loom_ds_schema_type (s, i) != types[i]) {
            char *f = loom_ds_schema_format (s);
            loom_errset (
                error, EPROTO,
                "%s: not an edge dataset: column %zu is '%s' in '%s', expected "
                "'%s'",
                path, i + 1, loom_ds_schema_name (s, i), f ? f : "?", spell[i]);
            free (f);
            return -1;
        }
    }
    return nc == 3;
}

/* Read this rank's partitions into freshly allocated arrays. */
static int read_edges (loom_ds_t *ds,
                       uint32_t first,
                       uint32_t count,
                       int weighted,
                       size_t *m,
                       uint64_t **src,
                       uint64_t **dst,
                       double **w,
                       loom_error_t *error)
{
    size_t total = 0;
    for (uint32_t p = first; p < first + count; p++)
        total += loom_ds_part_records (ds, p);
    *src = malloc ((total + 1) * sizeof (uint64_t));
    *dst = malloc ((total + 1) * sizeof (uint64_t));
    *w = weighted ? malloc ((total + 1) * sizeof (double)) : NULL;
    if (!*src || !*dst || (weighted && !*w))
        return loom_errset (error, ENOMEM, "out of memory for %zu edges", total);
    size_t at = 0;
    for (uint32_t p = first; p < first + count; p++) {
        loom_ds_part_t *pr = loom_ds_part_read (ds, p, error);
        if (!pr)
            return -1;
        size_t n = loom_ds_part_nrecords (pr);
        if (at + n > total) {
            loom_ds_part_destroy (pr);
            return loom_errset (error, EPROTO,
                                "partition %u has more records than its "
                                "manifest says",
                                p);
        }
        memcpy (*src + at, loom_ds_part_column (pr, 0), n * sizeof (uint64_t));
        memcpy (*dst + at, loom_ds_part_column (pr, 1), n * sizeof (uint64_t));
        if (weighted)
            memcpy (*w + at, loom_ds_part_column (pr, 2), n * sizeof (double));
        at += n;
        loom_ds_part_destroy (pr);
    }
    *m = at;
    return 0;
}

loom_pregel_graph_t *
loom_pregel_graph_load (MPI_Comm comm,
                        const char *path,
                        const struct loom_pregel_graph_params *params,
                        loom_error_t *error)
{
    struct loom_pregel_graph_params p = LOOM_PREGEL_GRAPH_PARAMS_INIT;
    if (params)
        p = *params;
    if (!path) {
        loom_errset (error, EINVAL, "no dataset path");
        return NULL;
    }
    if (loom_replay_dir ()) /* the captured partition stands for the dataset */
        return pregel_replay_graph (error);
    if (p.partition != LOOM_PREGEL_PART_HASH && p.partition != LOOM_PREGEL_PART_RANGE) {
        loom_errset (error, EINVAL, "unknown partitioning %d", (int)p.partition);
        return NULL;
    }
    loom_comm_t *lc = loom_comm_create (comm, NULL, error);
    if (!lc)
        return NULL;
    int size = loom_comm_size (lc);
    uint64_t *src = NULL, *dst = NULL;
    double *w = NULL;
    size_t m = 0;
    int weighted = 0, prerouted = 0, failed = 0;
    loom_ds_t *ds = loom_ds_open (loom_comm_mpi (lc), path, NULL, error);
    if (!ds)
        failed = 1;
    if (!failed && (weighted = check_schema (path, loom_ds_schema (ds), error)) < 0)
        failed = 1;
    if (!failed) {
        uint32_t first, count;
        loom_ds_assign (ds, &first, &count);
        prerouted = p.partition == LOOM_PREGEL_PART_HASH
                    && !(p.flags & LOOM_PREGEL_SYMMETRIC)
                    && loom_ds_key_column (ds) == 0
                    && loom_ds_aligned (ds, (uint32_t)size, p.seed);
        if (read_edges (ds, first, count, weighted, &m, &src, &dst, &w, error) < 0)
            failed = 1;
    }
    loom_ds_close (ds);
    if (pregel_agree (lc, failed, error) < 0)
        goto error;
    /* Every rank sees the same dataset, hence the same 'prerouted' and 'weighted'. */
    return pregel_graph_build_ex (lc, m, src, dst, w, weighted, prerouted, &p, error);
error:
    free (src);
    free (dst);
    free (w);
    loom_comm_destroy (lc);
    return NULL;
}
