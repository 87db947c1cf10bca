/* report_out.c - the day's figures as text, JSON and CSV, and the frozen
 * Z figures read back (report.h). */
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "src/report/report_int.h"

int kv__report_parse_money(int64_t *out, const char *s)
{
    if (!s || !*s)
        return -1;
    int neg = *s == '-';
    if (neg)
        s++;
    int64_t v = 0;
    int digits = 0, dec = -1;
    for (; *s; s++) {
        if (*s == '.' && dec < 0) {
            dec = 0;
            continue;
        }
        if (!isdigit((unsigned char)*s) || digits > 15 || dec >= 2)
            return -1;
        v = v * 10 + (*s - '0');
        digits++;
        if (dec >= 0)
            dec++;
    }
    if (!digits)
        return -1;
    for (int i = dec < 0 ? 0 : dec; i < 2; i++)
        v *= 10;
    *out = neg ? -v : v;
    return 0;
}

void kv__report_money(char buf[32], int64_t minor)
{
    uint64_t a = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    snprintf(buf, 32, "%s%" PRIu64 ".%02" PRIu64, minor < 0 ? "-" : "", a / 100, a % 100);
}

static const char *const fig_names[] = { "sales", "captures", "refunds", "cancelled", "not_paid" };

static const kv_report_figure *fig_at(const kv_report_group *g, int i)
{
    const kv_report_figure *f[] = { &g->sales, &g->captures, &g->refunds, &g->cancelled, &g->not_paid };
    return f[i];
}

static kv_report_figure *fig_at_mut(kv_report_group *g, int i)
{
    kv_report_figure *f[] = { &g->sales, &g->captures, &g->refunds, &g->cancelled, &g->not_paid };
    return f[i];
}

static void add_money(cJSON *o, const char *key, int64_t v)
{
    char m[32];
    kv__report_money(m, v);
    cJSON_AddStringToObject(o, key, m);
}

cJSON *kv__report_group_json(const kv_report_group *g, const char *date)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    if (date)
        cJSON_AddStringToObject(o, "date", date);
    cJSON_AddStringToObject(o, "store", g->store_id);
    if (g->till_id[0])
        cJSON_AddStringToObject(o, "till", g->till_id);
    else
        cJSON_AddNullToObject(o, "till");
    cJSON_AddStringToObject(o, "currency", g->currency);
    for (int i = 0; i < 5; i++) {
        cJSON *f = cJSON_AddObjectToObject(o, fig_names[i]);
        cJSON_AddNumberToObject(f, "count", (double)fig_at(g, i)->count);
        add_money(f, "amount", fig_at(g, i)->amount);
    }
    add_money(o, "net", g->net);
    cJSON *va = cJSON_AddArrayToObject(o, "vat");
    for (size_t k = 0; k < g->n_vat; k++) {
        cJSON *v = cJSON_CreateObject();
        if (g->vat[k].rate_bp < 0) {
            cJSON_AddNullToObject(v, "rate");
            cJSON_AddStringToObject(v, "note", "sales without items: no VAT split");
        } else {
            cJSON_AddNumberToObject(v, "rate", g->vat[k].rate_bp / 100.0);
        }
        add_money(v, "gross", g->vat[k].gross);
        add_money(v, "vat", g->vat[k].vat);
        cJSON_AddItemToArray(va, v);
    }
    if (g->first_ref[0]) {
        cJSON_AddStringToObject(o, "first_reference", g->first_ref);
        cJSON_AddStringToObject(o, "last_reference", g->last_ref);
    } else {
        cJSON_AddNullToObject(o, "first_reference");
        cJSON_AddNullToObject(o, "last_reference");
    }
    cJSON *op = cJSON_AddArrayToObject(o, "open");
    for (size_t k = 0; k < g->n_open; k++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "reference", g->open[k].reference);
        cJSON_AddStringToObject(x, "state", g->open[k].state);
        cJSON_AddItemToArray(op, x);
    }
    if (g->z_number > 0)
        cJSON_AddNumberToObject(o, "z_number", (double)g->z_number);
    else
        cJSON_AddNullToObject(o, "z_number");
    return o;
}

