/*
 * test_vipps_wire.c - the payment client's request builders, response and
 * error parsers, cashier messages, masking and webhook HMAC, without the
 * network.  Fixtures in fixtures/api/ are hand-written API samples
 * built from the field lists of the API reference (not captured from our
 * own output).  The HMAC test vector values are written below as facts
 * taken from the Webhooks API documentation's published example.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/vipps/vipps.h"
#include "src/vipps/wire.h"
#include "tests/lib/kvtest.h"

static char *fixture(const char *name, size_t *len)
{
    char *p = kvt_path("%s/fixtures/api/%s", kvt_srcdir(), name);
    unsigned char *buf = NULL;
    size_t n = 0;
    assert_int_equal(kvt_read_file(p, &buf, &n), 0);
    free(p);
    *len = n;
    return (char *)buf;
}

/* ---------- builders ---------- */

static void test_vipps_wire__create_qr_body(void **state)
{
    (void)state;
    kv_vipps_create_req rq = {
        .reference = "OSL-000123-a1", .amount = 14900, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_QR, .qr_format = KV_VIPPS_QR_TEXT,
        .description = "Kvitt Kaffe Oslo", .idempotency_key = "k1",
    };
    char *s = kv_vipps__build_create(&rq, NULL, 0);
    assert_non_null(s);
    cJSON *o = cJSON_Parse(s);
    assert_non_null(o);
    cJSON *amt = cJSON_GetObjectItem(o, "amount");
    assert_int_equal((int)cJSON_GetObjectItem(amt, "value")->valuedouble, 14900);
    assert_string_equal(cJSON_GetObjectItem(amt, "currency")->valuestring, "NOK");
    assert_string_equal(cJSON_GetObjectItem(o, "userFlow")->valuestring, "QR");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "qrFormat"),
                                            "format")->valuestring,
                        "TEXT/TARGETURL");
    assert_string_equal(cJSON_GetObjectItem(o, "customerInteraction")->valuestring,
                        "CUSTOMER_PRESENT");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "paymentMethod"),
                                            "type")->valuestring, "WALLET");
    assert_string_equal(cJSON_GetObjectItem(o, "paymentDescription")->valuestring,
                        "Kvitt Kaffe Oslo");
    assert_string_equal(cJSON_GetObjectItem(o, "reference")->valuestring,
                        "OSL-000123-a1");
    assert_null(cJSON_GetObjectItem(o, "customer"));
    cJSON_Delete(o);
    free(s);

    rq.qr_format = KV_VIPPS_QR_PNG;
    rq.qr_size = 576;
    s = kv_vipps__build_create(&rq, NULL, 0);
    o = cJSON_Parse(s);
    cJSON *q = cJSON_GetObjectItem(o, "qrFormat");
    assert_string_equal(cJSON_GetObjectItem(q, "format")->valuestring, "IMAGE/PNG");
    assert_int_equal((int)cJSON_GetObjectItem(q, "size")->valuedouble, 576);
    cJSON_Delete(o);
    free(s);
}

static void test_vipps_wire__create_push_and_receipt(void **state)
{
    (void)state;
    kv_vipps_order_line lines[2] = {
        { .id = "1001", .name = "Cappuccino", .total_amount = 5000,
          .total_amount_excl_tax = 4464, .total_tax_amount = 536,
          .tax_rate = 1200, .unit_price = 5000, .quantity = "1" },
        { .id = "2002", .name = "Croissant", .total_amount = 9900,
          .total_amount_excl_tax = 8839, .total_tax_amount = 1061,
          .tax_rate = 1200, .discount = 100 },
    };
    kv_vipps_receipt r = { .lines = lines, .n_lines = 2, .currency = "NOK",
                           .pos_id = "till-1", .receipt_number = "000123" };
    kv_vipps_create_req rq = {
        .reference = "OSL-000124-a1", .amount = 14900, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_PUSH, .phone = "4791234567",
        .description = "Kvitt Kaffe", .receipt = &r, .idempotency_key = "k",
    };
    char *s = kv_vipps__build_create(&rq, NULL, 0);
    assert_non_null(s);
    cJSON *o = cJSON_Parse(s);
    assert_string_equal(cJSON_GetObjectItem(o, "userFlow")->valuestring,
                        "PUSH_MESSAGE");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "customer"),
                                            "phoneNumber")->valuestring,
                        "4791234567");
    assert_null(cJSON_GetObjectItem(o, "qrFormat"));
    assert_string_equal(cJSON_GetObjectItem(o, "customerInteraction")->valuestring, "CUSTOMER_PRESENT");
    cJSON *rc = cJSON_GetObjectItem(o, "receipt");
    cJSON *ol = cJSON_GetObjectItem(rc, "orderLines");
    assert_int_equal(cJSON_GetArraySize(ol), 2);
    cJSON *l0 = cJSON_GetArrayItem(ol, 0);
    assert_int_equal((int)cJSON_GetObjectItem(l0, "taxRate")->valuedouble, 1200);
    assert_int_equal((int)cJSON_GetObjectItem(l0, "totalTaxAmount")->valuedouble, 536);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(l0, "unitInfo"),
                                            "quantity")->valuestring, "1");
    cJSON *l1 = cJSON_GetArrayItem(ol, 1);
    assert_null(cJSON_GetObjectItem(l1, "unitInfo"));
    assert_int_equal((int)cJSON_GetObjectItem(l1, "discount")->valuedouble, 100);
    cJSON *bl = cJSON_GetObjectItem(rc, "bottomLine");
    assert_string_equal(cJSON_GetObjectItem(bl, "currency")->valuestring, "NOK");
    assert_string_equal(cJSON_GetObjectItem(bl, "posId")->valuestring, "till-1");
    assert_string_equal(cJSON_GetObjectItem(bl, "receiptNumber")->valuestring,
                        "000123");
    cJSON_Delete(o);
    free(s);
    /* a push to a customer away from the till */
    rq.customer_not_present = 1;
    s = kv_vipps__build_create(&rq, NULL, 0);
    assert_non_null(s);
    o = cJSON_Parse(s);
    assert_string_equal(cJSON_GetObjectItem(o, "customerInteraction")->valuestring, "CUSTOMER_NOT_PRESENT");
    cJSON_Delete(o);
    free(s);

    /* Same receipt for Order Management. */
    s = kv_vipps__build_receipt(&r);
    assert_non_null(s);
    o = cJSON_Parse(s);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "orderLines")), 2);
    cJSON_Delete(o);
    free(s);
}

