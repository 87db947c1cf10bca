/* api_events.c - the till API's event feed of a payment
 * (GET /v1/payments/{ref}/events): a long-poll (?wait=) or a stream of
 * server-sent events, both suspended connections woken by the payment's
 * own hub (serve.c, engine.c), never a parked thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/serve/serve_int.h"

/* ---- events: long-poll and server-sent events --------------------------------- */

/* A journaled event carries its number ("seq", the journal's: the same on
 * every instance of a chain and after a restart); a passing one (tick,
 * message, printed) carries none. */
static cJSON *event_json(const kv_hub_ev *e)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (e->seq > 0)
        cJSON_AddNumberToObject(o, "seq", e->seq);
    cJSON_AddStringToObject(o, "type", e->type);
    if (e->state[0])
        cJSON_AddStringToObject(o, "state", e->state);
    if (e->seconds_left >= 0 && !strcmp(e->type, "tick"))
        cJSON_AddNumberToObject(o, "secondsLeft", e->seconds_left);
    if (e->message[0])
        cJSON_AddStringToObject(o, "message", e->message);
    cJSON_AddNumberToObject(o, "atMs", (double)e->at_ms);
    return o;
}

/* Collect into arr (s->mu held) the cached journaled events after `after`
 * and, when eph is not NULL, the passing event newer than *eph; *last =
 * the number of the last journaled one.  When the cache starts after
 * after + 1: -1, unless skip (a stream reader, which cannot read the
 * journal: it goes on from the cache's oldest event; only a feed that grew
 * by KV_HUB_KEEP events between two wakes gets there).  Otherwise 1 when
 * the feed is final here (its latest result is delivered, the cache is not
 * stale and no worker of this daemon holds the payment), else 0. */
static int collect(kv_serve *s, const char *ref, int after, cJSON *arr, int *last, uint64_t *eph, int skip)
{
    *last = after;
    kv_hub *h = kv__hub_find(s, ref);
    if (!h)
        return 0;
    if (after + 1 < h->first_seq && !skip)
        return -1;
    for (int q = after + 1 > h->first_seq ? after + 1 : h->first_seq; q < h->next_seq; q++) {
        cJSON *e = event_json(kv__hub_ev(h, q));
        if (e)
            cJSON_AddItemToArray(arr, e);
        *last = q;
    }
    if (eph && *eph != h->eph_gen) {
        *eph = h->eph_gen;
        cJSON *e = h->eph.type[0] ? event_json(&h->eph) : NULL;
        if (e)
            cJSON_AddItemToArray(arr, e);
    }
    /* final only on the journal's say-so (or a result that could not be
     * journaled): a worker that just finished is not enough while the
     * cache may lack its last events (stale) */
    return !h->worker && !h->stale && (h->final_seq ? *last >= h->final_seq : h->final_local);
}

/* The journaled events after `after` read from the journal (events older
 * than the cache), appended to arr; *last advanced.  Handler threads only. */
static void from_journal(kv_serve *s, const char *ref, int after, cJSON *arr, int *last)
{
    kv_feed_event *ev = NULL;
    size_t n = 0;
    if (kv_journal_feed_read(kv_flow_journal(s->flow), ref, after, 0, &ev, &n) != KV_J_OK)
        return;
    for (size_t i = 0; i < n; i++) {
        kv_hub_ev e = { .seq = ev[i].seq, .at_ms = ev[i].at_ms, .seconds_left = -1 };
        snprintf(e.type, sizeof e.type, "%s", ev[i].type);
        snprintf(e.state, sizeof e.state, "%s", ev[i].state);
        snprintf(e.message, sizeof e.message, "%s", ev[i].message);
        cJSON *o = event_json(&e);
        if (o)
            cJSON_AddItemToArray(arr, o);
        *last = ev[i].seq;
    }
    free(ev);
}

/* The latest passing event's number (what a new waiter has seen). */
static uint64_t eph_now(kv_serve *s, const char *ref)
{
    pthread_mutex_lock(&s->mu);
    kv_hub *h = kv__hub_find(s, ref);
    uint64_t g = h ? h->eph_gen : 0;
    pthread_mutex_unlock(&s->mu);
    return g;
}

