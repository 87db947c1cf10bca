/* sessdb.c - one statement at a time on SQLite or PostgreSQL (sessdb.h). */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "src/serve/sessdb.h"
#include "src/util/sqlfile.h"

#define MAX_PARAMS 8

struct kv_sessdb {
    pthread_mutex_t mu;
    sqlite3 *db;                 /* SQLite, or */
    PGconn *pg;                  /* PostgreSQL (reconnected with dsn) */
    char *dsn;
};

const char *kv_sessdb_strerror(kv_sessdb_status st)
{
    switch (st) {
    case KV_SESSDB_OK: return "ok";
    case KV_SESSDB_E_ARG: return "invalid argument";
    case KV_SESSDB_E_NOMEM: return "out of memory";
    case KV_SESSDB_E_DB: return "database error";
    }
    return "unknown sessdb status";
}

kv_sessdb_status kv_sessdb_open(kv_sessdb **out, const char *path, const char *sqlite_schema,
                                const kv_pg_schema *pg_schema, char *err, size_t errlen)
{
    if (!out || !path || !sqlite_schema || !pg_schema)
        return KV_SESSDB_E_ARG;
    kv_sessdb *d = calloc(1, sizeof *d);
    if (!d)
        return KV_SESSDB_E_NOMEM;
    pthread_mutex_init(&d->mu, NULL);
    char e[600] = "";
    if (kv_pg_is_dsn(path)) {
        d->dsn = strdup(path);
        d->pg = d->dsn ? kv_pg_connect(path, e, sizeof e) : NULL;
        if (!d->pg || kv_pg_migrate(d->pg, pg_schema, 1, NULL, NULL, e, sizeof e)) {
            if (err)
                snprintf(err, errlen, "%s", d->dsn ? e : "out of memory");
            kv_sessdb_close(d);
            return KV_SESSDB_E_DB;
        }
        *out = d;
        return KV_SESSDB_OK;
    }
    int rc = sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_FULLMUTEX, NULL);
    char *msg = NULL;
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(d->db, 5000); /* the journal commits briefly */
        rc = kv_sqlfile_setup(d->db, NULL, sqlite_schema, 5000, &msg);
    }
    if (rc != SQLITE_OK) {
        if (err)
            snprintf(err, errlen, "%s: %s", path,
                     msg ? msg : d->db ? sqlite3_errmsg(d->db) : "out of memory");
        sqlite3_free(msg);
        kv_sessdb_close(d);
        return KV_SESSDB_E_DB;
    }
    *out = d;
    return KV_SESSDB_OK;
}

void kv_sessdb_close(kv_sessdb *d)
{
    if (!d)
        return;
    sqlite3_close(d->db);
    if (d->pg)
        PQfinish(d->pg);
    if (d->dsn) {
        OPENSSL_cleanse(d->dsn, strlen(d->dsn));
        free(d->dsn);
    }
    pthread_mutex_destroy(&d->mu);
    free(d);
}

int kv_sessdb_is_pg(const kv_sessdb *d)
{
    return d && d->dsn != NULL;
}

const char *kv_sessdb_cell(const kv_sessdb_res *res, size_t row, size_t col)
{
    if (!res || row >= res->nrows || col >= res->ncols || !res->cell[row * res->ncols + col])
        return "";
    return res->cell[row * res->ncols + col];
}

int64_t kv_sessdb_i64(const kv_sessdb_res *res, size_t row, size_t col)
{
    return strtoll(kv_sessdb_cell(res, row, col), NULL, 10);
}

void kv_sessdb_res_free(kv_sessdb_res *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->nrows * res->ncols; i++)
        free(res->cell[i]);
    free(res->cell);
    memset(res, 0, sizeof *res);
}

/* Append one row of ncols cells (texts copied; NULL stays NULL). */
static int add_row(kv_sessdb_res *res, const char *const *v, size_t ncols)
{
    char **x = realloc(res->cell, (res->nrows + 1) * ncols * sizeof *x);
    if (!x)
        return -1;
    res->cell = x;
    res->ncols = ncols;
    char **row = x + res->nrows * ncols;
    res->nrows++;
    int bad = 0;
    for (size_t c = 0; c < ncols; c++) {
        row[c] = v[c] ? strdup(v[c]) : NULL;
        bad |= v[c] && !row[c];
    }
    return bad ? -1 : 0;
}

typedef struct param {
    char type;
    const char *text;
    int64_t num;
    char buf[24];
} param;

