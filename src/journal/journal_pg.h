/*
 * journal_pg.h - the PostgreSQL backend of the journal (internal).
 *
 * journal.c keeps the public API (journal.h) and hands every call on a
 * handle opened with a PostgreSQL DSN to the functions below; they have
 * the same contracts as their kv_journal_* counterparts, with these
 * differences:
 *   - group commit as on SQLite: every write call (and every batch) is a
 *     unit, a savepoint in a transaction shared by the threads writing at
 *     the same time on one of the handle's connections; a call returns
 *     once the shared COMMIT answered (durable when the server's
 *     synchronous_commit says so, which is on by default); a failed COMMIT
 *     fails every unit in it, a unit's own failure only that unit.  Row
 *     locks are held until the shared COMMIT: a unit that joins others
 *     waits for a lock at most a few ms and then runs again heading a
 *     transaction of its own, so no two groups (of this process, another
 *     daemon or a batch) can deadlock; a batch always heads its group
 *     (journal_pg_int.h).  Other threads see a unit's rows only once
 *     committed (each group has its own connection);
 *   - a call that finds the connection gone reconnects once; when that
 *     fails (or the connection breaks during the call) it returns
 *     KV_J_E_CONN and changes nothing it has not reported; a COMMIT whose
 *     answer was lost returns KV_J_E_CONN too (outcome unknown: the flow
 *     treats it as a journal failure and moves no money);
 *   - several processes on several machines may use the same database:
 *     operation keys and payments are protected by unique constraints and
 *     op_begin locks the payment row (SELECT ... FOR UPDATE).
 * Thread-safety: one handle may be used from several threads: each read
 * takes one of the handle's connections (kv_jpg_set_pool), each group one
 * for its transaction; a batch keeps its group's for the thread that
 * began it.
 */
#ifndef KV_JOURNAL_PG_H
#define KV_JOURNAL_PG_H

#include "src/journal/journal.h"
#include "src/journal/pgconn.h"

typedef struct kv_jpg kv_jpg;

kv_journal_status kv_jpg_open(kv_jpg **out, const char *dsn, char *err, size_t errlen);
void kv_jpg_close(kv_jpg *p);
/* Connections of the handle (1..32, default 4): each read takes one for
 * its query, each group of write units (and each batch) one until its
 * COMMIT. */
void kv_jpg_set_pool(kv_jpg *p, int n);
const char *kv_jpg_errmsg(kv_jpg *p);
void kv_jpg_stats_get(kv_jpg *p, kv_journal_stats *out);
kv_journal_status kv_jpg_batch_begin(kv_jpg *p);
kv_journal_status kv_jpg_batch_end(kv_jpg *p, int commit);
kv_journal_status kv_jpg_add_payment(kv_jpg *p, const kv_payment *pay);
kv_journal_status kv_jpg_get_payment(kv_jpg *p, kv_payment *out, const char *reference);
kv_journal_status kv_jpg_update_payment(kv_jpg *p, const kv_payment *pay, const char *note);
kv_journal_status kv_jpg_op_begin(kv_jpg *p, kv_journal_op *out, const char *reference,
                                  kv_op_kind kind, int64_t amount);
kv_journal_status kv_jpg_op_finish(kv_jpg *p, int64_t op_id, kv_op_result res);
kv_journal_status kv_jpg_op_last(kv_jpg *p, kv_journal_op *out, const char *reference, kv_op_kind kind);
kv_journal_status kv_jpg_ops_pending(kv_jpg *p, kv_journal_op **out, size_t *n, kv_op_kind kind);
int kv_jpg_op_count(kv_jpg *p, const char *reference, kv_op_kind kind, int result);
kv_journal_status kv_jpg_job_add(kv_jpg *p, int64_t *id, const char *reference, kv_doc_kind doc,
                                 int copy, const char *printer);
kv_journal_status kv_jpg_job_set(kv_jpg *p, int64_t id, kv_pj_state st, const char *detail);
kv_journal_status kv_jpg_job_last(kv_jpg *p, kv_print_job *out, const char *reference, kv_doc_kind doc);
kv_journal_status kv_jpg_add_event(kv_jpg *p, const char *reference, const char *name, const char *body);
int kv_jpg_event_count(kv_jpg *p, const char *reference);
kv_journal_status kv_jpg_feed_add(kv_jpg *p, const char *reference, const char *type, const char *state,
                                  const char *message);
kv_journal_status kv_jpg_feed_read(kv_jpg *p, const char *reference, int after, int limit,
                                   kv_feed_event **out, size_t *n);
kv_journal_status kv_jpg_transitions(kv_jpg *p, kv_transition **out, size_t *n, const char *reference);
kv_journal_status kv_jpg_find(kv_jpg *p, kv_payment **out, size_t *n, const kv_journal_query *q);
kv_journal_status kv_jpg_om_add(kv_jpg *p, const char *reference, const char *store_id);
kv_journal_status kv_jpg_om_get(kv_jpg *p, kv_om_entry *out, const char *reference);
kv_journal_status kv_jpg_om_due(kv_jpg *p, int64_t now, kv_om_entry **out, size_t *n);
kv_journal_status kv_jpg_om_set(kv_jpg *p, const char *reference, kv_om_state state, int attempts,
                                int64_t next_at, const char *detail);
