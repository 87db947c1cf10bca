/* test_escpos_codepage.c - Nordic text in every code page, control-byte
 * injection, invalid UTF-8.
 *
 * The expected bytes come from the hand-written letter table below (the
 * code pages' published definitions, ../shared/docs/escpos.md 1.2: in
 * PC850/858/865 æ ø å Æ Ø Å = 91 9B 86 92 9D 8F, € = D5 in PC858 only;
 * WPC1252 is Latin-1 plus € at 80), never from the encoder. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "escpos/codepage.h"
#include "escpos/encoder.h"
#include "tests/lib/kvtest.h"

/* Non-ASCII letters of the pangrams, as UTF-8, and their byte in each page
 * (order PC437, PC850, PC858, PC865, WPC1252); '?' = not in the page. */
static const struct {
    const char *utf8;
    uint8_t b[KV_CP_COUNT];
} letters[] = {
    { "æ", { 0x91, 0x91, 0x91, 0x91, 0xe6 } },
    { "ø", { '?', 0x9b, 0x9b, 0x9b, 0xf8 } },
    { "å", { 0x86, 0x86, 0x86, 0x86, 0xe5 } },
    { "Æ", { 0x92, 0x92, 0x92, 0x92, 0xc6 } },
    { "Ø", { '?', 0x9d, 0x9d, 0x9d, 0xd8 } },
    { "Å", { 0x8f, 0x8f, 0x8f, 0x8f, 0xc5 } },
    { "ä", { 0x84, 0x84, 0x84, 0x84, 0xe4 } },
    { "ö", { 0x94, 0x94, 0x94, 0x94, 0xf6 } },
    { "Ä", { 0x8e, 0x8e, 0x8e, 0x8e, 0xc4 } },
    { "Ö", { 0x99, 0x99, 0x99, 0x99, 0xd6 } },
    { "ü", { 0x81, 0x81, 0x81, 0x81, 0xfc } },
    { "é", { 0x82, 0x82, 0x82, 0x82, 0xe9 } },
    { "€", { '?', '?', 0xd5, '?', 0x80 } },
};

/* Expected bytes for s in page cp, built from the letter table. */
static size_t expected(uint8_t *out, const char *s, kv_codepage cp, size_t *unmappable)
{
    size_t o = 0;
    *unmappable = 0;
    while (*s) {
        if ((unsigned char)*s < 0x80) {
            out[o++] = (uint8_t)*s++;
            continue;
        }
        size_t i;
        for (i = 0; i < sizeof letters / sizeof letters[0]; i++) {
            size_t n = strlen(letters[i].utf8);
            if (strncmp(s, letters[i].utf8, n) == 0) {
                out[o++] = letters[i].b[cp];
                if (letters[i].b[cp] == '?')
                    (*unmappable)++;
                s += n;
                break;
            }
        }
        assert_true(i < sizeof letters / sizeof letters[0]);   /* letter missing in the table */
    }
    return o;
}

static const char *const pangrams[] = {
    "Høj bly gom vandt fræk sexquiz på wc",                              /* da */
    "Vår sære Zulu fra badeøya spilte jo whist og quickstep i min taxi", /* nb */
    "Törkylempijävongahdus",                                             /* fi */
    "Flygande bäckasiner söka hwila på mjuka tuvor",                     /* sv */
    "ÆØÅ æøå ÄÖ äö ü é",
    "Pris: 12,50 € (Beløp)",
};

static void test_pangrams_every_page(void **state)
{
    (void)state;
    for (int cp = 0; cp < KV_CP_COUNT; cp++) {
        for (size_t p = 0; p < sizeof pangrams / sizeof pangrams[0]; p++) {
            const char *s = pangrams[p];
            uint8_t exp[256], got[256];
            size_t unmappable;
            size_t en = expected(exp, s, (kv_codepage)cp, &unmappable);
            kv_transcode_stats st = { 0, 0 };
            size_t gn = kv_codepage_transcode((kv_codepage)cp, got, s, strlen(s), &st);
            kvt_assert_bytes(got, gn, exp, en);
            assert_int_equal(st.replaced, unmappable);
            assert_int_equal(st.stripped, 0);
            /* And back: every mapped byte decodes to the letter. */
            for (size_t i = 0; i < gn; i++)
                if (got[i] != '?')
                    assert_int_equal(kv_codepage_from_unicode((kv_codepage)cp,
                                     kv_codepage_to_unicode((kv_codepage)cp, got[i])), got[i]);
        }
    }
}

