/* SPDX-License-Identifier: MIT */
/* Starting one task: one process bound to exactly the PUs it was given, optionally as
 * another user, with no launcher, placement or PMIx namespace. This is how loomd starts
 * its plain tasks (thousands a second), on the head and on agents.
 *
 * The binding is inherited: the calling thread binds itself to the task's PUs, starts
 * the child, and restores its own mask. The thread's mask is read back before the start
 * because the kernel narrows a mask to the PUs the process may use (its cgroup's
 * cpuset, online PUs) without an error as long as one is left: a task would then run on
 * fewer PUs than it was granted.
 *
 * Two ways to start, chosen per call:
 *  - posix_spawn, which glibc runs as clone(CLONE_VM|CLONE_VFORK) (vfork speed; an exec
 *    error comes back from posix_spawn itself), when the task runs as the caller and
 *    needs no death signal;
 *  - fork, when the task switches user (setgid, the user's groups, setuid, in that
 * order; a vfork child shares glibc's memory and must not change credentials) or asks
 * for PR_SET_PDEATHSIG. A failure before exec comes back through a close-on-exec pipe,
 * so both ways report the same errors from loom_launch_task_start(). The user's groups
 * are looked up in the parent with getgrouplist(3), which is what initgroups(3) does
 * before setgroups(2): NSS lookups are not safe after fork in a threaded process (the
 * caller may run PMIx's progress thread).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <loom/error.h>
#include <loom/launch.h>

#include "launch_int.h"

extern char **environ;

#define TASK_FLAGS (LOOM_LAUNCH_TASK_KEEP_PGRP | LOOM_LAUNCH_TASK_PDEATHSIG)

/* Signals a daemon commonly ignores or blocks; ignored ones would survive exec. */
static const int default_sigs[] = {SIGPIPE, SIGCHLD, SIGTERM, SIGINT,
                                   SIGHUP,  SIGQUIT, SIGUSR1, SIGUSR2};

/* A CPU mask of at least 'bits' bits, zeroed. */
struct mask {
    cpu_set_t *set;
    size_t size;
};

static int mask_alloc (struct mask *m, size_t bits)
{
    m->set = CPU_ALLOC (bits);
    m->size = CPU_ALLOC_SIZE (bits);
    if (!m->set)
        return -1;
    CPU_ZERO_S (m->size, m->set);
    return 0;
}

/* The calling thread's mask, in a buffer as large as the kernel wants (EINVAL from
 * sched_getaffinity means the buffer is smaller than the kernel's CPU count).
 */
static int mask_get_thread (struct mask *m)
{
    for (size_t bits = 1024; bits <= (1u << 20); bits *= 2) {
        if (mask_alloc (m, bits) < 0)
            return -1;
        if (sched_getaffinity (0, m->size, m->set) == 0)
            return 0;
        CPU_FREE (m->set);
        m->set = NULL;
        if (errno != EINVAL)
            return -1;
    }
    errno = EINVAL;
    return -1;
}

/* One start: the spec, the program to exec (NULL: argv[0] searched in PATH), and how
 * errors name it ("cannot start 'x'", or the launcher's "rank 3").
 */
struct start {
    const struct loom_launch_task_spec *s;
    const char *path;
    const char *who;
};

