/* test_serve.c - `kvitt serve` end to end over real HTTP: a `kvitt sim`
 * child, a `kvitt vprinter` child and the daemon as a child process.
 * Auth, store binding, payments with events, idempotent retries, bodies,
 * webhooks (bad signature, replay, arriving before the create answer) and
 * eCom callbacks. */
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
#include <sys/wait.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "sim/sim.h"
#include "src/serve/sdb.h"
#include "src/vipps/vipps.h"
#include "tests/lib/kvtserve.h"
#include "tests/lib/kvpg.h"

/* The fixture of the running test, freed by cleanup() even when an
 * assertion ends the test early. */
static kvt_serve_env *live;

static kvt_serve_env *env_new(const char *name, const kvt_serve_opts *o)
{
    kvt_serve_env *e = calloc(1, sizeof *e);
    live = e;
    if (kvt_serve_setup(e, name, o) < 0)
        fail_msg("fixture %s did not start", name);
    return e;
}

static void env_free(kvt_serve_env *e)
{
    if (!e)
        return;
    kvt_serve_teardown(e);
    free(e);
    if (live == e)
        live = NULL;
}

static int cleanup(void **state)
{
    (void)state;
    env_free(live);
    return 0;
}

/* POST /v1/payments and return the reference (malloc'd). */
static char *pay(kvt_serve_env *e, const char *token, const char *key, const char *body)
{
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", token, key, body), 0);
    if (r.status != 201)
        printf("create answered %ld: %s\n", r.status, r.body);
    assert_int_equal(r.status, 201);
    char *ref = kvt_json_str(r.body, "reference");
    assert_non_null(ref);
    kvt_http_free(&r);
    return ref;
}

static void test_serve__listen_port0_prints_url_and_checks_config(void **state)
{
    (void)state;
    kvt_serve_opts o = { .no_webhooks = 1 };
    kvt_serve_env *e = env_new("port0", &o);
    const char *argv[] = { "kvitt", "serve", "--config", e->conf, "--listen", "127.0.0.1:0", NULL };
    char *log = kvt_path("%s/port0.log", e->dir);
    kvt_proc *p = kvt_spawn(argv, NULL, log);
    char *line = kvt_proc_readline(p, 15000);
    assert_non_null(line);
    assert_true(!strncmp(line, "http://127.0.0.1:", 17));
    assert_true(atoi(line + 17) > 0);
    char url[256];
    snprintf(url, sizeof url, "%s/v1/health", line);
    const char *h[] = { "Authorization: Bearer " KVT_TOK_OSLO, NULL };
    kvt_http_resp r;
    assert_int_equal(kvt_http(&r, "GET", url, h, NULL, 0, 10000), 0);
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(j, "paymentService");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ps, "reachable")));
    /* the three fixture tills and the till-1 that `kvitt sim --write-config` writes */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "tills")), 4);
    cJSON_Delete(j);
    kvt_http_free(&r);
    free(line);
    int st = kvt_proc_stop(p, SIGTERM);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* The log is journald lines: every line starts with <N>. */
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(log, &buf, &len), 0);
    for (char *l = (char *)buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        assert_true(l[0] == '<' && l[1] >= '0' && l[1] <= '7' && l[2] == '>');
    assert_non_null(strstr((char *)buf, "serve.listening"));
    free(buf);
    free(log);

    kvt_result rr;
    const char *chk[] = { "kvitt", "serve", "--check", "--config", e->conf, NULL };
    assert_int_equal(kvt_run(&rr, NULL, NULL, 30, chk), 0);
    assert_int_equal(rr.status, 0);
    kvt_result_free(&rr);
    /* A broken till hash: exit 3 naming file, line and key. */
    char *bad = kvt_path("%s/bad.conf", e->dir);
    unsigned char *c = NULL;
    size_t cl = 0;
    assert_int_equal(kvt_read_file(e->conf, &c, &cl), 0);
    char *t = strstr((char *)c, "[till t-bergen2]");
    assert_non_null(t);
    char *hs = strstr(t, "token_sha256 = ");
    hs[15] = 'X';
    assert_int_equal(kvt_write_file(bad, c, cl), 0);
    free(c);
    const char *chk2[] = { "kvitt", "serve", "--check", "--config", bad, NULL };
    assert_int_equal(kvt_run(&rr, NULL, NULL, 30, chk2), 0);
    assert_int_equal(rr.status, 3);
    assert_non_null(strstr(rr.err, "bad.conf:"));
    assert_non_null(strstr(rr.err, "[till t-bergen2] token_sha256"));
    kvt_result_free(&rr);
    free(bad);
    env_free(e);
}

