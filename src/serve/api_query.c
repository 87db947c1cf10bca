/* api_query.c - the till API's read-only queries: GET /v1/orders (search
 * the journal: this till's store, or its chain with chain_refund) and
 * GET /v1/health (the daemon, the journal, the payment service and the
 * till's printer). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "drivers/status.h"
#include "drivers/transport.h"
#include "src/serve/serve_int.h"

/* ---- GET /v1/orders --------------------------------------------------------------- */

#define KV_SINCE_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

void kv__api_get_orders(kv_serve *s, kv_http_req *r, const kv_till *t)
{
    kv_journal_query q;
    memset(&q, 0, sizeof q);
    q.reference = kv_http_query(r, "reference");
    q.store_id = kv_http_query(r, "store");
    const char *since = kv_http_query(r, "since");
    const char *limit = kv_http_query(r, "limit");
    if (q.reference && !*q.reference)
        q.reference = NULL;
    if (q.store_id && !*q.store_id)
        q.store_id = NULL;
    if (since && *since) {
        char *e = NULL;
        errno = 0;
        long long v = strtoll(since, &e, 10);
        if (!*e && (errno == ERANGE || v < 0 || v > KV_SINCE_MAX)) {
            kv_http_reply_error(r, 400, "invalid_request",
                                "since: out of range (Unix seconds 0..%lld, up to 9999-12-31)",
                                (long long)KV_SINCE_MAX);
            return;
        }
        if (*e) {
            /* Accept a date: YYYY-MM-DD[THH:MM:SS[Z]] (UTC). */
            struct tm tm;
            memset(&tm, 0, sizeof tm);
            const char *p = strptime(since, "%Y-%m-%d", &tm);
            if (p && *p == 'T')
                p = strptime(p + 1, "%H:%M:%S", &tm);
            if (p && *p == 'Z')
                p++;
            if (!p || *p || tm.tm_year < 70 || tm.tm_year > 9999 - 1900) {
                kv_http_reply_error(r, 400, "invalid_request",
                                    "since must be Unix seconds or a UTC date (1970..9999) like 2026-11-25 or "
                                    "2026-11-25T08:00:00Z");
                return;
            }
            v = (long long)timegm(&tm);
        }
        q.since = v;
    }
    if (limit && *limit) {
        char *e = NULL;
        long v = strtol(limit, &e, 10);
        if (*e || v < 1 || v > 1000) {
            kv_http_reply_error(r, 400, "invalid_request", "limit must be 1..1000");
            return;
        }
        q.limit = (int)v;
    }
    if (q.store_id && !kv_config_store(s->cfg, q.store_id)) {
        kv_http_reply_error(r, 404, "not_found", "no such store");
        return;
    }
    if (q.store_id && !kv__api_chain_allowed(s, t, q.store_id)) {
        kv__api_forbid(s, r, t, "this till may search only its own store (chain_refund allows its chain)");
        return;
    }
    /* Without chain_refund a till sees only its store. */
    if (!q.store_id && !t->chain_refund)
        q.store_id = t->store;
    kv_payment *rows = NULL;
    size_t n = 0;
    kv_flow_status st = kv_flow_find(s->flow, &rows, &n, &q);
    if (st != KV_FLOW_OK) {
        const char *code;
        int hs = kv__api_flow_http(st, &code);
        kv_http_reply_error(r, hs, code, "%s", kv_flow_strerror(st));
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "orders") : NULL;
    for (size_t i = 0; arr && i < n; i++) {
        if (!kv__api_chain_allowed(s, t, rows[i].store_id))
            continue;
        cJSON *p = kv__api_payment_json(s, &rows[i]);
        if (p)
            cJSON_AddItemToArray(arr, p);
    }
    free(rows);
    kv_http_reply_json(r, 200, o);
}

/* ---- GET /v1/health ------------------------------------------------------------------ */

/* Can we open a TCP connection to the payment service within ms? */
static int service_reachable(const char *base_url, int ms, char *why, size_t wlen)
{
    char host[256] = "", port[8] = "443";
    const char *p = strstr(base_url, "://");
    int https = !strncmp(base_url, "https", 5);
    snprintf(port, sizeof port, "%s", https ? "443" : "80");
    p = p ? p + 3 : base_url;
    size_t i = 0;
    if (*p == '[') {
        p++;
        while (*p && *p != ']' && i < sizeof host - 1)
            host[i++] = *p++;
        if (*p == ']')
            p++;
    } else {
        while (*p && *p != ':' && *p != '/' && i < sizeof host - 1)
            host[i++] = *p++;
    }
    host[i] = '\0';
    if (*p == ':') {
        p++;
        size_t k = 0;
        while (*p >= '0' && *p <= '9' && k < sizeof port - 1)
            port[k++] = *p++;
        port[k] = '\0';
    }
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        snprintf(why, wlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return 0;
    }
    int ok = 0;
    for (struct addrinfo *a = ai; a && !ok; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            ok = 1;
        } else if (errno == EINPROGRESS) {
            struct pollfd pfd = { fd, POLLOUT, 0 };
            if (poll(&pfd, 1, ms) == 1) {
                int e = 0;
                socklen_t el = sizeof e;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
                ok = e == 0;
                if (!ok)
                    snprintf(why, wlen, "%s:%s: %s", host, port, strerror(e));
            } else {
                snprintf(why, wlen, "%s:%s: no answer within %d ms", host, port, ms);
            }
        } else {
            snprintf(why, wlen, "%s:%s: %s", host, port, strerror(errno));
        }
        close(fd);
    }
    freeaddrinfo(ai);
    return ok;
}

