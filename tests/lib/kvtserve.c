/* kvtserve.c - end-to-end fixture for the `kvitt serve` suites. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "src/serve/auth.h"
#include "tests/lib/kvtserve.h"
#include "tests/lib/kvpg.h"

static int replace(char **text, const char *from, const char *to)
{
    char *p = strstr(*text, from);
    if (!p)
        return -1;
    size_t a = (size_t)(p - *text), fl = strlen(from), tl = strlen(to), n = strlen(*text);
    char *q = malloc(n - fl + tl + 1);
    memcpy(q, *text, a);
    memcpy(q + a, to, tl);
    memcpy(q + a + tl, p + fl, n - a - fl + 1);
    free(*text);
    *text = q;
    return 0;
}

static int replace_all(char **text, const char *from, const char *to)
{
    int n = 0;
    while (replace(text, from, to) == 0)
        n++;
    return n;
}

int kvt_serve_setup(kvt_serve_env *e, const char *name, const kvt_serve_opts *o)
{
    kvt_serve_opts dflt;
    memset(&dflt, 0, sizeof dflt);
    if (!o)
        o = &dflt;
    memset(e, 0, sizeof *e);
    e->dir = kvt_path("%s/%s", kvt_tmpdir(), name);
    mkdir(e->dir, 0755);
    e->conf = kvt_path("%s/kvitt.conf", e->dir);
    e->serve_log = kvt_path("%s/serve.log", e->dir);
    char *simlog = kvt_path("%s/sim.log", e->dir);
    /* --exit-with-parent: a failed assertion must not leave it running */
    const char *argv[32] = { "kvitt", "sim", "--listen", "127.0.0.1:0", "--write-config",
                             e->conf, "--quiet", "--exit-with-parent" };
    size_t k = 8;
    for (size_t i = 0; o->sim_args[i] && k < 30; i++)
        argv[k++] = o->sim_args[i];
    argv[k] = NULL;
    e->sim = kvt_spawn(argv, NULL, simlog);
    free(simlog);
    char *line = e->sim ? kvt_proc_readline(e->sim, 10000) : NULL;
    if (!line) {
        printf("kvtserve: the simulator did not start\n");
        return -1;
    }
    snprintf(e->sim_url, sizeof e->sim_url, "%s", line);
    free(line);
    if (o->vprinter) {
        e->printer_dir = kvt_path("%s/vprinter", e->dir);
        mkdir(e->printer_dir, 0755);
        char *plog = kvt_path("%s/vprinter.log", e->dir);
        const char *pargv[] = { "kvitt", "vprinter", "--listen", "127.0.0.1:0", "--out",
                                e->printer_dir, NULL };
        e->printer = kvt_spawn(pargv, NULL, plog);
        free(plog);
        line = e->printer ? kvt_proc_readline(e->printer, 10000) : NULL;
        if (!line) {
            printf("kvtserve: the vprinter did not start\n");
            return -1;
        }
        snprintf(e->printer_uri, sizeof e->printer_uri, "%s", line);
        free(line);
    }
    /* The config file is written by the simulator before it prints its URL. */
    unsigned char *buf = NULL;
    size_t len = 0;
    if (kvt_read_file(e->conf, &buf, &len) < 0) {
        printf("kvtserve: no config written at %s\n", e->conf);
        return -1;
    }
    char *text = (char *)buf;
    char tmp[128];
    snprintf(tmp, sizeof tmp, "poll_first_s = %d", o->poll_first_s ? o->poll_first_s : 1);
    replace(&text, "poll_first_s = 5", tmp);
    replace(&text, "poll_interval_ms = 1500", "poll_interval_ms = 500");
    snprintf(tmp, sizeof tmp, "payment_timeout_s = %d",
             o->payment_timeout_s ? o->payment_timeout_s : 60);
    replace(&text, "payment_timeout_s = 300", tmp);
    replace(&text, "connect_timeout_ms = 3000", "connect_timeout_ms = 2000");
    replace(&text, "total_timeout_ms = 30000", "total_timeout_ms = 5000");
    if (o->ecom_oslo && replace(&text, "flow = epayment-qr", "flow = ecom-qr") < 0) {
        printf("kvtserve: the simulator's config changed shape (flow)\n");
        free(text);
        return -1;
    }
    /* the journal: the simulator's file, or (KVITT_TEST_JOURNAL=pg) a database */
    char *jl = strstr(text, "\njournal = ");
    if (!jl) {
        printf("kvtserve: the simulator's config changed shape (journal)\n");
        free(text);
        return -1;
    }
    size_t jn = strcspn(jl + 11, "\n");
    char *dsn = kvpg_test_journal(name);
    e->journal = dsn ? dsn : strndup(jl + 11, jn);
    if (dsn) {
        char *from = strndup(jl, 11 + jn), *to = NULL;
        if (asprintf(&to, "\njournal = %s", dsn) < 0)
            to = NULL;
        if (!from || !to || replace(&text, from, to) < 0) {
            free(from);
            free(to);
            free(text);
            return -1;
        }
        free(from);
        free(to);
    }
    const char *pattern = o->pattern ? o->pattern : "central";
    if (!strcmp(pattern, "partner")) {
        if (replace_all(&text, "credentials = oslo\n", "credentials = nordkaffe-partner\n") != 1 ||
            replace_all(&text, "credentials = bergen\n", "credentials = nordkaffe-partner\n") != 1) {
            printf("kvtserve: the simulator's config changed shape (credentials)\n");
            free(text);
            return -1;
        }
    } else if (!strcmp(pattern, "one-msn")) {
        if (replace(&text, "msn = 234567", "msn = 123456") < 0 ||
            replace(&text, "credentials = bergen\n", "credentials = oslo\n") < 0) {
            printf("kvtserve: the simulator's config changed shape (msn)\n");
            free(text);
            return -1;
        }
    }
    int port = kvt_free_port();
    snprintf(e->url, sizeof e->url, "http://127.0.0.1:%d", port);
    char h1[65], h2[65], h3[65];
    kv_auth_hash_token(h1, KVT_TOK_OSLO);
    kv_auth_hash_token(h2, KVT_TOK_BERGEN);
    kv_auth_hash_token(h3, KVT_TOK_BERGEN2);
    char printer_line[200] = "";
    if (e->printer_uri[0])
        snprintf(printer_line, sizeof printer_line, "printer = %s\n", e->printer_uri);
    size_t cap = strlen(text) + 2048 + (o->extra_conf ? strlen(o->extra_conf) : 0) +
                 (o->serve_extra ? strlen(o->serve_extra) : 0);
    char *full = malloc(cap);
    snprintf(full, cap,
             "%s\n[serve]\nlisten = 127.0.0.1:%d\nwebhook_url = %s/webhooks/vipps\n"
             "shutdown_grace_s = %d\nevents_max_wait_s = 10\nmax_body = 8192\n"
             "callback_auth_token = cb-token-0123456789\n%s\n"
             "[till t-oslo]\nstore = oslo\ntoken_sha256 = %s\n%s\n"
             "[till t-bergen]\nstore = bergen\ntoken_sha256 = %s\nchain_refund = true\n\n"
             "[till t-bergen2]\nstore = bergen\ntoken_sha256 = %s\nchain_refund = false\n%s",
             text, port, e->url, o->shutdown_grace_s ? o->shutdown_grace_s : 2,
             o->serve_extra ? o->serve_extra : "", h1,
             printer_line, h2, h3, o->extra_conf ? o->extra_conf : "");
    free(text);
    int rc = kvt_write_file(e->conf, full, strlen(full));
    free(full);
    if (rc < 0)
        return -1;
    if (kvt_serve_start(e, NULL) < 0)
        return -1;
    if (!o->no_webhooks) {
        kvt_result r;
        char url[200];
        snprintf(url, sizeof url, "%s/webhooks/vipps", e->url);
        const char *wargv[] = { "kvitt", "--config", e->conf, "webhooks", "register", "--url",
                                url, NULL };
        if (kvt_run(&r, NULL, NULL, 30, wargv) < 0 || r.status != 0) {
            printf("kvtserve: webhooks register failed: %s\n", r.err ? r.err : "");
            kvt_result_free(&r);
            return -1;
        }
        kvt_result_free(&r);
    }
    return 0;
}

