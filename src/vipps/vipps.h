/*
 * vipps.h - Vipps MobilePay API client (ePayment v1, eCom v2 + QR API,
 * Order Management receipts, Webhooks) on libcurl + cJSON + OpenSSL.
 *
 * Conventions (the contract for every function below):
 *  - Functions return a kv_vipps_status: 0 (KV_VIPPS_OK) or a negative code.
 *    Out-parameters come first and are written only on success, except the
 *    error detail, which is kept on the client handle (kv_vipps_last_error).
 *  - Money is always an integer amount in minor units (øre, cents): 49900 is
 *    NOK 499.00.  Currencies are "NOK", "DKK" or "EUR".
 *  - Strings passed in are borrowed for the duration of the call only (the
 *    client copies what it keeps).  Results are written into caller-owned
 *    structs with fixed-size fields; the few heap results name their free
 *    function.
 *  - Program setup: the PROGRAM calls curl_global_init(CURL_GLOBAL_DEFAULT)
 *    once before creating any client or shared cache, and
 *    curl_global_cleanup() at exit.  The library never does (no global
 *    state in the library).
 *  - Thread-safety: a kv_vipps_client is used by one thread at a time (it
 *    owns one curl easy handle, keep-alive connection and error buffer).
 *    Give each thread its own client.  A kv_vipps_shared (DNS cache, TLS
 *    session cache, connection-independent token cache) is thread-safe and
 *    may be given to many clients in many threads; it must outlive them.
 *  - Secrets: the client secret, the subscription key, access tokens and
 *    phone numbers are never put into log lines or error texts.  Every line
 *    handed to the log callback has passed a redaction filter that replaces
 *    the configured secrets, the current token and any phone number sent.
 *  - Idempotency: create/capture/refund/cancel take an idempotency key from
 *    the caller (at most 50 characters; eCom X-Request-Id at most 40).  The
 *    caller persists it before the call and reuses it after a restart; the
 *    client sends the same key on each of its own retries.
 *  - Ambiguous outcomes: a money-changing call that failed without a clear
 *    answer (timeout, dropped connection, 5xx/423/429 after all retries)
 *    returns KV_VIPPS_E_UNKNOWN, never a plain failure.  The client has
 *    already read the payment back once (GET) to resolve it where that was
 *    possible; KV_VIPPS_E_UNKNOWN means it could not decide: the money may
 *    or may not have moved, check again later (same key is safe to resend).
 */
#ifndef KV_VIPPS_VIPPS_H
#define KV_VIPPS_VIPPS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Status codes (append only, never renumber)                          */
/* ------------------------------------------------------------------ */
typedef enum {
    KV_VIPPS_OK = 0,
    KV_VIPPS_E_INVALID = -1,     /* bad argument or option from the caller */
    KV_VIPPS_E_NOMEM = -2,       /* out of memory */
    KV_VIPPS_E_API = -3,         /* the service answered with an error: see
                                    kv_vipps_last_error() (definite: nothing
                                    changed, or the change was refused) */
    KV_VIPPS_E_UNKNOWN = -4,     /* ambiguous failure of a money-changing
                                    call: outcome unknown, check again */
    KV_VIPPS_E_UNREACHABLE = -5, /* service not reachable (connection error,
                                    timeout, 5xx after retries) on a call
                                    that changes nothing (GET, token) */
    KV_VIPPS_E_AUTH = -6,        /* credentials refused (token call 401/403,
                                    or 401 again after one refresh) */
    KV_VIPPS_E_PARSE = -7,       /* a response or input could not be parsed */
    KV_VIPPS_E_REFUSED = -8,     /* the client refuses: test-only call outside
                                    test/loopback, plain http to a remote
                                    host, ... */
    KV_VIPPS_E_SIGNATURE = -9,   /* webhook/callback authentication failed */
    KV_VIPPS_E_STALE = -10,      /* webhook x-ms-date outside the window */
    KV_VIPPS_E_NOT_FOUND = -11,  /* 404: no such payment/order/webhook */
    KV_VIPPS_E_TOOLONG = -12     /* a value does not fit its result field */
} kv_vipps_status;

