/*
 * sample.h - a fixed sample receipt for printer tests, demos and the golden
 * fixtures (`kvitt sample-receipt`).  It exercises the encoder and layout
 * helpers the way a real receipt does: store header in double size,
 * items as two-column lines (one too long, truncated), rules, Nordic
 * letters, a bold total, a CODE128 barcode of the reference (on profiles
 * with barcodes) and a cut.  The real receipts are in src/doc/receipt.h.
 *
 * Pure: no I/O, clock or locale; the same arguments give the same bytes.
 */
#ifndef KV_DOC_SAMPLE_H
#define KV_DOC_SAMPLE_H

#include "escpos/encoder.h"
#include "escpos/layout.h"

/* Append the sample receipt (with the job prologue) to e, amounts in
 * currency (NULL = "NOK") formatted for lang.  Returns KV_ESCPOS_OK or the
 * encoder's error (kv_escpos_errmsg says why). */
kv_escpos_status kv_sample_receipt_write(kv_escpos *e, kv_lang lang, const char *currency);

#endif
