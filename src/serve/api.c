/* api.c - the till API under /v1: payments, events, cancel, refund,
 * reprint, orders and health.  Every money decision is the flow's; this
 * file authenticates, checks the store, keeps idempotency and shapes JSON. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "drivers/status.h"
#include "drivers/transport.h"
#include "src/serve/serve_int.h"
#include "src/serve/api_reports.h"

/* ---- helpers ------------------------------------------------------------- */

static const kv_till *authenticate(kv_serve *s, kv_http_req *r)
{
    const kv_till *t = NULL;
    int cookie = kv_http_header(r, "Authorization") ? 0 : kv__till_cookie_auth(s, r, &t, NULL);
    if (cookie)
        return cookie > 0 ? t : NULL; /* the cashier page's session (api_till.c) */
    if (kv_auth_check(&t, s->auth, kv_http_header(r, "Authorization")) != KV_AUTH_OK) {
        /* One answer for every failure: it must not tell which tokens exist. */
        kv_http_add_header(r, "WWW-Authenticate", "Bearer realm=\"kvitt\"");
        kv_http_reply_error(r, 401, "unauthorized", "missing or invalid bearer token");
        kv_slog_write(&s->log, KV_LOG_WARNING, "auth.denied method=%s path=%s",
                      kv_http_method(r), kv_http_path(r));
        return NULL;
    }
    return t;
}

static const char *chain_of(kv_serve *s, const char *store_id)
{
    const kv_store *st = kv_config_store(s->cfg, store_id);
    return st ? st->chain : "";
}

/* May till t act on a payment of store origin (reads, cancel, reprint)? */
static int same_store(const kv_till *t, const char *origin)
{
    return strcmp(t->store, origin) == 0;
}

/* May till t refund / search a payment of store origin? */
static int chain_allowed(kv_serve *s, const kv_till *t, const char *origin)
{
    if (same_store(t, origin))
        return 1;
    const char *a = chain_of(s, t->store), *b = chain_of(s, origin);
    return t->chain_refund && a[0] && strcmp(a, b) == 0;
}

static void forbid(kv_serve *s, kv_http_req *r, const kv_till *t, const char *why)
{
    kv_http_reply_error(r, 403, "forbidden", "%s", why);
    kv_slog_write(&s->log, KV_LOG_WARNING, "auth.forbidden till=%s method=%s path=%s",
                  t->id, kv_http_method(r), kv_http_path(r));
}

static void add_amount(cJSON *o, const char *name, int64_t minor)
{
    char buf[32];
    kv_flow_format_amount(buf, sizeof buf, minor);
    cJSON_AddStringToObject(o, name, buf);
}

static const char *receipt_status(kv_serve *s, const kv_payment *p, int *copy)
{
    kv_print_job job;
    *copy = 0;
    /* No receipt can exist before the capture: spare the journal a read. */
    if (p->state == KV_PAY_NEW || p->state == KV_PAY_CREATED || p->state == KV_PAY_WAITING ||
        p->state == KV_PAY_AUTHORIZED)
        return "pending";
    kv_journal *j = kv_flow_journal(s->flow);
    if (!j || kv_journal_job_last(j, &job, p->reference, KV_DOC_RECEIPT) != KV_J_OK) {
        if (p->state == KV_PAY_NOT_PAID || p->state == KV_PAY_CANCELLED)
            return "none";
        return "pending";
    }
    *copy = job.copy;
    switch (job.state) {
    case KV_PJ_QUEUED: return "queued";
    case KV_PJ_SENT: return "printed";
    case KV_PJ_CONFIRMED: return "printed";
    case KV_PJ_FAILED: return "failed";
    }
    return "pending";
}

static cJSON *payment_json(kv_serve *s, const kv_payment *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "reference", p->reference);
    cJSON_AddStringToObject(o, "store", p->store_id);
    cJSON_AddStringToObject(o, "till", p->till_id);
    cJSON_AddStringToObject(o, "state", kv_pay_state_name(p->state));
    cJSON_AddBoolToObject(o, "final", kv_pay_state_final(p->state));
    if (p->api_state[0])
        cJSON_AddStringToObject(o, "apiState", p->api_state);
    cJSON_AddStringToObject(o, "flow", p->flow);
    cJSON_AddStringToObject(o, "currency", p->currency);
    add_amount(o, "amount", p->amount);
    cJSON_AddNumberToObject(o, "amountMinor", (double)p->amount);
    add_amount(o, "captured", p->captured);
    add_amount(o, "refunded", p->refunded);
    if (p->psp_reference[0])
        cJSON_AddStringToObject(o, "pspReference", p->psp_reference);
    if (p->reason[0])
        cJSON_AddStringToObject(o, "reason", p->reason);
    cJSON_AddNumberToObject(o, "createdAt", (double)p->created_at);
    cJSON_AddNumberToObject(o, "updatedAt", (double)p->updated_at);
    if (p->expires_at)
        cJSON_AddNumberToObject(o, "expiresAt", (double)p->expires_at);
    int copy = 0;
    const char *rs = receipt_status(s, p, &copy);
    cJSON *rc = cJSON_AddObjectToObject(o, "receipt");
    if (rc) {
        cJSON_AddStringToObject(rc, "status", rs);
        cJSON_AddBoolToObject(rc, "copy", copy);
    }
    return o;
}

static void reply_payment(kv_serve *s, kv_http_req *r, int status, const kv_payment *p,
                          const kv_flow_result *res)
{
    cJSON *o = payment_json(s, p);
    if (o && res) {
        if (res->cashier[0])
            cJSON_AddStringToObject(o, "message", res->cashier);
        if (res->approved_after_cancel)
            cJSON_AddBoolToObject(o, "approvedAfterCancel", 1);
        if (res->receipt_queued)
            cJSON_AddBoolToObject(o, "receiptQueued", 1);
    }
    kv_http_reply_json(r, status, o);
}

