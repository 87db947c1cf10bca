/* test_escpos_qr.c - the host-rendered (raster) QR code scans.
 *
 * The slip's GS v 0 raster is turned back into the paper it prints (scaled
 * by the command's m, centred on the profile's width like ESC a 1, with
 * white paper around it) and decoded with zbar (libzbar: the real decoder,
 * no mock).  The exact URL must come back for every profile, in compact
 * (GS v 0 m=3) and full-size mode. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <qrencode.h>
#include <zbar.h>

#include "escpos/encoder.h"
#include "src/doc/slip.h"
#include "tests/lib/kvtest.h"

static const char URL[] = "https://api.vipps.no/dwo-api-application/v1/deeplink/vippsgateway"
                          "?v=2&token=eyJraWQiOiJqd3RrZXkiLCJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9"
                          ".abc123";

typedef struct {
    unsigned m, xbytes, rows;   /* of the (single or first) GS v 0 */
    size_t data_bytes;          /* image bytes over all bands */
    size_t lf_before, lf_after; /* blank LFs right before / after the image */
    uint8_t *bits;              /* all bands joined */
} raster;

/* Find the GS v 0 bands in a stream (1D 76 30 m xL xH yL yH data). */
static void find_raster(raster *r, const uint8_t *d, size_t n)
{
    memset(r, 0, sizeof *r);
    size_t i = 0, end = 0;
    int seen = 0;
    while (i + 8 <= n) {
        if (d[i] == 0x1d && d[i + 1] == 0x76 && d[i + 2] == 0x30) {
            unsigned m = d[i + 3], xb = d[i + 4] | (unsigned)d[i + 5] << 8;
            unsigned rows = d[i + 6] | (unsigned)d[i + 7] << 8;
            size_t k = (size_t)xb * rows;
            assert_true(i + 8 + k <= n);
            if (!seen) {
                for (size_t j = i; j > 0 && d[j - 1] == 0x0a; j--)
                    r->lf_before++;
                r->m = m;
                r->xbytes = xb;
            } else {
                assert_int_equal(m, r->m);
                assert_int_equal(xb, r->xbytes);
                assert_int_equal(i, end);   /* bands follow each other */
            }
            r->bits = realloc(r->bits, r->data_bytes + k);
            memcpy(r->bits + r->data_bytes, d + i + 8, k);
            r->data_bytes += k;
            r->rows += rows;
            seen = 1;
            i += 8 + k;
            end = i;
            continue;
        }
        i++;
    }
    assert_true(seen);
    for (size_t j = end; j < n && d[j] == 0x0a; j++)
        r->lf_after++;
}

/* Paint the raster as printed: width `dots`, centred, margin rows. */
static char *decode(const raster *r, unsigned dots)
{
    unsigned sx = (r->m & 1) ? 2 : 1, sy = (r->m & 2) ? 2 : 1;
    unsigned iw = r->xbytes * 8 * sx, ih = r->rows * sy, margin = 40;
    assert_true(iw <= dots);
    unsigned w = dots, h = ih + 2 * margin, x0 = (dots - iw) / 2;
    unsigned char *g = malloc((size_t)w * h);
    memset(g, 0xff, (size_t)w * h);
    for (unsigned y = 0; y < ih; y++)
        for (unsigned x = 0; x < iw; x++) {
            unsigned bx = x / sx, by = y / sy;
            if (r->bits[(size_t)by * r->xbytes + bx / 8] & (0x80 >> (bx % 8)))
                g[(size_t)(y + margin) * w + x0 + x] = 0;
        }
    zbar_image_scanner_t *sc = zbar_image_scanner_create();
    zbar_image_scanner_set_config(sc, ZBAR_NONE, ZBAR_CFG_ENABLE, 0);
    zbar_image_scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
    zbar_image_t *img = zbar_image_create();
    zbar_image_set_format(img, zbar_fourcc('Y', '8', '0', '0'));
    zbar_image_set_size(img, w, h);
    zbar_image_set_data(img, g, (unsigned long)w * h, NULL);
    char *out = NULL;
    if (zbar_scan_image(sc, img) > 0) {
        const zbar_symbol_t *s = zbar_image_first_symbol(img);
        out = strndup(zbar_symbol_get_data(s), zbar_symbol_get_data_length(s));
    }
    zbar_image_destroy(img);
    zbar_image_scanner_destroy(sc);
    free(g);
    return out;
}

static void slip_raster(raster *r, const kv_profile *p, unsigned module, bool no_compact)
{
    kv_escpos_options o = KV_ESCPOS_OPTIONS_INIT;
    o.profile = p;
    kv_escpos *e;
    assert_int_equal(kv_escpos_create(&e, &o), KV_ESCPOS_OK);
    kv_slip_spec s = KV_SLIP_SPEC_INIT;
    s.url = URL;
    s.amount_minor = 14900;
    s.reference = "POS-1-20261125-0001";
    s.qr.mode = KV_QR_RASTER;
    s.qr.module = module;
    s.qr.no_compact = no_compact;
    assert_int_equal(kv_slip_write(e, &s), KV_ESCPOS_OK);
    size_t n;
    const uint8_t *d = kv_escpos_data(e, &n);
    find_raster(r, d, n);
    kv_escpos_destroy(e);
}