/* Bind the calling thread to exactly 'cpuset', saving its mask in 'saved'. */
static int bind_thread (hwloc_const_cpuset_t cpuset,
                        const char *who,
                        struct mask *saved,
                        loom_error_t *error)
{
    struct mask want = {NULL, 0}, got = {NULL, 0};
    int e;
    if (mask_get_thread (saved) < 0) {
        e = errno;
        return loom_errset (error, e, "%s: cannot read this thread's CPU mask: %s", who,
                            strerror (e));
    }
    size_t bits = saved->size * 8, last = (size_t)hwloc_bitmap_last (cpuset);
    if (last + 1 > bits)
        bits = last + 1;
    if (mask_alloc (&want, bits) < 0 || mask_alloc (&got, bits) < 0)
        goto nomem;
    unsigned pu;
    hwloc_bitmap_foreach_begin (pu, cpuset)
    {
        CPU_SET_S (pu, want.size, want.set);
    }
    hwloc_bitmap_foreach_end ();
    /* EINVAL when none of them may be used; otherwise the read-back tells. */
    if ((sched_setaffinity (0, want.size, want.set) < 0 && errno != EINVAL)
        || (errno = 0, sched_getaffinity (0, got.size, got.set) < 0)) {
        e = errno;
        sched_setaffinity (0, saved->size, saved->set);
        CPU_FREE (want.set);
        CPU_FREE (got.set);
        CPU_FREE (saved->set);
        return loom_errset (error, e, "%s: cannot bind to PUs: %s", who, strerror (e));
    }
    if (!CPU_EQUAL_S (want.size, want.set, got.set)) {
        sched_setaffinity (0, saved->size, saved->set);
        hwloc_bitmap_t missing = hwloc_bitmap_alloc ();
        char *list = NULL;
        if (missing) {
            hwloc_bitmap_copy (missing, cpuset);
            for (size_t i = 0; i < bits; i++)
                if (CPU_ISSET_S (i, got.size, got.set))
                    hwloc_bitmap_clr (missing, (unsigned)i);
            hwloc_bitmap_list_asprintf (&list, missing);
        }
        loom_errset (error, EINVAL,
                     "%s: PUs %s are not available to this process "
                     "(outside its allowed cpuset, or offline)",
                     who, list ? list : "?");
        free (list);
        hwloc_bitmap_free (missing);
        CPU_FREE (want.set);
        CPU_FREE (got.set);
        CPU_FREE (saved->set);
        return -1;
    }
    CPU_FREE (want.set);
    CPU_FREE (got.set);
    return 0;
nomem:
    if (want.set)
        CPU_FREE (want.set);
    CPU_FREE (saved->set);
    return loom_errset (error, ENOMEM, "%s: out of memory", who);
}

static void unbind_thread (struct mask *saved)
{
    if (!saved->set)
        return;
    sched_setaffinity (0, saved->size, saved->set); /* widening back cannot fail */
    CPU_FREE (saved->set);
    saved->set = NULL;
}

/* After a failed start: say which step failed ('stage', from the fork child or
 * guessed after posix_spawn) and why ('e').
 */
enum stage { ST_STDIO = 1, ST_SETGID, ST_GROUPS, ST_SETUID, ST_CHDIR, ST_EXEC };

static int start_error (const struct start *st, int stage, int e, loom_error_t *error)
{
    const struct loom_launch_task_spec *s = st->s;
    switch (stage) {
    case ST_STDIO:
        return loom_errset (error, e, "%s: cannot set its stdin/stdout/stderr: %s",
                            st->who, strerror (e));
    case ST_SETGID:
    case ST_GROUPS:
    case ST_SETUID:
        return loom_errset (error, e, "%s: cannot become user %s: %s: %s", st->who,
                            s->user,
                            stage == ST_SETGID   ? "setgid"
                            : stage == ST_GROUPS ? "initgroups"
                                                 : "setuid",
                            strerror (e));
    case ST_CHDIR:
        return loom_errset (error, e, "%s: cannot enter %s: %s", st->who, s->cwd,
                            strerror (e));
    default:
        if (st->path)
            return loom_errset (error, e, "%s: cannot run %s: %s", st->who, st->path,
                                strerror (e));
        return loom_errset (error, e, "%s: %s", st->who, strerror (e));
    }
}

