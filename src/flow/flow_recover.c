/* flow_recover.c - finishing what a crash or an outage left unfinished. */
#include "src/flow/flow_int.h"

/* ---------------------------------------------------------------- */
/* recover                                                           */

/* Resolve one unfinished payment (lock held). */
static kv_flow_status resolve(kv_flow *f, kv_payment *p, kv_recover_report *rep, kv_flow_result *out)
{
    const kv_store *s = kv__flow_store_of(f, p);
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
        if (kv__flow_print_receipt(f, p, copy, NULL, &tmp) != 0) {
            setmsg(out->detail, sizeof out->detail, "receipt still not printed: %s", tmp.detail);
            return KV_FLOW_E_PRINTER;
        }
        rep->reprinted++;
        kv__flow_save(f, p, KV_PAY_DONE, copy ? "receipt printed by recover (copy)" : "receipt printed by recover");
        return KV_FLOW_OK;
    }
    kv_vipps_client *c = NULL;
    kv_flow_status st = kv__flow_client_for(f, &c, s, out);
    if (st)
        return st;
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
    } else if (g.state == KV_VIPPS_STATE_CREATED) {
        st = kv__flow_give_up_locked(f, c, p, out);
        if (st == KV_FLOW_E_NOT_PAID)
            st = KV_FLOW_OK;
        if (st == KV_FLOW_OK && p->state == KV_PAY_DONE && out->approved_after_cancel)
            rep->captured++;
    } else {
        kv_pay_state ns = g.state == KV_VIPPS_STATE_TERMINATED ? KV_PAY_CANCELLED : KV_PAY_NOT_PAID;
        snprintf(p->reason, sizeof p->reason, "%s", kv_vipps_state_name(g.state));
        kv__flow_save(f, p, ns, "recover");
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
        if (kv__flow_lock_ref(f, rows[i].reference, 1))
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
            kv__flow_emit(f, KV_FEV_MESSAGE, p.reference, p.state, -1, st ? r.detail : "recovered");
        }
        kv__flow_unlock_ref(f, rows[i].reference);
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
    if (out)
        *out = rep;
    return rep.unresolved ? KV_FLOW_E_UNKNOWN : KV_FLOW_OK;
}