/* Map a flow status to an HTTP status and error code. */
static int flow_http(kv_flow_status st, const char **code)
{
    switch (st) {
    case KV_FLOW_OK: *code = "ok"; return 200;
    case KV_FLOW_E_INPUT: *code = "invalid_request"; return 400;
    case KV_FLOW_E_CONFIG: *code = "configuration"; return 500;
    case KV_FLOW_E_PRINTER: *code = "printer"; return 502;
    case KV_FLOW_E_SERVICE: *code = "service_unreachable"; return 503;
    case KV_FLOW_E_UNKNOWN: *code = "outcome_unknown"; return 502;
    case KV_FLOW_E_NOT_PAID: *code = "not_paid"; return 409;
    case KV_FLOW_E_NOT_FOUND: *code = "not_found"; return 404;
    case KV_FLOW_E_JOURNAL: *code = "journal"; return 500;
    case KV_FLOW_E_REFUSED: *code = "refused"; return 409;
    case KV_FLOW_E_NOMEM: *code = "internal"; return 500;
    case KV_FLOW_E_BUSY: *code = "busy"; return 409;
    }
    *code = "internal";
    return 500;
}

static cJSON *error_json(const char *code, const char *msg, const kv_flow_result *res)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "error", code);
    cJSON_AddStringToObject(o, "message", msg);
    if (res && res->payment.reference[0]) {
        cJSON_AddStringToObject(o, "reference", res->payment.reference);
        cJSON_AddStringToObject(o, "state", kv_pay_state_name(res->payment.state));
    }
    return o;
}

/* ---- idempotency ------------------------------------------------------------ */

typedef struct idem {
    int active;
    char till[64];
    char key[128];
} idem;

static void inflight_add(kv_serve *s, const idem *ic)
{
    kv_inflight *x = calloc(1, sizeof *x);
    if (!x)
        return;
    snprintf(x->till, sizeof x->till, "%s", ic->till);
    snprintf(x->key, sizeof x->key, "%s", ic->key);
    pthread_mutex_lock(&s->mu);
    x->next = s->inflight;
    s->inflight = x;
    pthread_mutex_unlock(&s->mu);
}

