/* render_int.h - internal: the renderer's state shared by render.c (text,
 * images, QR, the walk) and render_barcode.c (1D symbols).  Not installed. */
#ifndef KV_ESCPOS_RENDER_INT_H
#define KV_ESCPOS_RENDER_INT_H

#include <stdint.h>

#include <ft2build.h>
#include FT_FREETYPE_H

#include "escpos/decoder.h"
#include "escpos/render.h"

#define CUT_GREY 96
#define CACHE_N 0x10000
#define MAX_ITEMS 1024

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
    int font, wm, hm, bold, ul, rev, rot;
    const uint8_t *data;  /* column image */
    int m, cols, sx, sy;
} item;

struct kv_renderer {
    FT_Library ft;
    font fonts[3];        /* A, B, C (C = B when its file is missing) */
    FT_Face fallback;     /* bitmap fallback, may be NULL */
    FT_Face outline;      /* outline fallback, may be NULL */
    const kv_profile *prof;
    int max_height;
    /* per render */
    uint8_t *px;          /* canvas, kept between renders (no page faults) */
    int width, cap_rows, y;
    int ymax;             /* lowest row the paper reached (reverse feeds go back) */
    int hw;               /* rows [hw, cap_rows) are known to be white */
    item items[MAX_ITEMS];
    int nitems, line_w, line_align, line_upside;
    int motion_x;         /* GS P x: horizontal motion unit 1/x inch; 0 = a dot */
    int tabs[32], ntabs;
    /* stored graphics (GS ( L fn 112) */
    const uint8_t *g_data;
    size_t g_len;
    int g_w, g_h, g_bx, g_by;
    kv_render_info info;
    int oom;
};

int kv__r_ensure_rows(kv_renderer *r, int rows);
void kv__r_fill(kv_renderer *r, int x, int y, int w, int h, uint8_t v);
void kv__r_advance(kv_renderer *r, int dots);
void kv__r_area(const kv_renderer *r, const kv_dec_state *st, int *x0, int *aw);
int kv__r_align_x(const kv_renderer *r, const kv_dec_state *st, int align, int w);
void kv__r_draw_char(kv_renderer *r, const item *it, int x, int top);
/* render_barcode.c: GS k */
void kv__r_draw_barcode(kv_renderer *r, const kv_dec_state *st, const kv_dec_cmd *c);

#endif
