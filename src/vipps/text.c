/*
 * text.c - free text on its way to Vipps MobilePay (paymentDescription,
 * order line names, eCom transactionText, posId, receiptNumber) is
 * cleaned here, in the request builders, so that every path is covered:
 * C0 controls and DEL, C1 controls (U+0080-U+009F), the bidi embedding,
 * override and isolate characters (U+202A-U+202E, U+2066-U+2069) and the
 * marks U+200E, U+200F, U+061C are removed; tab, CR and LF become one
 * space; bytes that are not UTF-8 become '?'; runs of spaces collapse and
 * the ends are trimmed.  The same rules the printed text follows.
 */
#include "src/vipps/wire.h"
#include "src/util/jsoncheck.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int dropped(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
           cp == 0x200e || cp == 0x200f || cp == 0x061c;
}

char *kv_vipps__clean_text(const char *in)
{
    if (!in)
        return NULL;
    size_t len = strlen(in);
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)in, *end = p + len;
    size_t o = 0;
    int space = 1;  /* at the start: drop leading spaces */
    while (*p) {
        uint32_t cp = 0;
        size_t n = kv_jsoncheck_utf8((const char *)p, (size_t)(end - p), &cp);
        if (!n) {
            out[o++] = '?';
            space = 0;
            p++;
            continue;
        }
        if (cp == '\t' || cp == '\n' || cp == '\r')
            cp = ' ';
        if (cp == ' ') {
            if (!space)
                out[o++] = ' ';
            space = 1;
        } else if (!dropped(cp)) {
            memcpy(out + o, p, n);
            o += n;
            space = 0;
        }
        p += n;
    }
    while (o && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    return out;
}

size_t kv_vipps__text_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
        if ((*p & 0xc0) != 0x80)
            n++;
    return n;
}
