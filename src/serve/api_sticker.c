/* api_sticker.c - the sticker flow of the daemon: a till's sticker payment
 * ("flow": "sticker") and the customer's check-in (user.checked-in.v1,
 * HMAC-verified by hooks.c) meet in either order, per till:
 *
 *   amount first:  the amount is journaled as the till's waiting amount
 *                  (202, state AWAITING_SCAN); the check-in starts it.
 *   check-in first: the check-in is journaled and held [serve]
 *                  sticker_hold_s (default 60, at most 840: the token lives
 *                  15 minutes); the till's next sticker payment uses it.
 *
 * A second check-in replaces the first; a held one past its time is never
 * used; the sticker (merchantQrId) names the till, so two tills never mix.
 * The payment itself is the flow's push payment with customer.customerToken
 * (journaled, waited on, captured and recovered like every payment).  The
 * token is never logged; it stays in the journal only while held.
 *
 * Locking: st->mu serialises matching (a check-in and an amount of the same
 * till arriving together meet exactly once). */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/journal/journal_sticker.h"
#include "src/serve/serve_int.h"

#define HOLD_DEFAULT_S 60
#define HOLD_MAX_S 840           /* the token lives 900 s; keep a margin */

struct kv_stk {
    pthread_mutex_t mu;
    long hold_s;
};

static struct kv_stk *stk(kv_serve *s)
{
    pthread_mutex_lock(&s->mu);
    if (!s->stk) {
        struct kv_stk *k = calloc(1, sizeof *k);
        if (k) {
            pthread_mutex_init(&k->mu, NULL);
            const char *v = kv_config_get(s->cfg, "serve", "sticker_hold_s");
            char *end = NULL;
            long h = v ? strtol(v, &end, 10) : HOLD_DEFAULT_S;
            k->hold_s = (v && (*end || h < 1 || h > HOLD_MAX_S)) ? HOLD_DEFAULT_S : h;
            s->stk = k;
        }
    }
    struct kv_stk *k = s->stk;
    pthread_mutex_unlock(&s->mu);
    return k;
}

void kv__sticker_free(kv_serve *s)
{
    if (!s->stk)
        return;
    pthread_mutex_destroy(&s->stk->mu);
    free(s->stk);
    s->stk = NULL;
}

static kv_journal *jr(kv_serve *s)
{
    return kv_flow_journal(s->flow);
}

/* Test hook: KVITT_TEST_CRASH_AT=sticker-checkin kills the daemon after a
 * check-in for a waiting amount is journaled, before the payment is
 * created (the recovery test). */
