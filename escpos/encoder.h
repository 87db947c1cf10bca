/*
 * encoder.h - the ESC/POS encoder: builds a printer job as bytes.
 *
 * One kv_escpos handle holds a growable, size-capped byte buffer, the
 * printer profile, the code page in use and the printer state the job has
 * set so far (style, size, alignment, ...).  Setters emit a command only when
 * the state changes, so nothing that ESC @ already set is sent again.
 *
 * Pure: no I/O, clock, locale or randomness; the same calls always give the
 * same bytes.  Not thread-safe (one owner per handle); separate handles are
 * independent.  Errors are sticky: after the first failure every call
 * returns that status and appends nothing; check kv_escpos_status_get() (or
 * any call's return) once at the end.  kv_escpos_reset() clears it.
 *
 * Text is always transcoded and sanitised (escpos/codepage.h): control
 * bytes in text are removed, so text can never become a command.
 */
#ifndef KV_ESCPOS_ENCODER_H
#define KV_ESCPOS_ENCODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "escpos/codepage.h"
#include "escpos/profile.h"

typedef enum kv_escpos_status {
    KV_ESCPOS_OK = 0,
    KV_ESCPOS_E_NOMEM = -1,        /* out of memory */
    KV_ESCPOS_E_FULL = -2,         /* the job would exceed max_bytes */
    KV_ESCPOS_E_ARG = -3,          /* a parameter is out of range */
    KV_ESCPOS_E_UNSUPPORTED = -4,  /* the profile lacks the feature
                                      (code page, barcodes, native QR, drawer) */
    KV_ESCPOS_E_QR_TOO_BIG = -5,   /* the QR code (with its quiet zone) does
                                      not fit the print width, or the data is
                                      too long for a QR code */
    KV_ESCPOS_E_BARCODE_DATA = -6, /* characters or length the symbology
                                      cannot encode, wrong EAN check digit */
    KV_ESCPOS_E_TOO_WIDE = -7      /* a raster image wider than the paper */
} kv_escpos_status;

/* Static text for a status; never free it. */
const char *kv_escpos_strerror(kv_escpos_status s);

typedef struct kv_escpos kv_escpos;

typedef struct kv_escpos_options {
    int version;                /* 1 */
    const kv_profile *profile;  /* NULL = kv_profile_default() */
    int codepage;               /* a kv_codepage, or -1 = the profile's */
    size_t max_bytes;           /* cap of the job, 0 = 4 MiB */
} kv_escpos_options;
#define KV_ESCPOS_OPTIONS_INIT { 1, NULL, -1, 0 }

/* Create an encoder.  opts may be NULL (defaults).  On success sets *out
 * (free with kv_escpos_destroy) and returns KV_ESCPOS_OK; returns
 * KV_ESCPOS_E_UNSUPPORTED when the profile lacks the requested code page,
 * KV_ESCPOS_E_ARG for a bad option, KV_ESCPOS_E_NOMEM. */
kv_escpos_status kv_escpos_create(kv_escpos **out, const kv_escpos_options *opts);

/* Free the encoder and its bytes.  NULL is a no-op. */
void kv_escpos_destroy(kv_escpos *e);

/* Forget the bytes, the tracked printer state, the counters and any sticky
 * error; keeps profile, code page and the allocation (no malloc when a
 * handle is reused for the next job). */
void kv_escpos_reset(kv_escpos *e);

/* The job so far: borrowed, valid until the next call on e.  *len gets the
 * byte count. */
const uint8_t *kv_escpos_data(const kv_escpos *e, size_t *len);

/* First error since create/reset (KV_ESCPOS_OK if none), and a detail text
 * for it ("" if none), borrowed until the next call on e. */
kv_escpos_status kv_escpos_status_get(const kv_escpos *e);
const char *kv_escpos_errmsg(const kv_escpos *e);

/* Record an error found by a document builder (e.g. a bad amount) as the
 * encoder's sticky error with a printf-style detail text.  Keeps an
 * earlier error.  Returns the (first) error. */
