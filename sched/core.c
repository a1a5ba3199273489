/* SPDX-License-Identifier: MIT */
/* Policy core: frameworks, users, queues, jobs and tasks (see core.h). The pass
 * itself (DRF pick, placement, backfill) is in pass.c; offers in offer.c.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <loom/error.h>

#include "core.h"
#include "internal.h"

static const char *const state_names[LOOM__T_NSTATES] = {
    "waiting", "pending",   "running", "completed",
    "failed",  "cancelled", "timeout", "lost",
};

const char *loom__tstate_name (loom__tstate_t s)
{
    return (unsigned)s < LOOM__T_NSTATES ? state_names[s] : "unknown";
}

int loom__tstate_parse (const char *name)
{
    for (int i = 0; i < LOOM__T_NSTATES; i++)
        if (strcmp (state_names[i], name) == 0)
            return i;
    return -1;
}

/* Shares ---------------------------------------------------------------- */

static double share (const loom__core_t *c, uint64_t cores, uint64_t mem, double w)
{
    double s = c->total_cores ? (double)cores / (double)c->total_cores : 0.0;
    if (c->total_mem) {
        double m = (double)mem / (double)c->total_mem;
        if (m > s)
            s = m;
    }
    return s / w;
}

double loom__core_fw_share (const loom__core_t *c, const struct loom__fw *fw)
{
    return share (c, fw->used_cores, fw->used_mem, fw->weight);
}

double loom__core_user_share (const loom__core_t *c, const struct loom__user *u)
{
    return share (c, u->used_cores, u->used_mem, u->weight);
}

/* The framework and user heaps are keyed by the shares cached in 'key' (see
 * internal.h). A share changes only with usage, weight or the totals, and each such
 * change is followed by a refresh (loom__fw_refresh, loom__user_refresh,
 * loom__rekey_all) that recomputes the key and hands it to the heap: the order is
 * the live shares', and a comparison costs no division and no pointer chase (a
 * pass compares every user with demand, see pass.c).
 */
void loom__fw_refresh (loom__core_t *c, struct loom__fw *fw)
{
    int want;
    double old = fw->key;
    fw->key = loom__core_fw_share (c, fw);
    if (fw->removed || fw->stalled_pass)
        want = 0;
    else if (fw->kind == LOOM__FW_BATCH) /* users passed over in a pass do not count */
        want = fw->users.n > loom__fw_nmarked (c, fw);
    else
        want = fw->offers_out == 0 && fw->filter_until == 0;
    int in = loom__heap_contains (&c->fw_heap, fw);
    if (want && !in)
        loom__heap_push (&c->fw_heap, fw, loom__fw_hkey (fw));
    else if (!want && in)
        loom__heap_remove (&c->fw_heap, fw);
    else if (in && fw->key != old) /* an unchanged key is already in place */
        loom__heap_update (&c->fw_heap, fw, loom__fw_hkey (fw));
}

void loom__user_refresh (loom__core_t *c, struct loom__user *u)
{
    double old = u->key;
    u->key = loom__core_user_share (c, u);
    int want = u->pending > 0 && !u->stalled;
    int in = loom__heap_contains (&u->fw->users, u);
    if (want && !in)
        loom__heap_push (&u->fw->users, u, loom__user_hkey (u));
    else if (!want && in)
        loom__heap_remove (&u->fw->users, u);
    else if (in && u->key != old)
        loom__heap_update (&u->fw->users, u, loom__user_hkey (u));
    loom__fw_refresh (c, u->fw);
}

/* Shares are relative to the totals: when nodes come or go every key moves. Every
 * heap is emptied and refilled, so no comparison sees a key of the old totals.
 */
void loom__rekey_all (loom__core_t *c)
{
    for (uint32_t i = 0; i < c->nfws; i++)
        loom__heap_remove (&c->fw_heap, c->fws[i]);
    for (uint32_t i = 0; i < c->nfws; i++) {
        struct loom__fw *fw = c->fws[i];
        for (size_t k = 0; k < fw->nall; k++)
            loom__heap_remove (&fw->users, fw->all[k]);
        for (size_t k = 0; k < fw->nall; k++)
            loom__user_refresh (c, fw->all[k]);
        loom__fw_refresh (c, fw);
    }
}