/* Static English text for a status; never NULL, never freed. */
const char *kv_vipps_strerror(kv_vipps_status st);

/* ------------------------------------------------------------------ */
/* Errors from the service                                             */
/* ------------------------------------------------------------------ */

/* Which API produced an error (codes mean different things per API). */
typedef enum {
    KV_VIPPS_API_TOKEN = 0,
    KV_VIPPS_API_EPAYMENT,
    KV_VIPPS_API_ECOM,
    KV_VIPPS_API_QR,
    KV_VIPPS_API_OM,
    KV_VIPPS_API_WEBHOOKS
} kv_vipps_api;

/* Coarse error class, for branching (append only). */
typedef enum {
    KV_VIPPS_ERR_NONE = 0,
    KV_VIPPS_ERR_TRANSPORT,      /* connection failed / dropped */
    KV_VIPPS_ERR_TIMEOUT,        /* no answer in time */
    KV_VIPPS_ERR_AUTH,           /* 401 */
    KV_VIPPS_ERR_FORBIDDEN,      /* 403: product not enabled, MSN not allowed */
    KV_VIPPS_ERR_NOT_FOUND,      /* 404 */
    KV_VIPPS_ERR_CONFLICT,       /* 409 / idempotency conflict codes */
    KV_VIPPS_ERR_LOCKED,         /* 423 or "processing, retry" codes */
    KV_VIPPS_ERR_RATE_LIMITED,   /* 429 */
    KV_VIPPS_ERR_SERVER,         /* 5xx */
    KV_VIPPS_ERR_BAD_REQUEST,    /* other 400 / 4xx */
    KV_VIPPS_ERR_CUSTOMER,       /* customer cannot pay with Vipps MobilePay
                                    (ePayment 7010, eCom 81) */
    KV_VIPPS_ERR_DECLINED,       /* card/issuer refused, insufficient funds */
    KV_VIPPS_ERR_STATE,          /* operation not allowed in this state
                                    (already captured, too much, expired) */
    KV_VIPPS_ERR_PROTOCOL,       /* unparseable / unexpected response */
    KV_VIPPS_ERR_AMBIGUOUS       /* money call with unknown outcome
                                    (status KV_VIPPS_E_UNKNOWN) */
} kv_vipps_err_class;

/* Detail of the last failure on a client.  Both messages are plain text
 * without secrets.  `cashier` is short, in the client's language, meant for
 * the till display or paper; `log` is English, for the log and support
 * (endpoint, HTTP status, code, title/detail, traceId). */
typedef struct kv_vipps_error {
    kv_vipps_api api;
    kv_vipps_err_class cls;
    int http_status;             /* 0 when no HTTP answer */
    int code;                    /* ePayment ErrorCode / eCom errorCode; 0 */
    long retry_after_s;          /* from Retry-After, -1 when absent */
    char trace_id[128];          /* traceId / contextId / trace_id; "" */
    char cashier[256];
    char log[768];
} kv_vipps_error;

/* Languages for cashier messages. */
typedef enum {
    KV_VIPPS_LANG_EN = 0,
    KV_VIPPS_LANG_NB,
    KV_VIPPS_LANG_DA,
    KV_VIPPS_LANG_FI
} kv_vipps_lang;

/* "nb"/"no"/"nn" -> NB, "da" -> DA, "fi" -> FI, anything else -> EN
 * ("sv" falls back to EN). */
kv_vipps_lang kv_vipps_lang_from_code(const char *code);

/* The static cashier text for an error class + code in a language
 * (never NULL, never freed).  Codes 7010 (ePayment) and 81 (eCom) say the
 * customer cannot pay with Vipps MobilePay, never that the number is wrong. */
const char *kv_vipps_cashier_text(kv_vipps_api api, kv_vipps_err_class cls,
                                  int code, kv_vipps_lang lang);

