/* cmd_status.c - `kvitt status`: show a payment (src/flow does it). */
#include "src/cli/cli.h"
#include "src/cli/flowcli.h"

static kv_flow_status run(kv_flow *flow, kv_flow_result *r, const kv_flowcli_refargs *a)
{
    return kv_flow_status_get(flow, r, a->ref, !a->local);
}

int kv_cmd_status(int argc, char **argv, const kv_cli *cli)
{
    return kv_flowcli_ref_command(argc, argv, cli, "status",
                                  "usage: kvitt status --reference REF [--local] [--json]\n\nShow a payment from the journal and, unless --local, its state at Vipps.\n",
                                  run);
}
