/* api_till.c - the cashier page: its files under /till/, sign-in
 * (POST /v1/session with a till token or a pairing code), the session
 * cookie + CSRF header accepted by every /v1 handler instead of a bearer
 * token, and the listing and revoking of sessions.  The page itself uses
 * only the /v1 endpoints; nothing here moves money. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "src/serve/serve_int.h"
#include "src/serve/session.h"
#include "src/serve/web_assets.h"

#define COOKIE_NAME "kvitt_till"

/* ---- static files --------------------------------------------------------- */

void kv__till_static(kv_serve *s, kv_http_req *r, const char *path)
{
    (void)s;
    const char *m = kv_http_method(r);
    if (strcmp(m, "GET") && strcmp(m, "HEAD")) {
        kv_http_reply_error(r, 405, "method_not_allowed", "use GET");
        return;
    }
    if (!strcmp(path, "/till") || !strcmp(path, "/")) {
        kv_http_add_header(r, "Location", "/till/");
        kv_http_reply(r, 302, "text/plain; charset=utf-8", "/till/\n", 7);
        return;
    }
    const char *name = path + 6; /* after "/till/" */
    if (!*name)
        name = "index.html";
    const kv_web_asset *a = kv_web_asset_find(name);
    if (!a) {
        kv_http_reply_error(r, 404, "not_found", "no such file of the cashier page");
        return;
    }
    /* Everything comes from this server; nothing may frame the page. */
    kv_http_add_header(r, "Content-Security-Policy",
                       "default-src 'self'; script-src 'self'; style-src 'self'; "
                       "img-src 'self' data:; connect-src 'self'; media-src 'self' data:; "
                       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
    kv_http_add_header(r, "X-Content-Type-Options", "nosniff");
    kv_http_add_header(r, "X-Frame-Options", "DENY");
    kv_http_add_header(r, "Referrer-Policy", "no-referrer");
    kv_http_reply(r, 200, a->type, (const char *)a->data, a->len);
}

/* ---- cookies, origin and CSRF ------------------------------------------- */

/* The session cookie's value (64 hex digits) into out; 0 when present. */
static int read_cookie(kv_http_req *r, char out[65])
{
    const char *c = kv_http_header(r, "Cookie");
    while (c && *c) {
        while (*c == ' ' || *c == ';')
            c++;
        size_t nl = strlen(COOKIE_NAME);
        if (!strncmp(c, COOKIE_NAME, nl) && c[nl] == '=') {
            const char *v = c + nl + 1;
            size_t n = strcspn(v, "; ");
            if (n != 64)
                return -1;
            memcpy(out, v, 64);
            out[64] = '\0';
            return 0;
        }
        c = strchr(c, ';');
    }
    return -1;
}

/* A browser request from another origin (Origin or Sec-Fetch-Site say
 * so)?  Requests without these headers (curl, tills) are not browsers. */
static int cross_origin(kv_http_req *r)
{
    const char *site = kv_http_header(r, "Sec-Fetch-Site");
    if (site && strcmp(site, "same-origin") && strcmp(site, "none"))
        return 1;
    const char *origin = kv_http_header(r, "Origin");
    if (!origin)
        return 0;
    const char *host = kv_http_header(r, "X-Forwarded-Host");
    if (!host)
        host = kv_http_header(r, "Host");
    const char *o = strstr(origin, "://");
    return !host || !o || strcmp(o + 3, host) != 0;
}

static int secure_request(kv_http_req *r)
{
    const char *p = kv_http_header(r, "X-Forwarded-Proto");
    return p && !strcasecmp(p, "https");
}

static const kv_till *till_by_id(kv_serve *s, const char *id)
{
    for (size_t i = 0; i < kv_auth_count(s->auth); i++) {
        const kv_till *t = kv_auth_till(s->auth, i);
        if (!strcmp(t->id, id))
            return t;
    }
    return NULL;
}

static int is_state_changing(const char *method)
{
    return strcmp(method, "GET") && strcmp(method, "HEAD");
}

int kv__till_cookie_auth(kv_serve *s, kv_http_req *r, const kv_till **out,
                         kv_session_info *info_out)
{
    char cookie[65];
    if (!s->sess || read_cookie(r, cookie) < 0)
        return 0;
    kv_session_info info;
    kv_session_status st = kv_session_find(s->sess, cookie, &info);
    OPENSSL_cleanse(cookie, sizeof cookie);
    if (st == KV_SESSION_E_DB) {
        /* not "signed out": the session may well be alive; the page
         * tries again instead of going back to the sign-in */
        kv_http_reply_error(r, 503, "journal_unreachable", "the journal database does not "
                            "answer; try again");
        return -1;
    }
    if (st != KV_SESSION_OK)
        return 0;
    const kv_till *t = till_by_id(s, info.till);
    if (!t)
        return 0; /* the till left the configuration */
    if (is_state_changing(kv_http_method(r))) {
        const char *tok = kv_http_header(r, "X-CSRF-Token");
        int ok = tok && strlen(tok) == 64 && CRYPTO_memcmp(tok, info.csrf, 64) == 0;
        if (!ok || cross_origin(r)) {
            kv_http_reply_error(r, 403, "csrf", "this request needs the page's X-CSRF-Token "
                                "header and must come from the page's own origin");
            kv_slog_write(&s->log, KV_LOG_WARNING, "session.csrf_refused till=%s method=%s "
                          "path=%s", t->id, kv_http_method(r), kv_http_path(r));
            return -1;
        }
    }
    *out = t;
    if (info_out)
        *info_out = info;
    return 1;
}

/* ---- /v1/session and /v1/sessions ---------------------------------------- */

static cJSON *session_json(kv_serve *s, const kv_till *t, const kv_session_info *info)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    const kv_store *st = kv_config_store(s->cfg, t->store);
    cJSON_AddStringToObject(o, "till", t->id);
    cJSON_AddStringToObject(o, "store", t->store);
    cJSON_AddStringToObject(o, "storeName", st ? st->name : t->store);
    cJSON_AddStringToObject(o, "currency", st ? st->currency : "NOK");
    cJSON_AddStringToObject(o, "language", st && st->language[0] ? st->language : "nb");
    cJSON_AddBoolToObject(o, "chainRefund", t->chain_refund);
    if (info) {
        cJSON_AddStringToObject(o, "session", info->id);
        cJSON_AddStringToObject(o, "csrf", info->csrf);
        cJSON_AddNumberToObject(o, "expiresAt", (double)info->expires);
    }
    return o;
}

