/* test_certify.c - `kvitt certify` end to end against `kvitt sim` over real
 * HTTP on loopback (both as child processes), the qr_source default and
 * warnings, and the daemon starting on the config `kvitt sim
 * --write-config` writes.  Nothing is mocked. */
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
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "src/config/config.h"
#include "src/vipps/vipps.h"
#include "tests/lib/kvtest.h"
#include "tests/lib/kvthttp.h"
#include "tests/lib/kvtserve.h"

/* The exit status, with kvitt's stderr when it is not the one wanted. */
#define want_status(r, n)                                                                                     \
    do {                                                                                                    \
        if ((r).status != (n))                                                                              \
            fail_msg("kvitt exited with %d, want %d; stderr:\n%.3000s", (r).status, (n), (r).err ? (r).err : ""); \
    } while (0)

typedef struct env {
    kvt_proc *sim;
    char url[128];
    char *dir, *conf, *secrets, *record;
} env;

/* `kvitt sim --write-config DIR/kvitt.conf --record DIR/record.jsonl`. */
static void sim_start_after(env *e, const char *name, const char *auto_mode, const char *after)
{
    memset(e, 0, sizeof *e);
    e->dir = kvt_path("%s/%s", kvt_tmpdir(), name);
    mkdir(e->dir, 0755);
    e->conf = kvt_path("%s/kvitt.conf", e->dir);
    e->secrets = kvt_path("%s/kvitt.secrets", e->dir);
    e->record = kvt_path("%s/record.jsonl", e->dir);
    char *log = kvt_path("%s/sim.log", e->dir);
    const char *argv[] = { "kvitt", "sim", "--listen", "127.0.0.1:0", "--write-config", e->conf, "--record",
                           e->record, "--exit-with-parent", "--auto", auto_mode ? auto_mode : "none",
                           "--approve-after", after, NULL };
    e->sim = kvt_spawn(argv, NULL, log);
    free(log);
    assert_non_null(e->sim);
    char *line = kvt_proc_readline(e->sim, 30000);
    assert_non_null(line);
    snprintf(e->url, sizeof e->url, "%s", line);
    free(line);
}

static void sim_start(env *e, const char *name, const char *auto_mode)
{
    sim_start_after(e, name, auto_mode, "0.5");
}

static void sim_stop(env *e)
{
    kvt_proc_stop(e->sim, SIGTERM);
    free(e->dir);
    free(e->conf);
    free(e->secrets);
    free(e->record);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        printf("cannot read %s\n", path);
    assert_non_null(f);
    char *text = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&text, &cap, '\0', f); /* the whole text file */
    fclose(f);
    assert_true(n >= 0);
    return text;
}

/* Replace the first "key = old" line inside [section] of the config. */
static void conf_set(const env *e, const char *section, const char *from, const char *to)
{
    char *t = slurp(e->conf);
    char *sec = strstr(t, section);
    assert_non_null(sec);
    char *p = strstr(sec, from);
    assert_non_null(p);
    size_t a = (size_t)(p - t), fl = strlen(from), tl = strlen(to), n = strlen(t);
    char *q = malloc(n - fl + tl + 1);
    memcpy(q, t, a);
    memcpy(q + a, to, tl);
    memcpy(q + a + tl, p + fl, n - a - fl + 1);
    assert_int_equal(kvt_write_file(e->conf, q, strlen(q)), 0);
    free(q);
    free(t);
}

static const cJSON *line_by_id(const cJSON *report, const char *id)
{
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(report, "lines")) {
        const cJSON *i = cJSON_GetObjectItemCaseSensitive(l, "id");
        if (cJSON_IsString(i) && !strcmp(i->valuestring, id))
            return l;
    }
    return NULL;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Every value of "key":"VALUE" in text (e.g. the simulator's access
 * tokens in the --record file), as a NULL-terminated malloc'd list. */
static char **values_of(const char *text, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\\\"%s\\\":\\\"", key);
    char **v = calloc(256, sizeof *v);
    size_t n = 0;
    for (const char *p = strstr(text, pat); p && n < 255; p = strstr(p + 1, pat)) {
        const char *s = p + strlen(pat), *end = strstr(s, "\\\"");
        if (end && end > s)
            v[n++] = strndup(s, (size_t)(end - s));
    }
    return v;
}

