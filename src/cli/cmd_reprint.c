/* cmd_reprint.c - `kvitt reprint`: print a receipt again (src/flow does it). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "src/cli/cli.h"
#include "src/cli/flowcli.h"

int kv_cmd_reprint(int argc, char **argv, const kv_cli *cli)
{
    static const struct option opts[] = {
        { "reference", required_argument, NULL, 'r' },
        { "amount", required_argument, NULL, 'a' },
        { "store", required_argument, NULL, 's' },
        { "local", no_argument, NULL, 'l' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 }
    };
    const char *ref = NULL, *amount = NULL, *store = NULL;
    int json = 0, local = 0, c;
    while ((c = getopt_long(argc, argv, "r:a:s:ljh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': ref = optarg; break;
        case 'a': amount = optarg; break;
        case 's': store = optarg; break;
        case 'l': local = 1; break;
        case 'j': json = 1; break;
        case 'h':
            printf("usage: kvitt reprint --reference REF [--json]\n\nPrint the receipt (or not-paid slip) of a payment again, marked COPY.\n");
            return KV_EXIT_OK;
        default: return kv_usage_error("reprint", "unknown option (see --help)");
        }
    }
    if (optind < argc)
        return kv_usage_error("reprint", "unexpected argument '%s'", argv[optind]);
    if (!ref)
        return kv_usage_error("reprint", "--reference REF is required");
    int64_t minor = 0;
    if (amount) {
        char err[160] = "";
        if (kv_flow_parse_amount(&minor, amount, err, sizeof err) != 0 || minor <= 0)
            return kv_usage_error("reprint", "--amount: %s", minor <= 0 && !err[0] ? "must be positive" : err);
    }
    (void)store; (void)local; (void)minor;
    kv_flowcli fc;
    int rc = kv_flowcli_open(&fc, "reprint", cli, json);
    if (rc)
        return rc;
    kv_flow_result r;
    kv_flow_status st = kv_flow_reprint(fc.flow, &r, ref);
    rc = kv_flowcli_result(&fc, st, &r);
    kv_flowcli_close(&fc);
    return rc;
}
