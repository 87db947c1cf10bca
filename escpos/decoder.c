/*
 * decoder.c - ESC/POS command parser and printer state model.
 *
 * Argument lengths follow the Epson ESC/POS command reference as summarised
 * in the project's reference notes (docs: section 1 of escpos.md).  The
 * parser is one switch per prefix byte; every branch checks that its
 * arguments are inside the buffer before reading them, so a truncated or
 * hostile stream yields "unknown" commands, never an out-of-bounds read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escpos/decoder.h"

struct kv_dec {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    kv_dec_state st;
};

const char *kv_dec_strerror(kv_dec_status st)
{
    switch (st) {
    case KV_DEC_OK: return "ok";
    case KV_DEC_END: return "end of stream";
    case KV_DEC_E_NOMEM: return "out of memory";
    case KV_DEC_E_ARG: return "invalid argument";
    }
    return "unknown decoder status";
}

static const char *const op_names[] = {
#define KV_DEC_OP_NAME(op, name) name,
    KV_DEC_OPS(KV_DEC_OP_NAME)
#undef KV_DEC_OP_NAME
};

const char *kv_dec_op_name(kv_dec_op op)
{
    if ((unsigned)op >= (unsigned)KV_OP__COUNT)
        return "unknown";
    return op_names[op];
}

void kv_dec_state_reset(kv_dec_state *st)
{
    memset(st, 0, sizeof *st);
    st->star_codepage = -1;
    st->width_mul = 1;
    st->height_mul = 1;
    st->line_spacing = -1;
    st->print_width = -1;
    st->qr_model = 2;
    st->qr_module = 3;
    st->qr_ec = 0;
    st->bc_height = 162;
    st->bc_width = 3;
}

kv_dec_status kv_dec_create(kv_dec **out, const uint8_t *buf, size_t len)
{
    if (!out || (!buf && len))
        return KV_DEC_E_ARG;
    kv_dec *d = calloc(1, sizeof *d);
    if (!d)
        return KV_DEC_E_NOMEM;
    d->buf = buf;
    d->len = len;
    kv_dec_state_reset(&d->st);
    *out = d;
    return KV_DEC_OK;
}

void kv_dec_destroy(kv_dec *d)
{
    free(d);
}

const kv_dec_state *kv_dec_state_get(const kv_dec *d)
{
    return &d->st;
}

size_t kv_dec_unprinted(const kv_dec *d, size_t *offset)
{
    if (offset)
        *offset = d->st.line_offset;
    return d->st.line_bytes;
}

/* ---- helpers ------------------------------------------------------------ */

/* "0/48" style argument: 48.. are ASCII digit synonyms. */
static int digit(int n)
{
    return (n >= 48 && n <= 57) ? n - 48 : n;
}

static void set_cmd(kv_dec_cmd *c, kv_dec_op op, const char *mn, size_t len)
{
    c->op = op;
    c->name = op_names[op];
    c->mnemonic = mn;
    c->length = len;
}

static void p1(kv_dec_cmd *c, int a) { c->p[0] = a; c->np = 1; }
static void p2(kv_dec_cmd *c, int a, int b) { c->p[0] = a; c->p[1] = b; c->np = 2; }
static void p3(kv_dec_cmd *c, int a, int b, int e)
{
    c->p[0] = a; c->p[1] = b; c->p[2] = e; c->np = 3;
}

static void unknown(kv_dec_cmd *c, const uint8_t *at, size_t len, const char *note)
{
    set_cmd(c, KV_OP_UNKNOWN, "", len);
    c->data = at;
    c->datalen = len;
    c->note = note;
}

/* The line buffer is printed (and emptied). */
static void flush_line(kv_dec_state *st)
{
    st->line_bytes = 0;
}

/* ---- the parser ----------------------------------------------------------- */

/* Each parse_* returns 1 after filling c, 0 when the command is truncated
 * (the caller reports the rest of the stream as unknown). */

#define NEED(n) do { if (rem < (size_t)(n)) return 0; } while (0)

