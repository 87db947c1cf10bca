/* test_cashier.c - the cashier page of `kvitt serve` (/till/), end to end:
 * a real `kvitt sim`, a real `kvitt vprinter` and the daemon as child
 * processes on loopback, and a real headless Chromium driven through
 * WebDriver by tests/web/cashier.py (one child process per case; exit 77
 * with a `SKIP:` line when the browser cannot start).  The HTTP-level
 * cases (cookie attributes, CSRF, pairing codes, sessions) talk to the
 * daemon with libcurl.  Nothing is mocked.
 *
 * KVITT_CASHIER_SHOTS=DIR keeps the browser's screenshots in DIR (the
 * ones in docs/img/ come from `KVITT_CASHIER_SHOTS=docs/img`). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "escpos/layout.h"
#include "src/config/config.h"
#include "src/serve/web_assets.h"
#include "tests/lib/kvtserve.h"

static kvt_serve_env env;
static char journal[1024];

static int group_setup(void **state)
{
    (void)state;
    kvt_serve_opts o;
    memset(&o, 0, sizeof o);
    o.vprinter = 1;
    o.payment_timeout_s = 120;
    if (kvt_serve_setup(&env, "cashier", &o) < 0)
        return -1;
    kv_config *cfg = NULL;
    char err[512];
    if (kv_config_load(&cfg, env.conf, err, sizeof err) != KV_C_OK) {
        printf("cannot read %s: %s\n", env.conf, err);
        return -1;
    }
    snprintf(journal, sizeof journal, "%s", kv_config_main_get(cfg)->journal);
    kv_config_free(cfg);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    kvt_serve_teardown(&env);
    return 0;
}

/* ---- the embedded files are the sources ---------------------------------- */

static void test_assets_up_to_date(void **state)
{
    (void)state;
    static const char *const files[] = { "index.html", "app.css", "app.js" };
    assert_int_equal(kv_web_asset_count(), 3);
    for (size_t i = 0; i < 3; i++) {
        char *p = kvt_path("%s/src/serve/web/%s", kvt_srcdir(), files[i]);
        unsigned char *buf = NULL;
        size_t len = 0;
        assert_int_equal(kvt_read_file(p, &buf, &len), 0);
        const kv_web_asset *a = kv_web_asset_find(files[i]);
        assert_non_null(a);
        if (a->len != len || memcmp(a->data, buf, len) != 0)
            fail_msg("the page built into kvitt differs from src/serve/web/%s (is the build older "
                     "than the file?)", files[i]);
        free(buf);
        free(p);
    }
    assert_null(kv_web_asset_find("../serve.c"));
}

/* ---- HTTP level ------------------------------------------------------------ */

static int req(kvt_http_resp *r, const char *method, const char *path, const char *cookie,
               const char *csrf, const char *extra, const char *body)
{
    return kvt_serve_req_page(r, env.url, method, path, cookie, csrf, extra, body);
}

/* Sign in with body; returns the cookie value in cookie and the CSRF token
 * (malloc'd), checking the cookie's attributes. */
static char *login(const char *body, const char *extra, char cookie[65],
                   const char *const *attrs)
{
    kvt_http_resp r;
    assert_int_equal(req(&r, "POST", "/v1/session", NULL, NULL, extra, body), 0);
    if (r.status != 201)
        fail_msg("sign-in: %ld %s", r.status, r.body);
    char sc[512];
    assert_non_null(kvt_http_header(&r, "Set-Cookie", sc, sizeof sc));
    assert_int_equal(strncmp(sc, "kvitt_till=", 11), 0);
    memcpy(cookie, sc + 11, 64);
    cookie[64] = '\0';
    for (size_t i = 0; attrs && attrs[i]; i++)
        if (!strstr(sc, attrs[i]))
            fail_msg("Set-Cookie '%s' lacks '%s'", sc, attrs[i]);
    /* the token is nowhere in the answer */
    assert_null(strstr(r.body, KVT_TOK_OSLO));
    assert_null(strstr(sc, KVT_TOK_OSLO));
    char *csrf = kvt_json_str(r.body, "csrf");
    assert_non_null(csrf);
    assert_int_equal(strlen(csrf), 64);
    kvt_http_free(&r);
    return csrf;
}

