/*
 * ecom.c - eCom v2 (initiate, details, capture, cancel, refund), the QR
 * API one-time QR, and eCom callback parsing.
 *
 * Initiate is not idempotent on the service side, so it is only retried
 * when the request certainly did not arrive (connect failure) or was
 * refused without effect (423/429).  Capture and refund carry X-Request-Id
 * (the caller's key) on every attempt.
 */
#include "src/vipps/internal.h"
#include "src/util/jsoncheck.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Answer parsers in the shape kv__call_parse takes. */
static kv_vipps_status parse_qr(void *out, const char *body, size_t len)
{
    return kv_vipps__parse_qr(out, body, len);
}

static kv_vipps_status parse_details(void *out, const char *body, size_t len)
{
    return kv_vipps__parse_ecom_details(out, body, len);
}

static kv_vipps_status parse_result(void *out, const char *body, size_t len)
{
    return kv_vipps__parse_ecom_result(out, body, len);
}

static int order_path(kv_vipps_client *c, char *dst, size_t n,
                      const char *order_id, const char *suffix)
{
    char seg[200];
    size_t l = order_id ? strlen(order_id) : 0;
    int ok = l >= 1 && l <= 50;
    for (size_t i = 0; ok && i < l; i++)
        ok = isalnum((unsigned char)order_id[i]) || order_id[i] == '-';
    if (!ok || kv__path_seg(seg, sizeof seg, order_id) < 0) {
        kv__set_error(c, KV_VIPPS_API_ECOM, KV_VIPPS_ERR_BAD_REQUEST,
                      "bad orderId (1-50 letters, digits or '-')");
        return -1;
    }
    snprintf(dst, n, "/ecomm/v2/payments/%s%s", seg, suffix);
    return 0;
}

kv_vipps_status kv_vipps_ecom_initiate(char *out_url, size_t out_len,
                                       kv_vipps_client *c,
                                       const kv_vipps_ecom_req *req)
{
    if (!out_url || !out_len || !req) {
        kv__set_error(c, KV_VIPPS_API_ECOM, KV_VIPPS_ERR_BAD_REQUEST,
                      "initiate: no request");
        return KV_VIPPS_E_INVALID;
    }
    char *body = kv_vipps__build_ecom_initiate(req, kv__msn(c));
    if (!body) {
        kv__set_error(c, KV_VIPPS_API_ECOM, KV_VIPPS_ERR_BAD_REQUEST,
                      "initiate: bad request (orderId, amount >= 100 ore, "
                      "text 1-100 chars, callbackPrefix, fallBack, 8-digit phone)");
        return KV_VIPPS_E_INVALID;
    }
    kv_req rq = { .method = "POST", .path = "/ecomm/v2/payments",
                  .body = body, .api = KV_VIPPS_API_ECOM,
                  .retry = KV_RETRY_NEVER_AFTER_SEND, .phone = req->phone };
    kv_resp r;
    kv_vipps_status st = kv__call(c, &rq, &r);
    free(body);
    if (st == KV_VIPPS_OK) {
        st = kv_vipps__parse_ecom_initiate(out_url, out_len, r.body, r.len);
        if (st != KV_VIPPS_OK)
            kv__set_error(c, KV_VIPPS_API_ECOM, KV_VIPPS_ERR_PROTOCOL,
                          "POST /ecomm/v2/payments: unexpected answer body");
    } else if (st == KV_VIPPS_E_UNREACHABLE && r.ambiguous) {
        /* The order may exist; the caller checks details before reusing
         * the orderId (initiate cannot be repeated). */
        kv__set_ambiguous(c, "initiate");
        st = KV_VIPPS_E_UNKNOWN;
    }
    kv__resp_free(&r);
    return st;
}

