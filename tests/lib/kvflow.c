/* kvflow.c - see kvflow.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/kvflow.h"
#include "tests/lib/kvpg.h"

static int set_impl(kvf_env *e, const char *header, const char *key, const char *value);

int kvf_set(kvf_env *e, const char *key, const char *value)
{
    return set_impl(e, NULL, key, value);
}

int kvf_set_in(kvf_env *e, const char *header, const char *key, const char *value)
{
    return set_impl(e, header, key, value);
}

static int set_impl(kvf_env *e, const char *header, const char *key, const char *value)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    if (kvt_read_file(e->conf, &buf, &len))
        return -1;
    char *text = (char *)buf;
    size_t kl = strlen(key);
    char *line = text;
    int done = 0;
    int in = header == NULL;
    char *out = malloc(len + strlen(value) + kl + 16);
    if (!out) {
        free(buf);
        return -1;
    }
    out[0] = 0;
    while (*line) {
        char *nl = strchr(line, '\n');
        size_t ll = nl ? (size_t)(nl - line) + 1 : strlen(line);
        if (line[0] == '[')
            in = header == NULL || strncmp(line, header, strlen(header)) == 0;
        if (!done && in && strncmp(line, key, kl) == 0 && (line[kl] == ' ' || line[kl] == '=')) {
            strcat(out, key);
            strcat(out, " = ");
            strcat(out, value);
            strcat(out, "\n");
            done = 1;
        } else {
            strncat(out, line, ll);
        }
        line += ll;
    }
    int rc = done ? kvt_write_file(e->conf, out, strlen(out)) : -1;
    free(out);
    free(buf);
    return rc;
}

char *kvf_get(kvf_env *e, const char *key)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    if (kvt_read_file(e->conf, &buf, &len))
        return NULL;
    size_t kl = strlen(key);
    char *val = NULL;
    for (char *line = (char *)buf; line && *line && !val; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, key, kl) != 0 || (line[kl] != ' ' && line[kl] != '='))
            continue;
        char *v = line + kl + strspn(line + kl, " =");
        val = strndup(v, strcspn(v, "\n"));
    }
    free(buf);
    return val;
}

int kvf_start(kvf_env *e, const char *name, const char *const sim_args[])
{
    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "%s/%s", kvt_tmpdir(), name);
    mkdir(e->dir, 0755);
    snprintf(e->conf, sizeof e->conf, "%s/kvitt.conf", e->dir);
    /* no --quiet: the request log in DIR/sim.log explains a failure */
    /* --exit-with-parent: a failed assertion must not leave it running */
    const char *argv[40] = { "kvitt", "sim", "--listen", "127.0.0.1:0", "--write-config", e->conf,
                             "--exit-with-parent" };
    int n = 7;
    for (int i = 0; sim_args && sim_args[i] && n < 38; i++)
        argv[n++] = sim_args[i];
    argv[n] = NULL;
    char log[700];
    snprintf(log, sizeof log, "%s/sim.log", e->dir);
    e->sim = kvt_spawn(argv, NULL, log);
    if (!e->sim)
        return -1;
    char *url = kvt_proc_readline(e->sim, 30000); /* slow under sanitizers and load */
    if (!url) {
        kvt_proc_stop(e->sim, SIGTERM);
        e->sim = NULL;
        return -1;
    }
    snprintf(e->url, sizeof e->url, "%s", url);
    free(url);
    /* the config is written before the URL line */
    if (kvf_set(e, "poll_first_s", "1") || kvf_set(e, "poll_interval_ms", "500") ||
        kvf_set(e, "payment_timeout_s", "20"))
        return -1;
    char *dsn = kvpg_test_journal(name); /* KVITT_TEST_JOURNAL=pg: a database */
    int rc = dsn ? kvf_set(e, "journal", dsn) : 0;
    free(dsn);
    return rc;
}

void kvf_stop(kvf_env *e)
{
    if (e->sim)
        kvt_proc_stop(e->sim, SIGTERM);
    e->sim = NULL;
}

