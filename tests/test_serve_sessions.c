/* test_serve_sessions.c - the cashier page's sign-in sessions, pairing codes
 * and sign-in throttle of `kvitt serve` over real HTTP: `[serve]
 * session_hours`, the throttle per client address (X-Forwarded-For only
 * from `[serve] trusted_proxies`), the throttle's bounded table; and, in
 * the PostgreSQL twin (test_serve_sessions_pg), two daemons on one
 * database: a session made on A works on B, revoked on B is refused on A,
 * a pairing code is claimed once across instances, the throttle counts
 * across instances.  Real parts: `kvitt sim`, the daemons as child
 * processes on loopback, a real PostgreSQL server (tests/lib/kvpg.c) in
 * the twin.  The client addresses in X-Forwarded-For are documentation
 * addresses (RFC 5737) written into a header; every socket is on
 * 127.0.0.1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "src/config/config.h"
#include "src/serve/serve.h"
#include "src/serve/session.h"
#include "sim/sim.h"
#include "tests/lib/kvpg.h"
#include "tests/lib/kvtserve.h"

static kvt_serve_env *live;
static kvt_proc *second;

static int cleanup(void **state)
{
    (void)state;
    kvt_proc_stop(second, SIGTERM);
    second = NULL;
    if (live) {
        kvt_serve_teardown(live);
        free(live);
        live = NULL;
    }
    return 0;
}

static kvt_serve_env *env_new(const char *name, const char *serve_extra)
{
    kvt_serve_env *e = calloc(1, sizeof *e);
    live = e;
    kvt_serve_opts o = { .no_webhooks = 1, .serve_extra = serve_extra };
    if (kvt_serve_setup(e, name, &o) < 0)
        fail_msg("fixture %s did not start", name);
    return e;
}

static kvt_proc *start_b(kvt_serve_env *e, char *url, size_t len)
{
    char log[600];
    snprintf(log, sizeof log, "%s/serve-b.log", e->dir);
    kvt_proc *p = kvt_serve_spawn_instance(e, NULL, url, len, log, NULL);
    if (!p)
        fail_msg("instance B did not become ready (log %s)", log);
    return p;
}

/* One request to base: cookie, CSRF token and X-Forwarded-For may be
 * NULL.  Returns the status (0 when no answer came). */
static long req(kvt_http_resp *r, const char *base, const char *method, const char *path,
                const char *cookie, const char *csrf, const char *xff, const char *body)
{
    char fh[200];
    if (xff)
        snprintf(fh, sizeof fh, "X-Forwarded-For: %s", xff);
    if (kvt_serve_req_page(r, base, method, path, cookie, csrf, xff ? fh : NULL, body) != 0)
        return 0;
    return r->status;
}

/* The status of one request (the answer is dropped). */
static long status_of(const char *base, const char *method, const char *path, const char *cookie,
                      const char *csrf, const char *xff, const char *body)
{
    kvt_http_resp r;
    long st = req(&r, base, method, path, cookie, csrf, xff, body);
    kvt_http_free(&r);
    return st;
}

/* A signed-in session: cookie value, CSRF token and session id. */
typedef struct sess {
    char cookie[65];
    char *csrf, *id;
    char set_cookie[512];
    double expires_at;
} sess;

static void sess_free(sess *s)
{
    free(s->csrf);
    free(s->id);
    memset(s, 0, sizeof *s);
}

/* Sign in at base with body; fails the test unless 201. */
static void login(sess *s, const char *base, const char *xff, const char *body)
{
    kvt_http_resp r;
    long st = req(&r, base, "POST", "/v1/session", NULL, NULL, xff, body);
    if (st != 201)
        fail_msg("sign-in at %s: %ld %s", base, st, r.body ? r.body : "");
    assert_non_null(kvt_http_header(&r, "Set-Cookie", s->set_cookie, sizeof s->set_cookie));
    assert_int_equal(strncmp(s->set_cookie, "kvitt_till=", 11), 0);
    memcpy(s->cookie, s->set_cookie + 11, 64);
    s->cookie[64] = '\0';
    s->csrf = kvt_json_str(r.body, "csrf");
    s->id = kvt_json_str(r.body, "session");
    s->expires_at = kvt_json_num(r.body, "expiresAt", 0);
    assert_non_null(s->csrf);
    assert_non_null(s->id);
    kvt_http_free(&r);
}

