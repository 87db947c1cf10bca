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
    " printed_at INTEGER NOT NULL DEFAULT 0);";

static kv_journal_status fail(kv_journal *j)
{
    snprintf(j->errmsg, sizeof j->errmsg, "%s", sqlite3_errmsg(j->db));
    pthread_mutex_unlock(&j->mu);
    return KV_J_E_SQL;
}

static int enter(kv_journal *j)
{
    pthread_mutex_lock(&j->mu);
    return sqlite3_exec(j->db, sticker_schema, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

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
    if (enter(j))
        return fail(j);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db, "INSERT INTO stickers(" COLS ") VALUES(?,?,?,?,?,?,?,0)"
                           " ON CONFLICT(id) DO UPDATE SET till = excluded.till,"
                           " store = excluded.store, msn = excluded.msn,"
                           " location = excluded.location, content = excluded.content",
                           -1, &s, NULL) != SQLITE_OK)
        return fail(j);
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
        return fail(j);
    pthread_mutex_unlock(&j->mu);
    return KV_J_OK;
}

/* Run an UPDATE/DELETE with one text parameter; NOT_FOUND when no row. */
static kv_journal_status change(kv_journal *j, const char *sql, const char *id)
{
    if (!j || !id)
        return KV_J_E_ARG;
    if (enter(j))
        return fail(j);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db, sql, -1, &s, NULL) != SQLITE_OK)
        return fail(j);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return fail(j);
    int changed = sqlite3_changes(j->db);
    pthread_mutex_unlock(&j->mu);
    return changed ? KV_J_OK : KV_J_E_NOT_FOUND;
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
