/* test_escpos_encoder.c - every encoder command, byte for byte.
 *
 * Expected bytes are written out by hand from the command reference
 * (../shared/docs/escpos.md section 1; Epson ESC/POS): each array names the
 * command it encodes.  Nothing here is captured from the encoder's output. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "escpos/buf.h"
#include "escpos/encoder.h"
#include "src/doc/slip.h"
#include "tests/lib/kvtest.h"

/* ESC @, FS ., ESC R 0, ESC t 19 (PC858, Epson numbering). */
static const uint8_t PROLOGUE_858[] = { 0x1b, 0x40, 0x1c, 0x2e, 0x1b, 0x52, 0x00, 0x1b, 0x74, 0x13 };
#define PL sizeof PROLOGUE_858

static kv_escpos *mk(const char *profile, int cp)
{
    kv_escpos_options o = KV_ESCPOS_OPTIONS_INIT;
    o.profile = kv_profile_find(profile);
    assert_non_null(o.profile);
    o.codepage = cp;
    kv_escpos *e = NULL;
    assert_int_equal(kv_escpos_create(&e, &o), KV_ESCPOS_OK);
    return e;
}

/* An encoder for profile after the prologue; the bytes are checked. */
static kv_escpos *mk_init(const char *profile)
{
    kv_escpos *e = mk(profile, -1);
    assert_int_equal(kv_escpos_init(e), KV_ESCPOS_OK);
    size_t n;
    const uint8_t *d = kv_escpos_data(e, &n);
    kvt_assert_bytes(d, n, PROLOGUE_858, PL);
    return e;
}

/* The bytes after the prologue must be exp. */
static void expect_after_prologue(kv_escpos *e, const uint8_t *exp, size_t explen)
{
    size_t n;
    const uint8_t *d = kv_escpos_data(e, &n);
    assert_true(n >= PL);
    kvt_assert_bytes(d + PL, n - PL, exp, explen);
}
#define EXPECT(e, ...) do { \
        static const uint8_t exp_[] = { __VA_ARGS__ }; \
        expect_after_prologue((e), exp_, sizeof exp_); \
    } while (0)

static void test_prologue_codepages(void **state)
{
    (void)state;
    kv_escpos *e = mk_init("epson-tm-t88");
    kv_escpos_destroy(e);
    /* PC865: ESC t 5 */
    e = mk("generic-80", KV_CP_PC865);
    kv_escpos_init(e);
    static const uint8_t p865[] = { 0x1b, 0x40, 0x1c, 0x2e, 0x1b, 0x52, 0x00, 0x1b, 0x74, 0x05 };
    size_t n;
    const uint8_t *d = kv_escpos_data(e, &n);
    kvt_assert_bytes(d, n, p865, sizeof p865);
    /* ESC t 16 (WPC1252) mid-job, then nothing when selected again */
    assert_int_equal(kv_escpos_codepage_select(e, KV_CP_WPC1252), KV_ESCPOS_OK);
    assert_int_equal(kv_escpos_codepage_select(e, KV_CP_WPC1252), KV_ESCPOS_OK);
    static const uint8_t sel[] = { 0x1b, 0x40, 0x1c, 0x2e, 0x1b, 0x52, 0x00, 0x1b, 0x74, 0x05,
                                   0x1b, 0x74, 0x10 };
    d = kv_escpos_data(e, &n);
    kvt_assert_bytes(d, n, sel, sizeof sel);
    kv_escpos_destroy(e);
    /* Bixolon SRP-350 (legacy table) has no WPC1252. */
    kv_escpos_options o = KV_ESCPOS_OPTIONS_INIT;
    o.profile = kv_profile_find("bixolon-srp350");
    o.codepage = KV_CP_WPC1252;
    e = NULL;
    assert_int_equal(kv_escpos_create(&e, &o), KV_ESCPOS_E_UNSUPPORTED);
    assert_null(e);
    /* PC437 on Citizen: ESC t 0; PC858 on Citizen: ESC t 19 */
    e = mk("citizen-ct-s310", KV_CP_PC437);
    kv_escpos_init(e);
    static const uint8_t p437[] = { 0x1b, 0x40, 0x1c, 0x2e, 0x1b, 0x52, 0x00, 0x1b, 0x74, 0x00 };
    d = kv_escpos_data(e, &n);
    kvt_assert_bytes(d, n, p437, sizeof p437);
    assert_int_equal(kv_escpos_codepage_select(e, KV_CP_PC850), KV_ESCPOS_E_UNSUPPORTED);
    kv_escpos_destroy(e);
}

