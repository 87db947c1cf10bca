/* test_render.c - the ESC/POS renderer and `kvitt render`.
 *
 * Streams are written by hand from the command reference (escpos.md
 * section 1); expected pixels follow from the command definitions (raster
 * bits, scaling, alignment, module sizes, cell sizes of the fonts).  The
 * golden PNGs beside fixtures/ (*.bin) are compared pixel for pixel. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <zbar.h>

#include "escpos/encoder.h"
#include "escpos/profile.h"
#include "escpos/render.h"
#include "tests/lib/kvtest.h"

#define B(...) ((const uint8_t[]){ __VA_ARGS__ })

static kv_renderer *mk(const char *profile)
{
    kv_render_opts o = KV_RENDER_OPTS_INIT;
    if (profile) {
        o.profile = kv_profile_find(profile);
        assert_non_null(o.profile);
    }
    kv_renderer *r;
    assert_int_equal(kv_renderer_create(&r, &o), KV_RENDER_OK);
    return r;
}

static kv_image *render(const char *profile, const uint8_t *s, size_t n, kv_render_info *info)
{
    kv_renderer *r = mk(profile);
    kv_image *img = NULL;
    kv_render_info inf;
    assert_int_equal(kv_render(r, s, n, &img, info ? info : &inf), KV_RENDER_OK);
    kv_renderer_destroy(r);
    return img;
}
#define RENDER(profile, ...) render(profile, B(__VA_ARGS__), sizeof(B(__VA_ARGS__)), NULL)

static int px(const kv_image *i, int x, int y) { return i->pixels[(size_t)y * i->width + x]; }
static int black(const kv_image *i, int x, int y) { return px(i, x, y) < 128; }

/* Bounding box of black dots; returns the count. */
static long bbox(const kv_image *i, int *x0, int *y0, int *x1, int *y1)
{
    long n = 0;
    *x0 = *y0 = 1 << 30;
    *x1 = *y1 = -1;
    for (int y = 0; y < i->height; y++)
        for (int x = 0; x < i->width; x++)
            if (black(i, x, y)) {
                n++;
                if (x < *x0) *x0 = x;
                if (y < *y0) *y0 = y;
                if (x > *x1) *x1 = x;
                if (y > *y1) *y1 = y;
            }
    return n;
}

static long ink(const kv_image *i)
{
    int a, b, c, d;
    return bbox(i, &a, &b, &c, &d);
}

/* ---- images ----------------------------------------------------------- */

static void test_render__raster_exact_pixels(void **state)
{
    (void)state;
    /* GS v 0 m=0, 2 bytes x 3 rows: rows F0 0F / 81 00 / 00 01 (MSB = left) */
    kv_image *i = RENDER("generic-80", 0x1D, 0x76, 0x30, 0x00, 0x02, 0x00, 0x03, 0x00,
                         0xF0, 0x0F, 0x81, 0x00, 0x00, 0x01);
    assert_int_equal(i->width, 576);
    assert_int_equal(i->height, 3);
    const char *rows[3] = { "1111000000001111", "1000000100000000", "0000000000000001" };
    for (int y = 0; y < 3; y++) {
        for (int x = 0; x < 16; x++)
            assert_int_equal(black(i, x, y), rows[y][x] == '1');
        for (int x = 16; x < 576; x++)
            assert_int_equal(px(i, x, y), 255);
    }
    kv_image_free(i);
}

