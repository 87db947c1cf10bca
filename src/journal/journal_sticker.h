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

/* ---- check-ins and waiting amounts of the sticker flow (kvitt serve) ----
 * A check-in (user.checked-in.v1) is kept until the till's next sticker
 * payment uses it, or until hold_until_ms; its customerToken (valid 15
 * minutes at Vipps) is kept only that long, for a daemon restarted in
 * between.  A waiting amount is the till's sticker payment that has no
 * check-in yet. */
typedef struct kv_checkin_row {
    char key[65];          /* SHA-256 hex of the token: one row per token */
    char sticker[129];     /* merchantQrId */
    char msn[16];
    char token[512];       /* customerToken while held; "" once used */
    int64_t received_ms;
    int64_t hold_until_ms; /* not used after this */
} kv_checkin_row;

/* Record a check-in as held; the sticker's earlier held check-in is
 * replaced (never used).  KV_J_E_EXISTS when this token (key) was recorded
 * before: a repeated delivery, nothing changes. */
kv_journal_status kv_journal_checkin_put(kv_journal *j, const kv_checkin_row *r);
/* Take the sticker's held check-in when it is still usable at now_ms: it
 * becomes used (its token is forgotten); an expired one is forgotten too.
 * KV_J_E_NOT_FOUND when none is usable. */
kv_journal_status kv_journal_checkin_take(kv_journal *j, kv_checkin_row *out, const char *sticker,
                                          const char *msn, int64_t now_ms);

/* 1 when the check-in of key is still held (not used, replaced or
 * expired). */
int kv_journal_checkin_held(kv_journal *j, const char *key);
/* The check-in of key is used: its token is forgotten. */
kv_journal_status kv_journal_checkin_retire(kv_journal *j, const char *key);

typedef struct kv_wait_row {
    char reference[64];
    char till[64];
    char sticker[129];
    char state[16];        /* waiting | started | replaced | expired | cancelled */
    char request[8192];    /* the payment request as JSON (no secrets) */
    int64_t created_ms;
    int64_t expires_ms;
} kv_wait_row;

/* Insert a waiting amount; an earlier one of the same till that still
 * waits becomes "replaced". */
kv_journal_status kv_journal_wait_put(kv_journal *j, const kv_wait_row *r);
/* The till's waiting amount (state "waiting", not expired at now_ms; one
 * past expires_ms becomes "expired"). */
kv_journal_status kv_journal_wait_for_till(kv_journal *j, kv_wait_row *out, const char *till,
                                           int64_t now_ms);
/* By reference, whatever its state. */
kv_journal_status kv_journal_wait_get(kv_journal *j, kv_wait_row *out, const char *reference);
kv_journal_status kv_journal_wait_set_state(kv_journal *j, const char *reference, const char *state);
/* Every row in state "waiting"; *out malloc'd (free()). */
kv_journal_status kv_journal_wait_list(kv_journal *j, kv_wait_row **out, size_t *n);

#endif
