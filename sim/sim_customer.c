/* sim_customer.c - ePayment events (and their webhooks), the simulated
 * customer (approve, abort, expire, magic test amounts) and the clock tick
 * that runs automatic customer actions and expiry. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

/* ---- ePayment events and webhooks ---- */
static sim_event *add_event(sim_payment *p, const char *name, long long value,
                            const char *idem, int success, const char *psp, double now)
{
    if (p->nev == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 8;
        sim_event *ne = realloc(p->ev, nc * sizeof *ne);
        if (!ne) return NULL;
        p->ev = ne;
        p->cap = nc;
    }
    sim_event *e = &p->ev[p->nev++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->value = value;
    snprintf(e->psp, sizeof e->psp, "%s", psp);
    sim_rfc3339(now, e->ts);
    e->idem = idem ? strdup(idem) : NULL;
    e->success = success;
    return e;
}

void sim_new_psp(kv_sim *s, char out[40])
{
    snprintf(out, 40, "%llu", 1000000000ULL + sim_rand(s) % 9000000000ULL);
}

cJSON *sim_amount_json(const char *cur, long long v)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "currency", cur);
    cJSON_AddNumberToObject(a, "value", (double)v);
    return a;
}

cJSON *sim_event_json(const sim_payment *p, const sim_event *e, int with_msn)
{
    cJSON *o = cJSON_CreateObject();
    if (with_msn) cJSON_AddStringToObject(o, "msn", p->msn);
    cJSON_AddStringToObject(o, "reference", p->ref);
    cJSON_AddStringToObject(o, "pspReference", e->psp);
    cJSON_AddStringToObject(o, "name", e->name);
    cJSON_AddItemToObject(o, "amount", sim_amount_json(p->currency, e->value));
    cJSON_AddStringToObject(o, "timestamp", e->ts);
    if (e->idem) cJSON_AddStringToObject(o, "idempotencyKey", e->idem);
    else cJSON_AddNullToObject(o, "idempotencyKey");
    cJSON_AddBoolToObject(o, "success", e->success);
    return o;
}

void sim_epay_event(kv_sim *s, sim_payment *p, const char *name, long long value,
                    const char *idem, int success, double now)
{
    char psp[40];
    if (strcmp(name, "CREATED") == 0) snprintf(psp, sizeof psp, "%s", p->psp);
    else sim_new_psp(s, psp);
    sim_event *e = add_event(p, name, value, idem, success, psp, now);
    if (!e) return;
    char evname[64];
    snprintf(evname, sizeof evname, "epayments.payment.%s.v1", name);
    for (char *c = evname; *c; c++) *c = (char)tolower((unsigned char)*c);
    for (sim_hook *h = s->hooks; h; h = h->next) {
        if (strcmp(h->msn, p->msn) != 0) continue;
        int want = 0;
        for (int i = 0; i < h->nevents; i++)
            if (strcmp(h->events[i], evname) == 0) want = 1;
        if (!want) continue;
        cJSON *o = sim_event_json(p, e, 1);
        char *body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (body) {
            sim_enqueue(s, h->id, p->ref, evname, h->url, body, h->secret, NULL,
                        s->o.webhook_max_attempts);
            free(body);
        }
    }
}

/* ---- the simulated customer ---- */
static int magic_decline(long long amount)
{
    switch (amount) {
    case 151: case 182: case 183: case 184: case 186: case 187: case 197: case 202:
        return 1;
    default:
        return 0;
    }
}

static const char *ecom_decline_code(long long amount)
{
    switch (amount) {
    case 151: return "42";   /* insufficient funds: refused by issuer */
    case 182: return "42";
    case 183: return "42";
    case 184: return "42";
    case 186: return "44";   /* expired card */
    case 187: return "41";   /* invalid card */
    default: return "45";
    }
}

/* 0 approved, 1 declined (magic amount), 2 pending (magic 201), -1 wrong state. */
int sim_customer_approve(kv_sim *s, sim_payment *p, double now)
{
    if (p->ecom) {
        if (p->state != E_INITIATE || p->unknown_until > 0) return -1;
        p->opened = 1;
        if (magic_decline(p->amount)) {
            sim_ecom_log(s, p, "RESERVE", p->amount, 0, NULL, p->txtext);
            p->state = E_FAILED;
            sim_ecom_callback(s, p, "RESERVE_FAILED", ecom_decline_code(p->amount),
                              "Payment refused (test amount)");
            return 1;
        }
        if (p->amount == 201) { p->unknown_until = now + s->o.unknown_after_s; return 2; }
        p->state = E_RESERVE;
        p->authorized = p->amount;
        sim_ecom_log(s, p, "RESERVE", p->amount, 1, NULL, p->txtext);
        sim_ecom_callback(s, p, "RESERVED", NULL, NULL);
        return 0;
    }
    if (p->state != P_CREATED || p->unknown_until > 0) return -1;
    if (magic_decline(p->amount)) {
        sim_epay_event(s, p, "AUTHORIZED", p->amount, NULL, 0, now);
        p->state = P_ABORTED;
        sim_epay_event(s, p, "ABORTED", p->amount, NULL, 1, now);
        return 1;
    }
    if (p->amount == 201) { p->unknown_until = now + s->o.unknown_after_s; return 2; }
    p->state = P_AUTHORIZED;
    p->authorized = p->amount;
    sim_epay_event(s, p, "AUTHORIZED", p->amount, NULL, 1, now);
    return 0;
}

int sim_customer_abort(kv_sim *s, sim_payment *p, double now)
{
    if (p->ecom) {
        if (p->state != E_INITIATE) return -1;
        p->state = E_CANCEL;
        sim_ecom_log(s, p, "CANCEL", p->amount, 1, NULL, p->txtext);
        sim_ecom_callback(s, p, "CANCELLED", NULL, NULL);
        return 0;
    }
    if (p->state != P_CREATED) return -1;
    p->state = P_ABORTED;
    sim_epay_event(s, p, "ABORTED", p->amount, NULL, 1, now);
    return 0;
}

int sim_customer_expire(kv_sim *s, sim_payment *p, double now)
{
    if (p->ecom) {
        if (p->state != E_INITIATE) return -1;
        p->state = E_REJECTED;
        sim_ecom_log(s, p, "CANCEL", p->amount, 1, NULL, "User has not acted upon the payment");
        sim_ecom_callback(s, p, "REJECTED", "45", "User has not acted upon the payment");
        return 0;
    }
    if (p->state != P_CREATED) return -1;
    p->state = P_EXPIRED;
    sim_epay_event(s, p, "EXPIRED", p->amount, NULL, 1, now);
    return 0;
}

void sim_tick(kv_sim *s, double now)
{
    for (sim_payment *p = s->pay; p; p = p->next) {
        int pending = p->ecom ? p->state == E_INITIATE : p->state == P_CREATED;
        if (!pending) continue;
        if (p->unknown_until > 0) {
            if (now >= p->unknown_until) { p->unknown_until = 0; sim_customer_expire(s, p, now); }
            continue;
        }
        if (p->auto_at > 0 && now >= p->auto_at) {
            p->auto_at = 0;
            switch (p->auto_action) {
            case KV_SIM_AUTO_APPROVE: sim_customer_approve(s, p, now); break;
            case KV_SIM_AUTO_ABORT: sim_customer_abort(s, p, now); break;
            case KV_SIM_AUTO_EXPIRE: sim_customer_expire(s, p, now); break;
            default: break;
            }
            continue;
        }
        if (now >= p->expires_at) sim_customer_expire(s, p, now);
    }
}
