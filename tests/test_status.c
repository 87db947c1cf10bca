/* test_status.c - DLE EOT / GS r status: query bytes, decoding, emulation.
 * Every byte value here comes from ../shared/docs/escpos.md section 1.11
 * (Epson real-time status bits; python-escpos masks 0x12 / 0x1E / 0x72;
 * escpos-netprinter's "all clear" answers 0x16 / 0x12 / 0x00). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "drivers/status.h"
#include "tests/lib/kvtest.h"

#define NA (-1)

static kv_printer_status_info dec(int e1, int e2, int e3, int e4, int gsr)
{
    int raw[KV_SQ_COUNT] = { e1, e2, e3, e4, gsr };
    kv_printer_status_info s;
    kv_status_decode(&s, raw);
    return s;
}

static void test_status__query_bytes(void **state)
{
    (void)state;
    unsigned char b[3];
    /* DLE = 0x10, EOT = 0x04; GS = 0x1D, 'r' = 0x72 */
    static const unsigned char exp[KV_SQ_COUNT][3] = {
        { 0x10, 0x04, 0x01 }, { 0x10, 0x04, 0x02 }, { 0x10, 0x04, 0x03 },
        { 0x10, 0x04, 0x04 }, { 0x1D, 0x72, 0x01 },
    };
    for (int q = 0; q < KV_SQ_COUNT; q++) {
        assert_int_equal(kv_status_query(q, b), 3);
        kvt_assert_bytes(b, 3, exp[q], 3);
    }
    assert_int_equal(kv_status_query(KV_SQ_COUNT, b), 0);
}

static void test_status__fixed_bits(void **state)
{
    (void)state;
    /* Valid replies match 0xx1xx10. */
    assert_true(kv_status_valid_eot(0x12));
    assert_true(kv_status_valid_eot(0x16));
    assert_true(kv_status_valid_eot(0x72));
    assert_true(kv_status_valid_eot(0x7E));
    assert_false(kv_status_valid_eot(0x00)); /* bit 1 and 4 missing */
    assert_false(kv_status_valid_eot(0x13)); /* bit 0 set */
    assert_false(kv_status_valid_eot(0x92)); /* bit 7 set */
    assert_false(kv_status_valid_eot(0x02)); /* bit 4 missing */
    assert_false(kv_status_valid_eot(NA));
}

static void test_status__idle_online(void **state)
{
    (void)state;
    /* Idle and online answers 0x12 to every DLE EOT. */
    kv_printer_status_info s = dec(0x12, 0x12, NA, 0x12, NA);
    assert_int_equal(s.state, KV_PS_READY);
    assert_true(s.flags & KV_PSF_ONLINE);
    assert_false(s.flags & (KV_PSF_OFFLINE | KV_PSF_PAPER_END | KV_PSF_NEAR_END));
    assert_int_equal(s.raw[KV_SQ_EOT1], 0x12);
    assert_int_equal(s.raw[KV_SQ_EOT3], NA);
    /* escpos-netprinter answers 0x16 (drawer pin 3 high): still ready. */
    s = dec(0x16, 0x12, 0x12, 0x12, NA);
    assert_int_equal(s.state, KV_PS_READY);
    assert_true(s.flags & KV_PSF_DRAWER_HIGH);
}

static void test_status__paper(void **state)
{
    (void)state;
    /* DLE EOT 4: 0x1E near end (bits 2+3), 0x72 no paper (bits 5+6). */
    kv_printer_status_info s = dec(0x12, 0x12, NA, 0x1E, NA);
    assert_int_equal(s.state, KV_PS_PAPER_NEAR_END);
    assert_true(s.flags & KV_PSF_NEAR_END);
    s = dec(0x12, 0x12, NA, 0x72, NA);
    assert_int_equal(s.state, KV_PS_PAPER_OUT);
    assert_true(s.flags & KV_PSF_PAPER_END);
    /* Epson goes offline at paper end: DLE EOT 1 bit 3, DLE EOT 2 bit 5. */
    s = dec(0x1A, 0x32, NA, 0x72, NA);
    assert_int_equal(s.state, KV_PS_PAPER_OUT);
    assert_true(s.flags & KV_PSF_OFFLINE);
    /* DLE EOT 2 bit 5 alone is enough. */
    s = dec(0x1A, 0x32, NA, NA, NA);
    assert_int_equal(s.state, KV_PS_PAPER_OUT);
}

