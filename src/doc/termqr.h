/*
 * termqr.h - a QR code drawn in a terminal with Unicode half blocks, so a
 * phone can scan it from the screen (`kvitt pay --show-qr`, `make demo`).
 *
 * Two rows of modules per text line ("▀", "▄", "█", " "), with a 4-module
 * quiet zone (what ISO/IEC 18004 asks for).  Three styles:
 *   ansi   (default) every line sets black ink on a bright white background
 *          with ANSI colour codes and resets them at its end, so the code
 *          reads the same on light and dark terminals;
 *   light  no colour codes; dark modules are blocks (dark text on a light
 *          terminal, or a log file);
 *   dark   no colour codes; light modules are blocks (light text on a dark
 *          terminal).
 */
#ifndef KV_DOC_TERMQR_H
#define KV_DOC_TERMQR_H

#include <stdio.h>

typedef enum { KV_TERMQR_ANSI = 0, KV_TERMQR_LIGHT, KV_TERMQR_DARK } kv_termqr_style;

/* Write the QR code of text (NUL-terminated, byte mode, EC level M) to out
 * in the given style.  Returns 0, or -1 when the text does not fit a QR
 * code or out fails. */
int kv_termqr_print_style(FILE *out, const char *text, kv_termqr_style style);
/* The same in the default style (KV_TERMQR_ANSI). */
int kv_termqr_print(FILE *out, const char *text);
/* "ansi", "light" or "dark" into *out; returns 0, or -1 for another name. */
int kv_termqr_style_parse(const char *name, kv_termqr_style *out);

#endif
