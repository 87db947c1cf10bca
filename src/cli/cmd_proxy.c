/* cmd_proxy.c - `kvitt proxy NAME`: serve a till that can only print (see
 * src/proxy/proxy.h), and `kvitt proxy test-rule FILE.bin`: show what a
 * rule finds in a recorded job. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "src/cli/cli.h"
#include "src/cli/flowcli.h"
#include "src/cli/readfile.h"
#include "src/proxy/proxy.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: kvitt proxy [--no-recover] NAME\n"
               "       kvitt proxy test-rule FILE.bin [--proxy NAME] [--match RE]\n"
               "                 [--profile NAME] [--amount-format comma|point] [--max-amount A]\n\n"
               "Sit between a till and its receipt printer as the printer the till thinks it\n"
               "has ([proxy NAME] in the configuration: listen, printer, store, match, ...;\n"
               "see docs/proxy.md).  Every job passes to the printer unchanged; a receipt\n"
               "whose text matches the rule is held while the customer pays with Vipps\n"
               "MobilePay (QR slip, wait, capture), then printed with a paid block, or\n"
               "marked NOT PAID.  Receipts held by a crash are printed first.\n\n"
               "  --no-recover        do not finish payments and held receipts at start\n\n"
               "test-rule: decode a recorded job, print its text lines and what the rule\n"
               "finds.  Exit 0 payment found, 1 not a payment, 2 refused (bad input).\n"
               "  --proxy NAME        take the rule of [proxy NAME] from the configuration\n"
               "  --match RE          the rule's pattern ((?<amount>...) or {amount})\n"
               "  --profile NAME      the till's printer profile (code page numbering)\n"
               "  --amount-format F   comma (1 234,50, default) or point (1,234.50)\n"
               "  --max-amount A      refuse amounts above A (e.g. 20000.00)\n");
}

struct show {
    const kv_proxy_rule *rule;
};

static int show_line(void *ctx, int lineno, const char *s)
{
    (void)ctx;
    printf("%4d  %s\n", lineno, s);
    return 0;
}

static int test_rule(int argc, char **argv, const kv_cli *cli)
{
    static const struct option lo[] = {
        { "proxy", required_argument, NULL, 'P' },
        { "match", required_argument, NULL, 'm' },
        { "profile", required_argument, NULL, 'p' },
        { "amount-format", required_argument, NULL, 'f' },
        { "max-amount", required_argument, NULL, 'x' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *name = NULL, *match = NULL, *prof = NULL, *max = NULL;
    kv_amount_format fmt = KV_AMOUNT_COMMA;
    int c, fmt_given = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, "P:m:p:f:x:h", lo, NULL)) != -1) {
        switch (c) {
        case 'P': name = optarg; break;
        case 'm': match = optarg; break;
        case 'p': prof = optarg; break;
        case 'f':
            fmt_given = 1;
            if (strcasecmp(optarg, "point") == 0)
                fmt = KV_AMOUNT_POINT;
            else if (strcasecmp(optarg, "comma") != 0)
                return kv_usage_error("proxy", "--amount-format: comma or point, not '%s'", optarg);
            break;
        case 'x': max = optarg; break;
        case 'h': usage(stdout); return KV_EXIT_OK;
        default: return kv_bad_option("proxy", argc, argv);
        }
    }
    if (optind != argc - 1)
        return kv_usage_error("proxy", "test-rule: expected one FILE.bin");
    if (!name && !match)
        return kv_usage_error("proxy", "test-rule: give --proxy NAME or --match RE");
    if (!match && (max || fmt_given))
        return kv_usage_error("proxy", "%s goes with --match (--proxy NAME takes the section's own)",
                              max ? "--max-amount" : "--amount-format");
    char err[1024];
    kv_config *cfg = NULL;
    kv_proxy *px = NULL;
    kv_proxy_rule *own = NULL;
    const kv_proxy_rule *rule = NULL;
    const kv_profile *profile = prof ? kv_profile_find(prof) : NULL;
    if (prof && !profile)
        return kv_usage_error("proxy", "--profile: unknown profile '%s'", prof);
    int rc = KV_EXIT_OK;
    if (name) {
        if (kv_config_load(&cfg, kv_config_default_path(cli->config_path), err, sizeof err) != KV_C_OK ||
            kv_proxy_create(&px, cfg, name, NULL, err, sizeof err) != KV_PROXY_OK) {
            kv_err("proxy", "%s", err);
            kv_config_free(cfg);
            return KV_EXIT_CONFIG;
        }
        rule = kv_proxy_get_rule(px);
        if (!profile)
            profile = kv_proxy_get_profile(px);
    }
    if (match) {
        int64_t maxm = KV_PROXY_MAX_AMOUNT_DEFAULT; /* as the proxy without max_amount */
        if (max && kv_proxy_parse_amount(&maxm, max, KV_AMOUNT_POINT, err, sizeof err) != 0) {
            rc = kv_usage_error("proxy", "--max-amount: %s", err);
            goto out;
        }
        if (kv_proxy_rule_create(&own, match, fmt, maxm, err, sizeof err) != KV_PROXY_OK) {
            rc = kv_usage_error("proxy", "--%s", err);
            goto out;
        }
        rule = own;
    }
    uint8_t *buf;
    size_t len;
    if (kv_read_input("proxy", argv[optind], &buf, &len) != 0) {
        rc = KV_EXIT_USAGE;
        goto out;
    }
    int dec = kv_proxy_text_lines(profile, buf, len, show_line, NULL);
    if (dec != 0)
        printf("note: the job holds commands kvitt cannot decode\n");
    kv_rule_result rr;
    kv_proxy_rule_eval(rule, profile, buf, len, &rr);
    free(buf);
    switch (rr.verdict) {
    case KV_RULE_NONE:
        printf("not a payment: no line matches the rule\n");
        rc = KV_EXIT_NOT_PAID;
        break;
    case KV_RULE_PAY:
        printf("payment: %lld,%02lld (line %d: %s)\n", (long long)(rr.amount_minor / 100),
               (long long)(rr.amount_minor % 100), rr.line, rr.text);
        rc = KV_EXIT_OK;
        break;
    case KV_RULE_BAD:
        printf("refused (passes unchanged with a note for the cashier): %s\n", rr.reason);
        rc = KV_EXIT_USAGE;
        break;
    }
