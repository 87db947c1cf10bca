/* flow_wait.c - waiting for the customer: waiters, notify, abort, webhooks. */
#include "src/flow/flow_int.h"

#include <sys/time.h>

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int stopped(kv_flow *f)
{
    return f->opts.stop && *f->opts.stop;
}

/* ---------------------------------------------------------------- */
/* wait                                                              */

static size_t bucket(const char *ref)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *q = (const unsigned char *)ref; *q; q++)
        h = (h ^ *q) * 16777619u;
    return h & (KV_FLOW_WAIT_BUCKETS - 1);
}

static void add_waiter(kv_flow *f, waiter *w)
{
    size_t b = bucket(w->ref);
    pthread_mutex_lock(&f->mu);
    w->next = f->waiters[b];
    f->waiters[b] = w;
    w->registered = 1;
    pthread_mutex_unlock(&f->mu);
}

static void del_waiter(kv_flow *f, waiter *w)
{
    if (!w->registered)
        return;
    pthread_mutex_lock(&f->mu);
    for (waiter **pp = &f->waiters[bucket(w->ref)]; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    w->registered = 0;
    pthread_mutex_unlock(&f->mu);
}

/* Wake one waiter (f->mu held). */
static void wake_locked(waiter *w)
{
    w->wakeups++;
    if (w->wake)
        w->wake(w->wake_user);
    else
        pthread_cond_signal(&w->cv);
}

/* Apply fn to the waiters of reference (f->mu held); returns how many. */
static int for_ref(kv_flow *f, const char *reference, void (*fn)(waiter *w))
{
    int n = 0;
    for (waiter *w = f->waiters[bucket(reference)]; w; w = w->next) {
        if (strcmp(w->ref, reference) == 0) {
            fn(w);
            wake_locked(w);
            n++;
        }
    }
    return n;
}

static void set_notified(waiter *w) { w->notified = 1; }
static void set_abort(waiter *w) { w->abort = 1; }
static void set_authorized(waiter *w) { w->notified = w->authorized = 1; }

void kv_flow_notify(kv_flow *f, const char *reference)
{
    if (!f || !reference)
        return;
    pthread_mutex_lock(&f->mu);
    for_ref(f, reference, set_notified);
    pthread_mutex_unlock(&f->mu);
}

kv_flow_status kv_flow_abort(kv_flow *f, const char *reference)
{
    if (!f || !reference)
        return KV_FLOW_E_NOT_FOUND;
    pthread_mutex_lock(&f->mu);
    int found = for_ref(f, reference, set_abort);
    pthread_mutex_unlock(&f->mu);
    return found ? KV_FLOW_OK : KV_FLOW_E_NOT_FOUND;
}

uint64_t kv_flow_wakeups(kv_flow *f, const char *reference)
{
    uint64_t n = 0;
    if (!f || !reference)
        return 0;
    pthread_mutex_lock(&f->mu);
    for (waiter *w = f->waiters[bucket(reference)]; w; w = w->next)
        if (strcmp(w->ref, reference) == 0)
            n += w->wakeups;
    pthread_mutex_unlock(&f->mu);
    return n;
}

void kv_flow_waiter_close(kv_flow_waiter *w)
{
    if (!w)
        return;
    del_waiter(w->f, w);
    if (w->locked)
        kv__flow_unlock_ref(w->f, w->ref);
    kv_vipps_client_destroy(w->c);
    pthread_cond_destroy(&w->cv);
    free(w);
}

kv_flow_status kv_flow_waiter_open(kv_flow *f, kv_flow_waiter **out, kv_flow_result *res,
                                   const char *reference, int timeout_s, kv_flow_wake_fn wake,
                                   void *user)
{
    op_args oa;
    res = kv__flow_op_begin(&oa, res, &reference);
    if (!f || !reference || !out)
        return KV_FLOW_E_INPUT;
    *out = NULL;
    kv_payment p;
    if (kv_journal_get_payment(f->j, &p, reference) != KV_J_OK)
        return KV_FLOW_E_NOT_FOUND;
    const kv_store *s = kv__flow_store_of(f, &p);
    if (!s)
        return KV_FLOW_E_CONFIG;
    const kv_config_main *m = kv_config_main_get(f->cfg);
    if (timeout_s <= 0)
        timeout_s = m->payment_timeout_s;
    waiter *w = calloc(1, sizeof *w);
    if (!w)
        return KV_FLOW_E_NOMEM;
    snprintf(w->ref, sizeof w->ref, "%s", reference);
    w->f = f;
    w->s = s;
    w->wake = wake;
    w->wake_user = user;
    pthread_cond_init(&w->cv, NULL);
    /* registered before the lock: a webhook that comes while another
     * operation still holds the payment is not lost */
    add_waiter(f, w);
    if (kv__flow_lock_ref(f, reference, 0)) {
        kv_flow_waiter_close(w);
        return KV_FLOW_E_NOMEM;
    }
    w->locked = 1;
    kv_flow_status st = kv__flow_client_for(f, &w->c, s, res);
    if (st == KV_FLOW_OK) {
        kv_journal_get_payment(f->j, &w->p, reference);
        if (w->p.state != KV_PAY_WAITING) {
            setmsg(res->detail, sizeof res->detail, "payment %s is %s, not waiting", reference,
                   kv_pay_state_name(w->p.state));
            st = kv_pay_state_final(w->p.state) ? (w->p.state == KV_PAY_DONE ? KV_FLOW_OK : KV_FLOW_E_NOT_PAID)
                                                : KV_FLOW_E_REFUSED;
            kv__flow_fill(f, res, reference);
            kv_flow_waiter_close(w);
            return st;
        }
    }
    if (st) {
        kv__flow_fill(f, res, reference);
        kv_flow_waiter_close(w);
        return st;
    }
    int64_t start = now_ms();
    w->deadline = start + (int64_t)timeout_s * 1000;
    w->next_poll = start + (int64_t)m->poll_first_s * 1000;
    w->next_tick = start;
    w->first = 1;
    *out = w;
    return KV_FLOW_OK;
}

/* The wait is over: fill the result (the payment as journaled). */
static int finished(waiter *w, kv_flow_result *out, kv_flow_status st, kv_flow_status *stp)
{
    kv__flow_fill(w->f, out, w->ref);
    if (st == KV_FLOW_OK && !out->cashier[0])
        setmsg(out->cashier, sizeof out->cashier, "%s", kv_doc_paid_with(kv__flow_store_lang(w->s)));
    *stp = st;
    return 1;
}

int kv_flow_waiter_step(kv_flow_waiter *w, kv_flow_result *out, kv_flow_status *stp,
                        int64_t *next_ms)
{
    kv_flow *f = w->f;
    const kv_config_main *m = kv_config_main_get(f->cfg);
    kv_flow_result dummy;
    if (!out)
        out = &dummy;
    for (;;) {
        int64_t now = now_ms();
        if (now >= w->next_tick) {
            kv__flow_emit(f, KV_FEV_TICK, w->ref, KV_PAY_WAITING, (int)((w->deadline - now + 999) / 1000), "");
            w->next_tick = now + 1000;
        }
        pthread_mutex_lock(&f->mu);
        int why = w->abort || stopped(f) ? 2 : w->notified ? (w->authorized ? 3 : 1) : 0;
        if (why == 1 || why == 3)
            w->notified = w->authorized = 0;
        pthread_mutex_unlock(&f->mu);
        if (why == 2 || now >= w->deadline) {
            kv__flow_emit(f, KV_FEV_MESSAGE, w->ref, KV_PAY_WAITING, 0,
                          why == 2 ? "cancelled at the till" : "timed out");
            return finished(w, out, kv__flow_give_up_locked(f, w->c, &w->p, out), stp);
        }
        if (why == 0 && now < w->next_poll) {
            int64_t until = w->next_poll < w->next_tick ? w->next_poll : w->next_tick;
            *next_ms = w->deadline < until ? w->deadline : until;
            return 0;
        }
        if (w->first) {
            kv__flow_crash_point(f, "waiting");
            w->first = 0;
        }
        if (why == 3) {
            /* The daemon verified the webhook's HMAC before recording it, so
             * capture at once instead of reading the payment first: the
             * receipt comes a round trip sooner.  The capture is its own
             * check (Vipps refuses to capture what is not authorized, and
             * finish_sale then reads the payment back); its key is
             * journaled first like every capture. */
            kv__flow_emit(f, KV_FEV_MESSAGE, w->ref, KV_PAY_WAITING, -1, "authorized (webhook)");
            return finished(w, out, kv__flow_finish_sale(f, w->c, &w->p, 0, out), stp);
        }
        kv_vipps_payment g;
        /* A poll never sleeps (Retry-After, backoff) past the payment's end. */
        long left = (long)(w->deadline - now_ms());
        kv_vipps_set_deadline_in(w->c, left > 0 ? left : -1);
        kv_vipps_status gs = kv__flow_api_get(w->c, &w->p, w->ref, &g);
        kv_vipps_set_deadline_in(w->c, 0);
        int interval = m->poll_interval_ms;
        if (gs != KV_VIPPS_OK) {
            const kv_vipps_error *e = kv_vipps_last_error(w->c);
            if (e && e->retry_after_s > 0)
                interval = (int)e->retry_after_s * 1000;
            else if (e && e->cls == KV_VIPPS_ERR_RATE_LIMITED)
                interval *= 2;
            kv__flow_emit(f, KV_FEV_MESSAGE, w->ref, KV_PAY_WAITING, -1, e ? e->cashier : "poll failed");
            w->next_poll = now_ms() + interval;
            continue;
        }
        kv__flow_absorb(&w->p, &g);
        if (g.state == KV_VIPPS_STATE_AUTHORIZED)
            return finished(w, out, kv__flow_finish_sale(f, w->c, &w->p, 0, out), stp);
        if (kv_vipps_state_final(g.state))
            return finished(w, out, kv__flow_not_paid(f, w->c, &w->p, g.state, out), stp);
        w->next_poll = now_ms() + interval;
    }
}

kv_flow_status kv_flow_wait(kv_flow *f, kv_flow_result *out, const char *reference, int timeout_s)
{
    op_args oa;
    out = kv__flow_op_begin(&oa, out, &reference);
    waiter *w = NULL;
    kv_flow_status st = kv_flow_waiter_open(f, &w, out, reference, timeout_s, NULL, NULL);
    if (!w)
        return st;
    int64_t next_ms = 0;
    while (!kv_flow_waiter_step(w, out, &st, &next_ms)) {
        /* sleep on this waiter's own condition variable until the step is
         * due or an event for this reference comes; a stop flag set by a
         * signal handler cannot signal it: then look every 100 ms */
        pthread_mutex_lock(&f->mu);
        while (!w->notified && !w->abort && !stopped(f)) {
            int64_t now = now_ms();
            if (now >= next_ms)
                break;
            int64_t until = next_ms;
            if (f->opts.stop && until - now > 100)
                until = now + 100;
            struct timespec ts = { (time_t)(until / 1000), (long)(until % 1000) * 1000000L };
            pthread_cond_timedwait(&w->cv, &f->mu, &ts);
        }
        pthread_mutex_unlock(&f->mu);
    }
    kv_flow_waiter_close(w);
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
    out = kv__flow_op_begin(&oa, out, &reference);
    if (!f || !reference)
        return KV_FLOW_E_INPUT;
    if (kv_flow_abort(f, reference) == KV_FLOW_OK) {
        /* a waiter will do it; wait for it to finish */
        kv__flow_lock_ref(f, reference, 0);
        kv__flow_unlock_ref(f, reference);
        kv__flow_fill(f, out, reference);
        return kv_pay_state_final(out->payment.state)
                   ? (out->payment.state == KV_PAY_DONE ? KV_FLOW_OK : KV_FLOW_E_NOT_PAID)
                   : KV_FLOW_E_UNKNOWN;
    }
    kv_payment p;
    if (kv_journal_get_payment(f->j, &p, reference) != KV_J_OK)
        return KV_FLOW_E_NOT_FOUND;
    const kv_store *s = kv__flow_store_of(f, &p);
    if (!s)
        return KV_FLOW_E_CONFIG;
    if (kv__flow_lock_ref(f, reference, 0))
        return KV_FLOW_E_NOMEM;
    kv_vipps_client *c = NULL;
    kv_flow_status st = kv__flow_client_for(f, &c, s, out);
    if (!st) {
        kv_journal_get_payment(f->j, &p, reference);
        st = kv__flow_give_up_locked(f, c, &p, out);
    }
    kv__flow_fill(f, out, reference);
    kv__flow_unlock_ref(f, reference);
    kv_vipps_client_destroy(c);
    return st;
}

kv_flow_status kv_flow_record_webhook(kv_flow *f, const char *reference, const char *event_name, const char *body)
{
    if (!f || !reference || !event_name)
        return KV_FLOW_E_INPUT;
    if (kv_journal_add_event(f->j, reference, event_name, body ? body : "") != KV_J_OK)
        return KV_FLOW_E_JOURNAL;
    /* ePayment's AUTHORIZED event, eCom's RESERVED callback status.  An
     * event that says "success": false (a declined authorization) moves
     * nothing: it only wakes the waiter, which reads the payment. */
    int authorized = !strcmp(event_name, "AUTHORIZED") || !strcmp(event_name, "ecom.RESERVED") ||
                     !strcmp(event_name, "ecom.RESERVE");
    if (authorized && body && *body) {
        cJSON *o = cJSON_Parse(body);
        const cJSON *ok = cJSON_GetObjectItemCaseSensitive(o, "success");
        if (!o || (ok && !cJSON_IsTrue(ok)))
            authorized = 0;
        cJSON_Delete(o);
    }
    pthread_mutex_lock(&f->mu);
    for_ref(f, reference, authorized ? set_authorized : set_notified);
    pthread_mutex_unlock(&f->mu);
    return KV_FLOW_OK;
}
