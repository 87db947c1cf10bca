/* cmd_report.c - `kvitt report`: the day's figures (X report) and the Z
 * report that closes the day of a till, on paper and as data. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "escpos/encoder.h"
#include "escpos/layout.h"
#include "escpos/profile.h"
#include "src/cli/backoffice.h"
#include "src/cli/cli.h"
#include "src/cli/sample_cmd.h"
#include "src/doc/zreport.h"
#include "src/journal/journal_report.h"
#include "src/report/report.h"

static const char usage[] =
    "usage: kvitt report day [--date YYYY-MM-DD] [--store ID] [--till ID]\n"
    "                        [--close] [--print] [--x] [--printer URI] [--json | --csv]\n"
    "       kvitt report sample -o FILE|- [--profile NAME] [--lang nb|da|fi|sv|en]\n"
    "                           [--currency NOK|DKK|SEK|EUR]\n"
    "\n"
    "day: the figures of a day from the journal, per till and per store: sales,\n"
    "captures, refunds, cancellations and not-paid payments (count and sum), net,\n"
    "VAT per rate, first and last reference, and the payments still open.\n"
    "Without --close or --print it is an X report: figures only, no number, the\n"
    "day stays open.\n"
    "  --date D        the day (local time; default today)\n"
    "  --store ID      only this [store] (with --close/--print: default_store)\n"
    "  --till ID       only this till (with --close/--print: [kvitt] till_id)\n"
    "  --close         close the day of the till: the next Z number (journaled,\n"
    "                  never repeated), figures frozen; a closed day keeps its number\n"
    "  --print         print the Z report on the store's printer (closes the day\n"
    "                  first); a day printed before comes out as a COPY with its\n"
    "                  number\n"
    "  --x             with --print: print an X report instead (no number, not closed)\n"
    "  --printer URI   print on this printer instead of the store's\n"
    "  --json          one JSON object on stdout\n"
    "  --csv           CSV rows date,store,till,z_number,figure,count,amount\n"
    "sample: a fixed Z report as ESC/POS bytes (printer test, golden fixtures).\n"
    "  -o FILE         where to write (- for standard output)\n"
    "  --profile NAME  printer profile (see kvitt profiles)\n"
    "  --lang L        language (default nb)\n"
    "  --currency C    currency (default NOK)\n"
    "Exit 0 done, 2 bad input, 3 configuration or journal, 4 printer.\n";

static int cmd_sample(int argc, char **argv)
{
    return kv_sample_cmd("report", usage, 0, kv_zreport_sample_write, argc, argv);
}

typedef struct day_args {
    const char *date, *store, *till, *printer;
    int close, print, x, json, csv;
} day_args;

/* The answer of --close/--print --json: one line of JSON (the job's path is
 * the printer's, any text). */
static void print_json(const char *kind, const char *date, const char *store, const char *till, int64_t z,
                       int existed, int printed, int copy, const char *job)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", kind);
    cJSON_AddStringToObject(o, "date", date);
    cJSON_AddStringToObject(o, "store", store);
    cJSON_AddStringToObject(o, "till", till);
    if (z > 0) {
        cJSON_AddNumberToObject(o, "z_number", (double)z);
        cJSON_AddBoolToObject(o, "closed_before", existed);
    }
    cJSON_AddBoolToObject(o, "printed", printed);
    if (z > 0)
        cJSON_AddBoolToObject(o, "copy", copy);
    cJSON_AddStringToObject(o, "job", job);
    char *text = cJSON_PrintUnformatted(o);
    if (text)
        puts(text);
    cJSON_free(text);
    cJSON_Delete(o);
}

/* A till id as the configuration allows one for [kvitt] till_id: letters,
 * digits, '-', '_', '.', at most 63 characters. */
static int till_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return 0;
    return 1;
}

