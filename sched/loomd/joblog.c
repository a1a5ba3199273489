/* SPDX-License-Identifier: MIT */
/* The job log: one file per task, <state>/logs/<job>/<index>.log, in which every line
 * says when and from whom:
 *
 *   2026-12-07T19:40:01.123Z rank 2 out: what rank 2 wrote on stdout
 *   2026-12-07T19:40:01.124Z rank 2 err: ... on stderr (Loom's library logs land here)
 *   2026-12-07T19:40:02.001Z rank 2 loom: exited with status 0 after 0.88 s, ...
 *   2026-12-07T19:40:02.002Z loomd: task 7.0 ended: exit status 0 after 0.90 s
 *
 * MPI tasks that loomd starts through the launcher write here: the launcher cuts each
 * rank's output into lines (launcher/io_forward.c) and loomd stamps each with the time
 * it arrived and the rank. `loom logs` reads the file (loomd passes the descriptor) and
 * filters it by rank, stream and pattern. Plain tasks keep their raw .out/.err files
 * (output.c): their slots share one pipe, so there is no rank to tag, and the splice
 * path costs no line processing and no file for a task that prints nothing.
 *
 * Lines are written with one writev(2) on an O_APPEND descriptor, so a reader never
 * sees half of a line that was written whole, and nothing is buffered in loomd: what
 * arrived before a kill -9 is in the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "loomd.h"

int loomd_joblog_open (struct loomd *d, const struct loom__task *t)
{
    char *path = loomd_task_log (d, t, "log");
    if (!path)
        return -1;
    int fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == ENOENT) {
        *strrchr (path, '/') = '\0';
        mkdir (path, 0700);
        path[strlen (path)] = '/';
        fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    }
    free (path);
    if (fd >= 0 && t->job->uid != getuid ())
        (void)!fchown (fd, t->job->uid, t->job->gid);
    return fd;
}

/* "2026-12-07T19:40:01.123Z " (25 bytes and a NUL). */
static void stamp (char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime (CLOCK_REALTIME, &ts);
    gmtime_r (&ts.tv_sec, &tm);
    size_t n = strftime (buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (buf + n, size - n, ".%03dZ ", (int)(ts.tv_nsec / 1000000));
}

void loomd_joblog_write (
    int fd, int rank, const char *stream, const char *text, size_t len)
{
    if (fd < 0)
        return;
    char prefix[96];
    stamp (prefix, sizeof (prefix));
    size_t n = strlen (prefix);
    if (rank >= 0)
        snprintf (prefix + n, sizeof (prefix) - n, "rank %d %s: ", rank, stream);
    else
        snprintf (prefix + n, sizeof (prefix) - n, "%s: ", stream);
    struct iovec iov[3] = {
        {prefix, strlen (prefix)},
        {(void *)text, len},
        {"\n", 1},
    };
    ssize_t want = (ssize_t)(iov[0].iov_len + len + 1);
    if (writev (fd, iov, 3) != want)
        return; /* a full disk: the task runs on, its log is short (as with .out) */
}

void loomd_joblog_printf (int fd, const char *fmt, ...)
{
    if (fd < 0)
        return;
    char text[1024];
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (text, sizeof (text), fmt, ap);
    va_end (ap);
    if (n < 0)
        return;
    loomd_joblog_write (fd, -1, "loomd", text,
                        (size_t)n < sizeof (text) ? (size_t)n : sizeof (text) - 1);
}
