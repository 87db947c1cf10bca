/* test_termqr.c - the QR code `kvitt pay --show-qr` draws in the terminal.
 * The text output is parsed back into modules (two per character: the
 * upper and lower half), checked for a 4-module quiet zone and explicit
 * colours, drawn into a greyscale image and decoded with zbar. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zbar.h>

#include "src/doc/termqr.h"
#include "tests/lib/kvtest.h"

#define URL "https://qr.vipps.no/28/2/01/031/68c2e706947c0acd7092e18804c3b45b"
#define ESC_COLOURS "\x1b[30;107m" /* black on bright white */
#define ESC_RESET "\x1b[0m"

typedef struct {
    int w, h;
    unsigned char *dark; /* w*h, 1 = dark module */
} grid;

/* Parse the drawing: each line is one row of characters; a character is two
 * modules, upper and lower.  ink_is_dark: a block means a dark module (1) or
 * a light one (0, the old light-on-dark drawing).  Escape sequences must
 * open and close every line when colours says so. */
static grid parse(const char *text, int ink_is_dark, int colours)
{
    grid g = { 0, 0, NULL };
    size_t cap = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        if (colours) {
            if (strncmp(p, ESC_COLOURS, strlen(ESC_COLOURS)) != 0)
                fail_msg("line %d does not start with explicit colours", g.h / 2);
            p += strlen(ESC_COLOURS);
            size_t rl = strlen(ESC_RESET);
            if ((size_t)(nl - p) < rl || strncmp(nl - rl, ESC_RESET, rl) != 0)
                fail_msg("line %d does not reset the colours at its end", g.h / 2);
        }
        const char *end = colours ? nl - strlen(ESC_RESET) : nl;
        int x = 0;
        unsigned char top[512], bot[512];
        while (p < end) {
            int t = 0, b = 0;
            if (*p == ' ') { t = 0; b = 0; p += 1; }
            else if (strncmp(p, "\xe2\x96\x88", 3) == 0) { t = 1; b = 1; p += 3; }
            else if (strncmp(p, "\xe2\x96\x80", 3) == 0) { t = 1; b = 0; p += 3; }
            else if (strncmp(p, "\xe2\x96\x84", 3) == 0) { t = 0; b = 1; p += 3; }
            else fail_msg("unexpected byte 0x%02x in the drawing", (unsigned char)*p);
            assert_true(x < 512);
            top[x] = (unsigned char)(ink_is_dark ? t : !t);
            bot[x] = (unsigned char)(ink_is_dark ? b : !b);
            x++;
        }
        if (g.w == 0)
            g.w = x;
        assert_int_equal(x, g.w);
        if ((size_t)(g.h + 2) * (size_t)g.w > cap) {
            cap = (size_t)(g.h + 2) * (size_t)g.w * 2;
            g.dark = realloc(g.dark, cap);
            assert_non_null(g.dark);
        }
        memcpy(g.dark + (size_t)g.h * (size_t)g.w, top, (size_t)g.w);
        memcpy(g.dark + (size_t)(g.h + 1) * (size_t)g.w, bot, (size_t)g.w);
        g.h += 2;
        p = nl + 1;
    }
    return g;
}

/* Light rows/columns around the code, counted from each side. */
static int quiet_zone(const grid *g)
{
    int q = 0;
    for (;; q++) {
        int light = 1;
        for (int i = 0; i < g->w && light; i++)
            light = !g->dark[(size_t)q * g->w + i] && !g->dark[(size_t)(g->h - 1 - q) * g->w + i];
        for (int i = 0; i < g->h && light; i++)
            light = !g->dark[(size_t)i * g->w + q] && !g->dark[(size_t)i * g->w + g->w - 1 - q];
        if (!light || q >= g->w / 2)
            return q;
    }
}

