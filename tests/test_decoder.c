/* test_decoder.c - the ESC/POS decoder and `kvitt dump`.
 *
 * Byte sequences below are written by hand from the command reference
 * (../shared/docs/escpos.md section 1, Epson ESC/POS); each cites the
 * command.  The round-trip tests run the encoder API and check that the
 * decoder reads back the same parameters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "escpos/decoder.h"
#include "escpos/dump.h"
#include "escpos/encoder.h"
#include "tests/lib/kvtest.h"

#define MAXC 512

typedef struct decoded {
    kv_dec_cmd c[MAXC];
    kv_dec_state st[MAXC];  /* state after each command */
    int n;
    size_t unprinted, unprinted_off;
} decoded;

static decoded *decode(const void *bytes, size_t len)
{
    decoded *d = calloc(1, sizeof *d);
    assert_non_null(d);
    kv_dec *k;
    assert_int_equal(kv_dec_create(&k, bytes, len), KV_DEC_OK);
    size_t pos = 0;
    while (d->n < MAXC && kv_dec_next(k, &d->c[d->n]) == KV_DEC_OK) {
        assert_int_equal(d->c[d->n].offset, pos);
        assert_true(d->c[d->n].length >= 1);
        pos += d->c[d->n].length;
        d->st[d->n] = *kv_dec_state_get(k);
        d->n++;
    }
    assert_int_equal(pos, len);
    d->unprinted = kv_dec_unprinted(k, &d->unprinted_off);
    kv_dec_destroy(k);
    return d;
}

/* Find the i-th command with op (i from 0); fails the test when absent. */
static int find(const decoded *d, kv_dec_op op, int nth)
{
    for (int i = 0; i < d->n; i++)
        if (d->c[i].op == op && nth-- == 0)
            return i;
    fail_msg("no %s (#%d) in the stream", kv_dec_op_name(op), nth);
    return -1;
}

#define B(...) ((const uint8_t[]){ __VA_ARGS__ })
#define DEC(...) decode(B(__VA_ARGS__), sizeof(B(__VA_ARGS__)))

/* ---- hand-written sequences -------------------------------------------- */

static void test_decoder__init_and_text(void **state)
{
    (void)state;
    /* ESC @ (1B 40), FS . (1C 2E), ESC R 0 (1B 52 00), ESC t 19 (1B 74 13),
     * "Hi" LF */
    decoded *d = DEC(0x1B, 0x40, 0x1C, 0x2E, 0x1B, 0x52, 0x00, 0x1B, 0x74, 0x13, 'H', 'i', 0x0A);
    assert_int_equal(d->n, 6);
    assert_int_equal(d->c[0].op, KV_OP_INIT);
    assert_string_equal(d->c[0].mnemonic, "ESC @");
    assert_int_equal(d->c[1].op, KV_OP_CANCEL_KANJI);
    assert_int_equal(d->c[2].op, KV_OP_INTL);
    assert_int_equal(d->c[2].p[0], 0);
    assert_int_equal(d->c[3].op, KV_OP_CODEPAGE);
    assert_int_equal(d->c[3].p[0], 19);
    assert_int_equal(d->st[3].codepage, 19);
    assert_int_equal(d->c[4].op, KV_OP_TEXT);
    assert_string_equal(d->c[4].name, "text");
    assert_int_equal(d->c[4].datalen, 2);
    assert_memory_equal(d->c[4].data, "Hi", 2);
    assert_int_equal(d->st[4].line_bytes, 2);
    assert_int_equal(d->c[5].op, KV_OP_LF);
    assert_int_equal(d->st[5].line_bytes, 0);
    assert_int_equal(d->unprinted, 0);
    free(d);
}

static void test_decoder__text_without_lf_is_unprinted(void **state)
{
    (void)state;
    /* "AB" LF "tail" (no LF) */
    decoded *d = DEC('A', 'B', 0x0A, 't', 'a', 'i', 'l');
    assert_int_equal(d->unprinted, 4);
    assert_int_equal(d->unprinted_off, 3);
    free(d);
    /* text, then ESC d 2 (1B 64 02) prints it */
    d = DEC('x', 0x1B, 0x64, 0x02);
    assert_int_equal(d->unprinted, 0);
    assert_int_equal(d->c[1].op, KV_OP_FEED_LINES);
    assert_int_equal(d->c[1].p[0], 2);
    free(d);
}

static void test_decoder__esc_at_resets_state(void **state)
{
    (void)state;
    /* ESC E 1, ESC - 2, GS ! 0x11, ESC a 1, ESC M 1, GS B 1, ESC t 5, ESC 3 40,
     * GS ( k fn 167 module 8, "x", then ESC @ */
    decoded *d = DEC(0x1B, 0x45, 0x01, 0x1B, 0x2D, 0x02, 0x1D, 0x21, 0x11, 0x1B, 0x61, 0x01,
                     0x1B, 0x4D, 0x01, 0x1D, 0x42, 0x01, 0x1B, 0x74, 0x05, 0x1B, 0x33, 40,
                     0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 0x08, 'x', 0x1B, 0x40);
    const kv_dec_state *b = &d->st[d->n - 2], *a = &d->st[d->n - 1];
    assert_int_equal(b->bold, 1);
    assert_int_equal(b->underline, 2);
    assert_int_equal(b->width_mul, 2);
    assert_int_equal(b->height_mul, 2);
    assert_int_equal(b->align, 1);
    assert_int_equal(b->font, 1);
    assert_int_equal(b->reverse, 1);
    assert_int_equal(b->codepage, 5);
    assert_int_equal(b->line_spacing, 40);
    assert_int_equal(b->qr_module, 8);
    assert_int_equal(b->line_bytes, 1);
    kv_dec_state fresh;
    kv_dec_state_reset(&fresh);
    assert_memory_equal(a, &fresh, sizeof fresh);
    assert_int_equal(d->unprinted, 0);
    free(d);
}

