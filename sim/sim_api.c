/* sim_api.c - request routing, access tokens, ePayment v1, Order
 * Management, the Webhooks API, and the simulated customer. */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim_int.h"

#define MAXSEG 12

static const char *pstate_name(int st)
{
    switch (st) {
    case P_CREATED: return "CREATED";
    case P_AUTHORIZED: return "AUTHORIZED";
    case P_ABORTED: return "ABORTED";
    case P_EXPIRED: return "EXPIRED";
    case P_TERMINATED: return "TERMINATED";
    }
    return "CREATED";
}

void sim_count_key(sim_count **list, const char *key)
{
    for (sim_count *c = *list; c; c = c->next)
        if (strcmp(c->key, key) == 0) { c->n++; return; }
    sim_count *c = calloc(1, sizeof *c);
    if (!c) return;
    c->key = strdup(key);
    if (!c->key) { free(c); return; }
    c->n = 1;
    /* append to keep first-seen order */
    sim_count **pp = list;
    while (*pp) pp = &(*pp)->next;
    *pp = c;
}

sim_payment *sim_find(kv_sim *s, const char *msn, const char *ref, int ecom)
{
    for (sim_payment *p = s->pay; p; p = p->next)
        if (p->ecom == ecom && strcmp(p->ref, ref) == 0 && (!msn || strcmp(p->msn, msn) == 0))
            return p;
    return NULL;
}

static int match_pattern(const char *v, size_t minl, size_t maxl, const char *extra)
{
    size_t n = strlen(v);
    if (n < minl || n > maxl) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]) && !strchr(extra, v[i])) return 0;
    return 1;
}

static int all_digits(const char *v, size_t minl, size_t maxl)
{
    size_t n = strlen(v);
    if (n < minl || n > maxl) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)v[i])) return 0;
    return 1;
}

static int phone_known(kv_sim *s, const char *msisdn)
{
    size_t n = strlen(msisdn);
    const char *p = s->phones;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && strncmp(p, msisdn, n) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

int sim_phone_known(kv_sim *s, const char *msisdn)
{
    return phone_known(s, msisdn);
}

/* Integer JSON number in [lo, hi] -> 1 and *out. */
static int json_int(const cJSON *n, long long lo, long long hi, long long *out)
{
    if (!cJSON_IsNumber(n)) return 0;
    double v = n->valuedouble;
    if (v != floor(v) || v < (double)lo || v > (double)hi) return 0;
    *out = (long long)v;
    return 1;
}

static const char *json_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- rate limits ---- */
static int rate_hit(kv_sim *s, const char *key, int limit, double now, int *retry_after)
{
    if (limit <= 0) return 0;
    sim_rate *r;
    for (r = s->rate; r; r = r->next)
        if (strcmp(r->key, key) == 0) break;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return 0;
        r->key = strdup(key);
        r->t = calloc((size_t)limit, sizeof *r->t);
        if (!r->key || !r->t) { free(r->key); free(r->t); free(r); return 0; }
        r->limit = limit;
        r->next = s->rate;
        s->rate = r;
    }
    if (r->n == r->limit) {
        double oldest = r->t[r->head];
        if (now - oldest < 60.0) {
            *retry_after = (int)ceil(60.0 - (now - oldest));
            if (*retry_after < 1) *retry_after = 1;
            return 1;
        }
        r->t[r->head] = now;
        r->head = (r->head + 1) % r->limit;
        return 0;
    }
    r->t[(r->head + r->n) % r->limit] = now;
    r->n++;
    return 0;
}

static void too_many(sim_resp *r, int retry_after)
{
    char msg[96], ra[16];
    snprintf(msg, sizeof msg, "Rate limit is exceeded. Try again in %d seconds.", retry_after);
    sim_apim_error(r, 429, msg);
    snprintf(ra, sizeof ra, "%d", retry_after);
    sim_resp_header(r, "Retry-After", ra);
}

/* ---- idempotency ---- */
static int same_body(const char *a, const char *b)
{
    cJSON *x = cJSON_Parse(a), *y = cJSON_Parse(b);
    int eq;
    if (x && y) eq = cJSON_Compare(x, y, 1);
    else if (!x && !y) eq = strcmp(a, b) == 0;
    else eq = 0;
    cJSON_Delete(x);
    cJSON_Delete(y);
    return eq;
}

/* 1 = answered (replay or conflict), 0 = go on. */
int sim_idem_check(kv_sim *s, const sim_req *rq, sim_resp *r, const char *scope,
                   const char *key, int ecom, const char *conflict_code, const char *instance)
{
    for (sim_idem *i = s->idem; i; i = i->next) {
        if (strcmp(i->scope, scope) || strcmp(i->key, key)) continue;
        if (!same_body(i->req, rq->body)) {
            if (ecom)
                sim_ecom_error(s, r, 409, "VippsError", "93",
                               "Idempotent request must have identical body to the first request");
            else
                sim_problem(s, r, 409, "Conflict",
                            "The Idempotency-Key was used before with a different request body",
                            instance, conflict_code);
            return 1;
        }
        r->status = i->status;
        r->ctype = i->ctype;
        free(r->body);
        r->body = NULL;
        r->len = i->len;
        if (i->body) {
            r->body = malloc(i->len + 1);
            if (r->body) { memcpy(r->body, i->body, i->len); r->body[i->len] = 0; }
        }
        return 1;
    }
    return 0;
}

void sim_idem_store(kv_sim *s, const sim_req *rq, const sim_resp *r, const char *scope,
                    const char *key)
{
    if (r->status >= 500 || r->status == 429 || r->status == 0) return;
    sim_idem *i = calloc(1, sizeof *i);
    if (!i) return;
    i->scope = strdup(scope);
    i->key = strdup(key);
    i->req = strdup(rq->body);
    i->status = r->status;
    i->ctype = r->ctype;
    i->len = r->len;
    if (r->body) {
        i->body = malloc(r->len + 1);
        if (i->body) { memcpy(i->body, r->body, r->len); i->body[r->len] = 0; }
    }
    i->next = s->idem;
    s->idem = i;
}

/* ---- authentication ---- */
static int find_cred_by_sub(const char *sub)
{
    size_t n;
    const kv_sim_cred *c = sim_creds(&n);
    for (size_t i = 0; i < n; i++)
        if (sub && strcmp(sub, c[i].subscription_key) == 0) return (int)i;
    return -1;
}

static int msn_exists(const char *msn)
{
    size_t n;
    const kv_sim_cred *c = sim_creds(&n);
    for (size_t i = 0; i < n; i++)
        if (!c[i].partner && strcmp(c[i].msn, msn) == 0) return 1;
    return 0;
}

/* Check token, subscription key and MSN of an API call. 0 ok, -1 answered. */
static int authenticate(kv_sim *s, const sim_req *rq, sim_resp *r, int ecom, int *credp,
                        char msn[16])
{
    const char *sub = sim_header(rq, "Ocp-Apim-Subscription-Key");
    if (!sub || !*sub) {
        sim_apim_error(r, 401, "Access denied due to missing subscription key. Make sure to "
                               "include subscription key when making requests to an API.");
        return -1;
    }
    int ci = find_cred_by_sub(sub);
    if (ci < 0) {
        sim_apim_error(r, 401, "Access denied due to invalid subscription key. Make sure to "
                               "provide a valid key for an active subscription.");
        return -1;
    }
    const char *a = sim_header(rq, "Authorization");
    if (!a || strncmp(a, "Bearer ", 7) != 0 || !a[7]) {
        sim_apim_error(r, 401, "Unauthorized. Access token is missing or invalid.");
        return -1;
    }
    double now = sim_now();
    sim_token *t;
    for (t = s->tok; t; t = t->next)
        if (strcmp(t->token, a + 7) == 0) break;
    if (!t || t->cred != ci) {
        sim_apim_error(r, 401, "Unauthorized. Access token is missing or invalid.");
        return -1;
    }
    if (now >= t->expires_at) {
        sim_apim_error(r, 401, "Unauthorized. Access token has expired.");
        return -1;
    }
    size_t n;
    const kv_sim_cred *c = sim_creds(&n);
    const char *h = sim_header(rq, "Merchant-Serial-Number");
    if (c[ci].partner) {
        if (!h || !msn_exists(h)) {
            const char *msg = h ? "Merchant Not Allowed: the Merchant-Serial-Number is not "
                                  "connected to these partner keys"
                                : "Merchant-Serial-Number header is required with partner keys";
            if (ecom) sim_ecom_error(s, r, 403, "Merchant", "37", msg);
            else sim_problem(s, r, 403, "Forbidden", msg, NULL, NULL);
            return -1;
        }
        snprintf(msn, 16, "%s", h);
    } else {
        if (h && strcmp(h, c[ci].msn) != 0) {
            const char *msg = "Merchant Not Allowed: the Merchant-Serial-Number does not "
                              "belong to these keys";
            if (ecom) sim_ecom_error(s, r, 403, "Merchant", "37", msg);
            else sim_problem(s, r, 403, "Forbidden", msg, NULL, NULL);
            return -1;
        }
        snprintf(msn, 16, "%s", c[ci].msn);
    }
    *credp = ci;
    return 0;
}

