/* pay.c - what the proxy does with a finished job: pass it through, pass
 * it with a note for the cashier, or hold it while the customer pays (the
 * till flow of src/flow/flow.h on a worker thread), then release it with a
 * paid block before its cut or marked NOT PAID.  Held jobs are journaled
 * first (src/journal/journal_proxy.h); kv_proxy_recover prints the ones a
 * crash left held. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "drivers/transport.h"
#include "escpos/decoder.h"
#include "escpos/encoder.h"
#include "src/flow/flow.h"
#include "src/journal/journal_proxy.h"
#include "src/proxy/proxy_int.h"

/* ---- words on paper, in the store's language ------------------------------ */

typedef struct words {
    const char *lang, *paid, *not_paid, *reference, *transaction, *time, *amount, *note, *unknown;
} words;

static const words word_table[] = {
    { "nb", "BETALT MED VIPPS MOBILEPAY", "IKKE BETALT", "Referanse", "Transaksjon", "Tid", "Beløp",
      "Ingen Vipps-betaling startet", "Betalingen er uavklart: kjør kvitt recover" },
    { "da", "BETALT MED VIPPS MOBILEPAY", "IKKE BETALT", "Reference", "Transaktion", "Tid", "Beløb",
      "Ingen Vipps-betaling startet", "Betalingen er uafklaret: kør kvitt recover" },
    { "fi", "MAKSETTU VIPPS MOBILEPAYLLA", "EI MAKSETTU", "Viite", "Tapahtuma", "Aika", "Summa",
      "Vipps-maksua ei aloitettu", "Maksun tila on epäselvä: aja kvitt recover" },
    { "sv", "BETALT MED VIPPS MOBILEPAY", "INTE BETALT", "Referens", "Transaktion", "Tid", "Belopp",
      "Ingen Vipps-betalning startad", "Betalningen är oklar: kör kvitt recover" },
    { "en", "PAID WITH VIPPS MOBILEPAY", "NOT PAID", "Reference", "Transaction", "Time", "Amount",
      "No Vipps payment started", "Payment outcome unknown: run kvitt recover" },
};

static const words *words_of(const char *lang)
{
    for (size_t i = 0; i < sizeof word_table / sizeof word_table[0]; i++)
        if (strcmp(word_table[i].lang, lang) == 0)
            return &word_table[i];
    return &word_table[4];
}

static void amount_text(char *b, size_t n, int64_t minor)
{
    snprintf(b, n, "%lld,%02lld", (long long)(minor / 100), (long long)(minor % 100));
}

/* ---- blocks ------------------------------------------------------------------- */

typedef struct block_spec {
    int paid;               /* 1 paid, 0 not paid */
    const char *reference;
    const char *transaction;
    int64_t amount;
    const char *reason;     /* not paid: why (cashier text) */
    time_t when;
} block_spec;

static kv_escpos *encoder_of(const kv_proxy *p)
{
    kv_escpos_options eo = KV_ESCPOS_OPTIONS_INIT;
    eo.profile = p->profile;
    kv_escpos *e = NULL;
    if (kv_escpos_create(&e, &eo) != KV_ESCPOS_OK)
        return NULL;
    kv_escpos_init(e);
    return e;
}

static void kv_line(kv_escpos *e, const char *label, const char *value)
{
    char l[200];
    snprintf(l, sizeof l, "%s: %s", label, value);
    kv_escpos_line(e, l);
}

/* The paid / NOT PAID block: ESC @ first (the till may have left any
 * style), text through the encoder (control bytes can never pass). */
static kv_escpos *make_block(const kv_proxy *p, const block_spec *b)
{
    const words *w = words_of(p->lang);
    kv_escpos *e = encoder_of(p);
    if (!e)
        return NULL;
    char amt[32], tt[32];
    amount_text(amt, sizeof amt, b->amount);
    struct tm tm;
    localtime_r(&b->when, &tm);
    strftime(tt, sizeof tt, "%Y-%m-%d %H:%M", &tm);
    kv_escpos_newline(e);
    kv_escpos_align(e, KV_ALIGN_CENTER);
    kv_escpos_bold(e, true);
    kv_escpos_size(e, b->paid ? 1 : 2, b->paid ? 1 : 2);
    kv_escpos_line(e, b->paid ? w->paid : w->not_paid);
    kv_escpos_size(e, 1, 1);
    kv_escpos_bold(e, false);
    kv_escpos_align(e, KV_ALIGN_LEFT);
    kv_line(e, w->amount, amt);
    kv_line(e, w->reference, b->reference);
    if (b->paid && b->transaction && *b->transaction)
        kv_line(e, w->transaction, b->transaction);
    if (!b->paid && b->reason && *b->reason)
        kv_escpos_line(e, b->reason);
    kv_line(e, w->time, tt);
    kv_escpos_newline(e);
    return e;
}

