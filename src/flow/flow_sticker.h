/*
 * flow_sticker.h - stickers: the merchant-callback QR of a till, created
 * at Vipps and printed as a placard on the till's receipt printer (part of
 * the flow: the only place that combines the journal, the payment client,
 * documents and printers).
 *
 * A till's merchantQrId is derived from its id ("kvitt-" + till id), so
 * creating the sticker again updates the same QR (PUT) instead of making a
 * second one, and the printed placard stays valid.
 *
 * Till -> store: [till ID] store, else [kvitt] default_store.  Printer:
 * the printer argument, else [till ID] printer, else the store's.
 *
 * Thread-safety: as kv_flow (any thread; calls are independent).
 */
#ifndef KV_FLOW_STICKER_H
#define KV_FLOW_STICKER_H

#include <stddef.h>

#include "src/flow/flow.h"
#include "src/journal/journal_sticker.h"

typedef struct kv_sticker_result {
    kv_sticker_row row;         /* as journaled afterwards */
    char detail[512];           /* what went wrong, or "" */
    char print_path[1024];      /* virtual printer: the placard's job file */
} kv_sticker_result;

/* How the placard shows the QR. */
typedef enum {
    KV_STICKER_QR_IMAGE = 0,    /* Vipps' own PNG (qrImageUrl), as a raster */
    KV_STICKER_QR_DRAW          /* the content drawn by the printer (GS ( k) */
} kv_sticker_qr;

/* "kvitt-<till>" into out; -1 when the till id is not 1-64 of
 * A-Z a-z 0-9 - _ (the id then cannot name a QR). */
int kv_flow_sticker_id(char *out, size_t n, const char *till);

/* Create or update the till's sticker at Vipps (location NULL = keep the
 * journaled one, else the till id), journal it and print the placard.
 * KV_FLOW_E_INPUT (till, location), KV_FLOW_E_CONFIG, KV_FLOW_E_SERVICE,
 * KV_FLOW_E_PRINTER (the QR exists; `reprint` prints it again). */
kv_flow_status kv_flow_sticker_create(kv_flow *f, kv_sticker_result *out, const char *till,
                                      const char *location, const char *printer, kv_sticker_qr qr);
/* Print the placard again (the QR as Vipps has it now). */
kv_flow_status kv_flow_sticker_reprint(kv_flow *f, kv_sticker_result *out, const char *till,
                                       const char *printer, kv_sticker_qr qr);
/* Delete the till's sticker at Vipps and from the journal: a printed
 * placard stops working.  KV_FLOW_E_NOT_FOUND when there is none. */
kv_flow_status kv_flow_sticker_delete(kv_flow *f, kv_sticker_result *out, const char *till);

#endif