static void test_styles(void **state)
{
    (void)state;
    kv_escpos *e = mk_init("epson-tm-t88");
    kv_escpos_bold(e, true);        /* ESC E 1 */
    kv_escpos_bold(e, true);        /* unchanged: nothing */
    kv_escpos_underline(e, 2);      /* ESC - 2 */
    kv_escpos_reverse(e, true);     /* GS B 1 */
    kv_escpos_font(e, KV_FONT_B);   /* ESC M 1 */
    kv_escpos_size(e, 2, 3);        /* GS ! 0x12 */
    kv_escpos_size(e, 8, 8);        /* GS ! 0x77 */
    kv_escpos_reverse(e, false);    /* GS B 0 */
    kv_escpos_bold(e, false);       /* ESC E 0 */
    kv_escpos_underline(e, 0);      /* ESC - 0 */
    kv_escpos_font(e, KV_FONT_A);   /* ESC M 0 */
    kv_escpos_size(e, 1, 1);        /* GS ! 0 */
    assert_int_equal(kv_escpos_status_get(e), KV_ESCPOS_OK);
    EXPECT(e, 0x1b, 0x45, 0x01, 0x1b, 0x2d, 0x02, 0x1d, 0x42, 0x01, 0x1b, 0x4d, 0x01,
           0x1d, 0x21, 0x12, 0x1d, 0x21, 0x77, 0x1d, 0x42, 0x00, 0x1b, 0x45, 0x00,
           0x1b, 0x2d, 0x00, 0x1b, 0x4d, 0x00, 0x1d, 0x21, 0x00);
    kv_escpos_destroy(e);
}

static void test_defaults_not_repeated(void **state)
{
    (void)state;
    kv_escpos *e = mk_init("epson-tm-t88");
    /* All of these are what ESC @ already set: no bytes at all. */
    kv_escpos_bold(e, false);
    kv_escpos_underline(e, 0);
    kv_escpos_reverse(e, false);
    kv_escpos_font(e, KV_FONT_A);
    kv_escpos_size(e, 1, 1);
    kv_escpos_align(e, KV_ALIGN_LEFT);
    kv_escpos_line_spacing(e, -1);
    kv_style st = KV_STYLE_INIT;
    kv_escpos_style(e, &st);
    size_t n;
    kv_escpos_data(e, &n);
    assert_int_equal(n, PL);
    kv_escpos_destroy(e);

    /* Without ESC @ the state is unknown: every setter emits. */
    e = mk("epson-tm-t88", -1);
    kv_escpos_bold(e, false);       /* ESC E 0 */
    kv_escpos_align(e, KV_ALIGN_LEFT); /* ESC a 0 */
    static const uint8_t exp[] = { 0x1b, 0x45, 0x00, 0x1b, 0x61, 0x00 };
    const uint8_t *d = kv_escpos_data(e, &n);
    kvt_assert_bytes(d, n, exp, sizeof exp);
    kv_escpos_destroy(e);
}

static void test_style_combined_esc_bang(void **state)
{
    (void)state;
    kv_escpos *e = mk_init("epson-tm-t88");
    kv_style big = { KV_FONT_A, true, 0, 2, 2 };
    kv_escpos_style(e, &big);                       /* ESC ! 0x38: bold + dh + dw */
    kv_style normal = KV_STYLE_INIT;
    kv_escpos_style(e, &normal);                    /* ESC ! 0x00 */
    kv_style ulb = { KV_FONT_B, false, 1, 1, 1 };
    kv_escpos_style(e, &ulb);                       /* ESC ! 0x81: font B + underline */
    kv_style only_bold = { KV_FONT_B, true, 1, 1, 1 };
    kv_escpos_style(e, &only_bold);                 /* one change: ESC E 1 */
    kv_style wide = { KV_FONT_B, true, 1, 3, 1 };
    kv_escpos_style(e, &wide);                      /* width 3: GS ! 0x20 */
    kv_style tall_ul2 = { KV_FONT_A, false, 2, 1, 2 };
    kv_escpos_style(e, &tall_ul2);                  /* ul 2 needs ESC -: separate commands */
    EXPECT(e, 0x1b, 0x21, 0x38, 0x1b, 0x21, 0x00, 0x1b, 0x21, 0x81, 0x1b, 0x45, 0x01,
           0x1d, 0x21, 0x20,
           0x1b, 0x4d, 0x00, 0x1b, 0x45, 0x00, 0x1b, 0x2d, 0x02, 0x1d, 0x21, 0x01);
    kv_escpos_destroy(e);
}

