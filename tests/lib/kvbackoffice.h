/*
 * kvbackoffice.h - a day of real payments for the back-office suites
 * (test_report*, test_reconcile*): made with `kvitt pay` / `kvitt refund`
 * against a real `kvitt sim` (started with --auto approve --approve-after 1)
 * and journaled by the real flow.
 */
#ifndef KV_TESTS_KVBACKOFFICE_H
#define KV_TESTS_KVBACKOFFICE_H

#include "tests/lib/kvflow.h"

typedef struct kvr_day {
    char *paid;       /* 149.00 with items (2 x 40.00 at 15 %, 69.00 at 25 %): DONE */
    char *refunded;   /* 200.00 without items, 50.00 refunded: DONE */
    char *not_paid;   /* 1.51 (the simulator's "insufficient funds"): NOT_PAID */
    char *cancelled;  /* 75.00, printer out of paper before the slip: CANCELLED */
    char *unknown;    /* 2.01 (stays pending), given up after 3 s: UNKNOWN */
} kvr_day;

/* Make the day in this order (fails the test on a surprise). */
void kvr_make_day(kvf_env *e, kvr_day *d);
void kvr_day_free(kvr_day *d);

/* `kvitt pay --amount A --json [extra...]` expecting exit code want;
 * returns the reference (malloc'd). */
char *kvr_pay(kvf_env *e, const char *amount, int want, const char *const extra[]);

/* Replace the first `from` in the file at path by `to` (the same length
 * or not); fails the test when from is absent. */
void kvr_replace_in_file(const char *path, const char *from, const char *to);

#endif
