/* certify.c - the kv_certify handle: options, environment detection, the
 * payment client with its request capture, the checklist lines. */
#include "src/certify/certify_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

/* The checklist, in our words (../shared/docs/vipps-api.md 9.1 + 9.4). */
static const struct {
    const char *id, *title;
    int production_only;
} LINES[] = {
    { "create", "Create a payment: POST /epayment/v1/payments is answered 201", 0 },
    { "get", "Get the payment: GET /epayment/v1/payments/{reference} shows state and amounts", 0 },
    { "events", "Get the event log: GET .../{reference}/events lists CREATED, AUTHORIZED, CAPTURED", 0 },
    { "capture-full", "Capture the whole authorized amount: the payment ends CAPTURED", 0 },
    { "capture-partial", "Capture part of the authorized amount", 0 },
    { "refund-partial", "Refund part of the captured amount", 0 },
    { "refund-full", "Refund the whole captured amount: the payment ends REFUNDED", 0 },
    { "cancel", "Cancel an authorized payment that will not be captured: it ends CANCELLED", 0 },
    { "cancel-before", "Cancel a payment before the customer answers: it ends TERMINATED", 0 },
    { "authorized", "Leave one payment AUTHORIZED (production go-live evidence)", 1 },
    { "polling", "Poll GET /epayment/v1/payments/{reference} until the customer's answer shows", 0 },
    { "webhooks", "Receive the signed Webhooks API deliveries (HMAC-SHA256) for the payment", 0 },
    { "errors", "Handle errors: a refused capture is reported with its code and traceId, nothing moves", 0 },
    { "headers", "Send the four Vipps-System-* headers on every request", 0 },
    { "idempotency", "Send an Idempotency-Key on every create, capture, refund and cancel", 0 },
    { "customer-present", "Mark payments at the till customerInteraction CUSTOMER_PRESENT", 0 },
    { "receipt", "Add the order lines to the payment history (receipt sent with the create)", 0 },
    { "reference", "Send a useful reference: store prefix, letters and digits, unique per MSN", 0 },
    { "qr-design", "Show Vipps' own QR code (qr_source = image); a self-drawn one needs approval", 0 },
};

const char *kv_certify_strerror(kv_certify_status st)
{
    switch (st) {
    case KV_CERTIFY_OK: return "every checklist line passed";
    case KV_CERTIFY_E_ARG: return "invalid option";
    case KV_CERTIFY_E_CONFIG: return "configuration or credentials problem";
    case KV_CERTIFY_E_UNREACHABLE: return "payment service unreachable";
    case KV_CERTIFY_E_FAILED: return "some checklist lines did not pass";
    case KV_CERTIFY_E_IO: return "the report cannot be written";
    case KV_CERTIFY_E_NOMEM: return "out of memory";
    }
    return "unknown certify status";
}

const char *kv_certify_env_name(kv_certify_env e)
{
    switch (e) {
    case KV_CERTIFY_ENV_SIM: return "simulator";
    case KV_CERTIFY_ENV_TEST: return "test";
    case KV_CERTIFY_ENV_PRODUCTION: return "production";
    case KV_CERTIFY_ENV_OTHER: return "other";
    }
    return "unknown";
}

const char *kvc_result_name(cert_result r)
{
    switch (r) {
    case R_PASSED: return "passed";
    case R_FAILED: return "failed";
    case R_UNVERIFIED: return "not verified";
    case R_NOT_RUN: break;
    }
    return "not run";
}

void kvc_say(kv_certify *c, const char *fmt, ...)
{
    if (!c->progress)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    kvc_mask(c, buf);
    c->progress(c->user, buf);
}

static void mask_value(char *s, const char *v)
{
    size_t n = v ? strlen(v) : 0;
    if (n < 4)
        return;
    for (char *p = strstr(s, v); p; p = strstr(p, v)) {
        memset(p, '*', n);
        p += n;
    }
}