static cJSON *printer_json(const char *uri)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "uri", uri);
    if (strncmp(uri, "tcp://", 6) != 0) {
        /* USB, serial and lp devices are held by the flow while printing;
         * virtual printers are files.  Only network printers are asked. */
        cJSON_AddStringToObject(o, "state", strncmp(uri, "virtual:", 8) ? "not_checked"
                                                                        : "virtual");
        return o;
    }
    char err[256] = "";
    kv_transport_options to = KV_TRANSPORT_OPTIONS_INIT;
    to.open_timeout_ms = 1000;
    to.io_timeout_ms = 1000;
    to.errbuf = err;
    to.errlen = sizeof err;
    kv_transport *t = NULL;
    if (kv_transport_open(&t, uri, &to) != KV_T_OK) {
        cJSON_AddStringToObject(o, "state", "unreachable");
        cJSON_AddStringToObject(o, "detail", err);
        return o;
    }
    kv_printer_status_info info;
    int st = kv_printer_status(t, 500, &info);
    kv_transport_close(t);
    if (st != KV_T_OK) {
        cJSON_AddStringToObject(o, "state", "unreachable");
        cJSON_AddStringToObject(o, "detail", kv_transport_strerror(st));
        return o;
    }
    cJSON_AddStringToObject(o, "state", kv_printer_state_name(info.state));
    if (info.state != KV_PS_READY)
        cJSON_AddStringToObject(o, "detail", kv_printer_state_advice(info.state));
    return o;
}

void kv__api_get_health(kv_serve *s, kv_http_req *r, const kv_till *t)
{
    (void)t;
    pthread_mutex_lock(&s->health_mu);
    int64_t now = kv__serve_now_ms();
    if (!s->health_json || now - s->health_at_ms > 5000) {
        cJSON *o = cJSON_CreateObject();
        if (o) {
            const kv_config_main *m = kv_config_main_get(s->cfg);
            char why[256] = "";
            int reach = service_reachable(m->base_url, 1500, why, sizeof why);
            cJSON *ps = cJSON_AddObjectToObject(o, "paymentService");
            if (ps) {
                cJSON_AddStringToObject(ps, "url", m->base_url);
                cJSON_AddBoolToObject(ps, "reachable", reach);
                if (!reach)
                    cJSON_AddStringToObject(ps, "detail", why);
            }
            cJSON *tills = cJSON_AddArrayToObject(o, "tills");
            for (size_t i = 0; tills && i < kv_auth_count(s->auth); i++) {
                const kv_till *x = kv_auth_till(s->auth, i);
                const kv_store *st = kv_config_store(s->cfg, x->store);
                const char *uri = x->printer[0] ? x->printer : st ? st->printer : "";
                cJSON *to = cJSON_CreateObject();
                if (!to)
                    continue;
                cJSON_AddStringToObject(to, "till", x->id);
                cJSON_AddStringToObject(to, "store", x->store);
                cJSON *pj = printer_json(uri);
                if (pj)
                    cJSON_AddItemToObject(to, "printer", pj);
                cJSON_AddItemToArray(tills, to);
            }
            pthread_mutex_lock(&s->mu);
            cJSON_AddBoolToObject(o, "recovering", s->recovering);
            cJSON_AddNumberToObject(o, "waitingPayments", s->workers);
            pthread_mutex_unlock(&s->mu);
            cJSON_AddStringToObject(o, "status", reach ? "ok" : "degraded");
            char *txt = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            if (txt) {
                free(s->health_json);
                s->health_json = strdup(txt);
                cJSON_free(txt);
                s->health_at_ms = now;
            }
        }
    }
    if (s->health_json)
        kv_http_reply(r, 200, "application/json", s->health_json, strlen(s->health_json));
    else
        kv_http_reply_error(r, 500, "internal", "out of memory");
    pthread_mutex_unlock(&s->health_mu);
}