/* ---- POST /accesstoken/get ---- */
static void aad_error(kv_sim *s, sim_resp *r, int status, const char *err, const char *desc,
                      int code)
{
    cJSON *o = cJSON_CreateObject();
    char ts[40], trace[37], corr[37];
    sim_rfc3339(sim_now(), ts);
    sim_uuid(s, trace);
    sim_uuid(s, corr);
    cJSON_AddStringToObject(o, "error", err);
    cJSON_AddStringToObject(o, "error_description", desc);
    cJSON *codes = cJSON_AddArrayToObject(o, "error_codes");
    cJSON_AddItemToArray(codes, cJSON_CreateNumber(code));
    cJSON_AddStringToObject(o, "timestamp", ts);
    cJSON_AddStringToObject(o, "trace_id", trace);
    cJSON_AddStringToObject(o, "correlation_id", corr);
    sim_resp_json(r, status, o);
}

static void access_token(kv_sim *s, const sim_req *rq, sim_resp *r, double now)
{
    const char *id = sim_header(rq, "client_id");
    const char *sec = sim_header(rq, "client_secret");
    const char *sub = sim_header(rq, "Ocp-Apim-Subscription-Key");
    if (!sub || !*sub) {
        sim_apim_error(r, 401, "Access denied due to missing subscription key. Make sure to "
                               "include subscription key when making requests to an API.");
        return;
    }
    size_t n;
    const kv_sim_cred *c = sim_creds(&n);
    int ci = -1;
    for (size_t i = 0; i < n; i++)
        if (id && strcmp(id, c[i].client_id) == 0) ci = (int)i;
    if (!id || !sec) {
        aad_error(s, r, 400, "invalid_request",
                  "AADSTS900144: The request body must contain the client_id and client_secret headers.",
                  900144);
        return;
    }
    if (ci < 0) {
        aad_error(s, r, 401, "unauthorized_client",
                  "AADSTS700016: Application with the given identifier was not found.", 700016);
        return;
    }
    if (strcmp(sec, c[ci].client_secret) != 0) {
        aad_error(s, r, 401, "invalid_client", "AADSTS7000215: Invalid client secret provided.",
                  7000215);
        return;
    }
    if (strcmp(sub, c[ci].subscription_key) != 0) {
        sim_apim_error(r, 401, "Access denied due to invalid subscription key. Make sure to "
                               "provide a valid key for an active subscription.");
        return;
    }
    const char *h = sim_header(rq, "Merchant-Serial-Number");
    if (c[ci].partner ? (!h || !msn_exists(h)) : (h && strcmp(h, c[ci].msn) != 0)) {
        sim_problem(s, r, 403, "Forbidden",
                    "Merchant Not Allowed: the Merchant-Serial-Number is missing or not valid "
                    "for these keys", NULL, NULL);
        return;
    }
    /* A JWT-shaped opaque token, ~1100 characters like the real ones. */
    char tid[37], sig[343], pad[241];
    sim_uuid(s, tid);
    sim_rand_hex(s, sig, 342);
    sim_rand_hex(s, pad, 240);
    long iat = (long)now, exp = (long)now + s->o.token_ttl_s;
    char *hdr = sim_printf("{\"typ\":\"JWT\",\"alg\":\"RS256\",\"x5t\":\"%.27s\",\"kid\":\"%.27s\"}",
                           pad, pad + 27);
    char *pl = sim_printf("{\"aud\":\"00000002-0000-0000-c000-000000000000\","
                          "\"iss\":\"https://sts.windows.net/%s/\",\"iat\":%ld,\"nbf\":%ld,"
                          "\"exp\":%ld,\"appid\":\"%s\",\"tid\":\"%s\",\"sim\":\"%s\"}",
                          tid, iat, iat, exp, c[ci].client_id, tid, pad + 54);
    char *h64 = hdr ? sim_b64((unsigned char *)hdr, strlen(hdr), 1) : NULL;
    char *p64 = pl ? sim_b64((unsigned char *)pl, strlen(pl), 1) : NULL;
    char *tok = (h64 && p64) ? sim_printf("%s.%s.%s", h64, p64, sig) : NULL;
    free(hdr); free(pl); free(h64); free(p64);
    sim_token *t = tok ? calloc(1, sizeof *t) : NULL;
    if (!t) { free(tok); sim_apim_error(r, 500, "Internal server error"); return; }
    t->token = tok;
    t->cred = ci;
    t->expires_at = now + s->o.token_ttl_s;
    t->next = s->tok;
    s->tok = t;
    s->tokens_issued++;
    /* forget long-expired tokens */
    for (sim_token **pp = &s->tok; *pp;) {
        if ((*pp)->expires_at + 3600 < now) {
            sim_token *d = *pp; *pp = d->next; free(d->token); free(d);
        } else pp = &(*pp)->next;
    }
    char buf[32];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "token_type", "Bearer");
    snprintf(buf, sizeof buf, "%d", s->o.token_ttl_s);
    cJSON_AddStringToObject(o, "expires_in", buf);
    cJSON_AddStringToObject(o, "ext_expires_in", "0");
    snprintf(buf, sizeof buf, "%ld", exp);
    cJSON_AddStringToObject(o, "expires_on", buf);
    snprintf(buf, sizeof buf, "%ld", iat);
    cJSON_AddStringToObject(o, "not_before", buf);
    cJSON_AddStringToObject(o, "resource", "00000002-0000-0000-c000-000000000000");
    cJSON_AddStringToObject(o, "access_token", tok);
    sim_resp_json(r, 200, o);
}

/* ---- ePayment events and webhooks ---- */
static sim_event *add_event(sim_payment *p, const char *name, long long value,
                            const char *idem, int success, const char *psp, double now)
{
    if (p->nev == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 8;
        sim_event *ne = realloc(p->ev, nc * sizeof *ne);
        if (!ne) return NULL;
        p->ev = ne;
        p->cap = nc;
    }
    sim_event *e = &p->ev[p->nev++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->value = value;
    snprintf(e->psp, sizeof e->psp, "%s", psp);
    sim_rfc3339(now, e->ts);
    e->idem = idem ? strdup(idem) : NULL;
    e->success = success;
    return e;
}

static void new_psp(kv_sim *s, char out[40])
{
    snprintf(out, 40, "%llu", 1000000000ULL + sim_rand(s) % 9000000000ULL);
}

static cJSON *amount_json(const char *cur, long long v)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "currency", cur);
    cJSON_AddNumberToObject(a, "value", (double)v);
    return a;
}

static cJSON *event_json(const sim_payment *p, const sim_event *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "reference", p->ref);
    cJSON_AddStringToObject(o, "pspReference", e->psp);
    cJSON_AddStringToObject(o, "name", e->name);
    cJSON_AddItemToObject(o, "amount", amount_json(p->currency, e->value));
    cJSON_AddStringToObject(o, "timestamp", e->ts);
    if (e->idem) cJSON_AddStringToObject(o, "idempotencyKey", e->idem);
    else cJSON_AddNullToObject(o, "idempotencyKey");
    cJSON_AddBoolToObject(o, "success", e->success);
    return o;
}

