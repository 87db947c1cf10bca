/* test_flow_refund.c - `kvitt refund` end to end against a real `kvitt sim`:
 * partial and full refunds with the captured-minus-refunded limit, refund
 * slips, and refunds at another store of the same chain in the three
 * patterns (central credentials of the origin store, partner keys with the
 * origin store's MSN, one MSN for every store with a reference prefix). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/lib/kvflow.h"
#include "tests/lib/kvtest.h"

static void expect_json(const char *out, const char *key, const char *want)
{
    char *v = kvf_json(out, key);
    if (!v || strcmp(v, want) != 0)
        fail_msg("%s: expected \"%s\", got \"%s\" in %s", key, want, v ? v : "(absent)", out);
    free(v);
}

/* Pay 149.00 at oslo; returns the reference (malloc'd). */
static char *pay_oslo(kvf_env *e)
{
    kvt_result r;
    const char *args[] = { "pay", "--amount", "149.00", "--json", NULL };
    assert_int_equal(kvf_kvitt(e, &r, NULL, args), 0);
    if (r.status != 0)
        fail_msg("pay exit %d: %s %s", r.status, r.out, r.err);
    char *ref = kvf_json(r.out, "reference");
    kvt_result_free(&r);
    return ref;
}

static int refund(kvf_env *e, kvt_result *r, const char *ref, const char *amount, const char *store)
{
    const char *args[10] = { "refund", "--reference", ref, "--json" };
    int n = 4;
    if (amount) {
        args[n++] = "--amount";
        args[n++] = amount;
    }
    if (store) {
        args[n++] = "--store";
        args[n++] = store;
    }
    args[n] = NULL;
    return kvf_kvitt(e, r, NULL, args);
}

static void test_flow_refund__partial_full_and_limit(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "limit", sim), 0);
    char *ref = pay_oslo(&e);
    kvt_result r;
    assert_int_equal(refund(&e, &r, ref, "50.00", NULL), 0);
    if (r.status != 0)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "refunded", "50.00");
    char *slip = kvf_json(r.out, "receipt");
    assert_true(kvf_file_has(slip, "RETUR"));
    assert_true(kvf_file_has(slip, ref));
    free(slip);
    kvt_result_free(&r);
    /* 99.00 is left: 100.00 is refused, with the figure */
    assert_int_equal(refund(&e, &r, ref, "100.00", NULL), 0);
    assert_int_equal(r.status, 1);
    char *d = kvf_json(r.out, "detail");
    assert_non_null(strstr(d, "only 99.00 NOK is left"));
    free(d);
    kvt_result_free(&r);
    /* no amount: the rest */
    assert_int_equal(refund(&e, &r, ref, NULL, NULL), 0);
    assert_int_equal(r.status, 0);
    expect_json(r.out, "refunded", "149.00");
    kvt_result_free(&r);
    assert_int_equal(refund(&e, &r, ref, "0.01", NULL), 0);
    assert_int_equal(r.status, 1);
    kvt_result_free(&r);
    assert_int_equal(kvf_keys(&e, ref, "/refund", NULL), 2);
    free(ref);
    kvf_stop(&e);
}

static void test_flow_refund__other_store_central_credentials(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "central", sim), 0);
    char *ref = pay_oslo(&e);
    /* the cashier stands in Bergen; the payment is Oslo's: refunded with
     * Oslo's credentials and MSN (the simulator refuses Bergen's) */
    kvt_result r;
    assert_int_equal(refund(&e, &r, ref, "20.00", "bergen"), 0);
    if (r.status != 0)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "refunded", "20.00");
    expect_json(r.out, "store", "oslo");
    char *slip = kvf_json(r.out, "receipt");
    assert_non_null(strstr(slip, "/printer/bergen/"));
    assert_true(kvf_file_has(slip, "Bergen"));
    free(slip);
    kvt_result_free(&r);
    /* another chain: refused */
    assert_int_equal(kvf_set_in(&e, "[store bergen]", "chain", "otherchain"), 0);
    assert_int_equal(refund(&e, &r, ref, "1.00", "bergen"), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "not in the chain"));
    kvt_result_free(&r);
    free(ref);
    kvf_stop(&e);
}