static void test_encoder_text_counts_replacements(void **state)
{
    (void)state;
    kv_escpos_options o = KV_ESCPOS_OPTIONS_INIT;
    o.profile = kv_profile_find("epson-tm-t88");
    o.codepage = KV_CP_PC437;
    kv_escpos *e;
    assert_int_equal(kv_escpos_create(&e, &o), KV_ESCPOS_OK);
    kv_escpos_text(e, "Ø ø € 日本");   /* 5 characters PC437 lacks */
    assert_int_equal(kv_escpos_text_stats(e)->replaced, 5);
    size_t n;
    const uint8_t *d = kv_escpos_data(e, &n);
    kvt_assert_bytes(d, n, "? ? ? ??", 8);
    kv_escpos_destroy(e);
}

static void test_page_differences_from_facts(void **state)
{
    (void)state;
    /* PC865 differs from PC437 only at 9B (ø), 9D (Ø) and AF (¤). */
    for (int b = 0; b < 256; b++) {
        uint32_t a = kv_codepage_to_unicode(KV_CP_PC437, (uint8_t)b);
        uint32_t n = kv_codepage_to_unicode(KV_CP_PC865, (uint8_t)b);
        if (b == 0x9b || b == 0x9d || b == 0xaf)
            assert_int_not_equal(a, n);
        else
            assert_int_equal(a, n);
    }
    assert_int_equal(kv_codepage_to_unicode(KV_CP_PC865, 0x9b), 0x00f8);
    assert_int_equal(kv_codepage_to_unicode(KV_CP_PC865, 0x9d), 0x00d8);
    assert_int_equal(kv_codepage_to_unicode(KV_CP_PC865, 0xaf), 0x00a4);
    assert_int_equal(kv_codepage_to_unicode(KV_CP_PC437, 0x9b), 0x00a2);
    /* PC858 is PC850 with the euro sign at D5 (PC850: dotless i). */
    for (int b = 0; b < 256; b++) {
        uint32_t a = kv_codepage_to_unicode(KV_CP_PC850, (uint8_t)b);
        uint32_t n = kv_codepage_to_unicode(KV_CP_PC858, (uint8_t)b);
        if (b == 0xd5) {
            assert_int_equal(a, 0x0131);
            assert_int_equal(n, 0x20ac);
        } else {
            assert_int_equal(a, n);
        }
    }
    /* WPC1252: 80 = €, 81/8D/8F/90/9D undefined, A0..FF = Latin-1. */
    assert_int_equal(kv_codepage_to_unicode(KV_CP_WPC1252, 0x80), 0x20ac);
    static const uint8_t undef[] = { 0x81, 0x8d, 0x8f, 0x90, 0x9d };
    for (size_t i = 0; i < sizeof undef; i++)
        assert_int_equal(kv_codepage_to_unicode(KV_CP_WPC1252, undef[i]), KV_CP_UNDEFINED);
    for (int b = 0xa0; b < 256; b++)
        assert_int_equal(kv_codepage_to_unicode(KV_CP_WPC1252, (uint8_t)b), (uint32_t)b);
    /* ASCII is itself everywhere; every defined byte round-trips. */
    for (int cp = 0; cp < KV_CP_COUNT; cp++) {
        for (int b = 0; b < 256; b++) {
            uint32_t u = kv_codepage_to_unicode((kv_codepage)cp, (uint8_t)b);
            if (b < 0x80)
                assert_int_equal(u, (uint32_t)b);
            if (u != KV_CP_UNDEFINED)
                assert_int_equal(kv_codepage_from_unicode((kv_codepage)cp, u), b);
        }
    }
}