static void test_align_spacing_feeds(void **state)
{
    (void)state;
    kv_escpos *e = mk_init("epson-tm-t88");
    kv_escpos_align(e, KV_ALIGN_CENTER);  /* ESC a 1 */
    kv_escpos_align(e, KV_ALIGN_RIGHT);   /* ESC a 2 */
    kv_escpos_line_spacing(e, 24);        /* ESC 3 24 */
    kv_escpos_line_spacing(e, -1);        /* ESC 2 */
    kv_escpos_feed_lines(e, 3);           /* ESC d 3 */
    kv_escpos_feed_dots(e, 24);           /* ESC J 24 */
    kv_escpos_newline(e);                 /* LF */
    EXPECT(e, 0x1b, 0x61, 0x01, 0x1b, 0x61, 0x02, 0x1b, 0x33, 0x18, 0x1b, 0x32,
           0x1b, 0x64, 0x03, 0x1b, 0x4a, 0x18, 0x0a);
    assert_int_equal(kv_escpos_feed_lines(e, 256), KV_ESCPOS_E_ARG);
    kv_escpos_destroy(e);
}

static void test_cuts_per_profile(void **state)
{
    (void)state;
    /* TM-T88: function B, GS V 66 0 (partial) / GS V 65 0 (full). */
    kv_escpos *e = mk_init("epson-tm-t88");
    kv_escpos_cut(e, KV_CUT_PARTIAL);
    kv_escpos_cut(e, KV_CUT_FULL);
    EXPECT(e, 0x1d, 0x56, 0x42, 0x00, 0x1d, 0x56, 0x41, 0x00);
    kv_escpos_destroy(e);
    /* generic-80: function B as well. */
    e = mk_init("generic-80");
    kv_escpos_cut(e, KV_CUT_PARTIAL);
    EXPECT(e, 0x1d, 0x56, 0x42, 0x00);
    kv_escpos_destroy(e);
    /* Star TSP650 (emulation): ESC d 3, then GS V 1 / GS V 0 (function A). */
    e = mk_init("star-tsp650");
    kv_escpos_cut(e, KV_CUT_PARTIAL);
    kv_escpos_cut(e, KV_CUT_FULL);
    EXPECT(e, 0x1b, 0x64, 0x03, 0x1d, 0x56, 0x01, 0x1b, 0x64, 0x03, 0x1d, 0x56, 0x00);
    kv_escpos_destroy(e);
    /* POS-5890 has no cutter: ESC d 3 only, no GS V ever. */
    e = mk_init("pos-5890");
    kv_escpos_cut(e, KV_CUT_FULL);
    EXPECT(e, 0x1b, 0x64, 0x03);
    kv_escpos_destroy(e);
}

static void test_drawer(void **state)
{
    (void)state;
    kv_escpos *e = mk_init("epson-tm-t88");
    kv_escpos_drawer(e, 0, 100, 500);   /* ESC p 0 50 250 */
    kv_escpos_drawer(e, 1, 120, 240);   /* ESC p 1 60 120 */
    kv_escpos_drawer(e, 0, 1, 0);       /* 1 ms rounds up to one 2 ms unit: ESC p 0 1 0 */
    EXPECT(e, 0x1b, 0x70, 0x00, 0x32, 0xfa, 0x1b, 0x70, 0x01, 0x3c, 0x78,
           0x1b, 0x70, 0x00, 0x01, 0x00);
    assert_int_equal(kv_escpos_drawer(e, 2, 100, 100), KV_ESCPOS_E_ARG);
    kv_escpos_destroy(e);
    e = mk_init("generic-58");
    assert_int_equal(kv_escpos_drawer(e, 0, 100, 100), KV_ESCPOS_E_UNSUPPORTED);
    assert_non_null(strstr(kv_escpos_errmsg(e), "drawer"));
    kv_escpos_destroy(e);
}

