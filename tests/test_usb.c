/*
 * test_usb.c - the USB transport (drivers/usb.c) over the real libusb
 * Linux backend against emulated printers.
 *
 * Runs under umockdev-wrapper (tests/run.sh does that for test_usb*).  The
 * devices are the fixtures/usb/NAME.umockdev descriptions; the printer side of
 * every usbfs ioctl (bulk URBs, control requests, claim, clear-halt) is
 * played by tests/lib/usbfake.c, an in-process umockdev ioctl handler.  That
 * handler is the only emulated part: there is no USB printer in CI.  No
 * link seam is used: libusb itself is real.
 *
 * umockdev's file-based ioctl replay (umockdev_testbed_load_ioctl with a
 * usbdevfs script) was tried first and does not work with this umockdev
 * and libusb 1.0.26: the script parser crashes (SIGSEGV) on a
 * USBDEVFS_CLAIMINTERFACE line, and without one the replay server aborts
 * at libusb's claim.  The in-process handler replays bulk and control
 * transfers instead.
 *
 * Expected values come from the USB printer class specification and the
 * ESC/POS command reference (DLE EOT n = 10 04 n, idle reply 0x12), written
 * out by hand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/usb.h"
#include "drivers/usb_profiles.h"
#include "tests/lib/kvtest.h"
#include "tests/lib/usbfake.h"

typedef kvt_usbworld world;

static int setup(void **state)
{
    *state = kvt_usbworld_new(KVT_USB_T88 | KVT_USB_POS58 | KVT_USB_KEYBOARD);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    kvt_usbworld_free(*state);
    return 0;
}

#define NEED_BED(w) do { \
        if (!(w)->bed) KVT_SKIP("not running under umockdev-wrapper"); \
        assert_non_null((w)->t88); assert_non_null((w)->pos58); assert_non_null((w)->kbd); \
    } while (0)

static kv_transport *open_ok(const char *uri)
{
    kv_transport *t = NULL;
    char err[512] = "";
    int st = kv_transport_usb_ops.open(&t, uri, 1000, err, sizeof err);
    if (st != KV_T_OK) fail_msg("open %s: %d %s", uri, st, err);
    assert_non_null(t);
    return t;
}

static unsigned char *pattern(size_t n)
{
    unsigned char *b = malloc(n);
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(i * 7 + i / 251);
    return b;
}

/* Endpoints come from the descriptors: the TM-T88 fixture has OUT 0x01 /
 * IN 0x82 on interface 0, the POS58 clone OUT 0x03 / IN 0x81 on interface 1
 * (interface 0 is vendor-specific and must be skipped). */
static void test_usb__endpoints_from_descriptors(void **state)
{
    world *w = *state;
    NEED_BED(w);
    uint8_t out = 0, in = 0;
    int itf = -1, proto = 0;
    kv_transport *t = open_ok("usb://04b8:0202");
    assert_int_equal(kv_usb_endpoints(t, &out, &in, &itf, &proto), KV_T_OK);
    assert_int_equal(out, 0x01);
    assert_int_equal(in, 0x82);
    assert_int_equal(itf, 0);
    assert_int_equal(proto, 2);
    kv_transport_usb_ops.close(t);

    t = open_ok("usb://0416:5011");
    assert_int_equal(kv_usb_endpoints(t, &out, &in, &itf, &proto), KV_T_OK);
    assert_int_equal(out, 0x03);
    assert_int_equal(in, 0x81);
    assert_int_equal(itf, 1);
    kv_transport_usb_ops.close(t);

    kvt_usbdev_stats st;
    kvt_usbdev_stats_get(w->pos58, &st);
    assert_int_equal(st.claims, 1);
    assert_int_equal(st.releases, 1);
}

/* usb:// takes the first device with a printer-class interface, never
 * the keyboard. */
