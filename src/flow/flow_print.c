/* flow_print.c - documents to the printer: slip (incl. Vipps' QR image), receipt, not-paid slip. */
#include "src/flow/flow_int.h"

#include <curl/curl.h>
#include <png.h>
#include "drivers/status.h"
#include "drivers/transport.h"
#include "drivers/virtual.h"
#include "escpos/layout.h"
#include "escpos/profile.h"

/* ---------------------------------------------------------------- */
/* printing                                                          */

/* Print a document job.  Journals the job: CONFIRMED (every byte out and
 * the printer's status after the job says ready), SENT (every byte out,
 * not confirmed), FAILED (cut short), QUEUED (nothing went out).  Returns
 * 0 when printed, -1 with the reason in msg when the job must be printed
 * again (kvitt recover does it).  path gets the virtual job file. */
int kv__flow_print_bytes(kv_flow *f, int64_t jid, const char *ref, kv_doc_kind doc, int copy, const char *uri,
                       const uint8_t *bytes, size_t len, char *path, size_t pathlen, char *msg, size_t msglen)
{
    if (path && pathlen)
        path[0] = 0;
    if (jid <= 0 && kv_journal_job_add(f->j, &jid, ref, doc, copy, uri) != KV_J_OK) {
        setmsg(msg, msglen, "the journal cannot record the print job");
        return -1;
    }
    if (!uri || !*uri) {
        setmsg(msg, msglen, "no printer configured; fix: set printer = URI for the store or give --printer");
        kv_journal_job_set(f->j, jid, KV_PJ_QUEUED, msg);
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
        setmsg(msg, msglen, "printer %s: %s", uri, oerr[0] ? oerr : kv_transport_strerror(rc));
        kv_journal_job_set(f->j, jid, KV_PJ_QUEUED, msg);
        return -1;
    }
    kv_print_options po = KV_PRINT_OPTIONS_INIT;
    po.status_timeout_ms = 500;
    po.check_after = 0; /* asked below, with a wait that fits the job */
    kv_print_report rep;
    memset(&rep, 0, sizeof rep);
    rc = kv_transport_print_job(t, bytes, len, &po, &rep);
    /* A printer that answers status requests confirms a job by answering
     * after it too, once it has read the whole job (a slow serial link
     * needs about 1 ms a byte): every byte out and still ready.  One that
     * answered before but not after lost the link at the end of the job or
     * stopped: SENT (a whole copy may be on paper, nobody knows) and queued
     * again.  One that never answers status (some USB/serial models) can
     * only be trusted to have printed what was sent. */
    int answers = rep.before.state != KV_PS_UNKNOWN;
    int all_sent = rep.written == len;
    int confirmed = 0;
    if (rc == KV_T_OK && answers) {
        kv_printer_status_info after;
        int wait_ms = 1000 + (int)(len > 7000 ? 14000 : len * 2);
        int ast = kv_printer_status(t, wait_ms, &after);
        if (ast != KV_T_OK || after.state == KV_PS_UNKNOWN) {
            setmsg(rep.message, sizeof rep.message, "all %zu bytes sent, but the printer did not answer after the "
                   "job (%s): check the paper to see whether it printed", len,
                   ast != KV_T_OK ? kv_transport_strerror(ast) : "no status");
            rc = KV_T_E_PRINTER;
        } else if (after.state != KV_PS_READY && after.state != KV_PS_PAPER_NEAR_END) {
            setmsg(rep.message, sizeof rep.message, "all %zu bytes sent, but the printer now reports %s: the end "
                   "of the job may be missing; %s", len, kv_printer_state_name(after.state),
                   kv_printer_state_advice(after.state));
            rc = KV_T_E_PRINTER;
        } else {
            confirmed = 1;
        }
    }
    const char *vp = kv_transport_virtual_last_job(t);
    if (vp && path)
        snprintf(path, pathlen, "%s", vp);
    kv_transport_close(t);
    if (rc != KV_T_OK) {
        setmsg(msg, msglen, "printer: %s", rep.message[0] ? rep.message : kv_transport_strerror(rc));
        kv_journal_job_set(f->j, jid, all_sent ? KV_PJ_SENT : rep.written > 0 ? KV_PJ_FAILED : KV_PJ_QUEUED, msg);
        return -1;
    }
    kv_journal_job_set(f->j, jid, confirmed ? KV_PJ_CONFIRMED : KV_PJ_SENT, path && path[0] ? path : "");
    kv__flow_emit(f, KV_FEV_PRINTED, ref, KV_PAY_NEW, -1, kv_doc_kind_name(doc));
    return 0;
}

