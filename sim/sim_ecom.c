/* sim_ecom.c - eCom v2 (initiate, details, status, capture, cancel,
 * refund, integration-test approve, callbacks) and the QR API one-time
 * payment QR. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

static void new_txid(kv_sim *s, char out[40])
{
    snprintf(out, 40, "%llu", 5000000000ULL + sim_rand(s) % 4000000000ULL);
}

void sim_ecom_log(kv_sim *s, sim_payment *p, const char *op, long long amount, int ok,
                  const char *reqid, const char *text)
{
    if (p->nev == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 8;
        sim_event *ne = realloc(p->ev, nc * sizeof *ne);
        if (!ne) return;
        p->ev = ne;
        p->cap = nc;
    }
    sim_event *e = &p->ev[p->nev++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", op);
    e->value = amount;
    e->success = ok;
    new_txid(s, e->psp);
    sim_rfc3339(sim_now(), e->ts);
    e->idem = reqid ? strdup(reqid) : NULL;
    e->text = strdup(text ? text : (p->txtext ? p->txtext : ""));
}

void sim_ecom_callback(kv_sim *s, sim_payment *p, const char *status, const char *errcode,
                       const char *errmsg)
{
    if (!p->callback_prefix) return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "merchantSerialNumber", p->msn);
    cJSON_AddStringToObject(o, "orderId", p->ref);
    cJSON *ti = cJSON_AddObjectToObject(o, "transactionInfo");
    cJSON_AddNumberToObject(ti, "amount", (double)p->amount);
    cJSON_AddStringToObject(ti, "status", status);
    char ts[40];
    sim_rfc3339(sim_now(), ts);
    cJSON_AddStringToObject(ti, "timeStamp", ts);
    cJSON_AddStringToObject(ti, "transactionId", p->psp);
    if (errcode) {
        cJSON *ei = cJSON_AddObjectToObject(o, "errorInfo");
        cJSON_AddStringToObject(ei, "errorCode", errcode);
        cJSON_AddStringToObject(ei, "errorGroup", !strcmp(errcode, "45") ? "Payment" : "Payment");
        cJSON_AddStringToObject(ei, "errorMessage", errmsg ? errmsg : "");
    }
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *url = sim_printf("%s/v2/payments/%s", p->callback_prefix, p->ref);
    if (body && url) sim_enqueue(s, NULL, p->ref, status, url, body, NULL, p->auth_token, 1);
    free(body);
    free(url);
}

static cJSON *summary_json(const sim_payment *p)
{
    cJSON *o = cJSON_CreateObject();
    long long rem_cap = p->state == E_RESERVE ? p->authorized - p->captured - p->cancelled : 0;
    if (rem_cap < 0) rem_cap = 0;
    cJSON_AddNumberToObject(o, "capturedAmount", (double)p->captured);
    cJSON_AddNumberToObject(o, "remainingAmountToCapture", (double)rem_cap);
    cJSON_AddNumberToObject(o, "refundedAmount", (double)p->refunded);
    cJSON_AddNumberToObject(o, "remainingAmountToRefund", (double)(p->captured - p->refunded));
    return o;
}

static const char *status_word(const sim_payment *p)
{
    switch (p->state) {
    case E_INITIATE: return "INITIATE";
    case E_RESERVE:
        if (p->refunded > 0) return "REFUND";
        if (p->captured > 0) return "CAPTURE";
        return "RESERVE";
    case E_CANCEL: return "CANCEL";
    case E_VOID: return p->refunded > 0 ? "REFUND" : "VOID";
    case E_REJECTED: return "REJECTED";
    case E_FAILED: return "FAILED";
    }
    return "INITIATE";
}

static void tx_reply(sim_resp *r, const sim_payment *p, const char *status, long long amount,
                     const char *info_key)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "orderId", p->ref);
    cJSON *ti = cJSON_AddObjectToObject(o, info_key);
    const sim_event *e = p->nev ? &p->ev[p->nev - 1] : NULL;
    cJSON_AddNumberToObject(ti, "amount", (double)amount);
    cJSON_AddStringToObject(ti, "status", status);
    cJSON_AddStringToObject(ti, "timeStamp", e ? e->ts : "");
    cJSON_AddStringToObject(ti, "transactionId", e ? e->psp : p->psp);
    cJSON_AddStringToObject(ti, "transactionText", e && e->text ? e->text : "");
    cJSON_AddItemToObject(o, "transactionSummary", summary_json(p));
    sim_resp_json(r, 200, o);
}

static int rate(kv_sim *s, sim_resp *r, const char *what, const char *a, const char *b, int limit)
{
    if (limit <= 0) return 0;
    char *key = sim_printf("ecom %s %s %s", what, a, b);
    if (!key) return 0;
    int ra;
    int hit = sim_rate_hit(s, key, limit, sim_now(), &ra);
    free(key);
    if (!hit) return 0;
    char ras[16];
    snprintf(ras, sizeof ras, "%d", ra);
    sim_ecom_error(s, r, 429, "VippsError", "98", "Too many requests");
    sim_resp_header(r, "Retry-After", ras);
    return 1;
}

static void initiate(kv_sim *s, const sim_req *rq, sim_resp *r, const char *msn)
{
    double now = sim_now();
    cJSON *b = cJSON_Parse(rq->body);
    const cJSON *mi = b ? cJSON_GetObjectItemCaseSensitive(b, "merchantInfo") : NULL;
    const cJSON *cu = b ? cJSON_GetObjectItemCaseSensitive(b, "customerInfo") : NULL;
    const cJSON *tx = b ? cJSON_GetObjectItemCaseSensitive(b, "transaction") : NULL;
    if (!cJSON_IsObject(b) || !cJSON_IsObject(mi) || !cJSON_IsObject(tx)) {
        sim_ecom_error(s, r, 400, "InvalidRequest", "merchantInfo",
                       "merchantInfo, customerInfo and transaction are required");
        goto out;
    }
    const cJSON *msnv = cJSON_GetObjectItemCaseSensitive(mi, "merchantSerialNumber");
    if (cJSON_IsNumber(msnv) ||
        (cJSON_GetObjectItemCaseSensitive(mi, "fallback") && !cJSON_GetObjectItemCaseSensitive(mi, "fallBack"))) {
        /* What the real service does with an integer MSN or "fallback". */
        sim_ecom_error(s, r, 500, "VippsError", "99", "Internal error");
        goto out;
    }
    const char *bmsn = sim_json_str(mi, "merchantSerialNumber");
    const char *cb = sim_json_str(mi, "callbackPrefix");
    const char *fb = sim_json_str(mi, "fallBack");
    const char *at = sim_json_str(mi, "authToken");
    if (!bmsn || strlen(bmsn) < 5 || strspn(bmsn, "0123456789") != strlen(bmsn)) {
        sim_ecom_error(s, r, 400, "InvalidRequest", "merchantSerialNumber",
                       "merchantSerialNumber must be a string of at least 5 digits");
        goto out;
    }
    if (strcmp(bmsn, msn) != 0) {
        sim_ecom_error(s, r, 403, "Merchant", "37", "Merchant not available or deactivated");
        goto out;
    }
    if (!cb || !strstr(cb, "://") || strlen(cb) > 255) {
        sim_ecom_error(s, r, 400, "InvalidRequest", "callbackPrefix", "callbackPrefix must be an https URL");
        goto out;
    }
    if (!fb || !strstr(fb, "://") || strlen(fb) > 255) {
        sim_ecom_error(s, r, 400, "InvalidRequest", "fallBack", "fallBack must be a URL");
        goto out;
    }
    if (!cJSON_IsObject(cu)) {
        sim_ecom_error(s, r, 400, "InvalidRequest", "customerInfo", "customerInfo is required");
        goto out;
    }
    const char *mob = sim_json_str(cu, "mobileNumber");
    const char *oid = sim_json_str(tx, "orderId");
    const char *txt = sim_json_str(tx, "transactionText");
    const cJSON *amt = cJSON_GetObjectItemCaseSensitive(tx, "amount");
    int skip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(tx, "skipLandingPage"));
    if (!oid || !sim_match_pattern(oid, 1, 50, "-")) {
        sim_ecom_error(s, r, 400, "InvalidRequest", "orderId", "orderId must match ^[a-zA-Z0-9-]{1,50}$");
        goto out;
    }
    if (rate(s, r, "initiate", oid, msn, s->o.rate_mod_per_min ? 2 : 0)) goto out;
    if (!cJSON_IsNumber(amt) || amt->valuedouble != floor(amt->valuedouble) || amt->valuedouble < 100 ||
        amt->valuedouble > 65000000) {
        sim_ecom_error(s, r, 400, "InvalidRequest", "amount", "amount must be an integer of at least 100 ore");
        goto out;
    }
    if (!txt || strlen(txt) > 100) {
        sim_ecom_error(s, r, 400, "InvalidRequest", "transactionText", "transactionText is required (max 100)");
        goto out;
    }
    if (skip && !mob) {
        sim_ecom_error(s, r, 400, "InvalidRequest", "mobileNumber", "skipLandingPage needs mobileNumber");
        goto out;
    }
    if (mob) {
        char msisdn[16];
        snprintf(msisdn, sizeof msisdn, "47%s", mob);
        if (!sim_all_digits(mob, 8, 8) || !sim_phone_known(s, msisdn)) {
            sim_ecom_error(s, r, 400, "User", "81", "User not recognized");
            goto out;
        }
    }
    if (sim_find(s, msn, oid, 1)) {
        sim_ecom_error(s, r, 400, "Merchant", "34", "Duplicate orderId for this merchant");
        goto out;
    }
    sim_payment *p = calloc(1, sizeof *p);
    if (!p) { sim_apim_error(r, 500, "Internal server error"); goto out; }
    p->ecom = 1;
    snprintf(p->msn, sizeof p->msn, "%s", msn);
    snprintf(p->ref, sizeof p->ref, "%s", oid);
    snprintf(p->currency, sizeof p->currency, "NOK");
    p->amount = (long long)amt->valuedouble;
    p->state = E_INITIATE;
    new_txid(s, p->psp);
    sim_rand_hex(s, p->token, 32);
    p->callback_prefix = strdup(cb);
    p->auth_token = at ? strdup(at) : NULL;
    p->fallback = strdup(fb);
    p->txtext = strdup(txt);
    p->skip_landing = skip;
    if (mob) p->phone = sim_printf("47%s", mob);
    p->created_at = now;
    p->expires_at = now + s->o.expire_after_s;
    if (s->o.auto_mode != KV_SIM_AUTO_NONE) {
        p->auto_action = s->o.auto_mode;
        p->auto_at = now + s->o.approve_after_ms / 1000.0;
    }
    p->redirect_url = sim_printf("%s/sim/v1/landing/%s", s->url, p->token);
    p->next = s->pay;
    s->pay = p;
    sim_ecom_log(s, p, "INITIATE", p->amount, 1, NULL, txt);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "orderId", p->ref);
    cJSON_AddStringToObject(o, "url", p->redirect_url ? p->redirect_url : "");
    sim_resp_json(r, 200, o);
