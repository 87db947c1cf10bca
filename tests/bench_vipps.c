/*
 * bench_vipps.c - payment client figures against `kvitt sim` (a separate
 * process, so this process's CPU time is the client's alone).
 *
 *   warm create  : create -> QR URL with a cached token and an open
 *                  connection, simulator at 50 ms latency (target <= 60 ms,
 *                  one round trip)
 *   cold create  : new client: token + create (target <= 115 ms, two round
 *                  trips)
 *   client CPU   : process CPU time per call over many calls against a
 *                  0-latency simulator (target <= 200 us)
 * Prints figures only; never fails on time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>

#include "sim/sim.h"
#include "src/vipps/vipps.h"
#include "tests/lib/kvtest.h"

static double now_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n, const char *target)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    printf("%-34s median %7.2f ms  min %7.2f  p90 %7.2f  max %7.2f  (n=%d, %s)\n",
           what, v[n / 2], v[0], v[(n * 9) / 10], v[n - 1], n, target);
}

static kv_vipps_client *mk(const char *url, const kv_sim_cred *cr)
{
    kv_vipps_opts o = KV_VIPPS_OPTS_INIT;
    o.environment = url;
    o.client_id = cr->client_id;
    o.client_secret = cr->client_secret;
    o.subscription_key = cr->subscription_key;
    o.msn = cr->msn;
    kv_vipps_client *c = NULL;
    char err[200];
    if (kv_vipps_client_create(&c, &o, err, sizeof err) != KV_VIPPS_OK) {
        fprintf(stderr, "bench_vipps: client: %s\n", err);
        exit(1);
    }
    return c;
}

static kv_vipps_status create(kv_vipps_client *c, const char *tag, int i,
                              kv_vipps_created *out)
{
    char ref[64], key[80];
    snprintf(ref, sizeof ref, "BEN-%s-%06d", tag, i);
    snprintf(key, sizeof key, "%s-create", ref);
    kv_vipps_create_req rq = {
        .reference = ref, .amount = 14900, .currency = "NOK",
        .flow = KV_VIPPS_FLOW_QR, .qr_format = KV_VIPPS_QR_TEXT,
        .description = "Kvitt bench", .idempotency_key = key,
    };
    return kv_vipps_create(out, c, &rq);
}

static kvt_proc *start_sim(const char *latency, char **url)
{
    const char *argv[] = { "kvitt", "sim", "--listen", "127.0.0.1:0",
                           "--latency-ms", latency, "--quiet",
                           "--rate-get", "0", "--rate-mod", "0", NULL };
    kvt_proc *p = kvt_spawn(argv, NULL, "/dev/null");
    if (!p)
        return NULL;
    *url = kvt_proc_readline(p, 10000);
    if (!*url || strncmp(*url, "http://", 7)) {
        kvt_proc_stop(p, 15);
        return NULL;
    }
    return p;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    size_t n = 0;
    const kv_sim_cred *creds = kv_sim_credentials(&n);
    const kv_sim_cred *oslo = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(creds[i].name, "oslo"))
            oslo = &creds[i];
    if (!oslo) {
        fprintf(stderr, "bench_vipps: no oslo credentials in the simulator\n");
        return 1;
    }
    char *url = NULL;
    kvt_proc *sim = start_sim("50", &url);
    if (!sim) {
        fprintf(stderr, "bench_vipps: could not start kvitt sim (%s)\n", kvt_bin());
        return 1;
    }
    printf("simulator %s, latency 50 ms\n", url);

    enum { WARM = 30, COLD = 15, CPU_CALLS = 2000 };
    double v[WARM];
    kv_vipps_created cr;

    /* Warm: token fetched and connection open before timing. */
    kv_vipps_client *c = mk(url, oslo);
    if (kv_vipps_token_warm(c) != KV_VIPPS_OK ||
        create(c, "warmup", 0, &cr) != KV_VIPPS_OK) {
        fprintf(stderr, "bench_vipps: warm-up failed: %s\n",
                kv_vipps_last_error(c)->log);
        return 1;
    }
    for (int i = 0; i < WARM; i++) {
        double t0 = now_ms(CLOCK_MONOTONIC);
        kv_vipps_status st = create(c, "warm", i, &cr);
        v[i] = now_ms(CLOCK_MONOTONIC) - t0;
        if (st != KV_VIPPS_OK || !cr.redirect_url[0]) {
            fprintf(stderr, "bench_vipps: create: %s\n", kv_vipps_last_error(c)->log);
            return 1;
        }
    }
    kv_vipps_stats stt;
    kv_vipps_get_stats(c, &stt);
    report("create -> QR URL, warm token", v, WARM, "target <= 60 ms");
    printf("  http requests %lu for %d creates (+1 warm-up), connections %lu\n",
           stt.http_requests, WARM, stt.connects);
    kv_vipps_client_destroy(c);

    /* Cold: a new client each time (no token, no connection). */
    for (int i = 0; i < COLD; i++) {
        double t0 = now_ms(CLOCK_MONOTONIC);
        c = mk(url, oslo);
        kv_vipps_status st = create(c, "cold", i, &cr);
        v[i] = now_ms(CLOCK_MONOTONIC) - t0;
        kv_vipps_get_stats(c, &stt);
        if (st != KV_VIPPS_OK || stt.http_requests != 2) {
            fprintf(stderr, "bench_vipps: cold create: %s\n", kv_vipps_last_error(c)->log);
            return 1;
        }
        kv_vipps_client_destroy(c);
    }
    report("cold start: token + create", v, COLD, "target <= 115 ms");
    kvt_proc_stop(sim, 15);
    free(url);

    /* CPU per call against a 0-latency simulator. */
    sim = start_sim("0", &url);
    if (!sim) {
        fprintf(stderr, "bench_vipps: could not start kvitt sim\n");
        return 1;
    }
    c = mk(url, oslo);
    if (create(c, "cpu", 0, &cr) != KV_VIPPS_OK) {
        fprintf(stderr, "bench_vipps: %s\n", kv_vipps_last_error(c)->log);
        return 1;
    }
    kv_vipps_payment p;
    double cpu0 = now_ms(CLOCK_PROCESS_CPUTIME_ID), w0 = now_ms(CLOCK_MONOTONIC);
    for (int i = 0; i < CPU_CALLS; i++)
        if (kv_vipps_get(&p, c, "BEN-cpu-000000") != KV_VIPPS_OK) {
            fprintf(stderr, "bench_vipps: get: %s\n", kv_vipps_last_error(c)->log);
            return 1;
        }
    double cpu1 = now_ms(CLOCK_PROCESS_CPUTIME_ID), w1 = now_ms(CLOCK_MONOTONIC);
    printf("%-34s %7.1f us CPU per call  (%d calls, wall %.1f us/call, target <= 200 us)\n",
           "client CPU, GET payment", (cpu1 - cpu0) * 1e3 / CPU_CALLS, CPU_CALLS,
           (w1 - w0) * 1e3 / CPU_CALLS);
    cpu0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
    w0 = now_ms(CLOCK_MONOTONIC);
    enum { CPU_CREATES = 500 };
    for (int i = 1; i <= CPU_CREATES; i++)
        if (create(c, "cpu", i, &cr) != KV_VIPPS_OK) {
            fprintf(stderr, "bench_vipps: create: %s\n", kv_vipps_last_error(c)->log);
            return 1;
        }
    cpu1 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
    w1 = now_ms(CLOCK_MONOTONIC);
    printf("%-34s %7.1f us CPU per call  (%d calls, wall %.1f us/call, target <= 200 us)\n",
           "client CPU, create payment", (cpu1 - cpu0) * 1e3 / CPU_CREATES,
           CPU_CREATES, (w1 - w0) * 1e3 / CPU_CREATES);
    kv_vipps_client_destroy(c);
    kvt_proc_stop(sim, 15);
    free(url);
    curl_global_cleanup();
    return 0;
}
