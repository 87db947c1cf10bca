/* selftest.c - test page + status check (see selftest.h). */
#include "src/printer/selftest.h"

#include <stdio.h>
#include <string.h>

/* Print text as lines of at most cols characters, broken between words (a
 * word longer than a line is cut).  Counts UTF-8 characters, not bytes. */
static void put_wrapped(kv_escpos *e, const char *text, unsigned cols)
{
    char buf[256];
    while (*text) {
        size_t i = 0, chars = 0, brk = 0;
        while (text[i] && chars < cols) {
            if (text[i] == ' ')
                brk = i;
            i++;
            while (((unsigned char)text[i] & 0xC0) == 0x80)
                i++;
            chars++;
        }
        size_t take = i, skip = i;
        if (text[i] && text[i] != ' ' && brk > 0) /* the line ends inside a word */
            take = skip = brk;
        if (take >= sizeof buf)
            take = sizeof buf - 1;
        memcpy(buf, text, take);
        buf[take] = 0;
        kv_escpos_line(e, buf);
        text += skip;
        while (*text == ' ')
            text++;
    }
}

kv_escpos_status kv_selftest_page_write(kv_escpos *e, const char *status_line)
{
    const kv_profile *p = kv_escpos_profile(e);
    const unsigned cols = p->columns_a ? p->columns_a : 32;
    char line[160];
    kv_style big = KV_STYLE_INIT;
    kv_style normal = KV_STYLE_INIT;
    big.bold = true;
    big.width = big.height = strlen("kvitt selftest") * 2 <= cols ? 2 : 1;

    kv_escpos_init(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_escpos_style(e, &big);
    kv_escpos_line(e, "kvitt selftest");
    kv_escpos_style(e, &normal);
    kv_escpos_align(e, KV_ALIGN_LEFT);
    /* Laid out for this profile: every line fits its columns. */
    snprintf(line, sizeof line, "Profile: %s", p->name);
    put_wrapped(e, line, cols);
    put_wrapped(e, p->description, cols);
    snprintf(line, sizeof line, "%u mm paper, %u dots, %u dpi, %u columns",
             (unsigned)p->paper_mm, (unsigned)p->dots, (unsigned)p->dpi, cols);
    put_wrapped(e, line, cols);
    if (status_line) {
        snprintf(line, sizeof line, "Status: %s", status_line);
        put_wrapped(e, line, cols);
    }
    snprintf(line, sizeof line, "Code page %s:", kv_codepage_name(kv_escpos_codepage(e)));
    put_wrapped(e, line, cols);
    kv_escpos_line(e, "  \xc3\xa6\xc3\xb8\xc3\xa5 \xc3\x86\xc3\x98\xc3\x85 \xe2\x82\xac"); /* æøå ÆØÅ € */
    kv_escpos_line(e, "  Bl\xc3\xa5" "b\xc3\xa6rsyltet\xc3\xb8y 149,00 kr");
    kv_escpos_newline(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    snprintf(line, sizeof line, "kvitt selftest %s", p->name);
    kv_qr_options qo = KV_QR_OPTIONS_INIT;
    kv_escpos_qr(e, line, strlen(line), &qo);
    if (p->barcodes) {
        kv_barcode_options bo = KV_BARCODE_OPTIONS_INIT;
        kv_escpos_barcode(e, KV_BARCODE_CODE128, "KVITT-0123", &bo);
    } else {
        put_wrapped(e, "(no barcodes on this profile)", cols);
    }
    kv_escpos_align(e, KV_ALIGN_LEFT);
    kv_escpos_line(e, "End of test page.");
    if (p->cutter)
        kv_escpos_cut(e, KV_CUT_PARTIAL);
    else
        kv_escpos_feed_lines(e, p->cut_feed_lines ? p->cut_feed_lines : 4);
    return kv_escpos_status_get(e);
}

static int is_problem(kv_printer_state s)
{
    return s == KV_PS_PAPER_OUT || s == KV_PS_COVER_OPEN || s == KV_PS_OFFLINE ||
           s == KV_PS_ERROR;
}

int kv_selftest_run(kv_transport *t, const kv_profile *p, int status_timeout_ms,
                    kv_selftest_result *out)
{
    memset(out, 0, sizeof *out);
    kv_printer_status_info before;
    char status_line[96];
    int st = kv_printer_status(t, status_timeout_ms, &before);
    if (st) {
        out->status = st;
        snprintf(out->problem, sizeof out->problem, "printer link failed: %s (%s)",
                 kv_transport_strerror(st), kv_transport_errmsg(t));
        out->report.before_status = st;
        return st;
    }
    if (before.flags & KV_PSF_VIA_PORT)
        snprintf(status_line, sizeof status_line, "%s (USB port status)",
                 kv_printer_state_name(before.state));
    else if (before.flags & KV_PSF_NO_READBACK)
        snprintf(status_line, sizeof status_line, "not readable over %s://",
                 kv_transport_scheme(t));
    else
        snprintf(status_line, sizeof status_line, "%s", kv_printer_state_name(before.state));

    kv_escpos_options eo = KV_ESCPOS_OPTIONS_INIT;
    eo.profile = p;
    kv_escpos *e = NULL;
    if (kv_escpos_create(&e, &eo) != KV_ESCPOS_OK) {
        out->status = KV_T_E_NOMEM;
        snprintf(out->problem, sizeof out->problem, "out of memory");
        return out->status;
    }
    if (kv_selftest_page_write(e, status_line) != KV_ESCPOS_OK) {
        out->status = KV_T_E_IO;
        snprintf(out->problem, sizeof out->problem, "cannot build the test page: %s",
                 kv_escpos_errmsg(e));
        kv_escpos_destroy(e);
        return out->status;
    }
    size_t len = 0;
    const uint8_t *bytes = kv_escpos_data(e, &len);
    kv_print_options po = KV_PRINT_OPTIONS_INIT;
    po.status_timeout_ms = status_timeout_ms;
    po.check_before = 0; /* just read above */
    if (is_problem(before.state)) {
        /* Refuse as kv_transport_print_job would: nothing is sent. */
        memset(&out->report, 0, sizeof out->report);
        out->report.len = len;
        out->report.write_status = KV_T_E_PRINTER;
        out->report.after_status = 1;
        out->report.after = before;
        out->report.after.state = KV_PS_UNKNOWN;
        snprintf(out->report.message, sizeof out->report.message,
                 "nothing printed (0 of %zu bytes): %s", len,
                 kv_printer_state_advice(before.state));
        st = KV_T_E_PRINTER;
    } else {
        st = kv_transport_print_job(t, bytes, len, &po, &out->report);
    }
    out->report.before_status = KV_T_OK;
    out->report.before = before;
    kv_escpos_destroy(e);
    out->status = st;
    if (st == KV_T_OK && out->report.after_status == KV_T_OK &&
        is_problem(out->report.after.state))
        out->status = st = KV_T_E_PRINTER;
    if (st != KV_T_OK) {
        kv_printer_state ps = out->report.attempted ? out->report.after.state
                                                    : out->report.before.state;
        if (st == KV_T_E_PRINTER && is_problem(ps))
            snprintf(out->problem, sizeof out->problem, "%s: %s", kv_printer_state_name(ps),
                     kv_printer_state_advice(ps));
        else
            snprintf(out->problem, sizeof out->problem, "%s", out->report.message);
    }
    return st;
}
