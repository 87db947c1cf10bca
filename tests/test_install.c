/* test_install.c - `make install` lays kvitt out the way C libraries are
 * installed, and a program builds against it with pkg-config.
 *
 * The group setup runs the real `make install PREFIX=<tmp>/usr` of the
 * source tree (the plain build; it is built if missing), then each test
 * looks at the result: flat headers with the SPDX line that compile on
 * their own, kvitt.pc, examples/receipt.c compiled, linked and run through
 * `pkg-config --cflags --libs kvitt`, man pages, documentation, the unit. */
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
#include <unistd.h>

#include "tests/lib/kvtest.h"

static char *prefix;      /* <tmp>/usr */
static char *install_log; /* make's output when the install failed */
static int installed;

/* Run a shell command line in the source tree, without the calling make's
 * jobserver variables (this test may run under `make test`). */
static int sh(kvt_result *r, int timeout_s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int sh(kvt_result *r, int timeout_s, const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    const char *argv[] = { "/usr/bin/env", "-u", "MAKEFLAGS", "-u", "MFLAGS", "-u", "MAKELEVEL",
                           "/bin/sh", "-c", line, NULL };
    char *pc = kvt_path("PKG_CONFIG_PATH=%s/lib/pkgconfig", prefix);
    const char *env[] = { pc, NULL };
    int rc = kvt_run(r, NULL, env, timeout_s, argv);
    free(pc);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    prefix = kvt_path("%s/usr", kvt_tmpdir());
    if (access("/usr/bin/scdoc", X_OK) != 0)
        return 0; /* each test skips, naming scdoc */
    kvt_result r;
    if (sh(&r, 900, "cd '%s' && make --no-print-directory install PREFIX='%s' 2>&1",
           kvt_srcdir(), prefix) != 0)
        return 0;
    installed = r.status == 0;
    if (!installed)
        install_log = strdup(r.out);
    kvt_result_free(&r);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(prefix);
    free(install_log);
    return 0;
}

#define REQUIRE_INSTALL() do { \
        if (access("/usr/bin/scdoc", X_OK) != 0) \
            KVT_SKIP("scdoc is missing (sh .ci/install-deps test)"); \
        if (!installed) \
            fail_msg("make install failed:\n%s", install_log ? install_log : "(did not run)"); \
    } while (0)

/* Is PREFIX/dir/name a regular file? */
static int exists(const char *dir, const char *name)
{
    char *p = kvt_path("%s/%s/%s", prefix, dir, name);
    struct stat st;
    int ok = stat(p, &st) == 0 && S_ISREG(st.st_mode);
    free(p);
    return ok;
}

static void test_install__program_runs(void **state)
{
    (void)state;
    REQUIRE_INSTALL();
    kvt_result a, b, c;
    assert_int_equal(sh(&a, 60, "'%s/bin/kvitt' --version", prefix), 0);
    assert_int_equal(a.status, 0);
    assert_int_equal(sh(&b, 60, "'%s/bin/kvitt' version", prefix), 0);
    assert_string_equal(a.out, b.out);
    assert_int_equal(strncmp(a.out, "kvitt ", 6), 0);
    /* kvitt.pc carries the program's version. */
    assert_int_equal(sh(&c, 60, "pkg-config --modversion kvitt"), 0);
    assert_int_equal(c.status, 0);
    assert_string_equal(c.out, a.out + 6);
    kvt_result_free(&a);
    kvt_result_free(&b);
    kvt_result_free(&c);
}

/* Headers: flat in include/kvitt, the SPDX line first, no include of the
 * source tree's folders left, and each compiles on its own as
 * <kvitt/NAME.h> with nothing but pkg-config's flags. */
