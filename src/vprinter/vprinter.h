/*
 * vprinter.h - a network receipt printer emulator (raw TCP, like port 9100).
 *
 * Every TCP connection is one job, recorded as DIR/NNNN.bin through the
 * virtual printer's job store, byte for byte as it arrived (status requests
 * included).  A connection that carried nothing but 3-byte status requests
 * is not a job and is not filed.  Recording uses the
 * job store of drivers/virtual.h.  Status requests in the
 * stream (DLE EOT 1..4, GS r 1) are answered with the bytes an Epson printer
 * in the current state sends (table in drivers/status.c, kv_emu_reply).
 * The state can change while running (kv_vprinter_cycle_state, or a control
 * file holding a state name that is re-read when it changes).  Faults: drop
 * the connection after N bytes; slow reads (a printer that prints slowly).
 *
 * Single-threaded: one poll loop serves all connections; the caller drives
 * it with kv_vprinter_step().  No global state; signals are the caller's
 * business (the CLI maps SIGUSR1 to kv_vprinter_cycle_state).
 */
#ifndef KV_VPRINTER_H
#define KV_VPRINTER_H

#include <stdio.h>
#include "drivers/status.h"

typedef struct kv_vprinter kv_vprinter;

typedef struct kv_vprinter_options {
    int version;               /* KV_VPRINTER_OPTIONS_VERSION */
    const char *listen;        /* "HOST:PORT", "[v6]:PORT"; port 0 = any free */
    const char *out_dir;       /* job directory (created if missing) */
    const char *profile;       /* printer profile name: logged with each job,
                                  used for --png (must exist then) */
    kv_emu_state state;        /* initial state */
    long drop_after_bytes;     /* < 0: never; else close each connection
                                  after receiving this many bytes */
    int delay_ms;              /* > 0: read at most 1 KiB per delay_ms per
                                  connection (small receive buffer) */
    const char *control_path;  /* NULL: OUT_DIR/state */
    FILE *log;                 /* one line per job/state change; NULL = quiet */
    int png;                   /* 1: render each job as DIR/NNNN.png beside it
                                  (for `profile`, default profile when NULL) */
} kv_vprinter_options;

#define KV_VPRINTER_OPTIONS_VERSION 1
#define KV_VPRINTER_OPTIONS_INIT { KV_VPRINTER_OPTIONS_VERSION, "127.0.0.1:9100", ".", \
                                   NULL, KV_EMU_OK, -1, 0, NULL, NULL, 0 }

/* Bind and listen.  On success *out is a new handle for
 * kv_vprinter_destroy().  Returns KV_T_OK, KV_T_E_URI (bad listen
 * address), KV_T_E_BUSY (address in use), KV_T_E_ACCESS or KV_T_E_IO, with
 * the cause in err.  opt is copied (strings too). */
int kv_vprinter_create(kv_vprinter **out, const kv_vprinter_options *opt,
                       char *err, size_t errlen);

/* Stop listening, file any job still open (a connection cut by shutdown
 * is recorded with what arrived), free.  NULL-safe. */
void kv_vprinter_destroy(kv_vprinter *vp);

/* The address it listens on as a printer URI, "tcp://127.0.0.1:40123"
 * (the real port when 0 was asked).  Borrowed, valid while vp lives. */
const char *kv_vprinter_uri(const kv_vprinter *vp);

/* Serve for at most timeout_ms: accept, read, record, answer, re-read the
 * control file.  Returns KV_T_OK (also when interrupted by a signal), or
 * a negative status on a fatal error (listening socket failed). */
int kv_vprinter_step(kv_vprinter *vp, int timeout_ms);

/* Current state; set it; cycle ok -> paper-out -> paper-near-end ->
 * cover-open -> offline -> error -> ok.  Changes are logged. */
kv_emu_state kv_vprinter_state(const kv_vprinter *vp);
void kv_vprinter_set_state(kv_vprinter *vp, kv_emu_state s);
void kv_vprinter_cycle_state(kv_vprinter *vp);

/* Jobs filed so far by this process. */
unsigned long kv_vprinter_jobs(const kv_vprinter *vp);

#endif
