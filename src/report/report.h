/*
 * report.h - the day's figures from the journal: the X report (figures of
 * a day, no number) and the Z report (the day closed: a running number per
 * till that never repeats, the figures frozen in the journal).
 *
 * Figures per till and per store (store totals have till_id ""):
 *   sales       payments created that day and captured (CAPTURED, DONE):
 *               count and captured amount
 *   captures    captures the service accepted that day (any payment)
 *   refunds     refunds the service accepted that day (any payment)
 *   cancelled   payments of the day cancelled at the till
 *   not_paid    payments of the day aborted, expired or refused
 *   open        payments of the day still waiting or unknown (listed)
 *   net         captures - refunds
 *   VAT         per rate, from the items journaled with each sale (VAT
 *               included in the price); a sale without items, or captured
 *               only in part, goes to one line "without items" (rate -1)
 *               with its gross amount and no VAT split.
 * A day is the local calendar day (TZ) of created_at / the answer time.
 *
 * Ownership: kv_report_day() returns a handle owning every group (and the
 * open lists); free it with kv_report_free().  Borrowed pointers from
 * kv_report_group_at() live as long as the handle.  The journal is
 * borrowed for the call only.  Not thread-safe per handle.
 */
#ifndef KV_REPORT_H
#define KV_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "src/journal/journal.h"

/* Status codes.  Append only; never renumber. */
typedef enum {
    KV_REPORT_OK = 0,
    KV_REPORT_E_ARG = -1,       /* bad date, store or till */
    KV_REPORT_E_JOURNAL = -2,   /* the journal cannot be read or written */
    KV_REPORT_E_NOMEM = -3,
    KV_REPORT_E_NOT_FOUND = -4, /* no such till / no figures for it */
    KV_REPORT_E_DATA = -5,      /* frozen Z figures cannot be read */
    KV_REPORT_E_PRINTER = -6    /* the report could not be printed */
} kv_report_status;

/* Static text; never NULL. */
const char *kv_report_strerror(kv_report_status st);

typedef struct kv_report_figure {
    int64_t count;
    int64_t amount;              /* minor units */
} kv_report_figure;

#define KV_REPORT_MAX_VAT 9
typedef struct kv_report_vat {
    int rate_bp;                 /* 2500 = 25 %; -1 = sales without items */
    int64_t gross;               /* incl. VAT */
    int64_t vat;                 /* VAT part (0 for rate -1) */
} kv_report_vat;

typedef struct kv_report_open {
    char reference[64];
    char state[16];              /* NEW, CREATED, WAITING, AUTHORIZED, UNKNOWN */
} kv_report_open;

typedef struct kv_report_group {
    char store_id[64];
    char till_id[64];            /* "" = the store's total */
    char currency[4];
    kv_report_figure sales, captures, refunds, cancelled, not_paid;
    int64_t net;
    kv_report_vat vat[KV_REPORT_MAX_VAT];
    size_t n_vat;
    char first_ref[64], last_ref[64];
    int64_t first_at, last_at;   /* created_at of those two payments */
    kv_report_open *open;        /* owned by the report */
    size_t n_open;
    int64_t z_number;            /* > 0 when the day is closed for this till */
    int64_t closed_at;           /* unix seconds, 0 when not closed */
    int printed;                 /* kv_report_closed: times printed so far */
} kv_report_group;

typedef struct kv_report_query {
    const char *date;            /* "YYYY-MM-DD" (local); NULL = today */
    const char *store;           /* NULL = every store */
    const char *till;            /* NULL = every till */
} kv_report_query;

typedef struct kv_report kv_report;

/* Compute the figures of a day from the journal (read only). */
kv_report_status kv_report_day(kv_report **out, kv_journal *j, const kv_report_query *q);
void kv_report_free(kv_report *r);

/* The day ("YYYY-MM-DD", borrowed). */
const char *kv_report_date(const kv_report *r);
size_t kv_report_group_count(const kv_report *r);
/* Groups in order: per store its tills (sorted), then the store total. */
const kv_report_group *kv_report_group_at(const kv_report *r, size_t i);
/* The group of (store, till) ("" = store total), NULL when absent. */
const kv_report_group *kv_report_find(const kv_report *r, const char *store, const char *till);

/* Close the day of one till: the next Z number, the group's figures
 * frozen in the journal.  When the day was closed before, nothing changes
 * and *existed is 1.  *z_number gets the number. */
kv_report_status kv_report_close(kv_journal *j, const kv_report_group *g, const char *date,
                                 int64_t now, int64_t *z_number, int *existed);

/* The frozen figures of a closed day of a till (for the COPY), into *out
 * (its open list malloc'd: free with kv_report_group_clear). */
kv_report_status kv_report_closed(kv_report_group *out, kv_journal *j, const char *store,
                                  const char *till, const char *date);
void kv_report_group_clear(kv_report_group *g);

/* The report on paper (src/doc/zreport.h) for the store's printer
 * profile and language: a Z report when z_number > 0 (copy: marked COPY),
 * else an X report.  time_text is the print time ("YYYY-MM-DD HH:MM").
 * The bytes are malloc'd into *out (free()), *len set. */
struct kv_store;
kv_report_status kv_report_render(unsigned char **out, size_t *len, const kv_report_group *g,
                                  const struct kv_store *store, const char *date, int64_t z_number,
                                  int copy, const char *time_text);
/* Render and send to the printer uri (NULL: the store's).  On failure the
 * reason is in msg; job gets the virtual printer's job file when there is
 * one (both may be NULL). */
kv_report_status kv_report_print(const kv_report_group *g, const struct kv_store *store, const char *uri,
                                 const char *date, int64_t z_number, int copy, const char *time_text,
                                 char *msg, size_t msglen, char *job, size_t joblen);

/* Send prepared ESC/POS bytes to the printer uri (status checked first).
 * KV_REPORT_E_PRINTER with the reason in msg on failure; job gets the
 * virtual printer's job file when there is one (msg/job may be NULL). */
kv_report_status kv_report_send(const char *uri, const unsigned char *bytes, size_t len, char *msg,
                                size_t msglen, char *job, size_t joblen);

/* Output: text for a person, one JSON object, or CSV rows
 * (date,store,till,z_number,figure,count,amount). */
int kv_report_write_text(FILE *f, const kv_report *r);
int kv_report_write_json(FILE *f, const kv_report *r);
int kv_report_write_csv(FILE *f, const kv_report *r);

/* The same JSON object as kv_report_write_json, of the groups whose store
 * keep() accepts (keep NULL = all), as malloc'd text (free()); NULL when
 * out of memory. */
char *kv_report_json_text(const kv_report *r, int (*keep)(void *user, const char *store), void *user);

/* Parse "YYYY-MM-DD" into the local day's [from, to) unix seconds.
 * Returns 0 or -1. */
int kv_report_day_bounds(const char *date, int64_t *from, int64_t *to);
/* Today's local date into buf (11 bytes). */
void kv_report_today(char buf[11]);

#endif
