/* proxy.c - `kvitt proxy`: the configuration, the till side (TCP, serial,
 * USB printer gadget), job boundaries, status queries and pass-through.
 * Payments and held jobs: pay.c. */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "drivers/status.h"
#include "drivers/transport.h"
#include "escpos/decoder.h"
#include "src/flow/flow.h"
#include "src/proxy/proxy_int.h"

/* ---- configuration ------------------------------------------------------ */

static kv_proxy_status cfg_err(const kv_proxy *p, char *err, size_t errlen, const char *key,
                               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static kv_proxy_status cfg_err(const kv_proxy *p, char *err, size_t errlen, const char *key,
                               const char *fmt, ...)
{
    char sec[80];
    snprintf(sec, sizeof sec, "proxy %s", p->name);
    int line = kv_config_line(p->cfg, sec, key);
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(err, errlen, "%s:%d: [%s] %s: %s", kv_config_path(p->cfg), line, sec, key, msg);
    else
        snprintf(err, errlen, "%s: [%s] %s: %s", kv_config_path(p->cfg), sec, key, msg);
    return KV_PROXY_E_CONFIG;
}

static int int_value(const char *v, int lo, int hi, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > hi)
        return -1;
    *out = (int)n;
    return 0;
}

kv_proxy_status kv_proxy_create(kv_proxy **out, const kv_config *cfg, const char *name,
                                struct kv_flow *flow, char *err, size_t errlen)
{
    if (!out || !cfg || !name || !*name || strlen(name) >= 64)
        return KV_PROXY_E_ARG;
    kv_proxy *p = calloc(1, sizeof *p);
    if (!p)
        return KV_PROXY_E_NOMEM;
    p->cfg = cfg;
    p->flow = flow;
    snprintf(p->name, sizeof p->name, "%s", name);
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->print_mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    char sec[80];
    snprintf(sec, sizeof sec, "proxy %s", name);
    kv_proxy_status st = KV_PROXY_OK;
    const char *v;
    int found = 0;
    for (size_t i = 0; (v = kv_config_section_at(cfg, i)); i++)
        found |= strcmp(v, sec) == 0;
    if (!found) {
        snprintf(err, errlen, "%s: no section [%s]; fix: add it (see docs/proxy.md)",
                 kv_config_path(cfg), sec);
        st = KV_PROXY_E_CONFIG;
        goto out;
    }
    v = kv_config_get(cfg, sec, "store");
    const kv_store *s = kv_config_store(cfg, v);
    if (!s) {
        st = cfg_err(p, err, errlen, "store", "no store '%s'; fix: name a [store ID] section",
                     v ? v : "(default)");
        goto out;
    }
    snprintf(p->store, sizeof p->store, "%s", s->id);
    if (flow && kv_journal_is_shared(kv_flow_journal(flow)))
        snprintf(p->jname, sizeof p->jname, "%s/%s", p->store, p->name);
    else
        snprintf(p->jname, sizeof p->jname, "%s", p->name);
    snprintf(p->lang, sizeof p->lang, "%s", s->language);
    v = kv_config_get(cfg, sec, "listen");
    if (!v || !*v) {
        st = cfg_err(p, err, errlen, "listen", "missing; fix: listen = tcp://0.0.0.0:9100, "
                     "serial:///dev/ttyS0?baud=9600 or gadget:///dev/g_printer0");
        goto out;
    }
    if (strncmp(v, "tcp://", 6) && strncmp(v, "serial://", 9) && strncmp(v, "gadget://", 9)) {
        st = cfg_err(p, err, errlen, "listen", "'%s' is not tcp://, serial:// or gadget://", v);
        goto out;
    }
    snprintf(p->listen, sizeof p->listen, "%s", v);
    v = kv_config_get(cfg, sec, "printer");
    if (!v || !*v)
        v = s->printer;
    if (!*v) {
        st = cfg_err(p, err, errlen, "printer", "missing; fix: the real printer's URI, e.g. "
                     "tcp://192.168.1.50:9100");
        goto out;
    }
    snprintf(p->printer, sizeof p->printer, "%s", v);
    v = kv_config_get(cfg, sec, "profile");
    p->profile = kv_profile_find(v ? v : s->profile);
    if (!p->profile)
        p->profile = v ? NULL : kv_profile_default();
    if (!p->profile) {
        st = cfg_err(p, err, errlen, "profile", "unknown profile '%s'; fix: see kvitt profiles", v);
        goto out;
    }
    kv_amount_format fmt = KV_AMOUNT_COMMA;
    v = kv_config_get(cfg, sec, "amount_format");
    if (v && strcasecmp(v, "point") == 0)
        fmt = KV_AMOUNT_POINT;
    else if (v && strcasecmp(v, "comma") != 0) {
        st = cfg_err(p, err, errlen, "amount_format", "'%s'; fix: comma (1 234,50) or point (1,234.50)", v);
        goto out;
    }
    int64_t max = KV_PROXY_MAX_AMOUNT_DEFAULT;
    v = kv_config_get(cfg, sec, "max_amount");
    char aerr[160];
    if (v && kv_proxy_parse_amount(&max, v, KV_AMOUNT_POINT, aerr, sizeof aerr) != 0) {
        st = cfg_err(p, err, errlen, "max_amount", "%s; fix: e.g. max_amount = 20000.00", aerr);
        goto out;
    }
    v = kv_config_get(cfg, sec, "match");
    char rerr[300];
    if (kv_proxy_rule_create(&p->rule, v, fmt, max, rerr, sizeof rerr) != KV_PROXY_OK) {
        st = cfg_err(p, err, errlen, "match", "%s", rerr);
        goto out;
    }
    p->idle_ms = 400;
    p->cut_ends_job = 1;
    if ((v = kv_config_get(cfg, sec, "idle_ms")) && int_value(v, 0, 600000, &p->idle_ms)) {
        st = cfg_err(p, err, errlen, "idle_ms", "'%s'; fix: milliseconds 0..600000", v);
        goto out;
    }
    if ((v = kv_config_get(cfg, sec, "cut_ends_job"))) {
        if (strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0)
            p->cut_ends_job = 1;
        else if (strcasecmp(v, "no") == 0 || strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0)
            p->cut_ends_job = 0;
        else {
            st = cfg_err(p, err, errlen, "cut_ends_job", "'%s'; fix: yes or no", v);
            goto out;
        }
    }
    if ((v = kv_config_get(cfg, sec, "timeout_s")) && int_value(v, 10, 3600, &p->timeout_s)) {
        st = cfg_err(p, err, errlen, "timeout_s", "'%s'; fix: seconds 10..3600", v);
        goto out;
    }
    if (!p->cut_ends_job && p->idle_ms == 0 && strncmp(p->listen, "tcp://", 6) != 0) {
        st = cfg_err(p, err, errlen, "idle_ms", "0 with cut_ends_job = no leaves a serial or "
                     "gadget till no job boundary; fix: set idle_ms");
        goto out;
    }
out:
    if (st != KV_PROXY_OK) {
        kv_proxy_destroy(p);
        return st;
    }
    *out = p;
    return KV_PROXY_OK;
}

