/* test_escpos_fidelity.c - decoding and drawing streams written by other
 * software (issue 14): print positions, the ESC B buzzer, reverse feed,
 * font C, upside-down and 90-degree rotation, the code pages of the
 * printer databases, QR model 1 / Micro QR, and `kvitt verify-qr`.
 *
 * Byte sequences are written by hand from the command reference
 * (../shared/docs/escpos.md section 1, Epson ESC/POS); the expected
 * pixels follow from the command definitions (cell sizes, positions in
 * dots, 180-degree symmetry).  Code page facts are the standard mappings
 * (PC866 0x80 = U+0410 CYRILLIC CAPITAL A, ...). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "escpos/codepage.h"
#include "escpos/decoder.h"
#include "escpos/profile.h"
#include "escpos/render.h"
#include "tests/lib/kvtest.h"

#define B(...) ((const uint8_t[]){ __VA_ARGS__ })
#define RENDER(info, ...) render(B(__VA_ARGS__), sizeof(B(__VA_ARGS__)), info)

static kv_image *render(const uint8_t *s, size_t n, kv_render_info *info)
{
    kv_render_opts o = KV_RENDER_OPTS_INIT;
    o.profile = kv_profile_find("generic-80");
    kv_renderer *r;
    assert_int_equal(kv_renderer_create(&r, &o), KV_RENDER_OK);
    kv_image *img = NULL;
    kv_render_info inf;
    assert_int_equal(kv_render(r, s, n, &img, info ? info : &inf), KV_RENDER_OK);
    kv_renderer_destroy(r);
    return img;
}

static int black(const kv_image *i, int x, int y)
{
    return x >= 0 && y >= 0 && x < i->width && y < i->height &&
           i->pixels[(size_t)y * i->width + x] < 128;
}

/* Ink in the rectangle [x0, x1) x [y0, y1). */
static long ink_in(const kv_image *i, int x0, int y0, int x1, int y1)
{
    long n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            n += black(i, x, y);
    return n;
}

static void bbox(const kv_image *i, int *x0, int *y0, int *x1, int *y1)
{
    *x0 = *y0 = 1 << 30;
    *x1 = *y1 = -1;
    for (int y = 0; y < i->height; y++)
        for (int x = 0; x < i->width; x++)
            if (black(i, x, y)) {
                if (x < *x0) *x0 = x;
                if (y < *y0) *y0 = y;
                if (x > *x1) *x1 = x;
                if (y > *y1) *y1 = y;
            }
}

/* ---- print positions ---------------------------------------------------- */

static void test_fidelity__abs_and_rel_position(void **state)
{
    (void)state;
    /* "Cappuccino, stor" (16 cells of 12 dots = 192 dots), ESC $ 400
     * (1B 24 90 01: nL + nH * 256 = 400 motion units = dots at the
     * default GS P), "52,00", LF: the price starts at dot 400 */
    kv_image *i = RENDER(NULL, 'C', 'a', 'p', 'p', 'u', 'c', 'c', 'i', 'n', 'o', ',', ' ', 's', 't',
                         'o', 'r', 0x1B, 0x24, 0x90, 0x01, '5', '2', ',', '0', '0', 0x0A);
    assert_true(ink_in(i, 0, 0, 192, 24) > 100);
    assert_int_equal(ink_in(i, 194, 0, 400, 24), 0);
    assert_true(ink_in(i, 400, 0, 412, 24) > 10);  /* the '5' */
    assert_true(ink_in(i, 400, 0, 460, 24) > 50);
    kv_image_free(i);
    /* ESC \ 100 (1B 5C 64 00) after "A": "B" starts at 12 + 100 = 112;
     * a negative ESC \ (-12 = 0xFFF4) moves back over the last cell */
    i = RENDER(NULL, 'A', 0x1B, 0x5C, 0x64, 0x00, 'B', 0x0A);
    assert_true(ink_in(i, 0, 0, 12, 24) > 10);
    assert_int_equal(ink_in(i, 13, 0, 112, 24), 0);
    assert_true(ink_in(i, 112, 0, 124, 24) > 10);
    kv_image_free(i);
    kv_image *a = RENDER(NULL, 'I', 0x1B, 0x5C, 0xF4, 0xFF, '-', 0x0A);
    int x0, y0, x1, y1;
    bbox(a, &x0, &y0, &x1, &y1);
    assert_true(x1 < 12);  /* '-' drawn over the 'I' cell */
    kv_image_free(a);
    /* GS P 101 0: one horizontal motion unit is 1/101 inch, about 2 dots
     * at 203 dpi: ESC $ 200 starts at dot 200 * 203 / 101 = 402 */
    i = RENDER(NULL, 0x1D, 0x50, 101, 0, 0x1B, 0x24, 200, 0, 'B', 0x0A);
    assert_int_equal(ink_in(i, 0, 0, 400, 24), 0);
    assert_true(ink_in(i, 402, 0, 414, 24) > 10);
    kv_image_free(i);
    /* a position beyond the print area is ignored (576 dots) */
    i = RENDER(NULL, 'A', 0x1B, 0x24, 0x00, 0x04, 'B', 0x0A);
    assert_true(ink_in(i, 12, 0, 24, 24) > 10);
    kv_image_free(i);
}

