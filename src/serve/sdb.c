/* sdb.c - idempotency keys and webhook registrations in the journal file. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "src/journal/journal.h"
#include "src/serve/sdb.h"
#include "src/serve/sdb_pg.h"
#include "src/util/sqlfile.h"
#include "src/journal/pgconn.h"

struct kv_sdb {
    sqlite3 *db;
    kv_sdbpg *pg;             /* the PostgreSQL tables, when opened with a DSN */
    pthread_mutex_t mu;
    char err[256];
};

const char *kv_sdb_strerror(kv_sdb_status st)
{
    switch (st) {
    case KV_SDB_OK: return "ok";
    case KV_SDB_E_ARG: return "invalid argument";
    case KV_SDB_E_NOMEM: return "out of memory";
    case KV_SDB_E_DB: return "journal database error";
    case KV_SDB_E_CONFLICT: return "idempotency key reused for a different request";
    case KV_SDB_E_NOT_FOUND: return "not found";
    }
    return "unknown sdb status";
}

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS serve_idem ("
    " till TEXT NOT NULL, key TEXT NOT NULL, request_sha256 BLOB NOT NULL,"
    " state INTEGER NOT NULL DEFAULT 0, status INTEGER, response TEXT,"
    " reference TEXT, created INTEGER NOT NULL, PRIMARY KEY (till, key));"
    "CREATE TABLE IF NOT EXISTS serve_webhooks ("
    " id TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL,"
    " events TEXT, created INTEGER NOT NULL);";

static kv_sdb_status dberr(kv_sdb *d)
{
    snprintf(d->err, sizeof d->err, "%s", sqlite3_errmsg(d->db));
    return KV_SDB_E_DB;
}

/* Busy handler: the journal's connection holds the write lock only for
 * a short commit, so poll often (0.5 ms) instead of SQLite's default
 * backoff (up to 100 ms per sleep); give up after about 5 s. */
static int busy_wait(void *arg, int count)
{
    (void)arg;
    if (count >= 10000)
        return 0;
    usleep(500);
    return 1;
}

kv_sdb_status kv_sdb_open(kv_sdb **out, const char *path, char *err, size_t errlen)
{
    if (!out || !path)
        return KV_SDB_E_ARG;
    if (!kv_pg_is_dsn(path) && kv_journal_check_private(path, err, errlen) != KV_J_OK)
        return KV_SDB_E_DB;   /* holds the webhook secrets: never readable by others */
    kv_sdb *d = calloc(1, sizeof *d);
    if (!d)
        return KV_SDB_E_NOMEM;
    pthread_mutex_init(&d->mu, NULL);
    if (kv_pg_is_dsn(path)) {
        kv_sdb_status pst = kv_sdbpg_open(&d->pg, path, err, errlen);
        if (pst) {
            kv_sdb_close(d);
            return pst;
        }
        *out = d;
        return KV_SDB_OK;
    }
    int rc = sqlite3_open_v2(path, &d->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_FULLMUTEX, NULL);
    char *msg = NULL;
    if (rc == SQLITE_OK) {
        sqlite3_busy_handler(d->db, busy_wait, NULL);
        /* synchronous=NORMAL is enough for these rows, and keeps this
         * connection's commits (and the time it holds the WAL write lock)
         * short: in WAL mode the journal's next FULL commit fsyncs the
         * WAL file with every frame before it, ours included, and the flow
         * always commits its own row (NEW, before the create call) after
         * our claim.  So a claim is on disk before any money can move; a
         * stored answer lost to a power cut leaves the claim pending with
         * its reference, which a retry resolves from the journal. */
        rc = kv_sqlfile_setup(d->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", schema, 10000,
                              &msg);
    }
    if (rc != SQLITE_OK) {
        if (err)
            snprintf(err, errlen, "cannot open journal %s: %s", path,
                     msg ? msg : (d->db ? sqlite3_errmsg(d->db) : "out of memory"));
        sqlite3_free(msg);
        sqlite3_close(d->db);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return KV_SDB_E_DB;
    }
    *out = d;
    return KV_SDB_OK;
}

void kv_sdb_close(kv_sdb *d)
{
    if (!d)
        return;
    kv_sdbpg_close(d->pg);
    sqlite3_close(d->db);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

const char *kv_sdb_errmsg(kv_sdb *d) { return !d ? "" : d->pg ? kv_sdbpg_errmsg(d->pg) : d->err; }

static char *dupcol(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? strdup((const char *)t) : NULL;
}

kv_sdb_status kv_sdb_idem_begin(kv_sdb *d, kv_idem_outcome *outcome, int *status,
                                char **response, char **reference,
                                const char *till, const char *key,
                                const unsigned char hash[32])
{
    return kv_sdb_idem_begin_ref(d, outcome, status, response, reference, till, key, hash, NULL);
}

kv_sdb_status kv_sdb_idem_begin_ref(kv_sdb *d, kv_idem_outcome *outcome, int *status,
                                    char **response, char **reference,
                                    const char *till, const char *key,
                                    const unsigned char hash[32], const char *new_reference)
{
    if (!d || !outcome || !status || !response || !reference || !till || !key || !hash)
        return KV_SDB_E_ARG;
    if (d->pg)
        return kv_sdbpg_idem_begin_ref(d->pg, outcome, status, response, reference, till, key, hash, new_reference);
    kv_sdb_status ret = KV_SDB_OK;
    sqlite3_stmt *sel = NULL, *ins = NULL;
    pthread_mutex_lock(&d->mu);
    if (sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        ret = dberr(d);
        goto out_unlocked_tx;
    }
    if (sqlite3_prepare_v2(d->db, "SELECT request_sha256, state, status, response, reference"
                           " FROM serve_idem WHERE till=?1 AND key=?2", -1, &sel, NULL) != SQLITE_OK) {
        ret = dberr(d);
        goto rollback;
    }
    sqlite3_bind_text(sel, 1, till, -1, SQLITE_STATIC);
    sqlite3_bind_text(sel, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(sel);
    if (rc == SQLITE_ROW) {
        const void *h = sqlite3_column_blob(sel, 0);
        if (sqlite3_column_bytes(sel, 0) != 32 || !h || CRYPTO_memcmp(h, hash, 32) != 0) {
            ret = KV_SDB_E_CONFLICT;
            goto rollback;
        }
        if (sqlite3_column_int(sel, 1) == 1) {
            char *resp = dupcol(sel, 3);
            if (!resp) {
                ret = KV_SDB_E_NOMEM;
                goto rollback;
            }
            *status = sqlite3_column_int(sel, 2);
            *response = resp;
            *outcome = KV_IDEM_REPLAY;
        } else {
            *reference = dupcol(sel, 4);
            *outcome = KV_IDEM_PENDING;
        }
        goto rollback; /* nothing to write */
    }
    if (rc != SQLITE_DONE) {
        ret = dberr(d);
        goto rollback;
    }
    if (sqlite3_prepare_v2(d->db, "INSERT INTO serve_idem (till, key, request_sha256, created,"
                           " reference) VALUES (?1, ?2, ?3, ?4, ?5)", -1, &ins, NULL) != SQLITE_OK) {
        ret = dberr(d);
        goto rollback;
    }
    sqlite3_bind_text(ins, 1, till, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(ins, 3, hash, 32, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 4, (sqlite3_int64)time(NULL));
    if (new_reference)
        sqlite3_bind_text(ins, 5, new_reference, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(ins, 5);
    if (sqlite3_step(ins) != SQLITE_DONE) {
        ret = dberr(d);
        goto rollback;
    }
    if (sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        ret = dberr(d);
        goto rollback;
    }
    *outcome = KV_IDEM_NEW;
    goto out_unlocked_tx;
rollback:
    sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
out_unlocked_tx:
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    pthread_mutex_unlock(&d->mu);
    return ret;
}

/* Step a prepared write statement and finalize it. Returns the number of
 * changed rows, or -1 after recording the error text. */
static int run_stmt(kv_sdb *d, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    int changed = rc == SQLITE_DONE ? sqlite3_changes(d->db) : -1;
    if (changed < 0)
        dberr(d);
    sqlite3_finalize(st);
    return changed;
}

kv_sdb_status kv_sdb_idem_set_reference(kv_sdb *d, const char *till, const char *key,
                                        const char *reference)
{
    if (!d || !till || !key || !reference)
        return KV_SDB_E_ARG;
    if (d->pg)
        return kv_sdbpg_idem_set_reference(d->pg, till, key, reference);
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    int n = -1;
    if (sqlite3_prepare_v2(d->db, "UPDATE serve_idem SET reference=?3 WHERE till=?1 AND key=?2",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, till, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, reference, -1, SQLITE_STATIC);
        n = run_stmt(d, st);
    } else {
        dberr(d);
    }
    pthread_mutex_unlock(&d->mu);
    return n < 0 ? KV_SDB_E_DB : n == 0 ? KV_SDB_E_NOT_FOUND : KV_SDB_OK;
}

kv_sdb_status kv_sdb_idem_finish(kv_sdb *d, const char *till, const char *key,
                                 int status, const char *response)
{
    if (!d || !till || !key || !response)
        return KV_SDB_E_ARG;
    if (d->pg)
        return kv_sdbpg_idem_finish(d->pg, till, key, status, response);
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    int n = -1;
    if (sqlite3_prepare_v2(d->db, "UPDATE serve_idem SET state=1, status=?3, response=?4"
                           " WHERE till=?1 AND key=?2", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, till, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, status);
        sqlite3_bind_text(st, 4, response, -1, SQLITE_STATIC);
        n = run_stmt(d, st);
    } else {
        dberr(d);
    }
    pthread_mutex_unlock(&d->mu);
    return n < 0 ? KV_SDB_E_DB : n == 0 ? KV_SDB_E_NOT_FOUND : KV_SDB_OK;
}

kv_sdb_status kv_sdb_idem_abandon(kv_sdb *d, const char *till, const char *key)
{
    if (!d || !till || !key)
        return KV_SDB_E_ARG;
    if (d->pg)
        return kv_sdbpg_idem_abandon(d->pg, till, key);
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    int n = -1;
    if (sqlite3_prepare_v2(d->db, "DELETE FROM serve_idem WHERE till=?1 AND key=?2 AND state=0",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, till, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        n = run_stmt(d, st);
    } else {
        dberr(d);
    }
    pthread_mutex_unlock(&d->mu);
    return n < 0 ? KV_SDB_E_DB : KV_SDB_OK;
}

kv_sdb_status kv_sdb_hook_save(kv_sdb *d, const char *id, const char *url,
                               const char *secret, const char *events)
{
    if (!d || !id || !url || !secret)
        return KV_SDB_E_ARG;
    if (d->pg)
        return kv_sdbpg_hook_save(d->pg, id, url, secret, events);
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    int n = -1;
    if (sqlite3_prepare_v2(d->db, "INSERT OR REPLACE INTO serve_webhooks"
                           " (id, url, secret, events, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, url, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, secret, -1, SQLITE_STATIC);
        if (events)
            sqlite3_bind_text(st, 4, events, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 4);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
        n = run_stmt(d, st);
    } else {
        dberr(d);
    }
    pthread_mutex_unlock(&d->mu);
    return n < 0 ? KV_SDB_E_DB : KV_SDB_OK;
}

kv_sdb_status kv_sdb_hook_delete(kv_sdb *d, const char *id)
{
    if (!d || !id)
        return KV_SDB_E_ARG;
    if (d->pg)
        return kv_sdbpg_hook_delete(d->pg, id);
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    int n = -1;
    if (sqlite3_prepare_v2(d->db, "DELETE FROM serve_webhooks WHERE id=?1", -1, &st, NULL)
        == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        n = run_stmt(d, st);
    } else {
        dberr(d);
    }
    pthread_mutex_unlock(&d->mu);
    return n < 0 ? KV_SDB_E_DB : n == 0 ? KV_SDB_E_NOT_FOUND : KV_SDB_OK;
}

void kv_sdb_hooks_free(kv_sdb_hook *h, size_t n)
{
    if (!h)
        return;
    for (size_t i = 0; i < n; i++) {
        free(h[i].id);
        free(h[i].url);
        if (h[i].secret)
            OPENSSL_cleanse(h[i].secret, strlen(h[i].secret));
        free(h[i].secret);
        free(h[i].events);
    }
    free(h);
}

kv_sdb_status kv_sdb_hook_list(kv_sdb *d, kv_sdb_hook **out, size_t *nout)
{
    if (!d || !out || !nout)
        return KV_SDB_E_ARG;
    if (d->pg)
        return kv_sdbpg_hook_list(d->pg, out, nout);
    sqlite3_stmt *st = NULL;
    kv_sdb_hook *v = NULL;
    size_t n = 0, cap = 0;
    kv_sdb_status ret = KV_SDB_OK;
    pthread_mutex_lock(&d->mu);
    if (sqlite3_prepare_v2(d->db, "SELECT id, url, secret, events, created FROM serve_webhooks"
                           " ORDER BY created, rowid", -1, &st, NULL) != SQLITE_OK) {
        ret = dberr(d);
        goto out;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 4;
            kv_sdb_hook *t = realloc(v, nc * sizeof *t);
            if (!t) {
                ret = KV_SDB_E_NOMEM;
                goto out;
            }
            v = t;
            cap = nc;
        }
        kv_sdb_hook *h = &v[n++];
        h->id = dupcol(st, 0);
        h->url = dupcol(st, 1);
        h->secret = dupcol(st, 2);
        h->events = dupcol(st, 3);
        h->created = sqlite3_column_int64(st, 4);
        if (!h->id || !h->url || !h->secret) {
            ret = KV_SDB_E_NOMEM;
            goto out;
        }
    }
    if (rc != SQLITE_DONE)
        ret = dberr(d);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&d->mu);
    if (ret != KV_SDB_OK) {
        kv_sdb_hooks_free(v, n);
        return ret;
    }
    *out = v;
    *nout = n;
    return KV_SDB_OK;
}
