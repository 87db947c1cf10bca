/*
 * http.c - the client handle: libcurl easy handle (keep-alive), shared
 * DNS/TLS cache, access-token cache, the common header set, the call with
 * its retries and the 401 refresh-once rule.  The retry timing is in
 * retry.c, the redacted log and error records in log.c, the wire trace in
 * trace.c.
 */
#include "src/vipps/internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define TEST_URL "https://apitest.vipps.no"
#define PROD_URL "https://api.vipps.no"

/* ---------- token cache ---------- */

static void cache_init(kv_token_cache *tc)
{
    pthread_mutex_init(&tc->mu, NULL);
    tc->head = NULL;
}

static void cache_clear(kv_token_cache *tc)
{
    kv_token *t = tc->head;
    while (t) {
        kv_token *n = t->next;
        if (t->token) {
            memset(t->token, 0, strlen(t->token));
            free(t->token);
        }
        free(t->key);
        free(t);
        t = n;
    }
    tc->head = NULL;
    pthread_mutex_destroy(&tc->mu);
}

/* ---------- shared ---------- */

struct kv_vipps_shared {
    CURLSH *sh;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
    kv_token_cache tokens;
};

static void sh_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *p)
{
    (void)h;
    (void)a;
    kv_vipps_shared *s = p;
    pthread_mutex_lock(&s->locks[d]);
}

static void sh_unlock(CURL *h, curl_lock_data d, void *p)
{
    (void)h;
    kv_vipps_shared *s = p;
    pthread_mutex_unlock(&s->locks[d]);
}

kv_vipps_status kv_vipps_shared_create(kv_vipps_shared **out)
{
    if (!out)
        return KV_VIPPS_E_INVALID;
    kv_vipps_shared *s = calloc(1, sizeof *s);
    if (!s)
        return KV_VIPPS_E_NOMEM;
    s->sh = curl_share_init();
    if (!s->sh) {
        free(s);
        return KV_VIPPS_E_NOMEM;
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&s->locks[i], NULL);
    curl_share_setopt(s->sh, CURLSHOPT_LOCKFUNC, sh_lock);
    curl_share_setopt(s->sh, CURLSHOPT_UNLOCKFUNC, sh_unlock);
    curl_share_setopt(s->sh, CURLSHOPT_USERDATA, s);
    curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(s->sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    cache_init(&s->tokens);
    *out = s;
    return KV_VIPPS_OK;
}

void kv_vipps_shared_destroy(kv_vipps_shared *s)
{
    if (!s)
        return;
    curl_share_cleanup(s->sh);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&s->locks[i]);
    cache_clear(&s->tokens);
    free(s);
}

/* ---------- client ---------- */

static time_t now_s(const kv_vipps_client *c)
{
    return c->clock ? c->clock(c->clock_payload) : time(NULL);
}

static char *dupor(const char *s, const char *dflt)
{
    return strdup(s && *s ? s : dflt);
}

static void free_secret(char *s)
{
    if (s) {
        memset(s, 0, strlen(s));
        free(s);
    }
}

/* Host part of an URL "scheme://host[:port]/...", malloc'd; NULL if bad. */
static char *url_host(const char *url, int *is_https)
{
    const char *p;
    if (!strncasecmp(url, "https://", 8)) {
        *is_https = 1;
        p = url + 8;
    } else if (!strncasecmp(url, "http://", 7)) {
        *is_https = 0;
        p = url + 7;
    } else {
        return NULL;
    }
    const char *e;
    if (*p == '[') {
        e = strchr(p, ']');
        if (!e)
            return NULL;
        return strndup(p + 1, (size_t)(e - p - 1));
    }
    e = p;
    while (*e && *e != ':' && *e != '/' && *e != '?' && *e != '#')
        e++;
    if (e == p || memchr(p, '@', (size_t)(e - p)))
        return NULL;
    return strndup(p, (size_t)(e - p));
}

