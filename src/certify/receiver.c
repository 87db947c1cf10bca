/* receiver.c - the webhook line: a short-lived local receiver (simulator on
 * loopback only) or the daemon's registration and journal. */
#include "src/certify/certify_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/journal/journal.h"
#include "src/serve/http.h"

#define RX_PATH "/webhooks/certify"
#define RX_MAX 256

struct cert_receiver {
    kv_http *http;
    pthread_mutex_t mu;
    char secret[256];
    char url[512];
    cert_delivery d[RX_MAX];
    size_t n;
};

static void rx_handle(kv_http_req *r, void *payload)
{
    cert_receiver *rx = payload;
    if (strcmp(kv_http_method(r), "POST") || strcmp(kv_http_path(r), RX_PATH)) {
        kv_http_reply(r, 404, "text/plain", "not found\n", 10);
        return;
    }
    size_t len = 0;
    const char *body = kv_http_body(r, &len);
    pthread_mutex_lock(&rx->mu);
    kv_vipps_status vs = rx->secret[0]
        ? kv_vipps_webhook_verify(rx->secret, rx->url, body, len, kv_http_header(r, "x-ms-date"),
                                  kv_http_header(r, "x-ms-content-sha256"), kv_http_header(r, "Authorization"),
                                  time(NULL), 0)
        : KV_VIPPS_E_SIGNATURE;
    kv_vipps_webhook_event ev;
    if (rx->n < RX_MAX && kv_vipps_webhook_parse(&ev, body, len) == KV_VIPPS_OK) {
        cert_delivery *d = &rx->d[rx->n++];
        snprintf(d->reference, sizeof d->reference, "%s", ev.reference);
        snprintf(d->name, sizeof d->name, "%s", ev.name);
        d->verified = vs == KV_VIPPS_OK;
    }
    pthread_mutex_unlock(&rx->mu);
    if (vs == KV_VIPPS_OK)
        kv_http_reply(r, 200, "text/plain", "ok\n", 3);
    else
        kv_http_reply(r, 401, "text/plain", "bad signature\n", 14);
}

int kvc_rx_start(cert_receiver **out, char *url, size_t urllen, char *err, size_t errlen)
{
    cert_receiver *rx = calloc(1, sizeof *rx);
    if (!rx)
        return -1;
    pthread_mutex_init(&rx->mu, NULL);
    kv_http_options ho = KV_HTTP_OPTIONS_INIT;
    ho.listen = "127.0.0.1:0";
    ho.handler = rx_handle;
    ho.payload = rx;
    ho.max_connections = 64;
    if (kv_http_start(&rx->http, &ho, err, errlen) != KV_HTTP_OK) {
        pthread_mutex_destroy(&rx->mu);
        free(rx);
        return -1;
    }
    snprintf(url, urllen, "http://127.0.0.1:%u%s", kv_http_port(rx->http), RX_PATH);
    *out = rx;
    return 0;
}

void kvc_rx_arm(cert_receiver *rx, const char *secret, const char *url)
{
    pthread_mutex_lock(&rx->mu);
    snprintf(rx->secret, sizeof rx->secret, "%s", secret);
    snprintf(rx->url, sizeof rx->url, "%s", url);
    pthread_mutex_unlock(&rx->mu);
}

size_t kvc_rx_deliveries(cert_receiver *rx, cert_delivery *out, size_t max)
{
    pthread_mutex_lock(&rx->mu);
    size_t n = rx->n < max ? rx->n : max;
    memcpy(out, rx->d, n * sizeof *out);
    pthread_mutex_unlock(&rx->mu);
    return n;
}

void kvc_rx_stop(cert_receiver *rx)
{
    if (!rx)
        return;
    kv_http_stop(rx->http);
    memset(rx->secret, 0, sizeof rx->secret);
    pthread_mutex_destroy(&rx->mu);
    free(rx);
}

