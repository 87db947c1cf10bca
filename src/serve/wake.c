/* wake.c - who the daemon wakes, and when.
 *
 * Event streams and long-polls are suspended HTTP connections (no thread
 * each).  Each subscribes to its payment's feed; a change of one feed
 * wakes that feed's subscribers and no one else.  Deadlines (the end of a
 * long-poll, an event stream's keep-alive) sit in one timer heap served by
 * one thread that sleeps until the earliest of them.  Shutdown wakes every
 * subscriber once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/serve/serve_int.h"

void kv__hub_subscribe(kv_serve *s, const char *ref, kv_sub *sub)
{
    pthread_mutex_lock(&s->mu);
    kv_hub *h = kv__hub_get(s, ref);
    if (h) {
        sub->next = h->subs;
        h->subs = sub;
        sub->hub = h;
    }
    pthread_mutex_unlock(&s->mu);
}

void kv__hub_unsubscribe(kv_serve *s, kv_sub *sub)
{
    pthread_mutex_lock(&s->mu);
    if (sub->hub) {
        for (kv_sub **pp = &sub->hub->subs; *pp; pp = &(*pp)->next) {
            if (*pp == sub) {
                *pp = sub->next;
                break;
            }
        }
        sub->hub = NULL;
    }
    pthread_mutex_unlock(&s->mu);
}

typedef struct wakeset {
    kv_http_stream *one[16], **v;
    size_t n, cap;
} wakeset;

/* Take a reference on each stream subscribed to h (s->mu held). */
static void collect_subs(wakeset *w, kv_hub *h)
{
    for (kv_sub *x = h->subs; x; x = x->next) {
        if (w->n == w->cap) {
            kv_http_stream **nv = malloc(2 * w->cap * sizeof *nv);
            if (!nv)
                return; /* the rest see their timers (keep-alive, deadline) */
            memcpy(nv, w->v, w->n * sizeof *nv);
            if (w->v != w->one)
                free(w->v);
            w->v = nv;
            w->cap *= 2;
        }
        kv_http_stream_ref(x->st);
        w->v[w->n++] = x->st;
        h->wakeups++;
    }
}

/* Release s->mu, then wake the collected streams (a wake may resume a
 * connection: never under s->mu). */
static void wake_collected(kv_serve *s, wakeset *w)
{
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < w->n; i++) {
        kv_http_stream_wake(w->v[i]);
        kv_http_stream_unref(w->v[i]);
    }
    if (w->v != w->one)
        free(w->v);
}

void kv__hub_wake(kv_serve *s, const char *ref)
{
    wakeset w = { .n = 0, .cap = 16 };
    w.v = w.one;
    pthread_mutex_lock(&s->mu);
    kv_hub *h = kv__hub_find(s, ref);
    if (h)
        collect_subs(&w, h);
    wake_collected(s, &w);
}

void kv__hub_wake_all(kv_serve *s)
{
    wakeset w = { .n = 0, .cap = 16 };
    w.v = w.one;
    pthread_mutex_lock(&s->mu);
    for (size_t b = 0; b < KV_HUB_BUCKETS; b++)
        for (kv_hub *h = s->hubs[b]; h; h = h->next)
            collect_subs(&w, h);
    wake_collected(s, &w);
}

/* ---- timers ---------------------------------------------------------------- */

static void heap_swap(kv_timer *a, kv_timer *b)
{
    kv_timer t = *a;
    *a = *b;
    *b = t;
}

