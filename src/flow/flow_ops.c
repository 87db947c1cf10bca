/* flow_ops.c - operations on a journaled payment: capture, cancel, status, refund, reprint, find. */
#include "src/flow/flow_int.h"

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
    x->s = kv__flow_store_of(f, &x->p);
    if (!x->s) {
        setmsg(out->detail, sizeof out->detail, "store %s of payment %s is not configured", x->p.store_id, ref);
        return KV_FLOW_E_CONFIG;
    }
    if (kv__flow_lock_ref(f, ref, 1)) {
        setmsg(out->detail, sizeof out->detail, "another operation is running on %s", ref);
        return KV_FLOW_E_BUSY;
    }
    kv_flow_status st = kv__flow_client_for(f, &x->c, x->s, out);
    if (st) {
        kv__flow_unlock_ref(f, ref);
        return st;
    }
    kv_journal_get_payment(f->j, &x->p, ref);
    return KV_FLOW_OK;
}

static void op_close(kv_flow *f, opctx *x, kv_flow_result *out)
{
    kv__flow_fill(f, out, x->p.reference);
    kv__flow_unlock_ref(f, x->p.reference);
    kv_vipps_client_destroy(x->c);
}

kv_flow_status kv_flow_capture(kv_flow *f, kv_flow_result *out, const char *reference, int64_t amount_minor)
{
    op_args oa;
    out = kv__flow_op_begin(&oa, out, &reference);
    opctx x;
    kv_flow_status st = op_open(f, &x, reference, out);
    if (st)
        return st;
    kv_vipps_payment g;
    if (kv__flow_api_get(x.c, &x.p, reference, &g) != KV_VIPPS_OK) {
        kv__flow_api_msg(out, x.c, "capture: read state");
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
        kv__flow_absorb(&x.p, &g);
        if (amount_minor > 0 && amount_minor < x.p.amount - x.p.captured) {
            /* partial capture */
            kv_journal_op op;
            if (kv_journal_op_begin(f->j, &op, reference, KV_OP_CAPTURE, amount_minor) != KV_J_OK) {
                st = kv__flow_jfail(out, "capture key");
            } else {
                kv_vipps_modification mod;
                kv_vipps_status vs = kv__flow_api_capture(x.c, &x.p, amount_minor, op.idem_key, &mod);
                if (vs == KV_VIPPS_OK) {
                    kv_journal_op_finish(f->j, op.id, KV_OPR_OK);
                    kv__flow_absorb(&x.p, &mod);
                    kv__flow_save(f, &x.p, KV_PAY_AUTHORIZED, "partial capture");
                    st = KV_FLOW_OK;
                } else {
                    kv_journal_op_finish(f->j, op.id, vs == KV_VIPPS_E_API ? KV_OPR_REJECTED : KV_OPR_PENDING);
                    kv__flow_api_msg(out, x.c, "capture");
                    st = vs == KV_VIPPS_E_API ? KV_FLOW_E_REFUSED : KV_FLOW_E_UNKNOWN;
                }
            }
        } else {
            st = kv__flow_finish_sale(f, x.c, &x.p, 0, out);
        }
    }
    op_close(f, &x, out);
    return st;
}

