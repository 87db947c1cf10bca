/* test_verify_qr.c - `kvitt verify-qr`: print-and-scan of QR slips, run as
 * a real process on streams written by `kvitt slip` and by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escpos/profile.h"
#include "tests/lib/kvtest.h"

#define URL "https://qr.vipps.no/28/2/05/031/4791234567?v=1"

static int run(kvt_result *r, const char *const argv[])
{
    assert_int_equal(kvt_run(r, NULL, NULL, 60, argv), 0);
    return r->status;
}

/* kvitt slip for a profile at its default module size and QR mode. */
static char *slip(const char *profile, const char *extra)
{
    char *out = kvt_path("%s/slip-%s%s.bin", kvt_tmpdir(), profile, extra ? extra : "");
    kvt_result r;
    const char *argv[] = { "kvitt", "slip", "--url", URL, "--amount", "149,50", "--profile", profile,
                           "-o", out, extra ? "--qr" : NULL, extra, NULL };
    if (run(&r, argv) != 0)
        fail_msg("kvitt slip --profile %s: exit %d: %s", profile, r.status, r.err);
    kvt_result_free(&r);
    return out;
}

static void verify_ok(const char *profile, const char *path, int degrade)
{
    kvt_result r;
    const char *argv[] = { "kvitt", "verify-qr", path, "--profile", profile, "--expect", URL,
                           degrade ? "--degrade" : NULL, NULL };
    if (run(&r, argv) != 0)
        fail_msg("verify-qr%s --profile %s: exit %d: %s", degrade ? " --degrade" : "", profile,
                 r.status, r.err);
    assert_string_equal(r.out, URL "\n");
    kvt_result_free(&r);
}

static void test_verify_qr__every_profile_default_module(void **state)
{
    (void)state;
    const kv_profile *p;
    int n = 0;
    for (size_t i = 0; (p = kv_profile_at(i)); i++) {
        char *f = slip(p->name, NULL);
        verify_ok(p->name, f, 0);
        verify_ok(p->name, f, 1);
        free(f);
        n++;
    }
    assert_true(n >= 2);
}

static void test_verify_qr__native_and_raster_forms(void **state)
{
    (void)state;
    /* a profile with native QR, forced to each form */
    const kv_profile *p;
    for (size_t i = 0; (p = kv_profile_at(i)); i++)
        if (p->native_qr)
            break;
    assert_non_null(p);
    const char *forms[] = { "native", "raster" };
    for (int k = 0; k < 2; k++) {
        char *f = slip(p->name, forms[k]);
        verify_ok(p->name, f, 0);
        verify_ok(p->name, f, 1);
        free(f);
    }
}

static void test_verify_qr__wrong_expect_fails(void **state)
{
    (void)state;
    char *f = slip("generic-80", NULL);
    kvt_result r;
    const char *argv[] = { "kvitt", "verify-qr", f, "--expect", "https://example.com/", NULL };
    assert_int_equal(run(&r, argv), 1);
    assert_non_null(strstr(r.err, "other data than expected"));
    kvt_result_free(&r);
    free(f);
}

static void test_verify_qr__no_qr_fails(void **state)
{
    (void)state;
    char *f = kvt_path("%s/noqr.bin", kvt_tmpdir());
    const uint8_t s[] = { 0x1B, 0x40, 'n', 'o', ' ', 'Q', 'R', 0x0A };
    assert_int_equal(kvt_write_file(f, s, sizeof s), 0);
    kvt_result r;
    const char *argv[] = { "kvitt", "verify-qr", f, NULL };
    assert_int_equal(run(&r, argv), 1);
    assert_non_null(strstr(r.err, "no QR code"));
    kvt_result_free(&r);
    free(f);
}

static void test_verify_qr__unprintable_native_qr_fails(void **state)
{
    (void)state;
    /* GS ( k module 16 (31 43 10) with 300 bytes of data: version 10+ at 16
     * dots per module is far wider than 576 dots, so the printer prints
     * nothing; a second, small QR does print.  Not every QR decodes -> 1. */
    uint8_t s[400];
    size_t n = 0;
    const uint8_t mod16[] = { 0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 0x10 };
    memcpy(s + n, mod16, sizeof mod16); n += sizeof mod16;
    const uint8_t store[] = { 0x1D, 0x28, 0x6B, 0x2F, 0x01, 0x31, 0x50, 0x30 };  /* 300 + 3 = 0x12F */
    memcpy(s + n, store, sizeof store); n += sizeof store;
    memset(s + n, 'A', 300); n += 300;
    const uint8_t print[] = { 0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30 };
    memcpy(s + n, print, sizeof print); n += sizeof print;
    const uint8_t mod4[] = { 0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 0x04 };
    memcpy(s + n, mod4, sizeof mod4); n += sizeof mod4;
    const uint8_t store2[] = { 0x1D, 0x28, 0x6B, 0x05, 0x00, 0x31, 0x50, 0x30, 'o', 'k' };
    memcpy(s + n, store2, sizeof store2); n += sizeof store2;
    memcpy(s + n, print, sizeof print); n += sizeof print;
    char *f = kvt_path("%s/wide.bin", kvt_tmpdir());
    assert_int_equal(kvt_write_file(f, s, n), 0);
    kvt_result r;
    const char *argv[] = { "kvitt", "verify-qr", f, NULL };
    assert_int_equal(run(&r, argv), 1);
    assert_string_equal(r.out, "ok\n");
    assert_non_null(strstr(r.err, "would not print"));
    kvt_result_free(&r);
    free(f);
}

