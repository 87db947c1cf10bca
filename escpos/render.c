/*
 * render.c - ESC/POS stream -> paper image, PNG encoding, thermal
 * degradation and QR scanning.
 *
 * Layout model (standard mode of an Epson-class printer): text and column
 * images collect in a line buffer; a print command (LF, ESC d, ESC J, an
 * image, a barcode, a QR code) draws the line with the alignment that was
 * active when the line started, bottom-aligned, and advances the paper by
 * max(line spacing, tallest item).  A line that would exceed the print
 * area is printed first (automatic wrap), as firmware does.
 */
#include <dlfcn.h>
#include <math.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <ft2build.h>
#include FT_FREETYPE_H
#include <png.h>
#include <qrencode.h>
#include <zbar.h>

#include "escpos/codepage.h"
#include "escpos/decoder.h"
#include "escpos/render.h"

#define CUT_GREY 96
#define CACHE_N 0x10000
#define MAX_ITEMS 1024

const char *kv_render_strerror(kv_render_status st)
{
    switch (st) {
    case KV_RENDER_OK: return "ok";
    case KV_RENDER_E_NOMEM: return "out of memory";
    case KV_RENDER_E_FONT: return "cannot load font";
    case KV_RENDER_E_ARG: return "invalid argument";
    case KV_RENDER_E_WRITE: return "write failed";
    case KV_RENDER_E_PNG: return "PNG encoding failed";
    case KV_RENDER_E_SCAN: return "QR scanner failed or libzbar0 is not installed";
    }
    return "unknown render status";
}

/* A glyph in a character cell: cw x ch bytes, 1 = ink. */
typedef struct glyph {
    uint8_t *bits;
} glyph;

typedef struct font {
    FT_Face face;
    int cw, ch, asc;   /* cell size and baseline */
    glyph **cache;     /* CACHE_N entries, lazily filled */
} font;

enum item_kind { IT_CHAR, IT_SPACE, IT_COLUMN };

typedef struct item {
    enum item_kind kind;
    int w, h;             /* dots on paper */
    uint32_t cp;
    int font, wm, hm, bold, ul, rev;
    const uint8_t *data;  /* column image */
    int m, cols, sx, sy;
} item;

struct kv_renderer {
    FT_Library ft;
    font fonts[2];
    FT_Face fallback;     /* bitmap fallback, may be NULL */
    FT_Face outline;      /* outline fallback, may be NULL */
    const kv_profile *prof;
    int max_height;
    /* per render */
    uint8_t *px;          /* canvas, kept between renders (no page faults) */
    int width, cap_rows, y;
    int hw;               /* rows [hw, cap_rows) are known to be white */
    item items[MAX_ITEMS];
    int nitems, line_w, line_align;
    int tabs[32], ntabs;
    /* stored graphics (GS ( L fn 112) */
    const uint8_t *g_data;
    size_t g_len;
    int g_w, g_h, g_bx, g_by;
    kv_render_info info;
    int oom;
};

/* ---- fonts ------------------------------------------------------------------ */

static int load_bitmap_face(FT_Library ft, const char *path, FT_Face *out)
{
    FT_Face f;
    if (FT_New_Face(ft, path, 0, &f))
        return -1;
    if (f->num_fixed_sizes > 0) {
        if (FT_Select_Size(f, 0)) {
            FT_Done_Face(f);
            return -1;
        }
    }
    *out = f;
    return 0;
}

static int setup_font(kv_renderer *r, int idx, const char *path)
{
    FT_Face f;
    if (load_bitmap_face(r->ft, path, &f))
        return -1;
    font *fo = &r->fonts[idx];
    fo->face = f;
    if (f->num_fixed_sizes > 0) {
        fo->cw = (int)(f->size->metrics.max_advance >> 6);
        fo->ch = (int)(f->size->metrics.height >> 6);
        fo->asc = (int)(f->size->metrics.ascender >> 6);
    } else {
        /* an outline font given as font A/B: use the ESC/POS cell sizes */
        fo->cw = idx ? 9 : 12;
        fo->ch = idx ? 18 : 24;
        FT_Set_Pixel_Sizes(f, 0, (FT_UInt)fo->ch);
        fo->asc = (int)(f->size->metrics.ascender >> 6);
    }
    if (fo->cw <= 0 || fo->cw > 64 || fo->ch <= 0 || fo->ch > 128)
        return -1;
    fo->cache = calloc(CACHE_N, sizeof *fo->cache);
    return fo->cache ? 0 : -2;
}

kv_render_status kv_renderer_create(kv_renderer **out, const kv_render_opts *opts)
{
    kv_render_opts def = KV_RENDER_OPTS_INIT;
    if (!out)
        return KV_RENDER_E_ARG;
    if (!opts)
        opts = &def;
    kv_renderer *r = calloc(1, sizeof *r);
    if (!r)
        return KV_RENDER_E_NOMEM;
    r->prof = opts->profile ? opts->profile : kv_profile_default();
    r->max_height = opts->max_height > 0 ? opts->max_height : 65536;
    if (FT_Init_FreeType(&r->ft)) {
        free(r);
        return KV_RENDER_E_NOMEM;
    }
    int rc = setup_font(r, 0, opts->font_a ? opts->font_a : KV_RENDER_FONT_A);
    if (rc == 0)
        rc = setup_font(r, 1, opts->font_b ? opts->font_b : KV_RENDER_FONT_B);
    if (rc) {
        kv_renderer_destroy(r);
        return rc == -2 ? KV_RENDER_E_NOMEM : KV_RENDER_E_FONT;
    }
    if (load_bitmap_face(r->ft, opts->font_fallback ? opts->font_fallback : KV_RENDER_FONT_FALLBACK,
                         &r->fallback))
        r->fallback = NULL;
    if (FT_New_Face(r->ft, opts->font_outline ? opts->font_outline : KV_RENDER_FONT_OUTLINE, 0,
                    &r->outline))
        r->outline = NULL;
    *out = r;
    return KV_RENDER_OK;
}

void kv_renderer_destroy(kv_renderer *r)
{
    if (!r)
        return;
    for (int i = 0; i < 2; i++) {
        font *fo = &r->fonts[i];
        if (fo->cache) {
            for (size_t k = 0; k < CACHE_N; k++) {
                if (fo->cache[k]) {
                    free(fo->cache[k]->bits);
                    free(fo->cache[k]);
                }
            }
            free(fo->cache);
        }
        if (fo->face)
            FT_Done_Face(fo->face);
    }
    if (r->fallback)
        FT_Done_Face(r->fallback);
    if (r->outline)
        FT_Done_Face(r->outline);
    if (r->ft)
        FT_Done_FreeType(r->ft);
    free(r->px);
    free(r);
}

/* Rasterise code point cp from face into the cell bits (cw x ch), baseline
 * at asc, centred horizontally by its advance.  Returns 0 when drawn. */
