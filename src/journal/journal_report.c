/* journal_report.c - the back office's tables and day queries (journal_report.h). */
#include "src/journal/journal_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/journal/journal_int.h"

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

/* Prepare sql after making sure the tables exist.  Lock held by caller. */
static sqlite3_stmt *prep(kv_journal *j, const char *sql)
{
    sqlite3 *db = kv__journal_db(j);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK)
        return st;
    /* first use on this file: create the tables, then try again */
    if (sqlite3_exec(db, report_schema, NULL, NULL, NULL) != SQLITE_OK)
        return NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    return st;
}

static void bt(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

static void col(char *dst, size_t len, sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(dst, len, "%s", t ? (const char *)t : "");
}

/* A write: the lock and a group-commit unit (journal_tx.c); the tables
 * are made sure of inside it.  On failure the lock is not held. */
static kv_journal_status tx_begin(kv_journal *j)
{
    kv_journal_status st = kv__journal_w_begin(j);
    if (st != KV_J_OK)
        return st;
    if (sqlite3_exec(kv__journal_db(j), report_schema, NULL, NULL, NULL) != SQLITE_OK)
        return kv__journal_w_end(j, KV_J_E_SQL, 0);
    return KV_J_OK;
}

/* End the write begun by tx_begin: kept (and durable when this returns
 * KV_J_OK) when st is KV_J_OK, else undone; releases the lock. */
static kv_journal_status tx_end(kv_journal *j, kv_journal_status st)
{
    return kv__journal_w_end(j, st, 1);
}

kv_journal_status kv_journal_each_payment(kv_journal *j, int64_t from, int64_t to,
                                          kv_journal_pay_fn fn, void *user)
{
    if (!j || !fn)
        return KV_J_E_ARG;
    kv_payment *p = malloc(sizeof *p);
    if (!p)
        return KV_J_E_NOMEM;
    kv__journal_lock(j);
    kv_journal_status st = KV_J_E_SQL;
    sqlite3_stmt *s = prep(j, "SELECT reference, store_id, msn, till_id, flow, currency, amount, captured,"
                              " refunded, state, api_state, psp_reference, reason, description, items_json,"
                              " created_at, updated_at FROM payments WHERE created_at >= ? AND created_at < ?"
                              " ORDER BY created_at, rowid");
    if (s) {
        sqlite3_bind_int64(s, 1, from);
        sqlite3_bind_int64(s, 2, to);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            memset(p, 0, sizeof *p);
            col(p->reference, sizeof p->reference, s, 0);
            col(p->store_id, sizeof p->store_id, s, 1);
            col(p->msn, sizeof p->msn, s, 2);
            col(p->till_id, sizeof p->till_id, s, 3);
            col(p->flow, sizeof p->flow, s, 4);
            col(p->currency, sizeof p->currency, s, 5);
            p->amount = sqlite3_column_int64(s, 6);
            p->captured = sqlite3_column_int64(s, 7);
            p->refunded = sqlite3_column_int64(s, 8);
            char state[16];
            col(state, sizeof state, s, 9);
            if (kv_pay_state_parse(&p->state, state))
                p->state = KV_PAY_UNKNOWN;
            col(p->api_state, sizeof p->api_state, s, 10);
            col(p->psp_reference, sizeof p->psp_reference, s, 11);
            col(p->reason, sizeof p->reason, s, 12);
            col(p->description, sizeof p->description, s, 13);
            col(p->items_json, sizeof p->items_json, s, 14);
            p->created_at = sqlite3_column_int64(s, 15);
            p->updated_at = sqlite3_column_int64(s, 16);
            if (fn(user, p))
                break;
        }
        st = rc == SQLITE_ROW || rc == SQLITE_DONE ? KV_J_OK : KV_J_E_SQL;
        sqlite3_finalize(s);
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
    kv__journal_lock(j);
    kv_journal_status st = KV_J_E_SQL;
    sqlite3_stmt *s = prep(j, "SELECT o.id, o.reference, o.kind, o.seq, o.idem_key, o.amount, o.created_at,"
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
            col(r.op.reference, sizeof r.op.reference, s, 1);
            char kind[16];
            col(kind, sizeof kind, s, 2);
            r.op.kind = strcmp(kind, "refund") == 0 ? KV_OP_REFUND : KV_OP_CAPTURE;
            r.op.seq = sqlite3_column_int(s, 3);
            col(r.op.idem_key, sizeof r.op.idem_key, s, 4);
            r.op.amount = sqlite3_column_int64(s, 5);
            r.op.result = KV_OPR_OK;
            r.op.created_at = sqlite3_column_int64(s, 6);
            r.op.answered_at = sqlite3_column_int64(s, 7);
            col(r.store_id, sizeof r.store_id, s, 8);
            col(r.till_id, sizeof r.till_id, s, 9);
            col(r.msn, sizeof r.msn, s, 10);
            col(r.currency, sizeof r.currency, s, 11);
            col(r.psp_reference, sizeof r.psp_reference, s, 12);
            r.at = r.op.answered_at > 0 ? r.op.answered_at : r.op.created_at;
            if (fn(user, &r))
                break;
        }
        st = rc == SQLITE_ROW || rc == SQLITE_DONE ? KV_J_OK : KV_J_E_SQL;
        sqlite3_finalize(s);
    }
    kv__journal_unlock(j);
    return st;
}