static void free_list(char **v)
{
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

/* The payment as the simulator holds it, read with the project's client. */
static void sim_payment(const char *conf, const char *ref, kv_vipps_payment *out)
{
    kv_config *cfg = NULL;
    char err[512];
    assert_int_equal(kv_config_load(&cfg, conf, err, sizeof err), KV_C_OK);
    const kv_store *st = kv_config_store(cfg, "oslo");
    const kv_credentials *cr = kv_config_credentials(cfg, st);
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.environment = kv_config_main_get(cfg)->environment;
    o.client_id = cr->client_id;
    o.client_secret = cr->client_secret;
    o.subscription_key = cr->subscription_key;
    o.msn = st->msn;
    kv_vipps_client *c = NULL;
    assert_int_equal(kv_vipps_client_create(&c, &o, err, sizeof err), KV_VIPPS_OK);
    assert_int_equal(kv_vipps_get(out, c, ref), KV_VIPPS_OK);
    kv_vipps_client_destroy(c);
    kv_config_free(cfg);
}

static const char *const LINE_IDS[] = {
    "create", "get", "events", "capture-full", "capture-partial", "refund-partial", "refund-full", "cancel",
    "cancel-before", "polling", "webhooks", "errors", "headers", "idempotency", "customer-present", "receipt",
    "reference", "qr-design", NULL };

static void test_certify__sim_tour_passes_every_line(void **state)
{
    (void)state;
    env e;
    sim_start(&e, "tour", NULL);
    char *out = kvt_path("%s/report", e.dir);
    mkdir(out, 0755);
    kvt_result r;
    const char *argv[] = { "kvitt", "--config", e.conf, "certify", "--out", out, "--run-id", "t1", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 120, argv), 0);
    if (r.status != 0)
        printf("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
    want_status(r, 0);
    assert_non_null(strstr(r.out, "18 of 18 checklist lines passed"));
    kvt_result_free(&r);

    char *mdp = kvt_path("%s/certify.md", out), *jsp = kvt_path("%s/certify.json", out);
    char *md = slurp(mdp), *js = slurp(jsp);
    cJSON *rep = cJSON_Parse(js);
    assert_non_null(rep);
    assert_string_equal(str(rep, "environment"), "simulator");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep, "passed")));
    /* every checklist line, passed, with a reference that the simulator
     * knows; the markdown has the same line */
    for (size_t i = 0; LINE_IDS[i]; i++) {
        const cJSON *l = line_by_id(rep, LINE_IDS[i]);
        if (!l)
            printf("missing line %s\n", LINE_IDS[i]);
        assert_non_null(l);
        assert_string_equal(str(l, "result"), "passed");
        const char *ref = str(l, "reference");
        assert_true(!strncmp(ref, "OSL-cert-t1-", 12));
        char row[128];
        snprintf(row, sizeof row, "| %s: ", LINE_IDS[i]);
        assert_non_null(strstr(md, row));
        kv_vipps_payment p;
        sim_payment(e.conf, ref, &p); /* asserts the simulator has it */
        assert_string_equal(p.reference, ref);
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(l, "headers");
        assert_true(cJSON_GetArraySize(h) > 0);
    }
    /* final states as the simulator sees them */
    struct { const char *id, *state; } fin[] = { { "capture-full", "CAPTURED" }, { "refund-full", "REFUNDED" },
                                                { "cancel", "CANCELLED" }, { "cancel-before", "TERMINATED" } };
    for (size_t i = 0; i < sizeof fin / sizeof fin[0]; i++) {
        const cJSON *l = line_by_id(rep, fin[i].id);
        assert_string_equal(str(l, "finalState"), fin[i].state);
        kv_vipps_payment p;
        sim_payment(e.conf, str(l, "reference"), &p);
        if (!strcmp(fin[i].state, "CAPTURED"))
            assert_true(p.captured == p.authorized && p.captured > 0 && p.refunded == 0);
        else if (!strcmp(fin[i].state, "REFUNDED"))
            assert_true(p.refunded == p.captured && p.refunded > 0);
        else if (!strcmp(fin[i].state, "CANCELLED"))
            assert_true(p.state == KV_VIPPS_STATE_AUTHORIZED && p.cancelled == p.authorized && p.captured == 0);
        else
            assert_int_equal(p.state, KV_VIPPS_STATE_TERMINATED);
    }
    kv_vipps_payment pp;
    sim_payment(e.conf, str(line_by_id(rep, "capture-partial"), "reference"), &pp);
    assert_true(pp.captured > 0 && pp.captured < pp.authorized && pp.refunded > 0 && pp.refunded < pp.captured);
    /* the event log in the report is the simulator's */
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(line_by_id(rep, "capture-full"), "events");
    assert_int_equal(cJSON_GetArraySize(ev), 3);
    assert_string_equal(str(cJSON_GetArrayItem(ev, 2), "name"), "CAPTURED");
    /* the webhook receiver got signed deliveries */
    assert_non_null(strstr(str(line_by_id(rep, "webhooks"), "evidence"), "HMAC verified"));

    /* no secret in either file: client secret, subscription key, client id
     * of the store, and every access token the simulator issued */
    char *sec = slurp(e.secrets), *rec = slurp(e.record);
    const char *keys[] = { "client_secret = ", "subscription_key = ", "client_id = " };
    int checked = 0;
    for (size_t k = 0; k < 3; k++) {
        for (const char *p = strstr(sec, keys[k]); p; p = strstr(p + 1, keys[k])) {
            const char *v = p + strlen(keys[k]);
            char *val = strndup(v, strcspn(v, "\n"));
            assert_null(strstr(md, val));
            assert_null(strstr(js, val));
            free(val);
            checked++;
        }
    }
    assert_int_equal(checked, 9);
    char **tokens = values_of(rec, "access_token");
    assert_non_null(tokens[0]);
    for (size_t i = 0; tokens[i]; i++) {
        assert_true(strlen(tokens[i]) > 100);
        assert_null(strstr(md, tokens[i]));
        assert_null(strstr(js, tokens[i]));
    }
    free_list(tokens);
    assert_non_null(strstr(md, "Authorization: [masked]"));
    assert_non_null(strstr(md, "Ocp-Apim-Subscription-Key: [masked]"));
    free(sec);
    free(rec);
    cJSON_Delete(rep);
    free(md);
    free(js);
    free(mdp);
    free(jsp);
    free(out);
    sim_stop(&e);
}

