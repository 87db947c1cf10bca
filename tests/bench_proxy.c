/* bench_proxy.c - figures for `kvitt proxy` (`make bench`; never asserts
 * time).
 *
 * Setup: a real `kvitt sim --latency-ms 50`, a real `kvitt proxy` process
 * listening on loopback TCP, and a small TCP printer in this process that
 * answers status queries like a ready Epson printer (kv_emu_scan) and
 * timestamps what arrives.  The till is this process too.
 *
 *  1. Added latency of a pass-through job: a 1 KiB receipt ending in a cut,
 *     written by the till; time until its last byte reaches the printer,
 *     through the proxy minus straight to the printer (median, p99).
 *  2. Pass-through throughput on TCP: 64 MiB of 32 KiB jobs on one till
 *     connection, through the proxy and straight.
 *  3. Trigger -> first slip byte: the till writes a payment receipt; time
 *     until the first byte of the QR slip job reaches the printer (the
 *     simulator answers every API call after 50 ms).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "drivers/status.h"
#include "tests/lib/kvflow.h"
#include "tests/lib/kvproxy.h"
#include "tests/lib/kvtest.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- the timestamping printer ---- */

#define MAXCONN 256
#define MARKS 4096

typedef struct printer {
    int lfd, port;
    pthread_mutex_t mu;
    double first[MAXCONN];      /* first non-query byte of each connection */
    int nconn;
    long long total;            /* bytes received, all connections */
    long long mark_every;       /* > 0: record the time each multiple is reached */
    double mark[MARKS];
    int nmarks;
    volatile int stop;
} printer;

static void *conn_main(void *arg);

typedef struct conn_arg {
    printer *p;
    int fd, idx;
} conn_arg;

static void *printer_main(void *arg)
{
    printer *p = arg;
    while (!p->stop) {
        struct pollfd pf = { p->lfd, POLLIN, 0 };
        if (poll(&pf, 1, 100) <= 0)
            continue;
        int fd = accept(p->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        conn_arg *c = malloc(sizeof *c);
        pthread_mutex_lock(&p->mu);
        c->idx = p->nconn < MAXCONN ? p->nconn++ : MAXCONN - 1;
        pthread_mutex_unlock(&p->mu);
        c->p = p;
        c->fd = fd;
        pthread_t th;
        pthread_create(&th, NULL, conn_main, c);
        pthread_detach(th);
    }
    return NULL;
}

static void *conn_main(void *arg)
{
    conn_arg *c = arg;
    printer *p = c->p;
    kv_emu_scanner sc = { { 0 }, 0 };
    static __thread unsigned char buf[1 << 16];
    unsigned char reply[64];
    ssize_t n;
    while ((n = read(c->fd, buf, sizeof buf)) > 0) {
        double t = now_ms();
        size_t rl = kv_emu_scan(&sc, KV_EMU_OK, buf, (size_t)n, reply, sizeof reply);
        int query = n == 3 && ((buf[0] == 0x10 && buf[1] == 0x04) || (buf[0] == 0x1d && buf[1] == 0x72));
        pthread_mutex_lock(&p->mu);
        if (!query && p->first[c->idx] == 0)
            p->first[c->idx] = t;
        long long before = p->total;
        p->total += n;
        if (p->mark_every > 0)
            for (long long k = before / p->mark_every; k < p->total / p->mark_every && p->nmarks < MARKS; k++)
                p->mark[p->nmarks++] = t;
        pthread_mutex_unlock(&p->mu);
        if (rl && write(c->fd, reply, rl) < 0)
            break;
    }
    close(c->fd);
    free(c);
    return NULL;
}

static int printer_start(printer *p, pthread_t *th)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    p->lfd = kvp_listen_loopback(&p->port);
    return p->lfd < 0 ? -1 : pthread_create(th, NULL, printer_main, p);
}

static void marks_reset(printer *p, long long every)
{
    pthread_mutex_lock(&p->mu);
    p->total = 0;
    p->nmarks = 0;
    p->mark_every = every;
    pthread_mutex_unlock(&p->mu);
}