kv_journal_status kv_journal_z_get(kv_journal *j, const char *store, const char *till, const char *day,
                                   int64_t *z_number, int64_t *closed_at, int *printed, char **figures)
{
    if (!j || !store || !till || !day)
        return KV_J_E_ARG;
    kv__journal_lock(j);
    kv_journal_status st = KV_J_E_SQL;
    sqlite3_stmt *s = prep(j, "SELECT z_number, closed_at, figures, printed FROM z_reports"
                              " WHERE store_id = ? AND till_id = ? AND day = ?");
    if (s) {
        bt(s, 1, store);
        bt(s, 2, till);
        bt(s, 3, day);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            st = KV_J_OK;
            if (z_number)
                *z_number = sqlite3_column_int64(s, 0);
            if (closed_at)
                *closed_at = sqlite3_column_int64(s, 1);
            if (printed)
                *printed = sqlite3_column_int(s, 3);
            if (figures) {
                const unsigned char *t = sqlite3_column_text(s, 2);
                *figures = strdup(t ? (const char *)t : "");
                if (!*figures)
                    st = KV_J_E_NOMEM;
            }
        } else {
            st = rc == SQLITE_DONE ? KV_J_E_NOT_FOUND : KV_J_E_SQL;
        }
        sqlite3_finalize(s);
    }
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
    kv_journal_status st = tx_begin(j);
    if (st == KV_J_OK) {
        st = kv_journal_z_get(j, store, till, day, z_number, NULL, NULL, NULL);
        if (st == KV_J_OK) {
            *existed = 1;
        } else if (st == KV_J_E_NOT_FOUND) {
            st = KV_J_E_SQL;
            sqlite3_stmt *s = prep(j, "INSERT INTO z_reports(store_id, till_id, day, z_number, closed_at, figures)"
                                      " SELECT ?1, ?2, ?3, COALESCE(MAX(z_number), 0) + 1, ?4, ?5 FROM z_reports"
                                      " WHERE store_id = ?1 AND till_id = ?2 RETURNING z_number");
            if (s) {
                bt(s, 1, store);
                bt(s, 2, till);
                bt(s, 3, day);
                sqlite3_bind_int64(s, 4, closed_at);
                bt(s, 5, figures);
                if (sqlite3_step(s) == SQLITE_ROW) {
                    *z_number = sqlite3_column_int64(s, 0);
                    st = KV_J_OK;
                }
                sqlite3_finalize(s);
            }
        }
        st = tx_end(j, st);
    }
    return st;
}

kv_journal_status kv_journal_z_each(kv_journal *j, const char *day, kv_journal_z_fn fn, void *user)
{
    if (!j || !day || !fn)
        return KV_J_E_ARG;
    kv__journal_lock(j);
    kv_journal_status st = KV_J_E_SQL;
    sqlite3_stmt *s = prep(j, "SELECT store_id, till_id, z_number FROM z_reports WHERE day = ?"
                              " ORDER BY store_id, till_id");
    if (s) {
        bt(s, 1, day);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            char store[64], till[64];
            col(store, sizeof store, s, 0);
            col(till, sizeof till, s, 1);
            if (fn(user, store, till, sqlite3_column_int64(s, 2)))
                break;
        }
        st = rc == SQLITE_ROW || rc == SQLITE_DONE ? KV_J_OK : KV_J_E_SQL;
        sqlite3_finalize(s);
    }
    kv__journal_unlock(j);
    return st;
}

kv_journal_status kv_journal_z_printed(kv_journal *j, const char *store, const char *till, const char *day)
{
    if (!j || !store || !till || !day)
        return KV_J_E_ARG;
    kv_journal_status st = tx_begin(j);
    if (st != KV_J_OK)
        return st;
    st = KV_J_E_SQL;
    sqlite3_stmt *s = prep(j, "UPDATE z_reports SET printed = printed + 1"
                              " WHERE store_id = ? AND till_id = ? AND day = ?");
    if (s) {
        bt(s, 1, store);
        bt(s, 2, till);
        bt(s, 3, day);
        if (sqlite3_step(s) == SQLITE_DONE)
            st = sqlite3_changes(kv__journal_db(j)) ? KV_J_OK : KV_J_E_NOT_FOUND;
        sqlite3_finalize(s);
    }
    return tx_end(j, st);
}

