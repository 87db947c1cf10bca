/* journal_sticker.c - the stickers table (see journal_sticker.h). */
#include "src/journal/journal_sticker.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/journal/journal_int.h"
#include "src/journal/journal_sticker_pg.h"

static const char sticker_schema[] =
    "CREATE TABLE IF NOT EXISTS stickers ("
    " id TEXT PRIMARY KEY, till TEXT NOT NULL, store TEXT NOT NULL, msn TEXT NOT NULL,"
    " location TEXT NOT NULL, content TEXT NOT NULL, created_at INTEGER NOT NULL,"
    " printed_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS sticker_checkins ("
    " key TEXT PRIMARY KEY, sticker TEXT NOT NULL, msn TEXT NOT NULL, token TEXT NOT NULL,"
    " state TEXT NOT NULL, received_ms INTEGER NOT NULL, hold_until_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sticker_waits ("
    " reference TEXT PRIMARY KEY, till TEXT NOT NULL, sticker TEXT NOT NULL, state TEXT NOT NULL,"
    " request TEXT NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
    " token TEXT NOT NULL DEFAULT '', token_until_ms INTEGER NOT NULL DEFAULT 0);";

/* sticker_waits of journals written before the pairing was journaled */
static const char sticker_upgrade[] =
    "ALTER TABLE sticker_waits ADD COLUMN token TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE sticker_waits ADD COLUMN token_until_ms INTEGER NOT NULL DEFAULT 0;";

/* The tables, once per handle (j->mu held). */
static int tables(kv_journal *j)
{
    if (j->sticker_ready)
        return 0;
    if (sqlite3_exec(j->db, sticker_schema, NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    sqlite3_stmt *s = NULL;
    int old = sqlite3_prepare_v2(j->db, "SELECT token_until_ms FROM sticker_waits LIMIT 0", -1, &s,
                                 NULL) != SQLITE_OK;
    sqlite3_finalize(s);
    if (old && sqlite3_exec(j->db, sticker_upgrade, NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    j->sticker_ready = 1;
    return 0;
}

static kv_journal_status fail(kv_journal *j)
{
    snprintf(j->errmsg, sizeof j->errmsg, "%s", sqlite3_errmsg(j->db));
    pthread_mutex_unlock(&j->mu);
    return KV_J_E_SQL;
}

/* Reads: the handle's lock and the tables. */
static int enter(kv_journal *j)
{
    pthread_mutex_lock(&j->mu);
    return tables(j);
}

/* Writes: a group-commit unit of the journal (durable when it ends well,
 * wdone); wfail ends it undone.  -2: no unit (nothing to end). */
static int wenter(kv_journal *j)
{
    if (kv__journal_w_begin(j) != KV_J_OK)
        return -2;
    return tables(j);
}

static kv_journal_status wfail(kv_journal *j)
{
    snprintf(j->errmsg, sizeof j->errmsg, "%s", sqlite3_errmsg(j->db));
    return kv__journal_w_end(j, KV_J_E_SQL, 0);
}

static kv_journal_status wdone(kv_journal *j, kv_journal_status st, int wrote)
{
    return kv__journal_w_end(j, st, wrote);
}

/* On a PostgreSQL journal every call is journal_sticker_pg.c's. */
#define ON_PG(j, call)                                                                \
    do {                                                                              \
        if (j->pg)                                                                    \
            return call;                                                              \
    } while (0)
#define WENTER(j)                                                                     \
    do {                                                                              \
        int we_ = wenter(j);                                                          \
        if (we_ == -2)                                                                \
            return KV_J_E_SQL;                                                        \
        if (we_)                                                                      \
            return wfail(j);                                                          \
    } while (0)

static void col(char *dst, size_t n, sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(dst, n, "%s", t ? (const char *)t : "");
}

static void row_of(kv_sticker_row *r, sqlite3_stmt *s)
{
    memset(r, 0, sizeof *r);
    col(r->id, sizeof r->id, s, 0);
    col(r->till, sizeof r->till, s, 1);
    col(r->store, sizeof r->store, s, 2);
    col(r->msn, sizeof r->msn, s, 3);
    col(r->location, sizeof r->location, s, 4);
    col(r->content, sizeof r->content, s, 5);
    r->created_at = sqlite3_column_int64(s, 6);
    r->printed_at = sqlite3_column_int64(s, 7);
}

#define COLS "id, till, store, msn, location, content, created_at, printed_at"

kv_journal_status kv_journal_sticker_put(kv_journal *j, const kv_sticker_row *r)
{
    if (!j || !r || !r->id[0] || !r->till[0])
        return KV_J_E_ARG;
    ON_PG(j, kv_jspg_sticker_put(j->pg, r));
    WENTER(j);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db, "INSERT INTO stickers(" COLS ") VALUES(?,?,?,?,?,?,?,0)"
                           " ON CONFLICT(id) DO UPDATE SET till = excluded.till,"
                           " store = excluded.store, msn = excluded.msn,"
                           " location = excluded.location, content = excluded.content",
                           -1, &s, NULL) != SQLITE_OK)
        return wfail(j);
    sqlite3_bind_text(s, 1, r->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, r->till, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, r->store, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, r->msn, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 5, r->location, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 6, r->content, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 7, (int64_t)time(NULL));
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return wfail(j);
    return wdone(j, KV_J_OK, 1);
}

/* Run an UPDATE/DELETE with one text parameter; NOT_FOUND when no row. */
static kv_journal_status change(kv_journal *j, const char *sql, const char *id)
{
    if (!j || !id)
        return KV_J_E_ARG;
    WENTER(j);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db, sql, -1, &s, NULL) != SQLITE_OK)
        return wfail(j);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return wfail(j);
    int changed = sqlite3_changes(j->db);
    return wdone(j, changed ? KV_J_OK : KV_J_E_NOT_FOUND, 1);
}

