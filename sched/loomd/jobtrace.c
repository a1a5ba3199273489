/* SPDX-License-Identifier: MIT */
/* Merging an --mpi task's trace at its end. A task submitted with LOOM_TRACE=PREFIX in
 * its environment leaves one file per rank (PREFIX.rank<R>, relative to the task's
 * directory); when its ranks are done loomd merges them into PREFIX.trace, as
 * `loom trace merge PREFIX` would, also when the task failed or a rank was killed (a
 * killed rank's file holds what it wrote before it died).
 *
 * The merge runs in a child process, as the task's user (the files are theirs), so a
 * large trace never stalls loomd's loop; the task ends when the child does, so that
 * `loom wait` returns once the file is there. The child reports in the job log.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/trace_tools.h>

#include "loomd.h"

static const char *trace_prefix (const struct loomd_job *x)
{
    for (size_t i = 0; x->env && x->env[i]; i++)
        if (strncmp (x->env[i], "LOOM_TRACE=", 11) == 0 && x->env[i][11])
            return x->env[i] + 11;
    return NULL;
}

/* In the child: merge and say how it went. Never returns. */
static void merge_child (struct loomd *d,
                         const struct loom__job *j,
                         const struct loomd_job *x,
                         const char *prefix,
                         int logfd)
{
    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    signal (SIGTERM, SIG_DFL);
    signal (SIGINT, SIG_DFL);
    signal (SIGCHLD, SIG_DFL);
    setpgid (0, 0); /* loomd_exec_kill() signals the group */
    /* Keep only the job log: loomd's lock, socket and clients are not ours to hold
     * (a loomd restarted during the merge must get its lock).
     */
    if (logfd >= 0 && logfd != 3) {
        if (dup2 (logfd, 3) < 0)
            _exit (0);
        logfd = 3;
    }
    close_range (logfd >= 0 ? 4 : 3, ~0U, 0);
    if (d->uid == 0 && j->uid != 0
        && (setgid (j->gid) < 0 || initgroups (x->user, j->gid) < 0
            || setuid (j->uid) < 0)) {
        loomd_joblog_printf (logfd, "cannot merge the trace: cannot become %s: %s",
                             x->user, strerror (errno));
        _exit (0);
    }
    if (prefix[0] != '/' && x->cwd && chdir (x->cwd) < 0) {
        loomd_joblog_printf (logfd, "cannot merge the trace: %s: %s", x->cwd,
                             strerror (errno));
        _exit (0);
    }
    int nranks = x->ranks > 0 ? x->ranks : (int)j->nslots;
    char where[4096];
    snprintf (where, sizeof (where), "%s%s%s.trace",
              prefix[0] != '/' && x->cwd ? x->cwd : "",
              prefix[0] != '/' && x->cwd ? "/" : "", prefix);
    loom_error_t e;
    uint64_t t0 = loom_clock_ns ();
    int n = loom_trace_merge_ranks (prefix, nranks, NULL, 0, NULL, &e);
    if (n < 0)
        loomd_joblog_printf (logfd, "cannot merge the trace: %s", e.text);
    else if (n == 0)
        loomd_joblog_printf (logfd, "no trace to merge: no %s.rank* file", prefix);
    else
        loomd_joblog_printf (logfd,
                             "merged the trace of %d of %d ranks into %s (%.2f s)", n,
                             nranks, where, (double)(loom_clock_ns () - t0) / 1e9);
    _exit (0);
}

pid_t loomd_trace_merge_start (struct loomd *d, const struct loom__task *t, int logfd)
{
    const struct loom__job *j = t->job;
    const struct loomd_job *x = j->ext;
    const char *prefix = x ? trace_prefix (x) : NULL;
    if (!prefix)
        return 0;
    pid_t pid = fork ();
    if (pid < 0) {
        loomd_joblog_printf (logfd, "cannot merge the trace: fork: %s",
                             strerror (errno));
        return 0;
    }
    if (pid == 0)
        merge_child (d, j, x, prefix, logfd);
    setpgid (pid, pid); /* also from here, so a kill right away finds the group */
    return pid;
}
