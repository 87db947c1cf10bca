/*
 * decoder.h - ESC/POS byte stream decoder with a printer state model.
 *
 * The decoder walks a byte stream command by command.  It knows the exact
 * argument length of every command it names (fixed arguments, NUL-ended
 * lists, counted data, and the length-prefixed families `ESC ( x`,
 * `GS ( x`, `FS ( x` and `GS 8 L`), so an unknown command never shifts the
 * rest of the stream: an unknown `ESC x` / `GS x` / `FS x` / `DLE x` is
 * reported as two bytes of "unknown" (three when the prefix is known but
 * its function is not, e.g. `GS k 200`, `GS V 7`, `GS 8 A`), a stray
 * control byte as one, and a command cut off by the end of the stream as
 * "unknown" up to the end.
 * The reported commands are contiguous: their lengths add up to the
 * stream length exactly.
 *
 * While walking it models the printer state that the commands change
 * (code page, styles, sizes, alignment, spacing, barcode and QR
 * parameters, stored QR data, the line buffer); ESC @ resets all of it.
 * Text left in the line buffer at the end of the stream (no final LF or
 * other print command) is reported by kv_dec_unprinted().
 *
 * Pure: no I/O, no global state.  A handle is used by one thread at a time.
 */
#ifndef KV_ESCPOS_DECODER_H
#define KV_ESCPOS_DECODER_H

#include <stddef.h>
#include <stdint.h>

/* Status codes (append only, never renumber). */
typedef enum {
    KV_DEC_OK = 0,
    KV_DEC_END = -1,     /* kv_dec_next(): no more commands */
    KV_DEC_E_NOMEM = -2, /* out of memory */
    KV_DEC_E_ARG = -3    /* NULL handle or output pointer */
} kv_dec_status;

/* Static text for a status; never NULL, never freed. */
const char *kv_dec_strerror(kv_dec_status st);

/*
 * What a command does.  The parameters each op fills in kv_dec_cmd.p[] are
 * listed after it (raw byte values unless noted; "0/48" synonyms are
 * normalised to 0.. in p[] and in the state).
 */