kv_journal_status kv_journal_sticker_printed(kv_journal *j, const char *id)
{
    if (!j || !id)
        return KV_J_E_ARG;
    ON_PG(j, kv_jspg_sticker_printed(j->pg, id));
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE stickers SET printed_at = %lld WHERE id = ?",
             (long long)time(NULL));
    return change(j, sql, id);
}

kv_journal_status kv_journal_sticker_delete(kv_journal *j, const char *id)
{
    if (!j || !id)
        return KV_J_E_ARG;
    ON_PG(j, kv_jspg_sticker_delete(j->pg, id));
    return change(j, "DELETE FROM stickers WHERE id = ?", id);
}

kv_journal_status kv_journal_sticker_get(kv_journal *j, kv_sticker_row *out, const char *id,
                                         const char *msn, const char *till)
{
    if (!j || !out || (!id && !till))
        return KV_J_E_ARG;
    ON_PG(j, kv_jspg_sticker_get(j->pg, out, id, msn, till));
    if (enter(j))
        return fail(j);
    sqlite3_stmt *s = NULL;
    const char *sql = id ? "SELECT " COLS " FROM stickers WHERE id = ?1 AND (?2 IS NULL OR msn = ?2)"
                         : "SELECT " COLS " FROM stickers WHERE till = ?1 ORDER BY id LIMIT 1";
    if (sqlite3_prepare_v2(j->db, sql, -1, &s, NULL) != SQLITE_OK)
        return fail(j);
    sqlite3_bind_text(s, 1, id ? id : till, -1, SQLITE_TRANSIENT);
    if (id) {
        if (msn)
            sqlite3_bind_text(s, 2, msn, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(s, 2);
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        row_of(out, s);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(j);
    pthread_mutex_unlock(&j->mu);
    return rc == SQLITE_ROW ? KV_J_OK : KV_J_E_NOT_FOUND;
}

kv_journal_status kv_journal_sticker_list(kv_journal *j, kv_sticker_row **out, size_t *n,
                                          const char *msn)
{
    if (!j || !out || !n)
        return KV_J_E_ARG;
    ON_PG(j, kv_jspg_sticker_list(j->pg, out, n, msn));
    *out = NULL;
    *n = 0;
    if (enter(j))
        return fail(j);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db, "SELECT " COLS " FROM stickers WHERE ?1 IS NULL OR msn = ?1"
                           " ORDER BY till, id", -1, &s, NULL) != SQLITE_OK)
        return fail(j);
    if (msn)
        sqlite3_bind_text(s, 1, msn, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, 1);
    kv_sticker_row *v = NULL;
    size_t k = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            size_t nc = cap ? cap * 2 : 8;
            kv_sticker_row *nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                free(v);
                sqlite3_finalize(s);
                pthread_mutex_unlock(&j->mu);
                return KV_J_E_NOMEM;
            }
            v = nv;
            cap = nc;
        }
        row_of(&v[k++], s);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        free(v);
        return fail(j);
    }
    pthread_mutex_unlock(&j->mu);
    *out = v;
    *n = k;
    return KV_J_OK;
}

