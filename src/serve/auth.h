/*
 * auth.h - till authentication for the daemon: bearer tokens kept only as
 * SHA-256 hashes, each bound to one store.
 *
 * A till sends "Authorization: Bearer <token>".  The daemon hashes the token
 * and compares the hash with EVERY configured till hash in constant time
 * (CRYPTO_memcmp, no early exit), so neither the answer nor its timing tells
 * which tokens exist.  The token itself is never stored or logged.
 *
 * Thread-safety: a kv_auth is immutable after kv_auth_add calls finish;
 * kv_auth_check may then be called from any number of threads.
 */
#ifndef KV_SERVE_AUTH_H
#define KV_SERVE_AUTH_H

#include <stddef.h>

/* Status codes. Append only; never renumber. */
typedef enum {
    KV_AUTH_OK = 0,
    KV_AUTH_E_ARG = -1,      /* bad id/store or a hash that is not 64 hex digits */
    KV_AUTH_E_NOMEM = -2,
    KV_AUTH_E_DENIED = -3,   /* missing, malformed or unknown bearer token */
    KV_AUTH_E_DUPLICATE = -4 /* two tills share an id or a token hash */
} kv_auth_status;

/* Static text for a status; never NULL, never freed by the caller. */
const char *kv_auth_strerror(kv_auth_status st);

/* One till, as configured in a `[till ID]` section. */
typedef struct kv_till {
    char id[64];             /* the section's ID, e.g. "till-1" */
    char store[64];          /* the store this till acts for */
    int chain_refund;        /* 1: may refund purchases of other stores of its chain */
    char printer[512];       /* printer URI for this till ("" = the store's) */
    unsigned char token_sha256[32];
} kv_till;

typedef struct kv_auth kv_auth;

/* Create an empty till table. *out is set on success; free with
 * kv_auth_destroy. */
kv_auth_status kv_auth_create(kv_auth **out);

/* Free the table; NULL is a no-op. */
void kv_auth_destroy(kv_auth *a);

/* Add a till. token_sha256_hex is the hex SHA-256 of the bearer token
 * (64 hex digits, either case).  printer may be NULL or "".  Strings are
 * copied.  Returns KV_AUTH_E_ARG for a bad hash or an id/store that does
 * not fit, KV_AUTH_E_DUPLICATE for a repeated id or hash. */
kv_auth_status kv_auth_add(kv_auth *a, const char *id, const char *store,
                           const char *token_sha256_hex, int chain_refund,
                           const char *printer);

/* Check an Authorization header value (may be NULL).  On success *out
 * points at the till (borrowed; valid until kv_auth_destroy).  Every
 * failure returns KV_AUTH_E_DENIED, whatever the reason. */
kv_auth_status kv_auth_check(const kv_till **out, const kv_auth *a,
                             const char *authorization);

/* Number of tills and the i-th till (borrowed), for health listings. */
size_t kv_auth_count(const kv_auth *a);
const kv_till *kv_auth_till(const kv_auth *a, size_t i);

/* Write the lowercase hex SHA-256 of token (65 bytes incl. NUL) into
 * hex.  Used by `kvitt serve --hash-token` to produce config values. */
void kv_auth_hash_token(char hex[65], const char *token);

#endif
