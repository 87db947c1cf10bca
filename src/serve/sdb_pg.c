/* sdb_pg.c - idempotency keys and webhook registrations on PostgreSQL. */
#include "src/serve/sdb_pg.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "src/journal/pgconn.h"

struct kv_sdbpg {
    pthread_mutex_t mu;
    PGconn *c;
    char *dsn;
    char err[600];
};

static const char *const steps[] = {
    /* 1 */
    "CREATE TABLE serve_idem ("
    " till TEXT NOT NULL, key TEXT NOT NULL, request_sha256 TEXT NOT NULL,"
    " state INTEGER NOT NULL DEFAULT 0, status INTEGER, response TEXT,"
    " reference TEXT, created BIGINT NOT NULL, PRIMARY KEY (till, key));"
    "CREATE TABLE serve_webhooks ("
    " id TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL,"
    " events TEXT, created BIGINT NOT NULL, seq BIGSERIAL);",
};
static const kv_pg_schema schema = { "serve", steps, (int)(sizeof steps / sizeof steps[0]) };

kv_sdb_status kv_sdbpg_open(kv_sdbpg **out, const char *dsn, char *err, size_t errlen)
{
    kv_sdbpg *d = calloc(1, sizeof *d);
    if (!d || !(d->dsn = strdup(dsn))) {
        free(d);
        return KV_SDB_E_NOMEM;
    }
    pthread_mutex_init(&d->mu, NULL);
    char e[600] = "";
    d->c = kv_pg_connect(dsn, e, sizeof e);
    if (!d->c || kv_pg_migrate(d->c, &schema, 1, NULL, NULL, e, sizeof e)) {
        if (err)
            snprintf(err, errlen, "%s", e);
        kv_sdbpg_close(d);
        return KV_SDB_E_DB;
    }
    *out = d;
    return KV_SDB_OK;
}

void kv_sdbpg_close(kv_sdbpg *d)
{
    if (!d)
        return;
    if (d->c)
        PQfinish(d->c);
    if (d->dsn) {
        OPENSSL_cleanse(d->dsn, strlen(d->dsn));
        free(d->dsn);
    }
    pthread_mutex_destroy(&d->mu);
    free(d);
}

const char *kv_sdbpg_errmsg(kv_sdbpg *d)
{
    return d->err;
}

/* A usable connection (d->mu held). */
static int ensure(kv_sdbpg *d)
{
    if (kv_pg_alive(d->c))
        return 0;
    if (d->c)
        PQfinish(d->c);
    d->c = kv_pg_connect(d->dsn, d->err, sizeof d->err);
    return d->c ? 0 : -1;
}

/* Run sql (d->mu held): the result when it succeeded, else NULL with the
 * error recorded. */
static PGresult *run(kv_sdbpg *d, const char *sql, int n, const char *const *v)
{
    PGresult *r = PQexecParams(d->c, sql, n, NULL, v, NULL, NULL, 0);
    ExecStatusType es = PQresultStatus(r);
    if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK)
        return r;
    snprintf(d->err, sizeof d->err, "%s", PQerrorMessage(d->c));
    PQclear(r);
    return NULL;
}

static char *dupcol(const PGresult *r, int c)
{
    return PQgetisnull(r, 0, c) ? NULL : strdup(PQgetvalue(r, 0, c));
}

kv_sdb_status kv_sdbpg_idem_begin_ref(kv_sdbpg *d, kv_idem_outcome *outcome, int *status,
                                      char **response, char **reference, const char *till,
                                      const char *key, const unsigned char hash[32],
                                      const char *new_reference)
{
    char hex[65], now[24];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));
    const char *v[5] = { till, key, hex, now, new_reference };
    kv_sdb_status ret = KV_SDB_OK;
    pthread_mutex_lock(&d->mu);
    if (ensure(d)) {
        pthread_mutex_unlock(&d->mu);
        return KV_SDB_E_DB;
    }
    /* one statement: the claim is made (RETURNING a row) or it existed */
    PGresult *r = run(d, "INSERT INTO serve_idem (till, key, request_sha256, created, reference)"
                         " VALUES ($1, $2, $3, $4::bigint, $5) ON CONFLICT (till, key) DO NOTHING"
                         " RETURNING 1", 5, v);
    if (!r) {
        pthread_mutex_unlock(&d->mu);
        return KV_SDB_E_DB;
    }
    int claimed = PQntuples(r) == 1;
    PQclear(r);
    if (claimed) {
        *outcome = KV_IDEM_NEW;
        pthread_mutex_unlock(&d->mu);
        return KV_SDB_OK;
    }
    r = run(d, "SELECT request_sha256, state, status, response, reference FROM serve_idem"
               " WHERE till=$1 AND key=$2", 2, v);
    if (!r || PQntuples(r) != 1) {
        /* abandoned between the two statements: the caller retries */
        PQclear(r);
        pthread_mutex_unlock(&d->mu);
        return KV_SDB_E_DB;
    }
    if (CRYPTO_memcmp(PQgetvalue(r, 0, 0), hex, 64) != 0 || PQgetlength(r, 0, 0) != 64) {
        ret = KV_SDB_E_CONFLICT;
    } else if (atoi(PQgetvalue(r, 0, 1)) == 1) {
        char *resp = dupcol(r, 3);
        if (!resp) {
            ret = KV_SDB_E_NOMEM;
        } else {
            *status = atoi(PQgetvalue(r, 0, 2));
            *response = resp;
            *outcome = KV_IDEM_REPLAY;
        }
    } else {
        *reference = dupcol(r, 4);
        *outcome = KV_IDEM_PENDING;
    }
    PQclear(r);
    pthread_mutex_unlock(&d->mu);
    return ret;
}

