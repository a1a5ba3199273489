/* SPDX-License-Identifier: MIT */
/* loom gen rmat | urand: synthetic graphs written as edge datasets, in parallel.
 *
 * Edge e is a pure function of (seed, e) (loom_pregel_gen_edges()), so rank r
 * generates edges [r*m/N, (r+1)*m/N) and the graph is the same at any N. Edges then
 * go through libcomm's shuffle to the rank writing their partition: the dataset is
 * hash-partitioned by src with --hash-seed (default 0, Pregel's default), so a Pregel
 * job with as many ranks as partitions (or a divisor) reads it without reshuffling.
 * Within a partition, edges are in edge order, so the bytes do not depend on N.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/comm.h>
#include <loom/dataset.h>
#include <loom/error.h>
#include <loom/hash.h>
#include <loom/pregel.h>

#include "gen.h"

struct graph_opts {
    struct loom_pregel_gen_params p;
    const char *output;
    uint64_t nparts, hash_seed;
    int weighted, force, quiet;
};

static void usage (const char *kind)
{
    printf (
        "Usage: loom gen %s --scale S [--edgefactor F] [--seed X] --output DATASET\n"
        "       [--weighted] [--partitions P] [--hash-seed H] [--force] [-n N]\n\n"
        "%s\n"
        "Writes the edge dataset src:u64,dst:u64[,weight:f64] hash-partitioned by\n"
        "src. The same options give the same dataset at any number of ranks.\n\n"
        "Options:\n"
        "  --scale S        2^S vertex ids (1..40)\n"
        "  --edgefactor F   F * 2^S edges (default 16)\n"
        "  --seed X         generator seed (default 1)\n"
        "  --weighted       add a weight uniform in [0, 1) to every edge\n"
        "  --partitions P   partitions (default: the number of ranks)\n"
        "  --hash-seed H    seed of the src hash partitioner (default 0)\n"
        "  --output PATH    dataset to write (replaced only with --force)\n"
        "  --force          replace an existing dataset\n"
        "  --quiet          print nothing but errors\n",
        kind,
        strcmp (kind, "rmat") == 0
            ? "Graph500 Kronecker (R-MAT) graph, A=0.57 B=0.19 C=0.19, vertex ids\n"
              "scrambled as Graph500 does; self-loops and duplicates are kept."
            : "Uniform random graph: both endpoints uniform in [0, 2^S).");
}

/* The rank that writes partition p. */
static int writer_of (uint64_t p, int size)
{
    return (int)(p % (uint64_t)size);
}

struct part_arg {
    uint64_t nparts, seed;
};

static int partition_fn (const struct loom_record *rec, int nranks, void *arg)
{
    const struct part_arg *pa = arg;
    uint32_t p = loom_hash_partition (rec->key, 8, pa->seed, (uint32_t)pa->nparts);
    return writer_of (p, nranks);
}

/* Received records, packed src||dst[||w]. */
struct recv_buf {
    uint8_t *p;
    size_t len, cap;
};

static int on_batch (const struct loom_batch *b, void *arg)
{
    struct recv_buf *r = arg;
    if (r->len + b->bytes > r->cap) {
        size_t cap = r->cap ? r->cap : 1 << 20;
        while (cap < r->len + b->bytes)
            cap *= 2;
        uint8_t *p = realloc (r->p, cap);
        if (!p) {
            errno = ENOMEM;
            return -1;
        }
        r->p = p;
        r->cap = cap;
    }
    memcpy (r->p + r->len, b->data, b->bytes);
    r->len += b->bytes;
    return 0;
}

/* Generate this rank's slice and shuffle it to the partition writers. */
static int generate (const struct graph_opts *o,
                     loom_comm_t *comm,
                     struct recv_buf *recv,
                     loom_error_t *error)
{
    int rank = loom_comm_rank (comm), size = loom_comm_size (comm);
    size_t rec = o->weighted ? 32 : 24; /* edge index || src || dst [|| w] */
    struct part_arg pa = {o->nparts, o->hash_seed};
    struct loom_shuffle_params sp = LOOM_SHUFFLE_PARAMS_INIT;
    /* Key: src; value: edge index (to restore edge order), dst, weight. */
    sp.key_width = 8;
    sp.value_width = rec - 8;
    sp.partition = LOOM_PARTITION_CALLBACK;
    sp.partition_fn = partition_fn;
    sp.partition_arg = &pa;
    sp.mem_bytes = 1ULL << 30;
    sp.batch_bytes = 64ULL << 20;
    loom_shuffle_t *sh = loom_shuffle_create (comm, &sp, error);
    if (!sh)
        return -1;
    if (loom_shuffle_set_recv (sh, on_batch, recv) < 0) {
        loom_shuffle_destroy (sh);
        return loom_errset (error, EINVAL, "cannot set the receive callback");
    }
    uint64_t m = loom_pregel_gen_num_edges (&o->p);
    uint64_t first = (uint64_t)((unsigned __int128)m * (unsigned)rank / (unsigned)size);
    uint64_t last =
        (uint64_t)((unsigned __int128)m * ((unsigned)rank + 1) / (unsigned)size);
    enum { CHUNK = 1 << 16 };
    uint64_t *src = malloc (CHUNK * 8), *dst = malloc (CHUNK * 8);
    double *w = malloc (CHUNK * 8);
    uint8_t *buf = malloc (CHUNK * rec);
    int failed = !src || !dst || !w || !buf;
    if (failed)
        loom_errset (error, ENOMEM, "out of memory");
    for (uint64_t e = first; !failed && e < last; e += CHUNK) {
        size_t k = last - e < CHUNK ? (size_t)(last - e) : CHUNK;
        if (loom_pregel_gen_edges (&o->p, e, k, src, dst, o->weighted ? w : NULL, error)
            < 0) {
            failed = 1;
            break;
        }
        for (size_t i = 0; i < k; i++) {
            uint8_t *r = buf + i * rec;
            uint64_t idx = e + i;
            memcpy (r, &src[i], 8);
            memcpy (r + 8, &idx, 8);
            memcpy (r + 16, &dst[i], 8);
            if (o->weighted)
                memcpy (r + 24, &w[i], 8);
        }
        failed = loom_shuffle_put_fixed (sh, buf, k, error) < 0;
    }
    /* finish is collective: a rank that failed still calls it. */
    if (loom_shuffle_finish (sh, failed ? NULL : error) < 0)
        failed = 1;
    loom_shuffle_destroy (sh);
    free (src);
    free (dst);
    free (w);
    free (buf);
    return failed ? -1 : 0;
}

