/* sim.c - the simulator handle: options, the libmicrohttpd server, the
 * worker thread, and --write-config. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>
#include <openssl/sha.h>

#include "sim/sim_int.h"

#define SIM_MAX_BODY (1024 * 1024)

static const kv_sim_cred creds[] = {
    { "oslo", "0a5e7c1e-0510-4c0d-9e11-5e5e00000001",
      "b3NsbyBzaW11bGF0b3Igc2VjcmV0IC0gbm90IHJlYWw=", "5105ca1e0000000000000000000000a1",
      "123456", 0 },
    { "bergen", "0a5e7c1e-be12-4c0d-9e11-5e5e00000002",
      "YmVyZ2VuIHNpbXVsYXRvciBzZWNyZXQgLSBub3QgcmVhbA==", "be12ca1e0000000000000000000000b2",
      "234567", 0 },
    { "nordkaffe-partner", "0a5e7c1e-9a27-4c0d-9e11-5e5e00000003",
      "cGFydG5lciBzaW11bGF0b3Igc2VjcmV0IC0gbm90IHJlYWw=", "9a27ca1e0000000000000000000000c3",
      "", 1 },
};

const kv_sim_cred *sim_creds(size_t *n)
{
    *n = sizeof creds / sizeof creds[0];
    return creds;
}

const kv_sim_cred *kv_sim_credentials(size_t *n)
{
    return sim_creds(n);
}

/* Norwegian test MSISDNs, plus one Danish and one Finnish number. */
const char *kv_sim_known_phones(void)
{
    return "4791234567,4748059470,4790000001,4790000002,4797777776,4512345678,358401234567";
}

const char *kv_sim_strerror(kv_sim_status st)
{
    switch (st) {
    case KV_SIM_OK: return "ok";
    case KV_SIM_E_ARG: return "invalid simulator option";
    case KV_SIM_E_NOMEM: return "out of memory";
    case KV_SIM_E_LISTEN: return "cannot listen on the given address";
    case KV_SIM_E_THREAD: return "cannot start a thread";
    case KV_SIM_E_IO: return "cannot write the file";
    }
    return "unknown simulator status";
}

void kv_sim_options_init(kv_sim_options *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->approve_after_ms = 3000;
    o->slow_ms = 3000;
    o->seed = 1;
    o->expire_after_s = 600;
    o->unknown_after_s = 3600;
    o->token_ttl_s = 3600;
    o->rate_get_per_min = 120;
    o->rate_mod_per_min = 5;
    o->webhook_timeout_ms = 10000;
    o->webhook_retry_ms = 2000;
    o->webhook_max_attempts = 29;
}

/* ---- libmicrohttpd glue ---- */
struct conn_ctx {
    char *buf;
    size_t len, cap;
    int too_big;
};

static void sleep_ms(int ms)
{
    if (ms <= 0) return;
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) { }
}