void kv__timer_add(kv_serve *s, int64_t due_ms, kv_http_stream *st)
{
    pthread_mutex_lock(&s->timer_mu);
    if (s->timer_stop) {
        pthread_mutex_unlock(&s->timer_mu);
        kv_http_stream_wake(st);
        return;
    }
    if (s->ntimers == s->captimers) {
        size_t nc = s->captimers ? s->captimers * 2 : 256;
        kv_timer *nv = realloc(s->timers, nc * sizeof *nv);
        if (!nv) {
            pthread_mutex_unlock(&s->timer_mu);
            kv_http_stream_wake(st); /* the reader looks again: never stuck */
            return;
        }
        s->timers = nv;
        s->captimers = nc;
    }
    kv_http_stream_ref(st);
    size_t i = s->ntimers++;
    s->timers[i].due_ms = due_ms;
    s->timers[i].st = st;
    while (i > 0 && s->timers[(i - 1) / 2].due_ms > s->timers[i].due_ms) {
        heap_swap(&s->timers[(i - 1) / 2], &s->timers[i]);
        i = (i - 1) / 2;
    }
    if (i == 0)
        pthread_cond_signal(&s->timer_cv); /* a new earliest deadline */
    pthread_mutex_unlock(&s->timer_mu);
}

static kv_http_stream *heap_pop(kv_serve *s)
{
    kv_http_stream *st = s->timers[0].st;
    s->timers[0] = s->timers[--s->ntimers];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->ntimers && s->timers[l].due_ms < s->timers[m].due_ms)
            m = l;
        if (r < s->ntimers && s->timers[r].due_ms < s->timers[m].due_ms)
            m = r;
        if (m == i)
            break;
        heap_swap(&s->timers[i], &s->timers[m]);
        i = m;
    }
    return st;
}

static void *timer_main(void *arg)
{
    kv_serve *s = arg;
    pthread_mutex_lock(&s->timer_mu);
    while (!s->timer_stop) {
        int64_t now = kv__serve_now_ms();
        if (s->ntimers && s->timers[0].due_ms <= now) {
            kv_http_stream *st = heap_pop(s);
            pthread_mutex_unlock(&s->timer_mu);
            kv_http_stream_wake(st);
            kv_http_stream_unref(st);
            pthread_mutex_lock(&s->timer_mu);
            continue;
        }
        if (!s->ntimers) {
            pthread_cond_wait(&s->timer_cv, &s->timer_mu);
            continue;
        }
        /* kv__serve_now_ms is CLOCK_REALTIME milliseconds */
        int64_t due = s->timers[0].due_ms;
        struct timespec ts = { (time_t)(due / 1000), (long)(due % 1000) * 1000000L };
        pthread_cond_timedwait(&s->timer_cv, &s->timer_mu, &ts);
    }
    /* stopping: every deadline is due now */
    while (s->ntimers) {
        kv_http_stream *st = heap_pop(s);
        pthread_mutex_unlock(&s->timer_mu);
        kv_http_stream_wake(st);
        kv_http_stream_unref(st);
        pthread_mutex_lock(&s->timer_mu);
    }
    pthread_mutex_unlock(&s->timer_mu);
    return NULL;
}

int kv__timer_start(kv_serve *s)
{
    pthread_mutex_init(&s->timer_mu, NULL);
    pthread_cond_init(&s->timer_cv, NULL);
    s->timer_inited = 1;
    if (pthread_create(&s->timer_thread, NULL, timer_main, s) != 0)
        return -1;
    s->timer_joinable = 1;
    return 0;
}

void kv__timer_stop(kv_serve *s)
{
    if (!s->timer_inited)
        return;
    pthread_mutex_lock(&s->timer_mu);
    s->timer_stop = 1;
    pthread_cond_signal(&s->timer_cv);
    pthread_mutex_unlock(&s->timer_mu);
    if (s->timer_joinable) {
        pthread_join(s->timer_thread, NULL);
        s->timer_joinable = 0;
    }
}

void kv__timer_free(kv_serve *s)
{
    if (!s->timer_inited)
        return;
    kv__timer_stop(s);
    for (size_t i = 0; i < s->ntimers; i++)
        kv_http_stream_unref(s->timers[i].st);
    free(s->timers);
    s->timers = NULL;
    s->ntimers = 0;
    pthread_mutex_destroy(&s->timer_mu);
    pthread_cond_destroy(&s->timer_cv);
    s->timer_inited = 0;
}