static int parse_esc(kv_dec *d, kv_dec_cmd *c, const uint8_t *s, size_t rem)
{
    kv_dec_state *st = &d->st;
    NEED(2);
    int x = s[1];
    switch (x) {
    case 0x0C: set_cmd(c, KV_OP_PAGE_PRINT, "ESC FF", 2); return 1;
    case ' ': NEED(3); set_cmd(c, KV_OP_CHAR_SPACING, "ESC SP", 3); p1(c, s[2]);
        st->char_spacing = s[2]; return 1;
    case '!': {
        NEED(3); set_cmd(c, KV_OP_PRINT_MODE, "ESC !", 3); p1(c, s[2]);
        int n = s[2];
        st->font = n & 1;
        st->bold = (n >> 3) & 1;
        st->height_mul = (n & 0x10) ? 2 : 1;
        st->width_mul = (n & 0x20) ? 2 : 1;
        st->underline = (n & 0x80) ? 1 : 0;
        return 1;
    }
    case '$': NEED(4); set_cmd(c, KV_OP_ABS_POS, "ESC $", 4); p1(c, s[2] | s[3] << 8); return 1;
    case '%': NEED(3); set_cmd(c, KV_OP_USER_CHARSET, "ESC %", 3); p1(c, s[2] & 1); return 1;
    case '&': {
        /* ESC & y c1 c2 [x d1..d(y*x)] for each c1..c2 */
        NEED(5);
        int y = s[2], c1 = s[3], c2 = s[4];
        size_t n = 5;
        if (c2 >= c1) {
            for (int ch = c1; ch <= c2; ch++) {
                NEED(n + 1);
                size_t k = (size_t)y * s[n];
                n += 1 + k;
                NEED(n);
            }
        }
        set_cmd(c, KV_OP_USER_CHARS, "ESC &", n); p3(c, y, c1, c2);
        c->data = s + 5; c->datalen = n - 5;
        return 1;
    }
    case '(': {
        NEED(5);
        size_t k = (size_t)s[3] | (size_t)s[4] << 8;
        NEED(5 + k);
        set_cmd(c, s[2] == 'A' ? KV_OP_BUZZER : KV_OP_EXTENDED, "ESC (", 5 + k);
        p1(c, s[2]); c->data = s + 5; c->datalen = k;
        return 1;
    }
    case '*': {
        NEED(5);
        int m = s[2];
        size_t cols = (size_t)s[3] | (size_t)s[4] << 8;
        size_t bpc = (m & 0x20) ? 3 : 1;
        NEED(5 + cols * bpc);
        set_cmd(c, KV_OP_COLUMN_IMAGE, "ESC *", 5 + cols * bpc);
        p2(c, m, (int)cols);
        c->data = s + 5; c->datalen = cols * bpc;
        c->width = (int)cols; c->height = (int)bpc * 8;
        return 1;
    }
    case '-': NEED(3); set_cmd(c, KV_OP_UNDERLINE, "ESC -", 3);
        st->underline = digit(s[2]) > 2 ? 0 : digit(s[2]); p1(c, st->underline); return 1;
    case '2': set_cmd(c, KV_OP_LINE_SPACING_DEFAULT, "ESC 2", 2); st->line_spacing = -1; return 1;
    case '3': NEED(3); set_cmd(c, KV_OP_LINE_SPACING, "ESC 3", 3); p1(c, s[2]);
        st->line_spacing = s[2]; return 1;
    case '4': NEED(3); set_cmd(c, KV_OP_ITALIC, "ESC 4", 3); p1(c, s[2] & 1); return 1;
    case '=': NEED(3); set_cmd(c, KV_OP_PERIPHERAL, "ESC =", 3); p1(c, s[2]); return 1;
    case '?': NEED(3); set_cmd(c, KV_OP_USER_CHAR_DEL, "ESC ?", 3); p1(c, s[2]); return 1;
    case '@': {
        set_cmd(c, KV_OP_INIT, "ESC @", 2);
        kv_dec_state_reset(st);
        return 1;
    }
    /* ESC B n t: buzzer, n beeps of t x 50 ms (Xprinter/HPRT class,
     * python-escpos buzzer()); not in Epson's set */
    case 'B': NEED(4); set_cmd(c, KV_OP_BUZZER, "ESC B", 4); p2(c, s[2], s[3]); return 1;
    case 'D': {
        /* up to 32 stops then NUL */
        size_t i = 2;
        while (i < rem && i < 2 + 32 && s[i] != 0)
            i++;
        if (i >= rem)
            return 0;
        size_t n = (s[i] == 0) ? i + 1 : i;
        set_cmd(c, KV_OP_TABS, "ESC D", n);
        c->data = s + 2; c->datalen = i - 2;
        p1(c, (int)c->datalen);
        return 1;
    }
    case 'E': NEED(3); set_cmd(c, KV_OP_BOLD, "ESC E", 3); st->bold = s[2] & 1; p1(c, st->bold); return 1;
    case 'G': NEED(3); set_cmd(c, KV_OP_DSTRIKE, "ESC G", 3); st->dstrike = s[2] & 1; p1(c, st->dstrike); return 1;
    case 'J': NEED(3); set_cmd(c, KV_OP_FEED_UNITS, "ESC J", 3); p1(c, s[2]); flush_line(st); return 1;
    case 'K': NEED(3); set_cmd(c, KV_OP_REVERSE_FEED, "ESC K", 3); p2(c, s[2], 1); return 1;
    case 'L': set_cmd(c, KV_OP_PAGE_MODE, "ESC L", 2); st->page_mode = 1; return 1;
    case 'M': NEED(3); set_cmd(c, KV_OP_FONT, "ESC M", 3);
        st->font = digit(s[2]) <= 4 ? digit(s[2]) : 0; p1(c, st->font); return 1;
    case 'R': NEED(3); set_cmd(c, KV_OP_INTL, "ESC R", 3); st->intl = s[2]; p1(c, s[2]); return 1;
    case 'S': set_cmd(c, KV_OP_STANDARD_MODE, "ESC S", 2); st->page_mode = 0; return 1;
    case 'T': NEED(3); set_cmd(c, KV_OP_PAGE_DIR, "ESC T", 3); p1(c, digit(s[2])); return 1;
    case 'U': NEED(3); set_cmd(c, KV_OP_UNIDIR, "ESC U", 3); p1(c, s[2] & 1); return 1;
    case 'V': NEED(3); set_cmd(c, KV_OP_ROTATE, "ESC V", 3); st->rotate = digit(s[2]); p1(c, st->rotate); return 1;
    case 'W': {
        NEED(10); set_cmd(c, KV_OP_PAGE_AREA, "ESC W", 10);
        c->p[0] = s[2] | s[3] << 8; c->p[1] = s[4] | s[5] << 8;
        c->p[2] = s[6] | s[7] << 8; c->p[3] = s[8] | s[9] << 8; c->np = 4;
        return 1;
    }
    case '\\': {
        NEED(4); set_cmd(c, KV_OP_REL_POS, "ESC \\", 4);
        p1(c, (int16_t)(uint16_t)(s[2] | s[3] << 8)); return 1;
    }
    case 'a': NEED(3); set_cmd(c, KV_OP_ALIGN, "ESC a", 3);
        st->align = digit(s[2]) <= 2 ? digit(s[2]) : 0; p1(c, st->align); return 1;
    case 'c': NEED(4); set_cmd(c, KV_OP_PAPER_SENSOR, "ESC c", 4); p2(c, s[2], s[3]); return 1;
    case 'd': NEED(3); set_cmd(c, KV_OP_FEED_LINES, "ESC d", 3); p1(c, s[2]); flush_line(st); return 1;
    case 'e': NEED(3); set_cmd(c, KV_OP_REVERSE_FEED, "ESC e", 3); p2(c, s[2], 0); flush_line(st); return 1;
    case 'i': set_cmd(c, KV_OP_CUT_LEGACY, "ESC i", 2); p1(c, 0); return 1;
    case 'm': set_cmd(c, KV_OP_CUT_LEGACY, "ESC m", 2); p1(c, 1); return 1;
    case 'p': NEED(5); set_cmd(c, KV_OP_PULSE, "ESC p", 5);
        p3(c, digit(s[2]) & 1, s[3] * 2, s[4] * 2); return 1;
    case 'r': NEED(3); set_cmd(c, KV_OP_COLOR, "ESC r", 3); p1(c, digit(s[2])); return 1;
    case 't': NEED(3); set_cmd(c, KV_OP_CODEPAGE, "ESC t", 3); st->codepage = s[2]; p1(c, s[2]); return 1;
    case 'u': NEED(3); set_cmd(c, KV_OP_STATUS_ESC, "ESC u", 3); p1(c, s[2]); return 1;
    case 'v': set_cmd(c, KV_OP_STATUS_ESC, "ESC v", 2); p1(c, -1); return 1;
    case '{': NEED(3); set_cmd(c, KV_OP_UPSIDE_DOWN, "ESC {", 3); st->upside_down = s[2] & 1; p1(c, st->upside_down); return 1;
    case 0x1D:
        /* ESC GS t n: Star code page (ESC/POS emulation) */
        NEED(3);
        if (s[2] == 't') {
            NEED(4); set_cmd(c, KV_OP_STAR_CODEPAGE, "ESC GS t", 4);
            st->star_codepage = s[3]; p1(c, s[3]); return 1;
        }
        unknown(c, s, 3, "unknown ESC GS command");
        return 1;
    default:
        unknown(c, s, 2, "unknown ESC command");
        return 1;
    }
}

