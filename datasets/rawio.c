/* SPDX-License-Identifier: MIT */
/* Column bytes moved straight between memory and their place in a partition file,
 * hashed in the same pass.
 *
 * A partition written in one call has contiguous, unfiltered column datasets whose
 * place in the file HDF5 tells (H5Dget_offset), so their bytes need no trip through
 * HDF5's I/O layers: they are written with pwrite(2), read with pread(2) or through a
 * mapping, and hashed piece by piece while in the CPU cache, every column in one loop
 * (loom__sum_update_n). HDF5 still writes and reads all the metadata, and the files
 * are ordinary HDF5 files (h5py, h5dump).
 *
 * Huge pages. Big columns start on 2 MiB boundaries of the file and are written in
 * 2 MiB pieces, so the kernel can keep them in the page cache as 2 MiB folios (ext4
 * and XFS do on recent Linux). A reader then maps the file, each folio takes one
 * page-table entry, and the bytes are hashed in place (zero copy), or copied to the
 * caller's buffers by the loop that hashes them: one pass over the data instead of
 * the kernel's copy plus a hash pass. Where the page cache holds small pages instead
 * (another file system, a cold file read back in small folios, a file written by
 * other means), mapping costs a page-table entry per 4 KiB, and on a VM with nested
 * paging (like the one in benchmarks/RESULTS.md) the first touch of each is a trip
 * to the hypervisor, ~2 us, slower than copying the page. So the reader asks the
 * kernel how the mapping came out (PAGEMAP_SCAN, Linux 6.7) and falls back to
 * pread(2) unless nearly all of it is huge.
 *
 * Cold files. When the columns are not all in the page cache (cachestat(2), Linux
 * 6.5, which reads nothing), populating the whole mapping first and hashing it after
 * would wait for the disk and then for the hash, one after the other; read(2)
 * overlaps them, copying what has arrived while its readahead fetches more. So a
 * cold mapping is populated 2 MiB at a time in file order, each piece hashed (and
 * copied) right after: the kernel's mmap readahead keeps the disk busy meanwhile.
 * The probe must not read: preadv2(RWF_NOWAIT) on a cold file returns EAGAIN but
 * starts readahead through the read(2) path, whose first folios are small, so the
 * probe block below then maps as 4 KiB entries and the mapping is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

/* PAGEMAP_SCAN (Linux 6.7, include/uapi/linux/fs.h), for older headers. */
#ifndef PAGEMAP_SCAN
struct page_region {
    uint64_t start, end, categories;
};
struct pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR ('f', 16, struct pm_scan_arg)
#define PAGE_IS_HUGE (1 << 6)
#endif

/* cachestat(2) (Linux 6.5, include/uapi/linux/mman.h), for older headers. */
#ifndef __NR_cachestat
#define __NR_cachestat 451 /* the same number on every architecture */
#endif
struct ds_cachestat_range {
    uint64_t off, len;
};
struct ds_cachestat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

#define HUGE_PAGE (2u << 20)
#define PAGE      4096u

