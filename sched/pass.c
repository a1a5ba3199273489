/* SPDX-License-Identifier: MIT */
/* The scheduling pass: DRF picks the framework, then the user, with the lowest
 * weighted dominant share; that user's queue head (highest priority, then FIFO) is
 * placed if it fits. When it does not, it gets the one reservation of the pass (EASY
 * backfill): the node and the time ("shadow") at which the time limits of running
 * tasks say it will fit. Other tasks then start only where they cannot delay it: on
 * another node, or anywhere if their own time limit ends before the shadow time.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core.h"
#include "internal.h"

struct reservation {
    int active;
    const struct loom__node *node; /* NULL: the head needs several nodes */
    uint64_t shadow;               /* UINT64_MAX: unknown */
    /* Within a pass free resources only shrink, so once a one-node request of
     * (cores, mem) found no room, any request at least as large fails too. One such
     * point per kind of search (all nodes, or all but the reserved one) lets a
     * saturated cluster turn most candidates away in O(1).
     */
    struct {
        int set;
        uint64_t cores, mem;
    } failed[2];
    uint64_t learnt; /* bumped whenever failed[] changes */
};

static int known_to_fail (const struct reservation *r, int k, uint64_t c, uint64_t m)
{
    return r->failed[k].set && c >= r->failed[k].cores && m >= r->failed[k].mem;
}

static void note_failure (struct reservation *r, int k, uint64_t c, uint64_t m)
{
    if (!r->failed[k].set || c < r->failed[k].cores
        || (c == r->failed[k].cores && m < r->failed[k].mem)) {
        r->failed[k].set = 1;
        r->failed[k].cores = c;
        r->failed[k].mem = m;
        r->learnt++;
    }
}

/* Would try_start refuse t without searching, from what the pass has learnt? The same
 * tests try_start makes before its search, and nothing else.
 */
static int surely_fails (const loom__core_t *c,
                         const struct loom__task *t,
                         const struct reservation *r,
                         uint64_t now)
{
    const struct loom__job *j = t->job;
    if (j->nslots != 1)
        return 0;
    int k = 0;
    if (r->active && t != c->res_task) {
        int ends_before = j->time_limit_ns && r->shadow != UINT64_MAX
                          && now + j->time_limit_ns <= r->shadow;
        if (!ends_before) {
            if (!r->node)
                return 1;
            k = 1;
        }
    }
    return known_to_fail (r, k, j->cores_per_slot, j->mem_per_slot)
           || known_to_fail (r, 0, j->cores_per_slot, j->mem_per_slot);
}

/* Once the backfill budget is spent, a user's turn is its head alone, and a head that
 * surely fails changes nothing but the heaps (stalled, then put back with the same
 * key). When every head left in the heaps surely fails, the rest of the pass is
 * that churn, one heap removal and push per user with demand: the pass ends instead,
 * with the same decisions and the same heaps. Returns NULL then, else a user whose
 * head might start (scan again once it is stalled or the pass learnt something).
 */
static struct loom__user *
blocked_rest (loom__core_t *c, const struct reservation *r, struct loom__user **blocker)
{
    uint64_t now = c->ops->now (c->arg);
    for (size_t i = 0; i < c->fw_heap.n; i++) {
        struct loom__fw *fw = c->fw_heap.a[i].e;
        if (fw->kind == LOOM__FW_OFFER)
            continue; /* with a reservation, an offer framework is only stalled */
        for (size_t k = 0; k < fw->users.n; k++) {
            struct loom__user *u = fw->users.a[k].e;
            if (!surely_fails (c, loom__queue_head (u), r, now))
                return *blocker = u;
        }
    }
    return *blocker = NULL;
}

void loom__task_launch (loom__core_t *c, struct loom__task *t)
{
    struct loom__job *j = t->job;
    uint64_t now = c->ops->now (c->arg);
    loom__set_state (t, LOOM__T_RUNNING);
    t->attempt++;
    t->start_ns = now;
    t->end_ns = 0;
    t->wstatus = 0;
    t->maxrss = 0;
    t->term_sent = t->timed_out = t->lost = t->cancel_requested = 0;
    loom__running_link (c, t);
    loom__usage_add (c, t, +1);
    if (j->time_limit_ns) {
        t->deadline = now + j->time_limit_ns;
        loom__heap_push (&c->deadlines, t, loom__deadline_hkey (t));
    }
    c->decisions++;
    if (c->ops->start (c->arg, t) < 0) {
        if (c->ops->task_changed)
            c->ops->task_changed (c->arg, t);
        loom__job_started (c, j);
        loom__task_finish (c, t, 127 << 8); /* as a shell reports "not found" */
        return;
    }
    if (c->ops->task_changed)
        c->ops->task_changed (c->arg, t);
    loom__job_started (c, j);
}

