/* sim_control.c - the simulator's own /sim/v1 endpoints (statistics,
 * scripted faults, forced customer actions, QR images, landing page) and
 * fault injection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

static void fill_fault(kv_sim *s, sim_resp *r, const char *action, int status, const char *code,
                       int retry_after, int delay_ms, const char *path)
{
    if (!strcmp(action, "drop")) { r->status = 0; return; }
    if (!strcmp(action, "slow")) { r->delay_ms = delay_ms > 0 ? delay_ms : s->o.slow_ms; return; }
    if (status <= 0) status = 503;
    int ecom = !strncmp(path, "/ecomm/", 7);
    const char *inst = strchr(path + 1, '/');
    if (ecom) {
        sim_ecom_error(s, r, status, "VippsError", code && *code ? code : "99",
                       status == 423 || (code && !strcmp(code, "94")) ? "Order is locked, retry later"
                                                                     : "Injected fault");
    } else if (status == 429 || status == 503 || status == 502 || status == 504) {
        if (code && *code) sim_problem(s, r, status, NULL, "Injected fault", inst, code);
        else if (status == 429) sim_apim_error(r, 429, "Rate limit is exceeded.");
        else sim_problem(s, r, status, NULL, "Injected fault", inst, NULL);
    } else {
        sim_problem(s, r, status, NULL, "Injected fault", inst, code && *code ? code : NULL);
    }
    if (retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", retry_after);
        sim_resp_header(r, "Retry-After", ra);
    }
}

int sim_fault_check(kv_sim *s, const sim_req *rq, sim_resp *r, sim_resp *after)
{
    for (sim_fault **pp = &s->faults; *pp; pp = &(*pp)->next) {
        sim_fault *f = *pp;
        if (f->method[0] && strcmp(f->method, rq->method)) continue;
        size_t n = strlen(f->path);
        int match = (n && f->path[n - 1] == '*') ? !strncmp(rq->path, f->path, n - 1)
                                                 : !strcmp(rq->path, f->path);
        if (!match) continue;
        sim_resp *t = f->after ? after : r;
        fill_fault(s, t, f->action, f->status, f->errcode, f->retry_after, f->delay_ms, rq->path);
        int slow = !strcmp(f->action, "slow");
        if (slow && f->after) { r->delay_ms = after->delay_ms; }
        int ret = slow ? 0 : (f->after ? 2 : 1);
        if (--f->count <= 0) { *pp = f->next; free(f->path); free(f); }
        return ret;
    }
    if (s->o.fail_rate > 0 && sim_rand01(s) < s->o.fail_rate) {
        double k = sim_rand01(s);
        if (k < 0.5) fill_fault(s, r, "status", k < 0.25 ? 503 : 500, NULL, 0, 0, rq->path);
        else if (k < 0.75) fill_fault(s, r, "drop", 0, NULL, 0, 0, rq->path);
        else { r->delay_ms = s->o.slow_ms; return 0; }
        return 1;
    }
    return 0;
}

static cJSON *counts_json(const sim_count *c)
{
    cJSON *o = cJSON_CreateObject();
    for (; c; c = c->next) cJSON_AddNumberToObject(o, c->key, (double)c->n);
    return o;
}

static void stats(kv_sim *s, sim_resp *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "requests", counts_json(s->counts));
    cJSON *keys = cJSON_AddArrayToObject(o, "idempotencyKeys");
    for (sim_count *c = s->keys; c; c = c->next) {
        /* "METHOD path key" */
        char *dup = strdup(c->key);
        if (!dup) continue;
        char *sp1 = strchr(dup, ' ');
        char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
        if (sp1 && sp2) {
            *sp1 = 0; *sp2 = 0;
            cJSON *k = cJSON_CreateObject();
            cJSON_AddStringToObject(k, "method", dup);
            cJSON_AddStringToObject(k, "path", sp1 + 1);
            cJSON_AddStringToObject(k, "key", sp2 + 1);
            cJSON_AddNumberToObject(k, "count", (double)c->n);
            cJSON_AddItemToArray(keys, k);
        }
        free(dup);
    }
    cJSON_AddItemToObject(o, "missingSystemHeaders", counts_json(s->nosys));
    cJSON_AddNumberToObject(o, "tokensIssued", (double)s->tokens_issued);
    cJSON *w = cJSON_AddObjectToObject(o, "deliveries");
    cJSON_AddNumberToObject(w, "attempted", (double)s->deliveries_attempted);
    cJSON_AddNumberToObject(w, "delivered", (double)s->deliveries_ok);
    cJSON_AddNumberToObject(w, "failed", (double)s->deliveries_failed);
    long pending = 0;
    for (sim_delivery *d = s->dq; d; d = d->next) if (!d->done) pending++;
    cJSON_AddNumberToObject(w, "pending", (double)pending);
    sim_resp_json(r, 200, o);
}

