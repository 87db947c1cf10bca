/*
 * termqr.h - a QR code drawn in a terminal with Unicode half blocks, so a
 * phone can scan it from the screen (`kvitt pay --show-qr`, `make demo`).
 *
 * Two rows of modules per text line ("▀", "▄", "█", " ").  Light modules
 * (and a 2-module quiet zone) are drawn as blocks and dark modules as
 * spaces, so the code scans on the usual light-on-dark terminal.
 */
#ifndef KV_DOC_TERMQR_H
#define KV_DOC_TERMQR_H

#include <stdio.h>

/* Write the QR code of text (NUL-terminated, byte mode, EC level M) to out.
 * Returns 0, or -1 when the text does not fit a QR code or out fails. */
int kv_termqr_print(FILE *out, const char *text);

#endif