/* ------------------------------------------------------------------ */
/* Logging                                                             */
/* ------------------------------------------------------------------ */
typedef enum {
    KV_VIPPS_LOG_ERROR = 0,
    KV_VIPPS_LOG_WARN,
    KV_VIPPS_LOG_INFO,           /* one line per HTTP exchange */
    KV_VIPPS_LOG_DEBUG           /* verbose: headers and bodies (redacted) */
} kv_vipps_log_level;

/* Log callback: `line` is borrowed for the call only, NUL-terminated, one
 * line without a trailing newline, already redacted.  `payload` last. */
typedef void (*kv_vipps_log_fn)(kv_vipps_log_level level, const char *line,
                                void *payload);

/* Clock callback (tests): current Unix time in seconds. */
typedef time_t (*kv_vipps_clock_fn)(void *payload);

/* ------------------------------------------------------------------ */
/* Shared cache (thread-safe)                                          */
/* ------------------------------------------------------------------ */
typedef struct kv_vipps_shared kv_vipps_shared;

/* Create a cache shared by clients across threads: a CURLSH sharing DNS
 * and TLS sessions (with pthread locks) and the access-token cache keyed by
 * credential set (base URL + client_id + subscription key + MSN).
 * *out is freed with kv_vipps_shared_destroy() after every client using it
 * was destroyed.  Returns OK or NOMEM. */
kv_vipps_status kv_vipps_shared_create(kv_vipps_shared **out);
/* NULL is a no-op. */
void kv_vipps_shared_destroy(kv_vipps_shared *sh);

/* ------------------------------------------------------------------ */
/* Client                                                              */
/* ------------------------------------------------------------------ */
typedef struct kv_vipps_client kv_vipps_client;

#define KV_VIPPS_OPTS_VERSION 1

/* Client options.  Start from KV_VIPPS_OPTS_INIT; every string is copied by
 * kv_vipps_client_create(). */
typedef struct kv_vipps_opts {
    int version;                 /* KV_VIPPS_OPTS_VERSION */
    /* "test" (https://apitest.vipps.no), "production" (https://api.vipps.no)
     * or a base URL (http:// only for loopback hosts). Required. */
    const char *environment;
    const char *client_id;       /* required */
    const char *client_secret;   /* required, secret */
    const char *subscription_key;/* required, secret */
    const char *msn;             /* Merchant-Serial-Number of the store
                                    (sales unit), 4-7 digits; required: it is
                                    sent on every call */
    int partner_keys;            /* 1: the credentials are partner keys (the
                                    MSN is then mandatory; it always is) */
    const char *system_name;     /* Vipps-System-Name (default "kvitt") */
    const char *system_version;  /* Vipps-System-Version (default "0.1.0") */
    const char *plugin_name;     /* Vipps-System-Plugin-Name (default
                                    "kvitt-till") */
    const char *plugin_version;  /* Vipps-System-Plugin-Version (default =
                                    system_version) */
    const char *user_agent;      /* NULL: "kvitt/<system_version> libcurl" */
    kv_vipps_lang lang;          /* language of cashier messages */
    long connect_timeout_ms;     /* 1..3000, default 3000 */
    long total_timeout_ms;       /* budget of one call including its
                                    retries, backoff and a token fetch,
                                    1..30000, default 30000 (the read-back
                                    after an ambiguous failure gets its own
                                    budget) */
    int max_attempts;            /* per call incl. the first, 1..10, default 4 */
    long backoff_base_ms;        /* first retry delay before jitter, default
                                    200 */
    long backoff_max_ms;         /* cap of one delay, default 2000 */
    long retry_after_max_s;      /* longest Retry-After this client waits;
                                    a longer one ends the call at once with
                                    the 429/503 (never retried sooner than
                                    asked).  0 (default): only the call's
                                    deadline (total_timeout_ms) bounds it */
    long token_margin_s;         /* refresh this long before expires_on;
                                    default: min(60, lifetime/10) */
    unsigned int jitter_seed;    /* 0: seeded from time and address */
    kv_vipps_shared *shared;     /* optional: shared DNS/TLS/token cache */
    kv_vipps_log_fn log;         /* optional */
    void *log_payload;
    kv_vipps_log_level log_level;/* highest level passed to `log` (default
                                    INFO) */
    kv_vipps_clock_fn clock;     /* optional (tests); default time() */
    void *clock_payload;
    const char *trace_path;      /* optional: append a redacted wire trace
                                    (method, URL, headers, bodies, status,
                                    time) of every exchange to this file,
                                    created/kept mode 0600; for support
                                    cases.  Secret header values, secrets,
                                    tokens and phone numbers are masked. */
} kv_vipps_opts;