static void test_usb__first_printer(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kv_transport *t = open_ok("usb://");
    uint8_t out = 0;
    assert_int_equal(kv_usb_endpoints(t, &out, NULL, NULL, NULL), KV_T_OK);
    assert_true(out == 0x01 || out == 0x03);
    kv_transport_usb_ops.close(t);
}

/* A job reaches the printer byte for byte, on the bulk OUT endpoint from
 * the descriptor, split into chunks of the configured size. */
static void test_usb__job_byte_for_byte_in_chunks(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kv_transport *t = open_ok("usb://04b8:0202");
    kv_usb_options o;
    kv_usb_options_init(&o);
    o.chunk = 4096;
    assert_int_equal(kv_usb_set_options(t, &o), KV_T_OK);
    size_t n = 10000, written = 1;
    unsigned char *job = pattern(n);
    /* ESC @ (1B 40) first, as a real job starts */
    job[0] = 0x1b; job[1] = 0x40;
    assert_int_equal(kv_transport_usb_ops.write(t, job, n, &written, 1000), KV_T_OK);
    assert_int_equal(written, n);
    size_t got = 0;
    const uint8_t *rx = kvt_usbdev_received(w->t88, &got);
    kvt_assert_bytes(rx, got, job, n);
    assert_int_equal(kvt_usbdev_last_out_ep(w->t88), 0x01);
    kvt_usbdev_stats st;
    kvt_usbdev_stats_get(w->t88, &st);
    assert_int_equal(st.out_urbs, 3);           /* 4096 + 4096 + 1808 */
    assert_int_equal(st.max_out_urb, 4096);
    free(job);
    kv_transport_usb_ops.close(t);
}

/* The printer accepts only 100 bytes per transfer: the rest is sent
 * again until all of it went out. */
static void test_usb__short_writes_are_resumed(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_usbdev_config(w->t88)->max_per_urb = 100;
    kv_transport *t = open_ok("usb://04b8:0202");
    size_t n = 1234, written = 0;
    unsigned char *job = pattern(n);
    assert_int_equal(kv_transport_usb_ops.write(t, job, n, &written, 1000), KV_T_OK);
    assert_int_equal(written, n);
    size_t got = 0;
    const uint8_t *rx = kvt_usbdev_received(w->t88, &got);
    kvt_assert_bytes(rx, got, job, n);
    kvt_usbdev_stats st;
    kvt_usbdev_stats_get(w->t88, &st);
    assert_int_equal(st.out_urbs, 13);          /* ceil(1234 / 100) */
    free(job);
    kv_transport_usb_ops.close(t);
}

/* One stall: clear the halt and send the chunk again; nothing lost or
 * doubled. */
static void test_usb__stall_is_cleared_and_retried(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_usbdev_config(w->t88)->stall_out = 1;
    kv_transport *t = open_ok("usb://04b8:0202");
    size_t n = 300, written = 0;
    unsigned char *job = pattern(n);
    assert_int_equal(kv_transport_usb_ops.write(t, job, n, &written, 1000), KV_T_OK);
    assert_int_equal(written, n);
    size_t got = 0;
    const uint8_t *rx = kvt_usbdev_received(w->t88, &got);
    kvt_assert_bytes(rx, got, job, n);
    kvt_usbdev_stats st;
    kvt_usbdev_stats_get(w->t88, &st);
    assert_int_equal(st.clear_halts, 1);
    free(job);
    kv_transport_usb_ops.close(t);
}

/* A printer that keeps stalling: the job is reported as not printed. */
static void test_usb__persistent_stall_is_an_error(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_usbdev_config(w->t88)->stall_out = 100;
    kv_transport *t = open_ok("usb://04b8:0202");
    size_t written = 99;
    unsigned char job[10] = { 0x1b, 0x40, 'h', 'e', 'l', 'l', 'o', 0x0a, 0x1d, 0x56 };
    assert_int_equal(kv_transport_usb_ops.write(t, job, sizeof job, &written, 1000), KV_T_E_IO);
    assert_int_equal(written, 0);
    assert_non_null(strstr(t->errmsg, "not printed"));
    assert_non_null(strstr(t->errmsg, "0 of 10 bytes"));
    kvt_usbdev_stats st;
    kvt_usbdev_stats_get(w->t88, &st);
    assert_int_equal(st.clear_halts, 3);        /* default stall_retries */
    kv_transport_usb_ops.close(t);
}

