/*
 * receipt.h - the till's paper documents other than the QR slip
 * (src/doc/slip.h): the receipt, the "not paid" slip and the refund slip,
 * in nb/da/fi/sv/en, built with the escpos layout helpers.
 *
 * Pure: no I/O, no clock (the caller passes the time as text), no
 * allocation beyond the encoder's buffer.  Text from outside (store names,
 * item names, references) goes through the encoder's sanitising text path,
 * so it can never become a printer command.
 */
#ifndef KV_DOC_RECEIPT_H
#define KV_DOC_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "escpos/encoder.h"
#include "escpos/layout.h"

/* One sold line. */
typedef struct kv_doc_item {
    const char *name;        /* borrowed */
    int64_t quantity;        /* whole units, >= 1 */
    int64_t unit_price;      /* minor units incl. VAT */
    int vat_bp;              /* VAT rate in hundredths of a percent: 2500 = 25 % */
} kv_doc_item;

/* The store header printed on every document. */
typedef struct kv_doc_store {
    const char *name;        /* required */
    const char *address;     /* optional */
    const char *org_number;  /* optional */
} kv_doc_store;

typedef struct kv_receipt_spec {
    kv_doc_store store;
    kv_lang lang;
    const char *currency;        /* "NOK" | "DKK" | "EUR" */
    const kv_doc_item *items;    /* may be NULL when n_items is 0 */
    size_t n_items;
    int64_t total;               /* minor units; must equal the items' sum when items exist */
    const char *reference;       /* required */
    const char *psp_reference;   /* optional */
    const char *time_text;       /* preformatted local time, e.g. "2026-11-25 19:30" */
    const char *till_id;         /* optional */
    int copy;                    /* 1: marked COPY (reprint / recover) */
} kv_receipt_spec;

/* Append a receipt to e (ESC @ prologue, header, items with VAT, total,
 * "Betalt med Vipps MobilePay" in the language, reference, pspReference,
 * time, till, COPY marking when copy, cut).  Returns KV_ESCPOS_OK or the
 * encoder's error; KV_ESCPOS_E_ARG when the items do not add up to total
 * or a required field is missing. */
kv_escpos_status kv_receipt_write(kv_escpos *e, const kv_receipt_spec *spec);

/* Why a payment was not paid. */
typedef enum {
    KV_NP_ABORTED = 0,   /* the customer cancelled in the app */
    KV_NP_EXPIRED,       /* nobody paid before the QR expired */
    KV_NP_CANCELLED,     /* cancelled at the till (timeout, Ctrl-C, printer) */
    KV_NP_REFUSED,       /* refused by Vipps MobilePay (reason text given) */
    KV_NP_DECLINED,      /* the card or account declined it in the app */
    KV_NP_OTHER
} kv_not_paid_reason;

typedef struct kv_not_paid_spec {
    kv_doc_store store;
    kv_lang lang;
    const char *currency;
    int64_t amount;
    const char *reference;
    kv_not_paid_reason reason;
    const char *reason_text;     /* optional extra text (cashier message) */
    const char *time_text;
    const char *till_id;
    int copy;
} kv_not_paid_spec;

/* Append a short "not paid" slip with the reason.  Same returns. */
kv_escpos_status kv_not_paid_write(kv_escpos *e, const kv_not_paid_spec *spec);

typedef struct kv_refund_spec {
    kv_doc_store store;          /* the store printing it (where the cashier is) */
    const char *origin_store;    /* name of the store of the purchase, NULL when the same */
    kv_lang lang;
    const char *currency;
    int64_t amount;              /* refunded now */
    int64_t refunded_total;      /* refunded in all, including now */
    int64_t captured;            /* captured originally */
    const char *reference;
    const char *psp_reference;
    const char *time_text;
    const char *till_id;
    int copy;
} kv_refund_spec;

/* Append a refund slip.  Same returns. */
kv_escpos_status kv_refund_write(kv_escpos *e, const kv_refund_spec *spec);

/* Per-language texts (static, never free): */
const char *kv_doc_paid_with(kv_lang lang);     /* "Betalt med Vipps MobilePay" */
const char *kv_doc_copy_mark(kv_lang lang);     /* "KOPI" */
const char *kv_doc_not_paid_title(kv_lang lang);/* "IKKE BETALT" */
const char *kv_doc_reason_text(kv_lang lang, kv_not_paid_reason r);

#endif
