/* test_flow_lib.c - the flow library as `kvitt serve` uses it: one kv_flow
 * handle shared by threads, against a real `kvitt sim` process and the
 * virtual printer.  Two payments waited on in parallel; one is woken by a
 * recorded webhook and paid, the other aborted at the till from another
 * thread; events reach the callback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src/config/config.h"
#include "src/flow/flow.h"
#include "tests/lib/kvflow.h"
#include "tests/lib/kvtest.h"

typedef struct evlog {
    pthread_mutex_t mu;
    int done_a, cancelled_b, ticks;
    char ref_a[64], ref_b[64];
} evlog;

static void on_event(void *user, const kv_flow_event *ev)
{
    evlog *l = user;
    pthread_mutex_lock(&l->mu);
    if (ev->kind == KV_FEV_STATE && ev->state == KV_PAY_DONE && strcmp(ev->reference, l->ref_a) == 0)
        l->done_a++;
    if (ev->kind == KV_FEV_STATE && ev->state == KV_PAY_CANCELLED && strcmp(ev->reference, l->ref_b) == 0)
        l->cancelled_b++;
    if (ev->kind == KV_FEV_TICK)
        l->ticks++;
    pthread_mutex_unlock(&l->mu);
}

typedef struct job {
    kv_flow *f;
    const char *ref;
    kv_flow_status st;
    kv_flow_result r;
} job;

static void *pay_thread(void *arg)
{
    job *j = arg;
    kv_pay_request req = { .amount = "149.00", .reference = j->ref };
    j->st = kv_flow_start(j->f, &j->r, &req);
    if (j->st == KV_FLOW_OK)
        j->st = kv_flow_wait(j->f, &j->r, j->ref, 20);
    return NULL;
}

static void test_flow_lib__two_payments_in_parallel_notify_and_abort(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "lib", NULL), 0); /* the customer acts only when told */
    /* polls are 10 s apart: only kv_flow_notify can make A finish quickly */
    assert_int_equal(kvf_set(&e, "poll_first_s", "10"), 0);
    assert_int_equal(kvf_set(&e, "poll_interval_ms", "10000"), 0);
    kv_config *cfg = NULL;
    char err[512] = "";
    assert_int_equal(kv_config_load(&cfg, e.conf, err, sizeof err), KV_C_OK);
    evlog l;
    memset(&l, 0, sizeof l);
    pthread_mutex_init(&l.mu, NULL);
    snprintf(l.ref_a, sizeof l.ref_a, "LIB-A-%ld", (long)time(NULL));
    snprintf(l.ref_b, sizeof l.ref_b, "LIB-B-%ld", (long)time(NULL));
    kv_flow_options fo = KV_FLOW_OPTIONS_INIT;
    fo.on_event = on_event;
    fo.event_user = &l;
    kv_flow *f = NULL;
    assert_int_equal(kv_flow_open(&f, cfg, &fo, err, sizeof err), KV_FLOW_OK);
    job a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.f = b.f = f;
    a.ref = l.ref_a;
    b.ref = l.ref_b;
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, pay_thread, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, pay_thread, &b), 0);
    /* both slips printed: both WAITING in the journal */
    int waiting = 0;
    for (int i = 0; i < 500 && waiting < 2; i++) {
        usleep(20000);
        waiting = 0;
        kv_payment p;
        if (kv_journal_get_payment(kv_flow_journal(f), &p, l.ref_a) == KV_J_OK && p.state == KV_PAY_WAITING)
            waiting++;
        if (kv_journal_get_payment(kv_flow_journal(f), &p, l.ref_b) == KV_J_OK && p.state == KV_PAY_WAITING)
            waiting++;
    }
    assert_int_equal(waiting, 2);
    usleep(200000);
    /* A: the customer approves; the webhook arrives and wakes the waiter */
    char path[128];
    snprintf(path, sizeof path, "/sim/v1/payments/%s/state", l.ref_a);
    long st = 0;
    char *body = kvf_http(&e, "POST", path, "{\"state\":\"AUTHORIZED\"}", &st);
    free(body);
    double t0 = (double)time(NULL);
    assert_int_equal(kv_flow_record_webhook(f, l.ref_a, "AUTHORIZED", "{\"name\":\"AUTHORIZED\"}"), KV_FLOW_OK);
    pthread_join(ta, NULL);
    assert_true((double)time(NULL) - t0 < 8); /* well before the 10 s poll */
    assert_int_equal(a.st, KV_FLOW_OK);
    assert_int_equal(a.r.payment.state, KV_PAY_DONE);
    assert_int_equal(kv_journal_event_count(kv_flow_journal(f), l.ref_a), 1);
    /* B: the cashier cancels from another thread */
    assert_int_equal(kv_flow_abort(f, l.ref_b), KV_FLOW_OK);
    pthread_join(tb, NULL);
    assert_int_equal(b.st, KV_FLOW_E_NOT_PAID);
    assert_int_equal(b.r.payment.state, KV_PAY_CANCELLED);
    assert_int_equal(kv_flow_abort(f, l.ref_b), KV_FLOW_E_NOT_FOUND); /* nobody waits any more */
    pthread_mutex_lock(&l.mu);
    assert_int_equal(l.done_a, 1);
    assert_int_equal(l.cancelled_b, 1);
    assert_true(l.ticks > 0);
    pthread_mutex_unlock(&l.mu);
    assert_int_equal(kvf_keys(&e, l.ref_a, "/capture", NULL), 1);
    assert_int_equal(kvf_keys(&e, l.ref_b, "/capture", NULL), 0);
    /* The verified AUTHORIZED webhook let the waiter capture at once: A
     * was never read with a GET (its first poll was 10 s away). */
    long sst = 0;
    char *stats = kvf_http(&e, "GET", "/sim/v1/stats", NULL, &sst);
    assert_non_null(stats);
    assert_int_equal(sst, 200);
    char getkey[160];
    snprintf(getkey, sizeof getkey, "\"GET /epayment/v1/payments/%s\"", l.ref_a);
    assert_null(strstr(stats, getkey));
    snprintf(getkey, sizeof getkey, "\"POST /epayment/v1/payments/%s/capture\"", l.ref_a);
    assert_non_null(strstr(stats, getkey));
    free(stats);
    /* status, find and reprint by reference */
    kv_flow_result r;
    assert_int_equal(kv_flow_status_get(f, &r, l.ref_a, 1), KV_FLOW_OK);
    assert_int_equal(r.payment.captured, 14900);
    kv_payment *rows = NULL;
    size_t n = 0;
    kv_journal_query q = { .store_id = "oslo" };
    assert_int_equal(kv_flow_find(f, &rows, &n, &q), KV_FLOW_OK);
    assert_int_equal(n, 2);
    free(rows);
    assert_int_equal(kv_flow_reprint(f, &r, l.ref_a), KV_FLOW_OK);
    assert_true(kvf_file_has(r.receipt_path, "KOPI"));
    assert_int_equal(kv_flow_status_get(f, &r, "NO-SUCH-REF", 0), KV_FLOW_E_NOT_FOUND);
    kv_flow_close(f);
    kv_flow_close(NULL);
    kv_config_free(cfg);
    pthread_mutex_destroy(&l.mu);
    kvf_stop(&e);
}