struct sort_item {
    uint64_t part, idx;
    size_t at;
};

static int item_cmp (const void *x, const void *y)
{
    const struct sort_item *a = x, *b = y;
    if (a->part != b->part)
        return a->part < b->part ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Write this rank's partitions: records grouped by partition, in edge order. */
static int write_parts (const struct graph_opts *o,
                        loom_comm_t *comm,
                        loom_ds_writer_t *w,
                        struct recv_buf *recv,
                        loom_error_t *error)
{
    int rank = loom_comm_rank (comm), size = loom_comm_size (comm);
    size_t rec = o->weighted ? 32 : 24, n = recv->len / rec;
    struct sort_item *items = malloc ((n + 1) * sizeof (*items));
    uint64_t *src = malloc ((n + 1) * 8), *dst = malloc ((n + 1) * 8);
    double *wt = malloc ((n + 1) * 8);
    int rc = -1;
    if (!items || !src || !dst || !wt) {
        loom_errset (error, ENOMEM, "out of memory for %zu edges", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = recv->p + i * rec;
        items[i].part = loom_hash_partition (r, 8, o->hash_seed, (uint32_t)o->nparts);
        memcpy (&items[i].idx, r + 8, 8);
        items[i].at = i;
    }
    qsort (items, n, sizeof (*items), item_cmp);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = recv->p + items[i].at * rec;
        memcpy (&src[i], r, 8);
        memcpy (&dst[i], r + 16, 8);
        if (o->weighted)
            memcpy (&wt[i], r + 24, 8);
    }
    size_t at = 0;
    for (uint64_t p = 0; p < o->nparts; p++) {
        if (writer_of (p, size) != rank)
            continue;
        size_t start = at;
        while (at < n && items[at].part == p)
            at++;
        struct loom_ds_colbuf cols[3] = {
            {src + start, NULL}, {dst + start, NULL}, {wt + start, NULL}};
        if (loom_ds_write_partition (w, (uint32_t)p, at - start, cols, error) < 0)
            goto done;
    }
    rc = 0;
done:
    free (items);
    free (src);
    free (dst);
    free (wt);
    return rc;
}

static int graph_main (const struct gen_kind *kind, MPI_Comm mpi, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"scale", required_argument, NULL, 's'},
        {"edgefactor", required_argument, NULL, 'e'},
        {"seed", required_argument, NULL, 'S'},
        {"weighted", no_argument, NULL, 'w'},
        {"partitions", required_argument, NULL, 'p'},
        {"hash-seed", required_argument, NULL, 'H'},
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct graph_opts o = {.p = LOOM_PREGEL_GEN_PARAMS_INIT};
    o.p.kind =
        strcmp (kind->name, "rmat") == 0 ? LOOM_PREGEL_GEN_RMAT : LOOM_PREGEL_GEN_URAND;
    o.p.scale = 0;
    int rank, size, c, have_scale = 0;
    MPI_Comm_rank (mpi, &rank);
    MPI_Comm_size (mpi, &size);
    optind = 1;
    opterr = 0;
    uint64_t v;
    while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
        case 'e':
        case 'S':
        case 'p':
        case 'H':
            if (gen_parse_u64 (optarg, &v) < 0) {
                /* Name the option, not argv[optind - 1]: that is the value itself
                 * when it came as a separate word ("--scale x").
                 */
                const char *name = "?";
                for (const struct option *lo = longopts; lo->name; lo++)
                    if (lo->val == c)
                        name = lo->name;
                return gen_error (kind, mpi, "option '--%s' needs a number, not '%s'",
                                  name, optarg);
            }
            if (c == 's')
                o.p.scale = v > 64 ? 64 : (unsigned)v, have_scale = 1;
            else if (c == 'e')
                o.p.edgefactor = v > 4096 ? 4096 : (unsigned)v;
            else if (c == 'S')
                o.p.seed = v;
            else if (c == 'p')
                o.nparts = v;
            else
                o.hash_seed = v;
            break;
        case 'w':
            o.weighted = 1;
            break;
        case 'o':
            o.output = optarg;
            break;
        case 'f':
            o.force = 1;
            break;
        case 'q':
            o.quiet = 1;
            break;
        case 'h':
            if (rank == 0)
                usage (kind->name);
            return 0;
        default:
            return gen_error (kind, mpi, "unknown option '%s' (see --help)",
                              argv[optind - 1]);
        }
    }
    if (optind < argc)
        return gen_error (kind, mpi, "unexpected argument '%s'", argv[optind]);
    if (!have_scale)
        return gen_error (kind, mpi, "no --scale given");
    if (!o.output)
        return gen_error (kind, mpi, "no --output given");
    loom_error_t err;
    if (loom_pregel_gen_check (&o.p, &err) < 0)
        return gen_error (kind, mpi, "%s", err.text);
    if (o.nparts == 0)
        o.nparts = (uint64_t)size;
    if (o.nparts > 65536)
        return gen_error (kind, mpi, "--partitions is at most 65536");

    loom_comm_t *comm = loom_comm_create (mpi, NULL, &err);
    if (!comm)
        return gen_error (kind, mpi, "%s", err.text);
    loom_ds_schema_t *schema = loom_ds_schema_parse (
        o.weighted ? "src:u64,dst:u64,weight:f64" : "src:u64,dst:u64", &err);
    char params[512];
    snprintf (params, sizeof (params),
              "{\"kind\":\"%s\",\"scale\":%u,\"edgefactor\":%u,\"seed\":%" PRIu64
              ",\"a\":%.17g,\"b\":%.17g,\"c\":%.17g,\"weighted\":%s,"
              "\"hash_seed\":%" PRIu64 "}",
              kind->name, o.p.scale, o.p.edgefactor, o.p.seed, o.p.a, o.p.b, o.p.c,
              o.weighted ? "true" : "false", o.hash_seed);
    const char **largv = calloc ((size_t)argc + 2, sizeof (char *));
    struct recv_buf recv = {0};
    loom_ds_writer_t *w = NULL;
    int status = 1;
    double t0 = MPI_Wtime ();
    if (!schema || !largv) {
        gen_error (kind, mpi, "out of memory");
        goto done;
    }
    largv[0] = "gen";
    for (int i = 0; i < argc; i++)
        largv[i + 1] = argv[i];
    struct loom_ds_lineage lin = LOOM_DS_LINEAGE_INIT;
    lin.producer = "loom-gen";
    lin.argv = largv;
    lin.params_json = params;
    lin.dep = LOOM_DS_DEP_WIDE;
    struct loom_ds_create_params cp = LOOM_DS_CREATE_PARAMS_INIT;
    cp.nparts = (uint32_t)o.nparts;
    cp.partitioner = LOOM_DS_PART_HASH;
    cp.key = "src";
    cp.seed = o.hash_seed;
    cp.lineage = &lin;
    cp.flags = o.force ? LOOM_DS_OVERWRITE : 0;
    if (!(w = loom_ds_create (mpi, o.output, schema, &cp, &err))) {
        gen_error (kind, mpi, "%s", err.text);
        goto done;
    }
    if (generate (&o, comm, &recv, &err) < 0) {
        gen_error (kind, mpi, "%s", err.text);
        goto done;
    }
    char msg[256] = "";
    int failed = write_parts (&o, comm, w, &recv, &err) < 0;
    if (failed)
        snprintf (msg, sizeof (msg), "%s", err.text);
    free (recv.p);
    recv.p = NULL;
    if (gen_any_failed (mpi, failed, msg, sizeof (msg))) {
        gen_error (kind, mpi, "%s", msg);
        goto done;
    }
    if (loom_ds_commit (w, &err) < 0) {
        gen_error (kind, mpi, "%s", err.text);
        goto done;
    }
    if (!o.quiet && rank == 0)
        printf ("gen %s: %" PRIu64 " edges on 2^%u vertex ids in %" PRIu64
                " partitions, %s, %.2f s on %d ranks\n",
                kind->name, loom_pregel_gen_num_edges (&o.p), o.p.scale, o.nparts,
                o.output, MPI_Wtime () - t0, size);
    status = 0;
done:
    loom_ds_writer_destroy (w);
    loom_ds_schema_destroy (schema);
    free (largv);
    free (recv.p);
    loom_comm_destroy (comm);
    return status;
}

const struct gen_kind gen_kind_rmat = {
    .name = "rmat",
    .summary = "Graph500 Kronecker graph as an edge dataset (--scale S --edgefactor F)",
    .main = graph_main,
};

const struct gen_kind gen_kind_urand = {
    .name = "urand",
    .summary = "Uniform random graph as an edge dataset (--scale S --edgefactor F)",
    .main = graph_main,
};
