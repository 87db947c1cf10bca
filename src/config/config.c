/* config.c - INI loader for kvitt.conf and its secrets file. */
#include "src/config/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct ckey {
    char *key;
    char *value;      /* raw (env: not resolved) */
    char *resolved;   /* env: resolved, or NULL when same as value */
    int line;
} ckey;

typedef struct csection {
    char *name;       /* "kvitt", "store oslo" */
    char *file;       /* borrowed pointer into kv_config files */
    int line;
    ckey *keys;
    size_t nkeys, capkeys;
} csection;

struct kv_config {
    char path[PATH_MAX];
    char secrets_path[PATH_MAX];
    csection *secs;
    size_t nsecs, capsecs;
    kv_config_main main;
    kv_store *stores;
    size_t nstores;
    kv_credentials *creds;
    size_t ncreds;
};

const char *kv_config_strerror(kv_config_status st)
{
    switch (st) {
    case KV_C_OK: return "ok";
    case KV_C_E_IO: return "configuration file cannot be read";
    case KV_C_E_SYNTAX: return "configuration syntax error";
    case KV_C_E_VALUE: return "bad configuration value";
    case KV_C_E_SECRETS: return "secrets problem";
    case KV_C_E_NOMEM: return "out of memory";
    case KV_C_E_NOT_FOUND: return "not found in the configuration";
    }
    return "unknown configuration status";
}

