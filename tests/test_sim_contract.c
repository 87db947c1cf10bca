/*
 * test_sim_contract.c - contract test: every response `kvitt sim` gives
 * (and the sample requests sent to it) against the OpenAPI specs in
 * ../shared/specs, with tests/contract/validate.py (python3-jsonschema +
 * python3-yaml).  Skips visibly when ../shared or the Python modules are
 * absent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "tests/lib/kvbackoffice.h"
#include "tests/lib/kvflow.h"
#include "tests/lib/kvtest.h"

#define SKIP_STATUS 77

static void run_validator(kvt_result *r, const char *const args[])
{
    const char *argv[16];
    int n = 0;
    char *script = kvt_path("%s/tests/contract/validate.py", kvt_srcdir());
    char *specs = kvt_path("%s/specs", kvt_shared());
    argv[n++] = "/usr/bin/python3";
    argv[n++] = script;
    argv[n++] = "--specs";
    argv[n++] = specs;
    for (int i = 0; args[i] && n < 15; i++) argv[n++] = args[i];
    argv[n] = NULL;
    assert_int_equal(kvt_run(r, NULL, NULL, 120, argv), 0);
    free(script);
    free(specs);
}

/* Skip when the validator says so (exit 77 + "SKIP: reason"). */
static int skipped(const kvt_result *r)
{
    if (r->status == 127) {
        printf("SKIP: contract: /usr/bin/python3 is missing (apt-get install python3)\n");
        return 1;
    }
    if (r->status != SKIP_STATUS) return 0;
    const char *why = strstr(r->out, "SKIP: ");
    printf("SKIP: contract: %s", why ? why + 6 : "validator skipped\n");
    return 1;
}

static void test_sim_contract__responses_match_specs(void **state)
{
    (void)state;
    KVT_REQUIRE_SHARED();
    char *conf = kvt_path("%s/contract.conf", kvt_tmpdir());
    char *secrets = kvt_path("%s/contract.secrets", kvt_tmpdir());
    char *rec = kvt_path("%s/contract.jsonl", kvt_tmpdir());
    char *log = kvt_path("%s/contract-sim.log", kvt_tmpdir());
    const char *argv[] = { "kvitt", "sim", "--listen", "127.0.0.1:0", "--quiet", "--exit-with-parent", "--write-config", conf,
                           "--record", rec, NULL };
    kvt_proc *p = kvt_spawn(argv, NULL, log);
    assert_non_null(p);
    char *url = kvt_proc_readline(p, 10000);
    assert_non_null(url);

    kvt_result r;
    const char *a1[] = { "--url", url, "--secrets", secrets, NULL };
    run_validator(&r, a1);
    int skip = skipped(&r);
    if (!skip && r.status != 0) printf("%s%s", r.out, r.err);
    int st1 = r.status;
    kvt_result_free(&r);

    int st2 = 0;
    if (!skip) {
        /* the same exchanges, read back from the simulator's --record file */
        const char *a2[] = { "--record", rec, NULL };
        run_validator(&r, a2);
        if (r.status != 0) printf("%s%s", r.out, r.err);
        st2 = r.status;
        assert_non_null(strstr(r.out, "0 violations"));
        kvt_result_free(&r);
    }
    int ws = kvt_proc_stop(p, SIGTERM);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    free(url); free(conf); free(secrets); free(rec); free(log);
    if (skip) skip();
    assert_int_equal(st1, 0);
    assert_int_equal(st2, 0);
}

/* The validator must be able to fail: a recorded GET payment answer
 * without `aggregate`/`state` (required by GetPaymentResponse) and a create request
 * without `paymentMethod` are both violations. */
