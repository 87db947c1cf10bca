/* SPDX-License-Identifier: MIT */
/*
 * receipt.c - a small program against the installed kvitt library: encode a
 * receipt with the ESC/POS encoder and write its bytes to a file (or "-",
 * standard output), ready for `kvitt print FILE --printer URI`.
 *
 * Build against an installed kvitt (make install, or the libkvitt-dev
 * package):
 *   cc -o receipt receipt.c $(pkg-config --cflags --libs kvitt)
 *   ./receipt receipt.bin [PROFILE]
 *   kvitt dump receipt.bin
 */
#include <stdio.h>
#include <string.h>

#include <kvitt/encoder.h>
#include <kvitt/layout.h>

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s OUT.bin|- [PROFILE]\n", argv[0]);
        return 2;
    }
    kv_escpos_options opts = KV_ESCPOS_OPTIONS_INIT;
    if (argc == 3 && !(opts.profile = kv_profile_find(argv[2]))) {
        fprintf(stderr, "receipt: unknown profile '%s' (see kvitt profiles)\n", argv[2]);
        return 2;
    }
    kv_escpos *e = NULL;
    kv_escpos_status st = kv_escpos_create(&e, &opts);
    if (st != KV_ESCPOS_OK) {
        fprintf(stderr, "receipt: %s\n", kv_escpos_strerror(st));
        return 1;
    }
    static const char *const url = "https://example.no/kvittering/1001";
    kv_style big = KV_STYLE_INIT;
    big.bold = true;
    big.width = big.height = 2;
    kv_style normal = KV_STYLE_INIT;
    kv_qr_options qr = KV_QR_OPTIONS_INIT;

    /* Errors are sticky: check once at the end. */
    kv_escpos_init(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_escpos_style(e, &big);
    kv_escpos_line(e, "Kaffebaren");
    kv_escpos_style(e, &normal);
    kv_escpos_line(e, "Storgata 1, 0155 Oslo");
    kv_escpos_align(e, KV_ALIGN_LEFT);
    kv_layout_rule(e, '-');
    kv_layout_two_col(e, "Cappuccino", "45,00");
    kv_layout_two_col(e, "Skolebolle", "39,00");
    kv_layout_rule(e, '-');
    kv_escpos_bold(e, true);
    kv_layout_two_col(e, "Totalt NOK", "84,00");
    kv_escpos_bold(e, false);
    kv_layout_two_col(e, "herav mva 15 %", "10,96");
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_escpos_qr(e, url, strlen(url), &qr);
    kv_escpos_line(e, "Takk for besøket!");
    kv_escpos_cut(e, KV_CUT_PARTIAL);

    if ((st = kv_escpos_status_get(e)) != KV_ESCPOS_OK) {
        fprintf(stderr, "receipt: %s: %s\n", kv_escpos_strerror(st), kv_escpos_errmsg(e));
        kv_escpos_destroy(e);
        return 1;
    }
    size_t len = 0;
    const uint8_t *bytes = kv_escpos_data(e, &len);
    FILE *f = strcmp(argv[1], "-") == 0 ? stdout : fopen(argv[1], "wb");
    int bad = !f || fwrite(bytes, 1, len, f) != len;
    if (f && f != stdout)
        bad |= fclose(f) != 0;
    else if (f)
        bad |= fflush(f) != 0;
    kv_escpos_destroy(e);
    if (bad) {
        perror(argv[1]);
        return 1;
    }
    fprintf(stderr, "receipt: %zu bytes written to %s\n", len, argv[1]);
    return 0;
}
