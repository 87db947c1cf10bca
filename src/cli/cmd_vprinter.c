/* cmd_vprinter.c - `kvitt vprinter`: run the network printer emulator. */
#include "src/cli/cli.h"
#include "src/vprinter/vprinter.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t got_stop, got_usr1;

static void on_stop(int sig) { (void)sig; got_stop = 1; }
static void on_usr1(int sig) { (void)sig; got_usr1 = 1; }

static const char usage[] =
    "usage: kvitt vprinter --listen HOST:PORT --out DIR [--profile NAME]\n"
    "                      [--state ok|paper-out|paper-near-end|cover-open|offline|error]\n"
    "                      [--drop-after-bytes N] [--delay-ms N] [--control FILE] [--png]\n"
    "\n"
    "Emulate a raw TCP (port 9100) receipt printer. Each connection is one job,\n"
    "stored as DIR/NNNN.bin. Status requests (DLE EOT 1-4, GS r 1) are answered\n"
    "as an Epson printer in the current state would. The first line on stdout is\n"
    "the printer URI (tcp://HOST:PORT; use port 0 for any free port).\n"
    "Change state while running: kill -USR1 (cycles ok, paper-out, paper-near-end,\n"
    "cover-open, offline, error) or write a state name to the control file\n"
    "(default DIR/state). Stops cleanly on SIGTERM / SIGINT.\n"
    "--png renders each job as DIR/NNNN.png for --profile (default generic-80).\n";

static int parse_count(const char *s, long max, long *v)
{
    char *end;
    long x = strtol(s, &end, 10);
    if (!*s || *end || x < 0 || x > max)
        return -1;
    *v = x;
    return 0;
}

int kv_cmd_vprinter(int argc, char **argv, const kv_cli *cli)
{
    static const struct option opts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "out", required_argument, NULL, 'o' },
        { "profile", required_argument, NULL, 'p' },
        { "state", required_argument, NULL, 's' },
        { "drop-after-bytes", required_argument, NULL, 'd' },
        { "delay-ms", required_argument, NULL, 'D' },
        { "control", required_argument, NULL, 'c' },
        { "png", no_argument, NULL, 'g' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    kv_vprinter_options o = KV_VPRINTER_OPTIONS_INIT;
    const char *listen_addr = NULL, *out = NULL;
    long v;
    int c;

    o.log = stderr;
    optind = 0; /* full re-init: options may follow FILE (GNU permutation) */
    while ((c = getopt_long(argc, argv, "l:o:p:s:d:D:c:gh", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen_addr = optarg; break;
        case 'o': out = optarg; break;
        case 'p': o.profile = optarg; break;
        case 's':
            if (kv_emu_state_parse(optarg, &o.state))
                return kv_usage_error("vprinter", "--state %s: use ok, paper-out, "
                                      "paper-near-end, cover-open, offline or error", optarg);
            break;
        case 'd':
            if (parse_count(optarg, 1L << 40, &v))
                return kv_usage_error("vprinter", "--drop-after-bytes needs a count >= 0");
            o.drop_after_bytes = v;
            break;
        case 'D':
            if (parse_count(optarg, 600000, &v))
                return kv_usage_error("vprinter", "--delay-ms needs 0..600000");
            o.delay_ms = (int)v;
            break;
        case 'c': o.control_path = optarg; break;
        case 'g': o.png = 1; break;
        case 'h': fputs(usage, stdout); return KV_EXIT_OK;
        default: return kv_bad_option("vprinter", argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error("vprinter", "unexpected argument '%s'", argv[optind]);
    if (!listen_addr || !out)
        return kv_usage_error("vprinter", "--listen HOST:PORT and --out DIR are required");
    o.listen = listen_addr;
    o.out_dir = out;
    if (cli && cli->quiet)
        o.log = NULL;

    char err[512] = "";
    kv_vprinter *vp = NULL;
    int st = kv_vprinter_create(&vp, &o, err, sizeof err);
    if (st) {
        kv_err("vprinter", "%s", err);
        return st == KV_T_E_URI ? KV_EXIT_USAGE : KV_EXIT_PRINTER;
    }

    kv_on_stop_signals(on_stop); /* no SA_RESTART: poll() returns at once */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    printf("%s\n", kv_vprinter_uri(vp));
    fflush(stdout);
    if (o.log)
        fprintf(o.log, "vprinter: listening on %s, jobs in %s, state %s\n",
                kv_vprinter_uri(vp), out, kv_emu_state_name(kv_vprinter_state(vp)));

    int rc = KV_EXIT_OK;
    while (!got_stop) {
        if (got_usr1) {
            got_usr1 = 0;
            kv_vprinter_cycle_state(vp);
        }
        if (kv_vprinter_step(vp, 200) < 0) {
            kv_err("vprinter", "listening socket failed; stopping");
            rc = KV_EXIT_PRINTER;
            break;
        }
    }
    if (o.log)
        fprintf(o.log, "vprinter: stopping after %lu job(s)\n", kv_vprinter_jobs(vp));
    kv_vprinter_destroy(vp);
    return rc;
}