static void test_sim_contract__validator_catches_violations(void **state)
{
    (void)state;
    KVT_REQUIRE_SHARED();
    char *rec = kvt_path("%s/bad.jsonl", kvt_tmpdir());
    const char *lines =
        "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/OSL-bad-0001\",\"status\":200,"
        "\"contentType\":\"application/json\",\"request\":null,\"response\":"
        "\"{\\\"reference\\\":\\\"OSL-bad-0001\\\",\\\"amount\\\":{\\\"currency\\\":\\\"NOK\\\",\\\"value\\\":100}}\"}\n"
        "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments\",\"status\":201,"
        "\"contentType\":\"application/json\",\"request\":"
        "\"{\\\"amount\\\":{\\\"currency\\\":\\\"NOK\\\",\\\"value\\\":100},\\\"reference\\\":\\\"OSL-bad-0002\\\",\\\"userFlow\\\":\\\"QR\\\"}\","
        "\"response\":\"{\\\"reference\\\":\\\"OSL-bad-0002\\\"}\"}\n";
    assert_int_equal(kvt_write_file(rec, lines, strlen(lines)), 0);
    kvt_result r;
    const char *a[] = { "--record", rec, NULL };
    run_validator(&r, a);
    if (skipped(&r)) { kvt_result_free(&r); free(rec); skip(); }
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "is a required property"));
    assert_non_null(strstr(r.out, "FAIL GET /epayment/v1/payments/OSL-bad-0001"));
    assert_non_null(strstr(r.out, "'paymentMethod' is a required property"));
    assert_non_null(strstr(r.out, "2 violations"));
    kvt_result_free(&r);
    free(rec);
}

static void kvitt_ok(kvf_env *e, int want, const char *const args[])
{
    kvt_result r;
    assert_int_equal(kvf_kvitt(e, &r, NULL, args), 0);
    if (r.status != want)
        fail_msg("kvitt %s %s: exit %d (want %d): %s%s", args[0], args[1], r.status, want, r.out, r.err);
    kvt_result_free(&r);
}

/* The back office against the specs: a payment and a refund, then
 * `kvitt reconcile` (date open, then closed), `kvitt reconcile feed`,
 * `kvitt partner sales-units` (an org with units, an unknown org, merchant
 * keys refused) and `kvitt partner signup`, all recorded by the simulator
 * with --record; every Report and Management API exchange of the recording
 * must validate against vipps-report-api and vipps-management-api. */
static void test_sim_contract__reconcile_and_partner_recording(void **state)
{
    (void)state;
    KVT_REQUIRE_SHARED();
    char *rec = kvt_path("%s/backoffice.jsonl", kvt_tmpdir());
    const char *sim[] = { "--record", rec, "--auto", "approve", "--approve-after", "1", NULL };
    kvf_env e;
    assert_int_equal(kvf_start(&e, "contract-backoffice", sim), 0);
    char *ref = kvr_pay(&e, "149.00", 0, NULL);
    const char *refund[] = { "refund", "--reference", ref, "--amount", "20.00", NULL };
    kvitt_ok(&e, 0, refund);
    char day[11];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    const char *recon[] = { "reconcile", "--date", day, NULL };
    kvitt_ok(&e, 6, recon); /* not closed at Vipps yet */
    long st = 0;
    char *b = kvf_http(&e, "POST", "/sim/v1/report/close", "{}", &st);
    assert_int_equal(st, 204);
    free(b);
    kvitt_ok(&e, 0, recon);
    const char *feed[] = { "reconcile", "feed", NULL };
    kvitt_ok(&e, 0, feed);
    const char *units[] = { "partner", "sales-units", "--org", "923609016", "--credentials", "nordkaffe-partner", NULL };
    kvitt_ok(&e, 0, units);
    const char *unknown[] = { "partner", "sales-units", "--org", "999999999", "--credentials", "nordkaffe-partner",
                              NULL };
    kvitt_ok(&e, 2, unknown);
    const char *merchant[] = { "partner", "sales-units", "--org", "923609016", "--credentials", "oslo", NULL };
    kvitt_ok(&e, 3, merchant);
    const char *signup[] = { "partner", "signup", "--org", "923609016", "--name", "Kaffe Ås (2)",
                             "--credentials", "nordkaffe-partner", NULL };
    kvitt_ok(&e, 0, signup);
    kvf_stop(&e);

    kvt_result r;
    const char *a[] = { "--record", rec, NULL };
    run_validator(&r, a);
    if (skipped(&r)) { kvt_result_free(&r); free(ref); free(rec); skip(); }
    if (r.status != 0) printf("%s%s", r.out, r.err);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, " 0 violations"));
    /* each API was checked against its spec, not passed over */
    assert_non_null(strstr(r.out, "ok   GET /settlement/v1/ledgers -> 200 (vipps-report-api"));
    assert_non_null(strstr(r.out, "/funds/dates/"));
    assert_non_null(strstr(r.out, "/funds/feed -> 200 (vipps-report-api"));
    assert_non_null(strstr(r.out, "/sales-units -> 200 (vipps-management-api"));
    assert_non_null(strstr(r.out, "/sales-units -> 404 (vipps-management-api"));
    assert_non_null(strstr(r.out, "/sales-units -> 403 (vipps-management-api"));
    assert_non_null(strstr(r.out, "ok   POST /management/v1/product-orders -> 200 (vipps-management-api"));
    kvt_result_free(&r);
    free(ref);
    free(rec);
}

