/*
 * status.h - ask an ESC/POS printer whether it can print, and say why not.
 *
 * Queries (../shared/docs/escpos.md section 1.11):
 *   DLE EOT n  = 10 04 n   real-time, n = 1 printer, 2 offline cause,
 *                          3 error cause, 4 roll paper sensor; the reply is
 *                          one byte matching 0xx1xx10 (bits 0 and 7 clear,
 *                          bits 1 and 4 set).
 *   GS r 1     = 1D 72 01  paper sensor, processed in order with the data;
 *                          bit 4 is 0, so it is told apart from DLE EOT.
 * A printer that answers nothing in time (many clones) is KV_PS_UNKNOWN,
 * never "ready" and never "failed".
 *
 * The byte-level parts (building queries, decoding replies, emulating a
 * printer's replies) are pure functions, testable without a printer.
 */
#ifndef KV_DRIVERS_STATUS_H
#define KV_DRIVERS_STATUS_H

#include <stddef.h>
#include "drivers/transport.h"

/* Flags decoded from the replies (kv_printer_status_info.flags). */
enum {
    KV_PSF_ONLINE        = 1u << 0,  /* DLE EOT 1 bit 3 clear */
    KV_PSF_OFFLINE       = 1u << 1,  /* DLE EOT 1 bit 3 */
    KV_PSF_COVER_OPEN    = 1u << 2,  /* DLE EOT 2 bit 2 */
    KV_PSF_PAPER_END     = 1u << 3,  /* DLE EOT 2 bit 5, DLE EOT 4 bits 5-6, GS r bits 2-3 */
    KV_PSF_NEAR_END      = 1u << 4,  /* DLE EOT 4 bits 2-3, GS r bits 0-1 */
    KV_PSF_ERROR         = 1u << 5,  /* DLE EOT 2 bit 6 */
    KV_PSF_CUTTER_ERROR  = 1u << 6,  /* DLE EOT 3 bit 3 */
    KV_PSF_UNRECOVERABLE = 1u << 7,  /* DLE EOT 3 bit 5 */
    KV_PSF_AUTO_RECOVER  = 1u << 8,  /* DLE EOT 3 bit 6 (e.g. head too hot) */
    KV_PSF_FEED_BUTTON   = 1u << 9,  /* DLE EOT 1 bit 6 / DLE EOT 2 bit 3 */
    KV_PSF_DRAWER_HIGH   = 1u << 10, /* DLE EOT 1 bit 2 (drawer pin 3) */
    KV_PSF_WAIT_RECOVERY = 1u << 11, /* DLE EOT 1 bit 5 */
    KV_PSF_VIA_GS_R      = 1u << 12, /* only GS r 1 answered (cover/offline unknown) */
    KV_PSF_NO_READBACK   = 1u << 13, /* the link cannot read replies at all */
    KV_PSF_GARBLED       = 1u << 14, /* a reply failed the fixed-bit check */
    KV_PSF_VIA_PORT      = 1u << 15  /* USB only: no ESC/POS reply, the state
                                        comes from GET_PORT_STATUS (port) */
};

/* Index of each query in kv_printer_status_info.raw. */
enum { KV_SQ_EOT1 = 0, KV_SQ_EOT2, KV_SQ_EOT3, KV_SQ_EOT4, KV_SQ_GSR1, KV_SQ_COUNT };

/* The decoded status.  A plain value struct. */
typedef struct kv_printer_status_info {
    kv_printer_state state;  /* the one thing to tell the person at the till */
    unsigned flags;          /* KV_PSF_* */
    int raw[KV_SQ_COUNT];    /* reply byte per query, -1 = not asked / no answer */
    int port;                /* USB GET_PORT_STATUS byte, -1 = not asked */
} kv_printer_status_info;

/* Write the 3-byte query for index q (KV_SQ_*) into buf[3]; returns 3, or 0
 * for a bad index. */
size_t kv_status_query(int q, unsigned char buf[3]);

/* 1 when b has the fixed bits of a DLE EOT reply (0xx1xx10). */
int kv_status_valid_eot(int b);

/* Decode replies into *out.  raw[i] is the byte answered to query i
 * (KV_SQ_*) or -1.  Pure; always succeeds (no answers -> KV_PS_UNKNOWN).
 * Priority when several problems show: cover open, paper out, error,
 * offline, near end, ready. */
void kv_status_decode(kv_printer_status_info *out, const int raw[KV_SQ_COUNT]);

/* One-line explanation with the cure for the person at the till, e.g.
 * "paper out: load a new roll and close the cover". Static, never NULL. */
const char *kv_printer_state_advice(kv_printer_state s);

