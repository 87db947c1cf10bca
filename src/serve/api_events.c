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

static cJSON *event_json(const kv_hub_ev *e)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
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

/* Make sure the hub knows the payment (after a restart it may not):
 * seed it with the journaled state. */
static void hub_seed(kv_serve *s, const kv_payment *p)
{
    pthread_mutex_lock(&s->mu);
    kv_hub *h = kv__hub_find(s, p->reference);
    pthread_mutex_unlock(&s->mu);
    if (h)
        return;
    kv__hub_push(s, p->reference, "state", kv_pay_state_name(p->state), -1, "");
    if (kv_pay_state_final(p->state))
        kv__hub_final(s, p->reference);
}

/* Collect events after `after` into arr; returns 1 when the feed is final. */
static int collect(kv_serve *s, const char *ref, int after, cJSON *arr, int *last)
{
    int fin = 0;
    *last = after;
    kv_hub *h = kv__hub_find(s, ref);
    if (h) {
        for (int q = after + 1 > h->first_seq ? after + 1 : h->first_seq; q < h->next_seq; q++) {
            cJSON *e = event_json(kv__hub_ev(h, q));
            if (e)
                cJSON_AddItemToArray(arr, e);
            *last = q;
        }
        fin = h->final && !h->worker;
    }
    return fin;
}

/* An event stream: a suspended connection subscribed to the payment's
 * feed; its reader never blocks (it answers 0 and the connection sleeps
 * until the feed changes or its keep-alive timer is due). */
struct sse {
    kv_serve *s;
    kv_sub sub;
    kv_http_stream *st;
    char ref[64];
    int last;
    int done;
    int64_t last_write_ms;
    int64_t timer_due_ms;
};

#define SSE_KEEPALIVE_MS 15000

static ssize_t sse_read(void *cls, char *buf, size_t max)
{
    struct sse *x = cls;
    kv_serve *s = x->s;
    if (x->done)
        return -1;
    pthread_mutex_lock(&s->mu);
    cJSON *arr = cJSON_CreateArray();
    int last = x->last;
    int fin = arr ? collect(s, x->ref, x->last, arr, &last) : 1;
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->mu);
    size_t off = 0;
    if (arr) {
        int used = x->last;
        for (cJSON *e = arr->child; e; e = e->next) {
            char *txt = cJSON_PrintUnformatted(e);
            if (!txt)
                break;
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
            int seq = (int)cJSON_GetObjectItemCaseSensitive(e, "seq")->valuedouble;
            int w = snprintf(buf + off, max - off, "id: %d\nevent: %s\ndata: %s\n\n", seq,
                             cJSON_IsString(type) ? type->valuestring : "message", txt);
            cJSON_free(txt);
            if (w < 0 || (size_t)w >= max - off)
                break; /* the rest goes in the next call */
            off += (size_t)w;
            used = seq;
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
    free(x);
}

/* A long-poll that found nothing yet: a suspended connection subscribed
 * to the feed, answered (one JSON body) when an event comes, the feed
 * ends, the wait is over or the daemon stops. */
struct lpoll {
    kv_serve *s;
    kv_sub sub;
    kv_http_stream *st;
    char ref[64];
    int after;
    int64_t deadline_ms;
    int timer_set;
    char *body;
    size_t len, off;
};

/* The long-poll answer: {"reference","events","next","final"}. */
static char *events_body(kv_serve *s, const char *ref, int after, int force, size_t *len)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    int last = after;
    pthread_mutex_lock(&s->mu);
    int fin = collect(s, ref, after, arr, &last);
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->mu);
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
        x->body = events_body(x->s, x->ref, x->after, now >= x->deadline_ms, &x->len);
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

void kv__api_get_events(kv_serve *s, kv_http_req *r, const kv_till *t, const char *ref)
{
    /* A feed this daemon already has knows its store: no journal read
     * (tills long-poll this in a loop).  Otherwise ask the journal. */
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
        hub_seed(s, &res->payment);
        kv__hub_set_store(s, ref, res->payment.store_id);
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
        x->last_write_ms = kv__serve_now_ms();
        x->st = kv_http_reply_stream(r, 200, "text/event-stream", sse_read, x, sse_free);
        if (x->st) {
            /* the reader runs once this handler returns, after the
             * subscription: no change can fall between the two */
            x->sub.st = x->st;
            kv__hub_subscribe(s, ref, &x->sub);
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
    char *body = events_body(s, ref, after, wait_s == 0, &len);
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
        x->deadline_ms = kv__serve_now_ms() + (int64_t)wait_s * 1000;
        x->st = kv_http_reply_stream(r, 200, "application/json", lpoll_read, x, lpoll_free);
        if (x->st) {
            x->sub.st = x->st;
            kv__hub_subscribe(s, ref, &x->sub);
        }
        return;
    }
    kv_http_reply_error(r, 500, "internal", "out of memory");
}