static void apply_qr(kv_dec_state *st, kv_dec_cmd *c, const uint8_t *s, size_t k)
{
    /* s points at cn, k = bytes from cn on (>= 2 here) */
    int cn = s[0], fn = s[1];
    c->data = s + 2; c->datalen = k - 2;
    if (cn != 49) {
        set_cmd(c, KV_OP_SYMBOL_2D, c->mnemonic, c->length); p2(c, cn, fn);
        return;
    }
    switch (fn) {
    case 65:
        if (k >= 3) {
            int m = s[2] == 49 ? 1 : s[2] == 51 ? 3 : 2;
            st->qr_model = m;
        }
        c->op = KV_OP_QR_MODEL; p1(c, st->qr_model); break;
    case 67:
        if (k >= 3 && s[2] >= 1 && s[2] <= 16)
            st->qr_module = s[2];
        c->op = KV_OP_QR_SIZE; p1(c, k >= 3 ? s[2] : st->qr_module); break;
    case 69:
        if (k >= 3 && s[2] >= 48 && s[2] <= 51)
            st->qr_ec = s[2] - 48;
        c->op = KV_OP_QR_EC; p1(c, st->qr_ec); break;
    case 80:
        if (k >= 3) {
            st->qr_data = s + 3; st->qr_len = k - 3;
            c->data = s + 3; c->datalen = k - 3;
        }
        c->op = KV_OP_QR_STORE; p1(c, (int)c->datalen); break;
    case 81: c->op = KV_OP_QR_PRINT; flush_line(st); c->np = 0; break;
    case 82: c->op = KV_OP_QR_INFO; c->np = 0; break;
    default: c->op = KV_OP_SYMBOL_2D; p2(c, cn, fn); break;
    }
    c->name = op_names[c->op];
}