int kvt_serve_start(kvt_serve_env *e, const char *const envp[])
{
    const char *argv[] = { "kvitt", "serve", "--config", e->conf, NULL };
    e->serve = kvt_spawn(argv, envp, e->serve_log);
    char *line = e->serve ? kvt_proc_readline(e->serve, 15000) : NULL;
    if (!line || strcmp(line, e->url) != 0) {
        printf("kvtserve: the daemon did not start (first line '%s'); see %s\n",
               line ? line : "", e->serve_log);
        free(line);
        return -1;
    }
    free(line);
    return 0;
}

kvt_proc *kvt_serve_spawn_instance(const kvt_serve_env *e, const char *conf, char *url,
                                   size_t len, const char *log, const char *const envp[])
{
    int port = kvt_free_port();
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    snprintf(url, len, "http://127.0.0.1:%d", port);
    const char *argv[] = { "kvitt", "serve", "--config", conf ? conf : e->conf, "--listen", addr,
                           NULL };
    kvt_proc *p = kvt_spawn(argv, envp, log);
    char probe[200];
    snprintf(probe, sizeof probe, "%s/readyz", url);
    for (int i = 0; p && i < 300; i++) {
        kvt_http_resp r;
        long st = kvt_http(&r, "GET", probe, NULL, NULL, 0, 2000) == 0 ? r.status : 0;
        kvt_http_free(&r);
        if (st == 200)
            return p;
        usleep(100000);
    }
    printf("kvtserve: instance %s did not become ready (log %s)\n", url, log);
    kvt_proc_stop(p, SIGTERM);
    return NULL;
}