out:
    cJSON_Delete(b);
}

static void details(kv_sim *s, sim_resp *r, const sim_payment *p)
{
    (void)s;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "orderId", p->ref);
    if (p->state != E_INITIATE) cJSON_AddItemToObject(o, "transactionSummary", summary_json(p));
    cJSON *h = cJSON_AddArrayToObject(o, "transactionLogHistory");
    for (size_t i = p->nev; i-- > 0;) {
        const sim_event *e = &p->ev[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "amount", (double)e->value);
        cJSON_AddStringToObject(x, "operation", e->name);
        cJSON_AddBoolToObject(x, "operationSuccess", e->success);
        if (e->idem) cJSON_AddStringToObject(x, "requestId", e->idem);
        cJSON_AddStringToObject(x, "timeStamp", e->ts);
        /* The INITIATE entry shows a transactionId only once the QR was opened. */
        if (strcmp(e->name, "INITIATE") || p->opened) cJSON_AddStringToObject(x, "transactionId", e->psp);
        cJSON_AddStringToObject(x, "transactionText", e->text ? e->text : "");
        cJSON_AddItemToArray(h, x);
    }
    sim_resp_json(r, 200, o);
}

static void status_reply(sim_resp *r, const sim_payment *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "orderId", p->ref);
    cJSON *ti = cJSON_AddObjectToObject(o, "transactionInfo");
    const sim_event *e = p->nev ? &p->ev[p->nev - 1] : NULL;
    cJSON_AddNumberToObject(ti, "amount", (double)p->amount);
    cJSON_AddStringToObject(ti, "status", status_word(p));
    cJSON_AddStringToObject(ti, "timeStamp", e ? e->ts : "");
    cJSON_AddStringToObject(ti, "transactionId", p->psp);
    sim_resp_json(r, 200, o);
}