static void set_cookie(kv_http_req *r, const char *value, int max_age)
{
    char c[256];
    snprintf(c, sizeof c, COOKIE_NAME "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s",
             value, max_age, secure_request(r) ? "; Secure" : "");
    kv_http_add_header(r, "Set-Cookie", c);
}

/* Failed sign-ins are counted per client (its address: the peer, or the
 * address a trusted balancer wrote into X-Forwarded-For, src/serve/trust.h)
 * in the journal database, so every daemon of a chain counts together:
 * after KV_SIGNIN_MAX_FAILURES of them within KV_SIGNIN_WINDOW_S, that
 * client's sign-ins wait for the window to end (429), so pairing codes and
 * tokens cannot be guessed at speed.  Other clients and signed-in tills
 * are not affected. */
static void client_of(kv_serve *s, kv_http_req *r, char out[64])
{
    char peer[64], xff[1024];
    kv_http_peer(r, peer, sizeof peer);
    int has = kv_http_header_all(r, "X-Forwarded-For", xff, sizeof xff);
    /* a list too long to read whole: its right end is unknown, so the
     * peer (the balancer) is the client */
    kv_trust_client(s->trust, peer, has == 1 ? xff : NULL, out, 64);
}

static void login(kv_serve *s, kv_http_req *r)
{
    int retry_s = 0;
    char client[64];
    client_of(s, r, client);
    kv_session_status ts = kv_session_signin_check(s->sess, client, &retry_s);
    if (ts == KV_SESSION_E_DB) {
        kv_http_reply_error(r, 503, "journal_unreachable", "the journal database does not "
                            "answer; try again");
        return;
    }
    if (ts == KV_SESSION_E_THROTTLED) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", retry_s);
        kv_http_add_header(r, "Retry-After", ra);
        kv_http_reply_error(r, 429, "too_many_attempts", "too many failed sign-ins; try again "
                            "in %d s", retry_s);
        return;
    }
    if (cross_origin(r)) {
        kv_http_reply_error(r, 403, "csrf", "sign in from the cashier page itself");
        return;
    }
    cJSON *body = kv_http_body_json(r);
    if (!body)
        return;
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(body, "token");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(body, "code");
    for (const cJSON *it = body->child; it; it = it->next)
        if (!it->string || (strcmp(it->string, "token") && strcmp(it->string, "code"))) {
            kv_http_reply_error(r, 400, "invalid_request", "unknown field '%.40s'; send token "
                                "or code", it->string ? it->string : "");
            cJSON_Delete(body);
            return;
        }
    if (!cJSON_IsString(tok) == !cJSON_IsString(code)) {
        cJSON_Delete(body);
        kv_http_reply_error(r, 400, "invalid_request",
                            "send either token (the till token) or code (a pairing code)");
        return;
    }
    const kv_till *t = NULL;
    const char *how = "token";
    if (cJSON_IsString(tok)) {
        size_t n = strlen(tok->valuestring);
        char *authz = n < 4096 ? malloc(n + 8) : NULL;
        if (authz) {
            memcpy(authz, "Bearer ", 7);
            memcpy(authz + 7, tok->valuestring, n + 1);
            if (kv_auth_check(&t, s->auth, authz) != KV_AUTH_OK)
                t = NULL;
            OPENSSL_cleanse(authz, n + 8);
            free(authz);
        }
        OPENSSL_cleanse(tok->valuestring, n);
    } else {
        how = "pairing_code";
        char till[64];
        kv_session_status ps = kv_session_pair_redeem(s->sess, code->valuestring, till);
        if (ps == KV_SESSION_OK)
            t = till_by_id(s, till);
    }
    cJSON_Delete(body);
    if (!t) {
        int failures = 0;
        kv_session_signin_failed(s->sess, client, &failures);
        /* once per client and window: who is guessing, for the operator */
        if (failures == KV_SIGNIN_MAX_FAILURES)
            kv_slog_write(&s->log, KV_LOG_WARNING, "session.throttled client=%s failures=%d "
                          "window_s=%d", client, failures, KV_SIGNIN_WINDOW_S);
        kv_http_reply_error(r, 401, "unauthorized", "unknown till token, or a pairing code "
                            "that is unknown, used or older than 10 minutes");
        kv_slog_write(&s->log, KV_LOG_WARNING, "session.denied how=%s", how);
        return;
    }
    char cookie[65];
    kv_session_info info;
    if (kv_session_login(s->sess, t->id, kv_http_header(r, "User-Agent"), s->session_ttl_s,
                         cookie, &info) != KV_SESSION_OK) {
        kv_http_reply_error(r, 500, "internal", "cannot store the session");
        return;
    }
    set_cookie(r, cookie, s->session_ttl_s);
    OPENSSL_cleanse(cookie, sizeof cookie);
    kv_slog_write(&s->log, KV_LOG_NOTICE, "session.login till=%s session=%s how=%s", t->id,
                  info.id, how);
    kv_http_reply_json(r, 201, session_json(s, t, &info));
}

