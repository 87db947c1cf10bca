/* test_reconcile.c - `kvitt reconcile` against a real `kvitt sim` (its
 * Report API over HTTP) and the real journal of a day of real payments:
 * all matched; each kind of mismatch reported exactly; an open date never a
 * mismatch; the feed resumed after kill -9; wrong keys. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/journal/journal_report.h"
#include "tests/lib/kvbackoffice.h"
#include "tests/lib/kvflow.h"
#include "tests/lib/kvtest.h"

static void today(char d[11])
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(d, 11, "%Y-%m-%d", &tm);
}

static void control(kvf_env *e, const char *what, const char *json)
{
    char path[64];
    snprintf(path, sizeof path, "/sim/v1/report/%s", what);
    long st = 0;
    char *b = kvf_http(e, "POST", path, json, &st);
    if (!b || st != 204)
        fail_msg("POST %s %s: %ld %s", path, json, st, b ? b : "(no answer)");
    free(b);
}

static cJSON *reconcile(kvf_env *e, const char *date, int want, const char *extra)
{
    const char *args[8] = { "reconcile", "--date", date, "--json" };
    int n = 4;
    if (extra)
        args[n++] = extra;
    args[n] = NULL;
    kvt_result r;
    assert_int_equal(kvf_kvitt(e, &r, NULL, args), 0);
    if (r.status != want)
        fail_msg("reconcile: exit %d (want %d): %s %s", r.status, want, r.out, r.err);
    cJSON *o = cJSON_Parse(r.out);
    if (!o)
        fail_msg("not JSON: %s", r.out);
    kvt_result_free(&r);
    return o;
}

static cJSON *list(cJSON *o, const char *name)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(o, name);
    assert_true(cJSON_IsArray(a));
    return a;
}

static const char *str(cJSON *o, const char *k)
{
    cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(x))
        fail_msg("%s missing in %s", k, cJSON_PrintUnformatted(o));
    return x->valuestring;
}

static cJSON *ledger(cJSON *o, const char *store)
{
    cJSON *l;
    cJSON_ArrayForEach(l, list(o, "ledgers"))
        if (!strcmp(str(l, "store"), store))
            return l;
    fail_msg("no ledger of %s", store);
    return NULL;
}

static void test_reconcile__a_day_all_matched_after_the_date_closes(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "recon-ok", sim), 0);
    kvr_day d;
    kvr_make_day(&e, &d);
    char day[11];
    today(day);
    /* not closed yet at Vipps: open, exit 6, no lists at all */
    cJSON *o = reconcile(&e, day, 6, NULL);
    assert_string_equal(str(o, "status"), "open");
    assert_string_equal(str(ledger(o, "oslo"), "date_state"), "open");
    assert_int_equal(cJSON_GetArraySize(list(o, "journal_only")), 0);
    assert_int_equal(cJSON_GetArraySize(list(o, "vipps_only")), 0);
    cJSON_Delete(o);
    /* the date closes (the simulator's payout) */
    control(&e, "close", "{}");
    o = reconcile(&e, day, 0, NULL);
    assert_string_equal(str(o, "status"), "matched");
    cJSON *m = list(o, "matched");
    assert_int_equal(cJSON_GetArraySize(m), 3); /* two captures and one refund */
    int seen_refund = 0, seen_paid = 0;
    cJSON *x;
    cJSON_ArrayForEach(x, m) {
        assert_string_equal(str(x, "vipps_amount"), str(x, "journal_amount"));
        assert_true(strlen(str(x, "psp_reference")) > 0);
        if (!strcmp(str(x, "type"), "refund")) {
            seen_refund = 1;
            assert_string_equal(str(x, "reference"), d.refunded);
            assert_string_equal(str(x, "vipps_amount"), "50.00");
        }
        if (!strcmp(str(x, "reference"), d.paid))
            seen_paid = 1;
        /* the cancelled, not-paid and unknown payments moved no money */
        assert_string_not_equal(str(x, "reference"), d.unknown);
        assert_string_not_equal(str(x, "reference"), d.cancelled);
    }
    assert_true(seen_refund && seen_paid);
    assert_int_equal(cJSON_GetArraySize(list(o, "vipps_only")), 0);
    assert_int_equal(cJSON_GetArraySize(list(o, "journal_only")), 0);
    assert_int_equal(cJSON_GetArraySize(list(o, "amount_differs")), 0);
    cJSON *l = ledger(o, "oslo");
    assert_string_equal(str(l, "date_state"), "closed");
    assert_string_equal(str(l, "captures"), "349.00");
    assert_string_equal(str(l, "refunds"), "50.00");
    /* 1.75 % of each capture, rounded: 2.61 + 3.50 */
    assert_string_equal(str(l, "fees"), "6.11");
    assert_string_equal(str(l, "payout"), "292.89");
    cJSON_Delete(o);
    /* CSV and text carry the same verdict */
    const char *ca[] = { "reconcile", "--date", day, "--csv", NULL };
    kvt_result r;
    assert_int_equal(kvf_kvitt(&e, &r, NULL, ca), 0);
    assert_int_equal(r.status, 0);
    char row[160];
    snprintf(row, sizeof row, "%s,matched,oslo,%s,refund,", day, d.refunded);
    assert_non_null(strstr(r.out, row));
    snprintf(row, sizeof row, "%s,payout,oslo,,,,292.89,", day);
    assert_non_null(strstr(r.out, row));
    kvt_result_free(&r);
    /* the text for the bookkeeper: counts with their nouns */
    const char *ta[] = { "reconcile", "--date", day, NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, ta), 0);
    assert_int_equal(r.status, 0);
    if (!strstr(r.out, "2 captures 349.00, 1 refund 50.00, fees 6.11, payout 292.89"))
        fail_msg("reconcile text:\n%s", r.out);
    assert_non_null(strstr(r.out, "0 captures 0.00, 0 refunds 0.00"));
    kvt_result_free(&r);
    kvr_day_free(&d);
    kvf_stop(&e);
}