kv_flow_status kv_flow_cancel(kv_flow *f, kv_flow_result *out, const char *reference)
{
    op_args oa;
    out = kv__flow_op_begin(&oa, out, &reference);
    if (f && reference && kv_flow_abort(f, reference) == KV_FLOW_OK)
        return kv_flow_give_up(f, out, reference);
    opctx x;
    kv_flow_status st = op_open(f, &x, reference, out);
    if (st)
        return st;
    kv_vipps_payment g;
    if (kv__flow_api_get(x.c, &x.p, reference, &g) != KV_VIPPS_OK) {
        kv__flow_api_msg(out, x.c, "cancel: read state");
        st = KV_FLOW_E_SERVICE;
    } else if (g.captured > 0) {
        setmsg(out->detail, sizeof out->detail, "payment %s is captured: refund it instead (kvitt refund)", reference);
        st = KV_FLOW_E_REFUSED;
    } else if (g.state != KV_VIPPS_STATE_CREATED && g.state != KV_VIPPS_STATE_AUTHORIZED) {
        kv__flow_absorb(&x.p, &g);
        st = kv__flow_not_paid(f, x.c, &x.p, g.state, NULL);
        setmsg(out->detail, sizeof out->detail, "payment %s was already %s", reference, kv_vipps_state_name(g.state));
        st = KV_FLOW_OK;
    } else {
        kv_journal_op op;
        if (kv_journal_op_begin(f->j, &op, reference, KV_OP_CANCEL, 0) != KV_J_OK) {
            st = kv__flow_jfail(out, "cancel key");
        } else {
            kv_vipps_modification mod;
            kv_vipps_status vs = kv__flow_api_cancel(x.c, &x.p, 0, op.idem_key, &mod);
            if (vs == KV_VIPPS_OK) {
                kv_journal_op_finish(f->j, op.id, KV_OPR_OK);
                kv__flow_absorb(&x.p, &mod);
                snprintf(x.p.reason, sizeof x.p.reason, "cancelled at the till");
                kv__flow_save(f, &x.p, KV_PAY_CANCELLED, "cancelled");
                setmsg(out->cashier, sizeof out->cashier, "%s", kv_doc_reason_text(kv__flow_store_lang(x.s), KV_NP_CANCELLED));
                st = KV_FLOW_OK;
            } else {
                kv_journal_op_finish(f->j, op.id, vs == KV_VIPPS_E_API ? KV_OPR_REJECTED : KV_OPR_PENDING);
                kv__flow_api_msg(out, x.c, "cancel");
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
    out = kv__flow_op_begin(&oa, out, &reference);
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
    const kv_store *s = kv__flow_store_of(f, &p);
    if (!s)
        return KV_FLOW_E_CONFIG;
    kv_vipps_client *c = NULL;
    kv_flow_status st = kv__flow_client_for(f, &c, s, out);
    if (st)
        return st;
    kv_vipps_payment g;
    kv_vipps_status gs = kv__flow_api_get(c, &p, reference, &g);
    if (gs == KV_VIPPS_OK) {
        /* report what Vipps says without moving the journaled state (a
         * waiter may own it); amounts are informative */
        kv__flow_absorb(&out->payment, &g);
        setmsg(out->detail, sizeof out->detail, "Vipps: %s, captured %lld, refunded %lld", kv_vipps_state_name(g.state),
               (long long)g.captured, (long long)g.refunded);
    } else {
        kv__flow_api_msg(out, c, "status");
        st = KV_FLOW_E_SERVICE;
    }
    kv_vipps_client_destroy(c);
    return st;
}

kv_flow_status kv_flow_refund(kv_flow *f, kv_flow_result *out, const char *reference, int64_t amount_minor,
                              const char *till_store_id)
{
    op_args oa;
    out = kv__flow_op_begin(&oa, out, &reference);
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
        kv_flow_status st = kv__flow_client_for(f, &c, origin, out);
        if (st)
            return st;
        kv_vipps_payment g;
        kv_vipps_status gs = kv_vipps_get(&g, c, reference);
        if (gs != KV_VIPPS_OK) {
            kv__flow_api_msg(out, c, "refund: read the payment");
            kv_vipps_client_destroy(c);
            return gs == KV_VIPPS_E_NOT_FOUND ? KV_FLOW_E_NOT_FOUND : KV_FLOW_E_SERVICE;
        }
        kv_vipps_client_destroy(c);
        jp.amount = g.amount;
        snprintf(jp.currency, sizeof jp.currency, "%s", g.currency[0] ? g.currency : origin->currency);
        kv__flow_absorb(&jp, &g);
        if (kv_journal_add_payment(f->j, &jp) != KV_J_OK)
            return kv__flow_jfail(out, "import");
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
    if (kv__flow_api_get(x.c, &x.p, reference, &g) != KV_VIPPS_OK) {
        kv__flow_api_msg(out, x.c, "refund: read state");
        st = KV_FLOW_E_SERVICE;
        goto out;
    }
    kv__flow_absorb(&x.p, &g);
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
        st = kv__flow_jfail(out, "refund key");
        goto out;
    }
    kv_vipps_modification mod;
    kv_vipps_status vs = kv__flow_api_refund(x.c, &x.p, amt, op.idem_key, &mod);
    kv__flow_crash_point(f, "refunded");
    if (vs != KV_VIPPS_OK) {
        kv_journal_op_finish(f->j, op.id, vs == KV_VIPPS_E_API ? KV_OPR_REJECTED : KV_OPR_PENDING);
        kv__flow_api_msg(out, x.c, "refund");
        st = vs == KV_VIPPS_E_API ? KV_FLOW_E_REFUSED : KV_FLOW_E_UNKNOWN;
        goto out;
    }
    kv_journal_op_finish(f->j, op.id, KV_OPR_OK);
    kv__flow_absorb(&x.p, &mod);
    {
        /* the refund's own transaction id goes into the transition note */
        char note[200];
        snprintf(note, sizeof note, "refunded %lld (pspReference %s)", (long long)amt,
                 mod.psp_reference[0] ? mod.psp_reference : "none");
        kv__flow_save(f, &x.p, x.p.state, note);
    }
    {
        kv_escpos *e = kv__flow_new_encoder(till);
        if (e) {
            char tt[32];
            kv__flow_time_text(tt, sizeof tt, time(NULL));
            kv_refund_spec rs = { .store = { till->name, till->address, till->org_number },
                                  .origin_store = origin != till ? origin->name : NULL, .lang = kv__flow_store_lang(till),
                                  .currency = x.p.currency, .amount = amt, .refunded_total = x.p.refunded,
                                  .captured = x.p.captured, .reference = reference,
                                  .psp_reference = mod.psp_reference[0] ? mod.psp_reference : NULL,
                                  .time_text = tt,
                                  .till_id = kv_config_main_get(f->cfg)->till_id };
            if (kv_refund_write(e, &rs) == KV_ESCPOS_OK) {
                size_t len = 0;
                const uint8_t *d = kv_escpos_data(e, &len);
                char msg[256];
                if (kv__flow_print_bytes(f, 0, reference, KV_DOC_REFUND, 0, till->printer, d, len, out->receipt_path,
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
    out = kv__flow_op_begin(&oa, out, &reference);
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
        rc = kv__flow_print_receipt(f, &p, 1, NULL, out);
    } else if (p.state == KV_PAY_NOT_PAID || p.state == KV_PAY_CANCELLED) {
        kv_not_paid_reason r = strcmp(p.reason, "ABORTED") == 0 ? KV_NP_ABORTED
                             : strcmp(p.reason, "EXPIRED") == 0 ? KV_NP_EXPIRED
                             : strcmp(p.reason, "DECLINED") == 0 ? KV_NP_DECLINED
                             : p.state == KV_PAY_CANCELLED ? KV_NP_CANCELLED : KV_NP_OTHER;
        rc = kv__flow_print_not_paid(f, &p, r, NULL, 1, out);
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