static void test_barcode_code128(void **state)
{
    (void)state;
    kv_escpos *e = mk_init("epson-tm-t88");
    kv_barcode_options o = KV_BARCODE_OPTIONS_INIT;   /* height 80, module 2, HRI below */
    /* All digits, even: code set C, pairs as bytes 12 34 56 78. */
    assert_int_equal(kv_escpos_barcode(e, KV_BARCODE_CODE128, "12345678", &o), KV_ESCPOS_OK);
    /* Same options again: GS h/w/H are not repeated.  Odd digit run: one
     * digit in set B, the rest in C: {B 1 {C 23 45. */
    kv_escpos_barcode(e, KV_BARCODE_CODE128, "12345", &o);
    /* Text with a literal '{' (doubled) and a short digit run: set B only. */
    kv_escpos_barcode(e, KV_BARCODE_CODE128, "AB{12", &o);
    /* Mixed: "INV" in B, "20261125" in C. */
    kv_escpos_barcode(e, KV_BARCODE_CODE128, "INV20261125", &o);
    EXPECT(e,
           0x1d, 0x68, 0x50,                   /* GS h 80 */
           0x1d, 0x77, 0x02,                   /* GS w 2 */
           0x1d, 0x48, 0x02,                   /* GS H 2 (below) */
           0x1d, 0x6b, 0x49, 0x06, 0x7b, 0x43, 12, 34, 56, 78,            /* GS k 73 n {C.. */
           0x1d, 0x6b, 0x49, 0x07, 0x7b, 0x42, 0x31, 0x7b, 0x43, 23, 45,
           0x1d, 0x6b, 0x49, 0x08, 0x7b, 0x42, 0x41, 0x42, 0x7b, 0x7b, 0x31, 0x32,
           0x1d, 0x6b, 0x49, 0x0b, 0x7b, 0x42, 0x49, 0x4e, 0x56, 0x7b, 0x43, 20, 26, 11, 25);
    assert_int_equal(kv_escpos_barcode(e, KV_BARCODE_CODE128, "bad\x01", &o),
                     KV_ESCPOS_E_BARCODE_DATA);
    kv_escpos_destroy(e);
}

static void test_barcode_ean13_code39(void **state)
{
    (void)state;
    kv_escpos *e = mk_init("epson-tm-t20");
    kv_barcode_options o = { 100, 3, KV_HRI_NONE };
    /* 12 digits: the check digit (1) is computed; GS k 67 13 ... */
    assert_int_equal(kv_escpos_barcode(e, KV_BARCODE_EAN13, "400638133393", &o), KV_ESCPOS_OK);
    /* CODE39 upper-cased: GS k 69 5 "ABC-1" */
    assert_int_equal(kv_escpos_barcode(e, KV_BARCODE_CODE39, "abc-1", &o), KV_ESCPOS_OK);
    EXPECT(e, 0x1d, 0x68, 0x64,               /* GS h 100 (module 3 and HRI none are defaults) */
           0x1d, 0x6b, 0x43, 0x0d, '4', '0', '0', '6', '3', '8', '1', '3', '3', '3', '9', '3', '1',
           0x1d, 0x6b, 0x45, 0x05, 'A', 'B', 'C', '-', '1');
    kv_escpos_destroy(e);

    e = mk_init("epson-tm-t20");
    assert_int_equal(kv_escpos_barcode(e, KV_BARCODE_EAN13, "4006381333932", NULL),
                     KV_ESCPOS_E_BARCODE_DATA);
    assert_non_null(strstr(kv_escpos_errmsg(e), "check digit"));
    kv_escpos_destroy(e);
    e = mk_init("epson-tm-t20");
    assert_int_equal(kv_escpos_barcode(e, KV_BARCODE_CODE39, "*A*", NULL), KV_ESCPOS_E_BARCODE_DATA);
    kv_escpos_destroy(e);
    e = mk_init("pos-5890");
    assert_int_equal(kv_escpos_barcode(e, KV_BARCODE_CODE39, "A", NULL), KV_ESCPOS_E_UNSUPPORTED);
    kv_escpos_destroy(e);
    /* 60 CODE39 characters at module 6 are far wider than 576 dots. */
    e = mk_init("epson-tm-t20");
    kv_barcode_options w6 = { 0, 6, KV_HRI_NONE };
    assert_int_equal(kv_escpos_barcode(e, KV_BARCODE_CODE39,
                     "ABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGHIJ", &w6),
                     KV_ESCPOS_E_TOO_WIDE);
    kv_escpos_destroy(e);
}