/* The printer stops taking data after 5000 bytes (paper out with usblp-
 * style flow control): the write times out and says how much went out. */
static void test_usb__timeout_reports_what_went_out(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_usbdev_config(w->t88)->hold_out_after = 5000;
    kv_transport *t = open_ok("usb://04b8:0202");
    size_t n = 9000, written = 0;
    unsigned char *job = pattern(n);
    assert_int_equal(kv_transport_usb_ops.write(t, job, n, &written, 200), KV_T_E_TIMEOUT);
    assert_int_equal(written, 5000);
    assert_non_null(strstr(t->errmsg, "5000 of 9000 bytes"));
    size_t got = 0;
    const uint8_t *rx = kvt_usbdev_received(w->t88, &got);
    kvt_assert_bytes(rx, got, job, 5000);
    kvt_usbdev_stats st;
    kvt_usbdev_stats_get(w->t88, &st);
    assert_true(st.discards >= 1);              /* libusb cancelled the pending URB */
    free(job);
    kv_transport_usb_ops.close(t);
}

/* Unplugged in the middle of a job: LIBUSB_ERROR_NO_DEVICE becomes
 * KV_T_E_DISCONNECTED with the exact count that reached the printer. */
static void test_usb__unplug_mid_job(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_usbdev_config(w->t88)->unplug_after = 6000;
    kv_transport *t = open_ok("usb://04b8:0202");
    size_t n = 12000, written = 0;
    unsigned char *job = pattern(n);
    assert_int_equal(kv_transport_usb_ops.write(t, job, n, &written, 1000), KV_T_E_DISCONNECTED);
    assert_int_equal(written, 6000);
    assert_non_null(strstr(t->errmsg, "unplugged"));
    assert_non_null(strstr(t->errmsg, "6000 of 12000"));
    free(job);
    kv_transport_usb_ops.close(t);
}

/* DLE EOT 1 (10 04 01) goes out; the printer's reply 0x12 (online, idle)
 * comes back on bulk IN.  With nothing to read, read returns 0 in time. */
static void test_usb__status_reply_on_bulk_in(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kv_transport *t = open_ok("usb://04b8:0202");
    const unsigned char dle_eot_1[3] = { 0x10, 0x04, 0x01 };
    size_t written = 0;
    assert_int_equal(kv_transport_usb_ops.write(t, dle_eot_1, 3, &written, 1000), KV_T_OK);
    const unsigned char reply = 0x12;
    kvt_usbdev_queue_in(w->t88, &reply, 1);
    unsigned char buf[8] = { 0 };
    assert_int_equal(kv_transport_usb_ops.read(t, buf, sizeof buf, 1000), 1);
    assert_int_equal(buf[0], 0x12);
    assert_int_equal(kv_transport_usb_ops.read(t, buf, sizeof buf, 100), 0);

    /* bytes beyond what the caller asked for are kept for the next read */
    const unsigned char two[2] = { 0x12, 0x16 };
    kvt_usbdev_queue_in(w->t88, two, 2);
    assert_int_equal(kv_transport_usb_ops.read(t, buf, 1, 1000), 1);
    assert_int_equal(buf[0], 0x12);
    assert_int_equal(kv_transport_usb_ops.read(t, buf, 1, 1000), 1);
    assert_int_equal(buf[0], 0x16);
    kv_transport_usb_ops.close(t);
}

