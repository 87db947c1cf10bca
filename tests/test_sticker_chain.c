/* test_sticker_chain.c - the sticker flow on a chain: two `kvitt serve`
 * instances on one PostgreSQL journal.  The till talks to instance B (it
 * owns the till's waiting amount); the simulator delivers the customer's
 * check-in (user.checked-in.v1) to instance A, the registered URL.  In
 * either order the check-in and the amount meet once: one create, one
 * capture, the receipt on the till's printer, and the create is B's (A's
 * pairing woke B through NOTIFY).  Real parts: a PostgreSQL server
 * (tests/lib/kvpg.c), the simulator, a vprinter and both daemons as child
 * processes on loopback.  Prints SKIP when PostgreSQL is not installed. */
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

#include <cjson/cJSON.h>

#include "src/journal/journal_sticker.h"
#include "tests/lib/kvpg.h"
#include "tests/lib/kvtserve.h"

static kvt_serve_env *live;
static kvt_proc *second;

static int cleanup(void **state)
{
    (void)state;
    kvt_proc_stop(second, SIGTERM);
    second = NULL;
    if (live) {
        kvt_serve_teardown(live);
        free(live);
        live = NULL;
    }
    return 0;
}

static kvt_serve_env *env_new(const char *name)
{
    kvt_serve_opts o = { .vprinter = 1, .no_webhooks = 1 };
    kvt_serve_env *e = calloc(1, sizeof *e);
    live = e;
    if (kvt_serve_setup(e, name, &o) < 0)
        fail_msg("fixture %s did not start", name);
    assert_non_null(strstr(e->journal, "postgresql://"));
    return e;
}

static void run_ok(kvt_serve_env *e, const char *const *args)
{
    const char *argv[16] = { "kvitt", "--config", e->conf };
    int n = 3;
    for (; *args && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, argv), 0);
    if (r.status != 0)
        printf("%s %s: %s\n", argv[3], argv[4] ? argv[4] : "", r.err);
    assert_int_equal(r.status, 0);
    kvt_result_free(&r);
}

/* A request to B with the till's token. */
static long b_req(kvt_http_resp *r, const char *base, const char *method, const char *path, const char *key,
                  const char *body)
{
    char url[256], auth[128], idem[160];
    snprintf(url, sizeof url, "%s%s", base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", KVT_TOK_OSLO);
    snprintf(idem, sizeof idem, "Idempotency-Key: %s", key ? key : "none");
    const char *h[] = { auth, key ? idem : "Accept: application/json", "Content-Type: application/json", NULL };
    if (kvt_http(r, method, url, h, body, body ? strlen(body) : 0, 30000) != 0)
        return 0;
    return r->status;
}

/* The customer scans the till's sticker (the simulator delivers the
 * check-in to A). */
static void scan(kvt_serve_env *e)
{
    kvt_http_resp r;
    assert_int_equal(kvt_sim_req(&r, e, "POST", "/sim/v1/stickers/kvitt-t-oslo/scan",
                                 "{\"phone\":\"4791234567\"}"), 0);
    if (r.status != 200)
        printf("scan: %ld %s\n", r.status, r.body);
    assert_int_equal(r.status, 200);
    kvt_http_free(&r);
}

static void wait_checkins(kvt_serve_env *e, int want)
{
    assert_int_equal(kvt_sim_wait_delivered(e, "user.checked-in.v1", want, 15000), want);
}

static void approve(kvt_serve_env *e, const char *ref)
{
    char path[200];
    snprintf(path, sizeof path, "/sim/v1/payments/%s/state", ref);
    for (int i = 0; i < 200; i++) { /* the payment reaches the simulator first */
        kvt_http_resp r;
        assert_int_equal(kvt_sim_req(&r, e, "POST", path, "{\"state\":\"approve\"}"), 0);
        long st = r.status;
        kvt_http_free(&r);
        if (st == 200)
            return;
        usleep(100000);
    }
    fail_msg("the simulator never had payment %s", ref);
}

/* Distinct idempotency keys the simulator saw on path. */
static int keys_on(kvt_serve_env *e, const char *path)
{
    kvt_http_resp r;
    int n = -1;
    if (kvt_sim_req(&r, e, "GET", "/sim/v1/stats", NULL) == 0 && r.status == 200) {
        n = 0;
        cJSON *j = cJSON_Parse(r.body);
        const cJSON *k;
        cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(j, "idempotencyKeys")) {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(k, "path");
            if (cJSON_IsString(p) && strcmp(p->valuestring, path) == 0)
                n++;
        }
        cJSON_Delete(j);
    }
    kvt_http_free(&r);
    return n;
}

