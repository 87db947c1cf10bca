/*
 * test_vipps_sim.c - the payment client against the simulator over real
 * HTTP on loopback (kv_sim from sim/, started in-process on a free port;
 * the same server `kvitt sim` runs).  Covers every endpoint, the error
 * classes, retries under injected faults (attempts counted by the
 * simulator, idempotency key reuse checked), lost answers resolved by
 * reading the payment back, timeouts, token expiry and refresh, 429
 * handling, webhook deliveries verified with the HMAC check, and that no
 * secret reaches the log.  Nothing is mocked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim.h"
#include "src/vipps/vipps.h"
#include "tests/lib/kvtest.h"

/* ---------- helpers ---------- */

typedef struct {
    kv_sim *sim;
    const kv_sim_cred *oslo;
    const kv_sim_cred *bergen;
    const kv_sim_cred *partner;
    char phone[32];              /* a known test MSISDN */
} env;

static kv_sim *start_sim(void (*tweak)(kv_sim_options *))
{
    kv_sim_options o;
    kv_sim_options_init(&o);
    o.host = "127.0.0.1";
    o.port = 0;
    o.quiet = 1;
    o.seed = 7;
    if (tweak)
        tweak(&o);
    kv_sim *s = NULL;
    assert_int_equal(kv_sim_start(&s, &o), KV_SIM_OK);
    return s;
}

static int setup(void **state)
{
    env *e = calloc(1, sizeof *e);
    size_t n = 0;
    const kv_sim_cred *c = kv_sim_credentials(&n);
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(c[i].name, "oslo")) e->oslo = &c[i];
        if (!strcmp(c[i].name, "bergen")) e->bergen = &c[i];
        if (c[i].partner) e->partner = &c[i];
    }
    const char *ph = kv_sim_known_phones();
    size_t l = strcspn(ph, ",");
    memcpy(e->phone, ph, l);
    e->phone[l] = '\0';
    *state = e;
    return e->oslo && e->partner ? 0 : -1;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

/* A log sink collecting every line. */
typedef struct {
    char *buf;
    size_t len;
} logbuf;

static void log_collect(kv_vipps_log_level lvl, const char *line, void *p)
{
    (void)lvl;
    logbuf *b = p;
    size_t n = strlen(line);
    char *nb = realloc(b->buf, b->len + n + 2);
    if (!nb)
        return;
    b->buf = nb;
    memcpy(b->buf + b->len, line, n);
    b->len += n;
    b->buf[b->len++] = '\n';
    b->buf[b->len] = '\0';
}

static kv_vipps_client *client_for(kv_sim *s, const kv_sim_cred *cr,
                                   const char *msn, kv_vipps_opts *tweak)
{
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    if (tweak)
        o = *tweak;
    o.environment = kv_sim_url(s);
    o.client_id = cr->client_id;
    o.client_secret = cr->client_secret;
    o.subscription_key = cr->subscription_key;
    o.msn = msn ? msn : cr->msn;
    o.partner_keys = cr->partner;
    if (!o.connect_timeout_ms) o.connect_timeout_ms = 1000;
    if (!o.total_timeout_ms) o.total_timeout_ms = 5000;
    if (!o.backoff_base_ms) o.backoff_base_ms = 20;
    if (!o.backoff_max_ms) o.backoff_max_ms = 100;
    if (!o.retry_after_max_s) o.retry_after_max_s = 2;
    o.jitter_seed = 42;
    kv_vipps_client *c = NULL;
    char err[200];
    kv_vipps_status st = kv_vipps_client_create(&c, &o, err, sizeof err);
    if (st != KV_VIPPS_OK)
        printf("client_create: %s\n", err);
    assert_int_equal(st, KV_VIPPS_OK);
    return c;
}

static size_t curl_sink(char *p, size_t sz, size_t n, void *ud)
{
    logbuf *b = ud;
    size_t l = sz * n;
    char *nb = realloc(b->buf, b->len + l + 1);
    if (!nb)
        return 0;
    b->buf = nb;
    memcpy(b->buf + b->len, p, l);
    b->len += l;
    b->buf[b->len] = '\0';
    return l;
}

/* Call a simulator control endpoint; returns the parsed JSON answer (or
 * NULL) and asserts a 2xx. */
static cJSON *control(kv_sim *s, const char *method, const char *path,
                      const char *body)
{
    CURL *h = curl_easy_init();
    char url[512];
    snprintf(url, sizeof url, "%s%s", kv_sim_url(s), path);
    logbuf b = { 0 };
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curl_sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    long st = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    if (st < 200 || st > 299)
        printf("control %s %s -> %ld %s\n", method, path, st, b.buf ? b.buf : "");
    assert_true(st >= 200 && st <= 299);
    cJSON *o = b.buf ? cJSON_Parse(b.buf) : NULL;
    free(b.buf);
    return o;
}

static void fault(kv_sim *s, const char *json)
{
    cJSON_Delete(control(s, "POST", "/sim/v1/faults", json));
}

/* Requests the simulator counted for "METHOD path". */
static long sim_count(kv_sim *s, const char *method_path)
{
    cJSON *o = control(s, "GET", "/sim/v1/stats", NULL);
    const cJSON *r = cJSON_GetObjectItem(o, "requests");
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(r, method_path);
    long n = cJSON_IsNumber(it) ? (long)it->valuedouble : 0;
    cJSON_Delete(o);
    return n;
}

/* Times the simulator saw an idempotency key / X-Request-Id, and on how
 * many distinct "METHOD path" (should be one). */
