/* SPDX-License-Identifier: MIT */
/* The map-side combining table: emitted (key, value) pairs with equal keys are
 * merged in place, so a wordcount shuffles one record per distinct word per rank.
 *
 * It sits on the hottest path of a combining job (one lookup per emitted record),
 * so it is specialised for short keys: keys of up to 16 bytes live inline in the
 * entry as two 64-bit words, hashed by one 128-bit multiply and compared with two
 * integer compares. Longer keys go to an arena and are hashed with XXH3. Open
 * addressing with linear probing at load <= 1/2.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "internal.h"

/* 32 bytes, 64-byte aligned: one cache line holds two entries, and a lookup that
 * hits touches one line (values of up to 8 bytes are inline).
 */
struct ent {
    uint64_t w0, w1; /* short key bytes, zero-padded; long key: w0 = arena offset */
    uint32_t len;
    uint32_t tag; /* low 32 bits of the hash | 1; 0 = empty */
    uint64_t val; /* value if width <= 8 */
};

/* Lookups of short keys are deferred through a small ring: each add computes the
 * hash and prefetches the bucket, and the add PENDING calls later finds it in cache.
 * The lookup is a cache miss for any table larger than L2, and the ring keeps
 * several misses in flight instead of one.
 */
#define PENDING 8

struct pend {
    uint64_t w0, w1, h, val;
    uint32_t len;
};

struct mr_ctable {
    struct pend ring[PENDING];
    unsigned ring_head, ring_n;
    struct ent *ents;
    char *vals; /* width > 8: value of entry i at vals + i * width */
    uint64_t mask, count;
    unsigned bits;
    size_t width;
    size_t max_bytes;    /* the entry array never grows beyond this */
    bool full;           /* at the load limit and may not grow: drain me */
    struct mr_buf arena; /* long keys */
    loom_combine_kind_t kind;
    loom_combine_f fn;
    void *arg;
};

static inline uint64_t mix (uint64_t w0, uint64_t w1, uint64_t len)
{
    unsigned __int128 m = (unsigned __int128)(w0 ^ 0x9e3779b97f4a7c15ULL)
                          * (w1 ^ len ^ 0xbf58476d1ce4e5b9ULL);
    return (uint64_t)m ^ (uint64_t)(m >> 64);
}

