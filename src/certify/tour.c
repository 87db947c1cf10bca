/* tour.c - the checklist tour: the payments, their approvals, the
 * modifications, and the checks that turn the evidence into line results. */
#include "src/certify/certify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void checkpoint(kv_certify *c)
{
    if (c->out_dir[0])
        kvc_report_write(c, c->out_dir); /* best effort: the final write reports errors */
}

static int stopped(const kv_certify *c)
{
    return c->stop && *c->stop;
}

/* Reason text for a failed client call: status, the API's code and
 * traceId (kv_vipps_error.log carries them), secrets masked. */
static void why_api(kv_certify *c, char *buf, size_t len, const char *what, kv_vipps_status st)
{
    const kv_vipps_error *e = kv_vipps_last_error(c->client);
    buf[0] = 0;
    kvc_cat(buf, len, what);
    kvc_cat(buf, len, ": ");
    kvc_cat(buf, len, kv_vipps_strerror(st));
    if (e->log[0]) {
        kvc_cat(buf, len, ": ");
        kvc_cat(buf, len, e->log); /* a long API message is cut */
    }
    kvc_mask(c, buf);
}

static cert_pay *new_pay(kv_certify *c, const char *role)
{
    if (c->npays >= sizeof c->pays / sizeof c->pays[0])
        return NULL;
    cert_pay *p = &c->pays[c->npays];
    memset(p, 0, sizeof *p);
    char n[4] = { '-', (char)('1' + c->npays), 0, 0 };
    p->ref[0] = 0;
    kvc_cat(p->ref, sizeof p->ref, c->store->reference_prefix);
    kvc_cat(p->ref, sizeof p->ref, "-cert-");
    kvc_cat(p->ref, sizeof p->ref, c->run_id);
    kvc_cat(p->ref, sizeof p->ref, n);
    p->role = role;
    p->amount = c->amount;
    c->npays++;
    return p;
}

static int pay_index(const kv_certify *c, const cert_pay *p)
{
    return (int)(p - c->pays);
}

static void bind(kv_certify *c, const char *id, const cert_pay *p, const char *expect)
{
    cert_line *l = kvc_line(c, id);
    if (!l)
        return;
    l->pay = pay_index(c, p);
    snprintf(l->expect, sizeof l->expect, "%s", expect ? expect : "");
}

static void skip_line(kv_certify *c, const char *id, const cert_pay *p, const char *because)
{
    cert_line *l = kvc_line(c, id);
    if (l && l->result == R_NOT_RUN)
        kvc_set(l, R_FAILED, "not run: %s of %s failed earlier (%s)", because, p->ref, p->note);
}

/* Create the payment (QR, or a push to the test user's phone). */
static int create(kv_certify *c, cert_pay *p, int with_receipt, char *qr_url, size_t qlen)
{
    char desc[64];
    snprintf(desc, sizeof desc, "kvitt certify: %s", p->role);
    char key[51];
    snprintf(key, sizeof key, "%s-create", p->ref);
    kv_vipps_order_line line = {
        .id = "cert-1", .name = "Certification item", .total_amount = p->amount,
        .total_amount_excl_tax = p->amount * 100 / 125, .tax_rate = 2500,
        .unit_price = p->amount, .quantity = "1",
    };
    line.total_tax_amount = p->amount - line.total_amount_excl_tax;
    const kv_config_main *m = kv_config_main_get(c->cfg);
    kv_vipps_receipt rc = { .lines = &line, .n_lines = 1, .currency = c->store->currency,
                            .pos_id = m->till_id, .receipt_number = p->ref };
    kv_vipps_create_req r = {
        .reference = p->ref, .amount = p->amount, .currency = c->store->currency,
        .flow = c->phone[0] ? KV_VIPPS_FLOW_PUSH : KV_VIPPS_FLOW_QR,
        .qr_format = c->store->qr_source == KV_QR_IMAGE ? KV_VIPPS_QR_PNG : KV_VIPPS_QR_TEXT,
        .qr_size = c->store->qr_source == KV_QR_IMAGE ? 600 : 0,
        .phone = c->phone[0] ? c->phone : NULL, .description = desc,
        .receipt = with_receipt ? &rc : NULL, .idempotency_key = key,
    };
    kv_vipps_created out;
    snprintf(p->note, sizeof p->note, "create sent (Idempotency-Key %s)", key);
    checkpoint(c);
    kv_vipps_status st = kv_vipps_create(&out, c->client, &r);
    if (st != KV_VIPPS_OK) {
        why_api(c, p->note, sizeof p->note, "create", st);
        return -1;
    }
    p->created = 1;
    snprintf(qr_url, qlen, "%s", out.redirect_url);
    snprintf(p->note, sizeof p->note, "created");
    checkpoint(c);
    return 0;
}

