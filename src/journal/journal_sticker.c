/* journal_sticker.c - the stickers table (see journal_sticker.h). */
#include "src/journal/journal_sticker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/journal/journal_int.h"

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
    " request TEXT NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL);";

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
    return sqlite3_exec(j->db, sticker_schema, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* Writes: a group-commit unit of the journal (durable when it ends well,
 * wdone); wfail ends it undone.  -2: no unit (nothing to end). */
static int wenter(kv_journal *j)
{
    if (kv__journal_w_begin(j) != KV_J_OK)
        return -2;
    return sqlite3_exec(j->db, sticker_schema, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
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

/* The stickers live in a till's own SQLite journal (like the proxy's). */
#define NOT_SHARED(j)                                                                 \
    do {                                                                              \
        if (kv_journal_is_shared(j))                                                  \
            return KV_J_E_UNSUPPORTED;                                                \
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

static int exec2(kv_journal *j, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(s, 1, a, -1, SQLITE_TRANSIENT);
    if (b)
        sqlite3_bind_text(s, 2, b, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

#define COLS "id, till, store, msn, location, content, created_at, printed_at"

kv_journal_status kv_journal_sticker_put(kv_journal *j, const kv_sticker_row *r)
{
    if (!j || !r || !r->id[0] || !r->till[0])
        return KV_J_E_ARG;
    NOT_SHARED(j);
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
    NOT_SHARED(j);
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
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE stickers SET printed_at = %lld WHERE id = ?",
             (long long)time(NULL));
    return change(j, sql, id);
}

kv_journal_status kv_journal_sticker_delete(kv_journal *j, const char *id)
{
    return change(j, "DELETE FROM stickers WHERE id = ?", id);
}

kv_journal_status kv_journal_sticker_get(kv_journal *j, kv_sticker_row *out, const char *id,
                                         const char *msn, const char *till)
{
    if (!j || !out || (!id && !till))
        return KV_J_E_ARG;
    NOT_SHARED(j);
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
    NOT_SHARED(j);
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

/* ---- check-ins ---- */

kv_journal_status kv_journal_checkin_put(kv_journal *j, const kv_checkin_row *r)
{
    if (!j || !r || !r->key[0] || !r->sticker[0] || !r->token[0])
        return KV_J_E_ARG;
    NOT_SHARED(j);
    WENTER(j);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db, "SELECT 1 FROM sticker_checkins WHERE key = ?", -1, &s, NULL) != SQLITE_OK)
        return wfail(j);
    sqlite3_bind_text(s, 1, r->key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc == SQLITE_ROW) {
        return wdone(j, KV_J_E_EXISTS, 1);
    }
    /* the sticker's earlier check-in is replaced; old rows go after a day */
    char sql[200];
    snprintf(sql, sizeof sql, "DELETE FROM sticker_checkins WHERE received_ms < %lld",
             (long long)(r->received_ms - 86400000LL));
    char sql2[200];
    snprintf(sql2, sizeof sql2, "UPDATE sticker_checkins SET state = 'expired', token = '' WHERE"
             " state = 'held' AND hold_until_ms <= %lld", (long long)r->received_ms);
    if (sqlite3_exec(j->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(j->db, sql2, NULL, NULL, NULL) != SQLITE_OK ||
        exec2(j, "UPDATE sticker_checkins SET state = 'replaced', token = '' WHERE sticker = ?1 AND"
              " msn = ?2 AND state = 'held'", r->sticker, r->msn) < 0)
        return wfail(j);
    if (sqlite3_prepare_v2(j->db, "INSERT INTO sticker_checkins(key, sticker, msn, token, state,"
                           " received_ms, hold_until_ms) VALUES(?,?,?,?,'held',?,?)", -1, &s,
                           NULL) != SQLITE_OK)
        return wfail(j);
    sqlite3_bind_text(s, 1, r->key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, r->sticker, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, r->msn, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, r->token, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, r->received_ms);
    sqlite3_bind_int64(s, 6, r->hold_until_ms);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return wfail(j);
    return wdone(j, KV_J_OK, 1);
}

kv_journal_status kv_journal_checkin_take(kv_journal *j, kv_checkin_row *out, const char *sticker,
                                          const char *msn, int64_t now_ms)
{
    if (!j || !out || !sticker || !msn)
        return KV_J_E_ARG;
    NOT_SHARED(j);
    WENTER(j);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db, "SELECT key, sticker, msn, token, received_ms, hold_until_ms FROM"
                           " sticker_checkins WHERE sticker = ? AND msn = ? AND state = 'held'"
                           " ORDER BY received_ms DESC LIMIT 1", -1, &s, NULL) != SQLITE_OK)
        return wfail(j);
    sqlite3_bind_text(s, 1, sticker, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, msn, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    kv_checkin_row r;
    memset(&r, 0, sizeof r);
    if (rc == SQLITE_ROW) {
        col(r.key, sizeof r.key, s, 0);
        col(r.sticker, sizeof r.sticker, s, 1);
        col(r.msn, sizeof r.msn, s, 2);
        col(r.token, sizeof r.token, s, 3);
        r.received_ms = sqlite3_column_int64(s, 4);
        r.hold_until_ms = sqlite3_column_int64(s, 5);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return wfail(j);
    int usable = rc == SQLITE_ROW && now_ms < r.hold_until_ms;
    /* used or expired: the token is forgotten either way (never used twice) */
    if (rc == SQLITE_ROW &&
        exec2(j, usable ? "UPDATE sticker_checkins SET state = 'used', token = '' WHERE key = ?"
                        : "UPDATE sticker_checkins SET state = 'expired', token = '' WHERE key = ?",
              r.key, NULL) < 0) {
        memset(&r, 0, sizeof r);
        return wfail(j);
    }
    kv_journal_status st = wdone(j, KV_J_OK, rc == SQLITE_ROW);
    if (st == KV_J_OK && usable)
        *out = r;
    memset(&r, 0, sizeof r);
    return st != KV_J_OK ? st : usable ? KV_J_OK : KV_J_E_NOT_FOUND;
}

int kv_journal_checkin_held(kv_journal *j, const char *key)
{
    if (!j || !key || kv_journal_is_shared(j))
        return 0;
    if (enter(j)) {
        fail(j);
        return 0;
    }
    sqlite3_stmt *s = NULL;
    int held = 0;
    if (sqlite3_prepare_v2(j->db, "SELECT 1 FROM sticker_checkins WHERE key = ? AND state = 'held'", -1,
                           &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
        held = sqlite3_step(s) == SQLITE_ROW;
        sqlite3_finalize(s);
    }
    pthread_mutex_unlock(&j->mu);
    return held;
}

kv_journal_status kv_journal_checkin_retire(kv_journal *j, const char *key)
{
    return change(j, "UPDATE sticker_checkins SET state = 'used', token = '' WHERE key = ?", key);
}

/* ---- waiting amounts ---- */

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

kv_journal_status kv_journal_wait_put(kv_journal *j, const kv_wait_row *r)
{
    if (!j || !r || !r->reference[0] || !r->till[0])
        return KV_J_E_ARG;
    NOT_SHARED(j);
    WENTER(j);
    if (exec2(j, "UPDATE sticker_waits SET state = 'replaced' WHERE till = ? AND state = 'waiting'",
              r->till, NULL) < 0)
        return wfail(j);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db, "INSERT INTO sticker_waits(" WCOLS ") VALUES(?,?,?,?,?,?,?)", -1, &s,
                           NULL) != SQLITE_OK)
        return wfail(j);
    sqlite3_bind_text(s, 1, r->reference, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, r->till, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, r->sticker, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 4, r->state[0] ? r->state : "waiting", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 5, r->request, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 6, r->created_ms);
    sqlite3_bind_int64(s, 7, r->expires_ms);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        int exists = rc == SQLITE_CONSTRAINT;
        kv_journal_status st = wfail(j);
        return exists ? KV_J_E_EXISTS : st;
    }
    return wdone(j, KV_J_OK, 1);
}

/* One wait row by key (sql's ?1).  write: the caller holds a write unit
 * (ended here, kept), else the read lock. */
static kv_journal_status wait_one(kv_journal *j, kv_wait_row *out, const char *sql, const char *key,
                                  int write)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db, sql, -1, &s, NULL) != SQLITE_OK)
        return write ? wfail(j) : fail(j);
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        wait_of(out, s);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return write ? wfail(j) : fail(j);
    if (write) {
        kv_journal_status st = wdone(j, KV_J_OK, 1);
        if (st != KV_J_OK)
            return st;
    } else {
        pthread_mutex_unlock(&j->mu);
    }
    return rc == SQLITE_ROW ? KV_J_OK : KV_J_E_NOT_FOUND;
}