static void test_render__raster_scaling_and_alignment(void **state)
{
    (void)state;
    /* m = 1 double width, 2 double height, 3 quadruple: 1 byte 0x80 x 1 row */
    int w[4] = { 1, 2, 1, 2 }, h[4] = { 1, 1, 2, 2 };
    for (int m = 0; m < 4; m++) {
        kv_image *i = RENDER("generic-58", 0x1D, 0x76, 0x30, (uint8_t)m, 0x01, 0x00, 0x01, 0x00, 0x80);
        assert_int_equal(i->width, 384);
        assert_int_equal(i->height, h[m]);
        int x0, y0, x1, y1;
        assert_int_equal(bbox(i, &x0, &y0, &x1, &y1), w[m] * h[m]);
        assert_int_equal(x0, 0);
        assert_int_equal(x1, w[m] - 1);
        kv_image_free(i);
    }
    /* ESC a 1 centres (384 - 8) / 2 = 188; ESC a 2 right-aligns at 376 */
    kv_image *i = RENDER("generic-58", 0x1B, 0x61, 0x01, 0x1D, 0x76, 0x30, 0x00, 0x01, 0x00, 0x01, 0x00, 0x80,
                         0x1B, 0x61, 0x02, 0x1D, 0x76, 0x30, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01);
    assert_int_equal(i->height, 2);
    assert_true(black(i, 188, 0));
    assert_true(black(i, 383, 1));
    assert_int_equal(ink(i), 2);
    kv_image_free(i);
}

static void test_render__graphics_and_column_images(void **state)
{
    (void)state;
    /* GS ( L fn 112, bx = by = 2, 8 x 1 dots, data 0xA0; print fn 50 */
    kv_image *i = RENDER("generic-80", 0x1D, 0x28, 0x4C, 0x0B, 0x00, 0x30, 0x70, 0x30, 0x02, 0x02, 0x31,
                         0x08, 0x00, 0x01, 0x00, 0xA0, 0x1D, 0x28, 0x4C, 0x02, 0x00, 0x30, 0x32);
    assert_int_equal(i->height, 2);
    assert_int_equal(ink(i), 8);  /* two dots, each 2x2 */
    assert_true(black(i, 0, 0) && black(i, 1, 1) && !black(i, 2, 0) && black(i, 4, 1));
    kv_image_free(i);
    /* ESC 3 24, ESC * 33 (24-dot double density) one column FF 00 01, LF:
     * 9 dots at the top of the band and 1 at the bottom, in a 24-dot line */
    i = RENDER("generic-80", 0x1B, 0x33, 24, 0x1B, 0x2A, 0x21, 0x01, 0x00, 0xFF, 0x00, 0x01, 0x0A);
    assert_int_equal(i->height, 24);
    int x0, y0, x1, y1;
    assert_int_equal(bbox(i, &x0, &y0, &x1, &y1), 9);
    assert_int_equal(x0, 0);
    assert_int_equal(x1, 0);
    assert_int_equal(y0, 0);
    assert_int_equal(y1, 23);
    kv_image_free(i);
}

/* ---- text ------------------------------------------------------------- */

static void test_render__text_cells_and_sizes(void **state)
{
    (void)state;
    /* "H" LF in font A: a 12x24 cell, line = 1/6 inch = 34 dots at 203 dpi */
    kv_image *i = RENDER("generic-80", 'H', 0x0A);
    assert_int_equal(i->height, 34);
    int x0, y0, x1, y1;
    long n1 = bbox(i, &x0, &y0, &x1, &y1);
    assert_true(n1 > 20);
    assert_true(x1 < 12);
    assert_true(y1 >= 10 && y1 < 34);
    kv_image_free(i);
    /* 180 dpi: 30-dot lines */
    i = RENDER("epson-tm-t88", 'H', 0x0A);
    assert_int_equal(i->width, 512);
    assert_int_equal(i->height, 30);
    kv_image_free(i);
    /* GS ! 0x11 (2x2): four times the ink, inside 24 x 48 */
    i = RENDER("generic-80", 0x1D, 0x21, 0x11, 'H', 0x0A);
    assert_int_equal(bbox(i, &x0, &y0, &x1, &y1), 4 * n1);
    assert_true(x1 >= 12 && x1 < 24);
    assert_int_equal(i->height, 48);
    kv_image_free(i);
    /* font B (ESC M 1): a 9-dot cell */
    i = RENDER("generic-80", 0x1B, 0x4D, 0x01, 'H', 'H', 0x0A);
    bbox(i, &x0, &y0, &x1, &y1);
    assert_true(x1 < 18 && x1 >= 9);
    kv_image_free(i);
    /* ESC a 2: right aligned, last dot near the right edge */
    i = RENDER("generic-80", 0x1B, 0x61, 0x02, 'H', 0x0A);
    bbox(i, &x0, &y0, &x1, &y1);
    assert_true(x0 >= 576 - 12 && x1 < 576);
    kv_image_free(i);
}

