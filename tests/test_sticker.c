/* test_sticker.c - the in-store flows end to end over real HTTP: a
 * `kvitt sim` child, a `kvitt vprinter` child and `kvitt serve` as a child
 * (tests/lib/kvtserve.c).  The sticker (merchant-callback QR): created,
 * printed and decoded (zbar through `kvitt verify-qr`), the check-in
 * webhook meeting the till's amount in either order, two tills, a held
 * check-in past its time, an unknown merchantQrId, a kill -9 between the
 * check-in and the create; the personal QR (bad values, the API's error,
 * a payment); no phone number or personal QR in the daemon's log or the
 * journal.  The placard's bytes are checked against the command
 * reference (escpos.md: ESC @, GS ( k, GS V). */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include <dirent.h>

#include "escpos/profile.h"
#include "src/journal/journal_sticker.h"
#include "src/doc/sticker.h"
#include "sim/sim.h"
#include "src/config/config.h"
#include "src/serve/auth.h"
#include "src/serve/serve.h"
#include "tests/lib/kvtserve.h"

#define TOK_OSLO2 "tok-oslo-second-till-0123456789ab"

static kvt_serve_env *live;

static kvt_serve_env *env_new(const char *name, kvt_serve_opts *o)
{
    static char extra[512];
    char h[65];
    kv_auth_hash_token(h, TOK_OSLO2);
    /* t-oslo2 takes the sticker flow by default ([till ID] flow) */
    snprintf(extra, sizeof extra, "\n[till t-oslo2]\nstore = oslo\ntoken_sha256 = %s\nflow = sticker\n", h);
    o->extra_conf = extra;
    o->vprinter = 1;
    o->no_webhooks = 1; /* registered after the stickers exist */
    kvt_serve_env *e = calloc(1, sizeof *e);
    live = e;
    if (kvt_serve_setup(e, name, o) < 0)
        fail_msg("fixture %s did not start", name);
    return e;
}

static void env_free(kvt_serve_env *e)
{
    if (!e)
        return;
    kvt_serve_teardown(e);
    free(e);
    if (live == e)
        live = NULL;
}

static int cleanup(void **state)
{
    (void)state;
    env_free(live);
    return 0;
}

/* A fresh Idempotency-Key (static buffer, one call per request). */
static const char *idk(void)
{
    static char k[64];
    static int n;
    snprintf(k, sizeof k, "stk-%d-%d", (int)getpid(), ++n);
    return k;
}

static kvt_result run(const char *const argv[])
{
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, argv), 0);
    return r;
}

/* `kvitt sticker create --till T` and `kvitt webhooks register`; returns
 * the QR content (malloc'd). */
static char *make_sticker(kvt_serve_env *e, const char *till, const char *loc, int reg)
{
    const char *argv[] = { "kvitt", "--config", e->conf, "sticker", "create", "--till", till,
                           "--location", loc, "--json", NULL };
    kvt_result r = run(argv);
    if (r.status != 0)
        printf("sticker create: %s\n", r.err);
    assert_int_equal(r.status, 0);
    char *content = kvt_json_str(r.out, "qrContent");
    assert_non_null(content);
    assert_true(!strncmp(content, "https://qr.vipps.no/", 20));
    kvt_result_free(&r);
    if (reg) {
        const char *wargv[] = { "kvitt", "--config", e->conf, "webhooks", "register", NULL };
        r = run(wargv);
        if (r.status != 0)
            printf("webhooks register: %s\n", r.err);
        assert_int_equal(r.status, 0);
        kvt_result_free(&r);
    }
    return content;
}

/* The customer scans sticker kvitt-TILL: the simulator's control endpoint. */
static char *scan(kvt_serve_env *e, const char *till, const char *extra)
{
    char path[200], body[200];
    snprintf(path, sizeof path, "/sim/v1/stickers/kvitt-%s/scan", till);
    snprintf(body, sizeof body, "{\"phone\":\"4791234567\"%s}", extra ? extra : "");
    kvt_http_resp r;
    assert_int_equal(kvt_sim_req(&r, e, "POST", path, body), 0);
    if (r.status != 200)
        printf("scan: %ld %s\n", r.status, r.body);
    assert_int_equal(r.status, 200);
    char *tok = kvt_json_str(r.body, "customerToken");
    assert_non_null(tok);
    kvt_http_free(&r);
    return tok;
}

/* Deliveries of user.checked-in.v1 that the daemon answered 2xx. */
static int checkins_delivered(kvt_serve_env *e)
{
    return kvt_sim_delivered(e, "user.checked-in.v1");
}

static void wait_checkins(kvt_serve_env *e, int want)
{
    assert_int_equal(kvt_sim_wait_delivered(e, "user.checked-in.v1", want, 15000), want);
}

/* POST a sticker payment; returns the reference, *status the HTTP status. */
static char *sticker_pay(kvt_serve_env *e, const char *tok, long minor, long *status)
{
    char body[200];
    snprintf(body, sizeof body, "{\"amountMinor\":%ld,\"flow\":\"sticker\"}", minor);
    kvt_http_resp r;
    assert_int_equal(kvt_serve_req(&r, e, "POST", "/v1/payments", tok, idk(), body), 0);
    *status = r.status;
    char *ref = kvt_json_str(r.body, "reference");
    if (!ref)
        printf("sticker pay answered %ld: %s\n", r.status, r.body);
    assert_non_null(ref);
    kvt_http_free(&r);
    return ref;
}

