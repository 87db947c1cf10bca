/* flow_pay.c - the money steps of a sale (finish, not paid, give up) and its start. */
#include "src/flow/flow_int.h"

/* ---------------------------------------------------------------- */
/* Capture what is authorized and not captured, receipt, the receipt in the
 * app for eCom (Order Management outbox).
 * copy: mark the receipt COPY.  p is updated. */
kv_flow_status kv__flow_finish_sale(kv_flow *f, kv_vipps_client *c, kv_payment *p, int copy, kv_flow_result *out)
{
    int send_om = 0;
    if (p->state != KV_PAY_CAPTURED && p->captured < p->amount) {
        int64_t amt = p->amount - p->captured;
        /* the state and the capture key in one unit (one sync), durable
         * before the capture leaves and before the event goes out */
        kv_journal_op op;
        kv_pay_state was = p->state;
        p->state = KV_PAY_AUTHORIZED;
        kv_journal_status js = kv_journal_batch_begin(f->j);
        if (js == KV_J_OK) {
            js = kv_journal_update_payment(f->j, p, "authorized");
            if (js == KV_J_OK)
                js = kv_journal_op_begin(f->j, &op, p->reference, KV_OP_CAPTURE, amt);
            kv_journal_status je = kv_journal_batch_end(f->j, js == KV_J_OK);
            if (js == KV_J_OK)
                js = je;
        }
        if (js != KV_J_OK) {
            p->state = was;
            return kv__flow_jfail(out, "capture key");
        }
        if (was != KV_PAY_AUTHORIZED)
            kv__flow_emit(f, KV_FEV_STATE, p->reference, KV_PAY_AUTHORIZED, -1, "authorized");
        kv_vipps_modification mod;
        kv_vipps_status vs = kv__flow_api_capture(c, p, amt, op.idem_key, &mod);
        kv__flow_crash_point(f, "capture-sent");
        int answered = 0;
        if (vs == KV_VIPPS_OK) {
            kv__flow_absorb(p, &mod);
            if (p->captured < p->amount)
                p->captured = p->amount;
            /* the answer and CAPTURED: one unit */
            js = kv_journal_batch_begin(f->j);
            if (js == KV_J_OK) {
                js = kv_journal_op_finish(f->j, op.id, KV_OPR_OK);
                p->state = KV_PAY_CAPTURED;
                if (js == KV_J_OK)
                    js = kv_journal_update_payment(f->j, p, "captured");
                kv_journal_status je = kv_journal_batch_end(f->j, js == KV_J_OK);
                if (js == KV_J_OK)
                    js = je;
            }
            if (js != KV_J_OK) {
                p->state = KV_PAY_AUTHORIZED;
                return kv__flow_jfail(out, "captured");
            }
            kv__flow_emit(f, KV_FEV_STATE, p->reference, KV_PAY_CAPTURED, -1, "captured");
            answered = 1;
        } else if (vs == KV_VIPPS_E_API) {
            /* refused: find out what is true now */
            kv_journal_op_finish(f->j, op.id, KV_OPR_REJECTED);
            kv_vipps_payment g;
            kv_vipps_status gs = kv__flow_api_get(c, p, p->reference, &g);
            if (gs == KV_VIPPS_OK && g.captured >= p->amount) {
                kv__flow_absorb(p, &g);
            } else if (gs == KV_VIPPS_OK && kv_vipps_state_final(g.state) && g.state != KV_VIPPS_STATE_AUTHORIZED &&
                       g.captured == 0) {
                /* never authorized after all (declined, aborted, expired) */
                kv__flow_absorb(p, &g);
                return kv__flow_not_paid(f, c, p, g.state, out);
            } else {
                kv__flow_api_msg(out, c, "capture refused");
                snprintf(p->reason, sizeof p->reason, "capture refused");
                kv__flow_save(f, p, KV_PAY_UNKNOWN, "capture refused");
                return KV_FLOW_E_UNKNOWN;
            }
        } else {
            kv__flow_api_msg(out, c, "capture outcome unknown");
            snprintf(p->reason, sizeof p->reason, "capture outcome unknown");
            kv__flow_save(f, p, KV_PAY_UNKNOWN, "capture outcome unknown");
            return KV_FLOW_E_UNKNOWN;
        }
        if (!answered && kv__flow_save(f, p, KV_PAY_CAPTURED, "captured") != KV_FLOW_OK)
            return kv__flow_jfail(out, "captured");
        kv__flow_crash_point(f, "captured");
        /* eCom has no receipt in its initiate: the app gets it through
         * Order Management (ePayment carried it in the create) */
        send_om = kv__flow_is_ecom(p);
    } else if (p->state != KV_PAY_CAPTURED) {
        if (kv__flow_save(f, p, KV_PAY_CAPTURED, "already captured") != KV_FLOW_OK)
            return kv__flow_jfail(out, "captured");
    }
    if (kv__flow_receipt_by_caller(p)) {
        /* kvitt proxy releases the till's own receipt with the paid block */
        if (send_om)
            kv__flow_om_enqueue(f, c, p);
        p->reason[0] = 0;
        if (kv__flow_save(f, p, KV_PAY_DONE, "paid; the caller prints the receipt") != KV_FLOW_OK)
            return kv__flow_jfail(out, "done");
        return KV_FLOW_OK;
    }
    char pmsg[512] = "";
    kv_flow_result tmp;
    memset(&tmp, 0, sizeof tmp);
    if (kv__flow_print_receipt(f, p, copy, NULL, &tmp) != 0) {
        snprintf(pmsg, sizeof pmsg, "%s", tmp.detail);
        if (out) {
            out->receipt_queued = 1;
            setmsg(out->detail, sizeof out->detail, "paid; the receipt is queued (%s): run kvitt recover when the printer is fixed",
                   pmsg);
        }
        kv__flow_emit(f, KV_FEV_MESSAGE, p->reference, p->state, -1, "receipt queued");
        if (send_om)
            kv__flow_om_enqueue(f, c, p);
        return KV_FLOW_OK;
    }
    if (send_om)
        kv__flow_om_enqueue(f, c, p);
    if (out)
        snprintf(out->receipt_path, sizeof out->receipt_path, "%s", tmp.receipt_path);
    p->reason[0] = 0;
    if (kv__flow_save(f, p, KV_PAY_DONE, copy ? "receipt printed (copy)" : "receipt printed") != KV_FLOW_OK)
        return kv__flow_jfail(out, "done");
    return KV_FLOW_OK;
}

