/*
 * test_sim_epayment.c - the ePayment API v1 (create, get, capture, refund,
 * cancel, idempotency, magic amounts, expiry, rate limits) and the Order
 * Management API (receipts and categories).
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

/* doc §3.1/§3.2: create -> 201 {redirectUrl, reference}; GET shows CREATED
 * with a zero aggregate; IMAGE/PNG gives a fetchable PNG of the QR. */
static void test_sim__create_201_and_get(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    kvts_api a;
    kvts_login(&a, U, "oslo", NULL);
    char *b = kvts_create_body("OSL-create-0001", 14900, "QR", "\"qrFormat\":{\"format\":\"TEXT/TARGETURL\"}");
    kvts_resp r;
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-create-0001-c1", b);
    free(b);
    assert_int_equal(r.status, 201);
    assert_string_equal(kvts_jstr(r.json, "reference"), "OSL-create-0001");
    const char *target = kvts_jstr(r.json, "redirectUrl");
    assert_non_null(target);
    assert_true(!strncmp(target, "https://qr.vipps.no/", 20)); /* doc §5.1: Vipps' own domain */
    char tcopy[256];
    snprintf(tcopy, sizeof tcopy, "%s", target);
    kvts_resp_free(&r);

    kvts_get_payment(&r, U, &a, "OSL-create-0001");
    assert_int_equal(r.status, 200);
    assert_string_equal(kvts_jstr(r.json, "state"), "CREATED");
    assert_int_equal((long)kvts_jnum(r.json, "amount.value"), 14900);
    assert_string_equal(kvts_jstr(r.json, "amount.currency"), "NOK");
    assert_int_equal((long)kvts_jnum(r.json, "aggregate.authorizedAmount.value"), 0);
    assert_int_equal((long)kvts_jnum(r.json, "aggregate.capturedAmount.value"), 0);
    assert_int_equal((long)kvts_jnum(r.json, "aggregate.refundedAmount.value"), 0);
    assert_int_equal((long)kvts_jnum(r.json, "aggregate.cancelledAmount.value"), 0);
    assert_string_equal(kvts_jstr(r.json, "paymentMethod.type"), "WALLET");
    assert_string_equal(kvts_jstr(r.json, "redirectUrl"), tcopy);
    assert_non_null(kvts_jstr(r.json, "pspReference"));
    kvts_resp_free(&r);

    /* events: one CREATED event carrying the idempotency key (doc §3.4) */
    kvts_call(&r, U, &a, "GET", "/epayment/v1/payments/OSL-create-0001/events", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(cJSON_GetArraySize(r.json), 1);
    const cJSON *e = cJSON_GetArrayItem(r.json, 0);
    assert_string_equal(kvts_jstr(e, "name"), "CREATED");
    assert_string_equal(kvts_jstr(e, "idempotencyKey"), "OSL-create-0001-c1");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(e, "success")));
    kvts_resp_free(&r);

    /* PUSH_MESSAGE without a customer -> 400; QR size out of range -> 400 */
    b = kvts_create_body("OSL-create-0002", 14900, "PUSH_MESSAGE", NULL);
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-create-0002-c1", b);
    free(b);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.hdrs, "application/problem+json"));
    kvts_resp_free(&r);
    /* bad reference (doc: ^[a-zA-Z0-9-]{8,50}$) */
    b = kvts_create_body("short", 14900, "QR", NULL);
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments", "short-c1", b);
    free(b);
    assert_int_equal(r.status, 400);
    kvts_resp_free(&r);
    /* missing Idempotency-Key -> 400 */
    b = kvts_create_body("OSL-create-0003", 14900, "QR", NULL);
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments", NULL, b);
    free(b);
    assert_int_equal(r.status, 400);
    kvts_resp_free(&r);
}

/* doc §2.2: same key + same body replays; same key + other body -> 409;
 * an existing reference with a new key -> 4150. */
