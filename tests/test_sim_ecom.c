/*
 * test_sim_ecom.c - the eCom API v2 with callbacks delivered to a real
 * receiver.
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

/* doc §4 and §8: eCom initiate, approve, callback (Authorization =
 * authToken, path callbackPrefix/v2/payments/{orderId}), details newest
 * first, capture with X-Request-Id, cancel (PUT), refund. */
static void test_sim__ecom(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    kvts_receiver rv;
    kvts_receiver_start(&rv, 0);
    kvts_api a;
    kvts_login(&a, U, "oslo", NULL);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\",\"callbackPrefix\":\"http://127.0.0.1:%d/vipps\","
             "\"fallBack\":\"https://example.no\",\"authToken\":\"cb-secret-42\"},\"customerInfo\":{},"
             "\"transaction\":{\"orderId\":\"OSL-ecom-0001\",\"amount\":20000,\"transactionText\":\"Kaffe\","
             "\"skipLandingPage\":false}}", rv.port);
    kvts_resp r;
    kvts_call(&r, U, &a, "POST", "/ecomm/v2/payments", NULL, body);
    assert_int_equal(r.status, 200);
    assert_string_equal(kvts_jstr(r.json, "orderId"), "OSL-ecom-0001");
    assert_non_null(kvts_jstr(r.json, "url"));
    char landing[512];
    snprintf(landing, sizeof landing, "%s", kvts_jstr(r.json, "url"));
    kvts_resp_free(&r);
    /* the landing page (no authentication) names the order */
    assert_true(!strncmp(landing, U, strlen(U)));
    kvts_http(&r, U, "GET", landing + strlen(U), NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.hdrs, "text/html"));
    assert_non_null(strstr(r.body, "OSL-ecom-0001"));
    kvts_resp_free(&r);
    /* initiate is not idempotent: the same orderId again -> 34 */
    kvts_call(&r, U, &a, "POST", "/ecomm/v2/payments", NULL, body);
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_ecom_code(&r), "34");
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "GET", "/ecomm/v2/payments/OSL-ecom-0001/details", NULL, NULL);
    assert_int_equal(r.status, 200);
    const cJSON *h = cJSON_GetObjectItem(r.json, "transactionLogHistory");
    assert_string_equal(kvts_jstr(cJSON_GetArrayItem(h, 0), "operation"), "INITIATE");
    kvts_resp_free(&r);
    /* capture before reserve -> 62 */
    kvts_callh(&r, U, &a, "POST", "/ecomm/v2/payments/OSL-ecom-0001/capture", "X-Request-Id: cap-0",
               "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\"},\"transaction\":{\"amount\":5000,\"transactionText\":\"x\"}}");
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_ecom_code(&r), "62");
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "POST", "/ecomm/v2/integration-test/payments/OSL-ecom-0001/approve", NULL,
              "{\"customerPhoneNumber\":\"91234567\"}");
    assert_int_equal(r.status, 200);
    kvts_resp_free(&r);
    assert_int_equal(kvts_receiver_wait(&rv, 1, 5000), 1);
    pthread_mutex_lock(&rv.mu);
    assert_string_equal(rv.rec[0].path, "/vipps/v2/payments/OSL-ecom-0001");
    assert_string_equal(rv.rec[0].auth, "cb-secret-42");
    cJSON *cb = cJSON_Parse(rv.rec[0].body);
    pthread_mutex_unlock(&rv.mu);
    assert_string_equal(kvts_jstr(cb, "merchantSerialNumber"), "123456");
    assert_string_equal(kvts_jstr(cb, "orderId"), "OSL-ecom-0001");
    assert_string_equal(kvts_jstr(cb, "transactionInfo.status"), "RESERVED");
    assert_int_equal((long)kvts_jnum(cb, "transactionInfo.amount"), 20000);
    cJSON_Delete(cb);
    /* capture needs X-Request-Id */
    kvts_call(&r, U, &a, "POST", "/ecomm/v2/payments/OSL-ecom-0001/capture", NULL,
              "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\"},\"transaction\":{\"amount\":5000,\"transactionText\":\"x\"}}");
    assert_int_equal(r.status, 400);
    kvts_resp_free(&r);
    const char *capbody = "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\"},"
                          "\"transaction\":{\"amount\":5000,\"transactionText\":\"Kaffe\"}}";
    kvts_resp r2;
    kvts_callh(&r, U, &a, "POST", "/ecomm/v2/payments/OSL-ecom-0001/capture", "X-Request-Id: cap-1", capbody);
    assert_int_equal(r.status, 200);
    assert_string_equal(kvts_jstr(r.json, "transactionInfo.status"), "Captured");
    assert_int_equal((long)kvts_jnum(r.json, "transactionSummary.capturedAmount"), 5000);
    assert_int_equal((long)kvts_jnum(r.json, "transactionSummary.remainingAmountToCapture"), 15000);
    kvts_callh(&r2, U, &a, "POST", "/ecomm/v2/payments/OSL-ecom-0001/capture", "X-Request-Id: cap-1", capbody);
    assert_int_equal(r2.status, 200);
    assert_string_equal(r.body, r2.body); /* replay */
    kvts_resp_free(&r);
    kvts_resp_free(&r2);
    /* capture is POST; PUT is refused */
    kvts_callh(&r, U, &a, "PUT", "/ecomm/v2/payments/OSL-ecom-0001/capture", "X-Request-Id: cap-2", capbody);
    assert_int_equal(r.status, 405);
    kvts_resp_free(&r);
    /* refund more than captured -> 71; a partial refund */
    kvts_callh(&r, U, &a, "POST", "/ecomm/v2/payments/OSL-ecom-0001/refund", "X-Request-Id: ref-1",
               "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\"},\"transaction\":{\"amount\":9000,\"transactionText\":\"Retur\"}}");
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_ecom_code(&r), "71");
    kvts_resp_free(&r);
    kvts_callh(&r, U, &a, "POST", "/ecomm/v2/payments/OSL-ecom-0001/refund", "X-Request-Id: ref-2",
               "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\"},\"transaction\":{\"amount\":2000,\"transactionText\":\"Retur\"}}");
    assert_int_equal(r.status, 200);
    assert_string_equal(kvts_jstr(r.json, "transaction.status"), "Refund");
    assert_int_equal((long)kvts_jnum(r.json, "transactionSummary.refundedAmount"), 2000);
    kvts_resp_free(&r);
    /* cancel after partial capture needs shouldReleaseRemainingFunds */
    kvts_call(&r, U, &a, "PUT", "/ecomm/v2/payments/OSL-ecom-0001/cancel", NULL,
              "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\"},\"transaction\":{\"transactionText\":\"x\"}}");
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_ecom_code(&r), "51");
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "PUT", "/ecomm/v2/payments/OSL-ecom-0001/cancel", NULL,
              "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\"},\"transaction\":{\"transactionText\":\"x\"},"
              "\"shouldReleaseRemainingFunds\":true}");
    assert_int_equal(r.status, 200);
    assert_string_equal(kvts_jstr(r.json, "transactionInfo.status"), "Cancelled");
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "GET", "/ecomm/v2/payments/OSL-ecom-0001/details", NULL, NULL);
    h = cJSON_GetObjectItem(r.json, "transactionLogHistory");
    const char *ops[] = { "VOID", "REFUND", "CAPTURE", "RESERVE", "INITIATE" }; /* newest first */
    assert_int_equal(cJSON_GetArraySize(h), 5);
    for (int i = 0; i < 5; i++) assert_string_equal(kvts_jstr(cJSON_GetArrayItem(h, i), "operation"), ops[i]);
    assert_string_equal(kvts_jstr(cJSON_GetArrayItem(h, 2), "requestId"), "cap-1");
    kvts_resp_free(&r);
    /* integer MSN in the body -> 500 / 99 like the real service (doc §2.1) */
    kvts_call(&r, U, &a, "POST", "/ecomm/v2/payments", NULL,
              "{\"merchantInfo\":{\"merchantSerialNumber\":123456,\"callbackPrefix\":\"https://e.no\",\"fallBack\":\"https://e.no\"},"
              "\"customerInfo\":{},\"transaction\":{\"orderId\":\"OSL-ecom-0002\",\"amount\":20000,\"transactionText\":\"K\"}}");
    assert_int_equal(r.status, 500);
    assert_string_equal(kvts_ecom_code(&r), "99");
    kvts_resp_free(&r);
    kvts_receiver_stop(&rv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim__ecom),
    };
    return cmocka_run_group_tests_name("sim_ecom", tests, setup, teardown);
}