/* Get the customer's approval, then poll until the payment leaves
 * CREATED.  *polls receives the number of GETs. */
static int approve(kv_certify *c, cert_pay *p, const char *qr_url, int *polls)
{
    char money[32];
    kv_flow_format_amount(money, sizeof money, p->amount);
    *polls = 0;
    int by_sim = c->env == KV_CERTIFY_ENV_SIM && !c->wait_for_app;
    if (by_sim) {
        char path[160];
        snprintf(path, sizeof path, "/sim/v1/payments/%s/state", p->ref);
        long st = kvc_sim_http(c->base_url, "POST", path, "{\"state\":\"AUTHORIZED\"}", NULL);
        if (st != 200) {
            snprintf(p->note, sizeof p->note, "the simulator did not approve (HTTP %ld on POST %s)", st, path);
            return -1;
        }
    } else if (c->force_approve) {
        kv_vipps_status st = kv_vipps_test_approve(c->client, p->ref, c->phone);
        if (st != KV_VIPPS_OK) {
            why_api(c, p->note, sizeof p->note, "force approve (test API)", st);
            return -1;
        }
    } else {
        const char *app = c->env == KV_CERTIFY_ENV_PRODUCTION ? "Vipps MobilePay app"
                          : c->env == KV_CERTIFY_ENV_SIM ? "simulator (its --auto mode or landing page)"
                          : "Vipps MT app";
        if (c->phone[0])
            kvc_say(c, "ACTION: approve payment %s of %s %s in the %s for phone %.4s%s (waiting up to %d s)",
                    p->ref, c->store->currency, money, app, c->phone, "******", c->approve_timeout_s);
        else
            kvc_say(c, "ACTION: approve payment %s of %s %s in the %s: scan the QR code at %s "
                    "(waiting up to %d s)", p->ref, c->store->currency, money, app, qr_url,
                    c->approve_timeout_s);
    }
    const kv_config_main *m = kv_config_main_get(c->cfg);
    int interval = m->poll_interval_ms >= 500 ? m->poll_interval_ms : 500;
    int manual = !by_sim && !c->force_approve;
    long waited = 0, limit = (long)c->approve_timeout_s * 1000;
    if (manual) {
        usleep((useconds_t)m->poll_first_s * 1000000u);
        waited = (long)m->poll_first_s * 1000;
    }
    for (;;) {
        kv_vipps_payment g;
        kv_vipps_status st = kv_vipps_get(&g, c->client, p->ref);
        (*polls)++;
        if (st == KV_VIPPS_OK) {
            p->last = g;
            p->have = 1;
            if (g.state == KV_VIPPS_STATE_AUTHORIZED)
                return 0;
            if (g.state != KV_VIPPS_STATE_CREATED) {
                snprintf(p->note, sizeof p->note, "the customer's answer was %s, not AUTHORIZED",
                         kv_vipps_state_name(g.state));
                return -1;
            }
        }
        if (stopped(c)) {
            snprintf(p->note, sizeof p->note, "interrupted while waiting for the approval");
            return -1;
        }
        if (waited >= limit) {
            snprintf(p->note, sizeof p->note, "not approved within %d s (state %s)", c->approve_timeout_s,
                     p->have ? kv_vipps_state_name(p->last.state) : "unknown");
            return -1;
        }
        usleep((useconds_t)interval * 1000u);
        waited += interval;
    }
}