/* Offset of the job's last cut command (where the block goes), or len. */
static size_t last_cut(const uint8_t *job, size_t len)
{
    kv_dec *d;
    size_t at = len;
    if (kv_dec_create(&d, job, len) != KV_DEC_OK)
        return len;
    kv_dec_cmd c;
    while (kv_dec_next(d, &c) == KV_DEC_OK)
        if (c.op == KV_OP_CUT || c.op == KV_OP_CUT_LEGACY)
            at = c.offset;
    kv_dec_destroy(d);
    return at;
}

/* Print the held job with the block inserted before its cut.  Returns
 * KV_T_OK or the transport status (the job stays held). */
static int release(kv_proxy *p, const uint8_t *job, size_t len, const block_spec *b, char *err,
                   size_t errlen)
{
    kv_escpos *e = make_block(p, b);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return KV_T_E_NOMEM;
    }
    size_t bl = 0;
    const uint8_t *bb = kv_escpos_data(e, &bl);
    size_t at = last_cut(job, len);
    uint8_t *out = malloc(len + bl);
    if (!out) {
        kv_escpos_destroy(e);
        return KV_T_E_NOMEM;
    }
    memcpy(out, job, at);
    memcpy(out + at, bb, bl);
    memcpy(out + at + bl, job + at, len - at);
    kv_escpos_destroy(e);
    int rc = kv__proxy_send(p, out, len + bl, kv__proxy_count_queries(job, len), SEND_CHECK, NULL, 0,
                            NULL, err, errlen);
    free(out);
    return rc;
}

/* A short note for the cashier after a job that passed unchanged. */
static void note(kv_proxy *p, const char *head, const char *reason, int flags)
{
    kv_escpos *e = encoder_of(p);
    if (!e)
        return;
    kv_escpos_bold(e, true);
    kv_escpos_line(e, head);
    kv_escpos_bold(e, false);
    kv_escpos_line(e, reason);
    kv_escpos_feed_lines(e, 3);
    if (p->profile->cutter)
        kv_escpos_cut(e, KV_CUT_PARTIAL);
    size_t n = 0;
    const uint8_t *d = kv_escpos_data(e, &n);
    char err[256];
    if (kv__proxy_send(p, d, n, 0, flags, NULL, 0, NULL, err, sizeof err) != KV_T_OK)
        kv__proxy_log(p, "note not printed: %s", err);
    kv_escpos_destroy(e);
}

/* ---- the payment worker ------------------------------------------------------- */

static void make_reference(const kv_proxy *p, char *buf, size_t len)
{
    const kv_store *s = kv_config_store(p->cfg, p->store);
    unsigned char rnd[4] = { 0 };
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, rnd, sizeof rnd) != (ssize_t)sizeof rnd)
            memset(rnd, 0, sizeof rnd);
        close(fd);
    }
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%d%H%M%S", &tm);
    snprintf(buf, len, "%s-P%s-%02x%02x%02x%02x", s && s->reference_prefix[0] ? s->reference_prefix : "KV",
             ts, rnd[0], rnd[1], rnd[2], rnd[3]);
}

/* Release a held job until the printer takes it (paper out: wait for a
 * new roll), then mark it printed in the journal. */
static int release_until_printed(kv_proxy *p, const held_job *h, const block_spec *b,
                                 const char *outcome, int max_tries)
{
    char err[256];
    int warned = 0;
    for (int tries = 1;; tries++) {
        int rc = release(p, h->bytes, h->len, b, err, sizeof err);
        if (rc == KV_T_OK)
            break;
        if (!warned++)
            kv__proxy_log(p, "held receipt %s waits for the printer: %s", h->reference, err);
        if ((p->stop && *p->stop) || (max_tries > 0 && tries >= max_tries)) {
            kv__proxy_log(p, "receipt %s stays held (printed by the next start or kvitt recover)",
                          h->reference);
            return -1;
        }
        usleep(300000);
    }
    kv_journal_proxy_release(kv_flow_journal(p->flow), h->id, outcome);
    kv__proxy_log(p, "receipt %s released: %s", h->reference, outcome);
    return 0;
}

