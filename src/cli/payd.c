/* payd.c - `kvitt pay` handed to a running `kvitt serve` ([kvitt] serve_url):
 * the daemon has the journal open, the access token cached and its
 * connections warm, so the payment starts one round trip (the create)
 * after this process does.  This process only asks the till API and
 * follows the payment's event feed; the daemon does everything else (and
 * finishes the payment if this process dies). */
#include "src/cli/payd.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src/cli/cli.h"
#include "src/cli/flowcli.h"
#include "src/config/config.h"

typedef struct buf {
    char *p;
    size_t n;
} buf;

static size_t sink(char *d, size_t s, size_t m, void *ud)
{
    buf *b = ud;
    char *q = realloc(b->p, b->n + s * m + 1);
    if (!q)
        return 0;
    memcpy(q + b->n, d, s * m);
    b->n += s * m;
    q[b->n] = '\0';
    b->p = q;
    return s * m;
}

/* One request to the daemon; returns the HTTP status (0: no answer). */
static long call(CURL *c, const char *url, const char *token, const char *method, const char *idem,
                 const char *body, buf *out, long timeout_ms)
{
    free(out->p);
    out->p = NULL;
    out->n = 0;
    char auth[200], key[160];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    if (idem) {
        snprintf(key, sizeof key, "Idempotency-Key: %s", idem);
        h = curl_slist_append(h, key);
    }
    if (body)
        h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return status;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* The payment as the daemon reports it, into a flow result. */
static void to_result(kv_flow_result *r, const cJSON *o)
{
    snprintf(r->payment.reference, sizeof r->payment.reference, "%s", jstr(o, "reference"));
    snprintf(r->payment.store_id, sizeof r->payment.store_id, "%s", jstr(o, "store"));
    snprintf(r->payment.till_id, sizeof r->payment.till_id, "%s", jstr(o, "till"));
    snprintf(r->payment.currency, sizeof r->payment.currency, "%s", jstr(o, "currency"));
    snprintf(r->payment.flow, sizeof r->payment.flow, "%s", jstr(o, "flow"));
    snprintf(r->payment.reason, sizeof r->payment.reason, "%s", jstr(o, "reason"));
    if (kv_pay_state_parse(&r->payment.state, jstr(o, "state")))
        r->payment.state = KV_PAY_UNKNOWN;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "amountMinor");
    if (cJSON_IsNumber(m))
        r->payment.amount = (int64_t)m->valuedouble;
    int64_t v = 0;
    char e[64];
    if (kv_flow_parse_amount(&v, jstr(o, "captured"), e, sizeof e) == 0)
        r->payment.captured = v;
    if (jstr(o, "message")[0])
        snprintf(r->cashier, sizeof r->cashier, "%s", jstr(o, "message"));
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

int kv_pay_via_daemon(const kv_cli *cli, const kv_pay_request *req, int json)
{
    if (req->printer || req->reference || req->items_json)
        return -1; /* the till API takes neither a printer, a reference nor an items file here */
    kv_config *cfg = NULL;
    char err[1024] = "";
    if (kv_config_load(&cfg, kv_config_default_path(cli->config_path), err, sizeof err) != KV_C_OK) {
        kv_config_free(cfg);
        return -1; /* the local path reports it */
    }
    const kv_config_main *m = kv_config_main_get(cfg);
    if (!m->serve_url[0] || !m->serve_token[0]) {
        kv_config_free(cfg);
        return -1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "amount", req->amount);
    if (req->currency)
        cJSON_AddStringToObject(b, "currency", req->currency);
    if (req->store_id)
        cJSON_AddStringToObject(b, "store", req->store_id);
    if (req->phone)
        cJSON_AddStringToObject(b, "phone", req->phone);
    if (req->text)
        cJSON_AddStringToObject(b, "text", req->text);
    if (req->timeout_s)
        cJSON_AddNumberToObject(b, "timeoutSeconds", req->timeout_s);
    char *body = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    /* one key for this attempt: a retry after a lost answer is the same payment */
    char idem[96], url[512];
    snprintf(idem, sizeof idem, "kvitt-pay-%s-%ld-%d-%ld", m->till_id, (long)time(NULL), (int)getpid(),
             (long)clock());
    snprintf(url, sizeof url, "%s/v1/payments", m->serve_url);
    buf out = { NULL, 0 };
    long st = 0;
    for (int attempt = 0; attempt < 3 && (st == 0 || st == 503); attempt++) {
        if (attempt)
            usleep(500000);
        st = call(c, url, m->serve_token, "POST", idem, body, &out, 120000);
    }
    cJSON_free(body);
    kv_flow_result r;
    memset(&r, 0, sizeof r);
    kv_flowcli fc = { .cfg = cfg, .cmd = "pay", .json = json, .quiet = cli->quiet };
    kv_flow_status fst;
    cJSON *o = out.p ? cJSON_Parse(out.p) : NULL;
    if (st == 0) {
        /* nothing was created by this request, or the daemon has it: its
         * journal knows; fall back to nothing local (no double payment) */
        snprintf(r.detail, sizeof r.detail, "the daemon at %s did not answer; check `kvitt status` "
                 "there before paying again", m->serve_url);
        fst = KV_FLOW_E_SERVICE;
        goto done;
    }
    if (st != 201) {
        snprintf(r.detail, sizeof r.detail, "the daemon refused the payment (HTTP %ld): %s", st,
                 o ? jstr(o, "message") : "");
        fst = st == 400 ? KV_FLOW_E_INPUT : st == 401 || st == 403 ? KV_FLOW_E_CONFIG
            : st == 502 && !strcmp(o ? jstr(o, "error") : "", "printer") ? KV_FLOW_E_PRINTER
            : st == 503 ? KV_FLOW_E_SERVICE : KV_FLOW_E_UNKNOWN;
        goto done;
    }
    to_result(&r, o);
    if (!cli->quiet)
        fprintf(stderr, "kvitt pay: %s: slip printed by %s; waiting for the customer\n",
                r.payment.reference, m->serve_url);
    kv_on_stop_signals(on_signal);
    /* follow the feed until it is final; Ctrl-C cancels at the daemon */
    int after = 0, fin = 0, cancelled = 0;
    char ref[64];
    snprintf(ref, sizeof ref, "%s", r.payment.reference);
    while (!fin) {
        if (g_stop && !cancelled) {
            char cu[512];
            snprintf(cu, sizeof cu, "%s/v1/payments/%s/cancel", m->serve_url, ref);
            call(c, cu, m->serve_token, "POST", NULL, "{}", &out, 120000);
            cancelled = 1;
        }
        char eu[512];
        snprintf(eu, sizeof eu, "%s/v1/payments/%s/events?wait=%d&after=%d", m->serve_url, ref,
                 g_stop ? 1 : 25, after);
        if (call(c, eu, m->serve_token, "GET", NULL, NULL, &out, 60000) != 200) {
            usleep(500000);
            continue;
        }
        cJSON *ev = cJSON_Parse(out.p);
        fin = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "final"));
        const cJSON *nx = cJSON_GetObjectItemCaseSensitive(ev, "next");
        if (cJSON_IsNumber(nx))
            after = (int)nx->valuedouble;
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(ev, "events")) {
            if (!cli->quiet && !json && !strcmp(jstr(e, "type"), "state"))
                fprintf(stderr, "kvitt pay: %s: %s\n", ref, jstr(e, "state"));
        }
        cJSON_Delete(ev);
    }
    char pu[512];
    snprintf(pu, sizeof pu, "%s/v1/payments/%s", m->serve_url, ref);
    cJSON_Delete(o);
    o = NULL;
    if (call(c, pu, m->serve_token, "GET", NULL, NULL, &out, 60000) == 200 && (o = cJSON_Parse(out.p)))
        to_result(&r, o);
    fst = r.payment.state == KV_PAY_DONE ? KV_FLOW_OK
        : r.payment.state == KV_PAY_NOT_PAID || r.payment.state == KV_PAY_CANCELLED ? KV_FLOW_E_NOT_PAID
        : KV_FLOW_E_UNKNOWN;
done:
    cJSON_Delete(o);
    free(out.p);
    curl_easy_cleanup(c);
    int rc = kv_flowcli_result(&fc, fst, &r);
    kv_config_free(cfg);
    curl_global_cleanup();
    return rc;
}