static void test_decoder__print_mode_esc_bang(void **state)
{
    (void)state;
    /* ESC ! 0xB9 = font B | bold | double height | double width | underline */
    decoded *d = DEC(0x1B, 0x21, 0xB9);
    assert_int_equal(d->c[0].op, KV_OP_PRINT_MODE);
    assert_int_equal(d->st[0].font, 1);
    assert_int_equal(d->st[0].bold, 1);
    assert_int_equal(d->st[0].height_mul, 2);
    assert_int_equal(d->st[0].width_mul, 2);
    assert_int_equal(d->st[0].underline, 1);
    free(d);
    /* GS ! 0x77 = 8x8, then ESC ! 0 overrides the size */
    d = DEC(0x1D, 0x21, 0x77, 0x1B, 0x21, 0x00);
    assert_int_equal(d->c[0].p[0], 8);
    assert_int_equal(d->c[0].p[1], 8);
    assert_int_equal(d->st[1].width_mul, 1);
    assert_int_equal(d->st[1].height_mul, 1);
    free(d);
}

static void test_decoder__ascii_digit_synonyms(void **state)
{
    (void)state;
    /* ESC a '2' (1B 61 32) right; ESC - '1' (1B 2D 31); ESC M '1' (1B 4D 31) */
    decoded *d = DEC(0x1B, 0x61, 0x32, 0x1B, 0x2D, 0x31, 0x1B, 0x4D, 0x31);
    assert_int_equal(d->st[2].align, 2);
    assert_int_equal(d->st[2].underline, 1);
    assert_int_equal(d->st[2].font, 1);
    free(d);
}

static void test_decoder__qr_worked_example(void **state)
{
    (void)state;
    /* escpos.md 1.8 worked example: qrCode("1234"):
     * 1D 28 6B 04 00 31 41 32 00  1D 28 6B 03 00 31 43 03  1D 28 6B 03 00 31 45 30
     * 1D 28 6B 07 00 31 50 30 31 32 33 34  1D 28 6B 03 00 31 51 30 */
    decoded *d = DEC(0x1D, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00,
                     0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 0x03,
                     0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x45, 0x30,
                     0x1D, 0x28, 0x6B, 0x07, 0x00, 0x31, 0x50, 0x30, '1', '2', '3', '4',
                     0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30);
    assert_int_equal(d->n, 5);
    assert_int_equal(d->c[0].op, KV_OP_QR_MODEL);
    assert_int_equal(d->c[0].length, 9);
    assert_int_equal(d->c[0].p[0], 2);
    assert_int_equal(d->c[1].op, KV_OP_QR_SIZE);
    assert_int_equal(d->c[1].p[0], 3);
    assert_int_equal(d->c[2].op, KV_OP_QR_EC);
    assert_int_equal(d->c[2].p[0], 0);
    assert_int_equal(d->c[3].op, KV_OP_QR_STORE);
    assert_int_equal(d->c[3].length, 12);
    assert_int_equal(d->c[3].datalen, 4);
    assert_memory_equal(d->c[3].data, "1234", 4);
    assert_int_equal(d->c[4].op, KV_OP_QR_PRINT);
    assert_int_equal(d->st[4].qr_len, 4);
    assert_memory_equal(d->st[4].qr_data, "1234", 4);
    free(d);
}

static void test_decoder__qr_model1_ec_h_module16(void **state)
{
    (void)state;
    /* fn 165 model 1 (31 41 31 00), fn 167 module 16, fn 169 EC H (33) */
    decoded *d = DEC(0x1D, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x31, 0x00,
                     0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 0x10,
                     0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x45, 0x33);
    assert_int_equal(d->st[2].qr_model, 1);
    assert_int_equal(d->st[2].qr_module, 16);
    assert_int_equal(d->st[2].qr_ec, 3);
    free(d);
}

static void test_decoder__pdf417_is_2d_symbol_not_qr(void **state)
{
    (void)state;
    /* PDF417 (cn 48): GS ( k 03 00 30 41 00 (fn 65 columns) keeps sync */
    decoded *d = DEC(0x1D, 0x28, 0x6B, 0x03, 0x00, 0x30, 0x41, 0x00, 'A', 0x0A);
    assert_int_equal(d->n, 3);
    assert_int_equal(d->c[0].op, KV_OP_SYMBOL_2D);
    assert_int_equal(d->c[0].p[0], 48);
    assert_int_equal(d->c[0].p[1], 65);
    assert_int_equal(d->c[1].op, KV_OP_TEXT);
    free(d);
}

