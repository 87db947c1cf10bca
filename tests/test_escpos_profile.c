/* test_escpos_profile.c - the printer profile table, and a cross-check of
 * its widths, columns, code-page numbers, cutter feed and native QR against
 * the two capability databases in ../shared/escpos (escpos-printer-db's
 * dist/capabilities.json and ReceiptPrinterEncoder's printers/ID.json and
 * mappings/esc-pos/TABLE.txt).  Read with cJSON and a small line parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escpos/profile.h"
#include "tests/lib/kvtest.h"

static const char *const required[] = {
    "generic-58", "generic-80", "epson-tm-t20", "epson-tm-t88", "epson-tm-t88iii",
    "star-tsp650", "citizen-ct-s310", "bixolon-srp350", "xprinter-xp-n160", "pos-5890",
};

static void test_table_invariants(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        assert_non_null(kv_profile_find(required[i]));
    assert_null(kv_profile_find("epson"));
    assert_null(kv_profile_find(NULL));
    assert_non_null(kv_profile_default());
    assert_string_equal(kv_profile_default()->name, "generic-80");
    assert_true(kv_profile_count() >= 10);
    assert_null(kv_profile_at(kv_profile_count()));
    const kv_profile *p;
    for (size_t i = 0; (p = kv_profile_at(i)); i++) {
        assert_ptr_equal(kv_profile_find(p->name), p);
        assert_true(p->dots == 384 || p->dots == 512 || p->dots == 576);
        assert_true(p->dpi == 180 || p->dpi == 203);
        /* 12-dot font A and 9-dot font B fill the width. */
        assert_int_equal(p->columns_a, p->dots / p->font_a_width);
        assert_int_equal(p->columns_b, p->dots / p->font_b_width);
        assert_int_equal(kv_profile_columns(p, KV_FONT_A, 2), p->columns_a / 2);
        assert_int_equal(kv_profile_columns(p, KV_FONT_B, 1), p->columns_b);
        assert_int_equal(kv_profile_columns(p, KV_FONT_A, 9), 0);
        /* Nordic text needs PC865 and PC858 (with €) everywhere. */
        assert_true(kv_profile_codepage_number(p, KV_CP_PC865) >= 0);
        assert_true(kv_profile_codepage_number(p, KV_CP_PC858) >= 0);
        assert_true(kv_profile_codepage_number(p, p->codepage) >= 0);
        for (int cp = 0; cp < KV_CP_COUNT; cp++) {
            int n = kv_profile_codepage_number(p, (kv_codepage)cp);
            if (n < 0)
                continue;
            kv_codepage back = KV_CP_COUNT;
            assert_int_equal(kv_profile_codepage_from_number(&back, p, n), 0);
            assert_int_equal(back, cp);
        }
        if (!p->cutter)
            assert_false(p->cut_feed_b);
    }
    /* Citizen: ESC t 2 is PC858, and there is no PC850. */
    const kv_profile *c = kv_profile_find("citizen-ct-s310");
    kv_codepage cp = KV_CP_COUNT;
    assert_int_equal(kv_profile_codepage_from_number(&cp, c, 2), 0);
    assert_int_equal(cp, KV_CP_PC858);
    assert_int_equal(kv_profile_codepage_number(c, KV_CP_PC850), -1);
    /* NULL profile = Epson numbering. */
    assert_int_equal(kv_profile_codepage_number(NULL, KV_CP_PC858), 19);
    assert_int_equal(kv_profile_codepage_from_number(&cp, NULL, 5), 0);
    assert_int_equal(cp, KV_CP_PC865);
    assert_int_equal(kv_profile_codepage_from_number(&cp, NULL, 77), -1);
    /* The facts of issue 2: the TM-T88III has no native QR, the 58 mm
     * profiles are 384 dots. */
    assert_false(kv_profile_find("epson-tm-t88iii")->native_qr);
    assert_int_equal(kv_profile_find("pos-5890")->dots, 384);
    assert_int_equal(kv_profile_find("epson-tm-t88")->dpi, 180);
}

/* ---- cross-check with ../shared/escpos ------------------------------------ */

