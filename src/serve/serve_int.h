/*
 * serve_int.h - internals shared by the daemon's files (serve.c: life
 * cycle, configuration, event hub, workers; api.c: the till API; hooks.c:
 * webhooks and eCom callbacks).  Not a public header.
 */
#ifndef KV_SERVE_SERVE_INT_H
#define KV_SERVE_SERVE_INT_H

#include <pthread.h>
#include <stdint.h>

#include "src/flow/flow.h"
#include "src/serve/auth.h"
#include "src/serve/http.h"
#include "src/serve/sdb.h"
#include "src/serve/serve.h"
#include "src/serve/session.h"
#include "src/serve/slog.h"
#include "src/serve/trust.h"

#define KV_HUB_KEEP 64  /* journaled events kept in memory per payment (older ones
                           are read from the journal when a till asks for them) */
#define KV_HUB_BUCKETS 1024
#define KV_HUB_LINGER_MS 120000 /* a finished payment's feed is kept this long */

/* One event of a payment's feed: a journaled one (seq = the journal's
 * number, kv_journal_feed_read) or the feed's latest passing one (seq 0:
 * tick, message, printed; never journaled, never replayed). */
typedef struct kv_hub_ev {
    int seq;
    int64_t at_ms;
    char type[12];        /* state | tick | message | printed | result */
    char state[16];
    int seconds_left;
    char message[120];
} kv_hub_ev;

struct kv_hub;
typedef struct kv_pw kv_pw;

/* A suspended connection (event stream or long-poll) subscribed to one
 * payment's feed; embedded in the stream's state (api.c). */
typedef struct kv_sub {
    struct kv_sub *next;
    struct kv_hub *hub;       /* NULL once unsubscribed */
    kv_http_stream *st;       /* borrowed from the stream's owner */
} kv_sub;

/* A deadline: wake st at due_ms (CLOCK_REALTIME ms). */
typedef struct kv_timer {
    int64_t due_ms;
    kv_http_stream *st;       /* one reference held by the heap */
} kv_timer;

/* The feed of one payment: a cache of its journaled feed (feed.c) plus
 * the latest passing event. */
typedef struct kv_hub {
    struct kv_hub *next;
    kv_sub *subs;             /* streams and long-polls waiting on this feed */
    uint64_t wakeups;         /* stream wakes caused by this feed (tests) */
    char ref[64];
    char store[64];           /* the payment's store once known ("" before) */
    kv_hub_ev *ev;            /* ring of cap slots (grows to KV_HUB_KEEP): a
                                 finished payment's feed stays small */
    int cap;
    int first_seq, next_seq;  /* ev holds seq first_seq .. next_seq-1 (the journal's
                                 numbers; next_seq - 1 = the last one read) */
    int synced;               /* read from the journal at least once */
    int stale;                /* the journal may have events not read yet (a change
                                 came while nobody waited on the feed) */
    int final_seq;            /* number of the latest journaled result, 0 none */
    int final_local;          /* a result that could not be journaled was sent (passing) */
    kv_hub_ev eph;            /* the latest passing event (seq 0), eph_gen counts them */
    uint64_t eph_gen;
    int final;                /* the worker finished, or a result was journaled */
    int64_t final_at_ms;
    int worker;               /* 1 while a worker waits on this payment */
    int ticked;               /* the worker's kv_flow_wait is running (first tick seen) */
    int early;                /* a webhook came before the worker was waiting */
    int64_t last_tick_ms;
} kv_hub;

/* A request with an Idempotency-Key running in this process. */
typedef struct kv_inflight {
    struct kv_inflight *next;
    char till[64];
    char key[128];
} kv_inflight;

struct kv_serve {
    const kv_config *cfg;
    kv_slog log;
    kv_flow *flow;
    kv_sdb *sdb;
    kv_session *sess;         /* cashier page sessions and sign-in throttle (api_till.c);
                                 NULL when their PostgreSQL tables cannot be had */
    char sess_error[400];     /* why sess is NULL (no password), for the 503 */
    int session_ttl_s;        /* [serve] session_hours, in seconds */
    kv_trust *trust;          /* [serve] trusted_proxies (the balancers) */
    kv_auth *auth;
    kv_http *http;
    char url[300];
    char webhook_url[1024];
    long webhook_skew_s;
    char callback_token[256];
    size_t max_body;
    int shutdown_grace_s;
    int events_max_wait_s;