static int host_is_loopback(const char *h)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (!strcasecmp(h, "localhost"))
        return 1;
    if (inet_pton(AF_INET, h, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, h, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

static int msn_ok(const char *m)
{
    return kv_vipps__valid_phone(m, 4, 7); /* 4-7 digits */
}

static int header_value_ok(const char *v)
{
    for (; v && *v; v++)
        if ((unsigned char)*v < 0x20 || (unsigned char)*v == 0x7f)
            return 0;
    return 1;
}

kv_vipps_status kv_vipps_client_create(kv_vipps_client **out,
                                       const kv_vipps_opts *o,
                                       char *errbuf, size_t errlen)
{
#define FAIL(st, msg) do { if (errbuf && errlen) snprintf(errbuf, errlen, \
        "%s", msg); return st; } while (0)
    if (!out || !o)
        FAIL(KV_VIPPS_E_INVALID, "no options");
    if (o->version != KV_VIPPS_OPTS_VERSION)
        FAIL(KV_VIPPS_E_INVALID, "options version mismatch");
    if (!o->environment || !*o->environment)
        FAIL(KV_VIPPS_E_INVALID, "environment missing (test, production or a URL)");
    if (!o->client_id || !*o->client_id || !o->client_secret ||
        !*o->client_secret || !o->subscription_key || !*o->subscription_key)
        FAIL(KV_VIPPS_E_INVALID,
             "credentials incomplete (client_id, client_secret, subscription_key)");
    if (!header_value_ok(o->client_id) || !header_value_ok(o->client_secret)
        || !header_value_ok(o->subscription_key))
        FAIL(KV_VIPPS_E_INVALID, "credentials contain control characters");
    if (!msn_ok(o->msn))
        FAIL(KV_VIPPS_E_INVALID, "msn must be 4-7 digits (the store's Merchant-Serial-Number)");
    if (o->connect_timeout_ms < 0 || o->connect_timeout_ms > 3000)
        FAIL(KV_VIPPS_E_INVALID, "connect timeout must be at most 3000 ms");
    if (o->total_timeout_ms < 0 || o->total_timeout_ms > 30000)
        FAIL(KV_VIPPS_E_INVALID, "total timeout must be at most 30000 ms");
    if (o->max_attempts < 0 || o->max_attempts > 10)
        FAIL(KV_VIPPS_E_INVALID, "max attempts must be 1-10");
    const char *sv[] = { o->system_name, o->system_version, o->plugin_name,
                         o->plugin_version, o->user_agent };
    for (size_t i = 0; i < 5; i++)
        if (!header_value_ok(sv[i]) || (sv[i] && strlen(sv[i]) > 100))
            FAIL(KV_VIPPS_E_INVALID, "system/plugin names: at most 100 printable characters");

    const char *base;
    int test = 0;
    if (!strcmp(o->environment, "test")) {
        base = TEST_URL;
        test = 1;
    } else if (!strcmp(o->environment, "production")) {
        base = PROD_URL;
    } else {
        base = o->environment;
    }
    int https = 0;
    char *host = url_host(base, &https);
    if (!host)
        FAIL(KV_VIPPS_E_INVALID, "environment must be test, production or an http(s):// URL");
    int loop = host_is_loopback(host);
    if (!https && !loop) {
        free(host);
        FAIL(KV_VIPPS_E_REFUSED, "plain http is only allowed to a loopback host; use https");
    }
    if (!strcasecmp(host, "apitest.vipps.no"))
        test = 1;

    kv_vipps_client *c = calloc(1, sizeof *c);
    if (!c) {
        free(host);
        return KV_VIPPS_E_NOMEM;
    }
    c->trace_fd = -1;
    if (o->trace_path && *o->trace_path) {
        char terr[300];
        c->trace_fd = kv__trace_open(o->trace_path, terr, sizeof terr);
        if (c->trace_fd < 0) {
            free(host);
            free(c);
            FAIL(KV_VIPPS_E_INVALID, terr);
        }
    }
    c->host = host;
    c->loopback = loop;
    c->is_test = test || loop;
    c->base = strdup(base);
    if (c->base) {
        size_t n = strlen(c->base);
        while (n && c->base[n - 1] == '/')
            c->base[--n] = '\0';
    }
    c->client_id = strdup(o->client_id);
    c->client_secret = strdup(o->client_secret);
    c->sub_key = strdup(o->subscription_key);
    c->msn = strdup(o->msn);
    c->sys_name = dupor(o->system_name, "kvitt");
    c->sys_ver = dupor(o->system_version, "0.1.0");
    c->plug_name = dupor(o->plugin_name, "kvitt-till");
    c->plug_ver = dupor(o->plugin_version, c->sys_ver ? c->sys_ver : "0.1.0");
    if (o->user_agent && *o->user_agent) {
        c->ua = strdup(o->user_agent);
    } else if (c->sys_ver && asprintf(&c->ua, "kvitt/%s libcurl/%s", c->sys_ver,
                                      curl_version_info(CURLVERSION_NOW)->version) < 0) {
        /* not curl_version(): its text names the LDAP library's version,
         * and asking for it loads libldap's config and every SASL plugin
         * (about 4 ms of a cold `kvitt pay`) */
        c->ua = NULL;
    }
    c->lang = o->lang;
    c->connect_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 3000;
    c->total_ms = o->total_timeout_ms ? o->total_timeout_ms : 30000;
    c->max_attempts = o->max_attempts ? o->max_attempts : 4;
    c->backoff_base = o->backoff_base_ms > 0 ? o->backoff_base_ms : 200;
    c->backoff_max = o->backoff_max_ms > 0 ? o->backoff_max_ms : 2000;
    c->retry_after_max = o->retry_after_max_s > 0 ? o->retry_after_max_s : 0;
    c->token_margin = o->token_margin_s;
    c->rng = o->jitter_seed ? o->jitter_seed
        : (unsigned int)time(NULL) ^ (unsigned int)(uintptr_t)c;
    c->shared = o->shared;
    c->log = o->log;
    c->log_payload = o->log_payload;
    c->log_level = o->log_level;
    c->clock = o->clock;
    c->clock_payload = o->clock_payload;
    cache_init(&c->own_tokens);
    c->tokens = o->shared ? &o->shared->tokens : &c->own_tokens;
    c->curl = curl_easy_init();
    if (c->base && c->client_id && c->client_secret && c->sub_key && c->msn &&
        c->sys_name && c->sys_ver && c->plug_name && c->plug_ver && c->ua) {
        /* Credential-set key: base, client id, subscription key, MSN.  The
         * key is compared, never logged. */
        if (asprintf(&c->cache_key, "%s\n%s\n%s\n%s", c->base, c->client_id,
                     c->sub_key, c->msn) < 0)
            c->cache_key = NULL;
    }
    if (!c->curl || !c->cache_key) {
        kv_vipps_client_destroy(c);
        return KV_VIPPS_E_NOMEM;
    }
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
    /* TLS verification: always on except for a loopback simulator. */
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, loop ? 0L : 1L);
    curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, loop ? 0L : 2L);
    curl_easy_setopt(c->curl, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
    if (c->shared)
        curl_easy_setopt(c->curl, CURLOPT_SHARE, c->shared->sh);
    *out = c;
    return KV_VIPPS_OK;
#undef FAIL
}

