/* encoder.c - ESC/POS job encoder (see encoder.h for the contract). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qrencode.h>

#include "escpos/buf.h"
#include "escpos/encoder.h"

#define ESC 0x1B
#define GS 0x1D
#define FS 0x1C
#define LF 0x0A

/* Motion of one default line (1/6 inch) at 180 dpi, the smaller of the
 * two resolutions: an empty LF feeds at least this many dots. */
#define LINE_DOTS 30u
/* QR quiet zone, in modules (ISO/IEC 18004). */
#define QR_QUIET 4u
/* GS ( k store: pL + 256 pH <= 7092 on Epson, so 7089 data bytes. */
#define QR_NATIVE_MAX 7089u

struct kv_escpos {
    kv_buf *buf;
    const kv_profile *profile;
    kv_codepage cp;
    kv_escpos_status err;
    char errmsg[200];
    kv_transcode_stats stats;
    /* Tracked printer state; -1 = unknown (no ESC @ seen in this job). */
    int cur_cp;        /* ESC t number */
    int font, bold, ul, width, height, reverse, align, spacing;
    int bc_height, bc_module, bc_hri;
    int line_pending;  /* text sent since the last line end */
    uint8_t *scratch;  /* raster QR bitmap, reused between calls */
    size_t scratch_size;
};

const char *kv_escpos_strerror(kv_escpos_status s)
{
    switch (s) {
    case KV_ESCPOS_OK: return "ok";
    case KV_ESCPOS_E_NOMEM: return "out of memory";
    case KV_ESCPOS_E_FULL: return "print job too large";
    case KV_ESCPOS_E_ARG: return "invalid argument";
    case KV_ESCPOS_E_UNSUPPORTED: return "not supported by the printer profile";
    case KV_ESCPOS_E_QR_TOO_BIG: return "QR code does not fit";
    case KV_ESCPOS_E_BARCODE_DATA: return "invalid barcode data";
    case KV_ESCPOS_E_TOO_WIDE: return "image wider than the paper";
    }
    return "unknown encoder status";
}

static void state_unknown(kv_escpos *e)
{
    e->cur_cp = -1;
    e->font = e->bold = e->ul = e->width = e->height = e->reverse = -1;
    e->align = e->bc_height = e->bc_module = e->bc_hri = -1;
    e->spacing = -2;
    e->line_pending = 0;
}

/* The state ESC @ leaves (Epson power-on defaults). */
static void state_defaults(kv_escpos *e)
{
    e->font = KV_FONT_A;
    e->bold = 0;
    e->ul = 0;
    e->width = e->height = 1;
    e->reverse = 0;
    e->align = KV_ALIGN_LEFT;
    e->spacing = -1;
    e->bc_height = 162;
    e->bc_module = 3;
    e->bc_hri = KV_HRI_NONE;
    e->line_pending = 0;
}

__attribute__((format(printf, 3, 4)))
static kv_escpos_status fail(kv_escpos *e, kv_escpos_status s, const char *fmt, ...)
{
    if (e->err)
        return e->err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->errmsg, sizeof e->errmsg, fmt, ap);
    va_end(ap);
    e->err = s;
    return s;
}

kv_escpos_status kv_escpos_fail(kv_escpos *e, kv_escpos_status s, const char *fmt, ...)
{
    if (e->err)
        return e->err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->errmsg, sizeof e->errmsg, fmt, ap);
    va_end(ap);
    e->err = s;
    return s;
}

/* Map the buffer's sticky error into the encoder's. */
static kv_escpos_status check(kv_escpos *e)
{
    if (e->err)
        return e->err;
    switch (kv_buf_status_get(e->buf)) {
    case KV_BUF_OK: return KV_ESCPOS_OK;
    case KV_BUF_E_NOMEM: return fail(e, KV_ESCPOS_E_NOMEM, "out of memory");
    case KV_BUF_E_FULL:
        return fail(e, KV_ESCPOS_E_FULL, "print job exceeds %zu bytes", kv_buf_cap(e->buf));
    }
    return fail(e, KV_ESCPOS_E_NOMEM, "buffer error");
}

