/* SPDX-License-Identifier: MIT */
/* Policy core: DRF (the NSDI'11 example, framework and user weights), priorities and
 * FIFO, EASY backfill, dependencies, arrays, retries, time limits, cancel, offers,
 * node loss and restart recovery. One process, fake clock, fake launcher.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "fake.h"

#define GB 1024ull

struct sub {
    uint32_t uid, nslots, cps;
    uint64_t mem, limit;
    int prio;
    uint32_t retries;
    const char *array;
    struct loom__dep deps[4];
    size_t ndeps;
};

static struct loom__job *submit (loom__core_t *c, struct loom__fw *fw, struct sub s)
{
    struct loom__range *r = NULL;
    size_t nr = 0;
    uint64_t count;
    loom_error_t err;
    if (s.array)
        assert_int_equal (loom__range_parse (s.array, &r, &nr, &count, &err), 0);
    struct loom__job_spec spec = {
        .fw = fw,
        .uid = s.uid,
        .nslots = s.nslots ? s.nslots : 1,
        .cores_per_slot = s.cps ? s.cps : 1,
        .mem_per_slot = s.mem,
        .time_limit_ns = s.limit,
        .priority = s.prio,
        .retries = s.retries,
        .ranges = r,
        .nranges = nr,
        .deps = s.deps,
        .ndeps = s.ndeps,
    };
    struct loom__job *j = loom__core_submit (c, &spec, &err);
    if (!j)
        fail_msg ("submit: %s", err.text);
    free (r);
    return j;
}

static uint32_t running_of (struct loom__job *j)
{
    return j->count[LOOM__T_RUNNING];
}

static void exit_task (struct fake *f, struct loom__task *t, int code)
{
    loom__core_task_exited (f->core, t, code << 8, 0);
}

/* The NSDI'11 example: <9 CPU, 18 GB>, user A tasks <1 CPU, 4 GB>, user B tasks
 * <3 CPU, 1 GB>. DRF gives A three tasks and B two, equalising dominant shares at 2/3.
 */
static void test_drf_nsdi (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    assert_int_equal (loom__core_add_node (c, "n0", 9, 18 * GB), 0);
    struct loom__fw *fw = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    struct loom__job *a =
        submit (c, fw, (struct sub){.uid = 1, .mem = 4 * GB, .array = "1-10"});
    struct loom__job *b = submit (
        c, fw, (struct sub){.uid = 2, .cps = 3, .mem = 1 * GB, .array = "1-10"});
    assert_int_equal (loom__core_schedule (c), 5);
    assert_int_equal (running_of (a), 3);
    assert_int_equal (running_of (b), 2);
    assert_int_equal (c->free_cores, 0);
    assert_int_equal (c->free_mem, 4 * GB);
    double sa = loom__core_user_share (c, a->user),
           sb = loom__core_user_share (c, b->user);
    assert_true (sa > 0.666 && sa < 0.667);
    assert_true (sb > 0.666 && sb < 0.667);
    /* A task of B ends: its 3 CPUs go back to the user with the lower share (B). */
    struct loom__task *bt = NULL;
    for (size_t i = 0; i < f.nstarted; i++)
        if (f.started[i]->job == b)
            bt = f.started[i];
    exit_task (&f, bt, 0);
    assert_int_equal (loom__core_schedule (c), 1);
    assert_int_equal (running_of (b), 2);
    assert_int_equal (b->count[LOOM__T_COMPLETED], 1);
    loom__core_destroy (c);
}