static void approve(kvt_serve_env *e, const char *ref)
{
    char path[200];
    snprintf(path, sizeof path, "/sim/v1/payments/%s/state", ref);
    kvt_http_resp r;
    for (int i = 0; i < 100; i++) { /* the payment reaches the simulator first */
        assert_int_equal(kvt_sim_req(&r, e, "POST", path, "{\"state\":\"approve\"}"), 0);
        long st = r.status;
        kvt_http_free(&r);
        if (st == 200)
            return;
        usleep(100000);
    }
    fail_msg("the simulator never had payment %s", ref);
}

/* The job file in dir whose bytes hold needle (malloc'd path) or NULL. */
static char *find_job(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    char *found = NULL;
    struct dirent *de;
    while (d && !found && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".bin"))
            continue;
        char *p = kvt_path("%s/%s", dir, de->d_name);
        unsigned char *b = NULL;
        size_t n = 0;
        if (kvt_read_file(p, &b, &n) == 0 && memmem(b, n, needle, strlen(needle)))
            found = p;
        else
            free(p);
        free(b);
    }
    if (d)
        closedir(d);
    return found;
}

static double amount_of(const char *json)
{
    return kvt_json_num(json, "amountMinor", -1);
}

/* ---- the placard's bytes (no processes) ---- */

static int has(const uint8_t *d, size_t n, const void *needle, size_t nl)
{
    return memmem(d, n, needle, nl) != NULL;
}

static void test_sticker__placard_bytes_follow_the_command_reference(void **state)
{
    (void)state;
    kv_escpos_options eo = KV_ESCPOS_OPTIONS_INIT;
    eo.profile = kv_profile_find("epson-tm-t88");
    assert_non_null(eo.profile);
    kv_escpos *e = NULL;
    assert_int_equal(kv_escpos_create(&e, &eo), KV_ESCPOS_OK);
    const char *url = "https://qr.vipps.no/28/2/05/031/0123456789abcdef";
    kv_sticker_spec sp = KV_STICKER_SPEC_INIT;
    sp.content = url;
    sp.location = "Kasse\x1b@1"; /* an ESC from the config must not reach the printer */
    sp.lang = KV_LANG_EN;
    assert_int_equal(kv_sticker_write(e, &sp), KV_ESCPOS_OK);
    size_t n;
    const uint8_t *d = kv_escpos_data(e, &n);
    /* ESC @ first */
    assert_true(n > 2 && d[0] == 0x1b && d[1] == 0x40);
    /* GS ( k fn 165 model 2; fn 180 store pL = len + 3, "1P0" + data; fn 181 print */
    static const uint8_t model[] = { 0x1d, 0x28, 0x6b, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00 };
    assert_true(has(d, n, model, sizeof model));
    uint8_t store[64];
    size_t ul = strlen(url);
    const uint8_t head[] = { 0x1d, 0x28, 0x6b, (uint8_t)(ul + 3), 0x00, 0x31, 0x50, 0x30 };
    memcpy(store, head, sizeof head);
    memcpy(store + sizeof head, url, ul);
    assert_true(has(d, n, store, sizeof head + ul));
    static const uint8_t print[] = { 0x1d, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x51, 0x30 };
    assert_true(has(d, n, print, sizeof print));
    /* the largest module that fits 512 dots (fn 167): more than the slip's 6 */
    const uint8_t *m = memmem(d, n, "\x1d\x28\x6b\x03\x00\x31\x43", 7);
    assert_non_null(m);
    assert_true(m[7] > 6 && m[7] <= 16);
    /* GS V 65 0: full cut, last */
    assert_true(n >= 4 && !memcmp(d + n - 4, "\x1d\x56\x41\x00", 4));
    assert_true(has(d, n, "Scan to pay with Vipps or MobilePay", 35));
    /* the ESC from the location text was not passed through */
    assert_false(has(d, n, "Kasse\x1b@", 7));
    kv_escpos_destroy(e);

    /* bad content: an error through the encoder, no bytes to print */
    assert_int_equal(kv_escpos_create(&e, &eo), KV_ESCPOS_OK);
    sp.content = "https://qr.vipps.no/ with space";
    assert_int_equal(kv_sticker_write(e, &sp), KV_ESCPOS_E_ARG);
    kv_escpos_destroy(e);
}

/* ---- sticker create, print, scan ---- */

