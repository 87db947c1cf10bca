/* test_config_check.c - `kvitt config check` on the example configurations
 * in etc/ and on broken ones.  The examples are copied into a temp folder
 * as a shop would install them: the secrets file made from the example
 * (chmod 600), the journal moved to a folder this user can write. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/lib/kvtest.h"

static int seq;

/* Replace every line starting with `key =` by `key = value` (whole line). */
static char *set_key(const char *text, const char *key, const char *value)
{
    size_t cap = strlen(text) + 4096, o = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t kl = strlen(key);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
        if (strncmp(p, key, kl) == 0 && (p[kl] == ' ' || p[kl] == '='))
            o += (size_t)snprintf(out + o, cap - o, "%s = %s\n", key, value);
        else {
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
    }
    out[o] = 0;
    return out;
}

/* Fill every <placeholder> with a made-up value. */
static char *fill_placeholders(const char *text)
{
    char *out = strdup(text);
    assert_non_null(out);
    char *lt;
    while ((lt = strchr(out, '<')) != NULL) {
        char *gt = strchr(lt, '>');
        assert_non_null(gt);
        const char *val = "made-up-test-value";
        size_t nl = strlen(out) - (size_t)(gt + 1 - out);
        char *n = malloc((size_t)(lt - out) + strlen(val) + nl + 1);
        assert_non_null(n);
        memcpy(n, out, (size_t)(lt - out));
        strcpy(n + (lt - out), val);
        strcat(n, gt + 1);
        free(out);
        out = n;
    }
    return out;
}

static char *read_text(const char *path)
{
    unsigned char *b = NULL;
    size_t len = 0;
    if (kvt_read_file(path, &b, &len) != 0)
        fail_msg("cannot read %s", path);
    return (char *)b;
}

/* Install conf text and secrets text into a new folder; returns the
 * config path (malloc'd).  secrets_mode 0 = no secrets file. */
static char *install(const char *conf, const char *secrets, mode_t secrets_mode)
{
    char *dir = kvt_path("%s/cfg%d", kvt_tmpdir(), ++seq);
    assert_int_equal(mkdir(dir, 0755), 0);
    char *journal = kvt_path("%s/journal.db", dir);
    char *c = set_key(conf, "journal", journal);
    char *path = kvt_path("%s/kvitt.conf", dir);
    assert_int_equal(kvt_write_file(path, c, strlen(c)), 0);
    if (secrets_mode) {
        char *sp = kvt_path("%s/kvitt.secrets", dir);
        assert_int_equal(kvt_write_file(sp, secrets, strlen(secrets)), 0);
        assert_int_equal(chmod(sp, secrets_mode), 0);
        free(sp);
    }
    free(c);
    free(journal);
    free(dir);
    return path;
}

static void check(const char *path, int want, kvt_result *r)
{
    const char *argv[] = { "kvitt", "config", "check", "--config", path, NULL };
    assert_int_equal(kvt_run(r, NULL, NULL, 60, argv), 0);
    if (r->status != want)
        printf("kvitt config check %s: exit %d (want %d)\n%s%s", path, r->status, want, r->out, r->err);
    assert_int_equal(r->status, want);
}

static char *example(const char *name)
{
    char *p = kvt_path("%s/etc/%s", kvt_srcdir(), name);
    char *t = read_text(p);
    free(p);
    return t;
}

static void test_config_check__shop_example(void **state)
{
    (void)state;
    char *conf = example("shop.conf"), *sec = example("shop.secrets.example");
    kvt_result r;
    /* As shipped, the secrets are placeholders: each one is named. */
    char *path = install(conf, sec, 0600);
    check(path, 3, &r);
    assert_non_null(strstr(r.out, "client_secret is still the example's placeholder"));
    kvt_result_free(&r);
    free(path);
    /* Filled in: no problem, and the report names what it found. */
    char *filled = fill_placeholders(sec);
    path = install(conf, filled, 0600);
    check(path, 0, &r);
    assert_non_null(strstr(r.out, "store shop: "));
    assert_non_null(strstr(r.out, "printer usb://04b8:0202, profile epson-tm-t88"));
    assert_non_null(strstr(r.out, "till till-1: store shop"));
    /* the example's token hash matches no token: a note says so (the till
     * would get 401), the configuration itself is fine */
    assert_non_null(strstr(r.out, "note: [till till-1] token_sha256 is still the example's"));
    assert_non_null(strstr(r.out, "no problem found"));
    assert_null(strstr(r.out, "made-up-test-value")); /* secrets are never shown */
    kvt_result_free(&r);
    free(path);
    free(filled);
    free(conf);
    free(sec);
}

