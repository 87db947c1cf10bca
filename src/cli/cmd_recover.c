/* cmd_recover.c - `kvitt recover`: finish every unfinished payment. */
#include <getopt.h>
#include <stdio.h>

#include "src/cli/cli.h"
#include "src/cli/flowcli.h"
#include "src/proxy/proxy.h"

int kv_cmd_recover(int argc, char **argv, const kv_cli *cli)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 }
    };
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h':
            printf("usage: kvitt recover [--json]\n\n"
                   "For every unfinished payment in the journal: read its real state at Vipps,\n"
                   "finish it (capture or cancel) and print missing receipts (marked COPY when\n"
                   "one may already have been printed).  Never captures or refunds twice.\n"
                   "Receipts `kvitt proxy` held when it stopped are printed with their outcome.\n"
                   "exit codes: 0 all final, 6 some still unknown, 3 configuration.\n");
            return KV_EXIT_OK;
        default: return kv_bad_option("recover", argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error("recover", "unexpected argument '%s'", argv[optind]);
    kv_flowcli fc;
    int rc = kv_flowcli_open(&fc, "recover", cli, json);
    if (rc)
        return rc;
    kv_recover_report rep;
    kv_flow_status st = kv_flow_recover(fc.flow, &rep);
    /* receipts `kvitt proxy` held when it stopped (src/proxy/proxy.h) */
    int held_printed = 0, held_left = 0;
    char perr[512] = "";
    if (kv_proxy_recover_all(fc.cfg, fc.flow, &held_printed, &held_left, perr, sizeof perr) != KV_PROXY_OK)
        kv_err("recover", "held proxy receipts: %s", perr[0] ? perr : "journal problem");
    if (!json && (held_printed || held_left))
        printf("recover: %d held proxy receipts printed, %d still held\n", held_printed, held_left);
    if (json)
        printf("{\"examined\":%d,\"finished\":%d,\"captured\":%d,\"reprinted\":%d,\"unresolved\":%d,"
               "\"app_receipts_sent\":%d,\"app_receipts_queued\":%d,\"exit_code\":%d}\n",
               rep.examined, rep.finished, rep.captured, rep.reprinted, rep.unresolved, rep.receipts_sent,
               rep.receipts_queued, kv_flow_exit_code(st));
    else
        printf("recover: %d unfinished, %d finished, %d captured, %d receipts printed, %d still unknown; "
               "receipts in the app: %d sent, %d still queued\n",
               rep.examined, rep.finished, rep.captured, rep.reprinted, rep.unresolved, rep.receipts_sent,
               rep.receipts_queued);
    kv_flowcli_close(&fc);
    return kv_flow_exit_code(st);
}