/* One event as server-sent event text into buf: its id line when it has
 * a number.  Returns the length, or -1 when it does not fit. */
static int sse_event(char *buf, size_t max, const cJSON *e)
{
    char *txt = cJSON_PrintUnformatted(e);
    if (!txt)
        return -1;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(e, "seq");
    char id[32] = "";
    if (cJSON_IsNumber(seq))
        snprintf(id, sizeof id, "id: %d\n", (int)seq->valuedouble);
    int w = snprintf(buf, max, "%sevent: %s\ndata: %s\n\n", id,
                     cJSON_IsString(type) ? type->valuestring : "message", txt);
    cJSON_free(txt);
    return w < 0 || (size_t)w >= max ? -1 : w;
}

/* An event stream: a suspended connection subscribed to the payment's
 * feed; its reader never blocks (it answers 0 and the connection sleeps
 * until the feed changes or its keep-alive timer is due).  pre: events
 * older than the cache, read from the journal by the handler, sent first. */
struct sse {
    kv_serve *s;
    kv_sub sub;
    kv_http_stream *st;
    char ref[64];
    int last;
    uint64_t eph;
    int done;
    int64_t last_write_ms;
    int64_t timer_due_ms;
    char *pre;
    size_t pre_len, pre_off;
};

#define SSE_KEEPALIVE_MS 15000

static ssize_t sse_read(void *cls, char *buf, size_t max)
{
    struct sse *x = cls;
    kv_serve *s = x->s;
    if (x->done)
        return -1;
    if (x->pre_off < x->pre_len) {
        size_t n = x->pre_len - x->pre_off < max ? x->pre_len - x->pre_off : max;
        memcpy(buf, x->pre + x->pre_off, n);
        x->pre_off += n;
        x->last_write_ms = kv__serve_now_ms();
        return (ssize_t)n;
    }
    pthread_mutex_lock(&s->mu);
    cJSON *arr = cJSON_CreateArray();
    int last = x->last;
    int fin = arr ? collect(s, x->ref, x->last, arr, &last, &x->eph, 1) : 1;
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->mu);
    size_t off = 0;
    if (arr) {
        int used = x->last;
        for (cJSON *e = arr->child; e; e = e->next) {
            int w = sse_event(buf + off, max - off, e);
            if (w < 0)
                break; /* the rest goes in the next call */
            off += (size_t)w;
            const cJSON *seq = cJSON_GetObjectItemCaseSensitive(e, "seq");
            if (cJSON_IsNumber(seq))
                used = (int)seq->valuedouble;
        }
        cJSON_Delete(arr);
        if (off > 0) {
            x->last = used;
            x->last_write_ms = kv__serve_now_ms();
            return (ssize_t)off;
        }
    }
    if (fin || stopping) {
        x->done = 1;
        return -1;
    }
    int64_t now = kv__serve_now_ms();
    if (now - x->last_write_ms >= SSE_KEEPALIVE_MS) {
        x->last_write_ms = now;
        int w = snprintf(buf, max, ": keep-alive\n\n");
        return w > 0 && (size_t)w < max ? w : -1;
    }
    if (x->timer_due_ms <= now) {
        x->timer_due_ms = x->last_write_ms + SSE_KEEPALIVE_MS;
        kv__timer_add(s, x->timer_due_ms, x->st);
    }
    return 0;
}

static void sse_free(void *cls)
{
    struct sse *x = cls;
    kv__hub_unsubscribe(x->s, &x->sub);
    kv_http_stream_unref(x->st);
    free(x->pre);
    free(x);
}

/* A long-poll that found nothing yet: a suspended connection subscribed
 * to the feed, answered (one JSON body) when an event comes (a journaled
 * one after `after`, or a passing one), the feed ends, the wait is over
 * or the daemon stops. */
struct lpoll {
    kv_serve *s;
    kv_sub sub;
    kv_http_stream *st;
    char ref[64];
    int after;
    uint64_t eph;
    int64_t deadline_ms;
    int timer_set;
    char *body;
    size_t len, off;
};