#define KV_VIPPS_OPTS_INIT { .version = KV_VIPPS_OPTS_VERSION, \
        .log_level = KV_VIPPS_LOG_INFO }

/* Create a client.  Validates the options (missing credentials, MSN not
 * 4-7 digits, timeouts above 3 s / 30 s, plain http to a non-loopback
 * host -> INVALID or REFUSED; the reason is in `errbuf` when given, which
 * is never a secret).  Does no network I/O (the token is fetched on the
 * first call).  *out is freed with kv_vipps_client_destroy(). */
kv_vipps_status kv_vipps_client_create(kv_vipps_client **out,
                                       const kv_vipps_opts *opts,
                                       char *errbuf, size_t errbuf_len);
/* Close the connection and free the client. NULL is a no-op. */
void kv_vipps_client_destroy(kv_vipps_client *c);

/* Detail of the last failed call on this client (borrowed, valid until
 * the next call on the client; cls == NONE after a success). */
const kv_vipps_error *kv_vipps_last_error(const kv_vipps_client *c);

/* Base URL in use, without trailing slash (borrowed, life of client). */
const char *kv_vipps_base_url(const kv_vipps_client *c);
/* 1 when the environment is "test" or a loopback URL (test-only calls are
 * allowed), else 0. */
int kv_vipps_is_test(const kv_vipps_client *c);

/* Bound every following call on this client by an outer deadline (the
 * payment's): a call's budget ends at the earlier of its own
 * (total_timeout_ms) and `ms` milliseconds from now, so a Retry-After or a
 * backoff never sleeps past it (the call ends with its error instead).
 * ms == 0 removes the bound; ms < 0 means it has already passed (calls get
 * the minimum budget). */
void kv_vipps_set_deadline_in(kv_vipps_client *c, long ms);

/* Counters for tests and benchmarks (since create). */
typedef struct kv_vipps_stats {
    unsigned long http_requests;   /* HTTP attempts sent, incl. retries */
    unsigned long retries;         /* attempts beyond the first */
    unsigned long token_fetches;   /* POST /accesstoken/get calls made */
    unsigned long connects;        /* new TCP connections opened */
} kv_vipps_stats;
void kv_vipps_get_stats(const kv_vipps_client *c, kv_vipps_stats *out);

/* Fetch an access token now if the cached one is missing or due for
 * refresh (warm-up before the first payment).  OK, AUTH, UNREACHABLE. */
kv_vipps_status kv_vipps_token_warm(kv_vipps_client *c);
/* 1 when a cached token is valid and not due for refresh (no request is
 * made); 0 when the next call will fetch one. */
int kv_vipps_token_cached(kv_vipps_client *c);
/* Drop the cached token for this client's credential set (next call
 * fetches a new one). */
void kv_vipps_token_forget(kv_vipps_client *c);

/* ------------------------------------------------------------------ */
/* Receipts (ePayment create `receipt`, Order Management)              */
/* ------------------------------------------------------------------ */
typedef struct kv_vipps_order_line {
    const char *id;              /* product/line id, required */
    const char *name;            /* required */
    int64_t total_amount;        /* incl. tax, after discount */
    int64_t total_amount_excl_tax;
    int64_t total_tax_amount;
    int tax_rate;                /* hundredths of a percent: 2500 = 25 % */
    int64_t unit_price;          /* incl. tax, before discount; 0: omitted */
    const char *quantity;        /* "1", "0.5"; NULL: unitInfo omitted */
    const char *quantity_unit;   /* "PCS" (NULL), "KG", "LITRE", ... */
    int64_t discount;            /* >= 0 */
    int is_return;
} kv_vipps_order_line;

