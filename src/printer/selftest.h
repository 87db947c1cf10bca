/*
 * selftest.h - the printer test page and the check around it
 * (`kvitt selftest`).
 *
 * The page: a title, the profile's name, width and dpi, the status the
 * printer reported before printing, a code-page sample with æøå ÆØÅ €
 * (letters the profile's code page lacks print as '?', which is the
 * point of the sample), a QR code, a CODE128 barcode (when the profile has
 * barcodes), and a cut (when it has a cutter).  It is laid out for the
 * encoder's profile: every text line fits the profile's font-A columns
 * (long lines are broken between words), so nothing wraps on paper.
 */
#ifndef KV_PRINTER_SELFTEST_H
#define KV_PRINTER_SELFTEST_H

#include "drivers/status.h"
#include "escpos/encoder.h"

/* Append the test page to e (created with the profile to test).
 * status_line is printed on the page ("ready", "unknown (no answer)"),
 * NULL prints none.  Returns the encoder's status. */
kv_escpos_status kv_selftest_page_write(kv_escpos *e, const char *status_line);

/* Outcome of one self-test. */
typedef struct kv_selftest_result {
    int status;              /* KV_T_OK, KV_T_E_PRINTER (the printer reports
                                a problem), or the link's error */
    kv_print_report report;  /* bytes sent, status before and after */
    char problem[256];       /* "" when fine; else what to fix */
} kv_selftest_result;

/* Query the status, build the page for profile p (NULL = default) and
 * print it through t with kv_transport_print_job (refused when the
 * printer reports paper out, cover open, offline or an error), then
 * query the status again.  *out is always filled.  Returns out->status;
 * KV_T_E_NOMEM / KV_T_E_IO when the page could not be built. */
int kv_selftest_run(kv_transport *t, const kv_profile *p, int status_timeout_ms,
                    kv_selftest_result *out);

#endif