/* ---- check-ins and waiting amounts ---- */

/* Prepare sql and bind its parameters, one letter of types each: 's' a
 * string (const char *), 'i' an int64_t.  NULL when it does not prepare. */
static sqlite3_stmt *bind(kv_journal *j, const char *sql, const char *types, ...)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db, sql, -1, &s, NULL) != SQLITE_OK)
        return NULL;
    va_list ap;
    va_start(ap, types);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 's')
            sqlite3_bind_text(s, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
    }
    va_end(ap);
    return s;
}

/* Step a prepared statement that returns no rows and release it; -1 on
 * error (sqlite's message stays for wfail). */
static int done(sqlite3_stmt *s)
{
    if (!s)
        return -1;
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Held check-ins past their time are forgotten; rows go after a day. */
static int tidy(kv_journal *j, int64_t now_ms)
{
    return done(bind(j, "DELETE FROM sticker_checkins WHERE received_ms < ?", "i", now_ms - 86400000LL)) ||
           done(bind(j, "UPDATE sticker_checkins SET state = 'expired', token = '' WHERE state = 'held'"
                     " AND hold_until_ms <= ?", "i", now_ms)) ? -1 : 0;
}

#define WCOLS "reference, till, sticker, state, request, created_ms, expires_ms"

static void wait_of(kv_wait_row *r, sqlite3_stmt *s)
{
    memset(r, 0, sizeof *r);
    col(r->reference, sizeof r->reference, s, 0);
    col(r->till, sizeof r->till, s, 1);
    col(r->sticker, sizeof r->sticker, s, 2);
    col(r->state, sizeof r->state, s, 3);
    col(r->request, sizeof r->request, s, 4);
    r->created_ms = sqlite3_column_int64(s, 5);
    r->expires_ms = sqlite3_column_int64(s, 6);
}

/* End a unit that wrote well, then answer ok. */
static kv_journal_status wkeep(kv_journal *j, kv_journal_status ok)
{
    kv_journal_status st = wdone(j, KV_J_OK, 1);
    return st != KV_J_OK ? st : ok;
}

kv_journal_status kv_journal_checkin_pair(kv_journal *j, const kv_checkin_row *r, int64_t now_ms,
                                          kv_wait_row *paired)
{
    if (!j || !r || !paired || !r->key[0] || !r->sticker[0] || !r->token[0])
        return KV_J_E_ARG;
    ON_PG(j, kv_jspg_checkin_pair(j->pg, r, now_ms, paired));
    WENTER(j);
    sqlite3_stmt *s = bind(j, "SELECT 1 FROM sticker_checkins WHERE key = ?", "s", r->key);
    int rc = s ? sqlite3_step(s) : SQLITE_ERROR;
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW)
        return wdone(j, KV_J_E_EXISTS, 0);
    if (rc != SQLITE_DONE || tidy(j, now_ms) ||
        done(bind(j, "UPDATE sticker_checkins SET state = 'replaced', token = '' WHERE sticker = ? AND"
                  " msn = ? AND state = 'held'", "ss", r->sticker, r->msn)) ||
        done(bind(j, "UPDATE sticker_waits SET state = 'expired', token = '' WHERE sticker = ? AND"
                  " state = 'waiting' AND expires_ms <= ?", "si", r->sticker, now_ms)))
        return wfail(j);
    memset(paired, 0, sizeof *paired);
    s = bind(j, "SELECT " WCOLS " FROM sticker_waits WHERE sticker = ? AND state = 'waiting'"
             " ORDER BY created_ms DESC LIMIT 1", "s", r->sticker);
    rc = s ? sqlite3_step(s) : SQLITE_ERROR;
    if (rc == SQLITE_ROW)
        wait_of(paired, s);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return wfail(j);
    int pair = rc == SQLITE_ROW && now_ms < r->hold_until_ms;
    if (pair && done(bind(j, "UPDATE sticker_waits SET state = 'paired', token = ?, token_until_ms = ?"
                          " WHERE reference = ?", "sis", r->token, r->hold_until_ms, paired->reference)))
        return wfail(j);
    int held = !pair && now_ms < r->hold_until_ms; /* one past its time is never kept */
    if (done(bind(j, "INSERT INTO sticker_checkins(key, sticker, msn, token, state, received_ms,"
                  " hold_until_ms) VALUES(?,?,?,?,?,?,?)", "sssssii", r->key, r->sticker, r->msn,
                  held ? r->token : "", pair ? "used" : held ? "held" : "expired", r->received_ms,
                  r->hold_until_ms)))
        return wfail(j);
    if (pair)
        snprintf(paired->state, sizeof paired->state, "paired");
    return wkeep(j, pair ? KV_J_OK : KV_J_E_NOT_FOUND);
}

