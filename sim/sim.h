/*
 * sim.h - a local simulator of the Vipps MobilePay APIs kvitt uses.
 *
 * One kv_sim handle is one HTTP server (libmicrohttpd, a thread per
 * connection) with its own state: sales units and credentials, access
 * tokens, ePayment payments, eCom orders, one-time QR codes, Order
 * Management receipts, webhook registrations and a delivery queue, the
 * Report API's ledgers (entries made from the payments' captures and
 * refunds, payouts) and the Management API's sales units and product
 * orders.  There is no global state: several simulators can run in one
 * process.
 *
 * Faithful to ../shared/docs/vipps-api.md (paths, status codes, headers,
 * body shapes, states, aggregate amounts, event log, RFC 7807 and eCom
 * error bodies, idempotency, rate limits, magic test amounts, webhook
 * HMAC signing).  The README section "The simulator" lists the deliberate
 * differences.
 *
 * Threads: the server answers on a thread per connection and a worker
 * thread runs the customer clock and deliveries; all state is behind one
 * mutex.  kv_sim_url/kv_sim_port may be called from any thread; destroy
 * once, from one thread, after which no call may use the handle.
 *
 * Built-in sales units and credentials (the only ones accepted):
 *   store "oslo"    MSN 123456, merchant keys "oslo"
 *   store "bergen"  MSN 234567, merchant keys "bergen"
 *   partner keys "nordkaffe-partner" acting for both MSNs (the MSN header
 *   is then mandatory).
 * kv_sim_credentials() returns them; kv_sim_write_config() writes a kvitt
 * configuration + secrets file that uses them.
 *
 * Test-control endpoints (no authentication, never part of the real API):
 *   GET    /sim/v1/stats                 {"requests":{"METHOD path":n},
 *       "idempotencyKeys":[{"method","path","key","count"}] (Idempotency-Key
 *       or X-Request-Id), "missingSystemHeaders":{"METHOD path":n} (calls
 *       without all four Vipps-System-* headers), "tokensIssued":n,
 *       "deliveries":{"attempted","delivered","failed","pending"}}
 *   DELETE /sim/v1/stats                 reset those counters
 *   POST   /sim/v1/faults                script faults, body
 *       {"method":"POST","path":"/epayment/v1/payments/REF/capture",
 *        "count":2,"action":"status"|"drop"|"slow","status":503,
 *        "errorCode":"6160","retryAfter":1,"delayMs":3000,
 *        "when":"before"|"after"}
 *     path may end in '*' (prefix match); method is optional.  "before"
 *     (default) answers without touching state; "after" performs the
 *     operation and then replaces the answer (lost response).
 *   GET    /sim/v1/faults                pending scripted faults
 *   DELETE /sim/v1/faults                clear them
 *   POST   /sim/v1/payments/{ref}/state  body {"state":"AUTHORIZED"|
 *       "ABORTED"|"EXPIRED"} (also "approve"/"abort"/"expire"): act as the
 *       customer on an ePayment payment or eCom order with that id
 *   GET    /sim/v1/webhooks/deliveries   the delivery log (url, event,
 *                                         attempts, last status; pending ones
 *                                         and the last ~500 finished)
 *   GET    /sim/v1/qr/{token}.png|.svg   QR images behind redirectUrl / QR
 *                                         API urls (no authentication, as
 *                                         the real image host)
 *   GET    /sim/v1/landing/{token}       a small HTML page with the
 *                                         payment and approve/abort buttons
 *   POST   /sim/v1/report/config         Report API settings (any subset):
 *       {"pageSize":100,"cutoff":"HH:MM","feeBasisPoints":175,
 *        "closeDelayS":21600,"clockOffsetS":0} (clockOffsetS moves the
 *       report clock ahead: dates close by themselves)
 *   POST   /sim/v1/report/close          {"msn":"123456","date":"YYYY-MM-DD"}
 *       (both optional: every sales unit, today): close the ledger date now
 *       (fees-retained and payout-scheduled entries)
 *   POST   /sim/v1/report/entries        {"action":"add","msn","entryType",
 *       "reference","amount"[,"date"]} | {"action":"drop"|"amount","reference",
 *       "entryType","amount"}: a transaction kvitt did not make, one Vipps
 *       lacks, or another amount (see docs/simulator.md)
 *
 * Report API (sim_report.c) and Management API (sim_mgmt.c): see
 * docs/simulator.md, "The Report API" and "The Management API".
 */
#ifndef KV_SIM_SIM_H
#define KV_SIM_SIM_H

#include <stddef.h>

typedef struct kv_sim kv_sim;

/* Status codes (0 ok, negatives; append only). */
typedef enum {
    KV_SIM_OK = 0,
    KV_SIM_E_ARG = -1,      /* bad option or argument */
    KV_SIM_E_NOMEM = -2,    /* out of memory */
    KV_SIM_E_LISTEN = -3,   /* could not resolve or bind the listen address */
    KV_SIM_E_THREAD = -4,   /* could not start a thread */
    KV_SIM_E_IO = -5        /* could not write a file (write_config) */
} kv_sim_status;

