/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include <loom/error.h>

static void vfill (loom_error_t *error, const char *fmt, va_list ap)
{
    if (!error)
        return;
    int n = vsnprintf (error->text, sizeof (error->text), fmt, ap);
    /* One line: drop a trailing newline a caller may have added. */
    if (n > 0 && (size_t)n < sizeof (error->text) && error->text[n - 1] == '\n')
        error->text[n - 1] = '\0';
}

int loom_errprintf (loom_error_t *error, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start (ap, fmt);
    vfill (error, fmt, ap);
    va_end (ap);
    errno = saved;
    return -1;
}

int loom_errset (loom_error_t *error, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vfill (error, fmt, ap);
    va_end (ap);
    errno = errnum;
    return -1;
}

void loom_error_clear (loom_error_t *error)
{
    if (error)
        error->text[0] = '\0';
}
