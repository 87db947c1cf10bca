/* flow.c - the till flow over journal + vipps + documents + drivers.
 *
 * Locking: f->mu guards the waiter list and the per-reference lock list.
 * Every operation that changes a payment holds that payment's reference
 * lock for its whole duration, so two threads (or a wait and a cancel)
 * never move the same payment's money at once.  The journal serialises its
 * own calls; the vipps client is created per operation (one per thread),
 * sharing the token/DNS/TLS cache of the flow.
 */
#include "src/flow/flow.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <png.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "drivers/status.h"
#include "drivers/transport.h"
#include "drivers/virtual.h"
#include "escpos/encoder.h"
#include "escpos/layout.h"
#include "escpos/profile.h"
#include "src/doc/receipt.h"
#include "src/doc/slip.h"
#include "src/vipps/vipps.h"

typedef struct waiter {
    char ref[64];
    int notified;
    int authorized;          /* a verified webhook said AUTHORIZED */
    int abort;
    struct waiter *next;
} waiter;

typedef struct reflock {
    char ref[64];
    int fd;                  /* holds the cross-process lock; -1 none */
    struct reflock *next;
} reflock;

struct kv_flow {
    const kv_config *cfg;
    kv_journal *j;
    kv_flow_options opts;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    waiter *waiters;
    reflock *locks;
    kv_vipps_shared *shared;
    char crash_at[32];
    char lockpath[1100];     /* <journal>.lock: per-reference byte locks */
};

#define MAX_ITEMS 64

typedef struct parsed_items {
    cJSON *root;
    kv_doc_item items[MAX_ITEMS];
    size_t n;
} parsed_items;

/* ---------------------------------------------------------------- */

const char *kv_flow_strerror(kv_flow_status st)
{
    switch (st) {
    case KV_FLOW_OK: return "ok";
    case KV_FLOW_E_INPUT: return "bad input";
    case KV_FLOW_E_CONFIG: return "configuration problem";
    case KV_FLOW_E_PRINTER: return "printer failure before the QR code was shown";
    case KV_FLOW_E_SERVICE: return "payment service unreachable";
    case KV_FLOW_E_UNKNOWN: return "outcome unknown (journaled; run kvitt recover)";
    case KV_FLOW_E_NOT_PAID: return "not paid";
    case KV_FLOW_E_NOT_FOUND: return "no such payment in the journal";
    case KV_FLOW_E_JOURNAL: return "the journal cannot be written";
    case KV_FLOW_E_REFUSED: return "operation refused";
    case KV_FLOW_E_NOMEM: return "out of memory";
    case KV_FLOW_E_BUSY: return "another operation is running on this payment";
    }
    return "unknown flow status";
}

int kv_flow_exit_code(kv_flow_status st)
{
    switch (st) {
    case KV_FLOW_OK: return 0;
    case KV_FLOW_E_NOT_PAID: case KV_FLOW_E_REFUSED: case KV_FLOW_E_NOT_FOUND: case KV_FLOW_E_BUSY:
        return 1;
    case KV_FLOW_E_INPUT: return 2;
    case KV_FLOW_E_CONFIG: case KV_FLOW_E_JOURNAL: return 3;
    case KV_FLOW_E_PRINTER: return 4;
    case KV_FLOW_E_SERVICE: return 5;
    case KV_FLOW_E_UNKNOWN: case KV_FLOW_E_NOMEM: return 6;
    }
    return 6;
}

static void setmsg(char *dst, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void setmsg(char *dst, size_t len, const char *fmt, ...)
{
    if (!dst || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, len, fmt, ap);
    va_end(ap);
}

/* Copy with truncation (the destination is always terminated). */
static void scpy(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);
    if (n >= len)
        n = len - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* Where an operation keeps its copy of the reference and the result it
 * fills when the caller passed out == NULL. */
typedef struct op_args {
    char ref[64];
    kv_flow_result dummy;
} op_args;

/* Start of an operation taking (out, reference): the reference may point
 * into *out (e.g. out->payment.reference), so it is copied into a first
 * and *reference pointed at the copy; then the result (out, or a->dummy
 * when out is NULL) is zeroed and returned. */
static kv_flow_result *op_begin(op_args *a, kv_flow_result *out, const char **reference)
{
    if (*reference) {
        scpy(a->ref, sizeof a->ref, *reference);
        *reference = a->ref;
    }
    if (!out)
        out = &a->dummy;
    memset(out, 0, sizeof *out);
    return out;
}

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void crash_point(kv_flow *f, const char *step)
{
    if (f->crash_at[0] && strcmp(f->crash_at, step) == 0)
        raise(SIGKILL);
}

static void emit(kv_flow *f, kv_flow_event_kind kind, const char *ref, kv_pay_state st, int secs,
                 const char *msg)
{
    if (!f->opts.on_event)
        return;
    kv_flow_event ev = { kind, ref, st, secs, msg ? msg : "" };
    f->opts.on_event(f->opts.event_user, &ev);
}

static int stopped(kv_flow *f)
{
    return f->opts.stop && *f->opts.stop;
}

/* ---------------------------------------------------------------- */
/* amounts                                                           */

int kv_flow_parse_amount(int64_t *out, const char *text, char *err, size_t errlen)
{
    if (!text || !*text) {
        setmsg(err, errlen, "the amount is empty; write it like 149.00");
        return -1;
    }
    const char *p = text;
    int64_t whole = 0;
    int digits = 0;
    if (*p == '-' || *p == '+') {
        setmsg(err, errlen, "'%s': the amount must be a positive number like 149.00 (no sign)", text);
        return -1;
    }
    while (isdigit((unsigned char)*p)) {
        if (whole > 100000000000LL) {
            setmsg(err, errlen, "'%s' is too large", text);
            return -1;
        }
        whole = whole * 10 + (*p - '0');
        p++;
        digits++;
    }
    int64_t frac = 0;
    int fd = 0;
    if (*p == '.' || *p == ',') {
        p++;
        while (isdigit((unsigned char)*p)) {
            if (fd == 2) {
                setmsg(err, errlen, "'%s' has more than two decimals", text);
                return -1;
            }
            frac = frac * 10 + (*p - '0');
            fd++;
            p++;
        }
        if (fd == 0) {
            setmsg(err, errlen, "'%s': digits expected after the decimal point", text);
            return -1;
        }
    }
    if (*p || digits == 0) {
        setmsg(err, errlen, "'%s' is not an amount; write it like 149.00", text);
        return -1;
    }
    if (fd == 1)
        frac *= 10;
    *out = whole * 100 + frac;
    return 0;
}

void kv_flow_format_amount(char *buf, size_t len, int64_t minor)
{
    snprintf(buf, len, "%s%lld.%02lld", minor < 0 ? "-" : "", (long long)(llabs(minor) / 100),
             (long long)(llabs(minor) % 100));
}

/* ---------------------------------------------------------------- */
/* open / close                                                      */

kv_flow_status kv_flow_open(kv_flow **out, const kv_config *cfg, const kv_flow_options *opts,
                            char *err, size_t errlen)
{
    if (!out || !cfg) {
        setmsg(err, errlen, "no configuration");
        return KV_FLOW_E_CONFIG;
    }
    kv_flow *f = calloc(1, sizeof *f);
    if (!f)
        return KV_FLOW_E_NOMEM;
    f->cfg = cfg;
    kv_flow_options def = KV_FLOW_OPTIONS_INIT;
    f->opts = opts ? *opts : def;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    const char *crash = getenv("KVITT_TEST_CRASH_AT");
    if (crash)
        snprintf(f->crash_at, sizeof f->crash_at, "%s", crash);
    const kv_config_main *m = kv_config_main_get(cfg);
    snprintf(f->lockpath, sizeof f->lockpath, "%s.lock", m->journal);
    char jerr[512] = "";
    if (kv_journal_open(&f->j, m->journal, jerr, sizeof jerr) != KV_J_OK) {
        setmsg(err, errlen, "%s", jerr);
        kv_flow_close(f);
        return KV_FLOW_E_JOURNAL;
    }
    if (kv_vipps_shared_create(&f->shared) != KV_VIPPS_OK) {
        kv_flow_close(f);
        return KV_FLOW_E_NOMEM;
    }
    *out = f;
    return KV_FLOW_OK;
}

void kv_flow_close(kv_flow *f)
{
    if (!f)
        return;
    kv_journal_close(f->j);
    kv_vipps_shared_destroy(f->shared);
    while (f->locks) {
        reflock *n = f->locks->next;
        if (f->locks->fd >= 0)
            close(f->locks->fd);
        free(f->locks);
        f->locks = n;
    }
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

kv_journal *kv_flow_journal(kv_flow *f)
{
    return f ? f->j : NULL;
}

/* ---------------------------------------------------------------- */
/* per-reference locks                                               */

static int ref_locked_nolock(kv_flow *f, const char *ref)
{
    for (reflock *l = f->locks; l; l = l->next)
        if (strcmp(l->ref, ref) == 0)
            return 1;
    return 0;
}

static void unlock_ref(kv_flow *f, const char *ref);

/* Byte of <journal>.lock that stands for a reference (FNV-1a).  Two
 * references sharing a byte only ever wait for each other. */
static off_t ref_byte(const char *ref)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)ref; *p; p++)
        h = (h ^ *p) * 16777619u;
    return (off_t)(h & 0x3fffffff);
}

/* Lock a reference against other threads (the list) and other processes
 * on the same journal (an open-file-description lock on one byte of
 * <journal>.lock, released by the kernel when the process dies, so a
 * `kvitt recover` in one till never takes over a payment another process
 * is still waiting on).  try: 1 = do not wait.  Returns 0 locked, -1 busy,
 * -2 nomem. */
static int lock_ref(kv_flow *f, const char *ref, int try)
{
    pthread_mutex_lock(&f->mu);
    while (ref_locked_nolock(f, ref)) {
        if (try) {
            pthread_mutex_unlock(&f->mu);
            return -1;
        }
        pthread_cond_wait(&f->cv, &f->mu);
    }
    reflock *l = calloc(1, sizeof *l);
    if (!l) {
        pthread_mutex_unlock(&f->mu);
        return -2;
    }
    snprintf(l->ref, sizeof l->ref, "%s", ref);
    l->fd = -1;
    l->next = f->locks;
    f->locks = l;
    pthread_mutex_unlock(&f->mu);
    int fd = open(f->lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        struct flock fl;
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        fl.l_start = ref_byte(ref);
        fl.l_len = 1;
        int rc;
        do
            rc = fcntl(fd, try ? F_OFD_SETLK : F_OFD_SETLKW, &fl);
        while (rc != 0 && errno == EINTR && !try);
        if (rc != 0 && try && (errno == EAGAIN || errno == EACCES)) {
            close(fd);
            unlock_ref(f, ref);
            return -1;
        }
        if (rc != 0) {
            close(fd); /* no cross-process lock available: threads only */
            fd = -1;
        }
    }
    l->fd = fd;
    return 0;
}

static void unlock_ref(kv_flow *f, const char *ref)
{
    pthread_mutex_lock(&f->mu);
    for (reflock **pp = &f->locks; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->ref, ref) == 0) {
            reflock *l = *pp;
            *pp = l->next;
            if (l->fd >= 0)
                close(l->fd);
            free(l);
            break;
        }
    }
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

/* ---------------------------------------------------------------- */
/* helpers                                                           */

static kv_lang store_lang(const kv_store *s)
{
    kv_lang l = KV_LANG_NB;
    if (s && kv_lang_from_name(&l, s->language) != 0)
        l = KV_LANG_EN;
    return l;
}