static void test_reconcile__each_mismatch_reported_exactly(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "recon-bad", sim), 0);
    kvr_day d;
    kvr_make_day(&e, &d);
    char day[11], js[256];
    today(day);
    /* a capture made outside kvitt (another till on the same MSN) */
    control(&e, "entries", "{\"action\":\"add\",\"msn\":\"123456\",\"entryType\":\"capture\","
                           "\"reference\":\"OTHER-TILL-1\",\"amount\":9900}");
    /* Vipps lacks the refund */
    snprintf(js, sizeof js, "{\"action\":\"drop\",\"reference\":\"%s\",\"entryType\":\"refund\"}", d.refunded);
    control(&e, "entries", js);
    /* Vipps has another amount for the paid capture */
    snprintf(js, sizeof js, "{\"action\":\"amount\",\"reference\":\"%s\",\"entryType\":\"capture\",\"amount\":14800}",
             d.paid);
    control(&e, "entries", js);
    /* oslo's date closes, bergen's stays open */
    control(&e, "close", "{\"msn\":\"123456\"}");
    /* a payment at bergen (open date: never a mismatch) */
    const char *xb[] = { "--store", "bergen", NULL };
    char *bref = kvr_pay(&e, "30.00", 0, xb);

    cJSON *o = reconcile(&e, day, 1, NULL);
    assert_string_equal(str(o, "status"), "mismatch");
    cJSON *vo = list(o, "vipps_only"), *jo = list(o, "journal_only"), *ad = list(o, "amount_differs");
    assert_int_equal(cJSON_GetArraySize(vo), 1);
    assert_string_equal(str(cJSON_GetArrayItem(vo, 0), "reference"), "OTHER-TILL-1");
    assert_string_equal(str(cJSON_GetArrayItem(vo, 0), "vipps_amount"), "99.00");
    assert_int_equal(cJSON_GetArraySize(jo), 1);
    assert_string_equal(str(cJSON_GetArrayItem(jo, 0), "reference"), d.refunded);
    assert_string_equal(str(cJSON_GetArrayItem(jo, 0), "type"), "refund");
    assert_string_equal(str(cJSON_GetArrayItem(jo, 0), "journal_amount"), "50.00");
    assert_int_equal(cJSON_GetArraySize(ad), 1);
    assert_string_equal(str(cJSON_GetArrayItem(ad, 0), "reference"), d.paid);
    assert_string_equal(str(cJSON_GetArrayItem(ad, 0), "vipps_amount"), "148.00");
    assert_string_equal(str(cJSON_GetArrayItem(ad, 0), "journal_amount"), "149.00");
    assert_int_equal(cJSON_GetArraySize(list(o, "matched")), 1); /* the 200.00 capture */
    assert_string_equal(str(ledger(o, "bergen"), "date_state"), "open");
    /* the bergen payment is in no list: its date is open */
    cJSON *x;
    const char *names[] = { "matched", "vipps_only", "journal_only", "amount_differs" };
    for (int k = 0; k < 4; k++)
        cJSON_ArrayForEach(x, list(o, names[k]))
            assert_string_not_equal(str(x, "reference"), bref);
    cJSON_Delete(o);
    /* CSV: a reference from the API with a comma and a quote stays one field */
    snprintf(js, sizeof js, "{\"action\":\"add\",\"msn\":\"123456\",\"entryType\":\"capture\","
             "\"reference\":\"ODD,\\\"REF\\u0007\",\"amount\":100,\"date\":\"%s\"}", day);
    control(&e, "entries", js);
    const char *ca[] = { "reconcile", "--date", day, "--store", "oslo", "--csv", NULL };
    kvt_result r;
    assert_int_equal(kvf_kvitt(&e, &r, NULL, ca), 0);
    assert_int_equal(r.status, 1);
    if (!strstr(r.out, ",vipps_only,oslo,\"ODD,\"\"REF?\",capture,"))
        fail_msg("CSV: %s", r.out);
    kvt_result_free(&r);
    /* bergen alone: open, exit 6 */
    o = reconcile(&e, day, 6, "--store=bergen");
    assert_string_equal(str(o, "status"), "open");
    cJSON_Delete(o);
    /* tomorrow: not available yet = open (the ledger's day may begin
     * before this machine's); a date beyond is refused as a typo
     * (tests/test_cli_badinput.c) */
    char tomorrow[11];
    time_t tm1 = time(NULL) + 86400;
    struct tm tmv;
    localtime_r(&tm1, &tmv);
    strftime(tomorrow, sizeof tomorrow, "%Y-%m-%d", &tmv);
    o = reconcile(&e, tomorrow, 6, "--store=oslo");
    assert_string_equal(str(ledger(o, "oslo"), "date_state"), "open");
    cJSON_Delete(o);
    free(bref);
    kvr_day_free(&d);
    kvf_stop(&e);
}

