/* test_reconcile_sim.c - the simulator's Report API itself over real HTTP
 * (`kvitt sim` as a child process, raw requests with libcurl): ledgers and
 * access by keys, paging with cursors, tryLater before the close, the
 * payout at the close, the feed's end, and its own errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim.h"
#include "tests/lib/kvbackoffice.h"
#include "tests/lib/kvflow.h"
#include "tests/lib/kvthttp.h"
#include "tests/lib/kvtest.h"

typedef struct api {
    const char *base;
    char auth[2100];
    char sub[300];
    char msn[64];
} api;

static const kv_sim_cred *cred(const char *name)
{
    size_t n;
    const kv_sim_cred *c = kv_sim_credentials(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(c[i].name, name))
            return &c[i];
    fail_msg("no credentials %s", name);
    return NULL;
}

static void login(api *a, const char *base, const char *name, const char *msn)
{
    const kv_sim_cred *c = cred(name);
    char h1[300], h2[300], h3[300], h4[64];
    snprintf(h1, sizeof h1, "client_id: %s", c->client_id);
    snprintf(h2, sizeof h2, "client_secret: %s", c->client_secret);
    snprintf(h3, sizeof h3, "Ocp-Apim-Subscription-Key: %s", c->subscription_key);
    snprintf(h4, sizeof h4, "Merchant-Serial-Number: %s", msn);
    const char *hdrs[] = { h1, h2, h3, h4, NULL };
    char *url = kvt_path("%s/accesstoken/get", base);
    kvt_http_resp r;
    assert_int_equal(kvt_http(&r, "POST", url, hdrs, "", 0, 10000), 0);
    assert_int_equal(r.status, 200);
    char *tok = kvf_json(r.body, "access_token");
    assert_non_null(tok);
    a->base = base;
    snprintf(a->auth, sizeof a->auth, "Authorization: Bearer %s", tok);
    snprintf(a->sub, sizeof a->sub, "Ocp-Apim-Subscription-Key: %s", c->subscription_key);
    snprintf(a->msn, sizeof a->msn, "Merchant-Serial-Number: %s", msn);
    free(tok);
    free(url);
    kvt_http_free(&r);
}

static cJSON *get(const api *a, const char *path, long want)
{
    const char *hdrs[] = { a->auth, a->sub, a->msn, NULL };
    char *url = kvt_path("%s%s", a->base, path);
    kvt_http_resp r;
    assert_int_equal(kvt_http(&r, "GET", url, hdrs, NULL, 0, 10000), 0);
    if (r.status != want)
        fail_msg("GET %s: %ld (want %ld): %s", path, r.status, want, r.body);
    cJSON *o = cJSON_Parse(r.body);
    kvt_http_free(&r);
    free(url);
    return o;
}

static void test_reconcile_sim__report_api(void **state)
{
    (void)state;
    kvf_env e;
    const char *sim[] = { "--auto", "approve", "--approve-after", "1", NULL };
    assert_int_equal(kvf_start(&e, "recon-sim", sim), 0);
    kvr_day d;
    kvr_make_day(&e, &d);
    char day[11], path[256];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    api a;
    login(&a, e.url, "oslo", "123456");

    /* merchant keys: their own ledger only */
    cJSON *o = get(&a, "/settlement/v1/ledgers", 200);
    cJSON *items = cJSON_GetObjectItemCaseSensitive(o, "items");
    assert_int_equal(cJSON_GetArraySize(items), 1);
    cJSON *l = cJSON_GetArrayItem(items, 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(l, "ledgerId")->valuestring, "7123456");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(l, "settlesForRecipientHandles"), 0)
                            ->valuestring, "api:123456");
    cJSON_Delete(o);
    o = get(&a, "/report/v2/ledgers/7234567/funds/feed", 403); /* bergen's ledger */
    cJSON_Delete(o);

    /* before the close: tryLater, the entries so far */
    snprintf(path, sizeof path, "/report/v2/ledgers/7123456/funds/dates/%s", day);
    o = get(&a, path, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "tryLater")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "items")), 3);
    cJSON_Delete(o);

    /* close, then page through 2 at a time */
    long st = 0;
    free(kvf_http(&e, "POST", "/sim/v1/report/close", "{\"msn\":\"123456\"}", &st));
    assert_int_equal(st, 204);
    free(kvf_http(&e, "POST", "/sim/v1/report/config", "{\"pageSize\":2}", &st));
    assert_int_equal(st, 204);
    int seen = 0, pages = 0, captures = 0;
    long long sum = 0;
    char cursor[512] = "";
    for (;;) {
        char p[800];
        snprintf(p, sizeof p, "%s%s%s", path, cursor[0] ? "?cursor=" : "", cursor);
        o = get(&a, p, 200);
        assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "tryLater")));
        cJSON *x;
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "items")) {
            const char *type = cJSON_GetObjectItemCaseSensitive(x, "entryType")->valuestring;
            assert_string_equal(cJSON_GetObjectItemCaseSensitive(x, "ledgerDate")->valuestring, day);
            sum += (long long)cJSON_GetObjectItemCaseSensitive(x, "amount")->valuedouble;
            captures += !strcmp(type, "capture");
            seen++;
        }
        pages++;
        int more = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "hasMore"));
        cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "cursor");
        if (more)
            snprintf(cursor, sizeof cursor, "%s", c->valuestring);
        cJSON_Delete(o);
        if (!more)
            break;
        assert_true(pages < 10);
    }
    /* 2 captures, 1 refund, fees-retained, payout-scheduled; the funds
     * balance of the date ends at zero */
    assert_int_equal(seen, 5);
    assert_int_equal(captures, 2);
    assert_int_equal(pages, 3);
    assert_int_equal(sum, 0);

    /* the feed: to its end, then an empty page with tryLater and a cursor */
    snprintf(cursor, sizeof cursor, "%s", "");
    seen = 0;
    for (int i = 0; i < 20; i++) {
        char p[800];
        snprintf(p, sizeof p, "/report/v2/ledgers/7123456/fees/feed%s%s", cursor[0] ? "?cursor=" : "", cursor);
        o = get(&a, p, 200);
        int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "items"));
        seen += n;
        int later = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "tryLater"));
        cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "cursor");
        assert_true(cJSON_IsString(c) && c->valuestring[0]);
        snprintf(cursor, sizeof cursor, "%s", c->valuestring);
        cJSON_Delete(o);
        if (later) {
            assert_int_equal(n, 0);
            break;
        }
    }
    assert_int_equal(seen, 3); /* two capture-fee, one fees-retained */

    /* its own errors */
    o = get(&a, "/report/v2/ledgers/7123456/funds/feed?cursor=%21%21", 400);
    cJSON_Delete(o);
    o = get(&a, "/report/v2/ledgers/7123456/bananas/feed", 400);
    cJSON_Delete(o);
    o = get(&a, "/report/v2/ledgers/7123456/funds/dates/2026-99-01", 400);
    cJSON_Delete(o);
    o = get(&a, "/report/v2/ledgers/7123456/funds/dates/2099-01-01", 404);
    cJSON_Delete(o);
    api bad = a;
    snprintf(bad.auth, sizeof bad.auth, "Authorization: Bearer nope");
    o = get(&bad, "/settlement/v1/ledgers", 401);
    cJSON_Delete(o);

    /* partner keys see both ledgers */
    api p;
    login(&p, e.url, "nordkaffe-partner", "123456");
    o = get(&p, "/settlement/v1/ledgers", 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "items")), 2);
    cJSON_Delete(o);
    o = get(&p, "/settlement/v1/ledgers?settlesForRecipientHandles=api:234567", 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "items")), 1);
    cJSON_Delete(o);

    /* the daily payout by itself: bergen's date was never closed by hand;
     * two days later on the report clock it is closed, with its payout */
    snprintf(path, sizeof path, "/report/v2/ledgers/7234567/funds/dates/%s", day);
    api pb;
    login(&pb, e.url, "nordkaffe-partner", "234567");
    o = get(&pb, path, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "tryLater")));
    cJSON_Delete(o);
    const char *pay_b[] = { "--store", "bergen", NULL };
    free(kvr_pay(&e, "42.00", 0, pay_b));
    free(kvf_http(&e, "POST", "/sim/v1/report/config", "{\"clockOffsetS\":172800,\"closeDelayS\":0,\"pageSize\":100}", &st));
    assert_int_equal(st, 204);
    o = get(&pb, path, 200);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "tryLater")));
    int payout = 0;
    cJSON *x;
    cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "items"))
        if (!strcmp(cJSON_GetObjectItemCaseSensitive(x, "entryType")->valuestring, "payout-scheduled")) {
            payout = 1;
            /* 42.00 - 1.75 % fee (0.74) */
            assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(x, "amount")->valuedouble, -4126);
        }
    assert_true(payout);
    cJSON_Delete(o);
    kvr_day_free(&d);
    kvf_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reconcile_sim__report_api),
    };
    return cmocka_run_group_tests_name("reconcile_sim", tests, NULL, NULL);
}
