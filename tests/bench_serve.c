/* bench_serve.c - `kvitt serve` under load: N tills on loopback, each
 * running payments back to back against `kvitt sim --auto approve
 * --approve-after 0 --latency-ms 20` and `kvitt vprinter` printers.
 *
 * Prints: payments per second; p50/p99 from the till's request to the QR
 * slip bytes at the printer; p99 from the webhook reaching the daemon to
 * the receipt bytes at the printer; the daemon's RSS; its CPU time per
 * payment, most threads, context switches per payment (all threads, whole
 * life, from wait4), fsync/fdatasync calls per payment (counted by the
 * LD_PRELOAD shim build/tests/synccount.so when it is built) and journal
 * commits per payment (from the daemon's stop line); and the invariant
 * check that no payment was lost or doubled (the tills' 201s, the journal,
 * the simulator's creates and captures, and the printed jobs must agree).
 *
 * Environment: KVITT_BENCH_TILLS (default 200), KVITT_BENCH_SECONDS
 * (default 60), KVITT_BENCH_PRINTERS (default 4), KVITT_BENCH_STREAMS (open
 * event streams held during the run, default 0: they watch
 * KVITT_BENCH_STREAMS / 100 payments of the simulator's magic amount 2.01,
 * which stay "processing", and the figure is the delay from a change in
 * their feed (the event's atMs) to its bytes at the stream's socket),
 * KVITT_BENCH_JOURNAL (a
 * path for the journal database instead of the scratch folder, e.g. on
 * /dev/shm to see the daemon without the disk's fsync cost; or a
 * postgresql:// URL), KVITT_BENCH_DAEMONS (default 1; more needs a
 * PostgreSQL journal and HAProxy: that many daemons on the one journal
 * behind HAProxy, the tills and the webhooks going through the balancer;
 * CPU, context switches and commits are summed over the daemons, RSS and
 * threads are the first one's; afterwards KVITT_BENCH_ORPHANS (default 20)
 * payments that stay waiting are made on one more daemon (not behind the
 * balancer, so the figures above keep every daemon's counts; the
 * survivors' takeover writes are in their commit counts), which is then
 * killed with SIGKILL, and the figure is the time from the kill to each
 * orphan's takeover line in a surviving daemon's log: median and max).
 * Figures only: it never
 * fails on time; it exits 1 only when the invariant is broken or the
 * programs cannot start.
 *
 * "Slip bytes" and "receipt bytes" times are the modification times of
 * the vprinter's job files (the vprinter files a job when its connection
 * closes, so this is the moment the last byte arrived).  The webhook time
 * is the daemon's own timestamp of the event in the payment's feed; all
 * clocks are the same machine's CLOCK_REALTIME. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "src/journal/journal.h"
#include "src/serve/auth.h"
#include "tests/lib/kvhaproxy.h"
#include "tests/lib/kvtest.h"
#include "tests/lib/kvthttp.h"

typedef struct pay_rec {
    char ref[64];
    int64_t t_request_us;   /* till sends POST */
    int64_t t_created_us;   /* till has the 201 */
    int64_t t_webhook_us;   /* daemon received the AUTHORIZED webhook (0: none) */
    int64_t t_slip_us;      /* slip job file time */
    int64_t t_receipt_us;   /* receipt job file time */
    int final_done;         /* the till saw DONE */
    int feed_breaks;        /* numbered events that did not follow the last one (gap or repeat) */
    int jobs;               /* printed jobs naming this reference */
    int capture_keys;       /* distinct capture idempotency keys at the simulator */
    int observer;           /* a payment watched by the event streams (never paid) */
} pay_rec;

typedef struct till {
    int idx;
    char token[64];
    pthread_t thread;
    pay_rec *recs;
    size_t n, cap;
    int errors;
} till;

static char g_url[128];
static int g_port;
static volatile int g_stop;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct buf {
    char *p;
    size_t n;
};

static size_t sink(char *d, size_t s, size_t m, void *ud)
{
    struct buf *b = ud;
    char *q = realloc(b->p, b->n + s * m + 1);
    if (!q)
        return 0;
    memcpy(q + b->n, d, s * m);
    b->n += s * m;
    q[b->n] = '\0';
    b->p = q;
    return s * m;
}