static long key_seen(kv_sim *s, const char *key, int *paths)
{
    cJSON *o = control(s, "GET", "/sim/v1/stats", NULL);
    const cJSON *ks = cJSON_GetObjectItem(o, "idempotencyKeys");
    const cJSON *it;
    long n = 0;
    *paths = 0;
    cJSON_ArrayForEach(it, ks) {
        const cJSON *k = cJSON_GetObjectItem(it, "key");
        if (cJSON_IsString(k) && !strcmp(k->valuestring, key)) {
            n += (long)cJSON_GetObjectItem(it, "count")->valuedouble;
            (*paths)++;
        }
    }
    cJSON_Delete(o);
    return n;
}

static long tokens_issued(kv_sim *s)
{
    cJSON *o = control(s, "GET", "/sim/v1/stats", NULL);
    long n = (long)cJSON_GetObjectItem(o, "tokensIssued")->valuedouble;
    cJSON_Delete(o);
    return n;
}

static void create_qr(kv_vipps_client *c, const char *ref, int64_t amount,
                      kv_vipps_created *out)
{
    char key[80];
    snprintf(key, sizeof key, "%s-create", ref);
    kv_vipps_create_req rq = {
        .reference = ref, .amount = amount, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_QR, .qr_format = KV_VIPPS_QR_TEXT,
        .description = "Kvitt Kaffe Oslo", .idempotency_key = key,
    };
    kv_vipps_status st = kv_vipps_create(out, c, &rq);
    if (st)
        printf("create %s: %s\n", ref, kv_vipps_last_error(c)->log);
    assert_int_equal(st, KV_VIPPS_OK);
}

static void approve(kv_vipps_client *c, const env *e, const char *ref)
{
    kv_vipps_status st = kv_vipps_test_approve(c, ref, e->phone);
    if (st)
        printf("approve: %s\n", kv_vipps_last_error(c)->log);
    assert_int_equal(st, KV_VIPPS_OK);
}

/* ---------- tests ---------- */

