/* cmd_reconcile.c - `kvitt reconcile`: what Vipps MobilePay paid out
 * against what kvitt sold, per transaction, from the Report API. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "src/cli/backoffice.h"
#include "src/cli/cli.h"
#include "src/report/reconcile.h"
#include "src/report/report.h"
#include "src/vipps/vipps.h"

static const char usage[] =
    "usage: kvitt reconcile [--date YYYY-MM-DD] [--store ID]... [--from-feed] [--json | --csv]\n"
    "       kvitt reconcile feed [--store ID]... [--follow [--interval S]] [--json]\n"
    "\n"
    "Match every capture and refund of a ledger date in the Vipps MobilePay Report\n"
    "API (funds entries, per transaction) against the journal, and list: matched,\n"
    "in Vipps but not in the journal, in the journal but not in Vipps, and amounts\n"
    "that differ; with the date's fees and payout per store.  A date Vipps has not\n"
    "closed yet is reported as open, never as a mismatch.\n"
    "  --date D        the ledger date (default yesterday, local time)\n"
    "  --store ID      only this store's sales unit (repeatable; default every store)\n"
    "  --from-feed     use the entries `kvitt reconcile feed` journaled instead of\n"
    "                  asking for the date (a date is closed once its payout arrived)\n"
    "  --json          one JSON object on stdout\n"
    "  --csv           CSV rows date,list,store,reference,type,psp_reference,\n"
    "                  vipps_amount,journal_amount\n"
    "feed: read the Report API feed of every store's ledger (funds and fees) from\n"
    "the journaled cursor to its end; each page is journaled with its cursor, so a\n"
    "restart continues where it stopped.\n"
    "  --follow        keep following: read the feed again every --interval\n"
    "                  seconds until interrupted (SIGINT/SIGTERM)\n"
    "  --interval S    seconds between two reads with --follow (default 60, at\n"
    "                  least 1: the Report API asks not to poll more often)\n"
    "Exit 0 everything matched, 1 something did not match, 2 bad input,\n"
    "3 configuration or keys refused, 5 Report API unreachable, 6 the date is open.\n";

#define MAX_STORES 64

typedef struct rargs {
    const char *date;
    const char *stores[MAX_STORES];
    int n_stores;
    int from_feed, json, csv, follow, interval;
} rargs;

/* The one piece of process-wide state: a signal handler can only reach a
 * static.  It lives in the program, not in a library. */
static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int exit_for(kv_recon_status st)
{
    switch (st) {
    case KV_RECON_OK: return KV_EXIT_OK;
    case KV_RECON_E_ARG: return KV_EXIT_USAGE;
    case KV_RECON_E_SERVICE: return KV_EXIT_SERVICE;
    case KV_RECON_E_DATA: return KV_EXIT_SERVICE;
    default: return KV_EXIT_CONFIG;
    }
}

/* Clients for the stores asked for (all when none). */
static int ledgers(kv_bo *bo, const rargs *a, kv_recon_ledger *L, size_t *n)
{
    *n = 0;
    size_t count = a->n_stores ? (size_t)a->n_stores : kv_config_store_count(bo->cfg);
    for (size_t i = 0; i < count && *n < MAX_STORES; i++) {
        const kv_store *s = a->n_stores ? kv_bo_store(bo, "reconcile", a->stores[i]) : kv_config_store_at(bo->cfg, i);
        if (!s)
            return KV_EXIT_USAGE;
        kv_vipps_client *c = kv_bo_client(bo, "reconcile", s);
        if (!c)
            return KV_EXIT_CONFIG;
        L[*n] = (kv_recon_ledger){ s->id, s->msn, c };
        (*n)++;
    }
    return 0;
}

static void free_ledgers(kv_recon_ledger *L, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kv_vipps_client_destroy(L[i].client);
}

