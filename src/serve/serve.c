/* serve.c - the daemon's life cycle: configuration, flow, event hub,
 * payment workers, recovery at start and graceful shutdown. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "src/journal/pgconn.h"
#include "src/serve/serve_int.h"

const char *kv_serve_strerror(kv_serve_status st)
{
    switch (st) {
    case KV_SERVE_OK: return "ok";
    case KV_SERVE_E_ARG: return "invalid argument";
    case KV_SERVE_E_CONFIG: return "configuration error";
    case KV_SERVE_E_JOURNAL: return "cannot open the journal";
    case KV_SERVE_E_LISTEN: return "cannot listen";
    case KV_SERVE_E_NOMEM: return "out of memory";
    case KV_SERVE_E_FLOW: return "cannot open the till flow";
    case KV_SERVE_E_SERVICE: return "the payment service refused or was unreachable";
    case KV_SERVE_E_NOT_FOUND: return "not found";
    }
    return "unknown serve status";
}

void kv__serve_err_fields(char *buf, size_t len, const kv_flow_result *res)
{
    if (!res || (!res->detail[0] && !res->api_status)) {
        snprintf(buf, len, "%s", "");
        return;
    }
    char d[sizeof res->detail];
    size_t k = 0;
    for (const char *p = res->detail; *p && k + 1 < sizeof d; p++)
        d[k++] = *p == '"' ? '\'' : *p;   /* keep the quoted field intact */
    d[k] = '\0';
    snprintf(buf, len, " detail=\"%s\" http_status=%d code=%d trace_id=%s", d, res->api_status,
             res->api_code, res->trace_id[0] ? res->trace_id : "-");
}

int64_t kv__serve_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- configuration ---------------------------------------------------- */

static const char *const serve_keys[] = {
    "listen", "webhook_url", "webhook_max_skew_s", "callback_auth_token", "max_body",
    "shutdown_grace_s", "events_max_wait_s", "log_level", "threads", "payment_threads", "max_connections",
    "sticker_hold_s", "session_hours", "session_idle_minutes", "trusted_proxies", NULL
};
static const char *const till_keys[] = { "store", "token_sha256", "chain_refund", "printer", "flow",
                                         NULL };

static int known(const char *const *keys, const char *k)
{
    for (size_t i = 0; keys[i]; i++)
        if (strcmp(keys[i], k) == 0)
            return 1;
    return 0;
}

static int parse_long(const kv_config *cfg, const char *sec, const char *key, long lo, long hi,
                      long dflt, long *out, char *err, size_t errlen)
{
    const char *v = kv_config_get(cfg, sec, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    char *e = NULL;
    errno = 0;
    long n = strtol(v, &e, 10);
    if (!*v || *e || errno || n < lo || n > hi) {
        snprintf(err, errlen, "%s:%d: [%s] %s: '%s' is not a number from %ld to %ld; fix the value",
                 kv_config_path(cfg), kv_config_line(cfg, sec, key), sec, key, v, lo, hi);
        return -1;
    }
    *out = n;
    return 0;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) {
        *out = 0;
        return 0;
    }
    return -1;
}