static void test_vipps_sim__qr_flow_capture_refund(void **state)
{
    env *e = *state;
    kv_sim *s = start_sim(NULL);
    kv_vipps_client *c = client_for(s, e->oslo, NULL, NULL);
    kv_vipps_created cr;
    create_qr(c, "OSL-flow-0001", 14900, &cr);
    assert_string_equal(cr.reference, "OSL-flow-0001");
    assert_true(!strncmp(cr.redirect_url, "https://qr.vipps.no/", 20));

    kv_vipps_payment p;
    assert_int_equal(kv_vipps_get(&p, c, "OSL-flow-0001"), KV_VIPPS_OK);
    assert_int_equal(p.state, KV_VIPPS_STATE_CREATED);
    assert_int_equal(p.amount, 14900);
    assert_string_equal(p.currency, "NOK");

    approve(c, e, "OSL-flow-0001");
    assert_int_equal(kv_vipps_get(&p, c, "OSL-flow-0001"), KV_VIPPS_OK);
    assert_int_equal(p.state, KV_VIPPS_STATE_AUTHORIZED);
    assert_int_equal(p.authorized, 14900);

    kv_vipps_modification m;
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-flow-0001", 10000, "NOK",
                                      "OSL-flow-0001-capture-1"), KV_VIPPS_OK);
    assert_int_equal(m.captured, 10000);
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-flow-0001", 4900, "NOK",
                                      "OSL-flow-0001-capture-2"), KV_VIPPS_OK);
    assert_int_equal(m.captured, 14900);
    /* The same key + same body replays the first answer, no new capture. */
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-flow-0001", 4900, "NOK",
                                      "OSL-flow-0001-capture-2"), KV_VIPPS_OK);
    assert_int_equal(kv_vipps_get(&p, c, "OSL-flow-0001"), KV_VIPPS_OK);
    assert_int_equal(p.captured, 14900);

    assert_int_equal(kv_vipps_refund(&m, c, "OSL-flow-0001", 900, "NOK",
                                     "OSL-flow-0001-refund-1"), KV_VIPPS_OK);
    assert_int_equal(m.refunded, 900);
    assert_int_equal(kv_vipps_refund(&m, c, "OSL-flow-0001", 14000, "NOK",
                                     "OSL-flow-0001-refund-2"), KV_VIPPS_OK);
    assert_int_equal(m.refunded, 14900);

    kv_vipps_event *ev = NULL;
    size_t n = 0;
    assert_int_equal(kv_vipps_events(&ev, &n, c, "OSL-flow-0001"), KV_VIPPS_OK);
    int created = 0, authorized = 0, captured = 0, refunded = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(ev[i].name, "CREATED")) created++;
        if (!strcmp(ev[i].name, "AUTHORIZED")) authorized++;
        if (!strcmp(ev[i].name, "CAPTURED") && ev[i].success) captured++;
        if (!strcmp(ev[i].name, "REFUNDED") && ev[i].success) refunded++;
    }
    assert_int_equal(created, 1);
    assert_int_equal(authorized, 1);
    assert_int_equal(captured, 2);
    assert_int_equal(refunded, 2);
    kv_vipps_events_free(ev);

    /* One token for the whole flow (cached), one connection (keep-alive). */
    kv_vipps_stats st;
    kv_vipps_get_stats(c, &st);
    assert_int_equal(st.token_fetches, 1);
    assert_int_equal(st.retries, 0);
    assert_int_equal(st.connects, 1);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_sim__png_cancel_and_transaction_only(void **state)
{
    env *e = *state;
    kv_sim *s = start_sim(NULL);
    kv_vipps_client *c = client_for(s, e->oslo, NULL, NULL);
    kv_vipps_create_req rq = {
        .reference = "OSL-cancel-01", .amount = 5000, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_QR, .qr_format = KV_VIPPS_QR_PNG, .qr_size = 576,
        .description = "Kvitt", .idempotency_key = "OSL-cancel-01-create",
    };
    kv_vipps_created cr;
    assert_int_equal(kv_vipps_create(&cr, c, &rq), KV_VIPPS_OK);
    assert_non_null(strstr(cr.redirect_url, "http"));
    /* Cancel before authorization: TERMINATED. */
    kv_vipps_modification m;
    assert_int_equal(kv_vipps_cancel(&m, c, "OSL-cancel-01", 1,
                                     "OSL-cancel-01-cancel"), KV_VIPPS_OK);
    kv_vipps_payment p;
    assert_int_equal(kv_vipps_get(&p, c, "OSL-cancel-01"), KV_VIPPS_OK);
    assert_int_equal(p.state, KV_VIPPS_STATE_TERMINATED);

    /* cancelTransactionOnly on an authorized payment: 6060, definite. */
    create_qr(c, "OSL-cancel-02", 5000, &cr);
    approve(c, e, "OSL-cancel-02");
    assert_int_equal(kv_vipps_cancel(&m, c, "OSL-cancel-02", 1,
                                     "OSL-cancel-02-cancel-1"), KV_VIPPS_E_API);
    const kv_vipps_error *er = kv_vipps_last_error(c);
    assert_int_equal(er->code, 6060);
    assert_int_equal(er->cls, KV_VIPPS_ERR_STATE);
    assert_int_equal(er->http_status, 400);
    /* A full cancel releases the reservation. */
    assert_int_equal(kv_vipps_cancel(&m, c, "OSL-cancel-02", 0,
                                     "OSL-cancel-02-cancel-2"), KV_VIPPS_OK);
    assert_int_equal(m.cancelled, 5000);
    assert_int_equal(m.state, KV_VIPPS_STATE_AUTHORIZED);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_sim__push_and_customer_cannot_pay(void **state)
{
    env *e = *state;
    kv_sim *s = start_sim(NULL);
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.lang = KV_VIPPS_LANG_NB;
    kv_vipps_client *c = client_for(s, e->oslo, NULL, &o);
    kv_vipps_create_req rq = {
        .reference = "OSL-push-0001", .amount = 4900, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_PUSH, .phone = e->phone, .description = "Kvitt",
        .idempotency_key = "OSL-push-0001-create",
    };
    kv_vipps_created cr;
    assert_int_equal(kv_vipps_create(&cr, c, &rq), KV_VIPPS_OK);
    assert_string_equal(cr.redirect_url, "");
    /* An unknown number: 7010, "cannot pay with Vipps MobilePay". */
    rq.reference = "OSL-push-0002";
    rq.idempotency_key = "OSL-push-0002-create";
    rq.phone = "4799999999";
    assert_int_equal(kv_vipps_create(&cr, c, &rq), KV_VIPPS_E_API);
    const kv_vipps_error *er = kv_vipps_last_error(c);
    assert_int_equal(er->code, 7010);
    assert_int_equal(er->cls, KV_VIPPS_ERR_CUSTOMER);
    assert_string_equal(er->cashier, "Kunden kan ikke betale med Vipps MobilePay. "
                        "Bruk en annen betalingsm\xc3\xa5te.");
    assert_null(strstr(er->log, "4799999999"));
    assert_null(strstr(er->cashier, "4799999999"));
    assert_true(er->trace_id[0] != '\0');
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_sim__error_classes(void **state)
{
    env *e = *state;
    kv_sim *s = start_sim(NULL);
    /* Wrong client secret: AUTH from the token call, nothing else sent. */
    kv_sim_cred bad = *e->oslo;
    bad.client_secret = "not-the-secret";
    kv_vipps_client *c = client_for(s, &bad, NULL, NULL);
    kv_vipps_payment p;
    assert_int_equal(kv_vipps_get(&p, c, "OSL-nothing-1"), KV_VIPPS_E_AUTH);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_AUTH);
    assert_int_equal(kv_vipps_last_error(c)->api, KV_VIPPS_API_TOKEN);
    assert_null(strstr(kv_vipps_last_error(c)->log, "not-the-secret"));
    kv_vipps_client_destroy(c);
    /* Wrong subscription key: the gateway's {statusCode, message}. */
    bad = *e->oslo;
    bad.subscription_key = "0000000000000000";
    c = client_for(s, &bad, NULL, NULL);
    assert_int_equal(kv_vipps_token_warm(c), KV_VIPPS_E_AUTH);
    assert_non_null(strstr(kv_vipps_last_error(c)->log, "subscription key"));
    kv_vipps_client_destroy(c);

    c = client_for(s, e->oslo, NULL, NULL);
    /* 404 */
    assert_int_equal(kv_vipps_get(&p, c, "OSL-nothing-1"), KV_VIPPS_E_NOT_FOUND);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_NOT_FOUND);
    assert_int_equal(kv_vipps_last_error(c)->http_status, 404);
    /* Same key, different body: 409 conflict. */
    kv_vipps_created cr;
    create_qr(c, "OSL-errors-01", 2000, &cr);
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
    approve(c, e, "OSL-errors-01");
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
    c = client_for(s, e->partner, "234567", NULL);
    create_qr(c, "BRG-partner-1", 3000, &cr);
    assert_int_equal(kv_vipps_get(&p, c, "BRG-partner-1"), KV_VIPPS_OK);
    kv_vipps_client_destroy(c);
    /* ... and the payment belongs to that sales unit, not to oslo. */
    c = client_for(s, e->oslo, NULL, NULL);
    assert_int_equal(kv_vipps_get(&p, c, "BRG-partner-1"), KV_VIPPS_E_NOT_FOUND);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_sim__retry_5xx_same_key(void **state)
{
    env *e = *state;
    kv_sim *s = start_sim(NULL);
    kv_vipps_client *c = client_for(s, e->oslo, NULL, NULL);
    kv_vipps_created cr;
    create_qr(c, "OSL-retry-001", 7000, &cr);
    approve(c, e, "OSL-retry-001");
    cJSON_Delete(control(s, "DELETE", "/sim/v1/stats", NULL));
    fault(s, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments/OSL-retry-001/capture\","
             "\"count\":2,\"action\":\"status\",\"status\":503}");
    kv_vipps_modification m;
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-retry-001", 7000, "NOK",
                                      "OSL-retry-001-capture-1"), KV_VIPPS_OK);
    assert_int_equal(m.captured, 7000);
    assert_int_equal(sim_count(s, "POST /epayment/v1/payments/OSL-retry-001/capture"), 3);
    int paths = 0;
    assert_int_equal(key_seen(s, "OSL-retry-001-capture-1", &paths), 3);
    assert_int_equal(paths, 1);
    kv_vipps_stats st;
    kv_vipps_get_stats(c, &st);
    assert_int_equal(st.retries, 2);

    /* A dropped connection on create: retried with the same key. */
    cJSON_Delete(control(s, "DELETE", "/sim/v1/stats", NULL));
    fault(s, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments\",\"count\":1,"
             "\"action\":\"drop\"}");
    create_qr(c, "OSL-retry-002", 7000, &cr);
    assert_int_equal(key_seen(s, "OSL-retry-002-create", &paths), 2);
    kv_vipps_payment p;
    assert_int_equal(kv_vipps_get(&p, c, "OSL-retry-002"), KV_VIPPS_OK);

    /* 423 Locked is retried too. */
    fault(s, "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/OSL-retry-002\","
             "\"count\":1,\"action\":\"status\",\"status\":423}");
    assert_int_equal(kv_vipps_get(&p, c, "OSL-retry-002"), KV_VIPPS_OK);

    /* Another 4xx is never retried. */
    cJSON_Delete(control(s, "DELETE", "/sim/v1/stats", NULL));
    fault(s, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments/OSL-retry-002/cancel\","
             "\"count\":3,\"action\":\"status\",\"status\":400,\"errorCode\":\"3010\"}");
    assert_int_equal(kv_vipps_cancel(&m, c, "OSL-retry-002", 0,
                                     "OSL-retry-002-cancel"), KV_VIPPS_E_API);
    assert_int_equal(sim_count(s, "POST /epayment/v1/payments/OSL-retry-002/cancel"), 1);
    assert_int_equal(kv_vipps_last_error(c)->code, 3010);
    cJSON_Delete(control(s, "DELETE", "/sim/v1/faults", NULL));

    /* 5xx exhausted on a GET: unreachable, never "failed". */
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.max_attempts = 3;
    kv_vipps_client *c3 = client_for(s, e->oslo, NULL, &o);
    fault(s, "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/OSL-retry-002\","
             "\"count\":3,\"action\":\"status\",\"status\":500}");
    assert_int_equal(kv_vipps_get(&p, c3, "OSL-retry-002"), KV_VIPPS_E_UNREACHABLE);
    assert_int_equal(kv_vipps_last_error(c3)->cls, KV_VIPPS_ERR_SERVER);
    kv_vipps_client_destroy(c3);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_sim__lost_answers_resolved(void **state)
{
    env *e = *state;
    kv_sim *s = start_sim(NULL);
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.max_attempts = 2;
    kv_vipps_client *c = client_for(s, e->oslo, NULL, &o);
    /* Create performed, every answer lost (500 after the fact): the client
     * reads the payment back and reports success. */
    fault(s, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments\",\"count\":2,"
             "\"action\":\"status\",\"status\":500,\"when\":\"after\"}");
    kv_vipps_created cr;
    create_qr(c, "OSL-lost-0001", 6000, &cr);
    assert_true(!strncmp(cr.redirect_url, "https://qr.vipps.no/", 20));
    int paths = 0;
    assert_int_equal(key_seen(s, "OSL-lost-0001-create", &paths), 2);

    /* Capture performed, answers lost: resolved by the event log (the
     * CAPTURED event carries our key). */
    approve(c, e, "OSL-lost-0001");
    fault(s, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments/OSL-lost-0001/capture\","
             "\"count\":2,\"action\":\"drop\",\"when\":\"after\"}");
    kv_vipps_modification m;
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-lost-0001", 6000, "NOK",
                                      "OSL-lost-0001-capture-1"), KV_VIPPS_OK);
    assert_int_equal(m.captured, 6000);

    /* Refund never reaches the service (dropped before), and the log
     * cannot be read either: UNKNOWN, not failed. */
    fault(s, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments/OSL-lost-0001/refund\","
             "\"count\":2,\"action\":\"status\",\"status\":502}");
    fault(s, "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/OSL-lost-0001/events\","
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
    fault(s, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments\",\"count\":2,"
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
    env *e = *state;
    kv_sim *s = start_sim(NULL);
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.total_timeout_ms = 300;
    o.max_attempts = 2;
    kv_vipps_client *c = client_for(s, e->oslo, NULL, &o);
    kv_vipps_created cr;
    create_qr(c, "OSL-slow-0001", 3000, &cr);
    approve(c, e, "OSL-slow-0001");
    /* A slow GET uses up the call's 300 ms budget: unreachable + TIMEOUT,
     * after a single attempt (no time left for another). */
    cJSON_Delete(control(s, "DELETE", "/sim/v1/stats", NULL));
    fault(s, "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/OSL-slow-0001\","
             "\"count\":1,\"action\":\"slow\",\"delayMs\":800}");
    kv_vipps_payment p;
    assert_int_equal(kv_vipps_get(&p, c, "OSL-slow-0001"), KV_VIPPS_E_UNREACHABLE);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_TIMEOUT);
    assert_int_equal(sim_count(s, "GET /epayment/v1/payments/OSL-slow-0001"), 1);
    /* A slow capture is performed although we timed out: the event log
     * (the CAPTURED event carrying our key) confirms it. */
    fault(s, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments/OSL-slow-0001/capture\","
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
    env *e = *state;
    kv_sim *s = start_sim(ttl2);
    /* Refresh ahead of expires_on: with a 2 s token and a 1 s margin, a
     * call 1.2 s later fetches a new token without any 401. */
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.token_margin_s = 1;
    kv_vipps_client *c = client_for(s, e->oslo, NULL, &o);
    kv_vipps_created cr;
    create_qr(c, "OSL-token-001", 1000, &cr);
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
    c = client_for(s, e->oslo, NULL, &o);
    assert_int_equal(kv_vipps_token_warm(c), KV_VIPPS_OK);
    long issued = tokens_issued(s);
    cc.offset = 10;            /* our clock is now 10 s behind */
    usleep(2200 * 1000);       /* the service's token expired */
    cJSON_Delete(control(s, "DELETE", "/sim/v1/stats", NULL));
    assert_int_equal(kv_vipps_get(&p, c, "OSL-token-001"), KV_VIPPS_OK);
    kv_vipps_get_stats(c, &st);
    assert_int_equal(st.token_fetches, 2);
    assert_int_equal(sim_count(s, "GET /epayment/v1/payments/OSL-token-001"), 2);
    assert_true(tokens_issued(s) >= 1);
    (void)issued;
    kv_vipps_client_destroy(c);

    /* Shared cache: two clients with the same credentials fetch once. */
    kv_vipps_shared *sh = NULL;
    assert_int_equal(kv_vipps_shared_create(&sh), KV_VIPPS_OK);
    o = (kv_vipps_opts)KV_VIPPS_OPTS_INIT;
    o.shared = sh;
    kv_vipps_client *a = client_for(s, e->oslo, NULL, &o);
    kv_vipps_client *b = client_for(s, e->oslo, NULL, &o);
    assert_int_equal(kv_vipps_get(&p, a, "OSL-token-001"), KV_VIPPS_OK);
    assert_int_equal(kv_vipps_get(&p, b, "OSL-token-001"), KV_VIPPS_OK);
    kv_vipps_stats sa, sb;
    kv_vipps_get_stats(a, &sa);
    kv_vipps_get_stats(b, &sb);
    assert_int_equal(sa.token_fetches + sb.token_fetches, 1);
    /* A different credential set gets its own token. */
    kv_vipps_client *x = client_for(s, e->bergen, NULL, &o);
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
    env *e = *state;
    kv_sim *s = start_sim(rate5);
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.max_attempts = 2;
    o.retry_after_max_s = 1;
    kv_vipps_client *c = client_for(s, e->oslo, NULL, &o);
    kv_vipps_created cr;
    create_qr(c, "OSL-rate-0001", 1000, &cr);
    kv_vipps_payment p;
    for (int i = 0; i < 5; i++)
        assert_int_equal(kv_vipps_get(&p, c, "OSL-rate-0001"), KV_VIPPS_OK);
    cJSON_Delete(control(s, "DELETE", "/sim/v1/stats", NULL));
    assert_int_equal(kv_vipps_get(&p, c, "OSL-rate-0001"), KV_VIPPS_E_API);
    const kv_vipps_error *er = kv_vipps_last_error(c);
    assert_int_equal(er->http_status, 429);
    assert_int_equal(er->cls, KV_VIPPS_ERR_RATE_LIMITED);
    /* The limiter asks for most of a minute, longer than this client
     * waits (1 s): not retried sooner than asked, the call ends at once. */
    assert_true(er->retry_after_s > 1);
    assert_non_null(strstr(er->log, "Retry-After"));
    assert_int_equal(sim_count(s, "GET /epayment/v1/payments/OSL-rate-0001"), 1);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);

    /* An injected 429 with Retry-After 1 then success. */
    s = start_sim(NULL);
    c = client_for(s, e->oslo, NULL, &o);
    create_qr(c, "OSL-rate-0002", 1000, &cr);
    fault(s, "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/OSL-rate-0002\","
             "\"count\":1,\"action\":\"status\",\"status\":429,\"retryAfter\":1}");
    assert_int_equal(kv_vipps_get(&p, c, "OSL-rate-0002"), KV_VIPPS_OK);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_sim__ecom_qr_flow(void **state)
{
    env *e = *state;
    kv_sim *s = start_sim(NULL);
    kv_vipps_client *c = client_for(s, e->oslo, NULL, NULL);
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
    cJSON_Delete(control(s, "POST", "/sim/v1/payments/OSL-ecom-0001/state",
                         "{\"state\":\"approve\"}"));
    assert_int_equal(kv_vipps_ecom_details_get(&d, c, "OSL-ecom-0001"), KV_VIPPS_OK);
    assert_string_equal(d.last_operation, "RESERVE");
    assert_int_equal(d.amount, 20000);
    /* Capture with X-Request-Id, retried after a 500 with the same id. */
    fault(s, "{\"method\":\"POST\",\"path\":\"/ecomm/v2/payments/OSL-ecom-0001/capture\","
             "\"count\":1,\"action\":\"status\",\"status\":500}");
    kv_vipps_ecom_result r;
    assert_int_equal(kv_vipps_ecom_capture(&r, c, "OSL-ecom-0001", 0, "capture",
                                           "OSL-ecom-0001-cap"), KV_VIPPS_OK);
    assert_int_equal(r.captured, 20000);
    int paths = 0;
    assert_int_equal(key_seen(s, "OSL-ecom-0001-cap", &paths), 2);
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
    env *e = *state;
    kv_sim *s = start_sim(NULL);
    kv_vipps_client *c = client_for(s, e->oslo, NULL, NULL);
    kv_vipps_created cr;
    create_qr(c, "OSL-receipt-1", 14900, &cr);
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

/* A small webhook receiver (libmicrohttpd) that checks each delivery
 * with kv_vipps_webhook_verify. */
typedef struct {
    pthread_mutex_t mu;
    char url[128];
    char secret[256];            /* webhook mode: the HMAC secret */
    char cb_token[64];           /* eCom callback mode: the authToken */
    int ok, bad;
    char last_name[24];
    char last_path[160];
} receiver;

typedef struct { char *buf; size_t len; } rbody;

static enum MHD_Result on_hook(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *data,
                               size_t *size, void **ctx)
{
    (void)method; (void)version;
    receiver *rc = cls;
    rbody *b = *ctx;
    if (!b) {
        *ctx = calloc(1, sizeof(rbody));
        return MHD_YES;
    }
    if (*size) {
        char *nb = realloc(b->buf, b->len + *size + 1);
        if (!nb)
            return MHD_NO;
        b->buf = nb;
        memcpy(b->buf + b->len, data, *size);
        b->len += *size;
        b->buf[b->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    const char *date = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-ms-date");
    const char *hash = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-ms-content-sha256");
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    pthread_mutex_lock(&rc->mu);
    if (rc->cb_token[0]) {
        kv_vipps_ecom_callback cb;
        kv_vipps_status cs = kv_vipps_ecom_callback_parse(&cb, b->buf, b->len, auth,
                                                          rc->cb_token);
        if (cs == KV_VIPPS_OK) {
            rc->ok++;
            snprintf(rc->last_name, sizeof rc->last_name, "%s", cb.status);
            snprintf(rc->last_path, sizeof rc->last_path, "%s", url);
        } else {
            rc->bad++;
        }
        pthread_mutex_unlock(&rc->mu);
        struct MHD_Response *r0 = MHD_create_response_from_buffer(0, (void *)"",
                                                                  MHD_RESPMEM_PERSISTENT);
        enum MHD_Result ret0 = MHD_queue_response(conn, cs == KV_VIPPS_OK ? 200 : 401, r0);
        MHD_destroy_response(r0);
        return ret0;
    }
    kv_vipps_status st = rc->secret[0]
        ? kv_vipps_webhook_verify(rc->secret, rc->url, b->buf ? b->buf : "", b->len,
                                  date, hash, auth, time(NULL), 300)
        : KV_VIPPS_E_SIGNATURE;
    kv_vipps_webhook_event ev;
    if (st == KV_VIPPS_OK && kv_vipps_webhook_parse(&ev, b->buf, b->len) == KV_VIPPS_OK) {
        rc->ok++;
        memcpy(rc->last_name, ev.name, sizeof rc->last_name);
    } else {
        rc->bad++;
    }
    pthread_mutex_unlock(&rc->mu);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"",
                                                             MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(conn, st == KV_VIPPS_OK ? 200 : 401, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **ctx,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls; (void)c; (void)toe;
    rbody *b = *ctx;
    if (b) {
        free(b->buf);
        free(b);
        *ctx = NULL;
    }
}

/* Zero rc, set up its mutex and serve on_hook for it on a free loopback
 * port (*port).  Stop with MHD_stop_daemon, then destroy rc.mu. */
static struct MHD_Daemon *start_receiver(receiver *rc, int *port)
{
    memset(rc, 0, sizeof *rc);
    pthread_mutex_init(&rc->mu, NULL);
    *port = kvt_free_port();
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
        (uint16_t)*port, NULL, NULL, on_hook, rc,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    assert_non_null(d);
    return d;
}

/* Poll rc for up to 5 s until it counted at least ok_min verified and
 * bad_min refused deliveries; *ok and *bad get the last counts. */
static void wait_receiver(receiver *rc, int ok_min, int bad_min, int *ok, int *bad)
{
    for (int i = 0; i < 100 && (*ok < ok_min || *bad < bad_min); i++) {
        usleep(50 * 1000);
        pthread_mutex_lock(&rc->mu);
        *ok = rc->ok;
        *bad = rc->bad;
        pthread_mutex_unlock(&rc->mu);
    }
}

static void test_vipps_sim__webhooks(void **state)
{
    env *e = *state;
    kv_sim *s = start_sim(NULL);
    kv_vipps_client *c = client_for(s, e->oslo, NULL, NULL);
    receiver rc;
    int port;
    struct MHD_Daemon *d = start_receiver(&rc, &port);
    snprintf(rc.url, sizeof rc.url, "http://127.0.0.1:%d/vipps/webhook", port);

    kv_vipps_webhook w;
    pthread_mutex_lock(&rc.mu);
    assert_int_equal(kv_vipps_webhook_register(&w, c, rc.url,
                                               KV_VIPPS_WH_AUTHORIZED |
                                               KV_VIPPS_WH_CAPTURED), KV_VIPPS_OK);
    memcpy(rc.secret, w.secret, sizeof rc.secret);
    pthread_mutex_unlock(&rc.mu);
    assert_true(w.id[0] && w.secret[0]);
    kv_vipps_webhook *list = NULL;
    size_t n = 0;
    assert_int_equal(kv_vipps_webhook_list(&list, &n, c), KV_VIPPS_OK);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i].id, w.id)) {
            found = 1;
            assert_string_equal(list[i].url, rc.url);
            assert_int_equal(list[i].events, KV_VIPPS_WH_AUTHORIZED | KV_VIPPS_WH_CAPTURED);
        }
    free(list);
    assert_true(found);

    kv_vipps_created cr;
    create_qr(c, "OSL-hook-0001", 2500, &cr);
    approve(c, e, "OSL-hook-0001");
    kv_vipps_modification m;
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-hook-0001", 2500, "NOK",
                                      "OSL-hook-0001-capture"), KV_VIPPS_OK);
    int ok = 0, bad = 0;
    wait_receiver(&rc, 2, 0, &ok, &bad);
    assert_int_equal(ok, 2);          /* authorized + captured, both verified */
    assert_int_equal(bad, 0);

    assert_int_equal(kv_vipps_webhook_delete(c, w.id), KV_VIPPS_OK);
    assert_int_equal(kv_vipps_webhook_delete(c, w.id), KV_VIPPS_E_NOT_FOUND);
    MHD_stop_daemon(d);
    pthread_mutex_destroy(&rc.mu);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_sim__ecom_callback_delivered(void **state)
{
    env *e = *state;
    kv_sim *s = start_sim(NULL);
    kv_vipps_client *c = client_for(s, e->oslo, NULL, NULL);
    receiver rc;
    int port;
    struct MHD_Daemon *d = start_receiver(&rc, &port);
    pthread_mutex_lock(&rc.mu);
    snprintf(rc.cb_token, sizeof rc.cb_token, "cb-auth-token-77");
    pthread_mutex_unlock(&rc.mu);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "http://127.0.0.1:%d/vipps", port);
    kv_vipps_ecom_req rq = {
        .order_id = "OSL-ecomcb-01", .amount = 12300, .text = "Kvitt Kaffe",
        .callback_prefix = prefix, .fallback = "https://example.no",
        .auth_token = "cb-auth-token-77",
    };
    char url[2048];
    assert_int_equal(kv_vipps_ecom_initiate(url, sizeof url, c, &rq), KV_VIPPS_OK);
    cJSON_Delete(control(s, "POST", "/sim/v1/payments/OSL-ecomcb-01/state",
                         "{\"state\":\"approve\"}"));
    int ok = 0, bad = 0;
    wait_receiver(&rc, 1, 0, &ok, &bad);
    assert_int_equal(ok, 1);
    assert_int_equal(bad, 0);
    assert_true(!strcmp(rc.last_name, "RESERVED") || !strcmp(rc.last_name, "RESERVE"));
    assert_string_equal(rc.last_path, "/vipps/v2/payments/OSL-ecomcb-01");
    /* The same callback with another authToken configured is refused. */
    pthread_mutex_lock(&rc.mu);
    snprintf(rc.cb_token, sizeof rc.cb_token, "another-token");
    pthread_mutex_unlock(&rc.mu);
    rq.order_id = "OSL-ecomcb-02";
    assert_int_equal(kv_vipps_ecom_initiate(url, sizeof url, c, &rq), KV_VIPPS_OK);
    cJSON_Delete(control(s, "POST", "/sim/v1/payments/OSL-ecomcb-02/state",
                         "{\"state\":\"approve\"}"));
    wait_receiver(&rc, 0, 1, &ok, &bad);
    assert_int_equal(bad, 1);
    MHD_stop_daemon(d);
    pthread_mutex_destroy(&rc.mu);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

/* Test-environment magic amounts: 151 (insufficient funds) ends ABORTED,
 * 201 stays unknown (CREATED), refund 123 / 124 are refused. */
static void test_vipps_sim__magic_amounts(void **state)
{
    env *e = *state;
    kv_sim *s = start_sim(NULL);
    kv_vipps_client *c = client_for(s, e->oslo, NULL, NULL);
    kv_vipps_created cr;
    create_qr(c, "OSL-magic-151", 151, &cr);
    assert_int_equal(kv_vipps_test_approve(c, "OSL-magic-151", e->phone), KV_VIPPS_E_API);
    assert_int_equal(kv_vipps_last_error(c)->code, 10010);
    kv_vipps_payment p;
    assert_int_equal(kv_vipps_get(&p, c, "OSL-magic-151"), KV_VIPPS_OK);
    assert_int_equal(p.state, KV_VIPPS_STATE_ABORTED);
    assert_true(kv_vipps_state_final(p.state));
    assert_int_equal(p.authorized, 0);

    create_qr(c, "OSL-magic-201", 201, &cr);
    assert_int_equal(kv_vipps_test_approve(c, "OSL-magic-201", e->phone), KV_VIPPS_OK);
    assert_int_equal(kv_vipps_get(&p, c, "OSL-magic-201"), KV_VIPPS_OK);
    assert_int_equal(p.state, KV_VIPPS_STATE_CREATED);

    create_qr(c, "OSL-magic-ref", 1000, &cr);
    approve(c, e, "OSL-magic-ref");
    kv_vipps_modification m;
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-magic-ref", 1000, "NOK",
                                      "OSL-magic-ref-cap"), KV_VIPPS_OK);
    assert_int_equal(kv_vipps_refund(&m, c, "OSL-magic-ref", 123, "NOK",
                                     "OSL-magic-ref-r123"), KV_VIPPS_E_API);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_STATE);
    assert_int_equal(kv_vipps_refund(&m, c, "OSL-magic-ref", 124, "NOK",
                                     "OSL-magic-ref-r124"), KV_VIPPS_E_API);
    assert_int_equal(kv_vipps_last_error(c)->code, 6220);
    assert_int_equal(kv_vipps_get(&p, c, "OSL-magic-ref"), KV_VIPPS_OK);
    assert_int_equal(p.refunded, 0);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_sim__no_secrets_in_verbose_log(void **state)
{
    env *e = *state;
    kv_sim *s = start_sim(NULL);
    logbuf lb = { 0 };
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.log = log_collect;
    o.log_payload = &lb;
    o.log_level = KV_VIPPS_LOG_DEBUG;
    kv_vipps_client *c = client_for(s, e->oslo, NULL, &o);
    /* Full run: push (phone), QR, approve (phone), capture, refund,
     * events, errors (7010 with the number in the request), webhooks. */
    kv_vipps_create_req rq = {
        .reference = "OSL-secret-01", .amount = 4900, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_PUSH, .phone = e->phone, .description = "Kvitt",
        .idempotency_key = "OSL-secret-01-create",
    };
    kv_vipps_created cr;
    assert_int_equal(kv_vipps_create(&cr, c, &rq), KV_VIPPS_OK);
    approve(c, e, "OSL-secret-01");
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
    fault(s, "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/OSL-secret-01\","
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

/* Four threads, a client each, one shared DNS/TLS/token cache. */
typedef struct {
    kv_sim *sim;
    const env *e;
    kv_vipps_shared *sh;
    int idx;
    int ok;
    unsigned long fetches;
} worker;

static void *work(void *p)
{
    worker *w = p;
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.shared = w->sh;
    o.environment = kv_sim_url(w->sim);
    o.client_id = w->e->oslo->client_id;
    o.client_secret = w->e->oslo->client_secret;
    o.subscription_key = w->e->oslo->subscription_key;
    o.msn = w->e->oslo->msn;
    kv_vipps_client *c = NULL;
    if (kv_vipps_client_create(&c, &o, NULL, 0) != KV_VIPPS_OK)
        return NULL;
    for (int i = 0; i < 10; i++) {
        char ref[40], key[60];
        snprintf(ref, sizeof ref, "OSL-thr%d-%04d", w->idx, i);
        snprintf(key, sizeof key, "%s-create", ref);
        kv_vipps_create_req rq = {
            .reference = ref, .amount = 1000 + i, .currency = "NOK",
            .flow = KV_VIPPS_FLOW_QR, .idempotency_key = key,
        };
        kv_vipps_created cr;
        kv_vipps_payment p2;
        if (kv_vipps_create(&cr, c, &rq) == KV_VIPPS_OK &&
            kv_vipps_get(&p2, c, ref) == KV_VIPPS_OK && p2.amount == 1000 + i)
            w->ok++;
    }
    kv_vipps_stats st;
    kv_vipps_get_stats(c, &st);
    w->fetches = st.token_fetches;
    kv_vipps_client_destroy(c);
    return NULL;
}

static void test_vipps_sim__threads_share_cache(void **state)
{
    env *e = *state;
    kv_sim *s = start_sim(NULL);
    kv_vipps_shared *sh = NULL;
    assert_int_equal(kv_vipps_shared_create(&sh), KV_VIPPS_OK);
    /* Warm the shared token first, so the threads must all reuse it. */
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.shared = sh;
    kv_vipps_client *c = client_for(s, e->oslo, NULL, &o);
    assert_int_equal(kv_vipps_token_warm(c), KV_VIPPS_OK);
    kv_vipps_client_destroy(c);
    worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){ .sim = s, .e = e, .sh = sh, .idx = i };
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    unsigned long fetches = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 10);
        fetches += w[i].fetches;
    }
    assert_int_equal(fetches, 0);
    assert_int_equal(tokens_issued(s), 1);
    kv_vipps_shared_destroy(sh);
    kv_sim_destroy(s);
}