static void put2(kv_escpos *e, uint8_t a, uint8_t b)
{
    uint8_t *p = kv_buf_grow(e->buf, 2);
    if (p) { p[0] = a; p[1] = b; }
}

static void put3(kv_escpos *e, uint8_t a, uint8_t b, uint8_t c)
{
    uint8_t *p = kv_buf_grow(e->buf, 3);
    if (p) { p[0] = a; p[1] = b; p[2] = c; }
}

/* A mode command "c1 c2 n" (0 <= n <= 255) sent only when n differs from
 * the printer's current value *cur, which then becomes n. */
static kv_escpos_status set_mode(kv_escpos *e, int *cur, uint8_t c1, uint8_t c2, int n)
{
    if (*cur != n) {
        put3(e, c1, c2, (uint8_t)n);
        *cur = n;
    }
    return check(e);
}

kv_escpos_status kv_escpos_create(kv_escpos **out, const kv_escpos_options *opts)
{
    kv_escpos_options o = KV_ESCPOS_OPTIONS_INIT;
    if (opts)
        o = *opts;
    if (o.version != 1)
        return KV_ESCPOS_E_ARG;
    const kv_profile *p = o.profile ? o.profile : kv_profile_default();
    kv_codepage cp = p->codepage;
    if (o.codepage >= 0) {
        if (o.codepage >= KV_CP_COUNT)
            return KV_ESCPOS_E_ARG;
        cp = (kv_codepage)o.codepage;
    }
    if (kv_profile_codepage_number(p, cp) < 0)
        return KV_ESCPOS_E_UNSUPPORTED;
    kv_escpos *e = calloc(1, sizeof *e);
    if (!e)
        return KV_ESCPOS_E_NOMEM;
    e->buf = kv_buf_create(o.max_bytes);
    if (!e->buf) {
        free(e);
        return KV_ESCPOS_E_NOMEM;
    }
    e->profile = p;
    e->cp = cp;
    state_unknown(e);
    *out = e;
    return KV_ESCPOS_OK;
}

void kv_escpos_destroy(kv_escpos *e)
{
    if (!e)
        return;
    kv_buf_destroy(e->buf);
    free(e->scratch);
    free(e);
}

void kv_escpos_reset(kv_escpos *e)
{
    kv_buf_clear(e->buf);
    e->err = KV_ESCPOS_OK;
    e->errmsg[0] = '\0';
    e->stats.replaced = e->stats.stripped = 0;
    state_unknown(e);
}

const uint8_t *kv_escpos_data(const kv_escpos *e, size_t *len)
{
    *len = kv_buf_len(e->buf);
    return kv_buf_data(e->buf);
}

kv_escpos_status kv_escpos_status_get(const kv_escpos *e) { return e->err; }
const char *kv_escpos_errmsg(const kv_escpos *e) { return e->errmsg; }
const kv_profile *kv_escpos_profile(const kv_escpos *e) { return e->profile; }
kv_codepage kv_escpos_codepage(const kv_escpos *e) { return e->cp; }
const kv_transcode_stats *kv_escpos_text_stats(const kv_escpos *e) { return &e->stats; }

kv_escpos_status kv_escpos_raw(kv_escpos *e, const void *bytes, size_t n)
{
    if (e->err)
        return e->err;
    kv_buf_append(e->buf, bytes, n);
    /* Unknown content: forget what we knew about the printer. */
    state_unknown(e);
    return check(e);
}

kv_escpos_status kv_escpos_init(kv_escpos *e)
{
    if (e->err)
        return e->err;
    int n = kv_profile_codepage_number(e->profile, e->cp);
    static const uint8_t pro[] = { ESC, '@', FS, '.', ESC, 'R', 0, ESC, 't' };
    uint8_t *p = kv_buf_grow(e->buf, sizeof pro + 1);
    if (p) {
        memcpy(p, pro, sizeof pro);
        p[sizeof pro] = (uint8_t)n;
    }
    state_defaults(e);
    e->cur_cp = n;
    return check(e);
}