static uint64_t min_u64 (uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static int pwrite_all (int fd, const void *buf, size_t len, uint64_t at)
{
    const char *p = buf;
    while (len) {
        ssize_t n = pwrite (fd, p, len, (off_t)at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        at += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

/* A read that ends early means the file is shorter than its metadata says. */
static int pread_all (int fd, void *buf, size_t len, uint64_t at)
{
    char *p = buf;
    while (len) {
        ssize_t n = pread (fd, p, len, (off_t)at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EPROTO;
            return -1;
        }
        p += n;
        at += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

/* Piece 'done'.. of every span that is that long: its stream index, address (the
 * source when writing, the destination when reading) and length. Returns how many
 * spans have such a piece.
 */
static size_t piece (const struct ds_span *sp,
                     size_t n,
                     size_t done,
                     bool reading,
                     size_t *idx,
                     const void **p,
                     size_t *len)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (sp[i].len <= done)
            continue;
        idx[k] = sp[i].idx;
        p[k] = (const char *)(reading ? sp[i].dst : sp[i].src) + done;
        len[k] = (size_t)min_u64 (LOOM__RAW_PIECE, sp[i].len - done);
        k++;
    }
    return k;
}

int loom__raw_write (int fd, const struct ds_span *sp, size_t n, struct ds_sum *sum)
{
    size_t idx[2 * DS_MAX_COLS], len[2 * DS_MAX_COLS];
    const void *p[2 * DS_MAX_COLS];
    for (size_t done = 0;; done += LOOM__RAW_PIECE) {
        size_t k = piece (sp, n, done, false, idx, p, len);
        if (k == 0)
            return 0;
        /* Hash first: the write then copies from the cache, not from memory. */
        loom__sum_update_n (sum, k, idx, p, NULL, len);
        for (size_t j = 0, i = 0; j < k; i++) {
            if (sp[i].len <= done)
                continue;
            if (pwrite_all (fd, p[j], len[j], sp[i].at + done) < 0)
                return -1;
            j++;
        }
    }
}

int loom__raw_read (int fd, const struct ds_span *sp, size_t n, struct ds_sum *sum)
{
    size_t idx[2 * DS_MAX_COLS], len[2 * DS_MAX_COLS];
    const void *p[2 * DS_MAX_COLS];
    for (size_t done = 0;; done += LOOM__RAW_PIECE) {
        size_t k = piece (sp, n, done, true, idx, p, len);
        if (k == 0)
            return 0;
        for (size_t j = 0, i = 0; j < k; i++) {
            if (sp[i].len <= done)
                continue;
            if (pread_all (fd, (void *)p[j], len[j], sp[i].at + done) < 0)
                return -1;
            j++;
        }
        if (sum)
            loom__sum_update_n (sum, k, idx, p, NULL, len);
    }
}

/* Bytes of [p, p + len) (page-aligned) that are not mapped by huge page-table
 * entries, or -1 if the kernel cannot tell (before Linux 6.7).
 */
static int64_t small_bytes (const char *p, size_t len)
{
    int fd = open ("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct page_region r[16];
    struct pm_scan_arg a;
    memset (&a, 0, sizeof (a));
    a.size = sizeof (a);
    a.start = (uintptr_t)p;
    a.end = (uintptr_t)p + len;
    a.vec = (uintptr_t)r;
    a.vec_len = sizeof (r) / sizeof (r[0]);
    a.category_inverted = PAGE_IS_HUGE; /* report the pages that are NOT huge */
    a.category_mask = PAGE_IS_HUGE;
    a.return_mask = PAGE_IS_HUGE;
    int64_t small = 0;
    while (a.start < a.end) {
        int got = ioctl (fd, PAGEMAP_SCAN, &a);
        if (got < 0) {
            small = -1;
            break;
        }
        for (int i = 0; i < got; i++)
            small += (int64_t)(r[i].end - r[i].start);
        if (a.walk_end <= a.start)
            break;
        a.start = a.walk_end;
    }
    close (fd);
    return small;
}

/* Populate the pages under [at, at + len) of the mapping; returns 0 or -1. */
static int populate (char *base, uint64_t at, uint64_t len)
{
    uint64_t lo = at & ~(uint64_t)(PAGE - 1), hi = (at + len + PAGE - 1) & ~(PAGE - 1);
    return madvise (base + lo, (size_t)(hi - lo), MADV_POPULATE_READ);
}

/* Are all the spans' pages in the page cache? 1 yes, 0 no, -1 the kernel cannot
 * tell (before Linux 6.5). Reads nothing and starts no readahead.
 */
static int spans_cached (int fd, const struct ds_span *sp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (sp[i].len == 0)
            continue;
        uint64_t lo = sp[i].at & ~(uint64_t)(PAGE - 1);
        uint64_t hi = (sp[i].at + sp[i].len + PAGE - 1) & ~(uint64_t)(PAGE - 1);
        struct ds_cachestat_range r = {lo, hi - lo};
        struct ds_cachestat cs;
        if (syscall (__NR_cachestat, fd, &r, &cs, 0) < 0)
            return -1;
        if (cs.nr_cache < (hi - lo) / PAGE)
            return 0;
    }
    return 1;
}

int loom__raw_map (
    int fd, uint64_t fsize, const struct ds_span *sp, size_t n, struct ds_map *map)
{
    map->base = NULL;
    map->len = 0;
    map->lazy = false;
    uint64_t total = 0;
    size_t big = n;
    for (size_t i = 0; i < n; i++) {
        total += sp[i].len;
        if (big == n || sp[i].len > sp[big].len)
            big = i;
    }
    if (total < LOOM__RAW_MAP_MIN || fsize > SIZE_MAX - HUGE_PAGE)
        return 0;
    /* The mapping must start on a 2 MiB boundary for the kernel to map 2 MiB folios
     * (at 2 MiB offsets of the file) with single entries: reserve 2 MiB more and
     * place the file inside.
     */
    size_t len = (size_t)fsize;
    char *r = mmap (NULL, len + HUGE_PAGE, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED)
        return 0;
    char *a = (char *)(((uintptr_t)r + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    char *m = mmap (a, len, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
    if (m == MAP_FAILED) {
        munmap (r, len + HUGE_PAGE);
        return 0;
    }
    if (a > r)
        munmap (r, (size_t)(a - r));
    size_t tail = (size_t)(r + len + HUGE_PAGE - (a + len));
    if (tail)
        munmap (a + len, tail);
    /* Ask for huge folios if the file is read in now (cold), then probe one whole
     * 2 MiB block of the biggest column before populating everything.
     */
    madvise (m, len, MADV_HUGEPAGE);
    bool cold = spans_cached (fd, sp, n) == 0; /* asked before the probe reads */
    uint64_t probe = (sp[big].at + HUGE_PAGE - 1) & ~(uint64_t)(HUGE_PAGE - 1);
    int64_t small = 0;
    if (probe + HUGE_PAGE > sp[big].at + sp[big].len
        || populate (m, probe, HUGE_PAGE) < 0
        || (small = small_bytes (m + probe, HUGE_PAGE)) != 0)
        goto no;
    if (cold) {
        /* The probe block came in huge: the uncached rest will too (same file, same
         * fault path); parts some other reader left in small folios map as 4 KiB
         * entries, correct but slower. Pages are populated as they are hashed
         * (loom__raw_hash_mapped).
         */
        map->base = m;
        map->len = len;
        map->lazy = true;
        return 1;
    }
    uint64_t nsmall = 0;
    for (size_t i = 0; i < n; i++) {
        if (sp[i].len == 0)
            continue;
        if (populate (m, sp[i].at, sp[i].len) < 0) {
            /* The file is shorter than HDF5 said: it changed under us. */
            munmap (m, len);
            errno = EPROTO;
            return -1;
        }
        uint64_t lo = sp[i].at & ~(uint64_t)(PAGE - 1);
        if ((small = small_bytes (m + lo, (size_t)(sp[i].at + sp[i].len - lo))) < 0)
            goto no;
        nsmall += (uint64_t)small;
    }
    /* A column's last partial 2 MiB is in small pages; more than that means the
     * page cache is not in huge folios, and pread(2) is the cheaper way.
     */
    if (nsmall > total / 8)
        goto no;
    map->base = m;
    map->len = len;
    return 1;
no:
    munmap (m, len);
    return 0;
}

void loom__raw_unmap (struct ds_map *map)
{
    if (map && map->base) {
        int saved = errno;
        munmap (map->base, map->len);
        map->base = NULL;
        map->len = 0;
        map->lazy = false;
        errno = saved;
    }
}

bool loom__raw_owns (const struct ds_map *map, const void *p)
{
    return map && map->base && (const char *)p >= (const char *)map->base
           && (const char *)p < (const char *)map->base + map->len;
}

/* A cold mapping: the spans in file order (sequential for the kernel's readahead),
 * each 2 MiB piece populated, then hashed and copied while in the CPU cache.
 */
static int hash_lazy (const struct ds_map *map,
                      const struct ds_span *sp,
                      size_t n,
                      struct ds_sum *sum)
{
    size_t order[2 * DS_MAX_COLS], k = 0;
    for (size_t i = 0; i < n; i++) { /* insertion sort by file offset */
        size_t j = k++;
        for (; j > 0 && sp[order[j - 1]].at > sp[i].at; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    char *base = map->base;
    for (size_t o = 0; o < k; o++) {
        const struct ds_span *s = &sp[order[o]];
        const char *src = base + s->at;
        char *dst = s->dst == src ? NULL : s->dst; /* in place: hash only */
        for (uint64_t done = 0; done < s->len; done += LOOM__RAW_PIECE) {
            size_t len = (size_t)min_u64 (LOOM__RAW_PIECE, s->len - done);
            if (populate (base, s->at + done, len) < 0) {
                errno = EPROTO; /* the file is shorter than HDF5 said */
                return -1;
            }
            const void *p = src + done;
            void *d = dst ? dst + done : NULL;
            if (sum)
                loom__sum_update_n (sum, 1, &s->idx, &p, &d, &len);
            else if (d)
                memcpy (d, p, len);
        }
    }
    return 0;
}

int loom__raw_hash_mapped (const struct ds_map *map,
                           const struct ds_span *sp,
                           size_t n,
                           struct ds_sum *sum)
{
    if (map->lazy)
        return hash_lazy (map, sp, n, sum);
    size_t idx[2 * DS_MAX_COLS], len[2 * DS_MAX_COLS];
    const void *p[2 * DS_MAX_COLS];
    void *d[2 * DS_MAX_COLS];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (sp[i].len == 0)
            continue;
        idx[k] = sp[i].idx;
        p[k] = (const char *)map->base + sp[i].at;
        d[k] = sp[i].dst == p[k] ? NULL : sp[i].dst; /* in place: hash only */
        len[k++] = (size_t)sp[i].len;
    }
    if (sum) {
        loom__sum_update_n (sum, k, idx, p, d, len);
        return 0;
    }
    for (size_t j = 0; j < k; j++) /* not verifying: copy only */
        if (d[j])
            memcpy (d[j], p[j], len[j]);
    return 0;
}