static void test_decoder__cuts_all_forms(void **state)
{
    (void)state;
    /* GS V 0, GS V 1, GS V 48, GS V 49 (function A, 3 bytes);
     * GS V 65 3, GS V 66 0 (function B, 4 bytes); GS V 97 n, 98 n, 103 n, 104 n;
     * ESC i, ESC m (legacy) */
    decoded *d = DEC(0x1D, 0x56, 0x00, 0x1D, 0x56, 0x01, 0x1D, 0x56, 0x30, 0x1D, 0x56, 0x31,
                     0x1D, 0x56, 0x41, 0x03, 0x1D, 0x56, 0x42, 0x00,
                     0x1D, 0x56, 0x61, 0x05, 0x1D, 0x56, 0x62, 0x05,
                     0x1D, 0x56, 0x67, 0x01, 0x1D, 0x56, 0x68, 0x01,
                     0x1B, 0x69, 0x1B, 0x6D);
    assert_int_equal(d->n, 12);
    int partial[] = { 0, 1, 0, 1, 0, 1, 0, 1, 0, 1 };
    int len[] = { 3, 3, 3, 3, 4, 4, 4, 4, 4, 4 };
    for (int i = 0; i < 10; i++) {
        assert_int_equal(d->c[i].op, KV_OP_CUT);
        assert_int_equal(d->c[i].p[1], partial[i]);
        assert_int_equal(d->c[i].length, len[i]);
    }
    assert_int_equal(d->c[4].p[2], 3);
    assert_int_equal(d->c[0].p[2], -1);
    assert_int_equal(d->c[10].op, KV_OP_CUT_LEGACY);
    assert_int_equal(d->c[11].p[0], 1);
    free(d);
}

static void test_decoder__drawer_and_status(void **state)
{
    (void)state;
    /* ESC p 0x30 0x3C 0x78 (escpos-php default: pin 2, 120/240 ms);
     * DLE EOT 1, DLE EOT 4, GS r 1, GS r '1', DLE ENQ 2, DLE DC4 1 0 1, GS a 0x0F */
    decoded *d = DEC(0x1B, 0x70, 0x30, 0x3C, 0x78, 0x10, 0x04, 0x01, 0x10, 0x04, 0x04,
                     0x1D, 0x72, 0x01, 0x1D, 0x72, 0x31, 0x10, 0x05, 0x02,
                     0x10, 0x14, 0x01, 0x00, 0x01, 0x1D, 0x61, 0x0F);
    assert_int_equal(d->n, 8);
    assert_int_equal(d->c[0].op, KV_OP_PULSE);
    assert_int_equal(d->c[0].p[0], 0);
    assert_int_equal(d->c[0].p[1], 120);
    assert_int_equal(d->c[0].p[2], 240);
    assert_int_equal(d->c[1].op, KV_OP_STATUS_RT);
    assert_int_equal(d->c[1].p[0], 1);
    assert_int_equal(d->c[2].p[0], 4);
    assert_int_equal(d->c[3].op, KV_OP_STATUS);
    assert_int_equal(d->c[3].p[0], 1);
    assert_int_equal(d->c[4].p[0], 1);
    assert_int_equal(d->c[5].op, KV_OP_RECOVER_RT);
    assert_int_equal(d->c[6].op, KV_OP_PULSE_RT);
    assert_int_equal(d->c[6].length, 5);
    assert_int_equal(d->c[7].op, KV_OP_ASB);
    free(d);
}

static void test_decoder__raster_scaling_modes(void **state)
{
    (void)state;
    /* GS v 0 m xL xH yL yH: 2 bytes wide x 2 rows, data k = 4, for m = 0..3
     * and the ASCII forms '0'..'3' */
    for (int m = 0; m < 8; m++) {
        int mm = m < 4 ? m : '0' + (m - 4);
        uint8_t s[] = { 0x1D, 0x76, 0x30, (uint8_t)mm, 0x02, 0x00, 0x02, 0x00, 0xFF, 0x00, 0x0F, 0xF0, 'z' };
        decoded *d = decode(s, sizeof s);
        assert_int_equal(d->n, 2);
        assert_int_equal(d->c[0].op, KV_OP_RASTER);
        assert_int_equal(d->c[0].length, 12);
        assert_int_equal(d->c[0].p[0], m & 3);
        assert_int_equal(d->c[0].width, 16);
        assert_int_equal(d->c[0].height, 2);
        assert_int_equal(d->c[0].datalen, 4);
        free(d);
    }
}

static void test_decoder__column_image(void **state)
{
    (void)state;
    /* ESC * 33 nL=2 nH=0: 24-dot double density, 3 bytes per column -> 6 data */
    decoded *d = DEC(0x1B, 0x2A, 0x21, 0x02, 0x00, 1, 2, 3, 4, 5, 6, 'q');
    assert_int_equal(d->c[0].op, KV_OP_COLUMN_IMAGE);
    assert_int_equal(d->c[0].length, 11);
    assert_int_equal(d->c[0].height, 24);
    free(d);
    /* ESC * 0 nL=3: 8-dot single density, 1 byte per column */
    d = DEC(0x1B, 0x2A, 0x00, 0x03, 0x00, 1, 2, 3, 'q');
    assert_int_equal(d->c[0].length, 8);
    assert_int_equal(d->c[1].op, KV_OP_TEXT);
    free(d);
}

