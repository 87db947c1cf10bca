/* report.c - the day's figures from the journal (report.h). */
#include "src/report/report.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/journal/journal_report.h"
#include "src/report/report_int.h"

const char *kv_report_strerror(kv_report_status st)
{
    switch (st) {
    case KV_REPORT_OK: return "ok";
    case KV_REPORT_E_ARG: return "bad date, store or till";
    case KV_REPORT_E_JOURNAL: return "the journal cannot be read or written";
    case KV_REPORT_E_NOMEM: return "out of memory";
    case KV_REPORT_E_NOT_FOUND: return "no figures for this till on this day";
    case KV_REPORT_E_DATA: return "the frozen Z report figures cannot be read";
    case KV_REPORT_E_PRINTER: return "the report could not be printed";
    }
    return "unknown report status";
}

int kv_report_day_bounds(const char *date, int64_t *from, int64_t *to)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!date || strlen(date) != 10)
        return -1;
    const char *end = strptime(date, "%Y-%m-%d", &tm);
    if (!end || *end)
        return -1;
    int y = tm.tm_year, m = tm.tm_mon, d = tm.tm_mday;
    tm.tm_isdst = -1;
    time_t a = mktime(&tm);
    if (a == (time_t)-1 || tm.tm_year != y || tm.tm_mon != m || tm.tm_mday != d)
        return -1; /* 2026-02-30 and the like */
    struct tm n;
    memset(&n, 0, sizeof n);
    n.tm_year = y;
    n.tm_mon = m;
    n.tm_mday = d + 1;
    n.tm_isdst = -1;
    time_t b = mktime(&n);
    *from = (int64_t)a;
    *to = (int64_t)b;
    return 0;
}

void kv_report_today(char buf[11])
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, 11, "%Y-%m-%d", &tm);
}

/* ---- building ---------------------------------------------------------- */

kv_report_group *kv__report_group(kv_report *r, const char *store, const char *till, const char *currency)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->g[i].store_id, store) == 0 && strcmp(r->g[i].till_id, till) == 0)
            return &r->g[i];
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 8;
        kv_report_group *ng = realloc(r->g, nc * sizeof *ng);
        if (!ng)
            return NULL;
        r->g = ng;
        r->cap = nc;
    }
    kv_report_group *g = &r->g[r->n++];
    memset(g, 0, sizeof *g);
    snprintf(g->store_id, sizeof g->store_id, "%s", store);
    snprintf(g->till_id, sizeof g->till_id, "%s", till);
    snprintf(g->currency, sizeof g->currency, "%s", currency ? currency : "");
    return g;
}

static void add_vat(kv_report_group *g, int rate, int64_t gross)
{
    size_t k;
    for (k = 0; k < g->n_vat; k++)
        if (g->vat[k].rate_bp == rate)
            break;
    if (k == g->n_vat) {
        if (g->n_vat == KV_REPORT_MAX_VAT)
            k = 0; /* more rates than a Nordic till has: fold into the first (never seen) */
        else
            g->vat[g->n_vat++] = (kv_report_vat){ rate, 0, 0 };
    }
    g->vat[k].gross += gross;
    if (rate > 0)
        g->vat[k].vat = (g->vat[k].gross * rate * 2 + (10000 + rate)) / (2 * (10000 + rate));
}

/* VAT of a sale: the items when they add up to what was captured, else
 * one "without items" line. */
static void sale_vat(kv_report_group *g, const kv_payment *p)
{
    cJSON *a = p->items_json[0] && p->captured == p->amount ? cJSON_Parse(p->items_json) : NULL;
    int64_t sum = 0;
    int ok = cJSON_IsArray(a) && cJSON_GetArraySize(a) > 0;
    cJSON *it;
    int rates[64];
    int64_t gross[64];
    int n = 0;
    cJSON_ArrayForEach(it, a) {
        if (!ok || n == 64)
            break;
        cJSON *q = cJSON_GetObjectItemCaseSensitive(it, "quantity");
        cJSON *pr = cJSON_GetObjectItemCaseSensitive(it, "unit_price");
        cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "vat_rate");
        int64_t qty = cJSON_IsNumber(q) ? (int64_t)q->valuedouble : 1;
        int64_t unit;
        if (cJSON_IsString(pr)) {
            if (kv__report_parse_money(&unit, pr->valuestring)) {
                ok = 0;
                break;
            }
        } else if (cJSON_IsNumber(pr)) {
            unit = (int64_t)pr->valuedouble;
        } else {
            ok = 0;
            break;
        }
        rates[n] = cJSON_IsNumber(v) ? (int)(v->valuedouble * 100 + 0.5) : 2500;
        gross[n] = qty * unit;
        sum += gross[n++];
    }
    cJSON_Delete(a);
    if (!ok || sum != p->captured) {
        add_vat(g, -1, p->captured);
        return;
    }
    for (int i = 0; i < n; i++)
        add_vat(g, rates[i], gross[i]);
}

