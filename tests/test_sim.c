/*
 * test_sim.c - `kvitt sim` as a real child process, driven over real HTTP
 * on loopback with libcurl.  Webhook and eCom callback deliveries go to a
 * real HTTP receiver in this process (libmicrohttpd).  Expected values
 * (paths, status codes, error codes, states, HMAC scheme) come from
 * ../shared/docs/vipps-api.md, cited at each test; nothing is captured from
 * the simulator's own output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <png.h>
#include <zbar.h>

#include "sim/sim.h"
#include "src/config/config.h"
#include "tests/lib/kvtest.h"

/* ------------------------------------------------------------------ */
/* the simulator child process                                         */

typedef struct {
    kvt_proc *proc;
    char url[128];
} simproc;

static simproc g_sim;   /* the shared simulator of the suite (default options) */

static int sim_start(simproc *s, const char *const extra[])
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

static void sim_stop(simproc *s)
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

typedef struct {
    long status;
    int curl_err;
    char *body;
    size_t len;
    char hdrs[4096];
    size_t hlen;
    cJSON *json;
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *u)
{
    resp *r = u;
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
    resp *r = u;
    size_t k = sz * n;
    if (r->hlen + k < sizeof r->hdrs) {
        memcpy(r->hdrs + r->hlen, p, k);
        r->hlen += k;
        r->hdrs[r->hlen] = 0;
    }
    return k;
}

static void resp_free(resp *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}

/* One request to base+path. hdrs: NULL-terminated "Name: value" list. */
static void http(resp *r, const char *base, const char *method, const char *path,
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

static const char *jstr(const cJSON *o, const char *path)
{
    /* dotted path: "aggregate.capturedAmount.value" style for strings */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *save = NULL, *t = strtok_r(buf, ".", &save); t && cur; t = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, t);
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *save = NULL, *t = strtok_r(buf, ".", &save); t && cur; t = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, t);
    return cJSON_IsNumber(cur) ? cur->valuedouble : -1;
}

/* The ErrorCode of an RFC 7807 body (doc §3.7: extraDetails name ErrorCode). */
static const char *errcode(const resp *r)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(r->json, "extraDetails");
    const cJSON *e;
    cJSON_ArrayForEach(e, x) {
        const char *n = jstr(e, "name");
        if (n && !strcmp(n, "ErrorCode")) return jstr(e, "reason");
    }
    return NULL;
}

/* eCom error arrays (doc §4.2): [{errorGroup, errorCode, errorMessage, contextId}] */
static const char *ecom_code(const resp *r)
{
    const cJSON *e = cJSON_GetArrayItem(r->json, 0);
    return e ? jstr(e, "errorCode") : NULL;
}

/* ------------------------------------------------------------------ */
/* credentials and authenticated calls                                 */

typedef struct {
    char token[4096];
    char auth[4200];
    char sub[300];
    char msn[64];
    const char *h[8];
    char idem[128];
} api;

static const kv_sim_cred *cred(const char *name)
{
    size_t n;
    const kv_sim_cred *c = kv_sim_credentials(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(c[i].name, name)) return &c[i];
    fail_msg("no credential set %s", name);
    return NULL;
}

/* POST /accesstoken/get (doc §1.2): credentials in headers, empty body. */
static void get_token(resp *r, const char *base, const kv_sim_cred *c, const char *msn)
{
    char h1[300], h2[300], h3[300], h4[64];
    snprintf(h1, sizeof h1, "client_id: %s", c->client_id);
    snprintf(h2, sizeof h2, "client_secret: %s", c->client_secret);
    snprintf(h3, sizeof h3, "Ocp-Apim-Subscription-Key: %s", c->subscription_key);
    snprintf(h4, sizeof h4, "Merchant-Serial-Number: %s", msn);
    const char *hdrs[] = { h1, h2, h3, h4, "Vipps-System-Name: kvitt-test", NULL };
    http(r, base, "POST", "/accesstoken/get", hdrs, NULL);
}

static void login(api *a, const char *base, const char *credname, const char *msn)
{
    memset(a, 0, sizeof *a);
    const kv_sim_cred *c = cred(credname);
    if (!msn) msn = c->msn;
    resp r;
    get_token(&r, base, c, msn);
    assert_int_equal(r.status, 200);
    const char *t = jstr(r.json, "access_token");
    assert_non_null(t);
    snprintf(a->token, sizeof a->token, "%s", t);
    resp_free(&r);
    snprintf(a->auth, sizeof a->auth, "Authorization: Bearer %s", a->token);
    snprintf(a->sub, sizeof a->sub, "Ocp-Apim-Subscription-Key: %s", c->subscription_key);
    snprintf(a->msn, sizeof a->msn, "Merchant-Serial-Number: %s", msn);
}

/* Authenticated call; key = Idempotency-Key (or NULL). */
static void call(resp *r, const char *base, api *a, const char *method, const char *path,
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
    http(r, base, method, path, a->h, body);
}

static void callh(resp *r, const char *base, api *a, const char *method, const char *path,
                  const char *extra, const char *body)
{
    const char *h[] = { a->auth, a->sub, a->msn, extra, NULL };
    http(r, base, method, path, h, body);
}

static char *create_body(const char *ref, long value, const char *flow, const char *extra)
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

static void create(const char *base, api *a, const char *ref, long value, int expect)
{
    char *b = create_body(ref, value, "QR", "\"qrFormat\":{\"format\":\"TEXT/TARGETURL\"}");
    char key[96];
    snprintf(key, sizeof key, "%s-create", ref);
    resp r;
    call(&r, base, a, "POST", "/epayment/v1/payments", key, b);
    if (r.status != expect) fail_msg("create %s: %ld %s", ref, r.status, r.body ? r.body : "");
    resp_free(&r);
    free(b);
}

static void get_payment(resp *r, const char *base, api *a, const char *ref)
{
    char p[128];
    snprintf(p, sizeof p, "/epayment/v1/payments/%s", ref);
    call(r, base, a, "GET", p, NULL, NULL);
}

static void expect_state(const char *base, api *a, const char *ref, const char *state)
{
    resp r;
    get_payment(&r, base, a, ref);
    assert_int_equal(r.status, 200);
    const char *st = jstr(r.json, "state");
    if (!st || strcmp(st, state)) fail_msg("%s: state %s, expected %s", ref, st ? st : "(none)", state);
    resp_free(&r);
}

static void modify(resp *r, const char *base, api *a, const char *ref, const char *op,
                   const char *key, long value)
{
    char p[160], b[128];
    snprintf(p, sizeof p, "/epayment/v1/payments/%s/%s", ref, op);
    snprintf(b, sizeof b, "{\"modificationAmount\":{\"currency\":\"NOK\",\"value\":%ld}}", value);
    call(r, base, a, "POST", p, key, b);
}

static void approve(resp *r, const char *base, api *a, const char *ref)
{
    char p[160];
    snprintf(p, sizeof p, "/epayment/v1/test/payments/%s/approve", ref);
    call(r, base, a, "POST", p, NULL, "{\"customer\":{\"phoneNumber\":\"4791234567\"}}");
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ */
/* suite setup                                                         */

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char *conf = kvt_path("%s/kvitt.conf", kvt_tmpdir());
    const char *extra[] = { "--write-config", conf, "--seed", "7", NULL };
    int rc = sim_start(&g_sim, extra);
    free(conf);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    sim_stop(&g_sim);
    curl_global_cleanup();
    return 0;
}

/* ------------------------------------------------------------------ */
/* tests                                                               */

/* doc §1.2: unknown credentials -> 401; token fields are strings;
 * API calls need "Bearer <token>" + the subscription key (§1.2, §12.2). */
