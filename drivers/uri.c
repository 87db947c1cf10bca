/* uri.c - printer URI parser (see uri.h).  Pure string work, no I/O. */
#include "drivers/uri.h"
#include "drivers/transport.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return KV_T_E_URI;
}

int kv_uri_scheme(const char *uri, char *buf, size_t buflen)
{
    size_t i = 0;
    if (!uri || !isalpha((unsigned char)uri[0]))
        return -1;
    while (isalnum((unsigned char)uri[i]) || uri[i] == '+' || uri[i] == '-' ||
           uri[i] == '.')
        i++;
    if (uri[i] != ':' || i + 1 > buflen)
        return -1;
    for (size_t k = 0; k < i; k++)
        buf[k] = (char)tolower((unsigned char)uri[k]);
    buf[i] = '\0';
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decode [s, s+n) into dst (cap bytes incl. NUL). -1 on bad escape,
 * NUL byte or overflow. */
static int pct_decode(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = h * 16 + l;
            i += 2;
            if (c == 0)
                return -1;
        }
        if (o + 1 >= cap)
            return -1;
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    return 0;
}

static int parse_long(const char *s, long lo, long hi, long *v)
{
    char *end;
    if (!*s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || *end || x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

static int valid_baud(long b)
{
    static const long rates[] = { 1200, 2400, 4800, 9600, 19200, 38400,
                                  57600, 115200, 230400 };
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++)
        if (rates[i] == b)
            return 1;
    return 0;
}

static const char *const emu_states[] = {
    "ok", "paper-out", "paper-near-end", "cover-open", "offline", "error"
};

/* Apply one key=value of the query. */
static int query_kv(kv_uri *u, const char *key, const char *val,
                    char *err, size_t errlen)
{
    long v;
    switch (u->kind) {
    case KV_URI_USB:
        if (!strcmp(key, "serial")) {
            if (!*val || strlen(val) >= sizeof u->serial)
                return fail(err, errlen, "usb URI: serial must be 1..%zu characters",
                            sizeof u->serial - 1);
            strcpy(u->serial, val);
            return 0;
        }
        break;
    case KV_URI_SERIAL:
        if (!strcmp(key, "baud")) {
            if (parse_long(val, 1, 10000000, &v) || !valid_baud(v))
                return fail(err, errlen,
                            "serial URI: baud=%s is not a supported rate "
                            "(1200 2400 4800 9600 19200 38400 57600 115200 230400)",
                            val);
            u->baud = (unsigned)v;
            return 0;
        }
        if (!strcmp(key, "flow")) {
            if (!strcmp(val, "none")) u->flow = KV_FLOW_NONE;
            else if (!strcmp(val, "rtscts")) u->flow = KV_FLOW_RTSCTS;
            else if (!strcmp(val, "xonxoff")) u->flow = KV_FLOW_XONXOFF;
            else
                return fail(err, errlen,
                            "serial URI: flow=%s; use none, rtscts or xonxoff", val);
            return 0;
        }
        break;
    case KV_URI_VIRTUAL:
        if (!strcmp(key, "fail_after")) {
            if (parse_long(val, 0, 1000000000L, &v))
                return fail(err, errlen, "virtual URI: fail_after=%s must be a count >= 0", val);
            u->fail_after = v;
            return 0;
        }
        if (!strcmp(key, "fail_bytes")) {
            if (parse_long(val, 0, 1000000000L, &v))
                return fail(err, errlen, "virtual URI: fail_bytes=%s must be a count >= 0", val);
            u->fail_bytes = v;
            return 0;
        }
        if (!strcmp(key, "fail")) {
            if (!strcmp(val, "transient")) u->fail_persistent = 0;
            else if (!strcmp(val, "persistent")) u->fail_persistent = 1;
            else
                return fail(err, errlen, "virtual URI: fail=%s; use transient or persistent", val);
            return 0;
        }
        if (!strcmp(key, "png")) {
            if (strcmp(val, "0") && strcmp(val, "1"))
                return fail(err, errlen, "virtual URI: png=%s; use png=1 or png=0", val);
            u->png = val[0] == '1';
            return 0;
        }
        if (!strcmp(key, "profile")) {
            size_t n = strlen(val);
            if (n == 0 || n >= sizeof u->profile ||
                strspn(val, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != n)
                return fail(err, errlen, "virtual URI: profile=%s is not a profile name "
                            "(see kvitt profiles)", val);
            strcpy(u->profile, val);
            return 0;
        }
        if (!strcmp(key, "state")) {
            for (size_t i = 0; i < sizeof emu_states / sizeof emu_states[0]; i++)
                if (!strcmp(val, emu_states[i])) {
                    strcpy(u->state, val);
                    return 0;
                }
            return fail(err, errlen,
                        "virtual URI: state=%s; use ok, paper-out, paper-near-end, "
                        "cover-open, offline or error", val);
        }
        break;
    case KV_URI_LP:
    case KV_URI_TCP:
        break;
    }
    return fail(err, errlen, "unknown URI option '%s'", key);
}

static int parse_query(kv_uri *u, const char *q, char *err, size_t errlen)
{
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', n);
        char key[32], val[256];
        if (!eq || eq == q)
            return fail(err, errlen, "URI option '%.*s' must be key=value", (int)n, q);
        if (pct_decode(key, sizeof key, q, (size_t)(eq - q)) ||
            pct_decode(val, sizeof val, eq + 1, n - (size_t)(eq - q) - 1))
            return fail(err, errlen, "URI option '%.*s' is too long or badly %%-encoded",
                        (int)n, q);
        int st = query_kv(u, key, val, err, errlen);
        if (st)
            return st;
        q = amp ? amp + 1 : NULL;
    }
    return 0;
}

static int parse_hex4(const char *s, unsigned *v)
{
    unsigned x = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(s[i]);
        if (h < 0)
            return -1;
        x = x * 16 + (unsigned)h;
    }
    *v = x;
    return 0;
}