/* The sticker lines of a daemon's log, for a failure's message. */
static void show_log(const char *name, const char *path)
{
    unsigned char *b = NULL;
    size_t n = 0;
    if (kvt_read_file(path, &b, &n) != 0)
        return;
    printf("---- %s ----\n", name);
    char *save = NULL;
    for (char *l = strtok_r((char *)b, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (strstr(l, "sticker.") || strstr(l, "payment."))
            printf("%s\n", l);
    free(b);
}

static int log_has(const char *path, const char *needle)
{
    unsigned char *b = NULL;
    size_t n = 0;
    if (kvt_read_file(path, &b, &n) != 0)
        return 0;
    int yes = memmem(b, n, needle, strlen(needle)) != NULL;
    free(b);
    return yes;
}

/* One sticker payment of minor through B: the amount first (202, then the
 * scan at A) or the scan first (then 201).  Checks one create, one
 * capture, the receipt, and who created it. */
static void one_payment(kvt_serve_env *e, const char *burl, const char *blog, int amount_first, long minor,
                        int nth)
{
    int creates0 = kvt_sim_count(e, "POST /epayment/v1/payments");
    char body[128], key[32];
    snprintf(body, sizeof body, "{\"amountMinor\":%ld,\"flow\":\"sticker\"}", minor);
    snprintf(key, sizeof key, "stkc-%d", nth);
    if (!amount_first) {
        scan(e);
        wait_checkins(e, nth);
    }
    kvt_http_resp r;
    long st = b_req(&r, burl, "POST", "/v1/payments", key, body);
    if (st != (amount_first ? 202 : 201))
        printf("B answered %ld: %s\n", st, r.body ? r.body : "");
    assert_int_equal(st, amount_first ? 202 : 201);
    char *ref = kvt_json_str(r.body, "reference");
    assert_non_null(ref);
    kvt_http_free(&r);
    if (amount_first) {
        /* A (any instance) describes the waiting amount from the journal */
        char *w = kvt_serve_wait_state(e, KVT_TOK_OSLO, ref, "AWAITING_SCAN", 5000);
        assert_non_null(w);
        free(w);
        assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), creates0);
        scan(e);
        wait_checkins(e, nth);
    }
    approve(e, ref);
    char *done = kvt_serve_wait_state(e, KVT_TOK_OSLO, ref, "DONE", 30000);
    if (!done)
        fail_msg("%s was not paid (logs %s, %s)", ref, e->serve_log, blog);
    assert_true(kvt_json_num(done, "amountMinor", -1) == minor);
    free(done);
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), creates0 + 1);
    char path[200];
    snprintf(path, sizeof path, "/epayment/v1/payments/%s/capture", ref);
    assert_int_equal(keys_on(e, path), 1);
    /* the receipt on the till's printer */
    assert_int_equal(kvt_jobs_wait(e->printer_dir, ref, 1, 10000), 1);
    /* amount first: A paired it (the webhook's instance) and B, the owner
     * of the till's amount, created it; scan first: B paired it with the
     * held check-in and created it in the till's request.  A never created
     * it. */
    char needle[200], paired[200];
    snprintf(paired, sizeof paired, "sticker.matched till=t-oslo sticker=kvitt-t-oslo reference=%s order=%s",
             ref, amount_first ? "amount-first" : "scan-first");
    assert_true(log_has(amount_first ? e->serve_log : blog, paired));
    snprintf(needle, sizeof needle, amount_first ? "sticker.payment_started till=t-oslo reference=%s"
                                                 : "payment.created till=t-oslo store=oslo reference=%s", ref);
    for (int i = 0; i < 100 && !log_has(blog, needle); i++)
        usleep(50000);
    if (!log_has(blog, needle)) {
        show_log("A", e->serve_log);
        show_log("B", blog);
    }
    if (!log_has(blog, needle))
        fail_msg("B's log %s does not show the start of %s", blog, ref);
    assert_false(log_has(e->serve_log, needle));
    free(ref);
}

/* The fixture (A) with till t-oslo's sticker and the webhooks registered
 * at A, and B (extra environment envp) at *burl, its log *blog (malloc'd). */
static kvt_serve_env *chain_up(const char *name, char *burl, size_t len, char **blog, const char *const envp[])
{
    kvt_serve_env *e = env_new(name);
    const char *mk[] = { "sticker", "create", "--till", "t-oslo", "--location", "Kasse 1", NULL };
    run_ok(e, mk);
    const char *reg[] = { "webhooks", "register", NULL };
    run_ok(e, reg);
    *blog = kvt_path("%s/serve-b.log", e->dir);
    second = kvt_serve_spawn_instance(e, NULL, burl, len, *blog, envp);
    assert_non_null(second);
    return e;
}

