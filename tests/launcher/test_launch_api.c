/* SPDX-License-Identifier: MIT */
/* The launcher's library API as sched uses it: jobs on given cpusets, driven from a
 * poll() loop on loom_launch_fd(), output through callbacks, per-process exit status
 * with run time and peak RSS, kill, timeout, destroy while running, MPI jobs around an
 * aborted one, bad parameters.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <loom/clock.h>
#include <loom/launch.h>

static loom_launch_t *L;
static loom_topo_t *T;

struct record {
    int nexit;
    struct loom_launch_proc_status exits[8];
    int done;
    struct loom_launch_job_status st;
    char out[8][2048]; /* [7]: the engine (rank -1) */
    char err[8][2048];
};

static void on_output (loom_launch_job_t *job,
                       int rank,
                       int stream,
                       const char *line,
                       size_t len,
                       void *arg)
{
    struct record *r = arg;
    int slot = rank < 0 ? 7 : rank;
    char *dst = stream == 1 ? r->out[slot] : r->err[slot];
    size_t have = strlen (dst);
    snprintf (dst + have, sizeof (r->out[0]) - have, "%.*s|", (int)len, line);
}

static void
on_exit_cb (loom_launch_job_t *job, const struct loom_launch_proc_status *st, void *arg)
{
    struct record *r = arg;
    r->exits[r->nexit++] = *st;
}

static void
on_done (loom_launch_job_t *job, const struct loom_launch_job_status *st, void *arg)
{
    struct record *r = arg;
    r->done++;
    r->st = *st;
}

/* What a libevent host does: wait for the fd, then progress without blocking. */
static void drive (struct record *r, int max_ms)
{
    uint64_t end = loom_clock_ns () + (uint64_t)max_ms * 1000000u;
    while (!r->done && loom_clock_ns () < end) {
        struct pollfd p = {.fd = loom_launch_fd (L), .events = POLLIN};
        int n = poll (&p, 1, 100);
        assert_true (n >= 0 || errno == EINTR);
        assert_true (loom_launch_progress (L, 0) >= 0);
    }
    assert_int_equal (r->done, 1);
}

static loom_placement_t *place (int n, const char *cpuset, int oversub)
{
    struct loom_node node = {.topo = T, .cpuset = cpuset};
    struct loom_placement_params pp = LOOM_PLACEMENT_PARAMS_INIT;
    pp.nprocs = n;
    pp.oversubscribe = oversub;
    loom_error_t e;
    loom_placement_t *p = loom_placement_compute (&node, 1, &pp, &e);
    if (!p)
        fail_msg ("placement: %s", e.text);
    return p;
}

static loom_launch_job_t *start (
    loom_placement_t *p, char **argv, struct record *r, unsigned flags, double timeout)
{
    struct loom_launch_job_params jp = LOOM_LAUNCH_JOB_PARAMS_INIT;
    jp.placement = p;
    jp.argv = argv;
    jp.output = on_output;
    jp.proc_exit = on_exit_cb;
    jp.done = on_done;
    jp.arg = r;
    jp.flags = flags;
    jp.timeout_sec = timeout;
    loom_error_t e;
    loom_launch_job_t *j = loom_launch_job_start (L, &jp, &e);
    if (!j)
        fail_msg ("start: %s", e.text);
    return j;
}

