/* test_flow_till.c - `kvitt pay` end to end at the till: a real `kvitt sim`
 * process over HTTP on loopback and the virtual printer (files).  Bad input,
 * push to an unknown number, Vipps' QR image printed as a raster, Ctrl-C. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/kvflow.h"
#include "tests/lib/kvtest.h"

static void expect_json(const char *out, const char *key, const char *want)
{
    char *v = kvf_json(out, key);
    if (!v || strcmp(v, want) != 0)
        fail_msg("%s: expected \"%s\", got \"%s\" in %s", key, want, v ? v : "(absent)", out);
    free(v);
}

static void test_flow_till__push_to_unknown_number(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "push", sim), 0);
    kvt_result r;
    const char *args[] = { "pay", "--amount", "20.00", "--phone", "4799999999", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    assert_int_equal(r.status, 1);
    /* a clear message, never the number itself */
    assert_null(strstr(r.err, "4799999999"));
    assert_null(strstr(r.out, "4799999999"));
    if (!strstr(r.err, "Vipps") && !strstr(r.err, "vipps"))
        fail_msg("unclear message: %s", r.err);
    kvt_result_free(&r);
    /* a known test user is pushed and pays */
    const char *ok[] = { "pay", "--amount", "20.00", "--phone", "+47 91234567", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, ok), 0);
    if (r.status != 0)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "state", "DONE");
    kvt_result_free(&r);
    kvf_stop(&e);
}

static void test_flow_till__bad_input_exit_2(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "bad", NULL), 0);
    struct { const char *opt, *val, *msg; } cases[] = {
        { "--amount", "abc", "not an amount" },
        { "--amount", "1.234", "more than two decimals" },
        { "--amount", "0.50", "at least 1.00 NOK" },
        { "--amount", "-5", "no sign" },
        { "--amount", "9999999", "at most" },
        { "--currency", "USD", "not supported" },
        { "--currency", "EUR", "does not match store oslo" },
        { "--store", "paris", "store 'paris' is not configured" },
        { "--phone", "123", "10 to 15 digits" },
        { "--phone", "47912x4567", "10 to 15 digits" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kvt_result r;
        const char *args[8] = { "pay", NULL };
        int n = 1;
        if (strcmp(cases[i].opt, "--amount") != 0) {
            args[n++] = "--amount";
            args[n++] = "10.00";
        }
        args[n++] = cases[i].opt;
        args[n++] = cases[i].val;
        args[n] = NULL;
        assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
        if (r.status != 2 || !strstr(r.err, cases[i].msg))
            fail_msg("%s %s: exit %d, stderr: %s", cases[i].opt, cases[i].val, r.status, r.err);
        kvt_result_free(&r);
    }
    /* items that do not add up */
    char *items = kvt_path("%s/items.json", e.dir);
    const char *json = "[{\"name\":\"Kaffe\",\"quantity\":1,\"unit_price\":\"40.00\",\"vat_rate\":15}]";
    assert_int_equal(kvt_write_file(items, json, strlen(json)), 0);
    kvt_result r;
    const char *args[] = { "pay", "--amount", "45.00", "--items", items, NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "items add up to 40.00 but the amount is 45.00"));
    kvt_result_free(&r);
    /* nothing was journaled or printed */
    assert_int_equal(kvf_jobs(&e, "oslo"), 0);
    free(items);
    kvf_stop(&e);
}

static void test_flow_till__qr_source_image_prints_vipps_png(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "image", sim), 0);
    assert_int_equal(kvf_set_in(&e, "[store oslo]", "qr_source", "image"), 0);
    kvt_result r;
    const char *args[] = { "pay", "--amount", "149.00", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    if (r.status != 0)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    char *slip = kvf_json(r.out, "slip");
    kvt_result_free(&r);
    /* Vipps' PNG went out as a raster image (GS v 0 = 1D 76 30), not as a
     * printer-drawn QR code (GS ( k = 1D 28 6B) */
    assert_true(kvf_file_has(slip, "\x1d\x76\x30"));
    assert_false(kvf_file_has(slip, "\x1d\x28\x6b"));
    /* and it scans (rendered, decoded by zbar) */
    const char *vargs[] = { "kvitt", "verify-qr", slip, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, vargs), 0);
    if (r.status != 0)
        fail_msg("verify-qr exit %d: %s %s", r.status, r.out, r.err);
    assert_non_null(strstr(r.out, "https://"));
    kvt_result_free(&r);
    free(slip);
    kvf_stop(&e);
}

