/* test_cli_errors.c - printer errors as the cashier sees them: `kvitt pay`
 * against the real simulator, printing to a TCP port nobody listens on and
 * to a USB printer that is not attached.  The summary line must name the
 * printer once and never stop in the middle of a word. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/kvtest.h"

static kvt_proc *sim;
static char *conf;

static int setup(void **state)
{
    (void)state;
    conf = kvt_path("%s/errors/kvitt.conf", kvt_tmpdir());
    const char *argv[] = { "kvitt", "sim", "--listen", "127.0.0.1:0", "--write-config", conf,
                           "--quiet", "--exit-with-parent", NULL };
    sim = kvt_spawn(argv, NULL, NULL);
    if (!sim)
        return -1;
    char *url = kvt_proc_readline(sim, 30000); /* printed once the config is written */
    if (!url)
        return -1;
    free(url);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kvt_proc_stop(sim, SIGTERM);
    free(conf);
    return 0;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Run pay on a printer that fails; return the reason in the summary line
 * "REF CANCELLED 10.00 NOK (reason)" (malloc'd) and the stderr text. */
static char *pay_fails(const char *printer, kvt_result *r)
{
    const char *argv[] = { "kvitt", "pay", "--config", conf, "--amount", "10.00", "--printer", printer,
                           "--no-recover", NULL };
    assert_int_equal(kvt_run(r, NULL, NULL, 120, argv), 0);
    printf("stdout: %s\nstderr: %s\n", r->out, r->err);
    assert_int_equal(r->status, 4);
    const char *open = strstr(r->out, " CANCELLED 10.00 NOK (");
    assert_non_null(open);
    open += strlen(" CANCELLED 10.00 NOK (");
    const char *close = strstr(open, ")\n");
    assert_non_null(close);
    return strndup(open, (size_t)(close - open));
}

/* The summary is the full message, or its start cut after a whole word and
 * marked with an ellipsis. */
static void assert_whole_words(const char *reason, const char *full)
{
    size_t n = strlen(reason);
    const char *ell = "\xe2\x80\xa6";
    if (n >= 3 && strcmp(reason + n - 3, ell) == 0) {
        n -= 3;
        while (n && reason[n - 1] == ' ')
            n--;
    }
    const char *at = strstr(full, "kvitt pay: ");
    assert_non_null(at);
    char *core = strndup(reason, n);
    const char *pos = strstr(full, core);
    if (!pos)
        fail_msg("the summary '%s' is not part of the message '%s'", reason, full);
    unsigned char next = (unsigned char)pos[n];
    if (isalnum(next))
        fail_msg("the summary '%s' stops in the middle of a word", reason);
    free(core);
}

static void test_cli_errors__tcp_refused(void **state)
{
    (void)state;
    char *uri = kvt_path("tcp://127.0.0.1:%d", kvt_free_port());
    kvt_result r;
    char *reason = pay_fails(uri, &r);
    assert_whole_words(reason, r.err);
    assert_int_equal(count(r.out, "127.0.0.1"), 1);     /* the printer named once */
    assert_non_null(strstr(r.out, "(try again))\n"));    /* short enough to be whole */
    assert_non_null(strstr(r.err, "try again"));        /* the full message on stderr */
    assert_int_equal(count(r.err, "127.0.0.1"), 1);
    free(reason);
    kvt_result_free(&r);
    free(uri);
}

static void test_cli_errors__usb_absent(void **state)
{
    (void)state;
    kvt_result r;
    char *reason = pay_fails("usb://04b8:0202", &r);
    assert_whole_words(reason, r.err);
    assert_null(strstr(r.out, "usb://04b8:0202: usb://04b8:0202"));
    assert_null(strstr(r.err, "usb://04b8:0202: usb://04b8:0202"));
    assert_int_equal(count(r.out, "usb://04b8:0202"), 1);
    free(reason);
    kvt_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_errors__tcp_refused),
        cmocka_unit_test(test_cli_errors__usb_absent),
    };
    return cmocka_run_group_tests_name("cli_errors", tests, setup, teardown);
}