static void inflight_del(kv_serve *s, const idem *ic)
{
    pthread_mutex_lock(&s->mu);
    for (kv_inflight **pp = &s->inflight; *pp; pp = &(*pp)->next) {
        kv_inflight *x = *pp;
        if (!strcmp(x->till, ic->till) && !strcmp(x->key, ic->key)) {
            *pp = x->next;
            free(x);
            break;
        }
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static int inflight_has(kv_serve *s, const char *till, const char *key)
{
    for (kv_inflight *x = s->inflight; x; x = x->next)
        if (!strcmp(x->till, till) && !strcmp(x->key, key))
            return 1;
    return 0;
}

static void send_stored(kv_http_req *r, int status, const char *resp)
{
    kv_http_add_header(r, "Idempotent-Replayed", "true");
    kv_http_reply(r, status, "application/json", resp, strlen(resp));
}

enum { IDEM_GO = 0, IDEM_DONE = 1, IDEM_RESUME = 2 };

/* Start idempotency for a POST.  new_reference (may be NULL) is recorded
 * with a new claim.  Returns IDEM_GO (run the request; ic is active when a
 * key was given), IDEM_DONE (already answered: replay,
 * conflict or error) or IDEM_RESUME (an earlier attempt of a stopped
 * daemon claimed the key: *pending_ref is its reference or NULL). */
static int idem_begin(kv_serve *s, kv_http_req *r, const kv_till *t, int required, idem *ic,
                      char **pending_ref, const char *new_reference)
{
    memset(ic, 0, sizeof *ic);
    *pending_ref = NULL;
    const char *key = kv_http_header(r, "Idempotency-Key");
    if (!key || !*key) {
        if (!required)
            return IDEM_GO;
        kv_http_reply_error(r, 400, "idempotency_key_required",
                            "send an Idempotency-Key header (1-100 characters, unique per "
                            "operation, the same on every retry)");
        return IDEM_DONE;
    }
    size_t kl = strlen(key);
    if (kl > 100) {
        kv_http_reply_error(r, 400, "bad_idempotency_key",
                            "the Idempotency-Key is longer than 100 characters");
        return IDEM_DONE;
    }
    for (size_t i = 0; i < kl; i++)
        if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e) {
            kv_http_reply_error(r, 400, "bad_idempotency_key",
                                "the Idempotency-Key must be printable ASCII without spaces");
            return IDEM_DONE;
        }
    snprintf(ic->till, sizeof ic->till, "%s", t->id);
    snprintf(ic->key, sizeof ic->key, "%s", key);
    size_t blen;
    const char *body = kv_http_body(r, &blen);
    unsigned char h[32];
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    if (!mc || !EVP_DigestInit_ex(mc, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(mc, kv_http_method(r), strlen(kv_http_method(r))) ||
        !EVP_DigestUpdate(mc, "\n", 1) ||
        !EVP_DigestUpdate(mc, kv_http_path(r), strlen(kv_http_path(r))) ||
        !EVP_DigestUpdate(mc, "\n", 1) || !EVP_DigestUpdate(mc, body, blen) ||
        !EVP_DigestFinal_ex(mc, h, NULL)) {
        EVP_MD_CTX_free(mc);
        kv_http_reply_error(r, 500, "internal", "cannot hash the request");
        return IDEM_DONE;
    }
    EVP_MD_CTX_free(mc);
    for (int attempt = 0;; attempt++) {
        kv_idem_outcome oc;
        int status = 0;
        char *resp = NULL, *ref = NULL;
        /* Claiming the key and marking it in flight are one step, so a
         * concurrent retry never mistakes a running request for one a
         * stopped daemon left behind. */
        pthread_mutex_lock(&s->idem_mu);
        kv_sdb_status st = kv_sdb_idem_begin_ref(s->sdb, &oc, &status, &resp, &ref, t->id, key, h,
                                                 new_reference);
        int running = 0;
        if (st == KV_SDB_OK && oc == KV_IDEM_NEW) {
            inflight_add(s, ic);
        } else if (st == KV_SDB_OK && oc == KV_IDEM_PENDING) {
            pthread_mutex_lock(&s->mu);
            running = inflight_has(s, t->id, key);
            pthread_mutex_unlock(&s->mu);
            if (!running)
                inflight_add(s, ic); /* this request resumes it now */
        }
        pthread_mutex_unlock(&s->idem_mu);
        if (st == KV_SDB_E_CONFLICT) {
            kv_http_reply_error(r, 409, "idempotency_conflict",
                                "this Idempotency-Key was used for a different request; "
                                "use a new key for a new operation");
            return IDEM_DONE;
        }
        if (st != KV_SDB_OK) {
            kv_slog_write(&s->log, KV_LOG_ERR, "idem.error till=%s error=\"%s\"", t->id,
                          kv_sdb_errmsg(s->sdb));
            kv_http_reply_error(r, 500, "journal", "the journal cannot be written; nothing was done");
            return IDEM_DONE;
        }
        if (oc == KV_IDEM_NEW) {
            ic->active = 1;
            return IDEM_GO;
        }
        if (oc == KV_IDEM_REPLAY) {
            send_stored(r, status, resp);
            free(resp);
            kv_slog_write(&s->log, KV_LOG_INFO, "idem.replay till=%s status=%d", t->id, status);
            return IDEM_DONE;
        }
        /* PENDING: the same request is running now (a till's impatient
         * retry): wait for its answer, then look again.  Otherwise a
         * stopped daemon left it: this request resumes it. */
        if (running) {
            free(ref);
            if (attempt >= 1200) {
                kv_http_reply_error(r, 409, "in_progress",
                                    "a request with this Idempotency-Key is still running; retry");
                return IDEM_DONE;
            }
            pthread_mutex_lock(&s->mu);
            if (inflight_has(s, t->id, key)) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 50 * 1000000L;
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            }
            pthread_mutex_unlock(&s->mu);
            continue;
        }
        ic->active = 1;
        *pending_ref = ref;
        return IDEM_RESUME;
    }
}

/* Answer and, when the key is active, store the answer for replays. */
static void idem_reply(kv_serve *s, kv_http_req *r, idem *ic, int status, cJSON *o)
{
    if (!ic->active) {
        kv_http_reply_json(r, status, o);
        return;
    }
    char *txt = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!txt) {
        kv_sdb_idem_abandon(s->sdb, ic->till, ic->key);
        inflight_del(s, ic);
        kv_http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    if (kv_sdb_idem_finish(s->sdb, ic->till, ic->key, status, txt) != KV_SDB_OK)
        kv_slog_write(&s->log, KV_LOG_ERR, "idem.error till=%s error=\"%s\"", ic->till,
                      kv_sdb_errmsg(s->sdb));
    inflight_del(s, ic);
    kv_http_reply(r, status, "application/json", txt, strlen(txt));
    cJSON_free(txt);
}

/* Answer without storing: nothing happened, a retry may run afresh. */
static void idem_abandon_reply(kv_serve *s, kv_http_req *r, idem *ic, int status, cJSON *o)
{
    if (ic->active) {
        kv_sdb_idem_abandon(s->sdb, ic->till, ic->key);
        inflight_del(s, ic);
    }
    kv_http_reply_json(r, status, o);
}

/* Answer without storing and leave the claim pending (its reference was
 * recorded with it): the journal failed, maybe after money moved, so a
 * retry resumes the same payment (or starts it under the same reference
 * when it never reached the journal) instead of making a second one. */
static void idem_leave_reply(kv_serve *s, kv_http_req *r, idem *ic, int status, cJSON *o)
{
    if (ic->active)
        inflight_del(s, ic);
    kv_http_add_header(r, "Retry-After", "2");
    kv_http_reply_json(r, status, o);
}

/* ---- POST /v1/payments ------------------------------------------------------ */

static void new_reference(kv_serve *s, const kv_till *t, char *out, size_t len)
{
    kv_flow_make_reference(out, len, s->cfg, t->store); /* the same format as `kvitt pay` */
}

/* Amount from "amount" (decimal string or JSON number) or "amountMinor". */
static int read_amount(kv_http_req *r, const cJSON *body, kv_pay_request *pr, char *buf, size_t len)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(body, "amount");
    const cJSON *am = cJSON_GetObjectItemCaseSensitive(body, "amountMinor");
    if (a && am) {
        kv_http_reply_error(r, 400, "invalid_request", "give either amount or amountMinor, not both");
        return -1;
    }
    if (cJSON_IsString(a)) {
        snprintf(buf, len, "%s", a->valuestring);
        pr->amount = buf;
        return 0;
    }
    if (cJSON_IsNumber(a)) {
        char *txt = cJSON_PrintUnformatted(a); /* shortest round-trip text */
        if (!txt) {
            kv_http_reply_error(r, 500, "internal", "out of memory");
            return -1;
        }
        snprintf(buf, len, "%s", txt);
        cJSON_free(txt);
        pr->amount = buf;
        return 0;
    }
    if (cJSON_IsNumber(am)) {
        double d = am->valuedouble;
        if (d < 0 || d > 1e15 || d != (double)(int64_t)d) {
            kv_http_reply_error(r, 400, "invalid_request",
                                "amountMinor must be a whole number of minor units (øre, cents)");
            return -1;
        }
        pr->amount = NULL;
        pr->amount_minor = (int64_t)d;
        return 0;
    }
    kv_http_reply_error(r, 400, "invalid_request",
                        "amount is missing: send \"amount\": \"149.00\" (or amountMinor: 14900)");
    return -1;
}

static int opt_string(kv_http_req *r, const cJSON *body, const char *name, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
    if (!v || cJSON_IsNull(v)) {
        *out = NULL;
        return 0;
    }
    if (!cJSON_IsString(v)) {
        kv_http_reply_error(r, 400, "invalid_request", "%s must be a string", name);
        return -1;
    }
    *out = v->valuestring;
    return 0;
}

