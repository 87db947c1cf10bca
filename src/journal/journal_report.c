/* journal_report.c - the back office's tables and day queries (journal_report.h). */
#include "src/journal/journal_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/journal/journal_report_pg.h"
#include "src/journal/journal_sql.h"

static const char report_schema[] =
    "CREATE TABLE IF NOT EXISTS z_reports ("
    " store_id TEXT NOT NULL, till_id TEXT NOT NULL, day TEXT NOT NULL, z_number INTEGER NOT NULL,"
    " closed_at INTEGER NOT NULL, figures TEXT NOT NULL, printed INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(store_id, till_id, day), UNIQUE(store_id, till_id, z_number));"
    "CREATE TABLE IF NOT EXISTS ledger_feed ("
    " ledger_id TEXT NOT NULL, topic TEXT NOT NULL, cursor TEXT NOT NULL, updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY(ledger_id, topic));"
    "CREATE TABLE IF NOT EXISTS ledger_entries ("
    " ledger_id TEXT NOT NULL, topic TEXT NOT NULL, psp_reference TEXT NOT NULL, reference TEXT NOT NULL,"
    " entry_type TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL, ledger_date TEXT NOT NULL,"
    " time TEXT NOT NULL, recipient TEXT NOT NULL,"
    " UNIQUE(ledger_id, topic, entry_type, psp_reference, time));"
    "CREATE INDEX IF NOT EXISTS ledger_entries_date ON ledger_entries(ledger_id, topic, ledger_date);"
    "CREATE INDEX IF NOT EXISTS operations_answered ON operations(answered_at);";

/* The cached statement for sql (journal_tx.c), after making sure the
 * tables exist.  Lock held by the caller. */
static sqlite3_stmt *rprep(kv_journal *j, const char *sql)
{
    sqlite3_stmt *st = prep(j, sql);
    if (st)
        return st;
    /* first use on this file: create the tables, then try again */
    if (sqlite3_exec(j->db, report_schema, NULL, NULL, NULL) != SQLITE_OK) {
        set_err(j);
        return NULL;
    }
    return prep(j, sql);
}

/* A write: the lock and a group-commit unit (journal_tx.c); the tables
 * are made sure of inside it.  On failure the lock is not held. */
static kv_journal_status tx_begin(kv_journal *j)
{
    kv_journal_status st = w_begin(j);
    if (st != KV_J_OK)
        return st;
    if (sqlite3_exec(j->db, report_schema, NULL, NULL, NULL) != SQLITE_OK) {
        set_err(j);
        return w_end(j, KV_J_E_SQL, 0);
    }
    return KV_J_OK;
}

/* End the write begun by tx_begin: kept (and durable when this returns
 * KV_J_OK) when st is KV_J_OK, else undone; releases the lock. */
static kv_journal_status tx_end(kv_journal *j, kv_journal_status st)
{
    return w_end(j, st, 1);
}

/* The end of stepping s: KV_J_OK when its last step (rc) was a row or
 * the end, else KV_J_E_SQL with the error recorded; releases s. */
static kv_journal_status finish(kv_journal *j, sqlite3_stmt *s, int rc)
{
    kv_journal_status st = KV_J_OK;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        set_err(j);
        st = KV_J_E_SQL;
    }
    done(j, s);
    return st;
}

kv_journal_status kv_journal_each_payment(kv_journal *j, int64_t from, int64_t to,
                                          kv_journal_pay_fn fn, void *user)
{
    if (!j || !fn)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jrpg_each_payment(j->pg, from, to, fn, user);
    kv_payment *p = malloc(sizeof *p);
    if (!p)
        return KV_J_E_NOMEM;
    kv__journal_lock(j);
    kv_journal_status st = KV_J_E_SQL;
    sqlite3_stmt *s = rprep(j, "SELECT " PAY_COLS " FROM payments WHERE created_at >= ? AND created_at < ?"
                               " ORDER BY created_at, rowid");
    if (s) {
        sqlite3_bind_int64(s, 1, from);
        sqlite3_bind_int64(s, 2, to);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            kv__journal_read_payment(p, s);
            if (fn(user, p))
                break;
        }
        st = finish(j, s, rc);
    }
    kv__journal_unlock(j);
    free(p);
    return st;
}