static int modify(kv_certify *c, cert_pay *p, const char *op, int64_t amount, int n, const char *line_id)
{
    char key[51];
    snprintf(key, sizeof key, "%s-%s-%d", p->ref, op, n);
    size_t mark = c->nreqs;
    snprintf(p->note, sizeof p->note, "%s sent (Idempotency-Key %s)", op, key);
    checkpoint(c);
    kv_vipps_modification m;
    kv_vipps_status st;
    if (!strcmp(op, "capture"))
        st = kv_vipps_capture(&m, c->client, p->ref, amount, c->store->currency, key);
    else if (!strcmp(op, "refund"))
        st = kv_vipps_refund(&m, c->client, p->ref, amount, c->store->currency, key);
    else
        st = kv_vipps_cancel(&m, c->client, p->ref, 0, key);
    cert_line *l = line_id ? kvc_line(c, line_id) : NULL;
    if (l) {
        char sfx[16];
        snprintf(sfx, sizeof sfx, "/%s", op);
        l->req = kvc_find_req(c, mark, "POST", sfx);
    }
    if (st != KV_VIPPS_OK) {
        why_api(c, p->note, sizeof p->note, op, st);
        if (l)
            kvc_set(l, R_FAILED, "%s", p->note);
        checkpoint(c);
        return -1;
    }
    p->last = m;
    p->have = 1;
    char money[32];
    kv_flow_format_amount(money, sizeof money, amount);
    snprintf(p->note, sizeof p->note, "%s done", op);
    if (l) {
        if (!strcmp(op, "cancel"))
            kvc_set(l, R_PASSED, "cancel answered 200 (Idempotency-Key %s)", key);
        else
            kvc_set(l, R_PASSED, "%s of %s %s answered 200 (Idempotency-Key %s)", op, c->store->currency,
                    money, key);
    }
    checkpoint(c);
    return 0;
}

/* A payment nobody approved is not left hanging: cancel it only if it is
 * still unanswered (cancelTransactionOnly), and release it in full when the
 * customer approved in the meantime.  The outcome is appended to p->note. */
static void abandon(kv_certify *c, cert_pay *p)
{
    char key[51], why[256];
    snprintf(why, sizeof why, "%s", p->note);
    snprintf(key, sizeof key, "%s-cancel-abandon", p->ref);
    kv_vipps_modification m;
    kv_vipps_status st = kv_vipps_cancel(&m, c->client, p->ref, 1, key);
    if (st == KV_VIPPS_E_API) {
        snprintf(key, sizeof key, "%s-cancel-release", p->ref);
        st = kv_vipps_cancel(&m, c->client, p->ref, 0, key);
    }
    if (st == KV_VIPPS_OK) {
        p->last = m;
        p->have = 1;
    }
    snprintf(p->note, sizeof p->note, "%.200s; %s", why,
             st == KV_VIPPS_OK ? "the payment was cancelled" : "cancelling it failed too: cancel it by hand");
}

/* Create + approve; on failure every listed line is marked not run. */
static int start(kv_certify *c, cert_pay *p, int with_receipt, int *polls, const char *const lines[])
{
    char qr[2048] = "";
    size_t mark = c->nreqs;
    int rc = -1;
    if (stopped(c))
        snprintf(p->note, sizeof p->note, "interrupted before the create");
    else
        rc = create(c, p, with_receipt, qr, sizeof qr);
    cert_line *cl = kvc_line(c, "create");
    if (cl && cl->pay == pay_index(c, p)) {
        cl->req = kvc_find_req(c, mark, "POST", "/epayment/v1/payments");
        char money[32];
        kv_flow_format_amount(money, sizeof money, p->amount);
        if (rc == 0)
            kvc_set(cl, R_PASSED, "created %s %s (%s), answered 201", c->store->currency, money,
                    c->phone[0] ? "PUSH_MESSAGE" : "userFlow QR");
    }
    if (rc == 0) {
        kvc_say(c, "%s: created (%s)", p->ref, p->role);
        rc = approve(c, p, qr, polls);
        if (rc == 0)
            kvc_say(c, "%s: AUTHORIZED after %d poll(s)", p->ref, *polls);
    }
    if (rc != 0 && p->created && (!p->have || p->last.state == KV_VIPPS_STATE_CREATED))
        abandon(c, p);
    if (rc != 0) {
        kvc_say(c, "%s: %s", p->ref, p->note);
        if (cl && cl->pay == pay_index(c, p) && cl->result == R_NOT_RUN)
            kvc_set(cl, R_FAILED, "%s", p->note);
        for (size_t i = 0; lines[i]; i++)
            skip_line(c, lines[i], p, p->created ? "the approval" : "the create");
        checkpoint(c);
    }
    return rc;
}

