/* test_virtual.c - the virtual:DIR transport and its job store: numbering
 * (also with concurrent writer processes), fault injection, emulated
 * status, and the status-before/write/status-after job helper. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/status.h"
#include "drivers/virtual.h"
#include "tests/lib/kvtest.h"

static char *fresh_dir(const char *name)
{
    return kvt_path("%s/%s", kvt_tmpdir(), name);
}

static kv_transport *open_ok(const char *uri)
{
    kv_transport *t = NULL;
    char err[256] = "";
    kv_transport_options o = KV_TRANSPORT_OPTIONS_INIT;
    o.errbuf = err;
    o.errlen = sizeof err;
    int st = kv_transport_open(&t, uri, &o);
    if (st)
        fail_msg("open %s: %d %s", uri, st, err);
    return t;
}

static void assert_file(const char *path, const void *exp, size_t len)
{
    unsigned char *b = NULL;
    size_t n = 0;
    if (kvt_read_file(path, &b, &n))
        fail_msg("cannot read %s", path);
    kvt_assert_bytes(b, n, exp, len);
    free(b);
}

static int count_jobs(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".bin"))
            n++;
    if (d)
        closedir(d);
    return n;
}

static void test_virtual__jobs_are_numbered(void **state)
{
    (void)state;
    char *dir = fresh_dir("num/deeper");
    char *uri = kvt_path("virtual:%s", dir);
    kv_transport *t = open_ok(uri);
    size_t w = 0;
    assert_null(kv_transport_virtual_last_job(t));
    assert_int_equal(kv_transport_write(t, "\x1b@one\n", 6, &w, -1), KV_T_OK);
    assert_int_equal(w, 6);
    assert_int_equal(kv_transport_write(t, "more\n", 5, &w, -1), KV_T_OK);
    assert_int_equal(kv_transport_end_job(t), KV_T_OK);
    char *p1 = kvt_path("%s/0001.bin", dir);
    assert_string_equal(kv_transport_virtual_last_job(t), p1);
    assert_file(p1, "\x1b@one\nmore\n", 11);
    assert_int_equal(kv_transport_end_job(t), KV_T_OK); /* empty job: no file */
    assert_int_equal(kv_transport_write(t, "two", 3, &w, -1), KV_T_OK);
    kv_transport_close(t); /* close files the pending job */
    char *p2 = kvt_path("%s/0002.bin", dir);
    assert_file(p2, "two", 3);
    assert_int_equal(count_jobs(dir), 2);

    /* A new handle continues after the highest number. */
    t = open_ok(uri);
    assert_int_equal(kv_transport_write(t, "3", 1, &w, -1), KV_T_OK);
    assert_int_equal(kv_transport_end_job(t), KV_T_OK);
    char *p3 = kvt_path("%s/0003.bin", dir);
    assert_string_equal(kv_transport_virtual_last_job(t), p3);
    kv_transport_close(t);
    free(p1); free(p2); free(p3); free(uri); free(dir);
}

/* Four processes file 25 jobs each into one directory at the same time:
 * 100 distinct numbers, every file intact. */
static void test_virtual__concurrent_writers(void **state)
{
    (void)state;
    enum { PROCS = 4, JOBS = 25 };
    char *dir = fresh_dir("concurrent");
    char *uri = kvt_path("virtual:%s", dir);
    mkdir(dir, 0755);
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            kv_transport *t = NULL;
            if (kv_transport_open(&t, uri, NULL))
                _exit(1);
            for (int j = 0; j < JOBS; j++) {
                char line[64];
                int n = snprintf(line, sizeof line, "proc %d job %02d\n", p, j);
                size_t w;
                if (kv_transport_write(t, line, (size_t)n, &w, -1) || kv_transport_end_job(t))
                    _exit(2);
            }
            kv_transport_close(t);
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int ws;
        waitpid(pids[p], &ws, 0);
        assert_true(WIFEXITED(ws));
        assert_int_equal(WEXITSTATUS(ws), 0);
    }
    assert_int_equal(count_jobs(dir), PROCS * JOBS);
    int seen[PROCS][JOBS];
    memset(seen, 0, sizeof seen);
    for (int n = 1; n <= PROCS * JOBS; n++) {
        char *path = kvt_path("%s/%04d.bin", dir, n);
        unsigned char *b;
        size_t len;
        assert_int_equal(kvt_read_file(path, &b, &len), 0);
        int p, j;
        assert_int_equal(sscanf((char *)b, "proc %d job %d\n", &p, &j), 2);
        assert_int_equal(len, 14); /* "proc P job JJ\n" */
        seen[p][j]++;
        free(b);
        free(path);
    }
    for (int p = 0; p < PROCS; p++)
        for (int j = 0; j < JOBS; j++)
            assert_int_equal(seen[p][j], 1);
    free(uri);
    free(dir);
}