int kvt_serve_stop(kvt_serve_env *e, int sig)
{
    int st = kvt_proc_stop(e->serve, sig);
    e->serve = NULL;
    return st;
}

void kvt_serve_teardown(kvt_serve_env *e)
{
    kvt_proc_stop(e->serve, SIGTERM);
    kvt_proc_stop(e->printer, SIGTERM);
    kvt_proc_stop(e->sim, SIGTERM);
    free(e->dir);
    free(e->conf);
    free(e->journal);
    free(e->serve_log);
    free(e->printer_dir);
    memset(e, 0, sizeof *e);
}

int kvt_serve_req(kvt_http_resp *r, const kvt_serve_env *e, const char *method,
                  const char *path, const char *token, const char *idem, const char *body)
{
    char url[512], ah[256], ih[256];
    snprintf(url, sizeof url, "%s%s", e->url, path);
    const char *h[4];
    size_t n = 0;
    if (token) {
        snprintf(ah, sizeof ah, "Authorization: Bearer %s", token);
        h[n++] = ah;
    }
    if (idem) {
        snprintf(ih, sizeof ih, "Idempotency-Key: %s", idem);
        h[n++] = ih;
    }
    h[n++] = "Content-Type: application/json";
    h[n] = NULL;
    return kvt_http(r, method, url, h, body, body ? strlen(body) : 0, 30000);
}

int kvt_serve_req_page(kvt_http_resp *r, const char *base, const char *method, const char *path,
                       const char *cookie, const char *csrf, const char *extra,
                       const char *body)
{
    char url[512], ch[200], xh[200];
    snprintf(url, sizeof url, "%s%s", base, path);
    const char *h[6];
    size_t n = 0;
    if (cookie) {
        snprintf(ch, sizeof ch, "Cookie: kvitt_till=%s", cookie);
        h[n++] = ch;
    }
    if (csrf) {
        snprintf(xh, sizeof xh, "X-CSRF-Token: %s", csrf);
        h[n++] = xh;
    }
    if (extra)
        h[n++] = extra;
    h[n++] = "Content-Type: application/json";
    h[n] = NULL;
    return kvt_http(r, method, url, h, body, body ? strlen(body) : 0, 30000);
}

int kvt_sim_req(kvt_http_resp *r, const kvt_serve_env *e, const char *method,
                const char *path, const char *body)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", e->sim_url, path);
    const char *h[] = { "Content-Type: application/json", NULL };
    return kvt_http(r, method, url, h, body, body ? strlen(body) : 0, 10000);
}

char *kvt_json_str(const char *json, const char *key)
{
    cJSON *j = cJSON_Parse(json ? json : "");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    char *s = cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
    cJSON_Delete(j);
    return s;
}

double kvt_json_num(const char *json, const char *key, double def)
{
    cJSON *j = cJSON_Parse(json ? json : "");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    double d = cJSON_IsNumber(v) ? v->valuedouble : def;
    cJSON_Delete(j);
    return d;
}