/* A scripted fault makes the full refund fail: exit 1, and the report
 * names that line with the simulator's error code as the reason. */
static void test_certify__sim_fault_fails_the_named_line(void **state)
{
    (void)state;
    env e;
    sim_start(&e, "fault", NULL);
    char fault[512];
    snprintf(fault, sizeof fault, "{\"method\":\"POST\",\"path\":\"/epayment/v1/payments/OSL-cert-f1-3/refund\","
             "\"count\":10,\"action\":\"status\",\"status\":400,\"errorCode\":\"6210\"}");
    char furl[256];
    snprintf(furl, sizeof furl, "%s/sim/v1/faults", e.url);
    kvt_http_resp hr;
    assert_int_equal(kvt_http(&hr, "POST", furl, NULL, fault, strlen(fault), 10000), 0);
    assert_int_equal(hr.status, 201);
    kvt_http_free(&hr);
    kvt_result r;
    /* --phone: the payments are pushes to a test user whose number must
     * not appear anywhere */
    const char *argv[] = { "kvitt", "--config", e.conf, "certify", "--out", e.dir, "--run-id", "f1",
                           "--webhook-wait", "5", "--phone", "4791234567", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 120, argv), 0);
    want_status(r, 1);
    assert_non_null(strstr(r.out, "refund-full      failed"));
    assert_null(strstr(r.out, "4791234567"));
    assert_null(strstr(r.err, "4791234567"));
    kvt_result_free(&r);
    char *jsp = kvt_path("%s/certify.json", e.dir), *mdp = kvt_path("%s/certify.md", e.dir);
    char *js = slurp(jsp), *md = slurp(mdp);
    cJSON *rep = cJSON_Parse(js);
    assert_non_null(rep);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rep, "passed")));
    const cJSON *l = line_by_id(rep, "refund-full");
    assert_string_equal(str(l, "result"), "failed");
    assert_string_equal(str(l, "reference"), "OSL-cert-f1-3");
    assert_non_null(strstr(str(l, "reason"), "6210"));
    assert_string_equal(str(line_by_id(rep, "capture-full"), "result"), "passed");
    assert_non_null(strstr(str(line_by_id(rep, "create"), "evidence"), "PUSH_MESSAGE"));
    assert_null(strstr(js, "4791234567"));
    assert_null(strstr(md, "4791234567"));
    assert_string_equal(str(line_by_id(rep, "refund-partial"), "result"), "passed");
    /* the markdown row and section say the same */
    assert_non_null(strstr(md, "| refund-full: "));
    const char *sec = strstr(md, ". refund-full: ");
    assert_non_null(sec);
    const char *reason = strstr(sec, "- Reason: ");
    assert_non_null(reason);
    assert_true(reason < strstr(sec + 1, "\n### "));
    assert_non_null(strstr(reason, "6210"));
    cJSON_Delete(rep);
    free(js);
    free(md);
    free(jsp);
    free(mdp);
    sim_stop(&e);
}