static void test_decoder__graphics_gs_paren_L_and_gs_8_L(void **state)
{
    (void)state;
    /* GS ( L pL pH 30 70 30 bx=1 by=1 c=31 xL=8 xH=0 yL=2 yH=0 d1 d2;
     * pL = 10 + 2 data = 12; then print GS ( L 02 00 30 32 */
    decoded *d = DEC(0x1D, 0x28, 0x4C, 0x0C, 0x00, 0x30, 0x70, 0x30, 0x01, 0x01, 0x31,
                     0x08, 0x00, 0x02, 0x00, 0xAA, 0x55,
                     0x1D, 0x28, 0x4C, 0x02, 0x00, 0x30, 0x32);
    assert_int_equal(d->n, 2);
    assert_int_equal(d->c[0].op, KV_OP_GRAPHICS_STORE);
    assert_int_equal(d->c[0].width, 8);
    assert_int_equal(d->c[0].height, 2);
    assert_int_equal(d->c[0].datalen, 2);
    assert_null(d->c[0].note);
    assert_int_equal(d->c[1].op, KV_OP_GRAPHICS_PRINT);
    free(d);
    /* GS 8 L p1..p4 (4-byte length = 12) same body */
    d = DEC(0x1D, 0x38, 0x4C, 0x0C, 0x00, 0x00, 0x00, 0x30, 0x70, 0x30, 0x02, 0x02, 0x31,
            0x08, 0x00, 0x02, 0x00, 0xAA, 0x55, 'k');
    assert_int_equal(d->c[0].op, KV_OP_GRAPHICS_STORE);
    assert_int_equal(d->c[0].length, 19);
    assert_int_equal(d->c[0].p[0], 2);
    assert_int_equal(d->c[1].op, KV_OP_TEXT);
    free(d);
}

static void test_decoder__barcodes_function_a_and_b(void **state)
{
    (void)state;
    /* function A: GS k 2 (EAN13) "400638133393" NUL;
     * function B: GS k 73 n=5 "{BABC" (CODE128); GS h 80, GS w 2, GS H 2, GS f 1 */
    decoded *d = DEC(0x1D, 0x68, 80, 0x1D, 0x77, 0x02, 0x1D, 0x48, 0x02, 0x1D, 0x66, 0x01,
                     0x1D, 0x6B, 0x02, '4', '0', '0', '6', '3', '8', '1', '3', '3', '3', '9', '3', 0x00,
                     0x1D, 0x6B, 0x49, 0x05, '{', 'B', 'A', 'B', 'C');
    assert_int_equal(d->n, 6);
    assert_int_equal(d->st[3].bc_height, 80);
    assert_int_equal(d->st[3].bc_width, 2);
    assert_int_equal(d->st[3].bc_hri, 2);
    assert_int_equal(d->st[3].bc_hri_font, 1);
    assert_int_equal(d->c[4].op, KV_OP_BARCODE);
    assert_int_equal(d->c[4].p[0], 67);  /* EAN13 normalised to 65.. form */
    assert_int_equal(d->c[4].p[1], 0);
    assert_int_equal(d->c[4].datalen, 12);
    assert_int_equal(d->c[4].length, 16);
    assert_int_equal(d->c[5].p[0], 73);
    assert_int_equal(d->c[5].p[1], 1);
    assert_int_equal(d->c[5].datalen, 5);
    free(d);
}

static void test_decoder__misc_settings(void **state)
{
    (void)state;
    /* ESC 2, ESC 3 24, ESC J 10, ESC SP 2, GS L 16 0, GS W 0 2 (512), ESC { 1,
     * ESC G 1, ESC D 4 8 NUL, HT, CR, GS P 203 203 */
    decoded *d = DEC(0x1B, 0x32, 0x1B, 0x33, 24, 0x1B, 0x4A, 10, 0x1B, 0x20, 2,
                     0x1D, 0x4C, 16, 0, 0x1D, 0x57, 0x00, 0x02, 0x1B, 0x7B, 1, 0x1B, 0x47, 1,
                     0x1B, 0x44, 4, 8, 0, 0x09, 0x0D, 0x1D, 0x50, 203, 203);
    assert_int_equal(d->n, 12);
    assert_int_equal(d->c[0].op, KV_OP_LINE_SPACING_DEFAULT);
    assert_int_equal(d->st[1].line_spacing, 24);
    assert_int_equal(d->c[2].op, KV_OP_FEED_UNITS);
    assert_int_equal(d->st[3].char_spacing, 2);
    assert_int_equal(d->st[4].left_margin, 16);
    assert_int_equal(d->st[5].print_width, 512);
    assert_int_equal(d->st[6].upside_down, 1);
    assert_int_equal(d->st[7].dstrike, 1);
    assert_int_equal(d->c[8].op, KV_OP_TABS);
    assert_int_equal(d->c[8].length, 5);
    assert_int_equal(d->c[9].op, KV_OP_HT);
    assert_int_equal(d->c[10].op, KV_OP_CR);
    assert_int_equal(d->c[11].op, KV_OP_MOTION_UNITS);
    free(d);
}

static void test_decoder__unknown_keeps_sync(void **state)
{
    (void)state;
    /* ESC 0xFF and GS 0xFE are not commands: two bytes each, then text;
     * a stray NUL is one unknown byte */
    decoded *d = DEC(0x1B, 0xFF, 'a', 0x1D, 0xFE, 'b', 0x00, 'c');
    assert_int_equal(d->n, 6);
    assert_int_equal(d->c[0].op, KV_OP_UNKNOWN);
    assert_string_equal(d->c[0].name, "unknown");
    assert_int_equal(d->c[0].length, 2);
    assert_int_equal(d->c[1].op, KV_OP_TEXT);
    assert_int_equal(d->c[2].length, 2);
    assert_int_equal(d->c[4].op, KV_OP_UNKNOWN);
    assert_int_equal(d->c[4].length, 1);
    free(d);
    /* an unknown GS ( x still carries its length: GS ( Z 03 00 a b c, then text */
    d = DEC(0x1D, 0x28, 0x5A, 0x03, 0x00, 1, 2, 3, 'x');
    assert_int_equal(d->n, 2);
    assert_int_equal(d->c[0].op, KV_OP_EXTENDED);
    assert_int_equal(d->c[0].length, 8);
    free(d);
}