char *kvt_serve_wait_state(const kvt_serve_env *e, const char *token, const char *ref,
                           const char *state, int timeout_ms)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/payments/%s", ref);
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        kvt_http_resp r;
        if (kvt_serve_req(&r, e, "GET", path, token, NULL, NULL) == 0 && r.status == 200) {
            char *st = kvt_json_str(r.body, "state");
            cJSON *j = cJSON_Parse(r.body);
            int fin = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "final"));
            cJSON_Delete(j);
            int hit = st && (state ? !strcmp(st, state) : fin);
            free(st);
            if (hit) {
                char *body = r.body;
                r.body = NULL;
                kvt_http_free(&r);
                return body;
            }
        }
        kvt_http_free(&r);
        usleep(100000);
    }
    return NULL;
}

int kvt_sim_count(const kvt_serve_env *e, const char *method_path)
{
    kvt_http_resp r;
    int n = -1;
    if (kvt_sim_req(&r, e, "GET", "/sim/v1/stats", NULL) == 0 && r.status == 200) {
        cJSON *j = cJSON_Parse(r.body);
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(j, "requests");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, method_path);
        n = cJSON_IsNumber(v) ? (int)v->valuedouble : 0;
        cJSON_Delete(j);
    }
    kvt_http_free(&r);
    return n;
}

int kvt_sim_delivered(const kvt_serve_env *e, const char *event)
{
    kvt_http_resp r;
    int n = 0;
    if (kvt_sim_req(&r, e, "GET", "/sim/v1/webhooks/deliveries", NULL) == 0 && r.status == 200) {
        cJSON *a = cJSON_Parse(r.body);
        const cJSON *d;
        cJSON_ArrayForEach(d, a) {
            const cJSON *ev = cJSON_GetObjectItemCaseSensitive(d, "event");
            const cJSON *res = cJSON_GetObjectItemCaseSensitive(d, "result");
            if (cJSON_IsString(ev) && !strcmp(ev->valuestring, event) && cJSON_IsString(res) &&
                !strcmp(res->valuestring, "delivered"))
                n++;
        }
        cJSON_Delete(a);
    }
    kvt_http_free(&r);
    return n;
}

int kvt_sim_wait_delivered(const kvt_serve_env *e, const char *event, int want, int timeout_ms)
{
    int n = kvt_sim_delivered(e, event);
    for (int waited = 0; n < want && waited < timeout_ms; waited += 50) {
        usleep(50000);
        n = kvt_sim_delivered(e, event);
    }
    return n;
}

int kvt_jobs_with(const char *dir, const char *needle, const void *also, size_t alen)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    size_t nl = strlen(needle);
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".bin"))
            continue;
        char *p = kvt_path("%s/%s", dir, de->d_name);
        unsigned char *buf = NULL;
        size_t len = 0;
        if (kvt_read_file(p, &buf, &len) == 0 && len >= nl && memmem(buf, len, needle, nl) &&
            (!also || memmem(buf, len, also, alen)))
            n++;
        free(buf);
        free(p);
    }
    closedir(d);
    return n;
}

int kvt_jobs_containing(const char *dir, const char *needle)
{
    return kvt_jobs_with(dir, needle, NULL, 0);
}

int kvt_jobs_wait(const char *dir, const char *needle, int want, int timeout_ms)
{
    int n = 0;
    for (int waited = 0;; waited += 20) {
        n = kvt_jobs_containing(dir, needle);
        if (n >= want || waited >= timeout_ms)
            return n;
        usleep(20000);
    }
}

static void feed_add(kvt_feed *f, int seq, const char *type, const char *state)
{
    if (f->n >= KVT_FEED_MAX)
        return;
    f->seq[f->n] = seq;
    snprintf(f->type[f->n], sizeof f->type[0], "%s", type ? type : "");
    snprintf(f->state[f->n], sizeof f->state[0], "%s", state ? state : "");
    f->n++;
}

