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

/* A line mpirun tagged (--tag-output, engine.c): "[JOB,RANK]<stdout>:text". Sets the
 * rank and stream and returns the tag's length, or 0 for a line without a tag (what
 * mpirun says itself).
 */
static size_t untag (const char *s, size_t len, int *rank, int *stream)
{
    size_t i = 1;
    if (len < 14 || s[0] != '[')
        return 0;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == 1 || i >= len || s[i] != ',')
        return 0;
    size_t r0 = ++i;
    int r = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9' && r < 100000000)
        r = r * 10 + (s[i++] - '0');
    if (i == r0 || len - i < 10 || s[i] != ']')
        return 0;
    if (memcmp (s + i + 1, "<stdout>:", 9) == 0)
        *stream = 1;
    else if (memcmp (s + i + 1, "<stderr>:", 9) == 0)
        *stream = 2;
    else
        return 0;
    *rank = r;
    return i + 10;
}

static void deliver (struct proc *pr, int stream, const char *s, size_t len)
{
    loom_launch_job_t *job = pr->job;
    int rank = pr->rank;
    if (rank < 0) { /* the engine's output: its ranks' lines carry their rank */
        size_t tag = untag (s, len, &rank, &stream);
        s += tag;
        len -= tag;
    }
    if (job->p.output)
        job->p.output (job, rank, stream, s, len, job->p.arg);
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
