/* hooks.c - webhooks (HMAC-verified) and eCom callbacks (authToken
 * checked): journal the event through the flow, wake the waiting payment,
 * answer at once.  Polling still decides the state, so duplicates and
 * events out of order are harmless. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/serve/serve_int.h"
#include "src/vipps/vipps.h"

static void reply_ok(kv_http_req *r)
{
    static const char ok[] = "{\"received\":true}";
    kv_http_reply(r, 200, "application/json", ok, sizeof ok - 1);
}

void kv__hooks_webhook(kv_serve *s, kv_http_req *r)
{
    size_t len;
    const char *body = kv_http_body(r, &len);
    const char *date = kv_http_header(r, "x-ms-date");
    const char *hash = kv_http_header(r, "x-ms-content-sha256");
    const char *authz = kv_http_header(r, "Authorization");
    if (!date || !hash || !authz) {
        kv_http_reply_error(r, 401, "bad_signature",
                            "missing x-ms-date, x-ms-content-sha256 or Authorization");
        kv_slog_write(&s->log, KV_LOG_WARNING, "webhook.rejected reason=\"missing headers\"");
        return;
    }
    /* Verify against the cached registrations; when that fails and the
     * cache is not fresh, reload it (a registration made since) and try
     * once more. */
    kv_vipps_status vs = KV_VIPPS_E_SIGNATURE;
    time_t now = time(NULL);
    size_t n = 0;
    pthread_mutex_lock(&s->hooks_mu);
    for (int pass = 0; pass < 2 && vs != KV_VIPPS_OK; pass++) {
        if (pass == 1 || !s->hooks_at_ms) {
            if (pass == 1 && kv__serve_now_ms() - s->hooks_at_ms < 1000)
                break;
            kv_sdb_hook *fresh = NULL;
            size_t nf = 0;
            if (kv_sdb_hook_list(s->sdb, &fresh, &nf) != KV_SDB_OK) {
                pthread_mutex_unlock(&s->hooks_mu);
                /* 5xx: the sender retries later. */
                kv_http_reply_error(r, 503, "journal", "the journal cannot be read; retry");
                kv_slog_write(&s->log, KV_LOG_ERR, "webhook.error error=\"%s\"",
                              kv_sdb_errmsg(s->sdb));
                return;
            }
            kv_sdb_hooks_free(s->hooks, s->nhooks);
            s->hooks = fresh;
            s->nhooks = nf;
            s->hooks_at_ms = kv__serve_now_ms();
        }
        n = s->nhooks;
        for (size_t i = 0; i < s->nhooks && vs != KV_VIPPS_OK; i++) {
            /* The signature covers the REGISTERED url (path, query, host). */
            kv_vipps_status one = kv_vipps_webhook_verify(s->hooks[i].secret, s->hooks[i].url,
                                                          body, len, date, hash, authz, now,
                                                          s->webhook_skew_s);
            if (one == KV_VIPPS_OK || one == KV_VIPPS_E_STALE)
                vs = one;
        }
        if (vs == KV_VIPPS_E_STALE)
            break;
    }
    pthread_mutex_unlock(&s->hooks_mu);
    if (vs != KV_VIPPS_OK) {
        kv_http_reply_error(r, 401, "bad_signature", "%s",
                            vs == KV_VIPPS_E_STALE ? "the x-ms-date is outside the allowed window"
                            : n == 0 ? "no webhook registration is known; run `kvitt webhooks "
                                       "register`"
                                     : "the webhook signature does not verify");
        kv_slog_write(&s->log, KV_LOG_WARNING, "webhook.rejected reason=\"%s\" registrations=%zu",
                      vs == KV_VIPPS_E_STALE ? "stale date" : "bad signature", n);
        return;
    }
    if (kv__sticker_is_checkin(body, len)) { /* user.checked-in.v1: api_sticker.c */
        kv__sticker_checkin(s, r, body, len);
        return;
    }
    kv_vipps_webhook_event ev;
    if (kv_vipps_webhook_parse(&ev, body, len) != KV_VIPPS_OK || !ev.reference[0]) {
        kv_http_reply_error(r, 400, "bad_event", "the webhook body is not an ePayment event");
        kv_slog_write(&s->log, KV_LOG_WARNING, "webhook.rejected reason=\"unparsable body\"");
        return;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        kv_http_reply_error(r, 503, "internal", "out of memory; retry");
        return;
    }
    memcpy(copy, body, len);
    copy[len] = '\0';
    /* Journal it (and wake the waiter) before answering. */
    kv_flow_status fs = kv_flow_record_webhook(s->flow, ev.reference, ev.name, copy);
    free(copy);
    if (fs == KV_FLOW_E_JOURNAL || fs == KV_FLOW_E_NOMEM) {
        kv_http_reply_error(r, 503, "journal", "the event could not be journaled; retry");
        kv_slog_write(&s->log, KV_LOG_ERR, "webhook.error reference=%s event=%s result=\"%s\"",
                      ev.reference, ev.name, kv_flow_strerror(fs));
        return;
    }
    kv_flow_notify(s->flow, ev.reference);
    kv__hub_webhook(s, ev.reference);
    kv_slog_write(&s->log, KV_LOG_INFO, "webhook.received reference=%s event=%s%s", ev.reference,
                  ev.name, fs == KV_FLOW_E_NOT_FOUND ? " note=\"unknown reference\"" : "");
    reply_ok(r);
}

void kv__hooks_callback(kv_serve *s, kv_http_req *r, const char *order_id)
{
    size_t len;
    const char *body = kv_http_body(r, &len);
    kv_vipps_ecom_callback cb;
    kv_vipps_status vs = kv_vipps_ecom_callback_parse(&cb, body, len,
                                                      kv_http_header(r, "Authorization"),
                                                      s->callback_token);
    if (vs == KV_VIPPS_E_SIGNATURE) {
        kv_http_reply_error(r, 401, "bad_auth_token", "the callback authToken does not match");
        kv_slog_write(&s->log, KV_LOG_WARNING, "callback.rejected reason=\"bad authToken\"");
        return;
    }
    if (vs != KV_VIPPS_OK) {
        kv_http_reply_error(r, 400, "bad_callback", "the callback body is not an eCom callback");
        kv_slog_write(&s->log, KV_LOG_WARNING, "callback.rejected reason=\"unparsable body\"");
        return;
    }
    if (strcmp(cb.order_id, order_id) != 0) {
        kv_http_reply_error(r, 400, "bad_callback", "the orderId in the body and the URL differ");
        kv_slog_write(&s->log, KV_LOG_WARNING, "callback.rejected reason=\"orderId mismatch\"");
        return;
    }
    char name[40];
    snprintf(name, sizeof name, "ecom.%s", cb.status);
    char *copy = malloc(len + 1);
    if (!copy) {
        kv_http_reply_error(r, 503, "internal", "out of memory; retry");
        return;
    }
    memcpy(copy, body, len);
    copy[len] = '\0';
    kv_flow_status fs = kv_flow_record_webhook(s->flow, cb.order_id, name, copy);
    free(copy);
    if (fs == KV_FLOW_E_JOURNAL || fs == KV_FLOW_E_NOMEM) {
        kv_http_reply_error(r, 503, "journal", "the event could not be journaled");
        return;
    }
    kv_flow_notify(s->flow, cb.order_id);
    kv__hub_webhook(s, cb.order_id);
    kv_slog_write(&s->log, KV_LOG_INFO, "callback.received reference=%s status=%s%s", cb.order_id,
                  cb.status, fs == KV_FLOW_E_NOT_FOUND ? " note=\"unknown reference\"" : "");
    reply_ok(r);
}
