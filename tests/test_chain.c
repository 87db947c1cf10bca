/* test_chain.c - several `kvitt serve` instances on one PostgreSQL journal
 * (issue 13): a till retry reaching two instances at once makes one
 * payment; a webhook delivered to an instance that does not own the
 * payment wakes the owner (LISTEN/NOTIFY); kill -9 of an owner hands its
 * waiting payments to another instance, which finishes them with one
 * capture each; a till whose long-polls and event stream move from one
 * instance to another continues the same feed (the ids are the
 * journal's).  Real parts: a PostgreSQL server (tests/lib/kvpg.c), the
 * simulator and the daemons as child processes on loopback.  Prints SKIP
 * when PostgreSQL is not installed. */
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
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

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

/* The fixture (instance A, from kvtserve) on a fresh database. */
static kvt_serve_env *env_new(const char *name, const kvt_serve_opts *o)
{
    kvt_serve_env *e = calloc(1, sizeof *e);
    live = e;
    if (kvt_serve_setup(e, name, o) < 0)
        fail_msg("fixture %s did not start", name);
    assert_non_null(strstr(e->journal, "postgresql://"));
    return e;
}

/* Instance B: the same configuration on another port (its log
 * serve-b.log in the fixture's folder); *url set. */
static kvt_proc *start_b(kvt_serve_env *e, char *url, size_t len)
{
    char log[600];
    snprintf(log, sizeof log, "%s/serve-b.log", e->dir);
    int port = kvt_free_port();
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    snprintf(url, len, "http://127.0.0.1:%d", port);
    const char *argv[] = { "kvitt", "serve", "--config", e->conf, "--listen", addr, NULL };
    kvt_proc *p = kvt_spawn(argv, NULL, log);
    assert_non_null(p);
    char probe[200];
    snprintf(probe, sizeof probe, "%s/readyz", url);
    for (int i = 0; i < 300; i++) {
        kvt_http_resp r;
        long st = kvt_http(&r, "GET", probe, NULL, NULL, 0, 2000) == 0 ? r.status : 0;
        kvt_http_free(&r);
        if (st == 200)
            return p;
        usleep(100000);
    }
    fail_msg("instance B did not become ready (log %s)", log);
    return NULL;
}

/* POST /v1/payments to base with the till token and key. */
static long post_pay(kvt_http_resp *r, const char *base, const char *key, const char *body)
{
    char url[256], auth[128], idem[160];
    snprintf(url, sizeof url, "%s/v1/payments", base);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", KVT_TOK_OSLO);
    snprintf(idem, sizeof idem, "Idempotency-Key: %s", key);
    const char *h[] = { auth, idem, "Content-Type: application/json", NULL };
    if (kvt_http(r, "POST", url, h, body, strlen(body), 30000) != 0)
        return 0;
    return r->status;
}

/* Distinct idempotency keys the simulator saw on REF's capture path. */
static int capture_keys(kvt_serve_env *e, const char *ref)
{
    kvt_http_resp r;
    int n = -1;
    char path[160];
    snprintf(path, sizeof path, "/epayment/v1/payments/%s/capture", ref);
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

static void approve(kvt_serve_env *e, const char *ref)
{
    assert_int_equal(kvt_sim_approve(e, ref), 200);
}

typedef struct race_arg {
    const char *base;
    const char *key;
    long status;
    char ref[64];
} race_arg;

static void *racer(void *arg)
{
    race_arg *a = arg;
    kvt_http_resp r;
    a->status = post_pay(&r, a->base, a->key, "{\"amount\":\"21.00\"}");
    char *ref = a->status == 201 ? kvt_json_str(r.body, "reference") : NULL;
    if (a->status != 201)
        printf("%s answered %ld: %s\n", a->base, a->status, r.body ? r.body : "");
    snprintf(a->ref, sizeof a->ref, "%s", ref ? ref : "");
    free(ref);
    kvt_http_free(&r);
    return NULL;
}

/* The same retry hitting A and B at the same moment: one payment at the
 * simulator, and both answers name it. */
static void test_chain__same_retry_on_two_instances_makes_one_payment(void **state)
{
    (void)state;
    kvt_serve_opts o = { .no_webhooks = 1 };
    kvt_serve_env *e = env_new("race", &o);
    char burl[128];
    second = start_b(e, burl, sizeof burl);
    for (int round = 0; round < 5; round++) {
        char key[32];
        snprintf(key, sizeof key, "race-%d", round);
        race_arg a[2] = { { e->url, key, 0, "" }, { burl, key, 0, "" } };
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&t[i], NULL, racer, &a[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        for (int i = 0; i < 2; i++)
            assert_true(a[i].status == 201 || a[i].status == 409);
        assert_true(a[0].status == 201 || a[1].status == 201);
        if (a[0].status == 201 && a[1].status == 201)
            assert_string_equal(a[0].ref, a[1].ref);
        assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), round + 1);
    }
    /* The cashier page's sign-in is SQLite-only for now: on PostgreSQL it
     * answers 503 with the reason (the daemon starts and the API works). */
    char url[256];
    snprintf(url, sizeof url, "%s/v1/session", e->url);
    kvt_http_resp r;
    const char *body = "{\"token\":\"wrong\"}";
    const char *h[] = { "Content-Type: application/json", NULL };
    assert_int_equal(kvt_http(&r, "POST", url, h, body, strlen(body), 10000), 0);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "SQLite journal"));
    kvt_http_free(&r);
}

