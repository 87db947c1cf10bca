/* cmd_cancel.c - `kvitt cancel`: cancel a payment that is not captured (src/flow does it). */
#include "src/cli/cli.h"
#include "src/cli/flowcli.h"

static kv_flow_status run(kv_flow *flow, kv_flow_result *r, const kv_flowcli_refargs *a)
{
    return kv_flow_cancel(flow, r, a->ref);
}

int kv_cmd_cancel(int argc, char **argv, const kv_cli *cli)
{
    return kv_flowcli_ref_command(argc, argv, cli, "cancel",
                                  "usage: kvitt cancel --reference REF [--json]\n\nCancel a payment that is not captured (releases a reservation).\n",
                                  run);
}