kv_flow_status kv__flow_not_paid(kv_flow *f, kv_vipps_client *c, kv_payment *p, kv_vipps_state vs,
                                 kv_flow_result *out)
{
    kv_pay_state st = vs == KV_VIPPS_STATE_TERMINATED ? KV_PAY_CANCELLED : KV_PAY_NOT_PAID;
    /* "declined" only on Vipps' own record, never on a webhook's word */
    int declined = c && vs == KV_VIPPS_STATE_ABORTED && kv__flow_api_declined(c, p);
    kv_not_paid_reason why = declined ? KV_NP_DECLINED : kv__flow_reason_of(vs);
    const char *name = declined ? "DECLINED" : kv_vipps_state_name(vs);
    snprintf(p->reason, sizeof p->reason, "%s", name);
    if (kv__flow_save(f, p, st, name) != KV_FLOW_OK)
        return kv__flow_jfail(out, "not paid");
    kv_flow_result tmp;
    memset(&tmp, 0, sizeof tmp);
    kv__flow_print_not_paid(f, p, why, NULL, 0, &tmp);
    if (out) {
        snprintf(out->receipt_path, sizeof out->receipt_path, "%s", tmp.receipt_path);
        setmsg(out->cashier, sizeof out->cashier, "%s",
               kv_doc_reason_text(kv__flow_store_lang(kv__flow_store_of(f, p)), why));
        setmsg(out->detail, sizeof out->detail, "not paid: %s", name);
    }
    return KV_FLOW_E_NOT_PAID;
}

