/*
 * dump.h - disassemble an ESC/POS byte stream into text or JSON (the
 * logic behind `kvitt dump`).
 *
 * Text: one line per command,
 *   OFFSET  HEX (first 16 bytes, "..." when longer)  MNEMONIC  NAME  PARAMS  "TEXT"
 * with text decoded in the active code page (as the profile numbers ESC t)
 * and written as UTF-8, followed by a "# unprinted" line when text is left
 * without a final LF.
 *
 * JSON: an array with one object per command:
 *   {"offset":N,"length":N,"name":"...","cmd":"ESC @","params":"..."}
 * plus "text" (UTF-8) for name "text", "data" (hex, first 64 bytes) for
 * unknown bytes, and "unprinted":true on text never printed.  The lengths
 * add up to the input size exactly.
 *
 * Pure: output goes through the caller's writer callback.
 */
#ifndef KV_ESCPOS_DUMP_H
#define KV_ESCPOS_DUMP_H

#include <stddef.h>
#include <stdint.h>

#include "escpos/profile.h"
#include "escpos/render.h"  /* kv_write_fn */

typedef struct kv_dump_opts {
    int version;               /* 1 */
    int json;                  /* 0 text, 1 JSON */
    const kv_profile *profile; /* code page numbering; NULL = default */
} kv_dump_opts;
#define KV_DUMP_OPTS_INIT { 1, 0, NULL }

/* Totals of a dump. */
typedef struct kv_dump_info {
    size_t commands;    /* objects / lines written */
    size_t unknown;     /* of them named "unknown" */
    size_t bytes;       /* sum of their lengths (== len) */
    size_t unprinted;   /* text bytes left in the line buffer */
} kv_dump_info;

/*
 * Disassemble buf[0..len) and write the result through write(ctx, ...).
 * opts may be NULL (text, default profile); info may be NULL.
 * Returns 0, -1 when the writer failed, -2 when out of memory.
 */
int kv_dump(const uint8_t *buf, size_t len, const kv_dump_opts *opts,
            kv_write_fn write, void *ctx, kv_dump_info *info);

#endif
