/* zprint.c - the day's report on the till's printer (report.h). */
#include <stdlib.h>
#include <string.h>

#include "drivers/status.h"
#include "drivers/transport.h"
#include "drivers/virtual.h"
#include "escpos/encoder.h"
#include "escpos/layout.h"
#include "escpos/profile.h"
#include "src/config/config.h"
#include "src/doc/zreport.h"
#include "src/report/report_int.h"

static kv_zreport_fig zf(const kv_report_figure *f)
{
    return (kv_zreport_fig){ f->count, f->amount };
}

kv_report_status kv_report_render(unsigned char **out, size_t *len, const kv_report_group *g,
                                  const kv_store *store, const char *date, int64_t z_number,
                                  int copy, const char *time_text)
{
    if (!out || !len || !g || !store || !date)
        return KV_REPORT_E_ARG;
    kv_lang lang = KV_LANG_NB;
    if (kv_lang_from_name(&lang, store->language))
        lang = KV_LANG_EN;
    kv_zreport_vat vat[KV_REPORT_MAX_VAT];
    for (size_t k = 0; k < g->n_vat; k++)
        vat[k] = (kv_zreport_vat){ g->vat[k].rate_bp, g->vat[k].gross, g->vat[k].vat };
    const char **refs = g->n_open ? calloc(g->n_open * 2, sizeof *refs) : NULL;
    if (g->n_open && !refs)
        return KV_REPORT_E_NOMEM;
    for (size_t k = 0; k < g->n_open; k++) {
        refs[k] = g->open[k].reference;
        refs[g->n_open + k] = g->open[k].state;
    }
    kv_zreport_spec s = {
        .store = { store->name[0] ? store->name : store->id, store->address, store->org_number },
        .lang = lang,
        .currency = g->currency[0] ? g->currency : store->currency,
        .date = date,
        .till_id = g->till_id[0] ? g->till_id : "-",
        .z_number = z_number,
        .copy = copy,
        .time_text = time_text,
        .sales = zf(&g->sales),
        .captures = zf(&g->captures),
        .refunds = zf(&g->refunds),
        .cancelled = zf(&g->cancelled),
        .not_paid = zf(&g->not_paid),
        .net = g->net,
        .vat = vat,
        .n_vat = g->n_vat,
        .first_ref = g->first_ref,
        .last_ref = g->last_ref,
        .open_refs = refs,
        .open_states = refs ? refs + g->n_open : NULL,
        .n_open = g->n_open,
    };
    kv_escpos_options eo = KV_ESCPOS_OPTIONS_INIT;
    eo.profile = kv_profile_find(store->profile);
    kv_escpos *e = NULL;
    kv_report_status st = KV_REPORT_E_NOMEM;
    if (kv_escpos_create(&e, &eo) == KV_ESCPOS_OK) {
        st = kv_zreport_write(e, &s) == KV_ESCPOS_OK ? KV_REPORT_OK : KV_REPORT_E_ARG;
        if (st == KV_REPORT_OK) {
            size_t n;
            const uint8_t *d = kv_escpos_data(e, &n);
            *out = malloc(n ? n : 1);
            if (*out) {
                memcpy(*out, d, n);
                *len = n;
            } else {
                st = KV_REPORT_E_NOMEM;
            }
        }
        kv_escpos_destroy(e);
    }
    free(refs);
    return st;
}

static void msgf(char *msg, size_t n, const char *a, const char *b)
{
    if (msg && n)
        snprintf(msg, n, "%s%s", a, b ? b : "");
}

kv_report_status kv_report_print(const kv_report_group *g, const kv_store *store, const char *uri,
                                 const char *date, int64_t z_number, int copy, const char *time_text,
                                 char *msg, size_t msglen, char *job, size_t joblen)
{
    if (job && joblen)
        job[0] = 0;
    if (!store)
        return KV_REPORT_E_ARG;
    if (!uri || !*uri)
        uri = store->printer;
    if (!*uri) {
        msgf(msg, msglen, "no printer configured; fix: set printer = URI for the store or give --printer", NULL);
        return KV_REPORT_E_PRINTER;
    }
    unsigned char *bytes = NULL;
    size_t len = 0;
    kv_report_status st = kv_report_render(&bytes, &len, g, store, date, z_number, copy, time_text);
    if (st) {
        msgf(msg, msglen, "the report cannot be laid out: ", kv_report_strerror(st));
        return st;
    }
    st = kv_report_send(uri, bytes, len, msg, msglen, job, joblen);
    free(bytes);
    return st;
}

kv_report_status kv_report_send(const char *uri, const unsigned char *bytes, size_t len, char *msg,
                                size_t msglen, char *job, size_t joblen)
{
    if (job && joblen)
        job[0] = 0;
    char oerr[256] = "";
    kv_transport_options to = KV_TRANSPORT_OPTIONS_INIT;
    to.open_timeout_ms = 3000;
    to.io_timeout_ms = 10000;
    to.errbuf = oerr;
    to.errlen = sizeof oerr;
    kv_transport *t = NULL;
    int rc = kv_transport_open(&t, uri, &to);
    if (rc != KV_T_OK) {
        if (msg && msglen)
            snprintf(msg, msglen, "printer %s: %s", uri, oerr[0] ? oerr : kv_transport_strerror(rc));
        return KV_REPORT_E_PRINTER;
    }
    kv_print_options po = KV_PRINT_OPTIONS_INIT;
    po.status_timeout_ms = 500;
    po.check_after = 0;
    kv_print_report rep;
    memset(&rep, 0, sizeof rep);
    rc = kv_transport_print_job(t, bytes, len, &po, &rep);
    const char *vp = kv_transport_virtual_last_job(t);
    if (vp && job && joblen)
        snprintf(job, joblen, "%s", vp);
    kv_transport_close(t);
    if (rc != KV_T_OK) {
        msgf(msg, msglen, "printer: ", rep.message[0] ? rep.message : kv_transport_strerror(rc));
        return KV_REPORT_E_PRINTER;
    }
    return KV_REPORT_OK;
}
