/* SPDX-License-Identifier: MIT */
/* A fake clock and a fake launcher for the policy core (flux-core libtestutil style):
 * "starting" a task records it; the test decides when and how it exits.
 */
#ifndef LOOM_TEST_SCHED_FAKE_H
#define LOOM_TEST_SCHED_FAKE_H

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../../sched/core.h"

struct fake {
    uint64_t now;
    struct loom__task *started[4096];
    size_t nstarted;
    struct {
        struct loom__task *t;
        int sig;
    } kills[256];
    size_t nkills;
    struct loom__offer *offers[64];
    size_t noffers;
    int fail_start; /* next start fails */
    loom__core_t *core;
};

static uint64_t fake_now (void *arg)
{
    return ((struct fake *)arg)->now;
}

static int fake_start (void *arg, struct loom__task *t)
{
    struct fake *f = arg;
    if (f->fail_start) {
        f->fail_start = 0;
        return -1;
    }
    if (f->nstarted < sizeof (f->started) / sizeof (f->started[0]))
        f->started[f->nstarted++] = t;
    return 0;
}

static void fake_kill (void *arg, struct loom__task *t, int sig)
{
    struct fake *f = arg;
    if (f->nkills < 256) {
        f->kills[f->nkills].t = t;
        f->kills[f->nkills++].sig = sig;
    }
}

static void fake_offer (void *arg, struct loom__offer *o)
{
    struct fake *f = arg;
    if (f->noffers < 64)
        f->offers[f->noffers++] = o;
}

static const struct loom__core_ops fake_ops = {
    .now = fake_now,
    .start = fake_start,
    .kill = fake_kill,
    .offer = fake_offer,
};

static inline loom__core_t *fake_core (struct fake *f)
{
    memset (f, 0, sizeof (*f));
    f->core = loom__core_create (&fake_ops, f);
    return f->core;
}

#define SEC 1000000000ull

#endif
