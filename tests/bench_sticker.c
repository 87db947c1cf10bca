/* bench_sticker.c - the sticker flow's reaction time: from the check-in
 * (user.checked-in.v1) reaching `kvitt serve` to the ePayment create at
 * `kvitt sim --latency-ms 20` (loopback, a `kvitt vprinter`).
 *
 * Each round: the till posts a sticker payment (202, waiting for the
 * scan); the simulator hands out a real customerToken for the till's
 * sticker (its scan control endpoint; the simulator has no check-in
 * registration here, so it delivers nothing itself); the benchmark signs
 * the check-in with the registration's secret from the journal, exactly as
 * the Webhooks API does, and POSTs it at t0.  The simulator stamps the
 * payment's CREATED event when the create request arrives (tc, read back
 * from its event log, millisecond resolution); the daemon answers the
 * check-in once it is journaled, before the create (t1).  Figures: tc - t0 (the
 * check-in to the payment request at the simulator) and t1 - t0, p50/p90/
 * max, against the target of one round trip (20 ms) + 5 ms; and the
 * simulator's creates (one per round: the invariant; exit 1 when broken).
 *
 * Environment: KVITT_BENCH_N rounds (default 30).  Figures only: it never
 * fails on time. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "sim/sim.h"
#include "src/serve/sdb.h"
#include "src/vipps/vipps.h"
#include "tests/lib/kvtserve.h"

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* the simulator's clock too */
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* "2026-12-02T10:30:00.123Z" -> microseconds since the epoch, -1 on error. */
static int64_t rfc3339_us(const char *t)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    int64_t us = (int64_t)timegm(&tm) * 1000000;
    if (*rest == '.') {
        int64_t scale = 100000;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++, scale /= 10)
            us += (*rest - '0') * scale;
    }
    return us;
}

static void print_line(const char *what, int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    int p90 = (n * 9) / 10 < n ? (n * 9) / 10 : n - 1;
    printf("%s: p50 %.1f ms, p90 %.1f ms, max %.1f ms over %d scans\n", what, v[n / 2] / 1000.0,
           v[p90] / 1000.0, v[n - 1] / 1000.0, n);
}

static int run_ok(const char *const argv[])
{
    kvt_result r;
    if (kvt_run(&r, NULL, NULL, 60, argv) < 0)
        return -1;
    int ok = r.status == 0;
    if (!ok)
        fprintf(stderr, "bench_sticker: %s %s: %s\n", argv[3], argv[4], r.err);
    kvt_result_free(&r);
    return ok ? 0 : -1;
}