/* The printer of a payment's documents: the one its slip went to (a
 * --printer override), else the store's. */
void kv__flow_doc_printer(kv_flow *f, const kv_payment *p, const kv_store *s, char *uri, size_t len)
{
    kv_print_job pj;
    if (kv_journal_job_last(f->j, &pj, p->reference, KV_DOC_SLIP) == KV_J_OK && pj.printer[0])
        scpy(uri, len, pj.printer);
    else
        scpy(uri, len, s->printer);
}

kv_escpos *kv__flow_new_encoder(const kv_store *s)
{
    kv_escpos_options eo = KV_ESCPOS_OPTIONS_INIT;
    eo.profile = kv_profile_find(s->profile);
    kv_escpos *e = NULL;
    if (kv_escpos_create(&e, &eo) != KV_ESCPOS_OK)
        return NULL;
    return e;
}


/* ---------------------------------------------------------------- */
/* qr_source = image: Vipps' own QR image printed as a raster        */

#define PNG_MAX_BYTES (2u << 20)

typedef struct fetchbuf {
    unsigned char *d;
    size_t n;
    int too_big;
} fetchbuf;

static size_t fetch_sink(char *p, size_t sz, size_t nm, void *ud)
{
    fetchbuf *b = ud;
    size_t add = sz * nm;
    if (b->n + add > PNG_MAX_BYTES) {
        b->too_big = 1;
        return 0;
    }
    unsigned char *nd = realloc(b->d, b->n + add);
    if (!nd)
        return 0;
    memcpy(nd + b->n, p, add);
    b->d = nd;
    b->n += add;
    return add;
}

/* GET an image URL (http(s) only, capped size, the config's timeouts). */
static int fetch_image(kv_flow *f, const char *url, fetchbuf *out, char *msg, size_t msglen)
{
    memset(out, 0, sizeof *out);
    if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
        setmsg(msg, msglen, "the QR image URL is not http(s)");
        return -1;
    }
    const kv_config_main *m = kv_config_main_get(f->cfg);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)m->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)m->total_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || status != 200) {
        setmsg(msg, msglen, "the QR image could not be fetched (%s, HTTP %ld)",
               out->too_big ? "larger than 2 MiB" : curl_easy_strerror(rc), status);
        free(out->d);
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

/* Decode a PNG into 1-bit rows (MSB left, 1 = black), scaled down to at
 * most max_w dots.  *bits malloc'd. */
static int png_to_bits(const fetchbuf *b, unsigned max_w, uint8_t **bits, unsigned *wbytes, unsigned *h,
                       char *msg, size_t msglen)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, b->d, b->n)) {
        setmsg(msg, msglen, "the QR image is not a PNG");
        return -1;
    }
    img.format = PNG_FORMAT_GRAY;
    if (img.width == 0 || img.height == 0 || img.width > 4000 || img.height > 4000) {
        png_image_free(&img);
        setmsg(msg, msglen, "the QR image has an unusable size");
        return -1;
    }
    uint8_t *gray = malloc((size_t)img.width * img.height);
    if (!gray || !png_image_finish_read(&img, NULL, gray, 0, NULL)) {
        free(gray);
        png_image_free(&img);
        setmsg(msg, msglen, "the QR image cannot be decoded");
        return -1;
    }
    /* integer down-scale factor so the image fits the paper */
    unsigned k = (img.width + max_w - 1) / max_w;
    if (k < 1)
        k = 1;
    unsigned w = img.width / k, hh = img.height / k;
    unsigned wb = (w + 7) / 8;
    uint8_t *out = calloc((size_t)wb * hh, 1);
    if (!out) {
        free(gray);
        return -1;
    }
    for (unsigned y = 0; y < hh; y++)
        for (unsigned x = 0; x < w; x++)
            if (gray[(size_t)(y * k + k / 2) * img.width + x * k + k / 2] < 128)
                out[(size_t)y * wb + x / 8] |= (uint8_t)(0x80 >> (x % 8));
    free(gray);
    *bits = out;
    *wbytes = wb;
    *h = hh;
    return 0;
}