static void epay_event(kv_sim *s, sim_payment *p, const char *name, long long value,
                       const char *idem, int success, double now)
{
    char psp[40];
    if (strcmp(name, "CREATED") == 0) snprintf(psp, sizeof psp, "%s", p->psp);
    else new_psp(s, psp);
    sim_event *e = add_event(p, name, value, idem, success, psp, now);
    if (!e) return;
    char evname[64];
    snprintf(evname, sizeof evname, "epayments.payment.%s.v1", name);
    for (char *c = evname; *c; c++) *c = (char)tolower((unsigned char)*c);
    for (sim_hook *h = s->hooks; h; h = h->next) {
        if (strcmp(h->msn, p->msn) != 0) continue;
        int want = 0;
        for (int i = 0; i < h->nevents; i++)
            if (strcmp(h->events[i], evname) == 0) want = 1;
        if (!want) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "msn", p->msn);
        cJSON_AddStringToObject(o, "reference", p->ref);
        cJSON_AddStringToObject(o, "pspReference", e->psp);
        cJSON_AddStringToObject(o, "name", e->name);
        cJSON_AddItemToObject(o, "amount", amount_json(p->currency, e->value));
        cJSON_AddStringToObject(o, "timestamp", e->ts);
        if (e->idem) cJSON_AddStringToObject(o, "idempotencyKey", e->idem);
        else cJSON_AddNullToObject(o, "idempotencyKey");
        cJSON_AddBoolToObject(o, "success", e->success);
        char *body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (body) {
            sim_enqueue(s, h->id, p->ref, evname, h->url, body, h->secret, NULL,
                        s->o.webhook_max_attempts);
            free(body);
        }
    }
}

/* ---- the simulated customer ---- */
static int magic_decline(long long amount)
{
    switch (amount) {
    case 151: case 182: case 183: case 184: case 186: case 187: case 197: case 202:
        return 1;
    default:
        return 0;
    }
}

static const char *ecom_decline_code(long long amount)
{
    switch (amount) {
    case 151: return "42";   /* insufficient funds: refused by issuer */
    case 182: return "42";
    case 183: return "42";
    case 184: return "42";
    case 186: return "44";   /* expired card */
    case 187: return "41";   /* invalid card */
    default: return "45";
    }
}

/* 0 approved, 1 declined (magic amount), 2 pending (magic 201), -1 wrong state. */
int sim_customer_approve(kv_sim *s, sim_payment *p, double now)
{
    if (p->ecom) {
        if (p->state != E_INITIATE || p->unknown_until > 0) return -1;
        p->opened = 1;
        if (magic_decline(p->amount)) {
            sim_ecom_log(s, p, "RESERVE", p->amount, 0, NULL, p->txtext);
            p->state = E_FAILED;
            sim_ecom_callback(s, p, "RESERVE_FAILED", ecom_decline_code(p->amount),
                              "Payment refused (test amount)");
            return 1;
        }
        if (p->amount == 201) { p->unknown_until = now + s->o.unknown_after_s; return 2; }
        p->state = E_RESERVE;
        p->authorized = p->amount;
        sim_ecom_log(s, p, "RESERVE", p->amount, 1, NULL, p->txtext);
        sim_ecom_callback(s, p, "RESERVED", NULL, NULL);
        return 0;
    }
    if (p->state != P_CREATED || p->unknown_until > 0) return -1;
    if (magic_decline(p->amount)) {
        epay_event(s, p, "AUTHORIZED", p->amount, NULL, 0, now);
        p->state = P_ABORTED;
        epay_event(s, p, "ABORTED", p->amount, NULL, 1, now);
        return 1;
    }
    if (p->amount == 201) { p->unknown_until = now + s->o.unknown_after_s; return 2; }
    p->state = P_AUTHORIZED;
    p->authorized = p->amount;
    epay_event(s, p, "AUTHORIZED", p->amount, NULL, 1, now);
    return 0;
}

int sim_customer_abort(kv_sim *s, sim_payment *p, double now)
{
    if (p->ecom) {
        if (p->state != E_INITIATE) return -1;
        p->state = E_CANCEL;
        sim_ecom_log(s, p, "CANCEL", p->amount, 1, NULL, p->txtext);
        sim_ecom_callback(s, p, "CANCELLED", NULL, NULL);
        return 0;
    }
    if (p->state != P_CREATED) return -1;
    p->state = P_ABORTED;
    epay_event(s, p, "ABORTED", p->amount, NULL, 1, now);
    return 0;
}

int sim_customer_expire(kv_sim *s, sim_payment *p, double now)
{
    if (p->ecom) {
        if (p->state != E_INITIATE) return -1;
        p->state = E_REJECTED;
        sim_ecom_log(s, p, "CANCEL", p->amount, 1, NULL, "User has not acted upon the payment");
        sim_ecom_callback(s, p, "REJECTED", "45", "User has not acted upon the payment");
        return 0;
    }
    if (p->state != P_CREATED) return -1;
    p->state = P_EXPIRED;
    epay_event(s, p, "EXPIRED", p->amount, NULL, 1, now);
    return 0;
}

void sim_tick(kv_sim *s, double now)
{
    for (sim_payment *p = s->pay; p; p = p->next) {
        int pending = p->ecom ? p->state == E_INITIATE : p->state == P_CREATED;
        if (!pending) continue;
        if (p->unknown_until > 0) {
            if (now >= p->unknown_until) { p->unknown_until = 0; sim_customer_expire(s, p, now); }
            continue;
        }
        if (p->auto_at > 0 && now >= p->auto_at) {
            p->auto_at = 0;
            switch (p->auto_action) {
            case KV_SIM_AUTO_APPROVE: sim_customer_approve(s, p, now); break;
            case KV_SIM_AUTO_ABORT: sim_customer_abort(s, p, now); break;
            case KV_SIM_AUTO_EXPIRE: sim_customer_expire(s, p, now); break;
            default: break;
            }
            continue;
        }
        if (now >= p->expires_at) sim_customer_expire(s, p, now);
    }
}

/* ---- ePayment ---- */
static cJSON *aggregate_json(const sim_payment *p)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddItemToObject(a, "authorizedAmount", amount_json(p->currency, p->authorized));
    cJSON_AddItemToObject(a, "cancelledAmount", amount_json(p->currency, p->cancelled));
    cJSON_AddItemToObject(a, "capturedAmount", amount_json(p->currency, p->captured));
    cJSON_AddItemToObject(a, "refundedAmount", amount_json(p->currency, p->refunded));
    return a;
}

static void payment_reply(sim_resp *r, const sim_payment *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "aggregate", aggregate_json(p));
    cJSON_AddItemToObject(o, "amount", amount_json(p->currency, p->amount));
    cJSON_AddStringToObject(o, "state", pstate_name(p->state));
    cJSON *pm = cJSON_AddObjectToObject(o, "paymentMethod");
    cJSON_AddStringToObject(pm, "type", "WALLET");
    cJSON_AddObjectToObject(o, "profile");
    cJSON_AddStringToObject(o, "pspReference", p->psp);
    if (p->redirect_url) cJSON_AddStringToObject(o, "redirectUrl", p->redirect_url);
    cJSON_AddStringToObject(o, "reference", p->ref);
    if (p->metadata) cJSON_AddItemToObject(o, "metadata", cJSON_Duplicate(p->metadata, 1));
    sim_resp_json(r, 200, o);
}

static void modification_reply(kv_sim *s, sim_resp *r, const sim_payment *p)
{
    cJSON *o = cJSON_CreateObject();
    char psp[40];
    snprintf(psp, sizeof psp, "%s", p->nev ? p->ev[p->nev - 1].psp : p->psp);
    (void)s;
    cJSON_AddItemToObject(o, "amount", amount_json(p->currency, p->amount));
    cJSON_AddStringToObject(o, "state", pstate_name(p->state));
    cJSON_AddItemToObject(o, "aggregate", aggregate_json(p));
    cJSON_AddStringToObject(o, "pspReference", psp);
    cJSON_AddStringToObject(o, "reference", p->ref);
    sim_resp_json(r, 200, o);
}

