/* session.c - pairing codes and browser sessions of the cashier page,
 * kept as hashes in the journal database. */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sqlite3.h>

#include "src/journal/pgconn.h"
#include "src/serve/session.h"
#include "src/util/sqlfile.h"

struct kv_session {
    sqlite3 *db;
    pthread_mutex_t mu;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS serve_pair (code_sha256 TEXT PRIMARY KEY, till TEXT NOT NULL,"
    " created INTEGER NOT NULL, expires INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS serve_session (id TEXT PRIMARY KEY,"
    " cookie_sha256 TEXT NOT NULL UNIQUE, csrf TEXT NOT NULL, till TEXT NOT NULL,"
    " created INTEGER NOT NULL, expires INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
    " agent TEXT NOT NULL DEFAULT '', revoked INTEGER NOT NULL DEFAULT 0);";

const char *kv_session_strerror(kv_session_status st)
{
    switch (st) {
    case KV_SESSION_OK: return "ok";
    case KV_SESSION_E_ARG: return "invalid argument";
    case KV_SESSION_E_NOMEM: return "out of memory";
    case KV_SESSION_E_DB: return "session database error";
    case KV_SESSION_E_DENIED: return "unknown, used, expired or revoked";
    case KV_SESSION_E_NOT_FOUND: return "no such session";
    case KV_SESSION_E_UNSUPPORTED: return "the cashier page's sessions need a SQLite journal";
    }
    return "unknown session status";
}

kv_session_status kv_session_open(kv_session **out, const char *path, char *err, size_t errlen)
{
    if (!out || !path)
        return KV_SESSION_E_ARG;
    if (kv_pg_is_dsn(path)) {
        /* Not kept in PostgreSQL yet: a chain's daemons would each need
         * the same sessions behind their balancer. */
        if (err)
            snprintf(err, errlen, "the cashier page's sign-in sessions are kept in a SQLite journal "
                     "only for now; this journal is PostgreSQL");
        return KV_SESSION_E_UNSUPPORTED;
    }
    kv_session *ss = calloc(1, sizeof *ss);
    if (!ss)
        return KV_SESSION_E_NOMEM;
    pthread_mutex_init(&ss->mu, NULL);
    int rc = sqlite3_open_v2(path, &ss->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_FULLMUTEX, NULL);
    char *msg = NULL;
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(ss->db, 5000); /* the journal commits briefly */
        rc = kv_sqlfile_setup(ss->db, NULL, schema, 5000, &msg);
    }
    if (rc != SQLITE_OK) {
        if (err)
            snprintf(err, errlen, "%s: cannot open the session tables: %s", path,
                     msg ? msg : ss->db ? sqlite3_errmsg(ss->db) : "out of memory");
        sqlite3_free(msg);
        kv_session_close(ss);
        return KV_SESSION_E_DB;
    }
    *out = ss;
    return KV_SESSION_OK;
}

void kv_session_close(kv_session *ss)
{
    if (!ss)
        return;
    sqlite3_close(ss->db);
    pthread_mutex_destroy(&ss->mu);
    free(ss);
}

static void hex(char *out, const unsigned char *b, size_t n)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int random_bytes(unsigned char *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(b + got, n - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static void sha_hex(char out[65], const char *text)
{
    unsigned char h[32];
    SHA256((const unsigned char *)text, strlen(text), h);
    hex(out, h, sizeof h);
    OPENSSL_cleanse(h, sizeof h);
}

static int64_t now_s(void) { return (int64_t)time(NULL); }

/* Run one statement with text/int binds ("t" or "i" per parameter).
 * Returns the sqlite3_step result (SQLITE_DONE / SQLITE_ROW) with *st left
 * open when st is not NULL. */
static int run(kv_session *ss, sqlite3_stmt **st, const char *sql, const char *types, ...)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(ss->db, sql, -1, &s, NULL) != SQLITE_OK)
        return SQLITE_ERROR;
    va_list ap;
    va_start(ap, types);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 't')
            sqlite3_bind_text(s, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
    }
    va_end(ap);
    int rc = sqlite3_step(s);
    if (st)
        *st = s;
    else
        sqlite3_finalize(s);
    return rc;
}