/* The Report and Management specs can fail a recording: an amount as text
 * in a funds entry (Money is a number) and a sales unit name with a control
 * character (the Management API's \p{L} pattern, translated for Python). */
static void test_sim_contract__backoffice_violations_are_caught(void **state)
{
    (void)state;
    KVT_REQUIRE_SHARED();
    char *rec = kvt_path("%s/bad-backoffice.jsonl", kvt_tmpdir());
    const char *lines =
        "{\"method\":\"GET\",\"path\":\"/report/v2/ledgers/7123456/funds/dates/2026-12-01\",\"status\":200,"
        "\"contentType\":\"application/json\",\"request\":null,\"response\":\"{\\\"items\\\":[{\\\"entryType\\\":"
        "\\\"capture\\\",\\\"reference\\\":\\\"R\\\",\\\"currency\\\":\\\"NOK\\\",\\\"amount\\\":\\\"149.00\\\"}],"
        "\\\"hasMore\\\":false,\\\"tryLater\\\":false}\"}\n"
        "{\"method\":\"POST\",\"path\":\"/management/v1/product-orders\",\"status\":200,"
        "\"contentType\":\"application/json\",\"request\":\"{\\\"businessIdentifier\\\":{\\\"scheme\\\":"
        "\\\"business:NO:ORG\\\",\\\"id\\\":\\\"923609016\\\"},\\\"productType\\\":\\\"VIPPS_I_KASSA\\\","
        "\\\"salesUnitName\\\":\\\"Kaffe\\\\u0007\\\"}\",\"response\":\"{\\\"prefilledOrderId\\\":\\\"x\\\","
        "\\\"prefillUrl\\\":\\\"http://127.0.0.1/x\\\"}\"}\n";
    assert_int_equal(kvt_write_file(rec, lines, strlen(lines)), 0);
    kvt_result r;
    const char *a[] = { "--record", rec, NULL };
    run_validator(&r, a);
    if (skipped(&r)) { kvt_result_free(&r); free(rec); skip(); }
    if (r.status != 1) printf("%s%s", r.out, r.err);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "'149.00' is not of type 'number'"));
    assert_non_null(strstr(r.out, "FAIL POST /management/v1/product-orders"));
    assert_non_null(strstr(r.out, "does not match"));
    assert_non_null(strstr(r.out, "2 violations"));
    kvt_result_free(&r);
    free(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim_contract__responses_match_specs),
        cmocka_unit_test(test_sim_contract__validator_catches_violations),
        cmocka_unit_test(test_sim_contract__reconcile_and_partner_recording),
        cmocka_unit_test(test_sim_contract__backoffice_violations_are_caught),
    };
    return cmocka_run_group_tests_name("sim_contract", tests, NULL, NULL);
}
