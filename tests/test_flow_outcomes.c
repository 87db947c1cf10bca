/* test_flow_outcomes.c - outcomes of a payment that used to come out
 * wrong (issue 10) and rough edges of the flow (issue 17), end to end: a real `kvitt sim` over HTTP on loopback,
 * `kvitt vprinter` over TCP for the printer link, the daemon as a child
 * process where webhooks/callbacks are involved, and the journal file read
 * back with the journal library.  Nothing is mocked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim.h"
#include "src/config/config.h"
#include "src/journal/journal.h"
#include "src/vipps/vipps.h"
#include "tests/lib/kvflow.h"
#include "tests/lib/kvtest.h"
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

static kvt_serve_env *serve_new(const char *name, const kvt_serve_opts *o)
{
    kvt_serve_env *e = calloc(1, sizeof *e);
    live = e;
    if (kvt_serve_setup(e, name, o) < 0)
        fail_msg("fixture %s did not start", name);
    return e;
}

static void expect_json(const char *out, const char *key, const char *want)
{
    char *v = kvf_json(out, key);
    if (!v || strcmp(v, want) != 0)
        fail_msg("%s: expected \"%s\", got \"%s\" in %s", key, want, v ? v : "(absent)", out);
    free(v);
}

/* POST /v1/payments to the daemon and return the reference (malloc'd). */
static char *serve_pay(kvt_serve_env *e, const char *key, const char *body)
{
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", KVT_TOK_OSLO, key, body), 0);
    if (r.status != 201)
        fail_msg("create answered %ld: %s", r.status, r.body);
    char *ref = kvt_json_str(r.body, "reference");
    assert_non_null(ref);
    kvt_http_free(&r);
    return ref;
}

/* A daemon payment of 1.51 (the simulator's magic declined amount) must
 * end NOT_PAID / DECLINED within 12 s; returns its reference (malloc'd). */
static char *serve_declined(kvt_serve_env *e, const char *key)
{
    char *ref = serve_pay(e, key, "{\"amount\":\"1.51\"}");
    char *done = kvt_serve_wait_state(e, KVT_TOK_OSLO, ref, NULL, 12000);
    if (!done)
        fail_msg("payment %s did not end from its webhook/callback", ref);
    char *st = kvt_json_str(done, "state");
    char *reason = kvt_json_str(done, "reason");
    if (!st || strcmp(st, "NOT_PAID") || !reason || strcmp(reason, "DECLINED"))
        fail_msg("expected NOT_PAID/DECLINED, got %s", done);
    free(st);
    free(reason);
    free(done);
    return ref;
}

/* ---- item 1: a failed AUTHORIZED webhook ---------------------------- */

static void test_outcomes__declined_webhook_never_captures(void **state)
{
    (void)state;
    /* Magic amount 1.51: the simulator sends AUTHORIZED with success=false,
     * then ABORTED.  The first poll is 30 s away, so within the 12 s this
     * test waits only the webhook can end the payment. */
    kvt_serve_opts o = { .poll_first_s = 30, .sim_args = { "--auto", "approve", "--approve-after", "1" } };
    kvt_serve_env *e = serve_new("declined-webhook", &o);
    char *ref = serve_declined(e, "declined-1");
    char path[256];
    snprintf(path, sizeof path, "POST /epayment/v1/payments/%s/capture", ref);
    assert_int_equal(kvt_sim_count(e, path), 0);
    free(ref);
}

/* ---- item 2: a failed eCom reservation ------------------------------- */

static void test_outcomes__ecom_reserve_failed_callback(void **state)
{
    (void)state;
    /* the RESERVE_FAILED callback wakes the waiter; the first poll is 30 s
     * away */
    kvt_serve_opts o = { .poll_first_s = 30, .ecom_oslo = 1, .no_webhooks = 1,
                         .sim_args = { "--auto", "approve", "--approve-after", "1" } };
    kvt_serve_env *e = serve_new("ecom-declined", &o);
    free(serve_declined(e, "ecom-declined-1"));
}

static void test_outcomes__ecom_reserve_failed_polled(void **state)
{
    (void)state;
    /* No daemon: the failed RESERVE is only in the details' history. */
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "ecom-declined-poll", sim), 0);
    assert_int_equal(kvf_set_in(&e, "[store oslo]", "flow", "ecom-qr"), 0);
    kvt_result r;
    const char *args[] = { "pay", "--amount", "1.51", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    if (r.status != 1)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "state", "NOT_PAID");
    expect_json(r.out, "reason", "DECLINED");
    char *np = kvf_json(r.out, "receipt");
    assert_non_null(np);
    assert_true(kvf_file_has(np, "IKKE BETALT"));
    free(np);
    kvt_result_free(&r);
    kvf_stop(&e);
}

/* ---- item 3: the printer link drops in the middle of a job ----------- */

typedef struct vp {
    kvt_proc *proc;
    char *uri;
    char *dir;
} vp;