kv_session_status kv_session_pair_create(kv_session *ss, const char *till, char code[10])
{
    /* 8 symbols of a 32-letter alphabet without 0/O, 1/I/L: 40 bits. */
    static const char alpha[] = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
    if (!ss || !till || !*till)
        return KV_SESSION_E_ARG;
    unsigned char b[8];
    if (random_bytes(b, sizeof b) < 0)
        return KV_SESSION_E_DB;
    char plain[9];
    for (int i = 0; i < 8; i++)
        plain[i] = alpha[b[i] % (sizeof alpha - 1)];
    plain[8] = '\0';
    char h[65];
    sha_hex(h, plain);
    int64_t now = now_s();
    pthread_mutex_lock(&ss->mu);
    run(ss, NULL, "DELETE FROM serve_pair WHERE expires < ?", "i", now - 86400);
    int rc = run(ss, NULL, "INSERT INTO serve_pair(code_sha256, till, created, expires)"
                 " VALUES(?,?,?,?)", "ttii", h, till, now, now + KV_PAIR_TTL_S);
    pthread_mutex_unlock(&ss->mu);
    if (rc != SQLITE_DONE)
        return KV_SESSION_E_DB;
    snprintf(code, 10, "%.4s-%.4s", plain, plain + 4);
    OPENSSL_cleanse(plain, sizeof plain);
    return KV_SESSION_OK;
}

kv_session_status kv_session_pair_redeem(kv_session *ss, const char *code, char till[64])
{
    if (!ss || !code)
        return KV_SESSION_E_ARG;
    char plain[9];
    size_t n = 0;
    for (const char *p = code; *p; p++) {
        if (*p == '-' || *p == ' ')
            continue;
        if (n == 8 || !isalnum((unsigned char)*p))
            return KV_SESSION_E_DENIED;
        plain[n++] = (char)toupper((unsigned char)*p);
    }
    plain[n] = '\0';
    if (n != 8)
        return KV_SESSION_E_DENIED;
    char h[65];
    sha_hex(h, plain);
    OPENSSL_cleanse(plain, sizeof plain);
    kv_session_status out = KV_SESSION_E_DENIED;
    pthread_mutex_lock(&ss->mu);
    /* Mark it used and read the till in one statement: a second use of
     * the same code, even at the same moment, finds it used. */
    sqlite3_stmt *st = NULL;
    int rc = run(ss, &st, "UPDATE serve_pair SET used = ? WHERE code_sha256 = ? AND used = 0"
                 " AND expires >= ? RETURNING till", "iti", now_s(), h, now_s());
    if (rc == SQLITE_ROW) {
        snprintf(till, 64, "%s", (const char *)sqlite3_column_text(st, 0));
        out = KV_SESSION_OK;
    } else if (rc != SQLITE_DONE) {
        out = KV_SESSION_E_DB;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&ss->mu);
    return out;
}

