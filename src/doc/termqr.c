/* termqr.c - QR code in the terminal with Unicode half blocks. */
#include "src/doc/termqr.h"

#include <qrencode.h>
#include <string.h>

/* Light = block drawn (terminal text colour is assumed light on dark, or we
 * draw light modules explicitly), dark = space.  Quiet zone 2 modules of
 * light.  A module pair (top, bottom) becomes one character. */
int kv_termqr_print(FILE *out, const char *text)
{
    if (!out || !text || !*text)
        return -1;
    QRcode *q = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M);
    if (!q)
        return -1;
    const int quiet = 2;
    int w = q->width, W = w + 2 * quiet;
    /* dark(x,y) for x,y in the padded grid */
#define DARK(x, y) ((x) >= quiet && (y) >= quiet && (x) < quiet + w && (y) < quiet + w && \
                    (q->data[((y) - quiet) * w + ((x) - quiet)] & 1))
    for (int y = 0; y < W; y += 2) {
        for (int x = 0; x < W; x++) {
            int top_light = !DARK(x, y);
            int bot_light = y + 1 < W ? !DARK(x, y + 1) : 0;
            const char *ch = top_light && bot_light ? "\xe2\x96\x88"      /* █ */
                           : top_light ? "\xe2\x96\x80"                   /* ▀ */
                           : bot_light ? "\xe2\x96\x84"                   /* ▄ */
                           : " ";
            fputs(ch, out);
        }
        fputc('\n', out);
    }
#undef DARK
    QRcode_free(q);
    return ferror(out) ? -1 : 0;
}
