/* journal_ops.c - the journal's money operations and their idempotency
 * keys, print jobs, webhook events and state transitions (journal.h);
 * the SQLite side, dispatching to journal_pg.c on PostgreSQL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/journal/journal.h"
#include "src/journal/journal_int.h"
#include "src/journal/journal_pg.h"
#include "src/journal/journal_sql.h"

static kv_op_result parse_result(const char *s)
{
    if (strcmp(s, "ok") == 0) return KV_OPR_OK;
    if (strcmp(s, "rejected") == 0) return KV_OPR_REJECTED;
    return KV_OPR_PENDING;
}

static const char *result_name(kv_op_result r)
{
    switch (r) {
    case KV_OPR_PENDING: return "pending";
    case KV_OPR_OK: return "ok";
    case KV_OPR_REJECTED: return "rejected";
    }
    return "pending";
}

static kv_op_kind parse_kind(const char *s)
{
    if (strcmp(s, "capture") == 0) return KV_OP_CAPTURE;
    if (strcmp(s, "refund") == 0) return KV_OP_REFUND;
    if (strcmp(s, "cancel") == 0) return KV_OP_CANCEL;
    return KV_OP_CREATE;
}

#define OP_COLS "id, reference, kind, seq, idem_key, amount, result, created_at, answered_at"

static void read_op(kv_journal_op *o, sqlite3_stmt *s)
{
    char buf[32];
    memset(o, 0, sizeof *o);
    o->id = sqlite3_column_int64(s, 0);
    col_str(o->reference, sizeof o->reference, s, 1);
    col_str(buf, sizeof buf, s, 2);
    o->kind = parse_kind(buf);
    o->seq = sqlite3_column_int(s, 3);
    col_str(o->idem_key, sizeof o->idem_key, s, 4);
    o->amount = sqlite3_column_int64(s, 5);
    col_str(buf, sizeof buf, s, 6);
    o->result = parse_result(buf);
    o->created_at = sqlite3_column_int64(s, 7);
    o->answered_at = sqlite3_column_int64(s, 8);
}

/* Row readers for collect_rows: dst is one element of the array. */
static void read_op_row(void *dst, sqlite3_stmt *s)
{
    read_op(dst, s);
}

static void read_transition_row(void *dst, sqlite3_stmt *s)
{
    kv_transition *t = dst;
    char buf[32];
    col_str(buf, sizeof buf, s, 0);
    if (kv_pay_state_parse(&t->from, buf))
        t->from = KV_PAY_NEW;
    col_str(buf, sizeof buf, s, 1);
    if (kv_pay_state_parse(&t->to, buf))
        t->to = KV_PAY_UNKNOWN;
    col_str(t->note, sizeof t->note, s, 2);
    t->at_ms = sqlite3_column_int64(s, 3);
}

static kv_journal_status op_last_locked(kv_journal *j, kv_journal_op *out, const char *ref, kv_op_kind kind)
{
    sqlite3_stmt *s = prep(j, "SELECT " OP_COLS " FROM operations WHERE reference=? AND kind=? ORDER BY seq DESC LIMIT 1");
    if (!s)
        return KV_J_E_SQL;
    bt(s, 1, ref);
    bt(s, 2, kv_op_kind_name(kind));
    int rc = sqlite3_step(s);
    kv_journal_status st = KV_J_OK;
    if (rc == SQLITE_ROW)
        read_op(out, s);
    else if (rc == SQLITE_DONE)
        st = KV_J_E_NOT_FOUND;
    else {
        set_err(j);
        st = KV_J_E_SQL;
    }
    done(j, s);
    return st;
}

/* ---- idempotency keys (flow) ------------------------------------- */

/* The key of an operation: "<reference>-<kind>-<seq>", at most 50
 * characters (the API's limit).  A reference too long for that keeps its
 * head and gets a 48-bit FNV-1a hash of the whole reference instead of
 * its tail, so two long references that share their first 40 characters
 * still get different keys (cutting them made the keys collide). */
static void make_idem_key(char *out, size_t len, const char *reference, kv_op_kind kind, int seq)
{
    char suffix[32];
    snprintf(suffix, sizeof suffix, "-%s-%d", kv_op_kind_name(kind), seq);
    int room = 50 - (int)strlen(suffix);
    int n = (int)strlen(reference);
    if (n <= room) {
        snprintf(out, len, "%s%s", reference, suffix);
        return;
    }
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *)reference; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    char tag[16];
    snprintf(tag, sizeof tag, "-%012llx", (unsigned long long)(h & 0xffffffffffffULL));
    snprintf(out, len, "%.*s%s%s", room - (int)strlen(tag), reference, tag, suffix);
}

