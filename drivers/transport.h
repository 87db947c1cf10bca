/*
 * transport.h - one interface for every way bytes reach a receipt printer.
 *
 * A transport is opened from a URI and moves bytes; it knows nothing about
 * payments or documents.  Backends (drivers/usb.c, lp.c, tcp.c, serial.c,
 * virtual.c) each export one `const kv_transport_ops` table; kv_transport_open
 * picks it by URI scheme from a static table.
 *
 *   usb://VID:PID[?serial=S]   usb://  (first printer-class device)
 *   lp:///dev/usb/lp0           any character device
 *   tcp://HOST[:PORT]           raw port 9100 by default
 *   serial:///dev/ttyUSB0?baud=9600&flow=none|rtscts|xonxoff
 *   virtual:DIR                 records each job as DIR/NNNN.bin
 *
 * Thread-safety: one handle is used by one thread at a time; distinct
 * handles are independent.  No global state.
 */
#ifndef KV_DRIVERS_TRANSPORT_H
#define KV_DRIVERS_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>

/* Status codes. Append only; never renumber. */
typedef enum {
    KV_T_OK = 0,
    KV_T_E_URI = -1,        /* malformed or unsupported URI */
    KV_T_E_NOT_FOUND = -2,  /* no such device / host unreachable / refused */
    KV_T_E_ACCESS = -3,     /* permission denied (udev rule, lp group) */
    KV_T_E_BUSY = -4,       /* claimed by another driver (usblp, CUPS) */
    KV_T_E_IO = -5,         /* I/O error, connection reset */
    KV_T_E_TIMEOUT = -6,    /* no progress within the timeout */
    KV_T_E_DISCONNECTED = -7, /* device unplugged / peer closed */
    KV_T_E_NOMEM = -8,
    KV_T_E_UNSUPPORTED = -9 /* operation not offered by this transport */
} kv_transport_status;

/* Static text for a status; never NULL, never freed by the caller. */
const char *kv_transport_strerror(kv_transport_status st);

/* What the printer reported (DLE EOT / GS r), independent of transport. */
typedef enum {
    KV_PS_UNKNOWN = 0,      /* no answer in time (common on clones) */
    KV_PS_READY,            /* online, paper present, cover closed */
    KV_PS_PAPER_NEAR_END,   /* prints, but the roll is nearly empty */
    KV_PS_PAPER_OUT,
    KV_PS_COVER_OPEN,
    KV_PS_OFFLINE,
    KV_PS_ERROR             /* cutter jam, unrecoverable or auto-recoverable error */
} kv_printer_state;

const char *kv_printer_state_name(kv_printer_state s);

typedef struct kv_transport kv_transport;

/* Backend operation table.  Every backend embeds `kv_transport` as the
 * first member of its own handle struct ("base class first"). */
typedef struct kv_transport_ops {
    const char *scheme;  /* "usb", "lp", "tcp", "serial", "virtual" */
    /* Open the device named by uri; on success set *out to a new handle
     * (allocated by the backend) and return KV_T_OK. On failure write a
     * human-readable cause with the cure into err (errlen bytes). */
    int (*open)(kv_transport **out, const char *uri, int timeout_ms,
                char *err, size_t errlen);
    /* Write all len bytes or fail. Returns KV_T_OK, or a negative status
     * with *written set to what went out before the failure. */
    int (*write)(kv_transport *t, const void *buf, size_t len, size_t *written,
                 int timeout_ms);
    /* Read up to len bytes, waiting at most timeout_ms. Returns a count
     * >= 0 (0 = nothing arrived in time) or a negative status. Optional. */
    ssize_t (*read)(kv_transport *t, void *buf, size_t len, int timeout_ms);
    /* Mark the end of a job (virtual: file the job; tcp: nothing). Optional. */
    int (*end_job)(kv_transport *t);
    /* Release everything; NULL-safe. */
    void (*close)(kv_transport *t);
} kv_transport_ops;

struct kv_transport {
    const kv_transport_ops *ops;  /* must be first */
    char errmsg[256];             /* last error text, for kv_transport_errmsg */
};

#endif
