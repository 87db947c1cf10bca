/* sim_epay.c - the ePayment API v1: create, get, events, capture, refund,
 * cancel and the test approve endpoint. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim_int.h"

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

/* ---- ePayment ---- */
static cJSON *aggregate_json(const sim_payment *p)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddItemToObject(a, "authorizedAmount", sim_amount_json(p->currency, p->authorized));
    cJSON_AddItemToObject(a, "cancelledAmount", sim_amount_json(p->currency, p->cancelled));
    cJSON_AddItemToObject(a, "capturedAmount", sim_amount_json(p->currency, p->captured));
    cJSON_AddItemToObject(a, "refundedAmount", sim_amount_json(p->currency, p->refunded));
    return a;
}

static void payment_reply(sim_resp *r, const sim_payment *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "aggregate", aggregate_json(p));
    cJSON_AddItemToObject(o, "amount", sim_amount_json(p->currency, p->amount));
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
    cJSON_AddItemToObject(o, "amount", sim_amount_json(p->currency, p->amount));
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

/* The Idempotency-Key of a POST (borrowed), or NULL after answering 400. */
static const char *idem_key(kv_sim *s, const sim_req *rq, sim_resp *r, const char *inst)
{
    const char *key = sim_header(rq, "Idempotency-Key");
    if (!key || !*key) {
        sim_problem_field(s, r, 400, "The Idempotency-Key header is required", inst, "Idempotency-Key");
        return NULL;
    }
    if (strlen(key) > 50) {
        sim_problem_field(s, r, 400, "The Idempotency-Key must be at most 50 characters", inst,
                          "Idempotency-Key");
        return NULL;
    }
    return key;
}