static void test_sim__token_rules(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    kv_sim_cred bad = *cred("oslo");
    bad.client_id = "00000000-0000-0000-0000-000000000000";
    resp r;
    get_token(&r, U, &bad, "123456");
    assert_int_equal(r.status, 401);
    resp_free(&r);
    bad = *cred("oslo");
    bad.client_secret = "wrong";
    get_token(&r, U, &bad, "123456");
    assert_int_equal(r.status, 401);
    assert_null(strstr(r.body, "wrong")); /* the secret is never echoed */
    resp_free(&r);
    bad = *cred("oslo");
    bad.subscription_key = "ffffffffffffffffffffffffffffffff";
    get_token(&r, U, &bad, "123456");
    assert_int_equal(r.status, 401);
    resp_free(&r);

    get_token(&r, U, cred("oslo"), "123456");
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "token_type"), "Bearer");
    /* expires_in, expires_on, not_before are JSON strings (doc table §1.2) */
    assert_non_null(jstr(r.json, "expires_in"));
    assert_non_null(jstr(r.json, "expires_on"));
    assert_non_null(jstr(r.json, "not_before"));
    assert_non_null(jstr(r.json, "ext_expires_in"));
    assert_non_null(jstr(r.json, "resource"));
    assert_true(strlen(jstr(r.json, "access_token")) > 1000);
    long on = atol(jstr(r.json, "expires_on")), nb = atol(jstr(r.json, "not_before"));
    assert_int_equal(on - nb, atol(jstr(r.json, "expires_in")));
    resp_free(&r);

    api a;
    login(&a, U, "oslo", NULL);
    /* without the word Bearer -> 401 */
    char noBearer[4200];
    snprintf(noBearer, sizeof noBearer, "Authorization: %s", a.token);
    const char *h1[] = { noBearer, a.sub, a.msn, NULL };
    http(&r, U, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", h1, NULL);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    /* a made-up token -> 401 */
    const char *h2[] = { "Authorization: Bearer abc.def.ghi", a.sub, a.msn, NULL };
    http(&r, U, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", h2, NULL);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    /* no subscription key -> 401 */
    const char *h3[] = { a.auth, a.msn, NULL };
    http(&r, U, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", h3, NULL);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    /* oslo's token with bergen's subscription key -> 401 */
    char bsub[300];
    snprintf(bsub, sizeof bsub, "Ocp-Apim-Subscription-Key: %s", cred("bergen")->subscription_key);
    const char *h4[] = { a.auth, bsub, NULL };
    http(&r, U, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", h4, NULL);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    /* a valid token and an unknown reference: 404 (authenticated) */
    call(&r, U, &a, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", NULL, NULL);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    /* foreign MSN with merchant keys -> 403 (doc §2.3) */
    api f;
    login(&f, U, "oslo", NULL);
    snprintf(f.msn, sizeof f.msn, "Merchant-Serial-Number: 234567");
    call(&r, U, &f, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", NULL, NULL);
    assert_int_equal(r.status, 403);
    resp_free(&r);
}

/* Token expiry: a simulator with --token-ttl 1. */
static void test_sim__token_expires(void **state)
{
    (void)state;
    simproc s;
    const char *extra[] = { "--token-ttl", "1", NULL };
    assert_int_equal(sim_start(&s, extra), 0);
    api a;
    login(&a, s.url, "bergen", NULL);
    resp r;
    call(&r, s.url, &a, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", NULL, NULL);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    sleep_ms(1300);
    call(&r, s.url, &a, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", NULL, NULL);
    assert_int_equal(r.status, 401);
    resp_free(&r);
    login(&a, s.url, "bergen", NULL); /* a fresh token works again */
    call(&r, s.url, &a, "GET", "/epayment/v1/payments/NO-SUCH-REF-1", NULL, NULL);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    sim_stop(&s);
}

/* doc §3.1/§3.2: create -> 201 {redirectUrl, reference}; GET shows CREATED
 * with a zero aggregate; IMAGE/PNG gives a fetchable PNG of the QR. */
static void test_sim__create_201_and_get(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    api a;
    login(&a, U, "oslo", NULL);
    char *b = create_body("OSL-create-0001", 14900, "QR", "\"qrFormat\":{\"format\":\"TEXT/TARGETURL\"}");
    resp r;
    call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-create-0001-c1", b);
    free(b);
    assert_int_equal(r.status, 201);
    assert_string_equal(jstr(r.json, "reference"), "OSL-create-0001");
    const char *target = jstr(r.json, "redirectUrl");
    assert_non_null(target);
    assert_true(!strncmp(target, "https://qr.vipps.no/", 20)); /* doc §5.1: Vipps' own domain */
    char tcopy[256];
    snprintf(tcopy, sizeof tcopy, "%s", target);
    resp_free(&r);

    get_payment(&r, U, &a, "OSL-create-0001");
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "state"), "CREATED");
    assert_int_equal((long)jnum(r.json, "amount.value"), 14900);
    assert_string_equal(jstr(r.json, "amount.currency"), "NOK");
    assert_int_equal((long)jnum(r.json, "aggregate.authorizedAmount.value"), 0);
    assert_int_equal((long)jnum(r.json, "aggregate.capturedAmount.value"), 0);
    assert_int_equal((long)jnum(r.json, "aggregate.refundedAmount.value"), 0);
    assert_int_equal((long)jnum(r.json, "aggregate.cancelledAmount.value"), 0);
    assert_string_equal(jstr(r.json, "paymentMethod.type"), "WALLET");
    assert_string_equal(jstr(r.json, "redirectUrl"), tcopy);
    assert_non_null(jstr(r.json, "pspReference"));
    resp_free(&r);

    /* events: one CREATED event carrying the idempotency key (doc §3.4) */
    call(&r, U, &a, "GET", "/epayment/v1/payments/OSL-create-0001/events", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(cJSON_GetArraySize(r.json), 1);
    const cJSON *e = cJSON_GetArrayItem(r.json, 0);
    assert_string_equal(jstr(e, "name"), "CREATED");
    assert_string_equal(jstr(e, "idempotencyKey"), "OSL-create-0001-c1");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(e, "success")));
    resp_free(&r);

    /* PUSH_MESSAGE without a customer -> 400; QR size out of range -> 400 */
    b = create_body("OSL-create-0002", 14900, "PUSH_MESSAGE", NULL);
    call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-create-0002-c1", b);
    free(b);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.hdrs, "application/problem+json"));
    resp_free(&r);
    /* bad reference (doc: ^[a-zA-Z0-9-]{8,50}$) */
    b = create_body("short", 14900, "QR", NULL);
    call(&r, U, &a, "POST", "/epayment/v1/payments", "short-c1", b);
    free(b);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    /* missing Idempotency-Key -> 400 */
    b = create_body("OSL-create-0003", 14900, "QR", NULL);
    call(&r, U, &a, "POST", "/epayment/v1/payments", NULL, b);
    free(b);
    assert_int_equal(r.status, 400);
    resp_free(&r);
}

/* Decode a PNG into 8-bit gray and scan it with zbar; returns the text. */
static char *scan_png(const unsigned char *data, size_t len, int *w_out)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, data, len)) return NULL;
    img.format = PNG_FORMAT_GRAY;
    unsigned char *px = malloc(PNG_IMAGE_SIZE(img));
    if (!px || !png_image_finish_read(&img, NULL, px, 0, NULL)) { free(px); png_image_free(&img); return NULL; }
    *w_out = (int)img.width;
    zbar_image_scanner_t *sc = zbar_image_scanner_create();
    zbar_image_scanner_set_config(sc, ZBAR_NONE, ZBAR_CFG_ENABLE, 0);
    zbar_image_scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
    zbar_image_t *zi = zbar_image_create();
    zbar_image_set_format(zi, zbar_fourcc('Y', '8', '0', '0'));
    zbar_image_set_size(zi, img.width, img.height);
    zbar_image_set_data(zi, px, (unsigned long)img.width * img.height, NULL);
    char *out = NULL;
    if (zbar_scan_image(sc, zi) > 0) {
        const zbar_symbol_t *sym = zbar_image_first_symbol(zi);
        if (sym) out = strdup(zbar_symbol_get_data(sym));
    }
    zbar_image_destroy(zi);
    zbar_image_scanner_destroy(sc);
    free(px);
    return out;
}

/* doc §3.2 qrFormat IMAGE/PNG with size; §5.2 QR API one-time QR. */
static void test_sim__qr_images(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    api a;
    login(&a, U, "oslo", NULL);
    char *b = create_body("OSL-qrpng-0001", 14900, "QR", "\"qrFormat\":{\"format\":\"IMAGE/PNG\",\"size\":400}");
    resp r;
    call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-qrpng-0001-c1", b);
    free(b);
    assert_int_equal(r.status, 201);
    char img[512];
    snprintf(img, sizeof img, "%s", jstr(r.json, "redirectUrl"));
    resp_free(&r);
    /* the image needs no authentication (doc §5.1) */
    assert_true(!strncmp(img, U, strlen(U)));
    http(&r, U, "GET", img + strlen(U), NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.hdrs, "image/png"));
    int w = 0;
    char *text = scan_png((unsigned char *)r.body, r.len, &w);
    assert_int_equal(w, 400);
    assert_non_null(text);
    assert_true(!strncmp(text, "https://qr.vipps.no/", 20));
    free(text);
    resp_free(&r);

    /* eCom initiate, then the QR API with Accept text/targetUrl and image/png */
    char body[1024];
    snprintf(body, sizeof body,
             "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\",\"callbackPrefix\":\"https://example.no/cb\","
             "\"fallBack\":\"https://example.no\"},\"customerInfo\":{},"
             "\"transaction\":{\"orderId\":\"OSL-qrapi-0001\",\"amount\":14900,\"transactionText\":\"Kaffe\","
             "\"skipLandingPage\":false}}");
    call(&r, U, &a, "POST", "/ecomm/v2/payments", NULL, body);
    assert_int_equal(r.status, 200);
    char landing[512];
    snprintf(landing, sizeof landing, "{\"url\":\"%s\"}", jstr(r.json, "url"));
    resp_free(&r);
    callh(&r, U, &a, "POST", "/qr/v1/", "Accept: text/targetUrl", landing);
    assert_int_equal(r.status, 200);
    assert_true(!strncmp(jstr(r.json, "url"), "https://qr.vipps.no/", 20));
    assert_true(jnum(r.json, "expiresIn") > 0 && jnum(r.json, "expiresIn") <= 300);
    resp_free(&r);
    const char *h[] = { a.auth, a.sub, a.msn, "Accept: image/png", "Size: 300", NULL };
    http(&r, U, "POST", "/qr/v1/", h, landing);
    assert_int_equal(r.status, 200);
    snprintf(img, sizeof img, "%s", jstr(r.json, "url"));
    resp_free(&r);
    http(&r, U, "GET", img + strlen(U), NULL, NULL);
    assert_int_equal(r.status, 200);
    text = scan_png((unsigned char *)r.body, r.len, &w);
    assert_int_equal(w, 300);
    assert_non_null(text);
    free(text);
    resp_free(&r);
    /* unsupported Accept -> 415, bad url -> 400 */
    callh(&r, U, &a, "POST", "/qr/v1/", "Accept: text/plain", landing);
    assert_int_equal(r.status, 415);
    resp_free(&r);
    callh(&r, U, &a, "POST", "/qr/v1/", "Accept: text/targetUrl", "{\"url\":\"https://example.no/x\"}");
    assert_int_equal(r.status, 400);
    resp_free(&r);
}

