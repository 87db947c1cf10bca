/* api_sticker.c - the sticker flow's requests: a till's sticker payment
 * ("flow": "sticker") and the customer's check-in (user.checked-in.v1,
 * HMAC-verified by hooks.c) meet in either order, per till:
 *
 *   amount first:  the amount is journaled as the till's waiting amount
 *                  (202, state AWAITING_SCAN); the check-in pairs with it.
 *   check-in first: the check-in is journaled and held [serve]
 *                  sticker_hold_s (default 60, at most 840: the token lives
 *                  15 minutes); the till's next sticker payment pairs with it.
 *
 * The pairing is one journal transaction (journal_sticker.h): a second
 * check-in replaces the first; a held one past its time is never used;
 * one check-in pairs once; the sticker (merchantQrId) names the till, so
 * two tills never mix -- also across the instances of a chain.  The
 * webhook is answered as soon as the check-in is journaled; the payment is
 * created by the amount's owner on its payment pool (sticker_run.c), the
 * flow's push payment with customer.customerToken (journaled, waited on,
 * captured and recovered like every payment).  Scan first, the till's own
 * request creates it (201).  The token is never logged; it stays in the
 * journal only until the payment is created. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/journal/journal_sticker.h"
#include "src/serve/serve_int.h"

static kv_journal *jr(kv_serve *s)
{
    return kv_flow_journal(s->flow);
}

/* ---- the waiting amount as JSON (no secrets) ---- */

static char *request_json(const kv_pay_request *pr, int64_t minor)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "amountMinor", (double)minor);
    if (pr->currency)
        cJSON_AddStringToObject(o, "currency", pr->currency);
    if (pr->items_json)
        cJSON_AddStringToObject(o, "items", pr->items_json);
    if (pr->text)
        cJSON_AddStringToObject(o, "text", pr->text);
    if (pr->printer)
        cJSON_AddStringToObject(o, "printer", pr->printer);
    cJSON_AddStringToObject(o, "store", pr->store_id);
    cJSON_AddNumberToObject(o, "timeoutSeconds", pr->timeout_s);
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return t;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- POST /v1/payments with "flow": "sticker" ---- */

static cJSON *err_json(const char *code, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", code);
    cJSON_AddStringToObject(o, "message", msg);
    return o;
}

int kv__sticker_begin(kv_serve *s, const kv_till *t, kv_pay_request *pr, int64_t minor, char *tok,
                      size_t toklen, cJSON **reply)
{
    *reply = NULL;
    kv_sticker_row sr;
    kv_journal_status gs = kv_journal_sticker_get(jr(s), &sr, NULL, NULL, t->id);
    if (gs == KV_J_E_NOT_FOUND) {
        *reply = err_json("no_sticker", "this till has no sticker: run `kvitt sticker create --till ID` first");
        return 409;
    }
    kv_wait_row *w = calloc(1, sizeof *w);
    if (gs != KV_J_OK || !w) {
        free(w);
        *reply = err_json("journal", "the journal cannot be read; nothing was done");
        return 503;
    }
    if (!kv_journal_is_shared(jr(s)))
        kv__sticker_tidy(s); /* (on a chain the scan does it every second) */
    int64_t now = kv__serve_now_ms();
    snprintf(w->reference, sizeof w->reference, "%s", pr->reference);
    snprintf(w->till, sizeof w->till, "%s", t->id);
    snprintf(w->sticker, sizeof w->sticker, "%s", sr.id);
    char *rq = request_json(pr, minor);
    if (rq && strlen(rq) < sizeof w->request)
        snprintf(w->request, sizeof w->request, "%s", rq);
    free(rq);
    int timeout = pr->timeout_s > 0 ? pr->timeout_s : kv_config_main_get(s->cfg)->payment_timeout_s;
    w->created_ms = now;
    w->expires_ms = now + (int64_t)timeout * 1000;
    /* this instance owns the amount before it is journaled: a check-in
     * anywhere then wakes it here */
    kv_journal_status js = KV_J_E_NOMEM;
    if (w->request[0] && kv__sticker_own(s, w->reference) == 0) {
        js = kv_journal_wait_pair(jr(s), w, sr.msn, now);
        if (js == KV_J_E_EXISTS)
            js = KV_J_OK; /* the till's retry: as journaled the first time */
        if (js != KV_J_OK)
            kv__sticker_disown(s, w->reference);
    }
    if (js != KV_J_OK) {
        free(w);
        *reply = err_json("journal", "the journal cannot be written; nothing was done");
        return 503;
    }
    int st = 0;
    if (!strcmp(w->state, "paired")) {
        /* scanned first: the payment goes out now with the check-in's token
         * (kv__sticker_after_start marks it started) */
        int64_t until = 0;
        if (kv_journal_wait_token(jr(s), w->reference, tok, toklen, &until) == KV_J_OK && now < until) {
            pr->customer_token = tok;
            kv_slog_write(&s->log, KV_LOG_INFO, "sticker.matched till=%s sticker=%s reference=%s "
                          "order=scan-first", t->id, sr.id, w->reference);
        } else {
            memset(tok, 0, toklen);
            kv__sticker_wake(s, w->reference); /* the engine settles it */
            *reply = err_json("journal", "the check-in could not be read back; the payment follows");
            st = 503;
        }
    } else if (!strcmp(w->state, "waiting")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "reference", w->reference);
        cJSON_AddStringToObject(o, "state", "AWAITING_SCAN");
        cJSON_AddStringToObject(o, "flow", "sticker");
        cJSON_AddStringToObject(o, "merchantQrId", sr.id);
        cJSON_AddNumberToObject(o, "amountMinor", (double)minor);
        cJSON_AddNumberToObject(o, "secondsLeft", timeout);
        *reply = o;
        /* the event feed shows the wait; the flow's events follow the scan */
        kv__hub_set_store(s, w->reference, t->store);
        kv__feed_add(s, w->reference, "state", "AWAITING_SCAN", "scan the sticker");
        kv_slog_write(&s->log, KV_LOG_INFO, "sticker.waiting till=%s sticker=%s reference=%s amount=%lld",
                      t->id, sr.id, w->reference, (long long)minor);
        st = 202;
    } else {
        kv__sticker_disown(s, w->reference);
        *reply = err_json("conflict", "this payment request was handled already; read it with GET");
        st = 409;
    }
    free(w);
    return st;
}

