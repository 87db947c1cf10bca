/* test_input.c - strict input: JSON bodies and query parameters of
 * `kvitt serve` (over real HTTP: a `kvitt sim` child and the daemon as a
 * child process), configuration values (the real `kvitt` program on real
 * files) and the strict-JSON checker itself.  Nothing is mocked.
 *
 * Every refused input must name the field and must not reach the payment
 * service (the simulator's request counters stay at zero). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim/sim.h"
#include "src/util/jsoncheck.h"
#include "tests/lib/kvtserve.h"

static kvt_serve_env *live;

static int cleanup(void **state)
{
    (void)state;
    if (live) {
        kvt_serve_teardown(live);
        free(live);
        live = NULL;
    }
    return 0;
}

static kvt_serve_env *env_new(const char *name)
{
    kvt_serve_env *e = calloc(1, sizeof *e);
    live = e;
    kvt_serve_opts o = { .no_webhooks = 1 };
    if (kvt_serve_setup(e, name, &o) < 0)
        fail_msg("fixture %s did not start", name);
    return e;
}

/* POST body to /v1/payments; expect 400 and a message naming field. */
static void refused(kvt_serve_env *e, const char *key, const char *body, const char *field)
{
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", KVT_TOK_OSLO, key, body), 0);
    if (r.status != 400 || !strstr(r.body, field))
        printf("body %s -> %ld %s (want 400 naming %s)\n", body, r.status, r.body, field);
    assert_int_equal(r.status, 400);
    char *msg = kvt_json_str(r.body, "message");
    assert_non_null(msg);
    assert_non_null(strstr(msg, field));
    free(msg);
    kvt_http_free(&r);
}

static void test_input__daemon_refuses_nul_duplicates_controls_and_big_numbers(void **state)
{
    (void)state;
    kvt_serve_env *e = env_new("body");
    /* The reported bug: cJSON cut the string at \u0000 and 1.00 was charged. */
    refused(e, "k1", "{\"amount\":\"1\\u0000999.00\"}", "\"amount\"");
    refused(e, "k2", "{\"amount\":\"999.00\",\"amount\":\"1.00\"}", "\"amount\"");
    refused(e, "k3", "{\"amount\":\"10.00\",\"text\":\"a\x01" "b\"}", "\"text\"");
    refused(e, "k4", "{\"amount\":\"10.00\",\"text\":\"a\\u001bb\"}", "\"text\"");
    refused(e, "k5", "{\"amountMinor\":1e400}", "\"amountMinor\"");
    refused(e, "k6", "{\"amountMinor\":123456789012345678901234567890}", "\"amountMinor\"");
    refused(e, "k7", "{\"amount\":\"10.00\",\"items\":[{\"name\":\"Kaffe\",\"quantity\":1,"
            "\"unit_price\":\"10.00\",\"vat_rate\":25},{\"name\":\"Te\\u0000x\",\"quantity\":1,"
            "\"unit_price\":\"0.00\",\"vat_rate\":25}]}", "\"items[1].name\"");
    refused(e, "k8", "{\"amount\":\"10.00\",\"phone\":\"4791\xff" "2345\"}", "\"phone\"");
    /* cJSON reads 01 as 1 and would read on past the strict check. */
    kvt_http_resp r0;
    assert_int_equal(kvt_serve_req(&r0, e, "POST", "/v1/payments", KVT_TOK_OSLO, "k8b",
                                   "{\"amountMinor\":01000,\"text\":\"Kaffe\\u0000 evil\"}"), 0);
    assert_int_equal(r0.status, 400);
    assert_non_null(strstr(r0.body, "not valid JSON"));
    kvt_http_free(&r0);
    /* A refund body goes through the same check. */
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments/OSL-nonexistent-1/refund",
                                   KVT_TOK_OSLO, "k9", "{\"amount\":\"5\\u0000.00\"}"), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "amount"));
    kvt_http_free(&r);
    /* An eCom callback: its orderId used to be cut at \u0000 and match the URL. */
    char url[256];
    snprintf(url, sizeof url, "%s/callbacks/v2/payments/OSL-cb-000001", e->url);
    const char *cbh[] = { "Authorization: cb-token-0123456789", "Content-Type: application/json",
                          NULL };
    static const char cb[] = "{\"merchantSerialNumber\":\"123456\",\"orderId\":"
        "\"OSL-cb-000001\\u0000evil\",\"transactionInfo\":{\"amount\":100,\"status\":\"RESERVED\","
        "\"transactionId\":\"1\",\"timeStamp\":\"2026-01-01T00:00:00Z\"}}";
    assert_int_equal(kvt_http(&r, "POST", url, cbh, cb, sizeof cb - 1, 10000), 0);
    printf("callback -> %ld %s\n", r.status, r.body);
    assert_int_equal(r.status, 400);
    kvt_http_free(&r);
    /* Nothing reached the payment service. */
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), 0);
    /* A clean body still works. */
    assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", KVT_TOK_OSLO, "k10",
                                   "{\"amount\":\"12.50\",\"text\":\"Kaffe og kake\"}"), 0);
    if (r.status != 201)
        printf("clean body -> %ld %s\n", r.status, r.body);
    assert_int_equal(r.status, 201);
    kvt_http_free(&r);
}