/* Start `kvitt vprinter` on listen ("127.0.0.1:0" or a fixed port) with
 * an optional --drop-after-bytes. */
static void vp_start(vp *v, const char *dir, const char *listen, const char *drop)
{
    const char *argv[12];
    int n = 0;
    argv[n++] = "kvitt";
    argv[n++] = "vprinter";
    argv[n++] = "--listen";
    argv[n++] = listen;
    argv[n++] = "--out";
    argv[n++] = dir;
    if (drop) {
        argv[n++] = "--drop-after-bytes";
        argv[n++] = drop;
    }
    argv[n] = NULL;
    char *log = kvt_path("%s.log", dir);
    v->proc = kvt_spawn(argv, NULL, log);
    assert_non_null(v->proc);
    v->uri = kvt_proc_readline(v->proc, 10000);
    if (!v->uri)
        fail_msg("vprinter printed no URI; see %s", log);
    v->dir = strdup(dir);
    free(log);
}

static void vp_stop(vp *v)
{
    kvt_proc_stop(v->proc, SIGTERM);
    free(v->uri);
    free(v->dir);
}

static int jobs_with(const char *dir, const char *a, const char *b)
{
    int n = 0;
    for (int i = 1; i < 40; i++) {
        char *p = kvt_path("%s/%04d.bin", dir, i);
        if (kvf_file_has(p, a) && (!b || kvf_file_has(p, b)))
            n++;
        free(p);
    }
    return n;
}

static void test_outcomes__link_drop_cuts_the_slip(void **state)
{
    (void)state;
    /* 100 bytes: the slip (about 300) is cut.  The customer saw no whole
     * QR code, so the payment is cancelled and nothing is captured. */
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "drop-slip", sim), 0);
    char *dir = kvt_path("%s/vp", e.dir);
    vp v;
    vp_start(&v, dir, "127.0.0.1:0", "100");
    kvt_result r;
    const char *args[] = { "pay", "--amount", "20.00", "--printer", v.uri, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    if (r.status != 4)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    char *ref = kvf_json(r.out, "reference");
    assert_non_null(ref);
    expect_json(r.out, "captured", "0.00");
    assert_int_equal(kvf_keys(&e, ref, "/capture", NULL), 0);
    kvt_result_free(&r);
    free(ref);
    vp_stop(&v);
    free(dir);
    kvf_stop(&e);
}

static void test_outcomes__link_drop_queues_the_receipt(void **state)
{
    (void)state;
    /* 600 bytes: the slip (about 300) goes through, the receipt of 40
     * lines (about 2500) is cut.  The sale is captured, the receipt is
     * queued (not confirmed) and `kvitt recover` prints it whole. */
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "drop-receipt", sim), 0);
    /* a native QR keeps the slip small (the default image slip is ~15 KB
     * and would be cut instead of the receipt) */
    assert_int_equal(kvf_set_in(&e, "[store oslo]", "qr_source", "text"), 0);
    char json[8192] = "[";
    for (int i = 0; i < 40; i++) {
        char one[128];
        snprintf(one, sizeof one, "%s{\"name\":\"Item number %d with a long name\",\"unit_price\":\"1.00\"}",
                 i ? "," : "", i);
        strcat(json, one);
    }
    strcat(json, "]");
    char *items = kvt_path("%s/items.json", e.dir);
    assert_int_equal(kvt_write_file(items, json, strlen(json)), 0);
    char *dir = kvt_path("%s/vp", e.dir);
    vp v;
    vp_start(&v, dir, "127.0.0.1:0", "600");
    char listen[64];
    snprintf(listen, sizeof listen, "%s", v.uri + strlen("tcp://"));
    kvt_result r;
    const char *args[] = { "pay", "--amount", "40.00", "--items", items, "--printer", v.uri, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    if (r.status != 0)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "captured", "40.00");
    expect_json(r.out, "receipt_queued", "true");
    expect_json(r.out, "state", "CAPTURED");
    char *ref = kvf_json(r.out, "reference");
    assert_non_null(ref);
    kvt_result_free(&r);
    /* the journal does not call the cut receipt confirmed */
    char *jpath = kvt_path("%s/kvitt-journal.db", e.dir);
    kv_journal *j = NULL;
    assert_int_equal(kv_journal_open(&j, jpath, NULL, 0), KV_J_OK);
    kv_print_job pj;
    assert_int_equal(kv_journal_job_last(j, &pj, ref, KV_DOC_RECEIPT), KV_J_OK);
    assert_int_not_equal(pj.state, KV_PJ_CONFIRMED);
    kv_journal_close(j);
    /* the printer is mended (same address, no drop): recover prints it */
    vp_stop(&v);
    vp_start(&v, dir, listen, NULL);
    const char *rargs[] = { "recover", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, rargs), 0);
    if (r.status != 0)
        fail_msg("recover exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "reprinted", "1");
    kvt_result_free(&r);
    const char *sargs[] = { "status", "--local", "--reference", ref, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, sargs), 0);
    expect_json(r.out, "state", "DONE");
    kvt_result_free(&r);
    /* a whole receipt (its last item and the reference).  The socket took
     * every byte before the printer hung up, so kvitt cannot know whether
     * a complete receipt came out: the reprint is marked KOPI (never two
     * originals of one sale). */
    assert_true(kvt_jobs_wait(dir, "Item number 39", 1, 10000) >= 1);
    assert_int_equal(jobs_with(dir, "Item number 39", ref), 1);
    assert_int_equal(jobs_with(dir, "KOPI", ref), 1);
    vp_stop(&v);
    free(jpath);
    free(ref);
    free(dir);
    free(items);
    kvf_stop(&e);
}