static void time_text(char *buf, size_t len, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

static void fill(kv_flow *f, kv_flow_result *out, const char *ref)
{
    kv_payment p;
    if (out && kv_journal_get_payment(f->j, &p, ref) == KV_J_OK)
        out->payment = p;
}

static kv_flow_status jfail(kv_flow_result *out, const char *what)
{
    if (out) {
        setmsg(out->cashier, sizeof out->cashier, "Journal error");
        setmsg(out->detail, sizeof out->detail, "the journal cannot be written (%s); nothing more was sent", what);
    }
    return KV_FLOW_E_JOURNAL;
}

static kv_flow_status save(kv_flow *f, kv_payment *p, kv_pay_state st, const char *note)
{
    kv_pay_state old = p->state;
    p->state = st;
    if (kv_journal_update_payment(f->j, p, note) != KV_J_OK)
        return KV_FLOW_E_JOURNAL;
    if (old != st)
        emit(f, KV_FEV_STATE, p->reference, st, -1, note);
    return KV_FLOW_OK;
}

/* A vipps client for a store (its credentials and MSN). */
static kv_flow_status client_for(kv_flow *f, kv_vipps_client **out, const kv_store *s, kv_flow_result *res)
{
    const kv_config_main *m = kv_config_main_get(f->cfg);
    const kv_credentials *cr = kv_config_credentials(f->cfg, s);
    if (!cr) {
        if (res)
            setmsg(res->detail, sizeof res->detail, "store %s has no credentials; fix: add [credentials %s] to the secrets file",
                   s->id, s->credentials);
        return KV_FLOW_E_CONFIG;
    }
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.environment = m->environment;
    o.client_id = cr->client_id;
    o.client_secret = cr->client_secret;
    o.subscription_key = cr->subscription_key;
    o.msn = s->msn;
    o.partner_keys = cr->partner;
    o.system_name = m->system_name;
    o.system_version = m->system_version;
    o.plugin_name = m->plugin_name;
    o.plugin_version = m->plugin_version;
    o.lang = kv_vipps_lang_from_code(s->language);
    o.connect_timeout_ms = m->connect_timeout_ms;
    o.total_timeout_ms = m->total_timeout_ms;
    o.shared = f->shared;
    char err[256] = "";
    if (kv_vipps_client_create(out, &o, err, sizeof err) != KV_VIPPS_OK) {
        if (res)
            setmsg(res->detail, sizeof res->detail, "payment client for store %s: %s", s->id, err);
        return KV_FLOW_E_CONFIG;
    }
    return KV_FLOW_OK;
}

static void api_msg(kv_flow_result *out, kv_vipps_client *c, const char *what)
{
    const kv_vipps_error *e = kv_vipps_last_error(c);
    if (!out || !e)
        return;
    setmsg(out->cashier, sizeof out->cashier, "%s", e->cashier[0] ? e->cashier : what);
    setmsg(out->detail, sizeof out->detail, "%s: %s", what, e->log);
}

static const kv_store *store_of(kv_flow *f, const kv_payment *p)
{
    const kv_store *s = kv_config_store(f->cfg, p->store_id);
    if (!s)
        s = kv_config_store_by_prefix(f->cfg, p->reference);
    return s;
}

/* Items: JSON array of {name, quantity, unit_price, vat_rate}.  Returns 0
 * or -1 with a message.  it->root must be freed with cJSON_Delete. */
static int parse_items(parsed_items *it, const char *json, char *err, size_t errlen)
{
    memset(it, 0, sizeof *it);
    if (!json || !*json)
        return 0;
    it->root = cJSON_Parse(json);
    if (!it->root || !cJSON_IsArray(it->root)) {
        setmsg(err, errlen, "items: not a JSON array of {\"name\",\"quantity\",\"unit_price\",\"vat_rate\"}");
        return -1;
    }
    int n = cJSON_GetArraySize(it->root);
    if (n < 1 || n > MAX_ITEMS) {
        setmsg(err, errlen, "items: between 1 and %d items expected, got %d", MAX_ITEMS, n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_GetArrayItem(it->root, i);
        cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
        cJSON *qty = cJSON_GetObjectItemCaseSensitive(o, "quantity");
        cJSON *price = cJSON_GetObjectItemCaseSensitive(o, "unit_price");
        cJSON *vat = cJSON_GetObjectItemCaseSensitive(o, "vat_rate");
        kv_doc_item *d = &it->items[i];
        if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) > 100) {
            setmsg(err, errlen, "items[%d]: \"name\" must be a text of 1..100 characters", i);
            return -1;
        }
        d->name = name->valuestring;
        d->quantity = 1;
        if (qty) {
            if (!cJSON_IsNumber(qty) || qty->valuedouble < 1 || qty->valuedouble > 100000 ||
                qty->valuedouble != (double)(int64_t)qty->valuedouble) {
                setmsg(err, errlen, "items[%d]: \"quantity\" must be a whole number 1..100000", i);
                return -1;
            }
            d->quantity = (int64_t)qty->valuedouble;
        }
        char aerr[128];
        if (cJSON_IsString(price)) {
            if (kv_flow_parse_amount(&d->unit_price, price->valuestring, aerr, sizeof aerr)) {
                setmsg(err, errlen, "items[%d]: \"unit_price\": %s", i, aerr);
                return -1;
            }
        } else if (cJSON_IsNumber(price) && price->valuedouble >= 0 && price->valuedouble < 1e11 &&
                   price->valuedouble == (double)(int64_t)price->valuedouble) {
            d->unit_price = (int64_t)price->valuedouble; /* minor units */
        } else {
            setmsg(err, errlen, "items[%d]: \"unit_price\" must be a decimal text like \"49.50\" or whole minor units", i);
            return -1;
        }
        d->vat_bp = 2500;
        if (vat) {
            if (!cJSON_IsNumber(vat) || vat->valuedouble < 0 || vat->valuedouble > 100) {
                setmsg(err, errlen, "items[%d]: \"vat_rate\" must be a percentage 0..100, e.g. 25", i);
                return -1;
            }
            d->vat_bp = (int)(vat->valuedouble * 100 + 0.5);
        }
    }
    it->n = (size_t)n;
    return 0;
}

/* ---------------------------------------------------------------- */
/* validation                                                        */

typedef struct vreq {
    const kv_store *store;
    int64_t amount;
    char currency[4];
    char phone[16];
    char text[101];
    char reference[64];
    char printer[256];
    char till[64];
    int timeout_s;
} vreq;

static kv_flow_status validate(kv_flow *f, vreq *v, const kv_pay_request *req, char *err, size_t errlen)
{
    memset(v, 0, sizeof *v);
    const kv_config_main *m = kv_config_main_get(f->cfg);
    if (!req) {
        setmsg(err, errlen, "no request");
        return KV_FLOW_E_INPUT;
    }
    v->store = kv_config_store(f->cfg, req->store_id);
    if (!v->store) {
        char list[256] = "";
        for (size_t i = 0; i < kv_config_store_count(f->cfg); i++) {
            if (list[0])
                strncat(list, ", ", sizeof list - strlen(list) - 1);
            strncat(list, kv_config_store_at(f->cfg, i)->id, sizeof list - strlen(list) - 1);
        }
        setmsg(err, errlen, "store '%s' is not configured; known stores: %s", req->store_id ? req->store_id : "", list);
        return KV_FLOW_E_INPUT;
    }
    const char *cur = req->currency ? req->currency : v->store->currency;
    if (strcmp(cur, "NOK") && strcmp(cur, "DKK") && strcmp(cur, "EUR")) {
        setmsg(err, errlen, "currency '%s' is not supported; use NOK, DKK or EUR", cur);
        return KV_FLOW_E_INPUT;
    }
    if (strcmp(cur, v->store->currency)) {
        setmsg(err, errlen, "currency %s does not match store %s, which takes %s", cur, v->store->id, v->store->currency);
        return KV_FLOW_E_INPUT;
    }
    snprintf(v->currency, sizeof v->currency, "%s", cur);
    char aerr[160];
    if (req->amount) {
        if (kv_flow_parse_amount(&v->amount, req->amount, aerr, sizeof aerr)) {
            setmsg(err, errlen, "amount: %s", aerr);
            return KV_FLOW_E_INPUT;
        }
    } else {
        v->amount = req->amount_minor;
    }
    int64_t min = strcmp(cur, "NOK") == 0 ? 100 : 1;
    if (v->amount < min) {
        setmsg(err, errlen, "amount: at least %s %s", min == 100 ? "1.00" : "0.01", cur);
        return KV_FLOW_E_INPUT;
    }
    if (v->amount > 65000000) {
        setmsg(err, errlen, "amount: at most 650000.00 %s per payment (the API's limit)", cur);
        return KV_FLOW_E_INPUT;
    }
    if (req->phone) {
        size_t o = 0;
        for (const char *p = req->phone; *p; p++) {
            if (*p == ' ' || (*p == '+' && p == req->phone))
                continue;
            if (!isdigit((unsigned char)*p) || o >= sizeof v->phone - 1) {
                o = 0;
                break;
            }
            v->phone[o++] = *p;
        }
        v->phone[o] = 0;
        if (o < 10 || o > 15) {
            setmsg(err, errlen, "phone number: the country code and the number, 10 to 15 digits, e.g. 4791234567");
            return KV_FLOW_E_INPUT;
        }
    } else if (v->store->flow == KV_FLOW_PUSH) {
        setmsg(err, errlen, "store %s uses the push flow: give the customer's phone number (--phone)", v->store->id);
        return KV_FLOW_E_INPUT;
    }
    if (v->store->flow == KV_FLOW_ECOM_QR && strcmp(v->store->currency, "NOK") != 0) {
        setmsg(err, errlen, "store %s: flow = ecom-qr takes NOK only; fix: flow = epayment-qr", v->store->id);
        return KV_FLOW_E_CONFIG;
    }
    if (req->items_json) {
        if (strlen(req->items_json) >= sizeof(((kv_payment *)0)->items_json)) {
            setmsg(err, errlen, "items: too large (at most %zu bytes of JSON)", sizeof(((kv_payment *)0)->items_json) - 1);
            return KV_FLOW_E_INPUT;
        }
        parsed_items it;
        char ierr[200] = "";
        int rc = parse_items(&it, req->items_json, ierr, sizeof ierr);
        int64_t sum = 0;
        for (size_t i = 0; rc == 0 && i < it.n; i++)
            sum += it.items[i].quantity * it.items[i].unit_price;
        cJSON_Delete(it.root);
        if (rc) {
            setmsg(err, errlen, "%s", ierr);
            return KV_FLOW_E_INPUT;
        }
        if (sum != v->amount) {
            char a[32], b[32];
            kv_flow_format_amount(a, sizeof a, sum);
            kv_flow_format_amount(b, sizeof b, v->amount);
            setmsg(err, errlen, "items add up to %s but the amount is %s", a, b);
            return KV_FLOW_E_INPUT;
        }
    }
    const char *text = req->text ? req->text : v->store->name;
    size_t tl = strlen(text);
    if (req->text && (tl < 3 || tl > 100)) {
        setmsg(err, errlen, "text: 3 to 100 characters");
        return KV_FLOW_E_INPUT;
    }
    scpy(v->text, sizeof v->text, text);
    if (strlen(v->text) < 3)
        snprintf(v->text, sizeof v->text, "Kvitt %s", v->store->id);
    if (req->reference) {
        size_t n = strlen(req->reference);
        int ok = n >= 8 && n <= 50;
        for (size_t i = 0; ok && i < n; i++)
            ok = isalnum((unsigned char)req->reference[i]) || req->reference[i] == '-';
        if (!ok) {
            setmsg(err, errlen, "reference: 8 to 50 letters, digits or '-'");
            return KV_FLOW_E_INPUT;
        }
        snprintf(v->reference, sizeof v->reference, "%s", req->reference);
    }
    snprintf(v->printer, sizeof v->printer, "%s", req->printer ? req->printer : v->store->printer);
    snprintf(v->till, sizeof v->till, "%s", req->till_id ? req->till_id : m->till_id);
    v->timeout_s = req->timeout_s > 0 ? req->timeout_s : m->payment_timeout_s;
    if (req->timeout_s < 0) {
        setmsg(err, errlen, "timeout: a positive number of seconds");
        return KV_FLOW_E_INPUT;
    }
    return KV_FLOW_OK;
}

kv_flow_status kv_flow_validate(kv_flow *f, const kv_pay_request *req, char *err, size_t errlen)
{
    vreq v;
    if (!f)
        return KV_FLOW_E_CONFIG;
    return validate(f, &v, req, err, errlen);
}

/* Pixel size asked for Vipps' QR image: about 60 % of the paper width,
 * within the API's 100..2000. */
static int qr_px(const kv_store *s)
{
    const kv_profile *p = kv_profile_find(s->profile);
    int px = (p ? p->dots : 576) * 3 / 5;
    return px < 100 ? 100 : px > 2000 ? 2000 : px;
}

static void make_reference(char *buf, size_t len, const kv_store *s)
{
    unsigned char rnd[4] = { 0 };
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, rnd, sizeof rnd) != (ssize_t)sizeof rnd)
            memset(rnd, 0, sizeof rnd);
        close(fd);
    }
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%d%H%M%S", &tm);
    snprintf(buf, len, "%s-%s-%02x%02x%02x%02x", s->reference_prefix[0] ? s->reference_prefix : "KV", ts,
             rnd[0], rnd[1], rnd[2], rnd[3]);
}

