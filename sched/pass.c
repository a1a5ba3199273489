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

/* Would try_start refuse u's queue head without searching, from what the pass has
 * learnt? The same tests try_start makes before its search, and nothing else. They
 * read the head's request as the user caches it (see core.h), not the task and job
 * records: the budget-spent part of a pass asks this of every user with demand.
 */
static int surely_fails (const loom__core_t *c,
                         const struct loom__user *u,
                         const struct reservation *r,
                         uint64_t now)
{
    if (u->head_cores == 0) /* several slots */
        return 0;
    int k = 0;
    if (r->active && u->head != c->res_task) {
        int ends_before = u->head_limit && r->shadow != UINT64_MAX
                          && now + u->head_limit <= r->shadow;
        if (!ends_before) {
            if (!r->node)
                return 1;
            k = 1;
        }
    }
    return known_to_fail (r, k, u->head_cores, u->head_mem)
           || known_to_fail (r, 0, u->head_cores, u->head_mem);
}

/* Users out for the rest of the pass.
 *
 * A user whose turn started nothing is passed over for the rest of the pass. It
 * stays in its framework's heap with its key (it starts nothing, so its share does
 * not move) and is marked: u->skip_gen == c->pass_gen. Taking it out of the heap and
 * pushing it back at the end of the pass cost two sifts through a heap as deep as
 * the users with demand, per user and per pass; a mark costs a store. The next user
 * is the first unmarked one in key order: a walk from the root of the heap that
 * expands marked users (their children may be next), a few steps for the few users
 * passed over in a pass. When the marked users near the root get many, they are
 * taken out of the heap for real (u->stalled, fw->stalled), so a walk stays short
 * whatever the number of users. A framework whose users are all passed over is
 * taken out of the framework heap (fw->stalled_pass) at once, as before, so a user
 * that gets demand during the pass (a released dependency) waits for the next pass
 * as it did. A framework counts its marked users (fw->nmarked) so that it leaves the
 * framework heap, as it did, when a start leaves only marked users in its heap
 * (loom__fw_refresh).
 */
#define WALK_MAX 16 /* walk frontier beyond which marked users leave the heap */

static int user_marked (const loom__core_t *c, const struct loom__user *u)
{
    return u->skip_gen == c->pass_gen;
}

static void stall_fw (loom__core_t *c, struct loom__fw *fw)
{
    fw->stalled_pass = 1;
    loom__fw_refresh (c, fw);
}

/* Pass over u (in its framework's heap, unmarked) for the rest of the pass; pass
 * over its framework too when no unmarked user is left in it (it then stays out of
 * the framework heap for the pass, even if a user gets demand).
 */
static void stall_user (loom__core_t *c, struct loom__user *u)
{
    struct loom__fw *fw = u->fw;
    u->skip_gen = c->pass_gen;
    fw->nmarked = loom__fw_nmarked (c, fw) + 1;
    fw->mark_gen = c->pass_gen;
    if (fw->nmarked == fw->users.n)
        stall_fw (c, fw);
}

/* Take fw's marked users out of its heap for real. */
static void unmark_all (loom__core_t *c, struct loom__fw *fw)
{
    struct loom__user *list = NULL; /* collected first: removals move entries */
    for (size_t k = 0; k < fw->users.n; k++) {
        struct loom__user *u = fw->users.a[k].e;
        if (user_marked (c, u)) {
            u->stall_next = list;
            list = u;
        }
    }
    while (list) {
        struct loom__user *u = list;
        list = u->stall_next;
        loom__heap_remove (&fw->users, u);
        u->skip_gen = 0;
        u->stalled = 1;
        u->stall_next = fw->stalled;
        fw->stalled = u;
    }
    fw->nmarked = 0;
}

/* The unmarked user of fw with the lowest key, or NULL. */
static struct loom__user *first_unmarked (loom__core_t *c, struct loom__fw *fw)
{
    const struct loom__heap *h = &fw->users;
    if (loom__fw_nmarked (c, fw) == 0)
        return loom__heap_top (h);
    size_t front[WALK_MAX], nf = 0;
    if (h->n)
        front[nf++] = 0;
    while (nf > 0) {
        size_t b = 0;
        for (size_t j = 1; j < nf; j++)
            if (loom__heap_key_less (&h->a[front[j]].k, &h->a[front[b]].k))
                b = j;
        size_t i = front[b];
        front[b] = front[--nf];
        struct loom__user *u = h->a[i].e;
        if (!user_marked (c, u))
            return u;
        if (nf + 2 > WALK_MAX) {
            unmark_all (c, fw);
            return loom__heap_top (h);
        }
        for (size_t ch = 2 * i + 1; ch <= 2 * i + 2 && ch < h->n; ch++)
            front[nf++] = ch;
    }
    return NULL;
}

