/* flow_pay.c - the money steps of a sale (finish, not paid, give up) and its start. */
#include "src/flow/flow_int.h"

/* ---------------------------------------------------------------- */
/* The receipt in the app (Order Management), after the capture and after
 * the paper receipt: the customer at the till should not wait for it. */
static void send_om_receipt(kv_flow *f, kv_vipps_client *c, const kv_payment *p)
{
    if (!p->items_json[0])
        return;
    parsed_items it;
    char ierr[200];
    if (kv__flow_parse_items(&it, p->items_json, ierr, sizeof ierr) == 0 && it.n) {
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
                kv__flow_emit(f, KV_FEV_MESSAGE, p->reference, p->state, -1,
                     "the receipt in the app (Order Management) could not be sent");
        }
    }
    cJSON_Delete(it.root);
}

/* Capture what is authorized and not captured, receipt, OM receipt.
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
            if (kv__flow_api_get(c, p, p->reference, &g) == KV_VIPPS_OK && g.captured >= p->amount) {
                kv__flow_absorb(p, &g);
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
        send_om = 1;
    } else if (p->state != KV_PAY_CAPTURED) {
        if (kv__flow_save(f, p, KV_PAY_CAPTURED, "already captured") != KV_FLOW_OK)
            return kv__flow_jfail(out, "captured");
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
            send_om_receipt(f, c, p);
        return KV_FLOW_OK;
    }
    if (send_om)
        send_om_receipt(f, c, p);
    if (out)
        snprintf(out->receipt_path, sizeof out->receipt_path, "%s", tmp.receipt_path);
    p->reason[0] = 0;
    if (kv__flow_save(f, p, KV_PAY_DONE, copy ? "receipt printed (copy)" : "receipt printed") != KV_FLOW_OK)
        return kv__flow_jfail(out, "done");
    return KV_FLOW_OK;
}

kv_flow_status kv__flow_not_paid(kv_flow *f, kv_payment *p, kv_vipps_state vs, kv_flow_result *out)
{
    kv_pay_state st = vs == KV_VIPPS_STATE_TERMINATED ? KV_PAY_CANCELLED : KV_PAY_NOT_PAID;
    snprintf(p->reason, sizeof p->reason, "%s", kv_vipps_state_name(vs));
    if (kv__flow_save(f, p, st, kv_vipps_state_name(vs)) != KV_FLOW_OK)
        return kv__flow_jfail(out, "not paid");
    kv_flow_result tmp;
    memset(&tmp, 0, sizeof tmp);
    kv__flow_print_not_paid(f, p, kv__flow_reason_of(vs), NULL, 0, &tmp);
    if (out) {
        snprintf(out->receipt_path, sizeof out->receipt_path, "%s", tmp.receipt_path);
        setmsg(out->cashier, sizeof out->cashier, "%s", kv_doc_reason_text(kv__flow_store_lang(kv__flow_store_of(f, p)), kv__flow_reason_of(vs)));
        setmsg(out->detail, sizeof out->detail, "not paid: %s", kv_vipps_state_name(vs));
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
        return kv__flow_not_paid(f, p, KV_VIPPS_STATE_TERMINATED, out);
    return kv__flow_not_paid(f, p, g.state, out);
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
        kv__flow_make_reference(p.reference, sizeof p.reference, v.store);
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
    st = kv__flow_client_for(f, &c, v.store, out);
    if (st)
        return st;
    if (kv__flow_lock_ref(f, p.reference, 0)) {
        kv_vipps_client_destroy(c);
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
                               .flow = v.phone[0] ? KV_VIPPS_FLOW_PUSH : KV_VIPPS_FLOW_QR,
                               .qr_format = v.store->qr_source == KV_QR_IMAGE ? KV_VIPPS_QR_PNG : KV_VIPPS_QR_TEXT,
                               .qr_size = v.store->qr_source == KV_QR_IMAGE ? kv__flow_qr_px(v.store) : 0,
                               .phone = v.phone[0] ? v.phone : NULL,
                               .description = p.description, .idempotency_key = op.idem_key };
    kv_vipps_created created;
    memset(&created, 0, sizeof created);
    kv_vipps_status vs;
    if (kv__flow_is_ecom(&p)) {
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
                                     v.store->qr_source == KV_QR_IMAGE ? kv__flow_qr_px(v.store) : 0);
            if (vs == KV_VIPPS_OK)
                scpy(created.redirect_url, sizeof created.redirect_url, qr.url);
            else if (vs == KV_VIPPS_E_API || vs == KV_VIPPS_E_UNREACHABLE)
                vs = KV_VIPPS_E_UNKNOWN; /* the order exists: recover cancels it */
        }
    } else {
        vs = kv_vipps_create(&created, c, &cr);
    }
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
        st = kv__flow_jfail(out, "created");
        goto done;
    }
    kv__flow_emit(f, KV_FEV_STATE, p.reference, KV_PAY_CREATED, -1, "created");
    kv__flow_crash_point(f, "created");
    if (!v.phone[0]) {
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
    if (kv__flow_save(f, &p, KV_PAY_WAITING, v.phone[0] ? "push sent" : "slip printed") != KV_FLOW_OK) {
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