out:
    kv_proxy_rule_destroy(own);
    kv_proxy_destroy(px);
    kv_config_free(cfg);
    return rc;
}

static void on_ready(void *ctx, const char *addr)
{
    (void)ctx;
    printf("%s\n", addr);
    fflush(stdout);
}

int kv_cmd_proxy(int argc, char **argv, const kv_cli *cli)
{
    if (argc > 1 && strcmp(argv[1], "test-rule") == 0)
        return test_rule(argc - 1, argv + 1, cli);
    static const struct option lo[] = {
        { "no-recover", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int recover = 1, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "nh", lo, NULL)) != -1) {
        switch (c) {
        case 'n': recover = 0; break;
        case 'h': usage(stdout); return KV_EXIT_OK;
        default: return kv_bad_option("proxy", argc, argv);
        }
    }
    if (optind != argc - 1)
        return kv_usage_error("proxy", "expected the NAME of a [proxy NAME] section");
    kv_flowcli fc;
    int rc = kv_flowcli_open(&fc, "proxy", cli, 0);
    if (rc)
        return rc;
    char err[1024] = "";
    kv_proxy *px = NULL;
    if (kv_proxy_create(&px, fc.cfg, argv[optind], fc.flow, err, sizeof err) != KV_PROXY_OK) {
        kv_err("proxy", "%s", err);
        kv_flowcli_close(&fc);
        return KV_EXIT_CONFIG;
    }
    kv_proxy_set_log(px, cli->quiet ? NULL : stderr);
    if (recover) {
        kv_recover_report rep;
        kv_flow_recover(fc.flow, &rep);
        int printed = 0, left = 0;
        kv_proxy_recover(px, &printed, &left);
        if (printed || left)
            kv_err("proxy", "held receipts from before: %d printed, %d still held", printed, left);
    }
    kv_proxy_status st = kv_proxy_run(px, kv_flowcli_stop_flag(), on_ready, NULL, err, sizeof err);
    if (st != KV_PROXY_OK)
        kv_err("proxy", "%s: %s", kv_proxy_strerror(st), err);
    kv_proxy_destroy(px);
    kv_flowcli_close(&fc);
    return st == KV_PROXY_OK ? KV_EXIT_OK : st == KV_PROXY_E_LISTEN ? KV_EXIT_CONFIG : KV_EXIT_PRINTER;
}