typedef struct kv_vipps_receipt {
    const kv_vipps_order_line *lines;   /* at least one */
    size_t n_lines;
    const char *currency;        /* bottomLine.currency, required */
    const char *pos_id;          /* bottomLine.posId (till id), optional */
    const char *receipt_number;  /* bottomLine.receiptNumber, optional */
    int64_t tip_amount;          /* 0: omitted */
} kv_vipps_receipt;

/* ------------------------------------------------------------------ */
/* ePayment v1                                                         */
/* ------------------------------------------------------------------ */
typedef enum {
    KV_VIPPS_FLOW_QR = 0,        /* one-time QR on the customer-facing slip */
    KV_VIPPS_FLOW_PUSH           /* PUSH_MESSAGE to `phone` */
} kv_vipps_flow;

typedef enum {
    KV_VIPPS_QR_TEXT = 0,        /* TEXT/TARGETURL: redirect_url is the QR
                                    content to render ourselves */
    KV_VIPPS_QR_PNG              /* IMAGE/PNG: redirect_url is an image URL */
} kv_vipps_qr_format;

typedef struct kv_vipps_create_req {
    const char *reference;       /* ^[a-zA-Z0-9-]{8,50}$, required */
    int64_t amount;              /* minor units, > 0 */
    const char *currency;        /* "NOK" | "DKK" | "EUR" */
    kv_vipps_flow flow;
    kv_vipps_qr_format qr_format;/* QR flow only */
    int qr_size;                 /* IMAGE/PNG edge in pixels 100..2000, 0:
                                    service default */
    const char *phone;           /* PUSH flow: MSISDN digits 10-15, e.g.
                                    "4791234567" (secret: never logged) */
    const char *description;     /* paymentDescription, 3-100 chars */
    const kv_vipps_receipt *receipt; /* optional */
    const char *return_url;      /* optional */
    const char *idempotency_key; /* required, 1-50 chars */
    int customer_not_present;    /* 1: CUSTOMER_NOT_PRESENT (a push to someone
                                    away from the till); 0: CUSTOMER_PRESENT */
} kv_vipps_create_req;

typedef struct kv_vipps_created {
    char reference[65];
    char redirect_url[2048];     /* QR content/image URL; "" for PUSH */
} kv_vipps_created;

/* POST /epayment/v1/payments (201).  customerInteraction CUSTOMER_PRESENT
 * (CUSTOMER_NOT_PRESENT with customer_not_present),
 * paymentMethod WALLET.  On an ambiguous failure the client GETs the
 * reference: found -> OK with redirect_url from the GET; 404 -> the
 * last HTTP error's status (API/UNREACHABLE: nothing was created);
 * otherwise UNKNOWN. */
kv_vipps_status kv_vipps_create(kv_vipps_created *out, kv_vipps_client *c,
                                const kv_vipps_create_req *req);

typedef enum {
    KV_VIPPS_STATE_UNKNOWN = 0,  /* a state this client does not know */
    KV_VIPPS_STATE_CREATED,
    KV_VIPPS_STATE_AUTHORIZED,
    KV_VIPPS_STATE_ABORTED,
    KV_VIPPS_STATE_EXPIRED,
    KV_VIPPS_STATE_TERMINATED
} kv_vipps_state;

/* "CREATED" etc.; static text. */
const char *kv_vipps_state_name(kv_vipps_state s);
/* 1 for AUTHORIZED/ABORTED/EXPIRED/TERMINATED. */
int kv_vipps_state_final(kv_vipps_state s);

typedef struct kv_vipps_payment {
    char reference[65];
    kv_vipps_state state;
    char currency[4];
    int64_t amount;              /* requested */
    int64_t authorized;          /* aggregate.authorizedAmount */
    int64_t captured;
    int64_t refunded;
    int64_t cancelled;
    char psp_reference[128];
    char redirect_url[2048];     /* "" when absent */
} kv_vipps_payment;

