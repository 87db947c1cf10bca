/*
 * http.h - the daemon's small HTTP server on libmicrohttpd.
 *
 * One handler function sees every complete request (headers + body, the
 * body capped at max_body bytes) and answers it with exactly one kv_http_reply*
 * call.  One MHD polling thread (epoll) serves every connection; complete
 * requests run on a pool of `threads` handler threads, so a handler may
 * block for a while (a payment start waits for its QR slip) but should not
 * park: a reply that waits for something (a long-poll, server-sent
 * events) is a stream whose reader returns 0 until there is something to
 * send, and the connection then sleeps without a thread until
 * kv_http_stream_wake.  The thread count is 2 + threads whatever the
 * number of open connections.
 *
 * Bodies larger than max_body get 413 without the handler being called
 * (at once when Content-Length announces it, otherwise when the cap is
 * crossed).  A handler that returns without replying produces a 500.
 *
 * Thread-safety: kv_http_start/stop from one thread; the handler runs on
 * many connection threads at once and must be thread-safe.
 */
#ifndef KV_SERVE_HTTP_H
#define KV_SERVE_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "src/serve/slog.h"

/* Status codes. Append only; never renumber. */
typedef enum {
    KV_HTTP_OK = 0,
    KV_HTTP_E_ARG = -1,     /* bad listen address or options */
    KV_HTTP_E_NOMEM = -2,
    KV_HTTP_E_LISTEN = -3   /* could not bind or start (port in use, ...) */
} kv_http_status;

/* Static text for a status; never NULL, never freed by the caller. */
const char *kv_http_strerror(kv_http_status st);

typedef struct kv_http kv_http;
typedef struct kv_http_req kv_http_req;  /* one request; valid during the handler */

/* The request handler: must call one kv_http_reply* function. */
typedef void (*kv_http_handler)(kv_http_req *req, void *payload);

typedef struct kv_http_options {
    int version;                /* 1 */
    const char *listen;         /* "HOST:PORT", "[V6]:PORT"; port 0 picks one */
    size_t max_body;            /* request body cap in bytes (default 65536) */
    unsigned max_connections;   /* default 2048 */
    unsigned idle_timeout_s;    /* close idle keep-alive connections (default 120) */
    kv_http_handler handler;
    void *payload;              /* passed to handler, borrowed */
    const kv_slog *log;         /* borrowed; NULL = no log */
    unsigned threads;           /* handler threads (default 16) */
} kv_http_options;

#define KV_HTTP_OPTIONS_INIT { 1, "127.0.0.1:8580", 65536, 2048, 120, NULL, NULL, NULL, 16 }

/* Bind and start serving.  *out is set on success; stop with kv_http_stop.
 * On failure err receives a message naming the address. */
kv_http_status kv_http_start(kv_http **out, const kv_http_options *opts,
                             char *err, size_t errlen);

/* The bound port (useful with port 0). */
unsigned kv_http_port(const kv_http *h);

/* Stop accepting new connections; open ones continue (graceful shutdown). */
void kv_http_quiesce(kv_http *h);

/* Stop the server: close every connection (waiting for running handlers to
 * return) and free it.  NULL is a no-op. */
void kv_http_stop(kv_http *h);

/* ---- request accessors (borrowed strings, valid during the handler) ---- */
const char *kv_http_method(const kv_http_req *r);
const char *kv_http_path(const kv_http_req *r);       /* without the query */
const char *kv_http_header(const kv_http_req *r, const char *name); /* NULL if absent */
const char *kv_http_query(const kv_http_req *r, const char *name);  /* NULL if absent */
/* Every value of header name, in the order received, joined with ", "
 * into buf (len bytes): 1 when present, 0 when absent (buf ""), -1 when
 * they do not fit (buf then holds no complete list: do not use it). */
int kv_http_header_all(const kv_http_req *r, const char *name, char *buf, size_t len);
/* The peer's address in numeric form ("127.0.0.1", "::1") into buf
 * (len bytes, 64 are enough); "" for an injected request or when unknown. */
void kv_http_peer(const kv_http_req *r, char *buf, size_t len);
const char *kv_http_body(const kv_http_req *r, size_t *len);        /* never NULL */

/* Parse the body as JSON.  On success returns the tree (free with
 * cJSON_Delete).  On failure replies 400 with a message saying where the
 * JSON broke (or that the body is empty / not an object) and returns NULL. */
cJSON *kv_http_body_json(kv_http_req *r);

/* Check every query parameter (name and percent-decoded value) for NUL,
 * control bytes and invalid UTF-8.  Returns 0, or replies 400 naming the
 * parameter and returns -1. */
int kv_http_query_check(kv_http_req *r);

/* ---- replies (exactly one per request) ---------------------------------- */

/* Add a response header to the coming reply (copied). */
void kv_http_add_header(kv_http_req *r, const char *name, const char *value);

/* Reply with a body (copied). */
void kv_http_reply(kv_http_req *r, int status, const char *content_type,
                   const char *body, size_t len);

/* Reply with a JSON value; consumes obj (cJSON_Delete'd here). */
void kv_http_reply_json(kv_http_req *r, int status, cJSON *obj);

/* Reply {"error": code, "message": formatted text}. */
void kv_http_reply_error(kv_http_req *r, int status, const char *code,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Stream a reply (server-sent events, long-polls).  reader is called on the
 * MHD thread with (cls, buf, max) and must not block: it returns a byte
 * count > 0, 0 when it has nothing to send now (the connection then sleeps,
 * holding no thread, until kv_http_stream_wake), or -1 to end the stream.
 * free_cls(cls) runs when the stream ends or the client goes away (on the
 * MHD thread).  Returns the stream's handle with one reference for the
 * caller (release it with kv_http_stream_unref, at the latest in
 * free_cls); NULL when out of memory (a 500 is sent, free_cls has run). */
typedef struct kv_http_stream kv_http_stream;
kv_http_stream *kv_http_reply_stream(kv_http_req *r, int status, const char *content_type,
                                     ssize_t (*reader)(void *cls, char *buf, size_t max),
                                     void *cls, void (*free_cls)(void *cls));
/* Make a sleeping stream's reader run again soon.  Any thread; a stream
 * that ended is left alone. */
void kv_http_stream_wake(kv_http_stream *st);
/* References to a stream handle (any thread); the last unref frees it. */
void kv_http_stream_ref(kv_http_stream *st);
void kv_http_stream_unref(kv_http_stream *st);

/* Run the server's handler on one request held in memory, without a
 * socket (the fuzz target and tests use it).  query is the raw text after
 * '?' (percent-decoded here; at most 32 parameters) or NULL; headers is a
 * NULL-terminated list of name, value pairs, or NULL; body/len the bytes
 * (capped at max_body: 413).  A streamed reply ends at once.  Returns the
 * reply's status; *body_out (may be NULL) gets the reply body, malloc'd,
 * NUL-terminated (free()).  Thread-safe like the handler itself. */
int kv_http_inject(kv_http *h, const char *method, const char *path, const char *query,
                   const char *const *headers, const char *body, size_t len, char **body_out);

#endif
