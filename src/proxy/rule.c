/* rule.c - when does a till's receipt ask for a Vipps payment, and for how
 * much: text lines of a decoded job, a regular expression with a named
 * amount group, and the amount formats of Norway, Denmark and Finland. */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escpos/codepage.h"
#include "escpos/decoder.h"
#include "src/proxy/proxy.h"

struct kv_proxy_rule {
    regex_t re;
    int group;               /* index of the amount group */
    kv_amount_format fmt;
    int64_t max_minor;
};

const char *kv_proxy_strerror(kv_proxy_status st)
{
    switch (st) {
    case KV_PROXY_OK: return "ok";
    case KV_PROXY_E_CONFIG: return "bad proxy configuration";
    case KV_PROXY_E_LISTEN: return "cannot listen where the till prints";
    case KV_PROXY_E_PRINTER: return "the printer cannot be reached";
    case KV_PROXY_E_NOMEM: return "out of memory";
    case KV_PROXY_E_JOURNAL: return "the held receipt cannot be journaled";
    case KV_PROXY_E_RULE: return "the rule found no usable payment";
    case KV_PROXY_E_ARG: return "invalid argument";
    }
    return "unknown proxy status";
}

/* ---- amounts ------------------------------------------------------------- */

#define SHORT_COMMA "[0-9]([0-9 .]*[0-9])?(,[0-9]+|,-)?"
#define SHORT_POINT "[0-9]([0-9 ,]*[0-9])?([.][0-9]+)?"

int kv_proxy_parse_amount(int64_t *minor, const char *text, kv_amount_format fmt, char *err,
                          size_t errlen)
{
    char dec = fmt == KV_AMOUNT_POINT ? '.' : ',';
    const char *seps = fmt == KV_AMOUNT_POINT ? ", '" : " .'";
    if (!text) {
        snprintf(err, errlen, "no amount");
        return -1;
    }
    while (*text == ' ')
        text++;
    size_t n = strlen(text);
    while (n && text[n - 1] == ' ')
        n--;
    if (n == 0 || n > 40) {
        snprintf(err, errlen, "amount '%.40s' is empty or too long", text);
        return -1;
    }
    char buf[48];
    memcpy(buf, text, n);
    buf[n] = '\0';
    int64_t frac = 0;
    char *d = strrchr(buf, dec);
    if (d) {
        const char *f = d + 1;
        if (strcmp(f, "-") == 0) {
            frac = 0;  /* "149,-": whole kroner */
        } else {
            size_t fl = strlen(f);
            if (fl < 1 || fl > 2 || !isdigit((unsigned char)f[0]) ||
                (fl == 2 && !isdigit((unsigned char)f[1]))) {
                snprintf(err, errlen, "amount '%s': the decimals must be one or two digits", buf);
                return -1;
            }
            frac = (f[0] - '0') * 10 + (fl == 2 ? f[1] - '0' : 0);
        }
        *d = '\0';
    }
    /* integer part: digits, optionally in groups of three after the first */
    int64_t whole = 0;
    int digits = 0, group = -1;
    char sep = 0;
    for (const char *p = buf; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            if (++digits > 12) {
                snprintf(err, errlen, "amount '%s' is too large", text);
                return -1;
            }
            whole = whole * 10 + (*p - '0');
            if (group >= 0)
                group++;
        } else if (strchr(seps, *p) && *p) {
            if ((sep && *p != sep) || digits == 0 || (group >= 0 && group != 3) ||
                (group < 0 && digits > 3)) {
                snprintf(err, errlen, "amount '%s': thousands separators out of place", text);
                return -1;
            }
            sep = *p;
            group = 0;
        } else {
            snprintf(err, errlen, "amount '%s': '%c' is not part of an amount", text, *p);
            return -1;
        }
    }
    if (group >= 0 && group != 3) {
        snprintf(err, errlen, "amount '%s': thousands separators out of place", text);
        return -1;
    }
    if (digits == 0) {
        snprintf(err, errlen, "amount '%s' is not a number in the %s format", text,
                 fmt == KV_AMOUNT_POINT ? "1,234.50" : "1 234,50");
        return -1;
    }
    *minor = whole * 100 + frac;
    return 0;
}

/* ---- compiling ------------------------------------------------------------- */