/* Close and/or print the day of one till.  Returns an exit code. */
static int close_print(kv_bo *bo, const day_args *a, const kv_report *r)
{
    const kv_store *st = kv_bo_store(bo, "report", a->store);
    if (!st)
        return KV_EXIT_USAGE;
    const char *till = a->till ? a->till : kv_config_main_get(bo->cfg)->till_id;
    if (!till || !*till)
        return kv_usage_error("report", "--till is required (no till_id in [kvitt])");
    const char *date = kv_report_date(r);
    const kv_report_group *live = kv_report_find(r, st->id, till);
    kv_report_group empty;
    memset(&empty, 0, sizeof empty);
    snprintf(empty.store_id, sizeof empty.store_id, "%s", st->id);
    snprintf(empty.till_id, sizeof empty.till_id, "%s", till);
    snprintf(empty.currency, sizeof empty.currency, "%s", st->currency);
    if (!live)
        live = &empty; /* a day without payments closes with zeros, like any till */
    char now[20], msg[512] = "", job[1024] = "";
    kv_bo_now_text(now);
    if (a->x) {
        kv_report_status ps = kv_report_print(live, st, a->printer, date, 0, 0, now, msg, sizeof msg, job, sizeof job);
        if (ps) {
            kv_err("report", "X report not printed: %s", msg);
            return KV_EXIT_PRINTER;
        }
        if (a->json)
            print_json("X", date, st->id, till, 0, 0, 1, 0, job);
        else
            printf("X report %s store %s till %s printed%s%s\n", date, st->id, till, job[0] ? ": " : "", job);
        return KV_EXIT_OK;
    }
    int64_t z = 0;
    int existed = 0;
    kv_report_status rs = kv_report_close(bo->j, live, date, (int64_t)time(NULL), &z, &existed);
    if (rs) {
        kv_err("report", "cannot close the day: %s", kv_report_strerror(rs));
        return KV_EXIT_CONFIG;
    }
    int copy = 0, printed = 0;
    if (a->print) {
        kv_report_group frozen;
        rs = kv_report_closed(&frozen, bo->j, st->id, till, date);
        if (rs) {
            kv_err("report", "Z %" PRId64 ": %s", z, kv_report_strerror(rs));
            return KV_EXIT_CONFIG;
        }
        copy = frozen.printed > 0;
        kv_report_status ps = kv_report_print(&frozen, st, a->printer, date, z, copy, now, msg, sizeof msg,
                                              job, sizeof job);
        kv_report_group_clear(&frozen);
        if (ps) {
            kv_err("report", "the day is closed as Z %" PRId64 " but the report was not printed: %s;"
                   " fix the printer and run kvitt report day --date %s --print again", z, msg, date);
            return KV_EXIT_PRINTER;
        }
        kv_journal_z_printed(bo->j, st->id, till, date);
        printed = 1;
    }
    if (a->json)
        print_json("Z", date, st->id, till, z, existed, printed, copy, job);
    else
        printf("Z %" PRId64 " %s store %s till %s: %s%s%s%s\n", z, date, st->id, till,
               existed ? "closed before" : "closed now", printed ? (copy ? ", printed as COPY" : ", printed") : "",
               job[0] ? ": " : "", job);
    return KV_EXIT_OK;
}