static long req(CURL *c, const char *method, const char *url, struct curl_slist *h,
                const char *body, struct buf *out)
{
    free(out->p);
    out->p = calloc(1, 1);
    out->n = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    long status = 0;
    if (curl_easy_perform(c) != CURLE_OK)
        return 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static void *till_main(void *arg)
{
    till *t = arg;
    CURL *c = curl_easy_init();
    char auth[128];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", t->token);
    struct curl_slist *hg = curl_slist_append(NULL, auth);
    struct buf out = { NULL, 0 };
    int seq = 0;
    /* Spread the first requests over 1 s so the tills do not start in
     * lockstep. */
    usleep((useconds_t)((t->idx * 7919) % 1000) * 1000);
    while (!g_stop) {
        char key[96], url[256];
        /* a till retries a failed request with the same key (through a
         * balancer, a payment whose answer was lost is not made twice) */
        snprintf(key, sizeof key, "Idempotency-Key: bench-%d-%d", t->idx, seq);
        struct curl_slist *hp = curl_slist_append(NULL, auth);
        hp = curl_slist_append(hp, key);
        hp = curl_slist_append(hp, "Content-Type: application/json");
        hp = curl_slist_append(hp, "Expect:");
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 64;
            t->recs = realloc(t->recs, t->cap * sizeof *t->recs);
        }
        pay_rec *p = &t->recs[t->n];
        memset(p, 0, sizeof *p);
        snprintf(url, sizeof url, "%s/v1/payments", g_url);
        p->t_request_us = now_us();
        long st = req(c, "POST", url, hp, "{\"amount\":\"49.00\"}", &out);
        curl_slist_free_all(hp);
        if (st != 201) {
            t->errors++;
            if (t->errors < 3)
                fprintf(stderr, "till %d: create answered %ld: %.200s\n", t->idx, st,
                        out.p ? out.p : "");
            usleep(200000);
            continue;
        }
        p->t_created_us = now_us();
        seq++;
        cJSON *j = cJSON_Parse(out.p);
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "reference");
        if (cJSON_IsString(r))
            snprintf(p->ref, sizeof p->ref, "%s", r->valuestring);
        cJSON_Delete(j);
        t->n++;
        /* Wait for the end without polling: long-poll the event feed
         * (through a balancer each long-poll may reach another daemon: the
         * numbers are the journal's, so `after` means the same there). */
        int after = 0, fin = 0, last_seq = 0;
        for (int i = 0; i < 40 && !fin; i++) {
            snprintf(url, sizeof url, "%s/v1/payments/%s/events?wait=30&after=%d", g_url,
                     p->ref, after);
            if (req(c, "GET", url, hg, NULL, &out) != 200) {
                usleep(100000);
                continue;
            }
            j = cJSON_Parse(out.p);
            fin = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "final"));
            const cJSON *nx = cJSON_GetObjectItemCaseSensitive(j, "next");
            if (cJSON_IsNumber(nx))
                after = (int)nx->valuedouble;
            const cJSON *ev;
            cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(j, "events")) {
                const cJSON *ty = cJSON_GetObjectItemCaseSensitive(ev, "type");
                const cJSON *m = cJSON_GetObjectItemCaseSensitive(ev, "message");
                const cJSON *s = cJSON_GetObjectItemCaseSensitive(ev, "state");
                const cJSON *at = cJSON_GetObjectItemCaseSensitive(ev, "atMs");
                const cJSON *sq = cJSON_GetObjectItemCaseSensitive(ev, "seq");
                if (cJSON_IsNumber(sq)) {
                    p->feed_breaks += (int)sq->valuedouble != last_seq + 1;
                    last_seq = (int)sq->valuedouble;
                }
                if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "webhook") &&
                    cJSON_IsString(m) && !strcmp(m->valuestring, "AUTHORIZED") &&
                    cJSON_IsNumber(at) && !p->t_webhook_us)
                    p->t_webhook_us = (int64_t)at->valuedouble * 1000;
                if (cJSON_IsString(s) && !strcmp(s->valuestring, "DONE"))
                    p->final_done = 1;
            }
            cJSON_Delete(j);
        }
    }
    free(out.p);
    curl_slist_free_all(hg);
    curl_easy_cleanup(c);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(int64_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, cmp_i64);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1000.0;
}

/* ---- reference index (open addressing) ---- */
static pay_rec **g_idx;
static size_t g_idx_cap;

static size_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return (size_t)h;
}

static void idx_add(pay_rec *p)
{
    size_t i = hash(p->ref, strlen(p->ref)) & (g_idx_cap - 1);
    while (g_idx[i])
        i = (i + 1) & (g_idx_cap - 1);
    g_idx[i] = p;
}

static pay_rec *idx_find(const char *s, size_t n)
{
    size_t i = hash(s, n) & (g_idx_cap - 1);
    while (g_idx[i]) {
        if (strlen(g_idx[i]->ref) == n && !memcmp(g_idx[i]->ref, s, n))
            return g_idx[i];
        i = (i + 1) & (g_idx_cap - 1);
    }
    return NULL;
}

/* References look like PFX-<date and time>-xxxxxxxxxx (serve.c
 * new_reference); g_reflen is their length, taken from the first one a
 * till got (the date part's width has changed once). */
static size_t g_reflen = 27;

static void scan_job(const char *path, int64_t mtime_us, int *unknown_jobs)
{
    unsigned char *b = NULL;
    size_t len = 0;
    if (kvt_read_file(path, &b, &len) < 0)
        return;
    pay_rec *seen = NULL;
    for (size_t i = 0; i + g_reflen <= len && !seen; i++) {
        if (b[i + 3] != '-' || b[i + g_reflen - 11] != '-')
            continue;
        pay_rec *p = idx_find((const char *)b + i, g_reflen);
        if (p)
            seen = p;
    }
    free(b);
    if (!seen) {
        (*unknown_jobs)++;
        return;
    }
    seen->jobs++;
    if (!seen->t_slip_us || mtime_us < seen->t_slip_us) {
        if (seen->t_slip_us)
            seen->t_receipt_us = seen->t_slip_us;
        seen->t_slip_us = mtime_us;
    } else if (!seen->t_receipt_us || mtime_us > seen->t_receipt_us) {
        seen->t_receipt_us = mtime_us;
    }
}

