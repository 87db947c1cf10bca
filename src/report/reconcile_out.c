/* reconcile_out.c - the reconciliation as text, JSON and CSV (reconcile.h). */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "src/report/reconcile_int.h"
#include "src/report/report_int.h"

/* A field from the Report API as one CSV field: quoted when it holds a
 * comma, quote or line break; control characters become '?'. */
static void csv_field(FILE *f, const char *v)
{
    int quote = strpbrk(v, ",\"\r\n") != NULL;
    if (quote)
        fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"')
            fputs("\"\"", f);
        else
            fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
    }
    if (quote)
        fputc('"', f);
}

/* The same for a terminal: control characters become '?'. */
static void text_field(FILE *f, const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
}

static const char *verdict(const kv_recon *r)
{
    if (r->n[KV_RECON_VIPPS_ONLY] || r->n[KV_RECON_JOURNAL_ONLY] || r->n[KV_RECON_AMOUNT_DIFFERS])
        return "mismatch";
    return kv_recon_open(r) ? "open" : "matched";
}

static void money(cJSON *o, const char *k, int64_t v)
{
    char m[32];
    kv__report_money(m, v);
    cJSON_AddStringToObject(o, k, m);
}

int kv_recon_write_json(FILE *f, const kv_recon *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "date", r->date);
    cJSON_AddStringToObject(o, "status", verdict(r));
    cJSON *ls = cJSON_AddArrayToObject(o, "ledgers");
    for (size_t i = 0; i < r->nl; i++) {
        const kv_recon_ledger_sum *s = &r->L[i];
        cJSON *l = cJSON_CreateObject();
        cJSON_AddStringToObject(l, "store", s->store);
        cJSON_AddStringToObject(l, "msn", s->msn);
        cJSON_AddStringToObject(l, "ledger_id", s->ledger_id);
        cJSON_AddStringToObject(l, "date_state", s->open ? "open" : "closed");
        cJSON_AddNumberToObject(l, "captures_count", (double)s->n_captures);
        money(l, "captures", s->captures);
        cJSON_AddNumberToObject(l, "refunds_count", (double)s->n_refunds);
        money(l, "refunds", s->refunds);
        money(l, "fees", s->fees);
        if (s->has_payout)
            money(l, "payout", s->payout);
        else
            cJSON_AddNullToObject(l, "payout");
        cJSON_AddItemToArray(ls, l);
    }
    for (int k = 0; k < 4; k++) {
        cJSON *a = cJSON_AddArrayToObject(o, kv_recon_kind_name((kv_recon_kind)k));
        for (size_t i = 0; i < r->n[k]; i++) {
            const kv_recon_row *x = &r->rows[k][i];
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "store", x->store);
            cJSON_AddStringToObject(e, "reference", x->reference);
            cJSON_AddStringToObject(e, "type", x->type);
            if (x->psp_reference[0])
                cJSON_AddStringToObject(e, "psp_reference", x->psp_reference);
            if (k != KV_RECON_JOURNAL_ONLY)
                money(e, "vipps_amount", x->vipps_amount);
            if (k != KV_RECON_VIPPS_ONLY)
                money(e, "journal_amount", x->journal_amount);
            if (x->time[0])
                cJSON_AddStringToObject(e, "time", x->time);
            cJSON_AddItemToArray(a, e);
        }
    }
    char *t = cJSON_Print(o);
    cJSON_Delete(o);
    if (!t)
        return -1;
    fprintf(f, "%s\n", t);
    free(t);
    return ferror(f) ? -1 : 0;
}

int kv_recon_write_csv(FILE *f, const kv_recon *r)
{
    fprintf(f, "date,list,store,reference,type,psp_reference,vipps_amount,journal_amount\n");
    char a[32], b[32];
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < r->n[k]; i++) {
            const kv_recon_row *x = &r->rows[k][i];
            kv__report_money(a, x->vipps_amount);
            kv__report_money(b, x->journal_amount);
            /* store ids are config names; references come from the API too */
            fprintf(f, "%s,%s,%s,", r->date, kv_recon_kind_name((kv_recon_kind)k), x->store);
            csv_field(f, x->reference);
            fprintf(f, ",%s,", x->type);
            csv_field(f, x->psp_reference);
            fprintf(f, ",%s,%s\n", k == KV_RECON_JOURNAL_ONLY ? "" : a, k == KV_RECON_VIPPS_ONLY ? "" : b);
        }
    for (size_t i = 0; i < r->nl; i++) {
        const kv_recon_ledger_sum *s = &r->L[i];
        kv__report_money(a, s->fees);
        fprintf(f, "%s,fees,%s,,,,%s,\n", r->date, s->store, a);
        if (s->has_payout) {
            kv__report_money(a, s->payout);
            fprintf(f, "%s,payout,%s,,,,%s,\n", r->date, s->store, a);
        }
        if (s->open)
            fprintf(f, "%s,open,%s,,,,,\n", r->date, s->store);
    }
    return ferror(f) ? -1 : 0;
}

int kv_recon_write_text(FILE *f, const kv_recon *r)
{
    char a[32], b[32];
    fprintf(f, "reconciliation %s: %s\n", r->date, verdict(r));
    for (size_t i = 0; i < r->nl; i++) {
        const kv_recon_ledger_sum *s = &r->L[i];
        if (s->open) {
            fprintf(f, "store %s (MSN %s, ledger %s): the date is open at Vipps (not closed yet); try again later\n",
                    s->store, s->msn, s->ledger_id);
            continue;
        }
        kv__report_money(a, s->captures);
        kv__report_money(b, s->refunds);
        fprintf(f, "store %s (MSN %s, ledger %s): %zu capture%s %s, %zu refund%s %s", s->store, s->msn,
                s->ledger_id, s->n_captures, s->n_captures == 1 ? "" : "s", a, s->n_refunds,
                s->n_refunds == 1 ? "" : "s", b);
        kv__report_money(a, s->fees);
        fprintf(f, ", fees %s", a);
        if (s->has_payout) {
            kv__report_money(a, s->payout);
            fprintf(f, ", payout %s", a);
        }
        fprintf(f, "\n");
    }
    static const char *const titles[] = { "matched", "in Vipps, not in the journal",
                                          "in the journal, not in Vipps", "amounts that differ" };
    for (int k = 0; k < 4; k++) {
        fprintf(f, "%s: %zu\n", titles[k], r->n[k]);
        if (k == KV_RECON_MATCHED)
            continue; /* the long list is in --json / --csv */
        for (size_t i = 0; i < r->n[k]; i++) {
            const kv_recon_row *x = &r->rows[k][i];
            kv__report_money(a, x->vipps_amount);
            kv__report_money(b, x->journal_amount);
            fprintf(f, "  %s %s ", x->store, x->type);
            text_field(f, x->reference);
            if (x->psp_reference[0]) {
                fputs(" (psp ", f);
                text_field(f, x->psp_reference);
                fputc(')', f);
            }
            if (k != KV_RECON_JOURNAL_ONLY)
                fprintf(f, " Vipps %s", a);
            if (k != KV_RECON_VIPPS_ONLY)
                fprintf(f, " journal %s", b);
            fprintf(f, "\n");
        }
    }
    return ferror(f) ? -1 : 0;
}
