/*
 * flow.h - the till flow: the ONLY place that combines the journal, the
 * payment client, the documents and the printer drivers.
 *
 * Used by the CLI (`kvitt pay`, recover, capture, cancel, status, refund,
 * find, reprint) and by the daemon (`kvitt serve`): there is no second
 * implementation of the flow.
 *
 * State machine (journaled before every arrow that moves money):
 *   NEW -create-> CREATED -slip printed-> WAITING -AUTHORIZED-> AUTHORIZED
 *   -capture-> CAPTURED -receipt-> DONE;  WAITING -ABORTED/EXPIRED/
 *   TERMINATED-> NOT_PAID;  CREATED -slip failed: cancel-> CANCELLED;
 *   any transport error or crash -> UNKNOWN (kv_flow_recover resolves it).
 *
 * Thread-safety: one kv_flow handle is shared by all threads of a process.
 * Every function may be called concurrently; operations on the SAME
 * reference are serialised internally (a per-reference lock), operations on
 * different references run in parallel.  kv_flow_wait blocks the calling
 * thread; kv_flow_waiter_* run the same wait as steps on any thread (no
 * thread per waiting payment); kv_flow_notify and kv_flow_abort wake the
 * wait on their reference alone, from any thread.
 *
 * Results: every operation fills a kv_flow_result (a value struct, no
 * ownership) with the payment as journaled afterwards and two messages:
 * `cashier` (short, in the store's language) and `detail` (full, for the
 * log; carries the API traceId when there is one).  Secrets and phone
 * numbers never appear in either.
 *
 * Test hook: the environment variable KVITT_TEST_CRASH_AT=<step> makes the
 * flow raise SIGKILL on its own process at that step, to test recovery.
 * Steps: journaled (after the NEW row, before create), created (after
 * create answered), slip (after the slip printed), waiting (at the first
 * poll), capture-sent (capture answered, answer not journaled), captured
 * (after capture answered and journaled), receipt (before the receipt
 * is printed), refunded (a refund answered, before its answer is
 * journaled).  Never set it in production.
 */
#ifndef KV_FLOW_H
#define KV_FLOW_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "src/config/config.h"
#include "src/journal/journal.h"
#include "src/vipps/vipps.h"

/* Status codes. Append only; never renumber.  The CLI maps them to exit
 * codes (see kv_flow_exit_code). */
typedef enum {
    KV_FLOW_OK = 0,            /* paid / done */
    KV_FLOW_E_INPUT = -1,      /* bad amount, currency, store, phone, items, reference */
    KV_FLOW_E_CONFIG = -2,     /* configuration or secrets problem */
    KV_FLOW_E_PRINTER = -3,    /* printer failure before the QR was shown (payment cancelled) */
    KV_FLOW_E_SERVICE = -4,    /* payment service unreachable (nothing moved) */
    KV_FLOW_E_UNKNOWN = -5,    /* outcome unknown, journaled: kv_flow_recover resolves it */
    KV_FLOW_E_NOT_PAID = -6,   /* aborted, expired, terminated, cancelled, refused by Vipps */
    KV_FLOW_E_NOT_FOUND = -7,  /* no such reference in the journal */
    KV_FLOW_E_JOURNAL = -8,    /* the journal cannot be written (nothing was sent) */
    KV_FLOW_E_REFUSED = -9,    /* operation not allowed (refund above captured-refunded,
                                  capture of an unpaid payment, other chain) */
    KV_FLOW_E_NOMEM = -10,
    KV_FLOW_E_BUSY = -11       /* another operation holds this reference */
} kv_flow_status;

const char *kv_flow_strerror(kv_flow_status st);
/* Exit code of the CLI for a status: 0 paid, 1 not paid, 2 bad input,
 * 3 config, 4 printer, 5 service, 6 unknown. */
int kv_flow_exit_code(kv_flow_status st);

/* Progress / events (for stderr progress, SSE, long-poll). */
typedef enum {
    KV_FEV_STATE = 0,   /* state changed (ev->state) */
    KV_FEV_TICK,        /* still waiting; ev->seconds_left */
    KV_FEV_MESSAGE,     /* informational text in ev->message */
    KV_FEV_PRINTED      /* a document was printed (ev->message names it) */
} kv_flow_event_kind;

