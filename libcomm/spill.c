/* SPDX-License-Identifier: MIT */
/* Spill files: one per side of a shuffle, created on the first spill and unlinked at
 * once, so the space is returned when the descriptor closes, even if the process is
 * killed. Callers write and read whole segments or frames, so I/O happens in large
 * sequential blocks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shuffle_impl.h"

void loom__spill_init (struct loom__spill *sp,
                       const char *dir,
                       uint64_t *written,
                       uint64_t *read)
{
    sp->fd = -1;
    sp->size = 0;
    snprintf (sp->dir, sizeof (sp->dir), "%s", dir);
    sp->written = written;
    sp->read = read;
}

static int spill_open (struct loom__spill *sp, loom_error_t *error)
{
    char path[600];
    snprintf (path, sizeof (path), "%s/loom-spill-XXXXXX", sp->dir);
    int fd = mkstemp (path);
    if (fd < 0)
        return loom_errset (error, errno,
                            "shuffle: cannot create a spill file in %s: %s", sp->dir,
                            strerror (errno));
    if (unlink (path) < 0) {
        int e = errno;
        close (fd);
        return loom_errset (error, e, "shuffle: cannot unlink spill file %s: %s", path,
                            strerror (e));
    }
    sp->fd = fd;
    return 0;
}

int loom__spill_append (struct loom__spill *sp,
                        const void *data,
                        uint64_t len,
                        uint64_t *off,
                        loom_error_t *error)
{
    if (sp->fd < 0 && spill_open (sp, error) < 0)
        return -1;
    *off = sp->size;
    const char *p = data;
    uint64_t done = 0;
    while (done < len) {
        size_t n = len - done > (1u << 30) ? (1u << 30) : (size_t)(len - done);
        ssize_t w = pwrite (sp->fd, p + done, n, (off_t)(sp->size + done));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return loom_errset (error, errno, "shuffle: writing spill file in %s: %s",
                                sp->dir, strerror (errno));
        }
        done += (uint64_t)w;
    }
    sp->size += len;
    if (sp->written)
        *sp->written += len;
    return 0;
}

int loom__spill_read (
    struct loom__spill *sp, void *data, uint64_t len, uint64_t off, loom_error_t *error)
{
    char *p = data;
    uint64_t done = 0;
    while (done < len) {
        size_t n = len - done > (1u << 30) ? (1u << 30) : (size_t)(len - done);
        ssize_t r = pread (sp->fd, p + done, n, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return loom_errset (error, r < 0 ? errno : EIO,
                                "shuffle: reading spill file in %s: %s", sp->dir,
                                r < 0 ? strerror (errno) : "unexpected end of file");
        done += (uint64_t)r;
    }
    if (sp->read)
        *sp->read += len;
    return 0;
}

int loom__spill_reset (struct loom__spill *sp, loom_error_t *error)
{
    if (sp->fd >= 0 && sp->size > 0 && ftruncate (sp->fd, 0) < 0)
        return loom_errset (error, EIO, "shuffle: truncating spill file in %s: %s",
                            sp->dir, strerror (errno));
    sp->size = 0;
    return 0;
}

void loom__spill_close (struct loom__spill *sp)
{
    if (sp->fd >= 0)
        close (sp->fd);
    sp->fd = -1;
    sp->size = 0;
}