/* Framework weights: a framework of weight 2 gets twice the dominant share. */
static void test_drf_fw_weights (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 12, 0);
    struct loom__fw *a = loom__core_fw_add (c, "a", LOOM__FW_BATCH, 1.0, 0);
    struct loom__fw *b = loom__core_fw_add (c, "b", LOOM__FW_BATCH, 2.0, 0);
    assert_null (loom__core_fw_add (c, "a", LOOM__FW_BATCH, 1.0, 0));
    assert_int_equal (errno, EEXIST);
    assert_null (loom__core_fw_add (c, "z", LOOM__FW_BATCH, 0.0, 0));
    assert_int_equal (errno, EINVAL);
    struct loom__job *ja = submit (c, a, (struct sub){.uid = 1, .array = "1-100"});
    struct loom__job *jb = submit (c, b, (struct sub){.uid = 1, .array = "1-100"});
    assert_int_equal (loom__core_schedule (c), 12);
    assert_int_equal (running_of (ja), 4);
    assert_int_equal (running_of (jb), 8);
    loom__core_destroy (c);
}

/* User weights inside a framework, and three users sharing equally. */
static void test_drf_user_weights (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 16, 0);
    struct loom__fw *fw = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    assert_int_equal (loom__core_user_weight (c, fw, 7, 3.0), 0);
    assert_int_equal (loom__core_user_weight (c, fw, 7, -1.0), -1);
    struct loom__job *j1 = submit (c, fw, (struct sub){.uid = 1, .array = "1-50"});
    struct loom__job *j7 = submit (c, fw, (struct sub){.uid = 7, .array = "1-50"});
    loom__core_schedule (c);
    assert_int_equal (running_of (j1), 4);
    assert_int_equal (running_of (j7), 12);
    loom__core_destroy (c);
}

/* Within a user: higher priority first, then submission order. */
static void test_priority_fifo (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 1, 0);
    struct loom__fw *fw = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    struct loom__job *j1 = submit (c, fw, (struct sub){.uid = 1});
    struct loom__job *j2 = submit (c, fw, (struct sub){.uid = 1});
    struct loom__job *j3 = submit (c, fw, (struct sub){.uid = 1, .prio = 10});
    struct loom__job *j4 = submit (c, fw, (struct sub){.uid = 1, .prio = -5});
    struct loom__job *j5 = submit (c, fw, (struct sub){.uid = 1, .prio = 10});
    struct loom__job *order[] = {j3, j5, j1, j2, j4};
    for (int i = 0; i < 5; i++) {
        assert_int_equal (loom__core_schedule (c), 1);
        assert_ptr_equal (f.started[i]->job, order[i]);
        exit_task (&f, f.started[i], 0);
    }
    assert_int_equal (loom__core_schedule (c), 0);
    loom__core_destroy (c);
}

/* EASY backfill: the blocked head reserves the node for when the running task's time
 * limit ends (t=100); only tasks that end before then may use the spare cores.
 */
static void test_backfill (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 4, 0);
    struct loom__fw *fw = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    struct loom__job *a =
        submit (c, fw, (struct sub){.uid = 1, .cps = 2, .limit = 100 * SEC});
    assert_int_equal (loom__core_schedule (c), 1);
    struct loom__job *big =
        submit (c, fw, (struct sub){.uid = 1, .cps = 4, .limit = 50 * SEC});
    struct loom__job *s1 = submit (c, fw, (struct sub){.uid = 1, .limit = 200 * SEC});
    struct loom__job *s2 = submit (c, fw, (struct sub){.uid = 1, .limit = 50 * SEC});
    struct loom__job *s3 = submit (c, fw, (struct sub){.uid = 1});
    f.now = 1 * SEC;
    assert_int_equal (loom__core_schedule (c), 1);
    assert_int_equal (running_of (s2), 1); /* ends at 51 s, before the shadow (100 s) */
    assert_int_equal (running_of (s1), 0); /* would end at 201 s: it would delay big */
    assert_int_equal (running_of (s3), 0); /* no limit: could delay big forever */
    assert_int_equal (running_of (big), 0);
    assert_int_equal (c->backfilled, 1);
    f.now = 51 * SEC;
    exit_task (&f, f.started[1], 0);
    assert_int_equal (loom__core_schedule (c), 0); /* 2 free, still reserved */
    f.now = 99 * SEC;
    exit_task (&f, f.started[0], 0);
    assert_int_equal (loom__core_schedule (c), 1);
    assert_int_equal (running_of (big), 1);
    assert_int_equal (a->count[LOOM__T_COMPLETED], 1);
    loom__core_destroy (c);
}

