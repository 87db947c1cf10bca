/* sim_sticker.c - the in-store flows of the simulator: merchant-callback QR
 * stickers (QR API /qr/v1/merchant-callback), the customer scanning one
 * (control endpoint -> signed user.checked-in.v1 webhook with a
 * customerToken), personal QR codes (/qr/v1/exchange, control endpoint
 * that hands out a test customer's personal QR) and the resolution of
 * customer.customerToken / customer.personalQr in an ePayment create. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

#define STK_TOKEN_TTL 900.0       /* a customerToken lives 15 minutes */
#define PQR_TTL 600.0             /* a personal QR stays valid 10 minutes */

typedef struct sim_sticker {
    struct sim_sticker *next;
    char msn[16];
    char id[129];               /* merchantQrId */
    char loc[64];               /* locationDescription (<= 36) */
    char token[48];             /* image/content token */
} sim_sticker;

typedef struct sim_ctoken {
    struct sim_ctoken *next;
    char token[72];             /* customerToken or the personal QR text */
    char msn[16];               /* bound MSN ("" for personal QR) */
    char phone[16];
    double expires_at;
    int used;
    int personal;               /* 1: a personal QR */
} sim_ctoken;

struct sim_stk {
    sim_sticker *stickers;
    sim_ctoken *tokens;
};

void sim_sticker_free(kv_sim *s)
{
    if (!s->stk) return;
    while (s->stk->stickers) {
        sim_sticker *k = s->stk->stickers; s->stk->stickers = k->next; free(k);
    }
    while (s->stk->tokens) {
        sim_ctoken *t = s->stk->tokens; s->stk->tokens = t->next; free(t);
    }
    free(s->stk);
    s->stk = NULL;
}

static struct sim_stk *stk(kv_sim *s)
{
    if (!s->stk) s->stk = calloc(1, sizeof *s->stk);
    return s->stk;
}

static sim_sticker *find_sticker(kv_sim *s, const char *msn, const char *id)
{
    if (!stk(s)) return NULL;
    for (sim_sticker *k = s->stk->stickers; k; k = k->next)
        if ((!msn || !strcmp(k->msn, msn)) && !strcmp(k->id, id)) return k;
    return NULL;
}

/* merchantQrId: 1-128 of [A-Za-z0-9-_] (kvitt derives it from the till). */
static int valid_qr_id(const char *id)
{
    size_t n = strlen(id);
    if (n < 1 || n > 128) return 0;
    for (const char *c = id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_'))
            return 0;
    return 1;
}

static char *sticker_content(const sim_sticker *k)
{
    return sim_printf("https://qr.vipps.no/28/2/05/031/%s", k->token);
}

static cJSON *sticker_json(kv_sim *s, const sim_sticker *k, int png, int size)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "merchantSerialNumber", k->msn);
    cJSON_AddStringToObject(o, "merchantQrId", k->id);
    cJSON_AddStringToObject(o, "locationDescription", k->loc);
    char *img = png ? sim_printf("%s/sim/v1/qr/%s.png?size=%d", s->url, k->token, size)
                    : sim_printf("%s/sim/v1/qr/%s.svg", s->url, k->token);
    char *content = sticker_content(k);
    cJSON_AddStringToObject(o, "qrImageUrl", img ? img : "");
    cJSON_AddStringToObject(o, "qrContent", content ? content : "");
    free(img);
    free(content);
    return o;
}

/* The image host serves sticker images through the one-time QR table (no
 * expiry for a sticker). */
static void register_image(kv_sim *s, const sim_sticker *k)
{
    for (sim_qr *q = s->qrs; q; q = q->next)
        if (!strcmp(q->token, k->token)) return;
    sim_qr *q = calloc(1, sizeof *q);
    if (!q) return;
    snprintf(q->token, sizeof q->token, "%s", k->token);
    q->target = sticker_content(k);
    q->expires_at = 1e18;
    q->next = s->qrs;
    s->qrs = q;
}

static void unregister_image(kv_sim *s, const char *token)
{
    for (sim_qr *q = s->qrs; q; q = q->next)
        if (!strcmp(q->token, token)) q->expires_at = 0;
}

/* Query QrImageFormat / QrImageSize (also the lower-case spelling the
 * docs use). */
