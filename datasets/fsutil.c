/* SPDX-License-Identifier: MIT */
/* File-system helpers for atomic commit: temp file, fsync, rename, directory fsync. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

char *loom__path_join (const char *dir, const char *name)
{
    char *p;
    if (asprintf (&p, "%s/%s", dir, name) < 0) {
        errno = ENOMEM;
        return NULL;
    }
    return p;
}

char *loom__part_name (uint32_t part, uint32_t generation)
{
    char *p;
    if (asprintf (&p, "part-%05u.g%u.h5", part, generation) < 0) {
        errno = ENOMEM;
        return NULL;
    }
    return p;
}

int loom__fsync_path (const char *path)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    int saved = errno;
    close (fd);
    errno = saved;
    return rc;
}

/* A directory's fsync makes a rename inside it durable. */
int loom__fsync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    int saved = errno;
    close (fd);
    errno = saved;
    return rc;
}

static int write_all (int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write (fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int loom__write_atomic (
    const char *path, const void *buf, size_t len, bool sync, loom_error_t *error)
{
    char *dcopy = strdup (path), *tmp = NULL;
    if (!dcopy)
        return loom_errset (error, ENOMEM, "%s: out of memory", path);
    const char *dir = dirname (dcopy);
    const char *base = strrchr (path, '/') ? strrchr (path, '/') + 1 : path;
    if (asprintf (&tmp, "%s/.tmp.%s.%d", dir, base, (int)getpid ()) < 0) {
        free (dcopy);
        return loom_errset (error, ENOMEM, "%s: out of memory", path);
    }
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto error;
    if (write_all (fd, buf, len) < 0 || (sync && fsync (fd) < 0)) {
        int saved = errno;
        close (fd);
        errno = saved;
        goto error;
    }
    if (close (fd) < 0)
        goto error;
    loom__crash_point ("manifest-synced");
    if (rename (tmp, path) < 0)
        goto error;
    loom__crash_point ("manifest-renamed");
    if (sync && loom__fsync_dir (dir) < 0)
        goto error;
    free (tmp);
    free (dcopy);
    return 0;
error : {
    int saved = errno;
    loom_errset (error, saved, "%s: %s", path, strerror (saved));
    unlink (tmp);
    free (tmp);
    free (dcopy);
    errno = saved;
    return -1;
}
}

char *loom__read_file (const char *path, size_t *len, size_t max)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat (fd, &st) < 0)
        goto error;
    if ((size_t)st.st_size > max) {
        errno = EFBIG;
        goto error;
    }
    char *buf = malloc ((size_t)st.st_size + 1);
    if (!buf) {
        errno = ENOMEM;
        goto error;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read (fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                break;
            int saved = errno;
            free (buf);
            errno = saved;
            goto error;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    *len = got;
    close (fd);
    return buf;
error : {
    int saved = errno;
    close (fd);
    errno = saved;
    return NULL;
}
}

char *loom__now_rfc3339 (void)
{
    time_t now = time (NULL);
    struct tm tm;
    char buf[32];
    gmtime_r (&now, &tm);
    strftime (buf, sizeof (buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return strdup (buf);
}

void loom__hex64 (uint64_t v, char out[17])
{
    snprintf (out, 17, "%016llx", (unsigned long long)v);
}

int loom__unhex64 (const char *s, uint64_t *v)
{
    if (!s || strlen (s) != 16)
        return -1;
    uint64_t r = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            return -1;
        r = r << 4 | (uint64_t)d;
    }
    *v = r;
    return 0;
}

void loom__crash_point (const char *point)
{
    const char *at = getenv ("LOOM_DS_CRASH_AT");
    if (at && strcmp (at, point) == 0)
        raise (SIGKILL);
}
