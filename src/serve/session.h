/*
 * session.h - browser sessions, pairing codes and the sign-in throttle of
 * the cashier page (`/till/`, docs/cashier-page.md).
 *
 * A till signs in once in the browser with its till token or with a
 * pairing code (`kvitt serve pair --till ID`), and then holds a session
 * cookie instead of the token: the token is never stored in the browser.
 * They live in the installation's journal database, next to the daemon's
 * own tables (src/serve/sdb.h), through this module's connection: a SQLite
 * file, or PostgreSQL (a DSN) where several daemons of a chain share them,
 * so a session made on one instance is valid on all, a revocation is seen
 * by all at the next request, and a pairing code is used once:
 *
 *   serve_pair(code_sha256, till, created, expires, used)
 *       -- one row per pairing code; single use, valid KV_PAIR_TTL_S
 *   serve_session(id, cookie_sha256, csrf, till, created, expires,
 *                 last_seen, agent, revoked)
 *       -- one row per signed-in browser
 *   serve_signin(client_sha256, window_start, failures)
 *       -- failed sign-ins per client address and window (bounded)
 *
 * Only SHA-256 hashes of pairing codes, session cookies and client
 * addresses are stored; the
 * CSRF token is stored as is (it is worthless without the cookie).  The
 * session id is a short public handle for listing and revoking.
 *
 * Thread-safety: one kv_session may be used from many threads; calls are
 * serialised by an internal mutex.  `kvitt serve pair` opens the same file
 * or database from another process (SQLite locking; PostgreSQL rows).
 */
#ifndef KV_SERVE_SESSION_H
#define KV_SERVE_SESSION_H

#include <stddef.h>
#include <stdint.h>

#define KV_PAIR_TTL_S 600                 /* a pairing code is valid 10 minutes */
#define KV_SESSION_TTL_S (12 * 3600)      /* default session lifetime */
#define KV_SIGNIN_MAX_FAILURES 20         /* failed sign-ins per client and window */
#define KV_SIGNIN_WINDOW_S 60
#define KV_SIGNIN_MAX_CLIENTS 10000       /* throttle rows kept at most */

/* Status codes. Append only; never renumber. */
typedef enum {
    KV_SESSION_OK = 0,
    KV_SESSION_E_ARG = -1,
    KV_SESSION_E_NOMEM = -2,
    KV_SESSION_E_DB = -3,        /* database error (message in err / the log) */
    KV_SESSION_E_DENIED = -4,    /* unknown, used, expired or revoked */
    KV_SESSION_E_NOT_FOUND = -5,
    KV_SESSION_E_UNSUPPORTED = -6, /* no longer returned (sessions were SQLite-only) */
    KV_SESSION_E_THROTTLED = -7  /* too many failed sign-ins from this client */
} kv_session_status;

/* Static text for a status; never NULL, never freed by the caller. */
const char *kv_session_strerror(kv_session_status st);

typedef struct kv_session kv_session;

/* One signed-in browser (value struct). */
typedef struct kv_session_info {
    char id[17];             /* public handle, 16 hex digits */
    char till[64];
    char csrf[65];           /* 64 hex digits */
    char agent[128];         /* the browser's User-Agent (cut), for listings */
    int64_t created, expires, last_seen;   /* unix seconds */
} kv_session_info;

/* Open the database at path, a SQLite file or a PostgreSQL DSN (creating
 * or migrating the tables).  *out is set on success; close with
 * kv_session_close.  err (no password) names the file on failure. */
kv_session_status kv_session_open(kv_session **out, const char *path, char *err, size_t errlen);
void kv_session_close(kv_session *ss);

/* A new pairing code for till (valid KV_PAIR_TTL_S seconds, single use),
 * written as "XXXX-XXXX" (10 bytes with NUL) into code. */
kv_session_status kv_session_pair_create(kv_session *ss, const char *till, char code[10]);

/* Use a pairing code (case, dashes and spaces ignored).  On success the
 * code is marked used and till receives its till id.  Unknown, used and
 * expired codes all give KV_SESSION_E_DENIED. */
kv_session_status kv_session_pair_redeem(kv_session *ss, const char *code, char till[64]);

/* Start a session for till lasting ttl_s seconds.  cookie receives the
 * cookie value (64 hex digits + NUL; only its hash is stored) and info the
 * session.  agent may be NULL. */
kv_session_status kv_session_login(kv_session *ss, const char *till, const char *agent,
                                   int ttl_s, char cookie[65], kv_session_info *info);

/* End sessions that were not used for idle_s seconds (0, the default:
 * only their lifetime ends them).  Applies to kv_session_find and
 * kv_session_list; last_seen is kept to the minute. */
void kv_session_set_idle(kv_session *ss, int idle_s);

/* Look up a cookie value: KV_SESSION_OK with info for a live session,
 * KV_SESSION_E_DENIED for anything else.  Updates last_seen (at most once
 * a minute). */
kv_session_status kv_session_find(kv_session *ss, const char *cookie, kv_session_info *info);

/* The live sessions of till (malloc'd array in *out, free()), newest first. */
kv_session_status kv_session_list(kv_session *ss, const char *till, kv_session_info **out,
                                  size_t *n);

/* Revoke session id of till (KV_SESSION_E_NOT_FOUND when it is not one of
 * till's live sessions). */
kv_session_status kv_session_revoke(kv_session *ss, const char *till, const char *id);

/* The sign-in throttle: a client (an address, see api_till.c) with
 * max_failures failed sign-ins within window_s seconds is refused until
 * the window ends; at most max_clients rows are kept (the oldest are
 * forgotten first).  Defaults KV_SIGNIN_*; values < 1 are ignored. */
void kv_session_throttle_set(kv_session *ss, int max_failures, int window_s, int max_clients);

/* KV_SESSION_E_THROTTLED with *retry_s (1..window_s) when client may not
 * try now, KV_SESSION_OK when it may. */
kv_session_status kv_session_signin_check(kv_session *ss, const char *client, int *retry_s);

/* Count one failed sign-in of client (on every daemon of a chain);
 * *failures (may be NULL) receives the client's count in this window. */
kv_session_status kv_session_signin_failed(kv_session *ss, const char *client, int *failures);

/* The number of clients the throttle keeps now (tests, monitoring). */
kv_session_status kv_session_throttle_rows(kv_session *ss, size_t *n);

#endif