static void test_sticker_chain__amount_on_b_checkin_at_a_both_orders(void **state)
{
    (void)state;
    char burl[128];
    char *blog = NULL;
    kvt_serve_env *e = chain_up("stk-chain", burl, sizeof burl, &blog, NULL);
    one_payment(e, burl, blog, 1, 3100, 1);
    one_payment(e, burl, blog, 0, 1250, 2);
    one_payment(e, burl, blog, 1, 4700, 3);
    free(blog);
}

/* ---- the meeting itself, two journal handles racing (two instances) ---- */

typedef struct racer {
    kv_journal *j;
    pthread_barrier_t *go;
    kv_wait_row w;           /* wait_pair: the amount */
    kv_checkin_row ci;       /* checkin_pair: the check-in (when ci.key[0]) */
    kv_wait_row paired;
    int64_t now;
    kv_journal_status st;
} racer;

static void *race_main(void *arg)
{
    racer *r = arg;
    pthread_barrier_wait(r->go);
    r->st = r->ci.key[0] ? kv_journal_checkin_pair(r->j, &r->ci, r->now, &r->paired)
                         : kv_journal_wait_pair(r->j, &r->w, "123456", r->now);
    return NULL;
}

static void race(racer *a, racer *b)
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    a->go = b->go = &go;
    pthread_t t[2];
    assert_int_equal(pthread_create(&t[0], NULL, race_main, a), 0);
    assert_int_equal(pthread_create(&t[1], NULL, race_main, b), 0);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    pthread_barrier_destroy(&go);
}

static void amount(racer *r, kv_journal *j, const char *ref, const char *till, int64_t now)
{
    memset(r, 0, sizeof *r);
    r->j = j;
    r->now = now;
    snprintf(r->w.reference, sizeof r->w.reference, "%s", ref);
    snprintf(r->w.till, sizeof r->w.till, "%s", till);
    snprintf(r->w.sticker, sizeof r->w.sticker, "kvitt-%s", till);
    snprintf(r->w.request, sizeof r->w.request, "{\"amountMinor\":100}");
    r->w.created_ms = now;
    r->w.expires_ms = now + 60000;
}

static void checkin(racer *r, kv_journal *j, const char *token, const char *till, int64_t now, int64_t hold_ms)
{
    memset(r, 0, sizeof *r);
    r->j = j;
    r->now = now;
    snprintf(r->ci.key, sizeof r->ci.key, "key-%s", token);
    snprintf(r->ci.sticker, sizeof r->ci.sticker, "kvitt-%s", till);
    snprintf(r->ci.msn, sizeof r->ci.msn, "123456");
    snprintf(r->ci.token, sizeof r->ci.token, "%s", token);
    r->ci.received_ms = now;
    r->ci.hold_until_ms = now + hold_ms;
}

static void token_is(kv_journal *j, const char *ref, const char *want)
{
    char tok[512];
    int64_t until = 0;
    kv_journal_status st = kv_journal_wait_token(j, ref, tok, sizeof tok, &until);
    if (!want) {
        assert_int_equal(st, KV_J_E_NOT_FOUND);
        return;
    }
    assert_int_equal(st, KV_J_OK);
    assert_string_equal(tok, want);
    /* the payment goes out: the token is forgotten */
    assert_int_equal(kv_journal_wait_move(j, ref, "paired", "started"), KV_J_OK);
    assert_int_equal(kv_journal_wait_token(j, ref, tok, sizeof tok, &until), KV_J_E_NOT_FOUND);
}

/* A check-in and an amount of one till arriving at two instances at the
 * same moment meet exactly once, 30 times over; two amounts racing for
 * one held check-in: one gets it; a second check-in replaces the first;
 * an expired one and another till's never pair. */
