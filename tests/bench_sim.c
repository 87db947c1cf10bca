/*
 * bench_sim.c - simulator figures (in-process kv_sim, raw libcurl with one
 * keep-alive connection):
 *   token      : POST /accesstoken/get round trip
 *   create     : POST /epayment/v1/payments round trip (TEXT/TARGETURL)
 *   get        : GET /epayment/v1/payments/{ref} round trip
 *   latency 50 : GET with --latency-ms 50: how far above 50 ms it answers
 *   qr png     : GET of a 576 px QR PNG (libqrencode + libpng)
 * Prints figures only; never fails on time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <cjson/cJSON.h>

#include "sim/sim.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    printf("%-22s median %8.3f ms  min %8.3f  p90 %8.3f  max %8.3f  (n=%d)\n", what, v[n / 2], v[0],
           v[n * 9 / 10], v[n - 1], n);
}

struct buf { char *p; size_t n; };

static size_t sink(char *p, size_t sz, size_t n, void *u)
{
    struct buf *b = u;
    char *np = realloc(b->p, b->n + sz * n + 1);
    if (!np) return 0;
    b->p = np;
    memcpy(b->p + b->n, p, sz * n);
    b->n += sz * n;
    b->p[b->n] = 0;
    return sz * n;
}

static long req(CURL *c, const char *url, const char *method, struct curl_slist *h, const char *body,
                struct buf *out)
{
    out->n = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPGET, body ? 0L : 1L);
    if (body) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

static int run(int latency_ms, int n)
{
    kv_sim_options o;
    kv_sim_options_init(&o);
    o.quiet = 1;
    o.latency_ms = latency_ms;
    o.rate_get_per_min = 0;
    o.rate_mod_per_min = 0;
    kv_sim *s = NULL;
    if (kv_sim_start(&s, &o) != KV_SIM_OK) { fprintf(stderr, "bench_sim: cannot start\n"); return 1; }
    size_t nc;
    const kv_sim_cred *cr = kv_sim_credentials(&nc);
    char h1[256], h2[256], h3[256], url[256];
    snprintf(h1, sizeof h1, "client_id: %s", cr[0].client_id);
    snprintf(h2, sizeof h2, "client_secret: %s", cr[0].client_secret);
    snprintf(h3, sizeof h3, "Ocp-Apim-Subscription-Key: %s", cr[0].subscription_key);
    struct curl_slist *th = curl_slist_append(NULL, h1);
    th = curl_slist_append(th, h2);
    th = curl_slist_append(th, h3);
    CURL *c = curl_easy_init();
    struct buf b = { 0 };
    double *t = calloc((size_t)n, sizeof *t);
    snprintf(url, sizeof url, "%s/accesstoken/get", kv_sim_url(s));
    char label[64];
    for (int i = 0; i < n; i++) {
        double t0 = now_ms();
        if (req(c, url, "POST", th, "", &b) != 200) { fprintf(stderr, "token failed\n"); return 1; }
        t[i] = now_ms() - t0;
    }
    if (latency_ms == 0) report("token", t, n);
    cJSON *j = cJSON_Parse(b.p);
    char *auth = NULL;
    if (asprintf(&auth, "Authorization: Bearer %s", cJSON_GetObjectItem(j, "access_token")->valuestring) < 0)
        return 1;
    cJSON_Delete(j);
    struct curl_slist *ah = curl_slist_append(NULL, auth);
    ah = curl_slist_append(ah, h3);
    ah = curl_slist_append(ah, "Merchant-Serial-Number: 123456");
    ah = curl_slist_append(ah, "Content-Type: application/json");
    snprintf(url, sizeof url, "%s/epayment/v1/payments", kv_sim_url(s));
    for (int i = 0; i < n; i++) {
        char body[512], key[80];
        snprintf(key, sizeof key, "Idempotency-Key: bench-%d-%d", latency_ms, i);
        struct curl_slist *kh = curl_slist_append(NULL, auth);
        kh = curl_slist_append(kh, h3);
        kh = curl_slist_append(kh, "Merchant-Serial-Number: 123456");
        kh = curl_slist_append(kh, "Content-Type: application/json");
        kh = curl_slist_append(kh, key);
        snprintf(body, sizeof body,
                 "{\"amount\":{\"currency\":\"NOK\",\"value\":14900},\"paymentMethod\":{\"type\":\"WALLET\"},"
                 "\"reference\":\"BENCH-%d-%06d\",\"userFlow\":\"QR\",\"qrFormat\":{\"format\":\"TEXT/TARGETURL\"}}",
                 latency_ms, i);
        double t0 = now_ms();
        if (req(c, url, "POST", kh, body, &b) != 201) { fprintf(stderr, "create failed: %s\n", b.p); return 1; }
        t[i] = now_ms() - t0;
        curl_slist_free_all(kh);
    }
    if (latency_ms == 0) report("create", t, n);
    snprintf(url, sizeof url, "%s/epayment/v1/payments/BENCH-%d-%06d", kv_sim_url(s), latency_ms, 0);
    for (int i = 0; i < n; i++) {
        double t0 = now_ms();
        if (req(c, url, "GET", ah, NULL, &b) != 200) { fprintf(stderr, "get failed\n"); return 1; }
        t[i] = now_ms() - t0 - latency_ms;
    }
    snprintf(label, sizeof label, latency_ms ? "get above %d ms" : "get", latency_ms);
    report(label, t, n);
    if (latency_ms == 0) {
        /* a PNG QR image of a payment */
        char body[512];
        struct curl_slist *kh = curl_slist_append(NULL, auth);
        kh = curl_slist_append(kh, h3);
        kh = curl_slist_append(kh, "Merchant-Serial-Number: 123456");
        kh = curl_slist_append(kh, "Content-Type: application/json");
        kh = curl_slist_append(kh, "Idempotency-Key: bench-png");
        snprintf(body, sizeof body,
                 "{\"amount\":{\"currency\":\"NOK\",\"value\":14900},\"paymentMethod\":{\"type\":\"WALLET\"},"
                 "\"reference\":\"BENCH-PNG-0001\",\"userFlow\":\"QR\",\"qrFormat\":{\"format\":\"IMAGE/PNG\",\"size\":576}}");
        snprintf(url, sizeof url, "%s/epayment/v1/payments", kv_sim_url(s));
        if (req(c, url, "POST", kh, body, &b) != 201) return 1;
        curl_slist_free_all(kh);
        j = cJSON_Parse(b.p);
        char img[512];
        snprintf(img, sizeof img, "%s", cJSON_GetObjectItem(j, "redirectUrl")->valuestring);
        cJSON_Delete(j);
        for (int i = 0; i < n / 4 + 1; i++) {
            double t0 = now_ms();
            if (req(c, img, "GET", NULL, NULL, &b) != 200) return 1;
            t[i] = now_ms() - t0;
        }
        report("qr png 576 px", t, n / 4 + 1);
    }
    free(t);
    free(b.p);
    free(auth);
    curl_slist_free_all(th);
    curl_slist_free_all(ah);
    curl_easy_cleanup(c);
    kv_sim_destroy(s);
    return 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = run(0, 400);
    if (!rc) rc = run(50, 20);
    curl_global_cleanup();
    return rc;
}
