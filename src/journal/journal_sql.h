/* journal_sql.h - internal: the short helpers that every SQLite part of the
 * journal (journal.c, journal_ops.c, journal_om.c, journal_report.c) uses
 * around its statements.  Not installed. */
#ifndef KV_JOURNAL_SQL_H
#define KV_JOURNAL_SQL_H

#include <stdio.h>

#include "src/journal/journal_int.h"

/* The payment columns, in the order kv__journal_read_payment reads them. */
#define PAY_COLS "reference, store_id, msn, till_id, flow, currency, amount, captured, refunded, state," \
                 " api_state, psp_reference, reason, description, items_json, qr_url, created_at, updated_at, expires_at"

static inline int64_t now_ms(void)
{
    return kv__journal_now_ms();
}

static inline void set_err(kv_journal *j)
{
    kv__journal_set_err(j);
}

/* The statement cache and the write units are journal_tx.c's. */
static inline sqlite3_stmt *prep(kv_journal *j, const char *sql)
{
    return kv__journal_prep(j, sql);
}

static inline void done(kv_journal *j, sqlite3_stmt *st)
{
    kv__journal_done(j, st);
}

static inline kv_journal_status w_begin(kv_journal *j)
{
    return kv__journal_w_begin(j);
}

static inline kv_journal_status w_end(kv_journal *j, kv_journal_status st, int wrote)
{
    return kv__journal_w_end(j, st, wrote);
}

static inline void bt(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

static inline void col_str(char *dst, size_t len, sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    snprintf(dst, len, "%s", t ? (const char *)t : "");
}

/* Step a bound write statement to its end and release it: KV_J_OK, or
 * KV_J_E_SQL with the error recorded. */
static inline kv_journal_status step_write(kv_journal *j, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    kv__journal_done(j, s);
    if (rc != SQLITE_DONE) {
        kv__journal_set_err(j);
        return KV_J_E_SQL;
    }
    return KV_J_OK;
}

static inline kv_journal_status collect_rows(kv_journal *j, void **out, size_t *n, sqlite3_stmt *s, size_t elem,
                                             void (*read)(void *dst, sqlite3_stmt *s))
{
    return kv__journal_collect_rows(j, out, n, s, elem, read);
}

#endif
