/* test_tcp.c - the tcp:// transport against a real `kvitt vprinter` process
 * on loopback: status bytes in each state, state changes by SIGUSR1 and by
 * the control file, paper out before a job, a drop in the middle of a job,
 * a slow printer, several connections, clean shutdown. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "drivers/status.h"
#include "tests/lib/kvtest.h"

typedef struct {
    kvt_proc *proc;
    char *uri;
    char *dir;
} vp_t;

static int seq;

/* Start `kvitt vprinter --listen 127.0.0.1:0 --out DIR extra...` and read
 * the URI it prints first. */
static void vp_start(vp_t *v, const char *const extra[])
{
    const char *argv[24];
    int n = 0;
    v->dir = kvt_path("%s/vp%d", kvt_tmpdir(), ++seq);
    char *log = kvt_path("%s/vp%d.log", kvt_tmpdir(), seq);
    argv[n++] = "kvitt";
    argv[n++] = "vprinter";
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--out";
    argv[n++] = v->dir;
    for (int i = 0; extra && extra[i]; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    v->proc = kvt_spawn(argv, NULL, log);
    assert_non_null(v->proc);
    v->uri = kvt_proc_readline(v->proc, 10000);
    if (!v->uri)
        fail_msg("vprinter printed no URI; see %s", log);
    assert_true(!strncmp(v->uri, "tcp://127.0.0.1:", 16));
    free(log);
}

static void vp_stop(vp_t *v)
{
    int ws = kvt_proc_stop(v->proc, SIGTERM);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0); /* clean exit on SIGTERM */
    free(v->uri);
    free(v->dir);
}

static kv_transport *topen(const char *uri)
{
    kv_transport *t = NULL;
    char err[256] = "";
    kv_transport_options o = KV_TRANSPORT_OPTIONS_INIT;
    o.errbuf = err;
    o.errlen = sizeof err;
    o.open_timeout_ms = 2000;
    o.io_timeout_ms = 5000;
    if (kv_transport_open(&t, uri, &o))
        fail_msg("open %s: %s", uri, err);
    return t;
}

/* Send one 3-byte query and return the reply byte (-1 none in 2 s). */
static int raw_query(kv_transport *t, const unsigned char q[3])
{
    size_t w;
    unsigned char r;
    assert_int_equal(kv_transport_write(t, q, 3, &w, 2000), KV_T_OK);
    ssize_t n = kv_transport_read(t, &r, 1, 2000);
    return n == 1 ? r : -1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Poll the printer's state until it is `want` (at most ~5 s). */
static kv_printer_state wait_state(const char *uri, kv_printer_state want)
{
    kv_printer_status_info s = { 0 };
    for (int i = 0; i < 100; i++) {
        kv_transport *t = topen(uri);
        assert_int_equal(kv_printer_status(t, 1000, &s), KV_T_OK);
        kv_transport_close(t);
        if (s.state == want)
            break;
        sleep_ms(50);
    }
    return s.state;
}

/* Switch the running vprinter to state `name` through its control file
 * (replaced atomically) and wait until it answers accordingly. */
static void set_state(const vp_t *v, const char *name, kv_printer_state want)
{
    char *tmp = kvt_path("%s/state.tmp", v->dir), *ctl = kvt_path("%s/state", v->dir);
    assert_int_equal(kvt_write_file(tmp, name, strlen(name)), 0);
    assert_int_equal(rename(tmp, ctl), 0);
    assert_int_equal(wait_state(v->uri, want), want);
    free(tmp);
    free(ctl);
}

static int count_jobs(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".bin") && e->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n;
}

/* Wait until DIR/0001.bin exists; return its size (-1 if never). */
static long wait_job(const char *dir, int n)
{
    char *p = kvt_path("%s/%04d.bin", dir, n);
    struct stat sb;
    long r = -1;
    for (int i = 0; i < 200; i++) {
        if (stat(p, &sb) == 0) {
            r = (long)sb.st_size;
            break;
        }
        sleep_ms(25);
    }
    free(p);
    return r;
}

/* The exact reply bytes per state, written out from the bit tables of
 * ../shared/docs/escpos.md 1.11: DLE EOT fixed bits 0x12; EOT1 bit 3
 * offline; EOT2 bit 2 cover, bit 5 paper end stop, bit 6 error; EOT3 bit 3
 * auto-cutter; EOT4 bits 2+3 near end (0x1E), bits 5+6 paper end (0x72);
 * GS r 1 bits 0-1 near end, bits 2-3 paper end. */