#define KV_DEC_OPS(X) \
    X(TEXT, "text")                 /* data = the bytes (>= 0x20) */ \
    X(UNKNOWN, "unknown")           /* data = the bytes; note says why */ \
    X(LF, "print-lf")               /* print line buffer, feed one line */ \
    X(CR, "cr")                     /* carriage return (ignored) */ \
    X(HT, "tab")                    /* horizontal tab */ \
    X(FF, "form-feed")              /* print (page mode) / ignored */ \
    X(CAN, "cancel")                /* cancel page data */ \
    X(BEL, "bell")                  /* buzzer / drawer (Star) */ \
    X(INIT, "init")                 /* ESC @ */ \
    X(CANCEL_KANJI, "kanji-off")    /* FS . */ \
    X(KANJI_ON, "kanji-on")         /* FS & */ \
    X(KANJI_MODE, "kanji-mode")     /* FS ! n ; FS - n ; FS S a b ; FS W n ; FS C n */ \
    X(CODEPAGE, "codepage")         /* ESC t n: p0 = n */ \
    X(STAR_CODEPAGE, "star-codepage") /* ESC GS t n: p0 = n */ \
    X(INTL, "intl-charset")         /* ESC R n: p0 = n */ \
    X(PRINT_MODE, "print-mode")     /* ESC ! n: p0 = n */ \
    X(BOLD, "bold")                 /* ESC E n: p0 = 0/1 */ \
    X(DSTRIKE, "double-strike")     /* ESC G n: p0 = 0/1 */ \
    X(UNDERLINE, "underline")       /* ESC - n: p0 = 0..2 */ \
    X(SIZE, "char-size")            /* GS ! n: p0 = width 1..8, p1 = height 1..8 */ \
    X(REVERSE, "reverse")           /* GS B n: p0 = 0/1 */ \
    X(FONT, "font")                 /* ESC M n: p0 = 0 A, 1 B, 2 C */ \
    X(UPSIDE_DOWN, "upside-down")   /* ESC { n: p0 = 0/1 */ \
    X(ROTATE, "rotate-90")          /* ESC V n: p0 */ \
    X(SMOOTH, "smoothing")          /* GS b n: p0 */ \
    X(COLOR, "colour")              /* ESC r n: p0 */ \
    X(ITALIC, "italic")             /* ESC 4 n (Star): p0 */ \
    X(CHAR_SPACING, "char-spacing") /* ESC SP n: p0 dots */ \
    X(DENSITY, "density")           /* GS | n: p0 */ \
    X(ALIGN, "align")               /* ESC a n: p0 = 0 left, 1 centre, 2 right */ \
    X(LEFT_MARGIN, "left-margin")   /* GS L nL nH: p0 */ \
    X(PRINT_WIDTH, "print-width")   /* GS W nL nH: p0 */ \
    X(LINE_SPACING_DEFAULT, "line-spacing-default") /* ESC 2 */ \
    X(LINE_SPACING, "line-spacing") /* ESC 3 n: p0 */ \
    X(ABS_POS, "abs-position")      /* ESC $ nL nH: p0 */ \
    X(REL_POS, "rel-position")      /* ESC \ nL nH: p0 (signed) */ \
    X(LINE_START, "line-start")     /* GS T n: p0 */ \
    X(TABS, "tab-stops")            /* ESC D ... NUL: data = the stops */ \
    X(FEED_LINES, "print-feed-lines") /* ESC d n: p0 */ \
    X(FEED_UNITS, "print-feed-units") /* ESC J n: p0 */ \
    X(REVERSE_FEED, "reverse-feed") /* ESC e n / ESC K n: p0, p1 = 1 units */ \
    X(CUT, "cut")                   /* GS V: p0 = m raw, p1 = 1 partial, p2 = feed units (-1 none) */ \
    X(CUT_LEGACY, "cut-legacy")     /* ESC i (p0 = 0 full) / ESC m (p0 = 1 partial) */ \
    X(PULSE, "drawer-pulse")        /* ESC p m t1 t2: p0 pin (0/1), p1 on ms, p2 off ms */ \
    X(PULSE_RT, "drawer-pulse-rt")  /* DLE DC4 fn ...: p0 fn, p1.. args */ \
    X(STATUS_RT, "status-rt")       /* DLE EOT n [a]: p0 n, p1 a or -1 */ \
    X(RECOVER_RT, "recover-rt")     /* DLE ENQ n: p0 */ \
    X(STATUS, "status")             /* GS r n: p0 (1 paper, 2 drawer, 4 ink) */ \
    X(ASB, "auto-status-back")      /* GS a n: p0 */ \
    X(STATUS_ESC, "status-esc")     /* ESC u n / ESC v: p0 */ \
    X(PRINTER_ID, "printer-id")     /* GS I n: p0 */ \
    X(PAPER_SENSOR, "paper-sensor") /* ESC c a n: p0 a, p1 n */ \
    X(PERIPHERAL, "peripheral")     /* ESC = n: p0 */ \
    X(MOTION_UNITS, "motion-units") /* GS P x y: p0 x, p1 y */ \
    X(PAGE_MODE, "page-mode")       /* ESC L */ \
    X(STANDARD_MODE, "standard-mode") /* ESC S */ \
    X(PAGE_PRINT, "page-print")     /* ESC FF */ \
    X(PAGE_AREA, "page-area")       /* ESC W x y dx dy: p0..p3 */ \
    X(PAGE_DIR, "page-direction")   /* ESC T n: p0 */ \
    X(PAGE_VPOS, "page-vposition")  /* GS $ / GS \ : p0 */ \
    X(UNIDIR, "unidirectional")     /* ESC U n: p0 */ \
    X(USER_CHARSET, "user-charset") /* ESC % n: p0 */ \
    X(USER_CHARS, "user-chars")     /* ESC & y c1 c2 ...: p0 y, p1 c1, p2 c2 */ \
    X(USER_CHAR_DEL, "user-char-delete") /* ESC ? n: p0 */ \
    X(KANJI_DEFINE, "kanji-define") /* FS 2 c1 c2 d1..d72 */ \
    X(QR_MODEL, "qr-model")         /* GS ( k fn 65: p0 model 1, 2, 3 (micro) */ \
    X(QR_SIZE, "qr-module-size")    /* GS ( k fn 67: p0 dots */ \
    X(QR_EC, "qr-ec-level")         /* GS ( k fn 69: p0 = 0 L, 1 M, 2 Q, 3 H */ \
    X(QR_STORE, "qr-store")         /* GS ( k fn 80: data = the symbol data */ \
    X(QR_PRINT, "qr-print")         /* GS ( k fn 81 */ \
    X(QR_INFO, "qr-size-info")      /* GS ( k fn 82 */ \
    X(SYMBOL_2D, "2d-symbol")       /* other GS ( k: p0 cn, p1 fn; data = rest */ \
    X(BC_HEIGHT, "barcode-height")  /* GS h n: p0 */ \
    X(BC_WIDTH, "barcode-width")    /* GS w n: p0 */ \
    X(BC_HRI, "barcode-hri")        /* GS H n: p0 0 none 1 above 2 below 3 both */ \
    X(BC_HRI_FONT, "barcode-hri-font") /* GS f n: p0 */ \
    X(BARCODE, "barcode")           /* GS k: p0 system (normalised: 65.. form), p1 = 0 fn A / 1 fn B; data */ \
    X(RASTER, "raster-image")       /* GS v 0 m ...: p0 m (0..3), width/height dots; data rows */ \
    X(COLUMN_IMAGE, "column-image") /* ESC * m n: p0 m, p1 columns; data */ \
    X(GRAPHICS_STORE, "graphics-store") /* GS ( L / GS 8 L fn 112: p0 bx, p1 by, p2 colour, p3 tone; width/height; data rows; note when not drawable */ \
    X(GRAPHICS_PRINT, "graphics-print") /* GS ( L fn 50 / 2 */ \
    X(GRAPHICS_OTHER, "graphics")   /* other GS ( L / GS 8 L: p0 fn; data */ \
    X(DOWNLOAD_IMAGE, "download-image") /* GS * x y d: p0 x, p1 y; data */ \
    X(DOWNLOAD_PRINT, "download-image-print") /* GS / m: p0 */ \
    X(NV_IMAGE_PRINT, "nv-image-print") /* FS p n m: p0 n, p1 m */ \
    X(NV_IMAGE_DEFINE, "nv-image-define") /* FS q n ...: p0 n */ \
    X(MACRO, "macro")               /* GS : / GS ^ r t m */ \
    X(COUNTER, "counter")           /* GS C / GS c / GS g */ \
    X(BUZZER, "buzzer")             /* ESC B n t: p0 n beeps, p1 t x 50 ms; GS ( A etc.: generic length-prefixed */ \
    X(EXTENDED, "extended")         /* other ESC ( x / GS ( x / FS ( x: p0 = x; data */ \
    X(SETTING, "setting")           /* other known fixed-length settings: p0.. */