#define WK_N 6

typedef struct wake_count {
    pthread_mutex_t *mu;
    int n;
} wake_count;

static void count_wake(void *user)
{
    wake_count *w = user;
    pthread_mutex_lock(w->mu);
    w->n++;
    pthread_mutex_unlock(w->mu);
}

static int wakes_of(wake_count *w)
{
    pthread_mutex_lock(w->mu);
    int n = w->n;
    pthread_mutex_unlock(w->mu);
    return n;
}

typedef struct tick_watch {
    pthread_mutex_t *mu;
    const char *ref;
    int ticks;
} tick_watch;

static void on_tick(void *user, const kv_flow_event *ev)
{
    tick_watch *t = user;
    if (ev->kind != KV_FEV_TICK || strcmp(ev->reference, t->ref))
        return;
    pthread_mutex_lock(t->mu);
    t->ticks++;
    pthread_mutex_unlock(t->mu);
}

static int ticked(tick_watch *t)
{
    pthread_mutex_lock(t->mu);
    int n = t->ticks;
    pthread_mutex_unlock(t->mu);
    return n > 0;
}

typedef struct blocking_wait {
    kv_flow *f;
    char ref[64];
    kv_flow_status st;
} blocking_wait;

static void *wait_thread(void *arg)
{
    blocking_wait *b = arg;
    b->st = kv_flow_wait(b->f, NULL, b->ref, 30);
    return NULL;
}

/* Six payments wait as steps (the daemon's way) and a seventh in a
 * blocking kv_flow_wait: a webhook, a notify and an abort each wake the
 * wait of their own reference and no other (counted by the wake function
 * and by kv_flow_wakeups). */
