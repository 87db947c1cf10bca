/* test_serve_scale.c - `kvitt serve` with many waiting payments and many
 * open event streams: SIGTERM ends every stream (one wake each), the
 * daemon stops without being killed, the journal holds every payment as
 * it was (WAITING, its create answered, nothing captured), and a restart
 * resumes the waits: a payment approved afterwards is paid once.  Real
 * `kvitt sim`, `kvitt vprinter` and daemon child processes; the event
 * streams are plain sockets on loopback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/journal/journal.h"
#include "tests/lib/kvtserve.h"

#define N_PAY 1000
#define CREATORS 16

typedef struct creator {
    kvt_serve_env *x;
    int first, step;
    char (*refs)[64];
    int failed;
} creator;

static void *create_main(void *arg)
{
    creator *c = arg;
    for (int i = c->first; i < N_PAY; i += c->step) {
        char key[64];
        snprintf(key, sizeof key, "scale-%d", i);
        kvt_http_resp r;
        if (kvt_serve_req(&r, c->x, "POST", "/v1/payments", KVT_TOK_OSLO, key,
                          "{\"amount\":\"12.00\"}") != 0 || r.status != 201) {
            c->failed++;
            kvt_http_free(&r);
            continue;
        }
        char *ref = kvt_json_str(r.body, "reference");
        snprintf(c->refs[i], sizeof c->refs[i], "%s", ref ? ref : "");
        free(ref);
        kvt_http_free(&r);
    }
    return NULL;
}

/* Open an event stream on ref: a socket with the request sent. */
static int open_stream(int port, const char *ref)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof req, "GET /v1/payments/%s/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Authorization: Bearer " KVT_TOK_OSLO "\r\nAccept: text/event-stream\r\n\r\n",
                     ref);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read what is there; returns 1 at EOF (or error), 0 otherwise; sets *got
 * when the bytes include an event. */
static int drain(int fd, int *got)
{
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n <= 0)
        return 1;
    buf[n] = '\0';
    if (strstr(buf, "event: "))
        *got = 1;
    return 0;
}

static char *journal_path(const char *conf)
{
    unsigned char *text = NULL;
    size_t len = 0;
    if (kvt_read_file(conf, &text, &len) < 0)
        return NULL;
    const char *j = strstr((const char *)text, "\njournal = ");
    char *out = NULL;
    if (j) {
        j += 11;
        out = strndup(j, strcspn(j, "\n"));
    }
    free(text);
    return out;
}