/* qr_source: the written config uses image, a config without the key loads
 * as image, and a text store warns (pay on stderr) and is not verified by
 * certify. */
static void test_certify__qr_source_default_image_and_text_warns(void **state)
{
    (void)state;
    env e;
    sim_start(&e, "qr", "approve");
    char *t = slurp(e.conf);
    const char *p1 = strstr(t, "qr_source = image\n");
    assert_non_null(p1);
    assert_non_null(strstr(p1 + 1, "qr_source = image\n"));
    assert_null(strstr(t, "qr_source = text"));
    free(t);
    kv_config *cfg = NULL;
    char err[512];
    conf_set(&e, "[store bergen]", "qr_source = image\n", "");
    assert_int_equal(kv_config_load(&cfg, e.conf, err, sizeof err), KV_C_OK);
    assert_int_equal(kv_config_store(cfg, "oslo")->qr_source, KV_QR_IMAGE);
    assert_int_equal(kv_config_store(cfg, "bergen")->qr_source, KV_QR_IMAGE);
    kv_config_free(cfg);

    /* image: no warning */
    kvt_result r;
    const char *pay[] = { "kvitt", "--config", e.conf, "pay", "--amount", "12.00", "--timeout", "30", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 90, pay), 0);
    want_status(r, 0);
    assert_null(strstr(r.err, "qr_source = text"));
    kvt_result_free(&r);
    /* text: the warning names the store and the approval */
    conf_set(&e, "[store oslo]", "qr_source = image", "qr_source = text");
    assert_int_equal(kvt_run(&r, NULL, NULL, 90, pay), 0);
    want_status(r, 0);
    assert_non_null(strstr(r.err, "warning: [store oslo] qr_source = text"));
    assert_non_null(strstr(r.err, "needs Vipps' approval"));
    kvt_result_free(&r);
    /* certify reports the design line as not verified: exit 1 */
    const char *cert[] = { "kvitt", "--config", e.conf, "certify", "--out", e.dir, "--run-id", "q1",
                           "--webhook-wait", "5", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 120, cert), 0);
    want_status(r, 1);
    assert_non_null(strstr(r.out, "qr-design        not verified"));
    assert_null(strstr(r.out, "18 of 18"));
    kvt_result_free(&r);
    /* ... unless the operator states that Vipps approved the design */
    const char *cert2[] = { "kvitt", "--config", e.conf, "certify", "--out", e.dir, "--run-id", "q2",
                            "--webhook-wait", "5", "--qr-design-approved", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 120, cert2), 0);
    want_status(r, 0);
    assert_non_null(strstr(r.out, "qr-design        passed"));
    kvt_result_free(&r);
    sim_stop(&e);
}

/* `kvitt serve --config` on the written config starts; its health
 * endpoint answers 200 to the till token from the secrets file, 401
 * without it; a text store is warned about in the log. */
