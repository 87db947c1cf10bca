/* http.c - libmicrohttpd wrapper: capped bodies, one handler, JSON replies.
 *
 * Threads: MHD runs one internal polling thread (epoll where available)
 * that reads requests and writes replies for every connection.  A
 * complete request is suspended and handed to a pool of handler threads
 * (kv_http_options.threads); the handler's reply is queued when the pool
 * thread resumes the connection.  A streamed reply whose reader has
 * nothing to send suspends its connection until kv_http_stream_wake: an
 * open stream or long-poll holds no thread. */
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "src/serve/http.h"
#include "src/util/jsoncheck.h"

struct kv_http {
    struct MHD_Daemon *d;
    kv_http_options o;
    MHD_socket quiesced_fd;
    int quiesced;
    /* handler pool */
    pthread_mutex_t mu;       /* guards the queue, stopping and the stream list */
    pthread_cond_t cv;        /* signalled once per queued request */
    kv_http_req *qhead, *qtail;
    int stopping;
    pthread_t *threads;
    unsigned nthreads;
    kv_http_stream *streams;  /* every open stream (woken once at stop) */
};

/* A streamed reply.  References: one for the MHD response (dropped when
 * MHD frees it) and one for the handler that created it. */
struct kv_http_stream {
    kv_http *h;
    struct MHD_Connection *conn;
    atomic_int refs;
    pthread_mutex_t mu;
    int sleeping;             /* the connection is suspended by stream_read */
    int pending;              /* a wake came while the reader ran */
    int ended;                /* MHD freed the response */
    kv_http_stream *prev, *next; /* h->streams */
    ssize_t (*reader)(void *cls, char *buf, size_t max);
    void *cls;
    void (*free_cls)(void *cls);
};

struct hdr {
    struct hdr *next;
    char *name, *value;
};

struct kv_http_req {
    kv_http *h;
    struct MHD_Connection *conn;
    const char *method, *url;
    char *body;
    size_t len, cap;
    int too_big;
    int replied;
    int dispatched;           /* handed to the pool (connection suspended) */
    enum MHD_Result result;
    struct MHD_Response *resp; /* the reply, queued when MHD calls back */
    unsigned status;
    struct hdr *hdrs;
    kv_http_req *qnext;
    struct inject *inj;     /* in-memory request (kv_http_inject), else NULL */
};

/* An in-memory request: decoded query pairs (values may hold NUL bytes,
 * hence the lengths), the headers, and the captured reply. */
struct inject {
    char *qbuf;
    size_t nq;
    char *qname[32], *qval[32];
    size_t qlen[32], qnlen[32];
    const char *const *headers;
    int status;
    char *body;
};

const char *kv_http_strerror(kv_http_status st)
{
    switch (st) {
    case KV_HTTP_OK: return "ok";
    case KV_HTTP_E_ARG: return "invalid listen address or options";
    case KV_HTTP_E_NOMEM: return "out of memory";
    case KV_HTTP_E_LISTEN: return "cannot listen on the address";
    }
    return "unknown http status";
}

/* ---- replies ------------------------------------------------------------ */

void kv_http_add_header(kv_http_req *r, const char *name, const char *value)
{
    struct hdr *x = calloc(1, sizeof *x);
    if (!x)
        return;
    x->name = strdup(name);
    x->value = strdup(value);
    if (!x->name || !x->value) {
        free(x->name);
        free(x->value);
        free(x);
        return;
    }
    x->next = r->hdrs;
    r->hdrs = x;
}

