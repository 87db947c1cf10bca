/*
 * internal.h - the client handle's HTTP core, shared by the API files of
 * src/vipps.  Not a public header.
 */
#ifndef KV_VIPPS_INTERNAL_H
#define KV_VIPPS_INTERNAL_H

#include "src/vipps/wire.h"

#include <curl/curl.h>

#include <pthread.h>
#include <time.h>

/* ---- the client handle (http.c), shared with the API files ---- */

typedef struct kv_token {
    struct kv_token *next;
    char *key;              /* credential-set key (no secret in clear) */
    char *token;            /* access token (secret) */
    time_t expires_on;
    time_t refresh_at;
} kv_token;

typedef struct kv_token_cache {
    pthread_mutex_t mu;
    kv_token *head;
} kv_token_cache;

struct kv_vipps_client {
    CURL *curl;
    char *base;             /* no trailing slash */
    char *host;             /* host of base */
    int loopback;
    int is_test;
    char *client_id, *client_secret, *sub_key, *msn;
    char *sys_name, *sys_ver, *plug_name, *plug_ver, *ua;
    char *cache_key;
    kv_vipps_lang lang;
    long connect_ms, total_ms, backoff_base, backoff_max, retry_after_max;
    double deadline;        /* monotonic ms: end of the current call */
    double outer_deadline;  /* monotonic ms set by kv_vipps_set_deadline_in, 0 none */
    long token_margin;
    int max_attempts;
    unsigned int rng;
    kv_token_cache own_tokens;
    kv_token_cache *tokens;
    kv_vipps_shared *shared;
    kv_vipps_log_fn log;
    void *log_payload;
    kv_vipps_log_level log_level;
    kv_vipps_clock_fn clock;
    void *clock_payload;
    char *token;            /* the token in use (copy, secret) */
    const char *cur_phone;  /* phone in the current request (redaction) */
    kv_vipps_error err;
    kv_vipps_stats stats;
    int trace_fd;           /* wire trace file (trace.c), -1 when off */
};

/* How a request may be retried. */
typedef enum {
    KV_RETRY_SAFE = 0,      /* GET / idempotent-keyed: retry all transient */
    KV_RETRY_NEVER_AFTER_SEND /* not idempotent (eCom initiate): retry only
                                 when the request certainly was not sent
                                 (connect failed) or answered 429/423 */
} kv_retry_mode;

typedef struct kv_req {
    const char *method;     /* GET POST PUT DELETE */
    char path[512];         /* appended to the base URL */
    const char *body;       /* NULL: no body */
    const char *idem_key;   /* Idempotency-Key */
    const char *request_id; /* X-Request-Id (eCom) */
    const char *accept;     /* Accept (QR API); default application/json */
    int qr_size;            /* Size header when > 0 */
    const char *phone;      /* a phone number in the body, for redaction */
    kv_vipps_api api;
    kv_retry_mode retry;
} kv_req;

typedef struct kv_resp {
    long status;            /* 0 when no HTTP answer */
    char *body;             /* malloc'd, NUL-terminated (free()) */
    size_t len;
    long retry_after_s;     /* -1 absent */
    int ambiguous;          /* some attempt may have reached the service
                               without a definite answer */
} kv_resp;

void kv__resp_free(kv_resp *r);

/* Run one API call with token, headers, retries and the 401 refresh.
 * Returns OK for 2xx (r filled), or an error status with
 * kv_vipps_last_error(c) set:
 *   API / NOT_FOUND / AUTH  definite answer from the service
 *   UNREACHABLE             no definite answer (r->ambiguous tells whether
 *                           the request may have arrived)
 * r is always initialised; free it with kv__resp_free(). */
kv_vipps_status kv__call(kv_vipps_client *c, const kv_req *req, kv_resp *r);

/* kv__call, then on KV_VIPPS_OK parse the answer into out with parse
 * (which sets out only on success); an answer it cannot parse is recorded
 * as a protocol error of req->api, "<what>: unexpected answer body".  On
 * another status out is untouched and, when ambiguous is not NULL,
 * *ambiguous is 1 when the request may have reached the service without a
 * definite answer (UNREACHABLE), else 0. */
kv_vipps_status kv__call_parse(kv_vipps_client *c, const kv_req *req,
                               kv_vipps_status (*parse)(void *out, const char *body, size_t len),
                               void *out, const char *what, int *ambiguous);

/* Record a client-side error on the handle (no HTTP). */
void kv__set_error(kv_vipps_client *c, kv_vipps_api api,
                   kv_vipps_err_class cls, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Set the ambiguous-outcome error (status UNKNOWN) keeping the log text. */
void kv__set_ambiguous(kv_vipps_client *c, const char *what);
/* Log a line (redacted) through the client's callback. */
void kv__log(kv_vipps_client *c, kv_vipps_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *kv__msn(const kv_vipps_client *c);
kv_vipps_lang kv__lang(const kv_vipps_client *c);
kv_vipps_error *kv__err(kv_vipps_client *c);

/* Mask secrets, the token, the request's phone number and JSON values of
 * secret keys in s, in place (what every log line passes). */
void kv__redact(const kv_vipps_client *c, char *s);

/* ---- wire trace (trace.c) ---- */
typedef struct kv_tracebuf {
    char *buf;
    size_t len, cap;
    size_t out_seen, in_seen;   /* body bytes seen per direction */
    int failed;                 /* out of memory: the record is lost */
} kv_tracebuf;
/* Open (create 0600, or tighten to 0600) the trace file for appending;
 * the descriptor, or -1 with the reason in err. */
int kv__trace_open(const char *path, char *err, size_t errlen);
/* Capture the next exchange on h into t (t NULL: stop capturing). */
void kv__trace_attach(CURL *h, kv_tracebuf *t);
/* Write one redacted record for the exchange just performed on h and
 * free t's buffer. */
void kv__trace_write(kv_vipps_client *c, int fd, kv_tracebuf *t, CURL *h, const char *method,
                     const char *url, CURLcode rc, long status);

/* ---- clock and retry timing (retry.c) ---- */
double kv__mono_ms(void);
/* Start a call's budget: now + total_timeout_ms, cut by the outer deadline. */
void kv__budget_start(kv_vipps_client *c);
/* Milliseconds left of the current call's budget (>= 0). */
long kv__remaining_ms(const kv_vipps_client *c);
/* Sleep ms before a retry if the budget leaves a useful attempt after it
 * (100 ms); 0 when out of time. */
int kv__wait_retry(kv_vipps_client *c, long ms);
/* The jittered backoff before retry number retry_no (1 = first). */
long kv__backoff(kv_vipps_client *c, int retry_no);
/* Wait before the retry after `attempt`: the backoff, or the server's
 * Retry-After exactly (never shorter) when it fits the deadline and
 * retry_after_max_s; else nothing is slept, c->err says why, 0. */
int kv__wait_retry_after(kv_vipps_client *c, int attempt, long retry_after_s);

/* Percent-encode a path segment into dst (RFC 3986 unreserved kept). */
int kv__path_seg(char *dst, size_t n, const char *seg);

/* Constant-time comparison of two NUL-terminated strings (length leaks). */
int kv__ct_streq(const char *a, const char *b);

#endif