/* One JSON line per exchange for the contract checker. */
static void record(kv_sim *s, const sim_req *rq, const sim_resp *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", rq->method);
    cJSON_AddStringToObject(o, "path", rq->path);
    cJSON_AddNumberToObject(o, "status", r->status);
    cJSON_AddStringToObject(o, "contentType", r->ctype ? r->ctype : "");
    if (rq->len) cJSON_AddStringToObject(o, "request", rq->body);
    else cJSON_AddNullToObject(o, "request");
    int text = r->ctype && (strstr(r->ctype, "json") || strstr(r->ctype, "text"));
    if (r->body && text) {
        char *t = strndup(r->body, r->len);
        cJSON_AddStringToObject(o, "response", t ? t : "");
        free(t);
    } else {
        cJSON_AddNullToObject(o, "response");
    }
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line) return;
    pthread_mutex_lock(&s->record_mu);
    fprintf(s->record, "%s\n", line);
    fflush(s->record);
    pthread_mutex_unlock(&s->record_mu);
    free(line);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upsize, void **con_cls)
{
    (void)version;
    kv_sim *s = cls;
    struct conn_ctx *cx = *con_cls;
    if (!cx) {
        cx = calloc(1, sizeof *cx);
        if (!cx) return MHD_NO;
        *con_cls = cx;
        return MHD_YES;
    }
    if (*upsize) {
        if (!cx->too_big) {
            if (cx->len + *upsize > SIM_MAX_BODY) {
                cx->too_big = 1;
            } else {
                if (cx->len + *upsize + 1 > cx->cap) {
                    size_t nc = cx->cap ? cx->cap : 1024;
                    while (nc < cx->len + *upsize + 1) nc *= 2;
                    char *nb = realloc(cx->buf, nc);
                    if (!nb) return MHD_NO;
                    cx->buf = nb;
                    cx->cap = nc;
                }
                memcpy(cx->buf + cx->len, upload, *upsize);
                cx->len += *upsize;
                cx->buf[cx->len] = 0;
            }
        }
        *upsize = 0;
        return MHD_YES;
    }
    sim_req rq = { method, url, cx->buf ? cx->buf : "", cx->len, c, NULL };
    sim_resp r;
    memset(&r, 0, sizeof r);
    if (cx->too_big) {
        sim_apim_error(&r, 413, "Request body too large");
    } else {
        sim_handle(s, &rq, &r);
    }
    int is_control = strncmp(url, "/sim/", 5) == 0;
    if (s->record && !is_control) record(s, &rq, &r);
    if (!is_control) sleep_ms(s->o.latency_ms);
    sleep_ms(r.delay_ms);
    if (!s->o.quiet)
        fprintf(stderr, "kvitt sim: %s %s -> %d\n", method, url, r.status);
    if (r.status == 0) {
        free(r.body);
        return MHD_NO; /* drop the connection without an answer */
    }
    struct MHD_Response *mr = MHD_create_response_from_buffer(r.len, r.body ? r.body : (void *)"",
                                                              r.body ? MHD_RESPMEM_MUST_FREE
                                                                     : MHD_RESPMEM_PERSISTENT);
    if (!mr) { free(r.body); return MHD_NO; }
    if (r.ctype) MHD_add_response_header(mr, "Content-Type", r.ctype);
    for (int i = 0; i < r.nhdr; i++) MHD_add_response_header(mr, r.hname[i], r.hval[i]);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)r.status, mr);
    MHD_destroy_response(mr);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls; (void)c; (void)toe;
    struct conn_ctx *cx = *con_cls;
    if (cx) {
        free(cx->buf);
        free(cx);
        *con_cls = NULL;
    }
}

static void free_state(kv_sim *s)
{
    while (s->pay) {
        sim_payment *p = s->pay; s->pay = p->next;
        for (size_t i = 0; i < p->nev; i++) { free(p->ev[i].idem); free(p->ev[i].text); }
        free(p->ev); free(p->redirect_url); free(p->phone); cJSON_Delete(p->metadata);
        free(p->description); free(p->callback_prefix); free(p->auth_token);
        free(p->fallback); free(p->txtext); free(p);
    }
    while (s->idem) {
        sim_idem *i = s->idem; s->idem = i->next;
        free(i->scope); free(i->key); free(i->req); free(i->body); free(i);
    }
    while (s->tok) { sim_token *t = s->tok; s->tok = t->next; free(t->token); free(t); }
    while (s->rate) { sim_rate *r = s->rate; s->rate = r->next; free(r->key); free(r->t); free(r); }
    while (s->hooks) {
        sim_hook *h = s->hooks; s->hooks = h->next;
        for (int i = 0; i < h->nevents; i++) free(h->events[i]);
        free(h->events); free(h->url); free(h->secret); free(h);
    }
    while (s->dq) {
        sim_delivery *d = s->dq; s->dq = d->next;
        free(d->url); free(d->body); free(d->secret); free(d->auth); free(d);
    }
    while (s->receipts) {
        sim_receipt *r = s->receipts; s->receipts = r->next;
        free(r->order_id); cJSON_Delete(r->receipt); cJSON_Delete(r->category); free(r);
    }
    sim_count *lists[3] = { s->counts, s->keys, s->nosys };
    for (int k = 0; k < 3; k++)
        while (lists[k]) { sim_count *c = lists[k]; lists[k] = c->next; free(c->key); free(c); }
    s->counts = s->keys = s->nosys = NULL;
    while (s->faults) { sim_fault *f = s->faults; s->faults = f->next; free(f->path); free(f); }
    while (s->qrs) { sim_qr *q = s->qrs; s->qrs = q->next; free(q->target); free(q); }
}

