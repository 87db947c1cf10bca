/* test_journal.c - the journal (src/journal) on real files, with several
 * handles and processes on one file.  tests/test_journal_pg.c builds the
 * same suite with KVT_JOURNAL_PG defined: every journal is then a fresh
 * database on a real PostgreSQL server (tests/lib/kvpg.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/journal/journal.h"
#include "tests/lib/kvtest.h"
#ifdef KVT_JOURNAL_PG
#include "tests/lib/kvpg.h"
static kvpg *g_pg;
#endif

/* Where the journal called name lives: a file in the scratch folder, or
 * (PostgreSQL) the DSN of a fresh database.  malloc'd. */
static char *jpath(const char *name)
{
#ifdef KVT_JOURNAL_PG
    char *dsn = kvpg_database(g_pg, name);
    assert_non_null(dsn);
    return dsn;
#else
    return kvt_path("%s/%s.db", kvt_tmpdir(), name);
#endif
}

static kv_journal *open_j(const char *name)
{
    char *p = jpath(name);
    kv_journal *j = NULL;
    char err[256] = "";
    assert_int_equal(kv_journal_open(&j, p, err, sizeof err), KV_J_OK);
    free(p);
    return j;
}

static kv_payment pay(const char *ref, const char *store, int64_t amount)
{
    kv_payment p;
    memset(&p, 0, sizeof p);
    snprintf(p.reference, sizeof p.reference, "%s", ref);
    snprintf(p.store_id, sizeof p.store_id, "%s", store);
    snprintf(p.msn, sizeof p.msn, "123456");
    snprintf(p.till_id, sizeof p.till_id, "till-1");
    snprintf(p.flow, sizeof p.flow, "epayment-qr");
    snprintf(p.currency, sizeof p.currency, "NOK");
    p.amount = amount;
    p.state = KV_PAY_NEW;
    return p;
}

static void test_journal__payment_roundtrip_and_transitions(void **state)
{
    (void)state;
    kv_journal *j = open_j("rt");
    kv_payment p = pay("OSL-0000000001", "oslo", 14900);
    assert_int_equal(kv_journal_add_payment(j, &p), KV_J_OK);
    assert_int_equal(kv_journal_add_payment(j, &p), KV_J_E_EXISTS);
    kv_payment g;
    assert_int_equal(kv_journal_get_payment(j, &g, "OSL-0000000001"), KV_J_OK);
    assert_int_equal(g.amount, 14900);
    assert_int_equal(g.state, KV_PAY_NEW);
    assert_true(g.created_at > 0);
    g.state = KV_PAY_CREATED;
    snprintf(g.qr_url, sizeof g.qr_url, "https://qr.example/1");
    assert_int_equal(kv_journal_update_payment(j, &g, "created"), KV_J_OK);
    g.state = KV_PAY_WAITING;
    assert_int_equal(kv_journal_update_payment(j, &g, "slip printed"), KV_J_OK);
    g.captured = 14900;
    assert_int_equal(kv_journal_update_payment(j, &g, "same state: no transition"), KV_J_OK);
    kv_transition *t = NULL;
    size_t n = 0;
    assert_int_equal(kv_journal_transitions(j, &t, &n, "OSL-0000000001"), KV_J_OK);
    assert_int_equal(n, 3);
    assert_int_equal(t[0].to, KV_PAY_NEW);
    assert_int_equal(t[1].from, KV_PAY_NEW);
    assert_int_equal(t[1].to, KV_PAY_CREATED);
    assert_int_equal(t[2].to, KV_PAY_WAITING);
    assert_string_equal(t[2].note, "slip printed");
    assert_true(t[2].at_ms >= t[1].at_ms && t[1].at_ms > 0);
    free(t);
    assert_int_equal(kv_journal_get_payment(j, &g, "OSL-0000000001"), KV_J_OK);
    assert_string_equal(g.qr_url, "https://qr.example/1");
    assert_int_equal(g.captured, 14900);
    assert_int_equal(kv_journal_get_payment(j, &g, "nope-nope-1"), KV_J_E_NOT_FOUND);
    kv_journal_close(j);
    kv_journal_close(NULL);
}

