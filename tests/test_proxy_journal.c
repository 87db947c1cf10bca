/* test_proxy_journal.c - the proxy's held jobs in the payment journal
 * (src/journal/journal_proxy.h): a real SQLite file in the suite's
 * scratch folder (or, in its twin test_proxy_journal_pg, a database of a
 * real PostgreSQL server), reopened to show the rows survive a restart. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/journal/journal_proxy.h"
#include "tests/lib/kvpg.h"
#include "tests/lib/kvtest.h"

/* The suite's journal: a fresh database on PostgreSQL, else a file. */
static char *journal_path(const char *name)
{
    char *dsn = kvpg_test_journal(name);
    return dsn ? dsn : kvt_path("%s/%s.db", kvt_tmpdir(), name);
}

static kv_journal *open_j(const char *path)
{
    kv_journal *j = NULL;
    char err[256];
    assert_int_equal(kv_journal_open(&j, path, err, sizeof err), KV_J_OK);
    return j;
}

static void test_proxy_journal__hold_pending_release(void **state)
{
    (void)state;
    char *path = journal_path("held");
    kv_journal *j = open_j(path);
    const unsigned char job[] = { 0x1B, 0x40, 'V', 'I', 'P', 'P', 'S', 0x00, 0xFF, 0x0A, 0x1D, 0x56, 0x42, 0x03 };
    int64_t a = 0, b = 0;
    assert_int_equal(kv_journal_proxy_hold(j, "till-1", "OSL-P1", 7700, job, sizeof job, &a), KV_J_OK);
    assert_int_equal(kv_journal_proxy_hold(j, "till-2", "OSL-P2", 100, job, 3, &b), KV_J_OK);
    assert_true(b > a);
    kv_journal_close(j);
    /* a restart: the held jobs are still there, bytes intact (NUL, 0xFF) */
    j = open_j(path);
    kv_proxy_held *rows;
    size_t n;
    assert_int_equal(kv_journal_proxy_pending(j, "till-1", &rows, &n), KV_J_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].id, a);
    assert_string_equal(rows[0].reference, "OSL-P1");
    assert_int_equal(rows[0].amount, 7700);
    assert_int_equal(rows[0].len, sizeof job);
    assert_memory_equal(rows[0].job, job, sizeof job);
    kv_journal_proxy_free(rows, n);
    assert_int_equal(kv_journal_proxy_pending(j, NULL, &rows, &n), KV_J_OK);
    assert_int_equal(n, 2);
    kv_journal_proxy_free(rows, n);
    /* released: no longer pending; releasing an unknown row says so */
    assert_int_equal(kv_journal_proxy_release(j, a, "paid"), KV_J_OK);
    assert_int_equal(kv_journal_proxy_pending(j, "till-1", &rows, &n), KV_J_OK);
    assert_int_equal(n, 0);
    assert_null(rows);
    assert_int_equal(kv_journal_proxy_release(j, 999999, "paid"), KV_J_E_NOT_FOUND);
    assert_int_equal(kv_journal_proxy_hold(j, NULL, "x", 1, job, 1, NULL), KV_J_E_ARG);
    assert_int_equal(kv_journal_proxy_hold(j, "t", "x", 1, NULL, 5, NULL), KV_J_E_ARG);
    kv_journal_close(j);
    free(path);
}

/* Two handles on one journal (two processes' worth): each sees the
 * other's held jobs, ids never collide, and a job released by one is no
 * longer pending for the other. */
static void test_proxy_journal__two_handles_share_the_rows(void **state)
{
    (void)state;
    char *path = journal_path("held_two");
    kv_journal *a = open_j(path), *b = open_j(path);
    int64_t ids[6];
    for (int i = 0; i < 6; i++) {
        char ref[16];
        snprintf(ref, sizeof ref, "REF-%d", i);
        assert_int_equal(kv_journal_proxy_hold(i % 2 ? b : a, "till-9", ref, 100 + i, "\x1b@", 2, &ids[i]),
                         KV_J_OK);
        for (int k = 0; k < i; k++)
            assert_true(ids[k] != ids[i]);
    }
    kv_proxy_held *rows;
    size_t n;
    assert_int_equal(kv_journal_proxy_pending(b, "till-9", &rows, &n), KV_J_OK);
    assert_int_equal(n, 6);
    for (size_t i = 1; i < n; i++)
        assert_true(rows[i].id > rows[i - 1].id); /* oldest first */
    assert_int_equal(rows[0].amount, 100);
    kv_journal_proxy_free(rows, n);
    assert_int_equal(kv_journal_proxy_release(a, ids[3], "not-paid: expired"), KV_J_OK);
    assert_int_equal(kv_journal_proxy_pending(b, "till-9", &rows, &n), KV_J_OK);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_true(rows[i].id != ids[3]);
    kv_journal_proxy_free(rows, n);
    assert_int_equal(kv_journal_proxy_pending(a, "till-none", &rows, &n), KV_J_OK);
    assert_int_equal(n, 0);
    kv_journal_close(a);
    kv_journal_close(b);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proxy_journal__hold_pending_release),
        cmocka_unit_test(test_proxy_journal__two_handles_share_the_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