static int check_mod_body(kv_sim *s, sim_resp *r, const cJSON *b, const char *msn, int need_text,
                          long long *amount)
{
    const cJSON *mi = b ? cJSON_GetObjectItemCaseSensitive(b, "merchantInfo") : NULL;
    const cJSON *tx = b ? cJSON_GetObjectItemCaseSensitive(b, "transaction") : NULL;
    const cJSON *msnv = mi ? cJSON_GetObjectItemCaseSensitive(mi, "merchantSerialNumber") : NULL;
    if (cJSON_IsNumber(msnv)) { sim_ecom_error(s, r, 500, "VippsError", "99", "Internal error"); return -1; }
    if (!cJSON_IsObject(mi) || !cJSON_IsString(msnv) || !cJSON_IsObject(tx)) {
        sim_ecom_error(s, r, 400, "InvalidRequest", "merchantInfo",
                       "merchantInfo.merchantSerialNumber and transaction are required");
        return -1;
    }
    if (strcmp(msnv->valuestring, msn)) {
        sim_ecom_error(s, r, 403, "Merchant", "37", "Merchant not available or deactivated");
        return -1;
    }
    const char *txt = sim_json_str(tx, "transactionText");
    if (need_text && (!txt || strlen(txt) > 100)) {
        sim_ecom_error(s, r, 400, "InvalidRequest", "transactionText", "transactionText is required (max 100)");
        return -1;
    }
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(tx, "amount");
    *amount = 0;
    if (a && !cJSON_IsNull(a)) {
        if (!cJSON_IsNumber(a) || a->valuedouble != floor(a->valuedouble) || a->valuedouble < 0) {
            sim_ecom_error(s, r, 400, "InvalidRequest", "amount", "amount must be a non-negative integer");
            return -1;
        }
        *amount = (long long)a->valuedouble;
    }
    return 0;
}

