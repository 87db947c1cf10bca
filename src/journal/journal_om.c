/* journal_om.c - the Order Management receipt outbox (journal.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/journal/journal.h"
#include "src/journal/journal_int.h"
#include "src/journal/journal_pg.h"
#include "src/journal/journal_sql.h"

/* ---- Order Management receipt outbox (flow) ------------------------ */

static const char *const om_state_names[] = { "pending", "delivered", "skipped" };

const char *kv_om_state_name(kv_om_state st)
{
    return (unsigned)st <= KV_OM_SKIPPED ? om_state_names[st] : "pending";
}

static void read_om_row(void *dst, sqlite3_stmt *s)
{
    kv_om_entry *o = dst;
    memset(o, 0, sizeof *o);
    col_str(o->reference, sizeof o->reference, s, 0);
    col_str(o->store_id, sizeof o->store_id, s, 1);
    char st[16];
    col_str(st, sizeof st, s, 2);
    o->state = !strcmp(st, "delivered") ? KV_OM_DELIVERED : !strcmp(st, "skipped") ? KV_OM_SKIPPED : KV_OM_PENDING;
    o->attempts = sqlite3_column_int(s, 3);
    o->next_at = sqlite3_column_int64(s, 4);
    col_str(o->detail, sizeof o->detail, s, 5);
}

#define OM_COLS "reference, store_id, state, attempts, next_at, detail"

/* Step a bound INSERT/UPDATE (j->mu held) and release it: KV_J_OK, or
 * KV_J_E_SQL with the error recorded, or KV_J_E_NOT_FOUND when need_row
 * and no row changed. */
static kv_journal_status om_step(kv_journal *j, sqlite3_stmt *s, int need_row)
{
    kv_journal_status st = KV_J_OK;
    if (sqlite3_step(s) != SQLITE_DONE) {
        set_err(j);
        st = KV_J_E_SQL;
    } else if (need_row && sqlite3_changes(j->db) == 0) {
        st = KV_J_E_NOT_FOUND;
    }
    done(j, s);
    return st;
}

kv_journal_status kv_journal_om_add(kv_journal *j, const char *reference, const char *store_id)
{
    if (!j || !reference || !store_id)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_om_add(j->pg, reference, store_id);
    kv_journal_status st = w_begin(j);
    if (st)
        return st;
    sqlite3_stmt *s = prep(j, "INSERT OR IGNORE INTO om_outbox(reference, store_id, state, created_at, updated_at)"
                              " VALUES(?,?,'pending',?,?)");
    if (!s) {
        st = KV_J_E_SQL;
    } else {
        int64_t now = now_ms() / 1000;
        bt(s, 1, reference);
        bt(s, 2, store_id);
        sqlite3_bind_int64(s, 3, now);
        sqlite3_bind_int64(s, 4, now);
        st = om_step(j, s, 0);
    }
    return w_end(j, st, 1);
}

kv_journal_status kv_journal_om_get(kv_journal *j, kv_om_entry *out, const char *reference)
{
    if (!j || !out || !reference)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_om_get(j->pg, out, reference);
    pthread_mutex_lock(&j->mu);
    kv_journal_status st = KV_J_E_SQL;
    void *v = NULL;
    size_t n = 0;
    sqlite3_stmt *s = prep(j, "SELECT " OM_COLS " FROM om_outbox WHERE reference=?");
    if (s) {
        bt(s, 1, reference);
        st = collect_rows(j, &v, &n, s, sizeof(kv_om_entry), read_om_row);
    }
    pthread_mutex_unlock(&j->mu);
    if (st == KV_J_OK && n == 0)
        st = KV_J_E_NOT_FOUND;
    if (st == KV_J_OK)
        *out = *(kv_om_entry *)v;
    free(v);
    return st;
}

kv_journal_status kv_journal_om_due(kv_journal *j, int64_t now, kv_om_entry **out, size_t *n)
{
    if (!j || !out || !n)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_om_due(j->pg, now, out, n);
    pthread_mutex_lock(&j->mu);
    kv_journal_status st = KV_J_E_SQL;
    void *v = NULL;
    size_t cnt = 0;
    sqlite3_stmt *s = prep(j, "SELECT " OM_COLS " FROM om_outbox WHERE state='pending' AND next_at<=?"
                              " ORDER BY created_at, reference");
    if (s) {
        sqlite3_bind_int64(s, 1, now);
        st = collect_rows(j, &v, &cnt, s, sizeof(kv_om_entry), read_om_row);
    }
    pthread_mutex_unlock(&j->mu);
    if (st == KV_J_OK) {
        *out = v;
        *n = cnt;
    }
    return st;
}

kv_journal_status kv_journal_om_set(kv_journal *j, const char *reference, kv_om_state state, int attempts,
                                    int64_t next_at, const char *detail)
{
    if (!j || !reference)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_om_set(j->pg, reference, state, attempts, next_at, detail);
    kv_journal_status st = w_begin(j);
    if (st)
        return st;
    sqlite3_stmt *s = prep(j, "UPDATE om_outbox SET state=?, attempts=?, next_at=?, detail=?, updated_at=?"
                              " WHERE reference=?");
    if (!s) {
        st = KV_J_E_SQL;
    } else {
        bt(s, 1, kv_om_state_name(state));
        sqlite3_bind_int(s, 2, attempts);
        sqlite3_bind_int64(s, 3, next_at);
        bt(s, 4, detail ? detail : "");
        sqlite3_bind_int64(s, 5, now_ms() / 1000);
        bt(s, 6, reference);
        st = om_step(j, s, 1);
    }
    return w_end(j, st, 1);
}
