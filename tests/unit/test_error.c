/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <loom/error.h>

static void errprintf_fills_and_preserves_errno (void **state)
{
    loom_error_t e;
    errno = ENOENT;
    assert_int_equal (loom_errprintf (&e, "file '%s' missing", "x.h5"), -1);
    assert_int_equal (errno, ENOENT);
    assert_string_equal (e.text, "file 'x.h5' missing");
}

static void errprintf_accepts_null (void **state)
{
    errno = EIO;
    assert_int_equal (loom_errprintf (NULL, "ignored %d", 1), -1);
    assert_int_equal (errno, EIO);
}

static void errprintf_truncates_and_strips_newline (void **state)
{
    loom_error_t e;
    char big[1000];
    memset (big, 'a', sizeof (big) - 1);
    big[sizeof (big) - 1] = '\0';
    loom_errprintf (&e, "%s", big);
    assert_int_equal (strlen (e.text), sizeof (e.text) - 1);
    loom_errprintf (&e, "one line\n");
    assert_string_equal (e.text, "one line");
}

static void errset_sets_errno (void **state)
{
    loom_error_t e;
    errno = 0;
    assert_int_equal (loom_errset (&e, EINVAL, "bad %s", "option"), -1);
    assert_int_equal (errno, EINVAL);
    assert_string_equal (e.text, "bad option");
    loom_error_clear (&e);
    assert_string_equal (e.text, "");
    loom_error_clear (NULL);
}

int main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (errprintf_fills_and_preserves_errno),
        cmocka_unit_test (errprintf_accepts_null),
        cmocka_unit_test (errprintf_truncates_and_strips_newline),
        cmocka_unit_test (errset_sets_errno),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
