/* cmd_selftest.c - `kvitt selftest --printer URI [--profile NAME]`. */
#include "src/cli/cli.h"
#include "drivers/uri.h"
#include "drivers/usb_profiles.h"
#include "src/config/config.h"
#include "src/printer/selftest.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: kvitt selftest --printer URI [--profile NAME] [--status-timeout-ms N]\n"
    "\n"
    "Check the printer's status and print a test page: the profile, a code-page\n"
    "sample (æøå ÆØÅ €), a QR code, a barcode and a cut. Reports the status before\n"
    "and after. Exit 0 when the page was sent and the printer reports no problem;\n"
    "1 naming the problem (paper out, cover open, offline, error); 2 bad input;\n"
    "4 the printer cannot be reached.\n";

static void show_status(const char *when, int st, const kv_printer_status_info *s)
{
    if (st == 1) {
        printf("status %s: not checked\n", when);
        return;
    }
    if (st < 0) {
        printf("status %s: link failed (%s)\n", when, kv_transport_strerror(st));
        return;
    }
    if (s->flags & KV_PSF_VIA_PORT) {
        printf("status %s: %s (USB port status 0x%02X)\n", when,
               kv_printer_state_name(s->state), (unsigned)s->port);
        return;
    }
    if (s->flags & KV_PSF_NO_READBACK) {
        printf("status %s: unknown (this connection cannot read replies)\n", when);
        return;
    }
    printf("status %s: %s", when, kv_printer_state_name(s->state));
    static const char *const qn[KV_SQ_COUNT] = { "DLE EOT 1", "DLE EOT 2", "DLE EOT 3",
                                                 "DLE EOT 4", "GS r 1" };
    const char *sep = " (";
    for (int i = 0; i < KV_SQ_COUNT; i++)
        if (s->raw[i] >= 0) {
            printf("%s%s=0x%02X", sep, qn[i], (unsigned)s->raw[i]);
            sep = ", ";
        }
    printf("%s\n", sep[0] == ',' ? ")" : (s->state == KV_PS_UNKNOWN ? " (no answer)" : ""));
}

/* 1 when two URIs name the same printer (virtual:/x and virtual:///x do). */
static int same_printer(const kv_uri *a, const char *uri_b)
{
    kv_uri b;
    char err[256];
    if (kv_uri_parse(&b, uri_b, err, sizeof err) != 0 || a->kind != b.kind)
        return 0;
    switch (a->kind) {
    case KV_URI_USB:
        return a->vid == b.vid && a->pid == b.pid && strcmp(a->serial, b.serial) == 0;
    case KV_URI_TCP:
        return a->port == b.port && strcmp(a->host, b.host) == 0;
    default:
        return strcmp(a->path, b.path) == 0;
    }
}

/* The profile of the printer at uri when --profile is not given, so the
 * page is laid out for the paper it lands on: a virtual printer's own
 * profile=, a known USB VID:PID, else the profile of the configured store
 * that prints on this URI.  NULL = none known.  *why says where it came
 * from.  The returned name is static or from the profile table. */
static const char *printer_profile(const char *uri, const kv_cli *cli, const char **why)
{
    static char name[64];
    kv_uri u;
    char err[256];
    if (kv_uri_parse(&u, uri, err, sizeof err) != 0)
        return NULL;
    if (u.kind == KV_URI_VIRTUAL && u.profile[0]) {
        snprintf(name, sizeof name, "%s", u.profile);
        *why = "the printer URI's profile=";
        return name;
    }
    if (u.kind == KV_URI_USB && u.has_id && kv_usb_known_printer_id((uint16_t)u.vid, (uint16_t)u.pid)) {
        *why = "suggested for its USB ID";
        return kv_usb_suggest_profile((uint16_t)u.vid, (uint16_t)u.pid, NULL, NULL);
    }
    const char *path = kv_config_default_path(cli ? cli->config_path : NULL);
    if (access(path, R_OK) != 0)
        return NULL;
    kv_config *cfg = NULL;
    if (kv_config_load(&cfg, path, err, sizeof err) != KV_C_OK)
        return NULL;
    const char *found = NULL;
    for (size_t i = 0; i < kv_config_store_count(cfg) && !found; i++) {
        const kv_store *s = kv_config_store_at(cfg, i);
        if (s->profile[0] && same_printer(&u, s->printer)) {
            snprintf(name, sizeof name, "%s", s->profile);
            found = name;
        }
    }
    kv_config_free(cfg);
    if (found)
        *why = "the profile of the store that prints here";
    return found;
}

int kv_cmd_selftest(int argc, char **argv, const kv_cli *cli)
{
    static const struct option opts[] = {
        { "printer", required_argument, NULL, 'p' },
        { "profile", required_argument, NULL, 'P' },
        { "status-timeout-ms", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *uri = NULL, *pname = NULL;
    int sto = 1000, c;
    char *end;

    optind = 0; /* full re-init of getopt (GNU permutation) */
    while ((c = getopt_long(argc, argv, "p:P:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': uri = optarg; break;
        case 'P': pname = optarg; break;
        case 's':
            sto = (int)strtol(optarg, &end, 10);
            if (!*optarg || *end || sto < 1 || sto > 60000)
                return kv_usage_error("selftest", "--status-timeout-ms needs 1..60000");
            break;
        case 'h': fputs(usage, stdout); return KV_EXIT_OK;
        default: return kv_bad_option("selftest", argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error("selftest", "unexpected argument '%s'", argv[optind]);
    if (!uri)
        return kv_usage_error("selftest", "--printer URI is required");
    const char *why = "--profile";
    if (!pname)
        pname = printer_profile(uri, cli, &why);
    const kv_profile *p = pname ? kv_profile_find(pname) : kv_profile_default();
    if (!p)
        return kv_usage_error("selftest", "unknown profile '%s' (see kvitt profiles)", pname);
    if (!pname)
        why = "the default: give --profile NAME; kvitt printers suggests one";
    signal(SIGPIPE, SIG_IGN);

    char err[512] = "";
    kv_transport_options to = KV_TRANSPORT_OPTIONS_INIT;
    to.errbuf = err;
    to.errlen = sizeof err;
    kv_transport *t = NULL;
    int st = kv_transport_open(&t, uri, &to);
    if (st) {
        kv_err("selftest", "printer %s: %s: %s", uri, kv_transport_strerror(st), err);
        return st == KV_T_E_URI ? KV_EXIT_USAGE : KV_EXIT_PRINTER;
    }
    kv_selftest_result r;
    st = kv_selftest_run(t, p, sto, &r);
    if (!(cli && cli->quiet)) {
        printf("printer: %s\nprofile: %s (%s)\n", uri, p->name, why);
        show_status("before", r.report.before_status, &r.report.before);
        printf("sent: %zu of %zu bytes\n", r.report.written, r.report.len);
        show_status("after", r.report.after_status, &r.report.after);
        if (st == KV_T_OK && r.report.after.state == KV_PS_PAPER_NEAR_END)
            printf("note: %s\n", kv_printer_state_advice(KV_PS_PAPER_NEAR_END));
    }
    kv_transport_close(t);
    if (st == KV_T_OK) {
        if (!(cli && cli->quiet))
            printf("selftest: OK\n");
        return KV_EXIT_OK;
    }
    kv_err("selftest", "FAILED: %s", r.problem);
    if (st == KV_T_E_PRINTER)
        return KV_EXIT_NOT_PAID; /* a check failed: the printer reports a problem */
    return KV_EXIT_PRINTER;
}