static void test_flow_lib__an_event_wakes_only_its_own_payment(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "wake", NULL), 0); /* the customer acts only when told */
    assert_int_equal(kvf_set(&e, "poll_first_s", "30"), 0);
    assert_int_equal(kvf_set(&e, "poll_interval_ms", "30000"), 0);
    kv_config *cfg = NULL;
    char err[512] = "";
    assert_int_equal(kv_config_load(&cfg, e.conf, err, sizeof err), KV_C_OK);
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    char refs[WK_N + 1][64];
    for (int i = 0; i <= WK_N; i++)
        snprintf(refs[i], sizeof refs[i], "WAKE-%d-%ld", i, (long)time(NULL));
    tick_watch tk = { &mu, refs[WK_N], 0 };
    kv_flow_options fo = KV_FLOW_OPTIONS_INIT;
    fo.on_event = on_tick;
    fo.event_user = &tk;
    kv_flow *f = NULL;
    assert_int_equal(kv_flow_open(&f, cfg, &fo, err, sizeof err), KV_FLOW_OK);
    kv_flow_waiter *w[WK_N];
    wake_count wc[WK_N];
    kv_flow_result r;
    for (int i = 0; i <= WK_N; i++) {
        kv_pay_request req = { .amount = "10.00", .reference = refs[i] };
        assert_int_equal(kv_flow_start(f, &r, &req), KV_FLOW_OK);
        if (i == WK_N)
            break;
        wc[i] = (wake_count){ &mu, 0 };
        assert_int_equal(kv_flow_waiter_open(f, &w[i], &r, refs[i], 30, count_wake, &wc[i]), KV_FLOW_OK);
        assert_non_null(w[i]);
    }
    blocking_wait bw = { f, "", KV_FLOW_OK };
    snprintf(bw.ref, sizeof bw.ref, "%s", refs[WK_N]);
    pthread_t bt;
    assert_int_equal(pthread_create(&bt, NULL, wait_thread, &bw), 0);
    /* the blocking wait is registered once it emitted its first tick */
    for (int i = 0; i < 1000 && !ticked(&tk); i++)
        usleep(10000);
    assert_true(ticked(&tk));
    /* first steps: nothing is due yet (polls 30 s away) */
    for (int i = 0; i < WK_N; i++) {
        kv_flow_status st;
        int64_t next = 0;
        assert_int_equal(kv_flow_waiter_step(w[i], &r, &st, &next), 0);
        assert_true(next > 0);
    }
    /* payment 0: the customer approves, the verified webhook comes */
    char path[128];
    snprintf(path, sizeof path, "/sim/v1/payments/%s/state", refs[0]);
    long hs = 0;
    free(kvf_http(&e, "POST", path, "{\"state\":\"AUTHORIZED\"}", &hs));
    assert_int_equal(kv_flow_record_webhook(f, refs[0], "AUTHORIZED", "{}"), KV_FLOW_OK);
    /* payment 1: a notify (an unverified event would be one) */
    kv_flow_notify(f, refs[1]);
    assert_int_equal(wakes_of(&wc[0]), 1);
    assert_int_equal(wakes_of(&wc[1]), 1);
    for (int i = 2; i < WK_N; i++)
        if (wakes_of(&wc[i]) != 0)
            fail_msg("payment %d was woken by another payment's event", i);
    assert_int_equal(kv_flow_wakeups(f, refs[0]), 1);
    assert_int_equal(kv_flow_wakeups(f, refs[1]), 1);
    assert_int_equal(kv_flow_wakeups(f, refs[2]), 0);
    assert_int_equal(kv_flow_wakeups(f, bw.ref), 0);
    /* the woken step of payment 0 captures at once */
    kv_flow_status st = KV_FLOW_E_UNKNOWN;
    int64_t next = 0;
    assert_int_equal(kv_flow_waiter_step(w[0], &r, &st, &next), 1);
    assert_int_equal(st, KV_FLOW_OK);
    assert_int_equal(r.payment.state, KV_PAY_DONE);
    kv_flow_waiter_close(w[0]);
    /* payment 1 was only notified: it reads the payment, still waiting */
    assert_int_equal(kv_flow_waiter_step(w[1], &r, &st, &next), 0);
    /* the cashier cancels payment 2: it alone is woken, and gives up */
    assert_int_equal(kv_flow_abort(f, refs[2]), KV_FLOW_OK);
    assert_int_equal(wakes_of(&wc[2]), 1);
    assert_int_equal(wakes_of(&wc[3]), 0);
    assert_int_equal(kv_flow_waiter_step(w[2], &r, &st, &next), 1);
    assert_int_equal(st, KV_FLOW_E_NOT_PAID);
    kv_flow_waiter_close(w[2]);
    /* the blocking wait is woken by its own abort only */
    assert_int_equal(kv_flow_wakeups(f, bw.ref), 0);
    assert_int_equal(kv_flow_abort(f, bw.ref), KV_FLOW_OK);
    pthread_join(bt, NULL);
    assert_int_equal(bw.st, KV_FLOW_E_NOT_PAID);
    for (int i = 3; i < WK_N; i++)
        assert_int_equal(wakes_of(&wc[i]), 0);
    /* closing a wait before it is over leaves the payment WAITING */
    for (int i = 1; i < WK_N; i++) {
        if (i == 2)
            continue;
        kv_flow_waiter_close(w[i]);
        assert_int_equal(kv_flow_status_get(f, &r, refs[i], 0), KV_FLOW_OK);
        assert_int_equal(r.payment.state, KV_PAY_WAITING);
    }
    kv_flow_close(f);
    kv_config_free(cfg);
    kvf_stop(&e);
}