/* Mask every configured secret and the phone number in s (in place). */
void kvc_mask(const kv_certify *c, char *s)
{
    for (size_t i = 0; i < sizeof c->mask / sizeof c->mask[0]; i++)
        mask_value(s, c->mask[i]);
}

cert_line *kvc_line(kv_certify *c, const char *id)
{
    for (size_t i = 0; i < c->nlines; i++)
        if (!strcmp(c->lines[i].id, id))
            return &c->lines[i];
    return NULL;
}

void kvc_set(cert_line *l, cert_result r, const char *fmt, ...)
{
    if (!l)
        return;
    l->result = r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->reason, sizeof l->reason, fmt, ap);
    va_end(ap);
}

void kvc_cat(char *dst, size_t len, const char *src)
{
    size_t n = strlen(dst);
    while (src && *src && n + 1 < len)
        dst[n++] = *src++;
    dst[n] = 0;
}


int kvc_find_req(const kv_certify *c, size_t from, const char *method, const char *suffix)
{
    size_t sl = strlen(suffix);
    for (size_t i = from; i < c->nreqs; i++) {
        size_t pl = strlen(c->reqs[i].path);
        if (!strcmp(c->reqs[i].method, method) && pl >= sl && !strcmp(c->reqs[i].path + pl - sl, suffix))
            return (int)i;
    }
    return -1;
}

/* ---- request capture from the client's debug log --------------------- */

static int is_method(const char *s)
{
    static const char *const m[] = { "GET ", "POST ", "PUT ", "DELETE ", "PATCH ", NULL };
    for (size_t i = 0; m[i]; i++)
        if (!strncmp(s, m[i], strlen(m[i])) && s[strlen(m[i])] == '/')
            return 1;
    return 0;
}

static void append_text(char **dst, const char *line)
{
    size_t a = *dst ? strlen(*dst) : 0, b = strlen(line);
    char *n = realloc(*dst, a + b + 2);
    if (!n)
        return;
    memcpy(n + a, line, b);
    n[a + b] = '\n';
    n[a + b + 1] = 0;
    *dst = n;
}

static void on_log(kv_vipps_log_level lvl, const char *line, void *payload)
{
    kv_certify *c = payload;
    (void)lvl;
    if (line[0] != '>' || line[1] != ' ')
        return;
    const char *s = line + 2;
    if (is_method(s)) {
        if (c->nreqs == c->capreqs) {
            size_t n = c->capreqs ? c->capreqs * 2 : 64;
            cert_req *nr = realloc(c->reqs, n * sizeof *nr);
            if (!nr)
                return;
            c->reqs = nr;
            c->capreqs = n;
        }
        cert_req *r = &c->reqs[c->nreqs++];
        memset(r, 0, sizeof *r);
        const char *sp = strchr(s, ' ');
        snprintf(r->method, sizeof r->method, "%.*s", (int)(sp - s), s);
        snprintf(r->path, sizeof r->path, "%s", sp + 1);
        char *q = strchr(r->path, '?');
        if (q)
            *q = 0;
        c->in_req = 1;
        return;
    }
    if (!c->in_req || !c->nreqs)
        return;
    cert_req *r = &c->reqs[c->nreqs - 1];
    char buf[2048];
    if (!strncmp(s, "body ", 5)) {
        snprintf(buf, sizeof buf, "%s", s + 5);
        kvc_mask(c, buf);
        free(r->body);
        r->body = strdup(buf);
        return;
    }
    const char *colon = strchr(s, ':');
    if (!colon)
        return;
    size_t nl = (size_t)(colon - s);
    static const char *const secret[] = { "Authorization", "Ocp-Apim-Subscription-Key", "client_secret",
                                          "client_id", NULL };
    int hide = 0;
    for (size_t i = 0; secret[i]; i++)
        if (nl == strlen(secret[i]) && !strncasecmp(s, secret[i], nl))
            hide = 1;
    if (hide)
        snprintf(buf, sizeof buf, "%.*s: [masked]", (int)nl, s);
    else
        snprintf(buf, sizeof buf, "%s", s);
    kvc_mask(c, buf);
    append_text(&r->headers, buf);
}