void kvc_tour(kv_certify *c)
{
    int64_t a = c->amount, half = a / 2, quarter = half / 2;
    int polls = 0;
    char money[32];

    /* 1: created with a receipt, approved by polling, read, captured in
     * full, event log read.  Ends CAPTURED. */
    cert_pay *p1 = new_pay(c, "captured");
    bind(c, "create", p1, NULL);
    bind(c, "get", p1, NULL);
    bind(c, "events", p1, NULL);
    bind(c, "polling", p1, NULL);
    bind(c, "webhooks", p1, NULL);
    bind(c, "receipt", p1, NULL);
    bind(c, "customer-present", p1, NULL);
    bind(c, "reference", p1, NULL);
    bind(c, "capture-full", p1, "CAPTURED");
    bind(c, "headers", p1, NULL);
    bind(c, "idempotency", p1, NULL);
    bind(c, "qr-design", p1, NULL);
    static const char *const l1[] = { "get", "events", "polling", "capture-full", NULL };
    if (start(c, p1, 1, &polls, l1) == 0) {
        const kv_config_main *m = kv_config_main_get(c->cfg);
        kvc_line(c, "polling")->req = kvc_find_req(c, 0, "GET", p1->ref);
        kvc_set(kvc_line(c, "polling"), R_PASSED,
                "AUTHORIZED seen by GET polling (%d poll(s); poll_first_s %d, then every %d ms)", polls,
                m->poll_first_s, m->poll_interval_ms);
        size_t mark = c->nreqs;
        kv_vipps_payment g;
        kv_vipps_status st = kv_vipps_get(&g, c->client, p1->ref);
        cert_line *gl = kvc_line(c, "get");
        gl->req = kvc_find_req(c, mark, "GET", p1->ref);
        if (st != KV_VIPPS_OK) {
            why_api(c, gl->reason, sizeof gl->reason, "get", st);
            gl->result = R_FAILED;
        } else if (g.state != KV_VIPPS_STATE_AUTHORIZED || g.authorized != a) {
            kv_flow_format_amount(money, sizeof money, g.authorized);
            kvc_set(gl, R_FAILED, "GET shows state %s, authorized %s", kv_vipps_state_name(g.state), money);
        } else {
            kv_flow_format_amount(money, sizeof money, g.authorized);
            kvc_set(gl, R_PASSED, "state AUTHORIZED, authorizedAmount %s %s", c->store->currency, money);
        }
        modify(c, p1, "capture", a, 1, "capture-full");
        mark = c->nreqs;
        kv_vipps_event *ev = NULL;
        size_t n = 0;
        st = kv_vipps_events(&ev, &n, c->client, p1->ref);
        cert_line *el = kvc_line(c, "events");
        el->req = kvc_find_req(c, mark, "GET", "/events");
        if (st != KV_VIPPS_OK) {
            why_api(c, el->reason, sizeof el->reason, "event log", st);
            el->result = R_FAILED;
        } else {
            static const char *const need[] = { "CREATED", "AUTHORIZED", "CAPTURED", NULL };
            const char *missing = NULL;
            for (size_t k = 0; need[k] && !missing; k++) {
                int found = 0;
                for (size_t i = 0; i < n; i++)
                    found |= !strcmp(ev[i].name, need[k]) && ev[i].success;
                if (!found)
                    missing = need[k];
            }
            if (missing)
                kvc_set(el, R_FAILED, "the event log (%zu events) has no successful %s event", n, missing);
            else
                kvc_set(el, R_PASSED, "%zu events incl. CREATED, AUTHORIZED, CAPTURED (success true)", n);
        }
        kv_vipps_events_free(ev);
    }

    /* 2: partial capture, partial refund, the rest released. */
    cert_pay *p2 = new_pay(c, "partial");
    bind(c, "capture-partial", p2, NULL);
    bind(c, "refund-partial", p2, NULL);
    static const char *const l2[] = { "capture-partial", "refund-partial", NULL };
    if (start(c, p2, 0, &polls, l2) == 0) {
        if (modify(c, p2, "capture", half, 1, "capture-partial") == 0) {
            if (modify(c, p2, "refund", quarter, 1, "refund-partial") == 0)
                modify(c, p2, "cancel", 0, 1, NULL); /* release the uncaptured rest */
        } else {
            skip_line(c, "refund-partial", p2, "the partial capture");
        }
    }

    /* 3: captured in full, refunded in full.  Ends REFUNDED. */
    cert_pay *p3 = new_pay(c, "refunded");
    bind(c, "refund-full", p3, "REFUNDED");
    static const char *const l3[] = { "refund-full", NULL };
    if (start(c, p3, 0, &polls, l3) == 0) {
        if (modify(c, p3, "capture", a, 1, NULL) == 0)
            modify(c, p3, "refund", a, 1, "refund-full");
        else
            skip_line(c, "refund-full", p3, "the capture");
    }

    /* 4: a refused capture (above the authorized amount), then cancelled.
     * Ends CANCELLED. */
    cert_pay *p4 = new_pay(c, "cancelled");
    bind(c, "errors", p4, NULL);
    bind(c, "cancel", p4, "CANCELLED");
    static const char *const l4[] = { "errors", "cancel", NULL };
    if (start(c, p4, 0, &polls, l4) == 0) {
        char key[51];
        snprintf(key, sizeof key, "%s-capture-over", p4->ref);
        size_t mark = c->nreqs;
        kv_vipps_modification mo;
        kv_vipps_status st = kv_vipps_capture(&mo, c->client, p4->ref, a + 100, c->store->currency, key);
        cert_line *el = kvc_line(c, "errors");
        el->req = kvc_find_req(c, mark, "POST", "/capture");
        const kv_vipps_error *e = kv_vipps_last_error(c->client);
        kv_vipps_payment g;
        if (st == KV_VIPPS_OK) {
            kvc_set(el, R_FAILED, "a capture above the authorized amount was accepted");
        } else if (st != KV_VIPPS_E_API) {
            why_api(c, el->reason, sizeof el->reason, "the refused capture did not come back as an API error",
                    st);
            el->result = R_FAILED;
        } else if (kv_vipps_get(&g, c->client, p4->ref) != KV_VIPPS_OK || g.captured != 0) {
            kvc_set(el, R_FAILED, "after the refused capture the payment shows money captured or cannot be read");
        } else {
            kvc_set(el, R_PASSED, "refused as expected: HTTP %d, code %d, traceId %s; reported to the "
                    "cashier as \"%s\"; nothing captured", e->http_status, e->code,
                    e->trace_id[0] ? e->trace_id : "(none)", e->cashier);
            kvc_mask(c, el->reason);
        }
        modify(c, p4, "cancel", 0, 1, "cancel");
    }

    /* 5: cancelled before the customer answers.  Ends TERMINATED. */
    cert_pay *p5 = new_pay(c, "terminated");
    bind(c, "cancel-before", p5, "TERMINATED");
    char qr[2048];
    if (stopped(c))
        kvc_set(kvc_line(c, "cancel-before"), R_FAILED, "not run: interrupted");
    else if (create(c, p5, 0, qr, sizeof qr) == 0)
        modify(c, p5, "cancel", 0, 1, "cancel-before");
    else
        kvc_set(kvc_line(c, "cancel-before"), R_FAILED, "%s", p5->note);

    /* 6 (production): approved and left AUTHORIZED. */
    if (c->env == KV_CERTIFY_ENV_PRODUCTION) {
        cert_pay *p6 = new_pay(c, "authorized");
        bind(c, "authorized", p6, "AUTHORIZED");
        static const char *const l6[] = { "authorized", NULL };
        if (start(c, p6, 0, &polls, l6) == 0) {
            kvc_set(kvc_line(c, "authorized"), R_PASSED, "approved and left AUTHORIZED (not captured)");
            kvc_say(c, "%s is left AUTHORIZED as the checklist asks: cancel it (`kvitt cancel` cannot, it is "
                    "not in the journal; use the business portal or the API) once Vipps has seen it", p6->ref);
        }
    }
}