/* ---- ESC B n t: buzzer ----------------------------------------------------- */

static int count_ops(const uint8_t *s, size_t n, kv_dec_op op, kv_dec_cmd *last)
{
    kv_dec *d;
    assert_int_equal(kv_dec_create(&d, s, n), KV_DEC_OK);
    kv_dec_cmd c;
    int k = 0;
    while (kv_dec_next(d, &c) == KV_DEC_OK)
        if (c.op == op) {
            k++;
            if (last)
                *last = c;
        }
    kv_dec_destroy(d);
    return k;
}

static void test_fidelity__esc_b_buzzer(void **state)
{
    (void)state;
    /* ESC B n t (Xprinter/HPRT, python-escpos buzzer): 3 beeps, 2 x 50 ms;
     * its two argument bytes are never text */
    const uint8_t s[] = { 0x1B, 0x42, 0x03, 0x02, 'O', 'K', 0x0A };
    kv_dec_cmd c;
    assert_int_equal(count_ops(s, sizeof s, KV_OP_BUZZER, &c), 1);
    assert_int_equal(c.offset, 0);
    assert_int_equal(c.length, 4);
    assert_int_equal(c.p[0], 3);
    assert_int_equal(c.p[1], 2);
    assert_int_equal(count_ops(s, sizeof s, KV_OP_UNKNOWN, NULL), 0);
    assert_int_equal(count_ops(s, sizeof s, KV_OP_TEXT, &c), 1);
    assert_int_equal(c.datalen, 2);
    kv_render_info info;
    kv_image *i = render(s, sizeof s, &info);
    assert_int_equal(info.unknown, 0);
    kv_image_free(i);
}

/* ---- ESC e: reverse feed ------------------------------------------------------ */

static void test_fidelity__reverse_feed(void **state)
{
    (void)state;
    /* "X" LF (one line: 34 dots at 203 dpi), ESC e 1 (back one line),
     * "   Y" LF: Y is printed on the first line, paper length one line */
    kv_image *i = RENDER(NULL, 'X', 0x0A, 0x1B, 0x65, 0x01, ' ', ' ', ' ', 'Y', 0x0A);
    assert_int_equal(i->height, 34);
    assert_true(ink_in(i, 36, 0, 48, 24) > 10);
    kv_image_free(i);
    /* ESC K n: back n motion units (dots) */
    i = RENDER(NULL, 'X', 0x0A, 0x1B, 0x4B, 0x22, ' ', 'Y', 0x0A);
    assert_int_equal(i->height, 34);
    assert_true(ink_in(i, 12, 0, 24, 24) > 10);
    kv_image_free(i);
}

/* ---- font C ---------------------------------------------------------------------- */