static void test_page_served(void **state)
{
    (void)state;
    kvt_http_resp r;
    assert_int_equal(req(&r, "GET", "/till/", NULL, NULL, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "app.js"));
    char h[512];
    assert_non_null(kvt_http_header(&r, "Content-Security-Policy", h, sizeof h));
    assert_non_null(strstr(h, "default-src 'self'"));
    assert_non_null(strstr(h, "frame-ancestors 'none'"));
    kvt_http_free(&r);
    assert_int_equal(req(&r, "GET", "/till/nothing.js", NULL, NULL, NULL, NULL), 0);
    assert_int_equal(r.status, 404);
    kvt_http_free(&r);
    assert_int_equal(req(&r, "POST", "/till/app.js", NULL, NULL, NULL, "{}"), 0);
    assert_int_equal(r.status, 405);
    kvt_http_free(&r);
}

static void test_session_cookie_and_csrf(void **state)
{
    (void)state;
    static const char *const attrs[] = { "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=", NULL };
    char cookie[65];
    char *csrf = login("{\"token\":\"" KVT_TOK_OSLO "\"}", NULL, cookie, attrs);
    kvt_http_resp r;

    /* Plain http: no Secure; behind a TLS proxy: Secure. */
    static const char *const sec[] = { "; Secure", NULL };
    char c2[65];
    free(login("{\"token\":\"" KVT_TOK_OSLO "\"}", "X-Forwarded-Proto: https", c2, sec));
    assert_int_equal(req(&r, "POST", "/v1/session", NULL, NULL, NULL,
                         "{\"token\":\"" KVT_TOK_OSLO "\"}"), 0);
    char sc[512];
    kvt_http_header(&r, "Set-Cookie", sc, sizeof sc);
    assert_null(strstr(sc, "Secure"));
    kvt_http_free(&r);

    /* The cookie reads like a token. */
    assert_int_equal(req(&r, "GET", "/v1/session", cookie, NULL, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"till\":\"t-oslo\""));
    assert_non_null(strstr(r.body, "\"signedIn\":true"));
    kvt_http_free(&r);

    /* A state-changing request without the CSRF header: 403, no payment. */
    int creates = kvt_sim_count(&env, "POST /epayment/v1/payments");
    assert_int_equal(req(&r, "POST", "/v1/payments", cookie, NULL, "Idempotency-Key: c-1",
                         "{\"amount\":\"10.00\"}"), 0);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "\"csrf\""));
    kvt_http_free(&r);
    /* a wrong token, and the right one from another origin */
    assert_int_equal(req(&r, "POST", "/v1/payments", cookie,
                         "0000000000000000000000000000000000000000000000000000000000000000",
                         "Idempotency-Key: c-2", "{\"amount\":\"10.00\"}"), 0);
    assert_int_equal(r.status, 403);
    kvt_http_free(&r);
    assert_int_equal(req(&r, "POST", "/v1/payments", cookie, csrf, "Origin: http://evil.example",
                         "{\"amount\":\"10.00\"}"), 0);
    assert_int_equal(r.status, 403);
    kvt_http_free(&r);
    assert_int_equal(kvt_sim_count(&env, "POST /epayment/v1/payments"), creates);

    /* With it: the same /v1 handler as with a bearer token. */
    assert_int_equal(req(&r, "POST", "/v1/payments", cookie, csrf, "Idempotency-Key: c-3",
                         "{\"amount\":\"10.00\"}"), 0);
    assert_int_equal(r.status, 201);
    char *ref = kvt_json_str(r.body, "reference");
    kvt_http_free(&r);
    char path[200];
    snprintf(path, sizeof path, "/v1/payments/%s/cancel", ref);
    assert_int_equal(req(&r, "POST", path, cookie, csrf, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    kvt_http_free(&r);
    free(ref);

    /* Sessions are listed and revoked; a revoked cookie is 401. */
    assert_int_equal(req(&r, "GET", "/v1/sessions", cookie, NULL, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"current\":true"));
    assert_null(strstr(r.body, csrf));
    kvt_http_free(&r);
    assert_int_equal(req(&r, "GET", "/v1/session", c2, NULL, NULL, NULL), 0);
    char *id2 = kvt_json_str(r.body, "session");
    kvt_http_free(&r);
    assert_non_null(id2);
    snprintf(path, sizeof path, "/v1/sessions/%s", id2);
    assert_int_equal(req(&r, "DELETE", path, cookie, NULL, NULL, NULL), 0);
    assert_int_equal(r.status, 403); /* DELETE needs the CSRF header too */
    kvt_http_free(&r);
    assert_int_equal(req(&r, "DELETE", path, cookie, csrf, NULL, NULL), 0);
    assert_int_equal(r.status, 204);
    kvt_http_free(&r);
    assert_int_equal(req(&r, "GET", "/v1/orders", c2, NULL, NULL, NULL), 0);
    assert_int_equal(r.status, 401);
    kvt_http_free(&r);
    /* another till cannot revoke t-oslo's sessions */
    const char *bh = "Authorization: Bearer " KVT_TOK_BERGEN;
    assert_int_equal(req(&r, "GET", "/v1/session", cookie, NULL, NULL, NULL), 0);
    char *id1 = kvt_json_str(r.body, "session");
    kvt_http_free(&r);
    snprintf(path, sizeof path, "/v1/sessions/%s", id1);
    assert_int_equal(req(&r, "DELETE", path, NULL, NULL, bh, NULL), 0);
    assert_int_equal(r.status, 404);
    kvt_http_free(&r);
    /* sign out */
    assert_int_equal(req(&r, "DELETE", "/v1/session", cookie, csrf, NULL, NULL), 0);
    assert_int_equal(r.status, 204);
    kvt_http_free(&r);
    assert_int_equal(req(&r, "GET", "/v1/payments/NOPE-1", cookie, NULL, NULL, NULL), 0);
    assert_int_equal(r.status, 401);
    kvt_http_free(&r);
    free(id1);
    free(id2);
    free(csrf);
}

static void test_wrong_token_login(void **state)
{
    (void)state;
    kvt_http_resp r;
    assert_int_equal(req(&r, "POST", "/v1/session", NULL, NULL, NULL,
                         "{\"token\":\"wrong-token-0123456789abcdef\"}"), 0);
    assert_int_equal(r.status, 401);
    char sc[256];
    assert_null(kvt_http_header(&r, "Set-Cookie", sc, sizeof sc));
    kvt_http_free(&r);
    assert_int_equal(req(&r, "POST", "/v1/session", NULL, NULL, NULL,
                         "{\"token\":\"x\",\"code\":\"ABCD-EFGH\"}"), 0);
    assert_int_equal(r.status, 400);
    kvt_http_free(&r);
    assert_int_equal(req(&r, "POST", "/v1/session", NULL, NULL, NULL,
                         "{\"token\":\"" KVT_TOK_OSLO "\",\"till\":\"t-oslo\"}"), 0);
    assert_int_equal(r.status, 400);
    if (!strstr(r.body, "'till'"))
        fail_msg("the answer does not name the field: %s", r.body);
    assert_null(kvt_http_header(&r, "Set-Cookie", sc, sizeof sc));
    kvt_http_free(&r);
    /* a sign-in posted by another site's page is refused */
    assert_int_equal(req(&r, "POST", "/v1/session", NULL, NULL, "Sec-Fetch-Site: cross-site",
                         "{\"token\":\"" KVT_TOK_OSLO "\"}"), 0);
    assert_int_equal(r.status, 403);
    kvt_http_free(&r);
}

/* A chain_refund till's page searches the whole chain by reference; a
 * plain till's page only its own store. */
static void test_chain_search_with_cookie(void **state)
{
    (void)state;
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, &env, "POST", "/v1/payments", KVT_TOK_OSLO, "chain-1",
                                   "{\"amount\":\"12.00\"}"), 0);
    assert_int_equal(r.status, 201);
    char *ref = kvt_json_str(r.body, "reference");
    kvt_http_free(&r);
    char path[200];
    snprintf(path, sizeof path, "/v1/payments/%s/cancel", ref);
    assert_int_equal(kvt_serve_req(&r, &env, "POST", path, KVT_TOK_OSLO, NULL, NULL), 0);
    kvt_http_free(&r);
    snprintf(path, sizeof path, "/v1/orders?reference=%s", ref);
    char cookie[65];
    free(login("{\"token\":\"" KVT_TOK_BERGEN "\"}", NULL, cookie, NULL));
    assert_int_equal(req(&r, "GET", "/v1/session", cookie, NULL, NULL, NULL), 0);
    assert_non_null(strstr(r.body, "\"chainRefund\":true"));
    kvt_http_free(&r);
    assert_int_equal(req(&r, "GET", path, cookie, NULL, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, ref));
    kvt_http_free(&r);
    free(login("{\"token\":\"" KVT_TOK_BERGEN2 "\"}", NULL, cookie, NULL));
    assert_int_equal(req(&r, "GET", path, cookie, NULL, NULL, NULL), 0);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, ref));
    kvt_http_free(&r);
    free(ref);
}