/* Wait until mark i exists; its time, or 0 after 10 s. */
static double wait_mark(printer *p, int i)
{
    double t0 = now_ms();
    for (;;) {
        pthread_mutex_lock(&p->mu);
        double t = i < p->nmarks ? p->mark[i] : 0;
        pthread_mutex_unlock(&p->mu);
        if (t > 0)
            return t;
        if (now_ms() - t0 > 10000)
            return 0;
        sched_yield();
    }
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int write_all(int fd, const void *b, size_t n)
{
    const unsigned char *p = b;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A receipt of about len bytes: text lines, then GS V 66 3. */
static size_t make_job(unsigned char *b, size_t len)
{
    size_t n = 0;
    b[n++] = 0x1b;
    b[n++] = '@';
    while (n + 40 < len) {
        memcpy(b + n, "Kaffe latte                    45,00\n", 37);
        n += 37;
    }
    memcpy(b + n, "\x1dVB\x03", 4);
    return n + 4;
}

/* Median and p99 of the per-job latency (ms) over port. */
static void latency(printer *pr, int port, int runs, double *median, double *p99)
{
    unsigned char job[1024];
    size_t jl = make_job(job, sizeof job);
    double *v = calloc((size_t)runs, sizeof *v);
    marks_reset(pr, (long long)jl);
    int fd = connect_to(port);
    for (int i = 0; i < runs; i++) {
        double t0 = now_ms();
        write_all(fd, job, jl);
        v[i] = wait_mark(pr, i) - t0;
    }
    close(fd);
    qsort(v, (size_t)runs, sizeof *v, cmp_d);
    *median = v[runs / 2];
    *p99 = v[runs * 99 / 100];
    free(v);
}

static double throughput(printer *pr, int port, size_t total)
{
    static unsigned char job[32768];
    size_t jl = make_job(job, sizeof job);
    int jobs = (int)(total / jl);
    marks_reset(pr, (long long)jl * jobs);
    int fd = connect_to(port);
    double t0 = now_ms();
    for (int i = 0; i < jobs; i++)
        write_all(fd, job, jl);
    double t1 = wait_mark(pr, 0);
    close(fd);
    return t1 > 0 ? (double)jl * jobs / (1 << 20) / ((t1 - t0) / 1e3) : 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    printer pr;
    pthread_t th;
    if (printer_start(&pr, &th)) {
        fprintf(stderr, "bench_proxy: no printer socket\n");
        return 1;
    }
    kvf_env e;
    const char *sim[] = { "--latency-ms", "50", "--auto", "abort", "--approve-after", "1", "--quiet", NULL };
    if (kvf_start(&e, "bench-proxy", sim)) {
        fprintf(stderr, "bench_proxy: the simulator did not start\n");
        return 1;
    }
    char sec[512];
    snprintf(sec, sizeof sec, "\n[proxy bench]\nlisten = tcp://127.0.0.1:0\nprinter = tcp://127.0.0.1:%d\n"
             "store = oslo\nmatch = ^VIPPS +{amount}$\nidle_ms = 0\n", pr.port);
    FILE *f = fopen(e.conf, "a");
    fputs(sec, f);
    fclose(f);
    char log[700];
    snprintf(log, sizeof log, "%s/proxy.log", e.dir);
    const char *argv[] = { "kvitt", "-q", "--config", e.conf, "proxy", "bench", NULL };
    kvt_proc *px = kvt_spawn(argv, NULL, log);
    char *addr = px ? kvt_proc_readline(px, 60000) : NULL;
    if (!addr) {
        fprintf(stderr, "bench_proxy: the proxy did not start (see %s)\n", log);
        return 1;
    }
    int port = atoi(strrchr(addr, ':') + 1);
    free(addr);
    printf("kvitt proxy on 127.0.0.1:%d, printer 127.0.0.1:%d, simulator %s (50 ms per reply)\n", port,
           pr.port, e.url);

    double dm, dp, pm, pp;
    latency(&pr, pr.port, 1000, &dm, &dp);
    latency(&pr, port, 1000, &pm, &pp);
    printf("pass-through job (1 KiB + cut), 1000 jobs: straight median %.3f ms p99 %.3f ms; "
           "through the proxy median %.3f ms p99 %.3f ms\n", dm, dp, pm, pp);
    printf("  added latency: median %.3f ms, p99 %.3f ms   (target: median <= 1 ms)\n", pm - dm, pp - dp);

    double ds = throughput(&pr, pr.port, (size_t)64 << 20);
    double ps = throughput(&pr, port, (size_t)64 << 20);
    printf("pass-through throughput, 64 MiB of 32 KiB jobs on one connection: straight %.0f MiB/s, "
           "through the proxy %.0f MiB/s\n", ds, ps);

    /* trigger -> first slip byte */
    char *pay_path = kvt_path("%s/fixtures/proxy/till-epson-nb.bin", kvt_srcdir());
    unsigned char *pay;
    size_t pl;
    if (kvt_read_file(pay_path, &pay, &pl)) {
        fprintf(stderr, "bench_proxy: %s missing\n", pay_path);
        return 1;
    }
    enum { RUNS = 5 };
    double v[RUNS];
    int ok = 0;
    for (int i = 0; i < RUNS; i++) {
        pthread_mutex_lock(&pr.mu);
        int c0 = pr.nconn;
        pthread_mutex_unlock(&pr.mu);
        int fd = connect_to(port);
        write_all(fd, pay, pl);
        double t0 = now_ms();
        close(fd);
        double t1 = 0;
        for (int w = 0; w < 20000 && t1 == 0; w++) {
            pthread_mutex_lock(&pr.mu);
            t1 = c0 < pr.nconn ? pr.first[c0] : 0;
            pthread_mutex_unlock(&pr.mu);
            if (t1 == 0)
                usleep(500);
        }
        if (t1 > 0)
            v[ok++] = t1 - t0;
        /* the not-paid slip and the released receipt, then the next run */
        for (int w = 0; w < 400; w++) {
            pthread_mutex_lock(&pr.mu);
            int done = pr.nconn >= c0 + 3 && pr.first[c0 + 2] > 0;
            pthread_mutex_unlock(&pr.mu);
            if (done)
                break;
            usleep(50000);
        }
        usleep(300000);
    }
    if (ok) {
        qsort(v, (size_t)ok, sizeof *v, cmp_d);
        printf("trigger -> first slip byte (simulator 50 ms per reply), %d runs: median %.1f ms, "
               "min %.1f, max %.1f   (a payment create is 1 round trip; the first also fetches "
               "the token)\n", ok, v[ok / 2], v[0], v[ok - 1]);
    } else {
        printf("trigger -> first slip byte: no slip arrived (see %s)\n", log);
    }
    free(pay);
    free(pay_path);
    kvt_proc_stop(px, SIGTERM);
    kvf_stop(&e);
    pr.stop = 1;
    pthread_join(th, NULL);
    return 0;
}
