/* SPDX-License-Identifier: MIT */
/* Join results as records: the layout of a result value, and the run that puts
 * every result into a caller's shuffle (a record stream to the next stage).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "join_impl.h"

size_t loom_join_result_width (const struct loom_join_params *p)
{
    size_t lw = p->left_value_width, rw = p->right_value_width;
    switch (p->kind) {
    case LOOM_JOIN_SEMI:
    case LOOM_JOIN_ANTI:
        return lw;
    case LOOM_JOIN_INNER:
        return lw == LOOM_VARLEN || rw == LOOM_VARLEN ? LOOM_VARLEN : lw + rw;
    case LOOM_JOIN_LEFT_OUTER:
        return lw == LOOM_VARLEN || rw == LOOM_VARLEN ? LOOM_VARLEN : lw + rw + 4;
    }
    return LOOM_VARLEN;
}

size_t loom_join_result_size (const struct loom_join_params *p,
                              size_t left_len,
                              const void *right,
                              size_t right_len)
{
    if (p->kind == LOOM_JOIN_SEMI || p->kind == LOOM_JOIN_ANTI)
        return left_len;
    size_t rw = right                                 ? right_len
                : p->right_value_width == LOOM_VARLEN ? 0
                                                      : p->right_value_width;
    return left_len + rw + (p->kind == LOOM_JOIN_LEFT_OUTER ? 4 : 0);
}

size_t loom_join_result_encode (const struct loom_join_params *p,
                                void *buf,
                                const void *left,
                                size_t left_len,
                                const void *right,
                                size_t right_len)
{
    char *o = buf;
    if (left_len)
        memcpy (o, left, left_len);
    o += left_len;
    if (p->kind == LOOM_JOIN_SEMI || p->kind == LOOM_JOIN_ANTI)
        return (size_t)(o - (char *)buf);
    if (right) {
        if (right_len)
            memcpy (o, right, right_len);
        o += right_len;
    } else if (p->right_value_width != LOOM_VARLEN) {
        memset (o, 0, p->right_value_width);
        o += p->right_value_width;
    }
    if (p->kind == LOOM_JOIN_LEFT_OUTER) {
        int32_t m = right != NULL;
        memcpy (o, &m, 4);
        o += 4;
    }
    return (size_t)(o - (char *)buf);
}

struct to_shuffle {
    loom_shuffle_t *out;
    const struct loom_join_params *p;
    char *buf;
    size_t cap;
    loom_error_t *error;
};

static int put_result (const void *key,
                       size_t klen,
                       const void *left,
                       size_t llen,
                       const void *right,
                       size_t rlen,
                       void *arg)
{
    struct to_shuffle *t = arg;
    size_t need = loom_join_result_size (t->p, llen, right, rlen);
    if (need > t->cap) {
        char *b = realloc (t->buf, need * 2);
        if (!b) {
            errno = ENOMEM;
            return -1;
        }
        t->buf = b;
        t->cap = need * 2;
    }
    size_t n = loom_join_result_encode (t->p, t->buf, left, llen, right, rlen);
    return loom_shuffle_put (t->out, key, klen, t->buf, n, t->error);
}

int loom_join_run_shuffle (loom_join_t *j, loom_shuffle_t *out, loom_error_t *error)
{
    if (!j || !out)
        return loom_errset (error, EINVAL, "join: join or output shuffle is NULL");
    struct to_shuffle t = {out, join__params (j), NULL, 0, error};
    loom_error_t inner = {0};
    t.error = &inner;
    int rc = loom_join_run (j, put_result, &t, error);
    if (rc < 0 && inner.text[0])
        loom_errset (error, errno, "join: output shuffle: %s", inner.text);
    free (t.buf);
    return rc;
}
