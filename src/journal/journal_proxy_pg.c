/* journal_proxy_pg.c - the print proxy's held jobs on a PostgreSQL journal
 * (journal_proxy_pg.h). */
#include "src/journal/journal_proxy_pg.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char hexdig[] = "0123456789abcdef";

/* A hex digit as the server writes it (encode(..., 'hex'): lower case). */
static int unhex(char c)
{
    return c >= 'a' ? c - 'a' + 10 : c - '0';
}

typedef struct {
    const kv_jpg_params *pv;
    int64_t id; /* out */
} hold_arg;

/* The held job's row as a write unit (may run twice). */
static kv_journal_status hold_unit(kv_jpg_conn *c, void *arg)
{
    hold_arg *h = arg;
    PGresult *r = NULL;
    kv_journal_status st = kv_jpg_exec(c, &r, "INSERT INTO proxy_jobs(proxy, reference, amount, job, created_at,"
                                       " updated_at) VALUES($1, $2, $3::bigint, decode($4, 'hex'), $5::bigint,"
                                       " $5::bigint) RETURNING id", h->pv);
    if (st == KV_J_OK) {
        h->id = kv_pg_i64(r, 0, 0);
        PQclear(r);
    }
    return st;
}

kv_journal_status kv_jppg_hold(kv_jpg *p, const char *proxy, const char *reference, int64_t amount,
                               const void *job, size_t len, int64_t *id)
{
    /* the bytes as hex text, decoded by the server (NUL bytes and all) */
    char *hex = malloc(len * 2 + 1);
    if (!hex)
        return KV_J_E_NOMEM;
    const unsigned char *b = job;
    for (size_t i = 0; i < len; i++) {
        hex[2 * i] = hexdig[b[i] >> 4];
        hex[2 * i + 1] = hexdig[b[i] & 15];
    }
    hex[2 * len] = '\0';
    int64_t now = (int64_t)time(NULL);
    kv_jpg_params pv = { .n = 0 };
    kv_jpg_param_str(&pv, proxy);
    kv_jpg_param_str(&pv, reference);
    kv_jpg_param_int(&pv, amount);
    kv_jpg_param_str(&pv, hex);
    kv_jpg_param_int(&pv, now);
    hold_arg h = { &pv, 0 };
    kv_journal_status st = kv_jpg_unit(p, hold_unit, &h);
    free(hex);
    if (st == KV_J_OK && id)
        *id = h.id;
    return st;
}

kv_journal_status kv_jppg_release(kv_jpg *p, int64_t id, const char *outcome)
{
    kv_jpg_params pv = { .n = 0 };
    kv_jpg_param_str(&pv, outcome);
    kv_jpg_param_int(&pv, (int64_t)time(NULL));
    kv_jpg_param_int(&pv, id);
    return kv_jpg_update_one(p, "UPDATE proxy_jobs SET state = 'printed', outcome = $1, updated_at = $2::bigint"
                             " WHERE id = $3::bigint", &pv);
}

kv_journal_status kv_jppg_pending(kv_jpg *p, const char *proxy, kv_proxy_held **rows, size_t *n)
{
    kv_jpg_params pv = { .n = 0 };
    kv_jpg_param_str(&pv, proxy);
    kv_jpg_param_int(&pv, proxy ? 1 : 0);
    kv_journal_status st;
    kv_jpg_conn *c = kv_jpg_read_begin(p, &st);
    if (!c)
        return st;
    PGresult *r = NULL;
    st = kv_jpg_exec(c, &r, "SELECT id, proxy, reference, amount, encode(job, 'hex'), created_at FROM proxy_jobs"
                     " WHERE state = 'held' AND ($2::int = 0 OR proxy = $1) ORDER BY id", &pv);
    kv_jpg_read_end(c);
    if (st)
        return st;
    int cnt = PQntuples(r);
    kv_proxy_held *v = cnt ? calloc((size_t)cnt, sizeof *v) : NULL;
    if (cnt && !v)
        st = KV_J_E_NOMEM;
    for (int i = 0; st == KV_J_OK && i < cnt; i++) {
        kv_proxy_held *h = &v[i];
        h->id = kv_pg_i64(r, i, 0);
        kv_jpg_col(h->proxy, sizeof h->proxy, r, i, 1);
        kv_jpg_col(h->reference, sizeof h->reference, r, i, 2);
        h->amount = kv_pg_i64(r, i, 3);
        const char *hex = PQgetvalue(r, i, 4);
        h->len = strlen(hex) / 2;
        h->job = malloc(h->len ? h->len : 1);
        if (!h->job) {
            st = KV_J_E_NOMEM;
            break;
        }
        for (size_t k = 0; k < h->len; k++)
            h->job[k] = (uint8_t)(unhex(hex[2 * k]) << 4 | unhex(hex[2 * k + 1]));
        h->created_at = kv_pg_i64(r, i, 5);
    }
    PQclear(r);
    if (st) {
        kv_journal_proxy_free(v, (size_t)cnt);
        return st;
    }
    *rows = v;
    *n = (size_t)cnt;
    return KV_J_OK;
}
