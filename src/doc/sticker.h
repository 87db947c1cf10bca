/*
 * sticker.h - the sticker placard: a merchant-callback QR printed on the
 * till's receipt printer, to be stuck on the counter (the customer scans
 * it and pays in the app; the till has no screen).
 *
 * Written onto a kv_escpos encoder, in this order: optional store name
 * (bold), the title ("Betal med Vipps" per language, double size), the
 * large QR (Vipps' own image as a raster when given, else the content as
 * a QR code with the largest module that fits the paper), "Scan to pay
 * with Vipps or MobilePay" in the store's language (bold), the location
 * text (double height), a feed and a full cut.
 *
 * Pure: no I/O; the same spec always gives the same bytes.  Text on paper
 * goes through the encoder's code page, so it never injects commands.
 */
#ifndef KV_DOC_STICKER_H
#define KV_DOC_STICKER_H

#include <stdbool.h>
#include <stdint.h>

#include "escpos/encoder.h"
#include "escpos/layout.h"

typedef struct kv_sticker_spec {
    int version;               /* 1 */
    const char *content;       /* the QR content (qrContent): printable
                                  ASCII, required (drawn when no image) */
    const uint8_t *bits;       /* Vipps' image: 1-bit rows (MSB left, 1 =
                                  black), or NULL to draw content */
    unsigned width_bytes;      /* bytes per row of bits */
    unsigned height;           /* rows of bits */
    kv_lang lang;              /* texts */
    const char *store_name;    /* optional first line */
    const char *location;      /* optional, e.g. "Kasse 1" (<= 36 chars) */
    kv_qr_options qr;          /* when drawing: mode and EC; module 0 =
                                  the largest that fits the paper */
    bool no_init;              /* do not send ESC @ first */
} kv_sticker_spec;
#define KV_STICKER_SPEC_INIT { 1, NULL, NULL, 0, 0, KV_LANG_NB, NULL, NULL, \
                               KV_QR_OPTIONS_INIT, false }

/* "Skann for å betale med Vipps eller MobilePay" etc. (static). */
const char *kv_sticker_scan_text(kv_lang lang);

/* Append the placard to e.  KV_ESCPOS_OK or the encoder's error
 * (KV_ESCPOS_E_ARG for a missing/non-ASCII content, KV_ESCPOS_E_QR_TOO_BIG
 * ...); kv_escpos_errmsg(e) says why. */
kv_escpos_status kv_sticker_write(kv_escpos *e, const kv_sticker_spec *spec);

#endif
