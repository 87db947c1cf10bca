/*
 * kvtvipps.c - helpers shared by the test_vipps_sim_* suites: the payment
 * client against an in-process simulator on loopback, and the simulator's
 * control endpoints over real HTTP (kvts_http of kvtsim.c).  Nothing here
 * is a mock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "tests/lib/kvtsim.h"
#include "tests/lib/kvtvipps.h"

int kvtv_setup(void **state)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    kvtv_env *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    size_t n = 0;
    const kv_sim_cred *c = kv_sim_credentials(&n);
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(c[i].name, "oslo")) e->oslo = &c[i];
        if (!strcmp(c[i].name, "bergen")) e->bergen = &c[i];
        if (c[i].partner) e->partner = &c[i];
    }
    const char *ph = kv_sim_known_phones();
    size_t l = strcspn(ph, ",");
    if (l >= sizeof e->phone)
        l = sizeof e->phone - 1;
    memcpy(e->phone, ph, l);
    e->phone[l] = '\0';
    *state = e;
    return e->oslo && e->bergen && e->partner ? 0 : -1;
}

int kvtv_teardown(void **state)
{
    free(*state);
    *state = NULL;
    curl_global_cleanup();
    return 0;
}

kv_sim *kvtv_start_sim(void (*tweak)(kv_sim_options *))
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

kv_vipps_client *kvtv_client(kv_sim *s, const kv_sim_cred *cr, const char *msn,
                             kv_vipps_opts *tweak)
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

void kvtv_log_collect(kv_vipps_log_level lvl, const char *line, void *payload)
{
    (void)lvl;
    kvtv_log *b = payload;
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

cJSON *kvtv_control(kv_sim *s, const char *method, const char *path, const char *body)
{
    kvts_resp r;
    kvts_http(&r, kv_sim_url(s), method, path, NULL, body);
    if (r.status < 200 || r.status > 299)
        printf("control %s %s -> %ld (curl %d) %s\n", method, path, r.status, r.curl_err,
               r.body ? r.body : "");
    assert_int_equal(r.curl_err, 0);
    assert_true(r.status >= 200 && r.status <= 299);
    cJSON *o = r.json;
    r.json = NULL;
    kvts_resp_free(&r);
    return o;
}

void kvtv_fault(kv_sim *s, const char *json)
{
    cJSON_Delete(kvtv_control(s, "POST", "/sim/v1/faults", json));
}

long kvtv_sim_count(kv_sim *s, const char *method_path)
{
    cJSON *o = kvtv_control(s, "GET", "/sim/v1/stats", NULL);
    const cJSON *r = cJSON_GetObjectItem(o, "requests");
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(r, method_path);
    long n = cJSON_IsNumber(it) ? (long)it->valuedouble : 0;
    cJSON_Delete(o);
    return n;
}

long kvtv_key_seen(kv_sim *s, const char *key, int *paths)
{
    cJSON *o = kvtv_control(s, "GET", "/sim/v1/stats", NULL);
    const cJSON *ks = cJSON_GetObjectItem(o, "idempotencyKeys");
    const cJSON *it;
    long n = 0;
    *paths = 0;
    cJSON_ArrayForEach(it, ks) {
        const cJSON *k = cJSON_GetObjectItem(it, "key");
        if (cJSON_IsString(k) && !strcmp(k->valuestring, key)) {
            n += (long)kvts_jnum(it, "count");
            (*paths)++;
        }
    }
    cJSON_Delete(o);
    return n;
}

long kvtv_tokens_issued(kv_sim *s)
{
    cJSON *o = kvtv_control(s, "GET", "/sim/v1/stats", NULL);
    double n = kvts_jnum(o, "tokensIssued");
    cJSON_Delete(o);
    assert_true(n >= 0);
    return (long)n;
}

void kvtv_create_qr(kv_vipps_client *c, const char *ref, int64_t amount,
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

void kvtv_approve(kv_vipps_client *c, const kvtv_env *e, const char *ref)
{
    kv_vipps_status st = kv_vipps_test_approve(c, ref, e->phone);
    if (st)
        printf("approve: %s\n", kv_vipps_last_error(c)->log);
    assert_int_equal(st, KV_VIPPS_OK);
}
