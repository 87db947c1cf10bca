/* test_report.c - `kvitt report`: the X report and the Z report of a day
 * of real payments (a real `kvitt sim` over HTTP, the real journal, the
 * virtual printer), the Z numbers, COPY, frozen figures, and the Z report's
 * bytes checked against the ESC/POS command reference. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tests/lib/kvflow.h"
#include "tests/lib/kvtest.h"
#include "tests/lib/kvbackoffice.h"

/* ---- the Z report's bytes, written from the command reference -------- */

static void test_report__sample_bytes_from_the_command_reference(void **state)
{
    (void)state;
    const char *argv[] = { "kvitt", "report", "sample", "--profile", "epson-tm-t88", "-o", "-", NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 0);
    /* ESC @ (initialize) first */
    static const uint8_t init[] = { 0x1b, 0x40 };
    kvt_assert_bytes(r.out, 2, init, 2);
    /* ESC ! 0x38 = emphasized (bit 3) + double height (bit 4) + double
     * width (bit 5); the title; LF; ESC ! 0 back to normal */
    static const uint8_t title[] = { 0x1b, 0x21, 0x38, 'Z', '-', 'R', 'A', 'P', 'P', 'O', 'R', 'T', 0x0a,
                                     0x1b, 0x21, 0x00 };
    assert_non_null(memmem(r.out, r.outlen, title, sizeof title));
    /* the Z number in bold: ESC E 1 ... "42" LF ESC E 0 */
    const char *zn = memmem(r.out, r.outlen, "\x1b\x45\x01Z-nr.", 8);
    assert_non_null(zn);
    assert_non_null(memmem(zn, 60, "42\n\x1b\x45\x00", 6));
    /* code page 19 (PC858) selected by ESC t 19; u-umlaut is 0x81 and
     * o-slash 0x9B in PC858 */
    static const uint8_t cp[] = { 0x1b, 0x74, 0x13 };
    assert_non_null(memmem(r.out, r.outlen, cp, sizeof cp));
    assert_non_null(memmem(r.out, r.outlen, "Gr\x81nerl\x9bkka", 11));
    /* net in bold double height: ESC ! 0x18 */
    assert_non_null(memmem(r.out, r.outlen, "\x1b\x21\x18Netto", 8));
    /* the open payment by name, then the partial cut GS V 66 0 at the very end */
    assert_non_null(memmem(r.out, r.outlen, "POS-1-20261125-0007 UNKNOWN", 27));
    static const uint8_t cut[] = { 0x1d, 0x56, 0x42, 0x00 };
    kvt_assert_bytes(r.out + r.outlen - 4, 4, cut, 4);
    kvt_result_free(&r);
    /* every language has its title */
    static const char *const langs[][2] = { { "da", "Z-RAPPORT" }, { "fi", "Z-RAPORTTI" },
                                            { "sv", "Z-RAPPORT" }, { "en", "Z REPORT" } };
    for (size_t i = 0; i < 4; i++) {
        const char *a[] = { "kvitt", "report", "sample", "--lang", langs[i][0], "-o", "-", NULL };
        assert_int_equal(kvt_run(&r, NULL, NULL, 30, a), 0);
        assert_int_equal(r.status, 0);
        assert_non_null(memmem(r.out, r.outlen, langs[i][1], strlen(langs[i][1])));
        kvt_result_free(&r);
    }
}

/* ---- a day of payments ------------------------------------------------- */

static void expect_fig(cJSON *g, const char *name, int count, const char *amount)
{
    cJSON *f = cJSON_GetObjectItemCaseSensitive(g, name);
    cJSON *c = cJSON_GetObjectItemCaseSensitive(f, "count");
    cJSON *a = cJSON_GetObjectItemCaseSensitive(f, "amount");
    if (!cJSON_IsNumber(c) || (int)c->valuedouble != count || !cJSON_IsString(a) ||
        strcmp(a->valuestring, amount) != 0)
        fail_msg("%s: want %d / %s, got %s", name, count, amount, cJSON_PrintUnformatted(f));
}

