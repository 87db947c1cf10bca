/* sim_deliver.c - the worker thread: customer clock (auto actions,
 * expiry) and delivery of signed webhooks and eCom callbacks, with the
 * real retry schedule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "sim/sim_int.h"

void sim_enqueue(kv_sim *s, const char *hook_id, const char *ref, const char *event,
                 const char *url, const char *body, const char *secret, const char *auth,
                 int max_attempts)
{
    sim_delivery *d = calloc(1, sizeof *d);
    if (!d) return;
    d->seq = ++s->seq;
    snprintf(d->hook_id, sizeof d->hook_id, "%s", hook_id ? hook_id : "");
    snprintf(d->ref, sizeof d->ref, "%s", ref);
    snprintf(d->event, sizeof d->event, "%s", event);
    d->url = strdup(url);
    d->body = strdup(body);
    d->secret = secret ? strdup(secret) : NULL;
    d->auth = auth ? strdup(auth) : NULL;
    d->max_attempts = max_attempts;
    d->next_at = 0;
    if (!d->url || !d->body) { free(d->url); free(d->body); free(d->secret); free(d->auth); free(d); return; }
    /* keep the log bounded: forget the oldest finished deliveries */
    size_t n = 0;
    for (sim_delivery *e = s->dq; e; e = e->next) n++;
    for (sim_delivery **pp = &s->dq; *pp && n > 500;) {
        sim_delivery *e = *pp;
        if (e->done && !e->in_flight) {
            *pp = e->next;
            free(e->url); free(e->body); free(e->secret); free(e->auth); free(e);
            n--;
        } else {
            pp = &e->next;
        }
    }
    sim_delivery **pp = &s->dq;
    while (*pp) pp = &(*pp)->next;
    *pp = d;
    pthread_cond_broadcast(&s->cv);
}

/* Delay before retry number `attempt` (1 = first retry): the real
 * schedule is about 2 s four times, then 60 s, 120 s, then hourly. */
static double retry_delay(const kv_sim *s, int attempt)
{
    double base = s->o.webhook_retry_ms / 1000.0;
    if (attempt <= 4) return base;
    if (attempt == 5) return base * 30;
    if (attempt == 6) return base * 60;
    return base * 1800;
}

static size_t discard(char *p, size_t sz, size_t n, void *u)
{
    (void)p; (void)u;
    return sz * n;
}

/* Abort a delivery in flight when the simulator stops. */
static int on_progress(void *u, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt; (void)dn; (void)ut; (void)un;
    const kv_sim *s = u;
    return __atomic_load_n(&s->stop, __ATOMIC_RELAXED) ? 1 : 0;
}

/* One HTTP POST; returns the HTTP status or 0 on a transport error. */
static long post_once(kv_sim *s, const sim_delivery *d, int timeout_ms)
{
    CURL *c = curl_easy_init();
    if (!c) return 0;
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    char *auth = NULL;
    char date[40], hash[64];
    if (d->secret) {
        if (sim_sign(d->secret, d->url, d->body, sim_now(), date, hash, &auth) == 0) {
            char line[256];
            snprintf(line, sizeof line, "x-ms-date: %s", date);
            h = curl_slist_append(h, line);
            snprintf(line, sizeof line, "x-ms-content-sha256: %s", hash);
            h = curl_slist_append(h, line);
            char *al = sim_printf("Authorization: %s", auth);
            if (al) { h = curl_slist_append(h, al); free(al); }
        }
    } else if (d->auth) {
        char *al = sim_printf("Authorization: %s", d->auth);
        if (al) { h = curl_slist_append(h, al); free(al); }
    }
    curl_easy_setopt(c, CURLOPT_URL, d->url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, d->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(d->body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 3000 ? timeout_ms : 3000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* no redirects, as the real service */
    curl_easy_setopt(c, CURLOPT_USERAGENT, "Vipps-Webhooks/kvitt-sim");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(auth);
    return code;
}

/* First due delivery, keeping order per (registration, payment). */
static sim_delivery *next_due(kv_sim *s, double now)
{
    for (sim_delivery *d = s->dq; d; d = d->next) {
        if (d->done || d->in_flight) continue;
        int blocked = 0;
        for (sim_delivery *e = s->dq; e != d; e = e->next)
            if (!e->done && !strcmp(e->hook_id, d->hook_id) && !strcmp(e->ref, d->ref) &&
                e->hook_id[0]) { blocked = 1; break; }
        if (blocked) continue;
        if (d->next_at <= now) return d;
    }
    return NULL;
}

void *sim_worker(void *arg)
{
    kv_sim *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        double now = sim_now();
        sim_tick(s, now);
        sim_delivery *d = next_due(s, now);
        if (d) {
            d->in_flight = 1;
            d->attempts++;
            s->deliveries_attempted++;
            sim_delivery copy = *d;
            copy.url = strdup(d->url);
            copy.body = strdup(d->body);
            copy.secret = sim_strdup(d->secret);
            copy.auth = sim_strdup(d->auth);
            int timeout = s->o.webhook_timeout_ms;
            if (!d->secret && timeout > 3000) timeout = 3000; /* eCom callbacks: 3 s */
            pthread_mutex_unlock(&s->mu);
            long code = (copy.url && copy.body && !s->o.no_delivery) ? post_once(s, &copy, timeout) : 0;
            free(copy.url); free(copy.body); free(copy.secret); free(copy.auth);
            pthread_mutex_lock(&s->mu);
            d->in_flight = 0;
            d->last_status = code;
            if (code >= 200 && code < 300) {
                d->done = 1;
                s->deliveries_ok++;
            } else if (d->attempts >= d->max_attempts) {
                d->done = -1;
                s->deliveries_failed++;
            } else {
                d->next_at = sim_now() + retry_delay(s, d->attempts);
            }
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}