static void test_raster_bands(void **state)
{
    (void)state;
    kv_escpos *e = mk_init("epson-tm-t88");
    static const uint8_t img[6] = { 0xff, 0x00, 0x81, 0x42, 0x00, 0xff };
    kv_escpos_raster(e, img, 2, 3, KV_RASTER_NORMAL);
    /* GS v 0 m=0, xL xH = 2 bytes, yL yH = 3 rows, then the 6 data bytes */
    EXPECT(e, 0x1d, 0x76, 0x30, 0x00, 0x02, 0x00, 0x03, 0x00, 0xff, 0x00, 0x81, 0x42, 0x00, 0xff);
    kv_escpos_destroy(e);

    /* 300 rows: a band of 255 rows and one of 45, each with its header. */
    uint8_t tall[300];
    for (int i = 0; i < 300; i++)
        tall[i] = (uint8_t)i;
    e = mk_init("epson-tm-t88");
    kv_escpos_raster(e, tall, 1, 300, KV_RASTER_QUADRUPLE);
    uint8_t exp[8 + 255 + 8 + 45];
    static const uint8_t h1[] = { 0x1d, 0x76, 0x30, 0x03, 0x01, 0x00, 0xff, 0x00 };
    static const uint8_t h2[] = { 0x1d, 0x76, 0x30, 0x03, 0x01, 0x00, 0x2d, 0x00 };
    memcpy(exp, h1, 8);
    memcpy(exp + 8, tall, 255);
    memcpy(exp + 263, h2, 8);
    memcpy(exp + 271, tall + 255, 45);
    expect_after_prologue(e, exp, sizeof exp);
    kv_escpos_destroy(e);

    /* 65 bytes = 520 dots > 512; 33 bytes at double width = 528 > 512. */
    uint8_t wide[65] = { 0 };
    e = mk_init("epson-tm-t88");
    assert_int_equal(kv_escpos_raster(e, wide, 65, 1, KV_RASTER_NORMAL), KV_ESCPOS_E_TOO_WIDE);
    kv_escpos_destroy(e);
    e = mk_init("epson-tm-t88");
    assert_int_equal(kv_escpos_raster(e, wide, 33, 1, KV_RASTER_DOUBLE_WIDTH), KV_ESCPOS_E_TOO_WIDE);
    kv_escpos_destroy(e);
    e = mk_init("epson-tm-t88");
    assert_int_equal(kv_escpos_raster(e, wide, 64, 1, KV_RASTER_DOUBLE_HEIGHT), KV_ESCPOS_OK);
    kv_escpos_destroy(e);
}

static void test_raster_after_text_starts_new_line(void **state)
{
    (void)state;
    kv_escpos *e = mk_init("epson-tm-t88");
    static const uint8_t img[1] = { 0xaa };
    kv_escpos_text(e, "ab");
    kv_escpos_raster(e, img, 1, 1, KV_RASTER_NORMAL);
    EXPECT(e, 'a', 'b', 0x0a, 0x1d, 0x76, 0x30, 0x00, 0x01, 0x00, 0x01, 0x00, 0xaa);
    kv_escpos_destroy(e);
}

static void test_qr_native(void **state)
{
    (void)state;
    kv_escpos *e = mk_init("epson-tm-t88");
    kv_qr_options o = { KV_QR_NATIVE, 3, KV_QR_EC_L, false };
    assert_int_equal(kv_escpos_qr(e, "1234", 4, &o), KV_ESCPOS_OK);
    /* The worked example of escpos.md 1.8 (escpos-php qrCode("1234")), with
     * a blank line before and after for the quiet zone (4 x 3 dots < one line). */
    EXPECT(e, 0x0a,
           0x1d, 0x28, 0x6b, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00,       /* fn 165: model 2 */
           0x1d, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x43, 0x03,             /* fn 167: 3 dots */
           0x1d, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x45, 0x30,             /* fn 169: EC L */
           0x1d, 0x28, 0x6b, 0x07, 0x00, 0x31, 0x50, 0x30, '1', '2', '3', '4', /* fn 180 */
           0x1d, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x51, 0x30,             /* fn 181: print */
           0x0a);
    kv_escpos_destroy(e);

    /* EC M, 8-dot modules: 32 dots of quiet zone need two blank lines. */
    e = mk_init("epson-tm-t20");
    kv_qr_options o8 = { KV_QR_AUTO, 8, KV_QR_EC_M, false };
    assert_int_equal(kv_escpos_qr(e, "A", 1, &o8), KV_ESCPOS_OK);
    EXPECT(e, 0x0a, 0x0a,
           0x1d, 0x28, 0x6b, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00,
           0x1d, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x43, 0x08,
           0x1d, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x45, 0x31,
           0x1d, 0x28, 0x6b, 0x04, 0x00, 0x31, 0x50, 0x30, 'A',
           0x1d, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x51, 0x30,
           0x0a, 0x0a);
    kv_escpos_destroy(e);

    /* Length from the bytes: 300 data bytes -> pL pH = 303 = 0x2f 0x01. */
    char big[300];
    memset(big, 'x', sizeof big);
    e = mk_init("epson-tm-t20");
    kv_qr_options o4 = { KV_QR_NATIVE, 4, KV_QR_EC_L, false };
    assert_int_equal(kv_escpos_qr(e, big, sizeof big, &o4), KV_ESCPOS_OK);
    size_t n;
    const uint8_t *d = kv_escpos_data(e, &n);
    static const uint8_t store[] = { 0x1d, 0x28, 0x6b, 0x2f, 0x01, 0x31, 0x50, 0x30 };
    const uint8_t *p = memmem(d, n, store, sizeof store);
    assert_non_null(p);
    assert_memory_equal(p + sizeof store, big, sizeof big);
    kv_escpos_destroy(e);
}

