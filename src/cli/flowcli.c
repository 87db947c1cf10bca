/* flowcli.c - config + flow setup, signals, progress and result printing
 * for the till subcommands. */
#include "src/cli/flowcli.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The one piece of process-wide state: a signal handler can only reach a
 * static.  It lives in the program, not in a library. */
static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

int kv_flowcli_interrupted(void)
{
    return stop_flag != 0;
}

const volatile sig_atomic_t *kv_flowcli_stop_flag(void)
{
    return &stop_flag;
}

static void progress(void *user, const kv_flow_event *ev)
{
    kv_flowcli *fc = user;
    if (fc->quiet)
        return;
    static int last_shown = -1;
    switch (ev->kind) {
    case KV_FEV_STATE:
        fprintf(stderr, "kvitt %s: %s %s%s%s\n", fc->cmd, ev->reference, kv_pay_state_name(ev->state),
                ev->message[0] ? ": " : "", ev->message);
        break;
    case KV_FEV_TICK:
        if (isatty(STDERR_FILENO)) {
            fprintf(stderr, "\rkvitt %s: waiting for the customer, %3d s left ", fc->cmd, ev->seconds_left);
            if (ev->seconds_left <= 0)
                fputc('\n', stderr);
        } else if (last_shown < 0 || ev->seconds_left % 10 == 0) {
            fprintf(stderr, "kvitt %s: waiting for the customer, %d s left\n", fc->cmd, ev->seconds_left);
        }
        last_shown = ev->seconds_left;
        break;
    case KV_FEV_MESSAGE:
        if (isatty(STDERR_FILENO) && last_shown >= 0)
            fputc('\n', stderr);
        last_shown = -1;
        fprintf(stderr, "kvitt %s: %s: %s\n", fc->cmd, ev->reference, ev->message);
        break;
    case KV_FEV_PRINTED:
        fprintf(stderr, "kvitt %s: %s: printed the %s\n", fc->cmd, ev->reference, ev->message);
        break;
    }
    fflush(stderr);
}

/* `kvitt -v`: the payment client's lines (already redacted) on stderr. */
static void vipps_log(kv_vipps_log_level lvl, const char *line, void *payload)
{
    static const char *const lv[] = { "error", "warning", "info", "debug" };
    fprintf(stderr, "kvitt %s: vipps %s: %s\n", (const char *)payload,
            lvl <= KV_VIPPS_LOG_DEBUG ? lv[lvl] : "?", line);
}

int kv_flowcli_open(kv_flowcli *fc, const char *cmd, const kv_cli *cli, int json)
{
    memset(fc, 0, sizeof *fc);
    fc->cmd = cmd;
    fc->json = json;
    fc->quiet = cli->quiet;
    char err[1024] = "";
    const char *path = kv_config_default_path(cli->config_path);
    kv_config_status cs = kv_config_load(&fc->cfg, path, err, sizeof err);
    if (cs != KV_C_OK) {
        kv_err(cmd, "%s", err);
        return KV_EXIT_CONFIG;
    }
    kv_on_stop_signals(on_signal);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    kv_flow_options fo = KV_FLOW_OPTIONS_INIT;
    fo.on_event = progress;
    fo.event_user = fc;
    fo.stop = &stop_flag;
    if (cli->verbose) {
        fo.vipps_log = vipps_log;
        fo.vipps_log_payload = (void *)cmd;
        fo.vipps_log_level = cli->verbose > 1 ? KV_VIPPS_LOG_DEBUG : KV_VIPPS_LOG_INFO;
    }
    fo.trace_path = cli->trace_path;
    fo.prefetch_token = strcmp(cmd, "pay") == 0; /* the token before the journal */
    kv_flow_status fs = kv_flow_open(&fc->flow, fc->cfg, &fo, err, sizeof err);
    if (fs != KV_FLOW_OK) {
        kv_err(cmd, "%s", err[0] ? err : kv_flow_strerror(fs));
        kv_config_free(fc->cfg);
        fc->cfg = NULL;
        curl_global_cleanup();
        return kv_flow_exit_code(fs);
    }
    return 0;
}

