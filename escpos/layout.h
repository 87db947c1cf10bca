/*
 * layout.h - receipt layout on top of the encoder: word wrap, two-column
 * lines, rules, and money formatted by currency and language.
 *
 * Column counts come from the encoder's profile and current font and
 * character width (kv_layout_columns).  Widths are counted in printed
 * characters (UTF-8 code points after sanitising, see kv_utf8_columns),
 * never bytes.  No allocation on these paths, no locale: the same input
 * always gives the same output.  Thread-safety as the encoder handle.
 */
#ifndef KV_ESCPOS_LAYOUT_H
#define KV_ESCPOS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "escpos/encoder.h"

typedef enum kv_lang {
    KV_LANG_NB = 0,   /* Norwegian bokmål */
    KV_LANG_DA = 1,   /* Danish */
    KV_LANG_FI = 2,   /* Finnish */
    KV_LANG_SV = 3,   /* Swedish */
    KV_LANG_EN = 4,   /* English */
    KV_LANG_COUNT
} kv_lang;

/* "nb", "da", "fi", "sv", "en" ("no" is accepted for nb).  Returns 0 and
 * sets *out, or -1 for an unknown name. */
int kv_lang_from_name(kv_lang *out, const char *name);
/* Static text; "?" when out of range. */
const char *kv_lang_name(kv_lang l);

/* Characters per line for the encoder's profile, current font and current
 * character width. */
unsigned kv_layout_columns(const kv_escpos *e);

/* Print UTF-8 text word-wrapped at the current column count: breaks at
 * spaces, breaks words longer than a line, and ends every line with LF.
 * Newlines in the text start a new line.  Returns the encoder status. */
kv_escpos_status kv_layout_wrap(kv_escpos *e, const char *utf8);

/* One line with left flush left and right flush right, separated by at
 * least one space.  left is truncated (at a character boundary) when both
 * do not fit; right is kept whole unless it alone is wider than the line,
 * in which case it is truncated too. */
kv_escpos_status kv_layout_two_col(kv_escpos *e, const char *left, const char *right);

/* A full-width line of ch (an ASCII printable character, e.g. '-' or '='). */
kv_escpos_status kv_layout_rule(kv_escpos *e, char ch);

/* ---- money ---------------------------------------------------------------- */

/* Parse a decimal amount "149", "149.5", "149.00", "149,00" into minor units
 * (1/100), no sign, no thousands separators, at most 2 decimals, at most
 * 999 999 999.99.  Returns 0 and sets *out, or -1 on bad input. */
int kv_money_parse(int64_t *out, const char *s);

/* Is code a supported ISO 4217 currency ("NOK", "DKK", "SEK", "EUR")? */
int kv_currency_known(const char *code);

/* Format minor units (may be negative) by currency and language into out
 * (NUL-terminated):
 *   nb/sv + NOK/SEK/DKK  "1 234,50 kr"     da + DKK "1.234,50 kr."
 *   nb/sv/fi + EUR       "1 234,50 €"      da + EUR "1.234,50 €"
 *   fi + NOK/SEK/DKK     "1 234,50 NOK"    en + EUR "€1,234.50"
 *   en + other           "NOK 1,234.50"    negative amounts start with "-".
 * Unknown currencies are written as the code, like the fi form.  Returns
 * the length (excluding NUL), or -1 when outsz is too small or currency is
 * not 3 letters. */
int kv_money_format(char *out, size_t outsz, int64_t minor, const char *currency,
                    kv_lang lang);

#endif
