/*
 * journal_proxy_pg.h - the print proxy's held jobs on a PostgreSQL
 * journal (internal).  journal_proxy.c hands every call on a PostgreSQL
 * handle to these; same contracts as journal_proxy.h, with the backend's
 * rules of journal_pg.h (a write is one transaction or a savepoint of the
 * thread's batch; KV_J_E_CONN when the database cannot be reached).  The
 * job's bytes are kept as they came (BYTEA); ids come from a sequence, so
 * proxies of several machines on one database never share one.
 */
#ifndef KV_JOURNAL_PROXY_PG_H
#define KV_JOURNAL_PROXY_PG_H

#include "src/journal/journal_pg.h"
#include "src/journal/journal_proxy.h"

kv_journal_status kv_jppg_hold(kv_jpg *p, const char *proxy, const char *reference, int64_t amount,
                               const void *job, size_t len, int64_t *id);
kv_journal_status kv_jppg_release(kv_jpg *p, int64_t id, const char *outcome);
kv_journal_status kv_jppg_pending(kv_jpg *p, const char *proxy, kv_proxy_held **rows, size_t *n);

#endif
