/*
 * flow_int.h - internals shared by the flow's files.  Not a public header.
 *
 *   flow_core.c      open/close, per-reference locks, journal helpers
 *   flow_validate.c  amounts, items, request validation, references
 *   flow_print.c     slip / receipt / not-paid slip to the printer
 *   flow_api.c       one API surface over ePayment and eCom
 *   flow_pay.c       start a payment; finish, not paid, give up
 *   flow_wait.c      waiting: waiters, notify, abort, webhooks
 *   flow_recover.c   kvitt recover
 *   flow_resume.c    resuming a payment left before its slip (daemons)
 *   flow_ops.c       capture, cancel, status, refund, reprint, find
 *
 * Locking: f->mu guards the waiter table and the per-reference lock list.
 * Every operation that changes a payment holds that payment's reference
 * lock for its whole duration, so two threads (or a wait and a cancel)
 * never move the same payment's money at once.  The journal serialises its
 * own calls; the vipps client is created per operation (one per thread),
 * sharing the token/DNS/TLS cache of the flow.
 *
 * Functions named kv__flow_* need the caller to hold the payment's
 * reference lock when they change a payment (finish_sale, not_paid,
 * give_up_locked, save).
 */
#ifndef KV_FLOW_FLOW_INT_H
#define KV_FLOW_FLOW_INT_H

#include <cjson/cJSON.h>
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "escpos/encoder.h"
#include "src/doc/receipt.h"
#include "src/doc/slip.h"
#include "src/flow/flow.h"
#include "src/vipps/vipps.h"

/* A wait for the customer (flow_wait.c): a kv_flow_waiter.  Found by
 * reference in f->waiters (hashed); a notify or abort for the reference
 * touches that waiter alone: its wake function (event loops) or its own
 * condition variable (kv_flow_wait). */
#define KV_FLOW_WAIT_BUCKETS 256
struct kv_flow_waiter {
    char ref[64];
    int notified;
    int authorized;          /* a verified webhook said AUTHORIZED */
    int abort;
    uint64_t wakeups;        /* times a notify/abort woke this waiter */
    kv_flow_wake_fn wake;    /* event loop owner, or NULL: cv */
    void *wake_user;
    pthread_cond_t cv;       /* kv_flow_wait's own sleep */
    struct kv_flow_waiter *next; /* hash bucket */
    /* the wait's progress (kv_flow_waiter_step) */
    kv_flow *f;
    kv_payment p;
    const kv_store *s;
    kv_vipps_client *c;
    int64_t deadline, next_poll, next_tick;
    int first, locked, registered;
};
typedef struct kv_flow_waiter waiter;

typedef struct reflock {
    char ref[64];
    int fd;                  /* holds the cross-process lock; -1 none */
    int shared;              /* 1: an advisory lock in the shared (PostgreSQL) journal */
    struct reflock *next;
} reflock;

struct kv_flow {
    const kv_config *cfg;
    kv_journal *j;
    kv_flow_options opts;
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* reference locks only */
    waiter *waiters[KV_FLOW_WAIT_BUCKETS];
    reflock *locks;
    kv_vipps_shared *shared;
    pthread_t prefetch;      /* opts.prefetch_token: the token fetch */
    kv_vipps_client *prefetch_client;
    int prefetching;         /* the thread runs or is not joined yet (f->mu) */
    int recover_grace_s;     /* kv_flow_set_recover_grace */
    int resume_min_s;        /* kv_flow_set_resume (mu) */
    kv_flow_resume_fn resume_fn;
    void *resume_user;
    char crash_at[32];
    char lockpath[1100];     /* <journal>.lock: per-reference byte locks */
    pthread_t om_thread;     /* Order Management outbox retries (mu) */
    int om_running, om_joinable, om_stop;
};

#define MAX_ITEMS 64
#define KV_FLOW_QR_LIFETIME_S 600   /* ePayment one-time QR (vipps-api.md section 5.1) */

typedef struct parsed_items {
    cJSON *root;
    kv_doc_item items[MAX_ITEMS];
    size_t n;
} parsed_items;

/* A receipt for the app built from a payment's items (flow_receipt.c). */
typedef struct app_receipt {
    parsed_items it;
    kv_vipps_order_line lines[MAX_ITEMS];
    char ids[MAX_ITEMS][24], qty[MAX_ITEMS][24];
    kv_vipps_receipt r;
} app_receipt;