kv_vipps_status kv_vipps_qr_onetime(kv_vipps_qr *out, kv_vipps_client *c,
                                    const char *landing_url,
                                    kv_vipps_qr_format fmt, int size)
{
    if (!out || !landing_url || strncmp(landing_url, "http", 4) ||
        (size && (size < 100 || size > 2000))) {
        kv__set_error(c, KV_VIPPS_API_QR, KV_VIPPS_ERR_BAD_REQUEST,
                      "qr: bad landing page URL or size");
        return KV_VIPPS_E_INVALID;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "url", landing_url);
    char *body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!body)
        return KV_VIPPS_E_NOMEM;
    kv_req rq = { .method = "POST", .path = "/qr/v1/", .body = body,
                  .api = KV_VIPPS_API_QR,
                  .accept = fmt == KV_VIPPS_QR_PNG ? "image/png"
                                                   : "text/targetUrl",
                  .qr_size = fmt == KV_VIPPS_QR_PNG ? size : 0 };
    kv_vipps_status st = kv__call_parse(c, &rq, parse_qr, out, "POST /qr/v1/", NULL);
    free(body);
    return st;
}

kv_vipps_status kv_vipps_ecom_details_get(kv_vipps_ecom_details *out,
                                          kv_vipps_client *c,
                                          const char *order_id)
{
    kv_req rq = { .method = "GET", .api = KV_VIPPS_API_ECOM };
    if (!out || order_path(c, rq.path, sizeof rq.path, order_id,
                           "/details") < 0)
        return KV_VIPPS_E_INVALID;
    return kv__call_parse(c, &rq, parse_details, out, "GET details", NULL);
}

/* After an ambiguous capture/refund, the details history tells whether an
 * entry with our request id succeeded. */
static kv_vipps_status ecom_resolve(kv_vipps_ecom_result *out,
                                    kv_vipps_client *c, const char *order_id,
                                    const char *request_id, const char *op,
                                    const char *what)
{
    kv_vipps_error saved = *kv__err(c);
    kv_req rq = { .method = "GET", .api = KV_VIPPS_API_ECOM };
    int found = -1;
    kv_vipps_ecom_result res;
    memset(&res, 0, sizeof res);
    if (request_id &&
        order_path(c, rq.path, sizeof rq.path, order_id, "/details") == 0) {
        kv_resp r;
        if (kv__call(c, &rq, &r) == KV_VIPPS_OK) {
            cJSON *o = cJSON_ParseWithLength(r.body, r.len);
            const cJSON *h = cJSON_GetObjectItemCaseSensitive(
                o, "transactionLogHistory");
            const cJSON *it;
            const cJSON *harr = cJSON_IsArray(h) ? h : NULL;
            cJSON_ArrayForEach(it, harr) {
                const cJSON *rid = cJSON_GetObjectItemCaseSensitive(it,
                                                                   "requestId");
                const cJSON *opv = cJSON_GetObjectItemCaseSensitive(it,
                                                                   "operation");
                if (cJSON_IsString(rid) && cJSON_IsString(opv) &&
                    !strcmp(rid->valuestring, request_id) &&
                    !strcmp(opv->valuestring, op)) {
                    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(
                        it, "operationSuccess");
                    found = cJSON_IsTrue(ok) ? 1 : (found == 1 ? 1 : 0);
                }
            }
            kv_vipps_ecom_details d;
            if (found == 1 &&
                kv_vipps__parse_ecom_details(&d, r.body, r.len) == KV_VIPPS_OK) {
                snprintf(res.order_id, sizeof res.order_id, "%s", order_id);
                snprintf(res.status, sizeof res.status, "%s",
                         !strcmp(op, "CAPTURE") ? "Captured" : "Refund");
                res.amount = d.amount;
                res.captured = d.captured;
                res.remaining_to_capture = d.remaining_to_capture;
                res.refunded = d.refunded;
                res.remaining_to_refund = d.remaining_to_refund;
            }
            cJSON_Delete(o);
        }
        kv__resp_free(&r);
    }
    *kv__err(c) = saved;
    if (found == 1) {
        memset(kv__err(c), 0, sizeof(kv_vipps_error));
        *out = res;
        return KV_VIPPS_OK;
    }
    if (found == 0) {
        kv__set_error(c, KV_VIPPS_API_ECOM, KV_VIPPS_ERR_STATE,
                      "%s %s: the service recorded the operation as failed",
                      what, order_id);
        return KV_VIPPS_E_API;
    }
    kv__set_ambiguous(c, what);
    return KV_VIPPS_E_UNKNOWN;
}