/* Once a pass has spent its backfill tries, it ends early when every head left is
 * known not to fit, but not before a head that can still start has started; the users
 * it did not look at stay queued in their heaps for the next pass.
 */
static void test_backfill_budget_spent (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 8, 0);
    loom__core_add_node (c, "n1", 8, 0);
    struct loom__fw *fw = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    struct loom__job *full =
        submit (c, fw, (struct sub){.uid = 9, .cps = 8, .limit = 100 * SEC});
    submit (c, fw, (struct sub){.uid = 9, .cps = 6, .limit = 1000 * SEC});
    assert_int_equal (loom__core_schedule (c), 2); /* one node full, 2 cores free */
    struct loom__job *head[2], *rest[2];
    for (int i = 0; i < 2; i++) { /* users 1, 2: blocked heads, 20 tries behind each */
        head[i] = submit (c, fw, (struct sub){.uid = 1 + i, .cps = 8});
        rest[i] = submit (c, fw, (struct sub){.uid = 1 + i, .cps = 4, .array = "1-20"});
    }
    struct loom__job *quick =
        submit (c, fw, (struct sub){.uid = 3, .limit = 10 * SEC}); /* ends before */
    struct loom__job *four = submit (c, fw, (struct sub){.uid = 4, .cps = 4});
    f.now = 1 * SEC;
    /* Users 1 and 2 spend the 32 tries; user 3's head still starts (it ends before
     * the reservation at 100 s), then user 4's head is known not to fit (a 4-core task
     * without a limit failed outside the reserved node) and the pass ends without
     * trying it.
     */
    assert_int_equal (loom__core_schedule (c), 1);
    assert_int_equal (running_of (quick), 1);
    assert_int_equal (running_of (four), 0);
    struct loom__user *u4 = loom__core_user (c, fw, 4);
    assert_int_equal (u4->pending, 1);
    assert_true (loom__heap_contains (&fw->users, u4));
    assert_int_equal (loom__core_schedule (c), 0);
    /* The reserved node frees at 100 s: user 1's head takes it, nothing else fits. */
    f.now = 100 * SEC;
    exit_task (&f, &full->tasks[0], 0);
    assert_int_equal (loom__core_schedule (c), 1);
    assert_int_equal (running_of (head[0]), 1);
    assert_int_equal (
        running_of (head[1]) + running_of (rest[0]) + running_of (rest[1]), 0);
    assert_true (loom__heap_contains (&fw->users, u4));
    loom__core_destroy (c);
}

/* Many users passed over in one pass: the users whose heads do not fit stay in the
 * heap, marked, and past 16 marks near the root they leave it until the end of the
 * pass. The user behind them still starts, and every user is back in the heap, in
 * share order, for the next pass.
 */
static void test_many_users_passed_over (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 64, 0);
    struct loom__fw *fw = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    enum { NU = 39 };
    for (uint32_t uid = 1; uid <= NU + 1; uid++) /* user NU + 1 runs two */
        submit (c, fw,
                (struct sub){
                    .uid = uid, .limit = 100 * SEC, .array = uid > NU ? "1-2" : NULL});
    assert_int_equal (loom__core_schedule (c), NU + 2);
    struct loom__job *head[NU];
    for (uint32_t i = 0; i < NU; i++) /* needs the whole node */
        head[i] = submit (c, fw, (struct sub){.uid = i + 1, .cps = 64});
    struct loom__job *quick =
        submit (c, fw, (struct sub){.uid = NU + 1, .limit = 10 * SEC});
    f.now = 1 * SEC;
    /* Users 1..NU (share 1/64) come first and are passed over; user NU+1 (2/64) has
     * a task that ends before the reservation at 100 s.
     */
    assert_int_equal (loom__core_schedule (c), 1);
    assert_int_equal (running_of (quick), 1);
    for (uint32_t i = 0; i < NU; i++) {
        struct loom__user *u = loom__core_user (c, fw, i + 1);
        assert_int_equal (u->stalled, 0);
        assert_int_equal (u->pending, 1);
        assert_true (loom__heap_contains (&fw->users, u));
        assert_int_equal (running_of (head[i]), 0);
    }
    assert_int_equal (fw->users.n, NU);
    assert_int_equal (loom__core_schedule (c), 0);
    /* Everything ends: all shares are 0 and user 1 (lowest uid) takes the node. */
    f.now = 100 * SEC;
    while (c->nrunning > 0)
        exit_task (&f, c->running.next, 0);
    assert_int_equal (loom__core_schedule (c), 1);
    assert_int_equal (running_of (head[0]), 1);
    for (uint32_t i = 1; i < NU; i++)
        assert_int_equal (running_of (head[i]), 0);
    loom__core_destroy (c);
}