/* GS ( L / GS 8 L body: s at m, k bytes (m fn ...). */
static void apply_graphics(kv_dec_state *st, kv_dec_cmd *c, const uint8_t *s, size_t k)
{
    c->data = s; c->datalen = k;
    if (k < 2) {
        c->op = KV_OP_GRAPHICS_OTHER; p1(c, -1);
        c->name = op_names[c->op];
        return;
    }
    int fn = s[1];
    if ((fn == 112 || fn == 113) && k >= 10) {
        /* m fn a bx by c xL xH yL yH d... */
        int w = s[6] | s[7] << 8, h = s[8] | s[9] << 8;
        size_t rowbytes = ((size_t)w + 7) / 8;
        c->op = KV_OP_GRAPHICS_STORE;
        p3(c, s[3], s[4], s[5]);
        c->p[3] = s[2]; c->np = 4;
        c->width = w; c->height = h;
        c->data = s + 10; c->datalen = k - 10;
        if (rowbytes * (size_t)h > k - 10 || fn == 113) {
            /* not enough data for the rows: keep, but note it */
            c->note = fn == 113 ? "column format graphics" : "graphics data shorter than width x height";
        }
    } else if (fn == 50 || fn == 2) {
        c->op = KV_OP_GRAPHICS_PRINT; c->np = 0; c->data = NULL; c->datalen = 0;
        flush_line(st);
    } else {
        c->op = KV_OP_GRAPHICS_OTHER; p1(c, fn);
        c->data = s + 2; c->datalen = k - 2;
    }
    c->name = op_names[c->op];
}

static int barcode_fn_a_known(int m) { return m <= 6; }