/* Once the backfill budget is spent, a user's turn is its head alone, and a head that
 * surely fails changes nothing but the marks: taking users in share order, the pass
 * would pass over each until it came to the first head that might start, a step per
 * user with demand. It goes to that user directly: the lowest (framework, user) in
 * share order whose head might start, or NULL if none might and the pass is over.
 * The frameworks and users before it are passed over as the walk would have. Same
 * tries in the same order, so the same decisions.
 *
 * The scan reads the keys inline in the heaps, and a head found to fail is marked
 * (u->sf_gen): within a pass the reservation is fixed and the known failures only
 * grow, so the mark holds until the user's queue changes (enqueue and dequeue clear
 * it) or a start fails and gives its cores back (c->sf_gen moves on).
 */
static struct loom__user *next_candidate (loom__core_t *c, const struct reservation *r)
{
    uint64_t now = c->ops->now (c->arg);
    struct loom__user *best = NULL;
    struct loom__heap_key bestfk = {0, 0}, bestuk = {0, 0};
    for (size_t i = 0; i < c->fw_heap.n; i++) {
        const struct loom__heap_ent *fe = &c->fw_heap.a[i];
        struct loom__fw *fw = fe->e;
        if (fw->kind == LOOM__FW_OFFER)
            continue; /* with a reservation, an offer framework is only stalled */
        if (best && !loom__heap_key_less (&fe->k, &bestfk))
            continue;
        struct loom__user *cand = NULL;
        struct loom__heap_key ck = {0, 0};
        for (size_t k = 0; k < fw->users.n; k++) {
            const struct loom__heap_ent *ue = &fw->users.a[k];
            if (cand && !loom__heap_key_less (&ue->k, &ck))
                continue;
            struct loom__user *u = ue->e;
            if (u->sf_gen == c->sf_gen || user_marked (c, u))
                continue;
            if (surely_fails (c, u, r, now)) {
                u->sf_gen = c->sf_gen;
                continue;
            }
            cand = u;
            ck = ue->k;
        }
        if (cand) {
            best = cand;
            bestfk = fe->k;
            bestuk = ck;
        }
    }
    if (!best)
        return NULL;
    struct loom__fw *bfw = best->fw;
    while (loom__heap_top (&c->fw_heap) != bfw)
        stall_fw (c, loom__heap_top (&c->fw_heap));
    for (size_t k = 0; k < bfw->users.n; k++) {
        struct loom__user *u = bfw->users.a[k].e;
        if (loom__heap_key_less (&bfw->users.a[k].k, &bestuk) && !user_marked (c, u)) {
            u->skip_gen = c->pass_gen;
            bfw->nmarked = loom__fw_nmarked (c, bfw) + 1;
            bfw->mark_gen = c->pass_gen;
        }
    }
    return best;
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
        c->sf_gen++; /* heads marked as failing may fit again */
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

/* The end of a pass: users taken out of their heaps go back (in the order they were
 * taken out, lowest share first, so most pushes are one comparison), marks expire
 * with the pass, and the frameworks are refreshed once each.
 */
static void unstall_all (loom__core_t *c)
{
    for (uint32_t i = 0; i < c->nfws; i++) {
        struct loom__fw *fw = c->fws[i];
        /* A framework left in the heap is in place: its key moves with every start. */
        int refresh =
            fw->stalled_pass || fw->stalled || !loom__heap_contains (&c->fw_heap, fw);
        struct loom__user *order = NULL; /* fw->stalled is last stalled first */
        while (fw->stalled) {
            struct loom__user *u = fw->stalled;
            fw->stalled = u->stall_next;
            u->stall_next = order;
            order = u;
        }
        while (order) {
            struct loom__user *u = order;
            order = u->stall_next;
            u->stall_next = NULL;
            u->stalled = 0;
            u->key = loom__core_user_share (c, u);
            if (u->pending > 0)
                loom__heap_push (&fw->users, u, loom__user_hkey (u));
        }
        fw->nmarked = 0;
        fw->stalled_pass = 0;
        if (refresh)
            loom__fw_refresh (c, fw);
    }
    c->pass_gen++; /* the marks end with the pass */
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
    c->pass_gen++; /* no user passed over yet */
    c->sf_gen++;   /* no head known to fail yet */
    while (c->free_cores > 0) {
        struct loom__fw *fw;
        struct loom__user *u;
        if (budget == 0) { /* then a reservation is active: see next_candidate */
            if (!(u = next_candidate (c, &r)))
                break;
            fw = u->fw;
        } else {
            if (!(fw = loom__heap_top (&c->fw_heap)))
                break;
            if (fw->kind == LOOM__FW_OFFER) {
                if (r.active || loom__offer_make (c, fw) < 0)
                    stall_fw (c, fw); /* an offer could take reserved cores */
                continue;
            }
            if (!(u = first_unmarked (c, fw))) {
                stall_fw (c, fw); /* not reached: fw would have left the heap */
                continue;
            }
        }
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
        stall_user (c, u);
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
