/* flow_api.c - one API surface over ePayment and the legacy eCom flow. */
#include "src/flow/flow_int.h"

/* ---------------------------------------------------------------- */
/* one API surface over ePayment and the legacy eCom flow            */

int kv__flow_is_ecom(const kv_payment *p)
{
    return p && (strcmp(p->flow, "ecom-qr") == 0 || strcmp(p->flow, "proxy-ecom") == 0);
}

int kv__flow_receipt_by_caller(const kv_payment *p)
{
    return p && (strcmp(p->flow, "proxy") == 0 || strcmp(p->flow, "proxy-ecom") == 0);
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
kv_vipps_status kv__flow_api_get(kv_vipps_client *c, const kv_payment *p, const char *ref, kv_vipps_payment *g)
{
    if (!kv__flow_is_ecom(p))
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
    } else if (!strcmp(op, "CANCEL") || d.reserve_failed) {
        /* a failed RESERVE newer than INITIATE: declined, final */
        g->state = KV_VIPPS_STATE_ABORTED;
    } else {
        g->state = KV_VIPPS_STATE_CREATED;
    }
    return KV_VIPPS_OK;
}

int kv__flow_api_declined(kv_vipps_client *c, const kv_payment *p)
{
    if (kv__flow_is_ecom(p)) {
        kv_vipps_ecom_details d;
        return kv_vipps_ecom_details_get(&d, c, p->reference) == KV_VIPPS_OK && d.reserve_failed;
    }
    kv_vipps_event *ev = NULL;
    size_t n = 0;
    int declined = 0;
    if (kv_vipps_events(&ev, &n, c, p->reference) == KV_VIPPS_OK)
        for (size_t i = 0; i < n; i++)
            if (!strcmp(ev[i].name, "AUTHORIZED") && !ev[i].success)
                declined = 1;
    kv_vipps_events_free(ev);
    return declined;
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
    if (!kv__flow_is_ecom(p))
        return epay(mod, c, p->reference, amount, p->currency, key);
    kv_vipps_ecom_result er;
    kv_vipps_status st = ecom(&er, c, p->reference, amount, p->description, request_id(key));
    if (st == KV_VIPPS_OK)
        from_ecom(mod, p, &er);
    return st;
}

kv_vipps_status kv__flow_api_capture(kv_vipps_client *c, const kv_payment *p, int64_t amount, const char *key,
                                   kv_vipps_modification *mod)
{
    return api_move(c, p, amount, key, mod, kv_vipps_capture, kv_vipps_ecom_capture);
}

kv_vipps_status kv__flow_api_refund(kv_vipps_client *c, const kv_payment *p, int64_t amount, const char *key,
                                  kv_vipps_modification *mod)
{
    return api_move(c, p, amount, key, mod, kv_vipps_refund, kv_vipps_ecom_refund);
}

/* transaction_only: cancel only if not authorized.  eCom has no such
 * flag: the payment is read first and an authorized one is left alone
 * (the caller then finishes the sale). */
kv_vipps_status kv__flow_api_cancel(kv_vipps_client *c, const kv_payment *p, int transaction_only, const char *key,
                                  kv_vipps_modification *mod)
{
    if (!kv__flow_is_ecom(p))
        return kv_vipps_cancel(mod, c, p->reference, transaction_only, key);
    if (transaction_only) {
        kv_vipps_payment g;
        kv_vipps_status gs = kv__flow_api_get(c, p, p->reference, &g);
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

kv_not_paid_reason kv__flow_reason_of(kv_vipps_state s)
{
    switch (s) {
    case KV_VIPPS_STATE_ABORTED: return KV_NP_ABORTED;
    case KV_VIPPS_STATE_EXPIRED: return KV_NP_EXPIRED;
    case KV_VIPPS_STATE_TERMINATED: return KV_NP_CANCELLED;
    default: return KV_NP_OTHER;
    }
}

void kv__flow_absorb(kv_payment *p, const kv_vipps_payment *vp)
{
    snprintf(p->api_state, sizeof p->api_state, "%s", kv_vipps_state_name(vp->state));
    /* the sale keeps the first transaction id it was given: a capture's
     * or refund's answer carries its own, which belongs to that operation */
    if (vp->psp_reference[0] && !p->psp_reference[0])
        snprintf(p->psp_reference, sizeof p->psp_reference, "%s", vp->psp_reference);
    p->captured = vp->captured;
    p->refunded = vp->refunded;
}
