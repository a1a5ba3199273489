/* SPDX-License-Identifier: MIT */
/* Moving a superstep's messages between ranks, and grouping the listed inbox.
 *
 * Combined path: each ghost slot that received messages this superstep holds one
 * already-combined message; it goes to the ghost's owner as one fixed-width record
 * (key: owner << 32 | owner's local index; value: the message), packed in a buffer
 * and put with loom_shuffle_put_fixed(). The partitioner reads the owner from the
 * key, so there is no lookup and no per-record call on the send side. The receiver
 * folds each record into its local slot.
 *
 * Dense broadcasts (every vertex with out-edges broadcast, on every rank: PageRank)
 * skip the shuffle: which of my vertices are mirrored on which rank, and in which
 * mirror slot there, was fixed when the graph was built (pull.c), so the messages go
 * bare, in that order, through a loom_exchange plan straight into the receivers'
 * mirror slots: no keys, no partitioning, no decoding, half the bytes. Whether a
 * superstep is dense is agreed on by all ranks (one small allreduce), since both the
 * plan and the shuffle are collective; sparse supersteps (BFS or SSSP frontiers) send
 * their mirrors' records through the shuffle as below, and the shuffle is skipped
 * when no rank has a record for it.
 *
 * Listed path: every message to a ghost slot is such a record; the receiver appends
 * it to the list, and the list's local messages are then grouped by vertex with a
 * counting sort.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/error.h>

#include "internal.h"

static int owner_from_key (const struct loom_record *rec, int nranks, void *arg)
{
    uint64_t key;
    memcpy (&key, rec->key, 8);
    return (int)(key >> 32);
}

static int recv_edge (const struct loom_batch *b, void *arg)
{
    struct loom_pregel *job = arg;
    const size_t rec = 8 + job->ms;
    const uint8_t *p = b->data;
    for (uint64_t i = 0; i < b->nrecords; i++, p += rec) {
        uint64_t key;
        memcpy (&key, p, 8);
        if (key & PREGEL_MIRROR_TAG) {
            /* A mirror's broadcast, pulled by pregel_gather(). */
            size_t slot = job->g->n + (key & (PREGEL_MIRROR_TAG - 1));
            if (slot >= job->g->n + job->g->nm) {
                errno = EPROTO;
                return -1;
            }
            pregel_copy_msg (job->bcast + slot * job->ms, p + 8, job->ms);
            job->bflag[slot] = 1;
            continue;
        }
        uint32_t lid = (uint32_t)key;
        if (lid >= job->g->n) {
            errno = EPROTO;
            return -1;
        }
        pregel_deliver_local (job, lid, p + 8);
    }
    return job->failed ? (errno = job->failed, -1) : 0;
}

static int recv_far (const struct loom_batch *b, void *arg)
{
    struct loom_pregel *job = arg;
    const size_t rec = 8 + job->ms;
    const uint8_t *p = b->data;
    for (uint64_t i = 0; i < b->nrecords; i++, p += rec) {
        uint64_t id;
        memcpy (&id, p, 8);
        int64_t lid = pregel_local_index (job->g, id);
        if (lid < 0)
            job->dropped++;
        else
            pregel_deliver_local (job, (size_t)lid, p + 8);
    }
    return job->failed ? (errno = job->failed, -1) : 0;
}

static loom_shuffle_t *
make_shuffle (struct loom_pregel *job, int far, loom_error_t *error)
{
    struct loom_shuffle_params sp = LOOM_SHUFFLE_PARAMS_INIT;
    sp.key_width = 8;
    sp.value_width = job->ms;
    sp.mem_bytes = 1ULL << 30;
    sp.batch_bytes = 64ULL << 20;
    if (far) {
        /* Far records are put with loom_shuffle_put_to() to the owner we compute. */
        sp.partition = LOOM_PARTITION_HASH;
        sp.hash_seed = job->g->seed;
    } else {
        sp.partition = LOOM_PARTITION_CALLBACK;
        sp.partition_fn = owner_from_key;
    }
    loom_shuffle_t *sh = loom_shuffle_create (job->g->comm, &sp, error);
    if (!sh)
        return NULL;
    if (loom_shuffle_set_recv (sh, far ? recv_far : recv_edge, job) < 0) {
        loom_errprintf (error, "cannot set the receive callback");
        loom_shuffle_destroy (sh);
        return NULL;
    }
    return sh;
}

/* Pack and put the records to other ranks; with 'mirrors' also the broadcasts of
 * this superstep to mirrors.
 */
