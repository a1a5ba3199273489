/* SPDX-License-Identifier: MIT */
/* Resource offers to frameworks that choose their own tasks (the Mesos model). When
 * DRF picks such a framework, it is offered the free cores and memory of the node with
 * the most free cores. Offered resources count as the framework's usage until it
 * answers, so DRF sees them; what it does not accept returns to the pool. A framework
 * holds at most one offer at a time, which keeps the allocator simple and lets the
 * other frameworks' shares be considered between offers.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <loom/error.h>

#include "core.h"
#include "internal.h"

static void offer_unlink (struct loom__offer *o)
{
    o->prev->next = o->next;
    o->next->prev = o->prev;
}

static void fw_usage (struct loom__fw *fw, const struct loom__offer *o, int sign)
{
    if (sign > 0) {
        fw->used_cores += o->ncores;
        fw->used_mem += o->mem;
    } else {
        fw->used_cores -= o->ncores;
        fw->used_mem -= o->mem;
    }
}

int loom__offer_make (loom__core_t *c, struct loom__fw *fw)
{
    struct loom__node *n = NULL;
    for (uint32_t f = c->max_cores; f > 0 && !n; f--)
        n = c->buckets[f];
    if (!n) {
        errno = EAGAIN;
        return -1;
    }
    struct loom__offer *o = calloc (1, sizeof (*o));
    if (!o || !(o->mask = malloc (n->nwords * sizeof (uint64_t)))) {
        free (o);
        return -1;
    }
    o->id = c->next_offer_id++;
    o->fw = fw;
    o->node = n->idx;
    o->ncores = n->free_cores;
    o->mem = n->free_mem;
    memcpy (o->mask, n->free_mask, n->nwords * sizeof (uint64_t));
    o->expires = c->ops->now (c->arg) + c->offer_timeout_ns;
    loom__nodes_take (c, n, o->mask, o->ncores, o->mem);
    o->next = &c->offers;
    o->prev = c->offers.prev;
    c->offers.prev->next = o;
    c->offers.prev = o;
    fw_usage (fw, o, +1);
    fw->offers_out++;
    loom__fw_refresh (c, fw);
    if (c->ops->offer)
        c->ops->offer (c->arg, o);
    return 0;
}

struct loom__offer *loom__core_offer (loom__core_t *c, uint64_t id)
{
    for (struct loom__offer *o = c->offers.next; o != &c->offers; o = o->next)
        if (o->id == id)
            return o;
    return NULL;
}

/* Return what is left of o to the pool and forget it. */
static void offer_close (loom__core_t *c, struct loom__offer *o)
{
    struct loom__node *n = c->nodes[o->node];
    loom__nodes_give (c, n, o->mask, o->ncores, o->mem);
    fw_usage (o->fw, o, -1);
    o->fw->offers_out--;
    offer_unlink (o);
    loom__fw_refresh (c, o->fw);
    free (o->mask);
    free (o);
}

static void offer_rescind (loom__core_t *c, struct loom__offer *o)
{
    if (c->ops->rescind)
        c->ops->rescind (c->arg, o);
    offer_close (c, o);
}

void loom__offers_rescind_node (loom__core_t *c, uint32_t node)
{
    struct loom__offer *o = c->offers.next;
    while (o != &c->offers) {
        struct loom__offer *next = o->next;
        if (o->node == node)
            offer_rescind (c, o);
        o = next;
    }
}

int loom__core_offer_decline (loom__core_t *c, uint64_t id, uint64_t filter_ns)
{
    struct loom__offer *o = loom__core_offer (c, id);
    if (!o) {
        errno = ENOENT;
        return -1;
    }
    struct loom__fw *fw = o->fw;
    if (filter_ns)
        fw->filter_until = c->ops->now (c->arg) + filter_ns;
    offer_close (c, o);
    return 0;
}

static uint32_t popcount_mask (const uint64_t *m, uint32_t words)
{
    uint32_t n = 0;
    for (uint32_t w = 0; w < words; w++)
        n += (uint32_t)__builtin_popcountll (m[w]);
    return n;
}