static void test_sticker__create_prints_a_placard_that_scans_to_the_sticker(void **state)
{
    (void)state;
    kvt_serve_opts o = { 0 };
    kvt_serve_env *e = env_new("stk-create", &o);
    char *content = make_sticker(e, "t-oslo", "Kasse 1", 1);
    assert_int_equal(kvt_jobs_wait(e->printer_dir, "Kasse 1", 1, 10000), 1);
    /* find the placard and decode it with zbar */
    char *job = find_job(e->printer_dir, "Kasse 1");
    assert_non_null(job);
    const char *vargv[] = { "kvitt", "verify-qr", job, "--expect", content, "--expect-count", "1", NULL };
    kvt_result r = run(vargv);
    if (r.status != 0)
        printf("verify-qr: %s %s\n", r.out, r.err);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, content));
    kvt_result_free(&r);
    /* the same till again: the same merchantQrId, the same QR */
    char *again = make_sticker(e, "t-oslo", "Kasse 1", 0);
    assert_string_equal(again, content);
    /* the sticker is registered for user.checked-in.v1 */
    const char *largv[] = { "kvitt", "--config", e->conf, "webhooks", "list", NULL };
    r = run(largv);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "checked-in"));
    kvt_result_free(&r);
    const char *sargv[] = { "kvitt", "--config", e->conf, "sticker", "list", NULL };
    r = run(sargv);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "kvitt-t-oslo"));
    assert_non_null(strstr(r.out, "printed"));
    kvt_result_free(&r);
    /* delete: gone at the simulator too (a scan finds nothing) */
    const char *dargv[] = { "kvitt", "--config", e->conf, "sticker", "delete", "--till", "t-oslo", NULL };
    r = run(dargv);
    assert_int_equal(r.status, 0);
    kvt_result_free(&r);
    kvt_http_resp h;
    assert_int_equal(kvt_sim_req(&h, e, "POST", "/sim/v1/stickers/kvitt-t-oslo/scan", "{}"), 0);
    assert_int_equal(h.status, 404);
    kvt_http_free(&h);
    r = run(dargv);
    assert_int_equal(r.status, 1); /* no such sticker */
    kvt_result_free(&r);
    /* a printer that is not there: exit 4, the QR exists (reprint later) */
    const char *fargv[] = { "kvitt", "--config", e->conf, "sticker", "create", "--till", "t-oslo2",
                            "--printer", "tcp://127.0.0.1:1", NULL };
    r = run(fargv);
    assert_int_equal(r.status, 4);
    kvt_result_free(&r);
    r = run(sargv);
    assert_non_null(strstr(r.out, "kvitt-t-oslo2"));
    assert_non_null(strstr(r.out, "not printed"));
    kvt_result_free(&r);
    /* bad input */
    const char *bargv[] = { "kvitt", "--config", e->conf, "sticker", "create", "--till", "t oslo", NULL };
    r = run(bargv);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
    free(job);
    free(again);
    free(content);
    env_free(e);
}

/* ---- a journal written before the pairing was journaled ---- */

/* A shop's SQLite journal from before (sticker_waits without the token
 * columns, an amount waiting, a check-in held): opened by this version, the
 * table gains its columns, and the two meet as usual. */
static void test_sticker__old_sqlite_journal_is_upgraded(void **state)
{
    (void)state;
    char *path = kvt_path("%s/stk-old-journal.db", kvt_tmpdir());
    unlink(path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
        "CREATE TABLE stickers (id TEXT PRIMARY KEY, till TEXT NOT NULL, store TEXT NOT NULL,"
        " msn TEXT NOT NULL, location TEXT NOT NULL, content TEXT NOT NULL, created_at INTEGER NOT NULL,"
        " printed_at INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE sticker_checkins (key TEXT PRIMARY KEY, sticker TEXT NOT NULL, msn TEXT NOT NULL,"
        " token TEXT NOT NULL, state TEXT NOT NULL, received_ms INTEGER NOT NULL,"
        " hold_until_ms INTEGER NOT NULL);"
        "CREATE TABLE sticker_waits (reference TEXT PRIMARY KEY, till TEXT NOT NULL, sticker TEXT NOT NULL,"
        " state TEXT NOT NULL, request TEXT NOT NULL, created_ms INTEGER NOT NULL,"
        " expires_ms INTEGER NOT NULL);"
        "INSERT INTO stickers VALUES('kvitt-t-oslo','t-oslo','oslo','123456','Kasse 1','https://qr.vipps.no/x',1,0);"
        "INSERT INTO sticker_waits VALUES('OLD-1','t-oslo','kvitt-t-oslo','waiting','{\"amountMinor\":700}',"
        " 1000, 9000000000000);", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(chmod(path, 0600), 0); /* the journal refuses a readable one */
    kv_journal *j = NULL;
    assert_int_equal(kv_journal_open(&j, path, NULL, 0), KV_J_OK);
    kv_wait_row *v = NULL;
    size_t n = 0;
    assert_int_equal(kv_journal_wait_list(j, &v, &n), KV_J_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].reference, "OLD-1");
    free(v);
    kv_checkin_row ci;
    memset(&ci, 0, sizeof ci);
    snprintf(ci.key, sizeof ci.key, "k-old");
    snprintf(ci.sticker, sizeof ci.sticker, "kvitt-t-oslo");
    snprintf(ci.msn, sizeof ci.msn, "123456");
    snprintf(ci.token, sizeof ci.token, "ct-old");
    ci.received_ms = 5000;
    ci.hold_until_ms = 65000;
    kv_wait_row w;
    assert_int_equal(kv_journal_checkin_pair(j, &ci, 5000, &w), KV_J_OK);
    assert_string_equal(w.reference, "OLD-1");
    char tok[64];
    int64_t until = 0;
    assert_int_equal(kv_journal_wait_token(j, "OLD-1", tok, sizeof tok, &until), KV_J_OK);
    assert_string_equal(tok, "ct-old");
    assert_true(until == 65000);
    kv_journal_close(j);
    unlink(path);
    free(path);
}

/* ---- the two orders, two tills ---- */

