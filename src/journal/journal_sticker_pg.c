/* journal_sticker_pg.c - the sticker tables on PostgreSQL (see
 * journal_sticker_pg.h; the tables: journal_pg_schema.c). */
#include "src/journal/journal_sticker_pg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXP 12

/* Run sql with its parameters, one letter of types each: 's' a string
 * (const char *, NULL = ""), 'i' an int64_t.  *out (when not NULL) gets
 * the result, which the caller clears. */
static kv_journal_status qv(kv_jpg *p, PGconn *c, PGresult **out, const char *sql, const char *types, ...)
{
    const char *v[MAXP];
    char num[MAXP][24];
    int n = 0;
    va_list ap;
    va_start(ap, types);
    for (; types[n] && n < MAXP; n++) {
        if (types[n] == 's') {
            const char *x = va_arg(ap, const char *);
            v[n] = x ? x : "";
        } else {
            snprintf(num[n], sizeof num[n], "%lld", (long long)va_arg(ap, int64_t));
            v[n] = num[n];
        }
    }
    va_end(ap);
    PGresult *r = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
    ExecStatusType es = PQresultStatus(r);
    if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK) {
        if (out)
            *out = r;
        else
            PQclear(r);
        return KV_J_OK;
    }
    kv_journal_status st = kv_jpg_result_status(p, c, r);
    PQclear(r);
    return st;
}

/* Rows changed by the result r (cleared here). */
static int changed(PGresult *r)
{
    int n = atoi(PQcmdTuples(r));
    PQclear(r);
    return n;
}

/* ---- stickers ---- */

#define COLS "id, till, store, msn, location, content, created_at, printed_at"

static void sticker_of(kv_sticker_row *o, const PGresult *r, int i)
{
    memset(o, 0, sizeof *o);
    kv_jpg_col(o->id, sizeof o->id, r, i, 0);
    kv_jpg_col(o->till, sizeof o->till, r, i, 1);
    kv_jpg_col(o->store, sizeof o->store, r, i, 2);
    kv_jpg_col(o->msn, sizeof o->msn, r, i, 3);
    kv_jpg_col(o->location, sizeof o->location, r, i, 4);
    kv_jpg_col(o->content, sizeof o->content, r, i, 5);
    o->created_at = kv_pg_i64(r, i, 6);
    o->printed_at = kv_pg_i64(r, i, 7);
}

/* The arguments of every call, passed through kv_jpg_with. */
typedef struct args {
    const char *a, *b, *c;
    int64_t now;
    const kv_sticker_row *srow;
    kv_sticker_row *sout;
    kv_sticker_row **slist;
    const kv_checkin_row *ci;
    kv_wait_row *w;
    kv_wait_row **wlist;
    size_t *n;
    char *token;
    size_t toklen;
    int64_t *until;
    int found;            /* set by the callback: a row was there / paired */
} args;

static kv_journal_status do_sticker_put(kv_jpg *p, PGconn *c, void *arg)
{
    const kv_sticker_row *r = ((args *)arg)->srow;
    return qv(p, c, NULL, "INSERT INTO stickers(" COLS ") VALUES($1,$2,$3,$4,$5,$6,$7,0)"
              " ON CONFLICT(id) DO UPDATE SET till = excluded.till, store = excluded.store,"
              " msn = excluded.msn, location = excluded.location, content = excluded.content",
              "ssssssi", r->id, r->till, r->store, r->msn, r->location, r->content, (int64_t)time(NULL));
}

kv_journal_status kv_jspg_sticker_put(kv_jpg *p, const kv_sticker_row *r)
{
    args a = { .srow = r };
    return kv_jpg_with(p, 1, do_sticker_put, &a);
}

/* a: the statement, b: the sticker id; found: rows changed */
static kv_journal_status do_change(kv_jpg *p, PGconn *c, void *arg)
{
    args *a = arg;
    PGresult *r = NULL;
    kv_journal_status st = a->now ? qv(p, c, &r, a->a, "si", a->b, a->now) : qv(p, c, &r, a->a, "s", a->b);
    if (st == KV_J_OK)
        a->found = changed(r);
    return st;
}

static kv_journal_status change(kv_jpg *p, const char *sql, const char *id, int64_t now)
{
    args a = { .a = sql, .b = id, .now = now };
    kv_journal_status st = kv_jpg_with(p, 1, do_change, &a);
    return st != KV_J_OK ? st : a.found ? KV_J_OK : KV_J_E_NOT_FOUND;
}