static void test_tcp__status_bytes_each_state(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        unsigned char eot[4], gsr;
        kv_printer_state ps;
    } cases[] = {
        { "ok",             { 0x12, 0x12, 0x12, 0x12 }, 0x00, KV_PS_READY },
        { "paper-out",      { 0x1A, 0x32, 0x12, 0x72 }, 0x0C, KV_PS_PAPER_OUT },
        { "paper-near-end", { 0x12, 0x12, 0x12, 0x1E }, 0x03, KV_PS_PAPER_NEAR_END },
        { "cover-open",     { 0x1A, 0x16, 0x12, 0x12 }, 0x00, KV_PS_COVER_OPEN },
        { "offline",        { 0x1A, 0x12, 0x12, 0x12 }, 0x00, KV_PS_OFFLINE },
        { "error",          { 0x1A, 0x52, 0x1A, 0x12 }, 0x00, KV_PS_ERROR },
    };
    /* One emulator, switched through every state (--state itself is
     * covered by the paper-out tests below). */
    vp_t v;
    vp_start(&v, NULL);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        set_state(&v, cases[c].name, cases[c].ps);
        kv_transport *t = topen(v.uri);
        for (int n = 1; n <= 4; n++) {
            const unsigned char q[3] = { 0x10, 0x04, (unsigned char)n }; /* DLE EOT n */
            int got = raw_query(t, q);
            if (got != cases[c].eot[n - 1])
                fail_msg("state %s: DLE EOT %d answered 0x%02X, want 0x%02X", cases[c].name,
                         n, (unsigned)got, cases[c].eot[n - 1]);
        }
        const unsigned char gsr[3] = { 0x1D, 0x72, 0x01 }; /* GS r 1 */
        assert_int_equal(raw_query(t, gsr), cases[c].gsr);
        kv_printer_status_info s;
        assert_int_equal(kv_printer_status(t, 1000, &s), KV_T_OK);
        assert_int_equal(s.state, cases[c].ps);
        kv_transport_close(t);
    }
    vp_stop(&v);
}

static void test_tcp__sigusr1_and_control_file(void **state)
{
    (void)state;
    vp_t v;
    vp_start(&v, NULL);
    assert_int_equal(wait_state(v.uri, KV_PS_READY), KV_PS_READY);
    /* SIGUSR1 cycles ok -> paper-out -> paper-near-end */
    kill(kvt_proc_pid(v.proc), SIGUSR1);
    assert_int_equal(wait_state(v.uri, KV_PS_PAPER_OUT), KV_PS_PAPER_OUT);
    kill(kvt_proc_pid(v.proc), SIGUSR1);
    assert_int_equal(wait_state(v.uri, KV_PS_PAPER_NEAR_END), KV_PS_PAPER_NEAR_END);
    /* The control file DIR/state, replaced atomically. */
    char *tmp = kvt_path("%s/state.tmp", v.dir), *ctl = kvt_path("%s/state", v.dir);
    assert_int_equal(kvt_write_file(tmp, "cover-open\n", 11), 0);
    assert_int_equal(rename(tmp, ctl), 0);
    assert_int_equal(wait_state(v.uri, KV_PS_COVER_OPEN), KV_PS_COVER_OPEN);
    assert_int_equal(kvt_write_file(tmp, "ok", 2), 0);
    assert_int_equal(rename(tmp, ctl), 0);
    assert_int_equal(wait_state(v.uri, KV_PS_READY), KV_PS_READY);
    /* Status-only connections are not jobs. */
    assert_int_equal(count_jobs(v.dir), 0);
    free(tmp);
    free(ctl);
    vp_stop(&v);
}

static void test_tcp__print_refused_when_paper_out(void **state)
{
    (void)state;
    vp_t v;
    const char *extra[] = { "--state", "paper-out", NULL };
    vp_start(&v, extra);
    char *job = kvt_path("%s/slip.bin", kvt_tmpdir());
    assert_int_equal(kvt_write_file(job, "\x1b@Betal med Vipps\n", 18), 0);
    kvt_result r;
    const char *argv[] = { "kvitt", "print", job, "--printer", v.uri, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "nothing printed (0 of 18 bytes)"));
    assert_non_null(strstr(r.err, "paper out"));
    kvt_result_free(&r);
    sleep_ms(300);
    assert_int_equal(count_jobs(v.dir), 0);
    free(job);
    vp_stop(&v);
}

