/* SPDX-License-Identifier: MIT */
/* Node-aware aggregation for rounds whose payloads to other nodes are small.
 *
 * With many small per-peer payloads the flat exchange sends ranks x ranks messages,
 * most of them between nodes, and latency dominates. Here every rank hands its
 * off-node records to its node leader (one message), leaders exchange one message
 * per pair of nodes, and each leader hands every local rank one message holding
 * everything sent to it from other nodes. Messages between nodes drop from ranks^2
 * to nodes^2, at the price of two extra copies of small data. Records between ranks
 * of the same node go directly, as in the flat exchange.
 *
 * The round is decided by every rank alike from the count exchange (each sender
 * reports its largest off-node payload), and runs to completion here, blocking
 * (under the timeout): payloads are small by construction.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shuffle_impl.h"

enum {
    TAG_A_HDR = LOOM__TAG_NODE,
    TAG_A_DATA,
    TAG_B_HDR,
    TAG_B_DATA,
    TAG_C_DATA,
};

static inline struct loom__buf *fbuf (struct loom__frame *f, int d)
{
    return f->tab ? &f->tab[d].arena : &f->dest[d];
}

struct nround {
    loom_shuffle_t *sh;
    loom_comm_t *c;
    int me, myn, leader, nloc;
    const int *loc; /* ranks of my node, ascending */
    MPI_Request *reqs;
    int nreqs, cap;
    /* leader only: */
    uint64_t **ahdr; /* [nloc][size] bytes each local rank sends to each rank */
    char **adata;    /* [nloc] their off-node data, destinations ascending */
    uint64_t **bhdr; /* [nnodes] pieces (s, d) of the message from each node */
    char **bdata;    /* [nnodes] */
    int **members;   /* [nnodes] ranks of each node */
};

static int add_req (struct nround *r)
{
    if (r->nreqs == r->cap) {
        int cap = r->cap ? r->cap * 2 : 64;
        MPI_Request *q = realloc (r->reqs, sizeof (*q) * (size_t)cap);
        if (!q)
            return -1;
        r->reqs = q;
        r->cap = cap;
    }
    return r->nreqs++;
}

static int post (struct nround *r,
                 bool send,
                 void *buf,
                 uint64_t len,
                 int peer,
                 int tag,
                 loom_error_t *error)
{
    uint64_t chunk = r->sh->p.chunk_bytes;
    for (uint64_t off = 0, k = 0; off < len || (len == 0 && k == 0);
         off += chunk, k++) {
        uint64_t n = len - off < chunk ? len - off : chunk;
        int i = add_req (r);
        if (i < 0)
            return loom_errset (error, ENOMEM, "shuffle: out of memory");
        int rc = send ? MPI_Isend ((char *)buf + off, (int)n, MPI_BYTE, peer, tag,
                                   r->sh->mpi, &r->reqs[i])
                      : MPI_Irecv ((char *)buf + off, (int)n, MPI_BYTE, peer, tag,
                                   r->sh->mpi, &r->reqs[i]);
        if (rc != MPI_SUCCESS) {
            r->nreqs--;
            return loom__mpi_error (rc, "shuffle: node-aware round", error);
        }
        if (len == 0)
            break;
    }
    return 0;
}

static int wait_all (struct nround *r, loom_error_t *error)
{
    int rc = loom__waitall (r->nreqs, r->reqs, r->sh->timeout,
                            "shuffle: node-aware round", error);
    r->nreqs = 0;
    return rc;
}

static bool off_node (const struct nround *r, int rank)
{
    return r->c->node_of[rank] != r->myn;
}

/* Step C on the receiving side: split what the leader sent into per-source
 * receive buffers (sources ascending, sizes from the count exchange).
 */
static int split_into_rbufs (struct nround *r, const char *data, loom_error_t *error)
{
    loom_shuffle_t *sh = r->sh;
    uint64_t off = 0;
    for (int s = 0; s < sh->size; s++) {
        uint64_t n = sh->cnt_recv[LOOM__CNT * s];
        if (!off_node (r, s) || n == 0)
            continue;
        struct loom__buf *b = &sh->rbuf[s];
        b->len = 0;
        if (loom__buf_reserve (b, n) < 0)
            return loom_errset (error, ENOMEM, "shuffle: out of memory");
        memcpy (b->data, data + off, n);
        b->len = n;
        b->nrec = sh->cnt_recv[LOOM__CNT * s + 1];
        off += n;
    }
    return 0;
}