kv_journal_status kv_journal_op_begin(kv_journal *j, kv_journal_op *out, const char *reference,
                                      kv_op_kind kind, int64_t amount)
{
    if (!j || !out || !reference || !*reference)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_op_begin(j->pg, out, reference, kind, amount);
    kv_journal_op last, op;
    kv_journal_status st = w_begin(j);
    if (st)
        return st;
    int wrote = 0;
    st = op_last_locked(j, &last, reference, kind);
    if (st == KV_J_OK && last.result == KV_OPR_PENDING && last.amount == amount) {
        /* an unanswered attempt: retry it with the same key */
        op = last;
        goto reuse;
    }
    if (st != KV_J_OK && st != KV_J_E_NOT_FOUND)
        goto rollback;
    memset(&op, 0, sizeof op);
    op.seq = st == KV_J_OK ? last.seq + 1 : 1;
    op.kind = kind;
    op.amount = amount;
    op.result = KV_OPR_PENDING;
    op.created_at = now_ms() / 1000;
    snprintf(op.reference, sizeof op.reference, "%s", reference);
    make_idem_key(op.idem_key, sizeof op.idem_key, reference, kind, op.seq);
    sqlite3_stmt *s = prep(j, "INSERT INTO operations(reference, kind, seq, idem_key, amount, result, created_at)"
                              " VALUES(?,?,?,?,?,'pending',?)");
    if (!s) {
        st = KV_J_E_SQL;
        goto rollback;
    }
    bt(s, 1, reference);
    bt(s, 2, kv_op_kind_name(kind));
    sqlite3_bind_int(s, 3, op.seq);
    bt(s, 4, op.idem_key);
    sqlite3_bind_int64(s, 5, amount);
    sqlite3_bind_int64(s, 6, op.created_at);
    int rc = sqlite3_step(s);
    done(j, s);
    if (rc != SQLITE_DONE) {
        set_err(j);
        st = KV_J_E_SQL;
        goto rollback;
    }
    op.id = sqlite3_last_insert_rowid(j->db);
    wrote = 1;
reuse:
    st = w_end(j, KV_J_OK, wrote);
    if (st == KV_J_OK)
        *out = op;
    return st;
rollback:
    return w_end(j, st, 0);
}

kv_journal_status kv_journal_op_finish(kv_journal *j, int64_t op_id, kv_op_result res)
{
    if (!j)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_op_finish(j->pg, op_id, res);
    kv_journal_status st = w_begin(j);
    if (st)
        return st;
    sqlite3_stmt *s = prep(j, "UPDATE operations SET result=?, answered_at=? WHERE id=?");
    if (!s) {
        st = KV_J_E_SQL;
    } else {
        bt(s, 1, result_name(res));
        sqlite3_bind_int64(s, 2, now_ms() / 1000);
        sqlite3_bind_int64(s, 3, op_id);
        if (sqlite3_step(s) != SQLITE_DONE) {
            set_err(j);
            st = KV_J_E_SQL;
        } else if (sqlite3_changes(j->db) == 0) {
            st = KV_J_E_NOT_FOUND;
        }
        done(j, s);
    }
    return w_end(j, st, 1);
}

kv_journal_status kv_journal_op_last(kv_journal *j, kv_journal_op *out, const char *reference, kv_op_kind kind)
{
    if (!j || !out || !reference)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_op_last(j->pg, out, reference, kind);
    kv_journal_op tmp;
    pthread_mutex_lock(&j->mu);
    kv_journal_status st = op_last_locked(j, &tmp, reference, kind);
    pthread_mutex_unlock(&j->mu);
    if (st == KV_J_OK)
        *out = tmp;
    return st;
}

