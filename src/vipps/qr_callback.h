/*
 * qr_callback.h - the QR API's merchant-callback QR codes (the static
 * sticker at a till that pays: scanning it sends user.checked-in.v1 to the
 * merchant's webhook).  Uses the kv_vipps_client of vipps.h (same token,
 * headers, retries and redaction).
 *
 *   PUT    /qr/v1/merchant-callback/{merchantQrId}  {locationDescription}
 *   GET    /qr/v1/merchant-callback[/{merchantQrId}]?QrImageFormat&QrImageSize
 *   DELETE /qr/v1/merchant-callback/{merchantQrId}
 *
 * Ownership: results are value structs or malloc'd arrays the caller frees
 * with free().  Thread-safety: as the client (one call at a time per
 * client handle).
 */
#ifndef KV_VIPPS_QR_CALLBACK_H
#define KV_VIPPS_QR_CALLBACK_H

#include <stddef.h>

#include "src/vipps/vipps.h"

typedef struct kv_vipps_sticker {
    char msn[16];
    char id[129];                /* merchantQrId */
    char location[145];          /* locationDescription (<= 36 characters) */
    char image_url[2048];        /* qrImageUrl (PNG when asked for) */
    char content[1024];          /* qrContent: the text in the QR */
} kv_vipps_sticker;

/* 1 when id is a merchantQrId kvitt accepts: 1-128 of A-Z a-z 0-9 - _. */
int kv_vipps_sticker_id_valid(const char *id);

/* Create or update (idempotent by nature: PUT).  location: 1-36
 * characters, no control characters. */
kv_vipps_status kv_vipps_sticker_put(kv_vipps_client *c, const char *id, const char *location);

/* Read one with a PNG image URL of edge `size` (100-2000; 0 = 1024).
 * KV_VIPPS_E_NOT_FOUND when the MSN has no such QR. */
kv_vipps_status kv_vipps_sticker_get(kv_vipps_sticker *out, kv_vipps_client *c, const char *id,
                                     int size);

/* All of the MSN's merchant-callback QRs; *out malloc'd (free()), may be
 * NULL with *n 0. */
kv_vipps_status kv_vipps_sticker_list(kv_vipps_sticker **out, size_t *n, kv_vipps_client *c);

/* Delete; KV_VIPPS_E_NOT_FOUND when there is none. */
kv_vipps_status kv_vipps_sticker_delete(kv_vipps_client *c, const char *id);

#endif
