/*
 * wire.c - JSON request builders and response parsers (no I/O).
 *
 * Field names and shapes follow the ePayment v1, eCom v2, QR, Order
 * Management and Webhooks APIs.  Parsers are strict about types where a
 * wrong type would change money (amounts must be integral numbers) and
 * lenient elsewhere (unknown fields are ignored; the service adds fields).
 */
#include "src/vipps/wire.h"
#include "src/util/jsoncheck.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- small helpers ---------- */

static cJSON *parse_n(const char *body, size_t len)
{
    if (!body)
        return NULL;
    return cJSON_ParseWithLength(body, len);
}

static char *print_free(cJSON *o)
{
    char *s = NULL;
    if (o)
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Copy a string field into a fixed buffer.  Absent/null -> "" (returns 0);
 * wrong type or too long -> -1. */
static int get_str(char *dst, size_t dstlen, const cJSON *obj, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    dst[0] = '\0';
    if (!it || cJSON_IsNull(it))
        return 0;
    if (!cJSON_IsString(it) || !it->valuestring)
        return -1;
    size_t n = strlen(it->valuestring);
    if (n >= dstlen)
        return -1;
    memcpy(dst, it->valuestring, n + 1);
    return 1;
}

/* An integral amount: a JSON number with no fraction in int64 range, or a
 * string of digits.  Returns 1 found, 0 absent/null, -1 bad. */
static int json_int(int64_t *out, const cJSON *it)
{
    if (!it || cJSON_IsNull(it))
        return 0;
    if (cJSON_IsNumber(it)) {
        double d = it->valuedouble;
        if (!isfinite(d) || d != floor(d) || d > 9007199254740992.0 ||
            d < -9007199254740992.0)
            return -1;
        *out = (int64_t)d;
        return 1;
    }
    if (cJSON_IsString(it) && it->valuestring) {
        const char *s = it->valuestring;
        char *end = NULL;
        if (!*s || (!isdigit((unsigned char)*s) && *s != '-'))
            return -1;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || *end)
            return -1;
        *out = v;
        return 1;
    }
    return -1;
}

static int get_int(int64_t *out, const cJSON *obj, const char *key)
{
    return json_int(out, cJSON_GetObjectItemCaseSensitive(obj, key));
}

/* {currency, value} object. */
static int get_money(int64_t *value, char *cur, const cJSON *obj,
                     const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!m || cJSON_IsNull(m))
        return 0;
    if (!cJSON_IsObject(m))
        return -1;
    int64_t v = 0;
    if (get_int(&v, m, "value") != 1)
        return -1;
    if (cur) {
        char c[8];
        if (get_str(c, sizeof c, m, "currency") < 0 || strlen(c) > 3)
            return -1;
        if (c[0])
            memcpy(cur, c, strlen(c) + 1);
    }
    *value = v;
    return 1;
}

int kv_vipps__valid_reference(const char *ref)
{
    if (!ref)
        return 0;
    size_t n = strlen(ref);
    if (n < 8 || n > 50)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)ref[i]) && ref[i] != '-')
            return 0;
    return 1;
}

int kv_vipps__valid_key(const char *key, size_t max)
{
    if (!key)
        return 0;
    size_t n = strlen(key);
    if (n < 1 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] <= 0x20 || (unsigned char)key[i] >= 0x7f)
            return 0;
    return 1;
}

int kv_vipps__valid_phone(const char *p, size_t minlen, size_t maxlen)
{
    if (!p)
        return 0;
    size_t n = strlen(p);
    if (n < minlen || n > maxlen)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)p[i]))
            return 0;
    return 1;
}

static int valid_currency(const char *c)
{
    return c && (!strcmp(c, "NOK") || !strcmp(c, "DKK") || !strcmp(c, "EUR"));
}

static void seterr(char *errbuf, size_t errlen, const char *msg)
{
    if (errbuf && errlen)
        snprintf(errbuf, errlen, "%s", msg);
}

