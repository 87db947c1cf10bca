/* sim_auth.c - POST /accesstoken/get and the token, subscription key and
 * Merchant-Serial-Number check of every API call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

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
int sim_authenticate(kv_sim *s, const sim_req *rq, sim_resp *r, int ecom, int *credp,
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

void sim_access_token(kv_sim *s, const sim_req *rq, sim_resp *r, double now)
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