static void test_qr_errors(void **state)
{
    (void)state;
    const char *url = "https://api.vipps.no/dwo-api-application/v1/deeplink/vippsgateway?v=2&token="
                      "eyJraWQiOiJqd3RrZXkiLCJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.abc123";
    /* No native QR on the TM-T88III. */
    kv_escpos *e = mk_init("epson-tm-t88iii");
    kv_qr_options nat = { KV_QR_NATIVE, 6, KV_QR_EC_M, false };
    assert_int_equal(kv_escpos_qr(e, url, strlen(url), &nat), KV_ESCPOS_E_UNSUPPORTED);
    kv_escpos_destroy(e);
    /* 49 modules (version 8) + 8 quiet at 8 dots = 456 > 384: a clear error,
     * for native and raster alike, and nothing is emitted. */
    for (int mode = KV_QR_AUTO; mode <= KV_QR_RASTER; mode++) {
        e = mk_init("generic-58");
        kv_qr_options big = { (kv_qr_mode)mode, 8, KV_QR_EC_M, false };
        if (mode == KV_QR_NATIVE) {
            assert_int_equal(kv_escpos_qr(e, url, strlen(url), &big), KV_ESCPOS_E_UNSUPPORTED);
        } else {
            assert_int_equal(kv_escpos_qr(e, url, strlen(url), &big), KV_ESCPOS_E_QR_TOO_BIG);
            assert_non_null(strstr(kv_escpos_errmsg(e), "456"));
            size_t n;
            kv_escpos_data(e, &n);
            assert_int_equal(n, PL);
        }
        kv_escpos_destroy(e);
    }
    e = mk_init("epson-tm-t20");
    kv_qr_options m16 = { KV_QR_NATIVE, 16, KV_QR_EC_M, false };
    assert_int_equal(kv_escpos_qr(e, url, strlen(url), &m16), KV_ESCPOS_E_QR_TOO_BIG);
    kv_escpos_destroy(e);
    /* Too much data for any QR version at EC H. */
    static char huge[4000];
    memset(huge, 'z', sizeof huge);
    e = mk_init("epson-tm-t20");
    kv_qr_options h = { KV_QR_NATIVE, 1, KV_QR_EC_H, false };
    assert_int_equal(kv_escpos_qr(e, huge, sizeof huge, &h), KV_ESCPOS_E_QR_TOO_BIG);
    kv_escpos_destroy(e);
    e = mk_init("epson-tm-t20");
    kv_qr_options m17 = { KV_QR_NATIVE, 17, KV_QR_EC_M, false };
    assert_int_equal(kv_escpos_qr(e, "a", 1, &m17), KV_ESCPOS_E_ARG);
    assert_int_equal(kv_escpos_qr(e, "a", 1, NULL), KV_ESCPOS_E_ARG);   /* sticky */
    kv_escpos_destroy(e);
}

static void test_text_is_transcoded(void **state)
{
    (void)state;
    kv_escpos *e = mk("epson-tm-t88", KV_CP_PC865);
    kv_escpos_init(e);
    kv_escpos_line(e, "Beløp: 149,00 kr");
    size_t n;
    const uint8_t *d = kv_escpos_data(e, &n);
    static const uint8_t exp[] = { 0x1b, 0x40, 0x1c, 0x2e, 0x1b, 0x52, 0x00, 0x1b, 0x74, 0x05,
                                   'B', 'e', 'l', 0x9b, 'p', ':', ' ', '1', '4', '9', ',', '0',
                                   '0', ' ', 'k', 'r', 0x0a };
    kvt_assert_bytes(d, n, exp, sizeof exp);
    kv_escpos_destroy(e);
}