kv_journal_status kv_jspg_sticker_printed(kv_jpg *p, const char *id)
{
    return change(p, "UPDATE stickers SET printed_at = $2 WHERE id = $1", id, (int64_t)time(NULL));
}

kv_journal_status kv_jspg_sticker_delete(kv_jpg *p, const char *id)
{
    return change(p, "DELETE FROM stickers WHERE id = $1", id, 0);
}

static kv_journal_status do_sticker_get(kv_jpg *p, PGconn *c, void *arg)
{
    args *a = arg;
    PGresult *r = NULL;
    kv_journal_status st =
        a->a ? qv(p, c, &r, "SELECT " COLS " FROM stickers WHERE id = $1 AND ($2 = '' OR msn = $2)", "ss",
                  a->a, a->b)
             : qv(p, c, &r, "SELECT " COLS " FROM stickers WHERE till = $1 ORDER BY id LIMIT 1", "s", a->c);
    if (st)
        return st;
    if (PQntuples(r) > 0) {
        sticker_of(a->sout, r, 0);
        a->found = 1;
    }
    PQclear(r);
    return KV_J_OK;
}

kv_journal_status kv_jspg_sticker_get(kv_jpg *p, kv_sticker_row *out, const char *id, const char *msn,
                                      const char *till)
{
    args a = { .a = id, .b = msn, .c = till, .sout = out };
    kv_journal_status st = kv_jpg_with(p, 0, do_sticker_get, &a);
    return st != KV_J_OK ? st : a.found ? KV_J_OK : KV_J_E_NOT_FOUND;
}

static void sticker_row(void *dst, const PGresult *r, int i)
{
    sticker_of(dst, r, i);
}

static kv_journal_status do_sticker_list(kv_jpg *p, PGconn *c, void *arg)
{
    args *a = arg;
    PGresult *r = NULL;
    kv_journal_status st = qv(p, c, &r, "SELECT " COLS " FROM stickers WHERE $1 = '' OR msn = $1"
                              " ORDER BY till, id", "s", a->b);
    return st ? st : kv_jpg_rows(r, (void **)a->slist, a->n, sizeof **a->slist, sticker_row);
}

kv_journal_status kv_jspg_sticker_list(kv_jpg *p, kv_sticker_row **out, size_t *n, const char *msn)
{
    *out = NULL;
    *n = 0;
    args a = { .b = msn, .slist = out, .n = n };
    return kv_jpg_with(p, 0, do_sticker_list, &a);
}

/* ---- check-ins and waiting amounts ---- */

#define WCOLS "reference, till, sticker, state, request, created_ms, expires_ms"

static void wait_of(kv_wait_row *o, const PGresult *r, int i)
{
    memset(o, 0, sizeof *o);
    kv_jpg_col(o->reference, sizeof o->reference, r, i, 0);
    kv_jpg_col(o->till, sizeof o->till, r, i, 1);
    kv_jpg_col(o->sticker, sizeof o->sticker, r, i, 2);
    kv_jpg_col(o->state, sizeof o->state, r, i, 3);
    kv_jpg_col(o->request, sizeof o->request, r, i, 4);
    o->created_ms = kv_pg_i64(r, i, 5);
    o->expires_ms = kv_pg_i64(r, i, 6);
}

/* The sticker's row, locked until the transaction ends: every meeting of
 * a check-in and an amount of one sticker (one till) takes it first, so
 * two instances never both miss each other nor both use one check-in.
 * Then: held check-ins past their time are forgotten, rows go after a day. */
static kv_journal_status lock_sticker(kv_jpg *p, PGconn *c, const char *sticker, int64_t now)
{
    kv_journal_status st = qv(p, c, NULL, "SELECT 1 FROM stickers WHERE id = $1 FOR UPDATE", "s", sticker);
    if (st == KV_J_OK)
        st = qv(p, c, NULL, "DELETE FROM sticker_checkins WHERE received_ms < $1", "i", now - 86400000LL);
    if (st == KV_J_OK)
        st = qv(p, c, NULL, "UPDATE sticker_checkins SET state = 'expired', token = '' WHERE state = 'held'"
                " AND hold_until_ms <= $1", "i", now);
    return st;
}