static void seterr(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...)
{
    if (!err || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

static char *trim(char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

static csection *find_sec(const kv_config *c, const char *name)
{
    for (size_t i = 0; i < c->nsecs; i++)
        if (strcmp(c->secs[i].name, name) == 0)
            return &c->secs[i];
    return NULL;
}

static ckey *find_key(const csection *s, const char *key)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < s->nkeys; i++)
        if (strcmp(s->keys[i].key, key) == 0)
            return &s->keys[i];
    return NULL;
}

static const char *const kvitt_keys[] = {
    "environment", "system_name", "system_version", "plugin_name", "plugin_version",
    "journal", "secrets", "connect_timeout_ms", "total_timeout_ms", "payment_timeout_s",
    "poll_first_s", "poll_interval_ms", "default_store", "till_id", "order_management",
    "serve_url", "serve_token", NULL };
static const char *const store_keys[] = {
    "name", "address", "org_number", "msn", "language", "currency", "printer", "profile",
    "flow", "qr_source", "credentials", "reference_prefix", "website", "chain", NULL };
static const char *const cred_keys[] = {
    "client_id", "client_secret", "subscription_key", "partner", NULL };

static int in_list(const char *const *list, const char *k)
{
    for (; *list; list++)
        if (strcmp(*list, k) == 0)
            return 1;
    return 0;
}

static const char *list_text(const char *const *list, char *buf, size_t len)
{
    buf[0] = 0;
    for (; *list; list++) {
        if (buf[0])
            strncat(buf, ", ", len - strlen(buf) - 1);
        strncat(buf, *list, len - strlen(buf) - 1);
    }
    return buf;
}

/* Parse one file into sections.  secrets: 1 for the secrets file. */
/* Control bytes in a value: refused naming section and key (a value
 * never needs them; on paper or at Vipps they would do harm).  A tab is
 * allowed.  Returns 1 with err set, else 0. */
static int value_bad(const char *path, int lineno, const char *sec, const char *key,
                     const char *v, int has_nul, char *err, size_t errlen)
{
    size_t off = 0;
    while (v[off] && !(((unsigned char)v[off] < 0x20 && v[off] != '\t') || v[off] == 0x7f))
        off++;
    if (!has_nul && !v[off])
        return 0;
    if (has_nul)
        seterr(err, errlen, "%s:%d: [%s] %s: NUL byte in the value; fix: remove it (the file "
               "must be plain UTF-8 text)", path, lineno, sec, key);
    else
        seterr(err, errlen, "%s:%d: [%s] %s: control character (byte 0x%02x at position %zu) "
               "in the value; fix: remove it", path, lineno, sec, key,
               (unsigned)(unsigned char)v[off], off + 1);
    return 1;
}

static kv_config_status parse_file(kv_config *c, const char *path, char *file_label, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        int e = errno;
        if (e == EACCES)
            seterr(err, errlen, "%s: cannot read: %s; fix: run kvitt as a user who may read it (the "
                   "kvitt user, or a member of its group) or correct its permissions", path, strerror(e));
        else
            seterr(err, errlen, "%s: cannot read: %s; fix: check the path (--config FILE or KVITT_CONFIG)",
                   path, strerror(e));
        return KV_C_E_IO;
    }
    struct stat dsb;
    if (fstat(fileno(fp), &dsb) == 0 && S_ISDIR(dsb.st_mode)) {
        /* fopen() opens a folder for reading; its first read fails. */
        fclose(fp);
        seterr(err, errlen, "%s: is a directory, not a configuration file; fix: name the file, "
               "e.g. %s/kvitt.conf", path, path);
        return KV_C_E_IO;
    }
    char *line = NULL;
    size_t linecap = 0;
    ssize_t got;
    int lineno = 0;
    csection *cur = NULL;
    kv_config_status st = KV_C_OK;
    while ((got = getline(&line, &linecap, fp)) > 0) {
        lineno++;
        if (got > 4094) {
            seterr(err, errlen, "%s:%d: line too long (max %d bytes); fix: shorten it", path, lineno, 4094);
            st = KV_C_E_SYNTAX;
            break;
        }
        /* A NUL byte would cut the line short without a word: refuse it
         * (named with its key below when the line has one). */
        int has_nul = memchr(line, 0, (size_t)got) != NULL;
        char *s = trim(line);
        if (has_nul && !strchr(s, '=')) {
            seterr(err, errlen, "%s:%d: NUL byte in the line; fix: remove it (the file must be "
                   "plain text)", path, lineno);
            st = KV_C_E_SYNTAX;
            break;
        }
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (!e || trim(e + 1)[0] != 0) {
                seterr(err, errlen, "%s:%d: malformed section header; fix: write it as [name] or [kind id]", path, lineno);
                st = KV_C_E_SYNTAX;
                break;
            }
            *e = 0;
            char *name = trim(s + 1);
            /* normalise internal whitespace to one space */
            char norm[256];
            size_t o = 0;
            int sp = 0;
            if (strlen(name) >= sizeof norm) {
                seterr(err, errlen, "%s:%d: section name longer than %zu characters; fix: shorten it",
                       path, lineno, sizeof norm - 1);
                st = KV_C_E_SYNTAX;
                break;
            }
            for (char *p = name; *p; p++) {
                if (isspace((unsigned char)*p)) { sp = 1; continue; }
                if (sp && o) norm[o++] = ' ';
                sp = 0;
                norm[o++] = *p;
            }
            norm[o] = 0;
            char kind[64] = "";
            sscanf(norm, "%63s", kind);
            int known = strcmp(kind, "kvitt") == 0 || strcmp(kind, "store") == 0 ||
                        strcmp(kind, "credentials") == 0 || strcmp(kind, "serve") == 0 ||
                        strcmp(kind, "till") == 0 || strcmp(kind, "proxy") == 0;
            if (!known) {
                seterr(err, errlen, "%s:%d: unknown section [%s]; fix: use [kvitt], [store ID], [credentials NAME], [serve], [till ID] or [proxy NAME]",
                       path, lineno, norm);
                st = KV_C_E_SYNTAX;
                break;
            }
            int needs_id = strcmp(kind, "store") == 0 || strcmp(kind, "credentials") == 0 || strcmp(kind, "till") == 0 ||
                           strcmp(kind, "proxy") == 0;
            if (needs_id != (strchr(norm, ' ') != NULL)) {
                seterr(err, errlen, "%s:%d: section [%s] %s; fix: write [%s%s]", path, lineno, norm,
                       needs_id ? "needs an id" : "takes no id", kind, needs_id ? " ID" : "");
                st = KV_C_E_SYNTAX;
                break;
            }
            if (find_sec(c, norm)) {
                seterr(err, errlen, "%s:%d: section [%s] appears twice; fix: merge the two", path, lineno, norm);
                st = KV_C_E_SYNTAX;
                break;
            }
            if (c->nsecs == c->capsecs) {
                size_t n = c->capsecs ? c->capsecs * 2 : 8;
                csection *ns = realloc(c->secs, n * sizeof *ns);
                if (!ns) { st = KV_C_E_NOMEM; break; }
                c->secs = ns;
                c->capsecs = n;
            }
            cur = &c->secs[c->nsecs++];
            memset(cur, 0, sizeof *cur);
            cur->name = strdup(norm);
            cur->file = file_label;
            cur->line = lineno;
            if (!cur->name) { st = KV_C_E_NOMEM; break; }
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            seterr(err, errlen, "%s:%d: expected key = value; fix: add '=' or comment the line with #", path, lineno);
            st = KV_C_E_SYNTAX;
            break;
        }
        *eq = 0;
        char *k = trim(s);
        char *v = trim(eq + 1);
        /* strip an inline comment: " #" */
        for (char *p = v; *p; p++) {
            if (*p == '#' && p > v && isspace((unsigned char)p[-1])) {
                *p = 0;
                v = trim(v);
                break;
            }
        }
        if (!cur) {
            seterr(err, errlen, "%s:%d: key '%s' outside a section; fix: put it under [kvitt] or a [store ID]", path, lineno, k);
            st = KV_C_E_SYNTAX;
            break;
        }
        if (!*k) {
            seterr(err, errlen, "%s:%d: empty key; fix: write key = value", path, lineno);
            st = KV_C_E_SYNTAX;
            break;
        }
        if (value_bad(path, lineno, cur->name, k, v, has_nul, err, errlen)) {
            st = KV_C_E_VALUE;
            break;
        }
        if (find_key(cur, k)) {
            seterr(err, errlen, "%s:%d: [%s] %s is set twice; fix: keep one", path, lineno, cur->name, k);
            st = KV_C_E_SYNTAX;
            break;
        }
        if (cur->nkeys == cur->capkeys) {
            size_t n = cur->capkeys ? cur->capkeys * 2 : 8;
            ckey *nk = realloc(cur->keys, n * sizeof *nk);
            if (!nk) { st = KV_C_E_NOMEM; break; }
            cur->keys = nk;
            cur->capkeys = n;
        }
        ckey *ck = &cur->keys[cur->nkeys++];
        memset(ck, 0, sizeof *ck);
        ck->key = strdup(k);
        ck->value = strdup(v);
        ck->line = lineno;
        if (!ck->key || !ck->value) { st = KV_C_E_NOMEM; break; }
        if (strncmp(v, "env:", 4) == 0) {
            const char *ev = getenv(v + 4);
            if (!ev) {
                seterr(err, errlen, "%s:%d: [%s] %s = %s: environment variable %s is not set; fix: export %s",
                       path, lineno, cur->name, k, v, v + 4, v + 4);
                st = KV_C_E_VALUE;
                break;
            }
            if (value_bad(path, lineno, cur->name, k, ev, 0, err, errlen)) {
                st = KV_C_E_VALUE;
                break;
            }
            ck->resolved = strdup(ev);
            if (!ck->resolved) { st = KV_C_E_NOMEM; break; }
        }
    }
    free(line);
    fclose(fp);
    return st;
}

