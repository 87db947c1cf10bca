/*
 * config.h - the kvitt configuration (INI file + secrets file).
 *
 * Format: docs/configuration.md.  `#` comments,
 * `key = value`, sections `[name]` or `[kind id]`.  The loader validates
 * the sections it knows ([kvitt], [store X], [credentials X]) into typed
 * structs, and keeps every section and key (including the daemon's [serve]
 * and [till X]) reachable through kv_config_get().  A value `env:VAR` is
 * read from the environment.  The secrets file (named by [kvitt] secrets)
 * is refused when group or others may read it.
 *
 * Errors name file:line, the key and the fix.  Secrets never appear in
 * error texts.
 *
 * Thread-safety: a loaded kv_config is immutable; read it from any thread.
 */
#ifndef KV_CONFIG_H
#define KV_CONFIG_H

#include <stddef.h>

/* Status codes. Append only; never renumber. */
typedef enum {
    KV_C_OK = 0,
    KV_C_E_IO = -1,        /* file missing / unreadable */
    KV_C_E_SYNTAX = -2,    /* malformed line, unknown section or key */
    KV_C_E_VALUE = -3,     /* bad or missing value */
    KV_C_E_SECRETS = -4,   /* secrets file readable by others, or missing credentials */
    KV_C_E_NOMEM = -5,
    KV_C_E_NOT_FOUND = -6  /* no such store / section / key */
} kv_config_status;

const char *kv_config_strerror(kv_config_status st);

typedef enum { KV_FLOW_EPAYMENT_QR = 0, KV_FLOW_ECOM_QR, KV_FLOW_PUSH } kv_store_flow;
typedef enum { KV_QR_TEXT = 0, KV_QR_IMAGE } kv_qr_source;

typedef struct kv_credentials {
    char name[64];
    char client_id[256];
    char client_secret[256];
    char subscription_key[256];
    int partner;             /* 1: partner keys (store MSN sent on every call) */
} kv_credentials;

typedef struct kv_store {
    char id[64];
    char name[128];
    char address[256];
    char org_number[32];
    char msn[16];
    char language[4];        /* nb | da | fi | sv | en */
    char currency[4];        /* NOK | DKK | EUR */
    char printer[256];       /* transport URI; "" = none */
    char profile[64];
    kv_store_flow flow;
    kv_qr_source qr_source;
    char credentials[64];    /* name of the [credentials X] section */
    char reference_prefix[16];
    char website[256];
    char chain[64];
} kv_store;

typedef struct kv_config_main {
    char environment[256];   /* "test" | "production" | base URL */
    char base_url[256];      /* resolved API base URL */
    char system_name[64];
    char system_version[32];
    char plugin_name[64];
    char plugin_version[32];
    char journal[1024];      /* absolute or relative to the config's folder (resolved) */
    char secrets[1024];      /* resolved path, "" = none */
    int connect_timeout_ms;
    int total_timeout_ms;
    int payment_timeout_s;
    int poll_first_s;
    int poll_interval_ms;
    char default_store[64];
    char till_id[64];
    char serve_url[256];     /* a running `kvitt serve` to hand payments to ("" = none) */
    char serve_token[128];   /* this till's bearer token for it (secret: from env:VAR) */
} kv_config_main;

typedef struct kv_config kv_config;

/* Load path (and the secrets file it names).  On failure returns a status
 * and writes "file:line: key: problem; fix" into err.  *out is set only on
 * success; free with kv_config_free(). */
kv_config_status kv_config_load(kv_config **out, const char *path, char *err, size_t errlen);
/* Path from an explicit --config (may be NULL), else $KVITT_CONFIG, else
 * "/etc/kvitt/kvitt.conf".  Borrowed/static. */
const char *kv_config_default_path(const char *explicit_path);
void kv_config_free(kv_config *c);

/* The [kvitt] section.  Borrowed from c. */
const kv_config_main *kv_config_main_get(const kv_config *c);
/* Store by id (NULL = default store).  Borrowed; NULL when absent. */
const kv_store *kv_config_store(const kv_config *c, const char *id);
/* Number of stores and the i-th one (borrowed). */
size_t kv_config_store_count(const kv_config *c);
const kv_store *kv_config_store_at(const kv_config *c, size_t i);
/* Store whose reference_prefix starts the reference (longest match); NULL. */
const kv_store *kv_config_store_by_prefix(const kv_config *c, const char *reference);
/* Credentials of a store (borrowed; NULL when the secrets lack them). */
const kv_credentials *kv_config_credentials(const kv_config *c, const kv_store *s);

/* Generic accessor: value of key in section "[kind id]" (section written as
 * "kind id", e.g. "till t1", or "serve").  env: values are resolved.
 * Borrowed; NULL when absent.  Works for any section of either file. */
const char *kv_config_get(const kv_config *c, const char *section, const char *key);
/* Line of the key (for error messages by section owners), 0 when absent. */
int kv_config_line(const kv_config *c, const char *section, const char *key);
/* Path of the main config file (borrowed). */
const char *kv_config_path(const kv_config *c);
/* Enumerate section names ("serve", "till t1", ...): i-th or NULL. */
const char *kv_config_section_at(const kv_config *c, size_t i);
/* Enumerate keys of a section: i-th key name or NULL. */
const char *kv_config_key_at(const kv_config *c, const char *section, size_t i);

#endif
