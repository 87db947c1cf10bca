/*
 * journal_report_pg.h - the back office's tables on a PostgreSQL journal
 * (internal).  journal_report.c hands every call on a PostgreSQL handle to
 * these; they keep the contracts of journal_report.h, with the PostgreSQL
 * backend's rules (journal_pg.h: a write is one transaction, or a
 * savepoint inside the thread's batch; KV_J_E_CONN when the database
 * cannot be reached) and these for several instances on one database:
 *   - a Z close locks its till's row of z_tills (SELECT ... FOR UPDATE)
 *     and takes MAX(z_number) + 1 of the till under that lock, so closes
 *     of one till are serialised across processes and machines: numbers
 *     are gapless and never repeat (UNIQUE(store, till, z_number) and the
 *     day's primary key stand behind it);
 *   - feed entries are kept once (UNIQUE ... ON CONFLICT DO NOTHING), the
 *     cursor is stored with them in the same transaction.
 */
#ifndef KV_JOURNAL_REPORT_PG_H
#define KV_JOURNAL_REPORT_PG_H

#include "src/journal/journal_pg.h"
#include "src/journal/journal_report.h"

kv_journal_status kv_jrpg_each_payment(kv_jpg *p, int64_t from, int64_t to, kv_journal_pay_fn fn, void *user);
kv_journal_status kv_jrpg_each_money_op(kv_jpg *p, int64_t from, int64_t to, kv_journal_money_fn fn,
                                        void *user);
kv_journal_status kv_jrpg_z_get(kv_jpg *p, const char *store, const char *till, const char *day,
                                int64_t *z_number, int64_t *closed_at, int *printed, char **figures);
kv_journal_status kv_jrpg_z_each(kv_jpg *p, const char *day, kv_journal_z_fn fn, void *user);
kv_journal_status kv_jrpg_z_printed(kv_jpg *p, const char *store, const char *till, const char *day);
kv_journal_status kv_jrpg_z_close(kv_jpg *p, const char *store, const char *till, const char *day,
                                  int64_t closed_at, const char *figures, int64_t *z_number, int *existed);
kv_journal_status kv_jrpg_feed_cursor(kv_jpg *p, const char *ledger, const char *topic, char *cursor,
                                      size_t len);
kv_journal_status kv_jrpg_feed_store(kv_jpg *p, const char *ledger, const char *topic,
                                     const kv_ledger_entry *e, size_t n, const char *next_cursor,
                                     size_t *added);
kv_journal_status kv_jrpg_feed_entries(kv_jpg *p, const char *ledger, const char *topic,
                                       const char *ledger_date, kv_ledger_entry **out, size_t *n);
kv_journal_status kv_jrpg_feed_count(kv_jpg *p, const char *ledger, const char *topic,
                                     const char *ledger_date, int64_t *n);

#endif