/* `kvitt pay` killed by the flow's test hook at step; ref is the reference. */
static void pay_killed_at(kvf_env *e, const char *step, const char *ref, const char *amount)
{
    char *hook = kvt_path("KVITT_TEST_CRASH_AT=%s", step);
    const char *env[] = { hook, NULL };
    kvt_result r;
    const char *args[] = { "pay", "--amount", amount, "--reference", ref, "--no-recover", "--json", NULL };
    assert_int_equal(kvf_kvitt(e, &r, env, args), 0);
    if (r.status != 128 + 9)
        fail_msg("expected death by SIGKILL at %s, exit %d: %s %s", step, r.status, r.out, r.err);
    kvt_result_free(&r);
    free(hook);
}

/* `kvitt recover`, which must exit 0. */
static void recover_ok(kvf_env *e)
{
    kvt_result r;
    const char *rargs[] = { "recover", "--json", NULL };
    assert_int_equal(kvf_kvitt(e, &r, NULL, rargs), 0);
    if (r.status != 0)
        fail_msg("recover exit %d: %s %s", r.status, r.out, r.err);
    kvt_result_free(&r);
}

/* ---- item 4: recover prints the not-paid slip ------------------------ */

static void test_outcomes__recover_prints_not_paid_slip(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "abort", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "recover-np", sim), 0);
    char ref[64];
    snprintf(ref, sizeof ref, "RECNP-%ld", (long)time(NULL));
    pay_killed_at(&e, "slip", ref, "30.00");
    assert_int_equal(kvf_jobs(&e, "oslo"), 1); /* the QR slip */
    usleep(1500000); /* the customer aborts 1 s after the create */
    recover_ok(&e);
    kvt_result r;
    const char *sargs[] = { "status", "--local", "--reference", ref, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, sargs), 0);
    expect_json(r.out, "state", "NOT_PAID");
    kvt_result_free(&r);
    assert_int_equal(kvf_jobs(&e, "oslo"), 2);
    char *p = kvt_path("%s/printer/oslo/0002.bin", e.dir);
    assert_true(kvf_file_has(p, "IKKE BETALT"));
    assert_true(kvf_file_has(p, ref));
    free(p);
    recover_ok(&e); /* a second recover prints nothing more */
    assert_int_equal(kvf_jobs(&e, "oslo"), 2);
    kvf_stop(&e);
}

/* ---- item 7: a malformed printer address ----------------------------- */

static void test_outcomes__bad_printer_uri_creates_nothing(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "bad-printer", sim), 0);
    char ref[64];
    snprintf(ref, sizeof ref, "BADPR-%ld", (long)time(NULL));
    kvt_result r;
    const char *args[] = { "pay", "--amount", "10.00", "--reference", ref, "--printer", "foo://bar", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    if (r.status != 2)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    assert_non_null(strstr(r.err, "printer"));
    assert_non_null(strstr(r.err, "foo:"));
    kvt_result_free(&r);
    assert_int_equal(kvf_keys(&e, ref, "", NULL), 0);
    const char *fargs[] = { "find", "--reference", ref, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, fargs), 0);
    assert_non_null(strstr(r.out, "\"count\":0"));
    kvt_result_free(&r);
    kvf_stop(&e);
}

/* ---- item 8: a refund keeps its own transaction id ------------------- */

static void test_outcomes__refund_keeps_the_sale_psp(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "refund-psp", sim), 0);
    kvt_result r;
    const char *args[] = { "pay", "--amount", "50.00", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    assert_int_equal(r.status, 0);
    char *ref = kvf_json(r.out, "reference");
    char *psp = kvf_json(r.out, "psp_reference");
    char *receipt = kvf_json(r.out, "receipt");
    assert_non_null(ref);
    assert_non_null(psp);
    assert_true(psp[0] != 0);
    assert_true(kvf_file_has(receipt, psp));
    kvt_result_free(&r);
    const char *rf[] = { "refund", "--reference", ref, "--amount", "10.00", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, rf), 0);
    assert_int_equal(r.status, 0);
    char *rslip = kvf_json(r.out, "receipt");
    assert_non_null(rslip);
    kvt_result_free(&r);
    const char *sargs[] = { "status", "--local", "--reference", ref, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, sargs), 0);
    expect_json(r.out, "psp_reference", psp);
    kvt_result_free(&r);
    const char *rp[] = { "reprint", "--reference", ref, "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, rp), 0);
    assert_int_equal(r.status, 0);
    char *copy = kvf_json(r.out, "receipt");
    assert_true(kvf_file_has(copy, psp));
    /* the refund slip names its own transaction, not the sale's */
    assert_false(kvf_file_has(rslip, psp));
    kvt_result_free(&r);
    free(copy);
    free(rslip);
    free(receipt);
    free(psp);
    free(ref);
    kvf_stop(&e);
}