kv_journal_status kv_journal_ops_pending(kv_journal *j, kv_journal_op **out, size_t *n, kv_op_kind kind)
{
    if (!j || !out || !n)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_ops_pending(j->pg, out, n, kind);
    pthread_mutex_lock(&j->mu);
    kv_journal_status st = KV_J_E_SQL;
    void *v = NULL;
    size_t cnt = 0;
    sqlite3_stmt *s = prep(j, "SELECT " OP_COLS " FROM operations WHERE kind=? AND result='pending' ORDER BY id");
    if (s) {
        bt(s, 1, kv_op_kind_name(kind));
        st = collect_rows(j, &v, &cnt, s, sizeof(kv_journal_op), read_op_row);
    }
    pthread_mutex_unlock(&j->mu);
    if (st == KV_J_OK) {
        *out = v;
        *n = cnt;
    }
    return st;
}

int kv_journal_op_count(kv_journal *j, const char *reference, kv_op_kind kind, int result)
{
    if (!j || !reference)
        return -1;
    if (j->pg)
        return kv_jpg_op_count(j->pg, reference, kind, result);
    pthread_mutex_lock(&j->mu);
    int n = -1;
    sqlite3_stmt *s = prep(j, result < 0 ? "SELECT count(*) FROM operations WHERE reference=? AND kind=?"
                                         : "SELECT count(*) FROM operations WHERE reference=? AND kind=? AND result=?");
    if (s) {
        bt(s, 1, reference);
        bt(s, 2, kv_op_kind_name(kind));
        if (result >= 0)
            bt(s, 3, result_name((kv_op_result)result));
        if (sqlite3_step(s) == SQLITE_ROW)
            n = sqlite3_column_int(s, 0);
        done(j, s);
    }
    pthread_mutex_unlock(&j->mu);
    return n;
}

kv_journal_status kv_journal_job_add(kv_journal *j, int64_t *id, const char *reference, kv_doc_kind doc,
                                     int copy, const char *printer)
{
    if (!j || !id || !reference)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_job_add(j->pg, id, reference, doc, copy, printer);
    kv_journal_status st = w_begin(j);
    if (st)
        return st;
    sqlite3_stmt *s = prep(j, "INSERT INTO print_jobs(reference, doc, state, copy, printer, created_at, updated_at)"
                              " VALUES(?,?,'queued',?,?,?,?)");
    if (!s) {
        st = KV_J_E_SQL;
    } else {
        int64_t now = now_ms() / 1000;
        bt(s, 1, reference);
        bt(s, 2, kv_doc_kind_name(doc));
        sqlite3_bind_int(s, 3, copy);
        bt(s, 4, printer);
        sqlite3_bind_int64(s, 5, now);
        sqlite3_bind_int64(s, 6, now);
        if (sqlite3_step(s) != SQLITE_DONE) {
            set_err(j);
            st = KV_J_E_SQL;
        } else {
            *id = sqlite3_last_insert_rowid(j->db);
        }
        done(j, s);
    }
    return w_end(j, st, 1);
}

kv_journal_status kv_journal_job_set(kv_journal *j, int64_t id, kv_pj_state state, const char *detail)
{
    if (!j)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_job_set(j->pg, id, state, detail);
    kv_journal_status st = w_begin(j);
    if (st)
        return st;
    sqlite3_stmt *s = prep(j, "UPDATE print_jobs SET state=?, detail=?, updated_at=? WHERE id=?");
    if (!s) {
        st = KV_J_E_SQL;
    } else {
        bt(s, 1, kv_pj_state_name(state));
        bt(s, 2, detail);
        sqlite3_bind_int64(s, 3, now_ms() / 1000);
        sqlite3_bind_int64(s, 4, id);
        if (sqlite3_step(s) != SQLITE_DONE) {
            set_err(j);
            st = KV_J_E_SQL;
        } else if (sqlite3_changes(j->db) == 0) {
            st = KV_J_E_NOT_FOUND;
        }
        done(j, s);
    }
    return w_end(j, st, 1);
}

static kv_pj_state parse_pj(const char *s)
{
    if (strcmp(s, "sent") == 0) return KV_PJ_SENT;
    if (strcmp(s, "confirmed") == 0) return KV_PJ_CONFIRMED;
    if (strcmp(s, "failed") == 0) return KV_PJ_FAILED;
    return KV_PJ_QUEUED;
}

static kv_doc_kind parse_doc(const char *s)
{
    if (strcmp(s, "receipt") == 0) return KV_DOC_RECEIPT;
    if (strcmp(s, "not-paid") == 0) return KV_DOC_NOT_PAID;
    if (strcmp(s, "refund") == 0) return KV_DOC_REFUND;
    return KV_DOC_SLIP;
}

