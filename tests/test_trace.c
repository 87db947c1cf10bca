/* test_trace.c - what support gets: `kvitt --trace FILE` writes a redacted
 * wire trace of a real payment against a `kvitt sim` process, `kvitt -v`
 * shows a failed call's HTTP status, error code and traceId, and the
 * daemon's log line for a failed payment carries the same.  Every secret
 * the run used (client secret, subscription key, each access token the
 * simulator issued, the phone number) is searched for in the trace and in
 * the logs and must not be there.  Real processes, real HTTP; no mocks. */
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

#include <cjson/cJSON.h>

#include "tests/lib/kvflow.h"
#include "tests/lib/kvtserve.h"

/* Value of `key = ...` in the [credentials oslo] section of the secrets
 * file the simulator wrote (malloc'd). */
static char *secret_of(const kvf_env *e, const char *key)
{
    char *path = kvt_path("%s/kvitt.secrets", e->dir);
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(path, &buf, &len), 0);
    free(path);
    char *sec = strstr((char *)buf, "[credentials oslo]");
    assert_non_null(sec);
    char pat[64];
    snprintf(pat, sizeof pat, "\n%s = ", key);
    char *v = strstr(sec, pat);
    assert_non_null(v);
    v += strlen(pat);
    char *out = strndup(v, strcspn(v, "\n"));
    free(buf);
    return out;
}

/* Every access_token in the simulator's --record file, each checked
 * against text.  Returns how many tokens were checked. */
static int no_token_in(const char *record, const char *text)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(record, &buf, &len), 0);
    int n = 0;
    for (char *save = NULL, *l = strtok_r((char *)buf, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(l);
        const cJSON *rs = cJSON_GetObjectItem(o, "response");
        cJSON *t = cJSON_IsString(rs) ? cJSON_Parse(rs->valuestring) : NULL;
        const cJSON *at = cJSON_GetObjectItem(t, "access_token");
        if (cJSON_IsString(at)) {
            if (strstr(text, at->valuestring))
                fail_msg("an access token is in the output");
            n++;
        }
        cJSON_Delete(t);
        cJSON_Delete(o);
    }
    free(buf);
    return n;
}

static void no_secret_in(const kvf_env *e, const char *record, const char *text)
{
    char *cs = secret_of(e, "client_secret");
    char *sk = secret_of(e, "subscription_key");
    assert_null(strstr(text, cs));
    assert_null(strstr(text, sk));
    assert_null(strstr(text, "4791234567"));
    assert_null(strstr(text, "91234567"));
    assert_true(no_token_in(record, text) >= 1);
    free(cs);
    free(sk);
}