/* Place and start t now if the reservation allows. Returns 1 if it started. */
static int try_start (loom__core_t *c, struct loom__task *t, struct reservation *r)
{
    struct loom__job *j = t->job;
    const struct loom__node *avoid = NULL;
    if (r->active && t != c->res_task) {
        uint64_t now = c->ops->now (c->arg);
        int ends_before = j->time_limit_ns && r->shadow != UINT64_MAX
                          && now + j->time_limit_ns <= r->shadow;
        if (!ends_before) {
            if (!r->node)
                return 0;
            avoid = r->node;
        }
    }
    uint64_t cores = (uint64_t)j->nslots * j->cores_per_slot;
    uint64_t mem = (uint64_t)j->nslots * j->mem_per_slot;
    int single = j->nslots == 1, k = avoid != NULL;
    /* A failure without avoiding a node implies one that avoids it. */
    if (single
        && (known_to_fail (r, k, cores, mem) || known_to_fail (r, 0, cores, mem)))
        return 0;
    struct loom__alloc *a =
        loom__nodes_find (c, j->nslots, j->cores_per_slot, j->mem_per_slot, avoid);
    if (!a) {
        if (single)
            note_failure (r, k, cores, mem);
        return 0;
    }
    for (uint32_t p = 0; p < a->nparts; p++) {
        struct loom__alloc_part *ap = &a->parts[p];
        loom__nodes_take (c, c->nodes[ap->node], ap->mask, ap->ncores, ap->mem);
    }
    loom__dequeue (c, t);
    t->alloc = a;
    if (r->active && t != c->res_task)
        c->backfilled++;
    loom__task_launch (c, t);
    if (t->state != LOOM__T_RUNNING) { /* it failed to start: its cores came back */
        memset (r->failed, 0, sizeof (r->failed));
        r->learnt++;
    }
    return 1;
}

/* When will t fit, and where? Walks running tasks by expected end (their time limits)
 * and adds their cores back, node by node, until t fits. Bounded: past 'limit' ends,
 * the estimate is "unknown" and only other nodes may be used.
 */
static void reserve (loom__core_t *c, const struct loom__task *t, struct reservation *r)
{
    const struct loom__job *j = t->job;
    uint64_t need = (uint64_t)j->nslots * j->cores_per_slot;
    uint64_t needmem = (uint64_t)j->nslots * j->mem_per_slot;
    const size_t limit = 256;
    int single = need <= c->max_cores;
    uint64_t gen = ++c->bf_gen, tot = c->free_cores;
    size_t k = 0;

    r->active = 1;
    r->node = NULL;
    r->shadow = UINT64_MAX;
    if (c->capscratch < limit) {
        struct loom__task **s = realloc (c->scratch, limit * sizeof (*s));
        if (!s)
            goto fallback;
        c->scratch = s;
        c->capscratch = limit;
    }
    while (k < limit && c->deadlines.n > 0) {
        struct loom__task *x = loom__heap_pop (&c->deadlines);
        c->scratch[k++] = x;
        for (uint32_t p = 0; p < x->alloc->nparts; p++) {
            const struct loom__alloc_part *ap = &x->alloc->parts[p];
            struct loom__node *n = c->nodes[ap->node];
            if (!n->up)
                continue;
            if (n->bf_gen != gen) {
                n->bf_gen = gen;
                n->bf_free = n->free_cores;
                n->bf_mem = n->free_mem;
            }
            n->bf_free += ap->ncores;
            n->bf_mem += ap->mem;
            tot += ap->ncores;
            if (single && n->bf_free >= need && (!needmem || n->bf_mem >= needmem)) {
                r->node = n;
                r->shadow = x->deadline;
            }
        }
        if (r->node || (!single && tot >= need)) {
            if (!single)
                r->shadow = x->deadline;
            break;
        }
    }
    for (size_t i = 0; i < k; i++)
        loom__heap_push (&c->deadlines, c->scratch[i],
                         loom__deadline_hkey (c->scratch[i]));
fallback:
    if (single && !r->node) {
        /* No estimate: hold the node with the most free cores for it. */
        for (uint32_t f = c->max_cores + 1; f-- > 0 && !r->node;)
            if (c->buckets[f])
                r->node = c->buckets[f];
    }
}

/* Take u, the top of its framework's heap, out for the rest of the pass. Nothing in
 * the fw changes but its heap: the caller stalls the fw when no user is left.
 */
