/* SPDX-License-Identifier: MIT */
/* The launcher's task API (loom_launch_task_start, loom_launch_task_kill), as loomd
 * uses it for plain tasks: the child's CPU mask equals the requested cpuset on both
 * start paths (posix_spawn, and fork, which PDEATHSIG or a user switch selects), exit
 * status and signals come back through waitpid, the process group, environment, cwd
 * and descriptors are what the header promises, bad input is one clear error, and as
 * root the task runs as another user with that user's groups.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <loom/launch.h>

/* The PUs this test may use, from its own mask at start. */
static hwloc_bitmap_t allowed;

static hwloc_bitmap_t thread_mask (void)
{
    cpu_set_t cs;
    hwloc_bitmap_t set = hwloc_bitmap_alloc ();
    assert_int_equal (sched_getaffinity (0, sizeof (cs), &cs), 0);
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET (i, &cs))
            hwloc_bitmap_set (set, (unsigned)i);
    return set;
}

static char *list_of (hwloc_const_bitmap_t set)
{
    char *s = NULL;
    assert_true (hwloc_bitmap_list_asprintf (&s, set) >= 0);
    return s;
}

/* Start 'spec' with its stdout on a pipe; collect the output ('|' for newlines) and
 * the wait status. Also checks that the caller's mask is what it was.
 */
static int run (struct loom_launch_task_spec *spec, char *out, size_t outsz)
{
    int p[2];
    assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
    spec->stdout_fd = p[1];
    hwloc_bitmap_t before = thread_mask ();
    pid_t pid = -1;
    loom_error_t e = {{0}};
    int rc = loom_launch_task_start (spec, &pid, &e);
    if (rc < 0)
        fail_msg ("start: %s", e.text);
    hwloc_bitmap_t after = thread_mask ();
    assert_true (hwloc_bitmap_isequal (before, after));
    hwloc_bitmap_free (before);
    hwloc_bitmap_free (after);
    close (p[1]);
    size_t n = 0;
    ssize_t k;
    while (n + 1 < outsz && (k = read (p[0], out + n, outsz - 1 - n)) > 0)
        n += (size_t)k;
    out[n] = '\0';
    for (char *c = out; *c; c++)
        if (*c == '\n')
            *c = '|';
    close (p[0]);
    int st;
    assert_int_equal (waitpid (pid, &st, 0), pid);
    return st;
}

/* Start 'spec', expecting failure with 'err' and 'text' in the message. */
static void
expect_fail (const struct loom_launch_task_spec *spec, int err, const char *text)
{
    hwloc_bitmap_t before = thread_mask ();
    pid_t pid = -1;
    loom_error_t e = {{0}};
    errno = 0;
    assert_int_equal (loom_launch_task_start (spec, &pid, &e), -1);
    if (errno != err)
        fail_msg ("errno %d (%s), want %d; message: %s", errno, strerror (errno), err,
                  e.text);
    if (!strstr (e.text, text))
        fail_msg ("message '%s' does not contain '%s'", e.text, text);
    assert_null (strchr (e.text, '\n'));
    assert_int_equal (pid, -1);
    hwloc_bitmap_t after = thread_mask (); /* restored on every error path */
    assert_true (hwloc_bitmap_isequal (before, after));
    hwloc_bitmap_free (before);
    hwloc_bitmap_free (after);
}

/* Every single allowed PU, and the whole allowed set, on both start paths: the child's
 * Cpus_allowed_list is the requested list, exactly.
 */