static int raster_glyph(FT_Face face, uint32_t cp, uint8_t *bits, int cw, int ch, int asc,
                        int outline)
{
    FT_UInt gi = FT_Get_Char_Index(face, cp);
    if (!gi)
        return -1;
    if (outline)
        FT_Set_Pixel_Sizes(face, 0, (FT_UInt)ch);
    if (FT_Load_Glyph(face, gi, FT_LOAD_RENDER | FT_LOAD_TARGET_MONO | FT_LOAD_MONOCHROME))
        return -1;
    FT_GlyphSlot g = face->glyph;
    FT_Bitmap *bm = &g->bitmap;
    int adv = (int)(g->advance.x >> 6);
    int xoff = adv > 0 && adv != cw ? (cw - adv) / 2 : 0;
    int fasc = outline || !face->size ? asc : (int)(face->size->metrics.ascender >> 6);
    /* a fallback font shares the cell's baseline */
    int yoff = asc - fasc;
    for (unsigned row = 0; row < bm->rows; row++) {
        int y = yoff + fasc - g->bitmap_top + (int)row;
        if (y < 0 || y >= ch)
            continue;
        const unsigned char *src = bm->buffer + (long)row * bm->pitch;
        for (unsigned col = 0; col < bm->width; col++) {
            int on;
            if (bm->pixel_mode == FT_PIXEL_MODE_MONO)
                on = (src[col >> 3] >> (7 - (col & 7))) & 1;
            else
                on = src[col] >= 128;
            if (!on)
                continue;
            int x = xoff + g->bitmap_left + (int)col;
            if (x < 0 || x >= cw)
                continue;
            bits[y * cw + x] = 1;
        }
    }
    return 0;
}

static const glyph *get_glyph(kv_renderer *r, int fidx, uint32_t cp)
{
    font *fo = &r->fonts[fidx];
    if (cp >= CACHE_N)
        cp = 0xFFFD;
    if (fo->cache[cp])
        return fo->cache[cp];
    glyph *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->bits = calloc((size_t)fo->cw * fo->ch, 1);
    if (!g->bits) {
        free(g);
        return NULL;
    }
    if (cp != ' ' &&
        raster_glyph(fo->face, cp, g->bits, fo->cw, fo->ch, fo->asc, 0) &&
        !(r->fallback && raster_glyph(r->fallback, cp, g->bits, fo->cw, fo->ch, fo->asc, 0) == 0) &&
        !(r->outline && raster_glyph(r->outline, cp, g->bits, fo->cw, fo->ch, fo->asc, 1) == 0)) {
        /* no font has it: a box */
        for (int x = 1; x < fo->cw - 1; x++) {
            g->bits[2 * fo->cw + x] = 1;
            g->bits[(fo->ch - 3) * fo->cw + x] = 1;
        }
        for (int y = 2; y < fo->ch - 2; y++) {
            g->bits[y * fo->cw + 1] = 1;
            g->bits[y * fo->cw + fo->cw - 2] = 1;
        }
    }
    fo->cache[cp] = g;
    return g;
}

/* ---- canvas ----------------------------------------------------------------- */

/* Make rows [0, rows) exist.  Returns 0, or -1 when rows exceed the cap
 * (drawing there is dropped) or memory ran out. */
static int ensure_rows(kv_renderer *r, int rows)
{
    if (rows <= r->cap_rows)
        return 0;
    if (rows > r->max_height) {
        r->info.clipped = 1;
        rows = r->max_height;
        if (rows <= r->cap_rows)
            return -1;
    }
    int nc = r->cap_rows ? r->cap_rows : 1024;
    while (nc < rows)
        nc = nc > r->max_height / 2 ? r->max_height : nc * 2;
    if (nc > r->max_height)
        nc = r->max_height;
    uint8_t *p = realloc(r->px, (size_t)nc * (size_t)r->width);
    if (!p) {
        r->oom = 1;
        return -1;
    }
    memset(p + (size_t)r->cap_rows * r->width, 255, (size_t)(nc - r->cap_rows) * r->width);
    r->px = p;
    r->cap_rows = nc;
    return 0;
}

static void fill(kv_renderer *r, int x, int y, int w, int h, uint8_t v)
{
    if (x < 0) { w += x; x = 0; }
    if (y < 0) { h += y; y = 0; }
    if (x + w > r->width) w = r->width - x;
    if (w <= 0 || h <= 0)
        return;
    if (y + h > r->cap_rows) {
        ensure_rows(r, y + h);
        if (y + h > r->cap_rows)
            h = r->cap_rows - y;
        if (h <= 0)
            return;
    }
    if (y + h > r->hw)
        r->hw = y + h;
    for (int j = 0; j < h; j++)
        memset(r->px + (size_t)(y + j) * r->width + x, v, (size_t)w);
}

static void advance(kv_renderer *r, int dots)
{
    if (dots <= 0)
        return;
    long ny = (long)r->y + dots;
    if (ny > r->max_height) {
        ny = r->max_height;
        r->info.clipped = 1;
    }
    r->y = (int)ny;
}

/* ---- print area ---------------------------------------------------------------- */

static void area(const kv_renderer *r, const kv_dec_state *st, int *x0, int *aw)
{
    int left = st->left_margin < r->width ? st->left_margin : r->width - 1;
    int w = r->width - left;
    if (st->print_width > 0 && st->print_width < w)
        w = st->print_width;
    *x0 = left;
    *aw = w;
}

static int align_x(const kv_renderer *r, const kv_dec_state *st, int align, int w)
{
    int x0, aw;
    area(r, st, &x0, &aw);
    if (w >= aw || align == 0)
        return x0;
    return x0 + (align == 1 ? (aw - w) / 2 : aw - w);
}

static int spacing(const kv_renderer *r, const kv_dec_state *st)
{
    return st->line_spacing < 0 ? (r->prof->dpi + 3) / 6 : st->line_spacing;
}

/* ---- line buffer ------------------------------------------------------------- */

static void draw_char(kv_renderer *r, const item *it, int x, int top)
{
    font *fo = &r->fonts[it->font];
    int cw = fo->cw, ch = fo->ch;
    int cellw = cw * it->wm, cellh = ch * it->hm;
    uint8_t ink = 0, paper = 255;
    if (it->rev) {
        fill(r, x, top, it->w, it->h, 0);
        ink = 255;
        paper = 0;
    }
    (void)paper;
    const glyph *g = get_glyph(r, it->font, it->cp);
    if (!g) {
        r->oom = 1;
        return;
    }
    for (int gy = 0; gy < ch; gy++) {
        for (int gx = 0; gx < cw; gx++) {
            if (!g->bits[gy * cw + gx])
                continue;
            fill(r, x + gx * it->wm, top + gy * it->hm, it->wm + (it->bold ? 1 : 0), it->hm, ink);
        }
    }
    if (it->ul && !it->rev)
        fill(r, x, top + cellh - it->ul, it->w, it->ul, 0);
    (void)cellw;
}