/* Prints (never asserts) how long n cookie-authenticated requests take:
 * each one reads the session from the journal database. */
static void bench_cookie(const char *base, const sess *s, const char *what)
{
    struct timespec t0, t1;
    const int n = 200;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++)
        assert_int_equal(status_of(base, "GET", "/v1/sessions", s->cookie, NULL, NULL, NULL), 200);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("BENCH %d GET /v1/sessions with a cookie (%s): %.2f ms each\n", n, what, ms / n);
}

/* GET /v1/session with the cookie: 1 when it is signed in as session id. */
static int signed_in(const char *base, const sess *s)
{
    kvt_http_resp r;
    assert_int_equal(req(&r, base, "GET", "/v1/session", s->cookie, NULL, NULL, NULL), 200);
    char *id = kvt_json_str(r.body, "session");
    int yes = strstr(r.body, "\"signedIn\":true") && id && !strcmp(id, s->id);
    free(id);
    kvt_http_free(&r);
    return yes;
}

/* `kvitt serve pair --till t-oslo --no-print`: the code (malloc'd). */
static char *pair_code(const kvt_serve_env *e)
{
    kvt_result res;
    const char *argv[] = { "kvitt", "--config", e->conf, "serve", "pair", "--till", "t-oslo",
                           "--no-print", NULL };
    assert_int_equal(kvt_run(&res, NULL, NULL, 60, argv), 0);
    if (res.status != 0)
        fail_msg("serve pair: %d %s", res.status, res.err);
    char *code = strndup(res.out, strcspn(res.out, "\n"));
    assert_int_equal(strlen(code), 9);
    kvt_result_free(&res);
    return code;
}

#define TOKEN_BODY "{\"token\":\"" KVT_TOK_OSLO "\"}"
#define WRONG_BODY "{\"code\":\"AAAA-AAAA\"}"

/* ---- both journals ------------------------------------------------------ */

/* [serve] session_hours sets the cookie's Max-Age and the session's end. */
static void test_sessions__session_hours(void **state)
{
    (void)state;
    kvt_serve_env *e = env_new("hours", "session_hours = 1\n");
    sess s;
    time_t before = time(NULL);
    login(&s, e->url, NULL, TOKEN_BODY);
    time_t after = time(NULL);
    if (!strstr(s.set_cookie, "Max-Age=3600"))
        fail_msg("Set-Cookie '%s' does not last one hour", s.set_cookie);
    assert_true(s.expires_at >= (double)before + 3600 && s.expires_at <= (double)after + 3600);
    kvt_http_resp r;
    assert_int_equal(req(&r, e->url, "GET", "/v1/sessions", s.cookie, NULL, NULL, NULL), 200);
    char want[64];
    snprintf(want, sizeof want, "\"expiresAt\":%.0f", s.expires_at);
    if (!strstr(r.body, want))
        fail_msg("the listing does not show %s: %s", want, r.body);
    kvt_http_free(&r);
    sess_free(&s);
    cleanup(NULL);
    /* without the key: 12 hours */
    e = env_new("hours-default", NULL);
    login(&s, e->url, NULL, TOKEN_BODY);
    if (!strstr(s.set_cookie, "Max-Age=43200"))
        fail_msg("Set-Cookie '%s' does not last 12 hours", s.set_cookie);
    bench_cookie(e->url, &s, strncmp(e->journal, "postgresql://", 13) ? "SQLite" : "PostgreSQL");
    sess_free(&s);
}

/* A configuration from the simulator with "[serve] key = value" appended,
 * checked by kv_serve_check_config: its status, the message in err.  The
 * file's path (malloc'd) goes to *path_out when not NULL. */
