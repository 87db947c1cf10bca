/* flow_recover.c - finishing what a crash or an outage left unfinished. */
#include "src/flow/flow_int.h"

/* ---------------------------------------------------------------- */
/* recover                                                           */

/* The result an event log entry gives an operation: 1 OK, 0 rejected, -1
 * not in the log. */
static int op_in_events(const kv_vipps_event *ev, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (ev[i].idempotency_key[0] && !strcmp(ev[i].idempotency_key, key))
            return ev[i].success ? 1 : 0;
    return -1;
}

/* From the amounts and state alone (eCom, or no event log). */
static int op_from_state(const kv_journal_op *op, const kv_payment *p, const kv_vipps_payment *g)
{
    if (op->kind == KV_OP_CAPTURE)
        return g->captured >= p->amount ? 1 : g->state != KV_VIPPS_STATE_AUTHORIZED ? 0 : -1;
    if (g->state == KV_VIPPS_STATE_TERMINATED || g->cancelled > 0)
        return 1;
    return g->captured > 0 || g->state == KV_VIPPS_STATE_ABORTED || g->state == KV_VIPPS_STATE_EXPIRED ? 0 : -1;
}

void kv__flow_settle_ops(kv_flow *f, kv_vipps_client *c, const kv_payment *p, const kv_vipps_payment *g)
{
    static const kv_op_kind kinds[] = { KV_OP_CAPTURE, KV_OP_CANCEL };
    kv_vipps_event *ev = NULL;
    size_t nev = 0;
    int have_events = -1; /* read the log once, on the first pending op */
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        kv_journal_op *ops = NULL;
        size_t n = 0;
        if (kv_journal_ops_pending(f->j, &ops, &n, kinds[k]) != KV_J_OK)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(ops[i].reference, p->reference) != 0)
                continue;
            if (have_events < 0)
                have_events = !kv__flow_is_ecom(p) && kv_vipps_events(&ev, &nev, c, p->reference) == KV_VIPPS_OK;
            int r = have_events ? op_in_events(ev, nev, ops[i].idem_key) : -1;
            if (r < 0)
                r = op_from_state(&ops[i], p, g);
            if (r >= 0)
                kv_journal_op_finish(f->j, ops[i].id, r ? KV_OPR_OK : KV_OPR_REJECTED);
        }
        free(ops);
    }
    kv_vipps_events_free(ev);
}

/* Resolve one unfinished payment (lock held).  *resumed: the seconds
 * left when it was resumed (kv_flow_set_resume) and now waits, else 0. */
