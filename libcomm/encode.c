/* SPDX-License-Identifier: MIT */
/* Record encoding on the wire and in spill files: a 4-byte length for each variable
 * part (key first), then the key bytes, then the value bytes. Fixed-width parts carry
 * no length, so fixed-width records are packed key||value with no header at all.
 * Lengths are in the byte order of the host: every rank of a job shares it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shuffle_impl.h"

void loom__shape_init (struct loom__shape *s, size_t kw, size_t vw)
{
    s->kw = kw;
    s->vw = vw;
    s->kvar = kw == LOOM_VARLEN;
    s->vvar = vw == LOOM_VARLEN;
    s->hdr = (s->kvar ? 4 : 0) + (s->vvar ? 4 : 0);
    s->fixed_size = (!s->kvar && !s->vvar) ? kw + vw : 0;
}

size_t loom__encode (const struct loom__shape *s,
                     char *dst,
                     const void *key,
                     size_t klen,
                     const void *val,
                     size_t vlen)
{
    char *p = dst;
    if (s->kvar) {
        uint32_t l = (uint32_t)klen;
        memcpy (p, &l, 4);
        p += 4;
    }
    if (s->vvar) {
        uint32_t l = (uint32_t)vlen;
        memcpy (p, &l, 4);
        p += 4;
    }
    if (klen)
        memcpy (p, key, klen);
    p += klen;
    if (vlen)
        memcpy (p, val, vlen);
    p += vlen;
    return (size_t)(p - dst);
}

size_t loom__decode (const struct loom__shape *s,
                     const char *p,
                     uint64_t avail,
                     struct loom_record *rec)
{
    size_t klen = s->kw, vlen = s->vw;
    if (avail < s->hdr)
        return 0;
    const char *q = p;
    if (s->kvar) {
        uint32_t l;
        memcpy (&l, q, 4);
        klen = l;
        q += 4;
    }
    if (s->vvar) {
        uint32_t l;
        memcpy (&l, q, 4);
        vlen = l;
        q += 4;
    }
    uint64_t total = (uint64_t)s->hdr + klen + vlen;
    if (total > avail)
        return 0;
    rec->key = q;
    rec->key_len = klen;
    rec->value = q + klen;
    rec->value_len = vlen;
    return (size_t)total;
}

int loom_batch_next (const struct loom_batch *b, uint64_t *pos, struct loom_record *rec)
{
    if (*pos >= b->bytes)
        return 0;
    struct loom__shape s;
    loom__shape_init (&s, b->key_width, b->value_width);
    const char *p = (const char *)b->data + *pos;
    size_t n = loom__decode (&s, p, b->bytes - *pos, rec);
    if (n == 0) {
        /* A zero-width fixed record is zero bytes long: it cannot be delimited. */
        errno = EPROTO;
        return -1;
    }
    *pos += n;
    return 1;
}

int loom__buf_reserve (struct loom__buf *b, uint64_t need)
{
    if (b->len + need <= b->cap)
        return 0;
    uint64_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + need)
        cap *= 2;
    cap = loom__mem_round (cap);
    char *d = loom__mem_grow (b->data, b->len, b->cap, cap);
    if (!d) {
        errno = ENOMEM;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

void loom__buf_free (struct loom__buf *b)
{
    loom__mem_free (b->data, b->cap);
    b->data = NULL;
    b->len = b->cap = b->nrec = 0;
}