static void test_serve__auth_failures_look_the_same(void **state)
{
    (void)state;
    kvt_serve_opts o = { .no_webhooks = 1 };
    kvt_serve_env *e = env_new("auth", &o);
    const char *tokens[] = { NULL, "tok-nobody-0123456789abcdef", "", KVT_TOK_OSLO "x" };
    char *first = NULL;
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        kvt_http_resp r;
        assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", tokens[i], "k",
                                       "{\"amount\":\"10.00\"}"), 0);
        assert_int_equal(r.status, 401);
        char hv[128];
        assert_non_null(kvt_http_header(&r, "WWW-Authenticate", hv, sizeof hv));
        if (!first)
            first = strdup(r.body);
        else
            assert_string_equal(r.body, first); /* nothing tells which tokens exist */
        kvt_http_free(&r);
    }
    /* A Basic header is no bearer token either. */
    char url[256];
    snprintf(url, sizeof url, "%s/v1/orders", e->url);
    const char *h[] = { "Authorization: Basic dGlsbDpwYXNz", NULL };
    kvt_http_resp r;
    assert_int_equal(kvt_http(&r, "GET", url, h, NULL, 0, 10000), 0);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.body, first);
    kvt_http_free(&r);
    free(first);
    /* Nothing reached the payment service. */
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), 0);
    /* The log says a request was denied, and never shows a token. */
    unsigned char *log = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(e->serve_log, &log, &len), 0);
    assert_non_null(strstr((char *)log, "auth.denied"));
    assert_null(strstr((char *)log, "tok-"));
    free(log);
    env_free(e);
}

