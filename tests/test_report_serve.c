/* test_report_serve.c - GET /v1/reports/day of the daemon (`kvitt serve`
 * as a child process, real `kvitt sim`, real journal): a till sees its own
 * store, a till with chain_refund its chain, others get 403. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/kvtserve.h"
#include "tests/lib/kvtest.h"

static kvt_serve_env e;

static char *pay(const char *token, const char *key, const char *amount)
{
    kvt_http_resp r;
    char body[64];
    snprintf(body, sizeof body, "{\"amount\":\"%s\"}", amount);
    assert_int_equal(kvt_serve_req(&r, &e, "POST", "/v1/payments", token, key, body), 0);
    if (r.status != 201)
        fail_msg("pay: %ld %s", r.status, r.body);
    char *ref = kvt_json_str(r.body, "reference");
    kvt_http_free(&r);
    char *done = kvt_serve_wait_state(&e, token, ref, "DONE", 20000);
    assert_non_null(done);
    free(done);
    return ref;
}

static cJSON *stores_of(const char *body)
{
    cJSON *o = cJSON_Parse(body);
    assert_non_null(o);
    return o;
}

static int has_store(cJSON *o, const char *store)
{
    cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(o, "stores"))
        if (!strcmp(cJSON_GetObjectItemCaseSensitive(s, "store")->valuestring, store))
            return 1;
    return 0;
}

static void test_report_serve__day_by_till_rights(void **state)
{
    (void)state;
    kvt_serve_opts o = { .sim_args = { "--auto", "approve", "--approve-after", "0" } };
    if (kvt_serve_setup(&e, "reports", &o) < 0) {
        kvt_serve_teardown(&e);
        fail_msg("fixture did not start");
    }
    char *a = pay(KVT_TOK_OSLO, "r-1", "120.00");
    char *b = pay(KVT_TOK_BERGEN2, "r-2", "30.00");
    kvt_http_resp r;
    /* the Oslo till: Oslo only */
    assert_int_equal(kvt_serve_req(&r, &e, "GET", "/v1/reports/day", KVT_TOK_OSLO, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    cJSON *j = stores_of(r.body);
    assert_true(has_store(j, "oslo"));
    assert_false(has_store(j, "bergen"));
    cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "stores"), 0);
    cJSON *sales = cJSON_GetObjectItemCaseSensitive(s0, "sales");
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(sales, "count")->valuedouble, 1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(sales, "amount")->valuestring, "120.00");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(s0, "first_reference")->valuestring, a);
    cJSON_Delete(j);
    kvt_http_free(&r);
    /* a Bergen till without chain_refund may not see Oslo */
    assert_int_equal(kvt_serve_req(&r, &e, "GET", "/v1/reports/day?store=oslo", KVT_TOK_BERGEN2, NULL, NULL), 0);
    assert_int_equal(r.status, 403);
    kvt_http_free(&r);
    /* the Bergen till with chain_refund sees the chain */
    assert_int_equal(kvt_serve_req(&r, &e, "GET", "/v1/reports/day", KVT_TOK_BERGEN, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    j = stores_of(r.body);
    assert_true(has_store(j, "oslo"));
    assert_true(has_store(j, "bergen"));
    cJSON_Delete(j);
    kvt_http_free(&r);
    assert_int_equal(kvt_serve_req(&r, &e, "GET", "/v1/reports/day?store=oslo", KVT_TOK_BERGEN, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    j = stores_of(r.body);
    assert_true(has_store(j, "oslo"));
    assert_false(has_store(j, "bergen"));
    cJSON_Delete(j);
    kvt_http_free(&r);
    /* bad input and no token */
    assert_int_equal(kvt_serve_req(&r, &e, "GET", "/v1/reports/day?date=2026-13-40", KVT_TOK_OSLO, NULL, NULL), 0);
    assert_int_equal(r.status, 400);
    kvt_http_free(&r);
    assert_int_equal(kvt_serve_req(&r, &e, "GET", "/v1/reports/day?store=nowhere", KVT_TOK_OSLO, NULL, NULL), 0);
    assert_int_equal(r.status, 404);
    kvt_http_free(&r);
    assert_int_equal(kvt_serve_req(&r, &e, "GET", "/v1/reports/day", NULL, NULL, NULL), 0);
    assert_int_equal(r.status, 401);
    kvt_http_free(&r);
    assert_int_equal(kvt_serve_req(&r, &e, "POST", "/v1/reports/day", KVT_TOK_OSLO, NULL, "{}"), 0);
    assert_int_equal(r.status, 405);
    kvt_http_free(&r);
    /* an empty day */
    assert_int_equal(kvt_serve_req(&r, &e, "GET", "/v1/reports/day?date=2020-01-01", KVT_TOK_OSLO, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    j = stores_of(r.body);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "stores")), 0);
    cJSON_Delete(j);
    kvt_http_free(&r);
    free(a);
    free(b);
    kvt_serve_teardown(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_serve__day_by_till_rights),
    };
    return cmocka_run_group_tests_name("report_serve", tests, NULL, NULL);
}