static int parse_rfc3339(const char *v, double *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *e = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!e) return -1;
    while (*e == '.' || isdigit((unsigned char)*e)) e++;
    long off = 0;
    if (*e == '+' || *e == '-') {
        int hh = 0, mm = 0;
        if (sscanf(e + 1, "%d:%d", &hh, &mm) != 2) return -1;
        off = (hh * 3600L + mm * 60L) * (*e == '+' ? 1 : -1);
    } else if (*e != 'Z' && *e != 'z') return -1;
    *out = (double)(timegm(&tm) - off);
    return 0;
}

static void register_qr(kv_sim *s, const char *token, const char *target, double expires)
{
    sim_qr *q = calloc(1, sizeof *q);
    if (!q) return;
    snprintf(q->token, sizeof q->token, "%s", token);
    q->target = strdup(target);
    q->expires_at = expires;
    q->next = s->qrs;
    s->qrs = q;
}

/* Returns 1 when the request was answered with a validation error. */
static int check_receipt(kv_sim *s, sim_resp *r, const cJSON *rc, const char *instance, int epay)
{
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(rc, "orderLines");
    const cJSON *bl = cJSON_GetObjectItemCaseSensitive(rc, "bottomLine");
    const char *bad = NULL;
    if (!cJSON_IsObject(rc)) bad = "receipt";
    else if (!cJSON_IsArray(lines) || cJSON_GetArraySize(lines) < 1) bad = "orderLines";
    else if (!cJSON_IsObject(bl) || !json_str(bl, "currency")) bad = "bottomLine.currency";
    else {
        const cJSON *l;
        cJSON_ArrayForEach(l, lines) {
            long long v;
            if (!json_str(l, "name") || !json_str(l, "id")) { bad = "orderLines.name/id"; break; }
            if (!json_int(cJSON_GetObjectItemCaseSensitive(l, "totalAmount"), LLONG_MIN / 2, LLONG_MAX / 2, &v) ||
                !json_int(cJSON_GetObjectItemCaseSensitive(l, "totalAmountExcludingTax"), LLONG_MIN / 2, LLONG_MAX / 2, &v) ||
                !json_int(cJSON_GetObjectItemCaseSensitive(l, "totalTaxAmount"), LLONG_MIN / 2, LLONG_MAX / 2, &v)) {
                bad = "orderLines.totalAmount";
                break;
            }
            const cJSON *tr = cJSON_GetObjectItemCaseSensitive(l, "taxRate");
            const cJSON *tp = cJSON_GetObjectItemCaseSensitive(l, "taxPercentage");
            if (!(tr && json_int(tr, 0, 10000, &v)) && !(tp && json_int(tp, 0, 100, &v))) {
                bad = "orderLines.taxRate";
                break;
            }
        }
    }
    if (!bad) return 0;
    char msg[128];
    snprintf(msg, sizeof msg, "The receipt is invalid: %s", bad);
    sim_problem_field(s, r, 400, msg, instance, epay ? "Receipt" : bad);
    return 1;
}

static void store_receipt(kv_sim *s, const char *msn, const char *type, const char *order,
                          const cJSON *receipt)
{
    sim_receipt *x = calloc(1, sizeof *x);
    if (!x) return;
    snprintf(x->msn, sizeof x->msn, "%s", msn);
    snprintf(x->type, sizeof x->type, "%s", type);
    x->order_id = strdup(order);
    x->receipt = cJSON_Duplicate(receipt, 1);
    x->next = s->receipts;
    s->receipts = x;
}

static sim_receipt *find_receipt(kv_sim *s, const char *msn, const char *type, const char *order)
{
    for (sim_receipt *x = s->receipts; x; x = x->next)
        if (!strcmp(x->msn, msn) && !strcasecmp(x->type, type) && !strcmp(x->order_id, order))
            return x;
    return NULL;
}

