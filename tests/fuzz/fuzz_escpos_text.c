/* fuzz_escpos_text.c - libFuzzer target: arbitrary bytes as text through the
 * encoder's text path and the layout helpers.  Invariants: after the job
 * prologue the output holds only printable bytes and LF (text never becomes
 * a command), and no line is wider than the profile's columns.
 * Byte 0 picks the profile, the code page and the operation.
 * fuzz-sources: escpos
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "escpos/layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    char *text = malloc(size);   /* NUL-terminated copy of data[1..] */
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    size_t tlen = strlen(text);

    kv_escpos_options o = KV_ESCPOS_OPTIONS_INIT;
    o.profile = kv_profile_at((sel & 0x0f) % kv_profile_count());
    o.codepage = (sel >> 4) % KV_CP_COUNT;
    kv_escpos *e;
    if (kv_escpos_create(&e, &o) != KV_ESCPOS_OK) {
        free(text);
        return 0;
    }
    kv_escpos_init(e);
    size_t pro;
    kv_escpos_data(e, &pro);
    switch ((sel >> 6) & 3) {
    case 0:
        kv_layout_wrap(e, text);
        break;
    case 1: {
        char *bar = strchr(text, '|');
        if (bar)
            *bar = '\0';
        kv_layout_two_col(e, text, bar ? bar + 1 : "");
        break;
    }
    case 2:
        kv_escpos_text_n(e, (const char *)data + 1, size - 1);   /* NULs included */
        kv_escpos_newline(e);
        break;
    default: {
        kv_escpos_line(e, text);
        char money[64];
        int64_t v = 0;
        if (kv_money_parse(&v, text) == 0 &&
            kv_money_format(money, sizeof money, v, "NOK", KV_LANG_NB) < 0)
            abort();
        break;
    }
    }
    (void)tlen;
    size_t n;
    const uint8_t *d = kv_escpos_data(e, &n);
    unsigned cols = kv_layout_columns(e);
    size_t col = 0;
    for (size_t i = pro; i < n; i++) {
        if (d[i] == 0x0a) {
            col = 0;
            continue;
        }
        if (d[i] < 0x20 || d[i] == 0x7f)
            abort();   /* a control byte escaped from text */
        col++;
        if (((sel >> 6) & 3) < 2 && col > cols)
            abort();   /* layout overflowed the line */
    }
    kv_escpos_destroy(e);
    free(text);
    return 0;
}