static cJSON *money(int64_t value, const char *currency)
{
    cJSON *m = cJSON_CreateObject();
    if (!m)
        return NULL;
    cJSON_AddStringToObject(m, "currency", currency);
    cJSON_AddNumberToObject(m, "value", (double)value);
    return m;
}

/* ---------- builders ---------- */

/* A free-text member, cleaned for Vipps (see text.c). */
static void add_text(cJSON *o, const char *name, const char *text)
{
    char *t = kv_vipps__clean_text(text);
    cJSON_AddStringToObject(o, name, t ? t : "");
    free(t);
}

/* 1 when text, cleaned, has lo..hi characters. */
static int text_fits(const char *text, size_t lo, size_t hi)
{
    char *t = kv_vipps__clean_text(text);
    size_t n = t ? kv_vipps__text_chars(t) : 0;
    free(t);
    return t && n >= lo && n <= hi;
}

static cJSON *receipt_json(const kv_vipps_receipt *r)
{
    if (!r || !r->lines || r->n_lines == 0 || !valid_currency(r->currency))
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON *lines = cJSON_AddArrayToObject(o, "orderLines");
    for (size_t i = 0; i < r->n_lines; i++) {
        const kv_vipps_order_line *l = &r->lines[i];
        if (!l->id || !l->name || !*l->id || !*l->name || l->discount < 0 ||
            l->tax_rate < 0 || l->tax_rate > 10000) {
            cJSON_Delete(o);
            return NULL;
        }
        cJSON *j = cJSON_CreateObject();
        cJSON_AddItemToArray(lines, j);
        add_text(j, "name", l->name);
        add_text(j, "id", l->id);
        cJSON_AddNumberToObject(j, "totalAmount", (double)l->total_amount);
        cJSON_AddNumberToObject(j, "totalAmountExcludingTax",
                                (double)l->total_amount_excl_tax);
        cJSON_AddNumberToObject(j, "totalTaxAmount",
                                (double)l->total_tax_amount);
        cJSON_AddNumberToObject(j, "taxRate", l->tax_rate);
        if (l->quantity) {
            cJSON *u = cJSON_AddObjectToObject(j, "unitInfo");
            cJSON_AddNumberToObject(u, "unitPrice", (double)l->unit_price);
            cJSON_AddStringToObject(u, "quantity", l->quantity);
            cJSON_AddStringToObject(u, "quantityUnit",
                                    l->quantity_unit ? l->quantity_unit : "PCS");
        }
        if (l->discount)
            cJSON_AddNumberToObject(j, "discount", (double)l->discount);
        if (l->is_return)
            cJSON_AddBoolToObject(j, "isReturn", 1);
    }
    cJSON *b = cJSON_AddObjectToObject(o, "bottomLine");
    cJSON_AddStringToObject(b, "currency", r->currency);
    if (r->tip_amount)
        cJSON_AddNumberToObject(b, "tipAmount", (double)r->tip_amount);
    if (r->pos_id && *r->pos_id)
        add_text(b, "posId", r->pos_id);
    if (r->receipt_number && *r->receipt_number)
        add_text(b, "receiptNumber", r->receipt_number);
    return o;
}

char *kv_vipps__build_receipt(const kv_vipps_receipt *r)
{
    return print_free(receipt_json(r));
}

