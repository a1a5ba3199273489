/* SPDX-License-Identifier: MIT */
/* Starting one rank (or engine) process: environment, output pipes, then the task
 * API (task.c) binds it to its PUs before exec (Open MPI keeps a binding it finds when
 * direct-launched), gives it PR_SET_PDEATHSIG so it dies with the launcher, and makes
 * it lead its own process group so a kill reaches whatever it started (unless its
 * stdin is a terminal, which only the foreground group may read).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
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
    /* The task API binds, forks and execs (task.c): one implementation for loomd's
     * tasks and the launcher's ranks.
     */
    struct loom_launch_task_spec ts = LOOM_LAUNCH_TASK_SPEC_INIT;
    ts.argv = argv;
    ts.envp = env;
    ts.cwd = p->cwd;
    ts.cpuset = binding;
    ts.stdin_fd = in_fd;
    ts.stdout_fd = p->output ? out[1] : p->stdout_fd;
    ts.stderr_fd = p->output ? err[1] : p->stderr_fd;
    pr->own_pgrp = !(in_fd >= 0 && isatty (in_fd));
    ts.flags =
        LOOM_LAUNCH_TASK_PDEATHSIG | (pr->own_pgrp ? 0 : LOOM_LAUNCH_TASK_KEEP_PGRP);
    char who[32];
    if (pr->rank >= 0)
        snprintf (who, sizeof (who), "rank %d", pr->rank);
    else
        snprintf (who, sizeof (who), "the engine");
    pr->start_ns = loom_clock_ns ();
    pid_t pid = -1;
    if (loom__task_start (&ts, path, who, &pid, error) < 0) {
        if (p->output) {
            close (out[0]), close (out[1]), close (err[0]), close (err[1]);
        }
        return -1;
    }
    pr->pid = pid;
    pr->running = 1; /* its group exists: the task API returns after its exec */
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
