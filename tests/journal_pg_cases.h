/* journal_pg_cases.h - cases of test_journal_pg only (included by
 * tests/test_journal.c when KVT_JOURNAL_PG is defined; uses its helpers). */
#include <libpq-fe.h>

#include "src/journal/journal_pg.h"

/* Opening applies the schema once and records its version; a second
 * handle (another daemon starting) finds it current; a schema newer than
 * this kvitt is refused with a clear error. */
static void test_journal_pg__migrations_are_versioned(void **state)
{
    (void)state;
    char *dsn = jpath("mig");
    kv_journal *a = NULL, *b = NULL;
    assert_int_equal(kv_journal_open(&a, dsn, NULL, 0), KV_J_OK);
    assert_int_equal(kv_journal_open(&b, dsn, NULL, 0), KV_J_OK);
    kv_journal_close(b);
    kv_journal_close(a);
    PGconn *c = PQconnectdb(dsn);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, "SELECT count(*), max(version) FROM kvitt_schema WHERE component='journal'");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    /* one row per version, each applied once */
    assert_int_equal(atoi(PQgetvalue(r, 0, 0)), kv_jpg_schema.nsteps);
    assert_int_equal(atoi(PQgetvalue(r, 0, 1)), kv_jpg_schema.nsteps);
    assert_true(kv_jpg_schema.nsteps >= 2);
    PQclear(r);
    PQclear(PQexec(c, "INSERT INTO kvitt_schema VALUES ('journal', 999, 0)"));
    PQfinish(c);
    char err[512] = "";
    assert_int_equal(kv_journal_open(&a, dsn, err, sizeof err), KV_J_E_OPEN);
    assert_non_null(strstr(err, "999"));
    assert_non_null(strstr(err, "fix:"));
    free(dsn);
}

/* The server restarts (a crash: SIGKILL): calls while it is down fail
 * with KV_J_E_CONN and write nothing; once it is back the handle
 * reconnects by itself and every acknowledged row is there. */
static void test_journal_pg__reconnects_after_server_restart(void **state)
{
    (void)state;
    kv_journal *j = open_j("restart");
    kv_payment p = pay("RS-0000000001", "oslo", 100);
    assert_int_equal(kv_journal_add_payment(j, &p), KV_J_OK);
    assert_int_equal(kv_journal_ping(j), KV_J_OK);
    kvpg_crash(g_pg);
    kv_payment q = pay("RS-0000000002", "oslo", 200);
    kv_journal_status st = kv_journal_add_payment(j, &q);
    assert_int_equal(st, KV_J_E_CONN);
    assert_int_equal(kv_journal_ping(j), KV_J_E_CONN);
    assert_int_equal(kvpg_restart(g_pg, 0), 0);
    /* back: the same handle works again without being reopened */
    kv_journal_status ps = KV_J_E_CONN;
    for (int i = 0; i < 100 && ps != KV_J_OK; i++) {
        ps = kv_journal_ping(j);
        if (ps != KV_J_OK)
            usleep(100000);
    }
    assert_int_equal(ps, KV_J_OK);
    kv_payment g;
    assert_int_equal(kv_journal_get_payment(j, &g, p.reference), KV_J_OK);
    assert_int_equal(kv_journal_get_payment(j, &g, q.reference), KV_J_E_NOT_FOUND);
    assert_int_equal(kv_journal_add_payment(j, &q), KV_J_OK);
    kv_journal_close(j);
}

/* A reference locked by one process cannot be locked by another until the
 * first releases it or dies (kill -9): the lease of a waiting payment. */
static void test_journal_pg__reference_locks_die_with_their_process(void **state)
{
    (void)state;
    char *dsn = jpath("locks");
    int to_child[2], from_child[2];
    assert_int_equal(pipe(to_child), 0);
    assert_int_equal(pipe(from_child), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        kv_journal *cj = NULL;
        if (kv_journal_open(&cj, dsn, NULL, 0) != KV_J_OK ||
            kv_journal_lock_ref(cj, "LK-1", 1) != KV_J_OK || kv_journal_lock_ref(cj, "LK-2", 1) != KV_J_OK)
            _exit(2);
        kv_journal_unlock_ref(cj, "LK-2");
        if (write(from_child[1], "L", 1) != 1)
            _exit(3);
        char c;
        if (read(to_child[0], &c, 1) < 0)
            _exit(4);
        _exit(0);
    }
    char c = 0;
    assert_int_equal(read(from_child[0], &c, 1), 1);
    kv_journal *j = NULL;
    assert_int_equal(kv_journal_open(&j, dsn, NULL, 0), KV_J_OK);
    assert_int_equal(kv_journal_lock_ref(j, "LK-1", 1), KV_J_E_EXISTS);
    assert_int_equal(kv_journal_lock_ref(j, "LK-2", 1), KV_J_OK);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    /* the server notices the dead session; the lease is free within seconds */
    kv_journal_status ls = KV_J_E_EXISTS;
    for (int i = 0; i < 100 && ls == KV_J_E_EXISTS; i++) {
        ls = kv_journal_lock_ref(j, "LK-1", 1);
        if (ls == KV_J_E_EXISTS)
            usleep(50000);
    }
    assert_int_equal(ls, KV_J_OK);
    kv_journal_unlock_ref(j, "LK-1");
    kv_journal_unlock_ref(j, "LK-2");
    kv_journal_close(j);
    free(dsn);
}

#define KVT_JOURNAL_PG_CASES \
    cmocka_unit_test(test_journal_pg__migrations_are_versioned), \
    cmocka_unit_test(test_journal_pg__reconnects_after_server_restart), \
    cmocka_unit_test(test_journal_pg__reference_locks_die_with_their_process),
