/* test_cli_badinput.c - bad input to the newer commands (certify, proxy,
 * proxy test-rule, report, reconcile, partner) as a till vendor or an
 * operations team would type it: unknown options, missing values, bad
 * dates and amounts, unreadable files, control bytes.  Each case must end
 * with exit 2 (bad input) or 3 (configuration) and at most two lines on
 * stderr: the problem, naming the option or value, and one hint.  No
 * control byte of an argument is echoed to the terminal.
 *
 * The configuration is one `kvitt sim --write-config` wrote; the simulator
 * is stopped before the cases run, so a command that wrongly goes to the
 * network ends with exit 5 instead of 2 and the case fails. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/kvtest.h"

static char *conf;

static int setup(void **state)
{
    (void)state;
    conf = kvt_path("%s/badinput/kvitt.conf", kvt_tmpdir());
    const char *argv[] = { "kvitt", "sim", "--listen", "127.0.0.1:0", "--write-config", conf,
                           "--quiet", "--exit-with-parent", NULL };
    kvt_proc *sim = kvt_spawn(argv, NULL, NULL);
    if (!sim)
        return -1;
    char *url = kvt_proc_readline(sim, 30000); /* printed once the config is written */
    kvt_proc_stop(sim, SIGTERM);
    if (!url)
        return -1;
    free(url);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(conf);
    return 0;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

typedef struct {
    const char *args[12]; /* after `kvitt --config CONF` */
    int want;             /* exit code */
    const char *names;    /* stderr must contain this */
    const char *never;    /* stderr must not contain this, or NULL */
} bad_case;

static void run_case(const bad_case *c, size_t i)
{
    const char *argv[16] = { "kvitt", "--config", conf };
    size_t n = 3;
    for (size_t k = 0; c->args[k]; k++)
        argv[n++] = c->args[k];
    argv[n] = NULL;
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, argv), 0);
    char label[256] = "";
    for (size_t k = 0; c->args[k]; k++) {
        strncat(label, c->args[k], sizeof label - strlen(label) - 2);
        strcat(label, " ");
    }
    for (char *p = label; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    if (r.status != c->want)
        fail_msg("case %zu (%s): exit %d, want %d; stderr:\n%s", i, label, r.status, c->want, r.err);
    if (!strstr(r.err, c->names))
        fail_msg("case %zu (%s): stderr does not name '%s':\n%s", i, label, c->names, r.err);
    if (c->never && strstr(r.err, c->never))
        fail_msg("case %zu (%s): stderr says '%s':\n%s", i, label, c->never, r.err);
    if (count(r.err, "\n") > 2)
        fail_msg("case %zu (%s): more than two lines on stderr:\n%s", i, label, r.err);
    if (count(r.err, "--help") > 1)
        fail_msg("case %zu (%s): the --help hint twice:\n%s", i, label, r.err);
    for (const unsigned char *p = (const unsigned char *)r.err; *p; p++)
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
            fail_msg("case %zu (%s): control byte 0x%02x echoed on stderr", i, label, *p);
    kvt_result_free(&r);
}

static void run_cases(const bad_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++)
        run_case(&cases[i], i);
}

/* An unknown option is named, in one line, by every command. */
static void test_badinput__unknown_options_are_named(void **state)
{
    (void)state;
    const bad_case cases[] = {
        { { "certify", "--bogus", NULL }, 2, "'--bogus'", "usage:" },
        { { "certify", "--amount", NULL }, 2, "--amount", "usage:" },
        { { "proxy", "--bogus", "till-1", NULL }, 2, "'--bogus'", NULL },
        { { "proxy", "test-rule", "x.bin", "--bogus", NULL }, 2, "'--bogus'", NULL },
        { { "proxy", "test-rule", "x.bin", "--match", NULL }, 2, "--match", NULL },
        { { "report", "--bogus", NULL }, 2, "'--bogus'", NULL },
        { { "report", NULL }, 2, "day or sample", NULL },
        { { "report", "day", "--bogus", NULL }, 2, "'--bogus'", NULL },
        { { "report", "sample", "--bogus", NULL }, 2, "'--bogus'", NULL },
        { { "reconcile", "--bogus", NULL }, 2, "'--bogus'", NULL },
        { { "reconcile", "feed", "--bogus", NULL }, 2, "'--bogus'", NULL },
        { { "partner", NULL }, 2, "sales-units or signup", NULL },
        { { "partner", "--bogus", NULL }, 2, "'--bogus'", NULL },
        { { "partner", "sales-units", "--bogus", NULL }, 2, "'--bogus'", NULL },
        { { "partner", "signup", "--org", NULL }, 2, "--org", NULL },
    };
    run_cases(cases, sizeof cases / sizeof cases[0]);
}

