/* test_partner.c - `kvitt partner` against a real `kvitt sim` (its
 * Management API over HTTP with the partner-keys rules): sales units with
 * their capabilities, --write-config read back by the config loader, the
 * sign-up link on paper (QR scanned back), wrong keys and unknown org
 * numbers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "src/config/config.h"
#include "tests/lib/kvbackoffice.h"
#include "tests/lib/kvflow.h"
#include "tests/lib/kvtest.h"

static kvt_result run(kvf_env *e, const char *const args[])
{
    kvt_result r;
    assert_int_equal(kvf_kvitt(e, &r, NULL, args), 0);
    return r;
}

static void test_partner__sales_units_and_capabilities(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "partner-units", NULL), 0);
    const char *a[] = { "partner", "sales-units", "--org", "923609016", "--credentials", "nordkaffe-partner",
                        "--json", NULL };
    kvt_result r = run(&e, a);
    if (r.status != 0)
        fail_msg("exit %d: %s", r.status, r.err);
    cJSON *o = cJSON_Parse(r.out);
    cJSON *units = cJSON_GetObjectItemCaseSensitive(o, "sales_units");
    assert_int_equal(cJSON_GetArraySize(units), 2);
    cJSON *u0 = cJSON_GetArrayItem(units, 0), *u1 = cJSON_GetArrayItem(units, 1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(u0, "msn")->valuestring, "123456");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(u0, "status")->valuestring, "ACTIVE");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(u0, "name")->valuestring, "Kvitt Kaffe Oslo");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(u0, "store_id")->valuestring, "kvitt-kaffe-oslo");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(u0, "partial_capture")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(u0, "skip_landing_page")));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(u1, "msn")->valuestring, "234567");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(u1, "capture_type")->valuestring, "DirectCapture");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(u1, "partial_capture")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(u1, "skip_landing_page")));
    cJSON_Delete(o);
    kvt_result_free(&r);
    /* the text table */
    const char *t[] = { "partner", "sales-units", "--org", "923609016", "--credentials", "nordkaffe-partner", NULL };
    r = run(&e, t);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "Kvitt Kaffe Bergen"));
    assert_non_null(strstr(r.out, "DirectCapture"));
    kvt_result_free(&r);
    kvf_stop(&e);
}