/* A one-way printer (07/01/01, bulk OUT only): the job goes out; reading
 * returns "nothing" at once instead of failing, so status is unknown. */
static void test_usb__unidirectional_printer(void **state)
{
    world *w = *state;
    NEED_BED(w);
    static const char *const strs[4] = { NULL, NULL, "Parallel Adapter", NULL };
    kvt_usbdev *one = kvt_usbbed_add(w->bed, "oneway", "/dev/bus/usb/001/005", 1, strs);
    assert_non_null(one);
    kv_transport *t = open_ok("usb://0fe6:811e");
    uint8_t out = 0, in = 0xff;
    int proto = 0;
    assert_int_equal(kv_usb_endpoints(t, &out, &in, NULL, &proto), KV_T_OK);
    assert_int_equal(out, 0x01);
    assert_int_equal(in, 0);
    assert_int_equal(proto, 1);
    const unsigned char job[] = { 0x1b, 0x40, 'o', 'k', 0x0a };
    size_t written = 0;
    assert_int_equal(kv_transport_usb_ops.write(t, job, sizeof job, &written, 1000), KV_T_OK);
    size_t got = 0;
    const uint8_t *rx = kvt_usbdev_received(one, &got);
    kvt_assert_bytes(rx, got, job, sizeof job);
    unsigned char b[4];
    assert_int_equal(kv_transport_usb_ops.read(t, b, sizeof b, 1000), 0);
    assert_non_null(strstr(t->errmsg, "unidirectional"));
    kv_transport_usb_ops.close(t);
}

/* GET_DEVICE_ID: class request 0xA1, bRequest 0, wValue = configuration
 * (1), wIndex = interface << 8 | alternate: 0x0100 for the POS58 fixture
 * whose printer interface is number 1. */
static void test_usb__device_id_request(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_usbdev_config(w->pos58)->device_id = "MFG:Zjiang;CMD:ESC/POS;MDL:POS-5890;CLS:PRINTER;";
    kv_transport *t = open_ok("usb://0416:5011");
    char id[256];
    assert_int_equal(kv_usb_device_id(t, id, sizeof id, 500), KV_T_OK);
    assert_string_equal(id, "MFG:Zjiang;CMD:ESC/POS;MDL:POS-5890;CLS:PRINTER;");
    kvt_usbdev_stats st;
    kvt_usbdev_stats_get(w->pos58, &st);
    const uint8_t setup_exp[6] = { 0xa1, 0x00, 0x01, 0x00, 0x00, 0x01 };
    kvt_assert_bytes(st.class_setup, 6, setup_exp, 6);

    /* a firmware that sends the length little-endian */
    kvt_usbdev_config(w->pos58)->device_id_le = 1;
    assert_int_equal(kv_usb_device_id(t, id, sizeof id, 500), KV_T_OK);
    assert_string_equal(id, "MFG:Zjiang;CMD:ESC/POS;MDL:POS-5890;CLS:PRINTER;");

    /* a printer that refuses the request (stall) */
    kvt_usbdev_config(w->pos58)->device_id = NULL;
    strcpy(id, "unchanged");
    assert_int_equal(kv_usb_device_id(t, id, sizeof id, 500), KV_T_E_IO);
    assert_string_equal(id, "unchanged");
    kv_transport_usb_ops.close(t);
}

/* GET_PORT_STATUS (bRequest 1): 0x18 = selected + no error; 0x38 adds
 * paper empty; 0x10 has the (active-low) error line asserted; 0x08 is not
 * selected. */
