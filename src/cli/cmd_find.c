/* cmd_find.c - `kvitt find`: search the journal. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/cli/cli.h"
#include "src/cli/flowcli.h"

int kv_cmd_find(int argc, char **argv, const kv_cli *cli)
{
    static const struct option opts[] = {
        { "reference", required_argument, NULL, 'r' },
        { "store", required_argument, NULL, 's' },
        { "since", required_argument, NULL, 'S' },
        { "unfinished", no_argument, NULL, 'u' },
        { "limit", required_argument, NULL, 'n' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 }
    };
    kv_journal_query q = { 0 };
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "r:s:S:un:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': q.reference = optarg; break;
        case 's': q.store_id = optarg; break;
        case 'S': {
            struct tm tm;
            memset(&tm, 0, sizeof tm);
            const char *end = strptime(optarg, "%Y-%m-%d", &tm);
            if (!end || (*end && !(end = strptime(end, "%n%H:%M", &tm))) || (end && *end))
                return kv_usage_error("find", "--since: a date YYYY-MM-DD or 'YYYY-MM-DD HH:MM' (local time)");
            tm.tm_isdst = -1;
            q.since = (int64_t)mktime(&tm);
            break;
        }
        case 'u': q.unfinished_only = 1; break;
        case 'n': q.limit = atoi(optarg); if (q.limit <= 0) return kv_usage_error("find", "--limit: a positive number"); break;
        case 'j': json = 1; break;
        case 'h':
            printf("usage: kvitt find [--reference R | --store S | --since DATE] [--unfinished] [--limit N] [--json]\n\n"
                   "Search the journal, newest first.\n");
            return KV_EXIT_OK;
        default: return kv_bad_option("find", argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error("find", "unexpected argument '%s'", argv[optind]);
    kv_flowcli fc;
    int rc = kv_flowcli_open(&fc, "find", cli, json);
    if (rc)
        return rc;
    kv_payment *rows = NULL;
    size_t n = 0;
    kv_flow_status st = kv_flow_find(fc.flow, &rows, &n, &q);
    if (st == KV_FLOW_OK)
        kv_flowcli_rows(&fc, rows, n);
    else
        kv_err("find", "%s", kv_flow_strerror(st));
    free(rows);
    kv_flowcli_close(&fc);
    return st == KV_FLOW_OK ? (n ? KV_EXIT_OK : KV_EXIT_NOT_PAID) : kv_flow_exit_code(st);
}