char *kv__report_group_json_text(const kv_report_group *g)
{
    kv_report_group c = *g;
    c.z_number = 0; /* the number lives in its own column */
    cJSON *o = kv__report_group_json(&c, NULL);
    char *t = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return t;
}

static int get_money(int64_t *v, const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(x) ? kv__report_parse_money(v, x->valuestring) : -1;
}

static void get_str(char *dst, size_t n, const cJSON *o, const char *key)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(dst, n, "%s", cJSON_IsString(x) ? x->valuestring : "");
}

int kv__report_group_parse(kv_report_group *g, const char *json)
{
    memset(g, 0, sizeof *g);
    cJSON *o = cJSON_Parse(json);
    int rc = -1;
    if (!cJSON_IsObject(o))
        goto out;
    get_str(g->store_id, sizeof g->store_id, o, "store");
    get_str(g->till_id, sizeof g->till_id, o, "till");
    get_str(g->currency, sizeof g->currency, o, "currency");
    get_str(g->first_ref, sizeof g->first_ref, o, "first_reference");
    get_str(g->last_ref, sizeof g->last_ref, o, "last_reference");
    for (int i = 0; i < 5; i++) {
        cJSON *f = cJSON_GetObjectItemCaseSensitive(o, fig_names[i]);
        cJSON *c = cJSON_GetObjectItemCaseSensitive(f, "count");
        if (!cJSON_IsNumber(c) || get_money(&fig_at_mut(g, i)->amount, f, "amount"))
            goto out;
        fig_at_mut(g, i)->count = (int64_t)c->valuedouble;
    }
    if (get_money(&g->net, o, "net"))
        goto out;
    cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(o, "vat")) {
        if (g->n_vat == KV_REPORT_MAX_VAT)
            goto out;
        kv_report_vat *x = &g->vat[g->n_vat++];
        cJSON *rate = cJSON_GetObjectItemCaseSensitive(v, "rate");
        x->rate_bp = cJSON_IsNumber(rate) ? (int)(rate->valuedouble * 100 + 0.5) : -1;
        if (get_money(&x->gross, v, "gross") || get_money(&x->vat, v, "vat"))
            goto out;
    }
    cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "open");
    int n = cJSON_GetArraySize(op);
    if (n > 0) {
        g->open = calloc((size_t)n, sizeof *g->open);
        if (!g->open)
            goto out;
        cJSON_ArrayForEach(v, op) {
            get_str(g->open[g->n_open].reference, sizeof g->open[0].reference, v, "reference");
            get_str(g->open[g->n_open].state, sizeof g->open[0].state, v, "state");
            g->n_open++;
        }
    }
    rc = 0;
out:
    if (rc)
        kv_report_group_clear(g);
    cJSON_Delete(o);
    return rc;
}

char *kv_report_json_text(const kv_report *r, int (*keep)(void *user, const char *store), void *user)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "date", r->date);
    cJSON *tills = cJSON_AddArrayToObject(o, "tills");
    cJSON *stores = cJSON_AddArrayToObject(o, "stores");
    for (size_t i = 0; i < r->n; i++)
        if (!keep || keep(user, r->g[i].store_id))
            cJSON_AddItemToArray(r->g[i].till_id[0] ? tills : stores, kv__report_group_json(&r->g[i], NULL));
    char *t = cJSON_Print(o);
    cJSON_Delete(o);
    return t;
}

int kv_report_write_json(FILE *f, const kv_report *r)
{
    char *t = kv_report_json_text(r, NULL, NULL);
    if (!t)
        return -1;
    int rc = fprintf(f, "%s\n", t) < 0 ? -1 : 0;
    free(t);
    return rc;
}

