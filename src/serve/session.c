/* session.c - pairing codes, browser sessions and the sign-in throttle of
 * the cashier page, kept as hashes in the journal database (a SQLite file
 * or PostgreSQL, through sessdb.c). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "src/serve/sessdb.h"
#include "src/serve/session.h"

struct kv_session {
    kv_sessdb *db;
    int max_failures, window_s, max_clients;   /* the sign-in throttle */
    int idle_s;                  /* a session unused this long ends (0: never) */
};

/* The SQLite journal file: additive only (IF NOT EXISTS). */
static const char sqlite_schema[] =
    "CREATE TABLE IF NOT EXISTS serve_pair (code_sha256 TEXT PRIMARY KEY, till TEXT NOT NULL,"
    " created INTEGER NOT NULL, expires INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS serve_session (id TEXT PRIMARY KEY,"
    " cookie_sha256 TEXT NOT NULL UNIQUE, csrf TEXT NOT NULL, till TEXT NOT NULL,"
    " created INTEGER NOT NULL, expires INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
    " agent TEXT NOT NULL DEFAULT '', revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS serve_signin (client_sha256 TEXT PRIMARY KEY,"
    " window_start INTEGER NOT NULL, failures INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS serve_signin_window ON serve_signin(window_start);";

/* PostgreSQL: versioned under the component "session".  Append a step for
 * every change; never edit a step that has shipped. */
static const char *const pg_steps[] = {
    /* 1: pairing codes, sessions and the sign-in throttle */
    "CREATE TABLE serve_pair (code_sha256 TEXT PRIMARY KEY, till TEXT NOT NULL,"
    " created BIGINT NOT NULL, expires BIGINT NOT NULL, used BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX serve_pair_expires ON serve_pair(expires);"
    "CREATE TABLE serve_session (id TEXT PRIMARY KEY,"
    " cookie_sha256 TEXT NOT NULL UNIQUE, csrf TEXT NOT NULL, till TEXT NOT NULL,"
    " created BIGINT NOT NULL, expires BIGINT NOT NULL, last_seen BIGINT NOT NULL,"
    " agent TEXT NOT NULL DEFAULT '', revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX serve_session_till ON serve_session(till, created);"
    "CREATE INDEX serve_session_expires ON serve_session(expires);"
    "CREATE TABLE serve_signin (client_sha256 TEXT PRIMARY KEY,"
    " window_start BIGINT NOT NULL, failures INTEGER NOT NULL);"
    "CREATE INDEX serve_signin_window ON serve_signin(window_start);",
};
static const kv_pg_schema pg_schema = { "session", pg_steps,
                                        (int)(sizeof pg_steps / sizeof pg_steps[0]) };

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
    case KV_SESSION_E_THROTTLED: return "too many failed sign-ins from this client";
    }
    return "unknown session status";
}

kv_session_status kv_session_open(kv_session **out, const char *path, char *err, size_t errlen)
{
    if (!out || !path)
        return KV_SESSION_E_ARG;
    kv_session *ss = calloc(1, sizeof *ss);
    if (!ss)
        return KV_SESSION_E_NOMEM;
    ss->max_failures = KV_SIGNIN_MAX_FAILURES;
    ss->window_s = KV_SIGNIN_WINDOW_S;
    ss->max_clients = KV_SIGNIN_MAX_CLIENTS;
    char e[600] = "";
    kv_sessdb_status st = kv_sessdb_open(&ss->db, path, sqlite_schema, &pg_schema, e, sizeof e);
    if (st != KV_SESSDB_OK) {
        if (err)
            snprintf(err, errlen, "cannot open the session tables: %s", e);
        free(ss);
        return st == KV_SESSDB_E_NOMEM ? KV_SESSION_E_NOMEM : KV_SESSION_E_DB;
    }
    *out = ss;
    return KV_SESSION_OK;
}

void kv_session_close(kv_session *ss)
{
    if (!ss)
        return;
    kv_sessdb_close(ss->db);
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

#define EXEC(ss, res, sql, ...) kv_sessdb_exec((ss)->db, res, sql, __VA_ARGS__)

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
    EXEC(ss, NULL, "DELETE FROM serve_pair WHERE expires < ?", "i", now - 86400);
    if (EXEC(ss, NULL, "INSERT INTO serve_pair(code_sha256, till, created, expires)"
             " VALUES(?,?,?,?)", "ttii", h, till, now, now + KV_PAIR_TTL_S) != KV_SESSDB_OK)
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
    /* Mark it used and read the till in one statement: a second use of
     * the same code, even at the same moment and from another daemon on
     * the same PostgreSQL database, finds it used (the row is locked by
     * the first UPDATE; the second re-checks used = 0 after it commits). */
    kv_sessdb_res res;
    int64_t now = now_s();
    if (EXEC(ss, &res, "UPDATE serve_pair SET used = ? WHERE code_sha256 = ? AND used = 0"
             " AND expires >= ? RETURNING till", "iti", now, h, now) != KV_SESSDB_OK) {
        out = KV_SESSION_E_DB;
    } else if (res.nrows == 1) {
        snprintf(till, 64, "%s", kv_sessdb_cell(&res, 0, 0));
        out = KV_SESSION_OK;
    }
    kv_sessdb_res_free(&res);
    return out;
}