static void test_render__bold_underline_reverse(void **state)
{
    (void)state;
    kv_image *n = RENDER("generic-80", 'I', 0x0A);
    kv_image *b = RENDER("generic-80", 0x1B, 0x45, 0x01, 'I', 0x0A);
    assert_true(ink(b) > ink(n));
    kv_image_free(b);
    /* ESC - 2: a two-dot line under the 12-dot cell */
    kv_image *u = RENDER("generic-80", 0x1B, 0x2D, 0x02, 'I', 0x0A);
    for (int x = 0; x < 12; x++) {
        assert_true(black(u, x, 22));
        assert_true(black(u, x, 23));
    }
    assert_false(black(u, 12, 23));
    kv_image_free(u);
    /* GS B 1: white on black, so most of the cell is black */
    kv_image *r = RENDER("generic-80", 0x1D, 0x42, 0x01, 'I', 0x0A);
    assert_true(ink(r) > 12 * 24 / 2);
    assert_true(black(r, 0, 0));
    kv_image_free(r);
    kv_image_free(n);
}

static void test_render__codepages_nordic_and_euro(void **state)
{
    (void)state;
    /* ESC t 19 (PC858): 9B = ø, D5 = €; ESC t 0 (PC437): 9B = ¢ */
    kv_image *a = RENDER("generic-80", 0x1B, 0x74, 0x13, 0x9B, 0x0A);
    kv_image *b = RENDER("generic-80", 0x1B, 0x74, 0x00, 0x9B, 0x0A);
    assert_true(ink(a) > 0 && ink(b) > 0);
    assert_memory_not_equal(a->pixels, b->pixels, (size_t)a->width * a->height);
    kv_image_free(b);
    /* € (not in 12x24: comes from a fallback font) is drawn, and is
     * neither "E" nor the box of a missing glyph */
    kv_image *e = RENDER("generic-80", 0x1B, 0x74, 0x13, 0xD5, 0x0A);
    kv_image *E = RENDER("generic-80", 'E', 0x0A);
    assert_true(ink(e) > 10);
    assert_memory_not_equal(e->pixels, E->pixels, (size_t)e->width * e->height);
    int x0, y0, x1, y1;
    bbox(e, &x0, &y0, &x1, &y1);
    assert_true(x1 < 12);
    kv_image_free(e);
    kv_image_free(E);
    /* ESC R 9 (Norway): "[" prints Æ, unlike ESC R 0 */
    kv_image *n = RENDER("generic-80", 0x1B, 0x52, 0x09, '[', 0x0A);
    kv_image *u = RENDER("generic-80", 0x1B, 0x52, 0x00, '[', 0x0A);
    assert_memory_not_equal(n->pixels, u->pixels, (size_t)n->width * n->height);
    kv_image_free(n);
    kv_image_free(u);
    kv_image_free(a);
}

static void test_render__unprinted_and_reset_text_not_drawn(void **state)
{
    (void)state;
    kv_render_info info;
    /* text without LF never prints */
    kv_image *i = render("generic-80", B('a', 'b', 'c'), 3, &info);
    assert_int_equal(ink(i), 0);
    assert_int_equal(info.unprinted, 3);
    kv_image_free(i);
    /* ESC @ clears the line buffer: only "y" prints */
    kv_image *a = RENDER("generic-80", 'x', 'x', 0x1B, 0x40, 'y', 0x0A);
    kv_image *b = RENDER("generic-80", 'y', 0x0A);
    assert_int_equal(a->height, b->height);
    assert_memory_equal(a->pixels, b->pixels, (size_t)a->width * a->height);
    kv_image_free(a);
    kv_image_free(b);
}