/* `kvitt serve pair --till ID`: code printed on the vprinter, usable once. */
static char *pair_code(int print)
{
    kvt_result res;
    const char *argv[] = { "kvitt", "--config", env.conf, "serve", "pair", "--till", "t-oslo",
                           print ? NULL : "--no-print", NULL };
    assert_int_equal(kvt_run(&res, NULL, NULL, 60, argv), 0);
    if (res.status != 0)
        fail_msg("serve pair: %d %s", res.status, res.err);
    char *code = strndup(res.out, strcspn(res.out, "\n"));
    assert_int_equal(strlen(code), 9);
    assert_int_equal(code[4], '-');
    kvt_result_free(&res);
    return code;
}

static void test_pairing_code_once(void **state)
{
    (void)state;
    char *code = pair_code(1);
    /* the slip carries the code as text and in the QR's address */
    assert_true(kvt_jobs_wait(env.printer_dir, code, 1, 20000) >= 1);
    /* ... and the QR code scans to the page's address with the code */
    char *job = NULL;
    DIR *d = opendir(env.printer_dir);
    for (struct dirent *de; d && !job && (de = readdir(d));) {
        if (!strstr(de->d_name, ".bin"))
            continue;
        char *p = kvt_path("%s/%s", env.printer_dir, de->d_name);
        unsigned char *buf = NULL;
        size_t len = 0;
        if (kvt_read_file(p, &buf, &len) == 0 && memmem(buf, len, code, strlen(code)))
            job = p;
        else
            free(p);
        free(buf);
    }
    if (d)
        closedir(d);
    assert_non_null(job);
    char expect[300];
    snprintf(expect, sizeof expect, "%s/till/#pair=%s", env.url, code);
    kvt_result vr;
    const char *vargv[] = { "kvitt", "verify-qr", job, "--expect", expect, NULL };
    assert_int_equal(kvt_run(&vr, NULL, NULL, 60, vargv), 0);
    if (vr.status != 0)
        fail_msg("the pairing slip's QR code: %s%s", vr.out, vr.err);
    kvt_result_free(&vr);
    free(job);
    char body[100], cookie[65];
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    free(login(body, NULL, cookie, NULL));
    kvt_http_resp r;
    assert_int_equal(req(&r, "POST", "/v1/session", NULL, NULL, NULL, body), 0);
    assert_int_equal(r.status, 401);
    kvt_http_free(&r);
    /* typed in lower case without the dash: still the same (used) code */
    char low[20];
    snprintf(low, sizeof low, "%.4s%.4s", code, code + 5);
    for (char *p = low; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", low);
    assert_int_equal(req(&r, "POST", "/v1/session", NULL, NULL, NULL, body), 0);
    assert_int_equal(r.status, 401);
    kvt_http_free(&r);
    free(code);
    /* an unknown till */
    kvt_result res;
    const char *argv[] = { "kvitt", "--config", env.conf, "serve", "pair", "--till", "nope",
                           "--no-print", NULL };
    assert_int_equal(kvt_run(&res, NULL, NULL, 60, argv), 0);
    assert_int_equal(res.status, 3);
    assert_non_null(strstr(res.err, "[till nope]"));
    kvt_result_free(&res);
}

/* ---- in the browser ------------------------------------------------------------ */

static void browser(const char *name, const char *extra_env)
{
    char *script = kvt_path("%s/tests/web/cashier.py", kvt_srcdir());
    char e[10][1400];
    snprintf(e[0], sizeof e[0], "KVITT_URL=%s", env.url);
    snprintf(e[1], sizeof e[1], "KVITT_SIM_URL=%s", env.sim_url);
    snprintf(e[2], sizeof e[2], "KVITT_TOKEN=%s", KVT_TOK_OSLO);
    snprintf(e[3], sizeof e[3], "KVITT_PRINTER_DIR=%s", env.printer_dir);
    snprintf(e[4], sizeof e[4], "KVITT_SERVE_LOG=%s", env.serve_log);
    snprintf(e[5], sizeof e[5], "KVITT_JOURNAL=%s", journal);
    const char *shots = getenv("KVITT_CASHIER_SHOTS");
    snprintf(e[6], sizeof e[6], "KVITT_SHOTS=%s", shots ? shots : "");
    snprintf(e[7], sizeof e[7], "KVITT_FAIL_DIR=%s", env.dir);
    snprintf(e[8], sizeof e[8], "%s", extra_env ? extra_env : "KVITT_X=");
    const char *envp[] = { e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7], e[8], NULL };
    if (access("/usr/bin/python3", X_OK) != 0) {
        free(script);
        KVT_SKIP("python3 is not installed (needed with python3-selenium)");
    }
    const char *argv[] = { "/usr/bin/python3", script, name, NULL };
    kvt_result res;
    int rc = kvt_run(&res, NULL, envp, 300, argv);
    free(script);
    if (rc < 0)
        fail_msg("cashier.py %s did not finish in 300 s", name);
    fputs(res.out, stdout);
    if (res.err && *res.err)
        printf("cashier.py %s stderr:\n%s\n", name, res.err);
    fflush(stdout);
    if (res.status == 77) {
        kvt_result_free(&res);
        KVT_SKIP("the browser cannot start here (see the SKIP line above)");
    }
    char ok[64];
    snprintf(ok, sizeof ok, "OK %s\n", name);
    int good = res.status == 0 && strstr(res.out, ok) != NULL;
    kvt_result_free(&res);
    if (!good)
        fail_msg("browser case %s failed (screenshot in %s)", name, env.dir);
}