static void test_sticker_chain__meeting_is_atomic_across_handles(void **state)
{
    (void)state;
    char *dsn = kvpg_test_journal("stk-race");
    assert_non_null(dsn);
    kv_journal *j1 = NULL, *j2 = NULL;
    assert_int_equal(kv_journal_open(&j1, dsn, NULL, 0), KV_J_OK);
    assert_int_equal(kv_journal_open(&j2, dsn, NULL, 0), KV_J_OK);
    const char *tills[] = { "t-1", "t-2" };
    for (int i = 0; i < 2; i++) {
        kv_sticker_row sr = { 0 };
        snprintf(sr.id, sizeof sr.id, "kvitt-%s", tills[i]);
        snprintf(sr.till, sizeof sr.till, "%s", tills[i]);
        snprintf(sr.store, sizeof sr.store, "oslo");
        snprintf(sr.msn, sizeof sr.msn, "123456");
        assert_int_equal(kv_journal_sticker_put(j1, &sr), KV_J_OK);
    }
    int64_t now = 1800000000000LL;
    racer a, b;
    char ref[64], tok[64];
    for (int round = 0; round < 30; round++, now += 1000) {
        snprintf(ref, sizeof ref, "RACE-%d", round);
        snprintf(tok, sizeof tok, "tok-%d", round);
        amount(&a, round % 2 ? j1 : j2, ref, "t-1", now);
        checkin(&b, round % 2 ? j2 : j1, tok, "t-1", now, 60000);
        race(&a, &b);
        assert_int_equal(a.st, KV_J_OK);
        assert_true(b.st == KV_J_OK || b.st == KV_J_E_NOT_FOUND);
        int by_amount = !strcmp(a.w.state, "paired"), by_checkin = b.st == KV_J_OK;
        if (by_amount + by_checkin != 1)
            fail_msg("round %d: paired by the amount %d, by the check-in %d", round, by_amount, by_checkin);
        token_is(j1, ref, tok);
    }
    /* two amounts of one till race for one held check-in */
    checkin(&b, j1, "tok-held", "t-1", now, 60000);
    assert_int_equal(kv_journal_checkin_pair(j1, &b.ci, now, &b.paired), KV_J_E_NOT_FOUND);
    amount(&a, j1, "TWO-a", "t-1", now);
    amount(&b, j2, "TWO-b", "t-1", now);
    race(&a, &b);
    assert_int_equal(a.st, KV_J_OK);
    assert_int_equal(b.st, KV_J_OK);
    assert_int_equal(!strcmp(a.w.state, "paired") + !strcmp(b.w.state, "paired"), 1);
    token_is(j1, !strcmp(a.w.state, "paired") ? "TWO-a" : "TWO-b", "tok-held");
    assert_int_equal(kv_journal_wait_move(j1, !strcmp(a.w.state, "paired") ? "TWO-b" : "TWO-a", NULL,
                                          "cancelled"), KV_J_OK);
    /* a second check-in replaces the first; a repeated delivery changes nothing */
    now += 1000;
    checkin(&a, j1, "tok-first", "t-1", now, 60000);
    checkin(&b, j2, "tok-second", "t-1", now + 1, 60000);
    assert_int_equal(kv_journal_checkin_pair(j1, &a.ci, now, &a.paired), KV_J_E_NOT_FOUND);
    assert_int_equal(kv_journal_checkin_pair(j2, &b.ci, now + 1, &b.paired), KV_J_E_NOT_FOUND);
    assert_int_equal(kv_journal_checkin_pair(j1, &a.ci, now + 2, &a.paired), KV_J_E_EXISTS);
    /* another till's amount does not take it */
    amount(&a, j1, "OTHER", "t-2", now + 3);
    assert_int_equal(kv_journal_wait_pair(j1, &a.w, "123456", now + 3), KV_J_OK);
    assert_string_equal(a.w.state, "waiting");
    amount(&a, j1, "SECOND", "t-1", now + 3);
    assert_int_equal(kv_journal_wait_pair(j1, &a.w, "123456", now + 3), KV_J_OK);
    assert_string_equal(a.w.state, "paired");
    token_is(j1, "SECOND", "tok-second");
    /* an expired check-in never pairs, whichever comes second */
    now += 10000;
    checkin(&b, j2, "tok-short", "t-1", now, 1000);
    assert_int_equal(kv_journal_checkin_pair(j2, &b.ci, now, &b.paired), KV_J_E_NOT_FOUND);
    amount(&a, j1, "LATE", "t-1", now + 1000);
    assert_int_equal(kv_journal_wait_pair(j1, &a.w, "123456", now + 1000), KV_J_OK);
    assert_string_equal(a.w.state, "waiting");
    checkin(&b, j2, "tok-stale", "t-1", now + 2000, -1);
    assert_int_equal(kv_journal_checkin_pair(j2, &b.ci, now + 2000, &b.paired), KV_J_E_NOT_FOUND);
    token_is(j1, "LATE", NULL);
    /* the open amounts: OTHER (t-2) and LATE (t-1), both waiting */
    kv_wait_row *v = NULL;
    size_t n = 0;
    assert_int_equal(kv_journal_wait_list(j2, &v, &n), KV_J_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].reference, "OTHER");
    assert_string_equal(v[1].reference, "LATE");
    free(v);
    kv_journal_close(j1);
    kv_journal_close(j2);
    free(dsn);
}