static void row_info(sqlite3_stmt *st, kv_session_info *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->id, sizeof info->id, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(info->till, sizeof info->till, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(info->csrf, sizeof info->csrf, "%s", (const char *)sqlite3_column_text(st, 2));
    snprintf(info->agent, sizeof info->agent, "%s", (const char *)sqlite3_column_text(st, 3));
    info->created = sqlite3_column_int64(st, 4);
    info->expires = sqlite3_column_int64(st, 5);
    info->last_seen = sqlite3_column_int64(st, 6);
}

#define SESSION_COLS "id, till, csrf, agent, created, expires, last_seen"

kv_session_status kv_session_login(kv_session *ss, const char *till, const char *agent,
                                   int ttl_s, char cookie[65], kv_session_info *info)
{
    if (!ss || !till || !*till || !cookie || !info || ttl_s <= 0)
        return KV_SESSION_E_ARG;
    unsigned char b[32 + 32 + 8];
    if (random_bytes(b, sizeof b) < 0)
        return KV_SESSION_E_DB;
    memset(info, 0, sizeof *info);
    hex(cookie, b, 32);
    hex(info->csrf, b + 32, 32);
    hex(info->id, b + 64, 8);
    OPENSSL_cleanse(b, sizeof b);
    char h[65];
    sha_hex(h, cookie);
    /* The User-Agent is for listings only: printable ASCII, cut. */
    size_t k = 0;
    for (const char *p = agent ? agent : ""; *p && k < sizeof info->agent - 1; p++)
        info->agent[k++] = *p >= 0x20 && *p < 0x7f ? *p : '?';
    snprintf(info->till, sizeof info->till, "%s", till);
    info->created = info->last_seen = now_s();
    info->expires = info->created + ttl_s;
    pthread_mutex_lock(&ss->mu);
    run(ss, NULL, "DELETE FROM serve_session WHERE expires < ?", "i", info->created - 86400);
    int rc = run(ss, NULL, "INSERT INTO serve_session(id, cookie_sha256, csrf, till, created,"
                 " expires, last_seen, agent) VALUES(?,?,?,?,?,?,?,?)", "ttttiiit", info->id, h,
                 info->csrf, till, info->created, info->expires, info->last_seen, info->agent);
    pthread_mutex_unlock(&ss->mu);
    if (rc != SQLITE_DONE) {
        OPENSSL_cleanse(cookie, 65);
        return KV_SESSION_E_DB;
    }
    return KV_SESSION_OK;
}

kv_session_status kv_session_find(kv_session *ss, const char *cookie, kv_session_info *info)
{
    if (!ss || !cookie || !info)
        return KV_SESSION_E_ARG;
    if (strlen(cookie) != 64)
        return KV_SESSION_E_DENIED;
    char h[65];
    sha_hex(h, cookie);
    int64_t now = now_s();
    kv_session_status out = KV_SESSION_E_DENIED;
    pthread_mutex_lock(&ss->mu);
    sqlite3_stmt *st = NULL;
    int rc = run(ss, &st, "SELECT " SESSION_COLS " FROM serve_session WHERE cookie_sha256 = ?"
                 " AND revoked = 0 AND expires > ?", "ti", h, now);
    if (rc == SQLITE_ROW) {
        row_info(st, info);
        out = KV_SESSION_OK;
    } else if (rc != SQLITE_DONE) {
        out = KV_SESSION_E_DB;
    }
    sqlite3_finalize(st);
    /* last_seen at most once a minute: no write per request. */
    if (out == KV_SESSION_OK && now - info->last_seen >= 60)
        run(ss, NULL, "UPDATE serve_session SET last_seen = ? WHERE id = ?", "it", now, info->id);
    pthread_mutex_unlock(&ss->mu);
    return out;
}

kv_session_status kv_session_list(kv_session *ss, const char *till, kv_session_info **out,
                                  size_t *n)
{
    if (!ss || !till || !out || !n)
        return KV_SESSION_E_ARG;
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    kv_session_status res = KV_SESSION_OK;
    pthread_mutex_lock(&ss->mu);
    sqlite3_stmt *st = NULL;
    int rc = run(ss, &st, "SELECT " SESSION_COLS " FROM serve_session WHERE till = ?"
                 " AND revoked = 0 AND expires > ? ORDER BY created DESC, id", "ti", till, now_s());
    while (rc == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            kv_session_info *x = realloc(*out, cap * sizeof *x);
            if (!x) {
                res = KV_SESSION_E_NOMEM;
                break;
            }
            *out = x;
        }
        row_info(st, &(*out)[*n]);
        (*out)[*n].csrf[0] = '\0'; /* a listing never carries another session's token */
        (*n)++;
        rc = sqlite3_step(st);
    }
    if (res == KV_SESSION_OK && rc != SQLITE_DONE)
        res = KV_SESSION_E_DB;
    sqlite3_finalize(st);
    pthread_mutex_unlock(&ss->mu);
    if (res != KV_SESSION_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return res;
}

kv_session_status kv_session_revoke(kv_session *ss, const char *till, const char *id)
{
    if (!ss || !till || !id)
        return KV_SESSION_E_ARG;
    pthread_mutex_lock(&ss->mu);
    int rc = run(ss, NULL, "UPDATE serve_session SET revoked = 1 WHERE id = ? AND till = ?"
                 " AND revoked = 0 AND expires > ?", "tti", id, till, now_s());
    int changed = sqlite3_changes(ss->db);
    pthread_mutex_unlock(&ss->mu);
    if (rc != SQLITE_DONE)
        return KV_SESSION_E_DB;
    return changed > 0 ? KV_SESSION_OK : KV_SESSION_E_NOT_FOUND;
}