/* Dates, amounts, numbers and files that are wrong. */
static void test_badinput__bad_values(void **state)
{
    (void)state;
    char *rule = kvt_path("%s/fixtures/proxy/till-epson-nb.bin", kvt_srcdir());
    const bad_case cases[] = {
        { { "report", "day", "--date", "2026-13-45", NULL }, 2, "2026-13-45", NULL },
        { { "report", "day", "--date", "2026-02-30", NULL }, 2, "2026-02-30", NULL },
        { { "report", "day", "--date", "1234567890123456789012345678901234567890123", NULL }, 2, "--date", NULL },
        { { "report", "sample", "-o", "/nonexistent/z.bin", NULL }, 2, "/nonexistent/z.bin", NULL },
        { { "reconcile", "--date", "2026-13-45", NULL }, 2, "2026-13-45", NULL },
        /* a ledger date still to come is a typo, not "open, try again later" (6) */
        { { "reconcile", "--date", "2099-01-01", NULL }, 2, "2099-01-01", NULL },
        { { "reconcile", "feed", "--follow", "--interval", "0", NULL }, 2, "--interval", NULL },
        { { "certify", "--amount", "12,345.00", NULL }, 2, "--amount", NULL },
        { { "certify", "--amount", "0.001", NULL }, 2, "--amount", NULL },
        { { "certify", "--timeout", "-1", NULL }, 2, "--timeout", NULL },
        { { "certify", "--out", "/nonexistent", NULL }, 2, "/nonexistent", NULL },
        /* a --store the configuration does not have: bad input, as in report and reconcile */
        { { "certify", "--store", "nowhere", NULL }, 2, "--store nowhere", NULL },
        { { "report", "day", "--store", "nowhere", NULL }, 2, "--store nowhere", NULL },
        { { "reconcile", "--store", "nowhere", NULL }, 2, "--store nowhere", NULL },
        { { "proxy", "test-rule", "/nonexistent.bin", "--match", "^VIPPS +{amount}$", NULL }, 2, "/nonexistent.bin", NULL },
        { { "proxy", "test-rule", "/", "--match", "^VIPPS +{amount}$", NULL }, 2, "directory", NULL },
        { { "proxy", "test-rule", rule, "--match", "^VIPPS +{amount}$", "--max-amount", "1e9", NULL }, 2, "--max-amount", NULL },
        { { "proxy", "test-rule", rule, "--match", "(", NULL }, 2, "--match", NULL },
        /* the limit and format of --match only: with --proxy alone they would be ignored */
        { { "proxy", "test-rule", rule, "--proxy", "till-1", "--max-amount", "1.00", NULL }, 2, "--max-amount", NULL },
        { { "proxy", "test-rule", rule, "--proxy", "till-1", "--amount-format", "point", NULL }, 2, "--amount-format",
          NULL },
        { { "partner", "sales-units", "--org", "12345678", NULL }, 2, "--org", NULL },
        { { "partner", "sales-units", "--org", "1234567890123456789012345678901234567890123", NULL }, 2, "--org", NULL },
        /* checked before any call: the sim is not running, a call would give 5 */
        { { "partner", "signup", "--org", "923609016", "--product", "VIPPS_FOO", NULL }, 2, "--product", NULL },
        { { "partner", "signup", "--org", "923609016", "--name", "abcdefghijklmnopqrstuvwxyz012345", NULL }, 2, "--name",
          NULL },
    };
    run_cases(cases, sizeof cases / sizeof cases[0]);
    free(rule);
}

/* test-rule with --match and no --max-amount applies the proxy's default
 * limit (100000.00, docs/proxy.md): a job the proxy would refuse is not
 * reported as a payment. */
static void test_badinput__test_rule_default_limit_is_the_proxys(void **state)
{
    (void)state;
    char *job = kvt_path("%s/big.bin", kvt_tmpdir());
    static const char text[] = "KVITTERING\nVIPPS   150000,00\n\x1dV\x42";
    assert_int_equal(kvt_write_file(job, text, sizeof text), 0); /* GS V 66 0: cut */
    const bad_case cases[] = {
        { { "proxy", "test-rule", job, "--match", "^VIPPS +{amount}$", NULL }, 2, "", NULL },
    };
    run_cases(cases, 1);
    kvt_result r;
    const char *ok[] = { "kvitt", "proxy", "test-rule", job, "--match", "^VIPPS +{amount}$", "--max-amount",
                         "200000.00", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, ok), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "payment: 150000,00"));
    kvt_result_free(&r);
    free(job);
}

/* Control bytes in arguments: refused where the text goes on paper, into
 * the journal, a configuration or to Vipps, and never echoed raw. */
static void test_badinput__control_bytes(void **state)
{
    (void)state;
    const bad_case cases[] = {
        { { "report", "day", "--till", "front\033@", NULL }, 2, "--till", NULL },
        { { "report", "day", "--close", "--till", "front\033@", NULL }, 2, "--till", NULL },
        { { "report", "day", "--store", "os\alo", NULL }, 2, "--store", NULL },
        { { "reconcile", "--store", "os\alo", NULL }, 2, "--store", NULL },
        { { "partner", "signup", "--org", "923609016", "--name", "Kaffe\033i", NULL }, 2, "--name", "product order" },
        { { "partner", "sales-units", "--org", "923609016", "--chain", "nord\033kaffe", "--write-config", "-", NULL },
          2, "--chain", NULL },
        { { "partner", "sales-units", "--org", "92360901\a", NULL }, 2, "--org", NULL },
        { { "certify", "--run-id", "a\033b", NULL }, 2, "--run-id", NULL },
        /* an empty --config is a mistake, not "the default file" */
        { { "config", "check", "--config", "", NULL }, 2, "--config", "/etc/kvitt" },
        { { "report", "day", "--config=", NULL }, 2, "--config", "/etc/kvitt" },
        { { "proxy", "till\0331", NULL }, 3, "[proxy till", NULL },
    };
    run_cases(cases, sizeof cases / sizeof cases[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_badinput__unknown_options_are_named),
        cmocka_unit_test(test_badinput__bad_values),
        cmocka_unit_test(test_badinput__test_rule_default_limit_is_the_proxys),
        cmocka_unit_test(test_badinput__control_bytes),
    };
    return cmocka_run_group_tests_name("cli_badinput", tests, setup, teardown);
}