static void test_sim__idempotency(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    kvts_api a;
    kvts_login(&a, U, "oslo", NULL);
    char *b = kvts_create_body("OSL-idem-0001", 14900, "QR", NULL);
    kvts_resp r1, r2;
    kvts_call(&r1, U, &a, "POST", "/epayment/v1/payments", "OSL-idem-0001-k", b);
    assert_int_equal(r1.status, 201);
    kvts_call(&r2, U, &a, "POST", "/epayment/v1/payments", "OSL-idem-0001-k", b);
    assert_int_equal(r2.status, 201);
    assert_int_equal(r1.len, r2.len);
    assert_memory_equal(r1.body, r2.body, r1.len);
    kvts_resp_free(&r1);
    kvts_resp_free(&r2);
    /* same body, keys reordered and spaced: still the same JSON */
    char *b2 = kvts_create_body("OSL-idem-0001", 14901, "QR", NULL);
    kvts_call(&r1, U, &a, "POST", "/epayment/v1/payments", "OSL-idem-0001-k", b2);
    assert_int_equal(r1.status, 409);
    assert_non_null(kvts_errcode(&r1));
    assert_string_equal(kvts_errcode(&r1), "4020");
    assert_non_null(kvts_jstr(r1.json, "traceId"));
    kvts_resp_free(&r1);
    free(b2);
    kvts_call(&r1, U, &a, "POST", "/epayment/v1/payments", "OSL-idem-0001-k2", b);
    assert_int_equal(r1.status, 409);
    assert_string_equal(kvts_errcode(&r1), "4150");
    kvts_resp_free(&r1);
    free(b);

    /* capture: replay gives the same answer and moves money once */
    kvts_approve(&r1, U, &a, "OSL-idem-0001");
    assert_int_equal(r1.status, 200);
    kvts_resp_free(&r1);
    kvts_modify(&r1, U, &a, "OSL-idem-0001", "capture", "OSL-idem-0001-cap1", 4000);
    assert_int_equal(r1.status, 200);
    kvts_modify(&r2, U, &a, "OSL-idem-0001", "capture", "OSL-idem-0001-cap1", 4000);
    assert_int_equal(r2.status, 200);
    assert_string_equal(r1.body, r2.body);
    assert_int_equal((long)kvts_jnum(r2.json, "aggregate.capturedAmount.value"), 4000);
    kvts_resp_free(&r1);
    kvts_resp_free(&r2);
    kvts_modify(&r1, U, &a, "OSL-idem-0001", "capture", "OSL-idem-0001-cap1", 5000);
    assert_int_equal(r1.status, 409);
    assert_string_equal(kvts_errcode(&r1), "4010");
    kvts_resp_free(&r1);
    /* a rejected request keeps its 4xx under the same key (doc §2.2) */
    kvts_modify(&r1, U, &a, "OSL-idem-0001", "refund", "OSL-idem-0001-ref1", 999999);
    assert_int_equal(r1.status, 400);
    assert_string_equal(kvts_errcode(&r1), "6150");
    kvts_resp_free(&r1);
    kvts_modify(&r1, U, &a, "OSL-idem-0001", "refund", "OSL-idem-0001-ref1", 999999);
    assert_int_equal(r1.status, 400);
    kvts_resp_free(&r1);
    kvts_get_payment(&r1, U, &a, "OSL-idem-0001");
    assert_int_equal((long)kvts_jnum(r1.json, "aggregate.capturedAmount.value"), 4000);
    assert_int_equal((long)kvts_jnum(r1.json, "aggregate.refundedAmount.value"), 0);
    kvts_resp_free(&r1);
}