/* The canonical slip of issue 2, written out command by command. */
static void test_canonical_slip_by_hand(void **state)
{
    (void)state;
    static const char url[] = "https://api.vipps.no/dwo-api-application/v1/deeplink/"
                              "vippsgateway?v=2&token=eyJraWQiOiJqd3RrZXkiLCJ0eXAiOiJKV1QiLCJh"
                              "bGciOiJSUzI1NiJ9.abc123";
    assert_int_equal(strlen(url), 139);
    static const uint8_t head[] = {
        0x1b, 0x40,                    /* ESC @ initialise */
        0x1c, 0x2e,                    /* FS . cancel double-byte mode */
        0x1b, 0x52, 0x00,              /* ESC R 0 USA character set */
        0x1b, 0x74, 0x05,              /* ESC t 5 PC865 */
        0x1b, 0x61, 0x01,              /* ESC a 1 centre */
        0x1b, 0x21, 0x38,              /* ESC ! bold + double height + double width */
        'B', 'e', 't', 'a', 'l', ' ', 'm', 'e', 'd', ' ', 'V', 'i', 'p', 'p', 's', 0x0a,
        0x1b, 0x21, 0x00,              /* ESC ! 0 normal */
        'B', 'e', 'l', 0x9b, 'p', ':', ' ', '1', '4', '9', ',', '0', '0', ' ', 'k', 'r', 0x0a,
        0x0a,                          /* quiet zone: 4 x 6 dots < one line */
        0x1d, 0x28, 0x6b, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00,   /* GS ( k fn 165 model 2 */
        0x1d, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x43, 0x06,         /* fn 167 module 6 */
        0x1d, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x45, 0x31,         /* fn 169 EC M */
        0x1d, 0x28, 0x6b, 0x8e, 0x00, 0x31, 0x50, 0x30,         /* fn 180 store, 139+3 = 0x8e */
    };
    static const uint8_t tail[] = {
        0x1d, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x51, 0x30,         /* fn 181 print */
        0x0a,                                                   /* quiet zone below */
        'S', 'k', 'a', 'n', 'n', ' ', 'm', 'e', 'd', ' ', 'k', 'a', 'm', 'e', 'r', 'a', '-',
        'a', 'p', 'p', 'e', 'n', 0x0a,
        'P', 'O', 'S', '-', '1', '-', '2', '0', '2', '6', '1', '1', '2', '5', '-', '0', '0',
        '0', '1', 0x0a,
        0x1d, 0x56, 0x42, 0x00,        /* GS V 66 0: feed to the cutter, partial cut */
    };
    uint8_t exp[sizeof head + 139 + sizeof tail];
    memcpy(exp, head, sizeof head);
    memcpy(exp + sizeof head, url, 139);
    memcpy(exp + sizeof head + 139, tail, sizeof tail);
    assert_int_equal(sizeof exp, 281);   /* target <= 282, floor 274 */

    kv_escpos *e = mk("epson-tm-t88", KV_CP_PC865);
    kv_slip_spec spec = KV_SLIP_SPEC_INIT;
    spec.url = url;
    spec.amount_minor = 14900;
    spec.reference = "POS-1-20261125-0001";
    spec.qr.mode = KV_QR_NATIVE;
    assert_int_equal(kv_slip_write(e, &spec), KV_ESCPOS_OK);
    size_t n;
    const uint8_t *d = kv_escpos_data(e, &n);
    kvt_assert_bytes(d, n, exp, sizeof exp);

    /* The golden fixture of the same slip holds exactly these bytes too. */
    char *path = kvt_path("%s/fixtures/slip-epson-tm-t88-native.bin", kvt_srcdir());
    unsigned char *fx;
    size_t fxlen;
    assert_int_equal(kvt_read_file(path, &fx, &fxlen), 0);
    kvt_assert_bytes(fx, fxlen, exp, sizeof exp);
    free(fx);
    free(path);
    kv_escpos_destroy(e);
}

