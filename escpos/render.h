/*
 * render.h - draw an ESC/POS byte stream as the paper a printer would
 * produce, and check printed QR codes with a scanner.
 *
 * The renderer decodes the stream with escpos/decoder.h and draws, at the
 * profile's resolution and printable width: text in fonts A, B and C from
 * real bitmap fonts (X11 misc-fixed 12x24, 9x18 and 8x16 through FreeType,
 * with fallback fonts for glyphs they lack, e.g. the euro sign in 12x24),
 * read in the code page ESC t / ESC GS t selected (every single-byte page
 * of codepage.h's kv_cptable set), bold, double strike, underline,
 * reverse, GS ! sizes, alignment, margins, tabs, ESC $ / ESC \ print
 * positions (GS P motion units, a dot by default), reverse feeds (ESC e / ESC K),
 * upside-down lines (ESC {) and 90-degree rotation (ESC V), raster images
 * (GS v 0, all four scalings), column images (ESC *), graphics (GS ( L /
 * GS 8 L store + print), native QR codes of model 2 (re-encoded with
 * libqrencode at the stream's module size and EC level; model 1 and Micro
 * QR are drawn as a hatched box and counted in info.qr_unverifiable),
 * barcodes (CODE128, EAN-13, EAN-8, UPC-A, CODE39, with HRI text), feeds
 * and a dashed cut line.  Text left in the line buffer at the end of the
 * stream is not drawn (a printer never prints it).  Not drawn: PDF417 and
 * other 2D symbols, other 1D symbologies (ITF, CODABAR, CODE93, ...),
 * user-defined characters, NV/downloaded images; page mode is drawn as
 * standard mode.  They are still decoded, so nothing after them is lost.
 *
 * Output is deterministic: the same bytes and options give the same image
 * and the same PNG bytes.  No I/O except reading the font files named in
 * the options when the renderer is created; PNGs go through a caller's
 * writer callback.
 *
 * Pixels: 8 bits per dot, 0 = black (printed), 255 = white paper; the cut
 * line is drawn grey (96: black in a 1-bit PNG).
 */
#ifndef KV_ESCPOS_RENDER_H
#define KV_ESCPOS_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "escpos/profile.h"

/* Status codes (append only, never renumber). */
typedef enum {
    KV_RENDER_OK = 0,
    KV_RENDER_E_NOMEM = -1,   /* out of memory */
    KV_RENDER_E_FONT = -2,    /* a font file could not be loaded */
    KV_RENDER_E_ARG = -3,     /* invalid argument */
    KV_RENDER_E_WRITE = -4,   /* the writer callback failed */
    KV_RENDER_E_PNG = -5,     /* libpng failed */
    KV_RENDER_E_SCAN = -6     /* the QR scanner (libzbar.so.0, loaded on first use) could not be set up */
} kv_render_status;

/* Static text for a status; never NULL, never freed. */
const char *kv_render_strerror(kv_render_status st);

/* Default font files (Debian xfonts-base and fonts-dejavu-core). */
#define KV_RENDER_FONT_A "/usr/share/fonts/X11/misc/12x24.pcf.gz"
#define KV_RENDER_FONT_B "/usr/share/fonts/X11/misc/9x18.pcf.gz"
/* Font C (ESC M 2): cell sizes differ by model (TM-T20II 9x17, many
 * clones 8x16); kvitt draws an 8x16 cell. */
#define KV_RENDER_FONT_C "/usr/share/fonts/X11/misc/8x16.pcf.gz"
#define KV_RENDER_FONT_FALLBACK "/usr/share/fonts/X11/misc/10x20.pcf.gz"
#define KV_RENDER_FONT_OUTLINE "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"

typedef struct kv_render_opts {
    int version;              /* 1 */
    const kv_profile *profile; /* NULL = kv_profile_default() */
    const char *font_a;       /* NULL = KV_RENDER_FONT_A */
    const char *font_b;       /* NULL = KV_RENDER_FONT_B */
    const char *font_fallback; /* bitmap font for missing glyphs; NULL = KV_RENDER_FONT_FALLBACK */
    const char *font_outline; /* last resort outline font; NULL = KV_RENDER_FONT_OUTLINE */
    int max_height;           /* cap on the paper length in dots; 0 = 65536 */
    const char *font_c;       /* NULL = KV_RENDER_FONT_C; optional (font B when unusable) */
} kv_render_opts;

#define KV_RENDER_OPTS_INIT { 1, NULL, NULL, NULL, NULL, NULL, 0, NULL }

/* A rendered paper.  pixels has width * height bytes, row after row. */
typedef struct kv_image {
    int width;
    int height;
    uint8_t *pixels;
} kv_image;

/* Free an image from this module.  NULL is a no-op. */
void kv_image_free(kv_image *img);