/* A user passed over is out for the rest of the pass, even when a dependency released
 * during the pass gives it a head that would fit: that head starts in the next pass.
 * (The order of starts is the one the pass had when it removed such users from the
 * heap; this pins it.)
 */
static void test_passed_over_new_head (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 4, 0);
    loom__core_add_node (c, "n1", 4, 0);
    struct loom__fw *fw = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    submit (c, fw,
            (struct sub){.uid = 9, .cps = 3, .limit = 100 * SEC, .array = "1-2"});
    assert_int_equal (loom__core_schedule (c), 2); /* 1 core free on each node */
    struct loom__job *h1 = submit (c, fw, (struct sub){.uid = 1, .cps = 4});
    struct loom__job *h2 = submit (c, fw, (struct sub){.uid = 2, .cps = 4});
    struct loom__job *a = submit (c, fw, (struct sub){.uid = 3, .limit = 10 * SEC});
    struct loom__job *d =
        submit (c, fw,
                (struct sub){.uid = 2,
                             .limit = 10 * SEC,
                             .prio = 1,
                             .ndeps = 1,
                             .deps = {{.job = a->id, .type = LOOM__DEP_AFTER}}});
    assert_int_equal (d->count[LOOM__T_WAITING], 1);
    f.now = 1 * SEC;
    /* Users 1 and 2 are passed over (4-core heads), user 3's task starts and
     * releases d, user 2's new head.
     */
    assert_int_equal (loom__core_schedule (c), 1);
    assert_int_equal (running_of (a), 1);
    assert_int_equal (d->count[LOOM__T_PENDING], 1);
    assert_ptr_equal (loom__core_user (c, fw, 2)->head, &d->tasks[0]);
    assert_int_equal (running_of (d), 0);
    assert_int_equal (loom__core_schedule (c), 1);
    assert_int_equal (running_of (d), 1);
    assert_int_equal (running_of (h1) + running_of (h2), 0);
    loom__core_destroy (c);
}

/* With two nodes, the reservation holds one node; a long task may use the other. */
static void test_backfill_other_node (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 4, 0);
    loom__core_add_node (c, "n1", 4, 0);
    struct loom__fw *fw = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    submit (c, fw, (struct sub){.uid = 1, .cps = 3, .limit = 100 * SEC});
    submit (c, fw, (struct sub){.uid = 1, .cps = 2, .limit = 300 * SEC});
    assert_int_equal (loom__core_schedule (c), 2); /* 1 free on one, 2 on the other */
    struct loom__job *big = submit (c, fw, (struct sub){.uid = 1, .cps = 4});
    struct loom__job *l1 = submit (c, fw, (struct sub){.uid = 1});
    struct loom__job *l2 = submit (c, fw, (struct sub){.uid = 1});
    struct loom__job *l3 = submit (c, fw, (struct sub){.uid = 1});
    loom__core_schedule (c);
    /* big is reserved on the node of the 3-core task (free at 100 s): no-limit tasks
     * may only use the other node's 2 free cores.
     */
    assert_int_equal (running_of (big), 0);
    assert_int_equal (running_of (l1) + running_of (l2) + running_of (l3), 2);
    const struct loom__node *n3 = c->nodes[f.started[0]->alloc->parts[0].node];
    assert_int_equal (n3->free_cores, 1);
    loom__core_destroy (c);
}