/* A validated payment request. */
typedef struct vreq {
    const kv_store *store;
    int64_t amount;
    char currency[4];
    char phone[16];
    char personal_qr[256];   /* secret: in memory only */
    char customer_token[256];/* secret: in memory only */
    char text[101];
    char reference[64];
    char printer[256];
    char till[64];
    int timeout_s;
} vreq;

/* 1 when the request goes to the customer's app as a push (phone number,
 * personal QR or a sticker's customer token): no slip. */
static inline int vreq_push(const vreq *v)
{
    return v->phone[0] || v->personal_qr[0] || v->customer_token[0];
}

/* Where an operation keeps its copy of the reference and the result it
 * fills when the caller passed out == NULL (see kv__flow_op_begin). */
typedef struct op_args {
    char ref[64];
    kv_flow_result dummy;
} op_args;

static inline void setmsg(char *dst, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline void setmsg(char *dst, size_t len, const char *fmt, ...)
{
    if (!dst || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, len, fmt, ap);
    va_end(ap);
}

/* Copy with truncation (the destination is always terminated). */
static inline void scpy(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);
    if (n >= len)
        n = len - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* flow_core.c */
/* Join the token prefetch of kv_flow_open, when there is one. */
void kv__flow_prefetch_join(kv_flow *f);
kv_flow_result *kv__flow_op_begin(op_args *a, kv_flow_result *out, const char **reference);
void kv__flow_crash_point(kv_flow *f, const char *step);
void kv__flow_emit(kv_flow *f, kv_flow_event_kind kind, const char *ref, kv_pay_state st, int secs,
                   const char *msg);
/* 0 locked, -1 busy (try only), -2 out of memory */
int kv__flow_lock_ref(kv_flow *f, const char *ref, int try);
void kv__flow_unlock_ref(kv_flow *f, const char *ref);
kv_lang kv__flow_store_lang(const kv_store *s);
void kv__flow_time_text(char *buf, size_t len, int64_t t);
void kv__flow_fill(kv_flow *f, kv_flow_result *out, const char *ref);
kv_flow_status kv__flow_jfail(kv_flow_result *out, const char *what);
kv_flow_status kv__flow_save(kv_flow *f, kv_payment *p, kv_pay_state st, const char *note);
kv_flow_status kv__flow_client_for(kv_flow *f, kv_vipps_client **out, const kv_store *s, kv_flow_result *res);
void kv__flow_api_msg(kv_flow_result *out, kv_vipps_client *c, const char *what);
const kv_store *kv__flow_store_of(kv_flow *f, const kv_payment *p);

/* flow_validate.c */
int kv__flow_parse_items(parsed_items *it, const char *json, char *err, size_t errlen);
kv_flow_status kv__flow_validate(kv_flow *f, vreq *v, const kv_pay_request *req, char *err, size_t errlen);
int kv__flow_qr_px(const kv_store *s);
/* eCom callbackPrefix from [serve] webhook_url (may be NULL): the daemon's
 * public base (webhook_url without its /webhooks/vipps tail, any path
 * prefix of a reverse proxy kept) + "/callbacks"; without a daemon URL a
 * reserved name that never resolves, never the merchant's website. */
void kv__flow_callback_prefix(char *buf, size_t len, const char *webhook_url);

/* flow_print.c */
int kv__flow_print_bytes(kv_flow *f, int64_t jid, const char *ref, kv_doc_kind doc, int copy, const char *uri,
                         const uint8_t *bytes, size_t len, char *path, size_t pathlen, char *msg, size_t msglen);
void kv__flow_doc_printer(kv_flow *f, const kv_payment *p, const kv_store *s, char *uri, size_t len);
kv_escpos *kv__flow_new_encoder(const kv_store *s);
int kv__flow_print_slip(kv_flow *f, int64_t jid, const kv_payment *p, const kv_store *s, const char *uri,
                        kv_flow_result *out);
int kv__flow_print_receipt(kv_flow *f, const kv_payment *p, int copy, const char *uri, kv_flow_result *out);
/* qr_source = image: GET an image URL (http(s), at most 2 MiB) and decode
 * a PNG into 1-bit rows no wider than max_w dots (*bits malloc'd). */
typedef struct fetchbuf {
    unsigned char *d;
    size_t n;
    int too_big;
} fetchbuf;
int kv__flow_fetch_image(kv_flow *f, const char *url, fetchbuf *out, char *msg, size_t msglen);
int kv__flow_png_to_bits(const fetchbuf *b, unsigned max_w, uint8_t **bits, unsigned *wbytes, unsigned *h,
                         char *msg, size_t msglen);
int kv__flow_print_not_paid(kv_flow *f, const kv_payment *p, kv_not_paid_reason why, const char *text,
                            int copy, kv_flow_result *out);

/* flow_api.c */
int kv__flow_is_ecom(const kv_payment *p);
/* 1 when the caller prints the sale's receipt (kv_pay_request.receipt_by_caller,
 * journaled as flow "proxy" / "proxy-ecom"): no flow receipt on finishing */
int kv__flow_receipt_by_caller(const kv_payment *p);
kv_vipps_status kv__flow_api_get(kv_vipps_client *c, const kv_payment *p, const char *ref, kv_vipps_payment *g);
kv_vipps_status kv__flow_api_capture(kv_vipps_client *c, const kv_payment *p, int64_t amount, const char *key,
                                     kv_vipps_modification *mod);
kv_vipps_status kv__flow_api_refund(kv_vipps_client *c, const kv_payment *p, int64_t amount, const char *key,
                                    kv_vipps_modification *mod);
kv_vipps_status kv__flow_api_cancel(kv_vipps_client *c, const kv_payment *p, int transaction_only, const char *key,
                                    kv_vipps_modification *mod);
/* 1 when Vipps' own record says the payment was declined: an AUTHORIZED
 * event with success false (ePayment) or a failed RESERVE (eCom); 0 when
 * not or when it cannot be read. */
int kv__flow_api_declined(kv_vipps_client *c, const kv_payment *p);
kv_not_paid_reason kv__flow_reason_of(kv_vipps_state s);
void kv__flow_absorb(kv_payment *p, const kv_vipps_payment *vp);

/* flow_pay.c */
kv_flow_status kv__flow_finish_sale(kv_flow *f, kv_vipps_client *c, kv_payment *p, int copy, kv_flow_result *out);
/* The payment ended unpaid in state vs at Vipps: journal it (reason
 * DECLINED when Vipps' record says so; c may be NULL to skip that check),
 * print the not-paid slip, fill out.  Returns KV_FLOW_E_NOT_PAID. */
kv_flow_status kv__flow_not_paid(kv_flow *f, kv_vipps_client *c, kv_payment *p, kv_vipps_state vs,
                                 kv_flow_result *out);
kv_flow_status kv__flow_give_up_locked(kv_flow *f, kv_vipps_client *c, kv_payment *p, kv_flow_result *out);

/* flow_receipt.c */
/* Build the receipt of p's items; -1 when there are none or they do not add
 * up to total.  Free with kv__flow_receipt_free after a 0. */
int kv__flow_receipt_build(app_receipt *o, const kv_payment *p, int64_t total);
void kv__flow_receipt_free(app_receipt *o);
/* Check [kvitt] order_management (on | off | auto). */
int kv__flow_om_mode_check(const kv_config *cfg, char *err, size_t errlen);
/* Journal p's Order Management receipt (once) and try to send it with c;
 * a failure leaves it queued and starts the retry thread. */
void kv__flow_om_enqueue(kv_flow *f, kv_vipps_client *c, const kv_payment *p);
/* Send the queued receipts that are due (all pending ones when force).
 * Counts may be NULL. */
void kv__flow_om_run(kv_flow *f, int force, int *delivered, int *pending);
/* Stop and join the retry thread (kv_flow_close). */
void kv__flow_om_stop(kv_flow *f);

/* flow_recover.c */
/* Settle the payment's pending capture and cancel operations from what
 * Vipps says: its event log by idempotency key (ePayment), else the
 * amounts and state in g.  Operations the answer does not decide stay
 * pending. */
void kv__flow_settle_ops(kv_flow *f, kv_vipps_client *c, const kv_payment *p, const kv_vipps_payment *g);

/* flow_resume.c */
/* 1 when a resume is set (kv_flow_set_resume) and p, as journaled, is
 * before its slip: NEW (create sent or not, answer not journaled) or
 * CREATED (answered, slip not printed); not for kvitt proxy payments. */
int kv__flow_resumable(kv_flow *f, const kv_payment *p);
/* Vipps says CREATED (its redirectUrl in p->qr_url when the create's
 * answer was lost).  Journal the create's answer when it was lost,
 * print the QR slip unless every byte of it already went out (a push
 * needs none), and journal WAITING: returns 1 with the seconds left for
 * the wait in *left.  0 when the payment is not resumed (too little time
 * left, no QR, the slip failed): the caller gives up on it. */
int kv__flow_resume_locked(kv_flow *f, kv_payment *p, int *left);

#endif