static void test_render__feeds_and_cut(void **state)
{
    (void)state;
    /* ESC d 3 = 3 lines of 34 dots; ESC J 50 = 50 dots; ESC 3 10 + LF = 10 */
    kv_image *i = RENDER("generic-80", 0x1B, 0x64, 0x03);
    assert_int_equal(i->height, 102);
    kv_image_free(i);
    i = RENDER("generic-80", 0x1B, 0x4A, 50);
    assert_int_equal(i->height, 50);
    kv_image_free(i);
    i = RENDER("generic-80", 0x1B, 0x33, 10, 0x0A);
    assert_int_equal(i->height, 10);
    kv_image_free(i);
    /* GS V 1 draws a dashed grey line across the paper */
    kv_render_info info;
    i = render("generic-80", B(0x0A, 0x1D, 0x56, 0x01), 4, &info);
    assert_int_equal(info.cuts, 1);
    int grey_rows = 0;
    for (int y = 0; y < i->height; y++) {
        int g = 0;
        for (int x = 0; x < i->width; x++)
            g += px(i, x, y) > 0 && px(i, x, y) < 255;
        if (g > i->width / 2)
            grey_rows++;
    }
    assert_int_equal(grey_rows, 1);
    kv_image_free(i);
}

/* ---- QR and barcodes -------------------------------------------------- */

struct got { char data[512]; int n; };

static int on_qr(void *ctx, const uint8_t *d, size_t n)
{
    struct got *g = ctx;
    if (n < sizeof g->data) {
        memcpy(g->data, d, n);
        g->data[n] = 0;
    }
    g->n++;
    return 0;
}

static void test_render__native_qr_module_size(void **state)
{
    (void)state;
    /* GS ( k: model 2, module 4, EC M, store "KVITT-1", print.  "KVITT-1" at
     * EC M is a version 1 symbol: 21 modules = 84 dots, centred by ESC a 1 */
    kv_render_info info;
    const uint8_t s[] = { 0x1B, 0x61, 0x01,
                          0x1D, 0x28, 0x6B, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00,
                          0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x43, 0x04,
                          0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x45, 0x31,
                          0x1D, 0x28, 0x6B, 0x0A, 0x00, 0x31, 0x50, 0x30, 'K', 'V', 'I', 'T', 'T', '-', '1',
                          0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30 };
    kv_image *i = render("generic-80", s, sizeof s, &info);
    assert_int_equal(info.qr_printed, 1);
    int x0, y0, x1, y1;
    bbox(i, &x0, &y0, &x1, &y1);
    assert_int_equal(x1 - x0 + 1, 84);
    assert_int_equal(y1 - y0 + 1, 84);
    assert_int_equal(x0, (576 - 84) / 2);
    struct got g = { { 0 }, 0 };
    int count = 0;
    assert_int_equal(kv_image_scan_qr(i, 1, on_qr, &g, &count), KV_RENDER_OK);
    assert_int_equal(count, 1);
    assert_string_equal(g.data, "KVITT-1");
    kv_image_free(i);
    /* print without stored data draws nothing */
    i = render("generic-80", B(0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30), 8, &info);
    assert_int_equal(info.qr_printed, 0);
    assert_int_equal(info.qr_failed, 1);
    kv_image_free(i);
}