static void add_fault(kv_sim *s, const sim_req *rq, sim_resp *r)
{
    cJSON *b = cJSON_Parse(rq->body);
    const cJSON *path = b ? cJSON_GetObjectItemCaseSensitive(b, "path") : NULL;
    const cJSON *action = b ? cJSON_GetObjectItemCaseSensitive(b, "action") : NULL;
    const char *act = cJSON_IsString(action) ? action->valuestring : "status";
    if (!cJSON_IsString(path) || path->valuestring[0] != '/' ||
        (strcmp(act, "status") && strcmp(act, "drop") && strcmp(act, "slow"))) {
        cJSON_Delete(b);
        sim_resp_text(r, 400, "text/plain", "need {\"path\":\"/...\",\"action\":\"status|drop|slow\"}\n");
        return;
    }
    sim_fault *f = calloc(1, sizeof *f);
    if (!f) { cJSON_Delete(b); sim_resp_text(r, 500, "text/plain", "no memory\n"); return; }
    f->path = strdup(path->valuestring);
    snprintf(f->action, sizeof f->action, "%s", act);
    const cJSON *v;
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(b, "method")))
        snprintf(f->method, sizeof f->method, "%s", v->valuestring);
    f->count = cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(b, "count")) ? v->valueint : 1;
    if (f->count < 1) f->count = 1;
    f->status = cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(b, "status")) ? v->valueint : 503;
    if (cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(b, "errorCode")))
        snprintf(f->errcode, sizeof f->errcode, "%s", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(f->errcode, sizeof f->errcode, "%d", v->valueint);
    f->retry_after = cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(b, "retryAfter")) ? v->valueint : 0;
    f->delay_ms = cJSON_IsNumber(v = cJSON_GetObjectItemCaseSensitive(b, "delayMs")) ? v->valueint : 0;
    f->after = cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(b, "when")) && !strcmp(v->valuestring, "after");
    cJSON_Delete(b);
    if (!f->path) { free(f); sim_resp_text(r, 500, "text/plain", "no memory\n"); return; }
    sim_fault **pp = &s->faults;
    while (*pp) pp = &(*pp)->next;
    *pp = f;
    sim_resp_text(r, 201, "application/json", "{}");
}

static void list_faults(kv_sim *s, sim_resp *r)
{
    cJSON *a = cJSON_CreateArray();
    for (sim_fault *f = s->faults; f; f = f->next) {
        cJSON *o = cJSON_CreateObject();
        if (f->method[0]) cJSON_AddStringToObject(o, "method", f->method);
        cJSON_AddStringToObject(o, "path", f->path);
        cJSON_AddNumberToObject(o, "count", f->count);
        cJSON_AddStringToObject(o, "action", f->action);
        cJSON_AddNumberToObject(o, "status", f->status);
        if (f->errcode[0]) cJSON_AddStringToObject(o, "errorCode", f->errcode);
        cJSON_AddStringToObject(o, "when", f->after ? "after" : "before");
        cJSON_AddItemToArray(a, o);
    }
    sim_resp_json(r, 200, a);
}