static void check_profile(const kv_profile *p, unsigned module, bool no_compact)
{
    raster r;
    slip_raster(&r, p, module, no_compact);
    int compact = !no_compact && module % 2 == 0;
    assert_int_equal(r.m, compact ? 3 : 0);
    /* Quiet zone: >= 4 modules of white beside (within the paper width) and
     * a blank feed of >= 4 modules above and below (an LF feeds >= 30 dots). */
    unsigned sx = (r.m & 1) ? 2 : 1;
    unsigned printed = r.xbytes * 8 * sx;
    assert_true((p->dots - printed) / 2 >= 4 * module);
    assert_true(r.lf_before * 30 >= 4 * module);
    assert_true(r.lf_after * 30 >= 4 * module);
    char *got = decode(&r, p->dots);
    if (!got)
        fail_msg("zbar found no QR code: profile %s module %u %s", p->name, module,
                 compact ? "compact" : "full");
    assert_string_equal(got, URL);
    free(got);
    free(r.bits);
}

static void test_raster_qr_scans_every_profile(void **state)
{
    (void)state;
    const kv_profile *p;
    for (size_t i = 0; (p = kv_profile_at(i)); i++) {
        check_profile(p, 6, false);   /* compact: drawn at 3, sent with m=3 */
        check_profile(p, 6, true);    /* full size, m=0 */
    }
    check_profile(kv_profile_find("epson-tm-t88"), 5, false);   /* odd: never compact */
    check_profile(kv_profile_find("generic-58"), 4, false);
}

static void test_compact_is_a_quarter(void **state)
{
    (void)state;
    raster c, f;
    const kv_profile *p = kv_profile_find("epson-tm-t20");
    slip_raster(&c, p, 6, false);
    slip_raster(&f, p, 6, true);
    /* 139 bytes at EC M = version 8 = 49 modules: 147 x 147 dots in 19-byte
     * rows compact, 294 x 294 in 37-byte rows full size. */
    assert_int_equal(c.xbytes, 19);
    assert_int_equal(c.rows, 147);
    assert_int_equal(f.xbytes, 37);
    assert_int_equal(f.rows, 294);
    assert_true(c.data_bytes * 4 <= f.data_bytes + 4 * 147);
    free(c.bits);
    free(f.bits);
}

static void test_symbol_width(void **state)
{
    (void)state;
    unsigned w = 0;
    assert_int_equal(kv_qr_symbol_width(&w, URL, strlen(URL), KV_QR_EC_M), KV_ESCPOS_OK);
    assert_int_equal(w, 49);   /* version 8: 17 + 4 * 8 */
    assert_int_equal(kv_qr_symbol_width(&w, "1234", 4, KV_QR_EC_L), KV_ESCPOS_OK);
    assert_int_equal(w, 21);   /* version 1 */
}

/* The capacity table against libqrencode: for every length from 1 to the
 * largest that fits at each EC level, the version chosen from the table is
 * the version libqrencode's own encoder picks for that many bytes (byte
 * mode); one byte more than version 40 holds fits nowhere. */
static void test_capacity_table_matches_libqrencode(void **state)
{
    (void)state;
    static const QRecLevel lv[] = { QR_ECLEVEL_L, QR_ECLEVEL_M, QR_ECLEVEL_Q, QR_ECLEVEL_H };
    static const unsigned max40[] = { 2953, 2331, 1663, 1273 }; /* ISO/IEC 18004 table 7 */
    unsigned char *data = malloc(3000);
    assert_non_null(data);
    for (size_t i = 0; i < 3000; i++)
        data[i] = (unsigned char)(i * 131u + 7u);  /* binary: byte mode */
    int checked = 0;
    for (int ec = 0; ec < 4; ec++) {
        assert_int_equal(kv_qr_byte_capacity(40, (kv_qr_ec)ec), max40[ec]);
        assert_int_equal(kv_qr_version_for(max40[ec] + 1, (kv_qr_ec)ec), 0);
        for (unsigned len = 1; len <= max40[ec]; len += len < 400 ? 1 : 7) {
            QRcode *q = QRcode_encodeData((int)len, data, 0, lv[ec]);
            assert_non_null(q);
            unsigned v = kv_qr_version_for(len, (kv_qr_ec)ec);
            if ((int)v != q->version)
                fail_msg("%u bytes at EC %c: table says version %u, libqrencode %d", len,
                         "LMQH"[ec], v, q->version);
            unsigned w = 0;
            assert_int_equal(kv_qr_symbol_width(&w, data, len, (kv_qr_ec)ec), KV_ESCPOS_OK);
            assert_int_equal(w, (unsigned)q->width);
            QRcode_free(q);
            checked++;
        }
        /* every boundary: capacity(v) fits version v, one more needs v + 1 */
        for (unsigned v = 1; v < 40; v++) {
            unsigned cap = kv_qr_byte_capacity(v, (kv_qr_ec)ec);
            QRcode *q = QRcode_encodeData((int)cap, data, 0, lv[ec]);
            assert_non_null(q);
            assert_int_equal(q->version, (int)v);
            QRcode_free(q);
            q = QRcode_encodeData((int)cap + 1, data, 0, lv[ec]);
            assert_non_null(q);
            assert_int_equal(q->version, (int)v + 1);
            QRcode_free(q);
            assert_int_equal(kv_qr_version_for(cap, (kv_qr_ec)ec), v);
            assert_int_equal(kv_qr_version_for(cap + 1, (kv_qr_ec)ec), v + 1);
        }
    }
    assert_true(checked > 2000);
    assert_int_equal(kv_qr_version_for(0, KV_QR_EC_L), 0);
    assert_int_equal(kv_qr_byte_capacity(0, KV_QR_EC_L), 0);
    assert_int_equal(kv_qr_byte_capacity(41, KV_QR_EC_L), 0);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raster_qr_scans_every_profile),
        cmocka_unit_test(test_compact_is_a_quarter),
        cmocka_unit_test(test_symbol_width),
        cmocka_unit_test(test_capacity_table_matches_libqrencode),
    };
    return cmocka_run_group_tests_name("escpos_qr", tests, NULL, NULL);
}