static void test_status__cover_offline_error(void **state)
{
    (void)state;
    kv_printer_status_info s = dec(0x1A, 0x16, NA, 0x12, NA); /* EOT2 bit 2 */
    assert_int_equal(s.state, KV_PS_COVER_OPEN);
    assert_true(s.flags & KV_PSF_COVER_OPEN);
    s = dec(0x1A, 0x12, NA, 0x12, NA); /* EOT1 bit 3, no cause */
    assert_int_equal(s.state, KV_PS_OFFLINE);
    s = dec(0x1A, 0x52, 0x1A, 0x12, NA); /* EOT2 bit 6, EOT3 bit 3 cutter */
    assert_int_equal(s.state, KV_PS_ERROR);
    assert_true(s.flags & KV_PSF_ERROR);
    assert_true(s.flags & KV_PSF_CUTTER_ERROR);
    s = dec(0x1A, 0x52, 0x52, 0x12, NA); /* EOT3 bit 6 auto-recoverable */
    assert_true(s.flags & KV_PSF_AUTO_RECOVER);
    s = dec(0x1A, 0x52, 0x32, 0x12, NA); /* EOT3 bit 5 unrecoverable */
    assert_true(s.flags & KV_PSF_UNRECOVERABLE);
    /* Cover open wins over paper end (the cure is the same place). */
    s = dec(0x1A, 0x36, NA, 0x72, NA);
    assert_int_equal(s.state, KV_PS_COVER_OPEN);
}

static void test_status__gs_r_fallback(void **state)
{
    (void)state;
    /* GS r 1: bits 0-1 near end, bits 2-3 paper end, bit 4 always 0. */
    kv_printer_status_info s = dec(NA, NA, NA, NA, 0x00);
    assert_int_equal(s.state, KV_PS_READY);
    assert_true(s.flags & KV_PSF_VIA_GS_R);
    s = dec(NA, NA, NA, NA, 0x03);
    assert_int_equal(s.state, KV_PS_PAPER_NEAR_END);
    s = dec(NA, NA, NA, NA, 0x0C);
    assert_int_equal(s.state, KV_PS_PAPER_OUT);
    s = dec(NA, NA, NA, NA, 0x12); /* bit 4 set: a DLE EOT byte, not GS r */
    assert_int_equal(s.state, KV_PS_UNKNOWN);
    assert_true(s.flags & KV_PSF_GARBLED);
}

static void test_status__unknown_and_garbled(void **state)
{
    (void)state;
    kv_printer_status_info s = dec(NA, NA, NA, NA, NA);
    assert_int_equal(s.state, KV_PS_UNKNOWN);
    assert_int_equal(s.flags, 0);
    s = dec(0x00, NA, NA, NA, NA); /* fails 0xx1xx10 */
    assert_int_equal(s.state, KV_PS_UNKNOWN);
    assert_true(s.flags & KV_PSF_GARBLED);
    assert_string_equal(kv_printer_state_name(KV_PS_UNKNOWN), "unknown");
    assert_non_null(strstr(kv_printer_state_advice(KV_PS_PAPER_OUT), "roll"));
    assert_non_null(strstr(kv_printer_state_advice(KV_PS_COVER_OPEN), "cover"));
}