static kv_flow_status resolve(kv_flow *f, kv_payment *p, kv_recover_report *rep, kv_flow_result *out, int *resumed)
{
    const kv_store *s = kv__flow_store_of(f, p);
    if (!s) {
        setmsg(out->detail, sizeof out->detail, "store %s is not configured", p->store_id);
        return KV_FLOW_E_CONFIG;
    }
    kv_print_job pj;
    /* a COPY only when a complete receipt may be on paper: every byte went
     * out (SENT or CONFIRMED); a job cut short (FAILED) or never sent
     * (QUEUED) left no whole receipt */
    int copy = kv_journal_job_last(f->j, &pj, p->reference, KV_DOC_RECEIPT) == KV_J_OK &&
               (pj.state == KV_PJ_SENT || pj.state == KV_PJ_CONFIRMED);
    if (p->state == KV_PAY_CAPTURED && kv__flow_receipt_by_caller(p)) {
        /* the caller prints the receipt (kvitt proxy: its own recovery
         * releases the held receipt with the outcome) */
        kv__flow_save(f, p, KV_PAY_DONE, "recover: paid; the caller prints the receipt");
        return KV_FLOW_OK;
    }
    if (p->state == KV_PAY_CAPTURED) {
        /* captured: only the receipt is missing */
        kv_flow_result tmp;
        memset(&tmp, 0, sizeof tmp);
        if (kv__flow_print_receipt(f, p, copy, NULL, &tmp) != 0) {
            setmsg(out->detail, sizeof out->detail, "receipt still not printed: %s", tmp.detail);
            return KV_FLOW_E_PRINTER;
        }
        rep->reprinted++;
        kv__flow_save(f, p, KV_PAY_DONE, copy ? "receipt printed by recover (copy)" : "receipt printed by recover");
        return KV_FLOW_OK;
    }
    int resumable = kv__flow_resumable(f, p);
    kv_vipps_client *c = NULL;
    kv_flow_status st = kv__flow_client_for(f, &c, s, out);
    if (st)
        return st;
    /* a create whose answer was lost is read back, never sent again */
    kv_vipps_payment g;
    kv_vipps_status gs = kv__flow_api_get(c, p, p->reference, &g);
    if (gs == KV_VIPPS_E_NOT_FOUND) {
        /* never created: nobody saw a QR code */
        kv_journal_op op;
        if (kv_journal_op_last(f->j, &op, p->reference, KV_OP_CREATE) == KV_J_OK && op.result == KV_OPR_PENDING)
            kv_journal_op_finish(f->j, op.id, KV_OPR_REJECTED);
        snprintf(p->reason, sizeof p->reason, "never created at Vipps");
        kv__flow_save(f, p, KV_PAY_CANCELLED, "recover: not found at Vipps");
        kv_vipps_client_destroy(c);
        return KV_FLOW_OK;
    }
    if (gs != KV_VIPPS_OK) {
        kv__flow_api_msg(out, c, "recover: read state");
        kv_vipps_client_destroy(c);
        return KV_FLOW_E_UNKNOWN;
    }
    kv_journal_op op;
    if (kv_journal_op_last(f->j, &op, p->reference, KV_OP_CREATE) == KV_J_OK && op.result == KV_OPR_PENDING)
        kv_journal_op_finish(f->j, op.id, KV_OPR_OK);
    kv__flow_absorb(p, &g);
    kv__flow_settle_ops(f, c, p, &g);
    if (g.redirect_url[0] && !p->qr_url[0])
        snprintf(p->qr_url, sizeof p->qr_url, "%s", g.redirect_url);
    if (g.state == KV_VIPPS_STATE_AUTHORIZED) {
        if (g.cancelled > 0 && g.captured == 0) {
            snprintf(p->reason, sizeof p->reason, "reservation released");
            kv__flow_save(f, p, KV_PAY_CANCELLED, "recover: released");
            st = KV_FLOW_OK;
        } else {
            int before = kv_journal_op_count(f->j, p->reference, KV_OP_CAPTURE, KV_OPR_OK);
            st = kv__flow_finish_sale(f, c, p, copy, out);
            if (kv_journal_op_count(f->j, p->reference, KV_OP_CAPTURE, KV_OPR_OK) > before)
                rep->captured++;
            if (st == KV_FLOW_OK && p->state == KV_PAY_DONE)
                rep->reprinted++;
            if (st == KV_FLOW_OK && p->state != KV_PAY_DONE)
                st = KV_FLOW_E_PRINTER;
        }
    } else if (g.state == KV_VIPPS_STATE_CREATED && resumable && kv__flow_resume_locked(f, p, resumed)) {
        rep->resumed++;
        st = KV_FLOW_OK;
    } else if (g.state == KV_VIPPS_STATE_CREATED) {
        st = kv__flow_give_up_locked(f, c, p, out);
        if (st == KV_FLOW_E_NOT_PAID)
            st = KV_FLOW_OK;
        if (st == KV_FLOW_OK && p->state == KV_PAY_DONE && out->approved_after_cancel)
            rep->captured++;
    } else {
        /* aborted, expired or cancelled while nobody watched: the customer
         * and the cashier saw a QR slip, so the outcome goes on paper too */
        kv__flow_not_paid(f, c, p, g.state, out);
        st = KV_FLOW_OK;
    }
    kv_vipps_client_destroy(c);
    return st;
}