static void query_refused(kvt_serve_env *e, const char *path, const char *field)
{
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, e, "GET", path, KVT_TOK_OSLO, NULL, NULL), 0);
    if (r.status != 400 || !strstr(r.body, field))
        printf("GET %s -> %ld %s (want 400 naming %s)\n", path, r.status, r.body, field);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, field));
    kvt_http_free(&r);
}

static void test_input__daemon_refuses_out_of_range_and_control_queries(void **state)
{
    (void)state;
    kvt_serve_env *e = env_new("query");
    /* 43 digits used to wrap to LLONG_MAX silently. */
    query_refused(e, "/v1/orders?since=1234567890123456789012345678901234567890123", "since");
    query_refused(e, "/v1/orders?since=-5", "since");
    query_refused(e, "/v1/orders?since=99999-01-01", "since");
    query_refused(e, "/v1/orders?limit=99999999999999999999999", "limit");
    query_refused(e, "/v1/orders?reference=OSL%00x", "reference");
    query_refused(e, "/v1/orders?store=oslo%1b", "store");
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", KVT_TOK_OSLO, "q1",
                                   "{\"amount\":\"12.50\"}"), 0);
    assert_int_equal(r.status, 201);
    char *ref = kvt_json_str(r.body, "reference");
    kvt_http_free(&r);
    assert_non_null(ref);
    char *path = kvt_path("/v1/payments/%s/events?wait=99999999999999999999999", ref);
    query_refused(e, path, "wait");
    free(path);
    free(ref);
    assert_int_equal(kvt_serve_req(&r, e, "GET", "/v1/orders?since=2026-11-25&limit=10",
                                   KVT_TOK_OSLO, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    kvt_http_free(&r);
}

static void test_input__config_value_with_control_byte_exits_3_naming_the_key(void **state)
{
    (void)state;
    char *conf = kvt_path("%s/ctl.conf", kvt_tmpdir());
    static const char text[] =
        "[kvitt]\n"
        "environment = http://127.0.0.1:9\n"
        "journal = ctl.db\n"
        "[store oslo]\n"
        "name = Kvitt\x1b[2J Kaffe\n"
        "msn = 123456\n"
        "credentials = oslo\n";
    assert_int_equal(kvt_write_file(conf, text, sizeof text - 1), 0);
    const char *argv[] = { "kvitt", "--config", conf, "serve", "--check", NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    printf("exit %d: %s", r.status, r.err);
    assert_int_equal(r.status, 3);
    assert_non_null(strstr(r.err, "[store oslo] name"));
    assert_non_null(strstr(r.err, "control"));
    kvt_result_free(&r);
    /* A NUL byte in a value used to cut the value silently. */
    static const char text2[] =
        "[kvitt]\n"
        "environment = http://127.0.0.1:9\n"
        "journal = ctl.db\n"
        "[store oslo]\n"
        "name = Kvitt\0 Kaffe\n"
        "msn = 123456\n"
        "credentials = oslo\n";
    assert_int_equal(kvt_write_file(conf, text2, sizeof text2 - 1), 0);
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    printf("exit %d: %s", r.status, r.err);
    assert_int_equal(r.status, 3);
    assert_non_null(strstr(r.err, "[store oslo] name"));
    assert_non_null(strstr(r.err, "NUL"));
    kvt_result_free(&r);
    free(conf);
}

/* `kvitt pay --items FILE` refuses what cJSON would have let through. */
static void test_input__pay_items_refuses_nul_and_duplicate_keys_exit_2(void **state)
{
    (void)state;
    char *dir = kvt_path("%s/items", kvt_tmpdir());
    assert_int_equal(mkdir(dir, 0700), 0);
    char *conf = kvt_path("%s/kvitt.conf", dir);
    /* A closed port: validation happens before anything is sent. */
    assert_int_equal(kv_sim_write_config_url("http://127.0.0.1:9", conf), KV_SIM_OK);
    char *items = kvt_path("%s/items.json", dir);
    static const struct { const char *json, *field, *what; } cases[] = {
        { "[{\"name\":\"Kaffe\",\"quantity\":1,\"unit_price\":\"5.00\",\"vat_rate\":25},"
          "{\"name\":\"Te\\u0000x\",\"quantity\":1,\"unit_price\":\"5.00\",\"vat_rate\":25}]",
          "items[1].name", "NUL" },
        { "[{\"name\":\"Kaffe\",\"name\":\"Gratis\",\"quantity\":1,\"unit_price\":\"10.00\","
          "\"vat_rate\":25}]", "items[0].name", "twice" },
        { "[{\"name\":\"Kaffe\",\"quantity\":1e999,\"unit_price\":\"10.00\",\"vat_rate\":25}]",
          "items[0].quantity", "range" },
        /* cJSON reads 01 as 1 and would then see the name cut at \u0000. */
        { "[{\"quantity\":01,\"name\":\"Kaffe\\u0000x\",\"unit_price\":\"10.00\",\"vat_rate\":25}]",
          "items", "not a JSON array" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(kvt_write_file(items, cases[i].json, strlen(cases[i].json)), 0);
        const char *argv[] = { "kvitt", "--config", conf, "pay", "--amount", "10.00", "--items",
                               items, NULL };
        kvt_result r;
        assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
        printf("exit %d: %s", r.status, r.err);
        assert_int_equal(r.status, 2);
        assert_non_null(strstr(r.err, cases[i].field));
        assert_non_null(strstr(r.err, cases[i].what));
        kvt_result_free(&r);
    }
    free(items);
    free(conf);
    free(dir);
}

static unsigned mode_of(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (unsigned)(sb.st_mode & 07777) : 07777;
}

/* The journal holds the daemon's webhook secrets: `kvitt serve` creates
 * it 0600 (and its -wal) and refuses to start on a readable one. */
static void test_input__daemon_journal_is_private_and_a_readable_one_refused(void **state)
{
    (void)state;
    kvt_serve_env *e = env_new("journal");
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", KVT_TOK_OSLO, "j1",
                                   "{\"amount\":\"12.50\"}"), 0);
    assert_int_equal(r.status, 201);
    kvt_http_free(&r);
    char *db = kvt_path("%s/kvitt-journal.db", e->dir);
    char *wal = kvt_path("%s/kvitt-journal.db-wal", e->dir);
    printf("journal %04o, wal %04o\n", mode_of(db), mode_of(wal));
    assert_int_equal(mode_of(db), 0600);
    assert_int_equal(mode_of(wal), 0600);
    kvt_serve_stop(e, SIGTERM);
    assert_int_equal(chmod(db, 0644), 0);
    assert_int_equal(kvt_serve_start(e, NULL), -1);
    kvt_proc_stop(e->serve, SIGTERM);
    e->serve = NULL;
    unsigned char *log = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(e->serve_log, &log, &len), 0);
    printf("%s", (char *)log);
    assert_non_null(strstr((char *)log, "chmod 600"));
    free(log);
    assert_int_equal(chmod(db, 0600), 0);
    assert_int_equal(kvt_serve_start(e, NULL), 0);
    free(db);
    free(wal);
}