static const char *kval(const ckey *k)
{
    return k->resolved ? k->resolved : k->value;
}

static int copy_str(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);
    if (n >= len)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

static void resolve_path(char *dst, size_t len, const char *cfgpath, const char *p)
{
    if (p[0] == '/' || !strchr(cfgpath, '/')) {
        snprintf(dst, len, "%s", p);
        return;
    }
    const char *slash = strrchr(cfgpath, '/');
    snprintf(dst, len, "%.*s/%s", (int)(slash - cfgpath), cfgpath, p);
}

/* Validators: return 0 or write an error. */
#define VERR(sec, k, ...) do { \
        int n_ = snprintf(err, errlen, "%s:%d: [%s] %s: ", (sec)->file, (k) ? (k)->line : (sec)->line, (sec)->name, (k) ? (k)->key : ""); \
        if (n_ >= 0 && (size_t)n_ < errlen) snprintf(err + n_, errlen - (size_t)n_, __VA_ARGS__); \
        return KV_C_E_VALUE; \
    } while (0)

static int parse_int(const char *s, long lo, long hi, int *out)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int valid_id(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return 0;
    return 1;
}

static kv_config_status load_main(kv_config *c, char *err, size_t errlen)
{
    kv_config_main *m = &c->main;
    csection *s = find_sec(c, "kvitt");
    snprintf(m->environment, sizeof m->environment, "test");
    snprintf(m->system_name, sizeof m->system_name, "kvitt");
    snprintf(m->system_version, sizeof m->system_version, "0.1.0");
    snprintf(m->plugin_name, sizeof m->plugin_name, "kvitt-till");
    snprintf(m->plugin_version, sizeof m->plugin_version, "0.1.0");
    resolve_path(m->journal, sizeof m->journal, c->path, "kvitt-journal.db");
    m->connect_timeout_ms = 3000;
    m->total_timeout_ms = 30000;
    m->payment_timeout_s = 300;
    m->poll_first_s = 5;
    m->poll_interval_ms = 1500;
    snprintf(m->till_id, sizeof m->till_id, "till-1");
    if (!s) {
        seterr(err, errlen, "%s: no [kvitt] section; fix: add [kvitt] with environment = test (see docs/configuration.md)", c->path);
        return KV_C_E_VALUE;
    }
    char buf[512];
    for (size_t i = 0; i < s->nkeys; i++) {
        ckey *k = &s->keys[i];
        const char *v = kval(k);
        if (!in_list(kvitt_keys, k->key))
            VERR(s, k, "unknown key; fix: remove it or use one of %s", list_text(kvitt_keys, buf, sizeof buf));
        if (strcmp(k->key, "environment") == 0) {
            if (strcmp(v, "test") && strcmp(v, "production") && strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
                VERR(s, k, "'%s' is not an environment; fix: environment = test | production | http(s)://URL", v);
            if (copy_str(m->environment, sizeof m->environment, v))
                VERR(s, k, "too long; fix: shorten the URL");
        } else if (strcmp(k->key, "system_name") == 0 || strcmp(k->key, "plugin_name") == 0) {
            char *dst = k->key[0] == 's' ? m->system_name : m->plugin_name;
            if (!*v || strlen(v) > 30)
                VERR(s, k, "must be 1..30 characters; fix: use a short name such as kvitt");
            snprintf(dst, 64, "%s", v);
        } else if (strcmp(k->key, "system_version") == 0 || strcmp(k->key, "plugin_version") == 0) {
            char *dst = k->key[0] == 's' ? m->system_version : m->plugin_version;
            if (!*v || strlen(v) > 30)
                VERR(s, k, "must be 1..30 characters; fix: use a version such as 0.1.0");
            snprintf(dst, 32, "%s", v);
        } else if (strcmp(k->key, "journal") == 0) {
            if (!*v)
                VERR(s, k, "empty; fix: journal = /var/lib/kvitt/journal.db");
            resolve_path(m->journal, sizeof m->journal, c->path, v);
        } else if (strcmp(k->key, "secrets") == 0) {
            if (*v)
                resolve_path(m->secrets, sizeof m->secrets, c->path, v);
        } else if (strcmp(k->key, "connect_timeout_ms") == 0) {
            if (parse_int(v, 1, 3000, &m->connect_timeout_ms))
                VERR(s, k, "'%s' must be a whole number 1..3000; fix: connect_timeout_ms = 3000", v);
        } else if (strcmp(k->key, "total_timeout_ms") == 0) {
            if (parse_int(v, 1, 30000, &m->total_timeout_ms))
                VERR(s, k, "'%s' must be a whole number 1..30000; fix: total_timeout_ms = 30000", v);
        } else if (strcmp(k->key, "payment_timeout_s") == 0) {
            if (parse_int(v, 1, 3600, &m->payment_timeout_s))
                VERR(s, k, "'%s' must be seconds 1..3600; fix: payment_timeout_s = 300", v);
        } else if (strcmp(k->key, "poll_first_s") == 0) {
            if (parse_int(v, 0, 60, &m->poll_first_s))
                VERR(s, k, "'%s' must be seconds 0..60; fix: poll_first_s = 5", v);
        } else if (strcmp(k->key, "poll_interval_ms") == 0) {
            /* 120 GETs per minute per reference is the API's ceiling: >= 500 ms */
            if (parse_int(v, 500, 60000, &m->poll_interval_ms))
                VERR(s, k, "'%s' must be 500..60000 ms (the API allows 120 polls a minute); fix: poll_interval_ms = 1500", v);
        } else if (strcmp(k->key, "default_store") == 0) {
            snprintf(m->default_store, sizeof m->default_store, "%s", v);
        } else if (strcmp(k->key, "till_id") == 0) {
            if (!valid_id(v) || strlen(v) >= sizeof m->till_id)
                VERR(s, k, "'%s' must be letters, digits, '-', '_' or '.'; fix: till_id = till-1", v);
            snprintf(m->till_id, sizeof m->till_id, "%s", v);
        } else if (strcmp(k->key, "serve_url") == 0) {
            if ((strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) || strlen(v) >= sizeof m->serve_url)
                VERR(s, k, "'%s' is not an http:// or https:// URL; fix: serve_url = http://127.0.0.1:8580", v);
            snprintf(m->serve_url, sizeof m->serve_url, "%s", v);
            size_t n = strlen(m->serve_url);
            while (n && m->serve_url[n - 1] == '/')
                m->serve_url[--n] = 0;
        } else if (strcmp(k->key, "serve_token") == 0) {
            /* a bearer token: never in the file itself, never echoed */
            if (strncmp(k->value, "env:", 4) != 0)
                VERR(s, k, "the till token must come from the environment; fix: serve_token = env:KVITT_TILL_TOKEN");
            if (!*v || copy_str(m->serve_token, sizeof m->serve_token, v))
                VERR(s, k, "the token in %s is empty or too long (at most 127 characters)", k->value + 4);
        }
    }
    if (strcmp(m->environment, "test") == 0)
        snprintf(m->base_url, sizeof m->base_url, "https://apitest.vipps.no");
    else if (strcmp(m->environment, "production") == 0)
        snprintf(m->base_url, sizeof m->base_url, "https://api.vipps.no");
    else {
        snprintf(m->base_url, sizeof m->base_url, "%s", m->environment);
        size_t n = strlen(m->base_url);
        while (n && m->base_url[n - 1] == '/')
            m->base_url[--n] = 0;
    }
    return KV_C_OK;
}

static kv_config_status load_store(kv_config *c, csection *s, kv_store *st, char *err, size_t errlen)
{
    char buf[512];
    memset(st, 0, sizeof *st);
    const char *id = s->name + 6;
    if (!valid_id(id) || strlen(id) >= sizeof st->id)
        VERR(s, (ckey *)NULL, "store id '%s' must be letters, digits, '-', '_' or '.'; fix: [store oslo]", id);
    snprintf(st->id, sizeof st->id, "%s", id);
    snprintf(st->language, sizeof st->language, "nb");
    snprintf(st->currency, sizeof st->currency, "NOK");
    snprintf(st->profile, sizeof st->profile, "generic-80");
    st->qr_source = KV_QR_IMAGE; /* Vipps' own QR; a self-drawn one (text) needs Vipps' approval */
    for (size_t i = 0; i < s->nkeys; i++) {
        ckey *k = &s->keys[i];
        const char *v = kval(k);
        if (!in_list(store_keys, k->key))
            VERR(s, k, "unknown key; fix: remove it or use one of %s", list_text(store_keys, buf, sizeof buf));
        if (strcmp(k->key, "name") == 0) {
            if (!*v || copy_str(st->name, sizeof st->name, v))
                VERR(s, k, "must be 1..%zu characters; fix: name = Kvitt Kaffe Oslo", sizeof st->name - 1);
        } else if (strcmp(k->key, "address") == 0) {
            if (copy_str(st->address, sizeof st->address, v))
                VERR(s, k, "too long; fix: shorten it");
        } else if (strcmp(k->key, "org_number") == 0) {
            if (copy_str(st->org_number, sizeof st->org_number, v))
                VERR(s, k, "too long; fix: org_number = 923609016");
        } else if (strcmp(k->key, "msn") == 0) {
            size_t n = strlen(v);
            int ok = n >= 4 && n <= 7;
            for (size_t j = 0; ok && j < n; j++)
                ok = isdigit((unsigned char)v[j]);
            if (!ok)
                VERR(s, k, "'%s' is not a Merchant-Serial-Number (4-7 digits); fix: msn = 123456", v);
            snprintf(st->msn, sizeof st->msn, "%s", v);
        } else if (strcmp(k->key, "language") == 0) {
            if (strcmp(v, "nb") && strcmp(v, "da") && strcmp(v, "fi") && strcmp(v, "sv") && strcmp(v, "en"))
                VERR(s, k, "'%s' is not supported; fix: language = nb | da | fi | sv | en", v);
            snprintf(st->language, sizeof st->language, "%s", v);
        } else if (strcmp(k->key, "currency") == 0) {
            if (strcmp(v, "NOK") && strcmp(v, "DKK") && strcmp(v, "EUR"))
                VERR(s, k, "'%s' is not supported; fix: currency = NOK | DKK | EUR", v);
            snprintf(st->currency, sizeof st->currency, "%s", v);
        } else if (strcmp(k->key, "printer") == 0) {
            if (copy_str(st->printer, sizeof st->printer, v))
                VERR(s, k, "too long; fix: shorten the URI");
        } else if (strcmp(k->key, "profile") == 0) {
            if (!*v || copy_str(st->profile, sizeof st->profile, v))
                VERR(s, k, "bad profile name; fix: profile = generic-80");
        } else if (strcmp(k->key, "flow") == 0) {
            if (strcmp(v, "epayment-qr") == 0) st->flow = KV_FLOW_EPAYMENT_QR;
            else if (strcmp(v, "ecom-qr") == 0) st->flow = KV_FLOW_ECOM_QR;
            else if (strcmp(v, "push") == 0) st->flow = KV_FLOW_PUSH;
            else VERR(s, k, "'%s' is not a flow; fix: flow = epayment-qr | ecom-qr | push", v);
        } else if (strcmp(k->key, "qr_source") == 0) {
            if (strcmp(v, "text") == 0) st->qr_source = KV_QR_TEXT;
            else if (strcmp(v, "image") == 0) st->qr_source = KV_QR_IMAGE;
            else VERR(s, k, "'%s' is not a QR source; fix: qr_source = image | text (text needs Vipps' approval)", v);
        } else if (strcmp(k->key, "credentials") == 0) {
            if (!valid_id(v) || copy_str(st->credentials, sizeof st->credentials, v))
                VERR(s, k, "'%s' is not a credentials name; fix: credentials = %s", v, st->id);
        } else if (strcmp(k->key, "reference_prefix") == 0) {
            size_t n = strlen(v);
            int ok = n >= 1 && n <= 10;
            for (size_t j = 0; ok && j < n; j++)
                ok = isalnum((unsigned char)v[j]);
            if (!ok)
                VERR(s, k, "'%s' must be 1..10 letters or digits; fix: reference_prefix = OSL", v);
            snprintf(st->reference_prefix, sizeof st->reference_prefix, "%s", v);
        } else if (strcmp(k->key, "website") == 0) {
            if (copy_str(st->website, sizeof st->website, v))
                VERR(s, k, "too long; fix: shorten the URL");
        } else if (strcmp(k->key, "chain") == 0) {
            if (copy_str(st->chain, sizeof st->chain, v))
                VERR(s, k, "too long; fix: shorten it");
        }
    }
    if (!st->name[0])
        snprintf(st->name, sizeof st->name, "%s", st->id);
    if (!st->msn[0])
        VERR(s, (ckey *)NULL, "msn is missing; fix: add msn = <your Merchant-Serial-Number>");
    if (!st->credentials[0])
        snprintf(st->credentials, sizeof st->credentials, "%s", st->id);
    if (!st->reference_prefix[0]) {
        size_t o = 0;
        for (const char *p = st->id; *p && o < 3; p++)
            if (isalnum((unsigned char)*p))
                st->reference_prefix[o++] = (char)toupper((unsigned char)*p);
        st->reference_prefix[o] = 0;
    }
    (void)c;
    return KV_C_OK;
}

static kv_config_status load_creds(csection *s, kv_credentials *cr, char *err, size_t errlen)
{
    char buf[256];
    memset(cr, 0, sizeof *cr);
    snprintf(cr->name, sizeof cr->name, "%s", s->name + 12);
    for (size_t i = 0; i < s->nkeys; i++) {
        ckey *k = &s->keys[i];
        const char *v = kval(k);
        if (!in_list(cred_keys, k->key))
            VERR(s, k, "unknown key; fix: remove it or use one of %s", list_text(cred_keys, buf, sizeof buf));
        /* never echo secret values */
        if (strcmp(k->key, "client_id") == 0) {
            if (!*v || copy_str(cr->client_id, sizeof cr->client_id, v))
                VERR(s, k, "empty or too long; fix: paste the client_id from the portal, or env:VAR");
        } else if (strcmp(k->key, "client_secret") == 0) {
            if (!*v || copy_str(cr->client_secret, sizeof cr->client_secret, v))
                VERR(s, k, "empty or too long; fix: paste the client_secret from the portal, or env:VAR");
        } else if (strcmp(k->key, "subscription_key") == 0) {
            if (!*v || copy_str(cr->subscription_key, sizeof cr->subscription_key, v))
                VERR(s, k, "empty or too long; fix: paste the subscription key from the portal, or env:VAR");
        } else if (strcmp(k->key, "partner") == 0) {
            if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0) cr->partner = 1;
            else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0) cr->partner = 0;
            else VERR(s, k, "'%s' is not a boolean; fix: partner = true | false", v);
        }
    }
    if (!cr->client_id[0] || !cr->client_secret[0] || !cr->subscription_key[0])
        VERR(s, (ckey *)NULL, "client_id, client_secret and subscription_key are all required; fix: add the missing ones");
    return KV_C_OK;
}