static void expect_vat(cJSON *g, double rate, const char *gross, const char *vat)
{
    cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(g, "vat")) {
        cJSON *r = cJSON_GetObjectItemCaseSensitive(v, "rate");
        int match = rate < 0 ? cJSON_IsNull(r) : cJSON_IsNumber(r) && r->valuedouble == rate;
        if (!match)
            continue;
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(v, "gross")->valuestring, gross);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(v, "vat")->valuestring, vat);
        return;
    }
    fail_msg("no VAT line for rate %g", rate);
}

static char *run_ok(kvf_env *e, const char *const args[], int want)
{
    kvt_result r;
    assert_int_equal(kvf_kvitt(e, &r, NULL, args), 0);
    if (r.status != want)
        fail_msg("%s: exit %d (want %d): %s %s", args[0], r.status, want, r.out, r.err);
    char *out = strdup(r.out);
    kvt_result_free(&r);
    return out;
}

static void test_report__day_x_then_z_copy_and_numbers(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "report-day", sim), 0);
    kvr_day day;
    kvr_make_day(&e, &day);

    const char *xa[] = { "report", "day", "--json", NULL };
    char *out = run_ok(&e, xa, 0);
    cJSON *o = cJSON_Parse(out);
    assert_non_null(o);
    char today[11];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(today, sizeof today, "%Y-%m-%d", &tm);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "date")->valuestring, today);
    cJSON *tills = cJSON_GetObjectItemCaseSensitive(o, "tills");
    assert_int_equal(cJSON_GetArraySize(tills), 1);
    cJSON *g = cJSON_GetArrayItem(tills, 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(g, "till")->valuestring, "till-1");
    expect_fig(g, "sales", 2, "349.00");
    expect_fig(g, "captures", 2, "349.00");
    expect_fig(g, "refunds", 1, "50.00");
    expect_fig(g, "cancelled", 1, "75.00");
    expect_fig(g, "not_paid", 1, "1.51");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(g, "net")->valuestring, "299.00");
    /* 2 x 40.00 at 15 %: 80.00 * 15/115 = 10.43; 69.00 at 25 %: 13.80; the
     * 200.00 sale had no items */
    expect_vat(g, 15, "80.00", "10.43");
    expect_vat(g, 25, "69.00", "13.80");
    expect_vat(g, -1, "200.00", "0.00");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(g, "first_reference")->valuestring, day.paid);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(g, "last_reference")->valuestring, day.unknown);
    cJSON *open = cJSON_GetObjectItemCaseSensitive(g, "open");
    assert_int_equal(cJSON_GetArraySize(open), 1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(open, 0), "reference")->valuestring,
                        day.unknown);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(open, 0), "state")->valuestring,
                        "UNKNOWN");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(g, "z_number"))); /* X: no number */
    cJSON *stores = cJSON_GetObjectItemCaseSensitive(o, "stores");
    assert_int_equal(cJSON_GetArraySize(stores), 1);
    expect_fig(cJSON_GetArrayItem(stores, 0), "sales", 2, "349.00");
    cJSON_Delete(o);
    free(out);

    /* CSV: one row per figure */
    const char *ca[] = { "report", "day", "--csv", NULL };
    out = run_ok(&e, ca, 0);
    assert_non_null(strstr(out, "date,store,till,z_number,figure,count,amount\n"));
    char row[128];
    snprintf(row, sizeof row, "%s,oslo,till-1,,refunds,1,50.00\n", today);
    assert_non_null(strstr(out, row));
    snprintf(row, sizeof row, "%s,oslo,till-1,,vat_15.00,,10.43\n", today);
    assert_non_null(strstr(out, row));
    /* the base of each VAT line too: a bookkeeper books the sales per rate */
    snprintf(row, sizeof row, "%s,oslo,till-1,,gross_15.00,,80.00\n", today);
    if (!strstr(out, row))
        fail_msg("no '%s' in:\n%s", row, out);
    snprintf(row, sizeof row, "%s,oslo,till-1,,gross_without_items,,", today);
    assert_non_null(strstr(out, row));
    free(out);

    /* the Z report: closes the day with number 1 and prints the original */
    const char *za[] = { "report", "day", "--print", "--json", NULL };
    out = run_ok(&e, za, 0);
    char *zn = kvf_json(out, "z_number");
    assert_string_equal(zn, "1");
    free(zn);
    char *copy = kvf_json(out, "copy");
    assert_string_equal(copy, "false");
    free(copy);
    char *job = kvf_json(out, "job");
    assert_true(kvf_file_has(job, "Z-RAPPORT"));
    assert_true(kvf_file_has(job, "Salg (2)"));
    assert_true(kvf_file_has(job, day.unknown));
    assert_false(kvf_file_has(job, "KOPI"));
    free(job);
    free(out);

    /* a payment after the close: the X report sees it, the Z figures stay */
    const char *pa[] = { "pay", "--amount", "10.00", "--json", NULL };
    free(run_ok(&e, pa, 0));
    out = run_ok(&e, xa, 0);
    o = cJSON_Parse(out);
    g = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "tills"), 0);
    expect_fig(g, "sales", 3, "359.00");
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(g, "z_number")->valuedouble, 1);
    cJSON_Delete(o);
    free(out);

    /* printing the closed day again: a COPY with the same number and the
     * frozen figures */
    out = run_ok(&e, za, 0);
    zn = kvf_json(out, "z_number");
    assert_string_equal(zn, "1");
    free(zn);
    copy = kvf_json(out, "copy");
    assert_string_equal(copy, "true");
    free(copy);
    job = kvf_json(out, "job");
    assert_true(kvf_file_has(job, "KOPI"));
    assert_true(kvf_file_has(job, "Salg (2)"));
    assert_false(kvf_file_has(job, "Salg (3)"));
    free(job);
    free(out);

    /* numbers per till run on and never repeat, also for an older day */
    const char *c2[] = { "report", "day", "--date", "2026-01-02", "--close", "--json", NULL };
    out = run_ok(&e, c2, 0);
    zn = kvf_json(out, "z_number");
    assert_string_equal(zn, "2");
    free(zn);
    free(out);
    out = run_ok(&e, c2, 0); /* closed before: same number */
    zn = kvf_json(out, "z_number");
    assert_string_equal(zn, "2");
    free(zn);
    char *before = kvf_json(out, "closed_before");
    assert_string_equal(before, "true");
    free(before);
    free(out);
    const char *c3[] = { "report", "day", "--date", "2026-01-01", "--close", "--json", NULL };
    out = run_ok(&e, c3, 0);
    zn = kvf_json(out, "z_number");
    assert_string_equal(zn, "3");
    free(zn);
    free(out);
    /* another till has its own sequence */
    const char *c4[] = { "report", "day", "--till", "till-2", "--close", "--json", NULL };
    out = run_ok(&e, c4, 0);
    zn = kvf_json(out, "z_number");
    assert_string_equal(zn, "1");
    free(zn);
    free(out);
    /* a till closed without a payment still shows in the X report, with its Z */
    out = run_ok(&e, xa, 0);
    o = cJSON_Parse(out);
    tills = cJSON_GetObjectItemCaseSensitive(o, "tills");
    assert_int_equal(cJSON_GetArraySize(tills), 2);
    g = cJSON_GetArrayItem(tills, 1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(g, "till")->valuestring, "till-2");
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(g, "z_number")->valuedouble, 1);
    expect_fig(g, "sales", 0, "0.00");
    cJSON_Delete(o);
    free(out);
    kvr_day_free(&day);
    kvf_stop(&e);
}