static void row_info(const kv_sessdb_res *res, size_t row, kv_session_info *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->id, sizeof info->id, "%s", kv_sessdb_cell(res, row, 0));
    snprintf(info->till, sizeof info->till, "%s", kv_sessdb_cell(res, row, 1));
    snprintf(info->csrf, sizeof info->csrf, "%s", kv_sessdb_cell(res, row, 2));
    snprintf(info->agent, sizeof info->agent, "%s", kv_sessdb_cell(res, row, 3));
    info->created = kv_sessdb_i64(res, row, 4);
    info->expires = kv_sessdb_i64(res, row, 5);
    info->last_seen = kv_sessdb_i64(res, row, 6);
}

#define SESSION_COLS "id, till, csrf, agent, created, expires, last_seen"

/* Sessions last seen at or before this moment have ended by idling.
 * last_seen is written at most once a minute, so the idle time is
 * counted from up to a minute earlier than the last request. */
static int64_t idle_since(const kv_session *ss, int64_t now)
{
    return ss->idle_s > 0 ? now - ss->idle_s : INT64_MIN;
}

void kv_session_set_idle(kv_session *ss, int idle_s)
{
    if (ss && idle_s >= 0)
        ss->idle_s = idle_s;
}

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
    EXEC(ss, NULL, "DELETE FROM serve_session WHERE expires < ?", "i", info->created - 86400);
    if (EXEC(ss, NULL, "INSERT INTO serve_session(id, cookie_sha256, csrf, till, created,"
             " expires, last_seen, agent) VALUES(?,?,?,?,?,?,?,?)", "ttttiiit", info->id, h,
             info->csrf, till, info->created, info->expires, info->last_seen,
             info->agent) != KV_SESSDB_OK) {
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
    /* Read at every request, never cached: a session revoked on another
     * daemon of the chain is refused here at once. */
    kv_sessdb_res res;
    if (EXEC(ss, &res, "SELECT " SESSION_COLS " FROM serve_session WHERE cookie_sha256 = ?"
             " AND revoked = 0 AND expires > ? AND last_seen > ?", "tii", h, now,
             idle_since(ss, now)) != KV_SESSDB_OK) {
        out = KV_SESSION_E_DB;
    } else if (res.nrows == 1) {
        row_info(&res, 0, info);
        out = KV_SESSION_OK;
    }
    kv_sessdb_res_free(&res);
    /* last_seen at most once a minute: no write per request. */
    if (out == KV_SESSION_OK && now - info->last_seen >= 60)
        EXEC(ss, NULL, "UPDATE serve_session SET last_seen = ? WHERE id = ?", "it", now, info->id);
    return out;
}

kv_session_status kv_session_list(kv_session *ss, const char *till, kv_session_info **out,
                                  size_t *n)
{
    if (!ss || !till || !out || !n)
        return KV_SESSION_E_ARG;
    *out = NULL;
    *n = 0;
    kv_sessdb_res res;
    kv_session_status ret = KV_SESSION_OK;
    int64_t now = now_s();
    if (EXEC(ss, &res, "SELECT " SESSION_COLS " FROM serve_session WHERE till = ?"
             " AND revoked = 0 AND expires > ? AND last_seen > ? ORDER BY created DESC, id",
             "tii", till, now, idle_since(ss, now)) != KV_SESSDB_OK)
        ret = KV_SESSION_E_DB;
    else if (res.nrows && !(*out = calloc(res.nrows, sizeof **out)))
        ret = KV_SESSION_E_NOMEM;
    for (size_t i = 0; ret == KV_SESSION_OK && i < res.nrows; i++) {
        row_info(&res, i, &(*out)[i]);
        (*out)[i].csrf[0] = '\0'; /* a listing never carries another session's token */
    }
    if (ret == KV_SESSION_OK)
        *n = res.nrows;
    kv_sessdb_res_free(&res);
    return ret;
}

