/* slip.c - the QR payment slip document (see slip.h). */
#include <stdio.h>
#include <string.h>

#include "src/doc/slip.h"

static const char *const titles[KV_LANG_COUNT] = {
    [KV_LANG_NB] = "Betal med Vipps",
    [KV_LANG_DA] = "Betal med MobilePay",
    [KV_LANG_FI] = "Maksa MobilePaylla",
    [KV_LANG_SV] = "Betala med Vipps",
    [KV_LANG_EN] = "Pay with Vipps MobilePay",
};
static const char *const amount_labels[KV_LANG_COUNT] = {
    [KV_LANG_NB] = "Beløp", [KV_LANG_DA] = "Beløb", [KV_LANG_FI] = "Summa",
    [KV_LANG_SV] = "Belopp", [KV_LANG_EN] = "Amount",
};
static const char *const scan_texts[KV_LANG_COUNT] = {
    [KV_LANG_NB] = "Skann med kamera-appen",
    [KV_LANG_DA] = "Scan med kameraet eller appen",
    [KV_LANG_FI] = "Skannaa kameralla tai sovelluksella",
    [KV_LANG_SV] = "Skanna med kameran eller appen",
    [KV_LANG_EN] = "Scan with the app or camera",
};
static const char *const scan_app_texts[KV_LANG_COUNT] = {
    [KV_LANG_NB] = "Skann med Vipps- eller MobilePay-appen, eller med kameraet",
    [KV_LANG_DA] = "Scan med MobilePay- eller Vipps-appen, eller med kameraet",
    [KV_LANG_FI] = "Skannaa MobilePay- tai Vipps-sovelluksella tai kameralla",
    [KV_LANG_SV] = "Skanna med Vipps- eller MobilePay-appen, eller med kameran",
    [KV_LANG_EN] = "Scan with the Vipps or MobilePay app, or the camera",
};
static const char *const expiry_labels[KV_LANG_COUNT] = {
    [KV_LANG_NB] = "Gyldig til", [KV_LANG_DA] = "Gyldig til", [KV_LANG_FI] = "Voimassa klo",
    [KV_LANG_SV] = "Giltig till", [KV_LANG_EN] = "Valid until",
};

static kv_lang lang_ok(kv_lang l)
{
    return (unsigned)l < KV_LANG_COUNT ? l : KV_LANG_NB;
}

const char *kv_slip_title(kv_lang lang) { return titles[lang_ok(lang)]; }
const char *kv_slip_amount_label(kv_lang lang) { return amount_labels[lang_ok(lang)]; }
const char *kv_slip_scan_text(kv_lang lang) { return scan_texts[lang_ok(lang)]; }
const char *kv_slip_expiry_label(kv_lang lang) { return expiry_labels[lang_ok(lang)]; }
const char *kv_slip_scan_text_app(kv_lang lang) { return scan_app_texts[lang_ok(lang)]; }

kv_escpos_status kv_slip_write(kv_escpos *e, const kv_slip_spec *spec)
{
    kv_escpos_status st = kv_escpos_status_get(e);
    if (st)
        return st;
    /* Invalid specs are reported through the encoder so the caller has one
     * place to read the message from. */
    if (!spec || spec->version != 1)
        return kv_escpos_fail(e, KV_ESCPOS_E_ARG, "slip: missing or unknown spec version");
    if (!spec->url || !*spec->url)
        return kv_escpos_fail(e, KV_ESCPOS_E_ARG, "slip: the QR URL is empty");
    for (const char *p = spec->url; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7F)
            return kv_escpos_fail(e, KV_ESCPOS_E_ARG,
                                  "slip: the QR URL must be printable ASCII without spaces");
    kv_lang lang = lang_ok(spec->lang);
    char money[64];
    if (spec->amount_minor < 0 ||
        kv_money_format(money, sizeof money, spec->amount_minor,
                        spec->currency ? spec->currency : "NOK", lang) < 0)
        return kv_escpos_fail(e, KV_ESCPOS_E_ARG,
                              "slip: bad amount or currency (want >= 0 and a 3-letter code)");

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
    kv_layout_wrap(e, spec->title && *spec->title ? spec->title : titles[lang]);
    kv_style normal = KV_STYLE_INIT;
    kv_escpos_style(e, &normal);
    char line[128];
    snprintf(line, sizeof line, "%s: %s", amount_labels[lang], money);
    kv_layout_wrap(e, line);
    kv_escpos_qr(e, spec->url, strlen(spec->url), &spec->qr);
    kv_layout_wrap(e, spec->scan_text && *spec->scan_text ? spec->scan_text : scan_texts[lang]);
    if (spec->reference && *spec->reference)
        kv_layout_wrap(e, spec->reference);
    if (spec->expiry && *spec->expiry) {
        snprintf(line, sizeof line, "%s %s", expiry_labels[lang], spec->expiry);
        kv_layout_wrap(e, line);
    }
    if (spec->no_cut)
        kv_escpos_feed_lines(e, kv_escpos_profile(e)->cut_feed_lines);
    else
        kv_escpos_cut(e, KV_CUT_PARTIAL);
    return kv_escpos_status_get(e);
}
