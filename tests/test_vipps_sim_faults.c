/*
 * test_vipps_sim_faults.c - the payment client against the simulator over
 * real HTTP on loopback (kv_sim from sim/, started in process on a free
 * port; the same server `kvitt sim` runs) when things go wrong: the error
 * classes, retries under injected faults (attempts counted by the
 * simulator, idempotency key reuse checked), lost answers resolved by
 * reading the payment back, timeouts, token expiry and 401 refresh, and
 * 429 handling.  Nothing is mocked.  The happy paths: test_vipps_sim_epay.c
 * and test_vipps_sim_apis.c.
 */
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

#include "sim/sim.h"
#include "src/vipps/vipps.h"
#include "tests/lib/kvtest.h"
#include "tests/lib/kvtvipps.h"

static void test_vipps_sim__error_classes(void **state)
{
    kvtv_env *e = *state;
    kv_sim *s = kvtv_start_sim(NULL);
    /* Wrong client secret: AUTH from the token call, nothing else sent. */
    kv_sim_cred bad = *e->oslo;
    bad.client_secret = "not-the-secret";
    kv_vipps_client *c = kvtv_client(s, &bad, NULL, NULL);
    kv_vipps_payment p;
    assert_int_equal(kv_vipps_get(&p, c, "OSL-nothing-1"), KV_VIPPS_E_AUTH);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_AUTH);
    assert_int_equal(kv_vipps_last_error(c)->api, KV_VIPPS_API_TOKEN);
    assert_null(strstr(kv_vipps_last_error(c)->log, "not-the-secret"));
    kv_vipps_client_destroy(c);
    /* Wrong subscription key: the gateway's {statusCode, message}. */
    bad = *e->oslo;
    bad.subscription_key = "0000000000000000";
    c = kvtv_client(s, &bad, NULL, NULL);
    assert_int_equal(kv_vipps_token_warm(c), KV_VIPPS_E_AUTH);
    assert_non_null(strstr(kv_vipps_last_error(c)->log, "subscription key"));
    kv_vipps_client_destroy(c);

    c = kvtv_client(s, e->oslo, NULL, NULL);
    /* 404 */
    assert_int_equal(kv_vipps_get(&p, c, "OSL-nothing-1"), KV_VIPPS_E_NOT_FOUND);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_NOT_FOUND);
    assert_int_equal(kv_vipps_last_error(c)->http_status, 404);
    /* Same key, different body: 409 conflict. */
    kv_vipps_created cr;
    kvtv_create_qr(c, "OSL-errors-01", 2000, &cr);
    kv_vipps_create_req rq = {
        .reference = "OSL-errors-01", .amount = 2100, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_QR, .idempotency_key = "OSL-errors-01-create",
    };
    assert_int_equal(kv_vipps_create(&cr, c, &rq), KV_VIPPS_E_API);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_CONFLICT);
    /* Capture before authorization, then too much. */
    kv_vipps_modification m;
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-errors-01", 2000, "NOK",
                                      "OSL-errors-01-cap-1"), KV_VIPPS_E_API);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_STATE);
    kvtv_approve(c, e, "OSL-errors-01");
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-errors-01", 2001, "NOK",
                                      "OSL-errors-01-cap-2"), KV_VIPPS_E_API);
    assert_int_equal(kv_vipps_last_error(c)->code, 6090);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_STATE);
    /* Refund more than captured. */
    assert_int_equal(kv_vipps_refund(&m, c, "OSL-errors-01", 100, "NOK",
                                     "OSL-errors-01-ref-1"), KV_VIPPS_E_API);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_STATE);
    /* Client-side validation: nothing sent. */
    kv_vipps_stats before, after;
    kv_vipps_get_stats(c, &before);
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-errors-01", -5, "NOK", "k"),
                     KV_VIPPS_E_INVALID);
    assert_int_equal(kv_vipps_capture(&m, c, "bad ref", 5, "NOK", "k"),
                     KV_VIPPS_E_INVALID);
    kv_vipps_get_stats(c, &after);
    assert_int_equal(before.http_requests, after.http_requests);
    kv_vipps_client_destroy(c);

    /* Partner keys: the store's MSN goes on every call. */
    c = kvtv_client(s, e->partner, "234567", NULL);
    kvtv_create_qr(c, "BRG-partner-1", 3000, &cr);
    assert_int_equal(kv_vipps_get(&p, c, "BRG-partner-1"), KV_VIPPS_OK);
    kv_vipps_client_destroy(c);
    /* ... and the payment belongs to that sales unit, not to oslo. */
    c = kvtv_client(s, e->oslo, NULL, NULL);
    assert_int_equal(kv_vipps_get(&p, c, "BRG-partner-1"), KV_VIPPS_E_NOT_FOUND);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_sim__retry_5xx_same_key(void **state)
{
    kvtv_env *e = *state;
    kv_sim *s = kvtv_start_sim(NULL);
    kv_vipps_client *c = kvtv_client(s, e->oslo, NULL, NULL);
    kv_vipps_created cr;
    kvtv_create_qr(c, "OSL-retry-001", 7000, &cr);
    kvtv_approve(c, e, "OSL-retry-001");
    cJSON_Delete(kvtv_control(s, "DELETE", "/sim/v1/stats", NULL));
    kvtv_fault(s, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments/OSL-retry-001/capture\","
                  "\"count\":2,\"action\":\"status\",\"status\":503}");
    kv_vipps_modification m;
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-retry-001", 7000, "NOK",
                                      "OSL-retry-001-capture-1"), KV_VIPPS_OK);
    assert_int_equal(m.captured, 7000);
    assert_int_equal(kvtv_sim_count(s, "POST /epayment/v1/payments/OSL-retry-001/capture"), 3);
    int paths = 0;
    assert_int_equal(kvtv_key_seen(s, "OSL-retry-001-capture-1", &paths), 3);
    assert_int_equal(paths, 1);
    kv_vipps_stats st;
    kv_vipps_get_stats(c, &st);
    assert_int_equal(st.retries, 2);

    /* A dropped connection on create: retried with the same key. */
    cJSON_Delete(kvtv_control(s, "DELETE", "/sim/v1/stats", NULL));
    kvtv_fault(s, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments\",\"count\":1,"
                  "\"action\":\"drop\"}");
    kvtv_create_qr(c, "OSL-retry-002", 7000, &cr);
    assert_int_equal(kvtv_key_seen(s, "OSL-retry-002-create", &paths), 2);
    kv_vipps_payment p;
    assert_int_equal(kv_vipps_get(&p, c, "OSL-retry-002"), KV_VIPPS_OK);

    /* 423 Locked is retried too. */
    kvtv_fault(s, "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/OSL-retry-002\","
                  "\"count\":1,\"action\":\"status\",\"status\":423}");
    assert_int_equal(kv_vipps_get(&p, c, "OSL-retry-002"), KV_VIPPS_OK);

    /* Another 4xx is never retried. */
    cJSON_Delete(kvtv_control(s, "DELETE", "/sim/v1/stats", NULL));
    kvtv_fault(s, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments/OSL-retry-002/cancel\","
                  "\"count\":3,\"action\":\"status\",\"status\":400,\"errorCode\":\"3010\"}");
    assert_int_equal(kv_vipps_cancel(&m, c, "OSL-retry-002", 0,
                                     "OSL-retry-002-cancel"), KV_VIPPS_E_API);
    assert_int_equal(kvtv_sim_count(s, "POST /epayment/v1/payments/OSL-retry-002/cancel"), 1);
    assert_int_equal(kv_vipps_last_error(c)->code, 3010);
    cJSON_Delete(kvtv_control(s, "DELETE", "/sim/v1/faults", NULL));

    /* 5xx exhausted on a GET: unreachable, never "failed". */
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.max_attempts = 3;
    kv_vipps_client *c3 = kvtv_client(s, e->oslo, NULL, &o);
    kvtv_fault(s, "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/OSL-retry-002\","
                  "\"count\":3,\"action\":\"status\",\"status\":500}");
    assert_int_equal(kv_vipps_get(&p, c3, "OSL-retry-002"), KV_VIPPS_E_UNREACHABLE);
    assert_int_equal(kv_vipps_last_error(c3)->cls, KV_VIPPS_ERR_SERVER);
    kv_vipps_client_destroy(c3);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_sim__lost_answers_resolved(void **state)
{
    kvtv_env *e = *state;
    kv_sim *s = kvtv_start_sim(NULL);
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.max_attempts = 2;
    kv_vipps_client *c = kvtv_client(s, e->oslo, NULL, &o);
    /* Create performed, every answer lost (500 after the fact): the client
     * reads the payment back and reports success. */
    kvtv_fault(s, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments\",\"count\":2,"
                  "\"action\":\"status\",\"status\":500,\"when\":\"after\"}");
    kv_vipps_created cr;
    kvtv_create_qr(c, "OSL-lost-0001", 6000, &cr);
    assert_true(!strncmp(cr.redirect_url, "https://qr.vipps.no/", 20));
    int paths = 0;
    assert_int_equal(kvtv_key_seen(s, "OSL-lost-0001-create", &paths), 2);

    /* Capture performed, answers lost: resolved by the event log (the
     * CAPTURED event carries our key). */
    kvtv_approve(c, e, "OSL-lost-0001");
    kvtv_fault(s, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments/OSL-lost-0001/capture\","
                  "\"count\":2,\"action\":\"drop\",\"when\":\"after\"}");
    kv_vipps_modification m;
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-lost-0001", 6000, "NOK",
                                      "OSL-lost-0001-capture-1"), KV_VIPPS_OK);
    assert_int_equal(m.captured, 6000);

    /* Refund never reaches the service (dropped before), and the log
     * cannot be read either: UNKNOWN, not failed. */
    kvtv_fault(s, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments/OSL-lost-0001/refund\","
                  "\"count\":2,\"action\":\"status\",\"status\":502}");
    kvtv_fault(s, "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/OSL-lost-0001/events\","
                  "\"count\":2,\"action\":\"status\",\"status\":503}");
    assert_int_equal(kv_vipps_refund(&m, c, "OSL-lost-0001", 1000, "NOK",
                                     "OSL-lost-0001-refund-1"), KV_VIPPS_E_UNKNOWN);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_AMBIGUOUS);
    assert_non_null(strstr(kv_vipps_last_error(c)->cashier, "not known"));
    /* Sent again later with the same key, it goes through once. */
    assert_int_equal(kv_vipps_refund(&m, c, "OSL-lost-0001", 1000, "NOK",
                                     "OSL-lost-0001-refund-1"), KV_VIPPS_OK);
    assert_int_equal(m.refunded, 1000);

    /* Create that never arrived (502 before state), GET says 404: a
     * definite "not created". */
    kvtv_fault(s, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments\",\"count\":2,"
                  "\"action\":\"status\",\"status\":502}");
    kv_vipps_create_req rq = {
        .reference = "OSL-lost-0002", .amount = 100, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_QR, .idempotency_key = "OSL-lost-0002-create",
    };
    assert_int_equal(kv_vipps_create(&cr, c, &rq), KV_VIPPS_E_UNREACHABLE);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_sim__timeouts(void **state)
{
    kvtv_env *e = *state;
    kv_sim *s = kvtv_start_sim(NULL);
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.total_timeout_ms = 300;
    o.max_attempts = 2;
    kv_vipps_client *c = kvtv_client(s, e->oslo, NULL, &o);
    kv_vipps_created cr;
    kvtv_create_qr(c, "OSL-slow-0001", 3000, &cr);
    kvtv_approve(c, e, "OSL-slow-0001");
    /* A slow GET uses up the call's 300 ms budget: unreachable + TIMEOUT,
     * after a single attempt (no time left for another). */
    cJSON_Delete(kvtv_control(s, "DELETE", "/sim/v1/stats", NULL));
    kvtv_fault(s, "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/OSL-slow-0001\","
                  "\"count\":1,\"action\":\"slow\",\"delayMs\":800}");
    kv_vipps_payment p;
    assert_int_equal(kv_vipps_get(&p, c, "OSL-slow-0001"), KV_VIPPS_E_UNREACHABLE);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_TIMEOUT);
    assert_int_equal(kvtv_sim_count(s, "GET /epayment/v1/payments/OSL-slow-0001"), 1);
    /* A slow capture is performed although we timed out: the event log
     * (the CAPTURED event carrying our key) confirms it. */
    kvtv_fault(s, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments/OSL-slow-0001/capture\","
                  "\"count\":2,\"action\":\"slow\",\"delayMs\":800}");
    kv_vipps_modification m;
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-slow-0001", 3000, "NOK",
                                      "OSL-slow-0001-capture"), KV_VIPPS_OK);
    assert_int_equal(m.captured, 3000);
    usleep(900 * 1000); /* let the simulator's slow threads finish */
    assert_int_equal(kv_vipps_get(&p, c, "OSL-slow-0001"), KV_VIPPS_OK);
    assert_int_equal(p.captured, 3000);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);

    /* Nothing listening: connection refused -> unreachable/TRANSPORT. */
    int port = kvt_free_port();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    o = (kv_vipps_opts)KV_VIPPS_OPTS_INIT;
    o.environment = url;
    o.client_id = "x";
    o.client_secret = "y";
    o.subscription_key = "z";
    o.msn = "123456";
    o.max_attempts = 2;
    o.backoff_base_ms = 10;
    c = NULL;
    assert_int_equal(kv_vipps_client_create(&c, &o, NULL, 0), KV_VIPPS_OK);
    assert_int_equal(kv_vipps_get(&p, c, "OSL-slow-0001"), KV_VIPPS_E_UNREACHABLE);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_TRANSPORT);
    kv_vipps_client_destroy(c);
}

