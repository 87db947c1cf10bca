/* receipt.c - receipt, not-paid and refund documents per language. */
#include "src/doc/receipt.h"

#include <stdio.h>
#include <string.h>

enum {
    T_RECEIPT, T_PAID_WITH, T_TOTAL, T_VAT, T_REFERENCE, T_PSP, T_TIME, T_TILL, T_ORG,
    T_COPY, T_NOT_PAID, T_AMOUNT, T_REFUND, T_REFUNDED, T_REFUNDED_TOTAL, T_BOUGHT_AT,
    T_NOT_CHARGED, T_COUNT
};

/* Columns: nb, da, fi, sv, en (kv_lang order). */
static const char *const texts[T_COUNT][KV_LANG_COUNT] = {
    [T_RECEIPT] = { "KVITTERING", "KVITTERING", "KUITTI", "KVITTO", "RECEIPT" },
    [T_PAID_WITH] = { "Betalt med Vipps MobilePay", "Betalt med Vipps MobilePay",
                      "Maksettu Vipps MobilePaylla", "Betalt med Vipps MobilePay",
                      "Paid with Vipps MobilePay" },
    [T_TOTAL] = { "Totalt", "I alt", "Yhteensä", "Totalt", "Total" },
    [T_VAT] = { "herav MVA", "heraf moms", "josta ALV", "varav moms", "incl. VAT" },
    [T_REFERENCE] = { "Referanse", "Reference", "Viite", "Referens", "Reference" },
    [T_PSP] = { "Transaksjon", "Transaktion", "Tapahtuma", "Transaktion", "Transaction" },
    [T_TIME] = { "Tid", "Tid", "Aika", "Tid", "Time" },
    [T_TILL] = { "Kasse", "Kasse", "Kassa", "Kassa", "Till" },
    [T_ORG] = { "Org.nr.", "CVR-nr.", "Y-tunnus", "Org.nr", "Org. no." },
    [T_COPY] = { "KOPI", "KOPI", "KOPIO", "KOPIA", "COPY" },
    [T_NOT_PAID] = { "IKKE BETALT", "IKKE BETALT", "EI MAKSETTU", "INTE BETALD", "NOT PAID" },
    [T_AMOUNT] = { "Beløp", "Beløb", "Summa", "Belopp", "Amount" },
    [T_REFUND] = { "RETUR", "RETUR", "HYVITYS", "RETUR", "REFUND" },
    [T_REFUNDED] = { "Tilbakebetalt", "Tilbagebetalt", "Hyvitetty", "Återbetalt", "Refunded" },
    [T_REFUNDED_TOTAL] = { "Tilbakebetalt i alt", "Tilbagebetalt i alt", "Hyvitetty yhteensä",
                           "Återbetalt totalt", "Refunded in total" },
    [T_BOUGHT_AT] = { "Kjøpt i", "Købt i", "Ostettu", "Köpt i", "Bought at" },
    [T_NOT_CHARGED] = { "Ingen penger er trukket.", "Der er ikke trukket penge.",
                        "Rahaa ei ole veloitettu.", "Inga pengar har dragits.",
                        "No money was taken." },
};

static const char *const reasons[KV_NP_OTHER + 1][KV_LANG_COUNT] = {
    [KV_NP_ABORTED] = { "Avbrutt av kunden", "Afbrudt af kunden", "Asiakas keskeytti",
                        "Avbruten av kunden", "Cancelled by the customer" },
    [KV_NP_EXPIRED] = { "Tiden gikk ut", "Tiden udløb", "Aika umpeutui", "Tiden gick ut",
                        "The payment expired" },
    [KV_NP_CANCELLED] = { "Avbrutt i kassen", "Annulleret ved kassen", "Peruttu kassalla",
                          "Avbruten i kassan", "Cancelled at the till" },
    [KV_NP_REFUSED] = { "Avvist", "Afvist", "Hylätty", "Avvisad", "Refused" },
    [KV_NP_DECLINED] = { "Avvist i appen", "Afvist i appen", "Hylätty sovelluksessa", "Avvisad i appen",
                         "Declined in the app" },
    [KV_NP_OTHER] = { "Ikke fullført", "Ikke gennemført", "Ei suoritettu", "Inte genomförd",
                      "Not completed" },
};

static kv_lang fix_lang(kv_lang l)
{
    return (unsigned)l < KV_LANG_COUNT ? l : KV_LANG_EN;
}

static const char *tx(kv_lang l, int id)
{
    return texts[id][fix_lang(l)];
}