int main(void)
{
    int n = getenv("KVITT_BENCH_N") ? atoi(getenv("KVITT_BENCH_N")) : 30;
    if (n < 1)
        n = 30;
    kvt_serve_env e;
    kvt_serve_opts o;
    memset(&o, 0, sizeof o);
    o.vprinter = 1;
    o.sim_args[0] = "--latency-ms";
    o.sim_args[1] = "20";
    o.sim_args[2] = "--rate-mod";
    o.sim_args[3] = "0";
    /* the fixture registers the default events first: no check-in
     * registration at the simulator, the benchmark delivers them */
    if (kvt_serve_setup(&e, "bench-sticker", &o) < 0)
        return 1;
    const char *sargv[] = { "kvitt", "--config", e.conf, "sticker", "create", "--till", "t-oslo",
                            "--location", "Bench", NULL };
    if (run_ok(sargv) < 0) {
        kvt_serve_teardown(&e);
        return 1;
    }
    char *dbp = kvt_path("%s/kvitt-journal.db", e.dir);
    kv_sdb *db = NULL;
    char err[256];
    kv_sdb_hook *h = NULL;
    size_t nh = 0;
    if (kv_sdb_open(&db, dbp, err, sizeof err) != KV_SDB_OK || kv_sdb_hook_list(db, &h, &nh) != KV_SDB_OK ||
        nh < 1) {
        fprintf(stderr, "bench_sticker: no webhook registration in the journal\n");
        kvt_serve_teardown(&e);
        return 1;
    }
    int64_t *lat = calloc((size_t)n, sizeof *lat), *t0s = calloc((size_t)n, sizeof *t0s);
    char (*refs)[64] = calloc((size_t)n, sizeof *refs);
    int creates0 = kvt_sim_count(&e, "POST /epayment/v1/payments");
    int bad = 0, done = 0;
    for (int i = 0; i < n && !bad; i++) {
        char key[64];
        snprintf(key, sizeof key, "bench-sticker-%d-%d", (int)getpid(), i);
        kvt_http_resp r;
        if (kvt_serve_req(&r, &e, "POST", "/v1/payments", KVT_TOK_OSLO, key,
                          "{\"amountMinor\":4500,\"flow\":\"sticker\"}") < 0 || r.status != 202) {
            fprintf(stderr, "bench_sticker: sticker payment answered %ld\n", r.status);
            kvt_http_free(&r);
            bad = 1;
            break;
        }
        char *ref = kvt_json_str(r.body, "reference");
        snprintf(refs[done], sizeof refs[done], "%s", ref ? ref : "");
        free(ref);
        kvt_http_free(&r);
        if (kvt_sim_req(&r, &e, "POST", "/sim/v1/stickers/kvitt-t-oslo/scan", "{}") < 0 ||
            r.status != 200) {
            kvt_http_free(&r);
            bad = 1;
            break;
        }
        char *tok = kvt_json_str(r.body, "customerToken");
        kvt_http_free(&r);
        char body[400], date[64], hash[64], auth[256];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        snprintf(body, sizeof body, "{\"msn\":\"123456\",\"merchantSerialNumber\":\"123456\","
                 "\"merchantQrId\":\"kvitt-t-oslo\",\"customerToken\":\"%s\","
                 "\"initiatedAt\":\"2026-12-02T10:00:00Z\"}", tok ? tok : "");
        free(tok);
        kv_vipps_webhook_sign(hash, sizeof hash, auth, sizeof auth, h[0].secret, h[0].url, body,
                              strlen(body), date);
        char hd[100], hh[100], ha[300];
        snprintf(hd, sizeof hd, "x-ms-date: %s", date);
        snprintf(hh, sizeof hh, "x-ms-content-sha256: %s", hash);
        snprintf(ha, sizeof ha, "Authorization: %s", auth);
        const char *hdrs[] = { hd, hh, ha, "Content-Type: application/json", NULL };
        int64_t t0 = now_us();
        int rc = kvt_http(&r, "POST", h[0].url, hdrs, body, strlen(body), 10000);
        int64_t t1 = now_us();
        if (rc < 0 || r.status != 200) {
            fprintf(stderr, "bench_sticker: check-in answered %ld\n", r.status);
            bad = 1;
        } else {
            t0s[done] = t0;
            lat[done++] = t1 - t0;
        }
        kvt_http_free(&r);
    }
    /* the creates follow the answers (the daemon's payment pool): wait
     * for the last ones, at most 10 s */
    int creates = kvt_sim_count(&e, "POST /epayment/v1/payments") - creates0;
    for (int w = 0; w < 200 && creates < done; w++) {
        usleep(50000);
        creates = kvt_sim_count(&e, "POST /epayment/v1/payments") - creates0;
    }
    /* when each create reached the simulator: its CREATED event */
    int64_t *tc = calloc((size_t)(done ? done : 1), sizeof *tc);
    int nc = 0;
    size_t ncred;
    const kv_sim_cred *cr = kv_sim_credentials(&ncred);
    kv_vipps_opts vo = KV_VIPPS_OPTS_INIT;
    vo.environment = e.sim_url;
    vo.client_id = cr[0].client_id;
    vo.client_secret = cr[0].client_secret;
    vo.subscription_key = cr[0].subscription_key;
    vo.msn = cr[0].msn;
    vo.system_name = "kvitt-bench";
    vo.system_version = "1";
    vo.plugin_name = "bench-sticker";
    vo.plugin_version = "1";
    kv_vipps_client *c = NULL;
    if (kv_vipps_client_create(&c, &vo, err, sizeof err) == KV_VIPPS_OK) {
        for (int i = 0; i < done; i++) {
            kv_vipps_event *ev = NULL;
            size_t ne = 0;
            if (kv_vipps_events(&ev, &ne, c, refs[i]) != KV_VIPPS_OK)
                continue;
            for (size_t k = 0; k < ne; k++)
                if (!strcmp(ev[k].name, "CREATED")) {
                    int64_t t = rfc3339_us(ev[k].timestamp);
                    if (t > 0)
                        tc[nc++] = t - t0s[i] > 0 ? t - t0s[i] : 0;
                }
            kv_vipps_events_free(ev);
        }
        kv_vipps_client_destroy(c);
    } else {
        fprintf(stderr, "bench_sticker: no client for the simulator: %s\n", err);
    }
    if (nc)
        print_line("sticker check-in -> payment request at the simulator (target <= 25 ms: one 20 ms "
                   "round trip + 5)", tc, nc);
    if (done)
        print_line("sticker check-in -> daemon's reply (journaled; the create follows on the pool)",
                   lat, done);
    free(tc);
    free(t0s);
    free(refs);
    printf("creates at the simulator: %d for %d scans (%s)\n", creates, done,
           creates == done ? "ok: one each" : "BROKEN");
    kv_sdb_hooks_free(h, nh);
    kv_sdb_close(db);
    free(dbp);
    free(lat);
    kvt_serve_teardown(&e);
    return bad || creates != done ? 1 : 0;
}