static void exit_codes_output_rss (void **state)
{
    loom_placement_t *p = place (2, NULL, 1);
    char *argv[] = {"sh", "-c",
                    "echo out$LOOM_RANK; echo err$LOOM_RANK >&2; "
                    "head -c 20000000 /dev/zero | tail -c 1 >/dev/null; "
                    "exit $((LOOM_RANK + 3))",
                    NULL};
    struct record r = {0};
    loom_launch_job_t *j =
        start (p, argv, &r, LOOM_LAUNCH_KEEP_GOING | LOOM_LAUNCH_NO_PMIX, 0);
    loom_placement_destroy (p); /* not needed once started */
    assert_true (loom_launch_job_pid (j, 0) > 0);
    drive (&r, 10000);
    assert_int_equal (r.nexit, 2);
    for (int i = 0; i < 2; i++) {
        const struct loom_launch_proc_status *s = &r.exits[i];
        assert_int_equal (s->exit_code, s->rank + 3);
        assert_int_equal (s->signal, 0);
        assert_true (s->wall_sec > 0 && s->wall_sec < 10);
        assert_true (s->max_rss_kib > 100); /* a shell at least */
    }
    assert_string_equal (r.out[0], "out0|");
    assert_string_equal (r.out[1], "out1|");
    assert_string_equal (r.err[1], "err1|");
    /* KEEP_GOING: both ran to their end; the job reports the first failure seen. */
    assert_true (r.st.exit_code == 3 || r.st.exit_code == 4);
    assert_true (r.st.failed_rank == 0 || r.st.failed_rank == 1);
    assert_false (r.st.killed);
    assert_true (loom_launch_job_done (j));
    struct loom_launch_job_status st;
    assert_int_equal (loom_launch_job_status (j, &st), 0);
    assert_int_equal (st.exit_code, r.st.exit_code);
    assert_int_equal (loom_launch_job_pid (j, 0), -1); /* ended */
    loom_launch_job_destroy (j);
}

static void kill_and_status (void **state)
{
    loom_placement_t *p = place (2, NULL, 1);
    char *argv[] = {"sleep", "30", NULL};
    struct record r = {0};
    loom_launch_job_t *j = start (p, argv, &r, LOOM_LAUNCH_NO_PMIX, 0);
    loom_placement_destroy (p);
    pid_t pid0 = loom_launch_job_pid (j, 0);
    assert_true (pid0 > 0);
    assert_int_equal (loom_launch_job_status (j, &r.st), -1);
    assert_int_equal (errno, EAGAIN);
    assert_int_equal (loom_launch_job_kill (j, SIGTERM), 0);
    drive (&r, 5000);
    assert_true (r.st.killed);
    assert_int_equal (r.st.exit_code, 128 + SIGTERM);
    assert_int_equal (r.nexit, 2);
    assert_int_equal (r.exits[0].signal, SIGTERM);
    assert_int_equal (r.exits[0].exit_code, -1);
    assert_int_equal (kill (pid0, 0), -1);                   /* reaped, gone */
    assert_int_equal (loom_launch_job_kill (j, SIGTERM), 0); /* finished: no-op */
    assert_int_equal (loom_launch_job_kill (j, 0), -1);
    assert_int_equal (errno, EINVAL);
    loom_launch_job_destroy (j);
}

static void failure_kills_the_rest (void **state)
{
    loom_placement_t *p = place (3, NULL, 1);
    char *argv[] = {"sh", "-c", "[ $LOOM_RANK = 2 ] && kill -SEGV $$; sleep 30", NULL};
    struct record r = {0};
    uint64_t t0 = loom_clock_ns ();
    loom_launch_job_t *j = start (p, argv, &r, LOOM_LAUNCH_NO_PMIX, 0);
    loom_placement_destroy (p);
    drive (&r, 10000);
    assert_true ((loom_clock_ns () - t0) / 1e9 < 8);
    assert_int_equal (r.st.exit_code, 128 + SIGSEGV);
    assert_int_equal (r.st.failed_rank, 2);
    assert_non_null (strstr (r.st.reason, "rank 2"));
    assert_non_null (strstr (r.st.reason, "signal 11"));
    assert_false (r.st.killed);
    loom_launch_job_destroy (j);
}

static void timeout (void **state)
{
    loom_placement_t *p = place (1, NULL, 0);
    char *argv[] = {"sleep", "30", NULL};
    struct record r = {0};
    loom_launch_job_t *j = start (p, argv, &r, LOOM_LAUNCH_NO_PMIX, 0.3);
    loom_placement_destroy (p);
    drive (&r, 5000);
    assert_true (r.st.timed_out);
    assert_int_equal (r.st.exit_code, 124);
    assert_true (r.st.wall_sec >= 0.3 && r.st.wall_sec < 4);
    loom_launch_job_destroy (j);
}

