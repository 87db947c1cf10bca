/* test_proxy_rule.c - the proxy's rules: amounts as printed in Norway,
 * Denmark and Finland, patterns with a named amount group, text lines of
 * decoded jobs in the till's code page, the refusals (twice, unreadable,
 * over the limit, undecodable), `kvitt proxy test-rule` on the shipped
 * examples, and the [proxy NAME] configuration errors.  Pure functions and
 * the real kvitt program; nothing mocked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "src/proxy/proxy.h"
#include "tests/lib/kvtest.h"

#define B(...) ((const uint8_t[]){ __VA_ARGS__ })

static int64_t amount(const char *s, kv_amount_format f)
{
    int64_t v = -1;
    char err[160];
    if (kv_proxy_parse_amount(&v, s, f, err, sizeof err) != 0)
        return -1;
    return v;
}

static void test_rule__amount_formats(void **state)
{
    (void)state;
    /* Norway / Denmark / Finland: decimal comma, space or dot thousands */
    assert_int_equal(amount("149,00", KV_AMOUNT_COMMA), 14900);
    assert_int_equal(amount("149", KV_AMOUNT_COMMA), 14900);
    assert_int_equal(amount("149,-", KV_AMOUNT_COMMA), 14900);
    assert_int_equal(amount("149,5", KV_AMOUNT_COMMA), 14950);
    assert_int_equal(amount("1 234,50", KV_AMOUNT_COMMA), 123450);
    assert_int_equal(amount("1.234,50", KV_AMOUNT_COMMA), 123450);
    assert_int_equal(amount("12.345.678,90", KV_AMOUNT_COMMA), 1234567890);
    assert_int_equal(amount(" 77,00 ", KV_AMOUNT_COMMA), 7700);
    /* point format */
    assert_int_equal(amount("1,234.50", KV_AMOUNT_POINT), 123450);
    assert_int_equal(amount("20000.00", KV_AMOUNT_POINT), 2000000);
    /* refused */
    assert_int_equal(amount("1,234.50", KV_AMOUNT_COMMA), -1);   /* comma then point */
    assert_int_equal(amount("12,345", KV_AMOUNT_COMMA), -1);     /* three decimals */
    assert_int_equal(amount("1 23,00", KV_AMOUNT_COMMA), -1);    /* group of two */
    assert_int_equal(amount("1234 567,00", KV_AMOUNT_COMMA), -1); /* first group of four */
    assert_int_equal(amount("1 234.567,00", KV_AMOUNT_COMMA), -1); /* mixed separators */
    assert_int_equal(amount("-5,00", KV_AMOUNT_COMMA), -1);
    assert_int_equal(amount("5,0O", KV_AMOUNT_COMMA), -1);
    assert_int_equal(amount("", KV_AMOUNT_COMMA), -1);
    assert_int_equal(amount("9999999999999,00", KV_AMOUNT_COMMA), -1);
}

static kv_proxy_rule *rule(const char *pat, int64_t max)
{
    kv_proxy_rule *r = NULL;
    char err[300];
    if (kv_proxy_rule_create(&r, pat, KV_AMOUNT_COMMA, max, err, sizeof err) != KV_PROXY_OK)
        fail_msg("rule '%s': %s", pat, err);
    return r;
}

