/* bench_decode.c - decoder throughput and receipt render time.
 *
 * 1. Decode: a realistic stream (receipts with styles, Nordic text, a
 *    logo raster image every 8th receipt, native QR, barcodes, cuts),
 *    repeated to 8 MiB, decoded
 *    command by command; prints MB/s (target >= 100 MB/s).
 * 2. Render: an 80 mm receipt with a native QR code (generic-80, 576 dots)
 *    rendered and encoded to PNG in memory; prints ms per receipt (target
 *    <= 5 ms), plus the two halves separately.
 * Times are CPU time of this process (see now()).
 * Figures only: nothing here fails on time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "escpos/decoder.h"
#include "escpos/encoder.h"
#include "escpos/layout.h"
#include "escpos/render.h"

/* CPU time of this process: the machine running the benchmarks may be busy
 * with other work (parallel builds), which would inflate wall-clock time. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static kv_escpos *receipt(void)
{
    kv_escpos *e;
    if (kv_escpos_create(&e, NULL) != KV_ESCPOS_OK)
        exit(1);
    kv_escpos_init(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_style big = KV_STYLE_INIT;
    big.bold = true;
    big.width = 2;
    big.height = 2;
    kv_escpos_style(e, &big);
    kv_escpos_line(e, "Kaffebaren Grünerløkka");
    kv_style normal = KV_STYLE_INIT;
    kv_escpos_style(e, &normal);
    kv_escpos_line(e, "Thorvald Meyers gate 1, 0555 Oslo");
    kv_escpos_align(e, KV_ALIGN_LEFT);
    kv_layout_rule(e, '-');
    const char *items[] = { "2 x Cappuccino", "1 x Kanelbolle", "1 x Rødgrøt med fløte",
                            "3 x Smørbrød, æg & sild", "1 x Brunost-vaffel", "2 x Te" };
    const char *prices[] = { "98,00 kr", "39,00 kr", "64,50 kr", "376,50 kr", "45,00 kr", "70,00 kr" };
    for (int i = 0; i < 6; i++)
        kv_layout_two_col(e, items[i], prices[i]);
    kv_layout_rule(e, '=');
    kv_escpos_bold(e, true);
    kv_layout_two_col(e, "Totalt", "693,00 kr");
    kv_escpos_bold(e, false);
    kv_escpos_font(e, KV_FONT_B);
    kv_layout_two_col(e, "MVA 25 %", "138,60 kr");
    kv_escpos_font(e, KV_FONT_A);
    kv_escpos_newline(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_escpos_line(e, "Betalt med Vipps MobilePay");
    kv_qr_options qo = KV_QR_OPTIONS_INIT;
    qo.mode = KV_QR_NATIVE;
    const char *url = "https://qr.vipps.no/28/2/05/031/4791234567?v=1&ref=POS-1-20261125-0001";
    kv_escpos_qr(e, url, strlen(url), &qo);
    kv_escpos_barcode(e, KV_BARCODE_CODE128, "POS-1-20261125-0001", NULL);
    kv_escpos_line(e, "Takk for besøket!");
    kv_escpos_cut(e, KV_CUT_PARTIAL);
    if (kv_escpos_status_get(e) != KV_ESCPOS_OK) {
        fprintf(stderr, "bench_decode: encoder: %s\n", kv_escpos_errmsg(e));
        exit(1);
    }
    return e;
}

struct mem { size_t n; };

static int count_write(void *ctx, const void *d, size_t n)
{
    (void)d;
    ((struct mem *)ctx)->n += n;
    return 0;
}

int main(void)
{
    kv_escpos *e = receipt();
    size_t rlen;
    const uint8_t *r = kv_escpos_data(e, &rlen);

    /* a logo-sized raster image between receipts */
    uint8_t logo[8 + 48 * 120];
    const uint8_t hdr[8] = { 0x1D, 0x76, 0x30, 0x00, 48, 0x00, 120, 0x00 };
    memcpy(logo, hdr, 8);
    for (size_t i = 8; i < sizeof logo; i++)
        logo[i] = (uint8_t)(i * 37);

    size_t total = (size_t)8 << 20;
    uint8_t *big = malloc(total);
    if (!big)
        return 1;
    size_t n = 0;
    /* mostly receipts (text, styles, QR, barcode); a logo every 8th */
    for (int k = 0; n + rlen + sizeof logo <= total; k++) {
        if (k % 8 == 0) {
            memcpy(big + n, logo, sizeof logo);
            n += sizeof logo;
        }
        memcpy(big + n, r, rlen);
        n += rlen;
    }

    /* decode */
    size_t cmds = 0;
    int reps = 20;
    double t0 = now();
    for (int k = 0; k < reps; k++) {
        kv_dec *d;
        if (kv_dec_create(&d, big, n) != KV_DEC_OK)
            return 1;
        kv_dec_cmd c;
        while (kv_dec_next(d, &c) == KV_DEC_OK)
            cmds++;
        kv_dec_destroy(d);
    }
    double dt = now() - t0;
    double mb = (double)n * reps / 1e6;
    printf("decode: %.1f MB in %.3f s = %.0f MB/s (%zu commands/pass; target >= 100 MB/s)\n",
           mb, dt, mb / dt, cmds / (size_t)reps);

    /* render an 80 mm receipt with a QR code to PNG */
    kv_renderer *rd;
    kv_render_status st = kv_renderer_create(&rd, NULL);
    if (st != KV_RENDER_OK) {
        fprintf(stderr, "bench_decode: renderer: %s\n", kv_render_strerror(st));
        return 1;
    }
    int iters = 200;
    double trender = 0, tpng = 0, tpng1 = 0;
    int w = 0, h = 0;
    size_t pngbytes = 0;
    double w0 = 0;
    for (int k = 0; k < iters + 5; k++) {
        if (k == 5)
            w0 = wall();
        double a = now();
        kv_image *img;
        kv_render_info info;
        if (kv_render(rd, r, rlen, &img, &info) != KV_RENDER_OK || info.qr_printed != 1)
            return 1;
        double b = now();
        struct mem m = { 0 };
        if (kv_image_write_png(img, 8, count_write, &m) != KV_RENDER_OK)
            return 1;
        double c = now();
        struct mem m1 = { 0 };
        if (kv_image_write_png(img, 1, count_write, &m1) != KV_RENDER_OK)
            return 1;
        double d1 = now();
        if (k >= 5) {  /* warm-up: glyph cache */
            trender += b - a;
            tpng += c - b;
            tpng1 += d1 - c;
        }
        w = img->width;
        h = img->height;
        pngbytes = m.n;
        kv_image_free(img);
    }
    printf("render: 80 mm receipt with QR (%zu bytes -> %dx%d dots): %.2f ms per receipt to a "
           "1-bit PNG (render %.2f ms + PNG %.2f ms; target <= 5 ms)\n",
           rlen, w, h, (trender + tpng1) * 1000 / iters, trender * 1000 / iters, tpng1 * 1000 / iters);
    printf("render: same receipt to an 8-bit greyscale PNG (%zu bytes): %.2f ms (PNG %.2f ms)\n",
           pngbytes, (trender + tpng) * 1000 / iters, tpng * 1000 / iters);
    printf("render: wall clock for render + both PNGs: %.2f ms per receipt (inflated when the "
           "machine is busy)\n", (wall() - w0) * 1000 / iters);
    kv_renderer_destroy(rd);
    kv_escpos_destroy(e);
    free(big);
    return 0;
}