char *kv_vipps__build_create(const kv_vipps_create_req *req, char *errbuf,
                             size_t errlen)
{
    if (!req) {
        seterr(errbuf, errlen, "no request");
        return NULL;
    }
    if (!kv_vipps__valid_reference(req->reference)) {
        seterr(errbuf, errlen, "reference must be 8-50 letters, digits or '-'");
        return NULL;
    }
    if (req->amount <= 0 || req->amount > 65000000) {
        seterr(errbuf, errlen, "amount out of range (minor units, 1..65000000)");
        return NULL;
    }
    if (!valid_currency(req->currency)) {
        seterr(errbuf, errlen, "currency must be NOK, DKK or EUR");
        return NULL;
    }
    if (req->description && !text_fits(req->description, 3, 100)) {
        seterr(errbuf, errlen, "description must be 3-100 characters (without control characters)");
        return NULL;
    }
    if (req->flow == KV_VIPPS_FLOW_PUSH &&
        !kv_vipps__valid_phone(req->phone, 10, 15)) {
        seterr(errbuf, errlen,
               "push payment needs a phone number of 10-15 digits with country code");
        return NULL;
    }
    if (req->flow != KV_VIPPS_FLOW_PUSH && req->flow != KV_VIPPS_FLOW_QR) {
        seterr(errbuf, errlen, "unknown user flow");
        return NULL;
    }
    if (req->qr_size && (req->qr_size < 100 || req->qr_size > 2000)) {
        seterr(errbuf, errlen, "QR size must be 100-2000 pixels");
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddItemToObject(o, "amount", money(req->amount, req->currency));
    cJSON *pm = cJSON_AddObjectToObject(o, "paymentMethod");
    cJSON_AddStringToObject(pm, "type", "WALLET");
    cJSON_AddStringToObject(o, "reference", req->reference);
    cJSON_AddStringToObject(o, "customerInteraction",
                            req->customer_not_present ? "CUSTOMER_NOT_PRESENT" : "CUSTOMER_PRESENT");
    if (req->flow == KV_VIPPS_FLOW_PUSH) {
        cJSON_AddStringToObject(o, "userFlow", "PUSH_MESSAGE");
        cJSON *cu = cJSON_AddObjectToObject(o, "customer");
        cJSON_AddStringToObject(cu, "phoneNumber", req->phone);
    } else {
        cJSON_AddStringToObject(o, "userFlow", "QR");
        cJSON *q = cJSON_AddObjectToObject(o, "qrFormat");
        cJSON_AddStringToObject(q, "format", req->qr_format == KV_VIPPS_QR_PNG
                                ? "IMAGE/PNG" : "TEXT/TARGETURL");
        if (req->qr_format == KV_VIPPS_QR_PNG && req->qr_size)
            cJSON_AddNumberToObject(q, "size", req->qr_size);
    }
    if (req->description)
        add_text(o, "paymentDescription", req->description);
    if (req->return_url && *req->return_url)
        cJSON_AddStringToObject(o, "returnUrl", req->return_url);
    if (req->receipt) {
        cJSON *r = receipt_json(req->receipt);
        if (!r) {
            cJSON_Delete(o);
            seterr(errbuf, errlen, "bad receipt (lines, ids, names, currency)");
            return NULL;
        }
        cJSON_AddItemToObject(o, "receipt", r);
    }
    return print_free(o);
}

char *kv_vipps__build_modification(int64_t amount, const char *currency)
{
    if (amount <= 0 || !valid_currency(currency))
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "modificationAmount", money(amount, currency));
    return print_free(o);
}

char *kv_vipps__build_cancel(int transaction_only)
{
    cJSON *o = cJSON_CreateObject();
    if (transaction_only)
        cJSON_AddBoolToObject(o, "cancelTransactionOnly", 1);
    return print_free(o);
}

