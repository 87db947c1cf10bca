/*
 * jsoncheck.h - strict checks on raw JSON text and on plain text values,
 * run BEFORE a parser that is lenient (cJSON stops a string at \u0000,
 * keeps the first of two equal keys, and turns 1e999 into infinity).
 *
 * kv_jsoncheck() walks the raw bytes of one JSON text and reports the first
 * problem with the path of the field it is in, e.g. `amount` or
 * `items[2].name` (`(root)` for the top level), so that the caller can
 * answer 400 / exit 2 naming the field.  It refuses:
 *   - a NUL in a string or key, escaped (\u0000) or raw;
 *   - raw control bytes (0x00-0x1f, 0x7f) anywhere in a string, and escaped
 *     control characters other than \t, \n, \r (U+0001-U+001F, U+007F);
 *   - bytes that are not UTF-8, and \u escapes that are lone surrogates;
 *   - the same key twice in one object (after decoding escapes);
 *   - numbers that are not exactly representable as integers or doubles
 *     within +-2^53 (9007199254740992), or that overflow a double;
 *   - nesting deeper than KV_JSONCHECK_MAX_DEPTH, objects with more than
 *     KV_JSONCHECK_MAX_MEMBERS members;
 *   - anything that is not JSON (syntax), and text after the value.
 *
 * kv_jsoncheck_text() applies the string rules to one plain value (a
 * config value, a query parameter): no control bytes, valid UTF-8.
 *
 * No global state; thread-safe; nothing is allocated that outlives a call.
 */
#ifndef KV_UTIL_JSONCHECK_H
#define KV_UTIL_JSONCHECK_H

#include <stddef.h>
#include <stdint.h>

#define KV_JSONCHECK_MAX_DEPTH 64
#define KV_JSONCHECK_MAX_MEMBERS 4096
#define KV_JSONCHECK_PATH_MAX 128

/* Status codes. Append only; never renumber. */
typedef enum {
    KV_JSONCHECK_OK = 0,
    KV_JSONCHECK_E_SYNTAX = -1,     /* not JSON */
    KV_JSONCHECK_E_NUL = -2,        /* NUL character in a string */
    KV_JSONCHECK_E_CONTROL = -3,    /* control character in a string */
    KV_JSONCHECK_E_UTF8 = -4,       /* not UTF-8 / lone surrogate */
    KV_JSONCHECK_E_DUPLICATE = -5,  /* the same key twice in an object */
    KV_JSONCHECK_E_RANGE = -6,      /* number out of range */
    KV_JSONCHECK_E_LIMIT = -7,      /* nested too deep / too many members */
    KV_JSONCHECK_E_NOMEM = -8,
    KV_JSONCHECK_E_TRAILING = -9    /* data after the JSON value */
} kv_jsoncheck_status;

/* Static English text for a status ("NUL character (\u0000) in a
 * string", ...); never NULL, never freed. */
const char *kv_jsoncheck_strerror(kv_jsoncheck_status st);

/* Where a check failed: the field path (NUL-terminated, printable ASCII;
 * keys with other bytes show them as '?') and the byte offset. */
typedef struct kv_jsoncheck_where {
    char path[KV_JSONCHECK_PATH_MAX];
    size_t offset;
} kv_jsoncheck_where;

/* Check len bytes of JSON text (text need not be NUL-terminated; a NUL
 * byte inside is a problem like any other control byte).  where may be
 * NULL; it is written only when the result is not OK. */
kv_jsoncheck_status kv_jsoncheck(const char *text, size_t len,
                                 kv_jsoncheck_where *where);

/* Check a plain text value of len bytes: E_NUL, E_CONTROL (any byte
 * 0x01-0x1f or 0x7f; allow_tab 1 lets '\t' through) or E_UTF8.  *offset
 * (may be NULL) gets the position of the first bad byte. */
kv_jsoncheck_status kv_jsoncheck_text(const char *s, size_t len, int allow_tab,
                                      size_t *offset);

/* Decode one UTF-8 sequence from s (avail bytes): its length (1-4) with
 * the code point in *cp (may be NULL), or 0 when it is not valid UTF-8
 * (overlong, surrogate, above U+10FFFF, cut short). */
size_t kv_jsoncheck_utf8(const char *s, size_t avail, uint32_t *cp);

#endif