kv_escpos_status kv_escpos_codepage_select(kv_escpos *e, kv_codepage cp)
{
    if (e->err)
        return e->err;
    int n = kv_profile_codepage_number(e->profile, cp);
    if (n < 0)
        return fail(e, KV_ESCPOS_E_UNSUPPORTED, "profile %s has no code page %s",
                    e->profile->name, kv_codepage_name(cp));
    e->cp = cp;
    return set_mode(e, &e->cur_cp, ESC, 't', n);
}

/* ---- text ---------------------------------------------------------------- */

kv_escpos_status kv_escpos_text_n(kv_escpos *e, const char *utf8, size_t len)
{
    if (e->err)
        return e->err;
    if (!utf8 || !len)
        return KV_ESCPOS_OK;
    size_t before = kv_buf_len(e->buf);
    uint8_t *p = kv_buf_grow(e->buf, len);
    if (!p)
        return check(e);
    size_t n = kv_codepage_transcode(e->cp, p, utf8, len, &e->stats);
    kv_buf_truncate(e->buf, before + n);
    if (n)
        e->line_pending = 1;
    return KV_ESCPOS_OK;
}

kv_escpos_status kv_escpos_text(kv_escpos *e, const char *utf8)
{
    return kv_escpos_text_n(e, utf8, utf8 ? strlen(utf8) : 0);
}

kv_escpos_status kv_escpos_newline(kv_escpos *e)
{
    if (e->err)
        return e->err;
    kv_buf_put(e->buf, LF);
    e->line_pending = 0;
    return check(e);
}

kv_escpos_status kv_escpos_line(kv_escpos *e, const char *utf8)
{
    kv_escpos_text(e, utf8);
    return kv_escpos_newline(e);
}

/* ---- styles ---------------------------------------------------------------- */

kv_escpos_status kv_escpos_bold(kv_escpos *e, bool on)
{
    if (e->err)
        return e->err;
    return set_mode(e, &e->bold, ESC, 'E', on ? 1 : 0);
}

kv_escpos_status kv_escpos_underline(kv_escpos *e, unsigned dots)
{
    if (e->err)
        return e->err;
    if (dots > 2)
        return fail(e, KV_ESCPOS_E_ARG, "underline must be 0, 1 or 2 dots, not %u", dots);
    return set_mode(e, &e->ul, ESC, '-', (int)dots);
}

kv_escpos_status kv_escpos_reverse(kv_escpos *e, bool on)
{
    if (e->err)
        return e->err;
    return set_mode(e, &e->reverse, GS, 'B', on ? 1 : 0);
}

kv_escpos_status kv_escpos_font(kv_escpos *e, kv_font f)
{
    if (e->err)
        return e->err;
    if (f != KV_FONT_A && f != KV_FONT_B)
        return fail(e, KV_ESCPOS_E_ARG, "font must be A or B");
    return set_mode(e, &e->font, ESC, 'M', (int)f);
}

kv_escpos_status kv_escpos_size(kv_escpos *e, unsigned w, unsigned h)
{
    if (e->err)
        return e->err;
    if (w < 1 || w > 8 || h < 1 || h > 8)
        return fail(e, KV_ESCPOS_E_ARG, "character size must be 1..8, not %ux%u", w, h);
    if (e->width != (int)w || e->height != (int)h) {
        put3(e, GS, '!', (uint8_t)(((w - 1) << 4) | (h - 1)));
        e->width = (int)w;
        e->height = (int)h;
    }
    return check(e);
}

