/* report.c - Report API calls of the payment client (backoffice.h). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/vipps/backoffice.h"
#include "src/vipps/backoffice_int.h"
#include "src/vipps/internal.h"

void kv__bo_str(char *dst, size_t n, const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(dst, n, "%s", cJSON_IsString(x) ? x->valuestring : "");
}

typedef struct ledger_find {
    const char *handle;
    char *id;
    size_t len;
    int found;
} ledger_find;

static kv_vipps_status parse_ledgers(void *out, const char *body, size_t len)
{
    (void)len;
    ledger_find *f = out;
    cJSON *o = cJSON_Parse(body);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(o, "items");
    if (!cJSON_IsArray(items)) {
        cJSON_Delete(o);
        return KV_VIPPS_E_PARSE;
    }
    const cJSON *l;
    cJSON_ArrayForEach(l, items) {
        const cJSON *h;
        cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(l, "settlesForRecipientHandles")) {
            if (cJSON_IsString(h) && strcmp(h->valuestring, f->handle) == 0 && !f->found) {
                kv__bo_str(f->id, f->len, l, "ledgerId");
                f->found = f->id[0] != 0;
            }
        }
    }
    cJSON_Delete(o);
    return KV_VIPPS_OK;
}

kv_vipps_status kv_vipps_ledger_for_msn(kv_vipps_client *c, const char *msn, char *ledger_id, size_t len)
{
    if (!c || !msn || !ledger_id || !len)
        return KV_VIPPS_E_INVALID;
    char handle[32], seg[64];
    snprintf(handle, sizeof handle, "api:%s", msn);
    if (kv__path_seg(seg, sizeof seg, handle) < 0)
        return KV_VIPPS_E_INVALID;
    kv_req rq = { .method = "GET", .api = KV_VIPPS_API_EPAYMENT };
    snprintf(rq.path, sizeof rq.path, "/settlement/v1/ledgers?settlesForRecipientHandles=%s", seg);
    ledger_find f = { handle, ledger_id, len, 0 };
    ledger_id[0] = 0;
    kv_vipps_status st = kv__call_parse(c, &rq, parse_ledgers, &f, "GET ledgers", NULL);
    if (st == KV_VIPPS_OK && !f.found) {
        kv__set_error(c, KV_VIPPS_API_EPAYMENT, KV_VIPPS_ERR_NOT_FOUND,
                      "GET ledgers: no ledger settles for MSN %s with these keys", msn);
        return KV_VIPPS_E_NOT_FOUND;
    }
    return st;
}

static kv_vipps_status parse_page(void *out, const char *body, size_t len)
{
    (void)len;
    kv_vipps_ledger_page *p = out;
    cJSON *o = cJSON_Parse(body);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(o, "items");
    if (!cJSON_IsObject(o) || (items && !cJSON_IsArray(items))) {
        cJSON_Delete(o);
        return KV_VIPPS_E_PARSE;
    }
    int n = cJSON_GetArraySize(items);
    memset(p, 0, sizeof *p);
    if (n > 0 && !(p->items = calloc((size_t)n, sizeof *p->items))) {
        cJSON_Delete(o);
        return KV_VIPPS_E_NOMEM;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, items) {
        kv_vipps_ledger_entry *x = &p->items[p->n];
        const cJSON *am = cJSON_GetObjectItemCaseSensitive(e, "amount");
        if (!cJSON_IsNumber(am)) {
            kv_vipps_ledger_page_free(p);
            cJSON_Delete(o);
            return KV_VIPPS_E_PARSE;
        }
        x->amount = (int64_t)am->valuedouble;
        kv__bo_str(x->psp_reference, sizeof x->psp_reference, e, "pspReference");
        kv__bo_str(x->reference, sizeof x->reference, e, "reference");
        kv__bo_str(x->entry_type, sizeof x->entry_type, e, "entryType");
        kv__bo_str(x->currency, sizeof x->currency, e, "currency");
        kv__bo_str(x->ledger_date, sizeof x->ledger_date, e, "ledgerDate");
        kv__bo_str(x->time, sizeof x->time, e, "time");
        kv__bo_str(x->recipient, sizeof x->recipient, e, "recipientHandle");
        p->n++;
    }
    kv__bo_str(p->cursor, sizeof p->cursor, o, "cursor");
    p->has_more = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "hasMore"));
    p->try_later = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "tryLater"));
    cJSON_Delete(o);
    return KV_VIPPS_OK;
}

static kv_vipps_status page_call(kv_vipps_ledger_page *out, kv_vipps_client *c, const char *path_fmt_tail,
                                 const char *ledger_id, const char *topic, const char *date, const char *cursor)
{
    if (!out || !c || !ledger_id || !topic || (strcmp(topic, "funds") && strcmp(topic, "fees")))
        return KV_VIPPS_E_INVALID;
    memset(out, 0, sizeof *out);
    char id[96], cur[1024] = "", d[32] = "";
    if (kv__path_seg(id, sizeof id, ledger_id) < 0 || (date && kv__path_seg(d, sizeof d, date) < 0) ||
        (cursor && *cursor && kv__path_seg(cur, sizeof cur, cursor) < 0))
        return KV_VIPPS_E_INVALID;
    kv_req rq = { .method = "GET", .api = KV_VIPPS_API_EPAYMENT };
    int n = snprintf(rq.path, sizeof rq.path, "/report/v2/ledgers/%s/%s/%s%s%s%s", id, topic, path_fmt_tail,
                     d, cur[0] ? "?cursor=" : "", cur);
    if (n < 0 || (size_t)n >= sizeof rq.path)
        return KV_VIPPS_E_INVALID;
    kv_vipps_status st = kv__call_parse(c, &rq, parse_page, out, date ? "GET ledger date" : "GET ledger feed", NULL);
    if (st == KV_VIPPS_E_NOT_FOUND && date) {
        /* the API's way of saying "this date has no report yet" */
        memset(out, 0, sizeof *out);
        out->not_available = 1;
        out->try_later = 1;
        return KV_VIPPS_OK;
    }
    return st;
}

kv_vipps_status kv_vipps_ledger_date(kv_vipps_ledger_page *out, kv_vipps_client *c, const char *ledger_id,
                                     const char *topic, const char *date, const char *cursor)
{
    if (!date)
        return KV_VIPPS_E_INVALID;
    return page_call(out, c, "dates/", ledger_id, topic, date, cursor);
}

kv_vipps_status kv_vipps_ledger_feed(kv_vipps_ledger_page *out, kv_vipps_client *c, const char *ledger_id,
                                     const char *topic, const char *cursor)
{
    return page_call(out, c, "feed", ledger_id, topic, NULL, cursor);
}

void kv_vipps_ledger_page_free(kv_vipps_ledger_page *p)
{
    if (!p)
        return;
    free(p->items);
    p->items = NULL;
    p->n = 0;
}