static kv_vipps_status ecom_modify(kv_vipps_ecom_result *out,
                                   kv_vipps_client *c, const char *method,
                                   const char *order_id, const char *suffix,
                                   char *body, const char *request_id,
                                   const char *op, const char *what)
{
    kv_req rq = { .method = method, .body = body, .request_id = request_id,
                  .api = KV_VIPPS_API_ECOM };
    if (!out || !body ||
        (request_id && !kv_vipps__valid_key(request_id, 40))) {
        free(body);
        kv__set_error(c, KV_VIPPS_API_ECOM, KV_VIPPS_ERR_BAD_REQUEST,
                      "%s: bad amount, text or X-Request-Id (1-40 chars)",
                      what);
        return KV_VIPPS_E_INVALID;
    }
    if (order_path(c, rq.path, sizeof rq.path, order_id, suffix) < 0) {
        free(body);
        return KV_VIPPS_E_INVALID;
    }
    int ambiguous;
    kv_vipps_status st = kv__call_parse(c, &rq, parse_result, out, what, &ambiguous);
    free(body);
    if (!ambiguous)
        return st;
    return ecom_resolve(out, c, order_id, request_id, op, what);
}

kv_vipps_status kv_vipps_ecom_capture(kv_vipps_ecom_result *out,
                                      kv_vipps_client *c,
                                      const char *order_id, int64_t amount,
                                      const char *text,
                                      const char *request_id)
{
    if (!request_id) {
        kv__set_error(c, KV_VIPPS_API_ECOM, KV_VIPPS_ERR_BAD_REQUEST,
                      "capture: X-Request-Id required");
        return KV_VIPPS_E_INVALID;
    }
    return ecom_modify(out, c, "POST", order_id, "/capture",
                       kv_vipps__build_ecom_amount(kv__msn(c), amount,
                                                   text ? text : "capture"),
                       request_id, "CAPTURE", "capture");
}

kv_vipps_status kv_vipps_ecom_refund(kv_vipps_ecom_result *out,
                                     kv_vipps_client *c, const char *order_id,
                                     int64_t amount, const char *text,
                                     const char *request_id)
{
    if (!request_id || amount <= 0) {
        kv__set_error(c, KV_VIPPS_API_ECOM, KV_VIPPS_ERR_BAD_REQUEST,
                      "refund: X-Request-Id and an amount are required");
        return KV_VIPPS_E_INVALID;
    }
    return ecom_modify(out, c, "POST", order_id, "/refund",
                       kv_vipps__build_ecom_amount(kv__msn(c), amount,
                                                   text ? text : "refund"),
                       request_id, "REFUND", "refund");
}

kv_vipps_status kv_vipps_ecom_cancel(kv_vipps_ecom_result *out,
                                     kv_vipps_client *c, const char *order_id,
                                     const char *text, int release_remaining)
{
    kv_vipps_status st = ecom_modify(
        out, c, "PUT", order_id, "/cancel",
        kv_vipps__build_ecom_cancel(kv__msn(c), text ? text : "cancel",
                                    release_remaining),
        NULL, "CANCEL", "cancel");
    if (st != KV_VIPPS_E_UNKNOWN)
        return st;
    /* No request id on cancel: read the details for CANCEL/VOID. */
    kv_vipps_error saved = *kv__err(c);
    kv_vipps_ecom_details d;
    if (kv_vipps_ecom_details_get(&d, c, order_id) == KV_VIPPS_OK &&
        (!strcmp(d.last_operation, "CANCEL") ||
         !strcmp(d.last_operation, "VOID"))) {
        kv_vipps_ecom_result res;
        memset(&res, 0, sizeof res);
        snprintf(res.order_id, sizeof res.order_id, "%s", order_id);
        snprintf(res.status, sizeof res.status, "Cancelled");
        res.amount = d.amount;
        res.captured = d.captured;
        res.remaining_to_capture = d.remaining_to_capture;
        res.refunded = d.refunded;
        res.remaining_to_refund = d.remaining_to_refund;
        memset(kv__err(c), 0, sizeof(kv_vipps_error));
        *out = res;
        return KV_VIPPS_OK;
    }
    *kv__err(c) = saved;
    return KV_VIPPS_E_UNKNOWN;
}