kv_sim_status kv_sim_start(kv_sim **out, const kv_sim_options *o)
{
    if (!out || !o) return KV_SIM_E_ARG;
    if (o->port < 0 || o->port > 65535 || o->fail_rate < 0 || o->fail_rate > 1 ||
        o->latency_ms < 0 || o->approve_after_ms < 0 || o->expire_after_s < 1 ||
        o->token_ttl_s < 1 || o->rate_get_per_min < 0 || o->rate_mod_per_min < 0 ||
        o->webhook_max_attempts < 1 || o->webhook_retry_ms < 0 || o->webhook_timeout_ms < 1 ||
        o->unknown_after_s < 1 || o->slow_ms < 0 || o->auto_mode < KV_SIM_AUTO_NONE ||
        o->auto_mode > KV_SIM_AUTO_EXPIRE)
        return KV_SIM_E_ARG;
    kv_sim *s = calloc(1, sizeof *s);
    if (!s) return KV_SIM_E_NOMEM;
    s->o = *o;
    s->host = strdup(o->host ? o->host : "127.0.0.1");
    s->phones = strdup(o->known_phones ? o->known_phones : kv_sim_known_phones());
    if (!s->host || !s->phones) { free(s->host); free(s->phones); free(s); return KV_SIM_E_NOMEM; }
    s->o.host = s->host;
    s->o.known_phones = s->phones;
    s->rng = o->seed;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->record_mu, NULL);
    if (o->record_path) {
        s->record_path = strdup(o->record_path);
        s->record = s->record_path ? fopen(s->record_path, "ae") : NULL;
        s->o.record_path = s->record_path;
        if (!s->record) {
            pthread_mutex_destroy(&s->mu);
            pthread_mutex_destroy(&s->record_mu);
            free(s->record_path); free(s->host); free(s->phones); free(s);
            return KV_SIM_E_IO;
        }
    }
    pthread_cond_init(&s->cv, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", o->port);
    if (getaddrinfo(s->host, portstr, &hints, &ai) != 0 || !ai) {
        kv_sim_destroy(s);
        return KV_SIM_E_LISTEN;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, s,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
                            MHD_OPTION_END);
    int fam = ai->ai_family;
    freeaddrinfo(ai);
    if (!s->d) { kv_sim_destroy(s); return KV_SIM_E_LISTEN; }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : o->port;
    const char *uh = s->host;
    if (strcmp(uh, "0.0.0.0") == 0 || strcmp(uh, "") == 0) uh = "127.0.0.1";
    if (strcmp(uh, "::") == 0) uh = "::1";
    if (fam == AF_INET6 && strchr(uh, ':'))
        snprintf(s->url, sizeof s->url, "http://[%s]:%d", uh, s->port);
    else
        snprintf(s->url, sizeof s->url, "http://%s:%d", uh, s->port);
    if (pthread_create(&s->worker, NULL, sim_worker, s) != 0) {
        kv_sim_destroy(s);
        return KV_SIM_E_THREAD;
    }
    s->worker_started = 1;
    *out = s;
    return KV_SIM_OK;
}

const char *kv_sim_url(const kv_sim *s)
{
    return s->url;
}