static void test_names_and_numbers(void **state)
{
    (void)state;
    static const struct { const char *name; kv_codepage cp; int epson; } t[] = {
        { "PC437", KV_CP_PC437, 0 }, { "PC850", KV_CP_PC850, 2 }, { "PC858", KV_CP_PC858, 19 },
        { "PC865", KV_CP_PC865, 5 }, { "WPC1252", KV_CP_WPC1252, 16 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        kv_codepage cp = KV_CP_COUNT;
        assert_int_equal(kv_codepage_from_name(&cp, t[i].name), 0);
        assert_int_equal(cp, t[i].cp);
        assert_string_equal(kv_codepage_name(t[i].cp), t[i].name);
        assert_int_equal(kv_codepage_escpos_number(t[i].cp), t[i].epson);
        cp = KV_CP_COUNT;
        assert_int_equal(kv_codepage_from_escpos(&cp, t[i].epson), 0);
        assert_int_equal(cp, t[i].cp);
    }
    kv_codepage cp = KV_CP_PC437;
    assert_int_equal(kv_codepage_from_name(&cp, "cp1252"), 0);
    assert_int_equal(cp, KV_CP_WPC1252);
    assert_int_equal(kv_codepage_from_name(&cp, "latin-2"), -1);
    assert_int_equal(kv_codepage_from_escpos(&cp, 1), -1);   /* Katakana: not ours */
    assert_string_equal(kv_codepage_name((kv_codepage)99), "?");
}

/* Item names a till could send that try to become printer commands. */
static void test_control_injection(void **state)
{
    (void)state;
    static const struct { const char *in; size_t len; const char *out; size_t stripped; } t[] = {
        { "\x1b@reset", 7, "@reset", 1 },                 /* ESC @ */
        { "cut\x1dV\x01now", 9, "cutVnow", 2 },           /* GS V 1 (cut) */
        { "\x10\x14\x01\x00\x05" "drawer", 11, "drawer", 5 }, /* DLE DC4 1 0 5 (drawer pulse) */
        { "a\x1b" "p\x00\x32\xfa" "b", 7, "ap2?b", 2 },   /* ESC p: FA is invalid UTF-8 */
        { "x\x7fy", 3, "xy", 1 },                          /* DEL */
        { "c1\xc2\x9b" "1m\xc2\x80\xc2\x9f", 10, "c11m", 3 }, /* U+009B CSI, U+0080, U+009F */
        { "line\nbreak\ttab\r", 15, "linebreaktab", 3 },
    };
    for (int cp = 0; cp < KV_CP_COUNT; cp++) {
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            uint8_t got[64];
            kv_transcode_stats st = { 0, 0 };
            size_t n = kv_codepage_transcode((kv_codepage)cp, got, t[i].in, t[i].len, &st);
            kvt_assert_bytes(got, n, t[i].out, strlen(t[i].out));
            assert_int_equal(st.stripped, t[i].stripped);
        }
    }
    /* Through the encoder: the job holds no command but its own prologue. */
    kv_escpos *e;
    assert_int_equal(kv_escpos_create(&e, NULL), KV_ESCPOS_OK);
    static const char evil[] = "\x1b@\x1dV\x00 item \x1b!\x38 \x1c\x2e\xc2\x9b";
    kv_escpos_text_n(e, evil, sizeof evil - 1);
    size_t n;
    const uint8_t *d = kv_escpos_data(e, &n);
    kvt_assert_bytes(d, n, "@V item !8 .", 12);
    assert_int_equal(kv_escpos_text_stats(e)->stripped, 6);   /* ESC GS NUL ESC FS U+009B */
    kv_escpos_destroy(e);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    static const struct { const char *in; size_t len; const char *out; size_t replaced; } t[] = {
        { "\xff\xfe", 2, "??", 2 },                 /* never valid */
        { "a\xc0\xaf" "b", 4, "a??b", 2 },          /* overlong '/' */
        { "\xed\xa0\x80", 3, "???", 3 },            /* surrogate U+D800 */
        { "x\xe2\x82", 3, "x??", 2 },               /* truncated € */
        { "\xf4\x90\x80\x80", 4, "????", 4 },       /* above U+10FFFF */
        { "\xe0\x80\x80", 3, "???", 3 },            /* overlong NUL */
        { "\xc3", 1, "?", 1 },                      /* lone lead byte at the end */
        { "\xf0\x9f\x98\x80", 4, "?", 1 },          /* valid emoji, not in any page */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        uint8_t got[16];
        kv_transcode_stats st = { 0, 0 };
        size_t n = kv_codepage_transcode(KV_CP_PC858, got, t[i].in, t[i].len, &st);
        kvt_assert_bytes(got, n, t[i].out, strlen(t[i].out));
        assert_int_equal(st.replaced, t[i].replaced);
        assert_int_equal(kv_utf8_columns(t[i].in, t[i].len), strlen(t[i].out));
    }
}