/* ---- item 10: idempotency keys of long references -------------------- */

static void test_outcomes__long_references_keep_keys_unique(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "long-ref", sim), 0);
    /* two 50-character references that differ only at the end */
    char a[80], b[80];
    snprintf(a, sizeof a, "LONG-%ld-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", (long)time(NULL));
    a[48] = 0;
    memcpy(b, a, 49);
    strcat(a, "-1");
    strcat(b, "-2");
    assert_int_equal(strlen(a), 50);
    const char *refs[] = { a, b };
    for (int i = 0; i < 2; i++) {
        kvt_result r;
        const char *args[] = { "pay", "--amount", "25.00", "--reference", refs[i], "--json", NULL };
        assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
        if (r.status != 0)
            fail_msg("%s: exit %d: %s %s", refs[i], r.status, r.out, r.err);
        expect_json(r.out, "state", "DONE");
        kvt_result_free(&r);
        assert_int_equal(kvf_keys(&e, refs[i], "/capture", NULL), 1);
    }
    /* every key within the API's 50 characters, none shared */
    char *jpath = kvt_path("%s/kvitt-journal.db", e.dir);
    kv_journal *j = NULL;
    assert_int_equal(kv_journal_open(&j, jpath, NULL, 0), KV_J_OK);
    kv_journal_op oa, ob;
    assert_int_equal(kv_journal_op_last(j, &oa, a, KV_OP_CAPTURE), KV_J_OK);
    assert_int_equal(kv_journal_op_last(j, &ob, b, KV_OP_CAPTURE), KV_J_OK);
    assert_true(strlen(oa.idem_key) <= 50 && strlen(ob.idem_key) <= 50);
    assert_string_not_equal(oa.idem_key, ob.idem_key);
    kv_journal_close(j);
    free(jpath);
    kvf_stop(&e);
}

/* ---- item 12: operations settled by recover -------------------------- */

static void test_outcomes__recover_settles_pending_capture(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "settle-capture", sim), 0);
    char ref[64];
    snprintf(ref, sizeof ref, "SETTLE-%ld", (long)time(NULL));
    /* killed after the capture request went out, before its answer was
     * journaled: Vipps captured, the journal's operation is pending */
    pay_killed_at(&e, "capture-sent", ref, "30.00");
    recover_ok(&e);
    assert_int_equal(kvf_keys(&e, ref, "/capture", NULL), 1);
    char *jpath = kvt_path("%s/kvitt-journal.db", e.dir);
    kv_journal *j = NULL;
    assert_int_equal(kv_journal_open(&j, jpath, NULL, 0), KV_J_OK);
    kv_payment p;
    assert_int_equal(kv_journal_get_payment(j, &p, ref), KV_J_OK);
    assert_int_equal(p.state, KV_PAY_DONE);
    kv_journal_op op;
    assert_int_equal(kv_journal_op_last(j, &op, ref, KV_OP_CAPTURE), KV_J_OK);
    assert_int_equal(op.result, KV_OPR_OK);
    kv_journal_close(j);
    free(jpath);
    kvf_stop(&e);
}

/* ---- issue 17: one reference format, clear parser errors ------------- */

/* PREFIX-YYYYMMDDHHMMSS-<10 lower-case hex digits> */
static int reference_format_ok(const char *ref, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(ref, prefix, pl) || ref[pl] != '-' || strlen(ref) != pl + 1 + 14 + 1 + 10)
        return 0;
    const char *t = ref + pl + 1;
    for (int i = 0; i < 14; i++)
        if (t[i] < '0' || t[i] > '9')
            return 0;
    if (t[14] != '-')
        return 0;
    for (int i = 15; i < 25; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
            return 0;
    return 1;
}

