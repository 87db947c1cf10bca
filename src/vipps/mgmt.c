/* mgmt.c - Management API calls of the payment client (backoffice.h). */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/vipps/backoffice.h"
#include "src/vipps/backoffice_int.h"
#include "src/vipps/internal.h"

static int tri(const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(x) ? cJSON_IsTrue(x) : -1;
}

static int org_ok(const char *org)
{
    if (!org || strlen(org) != 9)
        return 0;
    for (const char *p = org; *p; p++)
        if (!isdigit((unsigned char)*p))
            return 0;
    return 1;
}

typedef struct unit_list {
    kv_vipps_sales_unit *v;
    size_t n;
} unit_list;

static kv_vipps_status parse_units(void *out, const char *body, size_t len)
{
    (void)len;
    unit_list *l = out;
    cJSON *a = cJSON_Parse(body);
    if (!cJSON_IsArray(a)) {
        cJSON_Delete(a);
        return KV_VIPPS_E_PARSE;
    }
    int n = cJSON_GetArraySize(a);
    l->v = n ? calloc((size_t)n, sizeof *l->v) : NULL;
    l->n = 0;
    if (n && !l->v) {
        cJSON_Delete(a);
        return KV_VIPPS_E_NOMEM;
    }
    const cJSON *u;
    cJSON_ArrayForEach(u, a) {
        kv_vipps_sales_unit *x = &l->v[l->n++];
        kv__bo_str(x->msn, sizeof x->msn, u, "msn");
        kv__bo_str(x->name, sizeof x->name, u, "name");
        x->payment_allowed = x->skip_landing_page = x->partial_capture = -1;
    }
    cJSON_Delete(a);
    return KV_VIPPS_OK;
}

kv_vipps_status kv_vipps_merchant_sales_units(kv_vipps_sales_unit **out, size_t *n, kv_vipps_client *c,
                                              const char *org)
{
    if (!out || !n || !c)
        return KV_VIPPS_E_INVALID;
    if (!org_ok(org)) {
        kv__set_error(c, KV_VIPPS_API_EPAYMENT, KV_VIPPS_ERR_BAD_REQUEST,
                      "merchant sales units: the organisation number must be 9 digits");
        return KV_VIPPS_E_INVALID;
    }
    kv_req rq = { .method = "GET", .api = KV_VIPPS_API_EPAYMENT };
    snprintf(rq.path, sizeof rq.path, "/management/v1/merchants/business:NO:ORG/%s/sales-units", org);
    unit_list l = { NULL, 0 };
    kv_vipps_status st = kv__call_parse(c, &rq, parse_units, &l, "GET merchant sales units", NULL);
    if (st == KV_VIPPS_OK) {
        *out = l.v;
        *n = l.n;
    }
    return st;
}

static kv_vipps_status parse_unit(void *out, const char *body, size_t len)
{
    (void)len;
    kv_vipps_sales_unit *x = out;
    cJSON *o = cJSON_Parse(body);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return KV_VIPPS_E_PARSE;
    }
    memset(x, 0, sizeof *x);
    kv__bo_str(x->msn, sizeof x->msn, o, "msn");
    kv__bo_str(x->name, sizeof x->name, o, "name");
    kv__bo_str(x->status, sizeof x->status, o, "status");
    kv__bo_str(x->org, sizeof x->org, cJSON_GetObjectItemCaseSensitive(o, "businessIdentifier"), "id");
    const cJSON *cf = cJSON_GetObjectItemCaseSensitive(o, "configuration");
    kv__bo_str(x->capture_type, sizeof x->capture_type, cf, "captureType");
    x->payment_allowed = tri(cf, "paymentAllowed");
    x->skip_landing_page = tri(cf, "skipLandingPageAllowed");
    x->partial_capture = !strcmp(x->capture_type, "ReserveCapture") ? 1
                         : !strcmp(x->capture_type, "DirectCapture") ? 0 : -1;
    cJSON_Delete(o);
    return x->msn[0] ? KV_VIPPS_OK : KV_VIPPS_E_PARSE;
}