/* Create / destroy ---------------------------------------------------------- */

loom__core_t *loom__core_create (const struct loom__core_ops *ops, void *arg)
{
    if (!ops || !ops->now || !ops->start || !ops->kill) {
        errno = EINVAL;
        return NULL;
    }
    loom__core_t *c = calloc (1, sizeof (*c));
    if (!c)
        return NULL;
    c->ops = ops;
    c->arg = arg;
    c->next_id = 1;
    c->next_offer_id = 1;
    c->kill_grace_ns = 5ull * 1000000000ull;
    c->offer_timeout_ns = 30ull * 1000000000ull;
    c->running.next = c->running.prev = &c->running;
    c->offers.next = c->offers.prev = &c->offers;
    loom__heap_init (&c->fw_heap, offsetof (struct loom__fw, heap_pos));
    loom__heap_init (&c->deadlines, offsetof (struct loom__task, dl_pos));
    if (loom__nodes_init_buckets (c) < 0) {
        free (c);
        return NULL;
    }
    return c;
}

static void job_free (struct loom__job *j)
{
    if (!j)
        return;
    for (uint32_t i = 0; i < j->ntasks; i++)
        free (j->tasks[i].alloc);
    free (j->tasks);
    free (j->deps);
    free (j->dependents);
    free (j);
}

void loom__core_destroy (loom__core_t *c)
{
    if (!c)
        return;
    int saved = errno;
    for (uint64_t i = 0; i < c->capjobs; i++)
        job_free (c->jobs[i]);
    free (c->jobs);
    for (uint32_t i = 0; i < c->nfws; i++) {
        struct loom__fw *fw = c->fws[i];
        for (size_t k = 0; k < fw->nall; k++) {
            free (fw->all[k]->levels);
            free (fw->all[k]);
        }
        free (fw->all);
        loom__heap_free (&fw->users);
        free (fw->name);
        free (fw);
    }
    free (c->fws);
    for (uint32_t i = 0; i < c->nnodes; i++) {
        free (c->nodes[i]->name);
        free (c->nodes[i]->free_mask);
        free (c->nodes[i]);
    }
    free (c->nodes);
    free (c->buckets);
    struct loom__offer *o = c->offers.next;
    while (o != &c->offers) {
        struct loom__offer *next = o->next;
        free (o->mask);
        free (o);
        o = next;
    }
    loom__heap_free (&c->fw_heap);
    loom__heap_free (&c->deadlines);
    free (c->scratch);
    free (c);
    errno = saved;
}

/* Nodes -------------------------------------------------------------------- */

int loom__core_add_node (loom__core_t *c,
                         const char *name,
                         uint32_t ncores,
                         uint64_t mem)
{
    if (ncores == 0 || !name) {
        errno = EINVAL;
        return -1;
    }
    if (c->nnodes == c->capnodes) {
        uint32_t cap = c->capnodes ? 2 * c->capnodes : 16;
        struct loom__node **nn = realloc (c->nodes, cap * sizeof (*nn));
        if (!nn)
            return -1;
        c->nodes = nn;
        c->capnodes = cap;
    }
    struct loom__node *n = calloc (1, sizeof (*n));
    if (!n)
        return -1;
    n->name = strdup (name);
    n->nwords = (ncores + 63) / 64;
    n->free_mask = calloc (n->nwords, sizeof (uint64_t));
    if (!n->name || !n->free_mask) {
        free (n->name);
        free (n->free_mask);
        free (n);
        errno = ENOMEM;
        return -1;
    }
    for (uint32_t i = 0; i < ncores; i++)
        n->free_mask[i / 64] |= 1ull << (i % 64);
    n->idx = c->nnodes;
    n->ncores = n->free_cores = ncores;
    n->mem = n->free_mem = mem;
    n->up = 1;
    c->nodes[c->nnodes++] = n;
    c->total_cores += ncores;
    c->total_mem += mem;
    c->free_cores += ncores;
    c->free_mem += mem;
    if (mem > c->max_mem)
        c->max_mem = mem;
    if (ncores > c->max_cores) {
        c->max_cores = ncores;
        if (loom__nodes_init_buckets (c) < 0)
            return -1;
    } else {
        loom__bucket_link (c, n);
    }
    loom__rekey_all (c);
    return (int)n->idx;
}