static int is_open(kv_pay_state s)
{
    return s == KV_PAY_NEW || s == KV_PAY_CREATED || s == KV_PAY_WAITING || s == KV_PAY_AUTHORIZED ||
           s == KV_PAY_UNKNOWN;
}

static int fig(kv_report_group *g, kv_report_figure *f, int64_t amount)
{
    (void)g;
    f->count++;
    f->amount += amount;
    return 0;
}

static int add_open(kv_report_group *g, const kv_payment *p)
{
    kv_report_open *no = realloc(g->open, (g->n_open + 1) * sizeof *no);
    if (!no)
        return -1;
    g->open = no;
    snprintf(no[g->n_open].reference, sizeof no[0].reference, "%s", p->reference);
    snprintf(no[g->n_open].state, sizeof no[0].state, "%s", kv_pay_state_name(p->state));
    g->n_open++;
    return 0;
}

static int wanted(const kv_report *r, const char *store, const char *till)
{
    return (!r->store[0] || strcmp(r->store, store) == 0) && (!r->till[0] || strcmp(r->till, till) == 0);
}

static int on_payment(void *user, const kv_payment *p)
{
    kv_report *r = user;
    if (!wanted(r, p->store_id, p->till_id))
        return 0;
    kv_report_group *g = kv__report_group(r, p->store_id, p->till_id, p->currency);
    if (!g) {
        r->nomem = 1;
        return 1;
    }
    if (!g->first_ref[0]) {
        snprintf(g->first_ref, sizeof g->first_ref, "%s", p->reference);
        g->first_at = p->created_at;
    }
    snprintf(g->last_ref, sizeof g->last_ref, "%s", p->reference);
    g->last_at = p->created_at;
    switch (p->state) {
    case KV_PAY_CAPTURED:
    case KV_PAY_DONE:
        fig(g, &g->sales, p->captured);
        sale_vat(g, p);
        break;
    case KV_PAY_CANCELLED: fig(g, &g->cancelled, p->amount); break;
    case KV_PAY_NOT_PAID: fig(g, &g->not_paid, p->amount); break;
    default:
        if (is_open(p->state) && add_open(g, p)) {
            r->nomem = 1;
            return 1;
        }
        break;
    }
    return 0;
}

static int on_money(void *user, const kv_journal_money_row *m)
{
    kv_report *r = user;
    if (!wanted(r, m->store_id, m->till_id))
        return 0;
    kv_report_group *g = kv__report_group(r, m->store_id, m->till_id, m->currency);
    if (!g) {
        r->nomem = 1;
        return 1;
    }
    fig(g, m->op.kind == KV_OP_REFUND ? &g->refunds : &g->captures, m->op.amount);
    return 0;
}

static int on_closed(void *user, const char *store, const char *till, int64_t z)
{
    kv_report *r = user;
    (void)z; /* read with the figures below */
    if (!wanted(r, store, till))
        return 0;
    if (!kv__report_group(r, store, till, NULL)) {
        r->nomem = 1;
        return 1;
    }
    return 0;
}

static void add_fig(kv_report_figure *a, const kv_report_figure *b)
{
    a->count += b->count;
    a->amount += b->amount;
}

/* Fold a till group into its store's total. */
static int fold(kv_report_group *t, const kv_report_group *g)
{
    add_fig(&t->sales, &g->sales);
    add_fig(&t->captures, &g->captures);
    add_fig(&t->refunds, &g->refunds);
    add_fig(&t->cancelled, &g->cancelled);
    add_fig(&t->not_paid, &g->not_paid);
    for (size_t k = 0; k < g->n_vat; k++)
        add_vat(t, g->vat[k].rate_bp, g->vat[k].gross);
    if (g->first_ref[0] && (!t->first_ref[0] || g->first_at < t->first_at)) {
        snprintf(t->first_ref, sizeof t->first_ref, "%s", g->first_ref);
        t->first_at = g->first_at;
    }
    if (g->last_ref[0] && g->last_at >= t->last_at) {
        snprintf(t->last_ref, sizeof t->last_ref, "%s", g->last_ref);
        t->last_at = g->last_at;
    }
    if (g->n_open) {
        kv_report_open *no = realloc(t->open, (t->n_open + g->n_open) * sizeof *no);
        if (!no)
            return -1;
        memcpy(no + t->n_open, g->open, g->n_open * sizeof *no);
        t->open = no;
        t->n_open += g->n_open;
    }
    return 0;
}

static int cmp_group(const void *a, const void *b)
{
    const kv_report_group *x = a, *y = b;
    int c = strcmp(x->store_id, y->store_id);
    if (c)
        return c;
    /* the store total ("") after its tills */
    if (!x->till_id[0] || !y->till_id[0])
        return !x->till_id[0] - !y->till_id[0];
    return strcmp(x->till_id, y->till_id);
}