static void test_journal__idempotency_keys_reused_until_answered(void **state)
{
    (void)state;
    kv_journal *j = open_j("keys");
    kv_payment p = pay("OSL-0000000002", "oslo", 5000);
    assert_int_equal(kv_journal_add_payment(j, &p), KV_J_OK);
    kv_journal_op a, b, c;
    assert_int_equal(kv_journal_op_begin(j, &a, p.reference, KV_OP_CAPTURE, 5000), KV_J_OK);
    assert_string_equal(a.idem_key, "OSL-0000000002-capture-1");
    assert_int_equal(a.result, KV_OPR_PENDING);
    /* a retry (e.g. after a crash) gets the same key */
    assert_int_equal(kv_journal_op_begin(j, &b, p.reference, KV_OP_CAPTURE, 5000), KV_J_OK);
    assert_int_equal(b.id, a.id);
    assert_string_equal(b.idem_key, a.idem_key);
    assert_int_equal(kv_journal_op_finish(j, a.id, KV_OPR_OK), KV_J_OK);
    /* the next capture is a new operation with a new key */
    assert_int_equal(kv_journal_op_begin(j, &c, p.reference, KV_OP_CAPTURE, 1000), KV_J_OK);
    assert_string_equal(c.idem_key, "OSL-0000000002-capture-2");
    assert_int_equal(kv_journal_op_count(j, p.reference, KV_OP_CAPTURE, -1), 2);
    assert_int_equal(kv_journal_op_count(j, p.reference, KV_OP_CAPTURE, KV_OPR_OK), 1);
    kv_journal_op last;
    assert_int_equal(kv_journal_op_last(j, &last, p.reference, KV_OP_CAPTURE), KV_J_OK);
    assert_int_equal(last.seq, 2);
    assert_int_equal(kv_journal_op_last(j, &last, p.reference, KV_OP_REFUND), KV_J_E_NOT_FOUND);
    /* keys stay within the API's 50 characters for a 50-character reference */
    char ref50[51];
    memset(ref50, 'A', 50);
    ref50[50] = 0;
    kv_payment q = pay(ref50, "oslo", 100);
    assert_int_equal(kv_journal_add_payment(j, &q), KV_J_OK);
    kv_journal_op k;
    assert_int_equal(kv_journal_op_begin(j, &k, ref50, KV_OP_REFUND, 100), KV_J_OK);
    assert_int_equal(strlen(k.idem_key), 50);
    assert_non_null(strstr(k.idem_key, "-refund-1"));
    kv_journal_close(j);
}

static void test_journal__print_jobs_and_events(void **state)
{
    (void)state;
    kv_journal *j = open_j("jobs");
    int64_t id = 0;
    assert_int_equal(kv_journal_job_add(j, &id, "OSL-0000000003", KV_DOC_RECEIPT, 0, "virtual:x"), KV_J_OK);
    kv_print_job pj;
    assert_int_equal(kv_journal_job_last(j, &pj, "OSL-0000000003", KV_DOC_RECEIPT), KV_J_OK);
    assert_int_equal(pj.state, KV_PJ_QUEUED);
    assert_int_equal(kv_journal_job_set(j, id, KV_PJ_SENT, "x/0001.bin"), KV_J_OK);
    assert_int_equal(kv_journal_job_last(j, &pj, "OSL-0000000003", KV_DOC_RECEIPT), KV_J_OK);
    assert_int_equal(pj.state, KV_PJ_SENT);
    assert_string_equal(pj.detail, "x/0001.bin");
    assert_int_equal(kv_journal_job_last(j, &pj, "OSL-0000000003", KV_DOC_SLIP), KV_J_E_NOT_FOUND);
    assert_int_equal(kv_journal_add_event(j, "OSL-0000000003", "AUTHORIZED", "{}"), KV_J_OK);
    assert_int_equal(kv_journal_event_count(j, "OSL-0000000003"), 1);
    kv_journal_close(j);
}

/* A payment's feed is numbered by the journal and written with what it
 * reports: state changes (and the result when the state becomes final),
 * webhooks; another handle (another daemon) reads the same numbers. */
