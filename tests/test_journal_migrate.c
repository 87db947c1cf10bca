/* test_journal_migrate.c - `kvitt journal migrate`: a shop's SQLite
 * journal with a few thousand payments moves into PostgreSQL, verified;
 * a second run copies nothing; `kvitt find` answers the same on both.
 * Real parts: the kvitt program, a PostgreSQL server (tests/lib/kvpg.c),
 * the simulator's configuration.  Prints SKIP without PostgreSQL. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/journal/journal.h"
#include "src/journal/journal_migrate.h"
#include "src/journal/journal_proxy.h"
#include "src/journal/journal_report.h"
#include "tests/lib/kvflow.h"
#include "src/journal/journal_sticker.h"
#include "tests/lib/kvpg.h"

#define NPAY 3000

static kvpg *g_pg;

static const char *const states[] = { "DONE", "NOT_PAID", "WAITING", "CANCELLED", "DONE" };

/* A journal like a shop's after a while: payments in every state, with
 * their create (and capture/refund) keys, transitions, print jobs. */
static void fill(const char *path)
{
    kv_journal *j = NULL;
    assert_int_equal(kv_journal_open(&j, path, NULL, 0), KV_J_OK);
    for (int i = 0; i < NPAY; i++) {
        if (i % 250 == 0)
            assert_int_equal(kv_journal_batch_begin(j), KV_J_OK);
        kv_payment p;
        memset(&p, 0, sizeof p);
        snprintf(p.reference, sizeof p.reference, "OSL-MIG-%06d", i);
        snprintf(p.store_id, sizeof p.store_id, "%s", i % 3 ? "oslo" : "bergen");
        snprintf(p.msn, sizeof p.msn, "123456");
        snprintf(p.till_id, sizeof p.till_id, "till-%d", i % 7);
        snprintf(p.flow, sizeof p.flow, "epayment-qr");
        snprintf(p.currency, sizeof p.currency, "NOK");
        p.amount = 1000 + i * 7;
        p.created_at = 1700000000 + i * 60;
        p.state = KV_PAY_NEW;
        assert_int_equal(kv_journal_add_payment(j, &p), KV_J_OK);
        kv_journal_op op;
        assert_int_equal(kv_journal_op_begin(j, &op, p.reference, KV_OP_CREATE, p.amount), KV_J_OK);
        assert_int_equal(kv_journal_op_finish(j, op.id, KV_OPR_OK), KV_J_OK);
        kv_pay_state_parse(&p.state, states[i % 5]);
        if (p.state == KV_PAY_DONE) {
            assert_int_equal(kv_journal_op_begin(j, &op, p.reference, KV_OP_CAPTURE, p.amount), KV_J_OK);
            assert_int_equal(kv_journal_op_finish(j, op.id, KV_OPR_OK), KV_J_OK);
            p.captured = p.amount;
            if (i % 10 == 0)
                p.refunded = 500;
        }
        assert_int_equal(kv_journal_update_payment(j, &p, "test"), KV_J_OK);
        int64_t id;
        assert_int_equal(kv_journal_job_add(j, &id, p.reference, KV_DOC_SLIP, 0, "virtual:x"), KV_J_OK);
        if (i % 250 == 249)
            assert_int_equal(kv_journal_batch_end(j, 1), KV_J_OK);
    }
    /* the shop's sticker (merchant-callback QR) comes along */
    kv_sticker_row sr;
    memset(&sr, 0, sizeof sr);
    snprintf(sr.id, sizeof sr.id, "kvitt-till-1");
    snprintf(sr.till, sizeof sr.till, "till-1");
    snprintf(sr.store, sizeof sr.store, "oslo");
    snprintf(sr.msn, sizeof sr.msn, "123456");
    snprintf(sr.location, sizeof sr.location, "Kasse 1");
    snprintf(sr.content, sizeof sr.content, "https://qr.vipps.no/example");
    assert_int_equal(kv_journal_sticker_put(j, &sr), KV_J_OK);
    kv_journal_close(j);
}

static char *run_ok(kvf_env *e, const char *const args[])
{
    kvt_result r;
    assert_int_equal(kvf_kvitt(&e[0], &r, NULL, args), 0);
    if (r.status != 0)
        fail_msg("kvitt %s exit %d: %s", args[0], r.status, r.err);
    char *out = r.out;
    r.out = NULL;
    kvt_result_free(&r);
    return out;
}

