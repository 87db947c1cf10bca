/*
 * profile.h - the printer profiles kvitt knows: paper width in dots,
 * resolution, columns per font, ESC t numbers of the code pages, native QR,
 * cutter and drawer.
 *
 * The table is constant data compiled into the library (written from the
 * facts in ../shared/docs/escpos.md, cross-checked against escpos-printer-db
 * and ReceiptPrinterEncoder by tests/test_escpos_profile.c).  Profiles are
 * static: pointers returned here are valid for the life of the process and
 * must not be freed.  All functions are thread-safe.
 */
#ifndef KV_ESCPOS_PROFILE_H
#define KV_ESCPOS_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "escpos/codepage.h"

/* Fonts selectable with ESC M / ESC ! bit 0. */
typedef enum kv_font {
    KV_FONT_A = 0,   /* 12x24 dots */
    KV_FONT_B = 1    /* 9x17 (or 9x24) dots */
} kv_font;

typedef struct kv_profile {
    const char *name;        /* "epson-tm-t88": what --profile takes */
    const char *description; /* "Epson TM-T88IV..VII (180 dpi, 80 mm)" */
    uint16_t dots;           /* printable width in dots (384, 512, 576) */
    uint16_t dpi;            /* 180 or 203 */
    uint8_t paper_mm;        /* paper width: 58 or 80 */
    uint8_t columns_a;       /* characters per line, font A, width 1 */
    uint8_t columns_b;       /* characters per line, font B, width 1 */
    uint8_t font_a_width;    /* font A cell width in dots (12) */
    uint8_t font_b_width;    /* font B cell width in dots (9) */
    /* ESC t number for each kv_codepage, -1 = not available on this model. */
    int16_t codepage_number[KV_CP_COUNT];
    /* A second ESC t number that selects one of the pages (Citizen: 2 also
     * selects PC858), -1 = none.  Only used when decoding. */
    int16_t codepage_alias_number;
    kv_codepage codepage_alias;
    kv_codepage codepage;    /* page used when the caller does not choose */
    bool native_qr;          /* GS ( k QR model 2 works */
    bool barcodes;           /* GS k 1D barcodes work */
    bool cutter;             /* has an auto-cutter (GS V) */
    bool cut_feed_b;         /* understands GS V 65/66 n (feed + cut) */
    uint8_t cut_feed_lines;  /* lines to feed before a function-A cut or
                                before tearing off when there is no cutter */
    bool drawer;             /* has a drawer kick-out connector (ESC p) */
} kv_profile;

/* Profile by exact name (see kv_profile_at for the list), or NULL. */
const kv_profile *kv_profile_find(const char *name);

/* The default profile: "generic-80". Never NULL. */
const kv_profile *kv_profile_default(void);

/* Number of profiles, and profile i (0 <= i < count), NULL when out of
 * range.  Iterate: for (i = 0; (p = kv_profile_at(i)); i++). */
size_t kv_profile_count(void);
const kv_profile *kv_profile_at(size_t i);

/* ESC t number of page cp on profile p, or -1 when p lacks it.  p may be
 * NULL: Epson numbering (kv_codepage_escpos_number). */
int kv_profile_codepage_number(const kv_profile *p, kv_codepage cp);

/* Reverse: which page does ESC t n select on profile p?  p NULL = Epson
 * numbering.  Returns 0 and sets *out, or -1 (out untouched) when n is not
 * one of the pages kvitt knows for that profile. */
int kv_profile_codepage_from_number(kv_codepage *out, const kv_profile *p, int n);

/* Characters per line for font f at character width multiplier w (1..8,
 * GS ! width).  0 when w is out of range. */
unsigned kv_profile_columns(const kv_profile *p, kv_font f, unsigned w);

#endif