static void test_vipps_wire__create_rejects_bad_input(void **state)
{
    (void)state;
    char why[128];
    kv_vipps_create_req ok = {
        .reference = "OSL-000123-a1", .amount = 100, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_QR, .idempotency_key = "k",
    };
    kv_vipps_create_req rq = ok;
    rq.reference = "short";
    assert_null(kv_vipps__build_create(&rq, why, sizeof why));
    assert_non_null(strstr(why, "reference"));
    rq = ok;
    rq.reference = "has space in it";
    assert_null(kv_vipps__build_create(&rq, why, sizeof why));
    rq = ok;
    rq.amount = 0;
    assert_null(kv_vipps__build_create(&rq, why, sizeof why));
    rq = ok;
    rq.currency = "SEK";
    assert_null(kv_vipps__build_create(&rq, why, sizeof why));
    rq = ok;
    rq.flow = KV_VIPPS_FLOW_PUSH;
    rq.phone = "+47 912 34 567";
    assert_null(kv_vipps__build_create(&rq, why, sizeof why));
    assert_null(strstr(why, "912")); /* never echo the number */
    rq = ok;
    rq.description = "ab";
    assert_null(kv_vipps__build_create(&rq, why, sizeof why));
    rq = ok;
    rq.qr_size = 50;
    assert_null(kv_vipps__build_create(&rq, why, sizeof why));
    char *s = kv_vipps__build_create(&ok, why, sizeof why);
    assert_non_null(s);
    free(s);
}

static void test_vipps_wire__modification_cancel_bodies(void **state)
{
    (void)state;
    char *s = kv_vipps__build_modification(4900, "NOK");
    assert_string_equal(s, "{\"modificationAmount\":{\"currency\":\"NOK\",\"value\":4900}}");
    free(s);
    assert_null(kv_vipps__build_modification(0, "NOK"));
    assert_null(kv_vipps__build_modification(10, "nok"));
    s = kv_vipps__build_cancel(1);
    assert_string_equal(s, "{\"cancelTransactionOnly\":true}");
    free(s);
    s = kv_vipps__build_cancel(0);
    assert_string_equal(s, "{}");
    free(s);
}

static void test_vipps_wire__ecom_bodies(void **state)
{
    (void)state;
    kv_vipps_ecom_req rq = {
        .order_id = "OSL-ecom-77", .amount = 20000, .text = "Kvitt Kaffe",
        .callback_prefix = "https://till.example.no/vipps",
        .fallback = "https://example.no", .auth_token = "cb-secret",
    };
    char *s = kv_vipps__build_ecom_initiate(&rq, "123456");
    assert_non_null(s);
    cJSON *o = cJSON_Parse(s);
    cJSON *mi = cJSON_GetObjectItem(o, "merchantInfo");
    /* MSN must be a JSON string (the service fails on an integer). */
    assert_true(cJSON_IsString(cJSON_GetObjectItem(mi, "merchantSerialNumber")));
    assert_string_equal(cJSON_GetObjectItem(mi, "fallBack")->valuestring,
                        "https://example.no");
    assert_null(cJSON_GetObjectItemCaseSensitive(mi, "fallback"));
    assert_string_equal(cJSON_GetObjectItem(mi, "authToken")->valuestring,
                        "cb-secret");
    cJSON *t = cJSON_GetObjectItem(o, "transaction");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(t, "skipLandingPage")));
    assert_null(cJSON_GetObjectItem(mi, "skipLandingPage"));
    assert_int_equal((int)cJSON_GetObjectItem(t, "amount")->valuedouble, 20000);
    cJSON_Delete(o);
    free(s);
    rq.amount = 99; /* below NOK 1.00 */
    assert_null(kv_vipps__build_ecom_initiate(&rq, "123456"));

    s = kv_vipps__build_ecom_amount("123456", 0, "capture");
    o = cJSON_Parse(s);
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "transaction"), "amount"));
    cJSON_Delete(o);
    free(s);
    s = kv_vipps__build_ecom_cancel("123456", "abandoned", 1);
    o = cJSON_Parse(s);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "shouldReleaseRemainingFunds")));
    cJSON_Delete(o);
    free(s);
}

