/*
 * zreport.h - the end-of-day report on paper: the Z report (the day
 * closed, with its running number per till) and the X report (figures
 * without a number, the day stays open), in nb/da/fi/sv/en.
 *
 * Pure like receipt.h: no I/O, no clock (the caller passes the time as
 * text), text from outside goes through the encoder's sanitising path.
 */
#ifndef KV_DOC_ZREPORT_H
#define KV_DOC_ZREPORT_H

#include <stddef.h>
#include <stdint.h>

#include "escpos/encoder.h"
#include "escpos/layout.h"
#include "src/doc/receipt.h"

typedef struct kv_zreport_fig {
    int64_t count;
    int64_t amount;             /* minor units */
} kv_zreport_fig;

typedef struct kv_zreport_vat {
    int rate_bp;                /* 2500 = 25 %; -1: sales without items (gross only) */
    int64_t gross;
    int64_t vat;
} kv_zreport_vat;

typedef struct kv_zreport_spec {
    kv_doc_store store;
    kv_lang lang;
    const char *currency;       /* "NOK" | "DKK" | "EUR" | "SEK" */
    const char *date;           /* the day, "YYYY-MM-DD"; required */
    const char *till_id;        /* required */
    int64_t z_number;           /* > 0: Z report; 0: X report (no number) */
    int copy;                   /* 1: a closed day printed again (COPY) */
    const char *time_text;      /* when printed, preformatted local time */
    kv_zreport_fig sales, captures, refunds, cancelled, not_paid;
    int64_t net;                /* captures - refunds */
    const kv_zreport_vat *vat;  /* may be NULL when n_vat is 0 */
    size_t n_vat;
    const char *first_ref;      /* optional */
    const char *last_ref;       /* optional */
    const char *const *open_refs;   /* references still open (waiting/unknown) */
    const char *const *open_states; /* their states, same length; may be NULL */
    size_t n_open;
} kv_zreport_spec;

/* Append the report to e (ESC @ prologue, store header, title, date, till,
 * Z number, counts and sums, net in bold, VAT per rate, first and last
 * reference, the open payments by name, print time, COPY marking, cut).
 * Returns KV_ESCPOS_OK or the encoder's error; KV_ESCPOS_E_ARG for a
 * missing required field or a copy without a Z number. */
kv_escpos_status kv_zreport_write(kv_escpos *e, const kv_zreport_spec *spec);

/* A fixed Z report (Z 42 of till 1, 2026-11-25, six payments of three
 * kinds, two VAT rates, one sale without items, one open payment) for
 * the golden fixtures and printer tests (`kvitt report sample`). */
kv_escpos_status kv_zreport_sample_write(kv_escpos *e, kv_lang lang, const char *currency);

#endif