static void pay_one(kv_proxy *p, held_job *h)
{
    kv_pay_request req;
    memset(&req, 0, sizeof req);
    req.amount_minor = h->amount;
    req.store_id = p->store;
    req.printer = p->printer;
    req.till_id = p->name;
    req.reference = h->reference;
    req.timeout_s = p->timeout_s;
    req.receipt_by_caller = 1;   /* one receipt: the till's, released below */
    kv_flow_result res;
    memset(&res, 0, sizeof res);
    kv__proxy_log(p, "payment %s of %lld minor units: QR slip", h->reference, (long long)h->amount);
    kv_flow_status st = kv_flow_pay(p->flow, &res, &req);
    block_spec b = { 0, h->reference, res.payment.psp_reference, h->amount, res.cashier, time(NULL) };
    char outcome[300];
    if (st == KV_FLOW_OK) {
        b.paid = 1;
        snprintf(outcome, sizeof outcome, "paid");
    } else if (st == KV_FLOW_E_UNKNOWN) {
        /* keep it held: recover finds the outcome and prints it then */
        kv__proxy_log(p, "payment %s: outcome unknown (%s); the receipt stays held", h->reference,
                      res.detail);
        note(p, words_of(p->lang)->unknown, h->reference, 0);
        return;
    } else {
        if (!res.cashier[0])
            snprintf(res.cashier, sizeof res.cashier, "%s", kv_flow_strerror(st));
        snprintf(outcome, sizeof outcome, "not-paid: %s", res.cashier);
    }
    kv__proxy_log(p, "payment %s: %s", h->reference, outcome);
    release_until_printed(p, h, &b, outcome, 0);
}

static void *worker(void *arg)
{
    kv_proxy *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->queue && !p->quit)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->queue)
            break;
        held_job *h = p->queue;
        p->queue = h->next;
        p->busy = 1;
        pthread_mutex_unlock(&p->mu);
        pay_one(p, h);
        free(h->bytes);
        free(h);
        pthread_mutex_lock(&p->mu);
        p->busy = p->queue != NULL;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int kv__proxy_worker_start(kv_proxy *p, pthread_t *th)
{
    p->quit = 0;
    return pthread_create(th, NULL, worker, p) ? -1 : 0;
}

void kv__proxy_worker_stop(kv_proxy *p, pthread_t th)
{
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(th, NULL);
}

/* ---- a finished job --------------------------------------------------------------- */

/* Pass a job on.  A printer that cannot be reached (switched off, cable
 * out) is waited for, as the till would wait for it: the job is never
 * dropped (a job cut off by a failing link is sent again whole). */
static void pass(kv_proxy *p, const uint8_t *bytes, size_t len)
{
    char err[256];
    int nq = kv__proxy_count_queries(bytes, len);
    for (int tries = 0;; tries++) {
        int rc = kv__proxy_send(p, bytes, len, nq, SEND_KEEP, NULL, 0, NULL, err, sizeof err);
        if (rc == KV_T_OK)
            break;
        if (tries == 0)
            kv__proxy_log(p, "job of %zu bytes waits for the printer: %s", len, err);
        if (p->stop && *p->stop) {
            kv__proxy_log(p, "stopping: job of %zu bytes NOT printed", len);
            return;
        }
        usleep(tries < 10 ? 100000 : 500000);
    }
    kv__proxy_log(p, "job of %zu bytes passed", len);
}