static void test_journal__feed_numbered_with_its_state_changes(void **state)
{
    (void)state;
    char *path = jpath("feed");
    kv_journal *j = NULL, *k = NULL;
    assert_int_equal(kv_journal_open(&j, path, NULL, 0), KV_J_OK);
    assert_int_equal(kv_journal_open(&k, path, NULL, 0), KV_J_OK);
    kv_payment p = pay("OSL-0000000011", "oslo", 900);
    assert_int_equal(kv_journal_add_payment(j, &p), KV_J_OK);
    p.state = KV_PAY_WAITING;
    assert_int_equal(kv_journal_update_payment(j, &p, "slip printed"), KV_J_OK);
    assert_int_equal(kv_journal_update_payment(j, &p, "no change"), KV_J_OK); /* no event */
    assert_int_equal(kv_journal_add_event(k, p.reference, "AUTHORIZED", "{}"), KV_J_OK);
    /* a state change that is undone leaves no event either */
    assert_int_equal(kv_journal_batch_begin(j), KV_J_OK);
    p.state = KV_PAY_CAPTURED;
    assert_int_equal(kv_journal_update_payment(j, &p, "undone"), KV_J_OK);
    assert_int_equal(kv_journal_batch_end(j, 0), KV_J_OK);
    p.state = KV_PAY_WAITING;
    assert_int_equal(kv_journal_get_payment(j, &p, p.reference), KV_J_OK);
    p.state = KV_PAY_DONE;
    assert_int_equal(kv_journal_update_payment(j, &p, "receipt printed"), KV_J_OK);
    assert_int_equal(kv_journal_feed_add(k, p.reference, "result", "DONE", "again"), KV_J_OK);
    const char *want[][3] = { { "state", "NEW", "journaled" }, { "state", "WAITING", "slip printed" },
                              { "webhook", "", "AUTHORIZED" }, { "state", "DONE", "receipt printed" },
                              { "result", "DONE", "receipt printed" }, { "result", "DONE", "again" } };
    kv_journal *both[2] = { j, k };
    for (int h = 0; h < 2; h++) {
        kv_feed_event *ev = NULL;
        size_t n = 0;
        assert_int_equal(kv_journal_feed_read(both[h], p.reference, 0, 0, &ev, &n), KV_J_OK);
        assert_int_equal(n, 6);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(ev[i].seq, (int)i + 1);
            assert_string_equal(ev[i].type, want[i][0]);
            assert_string_equal(ev[i].state, want[i][1]);
            assert_string_equal(ev[i].message, want[i][2]);
            assert_true(ev[i].at_ms > 0);
        }
        free(ev);
        /* after N: the rest, at most limit */
        assert_int_equal(kv_journal_feed_read(both[h], p.reference, 3, 2, &ev, &n), KV_J_OK);
        assert_int_equal(n, 2);
        assert_int_equal(ev[0].seq, 4);
        assert_int_equal(ev[1].seq, 5);
        free(ev);
    }
    kv_feed_event *ev = NULL;
    size_t n = 9;
    assert_int_equal(kv_journal_feed_read(j, "OSL-none", 0, 0, &ev, &n), KV_J_OK);
    assert_int_equal(n, 0);
    free(ev);
    kv_journal_close(k);
    kv_journal_close(j);
    free(path);
}

typedef struct feeder {
    const char *path;
    int id;
} feeder;

static void *feed_writer(void *arg)
{
    feeder *f = arg;
    kv_journal *j = NULL;
    if (kv_journal_open(&j, f->path, NULL, 0) != KV_J_OK)
        return (void *)1;
    intptr_t bad = 0;
    for (int i = 0; i < 25; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "w%d-%d", f->id, i);
        bad += kv_journal_feed_add(j, "OSL-0000000012", "message", "", msg) != KV_J_OK;
    }
    kv_journal_close(j);
    return (void *)bad;
}

/* Four handles (four daemons) write events of one payment at once: every
 * event gets its own number, 1..100, no gap, no repeat. */