    int http_threads;         /* [serve] threads: HTTP handler pool */
    int payment_threads;      /* [serve] payment_threads: waiting payments' pool */

    /* timers (wake.c): one thread, a heap of deadlines */
    pthread_mutex_t timer_mu;
    pthread_cond_t timer_cv;
    kv_timer *timers;
    size_t ntimers, captimers;
    int timer_stop, timer_inited, timer_joinable;
    pthread_t timer_thread;

    /* waiting payments (engine.c): steps on payment_threads threads */
    pthread_mutex_t emu;
    pthread_cond_t ecv;       /* work queued */
    pthread_cond_t etcv;      /* a new earliest due time (for the timing thread) */
    struct kv_pw *eqhead, *eqtail;
    struct kv_pw **eheap;
    size_t neheap, capeheap;
    pthread_t *ethreads;
    int nethreads, estop, etiming, einited;
    uint64_t esteps, ewakes;

    pthread_mutex_t mu;       /* guards everything below */
    pthread_cond_t cv;        /* broadcast when a worker, a request or an
                                 in-flight key ends (not on feed changes:
                                 those wake the feed's subscribers only) */
    kv_hub *hubs[KV_HUB_BUCKETS]; /* hash table by reference */
    int64_t pruned_at_ms;
    kv_inflight *inflight;
    int stopping;             /* new requests get 503 */
    int requests;             /* requests being handled */
    int workers;              /* payment workers running */
    int recovering;           /* recovery thread running */
    pthread_t recover_thread;
    int recover_joinable;
    /* several instances on one PostgreSQL journal (chain.c) */
    pthread_t chain_thread;
    int chain_joinable, chain_stop;
    uint64_t takeovers;       /* payments taken over from a dead instance */

    /* serialises "claim an idempotency key" with "mark it in flight" */
    pthread_mutex_t idem_mu;

    /* webhook registrations (secrets) cached from the journal database;
     * reloaded when a delivery does not verify against them */
    pthread_mutex_t hooks_mu;
    kv_sdb_hook *hooks;
    size_t nhooks;
    int64_t hooks_at_ms;

    /* sticker flow (api_sticker.c), created at first use under mu */
    struct kv_stk *stk;

    /* health cache */
    pthread_mutex_t health_mu;
    int64_t health_at_ms;
    char *health_json;
};

int64_t kv__serve_now_ms(void);
/* What support needs of a failed operation, for its log line:
 * ` detail="..." http_status=N code=N trace_id=ID` (trace_id "-" when the
 * service gave none); "" when res is NULL or the operation had no detail. */
void kv__serve_err_fields(char *buf, size_t len, const kv_flow_result *res);

/* Event hub (serve.c).  kv__hub_find needs s->mu held by the caller and
 * returns NULL when the payment has no feed; the others take s->mu
 * themselves. */
kv_hub *kv__hub_find(kv_serve *s, const char *ref);
/* Event seq of a feed (first_seq <= seq < next_seq; s->mu held). */
static inline const kv_hub_ev *kv__hub_ev(const kv_hub *h, int seq)
{
    return &h->ev[seq % h->cap];
}
void kv__hub_final(kv_serve *s, const char *ref);

/* The feed cache (feed.c).  s->mu NOT held by the caller of any of these;
 * they never run on the HTTP thread's stream readers (they may read the
 * journal).
 *   kv__feed_changed: ref's journaled feed has new events (this process
 *     wrote them, or a NOTIFY said so): a feed with waiters reads them now
 *     and wakes its waiters; one without is only marked stale.
 *   kv__feed_sync: read the events the cache lacks (a new or stale cache,
 *     or force) and wake the waiters when there were any.
 *   kv__feed_add: journal an event (its own write unit), then sync; when
 *     the journal cannot take it, it becomes a passing event.
 *   kv__feed_note: a passing event (tick, message, printed): kept in
 *     memory only, sent to the waiters of this process.
 *   kv__feed_resync_all: after notifications may have been lost: every
 *     feed with waiters is read again, the others marked stale. */
void kv__feed_changed(kv_serve *s, const char *ref);
void kv__feed_sync(kv_serve *s, const char *ref, int force);
void kv__feed_add(kv_serve *s, const char *ref, const char *type, const char *state, const char *message);
void kv__feed_note(kv_serve *s, const char *ref, const char *type, const char *state, int seconds_left,
                   const char *message);
