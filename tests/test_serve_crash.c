/* test_serve_crash.c - `kvitt serve` stopped in the middle of payments:
 * SIGTERM (graceful) and kill -9, then a restart that resumes or recovers
 * them; a printer that is down before the slip, and one that goes down
 * before the receipt (queued, printed at the next start).  Real `kvitt
 * sim`, `kvitt vprinter` and daemon child processes. */
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
#include <unistd.h>

#include "sim/sim.h"
#include "tests/lib/kvtserve.h"

static void setup(kvt_serve_env *x, const char *name, const kvt_serve_opts *o)
{
    if (kvt_serve_setup(x, name, o) < 0) {
        kvt_serve_teardown(x);
        fail_msg("fixture %s did not start", name);
    }
}

static char *pay(kvt_serve_env *x, const char *key, const char *amount)
{
    char body[64];
    snprintf(body, sizeof body, "{\"amount\":\"%s\"}", amount);
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, x, "POST", "/v1/payments", KVT_TOK_OSLO, key, body), 0);
    if (r.status != 201)
        printf("create answered %ld: %s\n", r.status, r.body);
    assert_int_equal(r.status, 201);
    char *ref = kvt_json_str(r.body, "reference");
    kvt_http_free(&r);
    return ref;
}

/* The customer approves in the app (the simulator's test control). */
static void approve(kvt_serve_env *x, const char *ref)
{
    char path[256];
    snprintf(path, sizeof path, "/sim/v1/payments/%s/state", ref);
    kvt_http_resp r;
    assert_int_equal(kvt_sim_req(&r, x, "POST", path, "{\"state\":\"AUTHORIZED\"}"), 0);
    assert_int_equal(r.status / 100, 2);
    kvt_http_free(&r);
}

static int captures(kvt_serve_env *x, const char *ref)
{
    char k[256];
    snprintf(k, sizeof k, "POST /epayment/v1/payments/%s/capture", ref);
    return kvt_sim_count(x, k);
}

/* The fixture of the running test, torn down by cleanup() even when an
 * assertion ends the test early. */
static kvt_serve_env e;

static int cleanup(void **state)
{
    (void)state;
    kvt_serve_teardown(&e);
    return 0;
}

static void test_serve_crash__kill9_while_waiting_then_resume(void **state)
{
    (void)state;
    kvt_serve_opts o = { .vprinter = 1 };
    setup(&e, "kill9", &o);
    char *ref = pay(&e, "k9-1", "75.00");
    assert_int_equal(kvt_jobs_wait(e.printer_dir, ref, 1, 3000), 1); /* the slip */
    int st = kvt_serve_stop(&e, SIGKILL);
    assert_true(WIFSIGNALED(st));
    /* The customer pays while the daemon is down. */
    approve(&e, ref);
    assert_int_equal(kvt_serve_start(&e, NULL), 0);
    char *done = kvt_serve_wait_state(&e, KVT_TOK_OSLO, ref, "DONE", 15000);
    assert_non_null(done);
    assert_non_null(strstr(done, "\"captured\":\"75.00\""));
    free(done);
    assert_int_equal(captures(&e, ref), 1);
    assert_int_equal(kvt_jobs_wait(e.printer_dir, ref, 2, 3000), 2); /* slip + receipt */
    unsigned char *log = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(e.serve_log, &log, &len), 0);
    assert_non_null(strstr((char *)log, "recover.resume"));
    free(log);
    free(ref);
    kvt_serve_teardown(&e);
}

/* Restart the daemon so that it kills itself right after Vipps answered
 * the create (the flow's test hook), send it the till's payment (key,
 * body), restart it; the till retries with the same key and gets the
 * payment the first attempt created, never a second one.  Returns its
 * reference. */
static char *crash_in_create(const char *key, const char *body)
{
    kvt_serve_stop(&e, SIGTERM);
    const char *crash[] = { "KVITT_TEST_CRASH_AT=created", NULL };
    assert_int_equal(kvt_serve_start(&e, crash), 0);
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, &e, "POST", "/v1/payments", KVT_TOK_OSLO, key, body), -1); /* it died */
    kvt_http_free(&r);
    int st = kvt_serve_stop(&e, 0);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(kvt_sim_count(&e, "POST /epayment/v1/payments"), 1);
    assert_int_equal(kvt_serve_start(&e, NULL), 0);
    assert_int_equal(kvt_serve_req(&r, &e, "POST", "/v1/payments", KVT_TOK_OSLO, key, body), 0);
    assert_int_equal(r.status, 201);
    char *ref = kvt_json_str(r.body, "reference");
    assert_non_null(ref);
    kvt_http_free(&r);
    assert_int_equal(kvt_sim_count(&e, "POST /epayment/v1/payments"), 1);
    return ref;
}

