/* test_flow_ecom.c - `kvitt pay` with flow = ecom-qr (the POS guide's eCom
 * v2 + QR API flow) end to end against a real `kvitt sim` and the virtual
 * printer: paid (and refunded), aborted, given up at the till, and killed
 * after the create then recovered. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void start_ecom(kvf_env *e, const char *name, const char *const sim[])
{
    assert_int_equal(kvf_start(e, name, sim), 0);
    assert_int_equal(kvf_set_in(e, "[store oslo]", "flow", "ecom-qr"), 0);
}

static void test_flow_ecom__paid_then_refunded(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    start_ecom(&e, "paid", sim);
    kvt_result r;
    const char *args[] = { "pay", "--amount", "149.00", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    if (r.status != 0)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "state", "DONE");
    expect_json(r.out, "captured", "149.00");
    char *ref = kvf_json(r.out, "reference");
    char *slip = kvf_json(r.out, "slip");
    kvt_result_free(&r);
    /* the slip's QR is the QR API's one-time code and scans */
    const char *vargs[] = { "kvitt", "verify-qr", slip, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, vargs), 0);
    assert_int_equal(r.status, 0);
    kvt_result_free(&r);
    const char *rargs[] = { "refund", "--reference", ref, "--amount", "49.00", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, rargs), 0);
    if (r.status != 0)
        fail_msg("refund exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "refunded", "49.00");
    kvt_result_free(&r);
    const char *too_much[] = { "refund", "--reference", ref, "--amount", "100.01", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, too_much), 0);
    assert_int_equal(r.status, 1);
    kvt_result_free(&r);
    free(ref);
    free(slip);
    kvf_stop(&e);
}

static void test_flow_ecom__aborted(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "abort", "--approve-after", "1", NULL };
    start_ecom(&e, "abort", sim);
    kvt_result r;
    const char *args[] = { "pay", "--amount", "149.00", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    if (r.status != 1)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "state", "NOT_PAID");
    expect_json(r.out, "captured", "0.00");
    kvt_result_free(&r);
    kvf_stop(&e);
}

static void test_flow_ecom__timeout_cancels(void **state)
{
    (void)state;
    kvf_env e;
    start_ecom(&e, "timeout", NULL);
    kvt_result r;
    const char *args[] = { "pay", "--amount", "149.00", "--timeout", "2", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    if (r.status != 1)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "state", "CANCELLED");
    char *np = kvf_json(r.out, "receipt");
    assert_true(kvf_file_has(np, "IKKE BETALT"));
    free(np);
    kvt_result_free(&r);
    kvf_stop(&e);
}

static void test_flow_ecom__crash_after_create_then_recover(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    start_ecom(&e, "crash", sim);
    const char *env[] = { "KVITT_TEST_CRASH_AT=slip", NULL };
    kvt_result r;
    const char *args[] = { "pay", "--amount", "149.00", "--reference", "ECOM-CRASH-0001", "--no-recover", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, env, args), 0);
    assert_int_equal(r.status, 128 + 9);
    kvt_result_free(&r);
    usleep(1500000);
    const char *rargs[] = { "recover", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, rargs), 0);
    if (r.status != 0)
        fail_msg("recover exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "captured", "1");
    kvt_result_free(&r);
    const char *sargs[] = { "status", "--reference", "ECOM-CRASH-0001", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, sargs), 0);
    expect_json(r.out, "state", "DONE");
    expect_json(r.out, "captured", "149.00");
    kvt_result_free(&r);
    kvf_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_ecom__paid_then_refunded),
        cmocka_unit_test(test_flow_ecom__aborted),
        cmocka_unit_test(test_flow_ecom__timeout_cancels),
        cmocka_unit_test(test_flow_ecom__crash_after_create_then_recover),
    };
    return cmocka_run_group_tests_name("flow_ecom", tests, NULL, NULL);
}
