/* flow_receipt.c - the receipt in the app: built from the payment's items,
 * carried in the ePayment create, or sent through the journaled Order
 * Management outbox (eCom) and retried until the service has it.
 *
 * The outbox: kv__flow_om_enqueue adds one row per payment (never a
 * second: a receipt is immutable at Vipps) and tries at once; a failure
 * leaves it PENDING with a back-off (30 s doubling to 6 h), retried by a
 * background thread of the flow handle while the process lives (the
 * daemon), and by `kvitt recover` regardless of the back-off.  A 409
 * ("already exists") counts as delivered: an earlier attempt whose answer
 * was lost stored it.
 *
 * Order Management is production-only on the real service.  [kvitt]
 * order_management = on | off | auto (default auto): auto sends except in
 * environment = test, where the row is SKIPPED with the reason; a
 * simulator base URL counts as production (it implements the API). */
#include "src/flow/flow_int.h"

#include <sys/time.h>

#define OM_BACKOFF_FIRST_S 30
#define OM_BACKOFF_MAX_S (6 * 3600)

int kv__flow_receipt_build(app_receipt *o, const kv_payment *p, int64_t total)
{
    memset(o, 0, sizeof *o);
    char ierr[200];
    if (!p->items_json[0] || kv__flow_parse_items(&o->it, p->items_json, ierr, sizeof ierr) || !o->it.n) {
        cJSON_Delete(o->it.root);
        o->it.root = NULL;
        return -1;
    }
    int64_t sum = 0;
    for (size_t i = 0; i < o->it.n; i++) {
        const kv_doc_item *d = &o->it.items[i];
        int64_t tot = d->quantity * d->unit_price;
        int64_t tax = (tot * d->vat_bp * 2 + (10000 + d->vat_bp)) / (2 * (10000 + d->vat_bp));
        snprintf(o->ids[i], sizeof o->ids[i], "%zu", i + 1);
        snprintf(o->qty[i], sizeof o->qty[i], "%lld", (long long)d->quantity);
        o->lines[i] = (kv_vipps_order_line){ .id = o->ids[i], .name = d->name, .total_amount = tot,
                                             .total_amount_excl_tax = tot - tax, .total_tax_amount = tax,
                                             .tax_rate = d->vat_bp, .unit_price = d->unit_price,
                                             .quantity = o->qty[i] };
        sum += tot;
    }
    if (sum != total) {
        /* the lines no longer add up (amount changed): no receipt rather
         * than a wrong one */
        kv__flow_receipt_free(o);
        return -1;
    }
    o->r = (kv_vipps_receipt){ .lines = o->lines, .n_lines = o->it.n, .currency = p->currency,
                               .pos_id = p->till_id, .receipt_number = p->reference };
    return 0;
}

void kv__flow_receipt_free(app_receipt *o)
{
    cJSON_Delete(o->it.root);
    o->it.root = NULL;
}

int kv__flow_om_mode_check(const kv_config *cfg, char *err, size_t errlen)
{
    const char *v = kv_config_get(cfg, "kvitt", "order_management");
    if (!v || !strcmp(v, "on") || !strcmp(v, "off") || !strcmp(v, "auto"))
        return 0;
    setmsg(err, errlen, "[kvitt] order_management = %.40s: use on, off or auto", v);
    return -1;
}

/* 1 when receipts go to Order Management; 0 with the reason in why. */
static int om_enabled(kv_flow *f, char *why, size_t len)
{
    const char *v = kv_config_get(f->cfg, "kvitt", "order_management");
    if (v && !strcmp(v, "on"))
        return 1;
    if (v && !strcmp(v, "off")) {
        setmsg(why, len, "skipped: order_management = off");
        return 0;
    }
    if (!strcmp(kv_config_main_get(f->cfg)->environment, "test")) {
        setmsg(why, len, "skipped: test environment (Order Management is production-only; "
                         "order_management = on sends anyway)");
        return 0;
    }
    return 1;
}

static int64_t backoff_s(int attempts)
{
    int64_t s = OM_BACKOFF_FIRST_S;
    for (int i = 1; i < attempts && s < OM_BACKOFF_MAX_S; i++)
        s *= 2;
    return s < OM_BACKOFF_MAX_S ? s : OM_BACKOFF_MAX_S;
}

/* Send one PENDING entry with client c (the payment's lock held).
 * Returns 1 delivered/skipped, 0 still pending. */