static void test_usb__port_status(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kv_transport *t = open_ok("usb://04b8:0202");
    uint8_t b = 0;
    kvt_usbdev_config(w->t88)->port_status = 0x38;
    assert_int_equal(kv_usb_port_status(t, &b, 500), KV_T_OK);
    assert_int_equal(b, 0x38);
    assert_int_equal(kv_usb_port_state(b), KV_PS_PAPER_OUT);
    kvt_usbdev_stats st;
    kvt_usbdev_stats_get(w->t88, &st);
    const uint8_t setup_exp[8] = { 0xa1, 0x01, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00 };
    kvt_assert_bytes(st.class_setup, 8, setup_exp, 8);
    kv_transport_usb_ops.close(t);

    assert_int_equal(kv_usb_port_state(0x18), KV_PS_READY);
    assert_int_equal(kv_usb_port_state(0x10), KV_PS_ERROR);
    assert_int_equal(kv_usb_port_state(0x08), KV_PS_OFFLINE);
}

/* A printer that never answers control requests: a timeout, not a hang. */
static void test_usb__control_timeout(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kv_transport *t = open_ok("usb://04b8:0202");
    kvt_usbdev_config(w->t88)->hold_control = 1;
    uint8_t b = 0x55;
    assert_int_equal(kv_usb_port_status(t, &b, 100), KV_T_E_TIMEOUT);
    assert_int_equal(b, 0x55);
    kv_transport_usb_ops.close(t);
}

/* usblp is bound to the printer interface: open detaches it (libusb
 * auto-detach) and close gives it back. */
static void test_usb__usblp_detached_and_reattached(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_usbdev_config(w->t88)->kernel_driver = "usblp";
    kv_transport *t = open_ok("usb://04b8:0202");
    kvt_usbdev_stats st;
    kvt_usbdev_stats_get(w->t88, &st);
    assert_int_equal(st.detaches, 1);
    assert_int_equal(st.claims, 1);
    assert_int_equal(st.reattaches, 0);
    const unsigned char job[] = { 0x1b, 0x40, 'x', 0x0a };
    size_t written = 0;
    assert_int_equal(kv_transport_usb_ops.write(t, job, sizeof job, &written, 1000), KV_T_OK);
    kv_transport_usb_ops.close(t);
    kvt_usbdev_stats_get(w->t88, &st);
    assert_int_equal(st.reattaches, 1);
}

/* Another program holds the interface: busy, with the cure. */
static void test_usb__busy_names_usblp_and_cups(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_usbdev_config(w->t88)->claim_busy = 1;
    kv_transport *t = NULL;
    char err[512] = "";
    assert_int_equal(kv_transport_usb_ops.open(&t, "usb://04b8:0202", 1000, err, sizeof err),
                     KV_T_E_BUSY);
    assert_null(t);
    assert_non_null(strstr(err, "usblp"));
    assert_non_null(strstr(err, "CUPS"));
    assert_non_null(strstr(err, "rmmod usblp"));
    assert_non_null(strstr(err, "install-udev-unbind"));
}

/* Not found: the message lists the printers that are attached (not the
 * keyboard). */
static void test_usb__not_found_lists_attached(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kv_transport *t = NULL;
    char err[512] = "";
    assert_int_equal(kv_transport_usb_ops.open(&t, "usb://1234:5678", 1000, err, sizeof err),
                     KV_T_E_NOT_FOUND);
    assert_null(t);
    assert_non_null(strstr(err, "1234:5678 not found"));
    assert_non_null(strstr(err, "04b8:0202"));
    assert_non_null(strstr(err, "0416:5011"));
    assert_null(strstr(err, "046d:c31c"));

    /* the keyboard exists but has no printer-class interface */
    assert_int_equal(kv_transport_usb_ops.open(&t, "usb://046d:c31c", 1000, err, sizeof err),
                     KV_T_E_NOT_FOUND);
    assert_non_null(strstr(err, "no printer-class interface"));
}

/* ?serial=S picks the device by its serial-number string. */
static void test_usb__serial_selects_device(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kv_transport *t = open_ok("usb://04b8:0202?serial=J7PF012345");
    kv_transport_usb_ops.close(t);
    t = NULL;
    char err[512] = "";
    assert_int_equal(kv_transport_usb_ops.open(&t, "usb://04b8:0202?serial=OTHER", 1000, err,
                                               sizeof err), KV_T_E_NOT_FOUND);
    assert_null(t);
    assert_non_null(strstr(err, "serial number 'OTHER'"));
}