void kv_flowcli_close(kv_flowcli *fc)
{
    if (!fc)
        return;
    kv_flow_close(fc->flow);
    kv_config_free(fc->cfg);
    fc->flow = NULL;
    fc->cfg = NULL;
    curl_global_cleanup();
}

static void money(char *b, size_t n, int64_t v)
{
    kv_flow_format_amount(b, n, v);
}

/* The flow keeps the first KV_REASON_KEPT bytes of a long reason.  Show a
 * reason that reached that size cut after its last whole word, with an
 * ellipsis, unless the full text (detail) shows that it ended there:
 * never stop in the middle of a word. */
#define KV_REASON_KEPT 120
static void fit_reason(char *out, size_t n, const char *reason, const char *detail)
{
    size_t rl = strlen(reason);
    int prefix = detail && strncmp(detail, reason, rl) == 0;
    if (rl < KV_REASON_KEPT || (prefix && (detail[rl] == '\0' || detail[rl] == ';'))) {
        snprintf(out, n, "%s", reason);
        return;
    }
    size_t end = rl;
    if (!prefix || isalnum((unsigned char)detail[rl])) /* the cut may fall inside a word */
        while (end > 0 && reason[end - 1] != ' ')
            end--;
    while (end > 0 && strchr(" ,;:(-", reason[end - 1]))
        end--;
    if (end == 0) /* one long word: keep it as it is */
        end = rl;
    snprintf(out, n, "%.*s\xe2\x80\xa6", (int)end, reason);
}

static cJSON *payment_json(const kv_payment *p)
{
    char a[32];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "reference", p->reference);
    cJSON_AddStringToObject(o, "state", kv_pay_state_name(p->state));
    cJSON_AddStringToObject(o, "store", p->store_id);
    cJSON_AddStringToObject(o, "till", p->till_id);
    money(a, sizeof a, p->amount);
    cJSON_AddStringToObject(o, "amount", a);
    cJSON_AddStringToObject(o, "currency", p->currency);
    money(a, sizeof a, p->captured);
    cJSON_AddStringToObject(o, "captured", a);
    money(a, sizeof a, p->refunded);
    cJSON_AddStringToObject(o, "refunded", a);
    cJSON_AddStringToObject(o, "vipps_state", p->api_state);
    cJSON_AddStringToObject(o, "psp_reference", p->psp_reference);
    cJSON_AddStringToObject(o, "reason", p->reason);
    cJSON_AddNumberToObject(o, "created_at", (double)p->created_at);
    return o;
}