static int image_args(kv_sim *s, const sim_req *rq, sim_resp *r, int *png, int *size)
{
    const char *f = sim_query(rq, "QrImageFormat");
    if (!f) f = sim_query(rq, "qrImageFormat");
    const char *z = sim_query(rq, "QrImageSize");
    if (!z) z = sim_query(rq, "qrImageSize");
    *png = 0;
    *size = 1024;
    if (f && strcmp(f, "PNG") && strcmp(f, "SVG")) {
        sim_problem_field(s, r, 400, "QrImageFormat must be PNG or SVG", rq->path + 3, "QrImageFormat");
        return -1;
    }
    if (f && !strcmp(f, "PNG")) *png = 1;
    if (z) {
        char *end;
        long v = strtol(z, &end, 10);
        if (*end || v < 100 || v > 2000) {
            sim_problem_field(s, r, 400, "QrImageSize must be 100-2000", rq->path + 3, "QrImageSize");
            return -1;
        }
        *size = (int)v;
    }
    return 0;
}

static void put_sticker(kv_sim *s, const sim_req *rq, sim_resp *r, const char *msn, const char *id)
{
    const char *inst = rq->path + 3;
    cJSON *b = cJSON_Parse(rq->body);
    const char *loc = b ? sim_json_str(b, "locationDescription") : NULL;
    if (!loc || strlen(loc) > 36) {
        sim_problem_field(s, r, 400, "locationDescription is required, at most 36 characters", inst,
                          "locationDescription");
        cJSON_Delete(b);
        return;
    }
    for (const unsigned char *c = (const unsigned char *)loc; *c; c++)
        if (*c < 0x20 || *c == 0x7f) {
            sim_problem_field(s, r, 400, "locationDescription holds a control character", inst,
                              "locationDescription");
            cJSON_Delete(b);
            return;
        }
    sim_sticker *k = find_sticker(s, msn, id);
    if (!k) {
        k = calloc(1, sizeof *k);
        if (!k || !stk(s)) { free(k); cJSON_Delete(b); sim_apim_error(r, 500, "Internal server error"); return; }
        snprintf(k->msn, sizeof k->msn, "%s", msn);
        snprintf(k->id, sizeof k->id, "%s", id);
        sim_rand_hex(s, k->token, 32);
        k->next = s->stk->stickers;
        s->stk->stickers = k;
    }
    snprintf(k->loc, sizeof k->loc, "%s", loc);
    register_image(s, k);
    cJSON_Delete(b);
    sim_resp_text(r, 200, NULL, NULL);
}

void sim_sticker_route(kv_sim *s, const sim_req *rq, sim_resp *r, const char *msn, char **seg,
                       int nseg)
{
    const char *m = rq->method;
    const char *inst = rq->path + 3;
    if (nseg == 3 && !strcmp(m, "GET")) {
        int png, size;
        if (image_args(s, rq, r, &png, &size) < 0) return;
        cJSON *a = cJSON_CreateArray();
        if (stk(s))
            for (sim_sticker *k = s->stk->stickers; k; k = k->next)
                if (!strcmp(k->msn, msn)) cJSON_AddItemToArray(a, sticker_json(s, k, png, size));
        sim_resp_json(r, 200, a);
        return;
    }
    if (nseg != 4) { sim_apim_error(r, 404, "Resource not found"); return; }
    const char *id = seg[3];
    if (!valid_qr_id(id)) {
        sim_problem_field(s, r, 400, "merchantQrId must be 1-128 letters, digits, '-' or '_'", inst,
                          "merchantQrId");
        return;
    }
    if (!strcmp(m, "PUT")) { put_sticker(s, rq, r, msn, id); return; }
    sim_sticker *k = find_sticker(s, msn, id);
    if (!strcmp(m, "GET")) {
        int png, size;
        if (image_args(s, rq, r, &png, &size) < 0) return;
        if (!k) { sim_problem(s, r, 404, "Not Found", "No merchant callback QR with this id", inst, NULL); return; }
        sim_resp_json(r, 200, sticker_json(s, k, png, size));
        return;
    }
    if (!strcmp(m, "DELETE")) {
        if (!k) { sim_problem(s, r, 404, "Not Found", "No merchant callback QR with this id", inst, NULL); return; }
        for (sim_sticker **pp = &s->stk->stickers; *pp; pp = &(*pp)->next)
            if (*pp == k) { *pp = k->next; break; }
        unregister_image(s, k->token);
        free(k);
        sim_resp_text(r, 200, NULL, NULL);
        return;
    }
    sim_apim_error(r, 404, "Resource not found");
}

static sim_ctoken *find_token(kv_sim *s, const char *tok, int personal)
{
    if (!stk(s)) return NULL;
    for (sim_ctoken *t = s->stk->tokens; t; t = t->next)
        if (t->personal == personal && !strcmp(t->token, tok)) return t;
    return NULL;
}