static void crash_point(const char *step)
{
    const char *c = getenv("KVITT_TEST_CRASH_AT");
    if (c && !strcmp(c, step))
        raise(SIGKILL);
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

/* Start the waiting amount w with the check-in's token (st->mu held).
 * Returns the flow's status; the wait is "started" afterwards whatever
 * happened (the payment, journaled by the flow, carries the outcome). */
static kv_flow_status start_wait(kv_serve *s, const kv_wait_row *w, const char *token)
{
    cJSON *q = cJSON_Parse(w->request);
    if (!q)
        return KV_FLOW_E_NOMEM;
    kv_pay_request pr;
    memset(&pr, 0, sizeof pr);
    const cJSON *am = cJSON_GetObjectItemCaseSensitive(q, "amountMinor");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(q, "timeoutSeconds");
    pr.amount_minor = cJSON_IsNumber(am) ? (int64_t)am->valuedouble : 0;
    pr.timeout_s = cJSON_IsNumber(to) ? to->valueint : 0;
    pr.currency = jstr(q, "currency");
    pr.items_json = jstr(q, "items");
    pr.text = jstr(q, "text");
    pr.printer = jstr(q, "printer");
    pr.store_id = jstr(q, "store");
    pr.till_id = w->till;
    pr.reference = w->reference;
    pr.customer_token = token;
    kv_flow_result *res = calloc(1, sizeof *res);
    kv_flow_status st = KV_FLOW_E_NOMEM;
    if (res) {
        kv__hub_set_store(s, w->reference, pr.store_id ? pr.store_id : "");
        st = kv_flow_start(s->flow, res, &pr);
        if (st == KV_FLOW_OK)
            kv__serve_spawn_waiter(s, w->reference, pr.timeout_s);
        kv_slog_write(&s->log, st == KV_FLOW_OK ? KV_LOG_INFO : KV_LOG_WARNING,
                      "sticker.payment_started till=%s reference=%s result=\"%s\"%s%s%s", w->till,
                      w->reference, kv_flow_strerror(st), res->detail[0] ? " detail=\"" : "",
                      res->detail, res->detail[0] ? "\"" : "");
        free(res);
    }
    if (st != KV_FLOW_E_JOURNAL && st != KV_FLOW_E_NOMEM && st != KV_FLOW_E_BUSY)
        kv_journal_wait_set_state(jr(s), w->reference, "started");
    cJSON_Delete(q);
    return st;
}

/* ---- POST /v1/payments with "flow": "sticker" ---- */

int kv__sticker_begin(kv_serve *s, const kv_till *t, kv_pay_request *pr, int64_t minor, char *tok,
                      size_t toklen, cJSON **reply)
{
    struct kv_stk *k = stk(s);
    *reply = NULL;
    kv_sticker_row sr;
    if (!k)
        return 503;
    kv_journal_status gs = kv_journal_sticker_get(jr(s), &sr, NULL, NULL, t->id);
    if (gs == KV_J_E_UNSUPPORTED) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "error", "unsupported");
        cJSON_AddStringToObject(o, "message", "the sticker flow keeps its check-ins in the till's own "
                                "SQLite journal, not in a shared PostgreSQL journal");
        *reply = o;
        return 501;
    }
    if (gs != KV_J_OK) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "error", "no_sticker");
        cJSON_AddStringToObject(o, "message", "this till has no sticker: run `kvitt sticker create "
                                "--till ID` first");
        *reply = o;
        return 409;
    }
    int64_t now = kv__serve_now_ms();
    pthread_mutex_lock(&k->mu);
    kv_checkin_row ci;
    kv_journal_status js = kv_journal_checkin_take(jr(s), &ci, sr.id, sr.msn, now);
    if (js == KV_J_OK && strlen(ci.token) < toklen) {
        /* scanned first: the payment goes out now with the held token */
        pthread_mutex_unlock(&k->mu);
        snprintf(tok, toklen, "%s", ci.token);
        memset(&ci, 0, sizeof ci);
        pr->customer_token = tok;
        kv_slog_write(&s->log, KV_LOG_INFO, "sticker.matched till=%s sticker=%s order=scan-first",
                      t->id, sr.id);
        return 0;
    }
    memset(&ci, 0, sizeof ci);
    kv_wait_row w;
    memset(&w, 0, sizeof w);
    snprintf(w.reference, sizeof w.reference, "%s", pr->reference);
    snprintf(w.till, sizeof w.till, "%s", t->id);
    snprintf(w.sticker, sizeof w.sticker, "%s", sr.id);
    snprintf(w.state, sizeof w.state, "waiting");
    char *rq = request_json(pr, minor);
    if (rq && strlen(rq) < sizeof w.request)
        snprintf(w.request, sizeof w.request, "%s", rq);
    free(rq);
    int timeout = pr->timeout_s > 0 ? pr->timeout_s : kv_config_main_get(s->cfg)->payment_timeout_s;
    w.created_ms = now;
    w.expires_ms = now + (int64_t)timeout * 1000;
    js = w.request[0] ? kv_journal_wait_put(jr(s), &w) : KV_J_E_NOMEM;
    pthread_mutex_unlock(&k->mu);
    cJSON *o = cJSON_CreateObject();
    if (js != KV_J_OK) {
        cJSON_AddStringToObject(o, "error", "journal");
        cJSON_AddStringToObject(o, "message", "the journal cannot be written; nothing was done");
        *reply = o;
        return 503;
    }
    cJSON_AddStringToObject(o, "reference", w.reference);
    cJSON_AddStringToObject(o, "state", "AWAITING_SCAN");
    cJSON_AddStringToObject(o, "flow", "sticker");
    cJSON_AddStringToObject(o, "merchantQrId", sr.id);
    cJSON_AddNumberToObject(o, "amountMinor", (double)minor);
    cJSON_AddNumberToObject(o, "secondsLeft", timeout);
    *reply = o;
    /* the event feed shows the wait; the flow's events follow the scan */
    kv__hub_set_store(s, w.reference, t->store);
    kv__feed_add(s, w.reference, "state", "AWAITING_SCAN", "scan the sticker");
    kv_slog_write(&s->log, KV_LOG_INFO, "sticker.waiting till=%s sticker=%s reference=%s amount=%lld",
                  t->id, sr.id, w.reference, (long long)minor);
    return 202;
}

