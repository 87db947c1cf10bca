/* test_cli.c - the kvitt program's dispatcher, run as a real process. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "tests/lib/kvtest.h"

static void test_cli__version(void **state)
{
    (void)state;
    kvt_result r;
    const char *argv[] = { "kvitt", "version", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "kvitt "));
    kvt_result_free(&r);
}

static void test_cli__unknown_command_exits_2(void **state)
{
    (void)state;
    kvt_result r;
    const char *argv[] = { "kvitt", "no-such-command", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "not a kvitt command"));
    kvt_result_free(&r);
}

static void test_cli__no_command_prints_usage(void **state)
{
    (void)state;
    kvt_result r;
    const char *argv[] = { "kvitt", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "usage: kvitt"));
    kvt_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli__version),
        cmocka_unit_test(test_cli__unknown_command_exits_2),
        cmocka_unit_test(test_cli__no_command_prints_usage),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