static void create_payment(kv_serve *s, kv_http_req *r, const kv_till *t)
{
    cJSON *body = kv_http_body_json(r);
    if (!body)
        return;
    static const char *const allowed[] = { "amount", "amountMinor", "currency", "items", "phone",
                                           "text", "store", "timeoutSeconds", "customerPresent",
                                           "personalQr", "flow", NULL };
    for (const cJSON *it = body->child; it; it = it->next) {
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++)
            if (it->string && !strcmp(it->string, allowed[i]))
                ok = 1;
        if (!ok) {
            kv_http_reply_error(r, 400, "invalid_request",
                                "unknown field \"%.60s\"; allowed: amount, amountMinor, currency, "
                                "items, phone, text, store, timeoutSeconds, customerPresent, "
                                "personalQr, flow",
                                it->string ? it->string : "");
            cJSON_Delete(body);
            return;
        }
    }
    kv_pay_request pr;
    memset(&pr, 0, sizeof pr);
    char amount[64];
    const char *store = NULL;
    if (read_amount(r, body, &pr, amount, sizeof amount) < 0 ||
        opt_string(r, body, "currency", &pr.currency) < 0 ||
        opt_string(r, body, "phone", &pr.phone) < 0 ||
        opt_string(r, body, "text", &pr.text) < 0 ||
        opt_string(r, body, "store", &store) < 0 ||
        opt_string(r, body, "personalQr", &pr.personal_qr) < 0) {
        cJSON_Delete(body);
        return;
    }
    int sticker = 0; /* "flow": "sticker" (or [till ID] flow = sticker): docs/in-store-flows.md */
    if (kv__api_sticker_flow(s, r, body, t, &sticker) < 0) {
        cJSON_Delete(body);
        return;
    }
    /* The store comes from the token; a different one in the body is refused. */
    if (store && strcmp(store, t->store) != 0) {
        forbid(s, r, t, "this till acts only for its own store");
        cJSON_Delete(body);
        return;
    }
    const cJSON *cp = cJSON_GetObjectItemCaseSensitive(body, "customerPresent");
    if (cp && !cJSON_IsBool(cp)) {
        kv_http_reply_error(r, 400, "invalid_request", "customerPresent must be true or false");
        cJSON_Delete(body);
        return;
    }
    pr.not_present = cp && cJSON_IsFalse(cp); /* the flow checks phone + items */
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(body, "timeoutSeconds");
    if (to) {
        if (!cJSON_IsNumber(to) || to->valuedouble < 10 || to->valuedouble > 900) {
            kv_http_reply_error(r, 400, "invalid_request", "timeoutSeconds must be 10..900");
            cJSON_Delete(body);
            return;
        }
        pr.timeout_s = (int)to->valuedouble;
    }
    char *items = NULL;
    const cJSON *iv = cJSON_GetObjectItemCaseSensitive(body, "items");
    if (iv && !cJSON_IsNull(iv)) {
        if (!cJSON_IsArray(iv)) {
            kv_http_reply_error(r, 400, "invalid_request", "items must be an array of "
                                "{name, quantity, unit_price, vat_rate}");
            cJSON_Delete(body);
            return;
        }
        items = cJSON_PrintUnformatted(iv);
        if (!items) {
            kv_http_reply_error(r, 500, "internal", "out of memory");
            cJSON_Delete(body);
            return;
        }
        pr.items_json = items;
    }
    pr.store_id = t->store;
    pr.till_id = t->id;
    pr.printer = t->printer[0] ? t->printer : NULL;

    idem ic;
    char *pending = NULL;
    char ref[64];
    new_reference(s, t, ref, sizeof ref);
    int ib = idem_begin(s, r, t, 1, &ic, &pending, ref);
    kv_flow_result *res = NULL;
    if (ib == IDEM_DONE)
        goto out;
    res = calloc(1, sizeof *res);
    if (!res) {
        idem_abandon_reply(s, r, &ic, 500, error_json("internal", "out of memory", NULL));
        goto out;
    }
    if (ib == IDEM_RESUME && pending) {
        /* A stopped daemon claimed this key: if its payment reached the
         * journal, answer with it (never a second payment). */
        kv_flow_status gs = kv_flow_status_get(s->flow, res, pending, 0);
        if (gs == KV_FLOW_OK) {
            if (res->payment.state == KV_PAY_WAITING || res->payment.state == KV_PAY_CREATED)
                kv__serve_spawn_waiter(s, pending, 0);
            kv_slog_write(&s->log, KV_LOG_INFO, "idem.resumed till=%s reference=%s state=%s",
                          t->id, pending, kv_pay_state_name(res->payment.state));
            idem_reply(s, r, &ic, 201, payment_json(s, &res->payment));
            goto out;
        }
        snprintf(ref, sizeof ref, "%s", pending); /* never journaled: start it now */
    } else if (ib == IDEM_RESUME && ic.active &&
               kv_sdb_idem_set_reference(s->sdb, ic.till, ic.key, ref) != KV_SDB_OK) {
        idem_abandon_reply(s, r, &ic, 500, error_json("journal", "the journal cannot be "
                                                     "written; nothing was done", NULL));
        goto out;
    }
    pr.reference = ref;
    char err[512];
    kv_flow_status vs = kv_flow_validate(s->flow, &pr, err, sizeof err);
    if (vs != KV_FLOW_OK) {
        const char *code;
        int hs = flow_http(vs, &code);
        idem_reply(s, r, &ic, hs, error_json(code, err, NULL));
        goto out;
    }
    char ctok[512];
    if (sticker) {
        cJSON *so = NULL;
        int64_t minor = pr.amount_minor;
        if (pr.amount)
            kv_flow_parse_amount(&minor, pr.amount, NULL, 0);
        int shs = kv__sticker_begin(s, t, &pr, minor, ctok, sizeof ctok, &so);
        if (shs) {
            idem_reply(s, r, &ic, shs, so);
            goto out;
        }
    }
    int64_t t0 = kv__serve_now_ms();
    kv__hub_set_store(s, ref, t->store);
    kv_flow_status st = kv_flow_start(s->flow, res, &pr);
    memset(ctok, 0, sizeof ctok);
    int64_t t1 = kv__serve_now_ms();
    if (st == KV_FLOW_OK && !res->payment.reference[0] &&
        kv_flow_status_get(s->flow, res, ref, 0) != KV_FLOW_OK) {
        /* started, but the journal could not be read back (its database
         * went away): no answer without the payment; the claim stays
         * pending, so the till's retry resumes this payment */
        kv__serve_spawn_waiter(s, ref, pr.timeout_s);
        idem_leave_reply(s, r, &ic, 503, error_json("journal", "the payment was started but the "
                                                    "journal cannot be read now; retry with the same "
                                                    "Idempotency-Key", NULL));
        goto out;
    }
    if (st == KV_FLOW_OK) {
        kv__serve_spawn_waiter(s, ref, pr.timeout_s);
        kv_slog_write(&s->log, KV_LOG_INFO, "payment.created till=%s store=%s reference=%s "
                      "amount=%lld currency=%s slip_ms=%lld", t->id, t->store, ref,
                      (long long)res->payment.amount, res->payment.currency,
                      (long long)(t1 - t0));
        cJSON *o = payment_json(s, &res->payment);
        if (o) {
            char loc[200];
            snprintf(loc, sizeof loc, "/v1/payments/%s", ref);
            kv_http_add_header(r, "Location", loc);
        }
        idem_reply(s, r, &ic, 201, o);
        goto out;
    }
    if (st == KV_FLOW_E_INPUT && kv_flow_status_get(s->flow, res, ref, 0) == KV_FLOW_OK) {
        /* the reference is this claim's own: another instance of the chain
         * resumed the same claim and journaled it first (a till's retry
         * reached both) -- the same payment, one answer */
        kv_slog_write(&s->log, KV_LOG_INFO, "idem.joined till=%s reference=%s state=%s", t->id, ref,
                      kv_pay_state_name(res->payment.state));
        idem_reply(s, r, &ic, 201, payment_json(s, &res->payment));
        goto out;
    }
    const char *code;
    int hs = flow_http(st, &code);
    const char *msg = res->cashier[0] ? res->cashier : kv_flow_strerror(st);
    char why[900];
    kv__serve_err_fields(why, sizeof why, res);
    kv_slog_write(&s->log, KV_LOG_WARNING, "payment.start_failed till=%s reference=%s "
                  "result=\"%s\"%s", t->id, ref, kv_flow_strerror(st), why);
    kv__hub_push(s, ref, "result", res->payment.reference[0]
                 ? kv_pay_state_name(res->payment.state) : "UNKNOWN", -1, msg);
    kv__hub_final(s, ref);
    if (st == KV_FLOW_E_JOURNAL)
        idem_leave_reply(s, r, &ic, 503, error_json(code, msg, res));
    else if (st == KV_FLOW_E_SERVICE || st == KV_FLOW_E_NOMEM)
        idem_abandon_reply(s, r, &ic, hs, error_json(code, msg, res)); /* nothing moved */
    else
        idem_reply(s, r, &ic, hs, error_json(code, msg, res));
