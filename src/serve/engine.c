/* engine.c - the daemon's waiting payments: steps on a small pool.
 *
 * A payment waiting for its customer holds no thread.  It is a
 * kv_flow_waiter with a due time in a heap; a pool of payment_threads
 * threads runs the steps that are due (a tick, a poll, the capture and
 * receipt after the webhook, the give-up at the timeout) and the steps of
 * payments whose own event came in (kv_flow calls wake() for that
 * reference only).  One idle pool thread sleeps until the earliest due
 * time; the others sleep until there is work. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/serve/serve_int.h"

struct kv_pw {
    kv_serve *s;
    char ref[64];
    int timeout_s;
    kv_flow_waiter *w;        /* NULL until opened on the pool */
    kv_flow_result res;
    int64_t due_ms;
    size_t heap_idx;          /* SIZE_MAX when not in the heap */
    int queued, running, woken, opened;
    int start;                /* a sticker payment to create first (sticker_run.c) */
    kv_pw *qnext;
};

/* ---- heap of due times (s->emu held) ---- */

static void heap_set(kv_serve *s, size_t i, kv_pw *pw)
{
    s->eheap[i] = pw;
    pw->heap_idx = i;
}

static void heap_up(kv_serve *s, size_t i)
{
    while (i > 0 && s->eheap[(i - 1) / 2]->due_ms > s->eheap[i]->due_ms) {
        kv_pw *p = s->eheap[(i - 1) / 2];
        heap_set(s, (i - 1) / 2, s->eheap[i]);
        heap_set(s, i, p);
        i = (i - 1) / 2;
    }
}

static void heap_down(kv_serve *s, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->neheap && s->eheap[l]->due_ms < s->eheap[m]->due_ms)
            m = l;
        if (r < s->neheap && s->eheap[r]->due_ms < s->eheap[m]->due_ms)
            m = r;
        if (m == i)
            return;
        kv_pw *p = s->eheap[m];
        heap_set(s, m, s->eheap[i]);
        heap_set(s, i, p);
        i = m;
    }
}

static int heap_add(kv_serve *s, kv_pw *pw)
{
    if (s->neheap == s->capeheap) {
        size_t nc = s->capeheap ? s->capeheap * 2 : 256;
        kv_pw **nv = realloc(s->eheap, nc * sizeof *nv);
        if (!nv)
            return -1;
        s->eheap = nv;
        s->capeheap = nc;
    }
    heap_set(s, s->neheap++, pw);
    heap_up(s, pw->heap_idx);
    return 0;
}

static void heap_del(kv_serve *s, kv_pw *pw)
{
    size_t i = pw->heap_idx;
    if (i == SIZE_MAX)
        return;
    pw->heap_idx = SIZE_MAX;
    kv_pw *last = s->eheap[--s->neheap];
    if (i < s->neheap) {
        heap_set(s, i, last);
        heap_up(s, i);
        heap_down(s, last->heap_idx);
    }
}

/* ---- run queue (s->emu held) ---- */

static void runq_push(kv_serve *s, kv_pw *pw)
{
    pw->queued = 1;
    pw->qnext = NULL;
    if (s->eqtail)
        s->eqtail->qnext = pw;
    else
        s->eqhead = pw;
    s->eqtail = pw;
    pthread_cond_signal(&s->ecv);
}

/* Called by the flow (its lock held) when an event for this payment's
 * reference came: run its step soon. */
static void wake_pw(void *user)
{
    kv_pw *pw = user;
    kv_serve *s = pw->s;
    pthread_mutex_lock(&s->emu);
    s->ewakes++;
    if (pw->running)
        pw->woken = 1;
    else if (!pw->queued) {
        heap_del(s, pw);
        runq_push(s, pw);
    }
    pthread_mutex_unlock(&s->emu);
}

/* The wait is over: feed and log the result, release the feed. */
static void finish(kv_serve *s, kv_pw *pw, kv_flow_status st)
{
    kv_flow_result *res = &pw->res;
    const char *state = res->payment.reference[0] ? kv_pay_state_name(res->payment.state) : "UNKNOWN";
    char msg[300];
    snprintf(msg, sizeof msg, "%s%s", kv_flow_strerror(st),
             res->receipt_queued ? "; receipt queued for reprint" : "");
    kv__feed_result(s, pw->ref, res->payment.reference[0] ? &res->payment : NULL, msg);
    char why[900] = "";
    if (st != KV_FLOW_OK)
        kv__serve_err_fields(why, sizeof why, res);
    kv_slog_write(&s->log, st == KV_FLOW_OK || st == KV_FLOW_E_NOT_PAID ? KV_LOG_INFO
                                                                        : KV_LOG_WARNING,
                  "payment.finished reference=%s state=%s result=\"%s\"%s%s", pw->ref, state,
                  kv_flow_strerror(st), res->receipt_queued ? " receipt=queued" : "", why);
    kv__hub_worker_done(s, pw->ref);
    free(pw);
}

