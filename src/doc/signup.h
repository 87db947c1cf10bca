/*
 * signup.h - the partner sign-up sheet: the prefilled product order's link
 * as a QR code on the receipt printer, for a new merchant to sign on the
 * spot with the phone.  Pure like receipt.h (no I/O, no clock).
 */
#ifndef KV_DOC_SIGNUP_H
#define KV_DOC_SIGNUP_H

#include "escpos/encoder.h"
#include "escpos/layout.h"

typedef struct kv_signup_spec {
    kv_lang lang;
    const char *org_number;     /* required */
    const char *name;           /* optional: the sales unit's name */
    const char *url;            /* required: the prefill link (printable ASCII) */
    const char *time_text;      /* optional */
} kv_signup_spec;

/* Append the sheet (prologue, title, organisation number, the QR code of
 * url, the url as text, cut).  Returns the encoder status;
 * KV_ESCPOS_E_ARG for a missing field or a url with other than printable
 * ASCII. */
kv_escpos_status kv_signup_write(kv_escpos *e, const kv_signup_spec *s);

#endif