static void draw_column(kv_renderer *r, const item *it, int x, int top)
{
    int bpc = (it->m & 0x20) ? 3 : 1;
    for (int c = 0; c < it->cols; c++) {
        for (int b = 0; b < bpc * 8; b++) {
            int byte = it->data[c * bpc + b / 8];
            if ((byte >> (7 - (b & 7))) & 1)
                fill(r, x + c * it->sx, top + b * it->sy, it->sx, it->sy, 0);
        }
    }
}

/* Print the line buffer and advance; mode 0 = LF, 1 = ESC d n, 2 = ESC J n,
 * 3 = before an image (advance like LF only when the line has items). */
static void flush_line(kv_renderer *r, const kv_dec_state *st, int mode, int n)
{
    int sp = spacing(r, st);
    int h = 0;
    for (int i = 0; i < r->nitems; i++)
        if (r->items[i].h > h)
            h = r->items[i].h;
    if (r->nitems) {
        if (ensure_rows(r, r->y + h) == 0 || r->y + h <= r->cap_rows) {
            int x = align_x(r, st, r->line_align, r->line_w);
            for (int i = 0; i < r->nitems; i++) {
                const item *it = &r->items[i];
                int top = r->y + h - it->h;
                if (it->kind == IT_CHAR)
                    draw_char(r, it, x, top);
                else if (it->kind == IT_COLUMN)
                    draw_column(r, it, x, top);
                x += it->w;
            }
        }
    }
    int adv;
    switch (mode) {
    case 0: adv = h > sp ? h : sp; break;
    case 1:
        if (r->nitems)
            adv = n == 0 ? h : (h > sp ? h : sp) + (n - 1) * sp;
        else
            adv = n * sp;
        break;
    case 2: adv = r->nitems ? (h > n ? h : n) : n; break;
    default: adv = r->nitems ? (h > sp ? h : sp) : 0; break;
    }
    advance(r, adv);
    r->nitems = 0;
    r->line_w = 0;
}

static void add_item(kv_renderer *r, const kv_dec_state *st, const item *it)
{
    int x0, aw;
    area(r, st, &x0, &aw);
    if (r->nitems && (r->line_w + it->w > aw || r->nitems >= MAX_ITEMS))
        flush_line(r, st, 0, 0);
    if (r->nitems == 0)
        r->line_align = st->align;
    r->items[r->nitems++] = *it;
    r->line_w += it->w;
}

/* International character sets (ESC R n) for the 12 positions
 * 23 24 40 5B 5C 5D 5E 60 7B 7C 7D 7E. */
static uint32_t intl_map(int set, uint8_t b)
{
    static const uint8_t pos[12] = { 0x23, 0x24, 0x40, 0x5B, 0x5C, 0x5D, 0x5E, 0x60, 0x7B, 0x7C, 0x7D, 0x7E };
    static const uint16_t sets[11][12] = {
        /* 0 USA */ { 0x23, 0x24, 0x40, 0x5B, 0x5C, 0x5D, 0x5E, 0x60, 0x7B, 0x7C, 0x7D, 0x7E },
        /* 1 France */ { 0x23, 0x24, 0xE0, 0xB0, 0xE7, 0xA7, 0x5E, 0x60, 0xE9, 0xF9, 0xE8, 0xA8 },
        /* 2 Germany */ { 0x23, 0x24, 0xA7, 0xC4, 0xD6, 0xDC, 0x5E, 0x60, 0xE4, 0xF6, 0xFC, 0xDF },
        /* 3 UK */ { 0xA3, 0x24, 0x40, 0x5B, 0x5C, 0x5D, 0x5E, 0x60, 0x7B, 0x7C, 0x7D, 0x7E },
        /* 4 Denmark I */ { 0x23, 0x24, 0x40, 0xC6, 0xD8, 0xC5, 0x5E, 0x60, 0xE6, 0xF8, 0xE5, 0x7E },
        /* 5 Sweden */ { 0x23, 0xA4, 0xC9, 0xC4, 0xD6, 0xC5, 0xDC, 0xE9, 0xE4, 0xF6, 0xE5, 0xFC },
        /* 6 Italy */ { 0x23, 0x24, 0x40, 0xB0, 0x5C, 0xE9, 0x5E, 0xF9, 0xE0, 0xF2, 0xE8, 0xEC },
        /* 7 Spain I */ { 0x20A7, 0x24, 0x40, 0xA1, 0xD1, 0xBF, 0x5E, 0x60, 0xA8, 0xF1, 0x7D, 0x7E },
        /* 8 Japan */ { 0x23, 0x24, 0x40, 0x5B, 0xA5, 0x5D, 0x5E, 0x60, 0x7B, 0x7C, 0x7D, 0x7E },
        /* 9 Norway */ { 0x23, 0xA4, 0xC9, 0xC6, 0xD8, 0xC5, 0xDC, 0xE9, 0xE6, 0xF8, 0xE5, 0xFC },
        /* 10 Denmark II */ { 0x23, 0x24, 0xC9, 0xC6, 0xD8, 0xC5, 0xDC, 0xE9, 0xE6, 0xF8, 0xE5, 0xFC },
    };
    if (set <= 0 || set > 10)
        return b;
    for (int i = 0; i < 12; i++)
        if (pos[i] == b)
            return sets[set][i];
    return b;
}

static void add_text(kv_renderer *r, const kv_dec_state *st, const uint8_t *s, size_t n)
{
    kv_codepage cp;
    if (kv_profile_codepage_from_number(&cp, r->prof, st->codepage) != 0)
        cp = KV_CP_PC437;
    int f = st->font == 1 ? 1 : 0;
    font *fo = &r->fonts[f];
    for (size_t i = 0; i < n; i++) {
        item it;
        memset(&it, 0, sizeof it);
        it.kind = IT_CHAR;
        it.cp = s[i] < 0x80 ? intl_map(st->intl, s[i]) : kv_codepage_to_unicode(cp, s[i]);
        it.font = f;
        it.wm = st->width_mul;
        it.hm = st->height_mul;
        it.bold = st->bold || st->dstrike;
        it.ul = st->underline;
        it.rev = st->reverse;
        it.w = (fo->cw + st->char_spacing) * it.wm;
        it.h = fo->ch * it.hm;
        add_item(r, st, &it);
    }
}

static void add_tab(kv_renderer *r, const kv_dec_state *st)
{
    int f = st->font == 1 ? 1 : 0;
    int adv = (r->fonts[f].cw + st->char_spacing) * st->width_mul;
    int target = -1;
    for (int i = 0; i < r->ntabs; i++) {
        if (r->tabs[i] * adv > r->line_w) {
            target = r->tabs[i] * adv;
            break;
        }
    }
    if (target < 0) {
        if (r->ntabs)
            return;
        target = (r->line_w / (8 * adv) + 1) * 8 * adv;
    }
    int x0, aw;
    area(r, st, &x0, &aw);
    if (target > aw)
        return;
    item it;
    memset(&it, 0, sizeof it);
    it.kind = IT_SPACE;
    it.w = target - r->line_w;
    add_item(r, st, &it);
}

