/* jsoncheck.c - strict walk over raw JSON text (see jsoncheck.h). */
#include "src/util/jsoncheck.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *kv_jsoncheck_strerror(kv_jsoncheck_status st)
{
    switch (st) {
    case KV_JSONCHECK_OK: return "ok";
    case KV_JSONCHECK_E_SYNTAX: return "not valid JSON";
    case KV_JSONCHECK_E_NUL: return "NUL character (\\u0000) in a string";
    case KV_JSONCHECK_E_CONTROL: return "control character in a string";
    case KV_JSONCHECK_E_UTF8: return "not valid UTF-8 text";
    case KV_JSONCHECK_E_DUPLICATE: return "the same key appears twice";
    case KV_JSONCHECK_E_RANGE: return "number out of range (at most +-9007199254740992, "
                                      "exactly representable)";
    case KV_JSONCHECK_E_LIMIT: return "nested too deep or too many members";
    case KV_JSONCHECK_E_NOMEM: return "out of memory";
    case KV_JSONCHECK_E_TRAILING: return "data after the JSON value";
    }
    return "unknown jsoncheck status";
}

size_t kv_jsoncheck_utf8(const char *s, size_t avail, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    if (!avail)
        return 0;
    unsigned char b = p[0];
    size_t n;
    uint32_t v;
    if (b < 0x80) {
        v = b;
        n = 1;
    } else if (b >= 0xc2 && b <= 0xdf) {
        n = 2;
        v = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
        n = 3;
        v = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        n = 4;
        v = b & 0x07;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3f);
    }
    if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10ffff)) ||
        (v >= 0xd800 && v <= 0xdfff))
        return 0;
    if (cp)
        *cp = v;
    return n;
}

static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    return kv_jsoncheck_utf8((const char *)p, (size_t)(end - p), NULL);
}

kv_jsoncheck_status kv_jsoncheck_text(const char *s, size_t len, int allow_tab, size_t *offset)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        kv_jsoncheck_status st = KV_JSONCHECK_OK;
        size_t n = 1;
        if (*p == 0)
            st = KV_JSONCHECK_E_NUL;
        else if ((*p < 0x20 && !(allow_tab && *p == '\t')) || *p == 0x7f)
            st = KV_JSONCHECK_E_CONTROL;
        else if (!(n = utf8_seq(p, end)))
            st = KV_JSONCHECK_E_UTF8;
        if (st != KV_JSONCHECK_OK) {
            if (offset)
                *offset = (size_t)(p - (const unsigned char *)s);
            return st;
        }
        p += n;
    }
    return KV_JSONCHECK_OK;
}

/* ---- the walker ----------------------------------------------------------- */

typedef struct {
    char *buf;              /* decoded keys of the current object, NUL-separated */
    size_t len, cap;
} keybuf;

typedef struct {
    const unsigned char *start, *p, *end;
    int depth;
    char path[KV_JSONCHECK_PATH_MAX];
    size_t plen;
    kv_jsoncheck_where *w;
} ck;

static kv_jsoncheck_status fail(ck *c, kv_jsoncheck_status st, const unsigned char *at)
{
    if (c->w) {
        snprintf(c->w->path, sizeof c->w->path, "%s", c->plen ? c->path : "(root)");
        c->w->offset = (size_t)(at - c->start);
    }
    return st;
}

static void ws(ck *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int kb_put(keybuf *k, const char *s, size_t n)
{
    if (k->len + n + 1 > k->cap) {
        size_t cap = k->cap ? k->cap : 256;
        while (cap < k->len + n + 1)
            cap *= 2;
        char *nb = realloc(k->buf, cap);
        if (!nb)
            return -1;
        k->buf = nb;
        k->cap = cap;
    }
    memcpy(k->buf + k->len, s, n);
    k->len += n;
    return 0;
}

static int hexval(unsigned char h)
{
    if (h >= '0' && h <= '9')
        return h - '0';
    if (h >= 'a' && h <= 'f')
        return h - 'a' + 10;
    if (h >= 'A' && h <= 'F')
        return h - 'A' + 10;
    return -1;
}

static int hex4(const unsigned char *p, const unsigned char *end, uint32_t *out)
{
    if (end - p < 4)
        return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = (v << 4) | (uint32_t)h;
    }
    *out = v;
    return 0;
}