static void stall_user (struct loom__user *u)
{
    u->stalled = 1;
    u->stall_next = u->fw->stalled;
    u->fw->stalled = u;
    loom__heap_remove (&u->fw->users, u);
}

static void stall_fw (loom__core_t *c, struct loom__fw *fw)
{
    fw->stalled_pass = 1;
    loom__fw_refresh (c, fw);
}

/* With a backlog, every user with demand is stalled in most passes: this is the
 * per-pass work that grows with their number, so it is kept to a heap push each.
 * Users were stalled in the order the heap gave them, lowest share first, and a
 * stalled user starts nothing: putting them back in that order makes each push one
 * comparison with its parent (the reverse order sifted each up to the root), and
 * their framework is refreshed once, not once per user.
 */
static void unstall_all (loom__core_t *c)
{
    for (uint32_t i = 0; i < c->nfws; i++) {
        struct loom__fw *fw = c->fws[i];
        struct loom__user *order = NULL; /* fw->stalled is last stalled first */
        while (fw->stalled) {
            struct loom__user *u = fw->stalled;
            fw->stalled = u->stall_next;
            u->stall_next = order;
            order = u;
        }
        fw->stalled_pass = 0;
        while (order) {
            struct loom__user *u = order;
            order = u->stall_next;
            u->stall_next = NULL;
            u->stalled = 0;
            u->key = loom__core_user_share (c, u);
            if (u->pending > 0)
                loom__heap_push (&fw->users, u, loom__user_hkey (u));
        }
        loom__fw_refresh (c, fw);
    }
}

uint64_t loom__core_schedule (loom__core_t *c)
{
    struct reservation r;
    int budget = LOOM__BF_BUDGET; /* bounds a saturated pass, whatever the queues */
    memset (&r, 0, sizeof (r));
    uint64_t started = 0;

    /* The task holding the reservation keeps it until it starts (or its estimate
     * has passed): every start of this pass respects it from the first one.
     */
    if (c->res_task && c->res_shadow > c->ops->now (c->arg)) {
        r.active = 1;
        r.node = c->res_node;
        r.shadow = c->res_shadow;
    } else {
        c->res_task = NULL;
    }
    struct loom__user *blocker = NULL; /* from the last blocked_rest scan */
    uint64_t scanned = UINT64_MAX;     /* r.learnt + started at that scan */
    while (c->free_cores > 0) {
        if (budget == 0 && (scanned != r.learnt + started || blocker->stalled)) {
            scanned = r.learnt + started;
            if (!blocked_rest (c, &r, &blocker))
                break;
        }
        struct loom__fw *fw = loom__heap_top (&c->fw_heap);
        if (!fw)
            break;
        if (fw->kind == LOOM__FW_OFFER) {
            if (r.active || loom__offer_make (c, fw) < 0)
                stall_fw (c, fw); /* an offer could take reserved cores */
            continue;
        }
        struct loom__user *u = loom__heap_top (&fw->users);
        struct loom__task *t = loom__queue_head (u);
        if (try_start (c, t, &r)) {
            started++;
            continue;
        }
        if (!r.active) {
            reserve (c, t, &r);
            c->reservations++;
            c->res_task = t;
            c->res_node = (struct loom__node *)r.node;
            c->res_shadow = r.shadow;
        }
        /* Backfill from behind the head, a bounded window of this user's queue. */
        int n = 0, ok = 0;
        for (struct loom__task *x = loom__queue_next (u, t);
             x && n < LOOM__BF_WINDOW && budget > 0;
             x = loom__queue_next (u, x), n++, budget--) {
            if (try_start (c, x, &r)) {
                ok = 1;
                break;
            }
        }
        if (ok) {
            started++;
            continue;
        }
        stall_user (u);
        if (fw->users.n == 0)
            stall_fw (c, fw);
    }
    unstall_all (c);
    return started;
}

uint64_t loom__core_tick (loom__core_t *c)
{
    uint64_t now = c->ops->now (c->arg);
    for (;;) {
        struct loom__task *t = loom__heap_top (&c->deadlines);
        if (!t || t->deadline > now)
            break;
        loom__heap_pop (&c->deadlines);
        if (!t->term_sent) {
            t->timed_out = 1;
            loom__task_signal (c, t, SIGTERM); /* re-arms for the SIGKILL */
        } else {
            c->ops->kill (c->arg, t, SIGKILL);
        }
    }
    uint64_t next = loom__offers_tick (c, now);
    struct loom__task *t = loom__heap_top (&c->deadlines);
    if (t && t->deadline < next)
        next = t->deadline;
    return next;
}