void kv_vipps_client_destroy(kv_vipps_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    if (c->trace_fd >= 0)
        close(c->trace_fd);
    free(c->base);
    free(c->host);
    free_secret(c->client_id);
    free_secret(c->client_secret);
    free_secret(c->sub_key);
    free(c->msn);
    free(c->sys_name);
    free(c->sys_ver);
    free(c->plug_name);
    free(c->plug_ver);
    free(c->ua);
    free_secret(c->cache_key);
    free_secret(c->token);
    cache_clear(&c->own_tokens);
    free(c);
}

const kv_vipps_error *kv_vipps_last_error(const kv_vipps_client *c)
{
    return &c->err;
}

const char *kv_vipps_base_url(const kv_vipps_client *c)
{
    return c->base;
}

int kv_vipps_is_test(const kv_vipps_client *c)
{
    return c->is_test;
}

void kv_vipps_get_stats(const kv_vipps_client *c, kv_vipps_stats *out)
{
    *out = c->stats;
}

const char *kv__msn(const kv_vipps_client *c) { return c->msn; }
kv_vipps_lang kv__lang(const kv_vipps_client *c) { return c->lang; }
kv_vipps_error *kv__err(kv_vipps_client *c) { return &c->err; }

/* ---------- helpers ---------- */

int kv__path_seg(char *dst, size_t n, const char *seg)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t j = 0;
    if (!seg || !*seg)
        return -1;
    for (; *seg; seg++) {
        unsigned char ch = (unsigned char)*seg;
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            if (j + 1 >= n)
                return -1;
            dst[j++] = (char)ch;
        } else {
            if (j + 3 >= n)
                return -1;
            dst[j++] = '%';
            dst[j++] = hex[ch >> 4];
            dst[j++] = hex[ch & 15];
        }
    }
    dst[j] = '\0';
    return 0;
}