/* doc §3.3-§3.5: states and aggregate through approve/capture/refund/cancel. */
static void test_sim__lifecycle_and_aggregate(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    kvts_api a;
    kvts_login(&a, U, "bergen", NULL);
    kvts_create(U, &a, "BGO-life-0001", 10000, 201);
    kvts_resp r;
    /* capture before reservation -> 6080 */
    kvts_modify(&r, U, &a, "BGO-life-0001", "capture", "BGO-life-0001-cap0", 1000);
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_errcode(&r), "6080");
    kvts_resp_free(&r);
    kvts_approve(&r, U, &a, "BGO-life-0001");
    assert_int_equal(r.status, 200);
    kvts_resp_free(&r);
    kvts_expect_state(U, &a, "BGO-life-0001", "AUTHORIZED");
    kvts_modify(&r, U, &a, "BGO-life-0001", "capture", "BGO-life-0001-cap1", 6000);
    assert_int_equal(r.status, 200);
    assert_string_equal(kvts_jstr(r.json, "state"), "AUTHORIZED");
    assert_int_equal((long)kvts_jnum(r.json, "aggregate.authorizedAmount.value"), 10000);
    assert_int_equal((long)kvts_jnum(r.json, "aggregate.capturedAmount.value"), 6000);
    kvts_resp_free(&r);
    kvts_modify(&r, U, &a, "BGO-life-0001", "capture", "BGO-life-0001-cap2", 5000);
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_errcode(&r), "6090"); /* capture amount too high */
    kvts_resp_free(&r);
    kvts_modify(&r, U, &a, "BGO-life-0001", "refund", "BGO-life-0001-ref1", 2500);
    assert_int_equal(r.status, 200);
    assert_int_equal((long)kvts_jnum(r.json, "aggregate.refundedAmount.value"), 2500);
    kvts_resp_free(&r);
    kvts_modify(&r, U, &a, "BGO-life-0001", "refund", "BGO-life-0001-ref2", 4000);
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_errcode(&r), "6150"); /* not enough refundable */
    kvts_resp_free(&r);
    /* cancelTransactionOnly on an authorized payment -> 6060 */
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments/BGO-life-0001/cancel", "BGO-life-0001-can1",
              "{\"cancelTransactionOnly\":true}");
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_errcode(&r), "6060");
    kvts_resp_free(&r);
    /* a full cancel releases the uncaptured rest; state stays AUTHORIZED */
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments/BGO-life-0001/cancel", "BGO-life-0001-can2", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(kvts_jstr(r.json, "state"), "AUTHORIZED");
    assert_int_equal((long)kvts_jnum(r.json, "aggregate.cancelledAmount.value"), 4000);
    kvts_resp_free(&r);
    kvts_modify(&r, U, &a, "BGO-life-0001", "capture", "BGO-life-0001-cap3", 100);
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_errcode(&r), "6070"); /* cannot capture a cancelled payment */
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "GET", "/epayment/v1/payments/BGO-life-0001/events", NULL, NULL);
    assert_int_equal(r.status, 200);
    const char *want[] = { "CREATED", "AUTHORIZED", "CAPTURED", "REFUNDED", "CANCELLED" };
    assert_int_equal(cJSON_GetArraySize(r.json), 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(kvts_jstr(cJSON_GetArrayItem(r.json, i), "name"), want[i]);
    kvts_resp_free(&r);

    /* cancel before authorization -> TERMINATED, cancelledAmount = amount */
    kvts_create(U, &a, "BGO-life-0002", 5000, 201);
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments/BGO-life-0002/cancel", "BGO-life-0002-can1",
              "{\"cancelTransactionOnly\":true}");
    assert_int_equal(r.status, 200);
    assert_string_equal(kvts_jstr(r.json, "state"), "TERMINATED");
    assert_int_equal((long)kvts_jnum(r.json, "aggregate.cancelledAmount.value"), 5000);
    kvts_resp_free(&r);
    kvts_approve(&r, U, &a, "BGO-life-0002");
    assert_int_equal(r.status, 400); /* nothing left to approve */
    kvts_resp_free(&r);
    /* the full capture then cancel -> 6040 */
    kvts_create(U, &a, "BGO-life-0003", 5000, 201);
    kvts_approve(&r, U, &a, "BGO-life-0003");
    kvts_resp_free(&r);
    kvts_modify(&r, U, &a, "BGO-life-0003", "capture", "BGO-life-0003-cap1", 5000);
    assert_int_equal(r.status, 200);
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments/BGO-life-0003/cancel", "BGO-life-0003-can1", NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_errcode(&r), "6040");
    kvts_resp_free(&r);
    /* references are per MSN: oslo does not see bergen's payment */
    kvts_api o;
    kvts_login(&o, U, "oslo", NULL);
    kvts_get_payment(&r, U, &o, "BGO-life-0003");
    assert_int_equal(r.status, 404);
    kvts_resp_free(&r);
    /* partner keys with bergen's MSN do (doc §2.3) */
    kvts_api p;
    kvts_login(&p, U, "nordkaffe-partner", "234567");
    kvts_get_payment(&r, U, &p, "BGO-life-0003");
    assert_int_equal(r.status, 200);
    kvts_resp_free(&r);
}

