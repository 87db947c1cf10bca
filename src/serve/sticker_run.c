/* sticker_run.c - the sticker flow after the meeting (see api_sticker.c for
 * the requests): which instance creates the payment, and when.
 *
 * The amount's owner: the instance that journaled a till's waiting amount
 * holds its lease (kv_journal_lock_ref: a PostgreSQL session advisory lock
 * on a chain, nothing to take on SQLite) and keeps the reference in its
 * list.  The meeting of a check-in and the amount is one journal
 * transaction on whichever instance the webhook reached; that instance
 * answers the webhook at once and wakes the owner: itself directly, or
 * through PostgreSQL's NOTIFY on kvitt_events (sent by the pairing's
 * transaction; chain.c hands it to kv__sticker_notify).  The owner creates
 * the payment on its payment pool (engine.c): a starter runs
 * kv__sticker_start (kv_flow_start with the customer token, journaled
 * and keyed like every payment) and then waits on the payment.
 *
 * Recovery: the pairing is journaled before anything else happens, so a
 * crash between the pairing and the create leaves a "paired" amount; the
 * scan (at start, and every second on a chain) gives each open amount
 * whose lease nobody holds to this instance, and starts the paired ones.
 * A payment journaled by the flow before the crash is not created again
 * (the flow's recovery owns it); a token past its time is never used. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>

#include "src/journal/journal_sticker.h"
#include "src/serve/serve_int.h"

#define HOLD_DEFAULT_S 60
#define HOLD_MAX_S 840           /* the token lives 900 s; keep a margin */
/* an amount journaled this recently may be between its journal row and
 * its owner's list on the instance that took it (chain only) */
#define FRESH_MS 2000

typedef struct owned {
    char ref[64];
    int64_t since_ms;
} owned;

struct kv_stk {
    pthread_mutex_t mu;       /* the owned list */
    long hold_s;
    owned *own;
    size_t nown, capown;
};

static struct kv_stk *stk(kv_serve *s)
{
    pthread_mutex_lock(&s->mu);
    if (!s->stk) {
        struct kv_stk *k = calloc(1, sizeof *k);
        if (k) {
            pthread_mutex_init(&k->mu, NULL);
            const char *v = kv_config_get(s->cfg, "serve", "sticker_hold_s");
            char *end = NULL;
            long h = v ? strtol(v, &end, 10) : HOLD_DEFAULT_S;
            k->hold_s = (v && (*end || h < 1 || h > HOLD_MAX_S)) ? HOLD_DEFAULT_S : h;
            s->stk = k;
        }
    }
    struct kv_stk *k = s->stk;
    pthread_mutex_unlock(&s->mu);
    return k;
}

void kv__sticker_free(kv_serve *s)
{
    if (!s->stk)
        return;
    pthread_mutex_destroy(&s->stk->mu);
    free(s->stk->own);
    free(s->stk);
    s->stk = NULL;
}

long kv__sticker_hold_s(kv_serve *s)
{
    struct kv_stk *k = stk(s);
    return k ? k->hold_s : -1;
}

static kv_journal *jr(kv_serve *s)
{
    return kv_flow_journal(s->flow);
}

/* Index of ref in the owned list, or -1 (k->mu held). */
static long own_find(struct kv_stk *k, const char *ref)
{
    for (size_t i = 0; i < k->nown; i++)
        if (!strcmp(k->own[i].ref, ref))
            return (long)i;
    return -1;
}

static int owns(kv_serve *s, const char *ref)
{
    struct kv_stk *k = stk(s);
    if (!k)
        return 0;
    pthread_mutex_lock(&k->mu);
    int yes = own_find(k, ref) >= 0;
    pthread_mutex_unlock(&k->mu);
    return yes;
}

int kv__sticker_own(kv_serve *s, const char *ref)
{
    struct kv_stk *k = stk(s);
    if (!k || strlen(ref) >= sizeof k->own[0].ref)
        return -1;
    if (owns(s, ref))
        return 0;
    if (kv_journal_lock_ref(jr(s), ref, 1) != KV_J_OK)
        return -1; /* another instance holds it (or the database is away) */
    pthread_mutex_lock(&k->mu);
    if (k->nown == k->capown) {
        size_t nc = k->capown ? k->capown * 2 : 16;
        owned *nv = realloc(k->own, nc * sizeof *nv);
        if (!nv) {
            pthread_mutex_unlock(&k->mu);
            kv_journal_unlock_ref(jr(s), ref);
            return -1;
        }
        k->own = nv;
        k->capown = nc;
    }
    snprintf(k->own[k->nown].ref, sizeof k->own[k->nown].ref, "%s", ref);
    k->own[k->nown++].since_ms = kv__serve_now_ms();
    pthread_mutex_unlock(&k->mu);
    return 0;
}