/* What the simulated customer does with a new payment. */
typedef enum {
    KV_SIM_AUTO_NONE = 0,   /* nothing: the test approve endpoint or expiry */
    KV_SIM_AUTO_APPROVE,    /* approve after approve_after_ms */
    KV_SIM_AUTO_ABORT,      /* abort in the app after approve_after_ms */
    KV_SIM_AUTO_EXPIRE      /* let it expire after approve_after_ms */
} kv_sim_auto;

typedef struct kv_sim_options {
    const char *host;          /* listen address, default "127.0.0.1" */
    int port;                  /* 0 = pick a free port (default) */
    kv_sim_auto auto_mode;     /* default KV_SIM_AUTO_NONE */
    int approve_after_ms;      /* default 3000 */
    int latency_ms;            /* added to every API reply, default 0 */
    double fail_rate;          /* 0..1: share of API calls that fail (5xx,
                                  dropped connection or slow reply) */
    int slow_ms;               /* delay of a "slow reply", default 3000 */
    unsigned long long seed;   /* PRNG seed (tokens, ids, faults), default 1 */
    int expire_after_s;        /* payment expiry, default 600 (10 min) */
    int unknown_after_s;       /* magic amount 201 stays unknown this long,
                                  default 3600 */
    int token_ttl_s;           /* access token lifetime, default 3600 */
    int rate_get_per_min;      /* GETs per reference per minute, default 120;
                                  0 = unlimited */
    int rate_mod_per_min;      /* create/capture/cancel/refund per reference
                                  and operation per minute, default 5 (eCom
                                  initiate: 2); 0 = unlimited */
    const char *known_phones;  /* comma-separated MSISDNs (country code, no
                                  '+') that are Vipps users; NULL = the
                                  built-in list (see kv_sim_known_phones) */
    int webhook_timeout_ms;    /* delivery/callback timeout, default 10000
                                  (eCom callbacks: at most 3000) */
    int webhook_retry_ms;      /* first retry delay, default 2000 (then the
                                  real schedule: x4, 60 s, 120 s, hourly) */
    int webhook_max_attempts;  /* default 29 */
    int quiet;                 /* no request log on stderr */
    int no_delivery;           /* never send webhooks or callbacks (they are
                                  counted as failed); for fuzzing */
    const char *record_path;   /* append every API exchange (not /sim/) as
                                  one JSON line {method, path, status,
                                  contentType, request, response} for
                                  tests/contract/validate.py --record;
                                  NULL = off.  Holds tokens: test use only */
} kv_sim_options;

/* One built-in credential set (borrowed from static storage). */
typedef struct kv_sim_cred {
    const char *name;              /* "oslo", "bergen", "nordkaffe-partner" */
    const char *client_id;
    const char *client_secret;
    const char *subscription_key;
    const char *msn;               /* own MSN, "" for partner keys */
    int partner;                   /* 1: partner keys (MSN header required) */
} kv_sim_cred;

/* Fill *o with the defaults above. */
void kv_sim_options_init(kv_sim_options *o);

/* Start a simulator (server + worker thread) per *o (copied; strings are
 * copied too).  On success *out is a new handle the caller frees with
 * kv_sim_destroy().  *out is untouched on failure. */
kv_sim_status kv_sim_start(kv_sim **out, const kv_sim_options *o);

/* Base URL, e.g. "http://127.0.0.1:40123" (borrowed, lives as long as s). */
const char *kv_sim_url(const kv_sim *s);

/* Bound TCP port. */
int kv_sim_port(const kv_sim *s);

/* Write a complete kvitt configuration at path (see notes/CONFIG.md) that
 * points at this simulator: two stores (oslo, bergen) of chain nordkaffe,
 * merchant keys for each plus the partner set, `virtual:` printers in
 * <dir>/printer/<store>, journal <dir>/kvitt-journal.db and the secrets
 * file <path without .conf>.secrets (mode 0600), <dir> = path's folder.
 * Stores use qr_source = image; [till till-1] (store oslo) holds the
 * token_sha256 of a fresh random till token, whose plain value is the
 * "# till-token till-1 = TOKEN" comment line of the secrets file.
 * Existing files are replaced.  Returns KV_SIM_E_IO (errno set) on failure. */
kv_sim_status kv_sim_write_config(const kv_sim *s, const char *path);

/* Same as above without a running simulator: environment = url. */
kv_sim_status kv_sim_write_config_url(const char *url, const char *path);

/* The built-in credential sets; *n receives their count.  Static storage. */
const kv_sim_cred *kv_sim_credentials(size_t *n);

/* The built-in list of known test phone numbers (comma separated). */
const char *kv_sim_known_phones(void);

/* Stop the server, join the threads, free everything.  NULL is a no-op. */
void kv_sim_destroy(kv_sim *s);

/* English text for a status (static). */
const char *kv_sim_strerror(kv_sim_status st);

#endif