out:
    free(pending);
    free(res);
    cJSON_free(items);
    cJSON_Delete(body);
}

/* ---- payment lookups ---------------------------------------------------------- */

/* Load a payment the till may see (same store, or chain_refund for
 * chain==1).  Replies 404/403 itself and returns -1 on failure. */
static int load_for(kv_serve *s, kv_http_req *r, const kv_till *t, const char *ref, int chain,
                    kv_flow_result *res, int refresh)
{
    kv_flow_status st = kv_flow_status_get(s->flow, res, ref, refresh);
    if (st == KV_FLOW_E_NOT_FOUND || (st != KV_FLOW_OK && !res->payment.reference[0])) {
        if (st == KV_FLOW_E_NOT_FOUND)
            kv_http_reply_error(r, 404, "not_found", "no payment with this reference");
        else {
            const char *code;
            int hs = flow_http(st, &code);
            kv_http_reply_error(r, hs, code, "%s", kv_flow_strerror(st));
        }
        return -1;
    }
    if (!(chain ? chain_allowed(s, t, res->payment.store_id) : same_store(t, res->payment.store_id))) {
        forbid(s, r, t, chain ? "this payment belongs to another store and this till may not act "
                                "for it (chain_refund)"
                              : "this payment belongs to another store");
        return -1;
    }
    return 0;
}

static void get_payment(kv_serve *s, kv_http_req *r, const kv_till *t, const char *ref)
{
    kv_flow_result *res = calloc(1, sizeof *res);
    if (!res) {
        kv_http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    const char *rq = kv_http_query(r, "refresh");
    int refresh = rq && (!strcmp(rq, "1") || !strcmp(rq, "true"));
    cJSON *so = NULL;
    if (kv__sticker_describe(s, t, ref, &so))
        kv_http_reply_json(r, 200, so); /* a sticker payment still waiting for the scan */
    else if (load_for(s, r, t, ref, 0, res, refresh) == 0)
        reply_payment(s, r, 200, &res->payment, NULL);
    free(res);
}

/* ---- events: long-poll and server-sent events --------------------------------- */

static cJSON *event_json(const kv_hub_ev *e)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "seq", e->seq);
    cJSON_AddStringToObject(o, "type", e->type);
    if (e->state[0])
        cJSON_AddStringToObject(o, "state", e->state);
    if (e->seconds_left >= 0 && !strcmp(e->type, "tick"))
        cJSON_AddNumberToObject(o, "secondsLeft", e->seconds_left);
    if (e->message[0])
        cJSON_AddStringToObject(o, "message", e->message);
    cJSON_AddNumberToObject(o, "atMs", (double)e->at_ms);
    return o;
}

/* Make sure the hub knows the payment (after a restart it may not):
 * seed it with the journaled state. */
static void hub_seed(kv_serve *s, const kv_payment *p)
{
    pthread_mutex_lock(&s->mu);
    kv_hub *h = kv__hub_find(s, p->reference);
    pthread_mutex_unlock(&s->mu);
    if (h)
        return;
    kv__hub_push(s, p->reference, "state", kv_pay_state_name(p->state), -1, "");
    if (kv_pay_state_final(p->state))
        kv__hub_final(s, p->reference);
}

/* Collect events after `after` into arr; returns 1 when the feed is final. */
static int collect(kv_serve *s, const char *ref, int after, cJSON *arr, int *last)
{
    int fin = 0;
    *last = after;
    kv_hub *h = kv__hub_find(s, ref);
    if (h) {
        for (int q = after + 1 > h->first_seq ? after + 1 : h->first_seq; q < h->next_seq; q++) {
            cJSON *e = event_json(kv__hub_ev(h, q));
            if (e)
                cJSON_AddItemToArray(arr, e);
            *last = q;
        }
        fin = h->final && !h->worker;
    }
    return fin;
}

/* An event stream: a suspended connection subscribed to the payment's
 * feed; its reader never blocks (it answers 0 and the connection sleeps
 * until the feed changes or its keep-alive timer is due). */
struct sse {
    kv_serve *s;
    kv_sub sub;
    kv_http_stream *st;
    char ref[64];
    int last;
    int done;
    int64_t last_write_ms;
    int64_t timer_due_ms;
};

#define SSE_KEEPALIVE_MS 15000