static void test_certify__written_config_starts_serve(void **state)
{
    (void)state;
    env e;
    sim_start(&e, "serve", NULL);
    char *sec = slurp(e.secrets);
    const char *tl = strstr(sec, "# till-token till-1 = ");
    assert_non_null(tl);
    char *token = strndup(tl + 22, strcspn(tl + 22, "\n"));
    assert_int_equal(strlen(token), 48);
    char *conf = slurp(e.conf);
    assert_non_null(strstr(conf, "[till till-1]\nstore = oslo\ntoken_sha256 = "));
    assert_null(strstr(conf, token)); /* only its hash is in the config */
    free(conf);
    struct stat sb;
    assert_int_equal(stat(e.secrets, &sb), 0);
    assert_int_equal(sb.st_mode & 077, 0);
    conf_set(&e, "[store bergen]", "qr_source = image", "qr_source = text");

    char *log = kvt_path("%s/serve.log", e.dir);
    const char *argv[] = { "kvitt", "serve", "--config", e.conf, "--listen", "127.0.0.1:0", NULL };
    kvt_proc *p = kvt_spawn(argv, NULL, log);
    assert_non_null(p);
    char *url = kvt_proc_readline(p, 30000);
    assert_non_null(url);
    char hurl[256], auth[128];
    snprintf(hurl, sizeof hurl, "%s/v1/health", url);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *h[] = { auth, NULL };
    kvt_http_resp r;
    assert_int_equal(kvt_http(&r, "GET", hurl, h, NULL, 0, 15000), 0);
    assert_int_equal(r.status, 200);
    kvt_http_free(&r);
    assert_int_equal(kvt_http(&r, "GET", hurl, NULL, NULL, 0, 15000), 0);
    assert_int_equal(r.status, 401);
    kvt_http_free(&r);
    assert_int_equal(kvt_proc_stop(p, SIGTERM), 0);
    char *lg = slurp(log);
    const char *w = strstr(lg, "config.qr_source store=bergen value=text");
    assert_non_null(w);
    assert_non_null(strstr(w, "needs Vipps' approval"));
    assert_null(strstr(lg, "config.qr_source store=oslo"));
    assert_null(strstr(lg, token));
    free(lg);
    free(log);
    free(url);
    free(token);
    free(sec);
    sim_stop(&e);
}

/* --wait-for-app: certify does not approve through the simulator, it asks
 * the operator (stderr) and polls until the customer (here the
 * simulator's --auto approve) has approved. */
static void test_certify__waits_for_the_customer(void **state)
{
    (void)state;
    env e;
    sim_start_after(&e, "wait", "approve", "2");
    conf_set(&e, "[kvitt]", "poll_first_s = 5", "poll_first_s = 1");
    conf_set(&e, "[kvitt]", "poll_interval_ms = 1500", "poll_interval_ms = 500");
    kvt_result r;
    const char *argv[] = { "kvitt", "--config", e.conf, "certify", "--out", e.dir, "--run-id", "w1",
                           "--wait-for-app", "--timeout", "60", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 180, argv), 0);
    if (r.status != 0)
        printf("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
    want_status(r, 0);
    for (int i = 1; i <= 4; i++) {
        char want[160];
        snprintf(want, sizeof want, "ACTION: approve payment OSL-cert-w1-%d of NOK 10.00 in the simulator", i);
        assert_non_null(strstr(r.err, want));
    }
    assert_null(strstr(r.err, "OSL-cert-w1-5 of NOK")); /* cancelled before anyone answers */
    kvt_result_free(&r);
    char *jsp = kvt_path("%s/certify.json", e.dir);
    char *js = slurp(jsp);
    cJSON *rep = cJSON_Parse(js);
    const char *ev = str(line_by_id(rep, "polling"), "evidence");
    int polls = 0;
    assert_int_equal(sscanf(ev, "AUTHORIZED seen by GET polling (%d poll", &polls), 1);
    assert_true(polls >= 1);
    cJSON_Delete(rep);
    free(js);
    free(jsp);
    sim_stop(&e);
}

/* With a daemon running (the kvtserve fixture: [serve] webhook_url,
 * registered), certify reads the deliveries the daemon journaled instead of
 * starting its own receiver; once that registration is deleted it falls
 * back to its own receiver (the environment is the simulator). */