kv_vipps_status kv_vipps_sales_unit_get(kv_vipps_sales_unit *out, kv_vipps_client *c, const char *msn)
{
    char seg[32];
    if (!out || !c || !msn || kv__path_seg(seg, sizeof seg, msn) < 0)
        return KV_VIPPS_E_INVALID;
    kv_req rq = { .method = "GET", .api = KV_VIPPS_API_EPAYMENT };
    snprintf(rq.path, sizeof rq.path, "/management/v1/sales-units/%s", seg);
    return kv__call_parse(c, &rq, parse_unit, out, "GET sales unit", NULL);
}

typedef struct order_out {
    char *id, *url;
    size_t idl, urll;
} order_out;

static kv_vipps_status parse_order(void *out, const char *body, size_t len)
{
    (void)len;
    order_out *o = out;
    cJSON *j = cJSON_Parse(body);
    kv__bo_str(o->id, o->idl, j, "prefilledOrderId");
    kv__bo_str(o->url, o->urll, j, "prefillUrl");
    cJSON_Delete(j);
    return o->url[0] ? KV_VIPPS_OK : KV_VIPPS_E_PARSE;
}

/* Text sent to Vipps carries no control characters. */
static int clean(const char *s, size_t max)
{
    if (!s)
        return 1;
    size_t n = strlen(s);
    if (!n || n > max)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

kv_vipps_status kv_vipps_product_order_create(char *order_id, size_t id_len, char *url, size_t url_len,
                                              kv_vipps_client *c, const kv_vipps_product_order *po)
{
    if (!order_id || !url || !c || !po)
        return KV_VIPPS_E_INVALID;
    const char *why = !org_ok(po->org) ? "the organisation number must be 9 digits"
                      : !clean(po->sales_unit_name, 30) ? "the sales unit name must be 1-30 characters without control characters"
                      : !clean(po->intended_purpose, 1000) ? "the intended purpose has control characters or is too long"
                      : !clean(po->price_package_id, 64) ? "the price package id is not valid"
                      : !clean(po->product_type, 32) ? "the product type is not valid" : NULL;
    if (why) {
        kv__set_error(c, KV_VIPPS_API_EPAYMENT, KV_VIPPS_ERR_BAD_REQUEST, "product order: %s", why);
        return KV_VIPPS_E_INVALID;
    }
    cJSON *b = cJSON_CreateObject();
    cJSON *bi = cJSON_AddObjectToObject(b, "businessIdentifier");
    cJSON_AddStringToObject(bi, "scheme", "business:NO:ORG");
    cJSON_AddStringToObject(bi, "id", po->org);
    cJSON_AddStringToObject(b, "productType", po->product_type ? po->product_type : "VIPPS_I_KASSA");
    if (po->sales_unit_name)
        cJSON_AddStringToObject(b, "salesUnitName", po->sales_unit_name);
    if (po->price_package_id)
        cJSON_AddStringToObject(b, "pricePackageId", po->price_package_id);
    if (po->intended_purpose)
        cJSON_AddStringToObject(b, "intendedPurpose", po->intended_purpose);
    char *body = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    if (!body)
        return KV_VIPPS_E_NOMEM;
    /* not idempotent at the API: never resent once it may have arrived (a
     * second order would only be a second link; no money moves) */
    kv_req rq = { .method = "POST", .path = "/management/v1/product-orders", .body = body,
                  .api = KV_VIPPS_API_EPAYMENT, .retry = KV_RETRY_NEVER_AFTER_SEND };
    order_out o = { order_id, url, id_len, url_len };
    kv_vipps_status st = kv__call_parse(c, &rq, parse_order, &o, "POST product order", NULL);
    free(body);
    return st;
}