/* The daemon's log shows that it resumed ref, left before its slip. */
static void assert_resumed(const char *ref)
{
    unsigned char *log = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(e.serve_log, &log, &len), 0);
    char needle[160];
    snprintf(needle, sizeof needle, "recover.resume reference=%s", ref);
    const char *line = strstr((char *)log, needle);
    assert_non_null(line);
    assert_non_null(strstr(line, "left before its slip")); /* not a WAITING resume */
    free(log);
}

static void test_serve_crash__kill9_inside_create_then_retry_same_key(void **state)
{
    (void)state;
    kvt_serve_opts o = { .vprinter = 1, .no_webhooks = 1 };
    setup(&e, "crashcreate", &o);
    char *ref = crash_in_create("cc-1", "{\"amount\":\"42.00\"}");
    /* Its slip never printed and the customer still has time: the
     * restarted daemon resumes it (prints the QR slip, waits), and the
     * customer pays. */
    assert_int_equal(kvt_jobs_wait(e.printer_dir, ref, 1, 15000), 1); /* the slip */
    char *w = kvt_serve_wait_state(&e, KVT_TOK_OSLO, ref, "WAITING", 10000);
    assert_non_null(w);
    free(w);
    approve(&e, ref);
    char *fin = kvt_serve_wait_state(&e, KVT_TOK_OSLO, ref, "DONE", 15000);
    assert_non_null(fin);
    assert_non_null(strstr(fin, "\"captured\":\"42.00\""));
    free(fin);
    assert_int_equal(captures(&e, ref), 1);
    assert_int_equal(kvt_jobs_wait(e.printer_dir, ref, 2, 3000), 2); /* slip + receipt */
    assert_int_equal(kvt_sim_count(&e, "POST /epayment/v1/payments"), 1);
    assert_resumed(ref);
    free(ref);
    kvt_serve_teardown(&e);
}

/* The same kill after a push to the customer's phone was created (no
 * slip): the restarted daemon resumes the wait without printing anything;
 * the customer approves in the app, one capture, the receipt prints. */
static void test_serve_crash__kill9_after_a_push_resumes_without_a_slip(void **state)
{
    (void)state;
    kvt_serve_opts o = { .vprinter = 1, .no_webhooks = 1 };
    setup(&e, "crashpush", &o);
    char phone[32], body[128];
    const char *known = kv_sim_known_phones();
    size_t pl = strcspn(known, ",");
    assert_true(pl > 0 && pl < sizeof phone);
    memcpy(phone, known, pl);
    phone[pl] = '\0';
    snprintf(body, sizeof body, "{\"amount\":\"43.00\",\"phone\":\"%s\"}", phone);
    char *ref = crash_in_create("cp-1", body);
    char *w = kvt_serve_wait_state(&e, KVT_TOK_OSLO, ref, "WAITING", 15000);
    assert_non_null(w);
    free(w);
    assert_int_equal(kvt_jobs_containing(e.printer_dir, ref), 0); /* a push prints no slip */
    approve(&e, ref);
    char *fin = kvt_serve_wait_state(&e, KVT_TOK_OSLO, ref, "DONE", 15000);
    assert_non_null(fin);
    free(fin);
    assert_int_equal(captures(&e, ref), 1);
    assert_int_equal(kvt_jobs_wait(e.printer_dir, ref, 1, 3000), 1); /* the receipt */
    assert_resumed(ref);
    free(ref);
    kvt_serve_teardown(&e);
}

struct bg {
    kvt_serve_env *e;
    long status;
};

static void *slow_pay(void *arg)
{
    struct bg *b = arg;
    kvt_http_resp r;
    if (kvt_serve_req(&r, b->e, "POST", "/v1/payments", KVT_TOK_OSLO, "inflight-1",
                      "{\"amount\":\"19.00\"}") == 0)
        b->status = r.status;
    kvt_http_free(&r);
    return NULL;
}

static void test_serve_crash__sigterm_finishes_in_flight_and_resumes(void **state)
{
    (void)state;
    kvt_serve_opts o = { .vprinter = 1, .shutdown_grace_s = 1,
                         .sim_args = { "--latency-ms", "300" } };
    setup(&e, "sigterm", &o);
    char *ref = pay(&e, "st-1", "88.00");
    /* A create in flight when SIGTERM comes still gets its answer. */
    struct bg b = { &e, 0 };
    pthread_t t;
    pthread_create(&t, NULL, slow_pay, &b);
    usleep(150000);
    int st = kvt_serve_stop(&e, SIGTERM);
    pthread_join(t, NULL);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(b.status, 201);
    unsigned char *log = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(e.serve_log, &log, &len), 0);
    assert_non_null(strstr((char *)log, "serve.stopped waiting_payments="));
    free(log);
    /* Both payments wait in the journal; the customer pays the first. */
    approve(&e, ref);
    assert_int_equal(kvt_serve_start(&e, NULL), 0);
    char *done = kvt_serve_wait_state(&e, KVT_TOK_OSLO, ref, "DONE", 15000);
    assert_non_null(done);
    free(done);
    assert_int_equal(captures(&e, ref), 1);
    free(ref);
    kvt_serve_teardown(&e);
}

