/* sim_api.c - request routing (authentication, counting, faults, then the
 * API's handler) and the helpers every API handler shares: payment lookup,
 * input patterns, rate limits and idempotency. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_int.h"

#define MAXSEG 12

void sim_count_key(sim_count **list, const char *key)
{
    for (sim_count *c = *list; c; c = c->next)
        if (strcmp(c->key, key) == 0) { c->n++; return; }
    sim_count *c = calloc(1, sizeof *c);
    if (!c) return;
    c->key = strdup(key);
    if (!c->key) { free(c); return; }
    c->n = 1;
    /* append to keep first-seen order */
    sim_count **pp = list;
    while (*pp) pp = &(*pp)->next;
    *pp = c;
}

sim_payment *sim_find(kv_sim *s, const char *msn, const char *ref, int ecom)
{
    for (sim_payment *p = s->pay; p; p = p->next)
        if (p->ecom == ecom && strcmp(p->ref, ref) == 0 && (!msn || strcmp(p->msn, msn) == 0))
            return p;
    return NULL;
}

int sim_match_pattern(const char *v, size_t minl, size_t maxl, const char *extra)
{
    size_t n = strlen(v);
    if (n < minl || n > maxl) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]) && !strchr(extra, v[i])) return 0;
    return 1;
}

int sim_all_digits(const char *v, size_t minl, size_t maxl)
{
    size_t n = strlen(v);
    if (n < minl || n > maxl) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)v[i])) return 0;
    return 1;
}
/* 1 when msisdn (country code, digits only) is in the comma list s->phones. */
int sim_phone_known(kv_sim *s, const char *msisdn)
{
    size_t n = strlen(msisdn);
    const char *p = s->phones;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && strncmp(p, msisdn, n) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

/* Integer JSON number in [lo, hi] -> 1 and *out. */
int sim_json_int(const cJSON *n, long long lo, long long hi, long long *out)
{
    if (!cJSON_IsNumber(n)) return 0;
    double v = n->valuedouble;
    if (v != floor(v) || v < (double)lo || v > (double)hi) return 0;
    *out = (long long)v;
    return 1;
}

const char *sim_json_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- rate limits ---- */
int sim_rate_hit(kv_sim *s, const char *key, int limit, double now, int *retry_after)
{
    if (limit <= 0) return 0;
    sim_rate *r;
    for (r = s->rate; r; r = r->next)
        if (strcmp(r->key, key) == 0) break;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return 0;
        r->key = strdup(key);
        r->t = calloc((size_t)limit, sizeof *r->t);
        if (!r->key || !r->t) { free(r->key); free(r->t); free(r); return 0; }
        r->limit = limit;
        r->next = s->rate;
        s->rate = r;
    }
    if (r->n == r->limit) {
        double oldest = r->t[r->head];
        if (now - oldest < 60.0) {
            *retry_after = (int)ceil(60.0 - (now - oldest));
            if (*retry_after < 1) *retry_after = 1;
            return 1;
        }
        r->t[r->head] = now;
        r->head = (r->head + 1) % r->limit;
        return 0;
    }
    r->t[(r->head + r->n) % r->limit] = now;
    r->n++;
    return 0;
}

int sim_rate_limited(kv_sim *s, sim_resp *r, int limit, double now, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *key = NULL;
    if (vasprintf(&key, fmt, ap) < 0) key = NULL;
    va_end(ap);
    int retry_after;
    int hit = key && sim_rate_hit(s, key, limit, now, &retry_after);
    free(key);
    if (!hit) return 0;
    char msg[96], ra[16];
    snprintf(msg, sizeof msg, "Rate limit is exceeded. Try again in %d seconds.", retry_after);
    sim_apim_error(r, 429, msg);
    snprintf(ra, sizeof ra, "%d", retry_after);
    sim_resp_header(r, "Retry-After", ra);
    return 1;
}

/* ---- idempotency ---- */
static int same_body(const char *a, const char *b)
{
    cJSON *x = cJSON_Parse(a), *y = cJSON_Parse(b);
    int eq;
    if (x && y) eq = cJSON_Compare(x, y, 1);
    else if (!x && !y) eq = strcmp(a, b) == 0;
    else eq = 0;
    cJSON_Delete(x);
    cJSON_Delete(y);
    return eq;
}

/* 1 = answered (replay or conflict), 0 = go on. */
int sim_idem_check(kv_sim *s, const sim_req *rq, sim_resp *r, const char *scope,
                   const char *key, int ecom, const char *conflict_code, const char *instance)
{
    for (sim_idem *i = s->idem; i; i = i->next) {
        if (strcmp(i->scope, scope) || strcmp(i->key, key)) continue;
        if (!same_body(i->req, rq->body)) {
            if (ecom)
                sim_ecom_error(s, r, 409, "VippsError", "93",
                               "Idempotent request must have identical body to the first request");
            else
                sim_problem(s, r, 409, "Conflict",
                            "The Idempotency-Key was used before with a different request body",
                            instance, conflict_code);
            return 1;
        }
        r->status = i->status;
        r->ctype = i->ctype;
        free(r->body);
        r->body = NULL;
        r->len = i->len;
        if (i->body) {
            r->body = malloc(i->len + 1);
            if (r->body) { memcpy(r->body, i->body, i->len); r->body[i->len] = 0; }
        }
        return 1;
    }
    return 0;
}