static void test_journal__feed_writers_at_once_never_share_a_number(void **state)
{
    (void)state;
    char *path = jpath("feedrace");
    kv_journal *j = NULL;
    assert_int_equal(kv_journal_open(&j, path, NULL, 0), KV_J_OK);
    feeder f[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        f[i] = (feeder){ path, i };
        assert_int_equal(pthread_create(&t[i], NULL, feed_writer, &f[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *bad = NULL;
        pthread_join(t[i], &bad);
        assert_null(bad);
    }
    kv_feed_event *ev = NULL;
    size_t n = 0;
    assert_int_equal(kv_journal_feed_read(j, "OSL-0000000012", 0, 0, &ev, &n), KV_J_OK);
    assert_int_equal(n, 100);
    int per[4] = { 0 };
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ev[i].seq, (int)i + 1);
        int w = -1, k = -1;
        assert_int_equal(sscanf(ev[i].message, "w%d-%d", &w, &k), 2);
        assert_int_equal(k, per[w]++); /* each writer's events in its order */
    }
    free(ev);
    kv_journal_close(j);
    free(path);
}

static void test_journal__find_by_store_since_unfinished(void **state)
{
    (void)state;
    kv_journal *j = open_j("find");
    for (int i = 0; i < 6; i++) {
        char ref[32];
        snprintf(ref, sizeof ref, "REF-%08d", i);
        kv_payment p = pay(ref, i % 2 ? "bergen" : "oslo", 100 + i);
        p.created_at = 1000000 + i * 1000;
        p.state = i < 4 ? KV_PAY_DONE : KV_PAY_WAITING;
        assert_int_equal(kv_journal_add_payment(j, &p), KV_J_OK);
    }
    kv_payment *rows = NULL;
    size_t n = 0;
    kv_journal_query q = { .store_id = "bergen" };
    assert_int_equal(kv_journal_find(j, &rows, &n, &q), KV_J_OK);
    assert_int_equal(n, 3);
    assert_string_equal(rows[0].reference, "REF-00000005"); /* newest first */
    free(rows);
    kv_journal_query q2 = { .since = 1000000 + 3000 };
    assert_int_equal(kv_journal_find(j, &rows, &n, &q2), KV_J_OK);
    assert_int_equal(n, 3);
    free(rows);
    kv_journal_query q3 = { .unfinished_only = 1 };
    assert_int_equal(kv_journal_find(j, &rows, &n, &q3), KV_J_OK);
    assert_int_equal(n, 2);
    free(rows);
    kv_journal_query q4 = { .reference = "REF-00000002" };
    assert_int_equal(kv_journal_find(j, &rows, &n, &q4), KV_J_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].amount, 102);
    free(rows);
    kv_journal_close(j);
}

typedef struct { kv_journal *j; int base; } thr_arg;

static void *writer(void *arg)
{
    thr_arg *a = arg;
    for (int i = 0; i < 40; i++) {
        char ref[32];
        snprintf(ref, sizeof ref, "T%d-%08d", a->base, i);
        kv_payment p = pay(ref, "oslo", 100);
        if (kv_journal_add_payment(a->j, &p) != KV_J_OK)
            return (void *)1;
        kv_journal_op op;
        if (kv_journal_op_begin(a->j, &op, ref, KV_OP_CREATE, 100) != KV_J_OK)
            return (void *)1;
    }
    return NULL;
}

static void test_journal__threads_and_processes_share_one_file(void **state)
{
    (void)state;
    char *path = jpath("shared");
    kv_journal *j = NULL;
    assert_int_equal(kv_journal_open(&j, path, NULL, 0), KV_J_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* another process with its own handle on the same file */
        kv_journal *cj = NULL;
        if (kv_journal_open(&cj, path, NULL, 0) != KV_J_OK)
            _exit(2);
        thr_arg a = { cj, 9 };
        void *r = writer(&a);
        kv_journal_close(cj);
        _exit(r ? 1 : 0);
    }
    pthread_t t[2];
    thr_arg args[2] = { { j, 1 }, { j, 2 } };
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, &args[i]), 0);
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    kv_payment *rows = NULL;
    size_t n = 0;
    kv_journal_query q = { .limit = 1000 };
    assert_int_equal(kv_journal_find(j, &rows, &n, &q), KV_J_OK);
    assert_int_equal(n, 120);
    free(rows);
    kv_journal_close(j);
    free(path);
}

