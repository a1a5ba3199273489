/* SPDX-License-Identifier: MIT */
/* In-job hand-off: datasets persisted in memory, keyed by their absolute path, so
 * the next step of the same process reads them without touching the disk. Entries
 * are reference-counted: a reader keeps its copy alive after loom_ds_release().
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

struct ds_mem {
    char *key;
    int refs;
    struct ds_manifest m;
    struct ds_coldata **parts; /* NULL where another rank holds the partition */
    struct ds_mem *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct ds_mem *entries;

char *loom__mem_key (const char *path)
{
    char *key;
    if (path[0] == '/') {
        key = strdup (path);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd (cwd, sizeof (cwd)))
            return NULL;
        key = loom__path_join (cwd, path);
    }
    if (!key)
        return NULL;
    size_t n = strlen (key);
    while (n > 1 && key[n - 1] == '/')
        key[--n] = '\0';
    return key;
}

static void mem_free (struct ds_mem *e)
{
    for (uint32_t i = 0; i < e->m.nparts; i++)
        loom__coldata_free (&e->m.schema, e->parts[i]);
    free (e->parts);
    loom__manifest_free (&e->m);
    free (e->key);
    free (e);
}

static void unref_locked (struct ds_mem *e)
{
    if (--e->refs == 0)
        mem_free (e);
}

/* Free what is still registered at exit, so leak checkers see a clean process. */
static void release_all (void)
{
    pthread_mutex_lock (&lock);
    while (entries) {
        struct ds_mem *e = entries;
        entries = e->next;
        unref_locked (e);
    }
    pthread_mutex_unlock (&lock);
}

static struct ds_mem *detach_locked (const char *key)
{
    for (struct ds_mem **pp = &entries; *pp; pp = &(*pp)->next)
        if (strcmp ((*pp)->key, key) == 0) {
            struct ds_mem *e = *pp;
            *pp = e->next;
            return e;
        }
    return NULL;
}

int loom__mem_put (const char *path,
                   const struct ds_manifest *m,
                   struct ds_coldata **local_parts)
{
    static int registered;
    struct ds_mem *e = calloc (1, sizeof (*e));
    if (!e || !(e->key = loom__mem_key (path))) {
        free (e);
        errno = ENOMEM;
        return -1;
    }
    /* Take over the manifest by value: deep-copied fields are moved below. */
    e->m = *m;
    e->m.parts = malloc (m->nparts * sizeof (*m->parts));
    e->m.created = m->created ? strdup (m->created) : NULL;
    e->m.trace_id = m->trace_id ? strdup (m->trace_id) : NULL;
    e->m.lineage = m->lineage ? strdup (m->lineage) : NULL;
    e->m.split = NULL;
    e->m.split_len = NULL;
    if (m->split) {
        e->m.split = calloc (m->nparts, sizeof (*m->split));
        e->m.split_len = calloc (m->nparts, sizeof (*m->split_len));
        for (uint32_t i = 0; e->m.split && i + 1 < m->nparts; i++) {
            e->m.split[i] = malloc (m->split_len[i] ? m->split_len[i] : 1);
            if (e->m.split[i])
                memcpy (e->m.split[i], m->split[i], m->split_len[i]);
            e->m.split_len[i] = m->split_len[i];
        }
    }
    if (e->m.parts)
        memcpy (e->m.parts, m->parts, m->nparts * sizeof (*m->parts));
    e->parts = local_parts;
    e->refs = 1;
    pthread_mutex_lock (&lock);
    struct ds_mem *old = detach_locked (e->key);
    if (old)
        unref_locked (old);
    e->next = entries;
    entries = e;
    if (!registered) {
        atexit (release_all);
        registered = 1;
    }
    pthread_mutex_unlock (&lock);
    return 0;
}

struct ds_mem *loom__mem_get (const char *path)
{
    char *key = loom__mem_key (path);
    if (!key)
        return NULL;
    pthread_mutex_lock (&lock);
    struct ds_mem *found = NULL;
    for (struct ds_mem *e = entries; e; e = e->next)
        if (strcmp (e->key, key) == 0) {
            found = e;
            found->refs++;
            break;
        }
    pthread_mutex_unlock (&lock);
    free (key);
    return found;
}

const struct ds_manifest *loom__mem_manifest (const struct ds_mem *mem)
{
    return &mem->m;
}

const struct ds_coldata *loom__mem_part (const struct ds_mem *mem, uint32_t part)
{
    return part < mem->m.nparts ? mem->parts[part] : NULL;
}

void loom__mem_ref (struct ds_mem *mem)
{
    pthread_mutex_lock (&lock);
    mem->refs++;
    pthread_mutex_unlock (&lock);
}

void loom__mem_unref (struct ds_mem *mem)
{
    if (!mem)
        return;
    int saved = errno;
    pthread_mutex_lock (&lock);
    unref_locked (mem);
    pthread_mutex_unlock (&lock);
    errno = saved;
}

int loom_ds_release (const char *path)
{
    char *key = path ? loom__mem_key (path) : NULL;
    if (!key) {
        errno = path ? ENOMEM : EINVAL;
        return -1;
    }
    pthread_mutex_lock (&lock);
    struct ds_mem *e = detach_locked (key);
    if (e)
        unref_locked (e);
    pthread_mutex_unlock (&lock);
    free (key);
    if (!e) {
        errno = ENOENT;
        return -1;
    }
    return 0;
}
