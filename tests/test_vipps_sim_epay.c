/*
 * test_vipps_sim_epay.c - the payment client's ePayment calls against the
 * simulator over real HTTP on loopback (kv_sim from sim/, started in
 * process on a free port; the same server `kvitt sim` runs): QR and push
 * payments, capture, refund and cancel, the event log, the test
 * environment's magic amounts, threads sharing one cache, and the client
 * against `kvitt sim` as a separate process.  Nothing is mocked.
 * Errors, retries and rate limits: test_vipps_sim_faults.c; eCom, QR,
 * receipts, webhooks and the log: test_vipps_sim_apis.c.
 */
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

#include "sim/sim.h"
#include "src/vipps/vipps.h"
#include "tests/lib/kvtest.h"
#include "tests/lib/kvtsim.h"
#include "tests/lib/kvtvipps.h"

static void test_vipps_sim__qr_flow_capture_refund(void **state)
{
    kvtv_env *e = *state;
    kv_sim *s = kvtv_start_sim(NULL);
    kv_vipps_client *c = kvtv_client(s, e->oslo, NULL, NULL);
    kv_vipps_created cr;
    kvtv_create_qr(c, "OSL-flow-0001", 14900, &cr);
    assert_string_equal(cr.reference, "OSL-flow-0001");
    assert_true(!strncmp(cr.redirect_url, "https://qr.vipps.no/", 20));

    kv_vipps_payment p;
    assert_int_equal(kv_vipps_get(&p, c, "OSL-flow-0001"), KV_VIPPS_OK);
    assert_int_equal(p.state, KV_VIPPS_STATE_CREATED);
    assert_int_equal(p.amount, 14900);
    assert_string_equal(p.currency, "NOK");

    kvtv_approve(c, e, "OSL-flow-0001");
    assert_int_equal(kv_vipps_get(&p, c, "OSL-flow-0001"), KV_VIPPS_OK);
    assert_int_equal(p.state, KV_VIPPS_STATE_AUTHORIZED);
    assert_int_equal(p.authorized, 14900);

    kv_vipps_modification m;
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-flow-0001", 10000, "NOK",
                                      "OSL-flow-0001-capture-1"), KV_VIPPS_OK);
    assert_int_equal(m.captured, 10000);
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-flow-0001", 4900, "NOK",
                                      "OSL-flow-0001-capture-2"), KV_VIPPS_OK);
    assert_int_equal(m.captured, 14900);
    /* The same key + same body replays the first answer, no new capture. */
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-flow-0001", 4900, "NOK",
                                      "OSL-flow-0001-capture-2"), KV_VIPPS_OK);
    assert_int_equal(kv_vipps_get(&p, c, "OSL-flow-0001"), KV_VIPPS_OK);
    assert_int_equal(p.captured, 14900);

    assert_int_equal(kv_vipps_refund(&m, c, "OSL-flow-0001", 900, "NOK",
                                     "OSL-flow-0001-refund-1"), KV_VIPPS_OK);
    assert_int_equal(m.refunded, 900);
    assert_int_equal(kv_vipps_refund(&m, c, "OSL-flow-0001", 14000, "NOK",
                                     "OSL-flow-0001-refund-2"), KV_VIPPS_OK);
    assert_int_equal(m.refunded, 14900);

    kv_vipps_event *ev = NULL;
    size_t n = 0;
    assert_int_equal(kv_vipps_events(&ev, &n, c, "OSL-flow-0001"), KV_VIPPS_OK);
    int created = 0, authorized = 0, captured = 0, refunded = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(ev[i].name, "CREATED")) created++;
        if (!strcmp(ev[i].name, "AUTHORIZED")) authorized++;
        if (!strcmp(ev[i].name, "CAPTURED") && ev[i].success) captured++;
        if (!strcmp(ev[i].name, "REFUNDED") && ev[i].success) refunded++;
    }
    assert_int_equal(created, 1);
    assert_int_equal(authorized, 1);
    assert_int_equal(captured, 2);
    assert_int_equal(refunded, 2);
    kv_vipps_events_free(ev);

    /* One token for the whole flow (cached), one connection (keep-alive). */
    kv_vipps_stats st;
    kv_vipps_get_stats(c, &st);
    assert_int_equal(st.token_fetches, 1);
    assert_int_equal(st.retries, 0);
    assert_int_equal(st.connects, 1);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_sim__png_cancel_and_transaction_only(void **state)
{
    kvtv_env *e = *state;
    kv_sim *s = kvtv_start_sim(NULL);
    kv_vipps_client *c = kvtv_client(s, e->oslo, NULL, NULL);
    kv_vipps_create_req rq = {
        .reference = "OSL-cancel-01", .amount = 5000, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_QR, .qr_format = KV_VIPPS_QR_PNG, .qr_size = 576,
        .description = "Kvitt", .idempotency_key = "OSL-cancel-01-create",
    };
    kv_vipps_created cr;
    assert_int_equal(kv_vipps_create(&cr, c, &rq), KV_VIPPS_OK);
    assert_non_null(strstr(cr.redirect_url, "http"));
    /* Cancel before authorization: TERMINATED. */
    kv_vipps_modification m;
    assert_int_equal(kv_vipps_cancel(&m, c, "OSL-cancel-01", 1,
                                     "OSL-cancel-01-cancel"), KV_VIPPS_OK);
    kv_vipps_payment p;
    assert_int_equal(kv_vipps_get(&p, c, "OSL-cancel-01"), KV_VIPPS_OK);
    assert_int_equal(p.state, KV_VIPPS_STATE_TERMINATED);

    /* cancelTransactionOnly on an authorized payment: 6060, definite. */
    kvtv_create_qr(c, "OSL-cancel-02", 5000, &cr);
    kvtv_approve(c, e, "OSL-cancel-02");
    assert_int_equal(kv_vipps_cancel(&m, c, "OSL-cancel-02", 1,
                                     "OSL-cancel-02-cancel-1"), KV_VIPPS_E_API);
    const kv_vipps_error *er = kv_vipps_last_error(c);
    assert_int_equal(er->code, 6060);
    assert_int_equal(er->cls, KV_VIPPS_ERR_STATE);
    assert_int_equal(er->http_status, 400);
    /* A full cancel releases the reservation. */
    assert_int_equal(kv_vipps_cancel(&m, c, "OSL-cancel-02", 0,
                                     "OSL-cancel-02-cancel-2"), KV_VIPPS_OK);
    assert_int_equal(m.cancelled, 5000);
    assert_int_equal(m.state, KV_VIPPS_STATE_AUTHORIZED);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

static void test_vipps_sim__push_and_customer_cannot_pay(void **state)
{
    kvtv_env *e = *state;
    kv_sim *s = kvtv_start_sim(NULL);
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.lang = KV_VIPPS_LANG_NB;
    kv_vipps_client *c = kvtv_client(s, e->oslo, NULL, &o);
    kv_vipps_create_req rq = {
        .reference = "OSL-push-0001", .amount = 4900, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_PUSH, .phone = e->phone, .description = "Kvitt",
        .idempotency_key = "OSL-push-0001-create",
    };
    kv_vipps_created cr;
    assert_int_equal(kv_vipps_create(&cr, c, &rq), KV_VIPPS_OK);
    assert_string_equal(cr.redirect_url, "");
    /* An unknown number: 7010, "cannot pay with Vipps MobilePay". */
    rq.reference = "OSL-push-0002";
    rq.idempotency_key = "OSL-push-0002-create";
    rq.phone = "4799999999";
    assert_int_equal(kv_vipps_create(&cr, c, &rq), KV_VIPPS_E_API);
    const kv_vipps_error *er = kv_vipps_last_error(c);
    assert_int_equal(er->code, 7010);
    assert_int_equal(er->cls, KV_VIPPS_ERR_CUSTOMER);
    assert_string_equal(er->cashier, "Kunden kan ikke betale med Vipps MobilePay. "
                        "Bruk en annen betalingsm\xc3\xa5te.");
    assert_null(strstr(er->log, "4799999999"));
    assert_null(strstr(er->cashier, "4799999999"));
    assert_true(er->trace_id[0] != '\0');
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

/* Test-environment magic amounts: 151 (insufficient funds) ends ABORTED,
 * 201 stays unknown (CREATED), refund 123 / 124 are refused. */
static void test_vipps_sim__magic_amounts(void **state)
{
    kvtv_env *e = *state;
    kv_sim *s = kvtv_start_sim(NULL);
    kv_vipps_client *c = kvtv_client(s, e->oslo, NULL, NULL);
    kv_vipps_created cr;
    kvtv_create_qr(c, "OSL-magic-151", 151, &cr);
    assert_int_equal(kv_vipps_test_approve(c, "OSL-magic-151", e->phone), KV_VIPPS_E_API);
    assert_int_equal(kv_vipps_last_error(c)->code, 10010);
    kv_vipps_payment p;
    assert_int_equal(kv_vipps_get(&p, c, "OSL-magic-151"), KV_VIPPS_OK);
    assert_int_equal(p.state, KV_VIPPS_STATE_ABORTED);
    assert_true(kv_vipps_state_final(p.state));
    assert_int_equal(p.authorized, 0);

    kvtv_create_qr(c, "OSL-magic-201", 201, &cr);
    assert_int_equal(kv_vipps_test_approve(c, "OSL-magic-201", e->phone), KV_VIPPS_OK);
    assert_int_equal(kv_vipps_get(&p, c, "OSL-magic-201"), KV_VIPPS_OK);
    assert_int_equal(p.state, KV_VIPPS_STATE_CREATED);

    kvtv_create_qr(c, "OSL-magic-ref", 1000, &cr);
    kvtv_approve(c, e, "OSL-magic-ref");
    kv_vipps_modification m;
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-magic-ref", 1000, "NOK",
                                      "OSL-magic-ref-cap"), KV_VIPPS_OK);
    assert_int_equal(kv_vipps_refund(&m, c, "OSL-magic-ref", 123, "NOK",
                                     "OSL-magic-ref-r123"), KV_VIPPS_E_API);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_STATE);
    assert_int_equal(kv_vipps_refund(&m, c, "OSL-magic-ref", 124, "NOK",
                                     "OSL-magic-ref-r124"), KV_VIPPS_E_API);
    assert_int_equal(kv_vipps_last_error(c)->code, 6220);
    assert_int_equal(kv_vipps_get(&p, c, "OSL-magic-ref"), KV_VIPPS_OK);
    assert_int_equal(p.refunded, 0);
    kv_vipps_client_destroy(c);
    kv_sim_destroy(s);
}