/* Fill auth (may be NULL: validation only) from the [till X] sections. */
static kv_serve_status load_tills(const kv_config *cfg, kv_auth *auth, char *err, size_t errlen)
{
    const char *path = kv_config_path(cfg);
    const char *sec;
    for (size_t i = 0; (sec = kv_config_section_at(cfg, i)); i++) {
        if (strcmp(sec, "serve") == 0) {
            const char *k;
            for (size_t j = 0; (k = kv_config_key_at(cfg, sec, j)); j++)
                if (!known(serve_keys, k)) {
                    snprintf(err, errlen, "%s:%d: [serve] %s: unknown key; use one of listen, "
                             "webhook_url, webhook_max_skew_s, callback_auth_token, max_body, "
                             "shutdown_grace_s, events_max_wait_s, log_level, threads, "
                             "payment_threads, max_connections, sticker_hold_s, session_hours, "
                             "session_idle_minutes, trusted_proxies",
                             path, kv_config_line(cfg, sec, k), k);
                    return KV_SERVE_E_CONFIG;
                }
            continue;
        }
        if (strncmp(sec, "till ", 5) != 0)
            continue;
        const char *id = sec + 5;
        const char *k;
        for (size_t j = 0; (k = kv_config_key_at(cfg, sec, j)); j++)
            if (!known(till_keys, k)) {
                snprintf(err, errlen, "%s:%d: [%s] %s: unknown key; use store, token_sha256, "
                         "chain_refund, printer or flow", path, kv_config_line(cfg, sec, k), sec, k);
                return KV_SERVE_E_CONFIG;
            }
        const char *fl = kv_config_get(cfg, sec, "flow");
        if (fl && strcmp(fl, "sticker") && strcmp(fl, "qr")) {
            snprintf(err, errlen, "%s:%d: [%s] flow: '%s'; use sticker (the customer scans the till's "
                     "sticker, docs/in-store-flows.md) or qr", path, kv_config_line(cfg, sec, "flow"), sec, fl);
            return KV_SERVE_E_CONFIG;
        }
        const char *store = kv_config_get(cfg, sec, "store");
        const char *hash = kv_config_get(cfg, sec, "token_sha256");
        const char *cr = kv_config_get(cfg, sec, "chain_refund");
        const char *printer = kv_config_get(cfg, sec, "printer");
        if (!store || !kv_config_store(cfg, store)) {
            snprintf(err, errlen, "%s:%d: [%s] store: %s; name a [store ID] section of this file",
                     path, kv_config_line(cfg, sec, store ? "store" : "token_sha256"), sec,
                     store ? "no such store" : "missing");
            return KV_SERVE_E_CONFIG;
        }
        if (!hash) {
            snprintf(err, errlen, "%s: [%s] token_sha256: missing; set it to the output of "
                     "`kvitt serve --hash-token TOKEN`", path, sec);
            return KV_SERVE_E_CONFIG;
        }
        int chain_refund = 0;
        if (cr && parse_bool(cr, &chain_refund) < 0) {
            snprintf(err, errlen, "%s:%d: [%s] chain_refund: '%s' is not true or false",
                     path, kv_config_line(cfg, sec, "chain_refund"), sec, cr);
            return KV_SERVE_E_CONFIG;
        }
        if (!auth)
            continue;
        kv_auth_status as = kv_auth_add(auth, id, store, hash, chain_refund, printer);
        if (as == KV_AUTH_E_NOMEM)
            return KV_SERVE_E_NOMEM;
        if (as != KV_AUTH_OK) {
            snprintf(err, errlen, "%s:%d: [%s] token_sha256: %s; it must be 64 hex digits "
                     "(`kvitt serve --hash-token TOKEN`), one per till",
                     path, kv_config_line(cfg, sec, "token_sha256"), sec,
                     kv_auth_strerror(as));
            return KV_SERVE_E_CONFIG;
        }
    }
    return KV_SERVE_OK;
}

/* [serve] trusted_proxies into *out; -1 with err naming the entry. */
static int load_trust(const kv_config *cfg, kv_trust **out, char *err, size_t errlen)
{
    char bad[64] = "";
    kv_trust_status ts = kv_trust_parse(out, kv_config_get(cfg, "serve", "trusted_proxies"),
                                        bad, sizeof bad);
    if (ts == KV_TRUST_OK)
        return 0;
    if (ts == KV_TRUST_E_SYNTAX)
        snprintf(err, errlen, "%s:%d: [serve] trusted_proxies: '%s' is not an IP address or "
                 "network (e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8); fix the value",
                 kv_config_path(cfg), kv_config_line(cfg, "serve", "trusted_proxies"), bad);
    else
        snprintf(err, errlen, "[serve] trusted_proxies: %s", kv_trust_strerror(ts));
    return -1;
}