static void test_partner__write_config_is_loaded_by_the_config_loader(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "partner-config", NULL), 0);
    char *frag = kvt_path("%s/stores.conf", e.dir);
    const char *a[] = { "partner", "sales-units", "--org", "923609016", "--credentials", "nordkaffe-partner",
                        "--write-config", frag, "--chain", "nordkaffe", NULL };
    kvt_result r = run(&e, a);
    if (r.status != 0)
        fail_msg("exit %d: %s", r.status, r.err);
    kvt_result_free(&r);
    unsigned char *fb, *cb, *sb;
    size_t fl, cl, sl;
    assert_int_equal(kvt_read_file(frag, &fb, &fl), 0);
    /* nothing secret: none of the secrets file's values appear */
    char *sec = kvt_path("%s/kvitt.secrets", e.dir);
    assert_int_equal(kvt_read_file(sec, &sb, &sl), 0);
    for (char *line = strtok((char *)sb, "\n"); line; line = strtok(NULL, "\n")) {
        char *eq = strchr(line, '=');
        if (!eq || (!strstr(line, "secret") && !strstr(line, "subscription_key") && !strstr(line, "client_id")))
            continue;
        const char *v = eq + 1;
        while (*v == ' ')
            v++;
        if (*v && memmem(fb, fl, v, strlen(v)))
            fail_msg("a secret value leaked into the written config: %s", line);
    }
    /* a configuration of the [kvitt] part of the simulator's plus the
     * written stores, read by the real loader */
    assert_int_equal(kvt_read_file(e.conf, &cb, &cl), 0);
    char *first_store = strstr((char *)cb, "\n[store ");
    assert_non_null(first_store);
    size_t head = (size_t)(first_store - (char *)cb) + 1;
    char *merged = kvt_path("%s/merged.conf", e.dir);
    /* default_store named oslo: point it at the new store */
    static const char from[] = "default_store = oslo\n", to[] = "default_store = kvitt-kaffe-oslo\n";
    char *ds = strstr((char *)cb, from);
    assert_non_null(ds);
    assert_true((size_t)(ds - (char *)cb) < head);
    char *text = malloc(head + fl + sizeof to);
    size_t pre = (size_t)(ds - (char *)cb), o = 0;
    memcpy(text, cb, pre);
    o = pre;
    memcpy(text + o, to, sizeof to - 1);
    o += sizeof to - 1;
    memcpy(text + o, ds + sizeof from - 1, head - pre - (sizeof from - 1));
    o += head - pre - (sizeof from - 1);
    memcpy(text + o, fb, fl);
    text[o + fl] = 0;
    assert_int_equal(kvt_write_file(merged, text, strlen(text)), 0);
    kv_config *c = NULL;
    char err[1024] = "";
    if (kv_config_load(&c, merged, err, sizeof err) != KV_C_OK)
        fail_msg("the loader refused the written stores: %s\n%s", err, text);
    assert_int_equal(kv_config_store_count(c), 2);
    const kv_store *s = kv_config_store(c, "kvitt-kaffe-oslo");
    assert_non_null(s);
    assert_string_equal(s->msn, "123456");
    assert_string_equal(s->name, "Kvitt Kaffe Oslo");
    assert_string_equal(s->org_number, "923609016");
    assert_string_equal(s->credentials, "nordkaffe-partner");
    assert_string_equal(s->chain, "nordkaffe");
    s = kv_config_store(c, "kvitt-kaffe-bergen");
    assert_non_null(s);
    assert_string_equal(s->msn, "234567");
    const kv_credentials *cr = kv_config_credentials(c, s);
    assert_non_null(cr);
    assert_true(cr->partner);
    /* two stores never share a reference prefix */
    assert_string_not_equal(kv_config_store(c, "kvitt-kaffe-oslo")->reference_prefix, s->reference_prefix);
    kv_config_free(c);
    /* and kvitt itself runs on it (a report from the same journal) */
    const char *argv[] = { "kvitt", "--config", merged, "report", "day", "--store", "kvitt-kaffe-bergen", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    if (r.status != 0)
        fail_msg("exit %d: %s", r.status, r.err);
    kvt_result_free(&r);
    /* --write-config never overwrites a file: not the fragment written
     * before, and above all not the live configuration (a chain operator
     * who names kvitt.conf would lose [kvitt], the tills and the rest) */
    const char *files[] = { frag, e.conf };
    for (int i = 0; i < 2; i++) {
        unsigned char *before, *after;
        size_t bl, al;
        assert_int_equal(kvt_read_file(files[i], &before, &bl), 0);
        const char *again[] = { "partner", "sales-units", "--org", "923609016", "--credentials",
                                "nordkaffe-partner", "--write-config", files[i], NULL };
        r = run(&e, again);
        if (r.status != 2 || !strstr(r.err, "exists"))
            fail_msg("--write-config %s over an existing file: exit %d: %s", files[i], r.status, r.err);
        kvt_result_free(&r);
        assert_int_equal(kvt_read_file(files[i], &after, &al), 0);
        assert_int_equal(al, bl);
        assert_memory_equal(after, before, bl);
        free(before);
        free(after);
    }
    free(text);
    free(merged);
    free(cb);
    free(sb);
    free(sec);
    free(fb);
    free(frag);
    kvf_stop(&e);
}