void kv__feed_resync_all(kv_serve *s);
/* The end of a payment's wait or start, with message: p (NULL when the
 * payment was never journaled: a passing result) in a final state has
 * its result journaled already (with the state change); otherwise the
 * result is journaled now. */
void kv__feed_result(kv_serve *s, const char *ref, const kv_payment *p, const char *message);
/* Remember the payment's store (so the event feed can authorise a till
 * without reading the journal). */
void kv__hub_set_store(kv_serve *s, const char *ref, const char *store);
/* A verified webhook/callback for ref was journaled (its feed event with
 * it): refresh the feed, and when the payment's worker is not waiting
 * yet, remember to wake it at its first tick (kv_flow_notify only wakes a
 * waiter that exists). */
void kv__hub_webhook(kv_serve *s, const char *ref);

/* Feed subscribers and timers (wake.c).  kv__hub_get (serve.c) finds or
 * creates a feed, s->mu held. */
kv_hub *kv__hub_get(kv_serve *s, const char *ref);
void kv__hub_subscribe(kv_serve *s, const char *ref, kv_sub *sub);
void kv__hub_unsubscribe(kv_serve *s, kv_sub *sub);
/* Wake the subscribers of ref's feed (s->mu NOT held). */
void kv__hub_wake(kv_serve *s, const char *ref);
/* Wake every subscriber once (shutdown). */
void kv__hub_wake_all(kv_serve *s);
int kv__timer_start(kv_serve *s);
void kv__timer_add(kv_serve *s, int64_t due_ms, kv_http_stream *st);
void kv__timer_stop(kv_serve *s);
void kv__timer_free(kv_serve *s);

/* Waiting payments (engine.c).  kv__engine_add queues a wait on ref
 * (timeout_s 0 = the configured one); kv__engine_stop joins the pool and
 * closes the waits left (they stay WAITING in the journal). */
int kv__engine_start(kv_serve *s);
int kv__engine_add(kv_serve *s, const char *ref, int timeout_s, int start);
void kv__engine_stop(kv_serve *s);
void kv__engine_stats(kv_serve *s, uint64_t *steps, uint64_t *wakes);
/* A payment's wait ended: its feed is final and no worker holds it. */
void kv__hub_worker_done(kv_serve *s, const char *ref);

/* Start waiting on ref (a step on the payment pool, no thread), with
 * timeout_s (0 = the configured payment timeout).  Returns
 * 0, or -1 when a worker already waits on it or the thread failed. */
int kv__serve_spawn_waiter(kv_serve *s, const char *ref, int timeout_s);
/* The same for a paired sticker amount: the step creates its payment
 * first (kv__sticker_start), then waits on it. */
int kv__serve_spawn_starter(kv_serve *s, const char *ref);

/* A waiter could not take ref (another instance holds its lease): the
 * feed stays open, no worker holds it here. */
void kv__hub_worker_gone(kv_serve *s, const char *ref);
/* Instances sharing a PostgreSQL journal (chain.c): LISTEN/NOTIFY wakes and
 * takeover of payments whose owner died.  No-ops on a SQLite journal. */
int kv__chain_start(kv_serve *s);
void kv__chain_stop(kv_serve *s);
/* Handlers (api.c, hooks.c). */
void kv__api_route(kv_serve *s, kv_http_req *r, const char *path, const char *method);
void kv__hooks_webhook(kv_serve *s, kv_http_req *r);
void kv__hooks_callback(kv_serve *s, kv_http_req *r, const char *order_id);

/* The sticker flow (api_sticker.c).  begin: a till's "flow": "sticker"
 * payment (pr->reference set, validated; minor = its amount): 0 when a
 * held check-in was taken (pr->customer_token = tok: start it as usual),
 * else an HTTP status with *reply (202 waiting for the scan, 409 no
 * sticker, 503).  describe: 1 with *reply for a sticker payment that
 * never reached the flow.  checkin: a verified user.checked-in.v1.
 * recover: at start, waiting amounts whose check-in was journaled. */
struct cJSON;
int kv__sticker_begin(kv_serve *s, const kv_till *t, kv_pay_request *pr, int64_t minor, char *tok,
                      size_t toklen, struct cJSON **reply);
