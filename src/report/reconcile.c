/* reconcile.c - Report API entries matched against the journal (reconcile.h). */
#include "src/report/reconcile.h"

#include <stdlib.h>
#include <string.h>

#include "src/journal/journal_report.h"
#include "src/report/report.h"
#include "src/report/reconcile_int.h"
#include "src/vipps/backoffice.h"

const char *kv_recon_strerror(kv_recon_status st)
{
    switch (st) {
    case KV_RECON_OK: return "ok";
    case KV_RECON_E_ARG: return "bad date or ledger list";
    case KV_RECON_E_JOURNAL: return "the journal cannot be read or written";
    case KV_RECON_E_NOMEM: return "out of memory";
    case KV_RECON_E_SERVICE: return "the Report API is unreachable; try again later";
    case KV_RECON_E_REFUSED: return "the Report API refused the request (keys or access to the ledger)";
    case KV_RECON_E_DATA: return "the Report API answered something unusable";
    }
    return "unknown reconcile status";
}

const char *kv_recon_kind_name(kv_recon_kind k)
{
    switch (k) {
    case KV_RECON_MATCHED: return "matched";
    case KV_RECON_VIPPS_ONLY: return "vipps_only";
    case KV_RECON_JOURNAL_ONLY: return "journal_only";
    case KV_RECON_AMOUNT_DIFFERS: return "amount_differs";
    }
    return "?";
}

kv_recon_status kv__recon_from_vipps(kv_vipps_status st)
{
    switch (st) {
    case KV_VIPPS_OK: return KV_RECON_OK;
    case KV_VIPPS_E_NOMEM: return KV_RECON_E_NOMEM;
    case KV_VIPPS_E_UNREACHABLE: case KV_VIPPS_E_UNKNOWN: return KV_RECON_E_SERVICE;
    case KV_VIPPS_E_PARSE: return KV_RECON_E_DATA;
    case KV_VIPPS_E_INVALID: return KV_RECON_E_ARG;
    default: return KV_RECON_E_REFUSED;
    }
}

void kv__recon_err(char *err, size_t n, const char *store, kv_vipps_client *c, const char *what)
{
    if (!err || !n)
        return;
    const kv_vipps_error *e = c ? kv_vipps_last_error(c) : NULL;
    snprintf(err, n, "store %s: %s: %s", store, what, e && e->log[0] ? e->log : "failed");
}

/* ---- journal side ---- */

typedef struct jop {
    char ref[64];
    char store[64];
    char msn[16];
    int refund;
    int64_t amount;
    int64_t at;
    int used;
} jop;

typedef struct jops {
    jop *v;
    size_t n, cap;
    int nomem;
} jops;

static int on_op(void *user, const kv_journal_money_row *m)
{
    jops *o = user;
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 1024;
        jop *nv = realloc(o->v, nc * sizeof *nv);
        if (!nv) {
            o->nomem = 1;
            return 1;
        }
        o->v = nv;
        o->cap = nc;
    }
    jop *x = &o->v[o->n++];
    snprintf(x->ref, sizeof x->ref, "%s", m->op.reference);
    snprintf(x->store, sizeof x->store, "%s", m->store_id);
    snprintf(x->msn, sizeof x->msn, "%s", m->msn);
    x->refund = m->op.kind == KV_OP_REFUND;
    x->amount = m->op.amount;
    x->at = m->at;
    x->used = 0;
    return 0;
}