/* Two jobs at once on disjoint cpusets, each process bound inside its own. */
static void disjoint_cpusets (void **state)
{
    struct loom_topo_counts c;
    loom_topo_counts (T, &c);
    if (c.allowed_pus < 2)
        skip ();
    char *argv[] = {"sh", "-c", "grep Cpus_allowed_list /proc/self/status", NULL};
    struct record ra = {0}, rb = {0};
    loom_placement_t *pa = place (2, "0", 1), *pb = place (2, "1", 1);
    loom_launch_job_t *a = start (pa, argv, &ra, LOOM_LAUNCH_NO_PMIX, 0);
    loom_launch_job_t *b = start (pb, argv, &rb, LOOM_LAUNCH_NO_PMIX, 0);
    loom_placement_destroy (pa);
    loom_placement_destroy (pb);
    drive (&ra, 5000);
    drive (&rb, 5000);
    for (int i = 0; i < 2; i++) {
        assert_string_equal (ra.out[i], "Cpus_allowed_list:\t0|");
        assert_string_equal (rb.out[i], "Cpus_allowed_list:\t1|");
    }
    assert_string_not_equal (loom_launch_job_id (a), loom_launch_job_id (b));
    loom_launch_job_destroy (a);
    loom_launch_job_destroy (b);
}

static void destroy_running (void **state)
{
    loom_placement_t *p = place (2, NULL, 1);
    char *argv[] = {"sleep", "30", NULL};
    struct record r = {0};
    loom_launch_job_t *j = start (p, argv, &r, LOOM_LAUNCH_NO_PMIX, 0);
    loom_placement_destroy (p);
    pid_t a = loom_launch_job_pid (j, 0), b = loom_launch_job_pid (j, 1);
    errno = 1234;
    loom_launch_job_destroy (j);
    assert_int_equal (errno, 1234);
    assert_int_equal (kill (a, 0), -1);
    assert_int_equal (kill (b, 0), -1);
    assert_int_equal (r.done, 0); /* no callbacks from destroy */
    loom_launch_job_destroy (NULL);
}

static void bad_params (void **state)
{
    loom_placement_t *p = place (1, NULL, 0);
    struct loom_launch_job_params jp = LOOM_LAUNCH_JOB_PARAMS_INIT;
    loom_error_t e;
    char *argv[] = {"true", NULL}, *missing[] = {"/nonexistent/prog", NULL};
    errno = 0;
    assert_null (loom_launch_job_start (L, &jp, &e)); /* no placement, no argv */
    assert_int_equal (errno, EINVAL);
    jp.placement = p;
    assert_null (loom_launch_job_start (L, &jp, &e));
    assert_int_equal (errno, EINVAL);
    jp.argv = argv;
    jp.flags = 1u << 7;
    assert_null (loom_launch_job_start (L, &jp, &e));
    assert_int_equal (errno, EINVAL);
    jp.flags = 0;
    jp.engine = (loom_launch_engine_t)42;
    assert_null (loom_launch_job_start (L, &jp, &e));
    assert_int_equal (errno, EINVAL);
    jp.engine = LOOM_ENGINE_AUTO;
    jp.argv = missing;
    assert_null (loom_launch_job_start (L, &jp, &e));
    assert_int_equal (errno, ENOENT);
    assert_string_equal (e.text, "/nonexistent/prog: command not found");
    /* A rank that cannot start fails the start (the task API reports it), not a
     * status 127 later.
     */
    jp.argv = argv;
    jp.flags = LOOM_LAUNCH_NO_PMIX;
    jp.cwd = "/nonexistent/dir";
    assert_null (loom_launch_job_start (L, &jp, &e));
    assert_int_equal (errno, ENOENT);
    assert_string_equal (
        e.text, "rank 0: cannot enter /nonexistent/dir: No such file or directory");
    jp.cwd = NULL;
    jp.flags = 0;
    char *bad_env[] = {"NOEQUALS", NULL};
    jp.env = bad_env;
    assert_null (loom_launch_job_start (L, &jp, &e));
    assert_int_equal (errno, EINVAL);
    assert_null (loom_launch_create (NULL, &e)); /* one launcher per process */
    assert_int_equal (errno, EBUSY);
    assert_int_equal (loom_launch_progress (NULL, 0), -1);
    assert_int_equal (errno, EINVAL);
    loom_placement_destroy (p);
}