/* GET /epayment/v1/payments/{reference}.  OK, NOT_FOUND, API,
 * UNREACHABLE, AUTH, PARSE. */
kv_vipps_status kv_vipps_get(kv_vipps_payment *out, kv_vipps_client *c,
                             const char *reference);

typedef struct kv_vipps_event {
    char name[24];               /* CREATED, AUTHORIZED, CAPTURED, ... */
    char reference[65];
    char psp_reference[128];
    char currency[4];
    int64_t amount;
    char timestamp[48];          /* as sent (RFC 3339) */
    char idempotency_key[51];    /* "" when null */
    int success;                 /* 1/0 */
} kv_vipps_event;

/* GET .../{reference}/events.  *out is a malloc'd array of *n_out events
 * (may be 0 with *out NULL), freed with kv_vipps_events_free(). */
kv_vipps_status kv_vipps_events(kv_vipps_event **out, size_t *n_out,
                                kv_vipps_client *c, const char *reference);
void kv_vipps_events_free(kv_vipps_event *ev);

/* Modification result (capture/refund/cancel answer, or the payment read
 * back after an ambiguous failure was resolved). */
typedef kv_vipps_payment kv_vipps_modification;

/* POST .../capture with modificationAmount {currency, amount}.  Partial
 * captures allowed.  On an ambiguous failure the client reads the event log
 * and resolves by the event carrying `idempotency_key`: success -> OK,
 * failed -> API; no such event -> UNKNOWN. */
kv_vipps_status kv_vipps_capture(kv_vipps_modification *out,
                                 kv_vipps_client *c, const char *reference,
                                 int64_t amount, const char *currency,
                                 const char *idempotency_key);
/* POST .../refund (full or partial); same resolution rules as capture. */
kv_vipps_status kv_vipps_refund(kv_vipps_modification *out,
                                kv_vipps_client *c, const char *reference,
                                int64_t amount, const char *currency,
                                const char *idempotency_key);
/* POST .../cancel; transaction_only: {"cancelTransactionOnly": true}
 * (cancel only if not yet authorized; error 6060 otherwise).  After an
 * ambiguous failure the payment is read back: TERMINATED or a released
 * remainder -> OK, else UNKNOWN. */
kv_vipps_status kv_vipps_cancel(kv_vipps_modification *out,
                                kv_vipps_client *c, const char *reference,
                                int transaction_only,
                                const char *idempotency_key);
/* POST /epayment/v1/test/payments/{reference}/approve with the customer's
 * phone number (test users).  REFUSED unless kv_vipps_is_test(). */
kv_vipps_status kv_vipps_test_approve(kv_vipps_client *c,
                                      const char *reference,
                                      const char *phone);

/* ------------------------------------------------------------------ */
/* eCom v2 + QR API (legacy flow)                                      */
/* ------------------------------------------------------------------ */
typedef struct kv_vipps_ecom_req {
    const char *order_id;        /* ^[a-zA-Z0-9-]{1,50}$ */
    int64_t amount;              /* øre, >= 100 */
    const char *text;            /* transactionText, 1-100 chars */
    const char *callback_prefix; /* https URL (or loopback http), required */
    const char *fallback;        /* fallBack: the merchant's website */
    const char *auth_token;      /* echoed on callbacks, optional (secret) */
    const char *phone;           /* 8 digits, optional (secret) */
} kv_vipps_ecom_req;

/* POST /ecomm/v2/payments (skipLandingPage false, not idempotent: never
 * retried after the request may have reached the service).  out_url gets
 * the landing page URL (valid 5 minutes). */
kv_vipps_status kv_vipps_ecom_initiate(char *out_url, size_t out_len,
                                       kv_vipps_client *c,
                                       const kv_vipps_ecom_req *req);

