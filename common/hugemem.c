/* SPDX-License-Identifier: MIT */
/* Large buffers on transparent huge pages: the one allocator behind libcomm's,
 * MapReduce's and Pregel's big buffers (see include/loom/hugemem.h for the rules).
 */
#define _GNU_SOURCE /* mremap */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <loom/hugemem.h>

#define PAGE LOOM_HUGEMEM_PAGE

/* "0" turns a switch off; anything else (or unset) leaves it on. -1: not set. */
static int env_switch (const char *name)
{
    const char *e = name ? getenv (name) : NULL;
    if (!e)
        return -1;
    return strcmp (e, "0") != 0;
}

bool loom_hugemem_advised (struct loom_hugemem *m)
{
    int a = __atomic_load_n (&m->advise, __ATOMIC_RELAXED);
    if (a < 0) {
        /* The user's own variable wins, so the old per-library switches keep their
         * meaning; the global one covers the rest.
         */
        a = env_switch (m->env);
        if (a < 0)
            a = env_switch ("LOOM_HUGEPAGES");
        if (a < 0)
            a = 1;
        __atomic_store_n (&m->advise, a, __ATOMIC_RELAXED);
    }
    return a;
}

size_t loom_hugemem_round (const struct loom_hugemem *m, size_t bytes)
{
    if (bytes < m->min_bytes)
        return bytes;
    if (bytes > SIZE_MAX - (PAGE - 1))
        return SIZE_MAX;
    return (bytes + PAGE - 1) & ~(PAGE - 1);
}

/* Map 'cap' bytes (a multiple of 2 MiB) at a 2 MiB boundary: map 2 MiB more and
 * trim the ends.
 */
static void *map_aligned (struct loom_hugemem *m, size_t cap)
{
    if (cap > SIZE_MAX - PAGE) {
        errno = ENOMEM;
        return NULL;
    }
    size_t len = cap + PAGE;
    char *p =
        mmap (NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    uintptr_t a = ((uintptr_t)p + PAGE - 1) & ~(uintptr_t)(PAGE - 1);
    size_t head = a - (uintptr_t)p, tail = len - head - cap;
    if (head)
        munmap (p, head);
    if (tail)
        munmap ((char *)a + cap, tail);
    if (loom_hugemem_advised (m))
        (void)madvise ((void *)a, cap,
                       MADV_HUGEPAGE); /* advice only: fine if refused */
    return (void *)a;
}

void *loom_hugemem_alloc (struct loom_hugemem *m, size_t cap)
{
    cap = loom_hugemem_round (m, cap);
    if (cap >= m->min_bytes)
        return map_aligned (m, cap);
    return malloc (cap ? cap : 1);
}

void *loom_hugemem_calloc (struct loom_hugemem *m, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) {
        errno = ENOMEM;
        return NULL;
    }
    size_t cap = loom_hugemem_round (m, n * size);
    if (cap >= m->min_bytes)
        return map_aligned (m, cap); /* fresh anonymous memory is zero */
    return calloc (cap ? cap : 1, 1);
}

void *loom_hugemem_grow (
    struct loom_hugemem *m, void *p, size_t len, size_t old_cap, size_t new_cap)
{
    void *n;
    if (new_cap < m->min_bytes) {
        n = realloc (p, new_cap ? new_cap : 1);
        if (!n)
            errno = ENOMEM;
        return n;
    }
    if (p && old_cap >= m->min_bytes) {
        /* Moves the page tables, not the bytes; the advice moves with the mapping. */
        n = mremap (p, old_cap, new_cap, MREMAP_MAYMOVE);
        if (n == MAP_FAILED) {
            errno = ENOMEM;
            return NULL;
        }
        return n;
    }
    /* Crossing from the heap into a mapping: copy the small buffer once. */
    n = map_aligned (m, new_cap);
    if (!n)
        return NULL;
    if (len)
        memcpy (n, p, len);
    free (p);
    return n;
}

void loom_hugemem_free (const struct loom_hugemem *m, void *p, size_t cap)
{
    if (!p)
        return;
    int saved = errno;
    if (cap >= m->min_bytes)
        munmap (p, cap);
    else
        free (p);
    errno = saved;
}