static void test_report__printer_failure_keeps_the_number_and_the_original(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "report-paper", sim), 0);
    const char *pa[] = { "pay", "--amount", "20.00", "--json", NULL };
    free(run_ok(&e, pa, 0));
    char *uri = kvt_path("virtual:%s/zpaper?state=paper-out", e.dir);
    const char *bad[] = { "report", "day", "--print", "--printer", uri, NULL };
    kvt_result r;
    assert_int_equal(kvf_kvitt(&e, &r, NULL, bad), 0);
    if (r.status != 4 || !strstr(r.err, "closed as Z 1"))
        fail_msg("exit %d: %s", r.status, r.err);
    kvt_result_free(&r);
    /* the paper never came out: the next print is the original, not a COPY */
    const char *za[] = { "report", "day", "--print", "--json", NULL };
    char *out = run_ok(&e, za, 0);
    char *copy = kvf_json(out, "copy");
    assert_string_equal(copy, "false");
    char *zn = kvf_json(out, "z_number");
    assert_string_equal(zn, "1");
    free(zn);
    free(copy);
    free(out);
    free(uri);
    /* an X report on paper: no number, says the day is not closed */
    const char *xa[] = { "report", "day", "--print", "--x", "--date", "2026-01-05", "--json", NULL };
    out = run_ok(&e, xa, 0);
    char *job = kvf_json(out, "job");
    assert_true(kvf_file_has(job, "X-RAPPORT"));
    assert_true(kvf_file_has(job, "Dagen er ikke avsluttet"));
    assert_false(kvf_file_has(job, "Z-nr."));
    free(job);
    free(out);
    kvf_stop(&e);
}