kv_escpos_status kv_escpos_style(kv_escpos *e, const kv_style *s)
{
    if (e->err)
        return e->err;
    unsigned w = s->width ? s->width : 1, h = s->height ? s->height : 1;
    if (w > 8 || h > 8 || s->underline > 2 || (s->font != KV_FONT_A && s->font != KV_FONT_B))
        return fail(e, KV_ESCPOS_E_ARG, "invalid text style");
    int changed = (e->font != (int)s->font) + (e->bold != (int)s->bold) +
                  (e->ul != (int)s->underline) +
                  (e->width != (int)w || e->height != (int)h);
    if (changed >= 2 && s->underline <= 1 && w <= 2 && h <= 2) {
        /* ESC ! sets all four at once: cheaper than two or more commands. */
        uint8_t n = (uint8_t)((s->font == KV_FONT_B ? 0x01 : 0) | (s->bold ? 0x08 : 0) |
                              (h == 2 ? 0x10 : 0) | (w == 2 ? 0x20 : 0) |
                              (s->underline ? 0x80 : 0));
        put3(e, ESC, '!', n);
        e->font = (int)s->font;
        e->bold = s->bold;
        e->ul = (int)s->underline;
        e->width = (int)w;
        e->height = (int)h;
        return check(e);
    }
    kv_escpos_font(e, s->font);
    kv_escpos_bold(e, s->bold);
    kv_escpos_underline(e, s->underline);
    return kv_escpos_size(e, w, h);
}

void kv_escpos_current_style(kv_style *out, const kv_escpos *e)
{
    out->font = e->font == KV_FONT_B ? KV_FONT_B : KV_FONT_A;
    out->bold = e->bold == 1;
    out->underline = e->ul > 0 ? (unsigned)e->ul : 0;
    out->width = e->width > 0 ? (unsigned)e->width : 1;
    out->height = e->height > 0 ? (unsigned)e->height : 1;
}

kv_escpos_status kv_escpos_align(kv_escpos *e, kv_align a)
{
    if (e->err)
        return e->err;
    if (a != KV_ALIGN_LEFT && a != KV_ALIGN_CENTER && a != KV_ALIGN_RIGHT)
        return fail(e, KV_ESCPOS_E_ARG, "invalid alignment");
    return set_mode(e, &e->align, ESC, 'a', (int)a);
}

kv_escpos_status kv_escpos_line_spacing(kv_escpos *e, int dots)
{
    if (e->err)
        return e->err;
    if (dots > 255)
        return fail(e, KV_ESCPOS_E_ARG, "line spacing must be 0..255, not %d", dots);
    if (dots < 0)
        dots = -1;
    if (e->spacing != dots) {
        if (dots < 0)
            put2(e, ESC, '2');
        else
            put3(e, ESC, '3', (uint8_t)dots);
        e->spacing = dots;
    }
    return check(e);
}

/* ---- paper ------------------------------------------------------------------ */

kv_escpos_status kv_escpos_feed_lines(kv_escpos *e, unsigned n)
{
    if (e->err)
        return e->err;
    if (n > 255)
        return fail(e, KV_ESCPOS_E_ARG, "feed must be 0..255 lines, not %u", n);
    put3(e, ESC, 'd', (uint8_t)n);
    e->line_pending = 0;
    return check(e);
}

kv_escpos_status kv_escpos_feed_dots(kv_escpos *e, unsigned n)
{
    if (e->err)
        return e->err;
    if (n > 255)
        return fail(e, KV_ESCPOS_E_ARG, "feed must be 0..255 units, not %u", n);
    put3(e, ESC, 'J', (uint8_t)n);
    e->line_pending = 0;
    return check(e);
}

kv_escpos_status kv_escpos_cut(kv_escpos *e, kv_cut kind)
{
    if (e->err)
        return e->err;
    if (kind != KV_CUT_PARTIAL && kind != KV_CUT_FULL)
        return fail(e, KV_ESCPOS_E_ARG, "invalid cut");
    const kv_profile *p = e->profile;
    if (p->cutter && p->cut_feed_b) {
        uint8_t *b = kv_buf_grow(e->buf, 4);
        if (b) {
            b[0] = GS; b[1] = 'V'; b[2] = kind == KV_CUT_FULL ? 65 : 66; b[3] = 0;
        }
    } else {
        put3(e, ESC, 'd', p->cut_feed_lines);
        if (p->cutter)
            put3(e, GS, 'V', kind == KV_CUT_FULL ? 0 : 1);
    }
    e->line_pending = 0;
    return check(e);
}