/* What a render found, filled by kv_render(). */
typedef struct kv_render_info {
    int qr_printed;      /* native QR print commands that drew a symbol */
    int qr_failed;       /* native QR prints that drew nothing (no data,
                            data too long, symbol wider than the paper) */
    int barcodes;        /* 1D barcodes drawn */
    int barcodes_failed; /* 1D barcodes not drawn (bad data, unsupported) */
    int images;          /* raster/column/graphics images drawn */
    int cuts;            /* cut commands */
    int unknown;         /* commands the decoder reported as unknown */
    size_t unprinted;    /* text bytes left without a print command */
    int clipped;         /* 1 when the paper hit max_height */
    int qr_unverifiable; /* native QR prints of model 1 or Micro QR: drawn
                            as a hatched box, since no scanner here reads
                            them and a model 2 drawing would be a lie */
    int qr_small_module; /* native QR prints with modules under 3 dots */
    int qr_micro;        /* of qr_unverifiable: the Micro QR ones */
    int codepage_unknown;/* text printed in an ESC t page kvitt lacks
                            (drawn as PC437) */
} kv_render_info;

typedef struct kv_renderer kv_renderer;

/*
 * Create a renderer: loads the fonts (the only file access of this
 * module).  opts may be NULL (defaults).  The fallback and outline fonts
 * are optional: when they cannot be loaded, missing glyphs are drawn as a
 * box.  *out is set only on success; free with kv_renderer_destroy().
 * Returns KV_RENDER_OK, KV_RENDER_E_FONT (font A or B unusable),
 * KV_RENDER_E_NOMEM or KV_RENDER_E_ARG.
 */
kv_render_status kv_renderer_create(kv_renderer **out, const kv_render_opts *opts);

/* Free a renderer.  NULL is a no-op. */
void kv_renderer_destroy(kv_renderer *r);

/*
 * Render buf[0..len) as paper.  On success *out is a new image (free with
 * kv_image_free()) and *info (may be NULL) describes the stream.  Empty
 * input gives a 1-dot-high blank paper.  Returns KV_RENDER_OK,
 * KV_RENDER_E_NOMEM or KV_RENDER_E_ARG.  A renderer renders one stream
 * at a time (not thread-safe); separate renderers are independent.
 */
kv_render_status kv_render(kv_renderer *r, const uint8_t *buf, size_t len,
                           kv_image **out, kv_render_info *info);

/* Writer callback: write len bytes, return 0 on success, -1 on failure. */
typedef int (*kv_write_fn)(void *ctx, const void *data, size_t len);

/*
 * Encode img as a greyscale PNG (bits = 8) or a black-and-white PNG
 * (bits = 1: dots darker than 128 are black) and hand the bytes to
 * write(ctx, ...).  No timestamps or other varying chunks: same image,
 * same bytes.  Returns KV_RENDER_OK, KV_RENDER_E_WRITE, KV_RENDER_E_PNG
 * or KV_RENDER_E_ARG.
 */
kv_render_status kv_image_write_png(const kv_image *img, int bits,
                                    kv_write_fn write, void *ctx);

/*
 * Simulate thermal printing and a phone camera: 2% of the black dots
 * drop out (a xorshift PRNG seeded with seed), then a 1-dot blur (3x3
 * box), then a 2 degree rotation (bilinear, white background).  *out is a
 * new image (kv_image_free); set only on success.  Deterministic for a
 * given image and seed.  Returns KV_RENDER_OK, KV_RENDER_E_NOMEM or
 * KV_RENDER_E_ARG.
 */
kv_render_status kv_image_degrade(kv_image **out, const kv_image *img, uint64_t seed);

/* 64-bit FNV-1a hash of buf: the seed kv_image_degrade uses for a file. */
uint64_t kv_render_hash(const uint8_t *buf, size_t len);

/* Scan callback: one decoded QR symbol (data is binary-safe, NOT
 * NUL-terminated, borrowed for the call).  Return 0 to go on. */
typedef int (*kv_qr_fn)(void *ctx, const uint8_t *data, size_t len);

/*
 * Find and decode every QR code in img with zbar (the image gets a white
 * border first, as paper has).  zbar misses symbols with 1-dot modules, so
 * a second pass runs at twice the size and the pass that found more
 * symbols wins; the second pass is skipped when the first found at least
 * want symbols (want <= 0: always run both).  Calls fn for each symbol in
 * paper order (top to bottom, then left to right: the order the stream
 * printed them).  *count (may be NULL) = number of symbols.
 * Returns KV_RENDER_OK, KV_RENDER_E_NOMEM, KV_RENDER_E_SCAN or
 * KV_RENDER_E_ARG.
 */
kv_render_status kv_image_scan_qr(const kv_image *img, int want, kv_qr_fn fn, void *ctx,
                                  int *count);

/* A symbol found by kv_image_scan_qr_at (borrowed for the callback). */
typedef struct kv_qr_symbol {
    const uint8_t *data;  /* binary-safe, NOT NUL-terminated */
    size_t len;
    int x, y;             /* top-left corner on the image, dots */
    int module;           /* module size in dots measured on the finder
                             pattern; 0 when it could not be measured */
} kv_qr_symbol;
typedef int (*kv_qr_at_fn)(void *ctx, const kv_qr_symbol *sym);

/* kv_image_scan_qr with each symbol's position and module size. */
kv_render_status kv_image_scan_qr_at(const kv_image *img, int want, kv_qr_at_fn fn, void *ctx,
                                     int *count);

#endif
