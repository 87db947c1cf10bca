/*
 * backoffice.h - the payment client's back-office calls: the Report API
 * (settlement ledgers, funds/fees entries by ledger date and as a feed)
 * and the Management API (a merchant's sales units, a sales unit's
 * details, product orders for partners).  Same client handle, token,
 * headers, retries and error reporting as vipps.h; none of these calls
 * moves money, so every failure is definite or "unreachable".
 *
 * Ownership: pages and lists are malloc'd by the call and freed with the
 * matching *_free(); strings in value structs are inline.
 */
#ifndef KV_VIPPS_BACKOFFICE_H
#define KV_VIPPS_BACKOFFICE_H

#include <stddef.h>
#include <stdint.h>

#include "src/vipps/vipps.h"

/* ---- Report API ---- */

/* The ledger that settles for a sales unit (settlesForRecipientHandles
 * "api:<msn>").  KV_VIPPS_E_NOT_FOUND when the keys see no such ledger. */
kv_vipps_status kv_vipps_ledger_for_msn(kv_vipps_client *c, const char *msn, char *ledger_id,
                                        size_t len);

typedef struct kv_vipps_ledger_entry {
    char psp_reference[64];
    char reference[64];
    char entry_type[32];      /* capture, refund, capture-fee, fees-retained, payout-scheduled, ... */
    int64_t amount;           /* minor units, signed as the API gives it */
    char currency[4];
    char ledger_date[11];
    char time[40];
    char recipient[32];
} kv_vipps_ledger_entry;

typedef struct kv_vipps_ledger_page {
    kv_vipps_ledger_entry *items;  /* malloc'd */
    size_t n;
    char cursor[512];         /* next cursor ("" when none) */
    int has_more;             /* dates: another page follows */
    int try_later;            /* dates: the date is not closed yet; feed: at the end */
    int not_available;        /* dates: 404, the report for the date does not exist yet */
} kv_vipps_ledger_page;

/* One page of the entries of a ledger date (topic "funds" or "fees");
 * cursor NULL/"" for the first page.  A 404 ("not available yet") is
 * KV_VIPPS_OK with not_available set. */
kv_vipps_status kv_vipps_ledger_date(kv_vipps_ledger_page *out, kv_vipps_client *c, const char *ledger_id,
                                     const char *topic, const char *date, const char *cursor);
/* One page of the feed from cursor (NULL/"" = the start). */
kv_vipps_status kv_vipps_ledger_feed(kv_vipps_ledger_page *out, kv_vipps_client *c, const char *ledger_id,
                                     const char *topic, const char *cursor);
void kv_vipps_ledger_page_free(kv_vipps_ledger_page *p);

/* ---- Management API ---- */

typedef struct kv_vipps_sales_unit {
    char msn[16];
    char name[64];
    char status[16];          /* ACTIVE | DEACTIVATED | "" when not given */
    char org[16];             /* businessIdentifier.id */
    char capture_type[24];    /* ReserveCapture | DirectCapture | NotApplicable | "" */
    int payment_allowed;      /* -1 unknown */
    int skip_landing_page;    /* -1 unknown */
    int partial_capture;      /* 1 ReserveCapture, 0 DirectCapture, -1 unknown */
} kv_vipps_sales_unit;

/* The sales units of a merchant by Norwegian organisation number (partner
 * keys).  *out malloc'd (free()); only msn and name are filled. */
kv_vipps_status kv_vipps_merchant_sales_units(kv_vipps_sales_unit **out, size_t *n, kv_vipps_client *c,
                                              const char *org);
/* The details of one sales unit. */
kv_vipps_status kv_vipps_sales_unit_get(kv_vipps_sales_unit *out, kv_vipps_client *c, const char *msn);

typedef struct kv_vipps_product_order {
    const char *org;          /* 9 digits, required */
    const char *product_type; /* VIPPS_I_KASSA (default), VIPPS_PA_NETT, ... */
    const char *sales_unit_name;   /* optional, 1-30 characters */
    const char *price_package_id;  /* optional */
    const char *intended_purpose;  /* optional */
} kv_vipps_product_order;

/* Prefill a product order; the merchant completes it at url. */
kv_vipps_status kv_vipps_product_order_create(char *order_id, size_t id_len, char *url, size_t url_len,
                                              kv_vipps_client *c, const kv_vipps_product_order *po);

#endif
