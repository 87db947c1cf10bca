/* sim_util.c - small helpers of the simulator: PRNG, time, base64, HMAC
 * signing of webhooks, QR images, response builders. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <png.h>
#include <qrencode.h>

#include "sim/sim_int.h"

const char *sim_header(const sim_req *rq, const char *name)
{
    if (!rq->conn) {
        for (size_t i = 0; rq->hdrs && rq->hdrs[i] && rq->hdrs[i + 1]; i += 2)
            if (!strcasecmp(rq->hdrs[i], name)) return rq->hdrs[i + 1];
        return NULL;
    }
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *sim_query(const sim_req *rq, const char *name)
{
    if (!rq->conn) return NULL;
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

double sim_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* splitmix64: small, seedable, good enough for ids and fault dice. */
unsigned long long sim_rand(kv_sim *s)
{
    unsigned long long z = (s->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

double sim_rand01(kv_sim *s)
{
    return (double)(sim_rand(s) >> 11) / 9007199254740992.0;
}

void sim_rand_hex(kv_sim *s, char *buf, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    unsigned long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 16 == 0) v = sim_rand(s);
        buf[i] = hx[v & 15];
        v >>= 4;
    }
    buf[n] = 0;
}

void sim_uuid(kv_sim *s, char out[37])
{
    char h[33];
    sim_rand_hex(s, h, 32);
    h[12] = '4';
    h[16] = "89ab"[(unsigned char)h[16] % 4];
    size_t j = 0;
    for (int i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20) out[j++] = '-';
        out[j++] = h[i];
    }
    out[j] = 0;
}

void sim_rfc3339(double t, char out[40])
{
    time_t sec = (time_t)t;
    struct tm tm;
    gmtime_r(&sec, &tm);
    int ms = (int)((t - (double)sec) * 1000.0);
    if (ms < 0) ms = 0;
    if (ms > 999) ms = 999;
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%.24s.%03uZ", base, (unsigned)ms % 1000u);
}

void sim_rfc1123(double t, char out[40])
{
    time_t sec = (time_t)t;
    struct tm tm;
    gmtime_r(&sec, &tm);
    static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const mo[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    char hms[16];
    strftime(hms, sizeof hms, "%H:%M:%S", &tm);
    snprintf(out, 40, "%s, %02u %s %04u %.8s GMT", wd[tm.tm_wday % 7], (unsigned)tm.tm_mday % 100u,
             mo[tm.tm_mon % 12], (unsigned)(tm.tm_year + 1900) % 10000u, hms);
}

char *sim_b64(const unsigned char *data, size_t len, int url)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char urls[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *al = url ? urls : std;
    char *o = malloc(4 * ((len + 2) / 3) + 1);
    if (!o) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)data[i] << 16;
        if (i + 1 < len) v |= (unsigned)data[i + 1] << 8;
        if (i + 2 < len) v |= data[i + 2];
        o[j++] = al[(v >> 18) & 63];
        o[j++] = al[(v >> 12) & 63];
        if (i + 1 < len) o[j++] = al[(v >> 6) & 63];
        else if (!url) o[j++] = '=';
        if (i + 2 < len) o[j++] = al[v & 63];
        else if (!url) o[j++] = '=';
    }
    o[j] = 0;
    return o;
}

char *sim_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *sim_printf(const char *fmt, ...)
{
    va_list ap;
    char *p = NULL;
    va_start(ap, fmt);
    if (vasprintf(&p, fmt, ap) < 0) p = NULL;
    va_end(ap);
    return p;
}

/* Split "scheme://authority/path?query" into authority and path+query. */
static int url_parts(const char *url, char *auth, size_t authsz, const char **pq)
{
    const char *p = strstr(url, "://");
    if (!p) return -1;
    p += 3;
    const char *slash = strchr(p, '/');
    const char *q = strchr(p, '?');
    const char *end = slash ? slash : (q ? q : p + strlen(p));
    if (q && q < end) end = q;
    size_t n = (size_t)(end - p);
    if (n == 0 || n >= authsz) return -1;
    memcpy(auth, p, n);
    auth[n] = 0;
    *pq = end;
    return 0;
}

