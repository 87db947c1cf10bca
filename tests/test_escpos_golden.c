/* test_escpos_golden.c - golden slip/receipt fixtures and the `kvitt slip`
 * / `kvitt profiles` programs, run as real processes.
 *
 * The fixtures in fixtures/ are regression guards written by
 * tests/golden-update.sh (the only way to change them; review their diff).
 * The canonical native slip fixture is also checked against bytes written
 * by hand in test_escpos_encoder.c.  Here the script is re-run into a
 * scratch folder and every file must equal its fixture byte for byte. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/kvtest.h"

static const char URL[] = "https://api.vipps.no/dwo-api-application/v1/deeplink/vippsgateway"
                          "?v=2&token=eyJraWQiOiJqd3RrZXkiLCJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9"
                          ".abc123";

static void test_golden_fixtures(void **state)
{
    (void)state;
    char *out = kvt_path("%s/golden", kvt_tmpdir());
    char *script = kvt_path("%s/tests/golden-update.sh", kvt_srcdir());
    char *env_out = kvt_path("KVITT_GOLDEN_OUT=%s", out);
    char *env_bin = kvt_path("KVITT_BIN=%s", kvt_bin());
    const char *envp[] = { env_out, env_bin, NULL };
    const char *argv[] = { "/bin/sh", script, NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, envp, 50, argv), 0);
    if (r.status != 0)
        fail_msg("golden-update.sh failed (%d): %s", r.status, r.err);
    kvt_result_free(&r);
    DIR *d = opendir(out);
    assert_non_null(d);
    struct dirent *de;
    int slips = 0, receipts = 0;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".bin") != 0)
            continue;
        char *got_path = kvt_path("%s/%s", out, de->d_name);
        char *exp_path = kvt_path("%s/fixtures/%s", kvt_srcdir(), de->d_name);
        unsigned char *got, *exp;
        size_t gl, el;
        assert_int_equal(kvt_read_file(got_path, &got, &gl), 0);
        if (kvt_read_file(exp_path, &exp, &el))
            fail_msg("fixture %s is missing: run make golden-update", de->d_name);
        printf("fixture %s: %zu bytes\n", de->d_name, el);
        kvt_assert_bytes(got, gl, exp, el);
        slips += strncmp(de->d_name, "slip-", 5) == 0;
        receipts += strncmp(de->d_name, "receipt-", 8) == 0;
        free(got);
        free(exp);
        free(got_path);
        free(exp_path);
    }
    closedir(d);
    assert_true(slips >= 4);
    assert_true(receipts >= 3);
    free(out);
    free(script);
    free(env_out);
    free(env_bin);
}

static void test_slip_file_and_stdout(void **state)
{
    (void)state;
    char *path = kvt_path("%s/slip.bin", kvt_tmpdir());
    const char *a1[] = { "kvitt", "slip", "--url", URL, "--amount", "149.00", "--reference",
                         "POS-1-20261125-0001", "--profile", "epson-tm-t88", "--codepage", "PC865",
                         "--qr", "native", "-o", path, NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, a1), 0);
    assert_int_equal(r.status, 0);
    kvt_result_free(&r);
    unsigned char *f;
    size_t fl;
    assert_int_equal(kvt_read_file(path, &f, &fl), 0);
    assert_int_equal(fl, 281);
    const char *a2[] = { "kvitt", "slip", "--url", URL, "--amount", "149,00", "--reference",
                         "POS-1-20261125-0001", "--profile", "epson-tm-t88", "--codepage", "865",
                         "--qr", "native", "-o", "-", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, a2), 0);
    assert_int_equal(r.status, 0);
    kvt_assert_bytes(r.out, r.outlen, f, fl);
    kvt_result_free(&r);
    free(f);
    free(path);
}

static void test_slip_bad_arguments(void **state)
{
    (void)state;
    static const struct { const char *args[12]; const char *msg; } t[] = {
        { { "--amount", "1", "-o", "-" }, "--url is required" },
        { { "--url", "https://x", "-o", "-" }, "--amount is required" },
        { { "--url", "https://x", "--amount", "1" }, "-o FILE is required" },
        { { "--url", "https://x", "--amount", "abc", "-o", "-" }, "not an amount" },
        { { "--url", "https://x", "--amount", "-5", "-o", "-" }, "not an amount" },
        { { "--url", "https://x", "--amount", "1.234", "-o", "-" }, "not an amount" },
        { { "--url", "https://x", "--amount", "1", "--currency", "USD", "-o", "-" }, "--currency" },
        { { "--url", "https://x", "--amount", "1", "--lang", "de", "-o", "-" }, "--lang" },
        { { "--url", "https://x", "--amount", "1", "--profile", "nope", "-o", "-" },
          "unknown printer profile" },
        { { "--url", "https://x", "--amount", "1", "--qr", "magic", "-o", "-" }, "--qr" },
        { { "--url", "https://x", "--amount", "1", "--module", "0", "-o", "-" }, "--module" },
        { { "--url", "https://x", "--amount", "1", "--ec", "X", "-o", "-" }, "--ec" },
        { { "--url", "https://x", "--amount", "1", "--codepage", "latin9", "-o", "-" },
          "unknown code page" },
        { { "--url", "https://x", "--amount", "1", "--profile", "bixolon-srp350", "--codepage",
            "WPC1252", "-o", "-" }, "has no code page" },
        { { "--url", "https://x", "--amount", "1", "--profile", "epson-tm-t88iii", "--qr",
            "native", "-o", "-" }, "no native QR" },
        { { "--url", URL, "--amount", "1", "--profile", "generic-58", "--module", "16", "-o",
            "-" }, "quiet zone" },
        { { "--url", "https://x y", "--amount", "1", "-o", "-" }, "printable ASCII" },
        { { "--url", "https://x", "--amount", "1", "--bogus", "-o", "-" }, "unknown option" },
        { { "--url", "https://x", "--amount", "1", "-o", "-", "extra" }, "unexpected argument" },
        { { "--url", "https://x", "--amount", "1", "-o", "/nonexistent/dir/x.bin" },
          "cannot write" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const char *argv[16] = { "kvitt", "slip" };
        size_t n = 2;
        for (size_t k = 0; t[i].args[k]; k++)
            argv[n++] = t[i].args[k];
        argv[n] = NULL;
        kvt_result r;
        assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
        if (r.status != 2 || !strstr(r.err, t[i].msg))
            fail_msg("case %zu: exit %d, stderr '%s' (want exit 2 and '%s')", i, r.status, r.err,
                     t[i].msg);
        assert_int_equal(r.outlen, 0);   /* nothing half-written to stdout */
        kvt_result_free(&r);
    }
    const char *help[] = { "kvitt", "slip", "--help", NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, help), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "usage: kvitt slip"));
    kvt_result_free(&r);
}

