/* test_serve_unit.c - the daemon's building blocks in process: till token
 * hashes, the idempotency and webhook tables (a real SQLite file), the
 * journald log lines (a real pipe), the client address behind trusted
 * proxies (pure text in, text out) and the HTTP core (a real server on
 * loopback, driven by libcurl). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "src/serve/auth.h"
#include "src/serve/http.h"
#include "src/serve/sdb.h"
#include "src/serve/slog.h"
#include "src/serve/trust.h"
#include "src/serve/webhooks.h"
#include "tests/lib/kvtest.h"
#include "tests/lib/kvthttp.h"

/* SHA-256("abc") from FIPS 180-2, appendix B.1. */
static const char abc_sha256[] =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

static void test_serve_unit__hash_token_matches_fips_vector(void **state)
{
    (void)state;
    char hex[65];
    kv_auth_hash_token(hex, "abc");
    assert_string_equal(hex, abc_sha256);
}

static void test_serve_unit__auth_finds_the_till_and_refuses_the_rest(void **state)
{
    (void)state;
    kv_auth *a = NULL;
    assert_int_equal(kv_auth_create(&a), KV_AUTH_OK);
    char h1[65], h2[65];
    kv_auth_hash_token(h1, "token-one-0123456789");
    kv_auth_hash_token(h2, "token-two-0123456789");
    assert_int_equal(kv_auth_add(a, "t1", "oslo", h1, 0, NULL), KV_AUTH_OK);
    /* Upper-case hex is the same hash. */
    for (char *p = h2; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 32);
    assert_int_equal(kv_auth_add(a, "t2", "bergen", h2, 1, "tcp://10.0.0.2"), KV_AUTH_OK);
    assert_int_equal(kv_auth_add(a, "t3", "oslo", h1, 0, NULL), KV_AUTH_E_DUPLICATE);
    assert_int_equal(kv_auth_add(a, "t1", "oslo", abc_sha256, 0, NULL), KV_AUTH_E_DUPLICATE);
    assert_int_equal(kv_auth_add(a, "t4", "oslo", "12ab", 0, NULL), KV_AUTH_E_ARG);
    assert_int_equal(kv_auth_add(a, "t4", "oslo",
                                 "zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                                 0, NULL), KV_AUTH_E_ARG);
    const kv_till *t = NULL;
    assert_int_equal(kv_auth_check(&t, a, "Bearer token-two-0123456789"), KV_AUTH_OK);
    assert_string_equal(t->id, "t2");
    assert_string_equal(t->store, "bergen");
    assert_int_equal(t->chain_refund, 1);
    assert_string_equal(t->printer, "tcp://10.0.0.2");
    assert_int_equal(kv_auth_check(&t, a, "bearer token-one-0123456789"), KV_AUTH_OK);
    assert_string_equal(t->id, "t1");
    t = NULL;
    assert_int_equal(kv_auth_check(&t, a, NULL), KV_AUTH_E_DENIED);
    assert_int_equal(kv_auth_check(&t, a, ""), KV_AUTH_E_DENIED);
    assert_int_equal(kv_auth_check(&t, a, "Bearer "), KV_AUTH_E_DENIED);
    assert_int_equal(kv_auth_check(&t, a, "Basic dG9rZW4tb25l"), KV_AUTH_E_DENIED);
    assert_int_equal(kv_auth_check(&t, a, "Bearer token-one-012345678"), KV_AUTH_E_DENIED);
    assert_null(t); /* out-parameter untouched on failure */
    assert_int_equal(kv_auth_count(a), 2);
    kv_auth_destroy(a);
    kv_auth_destroy(NULL);
}

static void test_serve_unit__idempotency_replay_conflict_pending(void **state)
{
    (void)state;
    char *path = kvt_path("%s/idem.db", kvt_tmpdir());
    kv_sdb *db = NULL;
    char err[256];
    assert_int_equal(kv_sdb_open(&db, path, err, sizeof err), KV_SDB_OK);
    unsigned char h1[32], h2[32];
    memset(h1, 1, sizeof h1);
    memset(h2, 2, sizeof h2);
    kv_idem_outcome oc;
    int status = 0;
    char *resp = NULL, *ref = NULL;
    assert_int_equal(kv_sdb_idem_begin(db, &oc, &status, &resp, &ref, "t1", "k1", h1), KV_SDB_OK);
    assert_int_equal(oc, KV_IDEM_NEW);
    /* Same key again before it finished: pending, without a reference yet. */
    assert_int_equal(kv_sdb_idem_begin(db, &oc, &status, &resp, &ref, "t1", "k1", h1), KV_SDB_OK);
    assert_int_equal(oc, KV_IDEM_PENDING);
    assert_null(ref);
    assert_int_equal(kv_sdb_idem_set_reference(db, "t1", "k1", "OSL-1-abc"), KV_SDB_OK);
    assert_int_equal(kv_sdb_idem_begin(db, &oc, &status, &resp, &ref, "t1", "k1", h1), KV_SDB_OK);
    assert_int_equal(oc, KV_IDEM_PENDING);
    assert_string_equal(ref, "OSL-1-abc");
    free(ref);
    ref = NULL;
    /* A different request under the same key is a conflict. */
    assert_int_equal(kv_sdb_idem_begin(db, &oc, &status, &resp, &ref, "t1", "k1", h2),
                     KV_SDB_E_CONFLICT);
    assert_int_equal(kv_sdb_idem_finish(db, "t1", "k1", 201, "{\"reference\":\"OSL-1-abc\"}"),
                     KV_SDB_OK);
    assert_int_equal(kv_sdb_idem_begin(db, &oc, &status, &resp, &ref, "t1", "k1", h1), KV_SDB_OK);
    assert_int_equal(oc, KV_IDEM_REPLAY);
    assert_int_equal(status, 201);
    assert_string_equal(resp, "{\"reference\":\"OSL-1-abc\"}");
    free(resp);
    /* Keys are per till. */
    assert_int_equal(kv_sdb_idem_begin(db, &oc, &status, &resp, &ref, "t2", "k1", h2), KV_SDB_OK);
    assert_int_equal(oc, KV_IDEM_NEW);
    /* Abandoned claims may run afresh. */
    assert_int_equal(kv_sdb_idem_abandon(db, "t2", "k1"), KV_SDB_OK);
    assert_int_equal(kv_sdb_idem_begin(db, &oc, &status, &resp, &ref, "t2", "k1", h1), KV_SDB_OK);
    assert_int_equal(oc, KV_IDEM_NEW);
    kv_sdb_close(db);
    /* The answers survive a reopen (a restart of the daemon). */
    assert_int_equal(kv_sdb_open(&db, path, err, sizeof err), KV_SDB_OK);
    assert_int_equal(kv_sdb_idem_begin(db, &oc, &status, &resp, &ref, "t1", "k1", h1), KV_SDB_OK);
    assert_int_equal(oc, KV_IDEM_REPLAY);
    free(resp);
    kv_sdb_close(db);
    kv_sdb_close(NULL);
    free(path);
}

static void test_serve_unit__webhook_secrets_table(void **state)
{
    (void)state;
    char *path = kvt_path("%s/hooks.db", kvt_tmpdir());
    kv_sdb *db = NULL;
    char err[256];
    assert_int_equal(kv_sdb_open(&db, path, err, sizeof err), KV_SDB_OK);
    assert_int_equal(kv_sdb_hook_save(db, "id-1", "https://a.example/webhooks/vipps", "s1", "all"),
                     KV_SDB_OK);
    assert_int_equal(kv_sdb_hook_save(db, "id-2", "https://a.example/webhooks/vipps", "s2", NULL),
                     KV_SDB_OK);
    kv_sdb_hook *v = NULL;
    size_t n = 0;
    assert_int_equal(kv_sdb_hook_list(db, &v, &n), KV_SDB_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].id, "id-1");
    assert_string_equal(v[0].secret, "s1");
    assert_string_equal(v[1].id, "id-2");
    assert_null(v[1].events);
    kv_sdb_hooks_free(v, n);
    assert_int_equal(kv_sdb_hook_delete(db, "id-1"), KV_SDB_OK);
    assert_int_equal(kv_sdb_hook_delete(db, "id-1"), KV_SDB_E_NOT_FOUND);
    assert_int_equal(kv_sdb_hook_list(db, &v, &n), KV_SDB_OK);
    assert_int_equal(n, 1);
    kv_sdb_hooks_free(v, n);
    kv_sdb_close(db);
    free(path);
    /* A database that cannot be created names the file. */
    assert_int_equal(kv_sdb_open(&db, "/nonexistent-dir/x.db", err, sizeof err), KV_SDB_E_DB);
    assert_non_null(strstr(err, "/nonexistent-dir/x.db"));
}

static void test_serve_unit__event_names(void **state)
{
    (void)state;
    unsigned bits = 0;
    char err[256];
    assert_int_equal(kv_webhooks_parse_events(&bits, "all", err, sizeof err), 0);
    assert_int_equal(bits, 0xffu);
    /* The default: authorized (bit 6), aborted (1), expired (2),
     * cancelled (3), terminated (7), as numbered in vipps.h. */
    assert_int_equal(kv_webhooks_parse_events(&bits, NULL, err, sizeof err), 0);
    assert_int_equal(bits, (1u << 6) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 7));
    assert_int_equal(kv_webhooks_parse_events(&bits, "authorized,epayments.payment.captured.v1",
                                              err, sizeof err), 0);
    assert_int_equal(bits, (1u << 6) | (1u << 4));
    assert_int_equal(kv_webhooks_parse_events(&bits, "authorised", err, sizeof err), -1);
    assert_non_null(strstr(err, "authorised"));
}