static void test_tcp__print_ok_records_wire_bytes(void **state)
{
    (void)state;
    vp_t v;
    vp_start(&v, NULL);
    char *job = kvt_path("%s/ok.bin", kvt_tmpdir());
    assert_int_equal(kvt_write_file(job, "\x1b@hello\n\x1dV\x01", 11), 0);
    kvt_result r;
    const char *argv[] = { "kvitt", "print", job, "--printer", v.uri, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "printed: all 11 bytes sent; printer ready"));
    kvt_result_free(&r);
    /* On the wire: status before (DLE EOT 1, 2, 4), the job, status after. */
    static const unsigned char exp[] = {
        0x10, 0x04, 0x01, 0x10, 0x04, 0x02, 0x10, 0x04, 0x04,
        0x1b, '@', 'h', 'e', 'l', 'l', 'o', '\n', 0x1d, 'V', 0x01,
        0x10, 0x04, 0x01, 0x10, 0x04, 0x02, 0x10, 0x04, 0x04,
    };
    assert_int_equal(wait_job(v.dir, 1), (long)sizeof exp);
    char *p = kvt_path("%s/0001.bin", v.dir);
    unsigned char *b;
    size_t n;
    assert_int_equal(kvt_read_file(p, &b, &n), 0);
    kvt_assert_bytes(b, n, exp, sizeof exp);
    free(b);
    free(p);
    free(job);
    vp_stop(&v);
}

static void test_tcp__drop_mid_job(void **state)
{
    (void)state;
    vp_t v;
    const char *extra[] = { "--drop-after-bytes", "1000", NULL };
    vp_start(&v, extra);
    size_t len = 8u << 20; /* larger than any loopback socket buffers */
    unsigned char *big = malloc(len);
    assert_non_null(big);
    memset(big, 'A', len);
    kv_transport *t = topen(v.uri);
    kv_print_report rep;
    kv_print_options po = KV_PRINT_OPTIONS_INIT;
    po.write_timeout_ms = 5000;
    int st = kv_transport_print_job(t, big, len, &po, &rep);
    assert_true(st == KV_T_E_DISCONNECTED || st == KV_T_E_IO);
    assert_int_equal(rep.attempted, 1);
    assert_int_equal(rep.complete, 0);
    assert_true(rep.written < len);
    char want[96];
    snprintf(want, sizeof want, "NOT fully printed: %zu of %zu bytes sent", rep.written, len);
    assert_non_null(strstr(rep.message, want));
    kv_transport_close(t);
    /* The printer kept exactly what it read before dropping. */
    assert_int_equal(wait_job(v.dir, 1), 1000);

    /* The CLI says the same for the person at the till. */
    char *job = kvt_path("%s/big.bin", kvt_tmpdir());
    assert_int_equal(kvt_write_file(job, big, len), 0);
    kvt_result r;
    const char *argv[] = { "kvitt", "print", job, "--printer", v.uri, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "NOT fully printed"));
    assert_non_null(strstr(r.err, "not sent"));
    kvt_result_free(&r);
    free(job);
    free(big);
    vp_stop(&v);
}

static void test_tcp__slow_printer(void **state)
{
    (void)state;
    /* A printer that stalls (reads 1 KiB every 2 s): a write that sees no
     * progress for 300 ms times out and says how much went out. */
    vp_t v;
    const char *extra[] = { "--delay-ms", "2000", NULL };
    vp_start(&v, extra);
    size_t len = 16u << 20;
    unsigned char *big = malloc(len);
    assert_non_null(big);
    memset(big, 'B', len);
    kv_transport *t = topen(v.uri);
    size_t w = 0;
    assert_int_equal(kv_transport_write(t, big, len, &w, 300), KV_T_E_TIMEOUT);
    assert_true(w < len);
    assert_non_null(strstr(kv_transport_errmsg(t), "then nothing for 300 ms"));
    kv_transport_close(t); /* resets: the cut-off job is filed with what arrived */
    assert_true(wait_job(v.dir, 1) < (long)len);
    vp_stop(&v);

    /* A slow but steady printer (1 KiB every 20 ms): the timeout bounds
     * the time without progress, not the whole job, so 40 000 bytes
     * (about 0.8 s) get through with a 400 ms timeout. */
    const char *steady[] = { "--delay-ms", "20", NULL };
    vp_start(&v, steady);
    t = topen(v.uri);
    assert_int_equal(kv_transport_write(t, big, 40000, &w, 400), KV_T_OK);
    assert_int_equal(w, 40000);
    kv_transport_close(t);
    assert_int_equal(wait_job(v.dir, 1), 40000);
    free(big);
    vp_stop(&v);
}