static void test_decoder__truncated_command(void **state)
{
    (void)state;
    /* GS ( k announcing 0xFFFF bytes with 3 present: the rest is unknown */
    decoded *d = DEC('o', 'k', 0x1D, 0x28, 0x6B, 0xFF, 0xFF, 0x31, 0x50, 0x30);
    assert_int_equal(d->n, 2);
    assert_int_equal(d->c[1].op, KV_OP_UNKNOWN);
    assert_int_equal(d->c[1].length, 8);
    free(d);
    /* a lone ESC at the end */
    d = DEC(0x1B);
    assert_int_equal(d->n, 1);
    assert_int_equal(d->c[0].op, KV_OP_UNKNOWN);
    free(d);
}

static void test_decoder__user_chars_and_star_codepage(void **state)
{
    (void)state;
    /* ESC & y=2 c1='A' c2='B' [x=1 d d][x=2 d d d d]; ESC % 1; ESC GS t 4 */
    decoded *d = DEC(0x1B, 0x26, 0x02, 0x41, 0x42, 0x01, 0xAA, 0xBB, 0x02, 1, 2, 3, 4,
                     0x1B, 0x25, 0x01, 0x1B, 0x1D, 0x74, 0x04, 'A');
    assert_int_equal(d->n, 4);
    assert_int_equal(d->c[0].op, KV_OP_USER_CHARS);
    assert_int_equal(d->c[0].length, 13);
    assert_int_equal(d->c[1].op, KV_OP_USER_CHARSET);
    assert_int_equal(d->c[2].op, KV_OP_STAR_CODEPAGE);
    assert_int_equal(d->st[2].star_codepage, 4);
    free(d);
}

/* ---- round trip through the encoder ------------------------------------- */

static kv_escpos *enc(void)
{
    kv_escpos *e;
    assert_int_equal(kv_escpos_create(&e, NULL), KV_ESCPOS_OK);
    assert_int_equal(kv_escpos_init(e), KV_ESCPOS_OK);
    return e;
}

static decoded *decode_enc(kv_escpos *e)
{
    assert_int_equal(kv_escpos_status_get(e), KV_ESCPOS_OK);
    size_t n;
    const uint8_t *b = kv_escpos_data(e, &n);
    return decode(b, n);
}

