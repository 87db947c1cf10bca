/* pgconn.c - connecting to PostgreSQL and versioned schema migrations. */
#include "src/journal/pgconn.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int kv_pg_is_dsn(const char *s)
{
    if (!s)
        return 0;
    return strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0 ||
           strncmp(s, "host=", 5) == 0 || strncmp(s, "dbname=", 7) == 0;
}

void kv_pg_dsn_redact(const char *dsn, char *out, size_t len)
{
    if (!len)
        return;
    out[0] = '\0';
    if (!dsn)
        return;
    size_t o = 0;
    const char *p = dsn;
    const char *scheme = strstr(dsn, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    if (at && (!slash || at < slash)) {
        /* postgresql://user:secret@host -> postgresql://user@host */
        const char *colon = memchr(scheme + 3, ':', (size_t)(at - (scheme + 3)));
        if (colon) {
            size_t n = (size_t)(colon - dsn);
            o = snprintf(out, len, "%.*s", (int)n, dsn);
            p = at;
        }
    }
    while (*p && o + 1 < len) {
        if (strncmp(p, "password=", 9) == 0 && (p == dsn || p[-1] == ' ' || p[-1] == '?' || p[-1] == '&')) {
            /* drop the value up to the next separator */
            p += 9;
            while (*p && *p != ' ' && *p != '&')
                p++;
            int n = snprintf(out + o, len - o, "password=***");
            o += (size_t)n < len - o ? (size_t)n : len - o - 1;
            continue;
        }
        out[o++] = *p++;
    }
    out[o < len ? o : len - 1] = '\0';
}

/* libpq's message without its trailing newline. */
static void copy_msg(char *dst, size_t len, const char *msg)
{
    snprintf(dst, len, "%s", msg ? msg : "");
    size_t n = strlen(dst);
    while (n && (dst[n - 1] == '\n' || dst[n - 1] == ' '))
        dst[--n] = '\0';
}

PGconn *kv_pg_connect(const char *dsn, char *err, size_t errlen)
{
    /* earlier keywords are defaults: the expanded dsn overrides them */
    /* keepalives: a server (or a peer instance's machine) that vanished is
     * noticed within seconds, not after the kernel's two hours */
    const char *const keys[] = { "connect_timeout", "application_name", "keepalives", "keepalives_idle",
                                 "keepalives_interval", "keepalives_count", "dbname", NULL };
    const char *const vals[] = { "5", "kvitt", "1", "5", "2", "2", dsn, NULL };
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c) {
        if (err)
            snprintf(err, errlen, "journal database: out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        if (err) {
            char red[512], msg[512];
            kv_pg_dsn_redact(dsn, red, sizeof red);
            copy_msg(msg, sizeof msg, PQerrorMessage(c));
            snprintf(err, errlen, "journal %s: %s; fix: check that PostgreSQL runs, the DSN's host, "
                     "database and role, and the password (in the DSN or ~/.pgpass)", red, msg);
        }
        PQfinish(c);
        return NULL;
    }
    /* quiet NOTICEs (CREATE ... IF NOT EXISTS) instead of stderr */
    PQsetNoticeProcessor(c, NULL, NULL);
    return c;
}

int kv_pg_alive(PGconn *c)
{
    if (!c || PQstatus(c) != CONNECTION_OK)
        return 0;
    struct pollfd pfd = { .fd = PQsocket(c), .events = POLLIN };
    if (pfd.fd < 0)
        return 0;
    /* input while idle: a NOTIFY, or the end of the connection (a dying
     * backend sends its FATAL message first, then closes: read until the
     * socket is quiet) */
    for (int i = 0; i < 16 && poll(&pfd, 1, 0) > 0; i++)
        if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK)
            return 0;
    return 1;
}

int kv_pg_conn_lost(PGconn *c, const PGresult *r)
{
    if (!c || PQstatus(c) != CONNECTION_OK)
        return 1;
    if (!r)
        return 1;
    const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    /* class 08: connection exception; 57P01..03: admin shutdown, crash */
    return code && (strncmp(code, "08", 2) == 0 || strncmp(code, "57P", 3) == 0);
}

int64_t kv_pg_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* Run sql; 0 when it succeeded (command or rows), else -1 with err. */
static int run(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType es = PQresultStatus(r);
    int ok = es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK;
    if (!ok && err) {
        char msg[512];
        copy_msg(msg, sizeof msg, PQerrorMessage(c));
        const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (code && strcmp(code, "42501") == 0)
            snprintf(err, errlen, "journal schema: %s; fix: run `kvitt journal upgrade` as the "
                     "database's owner (the daemon's role may not create tables)", msg);
        else
            snprintf(err, errlen, "journal schema: %s", msg);
    }
    PQclear(r);
    return ok ? 0 : -1;
}

int kv_pg_migrate(PGconn *c, const kv_pg_schema *s, int apply, int *from, int *to,
                  char *err, size_t errlen)
{
    int have = 0;
    if (run(c, "BEGIN", err, errlen))
        return -1;
    /* every kvitt process on the database waits here for the one applying */
    if (run(c, "SELECT pg_advisory_xact_lock(7316095120)", err, errlen))
        goto fail;
    PGresult *r = PQexec(c, "SELECT to_regclass('kvitt_schema') IS NOT NULL");
    int exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
                 strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!exists && apply &&
        run(c, "CREATE TABLE IF NOT EXISTS kvitt_schema (component TEXT NOT NULL, version INTEGER NOT NULL,"
               " applied_at BIGINT NOT NULL, PRIMARY KEY (component, version))", err, errlen))
        goto fail;
    if (exists) {
        const char *pv[1] = { s->component };
        r = PQexecParams(c, "SELECT coalesce(max(version), 0) FROM kvitt_schema WHERE component = $1",
                         1, NULL, pv, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            PQclear(r);
            snprintf(err, errlen, "journal schema: %s", PQerrorMessage(c));
            goto fail;
        }
        have = (int)kv_pg_i64(r, 0, 0);
        PQclear(r);
    }
    if (from)
        *from = have;
    if (have > s->nsteps) {
        snprintf(err, errlen, "journal schema: %s version %d is newer than this kvitt knows (%d); "
                 "fix: upgrade kvitt on this machine", s->component, have, s->nsteps);
        goto fail;
    }
    if (have < s->nsteps && !apply) {
        snprintf(err, errlen, "journal schema: %s is at version %d, this kvitt needs %d; "
                 "fix: run `kvitt journal upgrade`", s->component, have, s->nsteps);
        goto fail;
    }
    for (int v = have + 1; v <= s->nsteps; v++) {
        if (run(c, s->steps[v - 1], err, errlen))
            goto fail;
        char ver[16];
        snprintf(ver, sizeof ver, "%d", v);
        const char *pv[2] = { s->component, ver };
        r = PQexecParams(c, "INSERT INTO kvitt_schema(component, version, applied_at)"
                         " VALUES($1, $2::int, extract(epoch from now())::bigint)", 2, NULL, pv, NULL, NULL, 0);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            snprintf(err, errlen, "journal schema: cannot record version %d: %s", v, PQerrorMessage(c));
            goto fail;
        }
    }
    if (run(c, "COMMIT", err, errlen))
        return -1;
    if (to)
        *to = s->nsteps;
    return 0;
fail:
    PQclear(PQexec(c, "ROLLBACK"));
    return -1;
}