static void binding_is_exact (void **state)
{
    (void)state;
    static const unsigned paths[] = {0, LOOM_LAUNCH_TASK_PDEATHSIG};
    int npu = hwloc_bitmap_weight (allowed);
    assert_true (npu >= 1);
    for (size_t f = 0; f < 2; f++) {
        for (int i = -1; i < npu; i++) {
            hwloc_bitmap_t set = hwloc_bitmap_alloc ();
            if (i < 0) {
                hwloc_bitmap_copy (set, allowed);
            } else {
                int pu = hwloc_bitmap_first (allowed);
                for (int k = 0; k < i; k++)
                    pu = hwloc_bitmap_next (allowed, pu);
                hwloc_bitmap_only (set, (unsigned)pu);
            }
            char *want = list_of (set), out[256], expect[300];
            char *argv[] = {"sh", "-c",
                            "grep Cpus_allowed_list: /proc/self/status | cut -f2; "
                            "echo $LOOM_TEST_PU",
                            NULL};
            char env_pu[64];
            snprintf (env_pu, sizeof (env_pu), "LOOM_TEST_PU=%s", want);
            char *env[] = {env_pu, "PATH=/usr/bin:/bin", NULL};
            struct loom_launch_task_spec s = LOOM_LAUNCH_TASK_SPEC_INIT;
            s.argv = argv;
            s.envp = env;
            s.cpuset = set;
            s.flags = paths[f];
            int st = run (&s, out, sizeof (out));
            assert_true (WIFEXITED (st));
            assert_int_equal (WEXITSTATUS (st), 0);
            snprintf (expect, sizeof (expect), "%s|%s|", want, want);
            assert_string_equal (out, expect);
            free (want);
            hwloc_bitmap_free (set);
        }
    }
}

/* No cpuset: the child keeps the caller's binding. */
static void no_cpuset_inherits (void **state)
{
    (void)state;
    char *argv[] = {"grep", "Cpus_allowed_list:", "/proc/self/status", NULL};
    struct loom_launch_task_spec s = LOOM_LAUNCH_TASK_SPEC_INIT;
    s.argv = argv;
    char out[256], expect[300], *want = list_of (allowed);
    run (&s, out, sizeof (out));
    snprintf (expect, sizeof (expect), "Cpus_allowed_list:\t%s|", want);
    assert_string_equal (out, expect);
    free (want);
}

static void exit_status_and_signal (void **state)
{
    (void)state;
    static const struct {
        const char *script;
        unsigned flags;
        int code, sig;
    } cases[] = {
        {"exit 0", 0, 0, 0},
        {"exit 7", 0, 7, 0},
        {"exit 7", LOOM_LAUNCH_TASK_PDEATHSIG, 7, 0},
        {"kill -TERM $$", 0, -1, SIGTERM},
        {"kill -KILL $$", LOOM_LAUNCH_TASK_PDEATHSIG, -1, SIGKILL},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        char *argv[] = {"sh", "-c", (char *)cases[i].script, NULL};
        struct loom_launch_task_spec s = LOOM_LAUNCH_TASK_SPEC_INIT;
        s.argv = argv;
        s.cpuset = allowed;
        s.flags = cases[i].flags;
        char out[64];
        int st = run (&s, out, sizeof (out));
        if (cases[i].sig) {
            assert_true (WIFSIGNALED (st));
            assert_int_equal (WTERMSIG (st), cases[i].sig);
        } else {
            assert_true (WIFEXITED (st));
            assert_int_equal (WEXITSTATUS (st), cases[i].code);
        }
    }
}

