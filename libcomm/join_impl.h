/* SPDX-License-Identifier: MIT */
/* Internals of the join (libcomm/join*.c). Not installed. */
#ifndef LOOM_LIBCOMM_JOIN_IMPL_H
#define LOOM_LIBCOMM_JOIN_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include <loom/join.h>

/* Tuples of one side on this rank: records encoded back to back as
 * [u32 key_len][u32 value_len][key][value], unaligned.
 */
struct join_buf {
    uint8_t *data;
    size_t len, cap;
    uint64_t n;
};

int join_buf_add (
    struct join_buf *b, const void *key, size_t klen, const void *val, size_t vlen);
void join_buf_free (struct join_buf *b);

/* Local join of 'left' and 'right' (each possibly several buffers, e.g. one per
 * source) with a radix-partitioned hash join. 'swap': the right buffers hold the
 * left side's tuples and vice versa (an inner join that built on the left side).
 * Calls emit as loom_join_emit_f. Returns 0, or -1 with errno set (ENOMEM, or the
 * emit's errno); '*results' counts emitted tuples.
 */
int join_local (loom_join_kind_t kind,
                const struct join_buf *left,
                size_t nleft,
                const struct join_buf *right,
                size_t nright,
                int swap,
                uint64_t seed,
                loom_join_emit_f emit,
                void *arg,
                uint64_t *results);

#endif
