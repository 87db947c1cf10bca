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
#include <sys/stat.h>
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

/* Every string in a JSON tree is free of C0/DEL, C1 and bidi characters;
 * returns the number of strings looked at. */
static int clean_strings(const cJSON *j)
{
    int n = 0;
    if (cJSON_IsString(j)) {
        const unsigned char *p = (const unsigned char *)j->valuestring;
        for (; *p; p++) {
            if (*p < 0x20 || *p == 0x7f)
                fail_msg("control byte 0x%02x in \"%s\"", *p, j->valuestring);
            if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
                fail_msg("C1 character in \"%s\"", j->valuestring);
            if (p[0] == 0xe2 && ((p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) ||
                                 (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)))
                fail_msg("bidi character in \"%s\"", j->valuestring);
        }
        return 1;
    }
    for (const cJSON *c = j ? j->child : NULL; c; c = c->next)
        n += clean_strings(c);
    return n;
}

/* The request (or response) bodies the simulator recorded for "METHOD
 * path-prefix", parsed. */
static int recorded_field(const char *file, const char *method, const char *prefix,
                          const char *field, cJSON **out, int max)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(file, &buf, &len), 0);
    int n = 0;
    for (char *save = NULL, *l = strtok_r((char *)buf, "\n", &save); l && n < max;
         l = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(l);
        const cJSON *m = cJSON_GetObjectItem(o, "method"), *p = cJSON_GetObjectItem(o, "path");
        const cJSON *rq = cJSON_GetObjectItem(o, field);
        if (cJSON_IsString(m) && cJSON_IsString(p) && cJSON_IsString(rq) &&
            !strcmp(m->valuestring, method) && !strncmp(p->valuestring, prefix, strlen(prefix)))
            out[n++] = cJSON_Parse(rq->valuestring);
        cJSON_Delete(o);
    }
    free(buf);
    return n;
}

static int recorded(const char *file, const char *method, const char *prefix, cJSON **out, int max)
{
    return recorded_field(file, method, prefix, "request", out, max);
}

static void test_vipps_trust__text_sent_to_vipps_is_cleaned(void **state)
{
    (void)state;
    char *rec = kvt_path("%s/trust-record.jsonl", kvt_tmpdir());
    kv_sim *s = start_sim(rec);
    attempts a = { .n = 0 };
    kv_vipps_client *c = client(s, 8000, 0, &a);
    /* ESC, tab, RIGHT-TO-LEFT OVERRIDE, NEL (C1), LF, LRI ... PDI, BEL. */
    const char *desc = "Kaffe\x1b[2J\t\xe2\x80\xae" "evil\xc2\x85\nkake";
    kv_vipps_order_line line = {
        .id = "sku\x01-1", .name = "Te\xe2\x81\xa6x\xe2\x81\xa9\x07 \xc3\xa6\xc3\xb8",
        .total_amount = 4900, .total_amount_excl_tax = 3920, .total_tax_amount = 980,
        .tax_rate = 2500, .unit_price = 4900, .quantity = "1",
    };
    kv_vipps_receipt rc = { .lines = &line, .n_lines = 1, .currency = "NOK",
                            .pos_id = "till\x1b-1", .receipt_number = "R\xe2\x80\xad" "42" };
    kv_vipps_create_req rq = {
        .reference = "OSL-text-0001", .amount = 4900, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_QR, .qr_format = KV_VIPPS_QR_TEXT,
        .description = desc, .receipt = &rc, .idempotency_key = "OSL-text-0001-create",
    };
    kv_vipps_created out;
    kv_vipps_status st = kv_vipps_create(&out, c, &rq);
    if (st)
        printf("create: %s\n", kv_vipps_last_error(c)->log);
    assert_int_equal(st, KV_VIPPS_OK);
    st = kv_vipps_om_add_receipt(c, "OSL-text-0003", &rc);
    if (st)
        printf("receipt: %s\n", kv_vipps_last_error(c)->log);
    assert_int_equal(st, KV_VIPPS_OK);

    cJSON *bodies[8];
    int n = recorded(rec, "POST", "/epayment/v1/payments", bodies, 8);
    assert_int_equal(n, 1);
    assert_true(clean_strings(bodies[0]) >= 8);
    const cJSON *d = cJSON_GetObjectItem(bodies[0], "paymentDescription");
    assert_true(cJSON_IsString(d));
    assert_string_equal(d->valuestring, "Kaffe[2J evil kake");
    const cJSON *l0 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(bodies[0],
                                         "receipt"), "orderLines"), 0);
    assert_string_equal(cJSON_GetObjectItem(l0, "name")->valuestring, "Tex \xc3\xa6\xc3\xb8");
    assert_string_equal(cJSON_GetObjectItem(l0, "id")->valuestring, "sku-1");
    cJSON_Delete(bodies[0]);
    n = recorded(rec, "POST", "/order-management/", bodies, 8);
    assert_int_equal(n, 1);
    assert_true(clean_strings(bodies[0]) >= 4);
    cJSON_Delete(bodies[0]);
    free(rec);
    /* A description that is nothing but control characters is refused
     * before anything is sent. */
    rq.reference = "OSL-text-0002";
    rq.idempotency_key = "OSL-text-0002-create";
    rq.description = "\x1b\x1b\xe2\x80\xae\x07";
    rq.receipt = NULL;
    assert_int_equal(kv_vipps_create(&out, c, &rq), KV_VIPPS_E_INVALID);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