/* ---- images ------------------------------------------------------------------ */

/* Draw rows of 1-bit data (rowbytes per row, w dots used), scaled. */
static void draw_bits(kv_renderer *r, const kv_dec_state *st, const uint8_t *d, size_t dlen,
                      int w, int h, size_t rowbytes, int sx, int sy)
{
    int W = w * sx, H = h * sy;
    int x = align_x(r, st, st->align, W);
    if (ensure_rows(r, r->y + H) != 0 && r->y >= r->cap_rows) {
        advance(r, H);
        return;
    }
    for (int row = 0; row < h; row++) {
        if ((size_t)(row + 1) * rowbytes > dlen)
            break;
        int top = r->y + row * sy;
        if (top >= r->cap_rows)
            break;
        const uint8_t *p = d + (size_t)row * rowbytes;
        for (int col = 0; col < w; col++) {
            if (x + col * sx >= r->width)
                break;
            if ((p[col >> 3] >> (7 - (col & 7))) & 1)
                fill(r, x + col * sx, top, sx, sy, 0);
        }
    }
    advance(r, H);
    r->info.images++;
}

/* ---- QR ------------------------------------------------------------------------- */

static void draw_qr(kv_renderer *r, const kv_dec_state *st)
{
    if (!st->qr_data || st->qr_len == 0 || st->qr_len > 7089) {
        r->info.qr_failed++;
        return;
    }
    static const QRecLevel lv[4] = { QR_ECLEVEL_L, QR_ECLEVEL_M, QR_ECLEVEL_Q, QR_ECLEVEL_H };
    /* model 1 and Micro QR (51) are drawn as model 2: libqrencode has no
     * model 1, zbar reads no Micro QR, and most printers ignore n = 51 */
    QRcode *q = QRcode_encodeData((int)st->qr_len, st->qr_data, 0, lv[st->qr_ec & 3]);
    if (!q) {
        r->info.qr_failed++;
        return;
    }
    int mod = st->qr_module;
    int W = q->width * mod;
    int x0, aw;
    area(r, st, &x0, &aw);
    if (W > aw) {
        QRcode_free(q);
        r->info.qr_failed++;
        return;
    }
    int x = align_x(r, st, st->align, W);
    ensure_rows(r, r->y + W);
    for (int j = 0; j < q->width; j++)
        for (int i = 0; i < q->width; i++)
            if (q->data[j * q->width + i] & 1)
                fill(r, x + i * mod, r->y + j * mod, mod, mod, 0);
    advance(r, W);
    QRcode_free(q);
    r->info.qr_printed++;
}

/* ---- 1D barcodes --------------------------------------------------------------- */

static const char *const c128[107] = {
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212",
    "221213", "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221",
    "223211", "221132", "221231", "213212", "223112", "312131", "311222", "321122", "321221",
    "312212", "322112", "322211", "212123", "212321", "232121", "111323", "131123", "131321",
    "112313", "132113", "132311", "211313", "231113", "231311", "112133", "112331", "132131",
    "113123", "113321", "133121", "313121", "211331", "231131", "213113", "213311", "213131",
    "311123", "311321", "331121", "312113", "312311", "332111", "314111", "221411", "431111",
    "111224", "111422", "121124", "121421", "141122", "141221", "112214", "112412", "122114",
    "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111", "111242",
    "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311",
    "113141", "114131", "311141", "411131", "211412", "211214", "211232", "2331112"
};

typedef struct bars {
    uint8_t m[4096];   /* modules, 1 = bar */
    int n;
    int half;          /* m[] holds half modules (CODE39) */
    char hri[300];
    int nh;
} bars;

static int put_pattern(bars *b, const char *widths)
{
    int black = 1;
    for (const char *p = widths; *p; p++) {
        int w = *p - '0';
        for (int k = 0; k < w; k++) {
            if (b->n >= (int)sizeof b->m)
                return -1;
            b->m[b->n++] = (uint8_t)black;
        }
        black = !black;
    }
    return 0;
}

static void hri_add(bars *b, int c)
{
    if (b->nh < (int)sizeof b->hri - 1 && c >= 0x20 && c < 0x7f)
        b->hri[b->nh++] = (char)c;
}

static int encode_code128(bars *b, const uint8_t *d, size_t n)
{
    int vals[300], nv = 0;
    int set = 0;  /* 1 A, 2 B, 3 C */
    size_t i = 0;
    if (n < 2 || d[0] != '{' || (d[1] != 'A' && d[1] != 'B' && d[1] != 'C'))
        return -1;
    while (i < n) {
        if (nv >= 290)
            return -1;
        if (d[i] == '{') {
            if (i + 1 >= n)
                return -1;
            int c = d[i + 1];
            i += 2;
            switch (c) {
            case 'A': vals[nv++] = set == 0 ? 103 : 101; set = 1; break;
            case 'B': vals[nv++] = set == 0 ? 104 : 100; set = 2; break;
            case 'C': vals[nv++] = set == 0 ? 105 : 99; set = 3; break;
            case 'S': if (set == 3 || set == 0) return -1; vals[nv++] = 98; break;
            case '1': if (set == 0) return -1; vals[nv++] = 102; break;
            case '2': if (set == 0 || set == 3) return -1; vals[nv++] = 97; break;
            case '3': if (set == 0 || set == 3) return -1; vals[nv++] = 96; break;
            case '4': if (set == 0 || set == 3) return -1; vals[nv++] = set == 1 ? 101 : 100; break;
            case '{':
                if (set == 1 || set == 2) { vals[nv++] = '{' - 32; hri_add(b, '{'); break; }
                return -1;
            default: return -1;
            }
            continue;
        }
        int c = d[i++];
        if (set == 1) {
            if (c >= 0x20 && c <= 0x5F) vals[nv++] = c - 0x20;
            else if (c < 0x20) vals[nv++] = c + 64;
            else return -1;
            hri_add(b, c);
        } else if (set == 2) {
            if (c >= 0x20 && c <= 0x7F) vals[nv++] = c - 0x20;
            else return -1;
            hri_add(b, c);
        } else {
            if (c > 99) return -1;
            vals[nv++] = c;
            hri_add(b, '0' + c / 10);
            hri_add(b, '0' + c % 10);
        }
    }
    if (nv < 2)
        return -1;
    long sum = vals[0];
    for (int k = 1; k < nv; k++)
        sum += (long)k * vals[k];
    vals[nv++] = (int)(sum % 103);
    vals[nv++] = 106;
    for (int k = 0; k < nv; k++)
        if (put_pattern(b, c128[vals[k]]))
            return -1;
    return 0;
}