static void test_journal__batch_commits_or_undoes_together(void **state)
{
    (void)state;
    kv_journal *j = open_j("batch");
    kv_payment p = pay("OSL-0000000009", "oslo", 700);
    kv_journal_op op;
    assert_int_equal(kv_journal_batch_begin(j), KV_J_OK);
    assert_int_equal(kv_journal_add_payment(j, &p), KV_J_OK);
    assert_int_equal(kv_journal_op_begin(j, &op, p.reference, KV_OP_CREATE, 700), KV_J_OK);
    assert_int_equal(kv_journal_batch_end(j, 1), KV_J_OK);
    kv_payment g;
    assert_int_equal(kv_journal_get_payment(j, &g, p.reference), KV_J_OK);
    assert_int_equal(kv_journal_op_count(j, p.reference, KV_OP_CREATE, -1), 1);
    /* rolled back: neither the row nor the key remain */
    kv_payment q = pay("OSL-0000000010", "oslo", 800);
    assert_int_equal(kv_journal_batch_begin(j), KV_J_OK);
    assert_int_equal(kv_journal_add_payment(j, &q), KV_J_OK);
    assert_int_equal(kv_journal_op_begin(j, &op, q.reference, KV_OP_CREATE, 800), KV_J_OK);
    assert_int_equal(kv_journal_batch_end(j, 0), KV_J_OK);
    assert_int_equal(kv_journal_get_payment(j, &g, q.reference), KV_J_E_NOT_FOUND);
    assert_int_equal(kv_journal_op_count(j, q.reference, KV_OP_CREATE, -1), 0);
    /* a duplicate inside a batch fails and the batch is undone */
    assert_int_equal(kv_journal_batch_begin(j), KV_J_OK);
    assert_int_equal(kv_journal_add_payment(j, &p), KV_J_E_EXISTS);
    assert_int_equal(kv_journal_batch_end(j, 0), KV_J_OK);
    assert_int_equal(kv_journal_batch_end(j, 1), KV_J_E_ARG); /* not in a batch */
    kv_journal_close(j);
}

static void test_journal__unwritable_path_is_a_clear_error(void **state)
{
    (void)state;
    kv_journal *j = NULL;
    char err[512] = "";
#ifdef KVT_JOURNAL_PG
    /* no server there: the DSN (without its password) and a fix */
    assert_int_equal(kv_journal_open(&j, "postgresql://kvitt:s3cret@/nodb?host=/nonexistent-dir/x",
                                     err, sizeof err), KV_J_E_OPEN);
    assert_null(j);
    assert_non_null(strstr(err, "/nonexistent-dir/x"));
    assert_null(strstr(err, "s3cret"));
#else
    assert_int_equal(kv_journal_open(&j, "/nonexistent-dir/x/j.db", err, sizeof err), KV_J_E_OPEN);
    assert_null(j);
    assert_non_null(strstr(err, "/nonexistent-dir/x/j.db"));
#endif
    assert_non_null(strstr(err, "fix:"));
}

static unsigned mode_of(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return 07777;
    return (unsigned)(sb.st_mode & 07777);
}

/* The journal holds the daemon's webhook secrets: it and its -wal/-shm
 * files are created 0600 whatever the umask, and a journal others can
 * read, or a folder others can write, is refused with the fix. */
static void test_journal__created_private_and_refused_when_readable(void **state)
{
    (void)state;
    char *dir = kvt_path("%s/private", kvt_tmpdir());
    assert_int_equal(mkdir(dir, 0755), 0);
    char *p = kvt_path("%s/j.db", dir);
    char *wal = kvt_path("%s/j.db-wal", dir);
    char *shm = kvt_path("%s/j.db-shm", dir);
    mode_t old = umask(022);
    kv_journal *j = NULL;
    char err[512] = "";
    assert_int_equal(kv_journal_open(&j, p, err, sizeof err), KV_J_OK);
    assert_int_equal(kv_journal_add_payment(j, &(kv_payment){ .reference = "OSL-perm-1",
                                                             .amount = 100 }), KV_J_OK);
    printf("modes: db %04o wal %04o shm %04o\n", mode_of(p), mode_of(wal), mode_of(shm));
    assert_int_equal(mode_of(p), 0600);
    assert_int_equal(mode_of(wal), 0600);
    assert_int_equal(mode_of(shm), 0600);
    kv_journal_close(j);
    umask(old);

    /* Readable by others: refused, with the chmod that fixes it. */
    assert_int_equal(chmod(p, 0644), 0);
    j = NULL;
    assert_int_equal(kv_journal_open(&j, p, err, sizeof err), KV_J_E_OPEN);
    printf("%s\n", err);
    assert_null(j);
    assert_non_null(strstr(err, "chmod 600"));
    assert_non_null(strstr(err, p));
    assert_int_equal(chmod(p, 0600), 0);

    /* A folder others may write into (they could swap the files). */
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(kv_journal_open(&j, p, err, sizeof err), KV_J_E_OPEN);
    printf("%s\n", err);
    assert_non_null(strstr(err, "chmod"));
    assert_non_null(strstr(err, dir));
    assert_int_equal(chmod(dir, 0755), 0);

    /* Fixed: it opens again. */
    assert_int_equal(kv_journal_open(&j, p, err, sizeof err), KV_J_OK);
    kv_journal_close(j);
    free(dir);
    free(p);
    free(wal);
    free(shm);
}