static void test_browser_paid_sale(void **state) { (void)state; browser("paid", NULL); }
static void test_browser_declined(void **state) { (void)state; browser("declined", NULL); }
static void test_browser_cancel(void **state) { (void)state; browser("cancel", NULL); }
static void test_browser_refund_reprint(void **state) { (void)state; browser("refund", NULL); }
static void test_browser_reload(void **state) { (void)state; browser("reload", NULL); }
static void test_browser_wrong_token(void **state) { (void)state; browser("badtoken", NULL); }
static void test_browser_expired(void **state) { (void)state; browser("expired", NULL); }
static void test_browser_csrf(void **state) { (void)state; browser("csrf", NULL); }
static void test_browser_printer(void **state) { (void)state; browser("printer", NULL); }
static void test_browser_desktop(void **state) { (void)state; browser("desktop", NULL); }

static void test_browser_pair_twice(void **state)
{
    (void)state;
    char *code = pair_code(0);
    char e[64];
    snprintf(e, sizeof e, "KVITT_PAIR_CODE=%s", code);
    browser("pair", e);
    free(code);
}

/* The amount in every language, as the receipts print it. */
static void test_browser_languages(void **state)
{
    (void)state;
    static const char *const langs[] = { "nb", "da", "fi", "sv", "en" };
    char json[600] = "KVITT_MONEY={";
    for (int i = 0; i < 5; i++) {
        kv_lang l;
        assert_int_equal(kv_lang_from_name(&l, langs[i]), 0);
        char m[64];
        assert_true(kv_money_format(m, sizeof m, 123456, "NOK", l) >= 0);
        size_t n = strlen(json);
        snprintf(json + n, sizeof json - n, "%s\"%s\":\"%s\"", i ? "," : "", langs[i], m);
    }
    strcat(json, "}");
    browser("languages", json);
}

