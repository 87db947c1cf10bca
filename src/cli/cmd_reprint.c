/* cmd_reprint.c - `kvitt reprint`: print a receipt again (src/flow does it). */
#include "src/cli/cli.h"
#include "src/cli/flowcli.h"

static kv_flow_status run(kv_flow *flow, kv_flow_result *r, const kv_flowcli_refargs *a)
{
    return kv_flow_reprint(flow, r, a->ref);
}

int kv_cmd_reprint(int argc, char **argv, const kv_cli *cli)
{
    return kv_flowcli_ref_command(argc, argv, cli, "reprint",
                                  "usage: kvitt reprint --reference REF [--json]\n\nPrint the receipt (or not-paid slip) of a payment again, marked COPY.\n",
                                  run);
}