static int cmd_day(int argc, char **argv, const kv_cli *cli)
{
    static const struct option opts[] = {
        { "date", required_argument, NULL, 'd' },
        { "store", required_argument, NULL, 's' },
        { "till", required_argument, NULL, 't' },
        { "close", no_argument, NULL, 'C' },
        { "print", no_argument, NULL, 'P' },
        { "x", no_argument, NULL, 'x' },
        { "printer", required_argument, NULL, 'p' },
        { "json", no_argument, NULL, 'j' },
        { "csv", no_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    day_args a;
    memset(&a, 0, sizeof a);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': a.date = optarg; break;
        case 's': a.store = optarg; break;
        case 't': a.till = optarg; break;
        case 'C': a.close = 1; break;
        case 'P': a.print = 1; break;
        case 'x': a.x = 1; break;
        case 'p': a.printer = optarg; break;
        case 'j': a.json = 1; break;
        case 'c': a.csv = 1; break;
        case 'h': fputs(usage, stdout); return KV_EXIT_OK;
        case ':': return kv_usage_error("report", "%s needs a value", argv[optind - 1]);
        default: return kv_bad_option("report", argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error("report", "unexpected argument '%s'", argv[optind]);
    if (kv_has_control(a.store))
        return kv_usage_error("report", "--store: control characters are not allowed");
    if (a.till && !till_ok(a.till))
        return kv_usage_error("report", "--till '%s': a till id is letters, digits, '-', '_' or '.' (at most 63)",
                              a.till);
    int64_t from, to;
    if (a.date && kv_report_day_bounds(a.date, &from, &to))
        return kv_usage_error("report", "--date: a date YYYY-MM-DD, got '%s'", a.date);
    if (a.json && a.csv)
        return kv_usage_error("report", "--json and --csv exclude each other");
    if (a.x && !a.print)
        return kv_usage_error("report", "--x goes with --print (an X report on paper)");
    if (a.printer && !a.print)
        return kv_usage_error("report", "--printer goes with --print");
    if ((a.close || a.print) && !a.x && a.date) {
        char today[11];
        kv_report_today(today);
        if (strcmp(a.date, today) > 0)
            return kv_usage_error("report", "--date %s: a day that has not come cannot be closed", a.date);
    }
    if ((a.close || a.print) && a.csv)
        return kv_usage_error("report", "--csv is for the figures; --close/--print answer in text or --json");
    kv_bo bo;
    int rc = kv_bo_open(&bo, "report", cli, 1);
    if (rc)
        return rc;
    kv_report_query q = { a.date, a.store, a.till };
    if (a.close || a.print) {
        /* the figures of exactly one till */
        const kv_store *st = kv_bo_store(&bo, "report", a.store);
        const char *till = a.till ? a.till : kv_config_main_get(bo.cfg)->till_id;
        if (!st) {
            kv_bo_close(&bo);
            return KV_EXIT_USAGE;
        }
        q.store = st->id;
        q.till = till && *till ? till : NULL;
    } else if (a.store && !kv_bo_store(&bo, "report", a.store)) {
        kv_bo_close(&bo);
        return KV_EXIT_USAGE;
    }
    kv_report *r = NULL;
    kv_report_status rs = kv_report_day(&r, bo.j, &q);
    if (rs) {
        kv_err("report", "%s: %s", kv_report_strerror(rs), kv_journal_errmsg(bo.j));
        kv_bo_close(&bo);
        return rs == KV_REPORT_E_ARG ? KV_EXIT_USAGE : KV_EXIT_CONFIG;
    }
    if (a.close || a.print)
        rc = close_print(&bo, &a, r);
    else if (a.json)
        rc = kv_report_write_json(stdout, r) ? KV_EXIT_USAGE : KV_EXIT_OK;
    else if (a.csv)
        rc = kv_report_write_csv(stdout, r) ? KV_EXIT_USAGE : KV_EXIT_OK;
    else
        rc = kv_report_write_text(stdout, r) ? KV_EXIT_USAGE : KV_EXIT_OK;
    kv_report_free(r);
    kv_bo_close(&bo);
    return rc;
}

int kv_cmd_report(int argc, char **argv, const kv_cli *cli)
{
    if (argc < 2)
        return kv_usage_error("report", "which report? day or sample");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, stdout);
        return KV_EXIT_OK;
    }
    if (strcmp(argv[1], "day") == 0)
        return cmd_day(argc - 1, argv + 1, cli);
    if (strcmp(argv[1], "sample") == 0)
        return cmd_sample(argc - 1, argv + 1);
    return kv_usage_error("report", "unknown report '%s': day or sample", argv[1]);
}