kv_journal_status kv_journal_wait_for_till(kv_journal *j, kv_wait_row *out, const char *till,
                                           int64_t now_ms)
{
    if (!j || !out || !till)
        return KV_J_E_ARG;
    NOT_SHARED(j);
    WENTER(j);
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE sticker_waits SET state = 'expired' WHERE till = ? AND"
             " state = 'waiting' AND expires_ms <= %lld", (long long)now_ms);
    if (exec2(j, sql, till, NULL) < 0)
        return wfail(j);
    return wait_one(j, out, "SELECT " WCOLS " FROM sticker_waits WHERE till = ? AND state = 'waiting'"
                    " ORDER BY created_ms DESC LIMIT 1", till, 1);
}

kv_journal_status kv_journal_wait_get(kv_journal *j, kv_wait_row *out, const char *reference)
{
    if (!j || !out || !reference)
        return KV_J_E_ARG;
    NOT_SHARED(j);
    if (enter(j))
        return fail(j);
    return wait_one(j, out, "SELECT " WCOLS " FROM sticker_waits WHERE reference = ?", reference, 0);
}

kv_journal_status kv_journal_wait_set_state(kv_journal *j, const char *reference, const char *state)
{
    if (!j || !reference || !state)
        return KV_J_E_ARG;
    NOT_SHARED(j);
    WENTER(j);
    if (exec2(j, "UPDATE sticker_waits SET state = ?2 WHERE reference = ?1", reference, state) < 0)
        return wfail(j);
    int changed = sqlite3_changes(j->db);
    return wdone(j, changed ? KV_J_OK : KV_J_E_NOT_FOUND, 1);
}

kv_journal_status kv_journal_wait_list(kv_journal *j, kv_wait_row **out, size_t *n)
{
    if (!j || !out || !n)
        return KV_J_E_ARG;
    NOT_SHARED(j);
    *out = NULL;
    *n = 0;
    if (enter(j))
        return fail(j);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db, "SELECT " WCOLS " FROM sticker_waits WHERE state = 'waiting'"
                           " ORDER BY created_ms", -1, &s, NULL) != SQLITE_OK)
        return fail(j);
    kv_wait_row *v = NULL;
    size_t k = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        kv_wait_row *nv = realloc(v, (k + 1) * sizeof *nv);
        if (!nv) {
            free(v);
            sqlite3_finalize(s);
            pthread_mutex_unlock(&j->mu);
            return KV_J_E_NOMEM;
        }
        v = nv;
        wait_of(&v[k++], s);
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
