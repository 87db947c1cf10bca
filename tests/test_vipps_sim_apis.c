/*
 * test_vipps_sim_apis.c - the payment client's other APIs against the
 * simulator over real HTTP on loopback (kv_sim from sim/, started in
 * process on a free port; the same server `kvitt sim` runs): eCom with its
 * one-time QR, Order Management receipts, webhook deliveries verified with
 * the HMAC check and eCom callbacks checked against the authToken (both
 * received by a real HTTP server on loopback), and that no secret reaches
 * the verbose log.  Nothing is mocked.  ePayment calls:
 * test_vipps_sim_epay.c; errors and retries: test_vipps_sim_faults.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim.h"
#include "src/vipps/vipps.h"
#include "tests/lib/kvtsim.h"
#include "tests/lib/kvtvipps.h"

static void test_vipps_sim__ecom_qr_flow(void **state)
{
    kvtv_env *e = *state;
    kv_sim *s = kvtv_start_sim(NULL);
    kv_vipps_client *c = kvtv_client(s, e->oslo, NULL, NULL);
    kv_vipps_ecom_req rq = {
        .order_id = "OSL-ecom-0001", .amount = 20000, .text = "Kvitt Kaffe",
        .callback_prefix = "http://127.0.0.1:9/cb", .fallback = "https://example.no",
        .auth_token = "cb-token-1",
    };
    char url[2048];
    assert_int_equal(kv_vipps_ecom_initiate(url, sizeof url, c, &rq), KV_VIPPS_OK);
    assert_true(!strncmp(url, "http", 4));
    kv_vipps_qr q;
    assert_int_equal(kv_vipps_qr_onetime(&q, c, url, KV_VIPPS_QR_TEXT, 0), KV_VIPPS_OK);
    assert_true(!strncmp(q.url, "https://qr.vipps.no/", 20));
    assert_true(q.expires_in > 0);
    kv_vipps_qr qp;
    assert_int_equal(kv_vipps_qr_onetime(&qp, c, url, KV_VIPPS_QR_PNG, 400), KV_VIPPS_OK);
    assert_non_null(strstr(qp.url, ".png"));
    kv_vipps_ecom_details d;
    assert_int_equal(kv_vipps_ecom_details_get(&d, c, "OSL-ecom-0001"), KV_VIPPS_OK);
    assert_string_equal(d.last_operation, "INITIATE");
    cJSON_Delete(kvtv_control(s, "POST", "/sim/v1/payments/OSL-ecom-0001/state",
                              "{\"state\":\"approve\"}"));
    assert_int_equal(kv_vipps_ecom_details_get(&d, c, "OSL-ecom-0001"), KV_VIPPS_OK);
    assert_string_equal(d.last_operation, "RESERVE");
    assert_int_equal(d.amount, 20000);
    /* Capture with X-Request-Id, retried after a 500 with the same id. */
    kvtv_fault(s, "{\"method\":\"POST\",\"path\":\"/ecomm/v2/payments/OSL-ecom-0001/capture\","
                  "\"count\":1,\"action\":\"status\",\"status\":500}");
    kv_vipps_ecom_result r;
    assert_int_equal(kv_vipps_ecom_capture(&r, c, "OSL-ecom-0001", 0, "capture",
                                           "OSL-ecom-0001-cap"), KV_VIPPS_OK);
    assert_int_equal(r.captured, 20000);
    int paths = 0;
    assert_int_equal(kvtv_key_seen(s, "OSL-ecom-0001-cap", &paths), 2);
    assert_int_equal(kv_vipps_ecom_refund(&r, c, "OSL-ecom-0001", 5000, "refund",
                                          "OSL-ecom-0001-ref"), KV_VIPPS_OK);
    assert_int_equal(r.refunded, 5000);
    /* Refund above captured: eCom error array, code 71 -> STATE. */
    assert_int_equal(kv_vipps_ecom_refund(&r, c, "OSL-ecom-0001", 50000, "refund",
                                          "OSL-ecom-0001-ref2"), KV_VIPPS_E_API);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_STATE);
    /* Cancel an initiated order. */
    rq.order_id = "OSL-ecom-0002";
    assert_int_equal(kv_vipps_ecom_initiate(url, sizeof url, c, &rq), KV_VIPPS_OK);
    assert_int_equal(kv_vipps_ecom_cancel(&r, c, "OSL-ecom-0002", "abandoned", 0),
                     KV_VIPPS_OK);
    assert_int_equal(kv_vipps_ecom_details_get(&d, c, "OSL-ecom-0002"), KV_VIPPS_OK);
    assert_string_equal(d.last_operation, "CANCEL");
    /* Unknown phone on eCom: 81, customer cannot pay. */
    rq.order_id = "OSL-ecom-0003";
    rq.phone = "99999999";
    assert_int_equal(kv_vipps_ecom_initiate(url, sizeof url, c, &rq), KV_VIPPS_E_API);
    assert_int_equal(kv_vipps_last_error(c)->code, 81);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_CUSTOMER);
    /* Duplicate orderId: 34, conflict. */
    rq.order_id = "OSL-ecom-0001";
    rq.phone = NULL;
    assert_int_equal(kv_vipps_ecom_initiate(url, sizeof url, c, &rq), KV_VIPPS_E_API);
    assert_int_equal(kv_vipps_last_error(c)->code, 34);
    /* Details of an unknown order. */
    assert_int_not_equal(kv_vipps_ecom_details_get(&d, c, "OSL-ecom-none"), KV_VIPPS_OK);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_sim__order_management_receipt(void **state)
{
    kvtv_env *e = *state;
    kv_sim *s = kvtv_start_sim(NULL);
    kv_vipps_client *c = kvtv_client(s, e->oslo, NULL, NULL);
    kv_vipps_created cr;
    kvtv_create_qr(c, "OSL-receipt-1", 14900, &cr);
    kv_vipps_order_line lines[1] = {
        { .id = "1001", .name = "Cappuccino", .total_amount = 14900,
          .total_amount_excl_tax = 13304, .total_tax_amount = 1596,
          .tax_rate = 1200, .unit_price = 14900, .quantity = "1" },
    };
    kv_vipps_receipt r = { .lines = lines, .n_lines = 1, .currency = "NOK",
                           .pos_id = "till-1", .receipt_number = "000777" };
    assert_int_equal(kv_vipps_om_add_receipt(c, "OSL-receipt-1", &r), KV_VIPPS_OK);
    /* Receipts are immutable: a second one is a conflict. */
    assert_int_equal(kv_vipps_om_add_receipt(c, "OSL-receipt-1", &r), KV_VIPPS_E_API);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_CONFLICT);
    /* Receipt inside create. */
    kv_vipps_create_req rq = {
        .reference = "OSL-receipt-2", .amount = 14900, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_QR, .receipt = &r, .description = "Kvitt",
        .idempotency_key = "OSL-receipt-2-create",
    };
    assert_int_equal(kv_vipps_create(&cr, c, &rq), KV_VIPPS_OK);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