kv_journal_status kv_journal_wait_pair(kv_journal *j, kv_wait_row *w, const char *msn, int64_t now_ms)
{
    if (!j || !w || !msn || !w->reference[0] || !w->till[0] || !w->sticker[0])
        return KV_J_E_ARG;
    ON_PG(j, kv_jspg_wait_pair(j->pg, w, msn, now_ms));
    WENTER(j);
    if (tidy(j, now_ms) ||
        done(bind(j, "UPDATE sticker_waits SET state = 'replaced', token = '' WHERE till = ? AND"
                  " state = 'waiting'", "s", w->till)))
        return wfail(j);
    kv_checkin_row ci;
    memset(&ci, 0, sizeof ci);
    sqlite3_stmt *s = bind(j, "SELECT key, token, hold_until_ms FROM sticker_checkins WHERE sticker = ?"
                           " AND msn = ? AND state = 'held' AND hold_until_ms > ?"
                           " ORDER BY received_ms DESC LIMIT 1", "ssi", w->sticker, msn, now_ms);
    int rc = s ? sqlite3_step(s) : SQLITE_ERROR;
    if (rc == SQLITE_ROW) {
        col(ci.key, sizeof ci.key, s, 0);
        col(ci.token, sizeof ci.token, s, 1);
        ci.hold_until_ms = sqlite3_column_int64(s, 2);
    }
    sqlite3_finalize(s);
    int pair = rc == SQLITE_ROW && ci.token[0];
    snprintf(w->state, sizeof w->state, "%s", pair ? "paired" : "waiting");
    if ((rc != SQLITE_ROW && rc != SQLITE_DONE) ||
        (pair && done(bind(j, "UPDATE sticker_checkins SET state = 'used', token = '' WHERE key = ?", "s",
                           ci.key)))) {
        memset(&ci, 0, sizeof ci);
        return wfail(j);
    }
    s = bind(j, "INSERT INTO sticker_waits(" WCOLS ", token, token_until_ms) VALUES(?,?,?,?,?,?,?,?,?)",
             "sssssiisi", w->reference, w->till, w->sticker, w->state, w->request, w->created_ms,
             w->expires_ms, ci.token, ci.hold_until_ms);
    memset(&ci, 0, sizeof ci);
    rc = s ? sqlite3_step(s) : SQLITE_ERROR;
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        kv_journal_status st = wfail(j);
        if (rc != SQLITE_CONSTRAINT)
            return st;
        return kv_journal_wait_get(j, w, w->reference) == KV_J_OK ? KV_J_E_EXISTS : st;
    }
    return wkeep(j, KV_J_OK);
}

