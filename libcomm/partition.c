/* SPDX-License-Identifier: MIT */
/* Partitioners: hash (the one datasets use), range over splitters, user callback;
 * and splitters, explicit or chosen by sampling.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <loom/hash.h>

#include "shuffle_impl.h"

struct loom_splitters {
    size_t n;
    char **key;
    size_t *len;
};

/* Bytewise order; a key sorts before its extensions. */
static int key_cmp (const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp (a, b, n) : 0;
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

void loom_splitters_destroy (loom_splitters_t *s)
{
    if (!s)
        return;
    int saved = errno;
    for (size_t i = 0; i < s->n; i++)
        free (s->key[i]);
    free (s->key);
    free (s->len);
    free (s);
    errno = saved;
}

loom_splitters_t *loom_splitters_create (const void *const *keys,
                                         const size_t *lens,
                                         size_t n,
                                         loom_error_t *error)
{
    if (n > 0 && (!keys || !lens)) {
        loom_errset (error, EINVAL, "splitters: keys or lens is NULL");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!keys[i] && lens[i]) {
            loom_errset (error, EINVAL, "splitters: key %zu is NULL", i);
            return NULL;
        }
        if (i > 0 && key_cmp (keys[i - 1], lens[i - 1], keys[i], lens[i]) > 0) {
            loom_errset (error, EINVAL,
                         "splitters: key %zu sorts before key %zu (must be ordered)", i,
                         i - 1);
            return NULL;
        }
    }
    loom_splitters_t *s = calloc (1, sizeof (*s));
    if (!s)
        goto nomem;
    s->key = calloc (n ? n : 1, sizeof (char *));
    s->len = calloc (n ? n : 1, sizeof (size_t));
    if (!s->key || !s->len)
        goto nomem;
    for (size_t i = 0; i < n; i++, s->n++) {
        s->key[i] = malloc (lens[i] ? lens[i] : 1);
        if (!s->key[i])
            goto nomem;
        if (lens[i])
            memcpy (s->key[i], keys[i], lens[i]);
        s->len[i] = lens[i];
    }
    return s;
nomem:
    loom_splitters_destroy (s);
    loom_errset (error, ENOMEM, "splitters: out of memory");
    return NULL;
}

size_t loom_splitters_count (const loom_splitters_t *s)
{
    return s->n;
}

const void *loom_splitters_key (const loom_splitters_t *s, size_t i, size_t *len)
{
    if (i >= s->n) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = s->len[i];
    return s->key[i];
}

int loom_splitters_find (const loom_splitters_t *s, const void *key, size_t key_len)
{
    /* The number of splitters <= key: rank r holds [splitter r-1, splitter r). */
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp (s->key[mid], s->len[mid], key, key_len) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (int)lo;
}

struct sample {
    const char *key;
    size_t len;
};

static int sample_cmp (const void *a, const void *b)
{
    const struct sample *x = a, *y = b;
    return key_cmp (x->key, x->len, y->key, y->len);
}