static kv_serve_status check_serve_key(const char *key, const char *value, int i, char *err,
                                       size_t errlen, char **path_out)
{
    char *path = kvt_path("%s/%s-%d.conf", kvt_tmpdir(), key, i);
    assert_int_equal(kv_sim_write_config_url("http://127.0.0.1:9", path), KV_SIM_OK);
    unsigned char *d = NULL;
    size_t n = 0;
    assert_int_equal(kvt_read_file(path, &d, &n), 0);
    char tail[160];
    int tl = snprintf(tail, sizeof tail, "\n[serve]\n%s = %s\n", key, value);
    d = realloc(d, n + (size_t)tl);
    memcpy(d + n, tail, (size_t)tl);
    assert_int_equal(kvt_write_file(path, d, n + (size_t)tl), 0);
    free(d);
    kv_config *cfg = NULL;
    err[0] = '\0';
    assert_int_equal(kv_config_load(&cfg, path, err, errlen), KV_C_OK);
    kv_serve_status st = kv_serve_check_config(cfg, err, errlen);
    kv_config_free(cfg);
    if (path_out)
        *path_out = path;
    else
        free(path);
    return st;
}

/* A session_hours out of 1..168 (or not a number) stops the daemon at the
 * start with a config error (exit 3) naming the key. */
static void test_sessions__session_hours_bounds(void **state)
{
    (void)state;
    const char *vals[] = { "0", "169", "12h", "-1", "1", "168" };
    for (int i = 0; i < 6; i++) {
        char *path = NULL, err[512];
        kv_serve_status st = check_serve_key("session_hours", vals[i], i, err, sizeof err, &path);
        if (i >= 4) {
            if (st != KV_SERVE_OK)
                fail_msg("session_hours = %s refused: %s", vals[i], err);
            free(path);
            continue;
        }
        assert_int_equal(st, KV_SERVE_E_CONFIG);
        if (!strstr(err, "session_hours") || !strstr(err, "1 to 168"))
            fail_msg("the error does not name the key and its range: %s", err);
        if (i == 0) { /* the program too */
            kvt_result res;
            const char *argv[] = { "kvitt", "serve", "--config", path, "--listen",
                                   "127.0.0.1:0", NULL };
            assert_int_equal(kvt_run(&res, NULL, NULL, 60, argv), 0);
            assert_int_equal(res.status, 3);
            assert_non_null(strstr(res.err, "session_hours"));
            kvt_result_free(&res);
        }
        free(path);
    }
    char err[512];
    assert_int_equal(check_serve_key("session_idle_minutes", "1441", 9, err, sizeof err, NULL),
                     KV_SERVE_E_CONFIG);
    assert_non_null(strstr(err, "session_idle_minutes"));
    assert_int_equal(check_serve_key("session_idle_minutes", "0", 10, err, sizeof err, NULL),
                     KV_SERVE_OK);
}

/* Run one SQL command on the fixture's journal (a SQLite file or a
 * PostgreSQL database): how the idle case makes a session look unused
 * for a while without waiting for it. */