static void test_serve_unit__log_lines_are_single_and_sanitised(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    kv_slog log = { p[1], KV_LOG_INFO };
    kv_slog_write(&log, KV_LOG_WARNING, "auth.denied path=%s", "/v1/x\n<3>forged\x1b[31m");
    kv_slog_write(&log, KV_LOG_DEBUG, "dropped below the level");
    kv_slog_write(&log, KV_LOG_INFO, "second");
    close(p[1]);
    char buf[512];
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "<4>auth.denied path=/v1/x?<3>forged?[31m\n<6>second\n");
}

/* ---- the HTTP core on a real socket ------------------------------------- */

static void echo_handler(kv_http_req *r, void *payload)
{
    int *calls = payload;
    (*calls)++;
    if (!strcmp(kv_http_path(r), "/json")) {
        cJSON *j = kv_http_body_json(r);
        if (!j)
            return; /* 400 already sent */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "keys", cJSON_GetArraySize(j));
        cJSON_Delete(j);
        kv_http_reply_json(r, 200, o);
        return;
    }
    if (!strcmp(kv_http_path(r), "/silent"))
        return; /* the core must answer 500 */
    const char *q = kv_http_query(r, "x");
    kv_http_add_header(r, "X-Echo", q ? q : "none");
    size_t len;
    const char *b = kv_http_body(r, &len);
    kv_http_reply(r, 200, "text/plain", b, len);
}

