/* SPDX-License-Identifier: MIT */
/* Node placement. Up nodes sit in buckets by their number of free cores, so finding
 * the best-fitting node for a request looks at the buckets from the request's size
 * upward (at most max-cores-per-node buckets) instead of at every node, and taking or
 * returning cores moves one node between two buckets in O(1).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "internal.h"

void loom__bucket_unlink (loom__core_t *c, struct loom__node *n)
{
    if (n->bprev)
        n->bprev->bnext = n->bnext;
    else if (c->buckets[n->free_cores] == n)
        c->buckets[n->free_cores] = n->bnext;
    if (n->bnext)
        n->bnext->bprev = n->bprev;
    n->bprev = n->bnext = NULL;
}

void loom__bucket_link (loom__core_t *c, struct loom__node *n)
{
    n->bprev = NULL;
    n->bnext = c->buckets[n->free_cores];
    if (n->bnext)
        n->bnext->bprev = n;
    c->buckets[n->free_cores] = n;
}

int loom__nodes_init_buckets (loom__core_t *c)
{
    struct loom__node **b = calloc (c->max_cores + 1, sizeof (*b));
    if (!b)
        return -1;
    free (c->buckets);
    c->buckets = b;
    for (uint32_t i = 0; i < c->nnodes; i++) {
        struct loom__node *n = c->nodes[i];
        n->bprev = n->bnext = NULL;
        if (n->up)
            loom__bucket_link (c, n);
    }
    return 0;
}

void loom__nodes_take (loom__core_t *c,
                       struct loom__node *n,
                       const uint64_t *mask,
                       uint32_t ncores,
                       uint64_t mem)
{
    if (n->up)
        loom__bucket_unlink (c, n);
    for (uint32_t w = 0; w < n->nwords; w++)
        n->free_mask[w] &= ~mask[w];
    n->free_cores -= ncores;
    n->free_mem -= mem;
    if (n->up) {
        c->free_cores -= ncores;
        c->free_mem -= mem;
        loom__bucket_link (c, n);
    }
}

void loom__nodes_give (loom__core_t *c,
                       struct loom__node *n,
                       const uint64_t *mask,
                       uint32_t ncores,
                       uint64_t mem)
{
    if (n->up)
        loom__bucket_unlink (c, n);
    for (uint32_t w = 0; w < n->nwords; w++)
        n->free_mask[w] |= mask[w];
    n->free_cores += ncores;
    n->free_mem += mem;
    if (n->up) {
        c->free_cores += ncores;
        c->free_mem += mem;
        loom__bucket_link (c, n);
    }
}

/* Lowest 'k' free cores of n into mask (zeroed first). */
static void pick_cores (const struct loom__node *n, uint32_t k, uint64_t *mask)
{
    memset (mask, 0, n->nwords * sizeof (*mask));
    for (uint32_t w = 0; w < n->nwords && k > 0; w++) {
        uint64_t f = n->free_mask[w];
        while (f && k > 0) {
            uint64_t low = f & (~f + 1);
            mask[w] |= low;
            f &= f - 1;
            k--;
        }
    }
}

struct part_plan {
    struct loom__node *n;
    uint32_t slots;
};

static struct loom__alloc *
build (const struct part_plan *plan, uint32_t nparts, uint32_t cps, uint64_t mps)
{
    size_t words = 0;
    for (uint32_t i = 0; i < nparts; i++)
        words += plan[i].n->nwords;
    size_t head =
        sizeof (struct loom__alloc) + nparts * sizeof (struct loom__alloc_part);
    head = (head + 7) & ~(size_t)7;
    struct loom__alloc *a = malloc (head + words * sizeof (uint64_t));
    if (!a)
        return NULL;
    uint64_t *pool = (uint64_t *)((char *)a + head);
    a->nparts = nparts;
    for (uint32_t i = 0; i < nparts; i++) {
        struct loom__alloc_part *p = &a->parts[i];
        p->node = plan[i].n->idx;
        p->ncores = plan[i].slots * cps;
        p->mem = plan[i].slots * mps;
        p->mask = pool;
        pool += plan[i].n->nwords;
        pick_cores (plan[i].n, p->ncores, p->mask);
    }
    return a;
}

static int mem_fits (const struct loom__node *n, uint64_t mem)
{
    return mem == 0 || n->free_mem >= mem;
}

struct loom__alloc *loom__nodes_find (loom__core_t *c,
                                      uint32_t nslots,
                                      uint32_t cps,
                                      uint64_t mps,
                                      const struct loom__node *avoid)
{
    uint64_t need = (uint64_t)nslots * cps;
    uint64_t needmem = (uint64_t)nslots * mps;

    if (need > c->free_cores || (needmem && needmem > c->free_mem))
        return NULL;
    if (need <= c->max_cores) {
        /* Best fit: the fullest node that still has room. */
        for (uint32_t f = (uint32_t)need; f <= c->max_cores; f++) {
            for (struct loom__node *n = c->buckets[f]; n; n = n->bnext) {
                if (n == avoid || !mem_fits (n, needmem))
                    continue;
                struct part_plan p = {n, nslots};
                return build (&p, 1, cps, mps);
            }
        }
    }
    if (nslots < 2)
        return NULL;
    /* Spread whole slots over nodes, emptiest first, so the job uses few nodes. */
    struct part_plan *plan = NULL;
    uint32_t nplan = 0, cap = 0, left = nslots;
    for (uint32_t f = c->max_cores; f >= cps && left > 0; f--) {
        for (struct loom__node *n = c->buckets[f]; n && left > 0; n = n->bnext) {
            if (n == avoid)
                continue;
            uint32_t k = f / cps;
            if (mps && n->free_mem / mps < k)
                k = (uint32_t)(n->free_mem / mps);
            if (k > left)
                k = left;
            if (k == 0)
                continue;
            if (nplan == cap) {
                cap = cap ? 2 * cap : 8;
                struct part_plan *np = realloc (plan, cap * sizeof (*plan));
                if (!np) {
                    free (plan);
                    return NULL;
                }
                plan = np;
            }
            plan[nplan++] = (struct part_plan){n, k};
            left -= k;
        }
        if (f == 0)
            break;
    }
    struct loom__alloc *a = left == 0 ? build (plan, nplan, cps, mps) : NULL;
    free (plan);
    return a;
}