static long rss_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t fl = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, fl))
            v = atol(line + fl + 1);
    if (f)
        fclose(f);
    return v;
}

/* ---- event streams held during the run ---- */

typedef struct streams {
    int n;
    int *fds;
    int64_t *opened_ms;
    int64_t *lat_us;          /* change -> bytes, per event seen after the open */
    size_t nlat, caplat;
    size_t ended;             /* streams the daemon closed during the run */
    pthread_t thread;
} streams;

static int stream_open(const char *ref, const char *token)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)g_port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char req[512];
    int n = snprintf(req, sizeof req, "GET /v1/payments/%s/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n", ref, token);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 || write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *streams_main(void *arg)
{
    streams *st = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < st->n; i++) {
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, st->fds[i], &ev);
    }
    struct epoll_event evs[256];
    char buf[16384];
    while (!g_stop) {
        int k = epoll_wait(ep, evs, 256, 200);
        int64_t now = now_us();
        for (int e = 0; e < k; e++) {
            int i = (int)evs[e].data.u32;
            ssize_t r = read(st->fds[i], buf, sizeof buf - 1);
            if (r <= 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, st->fds[i], NULL);
                close(st->fds[i]);
                st->fds[i] = -1;
                st->ended++;
                continue;
            }
            buf[r] = '\0';
            for (char *p = buf; (p = strstr(p, "\"atMs\":")); p += 7) {
                int64_t at = (int64_t)strtod(p + 7, NULL);
                if (at < st->opened_ms[i] + 1)
                    continue; /* history sent at the open */
                if (st->nlat == st->caplat) {
                    st->caplat = st->caplat ? st->caplat * 2 : 4096;
                    st->lat_us = realloc(st->lat_us, st->caplat * sizeof *st->lat_us);
                }
                st->lat_us[st->nlat++] = now - at * 1000;
            }
        }
    }
    close(ep);
    return NULL;
}

/* utime + stime of a process in ms (all threads, dead ones included). */
static double cpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* fdatasync + fsync calls counted by the preload shim (0 without it). */
static uint64_t syncs_counted(const char *path)
{
    uint64_t c[2] = { 0, 0 };
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (f) {
        if (fread(c, sizeof c, 1, f) != 1)
            c[0] = c[1] = 0;
        fclose(f);
    }
    return c[0] + c[1];
}

/* A "key=<number>" field of the last line of a log that has marker. */
static long log_field(const char *path, const char *marker, const char *key)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f)) {
        if (!strstr(line, marker))
            continue;
        for (char *p = line; (p = strstr(p, key)); p += kl)
            if ((p == line || p[-1] == ' ') && p[kl] == '=')
                v = atol(p + kl + 1);
    }
    if (f)
        fclose(f);
    return v;
}

/* A payment of the simulator's magic amount 2.01 (the customer stays
 * "processing") at the daemon at url, Idempotency-Key `key`: its
 * reference into ref; the HTTP status, or 0 when a 201 names none. */
static long pay_2_01(CURL *c, struct buf *out, const char *url, const char *token, const char *key,
                     char *ref, size_t len)
{
    char auth[128], idem[128], u[256];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    snprintf(idem, sizeof idem, "Idempotency-Key: %s", key);
    snprintf(u, sizeof u, "%s/v1/payments", url);
    struct curl_slist *hp = curl_slist_append(NULL, auth);
    hp = curl_slist_append(hp, idem);
    hp = curl_slist_append(hp, "Content-Type: application/json");
    long code = req(c, "POST", u, hp, "{\"amount\":\"2.01\"}", out);
    curl_slist_free_all(hp);
    cJSON *j = code == 201 ? cJSON_Parse(out->p) : NULL;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "reference");
    if (cJSON_IsString(r))
        snprintf(ref, len, "%s", r->valuestring);
    else if (code == 201)
        code = 0;
    cJSON_Delete(j);
    return code;
}

/* A waiting payment on the daemon at url, owned by it once WAITING. */
static int orphan_make(CURL *c, const char *url, const char *token, int i, char *ref, size_t len)
{
    struct buf out = { NULL, 0 };
    char auth[128], key[96], u[256];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    snprintf(key, sizeof key, "bench-orphan-%d", i);
    int ok = pay_2_01(c, &out, url, token, key, ref, len) == 201;
    /* it is the owner's once its state is WAITING */
    struct curl_slist *hp = curl_slist_append(NULL, auth);
    snprintf(u, sizeof u, "%s/v1/payments/%s", url, ref);
    for (int k = 0; ok && k < 300; k++) {
        if (req(c, "GET", u, hp, NULL, &out) == 200 && out.p && strstr(out.p, "\"WAITING\""))
            break;
        usleep(50000);
    }
    curl_slist_free_all(hp);
    free(out.p);
    return ok ? 0 : -1;
}

/* Takeover time: norphans waiting payments on one more daemon on the same
 * journal, kill -9 of it, and the time from the kill until each orphan's
 * "chain.takeover" line appears in a surviving daemon's log. */