char *kv_vipps__build_ecom_initiate(const kv_vipps_ecom_req *req,
                                    const char *msn)
{
    if (!req || !msn || !req->order_id || !req->text || !req->callback_prefix
        || !req->fallback || req->amount < 100)
        return NULL;
    size_t n = strlen(req->order_id);
    if (n < 1 || n > 50)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)req->order_id[i]) && req->order_id[i] != '-')
            return NULL;
    if (!text_fits(req->text, 1, 100))
        return NULL;
    if (req->phone && *req->phone && !kv_vipps__valid_phone(req->phone, 8, 8))
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON *ci = cJSON_AddObjectToObject(o, "customerInfo");
    if (req->phone && *req->phone)
        cJSON_AddStringToObject(ci, "mobileNumber", req->phone);
    cJSON *mi = cJSON_AddObjectToObject(o, "merchantInfo");
    cJSON_AddStringToObject(mi, "merchantSerialNumber", msn);
    cJSON_AddStringToObject(mi, "callbackPrefix", req->callback_prefix);
    cJSON_AddStringToObject(mi, "fallBack", req->fallback);
    if (req->auth_token && *req->auth_token)
        cJSON_AddStringToObject(mi, "authToken", req->auth_token);
    cJSON_AddBoolToObject(mi, "isApp", 0);
    cJSON *t = cJSON_AddObjectToObject(o, "transaction");
    cJSON_AddStringToObject(t, "orderId", req->order_id);
    cJSON_AddNumberToObject(t, "amount", (double)req->amount);
    add_text(t, "transactionText", req->text);
    cJSON_AddBoolToObject(t, "skipLandingPage", 0);
    return print_free(o);
}

char *kv_vipps__build_ecom_amount(const char *msn, int64_t amount,
                                  const char *text)
{
    if (!msn || !text || amount < 0)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON *mi = cJSON_AddObjectToObject(o, "merchantInfo");
    cJSON_AddStringToObject(mi, "merchantSerialNumber", msn);
    cJSON *t = cJSON_AddObjectToObject(o, "transaction");
    if (amount > 0)
        cJSON_AddNumberToObject(t, "amount", (double)amount);
    add_text(t, "transactionText", text);
    return print_free(o);
}

char *kv_vipps__build_ecom_cancel(const char *msn, const char *text,
                                  int release_remaining)
{
    if (!msn || !text)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON *mi = cJSON_AddObjectToObject(o, "merchantInfo");
    cJSON_AddStringToObject(mi, "merchantSerialNumber", msn);
    cJSON *t = cJSON_AddObjectToObject(o, "transaction");
    add_text(t, "transactionText", text);
    cJSON_AddBoolToObject(o, "shouldReleaseRemainingFunds",
                          release_remaining ? 1 : 0);
    return print_free(o);
}

static const char *const wh_names[8] = {
    "epayments.payment.created.v1", "epayments.payment.aborted.v1",
    "epayments.payment.expired.v1", "epayments.payment.cancelled.v1",
    "epayments.payment.captured.v1", "epayments.payment.refunded.v1",
    "epayments.payment.authorized.v1", "epayments.payment.terminated.v1",
};

char *kv_vipps__build_webhook(const char *url, unsigned int events)
{
    if (!url || !*url || !(events & KV_VIPPS_WH_ALL))
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "url", url);
    cJSON *ev = cJSON_AddArrayToObject(o, "events");
    for (int i = 0; i < 8; i++)
        if (events & (1u << i))
            cJSON_AddItemToArray(ev, cJSON_CreateString(wh_names[i]));
    return print_free(o);
}

/* ---------- parsers ---------- */