static void modify(kv_sim *s, const sim_req *rq, sim_resp *r, const char *msn, const char *oid,
                   const char *op)
{
    sim_payment *p = sim_find(s, msn, oid, 1);
    const char *rid = sim_header(rq, "X-Request-Id");
    if (rid && strlen(rid) > 40) {
        sim_ecom_error(s, r, 400, "InvalidRequest", "X-Request-Id", "X-Request-Id is at most 40 characters");
        return;
    }
    if (!strcmp(op, "capture") && (!rid || !*rid)) {
        sim_ecom_error(s, r, 400, "InvalidRequest", "X-Request-Id", "X-Request-Id is required");
        return;
    }
    if (rate(s, r, op, oid, msn, s->o.rate_mod_per_min)) return;
    char *scope = sim_printf("%s %s %s", msn, rq->method, rq->path);
    if (!scope) { sim_apim_error(r, 500, "Internal server error"); return; }
    if (rid && *rid && sim_idem_check(s, rq, r, scope, rid, 1, NULL, NULL)) { free(scope); return; }
    cJSON *b = cJSON_Parse(rq->body);
    long long amount = 0;
    if (check_mod_body(s, r, b, msn, 1, &amount) < 0) goto done;
    const char *txt = sim_json_str(cJSON_GetObjectItemCaseSensitive(b, "transaction"), "transactionText");
    if (!p) {
        sim_ecom_error(s, r, 404, "Merchant", "35", "Requested Order not found");
        goto done;
    }
    if (!strcmp(op, "capture")) {
        if (p->state == E_INITIATE) {
            sim_ecom_error(s, r, 400, "Payment", "62", "The amount has not been reserved");
            goto done;
        }
        if (p->state != E_RESERVE) {
            sim_ecom_error(s, r, 400, "VippsError", "91", "Transaction is not allowed");
            goto done;
        }
        long long rem = p->authorized - p->captured - p->cancelled;
        if (amount == 0) amount = rem;
        if (amount > rem || rem <= 0) {
            sim_ecom_error(s, r, 400, "Payment", "61", "Captured amount exceeds the reserved amount");
            goto done;
        }
        p->captured += amount;
        sim_ecom_log(s, p, "CAPTURE", amount, 1, rid, txt);
        tx_reply(r, p, "Captured", amount, "transactionInfo");
        goto done;
    }
    if (!strcmp(op, "cancel")) {
        int release = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "shouldReleaseRemainingFunds"));
        if (p->state == E_INITIATE) {
            p->state = E_CANCEL;
            p->auto_at = 0;
            sim_ecom_log(s, p, "CANCEL", p->amount, 1, NULL, txt);
            tx_reply(r, p, "Cancelled", p->amount, "transactionInfo");
            goto done;
        }
        if (p->state != E_RESERVE) {
            sim_ecom_error(s, r, 400, "Payment", "52", "Cancellation failed");
            goto done;
        }
        if (p->captured >= p->authorized || (p->captured > 0 && !release)) {
            sim_ecom_error(s, r, 400, "Payment", "51", "Cannot cancel an already captured order");
            goto done;
        }
        long long rest = p->authorized - p->captured - p->cancelled;
        p->cancelled += rest;
        p->state = E_VOID;
        sim_ecom_log(s, p, "VOID", rest, 1, NULL, txt);
        tx_reply(r, p, "Cancelled", rest, "transactionInfo");
        goto done;
    }
    /* refund */
    long long refundable = p->captured - p->refunded;
    if (amount == 0) amount = refundable;
    else if (amount != refundable && (!rid || !*rid)) {
        sim_ecom_error(s, r, 400, "InvalidRequest", "X-Request-Id", "X-Request-Id is required for a partial refund");
        goto done;
    }
    if (p->captured == 0) {
        if (p->state == E_RESERVE) sim_ecom_error(s, r, 400, "Payment", "72", "Cannot refund a reserved order, cancel instead");
        else sim_ecom_error(s, r, 400, "Payment", "73", "Cannot refund a cancelled order");
        goto done;
    }
    if (amount > refundable || amount <= 0) {
        sim_ecom_error(s, r, 400, "Payment", "71", "Refund exceeds the captured amount");
        goto done;
    }
    if (amount == 123 || amount == 124) {
        sim_ecom_log(s, p, "REFUND", amount, 0, rid, txt);
        if (amount == 123) sim_ecom_error(s, r, 400, "Payment", "74", "Refund failed (test amount 123)");
        else sim_ecom_error(s, r, 400, "Payment", "95", "Refund period expired (test amount 124)");
        goto done;
    }
    p->refunded += amount;
    sim_ecom_log(s, p, "REFUND", amount, 1, rid, txt);
    tx_reply(r, p, "Refund", amount, "transaction");