int sim_sign(const char *secret, const char *url, const char *body, double t,
             char date[40], char hash[64], char **auth)
{
    char host[256];
    const char *pq;
    if (url_parts(url, host, sizeof host, &pq) < 0) return -1;
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)body, strlen(body), md);
    char *h = sim_b64(md, sizeof md, 0);
    if (!h) return -1;
    snprintf(hash, 64, "%s", h);
    free(h);
    sim_rfc1123(t, date);
    /* pathAndQuery of the registered URL; "/" when it has no path. */
    char *sts = sim_printf("POST\n%s%s\n%s;%s;%s", *pq == '/' ? "" : "/", pq, date, host, hash);
    if (!sts) return -1;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)sts, strlen(sts),
         mac, &maclen);
    free(sts);
    char *sig = sim_b64(mac, maclen, 0);
    if (!sig) return -1;
    *auth = sim_printf("HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=%s", sig);
    free(sig);
    return *auth ? 0 : -1;
}

struct membuf { unsigned char *p; size_t len, cap; int err; };

static void png_write_mem(png_structp png, png_bytep data, png_size_t n)
{
    struct membuf *m = png_get_io_ptr(png);
    if (m->err) return;
    if (m->len + n > m->cap) {
        size_t nc = (m->cap ? m->cap * 2 : 4096);
        while (nc < m->len + n) nc *= 2;
        unsigned char *np = realloc(m->p, nc);
        if (!np) { m->err = 1; return; }
        m->p = np;
        m->cap = nc;
    }
    memcpy(m->p + m->len, data, n);
    m->len += n;
}

static void png_flush_mem(png_structp png) { (void)png; }

/* Write the PNG of qr (edge px, scale px per module, offset off). */
static int qr_png_write(const QRcode *qr, int edge, int scale, int off, struct membuf *m,
                        unsigned char *row)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    if (!png) return -1;
    png_infop info = png_create_info_struct(png);
    if (!info) { png_destroy_write_struct(&png, NULL); return -1; }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, m, png_write_mem, png_flush_mem);
    png_set_compression_level(png, 1); /* fast: images are served on demand */
    png_set_filter(png, 0, PNG_FILTER_NONE);
    png_set_IHDR(png, info, (png_uint_32)edge, (png_uint_32)edge, 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < edge; y++) {
        for (int x = 0; x < edge; x++) {
            int mx = x - off, my = y - off;
            int dark = 0;
            if (mx >= 0 && my >= 0 && mx < scale * qr->width && my < scale * qr->width)
                dark = qr->data[(my / scale) * qr->width + (mx / scale)] & 1;
            row[x] = dark ? 0 : 255;
        }
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

unsigned char *sim_qr_png(const char *text, int size, size_t *len)
{
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!qr) return NULL;
    int mods = qr->width + 8; /* 4-module quiet zone each side */
    int edge = size < mods ? mods : size;
    int scale = edge / mods;
    int off = (edge - scale * qr->width) / 2;
    struct membuf m = { 0 };
    unsigned char *row = malloc((size_t)edge);
    int rc = row ? qr_png_write(qr, edge, scale, off, &m, row) : -1;
    free(row);
    QRcode_free(qr);
    if (rc < 0 || m.err) { free(m.p); return NULL; }
    *len = m.len;
    return m.p;
}

char *sim_qr_svg(const char *text, size_t *len)
{
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (!qr) return NULL;
    int w = qr->width, edge = w + 8;
    size_t cap = 256 + (size_t)w * (size_t)w * 40;
    char *o = malloc(cap);
    if (!o) { QRcode_free(qr); return NULL; }
    size_t n = (size_t)snprintf(o, cap,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" shape-rendering=\"crispEdges\">"
        "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/><path fill=\"#000\" d=\"", edge, edge, edge, edge);
    for (int y = 0; y < w; y++)
        for (int x = 0; x < w; x++)
            if (qr->data[y * w + x] & 1)
                n += (size_t)snprintf(o + n, cap - n, "M%d %dh1v1h-1z", x + 4, y + 4);
    n += (size_t)snprintf(o + n, cap - n, "\"/></svg>\n");
    QRcode_free(qr);
    *len = n;
    return o;
}