/* B owns the payment (it created it and waits on it) and polls only after
 * a minute; the simulator's webhook goes to A (the registered URL).  The
 * payment is captured within seconds: A journaled the event and its
 * NOTIFY woke B's wait.  A never took the payment over. */
static void test_chain__webhook_at_a_non_owner_wakes_the_owner(void **state)
{
    (void)state;
    kvt_serve_opts o = { .poll_first_s = 60 };
    kvt_serve_env *e = env_new("wake", &o);
    char burl[128];
    second = start_b(e, burl, sizeof burl);
    kvt_http_resp r;
    assert_int_equal(post_pay(&r, burl, "wake-1", "{\"amount\":\"33.00\"}"), 201);
    char *ref = kvt_json_str(r.body, "reference");
    assert_non_null(ref);
    kvt_http_free(&r);
    char *b = kvt_serve_wait_state(e, KVT_TOK_OSLO, ref, "WAITING", 10000);
    assert_non_null(b);
    free(b);
    approve(e, ref);
    b = kvt_serve_wait_state(e, KVT_TOK_OSLO, ref, "DONE", 20000);
    if (!b)
        fail_msg("%s not captured within 20 s: the webhook at A did not wake B", ref);
    free(b);
    assert_int_equal(capture_keys(e, ref), 1);
    /* B did the capture: A's log never names the payment as its own */
    unsigned char *alog = NULL;
    size_t alen = 0;
    assert_int_equal(kvt_read_file(e->serve_log, &alog, &alen), 0);
    char needle[128];
    snprintf(needle, sizeof needle, "chain.takeover reference=%s", ref);
    assert_null(strstr((char *)alog, needle));
    free(alog);
    free(ref);
}

/* kill -9 of B while it owns five waiting payments: A takes each over
 * (its lease died with B's session) and finishes it with one capture. */