kv_serve_status kv_serve_check_config(const kv_config *cfg, char *err, size_t errlen)
{
    if (!cfg)
        return KV_SERVE_E_ARG;
    kv_auth *a = NULL;
    if (kv_auth_create(&a) != KV_AUTH_OK)
        return KV_SERVE_E_NOMEM;
    kv_serve_status st = load_tills(cfg, a, err, errlen);
    if (st == KV_SERVE_OK && kv_auth_count(a) == 0) {
        snprintf(err, errlen, "%s: no [till ID] section; add one per till with store and "
                 "token_sha256 (see docs/daemon.md)", kv_config_path(cfg));
        st = KV_SERVE_E_CONFIG;
    }
    long v;
    if (st == KV_SERVE_OK &&
        (parse_long(cfg, "serve", "max_body", 1024, 16L << 20, 65536, &v, err, errlen) < 0 ||
         parse_long(cfg, "serve", "shutdown_grace_s", 0, 3600, 10, &v, err, errlen) < 0 ||
         parse_long(cfg, "serve", "events_max_wait_s", 1, 300, 30, &v, err, errlen) < 0 ||
         parse_long(cfg, "serve", "threads", 1, 256, 12, &v, err, errlen) < 0 ||
         parse_long(cfg, "serve", "payment_threads", 1, 256, 16, &v, err, errlen) < 0 ||
         parse_long(cfg, "serve", "max_connections", 16, 1000000, 8192, &v, err, errlen) < 0 ||
         parse_long(cfg, "serve", "webhook_max_skew_s", 0, 86400 * 8, 0, &v, err, errlen) < 0 ||
         parse_long(cfg, "serve", "sticker_hold_s", 1, 840, 60, &v, err, errlen) < 0 ||
         parse_long(cfg, "serve", "session_hours", 1, 168, KV_SESSION_TTL_S / 3600, &v, err,
                    errlen) < 0 ||
         parse_long(cfg, "serve", "session_idle_minutes", 0, 1440, 0, &v, err, errlen) < 0))
        st = KV_SERVE_E_CONFIG;
    kv_trust *tr = NULL;
    if (st == KV_SERVE_OK && load_trust(cfg, &tr, err, errlen) < 0)
        st = KV_SERVE_E_CONFIG;
    kv_trust_free(tr);
    const char *ll = kv_config_get(cfg, "serve", "log_level");
    if (st == KV_SERVE_OK && ll && strcmp(ll, "info") && strcmp(ll, "debug") &&
        strcmp(ll, "notice") && strcmp(ll, "warning")) {
        snprintf(err, errlen, "%s:%d: [serve] log_level: '%s'; use debug, info, notice or warning",
                 kv_config_path(cfg), kv_config_line(cfg, "serve", "log_level"), ll);
        st = KV_SERVE_E_CONFIG;
    }
    kv_auth_destroy(a);
    return st;
}

/* ---- event hub ---------------------------------------------------------- */

static size_t hub_bucket(const char *ref)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)ref; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h & (KV_HUB_BUCKETS - 1);
}

kv_hub *kv__hub_find(kv_serve *s, const char *ref)
{
    for (kv_hub *h = s->hubs[hub_bucket(ref)]; h; h = h->next)
        if (strcmp(h->ref, ref) == 0)
            return h;
    return NULL;
}

static kv_hub *hub_get(kv_serve *s, const char *ref, int create)
{
    kv_hub *found = kv__hub_find(s, ref);
    if (found || !create)
        return found;
    /* At most once a second, drop feeds of payments that finished a while
     * ago (a till asking later gets a feed seeded from the journal). */
    int64_t now = kv__serve_now_ms();
    if (now - s->pruned_at_ms > 1000) {
        s->pruned_at_ms = now;
        for (size_t b = 0; b < KV_HUB_BUCKETS; b++) {
            for (kv_hub **pp = &s->hubs[b]; *pp;) {
                kv_hub *h = *pp;
                if (h->final && !h->worker && !h->subs && now - h->final_at_ms > KV_HUB_LINGER_MS) {
                    *pp = h->next;
                    free(h->ev);
                    free(h);
                } else {
                    pp = &h->next;
                }
            }
        }
    }
    kv_hub *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    snprintf(h->ref, sizeof h->ref, "%s", ref);
    h->first_seq = h->next_seq = 1;
    size_t b = hub_bucket(ref);
    h->next = s->hubs[b];
    s->hubs[b] = h;
    return h;
}

kv_hub *kv__hub_get(kv_serve *s, const char *ref)
{
    return hub_get(s, ref, 1);
}

void kv__hub_final(kv_serve *s, const char *ref)
{
    pthread_mutex_lock(&s->mu);
    kv_hub *h = hub_get(s, ref, 1);
    if (h) {
        h->final = 1;
        h->final_at_ms = kv__serve_now_ms();
    }
    pthread_mutex_unlock(&s->mu);
    kv__hub_wake(s, ref);
}

void kv__hub_set_store(kv_serve *s, const char *ref, const char *store)
{
    pthread_mutex_lock(&s->mu);
    kv_hub *h = hub_get(s, ref, 1);
    if (h)
        snprintf(h->store, sizeof h->store, "%s", store);
    pthread_mutex_unlock(&s->mu);
}

void kv__hub_webhook(kv_serve *s, const char *ref)
{
    pthread_mutex_lock(&s->mu);
    kv_hub *h = hub_get(s, ref, 1);
    if (h && !h->ticked && !h->final)
        h->early = 1;
    pthread_mutex_unlock(&s->mu);
    kv__feed_changed(s, ref);
}

/* The flow's progress callback: feed the hub (never calls back into the
 * flow).  State changes are in the journal's feed already (feed.c reads
 * them); ticks, messages and printed documents are passing events. */