kv_journal_status kv_journal_feed_cursor(kv_journal *j, const char *ledger, const char *topic,
                                         char *cursor, size_t len)
{
    if (!j || !ledger || !topic || !cursor || !len)
        return KV_J_E_ARG;
    cursor[0] = 0;
    kv__journal_lock(j);
    kv_journal_status st = KV_J_E_SQL;
    sqlite3_stmt *s = prep(j, "SELECT cursor FROM ledger_feed WHERE ledger_id = ? AND topic = ?");
    if (s) {
        bt(s, 1, ledger);
        bt(s, 2, topic);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
            col(cursor, len, s, 0);
        st = rc == SQLITE_ROW || rc == SQLITE_DONE ? KV_J_OK : KV_J_E_SQL;
        sqlite3_finalize(s);
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
    size_t cnt = 0;
    kv_journal_status st = tx_begin(j);
    if (st == KV_J_OK) {
        sqlite3_stmt *s = prep(j, "INSERT OR IGNORE INTO ledger_entries(ledger_id, topic, psp_reference, reference,"
                                  " entry_type, amount, currency, ledger_date, time, recipient)"
                                  " VALUES(?,?,?,?,?,?,?,?,?,?)");
        st = s ? KV_J_OK : KV_J_E_SQL;
        for (size_t i = 0; st == KV_J_OK && i < n; i++) {
            sqlite3_reset(s);
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
            if (sqlite3_step(s) != SQLITE_DONE)
                st = KV_J_E_SQL;
            else
                cnt += (size_t)sqlite3_changes(kv__journal_db(j));
        }
        sqlite3_finalize(s);
        if (st == KV_J_OK) {
            sqlite3_stmt *c = prep(j, "INSERT INTO ledger_feed(ledger_id, topic, cursor, updated_ms)"
                                      " VALUES(?1, ?2, ?3, strftime('%s','now') * 1000)"
                                      " ON CONFLICT(ledger_id, topic) DO UPDATE SET cursor = ?3,"
                                      " updated_ms = strftime('%s','now') * 1000");
            st = KV_J_E_SQL;
            if (c) {
                bt(c, 1, ledger);
                bt(c, 2, topic);
                bt(c, 3, next_cursor);
                if (sqlite3_step(c) == SQLITE_DONE)
                    st = KV_J_OK;
                sqlite3_finalize(c);
            }
        }
        st = tx_end(j, st);
    }
    if (st == KV_J_OK && added)
        *added = cnt;
    return st;
}

kv_journal_status kv_journal_feed_count(kv_journal *j, const char *ledger, const char *topic,
                                        const char *ledger_date, int64_t *n)
{
    if (!j || !ledger || !topic || !n)
        return KV_J_E_ARG;
    kv__journal_lock(j);
    kv_journal_status st = KV_J_E_SQL;
    sqlite3_stmt *s = prep(j, "SELECT COUNT(*) FROM ledger_entries WHERE ledger_id = ? AND topic = ?"
                              " AND (?3 = '' OR ledger_date = ?3)");
    if (s) {
        bt(s, 1, ledger);
        bt(s, 2, topic);
        bt(s, 3, ledger_date);
        if (sqlite3_step(s) == SQLITE_ROW) {
            *n = sqlite3_column_int64(s, 0);
            st = KV_J_OK;
        }
        sqlite3_finalize(s);
    }
    kv__journal_unlock(j);
    return st;
}

kv_journal_status kv_journal_feed_entries(kv_journal *j, const char *ledger, const char *topic,
                                          const char *ledger_date, kv_ledger_entry **out, size_t *n)
{
    if (!j || !ledger || !topic || !ledger_date || !out || !n)
        return KV_J_E_ARG;
    *out = NULL;
    *n = 0;
    kv__journal_lock(j);
    kv_journal_status st = KV_J_E_SQL;
    sqlite3_stmt *s = prep(j, "SELECT psp_reference, reference, entry_type, amount, currency, ledger_date, time,"
                              " recipient FROM ledger_entries WHERE ledger_id = ? AND topic = ? AND ledger_date = ?"
                              " ORDER BY rowid");
    if (s) {
        bt(s, 1, ledger);
        bt(s, 2, topic);
        bt(s, 3, ledger_date);
        size_t cap = 0, cnt = 0;
        kv_ledger_entry *v = NULL;
        int rc;
        st = KV_J_OK;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            if (cnt == cap) {
                size_t nc = cap ? cap * 2 : 64;
                kv_ledger_entry *nv = realloc(v, nc * sizeof *nv);
                if (!nv) {
                    st = KV_J_E_NOMEM;
                    break;
                }
                v = nv;
                cap = nc;
            }
            kv_ledger_entry *e = &v[cnt++];
            memset(e, 0, sizeof *e);
            snprintf(e->ledger_id, sizeof e->ledger_id, "%s", ledger);
            snprintf(e->topic, sizeof e->topic, "%s", topic);
            col(e->psp_reference, sizeof e->psp_reference, s, 0);
            col(e->reference, sizeof e->reference, s, 1);
            col(e->entry_type, sizeof e->entry_type, s, 2);
            e->amount = sqlite3_column_int64(s, 3);
            col(e->currency, sizeof e->currency, s, 4);
            col(e->ledger_date, sizeof e->ledger_date, s, 5);
            col(e->time, sizeof e->time, s, 6);
            col(e->recipient, sizeof e->recipient, s, 7);
        }
        if (st == KV_J_OK && rc != SQLITE_DONE)
            st = KV_J_E_SQL;
        sqlite3_finalize(s);
        if (st == KV_J_OK) {
            *out = v;
            *n = cnt;
        } else {
            free(v);
        }
    }
    kv__journal_unlock(j);
    return st;
}