kv_vipps_status kv_vipps__parse_token(char **token, time_t *expires_on,
                                      long *lifetime_s, const char *body,
                                      size_t len, time_t now)
{
    cJSON *o = parse_n(body, len);
    kv_vipps_status st = KV_VIPPS_E_PARSE;
    if (!cJSON_IsObject(o))
        goto out;
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(o, "access_token");
    if (!cJSON_IsString(tok) || !tok->valuestring || !*tok->valuestring)
        goto out;
    for (const char *p = tok->valuestring; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            goto out; /* would break the header */
    int64_t in = -1, on = -1;
    int hin = get_int(&in, o, "expires_in");
    int hon = get_int(&on, o, "expires_on");
    if (hin < 0 || hon < 0 || (hin != 1 && hon != 1))
        goto out;
    if (hin == 1 && (in <= 0 || in > 10L * 365 * 86400))
        goto out;
    if (hon == 1 && on <= 0)
        goto out;
    time_t exp = hon == 1 ? (time_t)on : now + (time_t)in;
    long life = hin == 1 ? (long)in : (long)(on - now);
    if (hon == 1 && hin == 1 && on < now) {
        /* A server clock ahead of or behind ours: trust expires_in. */
        exp = now + (time_t)in;
    }
    char *t = strdup(tok->valuestring);
    if (!t) {
        st = KV_VIPPS_E_NOMEM;
        goto out;
    }
    *token = t;
    *expires_on = exp;
    *lifetime_s = life;
    st = KV_VIPPS_OK;
out:
    cJSON_Delete(o);
    return st;
}

kv_vipps_status kv_vipps__parse_created(kv_vipps_created *out,
                                        const char *body, size_t len)
{
    cJSON *o = parse_n(body, len);
    kv_vipps_created tmp;
    kv_vipps_status st = KV_VIPPS_E_PARSE;
    if (!cJSON_IsObject(o))
        goto out;
    if (get_str(tmp.reference, sizeof tmp.reference, o, "reference") != 1)
        goto out;
    if (get_str(tmp.redirect_url, sizeof tmp.redirect_url, o,
                "redirectUrl") < 0)
        goto out;
    *out = tmp;
    st = KV_VIPPS_OK;
out:
    cJSON_Delete(o);
    return st;
}

static kv_vipps_state state_from(const char *s)
{
    static const char *const names[] = {
        "", "CREATED", "AUTHORIZED", "ABORTED", "EXPIRED", "TERMINATED" };
    for (int i = 1; i < 6; i++)
        if (!strcmp(s, names[i]))
            return (kv_vipps_state)i;
    return KV_VIPPS_STATE_UNKNOWN;
}

kv_vipps_status kv_vipps__parse_payment(kv_vipps_payment *out,
                                        const char *body, size_t len)
{
    cJSON *o = parse_n(body, len);
    kv_vipps_payment p;
    kv_vipps_status st = KV_VIPPS_E_PARSE;
    memset(&p, 0, sizeof p);
    if (!cJSON_IsObject(o))
        goto out;
    char state[32];
    if (get_str(p.reference, sizeof p.reference, o, "reference") < 0 ||
        get_str(state, sizeof state, o, "state") != 1)
        goto out;
    p.state = state_from(state);
    if (get_money(&p.amount, p.currency, o, "amount") < 0)
        goto out;
    const cJSON *ag = cJSON_GetObjectItemCaseSensitive(o, "aggregate");
    if (ag && !cJSON_IsNull(ag)) {
        if (!cJSON_IsObject(ag) ||
            get_money(&p.authorized, NULL, ag, "authorizedAmount") < 0 ||
            get_money(&p.captured, NULL, ag, "capturedAmount") < 0 ||
            get_money(&p.refunded, NULL, ag, "refundedAmount") < 0 ||
            get_money(&p.cancelled, NULL, ag, "cancelledAmount") < 0)
            goto out;
    }
    if (get_str(p.psp_reference, sizeof p.psp_reference, o,
                "pspReference") < 0 ||
        get_str(p.redirect_url, sizeof p.redirect_url, o, "redirectUrl") < 0)
        goto out;
    *out = p;
    st = KV_VIPPS_OK;
out:
    cJSON_Delete(o);
    return st;
}

static int parse_event_obj(kv_vipps_event *e, const cJSON *it)
{
    memset(e, 0, sizeof *e);
    if (!cJSON_IsObject(it))
        return -1;
    if (get_str(e->name, sizeof e->name, it, "name") != 1 ||
        get_str(e->reference, sizeof e->reference, it, "reference") < 0 ||
        get_str(e->psp_reference, sizeof e->psp_reference, it,
                "pspReference") < 0 ||
        get_str(e->timestamp, sizeof e->timestamp, it, "timestamp") < 0 ||
        get_str(e->idempotency_key, sizeof e->idempotency_key, it,
                "idempotencyKey") < 0 ||
        get_money(&e->amount, e->currency, it, "amount") < 0)
        return -1;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, "success");
    if (s && !cJSON_IsBool(s))
        return -1;
    e->success = s ? cJSON_IsTrue(s) : 1;
    return 0;
}