/* Ask the printer behind t: DLE EOT 1; when answered also DLE EOT 2, 4
 * (and 3 when 2 reports an error); when DLE EOT 1 is not answered within
 * timeout_ms, GS r 1 as a fallback.  Stale input is drained first.  Worst
 * case about 2 x timeout_ms for a silent printer.  On a usb:// handle whose
 * printer gives no ESC/POS answer (one-way interface, silent clone) the
 * printer-class GET_PORT_STATUS byte decides instead (KV_PSF_VIA_PORT:
 * paper empty, not selected, error; see drivers/usb.h).
 * Returns KV_T_OK with *out filled (state KV_PS_UNKNOWN when nothing
 * answered; flag KV_PSF_NO_READBACK when t cannot read), or a negative
 * kv_transport_status when the link itself failed (e.g. DISCONNECTED);
 * *out is set only on KV_T_OK. */
int kv_printer_status(kv_transport *t, int timeout_ms, kv_printer_status_info *out);

/* ---- printing a job with status before and after ---------------------- */

typedef struct kv_print_options {
    int version;              /* KV_PRINT_OPTIONS_VERSION */
    int status_timeout_ms;    /* per status query; <= 0 means 1000 */
    int write_timeout_ms;     /* whole write; < 0 means the handle default */
    int check_before;         /* 1: query status first, refuse on a problem */
    int check_after;          /* 1: query status after the job */
    int refuse_unknown;       /* 1: also refuse when status is unknown */
} kv_print_options;

#define KV_PRINT_OPTIONS_VERSION 1
#define KV_PRINT_OPTIONS_INIT { KV_PRINT_OPTIONS_VERSION, 1000, -1, 1, 1, 0 }

/* What happened to one job; fit for a journal. */
typedef struct kv_print_report {
    size_t len;                       /* bytes in the job */
    size_t written;                   /* bytes that went out on the link */
    int write_status;                 /* KV_T_*; KV_T_E_PRINTER if not tried */
    int attempted;                    /* 1 when the write was attempted */
    int before_status, after_status;  /* KV_T_* of each status query; 1 = not asked */
    kv_printer_status_info before, after;
    int complete;                     /* 1: all bytes written and the printer
                                         reported no problem afterwards (or
                                         could not tell: see after.state) */
    char message[256];                /* human summary: what was printed and
                                         what was not, and the cure */
} kv_print_report;

/* Print one job: status before (refuse with KV_T_E_PRINTER, writing
 * nothing, when the printer reports paper out / cover open / offline /
 * error, or unknown with refuse_unknown), write all bytes, end the job,
 * status after.  opt may be NULL (KV_PRINT_OPTIONS_INIT).
 * *report is ALWAYS filled, on failure too: that is its purpose.
 * Returns KV_T_OK when every byte was written and the printer did not
 * report a problem afterwards; KV_T_E_PRINTER when the printer reported a
 * problem before (nothing written) or after (job may be cut short); else
 * the write's status (report->written says how much went out; the job is
 * still ended with kv_transport_end_job so a partial job stays separate). */
int kv_transport_print_job(kv_transport *t, const void *bytes, size_t len,
                           const kv_print_options *opt, kv_print_report *report);

/* ---- emulating a printer's replies (vprinter, virtual transport, tests) -- */

/* Emulated states, also the names accepted by `kvitt vprinter --state` and
 * virtual:DIR?state=. */
typedef enum {
    KV_EMU_OK = 0, KV_EMU_PAPER_OUT, KV_EMU_NEAR_END, KV_EMU_COVER_OPEN,
    KV_EMU_OFFLINE, KV_EMU_ERROR, KV_EMU_COUNT
} kv_emu_state;

/* "ok", "paper-out", "paper-near-end", "cover-open", "offline", "error". */
const char *kv_emu_state_name(kv_emu_state s);
/* Parse a name; returns 0 and sets *out, or -1. */
int kv_emu_state_parse(const char *name, kv_emu_state *out);

/* The byte an Epson printer in state s answers to query q (KV_SQ_*), or
 * -1 for a bad index. */
int kv_emu_reply(kv_emu_state s, int q);

/* Incremental scanner that finds DLE EOT n and GS r n in a byte stream
 * (also split across calls).  Zero-initialise it. */
typedef struct kv_emu_scanner { unsigned char held[2]; size_t nheld; } kv_emu_scanner;

/* Scan len input bytes; append the replies for state s to reply (at most
 * cap bytes; excess replies are dropped, as a full printer buffer would).
 * Returns the number of reply bytes written.  DLE EOT n with n outside
 * 1..4 and GS r n other than 1/49 get no reply. */
size_t kv_emu_scan(kv_emu_scanner *sc, kv_emu_state s, const void *in, size_t len,
                   unsigned char *reply, size_t cap);

#endif
