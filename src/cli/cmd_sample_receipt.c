/* cmd_sample_receipt.c - `kvitt sample-receipt`: the fixed sample receipt. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "escpos/encoder.h"
#include "escpos/layout.h"
#include "escpos/profile.h"
#include "src/cli/cli.h"
#include "src/doc/sample.h"

static const char usage[] =
    "usage: kvitt sample-receipt -o FILE|- [--profile NAME] [--lang nb|da|fi|sv|en]\n"
    "                            [--currency NOK|DKK|SEK|EUR] [--codepage NAME]\n"
    "\n"
    "Write a fixed sample receipt (header, items with Nordic letters, a\n"
    "truncated long item, rules, total, barcode, cut) as ESC/POS bytes for the\n"
    "printer profile: a test page for a printer and the golden fixtures.\n";

int kv_cmd_sample_receipt(int argc, char **argv, const kv_cli *cli)
{
    static const struct option longopts[] = {
        { "profile", required_argument, NULL, 'p' },
        { "lang", required_argument, NULL, 'l' },
        { "currency", required_argument, NULL, 'c' },
        { "codepage", required_argument, NULL, 'C' },
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *out = NULL, *currency = "NOK";
    kv_lang lang = KV_LANG_NB;
    kv_escpos_options eo = KV_ESCPOS_OPTIONS_INIT;
    int c;
    (void)cli;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (!(eo.profile = kv_profile_find(optarg)))
                return kv_usage_error("sample-receipt", "unknown printer profile '%s' "
                                      "(see 'kvitt profiles')", optarg);
            break;
        case 'l':
            if (kv_lang_from_name(&lang, optarg))
                return kv_usage_error("sample-receipt", "--lang must be nb, da, fi, sv or en");
            break;
        case 'c':
            if (!kv_currency_known(optarg))
                return kv_usage_error("sample-receipt", "--currency must be NOK, DKK, SEK or EUR");
            currency = optarg;
            break;
        case 'C': {
            kv_codepage cp;
            if (kv_codepage_from_name(&cp, optarg))
                return kv_usage_error("sample-receipt", "unknown code page '%s'", optarg);
            eo.codepage = (int)cp;
            break;
        }
        case 'o': out = optarg; break;
        case 'h': fputs(usage, stdout); return KV_EXIT_OK;
        case ':': return kv_usage_error("sample-receipt", "%s needs a value", argv[optind - 1]);
        default: return kv_bad_option("sample-receipt", argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error("sample-receipt", "unexpected argument '%s'", argv[optind]);
    if (!out)
        return kv_usage_error("sample-receipt", "-o FILE is required (- for standard output)");
    kv_escpos *e;
    kv_escpos_status st = kv_escpos_create(&e, &eo);
    if (st)
        return kv_usage_error("sample-receipt", "%s", kv_escpos_strerror(st));
    if (kv_sample_receipt_write(e, lang, currency)) {
        int rc = kv_usage_error("sample-receipt", "%s", kv_escpos_errmsg(e));
        kv_escpos_destroy(e);
        return rc;
    }
    size_t len;
    const uint8_t *data = kv_escpos_data(e, &len);
    FILE *f = kv_open_out("sample-receipt", out);
    int rc = KV_EXIT_USAGE;
    if (f) {
        fwrite(data, 1, len, f);
        rc = kv_close_out("sample-receipt", f, out) ? KV_EXIT_USAGE : KV_EXIT_OK;
    }
    kv_escpos_destroy(e);
    return rc;
}
