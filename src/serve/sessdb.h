/*
 * sessdb.h - one statement at a time on the journal database, whichever it
 * is: a SQLite file or a PostgreSQL database (a DSN, src/journal/pgconn.h).
 * The cashier page's sessions (session.c) keep their tables through it, so
 * that the same SQL serves a single shop and a chain of daemons.
 *
 * SQL is written with `?` placeholders (SQLite's); on PostgreSQL they
 * become $1, $2, ... in order, so the SQL itself must hold no other `?`.
 * Parameters are typed by a string of 't' (const char *) and 'i'
 * (int64_t), at most 8.  Every result cell comes back as text (integers
 * in decimal), SQL NULL as "".
 *
 * On PostgreSQL the schema is versioned (kv_pg_migrate, under its own
 * component name); on SQLite it is run as given (CREATE ... IF NOT
 * EXISTS).  A PostgreSQL connection that was lost is replaced before the
 * next statement; the statement that met the loss fails (KV_SESSDB_E_DB).
 *
 * Ownership: the handle is the caller's (kv_sessdb_close); a result's
 * cells belong to the result (kv_sessdb_res_free).  Thread-safety: one
 * handle may be used from many threads; statements are serialised by an
 * internal mutex.
 */
#ifndef KV_SERVE_SESSDB_H
#define KV_SERVE_SESSDB_H

#include <stddef.h>
#include <stdint.h>

#include "src/journal/pgconn.h"

typedef enum {
    KV_SESSDB_OK = 0,
    KV_SESSDB_E_ARG = -1,
    KV_SESSDB_E_NOMEM = -2,
    KV_SESSDB_E_DB = -3          /* the database refused or is unreachable */
} kv_sessdb_status;

const char *kv_sessdb_strerror(kv_sessdb_status st);

typedef struct kv_sessdb kv_sessdb;

/* The rows of one statement (value struct; kv_sessdb_res_free). */
typedef struct kv_sessdb_res {
    size_t nrows, ncols;
    char **cell;                 /* nrows * ncols texts, row by row */
    long changed;                /* rows inserted, updated or deleted */
} kv_sessdb_res;

/* Open path (a SQLite file, created when missing, or a PostgreSQL DSN)
 * and bring the tables up: sqlite_schema on a file, pg_schema on a
 * database.  err (errlen bytes, no password) says why on failure. */
kv_sessdb_status kv_sessdb_open(kv_sessdb **out, const char *path, const char *sqlite_schema,
                                const kv_pg_schema *pg_schema, char *err, size_t errlen);
void kv_sessdb_close(kv_sessdb *d);

/* 1 when the handle is on PostgreSQL. */
int kv_sessdb_is_pg(const kv_sessdb *d);

/* Run one statement.  res (may be NULL) receives its rows and change
 * count; free it with kv_sessdb_res_free also after an error. */
kv_sessdb_status kv_sessdb_exec(kv_sessdb *d, kv_sessdb_res *res, const char *sql,
                                const char *types, ...);

/* Cell (row, col) of res: "" when out of range or NULL; never NULL. */
const char *kv_sessdb_cell(const kv_sessdb_res *res, size_t row, size_t col);
int64_t kv_sessdb_i64(const kv_sessdb_res *res, size_t row, size_t col);

void kv_sessdb_res_free(kv_sessdb_res *res);

#endif