/* Random bytes: never a control byte out, never longer than the input. */
static void test_random_bytes_never_emit_controls(void **state)
{
    (void)state;
    uint32_t x = 12345;   /* fixed seed: deterministic */
    uint8_t in[512], out[512];
    for (int round = 0; round < 2000; round++) {
        size_t len = 1 + (x % sizeof in);
        for (size_t i = 0; i < len; i++) {
            x = x * 1103515245u + 12345u;
            in[i] = (uint8_t)(x >> 16);
        }
        for (int cp = 0; cp < KV_CP_COUNT; cp++) {
            size_t n = kv_codepage_transcode((kv_codepage)cp, out, (const char *)in, len, NULL);
            assert_true(n <= len);
            for (size_t i = 0; i < n; i++)
                assert_true(out[i] >= 0x20 && out[i] != 0x7f);
            assert_int_equal(kv_utf8_columns((const char *)in, len), n);
        }
    }
}

/* Every control byte at every position of a long ASCII run (the
 * word-at-a-time fast path) is still removed. */
static void test_controls_inside_ascii_runs(void **state)
{
    (void)state;
    const char base[] = "abcdefghijklmnopqrstuvwx";   /* 24 printable */
    for (int c = 0; c < 0x20 + 1; c++) {
        uint8_t bad = c == 0x20 ? 0x7f : (uint8_t)c;
        for (size_t pos = 0; pos < sizeof base - 1; pos++) {
            char in[32];
            memcpy(in, base, pos);
            in[pos] = (char)bad;
            memcpy(in + pos + 1, base + pos, sizeof base - 1 - pos);
            uint8_t out[32];
            kv_transcode_stats st = { 0, 0 };
            size_t n = kv_codepage_transcode(KV_CP_PC858, out, in, sizeof base, &st);
            kvt_assert_bytes(out, n, base, sizeof base - 1);
            assert_int_equal(st.stripped, 1);
            assert_int_equal(kv_utf8_columns(in, sizeof base), sizeof base - 1);
        }
    }
    /* Edge bytes 0x20 and 0x7E pass, 0x80+ inside a run goes the slow way. */
    uint8_t out[16];
    size_t n = kv_codepage_transcode(KV_CP_PC858, out, " ~~~~~~~~ \xc3\xa6", 12, NULL);
    kvt_assert_bytes(out, n, " ~~~~~~~~ \x91", 11);
}

static void test_utf8_prefix(void **state)
{
    (void)state;
    const char *s = "æøå abc";   /* 7 columns, 10 bytes */
    assert_int_equal(kv_utf8_columns(s, strlen(s)), 7);
    assert_int_equal(kv_utf8_prefix(s, strlen(s), 0), 0);
    assert_int_equal(kv_utf8_prefix(s, strlen(s), 2), 4);   /* "æø" */
    assert_int_equal(kv_utf8_prefix(s, strlen(s), 3), 6);
    assert_int_equal(kv_utf8_prefix(s, strlen(s), 99), strlen(s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pangrams_every_page),
        cmocka_unit_test(test_encoder_text_counts_replacements),
        cmocka_unit_test(test_page_differences_from_facts),
        cmocka_unit_test(test_names_and_numbers),
        cmocka_unit_test(test_control_injection),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_random_bytes_never_emit_controls),
        cmocka_unit_test(test_controls_inside_ascii_runs),
        cmocka_unit_test(test_utf8_prefix),
    };
    return cmocka_run_group_tests_name("escpos_codepage", tests, NULL, NULL);
}