/* The access tokens the simulator issued, from its --record file. */
static int issued_tokens(const char *rec, char tokens[][2048], int max)
{
    cJSON *ans[8];
    int m = recorded_field(rec, "POST", "/accesstoken/get", "response", ans, max < 8 ? max : 8);
    int n = 0;
    for (int i = 0; i < m; i++) {
        const cJSON *at = cJSON_GetObjectItem(ans[i], "access_token");
        if (cJSON_IsString(at))
            snprintf(tokens[n++], 2048, "%s", at->valuestring);
        cJSON_Delete(ans[i]);
    }
    return n;
}

static unsigned file_mode(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (unsigned)(sb.st_mode & 07777) : 07777;
}

static void test_vipps_trust__wire_trace_has_the_calls_and_no_secret(void **state)
{
    (void)state;
    char *rec = kvt_path("%s/trace-record.jsonl", kvt_tmpdir());
    char *trace = kvt_path("%s/client.trace", kvt_tmpdir());
    kv_sim *s = start_sim(rec);
    const kv_sim_cred *cr = oslo();
    const char *ph = kv_sim_known_phones();
    char phone[32];
    snprintf(phone, sizeof phone, "%.*s", (int)strcspn(ph, ","), ph);
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.environment = kv_sim_url(s);
    o.client_id = cr->client_id;
    o.client_secret = cr->client_secret;
    o.subscription_key = cr->subscription_key;
    o.msn = cr->msn;
    o.trace_path = trace;
    kv_vipps_client *c = NULL;
    char err[300];
    mode_t old = umask(022);
    assert_int_equal(kv_vipps_client_create(&c, &o, err, sizeof err), KV_VIPPS_OK);
    umask(old);
    kv_vipps_create_req rq = {
        .reference = "OSL-trace-0001", .amount = 4900, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_PUSH, .phone = phone, .description = "Kvitt Kaffe",
        .idempotency_key = "OSL-trace-0001-create",
    };
    kv_vipps_created out;
    assert_int_equal(kv_vipps_create(&out, c, &rq), KV_VIPPS_OK);
    assert_int_equal(kv_vipps_test_approve(c, "OSL-trace-0001", phone), KV_VIPPS_OK);
    kv_vipps_modification m;
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-trace-0001", 4900, "NOK", "OSL-trace-0001-cap"),
                     KV_VIPPS_OK);
    /* An error answer is traced too. */
    kv_vipps_payment p;
    assert_int_equal(kv_vipps_get(&p, c, "OSL-trace-none"), KV_VIPPS_E_NOT_FOUND);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);

    assert_int_equal(file_mode(trace), 0600);
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(trace, &buf, &len), 0);
    const char *t = (const char *)buf;
    assert_non_null(strstr(t, "POST /accesstoken/get"));
    assert_non_null(strstr(t, "> POST /epayment/v1/payments HTTP/1.1"));
    assert_non_null(strstr(t, "/epayment/v1/test/payments/OSL-trace-0001/approve"));
    assert_non_null(strstr(t, "/epayment/v1/payments/OSL-trace-0001/capture"));
    assert_non_null(strstr(t, "--- HTTP 201 in "));
    assert_non_null(strstr(t, "--- HTTP 404 in "));
    assert_non_null(strstr(t, "Idempotency-Key: OSL-trace-0001-create"));
    assert_non_null(strstr(t, "Authorization: [redacted]"));
    assert_non_null(strstr(t, "\"paymentDescription\":\"Kvitt Kaffe\""));
    /* No secret, in any form the client sent or received it. */
    assert_null(strstr(t, cr->client_secret));
    assert_null(strstr(t, cr->subscription_key));
    assert_null(strstr(t, phone));
    static char tokens[8][2048];
    int nt = issued_tokens(rec, tokens, 8);
    assert_true(nt >= 1);
    for (int i = 0; i < nt; i++)
        assert_null(strstr(t, tokens[i]));
    free(buf);
    free(trace);
    free(rec);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vipps_trust__retry_after_is_honoured_not_capped),
        cmocka_unit_test(test_vipps_trust__retry_after_past_the_deadline_fails_at_once),
        cmocka_unit_test(test_vipps_trust__text_sent_to_vipps_is_cleaned),
        cmocka_unit_test(test_vipps_trust__wire_trace_has_the_calls_and_no_secret),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