static void test_serve__payment_with_events_receipt_and_store_binding(void **state)
{
    (void)state;
    kvt_serve_opts o = { .vprinter = 1, .sim_args = { "--auto", "approve", "--approve-after", "1" } };
    kvt_serve_env *e = env_new("pay", &o);
    char *ref = pay(e, KVT_TOK_OSLO, "pay-1",
                    "{\"amount\":\"149.00\",\"currency\":\"NOK\",\"items\":[{\"name\":\"Kaffe\","
                    "\"quantity\":2,\"unit_price\":\"74.50\",\"vat_rate\":15}]}");
    assert_true(!strncmp(ref, "OSL-", 4)); /* the store comes from the token */
    /* The QR slip was printed on the till's printer before the 201. */
    assert_int_equal(kvt_jobs_wait(e->printer_dir, ref, 1, 3000), 1);

    /* Long-poll the events until the payment is final. */
    int after = 0, fin = 0, saw_done = 0;
    for (int i = 0; i < 20 && !fin; i++) {
        char path[256];
        snprintf(path, sizeof path, "/v1/payments/%s/events?wait=5&after=%d", ref, after);
        kvt_http_resp r;
        assert_int_equal(kvt_serve_req(&r, e, "GET", path, KVT_TOK_OSLO, NULL, NULL), 0);
        assert_int_equal(r.status, 200);
        cJSON *j = cJSON_Parse(r.body);
        fin = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "final"));
        after = (int)cJSON_GetObjectItemCaseSensitive(j, "next")->valuedouble;
        const cJSON *ev;
        cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(j, "events")) {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(ev, "state");
            if (cJSON_IsString(s) && !strcmp(s->valuestring, "DONE"))
                saw_done = 1;
        }
        cJSON_Delete(j);
        kvt_http_free(&r);
    }
    assert_true(fin);
    assert_true(saw_done);
    char path[256];
    snprintf(path, sizeof path, "/v1/payments/%s", ref);
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, e, "GET", path, KVT_TOK_OSLO, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    char *st = kvt_json_str(r.body, "state");
    assert_string_equal(st, "DONE");
    free(st);
    char *cap = kvt_json_str(r.body, "captured");
    assert_string_equal(cap, "149.00");
    free(cap);
    assert_non_null(strstr(r.body, "\"receipt\":{\"status\":\"printed\""));
    kvt_http_free(&r);
    /* Slip and receipt, one each, on the till's printer; one capture. */
    assert_int_equal(kvt_jobs_wait(e->printer_dir, ref, 2, 3000), 2);
    char cp[256];
    snprintf(cp, sizeof cp, "POST /epayment/v1/payments/%s/capture", ref);
    assert_int_equal(kvt_sim_count(e, cp), 1);

    /* Another store's till cannot see or touch it. */
    assert_int_equal(kvt_serve_req(&r, e, "GET", path, KVT_TOK_BERGEN2, NULL, NULL), 0);
    assert_int_equal(r.status, 403);
    kvt_http_free(&r);
    snprintf(path, sizeof path, "/v1/payments/%s/reprint", ref);
    assert_int_equal(kvt_serve_req(&r, e, "POST", path, KVT_TOK_BERGEN, "rp", NULL), 0);
    assert_int_equal(r.status, 403);
    kvt_http_free(&r);
    /* A till cannot pay for another store. */
    assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", KVT_TOK_OSLO, "other",
                                   "{\"amount\":\"10.00\",\"store\":\"bergen\"}"), 0);
    assert_int_equal(r.status, 403);
    kvt_http_free(&r);
    /* Order search: own store yes, another store only with chain_refund. */
    assert_int_equal(kvt_serve_req(&r, e, "GET", "/v1/orders?store=oslo", KVT_TOK_BERGEN2, NULL,
                                   NULL), 0);
    assert_int_equal(r.status, 403);
    kvt_http_free(&r);
    char q[256];
    snprintf(q, sizeof q, "/v1/orders?reference=%s", ref);
    assert_int_equal(kvt_serve_req(&r, e, "GET", q, KVT_TOK_BERGEN, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, ref));
    kvt_http_free(&r);
    assert_int_equal(kvt_serve_req(&r, e, "GET", "/v1/orders?since=2020-01-01", KVT_TOK_BERGEN2,
                                   NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, ref)); /* t-bergen2 sees only bergen */
    kvt_http_free(&r);
    /* The same feed as server-sent events: the stream replays every event
     * and ends after the final one. */
    snprintf(path, sizeof path, "%s/v1/payments/%s/events", e->url, ref);
    const char *sse_h[] = { "Authorization: Bearer " KVT_TOK_OSLO, "Accept: text/event-stream",
                            NULL };
    assert_int_equal(kvt_http(&r, "GET", path, sse_h, NULL, 0, 10000), 0);
    assert_int_equal(r.status, 200);
    char ct[64];
    assert_non_null(kvt_http_header(&r, "Content-Type", ct, sizeof ct));
    assert_string_equal(ct, "text/event-stream");
    assert_non_null(strstr(r.body, "id: 1\nevent: state\ndata: {"));
    assert_non_null(strstr(r.body, "event: result\ndata: {"));
    assert_non_null(strstr(r.body, "\"state\":\"DONE\""));
    kvt_http_free(&r);
    /* Reprint by the own till: a copy. */
    snprintf(path, sizeof path, "/v1/payments/%s/reprint", ref);
    assert_int_equal(kvt_serve_req(&r, e, "POST", path, KVT_TOK_OSLO, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    kvt_http_free(&r);
    free(ref);
    env_free(e);
}

static void test_serve__idempotent_retry_never_pays_twice(void **state)
{
    (void)state;
    kvt_serve_opts o = { .no_webhooks = 1 };
    kvt_serve_env *e = env_new("idem", &o);
    const char *body = "{\"amount\":\"25.00\"}";
    kvt_http_resp a, b;
    assert_int_equal(kvt_serve_req(&a, e, "POST", "/v1/payments", KVT_TOK_OSLO, "retry-1", body), 0);
    assert_int_equal(a.status, 201);
    assert_int_equal(kvt_serve_req(&b, e, "POST", "/v1/payments", KVT_TOK_OSLO, "retry-1", body), 0);
    assert_int_equal(b.status, 201);
    assert_string_equal(a.body, b.body); /* same key + same body -> same answer */
    char hv[32];
    assert_non_null(kvt_http_header(&b, "Idempotent-Replayed", hv, sizeof hv));
    char *ref = kvt_json_str(a.body, "reference");
    kvt_http_free(&a);
    kvt_http_free(&b);
    /* Same key, different body: 409 and nothing created. */
    assert_int_equal(kvt_serve_req(&a, e, "POST", "/v1/payments", KVT_TOK_OSLO, "retry-1",
                                   "{\"amount\":\"26.00\"}"), 0);
    assert_int_equal(a.status, 409);
    assert_non_null(strstr(a.body, "idempotency_conflict"));
    kvt_http_free(&a);
    /* The same key from another till is another operation. */
    assert_int_equal(kvt_serve_req(&a, e, "POST", "/v1/payments", KVT_TOK_BERGEN, "retry-1", body), 0);
    assert_int_equal(a.status, 201);
    kvt_http_free(&a);
    /* Without a key: refused, nothing created. */
    assert_int_equal(kvt_serve_req(&a, e, "POST", "/v1/payments", KVT_TOK_OSLO, NULL, body), 0);
    assert_int_equal(a.status, 400);
    assert_non_null(strstr(a.body, "Idempotency-Key"));
    kvt_http_free(&a);
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), 2);
    /* Cancel the first: a retried cancel replays too. */
    char path[256];
    snprintf(path, sizeof path, "/v1/payments/%s/cancel", ref);
    assert_int_equal(kvt_serve_req(&a, e, "POST", path, KVT_TOK_OSLO, "cancel-1", NULL), 0);
    assert_int_equal(a.status, 200);
    char *st = kvt_json_str(a.body, "state");
    assert_string_equal(st, "CANCELLED");
    free(st);
    assert_int_equal(kvt_serve_req(&b, e, "POST", path, KVT_TOK_OSLO, "cancel-1", NULL), 0);
    assert_int_equal(b.status, 200);
    assert_string_equal(a.body, b.body);
    kvt_http_free(&a);
    kvt_http_free(&b);
    free(ref);
    env_free(e);
}

