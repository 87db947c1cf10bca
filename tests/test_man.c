/* test_man.c - the manual pages in man/ match the program.
 *
 * Generic over src/cli/commands.def: every command has man/kvitt-CMD.1.scd,
 * every option that `kvitt CMD --help` prints appears in that page, `kvitt
 * help CMD` prints what `kvitt CMD --help` prints, and every page builds
 * with scdoc.  kvitt(1) covers the global options of `kvitt --help`. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/lib/kvtest.h"

#define MAX_CMDS 128
#define MAX_OPTS 128

static char *cmds[MAX_CMDS];
static size_t ncmds;

static char *slurp(const char *path)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    if (kvt_read_file(path, &buf, &len) != 0)
        return NULL;
    char *s = realloc(buf, len + 1);
    if (!s) {
        free(buf);
        return NULL;
    }
    s[len] = '\0';
    return s;
}

/* The command names of src/cli/commands.def: KV_CMD(fn, "name", "summary"). */
static int load_commands(void **state)
{
    (void)state;
    char *path = kvt_path("%s/src/cli/commands.def", kvt_srcdir());
    char *def = slurp(path);
    free(path);
    if (!def)
        return -1;
    for (char *line = strtok(def, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "KV_CMD(", 7) != 0)
            continue;
        char *q = strchr(line, '"');
        char *e = q ? strchr(q + 1, '"') : NULL;
        if (!e || ncmds == MAX_CMDS)
            continue;
        cmds[ncmds++] = strndup(q + 1, (size_t)(e - q - 1));
    }
    free(def);
    return ncmds > 0 ? 0 : -1;
}

static int free_commands(void **state)
{
    (void)state;
    for (size_t i = 0; i < ncmds; i++)
        free(cmds[i]);
    ncmds = 0;
    return 0;
}

static int optchar(int c) { return isalnum(c) || c == '-' || c == '_'; }

/* The options a --help text names: "--long-name" and "-x" tokens that stand
 * on their own (not inside words such as "non-root" or "1-dot").  Fills
 * opts (malloc'd strings, deduplicated) and returns how many. */
static size_t help_options(const char *text, char *opts[], size_t max)
{
    size_t n = 0;
    for (const char *p = text; *p; p++) {
        if (*p != '-' || (p > text && optchar((unsigned char)p[-1])))
            continue;
        size_t len;
        if (p[1] == '-' && isalpha((unsigned char)p[2])) {
            len = 2;
            while (isalnum((unsigned char)p[len]) || p[len] == '-')
                len++;
            while (p[len - 1] == '-')
                len--;
        } else if (isalpha((unsigned char)p[1]) && !optchar((unsigned char)p[2])) {
            len = 2;
        } else {
            continue;
        }
        int seen = 0;
        for (size_t i = 0; i < n && !seen; i++)
            seen = strlen(opts[i]) == len && strncmp(opts[i], p, len) == 0;
        if (!seen && n < max)
            opts[n++] = strndup(p, len);
        p += len - 1;
    }
    return n;
}

/* Does page name the option opt as a token of its own? */
static int page_has(const char *page, const char *opt)
{
    size_t len = strlen(opt);
    for (const char *p = strstr(page, opt); p; p = strstr(p + 1, opt)) {
        int before = p > page && optchar((unsigned char)p[-1]);
        int after = optchar((unsigned char)p[len]);
        if (!before && !after)
            return 1;
    }
    return 0;
}

/* The options of help missing from page, as one " --a --b" string
 * (malloc'd; empty when none is missing). */
static char *missing_options(const char *help, const char *page)
{
    char *opts[MAX_OPTS];
    size_t n = help_options(help, opts, MAX_OPTS);
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += strlen(opts[i]) + 1;
    char *out = calloc(1, cap);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        if (!page_has(page, opts[i])) {
            strcat(out, " ");
            strcat(out, opts[i]);
        }
        free(opts[i]);
    }
    return out;
}

static char *page_of(const char *name, int section)
{
    char *path = kvt_path("%s/man/%s.%d.scd", kvt_srcdir(), name, section);
    char *page = slurp(path);
    free(path);
    return page;
}

/* `kvitt ARGS... --help`: stdout and stderr together (a command may print
 * its usage on either). */
static char *help_text(const char *cmd)
{
    kvt_result r;
    const char *argv[] = { "kvitt", cmd ? cmd : "--help", cmd ? "--help" : NULL, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, argv), 0);
    size_t n = r.outlen + r.errlen;
    char *s = malloc(n + 1);
    assert_non_null(s);
    memcpy(s, r.out, r.outlen);
    memcpy(s + r.outlen, r.err, r.errlen);
    s[n] = '\0';
    kvt_result_free(&r);
    return s;
}

/* The checker itself finds options and misses them where they are absent. */
static void test_man__option_checker(void **state)
{
    (void)state;
    const char *help = "usage: kvitt x --amount X [-o FILE|-] [--no-cut]\n"
                       "  1-dot blur, non-root users, DLE EOT 1-4, --hash-token TOK|-\n";
    char *opts[MAX_OPTS];
    size_t n = help_options(help, opts, MAX_OPTS);
    const char *want[] = { "--amount", "-o", "--no-cut", "--hash-token" };
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(opts[i], want[i]);
        free(opts[i]);
    }
    char *m = missing_options(help, "*--amount* _X_\n*-o*, *--output*\n*--no-cutter*\n");
    assert_string_equal(m, " --no-cut --hash-token");
    free(m);
    m = missing_options(help, "*--amount* *-o* *--no-cut* *--hash-token* _TOK_");
    assert_string_equal(m, "");
    free(m);
}