/* doc §10 magic amounts (minor units): 151 insufficient funds, 182 refused,
 * 201 unknown for an hour (shortened here), refund 123 / 124. */
static void test_sim__magic_amounts(void **state)
{
    (void)state;
    kvts_sim s;
    const char *extra[] = { "--unknown-after", "1", NULL };
    assert_int_equal(kvts_sim_start(&s, extra), 0);
    kvts_api a;
    kvts_login(&a, s.url, "oslo", NULL);
    kvts_resp r;
    long declined[] = { 151, 182 };
    for (int i = 0; i < 2; i++) {
        char ref[32];
        snprintf(ref, sizeof ref, "OSL-magic-%ld", declined[i]);
        kvts_create(s.url, &a, ref, declined[i], 201);
        kvts_approve(&r, s.url, &a, ref);
        assert_int_equal(r.status, 400);
        kvts_resp_free(&r);
        kvts_expect_state(s.url, &a, ref, "ABORTED");
        char p[96];
        snprintf(p, sizeof p, "/epayment/v1/payments/%s/events", ref);
        kvts_call(&r, s.url, &a, "GET", p, NULL, NULL);
        const cJSON *e = cJSON_GetArrayItem(r.json, 1);
        assert_string_equal(kvts_jstr(e, "name"), "AUTHORIZED");
        assert_true(cJSON_IsFalse(cJSON_GetObjectItem(e, "success")));
        kvts_resp_free(&r);
    }
    kvts_create(s.url, &a, "OSL-magic-201", 201, 201);
    kvts_approve(&r, s.url, &a, "OSL-magic-201");
    assert_int_equal(r.status, 200);
    kvts_resp_free(&r);
    kvts_expect_state(s.url, &a, "OSL-magic-201", "CREATED"); /* unknown: still pending */
    /* the customer is "processing": cancel -> 6250 (doc §3.5) */
    kvts_call(&r, s.url, &a, "POST", "/epayment/v1/payments/OSL-magic-201/cancel", "OSL-magic-201-can", NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_errcode(&r), "6250");
    kvts_resp_free(&r);
    kvts_sleep_ms(1300);
    kvts_expect_state(s.url, &a, "OSL-magic-201", "EXPIRED");

    kvts_create(s.url, &a, "OSL-magic-refund", 10000, 201);
    kvts_approve(&r, s.url, &a, "OSL-magic-refund");
    kvts_resp_free(&r);
    kvts_modify(&r, s.url, &a, "OSL-magic-refund", "capture", "OSL-magic-refund-cap", 10000);
    assert_int_equal(r.status, 200);
    kvts_resp_free(&r);
    kvts_modify(&r, s.url, &a, "OSL-magic-refund", "refund", "OSL-magic-refund-123", 123);
    assert_int_equal(r.status, 400);
    assert_non_null(kvts_errcode(&r));
    kvts_resp_free(&r);
    kvts_modify(&r, s.url, &a, "OSL-magic-refund", "refund", "OSL-magic-refund-124", 124);
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_errcode(&r), "6220"); /* refund period expired */
    kvts_resp_free(&r);
    kvts_get_payment(&r, s.url, &a, "OSL-magic-refund");
    assert_int_equal((long)kvts_jnum(r.json, "aggregate.refundedAmount.value"), 0);
    kvts_resp_free(&r);
    kvts_sim_stop(&s);
}