kv_report_status kv_report_day(kv_report **out, kv_journal *j, const kv_report_query *q)
{
    if (!out || !j || !q)
        return KV_REPORT_E_ARG;
    kv_report *r = calloc(1, sizeof *r);
    if (!r)
        return KV_REPORT_E_NOMEM;
    if (q->date)
        snprintf(r->date, sizeof r->date, "%s", q->date);
    else
        kv_report_today(r->date);
    snprintf(r->store, sizeof r->store, "%s", q->store ? q->store : "");
    snprintf(r->till, sizeof r->till, "%s", q->till ? q->till : "");
    int64_t from, to;
    if (kv_report_day_bounds(r->date, &from, &to)) {
        kv_report_free(r);
        return KV_REPORT_E_ARG;
    }
    kv_journal_status js = kv_journal_each_payment(j, from, to, on_payment, r);
    if (js == KV_J_OK && !r->nomem)
        js = kv_journal_each_money_op(j, from, to, on_money, r);
    if (js != KV_J_OK || r->nomem) {
        kv_report_status st = r->nomem ? KV_REPORT_E_NOMEM : KV_REPORT_E_JOURNAL;
        kv_report_free(r);
        return st;
    }
    /* tills closed that day without a payment still show, with their Z */
    if (kv_journal_z_each(j, r->date, on_closed, r) != KV_J_OK || r->nomem) {
        kv_report_status st = r->nomem ? KV_REPORT_E_NOMEM : KV_REPORT_E_JOURNAL;
        kv_report_free(r);
        return st;
    }
    size_t tills = r->n;
    for (size_t i = 0; i < tills; i++) {
        kv_report_group *g = &r->g[i];
        g->net = g->captures.amount - g->refunds.amount;
        int64_t z, at;
        if (kv_journal_z_get(j, g->store_id, g->till_id, r->date, &z, &at, NULL, NULL) == KV_J_OK) {
            g->z_number = z;
            g->closed_at = at;
        }
    }
    for (size_t i = 0; i < tills; i++) {
        char store[64], cur[4];
        snprintf(store, sizeof store, "%s", r->g[i].store_id);
        snprintf(cur, sizeof cur, "%s", r->g[i].currency);
        kv_report_group *t = kv__report_group(r, store, "", cur);
        if (!t || fold(t, &r->g[i])) {
            kv_report_free(r);
            return KV_REPORT_E_NOMEM;
        }
    }
    for (size_t i = tills; i < r->n; i++)
        r->g[i].net = r->g[i].captures.amount - r->g[i].refunds.amount;
    if (r->n)
        qsort(r->g, r->n, sizeof *r->g, cmp_group);
    *out = r;
    return KV_REPORT_OK;
}

void kv_report_group_clear(kv_report_group *g)
{
    if (!g)
        return;
    free(g->open);
    g->open = NULL;
    g->n_open = 0;
}

void kv_report_free(kv_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        kv_report_group_clear(&r->g[i]);
    free(r->g);
    free(r);
}

const char *kv_report_date(const kv_report *r)
{
    return r ? r->date : "";
}

size_t kv_report_group_count(const kv_report *r)
{
    return r ? r->n : 0;
}

const kv_report_group *kv_report_group_at(const kv_report *r, size_t i)
{
    return r && i < r->n ? &r->g[i] : NULL;
}

const kv_report_group *kv_report_find(const kv_report *r, const char *store, const char *till)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (strcmp(r->g[i].store_id, store) == 0 && strcmp(r->g[i].till_id, till ? till : "") == 0)
            return &r->g[i];
    return NULL;
}

kv_report_status kv_report_close(kv_journal *j, const kv_report_group *g, const char *date,
                                 int64_t now, int64_t *z_number, int *existed)
{
    if (!j || !g || !date || !z_number || !existed || !g->till_id[0])
        return KV_REPORT_E_ARG;
    char *fig = kv__report_group_json_text(g);
    if (!fig)
        return KV_REPORT_E_NOMEM;
    kv_journal_status js = kv_journal_z_close(j, g->store_id, g->till_id, date, now, fig, z_number, existed);
    free(fig);
    return js == KV_J_OK ? KV_REPORT_OK : KV_REPORT_E_JOURNAL;
}

kv_report_status kv_report_closed(kv_report_group *out, kv_journal *j, const char *store,
                                  const char *till, const char *date)
{
    if (!out || !j || !store || !till || !date)
        return KV_REPORT_E_ARG;
    int64_t z, at;
    int printed = 0;
    char *fig = NULL;
    kv_journal_status js = kv_journal_z_get(j, store, till, date, &z, &at, &printed, &fig);
    if (js == KV_J_E_NOT_FOUND)
        return KV_REPORT_E_NOT_FOUND;
    if (js != KV_J_OK)
        return KV_REPORT_E_JOURNAL;
    int rc = kv__report_group_parse(out, fig);
    free(fig);
    if (rc)
        return KV_REPORT_E_DATA;
    out->z_number = z;
    out->closed_at = at;
    out->printed = printed;
    return KV_REPORT_OK;
}
