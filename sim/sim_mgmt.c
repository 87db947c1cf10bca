/* sim_mgmt.c - the simulator's Management API: a merchant's sales units by
 * organisation number, a sales unit's details, and product orders
 * (prefilled sign-up) -- with the partner-keys rules: the merchant and
 * product-order endpoints answer partner keys only, a sales unit is shown
 * to its own merchant keys or to partner keys connected to it.
 *
 * Built-in merchant: org 923609016 "Kvitt Kaffe AS" with the sales units
 * 123456 (oslo: ReserveCapture, skipLandingPage allowed) and 234567
 * (bergen: DirectCapture, no skipLandingPage), both connected to the
 * partner keys "nordkaffe-partner".  Every function runs with s->mu held.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

typedef struct mgmt_order {
    char id[37];
    char org[16];
    char product[24];
    char name[64];
} mgmt_order;

struct sim_mgmt {
    mgmt_order *o;
    size_t n, cap;
};

static const struct {
    const char *msn, *name, *capture;
    int skip_landing;
} units[] = {
    { "123456", "Kvitt Kaffe Oslo", "ReserveCapture", 1 },
    { "234567", "Kvitt Kaffe Bergen", "DirectCapture", 0 },
};
static const char merchant_org[] = "923609016";

void sim_mgmt_free(kv_sim *s)
{
    if (!s->mgmt)
        return;
    free(s->mgmt->o);
    free(s->mgmt);
    s->mgmt = NULL;
}

static int partner(int cred)
{
    size_t n;
    return sim_creds(&n)[cred].partner;
}

static int org_ok(const char *id)
{
    if (strlen(id) != 9)
        return 0;
    for (const char *p = id; *p; p++)
        if (!isdigit((unsigned char)*p))
            return 0;
    return 1;
}

static void merchant_units(kv_sim *s, sim_resp *r, int cred, const char *scheme, const char *id,
                           const char *inst)
{
    if (!partner(cred)) {
        sim_problem(s, r, 403, "Forbidden", "This endpoint requires partner keys", inst, NULL);
        return;
    }
    if (strcmp(scheme, "business:NO:ORG") != 0) {
        sim_problem_field(s, r, 400, "scheme must be business:NO:ORG", inst, "scheme");
        return;
    }
    if (!org_ok(id)) {
        sim_problem_field(s, r, 400, "id must be an organisation number of 9 digits", inst, "id");
        return;
    }
    if (strcmp(id, merchant_org) != 0) {
        sim_problem(s, r, 404, "Not Found",
                    "No merchant with this business identifier is connected to these partner keys", inst, NULL);
        return;
    }
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        cJSON *u = cJSON_CreateObject();
        cJSON_AddStringToObject(u, "msn", units[i].msn);
        cJSON_AddStringToObject(u, "name", units[i].name);
        cJSON_AddItemToArray(a, u);
    }
    sim_resp_json(r, 200, a);
}

static void sales_unit(kv_sim *s, sim_resp *r, int cred, const char *msn, const char *inst)
{
    size_t n;
    const kv_sim_cred *c = sim_creds(&n);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(units[i].msn, msn))
            continue;
        if (!c[cred].partner && strcmp(c[cred].msn, msn)) {
            sim_problem(s, r, 403, "Forbidden", "These keys have no access to this sales unit", inst, NULL);
            return;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "msn", units[i].msn);
        cJSON_AddStringToObject(o, "name", units[i].name);
        cJSON *b = cJSON_AddObjectToObject(o, "businessIdentifier");
        cJSON_AddStringToObject(b, "scheme", "business:NO:ORG");
        cJSON_AddStringToObject(b, "id", merchant_org);
        cJSON_AddStringToObject(o, "status", "ACTIVE");
        cJSON *cf = cJSON_AddObjectToObject(o, "configuration");
        cJSON_AddBoolToObject(cf, "paymentAllowed", 1);
        cJSON_AddStringToObject(cf, "captureType", units[i].capture);
        cJSON_AddBoolToObject(cf, "skipLandingPageAllowed", units[i].skip_landing);
        cJSON_AddBoolToObject(cf, "recurringAllowed", 0);
        sim_resp_json(r, 200, o);
        return;
    }
    sim_problem(s, r, 404, "Not Found", "No sales unit with this MSN", inst, NULL);
}

static void product_order(kv_sim *s, const sim_req *rq, sim_resp *r, int cred, const char *inst)
{
    if (!partner(cred)) {
        sim_problem(s, r, 403, "Forbidden", "Product orders require partner keys", inst, NULL);
        return;
    }
    cJSON *b = cJSON_Parse(rq->body ? rq->body : "");
    const cJSON *bi = cJSON_GetObjectItemCaseSensitive(b, "businessIdentifier");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(bi, "scheme");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(bi, "id");
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(b, "productType");
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(b, "salesUnitName");
    static const char *const products[] = { "VIPPS_PA_NETT", "VIPPS_LOGG_INN", "VIPPS_CHECKOUT", "VIPPS_I_KASSA" };
    int pok = 0;
    for (size_t i = 0; cJSON_IsString(pt) && i < 4; i++)
        pok |= !strcmp(pt->valuestring, products[i]);
    const char *field = !cJSON_IsObject(b) ? "body"
                        : !cJSON_IsString(sc) || strcmp(sc->valuestring, "business:NO:ORG") ? "businessIdentifier.scheme"
                        : !cJSON_IsString(id) || !org_ok(id->valuestring) ? "businessIdentifier.id"
                        : !pok ? "productType"
                        : nm && (!cJSON_IsString(nm) || !nm->valuestring[0] || strlen(nm->valuestring) > 30)
                            ? "salesUnitName" : NULL;
    if (field) {
        char d[96];
        snprintf(d, sizeof d, "%s is missing or not valid", field);
        sim_problem_field(s, r, 400, d, inst, field);
        cJSON_Delete(b);
        return;
    }
    if (!s->mgmt && !(s->mgmt = calloc(1, sizeof *s->mgmt))) {
        cJSON_Delete(b);
        sim_apim_error(r, 500, "Internal server error");
        return;
    }
    sim_mgmt *M = s->mgmt;
    if (M->n == M->cap) {
        size_t nc = M->cap ? M->cap * 2 : 8;
        mgmt_order *no = realloc(M->o, nc * sizeof *no);
        if (!no) {
            cJSON_Delete(b);
            sim_apim_error(r, 500, "Internal server error");
            return;
        }
        M->o = no;
        M->cap = nc;
    }
    mgmt_order *o = &M->o[M->n++];
    memset(o, 0, sizeof *o);
    sim_uuid(s, o->id);
    snprintf(o->org, sizeof o->org, "%s", id->valuestring);
    snprintf(o->product, sizeof o->product, "%s", pt->valuestring);
    if (cJSON_IsString(nm))
        snprintf(o->name, sizeof o->name, "%s", nm->valuestring);
    cJSON_Delete(b);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "prefilledOrderId", o->id);
    char *url = sim_printf("%s/sim/v1/portal/register/%s", s->url, o->id);
    cJSON_AddStringToObject(out, "prefillUrl", url ? url : "");
    free(url);
    sim_resp_json(r, 200, out);
}

static void order_status(kv_sim *s, sim_resp *r, int cred, const char *id, const char *inst)
{
    if (!partner(cred)) {
        sim_problem(s, r, 403, "Forbidden", "Product orders require partner keys", inst, NULL);
        return;
    }
    for (size_t i = 0; s->mgmt && i < s->mgmt->n; i++) {
        if (strcmp(s->mgmt->o[i].id, id))
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "prefilledOrderId", id);
        cJSON_AddStringToObject(o, "prefillStatus", "RECEIVED");
        sim_resp_json(r, 200, o);
        return;
    }
    sim_problem(s, r, 404, "Not Found", "No product order with this id", inst, NULL);
}

void sim_mgmt_route(kv_sim *s, const sim_req *rq, sim_resp *r, int cred, const char *msn, char **seg,
                    int nseg)
{
    (void)msn;
    const char *m = rq->method, *inst = rq->path;
    if (nseg < 3 || strcmp(seg[1], "v1")) {
        sim_apim_error(r, 404, "Resource not found");
        return;
    }
    if (nseg == 6 && !strcmp(seg[2], "merchants") && !strcmp(seg[5], "sales-units") && !strcmp(m, "GET"))
        merchant_units(s, r, cred, seg[3], seg[4], inst);
    else if (nseg == 4 && !strcmp(seg[2], "sales-units") && !strcmp(m, "GET"))
        sales_unit(s, r, cred, seg[3], inst);
    else if (nseg == 3 && !strcmp(seg[2], "product-orders") && !strcmp(m, "POST"))
        product_order(s, rq, r, cred, inst);
    else if (nseg == 4 && !strcmp(seg[2], "product-orders") && !strcmp(m, "GET"))
        order_status(s, r, cred, seg[3], inst);
    else
        sim_apim_error(r, 404, "Resource not found");
}
