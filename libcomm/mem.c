/* SPDX-License-Identifier: MIT */
/* Memory for the shuffle's large buffers (frames, receive segments, the store).
 *
 * A shuffle writes every byte it receives into memory it has just allocated, so on
 * Linux most of its time for large exchanges can go to page faults: one per 4 KiB,
 * each a kernel entry (expensive with page-table isolation) plus a zeroed page.
 * Buffers of at least LOOM__MEM_BIG bytes are therefore mapped on their own, aligned
 * to 2 MiB and advised MADV_HUGEPAGE, so that the kernel backs them with transparent
 * huge pages where it can: one fault per 2 MiB. Where it cannot (THP disabled, no
 * free huge page), they are ordinary pages and nothing is lost but the advice.
 * LOOM_COMM_HUGEPAGES=0 in the environment turns the advice off (a node where
 * compaction stalls, or to measure the difference).
 *
 * Whether a buffer is mapped or malloc'd follows from its capacity alone, so a buffer
 * is freed by (pointer, capacity) with no flag to carry around.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "shuffle_impl.h"

#define HUGE_PAGE (2u << 20)

static int advise = -1; /* -1: not read yet */

static bool want_huge (void)
{
    if (advise < 0) {
        const char *e = getenv ("LOOM_COMM_HUGEPAGES");
        advise = !(e && strcmp (e, "0") == 0);
    }
    return advise;
}

uint64_t loom__mem_round (uint64_t cap)
{
    if (cap < LOOM__MEM_BIG)
        return cap;
    return (cap + HUGE_PAGE - 1) & ~(uint64_t)(HUGE_PAGE - 1);
}

/* Map 'cap' bytes (a multiple of 2 MiB) at a 2 MiB boundary: map 2 MiB more and
 * trim the ends.
 */
static void *map_aligned (uint64_t cap)
{
    size_t len = (size_t)cap + HUGE_PAGE;
    char *p =
        mmap (NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
    size_t head = a - (uintptr_t)p, tail = len - head - (size_t)cap;
    if (head)
        munmap (p, head);
    if (tail)
        munmap ((char *)a + cap, tail);
    if (want_huge ())
        madvise ((void *)a, (size_t)cap, MADV_HUGEPAGE); /* advice only */
    return (void *)a;
}

void *loom__mem_alloc (uint64_t cap)
{
    cap = loom__mem_round (cap);
    if (cap >= LOOM__MEM_BIG)
        return map_aligned (cap);
    return malloc (cap ? cap : 1);
}

void *loom__mem_grow (void *p, uint64_t len, uint64_t old_cap, uint64_t new_cap)
{
    if (new_cap < LOOM__MEM_BIG)
        return realloc (p, new_cap);
    void *n;
    if (old_cap >= LOOM__MEM_BIG) {
        /* Moves the page tables, not the bytes; the advice moves with the mapping. */
        n = mremap (p, (size_t)old_cap, (size_t)new_cap, MREMAP_MAYMOVE);
        return n == MAP_FAILED ? NULL : n;
    }
    n = map_aligned (new_cap);
    if (!n)
        return NULL;
    if (len)
        memcpy (n, p, (size_t)len);
    free (p);
    return n;
}

void loom__mem_free (void *p, uint64_t cap)
{
    if (!p)
        return;
    if (cap >= LOOM__MEM_BIG)
        munmap (p, (size_t)cap);
    else
        free (p);
}