/* One step of a waiting payment (no lock held). */
static void run(kv_serve *s, kv_pw *pw)
{
    kv_flow_status st = KV_FLOW_OK;
    if (!pw->opened && pw->start && kv__sticker_start(s, pw->ref, &pw->timeout_s) != 0) {
        kv__hub_worker_gone(s, pw->ref); /* nothing to wait on (yet) */
        free(pw);
        return;
    }
    if (!pw->opened) {
        pw->opened = 1;
        st = kv_flow_waiter_open(s->flow, &pw->w, &pw->res, pw->ref, pw->timeout_s, wake_pw, pw);
        if (pw->start)
            kv__sticker_disown(s, pw->ref); /* the waiter holds the payment now */
        if (!pw->w && st == KV_FLOW_E_BUSY) {
            /* another instance of the chain holds the payment's lease */
            kv_slog_write(&s->log, KV_LOG_INFO, "payment.owned_elsewhere reference=%s", pw->ref);
            kv__hub_worker_gone(s, pw->ref);
            free(pw);
            return;
        }
        if (!pw->w) {
            finish(s, pw, st);
            return;
        }
    }
    int64_t next_ms = 0;
    if (kv_flow_waiter_step(pw->w, &pw->res, &st, &next_ms)) {
        kv_flow_waiter *w = pw->w;
        /* no wake may reach pw once the waiter is closed */
        kv_flow_waiter_close(w);
        finish(s, pw, st);
        return;
    }
    pthread_mutex_lock(&s->emu);
    pw->running = 0;
    pw->due_ms = next_ms;
    if (pw->woken || s->estop) {
        pw->woken = 0;
        if (!s->estop)
            runq_push(s, pw);
        else if (heap_add(s, pw) != 0)
            runq_push(s, pw);
    } else if (heap_add(s, pw) != 0) {
        runq_push(s, pw); /* out of memory for the heap: run it again */
    } else if (pw->heap_idx == 0) {
        pthread_cond_signal(&s->etcv); /* a new earliest due time */
        pthread_cond_signal(&s->ecv);
    }
    pthread_mutex_unlock(&s->emu);
}

static void *engine_main(void *arg)
{
    kv_serve *s = arg;
    pthread_mutex_lock(&s->emu);
    while (!s->estop) {
        if (s->eqhead) {
            kv_pw *pw = s->eqhead;
            s->eqhead = pw->qnext;
            if (!s->eqhead)
                s->eqtail = NULL;
            pw->queued = 0;
            pw->running = 1;
            pw->woken = 0;
            s->esteps++;
            pthread_mutex_unlock(&s->emu);
            run(s, pw);
            pthread_mutex_lock(&s->emu);
            continue;
        }
        int64_t now = kv__serve_now_ms();
        if (s->neheap && s->eheap[0]->due_ms <= now) {
            kv_pw *pw = s->eheap[0];
            heap_del(s, pw);
            runq_push(s, pw);
            continue;
        }
        if (s->neheap && !s->etiming) {
            /* this thread keeps the time (CLOCK_REALTIME ms) */
            s->etiming = 1;
            int64_t due = s->eheap[0]->due_ms;
            struct timespec ts = { (time_t)(due / 1000), (long)(due % 1000) * 1000000L };
            pthread_cond_timedwait(&s->etcv, &s->emu, &ts);
            s->etiming = 0;
            continue;
        }
        pthread_cond_wait(&s->ecv, &s->emu);
    }
    pthread_mutex_unlock(&s->emu);
    return NULL;
}

int kv__engine_start(kv_serve *s)
{
    pthread_mutex_init(&s->emu, NULL);
    pthread_cond_init(&s->ecv, NULL);
    pthread_cond_init(&s->etcv, NULL);
    s->einited = 1;
    s->ethreads = calloc((size_t)s->payment_threads, sizeof *s->ethreads);
    if (!s->ethreads)
        return -1;
    for (int i = 0; i < s->payment_threads; i++) {
        if (pthread_create(&s->ethreads[i], NULL, engine_main, s) != 0)
            break;
        s->nethreads++;
    }
    return s->nethreads ? 0 : -1;
}

int kv__engine_add(kv_serve *s, const char *ref, int timeout_s, int start)
{
    kv_pw *pw = calloc(1, sizeof *pw);
    if (!pw)
        return -1;
    pw->s = s;
    snprintf(pw->ref, sizeof pw->ref, "%s", ref);
    pw->timeout_s = timeout_s;
    pw->start = start;
    pw->heap_idx = SIZE_MAX;
    pthread_mutex_lock(&s->emu);
    runq_push(s, pw);
    pthread_mutex_unlock(&s->emu);
    return 0;
}

void kv__engine_stats(kv_serve *s, uint64_t *steps, uint64_t *wakes)
{
    if (!s->einited) {
        *steps = *wakes = 0;
        return;
    }
    pthread_mutex_lock(&s->emu);
    *steps = s->esteps;
    *wakes = s->ewakes;
    pthread_mutex_unlock(&s->emu);
}

void kv__engine_stop(kv_serve *s)
{
    if (!s->einited)
        return;
    pthread_mutex_lock(&s->emu);
    s->estop = 1;
    pthread_cond_broadcast(&s->ecv);
    pthread_cond_broadcast(&s->etcv);
    pthread_mutex_unlock(&s->emu);
    for (int i = 0; i < s->nethreads; i++)
        pthread_join(s->ethreads[i], NULL);
    s->nethreads = 0;
    free(s->ethreads);
    s->ethreads = NULL;
    /* Payments still waiting stay WAITING in the journal: the next start
     * resumes them (or recover gives up on them). */
    while (s->eqhead || s->neheap) {
        kv_pw *pw = s->eqhead;
        if (pw) {
            s->eqhead = pw->qnext;
        } else {
            pw = s->eheap[0];
            heap_del(s, pw);
        }
        kv_flow_waiter_close(pw->w);
        free(pw);
    }
    s->eqtail = NULL;
    free(s->eheap);
    s->eheap = NULL;
    pthread_mutex_destroy(&s->emu);
    pthread_cond_destroy(&s->ecv);
    pthread_cond_destroy(&s->etcv);
    s->einited = 0;
}