static void test_journal_migrate__copies_verifies_and_find_answers_the_same(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "mig", NULL), 0);
    char *path = kvt_path("%s/kvitt-journal.db", e.dir);
    assert_int_equal(kvf_set(&e, "journal", path), 0);
    fill(path);
    const char *all[] = { "find", "--json", "--limit", "100000", NULL };
    const char *store[] = { "find", "--json", "--store", "bergen", "--limit", "100000", NULL };
    const char *open[] = { "find", "--json", "--unfinished", "--limit", "100000", NULL };
    const char *stickers[] = { "sticker", "list", "--json", NULL };
    char *a_all = run_ok(&e, all), *a_store = run_ok(&e, store), *a_open = run_ok(&e, open);
    char *a_stk = run_ok(&e, stickers);
    assert_non_null(strstr(a_all, "OSL-MIG-002999"));
    assert_non_null(strstr(a_stk, "kvitt-till-1"));

    char *dsn = kvpg_database(g_pg, "migrate");
    assert_non_null(dsn);
    char *envs = kvt_path("KVITT_TEST_MIGRATE_DSN=%s", dsn);
    const char *env[] = { envs, NULL };
    const char *mig[] = { "journal", "migrate", "--to", "env:KVITT_TEST_MIGRATE_DSN", "--quiet", NULL };
    kvt_result r;
    assert_int_equal(kvf_kvitt(&e, &r, env, mig), 0);
    if (r.status != 0)
        fail_msg("migrate exit %d: %s %s", r.status, r.out, r.err);
    assert_non_null(strstr(r.out, "verified"));
    assert_non_null(strstr(r.out, "payments            3000 rows in the file,     3000 copied now,     3000 in"));
    assert_null(strstr(r.out, dsn)); /* never printed */
    kvt_result_free(&r);
    /* again: nothing copied twice, still verified */
    assert_int_equal(kvf_kvitt(&e, &r, env, mig), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "payments            3000 rows in the file,        0 copied now,     3000 in"));
    assert_non_null(strstr(r.out, "verified"));
    kvt_result_free(&r);

    /* the same questions to the chain's journal, the same answers */
    assert_int_equal(kvf_set(&e, "journal", dsn), 0);
    char *b_all = run_ok(&e, all), *b_store = run_ok(&e, store), *b_open = run_ok(&e, open);
    assert_string_equal(b_all, a_all);
    assert_string_equal(b_store, a_store);
    assert_string_equal(b_open, a_open);
    char *b_stk = run_ok(&e, stickers);
    assert_string_equal(b_stk, a_stk);
    free(a_all), free(a_store), free(a_open), free(b_all), free(b_store), free(b_open);
    free(a_stk), free(b_stk);

    /* a wrong target is refused clearly, nothing copied */
    const char *bad[] = { "journal", "migrate", "--to", "/tmp/not-a-dsn.db", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, bad), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--to"));
    kvt_result_free(&r);
    free(envs);
    free(dsn);
    free(path);
    kvf_stop(&e);
}

/* The back office's and the proxy's rows come along: a till's Z numbers
 * go on after the move (never a second Z 1), the feed continues from its
 * cursor with its entries kept once, a held receipt is still held with
 * its bytes. */
