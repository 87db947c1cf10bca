/*
 * journal_sticker.h - the sticker (merchant-callback QR) table of the
 * journal: which merchantQrId belongs to which till and store, what it
 * encodes and where it hangs.  Holds no secrets.
 *
 * Thread-safety and ownership as journal.h (the handle's mutex).
 */
#ifndef KV_JOURNAL_STICKER_H
#define KV_JOURNAL_STICKER_H

#include <stddef.h>
#include <stdint.h>

#include "src/journal/journal.h"

typedef struct kv_sticker_row {
    char id[129];          /* merchantQrId */
    char till[64];
    char store[64];
    char msn[16];
    char location[145];
    char content[1024];    /* the QR's text (qrContent) */
    int64_t created_at;
    int64_t printed_at;    /* 0 = never printed */
} kv_sticker_row;

/* Insert or replace the row of r->id (created_at kept on replace). */
kv_journal_status kv_journal_sticker_put(kv_journal *j, const kv_sticker_row *r);
/* Mark printed now. */
kv_journal_status kv_journal_sticker_printed(kv_journal *j, const char *id);
/* By merchantQrId (msn may be NULL: any) or by till (id NULL).
 * KV_J_E_NOT_FOUND when there is none. */
kv_journal_status kv_journal_sticker_get(kv_journal *j, kv_sticker_row *out, const char *id,
                                         const char *msn, const char *till);
/* All rows (store NULL) or a store's; *out malloc'd (free()), may be NULL
 * with *n 0.  Ordered by till. */
kv_journal_status kv_journal_sticker_list(kv_journal *j, kv_sticker_row **out, size_t *n,
                                          const char *msn);
kv_journal_status kv_journal_sticker_delete(kv_journal *j, const char *id);

#endif
