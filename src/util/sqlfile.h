/*
 * sqlfile.h - set up a SQLite file that several processes may create at the
 * same moment (the journal, the daemon's idempotency tables, the cashier
 * page's sessions all live in one file).
 *
 * kv_sqlfile_setup() runs PRAGMAS (may be NULL) and then SCHEMA inside one
 * BEGIN IMMEDIATE ... COMMIT.  Switching a new file to WAL and reading the
 * schema before a write answer SQLITE_BUSY at once, without the busy
 * handler, when another process is doing the same; so the whole step is
 * retried after a short random pause for up to WAIT_MS milliseconds.
 *
 * Returns a SQLite result code.  On failure *emsg may hold SQLite's message
 * (free it with sqlite3_free()); on success *emsg is NULL.  No global state.
 */
#ifndef KV_UTIL_SQLFILE_H
#define KV_UTIL_SQLFILE_H

#include <sqlite3.h>

int kv_sqlfile_setup(sqlite3 *db, const char *pragmas, const char *schema, int wait_ms, char **emsg);

#endif