static void test_install__headers_flat_and_standalone(void **state)
{
    (void)state;
    REQUIRE_INSTALL();
    char *dir = kvt_path("%s/include/kvitt", prefix);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *p = kvt_path("%s/%s", dir, de->d_name);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        if (!S_ISREG(st.st_mode))
            fail_msg("%s is not a header file (headers install flat)", p);
        size_t len = strlen(de->d_name);
        assert_true(len > 2 && strcmp(de->d_name + len - 2, ".h") == 0);
        unsigned char *buf = NULL;
        size_t blen = 0;
        assert_int_equal(kvt_read_file(p, &buf, &blen), 0);
        static const char spdx[] = "/* SPDX-License-Identifier: MIT */\n";
        if (blen < sizeof spdx - 1 || memcmp(buf, spdx, sizeof spdx - 1) != 0)
            fail_msg("%s does not start with the SPDX line", p);
        char *text = strndup((const char *)buf, blen);
        const char *bad[] = { "#include \"src/", "#include \"escpos/", "#include \"drivers/", "#include \"sim/" };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            if (strstr(text, bad[i]))
                fail_msg("%s still has %s...", p, bad[i]);
        free(text);
        free(buf);
        kvt_result r;
        assert_int_equal(sh(&r, 120, "echo '#include <kvitt/%s>' | cc -std=c11 -Wall -Wextra -Werror "
                                     "-x c -fsyntax-only $(pkg-config --cflags kvitt) - 2>&1",
                            de->d_name), 0);
        if (r.status != 0)
            fail_msg("<kvitt/%s> does not compile on its own:\n%s", de->d_name, r.out);
        kvt_result_free(&r);
        free(p);
        n++;
    }
    closedir(d);
    free(dir);
    assert_true(n >= 10);
    assert_true(exists("include/kvitt", "encoder.h"));
    assert_true(exists("lib", "libkvescpos.a"));
    assert_true(exists("lib", "libkvitt.a"));
}

/* examples/receipt.c builds with `cc $(pkg-config --cflags --libs kvitt)`
 * and writes a job: ESC @ (1B 40) first, the store name as text, a cut
 * (GS V, 1D 56) at the end. */
static void test_install__example_builds_with_pkg_config(void **state)
{
    (void)state;
    REQUIRE_INSTALL();
    char *exe = kvt_path("%s/receipt", kvt_tmpdir());
    char *out = kvt_path("%s/receipt.bin", kvt_tmpdir());
    kvt_result r;
    assert_int_equal(sh(&r, 300, "cc -Wall -Wextra -Werror -o '%s' '%s/examples/receipt.c' "
                                 "$(pkg-config --cflags --libs kvitt) 2>&1", exe, kvt_srcdir()), 0);
    if (r.status != 0)
        fail_msg("examples/receipt.c does not build against the install:\n%s", r.out);
    kvt_result_free(&r);
    assert_int_equal(sh(&r, 60, "'%s' '%s'", exe, out), 0);
    assert_int_equal(r.status, 0);
    kvt_result_free(&r);
    unsigned char *buf = NULL;
    size_t len = 0;
    assert_int_equal(kvt_read_file(out, &buf, &len), 0);
    assert_true(len > 100);
    assert_int_equal(buf[0], 0x1b);
    assert_int_equal(buf[1], 0x40);
    assert_non_null(memmem(buf, len, "Kaffebaren", 10));
    assert_non_null(memmem(buf, len, "\x1d\x56", 2));
    free(buf);
    /* An unknown profile is refused with exit 2. */
    assert_int_equal(sh(&r, 60, "'%s' '%s' no-such-printer", exe, out), 0);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "no-such-printer"));
    kvt_result_free(&r);
    free(exe);
    free(out);
}

/* Man pages for kvitt, every command and kvitt.conf; kvitt(1) lists every
 * command of commands.def. */
