/* zreport.c - the Z / X report on paper (zreport.h). */
#include "src/doc/zreport.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

enum {
    Z_TITLE, X_TITLE, Z_DATE, Z_TILL, Z_NUMBER, Z_SALES, Z_CAPTURES, Z_REFUNDS, Z_CANCELLED,
    Z_NOT_PAID, Z_NET, Z_VAT, Z_NO_ITEMS, Z_FIRST, Z_LAST, Z_OPEN, Z_NONE, Z_PRINTED, Z_NOT_CLOSED,
    Z_ORG, Z_COUNT
};

/* Columns: nb, da, fi, sv, en (kv_lang order). */
static const char *const texts[Z_COUNT][KV_LANG_COUNT] = {
    [Z_TITLE] = { "Z-RAPPORT", "Z-RAPPORT", "Z-RAPORTTI", "Z-RAPPORT", "Z REPORT" },
    [X_TITLE] = { "X-RAPPORT", "X-RAPPORT", "X-RAPORTTI", "X-RAPPORT", "X REPORT" },
    [Z_DATE] = { "Dato", "Dato", "Päivä", "Datum", "Date" },
    [Z_TILL] = { "Kasse", "Kasse", "Kassa", "Kassa", "Till" },
    [Z_NUMBER] = { "Z-nr.", "Z-nr.", "Z-nro", "Z-nr", "Z no." },
    [Z_SALES] = { "Salg", "Salg", "Myynti", "Försäljning", "Sales" },
    [Z_CAPTURES] = { "Trukket", "Hævet", "Veloitettu", "Dragna", "Captured" },
    [Z_REFUNDS] = { "Retur", "Retur", "Hyvitykset", "Returer", "Refunds" },
    [Z_CANCELLED] = { "Kansellert", "Annulleret", "Peruttu", "Annullerade", "Cancelled" },
    [Z_NOT_PAID] = { "Ikke betalt", "Ikke betalt", "Ei maksettu", "Inte betalda", "Not paid" },
    [Z_NET] = { "Netto", "Netto", "Netto", "Netto", "Net" },
    [Z_VAT] = { "MVA", "Moms", "ALV", "Moms", "VAT" },
    [Z_NO_ITEMS] = { "Uten varelinjer", "Uden varelinjer", "Ei tuoterivejä", "Utan varurader",
                     "Without items" },
    [Z_FIRST] = { "Første ref.", "Første ref.", "Ensimm. viite", "Första ref.", "First ref." },
    [Z_LAST] = { "Siste ref.", "Sidste ref.", "Viim. viite", "Sista ref.", "Last ref." },
    [Z_OPEN] = { "Åpne betalinger", "Åbne betalinger", "Avoimet maksut", "Öppna betalningar",
                 "Open payments" },
    [Z_NONE] = { "Ingen", "Ingen", "Ei yhtään", "Inga", "None" },
    [Z_PRINTED] = { "Utskrevet", "Udskrevet", "Tulostettu", "Utskriven", "Printed" },
    [Z_NOT_CLOSED] = { "Dagen er ikke avsluttet", "Dagen er ikke afsluttet", "Päivää ei ole suljettu",
                       "Dagen är inte avslutad", "The day is not closed" },
    [Z_ORG] = { "Org.nr.", "CVR-nr.", "Y-tunnus", "Org.nr", "Org. no." },
};

static const char *tx(kv_lang l, int id)
{
    return texts[id][(unsigned)l < KV_LANG_COUNT ? l : KV_LANG_EN];
}

static kv_escpos_status money(char *buf, size_t n, int64_t v, const char *cur, kv_lang lang)
{
    return kv_money_format(buf, n, v, cur, (unsigned)lang < KV_LANG_COUNT ? lang : KV_LANG_EN) < 0
               ? KV_ESCPOS_E_ARG : KV_ESCPOS_OK;
}