static int zbar_find(const kv_image *img, zbar_symbol_type_t type, char *out, size_t outsz)
{
    zbar_image_scanner_t *sc = zbar_image_scanner_create();
    zbar_image_t *zi = zbar_image_create();
    zbar_image_scanner_set_config(sc, 0, ZBAR_CFG_ENABLE, 0);
    zbar_image_scanner_set_config(sc, type, ZBAR_CFG_ENABLE, 1);
    zbar_image_set_format(zi, zbar_fourcc('Y', '8', '0', '0'));
    zbar_image_set_size(zi, (unsigned)img->width, (unsigned)img->height);
    zbar_image_set_data(zi, img->pixels, (unsigned long)img->width * img->height, NULL);
    int found = 0;
    if (zbar_scan_image(sc, zi) > 0) {
        for (const zbar_symbol_t *s = zbar_image_first_symbol(zi); s; s = zbar_symbol_next(s)) {
            if (zbar_symbol_get_type(s) == type) {
                snprintf(out, outsz, "%s", zbar_symbol_get_data(s));
                found = 1;
            }
        }
    }
    zbar_image_destroy(zi);
    zbar_image_scanner_destroy(sc);
    return found;
}

static void test_render__barcodes_scan(void **state)
{
    (void)state;
    char got[128];
    kv_render_info info;
    /* GS h 80, GS w 2, GS H 2, ESC a 1, GS k 73 (CODE128) n=10 "{BKV{C" 12 34 56 */
    const uint8_t c128[] = { 0x0A, 0x1D, 0x68, 80, 0x1D, 0x77, 0x02, 0x1D, 0x48, 0x02, 0x1B, 0x61, 0x01,
                             0x1D, 0x6B, 0x49, 0x09, '{', 'B', 'K', 'V', '{', 'C', 12, 34, 56, 0x0A, 0x0A };
    kv_image *i = render("generic-80", c128, sizeof c128, &info);
    assert_int_equal(info.barcodes, 1);
    assert_true(zbar_find(i, ZBAR_CODE128, got, sizeof got));
    assert_string_equal(got, "KV123456");
    kv_image_free(i);
    /* function A EAN13 (GS k 2) with 12 digits: the printer adds the check
     * digit 1 (4006381333931) */
    const uint8_t ean[] = { 0x0A, 0x1D, 0x68, 80, 0x1D, 0x77, 0x03, 0x1D, 0x48, 0x02, 0x1B, 0x61, 0x01,
                            0x1D, 0x6B, 0x02, '4', '0', '0', '6', '3', '8', '1', '3', '3', '3', '9', '3', 0x00,
                            0x0A, 0x0A };
    i = render("generic-80", ean, sizeof ean, &info);
    assert_int_equal(info.barcodes, 1);
    assert_true(zbar_find(i, ZBAR_EAN13, got, sizeof got));
    assert_string_equal(got, "4006381333931");
    kv_image_free(i);
    /* CODE128 without a code set selector is not printed */
    i = render("generic-80", B(0x1D, 0x6B, 0x49, 0x03, 'A', 'B', 'C'), 7, &info);
    assert_int_equal(info.barcodes_failed, 1);
    assert_int_equal(ink(i), 0);
    kv_image_free(i);
}

