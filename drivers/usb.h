/*
 * usb.h - the USB (libusb) printer transport: what it adds beyond the
 * generic kv_transport interface of drivers/transport.h.
 *
 * The backend itself is the ops table `kv_transport_usb_ops` (scheme "usb"),
 * picked by kv_transport_open() for URIs of the form
 *
 *   usb://                      the first device with a printer-class interface
 *   usb://VID:PID               e.g. usb://04b8:0202 (four hex digits each)
 *   usb://VID:PID?serial=S      when several identical printers are attached
 *
 * It finds the printer-class interface (class 07, subclass 01, protocol 01
 * unidirectional or 02 bidirectional), reads the bulk OUT and bulk IN
 * endpoints from the interface descriptor, lets libusb detach the usblp
 * kernel driver while kvitt holds the interface (it is re-attached on
 * close), and writes in chunks with a timeout per chunk.
 *
 * Every handle owns its own libusb context: there is no global state and
 * distinct handles are independent.  One handle is used by one thread at a
 * time.
 *
 * Errors are explained with their cure in the err buffer of open() and in
 * the handle's errmsg: no permission names the udev rule file and the `lp`
 * group, busy names usblp / CUPS and how to free the device, not found
 * lists what is attached.
 */
#ifndef KV_DRIVERS_USB_H
#define KV_DRIVERS_USB_H

#include <stddef.h>
#include <stdint.h>

#include "drivers/transport.h"

/* The backend table (scheme "usb").  Defined in drivers/usb.c. */
extern const kv_transport_ops kv_transport_usb_ops;

/* Printer-class control requests (USB Printer Class 1.1, section 4.2). */
#define KV_USB_REQ_GET_DEVICE_ID   0x00
#define KV_USB_REQ_GET_PORT_STATUS 0x01
#define KV_USB_REQ_SOFT_RESET      0x02

/* GET_PORT_STATUS bits (the same ones the kernel's usblp driver reads). */
#define KV_USB_PORT_PAPER_EMPTY 0x20  /* 1 = paper empty */
#define KV_USB_PORT_SELECTED    0x10  /* 1 = selected (online) */
#define KV_USB_PORT_NOT_ERROR   0x08  /* 1 = no error (the error line is active low) */

/* Options for the write path; kv_usb_options_init() sets the defaults. */
typedef struct kv_usb_options {
    size_t chunk;          /* bytes per bulk transfer; default 4096 */
    int stall_retries;     /* clear-halt + retry attempts per chunk; default 3 */
    int control_timeout_ms;/* GET_DEVICE_ID / GET_PORT_STATUS / strings; default 500 */
} kv_usb_options;

/* Fill *o with the defaults above. */
void kv_usb_options_init(kv_usb_options *o);

/* Change the options of an open usb handle (t must come from the usb
 * backend).  Returns KV_T_OK, or KV_T_E_UNSUPPORTED when t is not a usb
 * handle or o is invalid (chunk 0).  o is copied. */
int kv_usb_set_options(kv_transport *t, const kv_usb_options *o);

/* Endpoints and interface the handle uses, read from the descriptors.
 * ep_in is 0 for a unidirectional (protocol 01) interface; reading from
 * such a handle returns 0 ("nothing arrived") at once, so printer status
 * stays unknown; kv_usb_port_status() may still answer.  Any pointer may
 * be NULL.  Returns KV_T_OK or KV_T_E_UNSUPPORTED (not a usb handle). */
int kv_usb_endpoints(const kv_transport *t, uint8_t *ep_out, uint8_t *ep_in,
                     int *interface_number, int *protocol);

/* ---- IEEE-1284 device ID and port status ---------------------------- */

/* GET_DEVICE_ID (bmRequestType 0xA1, bRequest 0, wValue = configuration,
 * wIndex = interface << 8 | alternate setting).  On success writes the ID
 * string (NUL-terminated, truncated to outlen-1, control characters
 * replaced by '?') to out and returns KV_T_OK.  Returns KV_T_E_TIMEOUT when
 * the printer does not answer within timeout_ms, KV_T_E_IO when it refuses
 * (stall) or answers garbage, KV_T_E_DISCONNECTED when unplugged,
 * KV_T_E_UNSUPPORTED when t is not a usb handle.  out is untouched on
 * failure. */