static void test_usb__malformed_uris(void **state)
{
    (void)state;
    const char *bad[] = { "usb://04b8", "usb://zzzz:0202", "usb://04b8:0202?foo=1",
                          "usb://04b8-0202", "usb://04b8:02021", "tcp://x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kv_transport *t = NULL;
        char err[512] = "";
        assert_int_equal(kv_transport_usb_ops.open(&t, bad[i], 100, err, sizeof err), KV_T_E_URI);
        assert_null(t);
        assert_true(strlen(err) > 0);
    }
}

/* Pure decoding of GET_DEVICE_ID replies (IEEE 1284: 2-byte big-endian
 * length that includes itself). */
static void test_usb__parse_device_id(void **state)
{
    (void)state;
    char out[64];
    const uint8_t be[] = { 0x00, 0x0c, 'M', 'F', 'G', ':', 'E', 'P', 'S', 'O', 'N', ';' };
    assert_int_equal(kv_usb_parse_device_id(out, sizeof out, be, sizeof be), KV_T_OK);
    assert_string_equal(out, "MFG:EPSON;");
    const uint8_t le[] = { 0x0c, 0x00, 'M', 'F', 'G', ':', 'E', 'P', 'S', 'O', 'N', ';' };
    assert_int_equal(kv_usb_parse_device_id(out, sizeof out, le, sizeof le), KV_T_OK);
    assert_string_equal(out, "MFG:EPSON;");
    /* claims 0x100 bytes, only 8 arrived: cut at what arrived */
    const uint8_t lng[] = { 0x01, 0x00, 'M', 'D', 'L', ':', 'X', ';' };
    assert_int_equal(kv_usb_parse_device_id(out, sizeof out, lng, sizeof lng), KV_T_OK);
    assert_string_equal(out, "MDL:X;");
    /* control bytes are never passed on */
    const uint8_t ctl[] = { 0x00, 0x07, 'A', 0x1b, '@', 0x0a, 'B' };
    assert_int_equal(kv_usb_parse_device_id(out, sizeof out, ctl, sizeof ctl), KV_T_OK);
    assert_string_equal(out, "A?@?B");
    /* truncation to the buffer */
    char small[4];
    assert_int_equal(kv_usb_parse_device_id(small, sizeof small, be, sizeof be), KV_T_OK);
    assert_string_equal(small, "MFG");
    strcpy(out, "keep");
    const uint8_t one[] = { 0x00 };
    assert_int_equal(kv_usb_parse_device_id(out, sizeof out, one, 1), KV_T_E_IO);
    const uint8_t empty[] = { 0x00, 0x02 };
    assert_int_equal(kv_usb_parse_device_id(out, sizeof out, empty, 2), KV_T_E_IO);
    assert_string_equal(out, "keep");

    const char *id = "MANUFACTURER:EPSON;COMMAND SET:ESC/POS;MDL:TM-T88V;";
    assert_int_equal(kv_usb_device_id_field(out, sizeof out, id, "MFG"), 1);
    assert_string_equal(out, "EPSON");
    assert_int_equal(kv_usb_device_id_field(out, sizeof out, id, "CMD"), 1);
    assert_string_equal(out, "ESC/POS");
    assert_int_equal(kv_usb_device_id_field(out, sizeof out, id, "model"), 1);
    assert_string_equal(out, "TM-T88V");
    assert_int_equal(kv_usb_device_id_field(out, sizeof out, id, "SN"), 0);
    assert_int_equal(kv_usb_device_id_field(out, sizeof out, "", "MFG"), 0);
}

/* Suggested profiles: USB IDs and model names from the reference's
 * device tables (sections 1.12, 2.2, 3.3). */