static int om_send(kv_flow *f, kv_vipps_client *c, const kv_om_entry *e)
{
    kv_payment p;
    if (kv_journal_get_payment(f->j, &p, e->reference) != KV_J_OK)
        return 0;
    char why[200];
    if (!om_enabled(f, why, sizeof why)) {
        kv_journal_om_set(f->j, e->reference, KV_OM_SKIPPED, e->attempts, 0, why);
        return 1;
    }
    app_receipt ar;
    if (kv__flow_receipt_build(&ar, &p, p.captured > 0 ? p.captured : p.amount) != 0) {
        kv_journal_om_set(f->j, e->reference, KV_OM_SKIPPED, e->attempts, 0,
                          "skipped: no items that add up to the captured amount");
        return 1;
    }
    kv_vipps_status vs = kv_vipps_om_add_receipt(c, p.reference, &ar.r);
    kv__flow_receipt_free(&ar);
    const kv_vipps_error *err = kv_vipps_last_error(c);
    int attempts = e->attempts + 1;
    if (vs == KV_VIPPS_OK || (err && err->cls == KV_VIPPS_ERR_CONFLICT)) {
        kv_journal_om_set(f->j, e->reference, KV_OM_DELIVERED, attempts, 0,
                          vs == KV_VIPPS_OK ? "accepted" : "accepted earlier (409: the receipt already exists)");
        kv__flow_emit(f, KV_FEV_MESSAGE, p.reference, p.state, -1, "receipt in the app sent");
        return 1;
    }
    char detail[256];
    setmsg(detail, sizeof detail, "%s", err && err->log[0] ? err->log : "not sent");
    kv_journal_om_set(f->j, e->reference, KV_OM_PENDING, attempts, (int64_t)time(NULL) + backoff_s(attempts),
                      detail);
    kv__flow_emit(f, KV_FEV_MESSAGE, p.reference, p.state, -1,
                  "the receipt in the app (Order Management) is queued: it will be sent again");
    return 0;
}

/* ---- the retry thread ------------------------------------------------ */

static void *om_main(void *arg)
{
    kv_flow *f = arg;
    for (;;) {
        kv_om_entry *rows = NULL;
        size_t n = 0;
        int64_t next = 0;
        if (kv_journal_om_due(f->j, INT64_MAX, &rows, &n) == KV_J_OK)
            for (size_t i = 0; i < n; i++)
                if (!next || rows[i].next_at < next)
                    next = rows[i].next_at;
        free(rows);
        pthread_mutex_lock(&f->mu);
        if (!n || f->om_stop) {
            f->om_running = 0;
            pthread_mutex_unlock(&f->mu);
            return NULL;
        }
        /* sleep until the next entry is due (woken by close) */
        while (!f->om_stop && time(NULL) < next) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&f->cv, &f->mu, &ts);
        }
        int stop = f->om_stop;
        pthread_mutex_unlock(&f->mu);
        if (stop)
            continue;
        kv__flow_om_run(f, 0, NULL, NULL);
    }
}

static void om_thread_start(kv_flow *f)
{
    pthread_mutex_lock(&f->mu);
    if (!f->om_running && !f->om_stop) {
        if (f->om_joinable) {
            /* a thread that ended by itself: reap it before the next */
            pthread_mutex_unlock(&f->mu);
            pthread_join(f->om_thread, NULL);
            pthread_mutex_lock(&f->mu);
            f->om_joinable = 0;
        }
        if (!f->om_running && pthread_create(&f->om_thread, NULL, om_main, f) == 0) {
            f->om_running = 1;
            f->om_joinable = 1;
        }
    }
    pthread_mutex_unlock(&f->mu);
}

void kv__flow_om_stop(kv_flow *f)
{
    pthread_mutex_lock(&f->mu);
    f->om_stop = 1;
    pthread_cond_broadcast(&f->cv);
    int join = f->om_joinable;
    f->om_joinable = 0;
    pthread_mutex_unlock(&f->mu);
    if (join)
        pthread_join(f->om_thread, NULL);
}

/* ---- entry points ---------------------------------------------------- */

void kv__flow_om_enqueue(kv_flow *f, kv_vipps_client *c, const kv_payment *p)
{
    if (!p->items_json[0])
        return;
    if (kv_journal_om_add(f->j, p->reference, p->store_id) != KV_J_OK) {
        kv__flow_emit(f, KV_FEV_MESSAGE, p->reference, p->state, -1,
                      "the receipt in the app could not be journaled");
        return;
    }
    kv_om_entry e;
    if (kv_journal_om_get(f->j, &e, p->reference) != KV_J_OK || e.state != KV_OM_PENDING)
        return;
    if (!om_send(f, c, &e))
        om_thread_start(f);
}

void kv__flow_om_run(kv_flow *f, int force, int *delivered, int *pending)
{
    kv_om_entry *rows = NULL;
    size_t n = 0;
    int d = 0, left = 0;
    if (kv_journal_om_due(f->j, force ? INT64_MAX : (int64_t)time(NULL), &rows, &n) == KV_J_OK) {
        for (size_t i = 0; i < n; i++) {
            if (kv__flow_lock_ref(f, rows[i].reference, 1)) {
                left++; /* a payment step holds it: next round */
                continue;
            }
            kv_payment p;
            const kv_store *s = NULL;
            kv_vipps_client *c = NULL;
            kv_om_entry e;
            int done = 0;
            if (kv_journal_om_get(f->j, &e, rows[i].reference) == KV_J_OK && e.state != KV_OM_PENDING) {
                done = 1; /* another process sent it meanwhile */
            } else if (kv_journal_get_payment(f->j, &p, rows[i].reference) == KV_J_OK &&
                       (s = kv__flow_store_of(f, &p)) && kv__flow_client_for(f, &c, s, NULL) == KV_FLOW_OK) {
                done = om_send(f, c, &e);
                d += done;
            }
            kv_vipps_client_destroy(c);
            kv__flow_unlock_ref(f, rows[i].reference);
            if (!done)
                left++;
        }
        free(rows);
    }
    if (delivered)
        *delivered = d;
    if (pending)
        *pending = left;
}
