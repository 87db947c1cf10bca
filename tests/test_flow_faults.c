/* test_flow_faults.c - `kvitt pay` under faults, end to end: a real
 * `kvitt sim` with scripted faults (5xx storms, 429, a dropped connection
 * during capture), printers out of paper (virtual printer state, and a
 * real `kvitt vprinter` over TCP that runs out between slip and receipt),
 * and an unreachable service. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static void make_ref(char *buf, size_t len, const char *tag)
{
    static int n;
    snprintf(buf, len, "%s-%ld-%d", tag, (long)time(NULL), ++n);
}

static void pay_ok(kvf_env *e, const char *ref)
{
    kvt_result r;
    const char *args[] = { "pay", "--amount", "149.00", "--reference", ref, "--json", NULL };
    assert_int_equal(kvf_kvitt(e, &r, NULL, args), 0);
    if (r.status != 0)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "state", "DONE");
    expect_json(r.out, "captured", "149.00");
    kvt_result_free(&r);
}

static void test_flow_faults__5xx_storm_same_keys(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "storm", sim), 0);
    char ref[64], f[512];
    make_ref(ref, sizeof ref, "STORM");
    assert_int_equal(kvf_fault(&e, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments\",\"count\":2,"
                                    "\"action\":\"status\",\"status\":503}"), 0);
    snprintf(f, sizeof f, "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/%s\",\"count\":5,"
                          "\"action\":\"status\",\"status\":500}", ref);
    assert_int_equal(kvf_fault(&e, f), 0);
    snprintf(f, sizeof f, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments/%s/capture\",\"count\":2,"
                          "\"action\":\"status\",\"status\":502}", ref);
    assert_int_equal(kvf_fault(&e, f), 0);
    pay_ok(&e, ref);
    int sends = 0;
    /* every retry reused its key: one create key and one capture key */
    assert_int_equal(kvf_keys(&e, ref, "", &sends), 1);
    assert_true(sends >= 3);
    assert_int_equal(kvf_keys(&e, ref, "/capture", &sends), 1);
    assert_true(sends >= 3);
    kvf_stop(&e);
}

static void test_flow_faults__rate_limited_polls(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "429", sim), 0);
    char ref[64], f[512];
    make_ref(ref, sizeof ref, "RATE");
    snprintf(f, sizeof f, "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/%s\",\"count\":6,"
                          "\"action\":\"status\",\"status\":429,\"retryAfter\":1}", ref);
    assert_int_equal(kvf_fault(&e, f), 0);
    pay_ok(&e, ref);
    assert_int_equal(kvf_keys(&e, ref, "/capture", NULL), 1);
    kvf_stop(&e);
}

static void test_flow_faults__dropped_connection_during_capture(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "drop", sim), 0);
    char ref[64], f[512];
    make_ref(ref, sizeof ref, "DROP");
    /* the capture is performed, then the connection drops: answer lost */
    snprintf(f, sizeof f, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments/%s/capture\",\"count\":1,"
                          "\"action\":\"drop\",\"when\":\"after\"}", ref);
    assert_int_equal(kvf_fault(&e, f), 0);
    pay_ok(&e, ref);
    /* exactly one capture operation (one key), and Vipps holds 149.00
     * captured, not twice that */
    assert_int_equal(kvf_keys(&e, ref, "/capture", NULL), 1);
    kvt_result r;
    const char *sargs[] = { "status", "--reference", ref, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, sargs), 0);
    assert_int_equal(r.status, 0);
    expect_json(r.out, "captured", "149.00");
    kvt_result_free(&r);
    kvf_stop(&e);
}

static void test_flow_faults__paper_out_before_slip_cancels_exit_4(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "paperout", sim), 0);
    char ref[64];
    make_ref(ref, sizeof ref, "PAPER");
    char *uri = kvt_path("virtual:%s/out?state=paper-out", e.dir);
    kvt_result r;
    const char *args[] = { "pay", "--amount", "149.00", "--reference", ref, "--printer", uri, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    if (r.status != 4)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "state", "CANCELLED");
    char *detail = kvf_json(r.out, "detail");
    assert_non_null(detail);
    if (!strstr(detail, "paper"))
        fail_msg("detail does not say why: %s", detail);
    free(detail);
    /* the payment was cancelled at Vipps, nothing captured */
    assert_int_equal(kvf_keys(&e, ref, "/cancel", NULL), 1);
    assert_int_equal(kvf_keys(&e, ref, "/capture", NULL), 0);
    kvt_result_free(&r);
    free(uri);
    kvf_stop(&e);
}

