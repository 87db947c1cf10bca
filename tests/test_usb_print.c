/*
 * test_usb_print.c - `kvitt print` and `kvitt selftest` to a USB printer,
 * end to end: the kvitt program (a real child process) opens
 * usb://04b8:0202 through kv_transport_open, asks DLE EOT status over bulk
 * OUT / bulk IN, and sends the job over the real libusb backend.
 *
 * Runs under umockdev-wrapper (tests/run.sh).  The TM-T88 is
 * fixtures/usb/tm-t88.umockdev; its side of the usbfs ioctls is played by
 * tests/lib/usbfake.c in this process (the only emulated part), which
 * answers DLE EOT n (10 04 n) with the status bytes the test sets.  Status
 * bytes from the ESC/POS reference, section 1.11: 0x12 idle and online;
 * DLE EOT 1 bit 3 (0x1A) offline; DLE EOT 2 bit 5 (0x32) paper end;
 * DLE EOT 4 bits 5+6 (0x72) no paper.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/kvtest.h"
#include "tests/lib/usbfake.h"

typedef kvt_usbworld world;

static int setup(void **state)
{
    world *w = kvt_usbworld_new(KVT_USB_T88);
    if (w && w->t88) kvt_usbdev_config(w->t88)->answer_status = 1;
    *state = w;
    return w ? 0 : -1;
}

static int teardown(void **state)
{
    kvt_usbworld_free(*state);
    return 0;
}

#define NEED_BED(w) do { \
        if (!(w)->bed) KVT_SKIP("not running under umockdev-wrapper"); \
        assert_non_null((w)->t88); \
    } while (0)

/* Where needle occurs in hay, or -1. */
static long find(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    for (size_t i = 0; m <= n && i + m <= n; i++)
        if (!memcmp(hay + i, needle, m)) return (long)i;
    return -1;
}

/* ESC @, text, LF, GS V 66 0 (feed and partial cut): written by hand. */
static const uint8_t JOB[] = { 0x1b, 0x40, 'K', 'v', 'i', 't', 't', 'e', 'r', 'i', 'n', 'g', 0x0a,
                               0x1d, 0x56, 0x42, 0x00 };

static char *write_job(void)
{
    char *path = kvt_path("%s/job.bin", kvt_tmpdir());
    assert_int_equal(kvt_write_file(path, JOB, sizeof JOB), 0);
    return path;
}

static void test_usb_print__job_reaches_printer(void **state)
{
    world *w = *state;
    NEED_BED(w);
    char *job = write_job();
    kvt_result r;
    const char *argv[] = { "kvitt", "print", job, "--printer", "usb://04b8:0202",
                           "--status-timeout-ms", "300", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
    size_t got = 0;
    const uint8_t *rx = kvt_usbdev_received(w->t88, &got);
    long at = find(rx, got, JOB, sizeof JOB);
    assert_true(at >= 0);
    /* the status was asked before the job: DLE EOT 1 precedes it */
    const uint8_t eot1[3] = { 0x10, 0x04, 0x01 };
    long q = find(rx, got, eot1, 3);
    assert_true(q >= 0 && q < at);
    kvt_result_free(&r);
    free(job);
}

/* Paper out before the job: nothing of the job is sent, exit 4, and the
 * message says why. */
static void test_usb_print__paper_out_refuses(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_usbdev_cfg *c = kvt_usbdev_config(w->t88);
    c->eot[1] = 0x1a;   /* offline */
    c->eot[2] = 0x32;   /* paper end stopped printing */
    c->eot[4] = 0x72;   /* no paper */
    char *job = write_job();
    kvt_result r;
    const char *argv[] = { "kvitt", "print", job, "--printer", "usb://04b8:0202",
                           "--status-timeout-ms", "300", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "paper"));
    size_t got = 0;
    const uint8_t *rx = kvt_usbdev_received(w->t88, &got);
    assert_int_equal(find(rx, got, JOB, sizeof JOB), -1);
    kvt_result_free(&r);
    free(job);
}

/* Unplugged in the middle of the job: exit 4, and the message says how
 * much went out. */