static kv_journal_status do_checkin_pair(kv_jpg *p, PGconn *c, void *arg)
{
    args *a = arg;
    const kv_checkin_row *ci = a->ci;
    PGresult *r = NULL;
    kv_journal_status st = lock_sticker(p, c, ci->sticker, a->now);
    if (st == KV_J_OK)
        st = qv(p, c, &r, "SELECT 1 FROM sticker_checkins WHERE key = $1", "s", ci->key);
    if (st)
        return st;
    int seen = PQntuples(r) > 0;
    PQclear(r);
    if (seen)
        return KV_J_E_EXISTS; /* a repeated delivery: nothing changes */
    st = qv(p, c, NULL, "UPDATE sticker_checkins SET state = 'replaced', token = '' WHERE sticker = $1"
            " AND msn = $2 AND state = 'held'", "ss", ci->sticker, ci->msn);
    if (st == KV_J_OK)
        st = qv(p, c, NULL, "UPDATE sticker_waits SET state = 'expired', token = '' WHERE sticker = $1"
                " AND state = 'waiting' AND expires_ms <= $2", "si", ci->sticker, a->now);
    if (st == KV_J_OK)
        st = qv(p, c, &r, "SELECT " WCOLS " FROM sticker_waits WHERE sticker = $1 AND state = 'waiting'"
                " ORDER BY created_ms DESC LIMIT 1 FOR UPDATE", "s", ci->sticker);
    if (st)
        return st;
    memset(a->w, 0, sizeof *a->w);
    if (PQntuples(r) > 0)
        wait_of(a->w, r, 0);
    PQclear(r);
    a->found = a->w->reference[0] && a->now < ci->hold_until_ms;
    if (a->found) {
        st = qv(p, c, NULL, "UPDATE sticker_waits SET state = 'paired', token = $2, token_until_ms = $3"
                " WHERE reference = $1", "ssi", a->w->reference, ci->token, ci->hold_until_ms);
        /* the instance that owns the amount creates the payment (chain.c) */
        if (st == KV_J_OK)
            st = qv(p, c, NULL, "SELECT pg_notify('kvitt_events', $1)", "s", a->w->reference);
        snprintf(a->w->state, sizeof a->w->state, "paired");
    }
    int held = !a->found && a->now < ci->hold_until_ms; /* one past its time is never kept */
    if (st == KV_J_OK)
        st = qv(p, c, NULL, "INSERT INTO sticker_checkins(key, sticker, msn, token, state, received_ms,"
                " hold_until_ms) VALUES($1,$2,$3,$4,$5,$6,$7)", "sssssii", ci->key, ci->sticker, ci->msn,
                held ? ci->token : "", a->found ? "used" : held ? "held" : "expired", ci->received_ms,
                ci->hold_until_ms);
    return st;
}

kv_journal_status kv_jspg_checkin_pair(kv_jpg *p, const kv_checkin_row *r, int64_t now_ms,
                                       kv_wait_row *paired)
{
    args a = { .ci = r, .w = paired, .now = now_ms };
    kv_journal_status st = kv_jpg_with(p, 1, do_checkin_pair, &a);
    return st != KV_J_OK ? st : a.found ? KV_J_OK : KV_J_E_NOT_FOUND;
}

static kv_journal_status do_wait_pair(kv_jpg *p, PGconn *c, void *arg)
{
    args *a = arg;
    kv_wait_row *w = a->w;
    PGresult *r = NULL;
    kv_journal_status st = lock_sticker(p, c, w->sticker, a->now);
    if (st == KV_J_OK)
        st = qv(p, c, NULL, "UPDATE sticker_waits SET state = 'replaced', token = '' WHERE till = $1 AND"
                " state = 'waiting'", "s", w->till);
    if (st == KV_J_OK)
        st = qv(p, c, &r, "SELECT key, token, hold_until_ms FROM sticker_checkins WHERE sticker = $1 AND"
                " msn = $2 AND state = 'held' AND hold_until_ms > $3 ORDER BY received_ms DESC LIMIT 1"
                " FOR UPDATE", "ssi", w->sticker, a->b, a->now);
    if (st)
        return st;
    kv_checkin_row ci;
    memset(&ci, 0, sizeof ci);
    if (PQntuples(r) > 0) {
        kv_jpg_col(ci.key, sizeof ci.key, r, 0, 0);
        kv_jpg_col(ci.token, sizeof ci.token, r, 0, 1);
        ci.hold_until_ms = kv_pg_i64(r, 0, 2);
    }
    PQclear(r);
    int pair = ci.token[0] != '\0';
    snprintf(w->state, sizeof w->state, "%s", pair ? "paired" : "waiting");
    if (pair)
        st = qv(p, c, NULL, "UPDATE sticker_checkins SET state = 'used', token = '' WHERE key = $1", "s", ci.key);
    if (st == KV_J_OK)
        st = qv(p, c, NULL, "INSERT INTO sticker_waits(" WCOLS ", token, token_until_ms)"
                " VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9)", "sssssiisi", w->reference, w->till, w->sticker,
                w->state, w->request, w->created_ms, w->expires_ms, ci.token, ci.hold_until_ms);
    memset(&ci, 0, sizeof ci);
    return st;
}