/* The till behind a cookie or a bearer token (NULL after replying 401/403). */
static const kv_till *who(kv_serve *s, kv_http_req *r, kv_session_info *info, int *has)
{
    const kv_till *t = NULL;
    int c = kv__till_cookie_auth(s, r, &t, info);
    *has = c == 1;
    if (c == 1)
        return t;
    if (c < 0)
        return NULL;
    if (kv_auth_check(&t, s->auth, kv_http_header(r, "Authorization")) == KV_AUTH_OK)
        return t;
    kv_http_reply_error(r, 401, "unauthorized", "sign in again (no valid session or token)");
    return NULL;
}

static void list_sessions(kv_serve *s, kv_http_req *r, const kv_till *t, const char *current)
{
    kv_session_info *v = NULL;
    size_t n = 0;
    if (kv_session_list(s->sess, t->id, &v, &n) != KV_SESSION_OK) {
        kv_http_reply_error(r, 500, "internal", "cannot read the sessions");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "sessions") : NULL;
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddStringToObject(x, "id", v[i].id);
        cJSON_AddStringToObject(x, "userAgent", v[i].agent);
        cJSON_AddNumberToObject(x, "createdAt", (double)v[i].created);
        cJSON_AddNumberToObject(x, "lastSeenAt", (double)v[i].last_seen);
        cJSON_AddNumberToObject(x, "expiresAt", (double)v[i].expires);
        cJSON_AddBoolToObject(x, "current", current && !strcmp(current, v[i].id));
        cJSON_AddItemToArray(arr, x);
    }
    free(v);
    kv_http_reply_json(r, 200, o);
}

