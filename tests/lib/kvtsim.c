/*
 * kvtsim.c - helpers shared by the test_sim_* suites: `kvitt sim` as a real
 * child process, a libcurl client with the API's authentication, ePayment
 * shortcuts and a real HTTP receiver (libmicrohttpd) for webhooks and eCom
 * callbacks.  Nothing here is a mock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>

#include "tests/lib/kvtest.h"
#include "tests/lib/kvtsim.h"

/* ------------------------------------------------------------------ */
/* the simulator child process                                         */

int kvts_sim_start(kvts_sim *s, const char *const extra[])
{
    const char *argv[40];
    int n = 0;
    argv[n++] = "kvitt";
    argv[n++] = "sim";
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--quiet";
    argv[n++] = "--exit-with-parent";
    argv[n++] = "--webhook-retry-ms";
    argv[n++] = "100";
    argv[n++] = "--webhook-timeout-ms";
    argv[n++] = "2000";
    for (int i = 0; extra && extra[i] && n < 38; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    char *log = kvt_path("%s/sim.log", kvt_tmpdir());
    s->proc = kvt_spawn(argv, NULL, log);
    free(log);
    if (!s->proc) return -1;
    char *line = kvt_proc_readline(s->proc, 10000);
    if (!line || strncmp(line, "http://127.0.0.1:", 17) != 0) {
        free(line);
        kvt_proc_stop(s->proc, SIGTERM);
        s->proc = NULL;
        return -1;
    }
    snprintf(s->url, sizeof s->url, "%s", line);
    free(line);
    return 0;
}

void kvts_sim_stop(kvts_sim *s)
{
    if (s->proc) {
        int st = kvt_proc_stop(s->proc, SIGTERM);
        /* SIGTERM is a clean stop: exit status 0 */
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    s->proc = NULL;
}

/* ------------------------------------------------------------------ */
/* HTTP client                                                         */

static size_t on_body(char *p, size_t sz, size_t n, void *u)
{
    kvts_resp *r = u;
    size_t k = sz * n;
    char *nb = realloc(r->body, r->len + k + 1);
    if (!nb) return 0;
    r->body = nb;
    memcpy(r->body + r->len, p, k);
    r->len += k;
    r->body[r->len] = 0;
    return k;
}

static size_t on_hdr(char *p, size_t sz, size_t n, void *u)
{
    kvts_resp *r = u;
    size_t k = sz * n;
    if (r->hlen + k < sizeof r->hdrs) {
        memcpy(r->hdrs + r->hlen, p, k);
        r->hlen += k;
        r->hdrs[r->hlen] = 0;
    }
    return k;
}

void kvts_resp_free(kvts_resp *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}

/* One request to base+path. hdrs: NULL-terminated "Name: value" list. */
void kvts_http(kvts_resp *r, const char *base, const char *method, const char *path,
               const char *const hdrs[], const char *body)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[512];
    snprintf(url, sizeof url, "%s%s", base, path);
    struct curl_slist *h = NULL;
    for (int i = 0; hdrs && hdrs[i]; i++) h = curl_slist_append(h, hdrs[i]);
    if (body) h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (!strcmp(method, "POST") || !strcmp(method, "PUT")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_hdr);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    r->curl_err = (int)cc;
    if (cc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (r->body) r->json = cJSON_Parse(r->body);
}

const char *kvts_jstr(const cJSON *o, const char *path)
{
    /* dotted path: "aggregate.capturedAmount.value" style for strings */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *save = NULL, *t = strtok_r(buf, ".", &save); t && cur; t = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, t);
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

double kvts_jnum(const cJSON *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *save = NULL, *t = strtok_r(buf, ".", &save); t && cur; t = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, t);
    return cJSON_IsNumber(cur) ? cur->valuedouble : -1;
}

/* The ErrorCode of an RFC 7807 body (doc §3.7: extraDetails name ErrorCode). */
const char *kvts_errcode(const kvts_resp *r)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(r->json, "extraDetails");
    const cJSON *e;
    cJSON_ArrayForEach(e, x) {
        const char *n = kvts_jstr(e, "name");
        if (n && !strcmp(n, "ErrorCode")) return kvts_jstr(e, "reason");
    }
    return NULL;
}

/* eCom error arrays (doc §4.2): [{errorGroup, errorCode, errorMessage, contextId}] */
const char *kvts_ecom_code(const kvts_resp *r)
{
    const cJSON *e = cJSON_GetArrayItem(r->json, 0);
    return e ? kvts_jstr(e, "errorCode") : NULL;
}

/* ------------------------------------------------------------------ */
/* credentials and authenticated calls                                 */

