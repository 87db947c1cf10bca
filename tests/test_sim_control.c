/*
 * test_sim_control.c - the simulator itself: scripted faults and stats,
 * --auto modes, the seeded --fail-rate sequence and latency, --write-config
 * and argument errors.
 * `kvitt sim` runs as a real child process, driven over real HTTP on
 * loopback (tests/lib/kvtsim.c). Expected values (paths, status codes, error
 * codes, states) come from ../shared/docs/vipps-api.md, cited at each test;
 * nothing is captured from the simulator's own output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "sim/sim.h"
#include "src/config/config.h"
#include "tests/lib/kvtest.h"
#include "tests/lib/kvtsim.h"

static kvts_sim g_sim;   /* the shared simulator of the suite (default options) */

static int setup(void **state) { (void)state; return kvts_suite_setup(&g_sim); }
static int teardown(void **state) { (void)state; kvts_suite_teardown(&g_sim); return 0; }

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One outcome letter per request under --fail-rate 1: E = 5xx answer,
 * D = dropped connection, S = slow (>= --slow-ms) but normal answer. */
static void fault_sequence(const char *seed, char *seq, int n)
{
    kvts_sim s;
    const char *extra[] = { "--fail-rate", "1", "--seed", seed, "--slow-ms", "150", NULL };
    assert_int_equal(kvts_sim_start(&s, extra), 0);
    for (int i = 0; i < n; i++) {
        kvts_resp r;
        double t0 = mono_ms();
        kvts_http(&r, s.url, "GET", "/epayment/v1/payments/OSL-fail-0001", NULL, NULL);
        double dt = mono_ms() - t0;
        if (r.curl_err) seq[i] = 'D';
        else if (r.status >= 500) seq[i] = 'E';
        else if (r.status == 401 && dt >= 150) seq[i] = 'S'; /* then answered normally */
        else seq[i] = '?';
        kvts_resp_free(&r);
    }
    seq[n] = 0;
    kvts_sim_stop(&s);
}