/* ---- GET /v1/payments/REF of a sticker payment that has no payment yet ---- */

int kv__sticker_describe(kv_serve *s, const kv_till *t, const char *ref, cJSON **reply)
{
    kv_wait_row w;
    if (kv_journal_wait_get(jr(s), &w, ref) != KV_J_OK || strcmp(w.till, t->id) != 0)
        return 0;
    if (!strcmp(w.state, "started"))
        return 0; /* the flow's journal has it */
    kv_payment p;
    if (!strcmp(w.state, "paired") && kv_journal_get_payment(jr(s), &p, ref) == KV_J_OK)
        return 0; /* created just now */
    int64_t now = kv__serve_now_ms();
    if (!strcmp(w.state, "waiting") && now >= w.expires_ms &&
        kv_journal_wait_move(jr(s), ref, "waiting", "expired") == KV_J_OK) {
        snprintf(w.state, sizeof w.state, "expired");
        kv__feed_add(s, ref, "result", "NOT_PAID", "nobody scanned the sticker in time");
        kv__hub_final(s, ref);
        kv__sticker_disown(s, ref);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "reference", w.reference);
    cJSON_AddStringToObject(o, "flow", "sticker");
    cJSON_AddStringToObject(o, "merchantQrId", w.sticker);
    if (!strcmp(w.state, "waiting")) {
        cJSON_AddStringToObject(o, "state", "AWAITING_SCAN");
        cJSON_AddNumberToObject(o, "secondsLeft", (double)((w.expires_ms - now) / 1000));
    } else if (!strcmp(w.state, "paired")) {
        cJSON_AddStringToObject(o, "state", "NEW");
        cJSON_AddStringToObject(o, "message", "the sticker was scanned; the payment is being created");
    } else {
        cJSON_AddStringToObject(o, "state", "NOT_PAID");
        cJSON_AddStringToObject(o, "reason", !strcmp(w.state, "replaced")
                                ? "replaced by the till's next sticker payment"
                                : !strcmp(w.state, "cancelled") ? "cancelled at the till"
                                                                : "nobody scanned the sticker in time");
    }
    *reply = o;
    return 1;
}

int kv__sticker_cancel(kv_serve *s, const kv_till *t, const char *ref, cJSON **reply)
{
    kv_wait_row w;
    /* one transaction decides: a check-in pairing with it at the same
     * moment either came first (the payment's own cancel applies) or finds
     * it cancelled */
    int ok = kv_journal_wait_get(jr(s), &w, ref) == KV_J_OK && !strcmp(w.till, t->id) &&
             kv_journal_wait_move(jr(s), ref, "waiting", "cancelled") == KV_J_OK;
    if (!ok)
        return 0;
    kv__sticker_disown(s, ref);
    kv__feed_add(s, ref, "result", "NOT_PAID", "cancelled at the till");
    kv__hub_final(s, ref);
    kv_slog_write(&s->log, KV_LOG_INFO, "sticker.cancelled till=%s reference=%s", t->id, ref);
    return kv__sticker_describe(s, t, ref, reply);
}

/* ---- the check-in webhook ---- */

int kv__sticker_is_checkin(const char *body, size_t len)
{
    cJSON *o = cJSON_ParseWithLength(body, len);
    int yes = cJSON_IsObject(o) && jstr(o, "merchantQrId") && jstr(o, "customerToken");
    cJSON_Delete(o);
    return yes;
}

