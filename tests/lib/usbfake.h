/*
 * usbfake.h - emulated USB receipt printers for the test_usb* suites.
 *
 * Built on umockdev (the suites run under `umockdev-wrapper`, see
 * tests/run.sh): a UMockdevTestbed holds devices loaded from the
 * fixtures/usb/NAME.umockdev descriptions, and an in-process ioctl handler per
 * device node plays the printer on the usbfs ioctls that libusb's real
 * Linux backend issues (SUBMITURB / REAPURB / DISCARDURB / CLAIMINTERFACE /
 * CLEAR_HALT / ...).  So the code under test runs the real libusb path;
 * only the kernel side is emulated (there is no real USB printer in CI).
 *
 * The handler answers: string descriptors, the printer-class
 * GET_DEVICE_ID and GET_PORT_STATUS requests, bulk OUT (recording every
 * byte), bulk IN (from a queue of reply bytes).  Behaviour knobs emulate
 * short writes, stalls, timeouts, unplugging and a busy interface.
 *
 * Other processes (a `kvitt printers` child) reach the same handlers: they
 * inherit UMOCKDEV_DIR and LD_PRELOAD and talk to this process through the
 * testbed's socket.
 */
#ifndef KV_TESTS_USBFAKE_H
#define KV_TESTS_USBFAKE_H

#include <stddef.h>
#include <stdint.h>

typedef struct kvt_usbbed kvt_usbbed;
typedef struct kvt_usbdev kvt_usbdev;

/* A new testbed; NULL when umockdev is not active (the suite was not run
 * under umockdev-wrapper).  Free with kvt_usbbed_free (NULL is a no-op). */
kvt_usbbed *kvt_usbbed_new(void);
void kvt_usbbed_free(kvt_usbbed *b);

/* Make the testbed (sysfs, sockets) usable by every user and the usbfs
 * nodes read-only (0444): what a system without kvitt's udev rule looks
 * like to an ordinary user (libusb needs write access).  Returns 0 or -1. */
int kvt_usbbed_restrict_nodes(kvt_usbbed *b);

/* Add the device described in fixtures/usb/<fixture>.umockdev (found via
 * kvt_srcdir()).  node is its usbfs node ("/dev/bus/usb/001/002"; must match
 * the fixture's N: line).  With emulate = 1 an ioctl handler plays the
 * printer; with 0 the node exists but answers no ioctl (a device whose
 * firmware does not respond).  strings[1..3] are the manufacturer, product
 * and serial string descriptors (index 0 unused; NULL = stall).  Returns a
 * borrowed device (freed with the bed) or NULL on failure. */
kvt_usbdev *kvt_usbbed_add(kvt_usbbed *b, const char *fixture, const char *node,
                           int emulate, const char *const strings[4]);

/* The suites' usual devices, on fixed nodes (flags of kvt_usbworld_new). */
enum {
    KVT_USB_T88 = 1,        /* Epson TM-T88V, 001/002, emulated */
    KVT_USB_POS58 = 2,      /* a POS58 without serial number, 001/003, emulated */
    KVT_USB_KEYBOARD = 4,   /* a keyboard (no printer interface), 001/004, silent */
    KVT_USB_ONEWAY = 8,     /* a one-way parallel adapter, 001/005, emulated */
};

/* A testbed with some of those devices; bed is NULL outside
 * umockdev-wrapper (and then so are the devices). */
typedef struct kvt_usbworld {
    kvt_usbbed *bed;
    kvt_usbdev *t88, *pos58, *kbd, *oneway;
} kvt_usbworld;

/* NULL only when out of memory.  Free with kvt_usbworld_free. */
kvt_usbworld *kvt_usbworld_new(unsigned devices);
void kvt_usbworld_free(kvt_usbworld *w);

/* Behaviour knobs; set before the code under test runs. */
typedef struct kvt_usbdev_cfg {
    const char *device_id;   /* 1284 ID answered to GET_DEVICE_ID; NULL = stall */
    int device_id_le;        /* 1: send the length little-endian (buggy firmwares) */
    uint8_t port_status;     /* GET_PORT_STATUS byte */
    size_t max_per_urb;      /* 0 = accept whole URBs; else short writes of this size */
    int stall_out;           /* the next N bulk OUT URBs stall (-EPIPE) */
    long hold_out_after;     /* >= 0: after this many bytes, bulk OUT URBs never complete */
    long unplug_after;       /* >= 0: after this many bytes the device is gone (-ENODEV) */
    int hold_control;        /* control URBs never complete (device not answering) */
    int claim_busy;          /* CLAIMINTERFACE / DISCONNECT_CLAIM fail with EBUSY */
    const char *kernel_driver; /* e.g. "usblp": a kernel driver bound to the
                                  interface (GETDRIVER names it, a plain claim
                                  is EBUSY, DISCONNECT / DISCONNECT_CLAIM
                                  detach it, CONNECT re-attaches it) */
    int answer_status;       /* 1: answer DLE EOT n (10 04 n, n = 1..4) found in
                                bulk OUT data with eot[n] on bulk IN, and
                                GS r 1 (1D 72 01) with gs_r1 */
    uint8_t eot[5];          /* reply per n; default 0x12 (online, no error) */
    uint8_t gs_r1;           /* default 0x00 (paper adequate) */
} kvt_usbdev_cfg;

/* The device's knobs, writable. Defaults: device_id NULL, port_status 0x18,
 * hold_out_after = unplug_after = -1, everything else 0. */
kvt_usbdev_cfg *kvt_usbdev_config(kvt_usbdev *d);

/* Queue bytes the printer sends on bulk IN (e.g. a DLE EOT reply).  With
 * the queue empty, bulk IN URBs stay pending until libusb times out. */
void kvt_usbdev_queue_in(kvt_usbdev *d, const void *buf, size_t len);

/* Everything received on bulk OUT so far (borrowed, valid until the next
 * transfer), and the endpoint it came to. */
const uint8_t *kvt_usbdev_received(kvt_usbdev *d, size_t *len);
uint8_t kvt_usbdev_last_out_ep(kvt_usbdev *d);

/* Counters and the last class request's setup packet. */
typedef struct kvt_usbdev_stats {
    int out_urbs;          /* bulk OUT URBs submitted */
    size_t max_out_urb;    /* largest bulk OUT URB */
    int clear_halts;       /* USBDEVFS_CLEAR_HALT calls */
    int claims;            /* successful claims */
    int releases;
    int discards;          /* URBs cancelled by libusb (timeouts) */
    int detaches;          /* kernel driver detached */
    int reattaches;        /* kernel driver re-attached */
    uint8_t class_setup[8];/* last class request (bmRequestType 0xA1) setup packet */
    int class_requests;
} kvt_usbdev_stats;
void kvt_usbdev_stats_get(kvt_usbdev *d, kvt_usbdev_stats *out);

#endif