/* doc §2.2: same key + same body replays; same key + other body -> 409;
 * an existing reference with a new key -> 4150. */
static void test_sim__idempotency(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    api a;
    login(&a, U, "oslo", NULL);
    char *b = create_body("OSL-idem-0001", 14900, "QR", NULL);
    resp r1, r2;
    call(&r1, U, &a, "POST", "/epayment/v1/payments", "OSL-idem-0001-k", b);
    assert_int_equal(r1.status, 201);
    call(&r2, U, &a, "POST", "/epayment/v1/payments", "OSL-idem-0001-k", b);
    assert_int_equal(r2.status, 201);
    assert_int_equal(r1.len, r2.len);
    assert_memory_equal(r1.body, r2.body, r1.len);
    resp_free(&r1);
    resp_free(&r2);
    /* same body, keys reordered and spaced: still the same JSON */
    char *b2 = create_body("OSL-idem-0001", 14901, "QR", NULL);
    call(&r1, U, &a, "POST", "/epayment/v1/payments", "OSL-idem-0001-k", b2);
    assert_int_equal(r1.status, 409);
    assert_non_null(errcode(&r1));
    assert_string_equal(errcode(&r1), "4020");
    assert_non_null(jstr(r1.json, "traceId"));
    resp_free(&r1);
    free(b2);
    call(&r1, U, &a, "POST", "/epayment/v1/payments", "OSL-idem-0001-k2", b);
    assert_int_equal(r1.status, 409);
    assert_string_equal(errcode(&r1), "4150");
    resp_free(&r1);
    free(b);

    /* capture: replay gives the same answer and moves money once */
    approve(&r1, U, &a, "OSL-idem-0001");
    assert_int_equal(r1.status, 200);
    resp_free(&r1);
    modify(&r1, U, &a, "OSL-idem-0001", "capture", "OSL-idem-0001-cap1", 4000);
    assert_int_equal(r1.status, 200);
    modify(&r2, U, &a, "OSL-idem-0001", "capture", "OSL-idem-0001-cap1", 4000);
    assert_int_equal(r2.status, 200);
    assert_string_equal(r1.body, r2.body);
    assert_int_equal((long)jnum(r2.json, "aggregate.capturedAmount.value"), 4000);
    resp_free(&r1);
    resp_free(&r2);
    modify(&r1, U, &a, "OSL-idem-0001", "capture", "OSL-idem-0001-cap1", 5000);
    assert_int_equal(r1.status, 409);
    assert_string_equal(errcode(&r1), "4010");
    resp_free(&r1);
    /* a rejected request keeps its 4xx under the same key (doc §2.2) */
    modify(&r1, U, &a, "OSL-idem-0001", "refund", "OSL-idem-0001-ref1", 999999);
    assert_int_equal(r1.status, 400);
    assert_string_equal(errcode(&r1), "6150");
    resp_free(&r1);
    modify(&r1, U, &a, "OSL-idem-0001", "refund", "OSL-idem-0001-ref1", 999999);
    assert_int_equal(r1.status, 400);
    resp_free(&r1);
    get_payment(&r1, U, &a, "OSL-idem-0001");
    assert_int_equal((long)jnum(r1.json, "aggregate.capturedAmount.value"), 4000);
    assert_int_equal((long)jnum(r1.json, "aggregate.refundedAmount.value"), 0);
    resp_free(&r1);
}

