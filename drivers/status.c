/* status.c - DLE EOT / GS r status queries, decoding and emulation.
 *
 * Bit meanings are from ../shared/docs/escpos.md section 1.11 (Epson's
 * real-time status transmission).  Bits are numbered from 0 (LSB). */
#include "drivers/status.h"
#include "drivers/usb.h"

#include <stdio.h>
#include <string.h>

size_t kv_status_query(int q, unsigned char buf[3])
{
    static const unsigned char qs[KV_SQ_COUNT][3] = {
        { 0x10, 0x04, 0x01 }, /* DLE EOT 1: printer status */
        { 0x10, 0x04, 0x02 }, /* DLE EOT 2: offline cause */
        { 0x10, 0x04, 0x03 }, /* DLE EOT 3: error cause */
        { 0x10, 0x04, 0x04 }, /* DLE EOT 4: roll paper sensor */
        { 0x1D, 0x72, 0x01 }, /* GS r 1: paper sensor status */
    };
    if (q < 0 || q >= KV_SQ_COUNT)
        return 0;
    memcpy(buf, qs[q], 3);
    return 3;
}

int kv_status_valid_eot(int b)
{
    /* Fixed bits: 0 = 0, 1 = 1, 4 = 1, 7 = 0 -> pattern 0xx1xx10. */
    return b >= 0 && b <= 0xff && (b & 0x93) == 0x12;
}

void kv_status_decode(kv_printer_status_info *out, const int raw[KV_SQ_COUNT])
{
    kv_printer_status_info s;
    unsigned f = 0;
    int eot[4], gsr = raw[KV_SQ_GSR1];

    memset(&s, 0, sizeof s);
    s.port = -1;
    for (int i = 0; i < KV_SQ_COUNT; i++)
        s.raw[i] = raw[i];
    for (int i = 0; i < 4; i++) {
        eot[i] = raw[i];
        if (eot[i] >= 0 && !kv_status_valid_eot(eot[i])) {
            f |= KV_PSF_GARBLED;
            eot[i] = -1;
        }
    }
    if (gsr >= 0 && (gsr > 0xff || (gsr & 0x10))) { /* GS r bit 4 is 0 */
        f |= KV_PSF_GARBLED;
        gsr = -1;
    }

    if (eot[0] >= 0) {
        f |= (eot[0] & 0x08) ? KV_PSF_OFFLINE : KV_PSF_ONLINE;
        if (eot[0] & 0x04) f |= KV_PSF_DRAWER_HIGH;
        if (eot[0] & 0x20) f |= KV_PSF_WAIT_RECOVERY;
        if (eot[0] & 0x40) f |= KV_PSF_FEED_BUTTON;
    }
    if (eot[1] >= 0) {
        if (eot[1] & 0x04) f |= KV_PSF_COVER_OPEN;
        if (eot[1] & 0x08) f |= KV_PSF_FEED_BUTTON;
        if (eot[1] & 0x20) f |= KV_PSF_PAPER_END;
        if (eot[1] & 0x40) f |= KV_PSF_ERROR;
    }
    if (eot[2] >= 0) {
        if (eot[2] & 0x08) f |= KV_PSF_CUTTER_ERROR;
        if (eot[2] & 0x20) f |= KV_PSF_UNRECOVERABLE;
        if (eot[2] & 0x40) f |= KV_PSF_AUTO_RECOVER;
    }
    if (eot[3] >= 0) {
        if (eot[3] & 0x0C) f |= KV_PSF_NEAR_END;
        if (eot[3] & 0x60) f |= KV_PSF_PAPER_END;
    }
    int any_eot = eot[0] >= 0 || eot[1] >= 0 || eot[2] >= 0 || eot[3] >= 0;
    if (gsr >= 0) {
        if (gsr & 0x03) f |= KV_PSF_NEAR_END;
        if (gsr & 0x0C) f |= KV_PSF_PAPER_END;
        if (!any_eot) f |= KV_PSF_VIA_GS_R;
    }
    if (f & KV_PSF_PAPER_END) /* an empty roll is not also "near end" */
        f &= ~(unsigned)KV_PSF_NEAR_END;

    if (!any_eot && gsr < 0)
        s.state = KV_PS_UNKNOWN;
    else if (f & KV_PSF_COVER_OPEN)
        s.state = KV_PS_COVER_OPEN;
    else if (f & KV_PSF_PAPER_END)
        s.state = KV_PS_PAPER_OUT;
    else if (f & (KV_PSF_ERROR | KV_PSF_CUTTER_ERROR | KV_PSF_UNRECOVERABLE | KV_PSF_AUTO_RECOVER))
        s.state = KV_PS_ERROR;
    else if (f & KV_PSF_OFFLINE)
        s.state = KV_PS_OFFLINE;
    else if (f & KV_PSF_NEAR_END)
        s.state = KV_PS_PAPER_NEAR_END;
    else
        s.state = KV_PS_READY;
    s.flags = f;
    *out = s;
}

