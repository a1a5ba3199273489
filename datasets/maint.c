/* SPDX-License-Identifier: MIT */
/* Maintenance: verify (recompute every checksum) and gc (remove what no committed
 * version refers to). Both work on the files alone and need no MPI.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int loom_ds_verify (
    const char *path, int64_t part, uint32_t **bad, size_t *nbad, loom_error_t *error)
{
    if (bad)
        *bad = NULL;
    if (nbad)
        *nbad = 0;
    loom_ds_t *ds = loom_ds_open (MPI_COMM_NULL, path, NULL, error);
    if (!ds)
        return -1;
    uint32_t n = loom_ds_nparts (ds), first = 0, last = n;
    if (part >= 0) {
        if ((uint64_t)part >= n) {
            loom_ds_close (ds);
            return loom_errset (error, EINVAL,
                                "%s: partition %lld out of range (nparts %u)", path,
                                (long long)part, n);
        }
        first = (uint32_t)part;
        last = first + 1;
    }
    uint32_t *list = malloc ((last - first) * sizeof (*list));
    if (!list) {
        loom_ds_close (ds);
        return loom_errset (error, ENOMEM, "%s: out of memory", path);
    }
    size_t count = 0;
    loom_error_t e;
    for (uint32_t i = first; i < last; i++) {
        loom_ds_part_t *pr = loom_ds_part_read (ds, i, &e);
        if (!pr) {
            if (errno == ENOMEM) {
                free (list);
                loom_ds_close (ds);
                return loom_errset (error, ENOMEM, "%s", e.text);
            }
            if (count == 0)
                loom_errprintf (error, "%s", e.text);
            list[count++] = i;
        }
        loom_ds_part_destroy (pr);
    }
    loom_ds_close (ds);
    if (bad)
        *bad = list;
    else
        free (list);
    if (nbad)
        *nbad = count;
    return (int)count;
}

struct removed {
    char **paths;
    size_t n, cap;
};

static int note_removed (struct removed *r, const char *path)
{
    if (r->n + 2 > r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        char **p = realloc (r->paths, cap * sizeof (*p));
        if (!p)
            return -1;
        r->paths = p;
        r->cap = cap;
    }
    if (!(r->paths[r->n] = strdup (path)))
        return -1;
    r->paths[++r->n] = NULL;
    return 0;
}

static int is_ours (const char *name)
{
    unsigned part, gen;
    char tail;
    return strncmp (name, ".tmp.", 5) == 0
           || sscanf (name, "part-%u.g%u.h%c", &part, &gen, &tail) == 3;
}

/* Collect one dataset directory. Returns files removed, or -1. */
static int
gc_dataset (const char *dir, double min_age, struct removed *r, loom_error_t *error)
{
    struct ds_manifest m;
    loom_error_t e;
    uint32_t keep_gen = 0;
    if (loom__manifest_load (dir, &m, &e) == 0) {
        keep_gen = m.generation;
        loom__manifest_free (&m);
    } else if (errno != ENOENT) {
        /* A damaged manifest still names the data a recompute needs: keep it all. */
        return loom_errset (error, EPROTO, "%s (not collecting a damaged dataset)",
                            e.text);
    }
    DIR *d = opendir (dir);
    if (!d)
        return loom_errset (error, errno, "%s: %s", dir, strerror (errno));
    time_t now = time (NULL);
    int count = 0;
    struct dirent *de;
    while ((de = readdir (d))) {
        unsigned part, gen;
        char tail;
        if (!is_ours (de->d_name))
            continue;
        if (sscanf (de->d_name, "part-%u.g%u.h%c", &part, &gen, &tail) == 3 && keep_gen
            && gen == keep_gen)
            continue;
        char *path = loom__path_join (dir, de->d_name);
        struct stat st;
        if (!path || lstat (path, &st) < 0 || !S_ISREG (st.st_mode)
            || difftime (now, st.st_mtime) < min_age) {
            free (path);
            continue;
        }
        if (unlink (path) == 0) {
            count++;
            if (note_removed (r, path) < 0) {
                free (path);
                closedir (d);
                return loom_errset (error, ENOMEM, "%s: out of memory", dir);
            }
        }
        free (path);
    }
    closedir (d);
    if (count)
        loom__fsync_dir (dir);
    return count;
}

static int looks_like_dataset (const char *dir)
{
    DIR *d = opendir (dir);
    struct dirent *de;
    int found = 0;
    while (d && !found && (de = readdir (d)))
        found = strcmp (de->d_name, DS_MANIFEST) == 0 || is_ours (de->d_name);
    if (d)
        closedir (d);
    return found;
}

int loom_ds_gc (const char *path,
                double min_age_s,
                char ***removed,
                loom_error_t *error)
{
    struct removed r = {0};
    int total = 0;
    if (removed)
        *removed = NULL;
    struct stat st;
    if (!path || stat (path, &st) < 0 || !S_ISDIR (st.st_mode))
        return loom_errset (error, path ? (errno ? errno : ENOTDIR) : EINVAL,
                            "%s: not a directory", path ? path : "(null)");
    if (looks_like_dataset (path)) {
        total = gc_dataset (path, min_age_s, &r, error);
    } else {
        DIR *d = opendir (path);
        struct dirent *de;
        while (d && (de = readdir (d))) {
            if (de->d_name[0] == '.')
                continue;
            char *sub = loom__path_join (path, de->d_name);
            if (sub && stat (sub, &st) == 0 && S_ISDIR (st.st_mode)
                && looks_like_dataset (sub)) {
                loom_error_t e;
                int n = gc_dataset (sub, min_age_s, &r, &e);
                if (n > 0)
                    total += n;
            }
            free (sub);
        }
        if (d)
            closedir (d);
    }
    if (total < 0 || !removed) {
        for (size_t i = 0; i < r.n; i++)
            free (r.paths[i]);
        free (r.paths);
    } else {
        *removed = r.paths;
    }
    return total;
}