static void test_serve_crash__printer_down_before_slip_cancels(void **state)
{
    (void)state;
    kvt_serve_opts o = { .vprinter = 1, .no_webhooks = 1 };
    setup(&e, "nopaper", &o);
    kvt_proc_stop(e.printer, SIGTERM); /* the store's printer is gone */
    e.printer = NULL;
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, &e, "POST", "/v1/payments", KVT_TOK_OSLO, "np-1",
                                   "{\"amount\":\"30.00\"}"), 0);
    assert_int_equal(r.status, 502);
    assert_non_null(strstr(r.body, "\"error\":\"printer\""));
    char *ref = kvt_json_str(r.body, "reference");
    char *st = kvt_json_str(r.body, "state");
    kvt_http_free(&r);
    assert_non_null(ref);
    assert_string_equal(st, "CANCELLED");
    free(st);
    char k[256];
    snprintf(k, sizeof k, "POST /epayment/v1/payments/%s/cancel", ref);
    assert_int_equal(kvt_sim_count(&e, k), 1);
    /* The retry replays the same answer: no second payment. */
    assert_int_equal(kvt_serve_req(&r, &e, "POST", "/v1/payments", KVT_TOK_OSLO, "np-1",
                                   "{\"amount\":\"30.00\"}"), 0);
    assert_int_equal(r.status, 502);
    kvt_http_free(&r);
    assert_int_equal(kvt_sim_count(&e, "POST /epayment/v1/payments"), 1);
    /* Health shows the printer as unreachable. */
    assert_int_equal(kvt_serve_req(&r, &e, "GET", "/v1/health", KVT_TOK_OSLO, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "unreachable"));
    kvt_http_free(&r);
    free(ref);
    kvt_serve_teardown(&e);
}

static void test_serve_crash__printer_down_before_receipt_is_queued(void **state)
{
    (void)state;
    kvt_serve_opts o = { .vprinter = 1 };
    setup(&e, "noreceipt", &o);
    char *ref = pay(&e, "nr-1", "55.00");
    assert_int_equal(kvt_jobs_wait(e.printer_dir, ref, 1, 3000), 1);
    const char *port = strrchr(e.printer_uri, ':') + 1;
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%s", port);
    kvt_proc_stop(e.printer, SIGTERM);
    e.printer = NULL;
    approve(&e, ref);
    /* Captured, the receipt could not print: it is queued, not lost. */
    char *cap = kvt_serve_wait_state(&e, KVT_TOK_OSLO, ref, "CAPTURED", 15000);
    assert_non_null(cap);
    assert_null(strstr(cap, "\"receipt\":{\"status\":\"printed\""));
    free(cap);
    assert_int_equal(captures(&e, ref), 1);
    /* The printer is back; the next start prints the receipt. */
    const char *pargv[] = { "kvitt", "vprinter", "--listen", listen, "--out", e.printer_dir, NULL };
    char *plog = kvt_path("%s/vprinter2.log", e.dir);
    e.printer = kvt_spawn(pargv, NULL, plog);
    free(plog);
    char *line = kvt_proc_readline(e.printer, 10000);
    assert_non_null(line);
    free(line);
    kvt_serve_stop(&e, SIGTERM);
    assert_int_equal(kvt_serve_start(&e, NULL), 0);
    char *done = kvt_serve_wait_state(&e, KVT_TOK_OSLO, ref, "DONE", 15000);
    assert_non_null(done);
    free(done);
    assert_int_equal(kvt_jobs_wait(e.printer_dir, ref, 2, 3000), 2);
    assert_int_equal(captures(&e, ref), 1); /* never captured twice */
    free(ref);
    kvt_serve_teardown(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_serve_crash__kill9_while_waiting_then_resume, cleanup),
        cmocka_unit_test_teardown(test_serve_crash__kill9_inside_create_then_retry_same_key, cleanup),
        cmocka_unit_test_teardown(test_serve_crash__kill9_after_a_push_resumes_without_a_slip, cleanup),
        cmocka_unit_test_teardown(test_serve_crash__sigterm_finishes_in_flight_and_resumes, cleanup),
        cmocka_unit_test_teardown(test_serve_crash__printer_down_before_slip_cancels, cleanup),
        cmocka_unit_test_teardown(test_serve_crash__printer_down_before_receipt_is_queued, cleanup),
    };
    return cmocka_run_group_tests_name("serve_crash", tests, NULL, NULL);
}