int kv__ct_streq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    size_t n = la < lb ? la : lb;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

void kv__resp_free(kv_resp *r)
{
    if (r) {
        free(r->body);
        r->body = NULL;
        r->len = 0;
    }
}

typedef struct {
    char *buf;
    size_t len, cap;
    long retry_after;
} sink;

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    sink *s = ud;
    size_t n = sz * nm;
    if (s->len + n + 1 > 8u << 20)  /* 8 MiB cap: an API answer is small */
        return 0;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb)
            return 0;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    sink *s = ud;
    size_t n = sz * nm;
    if (n > 12 && !strncasecmp(p, "Retry-After:", 12)) {
        char v[64];
        size_t l = n - 12 < sizeof v - 1 ? n - 12 : sizeof v - 1;
        memcpy(v, p + 12, l);
        v[l] = '\0';
        char *q = v;
        while (*q == ' ' || *q == '\t')
            q++;
        char *e = q + strlen(q);
        while (e > q && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
            *--e = '\0';
        if (*q && isdigit((unsigned char)*q)) {
            char *end;
            long secs = strtol(q, &end, 10);
            if (!*end && secs >= 0)
                s->retry_after = secs;
        } else if (*q) {
            time_t t = curl_getdate(q, NULL);
            if (t > 0) {
                long d = (long)(t - time(NULL));
                s->retry_after = d > 0 ? d : 0;
            }
        }
    }
    return n;
}

static struct curl_slist *add_hdr(struct curl_slist *l, int *bad,
                                  const char *name, const char *val)
{
    char *h = NULL;
    /* "Name:" with nothing after the colon removes a header curl would
     * add by itself (Expect). */
    int r = val && *val ? asprintf(&h, "%s: %s", name, val)
                        : asprintf(&h, "%s:", name);
    if (r < 0) {
        *bad = 1;
        return l;
    }
    struct curl_slist *n = curl_slist_append(l, h);
    free(h);
    if (!n) {
        *bad = 1;
        return l;
    }
    return n;
}

/* One HTTP exchange.  Returns the CURLcode; fills *s and *status. */
static CURLcode perform(kv_vipps_client *c, const char *method,
                        const char *url, struct curl_slist *hdrs,
                        const char *body, sink *s, long *status)
{
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
    long left = kv__remaining_ms(c);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, left < 1 ? 1L : left);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(h, CURLOPT_USERAGENT, c->ua);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    if (!strcmp(method, "GET") || !body) {
        /* GET, or DELETE without a body (no Content-Type added). */
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        if (strcmp(method, "GET"))
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    } else {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE,
                         (long)(body ? strlen(body) : 0));
        if (strcmp(method, "POST"))
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    s->len = 0;
    if (s->buf)
        s->buf[0] = '\0';
    s->retry_after = -1;
    c->stats.http_requests++;
    kv_tracebuf tb;
    kv__trace_attach(h, c->trace_fd >= 0 ? &tb : NULL);
    CURLcode rc = curl_easy_perform(h);
    long st = 0, nconn = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    if (c->trace_fd >= 0)
        kv__trace_write(c, c->trace_fd, &tb, h, method, url, rc, st);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nconn);
    c->stats.connects += (unsigned long)nconn;
    *status = rc == CURLE_OK ? st : 0;
    return rc;
}

