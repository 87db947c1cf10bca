/* feed.c - the daemon's cache of each payment's event feed.
 *
 * A payment's feed is numbered and kept in the journal (journal.h,
 * kv_journal_feed_read): every instance of a chain, and this daemon after
 * a restart, reads the same events under the same numbers.  A hub caches
 * the last KV_HUB_KEEP of them, so the stream readers (on the HTTP thread,
 * which must not block) never read the journal.  The cache is refreshed
 * when the feed changes: by this process's own writes (the flow's state
 * changes, webhooks, results) or, on PostgreSQL, by the NOTIFY kvitt_feed
 * of another instance (chain.c) -- only for feeds someone waits on; the
 * others are marked stale and read on the next request.  Passing events
 * (ticks, messages, printed) are not journaled: the hub keeps the latest
 * one for the waiters of this process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/serve/serve_int.h"

/* Append a journaled event (s->mu held): only the next number is taken,
 * so events read twice (two syncs at once) are appended once. */
static void append_locked(kv_hub *h, const kv_feed_event *fe)
{
    if (fe->seq != h->next_seq) {
        if (fe->seq < h->next_seq)
            return;
        /* the journal starts later than the cache (first read of a feed
         * longer than the cache): start the ring there */
        h->first_seq = h->next_seq = fe->seq;
    }
    if (h->next_seq - h->first_seq >= h->cap && h->cap < KV_HUB_KEEP) {
        /* grow the ring, keeping every event at seq % cap */
        int nc = h->cap ? h->cap * 2 : 16;
        kv_hub_ev *nv = calloc((size_t)nc, sizeof *nv);
        if (nv) {
            for (int q = h->first_seq; q < h->next_seq; q++)
                nv[q % nc] = h->ev[q % h->cap];
            free(h->ev);
            h->ev = nv;
            h->cap = nc;
        }
    }
    if (!h->cap)
        return; /* out of memory: the journal still has it */
    if (h->next_seq - h->first_seq >= h->cap)
        h->first_seq++;
    kv_hub_ev *e = &h->ev[h->next_seq % h->cap];
    memset(e, 0, sizeof *e);
    e->seq = h->next_seq++;
    e->at_ms = fe->at_ms;
    e->seconds_left = -1;
    snprintf(e->type, sizeof e->type, "%s", fe->type);
    snprintf(e->state, sizeof e->state, "%s", fe->state);
    snprintf(e->message, sizeof e->message, "%s", fe->message);
    if (!strcmp(fe->type, "result")) {
        h->final_seq = fe->seq;
        h->final = 1;
        h->final_at_ms = kv__serve_now_ms();
    }
}

/* Read what the cache lacks and append it; returns the number appended,
 * -1 when the journal could not be read. */
static int read_new(kv_serve *s, const char *ref)
{
    kv_journal *j = kv_flow_journal(s->flow);
    int added = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        kv_hub *h = kv__hub_get(s, ref);
        int after = h ? h->next_seq - 1 : -1;
        pthread_mutex_unlock(&s->mu);
        if (after < 0)
            return -1;
        kv_feed_event *ev = NULL;
        size_t n = 0;
        if (kv_journal_feed_read(j, ref, after, KV_HUB_KEEP, &ev, &n) != KV_J_OK) {
            pthread_mutex_lock(&s->mu);
            if ((h = kv__hub_find(s, ref)))
                h->stale = 1; /* read again next time */
            pthread_mutex_unlock(&s->mu);
            return -1;
        }
        pthread_mutex_lock(&s->mu);
        h = kv__hub_find(s, ref);
        for (size_t i = 0; h && i < n; i++) {
            int before = h->next_seq;
            append_locked(h, &ev[i]);
            added += h->next_seq != before;
        }
        pthread_mutex_unlock(&s->mu);
        free(ev);
        if (n < KV_HUB_KEEP)
            return added;
    }
}

void kv__feed_sync(kv_serve *s, const char *ref, int force)
{
    pthread_mutex_lock(&s->mu);
    kv_hub *h = kv__hub_get(s, ref);
    int need = h && (force || !h->synced || h->stale);
    if (h) {
        h->synced = 1;
        h->stale = 0;
    }
    pthread_mutex_unlock(&s->mu);
    if (need && read_new(s, ref) > 0)
        kv__hub_wake(s, ref);
}

void kv__feed_changed(kv_serve *s, const char *ref)
{
    pthread_mutex_lock(&s->mu);
    kv_hub *h = kv__hub_find(s, ref);
    int waited = h && h->subs;
    if (h && !waited)
        h->stale = 1;
    pthread_mutex_unlock(&s->mu);
    if (waited)
        kv__feed_sync(s, ref, 1);
}

void kv__feed_note(kv_serve *s, const char *ref, const char *type, const char *state, int seconds_left,
                   const char *message)
{
    pthread_mutex_lock(&s->mu);
    kv_hub *h = kv__hub_get(s, ref);
    if (h) {
        kv_hub_ev *e = &h->eph;
        memset(e, 0, sizeof *e);
        e->at_ms = kv__serve_now_ms();
        snprintf(e->type, sizeof e->type, "%s", type);
        snprintf(e->state, sizeof e->state, "%s", state ? state : "");
        e->seconds_left = seconds_left;
        snprintf(e->message, sizeof e->message, "%s", message ? message : "");
        h->eph_gen++;
        if (!strcmp(type, "result"))
            h->final_local = 1; /* the end, though not journaled */
    }
    pthread_mutex_unlock(&s->mu);
    kv__hub_wake(s, ref);
}

void kv__feed_add(kv_serve *s, const char *ref, const char *type, const char *state, const char *message)
{
    kv_journal_status st = kv_journal_feed_add(kv_flow_journal(s->flow), ref, type, state, message);
    if (st == KV_J_OK) {
        kv__feed_sync(s, ref, 1);
        return;
    }
    kv_slog_write(&s->log, KV_LOG_WARNING, "feed.not_journaled reference=%s type=%s error=\"%s\"", ref, type,
                  kv_journal_strerror(st));
    kv__feed_note(s, ref, type, state, -1, message);
}

void kv__feed_resync_all(kv_serve *s)
{
    size_t n = 0, cap = 0;
    char(*refs)[64] = NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t b = 0; b < KV_HUB_BUCKETS; b++) {
        for (kv_hub *h = s->hubs[b]; h; h = h->next) {
            h->stale = 1;
            if (!h->subs)
                continue;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 64;
                char(*nv)[64] = realloc(refs, nc * sizeof *refs);
                if (!nv)
                    continue; /* stale: read at its next request */
                refs = nv;
                cap = nc;
            }
            memcpy(refs[n++], h->ref, sizeof refs[0]);
        }
    }
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n; i++)
        kv__feed_sync(s, refs[i], 1);
    free(refs);
}

void kv__feed_result(kv_serve *s, const char *ref, const kv_payment *p, const char *message)
{
    if (!p)
        kv__feed_note(s, ref, "result", "UNKNOWN", -1, message);
    else if (kv_pay_state_final(p->state))
        kv__feed_changed(s, ref);
    else
        kv__feed_add(s, ref, "result", kv_pay_state_name(p->state), message);
}