static size_t count(const char *hay, size_t n, const char *needle, size_t nl)
{
    size_t c = 0;
    for (size_t i = 0; i + nl <= n; i++)
        if (memcmp(hay + i, needle, nl) == 0)
            c++;
    return c;
}

static void test_slip_injection(void **state)
{
    (void)state;
    /* A store name and reference that try to reset, cut and open the drawer. */
    const char *argv[] = { "kvitt", "slip", "--url", "https://x.example/p", "--amount", "10",
                           "--store-name", "Shop\x1b@\x1dV\x01\x1bp", "--reference",
                           "R\x10\x14\x01\xc2\x9b" "1", "--profile", "epson-tm-t88", "-o", "-",
                           NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 0);
    assert_int_equal(count(r.out, r.outlen, "\x1b@", 2), 1);        /* only the prologue */
    assert_int_equal(count(r.out, r.outlen, "\x1dV", 2), 1);        /* only the final cut */
    assert_int_equal(count(r.out, r.outlen, "\x1bp", 2), 0);        /* no drawer pulse */
    assert_int_equal(count(r.out, r.outlen, "\x10", 1), 0);         /* no DLE */
    assert_non_null(memmem(r.out, r.outlen, "Shop@V", 6));
    assert_non_null(memmem(r.out, r.outlen, "R1\n", 3));
    kvt_result_free(&r);
}

static void test_profiles_command(void **state)
{
    (void)state;
    static const char *const names[] = {
        "generic-58", "generic-80", "epson-tm-t20", "epson-tm-t88", "epson-tm-t88iii",
        "star-tsp650", "citizen-ct-s310", "bixolon-srp350", "xprinter-xp-n160", "pos-5890",
    };
    const char *a1[] = { "kvitt", "profiles", NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, a1), 0);
    assert_int_equal(r.status, 0);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_non_null(strstr(r.out, names[i]));
    kvt_result_free(&r);
    const char *a2[] = { "kvitt", "profiles", "--json", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, a2), 0);
    assert_int_equal(r.status, 0);
    cJSON *j = cJSON_Parse(r.out);
    assert_non_null(j);
    assert_true(cJSON_GetArraySize(j) >= 10);
    int found = 0;
    cJSON *p;
    cJSON_ArrayForEach(p, j) {
        if (strcmp(cJSON_GetObjectItem(p, "name")->valuestring, "epson-tm-t88") == 0) {
            found = 1;
            assert_int_equal(cJSON_GetObjectItem(p, "dots")->valueint, 512);
            assert_int_equal(cJSON_GetObjectItem(p, "dpi")->valueint, 180);
            cJSON *cps = cJSON_GetObjectItem(p, "codepages");
            assert_int_equal(cJSON_GetObjectItem(cps, "PC858")->valueint, 19);
            assert_int_equal(cJSON_GetObjectItem(cps, "PC865")->valueint, 5);
            assert_true(cJSON_IsTrue(cJSON_GetObjectItem(p, "native_qr")));
        }
    }
    assert_true(found);
    cJSON_Delete(j);
    kvt_result_free(&r);
    const char *a3[] = { "kvitt", "profiles", "--nope", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, a3), 0);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
}

static void test_sample_receipt_command(void **state)
{
    (void)state;
    const char *argv[] = { "kvitt", "sample-receipt", "--profile", "pos-5890", "-o", "-", NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 0);
    /* ESC @ FS . ESC R 0 ESC t 19, and no GS V: the POS-5890 has no cutter. */
    static const uint8_t pro[] = { 0x1b, 0x40, 0x1c, 0x2e, 0x1b, 0x52, 0x00, 0x1b, 0x74, 0x13 };
    assert_true(r.outlen > sizeof pro);
    kvt_assert_bytes(r.out, sizeof pro, pro, sizeof pro);
    assert_int_equal(count(r.out, r.outlen, "\x1dV", 2), 0);
    kvt_result_free(&r);
    const char *bad[] = { "kvitt", "sample-receipt", "--lang", "xx", "-o", "-", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, bad), 0);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_fixtures),
        cmocka_unit_test(test_slip_file_and_stdout),
        cmocka_unit_test(test_slip_bad_arguments),
        cmocka_unit_test(test_slip_injection),
        cmocka_unit_test(test_profiles_command),
        cmocka_unit_test(test_sample_receipt_command),
    };
    return cmocka_run_group_tests_name("escpos_golden", tests, NULL, NULL);
}
