/* cmd_pay.c - `kvitt pay`: charge an amount at the till (src/flow does it). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/cli/cli.h"
#include "src/cli/flowcli.h"
#include "src/cli/payd.h"
#include "src/cli/readfile.h"
#include "src/doc/termqr.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: kvitt pay --amount 149.00 [--currency NOK] [--store ID] [--phone MSISDN [--not-present]]\n"
        "                 [--items FILE.json] [--text TEXT] [--printer URI] [--timeout S]\n"
        "                 [--reference REF] [--show-qr] [--qr-style ansi|light|dark]\n"
        "                 [--no-recover] [--json]\n\n"
        "Create a payment, print its QR slip, wait for the customer, capture and print\n"
        "the receipt.  Unfinished payments from earlier runs are recovered first.\n\n"
        "  --amount X      amount with at most two decimals (at least 1.00 NOK)\n"
        "  --currency C    NOK, DKK or EUR; must be the store's currency\n"
        "  --store ID      a [store ID] of the configuration (default: default_store)\n"
        "  --phone MSISDN  send a push to this number instead of a QR (e.g. 4791234567)\n"
        "  --not-present   the customer is not at the till (with --phone and --items:\n"
        "                  the receipt in the app is mandatory then)\n"
        "  --items FILE    JSON array of {\"name\",\"quantity\",\"unit_price\",\"vat_rate\"};\n"
        "                  their sum must equal the amount (\"-\" reads stdin)\n"
        "  --text TEXT     payment description shown in the app (3-100 characters)\n"
        "  --printer URI   print on this printer instead of the store's\n"
        "  --timeout S     give up (cancel) after S seconds (default payment_timeout_s)\n"
        "  --reference REF use this payment reference instead of a generated one\n"
        "                  (PREFIX-YYYYMMDDHHMMSS-random)\n"
        "  --show-qr       also draw the QR code in the terminal (stderr)\n"
        "  --qr-style S    ansi (default: black on white with colour codes, for any\n"
        "                  terminal), light (dark blocks, no colour codes) or dark\n"
        "                  (light blocks, for a light-on-dark terminal without colours)\n"
        "  --no-recover    do not finish earlier unfinished payments first\n"
        "  --json          print one JSON result object on stdout\n\n"
        "The slip's QR follows the store's qr_source: image (the default) prints Vipps'\n"
        "own QR; text makes kvitt draw it, which needs Vipps' approval (warned on stderr).\n\n"
        "exit codes: 0 paid, 1 not paid, 2 bad input, 3 configuration, 4 printer failure\n"
        "before the QR was shown, 5 payment service unreachable, 6 outcome unknown\n"
        "(journaled; run 'kvitt recover').\n");
}

int kv_cmd_pay(int argc, char **argv, const kv_cli *cli)
{
    static const struct option opts[] = {
        { "amount", required_argument, NULL, 'a' },
        { "currency", required_argument, NULL, 'C' },
        { "store", required_argument, NULL, 's' },
        { "phone", required_argument, NULL, 'p' },
        { "items", required_argument, NULL, 'i' },
        { "text", required_argument, NULL, 't' },
        { "printer", required_argument, NULL, 'P' },
        { "timeout", required_argument, NULL, 'T' },
        { "reference", required_argument, NULL, 'r' },
        { "not-present", no_argument, NULL, 'N' },
        { "show-qr", no_argument, NULL, 'q' },
        { "qr-style", required_argument, NULL, 'Q' },
        { "no-recover", no_argument, NULL, 'n' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 }
    };
    kv_pay_request req = { 0 };
    const char *items_path = NULL;
    int json = 0, show_qr = 0, no_recover = 0, c;
    kv_termqr_style qr_style = KV_TERMQR_ANSI;
    while ((c = getopt_long(argc, argv, "a:C:s:p:i:t:P:T:r:NqQ:njh", opts, NULL)) != -1) {
        switch (c) {
        case 'a': req.amount = optarg; break;
        case 'C': req.currency = optarg; break;
        case 's': req.store_id = optarg; break;
        case 'p': req.phone = optarg; break;
        case 'i': items_path = optarg; break;
        case 't': req.text = optarg; break;
        case 'P': req.printer = optarg; break;
        case 'T': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v <= 0 || v > 86400)
                return kv_usage_error("pay", "--timeout: a number of seconds, 1..86400");
            req.timeout_s = (int)v;
            break;
        }
        case 'r': req.reference = optarg; break;
        case 'N': req.not_present = 1; break;
        case 'q': show_qr = 1; break;
        case 'Q':
            if (kv_termqr_style_parse(optarg, &qr_style) != 0)
                return kv_usage_error("pay", "--qr-style wants ansi, light or dark, got '%s'", optarg);
            break;
        case 'n': no_recover = 1; break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return KV_EXIT_OK;
        default: return kv_bad_option("pay", argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error("pay", "unexpected argument '%s'", argv[optind]);
    if (!req.amount)
        return kv_usage_error("pay", "--amount is required (e.g. --amount 149.00)");
    if (!items_path) {
        /* [kvitt] serve_url: a running daemon does it (token and journal warm) */
        int drc = kv_pay_via_daemon(cli, &req, json);
        if (drc >= 0)
            return drc;
    }
    char *items = NULL;
    if (items_path) {
        uint8_t *raw = NULL;
        size_t len = 0;
        if (kv_read_input("pay", items_path, &raw, &len) != 0)
            return KV_EXIT_USAGE;
        items = malloc(len + 1);
        if (!items) {
            free(raw);
            return kv_usage_error("pay", "out of memory reading %s", items_path);
        }
        memcpy(items, raw, len);
        items[len] = 0;
        free(raw);
        if (strlen(items) != len) {
            free(items);
            return kv_usage_error("pay", "--items %s: not a text file", items_path);
        }
        req.items_json = items;
    }
    kv_flowcli fc;
    int rc = kv_flowcli_open(&fc, "pay", cli, json);
    if (rc) {
        free(items);
        return rc;
    }
    const kv_store *qs = kv_config_store(fc.cfg, req.store_id);
    if (qs && qs->qr_source == KV_QR_TEXT && qs->flow != KV_FLOW_PUSH && !req.phone)
        fprintf(stderr, "kvitt pay: warning: [store %s] qr_source = text: kvitt draws the QR itself; a "
                "self-drawn QR needs Vipps' approval (qr_source = image prints Vipps' own QR)\n", qs->id);
    char err[512];
    kv_flow_status st = kv_flow_validate(fc.flow, &req, err, sizeof err);
    if (st != KV_FLOW_OK) {
        kv_err("pay", "%s", err);
        kv_flowcli_close(&fc);
        free(items);
        return kv_flow_exit_code(st);
    }
    if (!no_recover) {
        kv_recover_report rep;
        kv_flow_recover(fc.flow, &rep);
        if (rep.examined && !cli->quiet)
            fprintf(stderr, "kvitt pay: recovered %d unfinished payment(s) first (%d still unknown)\n",
                    rep.finished, rep.unresolved);
    }
    kv_flow_result r;
    st = kv_flow_start(fc.flow, &r, &req);
    if (st == KV_FLOW_OK && r.payment.state == KV_PAY_WAITING) {
        if (show_qr && r.payment.qr_url[0]) {
            fprintf(stderr, "\nScan to pay %s:\n", r.payment.reference);
            kv_termqr_print_style(stderr, r.payment.qr_url, qr_style);
            fprintf(stderr, "%s\n\n", r.payment.qr_url);
        }
        char slip[1024];
        snprintf(slip, sizeof slip, "%s", r.slip_path);
        st = kv_flow_wait(fc.flow, &r, r.payment.reference, req.timeout_s);
        snprintf(r.slip_path, sizeof r.slip_path, "%s", slip);
    }
    rc = kv_flowcli_result(&fc, st, &r);
    kv_flowcli_close(&fc);
    free(items);
    return rc;
}