int kv_sim_port(const kv_sim *s)
{
    return s->port;
}

void kv_sim_destroy(kv_sim *s)
{
    if (!s) return;
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED); /* aborts a delivery in flight */
    if (s->d) MHD_stop_daemon(s->d);
    if (s->worker_started) {
        pthread_mutex_lock(&s->mu);
        s->stop = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->worker, NULL);
    }
    free_state(s);
    sim_report_free(s);
    sim_mgmt_free(s);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->record_mu);
    pthread_cond_destroy(&s->cv);
    if (s->record) fclose(s->record);
    free(s->record_path);
    curl_global_cleanup();
    free(s->host);
    free(s->phones);
    free(s);
}

/* ---- --write-config ---- */
static int write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return -1;
    if (fchmod(fd, mode) < 0) { close(fd); return -1; }
    size_t n = strlen(text), off = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno; close(fd); errno = e; return -1;
        }
        off += (size_t)w;
    }
    if (fsync(fd) < 0 && errno != EINVAL) { int e = errno; close(fd); errno = e; return -1; }
    return close(fd);
}

/* A fresh till token (48 hex digits from the kernel's CSPRNG) and the hex
 * SHA-256 that `kvitt serve` keeps as [till ID] token_sha256. */
static int till_token(char tok[49], char hash[65])
{
    unsigned char raw[24], h[SHA256_DIGEST_LENGTH];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, raw, sizeof raw);
    close(fd);
    if (n != (ssize_t)sizeof raw) return -1;
    for (size_t i = 0; i < sizeof raw; i++) snprintf(tok + 2 * i, 3, "%02x", raw[i]);
    SHA256((const unsigned char *)tok, strlen(tok), h);
    for (size_t i = 0; i < sizeof h; i++) snprintf(hash + 2 * i, 3, "%02x", h[i]);
    return 0;
}

static int mkdir_p(const char *dir)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", dir) >= (int)sizeof tmp) { errno = ENAMETOOLONG; return -1; }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST) return -1;
    return 0;
}