static void test_usb_print__unplug_reports_not_printed(void **state)
{
    world *w = *state;
    NEED_BED(w);
    size_t n = 20000;
    uint8_t *big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = (uint8_t)('A' + i % 26);
    char *path = kvt_path("%s/big.bin", kvt_tmpdir());
    assert_int_equal(kvt_write_file(path, big, n), 0);
    kvt_usbdev_config(w->t88)->unplug_after = 5000;
    kvt_result r;
    const char *argv[] = { "kvitt", "print", path, "--printer", "usb://04b8:0202", "--no-status", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "5000"));
    kvt_result_free(&r);
    free(path);
    free(big);
}

/* The cure reaches the user through `kvitt print` too. */
static void test_usb_print__not_found_lists_attached(void **state)
{
    world *w = *state;
    NEED_BED(w);
    char *job = write_job();
    kvt_result r;
    const char *argv[] = { "kvitt", "print", job, "--printer", "usb://1234:5678", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "04b8:0202"));
    kvt_result_free(&r);
    free(job);
}

/* Run argv as an ordinary user (nobody when we are root); stderr is
 * returned (malloc'd) and the exit status stored in *status. */
static char *run_as_user(const char *const argv[], int *status)
{
    int fd[2];
    if (pipe(fd) != 0) return NULL;
    pid_t pid = fork();
    if (pid < 0) return NULL;
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 1);
        if (chdir("/") != 0) _exit(126);
        if (getuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
            _exit(125);
        execv(kvt_bin(), (char *const *)argv);
        _exit(127);
    }
    close(fd[1]);
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while (buf && (r = read(fd[0], buf + n, cap - n - 1)) > 0) n += (size_t)r;
    close(fd[0]);
    int ws = 0;
    waitpid(pid, &ws, 0);
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    if (buf) buf[n] = '\0';
    return buf;
}

/* Without the udev rule an ordinary user gets "no permission" from
 * `kvitt print`, with the cure: the rule file, the make target and the lp
 * group. */
static void test_usb_print__no_permission_names_the_cure(void **state)
{
    world *w = *state;
    NEED_BED(w);
    assert_int_equal(kvt_usbbed_restrict_nodes(w->bed), 0);
    char path[] = "/tmp/kvitt-usbjob-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, JOB, sizeof JOB), (ssize_t)sizeof JOB);
    assert_int_equal(fchmod(fd, 0644), 0);
    close(fd);
    const char *argv[] = { "kvitt", "print", path, "--printer", "usb://04b8:0202", NULL };
    int st = -1;
    char *err = run_as_user(argv, &st);
    unlink(path);
    assert_non_null(err);
    if (st != 4) fail_msg("exit %d: %s", st, err);
    assert_non_null(strstr(err, "no permission"));
    assert_non_null(strstr(err, "udev/60-kvitt-printers.rules"));
    assert_non_null(strstr(err, "make install-udev"));
    assert_non_null(strstr(err, "usermod -aG lp"));
    size_t got = 99;
    kvt_usbdev_received(w->t88, &got);
    assert_int_equal(got, 0);
    free(err);
}

/* selftest over USB: the page goes out and ends with a cut (GS V). */
static void test_usb_print__selftest(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_result r;
    const char *argv[] = { "kvitt", "selftest", "--printer", "usb://04b8:0202", "--profile",
                           "epson-tm-t88", "--status-timeout-ms", "300", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, argv), 0);
    if (r.status != 0) fail_msg("exit %d: %s%s", r.status, r.out, r.err);
    size_t got = 0;
    const uint8_t *rx = kvt_usbdev_received(w->t88, &got);
    const uint8_t init[2] = { 0x1b, 0x40 };   /* ESC @ */
    const uint8_t cut[2] = { 0x1d, 0x56 };    /* GS V */
    assert_true(find(rx, got, init, 2) >= 0);
    assert_true(find(rx, got, cut, 2) >= 0);
    kvt_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usb_print__job_reaches_printer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_print__paper_out_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_print__unplug_reports_not_printed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_print__not_found_lists_attached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_print__no_permission_names_the_cure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_print__selftest, setup, teardown),
    };
    return cmocka_run_group_tests_name("usb_print", tests, NULL, NULL);
}