static void test_outcomes__pay_and_serve_make_one_reference_format(void **state)
{
    (void)state;
    kvt_serve_opts o = { .no_webhooks = 1, .sim_args = { "--auto", "approve", "--approve-after", "1" } };
    kvt_serve_env *e = serve_new("ref-format", &o);
    char *sref = serve_pay(e, "ref-format-1", "{\"amount\":\"12.00\"}");
    if (!reference_format_ok(sref, "OSL"))
        fail_msg("daemon reference %s is not OSL-YYYYMMDDHHMMSS-xxxxxxxxxx", sref);
    free(kvt_serve_wait_state(e, KVT_TOK_OSLO, sref, NULL, 20000));
    kvt_result r;
    const char *args[] = { "kvitt", "--config", e->conf, "pay", "--amount", "12.00", "--store", "oslo", "--json", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, args), 0);
    if (r.status != 0)
        fail_msg("pay exit %d: %s %s", r.status, r.out, r.err);
    char *pref = kvt_json_str(r.out, "reference");
    assert_non_null(pref);
    if (!reference_format_ok(pref, "OSL"))
        fail_msg("kvitt pay reference %s is not OSL-YYYYMMDDHHMMSS-xxxxxxxxxx", pref);
    kvt_result_free(&r);
    free(pref);
    free(sref);
}

static void test_outcomes__amount_and_item_errors_say_what_is_wrong(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "parse-errors", sim), 0);
    kvt_result r;
    const char *a1[] = { "pay", "--amount", "1.234,50", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, a1), 0);
    assert_int_equal(r.status, 2);
    if (!strstr(r.err, "thousands separators are not accepted") || !strstr(r.err, "1234.50"))
        fail_msg("1.234,50: %s", r.err);
    kvt_result_free(&r);
    const char *a2[] = { "pay", "--amount", "1 234", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, a2), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "thousands separators"));
    kvt_result_free(&r);
    const char *a3[] = { "pay", "--amount", "12.3456", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, a3), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "more than two decimals"));
    kvt_result_free(&r);
    char *items = kvt_path("%s/items.json", e.dir);
    const char *json = "[{\"name\":\"Latte\",\"qty\":2,\"unit_price\":\"49.50\"}]";
    assert_int_equal(kvt_write_file(items, json, strlen(json)), 0);
    const char *a4[] = { "pay", "--amount", "49.50", "--items", items, NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, a4), 0);
    if (r.status != 2 || !strstr(r.err, "\"qty\""))
        fail_msg("unknown item key: exit %d: %s", r.status, r.err);
    kvt_result_free(&r);
    /* nothing was created for any of them */
    const char *fargs[] = { "find", "--store", "oslo", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, fargs), 0);
    assert_non_null(strstr(r.out, "\"count\":0"));
    kvt_result_free(&r);
    free(items);
    kvf_stop(&e);
}

/* ---- receipts in the app: ePayment create, Order Management outbox --- */

static char *items_file(kvf_env *e)
{
    char *items = kvt_path("%s/items.json", e->dir);
    const char *json = "[{\"name\":\"Kaffe\",\"quantity\":2,\"unit_price\":\"35.00\",\"vat_rate\":15},"
                       "{\"name\":\"Bolle\",\"unit_price\":\"40.00\",\"vat_rate\":15}]";
    assert_int_equal(kvt_write_file(items, json, strlen(json)), 0);
    return items;
}

/* Pay 110.00 with two items; returns the reference (malloc'd). */
static char *pay_items(kvf_env *e)
{
    char *items = items_file(e);
    kvt_result r;
    const char *args[] = { "pay", "--amount", "110.00", "--items", items, "--json", NULL };
    assert_int_equal(kvf_kvitt(e, &r, NULL, args), 0);
    if (r.status != 0)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "state", "DONE");
    char *ref = kvf_json(r.out, "reference");
    assert_non_null(ref);
    kvt_result_free(&r);
    free(items);
    return ref;
}

/* Requests the simulator saw for METHOD path (from /sim/v1/stats). */
static int sim_count(kvf_env *e, const char *method, const char *path)
{
    long st = 0;
    char *body = kvf_http(e, "GET", "/sim/v1/stats", NULL, &st);
    assert_non_null(body);
    char key[300];
    snprintf(key, sizeof key, "\"%s %s\":", method, path);
    const char *hit = strstr(body, key);
    int n = hit ? atoi(hit + strlen(key)) : 0;
    free(body);
    return n;
}

static kv_om_entry om_entry(kvf_env *e, const char *ref)
{
    char *jpath = kvt_path("%s/kvitt-journal.db", e->dir);
    kv_journal *j = NULL;
    assert_int_equal(kv_journal_open(&j, jpath, NULL, 0), KV_J_OK);
    kv_om_entry o;
    memset(&o, 0, sizeof o);
    kv_journal_status st = kv_journal_om_get(j, &o, ref);
    kv_journal_close(j);
    free(jpath);
    if (st != KV_J_OK)
        fail_msg("no outbox row for %s", ref);
    return o;
}

static void test_outcomes__ecom_receipt_goes_through_the_outbox_once(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "om-ecom", sim), 0);
    assert_int_equal(kvf_set_in(&e, "[store oslo]", "flow", "ecom-qr"), 0);
    char *ref = pay_items(&e);
    char path[200];
    snprintf(path, sizeof path, "/order-management/v2/ECOM/receipts/%s", ref);
    assert_int_equal(sim_count(&e, "POST", path), 1);
    kv_om_entry o = om_entry(&e, ref);
    assert_int_equal(o.state, KV_OM_DELIVERED);
    recover_ok(&e); /* nothing left to send: no second POST */
    assert_int_equal(sim_count(&e, "POST", path), 1);
    free(ref);
    kvf_stop(&e);
}

