/*
 * epayment.c - ePayment v1 calls and Order Management receipts.
 *
 * Money-changing calls (create, capture, refund, cancel) carry the
 * caller's Idempotency-Key on every attempt.  When they end without a
 * definite answer the payment is read back before anything is decided:
 * the caller gets OK (it happened), an API error (it definitely did not),
 * or KV_VIPPS_E_UNKNOWN (cannot tell yet).
 */
#include "src/vipps/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *kv_vipps_state_name(kv_vipps_state s)
{
    switch (s) {
    case KV_VIPPS_STATE_CREATED: return "CREATED";
    case KV_VIPPS_STATE_AUTHORIZED: return "AUTHORIZED";
    case KV_VIPPS_STATE_ABORTED: return "ABORTED";
    case KV_VIPPS_STATE_EXPIRED: return "EXPIRED";
    case KV_VIPPS_STATE_TERMINATED: return "TERMINATED";
    case KV_VIPPS_STATE_UNKNOWN: break;
    }
    return "UNKNOWN";
}

int kv_vipps_state_final(kv_vipps_state s)
{
    return s == KV_VIPPS_STATE_AUTHORIZED || s == KV_VIPPS_STATE_ABORTED ||
        s == KV_VIPPS_STATE_EXPIRED || s == KV_VIPPS_STATE_TERMINATED;
}

/* Answer parsers in the shape kv__call_parse takes. */
static kv_vipps_status parse_payment(void *out, const char *body, size_t len)
{
    return kv_vipps__parse_payment(out, body, len);
}

static kv_vipps_status parse_created(void *out, const char *body, size_t len)
{
    return kv_vipps__parse_created(out, body, len);
}

static int payment_path(kv_vipps_client *c, char *dst, size_t n,
                        const char *ref, const char *suffix)
{
    char seg[200];
    if (!kv_vipps__valid_reference(ref) ||
        kv__path_seg(seg, sizeof seg, ref) < 0) {
        kv__set_error(c, KV_VIPPS_API_EPAYMENT, KV_VIPPS_ERR_BAD_REQUEST,
                      "bad reference (8-50 letters, digits or '-')");
        return -1;
    }
    snprintf(dst, n, "/epayment/v1/payments/%s%s", seg, suffix);
    return 0;
}

static void parse_fail(kv_vipps_client *c, const char *what)
{
    kv__set_error(c, KV_VIPPS_API_EPAYMENT, KV_VIPPS_ERR_PROTOCOL,
                  "%s: unexpected answer body", what);
}

/* GET without touching the error of the call being resolved when it is
 * needed again: returns the GET status. */
kv_vipps_status kv_vipps_get(kv_vipps_payment *out, kv_vipps_client *c,
                             const char *reference)
{
    kv_req rq = { .method = "GET", .api = KV_VIPPS_API_EPAYMENT };
    if (!out || payment_path(c, rq.path, sizeof rq.path, reference, "") < 0)
        return KV_VIPPS_E_INVALID;
    return kv__call_parse(c, &rq, parse_payment, out, "GET payment", NULL);
}

kv_vipps_status kv_vipps_create(kv_vipps_created *out, kv_vipps_client *c,
                                const kv_vipps_create_req *req)
{
    char why[128] = "";
    if (!out || !req) {
        kv__set_error(c, KV_VIPPS_API_EPAYMENT, KV_VIPPS_ERR_BAD_REQUEST,
                      "create: no request");
        return KV_VIPPS_E_INVALID;
    }
    if (!kv_vipps__valid_key(req->idempotency_key, 50)) {
        kv__set_error(c, KV_VIPPS_API_EPAYMENT, KV_VIPPS_ERR_BAD_REQUEST,
                      "create: idempotency key must be 1-50 printable characters");
        return KV_VIPPS_E_INVALID;
    }
    char *body = kv_vipps__build_create(req, why, sizeof why);
    if (!body) {
        kv__set_error(c, KV_VIPPS_API_EPAYMENT, KV_VIPPS_ERR_BAD_REQUEST,
                      "create: %s", why[0] ? why : "out of memory");
        return why[0] ? KV_VIPPS_E_INVALID : KV_VIPPS_E_NOMEM;
    }
    kv_req rq = { .method = "POST", .path = "/epayment/v1/payments",
                  .body = body, .idem_key = req->idempotency_key,
                  .api = KV_VIPPS_API_EPAYMENT,
                  .phone = req->flow != KV_VIPPS_FLOW_PUSH ? NULL
                         : req->phone ? req->phone
                         : req->personal_qr ? req->personal_qr : req->customer_token };
    int ambiguous;
    kv_vipps_status st = kv__call_parse(c, &rq, parse_created, out, "POST /epayment/v1/payments", &ambiguous);
    free(body);
    if (!ambiguous)
        return st;
    /* The payment may have been created: read it back. */
    kv_vipps_error saved = *kv__err(c);
    kv_vipps_payment p;
    kv_vipps_status gs = kv_vipps_get(&p, c, req->reference);
    if (gs == KV_VIPPS_OK && p.amount == req->amount) {
        kv__log(c, KV_VIPPS_LOG_INFO,
                "create %s: resolved after an ambiguous failure: the payment exists",
                req->reference);
        memset(kv__err(c), 0, sizeof(kv_vipps_error));
        kv_vipps_created cr;
        snprintf(cr.reference, sizeof cr.reference, "%s", req->reference);
        memcpy(cr.redirect_url, p.redirect_url, sizeof cr.redirect_url);
        *out = cr;
        return KV_VIPPS_OK;
    }
    *kv__err(c) = saved;
    if (gs == KV_VIPPS_E_NOT_FOUND) {
        /* Definitely not created (the same key may be sent again). */
        return KV_VIPPS_E_UNREACHABLE;
    }
    kv__set_ambiguous(c, "create");
    return KV_VIPPS_E_UNKNOWN;
}