typedef struct kv_flow_event {
    kv_flow_event_kind kind;
    const char *reference;   /* borrowed for the duration of the call */
    kv_pay_state state;
    int seconds_left;        /* -1 when not waiting */
    const char *message;     /* borrowed; may be "" */
} kv_flow_event;

/* Called from whichever thread runs the operation; must not call back into
 * the flow for the same reference.  user is opts.event_user. */
typedef void (*kv_flow_event_fn)(void *user, const kv_flow_event *ev);

typedef struct kv_flow_options {
    int version;                         /* KV_FLOW_OPTIONS_VERSION */
    kv_flow_event_fn on_event;           /* may be NULL */
    void *event_user;
    /* Set to non-zero (e.g. by a SIGINT handler) to make kv_flow_wait give
     * up: cancel with cancelTransactionOnly, re-read, finish if approved.
     * May be NULL.  Borrowed for the life of the handle. */
    const volatile sig_atomic_t *stop;
    /* 1: do not run kv_flow_recover inside kv_flow_open (default 0 = the
     * CLI's "recover at every start" is done by the caller explicitly;
     * see kv_flow_recover). Reserved; keep 0. */
    int reserved;
    /* The payment client's log (`kvitt -v`: every exchange, and each error
     * answer with its HTTP status, error code and traceId; already
     * redacted) and wire trace (`kvitt --trace FILE`, see kv_vipps_opts
     * trace_path), given to every client the flow creates.  NULL = off. */
    kv_vipps_log_fn vipps_log;
    void *vipps_log_payload;
    kv_vipps_log_level vipps_log_level;
    const char *trace_path;              /* borrowed for the life of the handle */
    /* 1: kv_flow_open starts fetching the default store's access token on
     * a thread before it opens the journal, so a cold `kvitt pay` has it
     * when its create leaves (the token call moves no money).  The first
     * kv_flow_start joins it. */
    int prefetch_token;
} kv_flow_options;
#define KV_FLOW_OPTIONS_VERSION 2
#define KV_FLOW_OPTIONS_INIT { KV_FLOW_OPTIONS_VERSION, NULL, NULL, NULL, 0, NULL, NULL, \
                               KV_VIPPS_LOG_ERROR, NULL, 0 }

typedef struct kv_flow kv_flow;

/* Open the flow over a loaded configuration.  cfg is BORROWED and must
 * outlive the handle.  Opens the journal named by the config and prepares
 * the payment client.  On failure returns KV_FLOW_E_CONFIG or
 * KV_FLOW_E_JOURNAL with the cause in err.  *out set only on success; free
 * with kv_flow_close(). */
kv_flow_status kv_flow_open(kv_flow **out, const kv_config *cfg, const kv_flow_options *opts,
                            char *err, size_t errlen);
/* Close; NULL is a no-op.  No other thread may be inside the flow. */
void kv_flow_close(kv_flow *f);
/* The journal of the flow (borrowed; for read-only queries). */
kv_journal *kv_flow_journal(kv_flow *f);

/* A payment request.  Strings are borrowed for the duration of the call. */
typedef struct kv_pay_request {
    const char *amount;       /* decimal text "149.00" (at most 2 decimals); or NULL and: */
    int64_t amount_minor;     /* amount in minor units when amount is NULL */
    const char *currency;     /* NULL = the store's currency; must match it */
    const char *store_id;     /* NULL = default_store */
    const char *phone;        /* MSISDN (digits, country code, 10-15) -> push flow; NULL */
    const char *items_json;   /* JSON array of {"name","quantity","unit_price","vat_rate"}
                                 (unit_price decimal text or minor units int, vat_rate percent);
                                 sum of quantity*unit_price must equal the amount; NULL */
    const char *text;         /* payment description (3..100 chars); NULL = store name */
    const char *printer;      /* transport URI overriding the store's printer; NULL */
    const char *till_id;      /* NULL = [kvitt] till_id */
    const char *reference;    /* NULL = generated ("<prefix>-<time>-<rand>") */
    int timeout_s;            /* 0 = payment_timeout_s from the config */
    int not_present;          /* 1: a push to a customer who is not at the till
                                 (customerInteraction CUSTOMER_NOT_PRESENT); needs
                                 phone and items_json (the receipt in the app is
                                 mandatory then); 0: CUSTOMER_PRESENT */
    const char *personal_qr;  /* the customer's personal QR as the till's scanner read
                                 it (5-255 printable characters) -> push flow, nothing
                                 printed before the receipt; a secret: never journaled,
                                 logged or printed.  Not with phone.  NULL */
    const char *customer_token; /* customerToken of a user.checked-in.v1 (sticker
                                 flow, the daemon) -> push flow; a secret.  NULL */
    int receipt_by_caller;    /* 1: the caller prints the sale's receipt (kvitt proxy
                                 releases the till's own); the flow prints the QR slip
                                 and the not-paid slip as usual but no receipt, and the
                                 payment still ends DONE once captured.  Journaled (flow
                                 "proxy" / "proxy-ecom"), so kv_flow_recover prints no
                                 receipt for it either; kv_flow_reprint still prints a
                                 COPY.  A QR sale only (no phone, personal QR, customer
                                 token or not_present).  0: the flow prints it */
} kv_pay_request;

