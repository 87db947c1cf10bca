/*
 * kvpg.h - a throwaway PostgreSQL server for the suites (a real one:
 * Debian's postgresql package, /usr/lib/postgresql/<version>/bin).
 *
 * kvpg_start() runs initdb into a fresh folder under /tmp and starts
 * `postgres` on a Unix socket in that folder (no TCP port).  As root (CI)
 * both run as the unprivileged `postgres` user the package creates, with
 * the folder chowned to it; as any other user they run as that user.
 * kvpg_stop() stops the server (fast shutdown) and removes the folder.
 *
 * Ownership: the kvpg handle and the strings it returns are owned by the
 * caller as documented per function.  Not thread-safe (one per suite).
 */
#ifndef KV_TESTS_KVPG_H
#define KV_TESTS_KVPG_H

#include <stddef.h>
#include <sys/types.h>

typedef struct kvpg kvpg;

/* Start a server.  NULL when PostgreSQL is not installed or cannot start:
 * why (len bytes) then says so, for a "SKIP:" line or a failure. */
kvpg *kvpg_start(char *why, size_t len);

/* A fresh, empty database called name (dropped first when it exists);
 * returns its DSN (postgresql://postgres@/name?host=<socket folder>),
 * malloc'd, free() it; NULL on failure. */
char *kvpg_database(kvpg *pg, const char *name);

/* The DSN of the `postgres` maintenance database (borrowed). */
const char *kvpg_admin_dsn(kvpg *pg);

/* Run one SQL command on database name as the superuser; 0 on success. */
int kvpg_sql(kvpg *pg, const char *name, const char *sql);

/* The server's process id (for a kill -9 of the database). */
pid_t kvpg_pid(kvpg *pg);

/* Crash the server: SIGKILL to its process group (the postmaster and its
 * helpers; each backend runs in a session of its own, notices the
 * postmaster's death, sends its client a FATAL error and exits).
 * kvpg_restart(pg, 0) starts it again. */
void kvpg_crash(kvpg *pg);

/* Stop the server (immediate: fast = 0 kills it with SIGKILL, as a crash
 * would) and start it again on the same folder; 0 once it answers. */
int kvpg_restart(kvpg *pg, int fast);

/* Stop the server and remove its folder; NULL is a no-op. */
void kvpg_stop(kvpg *pg);

/* ---- the end-to-end suites on PostgreSQL ----
 * With KVITT_TEST_JOURNAL=pg in the environment the fixtures (kvflow.c,
 * kvtserve.c) put every configuration's journal into a fresh database of
 * one server per test process (started on first use, stopped at exit). */

/* The DSN of a fresh database for the fixture name when the suite runs on
 * PostgreSQL (malloc'd), NULL when it runs on SQLite.  Fails the test when
 * the server cannot be had. */
char *kvpg_test_journal(const char *name);

/* The server of kvpg_test_journal (NULL before its first use). */
kvpg *kvpg_test_server(void);

/* main() of a suite's _pg twin: sets KVITT_TEST_JOURNAL=pg, starts the
 * server (printing "SKIP:" and returning 0 when PostgreSQL is not
 * installed), runs suite_main and stops the server. */
int kvpg_run_suite(const char *suite, int (*suite_main)(void));

#endif
