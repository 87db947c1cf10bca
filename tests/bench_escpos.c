/* bench_escpos.c - figures for the ESC/POS encoder (issue 2 targets):
 *   - bytes of the canonical 80 mm PC865 slip, native QR (target <= 282,
 *     floor 274) and compact raster QR (target <= 3000, floor ~2900);
 *   - time to encode a 10-line receipt (target <= 2 us), reusing one
 *     encoder handle (no allocation per receipt).
 * Prints figures; never fails on time. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "escpos/encoder.h"
#include "escpos/layout.h"
#include "src/doc/slip.h"

static const char URL[] = "https://api.vipps.no/dwo-api-application/v1/deeplink/vippsgateway"
                          "?v=2&token=eyJraWQiOiJqd3RrZXkiLCJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9"
                          ".abc123";

static kv_slip_spec canonical_slip(kv_qr_mode mode, bool no_compact)
{
    kv_slip_spec s = KV_SLIP_SPEC_INIT;
    s.url = URL;
    s.amount_minor = 14900;
    s.reference = "POS-1-20261125-0001";
    s.qr.mode = mode;
    s.qr.module = 6;
    s.qr.ec = KV_QR_EC_M;
    s.qr.no_compact = no_compact;
    return s;
}

static size_t slip_bytes(const char *profile, kv_qr_mode mode, bool no_compact)
{
    kv_escpos_options o = KV_ESCPOS_OPTIONS_INIT;
    o.profile = kv_profile_find(profile);
    o.codepage = KV_CP_PC865;
    kv_escpos *e;
    if (kv_escpos_create(&e, &o))
        return 0;
    kv_slip_spec s = canonical_slip(mode, no_compact);
    size_t n = 0;
    if (kv_slip_write(e, &s) == KV_ESCPOS_OK)
        kv_escpos_data(e, &n);
    else
        fprintf(stderr, "slip failed: %s\n", kv_escpos_errmsg(e));
    kv_escpos_destroy(e);
    return n;
}

static const struct { const char *name; int64_t price; } items[] = {
    { "Cappuccino", 4900 }, { "Kanelbolle", 3900 }, { "Rødgrøt med fløte", 6450 },
    { "Smørbrød, æg & sild", 12550 }, { "Vann 0,5 l", 2500 }, { "Sjokolade", 1990 },
};

/* 10 printed lines: store name, rule, 6 items, rule, total; plus cut. */
static void receipt(kv_escpos *e)
{
    char money[32];
    kv_escpos_reset(e);
    kv_escpos_init(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_style big = { KV_FONT_A, true, 0, 2, 2 }, normal = KV_STYLE_INIT;
    kv_escpos_style(e, &big);
    kv_escpos_line(e, "Kaffebaren");
    kv_escpos_style(e, &normal);
    kv_escpos_align(e, KV_ALIGN_LEFT);
    kv_layout_rule(e, '-');
    int64_t total = 0;
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        total += items[i].price;
        kv_money_format(money, sizeof money, items[i].price, "NOK", KV_LANG_NB);
        kv_layout_two_col(e, items[i].name, money);
    }
    kv_layout_rule(e, '=');
    kv_escpos_bold(e, true);
    kv_money_format(money, sizeof money, total, "NOK", KV_LANG_NB);
    kv_layout_two_col(e, "Totalt", money);
    kv_escpos_bold(e, false);
    kv_escpos_cut(e, KV_CUT_PARTIAL);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(void)
{
    printf("canonical slip (80 mm, PC865, EC M, 6-dot modules):\n");
    printf("  native GS ( k, epson-tm-t88:       %zu bytes (target <= 282, floor 274)\n",
           slip_bytes("epson-tm-t88", KV_QR_NATIVE, false));
    printf("  native GS ( k, epson-tm-t20:       %zu bytes\n",
           slip_bytes("epson-tm-t20", KV_QR_NATIVE, false));
    size_t compact = slip_bytes("epson-tm-t88", KV_QR_RASTER, false);
    size_t full = slip_bytes("epson-tm-t88", KV_QR_RASTER, true);
    printf("  raster compact (GS v 0 m=3):       %zu bytes (target <= 3000, floor ~2900), "
           "%.1f s at 9600 baud\n", compact, compact * 10.0 / 9600.0);
    printf("  raster full size (GS v 0 m=0):     %zu bytes\n", full);

    kv_escpos *e;
    kv_escpos_options o = KV_ESCPOS_OPTIONS_INIT;
    o.profile = kv_profile_find("epson-tm-t20");
    if (kv_escpos_create(&e, &o))
        return 1;
    receipt(e);   /* warm up: the buffer reaches its size once */
    size_t len;
    kv_escpos_data(e, &len);
    const int rounds = 5, iters = 100000;
    double best = 1e30;
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ns();
        for (int i = 0; i < iters; i++)
            receipt(e);
        double ns = (now_ns() - t0) / iters;
        if (ns < best)
            best = ns;
    }
    printf("10-line receipt (%zu bytes, reused handle): %.0f ns per receipt "
           "(best of %d x %d; target <= 2000 ns)\n", len, best, rounds, iters);
    kv_escpos_destroy(e);

    /* Native-QR slip: the encoder needs only the symbol's size (issue 12:
     * target <= 20 us; it encoded the whole symbol before, ~200 us). */
    o.profile = kv_profile_find("epson-tm-t88");
    o.codepage = KV_CP_PC865;
    if (kv_escpos_create(&e, &o))
        return 1;
    kv_slip_spec s = canonical_slip(KV_QR_NATIVE, false);
    const int slips = 20000;
    best = 1e30;
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ns();
        for (int i = 0; i < slips; i++) {
            kv_escpos_reset(e);
            if (kv_slip_write(e, &s) != KV_ESCPOS_OK)
                return 1;
        }
        double ns = (now_ns() - t0) / slips;
        if (ns < best)
            best = ns;
    }
    printf("native-QR slip encode (epson-tm-t88, reused handle): %.2f us per slip "
           "(best of %d x %d; target <= 20 us)\n", best / 1000.0, rounds, slips);
    kv_escpos_destroy(e);
    return 0;
}