static void test_outcomes__ecom_receipt_retried_until_accepted(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "om-retry", sim), 0);
    assert_int_equal(kvf_set_in(&e, "[store oslo]", "flow", "ecom-qr"), 0);
    /* Order Management is down for the sale: the paper receipt and the
     * money are not held up, the app receipt waits in the journal */
    assert_int_equal(kvf_fault(&e, "{\"method\":\"POST\",\"path\":\"/order-management/*\",\"count\":20,"
                                    "\"action\":\"status\",\"status\":503}"), 0);
    char *ref = pay_items(&e);
    kv_om_entry o = om_entry(&e, ref);
    assert_int_equal(o.state, KV_OM_PENDING);
    assert_true(o.attempts >= 1);
    assert_true(o.next_at > (int64_t)time(NULL));
    long st = 0;
    free(kvf_http(&e, "DELETE", "/sim/v1/faults", NULL, &st));
    recover_ok(&e);
    o = om_entry(&e, ref);
    assert_int_equal(o.state, KV_OM_DELIVERED);
    char path[200];
    snprintf(path, sizeof path, "/order-management/v2/ECOM/receipts/%s", ref);
    int sent = sim_count(&e, "POST", path);
    recover_ok(&e);
    assert_int_equal(sim_count(&e, "POST", path), sent);
    free(ref);
    kvf_stop(&e);
}

static void test_outcomes__app_receipt_409_counts_as_delivered(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "om-409", sim), 0);
    assert_int_equal(kvf_set_in(&e, "[store oslo]", "flow", "ecom-qr"), 0);
    assert_int_equal(kvf_fault(&e, "{\"method\":\"POST\",\"path\":\"/order-management/*\",\"count\":5,"
                                    "\"action\":\"status\",\"status\":409}"), 0);
    char *ref = pay_items(&e);
    kv_om_entry o = om_entry(&e, ref);
    assert_int_equal(o.state, KV_OM_DELIVERED);
    assert_non_null(strstr(o.detail, "409"));
    free(ref);
    kvf_stop(&e);
}

static void test_outcomes__app_receipt_off_is_skipped(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "om-off", sim), 0);
    assert_int_equal(kvf_set_in(&e, "[store oslo]", "flow", "ecom-qr"), 0);
    /* order_management is not in the simulator's config: add it */
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(e.conf, &buf, &len), 0);
    char *text = kvt_path("%.*s", (int)len, (char *)buf);
    free(buf);
    char *at = strstr(text, "[kvitt]\n");
    assert_non_null(at);
    at += strlen("[kvitt]\n");
    char *conf = kvt_path("%.*sorder_management = off\n%s", (int)(at - text), text, at);
    assert_int_equal(kvt_write_file(e.conf, conf, strlen(conf)), 0);
    char *ref = pay_items(&e);
    kv_om_entry o = om_entry(&e, ref);
    assert_int_equal(o.state, KV_OM_SKIPPED);
    assert_non_null(strstr(o.detail, "order_management = off"));
    char path[200];
    snprintf(path, sizeof path, "/order-management/v2/ECOM/receipts/%s", ref);
    assert_int_equal(sim_count(&e, "POST", path), 0);
    /* a value it does not know is a configuration error */
    assert_int_equal(kvf_set(&e, "order_management", "maybe"), 0);
    kvt_result r;
    const char *args[] = { "pay", "--amount", "10.00", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    assert_int_equal(r.status, 3);
    assert_non_null(strstr(r.err, "order_management"));
    kvt_result_free(&r);
    free(conf);
    free(text);
    free(ref);
    kvf_stop(&e);
}

static void test_outcomes__epayment_create_carries_the_receipt(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "om-epay", sim), 0);
    char *ref = pay_items(&e);
    /* no Order Management call: the receipt went with the create ... */
    char path[200];
    snprintf(path, sizeof path, "/order-management/v2/ECOM/receipts/%s", ref);
    assert_int_equal(sim_count(&e, "POST", path), 0);
    /* ... and the service has it: adding one now is refused as a duplicate */
    kv_config *cfg = NULL;
    char err[256] = "";
    assert_int_equal(kv_config_load(&cfg, e.conf, err, sizeof err), KV_C_OK);
    const kv_store *s = kv_config_store(cfg, "oslo");
    const kv_credentials *cr = kv_config_credentials(cfg, s);
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.environment = kv_config_main_get(cfg)->environment;
    o.client_id = cr->client_id;
    o.client_secret = cr->client_secret;
    o.subscription_key = cr->subscription_key;
    o.msn = s->msn;
    o.system_name = "kvitt-test";
    o.system_version = "1";
    o.plugin_name = "kvitt-test";
    o.plugin_version = "1";
    kv_vipps_client *c = NULL;
    assert_int_equal(kv_vipps_client_create(&c, &o, err, sizeof err), KV_VIPPS_OK);
    kv_vipps_order_line line = { .id = "1", .name = "x", .total_amount = 11000, .total_amount_excl_tax = 11000,
                                 .tax_rate = 0 };
    kv_vipps_receipt rc = { .lines = &line, .n_lines = 1, .currency = "NOK" };
    assert_int_equal(kv_vipps_om_add_receipt(c, ref, &rc), KV_VIPPS_E_API);
    assert_int_equal(kv_vipps_last_error(c)->cls, KV_VIPPS_ERR_CONFLICT);
    kv_vipps_client_destroy(c);
    kv_config_free(cfg);
    free(ref);
    kvf_stop(&e);
}