/* --after, --afterok, --afterany, and an afterok that can never be met. */
static void test_dependencies (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 8, 0);
    struct loom__fw *fw = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    struct loom__job *j1 = submit (c, fw, (struct sub){.uid = 1, .cps = 8});
    struct loom__job *ok = submit (
        c, fw,
        (struct sub){.uid = 1, .deps = {{j1->id, LOOM__DEP_AFTEROK}}, .ndeps = 1});
    struct loom__job *any = submit (
        c, fw,
        (struct sub){.uid = 1, .deps = {{j1->id, LOOM__DEP_AFTERANY}}, .ndeps = 1});
    struct loom__job *after = submit (
        c, fw, (struct sub){.uid = 1, .deps = {{j1->id, LOOM__DEP_AFTER}}, .ndeps = 1});
    assert_int_equal (ok->count[LOOM__T_WAITING], 1);
    assert_int_equal (after->count[LOOM__T_WAITING], 1);
    loom__core_schedule (c);
    assert_int_equal (running_of (j1), 1);
    assert_int_equal (after->count[LOOM__T_PENDING], 1); /* released when j1 started */
    assert_int_equal (ok->count[LOOM__T_WAITING], 1);
    assert_int_equal (any->count[LOOM__T_WAITING], 1);
    exit_task (&f, f.started[0], 3); /* j1 fails */
    assert_true (j1->ended);
    assert_int_equal (ok->count[LOOM__T_CANCELLED], 1); /* afterok never satisfied */
    assert_true (ok->ended);
    assert_int_equal (any->count[LOOM__T_PENDING], 1);
    assert_int_equal (loom__core_schedule (c), 2);
    /* Chains: afterok on a completed job starts at once; unknown jobs are refused. */
    exit_task (&f, f.started[1], 0);
    exit_task (&f, f.started[2], 0);
    struct loom__job *j5 = submit (
        c, fw,
        (struct sub){.uid = 1, .deps = {{any->id, LOOM__DEP_AFTEROK}}, .ndeps = 1});
    assert_int_equal (j5->count[LOOM__T_PENDING], 1);
    struct loom__dep bad = {999, LOOM__DEP_AFTEROK};
    struct loom__job_spec spec = {
        .fw = fw, .uid = 1, .nslots = 1, .cores_per_slot = 1, .deps = &bad, .ndeps = 1};
    loom_error_t err;
    assert_null (loom__core_submit (c, &spec, &err));
    assert_int_equal (errno, ENOENT);
    assert_string_equal (err.text, "unknown job 999 in dependency");
    loom__core_destroy (c);
}

static void test_range_parse (void **state)
{
    static const struct {
        const char *s;
        int ok;
        uint64_t count;
    } cases[] = {
        {"1-10000", 1, 10000}, {"0-99:2", 1, 50}, {"1,5,7-9", 1, 5},
        {"3", 1, 1},           {"", 0, 0},        {"1-", 0, 0},
        {"a-3", 0, 0},         {"5-1", 0, 0},     {"1-10:0", 0, 0},
        {"1,,2", 0, 0},        {"1-3x", 0, 0},    {"-1-3", 0, 0},
        {"0-99999999", 0, 0},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        struct loom__range *r = NULL;
        size_t n = 0;
        uint64_t count = 0;
        loom_error_t err;
        int rc = loom__range_parse (cases[i].s, &r, &n, &count, &err);
        if (cases[i].ok) {
            assert_int_equal (rc, 0);
            assert_int_equal (count, cases[i].count);
        } else {
            assert_int_equal (rc, -1);
            assert_int_equal (errno, EINVAL);
            assert_non_null (strstr (err.text, "malformed array"));
        }
        free (r);
    }
}

