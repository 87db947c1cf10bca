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

/* Start the crashed server again; wait until j answers. */
static void restart_server(kv_journal *j)
{
    assert_int_equal(kvpg_restart(g_pg, 0), 0);
    kv_journal_status ps = KV_J_E_CONN;
    for (int i = 0; i < 100 && ps != KV_J_OK; i++) {
        ps = kv_journal_ping(j);
        if (ps != KV_J_OK)
            usleep(100000);
    }
    assert_int_equal(ps, KV_J_OK);
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
    /* back: the same handle works again without being reopened */
    restart_server(j);
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

/* ---- group commit on the server ---- */

typedef struct srv_arg {
    kv_journal *j;
    int idx;
    int stop;             /* set by the test (atomic) */
    char (*acks)[64];     /* acknowledged steps, kinds[i] 1 for "created" */
    int *kinds;
    size_t nack;          /* read by the test (atomic) */
    size_t cap;
    int fails;            /* calls that returned an error (atomic) */
} srv_arg;

static void srv_ack(srv_arg *a, const char *ref, int kind)
{
    if (a->nack >= a->cap)
        return;
    snprintf(a->acks[a->nack], sizeof a->acks[a->nack], "%s", ref);
    a->kinds[a->nack] = kind;
    __atomic_add_fetch(&a->nack, 1, __ATOMIC_RELEASE);
}

/* gc_writer's steps until told to stop; an acknowledgement is recorded
 * only after the call returned KV_J_OK. */
static void *srv_writer(void *arg)
{
    srv_arg *a = arg;
    for (int n = 0; !__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE); n++) {
        char ref[64];
        snprintf(ref, sizeof ref, "SK-%02d-%06d", a->idx, n);
        kv_payment p = pay(ref, "oslo", 1000 + n);
        kv_journal_op op;
        kv_journal_status st = kv_journal_batch_begin(a->j);
        if (st == KV_J_OK) {
            st = kv_journal_add_payment(a->j, &p);
            if (st == KV_J_OK)
                st = kv_journal_op_begin(a->j, &op, ref, KV_OP_CREATE, p.amount);
            kv_journal_status e = kv_journal_batch_end(a->j, st == KV_J_OK);
            if (st == KV_J_OK)
                st = e;
        }
        if (st == KV_J_OK) {
            srv_ack(a, ref, 0);
            p.state = KV_PAY_CREATED;
            st = kv_journal_op_finish(a->j, op.id, KV_OPR_OK);
            if (st == KV_J_OK)
                st = kv_journal_update_payment(a->j, &p, "created");
            if (st == KV_J_OK)
                srv_ack(a, ref, 1);
        }
        if (st != KV_J_OK) {
            __atomic_add_fetch(&a->fails, 1, __ATOMIC_RELEASE);
            usleep(2000);
        }
    }
    return NULL;
}

/* The server is killed (-9) while threads commit in shared transactions:
 * the calls in flight fail, and after the restart every step a thread was
 * told was durable is there, nothing half there.  Commits were shared. */
static void test_journal_pg__group_commit_survives_server_kill_9(void **state)
{
    (void)state;
    kv_journal *j = open_j("gc-server");
    enum { CAP = 20000 };
    pthread_t t[GC_THREADS];
    srv_arg a[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        a[i] = (srv_arg){ .j = j, .idx = i, .cap = CAP };
        a[i].acks = calloc(CAP, sizeof *a[i].acks);
        a[i].kinds = calloc(CAP, sizeof *a[i].kinds);
        assert_true(a[i].acks && a[i].kinds);
        assert_int_equal(pthread_create(&t[i], NULL, srv_writer, &a[i]), 0);
    }
    size_t total = 0;
    for (int w = 0; w < 6000 && total < 600; w++) {
        usleep(10000);
        total = 0;
        for (int i = 0; i < GC_THREADS; i++)
            total += __atomic_load_n(&a[i].nack, __ATOMIC_ACQUIRE);
    }
    kv_journal_stats st;
    kv_journal_stats_get(j, &st);
    kvpg_crash(g_pg);
    /* every thread notices: its calls fail while the server is down */
    for (int w = 0; w < 1000; w++) {
        int down = 0;
        for (int i = 0; i < GC_THREADS; i++)
            down += __atomic_load_n(&a[i].fails, __ATOMIC_ACQUIRE) > 0;
        if (down == GC_THREADS)
            break;
        usleep(10000);
    }
    for (int i = 0; i < GC_THREADS; i++)
        __atomic_store_n(&a[i].stop, 1, __ATOMIC_RELEASE);
    size_t nack = 0;
    for (int i = 0; i < GC_THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_true(a[i].fails > 0);
        nack += a[i].nack;
    }
    restart_server(j);
    assert_true(total >= 600);
    assert_true(st.commits < st.units); /* the threads shared commits */
    char (*acks)[64] = calloc(nack, sizeof *acks);
    int *kinds = calloc(nack, sizeof *kinds);
    assert_true(acks && kinds);
    size_t k = 0;
    for (int i = 0; i < GC_THREADS; i++) {
        memcpy(acks + k, a[i].acks, a[i].nack * sizeof *acks);
        memcpy(kinds + k, a[i].kinds, a[i].nack * sizeof *kinds);
        k += a[i].nack;
        free(a[i].acks);
        free(a[i].kinds);
    }
    gc_verify(j, acks, kinds, nack);
    free(acks);
    free(kinds);
    kv_journal_close(j);
}