static void test_flow_till__ctrl_c_cancels(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "sigint", NULL), 0); /* the customer does nothing */
    const char *argv[] = { "kvitt", "--config", e.conf, "pay", "--amount", "149.00", "--json", NULL };
    char *log = kvt_path("%s/pay.err", e.dir);
    kvt_proc *p = kvt_spawn(argv, NULL, log);
    assert_non_null(p);
    char *slip = kvt_path("%s/printer/oslo/0001.bin", e.dir);
    int printed = 0;
    for (int i = 0; i < 500 && !printed; i++) {
        usleep(20000);
        printed = access(slip, F_OK) == 0;
    }
    assert_true(printed);
    usleep(300000);
    kill(kvt_proc_pid(p), SIGINT);
    char *line = kvt_proc_readline(p, 20000);
    int ws = kvt_proc_stop(p, 0);
    assert_non_null(line);
    assert_true(WIFEXITED(ws));
    if (WEXITSTATUS(ws) != 1)
        fail_msg("exit %d: %s", WEXITSTATUS(ws), line);
    expect_json(line, "state", "CANCELLED");
    char *ref = kvf_json(line, "reference");
    assert_int_equal(kvf_keys(&e, ref, "/cancel", NULL), 1);
    char *np = kvf_json(line, "receipt");
    assert_true(kvf_file_has(np, "IKKE BETALT"));
    free(np);
    free(ref);
    free(line);
    free(slip);
    free(log);
    kvf_stop(&e);
}

static void test_flow_till__recover_leaves_another_process_payment_alone(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "twoproc", NULL), 0); /* nobody approves on their own */
    const char *argv[] = { "kvitt", "--config", e.conf, "pay", "--amount", "149.00", "--reference",
                           "TWO-PROC-0001", "--json", NULL };
    char *log = kvt_path("%s/pay.err", e.dir);
    kvt_proc *p = kvt_spawn(argv, NULL, log);
    assert_non_null(p);
    char *slip = kvt_path("%s/printer/oslo/0001.bin", e.dir);
    int printed = 0;
    for (int i = 0; i < 500 && !printed; i++) {
        usleep(20000);
        printed = access(slip, F_OK) == 0;
    }
    assert_true(printed);
    usleep(200000);
    /* another process (a second till, or `kvitt pay` starting) recovers
     * while the first still waits: it must not touch that payment */
    kvt_result r;
    const char *rargs[] = { "recover", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, rargs), 0);
    assert_int_equal(r.status, 0);
    expect_json(r.out, "examined", "0");
    kvt_result_free(&r);
    assert_int_equal(kvf_keys(&e, "TWO-PROC-0001", "/cancel", NULL), 0);
    long st = 0;
    char *b = kvf_http(&e, "POST", "/sim/v1/payments/TWO-PROC-0001/state", "{\"state\":\"AUTHORIZED\"}", &st);
    free(b);
    char *line = kvt_proc_readline(p, 20000);
    int ws = kvt_proc_stop(p, 0);
    assert_non_null(line);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
    expect_json(line, "state", "DONE");
    free(line);
    free(slip);
    free(log);
    kvf_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_till__push_to_unknown_number),
        cmocka_unit_test(test_flow_till__bad_input_exit_2),
        cmocka_unit_test(test_flow_till__qr_source_image_prints_vipps_png),
        cmocka_unit_test(test_flow_till__ctrl_c_cancels),
        cmocka_unit_test(test_flow_till__recover_leaves_another_process_payment_alone),
    };
    return cmocka_run_group_tests_name("flow_till", tests, NULL, NULL);
}