/* The long-poll answer: {"reference","events","next","final"}; NULL with
 * *len 0 when there is nothing to say yet (and !force).  eph: the passing
 * event newer than *eph is included (NULL: none).  handler: may read the
 * journal (events older than the cache). */
static char *events_body(kv_serve *s, const char *ref, int after, int force, uint64_t *eph, int handler,
                         size_t *len)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    int last = after;
    pthread_mutex_lock(&s->mu);
    int fin = collect(s, ref, after, arr, &last, eph, !handler);
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->mu);
    if (fin < 0) {
        /* older than the cache: the journal has them (the rest is in the
         * cache: the till's next request gets it) */
        from_journal(s, ref, after, arr, &last);
        fin = 0;
    }
    if (!force && !fin && !stopping && cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(arr);
        *len = 0;
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        cJSON_Delete(arr);
        return NULL;
    }
    cJSON_AddStringToObject(o, "reference", ref);
    cJSON_AddItemToObject(o, "events", arr);
    cJSON_AddNumberToObject(o, "next", last);
    cJSON_AddBoolToObject(o, "final", fin);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    *len = txt ? strlen(txt) : 0;
    return txt;
}

static ssize_t lpoll_read(void *cls, char *buf, size_t max)
{
    struct lpoll *x = cls;
    if (!x->body) {
        int64_t now = kv__serve_now_ms();
        x->body = events_body(x->s, x->ref, x->after, now >= x->deadline_ms, &x->eph, 0, &x->len);
        if (!x->body) {
            if (x->len == 0 && now < x->deadline_ms) {
                if (!x->timer_set) {
                    x->timer_set = 1;
                    kv__timer_add(x->s, x->deadline_ms, x->st);
                }
                return 0;
            }
            return -1; /* out of memory: end the reply */
        }
    }
    if (x->off >= x->len)
        return -1;
    size_t n = x->len - x->off < max ? x->len - x->off : max;
    memcpy(buf, x->body + x->off, n);
    x->off += n;
    return (ssize_t)n;
}

static void lpoll_free(void *cls)
{
    struct lpoll *x = cls;
    kv__hub_unsubscribe(x->s, &x->sub);
    kv_http_stream_unref(x->st);
    cJSON_free(x->body);
    free(x);
}

/* A payment journaled before feeds were journaled has none: start it with
 * its state (and its result when final). */
static void seed_old(kv_serve *s, const kv_payment *p)
{
    pthread_mutex_lock(&s->mu);
    kv_hub *h = kv__hub_find(s, p->reference);
    int empty = h && h->next_seq == 1 && !h->stale;
    pthread_mutex_unlock(&s->mu);
    if (!empty)
        return;
    const char *st = kv_pay_state_name(p->state);
    kv__feed_add(s, p->reference, "state", st, "journaled before event feeds");
    if (kv_pay_state_final(p->state))
        kv__feed_add(s, p->reference, "result", st, "journaled before event feeds");
}

/* The events after `after` that the cache lacks, as server-sent event
 * text (malloc'd; NULL when the cache has them all); *last advanced. */
static char *sse_backlog(kv_serve *s, const char *ref, int *last, size_t *len)
{
    pthread_mutex_lock(&s->mu);
    kv_hub *h = kv__hub_find(s, ref);
    int gap = h && *last + 1 < h->first_seq;
    pthread_mutex_unlock(&s->mu);
    cJSON *arr = gap ? cJSON_CreateArray() : NULL;
    if (!arr)
        return NULL;
    from_journal(s, ref, *last, arr, last);
    size_t cap = 1024, n = 0;
    char *out = malloc(cap);
    for (cJSON *e = arr->child; e && out; e = e->next) {
        int w;
        while ((w = sse_event(out + n, cap - n, e)) < 0 && cap < (1u << 24)) {
            char *nv = realloc(out, cap * 2);
            if (!nv)
                break;
            out = nv;
            cap *= 2;
        }
        if (w < 0)
            break;
        n += (size_t)w;
    }
    cJSON_Delete(arr);
    *len = n;
    return out;
}

