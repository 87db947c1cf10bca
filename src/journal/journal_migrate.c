/* journal_migrate.c - a SQLite journal into PostgreSQL, resumable and
 * verified; schema upgrades. */
#include "src/journal/journal_migrate.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/journal/journal_pg.h"

#define BATCH 500

/* One table: its columns (the same names on both sides), the column whose
 * value is the row's natural key (for the marker), and the column of a
 * SQLite BLOB sent as hex text: stored as that text on PostgreSQL, or as
 * the bytes themselves in a BYTEA column (bytea = 1). */
typedef struct tdef {
    const char *name;
    const char *cols;
    int ncols;
    int key_col;      /* -1: none */
    int hex_col;      /* -1: none */
    int bytea;
} tdef;

static const tdef tables[] = {
    { "payments", "reference, store_id, msn, till_id, flow, currency, amount, captured, refunded, state,"
                  " api_state, psp_reference, reason, description, items_json, qr_url, created_at,"
                  " updated_at, expires_at", 19, 0, -1, 0 },
    { "transitions", "reference, from_state, to_state, note, at_ms", 5, -1, -1, 0 },
    { "operations", "reference, kind, seq, idem_key, amount, result, created_at, answered_at", 8, 3, -1, 0 },
    { "print_jobs", "reference, doc, state, copy, printer, detail, created_at, updated_at", 8, -1, -1, 0 },
    { "webhook_events", "reference, name, body, received_ms", 4, -1, -1, 0 },
    { "om_outbox", "reference, store_id, state, attempts, next_at, detail, created_at, updated_at", 8, 0, -1, 0 },
    { "serve_idem", "till, key, request_sha256, state, status, response, reference, created", 8, -1, 2, 0 },
    { "serve_webhooks", "id, url, secret, events, created", 5, 0, -1, 0 },
    /* the back office: a till's Z numbers go on from the copied ones */
    { "z_reports", "store_id, till_id, day, z_number, closed_at, figures, printed", 7, -1, -1, 0 },
    { "ledger_feed", "ledger_id, topic, cursor, updated_ms", 4, -1, -1, 0 },
    { "ledger_entries", "ledger_id, topic, psp_reference, reference, entry_type, amount, currency, ledger_date,"
                        " time, recipient", 10, -1, -1, 0 },
    /* the proxy's held receipts, bytes as they came */
    { "proxy_jobs", "proxy, reference, amount, job, state, outcome, created_at, updated_at", 8, -1, 3, 1 },
    /* the shop's stickers (their printed QR keeps working in the chain);
     * held check-ins and waiting amounts are moments, not history */
    { "stickers", "id, till, store, msn, location, content, created_at, printed_at", 8, 0, -1, 0 },
};
#define NTABLES ((int)(sizeof tables / sizeof tables[0]))

static int pg_ok(PGresult *r)
{
    ExecStatusType es = PQresultStatus(r);
    return es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK;
}