static void log_exchange(kv_vipps_client *c, const char *method,
                         const char *path, struct curl_slist *hdrs,
                         const char *body, CURLcode rc, long status,
                         const sink *s, int attempt)
{
    if (!c->log)
        return;
    if (c->log_level >= KV_VIPPS_LOG_DEBUG) {
        kv__log(c, KV_VIPPS_LOG_DEBUG, "> %s %s", method, path);
        kv__log(c, KV_VIPPS_LOG_DEBUG, "> User-Agent: %s", c->ua);
        for (struct curl_slist *l = hdrs; l; l = l->next) {
            const char *colon = strchr(l->data, ':');
            size_t nl = colon ? (size_t)(colon - l->data) : strlen(l->data);
            int secret = (nl == 13 && !strncasecmp(l->data, "Authorization", 13))
                || (nl == 25 && !strncasecmp(l->data, "Ocp-Apim-Subscription-Key", 25))
                || (nl == 13 && !strncasecmp(l->data, "client_secret", 13))
                || (nl == 9 && !strncasecmp(l->data, "client_id", 9));
            const char *val = colon ? colon + 1 : "";
            while (*val == ' ')
                val++;
            kv__log(c, KV_VIPPS_LOG_DEBUG, "> %.*s: %s", (int)nl, l->data,
                    secret ? "[redacted]" : val);
        }
        if (body && *body)
            kv__log(c, KV_VIPPS_LOG_DEBUG, "> body %s", body);
        if (rc == CURLE_OK && s->buf && s->len)
            kv__log(c, KV_VIPPS_LOG_DEBUG, "< body %.*s",
                    s->len > 4000 ? 4000 : (int)s->len, s->buf);
    }
    if (rc == CURLE_OK)
        kv__log(c, status >= 400 ? KV_VIPPS_LOG_WARN : KV_VIPPS_LOG_INFO,
                "%s %s -> %ld (attempt %d)", method, path, status, attempt);
    else
        kv__log(c, KV_VIPPS_LOG_WARN, "%s %s -> %s (attempt %d)", method,
                path, curl_easy_strerror(rc), attempt);
}

static int is_timeout(CURLcode rc)
{
    return rc == CURLE_OPERATION_TIMEDOUT;
}

/* Was the request certainly not delivered? */
static int not_sent(CURLcode rc)
{
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
        rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_SSL_CONNECT_ERROR;
}

static int retryable_status(long st)
{
    return st >= 500 || st == 423 || st == 429;
}

/* ---------- token ---------- */

static const kv_token *cache_find(kv_token_cache *tc, const char *key)
{
    for (kv_token *t = tc->head; t; t = t->next)
        if (!strcmp(t->key, key))
            return t;
    return NULL;
}

/* Copy a valid cached token into c->token; 1 found, 0 none. */
static int token_from_cache(kv_vipps_client *c)
{
    int found = 0;
    time_t now = now_s(c);
    pthread_mutex_lock(&c->tokens->mu);
    const kv_token *t = cache_find(c->tokens, c->cache_key);
    if (t && t->token && now < t->refresh_at) {
        if (!c->token || strcmp(c->token, t->token)) {
            free_secret(c->token);
            c->token = strdup(t->token);
        }
        found = c->token != NULL;
    }
    pthread_mutex_unlock(&c->tokens->mu);
    return found;
}