/* doc §3.3-§3.5: states and aggregate through approve/capture/refund/cancel. */
static void test_sim__lifecycle_and_aggregate(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    api a;
    login(&a, U, "bergen", NULL);
    create(U, &a, "BGO-life-0001", 10000, 201);
    resp r;
    /* capture before reservation -> 6080 */
    modify(&r, U, &a, "BGO-life-0001", "capture", "BGO-life-0001-cap0", 1000);
    assert_int_equal(r.status, 400);
    assert_string_equal(errcode(&r), "6080");
    resp_free(&r);
    approve(&r, U, &a, "BGO-life-0001");
    assert_int_equal(r.status, 200);
    resp_free(&r);
    expect_state(U, &a, "BGO-life-0001", "AUTHORIZED");
    modify(&r, U, &a, "BGO-life-0001", "capture", "BGO-life-0001-cap1", 6000);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "state"), "AUTHORIZED");
    assert_int_equal((long)jnum(r.json, "aggregate.authorizedAmount.value"), 10000);
    assert_int_equal((long)jnum(r.json, "aggregate.capturedAmount.value"), 6000);
    resp_free(&r);
    modify(&r, U, &a, "BGO-life-0001", "capture", "BGO-life-0001-cap2", 5000);
    assert_int_equal(r.status, 400);
    assert_string_equal(errcode(&r), "6090"); /* capture amount too high */
    resp_free(&r);
    modify(&r, U, &a, "BGO-life-0001", "refund", "BGO-life-0001-ref1", 2500);
    assert_int_equal(r.status, 200);
    assert_int_equal((long)jnum(r.json, "aggregate.refundedAmount.value"), 2500);
    resp_free(&r);
    modify(&r, U, &a, "BGO-life-0001", "refund", "BGO-life-0001-ref2", 4000);
    assert_int_equal(r.status, 400);
    assert_string_equal(errcode(&r), "6150"); /* not enough refundable */
    resp_free(&r);
    /* cancelTransactionOnly on an authorized payment -> 6060 */
    call(&r, U, &a, "POST", "/epayment/v1/payments/BGO-life-0001/cancel", "BGO-life-0001-can1",
         "{\"cancelTransactionOnly\":true}");
    assert_int_equal(r.status, 400);
    assert_string_equal(errcode(&r), "6060");
    resp_free(&r);
    /* a full cancel releases the uncaptured rest; state stays AUTHORIZED */
    call(&r, U, &a, "POST", "/epayment/v1/payments/BGO-life-0001/cancel", "BGO-life-0001-can2", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "state"), "AUTHORIZED");
    assert_int_equal((long)jnum(r.json, "aggregate.cancelledAmount.value"), 4000);
    resp_free(&r);
    modify(&r, U, &a, "BGO-life-0001", "capture", "BGO-life-0001-cap3", 100);
    assert_int_equal(r.status, 400);
    assert_string_equal(errcode(&r), "6070"); /* cannot capture a cancelled payment */
    resp_free(&r);
    call(&r, U, &a, "GET", "/epayment/v1/payments/BGO-life-0001/events", NULL, NULL);
    assert_int_equal(r.status, 200);
    const char *want[] = { "CREATED", "AUTHORIZED", "CAPTURED", "REFUNDED", "CANCELLED" };
    assert_int_equal(cJSON_GetArraySize(r.json), 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(jstr(cJSON_GetArrayItem(r.json, i), "name"), want[i]);
    resp_free(&r);

    /* cancel before authorization -> TERMINATED, cancelledAmount = amount */
    create(U, &a, "BGO-life-0002", 5000, 201);
    call(&r, U, &a, "POST", "/epayment/v1/payments/BGO-life-0002/cancel", "BGO-life-0002-can1",
         "{\"cancelTransactionOnly\":true}");
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "state"), "TERMINATED");
    assert_int_equal((long)jnum(r.json, "aggregate.cancelledAmount.value"), 5000);
    resp_free(&r);
    approve(&r, U, &a, "BGO-life-0002");
    assert_int_equal(r.status, 400); /* nothing left to approve */
    resp_free(&r);
    /* the full capture then cancel -> 6040 */
    create(U, &a, "BGO-life-0003", 5000, 201);
    approve(&r, U, &a, "BGO-life-0003");
    resp_free(&r);
    modify(&r, U, &a, "BGO-life-0003", "capture", "BGO-life-0003-cap1", 5000);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    call(&r, U, &a, "POST", "/epayment/v1/payments/BGO-life-0003/cancel", "BGO-life-0003-can1", NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(errcode(&r), "6040");
    resp_free(&r);
    /* references are per MSN: oslo does not see bergen's payment */
    api o;
    login(&o, U, "oslo", NULL);
    get_payment(&r, U, &o, "BGO-life-0003");
    assert_int_equal(r.status, 404);
    resp_free(&r);
    /* partner keys with bergen's MSN do (doc §2.3) */
    api p;
    login(&p, U, "nordkaffe-partner", "234567");
    get_payment(&r, U, &p, "BGO-life-0003");
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

/* doc §10 magic amounts (minor units): 151 insufficient funds, 182 refused,
 * 201 unknown for an hour (shortened here), refund 123 / 124. */
static void test_sim__magic_amounts(void **state)
{
    (void)state;
    simproc s;
    const char *extra[] = { "--unknown-after", "1", NULL };
    assert_int_equal(sim_start(&s, extra), 0);
    api a;
    login(&a, s.url, "oslo", NULL);
    resp r;
    long declined[] = { 151, 182 };
    for (int i = 0; i < 2; i++) {
        char ref[32];
        snprintf(ref, sizeof ref, "OSL-magic-%ld", declined[i]);
        create(s.url, &a, ref, declined[i], 201);
        approve(&r, s.url, &a, ref);
        assert_int_equal(r.status, 400);
        resp_free(&r);
        expect_state(s.url, &a, ref, "ABORTED");
        char p[96];
        snprintf(p, sizeof p, "/epayment/v1/payments/%s/events", ref);
        call(&r, s.url, &a, "GET", p, NULL, NULL);
        const cJSON *e = cJSON_GetArrayItem(r.json, 1);
        assert_string_equal(jstr(e, "name"), "AUTHORIZED");
        assert_true(cJSON_IsFalse(cJSON_GetObjectItem(e, "success")));
        resp_free(&r);
    }
    create(s.url, &a, "OSL-magic-201", 201, 201);
    approve(&r, s.url, &a, "OSL-magic-201");
    assert_int_equal(r.status, 200);
    resp_free(&r);
    expect_state(s.url, &a, "OSL-magic-201", "CREATED"); /* unknown: still pending */
    /* the customer is "processing": cancel -> 6250 (doc §3.5) */
    call(&r, s.url, &a, "POST", "/epayment/v1/payments/OSL-magic-201/cancel", "OSL-magic-201-can", NULL);
    assert_int_equal(r.status, 400);
    assert_string_equal(errcode(&r), "6250");
    resp_free(&r);
    sleep_ms(1300);
    expect_state(s.url, &a, "OSL-magic-201", "EXPIRED");

    create(s.url, &a, "OSL-magic-refund", 10000, 201);
    approve(&r, s.url, &a, "OSL-magic-refund");
    resp_free(&r);
    modify(&r, s.url, &a, "OSL-magic-refund", "capture", "OSL-magic-refund-cap", 10000);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    modify(&r, s.url, &a, "OSL-magic-refund", "refund", "OSL-magic-refund-123", 123);
    assert_int_equal(r.status, 400);
    assert_non_null(errcode(&r));
    resp_free(&r);
    modify(&r, s.url, &a, "OSL-magic-refund", "refund", "OSL-magic-refund-124", 124);
    assert_int_equal(r.status, 400);
    assert_string_equal(errcode(&r), "6220"); /* refund period expired */
    resp_free(&r);
    get_payment(&r, s.url, &a, "OSL-magic-refund");
    assert_int_equal((long)jnum(r.json, "aggregate.refundedAmount.value"), 0);
    resp_free(&r);
    sim_stop(&s);
}

/* doc §3.7 7010 (ePayment) and §4.5 81 (eCom): not a Vipps user. */
static void test_sim__unknown_phone(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    api a;
    login(&a, U, "oslo", NULL);
    char *b = create_body("OSL-phone-0001", 14900, "PUSH_MESSAGE", "\"customer\":{\"phoneNumber\":\"4799999999\"}");
    resp r;
    call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-phone-0001-c", b);
    free(b);
    assert_int_equal(r.status, 400);
    assert_string_equal(errcode(&r), "7010");
    resp_free(&r);
    b = create_body("OSL-phone-0002", 14900, "PUSH_MESSAGE", "\"customer\":{\"phoneNumber\":\"+47 912\"}");
    call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-phone-0002-c", b);
    free(b);
    assert_int_equal(r.status, 400);
    assert_string_equal(errcode(&r), "4070"); /* invalid format */
    resp_free(&r);
    b = create_body("OSL-phone-0003", 14900, "PUSH_MESSAGE", "\"customer\":{\"phoneNumber\":\"4791234567\"}");
    call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-phone-0003-c", b);
    free(b);
    assert_int_equal(r.status, 201);
    assert_null(jstr(r.json, "redirectUrl")); /* no redirectUrl for PUSH_MESSAGE */
    resp_free(&r);
    call(&r, U, &a, "POST", "/ecomm/v2/payments", NULL,
         "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\",\"callbackPrefix\":\"https://example.no/cb\","
         "\"fallBack\":\"https://example.no\"},\"customerInfo\":{\"mobileNumber\":\"99999999\"},"
         "\"transaction\":{\"orderId\":\"OSL-phone-0004\",\"amount\":14900,\"transactionText\":\"Kaffe\"}}");
    assert_int_equal(r.status, 400);
    assert_string_equal(ecom_code(&r), "81");
    assert_string_equal(jstr(cJSON_GetArrayItem(r.json, 0), "errorGroup"), "User");
    resp_free(&r);
}

/* doc §2.6: payments expire (10 min by default; 1 s here). */
static void test_sim__expiry(void **state)
{
    (void)state;
    simproc s;
    const char *extra[] = { "--expire-after", "1", NULL };
    assert_int_equal(sim_start(&s, extra), 0);
    api a;
    login(&a, s.url, "oslo", NULL);
    create(s.url, &a, "OSL-expire-0001", 14900, 201);
    expect_state(s.url, &a, "OSL-expire-0001", "CREATED");
    sleep_ms(1400);
    expect_state(s.url, &a, "OSL-expire-0001", "EXPIRED");
    resp r;
    approve(&r, s.url, &a, "OSL-expire-0001");
    assert_int_equal(r.status, 400);
    resp_free(&r);
    call(&r, s.url, &a, "GET", "/epayment/v1/payments/OSL-expire-0001/events", NULL, NULL);
    assert_string_equal(jstr(cJSON_GetArrayItem(r.json, 1), "name"), "EXPIRED");
    resp_free(&r);
    sim_stop(&s);
}

/* doc §2.4: 120 GETs per minute per reference (5 here) -> 429 + Retry-After;
 * 5 modifications per minute per reference and operation. */
static void test_sim__rate_limit(void **state)
{
    (void)state;
    simproc s;
    const char *extra[] = { "--rate-get", "5", "--rate-mod", "3", NULL };
    assert_int_equal(sim_start(&s, extra), 0);
    api a;
    login(&a, s.url, "oslo", NULL);
    create(s.url, &a, "OSL-rate-0001", 14900, 201);
    resp r;
    for (int i = 0; i < 5; i++) {
        get_payment(&r, s.url, &a, "OSL-rate-0001");
        assert_int_equal(r.status, 200);
        resp_free(&r);
    }
    get_payment(&r, s.url, &a, "OSL-rate-0001");
    assert_int_equal(r.status, 429);
    assert_non_null(strcasestr(r.hdrs, "Retry-After:"));
    resp_free(&r);
    /* another reference has its own budget */
    create(s.url, &a, "OSL-rate-0002", 14900, 201);
    get_payment(&r, s.url, &a, "OSL-rate-0002");
    assert_int_equal(r.status, 200);
    resp_free(&r);
    approve(&r, s.url, &a, "OSL-rate-0002");
    resp_free(&r);
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "rate-cap-%d", i);
        modify(&r, s.url, &a, "OSL-rate-0002", "capture", key, 100);
        assert_int_equal(r.status, 200);
        resp_free(&r);
    }
    modify(&r, s.url, &a, "OSL-rate-0002", "capture", "rate-cap-9", 100);
    assert_int_equal(r.status, 429);
    resp_free(&r);
    sim_stop(&s);
}

/* ------------------------------------------------------------------ */
/* a real HTTP receiver for webhooks and callbacks                     */

#define MAXREC 64
typedef struct {
    char path[256];
    char host[128];
    char date[64];
    char hash[128];
    char auth[512];
    char *body;
} received;