/* 1 when the Webhooks API has a registration for url (this MSN). */
static int registered(kv_certify *c, const char *url, char *why, size_t wlen)
{
    kv_vipps_webhook *w = NULL;
    size_t n = 0;
    kv_vipps_status st = kv_vipps_webhook_list(&w, &n, c->client);
    int found = 0;
    for (size_t i = 0; st == KV_VIPPS_OK && i < n; i++)
        found |= !strcmp(w[i].url, url);
    free(w);
    if (st != KV_VIPPS_OK) {
        const kv_vipps_error *e = kv_vipps_last_error(c->client);
        snprintf(why, wlen, "listing the webhook registrations failed: %s: %s", kv_vipps_strerror(st), e->log);
        kvc_mask(c, why);
        return -1;
    }
    if (!found)
        snprintf(why, wlen, "no registration for %s ([serve] webhook_url); run `kvitt webhooks register "
                 "--url %s`", url, url);
    return found;
}

/* A daemon whose [serve] webhook_url is registered receives the
 * deliveries; otherwise, only against the simulator on loopback, a local
 * receiver is started and registered for the tour. */
void kvc_webhooks_setup(kv_certify *c)
{
    cert_line *l = kvc_line(c, "webhooks");
    const char *url = kv_config_get(c->cfg, "serve", "webhook_url");
    snprintf(c->wh_url, sizeof c->wh_url, "%s", url ? url : "");
    if (c->wh_url[0] && registered(c, c->wh_url, c->wh_note, sizeof c->wh_note) == 1) {
        c->wh_daemon = 1;
        kvc_say(c, "webhooks: the daemon's registration for %s receives the deliveries", c->wh_url);
        return;
    }
    if (c->env != KV_CERTIFY_ENV_SIM)
        return;
    char err[256] = "";
    if (kvc_rx_start(&c->rx, c->wh_url, sizeof c->wh_url, err, sizeof err) != 0) {
        kvc_set(l, R_UNVERIFIED, "not verified: no webhook receiver reachable: the local receiver did not "
                "start (%s)", err);
        return;
    }
    kv_vipps_webhook wh;
    kv_vipps_status st = kv_vipps_webhook_register(&wh, c->client, c->wh_url, KV_VIPPS_WH_ALL);
    if (st != KV_VIPPS_OK) {
        const kv_vipps_error *e = kv_vipps_last_error(c->client);
        kvc_set(l, R_FAILED, "registering the local receiver %s failed: %s: %s", c->wh_url,
                kv_vipps_strerror(st), e->log);
        kvc_mask(c, l->reason);
        kvc_rx_stop(c->rx);
        c->rx = NULL;
        return;
    }
    snprintf(c->wh_id, sizeof c->wh_id, "%s", wh.id);
    kvc_rx_arm(c->rx, wh.secret, c->wh_url);
    memset(wh.secret, 0, sizeof wh.secret);
    kvc_say(c, "webhooks: local receiver %s registered (id %s) for the tour", c->wh_url, c->wh_id);
}

static int has(const cert_delivery *d, size_t n, const char *ref, const char *name, int *unverified)
{
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(d[i].reference, ref))
            continue;
        if (!d[i].verified)
            (*unverified)++;
        else if (!strcmp(d[i].name, name))
            found = 1;
    }
    return found;
}