/* The slip with Vipps' image in place of a QR code drawn by kvitt: the same
 * texts as src/doc/slip.h, from its per-language functions. */
static int image_slip(kv_escpos *e, const kv_payment *p, const kv_store *s, const uint8_t *bits, unsigned wb,
                      unsigned h, const char *expiry)
{
    kv_lang lang = kv__flow_store_lang(s);
    kv_style big = KV_STYLE_INIT, bold = KV_STYLE_INIT, normal = KV_STYLE_INIT;
    big.bold = true;
    big.width = 2;
    big.height = 2;
    bold.bold = true;
    char money[48], line[160];
    if (kv_money_format(money, sizeof money, p->amount, p->currency, lang) < 0)
        return -1;
    kv_escpos_init(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_escpos_style(e, &bold);
    kv_layout_wrap(e, s->name);
    kv_escpos_style(e, &big);
    kv_layout_wrap(e, kv_slip_title(lang));
    kv_escpos_style(e, &normal);
    snprintf(line, sizeof line, "%s: %s", kv_slip_amount_label(lang), money);
    kv_escpos_style(e, &bold);
    kv_layout_wrap(e, line);
    kv_escpos_style(e, &normal);
    kv_escpos_raster(e, bits, wb, h, KV_RASTER_NORMAL);
    kv_layout_wrap(e, kv_slip_scan_text_app(lang));
    kv_layout_wrap(e, p->reference);
    if (expiry && *expiry) {
        snprintf(line, sizeof line, "%s %s", kv_slip_expiry_label(lang), expiry);
        kv_layout_wrap(e, line);
    }
    kv_escpos_align(e, KV_ALIGN_LEFT);
    kv_escpos_cut(e, KV_CUT_PARTIAL);
    return kv_escpos_status_get(e) == KV_ESCPOS_OK ? 0 : -1;
}

/* jid: the slip's print job, already journaled (queued). */
int kv__flow_print_slip(kv_flow *f, int64_t jid, const kv_payment *p, const kv_store *s, const char *uri,
                      kv_flow_result *out)
{
    kv_escpos *e = kv__flow_new_encoder(s);
    if (!e) {
        setmsg(out->detail, sizeof out->detail, "out of memory building the slip");
        return -1;
    }
    kv_slip_spec sp = KV_SLIP_SPEC_INIT;
    char exp[32] = "";
    if (p->expires_at) {
        time_t tt = (time_t)p->expires_at;
        struct tm tm;
        localtime_r(&tt, &tm);
        strftime(exp, sizeof exp, "%H:%M", &tm);
    }
    sp.url = p->qr_url;
    sp.amount_minor = p->amount;
    sp.currency = p->currency;
    sp.lang = kv__flow_store_lang(s);
    sp.store_name = s->name;
    sp.reference = p->reference;
    sp.expiry = exp[0] ? exp : NULL;
    sp.scan_text = kv_slip_scan_text_app(sp.lang);
    if (s->qr_source == KV_QR_IMAGE) {
        fetchbuf img;
        uint8_t *bits = NULL;
        unsigned wb = 0, h = 0;
        const kv_profile *prof = kv_escpos_profile(e);
        int rc = fetch_image(f, p->qr_url, &img, out->detail, sizeof out->detail);
        if (rc == 0)
            rc = png_to_bits(&img, prof ? prof->dots : 384, &bits, &wb, &h, out->detail, sizeof out->detail);
        free(img.d);
        if (rc == 0 && image_slip(e, p, s, bits, wb, h, sp.expiry) != 0) {
            setmsg(out->detail, sizeof out->detail, "the slip cannot be built: %s", kv_escpos_errmsg(e));
            rc = -1;
        }
        free(bits);
        if (rc) {
            kv_journal_job_set(f->j, jid, KV_PJ_QUEUED, out->detail);
            kv_escpos_destroy(e);
            return -1;
        }
    } else {
        kv_escpos_status es = kv_slip_write(e, &sp);
        if (es != KV_ESCPOS_OK) {
            setmsg(out->detail, sizeof out->detail, "the slip cannot be built: %s", kv_escpos_errmsg(e));
            kv_journal_job_set(f->j, jid, KV_PJ_QUEUED, out->detail);
            kv_escpos_destroy(e);
            return -1;
        }
    }
    size_t len = 0;
    const uint8_t *d = kv_escpos_data(e, &len);
    int rc = kv__flow_print_bytes(f, jid, p->reference, KV_DOC_SLIP, 0, uri, d, len, out->slip_path, sizeof out->slip_path,
                         out->detail, sizeof out->detail);
    kv_escpos_destroy(e);
    return rc;
}

int kv__flow_print_receipt(kv_flow *f, const kv_payment *p, int copy, const char *uri, kv_flow_result *out)
{
    const kv_store *s = kv__flow_store_of(f, p);
    if (!s) {
        setmsg(out->detail, sizeof out->detail, "store %s is no longer configured", p->store_id);
        return -1;
    }
    parsed_items it;
    char ierr[200];
    if (kv__flow_parse_items(&it, p->items_json, ierr, sizeof ierr)) {
        cJSON_Delete(it.root);
        memset(&it, 0, sizeof it);
    }
    kv_escpos *e = kv__flow_new_encoder(s);
    if (!e) {
        cJSON_Delete(it.root);
        return -1;
    }
    char tt[32];
    kv__flow_time_text(tt, sizeof tt, p->updated_at ? p->updated_at : time(NULL));
    kv_receipt_spec rs = { .store = { s->name, s->address, s->org_number }, .lang = kv__flow_store_lang(s),
                           .currency = p->currency, .items = it.items, .n_items = it.n,
                           .total = p->captured > 0 ? p->captured : p->amount, .reference = p->reference,
                           .psp_reference = p->psp_reference, .time_text = tt, .till_id = p->till_id,
                           .copy = copy };
    if (rs.n_items && rs.total != p->amount)
        rs.n_items = 0; /* partial capture: the lines no longer add up */
    kv_escpos_status es = kv_receipt_write(e, &rs);
    cJSON_Delete(it.root);
    if (es != KV_ESCPOS_OK) {
        setmsg(out->detail, sizeof out->detail, "the receipt cannot be built: %s", kv_escpos_errmsg(e));
        kv_escpos_destroy(e);
        return -1;
    }
    size_t len = 0;
    const uint8_t *d = kv_escpos_data(e, &len);
    kv__flow_crash_point(f, "receipt");
    char dp[256];
    kv__flow_doc_printer(f, p, s, dp, sizeof dp);
    int rc = kv__flow_print_bytes(f, 0, p->reference, KV_DOC_RECEIPT, copy, uri ? uri : dp, d, len, out->receipt_path,
                         sizeof out->receipt_path, out->detail, sizeof out->detail);
    kv_escpos_destroy(e);
    return rc;
}

int kv__flow_print_not_paid(kv_flow *f, const kv_payment *p, kv_not_paid_reason why, const char *text,
                          int copy, kv_flow_result *out)
{
    const kv_store *s = kv__flow_store_of(f, p);
    if (!s)
        return -1;
    kv_escpos *e = kv__flow_new_encoder(s);
    if (!e)
        return -1;
    char tt[32];
    kv__flow_time_text(tt, sizeof tt, time(NULL));
    kv_not_paid_spec ns = { .store = { s->name, s->address, s->org_number }, .lang = kv__flow_store_lang(s),
                            .currency = p->currency, .amount = p->amount, .reference = p->reference,
                            .reason = why, .reason_text = text, .time_text = tt, .till_id = p->till_id,
                            .copy = copy };
    int rc = -1;
    char msg[256];
    if (kv_not_paid_write(e, &ns) == KV_ESCPOS_OK) {
        size_t len = 0;
        const uint8_t *d = kv_escpos_data(e, &len);
        char dp[256];
        kv__flow_doc_printer(f, p, s, dp, sizeof dp);
        rc = kv__flow_print_bytes(f, 0, p->reference, KV_DOC_NOT_PAID, copy, dp, d, len, out->receipt_path,
                         sizeof out->receipt_path, msg, sizeof msg);
    }
    kv_escpos_destroy(e);
    return rc;
}