void kv__sticker_disown(kv_serve *s, const char *ref)
{
    struct kv_stk *k = stk(s);
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    long i = own_find(k, ref);
    if (i >= 0)
        k->own[i] = k->own[--k->nown];
    pthread_mutex_unlock(&k->mu);
    if (i >= 0)
        kv_journal_unlock_ref(jr(s), ref);
}

void kv__sticker_wake(kv_serve *s, const char *ref)
{
    if (owns(s, ref) || (!kv_journal_is_shared(jr(s)) && kv__sticker_own(s, ref) == 0))
        kv__serve_spawn_starter(s, ref);
    /* else: the pairing's NOTIFY reaches the owner, or the scan of a
     * living instance adopts an amount whose owner is gone */
}

int kv__sticker_notify(kv_serve *s, const char *ref)
{
    if (!owns(s, ref))
        return 0;
    kv__serve_spawn_starter(s, ref);
    return 1;
}

/* Test hook: KVITT_TEST_CRASH_AT=sticker-checkin kills the daemon after
 * the pairing is journaled (and the webhook answered), before the payment
 * is created (the recovery test). */
static void crash_point(const char *step)
{
    const char *c = getenv("KVITT_TEST_CRASH_AT");
    if (c && !strcmp(c, step))
        raise(SIGKILL);
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* kv_flow_start of the paired amount w with the customer's token. */
static kv_flow_status start_flow(kv_serve *s, const kv_wait_row *w, const char *token, int *timeout_s)
{
    cJSON *q = cJSON_Parse(w->request);
    kv_flow_result *res = calloc(1, sizeof *res);
    if (!q || !res) {
        cJSON_Delete(q);
        free(res);
        return KV_FLOW_E_NOMEM;
    }
    kv_pay_request pr;
    memset(&pr, 0, sizeof pr);
    const cJSON *am = cJSON_GetObjectItemCaseSensitive(q, "amountMinor");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(q, "timeoutSeconds");
    pr.amount_minor = cJSON_IsNumber(am) ? (int64_t)am->valuedouble : 0;
    pr.timeout_s = cJSON_IsNumber(to) ? to->valueint : 0;
    pr.currency = jstr(q, "currency");
    pr.items_json = jstr(q, "items");
    pr.text = jstr(q, "text");
    pr.printer = jstr(q, "printer");
    pr.store_id = jstr(q, "store");
    pr.till_id = w->till;
    pr.reference = w->reference;
    pr.customer_token = token;
    *timeout_s = pr.timeout_s;
    kv__hub_set_store(s, w->reference, pr.store_id ? pr.store_id : "");
    kv_flow_status st = kv_flow_start(s->flow, res, &pr);
    kv_slog_write(&s->log, st == KV_FLOW_OK ? KV_LOG_INFO : KV_LOG_WARNING,
                  "sticker.payment_started till=%s reference=%s result=\"%s\"%s%s%s", w->till, w->reference,
                  kv_flow_strerror(st), res->detail[0] ? " detail=\"" : "", res->detail,
                  res->detail[0] ? "\"" : "");
    free(res);
    cJSON_Delete(q);
    return st;
}

int kv__sticker_start(kv_serve *s, const char *ref, int *timeout_s)
{
    kv_wait_row *w = malloc(sizeof *w);
    kv_flow_result *res = calloc(1, sizeof *res);
    int rc = -1;
    if (!w || !res || kv_journal_wait_get(jr(s), w, ref) != KV_J_OK)
        goto out; /* stays as it is: the next scan looks again */
    if (strcmp(w->state, "paired") != 0) {
        kv__sticker_disown(s, ref); /* started, cancelled, expired: nothing to create */
        goto out;
    }
    if (kv_flow_status_get(s->flow, res, ref, 0) == KV_FLOW_OK) {
        /* journaled by the flow before a crash: its recovery owns it */
        kv_journal_wait_move(jr(s), ref, "paired", "started");
        rc = 0;
        goto out;
    }
    char tok[512];
    int64_t until = 0;
    if (kv_journal_wait_token(jr(s), ref, tok, sizeof tok, &until) != KV_J_OK)
        goto out;
    if (kv__serve_now_ms() >= until) {
        /* the customer's token is past its time: never used */
        memset(tok, 0, sizeof tok);
        if (kv_journal_wait_move(jr(s), ref, "paired", "expired") == KV_J_OK) {
            kv__feed_add(s, ref, "result", "NOT_PAID", "the check-in expired before the payment was created");
            kv__hub_final(s, ref);
            kv_slog_write(&s->log, KV_LOG_WARNING, "sticker.checkin_expired till=%s reference=%s", w->till, ref);
        }
        kv__sticker_disown(s, ref);
        goto out;
    }
    crash_point("sticker-checkin");
    kv_flow_status st = start_flow(s, w, tok, timeout_s);
    memset(tok, 0, sizeof tok);
    if (st == KV_FLOW_E_JOURNAL || st == KV_FLOW_E_NOMEM || st == KV_FLOW_E_BUSY)
        goto out; /* nothing journaled: still paired, the scan or a restart tries again */
    kv_journal_wait_move(jr(s), ref, "paired", "started");
    rc = 0;
out:
    free(w);
    free(res);
    return rc;
}

void kv__sticker_after_start(kv_serve *s, const char *ref, kv_flow_status st)
{
    if (st != KV_FLOW_E_JOURNAL && st != KV_FLOW_E_NOMEM && st != KV_FLOW_E_BUSY)
        kv_journal_wait_move(jr(s), ref, "paired", "started");
    kv__sticker_disown(s, ref);
}

/* Give up the owned amounts that are no longer open (rows: the open ones). */
static void prune(kv_serve *s, const kv_wait_row *rows, size_t n, int64_t now)
{
    struct kv_stk *k = stk(s);
    char gone[64];
    for (;;) {
        gone[0] = '\0';
        pthread_mutex_lock(&k->mu);
        for (size_t i = 0; i < k->nown && !gone[0]; i++) {
            if (now - k->own[i].since_ms < FRESH_MS)
                continue; /* taken just now: its row may not be visible yet */
            int open = 0;
            for (size_t r = 0; r < n && !open; r++)
                open = !strcmp(rows[r].reference, k->own[i].ref);
            if (!open)
                snprintf(gone, sizeof gone, "%s", k->own[i].ref);
        }
        pthread_mutex_unlock(&k->mu);
        if (!gone[0])
            return;
        kv__sticker_disown(s, gone);
    }
}

void kv__sticker_tidy(kv_serve *s)
{
    kv_wait_row *v = NULL;
    size_t n = 0;
    if (stk(s) && kv_journal_wait_list(jr(s), &v, &n) == KV_J_OK)
        prune(s, v, n, kv__serve_now_ms());
    free(v);
}

void kv__sticker_scan(kv_serve *s)
{
    kv_wait_row *v = NULL;
    size_t n = 0;
    if (!stk(s) || kv_journal_wait_list(jr(s), &v, &n) != KV_J_OK)
        return;
    int shared = kv_journal_is_shared(jr(s));
    int64_t now = kv__serve_now_ms();
    for (size_t i = 0; i < n; i++) {
        const kv_wait_row *w = &v[i];
        if (!owns(s, w->reference)) {
            if (shared && now - w->created_ms < FRESH_MS)
                continue;
            if (kv__sticker_own(s, w->reference) != 0)
                continue; /* its owner lives */
            kv_slog_write(&s->log, KV_LOG_NOTICE, "sticker.adopted till=%s reference=%s state=%s", w->till,
                          w->reference, w->state);
        }
        if (!strcmp(w->state, "paired")) {
            kv__serve_spawn_starter(s, w->reference);
        } else if (now >= w->expires_ms &&
                   kv_journal_wait_move(jr(s), w->reference, "waiting", "expired") == KV_J_OK) {
            kv__feed_add(s, w->reference, "result", "NOT_PAID", "nobody scanned the sticker in time");
            kv__hub_final(s, w->reference);
            kv__sticker_disown(s, w->reference);
        }
    }
    prune(s, v, n, now);
    free(v);
}