/* Four threads, a client each, one shared DNS/TLS/token cache. */
typedef struct {
    kv_sim *sim;
    const kvtv_env *e;
    kv_vipps_shared *sh;
    int idx;
    int ok;
    unsigned long fetches;
} worker;

static void *work(void *p)
{
    worker *w = p;
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.shared = w->sh;
    o.environment = kv_sim_url(w->sim);
    o.client_id = w->e->oslo->client_id;
    o.client_secret = w->e->oslo->client_secret;
    o.subscription_key = w->e->oslo->subscription_key;
    o.msn = w->e->oslo->msn;
    kv_vipps_client *c = NULL;
    if (kv_vipps_client_create(&c, &o, NULL, 0) != KV_VIPPS_OK)
        return NULL;
    for (int i = 0; i < 10; i++) {
        char ref[40], key[60];
        snprintf(ref, sizeof ref, "OSL-thr%d-%04d", w->idx, i);
        snprintf(key, sizeof key, "%s-create", ref);
        kv_vipps_create_req rq = {
            .reference = ref, .amount = 1000 + i, .currency = "NOK",
            .flow = KV_VIPPS_FLOW_QR, .idempotency_key = key,
        };
        kv_vipps_created cr;
        kv_vipps_payment p2;
        if (kv_vipps_create(&cr, c, &rq) == KV_VIPPS_OK &&
            kv_vipps_get(&p2, c, ref) == KV_VIPPS_OK && p2.amount == 1000 + i)
            w->ok++;
    }
    kv_vipps_stats st;
    kv_vipps_get_stats(c, &st);
    w->fetches = st.token_fetches;
    kv_vipps_client_destroy(c);
    return NULL;
}