static void test_sticker__amount_first_and_scan_first_two_tills(void **state)
{
    (void)state;
    kvt_serve_opts o = { 0 };
    kvt_serve_env *e = env_new("stk-orders", &o);
    free(make_sticker(e, "t-oslo", "Kasse 1", 0));
    free(make_sticker(e, "t-oslo2", "Kasse 2", 1));
    int creates0 = kvt_sim_count(e, "POST /epayment/v1/payments");
    kvt_http_resp h;

    /* amount first, then the scan */
    long st;
    char *a = sticker_pay(e, KVT_TOK_OSLO, 3100, &st);
    assert_int_equal(st, 202);
    char *w = kvt_serve_wait_state(e, KVT_TOK_OSLO, a, "AWAITING_SCAN", 5000);
    assert_non_null(w);
    free(w);
    /* the event feed knows it too (tills long-poll it) */
    char evp[200];
    snprintf(evp, sizeof evp, "/v1/payments/%s/events?after=0", a);
    assert_int_equal(kvt_serve_req(&h, e, "GET", evp, KVT_TOK_OSLO, NULL, NULL), 0);
    assert_int_equal(h.status, 200);
    if (!strstr(h.body, "AWAITING_SCAN"))
        printf("events: %s\n", h.body);
    assert_non_null(strstr(h.body, "AWAITING_SCAN"));
    kvt_http_free(&h);
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), creates0);
    free(scan(e, "t-oslo", NULL));
    wait_checkins(e, 1);
    approve(e, a);
    char *done = kvt_serve_wait_state(e, KVT_TOK_OSLO, a, "DONE", 20000);
    assert_non_null(done);
    assert_true(amount_of(done) == 3100);
    free(done);

    /* scan first, then the amount: created at once (201) */
    free(scan(e, "t-oslo", NULL));
    wait_checkins(e, 2);
    char *b = sticker_pay(e, KVT_TOK_OSLO, 1250, &st);
    assert_int_equal(st, 201);
    approve(e, b);
    done = kvt_serve_wait_state(e, KVT_TOK_OSLO, b, "DONE", 20000);
    assert_non_null(done);
    free(done);

    /* two tills, interleaved: the second till's scan starts only its amount */
    char *c1 = sticker_pay(e, KVT_TOK_OSLO, 4200, &st);
    assert_int_equal(st, 202);
    /* no "flow" in the body: the till's setting makes it a sticker payment */
    assert_int_equal(kvt_serve_req(&h, e, "POST", "/v1/payments", TOK_OSLO2, idk(), "{\"amountMinor\":5300}"), 0);
    assert_int_equal(h.status, 202);
    char *c2 = kvt_json_str(h.body, "reference");
    assert_non_null(c2);
    kvt_http_free(&h);
    free(scan(e, "t-oslo2", NULL));
    wait_checkins(e, 3);
    w = kvt_serve_wait_state(e, TOK_OSLO2, c2, "WAITING", 10000);
    assert_non_null(w);
    assert_true(amount_of(w) == 5300);
    free(w);
    w = kvt_serve_wait_state(e, KVT_TOK_OSLO, c1, "AWAITING_SCAN", 2000);
    assert_non_null(w);
    free(w);
    /* a till cannot see the other till's waiting amount */
    char path[200];
    snprintf(path, sizeof path, "/v1/payments/%s", c1);
    assert_int_equal(kvt_serve_req(&h, e, "GET", path, TOK_OSLO2, NULL, NULL), 0);
    assert_true(h.status != 200 || !strstr(h.body, "AWAITING_SCAN"));
    kvt_http_free(&h);
    free(scan(e, "t-oslo", NULL));
    wait_checkins(e, 4);
    approve(e, c1);
    approve(e, c2);
    done = kvt_serve_wait_state(e, KVT_TOK_OSLO, c1, "DONE", 20000);
    assert_non_null(done);
    assert_true(amount_of(done) == 4200);
    free(done);
    done = kvt_serve_wait_state(e, TOK_OSLO2, c2, "DONE", 20000);
    assert_non_null(done);
    assert_true(amount_of(done) == 5300);
    free(done);
    /* four payments, four creates: no check-in was used twice */
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), creates0 + 4);

    /* a second scan replaces the first; a till without a sticker gets 409 */
    assert_int_equal(kvt_serve_req(&h, e, "POST", "/v1/payments", KVT_TOK_BERGEN, idk(),
                                   "{\"amountMinor\":1000,\"flow\":\"sticker\"}"), 0);
    assert_int_equal(h.status, 409);
    kvt_http_free(&h);
    assert_int_equal(kvt_serve_req(&h, e, "POST", "/v1/payments", KVT_TOK_OSLO, idk(),
                                   "{\"amountMinor\":1000,\"flow\":\"bogus\"}"), 0);
    assert_int_equal(h.status, 400);
    kvt_http_free(&h);
    /* the till cancels a sticker payment nobody scanned: NOT_PAID, and a
     * later scan does not start it */
    char *d = sticker_pay(e, KVT_TOK_OSLO, 6600, &st);
    assert_int_equal(st, 202);
    char cp[200];
    snprintf(cp, sizeof cp, "/v1/payments/%s/cancel", d);
    assert_int_equal(kvt_serve_req(&h, e, "POST", cp, KVT_TOK_OSLO, idk(), NULL), 0);
    if (h.status != 200)
        printf("cancel: %ld %s\n", h.status, h.body);
    assert_int_equal(h.status, 200);
    assert_non_null(strstr(h.body, "NOT_PAID"));
    kvt_http_free(&h);
    free(scan(e, "t-oslo", NULL));
    wait_checkins(e, 5);
    w = kvt_serve_wait_state(e, KVT_TOK_OSLO, d, "NOT_PAID", 2000);
    assert_non_null(w);
    assert_non_null(strstr(w, "cancelled"));
    free(w);
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), creates0 + 4);
    free(d);
    free(a);
    free(b);
    free(c1);
    free(c2);
    env_free(e);
}

/* ---- expiry, unknown stickers, the API's error ---- */