kv_vipps_status kv_vipps_events(kv_vipps_event **out, size_t *n_out,
                                kv_vipps_client *c, const char *reference)
{
    kv_req rq = { .method = "GET", .api = KV_VIPPS_API_EPAYMENT };
    if (!out || !n_out ||
        payment_path(c, rq.path, sizeof rq.path, reference, "/events") < 0)
        return KV_VIPPS_E_INVALID;
    kv_resp r;
    kv_vipps_status st = kv__call(c, &rq, &r);
    if (st == KV_VIPPS_OK) {
        kv_vipps_event *ev = NULL;
        size_t n = 0;
        st = kv_vipps__parse_events(&ev, &n, r.body, r.len);
        if (st == KV_VIPPS_OK) {
            *out = ev;
            *n_out = n;
        } else {
            parse_fail(c, "GET events");
        }
    }
    kv__resp_free(&r);
    return st;
}

void kv_vipps_events_free(kv_vipps_event *ev)
{
    free(ev);
}

/* Resolve an ambiguous capture/refund/cancel by the event log: the event
 * that carries our idempotency key tells what happened. */
static kv_vipps_status resolve_by_events(kv_vipps_client *c,
                                         kv_vipps_modification *out,
                                         const char *ref, const char *key,
                                         const char *event_name,
                                         const char *what)
{
    kv_vipps_error saved = *kv__err(c);
    kv_vipps_event *ev = NULL;
    size_t n = 0;
    kv_vipps_status st = kv_vipps_events(&ev, &n, c, ref);
    int found = -1;
    if (st == KV_VIPPS_OK) {
        for (size_t i = 0; i < n; i++)
            if (!strcmp(ev[i].idempotency_key, key) &&
                !strcmp(ev[i].name, event_name)) {
                found = ev[i].success ? 1 : 0;
                if (found)
                    break;
            }
    }
    kv_vipps_events_free(ev);
    if (found == 1) {
        kv_vipps_payment p;
        if (kv_vipps_get(&p, c, ref) == KV_VIPPS_OK) {
            kv__log(c, KV_VIPPS_LOG_INFO,
                    "%s %s: resolved after an ambiguous failure: done", what,
                    ref);
            memset(kv__err(c), 0, sizeof(kv_vipps_error));
            *out = p;
            return KV_VIPPS_OK;
        }
    }
    *kv__err(c) = saved;
    if (found == 0) {
        kv__set_error(c, KV_VIPPS_API_EPAYMENT, KV_VIPPS_ERR_STATE,
                      "%s %s: the service recorded the operation as failed",
                      what, ref);
        return KV_VIPPS_E_API;
    }
    kv__set_ambiguous(c, what);
    return KV_VIPPS_E_UNKNOWN;
}

static kv_vipps_status modify(kv_vipps_modification *out, kv_vipps_client *c,
                              const char *ref, const char *suffix,
                              char *body, const char *key,
                              const char *event_name, const char *what)
{
    kv_req rq = { .method = "POST", .body = body, .idem_key = key,
                  .api = KV_VIPPS_API_EPAYMENT };
    if (!out || !body) {
        free(body);
        kv__set_error(c, KV_VIPPS_API_EPAYMENT, KV_VIPPS_ERR_BAD_REQUEST,
                      "%s: bad amount or currency", what);
        return KV_VIPPS_E_INVALID;
    }
    if (!kv_vipps__valid_key(key, 50)) {
        free(body);
        kv__set_error(c, KV_VIPPS_API_EPAYMENT, KV_VIPPS_ERR_BAD_REQUEST,
                      "%s: idempotency key must be 1-50 printable characters",
                      what);
        return KV_VIPPS_E_INVALID;
    }
    if (payment_path(c, rq.path, sizeof rq.path, ref, suffix) < 0) {
        free(body);
        return KV_VIPPS_E_INVALID;
    }
    int ambiguous;
    kv_vipps_status st = kv__call_parse(c, &rq, parse_payment, out, what, &ambiguous);
    free(body);
    if (!ambiguous)
        return st;
    return resolve_by_events(c, out, ref, key, event_name, what);
}