int kvt_feed_follow(const char *base, const char *token, const char *ref, int *after,
                    int wait_s, int max_polls, const char *until_state, kvt_feed *f)
{
    char auth[160];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *h[] = { auth, NULL };
    for (int i = 0; i < max_polls && !f->final; i++) {
        char url[512];
        snprintf(url, sizeof url, "%s/v1/payments/%s/events?after=%d&wait=%d", base, ref, *after,
                 wait_s);
        kvt_http_resp r;
        if (kvt_http(&r, "GET", url, h, NULL, 0, (wait_s + 30) * 1000) != 0 || r.status != 200) {
            printf("feed %s: %ld %s\n", url, r.status, r.body ? r.body : "");
            kvt_http_free(&r);
            return -1;
        }
        cJSON *j = cJSON_Parse(r.body);
        kvt_http_free(&r);
        f->answers++;
        f->final = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "final"));
        const cJSON *nx = cJSON_GetObjectItemCaseSensitive(j, "next");
        if (cJSON_IsNumber(nx))
            *after = (int)nx->valuedouble;
        int hit = 0, events = 0;
        const cJSON *ev;
        cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(j, "events")) {
            events++;
            const cJSON *seq = cJSON_GetObjectItemCaseSensitive(ev, "seq");
            const cJSON *ty = cJSON_GetObjectItemCaseSensitive(ev, "type");
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(ev, "state");
            const char *sv = cJSON_IsString(st) ? st->valuestring : "";
            if (cJSON_IsNumber(seq))
                feed_add(f, (int)seq->valuedouble, cJSON_IsString(ty) ? ty->valuestring : "", sv);
            if (until_state && !strcmp(sv, until_state))
                hit = 1;
        }
        if (!events && !f->final)
            f->empty++;
        cJSON_Delete(j);
        if (hit)
            break;
    }
    return 0;
}

int kvt_feed_sse(const char *base, const char *token, const char *ref, const char *last_id,
                 int timeout_ms, kvt_feed *f)
{
    char auth[160], lei[64], url[512];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    snprintf(lei, sizeof lei, "Last-Event-ID: %s", last_id ? last_id : "");
    const char *h[] = { auth, "Accept: text/event-stream", last_id ? lei : NULL, NULL };
    snprintf(url, sizeof url, "%s/v1/payments/%s/events", base, ref);
    kvt_http_resp r;
    if (kvt_http(&r, "GET", url, h, NULL, 0, timeout_ms) != 0 || r.status != 200) {
        printf("sse %s: %ld\n", url, r.status);
        kvt_http_free(&r);
        return -1;
    }
    /* blocks "id: N\nevent: TYPE\ndata: {...}\n\n"; the id line is absent
     * for events that carry none */
    for (char *p = r.body; p && *p;) {
        char *end = strstr(p, "\n\n");
        if (end)
            *end = '\0';
        int id = -1;
        char type[32] = "";
        char *data = NULL;
        for (char *line = p; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            if (!strncmp(line, "id: ", 4))
                id = atoi(line + 4);
            else if (!strncmp(line, "event: ", 7))
                snprintf(type, sizeof type, "%s", line + 7);
            else if (!strncmp(line, "data: ", 6))
                data = line + 6;
            line = nl ? nl + 1 : NULL;
        }
        if (id >= 0) {
            char *st = data ? kvt_json_str(data, "state") : NULL;
            feed_add(f, id, type, st);
            free(st);
        }
        if (!strcmp(type, "result"))
            f->final = 1;
        p = end ? end + 2 : NULL;
    }
    kvt_http_free(&r);
    return 0;
}

int kvt_feed_check(const kvt_feed *want, int after, const kvt_feed *got, char *why, size_t len)
{
    int k = 0;
    while (k < want->n && want->seq[k] <= after)
        k++;
    for (int i = 0; i < got->n; i++, k++) {
        if (got->seq[i] != after + 1 + i) {
            snprintf(why, len, "event %d has id %d, expected %d", i, got->seq[i], after + 1 + i);
            return -1;
        }
        if (k >= want->n || want->seq[k] != got->seq[i] || strcmp(want->type[k], got->type[i]) ||
            strcmp(want->state[k], got->state[i])) {
            snprintf(why, len, "event id %d is %s %s, the feed where it was made has %s %s",
                     got->seq[i], got->type[i], got->state[i], k < want->n ? want->type[k] : "nothing",
                     k < want->n ? want->state[k] : "");
            return -1;
        }
    }
    if (k != want->n) {
        snprintf(why, len, "%d events missing after id %d", want->n - k, got->n ? got->seq[got->n - 1] : after);
        return -1;
    }
    if (!got->n || strcmp(got->type[got->n - 1], "result")) {
        snprintf(why, len, "the feed does not end with the result");
        return -1;
    }
    return 0;
}

long kvt_sim_approve(const kvt_serve_env *e, const char *ref)
{
    char path[160];
    snprintf(path, sizeof path, "/sim/v1/payments/%s/state", ref);
    kvt_http_resp r;
    long st = kvt_sim_req(&r, e, "POST", path, "{\"state\":\"AUTHORIZED\"}") == 0 ? r.status : 0;
    kvt_http_free(&r);
    return st;
}