static void on_flow_event(void *user, const kv_flow_event *ev)
{
    kv_serve *s = user;
    if (!ev || !ev->reference || !*ev->reference)
        return;
    const char *type = "message";
    switch (ev->kind) {
    case KV_FEV_STATE: type = "state"; break;
    case KV_FEV_TICK: type = "tick"; break;
    case KV_FEV_MESSAGE: type = "message"; break;
    case KV_FEV_PRINTED: type = "printed"; break;
    }
    const char *st = ev->kind == KV_FEV_STATE || ev->kind == KV_FEV_TICK
                     ? kv_pay_state_name(ev->state) : "";
    if (ev->kind == KV_FEV_TICK) {
        /* The first tick means kv_flow_wait is registered: a webhook that
         * came earlier can wake it now.  Later ticks are fed every 5 s. */
        int64_t now = kv__serve_now_ms();
        pthread_mutex_lock(&s->mu);
        kv_hub *h = hub_get(s, ev->reference, 1);
        int early = 0, skip = 0;
        if (h) {
            early = h->early;
            h->early = 0;
            skip = h->ticked && now - h->last_tick_ms < 5000;
            h->ticked = 1;
            if (!skip)
                h->last_tick_ms = now;
        }
        pthread_mutex_unlock(&s->mu);
        if (early)
            kv_flow_notify(s->flow, ev->reference);
        if (skip)
            return;
    }
    if (ev->kind != KV_FEV_STATE) {
        kv__feed_note(s, ev->reference, type, st, ev->seconds_left, ev->message);
        return;
    }
    /* the journal wrote the state change's feed events with it */
    kv__feed_changed(s, ev->reference);
    kv_slog_write(&s->log, KV_LOG_INFO, "payment.state reference=%s state=%s",
                  ev->reference, kv_pay_state_name(ev->state));
}

/* ---- payment workers -------------------------------------------------- */

void kv__hub_worker_done(kv_serve *s, const char *ref)
{
    pthread_mutex_lock(&s->mu);
    kv_hub *h = hub_get(s, ref, 1);
    if (h) {
        h->worker = 0;
        h->final = 1;
        h->final_at_ms = kv__serve_now_ms();
    }
    s->workers--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    kv__hub_wake(s, ref);
}

void kv__hub_worker_gone(kv_serve *s, const char *ref)
{
    pthread_mutex_lock(&s->mu);
    kv_hub *h = hub_get(s, ref, 0);
    if (h)
        h->worker = 0;
    s->workers--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static int spawn(kv_serve *s, const char *ref, int timeout_s, int start)
{
    pthread_mutex_lock(&s->mu);
    kv_hub *h = hub_get(s, ref, 1);
    if (!h || h->worker) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    h->worker = 1;
    h->final = 0;
    h->final_local = 0;
    h->ticked = 0;
    s->workers++;
    pthread_mutex_unlock(&s->mu);
    if (kv__engine_add(s, ref, timeout_s, start) != 0) {
        pthread_mutex_lock(&s->mu);
        h->worker = 0;
        s->workers--;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        kv_slog_write(&s->log, KV_LOG_ERR, "payment.worker_failed reference=%s error=\"out of memory\"",
                      ref);
        return -1;
    }
    return 0;
}

int kv__serve_spawn_waiter(kv_serve *s, const char *ref, int timeout_s)
{
    return spawn(s, ref, timeout_s, 0);
}

int kv__serve_spawn_starter(kv_serve *s, const char *ref)
{
    return spawn(s, ref, 0, 1);
}

/* A QR slip printed with less time than this before the payment's end is
 * of no use to a customer (scan, open the app, approve): a payment left
 * before its slip with less time left is cancelled, with the not-paid
 * slip, instead of resumed. */
#define RESUME_MIN_S 20

/* kv_flow_recover resumed a payment its owner (a dead instance, or this
 * daemon's previous run) left before its slip: the slip is printed and
 * the payment WAITING; wait on it as its owner. */
static void on_resume(void *user, const char *ref, int seconds_left)
{
    kv_serve *s = user;
    int shared = kv_journal_is_shared(kv_flow_journal(s->flow));
    pthread_mutex_lock(&s->mu);
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->mu);
    /* a waiter may be there already: a till's retry found it WAITING */
    int spawned = !stopping && kv__serve_spawn_waiter(s, ref, seconds_left) == 0;
    if (spawned && shared) {
        pthread_mutex_lock(&s->mu);
        s->takeovers++;
        pthread_mutex_unlock(&s->mu);
    }
    kv_slog_write(&s->log, KV_LOG_NOTICE, "%s reference=%s seconds_left=%d note=\"left before its slip: "
                  "slip printed, %s\"", shared ? "chain.resume" : "recover.resume", ref, seconds_left,
                  spawned ? "waiting as the owner" : stopping ? "WAITING for the next start" : "a waiter has it already");
}

