/* test_config.c - the INI configuration loader (src/config), on real files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "src/config/config.h"
#include "tests/lib/kvtest.h"

static const char main_conf[] =
    "# a test configuration\n"
    "[kvitt]\n"
    "environment = http://127.0.0.1:9\n"
    "journal = j.db\n"
    "secrets = t.secrets\n"
    "poll_first_s = 1\n"
    "poll_interval_ms = 500   # inline comment\n"
    "default_store = oslo\n"
    "till_id = till-7\n"
    "\n"
    "[store oslo]\n"
    "name = Kvitt Kaffe Oslo\n"
    "msn = 123456\n"
    "language = nb\n"
    "currency = NOK\n"
    "printer = virtual:out\n"
    "credentials = oslo\n"
    "reference_prefix = OSL\n"
    "chain = nordkaffe\n"
    "\n"
    "[store kbh]\n"
    "name = Kvitt Kaffe København\n"
    "msn = 234567\n"
    "language = da\n"
    "currency = DKK\n"
    "credentials = partner\n"
    "\n"
    "[serve]\n"
    "listen = 127.0.0.1:8580\n"
    "\n"
    "[till t1]\n"
    "store = oslo\n"
    "token_sha256 = abcd\n";

static const char secrets[] =
    "[credentials oslo]\n"
    "client_id = id-oslo\n"
    "client_secret = env:KVT_SECRET\n"
    "subscription_key = sub-oslo\n"
    "\n"
    "[credentials partner]\n"
    "client_id = id-p\n"
    "client_secret = sec-p\n"
    "subscription_key = sub-p\n"
    "partner = true\n";

static char *write_pair(const char *name, const char *conf, const char *sec, mode_t secmode)
{
    char *dir = kvt_path("%s/%s", kvt_tmpdir(), name);
    mkdir(dir, 0755);
    char *cp = kvt_path("%s/kvitt.conf", dir);
    char *sp = kvt_path("%s/t.secrets", dir);
    assert_int_equal(kvt_write_file(cp, conf, strlen(conf)), 0);
    assert_int_equal(kvt_write_file(sp, sec, strlen(sec)), 0);
    assert_int_equal(chmod(sp, secmode), 0);
    free(sp);
    free(dir);
    return cp;
}

static void test_config__valid_file_loads_typed_values(void **state)
{
    (void)state;
    setenv("KVT_SECRET", "from-env", 1);
    char *cp = write_pair("valid", main_conf, secrets, 0600);
    kv_config *c = NULL;
    char err[512] = "";
    assert_int_equal(kv_config_load(&c, cp, err, sizeof err), KV_C_OK);
    const kv_config_main *m = kv_config_main_get(c);
    assert_string_equal(m->base_url, "http://127.0.0.1:9");
    assert_int_equal(m->poll_first_s, 1);
    assert_int_equal(m->poll_interval_ms, 500);
    assert_string_equal(m->till_id, "till-7");
    /* relative paths are relative to the config's folder */
    assert_non_null(strstr(m->journal, "/valid/j.db"));
    assert_int_equal(kv_config_store_count(c), 2);
    const kv_store *s = kv_config_store(c, NULL);
    assert_string_equal(s->id, "oslo");
    assert_string_equal(s->msn, "123456");
    assert_string_equal(s->chain, "nordkaffe");
    const kv_credentials *cr = kv_config_credentials(c, s);
    assert_non_null(cr);
    assert_string_equal(cr->client_secret, "from-env");
    assert_int_equal(cr->partner, 0);
    const kv_store *k = kv_config_store(c, "kbh");
    assert_string_equal(k->language, "da");
    assert_string_equal(k->currency, "DKK");
    assert_string_equal(k->reference_prefix, "KBH"); /* default from the id */
    assert_int_equal(kv_config_credentials(c, k)->partner, 1);
    assert_ptr_equal(kv_config_store_by_prefix(c, "OSL-20261125-1"), s);
    assert_null(kv_config_store_by_prefix(c, "OSLO20261125"));
    /* the daemon's own sections stay reachable */
    assert_string_equal(kv_config_get(c, "serve", "listen"), "127.0.0.1:8580");
    assert_string_equal(kv_config_get(c, "till t1", "token_sha256"), "abcd");
    assert_int_equal(kv_config_line(c, "till t1", "store"), 32);
    assert_null(kv_config_get(c, "serve", "nope"));
    kv_config_free(c);
    kv_config_free(NULL);
    free(cp);
}