static void test_sticker__held_checkin_expires_and_unknown_sticker_is_ignored(void **state)
{
    (void)state;
    kvt_serve_opts o = { .serve_extra = "sticker_hold_s = 1\n" };
    kvt_serve_env *e = env_new("stk-expiry", &o);
    free(make_sticker(e, "t-oslo", "Kasse 1", 1));
    int creates0 = kvt_sim_count(e, "POST /epayment/v1/payments");
    free(scan(e, "t-oslo", NULL));
    wait_checkins(e, 1);
    sleep(2); /* the hold (1 s) is over: the token must never be used */
    long st;
    char *a = sticker_pay(e, KVT_TOK_OSLO, 2000, &st);
    assert_int_equal(st, 202);
    usleep(300000);
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), creates0);

    /* a token that expired at Vipps (the simulator's validSeconds 0): the
     * API refuses it (4050) and the payment ends NOT_PAID */
    free(scan(e, "t-oslo", ",\"validSeconds\":0"));
    wait_checkins(e, 2);
    char *fin = kvt_serve_wait_state(e, KVT_TOK_OSLO, a, "NOT_PAID", 10000);
    assert_non_null(fin);
    free(fin);
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), creates0 + 1);

    /* a check-in without a valid signature is refused before anything
     * else: nothing held, nothing created */
    char hook[200];
    snprintf(hook, sizeof hook, "%s/webhooks/vipps", e->url);
    const char *badh[] = { "x-ms-date: Wed, 02 Dec 2026 10:00:00 GMT", "x-ms-content-sha256: AAAA",
                           "Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=AAAA",
                           "Content-Type: application/json", NULL };
    const char *forged = "{\"msn\":\"123456\",\"merchantQrId\":\"kvitt-t-oslo\",\"customerToken\":\"ct-forged\"}";
    kvt_http_resp h;
    assert_int_equal(kvt_http(&h, "POST", hook, badh, forged, strlen(forged), 10000), 0);
    assert_int_equal(h.status, 401);
    kvt_http_free(&h);
    usleep(200000);
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), creates0 + 1);

    /* a sticker kvitt does not know (made at the simulator by someone
     * else): answered 2xx, logged, nothing created */
    const char *pargv[] = { "kvitt", "--config", e->conf, "sticker", "create", "--till", "t-bergen", NULL };
    kvt_result r = run(pargv); /* bergen's MSN: a sticker of another store */
    assert_int_equal(r.status, 0);
    kvt_result_free(&r);
    /* forget it in kvitt's journal only: its check-ins now name an unknown id */
    kv_journal *j = NULL;
    assert_int_equal(kv_journal_open(&j, e->journal, NULL, 0), KV_J_OK);
    assert_int_equal(kv_journal_sticker_delete(j, "kvitt-t-bergen"), KV_J_OK);
    kv_journal_close(j);
    const char *wargv[] = { "kvitt", "--config", e->conf, "webhooks", "register", "--store", "bergen",
                            "--events", "checked-in", NULL };
    r = run(wargv);
    assert_int_equal(r.status, 0);
    kvt_result_free(&r);
    free(scan(e, "t-bergen", NULL));
    wait_checkins(e, 3);
    unsigned char *log = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(e->serve_log, &log, &len), 0);
    assert_non_null(memmem(log, len, "sticker.checkin_unknown", 23));
    free(log);
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), creates0 + 1);
    free(a);
    env_free(e);
}

/* ---- kill -9 between the check-in and the create ---- */

static void test_sticker__kill9_between_checkin_and_create_recovers(void **state)
{
    (void)state;
    kvt_serve_opts o = { 0 };
    kvt_serve_env *e = env_new("stk-crash", &o);
    free(make_sticker(e, "t-oslo", "Kasse 1", 1));
    /* restart the daemon with the crash point armed */
    kvt_serve_stop(e, SIGTERM);
    const char *env[] = { "KVITT_TEST_CRASH_AT=sticker-checkin", NULL };
    assert_int_equal(kvt_serve_start(e, env), 0);
    int creates0 = kvt_sim_count(e, "POST /epayment/v1/payments");
    long st;
    char *a = sticker_pay(e, KVT_TOK_OSLO, 7700, &st);
    assert_int_equal(st, 202);
    free(scan(e, "t-oslo", NULL));
    /* it kills itself at the crash point: the port stops answering */
    int gone = 0;
    for (int i = 0; i < 200 && !gone; i++) {
        kvt_http_resp h;
        gone = kvt_serve_req(&h, e, "GET", "/v1/health", NULL, NULL, NULL) < 0;
        kvt_http_free(&h);
        if (!gone)
            usleep(50000);
    }
    assert_true(gone);
    int ws = kvt_serve_stop(e, 0);
    assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), creates0);
    /* restart: the journaled check-in meets the waiting amount */
    assert_int_equal(kvt_serve_start(e, NULL), 0);
    char *w = kvt_serve_wait_state(e, KVT_TOK_OSLO, a, "WAITING", 20000);
    assert_non_null(w);
    assert_true(amount_of(w) == 7700);
    free(w);
    approve(e, a);
    char *done = kvt_serve_wait_state(e, KVT_TOK_OSLO, a, "DONE", 20000);
    assert_non_null(done);
    free(done);
    /* the simulator's retry of the same check-in started nothing more */
    for (int i = 0; i < 100 && checkins_delivered(e) < 1; i++)
        usleep(100000);
    usleep(500000);
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), creates0 + 1);
    free(a);
    env_free(e);
}

/* ---- the webhook's answer does not wait for the create ---- */