static void journal_sql(const kvt_serve_env *e, const char *sql)
{
    if (!strncmp(e->journal, "postgresql://", 13)) {
        PGconn *c = PQconnectdb(e->journal);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            fail_msg("%s: %s", sql, PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        return;
    }
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(e->journal, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* [serve] session_idle_minutes: a session unused for longer ends (the
 * page and the listing); one used within the time goes on. */
static void test_sessions__idle_expiry(void **state)
{
    (void)state;
    kvt_serve_env *e = env_new("idle", "session_idle_minutes = 30\n");
    sess s1, s2;
    login(&s1, e->url, NULL, TOKEN_BODY);
    login(&s2, e->url, NULL, TOKEN_BODY);
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE serve_session SET last_seen = last_seen - 31 * 60"
             " WHERE id = '%s'", s1.id);
    journal_sql(e, sql);
    snprintf(sql, sizeof sql, "UPDATE serve_session SET last_seen = last_seen - 29 * 60"
             " WHERE id = '%s'", s2.id);
    journal_sql(e, sql);
    assert_false(signed_in(e->url, &s1));
    assert_int_equal(status_of(e->url, "GET", "/v1/sessions", s1.cookie, NULL, NULL, NULL), 401);
    assert_true(signed_in(e->url, &s2));
    kvt_http_resp r;
    assert_int_equal(req(&r, e->url, "GET", "/v1/sessions", s2.cookie, NULL, NULL, NULL), 200);
    assert_non_null(strstr(r.body, s2.id));
    assert_null(strstr(r.body, s1.id));
    kvt_http_free(&r);
    /* s2's use just now counts: another 29 minutes later it still works */
    journal_sql(e, sql);
    assert_true(signed_in(e->url, &s2));
    sess_free(&s1);
    sess_free(&s2);
}

/* 20 failed sign-ins within a minute from one client; the 21st answer is
 * 429 with Retry-After.  Returns after the 429. */
static void lock_out(const char *base, const char *xff)
{
    int n = 0;
    long st = 0;
    for (; n < 25; n++) {
        st = status_of(base, "POST", "/v1/session", NULL, NULL, xff, WRONG_BODY);
        if (st != 401)
            break;
    }
    assert_int_equal(st, 429);
    assert_int_equal(n, 20);
}

static void expect_429(const char *base, const char *xff, const char *body)
{
    kvt_http_resp r;
    assert_int_equal(req(&r, base, "POST", "/v1/session", NULL, NULL, xff, body), 429);
    char ra[32];
    assert_non_null(kvt_http_header(&r, "Retry-After", ra, sizeof ra));
    assert_true(atoi(ra) >= 1 && atoi(ra) <= 60);
    kvt_http_free(&r);
}

/* Behind a trusted balancer (127.0.0.1 in [serve] trusted_proxies) the
 * client is the address the balancer put into X-Forwarded-For: one
 * client guessing locks out only itself (even its right token waits),
 * other clients sign in, fail and sign in again. */
static void test_sessions__throttle_per_client(void **state)
{
    (void)state;
    kvt_serve_env *e = env_new("throttle", "trusted_proxies = 127.0.0.1, ::1\n");
    sess s0;
    login(&s0, e->url, "198.51.100.7", TOKEN_BODY);
    lock_out(e->url, "198.51.100.7");
    expect_429(e->url, "198.51.100.7", TOKEN_BODY);
    /* a client that put a made-up address first is still itself: the
     * balancer appends the address it saw */
    expect_429(e->url, "203.0.113.99, 198.51.100.7", TOKEN_BODY);
    /* ... also when it sent its own header line and the balancer added
     * another one (HAProxy's option forwardfor) */
    char url[256];
    snprintf(url, sizeof url, "%s/v1/session", e->url);
    const char *two[] = { "X-Forwarded-For: 203.0.113.98", "X-Forwarded-For: 198.51.100.7",
                          "Content-Type: application/json", NULL };
    kvt_http_resp r;
    assert_int_equal(kvt_http(&r, "POST", url, two, TOKEN_BODY, strlen(TOKEN_BODY), 30000), 0);
    assert_int_equal(r.status, 429);
    kvt_http_free(&r);
    /* another client: its failures count for itself, its sign-in works */
    for (int i = 0; i < 5; i++)
        assert_int_equal(status_of(e->url, "POST", "/v1/session", NULL, NULL, "198.51.100.8",
                                   WRONG_BODY), 401);
    sess s;
    login(&s, e->url, "198.51.100.8", TOKEN_BODY);
    sess_free(&s);
    /* a request straight from the balancer's own address is a client too */
    login(&s, e->url, NULL, TOKEN_BODY);
    sess_free(&s);
    /* an IPv6 client is counted per /64: the same network's other
     * addresses are the same client, another network is not */
    lock_out(e->url, "2001:db8:1:2::5");
    expect_429(e->url, "2001:db8:1:2:ffff::9", TOKEN_BODY);
    login(&s, e->url, "2001:db8:1:3::5", TOKEN_BODY);
    sess_free(&s);
    /* the operator's log names the client once, never a token or code */
    unsigned char *log = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(e->serve_log, &log, &len), 0);
    const char *hit = strstr((char *)log, "session.throttled client=198.51.100.7 ");
    assert_non_null(hit);
    assert_null(strstr(hit + 1, "session.throttled client=198.51.100.7 "));
    assert_non_null(strstr((char *)log, "session.throttled client=2001:db8:1:2::/64 "));
    assert_null(strstr((char *)log, KVT_TOK_OSLO));
    assert_null(strstr((char *)log, "AAAA-AAAA"));
    free(log);
    /* the locked-out client's session from before keeps working */
    assert_int_equal(status_of(e->url, "GET", "/v1/sessions", s0.cookie, NULL, "198.51.100.7",
                               NULL), 200);
    sess_free(&s0);
}

/* Without trusted_proxies, X-Forwarded-For is anyone's to write: it is
 * ignored, and a guesser changing it every time is still one client. */
static void test_sessions__forwarded_for_ignored_untrusted(void **state)
{
    (void)state;
    kvt_serve_env *e = env_new("untrusted", NULL);
    long st = 0;
    int n = 0;
    for (; n < 25; n++) {
        char xff[32];
        snprintf(xff, sizeof xff, "198.51.100.%d", n + 1);
        st = status_of(e->url, "POST", "/v1/session", NULL, NULL, xff, WRONG_BODY);
        if (st != 401)
            break;
    }
    assert_int_equal(st, 429);
    assert_int_equal(n, 20);
    expect_429(e->url, "203.0.113.1", TOKEN_BODY);
}

/* A bad trusted_proxies entry is a config error naming the key. */
static void test_sessions__trusted_proxies_checked(void **state)
{
    (void)state;
    const char *vals[] = { "10.0.0.0/33", "balancer.example", "10.0.0.1/", "10.0.0.0/8, fe80::/10" };
    for (int i = 0; i < 4; i++) {
        char err[512];
        kv_serve_status st = check_serve_key("trusted_proxies", vals[i], i, err, sizeof err, NULL);
        if (i == 3) {
            if (st != KV_SERVE_OK)
                fail_msg("%s refused: %s", vals[i], err);
        } else {
            assert_int_equal(st, KV_SERVE_E_CONFIG);
            if (!strstr(err, "trusted_proxies"))
                fail_msg("the error does not name the key: %s", err);
        }
    }
}

/* The throttle's table stays bounded however many addresses guess: the
 * oldest clients are forgotten first, the newest still counted.  Uses the
 * session module on the suite's journal (a SQLite file, or a database on
 * the PostgreSQL server in the twin). */
static void test_sessions__throttle_rows_bounded(void **state)
{
    (void)state;
    char *dsn = kvpg_test_journal("throttle_rows");
    char *path = dsn ? dsn : kvt_path("%s/throttle-rows.db", kvt_tmpdir());
    kv_session *ss = NULL;
    char err[512] = "";
    if (kv_session_open(&ss, path, err, sizeof err) != KV_SESSION_OK)
        fail_msg("open: %s", err);
    kv_session_throttle_set(ss, 3, 60, 50);
    int retry = 0;
    for (int i = 0; i < 200; i++) {
        char client[32];
        snprintf(client, sizeof client, "192.0.2.%d/%d", i % 250, i);
        assert_int_equal(kv_session_signin_failed(ss, client, NULL), KV_SESSION_OK);
    }
    size_t rows = 0;
    assert_int_equal(kv_session_throttle_rows(ss, &rows), KV_SESSION_OK);
    assert_true(rows <= 50);
    assert_true(rows >= 40);
    /* the newest client's failures are kept, and three lock it out */
    int failures = 0;
    assert_int_equal(kv_session_signin_failed(ss, "192.0.2.199/199", &failures), KV_SESSION_OK);
    assert_int_equal(failures, 2);
    assert_int_equal(kv_session_signin_check(ss, "192.0.2.199/199", &retry), KV_SESSION_OK);
    assert_int_equal(kv_session_signin_failed(ss, "192.0.2.199/199", &failures), KV_SESSION_OK);
    assert_int_equal(failures, 3);
    assert_int_equal(kv_session_signin_check(ss, "192.0.2.199/199", &retry),
                     KV_SESSION_E_THROTTLED);
    assert_true(retry >= 1 && retry <= 60);
    assert_int_equal(kv_session_signin_check(ss, "192.0.2.1/1", &retry), KV_SESSION_OK);
    kv_session_close(ss);
    free(path);
}

/* ---- two daemons on one PostgreSQL database ------------------------------ */

/* Signed in on A, the cookie works on B (with its CSRF token for what
 * changes state); revoked on B, A refuses it at once; signed out on B,
 * A refuses that one too. */
static void test_sessions__session_shared_by_instances(void **state)
{
    (void)state;
    kvt_serve_env *e = env_new("shared", NULL);
    char b[128];
    second = start_b(e, b, sizeof b);
    sess s1, s2;
    login(&s1, e->url, NULL, TOKEN_BODY);
    login(&s2, e->url, NULL, TOKEN_BODY);
    assert_true(signed_in(b, &s1));
    assert_true(signed_in(b, &s2));
    bench_cookie(b, &s1, "PostgreSQL, session made by another instance");
    kvt_http_resp r;
    assert_int_equal(req(&r, b, "GET", "/v1/sessions", s1.cookie, NULL, NULL, NULL), 200);
    assert_non_null(strstr(r.body, s1.id));
    assert_non_null(strstr(r.body, s2.id));
    kvt_http_free(&r);
    char path[128];
    snprintf(path, sizeof path, "/v1/sessions/%s", s2.id);
    /* B checks the CSRF token that A handed out */
    assert_int_equal(status_of(b, "DELETE", path, s1.cookie, NULL, NULL, NULL), 403);
    assert_int_equal(status_of(b, "DELETE", path, s1.cookie, s2.csrf, NULL, NULL), 403);
    assert_int_equal(status_of(b, "DELETE", path, s1.cookie, s1.csrf, NULL, NULL), 204);
    /* A refuses the revoked session at once */
    assert_false(signed_in(e->url, &s2));
    assert_int_equal(status_of(e->url, "GET", "/v1/sessions", s2.cookie, NULL, NULL, NULL), 401);
    assert_int_equal(status_of(e->url, "GET", "/v1/sessions", s1.cookie, NULL, NULL, NULL), 200);
    /* sign out on B: A refuses that cookie too */
    assert_int_equal(status_of(b, "DELETE", "/v1/session", s1.cookie, s1.csrf, NULL, NULL), 204);
    assert_false(signed_in(e->url, &s1));
    assert_int_equal(status_of(e->url, "GET", "/v1/sessions", s1.cookie, NULL, NULL, NULL), 401);
    sess_free(&s1);
    sess_free(&s2);
}

/* The deployment of docs/chains.md: the owner applies the schema with
 * `kvitt journal upgrade`, the daemons' role has data rights only (it may
 * not create tables) and still keeps sessions and pairing codes. */
static void test_sessions__upgrade_by_owner_daemon_role_uses_them(void **state)
{
    (void)state;
    char *dsn = kvpg_test_journal("upgrade_roles");
    assert_non_null(dsn);
    kvt_result res;
    const char *argv[] = { "kvitt", "journal", "upgrade", "--dsn", dsn, NULL };
    assert_int_equal(kvt_run(&res, NULL, NULL, 120, argv), 0);
    if (res.status != 0)
        fail_msg("journal upgrade: %d %s", res.status, res.err);
    kvt_result_free(&res);
    assert_int_equal(kvpg_sql(kvpg_test_server(), "upgrade_roles",
                              "DROP ROLE IF EXISTS kv_app; CREATE ROLE kv_app LOGIN;"
                              "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA"
                              " public TO kv_app;"
                              "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO kv_app;"), 0);
    const char *at = strstr(dsn, "postgres@");
    assert_non_null(at);
    char app[1024];
    snprintf(app, sizeof app, "%.*skv_app@%s", (int)(at - dsn), dsn, at + 9);
    kv_session *ss = NULL;
    char err[600] = "";
    if (kv_session_open(&ss, app, err, sizeof err) != KV_SESSION_OK)
        fail_msg("the daemons' role cannot open the session tables: %s", err);
    char code[10], till[64];
    assert_int_equal(kv_session_pair_create(ss, "t-oslo", code), KV_SESSION_OK);
    assert_int_equal(kv_session_pair_redeem(ss, code, till), KV_SESSION_OK);
    assert_string_equal(till, "t-oslo");
    assert_int_equal(kv_session_pair_redeem(ss, code, till), KV_SESSION_E_DENIED);
    kv_session_close(ss);
    free(dsn);
}

/* A daemon whose role may not create tables, on a database where the
 * session tables are missing (kvitt was upgraded, `kvitt journal upgrade`
 * not yet run): it starts and takes payments; the cashier page's sign-in
 * answers 503 naming the fix. */
static void test_sessions__missing_session_tables_leave_the_api_working(void **state)
{
    (void)state;
    kvt_serve_env *e = env_new("notables", NULL);
    const char *db = "notables";
    assert_int_equal(kvpg_sql(kvpg_test_server(), db,
                              "DROP TABLE serve_pair, serve_session, serve_signin;"
                              "DELETE FROM kvitt_schema WHERE component = 'session';"
                              "DROP ROLE IF EXISTS kv_app2; CREATE ROLE kv_app2 LOGIN;"
                              "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA"
                              " public TO kv_app2;"
                              "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO kv_app2;"), 0);
    /* the same configuration with the daemons' role in the DSN */
    unsigned char *conf = NULL;
    size_t n = 0;
    assert_int_equal(kvt_read_file(e->conf, &conf, &n), 0);
    char *at = strstr((char *)conf, "postgres@");
    assert_non_null(at);
    char *conf2 = kvt_path("%s/app.conf", e->dir);
    FILE *f = fopen(conf2, "w");
    assert_non_null(f);
    fprintf(f, "%.*skv_app2@%s", (int)(at - (char *)conf), (char *)conf, at + 9);
    fclose(f);
    free(conf);
    char b[128], log[600];
    snprintf(log, sizeof log, "%s/serve-app.log", e->dir);
    second = kvt_serve_spawn_instance(e, conf2, b, sizeof b, log, NULL);
    if (!second)
        fail_msg("the daemon with data rights only did not start (log %s)", log);
    kvt_http_resp r;
    assert_int_equal(req(&r, b, "POST", "/v1/session", NULL, NULL, NULL, TOKEN_BODY), 503);
    if (!strstr(r.body, "kvitt journal upgrade"))
        fail_msg("the 503 does not name the fix: %s", r.body);
    kvt_http_free(&r);
    char url[256], auth[128];
    snprintf(url, sizeof url, "%s/v1/payments", b);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", KVT_TOK_OSLO);
    const char *h[] = { auth, "Idempotency-Key: notables-1", "Content-Type: application/json",
                        NULL };
    const char *body = "{\"amount\":\"10.00\"}";
    assert_int_equal(kvt_http(&r, "POST", url, h, body, strlen(body), 30000), 0);
    assert_int_equal(r.status, 201);
    kvt_http_free(&r);
    unsigned char *text = NULL;
    assert_int_equal(kvt_read_file(log, &text, &n), 0);
    assert_non_null(strstr((char *)text, "cashier.unavailable"));
    free(text);
    /* the owner runs the upgrade: the next daemon start has sessions */
    kvt_proc_stop(second, SIGTERM);
    second = NULL;
    kvt_result res;
    const char *argv[] = { "kvitt", "journal", "upgrade", "--dsn", e->journal, NULL };
    assert_int_equal(kvt_run(&res, NULL, NULL, 120, argv), 0);
    assert_int_equal(res.status, 0);
    kvt_result_free(&res);
    assert_int_equal(kvpg_sql(kvpg_test_server(), db,
                              "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA"
                              " public TO kv_app2;"), 0);
    second = kvt_serve_spawn_instance(e, conf2, b, sizeof b, log, NULL);
    assert_non_null(second);
    sess s;
    login(&s, b, NULL, TOKEN_BODY);
    sess_free(&s);
    free(conf2);
}

/* The database goes down while a device is signed in: the page gets 503
 * (try again), not 401 (which would send the cashier to the sign-in);
 * once the database is back the same cookie works, sessions were not
 * lost. */
static void test_sessions__database_down_is_503_and_the_session_survives(void **state)
{
    (void)state;
    kvt_serve_env *e = env_new("dbdown", NULL);
    sess s;
    login(&s, e->url, NULL, TOKEN_BODY);
    kvpg_crash(kvpg_test_server());
    long st = status_of(e->url, "GET", "/v1/sessions", s.cookie, NULL, NULL, NULL);
    long st2 = status_of(e->url, "DELETE", "/v1/session", s.cookie, s.csrf, NULL, NULL);
    long st3 = status_of(e->url, "POST", "/v1/session", NULL, NULL, NULL, TOKEN_BODY);
    assert_int_equal(kvpg_restart(kvpg_test_server(), 0), 0);
    assert_int_equal(st, 503);
    assert_int_equal(st2, 503);
    assert_int_equal(st3, 503);
    int ok = 0;
    for (int i = 0; i < 300 && !ok; i++) {
        ok = status_of(e->url, "GET", "/v1/sessions", s.cookie, NULL, NULL, NULL) == 200;
        if (!ok)
            usleep(100000);
    }
    assert_true(ok);
    assert_true(signed_in(e->url, &s));
    sess_free(&s);
}

typedef struct claim_arg {
    const char *base;
    const char *body;
    long status;
} claim_arg;

static void *claimer(void *arg)
{
    claim_arg *a = arg;
    a->status = status_of(a->base, "POST", "/v1/session", NULL, NULL, NULL, a->body);
    return NULL;
}

/* A pairing code made by `kvitt serve pair` works once on the chain:
 * claimed on A, refused on B; a code sent to A and B at the same moment
 * signs in exactly one of them. */
static void test_sessions__pairing_code_once_across_instances(void **state)
{
    (void)state;
    kvt_serve_env *e = env_new("pair", NULL);
    char b[128];
    second = start_b(e, b, sizeof b);
    char *code = pair_code(e);
    char body[64];
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    sess s;
    login(&s, e->url, NULL, body);
    assert_true(signed_in(b, &s));
    sess_free(&s);
    assert_int_equal(status_of(b, "POST", "/v1/session", NULL, NULL, NULL, body), 401);
    assert_int_equal(status_of(e->url, "POST", "/v1/session", NULL, NULL, NULL, body), 401);
    free(code);
    for (int round = 0; round < 3; round++) {
        code = pair_code(e);
        snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
        claim_arg a[2] = { { e->url, body, 0 }, { b, body, 0 } };
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&t[i], NULL, claimer, &a[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        if (!((a[0].status == 201 && a[1].status == 401) ||
              (a[0].status == 401 && a[1].status == 201)))
            fail_msg("round %d: A answered %ld, B %ld", round, a[0].status, a[1].status);
        free(code);
    }
}

/* The throttle counts a client's failures on every instance: 20 on A lock
 * it out on B as well; other clients still sign in on B. */
static void test_sessions__throttle_shared_by_instances(void **state)
{
    (void)state;
    kvt_serve_env *e = env_new("throttle-chain", "trusted_proxies = 127.0.0.0/8\n");
    char b[128];
    second = start_b(e, b, sizeof b);
    for (int i = 0; i < 10; i++)
        assert_int_equal(status_of(e->url, "POST", "/v1/session", NULL, NULL, "198.51.100.20",
                                   WRONG_BODY), 401);
    /* ten more on B, then 429 there, and on A */
    int n = 0;
    long st = 0;
    for (; n < 15; n++) {
        st = status_of(b, "POST", "/v1/session", NULL, NULL, "198.51.100.20", WRONG_BODY);
        if (st != 401)
            break;
    }
    assert_int_equal(st, 429);
    assert_int_equal(n, 10);
    expect_429(e->url, "198.51.100.20", TOKEN_BODY);
    sess s;
    login(&s, b, "198.51.100.21", TOKEN_BODY);
    sess_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sessions__session_hours, cleanup),
        cmocka_unit_test(test_sessions__session_hours_bounds),
        cmocka_unit_test_teardown(test_sessions__idle_expiry, cleanup),
        cmocka_unit_test_teardown(test_sessions__throttle_per_client, cleanup),
        cmocka_unit_test_teardown(test_sessions__forwarded_for_ignored_untrusted, cleanup),
        cmocka_unit_test(test_sessions__trusted_proxies_checked),
        cmocka_unit_test(test_sessions__throttle_rows_bounded),
        /* several daemons share sessions only through PostgreSQL: the
         * last six run in the _pg twin */
        cmocka_unit_test_teardown(test_sessions__session_shared_by_instances, cleanup),
        cmocka_unit_test_teardown(test_sessions__pairing_code_once_across_instances, cleanup),
        cmocka_unit_test_teardown(test_sessions__throttle_shared_by_instances, cleanup),
        cmocka_unit_test(test_sessions__upgrade_by_owner_daemon_role_uses_them),
        cmocka_unit_test_teardown(test_sessions__missing_session_tables_leave_the_api_working,
                                  cleanup),
        cmocka_unit_test_teardown(test_sessions__database_down_is_503_and_the_session_survives,
                                  cleanup),
    };
    const char *j = getenv("KVITT_TEST_JOURNAL");
    size_t n = sizeof tests / sizeof tests[0];
    if (!j || strcmp(j, "pg"))
        n -= 6;
    return _cmocka_run_group_tests("serve_sessions", tests, n, NULL, NULL);
}