static void test_fidelity__font_c(void **state)
{
    (void)state;
    /* ESC M 2 selects font C: a cell smaller than font B's 9 dots */
    kv_image *c = RENDER(NULL, 0x1B, 0x4D, 0x02, 'H', 'H', 'H', 'H', 'H', 'H', 'H', 'H', 0x0A);
    kv_image *b = RENDER(NULL, 0x1B, 0x4D, 0x01, 'H', 'H', 'H', 'H', 'H', 'H', 'H', 'H', 0x0A);
    kv_image *a = RENDER(NULL, 'H', 'H', 'H', 'H', 'H', 'H', 'H', 'H', 0x0A);
    int cx0, cy0, cx1, cy1, bx0, by0, bx1, by1, ax0, ay0, ax1, ay1;
    bbox(c, &cx0, &cy0, &cx1, &cy1);
    bbox(b, &bx0, &by0, &bx1, &by1);
    bbox(a, &ax0, &ay0, &ax1, &ay1);
    assert_true(cx1 >= 0);
    assert_true(cx1 < bx1);
    assert_true(bx1 < ax1);
    assert_true(cy1 - cy0 <= ay1 - ay0);
    /* ESC ! bit 0 keeps selecting font B, never C */
    kv_image_free(a);
    kv_image_free(b);
    kv_image_free(c);
}

/* ---- upside-down and rotation -------------------------------------------------- */

static void test_fidelity__upside_down(void **state)
{
    (void)state;
    /* ESC { 1: the line is printed rotated by 180 degrees; left-aligned
     * "Lp1" ends at the right edge upside down.  Same pixels as the normal
     * line turned around within the 24-dot character band. */
    kv_image *n = RENDER(NULL, 'L', 'p', '1', 0x0A);
    kv_image *u = RENDER(NULL, 0x1B, 0x7B, 0x01, 'L', 'p', '1', 0x0A);
    assert_int_equal(n->height, u->height);
    assert_int_equal(n->width, u->width);
    long diff = 0, inkn = 0;
    for (int y = 0; y < 24; y++)
        for (int x = 0; x < n->width; x++) {
            inkn += black(n, x, y);
            diff += black(n, x, y) != black(u, n->width - 1 - x, 23 - y);
        }
    assert_true(inkn > 30);
    assert_int_equal(diff, 0);
    /* ESC { 0 turns it off again */
    kv_image *o = RENDER(NULL, 0x1B, 0x7B, 0x01, 0x1B, 0x7B, 0x00, 'L', 'p', '1', 0x0A);
    assert_memory_equal(o->pixels, n->pixels, (size_t)n->width * n->height);
    kv_image_free(o);
    kv_image_free(n);
    kv_image_free(u);
}

static void test_fidelity__rotate_90(void **state)
{
    (void)state;
    /* ESC V 1: each character turned 90 degrees clockwise: the tall "I"
     * becomes a wide bar; the cell becomes 24 dots wide */
    kv_image *n = RENDER(NULL, 'I', 'I', 0x0A);
    kv_image *r = RENDER(NULL, 0x1B, 0x56, 0x01, 'I', 'I', 0x0A);
    int x0, y0, x1, y1;
    bbox(n, &x0, &y0, &x1, &y1);
    assert_true(y1 - y0 > x1 - x0);
    bbox(r, &x0, &y0, &x1, &y1);
    assert_true(x1 - x0 > 24);     /* two cells of 24 dots */
    assert_true(y1 - y0 < 12);
    kv_image_free(n);
    kv_image_free(r);
}

/* ---- code pages -------------------------------------------------------------------- */