static void test_tcp__two_connections_two_jobs(void **state)
{
    (void)state;
    vp_t v;
    vp_start(&v, NULL);
    kv_transport *a = topen(v.uri), *b = topen(v.uri);
    size_t w;
    assert_int_equal(kv_transport_write(a, "first-", 6, &w, -1), KV_T_OK);
    assert_int_equal(kv_transport_write(b, "second", 6, &w, -1), KV_T_OK);
    assert_int_equal(kv_transport_write(a, "A", 1, &w, -1), KV_T_OK);
    kv_transport_close(a);
    assert_int_equal(wait_job(v.dir, 1), 7);
    kv_transport_close(b);
    assert_int_equal(wait_job(v.dir, 2), 6);
    char *p1 = kvt_path("%s/0001.bin", v.dir), *p2 = kvt_path("%s/0002.bin", v.dir);
    unsigned char *x;
    size_t n;
    assert_int_equal(kvt_read_file(p1, &x, &n), 0);
    kvt_assert_bytes(x, n, "first-A", 7);
    free(x);
    assert_int_equal(kvt_read_file(p2, &x, &n), 0);
    kvt_assert_bytes(x, n, "second", 6);
    free(x);
    free(p1);
    free(p2);
    vp_stop(&v);
}

static void test_tcp__refused_and_peer_close(void **state)
{
    (void)state;
    char uri[64], err[256] = "";
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%d", kvt_free_port());
    kv_transport *t = NULL;
    kv_transport_options o = KV_TRANSPORT_OPTIONS_INIT;
    o.errbuf = err;
    o.errlen = sizeof err;
    assert_int_equal(kv_transport_open(&t, uri, &o), KV_T_E_BUSY);
    assert_non_null(strstr(err, "refused"));

    vp_t v;
    vp_start(&v, NULL);
    t = topen(v.uri);
    int ws = kvt_proc_stop(v.proc, SIGTERM); /* printer goes away */
    assert_true(WIFEXITED(ws));
    unsigned char c;
    ssize_t n = kv_transport_read(t, &c, 1, 2000);
    assert_int_equal(n, KV_T_E_DISCONNECTED);
    kv_printer_status_info s;
    assert_int_equal(kv_printer_status(t, 200, &s), KV_T_E_DISCONNECTED);
    kv_transport_close(t);
    free(v.uri);
    free(v.dir);
}

static void test_tcp__vprinter_bad_args(void **state)
{
    (void)state;
    kvt_result r;
    const char *a1[] = { "kvitt", "vprinter", "--listen", "nonsense", "--out", "x", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, a1), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "HOST:PORT"));
    kvt_result_free(&r);
    const char *a2[] = { "kvitt", "vprinter", "--listen", "127.0.0.1:0", "--out", "x",
                         "--state", "jammed", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, a2), 0);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
    const char *a3[] = { "kvitt", "print", "/nonexistent.bin", "--printer", "tcp://x", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, a3), 0);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
    const char *a4[] = { "kvitt", "vprinter", "--help", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, a4), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "usage: kvitt vprinter"));
    kvt_result_free(&r);
}

static int has(const unsigned char *b, size_t n, const void *needle, size_t k)
{
    return memmem(b, n, needle, k) != NULL;
}

/* `kvitt selftest` against the vprinter: the page reaches the printer with
 * the code-page sample, a QR, a barcode and a cut. */
static void test_tcp__selftest_ok(void **state)
{
    (void)state;
    vp_t v;
    const char *vx[] = { "--png", "--profile", "epson-tm-t20", NULL };
    vp_start(&v, vx);
    kvt_result r;
    const char *argv[] = { "kvitt", "selftest", "--printer", v.uri, "--profile",
                           "epson-tm-t20", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "status before: ready (DLE EOT 1=0x12"));
    assert_non_null(strstr(r.out, "selftest: OK"));
    kvt_result_free(&r);
    assert_true(wait_job(v.dir, 1) > 0);
    char *p = kvt_path("%s/0001.bin", v.dir);
    unsigned char *b;
    size_t n;
    assert_int_equal(kvt_read_file(p, &b, &n), 0);
    /* PC858 (ESC t 19 = 1B 74 13) letters per ../shared/docs/escpos.md 7:
     * æ 91, ø 9B, å 86, Æ 92, Ø 9D, Å 8F, € D5. */
    static const unsigned char cp[] = { 0x1b, 0x74, 0x13 };
    static const unsigned char nordic[] = { 0x91, 0x9b, 0x86, ' ', 0x92, 0x9d, 0x8f, ' ', 0xd5 };
    static const unsigned char qr_print[] = { 0x1d, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x51, 0x30 };
    static const unsigned char code128[] = { 0x1d, 0x6b, 0x49 }; /* GS k 73 */
    assert_true(has(b, n, cp, sizeof cp));
    assert_true(has(b, n, nordic, sizeof nordic));
    assert_true(has(b, n, "epson-tm-t20", 12));
    assert_true(has(b, n, qr_print, sizeof qr_print));
    assert_true(has(b, n, code128, sizeof code128));
    assert_true(has(b, n, "\x1dV", 2)); /* GS V cut */
    free(b);
    free(p);
    /* --png: the page rendered beside the job, 576 dots wide (TM-T20). */
    p = kvt_path("%s/0001.png", v.dir);
    int got = -1;
    for (int i = 0; i < 200 && got; i++) {
        got = kvt_read_file(p, &b, &n);
        if (got)
            sleep_ms(25);
    }
    assert_int_equal(got, 0);
    assert_true(n > 24);
    assert_int_equal((b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19]), 576);
    free(b);
    free(p);
    vp_stop(&v);
}