kv_escpos_status kv_escpos_drawer(kv_escpos *e, unsigned pin, unsigned on_ms, unsigned off_ms)
{
    if (e->err)
        return e->err;
    if (!e->profile->drawer)
        return fail(e, KV_ESCPOS_E_UNSUPPORTED, "profile %s has no cash drawer port",
                    e->profile->name);
    if (pin > 1 || on_ms == 0 || on_ms > 510 || off_ms > 510)
        return fail(e, KV_ESCPOS_E_ARG,
                    "drawer pulse: pin 0 or 1, on 1..510 ms, off 0..510 ms");
    uint8_t *b = kv_buf_grow(e->buf, 5);
    if (b) {
        b[0] = ESC; b[1] = 'p'; b[2] = (uint8_t)pin;
        b[3] = (uint8_t)((on_ms + 1) / 2);
        b[4] = (uint8_t)((off_ms + 1) / 2);
    }
    return check(e);
}

/* ---- barcodes -------------------------------------------------------------- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* CODE128 with code-set selection.  Writes the GS k 73 data into out and
 * the number of symbols (for the width estimate) into *nsym.  Returns the
 * length, or -1 when the data cannot be encoded. */
static int code128_data(uint8_t out[255], unsigned *nsym, const char *s)
{
    size_t n = strlen(s), o = 0;
    unsigned sym = 0;
    char set = 0;
    if (n == 0)
        return -1;
    int all_digits = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7E)
            return -1;
        if (!is_digit((char)c))
            all_digits = 0;
    }
    size_t i = 0;
    while (i < n) {
        size_t r = 0;
        while (i + r < n && is_digit(s[i + r]))
            r++;
        if (r >= 4 || (all_digits && r >= 2)) {
            if (r % 2) {   /* odd run: one digit in set B first */
                if (set != 'B') {
                    if (o + 2 > 255) return -1;
                    out[o++] = '{'; out[o++] = 'B';
                    if (set) sym++;
                    set = 'B';
                }
                if (o + 1 > 255) return -1;
                out[o++] = (uint8_t)s[i++];
                sym++;
                r--;
            }
            if (o + 2 > 255) return -1;
            out[o++] = '{'; out[o++] = 'C';
            if (set) sym++;
            set = 'C';
            for (; r; r -= 2, i += 2) {
                if (o + 1 > 255) return -1;
                out[o++] = (uint8_t)((s[i] - '0') * 10 + (s[i + 1] - '0'));
                sym++;
            }
            continue;
        }
        if (set != 'B') {
            if (o + 2 > 255) return -1;
            out[o++] = '{'; out[o++] = 'B';
            if (set) sym++;
            set = 'B';
        }
        if (s[i] == '{') {
            if (o + 2 > 255) return -1;
            out[o++] = '{'; out[o++] = '{';
        } else {
            if (o + 1 > 255) return -1;
            out[o++] = (uint8_t)s[i];
        }
        sym++;
        i++;
    }
    *nsym = sym;
    return (int)o;
}

