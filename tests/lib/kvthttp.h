/*
 * kvthttp.h - a small HTTP client for the suites (libcurl, real sockets).
 * Used to talk to `kvitt serve`, `kvitt sim` control endpoints and
 * in-process servers over loopback.  Nothing here is a mock.
 */
#ifndef KV_TESTS_KVTHTTP_H
#define KV_TESTS_KVTHTTP_H

#include <stddef.h>

typedef struct kvt_http_resp {
    long status;       /* HTTP status, 0 when no answer */
    char *body;        /* NUL-terminated, malloc'd (may be "") */
    size_t len;
    char *headers;     /* raw response headers, NUL-terminated, malloc'd */
} kvt_http_resp;

/* Send one request.  headers is a NULL-terminated list of "Name: value"
 * (or NULL); body may be NULL.  Returns 0 when an answer came (any
 * status), -1 on a transport error or after timeout_ms.  Free the
 * response with kvt_http_free (also after -1). */
int kvt_http(kvt_http_resp *out, const char *method, const char *url,
             const char *const headers[], const char *body, size_t len, int timeout_ms);

void kvt_http_free(kvt_http_resp *r);

/* Value of a response header (case-insensitive name) copied into buf;
 * returns buf, or NULL when absent. */
char *kvt_http_header(const kvt_http_resp *r, const char *name, char *buf, size_t len);

#endif