static kv_sessdb_status exec_sqlite(kv_sessdb *d, kv_sessdb_res *res, const char *sql,
                                    param *p, int n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK)
        return KV_SESSDB_E_DB;
    for (int i = 0; i < n; i++) {
        if (p[i].type == 't')
            sqlite3_bind_text(st, i + 1, p[i].text, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_int64(st, i + 1, p[i].num);
    }
    kv_sessdb_status ret = KV_SESSDB_OK;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int nc = sqlite3_column_count(st);
        const char *v[16];
        if (nc > 16)
            nc = 16;
        for (int c = 0; c < nc; c++)
            v[c] = (const char *)sqlite3_column_text(st, c);
        if (add_row(res, v, (size_t)nc) < 0) {
            ret = KV_SESSDB_E_NOMEM;
            break;
        }
    }
    if (ret == KV_SESSDB_OK && rc != SQLITE_DONE)
        ret = KV_SESSDB_E_DB;
    sqlite3_finalize(st);
    res->changed = sqlite3_changes(d->db);
    return ret;
}

/* A usable PostgreSQL connection (d->mu held). */
static int pg_ensure(kv_sessdb *d)
{
    if (kv_pg_alive(d->pg))
        return 0;
    if (d->pg)
        PQfinish(d->pg);
    char e[600];
    d->pg = kv_pg_connect(d->dsn, e, sizeof e);
    return d->pg ? 0 : -1;
}

static kv_sessdb_status exec_pg(kv_sessdb *d, kv_sessdb_res *res, const char *sql, param *p, int n)
{
    /* ? -> $1, $2, ... */
    size_t len = strlen(sql);
    char *q = malloc(len + 2 * MAX_PARAMS + 1);
    if (!q)
        return KV_SESSDB_E_NOMEM;
    size_t k = 0;
    int num = 0;
    for (const char *s = sql; *s; s++) {
        if (*s == '?' && num < MAX_PARAMS)
            k += (size_t)sprintf(q + k, "$%d", ++num);
        else
            q[k++] = *s;
    }
    q[k] = '\0';
    const char *v[MAX_PARAMS];
    for (int i = 0; i < n; i++) {
        if (p[i].type == 'i') {
            snprintf(p[i].buf, sizeof p[i].buf, "%" PRId64, p[i].num);
            v[i] = p[i].buf;
        } else {
            v[i] = p[i].text;
        }
    }
    if (pg_ensure(d)) {
        free(q);
        return KV_SESSDB_E_DB;
    }
    PGresult *r = PQexecParams(d->pg, q, n, NULL, v, NULL, NULL, 0);
    free(q);
    ExecStatusType es = PQresultStatus(r);
    kv_sessdb_status ret = es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK ? KV_SESSDB_OK
                                                                          : KV_SESSDB_E_DB;
    int rows = ret == KV_SESSDB_OK ? PQntuples(r) : 0;
    int nc = PQnfields(r) > 16 ? 16 : PQnfields(r);
    for (int i = 0; i < rows && ret == KV_SESSDB_OK; i++) {
        const char *cells[16];
        for (int c = 0; c < nc; c++)
            cells[c] = PQgetisnull(r, i, c) ? NULL : PQgetvalue(r, i, c);
        if (add_row(res, cells, (size_t)nc) < 0)
            ret = KV_SESSDB_E_NOMEM;
    }
    if (ret == KV_SESSDB_OK)
        res->changed = atol(PQcmdTuples(r));
    PQclear(r);
    return ret;
}

kv_sessdb_status kv_sessdb_exec(kv_sessdb *d, kv_sessdb_res *res, const char *sql,
                                const char *types, ...)
{
    kv_sessdb_res local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof *res);
    int n = types ? (int)strlen(types) : 0;
    if (!d || !sql || n > MAX_PARAMS)
        return KV_SESSDB_E_ARG;
    param p[MAX_PARAMS];
    va_list ap;
    va_start(ap, types);
    for (int i = 0; i < n; i++) {
        p[i].type = types[i];
        if (types[i] == 't')
            p[i].text = va_arg(ap, const char *);
        else
            p[i].num = va_arg(ap, int64_t);
    }
    va_end(ap);
    pthread_mutex_lock(&d->mu);
    kv_sessdb_status st = d->dsn ? exec_pg(d, res, sql, p, n) : exec_sqlite(d, res, sql, p, n);
    pthread_mutex_unlock(&d->mu);
    if (res == &local)
        kv_sessdb_res_free(&local);
    return st;
}
