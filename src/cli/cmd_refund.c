/* cmd_refund.c - `kvitt refund`: refund a captured payment (src/flow does it). */
#include "src/cli/cli.h"
#include "src/cli/flowcli.h"

static kv_flow_status run(kv_flow *flow, kv_flow_result *r, const kv_flowcli_refargs *a)
{
    return kv_flow_refund(flow, r, a->ref, a->minor, a->store);
}

int kv_cmd_refund(int argc, char **argv, const kv_cli *cli)
{
    return kv_flowcli_ref_command(argc, argv, cli, "refund",
                                  "usage: kvitt refund --reference REF [--amount X] [--store ID] [--json]\n\nRefund --amount (default: all captured minus refunded) and print a refund slip.\n--store is the store where the till stands (default: default_store); a payment\nof another store of the same chain is refunded with that store's credentials\nand MSN, taken from the journal or the reference prefix.\n",
                                  run);
}
