/* SPDX-License-Identifier: MIT */
/* The communicator: an MPI communicator with its node structure, found once at
 * creation so that algorithms can choose node-aware paths without more collectives.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/hugemem.h>

#include "internal.h"
#include "shuffle_impl.h"

/* libcomm's user of the huge-page allocator (shuffle_impl.h): LOOM_COMM_HUGEPAGES. */
struct loom_hugemem loom__comm_mem =
    LOOM_HUGEMEM_INIT ("LOOM_COMM_HUGEPAGES", LOOM__MEM_BIG);

static void comm_free (MPI_Comm *c)
{
    if (*c != MPI_COMM_NULL)
        MPI_Comm_free (c);
}

void loom_comm_destroy (loom_comm_t *c)
{
    if (!c)
        return;
    int saved = errno;
    if (c->node != MPI_COMM_NULL)
        loom__shwin_free_all (c);
    comm_free (&c->lane);
    comm_free (&c->leaders);
    comm_free (&c->node);
    comm_free (&c->mpi);
    free (c->node_of);
    free (c->node_base);
    free (c->node_cnt);
    free (c);
    errno = saved;
}

static double env_timeout (void)
{
    const char *s = getenv ("LOOM_COMM_TIMEOUT");
    if (!s || !*s)
        return 0;
    char *end;
    double t = strtod (s, &end);
    return (*end == '\0' && t > 0) ? t : 0;
}

/* LOOM_COMM_LOCAL_DIRECT=0 turns the shuffle's node-local direct path off (local.c). */
static int env_local_direct (void)
{
    const char *e = getenv ("LOOM_COMM_LOCAL_DIRECT");
    return !(e && strcmp (e, "0") == 0);
}

/* Number the nodes by their lowest rank: node_of[r] for every rank r. The same
 * allgather carries each rank's LOOM_COMM_LOCAL_DIRECT, so that every rank agrees on
 * the node-local direct path (on only where it is on everywhere) without a
 * collective of its own.
 */
static int find_nodes (loom_comm_t *c, loom_error_t *error)
{
    int rc, lowest = c->rank;
    rc = MPI_Allreduce (MPI_IN_PLACE, &lowest, 1, MPI_INT, MPI_MIN, c->node);
    if (rc != MPI_SUCCESS)
        return loom__mpi_error (rc, "comm: node leader", error);
    int *low = malloc (2 * sizeof (int) * (size_t)c->size);
    c->node_of = malloc (sizeof (int) * (size_t)c->size);
    if (!low || !c->node_of) {
        free (low);
        return loom_errset (error, ENOMEM, "comm: out of memory");
    }
    int mine[2] = {lowest, env_local_direct ()};
    rc = MPI_Allgather (mine, 2, MPI_INT, low, 2, MPI_INT, c->mpi);
    if (rc != MPI_SUCCESS) {
        free (low);
        return loom__mpi_error (rc, "comm: node map", error);
    }
    c->local_direct = true;
    for (int r = 0; r < c->size; r++) {
        c->local_direct = c->local_direct && low[2 * r + 1];
        low[r] = low[2 * r]; /* compact in place: r <= 2r */
    }
    /* A node's lowest rank is the first rank of that node seen in rank order, so
     * numbering the first occurrences in order numbers nodes by their lowest rank.
     */
    c->nnodes = 0;
    for (int r = 0; r < c->size; r++) {
        if (low[r] == r)
            c->nnodes++;
    }
    c->node_base = calloc ((size_t)c->nnodes, sizeof (int));
    c->node_cnt = calloc ((size_t)c->nnodes, sizeof (int));
    if (!c->node_base || !c->node_cnt) {
        free (low);
        return loom_errset (error, ENOMEM, "comm: out of memory");
    }
    int next = 0;
    for (int r = 0; r < c->size; r++) {
        if (low[r] == r) {
            c->node_base[next] = r;
            c->node_of[r] = next++;
        } else {
            c->node_of[r] = c->node_of[low[r]];
        }
        c->node_cnt[c->node_of[r]]++;
    }
    free (low);
    c->node_id = c->node_of[c->rank];
    c->uniform = true;
    for (int n = 1; n < c->nnodes; n++) {
        if (c->node_cnt[n] != c->node_cnt[0])
            c->uniform = false;
    }
    return 0;
}