static void epay_create(kv_sim *s, const sim_req *rq, sim_resp *r, int ci, const char *msn,
                        double now)
{
    const char *inst = "/v1/payments";
    const char *key = sim_header(rq, "Idempotency-Key");
    if (!key || !*key) {
        sim_problem_field(s, r, 400, "The Idempotency-Key header is required", inst, "Idempotency-Key");
        return;
    }
    if (strlen(key) > 50) {
        sim_problem_field(s, r, 400, "The Idempotency-Key must be at most 50 characters", inst,
                          "Idempotency-Key");
        return;
    }
    cJSON *b = cJSON_Parse(rq->body);
    if (!cJSON_IsObject(b)) {
        cJSON_Delete(b);
        sim_problem_field(s, r, 400, "The request body is not a valid JSON object", inst, "body");
        return;
    }
    const char *ref = json_str(b, "reference");
    char *rk = sim_printf("create %s %s", msn, ref ? ref : "");
    int ra;
    if (rk && rate_hit(s, rk, s->o.rate_mod_per_min, now, &ra)) {
        free(rk); cJSON_Delete(b); too_many(r, ra); return;
    }
    free(rk);
    char *scope = sim_printf("%s POST /epayment/v1/payments", msn);
    if (!scope) { cJSON_Delete(b); sim_apim_error(r, 500, "Internal server error"); return; }
    if (sim_idem_check(s, rq, r, scope, key, 0, "4020", inst)) { free(scope); cJSON_Delete(b); return; }

    const cJSON *amt = cJSON_GetObjectItemCaseSensitive(b, "amount");
    const cJSON *pm = cJSON_GetObjectItemCaseSensitive(b, "paymentMethod");
    const char *uf = json_str(b, "userFlow");
    const cJSON *cust = cJSON_GetObjectItemCaseSensitive(b, "customer");
    const cJSON *qf = cJSON_GetObjectItemCaseSensitive(b, "qrFormat");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(b, "metadata");
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(b, "receipt");
    const char *desc = json_str(b, "paymentDescription");
    const char *ci_s = json_str(b, "customerInteraction");
    const char *ret = json_str(b, "returnUrl");
    const char *exp = json_str(b, "expiresAt");
    const char *cur = cJSON_IsObject(amt) ? json_str(amt, "currency") : NULL;
    long long value = 0;
    const char *phone = NULL, *qfmt = "IMAGE/SVG+XML";
    long long qsize = 1024;
    double expires_at = now + s->o.expire_after_s;

    if (!cJSON_IsObject(amt) || !cJSON_GetObjectItemCaseSensitive(amt, "value") || !cur) {
        sim_problem_field(s, r, 400, "The Amount field is required (value and currency)", inst, "Amount");
        goto done;
    }
    if (!json_int(cJSON_GetObjectItemCaseSensitive(amt, "value"), 0, 65000000, &value)) {
        sim_problem(s, r, 400, "Bad Request", "Invalid amount: must be an integer in minor units",
                    inst, "4040");
        goto done;
    }
    if (strcmp(cur, "NOK") && strcmp(cur, "DKK") && strcmp(cur, "EUR")) {
        sim_problem_field(s, r, 400, "Currency must be NOK, DKK or EUR", inst, "Amount.Currency");
        goto done;
    }
    if (strcmp(cur, "NOK") != 0) {
        sim_problem(s, r, 400, "Bad Request", "Invalid currency for this merchant", inst, "5040");
        goto done;
    }
    if (value < 100) {
        sim_problem(s, r, 400, "Bad Request", "The amount is too small", inst, "6010");
        goto done;
    }
    if (!ref || !match_pattern(ref, 8, 50, "-")) {
        sim_problem_field(s, r, 400, "The Reference must match ^[a-zA-Z0-9-]{8,50}$", inst, "Reference");
        goto done;
    }
    if (!cJSON_IsObject(pm) || !json_str(pm, "type")) {
        sim_problem_field(s, r, 400, "The PaymentMethod field is required", inst, "PaymentMethod");
        goto done;
    }
    if (strcmp(json_str(pm, "type"), "WALLET") != 0) {
        sim_problem(s, r, 400, "Bad Request", "Invalid payment method type (only WALLET in test)",
                    inst, "4160");
        goto done;
    }
    if (!uf || (strcmp(uf, "QR") && strcmp(uf, "PUSH_MESSAGE") && strcmp(uf, "WEB_REDIRECT") &&
                strcmp(uf, "NATIVE_REDIRECT"))) {
        sim_problem_field(s, r, 400, "UserFlow must be PUSH_MESSAGE, NATIVE_REDIRECT, WEB_REDIRECT or QR",
                          inst, "UserFlow");
        goto done;
    }
    if (ci_s && strcmp(ci_s, "CUSTOMER_PRESENT") && strcmp(ci_s, "CUSTOMER_NOT_PRESENT")) {
        sim_problem_field(s, r, 400, "CustomerInteraction must be CUSTOMER_PRESENT or CUSTOMER_NOT_PRESENT",
                          inst, "CustomerInteraction");
        goto done;
    }
    if (desc && (strlen(desc) < 3 || strlen(desc) > 100)) {
        sim_problem_field(s, r, 400, "PaymentDescription must be 3-100 characters", inst,
                          "PaymentDescription");
        goto done;
    }
    if (qf) {
        if (strcmp(uf, "QR") != 0 || !cJSON_IsObject(qf) || !json_str(qf, "format")) {
            sim_problem_field(s, r, 400, "QrFormat.Format is required and only allowed with userFlow QR",
                              inst, "QrFormat");
            goto done;
        }
        qfmt = json_str(qf, "format");
        if (strcmp(qfmt, "IMAGE/SVG+XML") && strcmp(qfmt, "IMAGE/PNG") && strcmp(qfmt, "TEXT/TARGETURL")) {
            sim_problem_field(s, r, 400, "QrFormat.Format must be IMAGE/SVG+XML, IMAGE/PNG or TEXT/TARGETURL",
                              inst, "QrFormat.Format");
            goto done;
        }
        const cJSON *sz = cJSON_GetObjectItemCaseSensitive(qf, "size");
        if (sz && !cJSON_IsNull(sz) && !json_int(sz, 100, 2000, &qsize)) {
            sim_problem_field(s, r, 400, "QrFormat.Size must be 100-2000", inst, "QrFormat.Size");
            goto done;
        }
    }
    if (cust && !cJSON_IsNull(cust)) {
        int nfields = cJSON_IsObject(cust) ? cJSON_GetArraySize(cust) : 0;
        if (nfields != 1) {
            sim_problem_field(s, r, 400, "Customer must have exactly one of phoneNumber, personalQr, customerToken",
                              inst, "Customer");
            goto done;
        }
        if (cJSON_GetObjectItemCaseSensitive(cust, "personalQr")) {
            sim_problem(s, r, 400, "Bad Request", "Invalid personalQr", inst, "4060");
            goto done;
        }
        if (cJSON_GetObjectItemCaseSensitive(cust, "customerToken")) {
            sim_problem(s, r, 400, "Bad Request", "Invalid customerToken", inst, "4050");
            goto done;
        }
        phone = json_str(cust, "phoneNumber");
        if (!phone || !all_digits(phone, 10, 15)) {
            sim_problem(s, r, 400, "Bad Request", "Invalid phone number format", inst, "4070");
            goto done;
        }
    }
    if (!strcmp(uf, "PUSH_MESSAGE") && !phone) {
        sim_problem_field(s, r, 400, "Customer is required for userFlow PUSH_MESSAGE", inst, "Customer");
        goto done;
    }
    if (!strcmp(uf, "WEB_REDIRECT") && !ret) {
        sim_problem_field(s, r, 400, "ReturnUrl is required for userFlow WEB_REDIRECT", inst, "ReturnUrl");
        goto done;
    }
    if (ret && !strstr(ret, "://")) {
        sim_problem(s, r, 400, "Bad Request", "Invalid returnUrl", inst, "4090");
        goto done;
    }
    if (md && !cJSON_IsNull(md)) {
        if (!cJSON_IsObject(md) || cJSON_GetArraySize(md) > 5) {
            sim_problem(s, r, 400, "Bad Request", "Metadata holds at most 5 pairs", inst, "4100");
            goto done;
        }
        const cJSON *kv;
        int bad = 0;
        cJSON_ArrayForEach(kv, md) {
            if (strlen(kv->string) > 100) { bad = 4120; break; }
            if (!cJSON_IsString(kv) || strlen(kv->valuestring) > 500) { bad = 4130; break; }
        }
        if (bad) {
            char code[8];
            snprintf(code, sizeof code, "%d", bad);
            sim_problem(s, r, 400, "Bad Request", "Metadata key or value too long", inst, code);
            goto done;
        }
    }
    if (rc && !cJSON_IsNull(rc) && check_receipt(s, r, rc, inst, 1)) goto done;
    if (exp) {
        double t;
        if (parse_rfc3339(exp, &t) < 0) {
            sim_problem_field(s, r, 400, "ExpiresAt must be an RFC 3339 date-time", inst, "ExpiresAt");
            goto done;
        }
        if (strcmp(uf, "QR") && strcmp(uf, "PUSH_MESSAGE")) {
            sim_problem(s, r, 400, "Bad Request", "Long-living payments need userFlow QR or PUSH_MESSAGE",
                        inst, "5050");
            goto done;
        }
        if (!rc || cJSON_IsNull(rc)) {
            sim_problem(s, r, 400, "Bad Request", "A long-living payment requires a receipt", inst, "6130");
            goto done;
        }
        if (t > now + 60.0 * 86400) {
            sim_problem(s, r, 400, "Bad Request", "expiresAt is too far in the future", inst, "6110");
            goto done;
        }
        if (t < now + 600) {
            sim_problem(s, r, 400, "Bad Request", "expiresAt is too soon", inst, "6120");
            goto done;
        }
        expires_at = t;
    }
    if (phone && !phone_known(s, phone)) {
        sim_problem(s, r, 400, "Bad Request",
                    "The customer cannot pay with Vipps MobilePay", inst, "7010");
        goto done;
    }
    if (sim_find(s, msn, ref, 0)) {
        sim_problem(s, r, 409, "Conflict", "Reference exists", inst, "4150");
        goto done;
    }
    sim_payment *p = calloc(1, sizeof *p);
    if (!p) { sim_apim_error(r, 500, "Internal server error"); goto done; }
    snprintf(p->msn, sizeof p->msn, "%s", msn);
    snprintf(p->ref, sizeof p->ref, "%s", ref);
    snprintf(p->currency, sizeof p->currency, "%s", cur);
    p->amount = value;
    p->state = P_CREATED;
    new_psp(s, p->psp);
    sim_rand_hex(s, p->token, 32);
    snprintf(p->userflow, sizeof p->userflow, "%s", uf);
    snprintf(p->qrformat, sizeof p->qrformat, "%s", qfmt);
    p->qrsize = (int)qsize;
    p->phone = phone ? strdup(phone) : NULL;
    p->metadata = (md && cJSON_IsObject(md)) ? cJSON_Duplicate(md, 1) : NULL;
    p->description = desc ? strdup(desc) : NULL;
    p->created_at = now;
    p->expires_at = expires_at;
    if (s->o.auto_mode != KV_SIM_AUTO_NONE) {
        p->auto_action = s->o.auto_mode;
        p->auto_at = now + s->o.approve_after_ms / 1000.0;
    }
    char *target = sim_printf("https://qr.vipps.no/28/2/01/031/%s", p->token);
    if (!strcmp(uf, "QR")) {
        if (!strcmp(qfmt, "TEXT/TARGETURL")) p->redirect_url = sim_strdup(target);
        else if (!strcmp(qfmt, "IMAGE/PNG"))
            p->redirect_url = sim_printf("%s/sim/v1/qr/%s.png?size=%d", s->url, p->token, p->qrsize);
        else p->redirect_url = sim_printf("%s/sim/v1/qr/%s.svg", s->url, p->token);
        if (target) register_qr(s, p->token, target, expires_at);
    } else if (!strcmp(uf, "WEB_REDIRECT")) {
        p->redirect_url = sim_printf("%s/sim/v1/landing/%s", s->url, p->token);
    } else if (!strcmp(uf, "NATIVE_REDIRECT")) {
        p->redirect_url = sim_printf("vippsMT://?token=%s", p->token);
    }
    free(target);
    p->next = s->pay;
    s->pay = p;
    if (rc && cJSON_IsObject(rc) && !find_receipt(s, msn, "ECOM", ref))
        store_receipt(s, msn, "ECOM", ref, rc);
    epay_event(s, p, "CREATED", value, key, 1, now);
    cJSON *o = cJSON_CreateObject();
    if (p->redirect_url) cJSON_AddStringToObject(o, "redirectUrl", p->redirect_url);
    cJSON_AddStringToObject(o, "reference", p->ref);
    sim_resp_json(r, 201, o);
    (void)ci;
done:
    sim_idem_store(s, rq, r, scope, key);
    free(scope);
    cJSON_Delete(b);
}