int kv_flowcli_result(kv_flowcli *fc, kv_flow_status st, const kv_flow_result *r)
{
    int code = kv_flow_exit_code(st);
    if (fc->json) {
        cJSON *o = r->payment.reference[0] ? payment_json(&r->payment) : cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", kv_flow_strerror(st));
        cJSON_AddNumberToObject(o, "exit_code", code);
        cJSON_AddStringToObject(o, "message", r->cashier);
        cJSON_AddStringToObject(o, "detail", r->detail);
        cJSON_AddStringToObject(o, "slip", r->slip_path);
        cJSON_AddStringToObject(o, "receipt", r->receipt_path);
        cJSON_AddBoolToObject(o, "approved_after_cancel", r->approved_after_cancel);
        cJSON_AddBoolToObject(o, "receipt_queued", r->receipt_queued);
        char *s = cJSON_PrintUnformatted(o);
        if (s)
            printf("%s\n", s);
        cJSON_free(s);
        cJSON_Delete(o);
        fflush(stdout);
        return code;
    }
    if (r->payment.reference[0]) {
        char a[32];
        money(a, sizeof a, r->payment.amount);
        printf("%s %s %s %s", r->payment.reference, kv_pay_state_name(r->payment.state), a, r->payment.currency);
        if (r->payment.captured) {
            money(a, sizeof a, r->payment.captured);
            printf(" captured %s", a);
        }
        if (r->payment.refunded) {
            money(a, sizeof a, r->payment.refunded);
            printf(" refunded %s", a);
        }
        if (r->payment.reason[0]) {
            char why[sizeof r->payment.reason + 8];
            fit_reason(why, sizeof why, r->payment.reason, r->detail);
            printf(" (%s)", why);
        }
        printf("\n");
        if (r->slip_path[0])
            printf("slip: %s\n", r->slip_path);
        if (r->receipt_path[0])
            printf("receipt: %s\n", r->receipt_path);
    }
    if (st != KV_FLOW_OK || r->receipt_queued || r->approved_after_cancel) {
        const char *msg = r->detail[0] ? r->detail : r->cashier[0] ? r->cashier : kv_flow_strerror(st);
        kv_err(fc->cmd, "%s%s", msg, st == KV_FLOW_E_UNKNOWN ? " -- journaled; run 'kvitt recover'" : "");
        if (r->approved_after_cancel)
            kv_err(fc->cmd, "the customer approved just after the cancel: the sale was finished");
    }
    fflush(stdout);
    return code;
}

void kv_flowcli_rows(kv_flowcli *fc, const kv_payment *rows, size_t n)
{
    if (fc->json) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(arr, payment_json(&rows[i]));
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "payments", arr);
        cJSON_AddNumberToObject(o, "count", (double)n);
        char *s = cJSON_PrintUnformatted(o);
        if (s)
            printf("%s\n", s);
        cJSON_free(s);
        cJSON_Delete(o);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const kv_payment *p = &rows[i];
        char a[32], c[32], t[32];
        money(a, sizeof a, p->amount);
        money(c, sizeof c, p->captured - p->refunded);
        time_t tt = (time_t)p->created_at;
        struct tm tm;
        localtime_r(&tt, &tm);
        strftime(t, sizeof t, "%Y-%m-%d %H:%M", &tm);
        printf("%-36s %-16s %-10s %12s %s net %s  %s\n", p->reference, t, kv_pay_state_name(p->state), a, p->currency, c,
               p->store_id);
    }
}

int kv_flowcli_ref_command(int argc, char **argv, const kv_cli *cli, const char *cmd, const char *usage,
                           kv_flowcli_refop op)
{
    static const struct option opts[] = {
        { "reference", required_argument, NULL, 'r' },
        { "amount", required_argument, NULL, 'a' },
        { "store", required_argument, NULL, 's' },
        { "local", no_argument, NULL, 'l' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { 0, 0, 0, 0 }
    };
    kv_flowcli_refargs a = { 0 };
    const char *amount = NULL;
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "r:a:s:ljh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': a.ref = optarg; break;
        case 'a': amount = optarg; break;
        case 's': a.store = optarg; break;
        case 'l': a.local = 1; break;
        case 'j': json = 1; break;
        case 'h':
            fputs(usage, stdout);
            return KV_EXIT_OK;
        default: return kv_bad_option(cmd, argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!a.ref)
        return kv_usage_error(cmd, "--reference REF is required");
    if (amount) {
        char err[160] = "";
        if (kv_flow_parse_amount(&a.minor, amount, err, sizeof err) != 0 || a.minor <= 0)
            return kv_usage_error(cmd, "--amount: %s", a.minor <= 0 && !err[0] ? "must be positive" : err);
    }
    kv_flowcli fc;
    int rc = kv_flowcli_open(&fc, cmd, cli, json);
    if (rc)
        return rc;
    kv_flow_result r;
    kv_flow_status st = op(fc.flow, &r, &a);
    rc = kv_flowcli_result(&fc, st, &r);
    kv_flowcli_close(&fc);
    return rc;
}