/* A placement for another machine's topology cannot be launched here. */
static void foreign_placement (void **state)
{
    loom_topo_t *big =
        loom_topo_load (LOOM_TOPO_SYNTHETIC, "pack:4 core:64 pu:2", NULL);
    struct loom_node node = {.topo = big, .cpuset = "500-511"};
    struct loom_placement_params pp = LOOM_PLACEMENT_PARAMS_INIT;
    pp.nprocs = 1;
    loom_placement_t *p = loom_placement_compute (&node, 1, &pp, NULL);
    assert_non_null (p);
    struct loom_launch_job_params jp = LOOM_LAUNCH_JOB_PARAMS_INIT;
    char *argv[] = {"true", NULL};
    jp.placement = p;
    jp.argv = argv;
    loom_error_t e;
    assert_null (loom_launch_job_start (L, &jp, &e));
    assert_int_equal (errno, EINVAL);
    assert_non_null (strstr (e.text, "PUs this node does not have"));
    loom_placement_destroy (p);
    loom_topo_destroy (big);
}

/* MPI jobs side by side in one launcher while one of them is taken down after
 * MPI_Abort: the PMIx server must go on serving the job running alongside and the job
 * started afterwards, whose connections reuse the descriptors of the killed ranks.
 * (Deregistering a live rank from PMIx 4.2.2 before killing it broke exactly that:
 * the next job's ranks hung in MPI_Init.)
 */
static void mpi_jobs_around_an_abort (void **state)
{
    loom_placement_t *p = place (2, NULL, 1);
    char *slow[] = {"loom-hello", "--quiet", "--sleep", "3", NULL};
    char *aborts[] = {"loom-hello", "--quiet", "--abort", "1", NULL};
    char *hello[] = {"loom-hello", "--quiet", NULL};
    struct record a = {0}, b = {0}, c = {0};
    loom_launch_job_t *ja = start (p, slow, &a, 0, 60);
    loom_launch_job_t *jb = start (p, aborts, &b, 0, 60);
    drive (&b, 60000);
    assert_int_equal (b.st.exit_code, 7);
    assert_true (b.st.aborted);
    assert_int_equal (b.st.failed_rank, 1);
    assert_false (loom_launch_job_done (ja)); /* still in its sleep */
    loom_launch_job_t *jc = start (p, hello, &c, 0, 60);
    drive (&c, 60000);
    assert_int_equal (c.st.exit_code, 0);
    assert_non_null (strstr (c.out[0], "hello: 2 ranks, allreduce and ring"));
    drive (&a, 60000);
    assert_int_equal (a.st.exit_code, 0);
    assert_non_null (strstr (a.out[0], "hello: 2 ranks, allreduce and ring"));
    loom_launch_job_destroy (ja);
    loom_launch_job_destroy (jb);
    loom_launch_job_destroy (jc);
    loom_placement_destroy (p);
}

/* A stand-in engine that prints its arguments and the hostfile srun would read. */
static char fake_engine[] = "/tmp/loom-fake-engine.XXXXXX";

static void write_fake_engine (void)
{
    int fd = mkstemp (fake_engine);
    assert_true (fd >= 0);
    const char *text = "#!/bin/sh\necho \"args: $*\"\n"
                       "[ -n \"$SLURM_HOSTFILE\" ] && echo \"hosts: $(tr '\\n' ' ' <"
                       "\"$SLURM_HOSTFILE\")\"\n"
                       "for a; do case $a in */rankfile) cat \"$a\";; esac; done\n"
                       "echo \"job: $LOOM_JOB\"\n";
    assert_int_equal (write (fd, text, strlen (text)), (ssize_t)strlen (text));
    fchmod (fd, 0755);
    close (fd);
}