typedef struct {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    received rec[MAXREC];
    int n;
    int fail_first;  /* answer 500 to this many requests first */
    int seen;
} receiver;

struct rctx { char *buf; size_t len; };

static enum MHD_Result rec_handler(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *up,
                                   size_t *upsz, void **con)
{
    (void)method; (void)version;
    receiver *rv = cls;
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
    else if (rv->n < MAXREC) {
        received *r = &rv->rec[rv->n++];
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

static void receiver_start(receiver *rv, int fail_first)
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

static void receiver_stop(receiver *rv)
{
    MHD_stop_daemon(rv->d);
    for (int i = 0; i < rv->n; i++) free(rv->rec[i].body);
    pthread_mutex_destroy(&rv->mu);
}

static int receiver_wait(receiver *rv, int n, int timeout_ms)
{
    for (int t = 0; t < timeout_ms; t += 20) {
        pthread_mutex_lock(&rv->mu);
        int have = rv->n;
        pthread_mutex_unlock(&rv->mu);
        if (have >= n) return have;
        sleep_ms(20);
    }
    pthread_mutex_lock(&rv->mu);
    int have = rv->n;
    pthread_mutex_unlock(&rv->mu);
    return have;
}

static char *b64(const unsigned char *d, size_t n)
{
    char *o = malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)o, d, (int)n);
    return o;
}

/* The verification scheme of doc §7.3, written independently of the
 * simulator: contentHash, stringToSign, HMAC-SHA256, expected header. */
static void expected_signature(const char *secret, const char *path_query, const char *host,
                               const char *date, const char *body, char hash_out[64],
                               char sig_out[64])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)body, strlen(body), md);
    char *h = b64(md, sizeof md);
    snprintf(hash_out, 64, "%s", h);
    char sts[1024];
    snprintf(sts, sizeof sts, "POST\n%s\n%s;%s;%s", path_query, date, host, h);
    free(h);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)sts, strlen(sts), mac, &ml);
    char *s = b64(mac, ml);
    snprintf(sig_out, 64, "%s", s);
    free(s);
}

/* The doc's test vector checks the verifier used below (doc §7.3). */
static void test_sim__hmac_doc_vector(void **state)
{
    (void)state;
    char hash[64], sig[64];
    expected_signature("A0+AeKBRG2KRGvnNwJpQlb6IJFk48CKXCIcrLoHncVJKDILsQSxS6NWCccwWm6r6FhGKhiHTBsG2wo/xU6FY/A==",
                       "/e2cee29b-012e-4f1d-8ef4-e95fd74a7a63", "webhook.site",
                       "Thu, 30 Mar 2023 08:38:32 GMT",
                       "{\"some-unique-content\":\"ee6e441b-cc4a-46f8-895d-a5af79bcc233/hello-world\"}",
                       hash, sig);
    assert_string_equal(hash, "lNlsp1XA03N34HrQsVzPgJKtC+r7l/RBF4V3JQUWMj4=");
    assert_string_equal(sig, "agAiSyogQbDHpeucoNwYz+yAr5nJ+v+zasdkSbqzv+U=");
}

/* doc §7: register, list, delete; deliveries signed per §7.3, retried on
 * failure (§7.4), payload shape of §7.2. */
static void test_sim__webhooks(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    receiver rv;
    receiver_start(&rv, 2); /* the first two deliveries fail -> retried */
    api a;
    login(&a, U, "oslo", NULL);
    char body[512], hookurl[256];
    snprintf(hookurl, sizeof hookurl, "http://127.0.0.1:%d/hooks/vipps?store=oslo", rv.port);
    snprintf(body, sizeof body,
             "{\"url\":\"%s\",\"events\":[\"epayments.payment.created.v1\",\"epayments.payment.authorized.v1\","
             "\"epayments.payment.captured.v1\"]}", hookurl);
    resp r;
    call(&r, U, &a, "POST", "/webhooks/v1/webhooks", NULL, body);
    assert_int_equal(r.status, 201);
    char id[64], secret[256];
    snprintf(id, sizeof id, "%s", jstr(r.json, "id"));
    snprintf(secret, sizeof secret, "%s", jstr(r.json, "secret"));
    resp_free(&r);
    call(&r, U, &a, "GET", "/webhooks/v1/webhooks", NULL, NULL);
    assert_int_equal(r.status, 200);
    const cJSON *w = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "webhooks"), 0);
    assert_non_null(w);
    assert_string_equal(jstr(w, "id"), id);
    assert_string_equal(jstr(w, "url"), hookurl);
    resp_free(&r);
    /* unknown event name -> 400 */
    call(&r, U, &a, "POST", "/webhooks/v1/webhooks", NULL, "{\"url\":\"https://example.no\",\"events\":[\"nope\"]}");
    assert_int_equal(r.status, 400);
    resp_free(&r);

    create(U, &a, "OSL-hook-0001", 14900, 201);
    approve(&r, U, &a, "OSL-hook-0001");
    resp_free(&r);
    modify(&r, U, &a, "OSL-hook-0001", "capture", "OSL-hook-0001-cap", 14900);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(receiver_wait(&rv, 3, 8000), 3);
    const char *names[] = { "CREATED", "AUTHORIZED", "CAPTURED" };
    char hostport[64];
    snprintf(hostport, sizeof hostport, "127.0.0.1:%d", rv.port);
    pthread_mutex_lock(&rv.mu);
    assert_int_equal(rv.seen, 5); /* 2 failed attempts + 3 deliveries */
    for (int i = 0; i < 3; i++) {
        received *x = &rv.rec[i];
        assert_string_equal(x->host, hostport);
        char hash[64], sig[64], want[200];
        expected_signature(secret, "/hooks/vipps?store=oslo", hostport, x->date, x->body, hash, sig);
        assert_string_equal(x->hash, hash);
        snprintf(want, sizeof want, "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=%s", sig);
        assert_string_equal(x->auth, want);
        /* x-ms-date is RFC 1123 GMT */
        assert_non_null(strstr(x->date, " GMT"));
        cJSON *j = cJSON_Parse(x->body);
        assert_non_null(j);
        assert_string_equal(jstr(j, "msn"), "123456");
        assert_string_equal(jstr(j, "reference"), "OSL-hook-0001");
        assert_string_equal(jstr(j, "name"), names[i]); /* order kept per payment */
        assert_non_null(jstr(j, "pspReference"));
        assert_non_null(jstr(j, "timestamp"));
        assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "success")));
        assert_int_equal((long)jnum(j, "amount.value"), 14900);
        cJSON_Delete(j);
    }
    pthread_mutex_unlock(&rv.mu);
    /* the delivery log: the first event took 3 attempts (2 x 500, then 200) */
    http(&r, U, "GET", "/sim/v1/webhooks/deliveries", NULL, NULL);
    assert_int_equal(r.status, 200);
    int seen_hook = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, r.json) {
        if (strcmp(jstr(d, "reference"), "OSL-hook-0001")) continue;
        assert_string_equal(jstr(d, "result"), "delivered");
        assert_string_equal(jstr(d, "kind"), "webhook");
        assert_int_equal((long)jnum(d, "attempts"), seen_hook == 0 ? 3 : 1);
        seen_hook++;
    }
    assert_int_equal(seen_hook, 3);
    resp_free(&r);
    /* delete -> 204, list is empty, no more deliveries */
    char p[128];
    snprintf(p, sizeof p, "/webhooks/v1/webhooks/%s", id);
    call(&r, U, &a, "DELETE", p, NULL, NULL);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    call(&r, U, &a, "DELETE", p, NULL, NULL);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    call(&r, U, &a, "GET", "/webhooks/v1/webhooks", NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "webhooks")), 0);
    resp_free(&r);
    receiver_stop(&rv);
}

/* doc §4 and §8: eCom initiate, approve, callback (Authorization =
 * authToken, path callbackPrefix/v2/payments/{orderId}), details newest
 * first, capture with X-Request-Id, cancel (PUT), refund. */