static int cmp_jop(const void *a, const void *b)
{
    const jop *x = a, *y = b;
    int c = strcmp(x->ref, y->ref);
    if (c)
        return c;
    if (x->refund != y->refund)
        return x->refund - y->refund;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* First op of ref (any kind) or NULL. */
static jop *find_ref(jops *o, const char *ref)
{
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(o->v[mid].ref, ref) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < o->n && strcmp(o->v[lo].ref, ref) == 0 ? &o->v[lo] : NULL;
}

/* ---- result rows ---- */

static int add_row(kv_recon *r, kv_recon_kind k, const char *store, const char *ref, const char *psp,
                   int refund, int64_t vipps, int64_t journal, const char *time)
{
    if (r->n[k] == r->cap[k]) {
        size_t nc = r->cap[k] ? r->cap[k] * 2 : 64;
        kv_recon_row *nv = realloc(r->rows[k], nc * sizeof *nv);
        if (!nv)
            return -1;
        r->rows[k] = nv;
        r->cap[k] = nc;
    }
    kv_recon_row *x = &r->rows[k][r->n[k]++];
    memset(x, 0, sizeof *x);
    x->kind = k;
    snprintf(x->store, sizeof x->store, "%s", store);
    snprintf(x->reference, sizeof x->reference, "%s", ref);
    snprintf(x->psp_reference, sizeof x->psp_reference, "%s", psp ? psp : "");
    snprintf(x->type, sizeof x->type, "%s", refund ? "refund" : "capture");
    x->vipps_amount = vipps;
    x->journal_amount = journal;
    snprintf(x->time, sizeof x->time, "%s", time ? time : "");
    return 0;
}

/* ---- Vipps side ---- */

typedef struct entries {
    kv_vipps_ledger_entry *v;
    size_t n, cap;
    int open;
} entries;

static int push(entries *E, const kv_vipps_ledger_entry *x, size_t n)
{
    if (!n)
        return 0;
    if (E->n + n > E->cap) {
        size_t nc = E->cap ? E->cap : 256;
        while (nc < E->n + n)
            nc *= 2;
        kv_vipps_ledger_entry *nv = realloc(E->v, nc * sizeof *nv);
        if (!nv)
            return -1;
        E->v = nv;
        E->cap = nc;
    }
    memcpy(E->v + E->n, x, n * sizeof *x);
    E->n += n;
    return 0;
}

/* Every page of a ledger date from the dates endpoint. */
static kv_recon_status fetch_date(entries *E, const kv_recon_ledger *L, const char *ledger_id,
                                  const char *topic, const char *date, char *err, size_t errlen)
{
    char cursor[512] = "";
    for (int guard = 0; guard < 100000; guard++) {
        kv_vipps_ledger_page p;
        kv_vipps_status vs = kv_vipps_ledger_date(&p, L->client, ledger_id, topic, date, cursor);
        if (vs) {
            kv__recon_err(err, errlen, L->store, L->client, "Report API");
            return kv__recon_from_vipps(vs);
        }
        if (p.try_later)
            E->open = 1;
        int bad = push(E, p.items, p.n);
        int more = p.has_more && p.cursor[0] && strcmp(p.cursor, cursor) != 0;
        snprintf(cursor, sizeof cursor, "%s", p.cursor);
        kv_vipps_ledger_page_free(&p);
        if (bad)
            return KV_RECON_E_NOMEM;
        if (!more)
            return KV_RECON_OK;
    }
    snprintf(err, errlen, "store %s: the Report API kept paging", L->store);
    return KV_RECON_E_DATA;
}

/* The payout entry: "payout-scheduled" in the current guide,
 * "scheduled-for-payout" in the 2.0 spec's enum. */
static int is_payout(const char *type)
{
    return !strcmp(type, "payout-scheduled") || !strcmp(type, "scheduled-for-payout");
}

/* The journaled feed entries of the date; open until its payout arrived. */
static kv_recon_status journal_date(entries *E, kv_journal *j, const char *ledger_id, const char *topic,
                                    const char *date)
{
    kv_ledger_entry *v = NULL;
    size_t n = 0;
    if (kv_journal_feed_entries(j, ledger_id, topic, date, &v, &n) != KV_J_OK)
        return KV_RECON_E_JOURNAL;
    int payout = 0;
    for (size_t i = 0; i < n; i++) {
        kv_vipps_ledger_entry x;
        memset(&x, 0, sizeof x);
        snprintf(x.psp_reference, sizeof x.psp_reference, "%s", v[i].psp_reference);
        snprintf(x.reference, sizeof x.reference, "%s", v[i].reference);
        snprintf(x.entry_type, sizeof x.entry_type, "%s", v[i].entry_type);
        x.amount = v[i].amount;
        snprintf(x.currency, sizeof x.currency, "%s", v[i].currency);
        snprintf(x.ledger_date, sizeof x.ledger_date, "%s", v[i].ledger_date);
        snprintf(x.time, sizeof x.time, "%s", v[i].time);
        payout |= is_payout(x.entry_type);
        if (push(E, &x, 1)) {
            free(v);
            return KV_RECON_E_NOMEM;
        }
    }
    free(v);
    if (strcmp(topic, "funds") == 0 && !payout)
        E->open = 1;
    return KV_RECON_OK;
}

static int match_ledger(kv_recon *r, jops *J, const kv_recon_ledger *L, const entries *F)
{
    for (size_t i = 0; i < F->n; i++) {
        const kv_vipps_ledger_entry *e = &F->v[i];
        int refund = strcmp(e->entry_type, "refund") == 0;
        if (!refund && strcmp(e->entry_type, "capture") != 0)
            continue;
        int64_t amount = e->amount < 0 ? -e->amount : e->amount;
        jop *first = find_ref(J, e->reference), *same = NULL, *other = NULL;
        for (jop *o = first; o && o < J->v + J->n && strcmp(o->ref, e->reference) == 0; o++) {
            if (o->used || o->refund != refund)
                continue;
            if (o->amount == amount && !same)
                same = o;
            if (!other)
                other = o;
        }
        int rc;
        if (same) {
            same->used = 1;
            rc = add_row(r, KV_RECON_MATCHED, same->store, e->reference, e->psp_reference, refund, amount,
                         same->amount, e->time);
        } else if (other) {
            other->used = 1;
            rc = add_row(r, KV_RECON_AMOUNT_DIFFERS, other->store, e->reference, e->psp_reference, refund, amount,
                         other->amount, e->time);
        } else {
            rc = add_row(r, KV_RECON_VIPPS_ONLY, L->store, e->reference, e->psp_reference, refund, amount, 0,
                         e->time);
        }
        if (rc)
            return -1;
    }
    return 0;
}

static void sums(kv_recon_ledger_sum *s, const entries *F, const entries *fees)
{
    for (size_t i = 0; i < F->n; i++) {
        const kv_vipps_ledger_entry *e = &F->v[i];
        if (!strcmp(e->entry_type, "capture")) {
            s->captures += e->amount;
            s->n_captures++;
        } else if (!strcmp(e->entry_type, "refund")) {
            s->refunds += -e->amount;
            s->n_refunds++;
        } else if (is_payout(e->entry_type)) {
            s->payout += -e->amount;
            s->has_payout = 1;
        }
    }
    for (size_t i = 0; i < fees->n; i++)
        if (!strcmp(fees->v[i].entry_type, "capture-fee"))
            s->fees += fees->v[i].amount;
}

kv_recon_status kv_recon_run(kv_recon **out, kv_journal *j, const kv_recon_ledger *ledgers, size_t n,
                             const char *date, int from_feed, char *err, size_t errlen)
{
    int64_t from, to;
    if (!out || !j || (!ledgers && n) || !date || kv_report_day_bounds(date, &from, &to))
        return KV_RECON_E_ARG;
    kv_recon *r = calloc(1, sizeof *r);
    if (!r || !(r->L = calloc(n ? n : 1, sizeof *r->L))) {
        free(r);
        return KV_RECON_E_NOMEM;
    }
    snprintf(r->date, sizeof r->date, "%s", date);
    jops J = { 0 };
    kv_recon_status st = KV_RECON_OK;
    /* a capture at 23:59 may be on the next ledger date, one at 00:01 on
     * the one before: every operation of the three days may be claimed */
    if (kv_journal_each_money_op(j, from - 86400, to + 86400, on_op, &J) != KV_J_OK || J.nomem) {
        st = J.nomem ? KV_RECON_E_NOMEM : KV_RECON_E_JOURNAL;
        goto fail;
    }
    if (J.n)
        qsort(J.v, J.n, sizeof *J.v, cmp_jop);
    for (size_t i = 0; i < n && st == KV_RECON_OK; i++) {
        const kv_recon_ledger *L = &ledgers[i];
        kv_recon_ledger_sum *s = &r->L[r->nl++];
        snprintf(s->store, sizeof s->store, "%s", L->store);
        snprintf(s->msn, sizeof s->msn, "%s", L->msn);
        kv_vipps_status vs = kv_vipps_ledger_for_msn(L->client, L->msn, s->ledger_id, sizeof s->ledger_id);
        if (vs) {
            kv__recon_err(err, errlen, L->store, L->client, "ledger of the sales unit");
            st = kv__recon_from_vipps(vs);
            break;
        }
        entries F = { 0 }, fees = { 0 };
        if (from_feed) {
            st = journal_date(&F, j, s->ledger_id, "funds", date);
            if (st == KV_RECON_OK)
                st = journal_date(&fees, j, s->ledger_id, "fees", date);
        } else {
            st = fetch_date(&F, L, s->ledger_id, "funds", date, err, errlen);
            if (st == KV_RECON_OK && !F.open)
                st = fetch_date(&fees, L, s->ledger_id, "fees", date, err, errlen);
        }
        if (st == KV_RECON_OK) {
            s->open = F.open;
            sums(s, &F, &fees);
            if (!s->open && match_ledger(r, &J, L, &F))
                st = KV_RECON_E_NOMEM;
        }
        free(F.v);
        free(fees.v);
    }
    /* what the journal has for the closed ledgers' MSNs that Vipps lacks */
    for (size_t k = 0; st == KV_RECON_OK && k < J.n; k++) {
        jop *o = &J.v[k];
        if (o->used || o->at < from || o->at >= to)
            continue;
        for (size_t i = 0; i < r->nl; i++) {
            if (strcmp(r->L[i].msn, o->msn) || r->L[i].open)
                continue;
            if (add_row(r, KV_RECON_JOURNAL_ONLY, o->store, o->ref, "", o->refund, 0, o->amount, ""))
                st = KV_RECON_E_NOMEM;
            break;
        }
    }
    free(J.v);
    if (st == KV_RECON_OK) {
        *out = r;
        return st;
    }
fail:
    free(J.v);
    kv_recon_free(r);
    return st;
}

void kv_recon_free(kv_recon *r)
{
    if (!r)
        return;
    for (int k = 0; k < 4; k++)
        free(r->rows[k]);
    free(r->L);
    free(r);
}

size_t kv_recon_count(const kv_recon *r, kv_recon_kind k)
{
    return r && (unsigned)k < 4 ? r->n[k] : 0;
}

const kv_recon_row *kv_recon_row_at(const kv_recon *r, kv_recon_kind k, size_t i)
{
    return r && (unsigned)k < 4 && i < r->n[k] ? &r->rows[k][i] : NULL;
}

size_t kv_recon_ledger_count(const kv_recon *r)
{
    return r ? r->nl : 0;
}

const kv_recon_ledger_sum *kv_recon_ledger_at(const kv_recon *r, size_t i)
{
    return r && i < r->nl ? &r->L[i] : NULL;
}

int kv_recon_open(const kv_recon *r)
{
    for (size_t i = 0; r && i < r->nl; i++)
        if (r->L[i].open)
            return 1;
    return 0;
}

int kv_recon_all_matched(const kv_recon *r)
{
    return r && !kv_recon_open(r) && !r->n[KV_RECON_VIPPS_ONLY] && !r->n[KV_RECON_JOURNAL_ONLY] &&
           !r->n[KV_RECON_AMOUNT_DIFFERS];
}

/* ---- the feed ---- */

kv_recon_status kv_recon_feed(kv_journal *j, const kv_recon_ledger *ledgers, size_t n, size_t *added,
                              size_t *pages, char *err, size_t errlen)
{
    size_t tot = 0, np = 0;
    static const char *const topics[] = { "funds", "fees" };
    for (size_t i = 0; i < n; i++) {
        const kv_recon_ledger *L = &ledgers[i];
        char ledger[32];
        kv_vipps_status vs = kv_vipps_ledger_for_msn(L->client, L->msn, ledger, sizeof ledger);
        if (vs) {
            kv__recon_err(err, errlen, L->store, L->client, "ledger of the sales unit");
            return kv__recon_from_vipps(vs);
        }
        for (int t = 0; t < 2; t++) {
            char cursor[512];
            if (kv_journal_feed_cursor(j, ledger, topics[t], cursor, sizeof cursor) != KV_J_OK)
                return KV_RECON_E_JOURNAL;
            for (;;) {
                kv_vipps_ledger_page p;
                vs = kv_vipps_ledger_feed(&p, L->client, ledger, topics[t], cursor);
                if (vs) {
                    kv__recon_err(err, errlen, L->store, L->client, "Report API feed");
                    return kv__recon_from_vipps(vs);
                }
                np++;
                kv_ledger_entry *v = p.n ? calloc(p.n, sizeof *v) : NULL;
                if (p.n && !v) {
                    kv_vipps_ledger_page_free(&p);
                    return KV_RECON_E_NOMEM;
                }
                for (size_t k = 0; k < p.n; k++) {
                    snprintf(v[k].ledger_id, sizeof v[k].ledger_id, "%s", ledger);
                    snprintf(v[k].topic, sizeof v[k].topic, "%s", topics[t]);
                    memcpy(v[k].psp_reference, p.items[k].psp_reference, sizeof v[k].psp_reference);
                    memcpy(v[k].reference, p.items[k].reference, sizeof v[k].reference);
                    memcpy(v[k].entry_type, p.items[k].entry_type, sizeof v[k].entry_type);
                    v[k].amount = p.items[k].amount;
                    memcpy(v[k].currency, p.items[k].currency, sizeof v[k].currency);
                    memcpy(v[k].ledger_date, p.items[k].ledger_date, sizeof v[k].ledger_date);
                    memcpy(v[k].time, p.items[k].time, sizeof v[k].time);
                    memcpy(v[k].recipient, p.items[k].recipient, sizeof v[k].recipient);
                }
                size_t add = 0;
                int end = p.n == 0 || p.try_later || !p.cursor[0] || strcmp(p.cursor, cursor) == 0;
                kv_journal_status js = KV_J_OK;
                if (p.n || (p.cursor[0] && strcmp(p.cursor, cursor)))
                    js = kv_journal_feed_store(j, ledger, topics[t], v, p.n, p.cursor[0] ? p.cursor : cursor, &add);
                tot += add;
                if (p.cursor[0])
                    snprintf(cursor, sizeof cursor, "%s", p.cursor);
                free(v);
                kv_vipps_ledger_page_free(&p);
                if (js != KV_J_OK)
                    return KV_RECON_E_JOURNAL;
                if (end)
                    break;
            }
        }
    }
    if (added)
        *added = tot;
    if (pages)
        *pages = np;
    return KV_RECON_OK;
}