static void test_flow_refund__other_store_partner_keys(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "partner", sim), 0);
    /* every store uses the partner keys; the MSN comes from the store */
    assert_int_equal(kvf_set_in(&e, "[store oslo]", "credentials", "nordkaffe-partner"), 0);
    assert_int_equal(kvf_set_in(&e, "[store bergen]", "credentials", "nordkaffe-partner"), 0);
    char *ref = pay_oslo(&e);
    kvt_result r;
    assert_int_equal(refund(&e, &r, ref, "30.00", "bergen"), 0);
    if (r.status != 0)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "refunded", "30.00");
    kvt_result_free(&r);
    free(ref);
    kvf_stop(&e);
}

static void test_flow_refund__one_msn_prefix_not_in_this_journal(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "onemsn", sim), 0);
    /* one sales unit for every store: same MSN and keys, store prefixes */
    assert_int_equal(kvf_set_in(&e, "[store bergen]", "msn", "123456"), 0);
    assert_int_equal(kvf_set_in(&e, "[store bergen]", "credentials", "oslo"), 0);
    char *ref = pay_oslo(&e);
    assert_true(strncmp(ref, "OSL-", 4) == 0);
    /* the Bergen till has its own journal without this payment: the
     * origin store comes from the reference prefix */
    assert_int_equal(kvf_set(&e, "journal", "bergen-till.db"), 0);
    kvt_result r;
    assert_int_equal(refund(&e, &r, ref, "49.00", "bergen"), 0);
    if (r.status != 0)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "refunded", "49.00");
    expect_json(r.out, "store", "oslo");
    kvt_result_free(&r);
    /* an unknown prefix is not guessed */
    assert_int_equal(refund(&e, &r, "XYZ-20260101-abcd", "1.00", "bergen"), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "prefix names no configured store"));
    kvt_result_free(&r);
    free(ref);
    kvf_stop(&e);
}

static void test_flow_refund__crash_after_refund_then_recover_once(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "crashrefund", sim), 0);
    char *ref = pay_oslo(&e);
    /* the refund is answered by Vipps, then the process dies before the
     * answer reaches the journal */
    const char *env[] = { "KVITT_TEST_CRASH_AT=refunded", NULL };
    const char *args[] = { "refund", "--reference", ref, "--amount", "20.00", NULL };
    kvt_result r;
    assert_int_equal(kvf_kvitt(&e, &r, env, args), 0);
    assert_int_equal(r.status, 128 + 9);
    kvt_result_free(&r);
    const char *rargs[] = { "recover", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, rargs), 0);
    if (r.status != 0)
        fail_msg("recover exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "finished", "1");
    kvt_result_free(&r);
    /* resent with the same key: refunded once at Vipps and in the journal */
    int sends = 0;
    assert_int_equal(kvf_keys(&e, ref, "/refund", &sends), 1);
    assert_int_equal(sends, 2);
    const char *sargs[] = { "status", "--reference", ref, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, sargs), 0);
    expect_json(r.out, "refunded", "20.00");
    kvt_result_free(&r);
    const char *largs[] = { "status", "--local", "--reference", ref, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, largs), 0);
    expect_json(r.out, "refunded", "20.00");
    kvt_result_free(&r);
    free(ref);
    kvf_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_refund__partial_full_and_limit),
        cmocka_unit_test(test_flow_refund__other_store_central_credentials),
        cmocka_unit_test(test_flow_refund__other_store_partner_keys),
        cmocka_unit_test(test_flow_refund__one_msn_prefix_not_in_this_journal),
        cmocka_unit_test(test_flow_refund__crash_after_refund_then_recover_once),
    };
    return cmocka_run_group_tests_name("flow_refund", tests, NULL, NULL);
}
