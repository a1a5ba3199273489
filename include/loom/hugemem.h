/* SPDX-License-Identifier: MIT */
/* Large buffers on transparent huge pages (docs/hugepages.md).
 *
 * Loom's big arrays (libcomm's frames, receive segments and stores; MapReduce's
 * record buffers; Pregel's per-superstep arrays) are written soon after they are
 * allocated, so with 4 KiB pages much of their time goes to page faults (one kernel
 * entry and one zeroed page per 4 KiB; on a virtual machine a trip through the
 * hypervisor), and random reads into arrays of several MiB miss the TLB. Buffers of
 * at least a user's threshold are therefore mapped on their own, 2 MiB aligned, and
 * advised MADV_HUGEPAGE, so the kernel backs them with huge pages where it can: one
 * fault per 2 MiB. Where it cannot (THP disabled, no free huge page) they are ordinary
 * pages and only the advice is lost. Smaller buffers come from malloc.
 *
 * Whether a buffer is mapped or malloc'd follows from its capacity alone, so a
 * buffer is grown and freed by (pointer, capacity), with no flag to carry around:
 * callers keep the capacity loom_hugemem_round() gave them.
 *
 * The switch: LOOM_HUGEPAGES=0 turns the advice off for every user; a user's own
 * variable (LOOM_COMM_HUGEPAGES, LOOM_MAPREDUCE_HUGEPAGES, LOOM_PREGEL_HUGEPAGES),
 * when set, decides for that user instead. Off, big buffers are still aligned
 * mappings (so growing stays an mremap), just not advised. Each is read once, at a
 * user's first big allocation.
 *
 * This is internal plumbing shared by Loom's libraries; it is installed because they
 * are separate shared objects, not as an API for applications.
 */
#ifndef LOOM_HUGEMEM_H
#define LOOM_HUGEMEM_H

#include <stdbool.h>
#include <stddef.h>

#include <loom/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One user of the allocator: its switch and its threshold. Define one per library
 * with LOOM_HUGEMEM_INIT and pass it to every call; the allocator caches the switch
 * in it (atomically, so concurrent first calls are fine).
 */
struct loom_hugemem {
    const char *env; /* the user's own switch, e.g. "LOOM_COMM_HUGEPAGES" (or NULL) */
    size_t
        min_bytes; /* capacities from here up are mapped (> 0, a multiple of 2 MiB) */
    int advise;    /* cached switch: -1 not read yet, 0 off, 1 on */
};
#define LOOM_HUGEMEM_INIT(env, min_bytes)                                              \
    {                                                                                  \
        (env), (min_bytes), -1                                                         \
    }

/* The huge page size buffers are aligned and rounded to. */
#define LOOM_HUGEMEM_PAGE ((size_t)2 << 20)

/* The capacity an allocation of 'bytes' really has: 'bytes' below m->min_bytes,
 * else rounded up to a multiple of 2 MiB (SIZE_MAX when that overflows, which no
 * allocation can satisfy). This function can't fail.
 */
LOOM_API size_t loom_hugemem_round (const struct loom_hugemem *m, size_t bytes);

/* Is the huge page advice on for 'm' (the switch above)? This function can't fail. */
LOOM_API bool loom_hugemem_advised (struct loom_hugemem *m);

/* 'cap' bytes (rounded with loom_hugemem_round(); the caller keeps that value to
 * grow and free with). Big buffers are zeroed (fresh anonymous memory), small ones
 * are not. Returns NULL with errno ENOMEM on failure.
 */
LOOM_API void *loom_hugemem_alloc (struct loom_hugemem *m, size_t cap);

/* 'n' elements of 'size' bytes, zeroed; the capacity to free with is
 * loom_hugemem_round(m, n * size). Returns NULL with errno ENOMEM on failure or when
 * n * size overflows.
 */
LOOM_API void *loom_hugemem_calloc (struct loom_hugemem *m, size_t n, size_t size);

/* Grow 'p' (capacity old_cap, its first 'len' bytes in use) to new_cap, a
 * loom_hugemem_round() value not below old_cap, keeping those bytes. A mapping grows
 * with mremap (page tables move, not bytes; the advice moves with them). 'p' may be
 * NULL with old_cap 0. Returns the new pointer, or NULL with errno ENOMEM and 'p'
 * unchanged.
 */
LOOM_API void *loom_hugemem_grow (
    struct loom_hugemem *m, void *p, size_t len, size_t old_cap, size_t new_cap);

/* Free 'p', allocated with capacity 'cap'. Accepts NULL; preserves errno. */
LOOM_API void loom_hugemem_free (const struct loom_hugemem *m, void *p, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_HUGEMEM_H */
