/*
 * bench_reconcile.c - `kvitt reconcile` of a day of N payments (default
 * 10,000; KVITT_BENCH_N) against `kvitt sim` (a child process) and the real
 * journal: wall time and peak memory (max RSS) of the kvitt process for
 *   reconcile --date (Report API dates endpoint, 100 entries a page)
 *   reconcile feed   (the whole feed into the journal)
 *   reconcile --from-feed
 * The day is made with the real payment client (create, test approve,
 * capture; a partial refund for every tenth) and journaled with the real
 * journal API.  Prints figures only; never fails on time.  With
 * KVITT_TEST_JOURNAL=pg the journal is a database of a PostgreSQL server
 * started for the run (tests/lib/kvpg.h), as a chain's would be.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim.h"
#include "src/journal/journal.h"
#include "src/vipps/vipps.h"
#include "tests/lib/kvpg.h"
#include "tests/lib/kvtest.h"
#include "tests/lib/kvthttp.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_reconcile: %s\n", what);
    exit(1);
}

/* Run kvitt with args, stdout to /dev/null; print wall time and max RSS. */
static int timed(const char *label, const char *const argv[])
{
    fflush(stdout);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execv(kvt_bin(), (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0)
        die("wait4");
    double dt = now_s() - t0;
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    printf("%-28s %8.2f s  max RSS %6ld MiB  user %.2f s  sys %.2f s  (exit %d)\n", label, dt,
           ru.ru_maxrss / 1024, (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, code);
    return code;
}

int main(void)
{
    int n = getenv("KVITT_BENCH_N") ? atoi(getenv("KVITT_BENCH_N")) : 10000;
    if (n < 10)
        n = 10;
    char *conf = kvt_path("%s/kvitt.conf", kvt_tmpdir());
    const char *sargv[] = { "kvitt", "sim", "--listen", "127.0.0.1:0", "--write-config", conf, "--rate-get", "0",
                            "--rate-mod", "0", "--quiet", "--exit-with-parent", NULL };
    kvt_proc *sim = kvt_spawn(sargv, NULL, NULL);
    char *url = sim ? kvt_proc_readline(sim, 30000) : NULL;
    if (!url)
        die("the simulator did not start");
    size_t nc;
    const kv_sim_cred *cr = kv_sim_credentials(&nc);
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.environment = url;
    o.client_id = cr[0].client_id;
    o.client_secret = cr[0].client_secret;
    o.subscription_key = cr[0].subscription_key;
    o.msn = cr[0].msn;
    kv_vipps_client *c = NULL;
    char err[256];
    if (kv_vipps_client_create(&c, &o, err, sizeof err))
        die(err);
    char phone[32];
    snprintf(phone, sizeof phone, "%s", kv_sim_known_phones());
    char *comma = strchr(phone, ',');
    if (comma)
        *comma = 0;
    char *jpath = kvpg_test_journal("bench_reconcile"); /* KVITT_TEST_JOURNAL=pg */
    if (jpath) {
        /* the configuration's journal: that database */
        unsigned char *text = NULL;
        size_t tl = 0;
        if (kvt_read_file(conf, &text, &tl))
            die("config");
        char *line = strstr((char *)text, "\njournal = ");
        if (!line)
            die("no journal line in the config");
        char *end = strchr(line + 1, '\n');
        char *nconf = kvt_path("%.*s\njournal = %s%s", (int)(line - (char *)text), (char *)text, jpath,
                               end ? end : "");
        if (kvt_write_file(conf, nconf, strlen(nconf)))
            die("config");
        free(nconf);
        free(text);
        printf("journal: PostgreSQL\n");
    } else {
        jpath = kvt_path("%s/kvitt-journal.db", kvt_tmpdir());
    }
    kv_journal *j = NULL;
    if (kv_journal_open(&j, jpath, err, sizeof err))
        die(err);
    double t0 = now_s();
    int refunds = 0;
    kv_journal_batch_begin(j);
    for (int i = 0; i < n; i++) {
        char ref[32], key[80];
        snprintf(ref, sizeof ref, "BENCH-%08d", i);
        int64_t amount = 1000 + (i % 500) * 10;
        snprintf(key, sizeof key, "%s-create", ref);
        kv_vipps_create_req rq = { .reference = ref, .amount = amount, .currency = "NOK",
                                   .flow = KV_VIPPS_FLOW_QR, .qr_format = KV_VIPPS_QR_TEXT,
                                   .description = "Kvitt bench", .idempotency_key = key };
        kv_vipps_created cd;
        kv_vipps_modification m;
        if (kv_vipps_create(&cd, c, &rq) || kv_vipps_test_approve(c, ref, phone))
            die("create/approve");
        snprintf(key, sizeof key, "%s-capture-1", ref);
        if (kv_vipps_capture(&m, c, ref, amount, "NOK", key))
            die("capture");
        kv_payment p;
        memset(&p, 0, sizeof p);
        snprintf(p.reference, sizeof p.reference, "%s", ref);
        snprintf(p.store_id, sizeof p.store_id, "oslo");
        snprintf(p.msn, sizeof p.msn, "%s", cr[0].msn);
        snprintf(p.till_id, sizeof p.till_id, "till-1");
        snprintf(p.flow, sizeof p.flow, "epayment-qr");
        snprintf(p.currency, sizeof p.currency, "NOK");
        p.amount = p.captured = amount;
        p.state = KV_PAY_DONE;
        p.created_at = p.updated_at = (int64_t)time(NULL);
        kv_journal_op op;
        if (kv_journal_add_payment(j, &p) || kv_journal_op_begin(j, &op, ref, KV_OP_CAPTURE, amount) ||
            kv_journal_op_finish(j, op.id, KV_OPR_OK))
            die("journal");
        if (i % 10 == 0) {
            snprintf(key, sizeof key, "%s-refund-1", ref);
            if (kv_vipps_refund(&m, c, ref, 500, "NOK", key))
                die("refund");
            if (kv_journal_op_begin(j, &op, ref, KV_OP_REFUND, 500) || kv_journal_op_finish(j, op.id, KV_OPR_OK))
                die("journal");
            refunds++;
        }
        if (i % 500 == 499) {
            kv_journal_batch_end(j, 1);
            kv_journal_batch_begin(j);
        }
    }
    kv_journal_batch_end(j, 1);
    kv_journal_close(j);
    printf("day made: %d payments, %d refunds in %.1f s (client + simulator + journal)\n", n, refunds,
           now_s() - t0);
    char *curl = kvt_path("%s/sim/v1/report/close", url);
    kvt_http_resp hr;
    static const char body[] = "{\"msn\":\"123456\"}";
    if (kvt_http(&hr, "POST", curl, NULL, body, sizeof body - 1, 30000) || hr.status != 204)
        die("close");
    kvt_http_free(&hr);
    char day[11];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    const char *a1[] = { "kvitt", "--config", conf, "reconcile", "--date", day, "--store", "oslo", "--json", NULL };
    const char *a2[] = { "kvitt", "--config", conf, "reconcile", "feed", "--store", "oslo", NULL };
    const char *a3[] = { "kvitt", "--config", conf, "reconcile", "--date", day, "--store", "oslo", "--from-feed",
                         "--json", NULL };
    int rc = timed("reconcile --date (API)", a1);
    rc |= timed("reconcile feed", a2);
    rc |= timed("reconcile --from-feed", a3);
    const char *a4[] = { "kvitt", "--config", conf, "report", "day", "--json", NULL };
    rc |= timed("report day (X, journal)", a4);
    printf("%d payments, all matched: %s\n", n, rc ? "NO" : "yes");
    kv_vipps_client_destroy(c);
    kvt_proc_stop(sim, SIGTERM);
    free(url);
    free(curl);
    free(conf);
    free(jpath);
    return rc ? 1 : 0;
}