/* The same client against `kvitt sim` as a separate process, as a user
 * runs it: the URL is the first line on stdout. */
static kvt_proc *sim_proc; /* stopped by the teardown even on failure */

static int stop_sim_proc(void **state)
{
    (void)state;
    kvt_proc_stop(sim_proc, 15);
    sim_proc = NULL;
    return 0;
}

static void test_vipps_sim__kvitt_sim_process(void **state)
{
    env *e = *state;
    const char *argv[] = { "kvitt", "sim", "--listen", "127.0.0.1:0", "--quiet",
                           NULL };
    char *log = kvt_path("%s/kvitt-sim.log", kvt_tmpdir());
    kvt_proc *p = kvt_spawn(argv, NULL, log);
    free(log);
    assert_non_null(p);
    sim_proc = p;
    char *url = kvt_proc_readline(p, 10000);
    assert_non_null(url);
    assert_true(!strncmp(url, "http://127.0.0.1:", 17));
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.environment = url;
    o.client_id = e->oslo->client_id;
    o.client_secret = e->oslo->client_secret;
    o.subscription_key = e->oslo->subscription_key;
    o.msn = e->oslo->msn;
    o.total_timeout_ms = 5000;
    kv_vipps_client *c = NULL;
    assert_int_equal(kv_vipps_client_create(&c, &o, NULL, 0), KV_VIPPS_OK);
    kv_vipps_created cr;
    create_qr(c, "OSL-process-1", 14900, &cr);
    approve(c, e, "OSL-process-1");
    kv_vipps_payment pay;
    assert_int_equal(kv_vipps_get(&pay, c, "OSL-process-1"), KV_VIPPS_OK);
    assert_int_equal(pay.state, KV_VIPPS_STATE_AUTHORIZED);
    kv_vipps_modification m;
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-process-1", 14900, "NOK",
                                      "OSL-process-1-capture"), KV_VIPPS_OK);
    assert_int_equal(m.captured, 14900);
    kv_vipps_client_destroy(c);
    free(url);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vipps_sim__qr_flow_capture_refund),
        cmocka_unit_test(test_vipps_sim__png_cancel_and_transaction_only),
        cmocka_unit_test(test_vipps_sim__push_and_customer_cannot_pay),
        cmocka_unit_test(test_vipps_sim__error_classes),
        cmocka_unit_test(test_vipps_sim__retry_5xx_same_key),
        cmocka_unit_test(test_vipps_sim__lost_answers_resolved),
        cmocka_unit_test(test_vipps_sim__timeouts),
        cmocka_unit_test(test_vipps_sim__token_expiry_and_401_refresh),
        cmocka_unit_test(test_vipps_sim__rate_limit_429),
        cmocka_unit_test(test_vipps_sim__ecom_qr_flow),
        cmocka_unit_test(test_vipps_sim__order_management_receipt),
        cmocka_unit_test(test_vipps_sim__webhooks),
        cmocka_unit_test(test_vipps_sim__ecom_callback_delivered),
        cmocka_unit_test(test_vipps_sim__magic_amounts),
        cmocka_unit_test(test_vipps_sim__no_secrets_in_verbose_log),
        cmocka_unit_test(test_vipps_sim__threads_share_cache),
        cmocka_unit_test_teardown(test_vipps_sim__kvitt_sim_process, stop_sim_proc),
    };
    int rc = cmocka_run_group_tests_name("vipps_sim", tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
