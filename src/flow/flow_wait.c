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
    out = kv__flow_op_begin(&oa, out, &reference);
    if (!f || !reference)
        return KV_FLOW_E_INPUT;
    kv_payment p;
    if (kv_journal_get_payment(f->j, &p, reference) != KV_J_OK)
        return KV_FLOW_E_NOT_FOUND;
    const kv_store *s = kv__flow_store_of(f, &p);
    if (!s)
        return KV_FLOW_E_CONFIG;
    const kv_config_main *m = kv_config_main_get(f->cfg);
    if (timeout_s <= 0)
        timeout_s = m->payment_timeout_s;
    waiter *w = add_waiter(f, reference);
    if (!w)
        return KV_FLOW_E_NOMEM;
    if (kv__flow_lock_ref(f, reference, 0)) {
        del_waiter(f, w);
        return KV_FLOW_E_NOMEM;
    }
    kv_vipps_client *c = NULL;
    kv_flow_status st = kv__flow_client_for(f, &c, s, out);
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
            kv__flow_emit(f, KV_FEV_TICK, reference, KV_PAY_WAITING, (int)((deadline - now + 999) / 1000), "");
            next_tick = now + 1000;
        }
        int64_t until = next_poll < next_tick ? next_poll : next_tick;
        if (deadline < until)
            until = deadline;
        int why = nap(f, w, until);
        now = now_ms();
        if (why == 2 || now >= deadline) {
            kv__flow_emit(f, KV_FEV_MESSAGE, reference, KV_PAY_WAITING, 0, why == 2 ? "cancelled at the till" : "timed out");
            st = kv__flow_give_up_locked(f, c, &p, out);
            break;
        }
        if (why != 1 && why != 3 && now < next_poll)
            continue;
        if (first) {
            kv__flow_crash_point(f, "waiting");
            first = 0;
        }
        if (why == 3) {
            /* The daemon verified the webhook's HMAC before recording it, so
             * capture at once instead of reading the payment first: the
             * receipt comes a round trip sooner.  The capture is its own
             * check (Vipps refuses to capture what is not authorized, and
             * finish_sale then reads the payment back); its key is
             * journaled first like every capture. */
            kv__flow_emit(f, KV_FEV_MESSAGE, reference, KV_PAY_WAITING, -1, "authorized (webhook)");
            st = kv__flow_finish_sale(f, c, &p, 0, out);
            break;
        }
        kv_vipps_payment g;
        /* A poll never sleeps (Retry-After, backoff) past the payment's end. */
        long left = (long)(deadline - now_ms());
        kv_vipps_set_deadline_in(c, left > 0 ? left : -1);
        kv_vipps_status gs = kv__flow_api_get(c, &p, reference, &g);
        kv_vipps_set_deadline_in(c, 0);
        int interval = m->poll_interval_ms;
        if (gs != KV_VIPPS_OK) {
            const kv_vipps_error *e = kv_vipps_last_error(c);
            if (e && e->retry_after_s > 0)
                interval = (int)e->retry_after_s * 1000;
            else if (e && e->cls == KV_VIPPS_ERR_RATE_LIMITED)
                interval *= 2;
            kv__flow_emit(f, KV_FEV_MESSAGE, reference, KV_PAY_WAITING, -1, e ? e->cashier : "poll failed");
            next_poll = now_ms() + interval;
            continue;
        }
        kv__flow_absorb(&p, &g);
        if (g.state == KV_VIPPS_STATE_AUTHORIZED) {
            st = kv__flow_finish_sale(f, c, &p, 0, out);
            break;
        }
        if (kv_vipps_state_final(g.state)) {
            st = kv__flow_not_paid(f, c, &p, g.state, out);
            break;
        }
        next_poll = now_ms() + interval;
    }
done:
    kv__flow_fill(f, out, reference);
    kv__flow_unlock_ref(f, reference);
    del_waiter(f, w);
    kv_vipps_client_destroy(c);
    if (st == KV_FLOW_OK && !out->cashier[0])
        setmsg(out->cashier, sizeof out->cashier, "%s", kv_doc_paid_with(kv__flow_store_lang(s)));
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