/* Each problem state: exit 1, the problem named, nothing printed. */
static void test_tcp__selftest_names_the_problem(void **state)
{
    (void)state;
    static const struct { const char *st, *words; } cases[] = {
        { "paper-out", "paper out: load a new roll" },
        { "cover-open", "close the printer cover" },
        { "offline", "printer offline" },
    };
    static const kv_printer_state ps[] = { KV_PS_PAPER_OUT, KV_PS_COVER_OPEN, KV_PS_OFFLINE };
    vp_t v;
    vp_start(&v, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        set_state(&v, cases[i].st, ps[i]);
        kvt_result r;
        const char *argv[] = { "kvitt", "selftest", "--printer", v.uri, NULL };
        assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
        assert_int_equal(r.status, 1);
        if (!strstr(r.err, cases[i].words) || !strstr(r.err, cases[i].st))
            fail_msg("state %s: stderr '%s'", cases[i].st, r.err);
        assert_non_null(strstr(r.out, "sent: 0 of"));
        kvt_result_free(&r);
    }
    vp_stop(&v);
    kvt_result r;
    const char *bad[] = { "kvitt", "selftest", "--printer", "virtual:x", "--profile", "nope", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, bad), 0);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
}

/* IPv6 literal URIs end to end (skipped where the host has no ::1). */
static void test_tcp__ipv6_loopback(void **state)
{
    (void)state;
    char *dir = kvt_path("%s/vp6", kvt_tmpdir());
    char *log = kvt_path("%s/vp6.log", kvt_tmpdir());
    const char *argv[] = { "kvitt", "vprinter", "--listen", "[::1]:0", "--out", dir, NULL };
    kvt_proc *p = kvt_spawn(argv, NULL, log);
    assert_non_null(p);
    char *uri = kvt_proc_readline(p, 10000);
    if (!uri) {
        kvt_proc_stop(p, SIGTERM);
        free(dir);
        free(log);
        KVT_SKIP("no IPv6 loopback here");
        return;
    }
    assert_true(!strncmp(uri, "tcp://[::1]:", 12));
    kv_transport *t = topen(uri);
    kv_printer_status_info s;
    assert_int_equal(kv_printer_status(t, 1000, &s), KV_T_OK);
    assert_int_equal(s.state, KV_PS_READY);
    size_t w;
    assert_int_equal(kv_transport_write(t, "v6\n", 3, &w, -1), KV_T_OK);
    kv_transport_close(t);
    assert_true(wait_job(dir, 1) > 0);
    int ws = kvt_proc_stop(p, SIGTERM);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
    free(uri);
    free(dir);
    free(log);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp__status_bytes_each_state),
        cmocka_unit_test(test_tcp__sigusr1_and_control_file),
        cmocka_unit_test(test_tcp__print_refused_when_paper_out),
        cmocka_unit_test(test_tcp__print_ok_records_wire_bytes),
        cmocka_unit_test(test_tcp__drop_mid_job),
        cmocka_unit_test(test_tcp__slow_printer),
        cmocka_unit_test(test_tcp__two_connections_two_jobs),
        cmocka_unit_test(test_tcp__refused_and_peer_close),
        cmocka_unit_test(test_tcp__vprinter_bad_args),
        cmocka_unit_test(test_tcp__selftest_ok),
        cmocka_unit_test(test_tcp__selftest_names_the_problem),
        cmocka_unit_test(test_tcp__ipv6_loopback),
    };
    return cmocka_run_group_tests_name("tcp", tests, NULL, NULL);
}