static kv_escpos_status fig_line(kv_escpos *e, const kv_zreport_spec *s, int label,
                                 const kv_zreport_fig *f, int negative)
{
    char m[48], l[96];
    if (money(m, sizeof m, negative ? -f->amount : f->amount, s->currency, s->lang))
        return KV_ESCPOS_E_ARG;
    snprintf(l, sizeof l, "%s (%" PRId64 ")", tx(s->lang, label), f->count);
    return kv_layout_two_col(e, l, m);
}

static void mark_copy(kv_escpos *e, kv_lang lang)
{
    kv_style big = KV_STYLE_INIT;
    big.bold = true;
    big.width = 2;
    big.height = 2;
    kv_style normal = KV_STYLE_INIT;
    char buf[64];
    snprintf(buf, sizeof buf, " %s ", kv_doc_copy_mark(lang));
    kv_escpos_style(e, &big);
    kv_escpos_reverse(e, true);
    kv_escpos_line(e, buf);
    kv_escpos_reverse(e, false);
    kv_escpos_style(e, &normal);
}

kv_escpos_status kv_zreport_write(kv_escpos *e, const kv_zreport_spec *s)
{
    if (!e || !s || !s->store.name || !s->currency || !s->date || !*s->date || !s->till_id ||
        !*s->till_id || (s->copy && s->z_number <= 0) || (s->n_vat && !s->vat) ||
        (s->n_open && !s->open_refs))
        return KV_ESCPOS_E_ARG;
    kv_lang lang = (unsigned)s->lang < KV_LANG_COUNT ? s->lang : KV_LANG_EN;
    kv_style normal = KV_STYLE_INIT, bold = KV_STYLE_INIT, big = KV_STYLE_INIT, tall = KV_STYLE_INIT;
    bold.bold = true;
    big.bold = true;
    big.width = 2;
    big.height = 2;
    tall.bold = true;
    tall.height = 2;
    char m[48], l[128];

    kv_escpos_init(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    if (s->copy)
        mark_copy(e, lang);
    kv_escpos_style(e, &bold);
    kv_layout_wrap(e, s->store.name);
    kv_escpos_style(e, &normal);
    if (s->store.address && *s->store.address)
        kv_layout_wrap(e, s->store.address);
    if (s->store.org_number && *s->store.org_number) {
        snprintf(l, sizeof l, "%s %s", tx(lang, Z_ORG), s->store.org_number);
        kv_layout_wrap(e, l);
    }
    kv_escpos_newline(e);
    kv_escpos_style(e, &big);
    kv_escpos_line(e, tx(lang, s->z_number > 0 ? Z_TITLE : X_TITLE));
    kv_escpos_style(e, &normal);
    kv_escpos_align(e, KV_ALIGN_LEFT);
    kv_layout_rule(e, '-');
    kv_layout_two_col(e, tx(lang, Z_DATE), s->date);
    kv_layout_two_col(e, tx(lang, Z_TILL), s->till_id);
    if (s->z_number > 0) {
        snprintf(l, sizeof l, "%" PRId64, s->z_number);
        kv_escpos_style(e, &bold);
        kv_layout_two_col(e, tx(lang, Z_NUMBER), l);
        kv_escpos_style(e, &normal);
    }
    kv_layout_rule(e, '-');
    if (fig_line(e, s, Z_SALES, &s->sales, 0) || fig_line(e, s, Z_CAPTURES, &s->captures, 0) ||
        fig_line(e, s, Z_REFUNDS, &s->refunds, 1) || fig_line(e, s, Z_CANCELLED, &s->cancelled, 0) ||
        fig_line(e, s, Z_NOT_PAID, &s->not_paid, 0))
        return kv_escpos_status_get(e) ? kv_escpos_status_get(e) : KV_ESCPOS_E_ARG;
    kv_layout_rule(e, '=');
    if (money(m, sizeof m, s->net, s->currency, lang))
        return KV_ESCPOS_E_ARG;
    kv_escpos_style(e, &tall);
    kv_layout_two_col(e, tx(lang, Z_NET), m);
    kv_escpos_style(e, &normal);
    if (s->n_vat)
        kv_layout_rule(e, '-');
    for (size_t k = 0; k < s->n_vat; k++) {
        const kv_zreport_vat *v = &s->vat[k];
        char g[48];
        if (money(g, sizeof g, v->gross, s->currency, lang) || money(m, sizeof m, v->vat, s->currency, lang))
            return KV_ESCPOS_E_ARG;
        if (v->rate_bp < 0) {
            kv_layout_two_col(e, tx(lang, Z_NO_ITEMS), g);
            continue;
        }
        if (v->rate_bp % 100)
            snprintf(l, sizeof l, "%s %d,%02d %% / %s", tx(lang, Z_VAT), v->rate_bp / 100, v->rate_bp % 100, g);
        else
            snprintf(l, sizeof l, "%s %d %% / %s", tx(lang, Z_VAT), v->rate_bp / 100, g);
        kv_layout_two_col(e, l, m);
    }
    kv_layout_rule(e, '-');
    if (s->first_ref && *s->first_ref) {
        kv_escpos_line(e, tx(lang, Z_FIRST));
        snprintf(l, sizeof l, "  %s", s->first_ref);
        kv_layout_wrap(e, l);
        kv_escpos_line(e, tx(lang, Z_LAST));
        snprintf(l, sizeof l, "  %s", s->last_ref ? s->last_ref : "");
        kv_layout_wrap(e, l);
    }
    kv_escpos_style(e, &bold);
    snprintf(l, sizeof l, "%s (%zu)", tx(lang, Z_OPEN), s->n_open);
    kv_escpos_line(e, l);
    kv_escpos_style(e, &normal);
    if (!s->n_open)
        kv_escpos_line(e, tx(lang, Z_NONE));
    for (size_t k = 0; k < s->n_open; k++) {
        if (s->open_states && s->open_states[k])
            snprintf(l, sizeof l, "  %s %s", s->open_refs[k], s->open_states[k]);
        else
            snprintf(l, sizeof l, "  %s", s->open_refs[k]);
        kv_layout_wrap(e, l);
    }
    kv_layout_rule(e, '-');
    if (s->time_text && *s->time_text)
        kv_layout_two_col(e, tx(lang, Z_PRINTED), s->time_text);
    if (s->z_number <= 0) {
        kv_escpos_align(e, KV_ALIGN_CENTER);
        kv_escpos_line(e, tx(lang, Z_NOT_CLOSED));
        kv_escpos_align(e, KV_ALIGN_LEFT);
    }
    if (s->copy) {
        kv_escpos_align(e, KV_ALIGN_CENTER);
        kv_escpos_bold(e, true);
        kv_escpos_line(e, kv_doc_copy_mark(lang));
        kv_escpos_bold(e, false);
        kv_escpos_align(e, KV_ALIGN_LEFT);
    }
    kv_escpos_cut(e, KV_CUT_PARTIAL);
    return kv_escpos_status_get(e);
}

kv_escpos_status kv_zreport_sample_write(kv_escpos *e, kv_lang lang, const char *currency)
{
    static const kv_zreport_vat vat[] = {
        { 2500, 44700, 8940 },
        { 1500, 11500, 1500 },
        { -1, 9900, 0 },
    };
    static const char *const open_refs[] = { "POS-1-20261125-0007" };
    static const char *const open_states[] = { "UNKNOWN" };
    kv_zreport_spec s = {
        .store = { "Kaffebaren Grünerløkka", "Thorvald Meyers gate 1, 0555 Oslo", "987 654 321" },
        .lang = lang,
        .currency = currency ? currency : "NOK",
        .date = "2026-11-25",
        .till_id = "1",
        .z_number = 42,
        .time_text = "2026-11-25 22:05",
        .sales = { 4, 66100 },
        .captures = { 4, 66100 },
        .refunds = { 1, 5000 },
        .cancelled = { 1, 2000 },
        .not_paid = { 1, 3000 },
        .net = 61100,
        .vat = vat,
        .n_vat = 3,
        .first_ref = "POS-1-20261125-0001",
        .last_ref = "POS-1-20261125-0007",
        .open_refs = open_refs,
        .open_states = open_states,
        .n_open = 1,
    };
    return kv_zreport_write(e, &s);
}
