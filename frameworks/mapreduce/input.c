/* SPDX-License-Identifier: MIT */
/* Text input: files and directories split into byte ranges on line boundaries.
 *
 * The input is the concatenation of its files in a fixed order (directories walked
 * recursively, names sorted bytewise), so the split is the same on every rank and
 * at every rank count. Rank r reads the byte range [r*T/N, (r+1)*T/N) of that
 * concatenation: a line belongs to the rank whose range holds its first byte, and a
 * rank reads on past its range to finish its last line. Files end lines: a file
 * without a final newline still ends its last line.
 *
 * Files are mapped, not read: the page cache is the buffer, and lines are handed to
 * map in place. The mapping is followed by a readable zero page so map functions
 * may load a few bytes past a line's end (LOOM_MR_TEXT_PAD).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define DROP_STEP (4u << 20)

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

void mr__files_free (struct mr_files *files)
{
    int saved = errno;
    for (size_t i = 0; i < files->n; i++)
        free (files->v[i].path);
    free (files->v);
    memset (files, 0, sizeof (*files));
    errno = saved;
}

static int files_add (struct mr_files *files, const char *path, uint64_t size)
{
    struct mr_file *v = realloc (files->v, (files->n + 1) * sizeof (*v));
    if (!v)
        return -1;
    files->v = v;
    if (!(v[files->n].path = strdup (path)))
        return -1;
    v[files->n].size = size;
    v[files->n].start = files->total;
    files->total += size;
    files->n++;
    return 0;
}

static int by_name (const struct dirent **a, const struct dirent **b)
{
    return strcmp ((*a)->d_name, (*b)->d_name);
}

/* Add 'path' (a file, or a directory walked recursively) to 'files'. */
static int
expand (struct mr_files *files, const char *path, int depth, loom_error_t *error)
{
    struct stat st;
    if (stat (path, &st) < 0)
        return loom_errset (error, errno, "input '%s': %s", path, strerror (errno));
    if (S_ISREG (st.st_mode)) {
        /* Open it now, so an unreadable file fails before any work starts. */
        int fd = open (path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return loom_errset (error, errno, "input '%s': %s", path, strerror (errno));
        close (fd);
        if (files_add (files, path, (uint64_t)st.st_size) < 0)
            return loom_errset (error, ENOMEM, "out of memory");
        return 0;
    }
    if (!S_ISDIR (st.st_mode))
        return loom_errset (error, EINVAL,
                            "input '%s' is not a regular file or directory", path);
    if (depth > 64)
        return loom_errset (error, ELOOP, "input '%s': directories nested too deep",
                            path);
    struct dirent **names;
    int n = scandir (path, &names, NULL, by_name);
    if (n < 0)
        return loom_errset (error, errno, "input '%s': %s", path, strerror (errno));
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (rc == 0 && strcmp (name, ".") != 0 && strcmp (name, "..") != 0) {
            char *child;
            if (asprintf (&child, "%s/%s", path, name) < 0) {
                rc = loom_errset (error, ENOMEM, "out of memory");
            } else {
                rc = expand (files, child, depth + 1, error);
                free (child);
            }
        }
        free (names[i]);
    }
    free (names);
    return rc;
}

int mr__text_list (loom_comm_t *comm,
                   const char *const *paths,
                   size_t npaths,
                   struct mr_files *files,
                   loom_error_t *error)
{
    memset (files, 0, sizeof (*files));
    struct mr_buf wire = {0};
    int err = 0;
    uint64_t wire_len = 0;
    if (loom_comm_rank (comm) == 0) {
        for (size_t i = 0; i < npaths && !err; i++)
            if (expand (files, paths[i], 0, error) < 0)
                err = errno;
        /* Serialise: [u64 size][u32 len][path] per file. */
        for (size_t i = 0; i < files->n && !err; i++) {
            uint32_t len = (uint32_t)strlen (files->v[i].path);
            if (mr__buf_append (&wire, &files->v[i].size, 8) < 0
                || mr__buf_append (&wire, &len, 4) < 0
                || mr__buf_append (&wire, files->v[i].path, len) < 0) {
                loom_errset (error, ENOMEM, "out of memory");
                err = ENOMEM;
            }
        }
        wire_len = wire.len;
    }
    int agreed = mr__agree (comm, err, error);
    if (agreed != 0)
        goto error;
    if (mr__bcast (comm, &wire_len, sizeof (wire_len), 0, error) < 0)
        goto error;
    if (loom_comm_rank (comm) != 0) {
        if (mr__buf_reserve (&wire, wire_len) < 0) /* same on every rank */
            err = ENOMEM;
    }
    if (mr__agree (comm, err, error) != 0)
        goto error;
    if (wire_len && mr__bcast (comm, wire.data, wire_len, 0, error) < 0)
        goto error;
    if (loom_comm_rank (comm) != 0) {
        for (uint64_t off = 0; off < wire_len && !err;) {
            uint64_t size;
            uint32_t len;
            memcpy (&size, wire.data + off, 8);
            memcpy (&len, wire.data + off + 8, 4);
            char *p = strndup (wire.data + off + 12, len);
            if (!p || files_add (files, p, size) < 0)
                err = ENOMEM;
            free (p);
            off += 12 + len;
        }
        if (err)
            loom_errset (error, ENOMEM, "out of memory");
    }
    if (mr__agree (comm, err, error) != 0)
        goto error;
    mr__buf_free (&wire);
    return 0;
error:
    mr__buf_free (&wire);
    mr__files_free (files);
    return -1;
}