/* The outcome of an operation (value struct). */
typedef struct kv_flow_result {
    kv_payment payment;       /* as journaled after the operation */
    char cashier[256];        /* short message for the cashier, store language */
    char detail[512];         /* full message for the log (traceId, API codes) */
    int api_status;           /* HTTP status of the failed API call, 0 when none */
    int api_code;             /* its error code (ePayment ErrorCode, eCom errorCode), 0 */
    char trace_id[128];       /* its traceId, "" when none (support needs it) */
    char slip_path[1024];     /* virtual printer: file of the slip job, else "" */
    char receipt_path[1024];  /* virtual printer: file of the receipt/not-paid/refund job */
    int approved_after_cancel;/* give up found the customer had approved: sale finished */
    int receipt_queued;       /* the receipt could not be printed: recover prints it */
} kv_flow_result;

/* Check a request without side effects.  Returns KV_FLOW_OK or
 * KV_FLOW_E_INPUT / KV_FLOW_E_CONFIG with the message in err. */
kv_flow_status kv_flow_validate(kv_flow *f, const kv_pay_request *req, char *err, size_t errlen);

/* Start a payment: validate, journal (NEW), create at Vipps (CREATED),
 * check the printer and print the QR slip (WAITING).  Returns when the slip
 * is printed (daemon: answer 201 with out->payment.reference).  When the
 * slip cannot be printed the payment is cancelled and KV_FLOW_E_PRINTER
 * returned.  out is filled on every return where a reference exists. */
kv_flow_status kv_flow_start(kv_flow *f, kv_flow_result *out, const kv_pay_request *req);

/* Wait for the customer: first poll after poll_first_s, then every
 * poll_interval_ms (backing off on 429), waking early on kv_flow_notify.
 * Emits KV_FEV_TICK events with the seconds left.  On AUTHORIZED: capture,
 * receipt, Order Management receipt (when items exist) -> KV_FLOW_OK.  On
 * ABORTED/EXPIRED/TERMINATED: not-paid slip -> KV_FLOW_E_NOT_PAID.  On the
 * timeout (timeout_s, 0 = the request's/config's), opts.stop or
 * kv_flow_abort: gives up (kv_flow_give_up semantics).  Blocking. */
kv_flow_status kv_flow_wait(kv_flow *f, kv_flow_result *out, const char *reference, int timeout_s);

/* Waiting without a thread, for event loops (the daemon runs its waiting
 * payments as steps on a small pool).  kv_flow_waiter_open registers a
 * wait on a reference and takes its lock (blocking I/O: journal reads).
 * It sets *out and returns KV_FLOW_OK, or leaves *out NULL (nothing to
 * close) and returns what kv_flow_wait would for a payment that is not
 * waiting (KV_FLOW_OK when DONE, ...; out filled) or an error.  wake(user) is called from
 * the thread of a kv_flow_notify/kv_flow_abort/kv_flow_record_webhook for
 * THIS reference (never for another one), with the flow's lock held: it
 * must only schedule a step, never call into the flow.
 *
 * kv_flow_waiter_step does what is due (a tick event, a poll, the capture
 * after a verified AUTHORIZED webhook, giving up at the timeout, abort or
 * opts.stop) with blocking I/O, and returns 1 when the wait is over (*st
 * and out set as kv_flow_wait would; then close), or 0 with *next_ms, the
 * unix time in ms when it is next due (sooner when woken).  Steps of one
 * waiter must not overlap; steps of different waiters may run in
 * parallel.  kv_flow_waiter_close releases the lock and frees it (NULL is
 * a no-op); a wait closed before it is over stays WAITING in the journal
 * (recover or the next start resumes it). */
