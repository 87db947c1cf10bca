/*
 * payd.h - `kvitt pay` through a running daemon ([kvitt] serve_url and
 * serve_token = env:VAR): POST /v1/payments, then the payment's event feed
 * until it is final.  See docs/daemon.md.
 */
#ifndef KV_CLI_PAYD_H
#define KV_CLI_PAYD_H

#include "src/cli/cli.h"
#include "src/flow/flow.h"

/* Run req through the daemon named by the configuration and print the
 * result like the local path.  Returns the exit code, or -1 when the
 * payment is for the local path (no serve_url / serve_token, or options
 * the till API does not take: --printer, --reference, --items). */
int kv_pay_via_daemon(const kv_cli *cli, const kv_pay_request *req, int json);

#endif