static const char *const ean_l[10] = {
    "0001101", "0011001", "0010011", "0111101", "0100011",
    "0110001", "0101111", "0111011", "0110111", "0001011"
};
static const char *const ean_par[10] = {
    "LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG",
    "LGGLLG", "LGGGLG", "LGLGLL", "LGLGGL", "LGGLGL"
};

static void put_bits(bars *b, const char *s, int invert, int reverse)
{
    int len = (int)strlen(s);
    for (int k = 0; k < len; k++) {
        int c = reverse ? s[len - 1 - k] : s[k];
        int v = (c == '1') ^ invert;
        if (b->n < (int)sizeof b->m)
            b->m[b->n++] = (uint8_t)v;
    }
}

static int ean_check(const int *dig, int n)
{
    /* weights 3,1,3,... from the rightmost data digit */
    int sum = 0;
    for (int k = 0; k < n; k++)
        sum += dig[n - 1 - k] * ((k % 2 == 0) ? 3 : 1);
    return (10 - sum % 10) % 10;
}

static int encode_ean(bars *b, const uint8_t *d, size_t n, int kind /* 13, 8, 12 (UPC-A) */)
{
    int dig[13], nd = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9' || nd >= 13)
            return -1;
        dig[nd++] = d[i] - '0';
    }
    if (kind == 12) {
        /* UPC-A = EAN-13 with a leading 0 */
        if (nd != 11 && nd != 12)
            return -1;
        memmove(dig + 1, dig, sizeof(int) * (size_t)nd);
        dig[0] = 0;
        nd++;
        kind = 13;
    }
    int want = kind;
    if (nd == want - 1) {
        dig[nd] = ean_check(dig, nd);
        nd++;
    }
    if (nd != want)
        return -1;
    for (int k = 0; k < nd; k++)
        hri_add(b, '0' + dig[k]);
    put_bits(b, "101", 0, 0);
    if (kind == 13) {
        const char *par = ean_par[dig[0]];
        for (int k = 1; k <= 6; k++)
            put_bits(b, ean_l[dig[k]], par[k - 1] == 'G', par[k - 1] == 'G');
        put_bits(b, "01010", 0, 0);
        for (int k = 7; k <= 12; k++)
            put_bits(b, ean_l[dig[k]], 1, 0);
    } else {
        for (int k = 0; k < 4; k++)
            put_bits(b, ean_l[dig[k]], 0, 0);
        put_bits(b, "01010", 0, 0);
        for (int k = 4; k < 8; k++)
            put_bits(b, ean_l[dig[k]], 1, 0);
    }
    put_bits(b, "101", 0, 0);
    return 0;
}

/* CODE39: 9 elements (bar, space, ...), n narrow / w wide; 3 are wide. */
static const char c39_chars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. *$/+%";
static const char *const c39_pat[44] = {
    "nnnwwnwnn", "wnnwnnnnw", "nnwwnnnnw", "wnwwnnnnn", "nnnwwnnnw", "wnnwwnnnn",
    "nnwwwnnnn", "nnnwnnwnw", "wnnwnnwnn", "nnwwnnwnn", "wnnnnwnnw", "nnwnnwnnw",
    "wnwnnwnnn", "nnnnwwnnw", "wnnnwwnnn", "nnwnwwnnn", "nnnnnwwnw", "wnnnnwwnn",
    "nnwnnwwnn", "nnnnwwwnn", "wnnnnnnww", "nnwnnnnww", "wnwnnnnwn", "nnnnwnnww",
    "wnnnwnnwn", "nnwnwnnwn", "nnnnnnwww", "wnnnnnwwn", "nnwnnnwwn", "nnnnwnwwn",
    "wwnnnnnnw", "nwwnnnnnw", "wwwnnnnnn", "nwnnwnnnw", "wwnnwnnnn", "nwwnwnnnn",
    "nwnnnnwnw", "wwnnnnwnn", "nwwnnnwnn", "nwnnwnwnn", "nwnwnwnnn", "nwnwnnnwn",
    "nwnnnwnwn", "nnnwnwnwn"
};

/* Modules here are narrow units; a wide element is 5 half-units, so the
 * pattern is built at half-module resolution (wide:narrow = 2.5:1). */
static int put_c39(bars *b, int ch)
{
    const char *at = strchr(c39_chars, ch);
    if (!ch || !at)
        return -1;
    const char *pat = c39_pat[at - c39_chars];
    for (int k = 0; k < 9; k++) {
        int w = pat[k] == 'w' ? 5 : 2;
        for (int j = 0; j < w; j++) {
            if (b->n >= (int)sizeof b->m)
                return -1;
            b->m[b->n++] = (uint8_t)((k & 1) == 0);
        }
    }
    for (int j = 0; j < 2; j++) {  /* inter-character gap: one narrow space */
        if (b->n >= (int)sizeof b->m)
            return -1;
        b->m[b->n++] = 0;
    }
    return 0;
}

static int encode_code39(bars *b, const uint8_t *d, size_t n)
{
    /* the printer adds the start/stop '*' when the data lacks them */
    if (n && d[0] == '*')
        d++, n--;
    if (n && d[n - 1] == '*')
        n--;
    if (n == 0 || put_c39(b, '*'))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '*' || put_c39(b, d[i]))
            return -1;
        hri_add(b, d[i]);
    }
    if (put_c39(b, '*'))
        return -1;
    b->n -= 2;  /* no gap after the stop character */
    b->half = 1;
    return 0;
}

static void draw_hri(kv_renderer *r, const kv_dec_state *st, const bars *b)
{
    int f = st->bc_hri_font == 1 ? 1 : 0;
    font *fo = &r->fonts[f];
    int w = b->nh * fo->cw;
    int x = align_x(r, st, st->align, w);
    ensure_rows(r, r->y + fo->ch);
    for (int k = 0; k < b->nh; k++) {
        item it;
        memset(&it, 0, sizeof it);
        it.kind = IT_CHAR;
        it.cp = (uint8_t)b->hri[k];
        it.font = f;
        it.wm = it.hm = 1;
        it.w = fo->cw;
        it.h = fo->ch;
        draw_char(r, &it, x + k * fo->cw, r->y);
    }
    advance(r, fo->ch);
}