/* The final state a go-live reviewer reads: the ePayment state plus what
 * the aggregate amounts say moved. */
static void derive(cert_pay *p)
{
    const kv_vipps_payment *x = &p->last;
    const char *s = kv_vipps_state_name(x->state);
    if (x->state == KV_VIPPS_STATE_AUTHORIZED) {
        if (x->refunded > 0)
            s = x->refunded >= x->captured ? "REFUNDED" : "PARTIALLY REFUNDED";
        else if (x->captured > 0)
            s = x->captured >= x->authorized ? "CAPTURED"
                : x->cancelled > 0 ? "CAPTURED (rest CANCELLED)" : "PARTIALLY CAPTURED";
        else if (x->cancelled > 0)
            s = "CANCELLED";
        else
            s = "AUTHORIZED";
    }
    snprintf(p->final, sizeof p->final, "%s", s);
}

static const char *header_value(const char *headers, const char *name, char *buf, size_t len)
{
    size_t nl = strlen(name);
    for (const char *l = headers; l && *l;) {
        const char *e = strchr(l, '\n');
        size_t ll = e ? (size_t)(e - l) : strlen(l);
        if (ll > nl && !strncasecmp(l, name, nl) && l[nl] == ':') {
            const char *v = l + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(buf, len, "%.*s", (int)(ll - (size_t)(v - l)), v);
            return buf;
        }
        l = e ? e + 1 : NULL;
    }
    return NULL;
}