/* Two nodes with this node's topology, map-by node: the engine gets the plan. */
static void engines (void **state)
{
    struct loom_topo_counts c;
    loom_topo_counts (T, &c);
    if (c.allowed_pus < 2)
        skip ();
    struct loom_node nodes[2] = {{.name = "nodeA", .topo = T, .cpuset = "1"},
                                 {.name = "nodeB", .topo = T, .cpuset = "1"}};
    struct loom_placement_params pp = LOOM_PLACEMENT_PARAMS_INIT;
    pp.nprocs = 2;
    pp.map_by = "node";
    loom_placement_t *p = loom_placement_compute (nodes, 2, &pp, NULL);
    assert_non_null (p);
    char *argv[] = {"true", "x", NULL};
    for (int e = LOOM_ENGINE_MPIRUN; e <= LOOM_ENGINE_SRUN; e++) {
        struct record r = {0};
        struct loom_launch_job_params jp = LOOM_LAUNCH_JOB_PARAMS_INIT;
        jp.placement = p;
        jp.argv = argv;
        jp.output = on_output;
        jp.proc_exit = on_exit_cb;
        jp.done = on_done;
        jp.arg = &r;
        jp.engine = (loom_launch_engine_t)e;
        loom_error_t err;
        loom_launch_job_t *j = loom_launch_job_start (L, &jp, &err);
        if (!j)
            fail_msg ("engine %d: %s", e, err.text);
        assert_true (loom_launch_job_pid (j, -1) > 0);
        drive (&r, 5000);
        assert_int_equal (r.st.exit_code, 0);
        assert_int_equal (r.nexit, 1);
        assert_int_equal (r.exits[0].rank, -1);
        const char *out = r.out[7];
        assert_non_null (strstr (out, "job: loom."));
        if (e == LOOM_ENGINE_MPIRUN) {
            assert_non_null (strstr (out, "args: -np 2 --rankfile "));
            assert_non_null (strstr (out, "--mca rmaps_rank_file_physical 1"));
            assert_non_null (strstr (out, "|rank 0=nodeA slot=1|rank 1=nodeB slot=1|"));
        } else {
            assert_non_null (strstr (out,
                                     "args: --mpi=pmix -n 2 --distribution=arbitrary "
                                     "--cpu-bind=mask_cpu:0x2 "));
            assert_non_null (strstr (out, "|hosts: nodeA nodeB |"));
        }
        assert_non_null (strstr (out, "/true x|"));
        loom_launch_job_destroy (j);
    }
    loom_placement_destroy (p);
}

static int setup (void **state)
{
    loom_error_t e;
    T = loom_topo_load (LOOM_TOPO_LOCAL, NULL, &e);
    write_fake_engine ();
    struct loom_launch_params lp = LOOM_LAUNCH_PARAMS_INIT;
    lp.topo = T;
    lp.mpirun = fake_engine;
    lp.srun = fake_engine;
    L = loom_launch_create (&lp, &e);
    if (!L)
        fprintf (stderr, "launcher: %s\n", e.text);
    return L ? 0 : -1;
}

static int teardown (void **state)
{
    unlink (fake_engine);
    errno = 77;
    loom_launch_destroy (L);
    loom_topo_destroy (T);
    return errno == 77 ? 0 : -1;
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (exit_codes_output_rss),    cmocka_unit_test (kill_and_status),
        cmocka_unit_test (failure_kills_the_rest),   cmocka_unit_test (timeout),
        cmocka_unit_test (disjoint_cpusets),         cmocka_unit_test (destroy_running),
        cmocka_unit_test (mpi_jobs_around_an_abort), cmocka_unit_test (bad_params),
        cmocka_unit_test (foreign_placement),        cmocka_unit_test (engines),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