static void test_render__encoder_barcodes_scan(void **state)
{
    (void)state;
    kv_escpos *e;
    assert_int_equal(kv_escpos_create(&e, NULL), KV_ESCPOS_OK);
    kv_escpos_init(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_escpos_newline(e);
    assert_int_equal(kv_escpos_barcode(e, KV_BARCODE_CODE128, "Order 20261125-0042", NULL), KV_ESCPOS_OK);
    kv_escpos_feed_lines(e, 2);
    assert_int_equal(kv_escpos_barcode(e, KV_BARCODE_CODE39, "KV-1 $/+%", NULL), KV_ESCPOS_OK);
    kv_escpos_feed_lines(e, 2);
    assert_int_equal(kv_escpos_barcode(e, KV_BARCODE_EAN13, "590123412345", NULL), KV_ESCPOS_OK);
    kv_escpos_feed_lines(e, 2);
    size_t n;
    const uint8_t *b = kv_escpos_data(e, &n);
    kv_render_info info;
    kv_image *i = render(NULL, b, n, &info);
    char got[128];
    assert_true(zbar_find(i, ZBAR_CODE128, got, sizeof got));
    assert_string_equal(got, "Order 20261125-0042");
    assert_true(zbar_find(i, ZBAR_CODE39, got, sizeof got));
    assert_string_equal(got, "KV-1 $/+%");
    assert_true(zbar_find(i, ZBAR_EAN13, got, sizeof got));
    assert_string_equal(got, "5901234123457");
    assert_int_equal(info.barcodes, 3);
    kv_image_free(i);
    kv_escpos_destroy(e);
}

/* ---- determinism and PNG -------------------------------------------------- */

struct mem { uint8_t *p; size_t n, cap; };

static int mem_write(void *ctx, const void *d, size_t n)
{
    struct mem *m = ctx;
    if (m->n + n > m->cap) {
        m->cap = (m->n + n) * 2;
        m->p = realloc(m->p, m->cap);
        if (!m->p)
            return -1;
    }
    memcpy(m->p + m->n, d, n);
    m->n += n;
    return 0;
}

static int fail_write(void *ctx, const void *d, size_t n)
{
    (void)ctx; (void)d; (void)n;
    return -1;
}

static void test_render__deterministic_png(void **state)
{
    (void)state;
    const uint8_t s[] = { 0x1B, 0x40, 0x1B, 0x74, 0x13, 0x1B, 0x61, 0x01, 0x1B, 0x21, 0x38, 'K', 'v', 'i', 't', 't', 0x0A,
                          0x1B, 0x21, 0x00, 0x91, 0x9B, 0x86, ' ', 0xD5, 0x0A,
                          0x1D, 0x28, 0x6B, 0x06, 0x00, 0x31, 0x50, 0x30, 'a', 'b', 'c',
                          0x1D, 0x28, 0x6B, 0x03, 0x00, 0x31, 0x51, 0x30, 0x1D, 0x56, 0x42, 0x00 };
    struct mem a = { 0 }, b = { 0 }, c = { 0 };
    for (int k = 0; k < 2; k++) {
        kv_image *i = render(NULL, s, sizeof s, NULL);
        assert_int_equal(kv_image_write_png(i, 8, mem_write, k ? &b : &a), KV_RENDER_OK);
        if (k)
            assert_int_equal(kv_image_write_png(i, 1, mem_write, &c), KV_RENDER_OK);
        assert_int_equal(kv_image_write_png(i, 8, fail_write, NULL), KV_RENDER_E_WRITE);
        assert_int_equal(kv_image_write_png(i, 4, mem_write, &c), KV_RENDER_E_ARG);
        kv_image_free(i);
    }
    assert_true(a.n > 8);
    assert_memory_equal(a.p, "\x89PNG", 4);
    kvt_assert_bytes(b.p, b.n, a.p, a.n);
    assert_true(c.n > 8 && c.n < a.n);
    free(a.p);
    free(b.p);
    free(c.p);
}

static void test_render__degrade_is_deterministic(void **state)
{
    (void)state;
    kv_image *i = RENDER(NULL, 'X', 0x0A);
    kv_image *d1, *d2, *d3;
    assert_int_equal(kv_image_degrade(&d1, i, 42), KV_RENDER_OK);
    assert_int_equal(kv_image_degrade(&d2, i, 42), KV_RENDER_OK);
    assert_int_equal(kv_image_degrade(&d3, i, 43), KV_RENDER_OK);
    assert_int_equal(d1->width, d2->width);
    assert_memory_equal(d1->pixels, d2->pixels, (size_t)d1->width * d1->height);
    /* rotated by 2 degrees: a larger canvas */
    assert_true(d1->width > i->width && d1->height > i->height);
    assert_int_equal(kv_render_hash((const uint8_t *)"", 0), 1469598103934665603ull);
    kv_image_free(i);
    kv_image_free(d1);
    kv_image_free(d2);
    kv_image_free(d3);
}

static void test_render__bad_font_and_args(void **state)
{
    (void)state;
    kv_render_opts o = KV_RENDER_OPTS_INIT;
    o.font_a = "/nonexistent/font.pcf.gz";
    kv_renderer *r = NULL;
    assert_int_equal(kv_renderer_create(&r, &o), KV_RENDER_E_FONT);
    assert_null(r);
    kv_renderer_destroy(NULL);
    kv_image_free(NULL);
    assert_int_equal(kv_renderer_create(NULL, NULL), KV_RENDER_E_ARG);
    r = mk(NULL);
    kv_image *i = NULL;
    assert_int_equal(kv_render(r, NULL, 0, &i, NULL), KV_RENDER_OK);
    assert_int_equal(i->height, 1);
    kv_image_free(i);
    assert_int_equal(kv_render(r, NULL, 5, &i, NULL), KV_RENDER_E_ARG);
    kv_renderer_destroy(r);
    assert_string_equal(kv_render_strerror(KV_RENDER_E_FONT), "cannot load font");
}

static void test_render__max_height_clips(void **state)
{
    (void)state;
    kv_render_opts o = KV_RENDER_OPTS_INIT;
    o.max_height = 100;
    kv_renderer *r;
    assert_int_equal(kv_renderer_create(&r, &o), KV_RENDER_OK);
    kv_image *i;
    kv_render_info info;
    /* ESC d 255 x 2 would be 17340 dots */
    assert_int_equal(kv_render(r, B(0x1B, 0x64, 0xFF, 0x1B, 0x64, 0xFF), 6, &i, &info), KV_RENDER_OK);
    assert_int_equal(i->height, 100);
    assert_int_equal(info.clipped, 1);
    kv_image_free(i);
    kv_renderer_destroy(r);
}

/* ---- golden PNGs and the CLI ---------------------------------------------- */

/* The profile a fixture is rendered with: the longest profile name inside
 * the file name, else the default (tests/golden-update.sh does the same). */
static const kv_profile *fixture_profile(const char *name)
{
    const kv_profile *best = NULL, *p;
    for (size_t i = 0; (p = kv_profile_at(i)); i++)
        if (strstr(name, p->name) && (!best || strlen(p->name) > strlen(best->name)))
            best = p;
    return best ? best : kv_profile_default();
}

static int read_png_gray(const char *path, uint8_t **px, int *w, int *h)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path))
        return -1;
    im.format = PNG_FORMAT_GRAY;
    *px = malloc(PNG_IMAGE_SIZE(im));
    if (!*px || !png_image_finish_read(&im, NULL, *px, 0, NULL)) {
        free(*px);
        png_image_free(&im);
        return -1;
    }
    *w = (int)im.width;
    *h = (int)im.height;
    return 0;
}