static void test_usb__suggested_profiles(void **state)
{
    (void)state;
    assert_string_equal(kv_usb_suggest_profile(0x04b8, 0x0202, "TM-T88V", NULL), "epson-tm-t88");
    assert_string_equal(kv_usb_suggest_profile(0x04b8, 0x0202, "TM-T88III", NULL), "epson-tm-t88iii");
    assert_string_equal(kv_usb_suggest_profile(0x04b8, 0x0202, NULL, "TM-T88III"), "epson-tm-t88iii");
    assert_string_equal(kv_usb_suggest_profile(0x04b8, 0x0e28, NULL, NULL), "epson-tm-t20");
    assert_string_equal(kv_usb_suggest_profile(0x04b8, 0x0e15, "", ""), "epson-tm-t20");
    assert_string_equal(kv_usb_suggest_profile(0x0519, 0x0001, NULL, NULL), "star-tsp650");
    assert_string_equal(kv_usb_suggest_profile(0x2730, 0x0fff, NULL, NULL), "citizen-ct-s310");
    assert_string_equal(kv_usb_suggest_profile(0x1504, 0x001f, NULL, NULL), "bixolon-srp350");
    assert_string_equal(kv_usb_suggest_profile(0x0419, 0x3c01, NULL, NULL), "bixolon-srp350");
    assert_string_equal(kv_usb_suggest_profile(0x1fc9, 0x2016, NULL, NULL), "xprinter-xp-n160");
    assert_string_equal(kv_usb_suggest_profile(0x0416, 0x5011, "POS58 Printer USB", NULL), "pos-5890");
    assert_string_equal(kv_usb_suggest_profile(0x0416, 0x5011, NULL, NULL), "pos-5890");
    assert_string_equal(kv_usb_suggest_profile(0x0483, 0x5743, NULL, NULL), "generic-80");
    assert_string_equal(kv_usb_suggest_profile(0x0456, 0x0808, NULL, NULL), "generic-58");
    assert_string_equal(kv_usb_suggest_profile(0x1234, 0x5678, NULL, NULL), "generic-80");
    assert_int_equal(kv_usb_known_printer_id(0x6868, 0x0500), 1);
    assert_int_equal(kv_usb_known_printer_id(0x0fe6, 0x811e), 1);
    assert_int_equal(kv_usb_known_printer_id(0x046d, 0xc31c), 0);
}

/* Find a rule line containing every needle; NULL when none. */
static const char *rule_line(const char *text, const char *const needles[])
{
    static char line[512];
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n < sizeof line && *p != '#') {
            memcpy(line, p, n);
            line[n] = '\0';
            int all = 1;
            for (size_t i = 0; needles[i]; i++)
                if (!strstr(line, needles[i])) { all = 0; break; }
            if (all) return line;
        }
        p += n + (nl ? 1 : 0);
    }
    return NULL;
}

/* The shipped udev rules cover the vendors and clone IDs of the reference
 * (section 2.2), the printer-class match, lp group 0660 + uaccess, and
 * never open devices to everybody.  The opt-in file unbinds usblp for the
 * same printers. */