typedef enum {
#define KV_DEC_OP_ENUM(op, name) KV_OP_##op,
    KV_DEC_OPS(KV_DEC_OP_ENUM)
#undef KV_DEC_OP_ENUM
    KV_OP__COUNT
} kv_dec_op;

/* The short name of an op ("text", "unknown", "cut", ...); static text. */
const char *kv_dec_op_name(kv_dec_op op);

#define KV_DEC_MAXP 8

/* One decoded command.  Filled by kv_dec_next(); every pointer in it is
 * borrowed (static text or the caller's input buffer). */
typedef struct kv_dec_cmd {
    size_t offset;          /* position of the first byte in the stream */
    size_t length;          /* bytes it covers (>= 1) */
    kv_dec_op op;
    const char *name;       /* kv_dec_op_name(op) */
    const char *mnemonic;   /* "ESC @", "GS ( k", ...; "" for text */
    int p[KV_DEC_MAXP];     /* parameters, see KV_DEC_OPS */
    int np;                 /* how many of p[] are meaningful */
    const uint8_t *data;    /* payload inside the input buffer, or NULL */
    size_t datalen;
    int width, height;      /* images: size in dots before scaling */
    const char *note;       /* static remark ("truncated ...") or NULL */
} kv_dec_cmd;

/* The printer state after a command.  ESC @ sets it back to
 * kv_dec_state_reset() values. */