/* ---- simulator detection ---------------------------------------------- */

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    char **b = ud;
    size_t old = *b ? strlen(*b) : 0, add = sz * n;
    if (old + add > (1u << 20))
        return 0;
    char *nb = realloc(*b, old + add + 1);
    if (!nb)
        return 0;
    memcpy(nb + old, p, add);
    nb[old + add] = 0;
    *b = nb;
    return add;
}

/* One request to the simulator's control endpoints; returns the status
 * (0 = no answer) and the body in *out (malloc'd) when out != NULL. */
long kvc_sim_http(const char *base, const char *method, const char *path, const char *body, char **out)
{
    CURL *h = curl_easy_init();
    if (!h)
        return 0;
    char url[1024];
    snprintf(url, sizeof url, "%s%s", base, path);
    char *resp = NULL;
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
    long st = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    if (out)
        *out = resp;
    else
        free(resp);
    return st;
}

static int loopback_http(const char *url)
{
    static const char *const pre[] = { "http://127.", "http://localhost:", "http://localhost/",
                                       "http://[::1]", NULL };
    for (size_t i = 0; pre[i]; i++)
        if (!strncmp(url, pre[i], strlen(pre[i])))
            return 1;
    return !strcmp(url, "http://localhost");
}

static kv_certify_env detect(const char *environment, const char *base)
{
    if (!strcmp(environment, "test"))
        return KV_CERTIFY_ENV_TEST;
    if (!strcmp(environment, "production"))
        return KV_CERTIFY_ENV_PRODUCTION;
    if (loopback_http(base)) {
        char *b = NULL;
        long st = kvc_sim_http(base, "GET", "/sim/v1/stats", NULL, &b);
        int sim = st == 200 && b && strstr(b, "\"requests\"");
        free(b);
        if (sim)
            return KV_CERTIFY_ENV_SIM;
    }
    if (!strncmp(base, "https://api.vipps.no", 20))
        return KV_CERTIFY_ENV_PRODUCTION;
    if (!strncmp(base, "https://apitest.vipps.no", 24))
        return KV_CERTIFY_ENV_TEST;
    return KV_CERTIFY_ENV_OTHER;
}

/* ---- open / run / close ------------------------------------------------ */

static int valid_run_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 16)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-')
            return 0;
    return 1;
}