/* ---- recovery at start -------------------------------------------------- */

static void *recover_main(void *arg)
{
    kv_serve *s = arg;
    /* Payments still waiting for the customer get a worker again first, so
     * a restart does not cancel a customer who is about to pay: the worker
     * holds the payment and kv_flow_recover leaves it alone. */
    kv_journal_query q = { NULL, NULL, 0, 1, 0 };
    kv_payment *rows = NULL;
    size_t n = 0;
    const kv_config_main *m = kv_config_main_get(s->cfg);
    int resumed = 0;
    if (kv_flow_find(s->flow, &rows, &n, &q) == KV_FLOW_OK) {
        int64_t now = (int64_t)time(NULL);
        for (size_t i = 0; i < n; i++) {
            if (rows[i].state != KV_PAY_WAITING)
                continue;
            int64_t end = rows[i].created_at + m->payment_timeout_s;
            if (rows[i].expires_at && rows[i].expires_at < end)
                end = rows[i].expires_at;
            long left = (long)(end - now);
            if (left < 5)
                continue; /* over: recover gives up on it (cancel, re-read) */
            if (kv__serve_spawn_waiter(s, rows[i].reference, (int)left) == 0) {
                resumed++;
                kv_slog_write(&s->log, KV_LOG_INFO, "recover.resume reference=%s seconds_left=%ld",
                              rows[i].reference, left);
            }
        }
        /* Let the resumed workers take their payments (first tick). */
        int64_t until = kv__serve_now_ms() + 3000;
        for (size_t i = 0; i < n && resumed; i++) {
            for (;;) {
                pthread_mutex_lock(&s->mu);
                kv_hub *h = hub_get(s, rows[i].reference, 0);
                int ready = !h || !h->worker || h->ticked;
                pthread_mutex_unlock(&s->mu);
                if (ready || kv__serve_now_ms() > until)
                    break;
                usleep(5000);
            }
        }
        free(rows);
    }
    kv_recover_report rep;
    memset(&rep, 0, sizeof rep);
    kv_flow_status st = kv_flow_recover(s->flow, &rep);
    kv__sticker_scan(s); /* sticker amounts met before a crash */
    kv_slog_write(&s->log, st == KV_FLOW_OK ? KV_LOG_INFO : KV_LOG_WARNING,
                  "recover.done result=\"%s\" resumed=%d examined=%d finished=%d captured=%d "
                  "reprinted=%d unresolved=%d resumed_before_slip=%d", kv_flow_strerror(st), resumed,
                  rep.examined, rep.finished, rep.captured, rep.reprinted, rep.unresolved, rep.resumed);
    pthread_mutex_lock(&s->mu);
    s->recovering = 0;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- dispatch ------------------------------------------------------------ */

/* GET /livez (the process answers) and /readyz (it takes payments: not
 * shutting down and the journal answers), unauthenticated and without
 * detail, for a load balancer's health checks. */
static void probe(kv_serve *s, kv_http_req *r, int ready, int stopping)
{
    if (strcmp(kv_http_method(r), "GET") != 0 && strcmp(kv_http_method(r), "HEAD") != 0) {
        kv_http_reply_error(r, 405, "method_not_allowed", "use GET");
        return;
    }
    const char *why = NULL;
    if (ready && stopping)
        why = "shutting down";
    else if (ready && kv_journal_ping(kv_flow_journal(s->flow)) != KV_J_OK)
        why = "journal unreachable";
    kv_http_add_header(r, "Cache-Control", "no-store");
    if (why) {
        char body[64];
        int n = snprintf(body, sizeof body, "not ready: %s\n", why);
        kv_http_reply(r, 503, "text/plain", body, (size_t)n);
    } else {
        kv_http_reply(r, 200, "text/plain", "ok\n", 3);
    }
}

static void handle(kv_http_req *r, void *payload)
{
    kv_serve *s = payload;
    const char *path = kv_http_path(r);
    const char *method = kv_http_method(r);
    pthread_mutex_lock(&s->mu);
    int stopping = s->stopping;
    if (!stopping)
        s->requests++;
    pthread_mutex_unlock(&s->mu);
    if (strcmp(path, "/livez") == 0 || strcmp(path, "/readyz") == 0) {
        probe(s, r, path[1] == 'r', stopping);
        if (!stopping)
            goto done;
        return;
    }
    if (!stopping && strcmp(method, "POST") == 0 && strncmp(path, "/v1/", 4) == 0 &&
        kv_journal_is_shared(kv_flow_journal(s->flow)) &&
        kv_journal_ping(kv_flow_journal(s->flow)) != KV_J_OK) {
        /* a chain instance without its database takes no new work: the
         * balancer (readyz) moves the till to another instance */
        kv_http_add_header(r, "Retry-After", "2");
        kv_http_reply_error(r, 503, "journal_unreachable", "this instance cannot reach the journal "
                            "database; retry with the same Idempotency-Key");
        goto done;
    }
    if (stopping) {
        kv_http_add_header(r, "Retry-After", "5");
        kv_http_add_header(r, "Connection", "close");
        kv_http_reply_error(r, 503, "shutting_down",
                            "the service is shutting down; retry with the same Idempotency-Key");
        return;
    }
    if (strcmp(path, "/webhooks/vipps") == 0) {
        if (strcmp(method, "POST") == 0)
            kv__hooks_webhook(s, r);
        else
            kv_http_reply_error(r, 405, "method_not_allowed", "use POST");
    } else if (strncmp(path, "/callbacks/v2/payments/", 23) == 0 && path[23]) {
        if (strcmp(method, "POST") == 0)
            kv__hooks_callback(s, r, path + 23);
        else
            kv_http_reply_error(r, 405, "method_not_allowed", "use POST");
    } else if (strncmp(path, "/v1/", 4) == 0) {
        kv__api_route(s, r, path, method);
    } else if (!strcmp(path, "/") || !strcmp(path, "/till") || !strncmp(path, "/till/", 6)) {
        kv__till_static(s, r, path);
    } else {
        kv_http_reply_error(r, 404, "not_found", "no such endpoint; the till API is under /v1");
    }
done:
    pthread_mutex_lock(&s->mu);
    s->requests--;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- life cycle ------------------------------------------------------------ */

kv_serve_status kv_serve_open(kv_serve **out, const kv_serve_options *o, char *err, size_t errlen)
{
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (!out || !o || !o->config)
        return KV_SERVE_E_ARG;
    const kv_config *cfg = o->config;
    kv_serve_status st = kv_serve_check_config(cfg, err, errlen);
    if (st != KV_SERVE_OK)
        return st;
    kv_serve *s = calloc(1, sizeof *s);
    if (!s)
        return KV_SERVE_E_NOMEM;
    s->cfg = cfg;
    s->log.fd = o->log_fd;
    s->log.max_prio = KV_LOG_INFO;
    const char *ll = kv_config_get(cfg, "serve", "log_level");
    if (o->verbose || (ll && !strcmp(ll, "debug")))
        s->log.max_prio = KV_LOG_DEBUG;
    else if (ll && !strcmp(ll, "notice"))
        s->log.max_prio = KV_LOG_NOTICE;
    else if (ll && !strcmp(ll, "warning"))
        s->log.max_prio = KV_LOG_WARNING;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->health_mu, NULL);
    pthread_mutex_init(&s->idem_mu, NULL);
    pthread_mutex_init(&s->hooks_mu, NULL);
    long v;
    parse_long(cfg, "serve", "max_body", 1024, 16L << 20, 65536, &v, err, errlen);
    s->max_body = (size_t)v;
    parse_long(cfg, "serve", "shutdown_grace_s", 0, 3600, 10, &v, err, errlen);
    s->shutdown_grace_s = (int)v;
    parse_long(cfg, "serve", "events_max_wait_s", 1, 300, 30, &v, err, errlen);
    s->events_max_wait_s = (int)v;
    parse_long(cfg, "serve", "threads", 1, 256, 12, &v, err, errlen);
    s->http_threads = (int)v;
    parse_long(cfg, "serve", "payment_threads", 1, 256, 16, &v, err, errlen);
    s->payment_threads = (int)v;
    parse_long(cfg, "serve", "webhook_max_skew_s", 0, 86400 * 8, 0, &v, err, errlen);
    s->webhook_skew_s = v;
    const char *wu = kv_config_get(cfg, "serve", "webhook_url");
    snprintf(s->webhook_url, sizeof s->webhook_url, "%s", wu ? wu : "");
    const char *ct = kv_config_get(cfg, "serve", "callback_auth_token");
    snprintf(s->callback_token, sizeof s->callback_token, "%s", ct ? ct : "");

    if (kv_auth_create(&s->auth) != KV_AUTH_OK) {
        st = KV_SERVE_E_NOMEM;
        goto fail;
    }
    st = load_tills(cfg, s->auth, err, errlen);
    if (st != KV_SERVE_OK)
        goto fail;

    kv_flow_options fo = KV_FLOW_OPTIONS_INIT;
    fo.trace_path = o->trace_path;
    fo.on_event = on_flow_event;
    fo.event_user = s;
    kv_flow_status fs = kv_flow_open(&s->flow, cfg, &fo, err, errlen);
    if (fs != KV_FLOW_OK) {
        st = fs == KV_FLOW_E_JOURNAL ? KV_SERVE_E_JOURNAL
             : fs == KV_FLOW_E_CONFIG ? KV_SERVE_E_CONFIG : KV_SERVE_E_FLOW;
        goto fail;
    }
    kv_flow_set_resume(s->flow, RESUME_MIN_S, on_resume, s);
    const kv_config_main *m = kv_config_main_get(cfg);
    if (kv_sdb_open(&s->sdb, m->journal, err, errlen) != KV_SDB_OK) {
        st = KV_SERVE_E_JOURNAL;
        goto fail;
    }
    if (kv_session_open(&s->sess, m->journal, s->sess_error, sizeof s->sess_error) !=
        KV_SESSION_OK) {
        /* On PostgreSQL the daemons' role may not create tables: until the
         * owner runs `kvitt journal upgrade` the tills' API works and the
         * cashier page's sign-in answers 503 with the fix (logged below).
         * A SQLite journal the daemon just opened must hold them too. */
        s->sess = NULL;
        if (!kv_pg_is_dsn(m->journal)) {
            snprintf(err, errlen, "%s", s->sess_error);
            st = KV_SERVE_E_JOURNAL;
            goto fail;
        }
    }
    parse_long(cfg, "serve", "session_hours", 1, 168, KV_SESSION_TTL_S / 3600, &v, err, errlen);
    s->session_ttl_s = (int)v * 3600;
    parse_long(cfg, "serve", "session_idle_minutes", 0, 1440, 0, &v, err, errlen);
    kv_session_set_idle(s->sess, (int)v * 60);
    if (load_trust(cfg, &s->trust, err, errlen) < 0) {
        st = KV_SERVE_E_CONFIG;
        goto fail;
    }

    const char *listen = o->listen;
    if (!listen)
        listen = kv_config_get(cfg, "serve", "listen");
    if (!listen)
        listen = "127.0.0.1:8580";
    kv_http_options ho = KV_HTTP_OPTIONS_INIT;
    ho.listen = listen;
    ho.max_body = s->max_body;
    ho.handler = handle;
    ho.payload = s;
    ho.log = &s->log;
    ho.threads = (unsigned)s->http_threads;
    parse_long(cfg, "serve", "max_connections", 16, 1000000, 8192, &v, err, errlen);
    ho.max_connections = (unsigned)v;
    /* every open event stream is a socket: let the process have the
     * descriptors its connection limit needs (up to the hard limit) */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)v + 256) {
        rlim_t want = (rlim_t)v + 256;
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || want < rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (kv__timer_start(s) != 0 || kv__engine_start(s) != 0) {
        snprintf(err, errlen, "cannot start the timer or payment threads");
        st = KV_SERVE_E_NOMEM;
        goto fail;
    }
    kv_http_status hs = kv_http_start(&s->http, &ho, err, errlen);
    if (hs != KV_HTTP_OK) {
        st = hs == KV_HTTP_E_NOMEM ? KV_SERVE_E_NOMEM
             : hs == KV_HTTP_E_ARG ? KV_SERVE_E_CONFIG : KV_SERVE_E_LISTEN;
        goto fail;
    }
    /* The URL as bound (port 0 resolved). */
    char host[256];
    snprintf(host, sizeof host, "%s", listen);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    snprintf(s->url, sizeof s->url, "http://%s:%u", host, kv_http_port(s->http));
    kv_slog_write(&s->log, KV_LOG_NOTICE, "serve.listening url=%s tills=%zu", s->url,
                  kv_auth_count(s->auth));
    for (size_t i = 0; i < kv_config_store_count(cfg); i++) {
        const kv_store *qs = kv_config_store_at(cfg, i);
        if (qs->qr_source == KV_QR_TEXT && qs->flow != KV_FLOW_PUSH)
            kv_slog_write(&s->log, KV_LOG_WARNING, "config.qr_source store=%s value=text warning=\"kvitt "
                          "draws the QR itself: a self-drawn QR needs Vipps' approval; qr_source = image "
                          "prints Vipps' own QR\"", qs->id);
    }
    if (!s->sess)
        kv_slog_write(&s->log, KV_LOG_WARNING, "cashier.unavailable error=\"%s\"", s->sess_error);
    if (kv__chain_start(s) != 0)
        kv_slog_write(&s->log, KV_LOG_ERR, "chain.not_started error=\"no thread\"");
    if (!o->no_recover) {
        s->recovering = 1;
        if (pthread_create(&s->recover_thread, NULL, recover_main, s) == 0) {
            s->recover_joinable = 1;
        } else {
            s->recovering = 0;
            kv_slog_write(&s->log, KV_LOG_ERR, "recover.not_started error=\"no thread\"");
        }
    }
    *out = s;
    return KV_SERVE_OK;
fail:
    kv_http_stop(s->http);
    kv__engine_stop(s);
    kv__timer_free(s);
    kv_session_close(s->sess);
    kv_trust_free(s->trust);
    kv_sdb_close(s->sdb);
    kv_flow_close(s->flow);
    kv_auth_destroy(s->auth);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->health_mu);
    pthread_mutex_destroy(&s->idem_mu);
    pthread_mutex_destroy(&s->hooks_mu);
    free(s);
    return st;
}