static void test_virtual__fault_transient(void **state)
{
    (void)state;
    char *dir = fresh_dir("fault-t");
    char *uri = kvt_path("virtual:%s?fail_after=2", dir);
    kv_transport *t = open_ok(uri);
    size_t w = 99;
    assert_int_equal(kv_transport_write(t, "a", 1, &w, -1), KV_T_OK);
    assert_int_equal(kv_transport_write(t, "b", 1, &w, -1), KV_T_OK);
    assert_int_equal(kv_transport_write(t, "c", 1, &w, -1), KV_T_E_IO); /* call 3 fails */
    assert_int_equal(w, 0);
    assert_non_null(strstr(kv_transport_errmsg(t), "injected fault on write call 3"));
    assert_int_equal(kv_transport_write(t, "d", 1, &w, -1), KV_T_OK); /* transient */
    assert_int_equal(w, 1);
    kv_transport_close(t);
    char *p = kvt_path("%s/0001.bin", dir);
    assert_file(p, "abd", 3);
    free(p); free(uri); free(dir);
}

static void test_virtual__fault_persistent_partial(void **state)
{
    (void)state;
    char *dir = fresh_dir("fault-p");
    char *uri = kvt_path("virtual:%s?fail_after=1&fail=persistent&fail_bytes=4", dir);
    kv_transport *t = open_ok(uri);
    size_t w = 0;
    assert_int_equal(kv_transport_write(t, "head|", 5, &w, -1), KV_T_OK);
    assert_int_equal(kv_transport_write(t, "0123456789", 10, &w, -1), KV_T_E_IO);
    assert_int_equal(w, 4); /* cut off in the middle */
    assert_int_equal(kv_transport_write(t, "x", 1, &w, -1), KV_T_E_IO);
    assert_int_equal(kv_transport_write(t, "y", 1, &w, -1), KV_T_E_IO);
    assert_int_equal(kv_transport_end_job(t), KV_T_OK);
    char *p = kvt_path("%s/0001.bin", dir);
    assert_file(p, "head|0123", 9);
    kv_transport_close(t);
    free(p); free(uri); free(dir);
}

static void test_virtual__no_state_means_unknown(void **state)
{
    (void)state;
    char *dir = fresh_dir("nostate");
    char *uri = kvt_path("virtual:%s", dir);
    kv_transport *t = open_ok(uri);
    assert_false(kv_transport_can_read(t));
    kv_printer_status_info s;
    assert_int_equal(kv_printer_status(t, 50, &s), KV_T_OK);
    assert_int_equal(s.state, KV_PS_UNKNOWN);
    assert_true(s.flags & KV_PSF_NO_READBACK);
    kv_transport_close(t);
    assert_int_equal(count_jobs(dir), 0); /* no query bytes were stored */
    free(uri); free(dir);
}

static void test_virtual__print_job_refuses_paper_out(void **state)
{
    (void)state;
    char *dir = fresh_dir("paperout");
    char *uri = kvt_path("virtual:%s?state=paper-out", dir);
    kv_transport *t = open_ok(uri);
    kv_printer_status_info s;
    assert_int_equal(kv_printer_status(t, 50, &s), KV_T_OK);
    assert_int_equal(s.state, KV_PS_PAPER_OUT);
    assert_int_equal(s.raw[KV_SQ_EOT1], 0x1A);
    assert_int_equal(s.raw[KV_SQ_EOT4], 0x72);
    kv_print_report r;
    assert_int_equal(kv_transport_print_job(t, "\x1b@slip\n", 7, NULL, &r), KV_T_E_PRINTER);
    assert_int_equal(r.attempted, 0);
    assert_int_equal(r.written, 0);
    assert_int_equal(r.complete, 0);
    assert_int_equal(r.before.state, KV_PS_PAPER_OUT);
    assert_non_null(strstr(r.message, "nothing printed (0 of 7 bytes)"));
    assert_non_null(strstr(r.message, "paper out"));
    kv_transport_close(t);
    assert_int_equal(count_jobs(dir), 0);
    free(uri); free(dir);
}