static void test_sim__ecom(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    receiver rv;
    receiver_start(&rv, 0);
    api a;
    login(&a, U, "oslo", NULL);
    char body[1024];
    snprintf(body, sizeof body,
             "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\",\"callbackPrefix\":\"http://127.0.0.1:%d/vipps\","
             "\"fallBack\":\"https://example.no\",\"authToken\":\"cb-secret-42\"},\"customerInfo\":{},"
             "\"transaction\":{\"orderId\":\"OSL-ecom-0001\",\"amount\":20000,\"transactionText\":\"Kaffe\","
             "\"skipLandingPage\":false}}", rv.port);
    resp r;
    call(&r, U, &a, "POST", "/ecomm/v2/payments", NULL, body);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "orderId"), "OSL-ecom-0001");
    assert_non_null(jstr(r.json, "url"));
    char landing[512];
    snprintf(landing, sizeof landing, "%s", jstr(r.json, "url"));
    resp_free(&r);
    /* the landing page (no authentication) names the order */
    assert_true(!strncmp(landing, U, strlen(U)));
    http(&r, U, "GET", landing + strlen(U), NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.hdrs, "text/html"));
    assert_non_null(strstr(r.body, "OSL-ecom-0001"));
    resp_free(&r);
    /* initiate is not idempotent: the same orderId again -> 34 */
    call(&r, U, &a, "POST", "/ecomm/v2/payments", NULL, body);
    assert_int_equal(r.status, 400);
    assert_string_equal(ecom_code(&r), "34");
    resp_free(&r);
    call(&r, U, &a, "GET", "/ecomm/v2/payments/OSL-ecom-0001/details", NULL, NULL);
    assert_int_equal(r.status, 200);
    const cJSON *h = cJSON_GetObjectItem(r.json, "transactionLogHistory");
    assert_string_equal(jstr(cJSON_GetArrayItem(h, 0), "operation"), "INITIATE");
    resp_free(&r);
    /* capture before reserve -> 62 */
    callh(&r, U, &a, "POST", "/ecomm/v2/payments/OSL-ecom-0001/capture", "X-Request-Id: cap-0",
          "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\"},\"transaction\":{\"amount\":5000,\"transactionText\":\"x\"}}");
    assert_int_equal(r.status, 400);
    assert_string_equal(ecom_code(&r), "62");
    resp_free(&r);
    call(&r, U, &a, "POST", "/ecomm/v2/integration-test/payments/OSL-ecom-0001/approve", NULL,
         "{\"customerPhoneNumber\":\"91234567\"}");
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(receiver_wait(&rv, 1, 5000), 1);
    pthread_mutex_lock(&rv.mu);
    assert_string_equal(rv.rec[0].path, "/vipps/v2/payments/OSL-ecom-0001");
    assert_string_equal(rv.rec[0].auth, "cb-secret-42");
    cJSON *cb = cJSON_Parse(rv.rec[0].body);
    pthread_mutex_unlock(&rv.mu);
    assert_string_equal(jstr(cb, "merchantSerialNumber"), "123456");
    assert_string_equal(jstr(cb, "orderId"), "OSL-ecom-0001");
    assert_string_equal(jstr(cb, "transactionInfo.status"), "RESERVED");
    assert_int_equal((long)jnum(cb, "transactionInfo.amount"), 20000);
    cJSON_Delete(cb);
    /* capture needs X-Request-Id */
    call(&r, U, &a, "POST", "/ecomm/v2/payments/OSL-ecom-0001/capture", NULL,
         "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\"},\"transaction\":{\"amount\":5000,\"transactionText\":\"x\"}}");
    assert_int_equal(r.status, 400);
    resp_free(&r);
    const char *capbody = "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\"},"
                          "\"transaction\":{\"amount\":5000,\"transactionText\":\"Kaffe\"}}";
    resp r2;
    callh(&r, U, &a, "POST", "/ecomm/v2/payments/OSL-ecom-0001/capture", "X-Request-Id: cap-1", capbody);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "transactionInfo.status"), "Captured");
    assert_int_equal((long)jnum(r.json, "transactionSummary.capturedAmount"), 5000);
    assert_int_equal((long)jnum(r.json, "transactionSummary.remainingAmountToCapture"), 15000);
    callh(&r2, U, &a, "POST", "/ecomm/v2/payments/OSL-ecom-0001/capture", "X-Request-Id: cap-1", capbody);
    assert_int_equal(r2.status, 200);
    assert_string_equal(r.body, r2.body); /* replay */
    resp_free(&r);
    resp_free(&r2);
    /* capture is POST; PUT is refused */
    callh(&r, U, &a, "PUT", "/ecomm/v2/payments/OSL-ecom-0001/capture", "X-Request-Id: cap-2", capbody);
    assert_int_equal(r.status, 405);
    resp_free(&r);
    /* refund more than captured -> 71; a partial refund */
    callh(&r, U, &a, "POST", "/ecomm/v2/payments/OSL-ecom-0001/refund", "X-Request-Id: ref-1",
          "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\"},\"transaction\":{\"amount\":9000,\"transactionText\":\"Retur\"}}");
    assert_int_equal(r.status, 400);
    assert_string_equal(ecom_code(&r), "71");
    resp_free(&r);
    callh(&r, U, &a, "POST", "/ecomm/v2/payments/OSL-ecom-0001/refund", "X-Request-Id: ref-2",
          "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\"},\"transaction\":{\"amount\":2000,\"transactionText\":\"Retur\"}}");
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "transaction.status"), "Refund");
    assert_int_equal((long)jnum(r.json, "transactionSummary.refundedAmount"), 2000);
    resp_free(&r);
    /* cancel after partial capture needs shouldReleaseRemainingFunds */
    call(&r, U, &a, "PUT", "/ecomm/v2/payments/OSL-ecom-0001/cancel", NULL,
         "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\"},\"transaction\":{\"transactionText\":\"x\"}}");
    assert_int_equal(r.status, 400);
    assert_string_equal(ecom_code(&r), "51");
    resp_free(&r);
    call(&r, U, &a, "PUT", "/ecomm/v2/payments/OSL-ecom-0001/cancel", NULL,
         "{\"merchantInfo\":{\"merchantSerialNumber\":\"123456\"},\"transaction\":{\"transactionText\":\"x\"},"
         "\"shouldReleaseRemainingFunds\":true}");
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "transactionInfo.status"), "Cancelled");
    resp_free(&r);
    call(&r, U, &a, "GET", "/ecomm/v2/payments/OSL-ecom-0001/details", NULL, NULL);
    h = cJSON_GetObjectItem(r.json, "transactionLogHistory");
    const char *ops[] = { "VOID", "REFUND", "CAPTURE", "RESERVE", "INITIATE" }; /* newest first */
    assert_int_equal(cJSON_GetArraySize(h), 5);
    for (int i = 0; i < 5; i++) assert_string_equal(jstr(cJSON_GetArrayItem(h, i), "operation"), ops[i]);
    assert_string_equal(jstr(cJSON_GetArrayItem(h, 2), "requestId"), "cap-1");
    resp_free(&r);
    /* integer MSN in the body -> 500 / 99 like the real service (doc §2.1) */
    call(&r, U, &a, "POST", "/ecomm/v2/payments", NULL,
         "{\"merchantInfo\":{\"merchantSerialNumber\":123456,\"callbackPrefix\":\"https://e.no\",\"fallBack\":\"https://e.no\"},"
         "\"customerInfo\":{},\"transaction\":{\"orderId\":\"OSL-ecom-0002\",\"amount\":20000,\"transactionText\":\"K\"}}");
    assert_int_equal(r.status, 500);
    assert_string_equal(ecom_code(&r), "99");
    resp_free(&r);
    receiver_stop(&rv);
}

/* doc §6: add a receipt (POST, 201), a second one -> 409, read back. */
static void test_sim__order_management(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    api a;
    login(&a, U, "oslo", NULL);
    const char *rc =
        "{\"orderLines\":[{\"name\":\"Kaffe\",\"id\":\"1\",\"totalAmount\":4900,\"totalAmountExcludingTax\":4360,"
        "\"totalTaxAmount\":540,\"taxRate\":1500,\"unitInfo\":{\"unitPrice\":4900,\"quantity\":\"1\"}}],"
        "\"bottomLine\":{\"currency\":\"NOK\",\"posId\":\"till-1\",\"receiptNumber\":\"42\"}}";
    resp r;
    call(&r, U, &a, "POST", "/order-management/v2/ECOM/receipts/OSL-om-0001", NULL, rc);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    call(&r, U, &a, "POST", "/order-management/v2/ECOM/receipts/OSL-om-0001", NULL, rc);
    assert_int_equal(r.status, 409);
    resp_free(&r);
    call(&r, U, &a, "GET", "/order-management/v2/ECOM/OSL-om-0001", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "receipt.bottomLine.receiptNumber"), "42");
    resp_free(&r);
    call(&r, U, &a, "POST", "/order-management/v2/ECOM/receipts/OSL-om-0002", NULL,
         "{\"orderLines\":[],\"bottomLine\":{\"currency\":\"NOK\"}}");
    assert_int_equal(r.status, 400);
    resp_free(&r);
    call(&r, U, &a, "PUT", "/order-management/v2/ECOM/receipts/OSL-om-0003", NULL, rc);
    assert_int_equal(r.status, 405); /* add receipt is POST (doc §6.1) */
    resp_free(&r);
}