/* Process group, environment, cwd, stdin and the caller's descriptors. */
static void process_setup (void **state)
{
    (void)state;
    int leak = open ("/dev/null", O_RDONLY); /* no O_CLOEXEC: must still not leak */
    assert_true (leak > 2);
    char script[512];
    snprintf (script, sizeof (script),
              "echo $$ $(cut -d' ' -f5 /proc/$$/stat); echo $FOO; pwd; "
              "readlink /proc/$$/fd/0; [ -e /proc/$$/fd/%d ] && echo leaked || "
              "echo closed; grep -e SigBlk -e SigIgn /proc/$$/status | tr '\\t' ' '",
              leak);
    char *argv[] = {"sh", "-c", script, NULL};
    char *env[] = {"FOO=bar baz", "PATH=/usr/bin:/bin", NULL};
    for (int keep = 0; keep < 2; keep++) {
        for (int f = 0; f < 2; f++) {
            struct loom_launch_task_spec s = LOOM_LAUNCH_TASK_SPEC_INIT;
            s.argv = argv;
            s.envp = env;
            s.cwd = "/proc";
            s.flags = (keep ? LOOM_LAUNCH_TASK_KEEP_PGRP : 0)
                      | (f ? LOOM_LAUNCH_TASK_PDEATHSIG : 0);
            char out[512];
            /* An ignored SIGTERM and a blocked SIGUSR1 in the caller are default
             * and unblocked again in the task.
             */
            sigset_t usr1, old;
            sigemptyset (&usr1);
            sigaddset (&usr1, SIGUSR1);
            pthread_sigmask (SIG_BLOCK, &usr1, &old);
            signal (SIGTERM, SIG_IGN);
            int st = run (&s, out, sizeof (out));
            signal (SIGTERM, SIG_DFL);
            pthread_sigmask (SIG_SETMASK, &old, NULL);
            assert_true (WIFEXITED (st) && WEXITSTATUS (st) == 0);
            long pid, pgid;
            char rest[400];
            assert_int_equal (sscanf (out, "%ld %ld|%399[^\n]", &pid, &pgid, rest), 3);
            assert_int_equal (pgid, keep ? (long)getpgrp () : pid);
            unsigned long long ign = ~0ull;
            char *p = strstr (rest, "SigIgn: ");
            assert_non_null (p);
            assert_int_equal (sscanf (p, "SigIgn: %llx", &ign), 1);
            *p = '\0';
            assert_string_equal (rest, "bar baz|/proc|/dev/null|closed|"
                                       "SigBlk: 0000000000000000|");
            /* glibc's posix_spawn ignores its own two internal signals (32, 33) in
             * the child; every signal a program can use is at its default.
             */
            assert_int_equal (ign & ~(3ull << 31), 0);
        }
    }
    close (leak);
}

static void bad_input (void **state)
{
    (void)state;
    pid_t pid;
    char *empty[] = {NULL};
    char *blank[] = {"", NULL};
    char *ok[] = {"true", NULL};
    char *missing[] = {"loom-no-such-program-xyz", NULL};
    char *missing_path[] = {"/no/such/dir/prog", NULL};
    struct loom_launch_task_spec s = LOOM_LAUNCH_TASK_SPEC_INIT;
    loom_error_t e;

    assert_int_equal (loom_launch_task_start (NULL, &pid, &e), -1);
    assert_int_equal (errno, EINVAL);
    s.argv = ok;
    assert_int_equal (loom_launch_task_start (&s, NULL, &e), -1);
    assert_int_equal (errno, EINVAL);

    s.argv = NULL;
    expect_fail (&s, EINVAL, "empty command");
    s.argv = empty;
    expect_fail (&s, EINVAL, "empty command");
    s.argv = blank;
    expect_fail (&s, EINVAL, "empty command");
    s.argv = ok;
    s.flags = 1u << 7;
    expect_fail (&s, EINVAL, "unknown flags 0x80");
    s.flags = 0;
    s.user = "";
    expect_fail (&s, EINVAL, "empty user name");
    s.user = NULL;

    /* Programs and directories that are not there, on both paths. */
    for (int f = 0; f < 2; f++) {
        s.flags = f ? LOOM_LAUNCH_TASK_PDEATHSIG : 0;
        s.argv = missing;
        expect_fail (
            &s, ENOENT,
            "cannot start 'loom-no-such-program-xyz': No such file or directory");
        s.argv = missing_path;
        expect_fail (&s, ENOENT,
                     "cannot start '/no/such/dir/prog': No such file or directory");
        s.argv = ok;
        s.cwd = "/no/such/dir";
        expect_fail (&s, ENOENT,
                     "cannot start 'true': cannot enter /no/such/dir: No such file");
        s.cwd = NULL;
    }
    s.flags = 0;

    /* cpusets: empty, infinite, wholly and partly outside what this process may use. */
    hwloc_bitmap_t set = hwloc_bitmap_alloc ();
    s.cpuset = set;
    expect_fail (&s, EINVAL, "cpuset for 'true' is empty");
    hwloc_bitmap_fill (set);
    expect_fail (&s, EINVAL, "cpuset for 'true' is infinite");
    unsigned outside = (unsigned)hwloc_bitmap_last (allowed) + 4000;
    hwloc_bitmap_only (set, outside);
    char want[128];
    snprintf (want, sizeof (want), "cannot start 'true': PUs %u are not available",
              outside);
    for (int f = 0; f < 2; f++) {
        s.flags = f ? LOOM_LAUNCH_TASK_PDEATHSIG : 0;
        expect_fail (&s, EINVAL, want);
    }
    hwloc_bitmap_copy (set, allowed);
    hwloc_bitmap_set (set, outside);
    expect_fail (&s, EINVAL, want); /* the kernel would have narrowed it silently */
    hwloc_bitmap_free (set);
}