static ssize_t sse_read(void *cls, char *buf, size_t max)
{
    struct sse *x = cls;
    kv_serve *s = x->s;
    if (x->done)
        return -1;
    pthread_mutex_lock(&s->mu);
    cJSON *arr = cJSON_CreateArray();
    int last = x->last;
    int fin = arr ? collect(s, x->ref, x->last, arr, &last) : 1;
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->mu);
    size_t off = 0;
    if (arr) {
        int used = x->last;
        for (cJSON *e = arr->child; e; e = e->next) {
            char *txt = cJSON_PrintUnformatted(e);
            if (!txt)
                break;
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
            int seq = (int)cJSON_GetObjectItemCaseSensitive(e, "seq")->valuedouble;
            int w = snprintf(buf + off, max - off, "id: %d\nevent: %s\ndata: %s\n\n", seq,
                             cJSON_IsString(type) ? type->valuestring : "message", txt);
            cJSON_free(txt);
            if (w < 0 || (size_t)w >= max - off)
                break; /* the rest goes in the next call */
            off += (size_t)w;
            used = seq;
        }
        cJSON_Delete(arr);
        if (off > 0) {
            x->last = used;
            x->last_write_ms = kv__serve_now_ms();
            return (ssize_t)off;
        }
    }
    if (fin || stopping) {
        x->done = 1;
        return -1;
    }
    int64_t now = kv__serve_now_ms();
    if (now - x->last_write_ms >= SSE_KEEPALIVE_MS) {
        x->last_write_ms = now;
        int w = snprintf(buf, max, ": keep-alive\n\n");
        return w > 0 && (size_t)w < max ? w : -1;
    }
    if (x->timer_due_ms <= now) {
        x->timer_due_ms = x->last_write_ms + SSE_KEEPALIVE_MS;
        kv__timer_add(s, x->timer_due_ms, x->st);
    }
    return 0;
}

static void sse_free(void *cls)
{
    struct sse *x = cls;
    kv__hub_unsubscribe(x->s, &x->sub);
    kv_http_stream_unref(x->st);
    free(x);
}

/* A long-poll that found nothing yet: a suspended connection subscribed
 * to the feed, answered (one JSON body) when an event comes, the feed
 * ends, the wait is over or the daemon stops. */
struct lpoll {
    kv_serve *s;
    kv_sub sub;
    kv_http_stream *st;
    char ref[64];
    int after;
    int64_t deadline_ms;
    int timer_set;
    char *body;
    size_t len, off;
};

/* The long-poll answer: {"reference","events","next","final"}. */
static char *events_body(kv_serve *s, const char *ref, int after, int force, size_t *len)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    int last = after;
    pthread_mutex_lock(&s->mu);
    int fin = collect(s, ref, after, arr, &last);
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->mu);
    if (!force && !fin && !stopping && cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(arr);
        *len = 0;
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        cJSON_Delete(arr);
        return NULL;
    }
    cJSON_AddStringToObject(o, "reference", ref);
    cJSON_AddItemToObject(o, "events", arr);
    cJSON_AddNumberToObject(o, "next", last);
    cJSON_AddBoolToObject(o, "final", fin);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    *len = txt ? strlen(txt) : 0;
    return txt;
}

static ssize_t lpoll_read(void *cls, char *buf, size_t max)
{
    struct lpoll *x = cls;
    if (!x->body) {
        int64_t now = kv__serve_now_ms();
        x->body = events_body(x->s, x->ref, x->after, now >= x->deadline_ms, &x->len);
        if (!x->body) {
            if (x->len == 0 && now < x->deadline_ms) {
                if (!x->timer_set) {
                    x->timer_set = 1;
                    kv__timer_add(x->s, x->deadline_ms, x->st);
                }
                return 0;
            }
            return -1; /* out of memory: end the reply */
        }
    }
    if (x->off >= x->len)
        return -1;
    size_t n = x->len - x->off < max ? x->len - x->off : max;
    memcpy(buf, x->body + x->off, n);
    x->off += n;
    return (ssize_t)n;
}

static void lpoll_free(void *cls)
{
    struct lpoll *x = cls;
    kv__hub_unsubscribe(x->s, &x->sub);
    kv_http_stream_unref(x->st);
    cJSON_free(x->body);
    free(x);
}

static void get_events(kv_serve *s, kv_http_req *r, const kv_till *t, const char *ref)
{
    /* A feed this daemon already has knows its store: no journal read
     * (tills long-poll this in a loop).  Otherwise ask the journal. */
    char known[64] = "";
    pthread_mutex_lock(&s->mu);
    kv_hub *kh = kv__hub_find(s, ref);
    if (kh)
        snprintf(known, sizeof known, "%s", kh->store);
    pthread_mutex_unlock(&s->mu);
    if (known[0]) {
        if (!same_store(t, known)) {
            forbid(s, r, t, "this payment belongs to another store");
            return;
        }
    } else {
        kv_flow_result *res = calloc(1, sizeof *res);
        if (!res) {
            kv_http_reply_error(r, 500, "internal", "out of memory");
            return;
        }
        if (load_for(s, r, t, ref, 0, res, 0) < 0) {
            free(res);
            return;
        }
        hub_seed(s, &res->payment);
        kv__hub_set_store(s, ref, res->payment.store_id);
        free(res);
    }
    int after = 0;
    const char *a = kv_http_query(r, "after");
    const char *lei = kv_http_header(r, "Last-Event-ID");
    if (!a)
        a = lei;
    if (a) {
        char *e = NULL;
        long v = strtol(a, &e, 10);
        if (*e || v < 0 || v > 1000000000L) {
            kv_http_reply_error(r, 400, "invalid_request", "after must be an event sequence number");
            return;
        }
        after = (int)v;
    }
    const char *accept = kv_http_header(r, "Accept");
    const char *stream = kv_http_query(r, "stream");
    if ((accept && strstr(accept, "text/event-stream")) || (stream && !strcmp(stream, "sse"))) {
        struct sse *x = calloc(1, sizeof *x);
        if (!x) {
            kv_http_reply_error(r, 500, "internal", "out of memory");
            return;
        }
        x->s = s;
        snprintf(x->ref, sizeof x->ref, "%s", ref);
        x->last = after;
        x->last_write_ms = kv__serve_now_ms();
        x->st = kv_http_reply_stream(r, 200, "text/event-stream", sse_read, x, sse_free);
        if (x->st) {
            /* the reader runs once this handler returns, after the
             * subscription: no change can fall between the two */
            x->sub.st = x->st;
            kv__hub_subscribe(s, ref, &x->sub);
        }
        return;
    }
    int wait_s = 0;
    const char *w = kv_http_query(r, "wait");
    if (w) {
        char *e = NULL;
        errno = 0;
        long v = strtol(w, &e, 10);
        if (*e || v < 0 || errno == ERANGE) {
            kv_http_reply_error(r, 400, "invalid_request", "wait must be a number of seconds");
            return;
        }
        wait_s = v > s->events_max_wait_s ? s->events_max_wait_s : (int)v;
    }
    /* Something to say now (or no wait asked): answer at once. */
    size_t len = 0;
    char *body = events_body(s, ref, after, wait_s == 0, &len);
    if (body) {
        kv_http_reply(r, 200, "application/json", body, len);
        cJSON_free(body);
        return;
    }
    if (len == 0 && wait_s > 0) {
        struct lpoll *x = calloc(1, sizeof *x);
        if (!x) {
            kv_http_reply_error(r, 500, "internal", "out of memory");
            return;
        }
        x->s = s;
        snprintf(x->ref, sizeof x->ref, "%s", ref);
        x->after = after;
        x->deadline_ms = kv__serve_now_ms() + (int64_t)wait_s * 1000;
        x->st = kv_http_reply_stream(r, 200, "application/json", lpoll_read, x, lpoll_free);
        if (x->st) {
            x->sub.st = x->st;
            kv__hub_subscribe(s, ref, &x->sub);
        }
        return;
    }
    kv_http_reply_error(r, 500, "internal", "out of memory");
}

