/* cmd_serve.c - `kvitt serve`: run the daemon for tills and chains. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "src/cli/cli.h"
#include "src/config/config.h"
#include "src/serve/auth.h"
#include "src/serve/serve.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kvitt serve [--config FILE] [--listen HOST:PORT] [-v]\n"
            "       kvitt serve --check [--config FILE]\n"
            "       kvitt serve --hash-token TOKEN|-\n"
            "       kvitt serve pair --till ID [--url URL] [--no-print]   (see serve pair --help)\n\n"
            "Run the HTTP service for tills (API under /v1, see src/serve/openapi.yaml),\n"
            "receive Vipps MobilePay webhooks (/webhooks/vipps) and eCom callbacks\n"
            "(/callbacks/v2/payments/ID).  Binds 127.0.0.1:8580 unless [serve] listen or\n"
            "--listen says otherwise; with port 0 the first stdout line is the URL.\n"
            "Logs go to stderr, one journald line per event.  SIGTERM stops gracefully:\n"
            "no new work, requests in flight finish, waiting payments get\n"
            "[serve] shutdown_grace_s, the rest resumes at the next start.\n\n"
            "  --config FILE      configuration (else --config before 'serve', $KVITT_CONFIG)\n"
            "  --listen ADDR      listen address, e.g. 127.0.0.1:8580 or 127.0.0.1:0\n"
            "  --check            validate the [serve] and [till] sections and exit\n"
            "  --hash-token TOK   print the token_sha256 value for a till token ('-': read\n"
            "                     the token from stdin, so it stays out of the shell history)\n"
            "  -v, --verbose      also log debug lines\n\n"
            "QR slips follow each store's qr_source: image (default) prints Vipps' own QR;\n"
            "text makes kvitt draw it, which needs Vipps' approval (logged as a warning).\n");
}

int kv_serve_pair(int argc, char **argv, const kv_cli *cli); /* cmd_serve_pair.c */

int kv_cmd_serve(int argc, char **argv, const kv_cli *cli)
{
    if (argc > 1 && !strcmp(argv[1], "pair"))
        return kv_serve_pair(argc - 1, argv + 1, cli);
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "listen", required_argument, NULL, 'l' },
        { "check", no_argument, NULL, 'k' },
        { "hash-token", required_argument, NULL, 't' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 }
    };
    const char *config = cli->config_path, *listen = NULL, *token = NULL;
    int check = 0, verbose = cli->verbose, c;
    optind = 0; /* full getopt re-initialisation (main used "+" ordering) */
    while ((c = getopt_long(argc, argv, "c:l:t:kvh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'l': listen = optarg; break;
        case 'k': check = 1; break;
        case 't': token = optarg; break;
        case 'v': verbose++; break;
        case 'h': usage(stdout); return KV_EXIT_OK;
        default: return kv_bad_option("serve", argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (token) {
        char buf[4097];
        if (!strcmp(token, "-")) {
            if (!fgets(buf, sizeof buf, stdin))
                return kv_usage_error("serve", "no token on stdin");
            buf[strcspn(buf, "\r\n")] = '\0';
            token = buf;
        }
        if (strlen(token) < 16)
            return kv_usage_error("serve", "a till token must have at least 16 characters "
                                  "(e.g. `openssl rand -hex 24`)");
        char hex[65];
        kv_auth_hash_token(hex, token);
        printf("%s\n", hex);
        return KV_EXIT_OK;
    }
    char err[1024] = "";
    kv_config *cfg = NULL;
    const char *path = kv_config_default_path(config);
    if (kv_config_load(&cfg, path, err, sizeof err) != KV_C_OK) {
        kv_err("serve", "%s", err);
        return KV_EXIT_CONFIG;
    }
    if (check) {
        kv_serve_status st = kv_serve_check_config(cfg, err, sizeof err);
        kv_config_free(cfg);
        if (st != KV_SERVE_OK) {
            kv_err("serve", "%s", err);
            return KV_EXIT_CONFIG;
        }
        printf("%s: [serve] and [till] sections are valid\n", path);
        return KV_EXIT_OK;
    }
    /* Signals are taken by sigwait in this thread: block them before any
     * thread starts so every thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    kv_serve_options so = KV_SERVE_OPTIONS_INIT;
    so.config = cfg;
    so.listen = listen;
    so.verbose = verbose > 0;
    so.trace_path = cli->trace_path;
    kv_serve *s = NULL;
    kv_serve_status st = kv_serve_open(&s, &so, err, sizeof err);
    if (st != KV_SERVE_OK) {
        kv_err("serve", "%s%s%s", kv_serve_strerror(st), err[0] ? ": " : "", err);
        curl_global_cleanup();
        kv_config_free(cfg);
        return st == KV_SERVE_E_CONFIG ? KV_EXIT_CONFIG
               : st == KV_SERVE_E_LISTEN ? KV_EXIT_USAGE : KV_EXIT_CONFIG;
    }
    printf("%s\n", kv_serve_url(s));
    fflush(stdout);
    int sig = 0;
    for (;;) {
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP)
            continue; /* configuration reload is a restart: ignore */
        break;
    }
    int left = kv_serve_shutdown(s, -1);
    if (left > 0) {
        /* Workers are still inside the flow: the journal holds their
         * payments (WAITING); the next start resumes them. */
        fflush(stderr);
        _exit(KV_EXIT_OK);
    }
    kv_serve_close(s);
    curl_global_cleanup();
    kv_config_free(cfg);
    return KV_EXIT_OK;
}
