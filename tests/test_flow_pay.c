/* test_flow_pay.c - `kvitt pay` end to end: a real `kvitt sim` process over
 * HTTP on loopback and the virtual printer (files).  The outcomes (paid,
 * aborted, expired, insufficient funds) and the cancel/approve race; more
 * till cases in test_flow_till.c. */
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

static void test_flow_pay__paid_prints_slip_and_receipt(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "paid", sim), 0);
    char *items = kvt_path("%s/items.json", e.dir);
    const char *json = "[{\"name\":\"Kaffe latte\",\"quantity\":2,\"unit_price\":\"49.50\",\"vat_rate\":15},"
                       "{\"name\":\"Kanelbolle\",\"unit_price\":\"50.00\",\"vat_rate\":15}]";
    assert_int_equal(kvt_write_file(items, json, strlen(json)), 0);
    kvt_result r;
    const char *args[] = { "pay", "--amount", "149.00", "--items", items, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    if (r.status != 0)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "state", "DONE");
    expect_json(r.out, "amount", "149.00");
    expect_json(r.out, "captured", "149.00");
    expect_json(r.out, "exit_code", "0");
    char *ref = kvf_json(r.out, "reference");
    char *slip = kvf_json(r.out, "slip");
    char *receipt = kvf_json(r.out, "receipt");
    assert_non_null(ref);
    assert_true(strncmp(ref, "OSL-", 4) == 0);
    /* the slip carries the reference; the receipt the store's "paid with" line
     * (ASCII, so the same bytes in any code page), the items and the reference */
    assert_true(kvf_file_has(slip, ref));
    assert_true(kvf_file_has(receipt, "Betalt med Vipps MobilePay"));
    assert_true(kvf_file_has(receipt, "Kanelbolle"));
    assert_true(kvf_file_has(receipt, ref));
    assert_true(kvf_file_has(receipt, "till-1"));
    assert_int_equal(kvf_jobs(&e, "oslo"), 2);
    /* one create key, one capture key */
    assert_int_equal(kvf_keys(&e, ref, "", NULL), 1);
    assert_int_equal(kvf_keys(&e, ref, "/capture", NULL), 1);
    /* the journal knows it: find + status */
    const char *fargs[] = { "find", "--reference", ref, "--json", NULL };
    kvt_result_free(&r);
    assert_int_equal(kvf_kvitt(&e, &r, NULL, fargs), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "\"count\":1"));
    kvt_result_free(&r);
    const char *sargs[] = { "status", "--reference", ref, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, sargs), 0);
    assert_int_equal(r.status, 0);
    expect_json(r.out, "vipps_state", "AUTHORIZED");
    expect_json(r.out, "captured", "149.00");
    kvt_result_free(&r);
    /* reprint: a COPY */
    const char *rargs[] = { "reprint", "--reference", ref, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, rargs), 0);
    assert_int_equal(r.status, 0);
    char *copy = kvf_json(r.out, "receipt");
    assert_true(kvf_file_has(copy, "KOPI"));
    assert_false(kvf_file_has(receipt, "KOPI"));
    free(copy);
    kvt_result_free(&r);
    free(ref);
    free(slip);
    free(receipt);
    free(items);
    kvf_stop(&e);
}

static void run_not_paid(const char *mode, const char *amount, const char *reason)
{
    kvf_env e;
    const char *sim[] = { "--auto", mode, "--approve-after", "1", NULL };
    char name[64];
    snprintf(name, sizeof name, "np-%s-%s", mode, amount);
    assert_int_equal(kvf_start(&e, name, sim), 0);
    kvt_result r;
    const char *args[] = { "pay", "--amount", amount, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    if (r.status != 1)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "state", "NOT_PAID");
    expect_json(r.out, "reason", reason);
    char *np = kvf_json(r.out, "receipt");
    assert_non_null(np);
    assert_true(kvf_file_has(np, "IKKE BETALT"));
    char *ref = kvf_json(r.out, "reference");
    assert_int_equal(kvf_keys(&e, ref, "/capture", NULL), 0);
    free(ref);
    free(np);
    kvt_result_free(&r);
    kvf_stop(&e);
}

static void test_flow_pay__aborted(void **state)
{
    (void)state;
    run_not_paid("abort", "149.00", "ABORTED");
}

static void test_flow_pay__expired(void **state)
{
    (void)state;
    run_not_paid("expire", "149.00", "EXPIRED");
}

static void test_flow_pay__insufficient_funds(void **state)
{
    (void)state;
    /* the simulator's magic amount 1.51 = refused by the issuer
     * (insufficient funds): the app shows the refusal, the payment ends
     * ABORTED at Vipps, and its event log's failed AUTHORIZED makes it
     * DECLINED for the cashier */
    run_not_paid("approve", "1.51", "DECLINED");
}

static void test_flow_pay__approved_just_after_cancel_finishes_the_sale(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "race", NULL), 0); /* nobody approves on their own */
    char ref[64];
    snprintf(ref, sizeof ref, "RACE-%ld", (long)time(NULL));
    /* the first cancel attempt is answered "423 Locked, retry after 1 s"
     * without being processed; the customer approves in that second, so the
     * retried cancelTransactionOnly meets an authorized payment */
    char fault[512];
    snprintf(fault, sizeof fault,
             "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments/%s/cancel\",\"count\":1,"
             "\"action\":\"status\",\"status\":423,\"retryAfter\":1}", ref);
    assert_int_equal(kvf_fault(&e, fault), 0);
    char *outp = kvt_path("%s/pay.out", e.dir);
    const char *argv[] = { "kvitt", "--config", e.conf, "pay", "--amount", "149.00", "--reference", ref,
                           "--timeout", "2", "--json", NULL };
    char *log = kvt_path("%s/pay.err", e.dir);
    kvt_proc *p = kvt_spawn(argv, NULL, log);
    assert_non_null(p);
    /* wait until the cancel has arrived at the simulator */
    int seen = 0;
    for (int i = 0; i < 400 && !seen; i++) {
        usleep(20000);
        seen = kvf_keys(&e, ref, "/cancel", NULL) > 0;
    }
    assert_true(seen);
    char path[256];
    snprintf(path, sizeof path, "/sim/v1/payments/%s/state", ref);
    long st = 0;
    char *b = kvf_http(&e, "POST", path, "{\"state\":\"AUTHORIZED\"}", &st);
    assert_non_null(b);
    free(b);
    char *line = kvt_proc_readline(p, 20000);
    int ws = kvt_proc_stop(p, 0);
    assert_non_null(line);
    assert_true(WIFEXITED(ws));
    if (WEXITSTATUS(ws) != 0)
        fail_msg("exit %d: %s", WEXITSTATUS(ws), line);
    expect_json(line, "state", "DONE");
    expect_json(line, "approved_after_cancel", "true");
    assert_int_equal(kvf_keys(&e, ref, "/capture", NULL), 1);
    free(line);
    free(outp);
    free(log);
    kvf_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_pay__paid_prints_slip_and_receipt),
        cmocka_unit_test(test_flow_pay__aborted),
        cmocka_unit_test(test_flow_pay__expired),
        cmocka_unit_test(test_flow_pay__insufficient_funds),
        cmocka_unit_test(test_flow_pay__approved_just_after_cancel_finishes_the_sale),
    };
    return cmocka_run_group_tests_name("flow_pay", tests, NULL, NULL);
}