struct racer {
    kvt_serve_env *e;
    long status;
    char ref[80];
};

static void *race(void *arg)
{
    struct racer *x = arg;
    kvt_http_resp r;
    if (kvt_serve_req(&r, x->e, "POST", "/v1/payments", KVT_TOK_OSLO, "race-key",
                      "{\"amount\":\"33.00\"}") == 0) {
        x->status = r.status;
        char *ref = kvt_json_str(r.body, "reference");
        if (ref)
            snprintf(x->ref, sizeof x->ref, "%s", ref);
        free(ref);
    }
    kvt_http_free(&r);
    return NULL;
}

static void test_serve__concurrent_retries_make_one_payment(void **state)
{
    (void)state;
    kvt_serve_opts o = { .no_webhooks = 1, .sim_args = { "--latency-ms", "200" } };
    kvt_serve_env *e = env_new("race", &o);
    struct racer x[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        memset(&x[i], 0, sizeof x[i]);
        x[i].e = e;
        pthread_create(&t[i], NULL, race, &x[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(x[i].status, 201);
        assert_string_equal(x[i].ref, x[0].ref);
    }
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), 1);
    env_free(e);
}

static void test_serve__malformed_and_oversized_bodies(void **state)
{
    (void)state;
    kvt_serve_opts o = { .no_webhooks = 1 };
    kvt_serve_env *e = env_new("bodies", &o);
    struct {
        const char *body;
        int status;
        const char *msg;
    } cases[] = {
        { "{\"amount\":\"10.00\"", 400, "not valid JSON" },
        { "[\"amount\"]", 400, "must be a JSON object" },
        { "", 400, "empty" },
        { "{\"amount\":\"10.00\",\"tip\":\"5\"}", 400, "unknown field" },
        { "{\"currency\":\"NOK\"}", 400, "amount is missing" },
        { "{\"amount\":\"12.345\"}", 400, "amount" },
        { "{\"amount\":\"10.00\",\"phone\":12345678}", 400, "phone must be a string" },
        { "{\"amount\":\"10.00\",\"items\":{}}", 400, "items must be an array" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kvt_http_resp r;
        char key[32];
        snprintf(key, sizeof key, "bad-%zu", i);
        assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", KVT_TOK_OSLO, key,
                                       cases[i].body), 0);
        if (r.status != cases[i].status || !strstr(r.body, cases[i].msg))
            printf("case %zu: %ld %s\n", i, r.status, r.body);
        assert_int_equal(r.status, cases[i].status);
        assert_non_null(strstr(r.body, cases[i].msg));
        kvt_http_free(&r);
    }
    /* Larger than [serve] max_body (8192): 413 before it is read. */
    size_t n = 100000;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    memcpy(big, "{\"amount\":\"10.00\",\"text\":\"", 26);
    memcpy(big + n - 2, "\"}", 2);
    big[n] = '\0';
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", KVT_TOK_OSLO, "big", big), 0);
    assert_int_equal(r.status, 413);
    kvt_http_free(&r);
    free(big);
    /* A webhook body is capped the same way. */
    char url[256];
    snprintf(url, sizeof url, "%s/webhooks/vipps", e->url);
    big = calloc(1, 20000);
    memset(big, 'x', 19999);
    assert_int_equal(kvt_http(&r, "POST", url, NULL, big, 19999, 10000), 0);
    assert_int_equal(r.status, 413);
    kvt_http_free(&r);
    free(big);
    /* Unknown paths and methods. */
    assert_int_equal(kvt_serve_req(&r, e, "DELETE", "/v1/payments", KVT_TOK_OSLO, NULL, NULL), 0);
    assert_int_equal(r.status, 405);
    kvt_http_free(&r);
    assert_int_equal(kvt_serve_req(&r, e, "GET", "/v1/payments/no%20such", KVT_TOK_OSLO, NULL,
                                   NULL), 0);
    assert_int_equal(r.status, 404);
    kvt_http_free(&r);
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), 0);
    env_free(e);
}

/* Sign body as the Webhooks API does for the registration stored in the
 * journal, and deliver it. */
