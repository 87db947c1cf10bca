/* journal_proxy.c - the print proxy's held jobs (table proxy_jobs). */
#include "src/journal/journal_proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/journal/journal_int.h"
#include "src/journal/journal_proxy_pg.h"

static const char proxy_schema[] =
    "CREATE TABLE IF NOT EXISTS proxy_jobs ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, proxy TEXT NOT NULL, reference TEXT NOT NULL,"
    " amount INTEGER NOT NULL, job BLOB NOT NULL, state TEXT NOT NULL DEFAULT 'held',"
    " outcome TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);";

static kv_journal_status fail(kv_journal *j)
{
    snprintf(j->errmsg, sizeof j->errmsg, "%s", sqlite3_errmsg(j->db));
    pthread_mutex_unlock(&j->mu);
    return KV_J_E_SQL;
}

/* Lock the handle and make sure the table exists. */
static int enter(kv_journal *j)
{
    pthread_mutex_lock(&j->mu);
    return sqlite3_exec(j->db, proxy_schema, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* The same for a write: a group-commit unit of the journal (durable when
 * it ends well); wfail ends it undone. */
static int wenter(kv_journal *j)
{
    if (kv__journal_w_begin(j) != KV_J_OK)
        return -2;
    return sqlite3_exec(j->db, proxy_schema, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static kv_journal_status wfail(kv_journal *j)
{
    snprintf(j->errmsg, sizeof j->errmsg, "%s", sqlite3_errmsg(j->db));
    return kv__journal_w_end(j, KV_J_E_SQL, 0);
}

kv_journal_status kv_journal_proxy_hold(kv_journal *j, const char *proxy, const char *reference,
                                        int64_t amount, const void *job, size_t len, int64_t *id)
{
    if (!j || !proxy || !reference || (!job && len) || len > 64u << 20)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jppg_hold(j->pg, proxy, reference, amount, job, len, id);
    int e = wenter(j);
    if (e == -2)
        return KV_J_E_SQL;
    if (e)
        return wfail(j);
    sqlite3_stmt *s = NULL;
    int64_t now = (int64_t)time(NULL);
    if (sqlite3_prepare_v2(j->db, "INSERT INTO proxy_jobs(proxy, reference, amount, job, created_at,"
                           " updated_at) VALUES(?,?,?,?,?,?)", -1, &s, NULL) != SQLITE_OK)
        return wfail(j);
    sqlite3_bind_text(s, 1, proxy, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, reference, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, amount);
    sqlite3_bind_blob(s, 4, len ? job : "", (int)len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, now);
    sqlite3_bind_int64(s, 6, now);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return wfail(j);
    if (id)
        *id = sqlite3_last_insert_rowid(j->db);
    return kv__journal_w_end(j, KV_J_OK, 1);
}

kv_journal_status kv_journal_proxy_release(kv_journal *j, int64_t id, const char *outcome)
{
    if (!j || !outcome)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jppg_release(j->pg, id, outcome);
    int e = wenter(j);
    if (e == -2)
        return KV_J_E_SQL;
    if (e)
        return wfail(j);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db, "UPDATE proxy_jobs SET state = 'printed', outcome = ?, updated_at = ?"
                           " WHERE id = ?", -1, &s, NULL) != SQLITE_OK)
        return wfail(j);
    sqlite3_bind_text(s, 1, outcome, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, (int64_t)time(NULL));
    sqlite3_bind_int64(s, 3, id);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        return wfail(j);
    int changed = sqlite3_changes(j->db);
    kv_journal_status st = kv__journal_w_end(j, KV_J_OK, changed);
    return st ? st : changed ? KV_J_OK : KV_J_E_NOT_FOUND;
}

void kv_journal_proxy_free(kv_proxy_held *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].job);
    free(rows);
}

kv_journal_status kv_journal_proxy_pending(kv_journal *j, const char *proxy, kv_proxy_held **rows,
                                           size_t *n)
{
    if (!j || !rows || !n)
        return KV_J_E_ARG;
    *rows = NULL;
    *n = 0;
    if (j->pg)
        return kv_jppg_pending(j->pg, proxy, rows, n);
    if (enter(j))
        return fail(j);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(j->db, "SELECT id, proxy, reference, amount, job, created_at FROM proxy_jobs"
                           " WHERE state = 'held' AND (?1 IS NULL OR proxy = ?1) ORDER BY id", -1, &s,
                           NULL) != SQLITE_OK)
        return fail(j);
    if (proxy)
        sqlite3_bind_text(s, 1, proxy, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, 1);
    kv_proxy_held *v = NULL;
    size_t k = 0;
    kv_journal_status st = KV_J_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        kv_proxy_held *nv = realloc(v, sizeof *v * (k + 1));
        if (!nv) {
            st = KV_J_E_NOMEM;
            break;
        }
        v = nv;
        kv_proxy_held *h = &v[k];
        memset(h, 0, sizeof *h);
        h->id = sqlite3_column_int64(s, 0);
        snprintf(h->proxy, sizeof h->proxy, "%s", (const char *)sqlite3_column_text(s, 1));
        snprintf(h->reference, sizeof h->reference, "%s", (const char *)sqlite3_column_text(s, 2));
        h->amount = sqlite3_column_int64(s, 3);
        h->len = (size_t)sqlite3_column_bytes(s, 4);
        h->job = malloc(h->len ? h->len : 1);
        if (!h->job) {
            st = KV_J_E_NOMEM;
            break;
        }
        if (h->len)
            memcpy(h->job, sqlite3_column_blob(s, 4), h->len);
        h->created_at = sqlite3_column_int64(s, 5);
        k++;
    }
    if (st == KV_J_OK && rc != SQLITE_DONE)
        st = KV_J_E_SQL;
    sqlite3_finalize(s);
    pthread_mutex_unlock(&j->mu);
    if (st != KV_J_OK) {
        kv_journal_proxy_free(v, k);
        return st;
    }
    *rows = v;
    *n = k;
    return KV_J_OK;
}