static void test_rule__patterns_and_verdicts(void **state)
{
    (void)state;
    kv_proxy_rule *r = rule("^VIPPS +{amount}$", 500000);
    kv_rule_result rr;
    /* ESC @, "Kaffe 45,00" LF, "VIPPS   45,00" LF, GS V 66 3 */
    const uint8_t job[] = { 0x1B, 0x40, 'K', 'a', 'f', 'f', 'e', ' ', '4', '5', ',', '0', '0', 0x0A,
                            'V', 'I', 'P', 'P', 'S', ' ', ' ', ' ', '4', '5', ',', '0', '0', 0x0A,
                            0x1D, 0x56, 0x42, 0x03 };
    kv_proxy_rule_eval(r, NULL, job, sizeof job, &rr);
    assert_int_equal(rr.verdict, KV_RULE_PAY);
    assert_int_equal(rr.amount_minor, 4500);
    assert_int_equal(rr.line, 2);
    assert_string_equal(rr.text, "VIPPS   45,00");
    /* not a payment */
    kv_proxy_rule_eval(r, NULL, B('K', 'O', 'N', 'T', 'A', 'N', 'T', ' ', '4', '5', 0x0A), 11, &rr);
    assert_int_equal(rr.verdict, KV_RULE_NONE);
    /* the line twice: refused, naming both lines */
    const uint8_t twice[] = { 'V', 'I', 'P', 'P', 'S', ' ', '1', 0x0A, 'V', 'I', 'P', 'P', 'S', ' ', '2', 0x0A };
    kv_proxy_rule_eval(r, NULL, twice, sizeof twice, &rr);
    assert_int_equal(rr.verdict, KV_RULE_BAD);
    assert_non_null(strstr(rr.reason, "twice"));
    assert_non_null(strstr(rr.reason, "lines 1 and 2"));
    /* over the limit (5000,00) */
    const uint8_t big[] = { 'V', 'I', 'P', 'P', 'S', ' ', '5', '.', '0', '0', '0', ',', '0', '1', 0x0A };
    kv_proxy_rule_eval(r, NULL, big, sizeof big, &rr);
    assert_int_equal(rr.verdict, KV_RULE_BAD);
    assert_non_null(strstr(rr.reason, "over the limit"));
    /* an amount that does not parse: "VIPPS 1 23,00" (group of two) */
    const uint8_t odd[] = { 'V', 'I', 'P', 'P', 'S', ' ', '1', ' ', '2', '3', ',', '0', '0', 0x0A };
    kv_proxy_rule_eval(r, NULL, odd, sizeof odd, &rr);
    assert_int_equal(rr.verdict, KV_RULE_BAD);
    assert_non_null(strstr(rr.reason, "thousands"));
    /* a job that does not decode (ESC 0x01 is no command) */
    const uint8_t bad[] = { 0x1B, 0x01, 'V', 'I', 'P', 'P', 'S', ' ', '9', ',', '0', '0', 0x0A };
    kv_proxy_rule_eval(r, NULL, bad, sizeof bad, &rr);
    assert_int_equal(rr.verdict, KV_RULE_BAD);
    assert_non_null(strstr(rr.reason, "cannot decode"));
    kv_proxy_rule_destroy(r);
    /* a named group in the user's own expression, after another group */
    r = rule("^(Total|TOTAL) +(?<amount>[0-9.]+,[0-9]{2}) kr$", 0);
    kv_proxy_rule_eval(r, NULL, B('T', 'o', 't', 'a', 'l', ' ', '1', '.', '2', '0', '0', ',', '5', '0', ' ',
                                  'k', 'r', 0x0A), 18, &rr);
    assert_int_equal(rr.verdict, KV_RULE_PAY);
    assert_int_equal(rr.amount_minor, 120050);
    kv_proxy_rule_destroy(r);
}

static void test_rule__bad_patterns(void **state)
{
    (void)state;
    kv_proxy_rule *r = NULL;
    char err[300];
    assert_int_equal(kv_proxy_rule_create(&r, "^VIPPS +[0-9,]+$", KV_AMOUNT_COMMA, 0, err, sizeof err),
                     KV_PROXY_E_CONFIG);
    assert_non_null(strstr(err, "no amount group"));
    assert_int_equal(kv_proxy_rule_create(&r, "{amount} {amount}", KV_AMOUNT_COMMA, 0, err, sizeof err),
                     KV_PROXY_E_CONFIG);
    assert_non_null(strstr(err, "more than one"));
    assert_int_equal(kv_proxy_rule_create(&r, "^(VIPPS {amount}", KV_AMOUNT_COMMA, 0, err, sizeof err),
                     KV_PROXY_E_CONFIG);
    assert_non_null(strstr(err, "match:"));
    assert_null(r);
}

struct lines { char l[8][128]; int n; };

static int grab(void *ctx, int lineno, const char *s)
{
    struct lines *L = ctx;
    (void)lineno;
    if (L->n < 8)
        snprintf(L->l[L->n++], sizeof L->l[0], "%s", s);
    return 0;
}

static void test_rule__text_in_the_tills_code_page(void **state)
{
    (void)state;
    /* ESC t 5 (PC865): 9B = ø; ESC t 16 (WPC1252): 80 = €, A0 = no-break
     * space (read as a space); ESC $ 400: one space between the columns;
     * the last line without LF still counts */
    const uint8_t job[] = { 0x1B, 0x74, 0x05, 'p', 0x9B, 0x0A,
                            0x1B, 0x74, 0x10, '1', 0xA0, '2', '3', '4', ',', '5', '0', ' ', 0x80, 0x0A,
                            'C', 'a', 'k', 'e', 0x1B, 0x24, 0x90, 0x01, '5', '2', ',', '0', '0', 0x0A,
                            'e', 'n', 'd' };
    struct lines L = { { { 0 } }, 0 };
    assert_int_equal(kv_proxy_text_lines(NULL, job, sizeof job, grab, &L), 0);
    assert_int_equal(L.n, 4);
    assert_string_equal(L.l[0], "pø");
    assert_string_equal(L.l[1], "1 234,50 €");
    assert_string_equal(L.l[2], "Cake 52,00");
    assert_string_equal(L.l[3], "end");
}