const kv_sim_cred *kvts_cred(const char *name)
{
    size_t n;
    const kv_sim_cred *c = kv_sim_credentials(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(c[i].name, name)) return &c[i];
    fail_msg("no credential set %s", name);
    return NULL;
}

/* POST /accesstoken/get (doc §1.2): credentials in headers, empty body. */
void kvts_get_token(kvts_resp *r, const char *base, const kv_sim_cred *c, const char *msn)
{
    char h1[300], h2[300], h3[300], h4[64];
    snprintf(h1, sizeof h1, "client_id: %s", c->client_id);
    snprintf(h2, sizeof h2, "client_secret: %s", c->client_secret);
    snprintf(h3, sizeof h3, "Ocp-Apim-Subscription-Key: %s", c->subscription_key);
    snprintf(h4, sizeof h4, "Merchant-Serial-Number: %s", msn);
    const char *hdrs[] = { h1, h2, h3, h4, "Vipps-System-Name: kvitt-test", NULL };
    kvts_http(r, base, "POST", "/accesstoken/get", hdrs, NULL);
}

void kvts_login(kvts_api *a, const char *base, const char *credname, const char *msn)
{
    memset(a, 0, sizeof *a);
    const kv_sim_cred *c = kvts_cred(credname);
    if (!msn) msn = c->msn;
    kvts_resp r;
    kvts_get_token(&r, base, c, msn);
    assert_int_equal(r.status, 200);
    const char *t = kvts_jstr(r.json, "access_token");
    assert_non_null(t);
    snprintf(a->token, sizeof a->token, "%s", t);
    kvts_resp_free(&r);
    snprintf(a->auth, sizeof a->auth, "Authorization: Bearer %s", a->token);
    snprintf(a->sub, sizeof a->sub, "Ocp-Apim-Subscription-Key: %s", c->subscription_key);
    snprintf(a->msn, sizeof a->msn, "Merchant-Serial-Number: %s", msn);
}

/* Authenticated call; key = Idempotency-Key (or NULL). */
void kvts_call(kvts_resp *r, const char *base, kvts_api *a, const char *method, const char *path,
               const char *key, const char *body)
{
    int n = 0;
    a->h[n++] = a->auth;
    a->h[n++] = a->sub;
    a->h[n++] = a->msn;
    a->h[n++] = "Vipps-System-Name: kvitt-test";
    if (key) {
        snprintf(a->idem, sizeof a->idem, "Idempotency-Key: %s", key);
        a->h[n++] = a->idem;
    }
    a->h[n] = NULL;
    kvts_http(r, base, method, path, a->h, body);
}

void kvts_callh(kvts_resp *r, const char *base, kvts_api *a, const char *method, const char *path,
                const char *extra, const char *body)
{
    const char *h[] = { a->auth, a->sub, a->msn, extra, NULL };
    kvts_http(r, base, method, path, h, body);
}

char *kvts_create_body(const char *ref, long value, const char *flow, const char *extra)
{
    char *b = NULL;
    int rc = asprintf(&b,
        "{\"amount\":{\"currency\":\"NOK\",\"value\":%ld},\"paymentMethod\":{\"type\":\"WALLET\"},"
        "\"reference\":\"%s\",\"userFlow\":\"%s\",\"customerInteraction\":\"CUSTOMER_PRESENT\","
        "\"paymentDescription\":\"Kvitt test\"%s%s}",
        value, ref, flow, extra ? "," : "", extra ? extra : "");
    assert_true(rc > 0);
    return b;
}

void kvts_create(const char *base, kvts_api *a, const char *ref, long value, int expect)
{
    char *b = kvts_create_body(ref, value, "QR", "\"qrFormat\":{\"format\":\"TEXT/TARGETURL\"}");
    char key[96];
    snprintf(key, sizeof key, "%s-create", ref);
    kvts_resp r;
    kvts_call(&r, base, a, "POST", "/epayment/v1/payments", key, b);
    if (r.status != expect) fail_msg("create %s: %ld %s", ref, r.status, r.body ? r.body : "");
    kvts_resp_free(&r);
    free(b);
}

void kvts_get_payment(kvts_resp *r, const char *base, kvts_api *a, const char *ref)
{
    char p[128];
    snprintf(p, sizeof p, "/epayment/v1/payments/%s", ref);
    kvts_call(r, base, a, "GET", p, NULL, NULL);
}

void kvts_expect_state(const char *base, kvts_api *a, const char *ref, const char *state)
{
    kvts_resp r;
    kvts_get_payment(&r, base, a, ref);
    assert_int_equal(r.status, 200);
    const char *st = kvts_jstr(r.json, "state");
    if (!st || strcmp(st, state)) fail_msg("%s: state %s, expected %s", ref, st ? st : "(none)", state);
    kvts_resp_free(&r);
}