kv_vipps_status kv_vipps__parse_events(kv_vipps_event **out, size_t *n,
                                       const char *body, size_t len)
{
    cJSON *o = parse_n(body, len);
    kv_vipps_status st = KV_VIPPS_E_PARSE;
    kv_vipps_event *ev = NULL;
    if (!cJSON_IsArray(o))
        goto out;
    int cnt = cJSON_GetArraySize(o);
    if (cnt > 0) {
        ev = calloc((size_t)cnt, sizeof *ev);
        if (!ev) {
            st = KV_VIPPS_E_NOMEM;
            goto out;
        }
    }
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, o) {
        if (parse_event_obj(&ev[i], it) < 0) {
            free(ev);
            goto out;
        }
        i++;
    }
    *out = ev;
    *n = (size_t)cnt;
    st = KV_VIPPS_OK;
out:
    cJSON_Delete(o);
    return st;
}

kv_vipps_status kv_vipps__parse_ecom_initiate(char *url, size_t url_len,
                                              const char *body, size_t len)
{
    cJSON *o = parse_n(body, len);
    kv_vipps_status st = KV_VIPPS_E_PARSE;
    char tmp[2048];
    if (cJSON_IsObject(o) && get_str(tmp, sizeof tmp, o, "url") == 1) {
        if (strlen(tmp) >= url_len) {
            st = KV_VIPPS_E_TOOLONG;
        } else {
            memcpy(url, tmp, strlen(tmp) + 1);
            st = KV_VIPPS_OK;
        }
    }
    cJSON_Delete(o);
    return st;
}

kv_vipps_status kv_vipps__parse_qr(kv_vipps_qr *out, const char *body,
                                   size_t len)
{
    cJSON *o = parse_n(body, len);
    kv_vipps_qr q;
    kv_vipps_status st = KV_VIPPS_E_PARSE;
    if (!cJSON_IsObject(o) || get_str(q.url, sizeof q.url, o, "url") != 1)
        goto out;
    int64_t e = -1;
    if (get_int(&e, o, "expiresIn") < 0)
        goto out;
    q.expires_in = (long)e;
    *out = q;
    st = KV_VIPPS_OK;
out:
    cJSON_Delete(o);
    return st;
}

static int parse_summary(const cJSON *o, int64_t *cap, int64_t *rcap,
                         int64_t *ref, int64_t *rref)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "transactionSummary");
    if (!s || cJSON_IsNull(s))
        return 0;
    if (!cJSON_IsObject(s) || get_int(cap, s, "capturedAmount") < 0 ||
        get_int(rcap, s, "remainingAmountToCapture") < 0 ||
        get_int(ref, s, "refundedAmount") < 0 ||
        get_int(rref, s, "remainingAmountToRefund") < 0)
        return -1;
    return 1;
}

kv_vipps_status kv_vipps__parse_ecom_details(kv_vipps_ecom_details *out,
                                             const char *body, size_t len)
{
    cJSON *o = parse_n(body, len);
    kv_vipps_ecom_details d;
    kv_vipps_status st = KV_VIPPS_E_PARSE;
    memset(&d, 0, sizeof d);
    if (!cJSON_IsObject(o) ||
        get_str(d.order_id, sizeof d.order_id, o, "orderId") < 0)
        goto out;
    if (parse_summary(o, &d.captured, &d.remaining_to_capture, &d.refunded,
                      &d.remaining_to_refund) < 0)
        goto out;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o,
                                                      "transactionLogHistory");
    if (h && !cJSON_IsArray(h))
        goto out;
    const cJSON *it;
    /* Newest first: the first successful entry is the current operation. */
    cJSON_ArrayForEach(it, h) {
        char op[16], tid[64];
        int64_t amt = 0;
        if (!cJSON_IsObject(it) || get_str(op, sizeof op, it, "operation") != 1
            || get_str(tid, sizeof tid, it, "transactionId") < 0 ||
            get_int(&amt, it, "amount") < 0)
            goto out;
        const cJSON *ok = cJSON_GetObjectItemCaseSensitive(it,
                                                           "operationSuccess");
        int success = ok ? cJSON_IsTrue(ok) : 1;
        if (!strcmp(op, "INITIATE")) {
            if (tid[0])
                d.opened = 1;
            if (!d.amount)
                d.amount = amt;
        }
        if ((!strcmp(op, "RESERVE") || !strcmp(op, "SALE")) && success)
            d.amount = amt;
        if (!success && !d.last_operation[0] &&
            (!strcmp(op, "RESERVE") || !strcmp(op, "SALE")))
            d.reserve_failed = 1;
        if (success && !d.last_operation[0])
            memcpy(d.last_operation, op, strlen(op) + 1);
    }
    *out = d;
    st = KV_VIPPS_OK;