static long deliver(kvt_serve_env *e, const char *body, int good_secret)
{
    kv_sdb *db = NULL;
    char err[512];
    assert_int_equal(kv_sdb_open(&db, e->journal, err, sizeof err), KV_SDB_OK);
    kv_sdb_hook *h = NULL;
    size_t n = 0;
    assert_int_equal(kv_sdb_hook_list(db, &h, &n), KV_SDB_OK);
    assert_true(n >= 1);
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    char hash[64], auth[256];
    assert_int_equal(kv_vipps_webhook_sign(hash, sizeof hash, auth, sizeof auth,
                                           good_secret ? h[0].secret : "not-the-secret",
                                           h[0].url, body, strlen(body), date), KV_VIPPS_OK);
    char hd[100], hh[100], ha[300], url[256];
    snprintf(hd, sizeof hd, "x-ms-date: %s", date);
    snprintf(hh, sizeof hh, "x-ms-content-sha256: %s", hash);
    snprintf(ha, sizeof ha, "Authorization: %s", auth);
    snprintf(url, sizeof url, "%s", h[0].url);
    kv_sdb_hooks_free(h, n);
    kv_sdb_close(db);
    const char *hdrs[] = { hd, hh, ha, "Content-Type: application/json", NULL };
    kvt_http_resp r;
    assert_int_equal(kvt_http(&r, "POST", url, hdrs, body, strlen(body), 10000), 0);
    long st = r.status;
    kvt_http_free(&r);
    return st;
}

static int count_webhook_events(kvt_serve_env *e, const char *ref, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/payments/%s/events?after=0", ref);
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, e, "GET", path, KVT_TOK_OSLO, NULL, NULL), 0);
    cJSON *j = cJSON_Parse(r.body);
    int n = 0;
    const cJSON *ev;
    cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(j, "events")) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(ev, "message");
        if (cJSON_IsString(t) && !strcmp(t->valuestring, "webhook") && cJSON_IsString(m) &&
            !strcmp(m->valuestring, name))
            n++;
    }
    cJSON_Delete(j);
    kvt_http_free(&r);
    return n;
}

static void test_serve__webhooks_bad_signature_and_replay(void **state)
{
    (void)state;
    kvt_serve_opts o = { .vprinter = 1, .sim_args = { "--auto", "approve", "--approve-after", "0" } };
    kvt_serve_env *e = env_new("hooks", &o);
    char *ref = pay(e, KVT_TOK_OSLO, "h-1", "{\"amount\":\"60.00\"}");
    char *done = kvt_serve_wait_state(e, KVT_TOK_OSLO, ref, "DONE", 15000);
    assert_non_null(done);
    free(done);
    char body[512];
    snprintf(body, sizeof body,
             "{\"msn\":\"123456\",\"reference\":\"%s\",\"pspReference\":\"77\",\"name\":"
             "\"AUTHORIZED\",\"amount\":{\"currency\":\"NOK\",\"value\":6000},\"timestamp\":"
             "\"2026-11-25T10:00:00Z\",\"success\":true}", ref);
    int before = count_webhook_events(e, ref, "AUTHORIZED");
    /* Wrong secret, and no signature at all: 401, nothing recorded. */
    assert_int_equal(deliver(e, body, 0), 401);
    char url[256];
    snprintf(url, sizeof url, "%s/webhooks/vipps", e->url);
    kvt_http_resp r;
    assert_int_equal(kvt_http(&r, "POST", url, NULL, body, strlen(body), 10000), 0);
    assert_int_equal(r.status, 401);
    kvt_http_free(&r);
    assert_int_equal(count_webhook_events(e, ref, "AUTHORIZED"), before);
    /* A replayed (duplicate, late) AUTHORIZED: accepted twice, harmless. */
    assert_int_equal(deliver(e, body, 1), 200);
    assert_int_equal(deliver(e, body, 1), 200);
    assert_int_equal(count_webhook_events(e, ref, "AUTHORIZED"), before + 2);
    usleep(300000);
    char *fin = kvt_serve_wait_state(e, KVT_TOK_OSLO, ref, "DONE", 5000);
    assert_non_null(fin);
    free(fin);
    char cp[256];
    snprintf(cp, sizeof cp, "POST /epayment/v1/payments/%s/capture", ref);
    assert_int_equal(kvt_sim_count(e, cp), 1);
    assert_int_equal(kvt_jobs_wait(e->printer_dir, ref, 2, 3000), 2);
    /* A signed event for a reference nobody knows: accepted, logged. */
    snprintf(body, sizeof body, "{\"msn\":\"123456\",\"reference\":\"OSL-unknown-1\","
             "\"pspReference\":\"1\",\"name\":\"CREATED\",\"amount\":{\"currency\":\"NOK\","
             "\"value\":100},\"timestamp\":\"2026-11-25T10:00:00Z\",\"success\":true}");
    assert_int_equal(deliver(e, body, 1), 200);
    free(ref);
    env_free(e);
}