kv_journal_status kv_journal_each_money_op(kv_journal *j, int64_t from, int64_t to,
                                           kv_journal_money_fn fn, void *user)
{
    if (!j || !fn)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jrpg_each_money_op(j->pg, from, to, fn, user);
    kv__journal_lock(j);
    kv_journal_status st = KV_J_E_SQL;
    sqlite3_stmt *s = rprep(j, "SELECT o.id, o.reference, o.kind, o.seq, o.idem_key, o.amount, o.created_at,"
                               " o.answered_at, p.store_id, p.till_id, p.msn, p.currency, p.psp_reference"
                               " FROM operations o JOIN payments p ON p.reference = o.reference"
                               " WHERE o.result = 'ok' AND o.kind IN ('capture', 'refund')"
                               " AND ((o.answered_at >= ?1 AND o.answered_at < ?2)"
                               "      OR (o.answered_at = 0 AND o.created_at >= ?1 AND o.created_at < ?2))"
                               " ORDER BY o.id");
    if (s) {
        sqlite3_bind_int64(s, 1, from);
        sqlite3_bind_int64(s, 2, to);
        int rc;
        kv_journal_money_row r;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            memset(&r, 0, sizeof r);
            r.op.id = sqlite3_column_int64(s, 0);
            col_str(r.op.reference, sizeof r.op.reference, s, 1);
            char kind[16];
            col_str(kind, sizeof kind, s, 2);
            r.op.kind = strcmp(kind, "refund") == 0 ? KV_OP_REFUND : KV_OP_CAPTURE;
            r.op.seq = sqlite3_column_int(s, 3);
            col_str(r.op.idem_key, sizeof r.op.idem_key, s, 4);
            r.op.amount = sqlite3_column_int64(s, 5);
            r.op.result = KV_OPR_OK;
            r.op.created_at = sqlite3_column_int64(s, 6);
            r.op.answered_at = sqlite3_column_int64(s, 7);
            col_str(r.store_id, sizeof r.store_id, s, 8);
            col_str(r.till_id, sizeof r.till_id, s, 9);
            col_str(r.msn, sizeof r.msn, s, 10);
            col_str(r.currency, sizeof r.currency, s, 11);
            col_str(r.psp_reference, sizeof r.psp_reference, s, 12);
            r.at = r.op.answered_at > 0 ? r.op.answered_at : r.op.created_at;
            if (fn(user, &r))
                break;
        }
        st = finish(j, s, rc);
    }
    kv__journal_unlock(j);
    return st;
}

/* The Z row of (store, till, day); lock held by the caller. */
static kv_journal_status z_row(kv_journal *j, const char *store, const char *till, const char *day,
                               int64_t *z_number, int64_t *closed_at, int *printed, char **figures)
{
    sqlite3_stmt *s = rprep(j, "SELECT z_number, closed_at, figures, printed FROM z_reports"
                               " WHERE store_id = ? AND till_id = ? AND day = ?");
    if (!s)
        return KV_J_E_SQL;
    bt(s, 1, store);
    bt(s, 2, till);
    bt(s, 3, day);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        done(j, s);
        return KV_J_E_NOT_FOUND;
    }
    if (rc != SQLITE_ROW)
        return finish(j, s, rc);
    kv_journal_status st = KV_J_OK;
    if (z_number)
        *z_number = sqlite3_column_int64(s, 0);
    if (closed_at)
        *closed_at = sqlite3_column_int64(s, 1);
    if (printed)
        *printed = sqlite3_column_int(s, 3);
    if (figures) {
        const unsigned char *t = sqlite3_column_text(s, 2);
        if (!(*figures = strdup(t ? (const char *)t : "")))
            st = KV_J_E_NOMEM;
    }
    done(j, s);
    return st;
}

kv_journal_status kv_journal_z_get(kv_journal *j, const char *store, const char *till, const char *day,
                                   int64_t *z_number, int64_t *closed_at, int *printed, char **figures)
{
    if (!j || !store || !till || !day)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jrpg_z_get(j->pg, store, till, day, z_number, closed_at, printed, figures);
    kv__journal_lock(j);
    kv_journal_status st = z_row(j, store, till, day, z_number, closed_at, printed, figures);
    kv__journal_unlock(j);
    return st;
}

