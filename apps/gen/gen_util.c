/* SPDX-License-Identifier: MIT */
/* Helpers shared by the generator kinds: agreed errors, sizes, atomic output. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gen.h"

int gen_error (const struct gen_kind *kind, MPI_Comm comm, const char *fmt, ...)
{
    int rank;
    MPI_Comm_rank (comm, &rank);
    if (rank == 0) {
        va_list ap;
        fprintf (stderr, "loom: gen: %s: ", kind->name);
        va_start (ap, fmt);
        vfprintf (stderr, fmt, ap);
        va_end (ap);
        fputc ('\n', stderr);
    }
    return 1;
}

int gen_any_failed (MPI_Comm comm, int failed, char *msg, size_t msglen)
{
    int rank, size;
    MPI_Comm_rank (comm, &rank);
    MPI_Comm_size (comm, &size);
    int mine = failed ? rank : size, first;
    MPI_Allreduce (&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == size)
        return 0;
    MPI_Bcast (msg, (int)msglen, MPI_CHAR, first, comm);
    msg[msglen - 1] = '\0';
    return 1;
}

int gen_parse_u64 (const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    unsigned long long v = strtoull (s, &end, 0);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int gen_parse_bytes (const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    unsigned long long v = strtoull (s, &end, 10);
    if (errno || end == s)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    }
    if (shift)
        end++;
    if (shift && strcmp (end, "iB") == 0)
        end += 2;
    else if (*end == 'B')
        end++;
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

int gen_output_open (struct gen_output *out,
                     MPI_Comm comm,
                     const char *path,
                     uint64_t size,
                     int force,
                     char *msg,
                     size_t msglen)
{
    int rank, failed = 0;
    MPI_Comm_rank (comm, &rank);
    memset (out, 0, sizeof (*out));
    out->fd = -1;
    unsigned nonce = 0;
    if (rank == 0) {
        struct stat st;
        if (!force && lstat (path, &st) == 0) {
            snprintf (msg, msglen, "output '%s' exists (use --force to replace it)",
                      path);
            failed = 1;
        } else if (force && lstat (path, &st) == 0 && S_ISDIR (st.st_mode)) {
            snprintf (msg, msglen, "output '%s' is a directory", path);
            failed = 1;
        }
        nonce = (unsigned)getpid ();
    }
    if (gen_any_failed (comm, failed, msg, msglen))
        return -1;
    MPI_Bcast (&nonce, 1, MPI_UNSIGNED, 0, comm);
    if (asprintf (&out->tmp, "%s.tmp-%u", path, nonce) < 0
        || !(out->path = strdup (path))) {
        out->tmp = NULL;
        snprintf (msg, msglen, "out of memory");
        failed = 1;
    }
    /* Rank 0 creates and sizes the file; the others open it once it exists. */
    if (!failed && rank == 0) {
        out->fd = open (out->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (out->fd < 0 || ftruncate (out->fd, (off_t)size) < 0) {
            snprintf (msg, msglen, "cannot create '%s': %s", path, strerror (errno));
            failed = 1;
        }
    }
    if (gen_any_failed (comm, failed, msg, msglen))
        goto error;
    if (rank != 0) {
        out->fd = open (out->tmp, O_WRONLY | O_CLOEXEC);
        if (out->fd < 0) {
            snprintf (msg, msglen, "cannot open '%s': %s", out->tmp, strerror (errno));
            failed = 1;
        }
    }
    if (gen_any_failed (comm, failed, msg, msglen))
        goto error;
    return 0;
error:
    if (out->fd >= 0)
        close (out->fd);
    if (rank == 0 && out->tmp)
        unlink (out->tmp);
    free (out->tmp);
    free (out->path);
    memset (out, 0, sizeof (*out));
    out->fd = -1;
    return -1;
}

int gen_output_pwrite (struct gen_output *out,
                       const void *buf,
                       size_t len,
                       uint64_t offset,
                       char *msg,
                       size_t msglen)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite (out->fd, p, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf (msg, msglen, "cannot write '%s': %s", out->path,
                      n < 0 ? strerror (errno) : "short write");
            return -1;
        }
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

/* fsync the directory holding 'path', so the rename survives a crash. */
static int sync_parent (const char *path)
{
    char *copy = strdup (path);
    if (!copy)
        return -1;
    int fd = open (dirname (copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free (copy);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    close (fd);
    return rc;
}

int gen_output_commit (
    struct gen_output *out, MPI_Comm comm, int failed, char *msg, size_t msglen)
{
    int rank;
    MPI_Comm_rank (comm, &rank);
    if (!failed && fsync (out->fd) < 0) {
        snprintf (msg, msglen, "cannot sync '%s': %s", out->path, strerror (errno));
        failed = 1;
    }
    if (close (out->fd) < 0 && !failed) {
        snprintf (msg, msglen, "cannot write '%s': %s", out->path, strerror (errno));
        failed = 1;
    }
    out->fd = -1;
    failed = gen_any_failed (comm, failed, msg, msglen);
    if (rank == 0) {
        if (!failed && rename (out->tmp, out->path) < 0) {
            snprintf (msg, msglen, "cannot rename into '%s': %s", out->path,
                      strerror (errno));
            failed = 1;
        }
        if (failed)
            unlink (out->tmp);
        else
            sync_parent (out->path);
    }
    failed = gen_any_failed (comm, failed, msg, msglen);
    free (out->tmp);
    free (out->path);
    out->tmp = out->path = NULL;
    return failed ? -1 : 0;
}