/* The emulator's table, checked byte by byte against the reference bits. */
static void test_status__emulator_bytes(void **state)
{
    (void)state;
    assert_int_equal(kv_emu_reply(KV_EMU_OK, KV_SQ_EOT1), 0x12);     /* idle online */
    assert_int_equal(kv_emu_reply(KV_EMU_OK, KV_SQ_EOT4), 0x12);     /* paper OK */
    assert_int_equal(kv_emu_reply(KV_EMU_OK, KV_SQ_GSR1), 0x00);
    assert_int_equal(kv_emu_reply(KV_EMU_PAPER_OUT, KV_SQ_EOT4), 0x72); /* no paper */
    assert_int_equal(kv_emu_reply(KV_EMU_PAPER_OUT, KV_SQ_EOT1), 0x12 | 0x08);
    assert_int_equal(kv_emu_reply(KV_EMU_PAPER_OUT, KV_SQ_EOT2), 0x12 | 0x20);
    assert_int_equal(kv_emu_reply(KV_EMU_PAPER_OUT, KV_SQ_GSR1), 0x0C);
    assert_int_equal(kv_emu_reply(KV_EMU_NEAR_END, KV_SQ_EOT4), 0x1E);
    assert_int_equal(kv_emu_reply(KV_EMU_NEAR_END, KV_SQ_GSR1), 0x03);
    assert_int_equal(kv_emu_reply(KV_EMU_COVER_OPEN, KV_SQ_EOT2), 0x12 | 0x04);
    assert_int_equal(kv_emu_reply(KV_EMU_ERROR, KV_SQ_EOT2), 0x12 | 0x40);
    assert_int_equal(kv_emu_reply(KV_EMU_COUNT, KV_SQ_EOT1), -1);

    /* And each state's replies decode back to that state. */
    static const kv_printer_state want[KV_EMU_COUNT] = {
        KV_PS_READY, KV_PS_PAPER_OUT, KV_PS_PAPER_NEAR_END, KV_PS_COVER_OPEN,
        KV_PS_OFFLINE, KV_PS_ERROR
    };
    for (int e = 0; e < KV_EMU_COUNT; e++) {
        int raw[KV_SQ_COUNT];
        for (int q = 0; q < KV_SQ_COUNT; q++)
            raw[q] = q == KV_SQ_GSR1 ? NA : kv_emu_reply((kv_emu_state)e, q);
        kv_printer_status_info s;
        kv_status_decode(&s, raw);
        assert_int_equal(s.state, want[e]);
        kv_emu_state back;
        assert_int_equal(kv_emu_state_parse(kv_emu_state_name((kv_emu_state)e), &back), 0);
        assert_int_equal(back, e);
    }
    kv_emu_state x;
    assert_int_equal(kv_emu_state_parse("jammed", &x), -1);
}

static void test_status__scanner_split_and_ignored(void **state)
{
    (void)state;
    kv_emu_scanner sc;
    unsigned char r[16];
    memset(&sc, 0, sizeof sc);
    /* text, DLE EOT 4 split over three calls, GS r 49, DLE EOT 5 (no reply) */
    const unsigned char a[] = { 'H', 'i', 0x10 };
    const unsigned char b[] = { 0x04 };
    const unsigned char c[] = { 0x04, 0x1D, 0x72, 0x31, 0x10, 0x04, 0x05, 0x10, 0x10, 0x04, 0x01 };
    size_t n = kv_emu_scan(&sc, KV_EMU_PAPER_OUT, a, sizeof a, r, sizeof r);
    assert_int_equal(n, 0);
    n += kv_emu_scan(&sc, KV_EMU_PAPER_OUT, b, sizeof b, r + n, sizeof r - n);
    assert_int_equal(n, 0);
    n += kv_emu_scan(&sc, KV_EMU_PAPER_OUT, c, sizeof c, r + n, sizeof r - n);
    const unsigned char exp[] = { 0x72, 0x0C, 0x1A };
    kvt_assert_bytes(r, n, exp, sizeof exp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status__query_bytes),
        cmocka_unit_test(test_status__fixed_bits),
        cmocka_unit_test(test_status__idle_online),
        cmocka_unit_test(test_status__paper),
        cmocka_unit_test(test_status__cover_offline_error),
        cmocka_unit_test(test_status__gs_r_fallback),
        cmocka_unit_test(test_status__unknown_and_garbled),
        cmocka_unit_test(test_status__emulator_bytes),
        cmocka_unit_test(test_status__scanner_split_and_ignored),
    };
    return cmocka_run_group_tests_name("status", tests, NULL, NULL);
}