typedef struct kv_flow_waiter kv_flow_waiter;
typedef void (*kv_flow_wake_fn)(void *user);
kv_flow_status kv_flow_waiter_open(kv_flow *f, kv_flow_waiter **out, kv_flow_result *res,
                                   const char *reference, int timeout_s, kv_flow_wake_fn wake,
                                   void *user);
int kv_flow_waiter_step(kv_flow_waiter *w, kv_flow_result *out, kv_flow_status *st,
                        int64_t *next_ms);
void kv_flow_waiter_close(kv_flow_waiter *w);
/* How many times notify/abort/webhooks woke the current wait on reference
 * (0 when none waits).  For tests: events for other references never
 * count here. */
uint64_t kv_flow_wakeups(kv_flow *f, const char *reference);

/* start + wait (what `kvitt pay` does). */
kv_flow_status kv_flow_pay(kv_flow *f, kv_flow_result *out, const kv_pay_request *req);

/* Wake a kv_flow_wait on this reference now (webhook arrived).  Polling
 * still decides the state.  Non-blocking; unknown reference is a no-op. */
void kv_flow_notify(kv_flow *f, const char *reference);
/* Ask a kv_flow_wait on this reference to give up (cashier cancel in the
 * daemon).  Returns KV_FLOW_OK, or KV_FLOW_E_NOT_FOUND when nobody waits
 * on it (then call kv_flow_cancel). Non-blocking. */
kv_flow_status kv_flow_abort(kv_flow *f, const char *reference);

/* Give up on a waiting payment: cancel with cancelTransactionOnly, re-read
 * the state; if the customer approved meanwhile, finish the sale (capture,
 * receipt; out->approved_after_cancel = 1, KV_FLOW_OK). Else CANCELLED ->
 * KV_FLOW_E_NOT_PAID. */
kv_flow_status kv_flow_give_up(kv_flow *f, kv_flow_result *out, const char *reference);

/* Record a verified webhook event in the journal and wake the waiter.
 * body is stored as is (no secrets: webhooks carry none).  Call it only
 * after the HMAC (ePayment) or authToken (eCom) check passed: an
 * "AUTHORIZED" or "ecom.RESERVED" event makes the waiting payment capture
 * at once, without reading the payment first (the capture is journaled
 * with its key like every capture, and Vipps refuses to capture a payment
 * that is not authorized, after which the flow reads it back).  An event
 * whose body says "success": false (a declined authorization) only wakes
 * the waiter, which reads the payment; the decline is then taken from
 * Vipps' own record (events log / eCom details). */
kv_flow_status kv_flow_record_webhook(kv_flow *f, const char *reference, const char *event_name,
                                      const char *body);

/* Recover: for every unfinished payment in the journal read the real state
 * and finish it (capture when authorized and not captured, cancel when
 * still CREATED and older than its expiry, print missing receipts marked
 * COPY when a complete one may already be on paper, print the not-paid
 * slip of a payment that ended aborted/expired/cancelled meanwhile, settle
 * pending capture/cancel operations from the event log).  Never captures
 * or refunds twice (idempotency keys from the journal).  Refunds journaled
 * without an answer are resent with their key (Vipps answers a repeated
 * key with the first result).  Receipts for the app still queued in the
 * Order Management outbox are sent (whatever their back-off).  Counts go
 * to the out
 * parameters (may be NULL).  Returns KV_FLOW_OK when every payment is final,
 * KV_FLOW_E_UNKNOWN when some could not be resolved (service down). */
typedef struct kv_recover_report {
    int examined;    /* unfinished payments found */
    int finished;    /* made final (DONE / NOT_PAID / CANCELLED) */
    int captured;    /* captures sent by recover */
    int reprinted;   /* receipts printed by recover */
    int unresolved;  /* still unknown */
    int receipts_sent;   /* receipts for the app (Order Management) sent */
    int receipts_queued; /* receipts for the app still not accepted */
    int resumed;     /* left before the slip, now waiting again (kv_flow_set_resume) */
} kv_recover_report;
kv_flow_status kv_flow_recover(kv_flow *f, kv_recover_report *out);
/* kv_flow_recover leaves alone WAITING payments journaled less than
 * seconds ago (default 0: none).  A daemon sharing a PostgreSQL journal
 * with others sets it: such a payment may be between its start and its
 * waiter on the instance that made it. */