static void test_serve_scale__sigterm_with_1000_waits_and_1000_streams(void **state)
{
    (void)state;
    kvt_serve_env x;
    kvt_serve_opts o = { 0 };
    o.vprinter = 1;
    o.poll_first_s = 60;            /* no polls before the end: the waits only wait */
    o.payment_timeout_s = 900;
    o.shutdown_grace_s = 3;
    if (kvt_serve_setup(&x, "scale", &o) < 0) {
        kvt_serve_teardown(&x);
        fail_msg("fixture did not start");
    }
    char (*refs)[64] = calloc(N_PAY, sizeof *refs);
    pthread_t t[CREATORS];
    creator c[CREATORS];
    for (int i = 0; i < CREATORS; i++) {
        c[i] = (creator){ &x, i, CREATORS, refs, 0 };
        assert_int_equal(pthread_create(&t[i], NULL, create_main, &c[i]), 0);
    }
    int failed = 0;
    for (int i = 0; i < CREATORS; i++) {
        pthread_join(t[i], NULL);
        failed += c[i].failed;
    }
    assert_int_equal(failed, 0);

    /* one event stream per payment; each gets its feed's first events */
    int port = atoi(strrchr(x.url, ':') + 1);
    int *fds = calloc(N_PAY, sizeof *fds);
    int *got = calloc(N_PAY, sizeof *got);
    struct pollfd *pf = calloc(N_PAY, sizeof *pf);
    for (int i = 0; i < N_PAY; i++) {
        fds[i] = open_stream(port, refs[i]);
        assert_true(fds[i] >= 0);
    }
    int have = 0;
    /* generous deadlines (a sanitizer build is slow); no time is asserted */
    time_t until = time(NULL) + 120;
    while (have < N_PAY && time(NULL) < until) {
        for (int i = 0; i < N_PAY; i++)
            pf[i] = (struct pollfd){ got[i] ? -1 : fds[i], POLLIN, 0 };
        if (poll(pf, N_PAY, 100) <= 0)
            continue;
        for (int i = 0; i < N_PAY; i++) {
            if (!pf[i].revents || got[i])
                continue;
            if (drain(fds[i], &got[i]))
                fail_msg("event stream %d ended before its first event", i);
            have += got[i];
        }
    }
    assert_int_equal(have, N_PAY);

    /* SIGTERM: every stream ends, the daemon exits by itself */
    kill(kvt_proc_pid(x.serve), SIGTERM);
    int ended = 0;
    int *eof = calloc(N_PAY, sizeof *eof);
    until = time(NULL) + 120;
    while (ended < N_PAY && time(NULL) < until) {
        for (int i = 0; i < N_PAY; i++)
            pf[i] = (struct pollfd){ eof[i] ? -1 : fds[i], POLLIN, 0 };
        if (poll(pf, N_PAY, 100) <= 0)
            continue;
        for (int i = 0; i < N_PAY; i++) {
            int dummy = 0;
            if (pf[i].revents && !eof[i] && drain(fds[i], &dummy)) {
                eof[i] = 1;
                ended++;
            }
        }
    }
    assert_int_equal(ended, N_PAY);
    int st = kvt_serve_stop(&x, 0); /* waits; SIGKILL after 10 s */
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    for (int i = 0; i < N_PAY; i++)
        close(fds[i]);
    assert_int_equal(kvt_jobs_containing(x.printer_dir, ""), N_PAY); /* slips only */

    /* the journal: every payment WAITING, its create answered, no capture */
    char *jp = journal_path(x.conf);
    assert_non_null(jp);
    kv_journal *j = NULL;
    assert_int_equal(kv_journal_open(&j, jp, NULL, 0), KV_J_OK);
    for (int i = 0; i < N_PAY; i++) {
        kv_payment p;
        assert_int_equal(kv_journal_get_payment(j, &p, refs[i]), KV_J_OK);
        assert_int_equal(p.state, KV_PAY_WAITING);
        kv_journal_op op;
        assert_int_equal(kv_journal_op_last(j, &op, refs[i], KV_OP_CREATE), KV_J_OK);
        assert_int_equal(op.result, KV_OPR_OK);
        assert_int_equal(kv_journal_op_count(j, refs[i], KV_OP_CAPTURE, -1), 0);
    }
    kv_journal_close(j);
    free(jp);

    /* restart: the waits resume; one approved now is paid exactly once */
    assert_int_equal(kvt_serve_start(&x, NULL), 0);
    char path[256];
    snprintf(path, sizeof path, "/sim/v1/payments/%s/state", refs[7]);
    kvt_http_resp r;
    assert_int_equal(kvt_sim_req(&r, &x, "POST", path, "{\"state\":\"AUTHORIZED\"}"), 0);
    assert_int_equal(r.status / 100, 2);
    kvt_http_free(&r);
    char *body = kvt_serve_wait_state(&x, KVT_TOK_OSLO, refs[7], "DONE", 60000);
    assert_non_null(body);
    free(body);
    char k[256];
    snprintf(k, sizeof k, "POST /epayment/v1/payments/%s/capture", refs[7]);
    assert_int_equal(kvt_sim_count(&x, k), 1);
    snprintf(k, sizeof k, "POST /epayment/v1/payments/%s/capture", refs[8]);
    assert_int_equal(kvt_sim_count(&x, k), 0);
    free(eof);
    free(pf);
    free(got);
    free(fds);
    free(refs);
    kvt_serve_teardown(&x);
}

