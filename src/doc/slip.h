/*
 * slip.h - the QR payment slip: what the customer scans at the till.
 *
 * Written onto a kv_escpos encoder (escpos/encoder.h), in this order:
 * optional store name, the title ("Betal med Vipps" per language) bold
 * double size, the amount line ("Beløp: 149,00 kr"), the QR code (centred,
 * with its quiet zone), "scan with the app or camera" text, the reference,
 * an optional expiry line, then a feed and a partial cut per profile.
 *
 * Pure: no I/O; the caller sends kv_escpos_data() to a printer.  The same
 * spec always gives the same bytes.
 */
#ifndef KV_DOC_SLIP_H
#define KV_DOC_SLIP_H

#include <stdbool.h>
#include <stdint.h>

#include "escpos/encoder.h"
#include "escpos/layout.h"

typedef struct kv_slip_spec {
    int version;               /* 1 */
    const char *url;           /* QR payload: printable ASCII, required */
    int64_t amount_minor;      /* amount in 1/100 units, >= 0 */
    const char *currency;      /* ISO code, NULL = "NOK" */
    kv_lang lang;              /* texts and money format */
    const char *store_name;    /* optional first line */
    const char *title;         /* optional override of the title text */
    const char *reference;     /* optional, e.g. "POS-1-20261125-0001" */
    const char *expiry;        /* optional, preformatted time ("12:45") */
    kv_qr_options qr;          /* mode / module (6) / EC (M) */
    bool no_init;              /* do not send the job prologue (ESC @ ...):
                                  the slip continues an existing job */
    bool no_cut;               /* end with a feed but no cut */
    const char *scan_text;     /* optional override of the scan text; the
                                  till flow uses kv_slip_scan_text_app() */
} kv_slip_spec;
#define KV_SLIP_SPEC_INIT { 1, NULL, 0, NULL, KV_LANG_NB, NULL, NULL, NULL, NULL, \
                            KV_QR_OPTIONS_INIT, false, false, NULL }

/* The per-language texts (static, never free). */
const char *kv_slip_title(kv_lang lang);       /* "Betal med Vipps" */
const char *kv_slip_amount_label(kv_lang lang);/* "Beløp" */
const char *kv_slip_scan_text(kv_lang lang);   /* "Skann med kamera-appen" */
const char *kv_slip_expiry_label(kv_lang lang);/* "Gyldig til" */
/* The longer text a payment slip at the till carries: scan with the Vipps
 * or MobilePay app, or the phone's camera. */
const char *kv_slip_scan_text_app(kv_lang lang);

/* Append the slip to e.  Returns KV_ESCPOS_OK, or the encoder's error
 * (KV_ESCPOS_E_ARG for a missing/non-ASCII url or a bad amount or currency,
 * KV_ESCPOS_E_QR_TOO_BIG, KV_ESCPOS_E_UNSUPPORTED for native QR on a profile
 * without it, ...); kv_escpos_errmsg(e) then says why.  On error the
 * encoder's bytes are incomplete and must not be printed. */
kv_escpos_status kv_slip_write(kv_escpos *e, const kv_slip_spec *spec);

#endif
