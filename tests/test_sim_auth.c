/*
 * test_sim_auth.c - access tokens (POST /accesstoken/get) and the
 * authentication of API calls: credentials, subscription keys, Merchant-
 * Serial-Number, token expiry.
 * `kvitt sim` runs as a real child process, driven over real HTTP on
 * loopback (tests/lib/kvtsim.c). Expected values (paths, status codes, error
 * codes, states) come from ../shared/docs/vipps-api.md, cited at each test;
 * nothing is captured from the simulator's own output.
 */
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

#include <cjson/cJSON.h>

#include "sim/sim.h"
#include "tests/lib/kvtest.h"
#include "tests/lib/kvtsim.h"

static kvts_sim g_sim;   /* the shared simulator of the suite (default options) */

static int setup(void **state) { (void)state; return kvts_suite_setup(&g_sim); }
static int teardown(void **state) { (void)state; kvts_suite_teardown(&g_sim); return 0; }

/* doc §1.2: unknown credentials -> 401; token fields are strings;
 * API calls need "Bearer <token>" + the subscription key (§1.2, §12.2). */
static void test_sim__token_rules(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    kv_sim_cred bad = *kvts_cred("oslo");
    bad.client_id = "00000000-0000-0000-0000-000000000000";
    kvts_resp r;
    kvts_get_token(&r, U, &bad, "123456");
    assert_int_equal(r.status, 401);
    kvts_resp_free(&r);
    bad = *kvts_cred("oslo");
    bad.client_secret = "wrong";
    kvts_get_token(&r, U, &bad, "123456");
    assert_int_equal(r.status, 401);
    assert_null(strstr(r.body, "wrong")); /* the secret is never echoed */
    kvts_resp_free(&r);
    bad = *kvts_cred("oslo");
    bad.subscription_key = "ffffffffffffffffffffffffffffffff";
    kvts_get_token(&r, U, &bad, "123456");
    assert_int_equal(r.status, 401);
    kvts_resp_free(&r);

    kvts_get_token(&r, U, kvts_cred("oslo"), "123456");
    assert_int_equal(r.status, 200);
    assert_string_equal(kvts_jstr(r.json, "token_type"), "Bearer");
    /* expires_in, expires_on, not_before are JSON strings (doc table §1.2) */
    assert_non_null(kvts_jstr(r.json, "expires_in"));
    assert_non_null(kvts_jstr(r.json, "expires_on"));
    assert_non_null(kvts_jstr(r.json, "not_before"));
    assert_non_null(kvts_jstr(r.json, "ext_expires_in"));
    assert_non_null(kvts_jstr(r.json, "resource"));
    assert_true(strlen(kvts_jstr(r.json, "access_token")) > 1000);
    long on = atol(kvts_jstr(r.json, "expires_on")), nb = atol(kvts_jstr(r.json, "not_before"));
    assert_int_equal(on - nb, atol(kvts_jstr(r.json, "expires_in")));
    kvts_resp_free(&r);

    kvts_api a;
    kvts_login(&a, U, "oslo", NULL);
    /* without the word Bearer -> 401 */
    char noBearer[4200];
    snprintf(noBearer, sizeof noBearer, "Authorization: %s", a.token);
    const char *h1[] = { noBearer, a.sub, a.msn, NULL };
    kvts_http(&r, U, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", h1, NULL);
    assert_int_equal(r.status, 401);
    kvts_resp_free(&r);
    /* a made-up token -> 401 */
    const char *h2[] = { "Authorization: Bearer abc.def.ghi", a.sub, a.msn, NULL };
    kvts_http(&r, U, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", h2, NULL);
    assert_int_equal(r.status, 401);
    kvts_resp_free(&r);
    /* no subscription key -> 401 */
    const char *h3[] = { a.auth, a.msn, NULL };
    kvts_http(&r, U, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", h3, NULL);
    assert_int_equal(r.status, 401);
    kvts_resp_free(&r);
    /* oslo's token with bergen's subscription key -> 401 */
    char bsub[300];
    snprintf(bsub, sizeof bsub, "Ocp-Apim-Subscription-Key: %s", kvts_cred("bergen")->subscription_key);
    const char *h4[] = { a.auth, bsub, NULL };
    kvts_http(&r, U, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", h4, NULL);
    assert_int_equal(r.status, 401);
    kvts_resp_free(&r);
    /* a valid token and an unknown reference: 404 (authenticated) */
    kvts_call(&r, U, &a, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", NULL, NULL);
    assert_int_equal(r.status, 404);
    kvts_resp_free(&r);
    /* foreign MSN with merchant keys -> 403 (doc §2.3) */
    kvts_api f;
    kvts_login(&f, U, "oslo", NULL);
    snprintf(f.msn, sizeof f.msn, "Merchant-Serial-Number: 234567");
    kvts_call(&r, U, &f, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", NULL, NULL);
    assert_int_equal(r.status, 403);
    kvts_resp_free(&r);
}

/* Token expiry: a simulator with --token-ttl 1. */
static void test_sim__token_expires(void **state)
{
    (void)state;
    kvts_sim s;
    const char *extra[] = { "--token-ttl", "1", NULL };
    assert_int_equal(kvts_sim_start(&s, extra), 0);
    kvts_api a;
    kvts_login(&a, s.url, "bergen", NULL);
    kvts_resp r;
    kvts_call(&r, s.url, &a, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", NULL, NULL);
    assert_int_equal(r.status, 404);
    kvts_resp_free(&r);
    kvts_sleep_ms(1300);
    kvts_call(&r, s.url, &a, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", NULL, NULL);
    assert_int_equal(r.status, 401);
    kvts_resp_free(&r);
    kvts_login(&a, s.url, "bergen", NULL); /* a fresh token works again */
    kvts_call(&r, s.url, &a, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", NULL, NULL);
    assert_int_equal(r.status, 404);
    kvts_resp_free(&r);
    kvts_sim_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim__token_rules),
        cmocka_unit_test(test_sim__token_expires),
    };
    return cmocka_run_group_tests_name("sim_auth", tests, setup, teardown);
}
