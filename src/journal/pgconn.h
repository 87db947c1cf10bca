/*
 * pgconn.h - what the PostgreSQL journal backend (journal_pg.c) and the
 * daemon's tables on PostgreSQL (src/serve/sdb_pg.c) share: recognising a
 * DSN, connecting with kvitt's defaults, a DSN text safe for messages, and
 * versioned schema migrations.
 *
 * Internal to libkvitt (not installed).  No global state; every function
 * works on the PGconn it is given, which the caller owns.
 */
#ifndef KV_JOURNAL_PGCONN_H
#define KV_JOURNAL_PGCONN_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* 1 when s names a PostgreSQL database (postgresql:// or postgres://, or
 * a libpq keyword string starting with "host=" / "dbname="), else 0. */
int kv_pg_is_dsn(const char *s);

/* Copy dsn into out (len bytes) without its password (user:password@ and
 * password=... are removed), for error messages and logs. */
void kv_pg_dsn_redact(const char *dsn, char *out, size_t len);

/* Connect (application_name kvitt, connect_timeout 5 s unless the DSN sets
 * them; TLS as the DSN's sslmode says).  Returns the connection, or NULL
 * with err (errlen bytes, password-free) set.  Close with PQfinish. */
PGconn *kv_pg_connect(const char *dsn, char *err, size_t errlen);

/* One component's migrations: steps[i] is the SQL of version i + 1. */
typedef struct kv_pg_schema {
    const char *component;      /* "journal", "serve" */
    const char *const *steps;
    int nsteps;
} kv_pg_schema;

/* Bring the component's schema to its newest version in one transaction
 * (under a transaction advisory lock, so daemons starting together apply
 * each step once; versions are recorded in kvitt_schema).  apply = 0 only
 * checks.  Returns 0 when the schema is current; -1 with err set (naming
 * the fix: `kvitt journal upgrade` run by the database's owner when the
 * role may not create tables).  *from / *to (may be NULL) receive the
 * version found and the version now in place. */
int kv_pg_migrate(PGconn *c, const kv_pg_schema *s, int apply, int *from, int *to,
                  char *err, size_t errlen);

/* 1 when the idle connection c is usable: its status is OK and the
 * server has not closed it meanwhile (a restart or crash leaves the socket
 * readable at EOF, which PQstatus alone does not notice until a query
 * fails).  Pending NOTIFYs are consumed (PQnotifies still returns them). */
int kv_pg_alive(PGconn *c);

/* 1 when the result failed because the connection is gone (or c is bad). */
int kv_pg_conn_lost(PGconn *c, const PGresult *r);

/* Parse a decimal column value (NULL or empty -> 0). */
int64_t kv_pg_i64(const PGresult *r, int row, int col);

#endif