out:
    cJSON_Delete(o);
    return st;
}

kv_vipps_status kv_vipps__parse_ecom_result(kv_vipps_ecom_result *out,
                                            const char *body, size_t len)
{
    cJSON *o = parse_n(body, len);
    kv_vipps_ecom_result r;
    kv_vipps_status st = KV_VIPPS_E_PARSE;
    memset(&r, 0, sizeof r);
    if (!cJSON_IsObject(o) ||
        get_str(r.order_id, sizeof r.order_id, o, "orderId") < 0)
        goto out;
    const cJSON *ti = cJSON_GetObjectItemCaseSensitive(o, "transactionInfo");
    if (ti && !cJSON_IsNull(ti)) {
        if (!cJSON_IsObject(ti) ||
            get_str(r.status, sizeof r.status, ti, "status") < 0 ||
            get_int(&r.amount, ti, "amount") < 0)
            goto out;
    }
    if (parse_summary(o, &r.captured, &r.remaining_to_capture, &r.refunded,
                      &r.remaining_to_refund) < 0)
        goto out;
    *out = r;
    st = KV_VIPPS_OK;
out:
    cJSON_Delete(o);
    return st;
}

static unsigned int events_bits(const cJSON *arr)
{
    unsigned int bits = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        if (!cJSON_IsString(it) || !it->valuestring)
            continue;
        for (int i = 0; i < 8; i++)
            if (!strcmp(it->valuestring, wh_names[i]))
                bits |= 1u << i;
    }
    return bits;
}

kv_vipps_status kv_vipps__parse_webhook_reg(kv_vipps_webhook *out,
                                            const char *body, size_t len)
{
    cJSON *o = parse_n(body, len);
    kv_vipps_webhook w;
    kv_vipps_status st = KV_VIPPS_E_PARSE;
    memset(&w, 0, sizeof w);
    if (cJSON_IsObject(o) && get_str(w.id, sizeof w.id, o, "id") == 1 &&
        get_str(w.secret, sizeof w.secret, o, "secret") == 1) {
        *out = w;
        st = KV_VIPPS_OK;
    }
    cJSON_Delete(o);
    return st;
}

kv_vipps_status kv_vipps__parse_webhook_list(kv_vipps_webhook **out,
                                             size_t *n, const char *body,
                                             size_t len)
{
    cJSON *o = parse_n(body, len);
    kv_vipps_status st = KV_VIPPS_E_PARSE;
    kv_vipps_webhook *w = NULL;
    const cJSON *arr = cJSON_IsObject(o)
        ? cJSON_GetObjectItemCaseSensitive(o, "webhooks") : NULL;
    if (!cJSON_IsArray(arr))
        goto out;
    int cnt = cJSON_GetArraySize(arr);
    if (cnt > 0 && !(w = calloc((size_t)cnt, sizeof *w))) {
        st = KV_VIPPS_E_NOMEM;
        goto out;
    }
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        if (!cJSON_IsObject(it) || get_str(w[i].id, sizeof w[i].id, it,
                                           "id") != 1 ||
            get_str(w[i].url, sizeof w[i].url, it, "url") < 0) {
            free(w);
            goto out;
        }
        w[i].events = events_bits(cJSON_GetObjectItemCaseSensitive(it,
                                                                   "events"));
        i++;
    }
    *out = w;
    *n = (size_t)cnt;
    st = KV_VIPPS_OK;