kv_journal_status kv_jpg_ping(kv_jpg *p);
kv_journal_status kv_jpg_lock_ref(kv_jpg *p, const char *reference, int try);
void kv_jpg_unlock_ref(kv_jpg *p, const char *reference);

/* ---- for the journal's other tables on PostgreSQL (journal_report_pg.c,
 * journal_proxy_pg.c): statements on one of the handle's connections ---- */

typedef struct pconn kv_jpg_conn;

/* Parameters of one statement: up to 20, numbers formatted in place. */
typedef struct kv_jpg_params {
    const char *v[20];
    char num[20][24];
    int n;
} kv_jpg_params;
/* Append a text (NULL = "") / a number. */
void kv_jpg_param_str(kv_jpg_params *pv, const char *s);
void kv_jpg_param_int(kv_jpg_params *pv, int64_t x);

/* Run body(c, arg) as one write unit, as the calls above make theirs: a
 * savepoint of a group-committed transaction (or of this thread's batch),
 * durable when this returns KV_J_OK, undone otherwise.  body may run twice
 * (the first attempt undone; see kv_jpg_with), so it only sets outputs in
 * arg; it returns kv_jpg_exec's status for a failed statement. */
typedef kv_journal_status (*kv_jpg_unit_fn)(kv_jpg_conn *c, void *arg);
kv_journal_status kv_jpg_unit(kv_jpg *p, kv_jpg_unit_fn body, void *arg);
/* A connection for reads (connected; this thread's batch's when one is
 * open); NULL with *st set when the database cannot be reached.  Give it
 * back with kv_jpg_read_end. */
kv_jpg_conn *kv_jpg_read_begin(kv_jpg *p, kv_journal_status *st);
void kv_jpg_read_end(kv_jpg_conn *c);
/* Run sql with pv (may be NULL).  KV_J_OK with *out (may be NULL; the
 * caller PQclear()s it) set; else KV_J_E_CONN (connection lost),
 * KV_J_E_EXISTS (a unique constraint) or KV_J_E_SQL, with the handle's
 * error message set. */
kv_journal_status kv_jpg_exec(kv_jpg_conn *c, PGresult **out, const char *sql, const kv_jpg_params *pv);

/* One UPDATE as a write unit: KV_J_E_NOT_FOUND when it changed no row. */
kv_journal_status kv_jpg_update_one(kv_jpg *p, const char *sql, const kv_jpg_params *pv);

/* Rows of the journal's own tables: the payment columns in the order
 * kv_jpg_read_payment reads them, and the operation columns of
 * kv_jpg_read_op (columns 0..8 of a row; more may follow). */
#define KV_JPG_PAY_COLS "reference, store_id, msn, till_id, flow, currency, amount, captured, refunded, state," \
                        " api_state, psp_reference, reason, description, items_json, qr_url, created_at," \
                        " updated_at, expires_at"
#define KV_JPG_OP_COLS "id, reference, kind, seq, idem_key, amount, result, created_at, answered_at"
void kv_jpg_read_payment(kv_payment *o, const PGresult *r, int row);
void kv_jpg_read_op(kv_journal_op *o, const PGresult *r, int row);
/* Text column c of row into dst (len bytes; NULL -> ""). */
void kv_jpg_col(char *dst, size_t len, const PGresult *r, int row, int c);

/* The journal's migrations (journal_pg_schema.c). */

/* For the journal's other PostgreSQL files (journal_sticker_pg.c): run
 * fn(p, c, arg) on one of the handle's connections, connected.  write = 1:
 * inside one write unit (a savepoint of a group-committed transaction, or
 * of the thread's batch), durable when the call returns KV_J_OK and undone
 * otherwise (a failed COMMIT is the call's failure); fn may run twice
 * (the first attempt undone, when a row lock it met was taken and the
 * unit is moved to the head of a fresh transaction), so it only sets its
 * outputs in arg, never adds to them; fn returns kv_jpg_result_status's
 * answer for a failed statement.  write = 0: a plain read.  The
 * status of a failed result r on c, with its message recorded for
 * kv_jpg_errmsg: kv_jpg_result_status (KV_J_E_CONN when the connection is
 * gone, KV_J_E_EXISTS for a unique violation, else KV_J_E_SQL). */
typedef kv_journal_status (*kv_jpg_fn)(kv_jpg *p, PGconn *c, void *arg);
kv_journal_status kv_jpg_with(kv_jpg *p, int write, kv_jpg_fn fn, void *arg);
kv_journal_status kv_jpg_result_status(kv_jpg *p, PGconn *c, const PGresult *r);
/* Every row of the result r (cleared here) read into a malloc'd array of
 * elem-byte elements: *out (free(); NULL when there are none) and *n. */
kv_journal_status kv_jpg_rows(PGresult *r, void **out, size_t *n, size_t elem,
                              void (*read)(void *dst, const PGresult *r, int i));
extern const kv_pg_schema kv_jpg_schema;

#endif