static int wait_file(const char *path, int ms)
{
    struct stat st;
    for (int i = 0; i < ms / 20; i++) {
        if (stat(path, &st) == 0)
            return 0;
        usleep(20000);
    }
    return -1;
}

static void test_flow_faults__paper_out_before_receipt_then_recover(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "2", NULL };
    assert_int_equal(kvf_start(&e, "receiptout", sim), 0);
    char *out = kvt_path("%s/vp", e.dir);
    char *ctl = kvt_path("%s/vp-state", e.dir);
    mkdir(out, 0755);
    const char *vargv[] = { "kvitt", "vprinter", "--listen", "127.0.0.1:0", "--out", out, "--control", ctl, NULL };
    char *vlog = kvt_path("%s/vprinter.log", e.dir);
    kvt_proc *vp = kvt_spawn(vargv, NULL, vlog);
    assert_non_null(vp);
    char *uri = kvt_proc_readline(vp, 10000);
    assert_non_null(uri);
    char ref[64];
    make_ref(ref, sizeof ref, "RCPT");
    const char *argv[] = { "kvitt", "--config", e.conf, "pay", "--amount", "149.00", "--reference", ref,
                           "--printer", uri, "--json", NULL };
    char *plog = kvt_path("%s/pay.err", e.dir);
    kvt_proc *pay = kvt_spawn(argv, NULL, plog);
    assert_non_null(pay);
    /* the slip arrives; then the roll runs out before the receipt */
    char *slip = kvt_path("%s/0001.bin", out);
    assert_int_equal(wait_file(slip, 10000), 0);
    assert_int_equal(kvt_write_file(ctl, "paper-out\n", 10), 0);
    char *line = kvt_proc_readline(pay, 20000);
    int ws = kvt_proc_stop(pay, 0);
    assert_non_null(line);
    assert_true(WIFEXITED(ws));
    if (WEXITSTATUS(ws) != 0) /* paid: the money moved, the receipt waits */
        fail_msg("exit %d: %s", WEXITSTATUS(ws), line);
    expect_json(line, "state", "CAPTURED");
    expect_json(line, "receipt_queued", "true");
    free(line);
    /* paper loaded again: recover prints the queued receipt */
    assert_int_equal(kvt_write_file(ctl, "ok\n", 3), 0);
    usleep(300000);
    kvt_result r;
    const char *rargs[] = { "recover", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, rargs), 0);
    if (r.status != 0)
        fail_msg("recover exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "reprinted", "1");
    expect_json(r.out, "captured", "0");
    kvt_result_free(&r);
    const char *sargs[] = { "status", "--local", "--reference", ref, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, sargs), 0);
    expect_json(r.out, "state", "DONE");
    kvt_result_free(&r);
    /* the receipt reached the TCP printer (the last job holds it) */
    int found = 0;
    for (int i = 2; i < 10 && !found; i++) {
        char *p = kvt_path("%s/%04d.bin", out, i);
        found = kvf_file_has(p, "KVITTERING") && kvf_file_has(p, ref);
        free(p);
    }
    assert_true(found);
    assert_int_equal(kvf_keys(&e, ref, "/capture", NULL), 1);
    kvt_proc_stop(vp, SIGTERM);
    free(slip);
    free(plog);
    free(uri);
    free(vlog);
    free(out);
    free(ctl);
    kvf_stop(&e);
}

static void test_flow_faults__service_unreachable_exit_5(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "down", NULL), 0);
    kvf_stop(&e); /* nobody listens at the configured URL any more */
    assert_int_equal(kvf_set(&e, "connect_timeout_ms", "500"), 0);
    kvt_result r;
    const char *args[] = { "pay", "--amount", "149.00", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    if (r.status != 5)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "state", "NOT_PAID");
    kvt_result_free(&r);
    /* nothing was printed: no QR was shown */
    assert_int_equal(kvf_jobs(&e, "oslo"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_faults__5xx_storm_same_keys),
        cmocka_unit_test(test_flow_faults__rate_limited_polls),
        cmocka_unit_test(test_flow_faults__dropped_connection_during_capture),
        cmocka_unit_test(test_flow_faults__paper_out_before_slip_cancels_exit_4),
        cmocka_unit_test(test_flow_faults__paper_out_before_receipt_then_recover),
        cmocka_unit_test(test_flow_faults__service_unreachable_exit_5),
    };
    return cmocka_run_group_tests_name("flow_faults", tests, NULL, NULL);
}