kv_vipps_status kv_vipps_ecom_callback_parse(kv_vipps_ecom_callback *out,
                                             const char *body, size_t len,
                                             const char *authorization,
                                             const char *expected_auth_token)
{
    if (!out)
        return KV_VIPPS_E_INVALID;
    if (expected_auth_token && *expected_auth_token) {
        if (!authorization || !kv__ct_streq(authorization,
                                            expected_auth_token))
            return KV_VIPPS_E_SIGNATURE;
    }
    /* Strict first: cJSON would cut the orderId at \u0000. */
    if (!body || kv_jsoncheck(body, len, NULL) != KV_JSONCHECK_OK)
        return KV_VIPPS_E_PARSE;
    cJSON *o = cJSON_ParseWithLength(body, len);
    kv_vipps_ecom_callback cb;
    memset(&cb, 0, sizeof cb);
    kv_vipps_status st = KV_VIPPS_E_PARSE;
    if (!cJSON_IsObject(o))
        goto out;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o,
                                                      "merchantSerialNumber");
    const cJSON *oid = cJSON_GetObjectItemCaseSensitive(o, "orderId");
    const cJSON *ti = cJSON_GetObjectItemCaseSensitive(o, "transactionInfo");
    if (!cJSON_IsString(oid) || !oid->valuestring ||
        strlen(oid->valuestring) >= sizeof cb.order_id || !cJSON_IsObject(ti))
        goto out;
    snprintf(cb.order_id, sizeof cb.order_id, "%s", oid->valuestring);
    if (cJSON_IsString(m) && m->valuestring &&
        strlen(m->valuestring) < sizeof cb.msn)
        snprintf(cb.msn, sizeof cb.msn, "%s", m->valuestring);
    else if (cJSON_IsNumber(m) && m->valuedouble >= 0 && m->valuedouble < 1e9)
        snprintf(cb.msn, sizeof cb.msn, "%.0f", m->valuedouble);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(ti, "status");
    if (!cJSON_IsString(s) || !s->valuestring ||
        strlen(s->valuestring) >= sizeof cb.status)
        goto out;
    snprintf(cb.status, sizeof cb.status, "%s", s->valuestring);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(ti, "amount");
    if (a && !cJSON_IsNull(a)) {
        if (!cJSON_IsNumber(a) || a->valuedouble < 0 ||
            a->valuedouble > 9e15 || a->valuedouble != (double)(int64_t)a->valuedouble)
            goto out;
        cb.amount = (int64_t)a->valuedouble;
    }
    const cJSON *tid = cJSON_GetObjectItemCaseSensitive(ti, "transactionId");
    if (cJSON_IsString(tid) && tid->valuestring &&
        strlen(tid->valuestring) < sizeof cb.transaction_id)
        snprintf(cb.transaction_id, sizeof cb.transaction_id, "%s",
                 tid->valuestring);
    const cJSON *ei = cJSON_GetObjectItemCaseSensitive(o, "errorInfo");
    if (cJSON_IsObject(ei)) {
        const cJSON *ec = cJSON_GetObjectItemCaseSensitive(ei, "errorCode");
        if (cJSON_IsNumber(ec) && ec->valuedouble >= 0 && ec->valuedouble < 1e9)
            cb.error_code = (int)ec->valuedouble;
        else if (cJSON_IsString(ec) && ec->valuestring) {
            long v = strtol(ec->valuestring, NULL, 10);
            cb.error_code = v > 0 && v < 1000000000 ? (int)v : 0;
        }
    }
    *out = cb;
    st = KV_VIPPS_OK;
out:
    cJSON_Delete(o);
    return st;
}