/* A count of the occurrences of needle in hay. */
static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_config_check__chain_example(void **state)
{
    (void)state;
    char *conf = example("chain.conf"), *sec = example("chain.secrets.example");
    kvt_result r;
    /* As shipped: bergen and trondheim share [credentials bergen]; each of
     * its placeholders is one problem, named once, and the count says so
     * (journal folder fine, 2 key sets x 3 placeholders = 6). */
    char *path = install(conf, sec, 0600);
    check(path, 3, &r);
    assert_int_equal(count(r.out, "[credentials bergen] client_id is still"), 1);
    assert_int_equal(count(r.out, "[credentials partner] client_id is still"), 1);
    assert_non_null(strstr(r.out, "6 problems found"));
    kvt_result_free(&r);
    free(path);
    char *filled = fill_placeholders(sec);
    path = install(conf, filled, 0600);
    check(path, 0, &r);
    /* three stores, one in each refund pattern */
    assert_non_null(strstr(r.out, "store oslo: "));
    assert_non_null(strstr(r.out, "refunded with partner keys"));
    assert_non_null(strstr(r.out, "refunded with its own credentials"));
    assert_non_null(strstr(r.out, "refunded with one MSN with store bergen"));
    assert_non_null(strstr(r.out, "till trondheim-1: store trondheim, may refund for the chain"));
    assert_int_equal(count(r.out, "token_sha256 is still the example's"), 3);
    kvt_result_free(&r);
    free(path);
    free(filled);
    free(conf);
    free(sec);
}

/* Broken installations: each problem is named with its fix, exit 3. */
static void test_config_check__problems(void **state)
{
    (void)state;
    char *conf = example("shop.conf"), *sec0 = example("shop.secrets.example");
    char *sec = fill_placeholders(sec0);
    kvt_result r;
    struct {
        const char *key, *value; /* a key of shop.conf set to value, or NULL */
        mode_t mode;
        const char *want;
    } cases[] = {
        { NULL, NULL, 0644, "chmod 600" },
        { "printer", "usb://zz", 0600, "[store shop]: printer = usb://zz" },
        { "printer", "lp:///nonexistent/lp0", 0600, "not there now" }, /* a note, see below */
        { "profile", "no-such-printer", 0600, "kvitt profiles" },
        { "store", "nowhere", 0600, "nowhere" },
        { "token_sha256", "abc", 0600, "token_sha256" },
        { "msn", "12", 0600, "Merchant-Serial-Number" },
        { "secrets", "missing.secrets", 0600, "missing.secrets" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *c = cases[i].key ? set_key(conf, cases[i].key, cases[i].value) : strdup(conf);
        char *path = install(c, sec, cases[i].mode);
        int want = strcmp(cases[i].want, "not there now") == 0 ? 0 : 3;
        check(path, want, &r);
        if (!strstr(r.out, cases[i].want))
            fail_msg("case %zu: '%s' missing in:\n%s", i, cases[i].want, r.out);
        kvt_result_free(&r);
        free(path);
        free(c);
    }
    /* The journal's folder is missing. */
    char *c = strdup(conf);
    char *path = install(c, sec, 0600);
    char *conf2 = read_text(path);
    char *moved = set_key(conf2, "journal", "/nonexistent/kvitt/journal.db");
    assert_int_equal(kvt_write_file(path, moved, strlen(moved)), 0);
    check(path, 3, &r);
    assert_non_null(strstr(r.out, "install -d -m 0700 /nonexistent/kvitt"));
    kvt_result_free(&r);
    /* --config names a folder. */
    const char *argv[] = { "kvitt", "config", "check", "--config", kvt_tmpdir(), NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 3);
    assert_non_null(strstr(r.out, "is a directory"));
    kvt_result_free(&r);
    /* The journal names a folder (a shop wrote the folder, not the file):
     * named as such, with the file to write instead; never "chmod" the
     * folder.  The back-office commands say the same. */
    char *jdir = kvt_path("%s/jfolder", kvt_tmpdir());
    assert_int_equal(mkdir(jdir, 01777), 0);
    assert_int_equal(chmod(jdir, 01777), 0);
    char *injdir = set_key(conf2, "journal", jdir);
    assert_int_equal(kvt_write_file(path, injdir, strlen(injdir)), 0);
    check(path, 3, &r);
    assert_non_null(strstr(r.out, "is a folder"));
    if (strstr(r.out, "chmod"))
        fail_msg("advises a chmod of the journal's folder:\n%s", r.out);
    kvt_result_free(&r);
    const char *rd[] = { "kvitt", "--config", path, "report", "day", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, rd), 0);
    assert_int_equal(r.status, 3);
    if (!strstr(r.err, "is a folder"))
        fail_msg("report day with the journal a folder: %s", r.err);
    kvt_result_free(&r);
    free(injdir);
    free(jdir);
    /* A value with an escape sequence is named without sending it to the
     * terminal raw. */
    char *esc = set_key(conf2, "environment", "test\033[2J");
    assert_int_equal(kvt_write_file(path, esc, strlen(esc)), 0);
    check(path, 3, &r);
    assert_non_null(strstr(r.out, "environment"));
    assert_null(strchr(r.out, '\033'));
    kvt_result_free(&r);
    free(esc);
    /* --config names a folder everybody may write (like /tmp): the folder
     * is named as the problem, and no chmod of the folder is advised. */
    char *shared = kvt_path("%s/shared-tmp", kvt_tmpdir());
    assert_int_equal(mkdir(shared, 0755), 0);
    assert_int_equal(chmod(shared, 01777), 0);
    argv[4] = shared;
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 3);
    assert_non_null(strstr(r.out, "is a directory"));
    if (strstr(r.out, "chmod"))
        fail_msg("advises a chmod of a folder:\n%s", r.out);
    kvt_result_free(&r);
    free(shared);
    free(moved);
    free(conf2);
    free(path);
    free(c);
    free(sec);
    free(sec0);
    free(conf);
}

