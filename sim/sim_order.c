/* sim_order.c - receipts (shared with ePayment create) and the Order
 * Management API v2: receipts, categories and order data. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

/* Returns 1 when the request was answered with a validation error. */
int sim_check_receipt(kv_sim *s, sim_resp *r, const cJSON *rc, const char *instance, int epay)
{
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(rc, "orderLines");
    const cJSON *bl = cJSON_GetObjectItemCaseSensitive(rc, "bottomLine");
    const char *bad = NULL;
    if (!cJSON_IsObject(rc)) bad = "receipt";
    else if (!cJSON_IsArray(lines) || cJSON_GetArraySize(lines) < 1) bad = "orderLines";
    else if (!cJSON_IsObject(bl) || !sim_json_str(bl, "currency")) bad = "bottomLine.currency";
    else {
        const cJSON *l;
        cJSON_ArrayForEach(l, lines) {
            long long v;
            if (!sim_json_str(l, "name") || !sim_json_str(l, "id")) { bad = "orderLines.name/id"; break; }
            if (!sim_json_int(cJSON_GetObjectItemCaseSensitive(l, "totalAmount"), LLONG_MIN / 2, LLONG_MAX / 2, &v) ||
                !sim_json_int(cJSON_GetObjectItemCaseSensitive(l, "totalAmountExcludingTax"), LLONG_MIN / 2, LLONG_MAX / 2, &v) ||
                !sim_json_int(cJSON_GetObjectItemCaseSensitive(l, "totalTaxAmount"), LLONG_MIN / 2, LLONG_MAX / 2, &v)) {
                bad = "orderLines.totalAmount";
                break;
            }
            const cJSON *tr = cJSON_GetObjectItemCaseSensitive(l, "taxRate");
            const cJSON *tp = cJSON_GetObjectItemCaseSensitive(l, "taxPercentage");
            if (!(tr && sim_json_int(tr, 0, 10000, &v)) && !(tp && sim_json_int(tp, 0, 100, &v))) {
                bad = "orderLines.taxRate";
                break;
            }
        }
    }
    if (!bad) return 0;
    char msg[128];
    snprintf(msg, sizeof msg, "The receipt is invalid: %s", bad);
    sim_problem_field(s, r, 400, msg, instance, epay ? "Receipt" : bad);
    return 1;
}

void sim_store_receipt(kv_sim *s, const char *msn, const char *type, const char *order,
                       const cJSON *receipt)
{
    sim_receipt *x = calloc(1, sizeof *x);
    if (!x) return;
    snprintf(x->msn, sizeof x->msn, "%s", msn);
    snprintf(x->type, sizeof x->type, "%s", type);
    x->order_id = strdup(order);
    x->receipt = cJSON_Duplicate(receipt, 1);
    x->next = s->receipts;
    s->receipts = x;
}

sim_receipt *sim_find_receipt(kv_sim *s, const char *msn, const char *type, const char *order)
{
    for (sim_receipt *x = s->receipts; x; x = x->next)
        if (!strcmp(x->msn, msn) && !strcasecmp(x->type, type) && !strcmp(x->order_id, order))
            return x;
    return NULL;
}

/* ---- Order Management ---- */
void sim_om_route(kv_sim *s, const sim_req *rq, sim_resp *r, const char *msn, char **seg,
                  int nseg)
{
    /* order-management v2 {type} receipts {orderId} | v2 {type} {orderId} | v2 {type} categories {orderId} */
    if (nseg < 4 || strcmp(seg[1], "v2") != 0) { sim_apim_error(r, 404, "Resource not found"); return; }
    const char *type = seg[2];
    char inst[256];
    snprintf(inst, sizeof inst, "%s", rq->path + strlen("/order-management"));
    if (strcasecmp(type, "ECOM") && strcasecmp(type, "RECURRING")) {
        sim_problem_field(s, r, 400, "paymentType must be ECOM or RECURRING", inst, "paymentType");
        return;
    }
    if (nseg == 5 && !strcmp(seg[3], "receipts")) {
        const char *oid = seg[4];
        if (strcmp(rq->method, "POST") != 0) {
            sim_problem(s, r, 405, "Method Not Allowed", "Add a receipt with POST", inst, NULL);
            return;
        }
        if (!sim_match_pattern(oid, 1, 128, "-_.")) {
            sim_problem_field(s, r, 400, "orderId must match ^[0-9A-Za-z-_\\.]+$", inst, "orderId");
            return;
        }
        cJSON *b = cJSON_Parse(rq->body);
        if (!sim_check_receipt(s, r, b, inst, 0)) {
            if (sim_find_receipt(s, msn, type, oid)) {
                sim_problem(s, r, 409, "Conflict", "A receipt already exists for this order", inst, NULL);
            } else {
                sim_store_receipt(s, msn, type, oid, b);
                char id[37];
                sim_uuid(s, id);
                sim_resp_json(r, 201, cJSON_CreateString(id));
            }
        }
        cJSON_Delete(b);
        return;
    }
    if (nseg == 5 && !strcmp(seg[3], "categories")) {
        if (strcmp(rq->method, "PUT") != 0) {
            sim_problem(s, r, 405, "Method Not Allowed", "Add a category with PUT", inst, NULL);
            return;
        }
        cJSON *b = cJSON_Parse(rq->body);
        const char *cat = b ? sim_json_str(b, "category") : NULL;
        const char *url = b ? sim_json_str(b, "orderDetailsUrl") : NULL;
        static const char *const cats[] = { "GENERAL", "RECEIPT", "ORDER_CONFIRMATION", "DELIVERY",
                                            "TICKET", "BOOKING" };
        int ok = 0;
        for (size_t i = 0; cat && i < sizeof cats / sizeof cats[0]; i++)
            if (!strcmp(cat, cats[i])) ok = 1;
        if (!ok || !url) {
            sim_problem_field(s, r, 400, "category and orderDetailsUrl are required", inst, "category");
        } else {
            sim_receipt *x = sim_find_receipt(s, msn, type, seg[4]);
            if (!x) {
                sim_store_receipt(s, msn, type, seg[4], NULL);
                x = sim_find_receipt(s, msn, type, seg[4]);
            }
            if (x) { cJSON_Delete(x->category); x->category = cJSON_Duplicate(b, 1); }
            char id[37];
            sim_uuid(s, id);
            sim_resp_json(r, 200, cJSON_CreateString(id));
        }
        cJSON_Delete(b);
        return;
    }
    if (nseg == 4 && !strcmp(rq->method, "GET")) {
        sim_receipt *x = sim_find_receipt(s, msn, type, seg[3]);
        if (!x) { sim_problem(s, r, 404, "Not Found", "No order data for this orderId", inst, NULL); return; }
        cJSON *o = cJSON_CreateObject();
        if (x->category) cJSON_AddItemToObject(o, "category", cJSON_Duplicate(x->category, 1));
        if (x->receipt) cJSON_AddItemToObject(o, "receipt", cJSON_Duplicate(x->receipt, 1));
        sim_resp_json(r, 200, o);
        return;
    }
    sim_apim_error(r, 404, "Resource not found");
}