static void queue(kv_http_req *r, int status, struct MHD_Response *resp, const char *ctype)
{
    if (r->replied) {
        if (resp)
            MHD_destroy_response(resp);
        return;
    }
    r->replied = 1;
    if (!resp) {
        r->result = MHD_NO; /* out of memory: drop the connection */
        return;
    }
    if (ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    for (struct hdr *x = r->hdrs; x; x = x->next)
        MHD_add_response_header(resp, x->name, x->value);
    r->resp = resp;
    r->status = (unsigned)status;
}

/* Queue a stored reply (inside an MHD callback). */
static enum MHD_Result flush(kv_http_req *r)
{
    if (r->resp) {
        r->result = MHD_queue_response(r->conn, r->status, r->resp);
        MHD_destroy_response(r->resp);
        r->resp = NULL;
    }
    return r->result;
}

void kv_http_reply(kv_http_req *r, int status, const char *ctype, const char *body, size_t len)
{
    if (r->inj) {
        (void)ctype;
        if (r->replied)
            return;
        r->replied = 1;
        r->inj->status = status;
        r->inj->body = strndup(body ? body : "", len);
        return;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    queue(r, status, resp, ctype);
}

void kv_http_reply_json(kv_http_req *r, int status, cJSON *obj)
{
    char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!s) {
        static const char oom[] = "{\"error\":\"internal\",\"message\":\"out of memory\"}";
        kv_http_reply(r, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    size_t n = strlen(s);
    s[n] = '\0';
    kv_http_reply(r, status, "application/json", s, n);
    cJSON_free(s);
}

void kv_http_reply_error(kv_http_req *r, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "error", code);
        cJSON_AddStringToObject(o, "message", msg);
    }
    kv_http_reply_json(r, status, o);
}

static void stream_unref(kv_http_stream *st)
{
    if (atomic_fetch_sub(&st->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&st->mu);
    free(st);
}

void kv_http_stream_unref(kv_http_stream *st)
{
    if (st)
        stream_unref(st);
}

void kv_http_stream_ref(kv_http_stream *st)
{
    if (st)
        atomic_fetch_add(&st->refs, 1);
}

void kv_http_stream_wake(kv_http_stream *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    if (!st->ended) {
        st->pending = 1;
        if (st->sleeping) {
            st->sleeping = 0;
            MHD_resume_connection(st->conn);
        }
    }
    pthread_mutex_unlock(&st->mu);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    kv_http_stream *st = cls;
    pthread_mutex_lock(&st->mu);
    st->pending = 0;
    pthread_mutex_unlock(&st->mu);
    ssize_t n = st->reader(st->cls, buf, max);
    if (n < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n > 0)
        return n;
    /* nothing now: sleep without a thread until a wake (one that came
     * while the reader ran makes MHD ask again at once) */
    pthread_mutex_lock(&st->h->mu);
    int stopping = st->h->stopping;
    pthread_mutex_unlock(&st->h->mu);
    if (stopping)
        return MHD_CONTENT_READER_END_OF_STREAM;
    pthread_mutex_lock(&st->mu);
    if (!st->pending) {
        st->sleeping = 1;
        MHD_suspend_connection(st->conn);
    }
    pthread_mutex_unlock(&st->mu);
    return 0;
}

static void stream_free(void *cls)
{
    kv_http_stream *st = cls;
    kv_http *h = st->h;
    pthread_mutex_lock(&h->mu);
    if (st->prev)
        st->prev->next = st->next;
    else
        h->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    pthread_mutex_unlock(&h->mu);
    pthread_mutex_lock(&st->mu);
    st->ended = 1;
    pthread_mutex_unlock(&st->mu);
    if (st->free_cls)
        st->free_cls(st->cls);
    stream_unref(st);
}

kv_http_stream *kv_http_reply_stream(kv_http_req *r, int status, const char *ctype,
                                     ssize_t (*reader)(void *cls, char *buf, size_t max),
                                     void *cls, void (*free_cls)(void *cls))
{
    if (r->inj) {
        /* In memory: the stream ends at once. */
        if (free_cls)
            free_cls(cls);
        kv_http_reply(r, status, ctype, "", 0);
        return NULL;
    }
    kv_http_stream *st = calloc(1, sizeof *st);
    if (!st) {
        if (free_cls)
            free_cls(cls);
        queue(r, 500, NULL, NULL);
        return NULL;
    }
    st->h = r->h;
    st->conn = r->conn;
    atomic_init(&st->refs, 2);
    pthread_mutex_init(&st->mu, NULL);
    st->reader = reader;
    st->cls = cls;
    st->free_cls = free_cls;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 2048, stream_read, st, stream_free);
    if (!resp) {
        if (free_cls)
            free_cls(cls);
        pthread_mutex_destroy(&st->mu);
        free(st);
        queue(r, 500, NULL, NULL);
        return NULL;
    }
    kv_http *h = r->h;
    pthread_mutex_lock(&h->mu);
    st->next = h->streams;
    if (h->streams)
        h->streams->prev = st;
    h->streams = st;
    pthread_mutex_unlock(&h->mu);
    queue(r, status, resp, ctype);
    return st;
}

/* ---- request accessors ---------------------------------------------------- */

const char *kv_http_method(const kv_http_req *r) { return r->method; }
const char *kv_http_path(const kv_http_req *r) { return r->url; }

const char *kv_http_header(const kv_http_req *r, const char *name)
{
    if (r->inj) {
        for (const char *const *h = r->inj->headers; h && h[0] && h[1]; h += 2)
            if (!strcasecmp(h[0], name))
                return h[1];
        return NULL;
    }
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

struct joined {
    const char *name;
    char *buf;
    size_t len, used;
    int truncated;
};

static enum MHD_Result join_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    struct joined *j = cls;
    if (!key || !value || strcasecmp(key, j->name))
        return MHD_YES;
    int n = snprintf(j->buf + j->used, j->len - j->used, "%s%s", j->used ? ", " : "", value);
    if (n < 0 || (size_t)n >= j->len - j->used) {
        j->truncated = 1;
        return MHD_NO;
    }
    j->used += (size_t)n;
    return MHD_YES;
}

int kv_http_header_all(const kv_http_req *r, const char *name, char *buf, size_t len)
{
    if (!len)
        return -1;
    buf[0] = '\0';
    struct joined j = { name, buf, len, 0, 0 };
    if (r->inj) {
        for (const char *const *h = r->inj->headers; h && h[0] && h[1]; h += 2)
            if (join_value(&j, MHD_HEADER_KIND, h[0], h[1]) == MHD_NO)
                break;
    } else {
        MHD_get_connection_values(r->conn, MHD_HEADER_KIND, join_value, &j);
    }
    return j.truncated ? -1 : j.used ? 1 : 0;
}

void kv_http_peer(const kv_http_req *r, char *buf, size_t len)
{
    if (!len)
        return;
    buf[0] = '\0';
    if (r->inj)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    socklen_t sl = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                             : sizeof(struct sockaddr_in);
    if (getnameinfo(sa, sl, buf, (socklen_t)len, NULL, 0, NI_NUMERICHOST) != 0)
        buf[0] = '\0';
}

const char *kv_http_query(const kv_http_req *r, const char *name)
{
    if (r->inj) {
        for (size_t i = 0; i < r->inj->nq; i++)
            if (!strcmp(r->inj->qname[i], name))
                return r->inj->qval[i];
        return NULL;
    }
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *kv_http_body(const kv_http_req *r, size_t *len)
{
    if (len)
        *len = r->len;
    return r->body ? r->body : "";
}

cJSON *kv_http_body_json(kv_http_req *r)
{
    if (r->len == 0) {
        kv_http_reply_error(r, 400, "bad_request", "the request body is empty; send a JSON object");
        return NULL;
    }
    /* Strict pass first: cJSON cuts strings at \u0000, keeps duplicate
     * keys and turns 1e999 into infinity. */
    kv_jsoncheck_where w;
    kv_jsoncheck_status cs = kv_jsoncheck(r->body, r->len, &w);
    /* A syntax error is refused here too: cJSON accepts some (01, a
     * trailing comma) and would then read past what was checked. */
    if (cs == KV_JSONCHECK_E_SYNTAX) {
        kv_http_reply_error(r, 400, "bad_json",
                            "the request body is not valid JSON (error near byte %zu)", w.offset);
        return NULL;
    }
    if (cs == KV_JSONCHECK_E_TRAILING) {
        kv_http_reply_error(r, 400, "bad_json",
                            "the request body has data after the JSON value (byte %zu)", w.offset);
        return NULL;
    }
    if (cs != KV_JSONCHECK_OK) {
        kv_http_reply_error(r, 400, "invalid_request", "field \"%s\": %s (byte %zu); nothing was done",
                            w.path, kv_jsoncheck_strerror(cs), w.offset);
        return NULL;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(r->body, r->len, &end, 0);
    if (!j) {
        size_t off = end && end >= r->body ? (size_t)(end - r->body) : 0;
        kv_http_reply_error(r, 400, "bad_json",
                            "the request body is not valid JSON (error near byte %zu)", off);
        return NULL;
    }
    /* Nothing but whitespace may follow the value. */
    if (end) {
        const char *p = end;
        while (p < r->body + r->len && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
            p++;
        if (p < r->body + r->len) {
            cJSON_Delete(j);
            kv_http_reply_error(r, 400, "bad_json",
                                "the request body has data after the JSON value (byte %zu)",
                                (size_t)(p - r->body));
            return NULL;
        }
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        kv_http_reply_error(r, 400, "bad_json", "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

struct qcheck {
    kv_http_req *r;
    int bad;
};

static int query_bad(kv_http_req *r, const char *name, size_t nlen, const char *val, size_t vlen)
{
    size_t off = 0;
    kv_jsoncheck_status st = kv_jsoncheck_text(name, nlen, 0, &off);
    if (st == KV_JSONCHECK_OK && val)
        st = kv_jsoncheck_text(val, vlen, 0, &off);
    if (st == KV_JSONCHECK_OK)
        return 0;
    char shown[64];
    size_t n = 0;
    for (size_t i = 0; i < nlen && n + 1 < sizeof shown; i++)
        shown[n++] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
    shown[n] = '\0';
    kv_http_reply_error(r, 400, "invalid_request", "query parameter \"%s\": %s; nothing was done",
                        shown, kv_jsoncheck_strerror(st));
    return 1;
}

static enum MHD_Result on_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    struct qcheck *q = cls;
    if (query_bad(q->r, key, key_size, value, value_size)) {
        q->bad = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

int kv_http_query_check(kv_http_req *r)
{
    if (r->inj) {
        for (size_t i = 0; i < r->inj->nq; i++)
            if (query_bad(r, r->inj->qname[i], r->inj->qnlen[i], r->inj->qval[i], r->inj->qlen[i]))
                return -1;
        return 0;
    }
    struct qcheck q = { r, 0 };
    MHD_get_connection_values_n(r->conn, MHD_GET_ARGUMENT_KIND, on_query_arg, &q);
    return q.bad ? -1 : 0;
}

/* ---- MHD callbacks ---------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    kv_http *h = cls;
    kv_http_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->h = h;
        r->conn = conn;
        r->result = MHD_YES;
        r->method = method;
        r->url = url;
        *con_cls = r;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *e = NULL;
            unsigned long long n = strtoull(cl, &e, 10);
            if (e == cl || *e || n > h->o.max_body) {
                /* Answer before reading the body; MHD closes afterwards. */
                r->too_big = 1;
                kv_http_reply_error(r, 413, "too_large",
                                    "the request body is larger than %zu bytes", h->o.max_body);
                kv_slog_write(h->o.log, KV_LOG_WARNING, "http.too_large method=%s path=%s",
                              method, url);
                return flush(r);
            }
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->too_big && !r->replied) {
            size_t n = *upload_size;
            if (r->len + n > h->o.max_body) {
                r->too_big = 1;
                free(r->body);
                r->body = NULL;
                r->len = r->cap = 0;
            } else {
                if (r->len + n + 1 > r->cap) {
                    size_t nc = r->cap ? r->cap : 1024;
                    while (nc < r->len + n + 1)
                        nc *= 2;
                    char *b = realloc(r->body, nc);
                    if (!b)
                        return MHD_NO;
                    r->body = b;
                    r->cap = nc;
                }
                memcpy(r->body + r->len, upload_data, n);
                r->len += n;
                r->body[r->len] = '\0';
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->replied)
        return flush(r);
    if (r->too_big) {
        kv_http_reply_error(r, 413, "too_large",
                            "the request body is larger than %zu bytes", h->o.max_body);
        kv_slog_write(h->o.log, KV_LOG_WARNING, "http.too_large method=%s path=%s", method, url);
        return flush(r);
    }
    if (!r->dispatched) {
        /* to the pool; the connection sleeps until the reply is ready.
         * Once kv_http_stop began nothing more is queued: the pool ends
         * when its queue is empty, and MHD must not stop with a connection
         * asleep (it aborts the program), so the request is answered 503
         * here instead. */
        r->dispatched = 1;
        pthread_mutex_lock(&h->mu);
        if (h->stopping) {
            pthread_mutex_unlock(&h->mu);
            kv_http_reply_error(r, 503, "stopping", "the server is stopping; send the request again");
            return flush(r);
        }
        MHD_suspend_connection(conn);
        r->qnext = NULL;
        if (h->qtail)
            h->qtail->qnext = r;
        else
            h->qhead = r;
        h->qtail = r;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->mu);
    }
    return MHD_YES;
}

/* A handler pool thread: run queued requests, then resume their
 * connections so MHD sends the replies. */
static void *pool_main(void *arg)
{
    kv_http *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->qhead && !h->stopping)
            pthread_cond_wait(&h->cv, &h->mu);
        kv_http_req *r = h->qhead;
        if (!r)
            break; /* stopping and nothing left */
        h->qhead = r->qnext;
        if (!h->qhead)
            h->qtail = NULL;
        pthread_mutex_unlock(&h->mu);
        h->o.handler(r, h->o.payload);
        if (!r->replied)
            kv_http_reply_error(r, 500, "internal", "the request was not answered");
        MHD_resume_connection(r->conn);
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls; (void)conn; (void)toe;
    kv_http_req *r = *con_cls;
    if (!r)
        return;
    while (r->hdrs) {
        struct hdr *x = r->hdrs;
        r->hdrs = x->next;
        free(x->name);
        free(x->value);
        free(x);
    }
    if (r->resp)
        MHD_destroy_response(r->resp);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    kv_http *h = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    kv_slog_write(h->o.log, KV_LOG_WARNING, "http.mhd message=\"%s\"", msg);
}

/* ---- start / stop ------------------------------------------------------------ */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen,
                        int *v6, char *err, size_t errlen)
{
    char host[256];
    const char *colon;
    const char *hs, *he;
    if (listen[0] == '[') {
        hs = listen + 1;
        he = strchr(hs, ']');
        if (!he || he[1] != ':') {
            snprintf(err, errlen, "listen address '%s' is not [IPV6]:PORT", listen);
            return -1;
        }
        colon = he + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon) {
            snprintf(err, errlen, "listen address '%s' is not HOST:PORT (e.g. 127.0.0.1:8580)", listen);
            return -1;
        }
        hs = listen;
        he = colon;
    }
    if ((size_t)(he - hs) >= sizeof host || he == hs) {
        snprintf(err, errlen, "listen address '%s' has no usable host", listen);
        return -1;
    }
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    char *e = NULL;
    long port = strtol(colon + 1, &e, 10);
    if (!colon[1] || *e || port < 0 || port > 65535) {
        snprintf(err, errlen, "listen address '%s' has a bad port (0-65535)", listen);
        return -1;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV | AI_PASSIVE };
    struct addrinfo *ai = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%ld", port);
    int rc = getaddrinfo(host, ps, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(err, errlen, "listen address '%s': %s", listen, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *sslen = ai->ai_addrlen;
    *v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    return 0;
}

kv_http_status kv_http_start(kv_http **out, const kv_http_options *o, char *err, size_t errlen)
{
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (!out || !o || !o->handler || !o->listen) {
        snprintf(err, errlen, "http server options are incomplete");
        return KV_HTTP_E_ARG;
    }
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    int v6 = 0;
    if (parse_listen(o->listen, &ss, &sslen, &v6, err, errlen) < 0)
        return KV_HTTP_E_ARG;
    kv_http *h = calloc(1, sizeof *h);
    if (!h)
        return KV_HTTP_E_NOMEM;
    h->o = *o;
    if (!h->o.max_body)
        h->o.max_body = 65536;
    if (!h->o.max_connections)
        h->o.max_connections = 2048;
    if (!h->o.idle_timeout_s)
        h->o.idle_timeout_s = 120;
    if (!h->o.threads)
        h->o.threads = 16;
    h->quiesced_fd = MHD_INVALID_SOCKET;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG |
                     (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL
                                                                              : MHD_USE_POLL);
    if (v6)
        flags |= MHD_USE_IPv6;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_CONNECTION_LIMIT, h->o.max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, h->o.idle_timeout_s,
                            MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024),
                            /* headers and read buffer of a connection (bodies are
                             * copied out as they come): small, there may be
                             * thousands of open event streams */
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024),
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
                            MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "cannot listen on %s (address in use or not local?)", o->listen);
        pthread_mutex_destroy(&h->mu);
        pthread_cond_destroy(&h->cv);
        free(h);
        return KV_HTTP_E_LISTEN;
    }
    h->threads = calloc(h->o.threads, sizeof *h->threads);
    for (unsigned i = 0; h->threads && i < h->o.threads; i++) {
        if (pthread_create(&h->threads[i], NULL, pool_main, h) != 0)
            break;
        h->nthreads++;
    }
    if (!h->nthreads) {
        snprintf(err, errlen, "cannot start the HTTP handler threads");
        kv_http_stop(h);
        return KV_HTTP_E_NOMEM;
    }
    *out = h;
    return KV_HTTP_OK;
}

