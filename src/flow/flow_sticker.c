/* flow_sticker.c - a till's merchant-callback QR sticker: created at
 * Vipps, journaled, printed as a placard (see flow_sticker.h). */
#include "src/flow/flow_int.h"
#include "src/flow/flow_sticker.h"

#include "drivers/status.h"
#include "drivers/transport.h"
#include "drivers/virtual.h"
#include "escpos/profile.h"
#include "src/doc/sticker.h"
#include "src/vipps/qr_callback.h"

int kv_flow_sticker_id(char *out, size_t n, const char *till)
{
    size_t l = till ? strlen(till) : 0;
    if (l < 1 || l > 64)
        return -1;
    for (const char *c = till; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
            return -1;
    return snprintf(out, n, "kvitt-%s", till) < (int)n ? 0 : -1;
}

/* The till's store and printer. */
static const kv_store *till_store(kv_flow *f, const char *till, const char *printer, char *uri,
                                  size_t urilen, kv_sticker_result *out)
{
    char sec[96];
    snprintf(sec, sizeof sec, "till %s", till);
    const char *sid = kv_config_get(f->cfg, sec, "store");
    if (!sid || !*sid)
        sid = kv_config_main_get(f->cfg)->default_store;
    const kv_store *s = kv_config_store(f->cfg, sid);
    if (!s) {
        setmsg(out->detail, sizeof out->detail, "till %s: no store '%s'; fix: set [till %s] store "
               "or [kvitt] default_store", till, sid, till);
        return NULL;
    }
    const char *tp = kv_config_get(f->cfg, sec, "printer");
    scpy(uri, urilen, printer && *printer ? printer : tp && *tp ? tp : s->printer);
    return s;
}

static kv_flow_status api_fail(kv_sticker_result *out, kv_vipps_client *c, kv_vipps_status vs,
                               const char *what)
{
    const kv_vipps_error *e = kv_vipps_last_error(c);
    setmsg(out->detail, sizeof out->detail, "%s: %s", what, e && e->log[0] ? e->log : kv_vipps_strerror(vs));
    if (vs == KV_VIPPS_E_NOT_FOUND)
        return KV_FLOW_E_NOT_FOUND;
    if (vs == KV_VIPPS_E_INVALID)
        return KV_FLOW_E_INPUT;
    if (vs == KV_VIPPS_E_AUTH)
        return KV_FLOW_E_CONFIG;
    return KV_FLOW_E_SERVICE;
}

static int send_bytes(const char *uri, const uint8_t *d, size_t len, kv_sticker_result *out)
{
    if (!uri || !*uri) {
        setmsg(out->detail, sizeof out->detail, "no printer; fix: set printer = URI for the store "
               "or the till, or give --printer");
        return -1;
    }
    char oerr[256] = "";
    kv_transport_options to = KV_TRANSPORT_OPTIONS_INIT;
    to.open_timeout_ms = 3000;
    to.io_timeout_ms = 10000;
    to.errbuf = oerr;
    to.errlen = sizeof oerr;
    kv_transport *t = NULL;
    int rc = kv_transport_open(&t, uri, &to);
    if (rc != KV_T_OK) {
        setmsg(out->detail, sizeof out->detail, "printer %s: %s", uri,
               oerr[0] ? oerr : kv_transport_strerror(rc));
        return -1;
    }
    kv_print_options po = KV_PRINT_OPTIONS_INIT;
    kv_print_report rep;
    memset(&rep, 0, sizeof rep);
    rc = kv_transport_print_job(t, d, len, &po, &rep);
    const char *vp = kv_transport_virtual_last_job(t);
    if (vp)
        scpy(out->print_path, sizeof out->print_path, vp);
    kv_transport_close(t);
    if (rc != KV_T_OK) {
        setmsg(out->detail, sizeof out->detail, "printer %s: %s", uri,
               rep.message[0] ? rep.message : kv_transport_strerror(rc));
        return -1;
    }
    return 0;
}

/* Read the QR back from Vipps, build the placard and print it. */
static kv_flow_status print_placard(kv_flow *f, kv_vipps_client *c, const kv_store *s,
                                    const char *uri, kv_sticker_qr qr, kv_sticker_result *out)
{
    kv_escpos *e = kv__flow_new_encoder(s);
    if (!e)
        return KV_FLOW_E_NOMEM;
    const kv_profile *prof = kv_escpos_profile(e);
    unsigned dots = prof ? prof->dots : 384;
    kv_vipps_sticker vs_row;
    kv_vipps_status vs = kv_vipps_sticker_get(&vs_row, c, out->row.id, (int)(dots > 2000 ? 2000 : dots));
    if (vs != KV_VIPPS_OK) {
        kv_escpos_destroy(e);
        return api_fail(out, c, vs, "read the sticker QR");
    }
    scpy(out->row.content, sizeof out->row.content, vs_row.content);
    scpy(out->row.location, sizeof out->row.location, vs_row.location);
    kv_sticker_spec sp = KV_STICKER_SPEC_INIT;
    sp.content = vs_row.content;
    sp.lang = kv__flow_store_lang(s);
    sp.store_name = s->name;
    sp.location = vs_row.location;
    uint8_t *bits = NULL;
    if (qr == KV_STICKER_QR_IMAGE) {
        fetchbuf img;
        if (kv__flow_fetch_image(f, vs_row.image_url, &img, out->detail, sizeof out->detail) < 0) {
            kv_escpos_destroy(e);
            return KV_FLOW_E_SERVICE;
        }
        int rc = kv__flow_png_to_bits(&img, dots, &bits, &sp.width_bytes, &sp.height, out->detail,
                                      sizeof out->detail);
        free(img.d);
        if (rc < 0) {
            kv_escpos_destroy(e);
            return KV_FLOW_E_SERVICE;
        }
        sp.bits = bits;
    }
    kv_flow_status st = KV_FLOW_OK;
    if (kv_sticker_write(e, &sp) != KV_ESCPOS_OK) {
        setmsg(out->detail, sizeof out->detail, "the placard cannot be built: %s", kv_escpos_errmsg(e));
        st = KV_FLOW_E_PRINTER;
    } else {
        size_t len = 0;
        const uint8_t *d = kv_escpos_data(e, &len);
        if (send_bytes(uri, d, len, out) < 0)
            st = KV_FLOW_E_PRINTER;
        else
            kv_journal_sticker_printed(f->j, out->row.id);
    }
    free(bits);
    kv_escpos_destroy(e);
    return st;
}

static kv_flow_status begin(kv_flow *f, kv_sticker_result *out, const char *till, const char *printer,
                            const kv_store **s, char *uri, size_t urilen, kv_vipps_client **c)
{
    memset(out, 0, sizeof *out);
    if (kv_flow_sticker_id(out->row.id, sizeof out->row.id, till) < 0) {
        setmsg(out->detail, sizeof out->detail, "till id: 1-64 letters, digits, '-' or '_'");
        return KV_FLOW_E_INPUT;
    }
    scpy(out->row.till, sizeof out->row.till, till);
    *s = till_store(f, till, printer, uri, urilen, out);
    if (!*s)
        return KV_FLOW_E_CONFIG;
    scpy(out->row.store, sizeof out->row.store, (*s)->id);
    scpy(out->row.msn, sizeof out->row.msn, (*s)->msn);
    kv_flow_result res;
    memset(&res, 0, sizeof res);
    kv_flow_status st = kv__flow_client_for(f, c, *s, &res);
    if (st != KV_FLOW_OK)
        scpy(out->detail, sizeof out->detail, res.detail);
    return st;
}

kv_flow_status kv_flow_sticker_create(kv_flow *f, kv_sticker_result *out, const char *till,
                                      const char *location, const char *printer, kv_sticker_qr qr)
{
    const kv_store *s;
    char uri[256];
    kv_vipps_client *c = NULL;
    kv_flow_status st = begin(f, out, till, printer, &s, uri, sizeof uri, &c);
    if (st != KV_FLOW_OK)
        return st;
    kv_sticker_row old;
    const char *loc = location;
    if (!loc && kv_journal_sticker_get(f->j, &old, out->row.id, NULL, NULL) == KV_J_OK)
        loc = old.location;
    if (!loc || !*loc)
        loc = till;
    kv_vipps_status vs = kv_vipps_sticker_put(c, out->row.id, loc);
    if (vs != KV_VIPPS_OK) {
        st = api_fail(out, c, vs, "create the sticker QR");
        kv_vipps_client_destroy(c);
        return st;
    }
    scpy(out->row.location, sizeof out->row.location, loc);
    if (kv_journal_sticker_put(f->j, &out->row) != KV_J_OK) {
        setmsg(out->detail, sizeof out->detail, "the journal cannot record the sticker: %s",
               kv_journal_errmsg(f->j));
        kv_vipps_client_destroy(c);
        return KV_FLOW_E_JOURNAL;
    }
    st = print_placard(f, c, s, uri, qr, out);
    if (st == KV_FLOW_OK || st == KV_FLOW_E_PRINTER)
        kv_journal_sticker_put(f->j, &out->row); /* content/location as Vipps has them */
    kv_journal_sticker_get(f->j, &out->row, out->row.id, NULL, NULL);
    kv_vipps_client_destroy(c);
    return st;
}

kv_flow_status kv_flow_sticker_reprint(kv_flow *f, kv_sticker_result *out, const char *till,
                                       const char *printer, kv_sticker_qr qr)
{
    const kv_store *s;
    char uri[256];
    kv_vipps_client *c = NULL;
    kv_flow_status st = begin(f, out, till, printer, &s, uri, sizeof uri, &c);
    if (st != KV_FLOW_OK)
        return st;
    st = print_placard(f, c, s, uri, qr, out);
    if (st == KV_FLOW_OK)
        kv_journal_sticker_put(f->j, &out->row);
    kv_journal_sticker_get(f->j, &out->row, out->row.id, NULL, NULL);
    kv_vipps_client_destroy(c);
    return st;
}

kv_flow_status kv_flow_sticker_delete(kv_flow *f, kv_sticker_result *out, const char *till)
{
    const kv_store *s;
    char uri[256];
    kv_vipps_client *c = NULL;
    kv_flow_status st = begin(f, out, till, NULL, &s, uri, sizeof uri, &c);
    if (st != KV_FLOW_OK)
        return st;
    kv_vipps_status vs = kv_vipps_sticker_delete(c, out->row.id);
    if (vs != KV_VIPPS_OK && vs != KV_VIPPS_E_NOT_FOUND)
        st = api_fail(out, c, vs, "delete the sticker QR");
    kv_vipps_client_destroy(c);
    if (st != KV_FLOW_OK)
        return st;
    kv_journal_status js = kv_journal_sticker_delete(f->j, out->row.id);
    if (vs == KV_VIPPS_E_NOT_FOUND && js == KV_J_E_NOT_FOUND) {
        setmsg(out->detail, sizeof out->detail, "till %s has no sticker", till);
        return KV_FLOW_E_NOT_FOUND;
    }
    return KV_FLOW_OK;
}