static void ttl2(kv_sim_options *o) { o->token_ttl_s = 2; }

typedef struct { time_t offset; } clockctl;
static time_t test_clock(void *p)
{
    return time(NULL) - ((clockctl *)p)->offset;
}

static void test_vipps_sim__token_expiry_and_401_refresh(void **state)
{
    kvtv_env *e = *state;
    kv_sim *s = kvtv_start_sim(ttl2);
    /* Refresh ahead of expires_on: with a 2 s token and a 1 s margin, a
     * call 1.2 s later fetches a new token without any 401. */
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.token_margin_s = 1;
    kv_vipps_client *c = kvtv_client(s, e->oslo, NULL, &o);
    kv_vipps_created cr;
    kvtv_create_qr(c, "OSL-token-001", 1000, &cr);
    kv_vipps_stats st;
    kv_vipps_get_stats(c, &st);
    assert_int_equal(st.token_fetches, 1);
    usleep(1200 * 1000);
    kv_vipps_payment p;
    assert_int_equal(kv_vipps_get(&p, c, "OSL-token-001"), KV_VIPPS_OK);
    kv_vipps_get_stats(c, &st);
    assert_int_equal(st.token_fetches, 2);
    kv_vipps_client_destroy(c);

    /* A client whose clock is behind believes its token valid; the service
     * says 401: drop it, fetch once, retry once. */
    clockctl cc = { .offset = 0 };
    o = (kv_vipps_opts)KV_VIPPS_OPTS_INIT;
    o.clock = test_clock;
    o.clock_payload = &cc;
    o.token_margin_s = 1;
    c = kvtv_client(s, e->oslo, NULL, &o);
    assert_int_equal(kv_vipps_token_warm(c), KV_VIPPS_OK);
    long issued = kvtv_tokens_issued(s);
    cc.offset = 10;            /* our clock is now 10 s behind */
    usleep(2200 * 1000);       /* the service's token expired */
    cJSON_Delete(kvtv_control(s, "DELETE", "/sim/v1/stats", NULL));
    assert_int_equal(kv_vipps_get(&p, c, "OSL-token-001"), KV_VIPPS_OK);
    kv_vipps_get_stats(c, &st);
    assert_int_equal(st.token_fetches, 2);
    assert_int_equal(kvtv_sim_count(s, "GET /epayment/v1/payments/OSL-token-001"), 2);
    assert_true(kvtv_tokens_issued(s) >= 1);
    (void)issued;
    kv_vipps_client_destroy(c);

    /* Shared cache: two clients with the same credentials fetch once. */
    kv_vipps_shared *sh = NULL;
    assert_int_equal(kv_vipps_shared_create(&sh), KV_VIPPS_OK);
    o = (kv_vipps_opts)KV_VIPPS_OPTS_INIT;
    o.shared = sh;
    kv_vipps_client *a = kvtv_client(s, e->oslo, NULL, &o);
    kv_vipps_client *b = kvtv_client(s, e->oslo, NULL, &o);
    assert_int_equal(kv_vipps_get(&p, a, "OSL-token-001"), KV_VIPPS_OK);
    assert_int_equal(kv_vipps_get(&p, b, "OSL-token-001"), KV_VIPPS_OK);
    kv_vipps_stats sa, sb;
    kv_vipps_get_stats(a, &sa);
    kv_vipps_get_stats(b, &sb);
    assert_int_equal(sa.token_fetches + sb.token_fetches, 1);
    /* A different credential set gets its own token. */
    kv_vipps_client *x = kvtv_client(s, e->bergen, NULL, &o);
    assert_int_equal(kv_vipps_token_warm(x), KV_VIPPS_OK);
    kv_vipps_stats sx;
    kv_vipps_get_stats(x, &sx);
    assert_int_equal(sx.token_fetches, 1);
    kv_vipps_client_destroy(x);
    kv_vipps_client_destroy(a);
    kv_vipps_client_destroy(b);
    kv_vipps_shared_destroy(sh);
    kv_sim_destroy(s);
}

