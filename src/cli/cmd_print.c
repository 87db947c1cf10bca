/* cmd_print.c - `kvitt print FILE.bin --printer URI`: send a prepared stream. */
#include "src/cli/cli.h"
#include "drivers/status.h"
#include "drivers/virtual.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: kvitt print FILE.bin --printer URI [--no-status] [--force]\n"
    "                   [--timeout-ms N] [--status-timeout-ms N]\n"
    "\n"
    "Send a prepared ESC/POS stream (\"-\" reads standard input) to a printer.\n"
    "When the connection can read replies, the printer's status is checked first\n"
    "(nothing is sent when it reports paper out, cover open, offline or an error;\n"
    "--force sends anyway) and again after the job. Reports how many bytes were\n"
    "sent and what was not. URI: usb://[VID:PID], lp:///dev/usb/lp0,\n"
    "tcp://HOST[:PORT], serial:///dev/ttyUSB0?baud=9600, virtual:DIR.\n"
    "Exit 0 printed, 2 bad input, 4 printer problem (nothing or not all printed).\n";

static int read_all(const char *path, unsigned char **buf, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return -1;
    size_t cap = 65536, n = 0;
    unsigned char *b = malloc(cap);
    while (b) {
        size_t r = fread(b + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
        if (n == cap) {
            unsigned char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    int bad = !b || ferror(f);
    if (f != stdin)
        fclose(f);
    if (bad) {
        free(b);
        return -1;
    }
    *buf = b;
    *len = n;
    return 0;
}

static int parse_ms(const char *s, int *v)
{
    char *end;
    long x = strtol(s, &end, 10);
    if (!*s || *end || x < 1 || x > 3600000)
        return -1;
    *v = (int)x;
    return 0;
}

int kv_cmd_print(int argc, char **argv, const kv_cli *cli)
{
    static const struct option opts[] = {
        { "printer", required_argument, NULL, 'p' },
        { "no-status", no_argument, NULL, 'n' },
        { "force", no_argument, NULL, 'f' },
        { "timeout-ms", required_argument, NULL, 't' },
        { "status-timeout-ms", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *uri = NULL;
    kv_print_options po = KV_PRINT_OPTIONS_INIT;
    int timeout = 30000, force = 0, c;

    optind = 0; /* full re-init: options may follow FILE (GNU permutation) */
    while ((c = getopt_long(argc, argv, "p:nft:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': uri = optarg; break;
        case 'n': po.check_before = po.check_after = 0; break;
        case 'f': force = 1; break;
        case 't':
            if (parse_ms(optarg, &timeout))
                return kv_usage_error("print", "--timeout-ms needs 1..3600000");
            break;
        case 's':
            if (parse_ms(optarg, &po.status_timeout_ms))
                return kv_usage_error("print", "--status-timeout-ms needs 1..3600000");
            break;
        case 'h': fputs(usage, stdout); return KV_EXIT_OK;
        default: return kv_bad_option("print", argc, argv);
        }
    }
    if (optind + 1 != argc)
        return kv_usage_error("print", "give exactly one FILE.bin (see kvitt print --help)");
    if (!uri)
        return kv_usage_error("print", "--printer URI is required");
    if (force)
        po.check_before = 0;
    po.write_timeout_ms = timeout;

    const char *path = argv[optind];
    unsigned char *buf = NULL;
    size_t len = 0;
    if (read_all(path, &buf, &len)) {
        kv_err("print", "cannot read %s: %s", path, strerror(errno));
        return KV_EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);

    char err[512] = "";
    kv_transport_options to = KV_TRANSPORT_OPTIONS_INIT;
    to.errbuf = err;
    to.errlen = sizeof err;
    to.io_timeout_ms = timeout;
    kv_transport *t = NULL;
    int st = kv_transport_open(&t, uri, &to);
    if (st) {
        kv_err("print", "printer %s: %s: %s; nothing printed (0 of %zu bytes)",
               uri, kv_transport_strerror(st), err, len);
        free(buf);
        return st == KV_T_E_URI ? KV_EXIT_USAGE : KV_EXIT_PRINTER;
    }
    kv_print_report rep;
    st = kv_transport_print_job(t, buf, len, &po, &rep);
    const char *last = kv_transport_virtual_last_job(t);
    if (st == KV_T_OK) {
        if (!(cli && cli->quiet)) {
            printf("%s\n", rep.message);
            if (last)
                printf("job: %s\n", last);
            if (rep.after_status == KV_T_OK && rep.after.state == KV_PS_PAPER_NEAR_END)
                printf("note: %s\n", kv_printer_state_advice(rep.after.state));
        }
    } else {
        kv_err("print", "%s", rep.message);
        if (last)
            kv_err("print", "partial job stored as %s", last);
    }
    kv_transport_close(t);
    free(buf);
    return st == KV_T_OK ? KV_EXIT_OK : KV_EXIT_PRINTER;
}
