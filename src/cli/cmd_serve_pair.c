/* cmd_serve_pair.c - `kvitt serve pair --till ID`: a one-time pairing code
 * for the cashier page, written to the journal database (the running
 * daemon reads it from there) and printed on the till's receipt printer as
 * a QR code (the page's address with the code) and as text. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drivers/transport.h"
#include "escpos/encoder.h"
#include "src/cli/cli.h"
#include "src/config/config.h"
#include "src/serve/session.h"

int kv_serve_pair(int argc, char **argv, const kv_cli *cli);

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kvitt serve pair --till ID [--config FILE] [--url URL] [--no-print]\n\n"
            "Make a pairing code for the cashier page (/till/) of till ID: valid 10\n"
            "minutes, usable once.  It is printed on the till's receipt printer as a\n"
            "QR code (the page's address with the code) and as text, and shown here.\n"
            "The daemon need not be restarted: it reads the code from the journal.\n\n"
            "  --till ID      the [till ID] section the browser signs in as\n"
            "  --config FILE  configuration (else --config before 'serve', $KVITT_CONFIG)\n"
            "  --url URL      the page's address in the QR code (default: from [serve]\n"
            "                 listen, e.g. http://127.0.0.1:8580/till/)\n"
            "  --no-print     only show the code here, print nothing\n");
}

/* ESC/POS bytes of the pairing slip into the printer at uri. */
static int print_slip(const char *uri, const char *till, const char *code, const char *url,
                      time_t until, char *err, size_t errlen)
{
    kv_escpos *e = NULL;
    if (kv_escpos_create(&e, NULL) != KV_ESCPOS_OK) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char line[160], qr[600];
    struct tm tm;
    localtime_r(&until, &tm);
    snprintf(qr, sizeof qr, "%s#pair=%s", url, code);
    kv_escpos_init(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_escpos_bold(e, true);
    snprintf(line, sizeof line, "kvitt: sign in till %s", till);
    kv_escpos_line(e, line);
    kv_escpos_bold(e, false);
    kv_qr_options qo = KV_QR_OPTIONS_INIT;
    kv_escpos_qr(e, qr, strlen(qr), &qo);
    kv_escpos_size(e, 2, 2);
    kv_escpos_line(e, code);
    kv_escpos_size(e, 1, 1);
    snprintf(line, sizeof line, "valid once, until %02d:%02d", tm.tm_hour, tm.tm_min);
    kv_escpos_line(e, line);
    kv_escpos_line(e, url);
    kv_escpos_feed_lines(e, 3);
    kv_escpos_cut(e, KV_CUT_PARTIAL);
    int rc = -1;
    if (kv_escpos_status_get(e) != KV_ESCPOS_OK) {
        snprintf(err, errlen, "%s", kv_escpos_errmsg(e));
    } else {
        size_t len = 0;
        const uint8_t *b = kv_escpos_data(e, &len);
        kv_transport_options to = KV_TRANSPORT_OPTIONS_INIT;
        to.errbuf = err;
        to.errlen = errlen;
        kv_transport *t = NULL;
        if (kv_transport_open(&t, uri, &to) == KV_T_OK) {
            int ws = kv_transport_write(t, b, len, NULL, -1);
            if (ws == KV_T_OK) {
                kv_transport_end_job(t);
                rc = 0;
            } else {
                snprintf(err, errlen, "%s", kv_transport_errmsg(t));
            }
            kv_transport_close(t);
        }
    }
    kv_escpos_destroy(e);
    return rc;
}

int kv_serve_pair(int argc, char **argv, const kv_cli *cli)
{
    static const struct option opts[] = {
        { "till", required_argument, NULL, 't' },
        { "config", required_argument, NULL, 'c' },
        { "url", required_argument, NULL, 'u' },
        { "no-print", no_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 }
    };
    const char *till = NULL, *config = cli->config_path, *url = NULL;
    int no_print = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "t:c:u:nh", opts, NULL)) != -1) {
        switch (c) {
        case 't': till = optarg; break;
        case 'c': config = optarg; break;
        case 'u': url = optarg; break;
        case 'n': no_print = 1; break;
        case 'h': usage(stdout); return KV_EXIT_OK;
        default: return kv_bad_option("serve pair", argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error("serve pair", "unexpected argument '%s'", argv[optind]);
    if (!till)
        return kv_usage_error("serve pair", "--till ID is required (a [till ID] section)");
    char err[1024] = "";
    kv_config *cfg = NULL;
    if (kv_config_load(&cfg, kv_config_default_path(config), err, sizeof err) != KV_C_OK) {
        kv_err("serve pair", "%s", err);
        return KV_EXIT_CONFIG;
    }
    char sec[80];
    snprintf(sec, sizeof sec, "till %s", till);
    const char *store_id = kv_config_get(cfg, sec, "store");
    const kv_store *store = store_id ? kv_config_store(cfg, store_id) : NULL;
    if (!store) {
        kv_err("serve pair", "%s: no [till %s] section with a known store", kv_config_path(cfg),
               till);
        kv_config_free(cfg);
        return KV_EXIT_CONFIG;
    }
    const char *printer = kv_config_get(cfg, sec, "printer");
    if (!printer || !*printer)
        printer = store->printer;
    char urlbuf[300];
    if (!url) {
        const char *listen = kv_config_get(cfg, "serve", "listen");
        snprintf(urlbuf, sizeof urlbuf, "http://%s/till/", listen ? listen : "127.0.0.1:8580");
        url = urlbuf;
    }
    int rc = KV_EXIT_OK;
    kv_session *ss = NULL;
    char code[10];
    if (kv_session_open(&ss, kv_config_main_get(cfg)->journal, err, sizeof err) != KV_SESSION_OK) {
        kv_err("serve pair", "%s", err);
        rc = KV_EXIT_CONFIG;
    } else if (kv_session_pair_create(ss, till, code) != KV_SESSION_OK) {
        kv_err("serve pair", "cannot store the pairing code in the journal database");
        rc = KV_EXIT_CONFIG;
    } else {
        time_t until = time(NULL) + KV_PAIR_TTL_S;
        if (!no_print && !*printer) {
            kv_err("serve pair", "till %s has no printer (set [till %s] printer or the store's); "
                   "use --no-print", till, till);
            rc = KV_EXIT_PRINTER;
        } else if (!no_print &&
                   print_slip(printer, till, code, url, until, err, sizeof err) < 0) {
            kv_err("serve pair", "printer %s: %s", printer, err);
            rc = KV_EXIT_PRINTER;
        }
        /* The code is shown even when printing failed: type it in. */
        struct tm tm;
        localtime_r(&until, &tm);
        printf("%s\n", code);
        fprintf(stderr, "pairing code for till %s, valid once until %02d:%02d; open %s\n", till,
                tm.tm_hour, tm.tm_min, url);
    }
    kv_session_close(ss);
    kv_config_free(cfg);
    return rc;
}