static void kill_reaches_the_group (void **state)
{
    (void)state;
    /* The shell's child (sleep) must die too: it is in the task's group. */
    int p[2];
    assert_int_equal (pipe2 (p, O_CLOEXEC), 0);
    char *argv[] = {"sh", "-c", "sleep 30 & echo $!; wait", NULL};
    struct loom_launch_task_spec s = LOOM_LAUNCH_TASK_SPEC_INIT;
    s.argv = argv;
    s.stdout_fd = p[1];
    pid_t pid;
    assert_int_equal (loom_launch_task_start (&s, &pid, NULL), 0);
    close (p[1]);
    char buf[64] = {0};
    assert_true (read (p[0], buf, sizeof (buf) - 1) > 0);
    close (p[0]);
    pid_t sleeper = (pid_t)atol (buf);
    assert_true (sleeper > 1);
    assert_int_equal (loom_launch_task_kill (pid, SIGTERM), 0);
    int st;
    assert_int_equal (waitpid (pid, &st, 0), pid);
    assert_true (WIFSIGNALED (st));
    assert_int_equal (WTERMSIG (st), SIGTERM);
    /* The orphan is gone, or a zombie waiting for init. */
    char path[64], stat[256] = "";
    snprintf (path, sizeof (path), "/proc/%d/stat", (int)sleeper);
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen (path, "r");
        if (!f)
            break;
        if (!fgets (stat, sizeof (stat), f))
            stat[0] = '\0';
        fclose (f);
        const char *rp = strrchr (stat, ')');
        if (rp && rp[2] == 'Z')
            break;
        usleep (10000);
    }
    const char *rp = strrchr (stat, ')');
    assert_true (access (path, F_OK) < 0 || (rp && rp[2] == 'Z'));

    /* A task in the caller's group is signalled alone. */
    char *sl[] = {"sleep", "30", NULL};
    s.argv = sl;
    s.stdout_fd = -1;
    s.flags = LOOM_LAUNCH_TASK_KEEP_PGRP;
    assert_int_equal (loom_launch_task_start (&s, &pid, NULL), 0);
    assert_int_equal (loom_launch_task_kill (pid, SIGKILL), 0);
    assert_int_equal (waitpid (pid, &st, 0), pid);
    assert_true (WIFSIGNALED (st) && WTERMSIG (st) == SIGKILL);

    /* Never a broadcast or our own group; bad signals; a task that is gone. */
    assert_int_equal (loom_launch_task_kill (0, SIGTERM), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (loom_launch_task_kill (1, SIGTERM), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (loom_launch_task_kill (-5, SIGTERM), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (loom_launch_task_kill (pid, -1), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (loom_launch_task_kill (pid, 1000), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (loom_launch_task_kill (pid, 0), -1); /* reaped above */
    assert_int_equal (errno, ESRCH);
}

/* PDEATHSIG: the task dies with the thread that started it. */
static void *start_and_exit (void *arg)
{
    char *argv[] = {"sleep", "30", NULL};
    struct loom_launch_task_spec s = LOOM_LAUNCH_TASK_SPEC_INIT;
    s.argv = argv;
    s.flags = LOOM_LAUNCH_TASK_PDEATHSIG;
    if (loom_launch_task_start (&s, arg, NULL) < 0)
        *(pid_t *)arg = -1;
    return NULL;
}

static void pdeathsig (void **state)
{
    (void)state;
    pthread_t th;
    pid_t pid = 0;
    assert_int_equal (pthread_create (&th, NULL, start_and_exit, &pid), 0);
    assert_int_equal (pthread_join (th, NULL), 0);
    assert_true (pid > 0);
    int st;
    assert_int_equal (waitpid (pid, &st, 0), pid); /* at once, not after 30 s */
    assert_true (WIFSIGNALED (st));
    assert_int_equal (WTERMSIG (st), SIGKILL);
}

static int cmp_gid (const void *a, const void *b)
{
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return x < y ? -1 : x > y;
}

/* As root: run as 'nobody' with its groups (setgid, initgroups, setuid). */
static void as_user (void **state)
{
    (void)state;
    struct passwd *pw = getpwnam ("nobody");
    if (geteuid () != 0 || !pw) {
        print_message ("skipped: needs root and a 'nobody' user\n");
        return;
    }
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    /* What initgroups would set. */
    gid_t groups[64];
    int ng = 64;
    assert_true (getgrouplist ("nobody", gid, groups, &ng) >= 0);
    qsort (groups, (size_t)ng, sizeof (gid_t), cmp_gid); /* as the shell sorts them */
    char want_groups[512] = "";
    for (int i = 0; i < ng; i++) {
        size_t l = strlen (want_groups);
        snprintf (want_groups + l, sizeof (want_groups) - l, "%s%u", i ? " " : "",
                  (unsigned)groups[i]);
    }
    char *argv[] = {
        "sh", "-c",
        "id -u; id -g; id -G | tr ' ' '\\n' | sort -n | tr '\\n' ' '; echo; "
        "grep Cpus_allowed_list: /proc/self/status | cut -f2",
        NULL};
    hwloc_bitmap_t one = hwloc_bitmap_alloc ();
    hwloc_bitmap_only (one, (unsigned)hwloc_bitmap_last (allowed));
    struct loom_launch_task_spec s = LOOM_LAUNCH_TASK_SPEC_INIT;
    s.argv = argv;
    s.user = "nobody";
    s.uid = uid;
    s.gid = gid;
    s.cpuset = one;
    s.cwd = "/";
    char out[512], expect[700], *pu = list_of (one);
    int st = run (&s, out, sizeof (out));
    assert_true (WIFEXITED (st) && WEXITSTATUS (st) == 0);
    /* uid, gid, exactly the user's groups (root's did not leak), the binding */
    snprintf (expect, sizeof (expect), "%u|%u|%s |%s|", (unsigned)uid, (unsigned)gid,
              want_groups, pu);
    assert_string_equal (out, expect);

    /* A directory the user may not enter, a program it may not run. */
    char dir[] = "/tmp/loom-task-XXXXXX";
    assert_non_null (mkdtemp (dir));
    assert_int_equal (chmod (dir, 0700), 0);
    char *ok[] = {"true", NULL};
    s.argv = ok;
    s.cwd = dir;
    expect_fail (&s, EACCES, "cannot start 'true': cannot enter /tmp/loom-task-");
    s.cwd = "/";
    char prog[300];
    snprintf (prog, sizeof (prog), "%s/prog", dir);
    int fd = open (prog, O_WRONLY | O_CREAT, 0700);
    assert_true (fd >= 0);
    assert_true (write (fd, "#!/bin/sh\n", 10) == 10);
    close (fd);
    char *priv[] = {prog, NULL};
    s.argv = priv;
    expect_fail (&s, EACCES, "Permission denied");
    unlink (prog);
    rmdir (dir);
    free (pu);
    hwloc_bitmap_free (one);
}

int main (void)
{
    allowed = thread_mask ();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (binding_is_exact),
        cmocka_unit_test (no_cpuset_inherits),
        cmocka_unit_test (exit_status_and_signal),
        cmocka_unit_test (process_setup),
        cmocka_unit_test (bad_input),
        cmocka_unit_test (kill_reaches_the_group),
        cmocka_unit_test (pdeathsig),
        cmocka_unit_test (as_user),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    hwloc_bitmap_free (allowed);
    return rc;
}