typedef struct kv_vipps_qr {
    char url[2048];              /* QR content (text/targetUrl) or image URL */
    long expires_in;             /* seconds, -1 when absent */
} kv_vipps_qr;

/* POST /qr/v1/ {"url": landing_url} with Accept text/targetUrl (TEXT) or
 * image/png (PNG, `size` 100-2000 or 0). */
kv_vipps_status kv_vipps_qr_onetime(kv_vipps_qr *out, kv_vipps_client *c,
                                    const char *landing_url,
                                    kv_vipps_qr_format fmt, int size);

typedef struct kv_vipps_ecom_details {
    char order_id[51];
    char last_operation[16];     /* newest transactionLogHistory entry
                                    with operationSuccess true: INITIATE,
                                    RESERVE, SALE, CAPTURE, REFUND, CANCEL,
                                    VOID; "" when none */
    int opened;                  /* INITIATE entry has a transactionId (QR
                                    opened in the app) */
    int reserve_failed;          /* a RESERVE/SALE entry with
                                    operationSuccess false is newer than
                                    every successful entry (declined) */
    int64_t amount;              /* amount of the RESERVE/INITIATE entry */
    int64_t captured;            /* transactionSummary.capturedAmount */
    int64_t remaining_to_capture;
    int64_t refunded;
    int64_t remaining_to_refund;
} kv_vipps_ecom_details;

/* GET /ecomm/v2/payments/{orderId}/details. */
kv_vipps_status kv_vipps_ecom_details_get(kv_vipps_ecom_details *out,
                                          kv_vipps_client *c,
                                          const char *order_id);

typedef struct kv_vipps_ecom_result {
    char order_id[51];
    char status[16];             /* transactionInfo.status: Captured, ... */
    int64_t amount;              /* transactionInfo.amount */
    int64_t captured, remaining_to_capture, refunded, remaining_to_refund;
} kv_vipps_ecom_result;

/* POST .../capture with X-Request-Id (required, <= 40 chars); amount 0
 * captures the full amount. Ambiguous failure -> details read back. */
kv_vipps_status kv_vipps_ecom_capture(kv_vipps_ecom_result *out,
                                      kv_vipps_client *c,
                                      const char *order_id, int64_t amount,
                                      const char *text,
                                      const char *request_id);
/* PUT .../cancel {transactionText, shouldReleaseRemainingFunds}. */
kv_vipps_status kv_vipps_ecom_cancel(kv_vipps_ecom_result *out,
                                     kv_vipps_client *c, const char *order_id,
                                     const char *text, int release_remaining);
/* POST .../refund with X-Request-Id. */
kv_vipps_status kv_vipps_ecom_refund(kv_vipps_ecom_result *out,
                                     kv_vipps_client *c, const char *order_id,
                                     int64_t amount, const char *text,
                                     const char *request_id);

typedef struct kv_vipps_ecom_callback {
    char msn[16];
    char order_id[51];
    char status[24];             /* RESERVED, RESERVE, SALE, CANCELLED,
                                    REJECTED, RESERVE_FAILED, SALE_FAILED */
    int64_t amount;
    char transaction_id[64];
    int error_code;              /* errorInfo.errorCode, 0 when absent */
} kv_vipps_ecom_callback;

/* Parse an eCom callback body (POST [callbackPrefix]/v2/payments/{id})
 * and check its Authorization header against the authToken given at
 * initiate (constant-time; both NULL/"" = no token configured).
 * SIGNATURE when the header does not match; PARSE on a bad body. */
kv_vipps_status kv_vipps_ecom_callback_parse(kv_vipps_ecom_callback *out,
                                             const char *body, size_t len,
                                             const char *authorization,
                                             const char *expected_auth_token);

/* ------------------------------------------------------------------ */
/* Order Management                                                    */
/* ------------------------------------------------------------------ */

/* POST /order-management/v2/ECOM/receipts/{orderId} (works for ePayment
 * references and eCom order ids).  A receipt is immutable: a second one
 * gives API with cls CONFLICT.  Transient failures are retried with the
 * same body, so CONFLICT after a lost answer means an earlier attempt
 * stored it: callers treat CONFLICT as "the receipt is there". */