const char *kv_printer_state_advice(kv_printer_state s)
{
    switch (s) {
    case KV_PS_UNKNOWN:
        return "status unknown: the printer did not answer a status request "
               "(normal for many clones); check the paper if nothing comes out";
    case KV_PS_READY: return "ready";
    case KV_PS_PAPER_NEAR_END:
        return "paper nearly out: have a new roll ready";
    case KV_PS_PAPER_OUT:
        return "paper out: load a new roll and close the cover";
    case KV_PS_COVER_OPEN:
        return "cover open: close the printer cover";
    case KV_PS_OFFLINE:
        return "printer offline: check the power and the cover, then press FEED once";
    case KV_PS_ERROR:
        return "printer error (cutter jam or overheating): open the cover, "
               "clear the paper, close it, or switch the printer off and on";
    }
    return "status unknown";
}

/* Drop whatever is pending (late replies to an earlier query). */
static int drain(kv_transport *t)
{
    unsigned char junk[256];
    for (int i = 0; i < 64; i++) {
        ssize_t n = kv_transport_read(t, junk, sizeof junk, 0);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return 0;
    }
    return 0;
}

/* Send query q and read its one-byte reply.  Returns KV_T_OK with *b set
 * (-1 = no answer in time) or a negative status. */
static int ask(kv_transport *t, int q, int timeout_ms, int *b)
{
    unsigned char qb[3], r;
    size_t w = 0;
    kv_status_query(q, qb);
    int st = kv_transport_write(t, qb, 3, &w, timeout_ms);
    if (st)
        return st;
    ssize_t n = kv_transport_read(t, &r, 1, timeout_ms);
    if (n < 0)
        return (int)n;
    *b = n == 1 ? r : -1;
    return KV_T_OK;
}

/* USB printers without ESC/POS replies: the printer-class port status. */
static void try_port_status(kv_transport *t, int timeout_ms, kv_printer_status_info *s)
{
    uint8_t ps;
    if (s->state != KV_PS_UNKNOWN || strcmp(kv_transport_scheme(t), "usb") ||
        kv_usb_port_status(t, &ps, timeout_ms) != KV_T_OK)
        return;
    s->port = ps;
    s->state = kv_usb_port_state(ps);
    s->flags |= KV_PSF_VIA_PORT;
    if (s->state == KV_PS_PAPER_OUT)
        s->flags |= KV_PSF_PAPER_END;
    else if (s->state == KV_PS_OFFLINE)
        s->flags |= KV_PSF_OFFLINE;
    else if (s->state == KV_PS_ERROR)
        s->flags |= KV_PSF_ERROR;
    else if (s->state == KV_PS_READY)
        s->flags |= KV_PSF_ONLINE;
}

int kv_printer_status(kv_transport *t, int timeout_ms, kv_printer_status_info *out)
{
    int raw[KV_SQ_COUNT];
    for (int i = 0; i < KV_SQ_COUNT; i++)
        raw[i] = -1;
    if (timeout_ms <= 0)
        timeout_ms = 1000;
    if (!kv_transport_can_read(t)) {
        kv_status_decode(out, raw);
        out->flags |= KV_PSF_NO_READBACK;
        try_port_status(t, timeout_ms, out);
        return KV_T_OK;
    }
    int st = drain(t);
    if (st)
        return st;
    st = ask(t, KV_SQ_EOT1, timeout_ms, &raw[KV_SQ_EOT1]);
    if (st)
        return st;
    if (raw[KV_SQ_EOT1] >= 0) {
        if ((st = ask(t, KV_SQ_EOT2, timeout_ms, &raw[KV_SQ_EOT2])))
            return st;
        if (raw[KV_SQ_EOT2] >= 0 && (raw[KV_SQ_EOT2] & 0x40) &&
            (st = ask(t, KV_SQ_EOT3, timeout_ms, &raw[KV_SQ_EOT3])))
            return st;
        if ((st = ask(t, KV_SQ_EOT4, timeout_ms, &raw[KV_SQ_EOT4])))
            return st;
    } else {
        if ((st = ask(t, KV_SQ_GSR1, timeout_ms, &raw[KV_SQ_GSR1])))
            return st;
    }
    kv_status_decode(out, raw);
    try_port_status(t, timeout_ms, out);
    return KV_T_OK;
}