/* Arrays: one task per index, in index order, each its own attempt and state. */
static void test_arrays (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 2, 0);
    struct loom__fw *fw = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    struct loom__job *j = submit (c, fw, (struct sub){.uid = 1, .array = "10-20:5,3"});
    assert_int_equal (j->ntasks, 4);
    assert_int_equal (j->tasks[0].index, 10);
    assert_int_equal (j->tasks[2].index, 20);
    assert_int_equal (j->tasks[3].index, 3);
    assert_int_equal (loom__core_schedule (c), 2);
    assert_int_equal (f.started[0]->index, 10);
    assert_int_equal (f.started[1]->index, 15);
    exit_task (&f, f.started[1], 0);
    exit_task (&f, f.started[0], 1);
    assert_int_equal (loom__core_schedule (c), 2);
    exit_task (&f, f.started[2], 0);
    exit_task (&f, f.started[3], 0);
    assert_true (j->ended);
    assert_int_equal (j->count[LOOM__T_COMPLETED], 3);
    assert_int_equal (j->count[LOOM__T_FAILED], 1);
    loom__core_destroy (c);
}

/* Retries: a failing task runs retries+1 times; a start failure counts as a failure. */
static void test_retries (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 1, 0);
    struct loom__fw *fw = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    struct loom__job *j = submit (c, fw, (struct sub){.uid = 1, .retries = 2});
    for (int i = 0; i < 3; i++) {
        assert_int_equal (loom__core_schedule (c), 1);
        assert_int_equal (j->tasks[0].attempt, i + 1);
        exit_task (&f, &j->tasks[0], 1);
    }
    assert_int_equal (j->tasks[0].state, LOOM__T_FAILED);
    assert_int_equal (loom__core_schedule (c), 0);
    struct loom__job *k = submit (c, fw, (struct sub){.uid = 1, .retries = 1});
    f.fail_start = 1;
    assert_int_equal (loom__core_schedule (c), 2); /* failed start, then the retry */
    assert_int_equal (k->tasks[0].attempt, 2);
    assert_int_equal (k->tasks[0].state, LOOM__T_RUNNING);
    exit_task (&f, &k->tasks[0], 0);
    assert_int_equal (k->tasks[0].state, LOOM__T_COMPLETED);
    loom__core_destroy (c);
}

/* Time limits: SIGTERM at the limit, SIGKILL after the grace time, state TIMEOUT. */
static void test_time_limit (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 1, 0);
    c->kill_grace_ns = 5 * SEC;
    struct loom__fw *fw = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    struct loom__job *j =
        submit (c, fw, (struct sub){.uid = 1, .limit = 10 * SEC, .retries = 3});
    loom__core_schedule (c);
    assert_int_equal (loom__core_tick (c), 10 * SEC);
    f.now = 10 * SEC;
    assert_int_equal (loom__core_tick (c), 15 * SEC);
    assert_int_equal (f.nkills, 1);
    assert_int_equal (f.kills[0].sig, SIGTERM);
    f.now = 15 * SEC;
    assert_int_equal (loom__core_tick (c), UINT64_MAX);
    assert_int_equal (f.nkills, 2);
    assert_int_equal (f.kills[1].sig, SIGKILL);
    loom__core_task_exited (c, &j->tasks[0], SIGKILL, 0);
    assert_int_equal (j->tasks[0].state, LOOM__T_TIMEOUT); /* not retried */
    loom__core_destroy (c);
}

static void test_cancel (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 1, 0);
    struct loom__fw *fw = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    struct loom__job *j = submit (c, fw, (struct sub){.uid = 1, .array = "1-3"});
    loom__core_schedule (c);
    assert_int_equal (loom__core_cancel (c, j), 3);
    assert_int_equal (j->count[LOOM__T_CANCELLED], 2);
    assert_int_equal (f.kills[0].sig, SIGTERM);
    assert_false (j->ended);
    loom__core_task_exited (c, &j->tasks[0], SIGTERM, 0);
    assert_true (j->ended);
    assert_int_equal (j->count[LOOM__T_CANCELLED], 3);
    assert_int_equal (c->free_cores, 1);
    loom__core_destroy (c);
}