/* ---- GET /v1/payments/REF of a sticker payment that has no payment yet ---- */

int kv__sticker_describe(kv_serve *s, const kv_till *t, const char *ref, cJSON **reply)
{
    kv_wait_row w;
    if (kv_journal_wait_get(jr(s), &w, ref) != KV_J_OK || strcmp(w.till, t->id) != 0)
        return 0;
    if (!strcmp(w.state, "started"))
        return 0; /* the flow's journal has it (or is about to) */
    int64_t now = kv__serve_now_ms();
    if (!strcmp(w.state, "waiting") && now >= w.expires_ms) {
        kv_journal_wait_set_state(jr(s), ref, "expired");
        snprintf(w.state, sizeof w.state, "expired");
        kv__feed_add(s, ref, "result", "NOT_PAID", "nobody scanned the sticker in time");
        kv__hub_final(s, ref);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "reference", w.reference);
    cJSON_AddStringToObject(o, "flow", "sticker");
    cJSON_AddStringToObject(o, "merchantQrId", w.sticker);
    if (!strcmp(w.state, "waiting")) {
        cJSON_AddStringToObject(o, "state", "AWAITING_SCAN");
        cJSON_AddNumberToObject(o, "secondsLeft", (double)((w.expires_ms - now) / 1000));
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
    struct kv_stk *k = stk(s);
    kv_wait_row w;
    if (!k)
        return 0;
    pthread_mutex_lock(&k->mu); /* not while a check-in starts it */
    int ok = kv_journal_wait_get(jr(s), &w, ref) == KV_J_OK && !strcmp(w.till, t->id) &&
             !strcmp(w.state, "waiting") && kv_journal_wait_set_state(jr(s), ref, "cancelled") == KV_J_OK;
    pthread_mutex_unlock(&k->mu);
    if (!ok)
        return 0;
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
    struct kv_stk *k = stk(s);
    cJSON *o = cJSON_ParseWithLength(body, len);
    const char *id = o ? jstr(o, "merchantQrId") : NULL;
    const char *token = o ? jstr(o, "customerToken") : NULL;
    const char *msn = o ? jstr(o, "msn") : NULL;
    if (!msn && o)
        msn = jstr(o, "merchantSerialNumber");
    if (!k || !id || !token || !*token || strlen(token) >= sizeof(((kv_checkin_row *)0)->token) ||
        strlen(id) >= sizeof(((kv_checkin_row *)0)->sticker)) {
        cJSON_Delete(o);
        kv_http_reply_error(r, 400, "bad_event", "a check-in needs merchantQrId and customerToken");
        return;
    }
    kv_sticker_row sr;
    if (kv_journal_sticker_get(jr(s), &sr, id, msn, NULL) != KV_J_OK) {
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
    ci.hold_until_ms = now + k->hold_s * 1000;
    cJSON_Delete(o);
    pthread_mutex_lock(&k->mu);
    /* the check-in and the till's waiting amount in one transaction, on
     * disk before the create leaves: a restart in between finds both */
    kv_wait_row w;
    kv_journal_status pjs = kv_journal_batch_begin(jr(s)), wjs = KV_J_E_NOT_FOUND;
    if (pjs == KV_J_OK) {
        pjs = kv_journal_checkin_put(jr(s), &ci);
        if (pjs == KV_J_OK || pjs == KV_J_E_EXISTS)
            wjs = kv_journal_wait_for_till(jr(s), &w, sr.till, now);
        int ok = (pjs == KV_J_OK || pjs == KV_J_E_EXISTS) && (wjs == KV_J_OK || wjs == KV_J_E_NOT_FOUND);
        if (kv_journal_batch_end(jr(s), ok) != KV_J_OK || !ok)
            pjs = KV_J_E_SQL;
    }
    if (pjs != KV_J_OK && pjs != KV_J_E_EXISTS) {
        pthread_mutex_unlock(&k->mu);
        memset(&ci, 0, sizeof ci);
        kv_http_reply_error(r, 503, "journal", "the check-in could not be journaled; retry");
        return;
    }
    if (wjs != KV_J_OK) {
        pthread_mutex_unlock(&k->mu);
        memset(&ci, 0, sizeof ci);
        kv_slog_write(&s->log, KV_LOG_INFO, "sticker.checkin_%s till=%s sticker=%s hold_s=%ld",
                      pjs == KV_J_E_EXISTS ? "repeated" : "held", sr.till, sr.id, k->hold_s);
        reply(r, pjs == KV_J_E_EXISTS ? "repeated delivery" : "held for the till's next sticker payment");
        return;
    }
    crash_point("sticker-checkin");
    /* A repeated delivery starts the amount only while its check-in is
     * still held (the first delivery crashed before the create). */
    int held = pjs == KV_J_OK || kv_journal_checkin_held(jr(s), ci.key);
    if (held) {
        kv_slog_write(&s->log, KV_LOG_INFO, "sticker.matched till=%s sticker=%s reference=%s "
                      "order=amount-first", sr.till, sr.id, w.reference);
        start_wait(s, &w, ci.token);
        kv_journal_checkin_retire(jr(s), ci.key);
    }
    pthread_mutex_unlock(&k->mu);
    memset(&ci, 0, sizeof ci);
    if (held) {
        /* the check-in is the sticker's own record, not a payment event */
        kv__hub_webhook(s, w.reference);
        kv__feed_note(s, w.reference, "webhook", "", -1, "user.checked-in.v1");
    }
    reply(r, held ? NULL : "repeated delivery");
}

/* ---- at start: waiting amounts that met their check-in before a crash ---- */

void kv__sticker_recover(kv_serve *s)
{
    struct kv_stk *k = stk(s);
    kv_wait_row *v = NULL;
    size_t n = 0;
    if (!k || kv_journal_wait_list(jr(s), &v, &n) != KV_J_OK)
        return;
    int64_t now = kv__serve_now_ms();
    for (size_t i = 0; i < n; i++) {
        kv_flow_result *res = calloc(1, sizeof *res);
        int known = res && kv_flow_status_get(s->flow, res, v[i].reference, 0) == KV_FLOW_OK;
        free(res);
        pthread_mutex_lock(&k->mu);
        if (known) {
            /* the create was journaled by the flow: its recovery owns it,
             * and the check-in it used is spent */
            kv_sticker_row sr;
            kv_checkin_row ci;
            if (kv_journal_sticker_get(jr(s), &sr, v[i].sticker, NULL, NULL) == KV_J_OK &&
                kv_journal_checkin_take(jr(s), &ci, sr.id, sr.msn, INT64_MAX) == KV_J_OK)
                memset(&ci, 0, sizeof ci);
            kv_journal_wait_set_state(jr(s), v[i].reference, "started");
        } else if (now >= v[i].expires_ms) {
            kv_journal_wait_set_state(jr(s), v[i].reference, "expired");
        } else {
            kv_sticker_row sr;
            kv_checkin_row ci;
            if (kv_journal_sticker_get(jr(s), &sr, v[i].sticker, NULL, NULL) == KV_J_OK &&
                kv_journal_checkin_take(jr(s), &ci, sr.id, sr.msn, now) == KV_J_OK) {
                kv_slog_write(&s->log, KV_LOG_INFO, "sticker.recovered till=%s reference=%s",
                              v[i].till, v[i].reference);
                start_wait(s, &v[i], ci.token);
                memset(&ci, 0, sizeof ci);
            }
        }
        pthread_mutex_unlock(&k->mu);
    }
    free(v);
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