static void check_local(kv_certify *c, cert_line *l, const cert_pay *p1)
{
    cert_delivery *d = calloc(RX_MAX, sizeof *d);
    if (!d) {
        kvc_set(l, R_FAILED, "out of memory");
        return;
    }
    size_t n = 0;
    int bad = 0;
    for (int waited = 0;; waited += 200) {
        n = kvc_rx_deliveries(c->rx, d, RX_MAX);
        bad = 0;
        int a = has(d, n, p1->ref, "AUTHORIZED", &bad);
        int cap = has(d, n, p1->ref, "CAPTURED", &bad);
        if ((a && cap) || bad || waited >= c->webhook_wait_s * 1000 || (c->stop && *c->stop))
            break;
        usleep(200000);
    }
    int count = 0;
    for (size_t i = 0; i < n; i++)
        count += !strcmp(d[i].reference, p1->ref);
    int dummy = 0;
    if (bad)
        kvc_set(l, R_FAILED, "%d delivery(ies) for %s failed the HMAC-SHA256 check", bad, p1->ref);
    else if (has(d, n, p1->ref, "AUTHORIZED", &dummy) && has(d, n, p1->ref, "CAPTURED", &dummy))
        kvc_set(l, R_PASSED, "%d signed deliveries for %s received at %s (AUTHORIZED and CAPTURED among them), "
                "HMAC verified; polling still decided the state", count, p1->ref, c->wh_url);
    else
        kvc_set(l, R_FAILED, "no verified AUTHORIZED and CAPTURED deliveries for %s within %d s (%d received)",
                p1->ref, c->webhook_wait_s, count);
    if (c->wh_id[0] && kv_vipps_webhook_delete(c->client, c->wh_id) != KV_VIPPS_OK)
        kvc_say(c, "webhooks: could not delete the tour's registration %s", c->wh_id);
    kvc_rx_stop(c->rx);
    c->rx = NULL;
    free(d);
}

/* The daemon's receiver: its registration must exist and its journal must
 * show deliveries for the tour's first payment. */
static void check_daemon(kv_certify *c, cert_line *l, const cert_pay *p1)
{
    if (!c->wh_url[0]) {
        kvc_set(l, R_UNVERIFIED, "not verified: no webhook receiver reachable: [serve] webhook_url is not set "
                "(certify runs its own receiver only for the simulator on loopback: Vipps cannot reach this "
                "machine); run `kvitt serve` at a public https URL, set webhook_url and `kvitt webhooks register`");
        return;
    }
    if (!c->wh_daemon) {
        kvc_set(l, R_UNVERIFIED, "not verified: no webhook receiver reachable: %s", c->wh_note);
        return;
    }
    const kv_config_main *m = kv_config_main_get(c->cfg);
    kv_journal *j = NULL;
    char err[256] = "";
    if (kv_journal_open(&j, m->journal, err, sizeof err) != KV_J_OK) {
        kvc_set(l, R_UNVERIFIED, "not verified: the daemon's journal %s cannot be opened: %s", m->journal, err);
        return;
    }
    int events = 0;
    for (int waited = 0;; waited += 500) {
        events = kv_journal_event_count(j, p1->ref);
        if (events > 0 || waited >= c->webhook_wait_s * 1000 || (c->stop && *c->stop))
            break;
        usleep(500000);
    }
    kv_journal_close(j);
    if (events > 0)
        kvc_set(l, R_PASSED, "the daemon at %s recorded %d verified delivery(ies) for %s in %s", c->wh_url, events,
                p1->ref, m->journal);
    else
        kvc_set(l, R_UNVERIFIED, "not verified: no webhook receiver reachable: the daemon at %s recorded no "
                "delivery for %s within %d s (is `kvitt serve` running there, reachable from Vipps, with this "
                "journal?)", c->wh_url, p1->ref, c->webhook_wait_s);
}

void kvc_webhooks_check(kv_certify *c)
{
    cert_line *l = kvc_line(c, "webhooks");
    const cert_pay *p1 = &c->pays[0];
    if (l->result != R_NOT_RUN) {
        if (c->rx) {
            kvc_rx_stop(c->rx);
            c->rx = NULL;
        }
        return;
    }
    if (!c->npays || !p1->created || !p1->have || p1->last.captured == 0) {
        kvc_set(l, R_FAILED, "not run: %s was not created, approved and captured (%s)", p1->ref, p1->note);
        if (c->rx) {
            if (c->wh_id[0])
                kv_vipps_webhook_delete(c->client, c->wh_id);
            kvc_rx_stop(c->rx);
            c->rx = NULL;
        }
        return;
    }
    if (c->rx)
        check_local(c, l, p1);
    else
        check_daemon(c, l, p1);
    l->req = kvc_find_req(c, 0, c->wh_daemon ? "GET" : "POST", "/webhooks/v1/webhooks");
}
