/* journal_feed.c - each payment's numbered event feed (journal.h): the
 * SQLite side, dispatching to journal_pg.c on PostgreSQL.  The numbers
 * are the journal's, so every process and every daemon of a chain that
 * reads a payment's feed sees the same events under the same numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/journal/journal.h"
#include "src/journal/journal_int.h"
#include "src/journal/journal_pg.h"
#include "src/journal/journal_sql.h"

kv_journal_status kv__journal_feed_insert(kv_journal *j, const char *reference, const char *type,
                                          const char *state, const char *message)
{
    /* the next number of this reference: one writer at a time holds the
     * database (and j->mu), so max + 1 is free */
    sqlite3_stmt *s = prep(j, "INSERT INTO feed_events(reference, seq, type, state, message, at_ms)"
                              " SELECT ?1, coalesce(max(seq), 0) + 1, ?2, ?3, ?4, ?5 FROM feed_events"
                              " WHERE reference=?1");
    if (!s)
        return KV_J_E_SQL;
    bt(s, 1, reference);
    bt(s, 2, type);
    bt(s, 3, state);
    bt(s, 4, message);
    sqlite3_bind_int64(s, 5, now_ms());
    return step_write(j, s);
}

static int final_name(const char *state)
{
    kv_pay_state ps;
    return state && kv_pay_state_parse(&ps, state) == 0 && kv_pay_state_final(ps);
}

kv_journal_status kv__journal_feed_transition(kv_journal *j, const char *reference, const char *from,
                                              const char *to, const char *note)
{
    kv_journal_status st = kv__journal_feed_insert(j, reference, "state", to, note);
    if (st == KV_J_OK && final_name(to) && !final_name(from))
        st = kv__journal_feed_insert(j, reference, "result", to, note);
    return st;
}

kv_journal_status kv_journal_feed_add(kv_journal *j, const char *reference, const char *type,
                                      const char *state, const char *message)
{
    if (!j || !reference || !*reference || !type || !*type)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_feed_add(j->pg, reference, type, state ? state : "", message ? message : "");
    kv_journal_status st = w_begin(j);
    if (st)
        return st;
    st = kv__journal_feed_insert(j, reference, type, state, message);
    return w_end(j, st, 1);
}

static void read_feed_row(void *dst, sqlite3_stmt *s)
{
    kv_feed_event *e = dst;
    e->seq = sqlite3_column_int(s, 0);
    col_str(e->type, sizeof e->type, s, 1);
    col_str(e->state, sizeof e->state, s, 2);
    col_str(e->message, sizeof e->message, s, 3);
    e->at_ms = sqlite3_column_int64(s, 4);
}

kv_journal_status kv_journal_feed_read(kv_journal *j, const char *reference, int after, int limit,
                                       kv_feed_event **out, size_t *n)
{
    if (!j || !reference || !out || !n || after < 0)
        return KV_J_E_ARG;
    if (limit <= 0)
        limit = 1000;
    if (j->pg)
        return kv_jpg_feed_read(j->pg, reference, after, limit, out, n);
    kv__journal_lock(j);
    kv_journal_status st = KV_J_E_SQL;
    void *v = NULL;
    size_t cnt = 0;
    sqlite3_stmt *s = prep(j, "SELECT seq, type, state, message, at_ms FROM feed_events"
                              " WHERE reference=? AND seq>? ORDER BY seq LIMIT ?");
    if (s) {
        bt(s, 1, reference);
        sqlite3_bind_int(s, 2, after);
        sqlite3_bind_int(s, 3, limit);
        st = collect_rows(j, &v, &cnt, s, sizeof(kv_feed_event), read_feed_row);
    }
    kv__journal_unlock(j);
    if (st == KV_J_OK) {
        *out = v;
        *n = cnt;
    }
    return st;
}