kv_vipps_status kv_vipps_om_add_receipt(kv_vipps_client *c,
                                        const char *order_id,
                                        const kv_vipps_receipt *receipt);

/* ------------------------------------------------------------------ */
/* Webhooks                                                            */
/* ------------------------------------------------------------------ */
typedef struct kv_vipps_webhook {
    char id[80];
    char url[1024];
    char secret[256];            /* only from register; "" from list */
    unsigned int events;         /* bit set of KV_VIPPS_WH_* */
} kv_vipps_webhook;

/* Event bits for registration (ePayment events). */
#define KV_VIPPS_WH_CREATED     (1u << 0)
#define KV_VIPPS_WH_ABORTED     (1u << 1)
#define KV_VIPPS_WH_EXPIRED     (1u << 2)
#define KV_VIPPS_WH_CANCELLED   (1u << 3)
#define KV_VIPPS_WH_CAPTURED    (1u << 4)
#define KV_VIPPS_WH_REFUNDED    (1u << 5)
#define KV_VIPPS_WH_AUTHORIZED  (1u << 6)
#define KV_VIPPS_WH_TERMINATED  (1u << 7)
#define KV_VIPPS_WH_ALL         0xffu

/* POST /webhooks/v1/webhooks {url, events} (201 {id, secret}).  The
 * secret must be stored by the caller (it is not shown again). */
kv_vipps_status kv_vipps_webhook_register(kv_vipps_webhook *out,
                                          kv_vipps_client *c,
                                          const char *url,
                                          unsigned int events);
/* GET /webhooks/v1/webhooks.  *out malloc'd array (free()), *n_out may be
 * 0 with *out NULL. */
kv_vipps_status kv_vipps_webhook_list(kv_vipps_webhook **out, size_t *n_out,
                                      kv_vipps_client *c);
/* DELETE /webhooks/v1/webhooks/{id} (204).  NOT_FOUND when absent. */
kv_vipps_status kv_vipps_webhook_delete(kv_vipps_client *c, const char *id);

/* Verify one webhook delivery; needs no client (the daemon calls it).
 *   secret        the registration secret, used as given (UTF-8 bytes)
 *   url           the REGISTERED URL (its path+query and host:port sign)
 *   body,len      the raw body bytes exactly as received
 *   x_ms_date     header value (RFC 1123)
 *   content_sha256  x-ms-content-sha256 header value
 *   authorization Authorization header value
 *   now           current Unix time; max_skew_s: refuse when |now - date|
 *                 exceeds it (0 = no freshness check)
 * OK, SIGNATURE (hash, signature or header format wrong), STALE, INVALID. */
kv_vipps_status kv_vipps_webhook_verify(const char *secret, const char *url,
                                        const void *body, size_t len,
                                        const char *x_ms_date,
                                        const char *content_sha256,
                                        const char *authorization,
                                        time_t now, long max_skew_s);

/* Compute the headers a delivery carries (the sender side; the simulator
 * and tests use it).  out_hash >= 45 bytes, out_auth >= 160 bytes. */
kv_vipps_status kv_vipps_webhook_sign(char *out_hash, size_t hash_len,
                                      char *out_auth, size_t auth_len,
                                      const char *secret, const char *url,
                                      const void *body, size_t len,
                                      const char *x_ms_date);

/* An ePayment webhook payload. */
typedef struct kv_vipps_webhook_event {
    char msn[16];
    char reference[65];
    char psp_reference[128];
    char name[24];               /* CREATED, AUTHORIZED, ... */
    char currency[4];
    int64_t amount;
    char timestamp[48];
    char idempotency_key[51];
    int success;
} kv_vipps_webhook_event;

/* Parse a (verified) webhook body. OK or PARSE. */
kv_vipps_status kv_vipps_webhook_parse(kv_vipps_webhook_event *out,
                                       const void *body, size_t len);

#ifdef __cplusplus
}
#endif
#endif