static void force_state(kv_sim *s, const sim_req *rq, sim_resp *r, const char *ref)
{
    sim_payment *p = sim_find(s, NULL, ref, 0);
    if (!p) p = sim_find(s, NULL, ref, 1);
    if (!p) { sim_resp_text(r, 404, "text/plain", "no such payment or order\n"); return; }
    cJSON *b = cJSON_Parse(rq->body);
    const char *st = NULL;
    const cJSON *v = b ? cJSON_GetObjectItemCaseSensitive(b, "state") : NULL;
    if (cJSON_IsString(v)) st = v->valuestring;
    double now = sim_now();
    int rc = -2;
    if (st && (!strcasecmp(st, "AUTHORIZED") || !strcasecmp(st, "approve") || !strcasecmp(st, "RESERVE")))
        rc = sim_customer_approve(s, p, now);
    else if (st && (!strcasecmp(st, "ABORTED") || !strcasecmp(st, "abort") || !strcasecmp(st, "CANCEL")))
        rc = sim_customer_abort(s, p, now);
    else if (st && (!strcasecmp(st, "EXPIRED") || !strcasecmp(st, "expire") || !strcasecmp(st, "REJECTED")))
        rc = sim_customer_expire(s, p, now);
    cJSON_Delete(b);
    if (rc == -2) sim_resp_text(r, 400, "text/plain", "state must be AUTHORIZED, ABORTED or EXPIRED\n");
    else if (rc == -1) sim_resp_text(r, 409, "text/plain", "the payment is not awaiting the customer\n");
    else {
        p->auto_at = 0;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "result", rc == 0 ? "approved-or-done" : rc == 1 ? "declined" : "pending");
        sim_resp_json(r, 200, o);
    }
}

static void deliveries(kv_sim *s, sim_resp *r)
{
    cJSON *a = cJSON_CreateArray();
    for (sim_delivery *d = s->dq; d; d = d->next) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "url", d->url);
        cJSON_AddStringToObject(o, "event", d->event);
        cJSON_AddStringToObject(o, "reference", d->ref);
        cJSON_AddStringToObject(o, "kind", d->secret ? "webhook" : "callback");
        cJSON_AddNumberToObject(o, "attempts", d->attempts);
        cJSON_AddNumberToObject(o, "lastStatus", (double)d->last_status);
        cJSON_AddStringToObject(o, "result", d->done == 1 ? "delivered" : d->done < 0 ? "failed" : "pending");
        cJSON_AddItemToArray(a, o);
    }
    sim_resp_json(r, 200, a);
}

static sim_qr *find_qr(kv_sim *s, const char *token)
{
    for (sim_qr *q = s->qrs; q; q = q->next)
        if (!strcmp(q->token, token)) return q;
    return NULL;
}

static void qr_image(kv_sim *s, const sim_req *rq, sim_resp *r, const char *file)
{
    char tok[64];
    snprintf(tok, sizeof tok, "%s", file);
    char *dot = strrchr(tok, '.');
    if (!dot) { sim_resp_text(r, 404, "text/plain", "not found\n"); return; }
    *dot = 0;
    sim_qr *q = find_qr(s, tok);
    if (!q || sim_now() >= q->expires_at) { sim_resp_text(r, 404, "text/plain", "not found\n"); return; }
    if (!strcmp(dot + 1, "png")) {
        const char *sz = sim_query(rq, "size");
        int size = sz ? atoi(sz) : 1024;
        if (size < 100 || size > 2000) size = 1024;
        size_t len;
        unsigned char *png = sim_qr_png(q->target, size, &len);
        if (!png) { sim_resp_text(r, 500, "text/plain", "qr failed\n"); return; }
        r->status = 200; r->ctype = "image/png"; r->body = (char *)png; r->len = len;
    } else if (!strcmp(dot + 1, "svg")) {
        size_t len;
        char *svg = sim_qr_svg(q->target, &len);
        if (!svg) { sim_resp_text(r, 500, "text/plain", "qr failed\n"); return; }
        r->status = 200; r->ctype = "image/svg+xml"; r->body = svg; r->len = len;
    } else {
        sim_resp_text(r, 404, "text/plain", "not found\n");
    }
}