/* ---- group commit ---- */

#define GC_THREADS 8
#define GC_EACH 40

typedef struct gc_arg {
    kv_journal *j;
    int idx;
    int fd;          /* acknowledgements go here ("<ref> <step>\n"); -1 none */
    int forever;
    int fails;
} gc_arg;

/* One till's journal steps for a payment, each acknowledged (written to
 * a->fd) only after the call returned KV_J_OK. */
static void *gc_writer(void *arg)
{
    gc_arg *a = arg;
    for (int n = 0; a->forever || n < GC_EACH; n++) {
        char ref[64];
        snprintf(ref, sizeof ref, "GC-%02d-%06d", a->idx, n);
        kv_payment p = pay(ref, "oslo", 1000 + n);
        kv_journal_op op;
        if (kv_journal_batch_begin(a->j) != KV_J_OK) {
            a->fails++;
            continue;
        }
        kv_journal_status st = kv_journal_add_payment(a->j, &p);
        if (st == KV_J_OK)
            st = kv_journal_op_begin(a->j, &op, ref, KV_OP_CREATE, p.amount);
        if (kv_journal_batch_end(a->j, st == KV_J_OK) != KV_J_OK || st != KV_J_OK) {
            a->fails++;
            continue;
        }
        if (a->fd >= 0 && dprintf(a->fd, "%s journaled\n", ref) < 0)
            break;
        p.state = KV_PAY_CREATED;
        if (kv_journal_op_finish(a->j, op.id, KV_OPR_OK) != KV_J_OK ||
            kv_journal_update_payment(a->j, &p, "created") != KV_J_OK) {
            a->fails++;
            continue;
        }
        if (a->fd >= 0 && dprintf(a->fd, "%s created\n", ref) < 0)
            break;
    }
    return NULL;
}

/* Threads writing at once share commits: every unit is there afterwards,
 * and fewer COMMITs (syncs) than units were needed. */
static void test_journal__group_commit_shares_syncs(void **state)
{
    (void)state;
    kv_journal *j = open_j("gc");
    pthread_t t[GC_THREADS];
    gc_arg a[GC_THREADS];
    int shared = 0;
    /* several rounds: sharing needs the threads to overlap, which a loaded
     * machine may delay, but not for all rounds */
    for (int round = 0; round < 5 && !shared; round++) {
        kv_journal_stats before, after;
        kv_journal_stats_get(j, &before);
        for (int i = 0; i < GC_THREADS; i++) {
            a[i] = (gc_arg){ j, round * GC_THREADS + i, -1, 0, 0 };
            assert_int_equal(pthread_create(&t[i], NULL, gc_writer, &a[i]), 0);
        }
        for (int i = 0; i < GC_THREADS; i++) {
            pthread_join(t[i], NULL);
            assert_int_equal(a[i].fails, 0);
        }
        kv_journal_stats_get(j, &after);
        uint64_t units = after.units - before.units, commits = after.commits - before.commits;
        /* per payment: one batch (row + key), the answer, the new state */
        assert_int_equal(units, (uint64_t)GC_THREADS * GC_EACH * 3);
        assert_true(commits >= 1 && commits <= units);
        shared = commits < units;
    }
    assert_true(shared);
    kv_payment *rows = NULL;
    size_t n = 0;
    kv_journal_query q = { NULL, NULL, 0, 0, 100000 };
    assert_int_equal(kv_journal_find(j, &rows, &n, &q), KV_J_OK);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rows[i].state, KV_PAY_CREATED);
        kv_journal_op op;
        assert_int_equal(kv_journal_op_last(j, &op, rows[i].reference, KV_OP_CREATE), KV_J_OK);
        assert_int_equal(op.result, KV_OPR_OK);
    }
    free(rows);
    kv_journal_close(j);
}

