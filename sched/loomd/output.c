/* SPDX-License-Identifier: MIT */
/* Capturing a task's stdout and stderr: each goes to a pipe that loomd moves into the
 * task's log file (<state>/logs/<job>/<index>.out|.err) with splice(2), creating the
 * file at the first byte. Creating two files per task up front made the file system's
 * inode allocation loomd's largest cost for short tasks; a pipe costs no disk work,
 * and a task that prints nothing leaves no file. The output stays with loomd, where
 * `loom logs` finds it, whatever node the task ran on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <loom/log.h>

#include "loomd.h"

struct loomd_out {
    struct loomd *d;
    uint64_t job;
    int64_t index;
    const char *ext; /* "out" or "err" */
    uid_t uid;
    gid_t gid;
    int fd, logfd;
    struct event *ev;
    struct loomd_out **owner; /* cleared when this closes */
    struct loomd_out *prev, *next;
};

static struct loomd_out all = {.prev = &all, .next = &all};

static void out_close (struct loomd_out *o)
{
    if (o->owner)
        *o->owner = NULL;
    event_free (o->ev);
    close (o->fd);
    if (o->logfd >= 0)
        close (o->logfd);
    o->prev->next = o->next;
    o->next->prev = o->prev;
    free (o);
}

/* Open (create) a task's log for writing at its end, owned by the task's user. */
static int log_open (
    struct loomd *d, uint64_t job, int64_t index, const char *ext, uid_t uid, gid_t gid)
{
    char path[4096];
    snprintf (path, sizeof (path), "%s/%llu/%lld.%s", d->logdir,
              (unsigned long long)job, (long long)index, ext);
    /* Not O_APPEND: splice refuses it. loomd is the only writer, at the end. */
    int fd = open (path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == ENOENT) {
        *strrchr (path, '/') = '\0';
        mkdir (path, 0700);
        snprintf (path, sizeof (path), "%s/%llu/%lld.%s", d->logdir,
                  (unsigned long long)job, (long long)index, ext);
        fd = open (path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    }
    if (fd < 0)
        return -1;
    lseek (fd, 0, SEEK_END);
    if (uid != getuid ())
        (void)!fchown (fd, uid, gid);
    return fd;
}

static int open_logfile (struct loomd_out *o)
{
    o->logfd = log_open (o->d, o->job, o->index, o->ext, o->uid, o->gid);
    return o->logfd < 0 ? -1 : 0;
}

int loomd_out_append (struct loomd *d,
                      const struct loom__job *j,
                      int64_t index,
                      int stream,
                      const void *buf,
                      size_t len)
{
    const char *ext = stream == 3 ? "log" : stream == 2 ? "err" : "out";
    int fd = log_open (d, j->id, index, ext, j->uid, j->gid);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write (fd, (const char *)buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            close (fd);
            errno = e;
            return -1;
        }
        done += (size_t)n;
    }
    close (fd);
    return 0;
}

/* Move what the pipe holds into the log. Returns 1 at end of file (then o is freed). */
static int out_pump (struct loomd_out *o)
{
    for (;;) {
        if (o->logfd < 0) {
            /* No file for a task that writes nothing: look before creating it. */
            int avail = 0;
            char c;
            ssize_t got = 0;
            if (ioctl (o->fd, FIONREAD, &avail) < 0 || avail == 0) {
                got = read (o->fd, &c, 1);
                if (got == 0)
                    break;
                if (got < 0)
                    return 0;
            }
            if (open_logfile (o) < 0) {
                loom_warn ("loomd: job %llu task %lld: cannot create its %s log: %s",
                           (unsigned long long)o->job, (long long)o->index, o->ext,
                           strerror (errno));
                char buf[65536]; /* drop it rather than block the task */
                ssize_t r = read (o->fd, buf, sizeof (buf));
                if (r == 0)
                    break;
                if (r < 0)
                    return 0;
                continue;
            }
            if (got == 1 && write (o->logfd, &c, 1) != 1)
                return 0;
        }
        ssize_t n = splice (o->fd, NULL, o->logfd, NULL, 1 << 20, SPLICE_F_NONBLOCK);
        if (n > 0)
            continue;
        if (n == 0)
            break;
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        if (errno == EINVAL) { /* a log file system without splice: copy */
            char buf[65536];
            ssize_t r = read (o->fd, buf, sizeof (buf));
            if (r > 0 && write (o->logfd, buf, (size_t)r) == r)
                continue;
            if (r == 0)
                break;
        }
        return 0;
    }
    out_close (o);
    return 1;
}

static void on_readable (evutil_socket_t fd, short ev, void *arg)
{
    (void)fd;
    (void)ev;
    out_pump (arg);
}

struct loomd_out *loomd_out_open (struct loomd *d,
                                  const struct loom__task *t,
                                  int stream,
                                  struct loomd_out **owner,
                                  int *wfd)
{
    int p[2];
    if (pipe2 (p, O_CLOEXEC) < 0)
        return NULL;
    struct loomd_out *o = calloc (1, sizeof (*o));
    if (!o) {
        close (p[0]);
        close (p[1]);
        return NULL;
    }
    fcntl (p[0], F_SETFL, O_NONBLOCK);
    o->d = d;
    o->job = t->job->id;
    o->index = t->index;
    o->ext = stream == 2 ? "err" : "out";
    o->uid = t->job->uid;
    o->gid = t->job->gid;
    o->fd = p[0];
    o->logfd = -1;
    o->owner = owner;
    o->ev = event_new (d->base, p[0], EV_READ | EV_PERSIST, on_readable, o);
    if (!o->ev || event_add (o->ev, NULL) < 0) {
        event_free (o->ev);
        close (p[0]);
        close (p[1]);
        free (o);
        return NULL;
    }
    o->next = &all;
    o->prev = all.prev;
    all.prev->next = o;
    all.prev = o;
    *owner = o;
    *wfd = p[1];
    return o;
}

void loomd_out_finish (struct loomd_out *o)
{
    if (!o)
        return;
    o->owner = NULL; /* the task is over; the pipe lives until its last writer goes */
    out_pump (o);
}

void loomd_outs_close (void)
{
    while (all.next != &all) {
        out_pump (all.next);
        if (all.next != &all)
            out_close (all.next);
    }
}