/* ---------------------------------------------------------------- */
/* printing                                                          */

/* Print a document job.  Journals the job (queued -> sent/confirmed, or
 * back to queued when nothing went out, failed when cut short).  Returns
 * 0, or -1 with the reason in msg.  path gets the virtual job file. */
static int print_bytes(kv_flow *f, int64_t jid, const char *ref, kv_doc_kind doc, int copy, const char *uri,
                       const uint8_t *bytes, size_t len, char *path, size_t pathlen, char *msg, size_t msglen)
{
    if (path && pathlen)
        path[0] = 0;
    if (jid <= 0 && kv_journal_job_add(f->j, &jid, ref, doc, copy, uri) != KV_J_OK) {
        setmsg(msg, msglen, "the journal cannot record the print job");
        return -1;
    }
    if (!uri || !*uri) {
        setmsg(msg, msglen, "no printer configured; fix: set printer = URI for the store or give --printer");
        kv_journal_job_set(f->j, jid, KV_PJ_QUEUED, msg);
        return -1;
    }
    char oerr[256] = "";
    kv_transport_options to = KV_TRANSPORT_OPTIONS_INIT;
    to.open_timeout_ms = 3000;
    to.io_timeout_ms = 10000;
    to.errbuf = oerr;
    to.errlen = sizeof oerr;
    kv_transport *t = NULL;
    int rc = kv_transport_open(&t, uri, &to);
    if (rc != KV_T_OK) {
        setmsg(msg, msglen, "printer %s: %s", uri, oerr[0] ? oerr : kv_transport_strerror(rc));
        kv_journal_job_set(f->j, jid, KV_PJ_QUEUED, msg);
        return -1;
    }
    kv_print_options po = KV_PRINT_OPTIONS_INIT;
    po.status_timeout_ms = 500;
    po.check_after = 0;
    kv_print_report rep;
    memset(&rep, 0, sizeof rep);
    rc = kv_transport_print_job(t, bytes, len, &po, &rep);
    const char *vp = kv_transport_virtual_last_job(t);
    if (vp && path)
        snprintf(path, pathlen, "%s", vp);
    kv_transport_close(t);
    if (rc != KV_T_OK) {
        setmsg(msg, msglen, "printer: %s", rep.message[0] ? rep.message : kv_transport_strerror(rc));
        kv_journal_job_set(f->j, jid, rep.written > 0 ? KV_PJ_FAILED : KV_PJ_QUEUED, msg);
        return -1;
    }
    kv_journal_job_set(f->j, jid, rep.before.state == KV_PS_READY ? KV_PJ_CONFIRMED : KV_PJ_SENT,
                       path && path[0] ? path : "");
    emit(f, KV_FEV_PRINTED, ref, KV_PAY_NEW, -1, kv_doc_kind_name(doc));
    return 0;
}

/* The printer of a payment's documents: the one its slip went to (a
 * --printer override), else the store's. */
static void doc_printer(kv_flow *f, const kv_payment *p, const kv_store *s, char *uri, size_t len)
{
    kv_print_job pj;
    if (kv_journal_job_last(f->j, &pj, p->reference, KV_DOC_SLIP) == KV_J_OK && pj.printer[0])
        scpy(uri, len, pj.printer);
    else
        scpy(uri, len, s->printer);
}

static kv_escpos *new_encoder(const kv_store *s)
{
    kv_escpos_options eo = KV_ESCPOS_OPTIONS_INIT;
    eo.profile = kv_profile_find(s->profile);
    kv_escpos *e = NULL;
    if (kv_escpos_create(&e, &eo) != KV_ESCPOS_OK)
        return NULL;
    return e;
}


/* ---------------------------------------------------------------- */
/* qr_source = image: Vipps' own QR image printed as a raster        */

#define PNG_MAX_BYTES (2u << 20)

typedef struct fetchbuf {
    unsigned char *d;
    size_t n;
    int too_big;
} fetchbuf;

static size_t fetch_sink(char *p, size_t sz, size_t nm, void *ud)
{
    fetchbuf *b = ud;
    size_t add = sz * nm;
    if (b->n + add > PNG_MAX_BYTES) {
        b->too_big = 1;
        return 0;
    }
    unsigned char *nd = realloc(b->d, b->n + add);
    if (!nd)
        return 0;
    memcpy(nd + b->n, p, add);
    b->d = nd;
    b->n += add;
    return add;
}

/* GET an image URL (http(s) only, capped size, the config's timeouts). */
static int fetch_image(kv_flow *f, const char *url, fetchbuf *out, char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
        setmsg(msg, msglen, "the QR image URL is not http(s)");
        return -1;
    }
    const kv_config_main *m = kv_config_main_get(f->cfg);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)m->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)m->total_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || status != 200) {
        setmsg(msg, msglen, "the QR image could not be fetched (%s, HTTP %ld)",
               out->too_big ? "larger than 2 MiB" : curl_easy_strerror(rc), status);
        free(out->d);
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

/* Decode a PNG into 1-bit rows (MSB left, 1 = black), scaled down to at
 * most max_w dots.  *bits malloc'd. */
static int png_to_bits(const fetchbuf *b, unsigned max_w, uint8_t **bits, unsigned *wbytes, unsigned *h,
                       char *msg, size_t msglen)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, b->d, b->n)) {
        setmsg(msg, msglen, "the QR image is not a PNG");
        return -1;
    }
    img.format = PNG_FORMAT_GRAY;
    if (img.width == 0 || img.height == 0 || img.width > 4000 || img.height > 4000) {
        png_image_free(&img);
        setmsg(msg, msglen, "the QR image has an unusable size");
        return -1;
    }
    uint8_t *gray = malloc((size_t)img.width * img.height);
    if (!gray || !png_image_finish_read(&img, NULL, gray, 0, NULL)) {
        free(gray);
        png_image_free(&img);
        setmsg(msg, msglen, "the QR image cannot be decoded");
        return -1;
    }
    /* integer down-scale factor so the image fits the paper */
    unsigned k = (img.width + max_w - 1) / max_w;
    if (k < 1)
        k = 1;
    unsigned w = img.width / k, hh = img.height / k;
    unsigned wb = (w + 7) / 8;
    uint8_t *out = calloc((size_t)wb * hh, 1);
    if (!out) {
        free(gray);
        return -1;
    }
    for (unsigned y = 0; y < hh; y++)
        for (unsigned x = 0; x < w; x++)
            if (gray[(size_t)(y * k + k / 2) * img.width + x * k + k / 2] < 128)
                out[(size_t)y * wb + x / 8] |= (uint8_t)(0x80 >> (x % 8));
    free(gray);
    *bits = out;
    *wbytes = wb;
    *h = hh;
    return 0;
}

/* The slip with Vipps' image in place of a QR code drawn by kvitt: the same
 * texts as src/doc/slip.h, from its per-language functions. */