#define HOT_REFS 3
#define HOT_EACH 25

typedef struct hot_arg {
    kv_journal *j;
    int idx;
    int fails;            /* unexpected errors */
    int exists;           /* duplicates refused with KV_J_E_EXISTS */
} hot_arg;

/* Writes that collide: on a few payments every thread of two handles (two
 * daemons) locks the same rows (update, op_begin) and claims references
 * that exist; between them, payments of its own. */
static void *hot_writer(void *arg)
{
    hot_arg *a = arg;
    for (int n = 0; n < HOT_EACH; n++) {
        char ref[64], hot[64];
        snprintf(ref, sizeof ref, "HW-%02d-%04d", a->idx, n);
        snprintf(hot, sizeof hot, "HOT-%d", n % HOT_REFS);
        kv_payment p = pay(ref, "oslo", 100 + n);
        if (kv_journal_add_payment(a->j, &p) != KV_J_OK)
            a->fails++;
        kv_payment h = pay(hot, "oslo", 100000);
        kv_journal_status st = kv_journal_add_payment(a->j, &h);
        if (st == KV_J_E_EXISTS)
            a->exists++;
        else
            a->fails++;
        if (kv_journal_get_payment(a->j, &h, hot) != KV_J_OK)
            a->fails++;
        h.state = n % 2 ? KV_PAY_WAITING : KV_PAY_CREATED;
        if (kv_journal_update_payment(a->j, &h, "hot") != KV_J_OK)
            a->fails++;
        kv_journal_op op;
        if (kv_journal_op_begin(a->j, &op, hot, KV_OP_REFUND, 1000 * a->idx + n + 1) != KV_J_OK ||
            kv_journal_op_finish(a->j, op.id, KV_OPR_OK) != KV_J_OK)
            a->fails++;
    }
    return NULL;
}

/* A unit's own failure (a reference that exists) fails only that unit,
 * and row locks taken in shared transactions neither deadlock nor fail
 * the writers of the same payments in this handle or another one. */
static void test_journal_pg__group_units_fail_alone_and_locks_never_deadlock(void **state)
{
    (void)state;
    char *dsn = jpath("gc-hot");
    kv_journal *j[2] = { NULL, NULL };
    for (int i = 0; i < 2; i++)
        assert_int_equal(kv_journal_open(&j[i], dsn, NULL, 0), KV_J_OK);
    for (int k = 0; k < HOT_REFS; k++) {
        char hot[64];
        snprintf(hot, sizeof hot, "HOT-%d", k);
        kv_payment h = pay(hot, "oslo", 100000);
        assert_int_equal(kv_journal_add_payment(j[0], &h), KV_J_OK);
    }
    pthread_t t[GC_THREADS];
    hot_arg a[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        a[i] = (hot_arg){ j[i % 2], i, 0, 0 };
        assert_int_equal(pthread_create(&t[i], NULL, hot_writer, &a[i]), 0);
    }
    for (int i = 0; i < GC_THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].fails, 0);
        assert_int_equal(a[i].exists, HOT_EACH);
    }
    int refunds = 0;
    for (int k = 0; k < HOT_REFS; k++) {
        char hot[64];
        snprintf(hot, sizeof hot, "HOT-%d", k);
        int all = kv_journal_op_count(j[1], hot, KV_OP_REFUND, -1);
        assert_int_equal(kv_journal_op_count(j[1], hot, KV_OP_REFUND, KV_OPR_OK), all);
        refunds += all;
    }
    assert_int_equal(refunds, GC_THREADS * HOT_EACH);
    kv_journal_query q = { NULL, NULL, 0, 0, 100000 };
    kv_payment *rows = NULL;
    size_t n = 0;
    assert_int_equal(kv_journal_find(j[1], &rows, &n, &q), KV_J_OK);
    assert_int_equal(n, HOT_REFS + GC_THREADS * HOT_EACH);
    free(rows);
    kv_journal_stats s0, s1;
    kv_journal_stats_get(j[0], &s0);
    kv_journal_stats_get(j[1], &s1);
    assert_true(s0.commits + s1.commits < s0.units + s1.units);
    kv_journal_close(j[0]);
    kv_journal_close(j[1]);
    free(dsn);
}

#define KVT_JOURNAL_PG_CASES \
    cmocka_unit_test(test_journal_pg__migrations_are_versioned), \
    cmocka_unit_test(test_journal_pg__reconnects_after_server_restart), \
    cmocka_unit_test(test_journal_pg__reference_locks_die_with_their_process), \
    cmocka_unit_test(test_journal_pg__group_commit_survives_server_kill_9), \
    cmocka_unit_test(test_journal_pg__group_units_fail_alone_and_locks_never_deadlock),