/* doc §3.7 7010 (ePayment) and §4.5 81 (eCom): not a Vipps user. */
static void test_sim__unknown_phone(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    kvts_api a;
    kvts_login(&a, U, "oslo", NULL);
    char *b = kvts_create_body("OSL-phone-0001", 14900, "PUSH_MESSAGE", "\"customer\":{\"phoneNumber\":\"4799999999\"}");
    kvts_resp r;
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-phone-0001-c", b);
    free(b);
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_errcode(&r), "7010");
    kvts_resp_free(&r);
    b = kvts_create_body("OSL-phone-0002", 14900, "PUSH_MESSAGE", "\"customer\":{\"phoneNumber\":\"+47 912\"}");
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-phone-0002-c", b);
    free(b);
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_errcode(&r), "4070"); /* invalid format */
    kvts_resp_free(&r);
    b = kvts_create_body("OSL-phone-0003", 14900, "PUSH_MESSAGE", "\"customer\":{\"phoneNumber\":\"4791234567\"}");
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-phone-0003-c", b);
    free(b);
    assert_int_equal(r.status, 201);
    assert_null(kvts_jstr(r.json, "redirectUrl")); /* no redirectUrl for PUSH_MESSAGE */
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "POST", "/ecomm/v2/payments", NULL,
              "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\",\"callbackPrefix\":\"https://example.no/cb\","
              "\"fallBack\":\"https://example.no\"},\"customerInfo\":{\"mobileNumber\":\"99999999\"},"
              "\"transaction\":{\"orderId\":\"OSL-phone-0004\",\"amount\":14900,\"transactionText\":\"Kaffe\"}}");
    assert_int_equal(r.status, 400);
    assert_string_equal(kvts_ecom_code(&r), "81");
    assert_string_equal(kvts_jstr(cJSON_GetArrayItem(r.json, 0), "errorGroup"), "User");
    kvts_resp_free(&r);
}

/* doc §2.6: payments expire (10 min by default; 1 s here). */
static void test_sim__expiry(void **state)
{
    (void)state;
    kvts_sim s;
    const char *extra[] = { "--expire-after", "1", NULL };
    assert_int_equal(kvts_sim_start(&s, extra), 0);
    kvts_api a;
    kvts_login(&a, s.url, "oslo", NULL);
    kvts_create(s.url, &a, "OSL-expire-0001", 14900, 201);
    kvts_expect_state(s.url, &a, "OSL-expire-0001", "CREATED");
    kvts_sleep_ms(1400);
    kvts_expect_state(s.url, &a, "OSL-expire-0001", "EXPIRED");
    kvts_resp r;
    kvts_approve(&r, s.url, &a, "OSL-expire-0001");
    assert_int_equal(r.status, 400);
    kvts_resp_free(&r);
    kvts_call(&r, s.url, &a, "GET", "/epayment/v1/payments/OSL-expire-0001/events", NULL, NULL);
    assert_string_equal(kvts_jstr(cJSON_GetArrayItem(r.json, 1), "name"), "EXPIRED");
    kvts_resp_free(&r);
    kvts_sim_stop(&s);
}

/* doc §2.4: 120 GETs per minute per reference (5 here) -> 429 + Retry-After;
 * 5 modifications per minute per reference and operation. */
