/* SPDX-License-Identifier: MIT */
/* Functions shared by the files of the policy core; not for loomd. */
#ifndef LOOM_SCHED_INTERNAL_H
#define LOOM_SCHED_INTERNAL_H

#include "core.h"

/* Heap keys. Frameworks and users: the weighted dominant share cached in 'key', ties
 * to the lower id (ids are unique within a heap, so the order is total and the pick
 * does not depend on the heap's layout). Running tasks: the next timer; equal
 * deadlines are equal keys, ordered by the heap's sifts.
 */
static inline struct loom__heap_key loom__fw_hkey (const struct loom__fw *fw)
{
    return loom__heap_dkey (fw->key, fw->id);
}

static inline struct loom__heap_key loom__user_hkey (const struct loom__user *u)
{
    return loom__heap_dkey (u->key, u->uid);
}

/* Users of fw passed over in the current pass but still in its heap (pass.c). */
static inline size_t loom__fw_nmarked (const loom__core_t *c, const struct loom__fw *fw)
{
    return fw->mark_gen == c->pass_gen ? fw->nmarked : 0;
}

static inline struct loom__heap_key loom__deadline_hkey (const struct loom__task *t)
{
    return (struct loom__heap_key){t->deadline, 0};
}

void loom__fw_refresh (loom__core_t *c, struct loom__fw *fw);
void loom__user_refresh (loom__core_t *c, struct loom__user *u);
void loom__rekey_all (loom__core_t *c);
void loom__set_state (struct loom__task *t, loom__tstate_t s);
int loom__enqueue (loom__core_t *c, struct loom__task *t);
void loom__dequeue (loom__core_t *c, struct loom__task *t);
struct loom__task *loom__queue_head (const struct loom__user *u);
struct loom__task *loom__queue_next (const struct loom__user *u,
                                     const struct loom__task *t);
void loom__job_started (loom__core_t *c, struct loom__job *j);
struct loom__job *loom__job_new (
    loom__core_t *c, uint64_t id, struct loom__fw *fw, uint32_t uid, uint32_t ntasks);
void loom__running_link (loom__core_t *c, struct loom__task *t);
void loom__running_unlink (loom__core_t *c, struct loom__task *t);
void loom__usage_add (loom__core_t *c, struct loom__task *t, int sign);
void loom__task_finish (loom__core_t *c, struct loom__task *t, int wstatus);
void loom__task_signal (loom__core_t *c, struct loom__task *t, int sig);
void loom__task_launch (loom__core_t *c, struct loom__task *t);
void loom__bucket_link (loom__core_t *c, struct loom__node *n);
void loom__bucket_unlink (loom__core_t *c, struct loom__node *n);
void loom__offers_rescind_node (loom__core_t *c, uint32_t node);
int loom__offer_make (loom__core_t *c, struct loom__fw *fw);
uint64_t loom__offers_tick (loom__core_t *c, uint64_t now);

#endif