static void epay_modify(kv_sim *s, const sim_req *rq, sim_resp *r, const char *msn,
                        const char *ref, const char *op, double now)
{
    char inst[128];
    snprintf(inst, sizeof inst, "/v1/payments/%s/%s", ref, op);
    const char *key = sim_header(rq, "Idempotency-Key");
    if (!key || !*key) {
        sim_problem_field(s, r, 400, "The Idempotency-Key header is required", inst, "Idempotency-Key");
        return;
    }
    if (strlen(key) > 50) {
        sim_problem_field(s, r, 400, "The Idempotency-Key must be at most 50 characters", inst,
                          "Idempotency-Key");
        return;
    }
    char *rk = sim_printf("%s %s %s", op, msn, ref);
    int ra;
    if (rk && rate_hit(s, rk, s->o.rate_mod_per_min, now, &ra)) { free(rk); too_many(r, ra); return; }
    free(rk);
    char *scope = sim_printf("%s POST %s", msn, rq->path);
    if (!scope) { sim_apim_error(r, 500, "Internal server error"); return; }
    const char *conflict = !strcmp(op, "capture") ? "4010" : !strcmp(op, "refund") ? "4150" : "4020";
    if (sim_idem_check(s, rq, r, scope, key, 0, conflict, inst)) { free(scope); return; }
    cJSON *b = rq->len ? cJSON_Parse(rq->body) : NULL;
    sim_payment *p = sim_find(s, msn, ref, 0);
    if (rq->len && !cJSON_IsObject(b)) {
        sim_problem_field(s, r, 400, "The request body is not a valid JSON object", inst, "body");
        goto done;
    }
    if (!p) {
        sim_problem(s, r, 404, "Not Found", "Reference not found", inst, "5090");
        goto done;
    }
    if (!strcmp(op, "cancel")) {
        const cJSON *cto = b ? cJSON_GetObjectItemCaseSensitive(b, "cancelTransactionOnly") : NULL;
        int only = cJSON_IsTrue(cto);
        if (p->state == P_CREATED) {
            if (p->unknown_until > 0) { /* magic 201: the customer is "processing" */
                sim_problem(s, r, 400, "Bad Request", "Cannot cancel processing payment", inst, "6250");
                goto done;
            }
            p->state = P_TERMINATED;
            p->cancelled = p->amount;
            p->auto_at = 0;
            epay_event(s, p, "TERMINATED", p->amount, key, 1, now);
            modification_reply(s, r, p);
            goto done;
        }
        if (p->state != P_AUTHORIZED) {
            sim_problem(s, r, 400, "Bad Request", "Cannot cancel a payment that is not reserved",
                        inst, "6050");
            goto done;
        }
        if (only) {
            sim_problem(s, r, 400, "Bad Request",
                        "Cannot cancel an authorized payment with cancelTransactionOnly", inst, "6060");
            goto done;
        }
        long long rest = p->authorized - p->captured - p->cancelled;
        if (p->captured >= p->authorized) {
            sim_problem(s, r, 400, "Bad Request", "Cannot cancel a captured payment", inst, "6040");
            goto done;
        }
        if (rest <= 0) {
            sim_problem(s, r, 400, "Bad Request", "The payment cannot be cancelled", inst, "6190");
            goto done;
        }
        p->cancelled += rest;
        epay_event(s, p, "CANCELLED", rest, key, 1, now);
        modification_reply(s, r, p);
        goto done;
    }
    const cJSON *ma = b ? cJSON_GetObjectItemCaseSensitive(b, "modificationAmount") : NULL;
    long long v = 0;
    const char *cur = cJSON_IsObject(ma) ? json_str(ma, "currency") : NULL;
    if (!cJSON_IsObject(ma) || !cur) {
        sim_problem_field(s, r, 400, "The ModificationAmount field is required", inst, "ModificationAmount");
        goto done;
    }
    if (!json_int(cJSON_GetObjectItemCaseSensitive(ma, "value"), 1, 65000000, &v) ||
        strcmp(cur, p->currency) != 0) {
        sim_problem(s, r, 400, "Bad Request", "Invalid amount", inst, "4040");
        goto done;
    }
    if (!strcmp(op, "capture")) {
        if (p->state == P_CREATED) {
            sim_problem(s, r, 400, "Bad Request", "Cannot capture before reservation", inst, "6080");
            goto done;
        }
        if (p->state != P_AUTHORIZED) {
            sim_problem(s, r, 400, "Bad Request", "The payment cannot be captured in its state", inst, "6200");
            goto done;
        }
        if (p->cancelled > 0 && p->captured + p->cancelled >= p->authorized) {
            sim_problem(s, r, 400, "Bad Request", "Cannot capture a cancelled payment", inst, "6070");
            goto done;
        }
        if (v > p->authorized - p->captured - p->cancelled) {
            sim_problem(s, r, 400, "Bad Request", "Capture amount too high", inst, "6090");
            goto done;
        }
        p->captured += v;
        epay_event(s, p, "CAPTURED", v, key, 1, now);
        modification_reply(s, r, p);
        goto done;
    }
    /* refund */
    if (p->state == P_CREATED) {
        sim_problem(s, r, 400, "Bad Request", "Cannot refund before reservation", inst, "6020");
        goto done;
    }
    if (p->state != P_AUTHORIZED) {
        sim_problem(s, r, 400, "Bad Request", "The payment cannot be refunded in its state", inst, "6210");
        goto done;
    }
    if (v > p->captured - p->refunded) {
        sim_problem(s, r, 400, "Bad Request", "Not enough refundable amount", inst, "6150");
        goto done;
    }
    if (v == 123 || v == 124) {
        epay_event(s, p, "REFUNDED", v, key, 0, now);
        if (v == 123)
            sim_problem(s, r, 400, "Bad Request",
                        "The refund cannot be made: the customer has no receiving account (test amount 123)",
                        inst, "6210");
        else
            sim_problem(s, r, 400, "Bad Request", "Refund period expired (test amount 124)", inst, "6220");
        goto done;
    }
    p->refunded += v;
    epay_event(s, p, "REFUNDED", v, key, 1, now);
    modification_reply(s, r, p);
done:
    sim_idem_store(s, rq, r, scope, key);
    free(scope);
    cJSON_Delete(b);
}

static void epay_approve(kv_sim *s, const sim_req *rq, sim_resp *r, const char *msn,
                         const char *ref, double now)
{
    char inst[128];
    snprintf(inst, sizeof inst, "/v1/test/payments/%s/approve", ref);
    sim_payment *p = sim_find(s, msn, ref, 0);
    if (!p) { sim_problem(s, r, 404, "Not Found", "Reference not found", inst, "5090"); return; }
    cJSON *b = rq->len ? cJSON_Parse(rq->body) : NULL;
    if (rq->len && !cJSON_IsObject(b)) {
        cJSON_Delete(b);
        sim_problem_field(s, r, 400, "The request body is not a valid JSON object", inst, "body");
        return;
    }
    const cJSON *cust = b ? cJSON_GetObjectItemCaseSensitive(b, "customer") : NULL;
    const char *phone = cust ? json_str(cust, "phoneNumber") : NULL;
    const char *tok = b ? json_str(b, "token") : NULL;
    if (cust && (!phone || !all_digits(phone, 10, 15))) {
        sim_problem(s, r, 400, "Bad Request", "Invalid phone number format", inst, "4070");
    } else if (phone && !phone_known(s, phone)) {
        sim_problem(s, r, 400, "Bad Request", "The customer cannot pay with Vipps MobilePay", inst, "7010");
    } else if (tok && strcmp(tok, p->token) != 0) {
        sim_problem(s, r, 400, "Bad Request", "Approve failed: the token does not match", inst, "10010");
    } else {
        int rc = sim_customer_approve(s, p, now);
        if (rc < 0)
            sim_problem(s, r, 400, "Bad Request", "Approve failed: the payment is not awaiting approval",
                        inst, "10010");
        else if (rc == 1)
            sim_problem(s, r, 400, "Bad Request", "Approve failed: refused (test amount)", inst, "10010");
        else
            sim_resp_text(r, 200, NULL, NULL);
    }
    cJSON_Delete(b);
}