int loom__core_offer_accept (loom__core_t *c,
                             uint64_t id,
                             size_t n,
                             uint64_t *const *masks,
                             const uint64_t *mem,
                             const uint64_t *time_limit_ns,
                             void *const *ext,
                             struct loom__job **jobs,
                             loom_error_t *error)
{
    struct loom__offer *o = loom__core_offer (c, id);
    if (!o)
        return loom_errset (error, ENOENT, "no offer %llu (expired or answered)",
                            (unsigned long long)id);
    struct loom__node *node = c->nodes[o->node];
    uint32_t words = node->nwords;
    uint64_t *seen = calloc (words, sizeof (*seen));
    if (!seen)
        return loom_errset (error, ENOMEM, "out of memory");
    uint64_t memsum = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t k = popcount_mask (masks[i], words);
        int bad = k == 0;
        for (uint32_t w = 0; w < words && !bad; w++)
            bad = (masks[i][w] & ~o->mask[w]) || (masks[i][w] & seen[w]);
        if (bad) {
            free (seen);
            return loom_errset (
                error, EINVAL,
                "task %zu: cores empty, outside offer %llu, or taken by "
                "another task",
                i, (unsigned long long)id);
        }
        for (uint32_t w = 0; w < words; w++)
            seen[w] |= masks[i][w];
        memsum += mem[i];
    }
    free (seen);
    if (memsum > o->mem)
        return loom_errset (error, EINVAL, "tasks ask %llu MiB, offer %llu has %llu",
                            (unsigned long long)memsum, (unsigned long long)id,
                            (unsigned long long)o->mem);

    struct loom__fw *fw = o->fw;
    uint64_t now = c->ops->now (c->arg);
    size_t made = 0;
    for (; made < n; made++) {
        struct loom__job *j = loom__job_new (c, 0, fw, fw->uid, 1);
        if (!j)
            break;
        size_t head = sizeof (struct loom__alloc) + sizeof (struct loom__alloc_part);
        head = (head + 7) & ~(size_t)7;
        struct loom__alloc *a = malloc (head + words * sizeof (uint64_t));
        if (!a) {
            c->jobs[j->id] = NULL;
            free (j->tasks);
            free (j);
            break;
        }
        a->nparts = 1;
        a->parts[0].node = o->node;
        a->parts[0].mask = (uint64_t *)((char *)a + head);
        memcpy (a->parts[0].mask, masks[made], words * sizeof (uint64_t));
        a->parts[0].ncores = popcount_mask (masks[made], words);
        a->parts[0].mem = mem[made];
        j->uid = fw->uid;
        j->gid = 0;
        j->nslots = 1;
        j->cores_per_slot = a->parts[0].ncores;
        j->mem_per_slot = mem[made];
        j->time_limit_ns = time_limit_ns ? time_limit_ns[made] : 0;
        j->submit_ns = now;
        j->ext = ext ? ext[made] : NULL;
        jobs[made] = j;
        /* The cores move from the offer to the task without touching the node. */
        for (uint32_t w = 0; w < words; w++)
            o->mask[w] &= ~masks[made][w];
        o->ncores -= a->parts[0].ncores;
        o->mem -= mem[made];
        fw->used_cores -= a->parts[0].ncores;
        fw->used_mem -= mem[made];
        struct loom__task *t = &j->tasks[0];
        t->alloc = a;
        loom__set_state (t, LOOM__T_PENDING);
        loom__task_launch (c, t);
    }
    offer_close (c, o);
    if (made < n)
        return loom_errset (error, ENOMEM, "out of memory after %zu tasks", made);
    return 0;
}

void loom__core_fw_remove (loom__core_t *c, struct loom__fw *fw)
{
    struct loom__offer *o = c->offers.next;
    while (o != &c->offers) {
        struct loom__offer *next = o->next;
        if (o->fw == fw)
            offer_close (c, o);
        o = next;
    }
    fw->removed = 1;
    loom__fw_refresh (c, fw);
    for (struct loom__task *t = c->running.next; t != &c->running; t = t->next) {
        if (t->job->fw == fw && !t->cancel_requested) {
            t->cancel_requested = 1;
            loom__task_signal (c, t, SIGTERM);
        }
    }
}

uint64_t loom__offers_tick (loom__core_t *c, uint64_t now)
{
    uint64_t next = UINT64_MAX;
    struct loom__offer *o = c->offers.next;
    while (o != &c->offers) {
        struct loom__offer *nx = o->next;
        if (o->expires <= now)
            offer_rescind (c, o);
        else if (o->expires < next)
            next = o->expires;
        o = nx;
    }
    for (uint32_t i = 0; i < c->nfws; i++) {
        struct loom__fw *fw = c->fws[i];
        if (!fw->filter_until)
            continue;
        if (fw->filter_until <= now) {
            fw->filter_until = 0;
            loom__fw_refresh (c, fw);
        } else if (fw->filter_until < next) {
            next = fw->filter_until;
        }
    }
    return next;
}
