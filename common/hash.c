/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <xxhash.h>

#include <loom/hash.h>

struct loom_hash_state {
    XXH64_state_t *st;
};

uint64_t loom_hash64 (const void *data, size_t len, uint64_t seed)
{
    static const char empty[1];
    return XXH64 (len ? data : empty, len, seed);
}

loom_hash_state_t *loom_hash_state_create (uint64_t seed)
{
    loom_hash_state_t *h = malloc (sizeof (*h));
    if (!h || !(h->st = XXH64_createState ())) {
        free (h);
        errno = ENOMEM;
        return NULL;
    }
    XXH64_reset (h->st, seed);
    return h;
}

void loom_hash_state_update (loom_hash_state_t *h, const void *data, size_t len)
{
    if (len)
        XXH64_update (h->st, data, len);
}

uint64_t loom_hash_state_digest (const loom_hash_state_t *h)
{
    return XXH64_digest (h->st);
}

void loom_hash_state_destroy (loom_hash_state_t *h)
{
    if (h) {
        int saved = errno;
        XXH64_freeState (h->st);
        free (h);
        errno = saved;
    }
}