static void test_fidelity__codepage_tables(void **state)
{
    (void)state;
    /* Epson ESC t numbers: 17 PC866, 18 PC852, 11 PC851, 45 WPC1250 */
    assert_string_equal(kv_cptable_name(kv_cptable_epson(17)), "PC866");
    assert_string_equal(kv_cptable_name(kv_cptable_epson(18)), "PC852");
    assert_string_equal(kv_cptable_name(kv_cptable_epson(11)), "PC851");
    assert_string_equal(kv_cptable_name(kv_cptable_epson(46)), "WPC1251");
    assert_null(kv_cptable_epson(254));
    assert_int_equal(kv_cptable_to_unicode(kv_cptable_epson(17), 0x80), 0x0410);
    assert_int_equal(kv_cptable_to_unicode(kv_cptable_epson(18), 0xA5), 0x0105);  /* ą */
    assert_int_equal(kv_cptable_to_unicode(kv_cptable_epson(45), 0xB9), 0x0105);
    assert_int_equal(kv_cptable_to_unicode(kv_cptable_epson(16), 0x80), 0x20AC);
    assert_int_equal(kv_cptable_to_unicode(kv_cptable_epson(1), 0xB1), 0xFF71);   /* ｱ */
    assert_ptr_equal(kv_cptable_find("cp866"), kv_cptable_epson(17));
    assert_ptr_equal(kv_cptable_find("windows-1250"), kv_cptable_epson(45));
    assert_ptr_equal(kv_cptable_find("RK1048"), kv_cptable_epson(53));
    /* the five printing pages agree with their decode tables */
    for (int cp = 0; cp < KV_CP_COUNT; cp++)
        for (int b = 0x80; b < 0x100; b++)
            assert_int_equal(kv_cptable_to_unicode(kv_cptable_of((kv_codepage)cp), (uint8_t)b),
                             kv_codepage_to_unicode((kv_codepage)cp, (uint8_t)b));
    /* Citizen's profile: ESC t 2 is PC858, not Epson's PC850 */
    assert_string_equal(kv_cptable_name(kv_cptable_select(kv_profile_find("citizen-ct-s310"), 2, -1)),
                        "PC858");
    assert_string_equal(kv_cptable_name(kv_cptable_select(NULL, 17, -1)), "PC866");
    /* Star ESC GS t 10 = PC866 */
    assert_string_equal(kv_cptable_name(kv_cptable_select(NULL, 0, 10)), "PC866");
}

static void test_fidelity__codepages_render(void **state)
{
    (void)state;
    /* the same letter through different pages draws the same pixels:
     * А = PC866 (ESC t 17) 0x80 = WPC1251 (ESC t 46) 0xC0; ą = PC852
     * (ESC t 18) 0xA5 = WPC1250 (ESC t 45) 0xB9; and unlike PC437 */
    kv_image *a = RENDER(NULL, 0x1B, 0x74, 17, 0x80, 0x0A);
    kv_image *b = RENDER(NULL, 0x1B, 0x74, 46, 0xC0, 0x0A);
    kv_image *c = RENDER(NULL, 0x1B, 0x74, 0, 0x80, 0x0A);
    size_t sz = (size_t)a->width * a->height;
    assert_memory_equal(a->pixels, b->pixels, sz);
    assert_memory_not_equal(a->pixels, c->pixels, sz);
    kv_image_free(a);
    kv_image_free(b);
    kv_image_free(c);
    a = RENDER(NULL, 0x1B, 0x74, 18, 0xA5, 0x0A);
    b = RENDER(NULL, 0x1B, 0x74, 45, 0xB9, 0x0A);
    c = RENDER(NULL, 0x1B, 0x74, 0, 0xA5, 0x0A);
    assert_memory_equal(a->pixels, b->pixels, sz);
    assert_memory_not_equal(a->pixels, c->pixels, sz);
    kv_image_free(a);
    kv_image_free(b);
    kv_image_free(c);
}

/* Every page number of the Epson profiles in escpos-printer-db names the
 * same page here (where kvitt has a table of that name). */
static void test_fidelity__codepages_match_printer_db(void **state)
{
    (void)state;
    KVT_REQUIRE_SHARED();
    char *path = kvt_path("%s/escpos/escpos-printer-db/dist/capabilities.json", kvt_shared());
    unsigned char *buf;
    size_t len;
    assert_int_equal(kvt_read_file(path, &buf, &len), 0);
    free(path);
    cJSON *root = cJSON_Parse((const char *)buf);
    assert_non_null(root);
    const char *epson[] = { "TM-T88V", "TM-T20II", "default" };
    int checked = 0;
    for (size_t k = 0; k < 3; k++) {
        cJSON *cps = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "profiles"),
                                                             epson[k]), "codePages");
        assert_non_null(cps);
        cJSON *e;
        cJSON_ArrayForEach(e, cps) {
            const kv_cptable *want = kv_cptable_find(e->valuestring);
            if (!want)
                continue;
            assert_ptr_equal(kv_cptable_epson(atoi(e->string)), want);
            checked++;
        }
    }
    assert_true(checked > 60);
    cJSON_Delete(root);
    free(buf);
}