/* ---- stopping while requests keep coming ---------------------------------- */

static void slow_handler(kv_http_req *r, void *payload)
{
    (void)payload;
    usleep(2000);
    kv_http_reply(r, 200, "text/plain", "ok\n", 3);
}

typedef struct {
    unsigned port;
    atomic_int *stop;
} hammer_arg;

/* Keep sending requests (HTTP/1.0 over plain sockets: a new connection
 * each time) until told to stop; failures are expected once the server is
 * gone. */
static void *hammer(void *p)
{
    hammer_arg *a = p;
    static const char req[] = "GET /x HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    while (!atomic_load(a->stop)) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        struct sockaddr_in sa = { 0 };
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)a->port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        struct timeval tv = { 0, 500000 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
            send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1)) {
            char buf[512];
            while (recv(fd, buf, sizeof buf, 0) > 0)
                ;
        } else {
            usleep(1000);
        }
        close(fd);
    }
    return NULL;
}

/* kv_http_stop while clients keep sending: a request that arrives after
 * the handler pool has ended is answered 503, never left suspended (which
 * made libmicrohttpd abort the whole program in MHD_stop_daemon: "called
 * while we have suspended connections"; seen as `kvitt certify` dying with
 * SIGABRT when a webhook reached its receiver as the tour ended).  Each
 * round runs in a child process, so an abort is a failed round here. */