static void test_certify__uses_the_daemons_webhooks(void **state)
{
    (void)state;
    kvt_serve_env se;
    kvt_serve_opts so = { 0 };
    assert_int_equal(kvt_serve_setup(&se, "daemon", &so), 0);
    char *out = kvt_path("%s/report", se.dir);
    mkdir(out, 0755);
    kvt_result r;
    const char *argv[] = { "kvitt", "--config", se.conf, "certify", "--out", out, "--run-id", "d1", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 120, argv), 0);
    if (r.status != 0)
        printf("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
    want_status(r, 0);
    assert_non_null(strstr(r.err, "the daemon's registration for"));
    assert_null(strstr(r.err, "local receiver"));
    kvt_result_free(&r);
    char *jsp = kvt_path("%s/certify.json", out);
    char *js = slurp(jsp);
    cJSON *rep = cJSON_Parse(js);
    const cJSON *l = line_by_id(rep, "webhooks");
    assert_string_equal(str(l, "result"), "passed");
    assert_non_null(strstr(str(l, "evidence"), "the daemon at"));
    assert_non_null(strstr(str(l, "evidence"), "OSL-cert-d1-1"));
    cJSON_Delete(rep);
    free(js);
    /* the daemon logged the deliveries for the tour's payment */
    char *lg = slurp(se.serve_log);
    assert_non_null(strstr(lg, "webhook.received reference=OSL-cert-d1-1"));
    free(lg);

    /* delete the daemon's registration: not verified, exit 1 */
    const char *list[] = { "kvitt", "--config", se.conf, "webhooks", "list", "--store", "oslo", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, list), 0);
    want_status(r, 0);
    char *id = NULL;
    for (char *ln = strtok(r.out, "\n"); ln && !id; ln = strtok(NULL, "\n"))
        if (strstr(ln, "/webhooks/vipps"))
            id = strndup(ln, strcspn(ln, " \t")); /* ID<TAB>store<TAB>url... */
    kvt_result_free(&r);
    if (!id)
        printf("no oslo registration in the list\n");
    assert_non_null(id);
    const char *del[] = { "kvitt", "--config", se.conf, "webhooks", "delete", "--id", id, "--store", "oslo", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, del), 0);
    if (r.status != 0)
        printf("webhooks delete: %s\n", r.err);
    want_status(r, 0);
    kvt_result_free(&r);
    free(id);
    /* the environment is still the simulator: the local receiver serves */
    const char *again[] = { "kvitt", "--config", se.conf, "certify", "--out", out, "--run-id", "d2", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 120, again), 0);
    want_status(r, 0);
    assert_non_null(strstr(r.err, "local receiver"));
    kvt_result_free(&r);
    free(jsp);
    free(out);
    kvt_serve_teardown(&se);
}

/* Ctrl-C while certify waits for the customer: it stops waiting, creates
 * no further payment, writes the report naming the interrupted one, and
 * exits 1. */
static void test_certify__interrupt_stops_the_tour(void **state)
{
    (void)state;
    env e;
    sim_start(&e, "intr", NULL);
    conf_set(&e, "[kvitt]", "poll_first_s = 5", "poll_first_s = 0");
    char *log = kvt_path("%s/certify.err", e.dir);
    const char *argv[] = { "kvitt", "--config", e.conf, "certify", "--out", e.dir, "--run-id", "i1",
                           "--wait-for-app", "--timeout", "600", NULL };
    kvt_proc *p = kvt_spawn(argv, NULL, log);
    assert_non_null(p);
    int asked = 0;
    for (int i = 0; i < 600 && !asked; i++) { /* up to 60 s on a loaded machine */
        unsigned char *b = NULL;
        size_t n = 0;
        if (kvt_read_file(log, &b, &n) == 0) {
            asked = strstr((char *)b, "ACTION: approve payment OSL-cert-i1-1") != NULL;
            free(b);
        }
        if (!asked)
            usleep(100000);
    }
    assert_true(asked);
    int st = kvt_proc_stop(p, SIGINT);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    char *jsp = kvt_path("%s/certify.json", e.dir);
    char *js = slurp(jsp);
    cJSON *rep = cJSON_Parse(js);
    assert_non_null(rep);
    const cJSON *l = line_by_id(rep, "capture-full");
    assert_string_equal(str(l, "result"), "failed");
    assert_non_null(strstr(str(l, "reason"), "interrupted"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rep, "payments")), 5);
    cJSON_Delete(rep);
    /* only the first payment exists at the simulator */
    char url[256];
    kvt_http_resp hr;
    snprintf(url, sizeof url, "%s/sim/v1/payments/OSL-cert-i1-2/state", e.url);
    assert_int_equal(kvt_http(&hr, "POST", url, NULL, "{\"state\":\"AUTHORIZED\"}", 22, 10000), 0);
    assert_int_equal(hr.status, 404);
    kvt_http_free(&hr);
    /* the unanswered payment was not left hanging */
    kv_vipps_payment pay;
    sim_payment(e.conf, "OSL-cert-i1-1", &pay);
    assert_int_equal(pay.state, KV_VIPPS_STATE_TERMINATED);
    assert_int_equal(pay.captured, 0);
    free(js);
    free(jsp);
    free(log);
    sim_stop(&e);
}

/* Every request certify sends and every answer it gets in the tour match
 * the OpenAPI specs of ../shared/specs (tests/contract/validate.py over the
 * simulator's --record file).  Skips visibly without ../shared or the
 * validator's Python modules. */