static void test_render__golden_fixtures_pixel_for_pixel(void **state)
{
    (void)state;
    char *dir = kvt_path("%s/fixtures", kvt_srcdir());
    DIR *dd = opendir(dir);
    assert_non_null(dd);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dd))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".bin") != 0)
            continue;
        char *bin = kvt_path("%s/%s", dir, de->d_name);
        char *png = kvt_path("%s/%.*s.png", dir, (int)(l - 4), de->d_name);
        unsigned char *bytes;
        size_t len;
        assert_int_equal(kvt_read_file(bin, &bytes, &len), 0);
        kv_render_opts o = KV_RENDER_OPTS_INIT;
        o.profile = fixture_profile(de->d_name);
        kv_renderer *r;
        assert_int_equal(kv_renderer_create(&r, &o), KV_RENDER_OK);
        kv_image *img;
        assert_int_equal(kv_render(r, bytes, len, &img, NULL), KV_RENDER_OK);
        kv_renderer_destroy(r);
        uint8_t *gp;
        int w, h;
        if (read_png_gray(png, &gp, &w, &h) != 0)
            fail_msg("%s: no golden PNG %s (run make golden-update)", bin, png);
        if (w != img->width || h != img->height)
            fail_msg("%s: rendered %dx%d, golden %dx%d (run make golden-update if intended)",
                     bin, img->width, img->height, w, h);
        for (int k = 0; k < w * h; k++)
            if (gp[k] != img->pixels[k])
                fail_msg("%s: pixel (%d,%d) is %d, golden %d", bin, k % w, k / w, img->pixels[k], gp[k]);
        free(gp);
        kv_image_free(img);
        free(bytes);
        free(bin);
        free(png);
        n++;
    }
    closedir(dd);
    free(dir);
    if (n == 0)
        KVT_SKIP("no fixtures/*.bin yet");
}