/* Draw the modules 4 px each (dark = 0, light = 255) and decode with zbar. */
static char *decode(const grid *g)
{
    const int s = 4;
    int W = g->w * s, H = g->h * s;
    unsigned char *img = malloc((size_t)W * (size_t)H);
    assert_non_null(img);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            img[(size_t)y * W + x] = g->dark[(size_t)(y / s) * g->w + x / s] ? 0 : 255;
    zbar_image_scanner_t *sc = zbar_image_scanner_create();
    zbar_image_scanner_set_config(sc, ZBAR_NONE, ZBAR_CFG_ENABLE, 0);
    zbar_image_scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
    zbar_image_t *zi = zbar_image_create();
    zbar_image_set_format(zi, zbar_fourcc('Y', '8', '0', '0'));
    zbar_image_set_size(zi, (unsigned)W, (unsigned)H);
    zbar_image_set_data(zi, img, (unsigned long)W * (unsigned long)H, NULL);
    char *out = NULL;
    if (zbar_scan_image(sc, zi) > 0) {
        const zbar_symbol_t *sym = zbar_image_first_symbol(zi);
        if (sym)
            out = strdup(zbar_symbol_get_data(sym));
    }
    zbar_image_destroy(zi);
    zbar_image_scanner_destroy(sc);
    free(img);
    return out;
}

static char *draw(kv_termqr_style style)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(kv_termqr_print_style(f, URL, style), 0);
    fclose(f);
    return buf;
}

/* The default drawing: explicit black-on-white colours on every line, so
 * it reads the same on light and dark terminals; 4-module quiet zone. */
static void test_termqr__default_has_colours_and_quiet_zone(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(kv_termqr_print(f, URL), 0);
    fclose(f);
    grid g = parse(buf, 1, 1);
    assert_true(quiet_zone(&g) >= 4);
    char *got = decode(&g);
    assert_non_null(got);
    assert_string_equal(got, URL);
    free(got);
    free(g.dark);
    free(buf);
}

/* Without colours: "light" draws dark modules as blocks (dark text on a
 * light terminal), "dark" draws light modules as blocks (light text on a
 * dark terminal).  Each decodes, with a 4-module quiet zone. */
static void test_termqr__plain_styles_decode(void **state)
{
    (void)state;
    struct { kv_termqr_style style; int ink_is_dark, colours; } t[] = {
        { KV_TERMQR_ANSI, 1, 1 },
        { KV_TERMQR_LIGHT, 1, 0 },
        { KV_TERMQR_DARK, 0, 0 },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        char *buf = draw(t[i].style);
        if (!t[i].colours)
            assert_null(strchr(buf, 0x1b));
        grid g = parse(buf, t[i].ink_is_dark, t[i].colours);
        assert_true(quiet_zone(&g) >= 4);
        char *got = decode(&g);
        if (!got)
            fail_msg("style %zu does not decode", i);
        assert_string_equal(got, URL);
        free(got);
        free(g.dark);
        free(buf);
    }
    /* the names `kvitt pay --qr-style` takes */
    kv_termqr_style s;
    assert_int_equal(kv_termqr_style_parse("light", &s), 0);
    assert_int_equal(s, KV_TERMQR_LIGHT);
    assert_int_equal(kv_termqr_style_parse("dark", &s), 0);
    assert_int_equal(s, KV_TERMQR_DARK);
    assert_int_equal(kv_termqr_style_parse("ansi", &s), 0);
    assert_int_equal(s, KV_TERMQR_ANSI);
    assert_int_equal(kv_termqr_style_parse("pink", &s), -1);
}

/* A bad --qr-style is refused before anything happens. */
static void test_termqr__pay_refuses_a_bad_style(void **state)
{
    (void)state;
    const char *argv[] = { "kvitt", "pay", "--amount", "10.00", "--show-qr", "--qr-style", "pink", NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--qr-style"));
    kvt_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_termqr__default_has_colours_and_quiet_zone),
        cmocka_unit_test(test_termqr__plain_styles_decode),
        cmocka_unit_test(test_termqr__pay_refuses_a_bad_style),
    };
    return cmocka_run_group_tests_name("termqr", tests, NULL, NULL);
}