void loom__core_node_set_up (loom__core_t *c, uint32_t idx, int up)
{
    if (idx >= c->nnodes)
        return;
    struct loom__node *n = c->nodes[idx];
    if (!!up == n->up)
        return;
    if (!up) {
        /* Out of the buckets and totals first, so what its tasks give back stays out.
         */
        loom__bucket_unlink (c, n);
        n->up = 0;
        if (c->res_node == n)
            c->res_task = NULL;
        c->total_cores -= n->ncores;
        c->total_mem -= n->mem;
        c->free_cores -= n->free_cores;
        c->free_mem -= n->free_mem;
        loom__offers_rescind_node (c, idx);
        struct loom__task *t = c->running.next;
        while (t != &c->running) {
            struct loom__task *next = t->next;
            for (uint32_t p = 0; p < t->alloc->nparts; p++) {
                if (t->alloc->parts[p].node == idx) {
                    t->lost = 1;
                    loom__task_finish (c, t, 0);
                    break;
                }
            }
            t = next;
        }
    } else {
        n->up = 1;
        c->total_cores += n->ncores;
        c->total_mem += n->mem;
        c->free_cores += n->free_cores;
        c->free_mem += n->free_mem;
        loom__bucket_link (c, n);
    }
    loom__rekey_all (c);
}

/* Frameworks and users ----------------------------------------------------- */

struct loom__fw *loom__core_fw_find (loom__core_t *c, const char *name)
{
    for (uint32_t i = 0; i < c->nfws; i++)
        if (strcmp (c->fws[i]->name, name) == 0)
            return c->fws[i];
    return NULL;
}

struct loom__fw *loom__core_fw_add (loom__core_t *c,
                                    const char *name,
                                    loom__fw_kind_t kind,
                                    double weight,
                                    uint32_t uid)
{
    if (!name || !*name || !(weight > 0)
        || (kind != LOOM__FW_BATCH && kind != LOOM__FW_OFFER)) {
        errno = EINVAL;
        return NULL;
    }
    struct loom__fw *old = loom__core_fw_find (c, name);
    if (old) {
        if (!old->removed) {
            errno = EEXIST;
            return NULL;
        }
        /* A framework coming back keeps its usage record and id. */
        old->removed = 0;
        old->kind = kind;
        old->weight = weight;
        old->uid = uid;
        old->filter_until = 0;
        loom__fw_refresh (c, old);
        return old;
    }
    if (c->nfws == c->capfws) {
        uint32_t cap = c->capfws ? 2 * c->capfws : 8;
        struct loom__fw **nf = realloc (c->fws, cap * sizeof (*nf));
        if (!nf)
            return NULL;
        c->fws = nf;
        c->capfws = cap;
    }
    struct loom__fw *fw = calloc (1, sizeof (*fw));
    if (!fw || !(fw->name = strdup (name))) {
        free (fw);
        errno = ENOMEM;
        return NULL;
    }
    fw->id = c->nfws;
    fw->kind = kind;
    fw->weight = weight;
    fw->uid = uid;
    fw->heap_pos = LOOM__HEAP_NONE;
    loom__heap_init (&fw->users, offsetof (struct loom__user, heap_pos));
    c->fws[c->nfws++] = fw;
    loom__fw_refresh (c, fw);
    return fw;
}

