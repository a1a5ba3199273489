/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <loom/log.h>

static int calls;
static loom_log_level_t last_level;
static char last_text[256];

static void capture (loom_log_level_t level, const char *text, void *arg)
{
    calls++;
    last_level = level;
    snprintf (last_text, sizeof (last_text), "%s", text);
    *(int *)arg += 1;
}

static void level_parse_table (void **state)
{
    static const struct {
        const char *s;
        int ok;
        loom_log_level_t level;
    } cases[] = {
        {"debug", 1, LOOM_LOG_DEBUG},
        {"INFO", 1, LOOM_LOG_INFO},
        {"warn", 1, LOOM_LOG_WARN},
        {"error", 1, LOOM_LOG_ERROR},
        {"verbose", 0, 0},
        {"", 0, 0},
        {NULL, 0, 0},
    };
    for (size_t i = 0; i < sizeof (cases) / sizeof (cases[0]); i++) {
        loom_log_level_t l = LOOM_LOG_ERROR;
        errno = 0;
        int rc = loom_log_level_parse (cases[i].s, &l);
        if (cases[i].ok) {
            assert_int_equal (rc, 0);
            assert_int_equal (l, cases[i].level);
        } else {
            assert_int_equal (rc, -1);
            assert_int_equal (errno, EINVAL);
        }
    }
    assert_string_equal (loom_log_level_name (LOOM_LOG_WARN), "warn");
    assert_string_equal (loom_log_level_name ((loom_log_level_t)42), "unknown");
}

static void threshold_filters_messages (void **state)
{
    int seen = 0;
    loom_log_set_handler (capture, &seen);
    loom_log_set_level (LOOM_LOG_WARN);
    loom_info ("hidden %d", 1);
    assert_int_equal (seen, 0);
    assert_false (loom_log_enabled (LOOM_LOG_INFO));
    loom_warn ("shown %d", 2);
    assert_int_equal (seen, 1);
    assert_int_equal (last_level, LOOM_LOG_WARN);
    assert_string_equal (last_text, "shown 2");
    loom_log_set_level (LOOM_LOG_DEBUG);
    loom_debug ("now visible");
    assert_int_equal (seen, 2);
    assert_string_equal (last_text, "now visible");
    loom_log_set_handler (NULL, NULL);
}

static void log_preserves_errno (void **state)
{
    int seen = 0;
    loom_log_set_handler (capture, &seen);
    loom_log_set_level (LOOM_LOG_DEBUG);
    errno = ENOSPC;
    loom_warn ("disk full");
    assert_int_equal (errno, ENOSPC);
    loom_log_set_handler (NULL, NULL);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (level_parse_table),
        cmocka_unit_test (threshold_filters_messages),
        cmocka_unit_test (log_preserves_errno),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