static void test_vipps_wire__webhook_body(void **state)
{
    (void)state;
    char *s = kv_vipps__build_webhook("https://till.example.no/wh",
                                      KV_VIPPS_WH_AUTHORIZED | KV_VIPPS_WH_EXPIRED);
    assert_string_equal(s, "{\"url\":\"https://till.example.no/wh\",\"events\":"
                        "[\"epayments.payment.expired.v1\","
                        "\"epayments.payment.authorized.v1\"]}");
    free(s);
    assert_null(kv_vipps__build_webhook("https://x", 0));
}

/* ---------- parsers ---------- */

static void test_vipps_wire__token_strings_and_numbers(void **state)
{
    (void)state;
    size_t n;
    char *b = fixture("token_strings.json", &n);
    char *tok = NULL;
    time_t exp = 0;
    long life = 0;
    assert_int_equal(kv_vipps__parse_token(&tok, &exp, &life, b, n, 1700000000),
                     KV_VIPPS_OK);
    assert_string_equal(tok, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJrdml0dC10ZXN0In0.c2lnbmF0dXJlLWtwaXR0");
    assert_int_equal(exp, 1700003600);
    assert_int_equal(life, 3600);
    free(tok);
    free(b);

    b = fixture("token_numbers.json", &n);
    assert_int_equal(kv_vipps__parse_token(&tok, &exp, &life, b, n, 1700000000),
                     KV_VIPPS_OK);
    assert_string_equal(tok, "tok-numbers-0123456789");
    assert_int_equal(exp, 1700086398);
    assert_int_equal(life, 86398);
    free(tok);
    free(b);

    /* expires_in only: absolute expiry from our clock. */
    const char *only_in = "{\"access_token\":\"abc\",\"expires_in\":\"60\"}";
    assert_int_equal(kv_vipps__parse_token(&tok, &exp, &life, only_in,
                                           strlen(only_in), 1000), KV_VIPPS_OK);
    assert_int_equal(exp, 1060);
    free(tok);
    const char *bad[] = {
        "{\"access_token\":\"abc\"}",
        "{\"access_token\":\"\",\"expires_in\":60}",
        "{\"access_token\":\"a b\",\"expires_in\":60}",
        "{\"access_token\":\"abc\",\"expires_in\":\"sixty\"}",
        "{\"access_token\":\"abc\",\"expires_in\":1.5}",
        "[]", "", "{",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tok = NULL;
        assert_int_equal(kv_vipps__parse_token(&tok, &exp, &life, bad[i],
                                               strlen(bad[i]), 1000),
                         KV_VIPPS_E_PARSE);
        assert_null(tok);
    }
}

static void test_vipps_wire__payment_and_created(void **state)
{
    (void)state;
    size_t n;
    char *b = fixture("epayment_get_authorized.json", &n);
    kv_vipps_payment p;
    assert_int_equal(kv_vipps__parse_payment(&p, b, n), KV_VIPPS_OK);
    assert_string_equal(p.reference, "OSL-000123-a1");
    assert_int_equal(p.state, KV_VIPPS_STATE_AUTHORIZED);
    assert_string_equal(p.currency, "NOK");
    assert_int_equal(p.amount, 14900);
    assert_int_equal(p.authorized, 14900);
    assert_int_equal(p.captured, 4900);
    assert_int_equal(p.refunded, 900);
    assert_int_equal(p.cancelled, 0);
    assert_string_equal(p.psp_reference, "7686f7788898767977");
    assert_string_equal(p.redirect_url,
                        "https://qr.vipps.no/28/2/01/031/4791234567?v=1");
    free(b);

    b = fixture("epayment_modification.json", &n);
    assert_int_equal(kv_vipps__parse_payment(&p, b, n), KV_VIPPS_OK);
    assert_int_equal(p.captured, 14900);
    free(b);

    b = fixture("epayment_create_201.json", &n);
    kv_vipps_created c;
    assert_int_equal(kv_vipps__parse_created(&c, b, n), KV_VIPPS_OK);
    assert_string_equal(c.reference, "OSL-000123-a1");
    assert_string_equal(c.redirect_url,
                        "https://qr.vipps.no/28/2/01/031/4791234567?v=1");
    free(b);

    /* Decimal amounts and wrong types are refused, not rounded. */
    const char *bad[] = {
        "{\"reference\":\"x\",\"state\":\"CREATED\",\"amount\":{\"currency\":\"NOK\",\"value\":1.5}}",
        "{\"reference\":\"x\",\"state\":7}",
        "{\"reference\":\"x\"}",
        "{\"reference\":\"x\",\"state\":\"CREATED\",\"aggregate\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(kv_vipps__parse_payment(&p, bad[i], strlen(bad[i])),
                         KV_VIPPS_E_PARSE);
    const char *unknown = "{\"reference\":\"x\",\"state\":\"NEWSTATE\"}";
    assert_int_equal(kv_vipps__parse_payment(&p, unknown, strlen(unknown)),
                     KV_VIPPS_OK);
    assert_int_equal(p.state, KV_VIPPS_STATE_UNKNOWN);
}

static void test_vipps_wire__events(void **state)
{
    (void)state;
    size_t n, cnt = 0;
    char *b = fixture("epayment_events.json", &n);
    kv_vipps_event *ev = NULL;
    assert_int_equal(kv_vipps__parse_events(&ev, &cnt, b, n), KV_VIPPS_OK);
    assert_int_equal(cnt, 4);
    assert_string_equal(ev[0].name, "CREATED");
    assert_string_equal(ev[0].idempotency_key, "OSL-000123-a1-create");
    assert_string_equal(ev[1].idempotency_key, "");
    assert_string_equal(ev[2].name, "CAPTURED");
    assert_int_equal(ev[2].success, 0);
    assert_int_equal(ev[3].success, 1);
    assert_int_equal(ev[3].amount, 4900);
    assert_string_equal(ev[3].timestamp, "2026-11-25T10:00:22.500Z");
    kv_vipps_events_free(ev);
    free(b);
    const char *empty = "[]";
    ev = (kv_vipps_event *)1;
    assert_int_equal(kv_vipps__parse_events(&ev, &cnt, empty, 2), KV_VIPPS_OK);
    assert_int_equal(cnt, 0);
    assert_null(ev);
}

static void test_vipps_wire__ecom_and_qr(void **state)
{
    (void)state;
    size_t n;
    char *b = fixture("ecom_initiate.json", &n);
    char url[512];
    assert_int_equal(kv_vipps__parse_ecom_initiate(url, sizeof url, b, n),
                     KV_VIPPS_OK);
    assert_true(!strncmp(url, "https://apitest.vipps.no/dwo-api-application/", 45));
    char small[10];
    assert_int_equal(kv_vipps__parse_ecom_initiate(small, sizeof small, b, n),
                     KV_VIPPS_E_TOOLONG);
    free(b);

    b = fixture("qr_onetime.json", &n);
    kv_vipps_qr q;
    assert_int_equal(kv_vipps__parse_qr(&q, b, n), KV_VIPPS_OK);
    assert_int_equal(q.expires_in, 600);
    assert_true(!strncmp(q.url, "https://qr.vipps.no/", 20));
    free(b);

    b = fixture("ecom_details.json", &n);
    kv_vipps_ecom_details d;
    assert_int_equal(kv_vipps__parse_ecom_details(&d, b, n), KV_VIPPS_OK);
    assert_string_equal(d.order_id, "OSL-ecom-77");
    assert_string_equal(d.last_operation, "REFUND");
    assert_int_equal(d.opened, 1);
    assert_int_equal(d.amount, 20000);
    assert_int_equal(d.captured, 20000);
    assert_int_equal(d.refunded, 5000);
    assert_int_equal(d.remaining_to_refund, 15000);
    free(b);

    b = fixture("ecom_capture.json", &n);
    kv_vipps_ecom_result r;
    assert_int_equal(kv_vipps__parse_ecom_result(&r, b, n), KV_VIPPS_OK);
    assert_string_equal(r.status, "Captured");
    assert_int_equal(r.amount, 20000);
    assert_int_equal(r.remaining_to_refund, 20000);
    free(b);
}

static void test_vipps_wire__ecom_callback_auth(void **state)
{
    (void)state;
    size_t n;
    char *b = fixture("ecom_callback_reserved.json", &n);
    kv_vipps_ecom_callback cb;
    assert_int_equal(kv_vipps_ecom_callback_parse(&cb, b, n, "cb-secret",
                                                  "cb-secret"), KV_VIPPS_OK);
    assert_string_equal(cb.status, "RESERVED");
    assert_string_equal(cb.msn, "123456");
    assert_int_equal(cb.amount, 20000);
    assert_int_equal(kv_vipps_ecom_callback_parse(&cb, b, n, "cb-secreT",
                                                  "cb-secret"),
                     KV_VIPPS_E_SIGNATURE);
    assert_int_equal(kv_vipps_ecom_callback_parse(&cb, b, n, NULL, "cb-secret"),
                     KV_VIPPS_E_SIGNATURE);
    free(b);
    b = fixture("ecom_callback_rejected.json", &n);
    assert_int_equal(kv_vipps_ecom_callback_parse(&cb, b, n, NULL, NULL),
                     KV_VIPPS_OK);
    assert_string_equal(cb.status, "REJECTED");
    assert_int_equal(cb.error_code, 45);
    free(b);
}

static void test_vipps_wire__webhook_payloads(void **state)
{
    (void)state;
    size_t n;
    char *b = fixture("webhook_authorized.json", &n);
    kv_vipps_webhook_event e;
    assert_int_equal(kv_vipps_webhook_parse(&e, b, n), KV_VIPPS_OK);
    assert_string_equal(e.name, "AUTHORIZED");
    assert_string_equal(e.msn, "123456");
    assert_int_equal(e.amount, 14900);
    assert_int_equal(e.success, 1);
    free(b);
    b = fixture("webhook_register.json", &n);
    kv_vipps_webhook w;
    assert_int_equal(kv_vipps__parse_webhook_reg(&w, b, n), KV_VIPPS_OK);
    assert_string_equal(w.id, "3f0b8a1e-4c1d-4e7a-9d2b-6f1c2a3b4c5d");
    assert_string_equal(w.secret, "dGhpcy1pcy1hLXRlc3Qtc2VjcmV0LW5vdC1yZWFs");
    free(b);
    b = fixture("webhook_list.json", &n);
    kv_vipps_webhook *ws = NULL;
    size_t cnt = 0;
    assert_int_equal(kv_vipps__parse_webhook_list(&ws, &cnt, b, n), KV_VIPPS_OK);
    assert_int_equal(cnt, 1);
    assert_int_equal(ws[0].events, KV_VIPPS_WH_AUTHORIZED | KV_VIPPS_WH_ABORTED |
                     KV_VIPPS_WH_EXPIRED);
    assert_string_equal(ws[0].secret, "");
    free(ws);
    free(b);
}

/* ---------- errors ---------- */

static void test_vipps_wire__problem_7010_never_says_wrong_number(void **state)
{
    (void)state;
    size_t n;
    char *b = fixture("epayment_problem_7010.json", &n);
    kv_vipps_error e;
    static const kv_vipps_lang langs[] = { KV_VIPPS_LANG_EN, KV_VIPPS_LANG_NB,
                                           KV_VIPPS_LANG_DA, KV_VIPPS_LANG_FI };
    for (int i = 0; i < 4; i++) {
        kv_vipps__parse_error(&e, KV_VIPPS_API_EPAYMENT, 400, b, n, langs[i],
                              "POST /epayment/v1/payments");
        assert_int_equal(e.http_status, 400);
        assert_int_equal(e.code, 7010);
        assert_int_equal(e.cls, KV_VIPPS_ERR_CUSTOMER);
        assert_string_equal(e.trace_id,
                            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_non_null(strstr(e.cashier, "Vipps MobilePay"));
        /* Never "wrong/invalid number" in any language. */
        const char *no[] = { "wrong", "invalid", "feil", "ugyldig", "forkert",
                             "v\xc3\xa4\xc3\xa4r", "virheellinen", "number",
                             "nummer", "numero" };
        for (size_t k = 0; k < sizeof no / sizeof no[0]; k++)
            assert_null(strstr(e.cashier, no[k]));
        /* The log has the code and the trace id, and no phone number. */
        assert_non_null(strstr(e.log, "code 7010"));
        assert_non_null(strstr(e.log, "traceId"));
        assert_null(strstr(e.log, "4791234567"));
    }
    free(b);
    kv_vipps__parse_error(&e, KV_VIPPS_API_EPAYMENT, 400,
                          "{}", 2, KV_VIPPS_LANG_NB, "x");
    assert_string_equal(kv_vipps_cashier_text(KV_VIPPS_API_EPAYMENT,
                                              KV_VIPPS_ERR_CUSTOMER, 7010,
                                              KV_VIPPS_LANG_NB),
                        "Kunden kan ikke betale med Vipps MobilePay. "
                        "Bruk en annen betalingsm\xc3\xa5te.");
}

static void test_vipps_wire__ecom_error_81_and_field(void **state)
{
    (void)state;
    size_t n;
    char *b = fixture("ecom_error_81.json", &n);
    kv_vipps_error e;
    kv_vipps__parse_error(&e, KV_VIPPS_API_ECOM, 400, b, n, KV_VIPPS_LANG_DA,
                          "POST /ecomm/v2/payments");
    assert_int_equal(e.code, 81);
    assert_int_equal(e.cls, KV_VIPPS_ERR_CUSTOMER);
    assert_string_equal(e.trace_id, "f70b8bf7-c843-4bea-95d9-94725b19895f");
    assert_string_equal(e.cashier,
                        "Kunden kan ikke betale med Vipps MobilePay. "
                        "Brug en anden betalingsmetode.");
    free(b);
    /* 81 from ePayment is not a customer error: codes are per API. */
    assert_int_equal(kv_vipps__classify(KV_VIPPS_API_EPAYMENT, 400, 81),
                     KV_VIPPS_ERR_BAD_REQUEST);
    b = fixture("ecom_error_field.json", &n);
    kv_vipps__parse_error(&e, KV_VIPPS_API_ECOM, 400, b, n, KV_VIPPS_LANG_EN, "x");
    assert_int_equal(e.code, 0);
    assert_int_equal(e.cls, KV_VIPPS_ERR_BAD_REQUEST);
    assert_non_null(strstr(e.log, "transaction.amount"));
    free(b);
}

static void test_vipps_wire__gateway_and_token_errors(void **state)
{
    (void)state;
    size_t n;
    kv_vipps_error e;
    char *b = fixture("azure_apim_401.json", &n);
    kv_vipps__parse_error(&e, KV_VIPPS_API_EPAYMENT, 401, b, n, KV_VIPPS_LANG_FI,
                          "GET /epayment/v1/payments/x");
    assert_int_equal(e.cls, KV_VIPPS_ERR_AUTH);
    assert_non_null(strstr(e.log, "invalid subscription key"));
    assert_string_equal(e.cashier, kv_vipps_cashier_text(KV_VIPPS_API_EPAYMENT,
                        KV_VIPPS_ERR_AUTH, 0, KV_VIPPS_LANG_FI));
    free(b);
    b = fixture("azure_ecom_error.json", &n);
    kv_vipps__parse_error(&e, KV_VIPPS_API_ECOM, 500, b, n, KV_VIPPS_LANG_EN, "x");
    assert_int_equal(e.code, 94);
    assert_int_equal(e.cls, KV_VIPPS_ERR_LOCKED);
    free(b);
    b = fixture("token_gateway_error.json", &n);
    kv_vipps__parse_error(&e, KV_VIPPS_API_TOKEN, 401, b, n, KV_VIPPS_LANG_EN,
                          "POST /accesstoken/get");
    assert_int_equal(e.cls, KV_VIPPS_ERR_AUTH);
    assert_string_equal(e.trace_id, "0b5a3c5e-aaaa-4bbb-8ccc-123456789abc");
    assert_non_null(strstr(e.log, "invalid_client"));
    free(b);
    b = fixture("epayment_problem_6090.json", &n);
    kv_vipps__parse_error(&e, KV_VIPPS_API_EPAYMENT, 400, b, n, KV_VIPPS_LANG_EN, "x");
    assert_int_equal(e.code, 6090);
    assert_int_equal(e.cls, KV_VIPPS_ERR_STATE);
    free(b);
    b = fixture("epayment_problem_validation.json", &n);
    kv_vipps__parse_error(&e, KV_VIPPS_API_EPAYMENT, 400, b, n, KV_VIPPS_LANG_EN, "x");
    assert_int_equal(e.code, 0);
    assert_int_equal(e.cls, KV_VIPPS_ERR_BAD_REQUEST);
    free(b);
    /* Not JSON at all (a proxy page): printable excerpt, class by status. */
    const char *html = "<html>\x01\x02 502 Bad Gateway</html>";
    kv_vipps__parse_error(&e, KV_VIPPS_API_EPAYMENT, 502, html, strlen(html),
                          KV_VIPPS_LANG_EN, "x");
    assert_int_equal(e.cls, KV_VIPPS_ERR_SERVER);
    assert_null(strchr(e.log, '\x01'));
    /* Status classes. */
    assert_int_equal(kv_vipps__classify(KV_VIPPS_API_EPAYMENT, 409, 0), KV_VIPPS_ERR_CONFLICT);
    assert_int_equal(kv_vipps__classify(KV_VIPPS_API_EPAYMENT, 423, 0), KV_VIPPS_ERR_LOCKED);
    assert_int_equal(kv_vipps__classify(KV_VIPPS_API_EPAYMENT, 429, 0), KV_VIPPS_ERR_RATE_LIMITED);
    assert_int_equal(kv_vipps__classify(KV_VIPPS_API_EPAYMENT, 403, 0), KV_VIPPS_ERR_FORBIDDEN);
    assert_int_equal(kv_vipps__classify(KV_VIPPS_API_EPAYMENT, 404, 0), KV_VIPPS_ERR_NOT_FOUND);
    assert_int_equal(kv_vipps__classify(KV_VIPPS_API_EPAYMENT, 400, 6160), KV_VIPPS_ERR_LOCKED);
    assert_int_equal(kv_vipps__classify(KV_VIPPS_API_ECOM, 400, 42), KV_VIPPS_ERR_DECLINED);
}

static void test_vipps_wire__masking(void **state)
{
    (void)state;
    char s[] = "{\"access_token\":\"eyJabc\",\"customer\":{\"phoneNumber\":\"4791234567\"},"
               "\"secret\" : \"s3cr3t\",\"amount\":{\"value\":14900},\"msisdn\":4791234567}";
    kv_vipps__mask_json(s);
    assert_null(strstr(s, "eyJabc"));
    assert_null(strstr(s, "4791234567"));
    assert_null(strstr(s, "s3cr3t"));
    assert_non_null(strstr(s, "14900"));
    char t[] = "token=abcdEFGH and again abcdEFGH";
    kv_vipps__mask_str(t, "abcdEFGH");
    assert_string_equal(t, "token=******** and again ********");
    char d[] = "user 4791234567 pays 14900";
    kv_vipps__mask_digits(d);
    assert_string_equal(d, "user ********** pays 14900");
}

static void test_vipps_wire__lang_and_strerror(void **state)
{
    (void)state;
    assert_int_equal(kv_vipps_lang_from_code("nb"), KV_VIPPS_LANG_NB);
    assert_int_equal(kv_vipps_lang_from_code("no"), KV_VIPPS_LANG_NB);
    assert_int_equal(kv_vipps_lang_from_code("da"), KV_VIPPS_LANG_DA);
    assert_int_equal(kv_vipps_lang_from_code("fi"), KV_VIPPS_LANG_FI);
    assert_int_equal(kv_vipps_lang_from_code("sv"), KV_VIPPS_LANG_EN);
    assert_int_equal(kv_vipps_lang_from_code(NULL), KV_VIPPS_LANG_EN);
    for (int s = 0; s >= KV_VIPPS_E_TOOLONG; s--)
        assert_non_null(kv_vipps_strerror((kv_vipps_status)s));
    assert_string_equal(kv_vipps_strerror(KV_VIPPS_E_UNKNOWN),
                        "outcome unknown: check the payment again");
    assert_string_equal(kv_vipps_state_name(KV_VIPPS_STATE_TERMINATED), "TERMINATED");
    assert_true(kv_vipps_state_final(KV_VIPPS_STATE_EXPIRED));
    assert_false(kv_vipps_state_final(KV_VIPPS_STATE_CREATED));
}

/* ---------- webhook HMAC ---------- */

/* The published example of the Webhooks API request-authentication
 * documentation (facts: secret, registered URL, body, date, and the
 * expected content hash and signature). */
#define VEC_SECRET "A0+AeKBRG2KRGvnNwJpQlb6IJFk48CKXCIcrLoHncVJKDILsQSxS6NWCccwWm6r6FhGKhiHTBsG2wo/xU6FY/A=="
#define VEC_URL    "https://webhook.site/e2cee29b-012e-4f1d-8ef4-e95fd74a7a63"
#define VEC_BODY   "{\"some-unique-content\":\"ee6e441b-cc4a-46f8-895d-a5af79bcc233/hello-world\"}"
#define VEC_DATE   "Thu, 30 Mar 2023 08:38:32 GMT"
#define VEC_HASH   "lNlsp1XA03N34HrQsVzPgJKtC+r7l/RBF4V3JQUWMj4="
#define VEC_SIG    "agAiSyogQbDHpeucoNwYz+yAr5nJ+v+zasdkSbqzv+U="
#define VEC_AUTH   "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=" VEC_SIG
#define VEC_TIME   1680165512 /* = VEC_DATE as Unix time */

static void test_vipps_wire__hmac_test_vector(void **state)
{
    (void)state;
    char hash[64], auth[200];
    assert_int_equal(kv_vipps_webhook_sign(hash, sizeof hash, auth, sizeof auth,
                                           VEC_SECRET, VEC_URL, VEC_BODY,
                                           strlen(VEC_BODY), VEC_DATE),
                     KV_VIPPS_OK);
    assert_string_equal(hash, VEC_HASH);
    assert_string_equal(auth, VEC_AUTH);
    assert_int_equal(kv_vipps_webhook_verify(VEC_SECRET, VEC_URL, VEC_BODY,
                                             strlen(VEC_BODY), VEC_DATE,
                                             VEC_HASH, VEC_AUTH, VEC_TIME, 300),
                     KV_VIPPS_OK);
    /* No freshness check when max_skew is 0. */
    assert_int_equal(kv_vipps_webhook_verify(VEC_SECRET, VEC_URL, VEC_BODY,
                                             strlen(VEC_BODY), VEC_DATE,
                                             VEC_HASH, VEC_AUTH, 0, 0),
                     KV_VIPPS_OK);
}

static void test_vipps_wire__hmac_refusals(void **state)
{
    (void)state;
    size_t bl = strlen(VEC_BODY);
    /* One changed body byte. */
    char body[sizeof VEC_BODY];
    memcpy(body, VEC_BODY, sizeof body);
    body[5] ^= 1;
    assert_int_equal(kv_vipps_webhook_verify(VEC_SECRET, VEC_URL, body, bl,
                                             VEC_DATE, VEC_HASH, VEC_AUTH,
                                             VEC_TIME, 300),
                     KV_VIPPS_E_SIGNATURE);
    /* Wrong secret. */
    assert_int_equal(kv_vipps_webhook_verify("another-secret", VEC_URL, VEC_BODY,
                                             bl, VEC_DATE, VEC_HASH, VEC_AUTH,
                                             VEC_TIME, 300),
                     KV_VIPPS_E_SIGNATURE);
    /* Another registered URL (path is signed). */
    assert_int_equal(kv_vipps_webhook_verify(VEC_SECRET, "https://webhook.site/other",
                                             VEC_BODY, bl, VEC_DATE, VEC_HASH,
                                             VEC_AUTH, VEC_TIME, 300),
                     KV_VIPPS_E_SIGNATURE);
    /* Tampered date (signed). */
    assert_int_equal(kv_vipps_webhook_verify(VEC_SECRET, VEC_URL, VEC_BODY, bl,
                                             "Thu, 30 Mar 2023 08:38:33 GMT",
                                             VEC_HASH, VEC_AUTH, VEC_TIME, 300),
                     KV_VIPPS_E_SIGNATURE);
    /* Truncated signature, missing headers. */
    assert_int_equal(kv_vipps_webhook_verify(VEC_SECRET, VEC_URL, VEC_BODY, bl,
                                             VEC_DATE, VEC_HASH,
                                             "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=agAi",
                                             VEC_TIME, 300),
                     KV_VIPPS_E_SIGNATURE);
    assert_int_equal(kv_vipps_webhook_verify(VEC_SECRET, VEC_URL, VEC_BODY, bl,
                                             NULL, VEC_HASH, VEC_AUTH,
                                             VEC_TIME, 300),
                     KV_VIPPS_E_SIGNATURE);
    /* Stale (an hour later) and future dates with a 5-minute window. */
    assert_int_equal(kv_vipps_webhook_verify(VEC_SECRET, VEC_URL, VEC_BODY, bl,
                                             VEC_DATE, VEC_HASH, VEC_AUTH,
                                             VEC_TIME + 3600, 300),
                     KV_VIPPS_E_STALE);
    assert_int_equal(kv_vipps_webhook_verify(VEC_SECRET, VEC_URL, VEC_BODY, bl,
                                             VEC_DATE, VEC_HASH, VEC_AUTH,
                                             VEC_TIME - 3600, 300),
                     KV_VIPPS_E_STALE);
    /* Default ports are not part of the signed host. */
    char h1[64], a1[200], h2[64], a2[200];
    assert_int_equal(kv_vipps_webhook_sign(h1, sizeof h1, a1, sizeof a1, "k",
                                           "https://Till.example.no:443/wh?x=1",
                                           "{}", 2, VEC_DATE), KV_VIPPS_OK);
    assert_int_equal(kv_vipps_webhook_sign(h2, sizeof h2, a2, sizeof a2, "k",
                                           "https://till.example.no/wh?x=1",
                                           "{}", 2, VEC_DATE), KV_VIPPS_OK);
    assert_string_equal(a1, a2);
    assert_int_equal(kv_vipps_webhook_sign(h2, sizeof h2, a2, sizeof a2, "k",
                                           "https://till.example.no:8443/wh?x=1",
                                           "{}", 2, VEC_DATE), KV_VIPPS_OK);
    assert_string_not_equal(a1, a2);
}

static void test_vipps_wire__client_options(void **state)
{
    (void)state;
    kv_vipps_client *c = NULL;
    char err[200];
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.environment = "test";
    o.client_id = "id";
    o.client_secret = "secret-value";
    o.subscription_key = "subkey-value";
    o.msn = "123456";
    assert_int_equal(kv_vipps_client_create(&c, &o, err, sizeof err), KV_VIPPS_OK);
    assert_string_equal(kv_vipps_base_url(c), "https://apitest.vipps.no");
    assert_int_equal(kv_vipps_is_test(c), 1);
    kv_vipps_client_destroy(c);
    o.environment = "production";
    assert_int_equal(kv_vipps_client_create(&c, &o, err, sizeof err), KV_VIPPS_OK);
    assert_string_equal(kv_vipps_base_url(c), "https://api.vipps.no");
    assert_int_equal(kv_vipps_is_test(c), 0);
    /* Test-only approve is refused in production, before any I/O. */
    assert_int_equal(kv_vipps_test_approve(c, "OSL-000123-a1", "4791234567"),
                     KV_VIPPS_E_REFUSED);
    kv_vipps_client_destroy(c);
    o.environment = "http://127.0.0.1:9/";
    assert_int_equal(kv_vipps_client_create(&c, &o, err, sizeof err), KV_VIPPS_OK);
    assert_string_equal(kv_vipps_base_url(c), "http://127.0.0.1:9");
    assert_int_equal(kv_vipps_is_test(c), 1);
    kv_vipps_client_destroy(c);
    c = NULL;
    /* Plain http to a remote host is refused (TLS everywhere but loopback). */
    o.environment = "http://api.vipps.no";
    assert_int_equal(kv_vipps_client_create(&c, &o, err, sizeof err),
                     KV_VIPPS_E_REFUSED);
    assert_null(c);
    o.environment = "ftp://x";
    assert_int_equal(kv_vipps_client_create(&c, &o, err, sizeof err),
                     KV_VIPPS_E_INVALID);
    o.environment = "test";
    o.msn = "12";
    assert_int_equal(kv_vipps_client_create(&c, &o, err, sizeof err),
                     KV_VIPPS_E_INVALID);
    assert_non_null(strstr(err, "msn"));
    o.msn = "123456";
    o.connect_timeout_ms = 5000;
    assert_int_equal(kv_vipps_client_create(&c, &o, err, sizeof err),
                     KV_VIPPS_E_INVALID);
    o.connect_timeout_ms = 0;
    o.total_timeout_ms = 31000;
    assert_int_equal(kv_vipps_client_create(&c, &o, err, sizeof err),
                     KV_VIPPS_E_INVALID);
    o.total_timeout_ms = 0;
    o.client_secret = NULL;
    assert_int_equal(kv_vipps_client_create(&c, &o, err, sizeof err),
                     KV_VIPPS_E_INVALID);
    assert_null(strstr(err, "subkey-value"));
    assert_null(c);
    kv_vipps_client_destroy(NULL);
    kv_vipps_shared_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vipps_wire__create_qr_body),
        cmocka_unit_test(test_vipps_wire__create_push_and_receipt),
        cmocka_unit_test(test_vipps_wire__create_rejects_bad_input),
        cmocka_unit_test(test_vipps_wire__modification_cancel_bodies),
        cmocka_unit_test(test_vipps_wire__ecom_bodies),
        cmocka_unit_test(test_vipps_wire__webhook_body),
        cmocka_unit_test(test_vipps_wire__token_strings_and_numbers),
        cmocka_unit_test(test_vipps_wire__payment_and_created),
        cmocka_unit_test(test_vipps_wire__events),
        cmocka_unit_test(test_vipps_wire__ecom_and_qr),
        cmocka_unit_test(test_vipps_wire__ecom_callback_auth),
        cmocka_unit_test(test_vipps_wire__webhook_payloads),
        cmocka_unit_test(test_vipps_wire__problem_7010_never_says_wrong_number),
        cmocka_unit_test(test_vipps_wire__ecom_error_81_and_field),
        cmocka_unit_test(test_vipps_wire__gateway_and_token_errors),
        cmocka_unit_test(test_vipps_wire__masking),
        cmocka_unit_test(test_vipps_wire__lang_and_strerror),
        cmocka_unit_test(test_vipps_wire__hmac_test_vector),
        cmocka_unit_test(test_vipps_wire__hmac_refusals),
        cmocka_unit_test(test_vipps_wire__client_options),
    };
    return cmocka_run_group_tests_name("vipps_wire", tests, NULL, NULL);
}