/* ---- customerInteraction: a push to a customer who is not present ---- */

static void known_phone(char *phone, size_t len)
{
    const char *known = kv_sim_known_phones();
    size_t pl = strcspn(known, ",");
    assert_true(pl > 0 && pl < len);
    memcpy(phone, known, pl);
    phone[pl] = '\0';
}

static void test_outcomes__not_present_push_needs_the_receipt(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "not-present", sim), 0);
    char phone[32];
    known_phone(phone, sizeof phone);
    kvt_result r;
    /* no items: refused before anything is sent */
    const char *a1[] = { "pay", "--amount", "110.00", "--phone", phone, "--not-present", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, a1), 0);
    if (r.status != 2 || !strstr(r.err, "receipt in the app is mandatory"))
        fail_msg("exit %d: %s", r.status, r.err);
    kvt_result_free(&r);
    /* not a push: refused */
    const char *a2[] = { "pay", "--amount", "110.00", "--not-present", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, a2), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "phone"));
    kvt_result_free(&r);
    const char *fargs[] = { "find", "--store", "oslo", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, fargs), 0);
    assert_non_null(strstr(r.out, "\"count\":0"));
    kvt_result_free(&r);
    /* with the items: paid, the receipt went with the create */
    char *items = items_file(&e);
    const char *a3[] = { "pay", "--amount", "110.00", "--phone", phone, "--not-present", "--items", items,
                         "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, a3), 0);
    if (r.status != 0)
        fail_msg("exit %d: %s %s", r.status, r.out, r.err);
    expect_json(r.out, "state", "DONE");
    kvt_result_free(&r);
    free(items);
    kvf_stop(&e);
}

static void test_outcomes__daemon_customer_present_false(void **state)
{
    (void)state;
    kvt_serve_opts o = { .no_webhooks = 1, .sim_args = { "--auto", "approve", "--approve-after", "1" } };
    kvt_serve_env *e = serve_new("not-present-serve", &o);
    char phone[32], body[512];
    known_phone(phone, sizeof phone);
    kvt_http_resp r;
    snprintf(body, sizeof body, "{\"amount\":\"110.00\",\"phone\":\"%s\",\"customerPresent\":false}", phone);
    assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", KVT_TOK_OSLO, "np-1", body), 0);
    if (r.status != 400 || !strstr(r.body, "items"))
        fail_msg("without items: %ld %s", r.status, r.body);
    kvt_http_free(&r);
    assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", KVT_TOK_OSLO, "np-2",
                                   "{\"amount\":\"110.00\",\"customerPresent\":\"no\"}"), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "customerPresent"));
    kvt_http_free(&r);
    snprintf(body, sizeof body,
             "{\"amount\":\"110.00\",\"phone\":\"%s\",\"customerPresent\":false,\"items\":"
             "[{\"name\":\"Kaffe\",\"quantity\":2,\"unit_price\":\"35.00\"},"
             "{\"name\":\"Bolle\",\"unit_price\":\"40.00\"}]}", phone);
    char *ref = serve_pay(e, "np-3", body);
    char *done = kvt_serve_wait_state(e, KVT_TOK_OSLO, ref, "DONE", 20000);
    assert_non_null(done);
    free(done);
    free(ref);
}

/* ---- the slip's "valid until" and eCom's callbackPrefix --------------- */

static void test_outcomes__slip_valid_until_is_when_the_till_gives_up(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "valid-until", sim), 0);
    /* payment_timeout_s = 20 (kvf_start); --timeout 180: 3 minutes, far
     * inside the QR's 10 */
    kvt_result r;
    const char *args[] = { "pay", "--amount", "20.00", "--timeout", "180", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    assert_int_equal(r.status, 0);
    cJSON *o = cJSON_Parse(r.out);
    const cJSON *created = cJSON_GetObjectItemCaseSensitive(o, "created_at");
    assert_true(cJSON_IsNumber(created));
    time_t t = (time_t)created->valuedouble + 180;
    cJSON_Delete(o);
    char *slip = kvf_json(r.out, "slip");
    assert_non_null(slip);
    struct tm tm;
    localtime_r(&t, &tm);
    char want[64];
    strftime(want, sizeof want, "Gyldig til %H:%M", &tm);
    if (!kvf_file_has(slip, want))
        fail_msg("the slip does not say \"%s\" (created + 180 s)", want);
    free(slip);
    kvt_result_free(&r);
    kvf_stop(&e);
}

