/* dump.c - ESC/POS disassembly as text lines or a JSON array. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escpos/codepage.h"
#include "escpos/decoder.h"
#include "escpos/dump.h"

typedef struct out {
    kv_write_fn write;
    void *ctx;
    char buf[16384];
    size_t n;
    int failed;
} out;

static void flush_out(out *o)
{
    if (o->n && !o->failed && o->write(o->ctx, o->buf, o->n) != 0)
        o->failed = 1;
    o->n = 0;
}

static void put(out *o, const char *s, size_t n)
{
    while (n) {
        if (o->n == sizeof o->buf)
            flush_out(o);
        size_t k = sizeof o->buf - o->n;
        if (k > n)
            k = n;
        memcpy(o->buf + o->n, s, k);
        o->n += k;
        s += k;
        n -= k;
    }
}

static void puts_(out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void putf(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(out *o, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void put_utf8(out *o, uint32_t u)
{
    char b[4];
    size_t n;
    if (u < 0x80) { b[0] = (char)u; n = 1; }
    else if (u < 0x800) { b[0] = (char)(0xC0 | u >> 6); b[1] = (char)(0x80 | (u & 0x3F)); n = 2; }
    else if (u < 0x10000) {
        b[0] = (char)(0xE0 | u >> 12); b[1] = (char)(0x80 | ((u >> 6) & 0x3F));
        b[2] = (char)(0x80 | (u & 0x3F)); n = 3;
    } else {
        b[0] = (char)(0xF0 | u >> 18); b[1] = (char)(0x80 | ((u >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((u >> 6) & 0x3F)); b[3] = (char)(0x80 | (u & 0x3F)); n = 4;
    }
    put(o, b, n);
}

/* Text bytes in the active page, quoted; the same escaping suits JSON. */
static void put_text(out *o, const uint8_t *s, size_t n, const kv_profile *prof, int page, int star)
{
    const kv_cptable *cp = kv_cptable_select(prof, page, star);
    int known = cp != NULL;
    put(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = s[i];
        if (b == '"' || b == '\\') {
            char e[2] = { '\\', (char)b };
            put(o, e, 2);
        } else if (b < 0x20 || b == 0x7F) {
            putf(o, "\\u%04x", b);
        } else if (b < 0x80) {
            put(o, (const char *)&b, 1);
        } else if (known) {
            uint32_t u = kv_cptable_to_unicode(cp, b);
            if (u < 0x20 || (u >= 0x7F && u < 0xA0))
                putf(o, "\\u%04x", (unsigned)u);
            else
                put_utf8(o, u);
        } else {
            putf(o, "\\\\x%02x", b);
        }
    }
    put(o, "\"", 1);
}

static void put_hex(out *o, const uint8_t *s, size_t n, size_t max, const char *sep)
{
    for (size_t i = 0; i < n && i < max; i++)
        putf(o, "%s%02x", i ? sep : "", s[i]);
    if (n > max)
        puts_(o, sep[0] ? " ..." : "...");
}

int kv_dump(const uint8_t *buf, size_t len, const kv_dump_opts *opts,
            kv_write_fn write, void *ctx, kv_dump_info *info)
{
    kv_dump_opts def = KV_DUMP_OPTS_INIT;
    if (!opts)
        opts = &def;
    const kv_profile *prof = opts->profile ? opts->profile : kv_profile_default();
    kv_dump_info inf;
    memset(&inf, 0, sizeof inf);

    /* first pass: where does the unprinted text start? */
    kv_dec *d;
    if (kv_dec_create(&d, buf, len) != KV_DEC_OK)
        return -2;
    kv_dec_cmd c;
    while (kv_dec_next(d, &c) == KV_DEC_OK)
        ;
    size_t unp_off = 0;
    size_t unp = kv_dec_unprinted(d, &unp_off);
    kv_dec_destroy(d);
    if (kv_dec_create(&d, buf, len) != KV_DEC_OK)
        return -2;

    out *o = malloc(sizeof *o);
    if (!o) {
        kv_dec_destroy(d);
        return -2;
    }
    o->write = write;
    o->ctx = ctx;
    o->n = 0;
    o->failed = 0;
    if (opts->json)
        puts_(o, "[");
    char params[256];
    while (!o->failed && kv_dec_next(d, &c) == KV_DEC_OK) {
        const kv_dec_state *st = kv_dec_state_get(d);
        int unprinted = unp && c.op == KV_OP_TEXT && c.offset >= unp_off;
        kv_dec_format_params(&c, params, sizeof params);
        if (opts->json) {
            puts_(o, inf.commands ? ",\n" : "\n");
            putf(o, "{\"offset\":%zu,\"length\":%zu,\"name\":\"%s\"", c.offset, c.length, c.name);
            if (c.mnemonic[0]) {
                puts_(o, ",\"cmd\":");
                put_text(o, (const uint8_t *)c.mnemonic, strlen(c.mnemonic), prof, 0, -1);
            }
            if (params[0]) {
                puts_(o, ",\"params\":");
                put_text(o, (const uint8_t *)params, strlen(params), prof, 0, -1);
            }
            if (c.op == KV_OP_TEXT) {
                puts_(o, ",\"text\":");
                put_text(o, c.data, c.datalen, prof, st->codepage, st->star_codepage);
                if (unprinted)
                    puts_(o, ",\"unprinted\":true");
            } else if (c.op == KV_OP_UNKNOWN || c.op == KV_OP_QR_STORE || c.op == KV_OP_BARCODE) {
                puts_(o, ",\"data\":\"");
                put_hex(o, c.data, c.datalen, 64, "");
                puts_(o, "\"");
            }
            puts_(o, "}");
        } else {
            putf(o, "%08zx  ", c.offset);
            char hex[64];
            size_t hn = 0;
            for (size_t i = 0; i < c.length && i < 12; i++)
                hn += (size_t)snprintf(hex + hn, sizeof hex - hn, "%s%02x", i ? " " : "", buf[c.offset + i]);
            if (c.length > 12)
                hn += (size_t)snprintf(hex + hn, sizeof hex - hn, " ..");
            putf(o, "%-38s %-8s %s", hex, c.mnemonic[0] ? c.mnemonic : "-", c.name);
            if (c.op == KV_OP_TEXT || params[0]) {
                /* pad the name column only when something follows */
                for (size_t k = strlen(c.name); k < 20; k++)
                    put(o, " ", 1);
            }
            if (c.op == KV_OP_TEXT) {
                put_text(o, c.data, c.datalen, prof, st->codepage, st->star_codepage);
                if (unprinted)
                    puts_(o, "  (unprinted)");
            } else {
                puts_(o, params);
                if (c.op == KV_OP_QR_STORE || c.op == KV_OP_BARCODE) {
                    puts_(o, " ");
                    put_text(o, c.data, c.datalen < 200 ? c.datalen : 200, prof, 0, -1);
                }
            }
            puts_(o, "\n");
        }
        inf.commands++;
        inf.bytes += c.length;
        if (c.op == KV_OP_UNKNOWN)
            inf.unknown++;
    }
    inf.unprinted = unp;
    if (opts->json) {
        puts_(o, inf.commands ? "\n]\n" : "]\n");
    } else if (unp) {
        putf(o, "# unprinted: %zu bytes of text at offset %zu were never printed (no LF after them)\n",
             unp, unp_off);
    }
    flush_out(o);
    int failed = o->failed;
    free(o);
    kv_dec_destroy(d);
    if (info)
        *info = inf;
    return failed ? -1 : 0;
}
