/* SPDX-License-Identifier: MIT */
/* Indexed binary min-heap with inline keys (see heap.h). The sift order is the one
 * of the pointer heap it replaces (same comparisons, same moves), so equal keys, as
 * the deadlines of tasks started together may be, come out in the same order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

static size_t *pos (const struct loom__heap *h, const void *e)
{
    return (size_t *)((char *)e + h->idx_off);
}

static void put (struct loom__heap *h, size_t i, struct loom__heap_ent ent)
{
    h->a[i] = ent;
    *pos (h, ent.e) = i;
}

static size_t sift_up (struct loom__heap *h, size_t i)
{
    struct loom__heap_ent ent = h->a[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!loom__heap_key_less (&ent.k, &h->a[p].k))
            break;
        put (h, i, h->a[p]);
        i = p;
    }
    put (h, i, ent);
    return i;
}

static void sift_down (struct loom__heap *h, size_t i)
{
    struct loom__heap_ent ent = h->a[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const struct loom__heap_key *best = &ent.k;
        if (l < h->n && loom__heap_key_less (&h->a[l].k, best)) {
            m = l;
            best = &h->a[l].k;
        }
        if (l + 1 < h->n && loom__heap_key_less (&h->a[l + 1].k, best))
            m = l + 1;
        if (m == i)
            break;
        put (h, i, h->a[m]);
        i = m;
    }
    put (h, i, ent);
}

struct loom__heap_key loom__heap_dkey (double d, uint64_t id)
{
    struct loom__heap_key k = {0, id};
    if (d > 0) /* also maps -0.0 to +0.0, which the bits would put last */
        memcpy (&k.hi, &d, sizeof (k.hi));
    return k;
}

void loom__heap_init (struct loom__heap *h, size_t idx_off)
{
    h->a = NULL;
    h->n = h->cap = 0;
    h->idx_off = idx_off;
}

void loom__heap_free (struct loom__heap *h)
{
    free (h->a);
    h->a = NULL;
    h->n = h->cap = 0;
}

int loom__heap_push (struct loom__heap *h, void *e, struct loom__heap_key k)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        struct loom__heap_ent *a = realloc (h->a, cap * sizeof (*a));
        if (!a) {
            errno = ENOMEM;
            return -1;
        }
        h->a = a;
        h->cap = cap;
    }
    h->a[h->n] = (struct loom__heap_ent){k, e};
    sift_up (h, h->n++);
    return 0;
}

void *loom__heap_top (const struct loom__heap *h)
{
    return h->n ? h->a[0].e : NULL;
}

void loom__heap_remove (struct loom__heap *h, void *e)
{
    size_t i = *pos (h, e);
    if (i == LOOM__HEAP_NONE || i >= h->n || h->a[i].e != e)
        return;
    *pos (h, e) = LOOM__HEAP_NONE;
    h->n--;
    if (i == h->n)
        return;
    h->a[i] = h->a[h->n];
    *pos (h, h->a[i].e) = i;
    if (sift_up (h, i) == i)
        sift_down (h, i);
}

void *loom__heap_pop (struct loom__heap *h)
{
    void *e = loom__heap_top (h);
    if (e)
        loom__heap_remove (h, e);
    return e;
}

void loom__heap_update (struct loom__heap *h, void *e, struct loom__heap_key k)
{
    size_t i = *pos (h, e);
    if (i == LOOM__HEAP_NONE || i >= h->n || h->a[i].e != e)
        return;
    h->a[i].k = k;
    if (sift_up (h, i) == i)
        sift_down (h, i);
}

int loom__heap_contains (const struct loom__heap *h, const void *e)
{
    size_t i = *pos (h, e);
    return i != LOOM__HEAP_NONE && i < h->n && h->a[i].e == e;
}