/* Scripted faults through /sim/v1/faults and counting through /sim/v1/stats. */
static void test_sim__faults_and_stats(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    api a;
    login(&a, U, "oslo", NULL);
    create(U, &a, "OSL-fault-0001", 14900, 201);
    resp r;
    approve(&r, U, &a, "OSL-fault-0001");
    resp_free(&r);
    http(&r, U, "POST", "/sim/v1/faults", NULL,
         "{\"path\":\"/epayment/v1/payments/OSL-fault-0001/capture\",\"count\":2,\"action\":\"status\","
         "\"status\":503,\"retryAfter\":1}");
    assert_int_equal(r.status, 201);
    resp_free(&r);
    for (int i = 0; i < 2; i++) {
        modify(&r, U, &a, "OSL-fault-0001", "capture", "OSL-fault-0001-cap", 14900);
        assert_int_equal(r.status, 503);
        assert_non_null(strcasestr(r.hdrs, "Retry-After: 1"));
        resp_free(&r);
    }
    modify(&r, U, &a, "OSL-fault-0001", "capture", "OSL-fault-0001-cap", 14900);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    /* a dropped connection */
    http(&r, U, "POST", "/sim/v1/faults", NULL,
         "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/OSL-fault-0001\",\"action\":\"drop\"}");
    resp_free(&r);
    get_payment(&r, U, &a, "OSL-fault-0001");
    assert_int_not_equal(r.curl_err, 0);
    resp_free(&r);
    /* a lost answer: the create happens, the reply is dropped */
    http(&r, U, "POST", "/sim/v1/faults", NULL,
         "{\"path\":\"/epayment/v1/payments\",\"method\":\"POST\",\"action\":\"drop\",\"when\":\"after\"}");
    resp_free(&r);
    char *b = create_body("OSL-fault-0002", 14900, "QR", NULL);
    call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-fault-0002-c", b);
    assert_int_not_equal(r.curl_err, 0);
    resp_free(&r);
    expect_state(U, &a, "OSL-fault-0002", "CREATED");
    call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-fault-0002-c", b); /* the retry replays */
    assert_int_equal(r.status, 201);
    resp_free(&r);
    free(b);
    /* stats: three capture calls with the same key */
    http(&r, U, "GET", "/sim/v1/stats", NULL, NULL);
    assert_int_equal(r.status, 200);
    const cJSON *req = cJSON_GetObjectItem(r.json, "requests");
    assert_int_equal((long)jnum(req, "POST /epayment/v1/payments/OSL-fault-0001/capture"), 3);
    const cJSON *keys = cJSON_GetObjectItem(r.json, "idempotencyKeys"), *k;
    int found = 0;
    cJSON_ArrayForEach(k, keys) {
        if (!strcmp(jstr(k, "key"), "OSL-fault-0001-cap")) {
            found = 1;
            assert_int_equal((long)jnum(k, "count"), 3);
            assert_string_equal(jstr(k, "path"), "/epayment/v1/payments/OSL-fault-0001/capture");
        }
    }
    assert_true(found);
    /* these calls sent only Vipps-System-Name: flagged as missing headers */
    assert_int_equal((long)jnum(cJSON_GetObjectItem(r.json, "missingSystemHeaders"),
                                "POST /epayment/v1/payments/OSL-fault-0001/capture"), 3);
    resp_free(&r);
    http(&r, U, "GET", "/sim/v1/faults", NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(r.json), 0); /* all consumed */
    resp_free(&r);
    /* DELETE resets the counters */
    http(&r, U, "DELETE", "/sim/v1/stats", NULL, NULL);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    http(&r, U, "GET", "/sim/v1/stats", NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "requests")), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "idempotencyKeys")), 0);
    resp_free(&r);
}

/* --auto approve|abort|expire and the forced-state control endpoint. */
static void test_sim__auto_modes(void **state)
{
    (void)state;
    const char *modes[] = { "approve", "abort", "expire" };
    const char *want[] = { "AUTHORIZED", "ABORTED", "EXPIRED" };
    for (int i = 0; i < 3; i++) {
        simproc s;
        const char *extra[] = { "--auto", modes[i], "--approve-after", "0.3", NULL };
        assert_int_equal(sim_start(&s, extra), 0);
        api a;
        login(&a, s.url, "oslo", NULL);
        create(s.url, &a, "OSL-auto-0001", 14900, 201);
        expect_state(s.url, &a, "OSL-auto-0001", "CREATED");
        sleep_ms(700);
        expect_state(s.url, &a, "OSL-auto-0001", want[i]);
        sim_stop(&s);
    }
    const char *U = g_sim.url;
    api a;
    login(&a, U, "oslo", NULL);
    create(U, &a, "OSL-force-0001", 14900, 201);
    resp r;
    http(&r, U, "POST", "/sim/v1/payments/OSL-force-0001/state", NULL, "{\"state\":\"ABORTED\"}");
    assert_int_equal(r.status, 200);
    resp_free(&r);
    expect_state(U, &a, "OSL-force-0001", "ABORTED");
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One outcome letter per request under --fail-rate 1: E = 5xx answer,
 * D = dropped connection, S = slow (>= --slow-ms) but normal answer. */
static void fault_sequence(const char *seed, char *seq, int n)
{
    simproc s;
    const char *extra[] = { "--fail-rate", "1", "--seed", seed, "--slow-ms", "150", NULL };
    assert_int_equal(sim_start(&s, extra), 0);
    for (int i = 0; i < n; i++) {
        resp r;
        double t0 = mono_ms();
        http(&r, s.url, "GET", "/epayment/v1/payments/OSL-fail-0001", NULL, NULL);
        double dt = mono_ms() - t0;
        if (r.curl_err) seq[i] = 'D';
        else if (r.status >= 500) seq[i] = 'E';
        else if (r.status == 401 && dt >= 150) seq[i] = 'S'; /* then answered normally */
        else seq[i] = '?';
        resp_free(&r);
    }
    seq[n] = 0;
    sim_stop(&s);
}

/* --fail-rate injects 5xx, dropped connections and slow replies from the
 * seeded PRNG: the same seed gives the same sequence; --latency-ms delays. */
static void test_sim__fail_rate_and_latency(void **state)
{
    (void)state;
    char a[25], b[25];
    fault_sequence("42", a, 24);
    fault_sequence("42", b, 24);
    assert_string_equal(a, b);
    assert_non_null(strchr(a, 'E'));
    assert_non_null(strchr(a, 'D'));
    assert_non_null(strchr(a, 'S'));
    assert_null(strchr(a, '?'));
    simproc s;
    const char *extra[] = { "--latency-ms", "120", NULL };
    assert_int_equal(sim_start(&s, extra), 0);
    resp r;
    double t0 = mono_ms();
    http(&r, s.url, "GET", "/epayment/v1/payments/OSL-lat-0001", NULL, NULL);
    assert_int_equal(r.status, 401);
    assert_true(mono_ms() - t0 >= 120);
    resp_free(&r);
    /* control endpoints are not delayed */
    t0 = mono_ms();
    http(&r, s.url, "GET", "/sim/v1/stats", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_true(mono_ms() - t0 < 120);
    resp_free(&r);
    sim_stop(&s);
}

/* --write-config: the project's own loader accepts the file, the secrets
 * file is 0600 and every credential set in it works against the simulator. */
static void test_sim__write_config(void **state)
{
    (void)state;
    char *conf = kvt_path("%s/kvitt.conf", kvt_tmpdir());
    char *sec = kvt_path("%s/kvitt.secrets", kvt_tmpdir());
    struct stat st;
    assert_int_equal(stat(sec, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    kv_config *c = NULL;
    char err[512] = "";
    kv_config_status cs = kv_config_load(&c, conf, err, sizeof err);
    if (cs != 0) fail_msg("kv_config_load: %s", err);
    const kv_config_main *m = kv_config_main_get(c);
    assert_string_equal(m->environment, g_sim.url);
    assert_int_equal(kv_config_store_count(c), 2);
    for (size_t i = 0; i < 2; i++) {
        const kv_store *s = kv_config_store_at(c, i);
        const kv_credentials *cr = kv_config_credentials(c, s);
        assert_non_null(cr);
        assert_true(!strncmp(s->printer, "virtual:", 8));
        kv_sim_cred k = { cr->name, cr->client_id, cr->client_secret, cr->subscription_key, s->msn, cr->partner };
        resp r;
        get_token(&r, g_sim.url, &k, s->msn);
        assert_int_equal(r.status, 200);
        resp_free(&r);
    }
    /* the partner set from the secrets file, for bergen's MSN */
    const char *pid = kv_config_get(c, "credentials nordkaffe-partner", "client_id");
    assert_non_null(pid);
    assert_string_equal(kv_config_get(c, "credentials nordkaffe-partner", "partner"), "true");
    resp r;
    get_token(&r, g_sim.url, cred("nordkaffe-partner"), "234567");
    assert_int_equal(r.status, 200);
    resp_free(&r);
    kv_config_free(c);
    free(conf);
    free(sec);
}

/* Bad arguments exit 2 with a message; --help exits 0. */
static void test_sim__cli_args(void **state)
{
    (void)state;
    kvt_result r;
    const char *a1[] = { "kvitt", "sim", "--auto", "sometimes", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 10, a1), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--auto"));
    kvt_result_free(&r);
    const char *a2[] = { "kvitt", "sim", "--listen", "nohostport", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 10, a2), 0);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
    const char *a3[] = { "kvitt", "sim", "--fail-rate", "1.5", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 10, a3), 0);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
    const char *a4[] = { "kvitt", "sim", "--help", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 10, a4), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "--write-config"));
    kvt_result_free(&r);
}