/* Run sql with n text parameters; -1 with err on failure. */
static int pgx(PGconn *c, const char *sql, int n, const char *const *v, PGresult **out, char *err,
               size_t errlen)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
    if (!pg_ok(r)) {
        snprintf(err, errlen, "journal database: %s", PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

static int table_exists(sqlite3 *db, const char *name)
{
    sqlite3_stmt *s = NULL;
    int yes = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        yes = sqlite3_step(s) == SQLITE_ROW;
    }
    sqlite3_finalize(s);
    return yes;
}

static int64_t sqlite_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* The INSERT for a table: $1..$n the columns, ON CONFLICT DO NOTHING. */
static char *insert_sql(const tdef *t)
{
    size_t cap = strlen(t->cols) + 64 + (size_t)t->ncols * 6 + strlen(t->name);
    char *sql = malloc(cap);
    if (!sql)
        return NULL;
    int o = snprintf(sql, cap, "INSERT INTO %s (%s) VALUES (", t->name, t->cols);
    for (int i = 1; i <= t->ncols; i++)
        o += snprintf(sql + o, cap - (size_t)o, "%s$%d", i > 1 ? "," : "", i);
    snprintf(sql + o, cap - (size_t)o, ") ON CONFLICT DO NOTHING");
    return sql;
}

/* Copy one table from after the last marked rowid; counts into *tr. */
static int copy_table(sqlite3 *db, PGconn *c, const char *source, const tdef *t, kv_migrate_table *tr,
                      void (*progress)(const char *, int64_t, int64_t, void *), void *user, char *err,
                      size_t errlen)
{
    char q[512];
    snprintf(q, sizeof q, "SELECT count(*) FROM %s", t->name);
    tr->source_rows = sqlite_int(db, q);
    const char *mv[2] = { source, t->name };
    PGresult *r = NULL;
    if (pgx(c, "SELECT coalesce(max(src_id), 0) FROM kvitt_migrated WHERE source=$1 AND tbl=$2", 2, mv, &r,
            err, errlen))
        return -1;
    int64_t after = kv_pg_i64(r, 0, 0);
    PQclear(r);
    char *ins = insert_sql(t);
    if (!ins)
        return -1;
    snprintf(q, sizeof q, "SELECT rowid, %s FROM %s WHERE rowid > ? ORDER BY rowid LIMIT %d", t->cols, t->name,
             BATCH);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", t->name, sqlite3_errmsg(db));
        free(ins);
        return -1;
    }
    int rc = 0;
    for (;;) {
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, after);
        int n = 0;
        if (pgx(c, "BEGIN", 0, NULL, NULL, err, errlen)) {
            rc = -1;
            break;
        }
        while (rc == 0 && sqlite3_step(s) == SQLITE_ROW) {
            const char *v[24];
            char *hex = NULL;
            int64_t rowid = sqlite3_column_int64(s, 0);
            for (int i = 0; i < t->ncols; i++) {
                if (i == t->hex_col) {
                    int len = sqlite3_column_bytes(s, i + 1);
                    const unsigned char *b = sqlite3_column_blob(s, i + 1);
                    /* BYTEA's hex input: "\\x" and the digits */
                    int pre = t->bytea ? 2 : 0;
                    hex = malloc((size_t)len * 2 + 3);
                    if (hex && pre)
                        memcpy(hex, "\\x", 2);
                    for (int k = 0; hex && b && k < len; k++)
                        snprintf(hex + pre + 2 * k, 3, "%02x", b[k]);
                    if (hex)
                        hex[pre + (b ? len * 2 : 0)] = '\0';
                    v[i] = hex;
                } else {
                    v[i] = (const char *)sqlite3_column_text(s, i + 1);
                }
            }
            PGresult *ir = PQexecParams(c, ins, t->ncols, NULL, v, NULL, NULL, 0);
            int ok = pg_ok(ir);
            int added = ok && strcmp(PQcmdTuples(ir), "1") == 0;
            if (!ok)
                snprintf(err, errlen, "%s row %lld: %s", t->name, (long long)rowid, PQerrorMessage(c));
            PQclear(ir);
            char idbuf[24];
            snprintf(idbuf, sizeof idbuf, "%lld", (long long)rowid);
            const char *marker[4] = { source, t->name, idbuf, t->key_col >= 0 ? v[t->key_col] : NULL };
            if (ok && pgx(c, "INSERT INTO kvitt_migrated(source, tbl, src_id, key) VALUES($1,$2,$3,$4)"
                          " ON CONFLICT DO NOTHING", 4, marker, NULL, err, errlen))
                ok = 0;
            free(hex);
            if (!ok) {
                rc = -1;
                break;
            }
            tr->copied += added;
            after = rowid;
            n++;
        }
        if (rc) {
            PQclear(PQexec(c, "ROLLBACK"));
            break;
        }
        if (pgx(c, "COMMIT", 0, NULL, NULL, err, errlen)) {
            rc = -1;
            break;
        }
        if (progress && n)
            progress(t->name, after, tr->source_rows, user);
        if (n < BATCH)
            break;
    }
    sqlite3_finalize(s);
    free(ins);
    if (rc == 0) {
        if (pgx(c, "SELECT count(*) FROM kvitt_migrated WHERE source=$1 AND tbl=$2", 2, mv, &r, err, errlen))
            return -1;
        tr->marked = kv_pg_i64(r, 0, 0);
        PQclear(r);
    }
    return rc;
}