void kv_flow_set_recover_grace(kv_flow *f, int seconds);
/* A daemon resumes what a dead owner (a killed instance of the chain, or
 * its own previous run) left between the journaled create and the QR
 * slip, instead of cancelling it.  With a resume set, kv_flow_recover
 * reads such a payment at Vipps by its reference (never creating it
 * again): when it is CREATED there and at least min_left_s seconds are
 * left before its end (the slip's "valid until": the till's timeout or
 * the QR's lifetime, whichever comes first), it journals the create's
 * answer if it was lost, prints the QR slip as a journaled print job
 * (unless every byte of it already went out; a push needs none), journals
 * WAITING and, with the payment's lock released, calls fn(user,
 * reference, seconds_left): the caller waits on it as the owner (a
 * waiter).  Too late, no QR URL, or the slip fails: cancelled with the
 * not-paid slip, as without a resume.  Never found at Vipps: CANCELLED
 * ("never created"); approved, expired or aborted meanwhile: finished as
 * any recovery does.  fn NULL: no resume (kvitt recover, kvitt pay). */
typedef void (*kv_flow_resume_fn)(void *user, const char *reference, int seconds_left);
void kv_flow_set_resume(kv_flow *f, int min_left_s, kv_flow_resume_fn fn, void *user);

/* Capture what remains authorized (amount_minor 0) or a part of it, then
 * print the receipt.  KV_FLOW_E_REFUSED when not authorized. */
kv_flow_status kv_flow_capture(kv_flow *f, kv_flow_result *out, const char *reference,
                               int64_t amount_minor);
/* Cancel a payment not yet captured (full cancel, releases reservation). */
kv_flow_status kv_flow_cancel(kv_flow *f, kv_flow_result *out, const char *reference);
/* Status: the journal row, refreshed from the API when refresh != 0. */
kv_flow_status kv_flow_status_get(kv_flow *f, kv_flow_result *out, const char *reference,
                                  int refresh);

/* Refund amount_minor (0 = everything captured minus refunded) and print a
 * refund slip at the till's store printer.  till_store_id is the store
 * where the cashier stands (NULL = default).  The origin store comes from
 * the journal (or the reference prefix when the journal lacks the payment),
 * never from an MSN typed at the till; refunding another store's payment
 * needs the same chain.  Patterns: partner keys (origin MSN), central
 * credentials of the origin store, one MSN with store prefixes.
 * KV_FLOW_E_REFUSED when the amount exceeds captured - refunded. */
kv_flow_status kv_flow_refund(kv_flow *f, kv_flow_result *out, const char *reference,
                              int64_t amount_minor, const char *till_store_id);

/* Reprint the receipt (or not-paid/refund slip) of a payment, marked COPY. */
kv_flow_status kv_flow_reprint(kv_flow *f, kv_flow_result *out, const char *reference);

/* Search the journal (thin wrapper over kv_journal_find). *rows malloc'd,
 * free(). */
kv_flow_status kv_flow_find(kv_flow *f, kv_payment **rows, size_t *n, const kv_journal_query *q);

/* A new payment reference for store_id, the one format of `kvitt pay` and
 * `kvitt serve`: "<PREFIX>-<YYYYMMDDHHMMSS UTC>-<10 hex random>", e.g.
 * OSL-20261202080425-5e9500df12 (29 characters for a 3-letter prefix).
 * PREFIX is the store's reference_prefix, else the store id's letters and
 * digits in upper case (at most 8), else "KV".  cfg/store_id may be NULL. */
void kv_flow_make_reference(char *buf, size_t len, const kv_config *cfg, const char *store_id);

/* Parse a decimal amount "149.00" / "149" / "149.5" into minor units.
 * Returns 0, or -1 with a reason in err (more than 2 decimals, sign, junk). */
int kv_flow_parse_amount(int64_t *out, const char *text, char *err, size_t errlen);
/* Format minor units as "149.00" into buf. */
void kv_flow_format_amount(char *buf, size_t len, int64_t minor);

#endif