static void cache_store(kv_vipps_client *c, const char *tok, time_t exp,
                        time_t refresh_at)
{
    pthread_mutex_lock(&c->tokens->mu);
    kv_token *t = (kv_token *)cache_find(c->tokens, c->cache_key);
    if (!t) {
        t = calloc(1, sizeof *t);
        if (t && !(t->key = strdup(c->cache_key))) {
            free(t);
            t = NULL;
        }
        if (t) {
            t->next = c->tokens->head;
            c->tokens->head = t;
        }
    }
    if (t) {
        free_secret(t->token);
        t->token = strdup(tok);
        t->expires_on = exp;
        t->refresh_at = refresh_at;
    }
    pthread_mutex_unlock(&c->tokens->mu);
}

void kv_vipps_token_forget(kv_vipps_client *c)
{
    pthread_mutex_lock(&c->tokens->mu);
    kv_token *t = (kv_token *)cache_find(c->tokens, c->cache_key);
    if (t && t->token && c->token && !strcmp(t->token, c->token)) {
        free_secret(t->token);
        t->token = NULL;
    }
    pthread_mutex_unlock(&c->tokens->mu);
    free_secret(c->token);
    c->token = NULL;
}

static kv_vipps_status token_fetch(kv_vipps_client *c)
{
    char url[1024];
    snprintf(url, sizeof url, "%s/accesstoken/get", c->base);
    int bad = 0;
    struct curl_slist *h = NULL;
    h = add_hdr(h, &bad, "client_id", c->client_id);
    h = add_hdr(h, &bad, "client_secret", c->client_secret);
    h = add_hdr(h, &bad, "Ocp-Apim-Subscription-Key", c->sub_key);
    h = add_hdr(h, &bad, "Merchant-Serial-Number", c->msn);
    h = add_hdr(h, &bad, "Vipps-System-Name", c->sys_name);
    h = add_hdr(h, &bad, "Vipps-System-Version", c->sys_ver);
    h = add_hdr(h, &bad, "Vipps-System-Plugin-Name", c->plug_name);
    h = add_hdr(h, &bad, "Vipps-System-Plugin-Version", c->plug_ver);
    h = add_hdr(h, &bad, "Content-Type", "application/json");
    h = add_hdr(h, &bad, "Accept", "application/json");
    h = add_hdr(h, &bad, "Expect", "");
    if (bad) {
        curl_slist_free_all(h);
        kv__set_error(c, KV_VIPPS_API_TOKEN, KV_VIPPS_ERR_PROTOCOL,
                      "token: out of memory");
        return KV_VIPPS_E_NOMEM;
    }
    sink s = { 0 };
    kv_vipps_status st = KV_VIPPS_E_UNREACHABLE;
    c->stats.token_fetches++;
    for (int attempt = 1; attempt <= c->max_attempts; attempt++) {
        long status = 0;
        if (attempt > 1)
            c->stats.retries++;
        CURLcode rc = perform(c, "POST", url, h, "", &s, &status);
        log_exchange(c, "POST", "/accesstoken/get", h, NULL, rc, status, &s,
                     attempt);
        if (rc != CURLE_OK) {
            kv__set_error(c, KV_VIPPS_API_TOKEN, is_timeout(rc)
                          ? KV_VIPPS_ERR_TIMEOUT : KV_VIPPS_ERR_TRANSPORT,
                          "POST /accesstoken/get: %s", curl_easy_strerror(rc));
            if (attempt < c->max_attempts && !kv__wait_retry(c, kv__backoff(c, attempt)))
                break;
            continue;
        }
        if (status == 200) {
            char *tok = NULL;
            time_t exp = 0;
            long life = 0;
            time_t now = now_s(c);
            kv_vipps_status ps = kv_vipps__parse_token(&tok, &exp, &life,
                                                       s.buf, s.len, now);
            if (ps != KV_VIPPS_OK) {
                kv__set_error(c, KV_VIPPS_API_TOKEN, KV_VIPPS_ERR_PROTOCOL,
                              "POST /accesstoken/get: unparseable token answer");
                st = ps;
                break;
            }
            long margin = c->token_margin;
            if (margin <= 0) {
                margin = life / 10;
                if (margin > 60)
                    margin = 60;
            }
            time_t refresh = exp - margin;
            free_secret(c->token);
            c->token = tok;
            cache_store(c, tok, exp, refresh);
            memset(&c->err, 0, sizeof c->err);
            st = KV_VIPPS_OK;
            break;
        }
        kv_vipps__parse_error(&c->err, KV_VIPPS_API_TOKEN, (int)status,
                              s.buf, s.len, c->lang, "POST /accesstoken/get");
        c->err.retry_after_s = s.retry_after;
        if (status == 401 || status == 403) {
            st = KV_VIPPS_E_AUTH;
            break;
        }
        if (!retryable_status(status)) {
            st = KV_VIPPS_E_API;
            break;
        }
        if (attempt < c->max_attempts && !kv__wait_retry_after(c, attempt, s.retry_after))
            break;
    }
    free(s.buf);
    curl_slist_free_all(h);
    return st;
}

