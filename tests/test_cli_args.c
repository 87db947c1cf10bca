/* test_cli_args.c - what a new user types: --config anywhere, a wrong
 * option, --config naming a folder.  The real kvitt program runs; the
 * configuration is the one `kvitt sim --write-config` writes (the
 * commands used here never reach the simulator's URL). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim/sim.h"
#include "tests/lib/kvtest.h"

static char *conf_path;

static int setup(void **state)
{
    (void)state;
    char *dir = kvt_path("%s/args", kvt_tmpdir());
    mkdir(dir, 0755);
    conf_path = kvt_path("%s/kvitt.conf", dir);
    free(dir);
    /* Port 9 (discard) on loopback: nothing here talks to it. */
    return kv_sim_write_config_url("http://127.0.0.1:9", conf_path) == KV_SIM_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(conf_path);
    return 0;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* `find` loads the configuration; an empty journal finds nothing (exit 1).
 * A configuration problem would be exit 3, an unknown option exit 2. */
static void run_find(const char *const argv[], const char *const env[])
{
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, env, 60, argv), 0);
    if (r.status != 1)
        printf("status %d\nstderr: %s\n", r.status, r.err);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err, "");
    kvt_result_free(&r);
}

static void test_cli_args__config_before_or_after_the_command(void **state)
{
    (void)state;
    char *eq = kvt_path("--config=%s", conf_path);
    const char *before[] = { "kvitt", "--config", conf_path, "find", "--store", "oslo", NULL };
    const char *after[] = { "kvitt", "find", "--store", "oslo", "--config", conf_path, NULL };
    const char *middle[] = { "kvitt", "find", "--config", conf_path, "--store", "oslo", NULL };
    const char *equals[] = { "kvitt", "find", eq, "--store", "oslo", NULL };
    /* KVITT_CONFIG names a file that does not exist: only --config can work. */
    const char *env[] = { "KVITT_CONFIG=/nonexistent/kvitt.conf", NULL };
    run_find(before, env);
    run_find(after, env);
    run_find(middle, env);
    run_find(equals, env);
    free(eq);
}

/* Every command accepts --config after its name, also those that do not
 * read a configuration (a usage error would be exit 2 and say so). */
static void test_cli_args__every_command_accepts_config_after(void **state)
{
    (void)state;
    kvt_result h;
    const char *help[] = { "kvitt", "help", NULL };
    assert_int_equal(kvt_run(&h, NULL, NULL, 30, help), 0);
    const char *p = strstr(h.out, "commands:\n");
    assert_non_null(p);
    p += strlen("commands:\n");
    int checked = 0;
    char name[64];
    while (sscanf(p, " %63s", name) == 1 && strncmp(p, "  ", 2) == 0) {
        const char *argv[] = { "kvitt", name, "--config", conf_path, "--help", NULL };
        kvt_result r;
        assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
        if (r.status != 0 || strstr(r.err, "config"))
            printf("kvitt %s --config FILE --help: exit %d\n%s\n", name, r.status, r.err);
        assert_int_equal(r.status, 0);
        kvt_result_free(&r);
        checked++;
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    assert_true(checked >= 20);
    kvt_result_free(&h);
}

/* A wrong option: one line that names it and where help is, exit 2; not
 * the whole usage text. */
static void test_cli_args__unknown_option_is_one_line(void **state)
{
    (void)state;
    const char *argv[] = { "kvitt", "pay", "--bogus", NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 2);
    assert_int_equal(count_lines(r.err), 1);
    assert_non_null(strstr(r.err, "'--bogus'"));
    assert_non_null(strstr(r.err, "kvitt pay --help"));
    assert_null(strstr(r.err, "usage:"));
    assert_string_equal(r.out, "");
    kvt_result_free(&r);

    /* The same for every command, and for a missing value. */
    const char *cmds[] = { "find", "refund", "status", "recover", "slip", "print", "printers",
                           "selftest", "sim", "serve", "webhooks", "render", "dump", "verify-qr",
                           "vprinter", "profiles", "sample-receipt", "capture", "cancel", "reprint" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        const char *a2[] = { "kvitt", cmds[i], "--no-such-option", NULL };
        assert_int_equal(kvt_run(&r, NULL, NULL, 30, a2), 0);
        if (r.status != 2 || count_lines(r.err) != 1 || !strstr(r.err, "'--no-such-option'"))
            printf("kvitt %s --no-such-option: exit %d\n%s", cmds[i], r.status, r.err);
        assert_int_equal(r.status, 2);
        assert_int_equal(count_lines(r.err), 1);
        assert_non_null(strstr(r.err, "'--no-such-option'"));
        kvt_result_free(&r);
    }
    const char *a3[] = { "kvitt", "pay", "--amount", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, a3), 0);
    assert_int_equal(r.status, 2);
    assert_int_equal(count_lines(r.err), 1);
    assert_non_null(strstr(r.err, "'--amount' needs a value"));
    kvt_result_free(&r);
}

/* --config naming a folder says so (not "no [kvitt] section"). */
static void test_cli_args__config_is_a_directory(void **state)
{
    (void)state;
    const char *argv[] = { "kvitt", "--config", kvt_tmpdir(), "find", NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 3);
    assert_non_null(strstr(r.err, "is a directory"));
    assert_null(strstr(r.err, "[kvitt] section"));
    kvt_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_args__config_before_or_after_the_command),
        cmocka_unit_test(test_cli_args__every_command_accepts_config_after),
        cmocka_unit_test(test_cli_args__unknown_option_is_one_line),
        cmocka_unit_test(test_cli_args__config_is_a_directory),
    };
    return cmocka_run_group_tests_name("cli_args", tests, setup, teardown);
}
