/*
 * test_usb_printers.c - `kvitt printers` (USB discovery) against emulated
 * devices: two printers and one unrelated device.
 *
 * Runs under umockdev-wrapper (tests/run.sh).  The devices come from
 * fixtures/usb/NAME.umockdev; the printers' side of the usbfs ioctls is
 * played by tests/lib/usbfake.c in this process.  The kvitt program runs as
 * a real child process: it inherits LD_PRELOAD and UMOCKDEV_DIR and reaches
 * the emulated devices through the testbed, over the real libusb backend.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/usb.h"
#include "tests/lib/kvtest.h"
#include "tests/lib/usbfake.h"

static const char T88_ID[] = "MFG:EPSON;CMD:ESC/POS;MDL:TM-T88V;CLS:PRINTER;";

typedef kvt_usbworld world;

static int setup(void **state)
{
    world *w = kvt_usbworld_new(KVT_USB_T88 | KVT_USB_POS58 | KVT_USB_KEYBOARD);
    if (w && w->t88) kvt_usbdev_config(w->t88)->device_id = T88_ID;
    *state = w;
    return w ? 0 : -1;
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

static cJSON *find_dev(cJSON *arr, const char *vid, const char *pid)
{
    cJSON *o;
    cJSON_ArrayForEach(o, arr) {
        cJSON *v = cJSON_GetObjectItem(o, "vid"), *p = cJSON_GetObjectItem(o, "pid");
        if (cJSON_IsString(v) && cJSON_IsString(p) && !strcmp(v->valuestring, vid) &&
            !strcmp(p->valuestring, pid))
            return o;
    }
    return NULL;
}

static const char *jstr(cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItem(o, k);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static int jbool(cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItem(o, k);
    assert_true(cJSON_IsBool(v));
    return cJSON_IsTrue(v);
}

/* Both printers listed with strings, 1284 ID and profile; the keyboard
 * is not a printer and is not listed. */
static void test_usb_printers__json_lists_two_printers(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_usbdev_config(w->pos58)->device_id = "MFG:Zjiang;CMD:ESC/POS;MDL:POS-5890;";
    kvt_result r;
    const char *argv[] = { "kvitt", "printers", "--json", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    if (r.status != 0) fail_msg("exit %d: %s", r.status, r.err);
    cJSON *arr = cJSON_Parse(r.out);
    assert_non_null(arr);
    assert_true(cJSON_IsArray(arr));
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    assert_null(find_dev(arr, "046d", "c31c"));

    cJSON *t = find_dev(arr, "04b8", "0202");
    assert_non_null(t);
    assert_string_equal(jstr(t, "manufacturer"), "EPSON");
    assert_string_equal(jstr(t, "product"), "TM-T88V");
    assert_string_equal(jstr(t, "serial"), "J7PF012345");
    assert_string_equal(jstr(t, "device_id"), T88_ID);
    assert_string_equal(jstr(t, "profile"), "epson-tm-t88");
    assert_string_equal(jstr(t, "uri"), "usb://04b8:0202?serial=J7PF012345");
    assert_string_equal(jstr(t, "direction"), "bidirectional");
    assert_true(jbool(t, "answering"));
    assert_true(jbool(t, "can_open"));

    cJSON *p = find_dev(arr, "0416", "5011");
    assert_non_null(p);
    assert_string_equal(jstr(p, "product"), "POS58 Printer USB");
    assert_string_equal(jstr(p, "device_id"), "MFG:Zjiang;CMD:ESC/POS;MDL:POS-5890;");
    assert_string_equal(jstr(p, "profile"), "pos-5890");
    assert_int_equal(cJSON_GetObjectItem(p, "interface")->valueint, 1);
    assert_true(jbool(p, "can_open"));
    cJSON_Delete(arr);
    kvt_result_free(&r);

    /* discovery released what it claimed */
    kvt_usbdev_stats st;
    kvt_usbdev_stats_get(w->t88, &st);
    assert_int_equal(st.claims, st.releases);
}

/* A printer that answers no control request is still listed by VID:PID,
 * marked not answering, and discovery finishes. */
static void test_usb_printers__not_answering_is_listed(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_usbdev_config(w->pos58)->hold_control = 1;
    kvt_result r;
    const char *argv[] = { "kvitt", "printers", "--timeout-ms", "100", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 0);
    char *pos = strstr(r.out, "0416:5011");
    assert_non_null(pos);
    assert_non_null(strstr(pos, "not answering"));
    /* the TM-T88 block comes with its strings and 1284 ID */
    assert_non_null(strstr(r.out, "04b8:0202  EPSON TM-T88V"));
    assert_non_null(strstr(r.out, T88_ID));
    assert_non_null(strstr(r.out, "profile:   epson-tm-t88"));
    assert_null(strstr(r.out, "046d:c31c"));
    kvt_result_free(&r);

    const char *argv2[] = { "kvitt", "printers", "--json", "--timeout-ms", "100", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv2), 0);
    cJSON *arr = cJSON_Parse(r.out);
    assert_non_null(arr);
    cJSON *p = find_dev(arr, "0416", "5011");
    assert_non_null(p);
    assert_false(jbool(p, "answering"));
    assert_string_equal(jstr(p, "product"), "");
    assert_string_equal(jstr(p, "profile"), "pos-5890");   /* from the VID:PID alone */
    cJSON_Delete(arr);
    kvt_result_free(&r);
}

