/*
 * codepage.h - single-byte printer code pages: UTF-8 in, printer bytes out,
 * and printer bytes back to Unicode (for the decoder/renderer).
 *
 * Pure tables and functions: no allocation, no locale, no global mutable
 * state.  All functions are thread-safe.
 *
 * Bytes 0x00..0x7F are ASCII in every page here.  The tables cover
 * 0x80..0xFF and were written from the code pages' published definitions
 * (the same mappings Python's cp437/cp850/cp858/cp865/cp1252 codecs use).
 *
 * ESC t numbering is per printer vendor; kv_codepage_from_escpos() and
 * kv_codepage_escpos_number() use Epson's numbering (PC437=0, PC850=2,
 * PC865=5, WPC1252=16, PC858=19).  For a given printer use
 * kv_profile_codepage_number() / kv_profile_codepage_from_number() in
 * escpos/profile.h instead.
 */
#ifndef KV_ESCPOS_CODEPAGE_H
#define KV_ESCPOS_CODEPAGE_H

#include <stddef.h>
#include <stdint.h>

typedef enum kv_codepage {
    KV_CP_PC437 = 0,   /* IBM PC USA / standard Europe */
    KV_CP_PC850,       /* Multilingual Latin 1 */
    KV_CP_PC858,       /* PC850 with the euro sign at 0xD5 */
    KV_CP_PC865,       /* Nordic: PC437 with ø Ø ¤ at 9B 9D AF */
    KV_CP_WPC1252,     /* Windows Latin 1 (€ at 0x80) */
    KV_CP_COUNT
} kv_codepage;

/* Unicode code point returned for a byte that the page leaves undefined
 * (e.g. 0x81 in WPC1252). */
#define KV_CP_UNDEFINED 0xFFFDu

/* "PC437", "PC850", "PC858", "PC865", "WPC1252"; "?" for an out-of-range
 * value.  Static text, never free it. */
const char *kv_codepage_name(kv_codepage cp);

/* Parse a name, case-insensitive: "PC858", "cp858", "858", "WPC1252",
 * "cp1252", "windows-1252", ... On success sets *out and returns 0;
 * returns -1 for an unknown name (out untouched). */
int kv_codepage_from_name(kv_codepage *out, const char *name);

/* Epson's ESC t number for cp (0, 2, 19, 5, 16). */
int kv_codepage_escpos_number(kv_codepage cp);

/* Epson ESC t number -> code page. Returns 0 and sets *out, or -1 when n is
 * not one of the pages here (out untouched). */
int kv_codepage_from_escpos(kv_codepage *out, int n);

/* Decode one printer byte in page cp to a Unicode code point.  Bytes below
 * 0x80 are returned as is (ASCII, including control bytes: the caller
 * decides what a control byte means).  Undefined bytes -> KV_CP_UNDEFINED. */
uint32_t kv_codepage_to_unicode(kv_codepage cp, uint8_t byte);

/* Encode one Unicode code point in page cp.  Returns the byte (0..255), or
 * -1 when the page cannot show it.  Code points below 0x80 map to
 * themselves (control characters included: filtering is the caller's job,
 * see kv_codepage_transcode). */
int kv_codepage_from_unicode(kv_codepage cp, uint32_t ucs);

/* Counters filled by kv_codepage_transcode (added to, never reset). */
typedef struct kv_transcode_stats {
    size_t replaced;   /* characters printed as '?': unmappable code
                          points and each invalid UTF-8 byte */
    size_t stripped;   /* control characters removed: C0 (0x00-0x1F),
                          DEL (0x7F) and C1 (U+0080-U+009F) */
} kv_transcode_stats;

/* Transcode UTF-8 text to page cp for printing as text.
 *
 * - C0 controls, DEL and C1 controls (as code points U+0080..U+009F) are
 *   removed, so no byte below 0x20 or equal to 0x7F ever reaches out:
 *   text can never become a printer command.
 * - A character the page cannot show becomes '?'; so does each byte of an
 *   invalid, overlong, surrogate or truncated UTF-8 sequence.
 * - The output is never longer than the input (one byte per character).
 *
 * out must have room for len bytes (it may alias nothing).  stats may be
 * NULL.  Returns the number of bytes written. */
size_t kv_codepage_transcode(kv_codepage cp, uint8_t *out, const char *utf8,
                             size_t len, kv_transcode_stats *stats);

/* Number of printed characters (columns at width 1) of UTF-8 text after
 * transcoding: each code point that is not stripped counts one, each
 * invalid byte counts one ('?').  Thread-safe, no allocation. */
size_t kv_utf8_columns(const char *utf8, size_t len);

/* Byte length of the longest prefix of utf8[0..len) that prints in at most
 * cols columns (counted as kv_utf8_columns) and ends at a character
 * boundary.  Thread-safe, no allocation. */
size_t kv_utf8_prefix(const char *utf8, size_t len, size_t cols);

/* ---- decode-only tables for every page of the printer databases -------
 *
 * The five kv_codepage pages above are the ones kvitt prints in.  Streams
 * from other software select many more (ESC t 17 = PC866, 18 = PC852,
 * 45 = WPC1250, ...); the tables below decode them (generated from the
 * standard mappings by escpos/gen_cptables.py into escpos/cptables.c).
 * Static data: pointers stay valid for the life of the process. */
typedef struct kv_cptable kv_cptable;

/* Number of tables and table i (NULL when out of range). */
size_t kv_cptable_count(void);
const kv_cptable *kv_cptable_at(size_t i);
/* Table by name ("PC866", "WPC1250", "ISO8859-7", "KATAKANA"; the
 * kv_codepage_from_name spellings work too: "cp866", "windows-1250"),
 * case-insensitive; NULL when unknown. */
const kv_cptable *kv_cptable_find(const char *name);
/* "PC866", ...; never NULL for a table from this module. */
const char *kv_cptable_name(const kv_cptable *t);
/* Table for ESC t n in Epson's numbering / ESC GS t n in Star's; NULL
 * when the number selects no single-byte page kvitt knows. */
const kv_cptable *kv_cptable_epson(int n);
const kv_cptable *kv_cptable_star(int n);
/* The table of one of the five printing pages. */
const kv_cptable *kv_cptable_of(kv_codepage cp);
/* Decode one byte: below 0x80 as is, else the table (KV_CP_UNDEFINED for
 * undefined bytes).  t NULL decodes as PC437. */
uint32_t kv_cptable_to_unicode(const kv_cptable *t, uint8_t byte);
/* The page text prints in on profile p (NULL = Epson numbering) after
 * ESC t esc_t and ESC GS t star_cp (-1 = never sent, see kv_dec_state):
 * Star's ESC GS t when sent, else the profile's own ESC t numbers, else
 * Epson's.  NULL when the number selects no page kvitt knows (the printer
 * prints something else than PC437: callers say so). */
struct kv_profile;
const kv_cptable *kv_cptable_select(const struct kv_profile *p, int esc_t, int star_cp);

#endif