kv_escpos_status kv_escpos_barcode(kv_escpos *e, kv_barcode type, const char *data,
                                   const kv_barcode_options *opts)
{
    if (e->err)
        return e->err;
    kv_barcode_options o = KV_BARCODE_OPTIONS_INIT;
    if (opts)
        o = *opts;
    unsigned height = o.height ? o.height : 80, module = o.module ? o.module : 2;
    if (height > 255 || module < 2 || module > 6 || (unsigned)o.hri > 3)
        return fail(e, KV_ESCPOS_E_ARG, "barcode height 1..255, module 2..6, hri 0..3");
    if (!e->profile->barcodes)
        return fail(e, KV_ESCPOS_E_UNSUPPORTED, "profile %s prints no barcodes",
                    e->profile->name);
    if (!data)
        return fail(e, KV_ESCPOS_E_BARCODE_DATA, "no barcode data");
    uint8_t d[255];
    int len = 0;
    unsigned modules = 0;
    uint8_t m;
    switch (type) {
    case KV_BARCODE_CODE128: {
        unsigned nsym = 0;
        len = code128_data(d, &nsym, data);
        if (len < 0)
            return fail(e, KV_ESCPOS_E_BARCODE_DATA,
                        "CODE128 takes 1..250 printable ASCII characters");
        /* start + symbols + check (11 modules each) + stop (13). */
        modules = 11 * (nsym + 2) + 13;
        m = 73;
        break;
    }
    case KV_BARCODE_EAN13: {
        size_t n = strlen(data);
        if (n != 12 && n != 13)
            return fail(e, KV_ESCPOS_E_BARCODE_DATA, "EAN-13 takes 12 or 13 digits");
        unsigned sum = 0;
        for (size_t i = 0; i < n; i++) {
            if (!is_digit(data[i]))
                return fail(e, KV_ESCPOS_E_BARCODE_DATA, "EAN-13 takes digits only");
            if (i < 12)
                sum += (unsigned)(data[i] - '0') * (i % 2 ? 3 : 1);
        }
        char check_digit = (char)('0' + (10 - sum % 10) % 10);
        if (n == 13 && data[12] != check_digit)
            return fail(e, KV_ESCPOS_E_BARCODE_DATA, "EAN-13 check digit is %c, not %c",
                        check_digit, data[12]);
        memcpy(d, data, 12);
        d[12] = (uint8_t)check_digit;
        len = 13;
        modules = 95;
        m = 67;
        break;
    }
    case KV_BARCODE_CODE39: {
        size_t n = strlen(data);
        if (n == 0 || n > 255)
            return fail(e, KV_ESCPOS_E_BARCODE_DATA, "CODE39 takes 1..255 characters");
        for (size_t i = 0; i < n; i++) {
            char c = data[i];
            if (c >= 'a' && c <= 'z')
                c = (char)(c - 'a' + 'A');
            if (!(is_digit(c) || (c >= 'A' && c <= 'Z') || strchr(" -.$/+%", c)) || c == 0)
                return fail(e, KV_ESCPOS_E_BARCODE_DATA,
                            "CODE39 takes 0-9, A-Z, space and - . $ / + %%");
            d[i] = (uint8_t)c;
        }
        len = (int)n;
        modules = 16 * ((unsigned)n + 2);   /* wide:narrow up to 3:1 */
        m = 69;
        break;
    }
    default:
        return fail(e, KV_ESCPOS_E_ARG, "unknown barcode type");
    }
    if (modules * module > e->profile->dots)
        return fail(e, KV_ESCPOS_E_TOO_WIDE,
                    "barcode of %u modules at %u dots is wider than %u dots",
                    modules, module, e->profile->dots);
    if (e->line_pending)
        kv_escpos_newline(e);
    if (e->bc_height != (int)height) {
        put3(e, GS, 'h', (uint8_t)height);
        e->bc_height = (int)height;
    }
    if (e->bc_module != (int)module) {
        put3(e, GS, 'w', (uint8_t)module);
        e->bc_module = (int)module;
    }
    if (e->bc_hri != (int)o.hri) {
        put3(e, GS, 'H', (uint8_t)o.hri);
        e->bc_hri = (int)o.hri;
    }
    uint8_t *b = kv_buf_grow(e->buf, 4 + (size_t)len);
    if (b) {
        b[0] = GS; b[1] = 'k'; b[2] = m; b[3] = (uint8_t)len;
        memcpy(b + 4, d, (size_t)len);
    }
    return check(e);
}

/* ---- raster ------------------------------------------------------------------ */

