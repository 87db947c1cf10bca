/* test_serial.c - the serial:// transport through a real pseudo-terminal
 * pair (openpty).  A fake printer thread on the master side records every
 * byte and answers DLE EOT / GS r like an Epson in a chosen state (or stays
 * silent like a clone, or holds XOFF).  Line settings are checked on the
 * tty with tcgetattr. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "drivers/status.h"
#include "tests/lib/kvtest.h"

typedef struct {
    int master, slave;
    char name[128];
    pthread_t th;
    volatile int stop;
    int silent;          /* answer nothing (a clone) */
    int xoff_first;      /* send XOFF (0x13) before anything */
    kv_emu_state state;
    pthread_mutex_t mu;
    unsigned char rec[1 << 16];
    size_t nrec;
} fake_t;

static void *printer_main(void *arg)
{
    fake_t *f = arg;
    kv_emu_scanner sc;
    memset(&sc, 0, sizeof sc);
    if (f->xoff_first) {
        unsigned char x = 0x13;
        if (write(f->master, &x, 1) != 1)
            return NULL;
    }
    while (!f->stop) {
        struct pollfd p = { .fd = f->master, .events = POLLIN };
        if (poll(&p, 1, 20) <= 0)
            continue;
        unsigned char buf[4096], rep[64];
        ssize_t n = read(f->master, buf, sizeof buf);
        if (n <= 0)
            continue;
        pthread_mutex_lock(&f->mu);
        size_t room = sizeof f->rec - f->nrec;
        size_t k = (size_t)n < room ? (size_t)n : room;
        memcpy(f->rec + f->nrec, buf, k);
        f->nrec += k;
        pthread_mutex_unlock(&f->mu);
        size_t nr = kv_emu_scan(&sc, f->state, buf, (size_t)n, rep, sizeof rep);
        if (nr && !f->silent && write(f->master, rep, nr) < 0)
            break;
    }
    return NULL;
}

static void fake_start(fake_t *f, kv_emu_state st, int silent, int xoff)
{
    memset(f, 0, sizeof *f);
    assert_int_equal(openpty(&f->master, &f->slave, f->name, NULL, NULL), 0);
    /* The slave stays open in the test so the tty keeps its settings and
     * can be inspected with tcgetattr. */
    f->state = st;
    f->silent = silent;
    f->xoff_first = xoff;
    pthread_mutex_init(&f->mu, NULL);
    assert_int_equal(pthread_create(&f->th, NULL, printer_main, f), 0);
}

static void fake_stop(fake_t *f)
{
    f->stop = 1;
    pthread_join(f->th, NULL);
    close(f->master);
    close(f->slave);
    pthread_mutex_destroy(&f->mu);
}

static kv_transport *sopen(const char *uri)
{
    kv_transport *t = NULL;
    char err[256] = "";
    kv_transport_options o = KV_TRANSPORT_OPTIONS_INIT;
    o.errbuf = err;
    o.errlen = sizeof err;
    if (kv_transport_open(&t, uri, &o))
        fail_msg("open %s: %s", uri, err);
    return t;
}

static void test_serial__line_settings(void **state)
{
    (void)state;
    fake_t f;
    fake_start(&f, KV_EMU_OK, 0, 0);
    char *uri = kvt_path("serial://%s?baud=115200&flow=rtscts", f.name);
    kv_transport *t = sopen(uri);
    struct termios tio;
    assert_int_equal(tcgetattr(f.slave, &tio), 0);
    assert_int_equal(cfgetospeed(&tio), B115200);
    assert_int_equal(cfgetispeed(&tio), B115200);
    assert_int_equal(tio.c_cflag & CSIZE, CS8);       /* 8 data bits */
    assert_int_equal(tio.c_cflag & PARENB, 0);        /* no parity */
    assert_int_equal(tio.c_cflag & CSTOPB, 0);        /* 1 stop bit */
    assert_true(tio.c_cflag & CRTSCTS);
    assert_int_equal(tio.c_iflag & (IXON | IXOFF), 0);
    assert_int_equal(tio.c_lflag & (ECHO | ICANON | ISIG), 0); /* raw */
    assert_int_equal(tio.c_oflag & OPOST, 0);         /* no LF -> CRLF */
    kv_transport_close(t);
    free(uri);

    uri = kvt_path("serial://%s?baud=9600&flow=xonxoff", f.name);
    t = sopen(uri);
    assert_int_equal(tcgetattr(f.slave, &tio), 0);
    assert_int_equal(cfgetospeed(&tio), B9600);
    assert_int_equal(tio.c_cflag & CRTSCTS, 0);
    assert_int_equal(tio.c_iflag & (IXON | IXOFF), IXON | IXOFF);
    kv_transport_close(t);
    free(uri);

    uri = kvt_path("serial://%s", f.name); /* defaults: 9600, no flow control */
    t = sopen(uri);
    assert_int_equal(tcgetattr(f.slave, &tio), 0);
    assert_int_equal(cfgetospeed(&tio), B9600);
    assert_int_equal(tio.c_cflag & CRTSCTS, 0);
    assert_int_equal(tio.c_iflag & (IXON | IXOFF), 0);
    kv_transport_close(t);
    free(uri);
    fake_stop(&f);
}