static void test_render__cli(void **state)
{
    (void)state;
    char *bin = kvt_path("%s/r.bin", kvt_tmpdir());
    char *png = kvt_path("%s/r.png", kvt_tmpdir());
    const uint8_t s[] = { 'h', 'i', 0x0A, 0x1D, 0x56, 0x00 };
    assert_int_equal(kvt_write_file(bin, s, sizeof s), 0);
    kvt_result r;
    const char *a1[] = { "kvitt", "render", bin, "-o", png, "--profile", "generic-58", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, a1), 0);
    assert_int_equal(r.status, 0);
    kvt_result_free(&r);
    uint8_t *gp;
    int w, h;
    assert_int_equal(read_png_gray(png, &gp, &w, &h), 0);
    assert_int_equal(w, 384);
    assert_true(h > 34);
    free(gp);
    const char *a2[] = { "kvitt", "render", bin, "-o", png, "--profile", "no-such", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, a2), 0);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
    const char *a3[] = { "kvitt", "render", bin, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, a3), 0);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
    const char *a4[] = { "kvitt", "render", "--help", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, a4), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "usage: kvitt render"));
    kvt_result_free(&r);
    free(bin);
    free(png);
}

static void test_render__corpus_renders(void **state)
{
    (void)state;
    KVT_REQUIRE_SHARED();
    char *dir = kvt_path("%s/corpus/escpos-php", kvt_shared());
    DIR *dd = opendir(dir);
    assert_non_null(dd);
    kv_renderer *r = mk(NULL);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(dd))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".bin") != 0)
            continue;
        char *p = kvt_path("%s/%s", dir, de->d_name);
        unsigned char *b;
        size_t len;
        assert_int_equal(kvt_read_file(p, &b, &len), 0);
        kv_image *img;
        kv_render_info info;
        assert_int_equal(kv_render(r, b, len, &img, &info), KV_RENDER_OK);
        assert_int_equal(info.unknown, 0);
        assert_true(ink(img) > 0);
        kv_image_free(img);
        free(b);
        free(p);
        n++;
    }
    closedir(dd);
    kv_renderer_destroy(r);
    free(dir);
    assert_true(n >= 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render__raster_exact_pixels),
        cmocka_unit_test(test_render__raster_scaling_and_alignment),
        cmocka_unit_test(test_render__graphics_and_column_images),
        cmocka_unit_test(test_render__text_cells_and_sizes),
        cmocka_unit_test(test_render__bold_underline_reverse),
        cmocka_unit_test(test_render__codepages_nordic_and_euro),
        cmocka_unit_test(test_render__unprinted_and_reset_text_not_drawn),
        cmocka_unit_test(test_render__feeds_and_cut),
        cmocka_unit_test(test_render__native_qr_module_size),
        cmocka_unit_test(test_render__barcodes_scan),
        cmocka_unit_test(test_render__encoder_barcodes_scan),
        cmocka_unit_test(test_render__deterministic_png),
        cmocka_unit_test(test_render__degrade_is_deterministic),
        cmocka_unit_test(test_render__bad_font_and_args),
        cmocka_unit_test(test_render__max_height_clips),
        cmocka_unit_test(test_render__golden_fixtures_pixel_for_pixel),
        cmocka_unit_test(test_render__cli),
        cmocka_unit_test(test_render__corpus_renders),
    };
    return cmocka_run_group_tests_name("render", tests, NULL, NULL);
}