void sim_resp_header(sim_resp *r, const char *name, const char *val)
{
    if (r->nhdr >= SIM_MAX_HDR) return;
    snprintf(r->hname[r->nhdr], sizeof r->hname[0], "%s", name);
    snprintf(r->hval[r->nhdr], sizeof r->hval[0], "%s", val);
    r->nhdr++;
}

static void set_body(sim_resp *r, char *body, size_t len)
{
    free(r->body);
    r->body = body;
    r->len = len;
}

void sim_resp_json(sim_resp *r, int status, cJSON *obj)
{
    char *t = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    r->status = t ? status : 500;
    r->ctype = "application/json;charset=UTF-8";
    set_body(r, t, t ? strlen(t) : 0);
}

void sim_resp_text(sim_resp *r, int status, const char *ctype, const char *text)
{
    r->status = status;
    r->ctype = ctype;
    char *t = text ? strdup(text) : NULL;
    set_body(r, t, t ? strlen(t) : 0);
}

static const char *status_title(int st)
{
    switch (st) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 415: return "Unsupported Media Type";
    case 423: return "Locked";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
    }
}

static cJSON *problem_base(kv_sim *s, int status, const char *title, const char *detail,
                           const char *instance)
{
    cJSON *o = cJSON_CreateObject();
    char type[64], trace[33];
    snprintf(type, sizeof type, "https://httpstatuses.io/%d", status);
    sim_rand_hex(s, trace, 32);
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "title", title ? title : status_title(status));
    cJSON_AddStringToObject(o, "detail", detail ? detail : status_title(status));
    if (instance) cJSON_AddStringToObject(o, "instance", instance);
    cJSON_AddNumberToObject(o, "status", status);
    cJSON_AddStringToObject(o, "traceId", trace);
    return o;
}

static void problem_send(sim_resp *r, int status, cJSON *o)
{
    sim_resp_json(r, status, o);
    r->ctype = "application/problem+json";
}

void sim_problem(kv_sim *s, sim_resp *r, int status, const char *title, const char *detail,
                 const char *instance, const char *errcode)
{
    cJSON *o = problem_base(s, status, title, detail, instance);
    cJSON *x = cJSON_AddArrayToObject(o, "extraDetails");
    if (errcode) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", "ErrorCode");
        cJSON_AddStringToObject(e, "reason", errcode);
        cJSON_AddItemToArray(x, e);
    }
    problem_send(r, status, o);
}

void sim_problem_field(kv_sim *s, sim_resp *r, int status, const char *detail,
                       const char *instance, const char *field)
{
    cJSON *o = problem_base(s, status, "One or more validation errors occurred.", detail, instance);
    cJSON *x = cJSON_AddArrayToObject(o, "extraDetails");
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", field);
    cJSON_AddStringToObject(e, "reason", detail);
    cJSON_AddItemToArray(x, e);
    problem_send(r, status, o);
}

void sim_ecom_error(kv_sim *s, sim_resp *r, int status, const char *group, const char *code,
                    const char *msg)
{
    cJSON *a = cJSON_CreateArray();
    cJSON *e = cJSON_CreateObject();
    char ctx[37];
    sim_uuid(s, ctx);
    cJSON_AddStringToObject(e, "errorGroup", group);
    cJSON_AddStringToObject(e, "errorCode", code);
    cJSON_AddStringToObject(e, "errorMessage", msg);
    cJSON_AddStringToObject(e, "contextId", ctx);
    cJSON_AddItemToArray(a, e);
    sim_resp_json(r, status, a);
}

void sim_apim_error(sim_resp *r, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "statusCode", status);
    cJSON_AddStringToObject(o, "message", msg);
    sim_resp_json(r, status, o);
}