kv_journal_status kv_journal_z_close(kv_journal *j, const char *store, const char *till, const char *day,
                                     int64_t closed_at, const char *figures, int64_t *z_number,
                                     int *existed)
{
    if (!j || !store || !till || !day || !figures || !z_number || !existed)
        return KV_J_E_ARG;
    *existed = 0;
    if (j->pg)
        return kv_jrpg_z_close(j->pg, store, till, day, closed_at, figures, z_number, existed);
    /* the write transaction of the SQLite file serialises the closes of
     * every process; UNIQUE(store, till, z_number) stands behind it */
    kv_journal_status st = tx_begin(j);
    if (st != KV_J_OK)
        return st;
    st = z_row(j, store, till, day, z_number, NULL, NULL, NULL);
    if (st == KV_J_OK) {
        *existed = 1;
    } else if (st == KV_J_E_NOT_FOUND) {
        st = KV_J_E_SQL;
        sqlite3_stmt *s = rprep(j, "INSERT INTO z_reports(store_id, till_id, day, z_number, closed_at, figures)"
                                   " SELECT ?1, ?2, ?3, COALESCE(MAX(z_number), 0) + 1, ?4, ?5 FROM z_reports"
                                   " WHERE store_id = ?1 AND till_id = ?2 RETURNING z_number");
        if (s) {
            bt(s, 1, store);
            bt(s, 2, till);
            bt(s, 3, day);
            sqlite3_bind_int64(s, 4, closed_at);
            bt(s, 5, figures);
            int rc = sqlite3_step(s);
            if (rc == SQLITE_ROW)
                *z_number = sqlite3_column_int64(s, 0);
            st = finish(j, s, rc); /* the INSERT ... SELECT of an aggregate: one row */
        }
    }
    return tx_end(j, st);
}

kv_journal_status kv_journal_z_each(kv_journal *j, const char *day, kv_journal_z_fn fn, void *user)
{
    if (!j || !day || !fn)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jrpg_z_each(j->pg, day, fn, user);
    kv__journal_lock(j);
    kv_journal_status st = KV_J_E_SQL;
    sqlite3_stmt *s = rprep(j, "SELECT store_id, till_id, z_number FROM z_reports WHERE day = ?"
                               " ORDER BY store_id, till_id");
    if (s) {
        bt(s, 1, day);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            char store[64], till[64];
            col_str(store, sizeof store, s, 0);
            col_str(till, sizeof till, s, 1);
            if (fn(user, store, till, sqlite3_column_int64(s, 2)))
                break;
        }
        st = finish(j, s, rc);
    }
    kv__journal_unlock(j);
    return st;
}

kv_journal_status kv_journal_z_printed(kv_journal *j, const char *store, const char *till, const char *day)
{
    if (!j || !store || !till || !day)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jrpg_z_printed(j->pg, store, till, day);
    kv_journal_status st = tx_begin(j);
    if (st != KV_J_OK)
        return st;
    st = KV_J_E_SQL;
    sqlite3_stmt *s = rprep(j, "UPDATE z_reports SET printed = printed + 1"
                               " WHERE store_id = ? AND till_id = ? AND day = ?");
    if (s) {
        bt(s, 1, store);
        bt(s, 2, till);
        bt(s, 3, day);
        st = finish(j, s, sqlite3_step(s));
        if (st == KV_J_OK && !sqlite3_changes(j->db))
            st = KV_J_E_NOT_FOUND;
    }
    return tx_end(j, st);
}

kv_journal_status kv_journal_feed_cursor(kv_journal *j, const char *ledger, const char *topic,
                                         char *cursor, size_t len)
{
    if (!j || !ledger || !topic || !cursor || !len)
        return KV_J_E_ARG;
    cursor[0] = 0;
    if (j->pg)
        return kv_jrpg_feed_cursor(j->pg, ledger, topic, cursor, len);
    kv__journal_lock(j);
    kv_journal_status st = KV_J_E_SQL;
    sqlite3_stmt *s = rprep(j, "SELECT cursor FROM ledger_feed WHERE ledger_id = ? AND topic = ?");
    if (s) {
        bt(s, 1, ledger);
        bt(s, 2, topic);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            col_str(cursor, len, s, 0);
        st = finish(j, s, rc);
    }
    kv__journal_unlock(j);
    return st;
}

