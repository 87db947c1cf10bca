/*
 * journal_proxy.h - the print proxy's held jobs in the payment journal.
 *
 * `kvitt proxy` holds a till's receipt while the customer pays.  The held
 * job (its bytes, the amount, the payment reference) is journaled BEFORE
 * the payment starts, so a crash while holding loses no receipt: on the
 * next start (or `kvitt recover`) the proxy prints it with its outcome.
 * Table proxy_jobs, in the same journal as the payments: created on first
 * use in a SQLite file, by the journal's schema migrations on PostgreSQL
 * (journal_proxy_pg.c; several proxies of a chain may share it, each
 * sees its own jobs by name).  Thread-safe like the rest of the journal.
 */
#ifndef KV_JOURNAL_PROXY_H
#define KV_JOURNAL_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "src/journal/journal.h"

/* A held job (value struct; job is malloc'd: free with
 * kv_journal_proxy_free). */
typedef struct kv_proxy_held {
    int64_t id;
    char proxy[64];       /* [proxy NAME] */
    char reference[64];   /* the payment's reference */
    int64_t amount;       /* minor units */
    uint8_t *job;         /* the till's bytes, as received */
    size_t len;
    int64_t created_at;   /* unix seconds */
} kv_proxy_held;

/* Journal a held job (state "held").  *id receives its row id.  Returns
 * KV_J_OK or KV_J_E_SQL / KV_J_E_ARG. */
kv_journal_status kv_journal_proxy_hold(kv_journal *j, const char *proxy, const char *reference,
                                        int64_t amount, const void *job, size_t len, int64_t *id);
/* Mark a held job printed with outcome ("paid", "not-paid: ..."). */
kv_journal_status kv_journal_proxy_release(kv_journal *j, int64_t id, const char *outcome);
/* Jobs of proxy (NULL = every proxy) still held, oldest first.  *rows is
 * malloc'd (NULL when *n = 0). */
kv_journal_status kv_journal_proxy_pending(kv_journal *j, const char *proxy, kv_proxy_held **rows,
                                           size_t *n);
void kv_journal_proxy_free(kv_proxy_held *rows, size_t n);

#endif
