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

struct ent {
    uint64_t w0, w1; /* short key bytes, zero-padded; long key: w0 = arena offset */
    uint64_t h;
    uint32_t len;
    uint32_t used;
};

struct mr_ctable {
    struct ent *ents;
    char *vals; /* value of entry i at vals + i * width */
    uint64_t mask, count;
    unsigned bits;
    size_t width;
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
    t->ents = calloc (t->mask + 1, sizeof (struct ent));
    t->vals = malloc ((t->mask + 1) * (t->width ? t->width : 1));
    if (!t->ents || !t->vals) {
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
                                     void *arg)
{
    struct mr_ctable *t = calloc (1, sizeof (*t));
    if (!t)
        return NULL;
    t->width = value_width;
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
    return (size_t)(t->mask + 1) * (sizeof (struct ent) + t->width) + t->arena.cap;
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
        if (!old[i].used)
            continue;
        uint64_t s = old[i].h >> (64 - t->bits);
        while (t->ents[s].used)
            s = (s + 1) & t->mask;
        t->ents[s] = old[i];
        memcpy (t->vals + s * t->width, oldvals + i * t->width, t->width);
    }
    free (old);
    free (oldvals);
    return 0;
}

int mr__ctable_add (struct mr_ctable *t, const void *key, size_t klen, const void *value)
{
    uint64_t w[2] = {0, 0}, h;
    if (klen <= 16) {
        memcpy (w, key, klen);
        h = mix (w[0], w[1], klen);
    } else {
        h = XXH3_64bits (key, klen);
    }
    uint64_t s = h >> (64 - t->bits);
    for (;;) {
        struct ent *e = &t->ents[s];
        if (!e->used)
            break;
        if (e->h == h && e->len == klen
            && (klen <= 16 ? (e->w0 == w[0] && e->w1 == w[1])
                           : memcmp (t->arena.data + e->w0, key, klen) == 0)) {
            char *acc = t->vals + s * t->width;
            if (t->kind == LOOM_COMBINE_SUM_U64) { /* the wordcount path */
                uint64_t a, b;
                memcpy (&a, acc, 8);
                memcpy (&b, value, 8);
                a += b;
                memcpy (acc, &a, 8);
            } else {
                mr__combine (t->kind, t->fn, t->arg, acc, value, t->width);
            }
            return 0;
        }
        s = (s + 1) & t->mask;
    }
    struct ent *e = &t->ents[s];
    if (klen <= 16) {
        e->w0 = w[0];
        e->w1 = w[1];
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
    e->h = h;
    e->len = (uint32_t)klen;
    e->used = 1;
    memcpy (t->vals + s * t->width, value, t->width);
    if (++t->count * 2 > t->mask + 1 && grow (t) < 0)
        return -1;
    return 0;
}

int mr__ctable_drain (struct mr_ctable *t,
                      int (*fn) (const void *key, size_t klen, const void *value, void *arg),
                      void *arg)
{
    int rc = 0;
    for (uint64_t i = 0; i <= t->mask && rc == 0; i++) {
        const struct ent *e = &t->ents[i];
        if (e->used)
            rc = fn (ent_key (t, e), e->len, t->vals + i * t->width, arg);
    }
    memset (t->ents, 0, (t->mask + 1) * sizeof (struct ent));
    t->count = 0;
    t->arena.len = 0;
    return rc;
}
