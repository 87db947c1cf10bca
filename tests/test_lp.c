/* test_lp.c - the lp:// transport (any character device) against real
 * character devices: a pseudo-terminal slave with a fake printer thread on
 * the master side (status read back like usblp on a bidirectional
 * printer), /dev/null (a sink that never answers), and a regular file
 * (refused). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
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
    kv_emu_state state;
    pthread_mutex_t mu;
    unsigned char rec[8192];
    size_t nrec;
} fake_t;

static void *printer_main(void *arg)
{
    fake_t *f = arg;
    kv_emu_scanner sc;
    memset(&sc, 0, sizeof sc);
    while (!f->stop) {
        struct pollfd p = { .fd = f->master, .events = POLLIN };
        if (poll(&p, 1, 20) <= 0)
            continue;
        unsigned char buf[1024], rep[64];
        ssize_t n = read(f->master, buf, sizeof buf);
        if (n <= 0)
            continue;
        pthread_mutex_lock(&f->mu);
        size_t k = (size_t)n < sizeof f->rec - f->nrec ? (size_t)n : sizeof f->rec - f->nrec;
        memcpy(f->rec + f->nrec, buf, k);
        f->nrec += k;
        pthread_mutex_unlock(&f->mu);
        size_t nr = kv_emu_scan(&sc, f->state, buf, (size_t)n, rep, sizeof rep);
        if (nr && write(f->master, rep, nr) < 0)
            break;
    }
    return NULL;
}

static void fake_start(fake_t *f, kv_emu_state st)
{
    struct termios raw;
    memset(f, 0, sizeof *f);
    assert_int_equal(openpty(&f->master, &f->slave, f->name, NULL, NULL), 0);
    /* lp:// never touches line settings (a printer device is not a tty),
     * so make this tty behave like one: raw, no echo, no CR/LF mapping. */
    assert_int_equal(tcgetattr(f->slave, &raw), 0);
    cfmakeraw(&raw);
    assert_int_equal(tcsetattr(f->slave, TCSANOW, &raw), 0);
    f->state = st;
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

static void test_lp__job_and_status_read_back(void **state)
{
    (void)state;
    fake_t f;
    fake_start(&f, KV_EMU_OK);
    char *uri = kvt_path("lp://%s", f.name);
    kv_transport *t = NULL;
    assert_int_equal(kv_transport_open(&t, uri, NULL), KV_T_OK);
    assert_string_equal(kv_transport_scheme(t), "lp");
    assert_true(kv_transport_can_read(t));
    kv_print_report r;
    static const unsigned char job[] = { 0x1b, '@', 'l', 'p', '\n', 0x1d, 'V', 0x00 };
    assert_int_equal(kv_transport_print_job(t, job, sizeof job, NULL, &r), KV_T_OK);
    assert_int_equal(r.before.state, KV_PS_READY);
    assert_int_equal(r.before.raw[KV_SQ_EOT1], 0x12);
    assert_int_equal(r.written, sizeof job);
    kv_transport_close(t);
    usleep(100000);
    static const unsigned char exp[] = {
        0x10, 0x04, 0x01, 0x10, 0x04, 0x02, 0x10, 0x04, 0x04,
        0x1b, '@', 'l', 'p', '\n', 0x1d, 'V', 0x00,
        0x10, 0x04, 0x01, 0x10, 0x04, 0x02, 0x10, 0x04, 0x04,
    };
    pthread_mutex_lock(&f.mu);
    kvt_assert_bytes(f.rec, f.nrec, exp, sizeof exp);
    pthread_mutex_unlock(&f.mu);
    free(uri);
    fake_stop(&f);
}

static void test_lp__paper_out_refused(void **state)
{
    (void)state;
    fake_t f;
    fake_start(&f, KV_EMU_PAPER_OUT);
    char *uri = kvt_path("lp://%s", f.name);
    kvt_result res;
    char *job = kvt_path("%s/j.bin", kvt_tmpdir());
    assert_int_equal(kvt_write_file(job, "\x1b@x\n", 4), 0);
    const char *argv[] = { "kvitt", "print", "--printer", uri, job, NULL };
    assert_int_equal(kvt_run(&res, NULL, NULL, 30, argv), 0);
    assert_int_equal(res.status, 4);
    assert_non_null(strstr(res.err, "nothing printed (0 of 4 bytes): paper out"));
    kvt_result_free(&res);
    free(job);
    free(uri);
    fake_stop(&f);
}

static void test_lp__dev_null_never_answers(void **state)
{
    (void)state;
    kv_transport *t = NULL;
    assert_int_equal(kv_transport_open(&t, "lp:///dev/null", NULL), KV_T_OK);
    size_t w = 0;
    assert_int_equal(kv_transport_write(t, "abc", 3, &w, 1000), KV_T_OK);
    assert_int_equal(w, 3);
    kv_printer_status_info s;
    assert_int_equal(kv_printer_status(t, 100, &s), KV_T_OK);
    assert_int_equal(s.state, KV_PS_UNKNOWN);
    kv_transport_close(t);
}

static void test_lp__regular_file_refused(void **state)
{
    (void)state;
    char *path = kvt_path("%s/not-a-device", kvt_tmpdir());
    assert_int_equal(kvt_write_file(path, "", 0), 0);
    char *uri = kvt_path("lp://%s", path);
    char err[256] = "";
    kv_transport_options o = KV_TRANSPORT_OPTIONS_INIT;
    o.errbuf = err;
    o.errlen = sizeof err;
    kv_transport *t = NULL;
    assert_int_equal(kv_transport_open(&t, uri, &o), KV_T_E_URI);
    assert_non_null(strstr(err, "not a character device"));
    assert_int_equal(kv_transport_open(&t, "lp:///dev/usb/kvitt-no-such-lp9", &o),
                     KV_T_E_NOT_FOUND);
    assert_non_null(strstr(err, "plugged in"));
    free(uri);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lp__job_and_status_read_back),
        cmocka_unit_test(test_lp__paper_out_refused),
        cmocka_unit_test(test_lp__dev_null_never_answers),
        cmocka_unit_test(test_lp__regular_file_refused),
    };
    return cmocka_run_group_tests_name("lp", tests, NULL, NULL);
}