static size_t utf8_put(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A string at c->p (on the opening quote).  When key is not NULL the
 * decoded text is appended to it (NUL-terminated). */
static kv_jsoncheck_status string(ck *c, keybuf *key)
{
    c->p++;
    for (;;) {
        if (c->p >= c->end)
            return fail(c, KV_JSONCHECK_E_SYNTAX, c->p);
        const unsigned char *at = c->p;
        unsigned char b = *c->p;
        if (b == '"') {
            c->p++;
            if (key && kb_put(key, "", 1) < 0)
                return fail(c, KV_JSONCHECK_E_NOMEM, at);
            return KV_JSONCHECK_OK;
        }
        if (b == 0)
            return fail(c, KV_JSONCHECK_E_NUL, at);
        if (b < 0x20 || b == 0x7f)
            return fail(c, KV_JSONCHECK_E_CONTROL, at);
        if (b != '\\') {
            size_t n = utf8_seq(c->p, c->end);
            if (!n)
                return fail(c, KV_JSONCHECK_E_UTF8, at);
            if (key && kb_put(key, (const char *)c->p, n) < 0)
                return fail(c, KV_JSONCHECK_E_NOMEM, at);
            c->p += n;
            continue;
        }
        if (c->end - c->p < 2)
            return fail(c, KV_JSONCHECK_E_SYNTAX, at);
        unsigned char e = c->p[1];
        char one = 0;
        switch (e) {
        case '"': one = '"'; break;
        case '\\': one = '\\'; break;
        case '/': one = '/'; break;
        case 'n': one = '\n'; break;
        case 'r': one = '\r'; break;
        case 't': one = '\t'; break;
        case 'b':
        case 'f':
            return fail(c, KV_JSONCHECK_E_CONTROL, at);
        case 'u':
            break;
        default:
            return fail(c, KV_JSONCHECK_E_SYNTAX, at);
        }
        if (one) {
            if (key && kb_put(key, &one, 1) < 0)
                return fail(c, KV_JSONCHECK_E_NOMEM, at);
            c->p += 2;
            continue;
        }
        uint32_t cp;
        if (hex4(c->p + 2, c->end, &cp) < 0)
            return fail(c, KV_JSONCHECK_E_SYNTAX, at);
        c->p += 6;
        if (cp == 0)
            return fail(c, KV_JSONCHECK_E_NUL, at);
        if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0x7f)
            return fail(c, KV_JSONCHECK_E_CONTROL, at);
        if (cp >= 0xdc00 && cp <= 0xdfff)
            return fail(c, KV_JSONCHECK_E_UTF8, at);
        if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t lo;
            if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' ||
                hex4(c->p + 2, c->end, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
                return fail(c, KV_JSONCHECK_E_UTF8, at);
            c->p += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (key) {
            char u[4];
            if (kb_put(key, u, utf8_put(u, cp)) < 0)
                return fail(c, KV_JSONCHECK_E_NOMEM, at);
        }
    }
}

static kv_jsoncheck_status number(ck *c)
{
    const unsigned char *s = c->p;
    int integer = 1;
    if (c->p < c->end && *c->p == '-')
        c->p++;
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return fail(c, KV_JSONCHECK_E_SYNTAX, c->p);
    if (*c->p == '0')
        c->p++;
    else
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
    if (c->p < c->end && *c->p == '.') {
        integer = 0;
        c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return fail(c, KV_JSONCHECK_E_SYNTAX, c->p);
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        integer = 0;
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return fail(c, KV_JSONCHECK_E_SYNTAX, c->p);
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
    }
    size_t n = (size_t)(c->p - s);
    char buf[48];
    if (n >= sizeof buf)
        return fail(c, KV_JSONCHECK_E_RANGE, s);
    memcpy(buf, s, n);
    buf[n] = '\0';
    const double lim = 9007199254740992.0; /* 2^53 */
    if (integer) {
        const char *d = buf[0] == '-' ? buf + 1 : buf;
        errno = 0;
        unsigned long long v = strtoull(d, NULL, 10);
        if (errno == ERANGE || v > 9007199254740992ULL)
            return fail(c, KV_JSONCHECK_E_RANGE, s);
        return KV_JSONCHECK_OK;
    }
    double v = strtod(buf, NULL);
    if (!isfinite(v) || fabs(v) > lim)
        return fail(c, KV_JSONCHECK_E_RANGE, s);
    return KV_JSONCHECK_OK;
}

static int literal(ck *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n))
        return -1;
    c->p += n;
    return 0;
}

/* Append ".key" (or "key" at the top) / "[i]" to the path; returns the
 * old length to restore. */
static size_t path_key(ck *c, const char *key)
{
    size_t old = c->plen;
    if (c->plen && c->plen + 1 < sizeof c->path)
        c->path[c->plen++] = '.';
    for (const unsigned char *k = (const unsigned char *)key;
         *k && c->plen + 1 < sizeof c->path; k++)
        c->path[c->plen++] = (*k >= 0x20 && *k < 0x7f) ? (char)*k : '?';
    c->path[c->plen] = '\0';
    return old;
}