/* The URL of the first callback the simulator queued for ref (malloc'd). */
static char *callback_url(kvf_env *e, const char *ref)
{
    long st = 0;
    char *body = kvf_http(e, "GET", "/sim/v1/webhooks/deliveries", NULL, &st);
    assert_non_null(body);
    cJSON *a = cJSON_Parse(body);
    free(body);
    char *url = NULL;
    const cJSON *d;
    cJSON_ArrayForEach(d, a) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(d, "url");
        const cJSON *rf = cJSON_GetObjectItemCaseSensitive(d, "reference");
        if (!url && cJSON_IsString(u) && cJSON_IsString(rf) && !strcmp(rf->valuestring, ref))
            url = strdup(u->valuestring);
    }
    cJSON_Delete(a);
    if (!url)
        fail_msg("no callback queued for %s", ref);
    return url;
}

static void test_outcomes__ecom_callbacks_never_go_to_the_website(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "callback-prefix", sim), 0);
    assert_int_equal(kvf_set_in(&e, "[store oslo]", "flow", "ecom-qr"), 0);
    /* no daemon configured: not the store's website (https://example.no) */
    kvt_result r;
    const char *args[] = { "pay", "--amount", "20.00", "--json", NULL };
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    assert_int_equal(r.status, 0);
    char *ref = kvf_json(r.out, "reference");
    kvt_result_free(&r);
    char *url = callback_url(&e, ref);
    if (strstr(url, "example.no"))
        fail_msg("callbacks go to the merchant's website: %s", url);
    assert_non_null(strstr(url, ".invalid/"));
    free(url);
    free(ref);
    /* a daemon behind a path prefix: the prefix is kept (port 9 on
     * loopback: nothing listens, the one attempt fails at once) */
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(e.conf, &buf, &len), 0);
    char *conf = kvt_path("%.*s\n[serve]\nwebhook_url = http://127.0.0.1:9/kvitt/webhooks/vipps\n",
                          (int)len, (char *)buf);
    free(buf);
    assert_int_equal(kvt_write_file(e.conf, conf, strlen(conf)), 0);
    free(conf);
    assert_int_equal(kvf_kvitt(&e, &r, NULL, args), 0);
    assert_int_equal(r.status, 0);
    ref = kvf_json(r.out, "reference");
    kvt_result_free(&r);
    url = callback_url(&e, ref);
    char want[160];
    snprintf(want, sizeof want, "http://127.0.0.1:9/kvitt/callbacks/v2/payments/%s", ref);
    assert_string_equal(url, want);
    free(url);
    free(ref);
    kvf_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_outcomes__declined_webhook_never_captures, cleanup),
        cmocka_unit_test_teardown(test_outcomes__ecom_reserve_failed_callback, cleanup),
        cmocka_unit_test(test_outcomes__ecom_reserve_failed_polled),
        cmocka_unit_test(test_outcomes__link_drop_cuts_the_slip),
        cmocka_unit_test(test_outcomes__link_drop_queues_the_receipt),
        cmocka_unit_test(test_outcomes__recover_prints_not_paid_slip),
        cmocka_unit_test(test_outcomes__bad_printer_uri_creates_nothing),
        cmocka_unit_test(test_outcomes__refund_keeps_the_sale_psp),
        cmocka_unit_test(test_outcomes__long_references_keep_keys_unique),
        cmocka_unit_test(test_outcomes__recover_settles_pending_capture),
        cmocka_unit_test_teardown(test_outcomes__pay_and_serve_make_one_reference_format, cleanup),
        cmocka_unit_test(test_outcomes__amount_and_item_errors_say_what_is_wrong),
        cmocka_unit_test(test_outcomes__ecom_receipt_goes_through_the_outbox_once),
        cmocka_unit_test(test_outcomes__ecom_receipt_retried_until_accepted),
        cmocka_unit_test(test_outcomes__app_receipt_409_counts_as_delivered),
        cmocka_unit_test(test_outcomes__app_receipt_off_is_skipped),
        cmocka_unit_test(test_outcomes__epayment_create_carries_the_receipt),
        cmocka_unit_test(test_outcomes__not_present_push_needs_the_receipt),
        cmocka_unit_test_teardown(test_outcomes__daemon_customer_present_false, cleanup),
        cmocka_unit_test(test_outcomes__slip_valid_until_is_when_the_till_gives_up),
        cmocka_unit_test(test_outcomes__ecom_callbacks_never_go_to_the_website),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