/* ---- cancel / refund / reprint ---------------------------------------------- */

/* Wait (at most ms) until no worker waits on ref. */
static void wait_worker_done(kv_serve *s, const char *ref, int ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += ms / 1000;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        kv_hub *h = kv__hub_find(s, ref);
        int busy = h && h->worker;
        if (!busy || pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&s->mu);
}

static void post_action(kv_serve *s, kv_http_req *r, const kv_till *t, const char *ref,
                        const char *action)
{
    int is_refund = !strcmp(action, "refund");
    cJSON *body = NULL;
    size_t blen;
    kv_http_body(r, &blen);
    if (blen > 0) {
        body = kv_http_body_json(r);
        if (!body)
            return;
    }
    for (const cJSON *it = body ? body->child : NULL; it; it = it->next) {
        /* Only the amount may be given; the store and MSN come from the
         * journal and the token, never from the request. */
        if (!is_refund || !it->string ||
            (strcmp(it->string, "amount") && strcmp(it->string, "amountMinor"))) {
            kv_http_reply_error(r, 400, "invalid_request", "unknown field \"%.60s\"%s",
                                it->string ? it->string : "",
                                is_refund ? "; a refund takes only amount or amountMinor"
                                          : "; this request takes no fields");
            cJSON_Delete(body);
            return;
        }
    }
    int64_t amount = 0;
    if (is_refund && body) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(body, "amount");
        const cJSON *am = cJSON_GetObjectItemCaseSensitive(body, "amountMinor");
        char err[200];
        if (cJSON_IsString(a)) {
            if (kv_flow_parse_amount(&amount, a->valuestring, err, sizeof err) < 0 || amount <= 0) {
                kv_http_reply_error(r, 400, "invalid_request", "amount: %s",
                                    amount <= 0 && !err[0] ? "must be positive" : err);
                cJSON_Delete(body);
                return;
            }
        } else if (cJSON_IsNumber(am) && am->valuedouble >= 1 &&
                   am->valuedouble == (double)(int64_t)am->valuedouble) {
            amount = (int64_t)am->valuedouble;
        } else if (a || am) {
            kv_http_reply_error(r, 400, "invalid_request", "amount must be a decimal string "
                                "like \"50.00\" (or amountMinor a positive whole number)");
            cJSON_Delete(body);
            return;
        }
    }
    cJSON_Delete(body);
    kv_flow_result *res = calloc(1, sizeof *res);
    if (!res) {
        kv_http_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    /* The origin store comes from the journal (or the reference prefix in
     * the one-MSN pattern), never from the request. */
    kv_flow_status gs = kv_flow_status_get(s->flow, res, ref, 0);
    char origin[64] = "";
    if (gs == KV_FLOW_OK) {
        snprintf(origin, sizeof origin, "%s", res->payment.store_id);
    } else if (gs == KV_FLOW_E_NOT_FOUND && is_refund) {
        const kv_store *ps = kv_config_store_by_prefix(s->cfg, ref);
        if (ps)
            snprintf(origin, sizeof origin, "%s", ps->id);
    }
    cJSON *so = NULL;
    if (!origin[0] && !is_refund && !strcmp(action, "cancel") && kv__sticker_cancel(s, t, ref, &so)) {
        kv_http_reply_json(r, 200, so); /* a sticker payment nobody scanned yet */
        free(res);
        return;
    }
    if (!origin[0]) {
        if (gs == KV_FLOW_E_NOT_FOUND || gs == KV_FLOW_OK)
            kv_http_reply_error(r, 404, "not_found", "no payment with this reference");
        else {
            const char *code;
            int hs = flow_http(gs, &code);
            kv_http_reply_error(r, hs, code, "%s", kv_flow_strerror(gs));
        }
        free(res);
        return;
    }
    int allowed = is_refund ? chain_allowed(s, t, origin) : same_store(t, origin);
    if (!allowed) {
        forbid(s, r, t, is_refund ? "this payment was made in another store; refunding it needs "
                                    "chain_refund for this till and the same chain"
                                  : "this payment belongs to another store");
        free(res);
        return;
    }
    idem ic;
    char *pending = NULL;
    int ib = idem_begin(s, r, t, is_refund, &ic, &pending, NULL);
    if (ib == IDEM_DONE) {
        free(res);
        return;
    }
    kv_flow_status st;
    kv_journal *jr = kv_flow_journal(s->flow);
    if (is_refund && ic.active && jr) {
        /* Note how many refunds were done before this one, so that a retry
         * after a crash can tell whether this refund already happened. */
        int done_before = kv_journal_op_count(jr, ref, KV_OP_REFUND, KV_OPR_OK);
        if (ib == IDEM_RESUME && pending && strchr(pending, '#') &&
            done_before > atoi(strchr(pending, '#') + 1)) {
            free(pending);
            st = kv_flow_status_get(s->flow, res, ref, 0);
            kv_slog_write(&s->log, KV_LOG_INFO, "idem.resumed till=%s reference=%s action=refund "
                          "note=\"refund already done\"", t->id, ref);
            idem_reply(s, r, &ic, 200, payment_json(s, &res->payment));
            free(res);
            return;
        }
        char mark[96];
        snprintf(mark, sizeof mark, "%s#%d", ref, done_before);
        if (ib != IDEM_RESUME)
            kv_sdb_idem_set_reference(s->sdb, ic.till, ic.key, mark);
    }
    free(pending);
    if (!strcmp(action, "cancel")) {
        if (kv_flow_abort(s->flow, ref) == KV_FLOW_OK) {
            /* The waiting worker gives up (cancel, re-read, finish if
             * approved meanwhile); report what it ended with. */
            wait_worker_done(s, ref, 60000);
            st = kv_flow_status_get(s->flow, res, ref, 0);
            if (st == KV_FLOW_OK && res->payment.state != KV_PAY_DONE &&
                res->payment.state != KV_PAY_CAPTURED && !kv_pay_state_final(res->payment.state))
                st = kv_flow_cancel(s->flow, res, ref);
            if (st == KV_FLOW_OK && (res->payment.state == KV_PAY_DONE ||
                                     res->payment.state == KV_PAY_CAPTURED))
                res->approved_after_cancel = 1;
        } else {
            st = kv_flow_cancel(s->flow, res, ref);
        }
        if (st == KV_FLOW_E_NOT_PAID)
            st = KV_FLOW_OK; /* cancelled: that is what was asked */
    } else if (is_refund) {
        st = kv_flow_refund(s->flow, res, ref, amount, t->store);
    } else {
        st = kv_flow_reprint(s->flow, res, ref);
    }
    char why[900] = "";
    if (st != KV_FLOW_OK)
        kv__serve_err_fields(why, sizeof why, res);
    kv_slog_write(&s->log, st == KV_FLOW_OK ? KV_LOG_INFO : KV_LOG_WARNING,
                  "payment.%s till=%s store=%s origin=%s reference=%s amount=%lld result=\"%s\"%s",
                  action, t->id, t->store, origin, ref, (long long)amount, kv_flow_strerror(st), why);
    if (st == KV_FLOW_OK) {
        if (res->payment.reference[0])
            kv__hub_push(s, ref, "state", kv_pay_state_name(res->payment.state), -1, action);
        cJSON *o = payment_json(s, &res->payment);
        if (o) {
            if (res->cashier[0])
                cJSON_AddStringToObject(o, "message", res->cashier);
            if (res->approved_after_cancel)
                cJSON_AddBoolToObject(o, "approvedAfterCancel", 1);
            if (res->receipt_queued)
                cJSON_AddBoolToObject(o, "receiptQueued", 1);
        }
        idem_reply(s, r, &ic, 200, o);
    } else {
        const char *code;
        int hs = flow_http(st, &code);
        cJSON *o = error_json(code, res->cashier[0] ? res->cashier : kv_flow_strerror(st), res);
        if (st == KV_FLOW_E_SERVICE || st == KV_FLOW_E_JOURNAL || st == KV_FLOW_E_BUSY)
            idem_abandon_reply(s, r, &ic, hs, o);
        else
            idem_reply(s, r, &ic, hs, o);
    }
    free(res);
}