static void test_fidelity__dump_shows_codepage_text(void **state)
{
    (void)state;
    char *f = kvt_path("%s/cp866.bin", kvt_tmpdir());
    const uint8_t s[] = { 0x1B, 0x74, 17, 0x8F, 0xE0, 0xA8, 0xA2, 0xA5, 0xE2, 0x0A };  /* Привет */
    assert_int_equal(kvt_write_file(f, s, sizeof s), 0);
    kvt_result r;
    const char *argv[] = { "kvitt", "dump", f, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "Привет"));
    kvt_result_free(&r);
    /* Star's ESC GS t 10 is PC866 too */
    const uint8_t star[] = { 0x1B, 0x1D, 0x74, 10, 0x8F, 0xE0, 0xA8, 0xA2, 0xA5, 0xE2, 0x0A };
    assert_int_equal(kvt_write_file(f, star, sizeof star), 0);
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "Привет"));
    kvt_result_free(&r);
    free(f);
}

/* ---- QR model 1 and Micro QR ------------------------------------------------------ */

static void test_fidelity__qr_model1_micro_not_verifiable(void **state)
{
    (void)state;
    for (int model = 0x31; model <= 0x33; model += 2) {  /* 49 model 1, 51 Micro QR */
        kv_render_info info;
        const uint8_t s[] = { 0x1D, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, (uint8_t)model, 0x00,
                              0x1D, 0x28, 0x6B, 0x06, 0x00, 0x31, 0x50, 0x30, 'A', 'B', 'C',
                              0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30 };
        kv_image *i = render(s, sizeof s, &info);
        assert_int_equal(info.qr_printed, 0);
        assert_int_equal(info.qr_unverifiable, 1);
        /* nothing a scanner could read as a model 2 code */
        int n = -1;
        assert_int_equal(kv_image_scan_qr(i, 0, NULL, NULL, &n), KV_RENDER_OK);
        assert_int_equal(n, 0);
        kv_image_free(i);
        char *f = kvt_path("%s/qr-model-%d.bin", kvt_tmpdir(), model);
        assert_int_equal(kvt_write_file(f, s, sizeof s), 0);
        kvt_result r;
        const char *argv[] = { "kvitt", "verify-qr", f, NULL };
        assert_int_equal(kvt_run(&r, NULL, NULL, 60, argv), 0);
        assert_int_not_equal(r.status, 0);
        assert_non_null(strstr(r.err, "not verifiable"));
        assert_non_null(strstr(r.err, model == 0x31 ? "model 1" : "Micro QR"));
        assert_null(strstr(r.err, model == 0x31 ? "Micro QR" : "model 1"));
        assert_int_equal(info.qr_micro, model == 0x33);
        kvt_result_free(&r);
        free(f);
    }
}

/* ---- verify-qr ------------------------------------------------------------------------ */

static size_t qr_native(uint8_t *o, const char *data, int module)
{
    size_t n = 0, dl = strlen(data);
    const uint8_t hdr[] = { 0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, (uint8_t)module };
    memcpy(o + n, hdr, sizeof hdr);
    n += sizeof hdr;
    const uint8_t st[] = { 0x1D, 0x28, 0x6B, (uint8_t)(dl + 3), 0x00, 0x31, 0x50, 0x30 };
    memcpy(o + n, st, sizeof st);
    n += sizeof st;
    memcpy(o + n, data, dl);
    n += dl;
    const uint8_t pr[] = { 0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30, 0x0A };
    memcpy(o + n, pr, sizeof pr);
    return n + sizeof pr;
}

