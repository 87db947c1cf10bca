/*
 * sdb_pg.h - the daemon's tables (sdb.h) on PostgreSQL (internal).
 *
 * sdb.c keeps the public API and hands every call on a handle opened with a
 * PostgreSQL DSN to these functions, which have the same contracts.  The
 * claim of an idempotency key is one INSERT ... ON CONFLICT DO NOTHING
 * followed by a read in the same transaction, so two daemons receiving
 * the same till retry at once create one claim: the second sees it as
 * PENDING (or REPLAY once the first has finished).  A lost connection is
 * retried once on a new one; otherwise the call fails with KV_SDB_E_DB.
 */
#ifndef KV_SERVE_SDB_PG_H
#define KV_SERVE_SDB_PG_H

#include "src/serve/sdb.h"

typedef struct kv_sdbpg kv_sdbpg;

kv_sdb_status kv_sdbpg_open(kv_sdbpg **out, const char *dsn, char *err, size_t errlen);
void kv_sdbpg_close(kv_sdbpg *d);
const char *kv_sdbpg_errmsg(kv_sdbpg *d);
kv_sdb_status kv_sdbpg_idem_begin_ref(kv_sdbpg *d, kv_idem_outcome *outcome, int *status,
                                      char **response, char **reference, const char *till,
                                      const char *key, const unsigned char hash[32],
                                      const char *new_reference);
kv_sdb_status kv_sdbpg_idem_set_reference(kv_sdbpg *d, const char *till, const char *key,
                                          const char *reference);
kv_sdb_status kv_sdbpg_idem_finish(kv_sdbpg *d, const char *till, const char *key, int status,
                                   const char *response);
kv_sdb_status kv_sdbpg_idem_abandon(kv_sdbpg *d, const char *till, const char *key);
kv_sdb_status kv_sdbpg_hook_save(kv_sdbpg *d, const char *id, const char *url, const char *secret,
                                 const char *events);
kv_sdb_status kv_sdbpg_hook_delete(kv_sdbpg *d, const char *id);
kv_sdb_status kv_sdbpg_hook_list(kv_sdbpg *d, kv_sdb_hook **out, size_t *n);

#endif
