/* chain.c - several `kvitt serve` instances on one PostgreSQL journal.
 *
 * Active only when the journal is shared (kv_journal_is_shared).  One
 * thread per instance, with its own database session:
 *   - LISTEN kvitt_events: a webhook or callback journaled by any instance
 *     (journal_pg.c notifies with the reference) wakes the wait of that
 *     payment here when this instance owns it;
 *   - LISTEN kvitt_feed: an event journaled in a payment's feed by any
 *     instance (journal_pg.c notifies with the reference) refreshes that
 *     feed here when a till waits on it (feed.c), and wakes only that
 *     feed's waiters; after the listener (re)connects, every waited-on
 *     feed is read again (notifications may have been missed);
 *   - takeover: every second, WAITING payments that no instance holds (the
 *     owner's session advisory lock died with it) get a waiter here, and
 *     other unfinished payments left by a dead instance go through
 *     kv_flow_recover (which takes each payment's lock or skips it); one
 *     left between its create and its QR slip is resumed there (slip
 *     printed, WAITING) and gets a waiter here through serve.c's
 *     on_resume (kv_flow_set_resume).
 * The advisory lock of a payment is its lease: an instance owns a payment
 * while its session holds the lock, and the database frees it the moment
 * the session ends (process killed, machine gone: TCP keepalives).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/journal/pgconn.h"
#include "src/serve/serve_int.h"

#define SCAN_MS 1000
/* a WAITING payment updated this recently may be between its start and
 * its waiter on the instance that created it: not an orphan yet */
#define FRESH_S 2

static PGconn *listen_conn(kv_serve *s)
{
    char err[600];
    PGconn *c = kv_pg_connect(kv_config_main_get(s->cfg)->journal, err, sizeof err);
    if (!c) {
        kv_slog_write(&s->log, KV_LOG_WARNING, "chain.listen_failed error=\"%s\"", err);
        return NULL;
    }
    PGresult *r = PQexec(c, "LISTEN kvitt_events; LISTEN kvitt_feed");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* A notification: wake the local waiter, or refresh the local feed. */
static void on_notify(kv_serve *s, const char *channel, const char *payload)
{
    char ref[64];
    if (sscanf(payload, "%63s", ref) != 1)
        return;
    if (strcmp(channel, "kvitt_feed") == 0) {
        kv__feed_changed(s, ref);
        return;
    }
    /* kvitt_events */
    pthread_mutex_lock(&s->mu);
    kv_hub *h = kv__hub_find(s, ref);
    int worker = h && h->worker;
    pthread_mutex_unlock(&s->mu);
    if (worker) {
        kv__hub_webhook(s, ref);
        kv_flow_notify(s->flow, ref);
    } else {
        kv__sticker_notify(s, ref); /* a sticker amount of ours met its check-in */
    }
}

/* One takeover round. */
static void scan(kv_serve *s)
{
    kv_journal *j = kv_flow_journal(s->flow);
    const kv_config_main *m = kv_config_main_get(s->cfg);
    kv_journal_query q = { NULL, NULL, 0, 1, 100000 };
    kv_payment *rows = NULL;
    size_t n = 0;
    if (kv_flow_find(s->flow, &rows, &n, &q) != KV_FLOW_OK)
        return;
    int64_t now = (int64_t)time(NULL);
    int orphans = 0;
    for (size_t i = 0; i < n; i++) {
        kv_payment *p = &rows[i];
        pthread_mutex_lock(&s->mu);
        kv_hub *h = kv__hub_find(s, p->reference);
        int mine = h && h->worker;
        int stopping = s->stopping;
        pthread_mutex_unlock(&s->mu);
        if (stopping)
            break;
        if (mine || now - p->updated_at < FRESH_S)
            continue;
        if (p->state != KV_PAY_WAITING) {
            orphans++;
            continue;
        }
        int64_t end = p->created_at + m->payment_timeout_s;
        if (p->expires_at && p->expires_at < end)
            end = p->expires_at;
        long left = (long)(end - now);
        if (left < 5) {
            orphans++; /* too late to wait: recover settles it */
            continue;
        }
        /* a lock we get is a lease nobody holds: the owner is gone */
        if (kv_journal_lock_ref(j, p->reference, 1) != KV_J_OK)
            continue;
        kv_journal_unlock_ref(j, p->reference);
        if (kv__serve_spawn_waiter(s, p->reference, (int)left) == 0) {
            pthread_mutex_lock(&s->mu);
            s->takeovers++;
            pthread_mutex_unlock(&s->mu);
            kv_slog_write(&s->log, KV_LOG_NOTICE, "chain.takeover reference=%s state=WAITING seconds_left=%ld",
                          p->reference, left);
        }
    }
    free(rows);
    kv__sticker_scan(s); /* sticker amounts whose owner is gone */
    if (orphans) {
        kv_recover_report rep;
        memset(&rep, 0, sizeof rep);
        kv_flow_recover(s->flow, &rep);
        if (rep.examined)
            kv_slog_write(&s->log, KV_LOG_NOTICE, "chain.recover examined=%d finished=%d unresolved=%d "
                          "resumed=%d", rep.examined, rep.finished, rep.unresolved, rep.resumed);
    }
}

static void *chain_main(void *arg)
{
    kv_serve *s = arg;
    PGconn *c = NULL;
    int64_t next_scan = kv__serve_now_ms() + SCAN_MS, next_conn = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int stop = s->chain_stop || s->stopping;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            break;
        int64_t now = kv__serve_now_ms();
        if (!c && now >= next_conn) {
            c = listen_conn(s);
            next_conn = now + 1000;
            if (c)
                kv__feed_resync_all(s);
        }
        int wait_ms = (int)(next_scan - now);
        if (wait_ms > 200)
            wait_ms = 200;
        if (wait_ms < 0)
            wait_ms = 0;
        if (c) {
            struct pollfd pfd = { .fd = PQsocket(c), .events = POLLIN };
            if (poll(&pfd, 1, wait_ms) > 0 && !PQconsumeInput(c)) {
                kv_slog_write(&s->log, KV_LOG_WARNING, "chain.listen_lost note=\"reconnecting\"");
                PQfinish(c);
                c = NULL;
                continue;
            }
            PGnotify *nf;
            while ((nf = PQnotifies(c)) != NULL) {
                on_notify(s, nf->relname, nf->extra);
                PQfreemem(nf);
            }
        } else {
            struct timespec ts = { 0, (long)wait_ms * 1000000L };
            nanosleep(&ts, NULL);
        }
        if (kv__serve_now_ms() >= next_scan) {
            scan(s);
            next_scan = kv__serve_now_ms() + SCAN_MS;
        }
    }
    if (c)
        PQfinish(c);
    return NULL;
}

int kv__chain_start(kv_serve *s)
{
    if (!kv_journal_is_shared(kv_flow_journal(s->flow)))
        return 0;
    kv_flow_set_recover_grace(s->flow, 5);
    s->chain_stop = 0;
    if (pthread_create(&s->chain_thread, NULL, chain_main, s) != 0)
        return -1;
    s->chain_joinable = 1;
    kv_slog_write(&s->log, KV_LOG_NOTICE, "chain.started note=\"shared journal: takeover and wakes on\"");
    return 0;
}

void kv__chain_stop(kv_serve *s)
{
    if (!s->chain_joinable)
        return;
    pthread_mutex_lock(&s->mu);
    s->chain_stop = 1;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->chain_thread, NULL);
    s->chain_joinable = 0;
}