/* The create of the paired payment is slow at Vipps (the simulator holds
 * its answer 6 s): the check-in's delivery is answered while the create is
 * still out (the payment journaled, not WAITING yet), and the payment then
 * goes through once. */
static void test_sticker__checkin_answered_before_the_create(void **state)
{
    (void)state;
    kvt_serve_opts o = { 0 };
    kvt_serve_env *e = env_new("stk-async", &o);
    free(make_sticker(e, "t-oslo", "Kasse 1", 1));
    int creates0 = kvt_sim_count(e, "POST /epayment/v1/payments");
    long st;
    char *a = sticker_pay(e, KVT_TOK_OSLO, 5100, &st);
    assert_int_equal(st, 202);
    kvt_http_resp h;
    assert_int_equal(kvt_sim_req(&h, e, "POST", "/sim/v1/faults", "{\"method\":\"POST\","
                                 "\"path\":\"/epayment/v1/payments\",\"count\":1,\"action\":\"slow\","
                                 "\"delayMs\":6000}"), 0);
    assert_int_equal(h.status, 201);
    kvt_http_free(&h);
    free(scan(e, "t-oslo", NULL));
    wait_checkins(e, 1);
    /* delivered: the create has not been answered yet */
    char path[200];
    snprintf(path, sizeof path, "/v1/payments/%s", a);
    assert_int_equal(kvt_serve_req(&h, e, "GET", path, KVT_TOK_OSLO, NULL, NULL), 0);
    assert_int_equal(h.status, 200);
    char *state_now = kvt_json_str(h.body, "state");
    assert_non_null(state_now);
    if (strcmp(state_now, "NEW") != 0)
        printf("after the delivery: %s\n", h.body);
    assert_string_equal(state_now, "NEW");
    free(state_now);
    kvt_http_free(&h);
    char *w = kvt_serve_wait_state(e, KVT_TOK_OSLO, a, "WAITING", 30000);
    assert_non_null(w);
    free(w);
    approve(e, a);
    char *done = kvt_serve_wait_state(e, KVT_TOK_OSLO, a, "DONE", 20000);
    assert_non_null(done);
    assert_true(amount_of(done) == 5100);
    free(done);
    assert_int_equal(kvt_sim_count(e, "POST /epayment/v1/payments"), creates0 + 1);
    free(a);
    env_free(e);
}

/* ---- kvitt status: the sticker payments waiting for a scan ---- */

/* The line of `out` that names ref (malloc'd), or NULL. */
static char *line_of(const char *out, const char *ref)
{
    const char *p = strstr(out, ref);
    if (!p)
        return NULL;
    while (p > out && p[-1] != '\n')
        p--;
    const char *e = strchr(p, '\n');
    return strndup(p, e ? (size_t)(e - p) : strlen(p));
}

static const cJSON *by_ref(const cJSON *arr, const char *ref)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(x, "reference");
        if (cJSON_IsString(r) && !strcmp(r->valuestring, ref))
            return x;
    }
    return NULL;
}

static void test_sticker__status_shows_payments_waiting_for_a_scan(void **state)
{
    (void)state;
    kvt_serve_opts o = { 0 };
    kvt_serve_env *e = env_new("stk-status", &o);
    free(make_sticker(e, "t-oslo", "Kasse 1", 0));
    free(make_sticker(e, "t-oslo2", "Kasse 2", 1));
    const char *sargv[] = { "kvitt", "--config", e->conf, "status", NULL };
    const char *jargv[] = { "kvitt", "--config", e->conf, "status", "--json", NULL };
    kvt_result r = run(sargv);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "no sticker payment waits for a scan"));
    kvt_result_free(&r);

    long st;
    time_t t0 = time(NULL);
    char *a = sticker_pay(e, KVT_TOK_OSLO, 3150, &st);
    assert_int_equal(st, 202);
    kvt_http_resp h;
    assert_int_equal(kvt_serve_req(&h, e, "POST", "/v1/payments", TOK_OSLO2, idk(), "{\"amountMinor\":990}"), 0);
    assert_int_equal(h.status, 202);
    char *b = kvt_json_str(h.body, "reference");
    assert_non_null(b);
    kvt_http_free(&h);
    time_t t1 = time(NULL);

    /* text: one line per waiting payment */
    r = run(sargv);
    assert_int_equal(r.status, 0);
    char *la = line_of(r.out, a), *lb = line_of(r.out, b);
    if (!la || !lb)
        printf("status:\n%s", r.out);
    assert_non_null(la);
    assert_non_null(lb);
    assert_non_null(strstr(la, " AWAITING_SCAN 31.50 NOK till t-oslo sticker kvitt-t-oslo since "));
    assert_non_null(strstr(lb, " AWAITING_SCAN 9.90 NOK till t-oslo2 sticker kvitt-t-oslo2 since "));
    assert_non_null(strstr(la, "s left)"));
    free(la);
    free(lb);
    kvt_result_free(&r);

    /* JSON: the same, with the time as unix seconds */
    r = run(jargv);
    assert_int_equal(r.status, 0);
    cJSON *j = cJSON_Parse(r.out);
    assert_non_null(j);
    assert_true(kvt_json_num(r.out, "count", -1) == 2);
    const cJSON *w = by_ref(cJSON_GetObjectItemCaseSensitive(j, "waiting"), a);
    assert_non_null(w);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(w, "till")->valuestring, "t-oslo");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(w, "merchantQrId")->valuestring, "kvitt-t-oslo");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(w, "state")->valuestring, "AWAITING_SCAN");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(w, "amount")->valuestring, "31.50");
    assert_true(cJSON_GetObjectItemCaseSensitive(w, "amountMinor")->valuedouble == 3150);
    double since = cJSON_GetObjectItemCaseSensitive(w, "since")->valuedouble;
    assert_true(since >= (double)t0 - 1 && since <= (double)t1 + 1);
    assert_true(cJSON_GetObjectItemCaseSensitive(w, "secondsLeft")->valuedouble > 0);
    assert_non_null(by_ref(cJSON_GetObjectItemCaseSensitive(j, "waiting"), b));
    cJSON_Delete(j);
    kvt_result_free(&r);

    /* by reference: the waiting payment, not "no such payment" */
    const char *rargv[] = { "kvitt", "--config", e->conf, "status", "--reference", a, "--json", NULL };
    r = run(rargv);
    assert_int_equal(r.status, 0);
    char *sv = kvt_json_str(r.out, "state");
    assert_non_null(sv);
    assert_string_equal(sv, "AWAITING_SCAN");
    free(sv);
    kvt_result_free(&r);

    /* scanned and paid: it no longer waits */
    free(scan(e, "t-oslo", NULL));
    wait_checkins(e, 1);
    approve(e, a);
    char *done = kvt_serve_wait_state(e, KVT_TOK_OSLO, a, "DONE", 20000);
    assert_non_null(done);
    free(done);
    r = run(sargv);
    assert_int_equal(r.status, 0);
    assert_null(strstr(r.out, a));
    assert_non_null(strstr(r.out, b));
    kvt_result_free(&r);
    free(a);
    free(b);
    env_free(e);
}