/* A write of n parameters; *changed gets the row count.  KV_SDB_E_DB on error. */
static kv_sdb_status write_rows(kv_sdbpg *d, const char *sql, int n, const char *const *v, int *changed)
{
    pthread_mutex_lock(&d->mu);
    kv_sdb_status ret = KV_SDB_E_DB;
    if (ensure(d) == 0) {
        PGresult *r = run(d, sql, n, v);
        if (r) {
            if (changed)
                *changed = atoi(PQcmdTuples(r));
            PQclear(r);
            ret = KV_SDB_OK;
        }
    }
    pthread_mutex_unlock(&d->mu);
    return ret;
}

/* write_rows with "no row changed" as KV_SDB_E_NOT_FOUND. */
static kv_sdb_status write_one(kv_sdbpg *d, const char *sql, int n, const char *const *v)
{
    int changed = 0;
    kv_sdb_status st = write_rows(d, sql, n, v, &changed);
    return st == KV_SDB_OK && changed == 0 ? KV_SDB_E_NOT_FOUND : st;
}

kv_sdb_status kv_sdbpg_idem_set_reference(kv_sdbpg *d, const char *till, const char *key,
                                          const char *reference)
{
    const char *v[3] = { till, key, reference };
    return write_one(d, "UPDATE serve_idem SET reference=$3 WHERE till=$1 AND key=$2", 3, v);
}

kv_sdb_status kv_sdbpg_idem_finish(kv_sdbpg *d, const char *till, const char *key, int status,
                                   const char *response)
{
    char st[16];
    snprintf(st, sizeof st, "%d", status);
    const char *v[4] = { till, key, st, response };
    return write_one(d, "UPDATE serve_idem SET state=1, status=$3::int, response=$4"
                        " WHERE till=$1 AND key=$2", 4, v);
}

kv_sdb_status kv_sdbpg_idem_abandon(kv_sdbpg *d, const char *till, const char *key)
{
    const char *v[2] = { till, key };
    return write_rows(d, "DELETE FROM serve_idem WHERE till=$1 AND key=$2 AND state=0", 2, v, NULL);
}

kv_sdb_status kv_sdbpg_hook_save(kv_sdbpg *d, const char *id, const char *url, const char *secret,
                                 const char *events)
{
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));
    const char *v[5] = { id, url, secret, events, now };
    return write_rows(d, "INSERT INTO serve_webhooks (id, url, secret, events, created)"
                         " VALUES ($1, $2, $3, $4, $5::bigint) ON CONFLICT (id) DO UPDATE SET"
                         " url=EXCLUDED.url, secret=EXCLUDED.secret, events=EXCLUDED.events,"
                         " created=EXCLUDED.created", 5, v, NULL);
}

kv_sdb_status kv_sdbpg_hook_delete(kv_sdbpg *d, const char *id)
{
    const char *v[1] = { id };
    return write_one(d, "DELETE FROM serve_webhooks WHERE id=$1", 1, v);
}

kv_sdb_status kv_sdbpg_hook_list(kv_sdbpg *d, kv_sdb_hook **out, size_t *nout)
{
    pthread_mutex_lock(&d->mu);
    PGresult *r = ensure(d) ? NULL : run(d, "SELECT id, url, secret, events, created FROM serve_webhooks"
                                            " ORDER BY created, seq", 0, NULL);
    pthread_mutex_unlock(&d->mu);
    if (!r)
        return KV_SDB_E_DB;
    int n = PQntuples(r);
    kv_sdb_hook *v = n ? calloc((size_t)n, sizeof *v) : NULL;
    if (n && !v) {
        PQclear(r);
        return KV_SDB_E_NOMEM;
    }
    for (int i = 0; i < n; i++) {
        v[i].id = strdup(PQgetvalue(r, i, 0));
        v[i].url = strdup(PQgetvalue(r, i, 1));
        v[i].secret = strdup(PQgetvalue(r, i, 2));
        v[i].events = PQgetisnull(r, i, 3) ? NULL : strdup(PQgetvalue(r, i, 3));
        v[i].created = kv_pg_i64(r, i, 4);
        if (!v[i].id || !v[i].url || !v[i].secret) {
            PQclear(r);
            kv_sdb_hooks_free(v, (size_t)n);
            return KV_SDB_E_NOMEM;
        }
    }
    PQclear(r);
    *out = v;
    *nout = (size_t)n;
    return KV_SDB_OK;
}
