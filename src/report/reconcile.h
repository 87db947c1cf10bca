/*
 * reconcile.h - what Vipps MobilePay paid against what kvitt sold: the
 * Report API's funds and fees entries of a ledger date matched per
 * transaction against the journal's captures and refunds, and the Report
 * API feed kept in the journal through its cursor.
 *
 * Matching (per ledger = per sales unit/MSN): every funds entry of type
 * capture or refund is paired with an accepted journal operation of the
 * same kind for the same reference (the payment's end-to-end id): the same
 * amount is "matched", otherwise "amount differs"; no operation at all is
 * "in Vipps, not in the journal".  Journal operations answered during the
 * date (local day) that no entry claimed are "in the journal, not in
 * Vipps".  Operations of the day before and after may be claimed too (a
 * capture at 23:59 may land on the next ledger date).  A date Vipps has
 * not closed yet (tryLater, or 404 "not available") is reported as open:
 * no lists, never a mismatch.
 *
 * Ownership: kv_recon_run returns a handle owning every row; free it with
 * kv_recon_free.  Clients and the journal are borrowed for the call.
 */
#ifndef KV_REPORT_RECONCILE_H
#define KV_REPORT_RECONCILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "src/journal/journal.h"
#include "src/vipps/vipps.h"

typedef enum {
    KV_RECON_OK = 0,
    KV_RECON_E_ARG = -1,         /* bad date or ledger list */
    KV_RECON_E_JOURNAL = -2,     /* the journal cannot be read or written */
    KV_RECON_E_NOMEM = -3,
    KV_RECON_E_SERVICE = -4,     /* the Report API is unreachable (try again) */
    KV_RECON_E_REFUSED = -5,     /* the Report API refused: keys, access to the ledger */
    KV_RECON_E_DATA = -6         /* the Report API answered something unusable */
} kv_recon_status;

const char *kv_recon_strerror(kv_recon_status st);

typedef enum {
    KV_RECON_MATCHED = 0,
    KV_RECON_VIPPS_ONLY,         /* in Vipps, not in the journal */
    KV_RECON_JOURNAL_ONLY,       /* in the journal, not in Vipps */
    KV_RECON_AMOUNT_DIFFERS
} kv_recon_kind;

/* "matched", "vipps_only", "journal_only", "amount_differs" */
const char *kv_recon_kind_name(kv_recon_kind k);

typedef struct kv_recon_row {
    kv_recon_kind kind;
    char store[64];
    char reference[64];
    char psp_reference[64];      /* from Vipps ("" for journal_only) */
    char type[16];               /* capture | refund */
    int64_t vipps_amount;        /* minor units, positive; 0 for journal_only */
    int64_t journal_amount;      /* 0 for vipps_only */
    char time[40];               /* Vipps' time, or the journal's answer time */
} kv_recon_row;

typedef struct kv_recon_ledger_sum {
    char store[64];
    char msn[16];
    char ledger_id[32];
    int open;                    /* the date is not closed at Vipps yet */
    int64_t captures, refunds;   /* sums of the funds entries (positive) */
    size_t n_captures, n_refunds;
    int64_t fees;                /* fees of the date (fees ledger), positive */
    int64_t payout;              /* payout-scheduled of the date, positive */
    int has_payout;
} kv_recon_ledger_sum;

/* One ledger to reconcile: a store, its MSN and a client whose keys may
 * read the MSN's ledger. */
typedef struct kv_recon_ledger {
    const char *store;
    const char *msn;
    kv_vipps_client *client;
} kv_recon_ledger;

typedef struct kv_recon kv_recon;

/* Reconcile the ledger date "YYYY-MM-DD" of every ledger.  from_feed = 1
 * uses the entries the feed has journaled (kv_recon_feed) instead of
 * asking the dates endpoint; a date counts as closed there once its
 * payout-scheduled entry arrived.  On failure err says which ledger and
 * why. */
kv_recon_status kv_recon_run(kv_recon **out, kv_journal *j, const kv_recon_ledger *ledgers, size_t n,
                             const char *date, int from_feed, char *err, size_t errlen);
void kv_recon_free(kv_recon *r);

/* Rows of one list, and every ledger's sums (borrowed from r). */
size_t kv_recon_count(const kv_recon *r, kv_recon_kind k);
const kv_recon_row *kv_recon_row_at(const kv_recon *r, kv_recon_kind k, size_t i);
size_t kv_recon_ledger_count(const kv_recon *r);
const kv_recon_ledger_sum *kv_recon_ledger_at(const kv_recon *r, size_t i);
/* 1 when some ledger's date is still open. */
int kv_recon_open(const kv_recon *r);
/* 1 when every entry and operation matched and no date is open. */
int kv_recon_all_matched(const kv_recon *r);

int kv_recon_write_text(FILE *f, const kv_recon *r);
int kv_recon_write_json(FILE *f, const kv_recon *r);
int kv_recon_write_csv(FILE *f, const kv_recon *r);

/* Follow the feed of every ledger (funds and fees) from the journaled
 * cursor to its end, journaling each page with its cursor in one
 * transaction (a restart continues where it stopped).  *added counts new
 * entries, *pages the pages read (both may be NULL). */
kv_recon_status kv_recon_feed(kv_journal *j, const kv_recon_ledger *ledgers, size_t n, size_t *added,
                              size_t *pages, char *err, size_t errlen);

#endif
