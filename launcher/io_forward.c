/* SPDX-License-Identifier: MIT */
/* Forwarding ranks' output line by line to the job's output callback.
 *
 * Pipes are non-blocking; each readable event reads what is there and delivers every
 * complete line. A line longer than LINE_MAX_BYTES is delivered in pieces so one rank
 * cannot make the launcher hold unbounded memory. When the process has ended its
 * writes are all in the pipe, so the final read drains to EAGAIN/EOF and delivers the
 * unterminated tail.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launch_int.h"

#define LINE_MAX_BYTES (64 * 1024)

static void deliver (struct proc *pr, int stream, const char *s, size_t len)
{
    loom_launch_job_t *job = pr->job;
    if (job->p.output)
        job->p.output (job, pr->rank, stream, s, len, job->p.arg);
}

/* Deliver the complete lines of 'lb' (and, if 'final', the rest). */
static void flush_lines (struct proc *pr, int stream, struct linebuf *lb, int final)
{
    size_t start = 0;
    for (;;) {
        char *nl =
            lb->len > start ? memchr (lb->buf + start, '\n', lb->len - start) : NULL;
        if (!nl)
            break;
        size_t len = (size_t)(nl - (lb->buf + start));
        deliver (pr, stream, lb->buf + start, len);
        start += len + 1;
    }
    size_t rest = lb->len - start;
    if (rest > 0 && (final || rest >= LINE_MAX_BYTES)) {
        deliver (pr, stream, lb->buf + start, rest);
        start += rest;
    }
    memmove (lb->buf, lb->buf + start, lb->len - start);
    lb->len -= start;
}

void loom__io_read (struct proc *pr, int stream, int final)
{
    int *fd = stream == 1 ? &pr->out_fd : &pr->err_fd;
    struct linebuf *lb = stream == 1 ? &pr->out : &pr->err;
    if (*fd < 0)
        return;
    for (;;) {
        if (lb->cap - lb->len < 4096) {
            size_t cap = lb->cap ? lb->cap * 2 : 8192;
            char *b = realloc (lb->buf, cap);
            if (!b) {
                flush_lines (pr, stream, lb, 1); /* make room by delivering early */
                if (lb->cap - lb->len < 1)
                    return;
            } else {
                lb->buf = b;
                lb->cap = cap;
            }
        }
        ssize_t n = read (*fd, lb->buf + lb->len, lb->cap - lb->len);
        if (n > 0) {
            lb->len += (size_t)n;
            flush_lines (pr, stream, lb, 0);
            if (!final)
                return; /* level-triggered: come back when there is more */
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && !final)
            return;
        /* EOF, an error, or the process ended and the pipe is drained. */
        flush_lines (pr, stream, lb, 1);
        loom__watch_del (pr->job->l, *fd);
        close (*fd);
        *fd = -1;
        return;
    }
}

void loom__io_close (struct proc *pr)
{
    for (int s = 1; s <= 2; s++) {
        int *fd = s == 1 ? &pr->out_fd : &pr->err_fd;
        if (*fd >= 0) {
            loom__watch_del (pr->job->l, *fd);
            close (*fd);
            *fd = -1;
        }
    }
    free (pr->out.buf);
    free (pr->err.buf);
    pr->out = (struct linebuf){0};
    pr->err = (struct linebuf){0};
}