static void test_virtual__print_job_ok_and_failed(void **state)
{
    (void)state;
    char *dir = fresh_dir("printjob");
    char *uri = kvt_path("virtual:%s?state=paper-near-end", dir);
    kv_transport *t = open_ok(uri);
    kv_print_report r;
    assert_int_equal(kv_transport_print_job(t, "\x1b@ok\n", 5, NULL, &r), KV_T_OK);
    assert_int_equal(r.complete, 1);
    assert_int_equal(r.written, 5);
    assert_int_equal(r.after.state, KV_PS_PAPER_NEAR_END);
    char *p = kvt_path("%s/0001.bin", dir);
    assert_file(p, "\x1b@ok\n", 5); /* status queries are not in the job */
    kv_transport_close(t);
    free(uri);

    uri = kvt_path("virtual:%s?state=ok&fail_after=0&fail_bytes=3", dir);
    t = open_ok(uri);
    assert_int_equal(kv_transport_print_job(t, "\x1b@cut short\n", 12, NULL, &r), KV_T_E_IO);
    assert_int_equal(r.attempted, 1);
    assert_int_equal(r.written, 3);
    assert_int_equal(r.complete, 0);
    assert_non_null(strstr(r.message, "NOT fully printed: 3 of 12 bytes sent, 9 not sent"));
    kv_transport_close(t);
    free(p);
    p = kvt_path("%s/0002.bin", dir);
    assert_file(p, "\x1b@c", 3);
    free(p); free(uri); free(dir);
}

static void test_virtual__jobstore_direct(void **state)
{
    (void)state;
    char *dir = fresh_dir("store");
    kv_jobstore *js = NULL;
    char err[256];
    assert_int_equal(kv_jobstore_open(&js, dir, err, sizeof err), KV_T_OK);
    char *taken = kvt_path("%s/0001.bin", dir);
    assert_int_equal(kvt_write_file(taken, "x", 1), 0); /* someone else took 1 */
    kv_job *j = NULL;
    assert_int_equal(kv_job_begin(js, &j), KV_T_OK);
    assert_int_equal(kv_job_append(j, "abc", 3), KV_T_OK);
    assert_int_equal(kv_job_size(j), 3);
    unsigned num = 0;
    char path[512];
    assert_int_equal(kv_job_commit(j, &num, path, sizeof path), KV_T_OK);
    assert_int_equal(num, 2);
    assert_file(path, "abc", 3);
    assert_int_equal(kv_job_begin(js, &j), KV_T_OK);
    kv_job_abort(j);
    assert_int_equal(count_jobs(dir), 2);
    kv_jobstore_close(js);
    kv_jobstore_close(NULL);
    /* A file where the directory should be: clear error. */
    char *notdir = kvt_path("%s/0001.bin", dir);
    assert_int_not_equal(kv_jobstore_open(&js, notdir, err, sizeof err), KV_T_OK);
    assert_non_null(strstr(err, "cannot use directory"));
    free(notdir); free(taken); free(dir);
}

/* png=1: each filed job gets a PNG beside it, as wide as the profile's
 * printable dots (512 for the TM-T88 per ../shared/docs/escpos.md 1.12). */