static void test_decoder__roundtrip_styles(void **state)
{
    (void)state;
    kv_escpos *e = enc();
    const kv_profile *p = kv_escpos_profile(e);
    kv_escpos_bold(e, true);
    kv_escpos_underline(e, 2);
    kv_escpos_reverse(e, true);
    kv_escpos_font(e, KV_FONT_B);
    kv_escpos_size(e, 3, 5);
    kv_escpos_align(e, KV_ALIGN_RIGHT);
    kv_escpos_line_spacing(e, 40);
    kv_escpos_line(e, "Blåbær");
    decoded *d = decode_enc(e);
    int cp = find(d, KV_OP_CODEPAGE, 0);
    assert_int_equal(d->c[cp].p[0], kv_profile_codepage_number(p, kv_escpos_codepage(e)));
    int t = find(d, KV_OP_TEXT, 0);
    const kv_dec_state *s = &d->st[t];
    assert_int_equal(s->bold, 1);
    assert_int_equal(s->underline, 2);
    assert_int_equal(s->reverse, 1);
    assert_int_equal(s->font, 1);
    assert_int_equal(s->width_mul, 3);
    assert_int_equal(s->height_mul, 5);
    assert_int_equal(s->align, 2);
    assert_int_equal(s->line_spacing, 40);
    assert_int_equal(s->intl, 0);
    /* the text bytes decode back through the code page */
    kv_codepage page;
    assert_int_equal(kv_profile_codepage_from_number(&page, p, s->codepage), 0);
    const char *want = "Blåbær";
    uint32_t wantu[] = { 'B', 'l', 0xE5, 'b', 0xE6, 'r' };
    assert_int_equal(d->c[t].datalen, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(kv_codepage_to_unicode(page, d->c[t].data[i]), wantu[i]);
    (void)want;
    assert_int_equal(d->c[t + 1].op, KV_OP_LF);
    assert_int_equal(d->unprinted, 0);
    free(d);
    /* off again */
    kv_escpos_bold(e, false);
    kv_escpos_underline(e, 0);
    kv_escpos_reverse(e, false);
    kv_escpos_font(e, KV_FONT_A);
    kv_escpos_size(e, 1, 1);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_escpos_line_spacing(e, -1);
    kv_escpos_text(e, "x");
    d = decode_enc(e);
    s = &d->st[d->n - 1];
    assert_int_equal(s->bold, 0);
    assert_int_equal(s->underline, 0);
    assert_int_equal(s->reverse, 0);
    assert_int_equal(s->font, 0);
    assert_int_equal(s->width_mul, 1);
    assert_int_equal(s->height_mul, 1);
    assert_int_equal(s->align, 1);
    assert_int_equal(s->line_spacing, -1);
    assert_int_equal(d->unprinted, 1);
    free(d);
    kv_escpos_destroy(e);
}

static void test_decoder__roundtrip_style_struct(void **state)
{
    (void)state;
    kv_escpos *e = enc();
    kv_style st = KV_STYLE_INIT;
    st.font = KV_FONT_B;
    st.bold = true;
    st.underline = 1;
    st.width = 2;
    st.height = 2;
    kv_escpos_style(e, &st);
    kv_escpos_text(e, "S");
    decoded *d = decode_enc(e);
    const kv_dec_state *s = &d->st[d->n - 1];
    assert_int_equal(s->font, 1);
    assert_int_equal(s->bold, 1);
    assert_int_equal(s->underline, 1);
    assert_int_equal(s->width_mul, 2);
    assert_int_equal(s->height_mul, 2);
    free(d);
    kv_escpos_destroy(e);
}

static void test_decoder__roundtrip_paper(void **state)
{
    (void)state;
    kv_escpos *e = enc();
    kv_escpos_feed_lines(e, 7);
    kv_escpos_feed_dots(e, 33);
    kv_escpos_cut(e, KV_CUT_PARTIAL);
    kv_escpos_cut(e, KV_CUT_FULL);
    kv_escpos_drawer(e, 1, 100, 500);
    decoded *d = decode_enc(e);
    assert_int_equal(d->c[find(d, KV_OP_FEED_LINES, 0)].p[0], 7);
    assert_int_equal(d->c[find(d, KV_OP_FEED_UNITS, 0)].p[0], 33);
    const kv_profile *p = kv_escpos_profile(e);
    if (p->cutter) {
        assert_int_equal(d->c[find(d, KV_OP_CUT, 0)].p[1], 1);
        assert_int_equal(d->c[find(d, KV_OP_CUT, 1)].p[1], 0);
    }
    if (p->drawer) {
        int i = find(d, KV_OP_PULSE, 0);
        assert_int_equal(d->c[i].p[0], 1);
        assert_int_equal(d->c[i].p[1], 100);
        assert_int_equal(d->c[i].p[2], 500);
    }
    free(d);
    kv_escpos_destroy(e);
}

static void test_decoder__roundtrip_barcodes(void **state)
{
    (void)state;
    kv_escpos *e = enc();
    kv_barcode_options bo = KV_BARCODE_OPTIONS_INIT;
    bo.height = 70;
    bo.module = 3;
    bo.hri = KV_HRI_BOTH;
    assert_int_equal(kv_escpos_barcode(e, KV_BARCODE_CODE128, "Order 12345678", &bo), KV_ESCPOS_OK);
    assert_int_equal(kv_escpos_barcode(e, KV_BARCODE_EAN13, "400638133393", &bo), KV_ESCPOS_OK);
    assert_int_equal(kv_escpos_barcode(e, KV_BARCODE_CODE39, "KV-1", &bo), KV_ESCPOS_OK);
    decoded *d = decode_enc(e);
    int i = find(d, KV_OP_BARCODE, 0);
    assert_int_equal(d->c[i].p[0], 73);
    assert_int_equal(d->st[i].bc_height, 70);
    assert_int_equal(d->st[i].bc_width, 3);
    assert_int_equal(d->st[i].bc_hri, 3);
    i = find(d, KV_OP_BARCODE, 1);
    assert_int_equal(d->c[i].p[0], 67);
    assert_true(d->c[i].datalen == 12 || d->c[i].datalen == 13);
    assert_memory_equal(d->c[i].data, "400638133393", 12);
    i = find(d, KV_OP_BARCODE, 2);
    assert_int_equal(d->c[i].p[0], 69);
    assert_memory_equal(d->c[i].data, "KV-1", 4);
    free(d);
    kv_escpos_destroy(e);
}

static void test_decoder__roundtrip_raster(void **state)
{
    (void)state;
    kv_escpos *e = enc();
    uint8_t bits[3 * 300];
    for (size_t i = 0; i < sizeof bits; i++)
        bits[i] = (uint8_t)(i * 7);
    for (int sc = 0; sc < 4; sc++)
        assert_int_equal(kv_escpos_raster(e, bits, 3, 300, (kv_raster_scale)sc), KV_ESCPOS_OK);
    decoded *d = decode_enc(e);
    /* 300 rows go in bands of at most KV_RASTER_BAND_ROWS; the data comes
     * back byte for byte */
    int rows[4] = { 0 };
    size_t off[4] = { 0 };
    for (int i = 0; i < d->n; i++) {
        if (d->c[i].op != KV_OP_RASTER)
            continue;
        int m = d->c[i].p[0];
        assert_int_equal(d->c[i].width, 24);
        assert_true(d->c[i].height <= (int)KV_RASTER_BAND_ROWS);
        assert_memory_equal(d->c[i].data, bits + off[m], d->c[i].datalen);
        off[m] += d->c[i].datalen;
        rows[m] += d->c[i].height;
    }
    for (int m = 0; m < 4; m++)
        assert_int_equal(rows[m], 300);
    free(d);
    kv_escpos_destroy(e);
}

static void test_decoder__roundtrip_qr_native(void **state)
{
    (void)state;
    kv_escpos_options eo = KV_ESCPOS_OPTIONS_INIT;
    kv_escpos *e;
    const kv_profile *p = NULL;
    for (size_t i = 0; (p = kv_profile_at(i)); i++)
        if (p->native_qr)
            break;
    assert_non_null(p);
    eo.profile = p;
    assert_int_equal(kv_escpos_create(&e, &eo), KV_ESCPOS_OK);
    kv_escpos_init(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_qr_options qo = KV_QR_OPTIONS_INIT;
    qo.mode = KV_QR_NATIVE;
    qo.module = 5;
    qo.ec = KV_QR_EC_Q;
    const char *url = "https://qr.vipps.no/28/2/01/031/4712345678?v=1";
    assert_int_equal(kv_escpos_qr(e, url, strlen(url), &qo), KV_ESCPOS_OK);
    decoded *d = decode_enc(e);
    int i = find(d, KV_OP_QR_PRINT, 0);
    assert_int_equal(d->st[i].qr_model, 2);
    assert_int_equal(d->st[i].qr_module, 5);
    assert_int_equal(d->st[i].qr_ec, 2);
    assert_int_equal(d->st[i].align, 1);
    assert_int_equal(d->st[i].qr_len, strlen(url));
    assert_memory_equal(d->st[i].qr_data, url, strlen(url));
    free(d);
    kv_escpos_destroy(e);
}

static void test_decoder__roundtrip_qr_raster(void **state)
{
    (void)state;
    kv_escpos *e = enc();
    kv_qr_options qo = KV_QR_OPTIONS_INIT;
    qo.mode = KV_QR_RASTER;
    assert_int_equal(kv_escpos_qr(e, "ABC", 3, &qo), KV_ESCPOS_OK);
    decoded *d = decode_enc(e);
    int i = find(d, KV_OP_RASTER, 0);
    assert_true(d->c[i].width > 0);
    assert_int_equal(d->c[i].datalen, (size_t)d->c[i].width / 8 * d->c[i].height);
    free(d);
    kv_escpos_destroy(e);
}

/* ---- dump --------------------------------------------------------------- */

struct mem { char *p; size_t n, cap; };

static int mem_write(void *ctx, const void *d, size_t n)
{
    struct mem *m = ctx;
    if (m->n + n + 1 > m->cap) {
        m->cap = (m->n + n + 1) * 2;
        m->p = realloc(m->p, m->cap);
        if (!m->p)
            return -1;
    }
    memcpy(m->p + m->n, d, n);
    m->n += n;
    m->p[m->n] = 0;
    return 0;
}

/* Check a JSON dump: an array of objects whose lengths add up to len. */
static void check_json(const char *what, const char *json, size_t len)
{
    cJSON *a = cJSON_Parse(json);
    if (!a)
        fail_msg("dump --json %s: not JSON", what);
    assert_true(cJSON_IsArray(a));
    size_t sum = 0;
    cJSON *o;
    cJSON_ArrayForEach(o, a) {
        cJSON *off = cJSON_GetObjectItem(o, "offset"), *l = cJSON_GetObjectItem(o, "length"),
              *nm = cJSON_GetObjectItem(o, "name");
        assert_non_null(off);
        assert_non_null(l);
        assert_true(cJSON_IsString(nm));
        assert_int_equal((size_t)off->valuedouble, sum);
        assert_true(l->valuedouble >= 1);
        sum += (size_t)l->valuedouble;
    }
    if (sum != len)
        fail_msg("%s: dump lengths add up to %zu, file has %zu bytes", what, sum, len);
    cJSON_Delete(a);
}

/* Dump path in-process (the library behind `kvitt dump`), as JSON and as
 * text, and check that the lengths add up.  With cli set, also run
 * `kvitt dump --json` as a process and check its output the same way. */
static void check_dump_json(const char *path, int cli)
{
    unsigned char *bytes;
    size_t len;
    assert_int_equal(kvt_read_file(path, &bytes, &len), 0);
    kv_dump_opts o = KV_DUMP_OPTS_INIT;
    kv_dump_info info;
    struct mem m = { 0 };
    o.json = 1;
    assert_int_equal(kv_dump(bytes, len, &o, mem_write, &m, &info), 0);
    check_json(path, m.p, len);
    assert_int_equal(info.bytes, len);
    m.n = 0;
    o.json = 0;
    assert_int_equal(kv_dump(bytes, len, &o, mem_write, &m, &info), 0);
    assert_int_equal(info.bytes, len);
    /* one line per command (+ the "# unprinted" line) */
    size_t lines = 0;
    for (size_t i = 0; i < m.n; i++)
        lines += m.p[i] == '\n';
    assert_int_equal(lines, info.commands + (info.unprinted ? 1 : 0));
    free(m.p);
    if (cli) {
        kvt_result r;
        const char *argv[] = { "kvitt", "dump", "--json", path, NULL };
        assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
        if (r.status != 0)
            fail_msg("kvitt dump --json %s: exit %d: %s", path, r.status, r.err);
        check_json(path, r.out, len);
        kvt_result_free(&r);
    }
    free(bytes);
}

static int check_dir(const char *dir)
{
    DIR *dd = opendir(dir);
    if (!dd)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dd))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".bin") != 0)
            continue;
        char *p = kvt_path("%s/%s", dir, de->d_name);
        check_dump_json(p, 0);
        free(p);
        n++;
    }
    closedir(dd);
    return n;
}

