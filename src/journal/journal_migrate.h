/*
 * journal_migrate.h - moving a shop's SQLite journal into a chain's
 * PostgreSQL journal, and bringing a PostgreSQL schema up to date.
 *
 * kv_journal_migrate copies every table of the SQLite file (payments,
 * transitions, operations, print jobs, webhook events, the Order
 * Management outbox, the daemon's idempotency keys and webhook
 * registrations, the back office's Z reports and Report API feed, and the
 * proxy's held jobs, and the stickers) into the database, in batches of one transaction each.
 * Each copied row leaves a marker (kvitt_migrated: source file, table,
 * SQLite rowid) in the same transaction, so a migration that stops half way
 * resumes after the last batch, and a second run copies nothing twice.
 * Rows whose natural key is already there (a payment's reference, an
 * operation's idempotency key, a till's Idempotency-Key, a webhook id, a
 * till's Z report of a day or its Z number, a feed's cursor or entry) are
 * not overwritten.  At the end the copy is verified: per table the number
 * of rows in the file equals the number of markers, and the payments'
 * amount, captured and refunded sums and the operations' amount sum are
 * the same in both.  The SQLite file is only read.
 *
 * The database's schemas must exist: the caller opens the journal and the
 * daemon's tables on the DSN first (kv_journal_open, kv_sdb_open), which
 * applies their migrations.
 */
#ifndef KV_JOURNAL_MIGRATE_H
#define KV_JOURNAL_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "src/journal/journal.h"

typedef struct kv_migrate_table {
    const char *name;
    int64_t source_rows;     /* rows in the SQLite file */
    int64_t copied;          /* rows copied by this run */
    int64_t marked;          /* markers for this source after the run */
} kv_migrate_table;

typedef struct kv_migrate_report {
    kv_migrate_table tables[16];
    int ntables;
    int64_t sums_source[4];  /* payments amount, captured, refunded; operations amount */
    int64_t sums_target[4];
    int verified;            /* 1: counts and sums agree */
} kv_migrate_report;

/* Copy the SQLite journal at path into the PostgreSQL database dsn.
 * progress (may be NULL) is called after each batch.  KV_J_OK when the
 * copy is complete and verified (rep->verified = 1); KV_J_E_SQL with err
 * set when it does not verify or a statement failed (what was committed
 * stays: run it again to resume); KV_J_E_OPEN / KV_J_E_CONN when either
 * side cannot be opened or reached. */
kv_journal_status kv_journal_migrate(const char *path, const char *dsn, kv_migrate_report *rep,
                                     void (*progress)(const char *table, int64_t done, int64_t total,
                                                      void *user),
                                     void *user, char *err, size_t errlen);

/* Apply the journal's schema migrations on dsn (as kv_journal_open does)
 * and say which versions were found and are now in place. */
kv_journal_status kv_journal_upgrade(const char *dsn, int *from, int *to, char *err, size_t errlen);

#endif