static void test_fidelity__verify_qr_stream_order(void **state)
{
    (void)state;
    /* five codes, alternately left and right aligned (ESC a): the output
     * lists them in the order the stream prints them */
    static const char *const data[] = { "FIRST", "SECOND", "THIRD", "FOURTH", "FIFTH" };
    uint8_t s[1024];
    size_t n = 0;
    for (int k = 0; k < 5; k++) {
        const uint8_t al[] = { 0x1B, 0x61, (uint8_t)(k % 2 ? 2 : 0) };
        memcpy(s + n, al, 3);
        n += 3;
        n += qr_native(s + n, data[k], 4);
    }
    char *f = kvt_path("%s/five.bin", kvt_tmpdir());
    assert_int_equal(kvt_write_file(f, s, n), 0);
    kvt_result r;
    const char *argv[] = { "kvitt", "verify-qr", f, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, argv), 0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "FIRST\nSECOND\nTHIRD\nFOURTH\nFIFTH\n");
    kvt_result_free(&r);
    free(f);
}

static void test_fidelity__verify_qr_expect_count_and_small_modules(void **state)
{
    (void)state;
    /* a raster QR slip: one code; --expect-count 1 passes, 2 fails */
    char *f = kvt_path("%s/raster.bin", kvt_tmpdir());
    const char *slip[] = { "kvitt", "slip", "--url", "https://qr.vipps.no/x/ABC", "--amount", "10",
                           "--qr", "raster", "--module", "2", "-o", f, NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, slip), 0);
    assert_int_equal(r.status, 0);
    kvt_result_free(&r);
    const char *one[] = { "kvitt", "verify-qr", "--expect-count", "1", f, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, one), 0);
    assert_int_equal(r.status, 0);
    /* 2-dot modules: a warning naming the size */
    assert_non_null(strstr(r.err, "smaller than 3 dots"));
    kvt_result_free(&r);
    const char *two[] = { "kvitt", "verify-qr", "--expect-count", "2", f, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, two), 0);
    assert_int_not_equal(r.status, 0);
    assert_non_null(strstr(r.err, "expected 2"));
    kvt_result_free(&r);
    const char *bad[] = { "kvitt", "verify-qr", "--expect-count", "x", f, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, bad), 0);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
    free(f);
    /* native code with 4-dot modules: no warning; 2-dot: warning */
    uint8_t s[256];
    size_t n = qr_native(s, "MODULE", 4);
    f = kvt_path("%s/m4.bin", kvt_tmpdir());
    assert_int_equal(kvt_write_file(f, s, n), 0);
    const char *m4[] = { "kvitt", "verify-qr", f, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, m4), 0);
    assert_int_equal(r.status, 0);
    assert_null(strstr(r.err, "smaller than 3 dots"));
    kvt_result_free(&r);
    free(f);
    n = qr_native(s, "MODULE", 2);
    f = kvt_path("%s/m2.bin", kvt_tmpdir());
    assert_int_equal(kvt_write_file(f, s, n), 0);
    const char *m2[] = { "kvitt", "verify-qr", f, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, m2), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, "smaller than 3 dots"));
    kvt_result_free(&r);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fidelity__abs_and_rel_position),
        cmocka_unit_test(test_fidelity__esc_b_buzzer),
        cmocka_unit_test(test_fidelity__reverse_feed),
        cmocka_unit_test(test_fidelity__font_c),
        cmocka_unit_test(test_fidelity__upside_down),
        cmocka_unit_test(test_fidelity__rotate_90),
        cmocka_unit_test(test_fidelity__codepage_tables),
        cmocka_unit_test(test_fidelity__codepages_render),
        cmocka_unit_test(test_fidelity__codepages_match_printer_db),
        cmocka_unit_test(test_fidelity__dump_shows_codepage_text),
        cmocka_unit_test(test_fidelity__qr_model1_micro_not_verifiable),
        cmocka_unit_test(test_fidelity__verify_qr_stream_order),
        cmocka_unit_test(test_fidelity__verify_qr_expect_count_and_small_modules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