done:
    if (rid && *rid)
        sim_idem_store(s, rq, r, scope, rid);
    free(scope);
    cJSON_Delete(b);
}

void sim_ecom_route(kv_sim *s, const sim_req *rq, sim_resp *r, int cred, const char *msn,
                    char **seg, int nseg)
{
    (void)cred;
    const char *m = rq->method;
    /* ecomm v2 payments [orderId [details|status|capture|cancel|refund]] */
    if (nseg == 3 && !strcmp(seg[2], "payments") && !strcmp(m, "POST")) { initiate(s, rq, r, msn); return; }
    if (nseg == 5 && !strcmp(seg[2], "payments")) {
        const char *oid = seg[3], *op = seg[4];
        if ((!strcmp(op, "details") || !strcmp(op, "status")) && !strcmp(m, "GET")) {
            char *key = sim_printf("%s", sim_header(rq, "Ocp-Apim-Subscription-Key"));
            int limited = key && rate(s, r, "details", oid, key, s->o.rate_get_per_min);
            free(key);
            if (limited) return;
            sim_payment *p = sim_find(s, msn, oid, 1);
            if (!p) { sim_ecom_error(s, r, 404, "Merchant", "35", "Requested Order not found"); return; }
            if (!strcmp(op, "details")) details(s, r, p);
            else status_reply(r, p);
            return;
        }
        if ((!strcmp(op, "capture") || !strcmp(op, "refund")) && !strcmp(m, "POST")) {
            modify(s, rq, r, msn, oid, op);
            return;
        }
        if (!strcmp(op, "cancel") && !strcmp(m, "PUT")) { modify(s, rq, r, msn, oid, op); return; }
        if (!strcmp(op, "capture") || !strcmp(op, "refund") || !strcmp(op, "cancel")) {
            char msg[96];
            snprintf(msg, sizeof msg, "Method not allowed: %s uses %s", op, strcmp(op, "cancel") ? "POST" : "PUT");
            sim_ecom_error(s, r, 405, "InvalidRequest", "method", msg);
            return;
        }
    }
    if (nseg == 6 && !strcmp(seg[2], "integration-test") && !strcmp(seg[3], "payments") &&
        !strcmp(seg[5], "approve") && !strcmp(m, "POST")) {
        sim_payment *p = sim_find(s, msn, seg[4], 1);
        if (!p) { sim_ecom_error(s, r, 404, "Merchant", "35", "Requested Order not found"); return; }
        cJSON *b = cJSON_Parse(rq->body);
        const char *ph = b ? sim_json_str(b, "customerPhoneNumber") : NULL;
        const char *tok = b ? sim_json_str(b, "token") : NULL;
        char msisdn[16] = "";
        if (ph) snprintf(msisdn, sizeof msisdn, "47%s", ph);
        if (!ph || !sim_all_digits(ph, 8, 8) || !sim_phone_known(s, msisdn)) {
            sim_ecom_error(s, r, 400, "User", "81", "User not recognized");
        } else if (p->skip_landing) {
            sim_ecom_error(s, r, 400, "InvalidRequest", "skipLandingPage",
                           "Force approve is not supported with skipLandingPage");
        } else if (tok && strcmp(tok, p->token)) {
            sim_ecom_error(s, r, 400, "VippsError", "99", "Token does not match the order");
        } else {
            int rc = sim_customer_approve(s, p, sim_now());
            if (rc < 0) sim_ecom_error(s, r, 400, "VippsError", "91", "Transaction is not allowed");
            else if (rc == 1) sim_ecom_error(s, r, 400, "Payment", "42", "Refused by issuer (test amount)");
            else sim_resp_text(r, 200, NULL, NULL);
        }
        cJSON_Delete(b);
        return;
    }
    sim_apim_error(r, 404, "Resource not found");
}

