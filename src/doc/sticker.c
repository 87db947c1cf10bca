/* sticker.c - the sticker placard document (see sticker.h). */
#include <string.h>

#include "escpos/profile.h"
#include "src/doc/slip.h"
#include "src/doc/sticker.h"

static const char *const scan_texts[KV_LANG_COUNT] = {
    [KV_LANG_NB] = "Skann for å betale med Vipps eller MobilePay",
    [KV_LANG_DA] = "Scan for at betale med MobilePay eller Vipps",
    [KV_LANG_FI] = "Skannaa ja maksa MobilePaylla tai Vippsillä",
    [KV_LANG_SV] = "Skanna för att betala med Vipps eller MobilePay",
    [KV_LANG_EN] = "Scan to pay with Vipps or MobilePay",
};

static kv_lang lang_ok(kv_lang l)
{
    return (unsigned)l < KV_LANG_COUNT ? l : KV_LANG_NB;
}

const char *kv_sticker_scan_text(kv_lang lang)
{
    return scan_texts[lang_ok(lang)];
}

/* The largest module (dots, at most 16) that leaves the 4-module quiet
 * zone on both sides within the paper. */
static unsigned fit_module(kv_escpos *e, const char *content, kv_qr_ec ec)
{
    unsigned w = 0;
    if (kv_qr_symbol_width(&w, content, strlen(content), ec) != KV_ESCPOS_OK || !w)
        return 0;
    unsigned dots = kv_escpos_profile(e)->dots;
    unsigned m = dots / (w + 8);
    if (m > 16)
        m = 16;
    if (m > 2 && (m & 1))
        m--; /* even modules keep the compact raster mode */
    return m ? m : 1;
}

kv_escpos_status kv_sticker_write(kv_escpos *e, const kv_sticker_spec *spec)
{
    kv_escpos_status st = kv_escpos_status_get(e);
    if (st)
        return st;
    if (!spec || spec->version != 1)
        return kv_escpos_fail(e, KV_ESCPOS_E_ARG, "sticker: missing or unknown spec version");
    if (!spec->content || !*spec->content)
        return kv_escpos_fail(e, KV_ESCPOS_E_ARG, "sticker: the QR content is empty");
    for (const char *p = spec->content; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7F)
            return kv_escpos_fail(e, KV_ESCPOS_E_ARG,
                                  "sticker: the QR content must be printable ASCII without spaces");
    if (spec->bits && (!spec->width_bytes || !spec->height))
        return kv_escpos_fail(e, KV_ESCPOS_E_ARG, "sticker: empty QR image");
    kv_lang lang = lang_ok(spec->lang);
    if (!spec->no_init)
        kv_escpos_init(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    if (spec->store_name && *spec->store_name) {
        kv_style store = { KV_FONT_A, true, 0, 1, 1 };
        kv_escpos_style(e, &store);
        kv_layout_wrap(e, spec->store_name);
    }
    kv_style big = { KV_FONT_A, true, 0, 2, 2 };
    kv_escpos_style(e, &big);
    kv_layout_wrap(e, kv_slip_title(lang));
    kv_style normal = KV_STYLE_INIT;
    kv_escpos_style(e, &normal);
    if (spec->bits) {
        kv_escpos_feed_lines(e, 1);
        kv_escpos_raster(e, spec->bits, spec->width_bytes, spec->height, KV_RASTER_NORMAL);
        kv_escpos_feed_lines(e, 1);
    } else {
        kv_qr_options q = spec->qr;
        if (!q.module)
            q.module = fit_module(e, spec->content, q.ec);
        kv_escpos_qr(e, spec->content, strlen(spec->content), &q);
    }
    kv_style bold = { KV_FONT_A, true, 0, 1, 1 };
    kv_escpos_style(e, &bold);
    kv_layout_wrap(e, scan_texts[lang]);
    if (spec->location && *spec->location) {
        kv_style tall = { KV_FONT_A, true, 0, 1, 2 };
        kv_escpos_style(e, &tall);
        kv_layout_wrap(e, spec->location);
    }
    kv_escpos_style(e, &normal);
    kv_escpos_align(e, KV_ALIGN_LEFT);
    kv_escpos_feed_lines(e, 2);
    kv_escpos_cut(e, KV_CUT_FULL);
    return kv_escpos_status_get(e);
}
