/* cmd_webhooks.c - `kvitt webhooks register|list|delete`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "src/cli/cli.h"
#include "src/config/config.h"
#include "src/serve/webhooks.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kvitt webhooks register [--url URL] [--events LIST] [--store ID]\n"
            "       kvitt webhooks list [--store ID]\n"
            "       kvitt webhooks delete --id ID [--store ID]\n\n"
            "Manage the Vipps MobilePay webhook registrations that `kvitt serve` receives.\n"
            "register: registers URL (default [serve] webhook_url, e.g.\n"
            "  https://kvitt.example.no/webhooks/vipps) for every store (once per\n"
            "  credential set and MSN) or one store, and keeps each registration's secret\n"
            "  in the journal (the daemon verifies deliveries with it; it is never shown).\n"
            "  --events: default (authorized, aborted, expired, cancelled, terminated:\n"
            "  the events that end a payment's wait), all, or a comma list of those and\n"
            "  created, captured, refunded.\n"
            "list: the registrations the Webhooks API knows, and whether the journal has\n"
            "  their secret.\n"
            "delete: removes a registration and forgets its secret.\n");
}

static int exit_for(kv_serve_status st)
{
    switch (st) {
    case KV_SERVE_OK: return KV_EXIT_OK;
    case KV_SERVE_E_SERVICE: return KV_EXIT_SERVICE;
    case KV_SERVE_E_NOT_FOUND: return KV_EXIT_NOT_PAID;
    case KV_SERVE_E_ARG: return KV_EXIT_USAGE;
    default: return KV_EXIT_CONFIG;
    }
}

static void print_events(unsigned ev)
{
    static const char *const names[] = { "created", "aborted", "expired", "cancelled",
                                         "captured", "refunded", "authorized", "terminated" };
    if ((ev & 0xffu) == 0xffu) {
        fputs("all", stdout);
        return;
    }
    int first = 1;
    for (int i = 0; i < 8; i++)
        if (ev & (1u << i)) {
            printf("%s%s", first ? "" : ",", names[i]);
            first = 0;
        }
}

int kv_cmd_webhooks(int argc, char **argv, const kv_cli *cli)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "url", required_argument, NULL, 'u' },
        { "events", required_argument, NULL, 'e' },
        { "store", required_argument, NULL, 's' },
        { "id", required_argument, NULL, 'i' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 }
    };
    const char *config = cli->config_path, *url = NULL, *events = NULL, *store = NULL, *id = NULL;
    int c;
    optind = 0; /* full getopt re-initialisation: options may follow the verb */
    while ((c = getopt_long(argc, argv, "c:u:e:s:i:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'u': url = optarg; break;
        case 'e': events = optarg; break;
        case 's': store = optarg; break;
        case 'i': id = optarg; break;
        case 'h': usage(stdout); return KV_EXIT_OK;
        default: return kv_bad_option("webhooks", argc, argv);
        }
    }
    if (optind >= argc)
        return kv_usage_error("webhooks", "say register, list or delete");
    const char *verb = argv[optind];
    if (optind + 1 < argc)
        return kv_usage_error("webhooks", "unexpected argument '%s'", argv[optind + 1]);
    int reg = !strcmp(verb, "register"), list = !strcmp(verb, "list"), del = !strcmp(verb, "delete");
    if (!reg && !list && !del)
        return kv_usage_error("webhooks", "'%s' is not register, list or delete", verb);
    if (del && !id)
        return kv_usage_error("webhooks", "delete needs --id ID (see `kvitt webhooks list`)");
    unsigned bits = 0;
    char err[1024] = "";
    if (reg && kv_webhooks_parse_events(&bits, events, err, sizeof err) < 0)
        return kv_usage_error("webhooks", "%s", err);
    kv_config *cfg = NULL;
    if (kv_config_load(&cfg, kv_config_default_path(config), err, sizeof err) != KV_C_OK) {
        kv_err("webhooks", "%s", err);
        return KV_EXIT_CONFIG;
    }
    if (reg && !url)
        url = kv_config_get(cfg, "serve", "webhook_url");
    if (reg && (!url || !*url)) {
        kv_config_free(cfg);
        return kv_usage_error("webhooks", "no URL: give --url or set [serve] webhook_url");
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    kv_wh_entry *v = NULL;
    size_t n = 0;
    kv_serve_status st;
    if (reg) {
        st = kv_webhooks_register(&v, &n, cfg, store, url, bits, err, sizeof err);
        for (size_t i = 0; i < n; i++)
            printf("registered %s for store %s (MSN %s): %s\n", v[i].id, v[i].store, v[i].msn,
                   v[i].url);
    } else if (list) {
        st = kv_webhooks_list(&v, &n, cfg, store, err, sizeof err);
        for (size_t i = 0; i < n; i++) {
            printf("%s\t%s\t%s\t", v[i].id, v[i].store, v[i].url);
            print_events(v[i].events);
            printf("\t%s\n", v[i].secret_stored ? "secret stored" : "NO SECRET (re-register)");
        }
        if (st == KV_SERVE_OK && n == 0)
            printf("no webhook registrations\n");
    } else {
        st = kv_webhooks_delete(cfg, store, id, err, sizeof err);
        if (st == KV_SERVE_OK)
            printf("deleted %s\n", id);
    }
    if (st != KV_SERVE_OK)
        kv_err("webhooks", "%s%s%s", kv_serve_strerror(st), err[0] ? ": " : "", err);
    free(v);
    curl_global_cleanup();
    kv_config_free(cfg);
    return exit_for(st);
}