static void test_partner__signup_link_and_qr_on_paper(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "partner-signup", NULL), 0);
    const char *a[] = { "partner", "signup", "--org", "923609016", "--credentials", "nordkaffe-partner", "--name",
                        "Ny Kafe", "--print", "--json", NULL };
    kvt_result r = run(&e, a);
    if (r.status != 0)
        fail_msg("exit %d: %s", r.status, r.err);
    char *url = kvf_json(r.out, "url");
    char *job = kvf_json(r.out, "job");
    char *id = kvf_json(r.out, "order_id");
    kvt_result_free(&r);
    assert_non_null(strstr(url, id));
    assert_true(kvf_file_has(job, "Bli Vipps MobilePay-kunde"));
    /* the QR code on the paper scans back to the link */
    const char *v[] = { "kvitt", "verify-qr", job, "--profile", "generic-80", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, v), 0);
    if (r.status != 0)
        fail_msg("verify-qr exit %d: %s %s", r.status, r.out, r.err);
    assert_non_null(strstr(r.out, url));
    kvt_result_free(&r);
    /* --json stays JSON when the printer's folder has a quote and a
     * backslash in its name */
    char *dir = kvt_path("%s/pr\"nt\\er", e.dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    char *uri = kvt_path("virtual:%s", dir);
    const char *q[] = { "partner", "signup", "--org", "923609016", "--credentials", "nordkaffe-partner", "--print",
                        "--printer", uri, "--json", NULL };
    r = run(&e, q);
    assert_int_equal(r.status, 0);
    cJSON *o = cJSON_Parse(r.out);
    if (!o)
        fail_msg("not JSON: %s", r.out);
    cJSON *jb = cJSON_GetObjectItemCaseSensitive(o, "job");
    assert_true(cJSON_IsString(jb) && strncmp(jb->valuestring, dir, strlen(dir)) == 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "printed")));
    cJSON_Delete(o);
    kvt_result_free(&r);
    free(uri);
    free(dir);
    free(url);
    free(job);
    free(id);
    kvf_stop(&e);
}

static void test_partner__wrong_keys_unknown_org_and_bad_input(void **state)
{
    (void)state;
    kvf_env e;
    assert_int_equal(kvf_start(&e, "partner-bad", NULL), 0);
    static const struct { const char *args[10]; int code; const char *msg; } t[] = {
        /* merchant keys: the partner endpoints refuse them */
        { { "partner", "sales-units", "--org", "923609016", "--store", "oslo" }, 3, "requires partner keys" },
        { { "partner", "signup", "--org", "923609016", "--store", "oslo" }, 3, "require partner keys" },
        /* an organisation the partner does not have */
        { { "partner", "sales-units", "--org", "987654321", "--credentials", "nordkaffe-partner" }, 2,
          "no merchant with this organisation number" },
        { { "partner", "sales-units", "--org", "12345" }, 2, "9 digits" },
        { { "partner", "sales-units" }, 2, "--org is required" },
        { { "partner", "sales-units", "--org", "923609016", "--credentials", "nosuch" }, 3, "nosuch" },
        { { "partner", "signup", "--org", "923609016", "--write-config", "x" }, 2, "for sales-units" },
        { { "partner", "signup", "--org", "923609016", "--credentials", "nordkaffe-partner", "--name",
            "a name that is far too long for a sales unit" }, 2, "sales unit name" },
        { { "partner", "merchants" }, 2, "sales-units or signup" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        kvt_result r = run(&e, t[i].args);
        if (r.status != t[i].code || !strstr(r.err, t[i].msg))
            fail_msg("case %zu: exit %d '%s' (want %d '%s')", i, r.status, r.err, t[i].code, t[i].msg);
        kvt_result_free(&r);
    }
    /* a wrong partner secret: exit 3, nothing secret in the message */
    char *sec = kvt_path("%s/kvitt.secrets", e.dir);
    kvr_replace_in_file(sec, "cGFydG5lciBzaW11bGF0b3Igc2VjcmV0IC0gbm90IHJlYWw=", "XXXXXXXXXXXX");
    const char *w[] = { "partner", "sales-units", "--org", "923609016", "--credentials", "nordkaffe-partner", NULL };
    kvt_result r = run(&e, w);
    if (r.status != 3)
        fail_msg("exit %d '%s'", r.status, r.err);
    assert_null(strstr(r.err, "XXXXXXXX"));
    assert_null(strstr(r.err, "IHNpbXVsYXRvciBzZWNyZXQ"));
    kvt_result_free(&r);
    free(sec);
    kvf_stop(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partner__sales_units_and_capabilities),
        cmocka_unit_test(test_partner__write_config_is_loaded_by_the_config_loader),
        cmocka_unit_test(test_partner__signup_link_and_qr_on_paper),
        cmocka_unit_test(test_partner__wrong_keys_unknown_org_and_bad_input),
    };
    return cmocka_run_group_tests_name("partner", tests, NULL, NULL);
}
