/* test_serve_chain.c - refunds across the stores of a chain through
 * `kvitt serve`, in the three multi-store patterns: central credentials
 * per store, partner keys with each store's MSN, and one MSN for every
 * store with a store prefix in the reference.  Real `kvitt sim` (which
 * only accepts a refund from the sales unit that made the payment) and
 * the daemon as child processes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/kvtserve.h"

/* The fixture of the running test, torn down by cleanup() even when an
 * assertion ends the test early. */
static kvt_serve_env e;

static int cleanup(void **state)
{
    (void)state;
    kvt_serve_teardown(&e);
    return 0;
}

static void refund_across_stores(const char *pattern)
{
    kvt_serve_opts o = { .pattern = pattern,
                         .sim_args = { "--auto", "approve", "--approve-after", "0" } };
    if (kvt_serve_setup(&e, pattern, &o) < 0) {
        kvt_serve_teardown(&e);
        fail_msg("fixture %s did not start", pattern);
    }
    /* A purchase in Oslo. */
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, &e, "POST", "/v1/payments", KVT_TOK_OSLO, "buy-1",
                                   "{\"amount\":\"200.00\"}"), 0);
    assert_int_equal(r.status, 201);
    char *ref = kvt_json_str(r.body, "reference");
    kvt_http_free(&r);
    assert_true(!strncmp(ref, "OSL-", 4));
    char *done = kvt_serve_wait_state(&e, KVT_TOK_OSLO, ref, "DONE", 15000);
    assert_non_null(done);
    free(done);

    char path[256];
    snprintf(path, sizeof path, "/v1/payments/%s/refund", ref);
    /* A Bergen till without chain_refund: 403, nothing sent. */
    assert_int_equal(kvt_serve_req(&r, &e, "POST", path, KVT_TOK_BERGEN2, "ref-0",
                                   "{\"amount\":\"50.00\"}"), 0);
    assert_int_equal(r.status, 403);
    kvt_http_free(&r);
    char rp[256];
    snprintf(rp, sizeof rp, "POST /epayment/v1/payments/%s/refund", ref);
    assert_int_equal(kvt_sim_count(&e, rp), 0);
    /* An MSN in the request is refused, never obeyed: the origin comes
     * from the journal. */
    assert_int_equal(kvt_serve_req(&r, &e, "POST", path, KVT_TOK_BERGEN, "ref-msn",
                                   "{\"amount\":\"50.00\",\"msn\":\"234567\"}"), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "msn"));
    kvt_http_free(&r);
    /* The Bergen till with chain_refund refunds part of it. */
    assert_int_equal(kvt_serve_req(&r, &e, "POST", path, KVT_TOK_BERGEN, "ref-1",
                                   "{\"amount\":\"50.00\"}"), 0);
    if (r.status != 200)
        printf("refund (%s) answered %ld: %s\n", pattern, r.status, r.body);
    assert_int_equal(r.status, 200);
    char *refunded = kvt_json_str(r.body, "refunded");
    assert_string_equal(refunded, "50.00");
    free(refunded);
    char *store = kvt_json_str(r.body, "store");
    assert_string_equal(store, "oslo"); /* still Oslo's payment */
    free(store);
    kvt_http_free(&r);
    /* The till retries the same refund: replayed, not refunded twice. */
    assert_int_equal(kvt_serve_req(&r, &e, "POST", path, KVT_TOK_BERGEN, "ref-1",
                                   "{\"amount\":\"50.00\"}"), 0);
    assert_int_equal(r.status, 200);
    kvt_http_free(&r);
    assert_int_equal(kvt_sim_count(&e, rp), 1);
    /* More than what is left: refused by the flow. */
    assert_int_equal(kvt_serve_req(&r, &e, "POST", path, KVT_TOK_BERGEN, "ref-2",
                                   "{\"amount\":\"151.00\"}"), 0);
    assert_int_equal(r.status, 409);
    kvt_http_free(&r);
    /* The rest, from Oslo itself (no amount = everything left). */
    assert_int_equal(kvt_serve_req(&r, &e, "POST", path, KVT_TOK_OSLO, "ref-3", NULL), 0);
    assert_int_equal(r.status, 200);
    refunded = kvt_json_str(r.body, "refunded");
    assert_string_equal(refunded, "200.00");
    free(refunded);
    kvt_http_free(&r);
    /* The chain till finds the order in the chain's journal. */
    char q[256];
    snprintf(q, sizeof q, "/v1/orders?reference=%s", ref);
    assert_int_equal(kvt_serve_req(&r, &e, "GET", q, KVT_TOK_BERGEN, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, ref));
    kvt_http_free(&r);
    /* A refund needs an Idempotency-Key. */
    assert_int_equal(kvt_serve_req(&r, &e, "POST", path, KVT_TOK_OSLO, NULL, NULL), 0);
    assert_int_equal(r.status, 400);
    kvt_http_free(&r);
    free(ref);
    kvt_serve_teardown(&e);
}

static void test_serve_chain__central_credentials(void **state)
{
    (void)state;
    refund_across_stores("central");
}

static void test_serve_chain__partner_keys(void **state)
{
    (void)state;
    refund_across_stores("partner");
}

static void test_serve_chain__one_msn_with_prefixes(void **state)
{
    (void)state;
    refund_across_stores("one-msn");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_serve_chain__central_credentials, cleanup),
        cmocka_unit_test_teardown(test_serve_chain__partner_keys, cleanup),
        cmocka_unit_test_teardown(test_serve_chain__one_msn_with_prefixes, cleanup),
    };
    return cmocka_run_group_tests_name("serve_chain", tests, NULL, NULL);
}