static size_t path_index(ck *c, size_t i)
{
    size_t old = c->plen;
    int n = snprintf(c->path + c->plen, sizeof c->path - c->plen, "[%zu]", i);
    if (n > 0 && c->plen + (size_t)n < sizeof c->path)
        c->plen += (size_t)n;
    else
        c->path[c->plen] = '\0';
    return old;
}

static void path_restore(ck *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

static kv_jsoncheck_status value(ck *c);

static kv_jsoncheck_status object(ck *c)
{
    keybuf kb = { 0 };
    kv_jsoncheck_status st = KV_JSONCHECK_OK;
    size_t members = 0;
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return KV_JSONCHECK_OK;
    }
    for (;;) {
        ws(c);
        if (c->p >= c->end || *c->p != '"') {
            st = fail(c, KV_JSONCHECK_E_SYNTAX, c->p);
            break;
        }
        const unsigned char *kat = c->p;
        size_t kstart = kb.len;
        if ((st = string(c, &kb)) != KV_JSONCHECK_OK)
            break;
        const char *key = kb.buf + kstart;
        size_t old = path_key(c, key);
        if (++members > KV_JSONCHECK_MAX_MEMBERS) {
            st = fail(c, KV_JSONCHECK_E_LIMIT, kat);
            break;
        }
        size_t klen = kb.len - kstart; /* with its NUL */
        for (size_t off = 0; off < kstart;) {
            size_t l = strlen(kb.buf + off) + 1;
            if (l == klen && !memcmp(kb.buf + off, key, klen)) {
                st = fail(c, KV_JSONCHECK_E_DUPLICATE, kat);
                break;
            }
            off += l;
        }
        if (st != KV_JSONCHECK_OK)
            break;
        ws(c);
        if (c->p >= c->end || *c->p != ':') {
            st = fail(c, KV_JSONCHECK_E_SYNTAX, c->p);
            break;
        }
        c->p++;
        if ((st = value(c)) != KV_JSONCHECK_OK)
            break;
        path_restore(c, old);
        ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            break;
        }
        st = fail(c, KV_JSONCHECK_E_SYNTAX, c->p);
        break;
    }
    free(kb.buf);
    return st;
}

static kv_jsoncheck_status array(ck *c)
{
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        return KV_JSONCHECK_OK;
    }
    for (size_t i = 0;; i++) {
        size_t old = path_index(c, i);
        kv_jsoncheck_status st = value(c);
        if (st != KV_JSONCHECK_OK)
            return st;
        path_restore(c, old);
        ws(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == ']') {
            c->p++;
            return KV_JSONCHECK_OK;
        }
        return fail(c, KV_JSONCHECK_E_SYNTAX, c->p);
    }
}

static kv_jsoncheck_status value(ck *c)
{
    ws(c);
    if (c->p >= c->end)
        return fail(c, KV_JSONCHECK_E_SYNTAX, c->p);
    kv_jsoncheck_status st;
    switch (*c->p) {
    case '{':
    case '[':
        if (c->depth >= KV_JSONCHECK_MAX_DEPTH)
            return fail(c, KV_JSONCHECK_E_LIMIT, c->p);
        c->depth++;
        st = *c->p == '{' ? object(c) : array(c);
        c->depth--;
        return st;
    case '"':
        return string(c, NULL);
    case 't':
        return literal(c, "true") ? fail(c, KV_JSONCHECK_E_SYNTAX, c->p) : KV_JSONCHECK_OK;
    case 'f':
        return literal(c, "false") ? fail(c, KV_JSONCHECK_E_SYNTAX, c->p) : KV_JSONCHECK_OK;
    case 'n':
        return literal(c, "null") ? fail(c, KV_JSONCHECK_E_SYNTAX, c->p) : KV_JSONCHECK_OK;
    default:
        return number(c);
    }
}

kv_jsoncheck_status kv_jsoncheck(const char *text, size_t len, kv_jsoncheck_where *where)
{
    ck c;
    memset(&c, 0, sizeof c);
    c.start = c.p = (const unsigned char *)(text ? text : "");
    c.end = c.start + (text ? len : 0);
    c.w = where;
    kv_jsoncheck_status st = value(&c);
    if (st != KV_JSONCHECK_OK)
        return st;
    ws(&c);
    if (c.p < c.end)
        return fail(&c, KV_JSONCHECK_E_TRAILING, c.p);
    return KV_JSONCHECK_OK;
}
