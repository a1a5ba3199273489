/* SPDX-License-Identifier: MIT */
/* Writing a merged job trace: every process's file, compacted (tables cut to their
 * used entries, events in time order), behind a job header. The output is written
 * under a temporary name and renamed, so a failed merge never leaves half a file.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace_internal.h"

static uint64_t image_size (const struct trace_proc *p)
{
    return LOOM_TRACE_HEADER_SIZE + (uint64_t)p->nstrings * LOOM_TRACE_STRING_SIZE
           + (uint64_t)p->ntypes * LOOM_TRACE_TYPE_SIZE
           + (uint64_t)p->nev * LOOM_TRACE_EVENT_SIZE;
}

static int write_image (FILE *f, const struct trace_proc *p)
{
    char block[LOOM_TRACE_HEADER_SIZE];
    memset (block, 0, sizeof (block));
    struct loom_trace_header h = p->hdr;
    h.strings_off = LOOM_TRACE_HEADER_SIZE;
    h.strings_max = p->nstrings;
    h.types_off = h.strings_off + (uint64_t)p->nstrings * LOOM_TRACE_STRING_SIZE;
    h.types_max = p->ntypes;
    h.events_off = h.types_off + (uint64_t)p->ntypes * LOOM_TRACE_TYPE_SIZE;
    h.events = p->nev;
    memcpy (block, &h, sizeof (h));
    if (fwrite (block, sizeof (block), 1, f) != 1)
        return -1;
    for (uint32_t i = 0; i < p->nstrings; i++) {
        struct loom_trace_string s;
        memset (&s, 0, sizeof (s));
        s.valid = LOOM_TRACE_VALID_STRING;
        s.len = (uint32_t)strlen (p->strings[i]);
        memcpy (s.text, p->strings[i], s.len);
        if (fwrite (&s, sizeof (s), 1, f) != 1)
            return -1;
    }
    for (uint32_t i = 0; i < p->ntypes; i++)
        if (fwrite (&p->types[i].def, sizeof (p->types[i].def), 1, f) != 1)
            return -1;
    if (p->nev && fwrite (p->ev, sizeof (*p->ev), p->nev, f) != p->nev)
        return -1;
    return 0;
}

int loom_trace_write (const loom_trace_t *t, const char *path, loom_error_t *error)
{
    if (!t || !path || !*path)
        return loom_errset (error, EINVAL, "no trace or no output path");
    char *tmp = NULL;
    if (asprintf (&tmp, "%s.tmp.%d", path, (int)getpid ()) < 0)
        return loom_errset (error, ENOMEM, "out of memory");
    FILE *f = fopen (tmp, "wbx");
    if (!f) {
        int e = errno;
        loom_errset (error, e, "%s: %s", path, strerror (e));
        free (tmp);
        errno = e;
        return -1;
    }
    struct loom_trace_job_header jh;
    memset (&jh, 0, sizeof (jh));
    memcpy (jh.magic, LOOM_TRACE_JOB_MAGIC, 8);
    jh.version = LOOM_TRACE_VERSION;
    jh.byte_order = LOOM_TRACE_BYTE_ORDER;
    jh.nprocs = (uint32_t)t->nprocs;
    jh.trace_id = t->trace_id;
    int ok = fwrite (&jh, sizeof (jh), 1, f) == 1;
    /* Images start on 4096-byte boundaries after the table. */
    uint64_t off = sizeof (jh) + (uint64_t)t->nprocs * 16;
    off = (off + 4095) / 4096 * 4096;
    for (size_t i = 0; ok && i < t->nprocs; i++) {
        uint64_t len = image_size (&t->procs[i]);
        ok = fwrite (&off, 8, 1, f) == 1 && fwrite (&len, 8, 1, f) == 1;
        off = (off + len + 4095) / 4096 * 4096;
    }
    for (size_t i = 0; ok && i < t->nprocs; i++) {
        long pos = ftell (f);
        long aligned = (pos + 4095) / 4096 * 4096;
        ok = pos >= 0 && fseek (f, aligned, SEEK_SET) == 0
             && write_image (f, &t->procs[i]) == 0;
    }
    ok = ok && fflush (f) == 0 && fsync (fileno (f)) == 0;
    int e = ok ? 0 : errno ? errno : EIO;
    if (fclose (f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename (tmp, path) < 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink (tmp);
        loom_errset (error, e, "%s: %s", path, strerror (e));
    }
    free (tmp);
    errno = ok ? errno : e;
    return ok ? 0 : -1;
}

int loom_trace_merge_ranks (const char *prefix,
                            int nranks,
                            const char *const *extra,
                            size_t nextra,
                            const char *out,
                            loom_error_t *error)
{
    if (!prefix || !*prefix || nranks < 0 || (nextra && !extra))
        return loom_errset (error, EINVAL, "no trace prefix, or a bad rank count");
    char **paths = calloc ((size_t)nranks + nextra + 1, sizeof (*paths));
    char *def = NULL;
    size_t n = 0;
    int rc = -1;
    if (!paths) {
        loom_errset (error, ENOMEM, "out of memory");
        goto out;
    }
    for (int r = 0; r < nranks; r++) {
        char *p;
        if (asprintf (&p, "%s.rank%d", prefix, r) < 0) {
            loom_errset (error, ENOMEM, "out of memory");
            goto out;
        }
        if (access (p, R_OK) == 0)
            paths[n++] = p;
        else
            free (p);
    }
    for (size_t i = 0; i < nextra; i++)
        if (extra[i] && access (extra[i], R_OK) == 0 && (paths[n] = strdup (extra[i])))
            n++;
    if (n == 0) {
        rc = 0;
        goto out;
    }
    if (!out) {
        if (asprintf (&def, "%s.trace", prefix) < 0) {
            loom_errset (error, ENOMEM, "out of memory");
            goto out;
        }
        out = def;
    }
    loom_trace_t *t = loom_trace_open_many ((const char *const *)paths, n, error);
    if (!t)
        goto out;
    if (loom_trace_write (t, out, error) == 0)
        rc = (int)loom_trace_nprocs (t);
    loom_trace_close (t);
out:
    for (size_t i = 0; paths && i < n; i++)
        free (paths[i]);
    free (paths);
    free (def);
    return rc;
}