kv_proxy_status kv_proxy_rule_create(kv_proxy_rule **out, const char *pattern, kv_amount_format fmt,
                                     int64_t max_minor, char *err, size_t errlen)
{
    if (!out || !pattern || !*pattern) {
        snprintf(err, errlen, "match: no pattern; fix: e.g. match = ^VIPPS +{amount}$");
        return KV_PROXY_E_CONFIG;
    }
    size_t pl = strlen(pattern);
    char *re = malloc(pl * 2 + 128);
    if (!re)
        return KV_PROXY_E_NOMEM;
    size_t o = 0;
    int groups = 0, group = -1, in_bracket = 0;
    for (size_t i = 0; i < pl; i++) {
        char c = pattern[i];
        if (c == '\\' && i + 1 < pl) {
            re[o++] = c;
            re[o++] = pattern[++i];
            continue;
        }
        if (in_bracket) {
            if (c == ']')
                in_bracket = 0;
            re[o++] = c;
            continue;
        }
        if (c == '[') {
            in_bracket = 1;
            re[o++] = c;
            if (i + 1 < pl && pattern[i + 1] == '^')
                re[o++] = pattern[++i];
            if (i + 1 < pl && pattern[i + 1] == ']')
                re[o++] = pattern[++i];
            continue;
        }
        if (c == '(') {
            groups++;
            if (strncmp(pattern + i, "(?<amount>", 10) == 0) {
                if (group >= 0)
                    goto twice;
                group = groups;
                re[o++] = '(';
                i += 9;
                continue;
            }
            if (pattern[i + 1] == '?') {
                free(re);
                snprintf(err, errlen, "match: '(?' other than (?<amount>...) is not supported "
                         "(POSIX extended regular expressions)");
                return KV_PROXY_E_CONFIG;
            }
        }
        if (c == '{' && strncmp(pattern + i, "{amount}", 8) == 0) {
            if (group >= 0)
                goto twice;
            group = ++groups;
            const char *sh = fmt == KV_AMOUNT_POINT ? SHORT_POINT : SHORT_COMMA;
            re[o++] = '(';
            memcpy(re + o, sh, strlen(sh));
            o += strlen(sh);
            re[o++] = ')';
            groups += 2;  /* the shorthand's own two groups */
            i += 7;
            continue;
        }
        re[o++] = c;
    }
    re[o] = '\0';
    if (group < 0) {
        free(re);
        snprintf(err, errlen, "match: no amount group; fix: mark the amount with (?<amount>...) "
                 "or {amount}");
        return KV_PROXY_E_CONFIG;
    }
    kv_proxy_rule *r = calloc(1, sizeof *r);
    if (!r) {
        free(re);
        return KV_PROXY_E_NOMEM;
    }
    int rc = regcomp(&r->re, re, REG_EXTENDED);
    free(re);
    if (rc) {
        char m[128];
        regerror(rc, &r->re, m, sizeof m);
        free(r);
        snprintf(err, errlen, "match: %s; fix: write a POSIX extended regular expression", m);
        return KV_PROXY_E_CONFIG;
    }
    if (r->re.re_nsub < (size_t)group) {
        regfree(&r->re);
        free(r);
        snprintf(err, errlen, "match: the amount group could not be located");
        return KV_PROXY_E_CONFIG;
    }
    r->group = group;
    r->fmt = fmt;
    r->max_minor = max_minor;
    *out = r;
    return KV_PROXY_OK;
twice:
    free(re);
    snprintf(err, errlen, "match: more than one amount group");
    return KV_PROXY_E_CONFIG;
}

void kv_proxy_rule_destroy(kv_proxy_rule *r)
{
    if (!r)
        return;
    regfree(&r->re);
    free(r);
}

/* ---- text lines ------------------------------------------------------------ */

typedef struct linebuf {
    char s[1024];
    size_t n;
    int lineno;
    kv_proxy_line_fn fn;
    void *ctx;
    int stopped;
} linebuf;

