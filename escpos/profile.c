/* profile.c - the printer profile table (facts: ../shared/docs/escpos.md
 * sections 1.2, 1.8, 1.12 and 3; cross-checked by test_escpos_profile). */
#include <string.h>

#include "escpos/profile.h"

/* Cutting: cut_feed_b = GS V 66/65 n (feed to the cutter, then cut), the
 * default of escpos-php and python-escpos, so widely understood; Star's
 * ESC/POS emulation is not confirmed, so it feeds (ESC d) and cuts with
 * GS V 1/0 instead. */

/* ESC t numbers in kv_codepage order: PC437, PC850, PC858, PC865, WPC1252. */
#define CP_EPSON   { 0, 2, 19, 5, 16 }
/* Citizen: n=2 is PC858 (not PC850), PC858 also at 19; no PC850 at all. */
#define CP_CITIZEN { 0, -1, 19, 5, 16 }
/* Bixolon legacy table (SRP-350): no WPC1252. */
#define CP_BIXOLON_LEGACY { 0, 2, 19, 5, -1 }

static const kv_profile profiles[] = {
    {
        .name = "generic-80", .description = "Generic 80 mm ESC/POS printer (203 dpi, 576 dots)",
        .dots = 576, .dpi = 203, .paper_mm = 80, .columns_a = 48, .columns_b = 64,
        .font_a_width = 12, .font_b_width = 9, .codepage_number = CP_EPSON, .codepage_alias_number = -1,
        .codepage = KV_CP_PC858, .native_qr = true, .barcodes = true, .cutter = true,
        .cut_feed_b = true, .cut_feed_lines = 4, .drawer = true,
    },
    {
        .name = "generic-58", .description = "Generic 58 mm ESC/POS printer (203 dpi, 384 dots, no cutter)",
        .dots = 384, .dpi = 203, .paper_mm = 58, .columns_a = 32, .columns_b = 42,
        .font_a_width = 12, .font_b_width = 9, .codepage_number = CP_EPSON, .codepage_alias_number = -1,
        .codepage = KV_CP_PC858, .native_qr = false, .barcodes = false, .cutter = false,
        .cut_feed_b = false, .cut_feed_lines = 3, .drawer = false,
    },
    {
        .name = "epson-tm-t20", .description = "Epson TM-T20/T20II/T20III (203 dpi, 576 dots)",
        .dots = 576, .dpi = 203, .paper_mm = 80, .columns_a = 48, .columns_b = 64,
        .font_a_width = 12, .font_b_width = 9, .codepage_number = CP_EPSON, .codepage_alias_number = -1,
        .codepage = KV_CP_PC858, .native_qr = true, .barcodes = true, .cutter = true,
        .cut_feed_b = true, .cut_feed_lines = 4, .drawer = true,
    },
    {
        .name = "epson-tm-t88", .description = "Epson TM-T88IV..VII (180 dpi, 512 dots)",
        .dots = 512, .dpi = 180, .paper_mm = 80, .columns_a = 42, .columns_b = 56,
        .font_a_width = 12, .font_b_width = 9, .codepage_number = CP_EPSON, .codepage_alias_number = -1,
        .codepage = KV_CP_PC858, .native_qr = true, .barcodes = true, .cutter = true,
        .cut_feed_b = true, .cut_feed_lines = 4, .drawer = true,
    },
    {
        .name = "epson-tm-t88iii", .description = "Epson TM-T88III and older (180 dpi, 512 dots, no native QR)",
        .dots = 512, .dpi = 180, .paper_mm = 80, .columns_a = 42, .columns_b = 56,
        .font_a_width = 12, .font_b_width = 9, .codepage_number = CP_EPSON, .codepage_alias_number = -1,
        .codepage = KV_CP_PC858, .native_qr = false, .barcodes = true, .cutter = true,
        .cut_feed_b = true, .cut_feed_lines = 4, .drawer = true,
    },
    {
        .name = "star-tsp650", .description = "Star TSP650/650II in ESC/POS emulation (203 dpi, 576 dots)",
        .dots = 576, .dpi = 203, .paper_mm = 80, .columns_a = 48, .columns_b = 64,
        .font_a_width = 12, .font_b_width = 9, .codepage_number = CP_EPSON, .codepage_alias_number = -1,
        .codepage = KV_CP_PC858, .native_qr = false, .barcodes = true, .cutter = true,
        .cut_feed_b = false, .cut_feed_lines = 3, .drawer = true,
    },
    {
        .name = "citizen-ct-s310", .description = "Citizen CT-S310/S310II (203 dpi, 576 dots)",
        .dots = 576, .dpi = 203, .paper_mm = 80, .columns_a = 48, .columns_b = 64,
        .font_a_width = 12, .font_b_width = 9, .codepage_number = CP_CITIZEN,
        .codepage_alias_number = 2, .codepage_alias = KV_CP_PC858,
        .codepage = KV_CP_PC858, .native_qr = true, .barcodes = true, .cutter = true,
        .cut_feed_b = true, .cut_feed_lines = 3, .drawer = true,
    },
    {
        .name = "bixolon-srp350", .description = "Bixolon SRP-350 (180 dpi, 512 dots, no native QR)",
        .dots = 512, .dpi = 180, .paper_mm = 80, .columns_a = 42, .columns_b = 56,
        .font_a_width = 12, .font_b_width = 9, .codepage_number = CP_BIXOLON_LEGACY, .codepage_alias_number = -1,
        .codepage = KV_CP_PC858, .native_qr = false, .barcodes = true, .cutter = true,
        .cut_feed_b = true, .cut_feed_lines = 4, .drawer = true,
    },
    {
        .name = "xprinter-xp-n160", .description = "Xprinter XP-N160II class 80 mm (203 dpi, 576 dots)",
        .dots = 576, .dpi = 203, .paper_mm = 80, .columns_a = 48, .columns_b = 64,
        .font_a_width = 12, .font_b_width = 9, .codepage_number = CP_EPSON, .codepage_alias_number = -1,
        .codepage = KV_CP_PC858, .native_qr = true, .barcodes = true, .cutter = true,
        .cut_feed_b = true, .cut_feed_lines = 4, .drawer = true,
    },
    {
        .name = "pos-5890", .description = "Zjiang POS-5890 / ZJ-5890 58 mm (203 dpi, 384 dots, no cutter)",
        .dots = 384, .dpi = 203, .paper_mm = 58, .columns_a = 32, .columns_b = 42,
        .font_a_width = 12, .font_b_width = 9, .codepage_number = CP_EPSON, .codepage_alias_number = -1,
        .codepage = KV_CP_PC858, .native_qr = false, .barcodes = false, .cutter = false,
        .cut_feed_b = false, .cut_feed_lines = 3, .drawer = true,
    },
};