static void draw_barcode(kv_renderer *r, const kv_dec_state *st, const kv_dec_cmd *c)
{
    bars *b = calloc(1, sizeof *b);
    if (!b) {
        r->oom = 1;
        return;
    }
    int rc;
    switch (c->p[0]) {
    case 73: rc = encode_code128(b, c->data, c->datalen); break;
    case 67: rc = encode_ean(b, c->data, c->datalen, 13); break;
    case 68: rc = encode_ean(b, c->data, c->datalen, 8); break;
    case 65: rc = encode_ean(b, c->data, c->datalen, 12); break;
    case 69: rc = encode_code39(b, c->data, c->datalen); break;
    default: rc = -1; break;
    }
    int mw = st->bc_width;
    int W = b->half ? (b->n * mw + 1) / 2 : b->n * mw;
    int x0, aw;
    area(r, st, &x0, &aw);
    if (rc || W > aw || b->n == 0) {
        r->info.barcodes_failed++;
        free(b);
        return;
    }
    if (st->bc_hri & 1)
        draw_hri(r, st, b);
    int x = align_x(r, st, st->align, W);
    ensure_rows(r, r->y + st->bc_height);
    for (int k = 0; k < b->n; k++) {
        if (!b->m[k])
            continue;
        if (b->half)  /* half modules: dots [k*mw/2, (k+1)*mw/2) */
            fill(r, x + k * mw / 2, r->y, (k + 1) * mw / 2 - k * mw / 2, st->bc_height, 0);
        else
            fill(r, x + k * mw, r->y, mw, st->bc_height, 0);
    }
    advance(r, st->bc_height);
    if (st->bc_hri & 2)
        draw_hri(r, st, b);
    r->info.barcodes++;
    free(b);
}

/* ---- cut ---------------------------------------------------------------------- */

static void draw_cut(kv_renderer *r)
{
    advance(r, 4);
    ensure_rows(r, r->y + 1);
    if (r->y < r->cap_rows)
        for (int x = 0; x < r->width; x += 12)
            fill(r, x, r->y, 8, 1, CUT_GREY);
    advance(r, 5);
    r->info.cuts++;
}

/* ---- the walk ----------------------------------------------------------------- */

static void reset_tabs(kv_renderer *r)
{
    r->ntabs = 0;
}

static void on_cmd(kv_renderer *r, const kv_dec_cmd *c, const kv_dec_state *st)
{
    switch (c->op) {
    case KV_OP_TEXT: add_text(r, st, c->data, c->datalen); break;
    case KV_OP_UNKNOWN: r->info.unknown++; break;
    case KV_OP_LF: flush_line(r, st, 0, 0); break;
    case KV_OP_FF: if (r->nitems) flush_line(r, st, 0, 0); break;
    case KV_OP_HT: add_tab(r, st); break;
    case KV_OP_INIT:
        r->nitems = 0;
        r->line_w = 0;
        reset_tabs(r);
        r->g_data = NULL;
        break;
    case KV_OP_TABS:
        r->ntabs = 0;
        for (size_t i = 0; i < c->datalen && i < 32; i++) {
            if (r->ntabs && c->data[i] <= r->tabs[r->ntabs - 1])
                break;
            r->tabs[r->ntabs++] = c->data[i];
        }
        break;
    case KV_OP_FEED_LINES: flush_line(r, st, 1, c->p[0]); break;
    case KV_OP_FEED_UNITS: flush_line(r, st, 2, c->p[0]); break;
    case KV_OP_REVERSE_FEED: if (r->nitems) flush_line(r, st, 0, 0); break;
    case KV_OP_CUT:
        if (r->nitems) flush_line(r, st, 0, 0);
        if (c->p[2] > 0)
            advance(r, c->p[2]);
        draw_cut(r);
        break;
    case KV_OP_CUT_LEGACY:
        if (r->nitems) flush_line(r, st, 0, 0);
        draw_cut(r);
        break;
    case KV_OP_RASTER: {
        if (r->nitems) flush_line(r, st, 3, 0);
        int m = c->p[0];
        draw_bits(r, st, c->data, c->datalen, c->width, c->height, (size_t)c->width / 8,
                  (m & 1) ? 2 : 1, (m & 2) ? 2 : 1);
        break;
    }
    case KV_OP_COLUMN_IMAGE: {
        item it;
        memset(&it, 0, sizeof it);
        it.kind = IT_COLUMN;
        it.m = c->p[0];
        it.cols = c->p[1];
        it.data = c->data;
        /* m=0: 8-dot single density, m=1: double; 32/33: 24-dot */
        it.sx = (it.m & 1) ? 1 : 2;
        it.sy = (it.m & 0x20) ? 1 : 3;
        if (r->prof->dpi >= 200 && !(it.m & 0x20))
            it.sy = 3;
        it.w = it.cols * it.sx;
        it.h = ((it.m & 0x20) ? 24 : 8) * it.sy;
        if (it.cols > 0) {
            int x0, aw;
            area(r, st, &x0, &aw);
            if (it.w > aw) {
                /* wider than the line: clip to the area */
                it.cols = aw / it.sx;
                it.w = it.cols * it.sx;
            }
            add_item(r, st, &it);
            r->info.images++;
        }
        break;
    }
    case KV_OP_GRAPHICS_STORE:
        r->g_data = c->data;
        r->g_len = c->datalen;
        r->g_w = c->width;
        r->g_h = c->height;
        r->g_bx = c->p[0] == 2 || c->p[0] == 50 ? 2 : 1;
        r->g_by = c->p[1] == 2 || c->p[1] == 50 ? 2 : 1;
        if (c->note)  /* column format or short data: not drawn */
            r->g_data = NULL;
        break;
    case KV_OP_GRAPHICS_PRINT:
        if (r->nitems) flush_line(r, st, 3, 0);
        if (r->g_data && r->g_w > 0 && r->g_h > 0)
            draw_bits(r, st, r->g_data, r->g_len, r->g_w, r->g_h, ((size_t)r->g_w + 7) / 8,
                      r->g_bx, r->g_by);
        break;
    case KV_OP_QR_PRINT:
        if (r->nitems) flush_line(r, st, 3, 0);
        draw_qr(r, st);
        break;
    case KV_OP_BARCODE:
        if (r->nitems) flush_line(r, st, 3, 0);
        draw_barcode(r, st, c);
        break;
    default:
        break;
    }
}

kv_render_status kv_render(kv_renderer *r, const uint8_t *buf, size_t len,
                           kv_image **out, kv_render_info *info)
{
    if (!r || !out || (!buf && len))
        return KV_RENDER_E_ARG;
    if (r->width != r->prof->dots) {
        free(r->px);
        r->px = NULL;
        r->cap_rows = 0;
        r->hw = 0;
        r->width = r->prof->dots;
    }
    /* make the rows the last render touched white again */
    if (r->px && r->hw > 0)
        memset(r->px, 255, (size_t)r->hw * r->width);
    r->hw = 0;
    r->y = 0;
    r->nitems = 0;
    r->line_w = 0;
    r->oom = 0;
    r->g_data = NULL;
    reset_tabs(r);
    memset(&r->info, 0, sizeof r->info);

    kv_dec *d;
    kv_dec_status ds = kv_dec_create(&d, buf, len);
    if (ds != KV_DEC_OK)
        return ds == KV_DEC_E_NOMEM ? KV_RENDER_E_NOMEM : KV_RENDER_E_ARG;
    kv_dec_cmd c;
    while (!r->oom && kv_dec_next(d, &c) == KV_DEC_OK)
        on_cmd(r, &c, kv_dec_state_get(d));
    r->info.unprinted = kv_dec_unprinted(d, NULL);
    kv_dec_destroy(d);
    if (r->oom)
        return KV_RENDER_E_NOMEM;
    int h = r->y > 0 ? r->y : 1;
    if (ensure_rows(r, h) != 0 && r->cap_rows < h)
        h = r->cap_rows > 0 ? r->cap_rows : 1;
    if (r->cap_rows < h)
        return KV_RENDER_E_NOMEM;
    kv_image *img = malloc(sizeof *img);
    uint8_t *px = malloc((size_t)h * r->width);
    if (!img || !px) {
        free(img);
        free(px);
        return KV_RENDER_E_NOMEM;
    }
    memcpy(px, r->px, (size_t)h * r->width);
    img->pixels = px;
    img->width = r->width;
    img->height = h;
    if (info)
        *info = r->info;
    *out = img;
    return KV_RENDER_OK;
}