/* `kvitt proxy test-rule` on the three shipped examples (fixtures/proxy/,
 * the rules of etc/proxy/kvitt-proxy.conf). */
static void test_rule__test_rule_cli_examples(void **state)
{
    (void)state;
    static const struct { const char *file, *match, *expect; } ex[] = {
        { "till-epson-nb", "^VIPPS +{amount}$", "payment: 77,00 (line 5" },
        { "till-positions-da", "^MobilePay +(?<amount>[0-9.]+,[0-9]{2})$", "payment: 1052,00 (line 3" },
        { "till-wpc1252-fi", "^Vipps MobilePay +{amount} €$", "payment: 1234,50 (line 2" },
    };
    for (size_t i = 0; i < 3; i++) {
        char *f = kvt_path("%s/fixtures/proxy/%s.bin", kvt_srcdir(), ex[i].file);
        const char *argv[] = { "kvitt", "proxy", "test-rule", f, "--match", ex[i].match, NULL };
        kvt_result r;
        assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
        if (r.status != 0 || !strstr(r.out, ex[i].expect))
            fail_msg("%s: exit %d\n%s%s", ex[i].file, r.status, r.out, r.err);
        kvt_result_free(&r);
        /* another example's rule finds nothing here: exit 1 */
        const char *other[] = { "kvitt", "proxy", "test-rule", f, "--match", ex[(i + 1) % 3].match, NULL };
        assert_int_equal(kvt_run(&r, NULL, NULL, 30, other), 0);
        assert_int_equal(r.status, 1);
        assert_non_null(strstr(r.out, "not a payment"));
        kvt_result_free(&r);
        free(f);
    }
    /* over the limit: exit 2, the reason shown */
    char *f = kvt_path("%s/fixtures/proxy/till-positions-da.bin", kvt_srcdir());
    const char *lim[] = { "kvitt", "proxy", "test-rule", f, "--match", ex[1].match, "--max-amount", "1000.00",
                          NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, lim), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.out, "over the limit"));
    kvt_result_free(&r);
    free(f);
}

/* [proxy NAME] errors name the file, line and key. */
static void test_rule__config_errors(void **state)
{
    (void)state;
    static const struct { const char *lines, *expect; } bad[] = {
        { "listen = tcp://127.0.0.1:0\nprinter = tcp://127.0.0.1:9\n", "match" },
        { "listen = ftp://x\nprinter = tcp://127.0.0.1:9\nmatch = ^V {amount}$\n", "listen" },
        { "listen = tcp://127.0.0.1:0\nprinter = tcp://127.0.0.1:9\nmatch = ^V {amount}$\nmax_amount = lots\n",
          "max_amount" },
        { "listen = tcp://127.0.0.1:0\nprinter = tcp://127.0.0.1:9\nmatch = ^V {amount}$\nidle_ms = -3\n",
          "idle_ms" },
        { "listen = tcp://127.0.0.1:0\nstore = nowhere\nmatch = ^V {amount}$\n", "store" },
    };
    char *job = kvt_path("%s/fixtures/proxy/till-epson-nb.bin", kvt_srcdir());
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *conf = kvt_path("%s/proxy-%zu.conf", kvt_tmpdir(), i);
        char *sec = kvt_path("%s/proxy-%zu.secrets", kvt_tmpdir(), i);
        const char *cred = "[credentials s]\nclient_id = a\nclient_secret = b\nsubscription_key = c\n";
        assert_int_equal(kvt_write_file(sec, cred, strlen(cred)), 0);
        chmod(sec, 0600);
        char text[2048];
        snprintf(text, sizeof text,
                 "[kvitt]\nenvironment = test\njournal = j.db\nsecrets = %s\ndefault_store = s\n\n"
                 "[store s]\nname = S\nmsn = 123456\ncurrency = NOK\nlanguage = nb\ncredentials = s\n"
                 "printer = virtual:/tmp\nprofile = generic-80\n\n[proxy p]\n%s", sec, bad[i].lines);
        free(sec);
        assert_int_equal(kvt_write_file(conf, text, strlen(text)), 0);
        const char *argv[] = { "kvitt", "--config", conf, "proxy", "test-rule", job, "--proxy", "p", NULL };
        kvt_result r;
        assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
        if (r.status != 3 || !strstr(r.err, bad[i].expect) || !strstr(r.err, "[proxy p]"))
            fail_msg("case %zu: exit %d: %s", i, r.status, r.err);
        kvt_result_free(&r);
        free(conf);
    }
    free(job);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule__amount_formats),
        cmocka_unit_test(test_rule__patterns_and_verdicts),
        cmocka_unit_test(test_rule__bad_patterns),
        cmocka_unit_test(test_rule__text_in_the_tills_code_page),
        cmocka_unit_test(test_rule__test_rule_cli_examples),
        cmocka_unit_test(test_rule__config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