static void test_install__man_pages(void **state)
{
    (void)state;
    REQUIRE_INSTALL();
    assert_true(exists("share/man/man1", "kvitt.1"));
    assert_true(exists("share/man/man5", "kvitt.conf.5"));
    char *def = kvt_path("%s/src/cli/commands.def", kvt_srcdir());
    FILE *f = fopen(def, "r");
    assert_non_null(f);
    char *page = kvt_path("%s/share/man/man1/kvitt.1", prefix);
    unsigned char *top = NULL;
    size_t toplen = 0;
    assert_int_equal(kvt_read_file(page, &top, &toplen), 0);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char name[128];
        if (sscanf(line, "KV_CMD(%*[^,], \"%127[^\"]\"", name) != 1)
            continue;
        char file[160], ref[160];
        snprintf(file, sizeof file, "kvitt-%s.1", name);
        if (!exists("share/man/man1", file))
            fail_msg("%s is not installed", file);
        snprintf(ref, sizeof ref, "kvitt-%s", name);
        if (!memmem(top, toplen, ref, strlen(ref)))
            fail_msg("kvitt(1) does not list %s", name);
        n++;
    }
    fclose(f);
    assert_true(n > 10);
    free(top);
    free(page);
    free(def);
}

/* Documentation under share/doc/kvitt, and the unit's Documentation= names
 * only installed things. */
static void test_install__docs_and_unit(void **state)
{
    (void)state;
    REQUIRE_INSTALL();
    assert_true(exists("share/doc/kvitt", "LICENSE"));
    assert_true(exists("share/doc/kvitt", "README.md"));
    char *docs = kvt_path("%s/docs", kvt_srcdir());
    DIR *d = opendir(docs);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len > 3 && strcmp(de->d_name + len - 3, ".md") == 0 &&
            !exists("share/doc/kvitt/docs", de->d_name))
            fail_msg("docs/%s is not installed", de->d_name);
    }
    closedir(d);
    free(docs);

    char *unit = kvt_path("%s/lib/systemd/system/kvitt.service", prefix);
    FILE *f = fopen(unit, "r");
    assert_non_null(f);
    char line[1024];
    int docs_seen = 0, exec_seen = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "ExecStart=", 10) == 0) {
            char *bin = kvt_path("%s/bin/kvitt ", prefix);
            assert_int_equal(strncmp(line + 10, bin, strlen(bin)), 0);
            free(bin);
            exec_seen = 1;
        }
        if (strncmp(line, "Documentation=", 14) != 0)
            continue;
        for (char *tok = strtok(line + 14, " "); tok; tok = strtok(NULL, " ")) {
            char path[1024];
            char page[256];
            int sect;
            if (strncmp(tok, "file://", 7) == 0) {
                snprintf(path, sizeof path, "%s", tok + 7);
            } else if (sscanf(tok, "man:%255[^(](%d)", page, &sect) == 2) {
                snprintf(path, sizeof path, "%s/share/man/man%d/%s.%d", prefix, sect, page, sect);
            } else {
                fail_msg("Documentation=%s: neither file:// nor man:", tok);
            }
            if (access(path, R_OK) != 0)
                fail_msg("Documentation=%s names %s, which is not installed", tok, path);
            docs_seen++;
        }
    }
    fclose(f);
    free(unit);
    assert_true(exec_seen);
    assert_true(docs_seen >= 2);
}

/* make uninstall takes back every file. */
static void test_install__uninstall(void **state)
{
    (void)state;
    REQUIRE_INSTALL();
    kvt_result r;
    assert_int_equal(sh(&r, 300, "cd '%s' && make --no-print-directory uninstall PREFIX='%s' >/dev/null 2>&1 "
                                 "&& find '%s' -type f", kvt_srcdir(), prefix, prefix), 0);
    assert_int_equal(r.status, 0);
    if (r.out[0])
        fail_msg("left after make uninstall:\n%s", r.out);
    kvt_result_free(&r);
    installed = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_install__program_runs),
        cmocka_unit_test(test_install__headers_flat_and_standalone),
        cmocka_unit_test(test_install__example_builds_with_pkg_config),
        cmocka_unit_test(test_install__man_pages),
        cmocka_unit_test(test_install__docs_and_unit),
        cmocka_unit_test(test_install__uninstall),
    };
    return cmocka_run_group_tests_name("install", tests, setup, teardown);
}