void kv_image_free(kv_image *img)
{
    if (!img)
        return;
    free(img->pixels);
    free(img);
}

/* ---- PNG ------------------------------------------------------------------------ */

struct png_sink {
    kv_write_fn write;
    void *ctx;
    int failed;
};

static void png_write_cb(png_structp png, png_bytep data, png_size_t len)
{
    struct png_sink *s = png_get_io_ptr(png);
    if (!s->failed && s->write(s->ctx, data, len) != 0)
        s->failed = 1;
}

static void png_flush_cb(png_structp png)
{
    (void)png;
}

kv_render_status kv_image_write_png(const kv_image *img, int bits, kv_write_fn write, void *ctx)
{
    if (!img || !write || (bits != 1 && bits != 8) || img->width <= 0 || img->height <= 0)
        return KV_RENDER_E_ARG;
    struct png_sink sink = { write, ctx, 0 };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    if (!png)
        return KV_RENDER_E_NOMEM;
    png_infop pinfo = png_create_info_struct(png);
    uint8_t *volatile row = NULL;
    if (!pinfo) {
        png_destroy_write_struct(&png, NULL);
        return KV_RENDER_E_NOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &pinfo);
        free(row);
        return sink.failed ? KV_RENDER_E_WRITE : KV_RENDER_E_PNG;
    }
    png_set_write_fn(png, &sink, png_write_cb, png_flush_cb);
    png_set_IHDR(png, pinfo, (png_uint_32)img->width, (png_uint_32)img->height, bits,
                 PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 1);
    png_set_filter(png, 0, bits == 1 ? PNG_FILTER_NONE : PNG_FILTER_UP);
    png_write_info(png, pinfo);
    size_t rb = bits == 8 ? (size_t)img->width : ((size_t)img->width + 7) / 8;
    row = malloc(rb);
    if (!row)
        png_error(png, "no memory");
    for (int y = 0; y < img->height && !sink.failed; y++) {
        const uint8_t *src = img->pixels + (size_t)y * img->width;
        if (bits == 8) {
            memcpy(row, src, rb);
        } else {
            memset(row, 0, rb);
            for (int x = 0; x < img->width; x++)
                if (src[x] >= 128)
                    row[x >> 3] |= (uint8_t)(0x80 >> (x & 7));
        }
        png_write_row(png, row);
    }
    if (!sink.failed)
        png_write_end(png, NULL);
    png_destroy_write_struct(&png, &pinfo);
    free(row);
    return sink.failed ? KV_RENDER_E_WRITE : KV_RENDER_OK;
}

/* ---- degradation ---------------------------------------------------------------- */

uint64_t kv_render_hash(const uint8_t *buf, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= buf[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

kv_render_status kv_image_degrade(kv_image **out, const kv_image *img, uint64_t seed)
{
    if (!out || !img || img->width <= 0 || img->height <= 0)
        return KV_RENDER_E_ARG;
    int w = img->width, h = img->height;
    size_t n = (size_t)w * h;
    uint8_t *a = malloc(n), *b = malloc(n);
    if (!a || !b) {
        free(a);
        free(b);
        return KV_RENDER_E_NOMEM;
    }
    /* 1. dropout: 2% of the black dots do not print */
    uint64_t s = seed ? seed : 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        uint8_t v = img->pixels[i];
        if (v < 128 && xorshift(&s) % 10000 < 200)
            v = 255;
        a[i] = v;
    }
    /* 2. 1-dot blur: 3x3 box */
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            int sum = 0;
            for (int dy = -1; dy <= 1; dy++) {
                int yy = y + dy < 0 ? 0 : y + dy >= h ? h - 1 : y + dy;
                for (int dx = -1; dx <= 1; dx++) {
                    int xx = x + dx < 0 ? 0 : x + dx >= w ? w - 1 : x + dx;
                    sum += a[(size_t)yy * w + xx];
                }
            }
            b[(size_t)y * w + x] = (uint8_t)(sum / 9);
        }
    }
    free(a);
    /* 3. 2 degree skew (rotation about the centre, bilinear) */
    double th = 2.0 * M_PI / 180.0, cs = cos(th), sn = sin(th);
    int W = (int)ceil(w * cs + h * sn) + 2, H = (int)ceil(w * sn + h * cs) + 2;
    kv_image *o = malloc(sizeof *o);
    uint8_t *p = malloc((size_t)W * H);
    if (!o || !p) {
        free(o);
        free(p);
        free(b);
        return KV_RENDER_E_NOMEM;
    }
    double cx = w / 2.0, cy = h / 2.0, CX = W / 2.0, CY = H / 2.0;
    for (int y = 0; y < H; y++) {
        for (int x = 0; x < W; x++) {
            double dx = x - CX, dy = y - CY;
            double sx = cs * dx + sn * dy + cx, sy = -sn * dx + cs * dy + cy;
            int x0 = (int)floor(sx), y0 = (int)floor(sy);
            double fx = sx - x0, fy = sy - y0;
            double v = 0;
            for (int k = 0; k < 4; k++) {
                int xx = x0 + (k & 1), yy = y0 + (k >> 1);
                double wgt = ((k & 1) ? fx : 1 - fx) * ((k >> 1) ? fy : 1 - fy);
                double pv = (xx < 0 || yy < 0 || xx >= w || yy >= h) ? 255 : b[(size_t)yy * w + xx];
                v += wgt * pv;
            }
            p[(size_t)y * W + x] = (uint8_t)(v + 0.5 > 255 ? 255 : v + 0.5);
        }
    }
    free(b);
    o->width = W;
    o->height = H;
    o->pixels = p;
    *out = o;
    return KV_RENDER_OK;
}

/* ---- scanning ------------------------------------------------------------------- */

typedef struct symlist {
    uint8_t **data;
    size_t *len;
    int n, cap;
} symlist;

static void symlist_free(symlist *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->data[i]);
    free(l->data);
    free(l->len);
    memset(l, 0, sizeof *l);
}