kv_journal_status kv_journal_wait_token(kv_journal *j, const char *reference, char *token, size_t len,
                                        int64_t *until_ms)
{
    if (!j || !reference || !token || !len || !until_ms)
        return KV_J_E_ARG;
    ON_PG(j, kv_jspg_wait_token(j->pg, reference, token, len, until_ms));
    if (enter(j))
        return fail(j);
    sqlite3_stmt *s = bind(j, "SELECT token, token_until_ms FROM sticker_waits WHERE reference = ? AND"
                           " state = 'paired' AND token <> ''", "s", reference);
    int rc = s ? sqlite3_step(s) : SQLITE_ERROR;
    if (rc == SQLITE_ROW) {
        col(token, len, s, 0);
        *until_ms = sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(j);
    pthread_mutex_unlock(&j->mu);
    return rc == SQLITE_ROW ? KV_J_OK : KV_J_E_NOT_FOUND;
}

kv_journal_status kv_journal_wait_move(kv_journal *j, const char *reference, const char *from, const char *to)
{
    if (!j || !reference || !to)
        return KV_J_E_ARG;
    ON_PG(j, kv_jspg_wait_move(j->pg, reference, from, to));
    WENTER(j);
    if (done(bind(j, "UPDATE sticker_waits SET state = ?, token = '' WHERE reference = ? AND"
                  " (? = '' OR state = ?)", "ssss", to, reference, from ? from : "", from ? from : "")))
        return wfail(j);
    return wkeep(j, sqlite3_changes(j->db) ? KV_J_OK : KV_J_E_NOT_FOUND);
}

kv_journal_status kv_journal_wait_get(kv_journal *j, kv_wait_row *out, const char *reference)
{
    if (!j || !out || !reference)
        return KV_J_E_ARG;
    ON_PG(j, kv_jspg_wait_get(j->pg, out, reference));
    if (enter(j))
        return fail(j);
    sqlite3_stmt *s = bind(j, "SELECT " WCOLS " FROM sticker_waits WHERE reference = ?", "s", reference);
    int rc = s ? sqlite3_step(s) : SQLITE_ERROR;
    if (rc == SQLITE_ROW)
        wait_of(out, s);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(j);
    pthread_mutex_unlock(&j->mu);
    return rc == SQLITE_ROW ? KV_J_OK : KV_J_E_NOT_FOUND;
}

static void wait_row(void *dst, sqlite3_stmt *s)
{
    wait_of(dst, s);
}

kv_journal_status kv_journal_wait_list(kv_journal *j, kv_wait_row **out, size_t *n)
{
    if (!j || !out || !n)
        return KV_J_E_ARG;
    ON_PG(j, kv_jspg_wait_list(j->pg, out, n));
    *out = NULL;
    *n = 0;
    if (enter(j))
        return fail(j);
    sqlite3_stmt *s = bind(j, "SELECT " WCOLS " FROM sticker_waits WHERE state IN ('waiting', 'paired')"
                           " ORDER BY created_ms", "");
    if (!s)
        return fail(j);
    kv_journal_status st = kv__journal_collect_rows(j, (void **)out, n, s, sizeof **out, wait_row);
    pthread_mutex_unlock(&j->mu);
    return st;
}