void kv__api_get_events(kv_serve *s, kv_http_req *r, const kv_till *t, const char *ref)
{
    /* A feed this daemon already has knows its store: no journal read
     * for the authorisation (tills long-poll this in a loop).  Otherwise
     * ask the journal. */
    char known[64] = "";
    pthread_mutex_lock(&s->mu);
    kv_hub *kh = kv__hub_find(s, ref);
    if (kh)
        snprintf(known, sizeof known, "%s", kh->store);
    pthread_mutex_unlock(&s->mu);
    if (known[0]) {
        if (!kv__api_same_store(t, known)) {
            kv__api_forbid(s, r, t, "this payment belongs to another store");
            return;
        }
        kv__feed_sync(s, ref, 0); /* only when stale */
    } else {
        kv_flow_result *res = calloc(1, sizeof *res);
        if (!res) {
            kv_http_reply_error(r, 500, "internal", "out of memory");
            return;
        }
        if (kv__api_load_for(s, r, t, ref, 0, res, 0) < 0) {
            free(res);
            return;
        }
        kv__hub_set_store(s, ref, res->payment.store_id);
        kv__feed_sync(s, ref, 0);
        seed_old(s, &res->payment);
        free(res);
    }
    int after = 0;
    const char *a = kv_http_query(r, "after");
    const char *lei = kv_http_header(r, "Last-Event-ID");
    if (!a)
        a = lei;
    if (a) {
        char *e = NULL;
        long v = strtol(a, &e, 10);
        if (*e || v < 0 || v > 1000000000L) {
            kv_http_reply_error(r, 400, "invalid_request", "after must be an event sequence number");
            return;
        }
        after = (int)v;
    }
    const char *accept = kv_http_header(r, "Accept");
    const char *stream = kv_http_query(r, "stream");
    if ((accept && strstr(accept, "text/event-stream")) || (stream && !strcmp(stream, "sse"))) {
        struct sse *x = calloc(1, sizeof *x);
        if (!x) {
            kv_http_reply_error(r, 500, "internal", "out of memory");
            return;
        }
        x->s = s;
        snprintf(x->ref, sizeof x->ref, "%s", ref);
        x->last = after;
        x->eph = eph_now(s, ref);
        x->pre = sse_backlog(s, ref, &x->last, &x->pre_len);
        x->last_write_ms = kv__serve_now_ms();
        x->st = kv_http_reply_stream(r, 200, "text/event-stream", sse_read, x, sse_free);
        if (x->st) {
            /* the reader runs once this handler returns, after the
             * subscription: no change can fall between the two (one
             * that came before it marked the feed stale: read it now) */
            x->sub.st = x->st;
            kv__hub_subscribe(s, ref, &x->sub);
            kv__feed_sync(s, ref, 0);
        }
        return;
    }
    int wait_s = 0;
    const char *w = kv_http_query(r, "wait");
    if (w) {
        char *e = NULL;
        errno = 0;
        long v = strtol(w, &e, 10);
        if (*e || v < 0 || errno == ERANGE) {
            kv_http_reply_error(r, 400, "invalid_request", "wait must be a number of seconds");
            return;
        }
        wait_s = v > s->events_max_wait_s ? s->events_max_wait_s : (int)v;
    }
    /* Something to say now (or no wait asked): answer at once. */
    size_t len = 0;
    uint64_t eph = eph_now(s, ref);
    char *body = events_body(s, ref, after, wait_s == 0, NULL, 1, &len);
    if (body) {
        kv_http_reply(r, 200, "application/json", body, len);
        cJSON_free(body);
        return;
    }
    if (len == 0 && wait_s > 0) {
        struct lpoll *x = calloc(1, sizeof *x);
        if (!x) {
            kv_http_reply_error(r, 500, "internal", "out of memory");
            return;
        }
        x->s = s;
        snprintf(x->ref, sizeof x->ref, "%s", ref);
        x->after = after;
        x->eph = eph;
        x->deadline_ms = kv__serve_now_ms() + (int64_t)wait_s * 1000;
        x->st = kv_http_reply_stream(r, 200, "application/json", lpoll_read, x, lpoll_free);
        if (x->st) {
            x->sub.st = x->st;
            kv__hub_subscribe(s, ref, &x->sub);
            kv__feed_sync(s, ref, 0);
        }
        return;
    }
    kv_http_reply_error(r, 500, "internal", "out of memory");
}
