/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <loom/log.h>

static const char *level_names[] = {"debug", "info", "warn", "error"};

/* -1 until first use, then the threshold. Racy first reads all compute the same value,
 * so no lock is needed.
 */
static int threshold = -1;
static int log_rank = -1;
static loom_log_handler_f handler;
static void *handler_arg;

int loom_log_level_parse (const char *s, loom_log_level_t *level)
{
    for (int i = 0; s && i < 4; i++) {
        if (strcasecmp (s, level_names[i]) == 0) {
            if (level)
                *level = (loom_log_level_t)i;
            return 0;
        }
    }
    errno = EINVAL;
    return -1;
}

const char *loom_log_level_name (loom_log_level_t level)
{
    if ((int)level < 0 || level > LOOM_LOG_ERROR)
        return "unknown";
    return level_names[level];
}

static int get_threshold (void)
{
    if (threshold < 0) {
        loom_log_level_t l = LOOM_LOG_WARN;
        const char *env = getenv ("LOOM_LOG");
        if (env && *env && loom_log_level_parse (env, &l) < 0)
            l = LOOM_LOG_WARN; /* a typo must not silence errors */
        threshold = (int)l;
    }
    return threshold;
}

int loom_log_enabled (loom_log_level_t level)
{
    return (int)level >= get_threshold ();
}

void loom_log_set_level (loom_log_level_t level)
{
    threshold = (int)level;
}

void loom_log_set_handler (loom_log_handler_f fn, void *arg)
{
    handler = fn;
    handler_arg = arg;
}

void loom_log_set_rank (int rank)
{
    log_rank = rank;
}

void loom_log (loom_log_level_t level, const char *fmt, ...)
{
    if (!loom_log_enabled (level))
        return;
    int saved = errno;
    char text[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof (text), fmt, ap);
    va_end (ap);
    if (handler) {
        handler (level, text, handler_arg);
    } else if (log_rank >= 0) {
        fprintf (stderr, "loom[%d]: %s: %s\n", log_rank, loom_log_level_name (level),
                 text);
    } else {
        fprintf (stderr, "loom: %s: %s\n", loom_log_level_name (level), text);
    }
    errno = saved;
}