static int put_edge_records (struct loom_pregel *job, bool mirrors, loom_error_t *error)
{
    const struct loom_pregel_graph *g = job->g;
    const size_t rec = 8 + job->ms;
    enum { CHUNK = 4096 };
    uint8_t *buf = malloc (CHUNK * rec);
    size_t nb = 0;
    if (!buf)
        return loom_errset (error, ENOMEM, "out of memory sending messages");
#define FLUSH()                                                                        \
    do {                                                                               \
        if (nb > 0 && loom_shuffle_put_fixed (job->sh_edge, buf, nb, error) < 0)       \
            goto error;                                                                \
        nb = 0;                                                                        \
    } while (0)
    if (job->fast != FAST_NONE) {
        for (int p = 0; p < g->size; p++) {
            uint64_t hi = (uint64_t)p << 32;
            for (size_t gi = g->peer_off[p]; gi < g->peer_off[p + 1]; gi++) {
                size_t slot = g->n + gi;
                if (!job->out_has[slot])
                    continue;
                uint64_t key = hi | g->ghost_rlid[gi];
                uint8_t *r = buf + nb * rec;
                memcpy (r, &key, 8);
                pregel_copy_msg (r + 8, job->out + slot * job->ms, job->ms);
                if (++nb == CHUNK)
                    FLUSH ();
            }
        }
        if (mirrors) {
            /* Broadcasts once per (vertex, rank with its in-edges). */
            for (int p = 0; p < g->size; p++) {
                uint64_t hi = ((uint64_t)p << 32) | PREGEL_MIRROR_TAG;
                for (size_t k = g->mo_off[p]; k < g->mo_off[p + 1]; k++) {
                    uint32_t u = g->mo_lid[k];
                    if (!job->bflag[u])
                        continue;
                    uint64_t key = hi | g->mo_slot[k];
                    uint8_t *r = buf + nb * rec;
                    memcpy (r, &key, 8);
                    pregel_copy_msg (r + 8, job->bcast + (size_t)u * job->ms, job->ms);
                    if (++nb == CHUNK)
                        FLUSH ();
                }
            }
        }
    } else {
        for (size_t i = 0; i < job->list_n; i++) {
            uint32_t slot = job->list_slot[i];
            if (slot < g->n)
                continue;
            size_t gi = slot - g->n;
            /* The owner of ghost gi: the peer whose range holds it. */
            size_t lo = 0, hi = (size_t)g->size;
            while (hi - lo > 1) {
                size_t mid = (lo + hi) / 2;
                if (g->peer_off[mid] <= gi)
                    lo = mid;
                else
                    hi = mid;
            }
            uint64_t key = ((uint64_t)lo << 32) | g->ghost_rlid[gi];
            uint8_t *r = buf + nb * rec;
            memcpy (r, &key, 8);
            memcpy (r + 8, job->list_msg + i * job->ms, job->ms);
            if (++nb == CHUNK)
                FLUSH ();
        }
    }
    FLUSH ();
#undef FLUSH
    free (buf);
    return 0;
error:
    free (buf);
    return -1;
}

int pregel_exchange_plan (struct loom_pregel *job, loom_error_t *error)
{
    const struct loom_pregel_graph *g = job->g;
    const size_t size = (size_t)g->size;
    uint64_t *sc = malloc (2 * size * sizeof (uint64_t));
    int failed = !sc;
    if (failed)
        loom_errset (error, ENOMEM, "out of memory for the mirror exchange");
    if (pregel_agree (g->comm, failed, error) < 0) {
        free (sc);
        return -1;
    }
    uint64_t *rc = sc + size;
    for (size_t p = 0; p < size; p++) {
        sc[p] = g->mo_off[p + 1] - g->mo_off[p];
        rc[p] = g->mi_off[p + 1] - g->mi_off[p];
    }
    job->bx = loom_exchange_create (g->comm, job->ms, sc, rc, NULL, error);
    free (sc);
    return job->bx ? 0 : -1;
}

/* Send every broadcast to its mirrors through the fixed plan, and receive the
 * mirrors' messages into their slots. Collective.
 */
static int exchange_dense (struct loom_pregel *job, loom_error_t *error)
{
    const struct loom_pregel_graph *g = job->g;
    const size_t ms = job->ms;
    for (int p = 0; p < g->size; p++) {
        if (p == g->rank)
            continue; /* no mirrors on the own rank */
        uint8_t *out = loom_exchange_send_buffer (job->bx, p);
        const uint32_t *lid = g->mo_lid + g->mo_off[p];
        const size_t k = g->mo_off[p + 1] - g->mo_off[p];
        if (ms == 8) {
            const uint64_t *restrict bc = (const uint64_t *)job->bcast;
            uint64_t *restrict o = (uint64_t *)out;
            for (size_t i = 0; i < k; i++)
                o[i] = bc[lid[i]];
        } else {
            for (size_t i = 0; i < k; i++)
                memcpy (out + i * ms, job->bcast + (size_t)lid[i] * ms, ms);
        }
    }
    if (loom_exchange_run (job->bx, job->bcast + g->n * ms, error) < 0)
        return -1;
    memset (job->bflag + g->n, 1, g->nm);
    job->stats.remote_records += g->mo_off[g->size];
    job->stats.remote_bytes += g->mo_off[g->size] * ms;
    return 0;
}