kv_journal_status kv_jspg_wait_pair(kv_jpg *p, kv_wait_row *w, const char *msn, int64_t now_ms)
{
    args a = { .w = w, .b = msn, .now = now_ms };
    kv_journal_status st = kv_jpg_with(p, 1, do_wait_pair, &a);
    if (st == KV_J_E_EXISTS && kv_jspg_wait_get(p, w, w->reference) != KV_J_OK)
        return KV_J_E_SQL;
    return st;
}

static kv_journal_status do_wait_token(kv_jpg *p, PGconn *c, void *arg)
{
    args *a = arg;
    PGresult *r = NULL;
    kv_journal_status st = qv(p, c, &r, "SELECT token, token_until_ms FROM sticker_waits WHERE reference = $1"
                              " AND state = 'paired' AND token <> ''", "s", a->a);
    if (st)
        return st;
    if (PQntuples(r) > 0) {
        kv_jpg_col(a->token, a->toklen, r, 0, 0);
        *a->until = kv_pg_i64(r, 0, 1);
        a->found = 1;
    }
    PQclear(r);
    return KV_J_OK;
}

kv_journal_status kv_jspg_wait_token(kv_jpg *p, const char *reference, char *token, size_t len,
                                     int64_t *until_ms)
{
    args a = { .a = reference, .token = token, .toklen = len, .until = until_ms };
    kv_journal_status st = kv_jpg_with(p, 0, do_wait_token, &a);
    return st != KV_J_OK ? st : a.found ? KV_J_OK : KV_J_E_NOT_FOUND;
}

static kv_journal_status do_wait_move(kv_jpg *p, PGconn *c, void *arg)
{
    args *a = arg;
    PGresult *r = NULL;
    kv_journal_status st = qv(p, c, &r, "UPDATE sticker_waits SET state = $3, token = '' WHERE reference = $1"
                              " AND ($2 = '' OR state = $2)", "sss", a->a, a->b, a->c);
    if (st == KV_J_OK)
        a->found = changed(r);
    return st;
}

kv_journal_status kv_jspg_wait_move(kv_jpg *p, const char *reference, const char *from, const char *to)
{
    args a = { .a = reference, .b = from, .c = to };
    kv_journal_status st = kv_jpg_with(p, 1, do_wait_move, &a);
    return st != KV_J_OK ? st : a.found ? KV_J_OK : KV_J_E_NOT_FOUND;
}

static kv_journal_status do_wait_get(kv_jpg *p, PGconn *c, void *arg)
{
    args *a = arg;
    PGresult *r = NULL;
    kv_journal_status st = qv(p, c, &r, "SELECT " WCOLS " FROM sticker_waits WHERE reference = $1", "s", a->a);
    if (st)
        return st;
    if (PQntuples(r) > 0) {
        wait_of(a->w, r, 0);
        a->found = 1;
    }
    PQclear(r);
    return KV_J_OK;
}

kv_journal_status kv_jspg_wait_get(kv_jpg *p, kv_wait_row *out, const char *reference)
{
    args a = { .a = reference, .w = out };
    kv_journal_status st = kv_jpg_with(p, 0, do_wait_get, &a);
    return st != KV_J_OK ? st : a.found ? KV_J_OK : KV_J_E_NOT_FOUND;
}

static void wait_row(void *dst, const PGresult *r, int i)
{
    wait_of(dst, r, i);
}

static kv_journal_status do_wait_list(kv_jpg *p, PGconn *c, void *arg)
{
    args *a = arg;
    PGresult *r = NULL;
    kv_journal_status st = qv(p, c, &r, "SELECT " WCOLS " FROM sticker_waits WHERE state IN ('waiting', 'paired')"
                              " ORDER BY created_ms", "");
    return st ? st : kv_jpg_rows(r, (void **)a->wlist, a->n, sizeof **a->wlist, wait_row);
}

kv_journal_status kv_jspg_wait_list(kv_jpg *p, kv_wait_row **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    args a = { .wlist = out, .n = n };
    return kv_jpg_with(p, 0, do_wait_list, &a);
}