static void test_report__bad_input(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "report-bad", NULL), 0);
    static const struct { const char *args[8]; int code; const char *msg; } t[] = {
        { { "report", "day", "--date", "2026-13-01" }, 2, "--date" },
        { { "report", "day", "--date", "2026-02-30" }, 2, "--date" },
        { { "report", "day", "--store", "nowhere" }, 2, "--store nowhere" },
        { { "report", "day", "--json", "--csv" }, 2, "exclude" },
        { { "report", "day", "--x" }, 2, "--x goes with --print" },
        { { "report", "week" }, 2, "unknown report" },
        { { "report", "day", "--bogus" }, 2, "unknown option" },
        { { "report", "day", "--date", "2999-01-01", "--close" }, 2, "has not come" },
        { { "report", "sample" }, 2, "-o FILE" },
        /* a till id is a config name (letters, digits, '-', '_', '.'): a
         * quote or a comma would break the JSON and CSV, and a Z number
         * would be journaled for it */
        { { "report", "day", "--close", "--till", "x\"y", "--json" }, 2, "--till" },
        { { "report", "day", "--till", "a,b", "--csv" }, 2, "--till" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        kvt_result r;
        assert_int_equal(kvf_kvitt(&e, &r, NULL, t[i].args), 0);
        if (r.status != t[i].code || !strstr(r.err, t[i].msg))
            fail_msg("case %zu: exit %d, stderr '%s' (want %d and '%s')", i, r.status, r.err, t[i].code,
                     t[i].msg);
        kvt_result_free(&r);
    }
    /* the answer of --print --json is JSON also when the printer's folder
     * has a quote and a backslash in its name */
    char *dir = kvt_path("%s/pr\"nt\\er", e.dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    char *uri = kvt_path("virtual:%s", dir);
    const char *xa[] = { "report", "day", "--print", "--x", "--printer", uri, "--json", NULL };
    kvt_result r;
    assert_int_equal(kvf_kvitt(&e, &r, NULL, xa), 0);
    assert_int_equal(r.status, 0);
    cJSON *xo = cJSON_Parse(r.out);
    if (!xo)
        fail_msg("not JSON: %s", r.out);
    cJSON *jb = cJSON_GetObjectItemCaseSensitive(xo, "job");
    assert_true(cJSON_IsString(jb));
    assert_true(strncmp(jb->valuestring, dir, strlen(dir)) == 0);
    cJSON_Delete(xo);
    kvt_result_free(&r);
    free(uri);
    free(dir);
    /* a broken config: exit 3 */
    const char *argv[] = { "kvitt", "--config", "/nonexistent/kvitt.conf", "report", "day", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 3);
    kvt_result_free(&r);
    kvf_stop(&e);
}

/* Eight processes close eight days of one till at the same time: eight
 * different numbers, 1..8 (the journal's write transaction + UNIQUE). */
static void test_report__z_numbers_never_repeat_under_concurrency(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "report-race", NULL), 0);
    enum { N = 8 };
    kvt_proc *p[N];
    char dates[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(dates[i], sizeof dates[i], "2026-03-%02d", i + 1);
        const char *argv[] = { "kvitt", "--config", e.conf, "report", "day", "--close", "--date", dates[i],
                               "--json", NULL };
        p[i] = kvt_spawn(argv, NULL, NULL);
        assert_non_null(p[i]);
    }
    int seen[N + 1] = { 0 };
    for (int i = 0; i < N; i++) {
        char *line = kvt_proc_readline(p[i], 60000);
        if (!line)
            fail_msg("process %d gave no answer", i);
        char *z = kvf_json(line, "z_number");
        int n = z ? atoi(z) : 0;
        if (n < 1 || n > N || seen[n]++)
            fail_msg("Z number %d twice or out of 1..%d: %s", n, N, line);
        free(z);
        free(line);
        assert_int_equal(kvt_proc_stop(p[i], 0), 0);
    }
    /* and eight closing the same day: one closes it (number 9), the
     * others find it closed with the same number */
    for (int i = 0; i < N; i++) {
        const char *argv[] = { "kvitt", "--config", e.conf, "report", "day", "--close", "--date", "2026-04-01",
                               "--json", NULL };
        p[i] = kvt_spawn(argv, NULL, NULL);
        assert_non_null(p[i]);
    }
    int fresh = 0;
    for (int i = 0; i < N; i++) {
        char *line = kvt_proc_readline(p[i], 60000);
        if (!line)
            fail_msg("process %d gave no answer", i);
        char *z = kvf_json(line, "z_number"), *before = kvf_json(line, "closed_before");
        assert_string_equal(z, "9");
        fresh += strcmp(before, "false") == 0;
        free(z);
        free(before);
        free(line);
        assert_int_equal(kvt_proc_stop(p[i], 0), 0);
    }
    assert_int_equal(fresh, 1);
    kvf_stop(&e);
}

