/* cmd_status.c - `kvitt status`: show a payment (src/flow does it), or the
 * sticker payments waiting for the customer's scan (the journal's waiting
 * amounts, journal_sticker.h: they have no payment yet). */
#include "src/cli/cli.h"
#include "src/cli/flowcli.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/journal/journal_sticker.h"

static const char usage[] =
    "usage: kvitt status --reference REF [--local] [--json]\n"
    "       kvitt status [--json]\n\n"
    "Show a payment from the journal and, unless --local, its state at Vipps.\n"
    "Without --reference: the sticker payments waiting for the customer's scan\n"
    "(till, amount, since when, the sticker's id).\n";

/* What a waiting amount shows: its state now (NULL when it no longer
 * waits), amount and currency (from the journaled request). */
static const char *wait_state(const kv_wait_row *w, int64_t now_ms, int64_t *minor, char *cur, size_t curlen)
{
    cJSON *q = cJSON_Parse(w->request);
    const cJSON *am = cJSON_GetObjectItemCaseSensitive(q, "amountMinor");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(q, "currency");
    *minor = cJSON_IsNumber(am) ? (int64_t)am->valuedouble : 0;
    snprintf(cur, curlen, "%s", cJSON_IsString(c) ? c->valuestring : "NOK");
    cJSON_Delete(q);
    if (!strcmp(w->state, "paired"))
        return "SCANNED"; /* the payment is being created */
    if (!strcmp(w->state, "waiting") && now_ms < w->expires_ms)
        return "AWAITING_SCAN";
    return NULL;
}

static cJSON *wait_json(const kv_wait_row *w, const char *state, int64_t minor, const char *cur, int64_t now_ms)
{
    char a[32];
    kv_flow_format_amount(a, sizeof a, minor);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "reference", w->reference);
    cJSON_AddStringToObject(o, "state", state);
    cJSON_AddStringToObject(o, "flow", "sticker");
    cJSON_AddStringToObject(o, "till", w->till);
    cJSON_AddStringToObject(o, "merchantQrId", w->sticker);
    cJSON_AddStringToObject(o, "amount", a);
    cJSON_AddNumberToObject(o, "amountMinor", (double)minor);
    cJSON_AddStringToObject(o, "currency", cur);
    cJSON_AddNumberToObject(o, "since", (double)(w->created_ms / 1000));
    cJSON_AddNumberToObject(o, "secondsLeft", !strcmp(state, "AWAITING_SCAN") ? (double)((w->expires_ms - now_ms) / 1000) : 0);
    return o;
}

static void wait_line(const kv_wait_row *w, const char *state, int64_t minor, const char *cur, int64_t now_ms)
{
    char a[32], t[32];
    kv_flow_format_amount(a, sizeof a, minor);
    time_t tt = (time_t)(w->created_ms / 1000);
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(t, sizeof t, "%Y-%m-%d %H:%M:%S", &tm);
    printf("%s %s %s %s till %s sticker %s since %s", w->reference, state, a, cur, w->till, w->sticker, t);
    if (!strcmp(state, "AWAITING_SCAN"))
        printf(" (%llds left)", (long long)((w->expires_ms - now_ms) / 1000));
    printf("\n");
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void print_json(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    if (s)
        printf("%s\n", s);
    cJSON_free(s);
    cJSON_Delete(o);
}

/* The sticker payments waiting for a scan. */
static int list_waiting(kv_flowcli *fc)
{
    kv_wait_row *v = NULL;
    size_t n = 0;
    kv_journal *j = kv_flow_journal(fc->flow);
    if (kv_journal_wait_list(j, &v, &n) != KV_J_OK) {
        kv_err(fc->cmd, "the journal cannot be read: %s", kv_journal_errmsg(j));
        return KV_EXIT_CONFIG;
    }
    int64_t now = now_ms();
    cJSON *arr = fc->json ? cJSON_CreateArray() : NULL;
    int shown = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t minor;
        char cur[8];
        const char *st = wait_state(&v[i], now, &minor, cur, sizeof cur);
        if (!st)
            continue;
        shown++;
        if (arr)
            cJSON_AddItemToArray(arr, wait_json(&v[i], st, minor, cur, now));
        else
            wait_line(&v[i], st, minor, cur, now);
    }
    free(v);
    if (arr) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "waiting", arr);
        cJSON_AddNumberToObject(o, "count", shown);
        print_json(o);
    } else if (!shown) {
        printf("no sticker payment waits for a scan\n");
    }
    fflush(stdout);
    return KV_EXIT_OK;
}

/* A reference the flow does not know: a sticker payment not scanned yet?
 * 1 when shown. */
static int show_wait(kv_flowcli *fc, const char *ref)
{
    kv_wait_row *w = malloc(sizeof *w);
    if (!w || kv_journal_wait_get(kv_flow_journal(fc->flow), w, ref) != KV_J_OK) {
        free(w);
        return 0;
    }
    int64_t now = now_ms(), minor;
    char cur[8];
    const char *st = wait_state(w, now, &minor, cur, sizeof cur);
    if (!st)
        st = !strcmp(w->state, "started") ? "SCANNED" : "NOT_PAID";
    if (fc->json) {
        cJSON *o = wait_json(w, st, minor, cur, now);
        cJSON_AddStringToObject(o, "status", "ok");
        cJSON_AddNumberToObject(o, "exit_code", KV_EXIT_OK);
        print_json(o);
    } else {
        wait_line(w, st, minor, cur, now);
    }
    fflush(stdout);
    free(w);
    return 1;
}

int kv_cmd_status(int argc, char **argv, const kv_cli *cli)
{
    static const struct option opts[] = {
        { "reference", required_argument, NULL, 'r' },
        { "local", no_argument, NULL, 'l' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 }
    };
    const char *ref = NULL;
    int local = 0, json = 0, c;
    while ((c = getopt_long(argc, argv, "r:ljh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': ref = optarg; break;
        case 'l': local = 1; break;
        case 'j': json = 1; break;
        case 'h':
            fputs(usage, stdout);
            return KV_EXIT_OK;
        default: return kv_bad_option("status", argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error("status", "unexpected argument '%s'", argv[optind]);
    if (local && !ref)
        return kv_usage_error("status", "--local goes with --reference REF");
    kv_flowcli fc;
    int rc = kv_flowcli_open(&fc, "status", cli, json);
    if (rc)
        return rc;
    if (!ref) {
        rc = list_waiting(&fc);
    } else {
        kv_flow_result *r = calloc(1, sizeof *r);
        kv_flow_status st = r ? kv_flow_status_get(fc.flow, r, ref, !local) : KV_FLOW_E_NOMEM;
        if (st == KV_FLOW_E_NOT_FOUND && show_wait(&fc, ref))
            rc = KV_EXIT_OK;
        else
            rc = r ? kv_flowcli_result(&fc, st, r) : KV_EXIT_CONFIG;
        free(r);
    }
    kv_flowcli_close(&fc);
    return rc;
}
