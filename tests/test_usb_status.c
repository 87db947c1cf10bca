/*
 * test_usb_status.c - printer status (drivers/status.c) over the real USB
 * transport and the real libusb against emulated printers (run under
 * umockdev-wrapper; the printer side is tests/lib/usbfake.c, the only
 * emulated part, as in test_usb.c).
 *
 * Reply bytes are from ../shared/docs/escpos.md: DLE EOT 1 offline bit 3
 * (0x1A), DLE EOT 2 paper-end stop bit 5 (0x32), DLE EOT 4 paper end
 * bits 5+6 (0x72); GET_PORT_STATUS (section 2.1): 0x20 paper empty,
 * 0x10 selected, 0x08 not-error (active low).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/status.h"
#include "tests/lib/kvtest.h"
#include "tests/lib/usbfake.h"

typedef kvt_usbworld world;

static int setup(void **state)
{
    *state = kvt_usbworld_new(KVT_USB_T88 | KVT_USB_ONEWAY);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    kvt_usbworld_free(*state);
    return 0;
}

#define NEED_BED(w) do { \
        if (!(w)->bed) KVT_SKIP("not running under umockdev-wrapper"); \
        assert_non_null((w)->t88); assert_non_null((w)->oneway); \
    } while (0)

static kv_transport *open_ok(const char *uri)
{
    kv_transport *t = NULL;
    char err[512] = "";
    kv_transport_options o = KV_TRANSPORT_OPTIONS_INIT;
    o.errbuf = err;
    o.errlen = sizeof err;
    o.open_timeout_ms = 1000;
    if (kv_transport_open(&t, uri, &o) != KV_T_OK)
        fail_msg("open %s: %s", uri, err);
    return t;
}

/* DLE EOT answered on bulk IN: paper out from the ESC/POS replies. */
static void test_usb_status__dle_eot_over_bulk(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_usbdev_cfg *c = kvt_usbdev_config(w->t88);
    c->answer_status = 1;
    c->eot[1] = 0x1A;
    c->eot[2] = 0x32;
    c->eot[3] = 0x12;
    c->eot[4] = 0x72;
    kv_transport *t = open_ok("usb://04b8:0202");
    kv_printer_status_info s;
    assert_int_equal(kv_printer_status(t, 500, &s), KV_T_OK);
    assert_int_equal(s.state, KV_PS_PAPER_OUT);
    assert_int_equal(s.raw[KV_SQ_EOT1], 0x1A);
    assert_int_equal(s.raw[KV_SQ_EOT4], 0x72);
    assert_false(s.flags & KV_PSF_VIA_PORT);
    kv_print_report r;
    assert_int_equal(kv_transport_print_job(t, "\x1b@x\n", 4, NULL, &r), KV_T_E_PRINTER);
    assert_int_equal(r.written, 0);
    kv_transport_close(t);
}

/* A printer that never answers DLE EOT: the port status byte decides. */
static void test_usb_status__silent_printer_uses_port_status(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_usbdev_cfg *c = kvt_usbdev_config(w->t88);
    c->answer_status = 0;
    c->port_status = 0x20 | 0x10 | 0x08; /* paper empty, selected, no error */
    kv_transport *t = open_ok("usb://04b8:0202");
    kv_printer_status_info s;
    assert_int_equal(kv_printer_status(t, 150, &s), KV_T_OK);
    assert_int_equal(s.raw[KV_SQ_EOT1], -1);
    assert_int_equal(s.raw[KV_SQ_GSR1], -1);
    assert_true(s.flags & KV_PSF_VIA_PORT);
    assert_int_equal(s.port, 0x38);
    assert_int_equal(s.state, KV_PS_PAPER_OUT);
    kv_transport_close(t);
}

/* A one-way printer (no bulk IN): ready and offline from the port. */
static void test_usb_status__oneway_printer(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_usbdev_cfg *c = kvt_usbdev_config(w->oneway);
    c->port_status = 0x18; /* selected, no error, paper present */
    kv_transport *t = open_ok("usb://0fe6:811e");
    kv_print_report r;
    kv_print_options po = KV_PRINT_OPTIONS_INIT;
    po.status_timeout_ms = 150;
    static const unsigned char job[] = { 0x1b, 0x40, 'o', 'k', 0x0a };
    assert_int_equal(kv_transport_print_job(t, job, sizeof job, &po, &r), KV_T_OK);
    assert_int_equal(r.before.state, KV_PS_READY);
    assert_true(r.before.flags & KV_PSF_VIA_PORT);
    size_t got = 0;
    const uint8_t *rx = kvt_usbdev_received(w->oneway, &got);
    /* The job went out whole.  (Status queries may precede and follow it:
     * drivers/usb.c reads "nothing" at once on a one-way interface; when
     * it sets kv_transport.no_readback they are not sent at all.) */
    assert_non_null(memmem(rx, got, job, sizeof job));
    size_t before_offline = got;

    c->port_status = 0x08; /* not selected: offline */
    assert_int_equal(kv_transport_print_job(t, job, sizeof job, &po, &r), KV_T_E_PRINTER);
    assert_int_equal(r.before.state, KV_PS_OFFLINE);
    assert_int_equal(r.written, 0);
    rx = kvt_usbdev_received(w->oneway, &got);
    /* The job was not sent again: at most status queries arrived. */
    assert_null(memmem(rx + before_offline, got - before_offline, job, sizeof job));
    kv_transport_close(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usb_status__dle_eot_over_bulk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_status__silent_printer_uses_port_status,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_status__oneway_printer, setup, teardown),
    };
    return cmocka_run_group_tests_name("usb_status", tests, NULL, NULL);
}