/* ---- personal QR, and what never reaches a log or the journal ---- */

static void test_sticker__personal_qr_and_no_secret_in_log_or_journal(void **state)
{
    (void)state;
    kvt_serve_opts o = { 0 };
    kvt_serve_env *e = env_new("stk-pqr", &o);
    kvt_http_resp h;
    assert_int_equal(kvt_sim_req(&h, e, "POST", "/sim/v1/personal-qr", "{\"phone\":\"4748059470\"}"), 0);
    assert_int_equal(h.status, 200);
    char *pq = kvt_json_str(h.body, "qrCode");
    assert_non_null(pq);
    kvt_http_free(&h);

    /* bad shapes: 400 naming the field, never echoing the text */
    const char *bad[] = { "{\"amountMinor\":2500,\"personalQr\":\"abc\"}",
                          "{\"amountMinor\":2500,\"personalQr\":\"https://qr.vipps.no/p/a b\"}",
                          "{\"amountMinor\":2500,\"personalQr\":42}" };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(kvt_serve_req(&h, e, "POST", "/v1/payments", KVT_TOK_OSLO, idk(), bad[i]), 0);
        assert_int_equal(h.status, 400);
        assert_non_null(strstr(h.body, "ersonal"));
        assert_null(strstr(h.body, "qr.vipps.no/p/a"));
        kvt_http_free(&h);
    }
    /* a well-formed code the API does not know: 4060, not paid */
    assert_int_equal(kvt_serve_req(&h, e, "POST", "/v1/payments", KVT_TOK_OSLO, idk(),
                                   "{\"amountMinor\":2500,\"personalQr\":\"https://qr.vipps.no/p/feedface\"}"), 0);
    assert_true(h.status >= 400);
    assert_non_null(strstr(h.body, "QR-kode ble ikke godtatt")); /* the store speaks nb */
    kvt_http_free(&h);

    /* the real one: a push, paid, the receipt printed */
    char body[300];
    snprintf(body, sizeof body, "{\"amountMinor\":2500,\"personalQr\":\"%s\"}", pq);
    assert_int_equal(kvt_serve_req(&h, e, "POST", "/v1/payments", KVT_TOK_OSLO, idk(), body), 0);
    assert_int_equal(h.status, 201);
    char *ref = kvt_json_str(h.body, "reference");
    assert_non_null(ref);
    kvt_http_free(&h);
    approve(e, ref);
    char *done = kvt_serve_wait_state(e, KVT_TOK_OSLO, ref, "DONE", 20000);
    assert_non_null(done);
    free(done);
    /* a phone payment too */
    assert_int_equal(kvt_serve_req(&h, e, "POST", "/v1/payments", KVT_TOK_OSLO, idk(),
                                   "{\"amountMinor\":1500,\"phone\":\"4790000001\"}"), 0);
    assert_int_equal(h.status, 201);
    char *ref2 = kvt_json_str(h.body, "reference");
    kvt_http_free(&h);
    approve(e, ref2);
    done = kvt_serve_wait_state(e, KVT_TOK_OSLO, ref2, "DONE", 20000);
    assert_non_null(done);
    free(done);
    assert_int_equal(kvt_jobs_wait(e->printer_dir, ref, 1, 10000), 1);
    /* distance selling: a phone order's paper receipt is the shop's copy
     * (the customer's receipt is the one in the app) */
    assert_int_equal(kvt_serve_req(&h, e, "POST", "/v1/payments", KVT_TOK_OSLO, idk(),
                                   "{\"amountMinor\":4000,\"phone\":\"4790000002\",\"customerPresent\":false,"
                                   "\"items\":[{\"name\":\"Kaffe\",\"quantity\":2,\"unit_price\":2000,"
                                   "\"vat_rate\":15}]}"), 0);
    assert_int_equal(h.status, 201);
    char *ref3 = kvt_json_str(h.body, "reference");
    kvt_http_free(&h);
    approve(e, ref3);
    done = kvt_serve_wait_state(e, KVT_TOK_OSLO, ref3, "DONE", 20000);
    assert_non_null(done);
    free(done);
    assert_int_equal(kvt_jobs_wait(e->printer_dir, ref3, 1, 10000), 1);
    char *rj = find_job(e->printer_dir, ref3);
    assert_non_null(rj);
    unsigned char *rb = NULL;
    size_t rn = 0;
    assert_int_equal(kvt_read_file(rj, &rb, &rn), 0);
    assert_non_null(memmem(rb, rn, "BUTIKKENS KOPI", 14));
    free(rb);
    free(rj);
    /* the personal QR payment's receipt is the customer's: no such mark */
    rj = find_job(e->printer_dir, ref);
    assert_non_null(rj);
    assert_int_equal(kvt_read_file(rj, &rb, &rn), 0);
    assert_null(memmem(rb, rn, "BUTIKKENS KOPI", 14));
    free(rb);
    free(rj);
    free(ref3);

    /* neither the personal QR (nor its token part) nor a phone number in
     * the daemon's log, the journal, its WAL or the printed jobs */
    const char *needles[] = { pq, strrchr(pq, '/') + 1, "4790000001", "4748059470", "4790000002" };
    const char *files[] = { "serve.log", "kvitt-journal.db", "kvitt-journal.db-wal" };
    /* (a PostgreSQL journal has no file here: the log only) */
    size_t nfiles = strstr(e->journal, "postgresql://") ? 1 : 3;
    for (size_t f = 0; f < nfiles; f++) {
        char *p = kvt_path("%s/%s", e->dir, files[f]);
        unsigned char *d = NULL;
        size_t n = 0;
        if (kvt_read_file(p, &d, &n) == 0) {
            for (size_t k = 0; k < 5; k++)
                if (memmem(d, n, needles[k], strlen(needles[k])))
                    fail_msg("%s holds a secret (%zu)", files[f], k);
        } else {
            assert_int_equal(f, 2); /* only the WAL may be absent */
        }
        free(d);
        free(p);
    }
    assert_int_equal(kvt_jobs_containing(e->printer_dir, strrchr(pq, '/') + 1), 0);
    free(ref);
    free(ref2);
    free(pq);
    env_free(e);
}