static void test_trace__pay_with_trace_writes_the_calls_without_secrets(void **state)
{
    (void)state;
    kvf_env e;
    char *record = kvt_path("%s/sim-record.jsonl", kvt_tmpdir());
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", "--record", record, NULL };
    assert_int_equal(kvf_start(&e, "trace", sim), 0);
    char *trace = kvt_path("%s/support.trace", e.dir);
    kvt_result r;
    const char *args[] = { "--trace", trace, "-v", "pay", "--amount", "49.00", "--phone",
                           "+47 91234567", "--text", "Kaffe og kake", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    if (r.status != 0)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    struct stat sb;
    assert_int_equal(stat(trace, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(trace, &buf, &len), 0);
    const char *t = (const char *)buf;
    /* The calls of the payment, with status and timing. */
    assert_non_null(strstr(t, "> POST /accesstoken/get HTTP/1.1"));
    assert_non_null(strstr(t, "> POST /epayment/v1/payments HTTP/1.1"));
    assert_non_null(strstr(t, "> GET /epayment/v1/payments/OSL-"));
    assert_non_null(strstr(t, "/capture HTTP/1.1"));
    assert_non_null(strstr(t, "--- HTTP 201 in "));
    assert_non_null(strstr(t, "--- HTTP 200 in "));
    assert_non_null(strstr(t, "\"paymentDescription\":\"Kaffe og kake\""));
    assert_non_null(strstr(t, "Ocp-Apim-Subscription-Key: [redacted]"));
    no_secret_in(&e, record, t);
    /* -v shows the exchanges on stderr, also without secrets. */
    assert_non_null(strstr(r.err, "POST /epayment/v1/payments -> 201"));
    no_secret_in(&e, record, r.err);
    free(buf);
    kvt_result_free(&r);
    kvf_stop(&e);
    free(trace);
    free(record);
}

static void test_trace__verbose_error_names_status_code_and_trace_id(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "verr", NULL), 0);
    kvt_result r;
    /* Not a Vipps MobilePay user: the service answers with an error code. */
    const char *args[] = { "-v", "pay", "--amount", "20.00", "--phone", "4799999999", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    printf("exit %d\n%s", r.status, r.err);
    assert_true(r.status != 0);
    assert_non_null(strstr(r.err, "HTTP 400"));
    assert_non_null(strstr(r.err, "code 7010"));
    assert_non_null(strstr(r.err, "traceId "));
    /* -v: the client's own line for the exchange (not only the summary). */
    assert_non_null(strstr(r.err, "POST /epayment/v1/payments -> 400"));
    assert_null(strstr(r.err, "4799999999"));
    kvt_result_free(&r);
    kvf_stop(&e);
}

static void test_trace__daemon_log_line_carries_status_code_and_trace_id(void **state)
{
    (void)state;
    kvt_serve_env *e = calloc(1, sizeof *e);
    kvt_serve_opts o = { .no_webhooks = 1 };
    assert_int_equal(kvt_serve_setup(e, "slog", &o), 0);
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", KVT_TOK_OSLO, "t1",
                                   "{\"amount\":\"20.00\",\"phone\":\"4799999999\"}"), 0);
    printf("%ld %s\n", r.status, r.body);
    assert_true(r.status >= 400);
    kvt_http_free(&r);
    kvt_serve_stop(e, SIGTERM);
    unsigned char *log = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(e->serve_log, &log, &len), 0);
    const char *line = strstr((char *)log, "payment.start_failed");
    assert_non_null(line);
    char *end = strchr(line, '\n');
    if (end)
        *end = '\0';
    printf("%s\n", line);
    assert_non_null(strstr(line, "http_status=400"));
    assert_non_null(strstr(line, "code=7010"));
    assert_non_null(strstr(line, "trace_id="));
    assert_null(strstr(line, "trace_id= "));
    assert_null(strstr((char *)log + 0, "4799999999"));
    free(log);

    /* `kvitt --trace FILE serve`: the daemon's payment calls are traced. */
    char *trace = kvt_path("%s/serve.trace", e->dir);
    char *tlog = kvt_path("%s/serve-trace.log", e->dir);
    const char *argv[] = { "kvitt", "--trace", trace, "serve", "--config", e->conf, "--listen",
                           "127.0.0.1:0", NULL };
    kvt_proc *p = kvt_spawn(argv, NULL, tlog);
    char *url = kvt_proc_readline(p, 15000);
    assert_non_null(url);
    snprintf(e->url, sizeof e->url, "%s", url);
    free(url);
    assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", KVT_TOK_OSLO, "t2",
                                   "{\"amount\":\"20.00\",\"phone\":\"4799999999\"}"), 0);
    kvt_http_free(&r);
    kvt_proc_stop(p, SIGTERM);
    unsigned char *tb = NULL;
    assert_int_equal(kvt_read_file(trace, &tb, &len), 0);
    assert_non_null(strstr((char *)tb, "> POST /epayment/v1/payments HTTP/1.1"));
    assert_non_null(strstr((char *)tb, "--- HTTP 400 in "));
    assert_null(strstr((char *)tb, "4799999999"));
    free(tb);
    free(trace);
    free(tlog);
    kvt_serve_teardown(e);
    free(e);
}

/* A poll answered 429 with a Retry-After longer than the payment has left
 * is not slept on: the till gives up at the payment's deadline (the next
 * exchange after the 429 is the cancel, not the same GET again). */
static void test_trace__retry_after_never_outlasts_the_payment(void **state)
{
    (void)state;
    kvf_env e;
    char *record = kvt_path("%s/ra-record.jsonl", kvt_tmpdir());
    const char *sim[] = { "--record", record, NULL };
    assert_int_equal(kvf_start(&e, "ra", sim), 0);
    assert_int_equal(kvf_fault(&e, "{\"method\":\"GET\",\"path\":\"/epayment/v1/payments/OSL-ra-pay-0001\","
                                   "\"count\":1,\"action\":\"status\",\"status\":429,\"retryAfter\":8}"), 0);
    kvt_result r;
    const char *args[] = { "pay", "--amount", "20.00", "--reference", "OSL-ra-pay-0001",
                           "--timeout", "3", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    printf("exit %d: %s", r.status, r.err);
    assert_true(r.status != 0);
    kvt_result_free(&r);
    kvf_stop(&e);
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(record, &buf, &len), 0);
    int seen429 = 0, checked = 0;
    for (char *save = NULL, *l = strtok_r((char *)buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(l);
        const cJSON *m = cJSON_GetObjectItem(o, "method"), *p = cJSON_GetObjectItem(o, "path");
        const cJSON *st = cJSON_GetObjectItem(o, "status");
        if (seen429 && !checked) {
            printf("after the 429: %s %s\n", m->valuestring, p->valuestring);
            assert_string_equal(m->valuestring, "POST");
            assert_string_equal(p->valuestring, "/epayment/v1/payments/OSL-ra-pay-0001/cancel");
            checked = 1;
        }
        if (cJSON_IsNumber(st) && st->valueint == 429)
            seen429 = 1;
        cJSON_Delete(o);
    }
    assert_true(checked);
    free(buf);
    free(record);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace__pay_with_trace_writes_the_calls_without_secrets),
        cmocka_unit_test(test_trace__verbose_error_names_status_code_and_trace_id),
        cmocka_unit_test(test_trace__daemon_log_line_carries_status_code_and_trace_id),
        cmocka_unit_test(test_trace__retry_after_never_outlasts_the_payment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