kv_certify_status kv_certify_open(kv_certify **out, const kv_certify_options *o, char *err, size_t errlen)
{
    if (!out || !o || !o->cfg || o->version != KV_CERTIFY_OPTIONS_VERSION) {
        snprintf(err, errlen, "no configuration");
        return KV_CERTIFY_E_ARG;
    }
    const kv_store *st = kv_config_store(o->cfg, o->store_id);
    if (!st) {
        snprintf(err, errlen, "--store %s: no such [store] in %s", o->store_id ? o->store_id : "(default)",
                 kv_config_path(o->cfg));
        /* a --store the file lacks is bad input (exit 2, as pay and report);
         * a default_store it lacks is the configuration's problem */
        return o->store_id ? KV_CERTIFY_E_ARG : KV_CERTIFY_E_CONFIG;
    }
    const kv_credentials *cr = kv_config_credentials(o->cfg, st);
    if (!cr) {
        snprintf(err, errlen, "[store %s] credentials = %s: no such [credentials] section", st->id,
                 st->credentials);
        return KV_CERTIFY_E_CONFIG;
    }
    if (o->run_id && !valid_run_id(o->run_id)) {
        snprintf(err, errlen, "--run-id: 1-16 letters, digits or '-'");
        return KV_CERTIFY_E_ARG;
    }
    if (o->phone) {
        size_t n = strlen(o->phone);
        if (n < 10 || n > 15 || strspn(o->phone, "0123456789") != n) {
            snprintf(err, errlen, "--phone: an MSISDN of 10-15 digits with country code, e.g. 4791234567");
            return KV_CERTIFY_E_ARG;
        }
    }
    if (o->amount && (o->amount < 100 || o->amount > 100000000)) {
        snprintf(err, errlen, "--amount: from 1.00 to 1000000.00");
        return KV_CERTIFY_E_ARG;
    }
    if (o->force_approve && !o->phone) {
        snprintf(err, errlen, "--force-approve needs --phone (the test user to approve for)");
        return KV_CERTIFY_E_ARG;
    }
    kv_certify *c = calloc(1, sizeof *c);
    if (!c)
        return KV_CERTIFY_E_NOMEM;
    c->cfg = o->cfg;
    c->store = st;
    c->progress = o->progress;
    c->user = o->user;
    c->stop = o->stop;
    c->force_approve = o->force_approve;
    c->wait_for_app = o->wait_for_app;
    c->qr_design_approved = o->qr_design_approved;
    snprintf(c->phone, sizeof c->phone, "%s", o->phone ? o->phone : "");
    snprintf(c->out_dir, sizeof c->out_dir, "%s", o->out_dir ? o->out_dir : "");
    snprintf(c->mask[0], sizeof c->mask[0], "%s", cr->client_secret);
    snprintf(c->mask[1], sizeof c->mask[1], "%s", cr->subscription_key);
    snprintf(c->mask[2], sizeof c->mask[2], "%s", cr->client_id);
    snprintf(c->mask[3], sizeof c->mask[3], "%s", c->phone);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(c->started, sizeof c->started, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (o->run_id)
        snprintf(c->run_id, sizeof c->run_id, "%s", o->run_id);
    else
        strftime(c->run_id, sizeof c->run_id, "%Y%m%d%H%M%S", &tm);

    const kv_config_main *m = kv_config_main_get(o->cfg);
    kv_vipps_opts vo = KV_VIPPS_OPTS_INIT;
    vo.environment = m->environment;
    vo.client_id = cr->client_id;
    vo.client_secret = cr->client_secret;
    vo.subscription_key = cr->subscription_key;
    vo.msn = st->msn;
    vo.partner_keys = cr->partner;
    vo.system_name = m->system_name;
    vo.system_version = m->system_version;
    vo.plugin_name = m->plugin_name;
    vo.plugin_version = m->plugin_version;
    if (m->connect_timeout_ms > 0)
        vo.connect_timeout_ms = m->connect_timeout_ms;
    if (m->total_timeout_ms > 0)
        vo.total_timeout_ms = m->total_timeout_ms;
    vo.lang = KV_VIPPS_LANG_EN;
    vo.log = on_log;
    vo.log_payload = c;
    vo.log_level = KV_VIPPS_LOG_DEBUG;
    char cerr[256] = "";
    kv_vipps_status vs = kv_vipps_client_create(&c->client, &vo, cerr, sizeof cerr);
    if (vs != KV_VIPPS_OK) {
        snprintf(err, errlen, "store %s: %s%s%s", st->id, kv_vipps_strerror(vs), cerr[0] ? ": " : "", cerr);
        kv_certify_close(c);
        return vs == KV_VIPPS_E_NOMEM ? KV_CERTIFY_E_NOMEM : KV_CERTIFY_E_CONFIG;
    }
    snprintf(c->base_url, sizeof c->base_url, "%s", kv_vipps_base_url(c->client));
    c->env = detect(m->environment, c->base_url);
    int prod = c->env == KV_CERTIFY_ENV_PRODUCTION;
    if (c->force_approve && (prod || c->env == KV_CERTIFY_ENV_SIM)) {
        snprintf(err, errlen, "--force-approve works only in the test environment");
        kv_certify_close(c);
        return KV_CERTIFY_E_ARG;
    }
    c->amount = o->amount ? o->amount : prod ? 200 : 1000;
    c->approve_timeout_s = o->approve_timeout_s > 0 ? o->approve_timeout_s
                           : c->env == KV_CERTIFY_ENV_SIM ? 60 : 300;
    c->webhook_wait_s = o->webhook_wait_s > 0 ? o->webhook_wait_s : 20;
    size_t n = sizeof LINES / sizeof LINES[0];
    c->lines = calloc(n, sizeof *c->lines);
    if (!c->lines) {
        kv_certify_close(c);
        return KV_CERTIFY_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (LINES[i].production_only && !prod)
            continue;
        cert_line *l = &c->lines[c->nlines++];
        l->id = LINES[i].id;
        l->title = LINES[i].title;
        l->pay = -1;
        l->req = -1;
    }
    *out = c;
    return KV_CERTIFY_OK;
}

kv_certify_status kv_certify_run(kv_certify *c, char *err, size_t errlen)
{
    if (!c)
        return KV_CERTIFY_E_ARG;
    kvc_say(c, "checklist tour against %s (%s), store %s (MSN %s), references %s-cert-%s-N",
            kv_certify_env_name(c->env), c->base_url, c->store->id, c->store->msn,
            c->store->reference_prefix, c->run_id);
    kv_vipps_status vs = kv_vipps_token_warm(c->client);
    if (vs != KV_VIPPS_OK) {
        const kv_vipps_error *e = kv_vipps_last_error(c->client);
        snprintf(err, errlen, "access token from %s: %s%s%s", c->base_url, kv_vipps_strerror(vs),
                 e->log[0] ? ": " : "", e->log);
        kvc_mask(c, err);
        return vs == KV_VIPPS_E_AUTH ? KV_CERTIFY_E_CONFIG : KV_CERTIFY_E_UNREACHABLE;
    }
    kvc_webhooks_setup(c);
    kvc_tour(c);
    kvc_webhooks_check(c);
    kvc_finish(c);
    if (c->out_dir[0] && kvc_report_write(c, c->out_dir) != 0) {
        snprintf(err, errlen, "cannot write the report into %s", c->out_dir);
        return KV_CERTIFY_E_IO;
    }
    for (size_t i = 0; i < c->nlines; i++)
        if (c->lines[i].result != R_PASSED)
            return KV_CERTIFY_E_FAILED;
    return KV_CERTIFY_OK;
}

kv_certify_status kv_certify_write(kv_certify *c, const char *dir, char *err, size_t errlen)
{
    if (!c || !dir)
        return KV_CERTIFY_E_ARG;
    if (kvc_report_write(c, dir) != 0) {
        snprintf(err, errlen, "cannot write certify.md/certify.json into %s", dir);
        return KV_CERTIFY_E_IO;
    }
    return KV_CERTIFY_OK;
}

kv_certify_env kv_certify_environment(const kv_certify *c)
{
    return c ? c->env : KV_CERTIFY_ENV_OTHER;
}

size_t kv_certify_line_count(const kv_certify *c)
{
    return c ? c->nlines : 0;
}

int kv_certify_line_get(const kv_certify *c, size_t i, kv_certify_line_info *out)
{
    if (!c || !out || i >= c->nlines)
        return -1;
    const cert_line *l = &c->lines[i];
    out->id = l->id;
    out->title = l->title;
    out->result = kvc_result_name(l->result);
    out->reference = l->pay >= 0 ? c->pays[l->pay].ref : "";
    out->final_state = l->pay >= 0 ? c->pays[l->pay].final : "";
    out->reason = l->reason;
    return 0;
}

void kv_certify_close(kv_certify *c)
{
    if (!c)
        return;
    if (c->rx)
        kvc_rx_stop(c->rx);
    kv_vipps_client_destroy(c->client);
    for (size_t i = 0; i < c->nreqs; i++) {
        free(c->reqs[i].headers);
        free(c->reqs[i].body);
    }
    free(c->reqs);
    for (size_t i = 0; i < c->npays; i++)
        kv_vipps_events_free(c->pays[i].ev);
    free(c->lines);
    memset(c->mask, 0, sizeof c->mask);
    memset(c->phone, 0, sizeof c->phone);
    free(c);
}
