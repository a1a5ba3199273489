/* SPDX-License-Identifier: MIT */
/* Indexed binary min-heap of pointers. Each element stores its own position (at
 * 'idx_off' bytes into it) so that removing or re-keying an element is O(log n)
 * without a search. The scheduler keeps frameworks, users and deadlines in these.
 */
#ifndef LOOM_SCHED_HEAP_H
#define LOOM_SCHED_HEAP_H

#include <stddef.h>

#define LOOM__HEAP_NONE ((size_t)-1)

struct loom__heap {
    void **a;
    size_t n, cap;
    size_t idx_off; /* offset of a size_t position inside each element */
    int (*less) (const void *x, const void *y);
};

void loom__heap_init (struct loom__heap *h,
                      size_t idx_off,
                      int (*less) (const void *, const void *));
void loom__heap_free (struct loom__heap *h);
/* Returns 0, or -1 with errno ENOMEM. */
int loom__heap_push (struct loom__heap *h, void *e);
void *loom__heap_top (const struct loom__heap *h);
void *loom__heap_pop (struct loom__heap *h);
/* Remove 'e' if it is in the heap (its position is not LOOM__HEAP_NONE). */
void loom__heap_remove (struct loom__heap *h, void *e);
/* Restore order after e's key changed in either direction. */
void loom__heap_update (struct loom__heap *h, void *e);
int loom__heap_contains (const struct loom__heap *h, const void *e);

#endif