void kvts_modify(kvts_resp *r, const char *base, kvts_api *a, const char *ref, const char *op,
                 const char *key, long value)
{
    char p[160], b[128];
    snprintf(p, sizeof p, "/epayment/v1/payments/%s/%s", ref, op);
    snprintf(b, sizeof b, "{\"modificationAmount\":{\"currency\":\"NOK\",\"value\":%ld}}", value);
    kvts_call(r, base, a, "POST", p, key, b);
}

void kvts_approve(kvts_resp *r, const char *base, kvts_api *a, const char *ref)
{
    char p[160];
    snprintf(p, sizeof p, "/epayment/v1/test/payments/%s/approve", ref);
    kvts_call(r, base, a, "POST", p, NULL, "{\"customer\":{\"phoneNumber\":\"4791234567\"}}");
}

void kvts_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ */
/* a real HTTP kvts_receiver for webhooks and callbacks                     */

struct rctx { char *buf; size_t len; };

static enum MHD_Result rec_handler(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *up,
                                   size_t *upsz, void **con)
{
    (void)method; (void)version;
    kvts_receiver *rv = cls;
    struct rctx *x = *con;
    if (!x) { x = calloc(1, sizeof *x); *con = x; return MHD_YES; }
    if (*upsz) {
        x->buf = realloc(x->buf, x->len + *upsz + 1);
        memcpy(x->buf + x->len, up, *upsz);
        x->len += *upsz;
        x->buf[x->len] = 0;
        *upsz = 0;
        return MHD_YES;
    }
    unsigned code = 200;
    pthread_mutex_lock(&rv->mu);
    rv->seen++;
    if (rv->seen <= rv->fail_first) code = 500;
    else if (rv->n < KVTS_MAXREC) {
        kvts_received *r = &rv->rec[rv->n++];
        const char *v;
        snprintf(r->path, sizeof r->path, "%s", url);
        snprintf(r->host, sizeof r->host, "%s", (v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host")) ? v : "");
        snprintf(r->date, sizeof r->date, "%s", (v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-ms-date")) ? v : "");
        snprintf(r->hash, sizeof r->hash, "%s", (v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-ms-content-sha256")) ? v : "");
        snprintf(r->auth, sizeof r->auth, "%s", (v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization")) ? v : "");
        r->body = x->buf ? strdup(x->buf) : strdup("");
    }
    pthread_mutex_unlock(&rv->mu);
    struct MHD_Response *resp_ = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, code, resp_);
    MHD_destroy_response(resp_);
    return ret;
}

static void rec_done(void *cls, struct MHD_Connection *c, void **con, enum MHD_RequestTerminationCode t)
{
    (void)cls; (void)c; (void)t;
    struct rctx *x = *con;
    if (x) { free(x->buf); free(x); *con = NULL; }
}

void kvts_receiver_start(kvts_receiver *rv, int fail_first)
{
    memset(rv, 0, sizeof *rv);
    pthread_mutex_init(&rv->mu, NULL);
    rv->fail_first = fail_first;
    rv->port = kvt_free_port();
    rv->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                             (uint16_t)rv->port, NULL, NULL, rec_handler, rv,
                             MHD_OPTION_NOTIFY_COMPLETED, rec_done, rv, MHD_OPTION_END);
    assert_non_null(rv->d);
}

void kvts_receiver_stop(kvts_receiver *rv)
{
    MHD_stop_daemon(rv->d);
    for (int i = 0; i < rv->n; i++) free(rv->rec[i].body);
    pthread_mutex_destroy(&rv->mu);
}

int kvts_receiver_wait(kvts_receiver *rv, int n, int timeout_ms)
{
    for (int t = 0; t < timeout_ms; t += 20) {
        pthread_mutex_lock(&rv->mu);
        int have = rv->n;
        pthread_mutex_unlock(&rv->mu);
        if (have >= n) return have;
        kvts_sleep_ms(20);
    }
    pthread_mutex_lock(&rv->mu);
    int have = rv->n;
    pthread_mutex_unlock(&rv->mu);
    return have;
}

/* ------------------------------------------------------------------ */
/* suite setup                                                         */

int kvts_suite_setup(kvts_sim *s)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char *conf = kvt_path("%s/kvitt.conf", kvt_tmpdir());
    const char *extra[] = { "--write-config", conf, "--seed", "7", NULL };
    int rc = kvts_sim_start(s, extra);
    free(conf);
    return rc;
}

void kvts_suite_teardown(kvts_sim *s)
{
    kvts_sim_stop(s);
    curl_global_cleanup();
}
