/*
 * render.c - ESC/POS stream -> paper image: fonts, the line buffer, images,
 * QR codes and the command walk (1D barcodes: render_barcode.c; PNG,
 * degradation and QR scanning: image.c).
 *
 * Layout model (standard mode of an Epson-class printer): text and column
 * images collect in a line buffer; a print command (LF, ESC d, ESC J, an
 * image, a barcode, a QR code) draws the line with the alignment that was
 * active when the line started, bottom-aligned, and advances the paper by
 * max(line spacing, tallest item).  A line that would exceed the print
 * area is printed first (automatic wrap), as firmware does.
 */
#include <stdlib.h>
#include <string.h>

#include <qrencode.h>

#include "escpos/codepage.h"
#include "escpos/profile.h"
#include "escpos/render_int.h"

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
        fo->cw = idx == 2 ? 8 : idx ? 9 : 12;
        fo->ch = idx == 2 ? 16 : idx ? 18 : 24;
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
    if (rc == 0 && setup_font(r, 2, opts->font_c ? opts->font_c : KV_RENDER_FONT_C) == -2)
        rc = -2;  /* a missing font C is drawn as B (font_index) */
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
    for (int i = 0; i < 3; i++) {
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
int kv__r_ensure_rows(kv_renderer *r, int rows)
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

void kv__r_fill(kv_renderer *r, int x, int y, int w, int h, uint8_t v)
{
    if (x < 0) { w += x; x = 0; }
    if (y < 0) { h += y; y = 0; }
    if (x + w > r->width) w = r->width - x;
    if (w <= 0 || h <= 0)
        return;
    if (y + h > r->cap_rows) {
        kv__r_ensure_rows(r, y + h);
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

void kv__r_advance(kv_renderer *r, int dots)
{
    if (dots <= 0)
        return;
    long ny = (long)r->y + dots;
    if (ny > r->max_height) {
        ny = r->max_height;
        r->info.clipped = 1;
    }
    r->y = (int)ny;
    if (r->y > r->ymax)
        r->ymax = r->y;
}

/* ---- print area ---------------------------------------------------------------- */

void kv__r_area(const kv_renderer *r, const kv_dec_state *st, int *x0, int *aw)
{
    int left = st->left_margin < r->width ? st->left_margin : r->width - 1;
    int w = r->width - left;
    if (st->print_width > 0 && st->print_width < w)
        w = st->print_width;
    *x0 = left;
    *aw = w;
}

int kv__r_align_x(const kv_renderer *r, const kv_dec_state *st, int align, int w)
{
    int x0, aw;
    kv__r_area(r, st, &x0, &aw);
    if (w >= aw || align == 0)
        return x0;
    return x0 + (align == 1 ? (aw - w) / 2 : aw - w);
}

static int spacing(const kv_renderer *r, const kv_dec_state *st)
{
    return st->line_spacing < 0 ? (r->prof->dpi + 3) / 6 : st->line_spacing;
}

/* ---- line buffer ------------------------------------------------------------- */

void kv__r_draw_char(kv_renderer *r, const item *it, int x, int top)
{
    font *fo = &r->fonts[it->font];
    int cw = fo->cw, ch = fo->ch;
    int cellw = cw * it->wm, cellh = ch * it->hm;
    uint8_t ink = 0, paper = 255;
    if (it->rev) {
        kv__r_fill(r, x, top, it->w, it->h, 0);
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
            if (it->rot)  /* ESC V: turned 90 degrees clockwise */
                kv__r_fill(r, x + (ch - 1 - gy) * it->hm, top + gx * it->wm,
                           it->hm + (it->bold ? 1 : 0), it->wm, ink);
            else
                kv__r_fill(r, x + gx * it->wm, top + gy * it->hm, it->wm + (it->bold ? 1 : 0),
                           it->hm, ink);
        }
    }
    if (it->ul && !it->rev)
        kv__r_fill(r, x, top + cellh - it->ul, it->w, it->ul, 0);
    (void)cellw;
}

static void draw_column(kv_renderer *r, const item *it, int x, int top)
{
    int bpc = (it->m & 0x20) ? 3 : 1;
    for (int c = 0; c < it->cols; c++) {
        for (int b = 0; b < bpc * 8; b++) {
            int byte = it->data[c * bpc + b / 8];
            if ((byte >> (7 - (b & 7))) & 1)
                kv__r_fill(r, x + c * it->sx, top + b * it->sy, it->sx, it->sy, 0);
        }
    }
}

static void flush_line(kv_renderer *r, const kv_dec_state *st, int mode, int n);
static void add_item(kv_renderer *r, const kv_dec_state *st, const item *it);

/* ESC {: turn the printed line (rows [y, y + h) of the print area) by 180
 * degrees, as the printer prints it upside down. */
static void turn_band(kv_renderer *r, const kv_dec_state *st, int y, int h)
{
    int x0, aw;
    kv__r_area(r, st, &x0, &aw);
    if (y + h > r->cap_rows)
        h = r->cap_rows - y;
    for (int j = 0; j < h / 2 + (h & 1); j++) {
        uint8_t *a = r->px + (size_t)(y + j) * r->width + x0;
        uint8_t *b = r->px + (size_t)(y + h - 1 - j) * r->width + x0;
        int n = (a == b) ? aw / 2 : aw;
        for (int i = 0; i < n; i++) {
            uint8_t t = a[i];
            a[i] = b[aw - 1 - i];
            b[aw - 1 - i] = t;
        }
    }
}

static int aw_of(const kv_renderer *r, const kv_dec_state *st)
{
    int x0, aw;
    kv__r_area(r, st, &x0, &aw);
    return aw;
}

/* ESC $ / ESC \: move the next item to target dots from the line's start
 * (motion units converted by units_to_dots); a
 * target beyond the print area is ignored, as the printer does; going
 * back overprints. */
static void set_position(kv_renderer *r, const kv_dec_state *st, int target)
{
    if (target < 0 || target >= aw_of(r, st) || target == r->line_w)
        return;
    item it;
    memset(&it, 0, sizeof it);
    it.kind = IT_SPACE;
    it.w = target - r->line_w;
    add_item(r, st, &it);
}

/* n horizontal motion units in dots (GS P x: 1/x inch; default a dot). */
static int units_to_dots(const kv_renderer *r, int n)
{
    if (r->motion_x <= 0)
        return n;
    long v = (long)n * r->prof->dpi;
    return (int)(v >= 0 ? (v + r->motion_x / 2) / r->motion_x : -((-v + r->motion_x / 2) / r->motion_x));
}

/* ESC e n (lines, unit = 0) / ESC K n (dots): print the buffer, then feed
 * the paper back. */
static void reverse_feed(kv_renderer *r, const kv_dec_state *st, int n, int unit)
{
    if (r->nitems)
        flush_line(r, st, 0, 0);
    int back = unit ? n : n * spacing(r, st);
    r->y = back > r->y ? 0 : r->y - back;
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
        if (kv__r_ensure_rows(r, r->y + h) == 0 || r->y + h <= r->cap_rows) {
            int x = kv__r_align_x(r, st, r->line_align, r->line_w);
            for (int i = 0; i < r->nitems; i++) {
                const item *it = &r->items[i];
                int top = r->y + h - it->h;
                if (it->kind == IT_CHAR)
                    kv__r_draw_char(r, it, x, top);
                else if (it->kind == IT_COLUMN)
                    draw_column(r, it, x, top);
                x += it->w;
            }
            if (r->line_upside)
                turn_band(r, st, r->y, h);
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
    kv__r_advance(r, adv);
    r->nitems = 0;
    r->line_w = 0;
}

static void add_item(kv_renderer *r, const kv_dec_state *st, const item *it)
{
    int x0, aw;
    kv__r_area(r, st, &x0, &aw);
    if (r->nitems && (r->line_w + it->w > aw || r->nitems >= MAX_ITEMS))
        flush_line(r, st, 0, 0);
    if (r->nitems == 0) {
        r->line_align = st->align;
        r->line_upside = st->upside_down;  /* ESC { counts at a line's start */
    }
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

/* The font drawn for ESC M n: C falls back to B when its file is missing. */
static int font_index(const kv_renderer *r, int f)
{
    if (f == 2)
        return r->fonts[2].face ? 2 : 1;
    return f == 1 ? 1 : 0;
}

static void add_text(kv_renderer *r, const kv_dec_state *st, const uint8_t *s, size_t n)
{
    const kv_cptable *cp = kv_cptable_select(r->prof, st->codepage, st->star_codepage);
    if (!cp)
        r->info.codepage_unknown++;
    int f = font_index(r, st->font);
    font *fo = &r->fonts[f];
    for (size_t i = 0; i < n; i++) {
        item it;
        memset(&it, 0, sizeof it);
        it.kind = IT_CHAR;
        it.cp = s[i] < 0x80 ? intl_map(st->intl, s[i]) : kv_cptable_to_unicode(cp, s[i]);
        it.font = f;
        it.wm = st->width_mul;
        it.hm = st->height_mul;
        it.bold = st->bold || st->dstrike;
        it.ul = st->underline;
        it.rev = st->reverse;
        it.rot = st->rotate != 0;
        if (it.rot) {  /* turned clockwise: the cell is ch wide, cw high;
                          GS ! enlarges in the turned directions */
            it.w = (fo->ch + st->char_spacing) * it.hm;
            it.h = fo->cw * it.wm;
            it.ul = 0;  /* no underline on turned characters */
        } else {
            it.w = (fo->cw + st->char_spacing) * it.wm;
            it.h = fo->ch * it.hm;
        }
        add_item(r, st, &it);
    }
}

static void add_tab(kv_renderer *r, const kv_dec_state *st)
{
    int f = font_index(r, st->font);
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
    if (target < aw_of(r, st))
        set_position(r, st, target);
}

/* ---- images ------------------------------------------------------------------ */

/* Draw rows of 1-bit data (rowbytes per row, w dots used), scaled. */
static void draw_bits(kv_renderer *r, const kv_dec_state *st, const uint8_t *d, size_t dlen,
                      int w, int h, size_t rowbytes, int sx, int sy)
{
    int W = w * sx, H = h * sy;
    int x = kv__r_align_x(r, st, st->align, W);
    if (kv__r_ensure_rows(r, r->y + H) != 0 && r->y >= r->cap_rows) {
        kv__r_advance(r, H);
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
                kv__r_fill(r, x + col * sx, top, sx, sy, 0);
        }
    }
    kv__r_advance(r, H);
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
    /* model 1 and Micro QR (51): libqrencode draws neither, zbar reads
     * neither, so a model 2 drawing would let verify-qr pass a code the
     * printer prints differently (or not at all).  A hatched box of about
     * the size stands for it, and info.qr_unverifiable counts it. */
    QRcode *q = QRcode_encodeData((int)st->qr_len, st->qr_data, 0, lv[st->qr_ec & 3]);
    if (!q) {
        r->info.qr_failed++;
        return;
    }
    int mod = st->qr_module;
    if (mod < 3)
        r->info.qr_small_module++;
    if (st->qr_model != 2) {
        int W = q->width * mod, x0, aw;
        QRcode_free(q);
        kv__r_area(r, st, &x0, &aw);
        if (W > aw)
            W = aw;
        int x = kv__r_align_x(r, st, st->align, W);
        kv__r_ensure_rows(r, r->y + W);
        kv__r_fill(r, x, r->y, W, 2, 0);
        kv__r_fill(r, x, r->y + W - 2, W, 2, 0);
        kv__r_fill(r, x, r->y, 2, W, 0);
        kv__r_fill(r, x + W - 2, r->y, 2, W, 0);
        for (int k = -W + 8; k < W; k += 8)  /* diagonal hatching */
            for (int j = 0; j < W; j++)
                if (k + j >= 0 && k + j < W)
                    kv__r_fill(r, x + k + j, r->y + j, 1, 1, 0);
        kv__r_advance(r, W);
        r->info.qr_unverifiable++;
        r->info.qr_micro += st->qr_model == 3;
        return;
    }
    int W = q->width * mod;
    int x0, aw;
    kv__r_area(r, st, &x0, &aw);
    if (W > aw) {
        QRcode_free(q);
        r->info.qr_failed++;
        return;
    }
    int x = kv__r_align_x(r, st, st->align, W);
    kv__r_ensure_rows(r, r->y + W);
    for (int j = 0; j < q->width; j++)
        for (int i = 0; i < q->width; i++)
            if (q->data[j * q->width + i] & 1)
                kv__r_fill(r, x + i * mod, r->y + j * mod, mod, mod, 0);
    kv__r_advance(r, W);
    QRcode_free(q);
    r->info.qr_printed++;
}

/* ---- cut ---------------------------------------------------------------------- */

static void draw_cut(kv_renderer *r)
{
    kv__r_advance(r, 4);
    kv__r_ensure_rows(r, r->y + 1);
    if (r->y < r->cap_rows)
        for (int x = 0; x < r->width; x += 12)
            kv__r_fill(r, x, r->y, 8, 1, CUT_GREY);
    kv__r_advance(r, 5);
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
    case KV_OP_REVERSE_FEED: reverse_feed(r, st, c->p[0], c->p[1]); break;
    case KV_OP_ABS_POS: set_position(r, st, units_to_dots(r, c->p[0])); break;
    case KV_OP_REL_POS: set_position(r, st, r->line_w + units_to_dots(r, c->p[0])); break;
    case KV_OP_MOTION_UNITS: r->motion_x = c->p[0]; break;
    case KV_OP_CUT:
        if (r->nitems) flush_line(r, st, 0, 0);
        if (c->p[2] > 0)
            kv__r_advance(r, c->p[2]);
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
            kv__r_area(r, st, &x0, &aw);
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
        kv__r_draw_barcode(r, st, c);
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
    r->ymax = 0;
    r->motion_x = 0;
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
    int h = r->ymax > r->y ? r->ymax : r->y;
    if (h <= 0)
        h = 1;
    if (kv__r_ensure_rows(r, h) != 0 && r->cap_rows < h)
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