const char *kv_doc_paid_with(kv_lang lang) { return tx(lang, T_PAID_WITH); }
const char *kv_doc_copy_mark(kv_lang lang) { return tx(lang, T_COPY); }
const char *kv_doc_not_paid_title(kv_lang lang) { return tx(lang, T_NOT_PAID); }

const char *kv_doc_reason_text(kv_lang lang, kv_not_paid_reason r)
{
    if ((unsigned)r > KV_NP_OTHER)
        r = KV_NP_OTHER;
    return reasons[r][fix_lang(lang)];
}

static const kv_style st_normal = KV_STYLE_INIT;

static void header(kv_escpos *e, const kv_doc_store *s, kv_lang lang, const char *title, int copy)
{
    kv_style big = KV_STYLE_INIT;
    big.bold = true;
    big.width = 2;
    big.height = 2;
    kv_style bold = KV_STYLE_INIT;
    bold.bold = true;
    kv_escpos_init(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    if (copy) {
        kv_escpos_style(e, &big);
        kv_escpos_reverse(e, true);
        char buf[64];
        snprintf(buf, sizeof buf, " %s ", tx(lang, T_COPY));
        kv_escpos_line(e, buf);
        kv_escpos_reverse(e, false);
    }
    kv_escpos_style(e, &bold);
    kv_layout_wrap(e, s->name ? s->name : "");
    kv_escpos_style(e, &st_normal);
    if (s->address && *s->address)
        kv_layout_wrap(e, s->address);
    if (s->org_number && *s->org_number) {
        char buf[96];
        snprintf(buf, sizeof buf, "%s %s", tx(lang, T_ORG), s->org_number);
        kv_layout_wrap(e, buf);
    }
    kv_escpos_newline(e);
    kv_escpos_style(e, &big);
    kv_escpos_line(e, title);
    kv_escpos_style(e, &st_normal);
    kv_escpos_align(e, KV_ALIGN_LEFT);
    kv_layout_rule(e, '-');
}

static void kv_line(kv_escpos *e, const char *label, const char *value)
{
    if (value && *value)
        kv_layout_two_col(e, label, value);
}

static void footer(kv_escpos *e, kv_lang lang, const char *reference, const char *psp,
                   const char *time_text, const char *till, int copy)
{
    kv_line(e, tx(lang, T_REFERENCE), reference);
    kv_line(e, tx(lang, T_PSP), psp);
    kv_line(e, tx(lang, T_TIME), time_text);
    kv_line(e, tx(lang, T_TILL), till);
    if (copy) {
        kv_escpos_align(e, KV_ALIGN_CENTER);
        kv_escpos_bold(e, true);
        kv_escpos_line(e, tx(lang, T_COPY));
        kv_escpos_bold(e, false);
        kv_escpos_align(e, KV_ALIGN_LEFT);
    }
    kv_escpos_cut(e, KV_CUT_PARTIAL);
}

static int money(char *buf, size_t len, int64_t v, const char *cur, kv_lang lang)
{
    return kv_money_format(buf, len, v, cur, fix_lang(lang));
}

kv_escpos_status kv_receipt_write(kv_escpos *e, const kv_receipt_spec *s)
{
    if (!e || !s || !s->reference || !*s->reference || !s->currency || !s->store.name ||
        (s->n_items && !s->items) || s->total < 0)
        return KV_ESCPOS_E_ARG;
    kv_lang lang = fix_lang(s->lang);
    int64_t sum = 0;
    for (size_t i = 0; i < s->n_items; i++) {
        const kv_doc_item *it = &s->items[i];
        if (!it->name || it->quantity < 1 || it->unit_price < 0 || it->vat_bp < 0 || it->vat_bp > 10000)
            return KV_ESCPOS_E_ARG;
        sum += it->quantity * it->unit_price;
    }
    if (s->n_items && sum != s->total)
        return KV_ESCPOS_E_ARG;
    char m[48], line[160];
    header(e, &s->store, lang, tx(lang, T_RECEIPT), s->copy);
    /* VAT per rate: up to 8 distinct rates */
    int rates[8];
    int64_t gross[8];
    size_t nr = 0;
    for (size_t i = 0; i < s->n_items; i++) {
        const kv_doc_item *it = &s->items[i];
        int64_t lt = it->quantity * it->unit_price;
        if (money(m, sizeof m, lt, s->currency, lang) < 0)
            return KV_ESCPOS_E_ARG;
        if (it->quantity > 1) {
            char up[48];
            money(up, sizeof up, it->unit_price, s->currency, lang);
            kv_layout_wrap(e, it->name);
            snprintf(line, sizeof line, "  %lld x %s", (long long)it->quantity, up);
            kv_layout_two_col(e, line, m);
        } else {
            kv_layout_two_col(e, it->name, m);
        }
        size_t k;
        for (k = 0; k < nr; k++)
            if (rates[k] == it->vat_bp)
                break;
        if (k == nr) {
            if (nr == 8)
                return KV_ESCPOS_E_ARG;
            rates[nr] = it->vat_bp;
            gross[nr++] = 0;
        }
        gross[k] += lt;
    }
    if (s->n_items)
        kv_layout_rule(e, '-');
    kv_style bold2 = KV_STYLE_INIT;
    bold2.bold = true;
    bold2.height = 2;
    kv_escpos_style(e, &bold2);
    if (money(m, sizeof m, s->total, s->currency, lang) < 0)
        return KV_ESCPOS_E_ARG;
    kv_layout_two_col(e, tx(lang, T_TOTAL), m);
    kv_escpos_style(e, &st_normal);
    for (size_t k = 0; k < nr; k++) {
        /* VAT included in a gross amount: gross * r / (1 + r), rounded half up */
        int64_t vat = (gross[k] * rates[k] * 2 + (10000 + rates[k])) / (2 * (10000 + rates[k]));
        money(m, sizeof m, vat, s->currency, lang);
        if (rates[k] % 100)
            snprintf(line, sizeof line, "%s %d,%02d %%", tx(lang, T_VAT), rates[k] / 100, rates[k] % 100);
        else
            snprintf(line, sizeof line, "%s %d %%", tx(lang, T_VAT), rates[k] / 100);
        kv_layout_two_col(e, line, m);
    }
    kv_escpos_newline(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_escpos_bold(e, true);
    kv_layout_wrap(e, tx(lang, T_PAID_WITH));
    kv_escpos_bold(e, false);
    kv_escpos_align(e, KV_ALIGN_LEFT);
    kv_escpos_newline(e);
    footer(e, lang, s->reference, s->psp_reference, s->time_text, s->till_id, s->copy);
    return kv_escpos_status_get(e);
}

kv_escpos_status kv_not_paid_write(kv_escpos *e, const kv_not_paid_spec *s)
{
    if (!e || !s || !s->reference || !s->currency || !s->store.name)
        return KV_ESCPOS_E_ARG;
    kv_lang lang = fix_lang(s->lang);
    char m[48];
    header(e, &s->store, lang, tx(lang, T_NOT_PAID), s->copy);
    if (money(m, sizeof m, s->amount, s->currency, lang) < 0)
        return KV_ESCPOS_E_ARG;
    kv_layout_two_col(e, tx(lang, T_AMOUNT), m);
    kv_escpos_newline(e);
    kv_escpos_bold(e, true);
    kv_layout_wrap(e, kv_doc_reason_text(lang, s->reason));
    kv_escpos_bold(e, false);
    if (s->reason_text && *s->reason_text)
        kv_layout_wrap(e, s->reason_text);
    kv_layout_wrap(e, tx(lang, T_NOT_CHARGED));
    kv_escpos_newline(e);
    footer(e, lang, s->reference, NULL, s->time_text, s->till_id, s->copy);
    return kv_escpos_status_get(e);
}

kv_escpos_status kv_refund_write(kv_escpos *e, const kv_refund_spec *s)
{
    if (!e || !s || !s->reference || !s->currency || !s->store.name || s->amount <= 0)
        return KV_ESCPOS_E_ARG;
    kv_lang lang = fix_lang(s->lang);
    char m[48];
    header(e, &s->store, lang, tx(lang, T_REFUND), s->copy);
    if (s->origin_store && *s->origin_store)
        kv_layout_two_col(e, tx(lang, T_BOUGHT_AT), s->origin_store);
    kv_style bold2 = KV_STYLE_INIT;
    bold2.bold = true;
    bold2.height = 2;
    kv_escpos_style(e, &bold2);
    if (money(m, sizeof m, s->amount, s->currency, lang) < 0)
        return KV_ESCPOS_E_ARG;
    kv_layout_two_col(e, tx(lang, T_REFUNDED), m);
    kv_escpos_style(e, &st_normal);
    if (s->refunded_total > s->amount) {
        money(m, sizeof m, s->refunded_total, s->currency, lang);
        kv_layout_two_col(e, tx(lang, T_REFUNDED_TOTAL), m);
    }
    kv_escpos_newline(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_layout_wrap(e, "Vipps MobilePay");
    kv_escpos_align(e, KV_ALIGN_LEFT);
    kv_escpos_newline(e);
    footer(e, lang, s->reference, s->psp_reference, s->time_text, s->till_id, s->copy);
    return kv_escpos_status_get(e);
}
