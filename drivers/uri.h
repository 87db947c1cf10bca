/*
 * uri.h - parse a printer URI into its parts (no I/O).
 *
 *   usb://VID:PID[?serial=S]   4-hex-digit ids; usb:// = first printer
 *   lp:///dev/usb/lp0           absolute path of a character device
 *   tcp://HOST[:PORT]           port 1..65535, default 9100;
 *                               tcp://[::1]:9100 for IPv6 literals
 *   serial:///dev/ttyUSB0[?baud=N&flow=none|rtscts|xonxoff]
 *                               baud 1200..230400 (standard rates),
 *                               default 9600, flow default none
 *   virtual:DIR[?fail_after=N&fail_bytes=N&fail=transient|persistent
 *              &state=ok|paper-out|paper-near-end|cover-open|offline|error
 *              &png=0|1&profile=NAME]
 *                               DIR may be relative; virtual:///abs works too
 *
 * Query values may be %XX-encoded.  Unknown query keys are an error (a typo
 * must not silently change behaviour).
 */
#ifndef KV_DRIVERS_URI_H
#define KV_DRIVERS_URI_H

#include <stddef.h>

typedef enum {
    KV_URI_USB = 1,
    KV_URI_LP,
    KV_URI_TCP,
    KV_URI_SERIAL,
    KV_URI_VIRTUAL
} kv_uri_kind;

typedef enum { KV_FLOW_NONE = 0, KV_FLOW_RTSCTS, KV_FLOW_XONXOFF } kv_uri_flow;

/* A parsed URI: a plain value struct, no heap memory. */
typedef struct kv_uri {
    kv_uri_kind kind;
    /* usb */
    int has_id;              /* 1 when VID:PID was given */
    unsigned vid, pid;
    char serial[128];        /* "" when absent */
    /* lp, serial, virtual: device path or directory */
    char path[1024];
    /* tcp */
    char host[256];          /* without the [ ] of an IPv6 literal */
    unsigned port;
    /* serial */
    unsigned baud;
    kv_uri_flow flow;
    /* virtual: fault injection and emulated printer state */
    long fail_after;         /* -1 none; else write calls that succeed
                                before one fails */
    long fail_bytes;         /* -1 none; else bytes accepted in the failing
                                call before it fails */
    int fail_persistent;     /* 1: every call after the first failure fails */
    char state[32];          /* "" or an emulated state name (status.h) */
    int png;                 /* virtual: png=1 renders DIR/NNNN.png per job */
    char profile[64];        /* virtual: profile=NAME for rendering ("" = default) */
} kv_uri;

/* Parse uri into *out.  Returns 0 (KV_T_OK), or KV_T_E_URI with a message
 * naming the problem and the expected form written to err (errlen bytes,
 * may be NULL/0).  *out is written only on success. */
int kv_uri_parse(kv_uri *out, const char *uri, char *err, size_t errlen);

/* The scheme part of uri ("tcp" for "tcp://h") copied into buf; returns 0,
 * or -1 when there is no "scheme:" prefix or it does not fit. */
int kv_uri_scheme(const char *uri, char *buf, size_t buflen);

#endif