static void test_impossible (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 4, 8 * GB);
    loom__core_add_node (c, "n1", 4, 8 * GB);
    struct loom__fw *fw = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    loom_error_t err;
    struct loom__job_spec s = {.fw = fw, .uid = 1, .nslots = 1, .cores_per_slot = 5};
    assert_null (loom__core_submit (c, &s, &err));
    assert_int_equal (errno, ENOSPC);
    assert_string_equal (
        err.text, "impossible request: 5 cores per task, the largest node has 4");
    s.cores_per_slot = 1;
    s.mem_per_slot = 9 * GB;
    assert_null (loom__core_submit (c, &s, &err));
    assert_int_equal (errno, ENOSPC);
    s.mem_per_slot = 0;
    s.nslots = 9;
    assert_null (loom__core_submit (c, &s, &err));
    s.nslots = 0;
    assert_null (loom__core_submit (c, &s, &err));
    assert_int_equal (errno, EINVAL);
    /* 6 slots fit no single node: they spread over both. */
    s.nslots = 6;
    struct loom__job *j = loom__core_submit (c, &s, &err);
    assert_non_null (j);
    assert_int_equal (loom__core_schedule (c), 1);
    assert_int_equal (j->tasks[0].alloc->nparts, 2);
    assert_int_equal (
        j->tasks[0].alloc->parts[0].ncores + j->tasks[0].alloc->parts[1].ncores, 6);
    loom__core_destroy (c);
}

/* Offers: DRF between the batch framework and an offer framework on one node. */
static void test_offers (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 4, 0);
    struct loom__fw *batch = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    struct loom__fw *sw = loom__core_fw_add (c, "sweep", LOOM__FW_OFFER, 1.0, 5);
    struct loom__job *bj = submit (c, batch, (struct sub){.uid = 1, .array = "1-100"});
    /* batch (id 0) first at equal shares, then sweep is offered the 3 free cores. */
    assert_int_equal (loom__core_schedule (c), 1);
    assert_int_equal (f.noffers, 1);
    struct loom__offer *o = f.offers[0];
    assert_int_equal (o->ncores, 3);
    assert_int_equal (o->mask[0], 0xe);
    /* Accept two cores: the third returns and goes to batch (lower share). */
    uint64_t m1 = 0x2, m2 = 0x4, mem[2] = {0, 0};
    uint64_t *masks[2] = {&m1, &m2};
    struct loom__job *jobs[2];
    loom_error_t err;
    uint64_t bad = 0x1, *badm[1] = {&bad};
    assert_int_equal (
        loom__core_offer_accept (c, o->id, 1, badm, mem, NULL, NULL, jobs, &err), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (
        loom__core_offer_accept (c, o->id, 2, masks, mem, NULL, NULL, jobs, &err), 0);
    assert_int_equal (jobs[0]->tasks[0].state, LOOM__T_RUNNING);
    assert_int_equal (sw->used_cores, 2);
    assert_int_equal (loom__core_schedule (c), 1);
    assert_int_equal (running_of (bj), 2);
    assert_int_equal (c->free_cores, 0);
    /* A sweep task ends: sweep (1/4) is below batch (2/4), so it gets the offer. */
    loom__core_task_exited (c, &jobs[0]->tasks[0], 0, 0);
    assert_int_equal (loom__core_schedule (c), 0);
    assert_int_equal (f.noffers, 2);
    assert_int_equal (f.offers[1]->ncores, 1);
    /* Declined with a filter: no offer for 10 s, so batch takes the core. */
    assert_int_equal (loom__core_offer_decline (c, f.offers[1]->id, 10 * SEC), 0);
    assert_int_equal (loom__core_offer_decline (c, 12345, 0), -1);
    assert_int_equal (errno, ENOENT);
    assert_int_equal (loom__core_schedule (c), 1);
    assert_int_equal (running_of (bj), 3);
    loom__core_task_exited (c, f.started[1], 0, 0);
    f.now = 5 * SEC;
    loom__core_tick (c);
    loom__core_schedule (c);
    assert_int_equal (f.noffers, 2); /* still filtered */
    assert_int_equal (running_of (bj), 3);
    loom__core_destroy (c);
}