static cJSON *load_json(const char *path)
{
    unsigned char *buf;
    size_t len;
    if (kvt_read_file(path, &buf, &len))
        fail_msg("cannot read %s", path);
    cJSON *j = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    if (!j)
        fail_msg("cannot parse %s", path);
    return j;
}

/* Our names of the pages as the two databases spell them. */
static const char *const rpe_names[KV_CP_COUNT] = { "cp437", "cp850", "cp858", "cp865", "windows1252" };
static const char *const db_names[KV_CP_COUNT] = { "CP437", "CP850", "CP858", "CP865", "CP1252" };

/* Does the RPE mapping table list page `name` at number n?  Lines are
 * "<tab>0xNN<tab>name", disabled ones start with '#' ("# Duplicate": the
 * number still selects the page, so those count when allow_disabled). */
static int rpe_mapping_has(const char *table, int n, const char *name, int allow_disabled)
{
    char *path = kvt_path("%s/escpos/receipt-printer-encoder/data/mappings/esc-pos/%s.txt",
                          kvt_shared(), table);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot read %s", path);
    free(path);
    char line[256];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        char *s = line;
        int disabled = 0;
        if (*s == '#') {
            disabled = 1;
            s++;
        }
        unsigned num;
        char nm[64];
        if (sscanf(s, " 0x%x %63s", &num, nm) != 2)
            continue;
        if ((int)num == n && strcmp(nm, name) == 0 && (!disabled || allow_disabled))
            found = 1;
    }
    fclose(f);
    return found;
}

/* Any enabled number for page `name` in the table? */
static int rpe_mapping_lists(const char *table, const char *name)
{
    for (int n = 0; n < 256; n++)
        if (rpe_mapping_has(table, n, name, 0))
            return 1;
    return 0;
}

static const struct {
    const char *ours;
    const char *rpe;       /* ReceiptPrinterEncoder printers/<id>.json */
    const char *db;        /* escpos-printer-db profile with Epson numbering, or NULL */
    int db_media;          /* compare dots/dpi/columns with the db profile too */
} refs[] = {
    { "epson-tm-t20", "epson-tm-t20iii", "TM-T20II", 1 },
    { "epson-tm-t88", "epson-tm-t88v", "TM-T88V", 1 },
    { "epson-tm-t88", "epson-tm-t88iv", "TM-T88IV", 1 },
    { "epson-tm-t88", "epson-tm-t88vi", NULL, 0 },
    { "epson-tm-t88", "epson-tm-t88vii", NULL, 0 },
    { "epson-tm-t88iii", "epson-tm-t88iii", "TM-T88III", 1 },
    /* Star in ESC/POS emulation: RPE's star table uses Epson numbers; the
     * db's TSP600 uses Star's own (ESC GS t) numbering, so only RPE here. */
    { "star-tsp650", "star-tsp650", NULL, 0 },
    /* CT-S651 is the db's Citizen (640 dots, so codepages only). */
    { "citizen-ct-s310", "citizen-ct-s310ii", "CT-S651", 0 },
    { "bixolon-srp350", "bixolon-srp350", NULL, 0 },
    { "xprinter-xp-n160", "xprinter-xp-n160ii", NULL, 0 },
    { "pos-5890", "pos-5890", "POS-5890", 1 },
    { "generic-80", "xprinter-xp-t80q", "default", 0 },
    { "generic-58", "pos-5890", "POS-5890", 1 },
};