static int64_t journal_entries(kvf_env *e)
{
    char *path = kvf_get(e, "journal"); /* the file, or the suite's database */
    assert_non_null(path);
    kv_journal *j = NULL;
    int64_t a = -1, b = -1;
    if (kv_journal_open(&j, path, NULL, 0) == KV_J_OK) {
        if (kv_journal_feed_count(j, "7123456", "funds", NULL, &a) != KV_J_OK)
            a = -1;
        if (kv_journal_feed_count(j, "7123456", "fees", NULL, &b) != KV_J_OK)
            b = -1;
    }
    kv_journal_close(j);
    free(path);
    return a < 0 || b < 0 ? -1 : a + b;
}

static void test_reconcile__feed_resumes_after_kill_9(void **state)
{
    (void)state;
    kvf_env e;
    /* every answer takes 150 ms: the feed is slow enough to be killed mid-way */
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", "--latency-ms", "150", NULL };
    assert_int_equal(kvf_start(&e, "recon-feed", sim), 0);
    kvr_day d;
    kvr_make_day(&e, &d);
    control(&e, "close", "{\"msn\":\"123456\"}");
    control(&e, "config", "{\"pageSize\":1}");
    /* oslo: funds 2 captures + 1 refund + fees-retained + payout = 5; fees 2 + 1 = 3 */
    const int64_t total = 8;
    const char *argv[] = { "kvitt", "--config", e.conf, "reconcile", "feed", "--store", "oslo", "--json", NULL };
    char *log = kvt_path("%s/feed1.log", e.dir);
    kvt_proc *p = kvt_spawn(argv, NULL, log);
    assert_non_null(p);
    int64_t got = 0;
    for (int i = 0; i < 600 && (got = journal_entries(&e)) < 3; i++)
        usleep(20000);
    if (got < 3 || got >= total)
        fail_msg("the feed was not caught mid-way (%lld entries)", (long long)got);
    kvt_proc_stop(p, SIGKILL);
    int64_t before = journal_entries(&e);
    assert_true(before >= 3 && before < total);
    const char *again[] = { "reconcile", "feed", "--store", "oslo", "--json", NULL };
    kvt_result r;
    assert_int_equal(kvf_kvitt(&e, &r, NULL, again), 0);
    if (r.status != 0)
        fail_msg("feed: exit %d %s", r.status, r.err);
    char *added = kvf_json(r.out, "added");
    char *pages = kvf_json(r.out, "pages");
    /* it continued from the journaled cursor: only what was missing, and
     * fewer pages than from the start (8 entries + 2 ends) */
    assert_int_equal(atoll(added), total - before);
    assert_true(atoi(pages) < (int)total + 2);
    free(added);
    free(pages);
    kvt_result_free(&r);
    assert_int_equal(journal_entries(&e), total);
    /* the journaled feed reconciles like the dates endpoint */
    char day[11];
    today(day);
    const char *fa[] = { "reconcile", "--date", day, "--from-feed", "--store", "oslo", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, fa), 0);
    assert_int_equal(r.status, 0);
    cJSON *o = cJSON_Parse(r.out);
    assert_string_equal(str(ledger(o, "oslo"), "payout"), "292.89");
    assert_int_equal(cJSON_GetArraySize(list(o, "matched")), 3);
    cJSON_Delete(o);
    kvt_result_free(&r);
    free(log);
    kvr_day_free(&d);
    kvf_stop(&e);
}