/* Scripted faults through /sim/v1/faults and counting through /sim/v1/stats. */
static void test_sim__faults_and_stats(void **state)
{
    (void)state;
    const char *U = g_sim.url;
    kvts_api a;
    kvts_login(&a, U, "oslo", NULL);
    kvts_create(U, &a, "OSL-fault-0001", 14900, 201);
    kvts_resp r;
    kvts_approve(&r, U, &a, "OSL-fault-0001");
    kvts_resp_free(&r);
    kvts_http(&r, U, "POST", "/sim/v1/faults", NULL,
              "{\"path\":\"/epayment/v1/payments/OSL-fault-0001/capture\",\"count\":2,\"action\":\"status\","
              "\"status\":503,\"retryAfter\":1}");
    assert_int_equal(r.status, 201);
    kvts_resp_free(&r);
    for (int i = 0; i < 2; i++) {
        kvts_modify(&r, U, &a, "OSL-fault-0001", "capture", "OSL-fault-0001-cap", 14900);
        assert_int_equal(r.status, 503);
        assert_non_null(strcasestr(r.hdrs, "Retry-After: 1"));
        kvts_resp_free(&r);
    }
    kvts_modify(&r, U, &a, "OSL-fault-0001", "capture", "OSL-fault-0001-cap", 14900);
    assert_int_equal(r.status, 200);
    kvts_resp_free(&r);
    /* a dropped connection */
    kvts_http(&r, U, "POST", "/sim/v1/faults", NULL,
              "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/OSL-fault-0001\",\"action\":\"drop\"}");
    kvts_resp_free(&r);
    kvts_get_payment(&r, U, &a, "OSL-fault-0001");
    assert_int_not_equal(r.curl_err, 0);
    kvts_resp_free(&r);
    /* a lost answer: the create happens, the reply is dropped */
    kvts_http(&r, U, "POST", "/sim/v1/faults", NULL,
              "{\"path\":\"/epayment/v1/payments\",\"method\":\"POST\",\"action\":\"drop\",\"when\":\"after\"}");
    kvts_resp_free(&r);
    char *b = kvts_create_body("OSL-fault-0002", 14900, "QR", NULL);
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-fault-0002-c", b);
    assert_int_not_equal(r.curl_err, 0);
    kvts_resp_free(&r);
    kvts_expect_state(U, &a, "OSL-fault-0002", "CREATED");
    kvts_call(&r, U, &a, "POST", "/epayment/v1/payments", "OSL-fault-0002-c", b); /* the retry replays */
    assert_int_equal(r.status, 201);
    kvts_resp_free(&r);
    free(b);
    /* stats: three capture calls with the same key */
    kvts_http(&r, U, "GET", "/sim/v1/stats", NULL, NULL);
    assert_int_equal(r.status, 200);
    const cJSON *req = cJSON_GetObjectItem(r.json, "requests");
    assert_int_equal((long)kvts_jnum(req, "POST /epayment/v1/payments/OSL-fault-0001/capture"), 3);
    const cJSON *keys = cJSON_GetObjectItem(r.json, "idempotencyKeys"), *k;
    int found = 0;
    cJSON_ArrayForEach(k, keys) {
        if (!strcmp(kvts_jstr(k, "key"), "OSL-fault-0001-cap")) {
            found = 1;
            assert_int_equal((long)kvts_jnum(k, "count"), 3);
            assert_string_equal(kvts_jstr(k, "path"), "/epayment/v1/payments/OSL-fault-0001/capture");
        }
    }
    assert_true(found);
    /* these calls sent only Vipps-System-Name: flagged as missing headers */
    assert_int_equal((long)kvts_jnum(cJSON_GetObjectItem(r.json, "missingSystemHeaders"),
                                     "POST /epayment/v1/payments/OSL-fault-0001/capture"), 3);
    kvts_resp_free(&r);
    kvts_http(&r, U, "GET", "/sim/v1/faults", NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(r.json), 0); /* all consumed */
    kvts_resp_free(&r);
    /* DELETE resets the counters */
    kvts_http(&r, U, "DELETE", "/sim/v1/stats", NULL, NULL);
    assert_int_equal(r.status, 204);
    kvts_resp_free(&r);
    kvts_http(&r, U, "GET", "/sim/v1/stats", NULL, NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "requests")), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "idempotencyKeys")), 0);
    kvts_resp_free(&r);
}

/* --auto approve|abort|expire and the forced-state control endpoint. */
static void test_sim__auto_modes(void **state)
{
    (void)state;
    const char *modes[] = { "approve", "abort", "expire" };
    const char *want[] = { "AUTHORIZED", "ABORTED", "EXPIRED" };
    for (int i = 0; i < 3; i++) {
        kvts_sim s;
        const char *extra[] = { "--auto", modes[i], "--approve-after", "0.3", NULL };
        assert_int_equal(kvts_sim_start(&s, extra), 0);
        kvts_api a;
        kvts_login(&a, s.url, "oslo", NULL);
        kvts_create(s.url, &a, "OSL-auto-0001", 14900, 201);
        kvts_expect_state(s.url, &a, "OSL-auto-0001", "CREATED");
        kvts_sleep_ms(700);
        kvts_expect_state(s.url, &a, "OSL-auto-0001", want[i]);
        kvts_sim_stop(&s);
    }
    const char *U = g_sim.url;
    kvts_api a;
    kvts_login(&a, U, "oslo", NULL);
    kvts_create(U, &a, "OSL-force-0001", 14900, 201);
    kvts_resp r;
    kvts_http(&r, U, "POST", "/sim/v1/payments/OSL-force-0001/state", NULL, "{\"state\":\"ABORTED\"}");
    assert_int_equal(r.status, 200);
    kvts_resp_free(&r);
    kvts_expect_state(U, &a, "OSL-force-0001", "ABORTED");
}

/* --fail-rate injects 5xx, dropped connections and slow replies from the
 * seeded PRNG: the same seed gives the same sequence; --latency-ms delays. */
