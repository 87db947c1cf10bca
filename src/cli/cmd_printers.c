/* cmd_printers.c - `kvitt printers [--json]`: list the USB printers attached. */
#include "src/cli/cli.h"
#include "drivers/usb.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: kvitt printers [--json] [--all] [--timeout-ms N]\n"
    "\n"
    "List the USB printers kvitt can see: VID:PID, manufacturer, product, the\n"
    "IEEE-1284 device ID, the suggested profile, and whether kvitt can open the\n"
    "device (and if not, why and how to fix it). A device that does not answer\n"
    "control requests is still listed by VID:PID and marked \"not answering\".\n"
    "\n"
    "  --json          machine-readable output (an array of objects)\n"
    "  --all           list every USB device, not only printers\n"
    "  --timeout-ms N  wait at most N ms per control request (default 300)\n"
    "\n"
    "Use the printed URI with --printer (e.g. kvitt print job.bin --printer usb://04b8:0202).\n"
    "Exit 0 listed (also when none is attached), 2 bad arguments, 4 USB unavailable.\n";

static const char *proto_name(int p)
{
    return p == 2 ? "bidirectional" : p == 1 ? "unidirectional (no status)" : "none";
}

static int print_json(const kv_usb_printer *l, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr) return -1;
    for (size_t i = 0; i < n; i++) {
        const kv_usb_printer *p = &l[i];
        char id[8];
        cJSON *o = cJSON_CreateObject();
        if (!o) { cJSON_Delete(arr); return -1; }
        cJSON_AddItemToArray(arr, o);
        snprintf(id, sizeof id, "%04x", p->vid);
        cJSON_AddStringToObject(o, "vid", id);
        snprintf(id, sizeof id, "%04x", p->pid);
        cJSON_AddStringToObject(o, "pid", id);
        cJSON_AddNumberToObject(o, "bus", p->bus);
        cJSON_AddNumberToObject(o, "address", p->address);
        cJSON_AddStringToObject(o, "uri", p->uri);
        cJSON_AddStringToObject(o, "manufacturer", p->manufacturer);
        cJSON_AddStringToObject(o, "product", p->product);
        cJSON_AddStringToObject(o, "serial", p->serial);
        cJSON_AddStringToObject(o, "device_id", p->device_id);
        cJSON_AddNumberToObject(o, "interface", p->interface_number);
        cJSON_AddStringToObject(o, "direction", p->protocol == 2 ? "bidirectional"
                                : p->protocol == 1 ? "unidirectional" : "none");
        cJSON_AddBoolToObject(o, "answering", p->answering);
        cJSON_AddStringToObject(o, "profile", p->profile);
        cJSON_AddBoolToObject(o, "can_open", p->openable == KV_USB_OPEN_YES);
        cJSON_AddStringToObject(o, "open", kv_usb_openable_name(p->openable));
        cJSON_AddStringToObject(o, "why", p->why);
    }
    char *s = cJSON_Print(arr);
    cJSON_Delete(arr);
    if (!s) return -1;
    printf("%s\n", s);
    free(s);
    return 0;
}

static void print_text(const kv_usb_printer *l, size_t n)
{
    if (n == 0) {
        printf("no USB printers found (check the cable and power; a printer whose "
               "firmware is a virtual COM port appears as /dev/ttyUSB* or /dev/ttyACM*: "
               "use serial://)\n");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const kv_usb_printer *p = &l[i];
        printf("%s%s\n", i ? "\n" : "", p->uri);
        printf("  device:    %04x:%04x  %s%s%s  (bus %03u address %03u)\n", p->vid, p->pid,
               p->manufacturer[0] ? p->manufacturer : "?", " ",
               p->product[0] ? p->product : "?", p->bus, p->address);
        if (p->serial[0]) printf("  serial:    %s\n", p->serial);
        if (p->interface_number >= 0)
            printf("  interface: %d, %s\n", p->interface_number, proto_name(p->protocol));
        else
            printf("  interface: no printer-class interface\n");
        printf("  1284 ID:   %s\n", p->device_id[0] ? p->device_id : "(none)");
        if (!p->answering) printf("  answers:   no (not answering control requests)\n");
        printf("  profile:   %s (suggested)\n", p->profile);
        if (p->openable == KV_USB_OPEN_YES)
            printf("  can open:  yes%s%s\n", p->why[0] ? "; " : "", p->why);
        else
            printf("  can open:  no (%s): %s\n", kv_usb_openable_name(p->openable), p->why);
    }
}

int kv_cmd_printers(int argc, char **argv, const kv_cli *cli)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },
        { "all", no_argument, NULL, 'a' },
        { "timeout-ms", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    (void)cli;
    int json = 0, c;
    kv_usb_discover_options o;
    kv_usb_discover_options_init(&o);
    while ((c = getopt_long(argc, argv, "jat:h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'a': o.all_devices = 1; break;
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (!*optarg || *end || v < 1 || v > 60000)
                return kv_usage_error("printers", "--timeout-ms must be 1..60000, not '%s'", optarg);
            o.control_timeout_ms = (int)v;
            break;
        }
        case 'h': fputs(usage, stdout); return KV_EXIT_OK;
        default: return kv_bad_option("printers", argc, argv);
        }
    }
    if (optind < argc)
        return kv_usage_error("printers", "unexpected argument '%s'", argv[optind]);

    kv_usb_printer *list = NULL;
    size_t n = 0;
    char err[256] = "";
    int st = kv_usb_discover(&list, &n, &o, err, sizeof err);
    if (st != KV_T_OK) {
        kv_err("printers", "%s", err[0] ? err : "USB discovery failed");
        return KV_EXIT_PRINTER;
    }
    int rc = KV_EXIT_OK;
    if (json) {
        if (print_json(list, n) != 0) {
            kv_err("printers", "out of memory");
            rc = KV_EXIT_PRINTER;
        }
    } else {
        print_text(list, n);
    }
    kv_usb_printers_free(list);
    if (fflush(stdout) != 0) rc = KV_EXIT_PRINTER;
    return rc;
}