static int symlist_add(symlist *l, const char *d, size_t n)
{
    if (l->n == l->cap) {
        int nc = l->cap ? l->cap * 2 : 16;
        uint8_t **nd = realloc(l->data, sizeof *nd * (size_t)nc);
        if (!nd)
            return -1;
        l->data = nd;
        size_t *nl = realloc(l->len, sizeof *nl * (size_t)nc);
        if (!nl)
            return -1;
        l->len = nl;
        l->cap = nc;
    }
    uint8_t *c = malloc(n ? n : 1);
    if (!c)
        return -1;
    memcpy(c, d, n);
    l->data[l->n] = c;
    l->len[l->n++] = n;
    return 0;
}

/* zbar is loaded when a QR code is to be scanned, not at program start:
 * it pulls in X11, V4L and D-Bus libraries that every other kvitt command
 * would otherwise map at each start.  The table lives on the caller's
 * stack (no global state); dlopen of a loaded library is a refcount. */
typedef struct zbar_api {
    void *dl;
    zbar_image_scanner_t *(*scanner_create)(void);
    void (*scanner_destroy)(zbar_image_scanner_t *);
    int (*scanner_set_config)(zbar_image_scanner_t *, zbar_symbol_type_t, zbar_config_t, int);
    zbar_image_t *(*image_create)(void);
    void (*image_destroy)(zbar_image_t *);
    void (*image_set_format)(zbar_image_t *, unsigned long);
    void (*image_set_size)(zbar_image_t *, unsigned, unsigned);
    void (*image_set_data)(zbar_image_t *, const void *, unsigned long, zbar_image_cleanup_handler_t *);
    int (*scan_image)(zbar_image_scanner_t *, zbar_image_t *);
    const zbar_symbol_t *(*image_first_symbol)(const zbar_image_t *);
    const zbar_symbol_t *(*symbol_next)(const zbar_symbol_t *);
    zbar_symbol_type_t (*symbol_get_type)(const zbar_symbol_t *);
    const char *(*symbol_get_data)(const zbar_symbol_t *);
    unsigned int (*symbol_get_data_length)(const zbar_symbol_t *);
} zbar_api;

static int zbar_load(zbar_api *z)
{
    memset(z, 0, sizeof *z);
    z->dl = dlopen("libzbar.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!z->dl)
        return -1;
#define ZSYM(field, name) \
    do { \
        *(void **)&z->field = dlsym(z->dl, name); \
        if (!z->field) { dlclose(z->dl); z->dl = NULL; return -1; } \
    } while (0)
    ZSYM(scanner_create, "zbar_image_scanner_create");
    ZSYM(scanner_destroy, "zbar_image_scanner_destroy");
    ZSYM(scanner_set_config, "zbar_image_scanner_set_config");
    ZSYM(image_create, "zbar_image_create");
    ZSYM(image_destroy, "zbar_image_destroy");
    ZSYM(image_set_format, "zbar_image_set_format");
    ZSYM(image_set_size, "zbar_image_set_size");
    ZSYM(image_set_data, "zbar_image_set_data");
    ZSYM(scan_image, "zbar_scan_image");
    ZSYM(image_first_symbol, "zbar_image_first_symbol");
    ZSYM(symbol_next, "zbar_symbol_next");
    ZSYM(symbol_get_type, "zbar_symbol_get_type");
    ZSYM(symbol_get_data, "zbar_symbol_get_data");
    ZSYM(symbol_get_data_length, "zbar_symbol_get_data_length");
#undef ZSYM
    return 0;
}

/* One zbar pass over img scaled by an integer factor, with a white border. */
static kv_render_status scan_once(const zbar_api *z, const kv_image *img, int scale, symlist *out)
{
    const int B = 32;
    int W = img->width * scale + 2 * B, H = img->height * scale + 2 * B;
    uint8_t *p = malloc((size_t)W * H);
    if (!p)
        return KV_RENDER_E_NOMEM;
    memset(p, 255, (size_t)W * H);
    for (int y = 0; y < img->height * scale; y++) {
        const uint8_t *src = img->pixels + (size_t)(y / scale) * img->width;
        uint8_t *dst = p + (size_t)(y + B) * W + B;
        if (scale == 1) {
            memcpy(dst, src, (size_t)img->width);
        } else {
            for (int x = 0; x < img->width * scale; x++)
                dst[x] = src[x / scale];
        }
    }
    zbar_image_scanner_t *sc = z->scanner_create();
    zbar_image_t *zi = z->image_create();
    if (!sc || !zi) {
        if (sc) z->scanner_destroy(sc);
        if (zi) z->image_destroy(zi);
        free(p);
        return KV_RENDER_E_SCAN;
    }
    z->scanner_set_config(sc, 0, ZBAR_CFG_ENABLE, 0);
    z->scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
    z->scanner_set_config(sc, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1);
    z->image_set_format(zi, zbar_fourcc('Y', '8', '0', '0'));
    z->image_set_size(zi, (unsigned)W, (unsigned)H);
    z->image_set_data(zi, p, (unsigned long)W * H, NULL);
    int n = z->scan_image(sc, zi);
    kv_render_status st = n < 0 ? KV_RENDER_E_SCAN : KV_RENDER_OK;
    if (n > 0) {
        for (const zbar_symbol_t *s = z->image_first_symbol(zi); s; s = z->symbol_next(s)) {
            if (z->symbol_get_type(s) != ZBAR_QRCODE)
                continue;
            if (symlist_add(out, z->symbol_get_data(s), z->symbol_get_data_length(s))) {
                st = KV_RENDER_E_NOMEM;
                break;
            }
        }
    }
    z->image_destroy(zi);
    z->scanner_destroy(sc);
    free(p);
    return st;
}

kv_render_status kv_image_scan_qr(const kv_image *img, int want, kv_qr_fn fn, void *ctx,
                                  int *count)
{
    if (!img || img->width <= 0 || img->height <= 0)
        return KV_RENDER_E_ARG;
    /* zbar misses very small modules (1 dot): a second pass at twice the
     * size finds those; the pass that found more symbols wins */
    zbar_api z;
    if (zbar_load(&z) != 0)
        return KV_RENDER_E_SCAN;
    symlist a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    kv_render_status st = scan_once(&z, img, 1, &a);
    if (st == KV_RENDER_OK && (want <= 0 || a.n < want) &&
        (size_t)img->width * img->height <= ((size_t)16 << 20))
        st = scan_once(&z, img, 2, &b);
    dlclose(z.dl);
    if (st != KV_RENDER_OK) {
        symlist_free(&a);
        symlist_free(&b);
        return st;
    }
    symlist *best = b.n > a.n ? &b : &a;
    for (int i = 0; i < best->n; i++)
        if (fn && fn(ctx, best->data[i], best->len[i]) != 0)
            break;
    if (count)
        *count = best->n;
    symlist_free(&a);
    symlist_free(&b);
    return KV_RENDER_OK;
}