/* ---- QR API ---- */
static void qr_problem(kv_sim *s, sim_resp *r, int status, const char *title, const char *detail,
                       const char *param)
{
    (void)s;
    cJSON *o = cJSON_CreateObject();
    char type[64];
    snprintf(type, sizeof type, "https://httpstatuses.io/%d", status);
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "title", title);
    cJSON_AddStringToObject(o, "detail", detail);
    cJSON_AddStringToObject(o, "instance", "/v1/");
    if (param) {
        cJSON *a = cJSON_AddArrayToObject(o, "invalidParams");
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "name", param);
        cJSON_AddStringToObject(x, "reason", detail);
        cJSON_AddItemToArray(a, x);
    }
    sim_resp_json(r, status, o);
    r->ctype = "application/problem+json";
}

void sim_qr_route(kv_sim *s, const sim_req *rq, sim_resp *r, int cred, const char *msn,
                  char **seg, int nseg)
{
    (void)cred;
    if (nseg >= 3 && !strcmp(seg[2], "merchant-callback")) { sim_sticker_route(s, rq, r, msn, seg, nseg); return; }
    if (nseg >= 3 && !strcmp(seg[2], "exchange")) { sim_exchange_route(s, rq, r, msn, seg, nseg); return; }
    if (nseg != 2 || strcmp(rq->method, "POST")) {
        sim_apim_error(r, 404, "Resource not found");
        return;
    }
    const char *acc = sim_header(rq, "Accept");
    int kind; /* 0 target url, 1 png, 2 svg */
    if (!acc || !*acc) { qr_problem(s, r, 400, "Bad Request", "The Accept header is required", "Accept"); return; }
    if (!strcasecmp(acc, "text/targetUrl")) kind = 0;
    else if (!strcasecmp(acc, "image/png")) kind = 1;
    else if (!strcasecmp(acc, "image/svg+xml") || !strcmp(acc, "image/*")) kind = 2;
    else { qr_problem(s, r, 415, "Unsupported Media Type", "Accept must be image/*, image/png, image/svg+xml or text/targetUrl", "Accept"); return; }
    int size = 800;
    const char *sz = sim_header(rq, "Size");
    if (sz) {
        size = atoi(sz);
        if (size < 100 || size > 2000) { qr_problem(s, r, 400, "Bad Request", "Size must be 100-2000", "Size"); return; }
    }
    cJSON *b = cJSON_Parse(rq->body);
    const char *url = b ? sim_json_str(b, "url") : NULL;
    sim_payment *p = NULL;
    if (url) {
        const char *t = strstr(url, "/sim/v1/landing/");
        if (t) {
            t += strlen("/sim/v1/landing/");
            for (sim_payment *x = s->pay; x; x = x->next)
                if (x->ecom && !strcmp(x->msn, msn) && !strncmp(x->token, t, strlen(x->token)) &&
                    strlen(t) >= strlen(x->token))
                    p = x;
        }
    }
    if (!p) {
        qr_problem(s, r, 400, "Bad Request", "url is not a valid landing page URL of an initiated payment", "url");
        cJSON_Delete(b);
        return;
    }
    cJSON_Delete(b);
    double now = sim_now();
    double exp = p->created_at + 300; /* the initiate url lives 5 minutes */
    if (p->state != E_INITIATE || now >= exp) {
        qr_problem(s, r, 400, "Bad Request", "The payment URL has expired", "url");
        return;
    }
    char *target = sim_printf("https://qr.vipps.no/28/2/01/031/%s", p->token);
    if (!target) { sim_apim_error(r, 500, "Internal server error"); return; }
    sim_qr *q = calloc(1, sizeof *q);
    if (q) {
        snprintf(q->token, sizeof q->token, "%s", p->token);
        q->target = strdup(target);
        q->expires_at = exp;
        q->next = s->qrs;
        s->qrs = q;
    }
    char *out = kind == 0 ? strdup(target)
              : kind == 1 ? sim_printf("%s/sim/v1/qr/%s.png?size=%d", s->url, p->token, size)
                          : sim_printf("%s/sim/v1/qr/%s.svg", s->url, p->token);
    free(target);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "url", out ? out : "");
    cJSON_AddNumberToObject(o, "expiresIn", (double)(long)(exp - now));
    free(out);
    sim_resp_json(r, 200, o);
    r->ctype = "application/json";
}