/* Every option `kvitt CMD --help` prints is in man/kvitt-CMD.1.scd. */
static void test_report__every_help_option_in_the_man_pages(void **state)
{
    (void)state;
    static const char *const cmds[] = { "report", "reconcile", "partner" };
    for (size_t i = 0; i < 3; i++) {
        const char *argv[] = { "kvitt", cmds[i], "--help", NULL };
        kvt_result r;
        assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
        assert_int_equal(r.status, 0);
        char *man = kvt_path("%s/man/kvitt-%s.1.scd", kvt_srcdir(), cmds[i]);
        unsigned char *m;
        size_t ml;
        assert_int_equal(kvt_read_file(man, &m, &ml), 0);
        int checked = 0;
        for (const char *p = r.out; (p = strstr(p, "--")) != NULL; p += 2) {
            size_t n = 2;
            while ((p[n] >= 'a' && p[n] <= 'z') || p[n] == '-')
                n++;
            if (n <= 3)
                continue;
            char want[48];
            snprintf(want, sizeof want, "*%.*s*", (int)n, p);
            if (!memmem(m, ml, want, strlen(want)))
                fail_msg("kvitt %s: %.*s is not in %s", cmds[i], (int)n, p, man);
            checked++;
        }
        assert_true(checked >= 4);
        free(m);
        free(man);
        kvt_result_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report__sample_bytes_from_the_command_reference),
        cmocka_unit_test(test_report__day_x_then_z_copy_and_numbers),
        cmocka_unit_test(test_report__printer_failure_keeps_the_number_and_the_original),
        cmocka_unit_test(test_report__bad_input),
        cmocka_unit_test(test_report__z_numbers_never_repeat_under_concurrency),
        cmocka_unit_test(test_report__every_help_option_in_the_man_pages),
    };
    return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