static void test_serve__webhook_before_create_answer_wakes_the_payment(void **state)
{
    (void)state;
    /* The customer approves at once, so the AUTHORIZED webhook races the
     * 201.  The first poll is 30 s away: only the webhook can finish the
     * payment within the 12 s this test waits. */
    kvt_serve_opts o = { .vprinter = 1, .poll_first_s = 30,
                         .sim_args = { "--auto", "approve", "--approve-after", "0" } };
    kvt_serve_env *e = env_new("early", &o);
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof key, "early-%d", i);
        char *ref = pay(e, KVT_TOK_OSLO, key, "{\"amount\":\"11.00\"}");
        char *done = kvt_serve_wait_state(e, KVT_TOK_OSLO, ref, "DONE", 12000);
        if (!done)
            printf("payment %s did not finish from its webhook\n", ref);
        assert_non_null(done);
        free(done);
        free(ref);
    }
    env_free(e);
}

typedef struct feed_arg {
    kvt_serve_env *e;
    const char *ref;
    int after, rc;
    kvt_feed f;
} feed_arg;

static void *feed_follow(void *arg)
{
    feed_arg *a = arg;
    a->rc = kvt_feed_follow(a->e->url, KVT_TOK_OSLO, a->ref, &a->after, 30, 40, NULL, &a->f);
    return NULL;
}

/* A till read the feed up to N (WAITING); the daemon restarts (the
 * payment keeps waiting); the till's next long-poll (after=N) gets
 * exactly the events after N, numbered as before the restart, up to the
 * result. */
static void test_serve__feed_continues_after_a_restart(void **state)
{
    (void)state;
    kvt_serve_opts o = { .vprinter = 1 };
    kvt_serve_env *e = env_new("restart", &o);
    char *ref = pay(e, KVT_TOK_OSLO, "restart-1", "{\"amount\":\"19.00\"}");
    kvt_feed head;
    memset(&head, 0, sizeof head);
    int n = 0;
    assert_int_equal(kvt_feed_follow(e->url, KVT_TOK_OSLO, ref, &n, 10, 20, "WAITING", &head), 0);
    assert_true(n > 0);
    kvt_serve_stop(e, SIGTERM);
    assert_int_equal(kvt_serve_start(e, NULL), 0);
    feed_arg a = { e, ref, n, 0, { 0 } };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, feed_follow, &a), 0);
    assert_int_equal(kvt_sim_approve(e, ref), 200);
    pthread_join(t, NULL);
    assert_int_equal(a.rc, 0);
    assert_true(a.f.final);
    kvt_feed all;
    memset(&all, 0, sizeof all);
    int from = 0;
    assert_int_equal(kvt_feed_follow(e->url, KVT_TOK_OSLO, ref, &from, 10, 5, NULL, &all), 0);
    /* the events read before are the feed's first ones, under the same ids */
    assert_true(all.n >= head.n);
    for (int i = 0; i < head.n; i++) {
        assert_int_equal(head.seq[i], all.seq[i]);
        assert_string_equal(head.type[i], all.type[i]);
        assert_string_equal(head.state[i], all.state[i]);
    }
    char why[256];
    if (kvt_feed_check(&all, n, &a.f, why, sizeof why) != 0)
        fail_msg("long-poll after %d across the restart: %s", n, why);
    assert_string_equal(all.state[all.n - 1], "DONE");
    free(ref);
    env_free(e);
}

static void test_serve__ecom_payment_finished_by_its_callback(void **state)
{
    (void)state;
    /* Oslo uses eCom + QR API: the simulator calls
     * <webhook_url origin>/callbacks/v2/payments/{orderId} with the
     * configured authToken.  The first poll is 30 s away, so only the
     * callback can finish the payment within the 12 s this test waits. */
    kvt_serve_opts o = { .vprinter = 1, .poll_first_s = 30, .ecom_oslo = 1, .no_webhooks = 1,
                         .sim_args = { "--auto", "approve", "--approve-after", "1" } };
    kvt_serve_env *e = env_new("ecom", &o);
    char *ref = pay(e, KVT_TOK_OSLO, "ecom-1", "{\"amount\":\"120.00\"}");
    char *done = kvt_serve_wait_state(e, KVT_TOK_OSLO, ref, "DONE", 12000);
    if (!done)
        printf("eCom payment %s did not finish from its callback\n", ref);
    assert_non_null(done);
    assert_non_null(strstr(done, "\"flow\":\"ecom-qr\""));
    free(done);
    assert_true(count_webhook_events(e, ref, "ecom.RESERVED") +
                count_webhook_events(e, ref, "ecom.RESERVE") >= 1);
    unsigned char *log = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(e->serve_log, &log, &len), 0);
    assert_non_null(strstr((char *)log, "callback.received"));
    assert_null(strstr((char *)log, "cb-token")); /* the authToken is never logged */
    free(log);
    free(ref);
    env_free(e);
}