static void test_sim__fail_rate_and_latency(void **state)
{
    (void)state;
    char a[25], b[25];
    fault_sequence("42", a, 24);
    fault_sequence("42", b, 24);
    assert_string_equal(a, b);
    assert_non_null(strchr(a, 'E'));
    assert_non_null(strchr(a, 'D'));
    assert_non_null(strchr(a, 'S'));
    assert_null(strchr(a, '?'));
    kvts_sim s;
    const char *extra[] = { "--latency-ms", "120", NULL };
    assert_int_equal(kvts_sim_start(&s, extra), 0);
    kvts_resp r;
    double t0 = mono_ms();
    kvts_http(&r, s.url, "GET", "/epayment/v1/payments/OSL-lat-0001", NULL, NULL);
    assert_int_equal(r.status, 401);
    assert_true(mono_ms() - t0 >= 120);
    kvts_resp_free(&r);
    /* control endpoints are not delayed */
    t0 = mono_ms();
    kvts_http(&r, s.url, "GET", "/sim/v1/stats", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_true(mono_ms() - t0 < 120);
    kvts_resp_free(&r);
    kvts_sim_stop(&s);
}

/* --write-config: the project's own loader accepts the file, the secrets
 * file is 0600 and every credential set in it works against the simulator. */
static void test_sim__write_config(void **state)
{
    (void)state;
    char *conf = kvt_path("%s/kvitt.conf", kvt_tmpdir());
    char *sec = kvt_path("%s/kvitt.secrets", kvt_tmpdir());
    struct stat st;
    assert_int_equal(stat(sec, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    kv_config *c = NULL;
    char err[512] = "";
    kv_config_status cs = kv_config_load(&c, conf, err, sizeof err);
    if (cs != 0) fail_msg("kv_config_load: %s", err);
    const kv_config_main *m = kv_config_main_get(c);
    assert_string_equal(m->environment, g_sim.url);
    assert_int_equal(kv_config_store_count(c), 2);
    for (size_t i = 0; i < 2; i++) {
        const kv_store *s = kv_config_store_at(c, i);
        const kv_credentials *cr = kv_config_credentials(c, s);
        assert_non_null(cr);
        assert_true(!strncmp(s->printer, "virtual:", 8));
        kv_sim_cred k = { cr->name, cr->client_id, cr->client_secret, cr->subscription_key, s->msn, cr->partner };
        kvts_resp r;
        kvts_get_token(&r, g_sim.url, &k, s->msn);
        assert_int_equal(r.status, 200);
        kvts_resp_free(&r);
    }
    /* the partner set from the secrets file, for bergen's MSN */
    const char *pid = kv_config_get(c, "credentials nordkaffe-partner", "client_id");
    assert_non_null(pid);
    assert_string_equal(kv_config_get(c, "credentials nordkaffe-partner", "partner"), "true");
    kvts_resp r;
    kvts_get_token(&r, g_sim.url, kvts_cred("nordkaffe-partner"), "234567");
    assert_int_equal(r.status, 200);
    kvts_resp_free(&r);
    kv_config_free(c);
    free(conf);
    free(sec);
}

/* Bad arguments exit 2 with a message; --help exits 0. */
static void test_sim__cli_args(void **state)
{
    (void)state;
    kvt_result r;
    const char *a1[] = { "kvitt", "sim", "--auto", "sometimes", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 10, a1), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--auto"));
    kvt_result_free(&r);
    const char *a2[] = { "kvitt", "sim", "--listen", "nohostport", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 10, a2), 0);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
    const char *a3[] = { "kvitt", "sim", "--fail-rate", "1.5", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 10, a3), 0);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
    const char *a4[] = { "kvitt", "sim", "--help", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 10, a4), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "--write-config"));
    kvt_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sim__faults_and_stats),
        cmocka_unit_test(test_sim__auto_modes),
        cmocka_unit_test(test_sim__fail_rate_and_latency),
        cmocka_unit_test(test_sim__write_config),
        cmocka_unit_test(test_sim__cli_args),
    };
    return cmocka_run_group_tests_name("sim_control", tests, setup, teardown);
}