static void test_decoder__dump_lengths_fixtures(void **state)
{
    (void)state;
    char *dir = kvt_path("%s/fixtures", kvt_srcdir());
    int n = check_dir(dir);
    free(dir);
    /* and a stream with everything odd in it */
    const uint8_t odd[] = { 0x1B, 0x40, 'a', 0x1B, 0xFF, 0x00, 0x1D, 0x28, 0x6B, 0x02, 0x00, 0x31, 0x51,
                            0x1B, 0x74, 0x13, 0xD5, 0x9B, '"', '\\', 0x1D, 0x28, 0x6B, 0xFF };
    char *p = kvt_path("%s/odd.bin", kvt_tmpdir());
    assert_int_equal(kvt_write_file(p, odd, sizeof odd), 0);
    check_dump_json(p, 1);
    free(p);
    if (n == 0)
        printf("note: no fixtures/*.bin yet; checked a hand-made stream only\n");
}

static void test_decoder__dump_lengths_corpus(void **state)
{
    (void)state;
    KVT_REQUIRE_SHARED();
    char *dir = kvt_path("%s/corpus/escpos-php", kvt_shared());
    int n = check_dir(dir);
    assert_true(n >= 10);
    /* and the biggest one through the kvitt program */
    char *demo = kvt_path("%s/demo.bin", dir);
    check_dump_json(demo, 1);
    free(demo);
    free(dir);
}