static void epay_route(kv_sim *s, const sim_req *rq, sim_resp *r, int ci, const char *msn,
                       char **seg, int nseg, double now)
{
    const char *m = rq->method;
    /* seg: epayment v1 payments [ref [op]] | epayment v1 test payments ref approve */
    if (nseg >= 3 && !strcmp(seg[2], "payments")) {
        if (nseg == 3) {
            if (!strcmp(m, "POST")) { epay_create(s, rq, r, ci, msn, now); return; }
        } else {
            const char *ref = seg[3];
            if (nseg == 4 && !strcmp(m, "GET")) {
                char *rk = sim_printf("get %s %s", sim_header(rq, "Ocp-Apim-Subscription-Key"), ref);
                int ra;
                if (rk && rate_hit(s, rk, s->o.rate_get_per_min, now, &ra)) { free(rk); too_many(r, ra); return; }
                free(rk);
                sim_payment *p = sim_find(s, msn, ref, 0);
                char inst[128];
                snprintf(inst, sizeof inst, "/v1/payments/%s", ref);
                if (!p) sim_problem(s, r, 404, "Not Found", "Reference not found", inst, "5090");
                else payment_reply(r, p);
                return;
            }
            if (nseg == 5 && !strcmp(seg[4], "events") && !strcmp(m, "GET")) {
                char *rk = sim_printf("get %s %s", sim_header(rq, "Ocp-Apim-Subscription-Key"), ref);
                int ra;
                if (rk && rate_hit(s, rk, s->o.rate_get_per_min, now, &ra)) { free(rk); too_many(r, ra); return; }
                free(rk);
                sim_payment *p = sim_find(s, msn, ref, 0);
                char inst[128];
                snprintf(inst, sizeof inst, "/v1/payments/%s/events", ref);
                if (!p) { sim_problem(s, r, 404, "Not Found", "Reference not found", inst, "5090"); return; }
                cJSON *a = cJSON_CreateArray();
                for (size_t i = 0; i < p->nev; i++) cJSON_AddItemToArray(a, event_json(p, &p->ev[i]));
                sim_resp_json(r, 200, a);
                return;
            }
            if (nseg == 5 && !strcmp(m, "POST") &&
                (!strcmp(seg[4], "capture") || !strcmp(seg[4], "refund") || !strcmp(seg[4], "cancel"))) {
                epay_modify(s, rq, r, msn, ref, seg[4], now);
                return;
            }
        }
    }
    if (nseg == 6 && !strcmp(seg[2], "test") && !strcmp(seg[3], "payments") &&
        !strcmp(seg[5], "approve") && !strcmp(m, "POST")) {
        epay_approve(s, rq, r, msn, seg[4], now);
        return;
    }
    sim_apim_error(r, 404, "Resource not found");
}

/* ---- Order Management ---- */
static void om_route(kv_sim *s, const sim_req *rq, sim_resp *r, const char *msn, char **seg,
                     int nseg)
{
    /* order-management v2 {type} receipts {orderId} | v2 {type} {orderId} | v2 {type} categories {orderId} */
    if (nseg < 4 || strcmp(seg[1], "v2") != 0) { sim_apim_error(r, 404, "Resource not found"); return; }
    const char *type = seg[2];
    char inst[256];
    snprintf(inst, sizeof inst, "%s", rq->path + strlen("/order-management"));
    if (strcasecmp(type, "ECOM") && strcasecmp(type, "RECURRING")) {
        sim_problem_field(s, r, 400, "paymentType must be ECOM or RECURRING", inst, "paymentType");
        return;
    }
    if (nseg == 5 && !strcmp(seg[3], "receipts")) {
        const char *oid = seg[4];
        if (strcmp(rq->method, "POST") != 0) {
            sim_problem(s, r, 405, "Method Not Allowed", "Add a receipt with POST", inst, NULL);
            return;
        }
        if (!match_pattern(oid, 1, 128, "-_.")) {
            sim_problem_field(s, r, 400, "orderId must match ^[0-9A-Za-z-_\\.]+$", inst, "orderId");
            return;
        }
        cJSON *b = cJSON_Parse(rq->body);
        if (!check_receipt(s, r, b, inst, 0)) {
            if (find_receipt(s, msn, type, oid)) {
                sim_problem(s, r, 409, "Conflict", "A receipt already exists for this order", inst, NULL);
            } else {
                store_receipt(s, msn, type, oid, b);
                char id[37];
                sim_uuid(s, id);
                sim_resp_json(r, 201, cJSON_CreateString(id));
            }
        }
        cJSON_Delete(b);
        return;
    }
    if (nseg == 5 && !strcmp(seg[3], "categories")) {
        if (strcmp(rq->method, "PUT") != 0) {
            sim_problem(s, r, 405, "Method Not Allowed", "Add a category with PUT", inst, NULL);
            return;
        }
        cJSON *b = cJSON_Parse(rq->body);
        const char *cat = b ? json_str(b, "category") : NULL;
        const char *url = b ? json_str(b, "orderDetailsUrl") : NULL;
        static const char *const cats[] = { "GENERAL", "RECEIPT", "ORDER_CONFIRMATION", "DELIVERY",
                                            "TICKET", "BOOKING" };
        int ok = 0;
        for (size_t i = 0; cat && i < sizeof cats / sizeof cats[0]; i++)
            if (!strcmp(cat, cats[i])) ok = 1;
        if (!ok || !url) {
            sim_problem_field(s, r, 400, "category and orderDetailsUrl are required", inst, "category");
        } else {
            sim_receipt *x = find_receipt(s, msn, type, seg[4]);
            if (!x) {
                store_receipt(s, msn, type, seg[4], NULL);
                x = find_receipt(s, msn, type, seg[4]);
            }
            if (x) { cJSON_Delete(x->category); x->category = cJSON_Duplicate(b, 1); }
            char id[37];
            sim_uuid(s, id);
            sim_resp_json(r, 200, cJSON_CreateString(id));
        }
        cJSON_Delete(b);
        return;
    }
    if (nseg == 4 && !strcmp(rq->method, "GET")) {
        sim_receipt *x = find_receipt(s, msn, type, seg[3]);
        if (!x) { sim_problem(s, r, 404, "Not Found", "No order data for this orderId", inst, NULL); return; }
        cJSON *o = cJSON_CreateObject();
        if (x->category) cJSON_AddItemToObject(o, "category", cJSON_Duplicate(x->category, 1));
        if (x->receipt) cJSON_AddItemToObject(o, "receipt", cJSON_Duplicate(x->receipt, 1));
        sim_resp_json(r, 200, o);
        return;
    }
    sim_apim_error(r, 404, "Resource not found");
}

/* ---- Webhooks API ---- */
static int known_event(const char *e)
{
    static const char *const names[] = {
        "epayments.payment.created.v1", "epayments.payment.aborted.v1",
        "epayments.payment.expired.v1", "epayments.payment.cancelled.v1",
        "epayments.payment.captured.v1", "epayments.payment.refunded.v1",
        "epayments.payment.authorized.v1", "epayments.payment.terminated.v1",
        "recurring.agreement-activated.v1", "recurring.agreement-rejected.v1",
        "recurring.agreement-stopped.v1", "recurring.agreement-expired.v1",
        "recurring.charge-reserved.v1", "recurring.charge-captured.v1",
        "recurring.charge-canceled.v1", "recurring.charge-refunded.v1",
        "recurring.charge-failed.v1", "recurring.charge-creation-failed.v1",
        "user.checked-in.v1", "login.merchant-initiated.ping.v1",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(e, names[i])) return 1;
    return 0;
}