static void test_usb__udev_rules(void **state)
{
    (void)state;
    unsigned char *txt = NULL;
    size_t len = 0;
    char *path = kvt_path("%s/udev/60-kvitt-printers.rules", kvt_srcdir());
    assert_int_equal(kvt_read_file(path, &txt, &len), 0);
    free(path);
    const char *t = (const char *)txt;
    const char *perm[] = { "GROUP=\"lp\"", "MODE=\"0660\"", "TAG+=\"uaccess\"" };
    const char *cls[] = { "ENV{ID_USB_INTERFACES}==\"*:0701??:*\"", perm[0], perm[1], perm[2], NULL };
    assert_non_null(rule_line(t, cls));
    static const char *const vendors[] = { "04b8", "0519", "1d90", "2730", "1504", "0419" };
    for (size_t i = 0; i < sizeof vendors / sizeof vendors[0]; i++) {
        char v[64];
        snprintf(v, sizeof v, "ATTR{idVendor}==\"%s\"", vendors[i]);
        const char *need[] = { v, perm[0], perm[1], perm[2], NULL };
        if (!rule_line(t, need)) fail_msg("no rule for vendor %s", vendors[i]);
        assert_int_equal(kv_usb_known_printer_id((uint16_t)strtol(vendors[i], NULL, 16), 0x1234), 1);
    }
    static const char *const clones[][2] = { { "0416", "5011" }, { "0483", "5743" }, { "1fc9", "2016" },
                                             { "0fe6", "811e" }, { "6868", "0500" }, { "0456", "0808" } };
    for (size_t i = 0; i < sizeof clones / sizeof clones[0]; i++) {
        char v[64], p[64];
        snprintf(v, sizeof v, "ATTR{idVendor}==\"%s\"", clones[i][0]);
        snprintf(p, sizeof p, "ATTR{idProduct}==\"%s\"", clones[i][1]);
        const char *need[] = { v, p, perm[0], perm[1], perm[2], NULL };
        if (!rule_line(t, need)) fail_msg("no rule for %s:%s", clones[i][0], clones[i][1]);
        assert_int_equal(kv_usb_known_printer_id((uint16_t)strtol(clones[i][0], NULL, 16),
                                                 (uint16_t)strtol(clones[i][1], NULL, 16)), 1);
    }
    const char *open_to_all[] = { "0666", NULL };
    assert_null(rule_line(t, open_to_all));
    free(txt);

    path = kvt_path("%s/udev/61-kvitt-usblp-unbind.rules", kvt_srcdir());
    assert_int_equal(kvt_read_file(path, &txt, &len), 0);
    free(path);
    t = (const char *)txt;
    const char *unbind[] = { "RUN+=", "/sys/bus/usb/drivers/usblp/unbind", NULL };
    assert_non_null(rule_line(t, unbind));
    const char *drv[] = { "DRIVER!=\"usblp\"", NULL };
    assert_non_null(rule_line(t, drv));
    for (size_t i = 0; i < sizeof vendors / sizeof vendors[0]; i++) {
        char v[64];
        snprintf(v, sizeof v, "ATTRS{idVendor}==\"%s\"", vendors[i]);
        const char *need[] = { v, NULL };
        if (!rule_line(t, need)) fail_msg("unbind file misses vendor %s", vendors[i]);
    }
    for (size_t i = 0; i < sizeof clones / sizeof clones[0]; i++) {
        char v[64], p[64];
        snprintf(v, sizeof v, "ATTRS{idVendor}==\"%s\"", clones[i][0]);
        snprintf(p, sizeof p, "ATTRS{idProduct}==\"%s\"", clones[i][1]);
        const char *need[] = { v, p, NULL };
        if (!rule_line(t, need)) fail_msg("unbind file misses %s:%s", clones[i][0], clones[i][1]);
    }
    free(txt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usb__endpoints_from_descriptors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb__first_printer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb__job_byte_for_byte_in_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb__short_writes_are_resumed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb__stall_is_cleared_and_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb__persistent_stall_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb__timeout_reports_what_went_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb__unplug_mid_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb__status_reply_on_bulk_in, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb__unidirectional_printer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb__device_id_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb__port_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb__control_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb__usblp_detached_and_reattached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb__busy_names_usblp_and_cups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb__not_found_lists_attached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb__serial_selects_device, setup, teardown),
        cmocka_unit_test(test_usb__malformed_uris),
        cmocka_unit_test(test_usb__parse_device_id),
        cmocka_unit_test(test_usb__suggested_profiles),
        cmocka_unit_test(test_usb__udev_rules),
    };
    return cmocka_run_group_tests_name("usb", tests, NULL, NULL);
}
