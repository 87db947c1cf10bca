/* test_escpos_layout.c - word wrap, two-column lines, rules, money.
 * Expected output is written by hand (column arithmetic in the comments). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "escpos/layout.h"
#include "tests/lib/kvtest.h"

/* A pos-5890 encoder (32 columns font A, 42 font B) without prologue, in
 * PC865 so expected bytes are easy to write (ø = 9B, æ = 91, å = 86). */
static kv_escpos *mk(const char *profile)
{
    kv_escpos_options o = KV_ESCPOS_OPTIONS_INIT;
    o.profile = kv_profile_find(profile);
    o.codepage = KV_CP_PC865;
    kv_escpos *e;
    assert_int_equal(kv_escpos_create(&e, &o), KV_ESCPOS_OK);
    /* No prologue: the state is unknown, layout counts it as font A,
     * width 1, and every setter emits its command. */
    return e;
}

static void expect(kv_escpos *e, const char *exp)
{
    size_t n;
    const uint8_t *d = kv_escpos_data(e, &n);
    kvt_assert_bytes(d, n, exp, strlen(exp));
}

static void test_columns(void **state)
{
    (void)state;
    kv_escpos *e = mk("pos-5890");
    assert_int_equal(kv_layout_columns(e), 32);
    kv_escpos_font(e, KV_FONT_B);
    assert_int_equal(kv_layout_columns(e), 42);
    kv_escpos_size(e, 2, 1);
    assert_int_equal(kv_layout_columns(e), 21);
    kv_escpos_destroy(e);
    e = mk("epson-tm-t88");
    assert_int_equal(kv_layout_columns(e), 42);
    kv_escpos_destroy(e);
}

static void test_wrap(void **state)
{
    (void)state;
    kv_escpos *e = mk("pos-5890");
    /* 32 columns: "Vår sære Zulu fra badeøya spilte" is exactly 32. */
    kv_layout_wrap(e, "Vår sære Zulu fra badeøya spilte jo whist og quickstep i min taxi");
    expect(e, "V\x86r s\x91re Zulu fra bade\x9bya spilte\n"
              "jo whist og quickstep i min taxi\n");
    kv_escpos_reset(e);
    /* A word longer than the line is broken; spaces at breaks vanish;
     * newline starts a paragraph, an empty one is a blank line. */
    kv_layout_wrap(e, "Ref: ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789xyz  end\n\nø");
    expect(e, "Ref:\n"
              "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345\n"
              "6789xyz  end\n"
              "\n"
              "\x9b\n");
    kv_escpos_reset(e);
    kv_layout_wrap(e, "short");
    expect(e, "short\n");
    kv_escpos_destroy(e);
}

static void test_two_col(void **state)
{
    (void)state;
    kv_escpos *e = mk("pos-5890");
    /* 32 cols: "Kaffe" (5) + 17 spaces + "149,00 kr" (9) + ... = 5 + 18 + 9. */
    kv_layout_two_col(e, "Kaffe", "149,00 kr");
    /* Too long: right "1 234,50 kr" is 11 columns, one space, left
     * truncated to 32 - 11 - 1 = 20. */
    kv_layout_two_col(e, "Smørbrød med røkelaks og eggerøre", "1 234,50 kr");
    expect(e, "Kaffe                  149,00 kr\n"
              "Sm\x9b" "rbr\x9b" "d med r\x9b" "kelak 1 234,50 kr\n");
    kv_escpos_reset(e);
    /* Control bytes in a name are stripped and never counted. */
    kv_layout_two_col(e, "A\x1b@B", "1");
    expect(e, "A@B                            1\n");
    kv_escpos_destroy(e);
}

static void test_rule(void **state)
{
    (void)state;
    kv_escpos *e = mk("pos-5890");
    kv_layout_rule(e, '=');
    kv_escpos_font(e, KV_FONT_B);
    kv_layout_rule(e, '\x1b');   /* not printable: a '-' rule */
    size_t n;
    const uint8_t *d = kv_escpos_data(e, &n);
    /* 32 '=' + LF, ESC M 1, 42 '-' + LF */
    assert_int_equal(n, 33 + 3 + 43);
    for (int i = 0; i < 32; i++)
        assert_int_equal(d[i], '=');
    assert_int_equal(d[32], '\n');
    static const uint8_t escm[] = { 0x1b, 0x4d, 0x01 };
    assert_memory_equal(d + 33, escm, 3);
    for (int i = 36; i < 36 + 42; i++)
        assert_int_equal(d[i], '-');
    assert_int_equal(d[78], '\n');
    kv_escpos_destroy(e);
}