kv_escpos_status kv_escpos_fail(kv_escpos *e, kv_escpos_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const kv_profile *kv_escpos_profile(const kv_escpos *e);
kv_codepage kv_escpos_codepage(const kv_escpos *e);
/* Transcoding counters of all text so far (replaced '?' and stripped
 * control characters).  Borrowed. */
const kv_transcode_stats *kv_escpos_text_stats(const kv_escpos *e);

/* ---- job structure ------------------------------------------------------ */

/* The job prologue: ESC @ (1B 40), FS . (1C 2E), ESC R 0 (1B 52 00),
 * ESC t n (1B 74 n) with n = the profile's number of the code page.
 * Resets the tracked state to the printer's power-on defaults. */
kv_escpos_status kv_escpos_init(kv_escpos *e);

/* Switch code page mid-job: ESC t n (nothing if already selected).
 * KV_ESCPOS_E_UNSUPPORTED when the profile lacks it. */
kv_escpos_status kv_escpos_codepage_select(kv_escpos *e, kv_codepage cp);

/* ---- text ---------------------------------------------------------------- */

/* Print UTF-8 text (not NUL-terminated: len bytes) in the current code
 * page, sanitised (see kv_codepage_transcode).  Ends no line. */
kv_escpos_status kv_escpos_text_n(kv_escpos *e, const char *utf8, size_t len);
/* Same, NUL-terminated.  NULL prints nothing. */
kv_escpos_status kv_escpos_text(kv_escpos *e, const char *utf8);
/* Text then LF (0A). */
kv_escpos_status kv_escpos_line(kv_escpos *e, const char *utf8);
/* LF (0A): print the line buffer and feed one line. */
kv_escpos_status kv_escpos_newline(kv_escpos *e);

/* ---- styles (each emits only on change) ----------------------------------- */

/* ESC E n (1B 45 n): emphasis. */
kv_escpos_status kv_escpos_bold(kv_escpos *e, bool on);
/* ESC - n (1B 2D n): underline, dots 0..2. */
kv_escpos_status kv_escpos_underline(kv_escpos *e, unsigned dots);
/* GS B n (1D 42 n): reverse (white on black). */
kv_escpos_status kv_escpos_reverse(kv_escpos *e, bool on);
/* ESC M n (1B 4D n): font A or B. */
kv_escpos_status kv_escpos_font(kv_escpos *e, kv_font f);
/* GS ! n (1D 21 n), n = ((w-1)<<4)|(h-1): character size, w and h 1..8. */
kv_escpos_status kv_escpos_size(kv_escpos *e, unsigned w, unsigned h);

/* A whole text style. */
typedef struct kv_style {
    kv_font font;
    bool bold;
    unsigned underline;   /* 0..2 dots */
    unsigned width;       /* 1..8 (0 is taken as 1) */
    unsigned height;      /* 1..8 (0 is taken as 1) */
} kv_style;
#define KV_STYLE_INIT { KV_FONT_A, false, 0, 1, 1 }

/* Set font, bold, underline and size at once with the fewest bytes: one
 * ESC ! n (1B 21 n; bit0 font B, bit3 bold, bit4 double height, bit5
 * double width, bit7 underline) when it can express the style and saves
 * bytes, else the individual commands above.  Reverse is not part of it. */
kv_escpos_status kv_escpos_style(kv_escpos *e, const kv_style *s);

/* The style the encoder believes is active (after kv_escpos_init or the
 * setters; font A, width 1 etc. where it is unknown).  Sets *out. */
void kv_escpos_current_style(kv_style *out, const kv_escpos *e);

typedef enum kv_align { KV_ALIGN_LEFT = 0, KV_ALIGN_CENTER = 1, KV_ALIGN_RIGHT = 2 } kv_align;
/* ESC a n (1B 61 n).  Takes effect at the start of a line. */
kv_escpos_status kv_escpos_align(kv_escpos *e, kv_align a);

/* ESC 3 n (1B 33 n) line spacing in motion units; dots < 0 = ESC 2 (1B 32),
 * the default. */
kv_escpos_status kv_escpos_line_spacing(kv_escpos *e, int dots);

/* ---- paper ------------------------------------------------------------------ */

/* ESC d n (1B 64 n): print and feed n lines (0..255). */
kv_escpos_status kv_escpos_feed_lines(kv_escpos *e, unsigned n);
/* ESC J n (1B 4A n): print and feed n motion units (0..255). */
kv_escpos_status kv_escpos_feed_dots(kv_escpos *e, unsigned n);

typedef enum kv_cut { KV_CUT_PARTIAL = 0, KV_CUT_FULL = 1 } kv_cut;
/* Feed the printed part past the cutter and cut, per profile:
 * - cut_feed_b: GS V 66 0 (1D 56 42 00) partial / GS V 65 0 (1D 56 41 00)
 *   full (the printer feeds to its cutting position itself);
 * - otherwise ESC d n (profile cut_feed_lines) then GS V 1 (1D 56 01) /
 *   GS V 0 (1D 56 00);
 * - no cutter: only ESC d n, so the slip can be torn off. */
kv_escpos_status kv_escpos_cut(kv_escpos *e, kv_cut kind);

/* ESC p m t1 t2 (1B 70 m t1 t2): drawer pulse on connector pin 2 (pin 0)
 * or pin 5 (pin 1), on_ms/off_ms rounded up to 2 ms units (max 510).
 * KV_ESCPOS_E_UNSUPPORTED without a drawer port. */
kv_escpos_status kv_escpos_drawer(kv_escpos *e, unsigned pin, unsigned on_ms,
                                  unsigned off_ms);

/* ---- barcodes -------------------------------------------------------------- */

typedef enum kv_barcode {
    KV_BARCODE_CODE128 = 0,  /* GS k 73: code sets chosen for the data */
    KV_BARCODE_EAN13 = 1,    /* GS k 67: 12 digits (check digit added) or
                                13 (check digit verified) */
    KV_BARCODE_CODE39 = 2    /* GS k 69: 0-9 A-Z space - . $ / + %
                                (lower case is upper-cased) */
} kv_barcode;

typedef enum kv_hri { KV_HRI_NONE = 0, KV_HRI_ABOVE = 1, KV_HRI_BELOW = 2, KV_HRI_BOTH = 3 } kv_hri;

typedef struct kv_barcode_options {
    unsigned height;   /* GS h n, dots 1..255; 0 = 80 */
    unsigned module;   /* GS w n, 2..6; 0 = 2 */
    kv_hri hri;        /* GS H n */
} kv_barcode_options;
#define KV_BARCODE_OPTIONS_INIT { 0, 0, KV_HRI_BELOW }

/* Print a 1D barcode: GS h / GS w / GS H (only when changed), then
 * GS k m n d1..dn (1D 6B m n ...), function B.
 * CODE128 data is printable ASCII (0x20..0x7E), at most 250 characters
 * after encoding; runs of 4+ digits go in code set C ("{C" + digit pairs as
 * bytes), the rest in set B ("{B", "{" doubled).  opts may be NULL.
 * Errors: KV_ESCPOS_E_BARCODE_DATA, KV_ESCPOS_E_UNSUPPORTED (profile
 * without barcodes), KV_ESCPOS_E_TOO_WIDE (wider than the paper). */
kv_escpos_status kv_escpos_barcode(kv_escpos *e, kv_barcode type, const char *data,
                                   const kv_barcode_options *opts);

/* ---- raster images ----------------------------------------------------------- */

/* GS v 0 scale modes (the m parameter). */
typedef enum kv_raster_scale {
    KV_RASTER_NORMAL = 0, KV_RASTER_DOUBLE_WIDTH = 1,
    KV_RASTER_DOUBLE_HEIGHT = 2, KV_RASTER_QUADRUPLE = 3
} kv_raster_scale;

/* Rows per GS v 0 band. */
#define KV_RASTER_BAND_ROWS 255u

/* Print a 1-bit image: bits holds height rows of width_bytes bytes, MSB =
 * leftmost dot, 1 = black.  Sent as GS v 0 m xL xH yL yH d... (1D 76 30 m
 * ...) in bands of at most KV_RASTER_BAND_ROWS rows.  Starts a new line
 * first if text is pending.  KV_ESCPOS_E_TOO_WIDE when the printed width
 * exceeds the profile's dots. */
kv_escpos_status kv_escpos_raster(kv_escpos *e, const uint8_t *bits, unsigned width_bytes,
                                  unsigned height, kv_raster_scale scale);

/* ---- QR codes ------------------------------------------------------------------ */

typedef enum kv_qr_mode {
    KV_QR_AUTO = 0,    /* native when the profile has it, else raster */
    KV_QR_NATIVE = 1,  /* GS ( k (KV_ESCPOS_E_UNSUPPORTED if the profile lacks it) */
    KV_QR_RASTER = 2   /* rendered here with libqrencode, sent as GS v 0 */
} kv_qr_mode;

typedef enum kv_qr_ec { KV_QR_EC_L = 0, KV_QR_EC_M = 1, KV_QR_EC_Q = 2, KV_QR_EC_H = 3 } kv_qr_ec;

typedef struct kv_qr_options {
    kv_qr_mode mode;
    unsigned module;   /* dots per module 1..16; 0 = 6 */
    kv_qr_ec ec;       /* default M */
    bool no_compact;   /* raster: never use the compact mode */
} kv_qr_options;
#define KV_QR_OPTIONS_INIT { KV_QR_AUTO, 0, KV_QR_EC_M, false }

/* Print a QR code (model 2, byte mode) of len bytes of data, at the current
 * alignment (centre it with kv_escpos_align first).
 *
 * Quiet zone: the symbol is preceded and followed by blank feeds of at
 * least 4 modules (LF when 4 modules fit in one default line, else more),
 * and it is refused (KV_ESCPOS_E_QR_TOO_BIG) unless 4 modules of white fit
 * on both sides of the centred symbol within the profile's dots.
 *
 * Native: GS ( k fn 165 model 2 (1D 28 6B 04 00 31 41 32 00), fn 167 module
 * (1D 28 6B 03 00 31 43 n), fn 169 EC (1D 28 6B 03 00 31 45 30+ec), fn 180
 * store (1D 28 6B pL pH 31 50 30 data, pL/pH = len + 3), fn 181 print
 * (1D 28 6B 03 00 31 51 30).
 *
 * Raster: libqrencode symbol, one bit per dot group.  Compact mode (even
 * module, default): drawn at module/2 dots and sent with GS v 0 m=3, so a
 * quarter of the bytes cross the wire.  Otherwise drawn at full size, m=0.
 *
 * Errors: KV_ESCPOS_E_QR_TOO_BIG, KV_ESCPOS_E_UNSUPPORTED, KV_ESCPOS_E_ARG
 * (module out of range, empty data).  opts may be NULL. */
kv_escpos_status kv_escpos_qr(kv_escpos *e, const void *data, size_t len,
                              const kv_qr_options *opts);

/* The QR symbol size in modules (without quiet zone) that kv_escpos_qr
 * would print for data at ec, from the capacity table (kv_qr_version_for).  Returns 0 and sets *out,
 * or KV_ESCPOS_E_QR_TOO_BIG when the data does not fit any version. */
kv_escpos_status kv_qr_symbol_width(unsigned *out, const void *data, size_t len, kv_qr_ec ec);

/* QR model 2 byte-mode capacity (qrcap.c, from the ISO/IEC 18004 block
 * structure; no encoding): the most bytes a version (1..40) holds at ec,
 * 0 for a version out of range; and the smallest version that holds len
 * bytes at ec, 0 when none does (len 0 or above 2953 at L).  The symbol is
 * 17 + 4 * version modules wide. */
unsigned kv_qr_byte_capacity(unsigned version, kv_qr_ec ec);
unsigned kv_qr_version_for(size_t len, kv_qr_ec ec);

/* Append raw bytes (already valid ESC/POS, e.g. from another encoder).
 * Never use it for text.  The encoder then forgets the printer state it
 * tracked (the bytes may have changed it), so the next setters emit their
 * commands again.  n == 0 appends nothing but still forgets the state. */
kv_escpos_status kv_escpos_raw(kv_escpos *e, const void *bytes, size_t n);

#endif