static int parse_gs(kv_dec *d, kv_dec_cmd *c, const uint8_t *s, size_t rem)
{
    kv_dec_state *st = &d->st;
    NEED(2);
    int x = s[1];
    switch (x) {
    case '!': {
        NEED(3); set_cmd(c, KV_OP_SIZE, "GS !", 3);
        int w = ((s[2] >> 4) & 7) + 1, h = (s[2] & 7) + 1;
        st->width_mul = w; st->height_mul = h;
        p2(c, w, h); return 1;
    }
    case '$': NEED(4); set_cmd(c, KV_OP_PAGE_VPOS, "GS $", 4); p1(c, s[2] | s[3] << 8); return 1;
    case '\\': NEED(4); set_cmd(c, KV_OP_PAGE_VPOS, "GS \\", 4);
        p1(c, (int16_t)(uint16_t)(s[2] | s[3] << 8)); return 1;
    case '(': {
        NEED(5);
        size_t k = (size_t)s[3] | (size_t)s[4] << 8;
        NEED(5 + k);
        int fam = s[2];
        if (fam == 'k') {
            set_cmd(c, KV_OP_SYMBOL_2D, "GS ( k", 5 + k);
            if (k >= 2) {
                apply_qr(st, c, s + 5, k);
            } else {
                p1(c, -1); c->data = s + 5; c->datalen = k;
                c->note = "too short";
            }
        } else if (fam == 'L') {
            set_cmd(c, KV_OP_GRAPHICS_OTHER, "GS ( L", 5 + k);
            apply_graphics(st, c, s + 5, k);
        } else if (fam == 'A') {
            set_cmd(c, KV_OP_BUZZER, "GS ( A", 5 + k); p1(c, fam);
            c->data = s + 5; c->datalen = k;
        } else {
            set_cmd(c, KV_OP_EXTENDED, "GS (", 5 + k); p1(c, fam);
            c->data = s + 5; c->datalen = k;
        }
        return 1;
    }
    case '*': {
        NEED(4);
        size_t k = (size_t)s[2] * s[3] * 8;
        NEED(4 + k);
        set_cmd(c, KV_OP_DOWNLOAD_IMAGE, "GS *", 4 + k); p2(c, s[2], s[3]);
        c->data = s + 4; c->datalen = k;
        c->width = s[2] * 8; c->height = s[3] * 8;
        return 1;
    }
    case '/': NEED(3); set_cmd(c, KV_OP_DOWNLOAD_PRINT, "GS /", 3); p1(c, digit(s[2])); flush_line(st); return 1;
    case ':': set_cmd(c, KV_OP_MACRO, "GS :", 2); c->np = 0; return 1;
    case '^': NEED(5); set_cmd(c, KV_OP_MACRO, "GS ^", 5); p3(c, s[2], s[3], s[4]); return 1;
    case '8': {
        NEED(3);
        if (s[2] != 'L') {
            unknown(c, s, 3, "unknown GS 8 command");
            return 1;
        }
        NEED(7);
        uint64_t k = (uint64_t)s[3] | (uint64_t)s[4] << 8 | (uint64_t)s[5] << 16 | (uint64_t)s[6] << 24;
        if (k > rem - 7)
            return 0;
        set_cmd(c, KV_OP_GRAPHICS_OTHER, "GS 8 L", 7 + (size_t)k);
        apply_graphics(st, c, s + 7, (size_t)k);
        return 1;
    }
    case 'B': NEED(3); set_cmd(c, KV_OP_REVERSE, "GS B", 3); st->reverse = s[2] & 1; p1(c, st->reverse); return 1;
    case 'C': {
        /* GS C 0 n m / GS C 1 aL aH bL bH n r / GS C 2 nL nH / GS C ; ... (rare) */
        NEED(3);
        int f = s[2];
        size_t n = f == '0' ? 5 : f == '1' ? 9 : f == '2' ? 5 : 0;
        if (!n) { unknown(c, s, 3, "unknown GS C command"); return 1; }
        NEED(n); set_cmd(c, KV_OP_COUNTER, "GS C", n); p1(c, f); return 1;
    }
    case 'E': NEED(3); set_cmd(c, KV_OP_SETTING, "GS E", 3); p1(c, s[2]); return 1;
    case 'H': NEED(3); set_cmd(c, KV_OP_BC_HRI, "GS H", 3);
        st->bc_hri = digit(s[2]) & 3; p1(c, st->bc_hri); return 1;
    case 'I': NEED(3); set_cmd(c, KV_OP_PRINTER_ID, "GS I", 3); p1(c, s[2]); return 1;
    case 'L': NEED(4); set_cmd(c, KV_OP_LEFT_MARGIN, "GS L", 4);
        st->left_margin = s[2] | s[3] << 8; p1(c, st->left_margin); return 1;
    case 'P': NEED(4); set_cmd(c, KV_OP_MOTION_UNITS, "GS P", 4); p2(c, s[2], s[3]); return 1;
    case 'T': NEED(3); set_cmd(c, KV_OP_LINE_START, "GS T", 3); p1(c, digit(s[2])); return 1;
    case 'V': {
        NEED(3);
        int m = s[2];
        if (m == 0 || m == 1 || m == 48 || m == 49) {
            set_cmd(c, KV_OP_CUT, "GS V", 3); p3(c, m, digit(m) & 1, -1);
            return 1;
        }
        if (m == 65 || m == 66 || m == 97 || m == 98 || m == 103 || m == 104) {
            NEED(4); set_cmd(c, KV_OP_CUT, "GS V", 4);
            p3(c, m, (m == 66 || m == 98 || m == 104) ? 1 : 0, s[3]);
            return 1;
        }
        unknown(c, s, 3, "GS V with an invalid mode");
        return 1;
    }
    case 'W': NEED(4); set_cmd(c, KV_OP_PRINT_WIDTH, "GS W", 4);
        st->print_width = s[2] | s[3] << 8; p1(c, st->print_width); return 1;
    case 'a': NEED(3); set_cmd(c, KV_OP_ASB, "GS a", 3); p1(c, s[2]); return 1;
    case 'b': NEED(3); set_cmd(c, KV_OP_SMOOTH, "GS b", 3); p1(c, s[2] & 1); return 1;
    case 'c': set_cmd(c, KV_OP_COUNTER, "GS c", 2); c->np = 0; return 1;
    case 'f': NEED(3); set_cmd(c, KV_OP_BC_HRI_FONT, "GS f", 3);
        st->bc_hri_font = digit(s[2]); p1(c, st->bc_hri_font); return 1;
    case 'g': NEED(6); set_cmd(c, KV_OP_COUNTER, "GS g", 6); p2(c, s[2], s[3]); return 1;
    case 'h': NEED(3); set_cmd(c, KV_OP_BC_HEIGHT, "GS h", 3);
        if (s[2]) st->bc_height = s[2];
        p1(c, s[2]); return 1;
    case 'k': {
        NEED(3);
        int m = s[2];
        if (barcode_fn_a_known(m)) {
            size_t i = 3;
            while (i < rem && i < 3 + 256 && s[i] != 0)
                i++;
            if (i >= rem || s[i] != 0) {
                if (i >= rem)
                    return 0;
                unknown(c, s, 3, "GS k function A without NUL");
                return 1;
            }
            set_cmd(c, KV_OP_BARCODE, "GS k", i + 1); p2(c, m + 65, 0);
            c->data = s + 3; c->datalen = i - 3;
        } else if (m >= 65 && m <= 79) {
            NEED(4);
            size_t n = s[3];
            NEED(4 + n);
            set_cmd(c, KV_OP_BARCODE, "GS k", 4 + n); p2(c, m, 1);
            c->data = s + 4; c->datalen = n;
        } else {
            unknown(c, s, 3, "GS k with an unknown barcode system");
            return 1;
        }
        flush_line(st);
        return 1;
    }
    case 'r': NEED(3); set_cmd(c, KV_OP_STATUS, "GS r", 3); p1(c, digit(s[2])); return 1;
    case 'v': {
        NEED(3);
        if (s[2] != '0') {
            unknown(c, s, 3, "unknown GS v command");
            return 1;
        }
        NEED(8);
        int m = digit(s[3]);
        size_t xb = (size_t)s[4] | (size_t)s[5] << 8;
        size_t y = (size_t)s[6] | (size_t)s[7] << 8;
        size_t k = xb * y;
        NEED(8 + k);
        set_cmd(c, KV_OP_RASTER, "GS v 0", 8 + k); p1(c, m & 3);
        c->width = (int)(xb * 8); c->height = (int)y;
        c->data = s + 8; c->datalen = k;
        flush_line(st);
        return 1;
    }
    case 'w': NEED(3); set_cmd(c, KV_OP_BC_WIDTH, "GS w", 3);
        if (s[2] >= 1 && s[2] <= 6) st->bc_width = s[2];
        else if (s[2] >= 68 && s[2] <= 76) st->bc_width = s[2] - 66;
        p1(c, s[2]); return 1;
    case 'z': NEED(5); set_cmd(c, KV_OP_SETTING, "GS z", 5); p3(c, s[2], s[3], s[4]); return 1;
    case '|': NEED(3); set_cmd(c, KV_OP_DENSITY, "GS |", 3); p1(c, s[2]); return 1;
    default:
        unknown(c, s, 2, "unknown GS command");
        return 1;
    }
}