unsigned kv_http_port(const kv_http *h)
{
    if (!h || !h->d)
        return 0;
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : 0;
}

void kv_http_quiesce(kv_http *h)
{
    if (!h || !h->d || h->quiesced)
        return;
    h->quiesced = 1;
    h->quiesced_fd = MHD_quiesce_daemon(h->d);
}

void kv_http_stop(kv_http *h)
{
    if (!h)
        return;
    /* The pool finishes what is queued; every sleeping stream is woken
     * once and ends (its reader sees the stop); no connection may be
     * suspended when MHD stops. */
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    for (unsigned i = 0; i < h->nthreads; i++)
        pthread_join(h->threads[i], NULL);
    free(h->threads);
    for (int round = 0; round < 500; round++) {
        int left = 0;
        pthread_mutex_lock(&h->mu);
        for (kv_http_stream *st = h->streams; st; st = st->next) {
            pthread_mutex_lock(&st->mu);
            if (st->sleeping) {
                st->sleeping = 0;
                MHD_resume_connection(st->conn);
            }
            pthread_mutex_unlock(&st->mu);
            left++;
        }
        pthread_mutex_unlock(&h->mu);
        if (!left)
            break;
        usleep(10000); /* MHD ends the woken streams on its thread */
    }
    if (h->d)
        MHD_stop_daemon(h->d);
    if (h->quiesced_fd != MHD_INVALID_SOCKET)
        close(h->quiesced_fd);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    free(h);
}