static int is_problem(kv_printer_state s)
{
    return s == KV_PS_PAPER_OUT || s == KV_PS_COVER_OPEN || s == KV_PS_OFFLINE ||
           s == KV_PS_ERROR;
}

int kv_transport_print_job(kv_transport *t, const void *bytes, size_t len,
                           const kv_print_options *opt, kv_print_report *r)
{
    static const kv_print_options defaults = KV_PRINT_OPTIONS_INIT;
    int unk[KV_SQ_COUNT] = { -1, -1, -1, -1, -1 };
    if (!opt)
        opt = &defaults;
    int sto = opt->status_timeout_ms > 0 ? opt->status_timeout_ms : 1000;

    memset(r, 0, sizeof *r);
    r->len = len;
    r->write_status = KV_T_E_PRINTER;
    r->before_status = r->after_status = 1;
    kv_status_decode(&r->before, unk);
    kv_status_decode(&r->after, unk);

    if (opt->check_before) {
        r->before_status = kv_printer_status(t, sto, &r->before);
        if (r->before_status < 0) {
            r->write_status = r->before_status;
            snprintf(r->message, sizeof r->message,
                     "nothing printed (0 of %zu bytes): the printer link failed "
                     "before the job: %s", len, kv_transport_strerror(r->before_status));
            return r->before_status;
        }
        if (is_problem(r->before.state) ||
            (opt->refuse_unknown && r->before.state == KV_PS_UNKNOWN)) {
            snprintf(r->message, sizeof r->message,
                     "nothing printed (0 of %zu bytes): %s", len,
                     kv_printer_state_advice(r->before.state));
            return KV_T_E_PRINTER;
        }
    }

    r->attempted = 1;
    r->write_status = kv_transport_write(t, bytes, len, &r->written, opt->write_timeout_ms);
    if (r->write_status == KV_T_OK) {
        int ej = kv_transport_end_job(t);
        if (ej)
            r->write_status = ej;
    }
    if (r->write_status != KV_T_OK) {
        char detail[160];
        snprintf(detail, sizeof detail, "%s", kv_transport_errmsg(t));
        /* Close the job even so: what went out is filed on its own (the
         * virtual printer) instead of running into the next job. */
        if (r->written > 0)
            kv_transport_end_job(t);
        /* A status query can still tell why (paper out while printing). */
        if (opt->check_after && r->write_status != KV_T_E_DISCONNECTED)
            r->after_status = kv_printer_status(t, sto, &r->after);
        snprintf(r->message, sizeof r->message,
                 "job NOT fully printed: %zu of %zu bytes sent, %zu not sent: %s%s%s%s%s",
                 r->written, len, len - r->written, kv_transport_strerror(r->write_status),
                 detail[0] ? " (" : "", detail, detail[0] ? ")" : "",
                 r->after_status == KV_T_OK && r->after.state != KV_PS_UNKNOWN ? "; " : "");
        if (r->after_status == KV_T_OK && r->after.state != KV_PS_UNKNOWN) {
            size_t l = strlen(r->message);
            snprintf(r->message + l, sizeof r->message - l, "%s",
                     kv_printer_state_advice(r->after.state));
        }
        return r->write_status;
    }

    if (opt->check_after) {
        r->after_status = kv_printer_status(t, sto, &r->after);
        if (r->after_status < 0) {
            snprintf(r->message, sizeof r->message,
                     "all %zu bytes sent, but the printer link failed right after (%s): "
                     "check the paper to see whether the job printed",
                     len, kv_transport_strerror(r->after_status));
            return KV_T_E_PRINTER;
        }
        if (is_problem(r->after.state)) {
            snprintf(r->message, sizeof r->message,
                     "all %zu bytes sent, but the printer now reports %s: the end of "
                     "the job may be missing; %s", len,
                     kv_printer_state_name(r->after.state),
                     kv_printer_state_advice(r->after.state));
            return KV_T_E_PRINTER;
        }
    }
    r->complete = 1;
    snprintf(r->message, sizeof r->message, "printed: all %zu bytes sent; printer %s",
             len, r->after_status != KV_T_OK ? "status not checked"
                  : r->after.state == KV_PS_UNKNOWN ? "status unknown"
                  : kv_printer_state_name(r->after.state));
    return KV_T_OK;
}