static sim_ctoken *new_token(kv_sim *s, const char *msn, const char *phone, double ttl, int personal)
{
    if (!stk(s)) return NULL;
    sim_ctoken *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    char hex[33];
    sim_rand_hex(s, hex, 32);
    if (personal) snprintf(t->token, sizeof t->token, "https://qr.vipps.no/p/%s", hex);
    else snprintf(t->token, sizeof t->token, "ct-%s", hex);
    snprintf(t->msn, sizeof t->msn, "%s", msn ? msn : "");
    snprintf(t->phone, sizeof t->phone, "%s", phone);
    t->expires_at = sim_now() + ttl;
    t->personal = personal;
    t->next = s->stk->tokens;
    s->stk->tokens = t;
    return t;
}

/* POST /sim/v1/stickers/{merchantQrId}/scan {phone, msn?, validSeconds?} */
static void scan(kv_sim *s, const sim_req *rq, sim_resp *r, const char *id)
{
    cJSON *b = cJSON_Parse(rq->body && *rq->body ? rq->body : "{}");
    const char *phone = b ? sim_json_str(b, "phone") : NULL;
    const char *msn = b ? sim_json_str(b, "msn") : NULL;
    const cJSON *vs = b ? cJSON_GetObjectItemCaseSensitive(b, "validSeconds") : NULL;
    double ttl = cJSON_IsNumber(vs) ? vs->valuedouble : STK_TOKEN_TTL;
    if (!phone) phone = "4791234567";
    if (!sim_phone_known(s, phone) || ttl < 0 || ttl > STK_TOKEN_TTL) {
        cJSON_Delete(b);
        sim_resp_text(r, 400, "text/plain",
                      "need {\"phone\": a known test user, \"validSeconds\": 0-900}\n");
        return;
    }
    sim_sticker *k = find_sticker(s, msn, id);
    if (!k) {
        cJSON_Delete(b);
        sim_resp_text(r, 404, "text/plain", "no such merchant callback QR\n");
        return;
    }
    sim_ctoken *t = new_token(s, k->msn, phone, ttl, 0);
    if (!t) { cJSON_Delete(b); sim_resp_text(r, 500, "text/plain", "no memory\n"); return; }
    char ts[40];
    sim_rfc3339(sim_now(), ts);
    int n = 0;
    for (sim_hook *h = s->hooks; h; h = h->next) {
        if (strcmp(h->msn, k->msn)) continue;
        int want = 0;
        for (int i = 0; i < h->nevents; i++)
            if (!strcmp(h->events[i], "user.checked-in.v1")) want = 1;
        if (!want) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "msn", k->msn);
        cJSON_AddStringToObject(o, "merchantSerialNumber", k->msn);
        cJSON_AddStringToObject(o, "merchantQrId", k->id);
        cJSON_AddStringToObject(o, "customerToken", t->token);
        cJSON_AddStringToObject(o, "initiatedAt", ts);
        char *body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (body) {
            sim_enqueue(s, h->id, k->id, "user.checked-in.v1", h->url, body, h->secret, NULL,
                        s->o.webhook_max_attempts);
            free(body);
            n++;
        }
    }
    cJSON_Delete(b);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "customerToken", t->token);
    cJSON_AddStringToObject(o, "merchantSerialNumber", k->msn);
    cJSON_AddNumberToObject(o, "webhooks", n);
    /* The app tells the customer the store cannot be reached without one. */
    if (!n) cJSON_AddStringToObject(o, "app", "Cannot connect to the store");
    sim_resp_json(r, 200, o);
}

/* POST /sim/v1/personal-qr {phone, validSeconds?} -> {qrCode} */
static void personal_qr(kv_sim *s, const sim_req *rq, sim_resp *r)
{
    cJSON *b = cJSON_Parse(rq->body && *rq->body ? rq->body : "{}");
    const char *phone = b ? sim_json_str(b, "phone") : NULL;
    const cJSON *vs = b ? cJSON_GetObjectItemCaseSensitive(b, "validSeconds") : NULL;
    double ttl = cJSON_IsNumber(vs) ? vs->valuedouble : PQR_TTL;
    if (!phone) phone = "4791234567";
    if (!sim_phone_known(s, phone) || ttl < 0 || ttl > 86400) {
        cJSON_Delete(b);
        sim_resp_text(r, 400, "text/plain", "need {\"phone\": a known test user}\n");
        return;
    }
    sim_ctoken *t = new_token(s, NULL, phone, ttl, 1);
    cJSON_Delete(b);
    if (!t) { sim_resp_text(r, 500, "text/plain", "no memory\n"); return; }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "qrCode", t->token);
    sim_resp_json(r, 200, o);
}

