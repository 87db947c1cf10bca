/* cmd_capture.c - `kvitt capture`: capture an authorized payment (src/flow does it). */
#include "src/cli/cli.h"
#include "src/cli/flowcli.h"

static kv_flow_status run(kv_flow *flow, kv_flow_result *r, const kv_flowcli_refargs *a)
{
    return kv_flow_capture(flow, r, a->ref, a->minor);
}

int kv_cmd_capture(int argc, char **argv, const kv_cli *cli)
{
    return kv_flowcli_ref_command(argc, argv, cli, "capture",
                                  "usage: kvitt capture --reference REF [--amount X] [--json]\n\nCapture what remains authorized (or --amount of it) and print the receipt.\n",
                                  run);
}