kv_journal_status kv_journal_job_last(kv_journal *j, kv_print_job *out, const char *reference, kv_doc_kind doc)
{
    if (!j || !out || !reference)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_job_last(j->pg, out, reference, doc);
    pthread_mutex_lock(&j->mu);
    kv_journal_status st = KV_J_OK;
    sqlite3_stmt *s = prep(j, "SELECT id, reference, doc, state, copy, printer, detail, created_at, updated_at"
                              " FROM print_jobs WHERE reference=? AND doc=? ORDER BY id DESC LIMIT 1");
    if (!s) {
        st = KV_J_E_SQL;
    } else {
        bt(s, 1, reference);
        bt(s, 2, kv_doc_kind_name(doc));
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            kv_print_job pj;
            char buf[32];
            memset(&pj, 0, sizeof pj);
            pj.id = sqlite3_column_int64(s, 0);
            col_str(pj.reference, sizeof pj.reference, s, 1);
            col_str(buf, sizeof buf, s, 2);
            pj.doc = parse_doc(buf);
            col_str(buf, sizeof buf, s, 3);
            pj.state = parse_pj(buf);
            pj.copy = sqlite3_column_int(s, 4);
            col_str(pj.printer, sizeof pj.printer, s, 5);
            col_str(pj.detail, sizeof pj.detail, s, 6);
            pj.created_at = sqlite3_column_int64(s, 7);
            pj.updated_at = sqlite3_column_int64(s, 8);
            *out = pj;
        } else if (rc == SQLITE_DONE) {
            st = KV_J_E_NOT_FOUND;
        } else {
            set_err(j);
            st = KV_J_E_SQL;
        }
        done(j, s);
    }
    pthread_mutex_unlock(&j->mu);
    return st;
}

kv_journal_status kv_journal_add_event(kv_journal *j, const char *reference, const char *name, const char *body)
{
    if (!j || !reference || !name)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_add_event(j->pg, reference, name, body);
    kv_journal_status st = w_begin(j);
    if (st)
        return st;
    sqlite3_stmt *s = prep(j, "INSERT INTO webhook_events(reference, name, body, received_ms) VALUES(?,?,?,?)");
    if (!s) {
        st = KV_J_E_SQL;
    } else {
        bt(s, 1, reference);
        bt(s, 2, name);
        bt(s, 3, body);
        sqlite3_bind_int64(s, 4, now_ms());
        if (sqlite3_step(s) != SQLITE_DONE) {
            set_err(j);
            st = KV_J_E_SQL;
        }
        done(j, s);
    }
    if (st == KV_J_OK)
        st = kv__journal_feed_insert(j, reference, "webhook", "", name);
    return w_end(j, st, 1);
}

int kv_journal_event_count(kv_journal *j, const char *reference)
{
    if (!j || !reference)
        return -1;
    if (j->pg)
        return kv_jpg_event_count(j->pg, reference);
    pthread_mutex_lock(&j->mu);
    int n = -1;
    sqlite3_stmt *s = prep(j, "SELECT count(*) FROM webhook_events WHERE reference=?");
    if (s) {
        bt(s, 1, reference);
        if (sqlite3_step(s) == SQLITE_ROW)
            n = sqlite3_column_int(s, 0);
        done(j, s);
    }
    pthread_mutex_unlock(&j->mu);
    return n;
}

kv_journal_status kv_journal_transitions(kv_journal *j, kv_transition **out, size_t *n, const char *reference)
{
    if (!j || !out || !n || !reference)
        return KV_J_E_ARG;
    if (j->pg)
        return kv_jpg_transitions(j->pg, out, n, reference);
    pthread_mutex_lock(&j->mu);
    kv_journal_status st = KV_J_E_SQL;
    void *v = NULL;
    size_t cnt = 0;
    sqlite3_stmt *s = prep(j, "SELECT from_state, to_state, note, at_ms FROM transitions WHERE reference=? ORDER BY id");
    if (s) {
        bt(s, 1, reference);
        st = collect_rows(j, &v, &cnt, s, sizeof(kv_transition), read_transition_row);
    }
    pthread_mutex_unlock(&j->mu);
    if (st == KV_J_OK) {
        *out = v;
        *n = cnt;
    }
    return st;
}