out:
    cJSON_Delete(o);
    return st;
}

kv_vipps_status kv_vipps_webhook_parse(kv_vipps_webhook_event *out,
                                       const void *body, size_t len)
{
    /* Strict first: cJSON would cut a reference at \u0000. */
    if (!body || kv_jsoncheck(body, len, NULL) != KV_JSONCHECK_OK)
        return KV_VIPPS_E_PARSE;
    cJSON *o = parse_n(body, len);
    kv_vipps_webhook_event e;
    kv_vipps_status st = KV_VIPPS_E_PARSE;
    memset(&e, 0, sizeof e);
    if (!cJSON_IsObject(o))
        goto out;
    if (get_str(e.msn, sizeof e.msn, o, "msn") < 0 ||
        get_str(e.reference, sizeof e.reference, o, "reference") != 1 ||
        get_str(e.psp_reference, sizeof e.psp_reference, o,
                "pspReference") < 0 ||
        get_str(e.name, sizeof e.name, o, "name") != 1 ||
        get_str(e.timestamp, sizeof e.timestamp, o, "timestamp") < 0 ||
        get_str(e.idempotency_key, sizeof e.idempotency_key, o,
                "idempotencyKey") < 0 ||
        get_money(&e.amount, e.currency, o, "amount") < 0)
        goto out;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "success");
    if (s && !cJSON_IsBool(s))
        goto out;
    e.success = s ? cJSON_IsTrue(s) : 1;
    *out = e;
    st = KV_VIPPS_OK;
out:
    cJSON_Delete(o);
    return st;
}

/* ---------- masking ---------- */

static const char *const secret_keys[] = {
    "access_token", "secret", "client_secret", "phoneNumber", "mobileNumber",
    "customerPhoneNumber", "msisdn", "authToken", "Authorization",
    "Ocp-Apim-Subscription-Key", "client_id", "token",
};

void kv_vipps__mask_json(char *s)
{
    if (!s)
        return;
    for (size_t k = 0; k < sizeof secret_keys / sizeof secret_keys[0]; k++) {
        char pat[64];
        snprintf(pat, sizeof pat, "\"%s\"", secret_keys[k]);
        size_t pl = strlen(pat);
        char *p = s;
        while ((p = strstr(p, pat)) != NULL) {
            char *q = p + pl;
            while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
                q++;
            if (*q != ':') {
                p += pl;
                continue;
            }
            q++;
            while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
                q++;
            if (*q == '"') {
                q++;
                while (*q && *q != '"') {
                    if (*q == '\\' && q[1]) {
                        *q++ = '*';
                    }
                    *q++ = '*';
                }
            } else {
                while (*q && *q != ',' && *q != '}' && *q != ']' &&
                       *q != ' ' && *q != '\n')
                    *q++ = '*';
            }
            p = q;
        }
    }
}

void kv_vipps__mask_str(char *s, const char *secret)
{
    if (!s || !secret)
        return;
    size_t n = strlen(secret);
    if (n < 4)
        return;
    char *p = s;
    while ((p = strstr(p, secret)) != NULL) {
        memset(p, '*', n);
        p += n;
    }
}

void kv_vipps__mask_digits(char *s)
{
    if (!s)
        return;
    char *p = s;
    while (*p) {
        if (isdigit((unsigned char)*p)) {
            char *q = p;
            while (isdigit((unsigned char)*q))
                q++;
            if (q - p >= 8)
                memset(p, '*', (size_t)(q - p));
            p = q;
        } else {
            p++;
        }
    }
}