static void test_cap_sticky_reset(void **state)
{
    (void)state;
    kv_escpos_options o = KV_ESCPOS_OPTIONS_INIT;
    o.max_bytes = 16;
    kv_escpos *e = NULL;
    assert_int_equal(kv_escpos_create(&e, &o), KV_ESCPOS_OK);
    assert_int_equal(kv_escpos_init(e), KV_ESCPOS_OK);     /* 10 bytes */
    assert_int_equal(kv_escpos_text(e, "0123456789"), KV_ESCPOS_E_FULL);
    assert_int_equal(kv_escpos_newline(e), KV_ESCPOS_E_FULL);   /* sticky */
    assert_int_equal(kv_escpos_status_get(e), KV_ESCPOS_E_FULL);
    assert_string_not_equal(kv_escpos_errmsg(e), "");
    size_t n;
    kv_escpos_data(e, &n);
    assert_true(n <= 16);
    kv_escpos_reset(e);
    assert_int_equal(kv_escpos_status_get(e), KV_ESCPOS_OK);
    kv_escpos_data(e, &n);
    assert_int_equal(n, 0);
    assert_int_equal(kv_escpos_text(e, "ok"), KV_ESCPOS_OK);
    const uint8_t *d = kv_escpos_data(e, &n);
    kvt_assert_bytes(d, n, "ok", 2);
    kv_escpos_destroy(e);
    kv_escpos_destroy(NULL);

    /* The buffer on its own. */
    kv_buf *b = kv_buf_create(4);
    assert_non_null(b);
    assert_int_equal(kv_buf_append(b, "abc", 3), KV_BUF_OK);
    assert_int_equal(kv_buf_put(b, 'd'), KV_BUF_OK);
    assert_int_equal(kv_buf_put(b, 'e'), KV_BUF_E_FULL);
    assert_int_equal(kv_buf_append(b, "", 0), KV_BUF_E_FULL);
    assert_int_equal(kv_buf_len(b), 4);
    kv_buf_clear(b);
    assert_int_equal(kv_buf_status_get(b), KV_BUF_OK);
    assert_non_null(kv_buf_data(b));
    assert_string_equal(kv_buf_strerror(KV_BUF_E_FULL), "buffer size limit reached");
    kv_buf_destroy(b);
    kv_buf_destroy(NULL);
}

static void test_deterministic(void **state)
{
    (void)state;
    const char *url = "https://example.com/p?x=1";
    size_t n1, n2;
    kv_escpos *a = mk("generic-58", -1), *b = mk("generic-58", -1);
    kv_slip_spec s = KV_SLIP_SPEC_INIT;
    s.url = url;
    s.amount_minor = 123456;
    assert_int_equal(kv_slip_write(a, &s), KV_ESCPOS_OK);
    assert_int_equal(kv_slip_write(b, &s), KV_ESCPOS_OK);
    const uint8_t *d1 = kv_escpos_data(a, &n1), *d2 = kv_escpos_data(b, &n2);
    kvt_assert_bytes(d1, n1, d2, n2);
    /* Reusing a handle after reset gives the same bytes again. */
    kv_escpos_reset(a);
    assert_int_equal(kv_slip_write(a, &s), KV_ESCPOS_OK);
    d1 = kv_escpos_data(a, &n1);
    kvt_assert_bytes(d1, n1, d2, n2);
    kv_escpos_destroy(a);
    kv_escpos_destroy(b);
}

static void test_strerror_covers_all(void **state)
{
    (void)state;
    for (int s = 0; s >= -7; s--)
        assert_string_not_equal(kv_escpos_strerror((kv_escpos_status)s), "unknown encoder status");
    assert_string_equal(kv_escpos_strerror((kv_escpos_status)-99), "unknown encoder status");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prologue_codepages),
        cmocka_unit_test(test_styles),
        cmocka_unit_test(test_defaults_not_repeated),
        cmocka_unit_test(test_style_combined_esc_bang),
        cmocka_unit_test(test_align_spacing_feeds),
        cmocka_unit_test(test_cuts_per_profile),
        cmocka_unit_test(test_drawer),
        cmocka_unit_test(test_barcode_code128),
        cmocka_unit_test(test_barcode_ean13_code39),
        cmocka_unit_test(test_raster_bands),
        cmocka_unit_test(test_raster_after_text_starts_new_line),
        cmocka_unit_test(test_qr_native),
        cmocka_unit_test(test_qr_errors),
        cmocka_unit_test(test_text_is_transcoded),
        cmocka_unit_test(test_canonical_slip_by_hand),
        cmocka_unit_test(test_cap_sticky_reset),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_strerror_covers_all),
    };
    return cmocka_run_group_tests_name("escpos_encoder", tests, NULL, NULL);
}
