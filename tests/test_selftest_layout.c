/* test_selftest_layout.c - the printer test page fits the printer it is
 * printed on.  The page's bytes are decoded back by `kvitt dump --json`
 * (the ESC/POS decoder) and every printed line is measured in character
 * cells: characters x the width set by ESC ! / GS !, against the
 * profile's columns.  A line wider than the paper would wrap on paper. */
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

#include "escpos/encoder.h"
#include "escpos/profile.h"
#include "src/printer/selftest.h"
#include "sim/sim.h"
#include "tests/lib/kvtest.h"

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Decode file with `kvitt dump --json --profile NAME`; fail on a line that
 * is wider than the profile's font-A columns.  Returns the page's text,
 * lines joined with '\n' (malloc'd). */
static char *assert_no_line_wraps(const char *file, const kv_profile *p)
{
    const char *argv[] = { "kvitt", "dump", "--json", "--profile", p->name, file, NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, argv), 0);
    assert_int_equal(r.status, 0);
    cJSON *arr = cJSON_Parse(r.out);
    assert_non_null(arr);
    size_t cap = r.outlen + 1, o = 0;
    char *text = calloc(1, cap);
    assert_non_null(text);
    char line[512] = "";
    unsigned cells = 0, width = 1, lines = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(it, "name"));
        const char *params = cJSON_GetStringValue(cJSON_GetObjectItem(it, "params"));
        const char *cmd = cJSON_GetStringValue(cJSON_GetObjectItem(it, "cmd"));
        unsigned n = 0;
        if (!name)
            continue;
        if (strcmp(name, "init") == 0) {
            width = 1;
        } else if (params && cmd && strcmp(cmd, "ESC !") == 0 && sscanf(params, "n=0x%x", &n) == 1) {
            width = (n & 0x20) ? 2 : 1;
            assert_int_equal(n & 0x01, 0); /* the page uses font A only */
        } else if (params && cmd && strcmp(cmd, "GS !") == 0 && sscanf(params, "n=0x%x", &n) == 1) {
            width = ((n >> 4) & 7) + 1;
        } else if (strcmp(name, "text") == 0) {
            const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(it, "text"));
            assert_non_null(t);
            cells += (unsigned)utf8_chars(t) * width;
            strncat(line, t, sizeof line - strlen(line) - 1);
        } else if (strcmp(name, "print-lf") == 0 || strcmp(name, "print-feed-lines") == 0) {
            if (cells > p->columns_a)
                fail_msg("%s: the line \"%s\" needs %u columns; %s has %u", p->name, line, cells,
                         p->name, (unsigned)p->columns_a);
            o += (size_t)snprintf(text + o, cap - o, "%s\n", line);
            if (cells)
                lines++;
            cells = 0;
            line[0] = 0;
        }
    }
    assert_int_equal(cells, 0); /* nothing left unprinted after the last LF */
    assert_true(lines >= 6);
    cJSON_Delete(arr);
    kvt_result_free(&r);
    return text;
}

/* Every profile's test page, with the longest status line kvitt writes. */
static void test_selftest_layout__every_profile_fits(void **state)
{
    (void)state;
    const kv_profile *p;
    for (size_t i = 0; (p = kv_profile_at(i)) != NULL; i++) {
        kv_escpos_options eo = KV_ESCPOS_OPTIONS_INIT;
        eo.profile = p;
        kv_escpos *e = NULL;
        assert_int_equal(kv_escpos_create(&e, &eo), KV_ESCPOS_OK);
        assert_int_equal(kv_selftest_page_write(e, "paper near end (USB port status)"), KV_ESCPOS_OK);
        size_t len = 0;
        const uint8_t *b = kv_escpos_data(e, &len);
        char *f = kvt_path("%s/page-%s.bin", kvt_tmpdir(), p->name);
        assert_int_equal(kvt_write_file(f, b, len), 0);
        kv_escpos_destroy(e);
        char *text = assert_no_line_wraps(f, p);
        /* the page says which profile it is laid out for, and its width */
        char want[96];
        snprintf(want, sizeof want, "Profile: %s\n", p->name);
        assert_non_null(strstr(text, want));
        snprintf(want, sizeof want, "%u dots", (unsigned)p->dots);
        assert_non_null(strstr(text, want));
        free(text);
        free(f);
    }
}

/* `kvitt selftest` without --profile lays the page out for the printer it
 * prints on: the profile of the store whose printer this is. */
static void test_selftest_layout__uses_the_printers_profile(void **state)
{
    (void)state;
    char *dir = kvt_path("%s/shop", kvt_tmpdir());
    assert_int_equal(mkdir(dir, 0755), 0);
    char *conf = kvt_path("%s/kvitt.conf", dir);
    assert_int_equal(kv_sim_write_config_url("http://127.0.0.1:9", conf), KV_SIM_OK);
    /* the simulator's oslo store: printer virtual:DIR/printer/oslo; make
     * it an Epson TM-T88 (512 dots, 42 columns) */
    unsigned char *c = NULL;
    size_t clen = 0;
    assert_int_equal(kvt_read_file(conf, &c, &clen), 0);
    char *pos = strstr((char *)c, "profile = generic-80");
    assert_non_null(pos);
    char *fixed = malloc(clen + 16);
    assert_non_null(fixed);
    snprintf(fixed, clen + 16, "%.*sprofile = epson-tm-t88%s", (int)(pos - (char *)c), (char *)c,
             pos + strlen("profile = generic-80"));
    assert_int_equal(kvt_write_file(conf, fixed, strlen(fixed)), 0);
    char *uri = kvt_path("virtual:%s/printer/oslo", dir);
    const char *argv[] = { "kvitt", "selftest", "--printer", uri, "--config", conf, NULL };
    kvt_result r;
    assert_int_equal(kvt_run(&r, NULL, NULL, 60, argv), 0);
    if (r.status != 0)
        printf("%s%s", r.out, r.err);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "profile: epson-tm-t88"));
    kvt_result_free(&r);
    char *job = kvt_path("%s/printer/oslo/0001.bin", dir);
    char *text = assert_no_line_wraps(job, kv_profile_find("epson-tm-t88"));
    assert_non_null(strstr(text, "Profile: epson-tm-t88\n"));
    free(text);
    free(job);
    free(uri);
    free(fixed);
    free(c);
    free(conf);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selftest_layout__every_profile_fits),
        cmocka_unit_test(test_selftest_layout__uses_the_printers_profile),
    };
    return cmocka_run_group_tests_name("selftest_layout", tests, NULL, NULL);
}