int kv__till_route(kv_serve *s, kv_http_req *r, const char *path, const char *method)
{
    int is_session = !strcmp(path, "/v1/session");
    int is_list = !strcmp(path, "/v1/sessions");
    int is_one = !strncmp(path, "/v1/sessions/", 13);
    if (!is_session && !is_list && !is_one)
        return 0;
    if (!s->sess) {
        kv_http_reply_error(r, 503, "unavailable", "the cashier page's sign-in is not available "
                            "(the till API is): %s", s->sess_error);
        return 1;
    }
    if (is_session && !strcmp(method, "POST")) {
        login(s, r);
        return 1;
    }
    kv_session_info info;
    int has = 0;
    if (is_session && !strcmp(method, "GET") && !kv_http_header(r, "Authorization")) {
        /* The page asks at every load: not signed in is an answer, not an
         * error (200), so the browser log stays clean. */
        const kv_till *t = NULL;
        int c = kv__till_cookie_auth(s, r, &t, &info);
        if (c < 0)
            return 1; /* answered (503) */
        if (c == 1) {
            cJSON *o = session_json(s, t, &info);
            if (o)
                cJSON_AddBoolToObject(o, "signedIn", 1);
            kv_http_reply_json(r, 200, o);
        } else {
            cJSON *o = cJSON_CreateObject();
            if (o)
                cJSON_AddBoolToObject(o, "signedIn", 0);
            kv_http_reply_json(r, 200, o);
        }
        return 1;
    }
    const kv_till *t = who(s, r, &info, &has);
    if (!t)
        return 1;
    if (is_session && !strcmp(method, "GET")) {
        kv_http_reply_json(r, 200, session_json(s, t, has ? &info : NULL));
    } else if (is_session && !strcmp(method, "DELETE")) {
        if (has)
            kv_session_revoke(s->sess, t->id, info.id);
        set_cookie(r, "", 0);
        kv_slog_write(&s->log, KV_LOG_NOTICE, "session.logout till=%s", t->id);
        kv_http_reply(r, 204, NULL, "", 0);
    } else if (is_list && !strcmp(method, "GET")) {
        list_sessions(s, r, t, has ? info.id : NULL);
    } else if (is_one && !strcmp(method, "DELETE")) {
        const char *id = path + 13;
        kv_session_status st = kv_session_revoke(s->sess, t->id, id);
        if (st == KV_SESSION_OK) {
            kv_slog_write(&s->log, KV_LOG_NOTICE, "session.revoked till=%s session=%.16s",
                          t->id, id);
            kv_http_reply(r, 204, NULL, "", 0);
        } else if (st == KV_SESSION_E_NOT_FOUND) {
            kv_http_reply_error(r, 404, "not_found", "no live session with this id for this till");
        } else {
            kv_http_reply_error(r, 500, "internal", "cannot revoke the session");
        }
    } else {
        kv_http_reply_error(r, 405, "method_not_allowed", "see src/serve/openapi.yaml");
    }
    return 1;
}