static void check_headers(kv_certify *c)
{
    static const char *const sys[] = { "Vipps-System-Name", "Vipps-System-Version", "Vipps-System-Plugin-Name",
                                       "Vipps-System-Plugin-Version", NULL };
    cert_line *hl = kvc_line(c, "headers"), *il = kvc_line(c, "idempotency");
    char v[256];
    size_t mods = 0;
    for (size_t i = 0; i < c->nreqs; i++) {
        const cert_req *r = &c->reqs[i];
        for (size_t k = 0; sys[k]; k++)
            if (hl->result == R_NOT_RUN && (!header_value(r->headers, sys[k], v, sizeof v) || !v[0])) {
                kvc_set(hl, R_FAILED, "%s %s was sent without %s", r->method, r->path, sys[k]);
                hl->req = (int)i;
            }
        int mod = !strcmp(r->method, "POST") && !strncmp(r->path, "/epayment/v1/payments", 21);
        if (mod) {
            mods++;
            if (il->result == R_NOT_RUN && !header_value(r->headers, "Idempotency-Key", v, sizeof v)) {
                kvc_set(il, R_FAILED, "%s %s was sent without an Idempotency-Key", r->method, r->path);
                il->req = (int)i;
            }
        }
    }
    if (hl->result == R_NOT_RUN && c->nreqs) {
        hl->req = 0;
        kvc_set(hl, R_PASSED, "all %zu requests (token call included) carried the four headers", c->nreqs);
    } else if (hl->result == R_NOT_RUN) {
        kvc_set(hl, R_FAILED, "no request was recorded");
    }
    if (il->result == R_NOT_RUN && mods) {
        il->req = kvc_find_req(c, 0, "POST", "/capture");
        kvc_set(il, R_PASSED, "all %zu create/capture/refund/cancel requests carried one (<= 50 characters, "
                "reused on retries)", mods);
    } else if (il->result == R_NOT_RUN) {
        kvc_set(il, R_FAILED, "no modifying request was recorded");
    }
}

static int ref_line_req(kv_certify *c, const char *id, int req)
{
    cert_line *l = kvc_line(c, id);
    if (l && l->req < 0)
        l->req = req;
    return req;
}

