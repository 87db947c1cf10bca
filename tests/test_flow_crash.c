/* test_flow_crash.c - `kill -9` at every step of `kvitt pay`, then
 * `kvitt recover`, end to end against a real `kvitt sim` and the virtual
 * printer.  The crash comes from the flow's test hook KVITT_TEST_CRASH_AT
 * (the process raises SIGKILL on itself at that step).  After recover the
 * payment is final, captured exactly once when it was authorized, and has
 * a receipt; a second recover changes nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/kvflow.h"
#include "tests/lib/kvtest.h"

static char *get(const char *out, const char *key)
{
    char *v = kvf_json(out, key);
    if (!v)
        fail_msg("no %s in %s", key, out);
    return v;
}

static int receipt_printed(kvf_env *e, const char *ref)
{
    for (int i = 1; i < 20; i++) {
        char *p = kvt_path("%s/printer/oslo/%04d.bin", e->dir, i);
        int hit = kvf_file_has(p, "KVITTERING") && kvf_file_has(p, ref);
        free(p);
        if (hit)
            return 1;
    }
    return 0;
}

static void crash_then_recover(const char *step, int authorized)
{
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    char name[64];
    snprintf(name, sizeof name, "crash-%s", step);
    assert_int_equal(kvf_start(&e, name, sim), 0);
    char ref[64];
    snprintf(ref, sizeof ref, "CRASH-%s-%ld", step, (long)time(NULL));
    char *hook = kvt_path("KVITT_TEST_CRASH_AT=%s", step);
    const char *env[] = { hook, NULL };
    kvt_result r;
    const char *args[] = { "pay", "--amount", "149.00", "--reference", ref, "--no-recover", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, env, args), 0);
    if (r.status != 128 + 9)
        fail_msg("%s: expected death by SIGKILL, exit %d: %s %s", step, r.status, r.out, r.err);
    kvt_result_free(&r);
    /* let the customer's approval (1 s after create) land first */
    usleep(1500000);
    const char *rargs[] = { "recover", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, rargs), 0);
    if (r.status != 0)
        fail_msg("%s: recover exit %d: %s %s", step, r.status, r.out, r.err);
    char *ex = get(r.out, "examined");
    assert_string_equal(ex, "1");
    free(ex);
    kvt_result_free(&r);
    const char *sargs[] = { "status", "--local", "--reference", ref, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, sargs), 0);
    char *st = get(r.out, "state");
    if (authorized) {
        if (strcmp(st, "DONE") != 0)
            fail_msg("%s: state %s: %s", step, st, r.out);
        char *cap = get(r.out, "captured");
        assert_string_equal(cap, "149.00");
        free(cap);
        assert_int_equal(kvf_keys(&e, ref, "/capture", NULL), 1);
        assert_true(receipt_printed(&e, ref));
    } else {
        if (strcmp(st, "CANCELLED") != 0 && strcmp(st, "NOT_PAID") != 0)
            fail_msg("%s: state %s: %s", step, st, r.out);
        assert_int_equal(kvf_keys(&e, ref, "/capture", NULL), 0);
    }
    free(st);
    kvt_result_free(&r);
    /* a second recover finds nothing to do and moves no money */
    assert_int_equal(kvf_kvitt(&e, &r, NULL, rargs), 0);
    assert_int_equal(r.status, 0);
    ex = get(r.out, "examined");
    assert_string_equal(ex, "0");
    free(ex);
    kvt_result_free(&r);
    assert_int_equal(kvf_keys(&e, ref, "/capture", NULL), authorized ? 1 : 0);
    free(hook);
    kvf_stop(&e);
}

static void test_flow_crash__after_journaling(void **state)
{
    (void)state;
    crash_then_recover("journaled", 0); /* never created: nobody saw a QR */
}

static void test_flow_crash__after_create(void **state)
{
    (void)state;
    crash_then_recover("created", 1);
}

static void test_flow_crash__after_slip(void **state)
{
    (void)state;
    crash_then_recover("slip", 1);
}

static void test_flow_crash__while_waiting(void **state)
{
    (void)state;
    crash_then_recover("waiting", 1);
}

static void test_flow_crash__after_capture(void **state)
{
    (void)state;
    crash_then_recover("captured", 1);
}

static void test_flow_crash__before_receipt(void **state)
{
    (void)state;
    crash_then_recover("receipt", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_crash__after_journaling),
        cmocka_unit_test(test_flow_crash__after_create),
        cmocka_unit_test(test_flow_crash__after_slip),
        cmocka_unit_test(test_flow_crash__while_waiting),
        cmocka_unit_test(test_flow_crash__after_capture),
        cmocka_unit_test(test_flow_crash__before_receipt),
    };
    return cmocka_run_group_tests_name("flow_crash", tests, NULL, NULL);
}