struct loom__user *loom__core_user (loom__core_t *c, struct loom__fw *fw, uint32_t uid)
{
    /* Linear: users are looked up at submission, never per decision. */
    for (size_t i = 0; i < fw->nall; i++)
        if (fw->all[i]->uid == uid)
            return fw->all[i];
    if (fw->nall == fw->capall) {
        size_t cap = fw->capall ? 2 * fw->capall : 8;
        struct loom__user **na = realloc (fw->all, cap * sizeof (*na));
        if (!na)
            return NULL;
        fw->all = na;
        fw->capall = cap;
    }
    struct loom__user *u = calloc (1, sizeof (*u));
    if (!u)
        return NULL;
    u->uid = uid;
    u->weight = 1.0;
    u->fw = fw;
    u->heap_pos = LOOM__HEAP_NONE;
    fw->all[fw->nall++] = u;
    return u;
}

int loom__core_user_weight (loom__core_t *c,
                            struct loom__fw *fw,
                            uint32_t uid,
                            double w)
{
    if (!(w > 0)) {
        errno = EINVAL;
        return -1;
    }
    struct loom__user *u = loom__core_user (c, fw, uid);
    if (!u)
        return -1;
    u->weight = w;
    loom__user_refresh (c, u);
    return 0;
}

/* Queues -------------------------------------------------------------------- */

static uint64_t task_cores (const struct loom__job *j)
{
    return (uint64_t)j->nslots * j->cores_per_slot;
}

static uint64_t task_mem (const struct loom__job *j)
{
    return (uint64_t)j->nslots * j->mem_per_slot;
}