int sim_sticker_control(kv_sim *s, const sim_req *rq, sim_resp *r, char **seg, int nseg)
{
    if (nseg == 5 && !strcmp(seg[2], "stickers") && !strcmp(seg[4], "scan") &&
        !strcmp(rq->method, "POST")) {
        scan(s, rq, r, seg[3]);
        return 1;
    }
    if (nseg == 3 && !strcmp(seg[2], "personal-qr") && !strcmp(rq->method, "POST")) {
        personal_qr(s, rq, r);
        return 1;
    }
    return 0;
}

int sim_customer_resolve(kv_sim *s, sim_resp *r, const char *msn, const cJSON *cust,
                         const char *inst, const char **phone, double now)
{
    const char *pq = sim_json_str(cust, "personalQr");
    const char *ct = sim_json_str(cust, "customerToken");
    if (cJSON_GetObjectItemCaseSensitive(cust, "personalQr")) {
        size_t n = pq ? strlen(pq) : 0;
        sim_ctoken *t = pq && n >= 5 && n <= 255 ? find_token(s, pq, 1) : NULL;
        if (!t || now >= t->expires_at) {
            sim_problem(s, r, 400, "Bad Request", "Invalid personalQr", inst, "4060");
            return -1;
        }
        *phone = t->phone;
        return 0;
    }
    if (cJSON_GetObjectItemCaseSensitive(cust, "customerToken")) {
        sim_ctoken *t = ct ? find_token(s, ct, 0) : NULL;
        if (!t || t->used || now >= t->expires_at || strcmp(t->msn, msn)) {
            sim_problem(s, r, 400, "Bad Request", "Invalid customerToken", inst, "4050");
            return -1;
        }
        *phone = t->phone;
        return 0;
    }
    return 1;
}

void sim_customer_token_used(kv_sim *s, const cJSON *cust)
{
    const char *ct = sim_json_str(cust, "customerToken");
    sim_ctoken *t = ct ? find_token(s, ct, 0) : NULL;
    if (t) t->used = 1;
}

static void exchange_error(kv_sim *s, sim_resp *r, const char *detail, const char *field)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "title", "Bad Request");
    cJSON_AddNumberToObject(o, "status", 400);
    cJSON_AddStringToObject(o, "detail", detail);
    cJSON *a = cJSON_AddArrayToObject(o, "extraDetails");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", field);
    cJSON_AddStringToObject(e, "reason", detail);
    cJSON_AddItemToArray(a, e);
    (void)s;
    sim_resp_json(r, 400, o);
}

/* POST /qr/v1/exchange {qrCode} and /qr/v1/exchange/customer
 * {customer:{customerToken}} -> {msisdn,...} */
void sim_exchange_route(kv_sim *s, const sim_req *rq, sim_resp *r, const char *msn, char **seg,
                        int nseg)
{
    if (strcmp(rq->method, "POST") || nseg > 4 || (nseg == 4 && strcmp(seg[3], "customer"))) {
        sim_apim_error(r, 404, "Resource not found");
        return;
    }
    cJSON *b = cJSON_Parse(rq->body);
    double now = sim_now();
    if (nseg == 3) {
        const char *qr = b ? sim_json_str(b, "qrCode") : NULL;
        sim_ctoken *t = qr ? find_token(s, qr, 1) : NULL;
        cJSON_Delete(b);
        if (!qr) { exchange_error(s, r, "qrCode is required", "qrCode"); return; }
        if (!t || now >= t->expires_at) { exchange_error(s, r, "Invalid or expired QR code", "qrCode"); return; }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "msisdn", t->phone);
        cJSON_AddNumberToObject(o, "timestamp", (double)(long long)(t->expires_at - PQR_TTL));
        cJSON_AddStringToObject(o, "version", "2.0");
        sim_resp_json(r, 200, o);
        return;
    }
    const cJSON *c = b ? cJSON_GetObjectItemCaseSensitive(b, "customer") : NULL;
    const char *ct = cJSON_IsObject(c) ? sim_json_str(c, "customerToken") : NULL;
    sim_ctoken *t = ct ? find_token(s, ct, 0) : NULL;
    cJSON_Delete(b);
    if (!ct) { exchange_error(s, r, "customer.customerToken is required", "customer.customerToken"); return; }
    if (!t || now >= t->expires_at || strcmp(t->msn, msn)) {
        exchange_error(s, r, "Invalid or expired customerToken", "customer.customerToken");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "msisdn", t->phone);
    cJSON_AddNumberToObject(o, "timestamp", (double)(long long)(t->expires_at - STK_TOKEN_TTL));
    sim_resp_json(r, 200, o);
}