static void test_reconcile__feed_follow_keeps_up_until_sigterm(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "recon-follow", sim), 0);
    const char *argv[] = { "kvitt", "--config", e.conf, "reconcile", "feed", "--store", "oslo", "--follow",
                           "--interval", "1", "--json", NULL };
    char *log = kvt_path("%s/follow.log", e.dir);
    kvt_proc *p = kvt_spawn(argv, NULL, log);
    assert_non_null(p);
    char *first = kvt_proc_readline(p, 30000); /* the first read: nothing yet */
    assert_non_null(first);
    assert_non_null(strstr(first, "\"added\":0"));
    free(first);
    /* a sale while it follows: its capture and fee arrive by themselves */
    free(kvr_pay(&e, "10.00", 0, NULL));
    int64_t got = 0;
    for (int i = 0; i < 600 && (got = journal_entries(&e)) < 2; i++)
        usleep(50000);
    assert_int_equal(got, 2);
    int st = kvt_proc_stop(p, SIGTERM);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    free(log);
    kvf_stop(&e);
}

static void test_reconcile__wrong_keys_and_bad_input(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "recon-keys", NULL), 0);
    static const struct { const char *args[8]; int code; const char *msg; } t[] = {
        { { "reconcile", "--date", "2026-1-1" }, 2, "--date" },
        { { "reconcile", "--store", "nowhere" }, 2, "--store nowhere" },
        { { "reconcile", "--json", "--csv" }, 2, "exclude" },
        { { "reconcile", "feed", "--date", "2026-01-01" }, 2, "feed takes" },
        { { "reconcile", "--follow" }, 2, "are for `kvitt reconcile feed`" },
        { { "reconcile", "feed", "--interval", "5" }, 2, "--interval goes with --follow" },
        { { "reconcile", "feed", "--follow", "--interval", "0" }, 2, "--interval: seconds" },
        { { "reconcile", "--bogus" }, 2, "unknown option" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        kvt_result r;
        assert_int_equal(kvf_kvitt(&e, &r, NULL, t[i].args), 0);
        if (r.status != t[i].code || !strstr(r.err, t[i].msg))
            fail_msg("case %zu: exit %d '%s'", i, r.status, r.err);
        kvt_result_free(&r);
    }
    /* the Report API answering 503 every time: unreachable, exit 5 (after
     * the client's retries), nothing reported as a mismatch */
    assert_int_equal(kvf_fault(&e, "{\"path\":\"/report/v2/ledgers/*\",\"action\":\"status\","
                                   "\"status\":503,\"count\":50}"), 0);
    const char *u[] = { "reconcile", "--store", "oslo", "--date", "2026-01-01", NULL };
    kvt_result r0;
    assert_int_equal(kvf_kvitt(&e, &r0, NULL, u), 0);
    if (r0.status != 5 || !strstr(r0.err, "unreachable"))
        fail_msg("exit %d '%s'", r0.status, r0.err);
    assert_int_equal(r0.outlen, 0);
    kvt_result_free(&r0);
    long fst = 0;
    free(kvf_http(&e, "DELETE", "/sim/v1/faults", NULL, &fst));
    /* a wrong client secret for oslo: exit 3, the store named, no secret shown */
    char *sec = kvt_path("%s/kvitt.secrets", e.dir);
    kvr_replace_in_file(sec, "b3NsbyBzaW11bGF0b3Igc2VjcmV0IC0gbm90IHJlYWw=", "WRONGWRONGWRONG");
    const char *args[] = { "reconcile", "--store", "oslo", NULL };
    kvt_result r;
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    if (r.status != 3 || !strstr(r.err, "store oslo"))
        fail_msg("exit %d '%s'", r.status, r.err);
    assert_null(strstr(r.err, "WRONGWRONG"));
    kvt_result_free(&r);
    free(sec);
    kvf_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reconcile__a_day_all_matched_after_the_date_closes),
        cmocka_unit_test(test_reconcile__each_mismatch_reported_exactly),
        cmocka_unit_test(test_reconcile__feed_resumes_after_kill_9),
        cmocka_unit_test(test_reconcile__feed_follow_keeps_up_until_sigterm),
        cmocka_unit_test(test_reconcile__wrong_keys_and_bad_input),
    };
    return cmocka_run_group_tests_name("reconcile", tests, NULL, NULL);
}