static void test_vipps_sim__threads_share_cache(void **state)
{
    kvtv_env *e = *state;
    kv_sim *s = kvtv_start_sim(NULL);
    kv_vipps_shared *sh = NULL;
    assert_int_equal(kv_vipps_shared_create(&sh), KV_VIPPS_OK);
    /* Warm the shared token first, so the threads must all reuse it. */
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.shared = sh;
    kv_vipps_client *c = kvtv_client(s, e->oslo, NULL, &o);
    assert_int_equal(kv_vipps_token_warm(c), KV_VIPPS_OK);
    kv_vipps_client_destroy(c);
    worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){ .sim = s, .e = e, .sh = sh, .idx = i };
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    unsigned long fetches = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 10);
        fetches += w[i].fetches;
    }
    assert_int_equal(fetches, 0);
    assert_int_equal(kvtv_tokens_issued(s), 1);
    kv_vipps_shared_destroy(sh);
    kv_sim_destroy(s);
}

/* The same client against `kvitt sim` as a separate process, as a user
 * runs it: the URL is the first line on stdout (kvts_sim_start). */
static kvts_sim sim_proc; /* stopped by the teardown even on failure */

static int stop_sim_proc(void **state)
{
    (void)state;
    kvt_proc_stop(sim_proc.proc, SIGTERM);
    sim_proc.proc = NULL;
    return 0;
}