static void test_chain__kill_9_of_the_owner_hands_its_payments_over(void **state)
{
    (void)state;
    kvt_serve_opts o = { .no_webhooks = 1 };
    kvt_serve_env *e = env_new("takeover", &o);
    char burl[128];
    second = start_b(e, burl, sizeof burl);
    char *refs[5];
    for (int i = 0; i < 5; i++) {
        char key[32];
        snprintf(key, sizeof key, "tk-%d", i);
        kvt_http_resp r;
        assert_int_equal(post_pay(&r, burl, key, "{\"amount\":\"44.00\"}"), 201);
        refs[i] = kvt_json_str(r.body, "reference");
        assert_non_null(refs[i]);
        kvt_http_free(&r);
        char *b = kvt_serve_wait_state(e, KVT_TOK_OSLO, refs[i], "WAITING", 10000);
        assert_non_null(b);
        free(b);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kill(kvt_proc_pid(second), SIGKILL);
    int st = kvt_proc_stop(second, 0);
    second = NULL;
    assert_true(WIFSIGNALED(st));
    /* the takeover time (a figure, not asserted): from the kill until A
     * names the last orphan as taken over */
    int seen = 0;
    long max_ms = -1;
    for (int round = 0; round < 600 && seen < 5; round++) {
        unsigned char *lg = NULL;
        size_t ll = 0;
        seen = 0;
        if (kvt_read_file(e->serve_log, &lg, &ll) == 0) {
            for (int i = 0; i < 5; i++) {
                char needle[128];
                snprintf(needle, sizeof needle, "chain.takeover reference=%s", refs[i]);
                seen += strstr((char *)lg, needle) != NULL;
            }
            free(lg);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        max_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (seen < 5)
            usleep(20000);
    }
    printf("takeover: kill -9 -> all 5 orphans taken over: %ld ms\n", max_ms);
    for (int i = 0; i < 5; i++)
        approve(e, refs[i]);
    for (int i = 0; i < 5; i++) {
        char *b = kvt_serve_wait_state(e, KVT_TOK_OSLO, refs[i], "DONE", 30000);
        if (!b)
            fail_msg("%s was not finished by the surviving instance", refs[i]);
        free(b);
        assert_int_equal(capture_keys(e, refs[i]), 1);
    }
    unsigned char *alog = NULL;
    size_t alen = 0;
    assert_int_equal(kvt_read_file(e->serve_log, &alog, &alen), 0);
    for (int i = 0; i < 5; i++) {
        char needle[128];
        snprintf(needle, sizeof needle, "chain.takeover reference=%s", refs[i]);
        if (!strstr((char *)alog, needle))
            fail_msg("A's log does not show the takeover of %s", refs[i]);
        free(refs[i]);
    }
    free(alog);
}

typedef struct follower {
    const char *base;
    const char *ref;
    int after;
    int sse;
    int rc;
    kvt_feed f;
} follower;

static void *follow(void *arg)
{
    follower *x = arg;
    char id[16];
    snprintf(id, sizeof id, "%d", x->after);
    x->rc = x->sse ? kvt_feed_sse(x->base, KVT_TOK_OSLO, x->ref, id, 90000, &x->f)
                   : kvt_feed_follow(x->base, KVT_TOK_OSLO, x->ref, &x->after, 30, 40, NULL, &x->f);
    return NULL;
}

/* A till reads the feed of a payment made on A up to event N (WAITING),
 * then its next long-poll (after=N) and an event stream (Last-Event-ID:
 * N) reach B, as a round-robin balancer sends them, while A captures:
 * B delivers exactly A's events after N, with A's ids, in order, ending
 * with the result.  B is woken by A's changes (no answer of B is an
 * empty one whose wait ran out). */
static void test_chain__feed_read_on_another_instance_continues_after_n(void **state)
{
    (void)state;
    kvt_serve_opts o = { .vprinter = 1 };
    kvt_serve_env *e = env_new("feed", &o);
    char burl[128];
    second = start_b(e, burl, sizeof burl);
    kvt_http_resp r;
    assert_int_equal(post_pay(&r, e->url, "feed-1", "{\"amount\":\"27.00\"}"), 201);
    char *ref = kvt_json_str(r.body, "reference");
    assert_non_null(ref);
    kvt_http_free(&r);
    kvt_feed head;
    memset(&head, 0, sizeof head);
    int n = 0;
    assert_int_equal(kvt_feed_follow(e->url, KVT_TOK_OSLO, ref, &n, 10, 20, "WAITING", &head), 0);
    assert_true(n > 0);
    assert_false(head.final);
    follower lp = { burl, ref, n, 0, 0, { 0 } }, ev = { burl, ref, n, 1, 0, { 0 } };
    pthread_t t[2];
    assert_int_equal(pthread_create(&t[0], NULL, follow, &lp), 0);
    assert_int_equal(pthread_create(&t[1], NULL, follow, &ev), 0);
    approve(e, ref);
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    assert_int_equal(lp.rc, 0);
    assert_int_equal(ev.rc, 0);
    /* the feed as A has it, from the start */
    kvt_feed all;
    memset(&all, 0, sizeof all);
    int from = 0;
    assert_int_equal(kvt_feed_follow(e->url, KVT_TOK_OSLO, ref, &from, 10, 5, NULL, &all), 0);
    assert_true(all.final);
    printf("feed of %s on A:", ref);
    for (int i = 0; i < all.n; i++)
        printf(" %d:%s%s%s", all.seq[i], all.type[i], all.state[i][0] ? "/" : "", all.state[i]);
    printf("\n");
    char why[256];
    /* the events read before are the feed's first ones, under the same ids */
    assert_true(all.n >= head.n);
    for (int i = 0; i < head.n; i++) {
        assert_int_equal(head.seq[i], all.seq[i]);
        assert_string_equal(head.type[i], all.type[i]);
        assert_string_equal(head.state[i], all.state[i]);
    }
    if (kvt_feed_check(&all, n, &lp.f, why, sizeof why) != 0)
        fail_msg("long-poll on B after %d: %s", n, why);
    if (kvt_feed_check(&all, n, &ev.f, why, sizeof why) != 0)
        fail_msg("event stream on B after %d: %s", n, why);
    assert_true(lp.f.final);
    assert_true(ev.f.final);
    assert_int_equal(lp.f.empty, 0);
    assert_string_equal(all.state[all.n - 1], "DONE");
    /* and B, asked from the start, has the same feed */
    kvt_feed ball;
    memset(&ball, 0, sizeof ball);
    from = 0;
    assert_int_equal(kvt_feed_follow(burl, KVT_TOK_OSLO, ref, &from, 0, 5, NULL, &ball), 0);
    if (kvt_feed_check(&all, 0, &ball, why, sizeof why) != 0)
        fail_msg("B's feed from the start: %s", why);
    free(ref);
}

static int suite(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_chain__same_retry_on_two_instances_makes_one_payment, cleanup),
        cmocka_unit_test_teardown(test_chain__webhook_at_a_non_owner_wakes_the_owner, cleanup),
        cmocka_unit_test_teardown(test_chain__kill_9_of_the_owner_hands_its_payments_over, cleanup),
        cmocka_unit_test_teardown(test_chain__feed_read_on_another_instance_continues_after_n, cleanup),
    };
    return cmocka_run_group_tests_name("chain", tests, NULL, NULL);
}

int main(void)
{
    return kvpg_run_suite("test_chain", suite);
}
