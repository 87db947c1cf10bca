/* flow_resume.c - resuming a payment its owner left between the create
 * and the QR slip (kv_flow_set_resume; called by kv_flow_recover). */
#include "src/flow/flow_int.h"

void kv_flow_set_resume(kv_flow *f, int min_left_s, kv_flow_resume_fn fn, void *user)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->resume_min_s = min_left_s > 0 ? min_left_s : 0;
    f->resume_fn = fn;
    f->resume_user = user;
    pthread_mutex_unlock(&f->mu);
}

/* The customer's app got the request itself (no slip): push, personal QR,
 * sticker, phone order. */
static int is_push(const kv_payment *p)
{
    return !strcmp(p->flow, "push") || !strcmp(p->flow, "personal-qr") || !strcmp(p->flow, "sticker") ||
           !strcmp(p->flow, "phone-order");
}

int kv__flow_resumable(kv_flow *f, const kv_payment *p)
{
    pthread_mutex_lock(&f->mu);
    int on = f->resume_fn != NULL;
    pthread_mutex_unlock(&f->mu);
    /* kvitt proxy payments are settled by the proxy's own recovery */
    return on && (p->state == KV_PAY_NEW || p->state == KV_PAY_CREATED) && !kv__flow_receipt_by_caller(p);
}

int kv__flow_resume_locked(kv_flow *f, kv_payment *p, int *left)
{
    const kv_config_main *m = kv_config_main_get(f->cfg);
    const kv_store *s = kv__flow_store_of(f, p);
    int64_t now = (int64_t)time(NULL);
    /* the payment's own end: the slip's "valid until" when the create's
     * answer was journaled, else the daemon's timeout capped by the QR's
     * lifetime (what the owner would have written) */
    int64_t end = p->expires_at;
    if (!end) {
        int64_t t = m->payment_timeout_s < KV_FLOW_QR_LIFETIME_S ? m->payment_timeout_s : KV_FLOW_QR_LIFETIME_S;
        end = p->created_at + t;
    }
    pthread_mutex_lock(&f->mu);
    int min_left = f->resume_min_s;
    pthread_mutex_unlock(&f->mu);
    if (!s || end - now < min_left)
        return 0; /* too late for the customer: the caller gives up */
    int push = is_push(p);
    if (!push && !p->qr_url[0])
        return 0; /* no QR to print (an eCom order whose answer was lost) */
    p->expires_at = end;
    if (p->state != KV_PAY_CREATED && kv__flow_save(f, p, KV_PAY_CREATED, "resume: created at Vipps") != KV_FLOW_OK)
        return 0;
    if (!push) {
        kv_print_job pj;
        int have = kv_journal_job_last(f->j, &pj, p->reference, KV_DOC_SLIP) == KV_J_OK;
        /* a slip whose every byte went out may be in the customer's hand */
        if (!have || (pj.state != KV_PJ_SENT && pj.state != KV_PJ_CONFIRMED)) {
            char uri[256];
            kv__flow_doc_printer(f, p, s, uri, sizeof uri);
            kv_flow_result tmp;
            memset(&tmp, 0, sizeof tmp);
            /* a queued job is this slip's own; one cut short stays as it was */
            if (kv__flow_print_slip(f, have && pj.state == KV_PJ_QUEUED ? pj.id : 0, p, s, uri, &tmp) != 0) {
                kv__flow_emit(f, KV_FEV_MESSAGE, p->reference, p->state, -1, tmp.detail);
                snprintf(p->reason, sizeof p->reason, "slip failed: %.100s", tmp.detail);
                return 0;
            }
        }
    }
    if (kv__flow_save(f, p, KV_PAY_WAITING, push ? "resumed: push sent" : "resumed: slip printed") != KV_FLOW_OK)
        return 0;
    *left = (int)(end - (int64_t)time(NULL));
    if (*left < 1)
        *left = 1;
    return 1;
}
