/* SPDX-License-Identifier: MIT */
/* Combiners and the combine table: an open-addressing hash index over records kept
 * encoded in an arena. Records are appended in first-insertion order and merged in
 * place, so the arena can be sent or iterated as it is, with no second copy.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/hash.h>

#include "shuffle_impl.h"

int loom__combine_check (const struct loom_shuffle_params *p, loom_error_t *error)
{
    if (p->combine == LOOM_COMBINE_NONE) {
        if (p->combine_fn)
            return loom_errset (error, EINVAL,
                                "shuffle: params.combine_fn is set but params.combine "
                                "is not LOOM_COMBINE_CALLBACK");
        return 0;
    }
    if ((unsigned)p->combine > LOOM_COMBINE_MAX_F64)
        return loom_errset (error, EINVAL, "shuffle: params.combine %d is unknown",
                            (int)p->combine);
    if (p->value_width == LOOM_VARLEN)
        return loom_errset (error, EINVAL,
                            "shuffle: a combiner needs a fixed params.value_width");
    if (p->combine == LOOM_COMBINE_CALLBACK) {
        if (!p->combine_fn)
            return loom_errset (error, EINVAL,
                                "shuffle: params.combine is LOOM_COMBINE_CALLBACK but "
                                "params.combine_fn is NULL");
    } else if (p->value_width != 8) {
        return loom_errset (error, EINVAL,
                            "shuffle: built-in combiners need params.value_width 8, "
                            "not %zu",
                            p->value_width);
    } else if (p->combine_fn) {
        return loom_errset (error, EINVAL,
                            "shuffle: params.combine_fn is set with a built-in "
                            "params.combine");
    }
    return 0;
}

#define COMBINE_8(T, EXPR)                                                             \
    do {                                                                               \
        T a, b;                                                                        \
        memcpy (&a, acc, 8);                                                           \
        memcpy (&b, val, 8);                                                           \
        a = (EXPR);                                                                    \
        memcpy (acc, &a, 8);                                                           \
    } while (0)

void loom__combine_values (const struct loom__combiner *cb, void *acc, const void *val)
{
    switch (cb->kind) {
    case LOOM_COMBINE_NONE:
        return;
    case LOOM_COMBINE_CALLBACK:
        cb->fn (acc, val, cb->vw, cb->arg);
        return;
    case LOOM_COMBINE_SUM_U64:
        COMBINE_8 (uint64_t, a + b);
        return;
    case LOOM_COMBINE_SUM_I64:
        /* Through unsigned: wraps like the hardware instead of being undefined. */
        COMBINE_8 (uint64_t, a + b);
        return;
    case LOOM_COMBINE_SUM_F64:
        COMBINE_8 (double, a + b);
        return;
    case LOOM_COMBINE_MIN_U64:
        COMBINE_8 (uint64_t, b < a ? b : a);
        return;
    case LOOM_COMBINE_MAX_U64:
        COMBINE_8 (uint64_t, b > a ? b : a);
        return;
    case LOOM_COMBINE_MIN_I64:
        COMBINE_8 (int64_t, b < a ? b : a);
        return;
    case LOOM_COMBINE_MAX_I64:
        COMBINE_8 (int64_t, b > a ? b : a);
        return;
    case LOOM_COMBINE_MIN_F64:
        COMBINE_8 (double, b < a ? b : a);
        return;
    case LOOM_COMBINE_MAX_F64:
        COMBINE_8 (double, b > a ? b : a);
        return;
    }
}

static int ctab_grow (struct loom__ctab *t, const struct loom__shape *s)
{
    uint64_t n = t->nslots ? t->nslots * 2 : 1024;
    uint64_t *slots = calloc (n, sizeof (*slots));
    uint32_t *tags = malloc (n * sizeof (*tags));
    if (!slots || !tags) {
        free (slots);
        free (tags);
        errno = ENOMEM;
        return -1;
    }
    for (uint64_t i = 0; i < t->nslots; i++) {
        if (!t->slots[i])
            continue;
        /* The tag holds the hash's high 32 bits, and the slot index comes from its
         * low bits, which the tag does not keep: rehash from the record itself.
         */
        struct loom_record rec;
        loom__decode (s, t->arena.data + t->slots[i] - 1, UINT64_MAX, &rec);
        uint64_t h = loom_hash64 (rec.key, rec.key_len, t->seed);
        uint64_t j = h & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = t->slots[i];
        tags[j] = (uint32_t)(h >> 32);
    }
    free (t->slots);
    free (t->tags);
    t->slots = slots;
    t->tags = tags;
    t->nslots = n;
    return 0;
}

int loom__ctab_add (struct loom__ctab *t,
                    const struct loom__shape *s,
                    const struct loom__combiner *cb,
                    uint64_t hash,
                    const void *key,
                    size_t klen,
                    const void *val)
{
    /* Load factor at most 1/2 keeps probe sequences short. */
    if ((t->count + 1) * 2 > t->nslots && ctab_grow (t, s) < 0)
        return -1;
    uint64_t mask = t->nslots - 1;
    uint32_t tag = (uint32_t)(hash >> 32);
    for (uint64_t j = hash & mask;; j = (j + 1) & mask) {
        uint64_t slot = t->slots[j];
        if (!slot) {
            if (loom__buf_reserve (&t->arena, loom__enc_size (s, klen, s->vw)) < 0)
                return -1;
            t->slots[j] = t->arena.len + 1;
            t->tags[j] = tag;
            t->arena.len +=
                loom__encode (s, t->arena.data + t->arena.len, key, klen, val, s->vw);
            t->arena.nrec++;
            t->count++;
            return 0;
        }
        if (t->tags[j] != tag)
            continue;
        struct loom_record rec;
        loom__decode (s, t->arena.data + slot - 1, UINT64_MAX, &rec);
        if (rec.key_len == klen && memcmp (rec.key, key, klen) == 0) {
            loom__combine_values (cb, (void *)rec.value, val);
            return 1;
        }
    }
}

void loom__ctab_clear (struct loom__ctab *t)
{
    if (t->slots)
        memset (t->slots, 0, t->nslots * sizeof (*t->slots));
    t->arena.len = 0;
    t->arena.nrec = 0;
    t->count = 0;
}

void loom__ctab_free (struct loom__ctab *t)
{
    uint64_t seed = t->seed;
    free (t->slots);
    free (t->tags);
    loom__buf_free (&t->arena);
    memset (t, 0, sizeof (*t));
    t->seed = seed;
}

uint64_t loom__ctab_bytes (const struct loom__ctab *t)
{
    return t->arena.cap + t->nslots * (sizeof (*t->slots) + sizeof (*t->tags));
}