static int parse(int argc, char **argv, rargs *a, int feed)
{
    static const struct option opts[] = {
        { "date", required_argument, NULL, 'd' },
        { "store", required_argument, NULL, 's' },
        { "from-feed", no_argument, NULL, 'f' },
        { "json", no_argument, NULL, 'j' },
        { "csv", no_argument, NULL, 'c' },
        { "follow", no_argument, NULL, 'F' },
        { "interval", required_argument, NULL, 'i' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': a->date = optarg; break;
        case 's':
            if (a->n_stores == MAX_STORES)
                return kv_usage_error("reconcile", "at most %d --store", MAX_STORES);
            if (kv_has_control(optarg))
                return kv_usage_error("reconcile", "--store: control characters are not allowed");
            a->stores[a->n_stores++] = optarg;
            break;
        case 'f': a->from_feed = 1; break;
        case 'j': a->json = 1; break;
        case 'c': a->csv = 1; break;
        case 'F': a->follow = 1; break;
        case 'i': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 86400)
                return kv_usage_error("reconcile", "--interval: seconds 1..86400, got '%s'", optarg);
            a->interval = (int)v;
            break;
        }
        case 'h': fputs(usage, stdout); return -1;
        case ':': return kv_usage_error("reconcile", "%s needs a value", argv[optind - 1]);
        default: return kv_bad_option("reconcile", argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error("reconcile", "unexpected argument '%s'", argv[optind]);
    int64_t f, t;
    if (a->date && kv_report_day_bounds(a->date, &f, &t))
        return kv_usage_error("reconcile", "--date: a date YYYY-MM-DD, got '%s'", a->date);
    if (a->date) {
        /* tomorrow is still "open" (the ledger's day may start before this
         * machine's: another time zone, a cut-off); a date beyond it is a typo */
        char today[11];
        kv_report_today(today);
        int64_t tf, tt;
        if (kv_report_day_bounds(today, &tf, &tt) == 0 && f > tt + 1)
            return kv_usage_error("reconcile", "--date %s: a ledger date still to come (today is %s)", a->date,
                                  today);
    }
    if (a->json && a->csv)
        return kv_usage_error("reconcile", "--json and --csv exclude each other");
    if (feed && (a->date || a->from_feed || a->csv))
        return kv_usage_error("reconcile", "feed takes --store, --follow, --interval and --json only");
    if (!feed && (a->follow || a->interval))
        return kv_usage_error("reconcile", "--follow and --interval are for `kvitt reconcile feed`");
    if (a->interval && !a->follow)
        return kv_usage_error("reconcile", "--interval goes with --follow");
    return 0;
}

static int cmd_feed(int argc, char **argv, const kv_cli *cli)
{
    rargs a;
    memset(&a, 0, sizeof a);
    int rc = parse(argc, argv, &a, 1);
    if (rc)
        return rc < 0 ? KV_EXIT_OK : rc;
    kv_bo bo;
    if ((rc = kv_bo_open(&bo, "reconcile", cli, 1)))
        return rc;
    kv_recon_ledger L[MAX_STORES];
    size_t n = 0;
    rc = ledgers(&bo, &a, L, &n);
    if (!rc && a.follow)
        kv_on_stop_signals(on_signal);
    while (!rc) {
        size_t added = 0, pages = 0;
        char err[1024] = "";
        kv_recon_status st = kv_recon_feed(bo.j, L, n, &added, &pages, err, sizeof err);
        if (st) {
            kv_err("reconcile", "%s%s%s", kv_recon_strerror(st), err[0] ? ": " : "", err);
            /* following: a Report API that is away for a while is waited for */
            if (!a.follow || st != KV_RECON_E_SERVICE)
                rc = exit_for(st);
        } else if (a.json) {
            printf("{\"ledgers\":%zu,\"pages\":%zu,\"added\":%zu}\n", n, pages, added);
        } else {
            printf("feed: %zu ledgers, %zu pages read, %zu new entries journaled\n", n, pages, added);
        }
        fflush(stdout);
        if (!a.follow)
            break;
        for (int i = 0; i < (a.interval ? a.interval : 60) * 10 && !stop_flag; i++)
            usleep(100000);
        if (stop_flag)
            break;
    }
    free_ledgers(L, n);
    kv_bo_close(&bo);
    return rc;
}

int kv_cmd_reconcile(int argc, char **argv, const kv_cli *cli)
{
    if (argc >= 2 && strcmp(argv[1], "feed") == 0)
        return cmd_feed(argc - 1, argv + 1, cli);
    rargs a;
    memset(&a, 0, sizeof a);
    int rc = parse(argc, argv, &a, 0);
    if (rc)
        return rc < 0 ? KV_EXIT_OK : rc;
    char yesterday[11];
    if (!a.date) {
        time_t t = time(NULL) - 86400;
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(yesterday, sizeof yesterday, "%Y-%m-%d", &tm);
        a.date = yesterday;
    }
    kv_bo bo;
    if ((rc = kv_bo_open(&bo, "reconcile", cli, 1)))
        return rc;
    kv_recon_ledger L[MAX_STORES];
    size_t n = 0;
    rc = ledgers(&bo, &a, L, &n);
    if (!rc) {
        kv_recon *r = NULL;
        char err[1024] = "";
        kv_recon_status st = kv_recon_run(&r, bo.j, L, n, a.date, a.from_feed, err, sizeof err);
        if (st) {
            kv_err("reconcile", "%s%s%s", kv_recon_strerror(st), err[0] ? ": " : "", err);
            rc = exit_for(st);
        } else {
            if (a.json)
                kv_recon_write_json(stdout, r);
            else if (a.csv)
                kv_recon_write_csv(stdout, r);
            else
                kv_recon_write_text(stdout, r);
            rc = kv_recon_all_matched(r) ? KV_EXIT_OK
                 : (kv_recon_count(r, KV_RECON_VIPPS_ONLY) || kv_recon_count(r, KV_RECON_JOURNAL_ONLY) ||
                    kv_recon_count(r, KV_RECON_AMOUNT_DIFFERS)) ? KV_EXIT_NOT_PAID
                 : KV_EXIT_UNKNOWN;
        }
        kv_recon_free(r);
    }
    free_ledgers(L, n);
    kv_bo_close(&bo);
    return rc;
}