static void test_vipps_sim__kvitt_sim_process(void **state)
{
    kvtv_env *e = *state;
    assert_int_equal(kvts_sim_start(&sim_proc, NULL), 0);
    assert_true(!strncmp(sim_proc.url, "http://127.0.0.1:", 17));
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.environment = sim_proc.url;
    o.client_id = e->oslo->client_id;
    o.client_secret = e->oslo->client_secret;
    o.subscription_key = e->oslo->subscription_key;
    o.msn = e->oslo->msn;
    o.total_timeout_ms = 5000;
    kv_vipps_client *c = NULL;
    assert_int_equal(kv_vipps_client_create(&c, &o, NULL, 0), KV_VIPPS_OK);
    kv_vipps_created cr;
    kvtv_create_qr(c, "OSL-process-1", 14900, &cr);
    kvtv_approve(c, e, "OSL-process-1");
    kv_vipps_payment pay;
    assert_int_equal(kv_vipps_get(&pay, c, "OSL-process-1"), KV_VIPPS_OK);
    assert_int_equal(pay.state, KV_VIPPS_STATE_AUTHORIZED);
    kv_vipps_modification m;
    assert_int_equal(kv_vipps_capture(&m, c, "OSL-process-1", 14900, "NOK",
                                      "OSL-process-1-capture"), KV_VIPPS_OK);
    assert_int_equal(m.captured, 14900);
    kv_vipps_client_destroy(c);
    kvts_sim_stop(&sim_proc);    /* SIGTERM: a clean exit, status 0 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vipps_sim__qr_flow_capture_refund),
        cmocka_unit_test(test_vipps_sim__png_cancel_and_transaction_only),
        cmocka_unit_test(test_vipps_sim__push_and_customer_cannot_pay),
        cmocka_unit_test(test_vipps_sim__magic_amounts),
        cmocka_unit_test(test_vipps_sim__threads_share_cache),
        cmocka_unit_test_teardown(test_vipps_sim__kvitt_sim_process, stop_sim_proc),
    };
    return cmocka_run_group_tests_name("vipps_sim_epay", tests, kvtv_setup, kvtv_teardown);
}
