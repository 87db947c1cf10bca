/* cmd_sim.c - `kvitt sim`: run the local Vipps MobilePay simulator. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"
#include "src/cli/cli.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: kvitt sim [--listen HOST:PORT] [--write-config FILE]\n"
        "                 [--auto approve|abort|expire|none] [--approve-after S]\n"
        "                 [--latency-ms N] [--fail-rate P] [--slow-ms N] [--seed N]\n"
        "                 [--expire-after S] [--unknown-after S] [--token-ttl S]\n"
        "                 [--rate-get N] [--rate-mod N] [--phones LIST]\n"
        "                 [--webhook-timeout-ms N] [--webhook-retry-ms N] [--webhook-attempts N]\n"
        "                 [--record FILE] [--exit-with-parent] [--quiet]\n\n"
        "Run a local simulator of the Vipps MobilePay APIs (access token, ePayment,\n"
        "eCom, QR, Order Management, Webhooks) until interrupted.  The first line on\n"
        "stdout is the base URL, e.g. http://127.0.0.1:40123.\n\n"
        "  --listen HOST:PORT     address to listen on (default 127.0.0.1:0 = a free port)\n"
        "  --write-config FILE    write a kvitt configuration (+ secrets, printers,\n"
        "                         journal beside it) that uses this simulator: stores\n"
        "                         with qr_source = image, a [till till-1] for `kvitt\n"
        "                         serve` (its token is in the secrets file)\n"
        "  --auto MODE            what the customer does with a new payment (default none)\n"
        "  --approve-after S      seconds before the --auto action (default 3)\n"
        "  --latency-ms N         delay every API reply by N ms\n"
        "  --fail-rate P          share 0..1 of API calls that fail (5xx, dropped\n"
        "                         connection or slow reply), from the seeded PRNG\n"
        "  --slow-ms N            delay of a slow reply (default 3000)\n"
        "  --seed N               PRNG seed (default 1)\n"
        "  --expire-after S       payments expire after S seconds (default 600)\n"
        "  --unknown-after S      magic amount 201 stays unknown S seconds (default 3600)\n"
        "  --token-ttl S          access token lifetime (default 3600)\n"
        "  --rate-get N           GETs per reference per minute (default 120, 0 = off)\n"
        "  --rate-mod N           create/capture/cancel/refund per reference per minute\n"
        "                         (default 5, 0 = off)\n"
        "  --phones LIST          comma-separated MSISDNs of test users\n"
        "  --webhook-timeout-ms N, --webhook-retry-ms N, --webhook-attempts N\n"
        "                         webhook delivery timeout, first retry delay, attempts\n"
        "  --record FILE          append every API exchange as a JSON line (for\n"
        "                         tests/contract/validate.py --record; holds tokens)\n"
        "  --exit-with-parent     stop when the parent process dies (for test harnesses)\n"
        "  --quiet                no request log on stderr\n");
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_listen(const char *arg, char *host, size_t hostsz, int *port)
{
    const char *colon = strrchr(arg, ':');
    if (!colon) return -1;
    const char *h = arg;
    size_t hl = (size_t)(colon - arg);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') { h++; hl -= 2; }
    if (hl == 0 || hl >= hostsz) return -1;
    memcpy(host, h, hl);
    host[hl] = 0;
    double p;
    if (parse_num(colon + 1, 0, 65535, &p) < 0 || p != floor(p)) return -1;
    *port = (int)p;
    return 0;
}

int kv_cmd_sim(int argc, char **argv, const kv_cli *cli)
{
    enum { O_LISTEN = 256, O_WRITE, O_AUTO, O_AFTER, O_LAT, O_FAIL, O_SLOW, O_SEED, O_EXPIRE,
           O_UNKNOWN, O_TTL, O_RGET, O_RMOD, O_PHONES, O_WTO, O_WRETRY, O_WATT, O_QUIET, O_HELP, O_RECORD, O_PARENT };
    static const struct option opts[] = {
        { "listen", required_argument, NULL, O_LISTEN },
        { "write-config", required_argument, NULL, O_WRITE },
        { "auto", required_argument, NULL, O_AUTO },
        { "approve-after", required_argument, NULL, O_AFTER },
        { "latency-ms", required_argument, NULL, O_LAT },
        { "fail-rate", required_argument, NULL, O_FAIL },
        { "slow-ms", required_argument, NULL, O_SLOW },
        { "seed", required_argument, NULL, O_SEED },
        { "expire-after", required_argument, NULL, O_EXPIRE },
        { "unknown-after", required_argument, NULL, O_UNKNOWN },
        { "token-ttl", required_argument, NULL, O_TTL },
        { "rate-get", required_argument, NULL, O_RGET },
        { "rate-mod", required_argument, NULL, O_RMOD },
        { "phones", required_argument, NULL, O_PHONES },
        { "webhook-timeout-ms", required_argument, NULL, O_WTO },
        { "webhook-retry-ms", required_argument, NULL, O_WRETRY },
        { "webhook-attempts", required_argument, NULL, O_WATT },
        { "quiet", no_argument, NULL, O_QUIET },
        { "record", required_argument, NULL, O_RECORD },
        { "exit-with-parent", no_argument, NULL, O_PARENT },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    kv_sim_options o;
    kv_sim_options_init(&o);
    o.quiet = cli && cli->quiet;
    char host[256] = "127.0.0.1";
    const char *write_path = NULL;
    int with_parent = 0;
    int c;
    double v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN:
            if (parse_listen(optarg, host, sizeof host, &o.port) < 0)
                return kv_usage_error("sim", "--listen wants HOST:PORT, got '%s'", optarg);
            break;
        case O_WRITE: write_path = optarg; break;
        case O_AUTO:
            if (!strcmp(optarg, "approve")) o.auto_mode = KV_SIM_AUTO_APPROVE;
            else if (!strcmp(optarg, "abort")) o.auto_mode = KV_SIM_AUTO_ABORT;
            else if (!strcmp(optarg, "expire")) o.auto_mode = KV_SIM_AUTO_EXPIRE;
            else if (!strcmp(optarg, "none")) o.auto_mode = KV_SIM_AUTO_NONE;
            else return kv_usage_error("sim", "--auto wants approve, abort, expire or none, got '%s'", optarg);
            break;
        case O_AFTER:
            if (parse_num(optarg, 0, 86400, &v) < 0)
                return kv_usage_error("sim", "--approve-after wants seconds (0-86400), got '%s'", optarg);
            o.approve_after_ms = (int)lround(v * 1000);
            break;
        case O_LAT:
            if (parse_num(optarg, 0, 600000, &v) < 0)
                return kv_usage_error("sim", "--latency-ms wants 0-600000, got '%s'", optarg);
            o.latency_ms = (int)v;
            break;
        case O_FAIL:
            if (parse_num(optarg, 0, 1, &v) < 0)
                return kv_usage_error("sim", "--fail-rate wants a number from 0 to 1, got '%s'", optarg);
            o.fail_rate = v;
            break;
        case O_SLOW:
            if (parse_num(optarg, 0, 600000, &v) < 0)
                return kv_usage_error("sim", "--slow-ms wants 0-600000, got '%s'", optarg);
            o.slow_ms = (int)v;
            break;
        case O_SEED:
            if (parse_num(optarg, 0, 1e18, &v) < 0 || v != floor(v))
                return kv_usage_error("sim", "--seed wants a non-negative integer, got '%s'", optarg);
            o.seed = strtoull(optarg, NULL, 10);
            break;
        case O_EXPIRE:
            if (parse_num(optarg, 1, 86400 * 60, &v) < 0)
                return kv_usage_error("sim", "--expire-after wants seconds (>= 1), got '%s'", optarg);
            o.expire_after_s = (int)v;
            break;
        case O_UNKNOWN:
            if (parse_num(optarg, 1, 86400, &v) < 0)
                return kv_usage_error("sim", "--unknown-after wants seconds (>= 1), got '%s'", optarg);
            o.unknown_after_s = (int)v;
            break;
        case O_TTL:
            if (parse_num(optarg, 1, 86400 * 2, &v) < 0)
                return kv_usage_error("sim", "--token-ttl wants seconds (>= 1), got '%s'", optarg);
            o.token_ttl_s = (int)v;
            break;
        case O_RGET:
        case O_RMOD:
            if (parse_num(optarg, 0, 100000, &v) < 0 || v != floor(v))
                return kv_usage_error("sim", "--rate-%s wants a count (0 = off), got '%s'",
                                      c == O_RGET ? "get" : "mod", optarg);
            if (c == O_RGET) o.rate_get_per_min = (int)v; else o.rate_mod_per_min = (int)v;
            break;
        case O_PHONES:
            if (!*optarg || strspn(optarg, "0123456789,") != strlen(optarg))
                return kv_usage_error("sim", "--phones wants comma-separated digits (country code, no '+')");
            o.known_phones = optarg;
            break;
        case O_WTO:
            if (parse_num(optarg, 1, 600000, &v) < 0)
                return kv_usage_error("sim", "--webhook-timeout-ms wants 1-600000, got '%s'", optarg);
            o.webhook_timeout_ms = (int)v;
            break;
        case O_WRETRY:
            if (parse_num(optarg, 0, 3600000, &v) < 0)
                return kv_usage_error("sim", "--webhook-retry-ms wants 0-3600000, got '%s'", optarg);
            o.webhook_retry_ms = (int)v;
            break;
        case O_WATT:
            if (parse_num(optarg, 1, 1000, &v) < 0 || v != floor(v))
                return kv_usage_error("sim", "--webhook-attempts wants 1-1000, got '%s'", optarg);
            o.webhook_max_attempts = (int)v;
            break;
        case O_QUIET: o.quiet = 1; break;
        case O_RECORD: o.record_path = optarg; break;
        case O_PARENT: with_parent = 1; break;
        case O_HELP: usage(stdout); return KV_EXIT_OK;
        default: return kv_bad_option("sim", argc, argv);
        }
    }
    if (optind < argc) return kv_usage_error("sim", "unexpected argument '%s'", argv[optind]);
    o.host = host;

    /* Signals: the server threads inherit a mask with these blocked; the
     * main thread waits for them with sigwait(). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (with_parent) {
        pid_t parent = getppid();
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) return KV_EXIT_OK; /* the parent is already gone */
    }

    kv_sim *s = NULL;
    kv_sim_status st = kv_sim_start(&s, &o);
    if (st != KV_SIM_OK) {
        if (st == KV_SIM_E_IO) {
            kv_err("sim", "cannot open the record file %s: %s", o.record_path, strerror(errno));
            return KV_EXIT_USAGE;
        }
        kv_err("sim", "%s (%s:%d)", kv_sim_strerror(st), host, o.port);
        return st == KV_SIM_E_LISTEN || st == KV_SIM_E_ARG ? KV_EXIT_USAGE : KV_EXIT_SERVICE;
    }
    if (write_path) {
        st = kv_sim_write_config(s, write_path);
        if (st != KV_SIM_OK) {
            kv_err("sim", "cannot write the configuration %s: %s", write_path, strerror(errno));
            kv_sim_destroy(s);
            return KV_EXIT_CONFIG;
        }
    }
    printf("%s\n", kv_sim_url(s));
    fflush(stdout);
    if (!o.quiet) {
        fprintf(stderr, "kvitt sim: listening on %s", kv_sim_url(s));
        if (write_path) fprintf(stderr, ", configuration in %s", write_path);
        fprintf(stderr, " (Ctrl-C stops)\n");
    }
    int sig = 0;
    sigwait(&set, &sig);
    /* Watchdog: a shutdown that hangs (a stuck connection) must not keep
     * the process alive; SIGALRM is not blocked and terminates it. */
    alarm(5);
    kv_sim_destroy(s);
    return KV_EXIT_OK;
}