/* The owner of the till's amount dies: B is killed (-9) after A paired its
 * amount and B began the start, before the create (the crash point).  A
 * adopts the paired amount (B's lease died with it) and creates the
 * payment once; then an amount whose owner was killed while it waited is
 * adopted too and paid when the customer scans. */
static void test_sticker_chain__kill9_of_the_owner_hands_the_amount_over(void **state)
{
    (void)state;
    char burl[128];
    char *blog = NULL;
    const char *crash[] = { "KVITT_TEST_CRASH_AT=sticker-checkin", NULL };
    kvt_serve_env *e = chain_up("stk-chain-kill", burl, sizeof burl, &blog, crash);
    int creates0 = kvt_sim_count(e, "POST /epayment/v1/payments");
    kvt_http_resp r;
    assert_int_equal(b_req(&r, burl, "POST", "/v1/payments", "stkk-1", "{\"amountMinor\":2600,\"flow\":\"sticker\"}"),
                     202);
    char *ref = kvt_json_str(r.body, "reference");
    assert_non_null(ref);
    kvt_http_free(&r);
    scan(e);
    wait_checkins(e, 1);
    /* B kills itself at the crash point: after the pairing, before the create */
    int gone = 0;
    char probe[200];
    snprintf(probe, sizeof probe, "%s/livez", burl);
    for (int i = 0; i < 600 && !gone; i++) {
        gone = kvt_http(&r, "GET", probe, NULL, NULL, 0, 2000) != 0;
        kvt_http_free(&r);
        if (!gone)
            usleep(50000);
    }
    if (!gone) {
        show_log("B", blog);
        fail_msg("B did not die at the crash point");
    }
    int st = kvt_proc_stop(second, 0);
    second = NULL;
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    /* it died before the create */
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), creates0);
    approve(e, ref);
    char *done = kvt_serve_wait_state(e, KVT_TOK_OSLO, ref, "DONE", 30000);
    if (!done) {
        show_log("A", e->serve_log);
        fail_msg("%s was not paid after B died", ref);
    }
    free(done);
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), creates0 + 1);
    char needle[200];
    snprintf(needle, sizeof needle, "sticker.adopted till=t-oslo reference=%s state=paired", ref);
    assert_true(log_has(e->serve_log, needle));
    snprintf(needle, sizeof needle, "/epayment/v1/payments/%s/capture", ref);
    assert_int_equal(keys_on(e, needle), 1);
    assert_int_equal(kvt_jobs_wait(e->printer_dir, ref, 1, 10000), 1);
    free(ref);

    /* an amount still waiting when its owner dies */
    second = kvt_serve_spawn_instance(e, NULL, burl, sizeof burl, blog, NULL);
    assert_non_null(second);
    assert_int_equal(b_req(&r, burl, "POST", "/v1/payments", "stkk-2", "{\"amountMinor\":1900,\"flow\":\"sticker\"}"),
                     202);
    ref = kvt_json_str(r.body, "reference");
    assert_non_null(ref);
    kvt_http_free(&r);
    kill(kvt_proc_pid(second), SIGKILL);
    kvt_proc_stop(second, 0);
    second = NULL;
    snprintf(needle, sizeof needle, "sticker.adopted till=t-oslo reference=%s state=waiting", ref);
    for (int i = 0; i < 200 && !log_has(e->serve_log, needle); i++)
        usleep(50000);
    assert_true(log_has(e->serve_log, needle));
    scan(e);
    wait_checkins(e, 2);
    approve(e, ref);
    done = kvt_serve_wait_state(e, KVT_TOK_OSLO, ref, "DONE", 30000);
    assert_non_null(done);
    free(done);
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), creates0 + 2);
    free(ref);
    free(blog);
}

static int suite(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sticker_chain__meeting_is_atomic_across_handles),
        cmocka_unit_test_teardown(test_sticker_chain__amount_on_b_checkin_at_a_both_orders, cleanup),
        cmocka_unit_test_teardown(test_sticker_chain__kill9_of_the_owner_hands_the_amount_over, cleanup),
    };
    return cmocka_run_group_tests_name("sticker_chain", tests, NULL, NULL);
}

int main(void)
{
    return kvpg_run_suite("test_sticker_chain", suite);
}