/* [proxy NAME] sections (docs/proxy.md) are checked too: one that works is
 * listed, one with a wrong listen address or rule is a problem, named. */
static void test_config_check__proxy_sections(void **state)
{
    (void)state;
    char *conf = example("shop.conf"), *sec0 = example("shop.secrets.example");
    char *sec = fill_placeholders(sec0);
    static const char good[] = "\n[proxy till-1]\nlisten = tcp://127.0.0.1:9100\nprinter = tcp://192.168.1.50:9100\n"
                               "store = shop\nmatch = ^VIPPS +{amount}$\nmax_amount = 20000.00\n";
    struct {
        const char *from, *to, *want;
        int code;
    } cases[] = {
        { NULL, NULL, "proxy till-1: listen tcp://127.0.0.1:9100", 0 },
        { "listen = tcp://127.0.0.1:9100", "listen = udp://127.0.0.1:9100", "listen", 3 },
        { "match = ^VIPPS +{amount}$", "match = ^VIPPS +$", "match", 3 },
        { "printer = tcp://192.168.1.50:9100", "printer = usb://zz", "[proxy till-1]: printer = usb://zz", 3 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = malloc(strlen(conf) + sizeof good + 64);
        strcpy(text, conf);
        strcat(text, good);
        if (cases[i].from) {
            char *at = strstr(text, cases[i].from);
            assert_non_null(at);
            char *rest = strdup(at + strlen(cases[i].from));
            strcpy(at, cases[i].to);
            strcat(at, rest);
            free(rest);
        }
        char *path = install(text, sec, 0600);
        kvt_result r;
        check(path, cases[i].code, &r);
        if (!strstr(r.out, cases[i].want))
            fail_msg("case %zu: '%s' missing in:\n%s", i, cases[i].want, r.out);
        kvt_result_free(&r);
        free(path);
        free(text);
    }
    free(sec);
    free(sec0);
    free(conf);
}

/* Every option of `kvitt config --help` is in its man page. */
static void test_config_check__man_page_lists_every_option(void **state)
{
    (void)state;
    const char *argv[] = { "kvitt", "config", "--help", NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 0);
    char *man_path = kvt_path("%s/man/kvitt-config.1.scd", kvt_srcdir());
    char *man = read_text(man_path);
    int n = 0;
    for (const char *p = r.out; (p = strstr(p, "  --")) != NULL; p += 4) {
        char opt[64];
        assert_int_equal(sscanf(p + 2, "%63[-a-z]", opt), 1);
        if (!strstr(man, opt))
            fail_msg("%s is in --help but not in man/kvitt-config.1.scd", opt);
        n++;
    }
    assert_true(n >= 3);
    free(man);
    free(man_path);
    kvt_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_check__shop_example),
        cmocka_unit_test(test_config_check__chain_example),
        cmocka_unit_test(test_config_check__problems),
        cmocka_unit_test(test_config_check__proxy_sections),
        cmocka_unit_test(test_config_check__man_page_lists_every_option),
    };
    return cmocka_run_group_tests_name("config_check", tests, NULL, NULL);
}