kv_vipps_status kv_vipps_capture(kv_vipps_modification *out,
                                 kv_vipps_client *c, const char *reference,
                                 int64_t amount, const char *currency,
                                 const char *idempotency_key)
{
    return modify(out, c, reference, "/capture",
                  kv_vipps__build_modification(amount, currency),
                  idempotency_key, "CAPTURED", "capture");
}

kv_vipps_status kv_vipps_refund(kv_vipps_modification *out,
                                kv_vipps_client *c, const char *reference,
                                int64_t amount, const char *currency,
                                const char *idempotency_key)
{
    return modify(out, c, reference, "/refund",
                  kv_vipps__build_modification(amount, currency),
                  idempotency_key, "REFUNDED", "refund");
}

kv_vipps_status kv_vipps_cancel(kv_vipps_modification *out,
                                kv_vipps_client *c, const char *reference,
                                int transaction_only,
                                const char *idempotency_key)
{
    kv_vipps_status st = modify(out, c, reference, "/cancel",
                                kv_vipps__build_cancel(transaction_only),
                                idempotency_key, "CANCELLED", "cancel");
    if (st != KV_VIPPS_E_UNKNOWN)
        return st;
    /* Before authorization a cancel shows as TERMINATED (event
     * TERMINATED, which may not carry our key): read the state. */
    kv_vipps_error saved = *kv__err(c);
    kv_vipps_payment p;
    if (kv_vipps_get(&p, c, reference) == KV_VIPPS_OK &&
        (p.state == KV_VIPPS_STATE_TERMINATED ||
         (p.state == KV_VIPPS_STATE_AUTHORIZED && p.cancelled > 0 &&
          p.cancelled + p.captured >= p.authorized))) {
        memset(kv__err(c), 0, sizeof(kv_vipps_error));
        *out = p;
        return KV_VIPPS_OK;
    }
    *kv__err(c) = saved;
    return KV_VIPPS_E_UNKNOWN;
}

kv_vipps_status kv_vipps_test_approve(kv_vipps_client *c,
                                      const char *reference,
                                      const char *phone)
{
    if (!kv_vipps_is_test(c)) {
        kv__set_error(c, KV_VIPPS_API_EPAYMENT, KV_VIPPS_ERR_BAD_REQUEST,
                      "test approve refused: not the test environment");
        return KV_VIPPS_E_REFUSED;
    }
    if (!kv_vipps__valid_phone(phone, 8, 15)) {
        kv__set_error(c, KV_VIPPS_API_EPAYMENT, KV_VIPPS_ERR_BAD_REQUEST,
                      "test approve: phone number must be digits");
        return KV_VIPPS_E_INVALID;
    }
    char seg[200];
    kv_req rq = { .method = "POST", .api = KV_VIPPS_API_EPAYMENT,
                  .phone = phone };
    if (!kv_vipps__valid_reference(reference) ||
        kv__path_seg(seg, sizeof seg, reference) < 0) {
        kv__set_error(c, KV_VIPPS_API_EPAYMENT, KV_VIPPS_ERR_BAD_REQUEST,
                      "bad reference");
        return KV_VIPPS_E_INVALID;
    }
    snprintf(rq.path, sizeof rq.path,
             "/epayment/v1/test/payments/%s/approve", seg);
    char *body = NULL;
    if (asprintf(&body, "{\"customer\":{\"phoneNumber\":\"%s\"}}", phone) < 0)
        return KV_VIPPS_E_NOMEM;
    rq.body = body;
    kv_resp r;
    kv_vipps_status st = kv__call(c, &rq, &r);
    kv__resp_free(&r);
    memset(body, 0, strlen(body));
    free(body);
    return st;
}

kv_vipps_status kv_vipps_om_add_receipt(kv_vipps_client *c,
                                        const char *order_id,
                                        const kv_vipps_receipt *receipt)
{
    char seg[200];
    kv_req rq = { .method = "POST", .api = KV_VIPPS_API_OM };
    if (!order_id || !*order_id || strlen(order_id) > 50 ||
        kv__path_seg(seg, sizeof seg, order_id) < 0) {
        kv__set_error(c, KV_VIPPS_API_OM, KV_VIPPS_ERR_BAD_REQUEST,
                      "receipt: bad order id");
        return KV_VIPPS_E_INVALID;
    }
    char *body = kv_vipps__build_receipt(receipt);
    if (!body) {
        kv__set_error(c, KV_VIPPS_API_OM, KV_VIPPS_ERR_BAD_REQUEST,
                      "receipt: needs order lines with id and name, and a currency");
        return KV_VIPPS_E_INVALID;
    }
    snprintf(rq.path, sizeof rq.path,
             "/order-management/v2/ECOM/receipts/%s", seg);
    rq.body = body;
    kv_resp r;
    kv_vipps_status st = kv__call(c, &rq, &r);
    kv__resp_free(&r);
    free(body);
    return st;
}
