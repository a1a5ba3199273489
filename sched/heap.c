/* SPDX-License-Identifier: MIT */
/* Indexed binary min-heap (see heap.h). */
#include <errno.h>
#include <stdlib.h>

#include "heap.h"

static size_t *pos (const struct loom__heap *h, const void *e)
{
    return (size_t *)((char *)e + h->idx_off);
}

static void put (struct loom__heap *h, size_t i, void *e)
{
    h->a[i] = e;
    *pos (h, e) = i;
}

static size_t sift_up (struct loom__heap *h, size_t i)
{
    void *e = h->a[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!h->less (e, h->a[p]))
            break;
        put (h, i, h->a[p]);
        i = p;
    }
    put (h, i, e);
    return i;
}

static void sift_down (struct loom__heap *h, size_t i)
{
    void *e = h->a[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        void *best = e;
        if (l < h->n && h->less (h->a[l], best)) {
            m = l;
            best = h->a[l];
        }
        if (l + 1 < h->n && h->less (h->a[l + 1], best))
            m = l + 1;
        if (m == i)
            break;
        put (h, i, h->a[m]);
        i = m;
    }
    put (h, i, e);
}

void loom__heap_init (struct loom__heap *h,
                      size_t idx_off,
                      int (*less) (const void *, const void *))
{
    h->a = NULL;
    h->n = h->cap = 0;
    h->idx_off = idx_off;
    h->less = less;
}

void loom__heap_free (struct loom__heap *h)
{
    free (h->a);
    h->a = NULL;
    h->n = h->cap = 0;
}

int loom__heap_push (struct loom__heap *h, void *e)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        void **a = realloc (h->a, cap * sizeof (*a));
        if (!a) {
            errno = ENOMEM;
            return -1;
        }
        h->a = a;
        h->cap = cap;
    }
    h->a[h->n] = e;
    sift_up (h, h->n++);
    return 0;
}

void *loom__heap_top (const struct loom__heap *h)
{
    return h->n ? h->a[0] : NULL;
}

void loom__heap_remove (struct loom__heap *h, void *e)
{
    size_t i = *pos (h, e);
    if (i == LOOM__HEAP_NONE || i >= h->n || h->a[i] != e)
        return;
    *pos (h, e) = LOOM__HEAP_NONE;
    h->n--;
    if (i == h->n)
        return;
    h->a[i] = h->a[h->n];
    *pos (h, h->a[i]) = i;
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

void loom__heap_update (struct loom__heap *h, void *e)
{
    size_t i = *pos (h, e);
    if (i == LOOM__HEAP_NONE || i >= h->n || h->a[i] != e)
        return;
    if (sift_up (h, i) == i)
        sift_down (h, i);
}

int loom__heap_contains (const struct loom__heap *h, const void *e)
{
    size_t i = *pos (h, e);
    return i != LOOM__HEAP_NONE && i < h->n && h->a[i] == e;
}