static void reply(kv_http_req *r, const char *note)
{
    char b[160];
    int n = snprintf(b, sizeof b, "{\"received\":true%s%s%s}", note ? ",\"note\":\"" : "",
                     note ? note : "", note ? "\"" : "");
    kv_http_reply(r, 200, "application/json", b, (size_t)n);
}

void kv__sticker_checkin(kv_serve *s, kv_http_req *r, const char *body, size_t len)
{
    long hold_s = kv__sticker_hold_s(s);
    cJSON *o = cJSON_ParseWithLength(body, len);
    const char *id = o ? jstr(o, "merchantQrId") : NULL;
    const char *token = o ? jstr(o, "customerToken") : NULL;
    const char *msn = o ? jstr(o, "msn") : NULL;
    if (!msn && o)
        msn = jstr(o, "merchantSerialNumber");
    if (hold_s < 0 || !id || !token || !*token || strlen(token) >= sizeof(((kv_checkin_row *)0)->token) ||
        strlen(id) >= sizeof(((kv_checkin_row *)0)->sticker)) {
        cJSON_Delete(o);
        kv_http_reply_error(r, 400, "bad_event", "a check-in needs merchantQrId and customerToken");
        return;
    }
    kv_sticker_row sr;
    kv_journal_status gs = kv_journal_sticker_get(jr(s), &sr, id, msn, NULL);
    if (gs == KV_J_E_NOT_FOUND) {
        /* 2xx: Vipps must not retry a check-in nobody here can use */
        kv_slog_write(&s->log, KV_LOG_WARNING, "sticker.checkin_unknown sticker=\"%.128s\"", id);
        cJSON_Delete(o);
        reply(r, "unknown merchantQrId");
        return;
    }
    int64_t now = kv__serve_now_ms();
    kv_checkin_row ci;
    memset(&ci, 0, sizeof ci);
    snprintf(ci.sticker, sizeof ci.sticker, "%s", sr.id);
    snprintf(ci.msn, sizeof ci.msn, "%s", sr.msn);
    snprintf(ci.token, sizeof ci.token, "%s", token);
    kv_auth_hash_token(ci.key, token);
    ci.received_ms = now;
    ci.hold_until_ms = now + hold_s * 1000;
    cJSON_Delete(o);
    /* the check-in, and its pairing with the till's waiting amount, in one
     * transaction: on disk before the answer, the create follows on the
     * amount's owner (a restart in between finds the pairing) */
    kv_wait_row *w = calloc(1, sizeof *w);
    kv_journal_status js = gs != KV_J_OK ? gs : w ? kv_journal_checkin_pair(jr(s), &ci, now, w) : KV_J_E_NOMEM;
    memset(&ci, 0, sizeof ci);
    if (js != KV_J_OK && js != KV_J_E_NOT_FOUND && js != KV_J_E_EXISTS) {
        free(w);
        kv_http_reply_error(r, 503, "journal", "the check-in could not be journaled; retry");
        return;
    }
    reply(r, js == KV_J_E_EXISTS ? "repeated delivery"
             : js == KV_J_E_NOT_FOUND ? "held for the till's next sticker payment" : NULL);
    if (js == KV_J_OK) {
        kv_slog_write(&s->log, KV_LOG_INFO, "sticker.matched till=%s sticker=%s reference=%s "
                      "order=amount-first", sr.till, sr.id, w->reference);
        /* the check-in is the sticker's own record, not a payment event */
        kv__hub_webhook(s, w->reference);
        kv__feed_note(s, w->reference, "webhook", "", -1, "user.checked-in.v1");
        kv__sticker_wake(s, w->reference);
    } else {
        kv_slog_write(&s->log, KV_LOG_INFO, "sticker.checkin_%s till=%s sticker=%s hold_s=%ld",
                      js == KV_J_E_EXISTS ? "repeated" : "held", sr.till, sr.id, hold_s);
    }
    free(w);
}

int kv__api_sticker_flow(kv_serve *s, kv_http_req *r, const cJSON *body, const kv_till *t,
                         int *sticker)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(body, "flow");
    const char *v = NULL;
    if (f && !cJSON_IsNull(f)) {
        if (!cJSON_IsString(f) || (strcmp(f->valuestring, "sticker") && strcmp(f->valuestring, "qr"))) {
            kv_http_reply_error(r, 400, "invalid_request", "flow must be \"sticker\" or \"qr\"");
            return -1;
        }
        v = f->valuestring;
    } else {
        char sec[96];
        snprintf(sec, sizeof sec, "till %s", t->id);
        v = kv_config_get(s->cfg, sec, "flow");
    }
    *sticker = v && !strcmp(v, "sticker");
    if (*sticker && (cJSON_GetObjectItemCaseSensitive(body, "phone") ||
                     cJSON_GetObjectItemCaseSensitive(body, "personalQr"))) {
        kv_http_reply_error(r, 400, "invalid_request", "flow \"sticker\" takes no phone or personalQr: "
                            "the customer is who scans the sticker");
        return -1;
    }
    return 0;
}
