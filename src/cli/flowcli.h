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
/* The flag behind it (for loops that take a stop pointer: kvitt proxy). */
const volatile sig_atomic_t *kv_flowcli_stop_flag(void);

/* Print a result (text on stdout/stderr, or one JSON object on stdout)
 * and return the exit code for st. */
int kv_flowcli_result(kv_flowcli *fc, kv_flow_status st, const kv_flow_result *r);

/* What a --reference subcommand (capture, cancel, status, refund, reprint)
 * was given: ref is required; minor is the parsed --amount (0 when absent);
 * store is --store or NULL; local is 1 for --local. */
typedef struct kv_flowcli_refargs {
    const char *ref;
    int64_t minor;
    const char *store;
    int local;
} kv_flowcli_refargs;

/* The flow call of such a subcommand: fills *r and returns the status. */
typedef kv_flow_status (*kv_flowcli_refop)(kv_flow *flow, kv_flow_result *r, const kv_flowcli_refargs *a);

/* A whole --reference subcommand: parse --reference/--amount/--store/--local/
 * --json/--help (usage is printed as is for --help), open the flow, run op,
 * print its result and return the exit code (2 for bad arguments). */
int kv_flowcli_ref_command(int argc, char **argv, const kv_cli *cli, const char *cmd, const char *usage,
                           kv_flowcli_refop op);

/* Print payment rows (find). */
void kv_flowcli_rows(kv_flowcli *fc, const kv_payment *rows, size_t n);

#endif