/* Copy the path part [p, p+n) decoded; must be non-empty. */
static int take_path(kv_uri *u, const char *p, size_t n, int need_abs,
                     const char *form, char *err, size_t errlen)
{
    if (n == 0)
        return fail(err, errlen, "missing path; expected %s", form);
    if (pct_decode(u->path, sizeof u->path, p, n))
        return fail(err, errlen, "path too long or badly %%-encoded; expected %s", form);
    if (need_abs && u->path[0] != '/')
        return fail(err, errlen, "path must be absolute; expected %s", form);
    return 0;
}

int kv_uri_parse(kv_uri *out, const char *uri, char *err, size_t errlen)
{
    kv_uri u;
    char scheme[16];
    memset(&u, 0, sizeof u);
    u.fail_after = -1;
    u.fail_bytes = -1;

    if (!uri || !*uri)
        return fail(err, errlen, "empty printer URI; expected e.g. usb://, "
                    "tcp://192.168.1.50, serial:///dev/ttyUSB0, lp:///dev/usb/lp0, virtual:DIR");
    for (const char *c = uri; *c; c++)
        if ((unsigned char)*c <= 0x20 || *c == 0x7f)
            return fail(err, errlen, "printer URI '%s' contains a space or control character", uri);
    if (kv_uri_scheme(uri, scheme, sizeof scheme))
        return fail(err, errlen, "'%s' is not a printer URI: it needs a scheme "
                    "(usb://, lp://, tcp://, serial://, virtual:)", uri);

    const char *rest = uri + strlen(scheme) + 1;
    const char *q = strchr(rest, '?');
    size_t rlen = q ? (size_t)(q - rest) : strlen(rest);

    if (!strcmp(scheme, "usb")) {
        u.kind = KV_URI_USB;
        if (strncmp(rest, "//", 2))
            return fail(err, errlen, "usb URI must start with usb://; expected usb://VID:PID or usb://");
        rest += 2; rlen -= 2;
        if (rlen == 1 && rest[0] == '/')
            rlen = 0;
        if (rlen) {
            if (!(rlen == 9 || (rlen == 10 && rest[9] == '/')) || rest[4] != ':' ||
                parse_hex4(rest, &u.vid) || parse_hex4(rest + 5, &u.pid))
                return fail(err, errlen, "usb URI '%s': expected usb://VID:PID with 4 hex "
                            "digits each, e.g. usb://04b8:0e28", uri);
            u.has_id = 1;
        }
    } else if (!strcmp(scheme, "lp")) {
        u.kind = KV_URI_LP;
        if (strncmp(rest, "//", 2))
            return fail(err, errlen, "lp URI: expected lp:///dev/usb/lp0");
        int st = take_path(&u, rest + 2, rlen - 2, 1, "lp:///dev/usb/lp0", err, errlen);
        if (st)
            return st;
    } else if (!strcmp(scheme, "serial")) {
        u.kind = KV_URI_SERIAL;
        u.baud = 9600;
        if (strncmp(rest, "//", 2))
            return fail(err, errlen, "serial URI: expected serial:///dev/ttyUSB0?baud=9600");
        int st = take_path(&u, rest + 2, rlen - 2, 1,
                           "serial:///dev/ttyUSB0?baud=9600&flow=none", err, errlen);
        if (st)
            return st;
    } else if (!strcmp(scheme, "tcp")) {
        u.kind = KV_URI_TCP;
        u.port = 9100;
        if (strncmp(rest, "//", 2))
            return fail(err, errlen, "tcp URI: expected tcp://HOST[:PORT]");
        const char *h = rest + 2, *end = rest + rlen;
        if (end > h && end[-1] == '/')
            end--;
        const char *portp = NULL;
        size_t hl;
        if (h < end && *h == '[') {
            const char *rb = memchr(h, ']', (size_t)(end - h));
            if (!rb)
                return fail(err, errlen, "tcp URI '%s': missing ']' after IPv6 address", uri);
            h++;
            hl = (size_t)(rb - h);
            if (rb + 1 < end) {
                if (rb[1] != ':')
                    return fail(err, errlen, "tcp URI '%s': expected ':PORT' after ']'", uri);
                portp = rb + 2;
            }
            /* hex digits, ':' and '.', then an optional zone "%25eth0" */
            size_t a = strspn(h, "0123456789abcdefABCDEF:.");
            if (a < hl && !strncmp(h + a, "%25", 3)) {
                size_t z = a + 3;
                while (z < hl && (isalnum((unsigned char)h[z]) || h[z] == '_' || h[z] == '-'))
                    z++;
                if (z == hl && z > a + 3)
                    a = hl;
            }
            if (hl == 0 || a < hl)
                return fail(err, errlen, "tcp URI '%s': bad IPv6 address", uri);
        } else {
            const char *colon = memchr(h, ':', (size_t)(end - h));
            hl = colon ? (size_t)(colon - h) : (size_t)(end - h);
            if (colon)
                portp = colon + 1;
            for (size_t i = 0; i < hl; i++)
                if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.' && h[i] != '_')
                    return fail(err, errlen, "tcp URI '%s': bad host name (for IPv6 use "
                                "tcp://[::1]:9100)", uri);
        }
        if (hl == 0)
            return fail(err, errlen, "tcp URI '%s': missing host; expected tcp://HOST[:PORT]", uri);
        if (hl >= sizeof u.host)
            return fail(err, errlen, "tcp URI: host name too long");
        if (pct_decode(u.host, sizeof u.host, h, hl))
            return fail(err, errlen, "tcp URI: bad host name");
        if (portp) {
            char pb[8];
            long pv;
            size_t pl = (size_t)(end - portp);
            if (pl == 0 || pl >= sizeof pb)
                return fail(err, errlen, "tcp URI '%s': port must be 1..65535", uri);
            memcpy(pb, portp, pl);
            pb[pl] = '\0';
            if (parse_long(pb, 1, 65535, &pv))
                return fail(err, errlen, "tcp URI '%s': port must be 1..65535", uri);
            u.port = (unsigned)pv;
        }
    } else if (!strcmp(scheme, "virtual")) {
        u.kind = KV_URI_VIRTUAL;
        const char *p = rest;
        size_t n = rlen;
        if (n >= 2 && !strncmp(p, "//", 2)) { /* virtual:///abs/dir */
            p += 2;
            n -= 2;
        }
        int st = take_path(&u, p, n, 0, "virtual:DIR", err, errlen);
        if (st)
            return st;
    } else {
        return fail(err, errlen, "unknown printer URI scheme '%s:'; use usb://, lp://, "
                    "tcp://, serial:// or virtual:", scheme);
    }

    if (q) {
        int st = parse_query(&u, q + 1, err, errlen);
        if (st)
            return st;
    }
    *out = u;
    return 0;
}
