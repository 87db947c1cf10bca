/* test_transport_uri.c - printer URI parsing and kv_transport_open dispatch. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/transport.h"
#include "drivers/uri.h"
#include "tests/lib/kvtest.h"

static void test_transport_uri__usb_forms(void **state)
{
    (void)state;
    kv_uri u;
    char err[256];
    assert_int_equal(kv_uri_parse(&u, "usb://04b8:0e28", err, sizeof err), 0);
    assert_int_equal(u.kind, KV_URI_USB);
    assert_int_equal(u.has_id, 1);
    assert_int_equal(u.vid, 0x04b8);
    assert_int_equal(u.pid, 0x0e28);
    assert_string_equal(u.serial, "");
    assert_int_equal(kv_uri_parse(&u, "usb://0416:5011?serial=AB%2012", err, sizeof err), 0);
    assert_int_equal(u.vid, 0x0416);
    assert_string_equal(u.serial, "AB 12");
    assert_int_equal(kv_uri_parse(&u, "usb://", err, sizeof err), 0);
    assert_int_equal(u.has_id, 0);
    assert_int_equal(kv_uri_parse(&u, "USB://04B8:0202", err, sizeof err), 0);
    assert_int_equal(u.pid, 0x0202);
}

static void test_transport_uri__tcp_forms(void **state)
{
    (void)state;
    kv_uri u;
    char err[256];
    assert_int_equal(kv_uri_parse(&u, "tcp://192.168.1.50", err, sizeof err), 0);
    assert_int_equal(u.kind, KV_URI_TCP);
    assert_string_equal(u.host, "192.168.1.50");
    assert_int_equal(u.port, 9100);
    assert_int_equal(kv_uri_parse(&u, "tcp://printer.local:9101/", err, sizeof err), 0);
    assert_string_equal(u.host, "printer.local");
    assert_int_equal(u.port, 9101);
    assert_int_equal(kv_uri_parse(&u, "tcp://[::1]:9200", err, sizeof err), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 9200);
    assert_int_equal(kv_uri_parse(&u, "tcp://[fe80::1%25eth0]", err, sizeof err), 0);
    assert_int_equal(u.port, 9100);
}

static void test_transport_uri__serial_lp_virtual(void **state)
{
    (void)state;
    kv_uri u;
    char err[256];
    assert_int_equal(kv_uri_parse(&u, "serial:///dev/ttyUSB0", err, sizeof err), 0);
    assert_int_equal(u.kind, KV_URI_SERIAL);
    assert_string_equal(u.path, "/dev/ttyUSB0");
    assert_int_equal(u.baud, 9600);
    assert_int_equal(u.flow, KV_FLOW_NONE);
    assert_int_equal(kv_uri_parse(&u, "serial:///dev/ttyS1?baud=115200&flow=rtscts", err,
                                  sizeof err), 0);
    assert_int_equal(u.baud, 115200);
    assert_int_equal(u.flow, KV_FLOW_RTSCTS);
    assert_int_equal(kv_uri_parse(&u, "serial:///dev/ttyS1?flow=xonxoff", err, sizeof err), 0);
    assert_int_equal(u.flow, KV_FLOW_XONXOFF);
    assert_int_equal(kv_uri_parse(&u, "lp:///dev/usb/lp0", err, sizeof err), 0);
    assert_int_equal(u.kind, KV_URI_LP);
    assert_string_equal(u.path, "/dev/usb/lp0");
    assert_int_equal(kv_uri_parse(&u, "virtual:out/jobs", err, sizeof err), 0);
    assert_int_equal(u.kind, KV_URI_VIRTUAL);
    assert_string_equal(u.path, "out/jobs");
    assert_int_equal(u.fail_after, -1);
    assert_int_equal(kv_uri_parse(&u, "virtual:///tmp/x?fail_after=3&fail=persistent&fail_bytes=7"
                                  "&state=paper-out", err, sizeof err), 0);
    assert_string_equal(u.path, "/tmp/x");
    assert_int_equal(u.fail_after, 3);
    assert_int_equal(u.fail_bytes, 7);
    assert_int_equal(u.fail_persistent, 1);
    assert_string_equal(u.state, "paper-out");
}

/* Each malformed URI fails with KV_T_E_URI and a message naming the part. */
static void test_transport_uri__malformed(void **state)
{
    (void)state;
    static const struct { const char *uri, *needle; } bad[] = {
        { "", "empty" },
        { "192.168.1.50", "scheme" },
        { "ftp://x", "unknown printer URI scheme" },
        { "usb://4b8:e28", "4 hex" },
        { "usb://04b8-0e28", "4 hex" },
        { "usb://04b8:0e28?serial=", "serial" },
        { "usb://04b8:0e28?sn=1", "unknown URI option" },
        { "tcp://", "missing host" },
        { "tcp://host:0", "port" },
        { "tcp://host:65536", "port" },
        { "tcp://host:12ab", "port" },
        { "tcp://[::1", "']'" },
        { "tcp://ho st", "space" },
        { "tcp://h$st", "bad host" },
        { "serial:///dev/ttyS0?baud=9601", "baud" },
        { "serial:///dev/ttyS0?flow=hw", "flow" },
        { "serial:dev/ttyS0", "serial://" },
        { "serial://dev/ttyS0", "absolute" },
        { "lp://", "missing path" },
        { "virtual:", "missing path" },
        { "virtual:d?fail_after=-1", "fail_after" },
        { "virtual:d?state=jammed", "state" },
        { "virtual:d?oops", "key=value" },
        { "virtual:d%zz", "%-encoded" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kv_uri u;
        char err[256] = "";
        int st = kv_uri_parse(&u, bad[i].uri, err, sizeof err);
        if (st != KV_T_E_URI || !strstr(err, bad[i].needle))
            fail_msg("URI '%s': status %d, message '%s' (wanted '%s')", bad[i].uri, st, err,
                     bad[i].needle);
    }
}

static void test_transport_uri__open_reports_malformed(void **state)
{
    (void)state;
    char err[256] = "";
    kv_transport_options o = KV_TRANSPORT_OPTIONS_INIT;
    o.errbuf = err;
    o.errlen = sizeof err;
    kv_transport *t = (kv_transport *)0x1;
    assert_int_equal(kv_transport_open(&t, "tcp://:9100", &o), KV_T_E_URI);
    assert_ptr_equal(t, (kv_transport *)0x1); /* untouched on failure */
    assert_non_null(strstr(err, "missing host"));
    assert_int_equal(kv_transport_open(&t, "carrier-pigeon://x", &o), KV_T_E_URI);
    assert_non_null(strstr(err, "carrier-pigeon"));
    assert_string_equal(kv_transport_strerror(KV_T_E_URI), "bad printer address (URI)");
    assert_string_equal(kv_transport_strerror(12345), "unknown error");
}

static void test_transport_uri__open_dispatches_by_scheme(void **state)
{
    (void)state;
    char *dir = kvt_path("%s/uri-virtual", kvt_tmpdir());
    char *uri = kvt_path("virtual:%s", dir);
    kv_transport *t = NULL;
    assert_int_equal(kv_transport_open(&t, uri, NULL), KV_T_OK);
    assert_string_equal(kv_transport_scheme(t), "virtual");
    assert_string_equal(kv_transport_errmsg(t), "");
    kv_transport_close(t);
    kv_transport_close(NULL);

    char err[256] = "";
    kv_transport_options o = KV_TRANSPORT_OPTIONS_INIT;
    o.errbuf = err;
    o.errlen = sizeof err;
    assert_int_equal(kv_transport_open(&t, "lp:///nonexistent/kvitt-lp0", &o), KV_T_E_NOT_FOUND);
    assert_non_null(strstr(err, "not found"));
    assert_int_equal(kv_transport_open(&t, "serial:///nonexistent/ttyKV", &o), KV_T_E_NOT_FOUND);
    free(uri);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transport_uri__usb_forms),
        cmocka_unit_test(test_transport_uri__tcp_forms),
        cmocka_unit_test(test_transport_uri__serial_lp_virtual),
        cmocka_unit_test(test_transport_uri__malformed),
        cmocka_unit_test(test_transport_uri__open_reports_malformed),
        cmocka_unit_test(test_transport_uri__open_dispatches_by_scheme),
    };
    return cmocka_run_group_tests_name("transport_uri", tests, NULL, NULL);
}