static void test_certify__tour_requests_match_the_specs(void **state)
{
    (void)state;
    KVT_REQUIRE_SHARED();
    env e;
    sim_start(&e, "contract", NULL);
    kvt_result r;
    const char *argv[] = { "kvitt", "--config", e.conf, "certify", "--out", e.dir, "--run-id", "c1", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 120, argv), 0);
    want_status(r, 0);
    kvt_result_free(&r);
    char *script = kvt_path("%s/tests/contract/validate.py", kvt_srcdir());
    char *specs = kvt_path("%s/specs", kvt_shared());
    const char *v[] = { "/usr/bin/python3", script, "--specs", specs, "--record", e.record, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 120, v), 0);
    free(script);
    free(specs);
    if (r.status == 77 || r.status == 127) {
        const char *why = strstr(r.out, "SKIP: ");
        kvt_result_free(&r);
        sim_stop(&e);
        KVT_SKIP("contract validator unavailable: %s", why ? why + 6 : "no python3");
    }
    if (r.status != 0)
        printf("validator:\n%s\n%s\n", r.out, r.err);
    want_status(r, 0);
    kvt_result_free(&r);
    sim_stop(&e);
}

/* Exit codes before any payment: 5 when the service cannot be reached
 * (nothing listens on the configured port), 2 for a --store the
 * configuration does not have (as kvitt pay, report and reconcile) and for
 * a bad option, 3 for refused credentials. */
static void test_certify__unreachable_and_config_errors(void **state)
{
    (void)state;
    env e;
    sim_start(&e, "down", NULL);
    char from[160], to[160];
    snprintf(from, sizeof from, "environment = %s", e.url);
    snprintf(to, sizeof to, "environment = http://127.0.0.1:%d", kvt_free_port());
    conf_set(&e, "[kvitt]", from, to);
    kvt_result r;
    const char *argv[] = { "kvitt", "--config", e.conf, "certify", "--out", e.dir, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 120, argv), 0);
    want_status(r, 5);
    assert_non_null(strstr(r.err, "unreachable"));
    kvt_result_free(&r);
    const char *nostore[] = { "kvitt", "--config", e.conf, "certify", "--store", "tromso", "--out", e.dir, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, nostore), 0);
    want_status(r, 2);
    assert_non_null(strstr(r.err, "tromso"));
    kvt_result_free(&r);
    /* refused credentials: 3, and the secret is not echoed */
    char *sec = slurp(e.secrets);
    const char *cs = strstr(sec, "client_secret = ");
    assert_non_null(cs);
    char *secret = strndup(cs + 16, strcspn(cs + 16, "\n"));
    free(sec);
    conf_set(&e, "[kvitt]", to, from);
    char *sp = e.conf;
    e.conf = e.secrets; /* conf_set edits e.conf */
    conf_set(&e, "[credentials oslo]", secret, "d3Jvbmcgc2VjcmV0IGZvciB0aGUgdGVzdA==");
    e.conf = sp;
    const char *refused[] = { "kvitt", "--config", e.conf, "certify", "--out", e.dir, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, refused), 0);
    want_status(r, 3);
    assert_non_null(strstr(r.err, "access token from"));
    assert_null(strstr(r.err, "d3Jvbmcgc2VjcmV0IGZvciB0aGUgdGVzdA=="));
    assert_null(strstr(r.err, secret));
    kvt_result_free(&r);
    free(secret);
    const char *badrun[] = { "kvitt", "--config", e.conf, "certify", "--run-id", "bad id!", "--out", e.dir, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, badrun), 0);
    want_status(r, 2);
    assert_non_null(strstr(r.err, "--run-id"));
    kvt_result_free(&r);
    sim_stop(&e);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_certify__sim_tour_passes_every_line),
        cmocka_unit_test(test_certify__sim_fault_fails_the_named_line),
        cmocka_unit_test(test_certify__qr_source_default_image_and_text_warns),
        cmocka_unit_test(test_certify__written_config_starts_serve),
        cmocka_unit_test(test_certify__waits_for_the_customer),
        cmocka_unit_test(test_certify__uses_the_daemons_webhooks),
        cmocka_unit_test(test_certify__interrupt_stops_the_tour),
        cmocka_unit_test(test_certify__tour_requests_match_the_specs),
        cmocka_unit_test(test_certify__unreachable_and_config_errors),
    };
    int rc = cmocka_run_group_tests_name("certify", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