/* ---- in-memory requests (fuzzing) ------------------------------------------------ */

int kv_http_inject(kv_http *h, const char *method, const char *path, const char *query,
                   const char *const *headers, const char *body, size_t len, char **body_out)
{
    if (body_out)
        *body_out = NULL;
    struct inject in;
    memset(&in, 0, sizeof in);
    in.headers = headers;
    kv_http_req r;
    memset(&r, 0, sizeof r);
    r.h = h;
    r.method = method;
    r.url = path;
    r.inj = &in;
    if (query && *query && !(in.qbuf = strdup(query)))
        return 500;
    for (char *save = NULL, *a = in.qbuf ? strtok_r(in.qbuf, "&", &save) : NULL;
         a && in.nq < 32; a = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(a, '=');
        if (eq)
            *eq = '\0';
        in.qname[in.nq] = a;
        in.qnlen[in.nq] = MHD_http_unescape(a);
        in.qval[in.nq] = eq ? eq + 1 : NULL;
        in.qlen[in.nq] = eq ? MHD_http_unescape(eq + 1) : 0;
        in.nq++;
    }
    if (len > h->o.max_body) {
        kv_http_reply_error(&r, 413, "too_large", "the request body is larger than %zu bytes",
                            h->o.max_body);
    } else {
        r.body = len ? malloc(len + 1) : NULL;
        if (r.body) {
            memcpy(r.body, body, len);
            r.body[len] = '\0';
            r.len = len;
        }
        h->o.handler(&r, h->o.payload);
        if (!r.replied)
            kv_http_reply_error(&r, 500, "internal", "the request was not answered");
    }
    while (r.hdrs) {
        struct hdr *x = r.hdrs;
        r.hdrs = x->next;
        free(x->name);
        free(x->value);
        free(x);
    }
    free(r.body);
    free(in.qbuf);
    if (body_out)
        *body_out = in.body;
    else
        free(in.body);
    return in.status;
}