int kv__sticker_describe(kv_serve *s, const kv_till *t, const char *ref, struct cJSON **reply);
/* POST /v1/payments/REF/cancel of a sticker payment still waiting for the
 * scan: 1 with *reply (it is cancelled); 0 when there is none (the flow's
 * cancel applies). */
int kv__sticker_cancel(kv_serve *s, const kv_till *t, const char *ref, struct cJSON **reply);
int kv__sticker_is_checkin(const char *body, size_t len);
void kv__sticker_checkin(kv_serve *s, kv_http_req *r, const char *body, size_t len);
/* After kv_flow_start of a scan-first sticker payment (kv__sticker_begin
 * returned 0): the amount is started, its lease given back. */
void kv__sticker_after_start(kv_serve *s, const char *ref, kv_flow_status st);
void kv__sticker_free(kv_serve *s);

/* Who creates a sticker payment (sticker_run.c).  own: take the amount's
 * lease (0, or -1 when another instance holds it); disown: give it back.
 * wake: the amount ref was paired here: start it when this instance owns
 * it.  notify: kvitt_events named ref (chain.c): 1 when it was an amount
 * of ours (its starter is spawned).  start: the engine's first step of a
 * starter: 0 when a payment of ref is journaled to wait on (*timeout_s
 * set), -1 when there is none.  scan: adopt the open amounts nobody owns,
 * start the paired ones, expire the old ones (at start; every second on
 * a chain). */
long kv__sticker_hold_s(kv_serve *s);
int kv__sticker_own(kv_serve *s, const char *ref);
void kv__sticker_disown(kv_serve *s, const char *ref);
void kv__sticker_wake(kv_serve *s, const char *ref);
int kv__sticker_notify(kv_serve *s, const char *ref);
int kv__sticker_start(kv_serve *s, const char *ref, int *timeout_s);
void kv__sticker_scan(kv_serve *s);
/* Give back the leases of amounts that no longer wait (replaced ones: a
 * single daemon has no scan). */
void kv__sticker_tidy(kv_serve *s);
/* The request's "flow" ("sticker" | "qr" | absent; absent = [till ID]
 * flow): *sticker = 1 for the sticker flow.  -1 after replying 400. */
int kv__api_sticker_flow(kv_serve *s, kv_http_req *r, const struct cJSON *body, const kv_till *t,
                         int *sticker);

/* The cashier page (api_till.c): its files under /till/; /v1/session and
 * /v1/sessions (returns 1 when it answered the request); and the session
 * cookie as an alternative to the bearer token: 1 with *out set (info_out,
 * may be NULL, receives the session), 0 without a live session, -1 after
 * replying 403 to a state-changing request without the CSRF token or 503
 * when the sessions' database does not answer. */
void kv__till_static(kv_serve *s, kv_http_req *r, const char *path);
int kv__till_route(kv_serve *s, kv_http_req *r, const char *path, const char *method);
int kv__till_cookie_auth(kv_serve *s, kv_http_req *r, const kv_till **out,
                         kv_session_info *info_out);


/* api.c, shared with api_events.c: does till t act for store origin; a 403
 * (logged); load a payment the till may see (chain: also its chain's),
 * answering 404/403/5xx itself and returning -1 then. */
int kv__api_same_store(const kv_till *t, const char *origin);
void kv__api_forbid(kv_serve *s, kv_http_req *r, const kv_till *t, const char *why);
int kv__api_load_for(kv_serve *s, kv_http_req *r, const kv_till *t, const char *ref, int chain,
                     kv_flow_result *res, int refresh);
/* api.c: may till t act for store origin's payments across the chain
 * (chain_refund); a flow status as an HTTP status and error code; a
 * payment as the API's JSON (caller owns it). */
int kv__api_chain_allowed(kv_serve *s, const kv_till *t, const char *origin);
int kv__api_flow_http(kv_flow_status st, const char **code);
cJSON *kv__api_payment_json(kv_serve *s, const kv_payment *p);
/* api_query.c: GET /v1/orders and GET /v1/health. */
void kv__api_get_orders(kv_serve *s, kv_http_req *r, const kv_till *t);
void kv__api_get_health(kv_serve *s, kv_http_req *r, const kv_till *t);
/* api_events.c: GET /v1/payments/{ref}/events (long-poll or SSE). */
void kv__api_get_events(kv_serve *s, kv_http_req *r, const kv_till *t, const char *ref);

#endif