const char *kv_serve_url(const kv_serve *s) { return s ? s->url : ""; }

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int kv_serve_shutdown(kv_serve *s, int grace_ms)
{
    if (!s)
        return 0;
    if (grace_ms < 0)
        grace_ms = s->shutdown_grace_s * 1000;
    kv_slog_write(&s->log, KV_LOG_NOTICE, "serve.stopping grace_ms=%d", grace_ms);
    kv_http_quiesce(s->http);
    struct timespec dl;
    deadline_after(&dl, grace_ms > 0 ? grace_ms : 1);
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    kv__hub_wake_all(s); /* long-polls answer, event streams end: one wake each */
    pthread_mutex_lock(&s->mu);
    /* Requests in flight (a payment start waits for its slip) finish. */
    while (s->requests > 0) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT)
            break;
    }
    /* Waiting payments get the rest of the grace period. */
    while (s->workers > 0 || s->recovering) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT)
            break;
    }
    int left = s->workers + s->recovering + (s->requests > 0);
    int workers = s->workers;
    pthread_mutex_unlock(&s->mu);
    kv_journal_stats js = { 0, 0 };
    kv_journal_stats_get(kv_flow_journal(s->flow), &js);
    if (left > 0) {
        kv_slog_write(&s->log, KV_LOG_NOTICE, "serve.stopped waiting_payments=%d journal_units=%llu "
                      "journal_commits=%llu note=\"journaled; resumed at the next start\"", workers,
                      (unsigned long long)js.units, (unsigned long long)js.commits);
        return left;
    }
    if (s->recover_joinable) {
        pthread_join(s->recover_thread, NULL);
        s->recover_joinable = 0;
    }
    kv__chain_stop(s);
    kv_http_stop(s->http);
    s->http = NULL;
    kv__engine_stop(s);
    kv__timer_stop(s);
    kv_slog_write(&s->log, KV_LOG_NOTICE, "serve.stopped waiting_payments=0 journal_units=%llu "
                  "journal_commits=%llu", (unsigned long long)js.units, (unsigned long long)js.commits);
    return 0;
}

void kv_serve_close(kv_serve *s)
{
    if (!s)
        return;
    kv_http_stop(s->http);
    if (s->recover_joinable)
        pthread_join(s->recover_thread, NULL);
    kv__chain_stop(s);
    kv__engine_stop(s);
    kv__timer_free(s);
    kv_session_close(s->sess);
    kv_trust_free(s->trust);
    kv_sdb_close(s->sdb);
    kv_flow_close(s->flow);
    kv_auth_destroy(s->auth);
    for (size_t b = 0; b < KV_HUB_BUCKETS; b++) {
        while (s->hubs[b]) {
            kv_hub *h = s->hubs[b];
            s->hubs[b] = h->next;
            free(h->ev);
            free(h);
        }
    }
    while (s->inflight) {
        kv_inflight *x = s->inflight;
        s->inflight = x->next;
        free(x);
    }
    free(s->health_json);
    kv_sdb_hooks_free(s->hooks, s->nhooks);
    kv__sticker_free(s);
    pthread_mutex_destroy(&s->hooks_mu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->health_mu);
    pthread_mutex_destroy(&s->idem_mu);
    free(s);
}