kv_sim_status kv_sim_write_config_url(const char *url, const char *path)
{
    if (!url || !path || !*path) return KV_SIM_E_ARG;
    char abs[PATH_MAX];
    if (path[0] == '/') {
        if (snprintf(abs, sizeof abs, "%s", path) >= (int)sizeof abs) return KV_SIM_E_ARG;
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) return KV_SIM_E_IO;
        if (snprintf(abs, sizeof abs, "%s/%s", cwd, path) >= (int)sizeof abs) return KV_SIM_E_ARG;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", abs);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = 0; else *slash = 0;
    const char *base = strrchr(abs, '/') + 1;
    char stem[NAME_MAX + 1];
    snprintf(stem, sizeof stem, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
    if (mkdir_p(dir) < 0) return KV_SIM_E_IO;
    char *pdir = sim_printf("%s/printer", dir);
    char *po = sim_printf("%s/printer/oslo", dir);
    char *pb = sim_printf("%s/printer/bergen", dir);
    char *secrets = sim_printf("%s/%s.secrets", dir, stem);
    char *sbase = sim_printf("%s.secrets", stem);
    kv_sim_status st = KV_SIM_OK;
    char *conf = NULL, *sec = NULL;
    if (!pdir || !po || !pb || !secrets || !sbase) { st = KV_SIM_E_NOMEM; goto out; }
    if (mkdir_p(po) < 0 || mkdir_p(pb) < 0) { st = KV_SIM_E_IO; goto out; }
    char tok[49], tokhash[65];
    if (till_token(tok, tokhash) < 0) { st = KV_SIM_E_IO; goto out; }
    conf = sim_printf(
        "# kvitt configuration written by `kvitt sim --write-config`.\n"
        "# It points at the local simulator %s (test credentials only).\n"
        "# Try: kvitt --config %s pay --amount 149.00\n"
        "\n"
        "[kvitt]\n"
        "environment = %s\n"
        "system_name = kvitt\n"
        "system_version = 0.1.0\n"
        "plugin_name = kvitt-till\n"
        "plugin_version = 0.1.0\n"
        "journal = %s/kvitt-journal.db\n"
        "secrets = %s\n"
        "connect_timeout_ms = 3000\n"
        "total_timeout_ms = 30000\n"
        "payment_timeout_s = 300\n"
        "poll_first_s = 5\n"
        "poll_interval_ms = 1500\n"
        "default_store = oslo\n"
        "till_id = till-1\n"
        "\n"
        "[store oslo]\n"
        "name = Kvitt Kaffe Oslo\n"
        "address = Storgata 1, 0155 Oslo\n"
        "org_number = 923609016\n"
        "msn = %s\n"
        "language = nb\n"
        "currency = NOK\n"
        "printer = virtual://%s\n"
        "profile = generic-80\n"
        "flow = epayment-qr\n"
        "qr_source = image\n"
        "credentials = oslo\n"
        "reference_prefix = OSL\n"
        "website = https://example.no\n"
        "chain = nordkaffe\n"
        "\n"
        "[store bergen]\n"
        "name = Kvitt Kaffe Bergen\n"
        "address = Torgallmenningen 2, 5014 Bergen\n"
        "org_number = 923609016\n"
        "msn = %s\n"
        "language = nb\n"
        "currency = NOK\n"
        "printer = virtual://%s\n"
        "profile = generic-80\n"
        "flow = epayment-qr\n"
        "qr_source = image\n"
        "credentials = bergen\n"
        "reference_prefix = BGO\n"
        "website = https://example.no\n"
        "chain = nordkaffe\n"
        "\n"
        "# `kvitt serve --config %s` (listens on 127.0.0.1:8580 without a [serve]\n"
        "# section; add [serve] listen/webhook_url as docs/daemon.md shows).\n"
        "# The till's bearer token is in the secrets file (till-token line).\n"
        "[till till-1]\n"
        "store = oslo\n"
        "token_sha256 = %s\n",
        url, abs, url, dir, sbase, creds[0].msn, po, creds[1].msn, pb, abs, tokhash);
    sec = sim_printf(
        "# kvitt secrets written by `kvitt sim --write-config` (mode 0600).\n"
        "# Simulator test credentials: they work only against `kvitt sim`.\n"
        "# Bearer token of [till till-1] for `kvitt serve` (the config keeps only its\n"
        "# SHA-256); a till sends it as Authorization: Bearer TOKEN.\n"
        "# till-token till-1 = %s\n"
        "\n"
        "[credentials %s]\nclient_id = %s\nclient_secret = %s\nsubscription_key = %s\npartner = false\n"
        "\n"
        "[credentials %s]\nclient_id = %s\nclient_secret = %s\nsubscription_key = %s\npartner = false\n"
        "\n"
        "# Partner keys acting for both stores (the store's msn is sent on every call).\n"
        "[credentials %s]\nclient_id = %s\nclient_secret = %s\nsubscription_key = %s\npartner = true\n",
        tok, creds[0].name, creds[0].client_id, creds[0].client_secret, creds[0].subscription_key,
        creds[1].name, creds[1].client_id, creds[1].client_secret, creds[1].subscription_key,
        creds[2].name, creds[2].client_id, creds[2].client_secret, creds[2].subscription_key);
    if (!conf || !sec) { st = KV_SIM_E_NOMEM; goto out; }
    if (write_file(secrets, sec, 0600) < 0 || write_file(abs, conf, 0644) < 0) st = KV_SIM_E_IO;
out:
    free(pdir); free(po); free(pb); free(secrets); free(sbase); free(conf); free(sec);
    return st;
}

kv_sim_status kv_sim_write_config(const kv_sim *s, const char *path)
{
    if (!s) return KV_SIM_E_ARG;
    return kv_sim_write_config_url(s->url, path);
}
