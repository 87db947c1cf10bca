/* signup.c - the partner sign-up sheet (signup.h). */
#include "src/doc/signup.h"

#include <stdio.h>
#include <string.h>

enum { S_TITLE, S_SCAN, S_ORG, S_TIME, S_COUNT };

/* Columns: nb, da, fi, sv, en (kv_lang order). */
static const char *const texts[S_COUNT][KV_LANG_COUNT] = {
    [S_TITLE] = { "Bli Vipps MobilePay-kunde", "Bliv Vipps MobilePay-kunde", "Liity Vipps MobilePay -asiakkaaksi",
                  "Bli Vipps MobilePay-kund", "Sign up for Vipps MobilePay" },
    [S_SCAN] = { "Skann koden med mobilen og fullfør bestillingen",
                 "Scan koden med mobilen og gør bestillingen færdig",
                 "Skannaa koodi puhelimella ja viimeistele tilaus",
                 "Skanna koden med mobilen och slutför beställningen",
                 "Scan the code with your phone and complete the order" },
    [S_ORG] = { "Org.nr.", "CVR-nr.", "Y-tunnus", "Org.nr", "Org. no." },
    [S_TIME] = { "Tid", "Tid", "Aika", "Tid", "Time" },
};

kv_escpos_status kv_signup_write(kv_escpos *e, const kv_signup_spec *s)
{
    if (!e || !s || !s->org_number || !*s->org_number || !s->url || !*s->url)
        return KV_ESCPOS_E_ARG;
    for (const unsigned char *p = (const unsigned char *)s->url; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return KV_ESCPOS_E_ARG;
    kv_lang l = (unsigned)s->lang < KV_LANG_COUNT ? s->lang : KV_LANG_EN;
    kv_style big = KV_STYLE_INIT, normal = KV_STYLE_INIT;
    big.bold = true;
    big.height = 2;
    char line[160];
    kv_escpos_init(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_escpos_style(e, &big);
    kv_layout_wrap(e, texts[S_TITLE][l]);
    kv_escpos_style(e, &normal);
    if (s->name && *s->name)
        kv_layout_wrap(e, s->name);
    snprintf(line, sizeof line, "%s %s", texts[S_ORG][l], s->org_number);
    kv_layout_wrap(e, line);
    kv_qr_options qo = KV_QR_OPTIONS_INIT;
    kv_escpos_status st = kv_escpos_qr(e, s->url, strlen(s->url), &qo);
    if (st)
        return st;
    kv_layout_wrap(e, texts[S_SCAN][l]);
    kv_escpos_newline(e);
    kv_escpos_align(e, KV_ALIGN_LEFT);
    kv_layout_wrap(e, s->url);
    if (s->time_text && *s->time_text)
        kv_layout_two_col(e, texts[S_TIME][l], s->time_text);
    kv_escpos_cut(e, KV_CUT_PARTIAL);
    return kv_escpos_status_get(e);
}