/* Does this rank have records for the shuffle: messages to ghosts (combined path)
 * or listed messages to ghosts?
 */
static bool has_ghost_messages (const struct loom_pregel *job)
{
    const struct loom_pregel_graph *g = job->g;
    if (job->fast != FAST_NONE)
        return g->ng > 0 && memchr (job->out_has + g->n, 1, g->ng) != NULL;
    for (size_t i = 0; i < job->list_n; i++)
        if (job->list_slot[i] >= g->n)
            return true;
    return false;
}

int pregel_exchange (struct loom_pregel *job, loom_error_t *error)
{
    const struct loom_pregel_graph *g = job->g;
    int failed = 0;
    bool dense = false, shuffle = true, mirrors = job->pull;
    if (job->fast != FAST_NONE) {
        /* Agree on the kind of superstep: dense only when every rank is (a rank
         * whose vertices have no out-edges is), and the shuffle only when some rank
         * has a record for it.
         */
        uint64_t v[3] = {
            job->nbcast != g->n_with_out,
            has_ghost_messages (job),
            job->pull && g->mo_off[g->size] > 0,
        };
        if (loom_comm_allreduce_u64 (g->comm, v, 3, LOOM_OP_MAX, error) < 0)
            return -1; /* a collective failed: the peers see it fail too */
        dense = v[0] == 0;
        mirrors = job->pull && !dense;
        shuffle = v[1] || (!dense && v[2]);
    }
    if (dense && exchange_dense (job, error) < 0)
        failed = 1;
    if (!shuffle)
        return failed ? -1 : 0;
    if (!job->sh_edge) {
        if (!(job->sh_edge = make_shuffle (job, 0, failed ? NULL : error)))
            return -1;
    } else if (loom_shuffle_reset (job->sh_edge, failed ? NULL : error) < 0) {
        return -1;
    }
    if (!failed && put_edge_records (job, mirrors, error) < 0)
        failed = 1;
    /* finish is collective: call it even after a local failure so peers don't hang,
     * then agree.
     */
    if (loom_shuffle_finish (job->sh_edge, failed ? NULL : error) < 0)
        failed = 1;
    if (!failed) {
        struct loom_shuffle_stats st;
        loom_shuffle_stats (job->sh_edge, &st);
        job->stats.remote_records += st.records_sent;
        job->stats.remote_bytes += st.bytes_sent;
    }
    return failed ? -1 : 0;
}

int pregel_exchange_far (struct loom_pregel *job, loom_error_t *error)
{
    const struct loom_pregel_graph *g = job->g;
    if (!job->sh_far) {
        if (!(job->sh_far = make_shuffle (job, 1, error)))
            return -1;
    } else if (loom_shuffle_reset (job->sh_far, error) < 0) {
        return -1;
    }
    int failed = 0;
    for (size_t i = 0; i < job->far_n && !failed; i++) {
        const uint8_t *msg = job->far_msg + i * job->ms;
        failed = loom_shuffle_put_to (job->sh_far, pregel_owner (g, job->far_id[i]),
                                      &job->far_id[i], 8, msg, job->ms, error)
                 < 0;
    }
    job->far_n = 0;
    if (loom_shuffle_finish (job->sh_far, failed ? NULL : error) < 0)
        failed = 1;
    return failed ? -1 : 0;
}

int pregel_group_inbox (struct loom_pregel *job, loom_error_t *error)
{
    const size_t n = job->g->n, ms = job->ms;
    size_t local = 0;
    memset (job->in_off, 0, (n + 1) * sizeof (uint64_t));
    for (size_t i = 0; i < job->list_n; i++)
        if (job->list_slot[i] < n) {
            job->in_off[job->list_slot[i] + 1]++;
            local++;
        }
    for (size_t v = 0; v < n; v++)
        job->in_off[v + 1] += job->in_off[v];
    if (local > job->in_list_cap) {
        uint8_t *p = realloc (job->in_list, local * ms);
        if (!p)
            return loom_errset (error, ENOMEM, "out of memory for %zu messages", local);
        job->in_list = p;
        job->in_list_cap = local;
    }
    /* Stable: a vertex's messages keep list order (local sends, then by source). */
    uint64_t *fill = job->in_off; /* advance a copy of the offsets */
    uint64_t *pos = malloc ((n + 1) * sizeof (uint64_t));
    if (!pos)
        return loom_errset (error, ENOMEM, "out of memory grouping messages");
    memcpy (pos, fill, (n + 1) * sizeof (uint64_t));
    for (size_t i = 0; i < job->list_n; i++) {
        uint32_t s = job->list_slot[i];
        if (s < n)
            memcpy (job->in_list + pos[s]++ * ms, job->list_msg + i * ms, ms);
    }
    free (pos);
    job->list_n = 0;
    return 0;
}
