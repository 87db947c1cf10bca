/* test_report_journal.c - the back office's journal calls
 * (src/journal/journal_report.h) under concurrency: several handles on one
 * journal (each standing for a process or an instance of a chain), several
 * threads on each, closing days of one till at the same time.  A real
 * SQLite file, or in the twin test_report_journal_pg a database of a real
 * PostgreSQL server (tests/lib/kvpg.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/journal/journal_report.h"
#include "tests/lib/kvpg.h"
#include "tests/lib/kvtest.h"

enum { HANDLES = 4, THREADS = 2, DAYS = 15 };

typedef struct worker {
    kv_journal *j;
    int first_day;            /* this worker's own days: first_day .. + DAYS - 1 */
    int64_t got[DAYS + 1];    /* its numbers; the last: the day every worker closes */
    int fresh;                /* 1 when it closed the shared day itself */
    int failed;
} worker;

static void day_name(char out[11], int n)
{
    time_t t = (time_t)1767225600 + (time_t)n * 86400; /* 2026-01-01 UTC */
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

static void *closer(void *arg)
{
    worker *w = arg;
    for (int i = 0; i <= DAYS; i++) {
        char day[11];
        day_name(day, i < DAYS ? w->first_day + i : 1000);
        int existed = 0;
        if (kv_journal_z_close(w->j, "oslo", "till-1", day, 1767225600 + i, "{\"net\":\"0.00\"}", &w->got[i],
                               &existed) != KV_J_OK) {
            w->failed = 1;
            return NULL;
        }
        if (i < DAYS && existed)
            w->failed = 1; /* its own day cannot have been closed */
        if (i == DAYS)
            w->fresh = !existed;
    }
    return NULL;
}

static char *journal_path(const char *name)
{
    char *dsn = kvpg_test_journal(name);
    return dsn ? dsn : kvt_path("%s/%s.db", kvt_tmpdir(), name);
}

/* Eight closers on four handles: every day gets one number, the numbers of
 * the till are exactly 1..N (none twice, none missing), the day they all
 * close has one number and one closer; another till starts at 1. */
static void test_report_journal__z_numbers_gapless_across_handles(void **state)
{
    (void)state;
    char *path = journal_path("zrace");
    kv_journal *h[HANDLES];
    for (int i = 0; i < HANDLES; i++)
        assert_int_equal(kv_journal_open(&h[i], path, NULL, 0), KV_J_OK);
    worker w[HANDLES * THREADS];
    pthread_t t[HANDLES * THREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < HANDLES * THREADS; i++) {
        w[i].j = h[i % HANDLES];
        w[i].first_day = i * DAYS;
        assert_int_equal(pthread_create(&t[i], NULL, closer, &w[i]), 0);
    }
    for (int i = 0; i < HANDLES * THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    enum { N = HANDLES * THREADS * DAYS + 1 };
    int seen[N + 1];
    memset(seen, 0, sizeof seen);
    int fresh = 0;
    int64_t shared = w[0].got[DAYS];
    for (int i = 0; i < HANDLES * THREADS; i++) {
        assert_false(w[i].failed);
        fresh += w[i].fresh;
        assert_int_equal(w[i].got[DAYS], shared);
        for (int d = 0; d < DAYS; d++) {
            int64_t z = w[i].got[d];
            if (z < 1 || z > N || seen[z]++)
                fail_msg("Z number %lld twice or outside 1..%d", (long long)z, N);
        }
    }
    assert_int_equal(fresh, 1);
    assert_true(shared >= 1 && shared <= N && !seen[shared]); /* the one number left: gapless */
    /* every day reads back with its number, from another handle */
    for (int i = 0; i < HANDLES * THREADS; i++) {
        char day[11];
        day_name(day, w[i].first_day + DAYS - 1);
        int64_t z = 0;
        assert_int_equal(kv_journal_z_get(h[(i + 1) % HANDLES], "oslo", "till-1", day, &z, NULL, NULL, NULL),
                         KV_J_OK);
        assert_int_equal(z, w[i].got[DAYS - 1]);
    }
    /* another till has its own sequence */
    int64_t z = 0;
    int existed = 1;
    assert_int_equal(kv_journal_z_close(h[1], "oslo", "till-2", "2026-01-01", 1767225600, "{}", &z, &existed),
                     KV_J_OK);
    assert_int_equal(z, 1);
    assert_int_equal(existed, 0);
    /* printing: the first is the original, counted once per call */
    char day[11];
    day_name(day, 0);
    int printed = -1;
    assert_int_equal(kv_journal_z_printed(h[2], "oslo", "till-1", day), KV_J_OK);
    assert_int_equal(kv_journal_z_printed(h[3], "oslo", "till-1", day), KV_J_OK);
    assert_int_equal(kv_journal_z_get(h[0], "oslo", "till-1", day, NULL, NULL, &printed, NULL), KV_J_OK);
    assert_int_equal(printed, 2);
    assert_int_equal(kv_journal_z_printed(h[0], "oslo", "till-1", "1999-01-01"), KV_J_E_NOT_FOUND);
    for (int i = 0; i < HANDLES; i++)
        kv_journal_close(h[i]);
    free(path);
}

/* The feed: a page stored twice (a restart, or two readers) adds its
 * entries once, the cursor is the last one stored, the entries keep the
 * feed's order. */
static void test_report_journal__feed_pages_kept_once(void **state)
{
    (void)state;
    char *path = journal_path("feed");
    kv_journal *a = NULL, *b = NULL;
    assert_int_equal(kv_journal_open(&a, path, NULL, 0), KV_J_OK);
    assert_int_equal(kv_journal_open(&b, path, NULL, 0), KV_J_OK);
    char cur[64] = "x";
    assert_int_equal(kv_journal_feed_cursor(a, "7123456", "funds", cur, sizeof cur), KV_J_OK);
    assert_string_equal(cur, ""); /* never read */
    kv_ledger_entry e[4];
    memset(e, 0, sizeof e);
    for (int i = 0; i < 4; i++) {
        snprintf(e[i].psp_reference, sizeof e[i].psp_reference, "psp-%d", 9 - i); /* not sorted */
        /* a quote, a backslash, a comma and braces stay one text */
        snprintf(e[i].reference, sizeof e[i].reference, i == 1 ? "OSL-\"q\\1,{x}" : "OSL-%d", i);
        snprintf(e[i].entry_type, sizeof e[i].entry_type, i == 3 ? "refund" : "capture");
        e[i].amount = i == 3 ? -5000 : 10000 + i;
        snprintf(e[i].currency, sizeof e[i].currency, "NOK");
        snprintf(e[i].ledger_date, sizeof e[i].ledger_date, "2026-01-02");
        snprintf(e[i].time, sizeof e[i].time, "2026-01-02T10:00:0%dZ", i);
        snprintf(e[i].recipient, sizeof e[i].recipient, "api:123456");
    }
    size_t added = 99;
    assert_int_equal(kv_journal_feed_store(a, "7123456", "funds", e, 3, "c1", &added), KV_J_OK);
    assert_int_equal(added, 3);
    /* the same page again from another handle, then the next one */
    assert_int_equal(kv_journal_feed_store(b, "7123456", "funds", e, 3, "c1", &added), KV_J_OK);
    assert_int_equal(added, 0);
    assert_int_equal(kv_journal_feed_store(b, "7123456", "funds", e + 2, 2, "c2", &added), KV_J_OK);
    assert_int_equal(added, 1);
    assert_int_equal(kv_journal_feed_cursor(a, "7123456", "funds", cur, sizeof cur), KV_J_OK);
    assert_string_equal(cur, "c2");
    assert_int_equal(kv_journal_feed_cursor(a, "7123456", "fees", cur, sizeof cur), KV_J_OK);
    assert_string_equal(cur, "");
    int64_t n = 0;
    assert_int_equal(kv_journal_feed_count(a, "7123456", "funds", NULL, &n), KV_J_OK);
    assert_int_equal(n, 4);
    assert_int_equal(kv_journal_feed_count(a, "7123456", "funds", "2026-01-03", &n), KV_J_OK);
    assert_int_equal(n, 0);
    kv_ledger_entry *got = NULL;
    size_t k = 0;
    assert_int_equal(kv_journal_feed_entries(b, "7123456", "funds", "2026-01-02", &got, &k), KV_J_OK);
    assert_int_equal(k, 4);
    for (size_t i = 0; i < k; i++) {
        assert_string_equal(got[i].psp_reference, e[i].psp_reference);
        assert_string_equal(got[i].reference, e[i].reference);
        assert_string_equal(got[i].entry_type, e[i].entry_type);
        assert_int_equal(got[i].amount, e[i].amount);
        assert_string_equal(got[i].time, e[i].time);
        assert_string_equal(got[i].ledger_id, "7123456");
        assert_string_equal(got[i].topic, "funds");
    }
    free(got);
    assert_int_equal(kv_journal_feed_entries(b, "7123456", "funds", "2026-01-09", &got, &k), KV_J_OK);
    assert_int_equal(k, 0);
    assert_null(got);
    kv_journal_close(a);
    kv_journal_close(b);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_journal__z_numbers_gapless_across_handles),
        cmocka_unit_test(test_report_journal__feed_pages_kept_once),
    };
    return cmocka_run_group_tests_name("report_journal", tests, NULL, NULL);
}