static void test_config__unknown_key_names_file_line_key_and_fix(void **state)
{
    (void)state;
    setenv("KVT_SECRET", "x", 1);
    char *bad = strdup(main_conf);
    char *p = strstr(bad, "language = nb");
    memcpy(p, "langauge = nb", 13);
    char *cp = write_pair("unknown", bad, secrets, 0600);
    kv_config *c = NULL;
    char err[512] = "";
    assert_int_equal(kv_config_load(&c, cp, err, sizeof err), KV_C_E_VALUE);
    assert_null(c);
    assert_non_null(strstr(err, "kvitt.conf:14:"));
    assert_non_null(strstr(err, "langauge"));
    assert_non_null(strstr(err, "fix:"));
    free(bad);
    free(cp);
}

static void test_config__bad_values_are_explained(void **state)
{
    (void)state;
    setenv("KVT_SECRET", "x", 1);
    struct { const char *from, *to, *expect; } cases[] = {
        { "language = nb", "language = de", "nb | da | fi | sv | en" },
        { "currency = NOK", "currency = USD", "NOK | DKK | EUR" },
        { "msn = 123456", "msn = 12ab56", "Merchant-Serial-Number" },
        { "poll_interval_ms = 500", "poll_interval_ms = 100", "120 polls a minute" },
        { "default_store = oslo", "default_store = paris", "no [store paris]" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[4096];
        const char *p = strstr(main_conf, cases[i].from);
        assert_non_null(p);
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(p - main_conf), main_conf, cases[i].to, p + strlen(cases[i].from));
        char name[32];
        snprintf(name, sizeof name, "bad%zu", i);
        char *cp = write_pair(name, buf, secrets, 0600);
        kv_config *c = NULL;
        char err[512] = "";
        assert_int_not_equal(kv_config_load(&c, cp, err, sizeof err), KV_C_OK);
        if (!strstr(err, cases[i].expect))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].expect);
        assert_non_null(strstr(err, "kvitt.conf:"));
        free(cp);
    }
}

static void test_config__secrets_readable_by_others_refused(void **state)
{
    (void)state;
    setenv("KVT_SECRET", "x", 1);
    char *cp = write_pair("perm", main_conf, secrets, 0644);
    kv_config *c = NULL;
    char err[512] = "";
    assert_int_equal(kv_config_load(&c, cp, err, sizeof err), KV_C_E_SECRETS);
    assert_non_null(strstr(err, "0644"));
    assert_non_null(strstr(err, "chmod 600"));
    assert_null(strstr(err, "sec-p")); /* never a secret in the text */
    free(cp);
    cp = write_pair("perm-g", main_conf, secrets, 0640);
    assert_int_equal(kv_config_load(&c, cp, err, sizeof err), KV_C_E_SECRETS);
    assert_non_null(strstr(err, "group"));
    free(cp);
}

/* `secrets = FOLDER` is named as a folder, never "chmod 600 FOLDER". */
static void test_config__secrets_path_is_a_folder(void **state)
{
    (void)state;
    setenv("KVT_SECRET", "x", 1);
    char *cp = write_pair("secdir", main_conf, secrets, 0600);
    char *dir = kvt_path("%s/secdir/t.secrets.d", kvt_tmpdir());
    assert_int_equal(mkdir(dir, 0700), 0);
    char *conf = kvt_path("%s/secdir/folder.conf", kvt_tmpdir());
    const char *key = "secrets = t.secrets";
    const char *at = strstr(main_conf, key);
    assert_non_null(at);
    char body[4096];
    snprintf(body, sizeof body, "%.*ssecrets = t.secrets.d%s", (int)(at - main_conf), main_conf,
             at + strlen(key));
    assert_int_equal(kvt_write_file(conf, body, strlen(body)), 0);
    kv_config *c = NULL;
    char err[512] = "";
    assert_int_equal(kv_config_load(&c, conf, err, sizeof err), KV_C_E_SECRETS);
    assert_non_null(strstr(err, "is a directory"));
    assert_null(strstr(err, "chmod"));
    free(conf);
    free(dir);
    free(cp);
}