/* After a crash: every acknowledged step (acks[i], kinds[i] 1 for
 * "created") is in the journal, and nothing is half there (a payment row
 * always has its create key, a CREATED payment always its answered key). */
static void gc_verify(kv_journal *j, char (*acks)[64], const int *kinds, size_t nack)
{
    for (size_t i = 0; i < nack; i++) {
        kv_payment p;
        if (kv_journal_get_payment(j, &p, acks[i]) != KV_J_OK)
            fail_msg("acknowledged %s is not in the journal after kill -9", acks[i]);
        if (kinds[i])
            assert_int_equal(p.state, KV_PAY_CREATED);
    }
    kv_payment *rows = NULL;
    size_t n = 0;
    kv_journal_query q = { NULL, NULL, 0, 0, 1000000 };
    assert_int_equal(kv_journal_find(j, &rows, &n, &q), KV_J_OK);
    assert_true(n >= nack / 2);
    for (size_t i = 0; i < n; i++) {
        kv_journal_op op;
        if (kv_journal_op_last(j, &op, rows[i].reference, KV_OP_CREATE) != KV_J_OK)
            fail_msg("%s: payment row without its create key", rows[i].reference);
        assert_int_equal(kv_journal_op_count(j, rows[i].reference, KV_OP_CREATE, -1), 1);
        if (rows[i].state == KV_PAY_CREATED)
            assert_int_equal(op.result, KV_OPR_OK);
        else
            assert_int_equal(rows[i].state, KV_PAY_NEW);
    }
    free(rows);
}

/* kill -9 while threads commit in shared transactions: after the restart
 * every step a thread was told was durable is in the journal, and nothing
 * is half there (a payment row always has its create key, a CREATED
 * payment always its answered key). */
static void test_journal__group_commit_survives_kill_9(void **state)
{
    (void)state;
    char *path = jpath("gc-crash");
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        kv_journal *j = NULL;
        if (kv_journal_open(&j, path, NULL, 0) != KV_J_OK)
            _exit(3);
        pthread_t t[GC_THREADS];
        static gc_arg a[GC_THREADS];
        for (int i = 0; i < GC_THREADS; i++) {
            a[i] = (gc_arg){ j, i, pfd[1], 1, 0 };
            pthread_create(&t[i], NULL, gc_writer, &a[i]);
        }
        for (int i = 0; i < GC_THREADS; i++)
            pthread_join(t[i], NULL);
        _exit(0);
    }
    close(pfd[1]);
    /* read acknowledgements until enough have come, then kill mid-stream */
    FILE *in = fdopen(pfd[0], "r");
    assert_non_null(in);
    size_t cap = 4096, nack = 0;
    char (*acks)[64] = calloc(cap, sizeof *acks);
    int kinds[4096];
    char line[128];
    while (nack < 600 && fgets(line, sizeof line, in)) {
        char ref[64], step[32];
        if (sscanf(line, "%63s %31s", ref, step) != 2)
            continue;
        snprintf(acks[nack], sizeof acks[nack], "%s", ref);
        kinds[nack++] = strcmp(step, "created") == 0;
    }
    kill(pid, SIGKILL);
    /* acknowledgements already in the pipe were made before the kill */
    while (nack < cap && fgets(line, sizeof line, in)) {
        char ref[64], step[32];
        if (sscanf(line, "%63s %31s", ref, step) != 2)
            continue;
        snprintf(acks[nack], sizeof acks[nack], "%s", ref);
        kinds[nack++] = strcmp(step, "created") == 0;
    }
    fclose(in);
    int st = 0;
    waitpid(pid, &st, 0);
    assert_true(WIFSIGNALED(st));
    assert_true(nack >= 600);

    kv_journal *j = NULL;
    assert_int_equal(kv_journal_open(&j, path, NULL, 0), KV_J_OK);
    gc_verify(j, acks, kinds, nack);
    kv_journal_close(j);
    free(acks);
    free(path);
}

