/*
 * trace.c - the client's wire trace for support cases (kv_vipps_opts
 * trace_path, `kvitt --trace FILE`): per HTTP exchange the method, URL,
 * request and response headers and bodies, the status and the time it
 * took, captured with libcurl's debug callback.  Before a record is
 * written, secret header values (Authorization, Ocp-Apim-Subscription-Key,
 * client_id, client_secret, cookies) become "[redacted]" and the whole
 * record passes the client's redaction (secrets, the token, the phone
 * number of the request, JSON values of secret keys such as access_token,
 * phoneNumber, secret).  The file is created 0600 and tightened to 0600
 * when it exists; each record is one write() on an O_APPEND descriptor, so
 * clients in several threads or processes may share one file.
 */
#include "src/vipps/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX 8192   /* bytes of one body kept in a record */

int kv__trace_open(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (err && errlen)
            snprintf(err, errlen, "trace file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        ((sb.st_mode & 077) && fchmod(fd, 0600) != 0)) {
        if (err && errlen)
            snprintf(err, errlen, "trace file %s: not a regular file that can be made private "
                     "(mode 0600)", path);
        close(fd);
        return -1;
    }
    return fd;
}

static void put(kv_tracebuf *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *nb = realloc(t->buf, cap);
        if (!nb) {
            t->failed = 1;
            return;
        }
        t->buf = nb;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static int secret_header(const char *line, size_t n)
{
    static const char *const names[] = { "Authorization", "Ocp-Apim-Subscription-Key",
                                         "client_id", "client_secret", "Cookie", "Set-Cookie",
                                         "Proxy-Authorization" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t l = strlen(names[i]);
        if (n > l && line[l] == ':' && !strncasecmp(line, names[i], l))
            return (int)l;
    }
    return 0;
}

/* Header block: one "> " / "< " line each, secret values replaced. */
static void headers(kv_tracebuf *t, const char *dir, const char *p, size_t n)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t l = nl ? (size_t)(nl - p) + 1 : n;
        size_t e = l;
        while (e && (p[e - 1] == '\n' || p[e - 1] == '\r'))
            e--;
        put(t, dir, 2);
        int k = secret_header(p, e);
        if (k) {
            put(t, p, (size_t)k);
            put(t, ": [redacted]", 12);
        } else {
            for (size_t i = 0; i < e; i++) {
                char ch = (p[i] >= 0x20 && p[i] != 0x7f) ? p[i] : '.';
                put(t, &ch, 1);
            }
        }
        put(t, "\n", 1);
        p += l;
        n -= l;
    }
}

/* Body bytes: printable text kept (UTF-8 bytes too), other bytes '.'. */
static void body(kv_tracebuf *t, const char *dir, size_t *seen, const char *p, size_t n)
{
    size_t room = *seen < BODY_MAX ? BODY_MAX - *seen : 0;
    size_t k = n < room ? n : room;
    if (k) {
        put(t, dir, 2);
        put(t, "body ", 5);
        for (size_t i = 0; i < k; i++) {
            unsigned char ch = (unsigned char)p[i];
            char o = (ch >= 0x20 && ch != 0x7f) ? (char)ch : '.';
            put(t, &o, 1);
        }
        put(t, "\n", 1);
    }
    if (*seen <= BODY_MAX && *seen + n > BODY_MAX)
        put(t, "  (body cut at 8192 bytes)\n", 27);
    *seen += n;
}

static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *ud)
{
    (void)h;
    kv_tracebuf *t = ud;
    switch (type) {
    case CURLINFO_HEADER_OUT: headers(t, "> ", data, size); break;
    case CURLINFO_HEADER_IN: headers(t, "< ", data, size); break;
    case CURLINFO_DATA_OUT: body(t, "> ", &t->out_seen, data, size); break;
    case CURLINFO_DATA_IN: body(t, "< ", &t->in_seen, data, size); break;
    default: break;   /* connection chatter, TLS data */
    }
    return 0;
}

void kv__trace_attach(CURL *h, kv_tracebuf *t)
{
    if (!t) {
        curl_easy_setopt(h, CURLOPT_VERBOSE, 0L);
        curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, NULL);
        curl_easy_setopt(h, CURLOPT_DEBUGDATA, NULL);
        return;
    }
    memset(t, 0, sizeof *t);
    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(h, CURLOPT_DEBUGDATA, t);
    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
}

void kv__trace_write(kv_vipps_client *c, int fd, kv_tracebuf *t, CURL *h, const char *method,
                     const char *url, CURLcode rc, long status)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    curl_off_t us = 0;
    curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &us);
    char res[160];
    if (rc == CURLE_OK)
        snprintf(res, sizeof res, "HTTP %ld", status);
    else
        snprintf(res, sizeof res, "no answer: %s", curl_easy_strerror(rc));
    char *rec = NULL;
    int n = asprintf(&rec, "=== %04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s\n%s--- %s in %.1f ms\n\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000L, method, url,
                     t->buf && !t->failed ? t->buf : "(trace lost: out of memory)\n", res,
                     (double)us / 1000.0);
    if (n > 0) {
        kv__redact(c, rec);
        size_t len = strlen(rec), off = 0;
        while (off < len) {
            ssize_t w = write(fd, rec + off, len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;  /* a full disk costs the trace, never the payment */
            off += (size_t)w;
        }
        memset(rec, 0, len);
        free(rec);
    }
    if (t->buf)
        memset(t->buf, 0, t->len);
    free(t->buf);
    memset(t, 0, sizeof *t);
}