static void test_cross_check_shared(void **state)
{
    (void)state;
    KVT_REQUIRE_SHARED();
    char *dbpath = kvt_path("%s/escpos/escpos-printer-db/dist/capabilities.json", kvt_shared());
    cJSON *db = load_json(dbpath);
    free(dbpath);
    cJSON *dbp = cJSON_GetObjectItemCaseSensitive(db, "profiles");
    assert_non_null(dbp);
    size_t checked = 0;
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        const kv_profile *p = kv_profile_find(refs[i].ours);
        assert_non_null(p);
        char *path = kvt_path("%s/escpos/receipt-printer-encoder/data/printers/%s.json",
                              kvt_shared(), refs[i].rpe);
        cJSON *r = load_json(path);
        free(path);
        cJSON *media = cJSON_GetObjectItem(r, "media");
        cJSON *caps = cJSON_GetObjectItem(r, "capabilities");
        assert_int_equal(cJSON_GetObjectItem(media, "dpi")->valueint, p->dpi);
        assert_int_equal(cJSON_GetObjectItem(media, "width")->valueint, p->paper_mm);
        cJSON *fonts = cJSON_GetObjectItem(caps, "fonts");
        assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(fonts, "A"), "columns")->valueint,
                         p->columns_a);
        assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(fonts, "B"), "columns")->valueint,
                         p->columns_b);
        /* Code pages: every number we send selects that page in the
         * vendor's table; a page we say is missing is not listed. */
        char table[64];
        snprintf(table, sizeof table, "%s", cJSON_GetObjectItem(caps, "codepages")->valuestring);
        for (char *s = table; *s; s++)
            if (*s == '/')
                *s = '-';
        for (int cp = 0; cp < KV_CP_COUNT; cp++) {
            int n = p->codepage_number[cp];
            if (n >= 0) {
                if (!rpe_mapping_has(table, n, rpe_names[cp], 1))
                    fail_msg("%s: ESC t %d is not %s in %s.txt", p->name, n, rpe_names[cp], table);
            } else if (rpe_mapping_lists(table, rpe_names[cp])) {
                fail_msg("%s: %s is listed in %s.txt but not in our profile", p->name,
                         rpe_names[cp], table);
            }
        }
        /* Cutter and the lines fed before cutting. */
        cJSON *cutter = cJSON_GetObjectItem(caps, "cutter");
        if (p->cutter) {
            assert_non_null(cutter);
            assert_int_equal(cJSON_GetObjectItem(cutter, "feed")->valueint, p->cut_feed_lines);
        }
        /* We never claim native QR where a database says there is none. */
        cJSON *qr = cJSON_GetObjectItem(caps, "qrcode");
        if (p->native_qr)
            assert_true(cJSON_IsTrue(cJSON_GetObjectItem(qr, "supported")));
        cJSON_Delete(r);

        if (refs[i].db) {
            cJSON *d = cJSON_GetObjectItem(dbp, refs[i].db);
            assert_non_null(d);
            cJSON *cps = cJSON_GetObjectItem(d, "codePages");
            for (int cp = 0; cp < KV_CP_COUNT; cp++) {
                int n = p->codepage_number[cp];
                if (n < 0)
                    continue;
                char key[8];
                snprintf(key, sizeof key, "%d", n);
                cJSON *v = cJSON_GetObjectItem(cps, key);
                if (!v || !cJSON_IsString(v) || strcmp(v->valuestring, db_names[cp]) != 0)
                    fail_msg("%s: ESC t %d is %s in escpos-printer-db %s, we say %s", p->name, n,
                             v && cJSON_IsString(v) ? v->valuestring : "absent", refs[i].db,
                             db_names[cp]);
            }
            if (p->native_qr)
                assert_true(cJSON_IsTrue(cJSON_GetObjectItem(
                    cJSON_GetObjectItem(d, "features"), "qrCode")));
            if (refs[i].db_media) {
                cJSON *m = cJSON_GetObjectItem(d, "media");
                assert_int_equal(cJSON_GetObjectItem(m, "dpi")->valueint, p->dpi);
                assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "width"), "pixels")
                                 ->valueint, p->dots);
                cJSON *f = cJSON_GetObjectItem(d, "fonts");
                assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(f, "0"), "columns")
                                 ->valueint, p->columns_a);
                assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(f, "1"), "columns")
                                 ->valueint, p->columns_b);
            }
        }
        checked++;
    }
    assert_int_equal(checked, sizeof refs / sizeof refs[0]);
    cJSON_Delete(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_invariants),
        cmocka_unit_test(test_cross_check_shared),
    };
    return cmocka_run_group_tests_name("escpos_profile", tests, NULL, NULL);
}