void sim_idem_store(kv_sim *s, const sim_req *rq, const sim_resp *r, const char *scope,
                    const char *key)
{
    if (r->status >= 500 || r->status == 429 || r->status == 0) return;
    sim_idem *i = calloc(1, sizeof *i);
    if (!i) return;
    i->scope = strdup(scope);
    i->key = strdup(key);
    i->req = strdup(rq->body);
    i->status = r->status;
    i->ctype = r->ctype;
    i->len = r->len;
    if (r->body) {
        i->body = malloc(r->len + 1);
        if (i->body) { memcpy(i->body, r->body, r->len); i->body[r->len] = 0; }
    }
    i->next = s->idem;
    s->idem = i;
}

/* ---- entry point ---- */
void sim_handle(kv_sim *s, const sim_req *rq, sim_resp *r)
{
    char *path = strdup(rq->path);
    if (!path) { sim_apim_error(r, 500, "Internal server error"); return; }
    char *seg[MAXSEG];
    int nseg = 0;
    for (char *save = NULL, *t = strtok_r(path, "/", &save); t && nseg < MAXSEG;
         t = strtok_r(NULL, "/", &save))
        seg[nseg++] = t;

    pthread_mutex_lock(&s->mu);
    double now = sim_now();
    sim_tick(s, now);
    if (nseg >= 1 && !strcmp(seg[0], "sim")) {
        sim_control_route(s, rq, r, seg, nseg);
        pthread_mutex_unlock(&s->mu);
        free(path);
        return;
    }
    char *ck = sim_printf("%s %s", rq->method, rq->path);
    if (ck) { sim_count_key(&s->counts, ck); free(ck); }
    const char *ik = sim_header(rq, "Idempotency-Key");
    if (!ik) ik = sim_header(rq, "X-Request-Id");
    if (ik) {
        char *kk = sim_printf("%s %s %s", rq->method, rq->path, ik);
        if (kk) { sim_count_key(&s->keys, kk); free(kk); }
    }
    if (!sim_header(rq, "Vipps-System-Name") || !sim_header(rq, "Vipps-System-Version") ||
        !sim_header(rq, "Vipps-System-Plugin-Name") || !sim_header(rq, "Vipps-System-Plugin-Version")) {
        char *nk = sim_printf("%s %s", rq->method, rq->path);
        if (nk) { sim_count_key(&s->nosys, nk); free(nk); }
    }
    sim_resp after;
    memset(&after, 0, sizeof after);
    int f = sim_fault_check(s, rq, r, &after);
    if (f == 1) goto out;

    int ecom = nseg >= 1 && !strcmp(seg[0], "ecomm");
    int ci;
    char msn[16];
    if (nseg == 2 && !strcmp(seg[0], "accesstoken") && !strcmp(seg[1], "get")) {
        if (strcmp(rq->method, "POST")) sim_apim_error(r, 404, "Resource not found");
        else sim_access_token(s, rq, r, now);
    } else if (nseg >= 1 && (!strcmp(seg[0], "epayment") || ecom || !strcmp(seg[0], "qr") ||
                             !strcmp(seg[0], "order-management") || !strcmp(seg[0], "webhooks") ||
                             !strcmp(seg[0], "settlement") || !strcmp(seg[0], "report") ||
                             !strcmp(seg[0], "management"))) {
        if (sim_authenticate(s, rq, r, ecom, &ci, msn) == 0) {
            if (!strcmp(seg[0], "epayment") && nseg >= 2 && !strcmp(seg[1], "v1"))
                sim_epay_route(s, rq, r, ci, msn, seg, nseg, now);
            else if (ecom && nseg >= 2 && !strcmp(seg[1], "v2"))
                sim_ecom_route(s, rq, r, ci, msn, seg, nseg);
            else if (!strcmp(seg[0], "qr") && nseg >= 2 && !strcmp(seg[1], "v1"))
                sim_qr_route(s, rq, r, ci, msn, seg, nseg);
            else if (!strcmp(seg[0], "order-management"))
                sim_om_route(s, rq, r, msn, seg, nseg);
            else if (!strcmp(seg[0], "webhooks") && nseg >= 3 && !strcmp(seg[1], "v1") &&
                     !strcmp(seg[2], "webhooks"))
                sim_hooks_route(s, rq, r, msn, seg, nseg);
            else if (!strcmp(seg[0], "settlement") || !strcmp(seg[0], "report"))
                sim_report_route(s, rq, r, ci, msn, seg, nseg);
            else if (!strcmp(seg[0], "management"))
                sim_mgmt_route(s, rq, r, ci, msn, seg, nseg);
            else
                sim_apim_error(r, 404, "Resource not found");
        }
    } else {
        sim_apim_error(r, 404, "Resource not found");
    }
    if (f == 2) {
        free(r->body);
        *r = after;
        memset(&after, 0, sizeof after);
    }
out:
    free(after.body);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    free(path);
}