static void hooks_route(kv_sim *s, const sim_req *rq, sim_resp *r, const char *msn, char **seg,
                        int nseg)
{
    const char *inst = rq->path + strlen("/webhooks");
    if (nseg == 3 && !strcmp(rq->method, "POST")) {
        cJSON *b = cJSON_Parse(rq->body);
        const char *url = b ? json_str(b, "url") : NULL;
        const cJSON *ev = b ? cJSON_GetObjectItemCaseSensitive(b, "events") : NULL;
        if (!url || (strncmp(url, "https://", 8) && strncmp(url, "http://", 7)) || strlen(url) > 2000) {
            sim_problem_field(s, r, 400, "url must be an absolute https URL", inst, "url");
            cJSON_Delete(b);
            return;
        }
        if (!cJSON_IsArray(ev) || cJSON_GetArraySize(ev) < 1) {
            sim_problem_field(s, r, 400, "events must be a non-empty array", inst, "events");
            cJSON_Delete(b);
            return;
        }
        const cJSON *e;
        cJSON_ArrayForEach(e, ev) {
            if (!cJSON_IsString(e) || !known_event(e->valuestring)) {
                sim_problem_field(s, r, 400, "unknown event name", inst, "events");
                cJSON_Delete(b);
                return;
            }
            int n = 0;
            for (sim_hook *h = s->hooks; h; h = h->next)
                for (int i = 0; i < h->nevents; i++)
                    if (!strcmp(h->msn, msn) && !strcmp(h->events[i], e->valuestring)) n++;
            int limit = strcmp(e->valuestring, "user.checked-in.v1") ? 25 : 1;
            if (n >= limit) {
                sim_problem(s, r, 400, "Bad Request",
                            "Too many registrations for this event on this sales unit", inst, NULL);
                cJSON_Delete(b);
                return;
            }
        }
        sim_hook *h = calloc(1, sizeof *h);
        int n = cJSON_GetArraySize(ev);
        if (h) h->events = calloc((size_t)n, sizeof *h->events);
        unsigned char raw[64];
        for (size_t i = 0; i < sizeof raw; i++) raw[i] = (unsigned char)sim_rand(s);
        if (!h || !h->events) { free(h); cJSON_Delete(b); sim_apim_error(r, 500, "Internal server error"); return; }
        sim_uuid(s, h->id);
        snprintf(h->msn, sizeof h->msn, "%s", msn);
        h->url = strdup(url);
        h->secret = sim_b64(raw, sizeof raw, 0);
        cJSON_ArrayForEach(e, ev) h->events[h->nevents++] = strdup(e->valuestring);
        h->next = s->hooks;
        s->hooks = h;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", h->id);
        cJSON_AddStringToObject(o, "secret", h->secret);
        sim_resp_json(r, 201, o);
        cJSON_Delete(b);
        return;
    }
    if (nseg == 3 && !strcmp(rq->method, "GET")) {
        cJSON *o = cJSON_CreateObject();
        cJSON *a = cJSON_AddArrayToObject(o, "webhooks");
        for (sim_hook *h = s->hooks; h; h = h->next) {
            if (strcmp(h->msn, msn)) continue;
            cJSON *w = cJSON_CreateObject();
            cJSON_AddStringToObject(w, "id", h->id);
            cJSON_AddStringToObject(w, "url", h->url);
            cJSON *ea = cJSON_AddArrayToObject(w, "events");
            for (int i = 0; i < h->nevents; i++) cJSON_AddItemToArray(ea, cJSON_CreateString(h->events[i]));
            cJSON_AddItemToArray(a, w);
        }
        sim_resp_json(r, 200, o);
        return;
    }
    if (nseg == 4 && !strcmp(rq->method, "DELETE")) {
        for (sim_hook **pp = &s->hooks; *pp; pp = &(*pp)->next) {
            sim_hook *h = *pp;
            if (strcmp(h->id, seg[3]) || strcmp(h->msn, msn)) continue;
            *pp = h->next;
            for (int i = 0; i < h->nevents; i++) free(h->events[i]);
            free(h->events); free(h->url); free(h->secret); free(h);
            sim_resp_text(r, 204, NULL, NULL);
            return;
        }
        sim_problem(s, r, 404, "Not Found", "No webhook with this id", inst, NULL);
        return;
    }
    sim_apim_error(r, 404, "Resource not found");
}

/* ---- entry point ---- */
void sim_handle(kv_sim *s, const sim_req *rq, sim_resp *r)
{
    char *path = strdup(rq->path);
    if (!path) { sim_apim_error(r, 500, "Internal server error"); return; }
    char *seg[MAXSEG];
    int nseg = 0;
    for (char *save = NULL, *t = strtok_r(path, "/", &save); t && nseg < MAXSEG;
         t = strtok_r(NULL, "/", &save))
        seg[nseg++] = t;

    pthread_mutex_lock(&s->mu);
    double now = sim_now();
    sim_tick(s, now);
    if (nseg >= 1 && !strcmp(seg[0], "sim")) {
        sim_control_route(s, rq, r, seg, nseg);
        pthread_mutex_unlock(&s->mu);
        free(path);
        return;
    }
    char *ck = sim_printf("%s %s", rq->method, rq->path);
    if (ck) { sim_count_key(&s->counts, ck); free(ck); }
    const char *ik = sim_header(rq, "Idempotency-Key");
    if (!ik) ik = sim_header(rq, "X-Request-Id");
    if (ik) {
        char *kk = sim_printf("%s %s %s", rq->method, rq->path, ik);
        if (kk) { sim_count_key(&s->keys, kk); free(kk); }
    }
    if (!sim_header(rq, "Vipps-System-Name") || !sim_header(rq, "Vipps-System-Version") ||
        !sim_header(rq, "Vipps-System-Plugin-Name") || !sim_header(rq, "Vipps-System-Plugin-Version")) {
        char *nk = sim_printf("%s %s", rq->method, rq->path);
        if (nk) { sim_count_key(&s->nosys, nk); free(nk); }
    }
    sim_resp after;
    memset(&after, 0, sizeof after);
    int f = sim_fault_check(s, rq, r, &after);
    if (f == 1) goto out;

    int ecom = nseg >= 1 && !strcmp(seg[0], "ecomm");
    int ci;
    char msn[16];
    if (nseg == 2 && !strcmp(seg[0], "accesstoken") && !strcmp(seg[1], "get")) {
        if (strcmp(rq->method, "POST")) sim_apim_error(r, 404, "Resource not found");
        else access_token(s, rq, r, now);
    } else if (nseg >= 1 && (!strcmp(seg[0], "epayment") || ecom || !strcmp(seg[0], "qr") ||
                             !strcmp(seg[0], "order-management") || !strcmp(seg[0], "webhooks") ||
                             !strcmp(seg[0], "settlement") || !strcmp(seg[0], "report") ||
                             !strcmp(seg[0], "management"))) {
        if (authenticate(s, rq, r, ecom, &ci, msn) == 0) {
            if (!strcmp(seg[0], "epayment") && nseg >= 2 && !strcmp(seg[1], "v1"))
                epay_route(s, rq, r, ci, msn, seg, nseg, now);
            else if (ecom && nseg >= 2 && !strcmp(seg[1], "v2"))
                sim_ecom_route(s, rq, r, ci, msn, seg, nseg);
            else if (!strcmp(seg[0], "qr") && nseg >= 2 && !strcmp(seg[1], "v1"))
                sim_qr_route(s, rq, r, ci, msn, seg, nseg);
            else if (!strcmp(seg[0], "order-management"))
                om_route(s, rq, r, msn, seg, nseg);
            else if (!strcmp(seg[0], "webhooks") && nseg >= 3 && !strcmp(seg[1], "v1") &&
                     !strcmp(seg[2], "webhooks"))
                hooks_route(s, rq, r, msn, seg, nseg);
            else if (!strcmp(seg[0], "settlement") || !strcmp(seg[0], "report"))
                sim_report_route(s, rq, r, ci, msn, seg, nseg);
            else if (!strcmp(seg[0], "management"))
                sim_mgmt_route(s, rq, r, ci, msn, seg, nseg);
            else
                sim_apim_error(r, 404, "Resource not found");
        }
    } else {
        sim_apim_error(r, 404, "Resource not found");
    }
    if (f == 2) {
        free(r->body);
        *r = after;
        memset(&after, 0, sizeof after);
    }
out:
    free(after.body);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    free(path);
}
