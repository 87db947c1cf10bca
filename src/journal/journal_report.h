/*
 * journal_report.h - the back office's part of the journal: day queries
 * for the X/Z report, the Z numbers of closed days, and the Report API feed
 * (entries and cursor) kept by `kvitt reconcile`.
 *
 * Same handle, file, locking and thread rules as journal.h; the tables
 * (z_reports, ledger_feed, ledger_entries) are created on first use in a
 * SQLite file, by the schema migrations on PostgreSQL, where several
 * instances of a chain share them (journal_report_pg.h says how Z numbers
 * stay gapless across them).  Times are unix seconds.  Nothing here
 * changes a payment.
 */
#ifndef KV_JOURNAL_REPORT_H
#define KV_JOURNAL_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "src/journal/journal.h"

/* Call fn for every payment created in [from, to), oldest first.  The row
 * is borrowed for the call.  fn returns 0 to go on, non-zero to stop
 * (then KV_J_OK is returned too). */
typedef int (*kv_journal_pay_fn)(void *user, const kv_payment *p);
kv_journal_status kv_journal_each_payment(kv_journal *j, int64_t from, int64_t to,
                                          kv_journal_pay_fn fn, void *user);

/* A capture or refund the service accepted, with its payment's store. */
typedef struct kv_journal_money_row {
    kv_journal_op op;
    char store_id[64];
    char till_id[64];
    char msn[16];
    char currency[4];
    char psp_reference[128];  /* the payment's pspReference as journaled */
    int64_t at;               /* when the answer came (created_at when none) */
} kv_journal_money_row;

/* Call fn for every capture and refund with result OK answered in
 * [from, to), oldest first.  Same callback rules as above. */
typedef int (*kv_journal_money_fn)(void *user, const kv_journal_money_row *r);
kv_journal_status kv_journal_each_money_op(kv_journal *j, int64_t from, int64_t to,
                                           kv_journal_money_fn fn, void *user);

/* ---- Z numbers ---------------------------------------------------------- */

/* The Z report of (store, till, day "YYYY-MM-DD"): its number, when it was
 * closed, how often it was printed, and the figures frozen then (JSON text,
 * malloc'd, free()).  Every out pointer may be NULL.  KV_J_E_NOT_FOUND when
 * the day is not closed. */
kv_journal_status kv_journal_z_get(kv_journal *j, const char *store, const char *till, const char *day,
                                   int64_t *z_number, int64_t *closed_at, int *printed, char **figures);

/* Call fn(user, store, till, z_number) for every till closed on day. */
typedef int (*kv_journal_z_fn)(void *user, const char *store, const char *till, int64_t z_number);
kv_journal_status kv_journal_z_each(kv_journal *j, const char *day, kv_journal_z_fn fn, void *user);

/* Count one print of a closed day (the first is the original, every later
 * one is a COPY).  KV_J_E_NOT_FOUND when the day is not closed. */
kv_journal_status kv_journal_z_printed(kv_journal *j, const char *store, const char *till, const char *day);

/* Close the day: give it the next Z number of (store, till) (1 for the
 * first) and keep the figures, in one transaction.  When the day is
 * already closed nothing changes, *existed is 1 and *z_number is its
 * number.  Z numbers of a till never repeat and never go back. */
kv_journal_status kv_journal_z_close(kv_journal *j, const char *store, const char *till, const char *day,
                                     int64_t closed_at, const char *figures, int64_t *z_number,
                                     int *existed);

/* ---- Report API feed ---------------------------------------------------- */

/* One ledger entry of the Report API (funds or fees).  Value struct. */
typedef struct kv_ledger_entry {
    char ledger_id[32];
    char topic[8];            /* funds | fees */
    char psp_reference[64];
    char reference[64];
    char entry_type[32];      /* capture, refund, capture-fee, fees-retained, payout-scheduled, ... */
    int64_t amount;           /* minor units, signed as Vipps gives it */
    char currency[4];
    char ledger_date[11];     /* YYYY-MM-DD */
    char time[40];            /* RFC 3339 */
    char recipient[32];       /* recipientHandle, e.g. "api:123456" */
} kv_ledger_entry;

/* The journaled feed cursor of (ledger, topic) into cursor ("" when the
 * feed was never read). */
kv_journal_status kv_journal_feed_cursor(kv_journal *j, const char *ledger, const char *topic,
                                         char *cursor, size_t len);

/* Keep one page of the feed: the entries (an entry seen before is not
 * added twice) and the cursor after them, in one transaction, so a crash
 * leaves either both or neither.  *added (may be NULL) counts new rows. */
kv_journal_status kv_journal_feed_store(kv_journal *j, const char *ledger, const char *topic,
                                        const kv_ledger_entry *e, size_t n, const char *next_cursor,
                                        size_t *added);

/* The journaled entries of (ledger, topic, ledger date), in feed order.
 * *out malloc'd (free()), *n set. */
kv_journal_status kv_journal_feed_entries(kv_journal *j, const char *ledger, const char *topic,
                                          const char *ledger_date, kv_ledger_entry **out, size_t *n);

/* Number of journaled entries of (ledger, topic), and of those with a
 * ledger date (NULL = all). */
kv_journal_status kv_journal_feed_count(kv_journal *j, const char *ledger, const char *topic,
                                        const char *ledger_date, int64_t *n);

#endif