static void test_serial__job_with_status(void **state)
{
    (void)state;
    fake_t f;
    fake_start(&f, KV_EMU_NEAR_END, 0, 0);
    char *uri = kvt_path("serial://%s?baud=19200", f.name);
    kv_transport *t = sopen(uri);
    /* Binary-unsafe bytes on purpose: LF, CR, NUL, 0xFF must pass raw. */
    static const unsigned char job[] = { 0x1b, '@', 'A', '\n', '\r', 0x00, 0xff, 0x1d, 'V', 0x01 };
    kv_print_report r;
    kv_print_options po = KV_PRINT_OPTIONS_INIT;
    po.status_timeout_ms = 1000;
    assert_int_equal(kv_transport_print_job(t, job, sizeof job, &po, &r), KV_T_OK);
    assert_int_equal(r.complete, 1);
    assert_int_equal(r.written, sizeof job);
    assert_int_equal(r.before.state, KV_PS_PAPER_NEAR_END);
    assert_int_equal(r.before.raw[KV_SQ_EOT4], 0x1E);
    assert_int_equal(r.after.state, KV_PS_PAPER_NEAR_END);
    kv_transport_close(t);
    usleep(100000);
    pthread_mutex_lock(&f.mu);
    static const unsigned char exp[] = {
        0x10, 0x04, 0x01, 0x10, 0x04, 0x02, 0x10, 0x04, 0x04,  /* status before */
        0x1b, '@', 'A', '\n', '\r', 0x00, 0xff, 0x1d, 'V', 0x01,
        0x10, 0x04, 0x01, 0x10, 0x04, 0x02, 0x10, 0x04, 0x04,  /* status after */
    };
    kvt_assert_bytes(f.rec, f.nrec, exp, sizeof exp);
    pthread_mutex_unlock(&f.mu);
    free(uri);
    fake_stop(&f);
}

static void test_serial__cover_open_refused(void **state)
{
    (void)state;
    fake_t f;
    fake_start(&f, KV_EMU_COVER_OPEN, 0, 0);
    char *uri = kvt_path("serial://%s?baud=9600", f.name);
    kv_transport *t = sopen(uri);
    kv_print_report r;
    assert_int_equal(kv_transport_print_job(t, "\x1b@x\n", 4, NULL, &r), KV_T_E_PRINTER);
    assert_int_equal(r.written, 0);
    assert_int_equal(r.before.state, KV_PS_COVER_OPEN);
    assert_non_null(strstr(r.message, "close the printer cover"));
    kv_transport_close(t);
    free(uri);
    fake_stop(&f);
}

static void test_serial__silent_clone_is_unknown(void **state)
{
    (void)state;
    fake_t f;
    fake_start(&f, KV_EMU_OK, 1, 0);
    char *uri = kvt_path("serial://%s?baud=9600", f.name);
    kv_transport *t = sopen(uri);
    kv_printer_status_info s;
    assert_int_equal(kv_printer_status(t, 100, &s), KV_T_OK);
    assert_int_equal(s.state, KV_PS_UNKNOWN);
    assert_int_equal(s.raw[KV_SQ_EOT1], -1);
    assert_int_equal(s.raw[KV_SQ_GSR1], -1); /* the fallback was tried too */
    /* Unknown does not block printing (clones), unless asked to. */
    kv_print_report r;
    kv_print_options po = KV_PRINT_OPTIONS_INIT;
    po.status_timeout_ms = 100;
    assert_int_equal(kv_transport_print_job(t, "hi\n", 3, &po, &r), KV_T_OK);
    assert_int_equal(r.written, 3);
    po.refuse_unknown = 1;
    assert_int_equal(kv_transport_print_job(t, "hi\n", 3, &po, &r), KV_T_E_PRINTER);
    assert_int_equal(r.written, 0);
    kv_transport_close(t);
    free(uri);
    fake_stop(&f);
}

static void test_serial__xoff_holds_the_job(void **state)
{
    (void)state;
    fake_t f;
    fake_start(&f, KV_EMU_OK, 0, 1);
    char *uri = kvt_path("serial://%s?baud=9600&flow=xonxoff", f.name);
    kv_transport *t = sopen(uri);
    usleep(100000); /* let the XOFF arrive */
    /* tcflush in open may have dropped an early XOFF: send it again now
     * that the port is configured. */
    unsigned char x = 0x13;
    assert_int_equal(write(f.master, &x, 1), 1);
    usleep(50000);
    size_t len = 256 * 1024, w = 0;
    unsigned char *big = calloc(1, len);
    assert_non_null(big);
    assert_int_equal(kv_transport_write(t, big, len, &w, 300), KV_T_E_TIMEOUT);
    assert_true(w < len);
    assert_non_null(strstr(kv_transport_errmsg(t), "flow control"));
    kv_transport_close(t);
    free(big);
    free(uri);
    fake_stop(&f);
}

static void test_serial__not_a_tty(void **state)
{
    (void)state;
    char err[256] = "";
    kv_transport *t = NULL;
    kv_transport_options o = KV_TRANSPORT_OPTIONS_INIT;
    o.errbuf = err;
    o.errlen = sizeof err;
    assert_int_equal(kv_transport_open(&t, "serial:///dev/null", &o), KV_T_E_URI);
    assert_non_null(strstr(err, "not a serial port"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial__line_settings),
        cmocka_unit_test(test_serial__job_with_status),
        cmocka_unit_test(test_serial__cover_open_refused),
        cmocka_unit_test(test_serial__silent_clone_is_unknown),
        cmocka_unit_test(test_serial__xoff_holds_the_job),
        cmocka_unit_test(test_serial__not_a_tty),
    };
    return cmocka_run_group_tests_name("serial", tests, NULL, NULL);
}