static int parse_fs(kv_dec *d, kv_dec_cmd *c, const uint8_t *s, size_t rem)
{
    kv_dec_state *st = &d->st;
    NEED(2);
    switch (s[1]) {
    case '!': NEED(3); set_cmd(c, KV_OP_KANJI_MODE, "FS !", 3); p1(c, s[2]); return 1;
    case '&': set_cmd(c, KV_OP_KANJI_ON, "FS &", 2); st->kanji = 1; return 1;
    case '-': NEED(3); set_cmd(c, KV_OP_KANJI_MODE, "FS -", 3); p1(c, s[2]); return 1;
    case '.': set_cmd(c, KV_OP_CANCEL_KANJI, "FS .", 2); st->kanji = 0; return 1;
    case '2': NEED(4 + 72); set_cmd(c, KV_OP_KANJI_DEFINE, "FS 2", 76); p2(c, s[2], s[3]);
        c->data = s + 4; c->datalen = 72; return 1;
    case 'C': NEED(3); set_cmd(c, KV_OP_KANJI_MODE, "FS C", 3); p1(c, s[2]); return 1;
    case 'S': NEED(4); set_cmd(c, KV_OP_KANJI_MODE, "FS S", 4); p2(c, s[2], s[3]); return 1;
    case 'W': NEED(3); set_cmd(c, KV_OP_KANJI_MODE, "FS W", 3); p1(c, s[2]); return 1;
    case 'p': NEED(4); set_cmd(c, KV_OP_NV_IMAGE_PRINT, "FS p", 4); p2(c, s[2], s[3]);
        flush_line(st); return 1;
    case 'q': {
        NEED(3);
        int n = s[2];
        size_t i = 3;
        for (int j = 0; j < n; j++) {
            NEED(i + 4);
            size_t k = ((size_t)s[i] | (size_t)s[i + 1] << 8) *
                       ((size_t)s[i + 2] | (size_t)s[i + 3] << 8) * 8;
            i += 4 + k;
            NEED(i);
        }
        set_cmd(c, KV_OP_NV_IMAGE_DEFINE, "FS q", i); p1(c, n);
        c->data = s + 3; c->datalen = i - 3;
        return 1;
    }
    case '(': {
        NEED(5);
        size_t k = (size_t)s[3] | (size_t)s[4] << 8;
        NEED(5 + k);
        set_cmd(c, KV_OP_EXTENDED, "FS (", 5 + k); p1(c, s[2]);
        c->data = s + 5; c->datalen = k;
        return 1;
    }
    default:
        unknown(c, s, 2, "unknown FS command");
        return 1;
    }
}