static void test_serve__phone_numbers_never_logged(void **state)
{
    (void)state;
    kvt_serve_opts o = { .no_webhooks = 1 };
    kvt_serve_env *e = env_new("phone", &o);
    /* A push payment to one of the simulator's known test users. */
    char phone[32];
    const char *known = kv_sim_known_phones();
    size_t pl = strcspn(known, ",");
    assert_true(pl > 0 && pl < sizeof phone);
    memcpy(phone, known, pl);
    phone[pl] = '\0';
    char body[128];
    snprintf(body, sizeof body, "{\"amount\":\"10.00\",\"phone\":\"%s\"}", phone);
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", KVT_TOK_OSLO, "push-1", body), 0);
    assert_int_equal(r.status, 201);
    assert_null(strstr(r.body, phone));
    char *ref = kvt_json_str(r.body, "reference");
    kvt_http_free(&r);
    char path[256];
    snprintf(path, sizeof path, "/v1/payments/%s/cancel", ref);
    assert_int_equal(kvt_serve_req(&r, e, "POST", path, KVT_TOK_OSLO, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    kvt_http_free(&r);
    free(ref);
    kvt_serve_stop(e, SIGTERM);
    unsigned char *log = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(e->serve_log, &log, &len), 0);
    assert_non_null(strstr((char *)log, "payment.created"));
    assert_null(strstr((char *)log, phone));
    assert_null(strstr((char *)log, phone + 2)); /* nor without the country code */
    free(log);
    env_free(e);
}

static void test_serve__webhooks_list_and_delete(void **state)
{
    (void)state;
    kvt_serve_env *e = env_new("whadmin", NULL);
    kvt_result r;
    const char *list[] = { "kvitt", "--config", e->conf, "webhooks", "list", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, list), 0);
    assert_int_equal(r.status, 0);
    /* One registration per store (central credentials), secrets kept. */
    char *first = strdup(r.out);
    int lines = 0;
    for (char *p = r.out; (p = strstr(p, "secret stored")); p++)
        lines++;
    assert_int_equal(lines, 2);
    assert_null(strstr(r.out, "NO SECRET"));
    kvt_result_free(&r);
    char id[128];
    size_t il = strcspn(first, "\t");
    assert_true(il > 0 && il < sizeof id);
    memcpy(id, first, il);
    id[il] = '\0';
    free(first);
    const char *del[] = { "kvitt", "--config", e->conf, "webhooks", "delete", "--id", id, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, del), 0);
    assert_int_equal(r.status, 0);
    kvt_result_free(&r);
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, list), 0);
    assert_null(strstr(r.out, id));
    kvt_result_free(&r);
    /* Deleting it again: not found, exit 1. */
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, del), 0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, id));
    kvt_result_free(&r);
    /* Bad arguments: exit 2. */
    const char *bad[] = { "kvitt", "--config", e->conf, "webhooks", "register", "--events",
                          "authorised", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, bad), 0);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
    env_free(e);
}

static void test_serve__ecom_callback_auth_token(void **state)
{
    (void)state;
    kvt_serve_opts o = { .no_webhooks = 1 };
    kvt_serve_env *e = env_new("callback", &o);
    const char *body = "{\"merchantSerialNumber\":\"123456\",\"orderId\":\"OSL-cb-000001\","
                       "\"transactionInfo\":{\"amount\":2000,\"status\":\"RESERVED\","
                       "\"timeStamp\":\"2026-11-25T10:00:00.000Z\",\"transactionId\":\"5001\"}}";
    char url[256];
    snprintf(url, sizeof url, "%s/callbacks/v2/payments/OSL-cb-000001", e->url);
    const char *bad[] = { "Authorization: wrong-token", NULL };
    const char *good[] = { "Authorization: cb-token-0123456789", NULL };
    kvt_http_resp r;
    assert_int_equal(kvt_http(&r, "POST", url, bad, body, strlen(body), 10000), 0);
    assert_int_equal(r.status, 401);
    kvt_http_free(&r);
    assert_int_equal(kvt_http(&r, "POST", url, NULL, body, strlen(body), 10000), 0);
    assert_int_equal(r.status, 401);
    kvt_http_free(&r);
    assert_int_equal(kvt_http(&r, "POST", url, good, body, strlen(body), 10000), 0);
    assert_int_equal(r.status, 200);
    kvt_http_free(&r);
    /* The orderId of the URL must be the body's. */
    snprintf(url, sizeof url, "%s/callbacks/v2/payments/OSL-cb-000002", e->url);
    assert_int_equal(kvt_http(&r, "POST", url, good, body, strlen(body), 10000), 0);
    assert_int_equal(r.status, 400);
    kvt_http_free(&r);
    env_free(e);
}

