/*
 * log.c - the client's log lines and error records, always redacted
 * (configured secrets, the current token, the request's phone number,
 * JSON values of secret keys).
 */
#include "src/vipps/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- logging ---------- */

void kv__redact(const kv_vipps_client *c, char *s)
{
    kv_vipps__mask_json(s);
    kv_vipps__mask_str(s, c->client_secret);
    kv_vipps__mask_str(s, c->sub_key);
    kv_vipps__mask_str(s, c->client_id);
    kv_vipps__mask_str(s, c->token);
    kv_vipps__mask_str(s, c->cur_phone);
}

static void vlog(kv_vipps_client *c, kv_vipps_log_level lvl, const char *fmt,
                 va_list ap)
{
    if (!c->log || lvl > c->log_level)
        return;
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        return;
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    kv__redact(c, s);
    c->log(lvl, s, c->log_payload);
    free(s);
}

void kv__log(kv_vipps_client *c, kv_vipps_log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(c, lvl, fmt, ap);
    va_end(ap);
}

void kv__set_error(kv_vipps_client *c, kv_vipps_api api,
                   kv_vipps_err_class cls, const char *fmt, ...)
{
    memset(&c->err, 0, sizeof c->err);
    c->err.api = api;
    c->err.cls = cls;
    c->err.retry_after_s = -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err.log, sizeof c->err.log, fmt, ap);
    va_end(ap);
    kv__redact(c, c->err.log);
    snprintf(c->err.cashier, sizeof c->err.cashier, "%s",
             kv_vipps_cashier_text(api, cls, 0, c->lang));
}

void kv__set_ambiguous(kv_vipps_client *c, const char *what)
{
    char prev[sizeof c->err.log];
    memcpy(prev, c->err.log, sizeof prev);
    c->err.cls = KV_VIPPS_ERR_AMBIGUOUS;
    int n = snprintf(c->err.log, sizeof c->err.log,
                     "%.100s: outcome unknown, check the payment again; "
                     "last failure: ", what);
    if (n > 0 && (size_t)n < sizeof c->err.log) {
        const char *src = prev[0] ? prev : "no answer";
        size_t room = sizeof c->err.log - (size_t)n - 1;
        size_t l = strlen(src);
        if (l > room)
            l = room;
        memcpy(c->err.log + n, src, l);
        c->err.log[(size_t)n + l] = '\0';
    }
    snprintf(c->err.cashier, sizeof c->err.cashier, "%s",
             kv_vipps_cashier_text(c->err.api, KV_VIPPS_ERR_AMBIGUOUS, 0,
                                   c->lang));
}

