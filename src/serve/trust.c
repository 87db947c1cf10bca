/* trust.c - trusted proxies and the client address behind them (trust.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/serve/trust.h"

typedef struct net {
    int v6;                      /* 0: IPv4 in a[0..3] */
    unsigned char a[16];
    int bits;                    /* prefix length */
} net;

struct kv_trust {
    net *v;
    size_t n;
};

const char *kv_trust_strerror(kv_trust_status st)
{
    switch (st) {
    case KV_TRUST_OK: return "ok";
    case KV_TRUST_E_ARG: return "invalid argument";
    case KV_TRUST_E_NOMEM: return "out of memory";
    case KV_TRUST_E_SYNTAX: return "not an IP address or network";
    }
    return "unknown trust status";
}

/* Parse one address (brackets around IPv6 allowed) into x; 0 or -1. */
static int parse_addr(const char *s, size_t n, net *x)
{
    char buf[64];
    if (n && s[0] == '[' && s[n - 1] == ']') {
        s++;
        n -= 2;
    }
    if (!n || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    memset(x, 0, sizeof *x);
    if (inet_pton(AF_INET, buf, x->a) == 1) {
        x->bits = 32;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, x->a) != 1)
        return -1;
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (!memcmp(x->a, mapped, 12)) {
        memmove(x->a, x->a + 12, 4);
        memset(x->a + 4, 0, 12);
        x->bits = 32;
        return 0;
    }
    x->v6 = 1;
    x->bits = 128;
    return 0;
}

static int in_net(const net *n, const net *a)
{
    if (n->v6 != a->v6)
        return 0;
    int full = n->bits / 8, rest = n->bits % 8;
    if (memcmp(n->a, a->a, (size_t)full))
        return 0;
    if (!rest)
        return 1;
    unsigned char m = (unsigned char)(0xff << (8 - rest));
    return (n->a[full] & m) == (a->a[full] & m);
}

kv_trust_status kv_trust_parse(kv_trust **out, const char *list, char *bad, size_t badlen)
{
    if (!out)
        return KV_TRUST_E_ARG;
    kv_trust *t = calloc(1, sizeof *t);
    if (!t)
        return KV_TRUST_E_NOMEM;
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        size_t n = strcspn(p, ", \t");
        if (!n)
            break;
        net x;
        const char *slash = memchr(p, '/', n);
        size_t alen = slash ? (size_t)(slash - p) : n;
        int ok = parse_addr(p, alen, &x) == 0;
        if (ok && slash) {
            char *end = NULL;
            long bits = strtol(slash + 1, &end, 10);
            int max = x.v6 ? 128 : 32;
            ok = end == p + n && end > slash + 1 && isdigit((unsigned char)slash[1]) &&
                 bits >= 0 && bits <= max;
            x.bits = (int)bits;
        }
        if (!ok) {
            if (bad)
                snprintf(bad, badlen, "%.*s", (int)(n > 60 ? 60 : n), p);
            kv_trust_free(t);
            return KV_TRUST_E_SYNTAX;
        }
        net *v = realloc(t->v, (t->n + 1) * sizeof *v);
        if (!v) {
            kv_trust_free(t);
            return KV_TRUST_E_NOMEM;
        }
        t->v = v;
        t->v[t->n++] = x;
        p += n;
    }
    *out = t;
    return KV_TRUST_OK;
}

void kv_trust_free(kv_trust *t)
{
    if (!t)
        return;
    free(t->v);
    free(t);
}

static int contains(const kv_trust *t, const net *a)
{
    for (size_t i = 0; t && i < t->n; i++)
        if (in_net(&t->v[i], a))
            return 1;
    return 0;
}

int kv_trust_contains(const kv_trust *t, const char *addr)
{
    net a;
    return addr && parse_addr(addr, strlen(addr), &a) == 0 && contains(t, &a);
}

/* The client's name for address text s (n bytes). */
static void name_of(const char *s, size_t n, char *out, size_t len)
{
    net a;
    if (parse_addr(s, n, &a) < 0) {
        /* not an address (a proxy wrote something else): its text */
        snprintf(out, len, "?%.*s", (int)(n > 48 ? 48 : n), s);
        return;
    }
    if (!a.v6) {
        inet_ntop(AF_INET, a.a, out, (socklen_t)len);
        return;
    }
    memset(a.a + 8, 0, 8);
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, a.a, buf, sizeof buf);
    snprintf(out, len, "%s/64", buf);
}

static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

void kv_trust_client(const kv_trust *t, const char *peer, const char *xff, char *out,
                     size_t len)
{
    if (!out || !len)
        return;
    const char *p = peer ? peer : "";
    net pa;
    if (!xff || !*xff || parse_addr(p, strlen(p), &pa) < 0 || !contains(t, &pa)) {
        name_of(p, strlen(p), out, len);
        return;
    }
    /* from the right: the first entry that is not a trusted proxy */
    const char *end = xff + strlen(xff);
    const char *s = xff;
    size_t n = 0;
    while (end > xff) {
        const char *c = end;
        while (c > xff && c[-1] != ',')
            c--;
        s = c;
        n = (size_t)(end - c);
        trim(&s, &n);
        net a;
        if (n && (parse_addr(s, n, &a) < 0 || !contains(t, &a)))
            break;
        end = c > xff ? c - 1 : xff;
    }
    if (!n) {
        name_of(p, strlen(p), out, len);
        return;
    }
    name_of(s, n, out, len);
}