/* [serve] sticker_hold_s and [till ID] flow are checked at start. */
static void test_sticker__config_keys_are_checked(void **state)
{
    (void)state;
    const char *tails[] = { "flow = bogus\n", "\n[serve]\nsticker_hold_s = 900\n",
                            "flow = sticker\n\n[serve]\nsticker_hold_s = 30\n" };
    const char *want[] = { "flow", "sticker_hold_s", NULL };
    for (int i = 0; i < 3; i++) {
        char *path = kvt_path("%s/cfgcheck-%d.conf", kvt_tmpdir(), i);
        assert_int_equal(kv_sim_write_config_url("http://127.0.0.1:9", path), KV_SIM_OK);
        unsigned char *d = NULL;
        size_t n = 0;
        assert_int_equal(kvt_read_file(path, &d, &n), 0);
        size_t tl = strlen(tails[i]);
        d = realloc(d, n + tl);
        memcpy(d + n, tails[i], tl); /* the file ends with [till till-1] */
        assert_int_equal(kvt_write_file(path, d, n + tl), 0);
        free(d);
        kv_config *cfg = NULL;
        char err[512] = "";
        assert_int_equal(kv_config_load(&cfg, path, err, sizeof err), KV_C_OK);
        kv_serve_status st = kv_serve_check_config(cfg, err, sizeof err);
        if (want[i]) {
            assert_int_equal(st, KV_SERVE_E_CONFIG);
            assert_non_null(strstr(err, want[i]));
        } else {
            if (st != KV_SERVE_OK)
                printf("%s\n", err);
            assert_int_equal(st, KV_SERVE_OK);
        }
        kv_config_free(cfg);
        free(path);
    }
}

static void test_sticker__pay_sticker_without_daemon_exits_3(void **state)
{
    (void)state;
    const char *argv[] = { "kvitt", "pay", "--amount", "10.00", "--sticker", NULL };
    kvt_result r = run(argv);
    assert_int_equal(r.status, 3);
    assert_non_null(strstr(r.err, "daemon"));
    kvt_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sticker__placard_bytes_follow_the_command_reference),
        cmocka_unit_test(test_sticker__pay_sticker_without_daemon_exits_3),
        cmocka_unit_test(test_sticker__old_sqlite_journal_is_upgraded),
        cmocka_unit_test(test_sticker__config_keys_are_checked),
        cmocka_unit_test_teardown(test_sticker__create_prints_a_placard_that_scans_to_the_sticker, cleanup),
        cmocka_unit_test_teardown(test_sticker__amount_first_and_scan_first_two_tills, cleanup),
        cmocka_unit_test_teardown(test_sticker__held_checkin_expires_and_unknown_sticker_is_ignored, cleanup),
        cmocka_unit_test_teardown(test_sticker__kill9_between_checkin_and_create_recovers, cleanup),
        cmocka_unit_test_teardown(test_sticker__checkin_answered_before_the_create, cleanup),
        cmocka_unit_test_teardown(test_sticker__status_shows_payments_waiting_for_a_scan, cleanup),
        cmocka_unit_test_teardown(test_sticker__personal_qr_and_no_secret_in_log_or_journal, cleanup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