static kv_config_status check_private(const char *path, const char *why, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        seterr(err, errlen, "%s: cannot read the secrets file: %s; fix: create it (mode 0600) or correct [kvitt] secrets",
               path, strerror(errno));
        return KV_C_E_SECRETS;
    }
    if (!S_ISREG(sb.st_mode)) {
        seterr(err, errlen, "%s: %s; fix: name a file in [kvitt] secrets (mode 0600), not a %s", path,
               S_ISDIR(sb.st_mode) ? "is a directory, not the secrets file" : "is not a regular file",
               S_ISDIR(sb.st_mode) ? "folder" : "device or pipe");
        return KV_C_E_SECRETS;
    }
    if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
        seterr(err, errlen, "%s: refused: %s is readable by %s (mode %04o); fix: chmod 600 %s",
               path, why, (sb.st_mode & S_IRWXO) ? "others" : "its group",
               (unsigned)(sb.st_mode & 07777), path);
        return KV_C_E_SECRETS;
    }
    return KV_C_OK;
}

kv_config_status kv_config_load(kv_config **out, const char *path, char *err, size_t errlen)
{
    if (!out || !path) {
        seterr(err, errlen, "no configuration file given; fix: --config FILE or KVITT_CONFIG");
        return KV_C_E_IO;
    }
    kv_config *c = calloc(1, sizeof *c);
    if (!c)
        return KV_C_E_NOMEM;
    snprintf(c->path, sizeof c->path, "%s", path);
    kv_config_status st = parse_file(c, path, c->path, err, errlen);
    if (st)
        goto fail;
    st = load_main(c, err, errlen);
    if (st)
        goto fail;
    /* credentials in the main file: the main file must then be private too */
    for (size_t i = 0; i < c->nsecs; i++) {
        if (strncmp(c->secs[i].name, "credentials ", 12) == 0) {
            st = check_private(path, "the configuration holds [credentials]", err, errlen);
            if (st)
                goto fail;
            break;
        }
    }
    if (c->main.secrets[0]) {
        snprintf(c->secrets_path, sizeof c->secrets_path, "%s", c->main.secrets);
        st = check_private(c->secrets_path, "the secrets file", err, errlen);
        if (st)
            goto fail;
        size_t before = c->nsecs;
        st = parse_file(c, c->secrets_path, c->secrets_path, err, errlen);
        if (st)
            goto fail;
        for (size_t i = before; i < c->nsecs; i++) {
            if (strncmp(c->secs[i].name, "credentials ", 12) != 0) {
                seterr(err, errlen, "%s:%d: [%s] does not belong in the secrets file; fix: move it to %s",
                       c->secrets_path, c->secs[i].line, c->secs[i].name, c->path);
                st = KV_C_E_SYNTAX;
                goto fail;
            }
        }
    }
    size_t ns = 0, nc = 0;
    for (size_t i = 0; i < c->nsecs; i++) {
        if (strncmp(c->secs[i].name, "store ", 6) == 0) ns++;
        if (strncmp(c->secs[i].name, "credentials ", 12) == 0) nc++;
    }
    c->stores = calloc(ns ? ns : 1, sizeof *c->stores);
    c->creds = calloc(nc ? nc : 1, sizeof *c->creds);
    if (!c->stores || !c->creds) {
        st = KV_C_E_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < c->nsecs; i++) {
        if (strncmp(c->secs[i].name, "store ", 6) == 0) {
            st = load_store(c, &c->secs[i], &c->stores[c->nstores], err, errlen);
            if (st)
                goto fail;
            c->nstores++;
        } else if (strncmp(c->secs[i].name, "credentials ", 12) == 0) {
            st = load_creds(&c->secs[i], &c->creds[c->ncreds], err, errlen);
            if (st)
                goto fail;
            c->ncreds++;
        }
    }
    if (c->nstores == 0) {
        seterr(err, errlen, "%s: no [store ID] section; fix: add one, e.g. [store oslo] with msn = 123456", c->path);
        st = KV_C_E_VALUE;
        goto fail;
    }
    csection *ks = find_sec(c, "kvitt");
    ckey *dk = find_key(ks, "default_store");
    if (!c->main.default_store[0]) {
        snprintf(c->main.default_store, sizeof c->main.default_store, "%s", c->stores[0].id);
    } else if (!kv_config_store(c, c->main.default_store)) {
        seterr(err, errlen, "%s:%d: [kvitt] default_store: no [store %s]; fix: add that store or set default_store = %s",
               c->path, dk ? dk->line : 0, c->main.default_store, c->stores[0].id);
        st = KV_C_E_VALUE;
        goto fail;
    }
    /* every store's credentials must exist (when a secrets file or
     * credentials sections are configured at all) */
    for (size_t i = 0; i < c->nstores; i++) {
        if (!kv_config_credentials(c, &c->stores[i])) {
            char sec[80];
            snprintf(sec, sizeof sec, "store %s", c->stores[i].id);
            csection *ss = find_sec(c, sec);
            ckey *ck = find_key(ss, "credentials");
            seterr(err, errlen, "%s:%d: [store %s] credentials: no [credentials %s] in %s; fix: add that section to the secrets file (mode 0600)",
                   c->path, ck ? ck->line : (ss ? ss->line : 0), c->stores[i].id, c->stores[i].credentials,
                   c->secrets_path[0] ? c->secrets_path : "the secrets file ([kvitt] secrets is not set)");
            st = KV_C_E_SECRETS;
            goto fail;
        }
    }
    *out = c;
    return KV_C_OK;
fail:
    kv_config_free(c);
    return st;
}