int kv_report_write_csv(FILE *f, const kv_report *r)
{
    fprintf(f, "date,store,till,z_number,figure,count,amount\n");
    char m[32];
    for (size_t i = 0; i < r->n; i++) {
        const kv_report_group *g = &r->g[i];
        char z[24] = "";
        if (g->z_number > 0)
            snprintf(z, sizeof z, "%" PRId64, g->z_number);
        /* store and till ids are config names ([A-Za-z0-9_-]): no quoting needed */
        for (int k = 0; k < 5; k++) {
            kv__report_money(m, fig_at(g, k)->amount);
            fprintf(f, "%s,%s,%s,%s,%s,%" PRId64 ",%s\n", r->date, g->store_id, g->till_id, z, fig_names[k],
                    fig_at(g, k)->count, m);
        }
        kv__report_money(m, g->net);
        fprintf(f, "%s,%s,%s,%s,net,,%s\n", r->date, g->store_id, g->till_id, z, m);
        /* per VAT line its base (gross_RATE, VAT included) and its VAT */
        for (size_t k = 0; k < g->n_vat; k++) {
            char rate[24];
            if (g->vat[k].rate_bp < 0)
                snprintf(rate, sizeof rate, "without_items");
            else
                snprintf(rate, sizeof rate, "%d.%02d", g->vat[k].rate_bp / 100, g->vat[k].rate_bp % 100);
            kv__report_money(m, g->vat[k].gross);
            fprintf(f, "%s,%s,%s,%s,gross_%s,,%s\n", r->date, g->store_id, g->till_id, z, rate, m);
            kv__report_money(m, g->vat[k].vat);
            fprintf(f, "%s,%s,%s,%s,vat_%s,,%s\n", r->date, g->store_id, g->till_id, z, rate, m);
        }
        fprintf(f, "%s,%s,%s,%s,open,%zu,\n", r->date, g->store_id, g->till_id, z, g->n_open);
    }
    return ferror(f) ? -1 : 0;
}

static void text_group(FILE *f, const kv_report_group *g)
{
    char m[32];
    if (g->till_id[0])
        fprintf(f, "store %s, till %s", g->store_id, g->till_id);
    else
        fprintf(f, "store %s, all tills", g->store_id);
    if (g->z_number > 0)
        fprintf(f, " (closed: Z %" PRId64 ")", g->z_number);
    fprintf(f, "\n");
    static const char *const labels[] = { "sales", "captures", "refunds", "cancelled", "not paid" };
    for (int k = 0; k < 5; k++) {
        kv__report_money(m, fig_at(g, k)->amount);
        fprintf(f, "  %-12s %6" PRId64 " %14s %s\n", labels[k], fig_at(g, k)->count, m, g->currency);
    }
    kv__report_money(m, g->net);
    fprintf(f, "  %-12s %6s %14s %s\n", "net", "", m, g->currency);
    for (size_t k = 0; k < g->n_vat; k++) {
        char gross[32];
        kv__report_money(gross, g->vat[k].gross);
        kv__report_money(m, g->vat[k].vat);
        if (g->vat[k].rate_bp < 0)
            fprintf(f, "  without items (no VAT split) on %s\n", gross);
        else
            fprintf(f, "  VAT %d.%02d %% on %s: %s\n", g->vat[k].rate_bp / 100, g->vat[k].rate_bp % 100, gross, m);
    }
    if (g->first_ref[0])
        fprintf(f, "  references   %s .. %s\n", g->first_ref, g->last_ref);
    for (size_t k = 0; k < g->n_open; k++)
        fprintf(f, "  open         %s (%s)\n", g->open[k].reference, g->open[k].state);
}

int kv_report_write_text(FILE *f, const kv_report *r)
{
    fprintf(f, "X report %s (figures only; a Z report closes the day: kvitt report day --print)\n", r->date);
    if (!r->n)
        fprintf(f, "no payments\n");
    for (size_t i = 0; i < r->n; i++)
        text_group(f, &r->g[i]);
    return ferror(f) ? -1 : 0;
}
