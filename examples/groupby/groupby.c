/* SPDX-License-Identifier: MIT */
/* A distributed group-by, as a framework writer builds it on the libcomm shuffle.
 *
 *   mpirun -n 4 loom-example-groupby data.csv    # lines "group,value"
 *
 * Every rank reads every size-th line, puts (group, {count, sum, min, max}) into a
 * shuffle with a combiner that merges aggregates, and receives the groups the hash
 * partitioner gives it, fully combined. Ranks then print their groups in turn,
 * sorted, as "group count sum min max".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/comm.h>

struct agg {
    int64_t count, sum, min, max;
};

/* Associative and commutative, as the shuffle requires: it runs before sending,
 * on each rank's records, and again on receive.
 */
static void merge (void *acc, const void *value, size_t width, void *arg)
{
    struct agg a, b;
    memcpy (&a, acc, sizeof (a)); /* values in the shuffle are not aligned */
    memcpy (&b, value, sizeof (b));
    a.count += b.count;
    a.sum += b.sum;
    a.min = b.min < a.min ? b.min : a.min;
    a.max = b.max > a.max ? b.max : a.max;
    memcpy (acc, &a, sizeof (a));
}

struct group {
    char *key;
    struct agg agg;
};

static int by_key (const void *x, const void *y)
{
    return strcmp (((const struct group *)x)->key, ((const struct group *)y)->key);
}

static int fail (loom_comm_t *comm, const char *what, const loom_error_t *e)
{
    fprintf (stderr, "groupby: %s: %s\n", what, e ? e->text : strerror (errno));
    loom_comm_destroy (comm);
    MPI_Abort (MPI_COMM_WORLD, 1);
    return 1;
}

int main (int argc, char **argv)
{
    MPI_Init (&argc, &argv);
    loom_error_t e;
    loom_comm_t *comm = loom_comm_create (MPI_COMM_WORLD, NULL, &e);
    if (!comm || argc != 2)
        return fail (comm, comm ? "usage: loom-example-groupby FILE.csv" : "comm", &e);
    int rank = loom_comm_rank (comm), size = loom_comm_size (comm);

    struct loom_shuffle_params p = LOOM_SHUFFLE_PARAMS_INIT;
    p.value_width = sizeof (struct agg); /* keys (group names) stay variable */
    p.combine = LOOM_COMBINE_CALLBACK;
    p.combine_fn = merge;
    loom_shuffle_t *sh = loom_shuffle_create (comm, &p, &e);
    if (!sh)
        return fail (comm, "shuffle", &e);

    FILE *f = fopen (argv[1], "r");
    if (!f)
        return fail (comm, argv[1], NULL);
    char *line = NULL;
    size_t cap = 0;
    for (long n = 0; getline (&line, &cap, f) > 0; n++) {
        char *comma = strchr (line, ',');
        if (n % size != rank || !comma)
            continue;
        int64_t v = strtoll (comma + 1, NULL, 10);
        struct agg a = {1, v, v, v};
        if (loom_shuffle_put (sh, line, (size_t)(comma - line), &a, sizeof (a), &e) < 0)
            return fail (comm, "put", &e);
    }
    free (line);
    fclose (f);
    if (loom_shuffle_finish (sh, &e) < 0) /* collective: the exchange happens here */
        return fail (comm, "finish", &e);

    struct group *g = NULL;
    size_t ng = 0;
    struct loom_record rec;
    while (loom_shuffle_next (sh, &rec, &e) == 1) {
        g = realloc (g, (ng + 1) * sizeof (*g));
        g[ng].key = strndup (rec.key, rec.key_len); /* each group arrives once */
        memcpy (&g[ng++].agg, rec.value, sizeof (struct agg));
    }
    qsort (g, ng, sizeof (*g), by_key);
    for (int turn = 0; turn < size; turn++) { /* ranks print in order */
        if (turn == rank)
            for (size_t i = 0; i < ng; i++)
                printf ("%s %lld %lld %lld %lld\n", g[i].key, (long long)g[i].agg.count,
                        (long long)g[i].agg.sum, (long long)g[i].agg.min,
                        (long long)g[i].agg.max);
        fflush (stdout);
        loom_comm_barrier (comm, NULL);
    }
    for (size_t i = 0; i < ng; i++)
        free (g[i].key);
    free (g);
    loom_shuffle_destroy (sh);
    loom_comm_destroy (comm);
    MPI_Finalize ();
    return 0;
}