/* GET /livez and /readyz answer without a token (a load balancer has
 * none) and tell nothing more; /v1/health still wants one.  On a
 * PostgreSQL journal a database that is down makes the instance not ready
 * and refuse new payments with 503 (nothing started); once the database
 * is back it is ready again and takes payments. */
static void test_serve__health_probes_for_a_load_balancer(void **state)
{
    (void)state;
    kvt_serve_opts o = { .no_webhooks = 1 };
    kvt_serve_env *e = env_new("probes", &o);
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, e, "GET", "/livez", NULL, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    kvt_http_free(&r);
    assert_int_equal(kvt_serve_req(&r, e, "GET", "/readyz", NULL, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    kvt_http_free(&r);
    assert_int_equal(kvt_serve_req(&r, e, "POST", "/readyz", NULL, NULL, "{}"), 0);
    assert_int_equal(r.status, 405);
    kvt_http_free(&r);
    assert_int_equal(kvt_serve_req(&r, e, "GET", "/v1/health", NULL, NULL, NULL), 0);
    assert_int_equal(r.status, 401);
    kvt_http_free(&r);
    if (strncmp(e->journal, "postgresql://", 13) == 0) {
        kvpg_crash(kvpg_test_server());
        assert_int_equal(kvt_serve_req(&r, e, "GET", "/readyz", NULL, NULL, NULL), 0);
        assert_int_equal(r.status, 503);
        assert_non_null(strstr(r.body, "journal"));
        kvt_http_free(&r);
        assert_int_equal(kvt_serve_req(&r, e, "GET", "/livez", NULL, NULL, NULL), 0);
        assert_int_equal(r.status, 200);
        kvt_http_free(&r);
        assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", KVT_TOK_OSLO, "down-1",
                                       "{\"amount\":\"12.00\"}"), 0);
        assert_int_equal(r.status, 503);
        assert_non_null(strstr(r.body, "journal_unreachable"));
        kvt_http_free(&r);
        assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), 0);
        assert_int_equal(kvpg_restart(kvpg_test_server(), 0), 0);
        long st = 0;
        for (int i = 0; i < 300 && st != 200; i++) {
            assert_int_equal(kvt_serve_req(&r, e, "GET", "/readyz", NULL, NULL, NULL), 0);
            st = r.status;
            kvt_http_free(&r);
            if (st != 200)
                usleep(100000);
        }
        assert_int_equal(st, 200);
        /* the same retry now goes through: one payment */
        char *ref = pay(e, KVT_TOK_OSLO, "down-1", "{\"amount\":\"12.00\"}");
        free(ref);
        assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), 1);
    }
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_serve__listen_port0_prints_url_and_checks_config, cleanup),
        cmocka_unit_test_teardown(test_serve__auth_failures_look_the_same, cleanup),
        cmocka_unit_test_teardown(test_serve__payment_with_events_receipt_and_store_binding, cleanup),
        cmocka_unit_test_teardown(test_serve__idempotent_retry_never_pays_twice, cleanup),
        cmocka_unit_test_teardown(test_serve__concurrent_retries_make_one_payment, cleanup),
        cmocka_unit_test_teardown(test_serve__malformed_and_oversized_bodies, cleanup),
        cmocka_unit_test_teardown(test_serve__webhooks_bad_signature_and_replay, cleanup),
        cmocka_unit_test_teardown(test_serve__webhook_before_create_answer_wakes_the_payment, cleanup),
        cmocka_unit_test_teardown(test_serve__ecom_payment_finished_by_its_callback, cleanup),
        cmocka_unit_test_teardown(test_serve__feed_continues_after_a_restart, cleanup),
        cmocka_unit_test_teardown(test_serve__phone_numbers_never_logged, cleanup),
        cmocka_unit_test_teardown(test_serve__webhooks_list_and_delete, cleanup),
        cmocka_unit_test_teardown(test_serve__ecom_callback_auth_token, cleanup),
        cmocka_unit_test_teardown(test_serve__health_probes_for_a_load_balancer, cleanup),
    };
    return cmocka_run_group_tests_name("serve", tests, NULL, NULL);
}