/* `kvitt pay` with [kvitt] serve_url hands the payment to the daemon: the
 * daemon creates, prints and finishes it; the CLI reports it like a local
 * payment.  A serve_token written into the file itself is refused. */
static void test_serve_scale__kvitt_pay_handed_to_the_daemon(void **state)
{
    (void)state;
    kvt_serve_env x;
    kvt_serve_opts o = { 0 };
    o.vprinter = 1;
    o.sim_args[0] = "--auto";
    o.sim_args[1] = "approve";
    o.sim_args[2] = "--approve-after";
    o.sim_args[3] = "0";
    if (kvt_serve_setup(&x, "handoff", &o) < 0) {
        kvt_serve_teardown(&x);
        fail_msg("fixture did not start");
    }
    unsigned char *text = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(x.conf, &text, &len), 0);
    char *kv = strstr((char *)text, "[kvitt]\n");
    assert_non_null(kv);
    size_t head = (size_t)(kv - (char *)text) + 8;
    char *conf = kvt_path("%.*sserve_url = %s/\nserve_token = env:KVITT_TILL_TOKEN\n%s", (int)head,
                          (char *)text, x.url, (char *)text + head);
    assert_int_equal(kvt_write_file(x.conf, conf, strlen(conf)), 0);
    const char *env[] = { "KVITT_TILL_TOKEN=" KVT_TOK_OSLO, NULL };
    const char *argv[] = { "kvitt", "--config", x.conf, "pay", "--amount", "21.00", "--json", NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, env, 120, argv), 0);
    if (r.status != 0)
        printf("kvitt pay: %s\n%s\n", r.out ? r.out : "", r.err ? r.err : "");
    assert_int_equal(r.status, 0);
    char *ref = kvt_json_str(r.out, "reference");
    char *st = kvt_json_str(r.out, "state");
    assert_non_null(ref);
    assert_string_equal(st, "DONE");
    kvt_result_free(&r);
    /* the daemon did it: its log names the payment, created by till t-oslo */
    unsigned char *log = NULL;
    assert_int_equal(kvt_read_file(x.serve_log, &log, &len), 0);
    char want[200];
    snprintf(want, sizeof want, "reference=%s", ref);
    assert_non_null(strstr((char *)log, want));
    assert_non_null(strstr((char *)log, "payment.created till=t-oslo"));
    free(log);
    char *body = kvt_serve_wait_state(&x, KVT_TOK_OSLO, ref, "DONE", 10000);
    assert_non_null(body);
    free(body);
    /* without the variable: a configuration error naming it (exit 3) */
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, argv), 0);
    assert_int_equal(r.status, 3);
    assert_non_null(strstr(r.err, "KVITT_TILL_TOKEN"));
    kvt_result_free(&r);
    /* a token in the file itself is refused, and never echoed */
    char *bad = kvt_path("%.*sserve_url = %s\nserve_token = " KVT_TOK_OSLO "\n%s", (int)head,
                         (char *)text, x.url, (char *)text + head);
    assert_int_equal(kvt_write_file(x.conf, bad, strlen(bad)), 0);
    assert_int_equal(kvt_run(&r, NULL, env, 60, argv), 0);
    assert_int_equal(r.status, 3);
    assert_non_null(strstr(r.err, "serve_token = env:"));
    assert_null(strstr(r.err, KVT_TOK_OSLO));
    kvt_result_free(&r);
    free(bad);
    free(conf);
    free(text);
    free(ref);
    free(st);
    kvt_serve_teardown(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serve_scale__sigterm_with_1000_waits_and_1000_streams),
        cmocka_unit_test(test_serve_scale__kvitt_pay_handed_to_the_daemon),
    };
    return cmocka_run_group_tests_name("serve_scale", tests, NULL, NULL);
}