static int parse_dle(kv_dec *d, kv_dec_cmd *c, const uint8_t *s, size_t rem)
{
    (void)d;
    NEED(2);
    switch (s[1]) {
    case 0x04: {
        NEED(3);
        int n = s[2];
        if (n == 7 || n == 8 || n == 18) {
            NEED(4); set_cmd(c, KV_OP_STATUS_RT, "DLE EOT", 4); p2(c, n, s[3]);
        } else {
            set_cmd(c, KV_OP_STATUS_RT, "DLE EOT", 3); p2(c, n, -1);
        }
        return 1;
    }
    case 0x05: NEED(3); set_cmd(c, KV_OP_RECOVER_RT, "DLE ENQ", 3); p1(c, s[2]); return 1;
    case 0x14: {
        NEED(3);
        int fn = s[2];
        size_t n = (fn == 1 || fn == 2 || fn == 3 || fn == 5) ? 5 : fn == 7 ? 4 : fn == 8 ? 9 : 0;
        if (!n) { unknown(c, s, 3, "unknown DLE DC4 function"); return 1; }
        NEED(n); set_cmd(c, KV_OP_PULSE_RT, "DLE DC4", n);
        p3(c, fn, s[3], n > 4 ? s[4] : -1);
        return 1;
    }
    default:
        unknown(c, s, 2, "unknown DLE command");
        return 1;
    }
}

kv_dec_status kv_dec_next(kv_dec *d, kv_dec_cmd *cmd)
{
    if (!d || !cmd)
        return KV_DEC_E_ARG;
    if (d->pos >= d->len)
        return KV_DEC_END;
    const uint8_t *s = d->buf + d->pos;
    size_t rem = d->len - d->pos;
    kv_dec_state *st = &d->st;
    kv_dec_cmd c;
    memset(&c, 0, sizeof c);
    c.offset = d->pos;
    int ok = 1;

    uint8_t b = s[0];
    if (b >= 0x20) {
        size_t i = 1;
        while (i < rem && s[i] >= 0x20)
            i++;
        set_cmd(&c, KV_OP_TEXT, "", i);
        c.data = s; c.datalen = i;
        if (st->line_bytes == 0)
            st->line_offset = d->pos;
        st->line_bytes += i;
    } else {
        switch (b) {
        case 0x0A: set_cmd(&c, KV_OP_LF, "LF", 1); flush_line(st); break;
        case 0x0D: set_cmd(&c, KV_OP_CR, "CR", 1); break;
        case 0x09: set_cmd(&c, KV_OP_HT, "HT", 1); break;
        case 0x0C: set_cmd(&c, KV_OP_FF, "FF", 1); flush_line(st); st->page_mode = 0; break;
        case 0x18: set_cmd(&c, KV_OP_CAN, "CAN", 1); break;
        case 0x07: set_cmd(&c, KV_OP_BEL, "BEL", 1); break;
        case 0x1B: ok = parse_esc(d, &c, s, rem); break;
        case 0x1D: ok = parse_gs(d, &c, s, rem); break;
        case 0x1C: ok = parse_fs(d, &c, s, rem); break;
        case 0x10: ok = parse_dle(d, &c, s, rem); break;
        default: unknown(&c, s, 1, "control byte"); break;
        }
    }
    if (!ok) {
        memset(&c, 0, sizeof c);
        c.offset = d->pos;
        unknown(&c, s, rem, "truncated command at end of stream");
    }
    if (c.length == 0 || c.length > rem) {
        /* cannot happen; keep the invariant anyway */
        unknown(&c, s, c.length == 0 ? 1 : rem, "internal length error");
    }
    d->pos += c.length;
    *cmd = c;
    return KV_DEC_OK;
}

int kv_dec_walk(const uint8_t *buf, size_t len, kv_dec_fn fn, void *ctx)
{
    kv_dec *d;
    kv_dec_status st = kv_dec_create(&d, buf, len);
    if (st != KV_DEC_OK)
        return st;
    kv_dec_cmd c;
    int rc = 0;
    while (kv_dec_next(d, &c) == KV_DEC_OK) {
        rc = fn(ctx, &c, &d->st);
        if (rc)
            break;
    }
    kv_dec_destroy(d);
    return rc;
}

/* ---- parameter text -------------------------------------------------------- */

static const char *barcode_name(int m)
{
    static const char *const n[] = {
        "UPC-A", "UPC-E", "EAN13", "EAN8", "CODE39", "ITF", "CODABAR", "CODE93",
        "CODE128", "GS1-128", "GS1-DataBar-omni", "GS1-DataBar-truncated",
        "GS1-DataBar-limited", "GS1-DataBar-expanded", "CODE128-auto"
    };
    if (m >= 65 && m <= 79)
        return n[m - 65];
    return "?";
}