void kv_proxy_destroy(kv_proxy *p)
{
    if (!p)
        return;
    kv_proxy_rule_destroy(p->rule);
    while (p->queue) {
        held_job *h = p->queue;
        p->queue = h->next;
        free(h->bytes);
        free(h);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->print_mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

void kv_proxy_set_log(kv_proxy *p, FILE *f)
{
    if (p)
        p->log = f;
}

const kv_proxy_rule *kv_proxy_get_rule(const kv_proxy *p)
{
    return p ? p->rule : NULL;
}

const kv_profile *kv_proxy_get_profile(const kv_proxy *p)
{
    return p ? p->profile : NULL;
}

void kv__proxy_log(kv_proxy *p, const char *fmt, ...)
{
    if (!p->log)
        return;
    char ts[32];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    flockfile(p->log);
    fprintf(p->log, "%s proxy %s: ", ts, p->name);
    vfprintf(p->log, fmt, ap);
    fputc('\n', p->log);
    fflush(p->log);
    funlockfile(p->log);
    va_end(ap);
}

/* ---- the printer side ------------------------------------------------------ */

static int is_query(const kv_dec_cmd *c)
{
    return (c->op == KV_OP_STATUS_RT && c->length == 3) || c->op == KV_OP_STATUS ||
           c->op == KV_OP_PRINTER_ID;
}

int kv__proxy_count_queries(const uint8_t *bytes, size_t len)
{
    kv_dec *d;
    if (kv_dec_create(&d, bytes, len) != KV_DEC_OK)
        return 0;
    kv_dec_cmd c;
    int n = 0;
    while (kv_dec_next(d, &c) == KV_DEC_OK)
        n += is_query(&c);
    kv_dec_destroy(d);
    return n;
}

static int open_printer(kv_proxy *p, kv_transport **t, char *err, size_t errlen)
{
    kv_transport_options o = KV_TRANSPORT_OPTIONS_INIT;
    o.errbuf = err;
    o.errlen = errlen;
    return kv_transport_open(t, p->printer, &o);
}

static int busy_now(kv_proxy *p)
{
    pthread_mutex_lock(&p->mu);
    int b = p->busy;
    pthread_mutex_unlock(&p->mu);
    return b;
}

void kv__proxy_flush(kv_proxy *p)
{
    if (!p->pt)
        return;
    pthread_mutex_lock(&p->print_mu);
    kv_transport_end_job(p->pt);
    kv_transport_close(p->pt);
    p->pt = NULL;
    pthread_mutex_unlock(&p->print_mu);
}

int kv__proxy_send(kv_proxy *p, const uint8_t *bytes, size_t len, int nq, int flags, uint8_t *reply,
                   size_t cap, size_t *rlen, char *err, size_t errlen)
{
    kv_transport *t = NULL;
    int keep = (flags & SEND_KEEP) && !busy_now(p);
    if ((flags & SEND_KEEP) && !keep)
        kv__proxy_flush(p);  /* a payment is held: its printer use comes first */
    if (rlen)
        *rlen = 0;
    pthread_mutex_lock(&p->print_mu);
    int rc = KV_T_OK;
    if (keep && p->pt)
        t = p->pt;
    else
        rc = open_printer(p, &t, err, errlen);
    p->pt = NULL;
    if (rc != KV_T_OK) {
        pthread_mutex_unlock(&p->print_mu);
        return rc;
    }
    if ((flags & SEND_CHECK) && kv_transport_can_read(t)) {
        kv_printer_status_info si;
        if (kv_printer_status(t, 1000, &si) == KV_T_OK && si.state != KV_PS_READY &&
            si.state != KV_PS_PAPER_NEAR_END && si.state != KV_PS_UNKNOWN) {
            snprintf(err, errlen, "%s", kv_printer_state_advice(si.state));
            kv_transport_close(t);
            pthread_mutex_unlock(&p->print_mu);
            return KV_T_E_PRINTER;
        }
    }
    size_t written = 0;
    rc = kv_transport_write(t, bytes, len, &written, -1);
    if (rc != KV_T_OK)
        snprintf(err, errlen, "%s", kv_transport_errmsg(t));
    /* read the printer's answers to the queries: the till's (reply), or
     * ones inside a job (the till got its answer already; reading them
     * keeps the connection from being reset on close) */
    if (rc == KV_T_OK && nq > 0 && kv_transport_can_read(t)) {
        uint8_t junk[64];
        uint8_t *dst = reply ? reply : junk;
        size_t room = reply ? cap : sizeof junk, got = 0;
        for (int tries = 0; (int)got < nq && tries < (reply ? 10 : 5); tries++) {
            ssize_t n = kv_transport_read(t, dst + got, room - got, 100);
            if (n < 0)
                break;
            got += (size_t)n;
            if (!reply)
                got = got < room ? got : 0;
            if (got >= room)
                break;
        }
        if (reply && rlen)
            *rlen = got;
    }
    if (rc == KV_T_OK && keep) {
        p->pt = t;  /* the next job of this till connection follows on it */
    } else {
        if (rc == KV_T_OK)
            rc = kv_transport_end_job(t);
        kv_transport_close(t);
    }
    pthread_mutex_unlock(&p->print_mu);
    return rc;
}

static void cache_store(kv_proxy *p, const uint8_t q[3], const uint8_t *reply, size_t n);
static int cache_get(kv_proxy *p, const uint8_t q[3], uint8_t *reply, size_t cap, size_t *n);

/* ---- status queries ----------------------------------------------------------- */

static status_cache *cache_slot(kv_proxy *p, const uint8_t q[3])
{
    for (int i = 0; i < p->ncache; i++)
        if (memcmp(p->cache[i].query, q, 3) == 0)
            return &p->cache[i];
    if (p->ncache == (int)(sizeof p->cache / sizeof p->cache[0]))
        return NULL;
    status_cache *c = &p->cache[p->ncache++];
    memset(c, 0, sizeof *c);
    memcpy(c->query, q, 3);
    return c;
}

/* A query inside a job that is still arriving: the printer's answer to q
 * (asked now on a connection of its own), or the last known one while a
 * payment holds the printer, the printer is writing, or it does not
 * answer. */
static size_t answer_query(kv_proxy *p, const uint8_t q[3], uint8_t *reply, size_t cap)
{
    size_t n = 0;
    if (cache_get(p, q, reply, cap, &n) == 0 && busy_now(p))
        return n;
    n = 0;
    if (pthread_mutex_trylock(&p->print_mu) == 0) {
        kv_transport *t = NULL;
        char err[256];
        if (open_printer(p, &t, err, sizeof err) == KV_T_OK) {
            size_t w;
            if (kv_transport_can_read(t) && kv_transport_write(t, q, 3, &w, 1000) == KV_T_OK) {
                ssize_t r = kv_transport_read(t, reply, cap, 1000);
                if (r > 0 && q[0] == 0x1D && q[1] == 'I' && q[2] >= 65) {
                    /* GS I 65..: "_" text NUL, possibly in pieces */
                    while ((size_t)r < cap && reply[r - 1] != 0) {
                        ssize_t more = kv_transport_read(t, reply + r, cap - (size_t)r, 200);
                        if (more <= 0)
                            break;
                        r += more;
                    }
                }
                n = r > 0 ? (size_t)r : 0;
            }
            kv_transport_close(t);
        }
        pthread_mutex_unlock(&p->print_mu);
    }
    if (n > 0)
        cache_store(p, q, reply, n);
    else
        cache_get(p, q, reply, cap, &n);
    return n;
}

static void cache_store(kv_proxy *p, const uint8_t q[3], const uint8_t *reply, size_t n)
{
    pthread_mutex_lock(&p->mu);
    status_cache *c = cache_slot(p, q);
    if (c) {
        c->rlen = n < sizeof c->reply ? n : sizeof c->reply;
        memcpy(c->reply, reply, c->rlen);
    }
    pthread_mutex_unlock(&p->mu);
}

/* The last known answer to q: 0 and *n set, or -1 when none. */
static int cache_get(kv_proxy *p, const uint8_t q[3], uint8_t *reply, size_t cap, size_t *n)
{
    int rc = -1;
    *n = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->ncache; i++) {
        status_cache *c = &p->cache[i];
        if (memcmp(c->query, q, 3) == 0 && c->rlen) {
            *n = c->rlen < cap ? c->rlen : cap;
            memcpy(reply, c->reply, *n);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* ---- the till side -------------------------------------------------------------- */

enum { TILL_TCP, TILL_SERIAL, TILL_GADGET };

typedef struct till {
    int kind;
    int lfd;         /* TCP: listening socket */
    int fd;          /* connection / device, -1 when none */
    char path[512];  /* serial / gadget device */
    speed_t baud;
    uint8_t *buf;    /* the job being received */
    size_t len, cap, scanned;
    long long last_rx_ms;
} till;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static speed_t baud_of(long b)
{
    switch (b) {
    case 1200: return B1200;
    case 2400: return B2400;
    case 4800: return B4800;
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    default: return 0;
    }
}

static int open_device(till *t, char *err, size_t errlen)
{
    t->fd = open(t->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0) {
        snprintf(err, errlen, "%s: %s", t->path, strerror(errno));
        return -1;
    }
    if (t->kind == TILL_SERIAL) {
        struct termios tio;
        if (tcgetattr(t->fd, &tio) == 0) {
            cfmakeraw(&tio);
            cfsetispeed(&tio, t->baud);
            cfsetospeed(&tio, t->baud);
            tio.c_cflag |= CLOCAL | CREAD;
            tcsetattr(t->fd, TCSANOW, &tio);
        }
    }
    return 0;
}

static int till_open(kv_proxy *p, till *t, char *addr, size_t addrlen, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->fd = t->lfd = -1;
    const char *u = p->listen;
    if (strncmp(u, "tcp://", 6) == 0) {
        t->kind = TILL_TCP;
        char host[256];
        const char *hp = u + 6, *colon = strrchr(hp, ':');
        if (!colon || colon == hp || (size_t)(colon - hp) >= sizeof host) {
            snprintf(err, errlen, "listen: '%s' needs HOST:PORT", u);
            return -1;
        }
        memcpy(host, hp, (size_t)(colon - hp));
        host[colon - hp] = '\0';
        int port;
        if (int_value(colon + 1, 0, 65535, &port)) {
            snprintf(err, errlen, "listen: bad port in '%s'", u);
            return -1;
        }
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        if (strcmp(host, "0.0.0.0") && strcmp(host, "*")) {
            if (strcmp(host, "localhost") == 0)
                snprintf(host, sizeof host, "127.0.0.1");
            if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
                snprintf(err, errlen, "listen: '%s' is not an IPv4 address", host);
                return -1;
            }
        }
        t->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(t->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (t->lfd < 0 || bind(t->lfd, (struct sockaddr *)&sa, sizeof sa) || listen(t->lfd, 8)) {
            snprintf(err, errlen, "listen %s: %s", u, strerror(errno));
            if (t->lfd >= 0)
                close(t->lfd);
            return -1;
        }
        socklen_t sl = sizeof sa;
        getsockname(t->lfd, (struct sockaddr *)&sa, &sl);
        snprintf(addr, addrlen, "tcp://%s:%u", host, (unsigned)ntohs(sa.sin_port));
        return 0;
    }
    t->kind = strncmp(u, "serial://", 9) == 0 ? TILL_SERIAL : TILL_GADGET;
    const char *path = u + 9;
    size_t pl = strcspn(path, "?");
    if (pl == 0 || pl >= sizeof t->path) {
        snprintf(err, errlen, "listen: '%s' needs a device path", u);
        return -1;
    }
    memcpy(t->path, path, pl);
    t->path[pl] = '\0';
    t->baud = B9600;
    const char *b = strstr(path + pl, "baud=");
    if (b) {
        t->baud = baud_of(strtol(b + 5, NULL, 10));
        if (!t->baud) {
            snprintf(err, errlen, "listen: baud '%s' is not one of 1200..115200", b + 5);
            return -1;
        }
    }
    if (open_device(t, err, errlen))
        return -1;
    snprintf(addr, addrlen, "%s", u);
    return 0;
}

static void till_reply(till *t, const uint8_t *b, size_t n)
{
    size_t off = 0;
    while (t->fd >= 0 && off < n) {
        ssize_t w = write(t->fd, b + off, n - off);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd pf = { t->fd, POLLOUT, 0 };
            if (poll(&pf, 1, 1000) <= 0)
                return;
        } else {
            return;
        }
    }
}

/* The job [0, end) is complete: hand it on and keep the rest. */
static void emit(kv_proxy *p, till *t, size_t end)
{
    if (end == 0)
        return;
    kv__proxy_job(p, t->buf, end);
    memmove(t->buf, t->buf + end, t->len - end);
    t->len -= end;
    t->scanned = 0;
}


/* The query t->buf[0..n) is the next thing in the stream: pass it on and
 * relay the answer (the last known one, not forwarded, while a payment
 * holds the printer). */
static void forward_query(kv_proxy *p, till *t, size_t n)
{
    uint8_t q[3] = { t->buf[0], t->buf[1], t->buf[2] };
    uint8_t reply[128];
    size_t rl = 0;
    if (!(busy_now(p) && cache_get(p, q, reply, sizeof reply, &rl) == 0)) {
        char err[256];
        if (kv__proxy_send(p, t->buf, n, 1, SEND_KEEP, reply, sizeof reply, &rl, err,
                           sizeof err) != KV_T_OK)
            kv__proxy_log(p, "status query not passed: %s", err);
        if (rl)
            cache_store(p, q, reply, rl);
        else
            cache_get(p, q, reply, sizeof reply, &rl);
    }
    till_reply(t, reply, rl);
    memmove(t->buf, t->buf + n, t->len - n);
    t->len -= n;
    t->scanned = 0;
}

/* Walk the complete commands after t->scanned: answer status queries at
 * once, end the job after a cut. */
static void scan(kv_proxy *p, till *t)
{
    for (;;) {
    again:;
        kv_dec *d;
        if (t->scanned >= t->len || kv_dec_create(&d, t->buf + t->scanned, t->len - t->scanned) != KV_DEC_OK)
            return;
        kv_dec_cmd c;
        size_t base = t->scanned, cut_end = 0;
        while (kv_dec_next(d, &c) == KV_DEC_OK) {
            if (c.op == KV_OP_UNKNOWN && c.note && strstr(c.note, "truncated") &&
                c.offset + c.length == t->len - base)
                break;  /* the rest has not arrived yet */
            if (c.op == KV_OP_TEXT && c.offset + c.length == t->len - base)
                break;  /* text may go on */
            if (is_query(&c) && base + c.offset == 0) {
                /* a query before any job byte: it goes to the printer now, in
                 * stream order, and the printer's answer back to the till */
                kv_dec_destroy(d);
                forward_query(p, t, c.length);
                goto again;
            }
            t->scanned = base + c.offset + c.length;
            if (is_query(&c)) {
                uint8_t reply[128];
                size_t n = answer_query(p, t->buf + base + c.offset, reply, sizeof reply);
                till_reply(t, reply, n);
            }
            if (p->cut_ends_job && (c.op == KV_OP_CUT || c.op == KV_OP_CUT_LEGACY)) {
                cut_end = t->scanned;
                break;
            }
        }
        kv_dec_destroy(d);
        if (!cut_end)
            return;
        emit(p, t, cut_end);
    }
}

static int append(till *t, const uint8_t *b, size_t n)
{
    if (t->len + n > t->cap) {
        size_t nc = t->cap ? t->cap : 65536;
        while (nc < t->len + n)
            nc *= 2;
        uint8_t *nb = realloc(t->buf, nc);
        if (!nb)
            return -1;
        t->buf = nb;
        t->cap = nc;
    }
    memcpy(t->buf + t->len, b, n);
    t->len += n;
    return 0;
}

static void end_of_input(kv_proxy *p, till *t)
{
    scan(p, t);
    emit(p, t, t->len);
    kv__proxy_flush(p);  /* the till's connection / burst is over */
}

kv_proxy_status kv_proxy_run(kv_proxy *p, const volatile sig_atomic_t *stop,
                             void (*ready)(void *, const char *), void *ready_ctx, char *err,
                             size_t errlen)
{
    if (!p || !stop)
        return KV_PROXY_E_ARG;
    p->stop = stop;
    till t;
    char addr[600];
    if (till_open(p, &t, addr, sizeof addr, err, errlen))
        return KV_PROXY_E_LISTEN;
    pthread_t th;
    if (kv__proxy_worker_start(p, &th)) {
        if (t.lfd >= 0) close(t.lfd);
        if (t.fd >= 0) close(t.fd);
        snprintf(err, errlen, "cannot start the payment worker");
        return KV_PROXY_E_NOMEM;
    }
    kv__proxy_log(p, "listening on %s, printer %s", addr, p->printer);
    if (ready)
        ready(ready_ctx, addr);
    uint8_t rb[16384];
    while (!*stop) {
        struct pollfd pf;
        int timeout = 200;
        if (t.fd >= 0) {
            pf.fd = t.fd;
            if (t.len && p->idle_ms > 0) {
                long long left = t.last_rx_ms + p->idle_ms - now_ms();
                timeout = left < 0 ? 0 : left < 200 ? (int)left : 200;
            }
        } else if (t.kind == TILL_TCP) {
            pf.fd = t.lfd;
        } else {
            /* gadget / serial went away (host unplugged): try again */
            char e2[256];
            if (open_device(&t, e2, sizeof e2))
                usleep(200000);
            continue;
        }
        pf.events = POLLIN;
        pf.revents = 0;
        int n = poll(&pf, 1, timeout);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0) {
            if (t.fd >= 0 && t.len && p->idle_ms > 0 && now_ms() - t.last_rx_ms >= p->idle_ms)
                end_of_input(p, &t);  /* idle gap: the job is over */
            continue;
        }
        if (t.fd < 0) {
            t.fd = accept4(t.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (t.fd >= 0) {
                int one = 1;
                setsockopt(t.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            }
            continue;
        }
        ssize_t r = read(t.fd, rb, sizeof rb);
        if (r > 0) {
            if (append(&t, rb, (size_t)r)) {
                snprintf(err, errlen, "out of memory");
                break;
            }
            t.last_rx_ms = now_ms();
            scan(p, &t);
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        /* connection closed (TCP) or device error (host gone): the job ends */
        end_of_input(p, &t);
        close(t.fd);
        t.fd = -1;
        if (t.kind != TILL_TCP)
            usleep(100000);
    }
    end_of_input(p, &t);
    kv__proxy_worker_stop(p, th);
    if (t.fd >= 0)
        close(t.fd);
    if (t.lfd >= 0)
        close(t.lfd);
    free(t.buf);
    return KV_PROXY_OK;
}