static void check(const char *json, kv_jsoncheck_status want, const char *path)
{
    kv_jsoncheck_where w;
    memset(&w, 0, sizeof w);
    kv_jsoncheck_status st = kv_jsoncheck(json, strlen(json), &w);
    if (st != want || (path && strcmp(w.path, path)))
        printf("%s -> %s at %s (want %s at %s)\n", json, kv_jsoncheck_strerror(st), w.path,
               kv_jsoncheck_strerror(want), path ? path : "-");
    assert_int_equal(st, want);
    if (path)
        assert_string_equal(w.path, path);
}

static void test_input__jsoncheck_names_the_first_bad_field(void **state)
{
    (void)state;
    check("{\"a\":1,\"b\":[true,false,null,\"x\\n\\t\\u00e6\\ud83d\\ude00\"],\"c\":{}}",
          KV_JSONCHECK_OK, NULL);
    check("{\"a\":\"x\\u0000\"}", KV_JSONCHECK_E_NUL, "a");
    check("{\"a\":{\"b\":[1,{\"c\":\"\\u0007\"}]}}", KV_JSONCHECK_E_CONTROL, "a.b[1].c");
    check("{\"a\":1,\"\\u0061\":2}", KV_JSONCHECK_E_DUPLICATE, "a");
    check("{\"n\":9007199254740993}", KV_JSONCHECK_E_RANGE, "n");
    check("{\"n\":-9007199254740992}", KV_JSONCHECK_OK, NULL);
    check("{\"n\":1.5e308}", KV_JSONCHECK_E_RANGE, "n");
    check("{\"s\":\"\\ud800\"}", KV_JSONCHECK_E_UTF8, "s");
    check("{\"s\":\"\xc0\xaf\"}", KV_JSONCHECK_E_UTF8, "s");
    check("{\"s\":1} x", KV_JSONCHECK_E_TRAILING, NULL);
    check("[1,2", KV_JSONCHECK_E_SYNTAX, NULL);
    char deep[200];
    memset(deep, '[', sizeof deep);
    assert_int_equal(kv_jsoncheck(deep, sizeof deep, NULL), KV_JSONCHECK_E_LIMIT);
    /* A raw NUL byte inside the text. */
    static const char raw[] = "{\"a\":\"x\0y\"}";
    kv_jsoncheck_where w;
    assert_int_equal(kv_jsoncheck(raw, sizeof raw - 1, &w), KV_JSONCHECK_E_NUL);
    assert_string_equal(w.path, "a");
    size_t off = 0;
    assert_int_equal(kv_jsoncheck_text("ab\x7f", 3, 0, &off), KV_JSONCHECK_E_CONTROL);
    assert_int_equal(off, 2);
    assert_int_equal(kv_jsoncheck_text("a\tb", 3, 1, NULL), KV_JSONCHECK_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_input__jsoncheck_names_the_first_bad_field),
        cmocka_unit_test_teardown(test_input__daemon_refuses_nul_duplicates_controls_and_big_numbers,
                                  cleanup),
        cmocka_unit_test_teardown(test_input__daemon_refuses_out_of_range_and_control_queries,
                                  cleanup),
        cmocka_unit_test(test_input__config_value_with_control_byte_exits_3_naming_the_key),
        cmocka_unit_test(test_input__pay_items_refuses_nul_and_duplicate_keys_exit_2),
        cmocka_unit_test_teardown(test_input__daemon_journal_is_private_and_a_readable_one_refused,
                                  cleanup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