int kv_dec_format_params(const kv_dec_cmd *c, char *buf, size_t size)
{
    static const char *const ec[] = { "L", "M", "Q", "H" };
    static const char *const al[] = { "left", "centre", "right" };
    static const char *const hri[] = { "none", "above", "below", "both" };
    switch (c->op) {
    case KV_OP_TEXT:
        return snprintf(buf, size, "%zu bytes", c->datalen);
    case KV_OP_UNKNOWN:
        return snprintf(buf, size, "%s", c->note ? c->note : "");
    case KV_OP_SIZE:
        return snprintf(buf, size, "width=%d height=%d", c->p[0], c->p[1]);
    case KV_OP_PRINT_MODE:
        return snprintf(buf, size, "n=0x%02x font=%s%s%s%s%s", c->p[0], (c->p[0] & 1) ? "B" : "A",
                        (c->p[0] & 8) ? " bold" : "", (c->p[0] & 0x10) ? " double-height" : "",
                        (c->p[0] & 0x20) ? " double-width" : "", (c->p[0] & 0x80) ? " underline" : "");
    case KV_OP_FONT:
        return snprintf(buf, size, "font=%c", 'A' + (c->p[0] <= 4 ? c->p[0] : 0));
    case KV_OP_ALIGN:
        return snprintf(buf, size, "%s", al[c->p[0] <= 2 ? c->p[0] : 0]);
    case KV_OP_QR_MODEL:
        return snprintf(buf, size, "model=%d", c->p[0]);
    case KV_OP_QR_SIZE:
        return snprintf(buf, size, "module=%d", c->p[0]);
    case KV_OP_QR_EC:
        return snprintf(buf, size, "ec=%s", ec[c->p[0] & 3]);
    case KV_OP_QR_STORE:
        return snprintf(buf, size, "%zu bytes", c->datalen);
    case KV_OP_CUT:
        if (c->p[2] >= 0)
            return snprintf(buf, size, "%s feed=%d", c->p[1] ? "partial" : "full", c->p[2]);
        return snprintf(buf, size, "%s", c->p[1] ? "partial" : "full");
    case KV_OP_CUT_LEGACY:
        return snprintf(buf, size, "%s", c->p[0] ? "partial" : "full");
    case KV_OP_PULSE:
        return snprintf(buf, size, "pin=%d on=%dms off=%dms", c->p[0] ? 5 : 2, c->p[1], c->p[2]);
    case KV_OP_BARCODE:
        return snprintf(buf, size, "%s fn=%c %zu bytes", barcode_name(c->p[0]),
                        c->p[1] ? 'B' : 'A', c->datalen);
    case KV_OP_BC_HRI:
        return snprintf(buf, size, "hri=%s", hri[c->p[0] & 3]);
    case KV_OP_RASTER:
        return snprintf(buf, size, "m=%d %dx%d dots", c->p[0], c->width, c->height);
    case KV_OP_COLUMN_IMAGE:
        return snprintf(buf, size, "m=%d %dx%d dots", c->p[0], c->width, c->height);
    case KV_OP_GRAPHICS_STORE:
        return snprintf(buf, size, "bx=%d by=%d c=%d %dx%d dots%s%s", c->p[0], c->p[1], c->p[2],
                        c->width, c->height, c->note ? " " : "", c->note ? c->note : "");
    case KV_OP_STATUS_RT:
        if (c->p[1] >= 0)
            return snprintf(buf, size, "n=%d a=%d", c->p[0], c->p[1]);
        return snprintf(buf, size, "n=%d", c->p[0]);
    case KV_OP_SYMBOL_2D:
        return snprintf(buf, size, "cn=%d fn=%d", c->p[0], c->np > 1 ? c->p[1] : -1);
    case KV_OP_BUZZER:
        if (c->length == 4 && c->np == 2 && strcmp(c->mnemonic, "ESC B") == 0)
            return snprintf(buf, size, "beeps=%d time=%dms", c->p[0], c->p[1] * 50);
        /* fall through */
    case KV_OP_EXTENDED:
        return snprintf(buf, size, "'%c' %zu bytes", c->p[0] >= 0x20 && c->p[0] < 0x7f ? c->p[0] : '?',
                        c->datalen);
    case KV_OP_TABS:
        return snprintf(buf, size, "%zu stops", c->datalen);
    default:
        break;
    }
    /* generic: n=.. for each parameter */
    int n = 0;
    if (size)
        buf[0] = 0;
    for (int i = 0; i < c->np && i < KV_DEC_MAXP; i++) {
        int w = snprintf(buf + (n < (int)size ? n : (int)size),
                         n < (int)size ? size - (size_t)n : 0,
                         i ? " %d" : "n=%d", c->p[i]);
        if (w < 0)
            return w;
        n += w;
    }
    return n;
}