/* ---- GET /v1/orders --------------------------------------------------------------- */

#define KV_SINCE_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

static void get_orders(kv_serve *s, kv_http_req *r, const kv_till *t)
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
    if (q.store_id && !chain_allowed(s, t, q.store_id)) {
        forbid(s, r, t, "this till may search only its own store (chain_refund allows its chain)");
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
        int hs = flow_http(st, &code);
        kv_http_reply_error(r, hs, code, "%s", kv_flow_strerror(st));
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "orders") : NULL;
    for (size_t i = 0; arr && i < n; i++) {
        if (!chain_allowed(s, t, rows[i].store_id))
            continue;
        cJSON *p = payment_json(s, &rows[i]);
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

static void get_health(kv_serve *s, kv_http_req *r, const kv_till *t)
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

/* ---- routing ----------------------------------------------------------------------- */

static int valid_ref(const char *ref, size_t len)
{
    if (len == 0 || len > 63)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = ref[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

void kv__api_route(kv_serve *s, kv_http_req *r, const char *path, const char *method)
{
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (kv__till_route(s, r, path, method))
        return;
    const kv_till *t = authenticate(s, r);
    if (!t || kv_http_query_check(r) < 0)
        return;
    if (!strcmp(path, "/v1/payments")) {
        if (post)
            create_payment(s, r, t);
        else
            kv_http_reply_error(r, 405, "method_not_allowed", "use POST");
        return;
    }
    if (!strcmp(path, "/v1/orders")) {
        if (get)
            get_orders(s, r, t);
        else
            kv_http_reply_error(r, 405, "method_not_allowed", "use GET");
        return;
    }
    if (!strcmp(path, "/v1/reports/day")) {
        if (get)
            kv__api_reports_day(s, r, t);
        else
            kv_http_reply_error(r, 405, "method_not_allowed", "use GET");
        return;
    }
    if (!strcmp(path, "/v1/health")) {
        if (get)
            get_health(s, r, t);
        else
            kv_http_reply_error(r, 405, "method_not_allowed", "use GET");
        return;
    }
    if (!strncmp(path, "/v1/payments/", 13)) {
        const char *ref = path + 13;
        const char *slash = strchr(ref, '/');
        size_t rl = slash ? (size_t)(slash - ref) : strlen(ref);
        char rbuf[64];
        if (!valid_ref(ref, rl)) {
            kv_http_reply_error(r, 404, "not_found", "no payment with this reference");
            return;
        }
        memcpy(rbuf, ref, rl);
        rbuf[rl] = '\0';
        const char *sub = slash ? slash + 1 : NULL;
        if (!sub) {
            if (get)
                get_payment(s, r, t, rbuf);
            else
                kv_http_reply_error(r, 405, "method_not_allowed", "use GET");
            return;
        }
        if (!strcmp(sub, "events")) {
            if (get)
                get_events(s, r, t, rbuf);
            else
                kv_http_reply_error(r, 405, "method_not_allowed", "use GET");
            return;
        }
        if (!strcmp(sub, "cancel") || !strcmp(sub, "refund") || !strcmp(sub, "reprint")) {
            if (post)
                post_action(s, r, t, rbuf, sub);
            else
                kv_http_reply_error(r, 405, "method_not_allowed", "use POST");
            return;
        }
    }
    kv_http_reply_error(r, 404, "not_found", "no such endpoint (see openapi.yaml)");
}
