/*
 * sdb.h - the daemon's own tables in the installation's journal database:
 * idempotency keys of till requests and webhook registrations.
 *
 * The journal (src/journal) owns payments and their state history; the
 * daemon adds two tables to the SAME SQLite file (WAL, synchronous=FULL)
 * through its own connection:
 *
 *   serve_idem(till, key, request_sha256, state, status, response,
 *              reference, created)   -- one row per (till, Idempotency-Key)
 *   serve_webhooks(id, url, secret, events, created)
 *                                     -- registrations made by
 *                                        `kvitt webhooks register`
 *
 * Durability: this connection commits with synchronous=NORMAL; a claim is
 * on disk before money moves because the flow's own FULL commit (the NEW
 * payment row, written before the create call) fsyncs the shared WAL file
 * after it (see sdb.c).
 *
 * Thread-safety: one kv_sdb may be used from many threads; calls are
 * serialised by an internal mutex.  Several processes may open the same
 * file (SQLite locking, about 5 s of waiting for a lock).
 */
#ifndef KV_SERVE_SDB_H
#define KV_SERVE_SDB_H

#include <stddef.h>
#include <stdint.h>

/* Status codes. Append only; never renumber. */
typedef enum {
    KV_SDB_OK = 0,
    KV_SDB_E_ARG = -1,
    KV_SDB_E_NOMEM = -2,
    KV_SDB_E_DB = -3,         /* SQLite error; kv_sdb_errmsg() has the text */
    KV_SDB_E_CONFLICT = -4,   /* same key, different request */
    KV_SDB_E_NOT_FOUND = -5
} kv_sdb_status;

/* Static text for a status; never NULL, never freed by the caller. */
const char *kv_sdb_strerror(kv_sdb_status st);

typedef struct kv_sdb kv_sdb;

/* Open (creating the tables if needed) the database file at path.
 * *out is set on success; close with kv_sdb_close.  On failure, err (if
 * not NULL) receives a message naming the file. */
kv_sdb_status kv_sdb_open(kv_sdb **out, const char *path, char *err, size_t errlen);

/* Close; NULL is a no-op. */
void kv_sdb_close(kv_sdb *db);

/* Last SQLite error text of this handle (borrowed, valid until the next
 * call on the handle). */
const char *kv_sdb_errmsg(kv_sdb *db);

/* ---- idempotency keys ------------------------------------------------- */

/* What kv_sdb_idem_begin found. */
typedef enum {
    KV_IDEM_NEW = 0,      /* claimed: the caller runs the request, then
                             calls kv_sdb_idem_finish or _abandon */
    KV_IDEM_REPLAY = 1,   /* finished before: send *status / *response */
    KV_IDEM_PENDING = 2   /* claimed by an earlier attempt that has not
                             finished (running now, or the daemon stopped
                             in the middle); *reference is set when that
                             attempt got as far as naming its payment */
} kv_idem_outcome;

/* Claim (till, key) for a request whose method, path and body hash to
 * request_sha256.  On KV_SDB_OK *outcome says what happened; for REPLAY
 * *status and *response (malloc'd, free()) are set; for PENDING
 * *reference is set (malloc'd, free(); NULL when no payment was named).
 * Returns KV_SDB_E_CONFLICT when the key was used for a different request. */
kv_sdb_status kv_sdb_idem_begin(kv_sdb *db, kv_idem_outcome *outcome, int *status,
                                char **response, char **reference,
                                const char *till, const char *key,
                                const unsigned char request_sha256[32]);

/* The same, recording new_reference (may be NULL) with a NEW claim in the
 * same transaction: one commit instead of begin + set_reference. */
kv_sdb_status kv_sdb_idem_begin_ref(kv_sdb *db, kv_idem_outcome *outcome, int *status,
                                    char **response, char **reference,
                                    const char *till, const char *key,
                                    const unsigned char request_sha256[32],
                                    const char *new_reference);

/* Record the payment reference a claimed request is about to create, before
 * the call that creates it (so a retry after a crash finds the payment). */
kv_sdb_status kv_sdb_idem_set_reference(kv_sdb *db, const char *till, const char *key,
                                        const char *reference);

/* Store the final answer of a claimed request (response is copied). */
kv_sdb_status kv_sdb_idem_finish(kv_sdb *db, const char *till, const char *key,
                                 int status, const char *response);

/* Drop a claim whose request changed nothing (a transient failure), so a
 * retry runs afresh. */
kv_sdb_status kv_sdb_idem_abandon(kv_sdb *db, const char *till, const char *key);

/* ---- webhook registrations -------------------------------------------- */

/* One registration. Strings are malloc'd; release with kv_sdb_hooks_free. */
typedef struct kv_sdb_hook {
    char *id;
    char *url;
    char *secret;     /* the HMAC key returned at registration: never log it */
    char *events;     /* comma-separated event names */
    int64_t created;  /* unix seconds */
} kv_sdb_hook;

/* Save a registration (id, url and secret are required; events may be
 * NULL).  An existing row with the same id is replaced. */
kv_sdb_status kv_sdb_hook_save(kv_sdb *db, const char *id, const char *url,
                               const char *secret, const char *events);

/* Delete a registration by id; KV_SDB_E_NOT_FOUND if absent. */
kv_sdb_status kv_sdb_hook_delete(kv_sdb *db, const char *id);

/* All registrations, oldest first. *out is a malloc'd array of *n entries
 * (NULL when *n == 0); free it with kv_sdb_hooks_free. */
kv_sdb_status kv_sdb_hook_list(kv_sdb *db, kv_sdb_hook **out, size_t *n);

/* Free what kv_sdb_hook_list returned (secrets are wiped); NULL is a no-op. */
void kv_sdb_hooks_free(kv_sdb_hook *hooks, size_t n);

#endif
