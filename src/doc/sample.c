/* sample.c - the fixed sample receipt (see sample.h). */
#include <stdio.h>

#include "src/doc/sample.h"

static const struct { const char *name; int qty; long unit; } items[] = {
    { "Cappuccino", 2, 4900 },
    { "Kanelbolle med ekstra mye kanel og perlesukker", 1, 3900 },
    { "Rødgrøt med fløte", 1, 6450 },
    { "Smørbrød, æg & sild", 3, 12550 },
};

static const char *const total_label[KV_LANG_COUNT] = {
    [KV_LANG_NB] = "Totalt", [KV_LANG_DA] = "I alt", [KV_LANG_FI] = "Yhteensä",
    [KV_LANG_SV] = "Totalt", [KV_LANG_EN] = "Total",
};
static const char *const paid_with[KV_LANG_COUNT] = {
    [KV_LANG_NB] = "Betalt med Vipps MobilePay", [KV_LANG_DA] = "Betalt med Vipps MobilePay",
    [KV_LANG_FI] = "Maksettu Vipps MobilePaylla", [KV_LANG_SV] = "Betalt med Vipps MobilePay",
    [KV_LANG_EN] = "Paid with Vipps MobilePay",
};

kv_escpos_status kv_sample_receipt_write(kv_escpos *e, kv_lang lang, const char *currency)
{
    if ((unsigned)lang >= KV_LANG_COUNT)
        return kv_escpos_fail(e, KV_ESCPOS_E_ARG, "sample receipt: unknown language");
    if (!currency)
        currency = "NOK";
    char money[64], left[96];
    if (kv_money_format(money, sizeof money, 0, currency, lang) < 0)
        return kv_escpos_fail(e, KV_ESCPOS_E_ARG, "sample receipt: bad currency");

    kv_escpos_init(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_style big = { KV_FONT_A, true, 0, 2, 2 }, normal = KV_STYLE_INIT;
    kv_escpos_style(e, &big);
    kv_layout_wrap(e, "Kaffebaren Grünerløkka");
    kv_escpos_style(e, &normal);
    kv_layout_wrap(e, "Thorvald Meyers gate 1, 0555 Oslo\nOrg.nr. 999 999 999 MVA");
    kv_escpos_align(e, KV_ALIGN_LEFT);
    kv_layout_rule(e, '-');
    long total = 0;
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        long sum = items[i].unit * items[i].qty;
        total += sum;
        snprintf(left, sizeof left, "%d x %s", items[i].qty, items[i].name);
        kv_money_format(money, sizeof money, sum, currency, lang);
        kv_layout_two_col(e, left, money);
    }
    kv_layout_rule(e, '=');
    kv_escpos_bold(e, true);
    kv_money_format(money, sizeof money, total, currency, lang);
    kv_layout_two_col(e, total_label[lang], money);
    kv_escpos_bold(e, false);
    kv_escpos_font(e, KV_FONT_B);
    kv_money_format(money, sizeof money, total / 5, currency, lang);
    snprintf(left, sizeof left, "MVA 25 %%");
    kv_layout_two_col(e, left, money);
    kv_escpos_font(e, KV_FONT_A);
    kv_escpos_newline(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_layout_wrap(e, paid_with[lang]);
    if (kv_escpos_profile(e)->barcodes) {
        kv_barcode_options bo = KV_BARCODE_OPTIONS_INIT;
        bo.height = 60;
        kv_escpos_barcode(e, KV_BARCODE_CODE128, "POS-1-20261125-0001", &bo);
    } else {
        kv_layout_wrap(e, "POS-1-20261125-0001");
    }
    kv_escpos_cut(e, KV_CUT_PARTIAL);
    return kv_escpos_status_get(e);
}
