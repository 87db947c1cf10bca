/* cmd_certify.c - `kvitt certify`: run the Vipps MobilePay integration
 * checklist and write the go-live evidence (src/certify does it). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "src/certify/certify.h"
#include "src/cli/cli.h"
#include "src/config/config.h"
#include "src/flow/flow.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: kvitt certify [--store ID] [--out DIR] [--phone MSISDN] [--force-approve]\n"
        "                     [--wait-for-app] [--timeout S] [--webhook-wait S] [--amount X]\n"
        "                     [--run-id ID] [--qr-design-approved]\n\n"
        "Run the Vipps MobilePay ePayment checklist against the configured environment:\n"
        "create, get, event log, cancel, full and partial capture, full and partial\n"
        "refund, polling and webhooks, with payments ending CAPTURED, REFUNDED, CANCELLED\n"
        "and TERMINATED (production: also one left AUTHORIZED).  Writes certify.md and\n"
        "certify.json (references, final states, event logs, headers sent with secrets\n"
        "masked, reasons) for the go-live submission.  Against `kvitt sim` the approvals\n"
        "are automatic; in the test environment approve each payment in the Vipps MT app\n"
        "when asked (stderr), or use --force-approve with a test user's --phone.\n\n"
        "  --store ID        a [store ID] of the configuration (default: default_store)\n"
        "  --out DIR         folder for certify.md and certify.json (default .)\n"
        "  --phone MSISDN    test user's number (e.g. 4791234567): payments are pushed\n"
        "                    to it instead of shown as a QR link\n"
        "  --force-approve   test environment only: approve through the test API\n"
        "                    (the test user must have paid once in the MT app)\n"
        "  --wait-for-app    against the simulator too: do not approve through its\n"
        "                    control endpoint, ask and wait (for `kvitt sim --auto\n"
        "                    approve` or its landing page)\n"
        "  --timeout S       wait at most S seconds for each approval (default 300,\n"
        "                    60 against the simulator)\n"
        "  --webhook-wait S  wait at most S seconds for webhook deliveries (default 20)\n"
        "  --amount X        amount of each payment (default 10.00; production 2.00)\n"
        "  --run-id ID       references are <prefix>-cert-<ID>-<n> (1-16 letters, digits,\n"
        "                    '-'; default the UTC time)\n"
        "  --qr-design-approved  the store prints a self-drawn QR (qr_source = text) and\n"
        "                    Vipps has approved its design: that line passes\n\n"
        "exit codes: 0 every line passed, 1 some line failed or was not verified,\n"
        "2 bad option, 3 configuration or credentials, 5 payment service unreachable.\n");
}

static void progress(void *user, const char *line)
{
    (void)user;
    fprintf(stderr, "kvitt certify: %s\n", line);
    fflush(stderr);
}

static int parse_secs(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 1 || v > 86400)
        return -1;
    *out = (int)v;
    return 0;
}

int kv_cmd_certify(int argc, char **argv, const kv_cli *cli)
{
    static const struct option opts[] = {
        { "store", required_argument, NULL, 's' },
        { "out", required_argument, NULL, 'o' },
        { "phone", required_argument, NULL, 'p' },
        { "force-approve", no_argument, NULL, 'F' },
        { "wait-for-app", no_argument, NULL, 'A' },
        { "timeout", required_argument, NULL, 'T' },
        { "webhook-wait", required_argument, NULL, 'W' },
        { "amount", required_argument, NULL, 'a' },
        { "run-id", required_argument, NULL, 'r' },
        { "qr-design-approved", no_argument, NULL, 'Q' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 }
    };
    kv_certify_options o = KV_CERTIFY_OPTIONS_INIT;
    const char *out_dir = ".";
    char err[1024] = "";
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "s:o:p:FAT:W:a:r:Qh", opts, NULL)) != -1) {
        switch (c) {
        case 's': o.store_id = optarg; break;
        case 'o': out_dir = optarg; break;
        case 'p': o.phone = optarg; break;
        case 'F': o.force_approve = 1; break;
        case 'A': o.wait_for_app = 1; break;
        case 'T':
            if (parse_secs(optarg, &o.approve_timeout_s))
                return kv_usage_error("certify", "--timeout: seconds, 1..86400");
            break;
        case 'W':
            if (parse_secs(optarg, &o.webhook_wait_s))
                return kv_usage_error("certify", "--webhook-wait: seconds, 1..86400");
            break;
        case 'a':
            if (kv_flow_parse_amount(&o.amount, optarg, err, sizeof err))
                return kv_usage_error("certify", "--amount: %s", err);
            if (o.amount < 100 || o.amount > 100000000)
                return kv_usage_error("certify", "--amount: from 1.00 to 1000000.00");
            break;
        case 'r': o.run_id = optarg; break;
        case 'Q': o.qr_design_approved = 1; break;
        case 'h': usage(stdout); return KV_EXIT_OK;
        default: return kv_bad_option("certify", argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error("certify", "unexpected argument '%s'", argv[optind]);
    struct stat sb;
    if (stat(out_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return kv_usage_error("certify", "--out %s: not a folder", out_dir);
    if (access(out_dir, W_OK) != 0)
        return kv_usage_error("certify", "--out %s: not writable", out_dir);

    kv_config *cfg = NULL;
    if (kv_config_load(&cfg, kv_config_default_path(cli->config_path), err, sizeof err) != KV_C_OK) {
        kv_err("certify", "%s", err);
        return KV_EXIT_CONFIG;
    }
    kv_on_stop_signals(on_signal);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    o.cfg = cfg;
    o.out_dir = out_dir;
    o.progress = cli->quiet ? NULL : progress;
    o.stop = &stop_flag;
    kv_certify *cert = NULL;
    kv_certify_status st = kv_certify_open(&cert, &o, err, sizeof err);
    int rc;
    if (st != KV_CERTIFY_OK) {
        kv_err("certify", "%s", err);
        rc = st == KV_CERTIFY_E_ARG ? KV_EXIT_USAGE : KV_EXIT_CONFIG;
        goto out;
    }
    st = kv_certify_run(cert, err, sizeof err);
    if (st == KV_CERTIFY_E_UNREACHABLE || st == KV_CERTIFY_E_CONFIG || st == KV_CERTIFY_E_IO ||
        st == KV_CERTIFY_E_NOMEM) {
        kv_err("certify", "%s: %s", kv_certify_strerror(st), err);
        rc = st == KV_CERTIFY_E_UNREACHABLE ? KV_EXIT_SERVICE
             : st == KV_CERTIFY_E_CONFIG ? KV_EXIT_CONFIG
             : st == KV_CERTIFY_E_IO ? KV_EXIT_USAGE : KV_EXIT_NOT_PAID;
        goto out;
    }
    size_t n = kv_certify_line_count(cert), passed = 0;
    for (size_t i = 0; i < n; i++) {
        kv_certify_line_info li;
        kv_certify_line_get(cert, i, &li);
        passed += !strcmp(li.result, "passed");
        printf("%-16s %-12s %-28s %s\n", li.id, li.result, li.reference[0] ? li.reference : "-",
               li.final_state[0] ? li.final_state : "-");
        if (strcmp(li.result, "passed"))
            printf("  reason: %s\n", li.reason);
    }
    printf("%zu of %zu checklist lines passed; report in %s/certify.md and %s/certify.json\n", passed, n,
           out_dir, out_dir);
    rc = st == KV_CERTIFY_OK ? KV_EXIT_OK : KV_EXIT_NOT_PAID;
out:
    kv_certify_close(cert);
    kv_config_free(cfg);
    curl_global_cleanup();
    return rc;
}