static void test_journal_migrate__back_office_and_proxy_rows(void **state)
{
    (void)state;
    char *path = kvt_path("%s/bo.db", kvt_tmpdir());
    kv_journal *j = NULL;
    assert_int_equal(kv_journal_open(&j, path, NULL, 0), KV_J_OK);
    int64_t z;
    int existed;
    static const char *const days[] = { "2026-01-01", "2026-01-02", "2026-01-03" };
    for (int i = 0; i < 3; i++) {
        assert_int_equal(kv_journal_z_close(j, "oslo", "till-1", days[i], 1767225600 + i, "{\"net\":1}", &z,
                                            &existed), KV_J_OK);
        assert_int_equal(z, i + 1);
    }
    assert_int_equal(kv_journal_z_printed(j, "oslo", "till-1", days[1]), KV_J_OK);
    kv_ledger_entry e[3];
    memset(e, 0, sizeof e);
    for (int i = 0; i < 3; i++) {
        snprintf(e[i].psp_reference, sizeof e[i].psp_reference, "psp-%d", i);
        snprintf(e[i].reference, sizeof e[i].reference, "OSL-%d", i);
        snprintf(e[i].entry_type, sizeof e[i].entry_type, "capture");
        e[i].amount = 100 * (i + 1);
        snprintf(e[i].currency, sizeof e[i].currency, "NOK");
        snprintf(e[i].ledger_date, sizeof e[i].ledger_date, "2026-01-02");
        snprintf(e[i].time, sizeof e[i].time, "2026-01-02T10:0%d:00Z", 3 - i); /* feed order, not time order */
        snprintf(e[i].recipient, sizeof e[i].recipient, "api:123456");
    }
    assert_int_equal(kv_journal_feed_store(j, "7123456", "funds", e, 3, "cursor-after-3", NULL), KV_J_OK);
    static const unsigned char job[] = { 0x1b, 0x40, 0x00, 0xff, 'V', 0x0a, 0x1d, 0x56, 0x42, 0x03 };
    int64_t held, gone;
    assert_int_equal(kv_journal_proxy_hold(j, "till-1", "OSL-P1", 7700, job, sizeof job, &held), KV_J_OK);
    assert_int_equal(kv_journal_proxy_hold(j, "till-1", "OSL-P2", 100, job, 2, &gone), KV_J_OK);
    assert_int_equal(kv_journal_proxy_release(j, gone, "paid"), KV_J_OK);
    kv_journal_close(j);

    char *dsn = kvpg_database(g_pg, "migrate_bo");
    assert_non_null(dsn);
    char uerr[512] = "";
    assert_int_equal(kv_journal_upgrade(dsn, NULL, NULL, uerr, sizeof uerr), KV_J_OK);
    for (int run = 0; run < 2; run++) { /* the second run copies nothing twice */
        kv_migrate_report rep;
        char err[512] = "";
        if (kv_journal_migrate(path, dsn, &rep, NULL, NULL, err, sizeof err) != KV_J_OK)
            fail_msg("migrate: %s", err);
        assert_true(rep.verified);
    }
    assert_int_equal(kv_journal_open(&j, dsn, NULL, 0), KV_J_OK);
    int64_t closed_at;
    int printed;
    char *fig = NULL;
    assert_int_equal(kv_journal_z_get(j, "oslo", "till-1", days[1], &z, &closed_at, &printed, &fig), KV_J_OK);
    assert_int_equal(z, 2);
    assert_int_equal(closed_at, 1767225601);
    assert_int_equal(printed, 1);
    assert_string_equal(fig, "{\"net\":1}");
    free(fig);
    /* the till's next close on the chain's journal: 4, not 1 */
    assert_int_equal(kv_journal_z_close(j, "oslo", "till-1", "2026-01-04", 1767484800, "{}", &z, &existed), KV_J_OK);
    assert_int_equal(existed, 0);
    assert_int_equal(z, 4);
    char cursor[64];
    assert_int_equal(kv_journal_feed_cursor(j, "7123456", "funds", cursor, sizeof cursor), KV_J_OK);
    assert_string_equal(cursor, "cursor-after-3");
    kv_ledger_entry *got = NULL;
    size_t n = 0;
    assert_int_equal(kv_journal_feed_entries(j, "7123456", "funds", "2026-01-02", &got, &n), KV_J_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(got[i].psp_reference, e[i].psp_reference);
        assert_int_equal(got[i].amount, e[i].amount);
    }
    free(got);
    kv_proxy_held *rows = NULL;
    assert_int_equal(kv_journal_proxy_pending(j, NULL, &rows, &n), KV_J_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].reference, "OSL-P1");
    assert_int_equal(rows[0].amount, 7700);
    assert_int_equal(rows[0].len, sizeof job);
    assert_memory_equal(rows[0].job, job, sizeof job);
    kv_journal_proxy_free(rows, n);
    kv_journal_close(j);
    free(dsn);
    free(path);
}

int main(void)
{
    char why[512] = "";
    g_pg = kvpg_start(why, sizeof why);
    if (!g_pg) {
        printf("SKIP: journal migrate: %s\n", why);
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journal_migrate__copies_verifies_and_find_answers_the_same),
        cmocka_unit_test(test_journal_migrate__back_office_and_proxy_rows),
    };
    int rc = cmocka_run_group_tests_name("journal_migrate", tests, NULL, NULL);
    kvpg_stop(g_pg);
    return rc;
}
