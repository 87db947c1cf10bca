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
    for (int round = 0; round < 600 && have < N_PAY; round++) {
        for (int i = 0; i < N_PAY; i++)
            pf[i] = (struct pollfd){ got[i] ? -1 : fds[i], POLLIN, 0 };
        if (poll(pf, N_PAY, 100) <= 0)
            continue;
        for (int i = 0; i < N_PAY; i++)
            if (pf[i].revents && !got[i] && drain(fds[i], &got[i]) == 0 && got[i])
                have++;
    }
    assert_int_equal(have, N_PAY);

    /* SIGTERM: every stream ends, the daemon exits by itself */
    kill(kvt_proc_pid(x.serve), SIGTERM);
    int ended = 0;
    int *eof = calloc(N_PAY, sizeof *eof);
    for (int round = 0; round < 600 && ended < N_PAY; round++) {
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serve_scale__sigterm_with_1000_waits_and_1000_streams),
    };
    return cmocka_run_group_tests_name("serve_scale", tests, NULL, NULL);
}