static void takeover(const char *conf, const char *dir, char **slogs, int ndaemons, const char *token,
                     int norphans)
{
    char addr[64], url[96];
    int port = kvt_free_port();
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    snprintf(url, sizeof url, "http://%s", addr);
    char *log = kvt_path("%s/serve-owner.log", dir);
    const char *argv[] = { "kvitt", "serve", "--config", conf, "--listen", addr, NULL };
    kvt_proc *owner = kvt_spawn(argv, NULL, log);
    char *line = owner ? kvt_proc_readline(owner, 20000) : NULL;
    free(log);
    if (!line) {
        printf("takeover after kill -9               n/a (the owner daemon did not start)\n");
        kvt_proc_stop(owner, SIGTERM);
        return;
    }
    free(line);
    char (*refs)[64] = calloc((size_t)norphans, sizeof *refs);
    int64_t *ms = calloc((size_t)norphans, sizeof *ms);
    CURL *c = curl_easy_init();
    int made = 0;
    for (int i = 0; i < norphans; i++)
        made += orphan_make(c, url, token, i, refs[made], sizeof refs[made]) == 0;
    curl_easy_cleanup(c);
    int64_t t0 = now_us();
    kill(kvt_proc_pid(owner), SIGKILL);
    kvt_proc_stop(owner, 0);
    int seen = 0;
    for (int round = 0; round < 3000 && seen < made; round++) {
        int64_t t = now_us();
        for (int d = 0; d < ndaemons; d++) {
            unsigned char *lg = NULL;
            size_t ll = 0;
            if (kvt_read_file(slogs[d], &lg, &ll) != 0)
                continue;
            for (int i = 0; i < made; i++) {
                char needle[128];
                snprintf(needle, sizeof needle, "chain.takeover reference=%s", refs[i]);
                if (!ms[i] && strstr((char *)lg, needle)) {
                    ms[i] = (t - t0) / 1000 + 1; /* +1: 0 means not yet */
                    seen++;
                }
            }
            free(lg);
        }
        if (seen < made)
            usleep(20000);
    }
    int64_t *got = calloc((size_t)made + 1, sizeof *got);
    size_t ng = 0;
    for (int i = 0; i < made; i++)
        if (ms[i])
            got[ng++] = (ms[i] - 1) * 1000;
    printf("takeover after kill -9             %zu of %d orphans taken over: kill -> takeover "
           "median %.0f ms  max %.0f ms\n", ng, made, pct(got, ng, 0.50), pct(got, ng, 1.0));
    fflush(stdout);
    free(got);
    free(ms);
    free(refs);
}