kv_journal_status kv_journal_feed_store(kv_journal *j, const char *ledger, const char *topic,
                                        const kv_ledger_entry *e, size_t n, const char *next_cursor,
                                        size_t *added)
{
    if (!j || !ledger || !topic || (n && !e) || !next_cursor)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jrpg_feed_store(j->pg, ledger, topic, e, n, next_cursor, added);
    size_t cnt = 0;
    kv_journal_status st = tx_begin(j);
    if (st != KV_J_OK)
        return st;
    sqlite3_stmt *s = rprep(j, "INSERT OR IGNORE INTO ledger_entries(ledger_id, topic, psp_reference, reference,"
                               " entry_type, amount, currency, ledger_date, time, recipient)"
                               " VALUES(?,?,?,?,?,?,?,?,?,?)");
    st = s ? KV_J_OK : KV_J_E_SQL;
    for (size_t i = 0; st == KV_J_OK && i < n; i++) {
        bt(s, 1, ledger);
        bt(s, 2, topic);
        bt(s, 3, e[i].psp_reference);
        bt(s, 4, e[i].reference);
        bt(s, 5, e[i].entry_type);
        sqlite3_bind_int64(s, 6, e[i].amount);
        bt(s, 7, e[i].currency);
        bt(s, 8, e[i].ledger_date);
        bt(s, 9, e[i].time);
        bt(s, 10, e[i].recipient);
        int rc = sqlite3_step(s);
        if (rc != SQLITE_DONE) {
            set_err(j);
            st = KV_J_E_SQL;
        }
        cnt += (size_t)sqlite3_changes(j->db);
        sqlite3_reset(s);
    }
    if (s)
        done(j, s);
    if (st == KV_J_OK) {
        sqlite3_stmt *c = rprep(j, "INSERT INTO ledger_feed(ledger_id, topic, cursor, updated_ms)"
                                   " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(ledger_id, topic) DO UPDATE SET cursor = ?3,"
                                   " updated_ms = ?4");
        st = KV_J_E_SQL;
        if (c) {
            bt(c, 1, ledger);
            bt(c, 2, topic);
            bt(c, 3, next_cursor);
            sqlite3_bind_int64(c, 4, now_ms());
            st = finish(j, c, sqlite3_step(c));
        }
    }
    st = tx_end(j, st);
    if (st == KV_J_OK && added)
        *added = cnt;
    return st;
}

kv_journal_status kv_journal_feed_count(kv_journal *j, const char *ledger, const char *topic,
                                        const char *ledger_date, int64_t *n)
{
    if (!j || !ledger || !topic || !n)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jrpg_feed_count(j->pg, ledger, topic, ledger_date, n);
    kv__journal_lock(j);
    kv_journal_status st = KV_J_E_SQL;
    sqlite3_stmt *s = rprep(j, "SELECT COUNT(*) FROM ledger_entries WHERE ledger_id = ? AND topic = ?"
                               " AND (?3 = '' OR ledger_date = ?3)");
    if (s) {
        bt(s, 1, ledger);
        bt(s, 2, topic);
        bt(s, 3, ledger_date);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            *n = sqlite3_column_int64(s, 0);
        st = finish(j, s, rc); /* COUNT(*): one row */
    }
    kv__journal_unlock(j);
    return st;
}

/* Row reader for collect_rows. */
static void read_entry(void *dst, sqlite3_stmt *s)
{
    kv_ledger_entry *e = dst;
    memset(e, 0, sizeof *e);
    col_str(e->ledger_id, sizeof e->ledger_id, s, 0);
    col_str(e->topic, sizeof e->topic, s, 1);
    col_str(e->psp_reference, sizeof e->psp_reference, s, 2);
    col_str(e->reference, sizeof e->reference, s, 3);
    col_str(e->entry_type, sizeof e->entry_type, s, 4);
    e->amount = sqlite3_column_int64(s, 5);
    col_str(e->currency, sizeof e->currency, s, 6);
    col_str(e->ledger_date, sizeof e->ledger_date, s, 7);
    col_str(e->time, sizeof e->time, s, 8);
    col_str(e->recipient, sizeof e->recipient, s, 9);
}

kv_journal_status kv_journal_feed_entries(kv_journal *j, const char *ledger, const char *topic,
                                          const char *ledger_date, kv_ledger_entry **out, size_t *n)
{
    if (!j || !ledger || !topic || !ledger_date || !out || !n)
        return KV_J_E_ARG;
    *out = NULL;
    *n = 0;
    if (j->pg)
        return kv_jrpg_feed_entries(j->pg, ledger, topic, ledger_date, out, n);
    kv__journal_lock(j);
    kv_journal_status st = KV_J_E_SQL;
    sqlite3_stmt *s = rprep(j, "SELECT ledger_id, topic, psp_reference, reference, entry_type, amount, currency,"
                               " ledger_date, time, recipient FROM ledger_entries WHERE ledger_id = ? AND topic = ?"
                               " AND ledger_date = ? ORDER BY rowid");
    if (s) {
        bt(s, 1, ledger);
        bt(s, 2, topic);
        bt(s, 3, ledger_date);
        void *v = NULL;
        st = collect_rows(j, &v, n, s, sizeof(kv_ledger_entry), read_entry);
        *out = v;
    }
    kv__journal_unlock(j);
    return st;
}