/* Give up on a payment: cancel (transaction only), read back, finish. */
kv_flow_status kv__flow_give_up_locked(kv_flow *f, kv_vipps_client *c, kv_payment *p, kv_flow_result *out)
{
    kv_journal_op op;
    if (kv_journal_op_begin(f->j, &op, p->reference, KV_OP_CANCEL, 0) != KV_J_OK)
        return kv__flow_jfail(out, "cancel key");
    kv_vipps_modification mod;
    kv_vipps_status cs = kv__flow_api_cancel(c, p, 1, op.idem_key, &mod);
    kv_journal_op_finish(f->j, op.id, cs == KV_VIPPS_OK ? KV_OPR_OK
                                      : cs == KV_VIPPS_E_API ? KV_OPR_REJECTED : KV_OPR_PENDING);
    kv_vipps_payment g;
    kv_vipps_status gs = kv__flow_api_get(c, p, p->reference, &g);
    if (gs == KV_VIPPS_OK && cs != KV_VIPPS_OK && cs != KV_VIPPS_E_API)
        kv__flow_settle_ops(f, c, p, &g); /* the read-back tells what the cancel did */
    if (gs != KV_VIPPS_OK) {
        kv__flow_api_msg(out, c, "cancel: the payment cannot be read back");
        snprintf(p->reason, sizeof p->reason, "gave up; state unknown");
        kv__flow_save(f, p, KV_PAY_UNKNOWN, "give up: state unknown");
        return KV_FLOW_E_UNKNOWN;
    }
    kv__flow_absorb(p, &g);
    if (kv__flow_is_ecom(p) && cs == KV_VIPPS_OK && g.state == KV_VIPPS_STATE_ABORTED)
        g.state = KV_VIPPS_STATE_TERMINATED; /* eCom logs our cancel as CANCEL */
    if (g.state == KV_VIPPS_STATE_AUTHORIZED && g.cancelled == 0) {
        if (out)
            out->approved_after_cancel = 1;
        kv__flow_emit(f, KV_FEV_MESSAGE, p->reference, p->state, -1, "the customer approved just before the cancel: finishing the sale");
        kv_flow_status st = kv__flow_finish_sale(f, c, p, 0, out);
        if (out && st == KV_FLOW_OK)
            setmsg(out->cashier, sizeof out->cashier, "Paid (approved just before the cancel)");
        return st;
    }
    if (g.state == KV_VIPPS_STATE_CREATED) {
        /* cancel did not take (processing); leave for recover */
        snprintf(p->reason, sizeof p->reason, "cancel pending");
        kv__flow_save(f, p, KV_PAY_UNKNOWN, "cancel not confirmed");
        if (out)
            setmsg(out->detail, sizeof out->detail, "the cancel was not confirmed yet; run kvitt recover");
        return KV_FLOW_E_UNKNOWN;
    }
    if (g.state == KV_VIPPS_STATE_AUTHORIZED)
        return kv__flow_not_paid(f, c, p, KV_VIPPS_STATE_TERMINATED, out);
    return kv__flow_not_paid(f, c, p, g.state, out);
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

/* Lock a new payment's reference.  On a shared (PostgreSQL) journal
 * another instance may hold it for as long as it waits on the payment (a
 * till's retry reached both): give up as soon as the payment is journaled
 * there (the caller answers with it), or after 30 s.  0 locked, else -1. */
static int start_lock(kv_flow *f, const char *ref)
{
    if (!kv_journal_is_shared(f->j))
        return kv__flow_lock_ref(f, ref, 0) ? -1 : 0;
    for (int i = 0; i < 1500; i++) {
        if (kv__flow_lock_ref(f, ref, 1) == 0)
            return 0;
        kv_payment ex;
        if (kv_journal_get_payment(f->j, &ex, ref) == KV_J_OK)
            return -1;
        usleep(20000);
    }
    return -1;
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
    kv_flow_status st = kv__flow_validate(f, &v, req, out->detail, sizeof out->detail);
    if (st) {
        scpy(out->cashier, sizeof out->cashier, out->detail);
        return st;
    }
    kv_payment p;
    memset(&p, 0, sizeof p);
    if (v.reference[0])
        snprintf(p.reference, sizeof p.reference, "%s", v.reference);
    else
        kv_flow_make_reference(p.reference, sizeof p.reference, f->cfg, v.store->id);
    snprintf(p.store_id, sizeof p.store_id, "%s", v.store->id);
    snprintf(p.msn, sizeof p.msn, "%s", v.store->msn);
    snprintf(p.till_id, sizeof p.till_id, "%s", v.till);
    snprintf(p.flow, sizeof p.flow, "%s",
             v.personal_qr[0] ? "personal-qr" : v.customer_token[0] ? "sticker" : req->not_present ? "phone-order" : v.phone[0] ? "push" : v.store->flow == KV_FLOW_ECOM_QR ? (req->receipt_by_caller ? "proxy-ecom" : "ecom-qr") : req->receipt_by_caller ? "proxy" : "epayment-qr");
    snprintf(p.currency, sizeof p.currency, "%s", v.currency);
    snprintf(p.description, sizeof p.description, "%s", v.text);
    if (req->items_json)
        snprintf(p.items_json, sizeof p.items_json, "%s", req->items_json);
    p.amount = v.amount;
    p.state = KV_PAY_NEW;
    p.created_at = time(NULL);
    kv_vipps_client *c = NULL;
    st = kv__flow_client_for(f, &c, v.store, out);
    if (st)
        return st;
    if (start_lock(f, p.reference)) {
        kv_vipps_client_destroy(c);
        kv_payment ex;
        if (kv_journal_get_payment(f->j, &ex, p.reference) == KV_J_OK) {
            setmsg(out->detail, sizeof out->detail, "reference %s is already in the journal", p.reference);
            scpy(out->cashier, sizeof out->cashier, out->detail);
            return KV_FLOW_E_INPUT;
        }
        return KV_FLOW_E_NOMEM;
    }
    /* A missing access token is fetched while the journal syncs: the token
     * call moves no money, and the two waits overlap.  Until the join the
     * client belongs to that thread alone. */
    pthread_t warm;
    /* kv_flow_open may already be fetching this store's token */
    int prefetched = f->prefetching && v.store == kv_config_store(f->cfg, NULL);
    int warming = !prefetched && !kv_vipps_token_cached(c) && pthread_create(&warm, NULL, warm_token, c) == 0;
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
    kv__flow_prefetch_join(f); /* kv_flow_open's token fetch: now in the shared cache */
    if (js) {
        kv__flow_unlock_ref(f, p.reference);
        kv_vipps_client_destroy(c);
        if (js == KV_J_E_EXISTS) {
            setmsg(out->detail, sizeof out->detail, "reference %s is already in the journal", p.reference);
            scpy(out->cashier, sizeof out->cashier, out->detail);
            return KV_FLOW_E_INPUT;
        }
        return kv__flow_jfail(out, kv_journal_errmsg(f->j));
    }
    kv__flow_emit(f, KV_FEV_STATE, p.reference, KV_PAY_NEW, -1, "journaled");
    kv__flow_crash_point(f, "journaled");
    kv_vipps_create_req cr = { .reference = p.reference, .amount = p.amount, .currency = p.currency,
                               .flow = vreq_push(&v) ? KV_VIPPS_FLOW_PUSH : KV_VIPPS_FLOW_QR,
                               .qr_format = v.store->qr_source == KV_QR_IMAGE ? KV_VIPPS_QR_PNG : KV_VIPPS_QR_TEXT,
                               .qr_size = v.store->qr_source == KV_QR_IMAGE ? kv__flow_qr_px(v.store) : 0,
                               .phone = v.phone[0] ? v.phone : NULL,
                               .personal_qr = v.personal_qr[0] ? v.personal_qr : NULL,
                               .customer_token = v.customer_token[0] ? v.customer_token : NULL,
                               .description = p.description, .idempotency_key = op.idem_key,
                               .customer_not_present = req->not_present };
    /* the receipt in the app travels in the create when the items are known */
    app_receipt ar;
    int has_receipt = !kv__flow_is_ecom(&p) && kv__flow_receipt_build(&ar, &p, p.amount) == 0;
    if (has_receipt)
        cr.receipt = &ar.r;
    kv_vipps_created created;
    memset(&created, 0, sizeof created);
    kv_vipps_status vs;
    /* when the QR stops working at Vipps: ePayment's one-time QR lives
     * about 10 minutes; the QR API says so itself for eCom */
    int64_t api_expiry = p.created_at + KV_FLOW_QR_LIFETIME_S;
    if (kv__flow_is_ecom(&p)) {
        /* eCom + QR API (the POS guide's flow): initiate (never retried:
         * not idempotent), then a one-time QR for the landing page */
        char landing[2048] = "", cbp[512];
        kv__flow_callback_prefix(cbp, sizeof cbp, kv_config_get(f->cfg, "serve", "webhook_url"));
        kv_vipps_ecom_req er = { .order_id = p.reference, .amount = p.amount, .text = p.description,
                                 .callback_prefix = cbp,
                                 .fallback = v.store->website[0] ? v.store->website : "https://www.vipps.no/thankyoupage/",
                                 .auth_token = kv_config_get(f->cfg, "serve", "callback_auth_token") };
        vs = kv_vipps_ecom_initiate(landing, sizeof landing, c, &er);
        if (vs == KV_VIPPS_OK) {
            kv_vipps_qr qr;
            vs = kv_vipps_qr_onetime(&qr, c, landing,
                                     v.store->qr_source == KV_QR_IMAGE ? KV_VIPPS_QR_PNG : KV_VIPPS_QR_TEXT,
                                     v.store->qr_source == KV_QR_IMAGE ? kv__flow_qr_px(v.store) : 0);
            if (vs == KV_VIPPS_OK) {
                scpy(created.redirect_url, sizeof created.redirect_url, qr.url);
                if (qr.expires_in > 0)
                    api_expiry = (int64_t)time(NULL) + qr.expires_in;
            }
            else if (vs == KV_VIPPS_E_API || vs == KV_VIPPS_E_UNREACHABLE)
                vs = KV_VIPPS_E_UNKNOWN; /* the order exists: recover cancels it */
        }
    } else {
        vs = kv_vipps_create(&created, c, &cr);
    }
    if (has_receipt)
        kv__flow_receipt_free(&ar);
    if (vs != KV_VIPPS_OK) {
        kv__flow_api_msg(out, c, "create payment");
        if (vs == KV_VIPPS_E_UNKNOWN) {
            snprintf(p.reason, sizeof p.reason, "create: outcome unknown");
            kv__flow_save(f, &p, KV_PAY_UNKNOWN, "create outcome unknown");
            st = KV_FLOW_E_UNKNOWN;
        } else {
            kv_journal_op_finish(f->j, op.id, KV_OPR_REJECTED);
            snprintf(p.reason, sizeof p.reason, "%.120s", out->cashier);
            kv__flow_save(f, &p, KV_PAY_NOT_PAID, "create refused");
            st = vs == KV_VIPPS_E_UNREACHABLE ? KV_FLOW_E_SERVICE
               : vs == KV_VIPPS_E_AUTH || vs == KV_VIPPS_E_INVALID || vs == KV_VIPPS_E_REFUSED ? KV_FLOW_E_CONFIG
               : KV_FLOW_E_NOT_PAID;
        }
        goto done;
    }
    snprintf(p.qr_url, sizeof p.qr_url, "%s", created.redirect_url);
    /* the slip's "valid until": the moment the till gives up, or the QR's
     * own end when that comes first */
    p.expires_at = p.created_at + v.timeout_s;
    if (api_expiry < p.expires_at)
        p.expires_at = api_expiry;
    /* the answer, the new state and the slip's print job: one transaction */
    int64_t jid = 0;
    js = kv_journal_batch_begin(f->j);
    if (js == KV_J_OK) {
        js = kv_journal_op_finish(f->j, op.id, KV_OPR_OK);
        p.state = KV_PAY_CREATED; /* the event goes out after the commit */
        if (js == KV_J_OK)
            js = kv_journal_update_payment(f->j, &p, "created");
        if (js == KV_J_OK && !vreq_push(&v))
            js = kv_journal_job_add(f->j, &jid, p.reference, KV_DOC_SLIP, 0, v.printer);
        kv_journal_status je = kv_journal_batch_end(f->j, js == KV_J_OK);
        if (js == KV_J_OK)
            js = je;
    }
    if (js) {
        /* created at Vipps but not journaled as such: recover reads it back */
        st = kv__flow_jfail(out, "created");
        goto done;
    }
    kv__flow_emit(f, KV_FEV_STATE, p.reference, KV_PAY_CREATED, -1, "created");
    kv__flow_crash_point(f, "created");
    if (!vreq_push(&v)) {
        if (kv__flow_print_slip(f, jid, &p, v.store, v.printer, out) != 0) {
            char why[512];
            snprintf(why, sizeof why, "%s", out->detail);
            kv_flow_status gs = kv__flow_give_up_locked(f, c, &p, NULL);
            snprintf(p.reason, sizeof p.reason, "%.120s", why);
            if (gs == KV_FLOW_OK) {
                /* approved although the slip failed (cannot happen without a QR; kept safe) */
                st = KV_FLOW_OK;
                goto done;
            }
            kv_journal_get_payment(f->j, &p, p.reference);
            snprintf(p.reason, sizeof p.reason, "%.120s", why);
            kv__flow_save(f, &p, p.state, "slip failed");
            setmsg(out->cashier, sizeof out->cashier, "Printer problem: the payment was cancelled");
            setmsg(out->detail, sizeof out->detail, "%s; the payment was cancelled%s", why,
                   gs == KV_FLOW_E_UNKNOWN ? " (not yet confirmed: run kvitt recover)" : "");
            st = KV_FLOW_E_PRINTER;
            goto done;
        }
    }
    if (kv__flow_save(f, &p, KV_PAY_WAITING, vreq_push(&v) ? "push sent" : "slip printed") != KV_FLOW_OK) {
        st = kv__flow_jfail(out, "waiting");
        goto done;
    }
    kv__flow_crash_point(f, "slip");
    st = KV_FLOW_OK;
done:
    kv__flow_fill(f, out, p.reference);
    kv__flow_unlock_ref(f, p.reference);
    kv_vipps_client_destroy(c);
    return st;
}