int kvf_kvitt(kvf_env *e, kvt_result *r, const char *const env[], const char *const args[])
{
    const char *argv[40] = { "kvitt", "--config", e->conf };
    int n = 3;
    for (int i = 0; args[i] && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return kvt_run(r, NULL, env, 180, argv); /* a net for a hung kvitt; sanitizers on a loaded machine are slow */
}

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    char **buf = ud;
    size_t old = *buf ? strlen(*buf) : 0;
    char *nb = realloc(*buf, old + sz * n + 1);
    if (!nb)
        return 0;
    memcpy(nb + old, p, sz * n);
    nb[old + sz * n] = 0;
    *buf = nb;
    return sz * n;
}

char *kvf_http(kvf_env *e, const char *method, const char *path, const char *body, long *status)
{
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    char url[1024];
    snprintf(url, sizeof url, "%s%s", e->url, path);
    char *buf = NULL;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    CURLcode rc = curl_easy_perform(c);
    long st = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        free(buf);
        return NULL;
    }
    if (status)
        *status = st;
    if (!buf)
        buf = strdup("");
    return buf;
}

int kvf_fault(kvf_env *e, const char *json)
{
    long st = 0;
    char *b = kvf_http(e, "POST", "/sim/v1/faults", json, &st);
    free(b);
    return b && st >= 200 && st < 300 ? 0 : -1;
}

int kvf_keys(kvf_env *e, const char *ref, const char *suffix, int *sends)
{
    long st = 0;
    char *b = kvf_http(e, "GET", "/sim/v1/stats", NULL, &st);
    if (!b)
        return -1;
    cJSON *o = cJSON_Parse(b);
    free(b);
    cJSON *keys = cJSON_GetObjectItemCaseSensitive(o, "idempotencyKeys");
    int n = 0, total = 0;
    cJSON *k;
    char want[256];
    snprintf(want, sizeof want, "/epayment/v1/payments/%s%s", ref, suffix);
    if (strcmp(suffix, "") == 0)
        snprintf(want, sizeof want, "/epayment/v1/payments");
    cJSON_ArrayForEach(k, keys) {
        cJSON *p = cJSON_GetObjectItemCaseSensitive(k, "path");
        cJSON *key = cJSON_GetObjectItemCaseSensitive(k, "key");
        cJSON *c = cJSON_GetObjectItemCaseSensitive(k, "count");
        if (!cJSON_IsString(p) || strcmp(p->valuestring, want) != 0)
            continue;
        if (strcmp(suffix, "") == 0 && (!cJSON_IsString(key) || strncmp(key->valuestring, ref, strlen(ref)) != 0))
            continue;
        n++;
        total += cJSON_IsNumber(c) ? (int)c->valuedouble : 1;
    }
    cJSON_Delete(o);
    if (sends)
        *sends = total;
    return n;
}

char *kvf_json(const char *text, const char *key)
{
    const char *start = text ? strchr(text, '{') : NULL;
    if (!start)
        return NULL;
    cJSON *o = cJSON_Parse(start);
    if (!o)
        return NULL;
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    char *r = NULL;
    if (cJSON_IsString(v))
        r = strdup(v->valuestring);
    else if (cJSON_IsBool(v))
        r = strdup(cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNumber(v)) {
        char b[64];
        snprintf(b, sizeof b, "%g", v->valuedouble);
        r = strdup(b);
    }
    cJSON_Delete(o);
    return r;
}

int kvf_jobs(kvf_env *e, const char *store)
{
    char d[700];
    snprintf(d, sizeof d, "%s/printer/%s", e->dir, store);
    DIR *dir = opendir(d);
    if (!dir)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".bin") == 0)
            n++;
    }
    closedir(dir);
    return n;
}

int kvf_file_has(const char *path, const char *needle)
{
    unsigned char *b = NULL;
    size_t len = 0;
    if (kvt_read_file(path, &b, &len))
        return 0;
    int found = memmem(b, len, needle, strlen(needle)) != NULL;
    free(b);
    return found;
}
