/*
 * flowcli.h - glue shared by the till subcommands (pay, recover, capture,
 * cancel, status, refund, find, reprint): load the configuration, open the
 * flow with a Ctrl-C/SIGTERM stop flag and a stderr progress printer, and
 * print results (text or one JSON object).  No payment logic here: that is
 * src/flow.
 */
#ifndef KV_CLI_FLOWCLI_H
#define KV_CLI_FLOWCLI_H

#include "src/cli/cli.h"
#include "src/config/config.h"
#include "src/flow/flow.h"

typedef struct kv_flowcli {
    kv_config *cfg;
    kv_flow *flow;
    const char *cmd;
    int json;
    int quiet;
} kv_flowcli;

/* Load the config and open the flow.  Returns 0, or an exit code (3 for a
 * configuration or journal problem) after printing the reason. */
int kv_flowcli_open(kv_flowcli *fc, const char *cmd, const kv_cli *cli, int json);
void kv_flowcli_close(kv_flowcli *fc);

/* 1 once SIGINT/SIGTERM arrived. */
int kv_flowcli_interrupted(void);

/* Print a result (text on stdout/stderr, or one JSON object on stdout)
 * and return the exit code for st. */
int kv_flowcli_result(kv_flowcli *fc, kv_flow_status st, const kv_flow_result *r);

/* Print payment rows (find). */
void kv_flowcli_rows(kv_flowcli *fc, const kv_payment *rows, size_t n);

#endif
