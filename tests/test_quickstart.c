/* test_quickstart.c - the README's quick start, pasted into a shell.
 *
 * Every ```sh block of README.md that follows a line starting with
 * "<!-- quickstart" is joined, in order, into one script that runs with
 * /bin/sh -e in a fresh folder where build/ points at the kvitt under test
 * (and `make` does nothing: the program is already built).  The script
 * must exit 0 and leave what the README promises: the QR slip, its PNG,
 * a refund and a till API payment.  So the README cannot rot. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/lib/kvtest.h"

/* The quick-start blocks of text, joined; malloc'd.  NULL when none. */
static char *quickstart_blocks(const char *readme, int *nblocks)
{
    size_t cap = strlen(readme) + 1, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = 0;
    *nblocks = 0;
    const char *p = readme;
    while ((p = strstr(p, "\n<!-- quickstart")) != NULL) {
        const char *open = strstr(p, "\n```sh\n");
        assert_non_null(open);
        open += strlen("\n```sh\n");
        const char *close = strstr(open, "\n```");
        assert_non_null(close);
        size_t n = (size_t)(close - open) + 1; /* keep the newline */
        memcpy(out + len, open, n);
        len += n;
        out[len] = 0;
        (*nblocks)++;
        p = close;
    }
    if (!*nblocks) {
        free(out);
        return NULL;
    }
    return out;
}

static void test_quickstart__readme_block_runs(void **state)
{
    (void)state;
    char *readme_path = kvt_path("%s/README.md", kvt_srcdir());
    unsigned char *readme = NULL;
    size_t rlen = 0;
    assert_int_equal(kvt_read_file(readme_path, &readme, &rlen), 0);
    int nblocks = 0;
    char *blocks = quickstart_blocks((char *)readme, &nblocks);
    assert_non_null(blocks);
    assert_int_equal(nblocks, 2); /* the payment, then the till API */
    /* The quick start must start the simulator and wait for it, not race it. */
    assert_non_null(strstr(blocks, "until [ -s demo-out/sim.url ]"));

    char *dir = kvt_path("%s/quickstart", kvt_tmpdir());
    assert_int_equal(mkdir(dir, 0755), 0);
    /* build/ -> the folder of the kvitt under test (plain or sanitizer). */
    char bin[PATH_MAX];
    assert_non_null(realpath(kvt_bin(), bin));
    char *link = kvt_path("%s/build", dir);
    assert_int_equal(symlink(dirname(bin), link), 0);

    size_t slen = strlen(blocks) + 512;
    char *script = malloc(slen);
    assert_non_null(script);
    /* make: the program is built already.  The trap stops whatever the
     * blocks left running when a command fails half-way. */
    snprintf(script, slen,
             "make() { :; }\n"
             "trap 'kill $(jobs -p) 2>/dev/null || :' EXIT\n"
             "unset KVITT_CONFIG\n"
             "%s", blocks);
    char *spath = kvt_path("%s/quickstart.sh", dir);
    assert_int_equal(kvt_write_file(spath, script, strlen(script)), 0);

    const char *argv[] = { "/bin/sh", "-c", "cd \"$1\" && exec /bin/sh -e ./quickstart.sh", "sh", dir, NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 500, argv), 0);
    if (r.status != 0) {
        printf("quick start exited %d\n--- stdout\n%s\n--- stderr\n%s\n", r.status, r.out, r.err);
        char *log = kvt_path("%s/demo-out/serve.log", dir);
        unsigned char *l = NULL;
        size_t ll = 0;
        if (kvt_read_file(log, &l, &ll) == 0)
            printf("--- serve.log\n%s\n", (char *)l);
        free(l);
        free(log);
    }
    assert_int_equal(r.status, 0);
    /* What the README promises. */
    assert_non_null(strstr(r.out, " DONE 149.00 NOK captured 149.00"));
    assert_non_null(strstr(r.out, "refunded 50.00"));
    assert_non_null(strstr(r.out, "\"final\":true"));
    assert_non_null(strstr(r.out, "\"refunded\":\"10.00\""));
    /* --show-qr draws on stderr: the request log is in sim.log, not here. */
    assert_null(strstr(r.err, "POST /"));
    const char *files[] = { "demo-out/slip.png", "demo-out/printer/oslo/0001.bin", "demo-out/sim.log" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *f = kvt_path("%s/%s", dir, files[i]);
        struct stat st;
        if (stat(f, &st) != 0)
            fail_msg("the quick start left no %s", files[i]);
        free(f);
    }
    kvt_result_free(&r);
    free(spath);
    free(script);
    free(link);
    free(dir);
    free(blocks);
    free(readme);
    free(readme_path);
}

/* The README and docs/ name nothing outside the repository: no reference
 * folders beside it, no paths of the machine it was written on, no issue
 * numbers of a tracker a user cannot see. */
static void test_quickstart__docs_name_nothing_outside(void **state)
{
    (void)state;
    const char *bad[] = { "../shared", "issue #", "issue 1", "issue 2", "issue 3",
                          "issue 4", "issue 5", "issue 6", "issue 7", "issue 8", "issue 9",
                          "issues/", "(#1", "(#2", "(#3" };
    char *list = kvt_path("%s/docs", kvt_srcdir());
    const char *argv[] = { "/bin/sh", "-c", "ls \"$1\"/*.md", "sh", list, NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 0);
    size_t nfiles = 0;
    char *save = NULL;
    char *files = kvt_path("%s/README.md\n%s", kvt_srcdir(), r.out);
    for (char *f = strtok_r(files, "\n", &save); f; f = strtok_r(NULL, "\n", &save)) {
        unsigned char *text = NULL;
        size_t len = 0;
        assert_int_equal(kvt_read_file(f, &text, &len), 0);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            if (strcasestr((char *)text, bad[i]))
                fail_msg("%s names something outside the repository: '%s'", f, bad[i]);
        /* nor this checkout's own absolute path (links stay relative) */
        if (strstr((char *)text, kvt_srcdir()))
            fail_msg("%s names this machine's checkout path %s", f, kvt_srcdir());
        free(text);
        nfiles++;
    }
    assert_true(nfiles >= 10);
    free(files);
    free(list);
    kvt_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quickstart__readme_block_runs),
        cmocka_unit_test(test_quickstart__docs_name_nothing_outside),
    };
    return cmocka_run_group_tests_name("quickstart", tests, NULL, NULL);
}