static void test_verify_qr__corpus_escpos_php(void **state)
{
    (void)state;
    KVT_REQUIRE_SHARED();
    char *f = kvt_path("%s/corpus/escpos-php/qr-code.bin", kvt_shared());
    kvt_result r;
    const char *argv[] = { "kvitt", "verify-qr", f, NULL };
    /* escpos-php prints two codes as model 1 / Micro QR (GS ( k 165 with
     * 49 / 51): not verifiable here, so exit 1 (issue 14: drawing them as
     * model 2 passed codes a printer prints differently); every model 2
     * code still decodes */
    if (run(&r, argv) != 1 || !strstr(r.err, "1 QR code(s) of model 1") ||
        !strstr(r.err, "1 Micro QR code(s)"))
        fail_msg("verify-qr qr-code.bin: exit %d: %s", r.status, r.err);
    /* the output holds binary data (a symbol of 40 NUL bytes): memmem */
    const char *num = "0123456789012345678901234567890123456789\n";
    assert_non_null(memmem(r.out, r.outlen, "Testing 123\n", 12));
    assert_non_null(memmem(r.out, r.outlen, num, strlen(num)));
    char zeros[41] = { 0 };
    zeros[40] = '\n';
    assert_non_null(memmem(r.out, r.outlen, zeros, sizeof zeros));
    kvt_result_free(&r);
    free(f);
}

/* The golden slips in fixtures/ (the canonical 139-byte URL) scan after
 * degrading, with the profile their name carries. */
static void test_verify_qr__golden_slips(void **state)
{
    (void)state;
    char *dir = kvt_path("%s/fixtures", kvt_srcdir());
    DIR *dd = opendir(dir);
    assert_non_null(dd);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(dd))) {
        size_t l = strlen(de->d_name);
        if (strncmp(de->d_name, "slip-", 5) != 0 || l < 5 || strcmp(de->d_name + l - 4, ".bin") != 0)
            continue;
        const kv_profile *best = NULL, *p;
        for (size_t i = 0; (p = kv_profile_at(i)); i++)
            if (strstr(de->d_name, p->name) && (!best || strlen(p->name) > strlen(best->name)))
                best = p;
        if (!best)
            best = kv_profile_default();
        char *f = kvt_path("%s/%s", dir, de->d_name);
        for (int dg = 1; dg < 2; dg++) {
            kvt_result r;
            const char *argv[] = { "kvitt", "verify-qr", f, "--profile", best->name,
                                   dg ? "--degrade" : NULL, NULL };
            if (run(&r, argv) != 0)
                fail_msg("verify-qr%s %s: exit %d: %s", dg ? " --degrade" : "", f, r.status, r.err);
            assert_non_null(strstr(r.out, "https://"));
            kvt_result_free(&r);
        }
        free(f);
        n++;
    }
    closedir(dd);
    free(dir);
    if (n == 0)
        KVT_SKIP("no fixtures/slip-*.bin");
}

static void test_verify_qr__usage(void **state)
{
    (void)state;
    kvt_result r;
    const char *a1[] = { "kvitt", "verify-qr", "--help", NULL };
    assert_int_equal(run(&r, a1), 0);
    assert_non_null(strstr(r.out, "usage: kvitt verify-qr"));
    kvt_result_free(&r);
    const char *a2[] = { "kvitt", "verify-qr", NULL };
    assert_int_equal(run(&r, a2), 2);
    kvt_result_free(&r);
    const char *a3[] = { "kvitt", "verify-qr", "/nonexistent.bin", NULL };
    assert_int_equal(run(&r, a3), 2);
    kvt_result_free(&r);
    const char *a4[] = { "kvitt", "verify-qr", "x.bin", "--profile", "nope", NULL };
    assert_int_equal(run(&r, a4), 2);
    kvt_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_qr__every_profile_default_module),
        cmocka_unit_test(test_verify_qr__native_and_raster_forms),
        cmocka_unit_test(test_verify_qr__wrong_expect_fails),
        cmocka_unit_test(test_verify_qr__no_qr_fails),
        cmocka_unit_test(test_verify_qr__unprintable_native_qr_fails),
        cmocka_unit_test(test_verify_qr__corpus_escpos_php),
        cmocka_unit_test(test_verify_qr__golden_slips),
        cmocka_unit_test(test_verify_qr__usage),
    };
    return cmocka_run_group_tests_name("verify_qr", tests, NULL, NULL);
}