void kv_flow_set_recover_grace(kv_flow *f, int seconds)
{
    if (f)
        f->recover_grace_s = seconds > 0 ? seconds : 0;
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
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < n; i++) {
        /* see kv_flow_set_recover_grace */
        if (rows[i].state == KV_PAY_WAITING && now - rows[i].updated_at < f->recover_grace_s)
            continue;
        if (kv__flow_lock_ref(f, rows[i].reference, 1))
            continue; /* another thread is working on it */
        kv_payment p;
        int got = kv_journal_get_payment(f->j, &p, rows[i].reference) == KV_J_OK;
        /* the listing is older than the lock: a payment that became
         * WAITING since (started or resumed by a live instance) may be
         * between that instance's lock and its waiter */
        if (got && p.state == KV_PAY_WAITING && (int64_t)time(NULL) - p.updated_at < f->recover_grace_s) {
            kv__flow_unlock_ref(f, rows[i].reference);
            continue;
        }
        rep.examined++;
        kv_flow_result r;
        memset(&r, 0, sizeof r);
        int resumed = 0;
        if (got && !kv_pay_state_final(p.state)) {
            kv_flow_status st = resolve(f, &p, &rep, &r, &resumed);
            kv_journal_get_payment(f->j, &p, rows[i].reference);
            if (kv_pay_state_final(p.state))
                rep.finished++;
            else if (!resumed)
                rep.unresolved++;
            kv__flow_emit(f, KV_FEV_MESSAGE, p.reference, p.state, -1,
                 st ? r.detail : resumed ? "resumed: waiting for the customer" : "recovered");
        }
        kv__flow_unlock_ref(f, rows[i].reference);
        if (resumed) {
            /* the caller's waiter takes the lock as the payment's owner */
            pthread_mutex_lock(&f->mu);
            kv_flow_resume_fn fn = f->resume_fn;
            void *user = f->resume_user;
            pthread_mutex_unlock(&f->mu);
            if (fn)
                fn(user, rows[i].reference, resumed);
        }
    }
    free(rows);
    /* refunds sent without a journaled answer: resend with the same key
     * (Vipps answers a repeated key with the first result: never twice) */
    kv_journal_op *ops = NULL;
    size_t nops = 0;
    if (kv_journal_ops_pending(f->j, &ops, &nops, KV_OP_REFUND) == KV_J_OK) {
        for (size_t i = 0; i < nops; i++) {
            if (kv__flow_lock_ref(f, ops[i].reference, 1))
                continue;
            rep.examined++;
            kv_payment p;
            const kv_store *s = NULL;
            kv_vipps_client *c = NULL;
            int ok = 0;
            if (kv_journal_get_payment(f->j, &p, ops[i].reference) == KV_J_OK && (s = kv__flow_store_of(f, &p)) &&
                kv__flow_client_for(f, &c, s, NULL) == KV_FLOW_OK) {
                kv_vipps_modification mod;
                kv_vipps_status vs = kv__flow_api_refund(c, &p, ops[i].amount, ops[i].idem_key, &mod);
                if (vs == KV_VIPPS_OK || vs == KV_VIPPS_E_API) {
                    kv_journal_op_finish(f->j, ops[i].id, vs == KV_VIPPS_OK ? KV_OPR_OK : KV_OPR_REJECTED);
                    if (vs == KV_VIPPS_OK) {
                        kv__flow_absorb(&p, &mod);
                        kv__flow_save(f, &p, p.state, "refund answered (recover)");
                    }
                    ok = 1;
                }
            }
            kv_vipps_client_destroy(c);
            if (ok)
                rep.finished++;
            else
                rep.unresolved++;
            kv__flow_emit(f, KV_FEV_MESSAGE, ops[i].reference, KV_PAY_DONE, -1,
                 ok ? "refund resolved" : "refund still unanswered");
            kv__flow_unlock_ref(f, ops[i].reference);
        }
        free(ops);
    }
    /* receipts for the app still queued: now, whatever their back-off */
    int om_sent = 0, om_left = 0;
    kv__flow_om_run(f, 1, &om_sent, &om_left);
    rep.receipts_sent = om_sent;
    rep.receipts_queued = om_left;
    if (out)
        *out = rep;
    return rep.unresolved ? KV_FLOW_E_UNKNOWN : KV_FLOW_OK;
}
