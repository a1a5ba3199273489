/* SPDX-License-Identifier: MIT */
/* LSD radix sort of (key, value) pairs: graph loading sorts tens of millions of edges
 * by source and by destination, where qsort's comparisons through a function pointer
 * cost 5-10x more. Digits are 11 bits and only the passes the largest key needs are
 * run, so ids below 2^22 take two passes.
 */
#include <string.h>

#include "internal.h"

#define DIGIT_BITS 11
#define BUCKETS    (1u << DIGIT_BITS)

void pregel_radix_sort (struct pregel_pair *a, struct pregel_pair *tmp, size_t n)
{
    uint64_t all = 0;
    for (size_t i = 0; i < n; i++)
        all |= a[i].key;
    unsigned bits = all ? 64 - (unsigned)__builtin_clzll (all) : 0;
    unsigned passes = (bits + DIGIT_BITS - 1) / DIGIT_BITS;
    struct pregel_pair *from = a, *to = tmp;
    size_t count[BUCKETS]; /* 16 KiB of stack */
    for (unsigned p = 0; p < passes; p++) {
        unsigned shift = p * DIGIT_BITS;
        memset (count, 0, sizeof (count));
        for (size_t i = 0; i < n; i++)
            count[(from[i].key >> shift) & (BUCKETS - 1)]++;
        size_t sum = 0;
        for (unsigned b = 0; b < BUCKETS; b++) {
            size_t c = count[b];
            count[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            to[count[(from[i].key >> shift) & (BUCKETS - 1)]++] = from[i];
        struct pregel_pair *t = from;
        from = to;
        to = t;
    }
    if (from != a)
        memcpy (a, from, n * sizeof (*a));
}