loom_splitters_t *loom_splitters_sample (loom_comm_t *comm,
                                         const void *const *keys,
                                         const size_t *lens,
                                         size_t n,
                                         loom_error_t *error)
{
    int size = loom_comm_size (comm), rc;
    loom_splitters_t *result = NULL;
    char *mine = NULL, *all = NULL;
    int *bytes = NULL, *displs = NULL;
    struct sample *smp = NULL;
    MPI_Request req;
    if (n > 0 && (!keys || !lens)) {
        loom_errset (error, EINVAL, "splitters: keys or lens is NULL");
        return NULL;
    }
    /* Pack the samples as (u32 length, bytes) and gather them everywhere: every rank
     * then sorts the same set and picks the same splitters, with no second step.
     */
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += 4 + lens[i];
    if (total > INT_MAX / 2) {
        loom_errset (error, EINVAL, "splitters: %zu sample keys are too large", n);
        return NULL;
    }
    mine = malloc (total ? total : 1);
    bytes = malloc (sizeof (int) * (size_t)size);
    displs = malloc (sizeof (int) * (size_t)size);
    if (!mine || !bytes || !displs)
        goto nomem;
    char *p = mine;
    for (size_t i = 0; i < n; i++) {
        uint32_t l = (uint32_t)lens[i];
        memcpy (p, &l, 4);
        if (l)
            memcpy (p + 4, keys[i], l);
        p += 4 + l;
    }
    int my = (int)total;
    rc = MPI_Iallgather (&my, 1, MPI_INT, bytes, 1, MPI_INT, comm->mpi, &req);
    if (rc != MPI_SUCCESS) {
        loom__mpi_error (rc, "splitters: gather sizes", error);
        goto out;
    }
    if (loom__waitall (1, &req, comm->timeout_sec, "splitters", error) < 0)
        goto out;
    uint64_t sum = 0;
    for (int r = 0; r < size; r++) {
        displs[r] = (int)sum;
        sum += (uint64_t)bytes[r];
    }
    if (sum > INT_MAX) {
        loom_errset (error, EINVAL, "splitters: samples of all ranks exceed 2 GiB");
        goto out;
    }
    all = malloc (sum ? sum : 1);
    if (!all)
        goto nomem;
    rc = MPI_Iallgatherv (mine, my, MPI_BYTE, all, bytes, displs, MPI_BYTE, comm->mpi,
                          &req);
    if (rc != MPI_SUCCESS) {
        loom__mpi_error (rc, "splitters: gather samples", error);
        goto out;
    }
    if (loom__waitall (1, &req, comm->timeout_sec, "splitters", error) < 0)
        goto out;
    size_t ns = 0;
    for (uint64_t off = 0; off < sum; ns++) {
        uint32_t l;
        memcpy (&l, all + off, 4);
        off += 4 + l;
    }
    smp = malloc (sizeof (*smp) * (ns ? ns : 1));
    if (!smp)
        goto nomem;
    ns = 0;
    for (uint64_t off = 0; off < sum; ns++) {
        uint32_t l;
        memcpy (&l, all + off, 4);
        smp[ns].key = all + off + 4;
        smp[ns].len = l;
        off += 4 + l;
    }
    qsort (smp, ns, sizeof (*smp), sample_cmp);
    /* size - 1 splitters at the quantiles i * ns / size. With no samples at all,
     * every splitter is the empty key: everything goes to the last rank, which is
     * still a correct (if unbalanced) range partition.
     */
    size_t nsplit = (size_t)size - 1;
    const void **sk = malloc (sizeof (void *) * (nsplit ? nsplit : 1));
    size_t *sl = malloc (sizeof (size_t) * (nsplit ? nsplit : 1));
    if (!sk || !sl) {
        free (sk);
        free (sl);
        goto nomem;
    }
    for (size_t i = 0; i < nsplit; i++) {
        if (ns == 0) {
            sk[i] = "";
            sl[i] = 0;
        } else {
            size_t at = (i + 1) * ns / (size_t)size;
            sk[i] = smp[at].key;
            sl[i] = smp[at].len;
        }
    }
    result = loom_splitters_create ((const void *const *)sk, sl, nsplit, error);
    free (sk);
    free (sl);
    goto out;
nomem:
    loom_errset (error, ENOMEM, "splitters: out of memory");
out:
    free (mine);
    free (all);
    free (bytes);
    free (displs);
    free (smp);
    return result;
}

int loom__partition (loom_shuffle_t *sh,
                     const void *key,
                     size_t klen,
                     const void *val,
                     size_t vlen,
                     loom_error_t *error)
{
    switch (sh->p.partition) {
    case LOOM_PARTITION_HASH:
        return (int)loom_hash_partition (key, klen, sh->p.hash_seed,
                                         (uint32_t)sh->size);
    case LOOM_PARTITION_RANGE:
        return loom_splitters_find (sh->p.splitters, key, klen);
    case LOOM_PARTITION_CALLBACK: {
        struct loom_record rec = {key, klen, val, vlen};
        int d = sh->p.partition_fn (&rec, sh->size, sh->p.partition_arg);
        if (d < 0 || d >= sh->size)
            return loom_errset (error, EINVAL,
                                "shuffle: partitioner returned rank %d, not in [0, %d)",
                                d, sh->size);
        return d;
    }
    }
    return loom_errset (error, EINVAL, "shuffle: unknown partitioner");
}