/* The fork child. Only async-signal-safe calls: the parent may have other threads. */
static _Noreturn void child (const struct start *st,
                             char *const *env,
                             const gid_t *groups,
                             int ngroups,
                             pid_t parent,
                             int report)
{
    const struct loom_launch_task_spec *s = st->s;
    int stage = ST_STDIO;
    if (s->flags & LOOM_LAUNCH_TASK_PDEATHSIG) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent) /* the parent died before prctl */
            _exit (137);
    }
    if (!(s->flags & LOOM_LAUNCH_TASK_KEEP_PGRP))
        setpgid (0, 0);
    sigset_t none;
    sigemptyset (&none);
    for (size_t i = 0; i < sizeof (default_sigs) / sizeof (default_sigs[0]); i++)
        signal (default_sigs[i], SIG_DFL);
    sigprocmask (SIG_SETMASK, &none, NULL);
    int in = s->stdin_fd >= 0 ? s->stdin_fd : open ("/dev/null", O_RDONLY);
    const int fds[3] = {in, s->stdout_fd, s->stderr_fd};
    for (int i = 0; i < 3; i++) {
        if (fds[i] < 0)
            continue;
        if (fds[i] == i ? fcntl (i, F_SETFD, 0) < 0 : dup2 (fds[i], i) < 0)
            goto fail;
    }
    /* The caller's own descriptors (a daemon's sockets) stay out of the task; the
     * report pipe closes at exec, which tells the parent the exec worked.
     */
    close_range (3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (s->user) {
        stage = ST_SETGID;
        if (setgid (s->gid) < 0)
            goto fail;
        stage = ST_GROUPS;
        if (setgroups ((size_t)ngroups, groups) < 0)
            goto fail;
        stage = ST_SETUID;
        if (setuid (s->uid) < 0)
            goto fail;
    }
    stage = ST_CHDIR; /* as the user: the directory must be theirs to enter */
    if (s->cwd && chdir (s->cwd) < 0)
        goto fail;
    stage = ST_EXEC;
    if (st->path)
        execve (st->path, s->argv, env);
    else
        execvpe (s->argv[0], s->argv, env);
fail:;
    int msg[2] = {stage, errno};
    if (write (report, msg, sizeof (msg)) < 0) {
        /* the parent is gone: nobody to tell */
    }
    _exit (127);
}

static int start_fork (const struct start *st,
                       char *const *env,
                       pid_t *pid_out,
                       loom_error_t *error)
{
    const struct loom_launch_task_spec *s = st->s;
    gid_t *groups = NULL;
    int ngroups = 0, rep[2], e;
    if (s->user) {
        /* initgroups(3)'s lookup, done here; a member of many groups needs a retry. */
        ngroups = 64;
        for (;;) {
            int n = ngroups;
            gid_t *g = realloc (groups, (size_t)n * sizeof (*g));
            if (!g) {
                free (groups);
                return loom_errset (error, ENOMEM, "%s: out of memory", st->who);
            }
            groups = g;
            if (getgrouplist (s->user, s->gid, groups, &n) >= 0) {
                ngroups = n;
                break;
            }
            ngroups = n > ngroups ? n : ngroups * 2;
        }
    }
    if (pipe2 (rep, O_CLOEXEC) < 0) {
        e = errno;
        free (groups);
        return loom_errset (error, e, "%s: pipe: %s", st->who, strerror (e));
    }
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0)
        child (st, env, groups, ngroups, parent, rep[1]);
    e = errno;
    close (rep[1]);
    free (groups);
    if (pid < 0) {
        close (rep[0]);
        return loom_errset (error, e, "%s: fork: %s", st->who, strerror (e));
    }
    int msg[2];
    ssize_t n;
    do
        n = read (rep[0], msg, sizeof (msg));
    while (n < 0 && errno == EINTR);
    close (rep[0]);
    if (n != (ssize_t)sizeof (msg)) { /* end of file: it ran exec (or died first) */
        *pid_out = pid;
        return 0;
    }
    while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return start_error (st, msg[0], msg[1], error);
}