/* Many processes open one journal that does not exist yet, all at the same
 * moment (several `kvitt report` or `kvitt pay` started together on a new
 * shop): every one of them opens it; none answers "database is locked". */
static void test_journal__many_processes_create_one_file_at_once(void **state)
{
    (void)state;
#ifdef KVT_JOURNAL_PG
    skip();
#else
    enum { ROUNDS = 12, N = 12 };
    for (int round = 0; round < ROUNDS; round++) {
        char name[32];
        snprintf(name, sizeof name, "race-%d", round);
        char *path = jpath(name);
        int gate[2];
        assert_int_equal(pipe(gate), 0);
        pid_t pid[N];
        for (int i = 0; i < N; i++) {
            pid[i] = fork();
            assert_true(pid[i] >= 0);
            if (pid[i] == 0) {
                close(gate[1]);
                char c;
                while (read(gate[0], &c, 1) > 0) /* released when the parent closes */
                    ;
                kv_journal *cj = NULL;
                char err[512] = "";
                if (kv_journal_open(&cj, path, err, sizeof err) != KV_J_OK) {
                    fprintf(stderr, "round %d child %d: %s\n", round, i, err);
                    _exit(1);
                }
                kv_payment p = pay("", "OSL", 100 + i);
                snprintf(p.reference, sizeof p.reference, "RACE-%d-%d", round, i);
                kv_journal_status st = kv_journal_add_payment(cj, &p);
                if (st != KV_J_OK)
                    fprintf(stderr, "round %d child %d: put: %s\n", round, i, kv_journal_strerror(st));
                kv_journal_close(cj);
                _exit(st == KV_J_OK ? 0 : 1);
            }
        }
        close(gate[0]);
        close(gate[1]);
        for (int i = 0; i < N; i++) {
            int ws;
            assert_int_equal(waitpid(pid[i], &ws, 0), pid[i]);
            if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
                fail_msg("round %d: process %d could not open the new journal", round, i);
        }
        kv_journal *j = NULL;
        assert_int_equal(kv_journal_open(&j, path, NULL, 0), KV_J_OK);
        kv_payment *rows = NULL;
        size_t n = 0;
        kv_journal_query q = { .limit = 100 };
        assert_int_equal(kv_journal_find(j, &rows, &n, &q), KV_J_OK);
        assert_int_equal(n, N);
        free(rows);
        kv_journal_close(j);
        free(path);
    }
#endif
}

#ifdef KVT_JOURNAL_PG
#include "tests/journal_pg_cases.h"
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journal__payment_roundtrip_and_transitions),
        cmocka_unit_test(test_journal__idempotency_keys_reused_until_answered),
        cmocka_unit_test(test_journal__print_jobs_and_events),
        cmocka_unit_test(test_journal__find_by_store_since_unfinished),
        cmocka_unit_test(test_journal__feed_numbered_with_its_state_changes),
        cmocka_unit_test(test_journal__feed_writers_at_once_never_share_a_number),
        cmocka_unit_test(test_journal__threads_and_processes_share_one_file),
        cmocka_unit_test(test_journal__batch_commits_or_undoes_together),
        cmocka_unit_test(test_journal__unwritable_path_is_a_clear_error),
        cmocka_unit_test(test_journal__created_private_and_refused_when_readable),
        cmocka_unit_test(test_journal__group_commit_shares_syncs),
        cmocka_unit_test(test_journal__group_commit_survives_kill_9),
        cmocka_unit_test(test_journal__many_processes_create_one_file_at_once),
#ifdef KVT_JOURNAL_PG
        KVT_JOURNAL_PG_CASES
#endif
    };
#ifdef KVT_JOURNAL_PG
    char why[512] = "";
    g_pg = kvpg_start(why, sizeof why);
    if (!g_pg) {
        printf("SKIP: journal on PostgreSQL: %s\n", why);
        return 0;
    }
    int rc = cmocka_run_group_tests_name("journal_pg", tests, NULL, NULL);
    kvpg_stop(g_pg);
    return rc;
#else
    return cmocka_run_group_tests_name("journal", tests, NULL, NULL);
#endif
}