loom_comm_t *loom_comm_create (MPI_Comm mpi_comm,
                               const struct loom_comm_params *params,
                               loom_error_t *error)
{
    struct loom_comm_params defaults = LOOM_COMM_PARAMS_INIT;
    int inited = 0, rc;
    MPI_Initialized (&inited);
    if (!inited) {
        loom_errset (error, EINVAL,
                     "comm: MPI is not initialised (call MPI_Init first)");
        return NULL;
    }
    if (mpi_comm == MPI_COMM_NULL) {
        loom_errset (error, EINVAL, "comm: communicator is MPI_COMM_NULL");
        return NULL;
    }
    if (!params)
        params = &defaults;
    if (params->node_size < 0) {
        loom_errset (error, EINVAL, "comm: params.node_size %d is negative",
                     params->node_size);
        return NULL;
    }
    if (!(params->timeout_sec >= 0)) {
        loom_errset (error, EINVAL, "comm: params.timeout_sec must be >= 0");
        return NULL;
    }
    loom_comm_t *c = calloc (1, sizeof (*c));
    if (!c) {
        loom_errset (error, ENOMEM, "comm: out of memory");
        return NULL;
    }
    c->mpi = c->node = c->leaders = c->lane = MPI_COMM_NULL;
    c->timeout_sec = params->timeout_sec > 0 ? params->timeout_sec : env_timeout ();
    if ((rc = MPI_Comm_dup (mpi_comm, &c->mpi)) != MPI_SUCCESS) {
        loom__mpi_error (rc, "comm: MPI_Comm_dup", error);
        goto error;
    }
    MPI_Comm_rank (c->mpi, &c->rank);
    MPI_Comm_size (c->mpi, &c->size);
    if (params->node_size > 0)
        rc = MPI_Comm_split (c->mpi, c->rank / params->node_size, c->rank, &c->node);
    else
        rc = MPI_Comm_split_type (c->mpi, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL,
                                  &c->node);
    if (rc != MPI_SUCCESS) {
        loom__mpi_error (rc, "comm: node communicator", error);
        goto error;
    }
    MPI_Comm_rank (c->node, &c->node_rank);
    MPI_Comm_size (c->node, &c->node_size);
    if (find_nodes (c, error) < 0)
        goto error;
    /* Ordered by rank, which orders the leaders by node id (nodes are numbered by
     * their lowest rank, which is their leader).
     */
    rc = MPI_Comm_split (c->mpi, c->node_rank == 0 ? 0 : MPI_UNDEFINED, c->rank,
                         &c->leaders);
    if (rc != MPI_SUCCESS) {
        loom__mpi_error (rc, "comm: leaders communicator", error);
        goto error;
    }
    rc = MPI_Comm_split (c->mpi, c->node_rank, c->node_id, &c->lane);
    if (rc != MPI_SUCCESS) {
        loom__mpi_error (rc, "comm: lane communicator", error);
        goto error;
    }
    return c;
error:
    loom_comm_destroy (c);
    return NULL;
}

int loom_comm_rank (const loom_comm_t *c)
{
    return c->rank;
}

int loom_comm_size (const loom_comm_t *c)
{
    return c->size;
}

int loom_comm_node_rank (const loom_comm_t *c)
{
    return c->node_rank;
}

int loom_comm_node_size (const loom_comm_t *c)
{
    return c->node_size;
}

int loom_comm_node_id (const loom_comm_t *c)
{
    return c->node_id;
}

int loom_comm_nnodes (const loom_comm_t *c)
{
    return c->nnodes;
}

int loom_comm_node_of (const loom_comm_t *c, int rank)
{
    if (rank < 0 || rank >= c->size)
        return -1;
    return c->node_of[rank];
}

bool loom_comm_is_uniform (const loom_comm_t *c)
{
    return c->uniform;
}

MPI_Comm loom_comm_mpi (const loom_comm_t *c)
{
    return c->mpi;
}

MPI_Comm loom_comm_node (const loom_comm_t *c)
{
    return c->node;
}

MPI_Comm loom_comm_leaders (const loom_comm_t *c)
{
    return c->leaders;
}

MPI_Comm loom_comm_lane (const loom_comm_t *c)
{
    return c->lane;
}

double loom_comm_timeout (const loom_comm_t *c)
{
    return c->timeout_sec;
}