typedef struct kv_dec_state {
    int codepage;       /* ESC t n (0 = PC437 after reset) */
    int star_codepage;  /* ESC GS t n, -1 when never sent */
    int intl;           /* ESC R n */
    int font;           /* 0 A, 1 B, 2 C */
    int bold;           /* ESC E / ESC ! bit 3 */
    int dstrike;        /* ESC G */
    int underline;      /* 0, 1 or 2 dots */
    int reverse;        /* GS B */
    int upside_down;    /* ESC { */
    int rotate;         /* ESC V */
    int width_mul;      /* 1..8 */
    int height_mul;     /* 1..8 */
    int align;          /* 0 left, 1 centre, 2 right */
    int line_spacing;   /* dots; -1 = default (1/6 inch) */
    int char_spacing;   /* ESC SP */
    int left_margin;    /* GS L */
    int print_width;    /* GS W, -1 = whole printable width */
    int kanji;          /* FS & on */
    int page_mode;      /* ESC L active */
    int qr_model;       /* 1, 2 (default) or 3 (micro) */
    int qr_module;      /* dots per module (default 3) */
    int qr_ec;          /* 0 L (default), 1 M, 2 Q, 3 H */
    const uint8_t *qr_data; /* stored data (inside the input), NULL if none */
    size_t qr_len;
    int bc_height;      /* GS h (default 162) */
    int bc_width;       /* GS w (default 3) */
    int bc_hri;         /* GS H (default 0) */
    int bc_hri_font;    /* GS f (default 0) */
    size_t line_bytes;  /* text bytes in the line buffer, not yet printed */
    size_t line_offset; /* stream offset of the first of them */
} kv_dec_state;

/* Fill *st with the power-on / ESC @ state. */
void kv_dec_state_reset(kv_dec_state *st);

typedef struct kv_dec kv_dec;

/*
 * Create a decoder over buf[0..len).  The buffer is borrowed: it must stay
 * valid and unchanged until kv_dec_destroy(), because commands and the
 * state point into it.  *out is set only on success; free with
 * kv_dec_destroy().  Returns KV_DEC_OK, KV_DEC_E_NOMEM or KV_DEC_E_ARG.
 */
kv_dec_status kv_dec_create(kv_dec **out, const uint8_t *buf, size_t len);

/* Free a decoder.  NULL is a no-op. */
void kv_dec_destroy(kv_dec *d);

/*
 * Decode the next command into *cmd and apply it to the state.  Returns
 * KV_DEC_OK, or KV_DEC_END when the stream is exhausted (cmd untouched).
 */
kv_dec_status kv_dec_next(kv_dec *d, kv_dec_cmd *cmd);

/* The state after the last command returned; borrowed from the handle. */
const kv_dec_state *kv_dec_state_get(const kv_dec *d);

/*
 * Text left in the line buffer (never printed).  Meaningful after
 * KV_DEC_END: returns the number of unprinted text bytes (0 when all was
 * printed) and sets *offset (may be NULL) to where they start.
 */
size_t kv_dec_unprinted(const kv_dec *d, size_t *offset);

/*
 * Describe the parameters of cmd in words ("n=3 partial feed=3", "model=2",
 * "240x120 dots ...") into buf (always NUL-terminated when size > 0).
 * Returns the length it would have written, like snprintf.
 */
int kv_dec_format_params(const kv_dec_cmd *cmd, char *buf, size_t size);

/*
 * Convenience: decode the whole buffer and call fn for each command (with
 * the state after it).  Stops early and returns the callback's value when
 * it returns non-zero; returns 0 after the last command, or a negative
 * kv_dec_status.
 */
typedef int (*kv_dec_fn)(void *ctx, const kv_dec_cmd *cmd, const kv_dec_state *st);
int kv_dec_walk(const uint8_t *buf, size_t len, kv_dec_fn fn, void *ctx);

#endif
