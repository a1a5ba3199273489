/* SPDX-License-Identifier: MIT */
/* Basic types shared by every Loom component. */
#ifndef LOOM_TYPES_H
#define LOOM_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Symbols of the public API are exported; everything else is hidden. */
#if defined(LOOM_BUILDING)
#define LOOM_API __attribute__ ((visibility ("default")))
#else
#define LOOM_API
#endif

#define LOOM_PRINTF(fmt, args) __attribute__ ((format (printf, fmt, args)))

/* A one-line human-readable reason for a failure, filled by calls that take a trailing
 * 'loom_error_t *error' argument. Always NUL-terminated when filled.
 */
typedef struct {
    char text[256];
} loom_error_t;

#ifdef __cplusplus
}
#endif
#endif