static void test_config__env_variable_missing(void **state)
{
    (void)state;
    unsetenv("KVT_SECRET");
    char *cp = write_pair("env", main_conf, secrets, 0600);
    kv_config *c = NULL;
    char err[512] = "";
    assert_int_equal(kv_config_load(&c, cp, err, sizeof err), KV_C_E_VALUE);
    assert_non_null(strstr(err, "KVT_SECRET"));
    assert_non_null(strstr(err, "t.secrets:3"));
    free(cp);
}

static void test_config__missing_credentials_and_syntax(void **state)
{
    (void)state;
    setenv("KVT_SECRET", "x", 1);
    const char *only_oslo = "[credentials oslo]\nclient_id = a\nclient_secret = b\nsubscription_key = c\n";
    char *cp = write_pair("nocred", main_conf, only_oslo, 0600);
    kv_config *c = NULL;
    char err[512] = "";
    assert_int_equal(kv_config_load(&c, cp, err, sizeof err), KV_C_E_SECRETS);
    assert_non_null(strstr(err, "[credentials partner]"));
    free(cp);
    cp = write_pair("syntax", "[kvitt]\nthis line has no equals\n", secrets, 0600);
    assert_int_equal(kv_config_load(&c, cp, err, sizeof err), KV_C_E_SYNTAX);
    assert_non_null(strstr(err, "kvitt.conf:2:"));
    free(cp);
    cp = write_pair("section", "[printer x]\n", secrets, 0600);
    assert_int_equal(kv_config_load(&c, cp, err, sizeof err), KV_C_E_SYNTAX);
    assert_non_null(strstr(err, "unknown section"));
    free(cp);
    /* regression (fuzz_config): a section name longer than the buffer */
    char longsec[400];
    snprintf(longsec, sizeof longsec, "[kvitt]\n[store x %0300d]\n", 0);
    cp = write_pair("longsec", longsec, secrets, 0600);
    assert_int_equal(kv_config_load(&c, cp, err, sizeof err), KV_C_E_SYNTAX);
    assert_non_null(strstr(err, "kvitt.conf:2: section name longer"));
    free(cp);
    assert_int_equal(kv_config_load(&c, "/nonexistent/kvitt.conf", err, sizeof err), KV_C_E_IO);
    assert_non_null(strstr(err, "/nonexistent/kvitt.conf"));
}

static void test_config__cli_refuses_open_secrets_with_exit_3(void **state)
{
    (void)state;
    setenv("KVT_SECRET", "x", 1);
    char *cp = write_pair("cli", main_conf, secrets, 0604);
    kvt_result r;
    const char *argv[] = { "kvitt", "--config", cp, "pay", "--amount", "10.00", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 3);
    assert_non_null(strstr(r.err, "chmod 600"));
    assert_non_null(strstr(r.err, "others"));
    kvt_result_free(&r);
    /* KVITT_CONFIG works like --config */
    char *env = kvt_path("KVITT_CONFIG=%s", cp);
    const char *envp[] = { env, NULL };
    const char *argv2[] = { "kvitt", "find", NULL };
    assert_int_equal(kvt_run(&r, NULL, envp, 30, argv2), 0);
    assert_int_equal(r.status, 3);
    assert_non_null(strstr(r.err, "t.secrets"));
    kvt_result_free(&r);
    free(env);
    free(cp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config__valid_file_loads_typed_values),
        cmocka_unit_test(test_config__unknown_key_names_file_line_key_and_fix),
        cmocka_unit_test(test_config__bad_values_are_explained),
        cmocka_unit_test(test_config__secrets_readable_by_others_refused),
        cmocka_unit_test(test_config__secrets_path_is_a_folder),
        cmocka_unit_test(test_config__env_variable_missing),
        cmocka_unit_test(test_config__missing_credentials_and_syntax),
        cmocka_unit_test(test_config__cli_refuses_open_secrets_with_exit_3),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
