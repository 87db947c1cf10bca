/* sample_cmd.c - option parsing and output of the sample-document commands. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "escpos/profile.h"
#include "src/cli/cli.h"
#include "src/cli/sample_cmd.h"

int kv_sample_cmd(const char *cmd, const char *usage, int with_codepage, kv_sample_writer write,
                  int argc, char **argv)
{
    static const struct option longopts[] = {
        { "profile", required_argument, NULL, 'p' },
        { "lang", required_argument, NULL, 'l' },
        { "currency", required_argument, NULL, 'c' },
        { "output", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { "codepage", required_argument, NULL, 'C' },   /* last: only with_codepage */
        { NULL, 0, NULL, 0 },
    };
    struct option opts[sizeof longopts / sizeof longopts[0]];
    memcpy(opts, longopts, sizeof longopts);
    if (!with_codepage)
        memset(&opts[5], 0, sizeof opts[5]);
    const char *out = NULL, *currency = "NOK";
    kv_lang lang = KV_LANG_NB;
    kv_escpos_options eo = KV_ESCPOS_OPTIONS_INIT;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (!(eo.profile = kv_profile_find(optarg)))
                return kv_usage_error(cmd, "unknown printer profile '%s' (see 'kvitt profiles')",
                                      optarg);
            break;
        case 'l':
            if (kv_lang_from_name(&lang, optarg))
                return kv_usage_error(cmd, "--lang must be nb, da, fi, sv or en");
            break;
        case 'c':
            if (!kv_currency_known(optarg))
                return kv_usage_error(cmd, "--currency must be NOK, DKK, SEK or EUR");
            currency = optarg;
            break;
        case 'C': {
            kv_codepage cp;
            if (kv_codepage_from_name(&cp, optarg))
                return kv_usage_error(cmd, "unknown code page '%s'", optarg);
            eo.codepage = (int)cp;
            break;
        }
        case 'o': out = optarg; break;
        case 'h': fputs(usage, stdout); return KV_EXIT_OK;
        case ':': return kv_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return kv_bad_option(cmd, argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!out)
        return kv_usage_error(cmd, "-o FILE is required (- for standard output)");
    kv_escpos *e;
    kv_escpos_status st = kv_escpos_create(&e, &eo);
    if (st)
        return kv_usage_error(cmd, "%s", kv_escpos_strerror(st));
    if (write(e, lang, currency)) {
        int rc = kv_usage_error(cmd, "%s", kv_escpos_errmsg(e));
        kv_escpos_destroy(e);
        return rc;
    }
    size_t len;
    const uint8_t *data = kv_escpos_data(e, &len);
    int rc = kv_write_out(cmd, out, data, len);
    kv_escpos_destroy(e);
    return rc;
}
