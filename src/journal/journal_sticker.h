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
 * A check-in (user.checked-in.v1) is held until the till's next sticker
 * payment uses it, or until hold_until_ms.  A waiting amount is the till's
 * sticker payment that has no check-in yet.  The two meet in one journal
 * transaction, whichever comes second and on whichever process (on
 * PostgreSQL the sticker's row is locked, FOR UPDATE, for the meeting):
 * the amount becomes "paired" and carries the customer token until the
 * payment is created with it ("started": the token is forgotten).  One
 * check-in is paired at most once; a second held check-in of the sticker
 * replaces the first; a check-in past hold_until_ms is never paired; a
 * check-in meets only the amounts of its own sticker (so its own till).
 * On PostgreSQL the pairing also notifies kvitt_events with the amount's
 * reference (the instance that owns the amount creates the payment). */
typedef struct kv_checkin_row {
    char key[65];          /* SHA-256 hex of the token: one row per token */
    char sticker[129];     /* merchantQrId */
    char msn[16];
    char token[512];       /* customerToken while held; "" once used */
    int64_t received_ms;
    int64_t hold_until_ms; /* not used after this */
} kv_checkin_row;

typedef struct kv_wait_row {
    char reference[64];
    char till[64];
    char sticker[129];
    char state[16];        /* waiting | paired | started | replaced | expired | cancelled */
    char request[8192];    /* the payment request as JSON (no secrets) */
    int64_t created_ms;
    int64_t expires_ms;
} kv_wait_row;

/* Record the check-in r at now_ms and pair it with its sticker's waiting
 * amount when there is one: KV_J_OK with *paired (state "paired"); else
 * it is held: KV_J_E_NOT_FOUND.  KV_J_E_EXISTS when this token (key) was
 * recorded before (a repeated delivery: nothing changes). */
kv_journal_status kv_journal_checkin_pair(kv_journal *j, const kv_checkin_row *r, int64_t now_ms,
                                          kv_wait_row *paired);
/* Journal the waiting amount w (of the sticker whose MSN is msn); the
 * till's earlier amount that still waits becomes "replaced".  When the
 * sticker has a held check-in usable at now_ms the amount is paired with
 * it at once: w->state is "paired" afterwards, else "waiting".
 * KV_J_E_EXISTS when w->reference is journaled already (w is then
 * refreshed from the journal). */
kv_journal_status kv_journal_wait_pair(kv_journal *j, kv_wait_row *w, const char *msn, int64_t now_ms);
/* The customer token of the paired amount reference (len bytes) and how
 * long it may be used (*until_ms).  KV_J_E_NOT_FOUND when it is not
 * paired. */
kv_journal_status kv_journal_wait_token(kv_journal *j, const char *reference, char *token, size_t len,
                                        int64_t *until_ms);
/* Move reference from state from (NULL: any) to state to; the token is
 * forgotten.  KV_J_E_NOT_FOUND when it is not in state from. */
kv_journal_status kv_journal_wait_move(kv_journal *j, const char *reference, const char *from, const char *to);
/* By reference, whatever its state. */
kv_journal_status kv_journal_wait_get(kv_journal *j, kv_wait_row *out, const char *reference);
/* Every amount that waits or is paired, oldest first; *out malloc'd
 * (free()), NULL with *n 0 when there are none. */
kv_journal_status kv_journal_wait_list(kv_journal *j, kv_wait_row **out, size_t *n);

#endif