static void check_static(kv_certify *c)
{
    cert_pay *p1 = &c->pays[0];
    cert_line *cp = kvc_line(c, "customer-present"), *rl = kvc_line(c, "receipt"), *ref = kvc_line(c, "reference");
    int cr = kvc_find_req(c, 0, "POST", "/epayment/v1/payments");
    const char *body = cr >= 0 ? c->reqs[cr].body : NULL;
    cp->req = rl->req = ref_line_req(c, "reference", cr);
    ref_line_req(c, "qr-design", cr);
    if (!p1->created)
        kvc_set(cp, R_FAILED, "not run: the create of %s failed", p1->ref);
    else if (body && strstr(body, "\"customerInteraction\":\"CUSTOMER_PRESENT\""))
        kvc_set(cp, R_PASSED, "the create body carries \"customerInteraction\":\"CUSTOMER_PRESENT\"");
    else
        kvc_set(cp, R_FAILED, "the create body lacks customerInteraction CUSTOMER_PRESENT");
    if (!p1->created)
        kvc_set(rl, R_FAILED, "not run: the create of %s failed", p1->ref);
    else if (body && strstr(body, "\"receipt\"") && strstr(body, "\"orderLines\""))
        kvc_set(rl, R_PASSED, "the create carried a receipt (orderLines + bottomLine) and was accepted");
    else
        kvc_set(rl, R_FAILED, "the create body has no receipt");
    const char *r = p1->ref;
    size_t n = strlen(r), digits = strspn(r, "0123456789");
    int ok = n >= 8 && n <= 50 && strspn(r, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n &&
             digits != n && !strncmp(r, c->store->reference_prefix, strlen(c->store->reference_prefix)) && r[0] != '0';
    if (ok)
        kvc_set(ref, R_PASSED, "%s: store prefix %s, %zu characters of [A-Za-z0-9-], not numeric, no leading "
                "zero; tills make <prefix>-<UTC time>-<random>", r, c->store->reference_prefix, n);
    else
        kvc_set(ref, R_FAILED, "%s does not follow the reference rules", r);
    cert_line *q = kvc_line(c, "qr-design");
    if (c->store->qr_source == KV_QR_IMAGE)
        kvc_set(q, R_PASSED, "[store %s] qr_source = image: slips print Vipps' own QR (IMAGE/PNG) as a raster",
                c->store->id);
    else if (c->qr_design_approved)
        kvc_set(q, R_PASSED, "[store %s] qr_source = text: kvitt draws the QR itself; the operator states "
                "(--qr-design-approved) that Vipps approved this design", c->store->id);
    else
        kvc_set(q, R_UNVERIFIED, "[store %s] qr_source = text: kvitt draws the QR itself, which needs Vipps' "
                "approval of the design; send them a photo of a slip (then --qr-design-approved), or set "
                "qr_source = image", c->store->id);
}

void kvc_finish(kv_certify *c)
{
    for (size_t i = 0; i < c->npays; i++) {
        cert_pay *p = &c->pays[i];
        /* also a create that failed: an ambiguous answer may have made it */
        kv_vipps_payment g;
        if (kv_vipps_get(&g, c->client, p->ref) == KV_VIPPS_OK) {
            p->last = g;
            p->have = 1;
        }
        kv_vipps_events_free(p->ev);
        p->ev = NULL;
        p->nev = 0;
        if (kv_vipps_events(&p->ev, &p->nev, c->client, p->ref) != KV_VIPPS_OK) {
            p->ev = NULL;
            p->nev = 0;
        }
        if (p->have)
            derive(p);
    }
    for (size_t i = 0; i < c->nlines; i++) {
        cert_line *l = &c->lines[i];
        if (l->result != R_PASSED || !l->expect[0] || l->pay < 0)
            continue;
        const cert_pay *p = &c->pays[l->pay];
        if (strcmp(p->final, l->expect))
            kvc_set(l, R_FAILED, "%s ends %s, expected %s", p->ref, p->final[0] ? p->final : "unknown",
                    l->expect);
    }
    check_headers(c);
    check_static(c);
    for (size_t i = 0; i < c->nlines; i++)
        if (c->lines[i].result == R_NOT_RUN)
            kvc_set(&c->lines[i], R_FAILED, "not run");
}