static void free_round (struct nround *r)
{
    int nn = r->c->nnodes;
    if (r->ahdr) {
        for (int i = 0; i < r->nloc; i++) {
            free (r->ahdr[i]);
            free (r->adata[i]);
        }
    }
    if (r->bhdr) {
        for (int n = 0; n < nn; n++) {
            free (r->bhdr[n]);
            free (r->bdata[n]);
        }
    }
    if (r->members) {
        for (int n = 0; n < nn; n++)
            free (r->members[n]);
    }
    free (r->ahdr);
    free (r->adata);
    free (r->bhdr);
    free (r->bdata);
    free (r->members);
    free (r->reqs);
}

/* Offset of piece (s, d) in node n's step-B message, whose pieces are ordered by
 * source, then destination (both ascending).
 */
static uint64_t piece_off (struct nround *r, int n, int si, int di, int nd)
{
    uint64_t off = 0;
    for (int k = 0; k < si * nd + di; k++)
        off += r->bhdr[n][k];
    return off;
}

int loom__node_round (loom_shuffle_t *sh, loom_error_t *error)
{
    loom_comm_t *c = sh->comm;
    struct nround r = {.sh = sh, .c = c, .me = sh->rank};
    r.myn = c->node_of[sh->rank];
    r.leader = c->node_base[r.myn];
    r.nloc = c->node_cnt[r.myn];
    bool shortcut = !(sh->p.flags & LOOM_SHUFFLE_NO_SELF_SHORTCUT);
    int nn = c->nnodes, p = sh->size, rc = -1;
    char *pack = NULL, *cbuf = NULL;
    uint64_t *myhdr = calloc ((size_t)p, sizeof (uint64_t));
    r.members = calloc ((size_t)nn, sizeof (int *));
    if (!myhdr || !r.members)
        goto nomem;
    for (int n = 0; n < nn; n++) {
        r.members[n] = malloc (sizeof (int) * (size_t)c->node_cnt[n]);
        if (!r.members[n])
            goto nomem;
    }
    int *fillc = calloc ((size_t)nn, sizeof (int));
    if (!fillc)
        goto nomem;
    for (int s = 0; s < p; s++) {
        int n = c->node_of[s];
        r.members[n][fillc[n]++] = s;
    }
    free (fillc);
    r.loc = r.members[r.myn];

    /* Same node: direct, as in the flat exchange. */
    for (int i = 0; i < r.nloc; i++) {
        int q = r.loc[i];
        if (q == sh->rank && shortcut)
            continue;
        uint64_t in = sh->cnt_recv[LOOM__CNT * q];
        if (in) {
            struct loom__buf *b = &sh->rbuf[q];
            b->len = 0;
            if (loom__buf_reserve (b, in) < 0)
                goto nomem;
            b->len = in;
            b->nrec = sh->cnt_recv[LOOM__CNT * q + 1];
            if (post (&r, false, b->data, in, q, LOOM__TAG_NODE_DIRECT, error) < 0)
                goto out;
        }
        struct loom__buf *o = fbuf (&sh->flight, q);
        if (o->len
            && post (&r, true, o->data, o->len, q, LOOM__TAG_NODE_DIRECT, error) < 0)
            goto out;
    }

    /* Step A: off-node records to the leader, destinations ascending. */
    uint64_t total = 0;
    for (int d = 0; d < p; d++) {
        if (off_node (&r, d))
            total += myhdr[d] = fbuf (&sh->flight, d)->len;
    }
    pack = malloc (total ? total : 1);
    if (!pack)
        goto nomem;
    uint64_t at = 0;
    for (int d = 0; d < p; d++) {
        if (myhdr[d]) {
            memcpy (pack + at, fbuf (&sh->flight, d)->data, myhdr[d]);
            at += myhdr[d];
        }
    }
    if (sh->rank != r.leader) {
        if (post (&r, true, myhdr, sizeof (uint64_t) * (size_t)p, r.leader, TAG_A_HDR,
                  error)
                < 0
            || (total && post (&r, true, pack, total, r.leader, TAG_A_DATA, error) < 0))
            goto out;
    } else {
        r.ahdr = calloc ((size_t)r.nloc, sizeof (uint64_t *));
        r.adata = calloc ((size_t)r.nloc, sizeof (char *));
        if (!r.ahdr || !r.adata)
            goto nomem;
        struct nround hr = {.sh = sh, .c = c};
        for (int i = 0; i < r.nloc; i++) {
            if (r.loc[i] == sh->rank) {
                r.ahdr[i] = myhdr;
                r.adata[i] = pack;
                continue;
            }
            r.ahdr[i] = malloc (sizeof (uint64_t) * (size_t)p);
            if (!r.ahdr[i])
                goto nomem;
            if (post (&hr, false, r.ahdr[i], sizeof (uint64_t) * (size_t)p, r.loc[i],
                      TAG_A_HDR, error)
                < 0)
                goto out;
        }
        int wrc = loom__waitall (hr.nreqs, hr.reqs, sh->timeout,
                                 "shuffle: node-aware round", error);
        free (hr.reqs);
        if (wrc < 0)
            goto out;
        for (int i = 0; i < r.nloc; i++) {
            if (r.loc[i] == sh->rank)
                continue;
            uint64_t n = 0;
            for (int d = 0; d < p; d++)
                n += r.ahdr[i][d];
            r.adata[i] = malloc (n ? n : 1);
            if (!r.adata[i])
                goto nomem;
            if (n && post (&r, false, r.adata[i], n, r.loc[i], TAG_A_DATA, error) < 0)
                goto out;
        }
    }
    if (wait_all (&r, error) < 0)
        goto out;

    if (sh->rank == r.leader) {
        /* Step B: one message per pair of nodes, pieces (source, destination). */
        r.bhdr = calloc ((size_t)nn, sizeof (uint64_t *));
        r.bdata = calloc ((size_t)nn, sizeof (char *));
        if (!r.bhdr || !r.bdata)
            goto nomem;
        char **out = calloc ((size_t)nn, sizeof (char *));
        uint64_t **ohdr = calloc ((size_t)nn, sizeof (uint64_t *));
        if (!out || !ohdr) {
            free (out);
            free (ohdr);
            goto nomem;
        }
        int bad = 0;
        for (int m = 0; m < nn && !bad; m++) {
            if (m == r.myn)
                continue;
            int nd = c->node_cnt[m];
            size_t nh = (size_t)r.nloc * (size_t)nd;
            ohdr[m] = calloc (nh ? nh : 1, sizeof (uint64_t));
            r.bhdr[m] =
                calloc ((size_t)c->node_cnt[m] * (size_t)r.nloc, sizeof (uint64_t));
            if (!ohdr[m] || !r.bhdr[m]) {
                bad = 1;
                break;
            }
            uint64_t size = 0;
            for (int si = 0; si < r.nloc; si++)
                for (int di = 0; di < nd; di++)
                    size += ohdr[m][si * nd + di] = r.ahdr[si][r.members[m][di]];
            out[m] = malloc (size ? size : 1);
            if (!out[m]) {
                bad = 1;
                break;
            }
            uint64_t o = 0;
            for (int si = 0; si < r.nloc; si++) {
                /* Offsets inside local rank si's step-A data: destinations ascending.
                 */
                for (int di = 0; di < nd; di++) {
                    int d = r.members[m][di];
                    uint64_t n = r.ahdr[si][d], src_off = 0;
                    for (int e = 0; e < d; e++)
                        src_off += r.ahdr[si][e];
                    if (n)
                        memcpy (out[m] + o, r.adata[si] + src_off, n);
                    o += n;
                }
            }
            if (post (&r, false, r.bhdr[m],
                      sizeof (uint64_t) * (size_t)c->node_cnt[m] * (size_t)r.nloc,
                      c->node_base[m], TAG_B_HDR, error)
                    < 0
                || post (&r, true, ohdr[m], sizeof (uint64_t) * nh, c->node_base[m],
                         TAG_B_HDR, error)
                       < 0)
                bad = 2;
        }
        if (!bad && wait_all (&r, error) < 0)
            bad = 2;
        /* Data, now that every message's size is known. */
        for (int m = 0; m < nn && !bad; m++) {
            if (m == r.myn)
                continue;
            uint64_t in = 0, outn = 0;
            for (int k = 0; k < c->node_cnt[m] * r.nloc; k++) {
                in += r.bhdr[m][k];
                outn += ohdr[m][k];
            }
            r.bdata[m] = malloc (in ? in : 1);
            if (!r.bdata[m]) {
                bad = 1;
                break;
            }
            if ((in
                 && post (&r, false, r.bdata[m], in, c->node_base[m], TAG_B_DATA, error)
                        < 0)
                || (outn
                    && post (&r, true, out[m], outn, c->node_base[m], TAG_B_DATA, error)
                           < 0))
                bad = 2;
        }
        if (!bad && wait_all (&r, error) < 0)
            bad = 2;
        for (int m = 0; m < nn; m++) {
            free (out[m]);
            free (ohdr[m]);
        }
        free (out);
        free (ohdr);
        if (bad == 1)
            goto nomem;
        if (bad)
            goto out;

        /* Step C: every local rank gets its off-node records, sources ascending. */
        for (int di = 0; di < r.nloc; di++) {
            int d = r.loc[di];
            uint64_t n = 0;
            for (int s = 0; s < p; s++) {
                if (!off_node (&r, s))
                    continue;
                int m = c->node_of[s], si = 0;
                while (r.members[m][si] != s)
                    si++;
                n += r.bhdr[m][si * r.nloc + di];
            }
            if (n == 0)
                continue;
            char *buf = malloc (n);
            if (!buf)
                goto nomem;
            uint64_t o = 0;
            for (int s = 0; s < p; s++) {
                if (!off_node (&r, s))
                    continue;
                int m = c->node_of[s], si = 0;
                while (r.members[m][si] != s)
                    si++;
                uint64_t len = r.bhdr[m][si * r.nloc + di];
                if (len)
                    memcpy (buf + o, r.bdata[m] + piece_off (&r, m, si, di, r.nloc),
                            len);
                o += len;
            }
            if (d == sh->rank) {
                int src = split_into_rbufs (&r, buf, error);
                free (buf);
                if (src < 0)
                    goto out;
                continue;
            }
            /* Sent after all are built would hold them all; send one at a time. */
            struct nround one = {.sh = sh, .c = c};
            int prc = post (&one, true, buf, n, d, TAG_C_DATA, error);
            if (prc == 0)
                prc = loom__waitall (one.nreqs, one.reqs, sh->timeout,
                                     "shuffle: node-aware round", error);
            free (one.reqs);
            free (buf);
            if (prc < 0)
                goto out;
        }
    } else {
        uint64_t in = 0;
        for (int s = 0; s < p; s++)
            if (off_node (&r, s))
                in += sh->cnt_recv[LOOM__CNT * s];
        if (in) {
            cbuf = malloc (in);
            if (!cbuf)
                goto nomem;
            if (post (&r, false, cbuf, in, r.leader, TAG_C_DATA, error) < 0
                || wait_all (&r, error) < 0)
                goto out;
            if (split_into_rbufs (&r, cbuf, error) < 0)
                goto out;
        }
    }
    /* The direct same-node transfers were posted first; finish them. */
    if (wait_all (&r, error) < 0)
        goto out;
    rc = 0;
    goto out;
nomem:
    loom_errset (error, ENOMEM, "shuffle: out of memory");
out:
    if (r.ahdr) {
        /* myhdr and pack belong to this function, not to the table. */
        for (int i = 0; i < r.nloc; i++) {
            if (r.loc && r.loc[i] == sh->rank) {
                r.ahdr[i] = NULL;
                r.adata[i] = NULL;
            }
        }
    }
    free_round (&r);
    free (myhdr);
    free (pack);
    free (cbuf);
    return rc;
}
