/* cmd_slip.c - `kvitt slip`: write a QR payment slip as ESC/POS bytes. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escpos/encoder.h"
#include "escpos/layout.h"
#include "escpos/profile.h"
#include "src/cli/cli.h"
#include "src/doc/slip.h"

static const char usage[] =
    "usage: kvitt slip --url URL --amount AMOUNT -o FILE|-\n"
    "                  [--currency NOK|DKK|SEK|EUR] [--reference REF] [--store-name NAME]\n"
    "                  [--lang nb|da|fi|sv|en] [--profile NAME] [--qr auto|native|raster]\n"
    "                  [--module DOTS] [--ec L|M|Q|H] [--codepage NAME] [--expiry TEXT]\n"
    "                  [--no-cut]\n"
    "\n"
    "Write a complete QR payment slip (title, amount, QR code of URL, \"scan\" text,\n"
    "reference, optional expiry, feed and cut) as an ESC/POS byte stream for the\n"
    "printer profile (see 'kvitt profiles'; default generic-80).  AMOUNT is\n"
    "decimal (149, 149.00 or 149,00).  --qr auto uses the printer's own QR command\n"
    "when the profile has it, else a host-rendered raster image.  --module is the\n"
    "QR module size in dots (1..16, default 6), --ec the error correction\n"
    "(default M).  -o - writes to standard output.\n"
    "Exit 0 written, 2 bad arguments or a QR code that does not fit.\n";

int kv_cmd_slip(int argc, char **argv, const kv_cli *cli)
{
    static const struct option longopts[] = {
        { "url", required_argument, NULL, 'u' },
        { "amount", required_argument, NULL, 'a' },
        { "currency", required_argument, NULL, 'c' },
        { "reference", required_argument, NULL, 'r' },
        { "store-name", required_argument, NULL, 's' },
        { "lang", required_argument, NULL, 'l' },
        { "profile", required_argument, NULL, 'p' },
        { "qr", required_argument, NULL, 'q' },
        { "module", required_argument, NULL, 'm' },
        { "ec", required_argument, NULL, 'e' },
        { "codepage", required_argument, NULL, 'C' },
        { "expiry", required_argument, NULL, 'x' },
        { "no-cut", no_argument, NULL, 'N' },
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    kv_slip_spec spec = KV_SLIP_SPEC_INIT;
    const char *amount = NULL, *out = NULL, *profile_name = NULL, *cp_name = NULL;
    spec.currency = "NOK";
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'u': spec.url = optarg; break;
        case 'a': amount = optarg; break;
        case 'c': spec.currency = optarg; break;
        case 'r': spec.reference = optarg; break;
        case 's': spec.store_name = optarg; break;
        case 'l':
            if (kv_lang_from_name(&spec.lang, optarg))
                return kv_usage_error("slip", "--lang must be nb, da, fi, sv or en, not '%s'",
                                      optarg);
            break;
        case 'p': profile_name = optarg; break;
        case 'q':
            if (!strcmp(optarg, "auto")) spec.qr.mode = KV_QR_AUTO;
            else if (!strcmp(optarg, "native")) spec.qr.mode = KV_QR_NATIVE;
            else if (!strcmp(optarg, "raster")) spec.qr.mode = KV_QR_RASTER;
            else
                return kv_usage_error("slip", "--qr must be auto, native or raster, not '%s'",
                                      optarg);
            break;
        case 'm': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end || v < 1 || v > 16)
                return kv_usage_error("slip", "--module must be 1..16 dots, not '%s'", optarg);
            spec.qr.module = (unsigned)v;
            break;
        }
        case 'e': {
            const char *levels = "LMQH", *p = strchr(levels, optarg[0]);
            if (!p || optarg[0] == '\0' || optarg[1] != '\0')
                return kv_usage_error("slip", "--ec must be L, M, Q or H, not '%s'", optarg);
            spec.qr.ec = (kv_qr_ec)(p - levels);
            break;
        }
        case 'C': cp_name = optarg; break;
        case 'x': spec.expiry = optarg; break;
        case 'N': spec.no_cut = true; break;
        case 'o': out = optarg; break;
        case 'h': fputs(usage, stdout); return KV_EXIT_OK;
        case ':': return kv_usage_error("slip", "%s needs a value", argv[optind - 1]);
        default: return kv_bad_option("slip", argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error("slip", "unexpected argument '%s'", argv[optind]);
    if (!spec.url)
        return kv_usage_error("slip", "--url is required");
    if (!amount)
        return kv_usage_error("slip", "--amount is required");
    if (!out)
        return kv_usage_error("slip", "-o FILE is required (- for standard output)");
    if (kv_money_parse(&spec.amount_minor, amount))
        return kv_usage_error("slip", "--amount '%s' is not an amount like 149.00", amount);
    if (!kv_currency_known(spec.currency))
        return kv_usage_error("slip", "--currency must be NOK, DKK, SEK or EUR, not '%s'",
                              spec.currency);
    kv_escpos_options eo = KV_ESCPOS_OPTIONS_INIT;
    if (profile_name) {
        eo.profile = kv_profile_find(profile_name);
        if (!eo.profile)
            return kv_usage_error("slip", "unknown printer profile '%s' (see 'kvitt profiles')",
                                  profile_name);
    }
    if (cp_name) {
        kv_codepage cp;
        if (kv_codepage_from_name(&cp, cp_name))
            return kv_usage_error("slip", "unknown code page '%s' (PC437, PC850, PC858, PC865, "
                                  "WPC1252)", cp_name);
        eo.codepage = (int)cp;
    }
    kv_escpos *e;
    kv_escpos_status st = kv_escpos_create(&e, &eo);
    if (st == KV_ESCPOS_E_UNSUPPORTED)
        return kv_usage_error("slip", "profile %s has no code page %s",
                              eo.profile ? eo.profile->name : kv_profile_default()->name,
                              cp_name ? cp_name : "?");
    if (st) {
        kv_err("slip", "%s", kv_escpos_strerror(st));
        return KV_EXIT_USAGE;
    }
    st = kv_slip_write(e, &spec);
    if (st) {
        int rc = kv_usage_error("slip", "%s", kv_escpos_errmsg(e));
        kv_escpos_destroy(e);
        return rc;
    }
    const kv_transcode_stats *ts = kv_escpos_text_stats(e);
    if (ts->replaced && !cli->quiet)
        kv_err("slip", "warning: %zu character(s) not in %s printed as '?'", ts->replaced,
               kv_codepage_name(kv_escpos_codepage(e)));
    size_t len;
    const uint8_t *data = kv_escpos_data(e, &len);
    int rc = kv_write_out("slip", out, data, len);
    kv_escpos_destroy(e);
    return rc;
}