/* Map 'f' read-only with a zero page after it. Returns the base or NULL. */
static char *map_file (const struct mr_file *f, size_t *maplen, loom_error_t *error)
{
    size_t page = (size_t)sysconf (_SC_PAGESIZE);
    size_t len = (size_t)f->size;
    *maplen = (len + page - 1) / page * page + page;
    char *base = mmap (NULL, *maplen, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        loom_errset (error, ENOMEM, "input '%s': cannot map %zu bytes", f->path, len);
        return NULL;
    }
    int fd = open (f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        munmap (base, *maplen);
        loom_errset (error, e, "input '%s': %s", f->path, strerror (e));
        return NULL;
    }
    struct stat st;
    if (fstat (fd, &st) < 0 || (uint64_t)st.st_size < f->size) {
        close (fd);
        munmap (base, *maplen);
        loom_errset (error, EIO, "input '%s' shrank while the job ran", f->path);
        return NULL;
    }
    if (mmap (base, len, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) == MAP_FAILED) {
        int e = errno;
        close (fd);
        munmap (base, *maplen);
        loom_errset (error, e, "input '%s': cannot map: %s", f->path, strerror (e));
        return NULL;
    }
    close (fd);
    return base;
}

/* Start of the first line beginning at or after local offset 'off' of a file of
 * 'size' bytes at 'base', or 'size' if none.
 */
static uint64_t line_start_at (const char *base, uint64_t size, uint64_t off)
{
    if (off == 0)
        return 0;
    if (off >= size)
        return size;
    const char *nl = memchr (base + off - 1, '\n', (size_t)(size - (off - 1)));
    return nl ? (uint64_t)(nl - base) + 1 : size;
}

int mr__text_read (const struct mr_files *files,
                   uint64_t lo,
                   uint64_t hi,
                   uint64_t stride,
                   mr_line_f fn,
                   void *arg,
                   loom_error_t *error)
{
    for (size_t i = 0; i < files->n; i++) {
        const struct mr_file *f = &files->v[i];
        uint64_t fs = f->start, fe = f->start + f->size;
        if (f->size == 0 || fe <= lo || fs >= hi)
            continue;
        uint64_t begin = (lo > fs ? lo : fs) - fs; /* local offsets */
        uint64_t limit = (hi < fe ? hi : fe) - fs; /* lines must start before it */
        size_t maplen;
        char *base = map_file (f, &maplen, error);
        if (!base)
            return -1;
        if (!stride)
            madvise (base, (size_t)f->size, MADV_SEQUENTIAL);
        int rc = 0;
        uint64_t pos = line_start_at (base, f->size, begin), last = UINT64_MAX;
        uint64_t target = begin, dropped = begin / DROP_STEP * DROP_STEP;
        uint64_t populated = dropped;
        while (pos < limit) {
            /* Drop what was read from this process's mapping (not from the page
             * cache), so the input does not count against the memory budget.
             */
            if (!stride && pos >= populated) {
                /* Prefault the next window in one call: far fewer page faults than
                 * touching it page by page. Failure only costs speed.
                 */
                uint64_t n =
                    f->size - populated < DROP_STEP ? f->size - populated : DROP_STEP;
                madvise (base + populated, (size_t)n, MADV_POPULATE_READ);
                populated += n;
            }
            if (pos - dropped >= 2 * DROP_STEP) {
                madvise (base + dropped, DROP_STEP, MADV_DONTNEED);
                dropped += DROP_STEP;
            }
            const char *nl = memchr (base + pos, '\n', (size_t)(f->size - pos));
            uint64_t len = nl ? (uint64_t)(nl - base) - pos : f->size - pos;
            if (pos != last
                && (rc = fn (base + pos, (size_t)len, fs + pos - lo, arg)) < 0)
                break;
            last = pos;
            if (stride) {
                target += stride;
                pos = line_start_at (base, f->size, target);
            } else {
                pos += len + 1;
            }
        }
        munmap (base, maplen);
        if (rc < 0)
            return -1;
    }
    return 0;
}