static int start_spawn (const struct start *st,
                        char *const *env,
                        pid_t *pid_out,
                        loom_error_t *error)
{
    const struct loom_launch_task_spec *s = st->s;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, def;
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;

    posix_spawn_file_actions_init (&fa);
    posix_spawnattr_init (&at);
    sigemptyset (&none);
    sigemptyset (&def);
    for (size_t i = 0; i < sizeof (default_sigs) / sizeof (default_sigs[0]); i++)
        sigaddset (&def, default_sigs[i]);
    if (!(s->flags & LOOM_LAUNCH_TASK_KEEP_PGRP)) {
        flags |= POSIX_SPAWN_SETPGROUP;
        posix_spawnattr_setpgroup (&at, 0);
    }
    posix_spawnattr_setflags (&at, flags);
    posix_spawnattr_setsigmask (&at, &none);
    posix_spawnattr_setsigdefault (&at, &def);
    if (s->stdin_fd >= 0)
        posix_spawn_file_actions_adddup2 (&fa, s->stdin_fd, 0);
    else
        posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
    if (s->stdout_fd >= 0)
        posix_spawn_file_actions_adddup2 (&fa, s->stdout_fd, 1);
    if (s->stderr_fd >= 0)
        posix_spawn_file_actions_adddup2 (&fa, s->stderr_fd, 2);
    if (s->cwd)
        posix_spawn_file_actions_addchdir_np (&fa, s->cwd);
    posix_spawn_file_actions_addclosefrom_np (&fa, 3);
    int e = st->path ? posix_spawn (pid_out, st->path, &fa, &at, s->argv, env)
                     : posix_spawnp (pid_out, s->argv[0], &fa, &at, s->argv, env);
    posix_spawn_file_actions_destroy (&fa);
    posix_spawnattr_destroy (&at);
    if (e == 0)
        return 0;
    /* posix_spawn does not say which step failed: the directory is the other suspect.
     */
    if (s->cwd && (e == ENOENT || e == EACCES || e == ENOTDIR)
        && access (s->cwd, X_OK) < 0)
        return start_error (st, ST_CHDIR, errno, error);
    return start_error (st, ST_EXEC, e, error);
}

int loom__task_start (const struct loom_launch_task_spec *spec,
                      const char *path,
                      const char *who,
                      pid_t *pid,
                      loom_error_t *error)
{
    const struct start st = {spec, path, who};
    struct mask saved = {NULL, 0};
    if (spec->cpuset && bind_thread (spec->cpuset, who, &saved, error) < 0)
        return -1;
    char *const *env = spec->envp ? spec->envp : environ;
    int rc = spec->user || (spec->flags & LOOM_LAUNCH_TASK_PDEATHSIG)
                 ? start_fork (&st, env, pid, error)
                 : start_spawn (&st, env, pid, error);
    int e = errno;
    unbind_thread (&saved);
    errno = e;
    return rc;
}

int loom_launch_task_start (const struct loom_launch_task_spec *spec,
                            pid_t *pid,
                            loom_error_t *error)
{
    if (!spec || !pid)
        return loom_errset (error, EINVAL, "task: no spec or no pid to fill");
    if (!spec->argv || !spec->argv[0] || !spec->argv[0][0])
        return loom_errset (error, EINVAL, "task: empty command (argv has no program)");
    if (spec->flags & ~(unsigned)TASK_FLAGS)
        return loom_errset (error, EINVAL, "task: unknown flags 0x%x",
                            spec->flags & ~(unsigned)TASK_FLAGS);
    if (spec->user && !spec->user[0])
        return loom_errset (error, EINVAL, "task: empty user name");
    if (spec->cpuset
        && (hwloc_bitmap_iszero (spec->cpuset)
            || hwloc_bitmap_weight (spec->cpuset) < 0))
        return loom_errset (
            error, EINVAL, "task: cpuset for '%s' is %s: it must name some PUs",
            spec->argv[0], hwloc_bitmap_iszero (spec->cpuset) ? "empty" : "infinite");
    char who[160];
    snprintf (who, sizeof (who), "cannot start '%.128s'", spec->argv[0]);
    return loom__task_start (spec, NULL, who, pid, error);
}

int loom_launch_task_kill (pid_t pid, int sig)
{
    /* pid 0 and 1 would signal our own group or every process: never a task. */
    if (pid <= 1 || sig < 0 || sig >= NSIG) {
        errno = EINVAL;
        return -1;
    }
    if (kill (-pid, sig) == 0)
        return 0;
    if (errno != ESRCH)
        return -1;
    return kill (pid, sig); /* started with LOOM_LAUNCH_TASK_KEEP_PGRP */
}
