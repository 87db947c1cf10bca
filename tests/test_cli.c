/* test_cli.c - the kvitt program's dispatcher, run as a real process. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* A running kvitt process (the simulator, a long-lived command) must never
 * be able to write a core dump: its memory holds secrets and tokens. The
 * limit is read back from the real process's /proc/PID/limits. */
static void test_cli__no_core_dumps(void **state)
{
    (void)state;
    const char *argv[] = { "kvitt", "sim", "--listen", "127.0.0.1:0", "--quiet", "--exit-with-parent", NULL };
    kvt_proc *p = kvt_spawn(argv, NULL, NULL);
    assert_non_null(p);
    char *url = kvt_proc_readline(p, 20000);
    assert_non_null(url);
    free(url);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/limits", (int)kvt_proc_pid(p));
    unsigned char *lim = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(path, &lim, &len), 0);
    const char *line = strstr((char *)lim, "Max core file size");
    assert_non_null(line);
    unsigned long soft = 99, hard = 99;
    assert_int_equal(sscanf(line, "Max core file size %lu %lu", &soft, &hard), 2);
    assert_int_equal(soft, 0);
    assert_int_equal(hard, 0);
    free(lim);
    kvt_proc_stop(p, SIGTERM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli__version),
        cmocka_unit_test(test_cli__unknown_command_exits_2),
        cmocka_unit_test(test_cli__no_command_prints_usage),
        cmocka_unit_test(test_cli__no_core_dumps),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
