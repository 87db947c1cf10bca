/* cmd_refund.c - `kvitt refund`: refund a captured payment (src/flow does it). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "src/cli/cli.h"
#include "src/cli/flowcli.h"

int kv_cmd_refund(int argc, char **argv, const kv_cli *cli)
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
            printf("usage: kvitt refund --reference REF [--amount X] [--store ID] [--json]\n\nRefund --amount (default: all captured minus refunded) and print a refund slip.\n--store is the store where the till stands (default: default_store); a payment\nof another store of the same chain is refunded with that store's credentials\nand MSN, taken from the journal or the reference prefix.\n");
            return KV_EXIT_OK;
        default: return kv_usage_error("refund", "unknown option (see --help)");
        }
    }
    if (optind < argc)
        return kv_usage_error("refund", "unexpected argument '%s'", argv[optind]);
    if (!ref)
        return kv_usage_error("refund", "--reference REF is required");
    int64_t minor = 0;
    if (amount) {
        char err[160] = "";
        if (kv_flow_parse_amount(&minor, amount, err, sizeof err) != 0 || minor <= 0)
            return kv_usage_error("refund", "--amount: %s", minor <= 0 && !err[0] ? "must be positive" : err);
    }
    (void)store; (void)local; (void)minor;
    kv_flowcli fc;
    int rc = kv_flowcli_open(&fc, "refund", cli, json);
    if (rc)
        return rc;
    kv_flow_result r;
    kv_flow_status st = kv_flow_refund(fc.flow, &r, ref, minor, store);
    rc = kv_flowcli_result(&fc, st, &r);
    kv_flowcli_close(&fc);
    return rc;
}