static kv_vipps_status ensure_token(kv_vipps_client *c)
{
    if (token_from_cache(c))
        return KV_VIPPS_OK;
    return token_fetch(c);
}

kv_vipps_status kv_vipps_token_warm(kv_vipps_client *c)
{
    kv__budget_start(c);
    return ensure_token(c);
}

int kv_vipps_token_cached(kv_vipps_client *c)
{
    return token_from_cache(c);
}

/* ---------- the call ---------- */

static struct curl_slist *api_headers(kv_vipps_client *c, const kv_req *rq,
                                      int *bad)
{
    struct curl_slist *h = NULL;
    char *auth = NULL;
    if (asprintf(&auth, "Bearer %s", c->token) < 0) {
        *bad = 1;
        return NULL;
    }
    h = add_hdr(h, bad, "Authorization", auth);
    free_secret(auth);
    h = add_hdr(h, bad, "Ocp-Apim-Subscription-Key", c->sub_key);
    h = add_hdr(h, bad, "Merchant-Serial-Number", c->msn);
    h = add_hdr(h, bad, "Vipps-System-Name", c->sys_name);
    h = add_hdr(h, bad, "Vipps-System-Version", c->sys_ver);
    h = add_hdr(h, bad, "Vipps-System-Plugin-Name", c->plug_name);
    h = add_hdr(h, bad, "Vipps-System-Plugin-Version", c->plug_ver);
    h = add_hdr(h, bad, "Accept", rq->accept ? rq->accept : "application/json");
    if (rq->body)
        h = add_hdr(h, bad, "Content-Type", "application/json");
    if (rq->idem_key)
        h = add_hdr(h, bad, "Idempotency-Key", rq->idem_key);
    if (rq->request_id)
        h = add_hdr(h, bad, "X-Request-Id", rq->request_id);
    if (rq->qr_size > 0) {
        char sz[16];
        snprintf(sz, sizeof sz, "%d", rq->qr_size);
        h = add_hdr(h, bad, "Size", sz);
    }
    h = add_hdr(h, bad, "Expect", "");
    return h;
}