static void landing(kv_sim *s, sim_resp *r, const char *token)
{
    for (sim_payment *p = s->pay; p; p = p->next) {
        if (strcmp(p->token, token)) continue;
        char *html = sim_printf(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>kvitt sim</title></head><body>"
            "<h1>kvitt simulator</h1><p>Payment <b>%s</b>: %lld.%02lld %s</p>"
            "<button onclick=\"go('approve')\">Approve</button> "
            "<button onclick=\"go('abort')\">Abort</button><p id=r></p><script>"
            "function go(s){fetch('/sim/v1/payments/%s/state',{method:'POST',body:JSON.stringify({state:s})})"
            ".then(x=>x.text()).then(t=>document.getElementById('r').textContent=t)}</script></body></html>\n",
            p->ref, p->amount / 100, p->amount % 100, p->currency, p->ref);
        sim_resp_text(r, 200, "text/html; charset=utf-8", html);
        free(html);
        return;
    }
    sim_resp_text(r, 404, "text/plain", "not found\n");
}

void sim_control_route(kv_sim *s, const sim_req *rq, sim_resp *r, char **seg, int nseg)
{
    const char *m = rq->method;
    if (nseg < 3 || strcmp(seg[1], "v1")) { sim_resp_text(r, 404, "text/plain", "not found\n"); return; }
    if (nseg >= 3 && !strcmp(seg[2], "report")) { sim_report_control(s, rq, r, seg, nseg); return; }
    if (nseg == 3 && !strcmp(seg[2], "stats")) {
        if (!strcmp(m, "GET")) { stats(s, r); return; }
        if (!strcmp(m, "DELETE")) {
            sim_count *lists[3] = { s->counts, s->keys, s->nosys };
            for (int k = 0; k < 3; k++)
                while (lists[k]) { sim_count *c = lists[k]; lists[k] = c->next; free(c->key); free(c); }
            s->counts = s->keys = s->nosys = NULL;
            s->tokens_issued = s->deliveries_attempted = s->deliveries_ok = s->deliveries_failed = 0;
            sim_resp_text(r, 204, NULL, NULL);
            return;
        }
    }
    if (nseg == 3 && !strcmp(seg[2], "faults")) {
        if (!strcmp(m, "POST")) { add_fault(s, rq, r); return; }
        if (!strcmp(m, "GET")) { list_faults(s, r); return; }
        if (!strcmp(m, "DELETE")) {
            while (s->faults) { sim_fault *f = s->faults; s->faults = f->next; free(f->path); free(f); }
            sim_resp_text(r, 204, NULL, NULL);
            return;
        }
    }
    if (nseg == 5 && !strcmp(seg[2], "payments") && !strcmp(seg[4], "state") && !strcmp(m, "POST")) {
        force_state(s, rq, r, seg[3]);
        return;
    }
    if (nseg == 4 && !strcmp(seg[2], "webhooks") && !strcmp(seg[3], "deliveries") && !strcmp(m, "GET")) {
        deliveries(s, r);
        return;
    }
    if (nseg == 4 && !strcmp(seg[2], "qr") && !strcmp(m, "GET")) { qr_image(s, rq, r, seg[3]); return; }
    if (nseg == 4 && !strcmp(seg[2], "landing") && !strcmp(m, "GET")) { landing(s, r, seg[3]); return; }
    sim_resp_text(r, 404, "text/plain", "not found\n");
}