/* Deliveries rv recorded (a real HTTP server on loopback, kvtsim.c) that
 * pass the webhook HMAC check for secret and url and parse as an event;
 * *bad counts the others. */
static int verified_webhooks(kvts_receiver *rv, const char *secret, const char *url, int *bad)
{
    int ok = 0;
    *bad = 0;
    pthread_mutex_lock(&rv->mu);
    for (int i = 0; i < rv->n; i++) {
        const kvts_received *r = &rv->rec[i];
        size_t len = strlen(r->body);
        kv_vipps_webhook_event ev;
        if (kv_vipps_webhook_verify(secret, url, r->body, len, r->date, r->hash, r->auth,
                                    time(NULL), 300) == KV_VIPPS_OK &&
            kv_vipps_webhook_parse(&ev, r->body, len) == KV_VIPPS_OK)
            ok++;
        else
            (*bad)++;
    }
    pthread_mutex_unlock(&rv->mu);
    return ok;
}

static void test_vipps_sim__webhooks(void **state)
{
    kvtv_env *e = *state;
    kv_sim *s = kvtv_start_sim(NULL);
    kv_vipps_client *c = kvtv_client(s, e->oslo, NULL, NULL);
    kvts_receiver rv;
    kvts_receiver_start(&rv, 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/vipps/webhook", rv.port);

    kv_vipps_webhook w;
    assert_int_equal(kv_vipps_webhook_register(&w, c, url,
                                               KV_VIPPS_WH_AUTHORIZED |
                                               KV_VIPPS_WH_CAPTURED), KV_VIPPS_OK);
    assert_true(w.id[0] && w.secret[0]);
    kv_vipps_webhook *list = NULL;
    size_t n = 0;
    assert_int_equal(kv_vipps_webhook_list(&list, &n, c), KV_VIPPS_OK);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i].id, w.id)) {
            found = 1;
            assert_string_equal(list[i].url, url);
            assert_int_equal(list[i].events, KV_VIPPS_WH_AUTHORIZED | KV_VIPPS_WH_CAPTURED);
        }
    free(list);
    assert_true(found);

    kv_vipps_created cr;
    kvtv_create_qr(c, "OSL-hook-0001", 2500, &cr);
    kvtv_approve(c, e, "OSL-hook-0001");
    kv_vipps_modification m;
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-hook-0001", 2500, "NOK",
                                      "OSL-hook-0001-capture"), KV_VIPPS_OK);
    assert_int_equal(kvts_receiver_wait(&rv, 2, 10000), 2);
    int bad = 0;
    /* authorized + captured, both verified */
    assert_int_equal(verified_webhooks(&rv, w.secret, url, &bad), 2);
    assert_int_equal(bad, 0);

    assert_int_equal(kv_vipps_webhook_delete(c, w.id), KV_VIPPS_OK);
    assert_int_equal(kv_vipps_webhook_delete(c, w.id), KV_VIPPS_E_NOT_FOUND);
    kvts_receiver_stop(&rv);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_sim__ecom_callback_delivered(void **state)
{
    kvtv_env *e = *state;
    kv_sim *s = kvtv_start_sim(NULL);
    kv_vipps_client *c = kvtv_client(s, e->oslo, NULL, NULL);
    kvts_receiver rv;
    kvts_receiver_start(&rv, 0);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "http://127.0.0.1:%d/vipps", rv.port);
    kv_vipps_ecom_req rq = {
        .order_id = "OSL-ecomcb-01", .amount = 12300, .text = "Kvitt Kaffe",
        .callback_prefix = prefix, .fallback = "https://example.no",
        .auth_token = "cb-auth-token-77",
    };
    char url[2048];
    assert_int_equal(kv_vipps_ecom_initiate(url, sizeof url, c, &rq), KV_VIPPS_OK);
    cJSON_Delete(kvtv_control(s, "POST", "/sim/v1/payments/OSL-ecomcb-01/state",
                              "{\"state\":\"approve\"}"));
    assert_int_equal(kvts_receiver_wait(&rv, 1, 10000), 1);
    const kvts_received *r = &rv.rec[0];
    kv_vipps_ecom_callback cb;
    assert_int_equal(kv_vipps_ecom_callback_parse(&cb, r->body, strlen(r->body), r->auth,
                                                  "cb-auth-token-77"), KV_VIPPS_OK);
    assert_true(!strcmp(cb.status, "RESERVED") || !strcmp(cb.status, "RESERVE"));
    assert_string_equal(r->path, "/vipps/v2/payments/OSL-ecomcb-01");
    /* The same callback checked against another authToken is refused. */
    rq.order_id = "OSL-ecomcb-02";
    assert_int_equal(kv_vipps_ecom_initiate(url, sizeof url, c, &rq), KV_VIPPS_OK);
    cJSON_Delete(kvtv_control(s, "POST", "/sim/v1/payments/OSL-ecomcb-02/state",
                              "{\"state\":\"approve\"}"));
    assert_int_equal(kvts_receiver_wait(&rv, 2, 10000), 2);
    r = &rv.rec[1];
    assert_string_equal(r->path, "/vipps/v2/payments/OSL-ecomcb-02");
    assert_int_equal(kv_vipps_ecom_callback_parse(&cb, r->body, strlen(r->body), r->auth,
                                                  "another-token"), KV_VIPPS_E_SIGNATURE);
    kvts_receiver_stop(&rv);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_sim__no_secrets_in_verbose_log(void **state)
{
    kvtv_env *e = *state;
    kv_sim *s = kvtv_start_sim(NULL);
    kvtv_log lb = { 0 };
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.log = kvtv_log_collect;
    o.log_payload = &lb;
    o.log_level = KV_VIPPS_LOG_DEBUG;
    kv_vipps_client *c = kvtv_client(s, e->oslo, NULL, &o);
    /* Full run: push (phone), QR, approve (phone), capture, refund,
     * events, errors (7010 with the number in the request), webhooks. */
    kv_vipps_create_req rq = {
        .reference = "OSL-secret-01", .amount = 4900, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_PUSH, .phone = e->phone, .description = "Kvitt",
        .idempotency_key = "OSL-secret-01-create",
    };
    kv_vipps_created cr;
    assert_int_equal(kv_vipps_create(&cr, c, &rq), KV_VIPPS_OK);
    kvtv_approve(c, e, "OSL-secret-01");
    kv_vipps_modification m;
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-secret-01", 4900, "NOK",
                                      "OSL-secret-01-cap"), KV_VIPPS_OK);
    assert_int_equal(kv_vipps_refund(&m, c, "OSL-secret-01", 100, "NOK",
                                     "OSL-secret-01-ref"), KV_VIPPS_OK);
    kv_vipps_event *ev = NULL;
    size_t n = 0;
    assert_int_equal(kv_vipps_events(&ev, &n, c, "OSL-secret-01"), KV_VIPPS_OK);
    kv_vipps_events_free(ev);
    rq.reference = "OSL-secret-02";
    rq.idempotency_key = "OSL-secret-02-create";
    rq.phone = "4799999998";
    assert_int_equal(kv_vipps_create(&cr, c, &rq), KV_VIPPS_E_API);
    kv_vipps_webhook w;
    assert_int_equal(kv_vipps_webhook_register(&w, c, "https://till.example.no/wh",
                                               KV_VIPPS_WH_ALL), KV_VIPPS_OK);
    kv_vipps_ecom_req er = {
        .order_id = "OSL-secret-e1", .amount = 1000, .text = "Kvitt",
        .callback_prefix = "http://127.0.0.1:9/cb", .fallback = "https://example.no",
        .auth_token = "callback-auth-token-xyz", .phone = e->phone + 2,
    };
    char url[2048];
    assert_int_equal(kv_vipps_ecom_initiate(url, sizeof url, c, &er), KV_VIPPS_OK);
    /* A 401 refresh round as well. */
    kvtv_fault(s, "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/OSL-secret-01\","
                  "\"count\":1,\"action\":\"status\",\"status\":401}");
    kv_vipps_payment p;
    assert_int_equal(kv_vipps_get(&p, c, "OSL-secret-01"), KV_VIPPS_OK);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);

    assert_non_null(lb.buf);
    /* The log is useful ... */
    assert_non_null(strstr(lb.buf, "POST /epayment/v1/payments -> 201"));
    assert_non_null(strstr(lb.buf, "Idempotency-Key: OSL-secret-01-cap"));
    assert_non_null(strstr(lb.buf, "Authorization: [redacted]"));
    assert_non_null(strstr(lb.buf, "Ocp-Apim-Subscription-Key: [redacted]"));
    assert_non_null(strstr(lb.buf, "Merchant-Serial-Number: 123456"));
    assert_non_null(strstr(lb.buf, "Vipps-System-Name: kvitt"));
    assert_non_null(strstr(lb.buf, "Vipps-System-Version: "));
    assert_non_null(strstr(lb.buf, "Vipps-System-Plugin-Name: kvitt-till"));
    assert_non_null(strstr(lb.buf, "Vipps-System-Plugin-Version: "));
    assert_non_null(strstr(lb.buf, "User-Agent: kvitt/"));
    /* ... and holds no secret. */
    const char *secrets[] = {
        e->oslo->client_secret, e->oslo->subscription_key, e->oslo->client_id,
        e->phone, e->phone + 2, "4799999998", "99999998", w.secret,
        "callback-auth-token-xyz",
        "eyJ",           /* every access token (JWT) starts so */
        "Bearer ey",
    };
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        if (strstr(lb.buf, secrets[i]))
            printf("secret #%zu found in the log\n", i);
        assert_null(strstr(lb.buf, secrets[i]));
    }
    free(lb.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vipps_sim__ecom_qr_flow),
        cmocka_unit_test(test_vipps_sim__order_management_receipt),
        cmocka_unit_test(test_vipps_sim__webhooks),
        cmocka_unit_test(test_vipps_sim__ecom_callback_delivered),
        cmocka_unit_test(test_vipps_sim__no_secrets_in_verbose_log),
    };
    return cmocka_run_group_tests_name("vipps_sim_apis", tests, kvtv_setup, kvtv_teardown);
}