static void test_serve_unit__http_stop_under_requests(void **state)
{
    (void)state;
    enum { ROUNDS = 40, CLIENTS = 6 };
    for (int round = 0; round < ROUNDS; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            alarm(20); /* a stop that never ends (it did, under steady requests) fails too */
            kv_http_options o = KV_HTTP_OPTIONS_INIT;
            o.listen = "127.0.0.1:0";
            o.handler = slow_handler;
            o.threads = 1;
            kv_http *h = NULL;
            char err[256];
            if (kv_http_start(&h, &o, err, sizeof err) != KV_HTTP_OK)
                _exit(3);
            atomic_int stop = 0;
            hammer_arg a = { kv_http_port(h), &stop };
            pthread_t t[CLIENTS];
            for (int i = 0; i < CLIENTS; i++)
                pthread_create(&t[i], NULL, hammer, &a);
            usleep(30000 + (round % 7) * 7000);
            kv_http_stop(h);
            atomic_store(&stop, 1);
            for (int i = 0; i < CLIENTS; i++)
                pthread_join(t[i], NULL);
            _exit(0);
        }
        int ws;
        assert_int_equal(waitpid(pid, &ws, 0), pid);
        if (WIFSIGNALED(ws))
            fail_msg("round %d: the server died with signal %d when stopped under requests (%s)", round,
                     WTERMSIG(ws), WTERMSIG(ws) == SIGALRM ? "kv_http_stop never returned" : "aborted");
        assert_int_equal(WEXITSTATUS(ws), 0);
    }
}

static void test_serve_unit__http_core_bodies_and_errors(void **state)
{
    (void)state;
    int calls = 0;
    kv_http *h = NULL;
    kv_http_options o = KV_HTTP_OPTIONS_INIT;
    o.listen = "127.0.0.1:0";
    o.max_body = 1024;
    o.handler = echo_handler;
    o.payload = &calls;
    char err[256];
    assert_int_equal(kv_http_start(&h, &o, err, sizeof err), KV_HTTP_OK);
    unsigned port = kv_http_port(h);
    assert_true(port > 0);
    char url[128];
    kvt_http_resp r;
    char hv[64];

    snprintf(url, sizeof url, "http://127.0.0.1:%u/echo?x=1", port);
    assert_int_equal(kvt_http(&r, "POST", url, NULL, "hello", 5, 5000), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    assert_non_null(kvt_http_header(&r, "X-Echo", hv, sizeof hv));
    assert_string_equal(hv, "1");
    kvt_http_free(&r);

    /* Announced too big: 413 without calling the handler. */
    char *big = malloc(4096);
    memset(big, 'a', 4096);
    int before = calls;
    assert_int_equal(kvt_http(&r, "POST", url, NULL, big, 4096, 5000), 0);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body, "\"too_large\""));
    assert_int_equal(calls, before);
    kvt_http_free(&r);
    /* Chunked (no Content-Length) and too big: 413 too. */
    const char *chunked[] = { "Transfer-Encoding: chunked", NULL };
    assert_int_equal(kvt_http(&r, "POST", url, chunked, big, 4096, 5000), 0);
    assert_int_equal(r.status, 413);
    assert_int_equal(calls, before);
    kvt_http_free(&r);
    free(big);

    snprintf(url, sizeof url, "http://127.0.0.1:%u/json", port);
    assert_int_equal(kvt_http(&r, "POST", url, NULL, "{\"a\":1,\"b\":", 11, 5000), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "not valid JSON"));
    kvt_http_free(&r);
    assert_int_equal(kvt_http(&r, "POST", url, NULL, "[1,2]", 5, 5000), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "must be a JSON object"));
    kvt_http_free(&r);
    assert_int_equal(kvt_http(&r, "POST", url, NULL, "{} {}", 5, 5000), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "after the JSON value"));
    kvt_http_free(&r);
    assert_int_equal(kvt_http(&r, "POST", url, NULL, "", 0, 5000), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "empty"));
    kvt_http_free(&r);
    assert_int_equal(kvt_http(&r, "POST", url, NULL, "{\"a\":1,\"b\":2}", 13, 5000), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"keys\":2}");
    kvt_http_free(&r);

    snprintf(url, sizeof url, "http://127.0.0.1:%u/silent", port);
    assert_int_equal(kvt_http(&r, "GET", url, NULL, NULL, 0, 5000), 0);
    assert_int_equal(r.status, 500);
    kvt_http_free(&r);

    /* After quiesce no new connection is accepted. */
    kv_http_quiesce(h);
    assert_int_equal(kvt_http(&r, "GET", url, NULL, NULL, 0, 2000), -1);
    kvt_http_free(&r);
    kv_http_stop(h);
    kv_http_stop(NULL);

    /* Bad listen addresses are refused with a reason. */
    o.listen = "127.0.0.1";
    assert_int_equal(kv_http_start(&h, &o, err, sizeof err), KV_HTTP_E_ARG);
    assert_non_null(strstr(err, "HOST:PORT"));
    o.listen = "127.0.0.1:99999";
    assert_int_equal(kv_http_start(&h, &o, err, sizeof err), KV_HTTP_E_ARG);
}

