/* SPDX-License-Identifier: MIT */
/* The secret an agent shows the head: 32 random bytes in hex, in a file only its
 * owner may read (0600). Both sides refuse a file that others could read or write,
 * or that belongs to someone else: whoever can read it can run tasks as loomd's user.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <loom/error.h>

#include "loomd.h"

#define SECRET_BYTES 32

static int create_secret (const char *path, loom_error_t *error)
{
    unsigned char raw[SECRET_BYTES];
    char hex[2 * SECRET_BYTES + 2];
    if (getrandom (raw, sizeof (raw), 0) != (ssize_t)sizeof (raw))
        return loom_errset (error, errno, "cannot make a secret: %s", strerror (errno));
    for (int i = 0; i < SECRET_BYTES; i++)
        snprintf (hex + 2 * i, 3, "%02x", raw[i]);
    hex[2 * SECRET_BYTES] = '\n';
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return errno == EEXIST ? 0
                               : loom_errset (error, errno, "cannot create %s: %s",
                                              path, strerror (errno));
    ssize_t n = write (fd, hex, 2 * SECRET_BYTES + 1);
    if (n != 2 * SECRET_BYTES + 1 || fsync (fd) < 0) {
        int e = errno;
        close (fd);
        unlink (path);
        return loom_errset (error, e, "cannot write %s: %s", path, strerror (e));
    }
    close (fd);
    return 0;
}

char *loomd_secret_load (const char *path, int create, loom_error_t *error)
{
    if (create && create_secret (path, error) < 0)
        return NULL;
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        loom_errset (error, errno, "cannot read the secret file %s: %s", path,
                     strerror (errno));
        return NULL;
    }
    struct stat st;
    char buf[1024];
    ssize_t n = -1;
    if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && (st.st_mode & 077) == 0
        && st.st_uid == geteuid ())
        n = read (fd, buf, sizeof (buf) - 1);
    close (fd);
    if (n < 0) {
        if (!S_ISREG (st.st_mode))
            loom_errset (error, EINVAL, "secret file %s is not a regular file", path);
        else if (st.st_uid != geteuid ())
            loom_errset (error, EPERM, "secret file %s belongs to uid %u, not to %u",
                         path, (unsigned)st.st_uid, (unsigned)geteuid ());
        else if (st.st_mode & 077)
            loom_errset (error, EPERM,
                         "secret file %s has mode %04o; it must be 0600 "
                         "(chmod 600 %s)",
                         path, (unsigned)(st.st_mode & 07777), path);
        else
            loom_errset (error, errno, "cannot read %s: %s", path, strerror (errno));
        return NULL;
    }
    buf[n] = '\0';
    buf[strcspn (buf, "\r\n")] = '\0';
    if (strlen (buf) < 16) {
        loom_errset (error, EINVAL, "secret file %s holds less than 16 characters",
                     path);
        return NULL;
    }
    char *s = strdup (buf);
    if (!s)
        loom_errset (error, ENOMEM, "out of memory");
    return s;
}