void kv__proxy_job(kv_proxy *p, const uint8_t *bytes, size_t len)
{
    kv_rule_result rr;
    kv_proxy_rule_eval(p->rule, p->profile, bytes, len, &rr);
    if (rr.verdict == KV_RULE_NONE) {
        pass(p, bytes, len);
        return;
    }
    const words *w = words_of(p->lang);
    if (rr.verdict == KV_RULE_BAD || !p->flow) {
        if (!p->flow)
            snprintf(rr.reason, sizeof rr.reason, "no payment client is configured");
        pass(p, bytes, len);
        kv__proxy_log(p, "payment line '%s' refused: %s", rr.text, rr.reason);
        note(p, w->note, rr.reason, SEND_KEEP);
        return;
    }
    held_job *h = calloc(1, sizeof *h);
    uint8_t *copy = malloc(len ? len : 1);
    if (!h || !copy) {
        free(h);
        free(copy);
        pass(p, bytes, len);
        note(p, w->note, "out of memory", SEND_KEEP);
        return;
    }
    memcpy(copy, bytes, len);
    h->bytes = copy;
    h->len = len;
    h->amount = rr.amount_minor;
    make_reference(p, h->reference, sizeof h->reference);
    /* journal before any call that moves money */
    if (kv_journal_proxy_hold(kv_flow_journal(p->flow), p->jname, h->reference, h->amount, bytes, len,
                              &h->id) != KV_J_OK) {
        free(h->bytes);
        free(h);
        pass(p, bytes, len);
        note(p, w->note, "the journal cannot be written", SEND_KEEP);
        return;
    }
    kv__proxy_log(p, "job of %zu bytes held for payment %s (line %d: '%s')", len, h->reference,
                  rr.line, rr.text);
    kv__proxy_flush(p);  /* what went before is on paper before the slip */
    pthread_mutex_lock(&p->mu);
    held_job **tail = &p->queue;
    while (*tail)
        tail = &(*tail)->next;
    *tail = h;
    p->busy = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---- recovery ------------------------------------------------------------------------ */

kv_proxy_status kv_proxy_recover(kv_proxy *p, int *printed, int *left)
{
    int np = 0, nl = 0;
    if (!p || !p->flow)
        return KV_PROXY_E_ARG;
    kv_proxy_held *rows = NULL;
    size_t n = 0;
    if (kv_journal_proxy_pending(kv_flow_journal(p->flow), p->jname, &rows, &n) != KV_J_OK)
        return KV_PROXY_E_JOURNAL;
    for (size_t i = 0; i < n; i++) {
        kv_flow_result res;
        memset(&res, 0, sizeof res);
        kv_flow_status st = kv_flow_status_get(p->flow, &res, rows[i].reference, 1);
        held_job h = { NULL, rows[i].id, "", rows[i].amount, rows[i].job, rows[i].len };
        snprintf(h.reference, sizeof h.reference, "%s", rows[i].reference);
        block_spec b = { 0, h.reference, res.payment.psp_reference, h.amount, "", time(NULL) };
        char outcome[300];
        kv_pay_state ps = res.payment.state;
        if (st == KV_FLOW_E_NOT_FOUND) {
            b.reason = "payment never started";  /* crashed before the create */
        } else if (st != KV_FLOW_OK || ps == KV_PAY_UNKNOWN || ps == KV_PAY_NEW ||
                   ps == KV_PAY_CREATED || ps == KV_PAY_WAITING || ps == KV_PAY_AUTHORIZED) {
            nl++;  /* not final yet (recover will finish it): stay held */
            continue;
        } else if (ps == KV_PAY_CAPTURED || ps == KV_PAY_DONE) {
            b.paid = 1;
        } else {
            b.reason = kv_pay_state_name(ps);
        }
        snprintf(outcome, sizeof outcome, b.paid ? "paid (recovered)" : "not-paid (recovered): %s",
                 b.reason);
        if (release_until_printed(p, &h, &b, outcome, 10) == 0)
            np++;
        else
            nl++;
    }
    kv_journal_proxy_free(rows, n);
    if (printed)
        *printed = np;
    if (left)
        *left = nl;
    return KV_PROXY_OK;
}

kv_proxy_status kv_proxy_recover_all(const kv_config *cfg, struct kv_flow *flow, int *printed,
                                     int *left, char *err, size_t errlen)
{
    kv_proxy_status first = KV_PROXY_OK;
    const char *sec;
    for (size_t i = 0; (sec = kv_config_section_at(cfg, i)); i++) {
        if (strncmp(sec, "proxy ", 6) != 0)
            continue;
        kv_proxy *p = NULL;
        kv_proxy_status st = kv_proxy_create(&p, cfg, sec + 6, flow, err, errlen);
        int np = 0, nl = 0;
        if (st == KV_PROXY_OK)
            st = kv_proxy_recover(p, &np, &nl);
        kv_proxy_destroy(p);
        if (printed)
            *printed += np;
        if (left)
            *left += nl;
        if (st != KV_PROXY_OK && first == KV_PROXY_OK)
            first = st;
    }
    return first;
}
