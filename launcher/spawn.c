/* SPDX-License-Identifier: MIT */
/* Starting one process: environment, fork, binding, exec.
 *
 * The child is bound with hwloc before exec (Open MPI keeps a binding it finds when
 * direct-launched), gets PR_SET_PDEATHSIG so it dies with the launcher, and leads its
 * own process group so a kill reaches whatever it started (unless its stdin is a
 * terminal, which only the foreground group may read).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/error.h>

#include "launch_int.h"

extern char **environ;

void loom__env_free (char **env)
{
    for (char **e = env; e && *e; e++)
        free (*e);
    free (env);
}

/* A malloc'ed copy of our environment plus 'extra' ("NAME=value", may be NULL). The
 * array and its strings are malloc'ed so PMIx may grow and replace entries.
 */
char **loom__env_base (char *const *extra)
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **env = calloc (n + m + 1, sizeof (char *));
    if (!env)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(env[i] = strdup (environ[i])))
            goto nomem;
    for (size_t i = 0; i < m; i++) {
        const char *eq = strchr (extra[i], '=');
        if (!eq) {
            errno = EINVAL;
            goto fail;
        }
        char *name = strndup (extra[i], (size_t)(eq - extra[i]));
        if (!name || loom__env_set (&env, name, eq + 1) < 0) {
            free (name);
            goto nomem;
        }
        free (name);
    }
    return env;
nomem:
    errno = ENOMEM;
fail:
    loom__env_free (env);
    return NULL;
}

/* Set NAME=value in a malloc'ed environment array, replacing an existing entry. */
int loom__env_set (char ***envp, const char *name, const char *value)
{
    char **env = *envp;
    size_t nl = strlen (name), n = 0;
    char *entry;
    if (asprintf (&entry, "%s=%s", name, value) < 0)
        return -1;
    for (; env[n]; n++) {
        if (strncmp (env[n], name, nl) == 0 && env[n][nl] == '=') {
            free (env[n]);
            env[n] = entry;
            return 0;
        }
    }
    char **grown = realloc (env, (n + 2) * sizeof (char *));
    if (!grown) {
        free (entry);
        return -1;
    }
    grown[n] = entry;
    grown[n + 1] = NULL;
    *envp = grown;
    return 0;
}

/* Resolve 'name' as execvp would: a path if it has a '/', else the first executable
 * in $PATH. Returns a malloc'ed path, or NULL with errno ENOENT/EACCES/ENOMEM.
 */
char *loom__find_program (const char *name)
{
    if (!name || !*name) {
        errno = ENOENT;
        return NULL;
    }
    if (strchr (name, '/')) {
        if (access (name, X_OK) < 0)
            return NULL;
        return strdup (name);
    }
    const char *path = getenv ("PATH");
    int saw_eacces = 0;
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr (path, ':');
        size_t dl = colon ? (size_t)(colon - path) : strlen (path);
        char *p;
        if (asprintf (&p, "%.*s/%s", (int)(dl ? dl : 1), dl ? path : ".", name) < 0) {
            errno = ENOMEM;
            return NULL;
        }
        if (access (p, X_OK) == 0)
            return p;
        saw_eacces |= errno == EACCES;
        free (p);
        if (!colon)
            break;
        path = colon + 1;
    }
    errno = saw_eacces ? EACCES : ENOENT;
    return NULL;
}

/* In the child: write a short message and exit 127, as a shell does for exec. */
static void child_fail (const char *what, const char *path)
{
    char msg[512];
    int n = snprintf (msg, sizeof (msg), "loom: launch: %s %s: %s\n", what, path,
                      strerror (errno));
    if (n > 0 && write (2, msg, (size_t)n) < 0) {
        /* nothing left to report to */
    }
    _exit (127);
}

int loom__spawn (loom_launch_job_t *job,
                 struct proc *pr,
                 const char *path,
                 char *const *argv,
                 char **env,
                 hwloc_const_cpuset_t binding,
                 loom_error_t *error)
{
    const struct loom_launch_job_params *p = &job->p;
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    int in_fd = pr->rank <= 0 ? p->stdin_fd : -1;
    if (p->output
        && (pipe2 (out, O_CLOEXEC | O_NONBLOCK) < 0
            || pipe2 (err, O_CLOEXEC | O_NONBLOCK) < 0)) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            if (out[i] >= 0)
                close (out[i]);
            if (err[i] >= 0)
                close (err[i]);
        }
        return loom_errset (error, e, "cannot create output pipes: %s", strerror (e));
    }
    pr->own_pgrp = !(in_fd >= 0 && isatty (in_fd));
    pid_t parent = getpid ();
    pr->start_ns = loom_clock_ns ();
    pid_t pid = fork ();
    if (pid < 0) {
        int e = errno;
        if (p->output) {
            close (out[0]), close (out[1]), close (err[0]), close (err[1]);
        }
        return loom_errset (error, e, "cannot fork: %s", strerror (e));
    }
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent) /* the launcher died before prctl */
            _exit (137);
        if (pr->own_pgrp)
            setpgid (0, 0);
        /* Default dispositions: the launcher may ignore or block signals. */
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        signal (SIGPIPE, SIG_DFL);
        signal (SIGINT, SIG_DFL);
        signal (SIGTERM, SIG_DFL);
        int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
        if (dup2 (in_fd >= 0 ? in_fd : devnull, 0) < 0)
            child_fail ("cannot set stdin of", path);
        int o = p->output ? out[1] : p->stdout_fd,
            e = p->output ? err[1] : p->stderr_fd;
        if ((o >= 0 && dup2 (o, 1) < 0) || (e >= 0 && dup2 (e, 2) < 0))
            child_fail ("cannot set output of", path);
        if (p->cwd && chdir (p->cwd) < 0)
            child_fail ("cannot enter", p->cwd);
        if (binding
            && hwloc_set_cpubind (job->l->topo, binding, HWLOC_CPUBIND_PROCESS) < 0)
            child_fail ("cannot bind", path);
        /* The host's own descriptors (a daemon's sockets) stay out of the job. */
        close_range (3, ~0U, CLOSE_RANGE_CLOEXEC);
        execve (path, argv, env);
        child_fail ("cannot run", path);
    }
    pr->pid = pid;
    pr->running = 1;
    if (pr->own_pgrp)
        setpgid (pid, pid); /* also from here, so a kill right away finds the group */
    if (p->output) {
        close (out[1]);
        close (err[1]);
        pr->out_fd = out[0];
        pr->err_fd = err[0];
    }
    pr->pidfd = pidfd_open (pid, 0);
    if (pr->pidfd < 0)
        return loom_errset (error, errno, "pidfd_open: %s", strerror (errno));
    fcntl (pr->pidfd, F_SETFD, FD_CLOEXEC);
    pr->w_pid = (struct watch){WATCH_PIDFD, pr};
    pr->w_out = (struct watch){WATCH_OUT, pr};
    pr->w_err = (struct watch){WATCH_ERR, pr};
    if (loom__watch_add (job->l, pr->pidfd, &pr->w_pid) < 0
        || (pr->out_fd >= 0 && loom__watch_add (job->l, pr->out_fd, &pr->w_out) < 0)
        || (pr->err_fd >= 0 && loom__watch_add (job->l, pr->err_fd, &pr->w_err) < 0))
        return loom_errset (error, errno, "epoll: %s", strerror (errno));
    return 0;
}