int kv_usb_device_id(kv_transport *t, char *out, size_t outlen, int timeout_ms);

/* GET_PORT_STATUS (bRequest 1): one status byte into *out.  Same returns
 * as kv_usb_device_id.  Decode with kv_usb_port_state(). */
int kv_usb_port_status(kv_transport *t, uint8_t *out, int timeout_ms);

/* Map a GET_PORT_STATUS byte to a printer state: paper empty -> PAPER_OUT,
 * error line active -> ERROR, not selected -> OFFLINE, else READY. */
kv_printer_state kv_usb_port_state(uint8_t status);

/* Decode a raw GET_DEVICE_ID reply: a 2-byte big-endian length (which
 * counts the two length bytes) followed by the ID.  Tolerates the
 * little-endian length some firmwares send and lengths longer than what
 * arrived (the ID is then cut at n).  Writes the NUL-terminated ID (control
 * characters replaced by '?') into out.  Returns KV_T_OK, or KV_T_E_IO when
 * the reply is shorter than 2 bytes or the ID is empty (out untouched). */
int kv_usb_parse_device_id(char *out, size_t outlen, const uint8_t *reply, size_t n);

/* Look up one key of a 1284 ID ("MFG:EPSON;CMD:ESC/POS;MDL:TM-T88V;").
 * key is the short form ("MFG", "MDL", "CMD", "DES", "SN"); the long forms
 * (MANUFACTURER, MODEL, COMMAND SET, DESCRIPTION, SERIALNUMBER) are matched
 * too, case-insensitively.  Copies the value (truncated) to out and returns
 * 1, or returns 0 (out untouched) when the key is absent. */
int kv_usb_device_id_field(char *out, size_t outlen, const char *id, const char *key);

/* ---- discovery (`kvitt printers`) ----------------------------------- */

/* Whether kvitt could open a listed device. */
typedef enum {
    KV_USB_OPEN_YES = 0,       /* opened and claimed (or only usblp holds it: detached on use) */
    KV_USB_OPEN_NO_PERMISSION, /* LIBUSB_ERROR_ACCESS */
    KV_USB_OPEN_BUSY,          /* another program holds the interface */
    KV_USB_OPEN_FAILED         /* any other error (see why) */
} kv_usb_openable;

typedef struct kv_usb_printer {
    uint16_t vid, pid;
    uint8_t bus, address;
    int interface_number;  /* printer-class interface, -1 when the device has none */
    int protocol;          /* 1 unidirectional, 2 bidirectional, 0 none */
    char manufacturer[128];/* string descriptors; "" when unreadable */
    char product[128];
    char serial[128];
    char device_id[512];   /* IEEE-1284 ID; "" when unreadable */
    int answering;         /* 1 when control requests were answered */
    const char *profile;   /* suggested profile name (static, never NULL) */
    kv_usb_openable openable;
    char why[512];         /* why it cannot be opened / notes, with the cure; "" if none */
    char uri[64];          /* usb://VID:PID[?serial=S] to use with --printer */
} kv_usb_printer;

typedef struct kv_usb_discover_options {
    int control_timeout_ms;  /* per control request; default 300 */
    int all_devices;         /* 1: list every device, not only printers */
} kv_usb_discover_options;

/* Fill *o with the defaults. */
void kv_usb_discover_options_init(kv_usb_discover_options *o);

/* List the USB printers attached: devices with a printer-class interface
 * and devices whose VID:PID is a known receipt printer (drivers/usb_profiles.h).
 * Opens each briefly to read strings and the 1284 ID with short timeouts:
 * a device that does not answer is listed by VID:PID and marked not
 * answering.  Never detaches kernel drivers.  opts may be NULL (defaults).
 * On success *out is a malloc'd array of *count entries (NULL when 0),
 * freed with kv_usb_printers_free(); returns KV_T_OK.  Returns KV_T_E_IO
 * (libusb could not start; err explains) or KV_T_E_NOMEM; outs untouched. */
int kv_usb_discover(kv_usb_printer **out, size_t *count,
                    const kv_usb_discover_options *opts, char *err, size_t errlen);

/* Free what kv_usb_discover returned; NULL is a no-op. */
void kv_usb_printers_free(kv_usb_printer *list);

/* Static text for an openable value. */
const char *kv_usb_openable_name(kv_usb_openable o);

#endif
