/* SPDX-License-Identifier: MIT */
/* Small helpers: byte buffers, the record encoding, key order, error agreement. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <loom/hugemem.h>

#include "internal.h"

/* Buffers of at least 4 MiB are their own mapping, 2 MiB aligned, advised to use
 * transparent huge pages and grown with mremap (common/hugemem.c). A sort or a text
 * output fills gigabytes of fresh memory, and on a virtual machine each 4 KiB page
 * fault is a trip through the hypervisor: with 2 MiB pages the map and reduce phases
 * of a 1 GiB sort fault 512 times less, and growing never copies.
 * LOOM_MAPREDUCE_HUGEPAGES=0 (or LOOM_HUGEPAGES=0) turns the advice off.
 */
static struct loom_hugemem mr_mem =
    LOOM_HUGEMEM_INIT ("LOOM_MAPREDUCE_HUGEPAGES", 4u << 20);

int mr__buf_reserve (struct mr_buf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return 0;
    if (n > SIZE_MAX / 4 - b->len) {
        errno = ENOMEM;
        return -1;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n)
        cap *= 2;
    cap = loom_hugemem_round (&mr_mem, cap);
    char *p = loom_hugemem_grow (&mr_mem, b->data, b->len, b->cap, cap);
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int mr__buf_append (struct mr_buf *b, const void *p, size_t n)
{
    if (mr__buf_reserve (b, n) < 0)
        return -1;
    if (n)
        memcpy (b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void mr__buf_free (struct mr_buf *b)
{
    loom_hugemem_free (&mr_mem, b->data, b->cap); /* preserves errno */
    b->data = NULL;
    b->len = b->cap = 0;
}

int mr__buf_append_rec (
    struct mr_buf *b, const void *key, size_t klen, const void *value, size_t vlen)
{
    if (klen > UINT32_MAX || vlen > UINT32_MAX) {
        errno = E2BIG;
        return -1;
    }
    if (mr__buf_reserve (b, mr__rec_size (klen, vlen)) < 0)
        return -1;
    uint32_t hdr[2] = {(uint32_t)klen, (uint32_t)vlen};
    char *p = b->data + b->len;
    memcpy (p, hdr, sizeof (hdr));
    if (klen)
        memcpy (p + MR_REC_HDR, key, klen);
    if (vlen)
        memcpy (p + MR_REC_HDR + klen, value, vlen);
    b->len += mr__rec_size (klen, vlen);
    return 0;
}

size_t mr__rec_decode (const char *p, struct loom_record *rec)
{
    uint32_t hdr[2];
    memcpy (hdr, p, sizeof (hdr));
    rec->key = p + MR_REC_HDR;
    rec->key_len = hdr[0];
    rec->value = p + MR_REC_HDR + hdr[0];
    rec->value_len = hdr[1];
    return mr__rec_size (hdr[0], hdr[1]);
}

int mr__key_cmp (const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp (a, b, n) : 0;
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

int mr__bcast (
    loom_comm_t *comm, void *buf, uint64_t len, int root, loom_error_t *error)
{
    char *p = buf;
    while (len) {
        int n = len > (1u << 30) ? (1 << 30) : (int)len;
        if (MPI_Bcast (p, n, MPI_BYTE, root, loom_comm_mpi (comm)) != MPI_SUCCESS)
            return loom_errset (error, EIO, "mapreduce: MPI_Bcast failed");
        p += n;
        len -= (uint64_t)n;
    }
    return 0;
}

void mr__stats_totals (loom_comm_t *comm, struct loom_mr_stats *stats)
{
    uint64_t tot[2] = {stats->input_records, stats->output_records};
    if (loom_comm_allreduce_u64 (comm, tot, 2, LOOM_OP_SUM, NULL) == 0) {
        stats->total_input_records = tot[0];
        stats->total_output_records = tot[1];
    }
}

int mr__agree (loom_comm_t *comm, int err, loom_error_t *error)
{
    int rank = loom_comm_rank (comm), size = loom_comm_size (comm);
    uint64_t first = err ? (uint64_t)rank : (uint64_t)size;
    loom_error_t cerr;
    if (loom_comm_allreduce_u64 (comm, &first, 1, LOOM_OP_MIN, &cerr) < 0) {
        int e = errno;
        loom_errset (error, e, "%s", cerr.text);
        return -1;
    }
    if (first == (uint64_t)size)
        return 0;
    /* The first failing rank's reason and errno go to everyone. */
    struct {
        int err;
        char text[sizeof (error->text)];
    } msg;
    memset (&msg, 0, sizeof (msg));
    if ((uint64_t)rank == first) {
        msg.err = err;
        if (error)
            memcpy (msg.text, error->text, sizeof (msg.text));
    }
    if (mr__bcast (comm, &msg, sizeof (msg), (int)first, &cerr) < 0) {
        int e = errno;
        loom_errset (error, e, "%s", cerr.text);
        return -1;
    }
    msg.text[sizeof (msg.text) - 1] = '\0';
    if (error)
        memcpy (error->text, msg.text, sizeof (msg.text));
    errno = msg.err;
    return 1;
}

uint64_t loom_mr_data_records (const loom_mr_data_t *data)
{
    return data ? data->records : 0;
}

uint64_t loom_mr_data_total_records (const loom_mr_data_t *data)
{
    return data ? data->total_records : 0;
}

int loom_mr_data_next (const loom_mr_data_t *data,
                       uint64_t *pos,
                       struct loom_record *rec)
{
    if (!data || *pos >= data->buf.len)
        return 0;
    *pos += mr__rec_decode (data->buf.data + *pos, rec);
    return 1;
}

void loom_mr_data_destroy (loom_mr_data_t *data)
{
    if (!data)
        return;
    int saved = errno;
    mr__buf_free (&data->buf);
    free (data);
    errno = saved;
}
