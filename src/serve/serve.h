/*
 * serve.h - `kvitt serve`: the daemon for tills and chains.
 *
 * A kv_serve is one running daemon: an HTTP server (src/serve/http.h) in
 * front of ONE kv_flow handle (src/flow/flow.h).  It adds what a service
 * needs around the till flow and nothing of the flow itself:
 *
 *   - the till API under /v1 (src/serve/openapi.yaml describes it);
 *   - till authentication: bearer tokens kept as SHA-256 hashes in
 *     `[till ID] token_sha256`, each bound to one store (src/serve/auth.h);
 *   - Idempotency-Key handling for POSTs, stored in the journal database
 *     (src/serve/sdb.h): the same key and body replay the first answer, the
 *     same key with another body gets 409;
 *   - a worker thread per payment running kv_flow_wait, woken by webhooks
 *     (POST /webhooks/vipps, HMAC-verified with the registration secrets
 *     stored by `kvitt webhooks register`) and eCom callbacks
 *     (POST /callbacks/v2/payments/{orderId}, authToken checked);
 *   - an event feed per payment (long-poll or server-sent events);
 *   - recovery of unfinished payments at start (kv_flow_recover, then
 *     waiting again on payments still waiting for the customer);
 *   - graceful shutdown: stop accepting, finish requests in flight, give
 *     waiting payments a grace period; what remains is journaled and
 *     resumed at the next start.
 *
 * Configuration: the [serve] and [till ID] sections of the kvitt config
 * (docs/daemon.md):
 *   [serve]  listen, webhook_url, webhook_max_skew_s, callback_auth_token,
 *            max_body, shutdown_grace_s, events_max_wait_s, log_level
 *   [till ID] store, token_sha256, chain_refund, printer
 *
 * Logging: one journald-friendly line per event on stderr ("<6>..."),
 * without tokens, secrets or phone numbers.
 *
 * Thread-safety: kv_serve_open / kv_serve_shutdown / kv_serve_close are
 * called from one thread (the program's main thread).
 */
#ifndef KV_SERVE_SERVE_H
#define KV_SERVE_SERVE_H

#include <stddef.h>

#include "src/config/config.h"

/* Status codes. Append only; never renumber. */
typedef enum {
    KV_SERVE_OK = 0,
    KV_SERVE_E_ARG = -1,      /* NULL or inconsistent options */
    KV_SERVE_E_CONFIG = -2,   /* bad [serve] / [till] section (message says where) */
    KV_SERVE_E_JOURNAL = -3,  /* the journal database cannot be opened */
    KV_SERVE_E_LISTEN = -4,   /* cannot bind the listen address */
    KV_SERVE_E_NOMEM = -5,
    KV_SERVE_E_FLOW = -6,     /* the till flow could not be opened */
    KV_SERVE_E_SERVICE = -7,  /* the payment service refused or was unreachable */
    KV_SERVE_E_NOT_FOUND = -8 /* no such store / registration */
} kv_serve_status;

/* Static text for a status; never NULL, never freed by the caller. */
const char *kv_serve_strerror(kv_serve_status st);

typedef struct kv_serve_options {
    int version;              /* KV_SERVE_OPTIONS_VERSION */
    const kv_config *config;  /* BORROWED; must outlive the daemon */
    const char *listen;       /* overrides [serve] listen; NULL = config or
                                 127.0.0.1:8580 */
    int log_fd;               /* where log lines go (default 2 = stderr) */
    int verbose;              /* 1: also log debug lines */
    int no_recover;           /* 1: skip recovery at start (tests only) */
    const char *trace_path;   /* `kvitt --trace FILE serve`: redacted wire
                                 trace of every payment call (mode 0600); NULL */
} kv_serve_options;
#define KV_SERVE_OPTIONS_VERSION 1
#define KV_SERVE_OPTIONS_INIT { KV_SERVE_OPTIONS_VERSION, NULL, NULL, 2, 0, 0, NULL }

typedef struct kv_serve kv_serve;

/* Validate the [serve] and [till] sections, open the flow and the journal,
 * bind the listen address and start serving; recovery of unfinished
 * payments starts on a background thread.  On failure returns a status
 * and writes "file:line: key: problem; fix" (or the cause) into err.
 * *out is set only on success; stop with kv_serve_shutdown then free with
 * kv_serve_close. */
kv_serve_status kv_serve_open(kv_serve **out, const kv_serve_options *opts,
                              char *err, size_t errlen);

/* The base URL actually bound, e.g. "http://127.0.0.1:40123" (borrowed,
 * valid for the life of the handle). */
const char *kv_serve_url(const kv_serve *s);

/* Graceful stop: refuse new requests (503) and stop listening, wait for
 * requests in flight, then give waiting payments up to grace_ms (< 0: the
 * configured shutdown_grace_s) to finish.  Returns the number of payments
 * still waiting afterwards: they are journaled (WAITING) and resumed at
 * the next start.  When it is > 0 the handle must NOT be closed (worker
 * threads are still inside the flow): the program should exit. */
int kv_serve_shutdown(kv_serve *s, int grace_ms);

/* Free everything (after kv_serve_shutdown returned 0).  NULL is a no-op. */
void kv_serve_close(kv_serve *s);

/* Validate the [serve] and [till] sections of cfg without starting
 * anything (used by kv_serve_open and `kvitt serve --check`).  Returns
 * KV_SERVE_OK or KV_SERVE_E_CONFIG with the message in err. */
kv_serve_status kv_serve_check_config(const kv_config *cfg, char *err, size_t errlen);

#endif