static void test_sim__rate_limit(void **state)
{
    (void)state;
    kvts_sim s;
    const char *extra[] = { "--rate-get", "5", "--rate-mod", "3", NULL };
    assert_int_equal(kvts_sim_start(&s, extra), 0);
    kvts_api a;
    kvts_login(&a, s.url, "oslo", NULL);
    kvts_create(s.url, &a, "OSL-rate-0001", 14900, 201);
    kvts_resp r;
    for (int i = 0; i < 5; i++) {
        kvts_get_payment(&r, s.url, &a, "OSL-rate-0001");
        assert_int_equal(r.status, 200);
        kvts_resp_free(&r);
    }
    kvts_get_payment(&r, s.url, &a, "OSL-rate-0001");
    assert_int_equal(r.status, 429);
    assert_non_null(strcasestr(r.hdrs, "Retry-After:"));
    kvts_resp_free(&r);
    /* another reference has its own budget */
    kvts_create(s.url, &a, "OSL-rate-0002", 14900, 201);
    kvts_get_payment(&r, s.url, &a, "OSL-rate-0002");
    assert_int_equal(r.status, 200);
    kvts_resp_free(&r);
    kvts_approve(&r, s.url, &a, "OSL-rate-0002");
    kvts_resp_free(&r);
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "rate-cap-%d", i);
        kvts_modify(&r, s.url, &a, "OSL-rate-0002", "capture", key, 100);
        assert_int_equal(r.status, 200);
        kvts_resp_free(&r);
    }
    kvts_modify(&r, s.url, &a, "OSL-rate-0002", "capture", "rate-cap-9", 100);
    assert_int_equal(r.status, 429);
    kvts_resp_free(&r);
    kvts_sim_stop(&s);
}

/* doc §6: add a receipt (POST, 201), a second one -> 409, read back. */
static void test_sim__order_management(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    kvts_api a;
    kvts_login(&a, U, "oslo", NULL);
    const char *rc =
        "{\"orderLines\":[{\"name\":\"Kaffe\",\"id\":\"1\",\"totalAmount\":4900,\"totalAmountExcludingTax\":4360,"
        "\"totalTaxAmount\":540,\"taxRate\":1500,\"unitInfo\":{\"unitPrice\":4900,\"quantity\":\"1\"}}],"
        "\"bottomLine\":{\"currency\":\"NOK\",\"posId\":\"till-1\",\"receiptNumber\":\"42\"}}";
    kvts_resp r;
    kvts_call(&r, U, &a, "POST", "/order-management/v2/ECOM/receipts/OSL-om-0001", NULL, rc);
    assert_int_equal(r.status, 201);
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "POST", "/order-management/v2/ECOM/receipts/OSL-om-0001", NULL, rc);
    assert_int_equal(r.status, 409);
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "GET", "/order-management/v2/ECOM/OSL-om-0001", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(kvts_jstr(r.json, "receipt.bottomLine.receiptNumber"), "42");
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "POST", "/order-management/v2/ECOM/receipts/OSL-om-0002", NULL,
              "{\"orderLines\":[],\"bottomLine\":{\"currency\":\"NOK\"}}");
    assert_int_equal(r.status, 400);
    kvts_resp_free(&r);
    kvts_call(&r, U, &a, "PUT", "/order-management/v2/ECOM/receipts/OSL-om-0003", NULL, rc);
    assert_int_equal(r.status, 405); /* add receipt is POST (doc §6.1) */
    kvts_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim__create_201_and_get),
        cmocka_unit_test(test_sim__idempotency),
        cmocka_unit_test(test_sim__lifecycle_and_aggregate),
        cmocka_unit_test(test_sim__magic_amounts),
        cmocka_unit_test(test_sim__unknown_phone),
        cmocka_unit_test(test_sim__expiry),
        cmocka_unit_test(test_sim__rate_limit),
        cmocka_unit_test(test_sim__order_management),
    };
    return cmocka_run_group_tests_name("sim_epayment", tests, setup, teardown);
}
