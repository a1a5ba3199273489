/* SPDX-License-Identifier: MIT */
/* Memory for the arrays a superstep sweeps: in-edges, broadcasts, inbox and outbox.
 *
 * PageRank's gather reads one broadcast per in-edge at a random slot of an array of
 * several MiB: with 4 KiB pages nearly every read also misses the TLB, and on a
 * virtual machine each TLB miss is a two-level page walk. Arrays of at least 2 MiB
 * are therefore aligned to 2 MiB and advised MADV_HUGEPAGE before their first
 * touch, so that the kernel backs them with transparent huge pages where it can.
 * Where it cannot (THP off, no free huge page) they are ordinary pages and only the
 * advice is lost. They are freed with free(). LOOM_PREGEL_HUGEPAGES=0 turns the
 * advice off (to measure the difference).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#define HUGE_PAGE ((size_t)2 << 20)

static int advise = -1; /* -1: not read yet */

static bool want_huge (void)
{
    if (advise < 0) {
        const char *e = getenv ("LOOM_PREGEL_HUGEPAGES");
        advise = !(e && strcmp (e, "0") == 0);
    }
    return advise;
}

void *pregel_big_alloc (size_t n, size_t size, bool zero)
{
    if (size && n > (SIZE_MAX - HUGE_PAGE) / size)
        return NULL;
    size_t bytes = n * size;
    if (bytes < HUGE_PAGE || !want_huge ())
        return zero ? calloc (bytes ? bytes : 1, 1) : malloc (bytes ? bytes : 1);
    size_t cap = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    void *p;
    if (posix_memalign (&p, HUGE_PAGE, cap) != 0)
        return NULL;
    (void)madvise (p, cap, MADV_HUGEPAGE); /* advice only: fine if refused */
    if (zero)
        memset (p, 0, bytes);
    return p;
}