int main(void)
{
    const char *e;
    int ntills = (e = getenv("KVITT_BENCH_TILLS")) ? atoi(e) : 200;
    int secs = (e = getenv("KVITT_BENCH_SECONDS")) ? atoi(e) : 60;
    int nprinters = (e = getenv("KVITT_BENCH_PRINTERS")) ? atoi(e) : 4;
    int nstreams = (e = getenv("KVITT_BENCH_STREAMS")) ? atoi(e) : 0;
    int ndaemons = (e = getenv("KVITT_BENCH_DAEMONS")) ? atoi(e) : 1;
    int norphans = (e = getenv("KVITT_BENCH_ORPHANS")) ? atoi(e) : 20;
    int nobs = nstreams > 0 ? (nstreams + 99) / 100 : 0;
    if (ndaemons > 1 && (!(e = getenv("KVITT_BENCH_JOURNAL")) || strncmp(e, "postgresql://", 13) ||
                         access(KVT_HAPROXY, X_OK) != 0)) {
        fprintf(stderr, "bench_serve: KVITT_BENCH_DAEMONS > 1 needs a postgresql:// "
                        "KVITT_BENCH_JOURNAL and %s\n", KVT_HAPROXY);
        return 2;
    }
    if (ntills < 1 || secs < 1 || nprinters < 1 || ndaemons < 1 || ndaemons > 8 || norphans < 0) {
        fprintf(stderr, "bench_serve: bad KVITT_BENCH_* values\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    const char *dir = kvt_tmpdir();
    char *conf = kvt_path("%s/kvitt.conf", dir);
    char *simlog = kvt_path("%s/sim.log", dir);
    const char *sargv[] = { "kvitt", "sim", "--listen", "127.0.0.1:0", "--write-config", conf,
                            "--auto", "approve", "--approve-after", "0", "--latency-ms", "20",
                            "--rate-get", "0", "--rate-mod", "0", "--quiet", NULL };
    kvt_proc *sim = kvt_spawn(sargv, NULL, simlog);
    char *simurl = sim ? kvt_proc_readline(sim, 10000) : NULL;
    if (!simurl) {
        fprintf(stderr, "bench_serve: kvitt sim did not start (%s)\n", simlog);
        return 1;
    }
    kvt_proc **printers = calloc((size_t)nprinters, sizeof *printers);
    char **puri = calloc((size_t)nprinters, sizeof *puri);
    char **pdir = calloc((size_t)nprinters, sizeof *pdir);
    for (int i = 0; i < nprinters; i++) {
        pdir[i] = kvt_path("%s/printer-%d", dir, i);
        mkdir(pdir[i], 0755);
        char *plog = kvt_path("%s/vprinter-%d.log", dir, i);
        const char *pargv[] = { "kvitt", "vprinter", "--listen", "127.0.0.1:0", "--out", pdir[i],
                                NULL };
        printers[i] = kvt_spawn(pargv, NULL, plog);
        free(plog);
        puri[i] = printers[i] ? kvt_proc_readline(printers[i], 10000) : NULL;
        if (!puri[i]) {
            fprintf(stderr, "bench_serve: kvitt vprinter did not start\n");
            return 1;
        }
    }
    /* Config: the simulator's, plus [serve] and one [till] per till. */
    unsigned char *base = NULL;
    size_t blen = 0;
    if (kvt_read_file(conf, &base, &blen) < 0)
        return 1;
    size_t cap = blen + 4096 + (size_t)ntills * 400;
    char *text = malloc(cap);
    int port = kvt_free_port();
    snprintf(g_url, sizeof g_url, "http://127.0.0.1:%d", port);
    g_port = port;
    const char *jenv = getenv("KVITT_BENCH_JOURNAL");
    char *jpath = jenv && *jenv ? strdup(jenv) : kvt_path("%s/kvitt-journal.db", dir);
    if (jenv && *jenv) {
        /* the simulator wrote "journal = <dir>/kvitt-journal.db" */
        char *jl = strstr((char *)base, "\njournal = ");
        if (jl) {
            char *eol = strchr(jl + 1, '\n');
            size_t head = (size_t)(jl - (char *)base) + 1;
            char *nb = malloc(blen + strlen(jpath) + 32);
            memcpy(nb, base, head);
            size_t o2 = head + (size_t)sprintf(nb + head, "journal = %s", jpath);
            strcpy(nb + o2, eol ? eol : "\n");
            free(base);
            base = (unsigned char *)nb;
            blen = strlen(nb);
        }
    }
    size_t off = (size_t)snprintf(text, cap, "%s\n[serve]\nlisten = 127.0.0.1:%d\n"
                                  "log_level = notice\nevents_max_wait_s = 30\nshutdown_grace_s = 2\n\n", base, port);
    free(base);
    till *tills = calloc((size_t)ntills, sizeof *tills);
    for (int i = 0; i < ntills; i++) {
        tills[i].idx = i;
        snprintf(tills[i].token, sizeof tills[i].token, "bench-token-%05d-0123456789", i);
        char hex[65];
        kv_auth_hash_token(hex, tills[i].token);
        off += (size_t)snprintf(text + off, cap - off,
                                "[till b%05d]\nstore = %s\ntoken_sha256 = %s\nprinter = %s\n\n",
                                i, i % 2 ? "bergen" : "oslo", hex, puri[i % nprinters]);
    }
    kvt_write_file(conf, text, off);
    free(text);
    char *slog = kvt_path("%s/serve.log", dir);
    const char *vargv[] = { "kvitt", "serve", "--config", conf, NULL };
    /* the sync counter sits next to the kvitt binary's tests/ folder */
    const char *bin = getenv("KVITT_BIN");
    char *shim = bin ? kvt_path("%.*s/tests/synccount.so",
                                (int)(strrchr(bin, '/') ? strrchr(bin, '/') - bin : 0), bin)
                     : NULL;
    char *syncfile = kvt_path("%s/syncs.bin", dir);
    char *env_pre = NULL, *env_cnt = NULL;
    if (ndaemons == 1 && shim && access(shim, R_OK) == 0) { /* one counter file: one daemon */
        env_pre = kvt_path("LD_PRELOAD=%s", shim);
        env_cnt = kvt_path("KVITT_SYNCCOUNT=%s", syncfile);
    }
    const char *venv[] = { env_pre, env_cnt, NULL };
    kvt_proc *serve = kvt_spawn(vargv, env_pre ? venv : NULL, slog);
    char *line = serve ? kvt_proc_readline(serve, 20000) : NULL;
    if (!line) {
        fprintf(stderr, "bench_serve: kvitt serve did not start (%s)\n", slog);
        return 1;
    }
    free(line);
    /* more daemons on the same journal, and the balancer in front */
    kvt_proc **serves = calloc((size_t)ndaemons, sizeof *serves);
    char **slogs = calloc((size_t)ndaemons, sizeof *slogs);
    int *ports = calloc((size_t)ndaemons, sizeof *ports);
    serves[0] = serve;
    slogs[0] = slog;
    ports[0] = port;
    kvt_proc *balancer = NULL;
    for (int i = 1; i < ndaemons; i++) {
        char addr[64];
        ports[i] = kvt_free_port();
        snprintf(addr, sizeof addr, "127.0.0.1:%d", ports[i]);
        slogs[i] = kvt_path("%s/serve-%d.log", dir, i);
        const char *xargv[] = { "kvitt", "serve", "--config", conf, "--listen", addr, NULL };
        serves[i] = kvt_spawn(xargv, NULL, slogs[i]);
        line = serves[i] ? kvt_proc_readline(serves[i], 20000) : NULL;
        if (!line) {
            fprintf(stderr, "bench_serve: kvitt serve %d did not start (%s)\n", i, slogs[i]);
            return 1;
        }
        free(line);
    }
    if (ndaemons > 1) {
        int lb_port = kvt_free_port();
        char cfgtext[2048];
        char *cfg = kvt_path("%s/haproxy.cfg", dir), *lblog = kvt_path("%s/haproxy.log", dir);
        int cl = kvt_haproxy_config(cfgtext, sizeof cfgtext, lb_port, ports, ndaemons);
        const char *hargv[] = { KVT_HAPROXY, "-f", cfg, "-db", NULL };
        if (cl < 0 || kvt_write_file(cfg, cfgtext, (size_t)cl) < 0 ||
            !(balancer = kvt_spawn(hargv, NULL, lblog))) {
            fprintf(stderr, "bench_serve: HAProxy did not start (%s)\n", lblog);
            return 1;
        }
        free(cfg);
        free(lblog);
        snprintf(g_url, sizeof g_url, "http://127.0.0.1:%d", lb_port);
        /* ready once every daemon is up behind it (rise 2 at 500 ms) */
        char probe[160];
        snprintf(probe, sizeof probe, "%s/readyz", g_url);
        int up = 0;
        for (int i = 0; i < 200 && up < 10; i++) {
            kvt_http_resp pr;
            up = kvt_http(&pr, "GET", probe, NULL, NULL, 0, 2000) == 0 && pr.status == 200 ? up + 1 : 0;
            kvt_http_free(&pr);
            usleep(100000);
        }
        sleep(2);
    }
    char hookurl[200];
    snprintf(hookurl, sizeof hookurl, "%s/webhooks/vipps", g_url);
    kvt_result rr;
    const char *wargv[] = { "kvitt", "--config", conf, "webhooks", "register", "--url", hookurl,
                            NULL };
    if (kvt_run(&rr, NULL, NULL, 30, wargv) < 0 || rr.status != 0) {
        fprintf(stderr, "bench_serve: webhooks register failed: %s\n", rr.err ? rr.err : "");
        return 1;
    }
    kvt_result_free(&rr);
    pid_t spid = kvt_proc_pid(serve);
    long rss_idle = rss_kb(spid, "VmRSS:");

    /* Event streams: observer payments (magic amount 2.01: the customer
     * stays "processing") watched by nstreams open streams. */
    pay_rec *obs = calloc((size_t)nobs + 1, sizeof *obs);
    streams sst = { 0 };
    if (nstreams > 0) {
        CURL *c = curl_easy_init();
        struct buf out = { NULL, 0 };
        for (int i = 0; i < nobs; i++) {
            char key[96];
            snprintf(key, sizeof key, "bench-observer-%d", i);
            long code = pay_2_01(c, &out, g_url, tills[0].token, key, obs[i].ref, sizeof obs[i].ref);
            if (code != 201) {
                fprintf(stderr, "bench_serve: observer payment answered %ld\n", code);
                return 1;
            }
            obs[i].observer = 1;
        }
        free(out.p);
        curl_easy_cleanup(c);
        sst.n = nstreams;
        sst.fds = calloc((size_t)nstreams, sizeof *sst.fds);
        sst.opened_ms = calloc((size_t)nstreams, sizeof *sst.opened_ms);
        for (int i = 0; i < nstreams; i++) {
            sst.opened_ms[i] = now_us() / 1000;
            sst.fds[i] = stream_open(obs[i % nobs].ref, tills[0].token);
            if (sst.fds[i] < 0) {
                fprintf(stderr, "bench_serve: event stream %d did not open\n", i);
                return 1;
            }
        }
        pthread_create(&sst.thread, NULL, streams_main, &sst);
    }

    printf("bench_serve: %d tills, %d s, %d vprinters, sim latency 20 ms, auto approve, "
           "%d daemon%s%s, journal %s\n", ntills, secs, nprinters, ndaemons, ndaemons > 1 ? "s" : "",
           ndaemons > 1 ? " behind HAProxy" : "", jenv && !strncmp(jpath, "postgresql://", 13) ? "postgresql://..." : jpath);
    fflush(stdout);
    int64_t t0 = now_us();
    double cpu0 = 0;
    for (int i = 0; i < ndaemons; i++)
        cpu0 += cpu_ms(kvt_proc_pid(serves[i]));
    uint64_t syncs0 = syncs_counted(env_pre ? syncfile : NULL);
    for (int i = 0; i < ntills; i++)
        pthread_create(&tills[i].thread, NULL, till_main, &tills[i]);
    long rss_peak_sample = 0, threads_max = 0;
    for (int s = 0; s < secs; s++) {
        sleep(1);
        long r = rss_kb(spid, "VmRSS:");
        if (r > rss_peak_sample)
            rss_peak_sample = r;
        r = rss_kb(spid, "Threads:");
        if (r > threads_max)
            threads_max = r;
    }
    g_stop = 1;
    int64_t t_stop = now_us();
    double cpu1 = 0;
    for (int i = 0; i < ndaemons; i++)
        cpu1 += cpu_ms(kvt_proc_pid(serves[i]));
    uint64_t syncs1 = syncs_counted(env_pre ? syncfile : NULL);
    for (int i = 0; i < ntills; i++)
        pthread_join(tills[i].thread, NULL);
    int64_t t_end = now_us();
    if (nstreams > 0)
        pthread_join(sst.thread, NULL);
    long hwm = rss_kb(spid, "VmHWM:");
    long rss_end = rss_kb(spid, "VmRSS:");

    /* ---- collect ---- */
    size_t total = 0;
    int errors = 0;
    for (int i = 0; i < ntills; i++) {
        total += tills[i].n;
        errors += tills[i].errors;
    }
    g_idx_cap = 1;
    while (g_idx_cap < (total + (size_t)nobs) * 2 + 16)
        g_idx_cap <<= 1;
    g_idx = calloc(g_idx_cap, sizeof *g_idx);
    size_t done_seen = 0, breaks = 0;
    for (int i = 0; i < ntills; i++)
        for (size_t k = 0; k < tills[i].n; k++) {
            idx_add(&tills[i].recs[k]);
            done_seen += tills[i].recs[k].final_done;
            breaks += (size_t)tills[i].recs[k].feed_breaks;
        }
    for (int i = 0; i < nobs; i++)
        idx_add(&obs[i]);
    for (int i = 0; i < ntills; i++)
        if (tills[i].n) {
            g_reflen = strlen(tills[i].recs[0].ref);
            break;
        }
    usleep(500000); /* the last jobs are filed when their connections close */
    int unknown_jobs = 0;
    size_t njobs = 0;
    for (int i = 0; i < nprinters; i++) {
        DIR *d = opendir(pdir[i]);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            size_t l = strlen(de->d_name);
            if (l < 5 || strcmp(de->d_name + l - 4, ".bin"))
                continue;
            char *p = kvt_path("%s/%s", pdir[i], de->d_name);
            struct stat st;
            if (stat(p, &st) == 0 && st.st_size > 16) {
                njobs++;
                scan_job(p, (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000,
                         &unknown_jobs);
            }
            free(p);
        }
        if (d)
            closedir(d);
    }
    /* Journal: every reference the tills got must be there, DONE. */
    kv_journal *jr = NULL;
    char err[256];
    size_t j_done = 0, j_total = 0, j_missing = 0, j_capt_bad = 0;
    if (kv_journal_open(&jr, jpath, err, sizeof err) == KV_J_OK) {
        kv_journal_query q = { NULL, NULL, 0, 0, 100000000 };
        kv_payment *rows = NULL;
        size_t n = 0;
        if (kv_journal_find(jr, &rows, &n, &q) == KV_J_OK) {
            for (size_t i = 0; i < n; i++) {
                pay_rec *pr = idx_find(rows[i].reference, strlen(rows[i].reference));
                if (pr && pr->observer)
                    continue; /* watched by the streams, never paid */
                j_total++;
                if (rows[i].state == KV_PAY_DONE)
                    j_done++;
                if (rows[i].captured != rows[i].amount)
                    j_capt_bad++;
                if (!pr)
                    j_missing++; /* journaled but no till got it */
            }
            free(rows);
        }
        kv_journal_close(jr);
    }
    /* Simulator: one create key and one capture key per reference. */
    size_t sim_creates = 0, sim_capture_keys = 0, sim_double = 0;
    char surl[256];
    snprintf(surl, sizeof surl, "%s/sim/v1/stats", simurl);
    kvt_http_resp hr;
    if (kvt_http(&hr, "GET", surl, NULL, NULL, 0, 60000) == 0 && hr.status == 200) {
        cJSON *js = cJSON_Parse(hr.body);
        const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(js, "requests");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(reqs, "POST /epayment/v1/payments");
        sim_creates = cJSON_IsNumber(c) ? (size_t)c->valuedouble - (size_t)nobs : 0;
        const cJSON *k;
        cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(js, "idempotencyKeys")) {
            const cJSON *path = cJSON_GetObjectItemCaseSensitive(k, "path");
            if (!cJSON_IsString(path))
                continue;
            const char *ps = path->valuestring;
            size_t pl = strlen(ps);
            if (pl > 8 + g_reflen && !strcmp(ps + pl - 8, "/capture")) {
                sim_capture_keys++;
                pay_rec *p = idx_find(ps + pl - 8 - g_reflen, g_reflen);
                if (p)
                    p->capture_keys++;
            }
        }
        cJSON_Delete(js);
    }
    kvt_http_free(&hr);
    for (size_t i = 0; i < g_idx_cap; i++)
        if (g_idx[i] && !g_idx[i]->observer && g_idx[i]->capture_keys != 1)
            sim_double++; /* captured twice, or never */

    /* ---- figures ---- */
    int64_t *slip = calloc(total + 1, sizeof *slip), *rcpt = calloc(total + 1, sizeof *rcpt);
    int64_t *resp = calloc(total + 1, sizeof *resp);
    size_t ns = 0, nr = 0, nresp = 0, bad_jobs = 0, no_webhook = 0;
    for (int i = 0; i < ntills; i++)
        for (size_t k = 0; k < tills[i].n; k++) {
            pay_rec *p = &tills[i].recs[k];
            resp[nresp++] = p->t_created_us - p->t_request_us;
            if (p->t_slip_us)
                slip[ns++] = p->t_slip_us - p->t_request_us;
            if (p->t_receipt_us && p->t_webhook_us)
                rcpt[nr++] = p->t_receipt_us - p->t_webhook_us;
            else if (!p->t_webhook_us)
                no_webhook++;
            if (p->jobs != 2)
                bad_jobs++;
        }
    double elapsed = (double)(t_stop - t0) / 1e6;
    printf("payments started (201)            %zu  (create errors %d)\n", total, errors);
    printf("payments DONE seen by tills        %zu  (feed events out of sequence: %zu)\n", done_seen, breaks);
    printf("payments per second                %.1f  (DONE / %.1f s)\n",
           (double)done_seen / elapsed, elapsed);
    printf("drain after stop                   %.1f s\n", (double)(t_end - t_stop) / 1e6);
    printf("till request -> 201 answer         p50 %.1f ms  p99 %.1f ms\n",
           pct(resp, nresp, 0.50), pct(resp, nresp, 0.99));
    printf("till request -> QR slip bytes      p50 %.1f ms  p99 %.1f ms  (%zu slips)\n",
           pct(slip, ns, 0.50), pct(slip, ns, 0.99), ns);
    printf("webhook -> receipt bytes           p50 %.1f ms  p99 %.1f ms  (%zu receipts; "
           "%zu payments finished without an AUTHORIZED webhook)\n",
           pct(rcpt, nr, 0.50), pct(rcpt, nr, 0.99), nr, no_webhook);
    printf("daemon RSS                         idle %ld kB, max sampled %ld kB, peak (VmHWM) "
           "%ld kB, end %ld kB\n", rss_idle, rss_peak_sample, hwm, rss_end);
    double npay = done_seen ? (double)done_seen : 1.0;
    printf("daemon CPU per payment             %.2f ms  (%.0f ms CPU over the run / %zu)\n",
           (cpu1 - cpu0) / npay, cpu1 - cpu0, done_seen);
    printf("daemon threads                     max sampled %ld\n", threads_max);
    if (nstreams > 0)
        printf("event streams                      %d open on %d payments, %zu events after the "
               "open: change -> bytes p50 %.1f ms  p99 %.1f ms  max %.1f ms; %zu streams ended\n",
               nstreams, nobs, sst.nlat, pct(sst.lat_us, sst.nlat, 0.50),
               pct(sst.lat_us, sst.nlat, 0.99), pct(sst.lat_us, sst.nlat, 1.0), sst.ended);
    if (env_pre)
        printf("fsync + fdatasync per payment      %.2f  (%llu over the run)\n",
               (double)(syncs1 - syncs0) / npay, (unsigned long long)(syncs1 - syncs0));
    else
        printf("fsync + fdatasync per payment      n/a (build %s)\n", shim ? shim : "synccount.so");
    printf("printer jobs                       %zu (unmatched %d)\n", njobs, unknown_jobs);
    printf("journal                            %zu payments, %zu DONE, %zu captured != amount, "
           "%zu not known to any till\n", j_total, j_done, j_capt_bad, j_missing);
    printf("simulator                          %zu creates, %zu capture keys, %zu payments "
           "without exactly one\n", sim_creates, sim_capture_keys, sim_double);
    int ok = j_total == total && j_done == total && j_capt_bad == 0 && j_missing == 0 &&
             sim_creates == total && sim_capture_keys == total && sim_double == 0 &&
             bad_jobs == 0 && unknown_jobs == 0 && done_seen == total;
    printf("invariant (no payment lost or doubled): %s", ok ? "OK" : "BROKEN");
    if (!ok)
        printf("  [tills %zu, journal %zu/%zu DONE, sim creates %zu, capture keys %zu, "
               "payments without exactly slip+receipt %zu]", total, j_done, j_total, sim_creates,
               sim_capture_keys, bad_jobs);
    printf("\n");
    fflush(stdout);

    if (ndaemons > 1 && norphans > 0)
        takeover(conf, dir, slogs, ndaemons, tills[0].token, norphans);
    long csw = 0, units = 0, commits = 0;
    for (int i = 0; i < ndaemons; i++) {
        struct rusage ru;
        memset(&ru, 0, sizeof ru);
        kvt_proc_stop_usage(serves[i], SIGTERM, &ru);
        csw += ru.ru_nvcsw + ru.ru_nivcsw;
        long u = log_field(slogs[i], "serve.stopped", "journal_units");
        long c = log_field(slogs[i], "serve.stopped", "journal_commits");
        units = u < 0 || units < 0 ? -1 : units + u;
        commits = c < 0 || commits < 0 ? -1 : commits + c;
    }
    kvt_proc_stop(balancer, SIGTERM);
    printf("daemon context switches            %.1f per payment  (%ld over its life, all threads)\n",
           (double)csw / npay, csw);
    if (units >= 0 && commits >= 0)
        printf("journal commits                    %.2f per payment  (%ld write units in %ld "
               "commits over its life)\n", (double)commits / npay, units, commits);
    else
        printf("journal commits                    n/a (the daemon does not report them)\n");
    fflush(stdout);
    for (int i = 0; i < nprinters; i++) {
        kvt_proc_stop(printers[i], SIGTERM);
        free(puri[i]);
        free(pdir[i]);
    }
    kvt_proc_stop(sim, SIGTERM);
    for (int i = 0; i < ntills; i++)
        free(tills[i].recs);
    free(tills);
    free(printers);
    free(puri);
    free(pdir);
    free(slip);
    free(rcpt);
    free(resp);
    free(g_idx);
    for (int i = 0; i < sst.n; i++)
        if (sst.fds[i] >= 0)
            close(sst.fds[i]);
    free(sst.fds);
    free(sst.opened_ms);
    free(sst.lat_us);
    free(obs);
    free(jpath);
    for (int i = 0; i < ndaemons; i++)
        free(slogs[i]);
    free(slogs);
    free(serves);
    free(ports);
    free(shim);
    free(syncfile);
    free(env_pre);
    free(env_cnt);
    free(simlog);
    free(simurl);
    free(conf);
    curl_global_cleanup();
    return ok ? 0 : 1;
}
