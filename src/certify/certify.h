/*
 * certify.h - `kvitt certify`: run the Vipps MobilePay ePayment integration
 * checklist (../shared/docs/vipps-api.md section 9) against the configured
 * environment and write the evidence partners send to Vipps.
 *
 * The tour creates real payments (the simulator, the test environment, or
 * production) with the payment client (src/vipps/vipps.h) and makes them
 * end CAPTURED, REFUNDED, CANCELLED and TERMINATED (plus one left
 * AUTHORIZED in production), through full and partial captures and
 * refunds, polling and webhooks.  Every checklist line records the
 * reference that proves it, the payment's final state and event log, the
 * headers sent (secrets masked) and, when it did not pass, the reason.
 *
 * Approval: against `kvitt sim` (detected from the environment URL: http on
 * loopback that answers GET /sim/v1/stats) through the simulator's control
 * endpoint; in the test environment by the operator in the Vipps MT app (the
 * progress callback says what to do), or with force_approve through the
 * test-only approve API; in production by the operator in the real app.
 *
 * Webhooks: when [serve] webhook_url is registered (the daemon's), the
 * daemon's journal must show deliveries for the tour's first payment.
 * Otherwise, against the simulator on loopback only, a short-lived local
 * receiver (127.0.0.1, port picked by the kernel) is registered for the
 * tour and deleted afterwards; deliveries are HMAC-verified.  Otherwise
 * the line is "not verified" with the reason.
 *
 * Not journaled: the tour's payments do not enter the till journal.  The
 * report in out_dir is rewritten after every step (reference, idempotency
 * key, state), so a crash mid-tour leaves the references to finish by hand.
 *
 * Secrets: Authorization, Ocp-Apim-Subscription-Key, client_id,
 * client_secret and phone numbers are masked in everything the module
 * writes or reports.
 *
 * Ownership: kv_certify_open borrows opts->cfg (it must outlive the handle)
 * and copies every string option.  Line info strings are borrowed from the
 * handle.  Thread-safety: one handle, one thread.
 */
#ifndef KV_CERTIFY_H
#define KV_CERTIFY_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "src/config/config.h"

/* Status codes. Append only; never renumber. */
typedef enum {
    KV_CERTIFY_OK = 0,             /* every checklist line passed */
    KV_CERTIFY_E_ARG = -1,         /* bad option (run id, amount, phone, ...) */
    KV_CERTIFY_E_CONFIG = -2,      /* store/credentials missing or refused */
    KV_CERTIFY_E_UNREACHABLE = -3, /* the payment service cannot be reached */
    KV_CERTIFY_E_FAILED = -4,      /* the tour ran; some line did not pass */
    KV_CERTIFY_E_IO = -5,          /* the report cannot be written */
    KV_CERTIFY_E_NOMEM = -6
} kv_certify_status;

const char *kv_certify_strerror(kv_certify_status st);

/* Where the tour runs. */
typedef enum {
    KV_CERTIFY_ENV_SIM = 0,        /* `kvitt sim` on loopback */
    KV_CERTIFY_ENV_TEST,           /* https://apitest.vipps.no (Vipps MT app) */
    KV_CERTIFY_ENV_PRODUCTION,     /* https://api.vipps.no (real money) */
    KV_CERTIFY_ENV_OTHER           /* another base URL: treated like test */
} kv_certify_env;

const char *kv_certify_env_name(kv_certify_env e);

/* Progress text for the operator (one line, no newline, no secrets). */
typedef void (*kv_certify_progress_fn)(void *user, const char *line);

typedef struct kv_certify_options {
    int version;                   /* KV_CERTIFY_OPTIONS_VERSION */
    const kv_config *cfg;          /* borrowed, required */
    const char *store_id;          /* NULL = default_store */
    const char *out_dir;           /* reports rewritten here after every
                                      step; NULL = only kv_certify_write */
    const char *run_id;            /* 1-20 letters, digits, '-'; NULL = UTC
                                      time; references are
                                      <prefix>-cert-<run_id>-<n> */
    const char *phone;             /* test user's MSISDN (10-15 digits): the
                                      payments are pushed to it; NULL = QR */
    int force_approve;             /* test env: approve through the test-only
                                      API (needs phone) */
    int wait_for_app;              /* 1: never approve through the
                                      simulator's control endpoint: tell the
                                      operator and wait (e.g. for `kvitt sim
                                      --auto approve` or its landing page) */
    int qr_design_approved;        /* the operator states that Vipps approved
                                      the self-drawn QR (qr_source = text) */
    int approve_timeout_s;         /* wait for each approval; 0 = 300 (60
                                      against the simulator) */
    int webhook_wait_s;            /* wait for deliveries; 0 = 20 */
    int64_t amount;                /* minor units per payment; 0 = 1000
                                      (production: 200) */
    kv_certify_progress_fn progress;
    void *user;
    const volatile sig_atomic_t *stop; /* non-zero: stop waiting, fail the rest */
} kv_certify_options;

#define KV_CERTIFY_OPTIONS_VERSION 1
#define KV_CERTIFY_OPTIONS_INIT { .version = KV_CERTIFY_OPTIONS_VERSION }

typedef struct kv_certify kv_certify;

/* Validate the options, resolve the store, credentials and environment
 * (contacts the simulator's control endpoint to detect it).  No payment is
 * made.  On failure the cause is in err.  *out freed with kv_certify_close. */
kv_certify_status kv_certify_open(kv_certify **out, const kv_certify_options *opts,
                                  char *err, size_t errlen);

/* Run the whole tour.  OK when every line passed, FAILED when some did
 * not, UNREACHABLE / CONFIG when the service cannot be reached or refuses
 * the credentials before the first payment (err says why). */
kv_certify_status kv_certify_run(kv_certify *c, char *err, size_t errlen);

/* Write certify.md and certify.json (mode 0644, no secrets) into dir. */
kv_certify_status kv_certify_write(kv_certify *c, const char *dir, char *err, size_t errlen);

kv_certify_env kv_certify_environment(const kv_certify *c);

/* The checklist lines, in report order. */
typedef struct kv_certify_line_info {
    const char *id;                /* "create", "capture-full", ... */
    const char *title;
    const char *result;            /* "passed" | "failed" | "not verified" |
                                      "not run" */
    const char *reference;         /* "" when none */
    const char *final_state;       /* "" when none */
    const char *reason;            /* "" when passed */
} kv_certify_line_info;

size_t kv_certify_line_count(const kv_certify *c);
/* 0, or -1 when i is out of range. */
int kv_certify_line_get(const kv_certify *c, size_t i, kv_certify_line_info *out);

/* NULL is a no-op. */
void kv_certify_close(kv_certify *c);

#endif