/* Busy interface: listed as not openable, with the cure. */
static void test_usb_printers__busy_printer_says_why(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_usbdev_config(w->t88)->claim_busy = 1;
    kvt_result r;
    const char *argv[] = { "kvitt", "printers", "--json", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 0);
    cJSON *arr = cJSON_Parse(r.out);
    assert_non_null(arr);
    cJSON *t = find_dev(arr, "04b8", "0202");
    assert_non_null(t);
    assert_false(jbool(t, "can_open"));
    assert_string_equal(jstr(t, "open"), "busy");
    assert_non_null(strstr(jstr(t, "why"), "CUPS"));
    assert_non_null(strstr(jstr(t, "why"), "usblp"));
    cJSON_Delete(arr);
    kvt_result_free(&r);
}

/* usblp holds the interface: discovery leaves it alone (no detach), says
 * kvitt can still open the printer and why. */
static void test_usb_printers__usblp_bound(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_usbdev_config(w->t88)->kernel_driver = "usblp";
    kvt_result r;
    const char *argv[] = { "kvitt", "printers", "--json", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 0);
    cJSON *arr = cJSON_Parse(r.out);
    assert_non_null(arr);
    cJSON *t = find_dev(arr, "04b8", "0202");
    assert_non_null(t);
    assert_true(jbool(t, "can_open"));
    assert_non_null(strstr(jstr(t, "why"), "usblp"));
    assert_string_equal(jstr(t, "product"), "TM-T88V");
    cJSON_Delete(arr);
    kvt_result_free(&r);
    kvt_usbdev_stats st;
    kvt_usbdev_stats_get(w->t88, &st);
    assert_int_equal(st.detaches, 0);
    assert_int_equal(st.claims, 0);
}

/* --all lists the keyboard too, as a device kvitt cannot print to. */
static void test_usb_printers__all_devices(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kvt_result r;
    const char *argv[] = { "kvitt", "printers", "--all", "--json", "--timeout-ms", "100", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 0);
    cJSON *arr = cJSON_Parse(r.out);
    assert_non_null(arr);
    assert_int_equal(cJSON_GetArraySize(arr), 3);
    cJSON *k = find_dev(arr, "046d", "c31c");
    assert_non_null(k);
    assert_false(jbool(k, "can_open"));
    assert_int_equal(cJSON_GetObjectItem(k, "interface")->valueint, -1);
    cJSON_Delete(arr);
    kvt_result_free(&r);
}