/* A node goes down: its tasks are lost, requeued when they have retries left. */
static void test_node_down (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 1, 0);
    loom__core_add_node (c, "n1", 1, 0);
    struct loom__fw *fw = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    struct loom__job *a = submit (c, fw, (struct sub){.uid = 1, .retries = 1});
    struct loom__job *b = submit (c, fw, (struct sub){.uid = 1});
    loom__core_schedule (c);
    uint32_t na = a->tasks[0].alloc->parts[0].node;
    uint32_t nb = b->tasks[0].alloc->parts[0].node;
    loom__core_node_set_up (c, na, 0);
    assert_int_equal (a->tasks[0].state, LOOM__T_PENDING);
    assert_int_equal (c->total_cores, 1);
    loom__core_node_set_up (c, nb, 0);
    assert_int_equal (b->tasks[0].state, LOOM__T_LOST);
    assert_int_equal (loom__core_schedule (c), 0);
    loom__core_node_set_up (c, na, 1);
    assert_int_equal (loom__core_schedule (c), 1);
    assert_int_equal (a->tasks[0].attempt, 2);
    loom__core_destroy (c);
}

/* After a restart: final states are kept; a task that was running is lost and
 * requeued if it has retries left, else LOST.
 */
static void test_restore (void **state)
{
    struct fake f;
    loom__core_t *c = fake_core (&f);
    loom__core_add_node (c, "n0", 4, 0);
    struct loom__fw *fw = loom__core_fw_add (c, "batch", LOOM__FW_BATCH, 1.0, 0);
    struct loom__job *j =
        submit (c, fw, (struct sub){.uid = 1, .array = "1-4", .retries = 1});
    loom__core_restore_task (c, &j->tasks[0], LOOM__T_COMPLETED, 1, 0);
    loom__core_restore_task (c, &j->tasks[1], LOOM__T_RUNNING, 1, 0);
    loom__core_restore_task (c, &j->tasks[2], LOOM__T_RUNNING, 2, 0);
    assert_int_equal (j->tasks[0].state, LOOM__T_COMPLETED);
    assert_int_equal (j->tasks[1].state, LOOM__T_PENDING);
    assert_int_equal (j->tasks[2].state, LOOM__T_LOST);
    assert_int_equal (loom__core_schedule (c), 2);
    assert_int_equal (j->tasks[1].attempt, 2);
    assert_int_equal (j->tasks[3].attempt, 1);
    loom__core_destroy (c);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_drf_nsdi),
        cmocka_unit_test (test_drf_fw_weights),
        cmocka_unit_test (test_drf_user_weights),
        cmocka_unit_test (test_priority_fifo),
        cmocka_unit_test (test_backfill),
        cmocka_unit_test (test_backfill_other_node),
        cmocka_unit_test (test_backfill_budget_spent),
        cmocka_unit_test (test_many_users_passed_over),
        cmocka_unit_test (test_passed_over_new_head),
        cmocka_unit_test (test_dependencies),
        cmocka_unit_test (test_range_parse),
        cmocka_unit_test (test_arrays),
        cmocka_unit_test (test_retries),
        cmocka_unit_test (test_time_limit),
        cmocka_unit_test (test_cancel),
        cmocka_unit_test (test_impossible),
        cmocka_unit_test (test_offers),
        cmocka_unit_test (test_node_down),
        cmocka_unit_test (test_restore),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
