/*
 * journal_pg.h - the PostgreSQL backend of the journal (internal).
 *
 * journal.c keeps the public API (journal.h) and hands every call on a
 * handle opened with a PostgreSQL DSN to the functions below; they have
 * the same contracts as their kv_journal_* counterparts, with these
 * differences:
 *   - every write call outside a batch is one transaction (BEGIN ...
 *     COMMIT on the server, durable when the server's synchronous_commit
 *     says so, which is on by default); a batch is one transaction and
 *     each call in it a savepoint, as on SQLite;
 *   - a call that finds the connection gone reconnects once; when that
 *     fails (or the connection breaks during the call) it returns
 *     KV_J_E_CONN and changes nothing it has not reported; a COMMIT whose
 *     answer was lost returns KV_J_E_CONN too (outcome unknown: the flow
 *     treats it as a journal failure and moves no money);
 *   - several processes on several machines may use the same database:
 *     operation keys and payments are protected by unique constraints and
 *     op_begin locks the payment row (SELECT ... FOR UPDATE).
 * Thread-safety: one handle may be used from several threads: each call
 * takes one of the handle's connections (kv_jpg_set_pool), a batch keeps
 * its connection for the thread that began it.
 */
#ifndef KV_JOURNAL_PG_H
#define KV_JOURNAL_PG_H

#include "src/journal/journal.h"

typedef struct kv_jpg kv_jpg;

kv_journal_status kv_jpg_open(kv_jpg **out, const char *dsn, char *err, size_t errlen);
void kv_jpg_close(kv_jpg *p);
/* Connections of the handle (1..32, default 4): write units and reads run
 * on as many connections at once, each batch on its own. */
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

/* The journal's migrations (journal_pg_schema.c). */
#include "src/journal/pgconn.h"
extern const kv_pg_schema kv_jpg_schema;

#endif
