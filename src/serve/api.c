/* api.c - the till API under /v1: routing, authentication, payments,
 * cancel, refund and reprint (events: api_events.c; orders and health:
 * api_query.c).  Every money decision is the flow's; this
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
int kv__api_same_store(const kv_till *t, const char *origin)
{
    return strcmp(t->store, origin) == 0;
}

/* May till t refund / search a payment of store origin? */
int kv__api_chain_allowed(kv_serve *s, const kv_till *t, const char *origin)
{
    if (kv__api_same_store(t, origin))
        return 1;
    const char *a = chain_of(s, t->store), *b = chain_of(s, origin);
    return t->chain_refund && a[0] && strcmp(a, b) == 0;
}

void kv__api_forbid(kv_serve *s, kv_http_req *r, const kv_till *t, const char *why)
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

cJSON *kv__api_payment_json(kv_serve *s, const kv_payment *p)
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
    cJSON *o = kv__api_payment_json(s, p);
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
int kv__api_flow_http(kv_flow_status st, const char **code)
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
        kv__api_forbid(s, r, t, "this till acts only for its own store");
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
            /* a payment left before its slip is resumed by recovery
             * (kv_flow_set_resume), which then waits on it */
            if (res->payment.state == KV_PAY_WAITING)
                kv__serve_spawn_waiter(s, pending, 0);
            kv_slog_write(&s->log, KV_LOG_INFO, "idem.resumed till=%s reference=%s state=%s",
                          t->id, pending, kv_pay_state_name(res->payment.state));
            idem_reply(s, r, &ic, 201, kv__api_payment_json(s, &res->payment));
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
        int hs = kv__api_flow_http(vs, &code);
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
    if (sticker)
        kv__sticker_after_start(s, ref, st); /* scanned first: the amount is started */
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
        cJSON *o = kv__api_payment_json(s, &res->payment);
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
        idem_reply(s, r, &ic, 201, kv__api_payment_json(s, &res->payment));
        goto out;
    }
    const char *code;
    int hs = kv__api_flow_http(st, &code);
    const char *msg = res->cashier[0] ? res->cashier : kv_flow_strerror(st);
    char why[900];
    kv__serve_err_fields(why, sizeof why, res);
    kv_slog_write(&s->log, KV_LOG_WARNING, "payment.start_failed till=%s reference=%s "
                  "result=\"%s\"%s", t->id, ref, kv_flow_strerror(st), why);
    kv__feed_result(s, ref, res->payment.reference[0] ? &res->payment : NULL, msg);
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
int kv__api_load_for(kv_serve *s, kv_http_req *r, const kv_till *t, const char *ref, int chain,
                     kv_flow_result *res, int refresh)
{
    kv_flow_status st = kv_flow_status_get(s->flow, res, ref, refresh);
    if (st == KV_FLOW_E_NOT_FOUND || (st != KV_FLOW_OK && !res->payment.reference[0])) {
        if (st == KV_FLOW_E_NOT_FOUND)
            kv_http_reply_error(r, 404, "not_found", "no payment with this reference");
        else {
            const char *code;
            int hs = kv__api_flow_http(st, &code);
            kv_http_reply_error(r, hs, code, "%s", kv_flow_strerror(st));
        }
        return -1;
    }
    if (!(chain ? kv__api_chain_allowed(s, t, res->payment.store_id) : kv__api_same_store(t, res->payment.store_id))) {
        kv__api_forbid(s, r, t, chain ? "this payment belongs to another store and this till may not act "
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
    else if (kv__api_load_for(s, r, t, ref, 0, res, refresh) == 0)
        reply_payment(s, r, 200, &res->payment, NULL);
    free(res);
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
            int hs = kv__api_flow_http(gs, &code);
            kv_http_reply_error(r, hs, code, "%s", kv_flow_strerror(gs));
        }
        free(res);
        return;
    }
    int allowed = is_refund ? kv__api_chain_allowed(s, t, origin) : kv__api_same_store(t, origin);
    if (!allowed) {
        kv__api_forbid(s, r, t, is_refund ? "this payment was made in another store; refunding it needs "
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
            idem_reply(s, r, &ic, 200, kv__api_payment_json(s, &res->payment));
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
        if (res->payment.reference[0]) {
            /* a state change is in the feed already; the action passes */
            kv__feed_changed(s, ref);
            kv__feed_note(s, ref, "message", kv_pay_state_name(res->payment.state), -1, action);
        }
        cJSON *o = kv__api_payment_json(s, &res->payment);
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
        int hs = kv__api_flow_http(st, &code);
        cJSON *o = error_json(code, res->cashier[0] ? res->cashier : kv_flow_strerror(st), res);
        if (st == KV_FLOW_E_SERVICE || st == KV_FLOW_E_JOURNAL || st == KV_FLOW_E_BUSY)
            idem_abandon_reply(s, r, &ic, hs, o);
        else
            idem_reply(s, r, &ic, hs, o);
    }
    free(res);
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
            kv__api_get_orders(s, r, t);
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
            kv__api_get_health(s, r, t);
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
                kv__api_get_events(s, r, t, rbuf);
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