const char *kv_config_default_path(const char *explicit_path)
{
    if (explicit_path && *explicit_path)
        return explicit_path;
    const char *e = getenv("KVITT_CONFIG");
    if (e && *e)
        return e;
    return "/etc/kvitt/kvitt.conf";
}

void kv_config_free(kv_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsecs; i++) {
        csection *s = &c->secs[i];
        for (size_t j = 0; j < s->nkeys; j++) {
            free(s->keys[j].key);
            free(s->keys[j].value);
            if (s->keys[j].resolved) {
                memset(s->keys[j].resolved, 0, strlen(s->keys[j].resolved));
                free(s->keys[j].resolved);
            }
        }
        free(s->keys);
        free(s->name);
    }
    free(c->secs);
    free(c->stores);
    if (c->creds)
        memset(c->creds, 0, (c->ncreds ? c->ncreds : 1) * sizeof *c->creds);
    free(c->creds);
    free(c);
}

const kv_config_main *kv_config_main_get(const kv_config *c)
{
    return c ? &c->main : NULL;
}

const kv_store *kv_config_store(const kv_config *c, const char *id)
{
    if (!c)
        return NULL;
    if (!id || !*id)
        id = c->main.default_store;
    for (size_t i = 0; i < c->nstores; i++)
        if (strcmp(c->stores[i].id, id) == 0)
            return &c->stores[i];
    return NULL;
}