/* POST /epayment/v1/payments. */
static void epay_create(kv_sim *s, const sim_req *rq, sim_resp *r, int ci, const char *msn,
                        double now)
{
    const char *inst = "/v1/payments";
    const char *key = idem_key(s, rq, r, inst);
    if (!key) return;
    cJSON *b = cJSON_Parse(rq->body);
    if (!cJSON_IsObject(b)) {
        cJSON_Delete(b);
        sim_problem_field(s, r, 400, "The request body is not a valid JSON object", inst, "body");
        return;
    }
    const char *ref = sim_json_str(b, "reference");
    if (sim_rate_limited(s, r, s->o.rate_mod_per_min, now, "create %s %s", msn, ref ? ref : "")) {
        cJSON_Delete(b);
        return;
    }
    char *scope = sim_printf("%s POST /epayment/v1/payments", msn);
    if (!scope) { cJSON_Delete(b); sim_apim_error(r, 500, "Internal server error"); return; }
    if (sim_idem_check(s, rq, r, scope, key, 0, "4020", inst)) { free(scope); cJSON_Delete(b); return; }

    const cJSON *amt = cJSON_GetObjectItemCaseSensitive(b, "amount");
    const cJSON *pm = cJSON_GetObjectItemCaseSensitive(b, "paymentMethod");
    const char *uf = sim_json_str(b, "userFlow");
    const cJSON *cust = cJSON_GetObjectItemCaseSensitive(b, "customer");
    const cJSON *qf = cJSON_GetObjectItemCaseSensitive(b, "qrFormat");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(b, "metadata");
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(b, "receipt");
    const char *desc = sim_json_str(b, "paymentDescription");
    const char *ci_s = sim_json_str(b, "customerInteraction");
    const char *ret = sim_json_str(b, "returnUrl");
    const char *exp = sim_json_str(b, "expiresAt");
    const char *cur = cJSON_IsObject(amt) ? sim_json_str(amt, "currency") : NULL;
    long long value = 0;
    const char *phone = NULL, *qfmt = "IMAGE/SVG+XML";
    long long qsize = 1024;
    double expires_at = now + s->o.expire_after_s;

    if (!cJSON_IsObject(amt) || !cJSON_GetObjectItemCaseSensitive(amt, "value") || !cur) {
        sim_problem_field(s, r, 400, "The Amount field is required (value and currency)", inst, "Amount");
        goto done;
    }
    if (!sim_json_int(cJSON_GetObjectItemCaseSensitive(amt, "value"), 0, 65000000, &value)) {
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
    if (!ref || !sim_match_pattern(ref, 8, 50, "-")) {
        sim_problem_field(s, r, 400, "The Reference must match ^[a-zA-Z0-9-]{8,50}$", inst, "Reference");
        goto done;
    }
    if (!cJSON_IsObject(pm) || !sim_json_str(pm, "type")) {
        sim_problem_field(s, r, 400, "The PaymentMethod field is required", inst, "PaymentMethod");
        goto done;
    }
    if (strcmp(sim_json_str(pm, "type"), "WALLET") != 0) {
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
        if (strcmp(uf, "QR") != 0 || !cJSON_IsObject(qf) || !sim_json_str(qf, "format")) {
            sim_problem_field(s, r, 400, "QrFormat.Format is required and only allowed with userFlow QR",
                              inst, "QrFormat");
            goto done;
        }
        qfmt = sim_json_str(qf, "format");
        if (strcmp(qfmt, "IMAGE/SVG+XML") && strcmp(qfmt, "IMAGE/PNG") && strcmp(qfmt, "TEXT/TARGETURL")) {
            sim_problem_field(s, r, 400, "QrFormat.Format must be IMAGE/SVG+XML, IMAGE/PNG or TEXT/TARGETURL",
                              inst, "QrFormat.Format");
            goto done;
        }
        const cJSON *sz = cJSON_GetObjectItemCaseSensitive(qf, "size");
        if (sz && !cJSON_IsNull(sz) && !sim_json_int(sz, 100, 2000, &qsize)) {
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
        int cr = sim_customer_resolve(s, r, msn, cust, inst, &phone, now);
        if (cr < 0) goto done;
        if (cr == 1) phone = sim_json_str(cust, "phoneNumber");
        if (!phone || !sim_all_digits(phone, 10, 15)) {
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
    if (rc && !cJSON_IsNull(rc) && sim_check_receipt(s, r, rc, inst, 1)) goto done;
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
    if (phone && !sim_phone_known(s, phone)) {
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
    sim_new_psp(s, p->psp);
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
    if (cust) sim_customer_token_used(s, cust);
    if (rc && cJSON_IsObject(rc) && !sim_find_receipt(s, msn, "ECOM", ref))
        sim_store_receipt(s, msn, "ECOM", ref, rc);
    sim_epay_event(s, p, "CREATED", value, key, 1, now);
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
    const char *key = idem_key(s, rq, r, inst);
    if (!key) return;
    if (sim_rate_limited(s, r, s->o.rate_mod_per_min, now, "%s %s %s", op, msn, ref)) return;
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
            sim_epay_event(s, p, "TERMINATED", p->amount, key, 1, now);
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
        sim_epay_event(s, p, "CANCELLED", rest, key, 1, now);
        modification_reply(s, r, p);
        goto done;
    }
    const cJSON *ma = b ? cJSON_GetObjectItemCaseSensitive(b, "modificationAmount") : NULL;
    long long v = 0;
    const char *cur = cJSON_IsObject(ma) ? sim_json_str(ma, "currency") : NULL;
    if (!cJSON_IsObject(ma) || !cur) {
        sim_problem_field(s, r, 400, "The ModificationAmount field is required", inst, "ModificationAmount");
        goto done;
    }
    if (!sim_json_int(cJSON_GetObjectItemCaseSensitive(ma, "value"), 1, 65000000, &v) ||
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
        sim_epay_event(s, p, "CAPTURED", v, key, 1, now);
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
        sim_epay_event(s, p, "REFUNDED", v, key, 0, now);
        if (v == 123)
            sim_problem(s, r, 400, "Bad Request",
                        "The refund cannot be made: the customer has no receiving account (test amount 123)",
                        inst, "6210");
        else
            sim_problem(s, r, 400, "Bad Request", "Refund period expired (test amount 124)", inst, "6220");
        goto done;
    }
    p->refunded += v;
    sim_epay_event(s, p, "REFUNDED", v, key, 1, now);
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
    const char *phone = cust ? sim_json_str(cust, "phoneNumber") : NULL;
    const char *tok = b ? sim_json_str(b, "token") : NULL;
    if (cust && (!phone || !sim_all_digits(phone, 10, 15))) {
        sim_problem(s, r, 400, "Bad Request", "Invalid phone number format", inst, "4070");
    } else if (phone && !sim_phone_known(s, phone)) {
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

void sim_epay_route(kv_sim *s, const sim_req *rq, sim_resp *r, int ci, const char *msn,
                    char **seg, int nseg, double now)
{
    const char *m = rq->method;
    /* seg: epayment v1 payments [ref [op]] | epayment v1 test payments ref approve */
    if (nseg >= 3 && !strcmp(seg[2], "payments")) {
        if (nseg == 3) {
            if (!strcmp(m, "POST")) { epay_create(s, rq, r, ci, msn, now); return; }
        } else {
            const char *ref = seg[3];
            int events = nseg == 5 && !strcmp(seg[4], "events");
            if ((nseg == 4 || events) && !strcmp(m, "GET")) {
                if (sim_rate_limited(s, r, s->o.rate_get_per_min, now, "get %s %s",
                                     sim_header(rq, "Ocp-Apim-Subscription-Key"), ref))
                    return;
                sim_payment *p = sim_find(s, msn, ref, 0);
                char inst[128];
                snprintf(inst, sizeof inst, "/v1/payments/%s%s", ref, events ? "/events" : "");
                if (!p) { sim_problem(s, r, 404, "Not Found", "Reference not found", inst, "5090"); return; }
                if (!events) { payment_reply(r, p); return; }
                cJSON *a = cJSON_CreateArray();
                for (size_t i = 0; i < p->nev; i++) cJSON_AddItemToArray(a, sim_event_json(p, &p->ev[i], 0));
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