static void rate5(kv_sim_options *o) { o->rate_get_per_min = 5; }

static void test_vipps_sim__rate_limit_429(void **state)
{
    kvtv_env *e = *state;
    kv_sim *s = kvtv_start_sim(rate5);
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.max_attempts = 2;
    o.retry_after_max_s = 1;
    kv_vipps_client *c = kvtv_client(s, e->oslo, NULL, &o);
    kv_vipps_created cr;
    kvtv_create_qr(c, "OSL-rate-0001", 1000, &cr);
    kv_vipps_payment p;
    for (int i = 0; i < 5; i++)
        assert_int_equal(kv_vipps_get(&p, c, "OSL-rate-0001"), KV_VIPPS_OK);
    cJSON_Delete(kvtv_control(s, "DELETE", "/sim/v1/stats", NULL));
    assert_int_equal(kv_vipps_get(&p, c, "OSL-rate-0001"), KV_VIPPS_E_API);
    const kv_vipps_error *er = kv_vipps_last_error(c);
    assert_int_equal(er->http_status, 429);
    assert_int_equal(er->cls, KV_VIPPS_ERR_RATE_LIMITED);
    /* The limiter asks for most of a minute, longer than this client
     * waits (1 s): not retried sooner than asked, the call ends at once. */
    assert_true(er->retry_after_s > 1);
    assert_non_null(strstr(er->log, "Retry-After"));
    assert_int_equal(kvtv_sim_count(s, "GET /epayment/v1/payments/OSL-rate-0001"), 1);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);

    /* An injected 429 with Retry-After 1 then success. */
    s = kvtv_start_sim(NULL);
    c = kvtv_client(s, e->oslo, NULL, &o);
    kvtv_create_qr(c, "OSL-rate-0002", 1000, &cr);
    kvtv_fault(s, "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/OSL-rate-0002\","
                  "\"count\":1,\"action\":\"status\",\"status\":429,\"retryAfter\":1}");
    assert_int_equal(kv_vipps_get(&p, c, "OSL-rate-0002"), KV_VIPPS_OK);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vipps_sim__error_classes),
        cmocka_unit_test(test_vipps_sim__retry_5xx_same_key),
        cmocka_unit_test(test_vipps_sim__lost_answers_resolved),
        cmocka_unit_test(test_vipps_sim__timeouts),
        cmocka_unit_test(test_vipps_sim__token_expiry_and_401_refresh),
        cmocka_unit_test(test_vipps_sim__rate_limit_429),
    };
    return cmocka_run_group_tests_name("vipps_sim_faults", tests, kvtv_setup, kvtv_teardown);
}