static void test_virtual__png_beside_job(void **state)
{
    (void)state;
    char *dir = fresh_dir("png");
    char *uri = kvt_path("virtual:%s?png=1&profile=epson-tm-t88", dir);
    kv_transport *t = open_ok(uri);
    size_t w;
    assert_int_equal(kv_transport_write(t, "\x1b@Hei\n", 6, &w, -1), KV_T_OK);
    assert_int_equal(kv_transport_end_job(t), KV_T_OK);
    assert_string_equal(kv_transport_errmsg(t), "");
    char *png = kvt_path("%s/0001.png", dir);
    unsigned char *b;
    size_t n;
    assert_int_equal(kvt_read_file(png, &b, &n), 0);
    assert_true(n > 24);
    kvt_assert_bytes(b, 8, "\x89PNG\r\n\x1a\n", 8);
    unsigned width = (unsigned)b[16] << 24 | (unsigned)b[17] << 16 | (unsigned)b[18] << 8 | b[19];
    assert_int_equal(width, 512);
    free(b);
    kv_transport_close(t);
    assert_int_equal(count_jobs(dir), 1);

    /* The helper on its own, for callers holding a job path. */
    char *job = kvt_path("%s/0001.bin", dir), out[512], err[256];
    assert_int_equal(kv_job_render_png(job, "generic-58", out, sizeof out, err, sizeof err),
                     KV_T_OK);
    assert_string_equal(out, png);
    assert_int_equal(kvt_read_file(png, &b, &n), 0);
    width = (unsigned)b[16] << 24 | (unsigned)b[17] << 16 | (unsigned)b[18] << 8 | b[19];
    assert_int_equal(width, 384); /* 58 mm: 384 dots */
    free(b);
    assert_int_equal(kv_job_render_png(job, "no-such-printer", NULL, 0, err, sizeof err),
                     KV_T_E_URI);
    char *missing = kvt_path("%s/0099.bin", dir);
    assert_int_equal(kv_job_render_png(missing, NULL, NULL, 0, err, sizeof err), KV_T_E_IO);
    free(missing);
    free(job);
    free(png);
    free(uri);

    kv_transport *t2 = NULL;
    char e2[256] = "";
    kv_transport_options o = KV_TRANSPORT_OPTIONS_INIT;
    o.errbuf = e2;
    o.errlen = sizeof e2;
    uri = kvt_path("virtual:%s?png=1&profile=nope", dir);
    assert_int_equal(kv_transport_open(&t2, uri, &o), KV_T_E_URI);
    assert_non_null(strstr(e2, "unknown profile"));
    free(uri);
    free(dir);
}

/* `kvitt print -` reads the job from standard input and names the stored
 * job; a fault mid-job is reported with the counts and exit 4. */
static void test_virtual__cli_print(void **state)
{
    (void)state;
    char *dir = fresh_dir("cli");
    char *uri = kvt_path("virtual:%s", dir);
    kvt_result r;
    const char *argv[] = { "kvitt", "print", "-", "--printer", uri, NULL };
    assert_int_equal(kvt_run(&r, "\x1b@stdin job\n", NULL, 30, argv), 0);
    assert_int_equal(r.status, 0);
    char *p = kvt_path("%s/0001.bin", dir);
    char *want = kvt_path("job: %s", p);
    assert_non_null(strstr(r.out, want));
    assert_non_null(strstr(r.out, "printed: all 12 bytes sent"));
    kvt_result_free(&r);
    assert_file(p, "\x1b@stdin job\n", 12);
    free(want);
    free(p);
    free(uri);

    uri = kvt_path("virtual:%s?fail_after=0&fail_bytes=5", dir);
    const char *argv2[] = { "kvitt", "print", "-", "--printer", uri, NULL };
    assert_int_equal(kvt_run(&r, "\x1b@cut off here\n", NULL, 30, argv2), 0);
    assert_int_equal(r.status, 4);
    assert_non_null(strstr(r.err, "NOT fully printed: 5 of 15 bytes sent, 10 not sent"));
    assert_non_null(strstr(r.err, "partial job stored as"));
    kvt_result_free(&r);
    p = kvt_path("%s/0002.bin", dir);
    assert_file(p, "\x1b@cut", 5);
    free(p);
    free(uri);

    const char *argv3[] = { "kvitt", "print", "-", "--printer", "virtual:", NULL };
    assert_int_equal(kvt_run(&r, "x", NULL, 30, argv3), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "missing path"));
    kvt_result_free(&r);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_virtual__jobs_are_numbered),
        cmocka_unit_test(test_virtual__concurrent_writers),
        cmocka_unit_test(test_virtual__fault_transient),
        cmocka_unit_test(test_virtual__fault_persistent_partial),
        cmocka_unit_test(test_virtual__no_state_means_unknown),
        cmocka_unit_test(test_virtual__print_job_refuses_paper_out),
        cmocka_unit_test(test_virtual__print_job_ok_and_failed),
        cmocka_unit_test(test_virtual__jobstore_direct),
        cmocka_unit_test(test_virtual__png_beside_job),
        cmocka_unit_test(test_virtual__cli_print),
    };
    return cmocka_run_group_tests_name("virtual", tests, NULL, NULL);
}