static int level_for (struct loom__user *u, int prio)
{
    size_t lo = 0, hi = u->nlevels;
    while (lo < hi) { /* levels sorted by descending priority */
        size_t mid = (lo + hi) / 2;
        if (u->levels[mid].prio == prio)
            return (int)mid;
        if (u->levels[mid].prio > prio)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (u->nlevels == u->caplevels) {
        size_t cap = u->caplevels ? 2 * u->caplevels : 4;
        struct loom__level *nl = realloc (u->levels, cap * sizeof (*nl));
        if (!nl)
            return -1;
        u->levels = nl;
        u->caplevels = cap;
    }
    memmove (&u->levels[lo + 1], &u->levels[lo],
             (u->nlevels - lo) * sizeof (*u->levels));
    u->levels[lo] = (struct loom__level){prio, NULL, NULL};
    u->nlevels++;
    /* Queued tasks remember their level by index: shift those after the new one. */
    for (size_t l = lo + 1; l < u->nlevels; l++)
        for (struct loom__task *t = u->levels[l].head; t; t = t->next)
            t->level = (int)l;
    return (int)lo;
}

void loom__set_state (struct loom__task *t, loom__tstate_t s)
{
    t->job->count[t->state]--;
    t->state = s;
    t->job->count[s]++;
}

/* u's queue head is now t (or NULL): cache what surely_fails (pass.c) reads. */
static void set_head (struct loom__user *u, struct loom__task *t)
{
    u->head = t;
    if (!t)
        return;
    const struct loom__job *j = t->job;
    u->head_cores = j->nslots == 1 ? j->cores_per_slot : 0;
    u->head_mem = j->mem_per_slot;
    u->head_limit = j->time_limit_ns;
}

int loom__enqueue (loom__core_t *c, struct loom__task *t)
{
    struct loom__user *u = t->job->user;
    int l = level_for (u, t->job->priority);
    if (l < 0)
        return -1;
    struct loom__level *lv = &u->levels[l];
    t->level = l;
    t->next = NULL;
    t->prev = lv->tail;
    if (lv->tail)
        lv->tail->next = t;
    else
        lv->head = t;
    lv->tail = t;
    if (!u->head || l < u->head->level) /* levels: highest priority first */
        set_head (u, t);
    u->pending++;
    u->sf_gen = 0; /* its head may have changed */
    u->pending_cores += task_cores (t->job);
    u->pending_mem += task_mem (t->job);
    loom__set_state (t, LOOM__T_PENDING);
    loom__user_refresh (c, u);
    return 0;
}

void loom__dequeue (loom__core_t *c, struct loom__task *t)
{
    struct loom__user *u = t->job->user;
    if (c->res_task == t)
        c->res_task = NULL;
    struct loom__level *lv = &u->levels[t->level];
    if (u->head == t)
        set_head (u, loom__queue_next (u, t));
    if (t->prev)
        t->prev->next = t->next;
    else
        lv->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        lv->tail = t->prev;
    t->prev = t->next = NULL;
    u->pending--;
    u->sf_gen = 0; /* its head changed */
    u->pending_cores -= task_cores (t->job);
    u->pending_mem -= task_mem (t->job);
    loom__user_refresh (c, u);
}

struct loom__task *loom__queue_head (const struct loom__user *u)
{
    return u->head;
}

struct loom__task *loom__queue_next (const struct loom__user *u,
                                     const struct loom__task *t)
{
    if (t->next)
        return t->next;
    for (size_t l = (size_t)t->level + 1; l < u->nlevels; l++)
        if (u->levels[l].head)
            return u->levels[l].head;
    return NULL;
}

/* Jobs and dependencies ------------------------------------------------------ */

struct loom__job *loom__core_job (loom__core_t *c, uint64_t id)
{
    return id < c->capjobs ? c->jobs[id] : NULL;
}

/* 1 satisfied, 0 not yet, -1 never. */
static int dep_state (const struct loom__job *d, loom__dep_type_t type)
{
    switch (type) {
    case LOOM__DEP_AFTER:
        return d->started || d->ended;
    case LOOM__DEP_AFTERANY:
        return d->ended;
    case LOOM__DEP_AFTEROK:
        if (!d->ended)
            return 0;
        return d->count[LOOM__T_COMPLETED] == d->ntasks ? 1 : -1;
    }
    return -1;
}

static void job_check_end (loom__core_t *c, struct loom__job *j);

static void end_waiting_tasks (loom__core_t *c, struct loom__job *j)
{
    uint64_t now = c->ops->now (c->arg);
    for (uint32_t i = 0; i < j->ntasks; i++) {
        struct loom__task *t = &j->tasks[i];
        if (t->state != LOOM__T_WAITING)
            continue;
        loom__set_state (t, LOOM__T_CANCELLED);
        t->end_ns = now;
        if (c->ops->task_changed)
            c->ops->task_changed (c->arg, t);
    }
    job_check_end (c, j);
}

/* Recount j's unmet dependencies; release or cancel its waiting tasks. */
static void deps_eval (loom__core_t *c, struct loom__job *j)
{
    if (j->ended || (!j->deps_unmet && !j->dep_never))
        return;
    uint32_t unmet = 0;
    for (size_t i = 0; i < j->ndeps; i++) {
        struct loom__job *d = loom__core_job (c, j->deps[i].job);
        int s = d ? dep_state (d, j->deps[i].type) : -1;
        if (s < 0)
            j->dep_never = 1;
        else if (s == 0)
            unmet++;
    }
    j->deps_unmet = unmet;
    if (j->dep_never) {
        end_waiting_tasks (c, j);
        return;
    }
    if (unmet)
        return;
    for (uint32_t i = 0; i < j->ntasks; i++) {
        struct loom__task *t = &j->tasks[i];
        if (t->state != LOOM__T_WAITING)
            continue;
        loom__enqueue (c, t);
        if (c->ops->task_changed)
            c->ops->task_changed (c->arg, t);
    }
}

static void notify_dependents (loom__core_t *c, struct loom__job *j)
{
    for (size_t i = 0; i < j->ndependents; i++)
        deps_eval (c, j->dependents[i]);
}

static void job_check_end (loom__core_t *c, struct loom__job *j)
{
    if (j->ended)
        return;
    uint32_t final = 0;
    for (int s = LOOM__T_COMPLETED; s < LOOM__T_NSTATES; s++)
        final += j->count[s];
    if (final < j->ntasks)
        return;
    j->ended = 1;
    if (c->ops->job_changed)
        c->ops->job_changed (c->arg, j);
    notify_dependents (c, j);
}

void loom__job_started (loom__core_t *c, struct loom__job *j)
{
    if (j->started)
        return;
    j->started = 1;
    if (c->ops->job_changed)
        c->ops->job_changed (c->arg, j);
    notify_dependents (c, j);
}

static int add_dependent (struct loom__job *d, struct loom__job *j)
{
    if (d->ndependents == d->capdependents) {
        size_t cap = d->capdependents ? 2 * d->capdependents : 4;
        struct loom__job **nd = realloc (d->dependents, cap * sizeof (*nd));
        if (!nd)
            return -1;
        d->dependents = nd;
        d->capdependents = cap;
    }
    d->dependents[d->ndependents++] = j;
    return 0;
}

static int store_job (loom__core_t *c, struct loom__job *j)
{
    if (j->id >= c->capjobs) {
        uint64_t cap = c->capjobs ? c->capjobs : 64;
        while (cap <= j->id)
            cap *= 2;
        struct loom__job **nj = realloc (c->jobs, cap * sizeof (*nj));
        if (!nj)
            return -1;
        memset (nj + c->capjobs, 0, (cap - c->capjobs) * sizeof (*nj));
        c->jobs = nj;
        c->capjobs = cap;
    }
    c->jobs[j->id] = j;
    if (j->id >= c->next_id)
        c->next_id = j->id + 1;
    return 0;
}

struct loom__job *loom__job_new (
    loom__core_t *c, uint64_t id, struct loom__fw *fw, uint32_t uid, uint32_t ntasks)
{
    struct loom__job *j = calloc (1, sizeof (*j));
    if (!j)
        return NULL;
    j->tasks = calloc (ntasks, sizeof (*j->tasks));
    j->user = loom__core_user (c, fw, uid);
    if (!j->tasks || !j->user) {
        free (j->tasks);
        free (j);
        errno = ENOMEM;
        return NULL;
    }
    j->id = id ? id : c->next_id;
    j->fw = fw;
    j->uid = uid;
    j->ntasks = ntasks;
    for (uint32_t i = 0; i < ntasks; i++) {
        struct loom__task *t = &j->tasks[i];
        t->job = j;
        t->pos = i;
        t->dl_pos = LOOM__HEAP_NONE;
        t->state = LOOM__T_WAITING;
    }
    j->count[LOOM__T_WAITING] = ntasks;
    if (store_job (c, j) < 0) {
        job_free (j);
        return NULL;
    }
    return j;
}

struct loom__job *
loom__core_submit (loom__core_t *c, const struct loom__job_spec *s, loom_error_t *error)
{
    if (!s || !s->fw || s->fw->kind != LOOM__FW_BATCH) {
        loom_errset (error, EINVAL, "jobs are submitted to a batch framework");
        return NULL;
    }
    if (s->nslots == 0 || s->cores_per_slot == 0) {
        loom_errset (error, EINVAL, "a task needs at least one slot of one core");
        return NULL;
    }
    if (s->id && loom__core_job (c, s->id)) {
        loom_errset (error, EEXIST, "job %llu exists", (unsigned long long)s->id);
        return NULL;
    }
    /* Impossible requests are refused now rather than queued forever. */
    uint64_t cores = (uint64_t)s->nslots * s->cores_per_slot;
    uint64_t mem = (uint64_t)s->nslots * s->mem_per_slot;
    if (s->cores_per_slot > c->max_cores) {
        loom_errset (error, ENOSPC,
                     "impossible request: %u cores per task, the largest node has %u",
                     s->cores_per_slot, c->max_cores);
        return NULL;
    }
    if (s->mem_per_slot > c->max_mem) {
        loom_errset (error, ENOSPC,
                     "impossible request: %llu MiB per task, the largest node has %llu",
                     (unsigned long long)s->mem_per_slot,
                     (unsigned long long)c->max_mem);
        return NULL;
    }
    if (cores > c->total_cores || (mem && mem > c->total_mem)) {
        loom_errset (error, ENOSPC,
                     "impossible request: %llu cores and %llu MiB, the nodes have %llu "
                     "cores and %llu MiB",
                     (unsigned long long)cores, (unsigned long long)mem,
                     (unsigned long long)c->total_cores,
                     (unsigned long long)c->total_mem);
        return NULL;
    }
    uint64_t ntasks = 1;
    if (s->nranges) {
        ntasks = 0;
        for (size_t i = 0; i < s->nranges; i++) {
            const struct loom__range *r = &s->ranges[i];
            if (r->step < 1 || r->last < r->first) {
                loom_errset (error, EINVAL, "bad array range");
                return NULL;
            }
            ntasks += (uint64_t)((r->last - r->first) / r->step) + 1;
        }
        if (ntasks > LOOM__MAX_ARRAY) {
            loom_errset (error, EINVAL, "array of %llu tasks is larger than %d",
                         (unsigned long long)ntasks, LOOM__MAX_ARRAY);
            return NULL;
        }
    }
    for (size_t i = 0; i < s->ndeps; i++) {
        if (!loom__core_job (c, s->deps[i].job)) {
            loom_errset (error, ENOENT, "unknown job %llu in dependency",
                         (unsigned long long)s->deps[i].job);
            return NULL;
        }
    }
    struct loom__job *j = loom__job_new (c, s->id, s->fw, s->uid, (uint32_t)ntasks);
    if (!j) {
        loom_errset (error, ENOMEM, "out of memory");
        return NULL;
    }
    j->gid = s->gid;
    j->nslots = s->nslots;
    j->cores_per_slot = s->cores_per_slot;
    j->mem_per_slot = s->mem_per_slot;
    j->time_limit_ns = s->time_limit_ns;
    j->priority = s->priority;
    j->retries = s->retries;
    j->submit_ns = s->submit_ns;
    j->ext = s->ext;
    if (s->nranges) {
        uint32_t k = 0;
        for (size_t i = 0; i < s->nranges; i++)
            for (int64_t x = s->ranges[i].first; x <= s->ranges[i].last;
                 x += s->ranges[i].step)
                j->tasks[k++].index = x;
    }
    if (s->ndeps) {
        j->deps = malloc (s->ndeps * sizeof (*j->deps));
        if (!j->deps) {
            c->jobs[j->id] = NULL;
            job_free (j);
            loom_errset (error, ENOMEM, "out of memory");
            return NULL;
        }
        memcpy (j->deps, s->deps, s->ndeps * sizeof (*j->deps));
        j->ndeps = s->ndeps;
        for (size_t i = 0; i < s->ndeps; i++)
            add_dependent (loom__core_job (c, s->deps[i].job), j);
        j->deps_unmet = 1; /* force the first evaluation */
        deps_eval (c, j);
    } else {
        for (uint32_t i = 0; i < j->ntasks; i++)
            loom__enqueue (c, &j->tasks[i]);
    }
    return j;
}

/* Task ends ------------------------------------------------------------------ */

void loom__running_unlink (loom__core_t *c, struct loom__task *t)
{
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->prev = t->next = NULL;
    c->nrunning--;
}

void loom__running_link (loom__core_t *c, struct loom__task *t)
{
    t->next = &c->running;
    t->prev = c->running.prev;
    c->running.prev->next = t;
    c->running.prev = t;
    c->nrunning++;
}

void loom__usage_add (loom__core_t *c, struct loom__task *t, int sign)
{
    struct loom__job *j = t->job;
    uint64_t cores = 0, mem = 0;
    for (uint32_t p = 0; p < t->alloc->nparts; p++) {
        cores += t->alloc->parts[p].ncores;
        mem += t->alloc->parts[p].mem;
    }
    if (sign > 0) {
        j->user->used_cores += cores;
        j->user->used_mem += mem;
        j->fw->used_cores += cores;
        j->fw->used_mem += mem;
    } else {
        j->user->used_cores -= cores;
        j->user->used_mem -= mem;
        j->fw->used_cores -= cores;
        j->fw->used_mem -= mem;
    }
    loom__user_refresh (c, j->user);
}

void loom__task_finish (loom__core_t *c, struct loom__task *t, int wstatus)
{
    struct loom__job *j = t->job;
    for (uint32_t p = 0; p < t->alloc->nparts; p++) {
        struct loom__alloc_part *ap = &t->alloc->parts[p];
        loom__nodes_give (c, c->nodes[ap->node], ap->mask, ap->ncores, ap->mem);
    }
    loom__usage_add (c, t, -1);
    free (t->alloc);
    t->alloc = NULL;
    loom__running_unlink (c, t);
    loom__heap_remove (&c->deadlines, t);
    t->ext = NULL;
    t->wstatus = wstatus;
    t->end_ns = c->ops->now (c->arg);

    loom__tstate_t s;
    if (t->cancel_requested)
        s = LOOM__T_CANCELLED;
    else if (t->timed_out)
        s = LOOM__T_TIMEOUT;
    else if (t->lost)
        s = LOOM__T_LOST;
    else if (WIFEXITED (wstatus) && WEXITSTATUS (wstatus) == 0)
        s = LOOM__T_COMPLETED;
    else
        s = LOOM__T_FAILED;
    int retry = (s == LOOM__T_FAILED || s == LOOM__T_LOST) && t->attempt <= j->retries
                && !j->fw->removed && j->fw->kind == LOOM__FW_BATCH;
    t->term_sent = t->timed_out = t->lost = 0;
    if (retry) {
        loom__set_state (t, LOOM__T_RUNNING); /* enqueue moves it to PENDING */
        loom__enqueue (c, t);
    } else {
        loom__set_state (t, s);
    }
    if (c->ops->task_changed)
        c->ops->task_changed (c->arg, t);
    if (!retry)
        job_check_end (c, j);
}

void loom__core_task_exited (loom__core_t *c,
                             struct loom__task *t,
                             int wstatus,
                             uint64_t maxrss_kib)
{
    if (t->state != LOOM__T_RUNNING)
        return;
    t->maxrss = maxrss_kib;
    loom__task_finish (c, t, wstatus);
}

void loom__task_signal (loom__core_t *c, struct loom__task *t, int sig)
{
    uint64_t now = c->ops->now (c->arg);
    if (sig == SIGTERM) {
        t->term_sent = 1;
        t->deadline = now + c->kill_grace_ns;
        if (loom__heap_contains (&c->deadlines, t))
            loom__heap_update (&c->deadlines, t, loom__deadline_hkey (t));
        else
            loom__heap_push (&c->deadlines, t, loom__deadline_hkey (t));
    }
    c->ops->kill (c->arg, t, sig);
}

uint32_t loom__core_cancel (loom__core_t *c, struct loom__job *j)
{
    uint32_t n = 0;
    uint64_t now = c->ops->now (c->arg);
    for (uint32_t i = 0; i < j->ntasks; i++) {
        struct loom__task *t = &j->tasks[i];
        switch (t->state) {
        case LOOM__T_PENDING:
            loom__dequeue (c, t);
            /* fall through */
        case LOOM__T_WAITING:
            loom__set_state (t, LOOM__T_CANCELLED);
            t->end_ns = now;
            if (c->ops->task_changed)
                c->ops->task_changed (c->arg, t);
            n++;
            break;
        case LOOM__T_RUNNING:
            if (!t->cancel_requested) {
                t->cancel_requested = 1;
                loom__task_signal (c, t, SIGTERM);
                n++;
            }
            break;
        default:
            break;
        }
    }
    job_check_end (c, j);
    return n;
}

void loom__core_restore_task (loom__core_t *c,
                              struct loom__task *t,
                              loom__tstate_t state,
                              uint32_t attempt,
                              int wstatus)
{
    struct loom__job *j = t->job;
    t->attempt = attempt;
    t->wstatus = wstatus;
    if (attempt > 0)
        j->started = 1;
    if (state == LOOM__T_RUNNING) {
        /* loomd died while it ran: the attempt is lost (see docs/sched.md). */
        if (attempt <= j->retries) {
            if (t->state == LOOM__T_PENDING && c->ops->task_changed)
                c->ops->task_changed (c->arg, t);
            return;
        }
        state = LOOM__T_LOST;
    }
    if (!LOOM__T_FINAL (state))
        return;
    if (t->state == LOOM__T_PENDING)
        loom__dequeue (c, t);
    loom__set_state (t, state);
    if (c->ops->task_changed)
        c->ops->task_changed (c->arg, t);
    job_check_end (c, j);
}