kv_session_status kv_session_revoke(kv_session *ss, const char *till, const char *id)
{
    if (!ss || !till || !id)
        return KV_SESSION_E_ARG;
    kv_sessdb_res res;
    kv_sessdb_status st = EXEC(ss, &res, "UPDATE serve_session SET revoked = 1 WHERE id = ?"
                               " AND till = ? AND revoked = 0 AND expires > ?", "tti", id, till,
                               now_s());
    long changed = res.changed;
    kv_sessdb_res_free(&res);
    if (st != KV_SESSDB_OK)
        return KV_SESSION_E_DB;
    return changed > 0 ? KV_SESSION_OK : KV_SESSION_E_NOT_FOUND;
}

/* ---- the sign-in throttle ------------------------------------------------ */

void kv_session_throttle_set(kv_session *ss, int max_failures, int window_s, int max_clients)
{
    if (!ss || max_failures < 1 || window_s < 1 || max_clients < 1)
        return;
    ss->max_failures = max_failures;
    ss->window_s = window_s;
    ss->max_clients = max_clients;
}

kv_session_status kv_session_signin_check(kv_session *ss, const char *client, int *retry_s)
{
    if (!ss || !client || !retry_s)
        return KV_SESSION_E_ARG;
    char h[65];
    sha_hex(h, client);
    int64_t now = now_s();
    kv_sessdb_res res;
    kv_session_status out = KV_SESSION_OK;
    if (EXEC(ss, &res, "SELECT window_start, failures FROM serve_signin WHERE client_sha256 = ?"
             " AND window_start > ?", "ti", h, now - ss->window_s) != KV_SESSDB_OK) {
        out = KV_SESSION_E_DB;
    } else if (res.nrows == 1 && kv_sessdb_i64(&res, 0, 1) >= ss->max_failures) {
        int64_t left = kv_sessdb_i64(&res, 0, 0) + ss->window_s - now;
        *retry_s = left < 1 ? 1 : left > ss->window_s ? ss->window_s : (int)left;
        out = KV_SESSION_E_THROTTLED;
    }
    kv_sessdb_res_free(&res);
    return out;
}

kv_session_status kv_session_signin_failed(kv_session *ss, const char *client, int *failures)
{
    if (failures)
        *failures = 0;
    if (!ss || !client)
        return KV_SESSION_E_ARG;
    char h[65];
    sha_hex(h, client);
    int64_t now = now_s(), old = now - ss->window_s;
    /* One statement: daemons of a chain counting the same client at once
     * add up (the row is locked by the first). A window that is over
     * starts again at 1. */
    kv_sessdb_res res;
    kv_sessdb_status st = EXEC(ss, &res, "INSERT INTO serve_signin(client_sha256, window_start,"
                               " failures) VALUES(?, ?, 1) ON CONFLICT(client_sha256) DO UPDATE"
                               " SET failures = CASE WHEN serve_signin.window_start <= ? THEN 1"
                               " ELSE serve_signin.failures + 1 END,"
                               " window_start = CASE WHEN serve_signin.window_start <= ? THEN ?"
                               " ELSE serve_signin.window_start END RETURNING failures", "tiiii",
                               h, now, old, old, now);
    if (failures)
        *failures = (int)kv_sessdb_i64(&res, 0, 0);
    kv_sessdb_res_free(&res);
    if (st != KV_SESSDB_OK)
        return KV_SESSION_E_DB;
    /* Bounded: windows that are over go, then the oldest clients beyond
     * max_clients (a spray from many addresses forgets its own oldest). */
    EXEC(ss, NULL, "DELETE FROM serve_signin WHERE window_start <= ?", "i", old);
    size_t rows = 0;
    if (kv_session_throttle_rows(ss, &rows) == KV_SESSION_OK && rows > (size_t)ss->max_clients)
        EXEC(ss, NULL, "DELETE FROM serve_signin WHERE client_sha256 IN (SELECT client_sha256"
             " FROM serve_signin ORDER BY window_start, client_sha256 LIMIT ?)", "i",
             (int64_t)(rows - (size_t)ss->max_clients));
    return KV_SESSION_OK;
}

kv_session_status kv_session_throttle_rows(kv_session *ss, size_t *n)
{
    if (!ss || !n)
        return KV_SESSION_E_ARG;
    kv_sessdb_res res;
    kv_session_status out = KV_SESSION_E_DB;
    if (EXEC(ss, &res, "SELECT count(*) FROM serve_signin", "") == KV_SESSDB_OK &&
        res.nrows == 1) {
        *n = (size_t)kv_sessdb_i64(&res, 0, 0);
        out = KV_SESSION_OK;
    }
    kv_sessdb_res_free(&res);
    return out;
}