static int image_slip(kv_escpos *e, const kv_payment *p, const kv_store *s, const uint8_t *bits, unsigned wb,
                      unsigned h, const char *expiry)
{
    kv_lang lang = store_lang(s);
    kv_style big = KV_STYLE_INIT, bold = KV_STYLE_INIT, normal = KV_STYLE_INIT;
    big.bold = true;
    big.width = 2;
    big.height = 2;
    bold.bold = true;
    char money[48], line[160];
    if (kv_money_format(money, sizeof money, p->amount, p->currency, lang) < 0)
        return -1;
    kv_escpos_init(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_escpos_style(e, &bold);
    kv_layout_wrap(e, s->name);
    kv_escpos_style(e, &big);
    kv_layout_wrap(e, kv_slip_title(lang));
    kv_escpos_style(e, &normal);
    snprintf(line, sizeof line, "%s: %s", kv_slip_amount_label(lang), money);
    kv_escpos_style(e, &bold);
    kv_layout_wrap(e, line);
    kv_escpos_style(e, &normal);
    kv_escpos_raster(e, bits, wb, h, KV_RASTER_NORMAL);
    kv_layout_wrap(e, kv_slip_scan_text_app(lang));
    kv_layout_wrap(e, p->reference);
    if (expiry && *expiry) {
        snprintf(line, sizeof line, "%s %s", kv_slip_expiry_label(lang), expiry);
        kv_layout_wrap(e, line);
    }
    kv_escpos_align(e, KV_ALIGN_LEFT);
    kv_escpos_cut(e, KV_CUT_PARTIAL);
    return kv_escpos_status_get(e) == KV_ESCPOS_OK ? 0 : -1;
}

/* jid: the slip's print job, already journaled (queued). */
static int print_slip(kv_flow *f, int64_t jid, const kv_payment *p, const kv_store *s, const char *uri,
                      kv_flow_result *out)
{
    kv_escpos *e = new_encoder(s);
    if (!e) {
        setmsg(out->detail, sizeof out->detail, "out of memory building the slip");
        return -1;
    }
    kv_slip_spec sp = KV_SLIP_SPEC_INIT;
    char exp[32] = "";
    if (p->expires_at) {
        time_t tt = (time_t)p->expires_at;
        struct tm tm;
        localtime_r(&tt, &tm);
        strftime(exp, sizeof exp, "%H:%M", &tm);
    }
    sp.url = p->qr_url;
    sp.amount_minor = p->amount;
    sp.currency = p->currency;
    sp.lang = store_lang(s);
    sp.store_name = s->name;
    sp.reference = p->reference;
    sp.expiry = exp[0] ? exp : NULL;
    sp.scan_text = kv_slip_scan_text_app(sp.lang);
    if (s->qr_source == KV_QR_IMAGE) {
        fetchbuf img;
        uint8_t *bits = NULL;
        unsigned wb = 0, h = 0;
        const kv_profile *prof = kv_escpos_profile(e);
        int rc = fetch_image(f, p->qr_url, &img, out->detail, sizeof out->detail);
        if (rc == 0)
            rc = png_to_bits(&img, prof ? prof->dots : 384, &bits, &wb, &h, out->detail, sizeof out->detail);
        free(img.d);
        if (rc == 0 && image_slip(e, p, s, bits, wb, h, sp.expiry) != 0) {
            setmsg(out->detail, sizeof out->detail, "the slip cannot be built: %s", kv_escpos_errmsg(e));
            rc = -1;
        }
        free(bits);
        if (rc) {
            kv_journal_job_set(f->j, jid, KV_PJ_QUEUED, out->detail);
            kv_escpos_destroy(e);
            return -1;
        }
    } else {
        kv_escpos_status es = kv_slip_write(e, &sp);
        if (es != KV_ESCPOS_OK) {
            setmsg(out->detail, sizeof out->detail, "the slip cannot be built: %s", kv_escpos_errmsg(e));
            kv_journal_job_set(f->j, jid, KV_PJ_QUEUED, out->detail);
            kv_escpos_destroy(e);
            return -1;
        }
    }
    size_t len = 0;
    const uint8_t *d = kv_escpos_data(e, &len);
    int rc = print_bytes(f, jid, p->reference, KV_DOC_SLIP, 0, uri, d, len, out->slip_path, sizeof out->slip_path,
                         out->detail, sizeof out->detail);
    kv_escpos_destroy(e);
    return rc;
}

static int print_receipt(kv_flow *f, const kv_payment *p, int copy, const char *uri, kv_flow_result *out)
{
    const kv_store *s = store_of(f, p);
    if (!s) {
        setmsg(out->detail, sizeof out->detail, "store %s is no longer configured", p->store_id);
        return -1;
    }
    parsed_items it;
    char ierr[200];
    if (parse_items(&it, p->items_json, ierr, sizeof ierr)) {
        cJSON_Delete(it.root);
        memset(&it, 0, sizeof it);
    }
    kv_escpos *e = new_encoder(s);
    if (!e) {
        cJSON_Delete(it.root);
        return -1;
    }
    char tt[32];
    time_text(tt, sizeof tt, p->updated_at ? p->updated_at : time(NULL));
    kv_receipt_spec rs = { .store = { s->name, s->address, s->org_number }, .lang = store_lang(s),
                           .currency = p->currency, .items = it.items, .n_items = it.n,
                           .total = p->captured > 0 ? p->captured : p->amount, .reference = p->reference,
                           .psp_reference = p->psp_reference, .time_text = tt, .till_id = p->till_id,
                           .copy = copy };
    if (rs.n_items && rs.total != p->amount)
        rs.n_items = 0; /* partial capture: the lines no longer add up */
    kv_escpos_status es = kv_receipt_write(e, &rs);
    cJSON_Delete(it.root);
    if (es != KV_ESCPOS_OK) {
        setmsg(out->detail, sizeof out->detail, "the receipt cannot be built: %s", kv_escpos_errmsg(e));
        kv_escpos_destroy(e);
        return -1;
    }
    size_t len = 0;
    const uint8_t *d = kv_escpos_data(e, &len);
    crash_point(f, "receipt");
    char dp[256];
    doc_printer(f, p, s, dp, sizeof dp);
    int rc = print_bytes(f, 0, p->reference, KV_DOC_RECEIPT, copy, uri ? uri : dp, d, len, out->receipt_path,
                         sizeof out->receipt_path, out->detail, sizeof out->detail);
    kv_escpos_destroy(e);
    return rc;
}

static int print_not_paid(kv_flow *f, const kv_payment *p, kv_not_paid_reason why, const char *text,
                          int copy, kv_flow_result *out)
{
    const kv_store *s = store_of(f, p);
    if (!s)
        return -1;
    kv_escpos *e = new_encoder(s);
    if (!e)
        return -1;
    char tt[32];
    time_text(tt, sizeof tt, time(NULL));
    kv_not_paid_spec ns = { .store = { s->name, s->address, s->org_number }, .lang = store_lang(s),
                            .currency = p->currency, .amount = p->amount, .reference = p->reference,
                            .reason = why, .reason_text = text, .time_text = tt, .till_id = p->till_id,
                            .copy = copy };
    int rc = -1;
    char msg[256];
    if (kv_not_paid_write(e, &ns) == KV_ESCPOS_OK) {
        size_t len = 0;
        const uint8_t *d = kv_escpos_data(e, &len);
        char dp[256];
        doc_printer(f, p, s, dp, sizeof dp);
        rc = print_bytes(f, 0, p->reference, KV_DOC_NOT_PAID, copy, dp, d, len, out->receipt_path,
                         sizeof out->receipt_path, msg, sizeof msg);
    }
    kv_escpos_destroy(e);
    return rc;
}


/* ---------------------------------------------------------------- */
/* one API surface over ePayment and the legacy eCom flow            */

static int is_ecom(const kv_payment *p)
{
    return p && strcmp(p->flow, "ecom-qr") == 0;
}

/* eCom's X-Request-Id holds at most 40 characters and is scoped by order
 * id: the tail of our key ("...-capture-2") keeps it unique. */
static const char *request_id(const char *key)
{
    size_t n = strlen(key);
    return n > 40 ? key + n - 40 : key;
}

static void from_ecom(kv_vipps_payment *g, const kv_payment *p, const kv_vipps_ecom_result *er)
{
    memset(g, 0, sizeof *g);
    scpy(g->reference, sizeof g->reference, p->reference);
    scpy(g->currency, sizeof g->currency, p->currency);
    g->state = KV_VIPPS_STATE_AUTHORIZED;
    g->amount = p->amount;
    g->authorized = p->amount;
    g->captured = er->captured;
    g->refunded = er->refunded;
}

/* GET the payment: ePayment state + aggregate, or eCom details mapped onto
 * the same fields (RESERVE/SALE/CAPTURE/REFUND = AUTHORIZED, VOID =
 * TERMINATED, CANCEL = ABORTED, INITIATE = CREATED). */
static kv_vipps_status api_get(kv_vipps_client *c, const kv_payment *p, const char *ref, kv_vipps_payment *g)
{
    if (!is_ecom(p))
        return kv_vipps_get(g, c, ref);
    kv_vipps_ecom_details d;
    kv_vipps_status st = kv_vipps_ecom_details_get(&d, c, ref);
    if (st != KV_VIPPS_OK)
        return st;
    memset(g, 0, sizeof *g);
    scpy(g->reference, sizeof g->reference, ref);
    scpy(g->currency, sizeof g->currency, p->currency);
    g->amount = d.amount ? d.amount : p->amount;
    g->captured = d.captured;
    g->refunded = d.refunded;
    const char *op = d.last_operation;
    if (!strcmp(op, "RESERVE") || !strcmp(op, "SALE") || !strcmp(op, "CAPTURE") || !strcmp(op, "REFUND")) {
        g->state = KV_VIPPS_STATE_AUTHORIZED;
        g->authorized = g->amount;
        if (!strcmp(op, "SALE") && g->captured < g->amount)
            g->captured = g->amount;
    } else if (!strcmp(op, "VOID")) {
        g->state = KV_VIPPS_STATE_TERMINATED;
    } else if (!strcmp(op, "CANCEL")) {
        g->state = KV_VIPPS_STATE_ABORTED;
    } else {
        g->state = KV_VIPPS_STATE_CREATED;
    }
    return KV_VIPPS_OK;
}

/* A capture or refund of amount: epay is the ePayment call, ecom the eCom
 * one (chosen by the payment's API); both take the same arguments. */
static kv_vipps_status api_move(kv_vipps_client *c, const kv_payment *p, int64_t amount, const char *key,
                                kv_vipps_modification *mod,
                                kv_vipps_status (*epay)(kv_vipps_modification *, kv_vipps_client *, const char *,
                                                        int64_t, const char *, const char *),
                                kv_vipps_status (*ecom)(kv_vipps_ecom_result *, kv_vipps_client *, const char *,
                                                        int64_t, const char *, const char *))
{
    if (!is_ecom(p))
        return epay(mod, c, p->reference, amount, p->currency, key);
    kv_vipps_ecom_result er;
    kv_vipps_status st = ecom(&er, c, p->reference, amount, p->description, request_id(key));
    if (st == KV_VIPPS_OK)
        from_ecom(mod, p, &er);
    return st;
}

static kv_vipps_status api_capture(kv_vipps_client *c, const kv_payment *p, int64_t amount, const char *key,
                                   kv_vipps_modification *mod)
{
    return api_move(c, p, amount, key, mod, kv_vipps_capture, kv_vipps_ecom_capture);
}

static kv_vipps_status api_refund(kv_vipps_client *c, const kv_payment *p, int64_t amount, const char *key,
                                  kv_vipps_modification *mod)
{
    return api_move(c, p, amount, key, mod, kv_vipps_refund, kv_vipps_ecom_refund);
}

/* transaction_only: cancel only if not authorized.  eCom has no such
 * flag: the payment is read first and an authorized one is left alone
 * (the caller then finishes the sale). */
static kv_vipps_status api_cancel(kv_vipps_client *c, const kv_payment *p, int transaction_only, const char *key,
                                  kv_vipps_modification *mod)
{
    if (!is_ecom(p))
        return kv_vipps_cancel(mod, c, p->reference, transaction_only, key);
    if (transaction_only) {
        kv_vipps_payment g;
        kv_vipps_status gs = api_get(c, p, p->reference, &g);
        if (gs != KV_VIPPS_OK)
            return gs;
        if (g.state == KV_VIPPS_STATE_AUTHORIZED)
            return KV_VIPPS_E_API; /* like ePayment's 6060: already authorized */
    }
    kv_vipps_ecom_result er;
    kv_vipps_status st = kv_vipps_ecom_cancel(&er, c, p->reference, p->description, 1);
    if (st == KV_VIPPS_OK) {
        from_ecom(mod, p, &er);
        mod->state = KV_VIPPS_STATE_TERMINATED;
    }
    return st;
}

/* ---------------------------------------------------------------- */
/* money steps (caller holds the reference lock)                     */

static kv_not_paid_reason reason_of(kv_vipps_state s)
{
    switch (s) {
    case KV_VIPPS_STATE_ABORTED: return KV_NP_ABORTED;
    case KV_VIPPS_STATE_EXPIRED: return KV_NP_EXPIRED;
    case KV_VIPPS_STATE_TERMINATED: return KV_NP_CANCELLED;
    default: return KV_NP_OTHER;
    }
}

static void absorb(kv_payment *p, const kv_vipps_payment *vp)
{
    snprintf(p->api_state, sizeof p->api_state, "%s", kv_vipps_state_name(vp->state));
    if (vp->psp_reference[0])
        snprintf(p->psp_reference, sizeof p->psp_reference, "%s", vp->psp_reference);
    p->captured = vp->captured;
    p->refunded = vp->refunded;
}

/* The receipt in the app (Order Management), after the capture and after
 * the paper receipt: the customer at the till should not wait for it. */
static void send_om_receipt(kv_flow *f, kv_vipps_client *c, const kv_payment *p)
{
    if (!p->items_json[0])
        return;
    parsed_items it;
    char ierr[200];
    if (parse_items(&it, p->items_json, ierr, sizeof ierr) == 0 && it.n) {
        kv_vipps_order_line lines[MAX_ITEMS];
        char ids[MAX_ITEMS][24], qty[MAX_ITEMS][24];
        for (size_t i = 0; i < it.n; i++) {
            const kv_doc_item *d = &it.items[i];
            int64_t tot = d->quantity * d->unit_price;
            int64_t tax = (tot * d->vat_bp * 2 + (10000 + d->vat_bp)) / (2 * (10000 + d->vat_bp));
            snprintf(ids[i], sizeof ids[i], "%zu", i + 1);
            snprintf(qty[i], sizeof qty[i], "%lld", (long long)d->quantity);
            lines[i] = (kv_vipps_order_line){ .id = ids[i], .name = d->name, .total_amount = tot,
                                              .total_amount_excl_tax = tot - tax, .total_tax_amount = tax,
                                              .tax_rate = d->vat_bp, .unit_price = d->unit_price,
                                              .quantity = qty[i] };
        }
        kv_vipps_receipt r = { .lines = lines, .n_lines = it.n, .currency = p->currency,
                               .pos_id = p->till_id, .receipt_number = p->reference };
        if (kv_vipps_om_add_receipt(c, p->reference, &r) != KV_VIPPS_OK) {
            const kv_vipps_error *e = kv_vipps_last_error(c);
            if (!e || e->cls != KV_VIPPS_ERR_CONFLICT)
                emit(f, KV_FEV_MESSAGE, p->reference, p->state, -1,
                     "the receipt in the app (Order Management) could not be sent");
        }
    }
    cJSON_Delete(it.root);
}

/* Capture what is authorized and not captured, receipt, OM receipt.
 * copy: mark the receipt COPY.  p is updated. */
static kv_flow_status finish_sale(kv_flow *f, kv_vipps_client *c, kv_payment *p, int copy, kv_flow_result *out)
{
    int send_om = 0;
    if (p->state != KV_PAY_CAPTURED && p->captured < p->amount) {
        int64_t amt = p->amount - p->captured;
        if (save(f, p, KV_PAY_AUTHORIZED, "authorized") != KV_FLOW_OK)
            return jfail(out, "authorized");
        kv_journal_op op;
        if (kv_journal_op_begin(f->j, &op, p->reference, KV_OP_CAPTURE, amt) != KV_J_OK)
            return jfail(out, "capture key");
        kv_vipps_modification mod;
        kv_vipps_status vs = api_capture(c, p, amt, op.idem_key, &mod);
        if (vs == KV_VIPPS_OK) {
            kv_journal_op_finish(f->j, op.id, KV_OPR_OK);
            absorb(p, &mod);
            if (p->captured < p->amount)
                p->captured = p->amount;
        } else if (vs == KV_VIPPS_E_API) {
            /* refused: find out what is true now */
            kv_journal_op_finish(f->j, op.id, KV_OPR_REJECTED);
            kv_vipps_payment g;
            if (api_get(c, p, p->reference, &g) == KV_VIPPS_OK && g.captured >= p->amount) {
                absorb(p, &g);
            } else {
                api_msg(out, c, "capture refused");
                snprintf(p->reason, sizeof p->reason, "capture refused");
                save(f, p, KV_PAY_UNKNOWN, "capture refused");
                return KV_FLOW_E_UNKNOWN;
            }
        } else {
            api_msg(out, c, "capture outcome unknown");
            snprintf(p->reason, sizeof p->reason, "capture outcome unknown");
            save(f, p, KV_PAY_UNKNOWN, "capture outcome unknown");
            return KV_FLOW_E_UNKNOWN;
        }
        if (save(f, p, KV_PAY_CAPTURED, "captured") != KV_FLOW_OK)
            return jfail(out, "captured");
        crash_point(f, "captured");
        send_om = 1;
    } else if (p->state != KV_PAY_CAPTURED) {
        if (save(f, p, KV_PAY_CAPTURED, "already captured") != KV_FLOW_OK)
            return jfail(out, "captured");
    }
    char pmsg[512] = "";
    kv_flow_result tmp;
    memset(&tmp, 0, sizeof tmp);
    if (print_receipt(f, p, copy, NULL, &tmp) != 0) {
        snprintf(pmsg, sizeof pmsg, "%s", tmp.detail);
        if (out) {
            out->receipt_queued = 1;
            setmsg(out->detail, sizeof out->detail, "paid; the receipt is queued (%s): run kvitt recover when the printer is fixed",
                   pmsg);
        }
        emit(f, KV_FEV_MESSAGE, p->reference, p->state, -1, "receipt queued");
        if (send_om)
            send_om_receipt(f, c, p);
        return KV_FLOW_OK;
    }
    if (send_om)
        send_om_receipt(f, c, p);
    if (out)
        snprintf(out->receipt_path, sizeof out->receipt_path, "%s", tmp.receipt_path);
    p->reason[0] = 0;
    if (save(f, p, KV_PAY_DONE, copy ? "receipt printed (copy)" : "receipt printed") != KV_FLOW_OK)
        return jfail(out, "done");
    return KV_FLOW_OK;
}

static kv_flow_status not_paid(kv_flow *f, kv_payment *p, kv_vipps_state vs, kv_flow_result *out)
{
    kv_pay_state st = vs == KV_VIPPS_STATE_TERMINATED ? KV_PAY_CANCELLED : KV_PAY_NOT_PAID;
    snprintf(p->reason, sizeof p->reason, "%s", kv_vipps_state_name(vs));
    if (save(f, p, st, kv_vipps_state_name(vs)) != KV_FLOW_OK)
        return jfail(out, "not paid");
    kv_flow_result tmp;
    memset(&tmp, 0, sizeof tmp);
    print_not_paid(f, p, reason_of(vs), NULL, 0, &tmp);
    if (out) {
        snprintf(out->receipt_path, sizeof out->receipt_path, "%s", tmp.receipt_path);
        setmsg(out->cashier, sizeof out->cashier, "%s", kv_doc_reason_text(store_lang(store_of(f, p)), reason_of(vs)));
        setmsg(out->detail, sizeof out->detail, "not paid: %s", kv_vipps_state_name(vs));
    }
    return KV_FLOW_E_NOT_PAID;
}

/* Give up on a payment: cancel (transaction only), read back, finish. */
static kv_flow_status give_up_locked(kv_flow *f, kv_vipps_client *c, kv_payment *p, kv_flow_result *out)
{
    kv_journal_op op;
    if (kv_journal_op_begin(f->j, &op, p->reference, KV_OP_CANCEL, 0) != KV_J_OK)
        return jfail(out, "cancel key");
    kv_vipps_modification mod;
    kv_vipps_status cs = api_cancel(c, p, 1, op.idem_key, &mod);
    kv_journal_op_finish(f->j, op.id, cs == KV_VIPPS_OK ? KV_OPR_OK
                                      : cs == KV_VIPPS_E_API ? KV_OPR_REJECTED : KV_OPR_PENDING);
    kv_vipps_payment g;
    kv_vipps_status gs = api_get(c, p, p->reference, &g);
    if (gs != KV_VIPPS_OK) {
        api_msg(out, c, "cancel: the payment cannot be read back");
        snprintf(p->reason, sizeof p->reason, "gave up; state unknown");
        save(f, p, KV_PAY_UNKNOWN, "give up: state unknown");
        return KV_FLOW_E_UNKNOWN;
    }
    absorb(p, &g);
    if (is_ecom(p) && cs == KV_VIPPS_OK && g.state == KV_VIPPS_STATE_ABORTED)
        g.state = KV_VIPPS_STATE_TERMINATED; /* eCom logs our cancel as CANCEL */
    if (g.state == KV_VIPPS_STATE_AUTHORIZED && g.cancelled == 0) {
        if (out)
            out->approved_after_cancel = 1;
        emit(f, KV_FEV_MESSAGE, p->reference, p->state, -1, "the customer approved just before the cancel: finishing the sale");
        kv_flow_status st = finish_sale(f, c, p, 0, out);
        if (out && st == KV_FLOW_OK)
            setmsg(out->cashier, sizeof out->cashier, "Paid (approved just before the cancel)");
        return st;
    }
    if (g.state == KV_VIPPS_STATE_CREATED) {
        /* cancel did not take (processing); leave for recover */
        snprintf(p->reason, sizeof p->reason, "cancel pending");
        save(f, p, KV_PAY_UNKNOWN, "cancel not confirmed");
        if (out)
            setmsg(out->detail, sizeof out->detail, "the cancel was not confirmed yet; run kvitt recover");
        return KV_FLOW_E_UNKNOWN;
    }
    if (g.state == KV_VIPPS_STATE_AUTHORIZED)
        return not_paid(f, p, KV_VIPPS_STATE_TERMINATED, out);
    return not_paid(f, p, g.state, out);
}

/* ---------------------------------------------------------------- */
/* start                                                             */

/* Thread body: fetch the access token if none is cached (errors are left
 * for the create call to meet and report). */
static void *warm_token(void *client)
{
    (void)kv_vipps_token_warm(client);
    return NULL;
}

kv_flow_status kv_flow_start(kv_flow *f, kv_flow_result *out, const kv_pay_request *req)
{
    kv_flow_result dummy;
    if (!out)
        out = &dummy;
    memset(out, 0, sizeof *out);
    if (!f)
        return KV_FLOW_E_CONFIG;
    vreq v;
    kv_flow_status st = validate(f, &v, req, out->detail, sizeof out->detail);
    if (st) {
        scpy(out->cashier, sizeof out->cashier, out->detail);
        return st;
    }
    kv_payment p;
    memset(&p, 0, sizeof p);
    if (v.reference[0])
        snprintf(p.reference, sizeof p.reference, "%s", v.reference);
    else
        make_reference(p.reference, sizeof p.reference, v.store);
    snprintf(p.store_id, sizeof p.store_id, "%s", v.store->id);
    snprintf(p.msn, sizeof p.msn, "%s", v.store->msn);
    snprintf(p.till_id, sizeof p.till_id, "%s", v.till);
    snprintf(p.flow, sizeof p.flow, "%s",
             v.phone[0] ? "push" : v.store->flow == KV_FLOW_ECOM_QR ? "ecom-qr" : "epayment-qr");
    snprintf(p.currency, sizeof p.currency, "%s", v.currency);
    snprintf(p.description, sizeof p.description, "%s", v.text);
    if (req->items_json)
        snprintf(p.items_json, sizeof p.items_json, "%s", req->items_json);
    p.amount = v.amount;
    p.state = KV_PAY_NEW;
    p.created_at = time(NULL);
    kv_vipps_client *c = NULL;
    st = client_for(f, &c, v.store, out);
    if (st)
        return st;
    if (lock_ref(f, p.reference, 0)) {
        kv_vipps_client_destroy(c);
        return KV_FLOW_E_NOMEM;
    }
    /* A missing access token is fetched while the journal syncs: the token
     * call moves no money, and the two waits overlap.  Until the join the
     * client belongs to that thread alone. */
    pthread_t warm;
    int warming = pthread_create(&warm, NULL, warm_token, c) == 0;
    /* the payment row and its create key in one transaction (one fsync):
     * both are on disk before the create request leaves */
    kv_journal_op op;
    kv_journal_status js = kv_journal_batch_begin(f->j);
    if (js == KV_J_OK) {
        js = kv_journal_add_payment(f->j, &p);
        if (js == KV_J_OK)
            js = kv_journal_op_begin(f->j, &op, p.reference, KV_OP_CREATE, p.amount);
        kv_journal_status je = kv_journal_batch_end(f->j, js == KV_J_OK);
        if (js == KV_J_OK)
            js = je;
    }
    if (warming)
        pthread_join(warm, NULL);
    if (js) {
        unlock_ref(f, p.reference);
        kv_vipps_client_destroy(c);
        if (js == KV_J_E_EXISTS) {
            setmsg(out->detail, sizeof out->detail, "reference %s is already in the journal", p.reference);
            scpy(out->cashier, sizeof out->cashier, out->detail);
            return KV_FLOW_E_INPUT;
        }
        return jfail(out, kv_journal_errmsg(f->j));
    }
    emit(f, KV_FEV_STATE, p.reference, KV_PAY_NEW, -1, "journaled");
    crash_point(f, "journaled");
    kv_vipps_create_req cr = { .reference = p.reference, .amount = p.amount, .currency = p.currency,
                               .flow = v.phone[0] ? KV_VIPPS_FLOW_PUSH : KV_VIPPS_FLOW_QR,
                               .qr_format = v.store->qr_source == KV_QR_IMAGE ? KV_VIPPS_QR_PNG : KV_VIPPS_QR_TEXT,
                               .qr_size = v.store->qr_source == KV_QR_IMAGE ? qr_px(v.store) : 0,
                               .phone = v.phone[0] ? v.phone : NULL,
                               .description = p.description, .idempotency_key = op.idem_key };
    kv_vipps_created created;
    memset(&created, 0, sizeof created);
    kv_vipps_status vs;
    if (is_ecom(&p)) {
        /* eCom + QR API (the POS guide's flow): initiate (never retried:
         * not idempotent), then a one-time QR for the landing page */
        char landing[2048] = "", cbp[512];
        const char *wh = kv_config_get(f->cfg, "serve", "webhook_url");
        const char *slash = wh ? strchr(wh + (strncmp(wh, "https://", 8) == 0 ? 8 : 7), '/') : NULL;
        if (wh && slash)
            snprintf(cbp, sizeof cbp, "%.*s/callbacks", (int)(slash - wh), wh);
        else
            snprintf(cbp, sizeof cbp, "%s", v.store->website[0] ? v.store->website : "https://www.vipps.no/thankyoupage");
        kv_vipps_ecom_req er = { .order_id = p.reference, .amount = p.amount, .text = p.description,
                                 .callback_prefix = cbp,
                                 .fallback = v.store->website[0] ? v.store->website : "https://www.vipps.no/thankyoupage/",
                                 .auth_token = kv_config_get(f->cfg, "serve", "callback_auth_token") };
        vs = kv_vipps_ecom_initiate(landing, sizeof landing, c, &er);
        if (vs == KV_VIPPS_OK) {
            kv_vipps_qr qr;
            vs = kv_vipps_qr_onetime(&qr, c, landing,
                                     v.store->qr_source == KV_QR_IMAGE ? KV_VIPPS_QR_PNG : KV_VIPPS_QR_TEXT,
                                     v.store->qr_source == KV_QR_IMAGE ? qr_px(v.store) : 0);
            if (vs == KV_VIPPS_OK)
                scpy(created.redirect_url, sizeof created.redirect_url, qr.url);
            else if (vs == KV_VIPPS_E_API || vs == KV_VIPPS_E_UNREACHABLE)
                vs = KV_VIPPS_E_UNKNOWN; /* the order exists: recover cancels it */
        }
    } else {
        vs = kv_vipps_create(&created, c, &cr);
    }
    if (vs != KV_VIPPS_OK) {
        api_msg(out, c, "create payment");
        if (vs == KV_VIPPS_E_UNKNOWN) {
            snprintf(p.reason, sizeof p.reason, "create: outcome unknown");
            save(f, &p, KV_PAY_UNKNOWN, "create outcome unknown");
            st = KV_FLOW_E_UNKNOWN;
        } else {
            kv_journal_op_finish(f->j, op.id, KV_OPR_REJECTED);
            snprintf(p.reason, sizeof p.reason, "%.120s", out->cashier);
            save(f, &p, KV_PAY_NOT_PAID, "create refused");
            st = vs == KV_VIPPS_E_UNREACHABLE ? KV_FLOW_E_SERVICE
               : vs == KV_VIPPS_E_AUTH || vs == KV_VIPPS_E_INVALID || vs == KV_VIPPS_E_REFUSED ? KV_FLOW_E_CONFIG
               : KV_FLOW_E_NOT_PAID;
        }
        goto done;
    }
    snprintf(p.qr_url, sizeof p.qr_url, "%s", created.redirect_url);
    p.expires_at = time(NULL) + 600;
    /* the answer, the new state and the slip's print job: one transaction */
    int64_t jid = 0;
    js = kv_journal_batch_begin(f->j);
    if (js == KV_J_OK) {
        js = kv_journal_op_finish(f->j, op.id, KV_OPR_OK);
        p.state = KV_PAY_CREATED; /* the event goes out after the commit */
        if (js == KV_J_OK)
            js = kv_journal_update_payment(f->j, &p, "created");
        if (js == KV_J_OK && !v.phone[0])
            js = kv_journal_job_add(f->j, &jid, p.reference, KV_DOC_SLIP, 0, v.printer);
        kv_journal_status je = kv_journal_batch_end(f->j, js == KV_J_OK);
        if (js == KV_J_OK)
            js = je;
    }
    if (js) {
        /* created at Vipps but not journaled as such: recover reads it back */
        st = jfail(out, "created");
        goto done;
    }
    emit(f, KV_FEV_STATE, p.reference, KV_PAY_CREATED, -1, "created");
    crash_point(f, "created");
    if (!v.phone[0]) {
        if (print_slip(f, jid, &p, v.store, v.printer, out) != 0) {
            char why[512];
            snprintf(why, sizeof why, "%s", out->detail);
            kv_flow_status gs = give_up_locked(f, c, &p, NULL);
            snprintf(p.reason, sizeof p.reason, "%.120s", why);
            if (gs == KV_FLOW_OK) {
                /* approved although the slip failed (cannot happen without a QR; kept safe) */
                st = KV_FLOW_OK;
                goto done;
            }
            kv_journal_get_payment(f->j, &p, p.reference);
            snprintf(p.reason, sizeof p.reason, "%.120s", why);
            save(f, &p, p.state, "slip failed");
            setmsg(out->cashier, sizeof out->cashier, "Printer problem: the payment was cancelled");
            setmsg(out->detail, sizeof out->detail, "%s; the payment was cancelled%s", why,
                   gs == KV_FLOW_E_UNKNOWN ? " (not yet confirmed: run kvitt recover)" : "");
            st = KV_FLOW_E_PRINTER;
            goto done;
        }
    }
    if (save(f, &p, KV_PAY_WAITING, v.phone[0] ? "push sent" : "slip printed") != KV_FLOW_OK) {
        st = jfail(out, "waiting");
        goto done;
    }
    crash_point(f, "slip");
    st = KV_FLOW_OK;
done:
    fill(f, out, p.reference);
    unlock_ref(f, p.reference);
    kv_vipps_client_destroy(c);
    return st;
}

/* ---------------------------------------------------------------- */
/* wait                                                              */

static waiter *add_waiter(kv_flow *f, const char *ref)
{
    waiter *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    snprintf(w->ref, sizeof w->ref, "%s", ref);
    pthread_mutex_lock(&f->mu);
    w->next = f->waiters;
    f->waiters = w;
    pthread_mutex_unlock(&f->mu);
    return w;
}

static void del_waiter(kv_flow *f, waiter *w)
{
    pthread_mutex_lock(&f->mu);
    for (waiter **pp = &f->waiters; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    pthread_mutex_unlock(&f->mu);
    free(w);
}

void kv_flow_notify(kv_flow *f, const char *reference)
{
    if (!f || !reference)
        return;
    pthread_mutex_lock(&f->mu);
    for (waiter *w = f->waiters; w; w = w->next)
        if (strcmp(w->ref, reference) == 0)
            w->notified = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

kv_flow_status kv_flow_abort(kv_flow *f, const char *reference)
{
    if (!f || !reference)
        return KV_FLOW_E_NOT_FOUND;
    int found = 0;
    pthread_mutex_lock(&f->mu);
    for (waiter *w = f->waiters; w; w = w->next) {
        if (strcmp(w->ref, reference) == 0) {
            w->abort = 1;
            found = 1;
        }
    }
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return found ? KV_FLOW_OK : KV_FLOW_E_NOT_FOUND;
}

/* Sleep until deadline_ms, a notify, an abort or stop.  Returns 1 when
 * woken by notify, 3 by a notify that carried a verified AUTHORIZED event,
 * 2 by abort/stop, 0 on time. */
static int nap(kv_flow *f, waiter *w, int64_t until_ms)
{
    pthread_mutex_lock(&f->mu);
    int r = 0;
    for (;;) {
        if (w->abort || stopped(f)) { r = 2; break; }
        if (w->notified) {
            r = w->authorized ? 3 : 1;
            w->notified = 0;
            w->authorized = 0;
            break;
        }
        int64_t now = now_ms();
        if (now >= until_ms)
            break;
        int64_t slice = until_ms - now;
        if (slice > 100)
            slice = 100; /* the stop flag is set by a signal handler: look at it often */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(slice % 1000) * 1000000L;
        ts.tv_sec += (time_t)(slice / 1000) + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&f->cv, &f->mu, &ts);
    }
    pthread_mutex_unlock(&f->mu);
    return r;
}

kv_flow_status kv_flow_wait(kv_flow *f, kv_flow_result *out, const char *reference, int timeout_s)
{
    op_args oa;
    out = op_begin(&oa, out, &reference);
    if (!f || !reference)
        return KV_FLOW_E_INPUT;
    kv_payment p;
    if (kv_journal_get_payment(f->j, &p, reference) != KV_J_OK)
        return KV_FLOW_E_NOT_FOUND;
    const kv_store *s = store_of(f, &p);
    if (!s)
        return KV_FLOW_E_CONFIG;
    const kv_config_main *m = kv_config_main_get(f->cfg);
    if (timeout_s <= 0)
        timeout_s = m->payment_timeout_s;
    waiter *w = add_waiter(f, reference);
    if (!w)
        return KV_FLOW_E_NOMEM;
    if (lock_ref(f, reference, 0)) {
        del_waiter(f, w);
        return KV_FLOW_E_NOMEM;
    }
    kv_vipps_client *c = NULL;
    kv_flow_status st = client_for(f, &c, s, out);
    if (st)
        goto done;
    kv_journal_get_payment(f->j, &p, reference);
    if (p.state != KV_PAY_WAITING) {
        setmsg(out->detail, sizeof out->detail, "payment %s is %s, not waiting", reference, kv_pay_state_name(p.state));
        st = kv_pay_state_final(p.state) ? (p.state == KV_PAY_DONE ? KV_FLOW_OK : KV_FLOW_E_NOT_PAID)
                                         : KV_FLOW_E_REFUSED;
        goto done;
    }
    int64_t start = now_ms();
    int64_t deadline = start + (int64_t)timeout_s * 1000;
    int64_t next_poll = start + (int64_t)m->poll_first_s * 1000;
    int64_t next_tick = start;
    int first = 1;
    for (;;) {
        int64_t now = now_ms();
        if (now >= next_tick) {
            emit(f, KV_FEV_TICK, reference, KV_PAY_WAITING, (int)((deadline - now + 999) / 1000), "");
            next_tick = now + 1000;
        }
        int64_t until = next_poll < next_tick ? next_poll : next_tick;
        if (deadline < until)
            until = deadline;
        int why = nap(f, w, until);
        now = now_ms();
        if (why == 2 || now >= deadline) {
            emit(f, KV_FEV_MESSAGE, reference, KV_PAY_WAITING, 0, why == 2 ? "cancelled at the till" : "timed out");
            st = give_up_locked(f, c, &p, out);
            break;
        }
        if (why != 1 && why != 3 && now < next_poll)
            continue;
        if (first) {
            crash_point(f, "waiting");
            first = 0;
        }
        if (why == 3) {
            /* The daemon verified the webhook's HMAC before recording it, so
             * capture at once instead of reading the payment first: the
             * receipt comes a round trip sooner.  The capture is its own
             * check (Vipps refuses to capture what is not authorized, and
             * finish_sale then reads the payment back); its key is
             * journaled first like every capture. */
            emit(f, KV_FEV_MESSAGE, reference, KV_PAY_WAITING, -1, "authorized (webhook)");
            st = finish_sale(f, c, &p, 0, out);
            break;
        }
        kv_vipps_payment g;
        kv_vipps_status gs = api_get(c, &p, reference, &g);
        int interval = m->poll_interval_ms;
        if (gs != KV_VIPPS_OK) {
            const kv_vipps_error *e = kv_vipps_last_error(c);
            if (e && e->retry_after_s > 0)
                interval = (int)e->retry_after_s * 1000;
            else if (e && e->cls == KV_VIPPS_ERR_RATE_LIMITED)
                interval *= 2;
            emit(f, KV_FEV_MESSAGE, reference, KV_PAY_WAITING, -1, e ? e->cashier : "poll failed");
            next_poll = now_ms() + interval;
            continue;
        }
        absorb(&p, &g);
        if (g.state == KV_VIPPS_STATE_AUTHORIZED) {
            st = finish_sale(f, c, &p, 0, out);
            break;
        }
        if (kv_vipps_state_final(g.state)) {
            st = not_paid(f, &p, g.state, out);
            break;
        }
        next_poll = now_ms() + interval;
    }
done:
    fill(f, out, reference);
    unlock_ref(f, reference);
    del_waiter(f, w);
    kv_vipps_client_destroy(c);
    if (st == KV_FLOW_OK && !out->cashier[0])
        setmsg(out->cashier, sizeof out->cashier, "%s", kv_doc_paid_with(store_lang(s)));
    return st;
}

kv_flow_status kv_flow_pay(kv_flow *f, kv_flow_result *out, const kv_pay_request *req)
{
    kv_flow_result r;
    kv_flow_status st = kv_flow_start(f, &r, req);
    if (st == KV_FLOW_OK && r.payment.state == KV_PAY_WAITING) {
        char slip[1024];
        snprintf(slip, sizeof slip, "%s", r.slip_path);
        st = kv_flow_wait(f, &r, r.payment.reference, req ? req->timeout_s : 0);
        snprintf(r.slip_path, sizeof r.slip_path, "%s", slip);
    }
    if (out)
        *out = r;
    return st;
}

kv_flow_status kv_flow_give_up(kv_flow *f, kv_flow_result *out, const char *reference)
{
    op_args oa;
    out = op_begin(&oa, out, &reference);
    if (!f || !reference)
        return KV_FLOW_E_INPUT;
    if (kv_flow_abort(f, reference) == KV_FLOW_OK) {
        /* a waiter will do it; wait for it to finish */
        lock_ref(f, reference, 0);
        unlock_ref(f, reference);
        fill(f, out, reference);
        return kv_pay_state_final(out->payment.state)
                   ? (out->payment.state == KV_PAY_DONE ? KV_FLOW_OK : KV_FLOW_E_NOT_PAID)
                   : KV_FLOW_E_UNKNOWN;
    }
    kv_payment p;
    if (kv_journal_get_payment(f->j, &p, reference) != KV_J_OK)
        return KV_FLOW_E_NOT_FOUND;
    const kv_store *s = store_of(f, &p);
    if (!s)
        return KV_FLOW_E_CONFIG;
    if (lock_ref(f, reference, 0))
        return KV_FLOW_E_NOMEM;
    kv_vipps_client *c = NULL;
    kv_flow_status st = client_for(f, &c, s, out);
    if (!st) {
        kv_journal_get_payment(f->j, &p, reference);
        st = give_up_locked(f, c, &p, out);
    }
    fill(f, out, reference);
    unlock_ref(f, reference);
    kv_vipps_client_destroy(c);
    return st;
}

kv_flow_status kv_flow_record_webhook(kv_flow *f, const char *reference, const char *event_name, const char *body)
{
    if (!f || !reference || !event_name)
        return KV_FLOW_E_INPUT;
    if (kv_journal_add_event(f->j, reference, event_name, body ? body : "") != KV_J_OK)
        return KV_FLOW_E_JOURNAL;
    /* ePayment's AUTHORIZED event, eCom's RESERVED callback status. */
    int authorized = !strcmp(event_name, "AUTHORIZED") || !strcmp(event_name, "ecom.RESERVED") ||
                     !strcmp(event_name, "ecom.RESERVE");
    if (authorized) {
        pthread_mutex_lock(&f->mu);
        for (waiter *w = f->waiters; w; w = w->next)
            if (strcmp(w->ref, reference) == 0)
                w->authorized = 1;
        pthread_mutex_unlock(&f->mu);
    }
    kv_flow_notify(f, reference);
    return KV_FLOW_OK;
}

/* ---------------------------------------------------------------- */
/* recover                                                           */

/* Resolve one unfinished payment (lock held). */
static kv_flow_status resolve(kv_flow *f, kv_payment *p, kv_recover_report *rep, kv_flow_result *out)
{
    const kv_store *s = store_of(f, p);
    if (!s) {
        setmsg(out->detail, sizeof out->detail, "store %s is not configured", p->store_id);
        return KV_FLOW_E_CONFIG;
    }
    kv_print_job pj;
    int copy = kv_journal_job_last(f->j, &pj, p->reference, KV_DOC_RECEIPT) == KV_J_OK && pj.state != KV_PJ_QUEUED;
    if (p->state == KV_PAY_CAPTURED) {
        /* captured: only the receipt is missing */
        kv_flow_result tmp;
        memset(&tmp, 0, sizeof tmp);
        if (print_receipt(f, p, copy, NULL, &tmp) != 0) {
            setmsg(out->detail, sizeof out->detail, "receipt still not printed: %s", tmp.detail);
            return KV_FLOW_E_PRINTER;
        }
        rep->reprinted++;
        save(f, p, KV_PAY_DONE, copy ? "receipt printed by recover (copy)" : "receipt printed by recover");
        return KV_FLOW_OK;
    }
    kv_vipps_client *c = NULL;
    kv_flow_status st = client_for(f, &c, s, out);
    if (st)
        return st;
    kv_vipps_payment g;
    kv_vipps_status gs = api_get(c, p, p->reference, &g);
    if (gs == KV_VIPPS_E_NOT_FOUND) {
        /* never created: nobody saw a QR code */
        kv_journal_op op;
        if (kv_journal_op_last(f->j, &op, p->reference, KV_OP_CREATE) == KV_J_OK && op.result == KV_OPR_PENDING)
            kv_journal_op_finish(f->j, op.id, KV_OPR_REJECTED);
        snprintf(p->reason, sizeof p->reason, "never created at Vipps");
        save(f, p, KV_PAY_CANCELLED, "recover: not found at Vipps");
        kv_vipps_client_destroy(c);
        return KV_FLOW_OK;
    }
    if (gs != KV_VIPPS_OK) {
        api_msg(out, c, "recover: read state");
        kv_vipps_client_destroy(c);
        return KV_FLOW_E_UNKNOWN;
    }
    kv_journal_op op;
    if (kv_journal_op_last(f->j, &op, p->reference, KV_OP_CREATE) == KV_J_OK && op.result == KV_OPR_PENDING)
        kv_journal_op_finish(f->j, op.id, KV_OPR_OK);
    absorb(p, &g);
    if (g.redirect_url[0] && !p->qr_url[0])
        snprintf(p->qr_url, sizeof p->qr_url, "%s", g.redirect_url);
    if (g.state == KV_VIPPS_STATE_AUTHORIZED) {
        if (g.cancelled > 0 && g.captured == 0) {
            snprintf(p->reason, sizeof p->reason, "reservation released");
            save(f, p, KV_PAY_CANCELLED, "recover: released");
            st = KV_FLOW_OK;
        } else {
            int before = kv_journal_op_count(f->j, p->reference, KV_OP_CAPTURE, KV_OPR_OK);
            st = finish_sale(f, c, p, copy, out);
            if (kv_journal_op_count(f->j, p->reference, KV_OP_CAPTURE, KV_OPR_OK) > before)
                rep->captured++;
            if (st == KV_FLOW_OK && p->state == KV_PAY_DONE)
                rep->reprinted++;
            if (st == KV_FLOW_OK && p->state != KV_PAY_DONE)
                st = KV_FLOW_E_PRINTER;
        }
    } else if (g.state == KV_VIPPS_STATE_CREATED) {
        st = give_up_locked(f, c, p, out);
        if (st == KV_FLOW_E_NOT_PAID)
            st = KV_FLOW_OK;
        if (st == KV_FLOW_OK && p->state == KV_PAY_DONE && out->approved_after_cancel)
            rep->captured++;
    } else {
        kv_pay_state ns = g.state == KV_VIPPS_STATE_TERMINATED ? KV_PAY_CANCELLED : KV_PAY_NOT_PAID;
        snprintf(p->reason, sizeof p->reason, "%s", kv_vipps_state_name(g.state));
        save(f, p, ns, "recover");
        st = KV_FLOW_OK;
    }
    kv_vipps_client_destroy(c);
    return st;
}

kv_flow_status kv_flow_recover(kv_flow *f, kv_recover_report *out)
{
    kv_recover_report rep = { 0 };
    if (!f)
        return KV_FLOW_E_CONFIG;
    kv_journal_query q = { .unfinished_only = 1 };
    kv_payment *rows = NULL;
    size_t n = 0;
    if (kv_journal_find(f->j, &rows, &n, &q) != KV_J_OK)
        return KV_FLOW_E_JOURNAL;
    for (size_t i = 0; i < n; i++) {
        if (lock_ref(f, rows[i].reference, 1))
            continue; /* another thread is working on it */
        rep.examined++;
        kv_payment p;
        kv_flow_result r;
        memset(&r, 0, sizeof r);
        if (kv_journal_get_payment(f->j, &p, rows[i].reference) == KV_J_OK && !kv_pay_state_final(p.state)) {
            kv_flow_status st = resolve(f, &p, &rep, &r);
            kv_journal_get_payment(f->j, &p, rows[i].reference);
            if (kv_pay_state_final(p.state))
                rep.finished++;
            else
                rep.unresolved++;
            emit(f, KV_FEV_MESSAGE, p.reference, p.state, -1, st ? r.detail : "recovered");
        }
        unlock_ref(f, rows[i].reference);
    }
    free(rows);
    /* refunds sent without a journaled answer: resend with the same key
     * (Vipps answers a repeated key with the first result: never twice) */
    kv_journal_op *ops = NULL;
    size_t nops = 0;
    if (kv_journal_ops_pending(f->j, &ops, &nops, KV_OP_REFUND) == KV_J_OK) {
        for (size_t i = 0; i < nops; i++) {
            if (lock_ref(f, ops[i].reference, 1))
                continue;
            rep.examined++;
            kv_payment p;
            const kv_store *s = NULL;
            kv_vipps_client *c = NULL;
            int ok = 0;
            if (kv_journal_get_payment(f->j, &p, ops[i].reference) == KV_J_OK && (s = store_of(f, &p)) &&
                client_for(f, &c, s, NULL) == KV_FLOW_OK) {
                kv_vipps_modification mod;
                kv_vipps_status vs = api_refund(c, &p, ops[i].amount, ops[i].idem_key, &mod);
                if (vs == KV_VIPPS_OK || vs == KV_VIPPS_E_API) {
                    kv_journal_op_finish(f->j, ops[i].id, vs == KV_VIPPS_OK ? KV_OPR_OK : KV_OPR_REJECTED);
                    if (vs == KV_VIPPS_OK) {
                        absorb(&p, &mod);
                        save(f, &p, p.state, "refund answered (recover)");
                    }
                    ok = 1;
                }
            }
            kv_vipps_client_destroy(c);
            if (ok)
                rep.finished++;
            else
                rep.unresolved++;
            emit(f, KV_FEV_MESSAGE, ops[i].reference, KV_PAY_DONE, -1,
                 ok ? "refund resolved" : "refund still unanswered");
            unlock_ref(f, ops[i].reference);
        }
        free(ops);
    }
    if (out)
        *out = rep;
    return rep.unresolved ? KV_FLOW_E_UNKNOWN : KV_FLOW_OK;
}

/* ---------------------------------------------------------------- */
/* capture / cancel / status / refund / reprint / find               */

typedef struct opctx {
    kv_payment p;
    const kv_store *s;
    kv_vipps_client *c;
} opctx;

static kv_flow_status op_open(kv_flow *f, opctx *x, const char *ref, kv_flow_result *out)
{
    memset(x, 0, sizeof *x);
    if (!f || !ref)
        return KV_FLOW_E_INPUT;
    if (kv_journal_get_payment(f->j, &x->p, ref) != KV_J_OK) {
        setmsg(out->detail, sizeof out->detail, "no payment %s in the journal", ref);
        setmsg(out->cashier, sizeof out->cashier, "Unknown reference");
        return KV_FLOW_E_NOT_FOUND;
    }
    x->s = store_of(f, &x->p);
    if (!x->s) {
        setmsg(out->detail, sizeof out->detail, "store %s of payment %s is not configured", x->p.store_id, ref);
        return KV_FLOW_E_CONFIG;
    }
    if (lock_ref(f, ref, 1)) {
        setmsg(out->detail, sizeof out->detail, "another operation is running on %s", ref);
        return KV_FLOW_E_BUSY;
    }
    kv_flow_status st = client_for(f, &x->c, x->s, out);
    if (st) {
        unlock_ref(f, ref);
        return st;
    }
    kv_journal_get_payment(f->j, &x->p, ref);
    return KV_FLOW_OK;
}

static void op_close(kv_flow *f, opctx *x, kv_flow_result *out)
{
    fill(f, out, x->p.reference);
    unlock_ref(f, x->p.reference);
    kv_vipps_client_destroy(x->c);
}

kv_flow_status kv_flow_capture(kv_flow *f, kv_flow_result *out, const char *reference, int64_t amount_minor)
{
    op_args oa;
    out = op_begin(&oa, out, &reference);
    opctx x;
    kv_flow_status st = op_open(f, &x, reference, out);
    if (st)
        return st;
    kv_vipps_payment g;
    if (api_get(x.c, &x.p, reference, &g) != KV_VIPPS_OK) {
        api_msg(out, x.c, "capture: read state");
        st = KV_FLOW_E_SERVICE;
    } else if (g.state != KV_VIPPS_STATE_AUTHORIZED) {
        setmsg(out->detail, sizeof out->detail, "payment %s is %s at Vipps: nothing to capture", reference,
               kv_vipps_state_name(g.state));
        st = KV_FLOW_E_REFUSED;
    } else if (amount_minor > 0 && amount_minor > g.authorized - g.captured - g.cancelled) {
        setmsg(out->detail, sizeof out->detail, "capture of %lld exceeds what remains authorized (%lld)",
               (long long)amount_minor, (long long)(g.authorized - g.captured - g.cancelled));
        st = KV_FLOW_E_REFUSED;
    } else {
        absorb(&x.p, &g);
        if (amount_minor > 0 && amount_minor < x.p.amount - x.p.captured) {
            /* partial capture */
            kv_journal_op op;
            if (kv_journal_op_begin(f->j, &op, reference, KV_OP_CAPTURE, amount_minor) != KV_J_OK) {
                st = jfail(out, "capture key");
            } else {
                kv_vipps_modification mod;
                kv_vipps_status vs = api_capture(x.c, &x.p, amount_minor, op.idem_key, &mod);
                if (vs == KV_VIPPS_OK) {
                    kv_journal_op_finish(f->j, op.id, KV_OPR_OK);
                    absorb(&x.p, &mod);
                    save(f, &x.p, KV_PAY_AUTHORIZED, "partial capture");
                    st = KV_FLOW_OK;
                } else {
                    kv_journal_op_finish(f->j, op.id, vs == KV_VIPPS_E_API ? KV_OPR_REJECTED : KV_OPR_PENDING);
                    api_msg(out, x.c, "capture");
                    st = vs == KV_VIPPS_E_API ? KV_FLOW_E_REFUSED : KV_FLOW_E_UNKNOWN;
                }
            }
        } else {
            st = finish_sale(f, x.c, &x.p, 0, out);
        }
    }
    op_close(f, &x, out);
    return st;
}

kv_flow_status kv_flow_cancel(kv_flow *f, kv_flow_result *out, const char *reference)
{
    op_args oa;
    out = op_begin(&oa, out, &reference);
    if (f && reference && kv_flow_abort(f, reference) == KV_FLOW_OK)
        return kv_flow_give_up(f, out, reference);
    opctx x;
    kv_flow_status st = op_open(f, &x, reference, out);
    if (st)
        return st;
    kv_vipps_payment g;
    if (api_get(x.c, &x.p, reference, &g) != KV_VIPPS_OK) {
        api_msg(out, x.c, "cancel: read state");
        st = KV_FLOW_E_SERVICE;
    } else if (g.captured > 0) {
        setmsg(out->detail, sizeof out->detail, "payment %s is captured: refund it instead (kvitt refund)", reference);
        st = KV_FLOW_E_REFUSED;
    } else if (g.state != KV_VIPPS_STATE_CREATED && g.state != KV_VIPPS_STATE_AUTHORIZED) {
        absorb(&x.p, &g);
        st = not_paid(f, &x.p, g.state, NULL);
        setmsg(out->detail, sizeof out->detail, "payment %s was already %s", reference, kv_vipps_state_name(g.state));
        st = KV_FLOW_OK;
    } else {
        kv_journal_op op;
        if (kv_journal_op_begin(f->j, &op, reference, KV_OP_CANCEL, 0) != KV_J_OK) {
            st = jfail(out, "cancel key");
        } else {
            kv_vipps_modification mod;
            kv_vipps_status vs = api_cancel(x.c, &x.p, 0, op.idem_key, &mod);
            if (vs == KV_VIPPS_OK) {
                kv_journal_op_finish(f->j, op.id, KV_OPR_OK);
                absorb(&x.p, &mod);
                snprintf(x.p.reason, sizeof x.p.reason, "cancelled at the till");
                save(f, &x.p, KV_PAY_CANCELLED, "cancelled");
                setmsg(out->cashier, sizeof out->cashier, "%s", kv_doc_reason_text(store_lang(x.s), KV_NP_CANCELLED));
                st = KV_FLOW_OK;
            } else {
                kv_journal_op_finish(f->j, op.id, vs == KV_VIPPS_E_API ? KV_OPR_REJECTED : KV_OPR_PENDING);
                api_msg(out, x.c, "cancel");
                st = vs == KV_VIPPS_E_API ? KV_FLOW_E_REFUSED : KV_FLOW_E_UNKNOWN;
            }
        }
    }
    op_close(f, &x, out);
    return st;
}

kv_flow_status kv_flow_status_get(kv_flow *f, kv_flow_result *out, const char *reference, int refresh)
{
    op_args oa;
    out = op_begin(&oa, out, &reference);
    if (!f || !reference)
        return KV_FLOW_E_INPUT;
    kv_payment p;
    if (kv_journal_get_payment(f->j, &p, reference) != KV_J_OK) {
        setmsg(out->detail, sizeof out->detail, "no payment %s in the journal", reference);
        return KV_FLOW_E_NOT_FOUND;
    }
    out->payment = p;
    if (!refresh)
        return KV_FLOW_OK;
    const kv_store *s = store_of(f, &p);
    if (!s)
        return KV_FLOW_E_CONFIG;
    kv_vipps_client *c = NULL;
    kv_flow_status st = client_for(f, &c, s, out);
    if (st)
        return st;
    kv_vipps_payment g;
    kv_vipps_status gs = api_get(c, &p, reference, &g);
    if (gs == KV_VIPPS_OK) {
        /* report what Vipps says without moving the journaled state (a
         * waiter may own it); amounts are informative */
        absorb(&out->payment, &g);
        setmsg(out->detail, sizeof out->detail, "Vipps: %s, captured %lld, refunded %lld", kv_vipps_state_name(g.state),
               (long long)g.captured, (long long)g.refunded);
    } else {
        api_msg(out, c, "status");
        st = KV_FLOW_E_SERVICE;
    }
    kv_vipps_client_destroy(c);
    return st;
}

kv_flow_status kv_flow_refund(kv_flow *f, kv_flow_result *out, const char *reference, int64_t amount_minor,
                              const char *till_store_id)
{
    op_args oa;
    out = op_begin(&oa, out, &reference);
    if (!f || !reference)
        return KV_FLOW_E_INPUT;
    if (amount_minor < 0) {
        setmsg(out->detail, sizeof out->detail, "the refund amount must be positive");
        return KV_FLOW_E_INPUT;
    }
    const kv_store *till = kv_config_store(f->cfg, till_store_id);
    if (!till) {
        setmsg(out->detail, sizeof out->detail, "store '%s' is not configured", till_store_id ? till_store_id : "");
        return KV_FLOW_E_INPUT;
    }
    kv_payment jp;
    if (kv_journal_get_payment(f->j, &jp, reference) != KV_J_OK) {
        /* not journaled here: the origin store comes from the reference
         * prefix (one-MSN pattern or another till's payment) */
        const kv_store *origin = kv_config_store_by_prefix(f->cfg, reference);
        if (!origin) {
            setmsg(out->detail, sizeof out->detail,
                   "payment %s is not in the journal and its prefix names no configured store", reference);
            return KV_FLOW_E_NOT_FOUND;
        }
        memset(&jp, 0, sizeof jp);
        snprintf(jp.reference, sizeof jp.reference, "%s", reference);
        snprintf(jp.store_id, sizeof jp.store_id, "%s", origin->id);
        snprintf(jp.msn, sizeof jp.msn, "%s", origin->msn);
        snprintf(jp.till_id, sizeof jp.till_id, "%s", kv_config_main_get(f->cfg)->till_id);
        snprintf(jp.flow, sizeof jp.flow, "imported");
        snprintf(jp.currency, sizeof jp.currency, "%s", origin->currency);
        jp.state = KV_PAY_DONE;
        snprintf(jp.reason, sizeof jp.reason, "imported for a refund");
        kv_vipps_client *c = NULL;
        kv_flow_status st = client_for(f, &c, origin, out);
        if (st)
            return st;
        kv_vipps_payment g;
        kv_vipps_status gs = kv_vipps_get(&g, c, reference);
        if (gs != KV_VIPPS_OK) {
            api_msg(out, c, "refund: read the payment");
            kv_vipps_client_destroy(c);
            return gs == KV_VIPPS_E_NOT_FOUND ? KV_FLOW_E_NOT_FOUND : KV_FLOW_E_SERVICE;
        }
        kv_vipps_client_destroy(c);
        jp.amount = g.amount;
        snprintf(jp.currency, sizeof jp.currency, "%s", g.currency[0] ? g.currency : origin->currency);
        absorb(&jp, &g);
        if (kv_journal_add_payment(f->j, &jp) != KV_J_OK)
            return jfail(out, "import");
    }
    opctx x;
    kv_flow_status st = op_open(f, &x, reference, out);
    if (st)
        return st;
    const kv_store *origin = x.s;
    if (strcmp(origin->id, till->id) != 0 && (!origin->chain[0] || strcmp(origin->chain, till->chain) != 0)) {
        setmsg(out->detail, sizeof out->detail, "payment %s belongs to store %s, which is not in the chain of store %s",
               reference, origin->id, till->id);
        st = KV_FLOW_E_REFUSED;
        goto out;
    }
    kv_vipps_payment g;
    if (api_get(x.c, &x.p, reference, &g) != KV_VIPPS_OK) {
        api_msg(out, x.c, "refund: read state");
        st = KV_FLOW_E_SERVICE;
        goto out;
    }
    absorb(&x.p, &g);
    int64_t left = g.captured - g.refunded;
    kv_journal_op pend;
    int64_t amt = amount_minor ? amount_minor : left;
    /* a refund journaled but unanswered: resend it with its key first */
    if (kv_journal_op_last(f->j, &pend, reference, KV_OP_REFUND) == KV_J_OK && pend.result == KV_OPR_PENDING &&
        pend.amount != amt) {
        setmsg(out->detail, sizeof out->detail,
               "an earlier refund of %lld on %s has no answer yet; repeat it with --amount of that value first",
               (long long)pend.amount, reference);
        st = KV_FLOW_E_REFUSED;
        goto out;
    }
    int resend = kv_journal_op_last(f->j, &pend, reference, KV_OP_REFUND) == KV_J_OK &&
                 pend.result == KV_OPR_PENDING && pend.amount == amt;
    if (!resend && (amt <= 0 || amt > left)) {
        char a[32], l[32];
        kv_flow_format_amount(a, sizeof a, amt);
        kv_flow_format_amount(l, sizeof l, left);
        setmsg(out->detail, sizeof out->detail, "refund of %s refused: only %s %s is left (captured minus refunded)", a, l,
               x.p.currency);
        setmsg(out->cashier, sizeof out->cashier, "At most %s can be refunded", l);
        st = KV_FLOW_E_REFUSED;
        goto out;
    }
    kv_journal_op op;
    if (kv_journal_op_begin(f->j, &op, reference, KV_OP_REFUND, amt) != KV_J_OK) {
        st = jfail(out, "refund key");
        goto out;
    }
    kv_vipps_modification mod;
    kv_vipps_status vs = api_refund(x.c, &x.p, amt, op.idem_key, &mod);
    crash_point(f, "refunded");
    if (vs != KV_VIPPS_OK) {
        kv_journal_op_finish(f->j, op.id, vs == KV_VIPPS_E_API ? KV_OPR_REJECTED : KV_OPR_PENDING);
        api_msg(out, x.c, "refund");
        st = vs == KV_VIPPS_E_API ? KV_FLOW_E_REFUSED : KV_FLOW_E_UNKNOWN;
        goto out;
    }
    kv_journal_op_finish(f->j, op.id, KV_OPR_OK);
    absorb(&x.p, &mod);
    save(f, &x.p, x.p.state, "refunded");
    {
        kv_escpos *e = new_encoder(till);
        if (e) {
            char tt[32];
            time_text(tt, sizeof tt, time(NULL));
            kv_refund_spec rs = { .store = { till->name, till->address, till->org_number },
                                  .origin_store = origin != till ? origin->name : NULL, .lang = store_lang(till),
                                  .currency = x.p.currency, .amount = amt, .refunded_total = x.p.refunded,
                                  .captured = x.p.captured, .reference = reference,
                                  .psp_reference = x.p.psp_reference, .time_text = tt,
                                  .till_id = kv_config_main_get(f->cfg)->till_id };
            if (kv_refund_write(e, &rs) == KV_ESCPOS_OK) {
                size_t len = 0;
                const uint8_t *d = kv_escpos_data(e, &len);
                char msg[256];
                if (print_bytes(f, 0, reference, KV_DOC_REFUND, 0, till->printer, d, len, out->receipt_path,
                                sizeof out->receipt_path, msg, sizeof msg) != 0)
                    setmsg(out->detail, sizeof out->detail, "refunded; the refund slip was not printed: %s", msg);
            }
            kv_escpos_destroy(e);
        }
    }
    {
        char a[32];
        kv_flow_format_amount(a, sizeof a, amt);
        setmsg(out->cashier, sizeof out->cashier, "Refunded %s %s", a, x.p.currency);
    }
    st = KV_FLOW_OK;
out:
    op_close(f, &x, out);
    return st;
}

kv_flow_status kv_flow_reprint(kv_flow *f, kv_flow_result *out, const char *reference)
{
    op_args oa;
    out = op_begin(&oa, out, &reference);
    if (!f || !reference)
        return KV_FLOW_E_INPUT;
    kv_payment p;
    if (kv_journal_get_payment(f->j, &p, reference) != KV_J_OK) {
        setmsg(out->detail, sizeof out->detail, "no payment %s in the journal", reference);
        return KV_FLOW_E_NOT_FOUND;
    }
    out->payment = p;
    int rc;
    if (p.state == KV_PAY_DONE || p.state == KV_PAY_CAPTURED || p.captured > 0) {
        rc = print_receipt(f, &p, 1, NULL, out);
    } else if (p.state == KV_PAY_NOT_PAID || p.state == KV_PAY_CANCELLED) {
        kv_not_paid_reason r = strcmp(p.reason, "ABORTED") == 0 ? KV_NP_ABORTED
                             : strcmp(p.reason, "EXPIRED") == 0 ? KV_NP_EXPIRED
                             : p.state == KV_PAY_CANCELLED ? KV_NP_CANCELLED : KV_NP_OTHER;
        rc = print_not_paid(f, &p, r, NULL, 1, out);
        if (rc)
            setmsg(out->detail, sizeof out->detail, "the printer did not take the slip");
    } else {
        setmsg(out->detail, sizeof out->detail, "payment %s is %s: nothing to reprint yet", reference,
               kv_pay_state_name(p.state));
        return KV_FLOW_E_REFUSED;
    }
    return rc ? KV_FLOW_E_PRINTER : KV_FLOW_OK;
}

kv_flow_status kv_flow_find(kv_flow *f, kv_payment **rows, size_t *n, const kv_journal_query *q)
{
    if (!f || !rows || !n)
        return KV_FLOW_E_INPUT;
    kv_journal_status js = kv_journal_find(f->j, rows, n, q);
    return js == KV_J_OK ? KV_FLOW_OK : js == KV_J_E_NOMEM ? KV_FLOW_E_NOMEM : KV_FLOW_E_JOURNAL;
}
