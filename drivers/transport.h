/*
 * transport.h - one interface for every way bytes reach a receipt printer.
 *
 * A transport is opened from a URI and moves bytes; it knows nothing about
 * payments or documents.  Backends (drivers/usb.c, lp.c, tcp.c, serial.c,
 * virtual.c) each export one `const kv_transport_ops` table; kv_transport_open
 * picks it by URI scheme from a static const table.
 *
 *   usb://VID:PID[?serial=S]   usb://  (first printer-class device)
 *   lp:///dev/usb/lp0           any character device
 *   tcp://HOST[:PORT]           raw port 9100 by default; [v6] literals
 *   serial:///dev/ttyUSB0?baud=9600&flow=none|rtscts|xonxoff
 *   virtual:DIR[?fail_after=N&fail=transient|persistent&state=NAME]
 *                               records each job as DIR/NNNN.bin
 *
 * URI syntax and its parser are in drivers/uri.h; printer status queries
 * (DLE EOT / GS r) and the status-before/write/status-after job helper are
 * in drivers/status.h.
 *
 * Thread-safety: one handle is used by one thread at a time; distinct
 * handles are independent.  No global mutable state.
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
    KV_T_E_UNSUPPORTED = -9, /* operation not offered by this transport */
    KV_T_E_PRINTER = -10    /* the printer reports it cannot print (paper
                               out, cover open, offline, error); see
                               drivers/status.h */
} kv_transport_status;

/* Static text for a status, written for the person at the till; never
 * NULL, never freed by the caller.  Unknown values give "unknown error". */
const char *kv_transport_strerror(int st);

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

/* Short static name ("ready", "paper-out", ...); never NULL. */
const char *kv_printer_state_name(kv_printer_state s);

typedef struct kv_transport kv_transport;

/* Backend operation table.  Every backend embeds `kv_transport` as the
 * first member of its own handle struct ("base class first") and allocates
 * it zeroed (calloc), so fields appended to kv_transport start at 0. */
typedef struct kv_transport_ops {
    const char *scheme;  /* "usb", "lp", "tcp", "serial", "virtual" */
    /* Open the device named by uri; on success set *out to a new handle
     * (allocated by the backend) and return KV_T_OK. On failure write a
     * human-readable cause with the cure into err (errlen bytes). */
    int (*open)(kv_transport **out, const char *uri, int timeout_ms,
                char *err, size_t errlen);
    /* Write all len bytes or fail. Returns KV_T_OK, or a negative status
     * with *written set to what went out before the failure.  *written is
     * set in both cases. */
    int (*write)(kv_transport *t, const void *buf, size_t len, size_t *written,
                 int timeout_ms);
    /* Read up to len bytes, waiting at most timeout_ms. Returns a count
     * >= 0 (0 = nothing arrived in time) or a negative status. Optional
     * (NULL when the link is write-only). */
    ssize_t (*read)(kv_transport *t, void *buf, size_t len, int timeout_ms);
    /* Mark the end of a job (virtual: file the job; tcp: nothing). Optional. */
    int (*end_job)(kv_transport *t);
    /* Release everything; NULL-safe. */
    void (*close)(kv_transport *t);
} kv_transport_ops;

struct kv_transport {
    const kv_transport_ops *ops;  /* must be first */
    char errmsg[256];             /* last error text, for kv_transport_errmsg */
    /* Set by kv_transport_open after the backend's open returns: */
    int io_timeout_ms;            /* default for wrappers given timeout < 0 */
    /* Set by a backend: */
    int no_readback;              /* 1: has a read op but no replies can come
                                     (virtual without state=, write-only lp,
                                     a one-way USB interface) */
};

/* The backends' tables (defined in drivers/<scheme>.c). */
extern const kv_transport_ops kv_transport_tcp_ops;
extern const kv_transport_ops kv_transport_serial_ops;
extern const kv_transport_ops kv_transport_lp_ops;
extern const kv_transport_ops kv_transport_virtual_ops;
extern const kv_transport_ops kv_transport_usb_ops;

/* Options for kv_transport_open.  Start from KV_TRANSPORT_OPTIONS_INIT. */
typedef struct kv_transport_options {
    int version;          /* KV_TRANSPORT_OPTIONS_VERSION */
    int open_timeout_ms;  /* connect / open; <= 0 means 3000 */
    int io_timeout_ms;    /* default write/read timeout; <= 0 means 10000 */
    char *errbuf;         /* optional: on open failure the cause (with the
                             cure) is written here, NUL-terminated; it does
                             not repeat the URI: the caller names the printer */
    size_t errlen;        /* size of errbuf */
} kv_transport_options;

#define KV_TRANSPORT_OPTIONS_VERSION 1
#define KV_TRANSPORT_OPTIONS_INIT { KV_TRANSPORT_OPTIONS_VERSION, 3000, 10000, NULL, 0 }

/* Open the printer named by uri, choosing the backend by the URI scheme.
 * Thread-safe (no shared state).  opt may be NULL (defaults).  On success *out is a new handle, released
 * with kv_transport_close().  Returns KV_T_OK, or KV_T_E_URI for a
 * malformed URI or unknown scheme, or the backend's status (NOT_FOUND,
 * ACCESS, BUSY, TIMEOUT, ...); the cause is written to opt->errbuf when
 * given.  *out is left untouched on failure. */
int kv_transport_open(kv_transport **out, const char *uri,
                      const kv_transport_options *opt);

/* Write all len bytes.  timeout_ms (< 0: the handle's default) bounds
 * the time without progress: the call fails with KV_T_E_TIMEOUT when the
 * printer accepts no byte for that long (the USB backend applies it per
 * chunk), so a long job on a slow link is not cut off.  *written (may
 * be NULL) receives how many bytes went out, also on failure: that is
 * what the caller reports as printed / not printed.  On TCP "went out"
 * means accepted by the kernel; after a failed write, closing the handle
 * resets the connection so no queued rest reaches the printer later.
 * Returns KV_T_OK or a negative kv_transport_status; details in
 * kv_transport_errmsg(). */
int kv_transport_write(kv_transport *t, const void *buf, size_t len,
                       size_t *written, int timeout_ms);

/* Read up to len bytes waiting at most timeout_ms (< 0: the handle's
 * default).  Returns a count >= 0 (0 = nothing in time) or a negative
 * status; KV_T_E_UNSUPPORTED when the link cannot read back. */
ssize_t kv_transport_read(kv_transport *t, void *buf, size_t len, int timeout_ms);

/* 1 when the transport can read replies (status queries make sense). */
int kv_transport_can_read(const kv_transport *t);

/* Mark the end of a job.  Returns KV_T_OK (also for backends without a
 * job notion) or a negative status. */
int kv_transport_end_job(kv_transport *t);

/* Close and free; NULL is a no-op.  A virtual transport files a pending
 * job first. */
void kv_transport_close(kv_transport *t);

/* The URI scheme of an open handle ("tcp", ...); static, never NULL. */
const char *kv_transport_scheme(const kv_transport *t);

/* Last error text of the handle ("" when none).  Borrowed: valid until
 * the next call on t.  NULL t gives "". */
const char *kv_transport_errmsg(const kv_transport *t);

/* For backends: printf into t->errmsg (internal, shared between files). */
void kv__transport_seterr(kv_transport *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