kv_escpos_status kv_escpos_raster(kv_escpos *e, const uint8_t *bits, unsigned width_bytes,
                                  unsigned height, kv_raster_scale scale)
{
    if (e->err)
        return e->err;
    if (!bits || width_bytes == 0 || height == 0 || width_bytes > 0xFFFF || (unsigned)scale > 3)
        return fail(e, KV_ESCPOS_E_ARG, "empty or invalid raster image");
    unsigned xmul = (scale & 1) ? 2 : 1;
    if ((unsigned long)width_bytes * 8 * xmul > e->profile->dots)
        return fail(e, KV_ESCPOS_E_TOO_WIDE, "image %u dots wide, the printer has %u",
                    width_bytes * 8 * xmul, e->profile->dots);
    if (e->line_pending)
        kv_escpos_newline(e);
    for (unsigned y = 0; y < height; y += KV_RASTER_BAND_ROWS) {
        unsigned rows = height - y < KV_RASTER_BAND_ROWS ? height - y : KV_RASTER_BAND_ROWS;
        size_t n = (size_t)width_bytes * rows;
        uint8_t *b = kv_buf_grow(e->buf, 8 + n);
        if (!b)
            break;
        b[0] = GS; b[1] = 'v'; b[2] = '0'; b[3] = (uint8_t)scale;
        b[4] = (uint8_t)(width_bytes & 0xFF); b[5] = (uint8_t)(width_bytes >> 8);
        b[6] = (uint8_t)(rows & 0xFF); b[7] = (uint8_t)(rows >> 8);
        memcpy(b + 8, bits + (size_t)y * width_bytes, n);
    }
    return check(e);
}

/* ---- QR -------------------------------------------------------------------- */

static QRcode *qr_encode(const void *data, size_t len, kv_qr_ec ec)
{
    static const QRecLevel levels[] = { QR_ECLEVEL_L, QR_ECLEVEL_M, QR_ECLEVEL_Q, QR_ECLEVEL_H };
    if (len == 0 || len > 7089 || (unsigned)ec > 3) {
        errno = ERANGE;
        return NULL;
    }
    errno = 0;   /* libqrencode reports ERANGE (too long) or ENOMEM */
    return QRcode_encodeData((int)len, (const unsigned char *)data, 0, levels[ec]);
}

kv_escpos_status kv_qr_symbol_width(unsigned *out, const void *data, size_t len, kv_qr_ec ec)
{
    (void)data; /* byte mode: the size depends on the length only */
    unsigned v = kv_qr_version_for(len, ec);
    if (!v)
        return KV_ESCPOS_E_QR_TOO_BIG;
    *out = 17 + 4 * v;
    return KV_ESCPOS_OK;
}

/* Blank feed of at least QR_QUIET modules. */
static void qr_quiet_feed(kv_escpos *e, unsigned module)
{
    unsigned dots = QR_QUIET * module;
    for (unsigned f = 0; f < dots; f += LINE_DOTS)
        kv_buf_put(e->buf, LF);
    e->line_pending = 0;
}

static void qr_fn(kv_escpos *e, uint8_t fn, uint8_t arg)
{
    static const uint8_t hdr[] = { GS, '(', 'k', 3, 0, '1' };
    uint8_t *b = kv_buf_grow(e->buf, 8);
    if (b) {
        memcpy(b, hdr, sizeof hdr);
        b[6] = fn;
        b[7] = arg;
    }
}