static int alloc_table (struct mr_ctable *t, unsigned bits)
{
    t->bits = bits;
    t->mask = (1ULL << bits) - 1;
    size_t bytes = (size_t)(t->mask + 1) * sizeof (struct ent);
    t->ents = aligned_alloc (64, bytes);
    t->vals = t->width > 8 ? malloc ((t->mask + 1) * t->width) : NULL;
    if (t->ents)
        memset (t->ents, 0, bytes);
    if (!t->ents || (t->width > 8 && !t->vals)) {
        free (t->ents);
        free (t->vals);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

struct mr_ctable *mr__ctable_create (size_t value_width,
                                     loom_combine_kind_t kind,
                                     loom_combine_f fn,
                                     void *arg,
                                     size_t max_bytes)
{
    struct mr_ctable *t = calloc (1, sizeof (*t));
    if (!t)
        return NULL;
    t->width = value_width;
    t->max_bytes = max_bytes;
    t->kind = kind;
    t->fn = fn;
    t->arg = arg;
    if (alloc_table (t, 12) < 0) {
        free (t);
        return NULL;
    }
    return t;
}

void mr__ctable_destroy (struct mr_ctable *t)
{
    if (!t)
        return;
    int saved = errno;
    free (t->ents);
    free (t->vals);
    mr__buf_free (&t->arena);
    free (t);
    errno = saved;
}

size_t mr__ctable_bytes (const struct mr_ctable *t)
{
    return (size_t)(t->mask + 1) * (sizeof (struct ent) + (t->width > 8 ? t->width : 0))
           + t->arena.cap;
}

bool mr__ctable_full (const struct mr_ctable *t)
{
    return t->full || t->arena.len > t->max_bytes / 2;
}

size_t mr__ctable_count (const struct mr_ctable *t)
{
    return (size_t)t->count;
}

void mr__combine (loom_combine_kind_t kind,
                  loom_combine_f fn,
                  void *arg,
                  void *acc,
                  const void *value,
                  size_t width)
{
    uint64_t a, b;
    double x, y;
    int64_t i, j;
    switch (kind) {
    case LOOM_COMBINE_SUM_U64:
    case LOOM_COMBINE_MIN_U64:
    case LOOM_COMBINE_MAX_U64:
        memcpy (&a, acc, 8);
        memcpy (&b, value, 8);
        a = kind == LOOM_COMBINE_SUM_U64   ? a + b
            : kind == LOOM_COMBINE_MIN_U64 ? (b < a ? b : a)
                                           : (b > a ? b : a);
        memcpy (acc, &a, 8);
        break;
    case LOOM_COMBINE_SUM_I64:
    case LOOM_COMBINE_MIN_I64:
    case LOOM_COMBINE_MAX_I64:
        memcpy (&i, acc, 8);
        memcpy (&j, value, 8);
        i = kind == LOOM_COMBINE_SUM_I64   ? (int64_t)((uint64_t)i + (uint64_t)j)
            : kind == LOOM_COMBINE_MIN_I64 ? (j < i ? j : i)
                                           : (j > i ? j : i);
        memcpy (acc, &i, 8);
        break;
    case LOOM_COMBINE_SUM_F64:
    case LOOM_COMBINE_MIN_F64:
    case LOOM_COMBINE_MAX_F64:
        memcpy (&x, acc, 8);
        memcpy (&y, value, 8);
        x = kind == LOOM_COMBINE_SUM_F64   ? x + y
            : kind == LOOM_COMBINE_MIN_F64 ? (y < x ? y : x)
                                           : (y > x ? y : x);
        memcpy (acc, &x, 8);
        break;
    case LOOM_COMBINE_CALLBACK:
        fn (acc, value, width, arg);
        break;
    case LOOM_COMBINE_NONE:
        break;
    }
}

static inline const char *ent_key (const struct mr_ctable *t, const struct ent *e)
{
    return e->len <= 16 ? (const char *)&e->w0 : t->arena.data + e->w0;
}

static inline char *ent_val (struct mr_ctable *t, uint64_t s)
{
    return t->width > 8 ? t->vals + s * t->width : (char *)&t->ents[s].val;
}

static inline uint64_t ent_hash (const struct mr_ctable *t, const struct ent *e)
{
    return e->len <= 16 ? mix (e->w0, e->w1, e->len)
                        : XXH3_64bits (t->arena.data + e->w0, e->len);
}

/* The first 16 bytes of a key of len <= 16, zero-padded, without reading past its
 * end and without a memcpy call: overlapping loads (as in wyhash).
 */
static inline void
load16 (const unsigned char *k, size_t len, uint64_t *w0, uint64_t *w1)
{
    uint64_t a = 0, b = 0;
    if (len >= 8) {
        memcpy (&a, k, 8);
        if (len == 16)
            memcpy (&b, k + 8, 8);
        else if (len > 8) {
            memcpy (&b, k + len - 8, 8);
            b >>= 8 * (16 - len);
        }
    } else if (len >= 4) {
        uint32_t x, y;
        memcpy (&x, k, 4);
        memcpy (&y, k + len - 4, 4);
        a = (uint64_t)x | ((uint64_t)y << (8 * (len - 4)));
    } else if (len > 0) {
        a = (uint64_t)k[0] | ((uint64_t)k[len / 2] << (8 * (len / 2)))
            | ((uint64_t)k[len - 1] << (8 * (len - 1)));
    }
    *w0 = a;
    *w1 = b;
}

static int grow (struct mr_ctable *t)
{
    struct ent *old = t->ents;
    char *oldvals = t->vals;
    uint64_t oldn = t->mask + 1;
    if (alloc_table (t, t->bits + 1) < 0) {
        t->ents = old;
        t->vals = oldvals;
        t->bits--;
        t->mask = oldn - 1;
        return -1;
    }
    for (uint64_t i = 0; i < oldn; i++) {
        if (!old[i].tag)
            continue;
        uint64_t s = ent_hash (t, &old[i]) >> (64 - t->bits);
        while (t->ents[s].tag)
            s = (s + 1) & t->mask;
        t->ents[s] = old[i];
        if (t->width > 8)
            memcpy (t->vals + s * t->width, oldvals + i * t->width, t->width);
    }
    free (old);
    free (oldvals);
    return 0;
}

/* Find or insert the key (short: w0/w1; long: key), combining 'value'. Returns 0
 * (combined), 1 (inserted) or -1.
 */
static int insert (struct mr_ctable *t,
                   uint64_t h,
                   uint64_t w0,
                   uint64_t w1,
                   const void *key,
                   size_t klen,
                   const void *value)
{
    uint32_t tag = (uint32_t)h | 1;
    uint64_t s = h >> (64 - t->bits);
    for (;;) {
        struct ent *e = &t->ents[s];
        if (!e->tag)
            break;
        if (e->tag == tag && e->len == klen
            && (klen <= 16 ? (e->w0 == w0 && e->w1 == w1)
                           : memcmp (t->arena.data + e->w0, key, klen) == 0)) {
            if (t->kind == LOOM_COMBINE_SUM_U64) { /* the wordcount path */
                uint64_t b;
                memcpy (&b, value, 8);
                e->val += b;
            } else {
                mr__combine (t->kind, t->fn, t->arg, ent_val (t, s), value, t->width);
            }
            return 0;
        }
        s = (s + 1) & t->mask;
    }
    struct ent *e = &t->ents[s];
    if (klen <= 16) {
        e->w0 = w0;
        e->w1 = w1;
    } else {
        if (klen > UINT32_MAX) {
            errno = E2BIG;
            return -1;
        }
        e->w0 = t->arena.len;
        e->w1 = 0;
        if (mr__buf_append (&t->arena, key, klen) < 0)
            return -1;
    }
    e->tag = tag;
    e->len = (uint32_t)klen;
    memcpy (ent_val (t, s), value, t->width);
    if (++t->count * 2 > t->mask + 1) {
        size_t next = (size_t)(t->mask + 1) * 2
                      * (sizeof (struct ent) + (t->width > 8 ? t->width : 0));
        if (next > t->max_bytes)
            t->full = true; /* the caller drains before the next add */
        else if (grow (t) < 0)
            return -1;
    }
    return 1;
}

/* Insert the oldest pending key. */
static int pop_pending (struct mr_ctable *t)
{
    struct pend *p = &t->ring[t->ring_head];
    t->ring_head = (t->ring_head + 1) % PENDING;
    t->ring_n--;
    return insert (t, p->h, p->w0, p->w1, NULL, p->len, &p->val);
}

int mr__ctable_flush (struct mr_ctable *t)
{
    int added = 0;
    while (t->ring_n) {
        int rc = pop_pending (t);
        if (rc < 0)
            return -1;
        added |= rc;
    }
    return added;
}

int mr__ctable_add (struct mr_ctable *t,
                    const void *key,
                    size_t klen,
                    const void *value)
{
    if (klen > 16) /* long keys: no deferral */
        return insert (t, XXH3_64bits (key, klen), 0, 0, key, klen, value);
    uint64_t w0, w1;
    load16 (key, klen, &w0, &w1);
    uint64_t h = mix (w0, w1, klen);
    if (t->width > 8) /* wide values: no deferral either */
        return insert (t, h, w0, w1, key, klen, value);
    __builtin_prefetch (&t->ents[h >> (64 - t->bits)]);
    int rc = 0;
    if (t->ring_n == PENDING && (rc = pop_pending (t)) < 0)
        return -1;
    struct pend *p = &t->ring[(t->ring_head + t->ring_n++) % PENDING];
    p->w0 = w0;
    p->w1 = w1;
    p->h = h;
    p->len = (uint32_t)klen;
    p->val = 0;
    memcpy (&p->val, value, t->width);
    return rc;
}

int mr__ctable_drain (
    struct mr_ctable *t,
    int (*fn) (const void *key, size_t klen, const void *value, void *arg),
    void *arg)
{
    int rc = mr__ctable_flush (t) < 0 ? -1 : 0;
    for (uint64_t i = 0; i <= t->mask && rc == 0; i++) {
        const struct ent *e = &t->ents[i];
        if (e->tag)
            rc = fn (ent_key (t, e), e->len, ent_val (t, i), arg);
    }
    memset (t->ents, 0, (t->mask + 1) * sizeof (struct ent));
    t->count = 0;
    t->full = false;
    t->arena.len = 0;
    return rc;
}
