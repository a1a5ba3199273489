/* SPDX-License-Identifier: MIT */
/* Indexed binary min-heap of pointers with their sort keys stored inline. Each
 * element stores its own position (at 'idx_off' bytes into it) so that removing or
 * re-keying an element is O(log n) without a search. The scheduler keeps frameworks,
 * users and running tasks' deadlines in these.
 *
 * The key sits in the heap's array next to the pointer, so sifting compares without
 * reading the elements: with ~170,000 running tasks a comparison through pointers
 * was a cache miss on each side. The caller passes the key at push and update and
 * must update the heap whenever the key it was derived from changes.
 */
#ifndef LOOM_SCHED_HEAP_H
#define LOOM_SCHED_HEAP_H

#include <stddef.h>
#include <stdint.h>

#define LOOM__HEAP_NONE ((size_t)-1)

/* Ordered by hi, then lo, as unsigned integers. A non-negative double orders as its
 * bit pattern does (loom__heap_dkey), so shares fit in hi and a tie-break id in lo.
 */
struct loom__heap_key {
    uint64_t hi, lo;
};

static inline int loom__heap_key_less (const struct loom__heap_key *x,
                                       const struct loom__heap_key *y)
{
    return x->hi < y->hi || (x->hi == y->hi && x->lo < y->lo);
}

/* The entries a[0 .. n-1] may be read in place (e.g. to scan the keys); only the
 * functions below change them.
 */
struct loom__heap_ent {
    struct loom__heap_key k;
    void *e;
};

struct loom__heap {
    struct loom__heap_ent *a;
    size_t n, cap;
    size_t idx_off; /* offset of a size_t position inside each element */
};

/* The key of a non-negative double 'd' (not NaN), tie-broken by 'id'. */
struct loom__heap_key loom__heap_dkey (double d, uint64_t id);

void loom__heap_init (struct loom__heap *h, size_t idx_off);
void loom__heap_free (struct loom__heap *h);
/* Returns 0, or -1 with errno ENOMEM. */
int loom__heap_push (struct loom__heap *h, void *e, struct loom__heap_key k);
void *loom__heap_top (const struct loom__heap *h);
void *loom__heap_pop (struct loom__heap *h);
/* Remove 'e' if it is in the heap (its position is not LOOM__HEAP_NONE). */
void loom__heap_remove (struct loom__heap *h, void *e);
/* Give 'e' (if it is in the heap) key 'k' and restore order; 'k' may move either way.
 */
void loom__heap_update (struct loom__heap *h, void *e, struct loom__heap_key k);
int loom__heap_contains (const struct loom__heap *h, const void *e);

#endif