#define NPROFILES (sizeof profiles / sizeof profiles[0])

const kv_profile *kv_profile_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < NPROFILES; i++)
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    return NULL;
}

const kv_profile *kv_profile_default(void)
{
    return &profiles[0];
}

size_t kv_profile_count(void)
{
    return NPROFILES;
}

const kv_profile *kv_profile_at(size_t i)
{
    return i < NPROFILES ? &profiles[i] : NULL;
}

int kv_profile_codepage_number(const kv_profile *p, kv_codepage cp)
{
    if ((unsigned)cp >= KV_CP_COUNT)
        return -1;
    if (!p)
        return kv_codepage_escpos_number(cp);
    return p->codepage_number[cp];
}

int kv_profile_codepage_from_number(kv_codepage *out, const kv_profile *p, int n)
{
    if (!p)
        return kv_codepage_from_escpos(out, n);
    for (int i = 0; i < KV_CP_COUNT; i++) {
        if (p->codepage_number[i] == n && n >= 0) {
            *out = (kv_codepage)i;
            return 0;
        }
    }
    if (n >= 0 && p->codepage_alias_number == n) {
        *out = p->codepage_alias;
        return 0;
    }
    return -1;
}

unsigned kv_profile_columns(const kv_profile *p, kv_font f, unsigned w)
{
    if (!p || w < 1 || w > 8)
        return 0;
    unsigned cols = f == KV_FONT_B ? p->columns_b : p->columns_a;
    return cols / w;
}
