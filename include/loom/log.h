/* SPDX-License-Identifier: MIT */
/* Leveled logging. Library code logs through here and never prints directly.
 *
 * The threshold comes from LOOM_LOG=debug|info|warn|error (default: warn), read on
 * first use. Messages at or above it go to the handler: by default one line on
 * stderr, "loom[<rank>]: <level>: <text>", where rank is set by loom_log_set_rank().
 * Programs that collect logs (loomd, the launcher) install their own handler.
 */
#ifndef LOOM_LOG_H
#define LOOM_LOG_H

#include <loom/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    LOOM_LOG_DEBUG = 0,
    LOOM_LOG_INFO = 1,
    LOOM_LOG_WARN = 2,
    LOOM_LOG_ERROR = 3,
} loom_log_level_t;

typedef void (*loom_log_handler_f) (loom_log_level_t level,
                                    const char *text,
                                    void *arg);

/* Log a message at 'level'. Cheap when the level is below the threshold. Thread-safe.
 */
LOOM_API void loom_log (loom_log_level_t level, const char *fmt, ...)
    LOOM_PRINTF (2, 3);

#define loom_debug(...) loom_log (LOOM_LOG_DEBUG, __VA_ARGS__)
#define loom_info(...)  loom_log (LOOM_LOG_INFO, __VA_ARGS__)
#define loom_warn(...)  loom_log (LOOM_LOG_WARN, __VA_ARGS__)

/* Is 'level' at or above the threshold? Lets callers skip building costly messages. */
LOOM_API int loom_log_enabled (loom_log_level_t level);

/* Set the threshold, overriding LOOM_LOG. */
LOOM_API void loom_log_set_level (loom_log_level_t level);

/* Parse "debug", "info", "warn" or "error" (case-insensitive) into *level.
 * Returns 0, or -1 with errno EINVAL for any other string.
 */
LOOM_API int loom_log_level_parse (const char *s, loom_log_level_t *level);

/* Name of a level ("debug" ...). This function can't fail. */
LOOM_API const char *loom_log_level_name (loom_log_level_t level);

/* Replace the handler (NULL restores the stderr handler). Not thread-safe against
 * concurrent loom_log() calls: install it at start-up.
 */
LOOM_API void loom_log_set_handler (loom_log_handler_f fn, void *arg);

/* Rank shown in the default handler's prefix; -1 (the default) shows none. */
LOOM_API void loom_log_set_rank (int rank);

#ifdef __cplusplus
}
#endif
#endif