static void put_cp(linebuf *b, uint32_t u)
{
    if (u == 0xA0 || u == 0x202F)
        u = ' ';  /* no-break spaces in amounts ("1 234,50") */
    if (u < 0x20 || u == 0x7F || (u >= 0x80 && u < 0xA0) || u == 0xFFFD)
        u = '?';
    char t[4];
    size_t k;
    if (u < 0x80) {
        t[0] = (char)u; k = 1;
    } else if (u < 0x800) {
        t[0] = (char)(0xC0 | (u >> 6)); t[1] = (char)(0x80 | (u & 0x3F)); k = 2;
    } else if (u < 0x10000) {
        t[0] = (char)(0xE0 | (u >> 12)); t[1] = (char)(0x80 | ((u >> 6) & 0x3F));
        t[2] = (char)(0x80 | (u & 0x3F)); k = 3;
    } else {
        t[0] = (char)(0xF0 | (u >> 18)); t[1] = (char)(0x80 | ((u >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((u >> 6) & 0x3F)); t[3] = (char)(0x80 | (u & 0x3F)); k = 4;
    }
    if (b->n + k < sizeof b->s) {
        memcpy(b->s + b->n, t, k);
        b->n += k;
    }
}

static void end_line(linebuf *b)
{
    if (b->n == 0 || b->stopped)
        return;
    b->s[b->n] = '\0';
    b->lineno++;
    if (b->fn(b->ctx, b->lineno, b->s))
        b->stopped = 1;
    b->n = 0;
}

int kv_proxy_text_lines(const kv_profile *profile, const uint8_t *job, size_t len,
                        kv_proxy_line_fn fn, void *ctx)
{
    kv_dec *d;
    if (!fn || kv_dec_create(&d, job, len) != KV_DEC_OK)
        return -1;
    linebuf *b = calloc(1, sizeof *b);
    if (!b) {
        kv_dec_destroy(d);
        return -1;
    }
    b->fn = fn;
    b->ctx = ctx;
    int bad = 0;
    kv_dec_cmd c;
    while (!b->stopped && kv_dec_next(d, &c) == KV_DEC_OK) {
        const kv_dec_state *st = kv_dec_state_get(d);
        switch (c.op) {
        case KV_OP_TEXT: {
            const kv_cptable *t = kv_cptable_select(profile, st->codepage, st->star_codepage);
            for (size_t i = 0; i < c.datalen; i++)
                put_cp(b, kv_cptable_to_unicode(t, c.data[i]));
            break;
        }
        case KV_OP_UNKNOWN: bad = 1; break;
        case KV_OP_HT:
        case KV_OP_ABS_POS:
        case KV_OP_REL_POS:
            if (b->n && b->s[b->n - 1] != ' ')
                put_cp(b, ' ');
            break;
        case KV_OP_LF: case KV_OP_FF: case KV_OP_FEED_LINES: case KV_OP_FEED_UNITS:
        case KV_OP_CUT: case KV_OP_CUT_LEGACY: case KV_OP_RASTER: case KV_OP_QR_PRINT:
        case KV_OP_BARCODE: case KV_OP_GRAPHICS_PRINT: case KV_OP_INIT: case KV_OP_PAGE_PRINT:
            end_line(b);
            break;
        default:
            break;
        }
    }
    if (kv_dec_unprinted(d, NULL))
        end_line(b);  /* the till's last line without LF still counts as text */
    free(b);
    kv_dec_destroy(d);
    return bad ? -1 : 0;
}

/* ---- evaluation ------------------------------------------------------------ */

struct eval {
    const kv_proxy_rule *r;
    kv_rule_result *out;
    char amount[64];
};

static int on_line(void *ctx, int lineno, const char *s)
{
    struct eval *e = ctx;
    regmatch_t m[16];
    size_t nm = e->r->re.re_nsub + 1 < 16 ? e->r->re.re_nsub + 1 : 16;
    if (regexec(&e->r->re, s, nm, m, 0) != 0)
        return 0;
    kv_rule_result *o = e->out;
    if (o->matches++ == 0) {
        o->line = lineno;
        snprintf(o->text, sizeof o->text, "%s", s);
        regmatch_t g = m[e->r->group];
        size_t gl = g.rm_so >= 0 ? (size_t)(g.rm_eo - g.rm_so) : 0;
        if (gl >= sizeof e->amount)
            gl = sizeof e->amount - 1;
        if (g.rm_so >= 0)
            memcpy(e->amount, s + g.rm_so, gl);
        e->amount[gl] = '\0';
    } else if (o->matches == 2) {
        snprintf(o->reason, sizeof o->reason, "the payment line appears twice (lines %d and %d)",
                 o->line, lineno);
    }
    return 0;
}

void kv_proxy_rule_eval(const kv_proxy_rule *r, const kv_profile *profile, const uint8_t *job,
                        size_t len, kv_rule_result *out)
{
    memset(out, 0, sizeof *out);
    if (!r || (!job && len))
        return;
    struct eval e = { r, out, "" };
    int dec = kv_proxy_text_lines(profile, job, len, on_line, &e);
    if (out->matches == 0)
        return;  /* not a payment */
    out->verdict = KV_RULE_BAD;
    if (out->matches > 1)
        return;  /* reason set by on_line */
    if (dec != 0) {
        snprintf(out->reason, sizeof out->reason,
                 "the receipt holds commands kvitt cannot decode, so its amount is not trusted");
        return;
    }
    char perr[160];
    if (kv_proxy_parse_amount(&out->amount_minor, e.amount, r->fmt, perr, sizeof perr) != 0) {
        snprintf(out->reason, sizeof out->reason, "%s", perr);
        return;
    }
    if (out->amount_minor <= 0) {
        snprintf(out->reason, sizeof out->reason, "the amount is zero");
        return;
    }
    if (r->max_minor > 0 && out->amount_minor > r->max_minor) {
        snprintf(out->reason, sizeof out->reason, "the amount %lld,%02lld is over the limit %lld,%02lld",
                 (long long)(out->amount_minor / 100), (long long)(out->amount_minor % 100),
                 (long long)(r->max_minor / 100), (long long)(r->max_minor % 100));
        return;
    }
    out->verdict = KV_RULE_PAY;
}