/* doc §5.2/§5.3: merchant-callback QR (create/update, get, list, image,
 * delete), the scan control endpoint's customerToken (15 minutes, single
 * use, bound to the MSN), personal QR codes, the exchange endpoints, and
 * the ePayment create's 4050 / 4060 for a bad one. */
static void test_sim__merchant_callback_qr_and_customer_tokens(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    api a, b;
    login(&a, U, "oslo", NULL);
    login(&b, U, "bergen", NULL);
    resp r;
    callh(&r, U, &a, "PUT", "/qr/v1/merchant-callback/kvitt-till-9", "Content-Type: application/json",
          "{\"locationDescription\":\"Kasse 9\"}");
    assert_int_equal(r.status, 200);
    resp_free(&r);
    callh(&r, U, &a, "PUT", "/qr/v1/merchant-callback/kvitt-till-9", "Content-Type: application/json",
          "{\"locationDescription\":\"This text is far longer than thirty-six characters\"}");
    assert_int_equal(r.status, 400);
    resp_free(&r);
    callh(&r, U, &a, "PUT", "/qr/v1/merchant-callback/bad%20id", "Content-Type: application/json",
          "{\"locationDescription\":\"x\"}");
    assert_int_equal(r.status, 400);
    resp_free(&r);
    call(&r, U, &a, "GET", "/qr/v1/merchant-callback/kvitt-till-9?QrImageFormat=PNG&QrImageSize=300", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "merchantSerialNumber"), "123456");
    assert_string_equal(jstr(r.json, "locationDescription"), "Kasse 9");
    char content[256], img[512];
    snprintf(content, sizeof content, "%s", jstr(r.json, "qrContent"));
    snprintf(img, sizeof img, "%s", jstr(r.json, "qrImageUrl"));
    resp_free(&r);
    assert_true(!strncmp(content, "https://qr.vipps.no/", 20));
    http(&r, U, "GET", img + strlen(U), NULL, NULL);
    assert_int_equal(r.status, 200);
    int w = 0;
    char *text = scan_png((unsigned char *)r.body, r.len, &w);
    assert_int_equal(w, 300);
    assert_non_null(text);
    assert_string_equal(text, content);
    free(text);
    resp_free(&r);
    /* another MSN does not see it; the list has it */
    call(&r, U, &b, "GET", "/qr/v1/merchant-callback/kvitt-till-9", NULL, NULL);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    call(&r, U, &a, "GET", "/qr/v1/merchant-callback", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(cJSON_GetArraySize(r.json), 1);
    resp_free(&r);

    /* a scan: a token for MSN 123456, usable once */
    http(&r, U, "POST", "/sim/v1/stickers/kvitt-till-9/scan", NULL, "{\"phone\":\"4791234567\"}");
    assert_int_equal(r.status, 200);
    char tok[128], ext[256];
    snprintf(tok, sizeof tok, "%s", jstr(r.json, "customerToken"));
    resp_free(&r);
    snprintf(ext, sizeof ext, "{\"customer\":{\"customerToken\":\"%s\"},\"requestedData\":[\"MSISDN\"]}", tok);
    callh(&r, U, &a, "POST", "/qr/v1/exchange/customer", "Content-Type: application/json", ext);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "msisdn"), "4791234567");
    resp_free(&r);
    callh(&r, U, &b, "POST", "/qr/v1/exchange/customer", "Content-Type: application/json", ext);
    assert_int_equal(r.status, 400); /* bound to the MSN */
    resp_free(&r);
    snprintf(ext, sizeof ext, "\"customer\":{\"customerToken\":\"%s\"}", tok);
    char *cb = create_body("BGO-token-0001", 14900, "PUSH_MESSAGE", ext);
    call(&r, U, &b, "POST", "/epayment/v1/payments", "BGO-token-0001-c", cb);
    free(cb);
    assert_int_equal(r.status, 400);
    assert_string_equal(errcode(&r), "4050");
    resp_free(&r);
    cb = create_body("OSL-token-0001", 14900, "PUSH_MESSAGE", ext);
    call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-token-0001-c", cb);
    free(cb);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    cb = create_body("OSL-token-0002", 14900, "PUSH_MESSAGE", ext);
    call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-token-0002-c", cb);
    free(cb);
    assert_int_equal(r.status, 400); /* single use */
    assert_string_equal(errcode(&r), "4050");
    resp_free(&r);
    /* an expired one (validSeconds 0) */
    http(&r, U, "POST", "/sim/v1/stickers/kvitt-till-9/scan", NULL, "{\"validSeconds\":0}");
    assert_int_equal(r.status, 200);
    snprintf(ext, sizeof ext, "\"customer\":{\"customerToken\":\"%s\"}", jstr(r.json, "customerToken"));
    resp_free(&r);
    cb = create_body("OSL-token-0003", 14900, "PUSH_MESSAGE", ext);
    call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-token-0003-c", cb);
    free(cb);
    assert_int_equal(r.status, 400);
    assert_string_equal(errcode(&r), "4050");
    resp_free(&r);

    /* personal QR: exchange and create; a made-up one is 4060 */
    http(&r, U, "POST", "/sim/v1/personal-qr", NULL, "{\"phone\":\"4748059470\"}");
    assert_int_equal(r.status, 200);
    char pq[128];
    snprintf(pq, sizeof pq, "%s", jstr(r.json, "qrCode"));
    resp_free(&r);
    snprintf(ext, sizeof ext, "{\"qrCode\":\"%s\"}", pq);
    callh(&r, U, &a, "POST", "/qr/v1/exchange", "Content-Type: application/json", ext);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "msisdn"), "4748059470");
    assert_string_equal(jstr(r.json, "version"), "2.0");
    resp_free(&r);
    callh(&r, U, &a, "POST", "/qr/v1/exchange", "Content-Type: application/json",
          "{\"qrCode\":\"https://qr.vipps.no/p/nope\"}");
    assert_int_equal(r.status, 400);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(r.json, "extraDetails"));
    resp_free(&r);
    snprintf(ext, sizeof ext, "\"customer\":{\"personalQr\":\"%s\"}", pq);
    cb = create_body("OSL-pqr-0001", 14900, "PUSH_MESSAGE", ext);
    call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-pqr-0001-c", cb);
    free(cb);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    cb = create_body("OSL-pqr-0002", 14900, "PUSH_MESSAGE", "\"customer\":{\"personalQr\":\"https://qr.vipps.no/p/nope\"}");
    call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-pqr-0002-c", cb);
    free(cb);
    assert_int_equal(r.status, 400);
    assert_string_equal(errcode(&r), "4060");
    resp_free(&r);

    /* delete: gone, its image too, a scan finds nothing */
    call(&r, U, &a, "DELETE", "/qr/v1/merchant-callback/kvitt-till-9", NULL, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    call(&r, U, &a, "DELETE", "/qr/v1/merchant-callback/kvitt-till-9", NULL, NULL);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    http(&r, U, "GET", img + strlen(U), NULL, NULL);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    http(&r, U, "POST", "/sim/v1/stickers/kvitt-till-9/scan", NULL, "{}");
    assert_int_equal(r.status, 404);
    resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim__token_rules),
        cmocka_unit_test(test_sim__token_expires),
        cmocka_unit_test(test_sim__create_201_and_get),
        cmocka_unit_test(test_sim__qr_images),
        cmocka_unit_test(test_sim__idempotency),
        cmocka_unit_test(test_sim__lifecycle_and_aggregate),
        cmocka_unit_test(test_sim__magic_amounts),
        cmocka_unit_test(test_sim__unknown_phone),
        cmocka_unit_test(test_sim__expiry),
        cmocka_unit_test(test_sim__rate_limit),
        cmocka_unit_test(test_sim__hmac_doc_vector),
        cmocka_unit_test(test_sim__webhooks),
        cmocka_unit_test(test_sim__ecom),
        cmocka_unit_test(test_sim__order_management),
        cmocka_unit_test(test_sim__faults_and_stats),
        cmocka_unit_test(test_sim__auto_modes),
        cmocka_unit_test(test_sim__fail_rate_and_latency),
        cmocka_unit_test(test_sim__write_config),
        cmocka_unit_test(test_sim__cli_args),
        cmocka_unit_test(test_sim__merchant_callback_qr_and_customer_tokens),
    };
    return cmocka_run_group_tests_name("sim", tests, setup, teardown);
}