/* The sums of the source and of the copied rows (by natural key). */
static int sums(sqlite3 *db, PGconn *c, const char *source, kv_migrate_report *rep, char *err, size_t errlen)
{
    static const char *const sq[4] = {
        "SELECT coalesce(sum(amount),0) FROM payments", "SELECT coalesce(sum(captured),0) FROM payments",
        "SELECT coalesce(sum(refunded),0) FROM payments", "SELECT coalesce(sum(amount),0) FROM operations" };
    for (int i = 0; i < 4; i++)
        rep->sums_source[i] = sqlite_int(db, sq[i]);
    const char *v[1] = { source };
    PGresult *r = NULL;
    if (pgx(c, "SELECT coalesce(sum(p.amount),0), coalesce(sum(p.captured),0), coalesce(sum(p.refunded),0)"
               " FROM payments p JOIN kvitt_migrated m ON m.source=$1 AND m.tbl='payments' AND m.key=p.reference",
            1, v, &r, err, errlen))
        return -1;
    for (int i = 0; i < 3; i++)
        rep->sums_target[i] = kv_pg_i64(r, 0, i);
    PQclear(r);
    if (pgx(c, "SELECT coalesce(sum(o.amount),0) FROM operations o JOIN kvitt_migrated m"
               " ON m.source=$1 AND m.tbl='operations' AND m.key=o.idem_key", 1, v, &r, err, errlen))
        return -1;
    rep->sums_target[3] = kv_pg_i64(r, 0, 0);
    PQclear(r);
    return 0;
}

kv_journal_status kv_journal_migrate(const char *path, const char *dsn, kv_migrate_report *rep,
                                     void (*progress)(const char *, int64_t, int64_t, void *), void *user,
                                     char *err, size_t errlen)
{
    if (!path || !dsn || !rep || !kv_pg_is_dsn(dsn) || kv_pg_is_dsn(path))
        return KV_J_E_ARG;
    memset(rep, 0, sizeof *rep);
    char source[PATH_MAX];
    if (!realpath(path, source)) {
        snprintf(err, errlen, "journal %s: cannot be read; fix: give the SQLite journal's path", path);
        return KV_J_E_OPEN;
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(source, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK || !table_exists(db, "payments")) {
        snprintf(err, errlen, "journal %s: not a kvitt journal (%s)", source, db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return KV_J_E_OPEN;
    }
    sqlite3_busy_timeout(db, 10000);
    PGconn *c = kv_pg_connect(dsn, err, errlen);
    if (!c) {
        sqlite3_close(db);
        return KV_J_E_CONN;
    }
    kv_journal_status st = KV_J_OK;
    /* one snapshot of the file for the whole copy */
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (int i = 0; i < NTABLES && st == KV_J_OK; i++) {
        if (!table_exists(db, tables[i].name))
            continue;
        kv_migrate_table *tr = &rep->tables[rep->ntables++];
        tr->name = tables[i].name;
        if (copy_table(db, c, source, &tables[i], tr, progress, user, err, errlen))
            st = PQstatus(c) == CONNECTION_OK ? KV_J_E_SQL : KV_J_E_CONN;
    }
    if (st == KV_J_OK && sums(db, c, source, rep, err, errlen))
        st = KV_J_E_SQL;
    if (st == KV_J_OK) {
        rep->verified = 1;
        for (int i = 0; i < rep->ntables; i++)
            if (rep->tables[i].marked != rep->tables[i].source_rows)
                rep->verified = 0;
        for (int i = 0; i < 4; i++)
            if (rep->sums_source[i] != rep->sums_target[i])
                rep->verified = 0;
        if (!rep->verified) {
            snprintf(err, errlen, "the copy does not match the file (counts or sums differ; a reference "
                     "already in the database from elsewhere?)");
            st = KV_J_E_SQL;
        }
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    PQfinish(c);
    return st;
}

kv_journal_status kv_journal_upgrade(const char *dsn, int *from, int *to, char *err, size_t errlen)
{
    if (!dsn || !kv_pg_is_dsn(dsn))
        return KV_J_E_ARG;
    PGconn *c = kv_pg_connect(dsn, err, errlen);
    if (!c)
        return KV_J_E_CONN;
    int rc = kv_pg_migrate(c, &kv_jpg_schema, 1, from, to, err, errlen);
    PQfinish(c);
    return rc ? KV_J_E_SQL : KV_J_OK;
}