/* ---- emulation --------------------------------------------------------- */

static const char *const emu_names[KV_EMU_COUNT] = {
    "ok", "paper-out", "paper-near-end", "cover-open", "offline", "error"
};

const char *kv_emu_state_name(kv_emu_state s)
{
    return (unsigned)s < KV_EMU_COUNT ? emu_names[s] : "ok";
}

int kv_emu_state_parse(const char *name, kv_emu_state *out)
{
    for (int i = 0; i < KV_EMU_COUNT; i++)
        if (name && !strcmp(name, emu_names[i])) {
            *out = (kv_emu_state)i;
            return 0;
        }
    return -1;
}

/*
 * Reply bytes per state, derived from the bit tables in
 * ../shared/docs/escpos.md 1.11.  Every DLE EOT reply has the fixed bits
 * 1 and 4 set (0x12); Epson printers go offline at paper end and with the
 * cover open, so DLE EOT 1 then has bit 3 (0x08) set.
 *
 *   state           EOT1  EOT2  EOT3  EOT4  GS r 1
 *   ok              0x12  0x12  0x12  0x12  0x00   idle and online
 *   paper-out       0x1A  0x32  0x12  0x72  0x0C   EOT1 bit3 offline; EOT2 bit5
 *                                                  stopped by paper end; EOT4
 *                                                  bits 5+6 paper end; GS r bits 2-3
 *   paper-near-end  0x12  0x12  0x12  0x1E  0x03   EOT4 bits 2+3; GS r bits 0-1
 *   cover-open      0x1A  0x16  0x12  0x12  0x00   EOT1 bit3; EOT2 bit2 cover open
 *   offline         0x1A  0x12  0x12  0x12  0x00   EOT1 bit3, no cause reported
 *   error           0x1A  0x52  0x1A  0x12  0x00   EOT2 bit6 error; EOT3 bit3
 *                                                  auto-cutter error
 *
 * Simplification: a real printer processes GS r in order with the data, so
 * while offline it answers only after coming back online; the emulator
 * answers at once.
 */
static const unsigned char emu_table[KV_EMU_COUNT][KV_SQ_COUNT] = {
    [KV_EMU_OK]         = { 0x12, 0x12, 0x12, 0x12, 0x00 },
    [KV_EMU_PAPER_OUT]  = { 0x1A, 0x32, 0x12, 0x72, 0x0C },
    [KV_EMU_NEAR_END]   = { 0x12, 0x12, 0x12, 0x1E, 0x03 },
    [KV_EMU_COVER_OPEN] = { 0x1A, 0x16, 0x12, 0x12, 0x00 },
    [KV_EMU_OFFLINE]    = { 0x1A, 0x12, 0x12, 0x12, 0x00 },
    [KV_EMU_ERROR]      = { 0x1A, 0x52, 0x1A, 0x12, 0x00 },
};

int kv_emu_reply(kv_emu_state s, int q)
{
    if ((unsigned)s >= KV_EMU_COUNT || q < 0 || q >= KV_SQ_COUNT)
        return -1;
    return emu_table[s][q];
}

size_t kv_emu_scan(kv_emu_scanner *sc, kv_emu_state s, const void *in, size_t len,
                   unsigned char *reply, size_t cap)
{
    const unsigned char *p = in;
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = p[i];
        if (sc->nheld == 2) {
            int q = -1;
            if (sc->held[0] == 0x10 && b >= 1 && b <= 4)
                q = KV_SQ_EOT1 + (b - 1);
            else if (sc->held[0] == 0x1D && (b == 1 || b == 49))
                q = KV_SQ_GSR1;
            sc->nheld = 0;
            if (q >= 0 && out < cap)
                reply[out++] = (unsigned char)kv_emu_reply(s, q);
            continue;
        }
        if (sc->nheld == 1) {
            if ((sc->held[0] == 0x10 && b == 0x04) || (sc->held[0] == 0x1D && b == 0x72)) {
                sc->held[1] = b;
                sc->nheld = 2;
                continue;
            }
            sc->nheld = 0;
        }
        if (b == 0x10 || b == 0x1D) {
            sc->held[0] = b;
            sc->nheld = 1;
        }
    }
    return out;
}