kv_escpos_status kv_escpos_qr(kv_escpos *e, const void *data, size_t len,
                              const kv_qr_options *opts)
{
    if (e->err)
        return e->err;
    kv_qr_options o = KV_QR_OPTIONS_INIT;
    if (opts)
        o = *opts;
    unsigned module = o.module ? o.module : 6;
    if (module > 16 || (unsigned)o.ec > 3 || (unsigned)o.mode > 2)
        return fail(e, KV_ESCPOS_E_ARG, "QR module must be 1..16 dots");
    if (!data || len == 0)
        return fail(e, KV_ESCPOS_E_ARG, "QR code without data");
    kv_qr_mode mode = o.mode;
    if (mode == KV_QR_AUTO)
        mode = e->profile->native_qr ? KV_QR_NATIVE : KV_QR_RASTER;
    if (mode == KV_QR_NATIVE && !e->profile->native_qr)
        return fail(e, KV_ESCPOS_E_UNSUPPORTED,
                    "profile %s has no native QR codes (use --qr raster)", e->profile->name);
    if (mode == KV_QR_NATIVE && len > QR_NATIVE_MAX)
        return fail(e, KV_ESCPOS_E_QR_TOO_BIG, "QR data of %zu bytes exceeds %u", len,
                    QR_NATIVE_MAX);

    /* Native: the printer draws the symbol, only its size is needed here
     * (from the capacity table).  Raster: encode it to draw it. */
    QRcode *q = NULL;
    unsigned w = 0;
    if (mode == KV_QR_NATIVE) {
        if (kv_qr_symbol_width(&w, data, len, o.ec) != KV_ESCPOS_OK)
            return fail(e, KV_ESCPOS_E_QR_TOO_BIG, "%zu bytes are too many for a QR code at EC %c",
                        len, "LMQH"[o.ec]);
    } else {
        q = qr_encode(data, len, o.ec);
        if (!q) {
            if (errno == ENOMEM)
                return fail(e, KV_ESCPOS_E_NOMEM, "out of memory");
            return fail(e, KV_ESCPOS_E_QR_TOO_BIG, "%zu bytes are too many for a QR code at EC %c",
                        len, "LMQH"[o.ec]);
        }
        w = (unsigned)q->width;
    }
    unsigned need = (w + 2 * QR_QUIET) * module;
    if (need > e->profile->dots) {
        if (q)
            QRcode_free(q);
        return fail(e, KV_ESCPOS_E_QR_TOO_BIG,
                    "QR code of %u modules at %u dots needs %u dots with its quiet zone; "
                    "%s prints %u", w, module, need, e->profile->name, e->profile->dots);
    }
    if (e->line_pending)
        kv_escpos_newline(e);
    qr_quiet_feed(e, module);
    if (mode == KV_QR_NATIVE) {
        static const uint8_t model2[] = { GS, '(', 'k', 4, 0, '1', 'A', '2', 0 };
        kv_buf_append(e->buf, model2, sizeof model2);
        qr_fn(e, 'C', (uint8_t)module);
        qr_fn(e, 'E', (uint8_t)('0' + o.ec));
        size_t pl = len + 3;
        uint8_t *b = kv_buf_grow(e->buf, 8 + len);
        if (b) {
            b[0] = GS; b[1] = '('; b[2] = 'k';
            b[3] = (uint8_t)(pl & 0xFF); b[4] = (uint8_t)(pl >> 8);
            b[5] = '1'; b[6] = 'P'; b[7] = '0';
            memcpy(b + 8, data, len);
        }
        qr_fn(e, 'Q', '0');
    } else {
        int compact = !o.no_compact && module % 2 == 0;
        unsigned dot = compact ? module / 2 : module;
        unsigned img = w * dot;
        unsigned wb = (img + 7) / 8;
        unsigned pad = (wb * 8 - img) / 2;   /* centre the symbol in its bytes */
        size_t size = (size_t)wb * img;
        if (size > e->scratch_size) {
            uint8_t *s = realloc(e->scratch, size);
            if (!s) {
                QRcode_free(q);
                return fail(e, KV_ESCPOS_E_NOMEM, "out of memory");
            }
            e->scratch = s;
            e->scratch_size = size;
        }
        memset(e->scratch, 0, size);
        for (unsigned my = 0; my < w; my++) {
            uint8_t *row = e->scratch + (size_t)my * dot * wb;
            for (unsigned mx = 0; mx < w; mx++) {
                if (!(q->data[my * w + mx] & 1))
                    continue;
                for (unsigned k = 0; k < dot; k++) {
                    unsigned x = pad + mx * dot + k;
                    row[x >> 3] |= (uint8_t)(0x80 >> (x & 7));
                }
            }
            for (unsigned k = 1; k < dot; k++)
                memcpy(row + (size_t)k * wb, row, wb);
        }
        QRcode_free(q);
        kv_escpos_raster(e, e->scratch, wb, img, compact ? KV_RASTER_QUADRUPLE : KV_RASTER_NORMAL);
    }
    qr_quiet_feed(e, module);
    return check(e);
}