static void test_man__every_command_has_a_page(void **state)
{
    (void)state;
    char bad[4096] = "";
    for (size_t i = 0; i < ncmds; i++) {
        char name[128], head[160];
        snprintf(name, sizeof name, "kvitt-%s", cmds[i]);
        char *page = page_of(name, 1);
        snprintf(head, sizeof head, "%s(1)\n", name);
        if (!page || strncmp(page, head, strlen(head)) != 0) {
            snprintf(bad + strlen(bad), sizeof bad - strlen(bad), " man/%s.1.scd%s", name,
                     page ? " (first line is not the title)" : " (missing)");
        } else {
            snprintf(head, sizeof head, "\n%s - ", name);
            if (!strstr(page, head))
                snprintf(bad + strlen(bad), sizeof bad - strlen(bad), " man/%s.1.scd (no NAME line '%s - ...')",
                         name, name);
        }
        free(page);
    }
    if (bad[0])
        fail_msg("pages missing or malformed:%s", bad);
}

/* Each man/kvitt-*.1.scd belongs to a command (no page outlives its command). */
static void test_man__no_page_without_command(void **state)
{
    (void)state;
    char *dir = kvt_path("%s/man", kvt_srcdir());
    DIR *d = opendir(dir);
    free(dir);
    assert_non_null(d);
    char bad[2048] = "";
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (strncmp(de->d_name, "kvitt-", 6) != 0 || len < 13 || strcmp(de->d_name + len - 6, ".1.scd") != 0)
            continue;
        int known = 0;
        for (size_t i = 0; i < ncmds && !known; i++)
            known = strlen(cmds[i]) == len - 12 && strncmp(cmds[i], de->d_name + 6, len - 12) == 0;
        if (!known)
            snprintf(bad + strlen(bad), sizeof bad - strlen(bad), " %s", de->d_name);
    }
    closedir(d);
    if (bad[0])
        fail_msg("pages of no command in src/cli/commands.def:%s", bad);
}

static void test_man__help_options_are_in_the_pages(void **state)
{
    (void)state;
    char bad[8192] = "";
    for (size_t i = 0; i <= ncmds; i++) {
        /* i == ncmds: the program itself, kvitt(1). */
        const char *cmd = i < ncmds ? cmds[i] : NULL;
        char name[128];
        snprintf(name, sizeof name, cmd ? "kvitt-%s" : "kvitt", cmd);
        char *page = page_of(name, 1);
        char *help = help_text(cmd);
        if (!page) {
            snprintf(bad + strlen(bad), sizeof bad - strlen(bad), "\n  man/%s.1.scd: missing", name);
        } else {
            char *m = missing_options(help, page);
            if (m[0])
                snprintf(bad + strlen(bad), sizeof bad - strlen(bad), "\n  man/%s.1.scd lacks:%s", name, m);
            free(m);
        }
        free(help);
        free(page);
    }
    char *top = page_of("kvitt", 1);
    if (top && !page_has(top, "--version"))
        snprintf(bad + strlen(bad), sizeof bad - strlen(bad), "\n  man/kvitt.1.scd lacks: --version");
    free(top);
    if (bad[0])
        fail_msg("options printed by --help but not in the man page:%s", bad);
}

/* `kvitt help CMD` says what `kvitt CMD --help` says. */
static void test_man__help_command_is_dash_help(void **state)
{
    (void)state;
    for (size_t i = 0; i < ncmds; i++) {
        kvt_result a, b;
        const char *help_argv[] = { "kvitt", "help", cmds[i], NULL };
        const char *dash_argv[] = { "kvitt", cmds[i], "--help", NULL };
        assert_int_equal(kvt_run(&a, NULL, NULL, 60, help_argv), 0);
        assert_int_equal(kvt_run(&b, NULL, NULL, 60, dash_argv), 0);
        if (a.status != b.status || strcmp(a.out, b.out) != 0 || strcmp(a.err, b.err) != 0)
            fail_msg("'kvitt help %s' (exit %d) differs from 'kvitt %s --help' (exit %d)",
                     cmds[i], a.status, cmds[i], b.status);
        assert_true(a.outlen + a.errlen > 0);
        kvt_result_free(&a);
        kvt_result_free(&b);
    }
}

/* Every page is valid scdoc (make man would fail on it). */
static void test_man__pages_build(void **state)
{
    (void)state;
    if (access("/usr/bin/scdoc", X_OK) != 0)
        KVT_SKIP("scdoc is missing (sh .ci/install-deps test)");
    char *cmd = kvt_path("cd '%s/man' && n=0 && for f in *.scd; do "
                         "scdoc < \"$f\" > /dev/null || { echo \"$f\"; n=1; }; done; exit $n",
                         kvt_srcdir());
    kvt_result r;
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 120, argv), 0);
    if (r.status != 0)
        fail_msg("scdoc rejects:\n%s%s", r.out, r.err);
    kvt_result_free(&r);
    free(cmd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_man__option_checker),
        cmocka_unit_test(test_man__every_command_has_a_page),
        cmocka_unit_test(test_man__no_page_without_command),
        cmocka_unit_test(test_man__help_options_are_in_the_pages),
        cmocka_unit_test(test_man__help_command_is_dash_help),
        cmocka_unit_test(test_man__pages_build),
    };
    return cmocka_run_group_tests_name("man", tests, load_commands, free_commands);
}
