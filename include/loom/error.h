/* SPDX-License-Identifier: MIT */
/* Filling loom_error_t: see the error rule at the top of loom/loom.h. */
#ifndef LOOM_ERROR_H
#define LOOM_ERROR_H

#include <loom/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Format a one-line message into 'error' (which may be NULL), truncating if needed.
 * Returns -1 so an error path is one line: 'return loom_errprintf (error, ...);'.
 * errno is preserved. This function can't fail.
 */
LOOM_API int loom_errprintf (loom_error_t *error, const char *fmt, ...)
    LOOM_PRINTF (2, 3);

/* Like loom_errprintf(), then sets errno to 'errnum'. Returns -1. */
LOOM_API int loom_errset (loom_error_t *error, int errnum, const char *fmt, ...)
    LOOM_PRINTF (3, 4);

/* Clear 'error' (which may be NULL) to the empty string. */
LOOM_API void loom_error_clear (loom_error_t *error);

#ifdef __cplusplus
}
#endif
#endif