/* receipt_by_caller (kvitt proxy prints the receipt) is for a QR sale at
 * the till only: with a phone number or not_present it is refused, naming
 * the field. */
static void test_flow_lib__receipt_by_caller_only_for_qr(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "bycaller", NULL), 0);
    kv_config *cfg = NULL;
    char err[512] = "";
    assert_int_equal(kv_config_load(&cfg, e.conf, err, sizeof err), KV_C_OK);
    kv_flow_options fo = KV_FLOW_OPTIONS_INIT;
    kv_flow *f = NULL;
    assert_int_equal(kv_flow_open(&f, cfg, &fo, err, sizeof err), KV_FLOW_OK);
    kv_pay_request ok = { .amount = "77.00", .receipt_by_caller = 1 };
    assert_int_equal(kv_flow_validate(f, &ok, err, sizeof err), KV_FLOW_OK);
    kv_pay_request push = { .amount = "77.00", .phone = "4791234567", .receipt_by_caller = 1 };
    err[0] = 0;
    assert_int_equal(kv_flow_validate(f, &push, err, sizeof err), KV_FLOW_E_INPUT);
    assert_non_null(strstr(err, "receipt by caller"));
    push.receipt_by_caller = 0;
    assert_int_equal(kv_flow_validate(f, &push, err, sizeof err), KV_FLOW_OK);
    kv_flow_close(f);
    kv_config_free(cfg);
    kvf_stop(&e);
}

static void test_flow_lib__amount_parsing(void **state)
{
    (void)state;
    int64_t v = 0;
    char err[128];
    assert_int_equal(kv_flow_parse_amount(&v, "149.00", err, sizeof err), 0);
    assert_int_equal(v, 14900);
    assert_int_equal(kv_flow_parse_amount(&v, "149", err, sizeof err), 0);
    assert_int_equal(v, 14900);
    assert_int_equal(kv_flow_parse_amount(&v, "0.5", err, sizeof err), 0);
    assert_int_equal(v, 50);
    assert_int_equal(kv_flow_parse_amount(&v, "12,34", err, sizeof err), 0);
    assert_int_equal(v, 1234);
    const char *bad[] = { "", "1.", ".5x", "1.234", "-1", "+1", "1e3", "12 3", "abc", "99999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (kv_flow_parse_amount(&v, bad[i], err, sizeof err) == 0)
            fail_msg("'%s' was accepted", bad[i]);
    char buf[32];
    kv_flow_format_amount(buf, sizeof buf, 14900);
    assert_string_equal(buf, "149.00");
    kv_flow_format_amount(buf, sizeof buf, -5);
    assert_string_equal(buf, "-0.05");
    /* exit codes of the CLI table */
    assert_int_equal(kv_flow_exit_code(KV_FLOW_OK), 0);
    assert_int_equal(kv_flow_exit_code(KV_FLOW_E_NOT_PAID), 1);
    assert_int_equal(kv_flow_exit_code(KV_FLOW_E_INPUT), 2);
    assert_int_equal(kv_flow_exit_code(KV_FLOW_E_CONFIG), 3);
    assert_int_equal(kv_flow_exit_code(KV_FLOW_E_PRINTER), 4);
    assert_int_equal(kv_flow_exit_code(KV_FLOW_E_SERVICE), 5);
    assert_int_equal(kv_flow_exit_code(KV_FLOW_E_UNKNOWN), 6);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_lib__two_payments_in_parallel_notify_and_abort),
        cmocka_unit_test(test_flow_lib__an_event_wakes_only_its_own_payment),
        cmocka_unit_test(test_flow_lib__receipt_by_caller_only_for_qr),
        cmocka_unit_test(test_flow_lib__amount_parsing),
    };
    int rc = cmocka_run_group_tests_name("flow_lib", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