/* Guessing is slowed down: after 20 failed sign-ins in a minute even the
 * right token waits (429 with Retry-After).  Runs last: it blocks sign-in
 * for up to a minute. */
static void test_signin_throttled(void **state)
{
    (void)state;
    kvt_http_resp r;
    int got429 = 0, n = 0;
    for (; n < 25 && !got429; n++) {
        assert_int_equal(req(&r, "POST", "/v1/session", NULL, NULL, NULL,
                             "{\"code\":\"AAAA-AAAA\"}"), 0);
        got429 = r.status == 429;
        if (!got429)
            assert_int_equal(r.status, 401);
        kvt_http_free(&r);
    }
    assert_true(got429);
    assert_true(n <= 21);
    assert_int_equal(req(&r, "POST", "/v1/session", NULL, NULL, NULL,
                         "{\"token\":\"" KVT_TOK_OSLO "\"}"), 0);
    assert_int_equal(r.status, 429);
    char ra[32];
    assert_non_null(kvt_http_header(&r, "Retry-After", ra, sizeof ra));
    assert_true(atoi(ra) >= 1 && atoi(ra) <= 60);
    kvt_http_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assets_up_to_date),
        cmocka_unit_test(test_page_served),
        cmocka_unit_test(test_session_cookie_and_csrf),
        cmocka_unit_test(test_wrong_token_login),
        cmocka_unit_test(test_chain_search_with_cookie),
        cmocka_unit_test(test_pairing_code_once),
        cmocka_unit_test(test_browser_paid_sale),
        cmocka_unit_test(test_browser_declined),
        cmocka_unit_test(test_browser_cancel),
        cmocka_unit_test(test_browser_refund_reprint),
        cmocka_unit_test(test_browser_reload),
        cmocka_unit_test(test_browser_wrong_token),
        cmocka_unit_test(test_browser_expired),
        cmocka_unit_test(test_browser_csrf),
        cmocka_unit_test(test_browser_pair_twice),
        cmocka_unit_test(test_browser_languages),
        cmocka_unit_test(test_browser_printer),
        cmocka_unit_test(test_browser_desktop),
        cmocka_unit_test(test_signin_throttled),
    };
    return cmocka_run_group_tests_name("cashier", tests, group_setup, group_teardown);
}