kv_vipps_status kv__call(kv_vipps_client *c, const kv_req *rq, kv_resp *r)
{
    memset(r, 0, sizeof *r);
    r->retry_after_s = -1;
    memset(&c->err, 0, sizeof c->err);
    kv__budget_start(c);
    c->cur_phone = rq->phone;
    char what[600];
    snprintf(what, sizeof what, "%s %s", rq->method, rq->path);
    char *url = NULL;
    if (asprintf(&url, "%s%s", c->base, rq->path) < 0) {
        c->cur_phone = NULL;
        return KV_VIPPS_E_NOMEM;
    }
    sink s = { 0 };
    kv_vipps_status st = KV_VIPPS_E_UNREACHABLE;
    int refreshed = 0;
    int attempt = 0;
    while (attempt < c->max_attempts) {
        attempt++;
        kv_vipps_status ts = ensure_token(c);
        if (ts != KV_VIPPS_OK) {
            /* Nothing was sent for this call. */
            st = ts;
            break;
        }
        int bad = 0;
        struct curl_slist *h = api_headers(c, rq, &bad);
        if (bad) {
            curl_slist_free_all(h);
            st = KV_VIPPS_E_NOMEM;
            break;
        }
        long status = 0;
        if (attempt > 1)
            c->stats.retries++;
        CURLcode rc = perform(c, rq->method, url, h, rq->body, &s, &status);
        log_exchange(c, rq->method, rq->path, h, rq->body, rc, status, &s,
                     attempt);
        curl_slist_free_all(h);
        if (rc != CURLE_OK) {
            int sent = !not_sent(rc);
            if (sent)
                r->ambiguous = 1;
            kv__set_error(c, rq->api, is_timeout(rc) ? KV_VIPPS_ERR_TIMEOUT
                          : KV_VIPPS_ERR_TRANSPORT, "%s: %s", what,
                          curl_easy_strerror(rc));
            st = KV_VIPPS_E_UNREACHABLE;
            if (sent && rq->retry == KV_RETRY_NEVER_AFTER_SEND)
                break;
            if (attempt < c->max_attempts && !kv__wait_retry(c, kv__backoff(c, attempt)))
                break;
            continue;
        }
        r->status = status;
        if (status >= 200 && status < 300) {
            r->body = s.buf;
            r->len = s.len;
            s.buf = NULL;
            if (!r->body) {
                r->body = calloc(1, 1);
                if (!r->body) {
                    st = KV_VIPPS_E_NOMEM;
                    break;
                }
            }
            st = KV_VIPPS_OK;
            break;
        }
        kv_vipps__parse_error(&c->err, rq->api, (int)status, s.buf, s.len,
                              c->lang, what);
        c->err.retry_after_s = s.retry_after;
        r->retry_after_s = s.retry_after;
        kv__log(c, KV_VIPPS_LOG_WARN, "%s", c->err.log);
        if (status == 401 && !refreshed) {
            /* Expired or revoked token: fetch a new one, retry once. */
            refreshed = 1;
            kv_vipps_token_forget(c);
            attempt--;
            continue;
        }
        if (status == 401) {
            st = KV_VIPPS_E_AUTH;
            break;
        }
        if (!retryable_status(status)) {
            st = status == 404 ? KV_VIPPS_E_NOT_FOUND : KV_VIPPS_E_API;
            break;
        }
        if (status >= 500) {
            r->ambiguous = 1;
            if (rq->retry == KV_RETRY_NEVER_AFTER_SEND) {
                st = KV_VIPPS_E_UNREACHABLE;
                break;
            }
        }
        /* 423/429 were refused without effect: a definite answer. */
        st = status >= 500 ? KV_VIPPS_E_UNREACHABLE : KV_VIPPS_E_API;
        if (attempt < c->max_attempts && !kv__wait_retry_after(c, attempt, s.retry_after))
            break;
    }
    /* An exhausted 423/429 after an earlier ambiguous attempt stays
     * ambiguous for the caller. */
    if (st == KV_VIPPS_E_API && r->ambiguous &&
        (r->status == 423 || r->status == 429))
        st = KV_VIPPS_E_UNREACHABLE;
    free(s.buf);
    free(url);
    c->cur_phone = NULL;
    return st;
}

kv_vipps_status kv__call_parse(kv_vipps_client *c, const kv_req *req,
                               kv_vipps_status (*parse)(void *out, const char *body, size_t len),
                               void *out, const char *what, int *ambiguous)
{
    kv_resp r;
    kv_vipps_status st = kv__call(c, req, &r);
    if (ambiguous)
        *ambiguous = r.ambiguous && st == KV_VIPPS_E_UNREACHABLE;
    if (st == KV_VIPPS_OK) {
        st = parse(out, r.body, r.len);
        if (st != KV_VIPPS_OK)
            kv__set_error(c, req->api, KV_VIPPS_ERR_PROTOCOL, "%s: unexpected answer body", what);
    }
    kv__resp_free(&r);
    return st;
}