/* The library call behind the command, in process. */
static void test_usb_printers__discover_in_process(void **state)
{
    world *w = *state;
    NEED_BED(w);
    kv_usb_printer *list = NULL;
    size_t n = 0;
    char err[256] = "";
    assert_int_equal(kv_usb_discover(&list, &n, NULL, err, sizeof err), KV_T_OK);
    assert_int_equal(n, 2);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (list[i].vid == 0x04b8) {
            assert_int_equal(list[i].pid, 0x0202);
            assert_int_equal(list[i].interface_number, 0);
            assert_int_equal(list[i].protocol, 2);
            assert_int_equal(list[i].bus, 1);
            assert_int_equal(list[i].address, 2);
            assert_string_equal(list[i].device_id, T88_ID);
            seen++;
        }
    }
    assert_int_equal(seen, 1);
    kv_usb_printers_free(list);
    kv_usb_printers_free(NULL);
}

/* Run `kvitt printers --json` as an ordinary user and return its stdout
 * (malloc'd) or NULL.  As root the child drops to nobody (65534). */
static char *printers_as_user(void)
{
    int fd[2];
    if (pipe(fd) != 0) return NULL;
    pid_t pid = fork();
    if (pid < 0) return NULL;
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 1);
        if (chdir("/") != 0) _exit(126);
        if (getuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
            _exit(125);
        execl(kvt_bin(), "kvitt", "printers", "--json", "--timeout-ms", "100", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while (buf && (r = read(fd[0], buf + n, cap - n - 1)) > 0) n += (size_t)r;
    close(fd[0]);
    int ws = 0;
    waitpid(pid, &ws, 0);
    if (!buf) return NULL;
    buf[n] = '\0';
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        fprintf(stderr, "kvitt printers as user: wait status %d\n", ws);
        free(buf);
        return NULL;
    }
    return buf;
}

/* Without the udev rule an ordinary user cannot open the usbfs node:
 * listed as "no permission" with the cure (rule file, make target, lp
 * group). */
static void test_usb_printers__no_permission_names_the_cure(void **state)
{
    world *w = *state;
    NEED_BED(w);
    assert_int_equal(kvt_usbbed_restrict_nodes(w->bed), 0);
    char *out = printers_as_user();
    assert_non_null(out);
    cJSON *arr = cJSON_Parse(out);
    assert_non_null(arr);
    cJSON *t = find_dev(arr, "04b8", "0202");
    assert_non_null(t);
    assert_false(jbool(t, "can_open"));
    assert_string_equal(jstr(t, "open"), "no permission");
    const char *why = jstr(t, "why");
    assert_non_null(strstr(why, "udev/60-kvitt-printers.rules"));
    assert_non_null(strstr(why, "make install-udev"));
    assert_non_null(strstr(why, "usermod -aG lp"));
    /* still listed by VID:PID, with the profile from the ID alone */
    assert_string_equal(jstr(t, "profile"), "epson-tm-t88");
    cJSON_Delete(arr);
    free(out);
}

static void test_usb_printers__bad_args(void **state)
{
    (void)state;
    kvt_result r;
    const char *argv[] = { "kvitt", "printers", "--timeout-ms", "0", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv), 0);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
    const char *argv2[] = { "kvitt", "printers", "extra", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv2), 0);
    assert_int_equal(r.status, 2);
    kvt_result_free(&r);
    const char *argv3[] = { "kvitt", "printers", "--help", NULL };
    assert_int_equal(kvt_run(&r, NULL, NULL, 30, argv3), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "usage: kvitt printers"));
    kvt_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usb_printers__json_lists_two_printers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_printers__not_answering_is_listed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_printers__busy_printer_says_why, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_printers__usblp_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_printers__all_devices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_printers__discover_in_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usb_printers__no_permission_names_the_cure, setup, teardown),
        cmocka_unit_test(test_usb_printers__bad_args),
    };
    return cmocka_run_group_tests_name("usb_printers", tests, NULL, NULL);
}