static void test_decoder__corpus_qr_code_decodes(void **state)
{
    (void)state;
    KVT_REQUIRE_SHARED();
    char *path = kvt_path("%s/corpus/escpos-php/qr-code.bin", kvt_shared());
    unsigned char *b;
    size_t len;
    assert_int_equal(kvt_read_file(path, &b, &len), 0);
    decoded *d = decode(b, len);
    int unknown = 0, prints = 0;
    for (int i = 0; i < d->n; i++) {
        unknown += d->c[i].op == KV_OP_UNKNOWN;
        prints += d->c[i].op == KV_OP_QR_PRINT;
    }
    assert_int_equal(unknown, 0);
    assert_true(prints >= 5);
    /* the first symbol is "Testing 123" at the defaults (escpos-php qrCode) */
    int i = find(d, KV_OP_QR_PRINT, 0);
    assert_int_equal(d->st[i].qr_len, 11);
    assert_memory_equal(d->st[i].qr_data, "Testing 123", 11);
    free(d);
    free(b);
    free(path);
}

static void test_decoder__dump_text_form(void **state)
{
    (void)state;
    /* ESC t 19 (PC858), then D5 (euro in PC858) 9B (ø) LF, then unprinted */
    const uint8_t s[] = { 0x1B, 0x74, 0x13, 0xD5, 0x9B, 0x0A, 'e', 'n', 'd' };
    char *p = kvt_path("%s/t.bin", kvt_tmpdir());
    assert_int_equal(kvt_write_file(p, s, sizeof s), 0);
    kvt_result r;
    const char *argv[] = { "kvitt", "dump", p, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "00000000  1b 74 13"));
    assert_non_null(strstr(r.out, "ESC t"));
    assert_non_null(strstr(r.out, "\"\xE2\x82\xAC\xC3\xB8\""));  /* "€ø" in UTF-8 */
    assert_non_null(strstr(r.out, "# unprinted: 3 bytes"));
    kvt_result_free(&r);
    const char *argv2[] = { "kvitt", "dump", "--json", p, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv2), 0);
    assert_non_null(strstr(r.out, "\"unprinted\":true"));
    kvt_result_free(&r);
    const char *argv3[] = { "kvitt", "dump", "/nonexistent/x.bin", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv3), 0);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decoder__init_and_text),
        cmocka_unit_test(test_decoder__text_without_lf_is_unprinted),
        cmocka_unit_test(test_decoder__esc_at_resets_state),
        cmocka_unit_test(test_decoder__print_mode_esc_bang),
        cmocka_unit_test(test_decoder__ascii_digit_synonyms),
        cmocka_unit_test(test_decoder__qr_worked_example),
        cmocka_unit_test(test_decoder__qr_model1_ec_h_module16),
        cmocka_unit_test(test_decoder__pdf417_is_2d_symbol_not_qr),
        cmocka_unit_test(test_decoder__cuts_all_forms),
        cmocka_unit_test(test_decoder__drawer_and_status),
        cmocka_unit_test(test_decoder__raster_scaling_modes),
        cmocka_unit_test(test_decoder__column_image),
        cmocka_unit_test(test_decoder__graphics_gs_paren_L_and_gs_8_L),
        cmocka_unit_test(test_decoder__barcodes_function_a_and_b),
        cmocka_unit_test(test_decoder__misc_settings),
        cmocka_unit_test(test_decoder__unknown_keeps_sync),
        cmocka_unit_test(test_decoder__truncated_command),
        cmocka_unit_test(test_decoder__user_chars_and_star_codepage),
        cmocka_unit_test(test_decoder__roundtrip_styles),
        cmocka_unit_test(test_decoder__roundtrip_style_struct),
        cmocka_unit_test(test_decoder__roundtrip_paper),
        cmocka_unit_test(test_decoder__roundtrip_barcodes),
        cmocka_unit_test(test_decoder__roundtrip_raster),
        cmocka_unit_test(test_decoder__roundtrip_qr_native),
        cmocka_unit_test(test_decoder__roundtrip_qr_raster),
        cmocka_unit_test(test_decoder__dump_lengths_fixtures),
        cmocka_unit_test(test_decoder__dump_lengths_corpus),
        cmocka_unit_test(test_decoder__corpus_qr_code_decodes),
        cmocka_unit_test(test_decoder__dump_text_form),
    };
    return cmocka_run_group_tests_name("decoder", tests, NULL, NULL);
}