static void test_money_format(void **state)
{
    (void)state;
    static const struct { int64_t v; const char *cur; kv_lang lang; const char *out; } t[] = {
        { 14900, "NOK", KV_LANG_NB, "149,00 kr" },
        { 123450, "NOK", KV_LANG_NB, "1 234,50 kr" },
        { 123456789, "SEK", KV_LANG_SV, "1 234 567,89 kr" },
        { 123450, "DKK", KV_LANG_DA, "1.234,50 kr." },
        { 5, "DKK", KV_LANG_DA, "0,05 kr." },
        { 123450, "EUR", KV_LANG_FI, "1 234,50 \xe2\x82\xac" },
        { 990, "EUR", KV_LANG_DA, "9,90 \xe2\x82\xac" },
        { 123450, "EUR", KV_LANG_EN, "\xe2\x82\xac" "1,234.50" },
        { 123450, "NOK", KV_LANG_EN, "NOK 1,234.50" },
        { 123450, "SEK", KV_LANG_FI, "1 234,50 SEK" },
        { -14900, "NOK", KV_LANG_NB, "-149,00 kr" },
        { 0, "NOK", KV_LANG_NB, "0,00 kr" },
        { 100000, "NOK", KV_LANG_NB, "1 000,00 kr" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char buf[64];
        int n = kv_money_format(buf, sizeof buf, t[i].v, t[i].cur, t[i].lang);
        assert_int_equal(n, (int)strlen(t[i].out));
        assert_string_equal(buf, t[i].out);
    }
    char small[6];
    assert_int_equal(kv_money_format(small, sizeof small, 14900, "NOK", KV_LANG_NB), -1);
    char buf[32];
    assert_int_equal(kv_money_format(buf, sizeof buf, 1, "nok", KV_LANG_NB), -1);
    assert_int_equal(kv_money_format(buf, sizeof buf, 1, "NOKK", KV_LANG_NB), -1);
    assert_int_equal(kv_money_format(buf, sizeof buf, 1, NULL, KV_LANG_NB), -1);
}

static void test_money_parse(void **state)
{
    (void)state;
    static const struct { const char *in; int64_t v; } ok[] = {
        { "149", 14900 }, { "149.00", 14900 }, { "149,00", 14900 }, { "149.5", 14950 },
        { "0.01", 1 }, { "999999999.99", 99999999999 }, { "007", 700 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = -1;
        assert_int_equal(kv_money_parse(&v, ok[i].in), 0);
        assert_int_equal(v, ok[i].v);
    }
    static const char *const bad[] = {
        "", "-1", "1.234", "1 234", "12,", ".5", "abc", "1e3", "1000000000", "149.00 kr",
        "0x10", "1.2.3",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 42;
        assert_int_equal(kv_money_parse(&v, bad[i]), -1);
        assert_int_equal(v, 42);   /* untouched on failure */
    }
    assert_true(kv_currency_known("NOK") && kv_currency_known("EUR"));
    assert_false(kv_currency_known("USD"));
}

static void test_lang(void **state)
{
    (void)state;
    kv_lang l;
    static const char *const names[] = { "nb", "da", "fi", "sv", "en" };
    for (int i = 0; i < KV_LANG_COUNT; i++) {
        assert_int_equal(kv_lang_from_name(&l, names[i]), 0);
        assert_int_equal(l, i);
        assert_string_equal(kv_lang_name(l), names[i]);
    }
    assert_int_equal(kv_lang_from_name(&l, "no"), 0);
    assert_int_equal(l, KV_LANG_NB);
    assert_int_equal(kv_lang_from_name(&l, "de"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_two_col),
        cmocka_unit_test(test_rule),
        cmocka_unit_test(test_money_format),
        cmocka_unit_test(test_money_parse),
        cmocka_unit_test(test_lang),
    };
    return cmocka_run_group_tests_name("escpos_layout", tests, NULL, NULL);
}