size_t kv_config_store_count(const kv_config *c)
{
    return c ? c->nstores : 0;
}

const kv_store *kv_config_store_at(const kv_config *c, size_t i)
{
    return c && i < c->nstores ? &c->stores[i] : NULL;
}

const kv_store *kv_config_store_by_prefix(const kv_config *c, const char *reference)
{
    const kv_store *best = NULL;
    size_t bl = 0;
    if (!c || !reference)
        return NULL;
    for (size_t i = 0; i < c->nstores; i++) {
        const char *p = c->stores[i].reference_prefix;
        size_t n = strlen(p);
        if (n && n > bl && strncmp(reference, p, n) == 0 && reference[n] == '-') {
            best = &c->stores[i];
            bl = n;
        }
    }
    return best;
}

const kv_credentials *kv_config_credentials(const kv_config *c, const kv_store *s)
{
    if (!c || !s)
        return NULL;
    for (size_t i = 0; i < c->ncreds; i++)
        if (strcmp(c->creds[i].name, s->credentials) == 0)
            return &c->creds[i];
    return NULL;
}

const char *kv_config_get(const kv_config *c, const char *section, const char *key)
{
    if (!c || !section || !key)
        return NULL;
    ckey *k = find_key(find_sec(c, section), key);
    return k ? kval(k) : NULL;
}

int kv_config_line(const kv_config *c, const char *section, const char *key)
{
    if (!c || !section || !key)
        return 0;
    ckey *k = find_key(find_sec(c, section), key);
    return k ? k->line : 0;
}

const char *kv_config_path(const kv_config *c)
{
    return c ? c->path : NULL;
}

const char *kv_config_section_at(const kv_config *c, size_t i)
{
    return c && i < c->nsecs ? c->secs[i].name : NULL;
}

const char *kv_config_key_at(const kv_config *c, const char *section, size_t i)
{
    csection *s = c && section ? find_sec(c, section) : NULL;
    return s && i < s->nkeys ? s->keys[i].key : NULL;
}
