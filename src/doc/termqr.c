/* termqr.c - QR code in the terminal with Unicode half blocks (termqr.h). */
#include "src/doc/termqr.h"

#include <qrencode.h>
#include <string.h>

#define QUIET 4 /* modules of light around the code */

int kv_termqr_style_parse(const char *name, kv_termqr_style *out)
{
    if (!name || !out)
        return -1;
    if (strcmp(name, "ansi") == 0)
        *out = KV_TERMQR_ANSI;
    else if (strcmp(name, "light") == 0)
        *out = KV_TERMQR_LIGHT;
    else if (strcmp(name, "dark") == 0)
        *out = KV_TERMQR_DARK;
    else
        return -1;
    return 0;
}

static int dark_at(const QRcode *q, int x, int y)
{
    int w = q->width;
    x -= QUIET;
    y -= QUIET;
    return x >= 0 && y >= 0 && x < w && y < w && (q->data[y * w + x] & 1);
}

/* A character holds two modules: top and bottom.  "ink" is what the
 * terminal draws with blocks: dark modules (ansi, light) or light modules
 * (dark style, where the terminal's text colour is the light one). */
int kv_termqr_print_style(FILE *out, const char *text, kv_termqr_style style)
{
    if (!out || !text || !*text)
        return -1;
    QRcode *q = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
    if (!q)
        return -1;
    const int W = q->width + 2 * QUIET;
    const int ink_dark = style != KV_TERMQR_DARK;
    for (int y = 0; y < W; y += 2) {
        if (style == KV_TERMQR_ANSI)
            fputs("\x1b[30;107m", out); /* black ink on bright white paper */
        for (int x = 0; x < W; x++) {
            int top = dark_at(q, x, y) == ink_dark;
            /* past the last row: a light module, more quiet zone */
            int bot = (y + 1 < W && dark_at(q, x, y + 1)) == ink_dark;
            fputs(top && bot ? "\xe2\x96\x88"      /* █ */
                  : top ? "\xe2\x96\x80"           /* ▀ */
                  : bot ? "\xe2\x96\x84"           /* ▄ */
                  : " ", out);
        }
        if (style == KV_TERMQR_ANSI)
            fputs("\x1b[0m", out);
        fputc('\n', out);
    }
    QRcode_free(q);
    return ferror(out) ? -1 : 0;
}

int kv_termqr_print(FILE *out, const char *text)
{
    return kv_termqr_print_style(out, text, KV_TERMQR_ANSI);
}