/* The client of a request behind [serve] trusted_proxies. */
static void test_serve_unit__client_behind_trusted_proxies(void **state)
{
    (void)state;
    kv_trust *t = NULL;
    assert_int_equal(kv_trust_parse(&t, "10.0.0.0/8 127.0.0.1,fd00::/8", NULL, 0), KV_TRUST_OK);
    char c[64];
    struct { const char *peer, *xff, *want; } cases[] = {
        /* not from a proxy: the header is anyone's */
        { "198.51.100.1", "203.0.113.5", "198.51.100.1" },
        /* from a proxy: the right-most address that is not a proxy */
        { "127.0.0.1", "203.0.113.5", "203.0.113.5" },
        { "10.1.2.3", "203.0.113.9, 203.0.113.5, 10.9.9.9", "203.0.113.5" },
        { "127.0.0.1", " 203.0.113.5 ,10.0.0.7 ", "203.0.113.5" },
        /* every hop a proxy: the first one named */
        { "127.0.0.1", "10.0.0.2, 10.0.0.3", "10.0.0.2" },
        /* no header: the proxy itself */
        { "127.0.0.1", NULL, "127.0.0.1" },
        { "127.0.0.1", "", "127.0.0.1" },
        /* IPv4-mapped IPv6 is IPv4; IPv6 counts per /64 */
        { "::ffff:127.0.0.1", "::ffff:198.51.100.3", "198.51.100.3" },
        { "fd00::1", "2001:db8:aa:bb:1:2:3:4", "2001:db8:aa:bb::/64" },
        { "2001:db8::1", NULL, "2001:db8::/64" },
        { "127.0.0.1", "[2001:db8:1::5]", "2001:db8:1::/64" },
        /* 11.0.0.1 is outside 10.0.0.0/8 */
        { "11.0.0.1", "203.0.113.5", "11.0.0.1" },
        /* something that is no address, written by the proxy: its text */
        { "127.0.0.1", "unknown", "?unknown" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kv_trust_client(t, cases[i].peer, cases[i].xff, c, sizeof c);
        if (strcmp(c, cases[i].want))
            fail_msg("peer %s, X-Forwarded-For '%s': got %s, want %s", cases[i].peer,
                     cases[i].xff ? cases[i].xff : "(none)", c, cases[i].want);
    }
    assert_true(kv_trust_contains(t, "10.255.0.1"));
    assert_true(kv_trust_contains(t, "fdff::1"));
    assert_false(kv_trust_contains(t, "fe80::1"));
    assert_false(kv_trust_contains(t, "127.0.0.2"));
    kv_trust_free(t);
    /* an empty list trusts nobody */
    assert_int_equal(kv_trust_parse(&t, NULL, NULL, 0), KV_TRUST_OK);
    kv_trust_client(t, "127.0.0.1", "203.0.113.5", c, sizeof c);
    assert_string_equal(c, "127.0.0.1");
    kv_trust_free(t);
    /* bad entries are named */
    const char *bad[] = { "10.0.0.0/33", "::/129", "10.0.0.1/", "10.0.0.1/x", "host.example",
                          "10.0.0.1/8/8" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[64] = "";
        t = NULL;
        assert_int_equal(kv_trust_parse(&t, bad[i], what, sizeof what), KV_TRUST_E_SYNTAX);
        assert_null(t);
        assert_string_equal(what, bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serve_unit__hash_token_matches_fips_vector),
        cmocka_unit_test(test_serve_unit__auth_finds_the_till_and_refuses_the_rest),
        cmocka_unit_test(test_serve_unit__idempotency_replay_conflict_pending),
        cmocka_unit_test(test_serve_unit__webhook_secrets_table),
        cmocka_unit_test(test_serve_unit__event_names),
        cmocka_unit_test(test_serve_unit__log_lines_are_single_and_sanitised),
        cmocka_unit_test(test_serve_unit__http_core_bodies_and_errors),
        cmocka_unit_test(test_serve_unit__http_stop_under_requests),
        cmocka_unit_test(test_serve_unit__client_behind_trusted_proxies),
    };
    return cmocka_run_group_tests_name("serve_unit", tests, NULL, NULL);
}
